"""Model folders: round trip, and a file that would run code is never loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skops.io as sio

import trueclass as tc


@pytest.fixture(scope="module")
def parts():
    return tc.split(tc.load("digits"), seed=0)


@pytest.mark.parametrize("name", ["logreg", "knn", "svm", "forest"])
def test_round_trip_gives_identical_predictions(name, parts, tmp_path):
    params = {"n_estimators": 20} if name == "forest" else {}
    clf = tc.ImageClassifier(name, **params).fit(parts.train)
    clf.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    # the digits' labels are numbers, and come back as numbers
    assert meta["classes"] == [int(c) for c in parts.train.classes] and meta["classes_type"] == "int"
    assert meta["image_size"] == [8, 8] and meta["value_max"] == 16 and meta["color_mode"] == "L"
    assert meta["training"]["hash"] == parts.train.hash
    back = tc.load_model(tmp_path / "m")
    np.testing.assert_array_equal(back.predict_proba(parts.test), clf.predict_proba(parts.test))
    np.testing.assert_array_equal(back.predict(parts.test), clf.predict(parts.test))
    # model.json itself named in place of its folder
    np.testing.assert_array_equal(tc.load_model(tmp_path / "m" / "model.json").predict(parts.test),
                                  clf.predict(parts.test))
    assert back.get_params() == clf.get_params()


def test_a_loaded_model_is_evaluated_as_the_fitted_one_and_never_on_its_training_images(parts, tmp_path):
    # regression: tc.load_model restored neither the fingerprints nor the review threshold, so
    # evaluate scored the training images as "never seen", at the default threshold 0.5
    clf = tc.ImageClassifier("logreg", random_state=1).fit(parts.train)
    clf.save(tmp_path / "m")
    back = tc.load_model(tmp_path / "m")
    for model in (clf, back):
        with pytest.raises(tc.TrueclassError, match=r"^All 1,437 images were used to train this model"):
            tc.evaluate(model, parts.train)
    fresh, loaded = tc.evaluate(clf, parts.test), tc.evaluate(back, parts.test)
    assert loaded.flagged["threshold"] == fresh.flagged["threshold"] > 0.5
    assert loaded.flagged["n"] == fresh.flagged["n"] and loaded.accuracy == fresh.accuracy
    assert loaded.threshold_source.startswith("5-fold cross-validation on 1,437 training images")
    # calibrated again, it no longer claims the threshold chosen under its old temperature
    back.calibrate(parts.test)
    assert tc.evaluate(back, parts.test).threshold_source.startswith("default")


def test_a_model_folder_copied_without_its_fingerprints_still_predicts(parts, tmp_path):
    # regression: load_model read the fingerprints at once, so predict failed without them
    from click.testing import CliRunner
    from PIL import Image

    from trueclass.cli import cli

    tc.ImageClassifier("logreg", random_state=1).fit(parts.train).save(tmp_path / "m")
    (tmp_path / "m" / "fingerprints.npz").unlink()
    back = tc.load_model(tmp_path / "m")
    assert back.predict(parts.test.images[:3]).shape == (3,)
    Image.fromarray((parts.test.images[0, ..., 0] * 15).astype(np.uint8)).save(tmp_path / "x.png")
    res = CliRunner().invoke(cli, ["predict", str(tmp_path / "m"), str(tmp_path / "x.png")])
    assert res.exit_code == 0, res.output
    with pytest.raises(tc.TrueclassError, match="fingerprints file .* is missing"):  # evaluate needs them
        tc.evaluate(back, parts.test)


def test_saving_unfitted_model_is_a_sentence(tmp_path):
    with pytest.raises(tc.NotFittedError, match="not fitted yet"):
        tc.ImageClassifier("knn").save(tmp_path / "m")


def test_tampered_weights_are_refused(parts, tmp_path):
    clf = tc.ImageClassifier("knn").fit(parts.train)
    clf.save(tmp_path / "m")
    w = tmp_path / "m" / "weights.skops"
    w.write_bytes(w.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(tc.TrueclassError, match="does not match the checksum"):
        tc.load_model(tmp_path / "m")


class Sneaky:
    """Stands for any class an attacker might smuggle into a weights file."""

    def __init__(self):
        self.x = 1


def test_untrusted_types_are_refused_even_with_a_matching_checksum(parts, tmp_path):
    clf = tc.ImageClassifier("knn").fit(parts.train)
    clf.save(tmp_path / "m")
    w = tmp_path / "m" / "weights.skops"
    sio.dump({"model": Sneaky()}, w)  # a file that asks to build a foreign type
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    import hashlib

    meta["weights"]["sha256"] = hashlib.sha256(w.read_bytes()).hexdigest()
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(tc.TrueclassError, match="types trueclass does not trust.*Sneaky"):
        tc.load_model(tmp_path / "m")


def test_missing_and_damaged_model_folders(tmp_path):
    with pytest.raises(tc.TrueclassError, match="No such model folder"):
        tc.load_model(tmp_path / "nothing")
    with pytest.raises(tc.TrueclassError, match="No such model folder"):
        tc.load_model(tmp_path / "nothing" / "model.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(tc.TrueclassError, match="has no model.json"):
        tc.load_model(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.json").write_text("{not json")
    with pytest.raises(tc.TrueclassError, match="is damaged"):
        tc.load_model(tmp_path / "bad")


def test_no_pickle_anywhere_in_the_package():
    import pathlib

    import trueclass

    src = pathlib.Path(trueclass.__file__).parent
    for f in src.rglob("*.py"):
        text = f.read_text()
        assert "import pickle" not in text and "joblib" not in text, f
        assert "allow_pickle=True" not in text, f


# -- a model folder whose files disagree: one sentence when loaded ----------------------------
def edited_copy(src, dst, change):
    import shutil

    shutil.copytree(src, dst)
    meta = json.loads((dst / "model.json").read_text())
    change(meta)
    (dst / "model.json").write_text(json.dumps(meta))
    return dst


def untouched(folder):
    return sorted((p.name, p.read_bytes()) for p in folder.iterdir())


@pytest.fixture(scope="module")
def logreg_folder(parts, tmp_path_factory):
    folder = tmp_path_factory.mktemp("logreg") / "m"
    tc.ImageClassifier("logreg").fit(parts.train).save(folder)
    return folder


def test_an_edited_image_size_is_a_sentence(logreg_folder, tmp_path):
    def bigger(meta):
        meta["image_size"] = [16, 16]

    with pytest.raises(tc.TrueclassError, match=r"does not hold together: model.json's image_size 16x16 is not "
                                                r"the size its preprocessing resizes to \(to 8x8 \(bilinear\)\); "
                                                r"model.json was edited or comes from another model"):
        tc.load_model(edited_copy(logreg_folder, tmp_path / "a", bigger))

    def bigger_everywhere(meta):
        meta["image_size"] = [16, 16]
        meta["preprocessing"]["resize"] = "to 16x16 (bilinear)"

    folder = edited_copy(logreg_folder, tmp_path / "b", bigger_everywhere)
    before = untouched(folder)
    with pytest.raises(tc.TrueclassError, match=r"model.json says the model takes 16x16 grey images \(256 pixel "
                                                r"values\) but its weights take 64 values \(8x8 grey images\)"):
        tc.load_model(folder)
    assert untouched(folder) == before


def test_an_added_class_is_a_sentence(logreg_folder, tmp_path):
    def one_more(meta):
        meta["classes"].append(10)

    with pytest.raises(tc.TrueclassError, match="model.json names 11 classes but its class_counts has 10 entries"):
        tc.load_model(edited_copy(logreg_folder, tmp_path / "a", one_more))

    def one_more_everywhere(meta):
        meta["classes"].append(10)
        meta["class_counts"].append(40)
        meta["label_thresholds"].append(0.5)

    with pytest.raises(tc.TrueclassError, match=r"model.json names 11 classes \(0, 1, 2, 3, 4, 5, \.\.\. 10\) but "
                                                r"the weights were trained on 10 \(nothing answers '10'\)"):
        tc.load_model(edited_copy(logreg_folder, tmp_path / "b", one_more_everywhere))

    def one_less(meta):
        for key in ("classes", "class_counts", "label_thresholds"):
            meta[key].pop()

    with pytest.raises(tc.TrueclassError, match=r"model.json names 9 classes .* but the weights were trained on 10"):
        tc.load_model(edited_copy(logreg_folder, tmp_path / "c", one_less))

    def twice(meta):
        meta["classes_type"] = "str"
        meta["classes"] = ["a"] * 10

    with pytest.raises(tc.TrueclassError, match="model.json names the class 'a' twice"):
        tc.load_model(edited_copy(logreg_folder, tmp_path / "d", twice))
    assert tc.load_model(logreg_folder).classes_.tolist() == list(range(10))  # the original loads


def test_a_network_with_an_added_class_is_a_sentence(tmp_path):
    rng = np.random.default_rng(0)
    X = (rng.random((32, 12, 12)) * 40).astype(np.uint8)  # bars: horizontal for "bar", vertical for "col"
    X[0::2, 5:7, 3:9] = 230
    X[1::2, 3:9, 5:7] = 230
    y = np.array(["bar", "col"] * 16)
    folder = tc.ImageClassifier("cnn", epochs=1, width=8, random_state=0).fit(X, y).save(tmp_path / "cnn")
    assert tc.load_model(folder).classes_.tolist() == ["bar", "col"]

    def one_more(meta):
        meta["classes"].append("square")
        meta["class_counts"].append(16)
        meta["label_thresholds"].append(0.5)

    with pytest.raises(tc.TrueclassError, match=r"model.json names 3 classes \(bar, col, square\) but the network "
                                                r"answers 2; model.json was edited"):
        tc.load_model(edited_copy(folder, tmp_path / "a", one_more))

    def and_the_network_too(meta):
        one_more(meta)
        meta["weights"]["network"]["n_classes"] = 3

    with pytest.raises(tc.TrueclassError, match=r"names 3 classes \(bar, col, square\) but the weights' output layer "
                                                r"answers 2"):
        tc.load_model(edited_copy(folder, tmp_path / "b", and_the_network_too))

    def wider(meta):
        meta["weights"]["network"]["width"] = 64

    with pytest.raises(tc.TrueclassError, match=r"its weights do not load as model.json describes them "
                                                r"\(RuntimeError: Error\(s\) in loading state_dict"):
        tc.load_model(edited_copy(folder, tmp_path / "c", wider))

    def bigger(meta):
        meta["image_size"] = [24, 24]
        meta["preprocessing"]["resize"] = "to 24x24 (bilinear)"

    with pytest.raises(tc.TrueclassError, match=r"model.json says the model takes 24x24 grey images but its network "
                                                r"was trained on 12x12 grey images"):
        tc.load_model(edited_copy(folder, tmp_path / "d", bigger))


def test_a_network_saved_with_its_gpu_named_runs_here_with_tta(tmp_path, monkeypatch):
    """A model trained with device='cuda:1' (saved so in model.json) loads where there is no
    such GPU: where it ran is not where it runs, for the estimator as for its network, so
    the checks that test-time augmentation makes find no GPU to refuse."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("TRUECLASS_DEVICE", raising=False)
    parts = tc.split(tc.load("digits"), seed=0)
    folder = tc.ImageClassifier("cnn", epochs=1, width=8, random_state=0).fit(parts.train).save(tmp_path / "cnn")

    def on_gpu_1(meta):
        meta["params"]["device"] = "cuda:1"

    back = tc.load_model(edited_copy(folder, tmp_path / "g", on_gpu_1))
    assert back.get_params()["device"] == "auto" and back.estimator_.runtime().device == "cpu"
    back.set_params(tta=True)
    back.check_params()  # no "asks for a CUDA GPU" sentence
    assert back.predict_proba(parts.test.subset(range(3))).shape == (3, 10)


@pytest.mark.parametrize("model", ["logreg", "knn", "svm", "forest"])
def test_the_same_seed_writes_the_same_weights_file(model, tmp_path):
    # regression: skops named arrays by id() and dated entries now, so two identical fits wrote two
    # files and two weights.sha256
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    params = {"n_estimators": 20} if model == "forest" else {}
    for k in range(2):
        tc.ImageClassifier(model, random_state=3, **params).fit(X[:300], y[:300]).save(tmp_path / f"m{k}")
    a, b = ((tmp_path / f"m{k}" / "weights.skops").read_bytes() for k in range(2))
    assert a == b
    assert len({json.loads((tmp_path / f"m{k}" / "model.json").read_text())["weights"]["sha256"] for k in range(2)}) == 1
    fitted = tc.ImageClassifier(model, random_state=3, **params).fit(X[:300], y[:300])
    np.testing.assert_array_equal(tc.load_model(tmp_path / "m0").predict_proba(X[300:400]),
                                  fitted.predict_proba(X[300:400]))
