"""trueclass predict MODEL FOLDER --csv OUT streams: chunks, rows as they come, and a
stopped run goes on where it left off."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import trueclass as tc
from trueclass.cli import cli
from trueclass.run import predict_to_csv


@pytest.fixture(scope="module")
def model_and_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    run = tc.train("digits", model="logreg", audit=False, out=root / "run")
    ds = tc.load("digits")
    folder = root / "images"
    folder.mkdir()
    for i in range(230):
        img = (ds.images[i, :, :, 0].astype(np.float64) * 255 / 16).round().astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:04d}.png")
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / ".hidden.png").write_bytes(b"x")
    return run.path, folder


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_stopped_prediction_goes_on_where_it_left_off(model_and_folder, tmp_path):
    model, folder = model_and_folder
    whole = tmp_path / "whole.csv"
    c = predict_to_csv(model, [folder], whole, chunk=50)
    assert c["predicted"] == 230 and c["skipped"] == 1 and not (tmp_path / "whole.csv.progress.json").exists()
    expected = read(whole)
    assert len(expected) == 232  # every file asked about has its row: 230 images, a broken file, a hidden one
    assert {r["skipped"] for r in expected if not r["label"]} == {"hidden file or folder",
                                                                  "not an image (or an unknown format)"}

    out = tmp_path / "stopped.csv"
    seen = []

    def stop_after_two_chunks(rows):
        seen.append(len(rows))
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_to_csv(model, [folder], out, chunk=50, on_rows=stop_after_two_chunks)
    assert (tmp_path / "stopped.csv.progress.json").is_file()
    partial = read(out)
    assert 0 < len(partial) < 232  # rows were written as they came
    with open(out, "a") as fh:
        fh.write(str(folder / "0199.png") + ",7,0.9")  # a row cut off by a kill: written again
    c = predict_to_csv(model, [folder], out, chunk=50)
    assert c["resumed_with"] == len(partial) and c["predicted"] + len([r for r in partial if r["label"]]) == 230
    assert read(out) == expected  # the same rows, each file once, as an uninterrupted run
    assert not (tmp_path / "stopped.csv.progress.json").exists()


def test_another_model_starts_the_csv_over(model_and_folder, tmp_path):
    model, folder = model_and_folder
    out = tmp_path / "p.csv"
    out.write_text("file,label,confidence,top_k,flagged,skipped\nx.png,1,0.5,,False,\n")
    (tmp_path / "p.csv.progress.json").write_text('{"model": "another"}')
    c = predict_to_csv(model, [folder], out, chunk=100)
    assert c["resumed_with"] == 0 and len(read(out)) == 232


@pytest.mark.parametrize("marker", ["", '{"model": ', "[1, 2]"])
def test_an_unreadable_progress_file_starts_the_csv_over(model_and_folder, tmp_path, marker):
    """A marker cut off (a crash while it was written; under torchrun another process once
    read it half-written) or edited is a fresh start, not a traceback."""
    model, folder = model_and_folder
    out = tmp_path / "p.csv"
    out.write_text("file,label,confidence,top_k,flagged,skipped\nx.png,1,0.5,,False,\n")
    (tmp_path / "p.csv.progress.json").write_text(marker)
    c = predict_to_csv(model, [folder], out, chunk=100)
    assert c["resumed_with"] == 0 and len(read(out)) == 232
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]


def test_the_cli_streams_into_the_csv_and_says_how_it_went(model_and_folder, tmp_path):
    model, folder = model_and_folder
    r = CliRunner().invoke(cli, ["predict", str(model), str(folder), "--csv", str(tmp_path / "o.csv")])
    assert r.exit_code == 0, r.output
    assert "230 images predicted" in r.output and "broken.png" in r.output
    assert len(read(tmp_path / "o.csv")) == 232


def test_parts_left_by_a_stopped_torchrun_run_are_gone_on_from_and_merged(model_and_folder, tmp_path):
    """A torchrun prediction stopped after each process wrote some rows to its part file,
    continued by one process: every file once, in order, as an uninterrupted run."""
    model, folder = model_and_folder
    whole = tmp_path / "whole.csv"
    predict_to_csv(model, [folder], whole, chunk=50)
    expected = read(whole)
    out = tmp_path / "p.csv"
    images = [r for r in expected if r["label"]]
    header = "file,label,confidence,top_k,flagged,skipped\n"
    out.write_text(header + "".join(f"{r['file']},,,,,{r['skipped']}\n" for r in expected if not r["label"]))
    (tmp_path / "p.csv.progress.json").write_text(
        '{"model": "%s", "csv": "p.csv"}' % tc.load_model(model).metadata_["weights"]["sha256"])

    def part_text(rows):
        return header + "".join(",".join(r[c] for c in ("file", "label", "confidence", "top_k", "flagged", "skipped"))
                                + "\n" for r in rows)

    (tmp_path / "p.csv.part-0-of-2.csv").write_text(part_text(images[:40]))
    (tmp_path / "p.csv.part-1-of-2.csv").write_text(part_text(images[115:150]) + str(images[150]["file"]) + ",3")
    c = predict_to_csv(model, [folder], out, chunk=50)
    assert c["resumed_with"] == 2 + 40 + 35 and c["predicted"] == 230 - 75
    assert read(out) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "whole.csv"]  # parts and marker gone


def test_several_processes_need_a_csv(model_and_folder):
    model, folder = model_and_folder
    r = CliRunner().invoke(cli, ["predict", str(model), str(folder), "--nproc", "2"])
    assert r.exit_code == 1 and "writes its rows to one CSV file; add --csv OUT" in r.output


def test_a_csv_it_cannot_write_is_refused_before_the_processes_start(model_and_folder, tmp_path, monkeypatch):
    import trueclass.cli as cli_mod

    model, folder = model_and_folder
    (tmp_path / "notes.txt").write_text("keep me")
    monkeypatch.setattr(cli_mod, "_launch_torchrun", lambda n: (_ for _ in ()).throw(AssertionError("launched")))
    r = CliRunner().invoke(cli, ["predict", str(model), str(folder), "--nproc", "2", "--csv",
                                 str(tmp_path / "notes.txt" / "p.csv")])
    assert r.exit_code == 1 and "cannot create the folder of the predictions CSV" in r.output, r.output


def test_a_threshold_outside_0_to_1_is_a_sentence_in_both_doors(model_and_folder, tmp_path):
    # 1.5 flagged every answer with a bare REVIEW, -2 none
    model, folder = model_and_folder
    for bad in ("1.5", "-2"):
        r = CliRunner().invoke(cli, ["predict", str(model), str(folder / "0001.png"), "--threshold", bad])
        assert r.exit_code == 1 and "Traceback" not in r.output
        assert f"The threshold is a confidence from 0 to 1 (answers below it are flagged for a human); got {bad}." in r.output
    with pytest.raises(tc.TrueclassError, match="got 1.5"):
        tc.run.predict_files(model, [folder / "0001.png"], threshold=1.5)
    with pytest.raises(tc.TrueclassError, match="got -2"):
        predict_to_csv(model, [folder], tmp_path / "p.csv", threshold=-2)
    assert not list(tmp_path.iterdir())
    rows, _ = tc.run.predict_files(model, [folder / "0001.png"], threshold=1.0)  # the ends are allowed
    assert rows[0]["flagged"]


@pytest.mark.slow
def test_two_processes_predict_their_shares_into_one_csv(model_and_folder, tmp_path):
    import os
    import subprocess
    import sys

    model, folder = model_and_folder
    one = tmp_path / "one.csv"
    predict_to_csv(model, [folder], one)
    out = tmp_path / "two.csv"
    cmd = [sys.executable, "-m", "trueclass", "predict", str(model), str(folder), "--csv", str(out), "--nproc", "2"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert res.returncode == 0, res.stderr[-3000:]
    assert "230 images predicted" in res.stderr and res.stderr.count("images predicted") == 1  # rank 0 reports
    assert read(out) == read(one)  # every file scored once, in the files' order, as by one process
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.csv", "two.csv"]
