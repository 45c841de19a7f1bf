"""Which groups a model fails (--slice-by a manifest column or a folder level) and how it
does on another distribution (evaluate MODEL OTHER), in runs, the CLI and the card."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import trueclass as tc
from trueclass import TrueclassError
from trueclass.cli import cli
from trueclass.run.why import shift_section


def _digit_png(path, img8: np.ndarray, *, noisy: bool, rng) -> None:
    a = img8[:, :, 0].astype(np.float64) * 15
    if noisy:  # a worse camera: heavy noise
        a = a + rng.normal(0, 90, a.shape)
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """800 digits as PNG files listed in a CSV with a camera column: camera "old" adds
    heavy noise; a tiny "prototype" camera has 10 images."""
    root = tmp_path_factory.mktemp("cams")
    ds = tc.load("digits")
    rng = np.random.default_rng(0)
    rows = ["path,label,camera,site"]
    for i in range(810):
        cam = "prototype" if i >= 800 else ("old" if i % 2 else "new")
        f = root / f"{i}.png"
        _digit_png(f, ds.images[i], noisy=cam == "old", rng=rng)
        rows.append(f"{f.name},{ds.classes[ds.labels[i]]},{cam},{'north' if i % 3 else 'south'}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root / "labels.csv"


def test_slice_by_a_manifest_column(manifest, tmp_path):
    run = tc.train(str(manifest), model="logreg", slice_by="camera", out=tmp_path / "r", seed=0)
    sl = run.metrics["slices"]
    by = {g["group"]: g for g in sl["groups"]}
    assert set(by) == {"new", "old", "prototype"}
    assert sum(g["n"] for g in sl["groups"]) == run.evaluation.n_test
    assert by["prototype"]["too_few"] and not by["old"]["too_few"]
    assert (sl["best"], sl["worst"]) == ("new", "old") and sl["larger_than_chance"]
    assert sl["gap"] == pytest.approx(by["new"]["accuracy"] - by["old"]["accuracy"])
    html = (run.path / "card.html").read_text()
    assert 'id="slices-table"' in html and "Accuracy by camera" in html and "too few to judge" in html
    assert json.loads((run.path / "config.json").read_text())["slice_by"] == "camera"
    assert "--slice-by camera" in run.config["command"]


def test_cli_slice_by_and_its_bad_column(manifest, tmp_path):
    res = CliRunner().invoke(cli, ["train", str(manifest), "--model", "logreg", "--slice-by", "site",
                                   "--out", str(tmp_path / "ok")])
    assert res.exit_code == 0, res.output
    assert "By site:" in res.output
    res = CliRunner().invoke(cli, ["train", str(manifest), "--model", "logreg", "--slice-by", "lens",
                                   "--out", str(tmp_path / "bad")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "has no column 'lens'" in res.output and "'camera', 'site'" in res.output
    assert not (tmp_path / "bad").exists()  # refused before any training


def test_slice_by_folder_levels(tmp_path):
    ds = tc.load("digits")
    rng = np.random.default_rng(1)
    for i in range(400):
        site = "lab" if i % 4 else "field"
        d = tmp_path / "src" / ds.classes[ds.labels[i]] / site
        d.mkdir(parents=True, exist_ok=True)
        _digit_png(d / f"{i}.png", ds.images[i], noisy=site == "field", rng=rng)
    run = tc.train(str(tmp_path / "src"), model="logreg", slice_by="folder", out=tmp_path / "r", seed=0)
    groups = {g["group"] for g in run.metrics["slices"]["groups"]}
    assert groups == {"lab", "field"}
    with pytest.raises(TrueclassError, match="no image of .* lies in a subfolder 2 level"):
        tc.train(str(tmp_path / "src"), model="logreg", slice_by="folder:2", out=tmp_path / "r2")
    assert not (tmp_path / "r2").exists()
    with pytest.raises(TrueclassError, match="'digits' has no column 'camera'; it has no columns"):
        tc.train("digits", model="logreg", slice_by="camera", out=tmp_path / "r3")


def test_evaluate_on_another_distribution(tmp_path):
    run = tc.train("digits", model="logreg", out=tmp_path / "r", seed=0)
    held = json.loads((run.path / "model" / "model.json").read_text())["held_out"]
    assert held["n"] == run.evaluation.n_test and held["right"] == run.evaluation.n_test - run.evaluation.n_wrong
    # its own source again: its own test images, not a comparison of them with themselves (+0.0 points)
    res = CliRunner().invoke(cli, ["evaluate", str(run.path), "digits", "--out", str(tmp_path / "same")])
    assert res.exit_code == 0, res.output
    assert (f"These are the run's own {run.evaluation.n_test} test images of digits, so the numbers are the run's"
            in res.output) and "Against its own test images" not in res.output
    assert 'id="shift-same"' in (tmp_path / "same" / "card.html").read_text()
    # known by the images themselves, not by the source's name and the counts: the same test
    # images in another order and another file are the run's own; the same name and counts
    # with one image changed are not
    ds = tc.load("digits")
    scored = [int(r["id"].split("/")[1]) for r in csv.DictReader(open(run.path / "predictions.csv"))]
    shuffled = np.random.default_rng(1).permutation(scored)
    np.savez(tmp_path / "own.npz", X=ds.images[shuffled], y=ds.labels[shuffled])
    res = CliRunner().invoke(cli, ["evaluate", str(run.path), str(tmp_path / "own.npz"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "These are the run's own" in res.output and "Against its own test images" not in res.output
    meta = {"held_out": held}
    ev_like = type("Ev", (), {"n_test": held["n"], "n_wrong": held["n"] - held["right"]})()
    own = ds.subset(np.asarray(scored))
    assert shift_section(meta, ev_like, own)["same_images"] is True
    own.images[0] = 16 - own.images[0]
    assert shift_section(meta, ev_like, own)["same_images"] is False
    dim = np.clip(ds.images.astype(np.float64) * 0.45 + np.random.default_rng(0).normal(0, 1.5, ds.images.shape),
                  0, 16).round().astype(np.uint8)
    np.savez(tmp_path / "dim.npz", X=dim, y=ds.labels)
    res = CliRunner().invoke(cli, ["evaluate", str(run.path), str(tmp_path / "dim.npz"), "--out", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    assert "Against its own test images" in res.output and "points" in res.output
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    sh = m["shift"]
    assert sh["own"]["n"] == run.evaluation.n_test and sh["new"]["n"] == m["n_test"]
    assert sh["difference"]["value"] == pytest.approx(m["accuracy"] - run.evaluation.accuracy)
    assert sh["difference"]["ci"][0] <= sh["difference"]["value"] <= sh["difference"]["ci"][1]
    bright = next(p for p in sh["properties"] if p["property"].startswith("brightness"))
    assert bright["new"][0] < bright["own"][0] and bright["shift_in_spreads"] < 0
    html = (tmp_path / "e" / "card.html").read_text()
    assert 'id="shift-table"' in html and 'id="shift-properties"' in html
