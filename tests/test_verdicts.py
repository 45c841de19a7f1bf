"""Verdicts as strong as their evidence (issue 26, items 3 and 4): the lesson's own model
is not called below its baseline or over-fitting on noise; a comparison's interval has the
sign of its difference and is in points; the review line says when its target was out of
reach; a network trained with no validation images says what that costs. Through the
pure functions, the Python door and the command line."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

import trueclass as tc
from trueclass.cli import cli
from trueclass.evaluation._diagnosis import training_verdict
from trueclass.report._text import format_report_card, format_train_summary


def right_wrong(n: int, wrong_a: list[int], wrong_b: list[int]) -> tuple[np.ndarray, np.ndarray]:
    ra, rb = np.ones(n, bool), np.ones(n, bool)
    ra[wrong_a], rb[wrong_b] = False, False
    return ra, rb


# -- item 3: the training verdict -----------------------------------------------------------

def test_three_images_behind_the_baseline_is_no_clear_difference():
    from trueclass.evaluation._compare import paired_test

    # the numbers: 97.2% (95.0-98.5) against the baseline's 98.1% (96.0-99.1), 360 test images,
    # the baseline right on 6 the model misreads, the model on 3 the baseline misreads
    base, model = right_wrong(360, list(range(7)), list(range(4)) + list(range(7, 13)))
    assert (round(base.mean(), 3), round(model.mean(), 3)) == (0.981, 0.972)
    paired = paired_test(base, model)
    assert paired["judgement"] == "no clear difference" and paired["mcnemar_midp"] > 0.05
    v = training_verdict(model.mean(), (0.950, 0.985), 1.0, train_n=1437, baseline_accuracy=base.mean(),
                         baseline_paired=paired)
    assert v["verdict"] == "fine", v
    assert v["baseline"]["judgement"] == "no clear difference"
    assert any("no clear difference from the quick baseline" in r and "McNemar mid-p = 0.34" in r
               for r in v["reasons"])
    # without per-image answers the two intervals overlap: nothing is claimed either
    v = training_verdict(0.972, (0.950, 0.985), 1.0, baseline_accuracy=0.981, baseline_ci=(0.960, 0.991))
    assert v["verdict"] != "below its baseline" and v["baseline"]["test"] == "Wilson intervals (not paired)"


def test_a_test_and_an_interval_that_disagree_at_the_edge_are_said_to(tmp_path):
    # regression: "no clear difference ... 95% interval -36.0 to -2.0; it is not called below its
    # baseline": the interval left out zero, the sentence did not say why that was overruled
    from trueclass.evaluation._compare import paired_test

    n = 50  # both right on 17; the baseline alone on 15, the model alone on 6: 64% against 46%
    base, model = np.zeros(n, bool), np.zeros(n, bool)
    base[:17] = model[:17] = True
    base[17:32] = True
    model[32:38] = True
    paired = paired_test(base, model)
    assert paired["judgement"] == "no clear difference" and 0.05 < paired["mcnemar_midp"] < 0.06
    assert paired["difference_ci"][1] < 0
    v = training_verdict(model.mean(), (0.33, 0.60), 1.0, train_n=200, baseline_accuracy=base.mean(),
                         baseline_paired=paired)
    assert v["baseline"]["judgement"] == "no clear difference"
    reason = next(r for r in v["reasons"] if "quick baseline" in r)
    assert ("95% interval -36.0 to -2.0; the interval leaves out zero while the test does not reach 0.05: a "
            "borderline case, not called)") in reason, reason
    assert "it is not called below its baseline" not in reason
    # the other way round: the test calls it, the interval reaches zero
    from trueclass.evaluation._diagnosis import baseline_judgement

    base, model = np.zeros(100, bool), np.zeros(100, bool)
    base[:45] = model[:45] = True
    base[45:59] = True  # the baseline alone on 14, the model alone on 5
    model[59:64] = True
    paired = paired_test(base, model)
    assert paired["mcnemar_midp"] < 0.05 and paired["difference_ci"][1] == 0.0
    j = baseline_judgement(model.mean(), (0.4, 0.6), base.mean(), "the quick baseline", paired=paired)
    assert j["judgement"] == "below" and j["message"].endswith("; the interval still holds zero: a borderline call)")


def test_a_model_clearly_below_its_baseline_is_called_so():
    from trueclass.evaluation._compare import paired_test

    base, model = right_wrong(360, [0], list(range(1, 15)))  # 14 images only the baseline reads right
    v = training_verdict(model.mean(), (0.93, 0.98), 0.99, baseline_accuracy=base.mean(),
                         baseline_paired=paired_test(base, model))
    assert v["verdict"] == "below its baseline" and "more than chance explains" in v["reasons"][0]


def test_a_gap_within_its_noise_is_no_clear_sign_of_over_fitting():
    # 3.1 points against the old fixed 3.0 limit on 360 test images: within noise
    test_acc = 1.0 - 0.031
    ci = (0.946, 0.983)
    v = training_verdict(test_acc, ci, 1.0, train_n=1437)
    assert v["verdict"] == "fine" and v["reasons"][0].startswith("no clear sign of over-fitting")
    lo, hi = v["gap_ci"]
    assert lo < 0.03 < hi and lo < v["gap"] < hi
    # a gap clearly beyond it still is over-fitting, with its interval
    v = training_verdict(0.80, (0.758, 0.836), 1.0, train_n=2000)
    assert v["verdict"] == "over-fitting" and "95% interval of the gap" in v["reasons"][0]


def test_the_gap_interval_is_newcombes():
    from trueclass.evaluation._diagnosis import gap_interval
    from trueclass.evaluation._metrics import wilson_interval

    lo, hi = gap_interval(0.9, 1000, 0.8, wilson_interval(80, 100))
    l1, u1 = wilson_interval(900, 1000)
    l2, u2 = wilson_interval(80, 100)
    assert lo == pytest.approx(0.1 - np.hypot(0.9 - l1, u2 - 0.8))
    assert hi == pytest.approx(0.1 + np.hypot(u1 - 0.9, 0.8 - l2))


def test_the_lesson_is_not_called_below_its_baseline_from_python(tmp_path):
    # the lesson's split at seed 1: 96.1% against the quick baseline's 97.2%, 5 images against 1
    run = tc.train("digits", model="logreg", seed=1, test_size=0.2, out=tmp_path / "run", audit=False)
    m = run.metrics
    assert m["accuracy"] < m["baselines"]["logistic_regression"]["accuracy"]
    assert m["diagnosis"]["verdict"] != "below its baseline", m["diagnosis"]
    paired = m["baselines"]["logistic_regression"]["paired"]
    assert paired["judgement"] == "no clear difference" and paired["mcnemar_midp"] >= 0.05
    assert m["diagnosis"]["verdict"] == "fine" and m["diagnosis"]["baseline"]["judgement"] == "no clear difference"
    text = "\n".join(format_train_summary(m))
    assert "BELOW" not in text and "no clear difference from this model" in text
    assert "no clear sign of over-fitting" in text
    html = (run.path / "card.html").read_text()
    assert 'id="below-baseline"' not in html and 'id="baseline-no-clear-difference"' in html


def test_the_lesson_is_not_called_over_fitting_from_the_cli(tmp_path):
    # seed 42 was "over-fitting" (4.2 points against a fixed 3.0 limit)
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train", "digits", "--model", "logreg", "--seed", "42", "--no-audit",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["diagnosis"]["verdict"] == "fine" and m["diagnosis"]["gap_ci"][0] <= 0.03
    assert "Training verdict: fine (no clear sign of over-fitting" in r.output
    assert "over-fitting (" not in r.output and "BELOW" not in r.output


# -- item 4: compare, the review line, a network with no validation images ------------------

def answers(name, ids, true, pred):
    return {"name": name, "ids": ids, "true": true, "pred": pred}


def test_the_better_models_interval_has_the_sign_of_its_difference_in_points():
    from trueclass.evaluation._compare import compare_answers

    ids, true = [str(k) for k in range(200)], ["a"] * 200
    strong, weak = ["a"] * 195 + ["b"] * 5, ["a"] * 150 + ["b"] * 50
    r = compare_answers(answers("strong", ids, true, strong), answers("weak", ids, true, weak))  # a is better
    assert r["difference"] < 0 and r["difference_ci"][1] < 0  # the numbers stay b minus a
    head = "strong is more accurate than weak by 22.5 points (95% interval of the difference +"
    assert r["verdict"].startswith(head), r["verdict"]
    lo, hi = (float(x) for x in r["verdict"].split("difference ")[1].split(" points")[0].split(" to "))
    assert 0 < lo <= 22.5 <= hi
    assert "%" not in r["verdict"].split(";")[0].replace("95% interval", "")


def test_compare_from_python_and_the_cli_says_points(tmp_path):
    from trueclass.evaluation import evaluate_predictions

    y = np.array([0] * 100 + [1] * 100)
    good = np.eye(2)[y] * 0.8 + 0.1
    bad = good.copy()
    bad[:30] = bad[:30, ::-1]  # 30 images misread
    c = tc.compare(evaluate_predictions(y, good, ["a", "b"]), evaluate_predictions(y, bad, ["a", "b"]),
                   names=["good", "bad"])
    assert c.pairs[0]["verdict"].startswith("good is more accurate than bad by 15.0 points (95% interval of "
                                            "the difference +")
    for name, probs in (("good", good), ("bad", bad)):
        (tmp_path / name).mkdir()
        with open(tmp_path / name / "predictions.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "true", "pred"])
            w.writerows([str(i), "ab"[t], "ab"[p]] for i, (t, p) in enumerate(zip(y, probs.argmax(1))))
    r = CliRunner().invoke(cli, ["compare", str(tmp_path / "good"), str(tmp_path / "bad"),
                                 "--out", str(tmp_path / "cmp")])
    assert r.exit_code == 0, r.output
    assert "good is more accurate than bad by 15.0 points (95% interval of the difference +" in r.output
    assert "-" not in r.output.split("interval of the difference ")[1].split(")")[0]


def test_the_review_line_says_when_its_target_was_out_of_reach():
    from trueclass.evaluation import evaluate_predictions

    # validation: the surest image is wrong, so no threshold reaches 99% on it
    v_conf = np.linspace(0.99, 0.90, 10)
    v_true = np.array([1] + [0] * 9)
    v_probs = np.c_[v_conf, 1 - v_conf]
    # test: the images above the threshold are read worse than those below it
    t_conf = np.array([0.95] * 5 + [0.6] * 5)
    t_true = np.array([1, 1, 0, 0, 0] + [0] * 5)
    t_probs = np.c_[t_conf, 1 - t_conf]
    ev = evaluate_predictions(t_true, t_probs, ["a", "b"], val_true=v_true, val_probs=v_probs,
                              calibration={"temperature": None, "reason": "test"})
    f = ev.flagged
    assert f["target_reached"] is False and f["held_out_accuracy_accepted"] == pytest.approx(0.9)
    assert f["accuracy_accepted"] < ev.accuracy  # the case the line must not hide
    text = format_report_card(ev.to_dict())
    assert "accuracy on the rest 60.0% (95% CI 23.1% to 88.2%), against 80.0% on all test images" in text
    assert "the 99% review target cannot be shown on validation (10 images; it takes 100)" in text
    assert "the review does not help" in text
    assert "not reached" in ev.to_dict()["flagged"]["chosen_on"]


@pytest.fixture(scope="module")
def small_digits(tmp_path_factory):
    ds = tc.load("digits")
    idx = np.sort(np.random.default_rng(0).choice(len(ds), 200, replace=False))
    path = tmp_path_factory.mktemp("small") / "digits200.npz"
    np.savez(path, X=ds.images[idx, :, :, 0], y=ds.labels[idx], value_max=16)
    return path


NO_VAL = "no validation images, so no early stopping: the final epoch's weights were kept"


def test_a_cnn_with_no_validation_images_says_so_from_python(small_digits, tmp_path):
    run = tc.train(str(small_digits), model="cnn", val_size=0, params={"epochs": 2}, out=tmp_path / "run",
                   audit=False)
    m = run.metrics
    assert m["n_val"] == 0 and m["calibration"]["temperature"]["value"] is None
    text = "\n".join(format_train_summary(m))
    assert "best validation loss" not in text and NO_VAL in text, text
    assert "its confidence is uncalibrated (raw scores) and the review threshold is the default 0.50" in text
    card = run.summary()
    if m["flagged"]["n"]:
        assert "the default threshold 0.50: there were no validation images to choose one on" in card


def test_a_cnn_with_no_validation_images_says_so_from_the_cli(small_digits, tmp_path):
    r = CliRunner().invoke(cli, ["train", str(small_digits), "--model", "cnn", "--val-size", "0", "--epochs", "2",
                                 "--no-audit", "--out", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert "best validation loss" not in r.output and NO_VAL in r.output
    assert "uncalibrated (raw scores) and the review threshold is the default 0.50" in r.output


def test_a_networks_training_accuracy_is_the_tested_models():
    # the history's accuracy of an epoch was taken before the best weights came back and
    # their BatchNorm statistics were recomputed: after a short fit the card said "even on
    # its training images the model reaches only 20.0%" of a net that scored 50% on test
    from trueclass.run.steps import diagnose

    parts = tc.split(tc.load("digits"), val_size=0.1, seed=2)
    clf = tc.ImageClassifier("cnn", epochs=1, width=8, random_state=0).fit(parts.train, val=parts.val)
    ev = tc.evaluate(clf, parts.test)
    history = [{"epoch": 1, "train_loss": 2.0, "train_accuracy": 0.2, "val_loss": 1.0, "val_accuracy": 0.5}]
    d = diagnose(clf, ev, parts.train, {"history": history, "best_epoch": 1}, seed=0)
    assert len(parts.train) <= 2000 and d["train_accuracy_on"] == "all training images (the model as tested)"
    assert d["train_accuracy"] == pytest.approx(clf.score(parts.train), abs=1e-12)
    assert d["train_accuracy"] != pytest.approx(0.2)  # not the history's figure
    assert d["gap"] == pytest.approx(d["train_accuracy"] - ev.accuracy)
