"""One run configuration: config -> argv -> config for every option, config.json's
command repeats the run, --resume reads it back."""

from __future__ import annotations

import json
import shlex
from dataclasses import fields

import numpy as np
import pytest

import trueclass as tc
from trueclass.cli import config_from_argv
from trueclass.run import RunConfig
from trueclass.run.config import DEFAULT_MODEL_NAME

EVERY_OPTION = RunConfig(
    source="photos/", model="knn", params={"n_neighbors": 3, "weights": "distance", "input_size": [64, 48],
                                          "tta": "flip", "ema": 0.5, "freeze": True, "weights_file": None},
    test_size=0.3, val_size=0.15, seed=7, stratify=False, image_size="48x32", color_mode="RGB",
    data_dir="/data/sets", repeats=3, audit=False, allow_leakage=True, stress=True, shuffle_check=True,
    unknown_class=True, slice_by="camera", log=["mlflow", "tensorboard"], device="cuda:1", precision="fp16",
)


def test_every_field_differs_from_its_default_in_the_round_trip_config():
    default = RunConfig()
    assert all(getattr(EVERY_OPTION, f.name) != getattr(default, f.name) for f in fields(RunConfig)), \
        "a field of RunConfig is left at its default here, so its round trip would not be tested"


@pytest.mark.parametrize("config", [RunConfig(), EVERY_OPTION, RunConfig(image_size=(32, 48), val_size=0.0)])
def test_config_to_argv_and_back(config):
    assert config_from_argv(config.to_argv()) == config
    assert config_from_argv(shlex.split(config.command())[2:]) == config
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_presets_and_network_flags_become_parameters():
    cfg = config_from_argv(["digits", "--preset", "quick", "--epochs", "7", "--tta", "-p", "width=8"])
    assert cfg.params == {"epochs": 7, "batch_size": 256, "lr": 0.1, "tta": True, "width": 8}
    assert config_from_argv(cfg.to_argv()) == cfg
    best = config_from_argv(["fashion-mnist", "--preset", "best"])
    assert best.params == {"epochs": 30, "patience": 0, "tta": True}  # as docs/models.md gives it for Python
    assert config_from_argv(["fashion-mnist", "--preset", "best", "--epochs", "3"]).params["epochs"] == 3


def test_the_default_model_chooses_itself_from_the_data():
    from trueclass.data._dataset import to_display
    from trueclass.models._choice import choose_model, model_for_params

    digits = tc.load("digits")
    assert DEFAULT_MODEL_NAME == "auto"
    name, why = choose_model(to_display(digits.images, 16))
    assert name == "cnn" and "drawings on a plain background (8x8" in why  # the lesson's digits
    inverted = choose_model(255 - to_display(digits.images, 16))  # dark ink on white is a drawing too
    rng = np.random.default_rng(0)
    photo_like = rng.normal(120, 30, (50, 28, 28, 1)).clip(0, 255).astype(np.uint8)  # texture everywhere
    assert inverted[0] == "cnn" and choose_model(photo_like)[0] == "lite0"
    assert model_for_params({"epochs": 3}) == ("cnn", "the parameters given (epochs) are the cnn's")
    # a preset with auto is named as the preset, not as its five parameters
    from trueclass.run.config import with_preset

    assert model_for_params(with_preset("quick", {})) == ("cnn", "the preset 'quick' is a recipe for the cnn")
    assert model_for_params(with_preset("best", {"width": 8}))[1] == (
        "the preset 'best' is a recipe for the cnn, and the parameters given (width) are the cnn's")
    with pytest.raises(tc.TrueclassError, match="No one model takes the parameters C, epochs"):
        model_for_params({"epochs": 3, "C": 1.0})


def test_config_json_command_repeats_a_run_with_colour_mode_and_data_dir(make_folder, tmp_path):
    # regression: the command left out --color-mode and --data-dir
    root = make_folder({"bars": 8, "cols": 8}, size=16, color=True)
    run = tc.train(root, model="knn", color_mode="L", data_dir=str(tmp_path), image_size=12, out=tmp_path / "r")
    cfg = json.loads((run.path / "config.json").read_text())
    argv = shlex.split(cfg["command"])
    assert "--color-mode" in argv and "--data-dir" in argv and argv[:2] == ["trueclass", "train"]
    assert config_from_argv(argv[2:]) == RunConfig.from_dict(cfg)
    assert cfg["resolved"] == {"image_size": [12, 12], "color_mode": "L", "data": {
        "hash": run.dataset.hash, "n_images": 16, "classes": ["bars", "cols"]},  # what a resume checks
        "source_path": str(root.resolve())}  # and where it finds the images from another folder


def test_a_bad_setting_is_a_sentence():
    with pytest.raises(tc.TrueclassError, match="repeats must be a whole number"):
        RunConfig(repeats=0)
    with pytest.raises(tc.TrueclassError, match="color_mode must be"):
        RunConfig(color_mode="CMYK")
    with pytest.raises(tc.TrueclassError, match="train\\(\\) has no setting 'modle'; it takes model, params"):
        tc.train("digits", modle="knn")
    # a model parameter given as a setting: where it goes instead
    with pytest.raises(tc.TrueclassError, match=r"'epochs' is a parameter of model 'cnn': pass it as params=\{'epochs': 3\}"):
        tc.train("digits", epochs=3)
    with pytest.raises(tc.TrueclassError, match=r"'C' is a parameter of model 'logreg'"):
        tc.train("digits", model="logreg", C=2.0)


def test_a_setting_declared_once_reaches_the_cli_the_config_and_the_command():
    """Each run setting is declared once, in run.fields: one added there (and nowhere else)
    is an option of `trueclass train`, a field of RunConfig, part of config.json and of the
    equivalent command line, and read back by --resume's from_dict."""
    import subprocess
    import sys

    code = """
import json, shlex
from trueclass.run import fields
fields.RUN_FIELDS = fields.RUN_FIELDS + (
    fields.RunField("crop_margin", 0, "A setting that exists only in this test.", "--crop-margin", int),)
from trueclass.cli import config_from_argv, train
from trueclass.run import RunConfig
assert "--crop-margin" in [o for p in train.params for o in p.opts]
cfg = config_from_argv(["digits", "--crop-margin", "3", "--seed", "2"])
assert cfg.crop_margin == 3 and cfg.seed == 2
assert "--crop-margin" in cfg.to_argv() and "--crop-margin 3" in cfg.command()
assert config_from_argv(cfg.to_argv()) == cfg
assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
assert RunConfig().crop_margin == 0 and "--crop-margin" not in RunConfig().to_argv()
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_train_options_are_the_tables():
    from trueclass.cli import train
    from trueclass.run.fields import RUN_FIELDS

    flags = {o for p in train.params for o in p.opts}
    assert {f.flag for f in RUN_FIELDS} <= flags
    run_names = {f.name for f in fields(RunConfig)} - {"source", "params"}
    assert run_names == {f.name for f in RUN_FIELDS if f.of == "run"}


def test_a_seed_from_numpy_is_a_seed_and_a_negative_one_a_sentence():
    # regression of the seed's range check: np.int64(3) (for seed in np.arange(5)) was refused
    import numpy as np

    import trueclass as tc
    from trueclass.run.fields import RUN_FIELDS

    seed = next(f for f in RUN_FIELDS if f.name == "seed")
    seed.check(np.int64(3))
    for bad in (-1, 2**32, True, 1.5):
        with pytest.raises(tc.TrueclassError, match="seed must be a whole number of 0 to 4,294,967,295"):
            seed.check(bad)
