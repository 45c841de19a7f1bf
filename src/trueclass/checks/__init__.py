"""Failure checks: the data audit (duplicates, leaks, conflicts, balance, outliers, label errors),
the stress tests of a trained model (perturbations, images of no class), and where it
looked (saliency maps, the shortcut check)."""

from ._audit import Audit, Duplicates, audit, class_balance, find_duplicates, find_label_issues, image_outliers
from ._explain import explain, saliency, shortcut_check
from ._stress import PERTURBATIONS, ood_check, perturb, stress_test, unknown_images, with_unknown_class

__all__ = ["Audit", "Duplicates", "PERTURBATIONS", "audit", "class_balance", "explain", "find_duplicates",
           "find_label_issues", "image_outliers", "ood_check", "perturb", "saliency", "shortcut_check", "stress_test",
           "unknown_images", "with_unknown_class"]
