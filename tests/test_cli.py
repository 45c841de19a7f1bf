"""The command line: every command, and errors as one sentence with no traceback."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import trueclass as tc
from trueclass.cli import cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    res = CliRunner().invoke(cli, ["train", "digits", "--model", "logreg", "--seed", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, res


def test_train_prints_the_report_card(trained):
    out, res = trained
    m = json.loads((out / "metrics.json").read_text())
    text = res.output
    assert "Accuracy" in text and "95% CI" in text
    assert f"Wrong          {m['n_wrong']} of {m['n_test']}" in text
    top = m["most_confused"][0]
    assert f"{top['true']} read as {top['pred']}" in text
    assert f"Weakest class  {m['weakest_class']}" in text
    assert str(out) in text


def test_evaluate_on_the_source_it_was_trained_from_uses_its_test_part(trained, tmp_path):
    out, _ = trained
    res = CliRunner().invoke(cli, ["evaluate", str(out), "digits", "--out", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    train_m = json.loads((out / "metrics.json").read_text())
    assert m["n_test"] == train_m["n_test"]
    assert m["accuracy"] == train_m["accuracy"]
    assert "less 1,437 images that the model was trained or validated on" in m["evaluated_on"]
    ids = lambda p: sorted(r["id"] for r in csv.DictReader(open(p / "predictions.csv")))  # noqa: E731
    assert ids(tmp_path / "ev") == ids(out)  # the very same test images


def test_evaluate_on_another_set(trained, tmp_path):
    out, _ = trained
    from sklearn.datasets import load_digits

    d = load_digits()
    np.savez(tmp_path / "other.npz", X=d.images[:100].astype(np.uint8), y=d.target[:100], value_max=16)
    res = CliRunner().invoke(cli, ["evaluate", str(out / "model"), str(tmp_path / "other.npz"), "-o", str(tmp_path / "e2")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "e2" / "metrics.json").read_text())
    # the first 100 digits: 79 of them trained the model, so only 21 are scored (regression: all 100 were)
    assert m["n_test"] == 21 and m["n_left_out_as_seen"] == 79
    assert m["evaluated_on"].startswith("every image of the source, less 79 images that the model was trained")


def test_evaluate_in_python_of_a_loaded_run_gives_the_commands_numbers(trained, tmp_path):
    # regression: tc.load_model kept no fingerprints and no review threshold: Python scored all
    # 100 images at the threshold 0.5 where the command scored 21 at the run's own
    out, _ = trained
    from sklearn.datasets import load_digits

    d = load_digits()
    np.savez(tmp_path / "other.npz", X=d.images[:100].astype(np.uint8), y=d.target[:100], value_max=16)
    res = CliRunner().invoke(cli, ["evaluate", str(out), str(tmp_path / "other.npz"), "-o", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    ev = tc.evaluate(tc.load_model(out), str(tmp_path / "other.npz"))
    assert ev.n_test == m["n_test"] == 21 and ev.extra["n_left_out_as_seen"] == 79
    assert ev.flagged["threshold"] == m["flagged"]["threshold"] != 0.5 and ev.flagged["n"] == m["flagged"]["n"]
    assert ev.threshold_source == m["flagged"]["chosen_on"] and ev.accuracy == m["accuracy"]


def test_predict_images_and_folder(trained, tmp_path):
    out, _ = trained
    from sklearn.datasets import load_digits

    d = load_digits()
    folder = tmp_path / "mine"
    folder.mkdir()
    for i in range(4):
        Image.fromarray((d.images[i] * 255 / 16).astype(np.uint8)).resize((32, 32)).save(folder / f"d{i}.png")
    (folder / "notes.txt").write_text("x")
    # a frame saved without an extension is an image, as training reads it (by content): it
    # was skipped as "not an image file name", where `trueclass train` trained on it
    Image.fromarray((d.images[4] * 255 / 16).astype(np.uint8)).resize((32, 32)).save(folder / "frame5", format="PNG")
    res = CliRunner().invoke(cli, ["predict", str(out), str(folder), "--top-k", "2", "--csv", str(tmp_path / "p.csv")])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert len(rows) == 6  # five images, and the note that was skipped, with the reason training gives
    assert [r["skipped"] for r in rows if r["label"] == ""] == ["not an image (or an unknown format)"]
    assert "5 images predicted" in res.output and "listed in" in res.output
    assert all(len(r["top_k"].split("|")) == 2 for r in rows if not r["skipped"])
    by_file = {r["file"].split("/")[-1]: r["label"] for r in rows}
    assert sum(by_file[f"d{i}.png"] == str(d.target[i]) for i in range(4)) >= 3
    assert "notes.txt: not an image (or an unknown format)" in res.output


def test_predict_with_no_readable_image(trained, tmp_path):
    out, _ = trained
    (tmp_path / "x.png").write_bytes(b"")
    res = CliRunner().invoke(cli, ["predict", str(out), str(tmp_path / "x.png")])
    assert res.exit_code == 1
    assert "None of the given files could be read" in res.output
    assert "empty file" in res.output


def test_datasets_and_models_commands():
    res = CliRunner().invoke(cli, ["datasets"])
    assert res.exit_code == 0 and "digits" in res.output and "fashion-mnist" in res.output
    res = CliRunner().invoke(cli, ["models"])
    assert res.exit_code == 0
    assert [line.split()[0] for line in res.output.strip().splitlines()] == [
        "auto", "logreg", "knn", "svm", "forest", "cnn", "lite0", "timm:<name>"]
    res = CliRunner().invoke(cli, ["models", "zzz*"])
    assert res.exit_code == 1 and "No registered model matches" in res.output


def test_models_are_listed_in_one_order_whatever_was_imported_first():
    code = "import trueclass.models._torch; from trueclass.models import list_models; print(list_models())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "['logreg', 'knn', 'svm', 'forest', 'cnn', 'lite0', 'timm:<name>']"


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "no/such/folder"], "No such file or folder: 'no/such/folder'"),
        (["train", "digits", "--model", "resnet"], "There is no model named 'resnet'"),
        (["train", "digits", "--test-size", "2"], "test_size must be a fraction"),
        (["train", "digits", "-p", "C"], "--param takes KEY=VALUE"),
        (["evaluate", "nowhere", "digits"], "No such model folder"),
        (["train", "digits", "-p", "tta=mirror"], "tta must be False, True or 'flip', not 'mirror'"),
    ],
)
def test_errors_are_sentences_not_tracebacks(args, message, tmp_path):
    res = subprocess.run([sys.executable, "-m", "trueclass.cli", *args], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert res.returncode == 1
    assert message in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert not (tmp_path / "runs").exists()  # refused before any run folder was made


def test_import_and_help_stay_light():
    code = ("import sys, trueclass, trueclass.cli; from trueclass.cli import cli; "
            "heavy = [m for m in ('sklearn', 'matplotlib', 'torch', 'scipy') if m in sys.modules]; print(heavy)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "[]", res.stdout + res.stderr
    res = subprocess.run([sys.executable, "-m", "trueclass.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "train" in res.stdout and "predict" in res.stdout


def test_network_options_reach_the_model(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "q"
    res = CliRunner().invoke(cli, ["train", "digits", "--preset", "quick", "--augment", "text",
                                   "-p", "width=8", "--tta", "--out", str(out)])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["params"]["epochs"] == 5 and cfg["params"]["batch_size"] == 256 and cfg["params"]["lr"] == 0.1 and cfg["params"]["tta"] is True
    assert cfg["params"]["width"] == 8  # -p overrides the preset's width 16
    assert cfg["resolved"]["augment_used"]["name"] == "text" and cfg["resolved"]["augment_used"]["hflip"] is False
    history = list(csv.DictReader(open(out / "history.csv")))
    assert len(history) == 5 and float(history[-1]["val_accuracy"]) > 0.5
    assert "5 epochs on" in res.output


def test_library_messages_name_parameters_and_the_cli_names_its_flags(make_folder, tmp_path):
    root = make_folder({"a": 6, "b": 6, "c": 1})
    with pytest.raises(tc.TrueclassError, match=r"\(stratify=False\)"):
        tc.train(root, model="knn", out=tmp_path / "py")
    res = CliRunner().invoke(cli, ["train", str(root), "--model", "knn", "--out", str(tmp_path / "cli")])
    assert res.exit_code == 1 and "(--no-stratify)" in res.output and "stratify=False" not in res.output
    assert not (tmp_path / "py").exists() and not (tmp_path / "cli").exists()


def test_models_finds_words_and_points_to_timm():
    res = CliRunner().invoke(cli, ["models", "timm"])
    assert res.exit_code == 0 and "timm:<name>" in res.output
    res = CliRunner().invoke(cli, ["models", "resnet"])
    assert res.exit_code == 1 and "timm:resnet18" in res.output
    res = CliRunner().invoke(cli, ["train", "digits", "--model", "svn"])
    assert res.exit_code == 1 and "Did you mean 'svm'?" in res.output and "timm:<name>" in res.output
    # a timm family is timm's (it was "Did you mean 'forest'?"), scikit-learn's class names are ours
    for typed, meant in (("resnet", "timm:resnet18"), ("LogisticRegression", "logreg"), ("SVC", "svm"),
                         ("KNeighborsClassifier", "knn"), ("RandomForestClassifier", "forest")):
        res = CliRunner().invoke(cli, ["train", "digits", "--model", typed])
        assert res.exit_code == 1 and f"Did you mean '{meant}'?" in res.output, (typed, res.output)


def test_parameter_values_are_checked_before_anything_runs(tmp_path):
    # regression: -p n_neighbors=abc ended in a TypeError traceback, --epochs 0 trained nothing
    res = CliRunner().invoke(cli, ["train", "digits", "--model", "knn", "-p", "n_neighbors=abc", "--out",
                                   str(tmp_path / "r")])
    assert res.exit_code == 1 and "n_neighbors of model 'knn' must be a whole number; got 'abc'" in res.output
    res = CliRunner().invoke(cli, ["train", "digits", "--epochs", "0", "--out", str(tmp_path / "r")])
    assert res.exit_code == 1 and "epochs must be 1 or more" in res.output
    assert not (tmp_path / "r").exists()
    res = CliRunner().invoke(cli, ["train", "digits", "--model", "cnn", "-p", "lookahead=-2", "--out", str(tmp_path / "r")])
    assert res.exit_code == 1 and "lookahead is a number of steps (0 = off, 5 is usual); got -2" in res.output
    assert not (tmp_path / "r").exists()
    res = CliRunner().invoke(cli, ["train", "digits", "--model", "svm", "-p", "gamma=0.01", "-p", "C=3",
                                   "--no-audit", "--out", str(tmp_path / "ok")])
    assert res.exit_code == 0, res.output  # a number where the default is a word ('scale') is fine
    params = json.loads((tmp_path / "ok" / "model" / "model.json").read_text())["params"]
    assert params["gamma"] == 0.01 and params["C"] == 3


def test_predict_an_empty_folder_is_one_sentence(trained, tmp_path):
    out, _ = trained
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(cli, ["predict", str(out), str(tmp_path / "empty")])
    assert res.exit_code == 1 and f"No image files were found in {str(tmp_path / 'empty')!r}." in res.output
    assert "0 images predicted" not in res.output
    # a file of the run in place of the run: named as a file, with the run folder to give
    res = CliRunner().invoke(cli, ["predict", str(out / "metrics.json"), str(tmp_path / "empty")])
    assert res.exit_code == 1 and f"{str(out / 'metrics.json')!r} is a file, not a trueclass model: give the folder " \
        f"that holds model.json, or the run folder around it ({str(out)!r}, if it is one)" in res.output
    res = CliRunner().invoke(cli, ["compare", str(out), str(tmp_path / "empty")])
    assert res.exit_code == 1 and "or, in Python, Run or Evaluation objects" in res.output


def test_every_door_names_every_kind_of_source():
    # train --help, `trueclass datasets` and the missing-path error left out archives, Parquet and WebDataset
    from trueclass.data import SOURCE_KINDS

    kinds = ["class subfolders", "train/ and test/", ".zip or .tar", ".csv manifest", ".npz", "Parquet", "WebDataset",
             "idx:IMAGES,LABELS"]
    assert all(k in SOURCE_KINDS for k in kinds)
    texts = {"help": CliRunner().invoke(cli, ["train", "--help"]).output,
             "datasets": CliRunner().invoke(cli, ["datasets"]).output,
             "missing": CliRunner().invoke(cli, ["train", "no/such/folder"]).output}
    for door, text in texts.items():
        flat = " ".join(text.split())
        assert all(k in flat for k in kinds), (door, text)


def test_a_preset_is_the_same_recipe_from_python_and_the_command_line(monkeypatch):
    # tc.train(preset="quick") was "train() has no setting 'preset'"
    import trueclass.run.pipeline as pipeline
    from trueclass.cli import config_from_argv

    seen = []
    monkeypatch.setattr(pipeline, "run_training", lambda config, **k: seen.append(config))
    for preset in ("quick", "best"):
        tc.train("digits", preset=preset, seed=1)
        assert seen[-1] == config_from_argv(["digits", "--preset", preset, "--seed", "1"])
    tc.train("digits", preset="quick", params={"epochs": 2})  # a value given wins over the preset's
    assert seen[-1].params["epochs"] == 2 and seen[-1].params["width"] == 16
    with pytest.raises(tc.TrueclassError, match="There is no preset 'fast'; choose 'default', 'quick', 'best'"):
        tc.train("digits", preset="fast")
    with pytest.raises(tc.TrueclassError, match="A time_budget chooses the recipe itself; leave out preset=NAME"):
        tc.train("digits", preset="quick", params={"time_budget": "1m"})
    r = CliRunner().invoke(cli, ["train", "digits", "--preset", "quick", "--time-budget", "1m"])
    assert r.exit_code == 1 and "--time-budget chooses the recipe itself; leave out --preset." in r.output


def test_the_preset_choices_are_the_recipes():
    # --preset's choices are written out so that `trueclass --help` needs no torch import;
    # they must stay the recipes' names
    from trueclass.cli import train
    from trueclass.models import RECIPES

    option = next(p for p in train.params if p.name == "recipe")
    assert list(option.type.choices) == list(RECIPES)
