"""Two models on the same test images: is one really more accurate?

Pure functions over paired answers (the same image ids, the same true labels): each
model's accuracy with its Wilson interval, the difference with a paired bootstrap
interval (images resampled, both models' answers kept together), the exact McNemar test
with the mid-p correction on the images where exactly one of them is right, the flips in
each direction, per-class recall differences, and the smallest difference the
disagreements on this test set could show. The exact binomial comes from scipy;
statsmodels has the same test (``mcnemar(exact=True)``) but no mid-p, and the tests check
ours against it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._errors import TrueclassError
from ._metrics import wilson_interval

__all__ = ["mcnemar_midp", "paired_bootstrap", "detectable_difference", "paired_test", "compare_answers",
           "format_points", "ALPHA"]

ALPHA = 0.05
N_BOOT = 2000


def mcnemar_midp(b: int, c: int) -> float:
    """Two-sided exact McNemar mid-p value for ``b`` images only the first model reads right
    and ``c`` only the second: 2 P(X <= min) - P(X = min) for X ~ Binomial(b + c, 1/2)."""
    from scipy.stats import binom

    n, k = int(b) + int(c), min(int(b), int(c))
    if n == 0:
        return 1.0
    return float(min(1.0, 2 * binom.cdf(k, n, 0.5) - binom.pmf(k, n, 0.5)))


def paired_bootstrap(right_a: np.ndarray, right_b: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0,
                     confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of accuracy(b) - accuracy(a), resampling images with both
    models' answers kept together."""
    d = np.asarray(right_b, dtype=np.float64) - np.asarray(right_a, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for s in range(0, n_boot, 500):  # in blocks: a (500, N) index array at a time
        k = min(500, n_boot - s)
        means[s : s + k] = d[rng.integers(0, len(d), (k, len(d)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def detectable_difference(n_discordant: int, n: int, alpha: float = ALPHA) -> float | None:
    """The smallest accuracy difference McNemar's test could call real at ``alpha`` with
    ``n_discordant`` disagreements among ``n`` images (None when even all of them one way
    would not be enough)."""
    for d in range(n_discordant % 2, n_discordant + 1, 2):
        b = (n_discordant - d) // 2
        if mcnemar_midp(b, n_discordant - b) < alpha:
            return d / n
    return None


def paired_test(right_a: Sequence[bool] | np.ndarray, right_b: Sequence[bool] | np.ndarray, *,
                seed: int = 0) -> dict[str, Any]:
    """Two models' right/wrong on the same test images (in the same order): accuracy(b) -
    accuracy(a) with its paired bootstrap interval, the McNemar mid-p on the images where
    exactly one is right, and ``judgement``: "b better", "a better" or "no clear
    difference" (mid-p at or above ``ALPHA``, or no disagreement at all)."""
    ra, rb = np.asarray(right_a, dtype=bool), np.asarray(right_b, dtype=bool)
    if ra.shape != rb.shape or ra.ndim != 1 or len(ra) == 0:
        raise TrueclassError("A paired test needs both models' answers on the same, non-empty set of test images.")
    only_a, only_b = int(np.sum(ra & ~rb)), int(np.sum(~ra & rb))
    diff = float(rb.mean() - ra.mean())
    p = mcnemar_midp(only_a, only_b)
    clear = only_a + only_b > 0 and p < ALPHA
    return {"n_test": int(len(ra)), "only_a_right": only_a, "only_b_right": only_b, "difference": diff,
            "difference_ci": list(paired_bootstrap(ra, rb, seed=seed)), "mcnemar_midp": p, "alpha": ALPHA,
            "significant": bool(clear),
            "judgement": ("b better" if diff > 0 else "a better") if clear else "no clear difference"}


def format_points(x: float, *, sign: bool = False) -> str:
    """An accuracy difference in percentage points: 0.024 -> '2.4 points' (``sign``: '+2.4')."""
    return f"{100 * x:+.1f} points" if sign else f"{100 * x:.1f} points"


def compare_answers(a: dict[str, Any], b: dict[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """Compare two models' answers. ``a`` and ``b`` have ``name``, ``ids``, ``true`` and
    ``pred`` (class names per image); they must cover the same test images."""
    ids_a, ids_b = [str(x) for x in a["ids"]], [str(x) for x in b["ids"]]
    only_a, only_b = sorted(set(ids_a) - set(ids_b)), sorted(set(ids_b) - set(ids_a))
    if only_a or only_b or len(ids_a) != len(set(ids_a)):
        raise TrueclassError(
            f"{a['name']} and {b['name']} were scored on different test images ({len(only_a)} only in the first, "
            f"{len(only_b)} only in the second{', e.g. ' + (only_a + only_b)[0] if only_a or only_b else ''}); "
            "compare runs of the same source, split and seed.")
    where = {x: i for i, x in enumerate(ids_b)}
    order = np.array([where[x] for x in ids_a])
    true_a = np.asarray(a["true"]).astype(str)
    true_b = np.asarray(b["true"]).astype(str)[order]
    if not np.array_equal(true_a, true_b):
        raise TrueclassError(f"{a['name']} and {b['name']} give the same test images different true labels "
                             f"({int(np.sum(true_a != true_b))} of them); compare runs of the same source.")
    pred_a, pred_b = np.asarray(a["pred"]).astype(str), np.asarray(b["pred"]).astype(str)[order]
    ra, rb = pred_a == true_a, pred_b == true_b
    n = len(ra)
    if n == 0:
        raise TrueclassError("There are no test images to compare on.")
    only_a_right, only_b_right = int(np.sum(ra & ~rb)), int(np.sum(~ra & rb))
    acc_a, acc_b = float(ra.mean()), float(rb.mean())
    p = mcnemar_midp(only_a_right, only_b_right)
    ci = paired_bootstrap(ra, rb, seed=seed)
    detect = detectable_difference(only_a_right + only_b_right, n)
    per_class = {}
    for c in sorted(set(true_a)):
        m = true_a == c
        per_class[c] = {"n": int(m.sum()), "recall_a": float(ra[m].mean()), "recall_b": float(rb[m].mean()),
                        "difference": float(rb[m].mean() - ra[m].mean())}
    diff = acc_b - acc_a
    n_disagree = only_a_right + only_b_right
    if n_disagree == 0:
        verdict = (f"{a['name']} and {b['name']} read every one of the {n} test images the same way (right or "
                   "wrong): no difference to find.")
    elif p < ALPHA:
        # the difference and its interval are both of the better model minus the worse one
        better, worse, lo, hi = ((b["name"], a["name"], ci[0], ci[1]) if diff > 0 else
                                 (a["name"], b["name"], -ci[1], -ci[0]))
        verdict = (f"{better} is more accurate than {worse} by {format_points(abs(diff))} (95% interval of the "
                   f"difference {100 * lo:+.1f} to {100 * hi:+.1f} points); McNemar's exact test on the {n_disagree} "
                   f"images where they disagree gives mid-p = {p:.3g}: unlikely to be luck.")
    else:
        verdict = (f"No difference this test set can show: {b['name']} minus {a['name']} is "
                   f"{format_points(diff, sign=True)} (95% interval {100 * ci[0]:+.1f} to {100 * ci[1]:+.1f} points), "
                   f"McNemar mid-p = {p:.2f} on {n_disagree} disagreements"
                   + (f"; with these disagreements only a difference of {format_points(detect)} or more could be "
                      "told from chance." if detect is not None else
                      "; too few disagreements to tell any difference from chance."))
    return {
        "a": a["name"], "b": b["name"], "n_test": n,
        "accuracy_a": acc_a, "accuracy_a_ci": list(wilson_interval(int(ra.sum()), n)),
        "accuracy_b": acc_b, "accuracy_b_ci": list(wilson_interval(int(rb.sum()), n)),
        "difference": diff, "difference_ci": list(ci), "bootstrap": {"resamples": N_BOOT, "seed": seed},
        "only_a_right": only_a_right, "only_b_right": only_b_right,
        "both_right": int(np.sum(ra & rb)), "both_wrong": int(np.sum(~ra & ~rb)),
        "mcnemar_midp": p, "significant": bool(p < ALPHA), "alpha": ALPHA,
        "detectable_difference": detect,
        "flips_to_b": [{"id": ids_a[i], "true": true_a[i], "pred_a": pred_a[i], "pred_b": pred_b[i]}
                       for i in np.flatnonzero(~ra & rb)],
        "flips_to_a": [{"id": ids_a[i], "true": true_a[i], "pred_a": pred_a[i], "pred_b": pred_b[i]}
                       for i in np.flatnonzero(ra & ~rb)],
        "per_class": per_class,
        "verdict": verdict,
    }


def names_for(items: Sequence[Any]) -> list[str]:
    """Distinct display names: repeated names get a number."""
    out, seen = [], {}
    for x in items:
        x = str(x)
        seen[x] = seen.get(x, 0) + 1
        out.append(x if seen[x] == 1 else f"{x} ({seen[x]})")
    return out
