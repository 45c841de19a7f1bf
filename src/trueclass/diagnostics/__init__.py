"""Diagnostics of a trained model: the stress tests (perturbations, images of no class),
where it looked (saliency maps, the shortcut check), the sanity checks (a quick baseline,
shuffled labels) and the stability over re-splits. A diagnostic that fails is reported;
it never costs the trained model."""

from ._explain import explain, saliency, shortcut_check
from ._stress import PERTURBATIONS, ood_check, perturb, stress_test, unknown_images, with_unknown_class

__all__ = ["PERTURBATIONS", "explain", "ood_check", "perturb", "saliency", "shortcut_check", "stress_test",
           "unknown_images", "with_unknown_class"]
