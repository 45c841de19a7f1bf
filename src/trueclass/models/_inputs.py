"""What the estimator accepts: arrays, labels and hyperparameters checked before any work,
each mistake (one image alone, a file name, mixed labels, a word for a number) answered
with a sentence in the lesson's words rather than a library's traceback."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import TrueclassError
from ..data import labels_problem


_KINDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a word"}


def type_of(default: Any) -> type | None:
    return None if default is None else type(default)


def check_type(model: str, key: str, value: Any, kind: Any) -> None:
    """A sentence for a hyperparameter of the wrong type (n_neighbors="abc"), before any
    work; None leaves a parameter free (``kind`` None or a tuple of accepted types)."""
    if kind is None or value is None:
        return
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = any(
        (isinstance(value, k) and not (k in (int, float) and isinstance(value, bool)))
        or (k is float and isinstance(value, int) and not isinstance(value, bool))
        for k in kinds
    )
    if not ok:
        want = " or ".join(_KINDS.get(k, k.__name__) for k in kinds)
        raise TrueclassError(f"{key} of model {model!r} must be {want}; got {value!r}.")


def checked_array(X: Any, *, allow_1d: bool = False, task: str = "predict", folder: Any = None) -> np.ndarray:
    """``X`` as a numeric array, with scikit-learn's own checks (and their sentences) for
    sparse, complex, non-numeric, NaN/inf and zero-feature input; the lesson's mistakes
    (one image, a file name, no images) get a sentence in the lesson's words (``folder``:
    where the model was saved or loaded from, which the file-name sentence names)."""
    import os

    import scipy.sparse as sp
    from sklearn.utils import check_array

    if sp.issparse(X):
        raise TrueclassError("Sparse data was passed, but images are dense arrays; pass X.toarray() instead.")
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TrueclassError(_file_names_sentence([X], task, folder))
    try:
        arr = np.asarray(X)
    except ValueError:
        arr = np.empty(0, dtype=object)
    if arr.dtype.kind in "US" and arr.size:
        raise TrueclassError(_file_names_sentence(list(arr.ravel()), task, folder))
    if arr.ndim == 0:
        raise TrueclassError(f"X must be a list of images (like X_test), not the single value {X}.")
    if arr.ndim == 1 and not allow_1d and arr.size and arr.dtype != object:
        raise TrueclassError(
            f"Reshape your data: X is one image ({arr.size} values) and the model takes a list of images, so pass "
            "X_test[0:1] or [X_test[0]] instead of X_test[0]." if task == "predict" else
            f"Reshape your data: X is a single row of {arr.size} values and fit takes a list of images, one row "
            "per image, such as X_train."
        )
    if arr.shape[0] == 0:
        raise TrueclassError(f"There are no images in X (it is empty), so there is nothing to {task}.")
    if arr.dtype == object and (arr.ndim == 1 or arr.size == 0) and len(X):
        raise TrueclassError("The images must all have the same size; resize them first (trueclass.load does it).")
    try:
        return check_array(arr, allow_nd=True, ensure_2d=not allow_1d, dtype="numeric", ensure_min_samples=1,
                           input_name="X")
    except ValueError as exc:
        raise TrueclassError(str(exc)) from None


def _file_names_sentence(names: list[Any], task: str, folder: Any = None) -> str:
    """File names given where images belong (``clf.predict("cat.png")``); ``folder``: the
    model's own folder, when it has one, in place of asking for a save."""
    import shlex

    shown = ", ".join(repr(str(n)) for n in names[:3]) + (" ..." if len(names) > 3 else "")
    what = "is a file name, not an image" if len(names) == 1 else "are file names, not images"
    if task != "predict":
        return (f"{shown} {what}: put the pictures "
                "in one folder per class and train on tc.load('my_folder'), or pass the images as arrays.")
    first = str(names[0])
    if folder is None:
        how, folder = "save the model with clf.save('my-model') and run", "my-model"
    else:
        how, folder = "run", str(folder)
    return (f"{shown} {what}: {how} `trueclass predict {shlex.quote(folder)} {shlex.quote(first)}` (in Python: "
            f"trueclass.run.predict_files({folder!r}, [{first!r}])), or load the picture into an array first.")


def checked_labels(y: Any, n: int) -> np.ndarray:
    """One label per image (or a 0/1 indicator matrix for several labels per image)."""
    import warnings

    from sklearn.exceptions import DataConversionWarning
    from sklearn.utils.multiclass import type_of_target

    problem = labels_problem(y)
    if problem:
        raise TrueclassError(problem)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected; it was flattened.",
                      DataConversionWarning, stacklevel=3)
        y = y.ravel()
    if len(y) != n:
        raise TrueclassError(f"X has {n} images but y has {len(y)} {'rows' if y.ndim == 2 else 'labels'}; "
                             "they must match.")
    kind = type_of_target(y, input_name="y")
    if kind == "multilabel-indicator":
        return y
    if y.ndim != 1:
        raise TrueclassError(f"y must hold one label per image; it has shape {y.shape}.")
    if kind not in ("binary", "multiclass"):
        raise TrueclassError(
            f"Unknown label type: {kind}. y must hold class labels (names or whole numbers), not measurements; "
            "a classifier predicts classes."
        )
    need_two_classes(y)
    return y


def need_two_classes(y: np.ndarray) -> None:
    if len(y) and len(np.unique(y)) < 2:
        raise TrueclassError(
            f"All {len(y)} training images have the same label ({y[0]!r}): there is only one class, and a "
            "classifier needs at least two."
        )


def as_images(arr: np.ndarray, expected: tuple[int, int, int] | None = None, *,
               rows_as_images: bool = True) -> np.ndarray:
    """Any accepted array layout as float64 (N, H, W, C), values untouched.

    A row of H*H values is an H x H image; any other row is a 1 x F image when
    ``rows_as_images`` (pixel models see only the flattened values anyway)."""
    if arr.ndim == 2:
        n, d = arr.shape
        if expected is not None:
            if d != int(np.prod(expected)):
                raise TrueclassError(
                    f"X has {d} features, but ImageClassifier is expecting {int(np.prod(expected))} features as "
                    f"input: this model takes {expected[1]}x{expected[0]} images."
                )
            return arr.reshape(n, *expected).astype(np.float64)
        side = int(round(np.sqrt(d)))
        if side * side == d:
            return arr.reshape(n, side, side, 1).astype(np.float64)
        if rows_as_images:
            return arr.reshape(n, 1, d, 1).astype(np.float64)
        raise TrueclassError(
            f"Each row of X has {d} values, which is not a square image, and a network needs images; "
            "pass X with shape (N, H, W)."
        )
    if arr.ndim == 3:
        return arr[..., None].astype(np.float64)
    if arr.ndim == 4:
        if arr.shape[-1] not in (1, 3) and arr.shape[1] in (1, 3):
            arr = np.moveaxis(arr, 1, -1)
        return arr.astype(np.float64)
    raise TrueclassError(
        f"X must have shape (N, H, W), (N, H, W, C) or (N, H*W); got an array of shape {arr.shape}."
    )
