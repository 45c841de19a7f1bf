"""Accuracy for whom and where: per group of test images (slices), and on another
distribution against the model's own held-out score (shift). Pure functions over
labels, predictions and group names: no model, no files."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ._metrics import confusion, wilson_interval

__all__ = ["slice_report", "difference_interval", "shift_report", "MIN_SLICE_IMAGES", "N_PERMUTATIONS"]

#: A group with fewer test images is shown, marked "too few", and left out of the gap and
#: its test: 30 images give an interval about +-15 points wide at 80% accuracy.
MIN_SLICE_IMAGES = 30
#: Label permutations for the test of the gap between the best and worst group.
N_PERMUTATIONS = 2000


def _gap(right: np.ndarray, codes: np.ndarray, n_groups: int) -> float:
    counts = np.bincount(codes, minlength=n_groups)
    acc = np.bincount(codes, weights=right, minlength=n_groups) / np.maximum(counts, 1)
    return float(acc.max() - acc.min())


def slice_report(y_true: np.ndarray, y_pred: np.ndarray, groups: Sequence[str], classes: Sequence[str], *,
                 column: str, min_images: int = MIN_SLICE_IMAGES, seed: int = 0,
                 n_permutations: int = N_PERMUTATIONS) -> dict[str, Any]:
    """Accuracy per group with its Wilson interval; the gap between the best and worst
    group of at least ``min_images`` test images, and how often a gap this large arises
    when the same right and wrong answers are dealt to groups of the same sizes at random
    (a permutation test: no assumption about group sizes or accuracies); the confusion
    matrix of the worst group."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    groups = np.asarray([str(g) for g in groups])
    right = (y_true == y_pred).astype(np.float64)
    rows = []
    for name in sorted(set(groups.tolist())):
        m = groups == name
        n, k = int(m.sum()), int(right[m].sum())
        lo, hi = wilson_interval(k, n)
        rows.append({"group": name, "n": n, "right": k, "accuracy": k / n if n else None,
                     "accuracy_ci": [lo, hi], "too_few": n < min_images})
    rows.sort(key=lambda r: (r["too_few"], -(r["accuracy"] or 0), r["group"]))
    enough = [r for r in rows if not r["too_few"]]
    out: dict[str, Any] = {"column": column, "groups": rows, "min_images": min_images,
                           "n_too_few": sum(r["too_few"] for r in rows)}
    if len(enough) < 2:
        out["gap"] = None
        out["why_no_gap"] = (f"fewer than two groups have {min_images} test images or more"
                             if len(rows) > 1 else "every test image is in one group")
        return out
    best, worst = enough[0], enough[-1]
    keep = np.isin(groups, [r["group"] for r in enough])
    names = [r["group"] for r in enough]
    codes = np.searchsorted(np.asarray(sorted(names)), groups[keep])
    observed = _gap(right[keep], codes, len(names))
    rng = np.random.default_rng(seed)
    r_keep = right[keep]
    as_large = sum(_gap(rng.permutation(r_keep), codes, len(names)) >= observed - 1e-12
                   for _ in range(n_permutations))
    p_value = (as_large + 1) / (n_permutations + 1)
    diff_lo, diff_hi = difference_interval(best["right"], best["n"], worst["right"], worst["n"])
    wm = (groups == worst["group"])
    cm, _ = confusion(y_true[wm], y_pred[wm], len(classes))
    out |= {
        "gap": observed, "best": best["group"], "worst": worst["group"], "gap_ci": [diff_lo, diff_hi],
        "p_value": p_value, "test": f"permutation test, {n_permutations:,} shuffles of the groups",
        "larger_than_chance": p_value < 0.05,
        "worst_confusion": {"group": worst["group"], "classes": [str(c) for c in classes],
                            "matrix": cm.astype(int).tolist()},
    }
    return out


def difference_interval(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """Interval for p1 - p2 of two independent proportions: Newcombe's hybrid score
    interval (method 10), built from the two Wilson intervals; it stays inside [-1, 1]
    and behaves near 0% and 100%."""
    if n1 <= 0 or n2 <= 0:
        return (-1.0, 1.0)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (max(-1.0, lo), min(1.0, hi))


def shift_report(own: dict[str, Any] | None, new_right: int, new_n: int, own_stats: dict[str, Any] | None,
                 new_stats: dict[str, Any] | None) -> dict[str, Any]:
    """The model's score on another set beside its own held-out score (``own``: right, n,
    source), with the difference and its interval, and the image properties of both sets
    side by side (mean and spread of each)."""
    lo, hi = wilson_interval(new_right, new_n)
    out: dict[str, Any] = {"new": {"accuracy": new_right / new_n if new_n else None, "n": new_n,
                                   "accuracy_ci": [lo, hi]}}
    if own and own.get("n"):
        olo, ohi = wilson_interval(own["right"], own["n"])
        out["own"] = {"accuracy": own["right"] / own["n"], "n": own["n"], "accuracy_ci": [olo, ohi],
                      "source": own.get("source")}
        dlo, dhi = difference_interval(new_right, new_n, own["right"], own["n"])
        diff = out["new"]["accuracy"] - out["own"]["accuracy"]
        out["difference"] = {"value": diff, "ci": [dlo, dhi],
                             "clear_drop": dhi < 0, "clear_gain": dlo > 0}
    else:
        out["own"] = None
        out["why_no_own"] = "the model was saved without its held-out score (an earlier version of trueclass)"
    props = []
    for key, label in (("brightness", "brightness (0-1)"), ("contrast", "contrast (0-1)"),
                       ("saturation", "colour saturation (0-1)"), ("height", "original height in pixels"),
                       ("width", "original width in pixels")):
        a = (own_stats or {}).get(key)
        b = (new_stats or {}).get(key)
        if a is None and b is None:
            continue
        row = {"property": label, "own": a, "new": b}
        if a is not None and b is not None:
            spread = max(a[1], 1e-6)
            row["shift_in_spreads"] = (b[0] - a[0]) / spread  # how many of the training spreads apart
        props.append(row)
    out["properties"] = props
    return out
