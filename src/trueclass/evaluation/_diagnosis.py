"""Plain verdicts computed from numbers: how training went, what the data warns of, and
how much one split's score moves between seeds. Pure functions: numbers in, dicts out."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__ = ["training_verdict", "data_warnings", "stability_summary", "FEW_TEST_IMAGES", "STRONG_IMBALANCE"]

#: A class with fewer test images than this gets a warning: its recall interval is wide.
FEW_TEST_IMAGES = 30
#: Largest / smallest training class above this ratio is a strong imbalance.
STRONG_IMBALANCE = 3.0
#: A train-test gap this large (or the test interval's half-width, if larger) is over-fitting.
OVERFIT_GAP = 0.03
#: Training accuracy below this, with a small gap, is under-fitting.
UNDERFIT_TRAIN_ACCURACY = 0.90


def training_verdict(
    test_accuracy: float,
    test_ci: Sequence[float],
    train_accuracy: float | None,
    history: list[dict[str, Any]] | None = None,
    *,
    best_epoch: int | None = None,
    stopped_early: bool = False,
    train_accuracy_on: str = "training images",
    baseline_accuracy: float | None = None,
    baseline_name: str = "the quick baseline",
) -> dict[str, Any]:
    """'over-fitting', 'under-fitting' or 'fine', with the numbers and reasons behind it.

    Over-fitting: training accuracy beats test accuracy by more than max(3 points, the
    half-width of the test interval), or the validation loss ended more than 10% above
    its minimum. Under-fitting: training accuracy below 90% with no such gap, or a
    validation accuracy still climbing by more than half a point over the last epochs
    of a run that was not stopped early, or a validation loss still falling at the last
    epoch. Below its baseline: a test accuracy under ``baseline_accuracy`` (a simpler
    model on the same images), whatever else holds.
    """
    half = (float(test_ci[1]) - float(test_ci[0])) / 2
    tolerance = max(OVERFIT_GAP, half)
    out: dict[str, Any] = {
        "train_accuracy": train_accuracy,
        "train_accuracy_on": train_accuracy_on,
        "test_accuracy": test_accuracy,
        "gap": None if train_accuracy is None else train_accuracy - test_accuracy,
        "gap_tolerance": tolerance,
        "reasons": [],
    }
    over, under = [], []
    if train_accuracy is not None:
        gap = train_accuracy - test_accuracy
        if gap > tolerance:
            over.append(f"training accuracy {train_accuracy:.1%} is {gap * 100:.1f} points above test accuracy "
                        f"{test_accuracy:.1%} (more than the {tolerance * 100:.1f} points noise allows)")
        elif train_accuracy < UNDERFIT_TRAIN_ACCURACY:
            under.append(f"even on its training images the model reaches only {train_accuracy:.1%}")
    hist = [h for h in (history or []) if h.get("val_loss") not in (None, "")]
    if hist:
        losses = np.array([float(h["val_loss"]) for h in hist])
        lo = float(losses.min())
        out["val_loss_min"] = lo
        out["val_loss_last"] = float(losses[-1])
        out["best_epoch"] = best_epoch if best_epoch is not None else int(np.argmin(losses)) + 1
        if losses[-1] > 1.10 * lo and len(losses) > 2:
            over.append(f"validation loss rose from {lo:.3f} (epoch {int(np.argmin(losses)) + 1}) to "
                        f"{losses[-1]:.3f} by the last epoch; the weights of the best epoch were kept")
        accs = [float(h["val_accuracy"]) for h in hist if h.get("val_accuracy") not in (None, "")]
        if len(accs) >= 4 and not stopped_early:
            tail = max(2, len(accs) // 5)
            rise = accs[-1] - accs[-1 - tail]
            out["val_accuracy_rise_last_epochs"] = rise
            if rise > 0.005:
                under.append(f"validation accuracy was still rising ({rise * 100:.1f} points over the last {tail} "
                             "epochs): more epochs may help")
        if (not stopped_early and len(losses) >= 2 and int(np.argmin(losses)) == len(losses) - 1
                and losses[-2] - losses[-1] > 0.005 * losses[-2]):
            under.append(f"the validation loss was still falling at the last epoch ({losses[-2]:.3f} -> "
                         f"{losses[-1]:.3f}): more epochs may help")
    if baseline_accuracy is not None and test_accuracy < baseline_accuracy:
        out["verdict"] = "below its baseline"
        out["reasons"] = [f"test accuracy {test_accuracy:.1%} is below the {baseline_accuracy:.1%} of "
                          f"{baseline_name} on the same test images"] + over + under
        return out
    if over:
        out["verdict"], out["reasons"] = "over-fitting", over
    elif under:
        out["verdict"], out["reasons"] = "under-fitting", under
    else:
        out["verdict"] = "fine"
        if train_accuracy is not None:
            out["reasons"] = [f"training {train_accuracy:.1%} vs test {test_accuracy:.1%}: a gap of "
                              f"{(train_accuracy - test_accuracy) * 100:.1f} points, within the "
                              f"{tolerance * 100:.1f} points noise allows"]
    return out


def data_warnings(counts_by_split: dict[str, dict[str, int]], per_class: dict[str, dict[str, Any]] | None = None,
                  ) -> list[dict[str, Any]]:
    """Warnings about the data behind the numbers: classes with few test images (wide
    intervals), strong imbalance among training classes, empty classes."""
    warnings: list[dict[str, Any]] = []
    test = counts_by_split.get("test") or {}
    for name, n in test.items():
        if n == 0:
            warnings.append({"kind": "no_test_images", "class": name,
                             "message": f"Class '{name}' has no test images: nothing is known about how it is read."})
        elif n < FEW_TEST_IMAGES:
            ci = (per_class or {}).get(name, {}).get("recall_ci")
            width = f" (its recall is known only to within {100 * (ci[1] - ci[0]) / 2:.0f} points)" if ci else ""
            warnings.append({"kind": "few_test_images", "class": name, "n": int(n),
                             "message": f"Class '{name}' has only {n} test images{width}; "
                                        f"fewer than {FEW_TEST_IMAGES} make its scores unreliable."})
    train = {k: v for k, v in (counts_by_split.get("train") or {}).items()}
    nonzero = [v for v in train.values() if v > 0]
    if len(nonzero) >= 2:
        big = max(train, key=train.get)
        small = min(train, key=train.get)
        ratio = train[big] / max(1, train[small])
        if ratio > STRONG_IMBALANCE:
            warnings.append({"kind": "imbalance", "ratio": ratio, "largest": big, "smallest": small,
                             "message": f"Strong imbalance: '{big}' has {train[big]:,} training images, '{small}' "
                                        f"only {train[small]:,} ({ratio:.1f}x). Look at per-class recall rather than "
                                        'accuracy; class weights (class_weight="balanced") or more images of '
                                        f"'{small}' may help."})
    return warnings


def stability_summary(accuracies: Sequence[float], seeds: Sequence[int], n_test: Sequence[int]) -> dict[str, Any]:
    """Mean, standard deviation, min and max of test accuracy over re-splits."""
    a = np.asarray(accuracies, dtype=np.float64)
    sd = float(a.std(ddof=1)) if len(a) > 1 else 0.0
    return {
        "repeats": int(len(a)),
        "seeds": [int(s) for s in seeds],
        "accuracies": [float(x) for x in a],
        "n_test": [int(n) for n in n_test],
        "mean": float(a.mean()),
        "sd": sd,
        "min": float(a.min()),
        "max": float(a.max()),
        "range": float(a.max() - a.min()),
        # what one split's number can differ by from the next: about 2 sd either way
        "typical_swing": 2 * sd if math.isfinite(sd) else None,
    }
