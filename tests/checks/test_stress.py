"""Stress tests: perturbations do what they say, the accuracy curves and flags are
computed on test images, images of no class are measured, and --unknown-class helps."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import trueclass as tc
from trueclass.diagnostics import PERTURBATIONS, ood_check, perturb, perturbation_curves


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    return tc.train("digits", model="logreg", val_size=0.1, out=tmp_path_factory.mktemp("stress") / "run")


def test_perturbations_keep_shape_and_range():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 12, 12, 1)).astype(np.float32)
    for name, sevs in PERTURBATIONS.items():
        for sev in sevs:
            y = perturb(x, name, sev)
            assert y.shape == x.shape and y.min() >= 0 and y.max() <= 255, name
    assert np.array_equal(perturb(perturb(x, "hflip", 1), "hflip", 1), x)
    assert np.array_equal(perturb(x, "vflip", 1), x[:, ::-1])
    assert np.allclose(perturb(x, "rotation", 0), x, atol=1e-3)
    assert np.allclose(perturb(x, "brightness", 0.3), np.clip(x + 76.5, 0, 255))
    occluded = perturb(x, "occlusion", 0.5)
    changed = (occluded != x).reshape(8, -1).mean(1)
    assert (changed <= 0.25 + 1e-9).all() and (changed > 0.1).all()  # a 6x6 patch of 12x12
    with pytest.raises(tc.TrueclassError, match="Unknown perturbation"):
        perturb(x, "melt", 1)


def test_stress_curves_flags_and_examples(digits_run):
    data, examples = perturbation_curves(digits_run.model, digits_run.split.test, seed=0)
    assert set(data["accuracy"]) == set(PERTURBATIONS)
    assert data["clean_accuracy"] == digits_run.evaluation.accuracy  # the same test images, unperturbed
    for name, sevs in PERTURBATIONS.items():
        assert list(data["accuracy"][name]) == [f"{s:g}" for s in sevs]
    # a mirrored digit is another symbol: the flips are flagged for the digits
    assert {"hflip", "vflip"} <= set(data["label_changing"])
    assert data["accuracy"]["hflip"]["1"] < data["clean_accuracy"] - 0.3
    # stronger damage, lower accuracy
    assert data["accuracy"]["translation"]["0.2"] < data["accuracy"]["translation"]["0.05"]
    assert set(data["per_class"]["rotation"]) == set(digits_run.metrics["classes"])
    assert examples and all(ex["true"] != ex["pred"] for ex in examples)


def test_symmetric_shapes_are_not_label_changing_under_flips(make_folder, tmp_path):
    root = make_folder({"bars": 40, "cols": 40, "squares": 40}, size=16)
    run = tc.train(root, model="logreg", out=tmp_path / "run", audit=False)
    data, _ = perturbation_curves(run.model, run.split.test)
    assert "hflip" not in data["label_changing"] and "vflip" not in data["label_changing"]


def test_images_of_no_class(digits_run):
    ood = ood_check(digits_run.model, digits_run.split.test, threshold=0.5, n=60)
    assert {"noise", "blank", "inverted"} <= set(ood["kinds"])
    assert 0 <= ood["confidently_answered"] <= 1 and 0 <= ood["real_test_images_flagged_at_that_threshold"] <= 1
    assert ood["kinds"]["noise"]["n"] == ood["kinds"]["inverted"]["n"] == 60
    # uniform noise looks like no digit, yet a logistic regression answers it with confidence
    assert ood["kinds"]["noise"]["mean_confidence"] > 0.5


def test_stress_command_adds_a_section_to_the_run(tmp_path):
    run = tc.train("digits", model="logreg", out=tmp_path / "run")
    out = subprocess.run([sys.executable, "-m", "trueclass.cli", "stress", str(run.path), "digits",
                          "--max-images", "200"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "breaks first" in out.stdout and "Label-changing for this data" in out.stdout
    data = json.loads((run.path / "stress.json").read_text())
    # each curve with its interval at the strongest severity, and the class that breaks first
    # with how many of its images (a drop of 100 points on one image is one image)
    low, high = data["accuracy_ci"]["blur"][list(data["accuracy"]["blur"])[-1]]
    assert f"(95% CI {low:.0%} to {high:.0%})" in next(ln for ln in out.stdout.splitlines() if ln.strip()
                                                        .startswith("blur"))
    name, bf = next(iter(data["breaks_first"].items()))
    assert 1 <= bf["n"] <= data["n_images"]
    assert (f"breaks first: {bf['class']} ({100 * bf['drop']:+.0f} points on its {bf['n']} "
            f"image{'s' * (bf['n'] != 1)})") in out.stdout
    assert data["n_images"] == 200 and "less 1,437 images that the model was trained or validated on" in data["evaluated_on"]
    assert set(data) >= {"accuracy", "per_class", "label_changing", "ood", "shortcuts"}
    assert "Shortcuts (occlusion):" in out.stdout
    # a saved model's stress has no training images: the shortcut check judges the test images
    assert data["shortcuts"]["judged_on"] == "test images" and list(data["shortcuts"]["parts"]) == ["test"]
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["robustness"]["accuracy"] == data["accuracy"]
    html = (run.path / "card.html").read_text()
    assert 'id="robustness"' in html and 'data-perturbation="occlusion"' in html
    assert 'id="shortcut-table"' in html and 'data-metric="covered_border_covered"' in html
    assert all((run.path / ex["file"]).is_file() for ex in data["examples"])


def test_train_stress_and_the_stress_command_give_the_same_numbers(tmp_path):
    # regression: the same model, images and seed gave other occlusion, noise and rotation
    # figures (the images came in split order in one, source order in the other), and a
    # clean accuracy off the headline (the digits rounded through 0-255)
    from click.testing import CliRunner

    from trueclass.cli import cli

    runner = CliRunner()
    res = runner.invoke(cli, ["train", "digits", "--model", "forest", "-p", "n_estimators=40", "--seed", "5",
                              "--no-audit", "--stress", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["stress", str(tmp_path / "run"), "digits", "--seed", "5", "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    a, b = (json.loads((d / "stress.json").read_text()) for d in (tmp_path / "run", tmp_path / "s"))
    assert a["n_images"] == b["n_images"] == 360
    assert a["clean_accuracy"] == b["clean_accuracy"] == json.loads((tmp_path / "run" / "metrics.json")
                                                                     .read_text())["accuracy"]
    for key in ("accuracy", "accuracy_ci", "per_class", "breaks_first", "class_changes", "ood"):
        assert a[key] == b[key], key
    # the shortcut check of a saved model has no training images; its test images are the same
    assert a["shortcuts"]["parts"]["test"] == b["shortcuts"]["parts"]["test"]
    assert a["shortcuts"]["covered"] == b["shortcuts"]["covered"]
    # and Python's door: the saved model on the same source (regression: it stressed all 1,797
    # digits, the training images among them, and left out the images of no class)
    py, _ = tc.stress_test(tc.load_model(tmp_path / "run"), "digits", seed=5)
    assert py["evaluated_on"] == b["evaluated_on"] and "less 1,437 images" in py["evaluated_on"]
    for key in ("n_images", "clean_accuracy", "accuracy", "accuracy_ci", "per_class", "ood", "shortcuts"):
        assert py[key] == b[key], key
    with pytest.raises(tc.TrueclassError, match="All 1,437 images were used to train this model"):
        tc.stress_test(tc.load_model(tmp_path / "run"), tc.split(tc.load("digits"), seed=5).train)


def test_stress_command_needs_somewhere_to_write(digits_run):
    before = sorted(p.name for p in digits_run.path.rglob("*"))
    out = subprocess.run([sys.executable, "-m", "trueclass.cli", "stress", str(digits_run.path / "model"), "digits"],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "--out FOLDER" in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in digits_run.path.rglob("*")) == before  # nothing written


@pytest.mark.slow
def test_unknown_class_teaches_none_of_these(tmp_path):
    # no audit: the comparison is of the stress check's unknown images, in two runs made alike
    run = tc.train("digits", model="logreg", unknown_class=True, stress=True, audit=False, out=tmp_path / "run")
    assert run.metrics["classes"][-1] == "none of these"
    assert run.metrics["per_class"]["none of these"]["recall"] > 0.9  # held-out unknown images are recognised
    plain = tc.train("digits", model="logreg", stress=True, audit=False, out=tmp_path / "plain")
    assert (run.metrics["robustness"]["ood"]["confidently_answered"]
            < plain.metrics["robustness"]["ood"]["confidently_answered"])


def test_shuffle_check_passes_and_raises_the_alarm_on_a_leak(tmp_path, monkeypatch):
    run = tc.train("digits", model="knn", shuffle_check=True, out=tmp_path / "ok")
    s = run.metrics["sanity"]
    assert s["passed"] and s["shuffled_accuracy_ci"][0] <= s["expected_at_most"] + 0.02

    import trueclass.diagnostics.sanity as r

    class NoShuffle:  # a broken shuffle: the true labels reach training
        def __init__(self, *a, **k):
            pass

        def permutation(self, n):
            return np.arange(n)

    real = np.random.default_rng

    def rng(seed=None):
        return NoShuffle() if seed is not None and seed >= 10_007 else real(seed)

    monkeypatch.setattr(r.np.random, "default_rng", rng)
    bad = tc.train("digits", model="knn", shuffle_check=True, out=tmp_path / "bad", audit=False)
    assert not bad.metrics["sanity"]["passed"] and "SOMETHING LEAKS" in bad.metrics["sanity"]["message"]
    assert "Sanity check failed" in (bad.path / "card.html").read_text()


def test_quick_logistic_regression_baseline_is_on_every_run(digits_run):
    lr = digits_run.metrics["baselines"]["logistic_regression"]
    assert 0.9 < lr["accuracy"] <= 1 and lr["n_train"] == digits_run.metrics["n_train"]


def test_stress_knows_which_flips_and_rotations_the_model_trained_with(digits_run, tmp_path):
    pytest.importorskip("torch")
    from trueclass.diagnostics._stress import _augment_uses

    assert _augment_uses(digits_run.model) == set()  # a pixel model trains on the images as they are
    ds = tc.load("digits")
    parts = tc.split(ds, seed=0)
    net = tc.ImageClassifier("cnn", epochs=1).fit(parts.train)  # the digits preset: small rotations, no flips
    assert _augment_uses(net) == {"rotation"}
    net.save(tmp_path / "m")
    assert _augment_uses(tc.load_model(tmp_path / "m")) == {"rotation"}  # and a loaded model remembers
    data, _ = perturbation_curves(net, parts.test, perturbations={"rotation": [20], "hflip": [1]})
    assert data["augmentations_used_in_training"] == ["rotation"]
    assert data["class_changes"]["rotation"]["used_in_training"] and not data["class_changes"]["hflip"]["used_in_training"]


def test_the_shortcut_check_covers_a_seeded_draw_of_a_large_test_set(digits_run, monkeypatch):
    # regression: past MASK_IMAGES test images (a Fashion-MNIST run's 10,000) the draw named a
    # generator that was no longer there: a NameError, caught as a failed step
    pytest.importorskip("captum")
    from trueclass.diagnostics import _explain

    monkeypatch.setattr(_explain, "MASK_IMAGES", 100)
    test = digits_run.split.test
    a = _explain.shortcut_check(digits_run.model, None, test, per_class=3, seed=4)
    b = _explain.shortcut_check(digits_run.model, None, test, per_class=3, seed=4)
    assert a["covered"]["n_images"] == 100 and a["covered"] == b["covered"]
