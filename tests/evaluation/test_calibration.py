"""Calibration: reliability bins, ECE, temperature scaling fitted on validation only, coverage."""

import numpy as np
import pytest

from trueclass.evaluation import evaluate_predictions
from trueclass.evaluation._calibration import (apply_temperature, coverage_curve, expected_calibration_error,
                                               fit_temperature, reliability)


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def sampled(n, seed, sharpen=1.0):
    """Labels drawn from softmax(z); the model reports softmax(sharpen * z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, size=(n, 5))
    p_true = softmax(z)
    y = np.array([rng.choice(5, p=p) for p in p_true])
    return y, softmax(sharpen * z)


def test_calibrated_model_has_small_ece_and_overconfident_one_large():
    y, p = sampled(20000, 0)
    assert expected_calibration_error(y, p) < 0.02
    y, p = sampled(20000, 0, sharpen=3.0)
    assert expected_calibration_error(y, p) > 0.08


def test_reliability_bins_count_every_image_once():
    y, p = sampled(1000, 1)
    bins = reliability(y, p, n_bins=10)
    assert sum(b["n"] for b in bins) == 1000
    assert len(bins) == 10 and bins[0]["lo"] == 0.0 and bins[-1]["hi"] == 1.0
    # a confidence of exactly 1 lands in the last bin
    one = np.eye(5)[[0, 1]]
    assert reliability(np.array([0, 0]), one, 10)[-1]["n"] == 2


def test_temperature_recovers_the_sharpening_and_keeps_predictions():
    y, p = sampled(5000, 2, sharpen=2.0)
    t = fit_temperature(y, p)
    assert t == pytest.approx(2.0, rel=0.1)
    assert (apply_temperature(p, t).argmax(1) == p.argmax(1)).all()


def test_temperature_is_fitted_on_validation_never_on_test():
    y_val, p_val = sampled(2000, 3, sharpen=2.0)
    y_test, p_test = sampled(1000, 4, sharpen=2.0)
    ev = evaluate_predictions(y_test, p_test, list("abcde"), val_true=y_val, val_probs=p_val)
    shuffled = evaluate_predictions(np.random.default_rng(0).permutation(y_test), p_test, list("abcde"),
                                    val_true=y_val, val_probs=p_val)
    t = ev.calibration["temperature"]
    # the fitted value depends on the validation images only
    assert t["value"] == shuffled.calibration["temperature"]["value"] == pytest.approx(fit_temperature(y_val, p_val))
    assert t["ece_after"] < t["ece_before"] and t["nll_after"] < t["nll_before"]
    assert "validation" in t["fitted_on"]


def test_without_validation_no_temperature_and_a_reason():
    y, p = sampled(300, 5)
    cal = evaluate_predictions(y, p, list("abcde")).calibration
    assert cal["temperature"]["value"] is None and "no validation" in cal["temperature"]["reason"]
    assert "calibration" in evaluate_predictions(y, p, list("abcde")).to_dict()


def test_coverage_curve_accuracy_rises_as_unsure_images_go_to_a_human():
    y, p = sampled(4000, 6)
    cov = coverage_curve(y, p)
    assert cov["coverage"][0] == 1.0 and cov["coverage"][-1] == pytest.approx(0.05)
    assert cov["accuracy"][0] == pytest.approx(np.mean(p.argmax(1) == y))
    assert cov["accuracy"][-1] > cov["accuracy"][0] + 0.1
    assert all(a >= b for a, b in zip(cov["threshold"][1:], cov["threshold"]))  # surer as coverage drops
