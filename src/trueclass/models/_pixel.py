"""The classic models of the lesson: scikit-learn classifiers on flattened pixels.

Each sees the pixels as the data stores them (0-16 for digits, 0-255 for 8-bit images),
flattened into one row per image: exactly the features of the lesson, so
``logreg`` on digits reproduces ``LogisticRegression(max_iter=10000)`` to the image. SVM,
k-NN and the forest give the same predictions whatever the pixel scale (``gamma="scale"``
follows the data's variance), so no scaler is needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import TrueclassError
from ._backend import PixelBackend
from ._registry import ModelSpec, register_model

__all__ = ["flatten"]


def flatten(images: np.ndarray, value_max: int, on_progress: Any = None) -> np.ndarray:  # noqa: ARG001 - one signature for all
    """(N, H, W, C) -> (N, H*W*C) float64, in the data's own pixel units."""
    return np.asarray(images, dtype=np.float64).reshape(len(images), -1)


def _min_class_count(y: np.ndarray) -> int:
    return int(np.bincount(y)[np.unique(y)].min())


def _logreg(params: dict[str, Any], y: np.ndarray, random_state: int | None, **_: Any):  # noqa: ARG001
    from sklearn.linear_model import LogisticRegression

    return PixelBackend(LogisticRegression(**params))


def _knn(params: dict[str, Any], y: np.ndarray, random_state: int | None, **_: Any):  # noqa: ARG001
    from sklearn.neighbors import KNeighborsClassifier

    k = params["n_neighbors"]
    if len(y) < k:
        raise TrueclassError(
            f"knn looks at {k} neighbours but there are only {len(y)} training images; "
            f"set n_neighbors to {len(y)} or fewer, or add images."
        )
    return PixelBackend(KNeighborsClassifier(**params))


def _svm(params: dict[str, Any], y: np.ndarray, random_state: int | None, **_: Any):
    """An SVC with probabilities from sigmoid calibration on 5-fold cross-validation.

    scikit-learn 1.9 deprecates ``SVC(probability=True)`` in favour of exactly this
    (``CalibratedClassifierCV(SVC(), ensemble=False)``): one SVC fitted on all the
    training images, its scores calibrated on out-of-fold predictions.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    smallest = _min_class_count(y)
    if smallest < 2:
        raise TrueclassError(
            "svm calibrates its confidence by cross-validation and needs at least 2 training images "
            "in every class; add images, or use knn or logreg."
        )
    # n_jobs=1: the calibration folds fit in this process; a process pool started from the
    # studio's training thread would fork copies of locks other threads hold (a deadlock)
    return PixelBackend(CalibratedClassifierCV(SVC(**params, random_state=random_state), ensemble=False,
                                               cv=min(5, smallest), n_jobs=1))


def _forest(params: dict[str, Any], y: np.ndarray, random_state: int | None, **_: Any):  # noqa: ARG001
    from sklearn.ensemble import RandomForestClassifier

    return PixelBackend(RandomForestClassifier(**params, random_state=random_state))


def _by_sklearn(estimator: str) -> Any:
    """A spec's ``check``: scikit-learn's own rules for its hyperparameters (C > 0,
    n_neighbors >= 1, ...), applied when the model is named, before any image loads, and said
    in scikit-learn's words ("The 'C' parameter of LogisticRegression must be a float in
    the range (0.0, inf]. Got -1 instead.")."""
    def check(params: dict[str, Any]) -> None:
        import importlib

        from sklearn.utils._param_validation import InvalidParameterError

        module, name = estimator.rsplit(".", 1)
        try:  # _validate_params: what fit() calls first, without the data
            getattr(importlib.import_module(module), name)(**{k: v for k, v in params.items()
                                                            if k != "random_state"})._validate_params()
        except InvalidParameterError as exc:
            raise TrueclassError(str(exc)) from None
    return check


register_model(ModelSpec(
    name="logreg",
    description="logistic regression on raw pixels, the lesson's LogisticRegression(max_iter=10000)",
    family="pixel",
    build=_logreg,
    prepare=flatten,
    backend=PixelBackend,
    defaults={"C": 1.0, "max_iter": 10000},
    check=_by_sklearn("sklearn.linear_model.LogisticRegression"),
))
register_model(ModelSpec(
    name="knn",
    description="k nearest neighbours on pixels (k=5)",
    family="pixel",
    build=_knn,
    prepare=flatten,
    backend=PixelBackend,
    defaults={"n_neighbors": 5, "weights": "uniform"},
    check=_by_sklearn("sklearn.neighbors.KNeighborsClassifier"),
))
register_model(ModelSpec(
    name="svm",
    description="RBF support vector machine on pixels (C=10), calibrated probabilities",
    family="pixel",
    build=_svm,
    prepare=flatten,
    backend=PixelBackend,
    defaults={"C": 10.0, "gamma": "scale", "kernel": "rbf"},
    types={"gamma": (str, float)},
    accepts_random_state=True,
    check=_by_sklearn("sklearn.svm.SVC"),
))
register_model(ModelSpec(
    name="forest",
    description="random forest of 300 trees on pixels",
    family="pixel",
    build=_forest,
    prepare=flatten,
    backend=PixelBackend,
    # n_jobs=-1 is safe from any thread: scikit-learn grows and asks the trees on threads
    # (prefer="threads", require="sharedmem"), never a forked process pool
    defaults={"n_estimators": 300, "max_features": "sqrt", "n_jobs": -1},
    types={"max_features": (str, int, float), "n_jobs": (int,)},
    accepts_random_state=True,
    check=_by_sklearn("sklearn.ensemble.RandomForestClassifier"),
))
