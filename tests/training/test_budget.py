"""A time budget: the widest cnn and the most epochs that fit, chosen from measured speeds."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import trueclass as tc  # noqa: E402
from trueclass import TrueclassError  # noqa: E402
from trueclass.training import _budget  # noqa: E402
from trueclass.training._budget import parse_duration, plan  # noqa: E402


@pytest.fixture(scope="module")
def parts():
    return tc.split(tc.load("digits"), seed=0, val_size=0.1)


@pytest.mark.parametrize("text,seconds", [("90", 90), (90, 90), (2.5, 2.5), ("90s", 90), ("2m", 120),
                                          ("1m30s", 90), ("1.5h", 5400), (" 2 min ", 120)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["abc", "", "2x", "0", "-5", "1m30", "m", 0, -3.0, True, float("nan")])
def test_bad_durations_are_sentences(bad):
    with pytest.raises(TrueclassError, match="duration such as 90s|more than 0 seconds"):
        parse_duration(bad)


def speeds(*train: float) -> dict[int, dict[str, float]]:
    """Measured speeds for widths 32, 24 and 16 (prediction 4x training)."""
    return {w: {"train": t, "predict": 4 * t} for w, t in zip((32, 24, 16), train)}


def test_plan_takes_the_widest_net_that_affords_its_epochs():
    s = speeds(1000, 1800, 3500)  # a 50,000-image epoch: 50 s, 28 s, 14 s (+ evaluation)
    kw = {"n_train": 50_000, "n_eval": 7_000, "batch_size": 250, "recipe_epochs": 15}
    wide = plan(2000, s, **kw)
    assert (wide["width"], wide["epochs"], wide["fits"]) == (32, 15, True)  # the recipe's own, no more
    assert plan(700, s, **kw)["width"] == 32 and plan(700, s, **kw)["epochs"] == 13
    mid = plan(400, s, **kw)
    assert (mid["width"], mid["epochs"]) == (24, 13)
    assert mid["expected_seconds"] <= 400
    low = plan(100, s, **kw)
    assert (low["width"], low["epochs"], low["fits"]) == (16, 6, True)
    none = plan(10, s, **kw)
    assert (none["width"], none["epochs"], none["fits"]) == (16, 1, False)
    assert none["expected_seconds"] > 10
    assert plan(100, s, **kw, fixed_seconds=50)["epochs"] < low["epochs"]  # what is spent anyway counts


def test_plan_never_exceeds_a_short_recipe():
    s = speeds(1000, 1800, 3500)
    p = plan(10_000, s, n_train=1000, n_eval=100, batch_size=32, recipe_epochs=4)
    assert (p["width"], p["epochs"]) == (32, 4)


@pytest.fixture
def fixed_speed(monkeypatch):
    """Measured speeds set by the test, so the choice does not depend on this machine."""
    box = {"train": {32: 1e9, 24: 1e9, 16: 1e9}}
    calls = []

    def measure(step, predict, batch_size, predict_batch, repeats=3):
        step(), predict()  # the steps run, as they would
        width = len(calls) % 3
        calls.append(width)
        t = box["train"][(32, 24, 16)[width]]
        return {"train": t, "predict": 4 * t}

    monkeypatch.setattr(_budget, "measure", measure)
    return box


def test_fit_builds_the_chosen_width_and_records_it(parts, fixed_speed, tmp_path):
    # digits: 1,293 training images, batches of 32; the recipe's own 30 epochs. Only width 16
    # affords its epochs, and so many that its cap (20) decides: the choice does not
    # depend on how long the measuring took.
    fixed_speed["train"] = {32: 20.0, 24: 40.0, 16: 1e6}
    clf = tc.ImageClassifier("cnn", time_budget="30s", random_state=0).fit(parts.train, val=parts.val)
    budget = clf.estimator_.budget_
    assert (budget["width"], budget["epochs"], budget["fits"], budget["seconds"]) == (16, 20, True, 30)
    assert budget["tta"] == "flip" and clf.estimator_.params["tta"] == "flip"  # as the quick preset, its width
    assert clf.estimator_.net_.body[0].out_channels == 16
    assert (budget["batch_size"], budget["lr"]) == (clf.estimator_.config_.batch_size, clf.estimator_.config_.lr)
    record = clf.estimator_.training_record()
    assert record["budget"] == budget and record["epochs_run"] <= 20 and record["recipe"]["epochs"] == 20
    # the saved model rebuilds the chosen width
    clf.save(tmp_path / "m")
    again = tc.load_model(tmp_path / "m")
    np.testing.assert_array_equal(again.predict_proba(parts.test), clf.predict_proba(parts.test))
    # the width and epochs it chose repeat the fit exactly
    twin = tc.ImageClassifier("cnn", width=16, epochs=20, random_state=0).fit(parts.train, val=parts.val)
    np.testing.assert_array_equal(twin.predict_proba(parts.test), clf.predict_proba(parts.test))


def test_the_fit_trains_with_the_batch_the_budget_measured():
    """On a GPU the automatic batch (512) is the recipe's for its own epochs; the budget's
    epochs are not those, so the fit is given the batch and rate measured, unless set."""
    from trueclass.training._budget import budgeted_params

    budget = {"width": 24, "epochs": 7, "batch_size": 512, "lr": 0.2, "tta": True}
    p = budgeted_params({"batch_size": None, "lr": None, "epochs": None, "tta": None}, budget)
    assert (p["width"], p["epochs"], p["batch_size"], p["lr"], p["tta"]) == (24, 7, 512, 0.2, True)
    mine = budgeted_params({"batch_size": 128, "lr": 0.05, "tta": None}, budget)
    assert (mine["batch_size"], mine["lr"]) == (128, 0.05)  # given ones stay
    old = budgeted_params({"batch_size": None, "lr": None}, {"width": 16, "epochs": 5})  # an older checkpoint's
    assert old["batch_size"] is None and old["lr"] is None


def test_a_resumed_fit_keeps_the_width_its_checkpoint_was_trained_with(parts, fixed_speed, tmp_path):
    fixed_speed["train"] = {32: 20.0, 24: 40.0, 16: 1e6}
    ck = tmp_path / "ck.safetensors"
    first = tc.ImageClassifier("cnn", time_budget="30s", random_state=0)
    first.fit(parts.train, val=parts.val, checkpoint=ck)
    fixed_speed["train"] = {32: 1e9, 24: 1e9, 16: 1e9}  # a fresh plan would now pick width 32
    resumed = tc.ImageClassifier("cnn", time_budget="30s", random_state=0)
    resumed.fit(parts.train, val=parts.val, checkpoint=ck, resume=True)
    assert resumed.estimator_.budget_ == first.estimator_.budget_
    fresh = tc.ImageClassifier("cnn", time_budget="30s", random_state=0).fit(parts.train, val=parts.val)
    assert fresh.estimator_.budget_["width"] == 32
    # widths 32 and 24 predict with shifts (and mirrors, for nets trained with flips; not the digits')
    assert fresh.estimator_.budget_["tta"] is True and fresh.estimator_.params["tta"] is True
    assert fresh.estimator_.tta_mode(True) == "shift"


@pytest.mark.parametrize("params,message", [
    ({"time_budget": "2m", "epochs": 3}, "either the time budget or the epochs"),
    ({"time_budget": "soon"}, "duration such as 90s"),
    ({"time_budget": 0}, "more than 0 seconds"),
])
def test_bad_budgets_for_the_model(parts, params, message):
    with pytest.raises(TrueclassError, match=message):
        tc.ImageClassifier("cnn", **params).fit(parts.train)


def test_a_budget_is_for_the_cnn_alone(parts):
    with pytest.raises(TrueclassError, match="'time_budget' is not a parameter of model 'svm'"):
        tc.ImageClassifier("svm", time_budget="2m").fit(parts.train)


def test_the_run_gives_the_fit_what_is_left_of_the_budget():
    from trueclass.run import RunConfig
    from trueclass.run.config import AFTER_TRAINING, as_budgeted, budget_for_fit

    config = RunConfig(model="cnn", params={"time_budget": "1m", "lr": 0.05})
    fit = budget_for_fit(config, time.monotonic() - 10)
    expected = 60 - 10 - AFTER_TRAINING["share"] * 60 - AFTER_TRAINING["seconds"]
    assert fit.params["time_budget"] == pytest.approx(expected, abs=0.5)
    assert fit.params["lr"] == 0.05 and config.params["time_budget"] == "1m"
    assert budget_for_fit(RunConfig(model="cnn"), 0.0) == RunConfig(model="cnn")

    class Fitted:
        class estimator_:  # noqa: N801
            budget_ = {"width": 24, "epochs": 9}

    refit = as_budgeted(config, Fitted())
    assert refit.params == {"lr": 0.05, "width": 24, "epochs": 9}
    Fitted.estimator_.budget_ = {"width": 24, "epochs": 9, "tta": True}  # the checks' refits predict as it does
    assert as_budgeted(config, Fitted()).params == {"lr": 0.05, "width": 24, "epochs": 9, "tta": True}


def test_a_budgeted_run_records_its_choice(fixed_speed, tmp_path):
    fixed_speed["train"] = {32: 20.0, 24: 40.0, 16: 1e6}
    run = tc.train("digits", params={"time_budget": "1m"}, out=tmp_path / "r", seed=0)
    assert run.metrics["model"] == run.config["resolved"]["model_chosen"]["model"] == "cnn"  # a budget names the cnn
    assert run.config["model"] == "auto"  # as asked: the same choice is made again on resume
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["params"]["time_budget"] == "1m"
    used = cfg["resolved"]["budget_used"]
    assert used["width"] == 16 and used["seconds"] < 60  # the fit got what the run had left
    assert run.metrics["training"]["budget"] == used


def test_cli_budget_options(tmp_path):
    from click.testing import CliRunner

    from trueclass.cli import cli

    for args, message in [
        (["--time-budget", "2m", "--preset", "quick"], "leave out --preset"),
        (["--time-budget", "2m", "--model", "svm"], "does not apply to model 'svm'"),
        (["--time-budget", "later"], "duration such as 90s"),
        (["--time-budget", "2m", "--epochs", "3"], "either the time budget or the epochs"),
    ]:
        res = CliRunner().invoke(cli, ["train", "digits", *args, "--out", str(tmp_path / "r")])
        assert res.exit_code == 1, res.output
        assert message in res.output and "Traceback" not in res.output
        assert not (tmp_path / "r").exists()
