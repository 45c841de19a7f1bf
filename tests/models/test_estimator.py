"""ImageClassifier is a real scikit-learn estimator, and talks to beginners in sentences."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError as SkNotFitted
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import trueclass as tc


@pytest.fixture(scope="module")
def digits_xy():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.mark.parametrize("name,floor", [("logreg", 0.94), ("knn", 0.96), ("svm", 0.97), ("forest", 0.94)])
def test_each_model_learns_digits(name, floor, digits_xy):
    Xtr, Xte, ytr, yte = digits_xy
    clf = tc.ImageClassifier(name, random_state=0) if name in ("svm", "forest") else tc.ImageClassifier(name)
    assert clf.fit(Xtr, ytr) is clf
    proba = clf.predict_proba(Xte)
    assert proba.shape == (len(Xte), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(clf.predict(Xte), clf.classes_[proba.argmax(1)])
    assert clf.score(Xte, yte) >= floor
    assert clf.image_shape_ == (8, 8, 1) and clf.value_max_ == 16
    np.testing.assert_array_equal(clf.classes_, np.arange(10))


def test_get_set_params_and_clone():
    clf = tc.ImageClassifier("svm", C=3.0)
    params = clf.get_params()
    assert params["model"] == "svm" and params["C"] == 3.0 and params["gamma"] == "scale"
    twin = clone(clf)
    assert twin.get_params() == params and twin is not clf
    clf.set_params(C=5.0)
    assert clf.get_params()["C"] == 5.0
    assert repr(clf) == "ImageClassifier(model='svm', C=5.0)"
    with pytest.raises(tc.TrueclassError, match="'Cc' is not a parameter of model 'svm'"):
        clf.set_params(Cc=1)


def test_inside_scikit_learn_tools(digits_xy):
    Xtr, _, ytr, _ = digits_xy
    scores = cross_val_score(tc.ImageClassifier("knn"), Xtr[:400], ytr[:400], cv=3)
    assert len(scores) == 3 and scores.mean() > 0.85
    grid = GridSearchCV(tc.ImageClassifier("logreg", max_iter=500), {"C": [0.01, 1.0]}, cv=3)
    grid.fit(Xtr[:400], ytr[:400])
    assert grid.best_params_["C"] in (0.01, 1.0)
    assert hasattr(grid.best_estimator_, "classes_")
    pipe = Pipeline([("scale", FunctionTransformer(lambda X: X / 16.0)), ("clf", tc.ImageClassifier("knn"))])
    pipe.fit(Xtr[:300], ytr[:300])
    assert pipe.score(Xtr[300:400], ytr[300:400]) > 0.85


def test_fit_on_dataset_predicts_class_names():
    ds = tc.load("digits")
    parts = tc.split(ds, seed=0)
    clf = tc.ImageClassifier("knn").fit(parts.train)
    # the digits' labels are numbers (the lesson's y): the model answers numbers
    assert clf.classes_.tolist() == [int(c) for c in ds.classes] == list(range(10))
    pred = clf.predict(parts.test)
    assert pred.dtype.kind == "i"
    assert clf.score(parts.test) > 0.95
    # the same images as arrays in three layouts give the same answers
    flat = parts.test.images.reshape(len(parts.test), -1)
    np.testing.assert_array_equal(clf.predict(flat), pred)
    np.testing.assert_array_equal(clf.predict(parts.test.images[..., 0]), pred)
    np.testing.assert_array_equal(clf.predict(parts.test.images[3, ..., 0]), pred[3:4])  # one image on its own
    np.testing.assert_array_equal(clf.predict(parts.test.images[3]), pred[3:4])  # with its channel axis


def test_one_colour_image_on_its_own_is_predicted_as_one():
    # a photo as np.asarray(Image.open(...)) gives (H, W, 3): it was read as H images of W x 3
    # ("trained on 16x16 images; these are 3x16")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 16, 16, 3)).astype(np.uint8)
    labels = np.where(images.mean(axis=(1, 2, 3)) > 127, "light", "dark")
    clf = tc.ImageClassifier("knn", n_neighbors=3).fit(images, labels)
    np.testing.assert_array_equal(clf.predict(images[7]), clf.predict(images[7:8]))
    assert clf.predict_proba(images[7]).shape == (1, 2)


def test_beginner_mistakes_get_sentences(digits_xy):
    Xtr, Xte, ytr, _ = digits_xy
    clf = tc.ImageClassifier("logreg")
    with pytest.raises(tc.NotFittedError, match="call fit") as info:
        clf.predict(Xte)
    assert isinstance(info.value, SkNotFitted)  # scikit-learn's tools recognise it
    with pytest.raises(tc.TrueclassError, match="needs the labels y"):
        clf.fit(Xtr)
    with pytest.raises(tc.TrueclassError, match="1347 images but y has 10 labels"):
        clf.fit(Xtr, ytr[:10])
    with pytest.raises(tc.TrueclassError, match="same label"):
        clf.fit(Xtr[:20], np.zeros(20))
    clf.fit(Xtr[:200], ytr[:200])
    with pytest.raises(tc.TrueclassError, match="trained on 8x8 images; these are 28x28"):
        clf.predict(np.zeros((2, 28, 28)))
    with pytest.raises(tc.TrueclassError, match="trained on grey"):
        clf.predict(np.zeros((2, 8, 8, 3)))
    with pytest.raises(tc.TrueclassError, match="There is no model named 'cnnn'"):
        tc.ImageClassifier("cnnn").fit(Xtr, ytr)
    with pytest.raises(tc.TrueclassError, match="'depth' is not a parameter of model 'knn'"):
        tc.ImageClassifier("knn", depth=3).fit(Xtr, ytr)
    with pytest.raises(tc.TrueclassError, match="not a square image, and a network needs images"):
        tc.ImageClassifier("cnn").fit(np.zeros((10, 15)), np.arange(10) % 2)


def test_small_sets_get_sentences():
    X = np.random.default_rng(0).random((6, 4, 4))
    y = np.array([0, 0, 0, 0, 0, 1])
    with pytest.raises(tc.TrueclassError, match="svm .* at least 2 training images"):
        tc.ImageClassifier("svm").fit(X, y)
    with pytest.raises(tc.TrueclassError, match="only 3 training images"):
        tc.ImageClassifier("knn").fit(X[:3], [0, 1, 0])


def test_same_seed_same_model(digits_xy):
    Xtr, Xte, ytr, _ = digits_xy
    a = tc.ImageClassifier("forest", n_estimators=30, random_state=7).fit(Xtr, ytr).predict_proba(Xte)
    b = tc.ImageClassifier("forest", n_estimators=30, random_state=7).fit(Xtr, ytr).predict_proba(Xte)
    np.testing.assert_array_equal(a, b)


def test_registry_lists_models():
    assert tc.list_models() == ["logreg", "knn", "svm", "forest", "cnn", "lite0", "timm:<name>"]
    assert tc.list_models("*s*") == ["svm", "forest"]
    assert tc.list_models("k*") == ["knn"]


def test_held_out_predictions_follow_the_sets_class_order_when_it_is_not_sorted():
    # a Parquet file's ClassLabel order ("zero", "one", ...) is not sorted: the out-of-fold
    # probabilities the temperature and review threshold are fitted on must follow it
    from dataclasses import replace

    ds = tc.load("digits")
    names = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    unsorted = replace(ds, classes=names)
    clf = tc.ImageClassifier("logreg").fit(unsorted)
    y, probs, _ = clf.held_out_
    assert np.mean(probs.argmax(1) == y) > 0.9  # scrambled columns would score about 0.1
    assert 0.5 < clf.calibration_["temperature"] < 5
    assert [str(c) for c in clf.classes_] == list(names)


@pytest.mark.parametrize("model, params, said", [
    ("logreg", {"C": -1}, "The 'C' parameter of LogisticRegression must be a float in the range (0.0, inf]. Got -1"),
    ("knn", {"n_neighbors": 0}, "The 'n_neighbors' parameter of KNeighborsClassifier must be an int in the range [1"),
    ("svm", {"C": 0.0}, "The 'C' parameter of SVC must be a float in the range (0.0, inf]"),
    ("forest", {"n_estimators": 0}, "The 'n_estimators' parameter of RandomForestClassifier must be an int"),
    ("logreg", {"random_state": -1}, "random_state must be a whole number of 0 to 4,294,967,295 (or None); got -1."),
])
def test_a_value_out_of_range_is_one_sentence_before_any_data_loads(model, params, said, tmp_path):
    # regression: scikit-learn's InvalidParameterError (numpy's ValueError for the seed)
    # came as a traceback from fit, after the audit had run
    with pytest.raises(tc.TrueclassError) as caught:
        tc.ImageClassifier(model, **params).check_params()
    assert said in str(caught.value)
    from click.testing import CliRunner

    from trueclass.cli import cli

    if "random_state" in params:
        res = CliRunner().invoke(cli, ["train", "digits", "--seed", "-1", "--out", str(tmp_path / "r")])
        assert res.exit_code == 2 and "-1 is not in the range 0<=x<=4294967295" in res.output
        with pytest.raises(tc.TrueclassError, match="seed must be a whole number of 0 to 4,294,967,295; got -1"):
            tc.train("digits", seed=-1, out=tmp_path / "r", progress=False)
    else:
        key, value = next(iter(params.items()))
        res = CliRunner().invoke(cli, ["train", "digits", "--model", model, "-p", f"{key}={value}",
                                       "--out", str(tmp_path / "r")])
        assert res.exit_code == 1 and said in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()
