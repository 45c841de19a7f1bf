"""The run pipeline: metrics.json assembled once from the steps' sections, failed runs
leave nothing behind, a run never downloads what the user did not ask for, and test-time
augmentation reaches evaluate and predict."""

from __future__ import annotations

import numpy as np
import pytest

import trueclass as tc
from trueclass.run.pipeline import assemble_metrics


def test_metrics_are_assembled_from_sections_without_changing_them():
    ev = {"accuracy": 0.9, "baselines": {"chance": 0.5, "majority": 0.5}, "per_class": {}}
    run = {"dataset": {"counts_by_split": {"train": {"a": 40, "b": 40}, "test": {"a": 10, "b": 10}}}}
    sections = {"quick_baseline": {"accuracy": 0.8}, "stress": None, "diagnosis": {"verdict": "fine"}}
    before = repr((ev, run, sections))
    m = assemble_metrics(ev, run, sections)
    assert repr((ev, run, sections)) == before
    assert m["baselines"]["logistic_regression"] == {"accuracy": 0.8} and "quick_baseline" not in m
    assert m["diagnosis"] == {"verdict": "fine"} and "stress" not in m
    assert any("fewer than 30 test images" in w["message"] or "test images" in w["message"] for w in m["warnings"])


def test_a_run_that_fails_leaves_no_folder(tmp_path, monkeypatch):
    import trueclass.run.pipeline as p

    def broken(*a, **k):
        raise tc.TrueclassError("the scoring broke")

    monkeypatch.setattr(p, "score_step", broken)  # a required step (a failed check keeps the run: test_late_failures)
    with pytest.raises(tc.TrueclassError, match="scoring broke"):
        tc.train("digits", model="knn", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(tc.TrueclassError, match="not a parameter"):
        tc.train("digits", model="knn", params={"depth": 2}, out=tmp_path / "run2")
    assert not (tmp_path / "run2").exists()


def test_stress_on_digits_never_downloads_fashion_mnist(tmp_path, monkeypatch):
    # regression: the "other data set" row could download Fashion-MNIST inside a bare except
    import trueclass.data._builtin as b
    from trueclass.diagnostics._stress import _other_dataset

    monkeypatch.setattr(b, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "absent")
    monkeypatch.setenv("TRUECLASS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TRUECLASS_DATA", raising=False)

    def no_network(*a, **k):
        raise AssertionError("a run tried to download Fashion-MNIST")

    monkeypatch.setattr(b, "download_fashion_mnist", no_network)
    assert _other_dataset((8, 8, 1), "digits") is None
    run = tc.train("digits", model="knn", stress=True, out=tmp_path / "run")
    assert not any("fashion" in k for k in run.metrics["robustness"]["ood"]["kinds"])


@pytest.fixture(scope="module")
def flip_model(tmp_path_factory):
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("flip") / "run"
    tc.train("digits", model="cnn", params={"epochs": 1, "augment": "clothing", "width": 8}, out=out)
    return out


def test_evaluate_and_predict_take_flip_tta(flip_model, tmp_path):
    # regression: evaluate_run and predict_files took tta as a bool only
    from PIL import Image

    from trueclass.run import evaluate_run, predict_files

    plain = evaluate_run(flip_model, "digits", out=tmp_path / "plain")
    flip = evaluate_run(flip_model, "digits", out=tmp_path / "flip", tta="flip")
    assert flip.model.get_params()["tta"] == "flip" and flip.metrics["n_test"] == plain.metrics["n_test"]
    assert not np.allclose(flip.evaluation.probs, plain.evaluation.probs)  # flips were averaged in
    img = tmp_path / "d.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(img)
    rows, _ = predict_files(flip_model, [img], tta="flip")
    assert len(rows) == 1
    with pytest.raises(tc.TrueclassError, match="tta must be False, True or 'flip'"):
        predict_files(flip_model, [img], tta="mirror")
