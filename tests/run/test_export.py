"""trueclass export: one ONNX file with the preprocessing inside, checked on the run's own
held-out test images through the deployment code, and usable by predict and evaluate."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import trueclass as tc
from trueclass.cli import cli
from trueclass.models import load_model
from trueclass.models._onnx import read_for_onnx

DEPLOYMENT_DOC = Path(__file__).resolve().parents[2] / "docs" / "export.md"


@pytest.fixture(scope="module")
def cnn_export(tmp_path_factory):
    run = tc.train("digits", model="cnn", params={"epochs": 3}, out=tmp_path_factory.mktemp("exp") / "cnn")
    return run, tc.export(run.path)


def test_the_digits_cnn_exports_with_full_agreement_on_its_held_out_images(cnn_export):
    run, ex = cnn_export
    p = ex.parity
    assert ex.path == run.path / "export" / "model.onnx" and ex.path.is_file()
    assert p["n_images"] == run.metrics["n_test"] == 360
    ref = p["reference"]
    assert ref["precision"] == "fp32"
    assert ref["agreement"] == 1.0 and ref["n_flips"] == 0 and ref["flips"] == []
    assert ref["max_abs_diff"] < 1e-3
    assert p["onnx"]["accuracy"] == ref["accuracy"]
    assert p["same_input_pixels"]  # the deployment code read every file as trueclass reads it
    assert "written as 8-bit PNG files" in p["images_from"]
    saved = json.loads((run.path / "export" / "parity.json").read_text())
    assert saved["reference"] == ref and saved["export"]["sha256"] == ex.info["sha256"]
    assert not list(run.path.glob(".export-*"))  # the working folder is gone
    import os
    import stat

    mask = os.umask(0o022)
    os.umask(mask)
    # regression: export/ kept the private 0700 of the temporary folder it was renamed from
    assert stat.S_IMODE((run.path / "export").stat().st_mode) == 0o777 & ~mask


def test_the_card_and_metrics_show_the_parity_check(cnn_export):
    run, ex = cnn_export
    m = json.loads((run.path / "metrics.json").read_text())
    assert m["export"]["parity"]["reference"]["agreement"] == ex.parity["reference"]["agreement"]
    assert m["export"]["onnx"]["path"] == "export/model.onnx"
    html = (run.path / "card.html").read_text()
    assert 'id="parity-table"' in html and 'href="#export"' in html
    assert f'data-metric="export_max_diff" data-value="{ex.parity["reference"]["max_abs_diff"]}"' in html


def test_the_exported_file_runs_without_trueclass_and_answers_calibrated_probabilities(cnn_export):
    import onnxruntime as ort

    run, ex = cnn_export
    session = ort.InferenceSession(str(ex.path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == [str(c) for c in run.model.classes_]
    assert meta["image_size"] == "8x8" and meta["color_mode"] == "L"
    assert float(meta["temperature"]) == run.model.calibration_["temperature"]
    inp = session.get_inputs()[0]
    assert inp.name == "image" and inp.type == "tensor(uint8)" and inp.shape[1:] == [8, 8, 1]
    test = run.split.test
    x = (test.images.astype(np.float64) * 255 / 16).round().astype(np.uint8)
    cal, raw = session.run(["probabilities", "raw_probabilities"], {"image": x})
    model = load_model(run.path)
    model.estimator_.params["precision"] = "fp32"
    expected = model.predict_proba(x * (16 / 255))
    np.testing.assert_allclose(cal, expected, atol=1e-4)
    np.testing.assert_allclose(raw, model.predict_proba(x * (16 / 255), raw=True), atol=1e-4)


def test_predict_and_evaluate_take_the_exported_file(cnn_export, tmp_path):
    run, ex = cnn_export
    test = run.split.test
    files = []
    for i in range(5):
        f = tmp_path / f"d{i}.png"
        Image.fromarray((test.images[i, :, :, 0].astype(np.float64) * 255 / 16).round().astype(np.uint8)).save(f)
        files.append(str(f))
    runner = CliRunner()
    a = runner.invoke(cli, ["predict", str(ex.path), *files])
    b = runner.invoke(cli, ["predict", str(run.path), *files])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    labels = lambda out: [ln.split("\t")[1] for ln in out.splitlines() if "\t" in ln]  # noqa: E731
    assert labels(a.output) == labels(b.output) and len(labels(a.output)) == 5
    tta = runner.invoke(cli, ["predict", str(ex.path), files[0], "--tta"])
    assert tta.exit_code == 1 and "inside the graph" in tta.output and "Traceback" not in tta.output
    # evaluate: the exported file finds its run's fingerprints, so the training images stay out
    ev = runner.invoke(cli, ["evaluate", str(ex.path), "digits", "--out", str(tmp_path / "ev")])
    assert ev.exit_code == 0, ev.output
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["n_test"] == 360 and m["model"] == "onnx"
    # copied away from its run, it cannot know them, and says so
    alone = tmp_path / "alone.onnx"
    shutil.copy(ex.path, alone)
    from trueclass.run import evaluate_run

    ev2 = evaluate_run(alone, "digits", out=tmp_path / "ev2")
    assert ev2.metrics["n_test"] == 1797 and "keeps no fingerprints" in ev2.metrics["evaluated_on"]
    from trueclass.report._text import format_report_card

    # regression: its headline and card said "test images the model never saw"
    assert "on 1,797 test images (the model keeps no fingerprints, so images it trained on may be among them)" \
        in format_report_card(ev2.metrics)
    assert "never saw" not in (tmp_path / "ev2" / "card.html").read_text().split("tested on")[1].split("</p>")[0]
    clf = tc.load_model(alone)
    assert repr(clf) == "ExportedClassifier(exported from 'cnn', classes=10)"
    with pytest.raises(tc.TrueclassError, match="cannot be trained"):
        clf.fit(test)
    # a file name in place of images: the sentence names this file, not a save it cannot do
    with pytest.raises(tc.TrueclassError) as caught:
        clf.predict(files[0])
    assert f"trueclass predict {alone}" in str(caught.value) and "clf.save" not in str(caught.value)


def test_the_documented_deployment_code_reads_files_as_trueclass_does(cnn_export, tmp_path):
    """The deployment snippet of docs/export.md, run as written, against the file trueclass exported, on files
    that test the decoding: a large JPEG (draft decoding), an EXIF-rotated JPEG, a PNG
    with transparency, a palette PNG with a transparent colour, a grey PNG."""
    from trueclass.data._sources import read_images

    code = re.search(r"<!-- deployment -->\s*```python\n(.*?)```", DEPLOYMENT_DOC.read_text(), re.S)
    assert code, "the deployment snippet of docs/export.md is marked <!-- deployment -->"
    src = code.group(1)
    run, ex = cnn_export
    rng = np.random.default_rng(0)
    files = []
    big = Image.fromarray(rng.integers(0, 256, (400, 300, 3), dtype=np.uint8))
    big.save(tmp_path / "big.jpg", quality=90)
    files.append(tmp_path / "big.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    big.save(tmp_path / "rotated.jpg", exif=exif)
    files.append(tmp_path / "rotated.jpg")
    rgba = Image.fromarray(rng.integers(0, 256, (30, 20, 4), dtype=np.uint8), "RGBA")
    rgba.save(tmp_path / "alpha.png")
    files.append(tmp_path / "alpha.png")
    pal = Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8), "L").convert("P")
    pal.info["transparency"] = 0
    pal.save(tmp_path / "palette.png", transparency=0)
    files.append(tmp_path / "palette.png")
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), "L").save(tmp_path / "grey.png")
    files.append(tmp_path / "grey.png")
    # regression: 16-bit PNGs were clipped to white by Pillow's convert (a walk-through's photos flipped)
    Image.fromarray(rng.integers(0, 65536, (12, 10), dtype=np.uint16)).save(tmp_path / "deep.png")
    files.append(tmp_path / "deep.png")
    for f in files:
        scope: dict = {}
        exec(compile(src.replace("runs/digits-cnn/export/model.onnx", str(ex.path))  # noqa: S102 - our docs
                     .replace("my_digit.png", str(f)), "docs/export.md", "exec"), scope)
        ours, _, _ = read_images([str(f)], (8, 8), "L")
        np.testing.assert_array_equal(scope["read_image"](str(f)), ours[0], err_msg=f.name)
        np.testing.assert_array_equal(read_for_onnx(f, 8, 8, "L"), ours[0], err_msg=f.name)
        assert scope["probs"].shape == (10,)
    # the colour path too
    ours, _, _ = read_images([str(f) for f in files], (24, 32), "RGB")
    for f, arr in zip(files, ours):
        np.testing.assert_array_equal(read_for_onnx(f, 32, 24, "RGB"), arr, err_msg=f.name)


@pytest.mark.parametrize("model", ["logreg", "knn", "svm", "forest"])
def test_every_pixel_model_exports_through_skl2onnx(model, tmp_path):
    params = {"n_estimators": 30} if model == "forest" else {}
    run = tc.train("digits", model=model, params=params, audit=False, out=tmp_path / model)
    ex = tc.export(run)
    ref = ex.parity["reference"]
    assert ex.info["exporter"].startswith("skl2onnx")
    assert ref["agreement"] == 1.0 and ref["max_abs_diff"] < 1e-3, ref
    assert "default" not in ex.parity  # pixel models have no other precision to compare with


def test_bad_exports_say_why_and_leave_nothing(cnn_export, tmp_path, monkeypatch):
    run, _ = cnn_export
    runner = CliRunner()
    not_run = tmp_path / "empty"
    not_run.mkdir()
    r = runner.invoke(cli, ["export", str(not_run)])
    assert r.exit_code == 1 and "is not a finished training run" in r.output and "Traceback" not in r.output
    assert list(not_run.iterdir()) == []
    r = runner.invoke(cli, ["export", str(tmp_path / "nowhere")])
    assert r.exit_code == 1 and "No such run folder" in r.output
    r = runner.invoke(cli, ["export", str(run.path), "--format", "tflite"])
    assert r.exit_code == 2 and "tflite" in r.output
    with pytest.raises(tc.TrueclassError, match="format must be one of 'onnx'"):
        tc.export(run.path, "tflite")
    # a failure half-way (here, in the parity check) leaves the earlier export and the card as they were
    before = {p.name: p.read_bytes() for p in (run.path / "export").iterdir()}
    metrics = (run.path / "metrics.json").read_bytes()

    def broken(*a, **k):
        raise tc.TrueclassError("the parity check broke")

    monkeypatch.setattr("trueclass.run.export.parity_check", broken)
    with pytest.raises(tc.TrueclassError, match="broke"):
        tc.export(run.path)
    assert {p.name: p.read_bytes() for p in (run.path / "export").iterdir()} == before
    assert (run.path / "metrics.json").read_bytes() == metrics
    assert not list(run.path.glob(".export-*"))


def test_a_run_whose_folder_source_moved_says_so(make_folder, tmp_path):
    root = make_folder({"bars": 12, "cols": 12, "squares": 12})
    run = tc.train(str(root), model="logreg", audit=False, out=tmp_path / "run")
    moved = tmp_path / "moved"
    root.rename(moved)
    with pytest.raises(tc.TrueclassError, match="cannot be loaded here"):
        tc.export(run.path)
    assert not (run.path / "export").exists()
    root.parent.mkdir(exist_ok=True)
    moved.rename(root)
    ex = tc.export(run.path)  # the folder is back: its own files are checked
    assert ex.parity["images_from"].startswith("the original files")
    assert ex.parity["reference"]["agreement"] == 1.0


@pytest.mark.slow
def test_a_pretrained_photo_model_exports_with_full_agreement(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from photo_sets import build

    folder = build(tmp_path / "photos", per_class=25)
    run = tc.train(str(folder), model="lite0", out=tmp_path / "run")
    ex = tc.export(run)
    ref = ex.parity["reference"]
    assert ref["agreement"] == 1.0 and ref["max_abs_diff"] < 1e-3, ref
    assert ex.parity["images_from"].startswith("the original files")  # JPEG crops read by the snippet
    assert ex.parity["same_input_pixels"]


def test_a_cnn_with_flip_and_shift_tta_exports_the_same_ten_views(tmp_path):
    # the ONNX graph averages over the same views as PyTorch (training.tta_views): a net
    # trained with flips and tta=True predicts from the image, its mirror and their 1-pixel shifts
    run = tc.train("digits", model="cnn", params={"epochs": 1, "width": 8, "tta": True, "augment": "clothing"},
                   audit=False, out=tmp_path / "tta")
    assert run.model.estimator_.tta_mode(run.model.get_params()["tta"]) == "hflip+shift"
    ref = tc.export(run).parity["reference"]
    assert ref["agreement"] == 1.0 and ref["max_abs_diff"] < 1e-3, ref
