"""The lesson's mistakes get one sentence in the lesson's words (issue 26, items 10-11).

The lesson loads scikit-learn's digits, splits them with train_test_split and calls
clf.fit / clf.predict; each wrong call below must be a TrueclassError (one line in a
notebook, no traceback) whose sentence says what to do, never scikit-learn's own advice.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import trueclass as tc
from trueclass.cli import cli


@pytest.fixture(scope="module")
def lesson():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=1)
    clf = tc.ImageClassifier("logreg").fit(X_train, y_train)
    return X_train, X_test, y_train, y_test, clf


def _mixed(y):
    y = y.astype(object)
    y[0] = "cat"
    return y


ONE_IMAGE = ("Reshape your data: X is one image (64 values) and the model takes a list of images, so pass "
             "X_test[0:1] or [X_test[0]] instead of X_test[0].")
FILE_NAME = ("'cat.png' is a file name, not an image: save the model with clf.save('my-model') and run "
             "`trueclass predict my-model cat.png` (in Python: trueclass.run.predict_files('my-model', ['cat.png'])), "
             "or load the picture into an array first.")
LOAD_ARRAY = ("tc.load takes a data source such as 'digits', a folder or a pair (X_test, y_test), not images on their "
              "own: give the labels with them, as in tc.load((X_test, y_test)), or look at one image with "
              "tc.show_image(X_test[0]).")
MIXED = ("The labels mix numbers and words (such as {} and 'cat'): write every label the same way, all numbers or all "
         "words (y.astype(str) makes them all words).")
QUOTED = ("The labels must be a list with one label per image, not the text '{0}': write {0} without quotes so that "
          "Python uses the variable.")

CASES = {
    "predict one image": (lambda X_tr, X_te, y_tr, y_te, clf: clf.predict(X_te[0]), ONE_IMAGE),
    "predict_proba one image": (lambda X_tr, X_te, y_tr, y_te, clf: clf.predict_proba(X_te[0]), ONE_IMAGE),
    "score one image": (lambda X_tr, X_te, y_tr, y_te, clf: clf.score(X_te[0], y_te[0]), ONE_IMAGE),
    "predict a file name": (lambda X_tr, X_te, y_tr, y_te, clf: clf.predict("cat.png"), FILE_NAME),
    "predict no images": (lambda X_tr, X_te, y_tr, y_te, clf: clf.predict(X_te[:0]),
                          "There are no images in X (it is empty), so there is nothing to predict."),
    "fit no images": (lambda X_tr, X_te, y_tr, y_te, clf: tc.ImageClassifier("logreg").fit(X_tr[:0], y_tr[:0]),
                      "There are no images in X (it is empty), so there is nothing to train on."),
    "load one image": (lambda X_tr, X_te, y_tr, y_te, clf: tc.load(X_te[0]), LOAD_ARRAY),
    "load images without labels": (lambda X_tr, X_te, y_tr, y_te, clf: tc.load(X_te), LOAD_ARRAY),
    "load images in a tuple of one": (lambda X_tr, X_te, y_tr, y_te, clf: tc.load((X_te,)),
                                      "tc.load takes a pair (X, y) of images and their labels; got a tuple of 1 item."),
    "plot the counts of a list": (lambda X_tr, X_te, y_tr, y_te, clf: tc.plot_class_counts(list(y_tr)),
                                  "plot_class_counts takes a Dataset (tc.load(...)), a Split, a Run or a "
                                  "counts_by_split dict; got list."),
    "fit mixed labels": (lambda X_tr, X_te, y_tr, y_te, clf: tc.ImageClassifier("logreg").fit(X_tr, _mixed(y_tr)),
                         lambda y_tr, y_te: MIXED.format(y_tr[1])),
    "fit mixed label list": (lambda X_tr, X_te, y_tr, y_te, clf:
                             tc.ImageClassifier("logreg").fit(X_tr[:4], [0, "cat", 1, "dog"]), MIXED.format(0)),
    "load mixed labels": (lambda X_tr, X_te, y_tr, y_te, clf: tc.load((X_tr, _mixed(y_tr))), lambda y_tr, y_te: MIXED.format(y_tr[1])),
    "evaluate mixed labels": (lambda X_tr, X_te, y_tr, y_te, clf: tc.evaluate(clf, (X_te, _mixed(y_te))),
                              lambda y_tr, y_te: MIXED.format(y_te[1])),
    "score mixed labels": (lambda X_tr, X_te, y_tr, y_te, clf: clf.score(X_te, _mixed(y_te)), lambda y_tr, y_te: MIXED.format(y_te[1])),
    "fit labels in quotes": (lambda X_tr, X_te, y_tr, y_te, clf: tc.ImageClassifier("logreg").fit(X_tr, "y_train"),
                             QUOTED.format("y_train")),
    "score labels in quotes": (lambda X_tr, X_te, y_tr, y_te, clf: clf.score(X_te, "y_test"), QUOTED.format("y_test")),
    "evaluate labels in quotes": (lambda X_tr, X_te, y_tr, y_te, clf: tc.evaluate(clf, (X_te, "y_test")),
                                  QUOTED.format("y_test")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_lessons_mistakes_are_one_sentence(lesson, case):
    call, sentence = CASES[case]
    with pytest.raises(tc.TrueclassError) as info:
        call(*lesson)
    if callable(sentence):  # names the first number among the labels
        sentence = sentence(lesson[2], lesson[3])
    assert str(info.value) == sentence
    assert "\n" not in str(info.value)


def test_split_takes_random_state_as_the_seed():
    ds = tc.load("digits")
    a, b = tc.split(ds, random_state=1), tc.split(ds, seed=1)
    assert list(a.test.ids) == list(b.test.ids)
    assert list(a.test.ids) != list(tc.split(ds).test.ids)
    with pytest.raises(tc.TrueclassError, match="seed=2 and random_state=1 are the same setting; give only one"):
        tc.split(ds, seed=2, random_state=1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("lesson") / "run"
    res = CliRunner().invoke(cli, ["train", "digits", "--model", "logreg", "--random-state", "1", "--no-audit",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_train_takes_random_state_for_seed(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seed"] == 1


def test_report_prints_the_per_class_numbers_of_metrics_json(run_dir):
    res = CliRunner().invoke(cli, ["report", str(run_dir)])
    assert res.exit_code == 0, res.output
    per_class = json.loads((run_dir / "metrics.json").read_text())["per_class"]
    rows = {line.split()[0]: line.split()[1:5] for line in res.output.splitlines()[1:] if line.split()
            and line.split()[0] in per_class}
    assert set(rows) == set(per_class)
    for name, r in per_class.items():
        p, rec, f1, support = rows[name]
        assert (float(p), float(rec), float(f1), int(support)) == (
            round(r["precision"], 3), round(r["recall"], 3), round(r["f1"], 3), r["support"])
    assert res.output.splitlines()[0].split()[:5] == ["class", "precision", "recall", "f1-score", "support"]
    # the recall's interval in the columns' own units (regression: 0.977 beside "87.9% to 99.6%")
    low, high = per_class["0"]["recall_ci"]
    assert next(ln for ln in res.output.splitlines() if ln.startswith("0 ")).endswith(f"{low:.3f} to {high:.3f}")


def test_report_of_a_folder_without_metrics_is_one_sentence(tmp_path):
    res = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert res.exit_code == 1
    assert "is not a run folder with metrics.json" in res.output
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)


def test_show_image_draws_a_flattened_row_as_a_square_picture(lesson):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    X_test = lesson[1]
    ax = tc.show_image(X_test[0], title="a digit")
    assert isinstance(ax, Axes)
    assert ax.images[0].get_array().shape == (8, 8)
    assert ax.images[0].get_cmap().name == "gray_r"
    assert ax.get_title() == "a digit"
    np.testing.assert_array_equal(ax.images[0].get_array(), X_test[0].reshape(8, 8))
    fig, given = plt.subplots()
    assert tc.show_image(np.zeros(784), ax=given) is given
    assert given.images[0].get_array().shape == (28, 28)
    assert tc.show_image(np.zeros((5, 7))).images[0].get_array().shape == (5, 7)
    assert tc.show_image(np.zeros((5, 7, 3), np.uint8)).images[0].get_array().shape == (5, 7, 3)
    plt.close("all")


@pytest.mark.parametrize("bad, sentence", [
    (np.zeros(10), "A row of 10 values is not a square image (64 values make 8x8, 784 make 28x28): give one image "
                   "such as X_test[0], or reshape it first with .reshape(HEIGHT, WIDTH)."),
    (np.zeros((3, 8, 8, 1)), "show_image shows one image, such as X_test[0]; this array has shape (3, 8, 8, 1) "
                             "(several images: pick one with [i])."),
    ("cat.png", "show_image takes the pixels of one image, such as X_test[0], not the text 'cat.png'."),
])
def test_show_image_of_no_single_image_is_one_sentence(bad, sentence):
    with pytest.raises(tc.TrueclassError) as info:
        tc.show_image(bad)
    assert str(info.value) == sentence


def test_a_file_name_given_to_a_saved_model_names_its_folder(tmp_path):
    """A model saved (or loaded) already has a folder: the sentence runs `trueclass predict`
    on it rather than asking for a save, and a model fitted again is asked to save again."""
    X, y = load_digits(return_X_y=True)
    clf = tc.ImageClassifier("logreg").fit(X[:200], y[:200])
    folder = tmp_path / "my model"
    clf.save(folder)
    quoted = f"'{folder}'"
    for model in (clf, tc.load_model(folder)):
        with pytest.raises(tc.TrueclassError) as err:
            model.predict("cat.png")
        assert str(err.value) == (
            f"'cat.png' is a file name, not an image: run `trueclass predict {quoted} cat.png` (in Python: "
            f"trueclass.run.predict_files({str(folder)!r}, ['cat.png'])), or load the picture into an array first.")
    clf.fit(X[:100], y[:100])
    with pytest.raises(tc.TrueclassError, match="save the model with clf.save"):
        clf.predict("cat.png")
