"""A late step never costs the trained model: a failure in a check or diagnostic after
training (or in writing the card) is reported in metrics.json, on the card, in the
report card, by a Python warning and by `trueclass train`'s exit status 3, and the run
is kept; a failure in a required step still leaves no folder. `trueclass export` and
`trueclass stress` leave a run as it was when they fail."""

from __future__ import annotations

import dataclasses
import importlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import trueclass as tc
from trueclass.report._text import failed_steps
from trueclass.cli import EXIT_INCOMPLETE, cli
from trueclass.run import stress_run
from trueclass.run.config import source_path
from trueclass.run.pipeline import OPTIONAL_STEPS, IncompleteRunWarning

#: 300 of the digits (60 test images): a knn run on them takes a few seconds, most of it the card.
N_IMAGES = 300
BASE = {"model": "knn", "audit": False, "seed": 0}

#: step -> (module, function planted with the failure, settings under which the step runs)
PLANTED = {
    "quick_baseline": ("trueclass.diagnostics.sanity", "quick_baseline", {}),
    "diagnosis": ("trueclass.evaluation._diagnosis", "training_verdict", {}),
    "audit": ("trueclass.checks._audit", "find_label_issues", {"audit": True}),  # the label-issue step
    "shuffle_check": ("trueclass.diagnostics.sanity", "shuffled_label_check", {"shuffle_check": True}),
    "stress": ("trueclass.diagnostics._explain", "shortcut_check", {"stress": True}),
    "explanations": ("trueclass.diagnostics._explain", "explain_images", {}),
    "slices": ("trueclass.evaluation._groups", "slice_report", {"slice_by": "pen"}),
    "repeats": ("trueclass.diagnostics.stability", "repeat_runs", {"repeats": 2}),
    "card": ("trueclass.report._card", "build_card", {}),
    "trackers": ("trueclass.run.trackers", "_tensorboard", {"log": "tensorboard"}),
}
#: what each step adds to metrics.json (and what its failure leaves out)
SECTION = {"quick_baseline": None, "diagnosis": "diagnosis", "audit": "audit", "shuffle_check": "sanity",
           "stress": "robustness", "explanations": "explanations", "slices": "slices", "repeats": "stability",
           "card": None, "trackers": "trackers"}
#: files a step writes into the run folder, gone when it failed
WRITES = {"audit": ["audit.json", "audit.npz"], "stress": ["stress.json", "stress"], "explanations": ["explain"],
          "trackers": ["tensorboard"]}


@pytest.fixture(scope="module")
def digits() -> tc.Dataset:
    """300 digits with a manifest-like column (for slices)."""
    ds = tc.load("digits")
    sub = ds.subset(np.sort(np.random.default_rng(0).choice(len(ds), N_IMAGES, replace=False)))
    pens = np.where(np.arange(N_IMAGES) % 2 == 0, "blue", "black").reshape(-1, 1)
    return dataclasses.replace(sub, provenance={**sub.provenance, "image_column_names": ["pen"],
                                                "image_columns": pens})


@pytest.fixture(scope="module")
def references(digits, tmp_path_factory):
    """The same runs without a failure, made once for the settings that need one."""
    made: dict[bool, tc.Run] = {}

    def of(audit: bool) -> tc.Run:
        if audit not in made:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                made[audit] = tc.train(digits, **{**BASE, "audit": audit}, out=tmp_path_factory.mktemp("ref") / "run")
            made[audit].caught = [w.category for w in caught]  # type: ignore[attr-defined]
        return made[audit]

    return of


def plant(monkeypatch, module: str, name: str, exc: type[BaseException] = RuntimeError) -> list[int]:
    """Make ``module.name`` raise ``exc`` and count its calls, so a test knows the step ran."""
    calls: list[int] = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise exc(f"planted in {name}\nsecond line")

    home = importlib.import_module(module)
    face = importlib.import_module(module.rsplit(".", 1)[0])  # the package's face, where callers find it
    if getattr(face, name, None) is getattr(home, name):
        monkeypatch.setattr(face, name, broken)
    monkeypatch.setattr(home, name, broken)
    return calls


def test_every_optional_step_is_planted():
    assert set(PLANTED) == set(OPTIONAL_STEPS)


@pytest.mark.parametrize("step", list(PLANTED))
def test_a_failed_step_keeps_the_run_and_says_so(step, digits, references, tmp_path, monkeypatch):
    module, name, settings = PLANTED[step]
    ref = references(settings.get("audit", False))
    real_build_card = importlib.import_module("trueclass.report._card").build_card
    calls = plant(monkeypatch, module, name)
    out = tmp_path / "run"
    with pytest.warns(IncompleteRunWarning, match=f"{step.replace('_', ' ')} failed \\(RuntimeError: planted in "
                                                  f"{name} second line\\)"):
        run = tc.train(digits, **{**BASE, **settings}, out=out)
    assert calls, f"the planted {module}.{name} was never called: the test proves nothing"

    # the run is kept, whole: model, predictions, metrics, the split and the config
    for f in ("model/model.json", "predictions.csv", "metrics.json", "split.csv", "config.json",
              "evaluation.npz"):
        assert (out / f).is_file(), f
    assert run.path == out and not (out / "checkpoint.safetensors").exists()
    m = json.loads((out / "metrics.json").read_text())
    assert m == json.loads(json.dumps(run.metrics))

    # the model and its scores are those of the same run without the failure
    assert (out / "predictions.csv").read_bytes() == (ref.path / "predictions.csv").read_bytes()
    assert (m["accuracy"], m["accuracy_ci"], m["n_test"]) == (ref.metrics["accuracy"], ref.metrics["accuracy_ci"],
                                                              ref.metrics["n_test"])
    model = tc.load_model(out)
    np.testing.assert_array_equal(model.predict(run.split.test), ref.model.predict(ref.split.test))

    # metrics.json names the step, first among the warnings
    failed = [w for w in m["warnings"] if w.get("kind") == "step_failed"]
    assert failed == [m["warnings"][0]] and failed[0]["step"] == step
    assert failed[0]["error"] == f"RuntimeError: planted in {name} second line"
    assert failed[0]["message"] == (f"The run is incomplete: {step.replace('_', ' ')} failed (RuntimeError: planted "
                                    f"in {name} second line); the model and its test scores are kept.")
    # the step's section and files are missing; the other steps' are there
    if SECTION[step]:
        assert SECTION[step] not in m
    for key in ("diagnosis", "explanations"):
        assert (key in m) == (key != step)
    assert ("logistic_regression" in m["baselines"]) == (step != "quick_baseline")
    for f in WRITES.get(step, []):
        assert not (out / f).exists(), f

    # the report card and the evidence card say so
    assert failed[0]["message"] in run.summary().splitlines()
    if step == "card":
        assert not (out / "card.html").exists() and not list(out.glob("*.part"))
        real_build_card(out)  # `trueclass card` later: the card says its first build failed
    html = (out / "card.html").read_text()
    assert 'id="incomplete"' in html and "This run is incomplete" in html
    assert f'data-step="{step}"' in html and f"RuntimeError: planted in {name} second line" in html


def test_the_command_line_exits_3_and_says_what_failed(digits, tmp_path, monkeypatch):
    source = tmp_path / "digits.npz"
    np.savez(source, X=digits.images, y=np.asarray(digits.classes)[digits.labels], value_max=digits.value_max)
    calls = plant(monkeypatch, "trueclass.diagnostics._explain", "explain_images")
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["train", str(source), "--model", "knn", "--no-audit", "--out", str(out)])
    assert calls and res.exit_code == EXIT_INCOMPLETE == 3, res.output
    assert ("The run is incomplete: explanations failed (RuntimeError: planted in explain_images second line); the "
            "model and its test scores are kept.") in res.output.splitlines()
    assert "Warning" not in res.output and "Traceback" not in res.output
    assert "Accuracy " in res.output and (out / "model" / "model.json").is_file()
    assert json.loads((out / "metrics.json").read_text())["warnings"][0]["step"] == "explanations"


def test_a_complete_run_warns_nothing(references):
    run = references(False)
    assert not any(issubclass(c, IncompleteRunWarning) for c in run.caught)
    assert not [w for w in run.metrics["warnings"] if w.get("kind") == "step_failed"]
    assert "incomplete" not in run.summary() and 'id="incomplete"' not in (run.path / "card.html").read_text()


@pytest.mark.parametrize("where", ["fit", "writing predictions.csv"])
def test_a_failed_required_step_leaves_no_folder(where, digits, tmp_path, monkeypatch):
    if where == "fit":
        calls = plant(monkeypatch, "trueclass.run.pipeline", "fit_step")
    else:  # after the model was written
        from trueclass.run.folder import RunFolder

        calls = []

        def broken(self, ev):
            calls.append(1)
            raise RuntimeError("planted in _write_predictions")

        monkeypatch.setattr(RunFolder, "_write_predictions", broken)
    with pytest.raises(RuntimeError, match="planted"):
        tc.train(digits, **BASE, out=tmp_path / "run")
    assert calls and not (tmp_path / "run").exists()


def test_ctrl_c_in_a_check_is_not_taken_for_a_failed_step(digits, tmp_path, monkeypatch):
    calls = plant(monkeypatch, "trueclass.diagnostics._explain", "explain_images", KeyboardInterrupt)
    with pytest.raises(tc.TrainingInterrupted, match=r"^Stopped after training.*Finish the run with: tc\.resume"):
        tc.train(digits, **BASE, out=tmp_path / "run")
    assert calls and not (tmp_path / "run" / "metrics.json").exists()
    assert (tmp_path / "run" / "model" / "model.json").is_file()  # the trained model is kept


def test_ctrl_c_in_a_checks_own_network_fit_stops_the_run_and_keeps_the_model(digits, tmp_path, monkeypatch):
    """The shuffled-label check trains a network: a Ctrl-C in its epochs (a TrainingInterrupted,
    with no checkpoint of its own) stopped that check as a failed step and the run went on;
    it now stops the run, keeps the trained model and says how to finish it, and the resume
    finishes it (the metrics.json written before the card does not make it 'finished')."""
    import trueclass.training._trainer as trainer

    real_fit = trainer.Trainer.fit
    fits = []

    def second_fit_stopped(self, *a, **k):
        fits.append(1)
        if len(fits) == 2:  # the check's own fit, after the model's
            raise trainer._interrupted(0, 3, 0, None)
        return real_fit(self, *a, **k)

    monkeypatch.setattr(trainer.Trainer, "fit", second_fit_stopped)
    out = tmp_path / "run"
    with pytest.raises(tc.TrainingInterrupted, match=r"^Stopped after training.*Finish the run with: tc\.resume\("
                                                      r".*, dataset=\.\.\.\) with the same Dataset"):
        tc.train(digits, model="cnn", params={"epochs": 1, "width": 8}, shuffle_check=True, audit=False, out=out)
    assert len(fits) == 2 and (out / "model" / "model.json").is_file() and not (out / "metrics.json").exists()
    monkeypatch.undo()
    # regression: without its Dataset the resume loaded all 1,797 digits by the source's name and
    # went on with them, where the run began on 300
    with pytest.raises(tc.TrueclassError, match=r"began on a Dataset given in Python \(300 images in 10 classes\), "
                                                r"which its source's name 'digits' does not load again: go on with "
                                                r"tc\.resume\(.*, dataset=\.\.\.\) with the same Dataset\.$"):
        tc.resume(out)
    run = tc.resume(out, dataset=digits)
    assert (out / "card.html").is_file() and not failed_steps(run.metrics) and run.metrics["n_train"] == 240


def test_ctrl_c_while_the_card_is_written_leaves_a_run_that_resumes(digits, tmp_path, monkeypatch):
    def stop_at_the_card(stage, done=0, total=0, **info):
        if stage.startswith("writing the evidence card"):
            raise KeyboardInterrupt

    with pytest.raises(tc.TrainingInterrupted, match="Finish the run with"):
        tc.train(digits, **BASE, out=tmp_path / "run", on_progress=stop_at_the_card)
    tc.resume(tmp_path / "run", dataset=digits)  # was refused: "already finished; there is nothing to resume"
    assert (tmp_path / "run" / "card.html").is_file()


def test_ctrl_c_while_logging_to_the_trackers_keeps_the_finished_run(digits, tmp_path, monkeypatch):
    # it removed metrics.json from a run whose card was written, and told to resume it
    calls = plant(monkeypatch, "trueclass.run.pipeline", "log_run", KeyboardInterrupt)
    out = tmp_path / "run"
    with pytest.raises(tc.TrainingInterrupted, match=r"^Stopped while logging the run to its trackers; the run "
                                                      r"itself is complete"):
        tc.train(digits, **BASE, log="tensorboard", out=out)
    assert calls and (out / "metrics.json").is_file() and (out / "card.html").is_file()
    with pytest.raises(tc.TrueclassError, match="already finished"):
        tc.resume(out)


def test_ctrl_c_before_anything_is_saved_leaves_no_half_made_folder(digits, tmp_path, monkeypatch):
    # a pixel model stopped in its fit left config.json, split.csv and an empty model/, and the
    # same command run again was refused: "already exists and is not empty"
    import trueclass.models._estimator as est

    def stopped(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(est.ImageClassifier, "fit", stopped)
    with pytest.raises(KeyboardInterrupt):
        tc.train(digits, **BASE, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    monkeypatch.undo()
    tc.train(digits, **BASE, out=tmp_path / "run")  # the same call again trains
    assert (tmp_path / "run" / "metrics.json").is_file()


# -- export and stress write into an existing run ---------------------------------------------
def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def run_copy(references, tmp_path):
    """A finished run of our own (a copy of the reference), and its files' bytes."""
    path = tmp_path / "run"
    shutil.copytree(references(False).path, path)
    return path, _snapshot(path)


def test_a_failed_parity_check_leaves_the_run_as_it_was(run_copy, monkeypatch):
    path, before = run_copy
    calls = plant(monkeypatch, "trueclass.run.export", "parity_check")
    with pytest.raises(RuntimeError, match="planted in parity_check"):
        tc.export(path)
    assert calls and _snapshot(path) == before  # model/, metrics.json, the card: byte for byte; no export/


def test_a_failed_export_after_an_earlier_one_keeps_the_earlier_one(run_copy, monkeypatch):
    path, _ = run_copy
    tc.export(path)
    before = _snapshot(path)
    assert "export/model.onnx" in before and "export" in json.loads(before["metrics.json"])
    calls = plant(monkeypatch, "trueclass.report._card", "build_card")  # after export/ and metrics.json are replaced
    with pytest.raises(RuntimeError, match="planted in build_card"):
        tc.export(path)
    assert calls and _snapshot(path) == before
    assert sorted(p.name for p in path.iterdir() if p.name.startswith(".")) == []


def test_a_failed_stress_command_leaves_the_run_as_it_was(run_copy, monkeypatch, digits):
    path, before = run_copy
    calls = plant(monkeypatch, "trueclass.report._card", "build_card")  # after stress/ and metrics.json are written
    with pytest.raises(RuntimeError, match="planted in build_card"):
        stress_run(path, digits, max_images=20)
    assert calls and _snapshot(path) == before  # no stress.json, no stress/, metrics.json and card unchanged
    assert not [p for p in path.iterdir() if p.name.startswith(".")]


# -- trueclass evaluate: the score is kept when a check after it fails ---------------------------
def test_a_failed_check_in_evaluate_keeps_the_evaluation(references, digits, tmp_path, monkeypatch):
    from trueclass.run import evaluate_run

    model = references(False).path
    source = tmp_path / "other.npz"
    other = tc.load("digits").subset(np.arange(1000, 1300))  # images the reference run never had
    np.savez(source, X=other.images, y=np.asarray(other.classes)[other.labels], value_max=other.value_max)
    calls = plant(monkeypatch, "trueclass.diagnostics._explain", "explain_images")
    with pytest.warns(IncompleteRunWarning, match="explanations failed"):
        run = evaluate_run(model, str(source), out=tmp_path / "ev")
    assert calls and (run.path / "predictions.csv").is_file() and (run.path / "card.html").is_file()
    assert not (run.path / "explain").exists() and "explanations" not in run.metrics
    assert [w["step"] for w in run.metrics["warnings"] if w.get("kind") == "step_failed"] == ["explanations"]
    res = CliRunner().invoke(cli, ["evaluate", str(model), str(source), "--out", str(tmp_path / "ev2")])
    assert res.exit_code == EXIT_INCOMPLETE, res.output
    assert "The run is incomplete: explanations failed" in res.output and "Traceback" not in res.output


def test_a_run_begun_on_arrays_says_to_resume_it_with_its_dataset(tmp_path):
    # regression: the resume failed in the loader ("No such file or folder: 'arrays'"), and the
    # same call again pointed to tc.resume(dir) without the Dataset
    from sklearn.datasets import load_digits

    d = load_digits()
    ds = tc.load((d.images[:300], d.target[:300]))

    def stop_in_epoch_2(stage, done=0, total=0, **info):
        if stage.startswith("epoch 2/"):
            raise KeyboardInterrupt

    out = tmp_path / "run"
    with pytest.raises(tc.TrainingInterrupted, match=r"Finish the run with: tc\.resume\(.*, dataset=\.\.\.\) with "
                                                      r"the same Dataset"):
        tc.train(ds, model="cnn", params={"epochs": 2, "width": 8}, audit=False, out=out, on_progress=stop_in_epoch_2)
    said = r"go on with tc\.resume\('.*run', dataset=\.\.\.\) with the same Dataset"
    with pytest.raises(tc.TrueclassError, match=r"began on a Dataset given in Python \(300 images in 10 classes\), "
                                                r"which its source's name 'arrays' does not load again: " + said):
        tc.resume(out)
    with pytest.raises(tc.TrueclassError, match=r"holds a stopped run: " + said):
        tc.train(ds, model="cnn", params={"epochs": 2, "width": 8}, audit=False, out=out)
    res = CliRunner().invoke(cli, ["train", "--resume", str(out)])
    assert res.exit_code == 1 and "began on a Dataset given in Python" in res.output, res.output
    assert tc.resume(out, dataset=ds).metrics["training"]["resumed_from_epoch"] == 1


def test_a_run_of_a_relative_folder_resumes_and_exports_from_another_folder(make_folder, tmp_path, monkeypatch):
    # config.json kept 'photos' as typed: `trueclass train --resume RUN` and `trueclass export
    # RUN` from any other folder said "No such file or folder: 'photos'"
    make_folder({"bars": 12, "cols": 12}, root=tmp_path / "here" / "photos")
    monkeypatch.chdir(tmp_path / "here")

    def stop_at_the_card(stage, done=0, total=0, **info):
        if stage.startswith("writing the evidence card"):
            raise KeyboardInterrupt

    out = tmp_path / "runs" / "r"
    with pytest.raises(tc.TrainingInterrupted):
        tc.train("photos", **BASE, out=out, on_progress=stop_at_the_card)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["source"] == "photos" and cfg["resolved"]["source_path"] == str(tmp_path / "here" / "photos")
    monkeypatch.chdir(tmp_path)  # elsewhere, where 'photos' is another folder: the one trained on is read
    make_folder({"other": 4, "kinds": 4}, root=tmp_path / "photos", seed=3)
    res = CliRunner().invoke(cli, ["train", "--resume", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "card.html").is_file()
    pytest.importorskip("onnxruntime")
    res = CliRunner().invoke(cli, ["export", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "export" / "parity.json").read_text())["n_images"] > 0
    # a built-in data set's name is no path, and a folder given absolute stays as given
    assert source_path("digits") is None and source_path(tmp_path / "here" / "photos") == str(tmp_path / "here" / "photos")
