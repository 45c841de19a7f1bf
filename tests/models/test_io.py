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
    assert meta["classes"] == list(parts.train.classes)
    assert meta["image_size"] == [8, 8] and meta["value_max"] == 16 and meta["color_mode"] == "L"
    assert meta["training"]["hash"] == parts.train.hash
    back = tc.load_model(tmp_path / "m")
    np.testing.assert_array_equal(back.predict_proba(parts.test), clf.predict_proba(parts.test))
    assert back.get_params() == clf.get_params()


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
