"""Every metric against scikit-learn's (or scipy's) own function."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn import metrics as skm

from trueclass.evaluation import (
    choose_threshold,
    evaluate_predictions,
    flag_summary,
    wilson_interval,
)


@pytest.fixture(scope="module")
def preds():
    rng = np.random.default_rng(0)
    n, k = 400, 5
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += rng.normal(1.8, 1.0, n)  # mostly right, sometimes not
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, p, [f"c{i}" for i in range(k)]


def test_scalar_metrics_match_scikit_learn(preds):
    y, p, classes = preds
    ev = evaluate_predictions(y, p, classes)
    pred = p.argmax(1)
    assert ev.accuracy == pytest.approx(skm.accuracy_score(y, pred))
    assert ev.n_wrong == int((pred != y).sum()) and ev.n_test == len(y)
    assert ev.balanced_accuracy == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert ev.macro_f1 == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert ev.weighted_f1 == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    for k in (2, 3):
        assert ev.top_k_accuracy[str(k)] == pytest.approx(skm.top_k_accuracy_score(y, p, k=k))
    assert "5" not in ev.top_k_accuracy  # k must be below the number of classes


def test_per_class_and_confusion_match(preds):
    y, p, classes = preds
    ev = evaluate_predictions(y, p, classes)
    pred = p.argmax(1)
    P, R, F, S = skm.precision_recall_fscore_support(y, pred, zero_division=0)
    for i, c in enumerate(classes):
        assert ev.per_class[c]["precision"] == pytest.approx(P[i])
        assert ev.per_class[c]["recall"] == pytest.approx(R[i])
        assert ev.per_class[c]["f1"] == pytest.approx(F[i])
        assert ev.per_class[c]["support"] == S[i]
    cm = skm.confusion_matrix(y, pred)
    np.testing.assert_array_equal(ev.confusion_matrix, cm)
    np.testing.assert_allclose(ev.confusion_normalized, skm.confusion_matrix(y, pred, normalize="true"))
    assert ev.weakest_class == classes[int(np.argmin(F))]
    off = cm.copy()
    np.fill_diagonal(off, 0)
    top = ev.most_confused[0]
    assert top["count"] == off.max()
    assert off[classes.index(top["true"]), classes.index(top["pred"])] == off.max()
    assert [m["count"] for m in ev.most_confused] == sorted((m["count"] for m in ev.most_confused), reverse=True)


def test_wilson_interval_matches_scipy():
    for k, n in [(0, 10), (10, 10), (350, 360), (55, 100), (1, 3)]:
        ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        lo, hi = wilson_interval(k, n)
        assert lo == pytest.approx(ref.low, abs=1e-9) and hi == pytest.approx(ref.high, abs=1e-9)


def test_misread_ranked_by_confidence(preds):
    y, p, classes = preds
    ev = evaluate_predictions(y, p, classes, ids=[f"img{i}" for i in range(len(y))])
    wrong = np.flatnonzero(p.argmax(1) != y)
    assert len(ev.misread) == len(wrong)
    confs = [m["confidence"] for m in ev.misread]
    assert confs == sorted(confs, reverse=True)
    first = ev.misread[0]
    i = first["index"]
    assert first["id"] == f"img{i}" and first["p_true"] == pytest.approx(p[i, y[i]])
    assert first["pred"] == classes[p[i].argmax()] and first["true"] == classes[y[i]]


def test_baselines_use_training_majority():
    y = np.array([0, 0, 1, 1, 1, 2])
    p = np.eye(3)[y]
    ev = evaluate_predictions(y, p, ["a", "b", "c"], train_labels=np.array([2, 2, 2, 0]))
    assert ev.baselines["chance"] == pytest.approx(1 / 3)
    assert ev.baselines["majority"] == pytest.approx(1 / 6)  # always 'c', the training majority
    assert ev.to_dict()["baselines"]["majority_class"] == "c"


def test_flags_and_threshold_choice(preds):
    y, p, classes = preds
    conf, correct = p.max(1), p.argmax(1) == y
    f = flag_summary(y, p, 0.6)
    assert f["n"] == int((conf < 0.6).sum())
    assert f["accuracy_accepted"] == pytest.approx(correct[conf >= 0.6].mean())
    assert f["accuracy_flagged"] == pytest.approx(correct[conf < 0.6].mean())
    t = choose_threshold(y, p, target_accuracy=0.9)
    assert correct[conf >= t].mean() >= 0.9
    # the lowest such threshold: one step lower misses the target
    lower = conf[conf < t]
    if len(lower):
        assert correct[conf >= lower.max()].mean() < 0.9
    # every validation image right: accept down to the least sure one seen, no lower
    right = 0.3 + 0.6 * np.eye(5)[y] + 0.1 * np.random.default_rng(0).random((len(y), 5))
    right /= right.sum(1, keepdims=True)
    assert (right.argmax(1) == y).all()
    assert choose_threshold(y, right) == right.max(1).min()


def test_threshold_comes_from_validation_not_test(preds):
    y, p, classes = preds
    from trueclass.evaluation._calibration import apply_temperature, fit_temperature

    ev = evaluate_predictions(y, p, classes, val_true=y[:100], val_probs=p[:100])
    # chosen on the validation probabilities as the model answers them: calibrated by the
    # temperature fitted on those same validation images
    t = fit_temperature(y[:100], p[:100])
    assert ev.calibration["temperature"]["value"] == t
    assert ev.flagged["threshold"] == choose_threshold(y[:100], apply_temperature(p[:100], t))
    shuffled = evaluate_predictions(np.random.default_rng(1).permutation(y), p, classes, val_true=y[:100],
                                    val_probs=p[:100])
    assert shuffled.flagged["threshold"] == ev.flagged["threshold"]  # the test labels play no part
    assert "validation" in ev.threshold_source
    assert evaluate_predictions(y, p, classes).flagged["threshold"] == 0.5


def test_metrics_json_keys(preds):
    y, p, classes = preds
    d = evaluate_predictions(y, p, classes).to_dict()
    for key in ["accuracy", "accuracy_ci", "n_test", "n_wrong", "balanced_accuracy", "top_k_accuracy",
                "macro_f1", "weighted_f1", "per_class", "confusion_matrix", "classes", "most_confused",
                "baselines", "flagged"]:
        assert key in d
    assert set(d["flagged"]) >= {"threshold", "n", "accuracy_accepted", "accuracy_flagged"}
    assert set(d["baselines"]) >= {"chance", "majority"}
    import json

    json.dumps(d, allow_nan=False)


def test_shape_mismatch_is_a_sentence():
    from trueclass import TrueclassError

    with pytest.raises(TrueclassError, match="probs must have shape"):
        evaluate_predictions([0, 1], np.ones((2, 3)) / 3, ["a", "b"])


def test_a_threshold_reaches_the_target_only_on_enough_images():
    from trueclass.evaluation._metrics import min_accepted

    assert (min_accepted(0.99), min_accepted(0.95), min_accepted(0.9), min_accepted(1.0)) == (100, 20, 10, 1)
    # regression: the surest of 24 held-out images right "reached" 99%, and the review sent
    # every other image to a person
    conf = np.linspace(0.99, 0.5, 24)
    y = np.array([0] + [0, 1] * 11 + [1])
    p = np.c_[conf, 1 - conf]
    ev = evaluate_predictions(y, p, ["a", "b"], val_true=y, val_probs=p,
                              calibration={"temperature": None, "reason": "test"})
    f = ev.flagged
    assert f["target_reached"] is False and f["target_min_images"] == 100 and f["held_out_images"] == 24
    assert f["held_out_fraction_flagged"] <= 0.5  # the fallback keeps at least half
    from trueclass.report import format_review_plain
    from trueclass.report._text import format_report_card

    assert "not reached at any confidence on 100 images or more" in ev.to_dict()["flagged"]["chosen_on"]
    assert ("the 99% review target cannot be shown on validation (24 images; it takes 100): the threshold only sets"
            in format_report_card(ev.to_dict()))
    assert "There were too few images (24) to aim for an accuracy on (it takes 100)" in format_review_plain(f, 24)
    # held-out images all right but too few: the cut that keeps the most of the best (regression:
    # the highest, which set half of the test images aside)
    right = np.c_[conf, 1 - conf][:, ::1]
    y_right = np.zeros(24, dtype=int)
    assert choose_threshold(y_right, right) == conf.min()
