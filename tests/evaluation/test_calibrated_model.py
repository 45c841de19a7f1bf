"""A model answers calibrated probabilities: the temperature is fitted on validation
images, saved with the model, applied by predict_proba / predict / trueclass predict and
the review threshold, and reported before and after on the test images."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import trueclass as tc
from trueclass.cli import cli
from trueclass.evaluation._calibration import apply_temperature, expected_calibration_error, fit_temperature
from trueclass.models import load_model


@pytest.fixture(scope="module")
def lesson():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.2, random_state=1)


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    # the default cnn is under-confident on the digits (label smoothing): a temperature below 1
    return tc.train("digits", model="cnn", params={"epochs": 4}, out=tmp_path_factory.mktemp("cal") / "run")


def test_the_temperature_is_fitted_on_the_validation_images_and_saved_with_the_model(cnn_run):
    model = load_model(cnn_run.path)
    rec = model.calibration_
    assert json.loads((cnn_run.path / "model" / "model.json").read_text())["calibration"] == rec
    val = cnn_run.split.val
    # the same fit, redone from the validation images alone, gives the saved value
    assert rec["temperature"] == pytest.approx(fit_temperature(model.label_indices(val),
                                                               model.predict_proba(val, raw=True)), rel=1e-6)
    assert rec["fitted_on"] == f"{len(val)} validation images"
    assert rec["temperature"] < 1  # under-confident raw scores are sharpened


def test_predict_proba_answers_calibrated_and_raw_on_request(cnn_run):
    model = load_model(cnn_run.path)
    test = cnn_run.split.test
    raw = model.predict_proba(test, raw=True)
    cal = model.predict_proba(test)
    np.testing.assert_allclose(cal, apply_temperature(raw, model.calibration_["temperature"]))
    assert (cal.argmax(1) == raw.argmax(1)).all()  # it never changes the answer
    assert cal.max(1).mean() > raw.max(1).mean() + 0.05
    np.testing.assert_array_equal(model.predict(test), model.classes_[raw.argmax(1)])
    # the fitted estimator in the run answers the same as the saved one
    np.testing.assert_allclose(cnn_run.model.predict_proba(test), cal, atol=1e-6)


def test_the_card_and_metrics_report_the_ece_before_and_after_on_the_test_images(cnn_run):
    m = cnn_run.metrics
    cal, t = m["calibration"], m["calibration"]["temperature"]
    ev = cnn_run.evaluation
    assert t["ece_before"] > t["ece_after"] == cal["ece"]
    # the Evaluation's probabilities are the calibrated answers, and its ECE is theirs
    assert cal["ece"] == pytest.approx(expected_calibration_error(ev.y_true, ev.probs))
    test = cnn_run.split.test
    where = {str(i): n for n, i in enumerate(test.ids)}
    scored = test.subset([where[str(i)] for i in ev.ids])
    raw = cnn_run.model.predict_proba(scored, raw=True)
    assert t["ece_before"] == pytest.approx(expected_calibration_error(ev.y_true, raw))
    html = (cnn_run.path / "card.html").read_text()
    assert f'data-metric="ece_raw" data-value="{t["ece_before"]}"' in html
    assert f'data-metric="temperature" data-value="{t["value"]}"' in html
    assert "the model answers with it" in html
    assert "Confidence     calibrated (temperature" in cnn_run.summary()


def test_the_review_threshold_is_chosen_on_calibrated_validation_confidences(cnn_run):
    from trueclass.evaluation._metrics import choose_threshold

    model, val = cnn_run.model, cnn_run.split.val
    assert cnn_run.metrics["flagged"]["threshold"] == choose_threshold(model.label_indices(val),
                                                                       model.predict_proba(val))
    # and it is applied to the calibrated test confidences
    assert cnn_run.metrics["flagged"]["n"] == int(np.sum(cnn_run.evaluation.confidence
                                                         < cnn_run.metrics["flagged"]["threshold"]))


def test_trueclass_predict_gives_calibrated_confidence_and_raw_scores_with_raw(cnn_run, tmp_path):
    from trueclass.run import predict_files

    test = cnn_run.split.test
    files = []
    for i in range(4):
        f = tmp_path / f"d{i}.png"
        Image.fromarray((test.images[i, :, :, 0] * (255 / 16)).round().astype(np.uint8)).save(f)
        files.append(str(f))
    runner = CliRunner()
    cal = runner.invoke(cli, ["predict", str(cnn_run.path), *files, "--csv", str(tmp_path / "cal.csv")])
    raw = runner.invoke(cli, ["predict", str(cnn_run.path), *files, "--raw", "--csv", str(tmp_path / "raw.csv")])
    assert cal.exit_code == 0 and raw.exit_code == 0, cal.output + raw.output
    read = lambda p: [ln.split(",") for ln in p.read_text().splitlines()[1:]]  # noqa: E731
    c_rows, r_rows = read(tmp_path / "cal.csv"), read(tmp_path / "raw.csv")
    t = load_model(cnn_run.path).calibration_["temperature"]
    full, _ = predict_files(cnn_run.path, files, top_k=10, raw=True)  # every class's raw score
    for c, r, f in zip(c_rows, r_rows, full):
        assert c[1] == r[1] == f["label"]  # the same answer
        assert c[4] == r[4]  # and the same review flag (always on the calibrated confidence)
        p_raw = np.array([[p for _, p in sorted(f["top_k"])]])
        assert float(r[2]) == pytest.approx(p_raw.max(), abs=1e-6)
        assert float(c[2]) == pytest.approx(apply_temperature(p_raw, t).max(), abs=1e-6)
    assert "--raw" in runner.invoke(cli, ["predict", "--help"]).output


def test_a_model_without_validation_images_says_it_is_uncalibrated(lesson):
    Xtr, Xte, ytr, yte = lesson
    clf = tc.ImageClassifier("logreg").fit(Xtr, ytr, held_out=False)  # no cross-validation either
    assert clf.calibration_["temperature"] is None
    # how many it takes, as the command's share: "--val-size" alone led to a run with 39, still too few
    share = np.ceil(100 * 50 / len(Xtr)) / 100
    assert f"calibrate(X_val, y_val) in Python (50 images or more), or --val-size {share:g} or more in " \
           "trueclass train, fits a temperature" in clf.calibration_["reason"]
    small = tc.ImageClassifier("logreg").fit(Xtr[:60], ytr[:60], held_out=False)
    assert small.calibration_["reason"].endswith("--val-size would leave too few of these 60 to train on")
    np.testing.assert_array_equal(clf.predict_proba(Xte), clf.predict_proba(Xte, raw=True))
    ev = tc.evaluate(clf, (Xte, yte))
    assert ev.calibration["temperature"]["value"] is None
    assert "Confidence     uncalibrated" in ev.summary()


def test_calibrate_from_python_and_its_bad_input(lesson):
    Xtr, Xte, ytr, yte = lesson
    clf = tc.ImageClassifier("logreg")
    with pytest.raises(tc.NotFittedError, match="not fitted yet"):
        clf.calibrate(Xte, yte)
    clf.fit(Xtr[:1000], ytr[:1000])
    X_val, y_val = Xtr[1000:], ytr[1000:]
    before = clf.predict_proba(Xte, raw=True)  # fit took a temperature from cross-validation; calibrate replaces it
    assert clf.calibrate(X_val, y_val) is clf
    t = clf.calibration_["temperature"]
    assert t == pytest.approx(fit_temperature(y_val, clf.predict_proba(X_val, raw=True)))
    np.testing.assert_allclose(clf.predict_proba(Xte), apply_temperature(before, t))
    unknown = y_val[:60].copy()
    unknown[0] = 42
    with pytest.raises(tc.TrueclassError, match=r"include classes the model was never trained on \('42'\)"):
        clf.calibrate(X_val[:60], unknown)
    with pytest.raises(tc.TrueclassError, match="needs the labels y"):
        clf.calibrate(X_val)
    assert clf.calibration_["temperature"] == t  # a refused call changes nothing
    clf.calibrate(X_val[:20], y_val[:20])
    assert clf.calibration_["temperature"] is None and "too few" in clf.calibration_["reason"]


def test_a_network_without_val_takes_its_temperature_from_the_images_it_set_aside(lesson):
    Xtr, Xte, ytr, yte = lesson
    clf = tc.ImageClassifier("cnn", epochs=2, random_state=0).fit(Xtr, ytr)
    rec = clf.calibration_
    assert rec["temperature"] is not None
    assert rec["fitted_on"] == f"{rec['n_images']} validation images set aside from the training images"
    assert getattr(clf.estimator_, "carved_val_", None) is None  # their copy is not kept


def test_a_model_saved_before_calibration_existed_answers_raw_and_says_why(cnn_run, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(cnn_run.path / "model", old)
    meta = json.loads((old / "model.json").read_text())
    del meta["calibration"]
    (old / "model.json").write_text(json.dumps(meta))
    model = load_model(old)
    assert model.calibration_["temperature"] is None and "earlier version" in model.calibration_["reason"]
    test = cnn_run.split.test
    np.testing.assert_array_equal(model.predict_proba(test), model.predict_proba(test, raw=True))
