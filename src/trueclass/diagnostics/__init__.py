"""Diagnostics of a trained model: the stress tests (perturbations, images of no class),
where it looked (saliency maps, the shortcut check), the sanity checks (a quick baseline,
shuffled labels) and the stability over re-splits. A diagnostic that fails is reported;
it never costs the trained model."""

from .._face import face, face_names
from ._explain import explain, saliency, shortcut_check
from ._stress import PERTURBATIONS, ood_check, perturb, perturbation_curves, stress_test, unknown_images, with_unknown_class

__all__ = ["PERTURBATIONS", "explain", "ood_check", "perturb", "perturbation_curves", "saliency", "shortcut_check", "stress_test",
           "unknown_images", "with_unknown_class"]


__getattr__ = face(__name__)

__all__ += [n for n in face_names(__name__) if n not in __all__]
