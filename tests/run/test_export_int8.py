"""trueclass export --int8: a statically quantized ONNX file calibrated on training images,
checked against the fp32 file on the run's held-out images, and deployed only when it
meets its targets."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import trueclass as tc
from trueclass.cli import cli
from trueclass.run import export as export_mod


@pytest.fixture(scope="module")
def int8_export(tmp_path_factory):
    run = tc.train("digits", model="cnn", params={"epochs": 3}, audit=False,
                   out=tmp_path_factory.mktemp("int8") / "cnn")
    return run, tc.export(run.path, int8=True)


def _test_images(run):
    test = run.split.test
    return (test.images.astype(np.float64) * 255 / 16).round().astype(np.uint8), test


def test_the_int8_file_is_quantized_and_its_check_is_what_onnxruntime_answers(int8_export):
    import onnx
    import onnxruntime as ort

    run, ex = int8_export
    q = ex.int8["check"]
    int8_path = run.path / "export" / "model.int8.onnx"
    assert int8_path.is_file() and ex.int8["info"]["file"] == "model.int8.onnx"
    graph = onnx.load(str(int8_path)).graph
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    assert any(t.data_type == onnx.TensorProto.INT8 for t in graph.initializer)  # the weights are int8
    # the checked numbers are the files' own answers on the held-out images
    x, test = _test_images(run)
    classes = [str(c) for c in run.model.classes_]
    y = np.array([classes.index(str(t)) for t in test.labels])
    preds = {}
    for k, p in (("fp32", ex.path), ("int8", int8_path)):
        s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        preds[k] = s.run(["probabilities"], {"image": x})[0].argmax(1)
        assert q["accuracy"][k] == pytest.approx(np.mean(preds[k] == y))
    assert q["n_images"] == len(y) == 360
    assert q["agreement"] == pytest.approx(np.mean(preds["fp32"] == preds["int8"]))
    assert q["n_flips"] == int(np.sum(preds["fp32"] != preds["int8"]))
    lo, hi = q["agreement_ci"]
    assert lo <= q["agreement"] <= hi + 1e-12
    assert q["paired"]["only_a_right"] == int(np.sum((preds["fp32"] == y) & (preds["int8"] != y)))
    assert q["bytes"]["int8"] == int8_path.stat().st_size < q["bytes"]["fp32"] == ex.path.stat().st_size
    assert q["images_per_second"]["fp32"] > 0 and q["images_per_second"]["int8"] > 0
    assert (q["deploy"] == "int8") == (q["missed"] == [])
    assert ex.deploy == (int8_path if q["deploy"] == "int8" else ex.path)
    # the metadata travel: predict and evaluate take the int8 file as they take the fp32 one
    model = tc.load_model(int8_path)
    assert [str(c) for c in model.predict(test.images)] == [classes[i] for i in preds["int8"]]


def test_exported_files_carry_no_exporter_notes_or_paths_of_this_machine(int8_export):
    import onnx

    import trueclass

    run, ex = int8_export
    source = str(Path(trueclass.__file__).parent)
    for path in (ex.path, run.path / "export" / "model.int8.onnx"):
        proto = onnx.load(str(path))
        assert not any(n.metadata_props or n.doc_string for n in proto.graph.node)
        assert not proto.graph.metadata_props
        assert source.encode() not in path.read_bytes()  # the exporter's stack traces named our files
        assert {p.key for p in proto.metadata_props} >= {"trueclass", "classes"}  # the file's own metadata stays


def test_the_calibration_images_are_training_and_validation_images_only(int8_export):
    run, _ = int8_export
    with open(run.path / "split.csv", newline="") as fh:
        part = {r["id"]: r["split"] for r in csv.DictReader(fh)}
    ids = export_mod._calibration_ids(run.path, seed=0)
    assert len(ids) == min(export_mod.CALIBRATION_IMAGES, sum(v in ("train", "val") for v in part.values()))
    assert {part[i] for i in ids} <= {"train", "val"}
    with open(run.path / "predictions.csv", newline="") as fh:
        assert not set(ids) & {r["id"] for r in csv.DictReader(fh)}
    assert ids == export_mod._calibration_ids(run.path, seed=0)  # seeded


def test_metrics_card_and_summary_show_the_int8_check(int8_export):
    run, ex = int8_export
    q = ex.int8["check"]
    m = json.loads((run.path / "metrics.json").read_text())
    assert m["export"]["int8"]["check"]["agreement"] == q["agreement"]
    assert m["export"]["int8"]["info"]["path"] == "export/model.int8.onnx"
    saved = json.loads((run.path / "export" / "parity.json").read_text())
    assert saved["int8"]["check"]["paired"] == q["paired"]
    html = (run.path / "card.html").read_text()
    assert 'id="int8-table"' in html
    assert f'data-metric="int8_agreement" data-value="{q["agreement"]}"' in html
    assert f'data-metric="int8_deploy" data-value="{q["deploy"]}"' in html
    text = ex.summary()
    assert "Int8" in text and "McNemar mid-p" in text and q["cpu"] in text
    assert ("Deploy the int8 file" in text) == (q["deploy"] == "int8")


def test_an_int8_file_that_misses_a_target_says_so_and_fp32_stays_the_one_to_deploy(int8_export, tmp_path,
                                                                                      monkeypatch):
    run, _ = int8_export
    copy = tmp_path / "run"
    shutil.copytree(run.path, copy)
    monkeypatch.setitem(export_mod.INT8_TARGETS, "min_agreement", 1.01)  # out of reach
    monkeypatch.setitem(export_mod.INT8_TARGETS, "max_size_ratio", 0.01)
    r = CliRunner().invoke(cli, ["export", str(copy), "--int8"])
    assert r.exit_code == 0, r.output
    assert "Keep the fp32 file as the one to deploy: it agrees with the fp32 file on" in r.output
    assert "of the fp32 file's size (target at most a third)" in r.output
    saved = json.loads((copy / "export" / "parity.json").read_text())
    assert saved["int8"]["check"]["deploy"] == "fp32" and len(saved["int8"]["check"]["missed"]) >= 2
    assert (copy / "export" / "model.int8.onnx").is_file()  # kept for whoever wants it, not recommended


def test_bad_int8_exports_say_why_and_leave_the_run_as_it_was(int8_export, tmp_path, monkeypatch):
    run, _ = int8_export
    copy = tmp_path / "run"
    shutil.copytree(run.path, copy)
    before = {p.name: p.read_bytes() for p in (copy / "export").iterdir()}
    metrics = (copy / "metrics.json").read_bytes()

    def broken(*a, **k):
        raise RuntimeError("no kernel for this op")

    monkeypatch.setattr("onnxruntime.quantization.quantize_static", broken)
    r = CliRunner().invoke(cli, ["export", str(copy), "--int8"])
    assert r.exit_code == 1 and "could not quantize model.onnx to int8 (no kernel for this op)" in r.output
    assert "Traceback" not in r.output
    assert {p.name: p.read_bytes() for p in (copy / "export").iterdir()} == before
    assert (copy / "metrics.json").read_bytes() == metrics
    assert not list(copy.glob(".export-*")) and not list(copy.glob(".keep-*"))


def test_a_pixel_model_is_refused_int8_with_a_sentence(tmp_path):
    run = tc.train("digits", model="logreg", audit=False, out=tmp_path / "lr")
    with pytest.raises(tc.TrueclassError, match="int8 export is for the networks and the lite0 probe; logreg"):
        tc.export(run.path, int8=True)
    assert not (run.path / "export").exists()
