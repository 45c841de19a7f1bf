"""trueclass: train image classifiers and evaluate them honestly.

    >>> import trueclass as tc
    >>> ds = tc.load("digits")
    >>> parts = tc.split(ds, test_size=0.2, seed=1)
    >>> clf = tc.ImageClassifier("logreg").fit(parts.train)
    >>> ev = tc.evaluate(clf, parts.test)

Heavy libraries (scikit-learn, matplotlib) load on first use, so ``import trueclass``
stays fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib

from ._errors import ImagesChanged, TrainingInterrupted, TrueclassError, install_notebook_handler

__all__ = [
    "Dataset",
    "Evaluation",
    "ImageClassifier",
    "ImagesChanged",
    "NotFittedError",
    "Run",
    "RunConfig",
    "Split",
    "TrainingInterrupted",
    "TrueclassError",
    "__version__",
    "download_fashion_mnist",
    "evaluate",
    "list_datasets",
    "list_models",
    "load",
    "load_model",
    "build_card",
    "plot_class_counts",
    "plot_confusion_matrix",
    "plot_coverage",
    "plot_history",
    "plot_misread",
    "plot_reliability",
    "plot_stability",
    "plot_stress",
    "show_image",
    "audit",
    "stress_test",
    "explain",
    "shortcut_check",
    "split",
    "train",
    "resume",
    "compare",
    "export",
]

# name -> module that defines it; imported on first access (PEP 562).
_LAZY = {
    "Dataset": "trueclass.data",
    "Split": "trueclass.data",
    "load": "trueclass.data",
    "split": "trueclass.data",
    "list_datasets": "trueclass.data",
    "download_fashion_mnist": "trueclass.data",
    "ImageClassifier": "trueclass.models",
    "NotFittedError": "trueclass.models",
    "list_models": "trueclass.models",
    "load_model": "trueclass.models",
    "Evaluation": "trueclass.evaluation",
    "evaluate": "trueclass.evaluation",
    "build_card": "trueclass.report",
    "plot_class_counts": "trueclass.report",
    "plot_confusion_matrix": "trueclass.report",
    "plot_coverage": "trueclass.report",
    "plot_history": "trueclass.report",
    "plot_misread": "trueclass.report",
    "plot_reliability": "trueclass.report",
    "plot_stability": "trueclass.report",
    "plot_stress": "trueclass.report",
    "show_image": "trueclass.report._plots",
    "audit": "trueclass.checks",
    "stress_test": "trueclass.diagnostics",
    "explain": "trueclass.diagnostics",
    "shortcut_check": "trueclass.diagnostics",
    "Run": "trueclass.run",
    "RunConfig": "trueclass.run",
    "train": "trueclass.run",
    "resume": "trueclass.run",
    "compare": "trueclass.run.compare",
    "export": "trueclass.run.export",
}


#: The subpackages, imported on first access too: ``trueclass.run.predict_files(...)``, as a
#: message may say it, works after ``import trueclass`` alone.
_SUBPACKAGES = ("checks", "data", "diagnostics", "evaluation", "features", "models", "report", "run", "studio",
                "training")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"trueclass.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trueclass' has no attribute {name!r}")
    if module == "trueclass.evaluation":  # an Evaluation prints its report card, which report renders
        importlib.import_module("trueclass.report")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # the public names and the modules (tab completion), not what this file imports for itself
    own = {"annotations", "importlib", "install_notebook_handler"}
    return sorted((set(globals()) - own) | set(__all__) | set(_SUBPACKAGES))


install_notebook_handler()
