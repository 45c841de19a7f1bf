"""No image whose exact or near copy trained a model is ever scored as unseen: the
fingerprints a saved model keeps, and the one rule that train and evaluate share."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import trueclass as tc
from trueclass.models._fingerprints import Fingerprints
from trueclass.run import evaluate_run, unseen_images

from conftest import save, textured  # tests/checks/conftest.py (rootdir-relative import, as pytest loads it)


def _ids(path):
    import csv

    return sorted(r["id"] for r in csv.DictReader(open(path / "predictions.csv")))


def test_unknown_class_run_evaluated_on_its_source_scores_only_its_test_images(tmp_path):
    # regression: the "none of these" images changed the data set's hash, and evaluate
    # then scored all 1,797 digits, 80% of them training images
    run = tc.train("digits", model="logreg", unknown_class=True, audit=False, out=tmp_path / "run")
    ev = evaluate_run(run.path, "digits", out=tmp_path / "ev")
    n_seen = sum(1 for i in run.split.indices["train"] if not str(run.dataset.ids[i]).startswith("unknown/"))
    assert ev.metrics["n_left_out_as_seen"] == n_seen
    assert ev.metrics["n_test"] == 1797 - n_seen
    assert not set(ev.evaluation.ids) & {str(run.dataset.ids[i]) for i in run.split.indices["train"]}


def test_digits_written_as_png_files_are_recognised_as_training_images(tmp_path):
    run = tc.train("digits", model="logreg", audit=False, out=tmp_path / "run")
    ds = run.dataset
    root = tmp_path / "pngs"
    for i in range(len(ds)):  # every digit as an 8-bit PNG, as a student would save them
        d = root / str(ds.classes[ds.labels[i]])
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(ds.images[i, ..., 0].astype(float) * 255 / 16).astype(np.uint8)).save(d / f"{i:04d}.png")
    ev = evaluate_run(run.path, root, out=tmp_path / "ev")
    assert ev.metrics["n_test"] == run.metrics["n_test"] == 360
    assert ev.evaluation.accuracy == run.evaluation.accuracy


@pytest.fixture
def photo_folder(tmp_path):
    rng = np.random.default_rng(5)
    root = tmp_path / "photos"
    for k, name in enumerate(["bars", "cols", "squares"]):
        for i in range(30):
            save(textured(k, rng, size=48), root / name / f"{i:02d}.png")
    return root


def test_the_same_folder_at_another_size_or_with_new_images_scores_only_unseen_ones(photo_folder, tmp_path):
    run = tc.train(photo_folder, model="logreg", out=tmp_path / "run")  # 48x48
    test_ids = set(run.evaluation.ids)
    # the same folder loaded at 40x40: every pixel differs, yet the copies are found
    big = tc.load(photo_folder, image_size=40)
    scored = unseen_images(run.path, tc.load(photo_folder))
    assert set(scored.test.ids) == test_ids and scored.n_left_out == 90 - len(test_ids)
    # a folder that gained new images: the old training images still count as seen
    rng = np.random.default_rng(9)
    for i in range(5):
        save(textured(0, rng, size=48), photo_folder / "bars" / f"new_{i}.png")
    grown = unseen_images(run.path, tc.load(photo_folder))
    assert set(grown.test.ids) == test_ids | {f"bars/new_{i}.png" for i in range(5)}
    # resized copies: the model was trained at 48x48; a saved copy of the folder at 40x40
    small = tmp_path / "small"
    for i, ident in enumerate(big.ids):
        save(big.images[i, ..., 0], small / str(ident))
    ev = evaluate_run(run.path, small, out=tmp_path / "ev")
    assert set(ev.evaluation.ids) == test_ids
    assert "less" in ev.metrics["evaluated_on"] and "trained or validated on" in ev.metrics["evaluated_on"]


def test_train_and_evaluate_leave_out_the_same_leaked_test_images(presplit_with_leak, tmp_path):
    # regression: evaluate kept the two leaked test images that train leaves out
    root, leaked = presplit_with_leak
    run = tc.train(root, model="logreg", out=tmp_path / "run")
    ev = evaluate_run(run.path, root, out=tmp_path / "ev")
    assert _ids(ev.path) == _ids(run.path) and not set(_ids(ev.path)) & leaked
    assert ev.metrics["n_test"] == run.metrics["n_test"] == 24
    assert ev.metrics["accuracy"] == run.metrics["accuracy"]


def test_nothing_unseen_is_a_sentence_and_leaves_no_folder(photo_folder, tmp_path):
    run = tc.train(photo_folder, model="logreg", test_size=0.2, out=tmp_path / "run")
    train_only = run.dataset.subset(run.split.indices["train"])
    with pytest.raises(tc.TrueclassError, match="Every one of the 72 images is a copy of an image the model"):
        evaluate_run(run.path, train_only, out=tmp_path / "ev")
    assert not (tmp_path / "ev").exists()


def test_fingerprints_match_copies_and_not_look_alikes():
    rng = np.random.default_rng(0)
    imgs = np.stack([textured(i % 3, rng, size=32) for i in range(40)])[..., None]
    fp = Fingerprints.of(imgs[:20])
    shifted_light = np.clip(imgs[:5].astype(int) + 12, 0, 255).astype(np.uint8)  # a brightness change
    found = fp.copies(np.concatenate([imgs[:5], shifted_light, imgs[20:]]))
    assert found[:10].all() and not found[10:].any()  # the 20 unseen look-alikes (same shapes) are not copies
    tiny = Fingerprints.of((np.zeros((3, 8, 8, 1)) + np.arange(3)[:, None, None, None]).astype(np.uint8))
    assert tiny.phash.shape == (3, 0)  # 8x8: exact matching only, as the audit does
    assert tiny.copies(np.zeros((1, 8, 8, 1), np.uint8)).tolist() == [True]


def test_fingerprints_are_plain_arrays_checked_on_load(tmp_path):
    run = tc.train("digits", model="knn", out=tmp_path / "run")
    meta = json.loads((run.path / "model" / "model.json").read_text())
    assert meta["fingerprints"]["n_images"] == run.metrics["n_train"] + run.metrics["n_val"]
    with np.load(run.path / "model" / "fingerprints.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    (run.path / "model" / "fingerprints.npz").write_bytes(b"not numpy")
    with pytest.raises(tc.TrueclassError, match="fingerprints file .* does not match its checksum"):
        evaluate_run(run.path, "digits", out=tmp_path / "ev")


def test_a_small_photo_set_trains_the_cnn_for_real(tmp_path):
    # regression: 4 classes x 10 training photos gave 4 validation images, an early stop
    # during the warm-up, and every test image read as one class (25%)
    pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    root = tmp_path / "photos"
    for part, n in (("train", 10), ("test", 25)):
        for k, name in enumerate(["bars", "cols", "squares", "crosses"]):
            for i in range(n):
                save(textured(k, rng, size=32), root / part / name / f"{i:02d}.png")
    run = tc.train(root, model="cnn", out=tmp_path / "run")
    m = run.metrics
    assert m["n_val"] == 0 and m["n_train"] == 40  # too few for a validation part that means anything
    assert m["training"]["epochs_run"] == m["training"]["recipe"]["epochs"] and not m["training"]["stopped_early"]
    assert m["accuracy"] >= 0.9 and m["accuracy"] >= m["baselines"]["logistic_regression"]["accuracy"] - 0.05


def test_a_label_error_model_no_better_than_guessing_flags_nothing():
    # regression: a weak label-error model flagged one in six correct photos
    from trueclass.checks._labels import find_label_issues

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (120, 16, 16, 1), dtype=np.uint8)  # labels unrelated to the pixels
    ds = tc.Dataset(images=imgs, labels=np.repeat([0, 1, 2], 40), classes=("a", "b", "c"),
                    ids=np.arange(120).astype(str), provenance={"source": "noise"})
    found = find_label_issues(ds, seed=0)
    assert found.issues == [] and "no better than guessing" in found.skipped and "out-of-fold accuracy" in found.skipped
    report = tc.audit(ds, seed=0).to_dict()
    assert report["n_label_issues"] == 0 and report["label_model_out_of_fold_accuracy"] < 0.5


def test_a_model_saved_from_python_keeps_its_fingerprints(tmp_path):
    # regression: clf.save() after the lesson's fit kept no fingerprints, and evaluating it
    # on the digits scored all 1,797 images, 1,437 of which it was trained on
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=1)
    clf = tc.ImageClassifier("logreg").fit(Xtr, ytr)
    clf.save(tmp_path / "m")
    scored = unseen_images(tmp_path / "m", tc.load("digits"))
    assert scored.n_left_out >= len(Xtr) and len(scored.test) <= len(Xte)
    assert len(scored.test) >= len(Xte) - 5  # only exact copies of a training digit go besides
    ev = evaluate_run(tmp_path / "m", "digits", out=tmp_path / "ev").evaluation
    assert ev.n_test == len(scored.test)
