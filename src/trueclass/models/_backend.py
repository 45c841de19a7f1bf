"""The small protocol every model backend speaks, and the backend of the pixel models.

``ImageClassifier`` talks to a backend only through this protocol, so a new kind of
model (a scikit-learn estimator on pixels, a torch network, a pretrained backbone) is a
new backend class plus a registry entry, and nothing else branches on its kind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .._errors import TrueclassError

__all__ = ["Backend", "PixelBackend", "WEIGHTS_SKOPS"]

WEIGHTS_SKOPS = "weights.skops"
#: Types beyond skops' defaults that the registered pixel models contain.
_TRUSTED_EXTRA = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
})


@runtime_checkable
class Backend(Protocol):
    """What ``ImageClassifier`` needs of a model.

    ``classes_`` are the label indices the backend saw (its probability columns);
    ``history_`` the per-epoch history (empty for models that do not train in epochs).
    """

    classes_: np.ndarray
    history_: list[dict[str, Any]]

    def fit(self, X: Any, y: np.ndarray, *, val: Any = None, on_progress: Any = None, checkpoint: Any = None,
            resume: bool = False, source: str | None = None) -> "Backend": ...

    def predict_proba(self, X: Any, tta: bool | str | None = None) -> np.ndarray: ...

    def training_record(self) -> dict[str, Any] | None:
        """How training went (epochs, best epoch, speed, runtime, recipe) for models that
        train in epochs; None for the others."""

    def resolved(self) -> dict[str, Any]:
        """The settings "auto" resolved to (augmentation, recipe, runtime); may be empty."""

    def save(self, folder: Path) -> dict[str, Any]:
        """Write the weights into ``folder``; returns model.json's ``weights`` entry
        (at least ``file`` and ``format``)."""

    @classmethod
    def load(cls, folder: Path, meta: dict[str, Any]) -> "Backend":
        """The backend saved in ``folder`` (whose checksum was already verified); never
        runs code stored in the file."""


def _l2_logreg(estimator: Any) -> bool:
    from sklearn.linear_model import LogisticRegression

    if type(estimator) is not LogisticRegression:
        return False
    p = estimator.get_params()
    return (p["solver"] == "lbfgs" and not p["l1_ratio"] and p["penalty"] in ("l2", "deprecated")
            and p["class_weight"] is None and not p["warm_start"])


def fit_wide_logreg(estimator: Any, X: np.ndarray, y: np.ndarray) -> bool:
    """Fit an L2 logistic regression on more pixels than images (a folder of photos:
    240 images of 120x120x3 = 43,200 pixels) in the images' own span, and leave
    ``estimator`` fitted as if scikit-learn had fitted it on ``X``. False (nothing done)
    for any other estimator, or where the images outnumber a third of the pixels.

    Exact, not an approximation: with an L2 penalty the optimal weights lie in the span of
    the images (a part orthogonal to every image changes no prediction and only adds to the
    penalty; the intercept is not penalised). With ``X = U S Vt`` (thin SVD), the weights
    ``w = Vt.T b`` and ``|w| = |b|``, so fitting ``b`` on the n features ``U S`` minimises the
    same objective; each of the solver's steps then costs n x n instead of n x pixels (the
    steps are as many: the features keep the pixels' singular values). Any orthonormal basis
    of the span serves: a QR of ``X.T`` (``X = R.T Q.T``) gives it in a quarter of an SVD's time. Why our own: scikit-
    learn's lbfgs works on the pixels, and on 0-255 photo pixels it took about 12,000 loss
    evaluations of 240 x 43,200 each, six times over (the model and the review threshold's
    five folds): minutes for 240 photos."""
    n, d = X.shape
    if d < 3 * n or not _l2_logreg(estimator):
        return False
    from sklearn.base import clone

    from scipy.linalg import qr

    q, r = qr(np.asarray(X, dtype=np.float64).T, mode="economic")
    small = clone(estimator).fit(r.T, y)
    estimator.coef_ = small.coef_ @ q.T
    for name in ("intercept_", "classes_", "n_iter_"):
        setattr(estimator, name, getattr(small, name))
    estimator.n_features_in_ = d
    return True


class PixelBackend:
    """A scikit-learn classifier on flattened pixels, stored with skops.

    skops' loader rebuilds only the types it is told to trust; we trust scikit-learn's
    and numpy's own plus the few extra types our registered models hold, and refuse a
    file that asks for anything else.
    """

    def __init__(self, estimator: Any):
        self.estimator = estimator
        self.history_: list[dict[str, Any]] = []

    def fit(self, X: np.ndarray, y: np.ndarray, **_: Any) -> "PixelBackend":
        # val, on_progress, checkpoint and resume are for models that train in epochs
        if not fit_wide_logreg(self.estimator, X, y):
            self.estimator.fit(X, y)
        self.classes_ = self.estimator.classes_
        if hasattr(self.estimator, "n_iter_"):  # solvers that iterate (logreg) say how long they ran
            self.n_iter_ = int(np.max(self.estimator.n_iter_))
        return self

    def predict_proba(self, X: np.ndarray, tta: bool | str | None = None) -> np.ndarray:  # noqa: ARG002
        return self.estimator.predict_proba(X)

    def training_record(self) -> None:
        return None

    def resolved(self) -> dict[str, Any]:
        return {}

    def save(self, folder: Path) -> dict[str, Any]:
        import skops.io as sio

        weights = folder / WEIGHTS_SKOPS
        tmp = weights.with_name(weights.name + ".tmp")
        tmp.write_bytes(canonical_skops(sio.dumps(self.estimator)))
        os.replace(tmp, weights)
        return {"file": WEIGHTS_SKOPS, "format": "skops"}

    @classmethod
    def load(cls, folder: Path, meta: dict[str, Any]) -> "PixelBackend":
        import skops.io as sio

        weights = folder / meta["weights"]["file"]
        try:
            untrusted = sio.get_untrusted_types(file=weights)
        except Exception as exc:  # skops raises several types for a broken archive
            raise TrueclassError(f"The weights file {str(weights)!r} is damaged ({exc}).") from None
        unexpected = [t for t in untrusted if t not in _TRUSTED_EXTRA]
        if unexpected:
            raise TrueclassError(
                f"The weights file {str(weights)!r} contains types trueclass does not trust "
                f"({', '.join(unexpected)}); it was not loaded."
            )
        backend = cls(sio.load(weights, trusted=list(untrusted)))
        backend.classes_ = backend.estimator.classes_
        return backend


def canonical_skops(data: bytes) -> bytes:
    """skops' archive, the same bytes for the same model: skops names objects and array
    files by ``id()`` and dates each entry now, so two runs with the same seed wrote two
    files (and two ``weights.sha256`` in model.json). The ids are renumbered in the order
    they first appear in schema.json (one number per object, so shared references stay
    shared), the arrays renamed to match, and every entry dated 1980-01-01."""
    import io
    import re
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    schema = src.read("schema.json").decode("utf-8")
    number: dict[str, str] = {}
    for m in re.finditer(r'"__id__": (\d+)|"(\d+)\.npy"', schema):
        number.setdefault(m.group(1) or m.group(2), str(len(number)))
    schema = re.sub(r'("__id__": )(\d+)', lambda m: m.group(1) + number[m.group(2)], schema)
    schema = re.sub(r'"(\d+)\.npy"', lambda m: f'"{number[m.group(1)]}.npy"', schema)
    entries = []
    for info in src.infolist():
        body = schema.encode("utf-8") if info.filename == "schema.json" else src.read(info.filename)
        name = info.filename if info.filename == "schema.json" else f"{number[info.filename[:-4]]}.npy"
        entries.append((name, body, info.compress_type))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, body, how in sorted(entries, key=lambda e: (e[0] == "schema.json", len(e[0]), e[0])):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = how
            z.writestr(info, body)
    return out.getvalue()
