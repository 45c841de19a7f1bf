"""The report card's lines that a newcomer reads first, from metrics.json alone."""

from __future__ import annotations

from trueclass.report import format_report_card


def _metrics(**extra):
    return {"accuracy": 1.0, "accuracy_ci": [0.76, 1.0], "n_test": 12, "n_wrong": 0, **extra}


def test_an_uncalibrated_model_says_why_and_an_empty_review_says_so():
    reason = ("the validation images (36) are too few to fit a temperature on: it takes at least 50 (the test "
              "images are never used for it), so the model answers its raw scores")
    card = format_report_card(_metrics(
        calibration={"ece": 0.0014, "temperature": {"value": None, "fitted_on": None, "reason": reason}},
        flagged={"threshold": 0.9913, "n": 0, "accuracy_accepted": 1.0}))
    assert f"Confidence     uncalibrated ({reason}); test ECE 0.001" in card
    assert "For review     none: every test image at or above confidence 0.99" in card
    # without a recorded reason (older runs), the old words
    card = format_report_card(_metrics(calibration={"ece": 0.02, "temperature": {}}))
    assert "Confidence     uncalibrated (no temperature fitted); test ECE 0.020" in card and "For review" not in card
