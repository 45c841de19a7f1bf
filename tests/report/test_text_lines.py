"""The report card's lines that a newcomer reads first, from metrics.json alone."""

from __future__ import annotations

import numpy as np

from trueclass.report import format_report_card


def _metrics(**extra):
    return {"accuracy": 1.0, "accuracy_ci": [0.76, 1.0], "n_test": 12, "n_wrong": 0, **extra}


def test_an_uncalibrated_model_says_why_and_an_empty_review_says_so():
    reason = ("the validation images (36) are too few to fit a temperature on: it takes at least 50 (the test "
              "images are never used for it), so the model answers its raw scores")
    card = format_report_card(_metrics(
        calibration={"ece": 0.0014, "temperature": {"value": None, "fitted_on": None, "reason": reason}},
        flagged={"threshold": 0.9913, "n": 0, "accuracy_accepted": 1.0}))
    assert f"Confidence     uncalibrated, test ECE 0.001: {reason}" in card
    assert "For review     none: every test image at or above confidence 0.99" in card
    # without a recorded reason (older runs), the old words
    card = format_report_card(_metrics(calibration={"ece": 0.02, "temperature": {}}))
    assert "Confidence     uncalibrated, test ECE 0.020: no temperature was fitted" in card and "For review" not in card


def test_the_training_line_counts_epochs_and_says_when_the_time_budget_could_not_be_kept():
    from trueclass.report._text import format_training

    training = {"epochs_run": 1, "runtime": "cpu", "images_per_second": 8971.0, "best_epoch": 1, "history": [],
                "budget": {"seconds": 1.0, "width": 16, "epochs": 1, "fits": False, "expected_seconds": 1.8}}
    line = format_training(training)
    assert line.startswith("1 epoch on cpu, 8,971 images/s; the time budget left 1 s for training: width 16, 1 epoch "
                           "(the budget is too short for even that, which takes about 1.8 s; it was trained anyway)")
    training["budget"] = {"seconds": 420.0, "width": 24, "epochs": 12, "fits": True, "expected_seconds": 400.0}
    training["epochs_run"] = 12
    line = format_training(training)
    assert line.startswith("12 epochs on cpu") and "width 24, 12 epochs; " in line and "too short" not in line


def test_a_resumed_run_says_its_seconds_are_the_resumed_parts_and_no_speed_when_no_epoch_was_left():
    from trueclass.report._text import format_train_summary

    training = {"epochs_run": 30, "runtime": "cpu, fp32", "images_per_second": 0.0, "best_epoch": 30,
                "resumed_from_epoch": 30, "history": [{"val_loss": 0.1}]}
    lines = format_train_summary({"model": "cnn", "n_train": 1437, "n_test": 360, "train_seconds": 1.6,
                                  "training": training})
    assert lines[0].startswith("Trained cnn on 1,437 images in 1.6 s after resuming from epoch 30; tested on 360")
    assert lines[1] == "30 epochs on cpu, fp32; best validation loss at epoch 30; resumed after epoch 30"


def test_an_evaluation_names_the_exported_model_and_reads_sizes_in_whole_pixels():
    from trueclass.report._text import format_evaluate_summary

    m = {"model": "onnx", "exported_from": "lite0", "n_test": 15, "evaluated_on": "every image of the source",
         "shift": {"new": {"accuracy": 1.0, "n": 15}, "own": {"accuracy": 1.0, "n": 12, "source": "photos"},
                   "difference": {"value": 0.0, "ci": [-0.204, 0.242], "clear_drop": False, "clear_gain": False},
                   "properties": [{"property": "original width in pixels", "own": [124.53, 30.0], "new": [160.0, 5.0],
                                   "shift_in_spreads": 1.18},
                                  {"property": "brightness (0-1)", "own": [0.412, 0.1], "new": [0.61, 0.1],
                                   "shift_in_spreads": 1.98}]}}
    lines = format_evaluate_summary(m)
    assert lines[0] == "Evaluated lite0 (its exported ONNX file) on 15 images: every image of the source."
    assert ("The images differ: mean original width in pixels 160 against 125 in training; mean brightness (0-1) "
            "0.61 against 0.41 in training") in lines


def test_a_threshold_near_one_is_not_rounded_up_to_one():
    from trueclass.report._text import format_confidence

    assert [format_confidence(x) for x in (0.5, 0.83, 0.9949, 0.99871, 0.99996, 1.0)] == [
        "0.50", "0.83", "0.99", "0.9987", "0.99996", "1.00"]
    # the review line too: a model's own threshold can be a validation confidence of 0.99..
    card = format_report_card(_metrics(flagged={"threshold": 0.9987, "n": 3, "accuracy_accepted": 1.0}))
    assert "For review     3 images below confidence 0.9987;" in card


def test_the_cards_sureness_below_one_never_reads_100_percent():
    # regression: the card said "the images it is less than 100% sure of" for a threshold of 0.9957
    from trueclass.report._text import format_sureness

    assert [format_sureness(x) for x in (0.5, 0.836, 0.9949, 0.9957, 0.99996, 1.0)] == [
        "50%", "84%", "99%", "99.6%", "99.996%", "100%"]


def test_the_studio_says_the_review_in_plain_words_with_its_intervals():
    from trueclass.report import format_review_plain

    flagged = {"threshold": 0.847, "n": 33, "accuracy_flagged": 0.848, "accuracy_flagged_ci": [0.691, 0.933],
               "accuracy_accepted": 0.988, "accuracy_accepted_ci": [0.969, 0.995], "chosen_on": "validation"}
    assert format_review_plain(flagged, 360) == (
        "33 of the 360 test images were read with confidence below 84.7%: cases like these go to a person. The model "
        "was right on 85% (95% interval 69% to 93%) of them, and right on 99% (95% interval 97% to 100%) of the others.")
    one = format_review_plain({**flagged, "n": 1, "accuracy_flagged": 0.0, "chosen_on": "default (no validation images)"}, 12)
    assert one.startswith("1 of the 12 test images was read") and "cases like this go" in one
    assert "The model was wrong on that one, and right on 99%" in one  # not "0% (95% interval 0% to 79%)" of one image
    assert "was right on 2 of those 3, and" in format_review_plain({**flagged, "n": 3, "accuracy_flagged": 2 / 3}, 60)
    assert one.endswith("84.7% is a default: there were too few images to choose the threshold on.")
    assert format_review_plain({"threshold": 0.99, "n": 0}, 12) == (
        "None: the model was at least 99.0% sure of every test image.")
    # rounded up: no image below it is captioned with as much (the page floors its captions to a tenth)
    assert "below 99.5%" in format_review_plain({**flagged, "threshold": 0.99421}, 60)
    assert "at least 99.4% sure" in format_review_plain({"threshold": 0.99421, "n": 0}, 60)


def test_the_validation_images_are_said_to_be_for_what_they_were_used():
    # regression: a probe's were "kept aside to choose when to stop", though it has no epochs
    from trueclass.report._text import _val_uses

    assert _val_uses({"training": {"epochs_run": 15}}) == "when to stop, the temperature and the review threshold"
    assert _val_uses({"training": None}) == "the temperature and the review threshold"
    assert _val_uses({"model_chosen": {"validation": {"lite0": 1.0, "timm:tf_efficientnet_lite0": 1.0}}}) == (
        "the temperature, the review threshold and the choice between the probe and fine-tuning")
    assert _val_uses({"multilabel": True, "training": {"epochs_run": 5}}) == "when to stop and the threshold of each label"


def test_the_images_of_no_class_line_does_not_name_one_threshold_twice():
    # regression (knn, whose votes tie): "answered with confidence >= 0.77: 67%; a threshold of
    # 0.77 would send 95% of them to a human", the two a float step apart
    from trueclass.report._stress_text import format_stress

    t = 0.7723476757022946
    data = {"n_images": 60, "evaluated_on": "the images given", "clean_accuracy": 0.9, "accuracy": {},
            "breaks_first": {}, "label_changing": [], "shortcuts": None,
            "ood": {"threshold": t, "confidently_answered": 0.67, "threshold_for_95_percent": float(np.nextafter(t, 1)),
                    "real_test_images_flagged_at_that_threshold": 0.4}}
    line = format_stress(data).splitlines()[-1]
    assert "confidence >= 0.77: 67%; a threshold of just above 0.77 would send 95%" in line
    data["ood"]["threshold_for_95_percent"] = 0.91
    assert "a threshold of 0.91 would send" in format_stress(data)


def test_a_temperature_that_did_not_help_on_the_test_images_is_said_so():
    # regression: a knn's "calibrated (temperature 3.37): test ECE 0.013 raw, 0.026 as answered"
    from trueclass.report._text import format_report_card

    m = _metrics(calibration={"ece": 0.026, "temperature": {"value": 3.37, "ece_before": 0.013}})
    assert ("calibrated (temperature 3.37): test ECE 0.013 raw, 0.026 as answered (the temperature did not help on "
            "these test images)") in format_report_card(m)
    m["calibration"]["ece"] = 0.010
    assert "did not help" not in format_report_card(m)


def test_one_of_a_thing_is_said_in_the_singular():
    # regression: "LEAKS: 1 test images have a copy", "Outliers 1 images", "its 1 most confident mistakes"
    from trueclass.report._audit_text import format_audit

    from trueclass.report._text import format_train_summary, format_why

    m = _metrics(model="knn", n_train=40, train_seconds=0.1, leakage={"n_leaked_test_images": 1, "with_leaks": {"accuracy": 0.9}},
                 explanations={"images": ["a"], "method": "occlusion"})
    assert "LEAKS: 1 test image has a copy among the training images" in "\n".join(format_train_summary(m))
    assert "Explained: where the model looked on its one mistake (occlusion)" in "\n".join(format_why(m))
    text = format_audit({"n_images": 10, "n_outliers": 1, "outliers": [{"id": "a", "reasons": ["very bright"]}],
                         "n_leaks": 1, "n_leaked_test_images": 1, "leaks": [], "n_duplicate_groups": 1,
                         "n_exact_pairs": 1, "n_near_pairs": 0, "n_conflicts": 0,
                         "imbalance": {"largest": "a", "smallest": "a", "ratio": 1.0}, "n_label_issues": 0,
                         "label_issues": [], "label_issues_skipped": "too few images"})
    assert "Outliers       1 image: very bright 1" in text and "1 test image has a copy" in text


def test_a_target_missed_on_enough_images_says_how_close_it_came():
    flagged = {"threshold": 0.7, "n": 30, "accuracy_accepted": 0.95, "target_reached": False, "target_accuracy": 0.99,
               "chosen_on_images": "validation", "target_min_images": 100, "held_out_images": 150,
               "held_out_accuracy_accepted": 0.95}
    card = format_report_card(_metrics(flagged=flagged))
    assert ("the 99% review target was not reached at any confidence on validation (at best 95.0%, keeping at least "
            "half of them): the threshold only sets") in card
