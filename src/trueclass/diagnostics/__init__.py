"""Diagnostics of a trained model: the stress tests (perturbations, images of no class),
where it looked (saliency maps, the shortcut check), the sanity checks (a quick baseline,
shuffled labels) and the stability over re-splits. A diagnostic that fails is reported;
it never costs the trained model."""

from ._explain import explain, saliency, shortcut_check
from ._stress import PERTURBATIONS, ood_check, perturb, stress_test, unknown_images, with_unknown_class

__all__ = ["PERTURBATIONS", "explain", "ood_check", "perturb", "saliency", "shortcut_check", "stress_test",
           "unknown_images", "with_unknown_class"]

#: What other trueclass packages use besides the names above, loaded on first use.
_FACE = {
    "explain_images": "._explain",
    "resolve_method": "._explain",
}


def __getattr__(name: str):
    if name in _FACE:  # read from its module each time (not kept here), so a patch of it holds
        import importlib

        return getattr(importlib.import_module(_FACE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ += sorted(_FACE)
