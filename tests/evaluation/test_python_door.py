"""The Python door (tc.evaluate, ImageClassifier.fit) keeps the rules of the command-line
door (issue 26, items 1-2): images the model trained on are never scored as unseen, and a
pixel model fitted without validation images owns its temperature and review threshold."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import trueclass as tc
from trueclass.data._sources import from_arrays
from trueclass.evaluation._calibration import apply_temperature


@pytest.fixture(scope="module")
def lesson():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.2, random_state=1)


@pytest.fixture(scope="module")
def clf(lesson):
    X_train, _, y_train, _ = lesson
    return tc.ImageClassifier("logreg", random_state=0).fit(X_train, y_train)


def test_the_training_images_are_refused_in_the_lessons_words(lesson, clf):
    X_train, _, y_train, _ = lesson
    with pytest.raises(tc.TrueclassError) as exc:
        tc.evaluate(clf, (X_train, y_train))
    assert str(exc.value) == ("All 1,437 images were used to train this model, so they cannot tell how it does on "
                              "new images; evaluate it on X_test, y_test (the images it never saw).")


def test_seen_images_are_left_out_and_said_so(lesson, clf):
    X_train, X_test, y_train, y_test = lesson
    clean = tc.evaluate(clf, (X_test, y_test))
    assert clean.n_test == 360 and clean.extra["n_left_out_as_seen"] == 0
    assert "Left out" not in str(clean)
    mixed = tc.evaluate(clf, (np.concatenate([X_train[:40], X_test]), np.concatenate([y_train[:40], y_test])))
    assert mixed.n_test == 360 and mixed.n_wrong == clean.n_wrong and mixed.accuracy == clean.accuracy
    assert mixed.extra["n_left_out_as_seen"] == 40
    assert "40 images that the model was trained or validated on" in mixed.extra["evaluated_on"]
    assert "Left out       40 of the 400 images given: the model was trained on them" in str(mixed)
    assert "on 360 test images the model never saw" in str(mixed)


def test_the_python_door_scores_as_trueclass_evaluate_does(lesson, clf, tmp_path):
    from trueclass.run.saved import evaluate_run

    X_train, X_test, y_train, y_test = lesson
    X = np.concatenate([X_train[:40], X_test])
    y = np.concatenate([y_train[:40], y_test])
    clf.save(tmp_path / "model")
    cli = evaluate_run(tmp_path / "model", from_arrays(X, y, value_max=16), out=tmp_path / "eval")
    py = tc.evaluate(clf, (X, y))
    m = cli.metrics
    assert m["n_left_out_as_seen"] == py.extra["n_left_out_as_seen"] == 40
    assert (m["n_test"], m["n_wrong"], m["accuracy"]) == (py.n_test, py.n_wrong, py.accuracy)
    assert m["flagged"]["threshold"] == py.flagged["threshold"] == clf.review_threshold_
    assert m["flagged"]["n"] == py.flagged["n"]
    assert m["flagged"]["chosen_on"].startswith("5-fold cross-validation on 1,437 training images")
    np.testing.assert_array_equal(cli.evaluation.probs, py.probs)
    # the saved folder given by its path, as the command line takes it: how to load it (regression:
    # "This model is not fitted yet: call fit(...) first")
    with pytest.raises(tc.TrueclassError, match=r"takes a model, not its folder: load it first, "
                                                r"evaluate\(tc.load_model\('.*model'\), ...\)"):
        tc.evaluate(str(tmp_path / "model"), (X, y))
    with pytest.raises(tc.TrueclassError, match=r"calibrate got no images \(None\).*val_size=0.1"):
        tc.load_model(tmp_path / "model").calibrate(tc.split(tc.load("digits"), seed=1).val)


def test_fit_owns_the_temperature_and_review_threshold_of_trueclass_train(lesson, clf, tmp_path):
    X_train, X_test, y_train, y_test = lesson
    ds = from_arrays(np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test]), value_max=16)
    ds = replace(ds, predefined_split=np.array(["train"] * len(X_train) + ["test"] * len(X_test)))
    run = tc.train(ds, model="logreg", seed=0, audit=False, out=tmp_path / "run")
    assert run.metrics["n_train"] == 1437 and run.metrics["n_test"] == 360
    assert clf.calibration_["temperature"] is not None
    assert clf.calibration_["fitted_on"] == "5-fold cross-validation on 1,437 training images"
    assert run.model.calibration_["temperature"] == clf.calibration_["temperature"]
    assert run.metrics["flagged"]["threshold"] == clf.review_threshold_ < 0.9
    ev = tc.evaluate(clf, (X_test, y_test))
    assert ev.flagged["threshold"] == clf.review_threshold_
    assert ev.flagged["n"] == run.metrics["flagged"]["n"] > 0
    assert ev.accuracy == run.metrics["accuracy"]
    np.testing.assert_allclose(ev.probs, run.evaluation.probs)


def test_predict_proba_answers_what_the_card_shows(lesson, clf):
    _, X_test, _, y_test = lesson
    raw = clf.predict_proba(X_test, raw=True)
    answered = clf.predict_proba(X_test)
    np.testing.assert_allclose(answered, apply_temperature(raw, clf.calibration_["temperature"]))
    assert not np.allclose(answered, raw)
    np.testing.assert_allclose(tc.evaluate(clf, (X_test, y_test)).probs, answered)
    np.testing.assert_array_equal(clf.predict(X_test), clf.classes_[raw.argmax(axis=1)])


def test_the_checks_refits_and_held_out_false_skip_the_cross_validation(lesson):
    X_train, _, y_train, _ = lesson
    for kwargs in ({"fingerprints": False}, {"held_out": False}):
        refit = tc.ImageClassifier("logreg", random_state=0).fit(X_train[:300], y_train[:300], **kwargs)
        assert refit.held_out_ is None and refit.calibration_["temperature"] is None
        assert refit.review_threshold_ == 0.5
    few = tc.ImageClassifier("logreg", random_state=0).fit(X_train[:12], y_train[:12])  # under 2 a class
    assert few.held_out_ is None and few.review_threshold_ == 0.5


@pytest.mark.parametrize("model", ["logreg", "knn"])
def test_both_doors_flag_the_same_images_with_the_same_seed(model, tmp_path):
    # regression: `trueclass train --seed 1` seeded the cross-validation of a model with no
    # randomness of its own (logreg, knn) with 0, ImageClassifier(random_state=1) with 1:
    # two review thresholds and two sets of flagged images for one model on one split
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=1)
    ev = tc.evaluate(tc.ImageClassifier(model, random_state=1).fit(X_train, y_train), (X_test, y_test))
    run = tc.train("digits", model=model, test_size=0.2, seed=1, stratify=False, audit=False, out=tmp_path / "r")
    assert run.metrics["flagged"]["threshold"] == ev.flagged["threshold"]
    np.testing.assert_allclose(run.evaluation.probs, ev.probs)
    flagged_cli = run.evaluation.confidence < run.metrics["flagged"]["threshold"]
    np.testing.assert_array_equal(flagged_cli, ev.confidence < ev.flagged["threshold"])


def test_a_source_given_to_tc_evaluate_is_read_as_trueclass_evaluate_reads_it(make_folder, tmp_path):
    # tc.evaluate took a Dataset only: photos of another size were a sentence to resize them
    # first, where `trueclass evaluate` resizes; a folder with train/ and test/ scores its test part
    from trueclass.run.saved import evaluate_run

    run = tc.train(make_folder({"bars": 10, "cols": 10}, size=16), model="knn", seed=0, audit=False,
                   out=tmp_path / "run")
    make_folder({"bars": 6, "cols": 6}, size=24, root=tmp_path / "other" / "test", seed=3)
    make_folder({"bars": 5, "cols": 5}, size=24, root=tmp_path / "other" / "train", seed=4)
    cli = evaluate_run(run.path / "model", tmp_path / "other", out=tmp_path / "eval")
    py = tc.evaluate(run.model, tmp_path / "other")
    assert py.n_test == cli.metrics["n_test"] == 12  # the test part only, at the model's 16x16
    assert (py.n_wrong, py.accuracy) == (cli.metrics["n_wrong"], cli.metrics["accuracy"])
    np.testing.assert_array_equal(cli.evaluation.probs, py.probs)
    with pytest.raises(tc.TrueclassError, match=r"takes a trueclass Dataset, a source \(a folder"):
        tc.evaluate(run.model, 42)


def test_evaluate_says_again_how_the_review_threshold_did_where_it_was_chosen(tmp_path):
    # regression: trueclass evaluate (and tc.evaluate of a loaded model) used the run's threshold
    # but dropped whether it had reached its target, so a "not reached" run lost its warning
    from trueclass.run.saved import evaluate_run

    run = tc.train("digits", model="knn", audit=False, out=tmp_path / "run", progress=False)
    keys = ("target_reached", "chosen_on_images", "target_min_images", "held_out_accuracy_accepted")
    want = {k: run.metrics["flagged"][k] for k in keys}
    assert want["target_reached"] is not None
    ev = evaluate_run(run.path, "digits", out=tmp_path / "ev")
    assert {k: ev.metrics["flagged"][k] for k in keys} == want
    py = tc.evaluate(tc.load_model(run.path), "digits")
    assert {k: py.flagged[k] for k in keys} == want
