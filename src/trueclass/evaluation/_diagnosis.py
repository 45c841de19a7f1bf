"""Plain verdicts computed from numbers: how training went, what the data warns of, and
how much one split's score moves between seeds. Pure functions: numbers in, dicts out."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__ = ["training_verdict", "baseline_judgement", "gap_interval", "data_warnings", "stability_summary",
           "FEW_TEST_IMAGES", "STRONG_IMBALANCE", "OVERFIT_GAP"]

#: A class with fewer test images than this gets a warning: its recall interval is wide.
FEW_TEST_IMAGES = 30
#: Largest / smallest training class above this ratio is a strong imbalance.
STRONG_IMBALANCE = 3.0
#: Over-fitting is called when the train-test gap is clearly (the lower end of its 95%
#: interval) above this many points: a model loses a little on images it never saw, and a
#: gap of a few points that one split shows and the next does not is noise. On the digits
#: lesson (logreg, 360 test images) seeds 0, 1 and 42 gave gaps of 3.1 to 4.2 points whose
#: intervals all reach below 3: a fixed 3-point limit called the same model over-fitting
#: on one seed and fine on the next.
OVERFIT_GAP = 0.03
#: Training accuracy below this, with a small gap, is under-fitting.
UNDERFIT_TRAIN_ACCURACY = 0.90


def gap_interval(train_accuracy: float, train_n: int | None, test_accuracy: float,
                 test_ci: Sequence[float]) -> tuple[float, float]:
    """95% interval of training accuracy minus test accuracy (two independent samples):
    Newcombe's hybrid score interval from the two Wilson intervals. ``train_n`` is how
    many training images the training accuracy was measured on (None: taken as exact)."""
    from ._metrics import wilson_interval

    p1, p2 = float(train_accuracy), float(test_accuracy)
    l2, u2 = float(test_ci[0]), float(test_ci[1])
    if train_n:
        l1, u1 = wilson_interval(int(round(p1 * train_n)), int(train_n))
    else:
        l1 = u1 = p1
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def _points(x: float) -> str:
    return f"{100 * x:.1f}"


def baseline_judgement(test_accuracy: float, test_ci: Sequence[float], baseline_accuracy: float,
                       baseline_name: str, *, paired: dict[str, Any] | None = None,
                       baseline_ci: Sequence[float] | None = None) -> dict[str, Any]:
    """Is the model really below (or above) a baseline scored on the same test images?

    ``paired`` is evaluation._compare.paired_test with a = the baseline, b = the model:
    the McNemar mid-p on the images only one of them reads right decides. Without it the
    two Wilson intervals must not overlap (``baseline_ci``; a weaker test); with neither,
    nothing is claimed. ``judgement`` is "below", "above" or "no clear difference"."""
    out: dict[str, Any] = {"accuracy": float(baseline_accuracy), "name": baseline_name}
    lower = test_accuracy < baseline_accuracy
    if paired is not None:
        judgement = {"a better": "below", "b better": "above"}.get(paired["judgement"], "no clear difference")
        b, c, p = paired["only_b_right"], paired["only_a_right"], paired["mcnemar_midp"]
        lo, hi = paired["difference_ci"]
        evidence = (f"{c} test image{'s' if c != 1 else ''} read right only by the baseline, {b} only by this model; "
                    f"McNemar mid-p = {p:.2g}, difference {100 * paired['difference']:+.1f} points, 95% interval "
                    f"{100 * lo:+.1f} to {100 * hi:+.1f}")
        out |= {"test": "McNemar mid-p (paired, same test images)", "mcnemar_midp": p,
                "only_baseline_right": c, "only_model_right": b, "difference": paired["difference"],
                "difference_ci": [lo, hi]}
    elif baseline_ci is not None:
        if float(baseline_ci[0]) > float(test_ci[1]):
            judgement = "below"
        elif float(test_ci[0]) > float(baseline_ci[1]):
            judgement = "above"
        else:
            judgement = "no clear difference"
        evidence = (f"95% intervals {100 * test_ci[0]:.1f}-{100 * test_ci[1]:.1f}% and "
                    f"{100 * baseline_ci[0]:.1f}-{100 * baseline_ci[1]:.1f}%, no paired test")
        out["test"] = "Wilson intervals (not paired)"
    else:
        judgement, evidence = "no clear difference", "no test: the baseline's answers per image were not given"
        out["test"] = None
    out["judgement"] = judgement
    if paired is not None:  # the interval and the test can disagree at the edge: said, not hidden
        lo, hi = paired["difference_ci"]
        if judgement == "no clear difference" and (lo > 0 or hi < 0):
            evidence += ("; the interval leaves out zero while the test does not reach 0.05: a borderline case, "
                         "not called")
        elif judgement != "no clear difference" and lo <= 0 <= hi:
            evidence += "; the interval still holds zero: a borderline call"
    if judgement == "below":
        out["message"] = (f"test accuracy {test_accuracy:.1%} is below the {baseline_accuracy:.1%} of {baseline_name} "
                          f"on the same test images, more than chance explains ({evidence})")
    elif judgement == "above":
        out["message"] = (f"test accuracy {test_accuracy:.1%} is clearly above the {baseline_accuracy:.1%} of "
                          f"{baseline_name} ({evidence})")
    else:
        out["message"] = (f"no clear difference from {baseline_name}: {test_accuracy:.1%} against "
                          f"{baseline_accuracy:.1%} on the same test images ({evidence})"
                          + ("; it is not called below its baseline" if lower and "not called" not in evidence else ""))
    return out


def training_verdict(
    test_accuracy: float,
    test_ci: Sequence[float],
    train_accuracy: float | None,
    history: list[dict[str, Any]] | None = None,
    *,
    best_epoch: int | None = None,
    stopped_early: bool = False,
    train_accuracy_on: str = "training images",
    train_n: int | None = None,
    baseline_accuracy: float | None = None,
    baseline_name: str = "the quick baseline",
    baseline_paired: dict[str, Any] | None = None,
    baseline_ci: Sequence[float] | None = None,
) -> dict[str, Any]:
    """'over-fitting', 'under-fitting', 'still learning', 'fine' or 'below its baseline', with the numbers
    and reasons behind it. A verdict is as strong as its evidence:

    Over-fitting: training accuracy (on ``train_n`` images) beats test accuracy by
    clearly more than ``OVERFIT_GAP`` (the lower end of the gap's 95% interval, see
    :func:`gap_interval`, is above it), or the validation loss ended more than 10% above
    its minimum; a gap within its noise is "no clear sign of over-fitting". Under-fitting:
    training accuracy below 90% with no such gap. Still learning: the training images are
    learnt (90% or more, or not measured) but a validation accuracy was still climbing by more
    than half a point over the last epochs of a run that was not stopped early, or a
    validation loss still falling at the last epoch: more epochs may help (a digits net at
    99.7% on its test images was called under-fitting for it). Below its baseline: a simpler model
    on the same test images (``baseline_accuracy``) is better by more than chance explains
    (see :func:`baseline_judgement`: the paired McNemar test of ``baseline_paired``),
    whatever else holds; lower by less is "no clear difference".
    """
    out: dict[str, Any] = {
        "train_accuracy": train_accuracy,
        "train_accuracy_on": train_accuracy_on,
        "test_accuracy": test_accuracy,
        "gap": None if train_accuracy is None else train_accuracy - test_accuracy,
        "gap_tolerance": OVERFIT_GAP,
        "reasons": [],
    }
    over, under, fine = [], [], []
    if train_accuracy is not None:
        gap = train_accuracy - test_accuracy
        lo, hi = gap_interval(train_accuracy, train_n, test_accuracy, test_ci)
        out["gap_ci"] = [lo, hi]
        span = f"a gap of {_points(gap)} points (95% interval {_points(lo)} to {_points(hi)})"
        if lo > OVERFIT_GAP:
            over.append(f"training accuracy {train_accuracy:.1%} is {_points(gap)} points above test accuracy "
                        f"{test_accuracy:.1%} (95% interval of the gap {_points(lo)} to {_points(hi)}: clearly more "
                        f"than the {_points(OVERFIT_GAP)} points a model may lose on images it never saw)")
        else:
            if train_accuracy < UNDERFIT_TRAIN_ACCURACY:
                under.append(f"even on its training images the model reaches only {train_accuracy:.1%}")
            fine.append(f"no clear sign of over-fitting: training {train_accuracy:.1%} vs test {test_accuracy:.1%}, "
                        f"{span}, not clearly more than the {_points(OVERFIT_GAP)} points a model may lose on images "
                        "it never saw")
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
    base_note: list[str] = []
    if baseline_accuracy is not None:
        judged = baseline_judgement(test_accuracy, test_ci, baseline_accuracy, baseline_name,
                                    paired=baseline_paired, baseline_ci=baseline_ci)
        out["baseline"] = judged
        if judged["judgement"] == "below":
            out["verdict"] = "below its baseline"
            out["reasons"] = [judged["message"]] + over + under
            return out
        if test_accuracy < baseline_accuracy:
            base_note = [judged["message"]]  # lower, but not clearly: said, never the verdict
    if over:
        out["verdict"], out["reasons"] = "over-fitting", over + base_note
    elif under:
        learnt = train_accuracy is None or train_accuracy >= UNDERFIT_TRAIN_ACCURACY
        out["verdict"], out["reasons"] = "still learning" if learnt else "under-fitting", under + base_note
    else:
        out["verdict"], out["reasons"] = "fine", fine + base_note
    return out


def data_warnings(counts_by_split: dict[str, dict[str, int]], per_class: dict[str, dict[str, Any]] | None = None,
                  split: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Warnings about the data behind the numbers: classes with few test images (wide
    intervals), strong imbalance among training classes, empty classes, and a split by
    capture sessions (``split``: its parameters) whose test part is far from the share asked."""
    warnings: list[dict[str, Any]] = []
    sp = split or {}
    asked, got = sp.get("test_size"), sp.get("test_share")
    if sp.get("by_capture_session") and asked and got is not None and not asked / 1.5 <= got <= asked * 1.5:
        warnings.append({"kind": "test_share", "asked": asked, "got": got,
                         "message": f"The test part holds {got:.0%} of the images, not the {asked:.0%} asked: whole "
                                    "capture sessions stay on one side, and these sessions are too few or too uneven "
                                    "in size to come closer. More sessions of about the same size let it come nearer."})
    test = counts_by_split.get("test") or {}
    if sp.get("by_capture_session") and asked:  # a class of few, large sessions: its own share, far from the one asked
        total = {c: sum((counts_by_split.get(p) or {}).get(c, 0) for p in ("train", "val", "test")) for c in test}
        tested = [c for c in test if total[c] and test[c]]
        far = [c for c in tested if not asked / 1.5 <= test[c] / total[c] <= asked * 1.5]
        if far and far == tested and warnings and warnings[-1]["kind"] == "test_share":  # as the whole: said once
            warnings[-1]["message"] += " Per class: " + ", ".join(f"'{c}' {test[c]} of {total[c]}" for c in far) + "."
        elif far:
            said = ", ".join(f"'{c}' on {test[c]} of its {total[c]}" for c in far)
            warnings.append({"kind": "class_test_share", "classes": far, "asked": asked,
                             "message": f"Tested on a share far from the {asked:.0%} asked: {said} images. Whole "
                                        "capture sessions stay on one side, so a class of few, large sessions gives "
                                        "up a large part to the test (and trains on the rest); more, smaller sessions "
                                        "of it let the split come nearer."})
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
