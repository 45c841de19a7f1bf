"""Metrics for several labels per image: per-label scores, micro/macro F1, mAP, subset
accuracy and Hamming loss. Pure functions over a 0/1 matrix and probabilities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .._errors import TrueclassError
from ._metrics import wilson_interval

__all__ = ["MultiLabelEvaluation", "evaluate_multilabel", "choose_label_thresholds"]


def choose_label_thresholds(y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per label, the threshold with the best F1 on these (validation) images; 0.5 for a
    label that has no positive image among them."""
    from sklearn.metrics import precision_recall_curve

    out = np.full(y_true.shape[1], 0.5)
    for j in range(y_true.shape[1]):
        if y_true[:, j].sum() == 0 or y_true[:, j].sum() == len(y_true):
            continue
        p, r, t = precision_recall_curve(y_true[:, j], probs[:, j])
        f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0)[:-1]
        out[j] = float(t[int(np.argmax(f1))])
    return out


@dataclass(frozen=True, eq=False)
class MultiLabelEvaluation:
    classes: tuple[str, ...]
    y_true: np.ndarray
    probs: np.ndarray
    ids: np.ndarray
    thresholds: np.ndarray
    per_label: dict[str, dict[str, Any]]
    micro_f1: float
    macro_f1: float
    mean_average_precision: float | None
    subset_accuracy: float
    subset_accuracy_ci: tuple[float, float]
    hamming_loss: float
    n_test: int
    n_wrong: int
    weakest_label: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    multilabel = True

    @property
    def y_pred(self) -> np.ndarray:
        return (self.probs >= self.thresholds).astype(np.int64)

    @property
    def misread(self) -> list[dict[str, Any]]:
        """Images with at least one wrong label, the most confident mistake first."""
        pred = self.y_pred
        wrong = np.flatnonzero((pred != self.y_true).any(axis=1))
        # how sure the model was of its worst mistake on each image
        margin = np.where(pred != self.y_true, np.abs(self.probs - 0.5) * 2, 0).max(axis=1)
        wrong = wrong[np.argsort(-margin[wrong], kind="stable")]
        return [{
            "index": int(i), "id": str(self.ids[i]),
            "true": "|".join(c for c, v in zip(self.classes, self.y_true[i]) if v) or "(none)",
            "pred": "|".join(c for c, v in zip(self.classes, pred[i]) if v) or "(none)",
            "confidence": float(margin[i]), "p_true": None,
        } for i in wrong]

    def to_dict(self) -> dict[str, Any]:
        return {
            "multilabel": True,
            "subset_accuracy": self.subset_accuracy,
            "subset_accuracy_ci": list(self.subset_accuracy_ci),
            "accuracy": self.subset_accuracy,
            "accuracy_ci": list(self.subset_accuracy_ci),
            "n_test": self.n_test,
            "n_wrong": self.n_wrong,
            "micro_f1": self.micro_f1,
            "macro_f1": self.macro_f1,
            "mean_average_precision": self.mean_average_precision,
            "hamming_loss": self.hamming_loss,
            "per_label": self.per_label,
            "weakest_label": self.weakest_label,
            "classes": list(self.classes),
            "thresholds": {c: float(t) for c, t in zip(self.classes, self.thresholds)},
            **self.extra,
        }

    def prediction_rows(self, top_k: int = 3) -> list[dict[str, Any]]:  # noqa: ARG002 - same API
        pred = self.y_pred
        rows = []
        for i in range(self.n_test):
            rows.append({
                "id": str(self.ids[i]),
                "true": "|".join(c for c, v in zip(self.classes, self.y_true[i]) if v),
                "pred": "|".join(c for c, v in zip(self.classes, pred[i]) if v),
                "probabilities": "|".join(f"{c}:{p:.4f}" for c, p in zip(self.classes, self.probs[i])),
                "correct": bool((pred[i] == self.y_true[i]).all()),
                "n_wrong_labels": int((pred[i] != self.y_true[i]).sum()),
            })
        return rows

    def summary(self) -> str:
        from ._render import render_text  # the renderer the report package set, as for Evaluation

        return render_text(self.to_dict(), repr(self))

    def __repr__(self) -> str:
        lo, hi = self.subset_accuracy_ci
        return (f"MultiLabelEvaluation(subset_accuracy={self.subset_accuracy:.4f} [95% CI {lo:.4f}-{hi:.4f}], "
                f"micro_f1={self.micro_f1:.4f}, labels={len(self.classes)})")

    __str__ = summary


def evaluate_multilabel(
    y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str], ids: Sequence[str] | None = None,
    thresholds: Sequence[float] | None = None,
) -> MultiLabelEvaluation:
    """Every multi-label metric from a 0/1 matrix and per-label probabilities."""
    from sklearn.metrics import average_precision_score, f1_score, hamming_loss, precision_recall_fscore_support

    Y = np.asarray(y_true, dtype=np.int64)
    P = np.asarray(probs, dtype=np.float64)
    classes = tuple(str(c) for c in classes)
    if Y.shape != P.shape or Y.ndim != 2 or Y.shape[1] != len(classes):
        raise TrueclassError(f"y_true and probs must both be (N, {len(classes)}); got {Y.shape} and {P.shape}.")
    if len(Y) == 0:
        raise TrueclassError("There are no test images to evaluate on.")
    thr = np.full(len(classes), 0.5) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    pred = (P >= thr).astype(np.int64)
    prec, rec, f1, sup = precision_recall_fscore_support(Y, pred, zero_division=0)
    per_label, aps = {}, []
    for j, c in enumerate(classes):
        ap = float(average_precision_score(Y[:, j], P[:, j])) if 0 < Y[:, j].sum() < len(Y) else None
        if ap is not None:
            aps.append(ap)
        per_label[c] = {"precision": float(prec[j]), "recall": float(rec[j]), "f1": float(f1[j]),
                        "support": int(sup[j]), "average_precision": ap, "threshold": float(thr[j])}
    exact = (pred == Y).all(axis=1)
    k, n = int(exact.sum()), len(Y)
    present = [(v["f1"], c) for c, v in per_label.items() if v["support"] > 0]
    return MultiLabelEvaluation(
        classes=classes, y_true=Y, probs=P,
        ids=np.asarray(ids if ids is not None else np.arange(n)).astype(str),
        thresholds=thr, per_label=per_label,
        micro_f1=float(f1_score(Y, pred, average="micro", zero_division=0)),
        macro_f1=float(f1_score(Y, pred, average="macro", zero_division=0)),
        mean_average_precision=float(np.mean(aps)) if aps else None,
        subset_accuracy=k / n, subset_accuracy_ci=wilson_interval(k, n),
        hamming_loss=float(hamming_loss(Y, pred)), n_test=n, n_wrong=n - k,
        weakest_label=min(present)[1] if present else None,
    )
