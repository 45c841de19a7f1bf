"""Pure metric functions over ``(y_true, probs)``: no model, no files, no printing.

``y_true`` holds class indices (0..K-1) and ``probs`` is (N, K); a prediction is the
argmax and its confidence the largest probability. scikit-learn computes the standard
scores; what it lacks (intervals, baselines, review thresholds) is written here.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__ = [
    "wilson_interval",
    "top_k_accuracies",
    "per_class_report",
    "confusion",
    "most_confused",
    "misread",
    "baselines",
    "choose_threshold",
    "flag_summary",
    "weakest_class",
    "DEFAULT_TARGET_ACCURACY",
    "DEFAULT_THRESHOLD",
]

#: With validation data, the review threshold is the lowest confidence at which the
#: accepted validation images reach this accuracy; without it, DEFAULT_THRESHOLD.
DEFAULT_TARGET_ACCURACY = 0.99
DEFAULT_THRESHOLD = 0.5


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion of ``k`` successes in ``n`` trials.

    Unlike the normal approximation it stays inside [0, 1] and behaves at 0% and 100%,
    which is where small test sets of good models live.
    """
    if n <= 0:
        return (0.0, 1.0)
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def top_k_accuracies(y_true: np.ndarray, probs: np.ndarray, ks: Sequence[int] = (2, 3, 5)) -> dict[str, float]:
    """Top-k accuracy for each k below the number of classes, keyed by str(k)."""
    from sklearn.metrics import top_k_accuracy_score

    n_classes = probs.shape[1]
    labels = np.arange(n_classes)
    return {
        str(k): float(top_k_accuracy_score(y_true, probs, k=k, labels=labels))
        for k in ks
        if k < n_classes
    }


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Precision, recall, F1 and support per class, with a 95% interval on recall."""
    from sklearn.metrics import precision_recall_fscore_support

    labels = np.arange(len(classes))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out = {}
    for i, name in enumerate(classes):
        correct = int(np.sum((y_true == i) & (y_pred == i)))
        out[name] = {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
            "recall_ci": list(wilson_interval(correct, int(s[i]))),
        }
    return out


def weakest_class(per_class: dict[str, dict[str, Any]]) -> str | None:
    """The class with the lowest F1 among those with test images (ties: lower recall);
    None when every class scores the same (no class is weaker than another)."""
    present = [(v["f1"], v["recall"], name) for name, v in per_class.items() if v["support"] > 0]
    if not present or len({(f, r) for f, r, _ in present}) == 1:
        return None
    return min(present)[2]


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts (rows: true class, columns: predicted) and the same divided by row totals."""
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))
    totals = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(totals > 0, cm / np.maximum(totals, 1), 0.0)
    return cm, norm


def most_confused(cm: np.ndarray, classes: Sequence[str], top: int = 10) -> list[dict[str, Any]]:
    """The off-diagonal cells with the most images, largest first."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")
    out = []
    for flat in order[:top]:
        t, p = np.unravel_index(flat, off.shape)
        if off[t, p] == 0:
            break
        out.append({"true": classes[t], "pred": classes[p], "count": int(off[t, p])})
    return out


def misread(
    y_true: np.ndarray, probs: np.ndarray, ids: Sequence[str], classes: Sequence[str]
) -> list[dict[str, Any]]:
    """Every wrong prediction, the most confident first."""
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    wrong = wrong[np.argsort(-conf[wrong], kind="stable")]
    return [
        {
            "index": int(i),
            "id": str(ids[i]),
            "true": classes[y_true[i]],
            "pred": classes[pred[i]],
            "confidence": float(conf[i]),
            "p_true": float(probs[i, y_true[i]]),
        }
        for i in wrong
    ]


def baselines(y_true: np.ndarray, n_classes: int, train_labels: np.ndarray | None = None) -> dict[str, Any]:
    """What guessing scores: uniform chance, and always answering the majority class.

    The majority class is the training set's when ``train_labels`` is given (the honest
    choice: a baseline may not peek at the test labels), else the test set's.
    """
    ref = train_labels if train_labels is not None and len(train_labels) else y_true
    majority = int(np.bincount(ref, minlength=n_classes).argmax())
    k = int(np.sum(y_true == majority))
    n = len(y_true)
    return {
        "chance": 1.0 / n_classes,
        "majority": k / n if n else 0.0,
        "majority_ci": list(wilson_interval(k, n)),
        "majority_class": majority,
        "majority_from": "train" if ref is train_labels else "test",
    }


def min_accepted(target_accuracy: float) -> int:
    """The fewest accepted images on which a review threshold may be said to reach
    ``target_accuracy``: 1/(1 - target), 100 for 99%. On fewer, all of them right says
    nothing of the target (one image right of one reached "99%", and sent all the others
    to a person)."""
    if target_accuracy >= 1:
        return 1
    return max(1, math.ceil(round(1 / (1 - target_accuracy), 6)))


def choose_threshold(
    y_true: np.ndarray, probs: np.ndarray, target_accuracy: float = DEFAULT_TARGET_ACCURACY
) -> float:
    """The lowest confidence threshold whose accepted images reach ``target_accuracy``,
    on at least :func:`min_accepted` of them.

    Meant for validation data, never the test set. When every validation image may be
    accepted, the lowest validation confidence: below it there is no evidence for the
    target. If no threshold reaches the target, the one with the best accepted accuracy
    that still accepts at least half of the images.
    """
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    if len(conf) == 0:
        return DEFAULT_THRESHOLD
    order = np.argsort(-conf, kind="stable")
    conf_sorted = conf[order]
    acc_prefix = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    # only cut between distinct confidences: the prefix ends where the next value is lower
    ends = np.flatnonzero(np.r_[conf_sorted[1:] < conf_sorted[:-1], True])
    ok = ends[(acc_prefix[ends] >= target_accuracy) & (ends + 1 >= min_accepted(target_accuracy))]
    if len(ok):
        return float(conf_sorted[ok.max()])
    half = ends[ends + 1 >= math.ceil(len(order) / 2)]
    # of the cuts with the best accuracy, the one that keeps the most images (60 held-out
    # images all right, too few to show 99%, set half the test images aside at the highest)
    best = half[np.flatnonzero(acc_prefix[half] == acc_prefix[half].max())[-1]]
    return float(conf_sorted[best])


def flag_summary(y_true: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, Any]:
    """Images with confidence below ``threshold`` go to a human; accuracy on each side."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    flagged = conf < threshold
    n_f = int(flagged.sum())
    n_a = len(conf) - n_f
    k_a = int(correct[~flagged].sum())
    k_f = int(correct[flagged].sum())
    return {
        "threshold": float(threshold),
        "n": n_f,
        "fraction": n_f / len(conf) if len(conf) else 0.0,
        "accuracy_accepted": k_a / n_a if n_a else None,
        "accuracy_accepted_ci": list(wilson_interval(k_a, n_a)) if n_a else None,
        "accuracy_flagged": k_f / n_f if n_f else None,
        "accuracy_flagged_ci": list(wilson_interval(k_f, n_f)) if n_f else None,
    }
