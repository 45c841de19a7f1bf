"""The split: seeded, stratified, the lesson's split when not stratified, clear errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import trueclass as tc


@pytest.fixture(scope="module")
def digits():
    return tc.load("digits")


def test_unstratified_split_is_scikit_learns(digits):
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=1)
    parts = tc.split(digits, test_size=0.2, seed=1, stratify=False)
    np.testing.assert_array_equal(parts.test.images.reshape(len(Xte), -1), Xte)
    np.testing.assert_array_equal(parts.train.images.reshape(len(Xtr), -1), Xtr)  # same order too


def test_stratified_keeps_proportions_and_is_seeded(digits):
    a = tc.split(digits, test_size=0.2, seed=3)
    b = tc.split(digits, test_size=0.2, seed=3)
    c = tc.split(digits, test_size=0.2, seed=4)
    np.testing.assert_array_equal(a.indices["test"], b.indices["test"])
    assert not np.array_equal(a.indices["test"], c.indices["test"])
    share = np.bincount(a.test.labels) / a.n_test
    assert np.allclose(share, np.bincount(digits.labels) / len(digits), atol=0.01)


def test_parts_are_disjoint_and_cover_everything(digits):
    parts = tc.split(digits, test_size=0.25, val_size=0.1, seed=0)
    sets = [set(parts.indices[k].tolist()) for k in ("train", "val", "test")]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert sum(map(len, sets)) == len(digits)
    assert parts.n_test == 450 and parts.n_val == 135


def test_split_csv(digits, tmp_path):
    parts = tc.split(digits, seed=0)
    parts.to_csv(tmp_path / "split.csv")
    rows = list(csv.DictReader(open(tmp_path / "split.csv")))
    assert len(rows) == len(digits)
    assert sum(r["split"] == "test" for r in rows) == parts.n_test
    assert rows[0]["id"] == "digits/0" and rows[0]["label"] == "0"


def test_tiny_class_gets_a_sentence():
    images = np.zeros((7, 4, 4), np.uint8)
    ds = tc.Dataset(images=images, labels=[0, 0, 0, 1, 1, 1, 2], classes=["a", "b", "c"], ids=None)
    with pytest.raises(tc.TrueclassError, match=r"Class 'c' has only 1 image.*\(stratify=False\)"):
        tc.split(ds, test_size=0.3)
    big = tc.Dataset(images=np.zeros((40, 4, 4), np.uint8), labels=np.arange(40) % 10,
                     classes=[str(i) for i in range(10)], ids=None)
    with pytest.raises(tc.TrueclassError, match="cannot hold all 10 classes"):
        tc.split(big, test_size=0.1)


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "x"])
def test_bad_fractions(digits, bad):
    with pytest.raises(tc.TrueclassError, match="test_size must be a fraction"):
        tc.split(digits, test_size=bad)


def test_a_class_whose_images_copy_held_out_ones_is_refused_and_the_sentence_says_which():
    # it said "its images are copies or near copies of each other", when they copied another class's test images
    from trueclass.data import from_arrays

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (28, 8, 8), dtype=np.uint8)
    labels = np.array(["cats"] * 20 + ["dogs"] * 8)
    ds = from_arrays(images, labels, value_max=255)
    plain = tc.split(ds, test_size=0.2, seed=0, val_size=0)
    cats_tested = [i for i in plain.indices["test"] if labels[i] == "cats"]
    groups = np.arange(28)
    groups[20:] = [cats_tested[k % len(cats_tested)] for k in range(8)]  # each dog a copy of a tested cat
    before = sum(labels[i] == "dogs" for i in plain.indices["train"])
    with pytest.raises(tc.TrueclassError) as e:
        tc.split(ds, test_size=0.2, seed=0, val_size=0, groups=groups)
    assert str(e.value) == (
        f"Keeping copies of the same image on one side of the split would leave class 'dogs' with 0 of its 8 images to "
        f"train on (the split alone gave it {before}): {before} of them are copies or near copies of held-out images "
        "(of 'dogs' or of another class) and went to the held-out side with them. No honest score can come from that; "
        "add more images of 'dogs' that are not copies of other images, or remove the copies (an audit of the images "
        "lists them).")
