"""Training verdicts, data warnings and the stability summary, from numbers."""

import pytest

from trueclass.evaluation._diagnosis import data_warnings, stability_summary, training_verdict


def hist(val_losses, val_accs=None):
    val_accs = val_accs or [0.9] * len(val_losses)
    return [{"epoch": i + 1, "train_loss": 0.5, "train_accuracy": 0.95, "val_loss": v, "val_accuracy": a}
            for i, (v, a) in enumerate(zip(val_losses, val_accs))]


def test_big_train_test_gap_is_over_fitting_with_the_numbers():
    v = training_verdict(0.80, (0.78, 0.82), 1.0)
    assert v["verdict"] == "over-fitting" and v["gap"] == pytest.approx(0.2)
    assert "20.0 points" in v["reasons"][0]


def test_gap_within_the_interval_is_fine():
    # a wide interval (few test images) forgives a 5-point gap
    v = training_verdict(0.90, (0.82, 0.96), 0.95)
    assert v["verdict"] == "fine" and v["gap_ci"][0] < 0.03 < v["gap_ci"][1]
    assert v["reasons"][0].startswith("no clear sign of over-fitting")


def test_low_training_accuracy_is_under_fitting():
    assert training_verdict(0.70, (0.68, 0.72), 0.71)["verdict"] == "under-fitting"


def test_rising_validation_loss_is_over_fitting_and_still_climbing_accuracy_under():
    v = training_verdict(0.9, (0.89, 0.91), 0.91, hist([0.5, 0.3, 0.35, 0.4, 0.45]))
    assert v["verdict"] == "over-fitting" and "rose from 0.300" in v["reasons"][0]
    v = training_verdict(0.9, (0.89, 0.91), 0.91, hist([0.5, 0.4, 0.35, 0.3, 0.28], [0.8, 0.84, 0.86, 0.88, 0.9]))
    assert v["verdict"] == "still learning" and "still rising" in v["reasons"][0]
    # the same curve with the training images themselves not learnt is under-fitting
    v = training_verdict(0.8, (0.78, 0.82), 0.81, hist([0.5, 0.4, 0.35, 0.3, 0.28], [0.7, 0.74, 0.76, 0.78, 0.8]))
    assert v["verdict"] == "under-fitting"
    # the same curve, stopped early by the trainer, is not called unfinished
    v = training_verdict(0.9, (0.89, 0.91), 0.91, hist([0.5, 0.4, 0.35, 0.3, 0.28], [0.8, 0.84, 0.86, 0.88, 0.9]),
                         stopped_early=True)
    assert v["verdict"] == "fine"


def test_data_warnings_name_small_and_rare_classes():
    w = data_warnings({"train": {"a": 400, "b": 40, "c": 380}, "test": {"a": 100, "b": 10, "c": 0}})
    kinds = {(x["kind"], x.get("class") or x.get("smallest")) for x in w}
    assert ("few_test_images", "b") in kinds and ("no_test_images", "c") in kinds and ("imbalance", "b") in kinds
    assert not data_warnings({"train": {"a": 100, "b": 90}, "test": {"a": 50, "b": 45}})


def test_stability_summary():
    s = stability_summary([0.9, 0.92, 0.94], [0, 1, 2], [100, 100, 100])
    assert s["mean"] == pytest.approx(0.92) and s["sd"] == pytest.approx(0.02)
    assert (s["min"], s["max"], s["repeats"]) == (0.9, 0.94, 3)
