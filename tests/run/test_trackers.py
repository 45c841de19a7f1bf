"""--log tensorboard / --log mlflow: what a run logs, read back with the trackers' own
readers and compared with history.csv and metrics.json; the same numbers from either door;
a missing or failing tracker costs a sentence, never the run."""

from __future__ import annotations

import csv
import json
import sys

import pytest
from click.testing import CliRunner

import trueclass as tc
from trueclass.cli import EXIT_INCOMPLETE, cli

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    d = tmp_path_factory.mktemp("trk")
    uri = f"sqlite:///{d / 'mlflow.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.chdir(d)  # MLflow's artefacts (./mlruns) stay in the test's folder
    try:
        run = tc.train("digits", model="cnn", params={"epochs": 3}, audit=False, log=["mlflow", "tensorboard"],
                       out=d / "run")
    finally:
        mp.undo()
    return run, uri


def _history(run):
    with open(run.path / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_tensorboard_holds_the_history_and_the_headline(logged):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _ = logged
    assert run.config["log"] == "tensorboard,mlflow"
    acc = EventAccumulator(str(run.path / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    history = _history(run)
    assert len(history) == 3
    for key in ("train_loss", "val_loss", "val_accuracy", "lr"):
        events = acc.Scalars(f"epoch/{key}")
        assert [e.step for e in events] == [int(r["epoch"]) for r in history]
        assert [e.value for e in events] == pytest.approx([float(r[key]) for r in history], rel=1e-6)
    m = run.metrics
    assert acc.Scalars("test/accuracy")[0].value == pytest.approx(m["accuracy"])
    assert acc.Scalars("test/accuracy_ci_low")[0].value == pytest.approx(m["accuracy_ci"][0])
    assert acc.Scalars("test/accuracy_ci_high")[0].value == pytest.approx(m["accuracy_ci"][1])
    assert "confusion_matrix" in tags["images"]
    assert {"params/text_summary", "report/text_summary"} <= set(tags["tensors"])
    assert m["trackers"]["tensorboard"]["log_dir"] == str(run.path / "tensorboard")


def test_mlflow_holds_params_metrics_history_and_artefacts(logged):
    from mlflow import MlflowClient

    run, uri = logged
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("trueclass")
    (mrun,) = client.search_runs([exp.experiment_id])
    assert mrun.info.run_id == run.metrics["trackers"]["mlflow"]["run_id"]
    assert mrun.info.status == "FINISHED" and mrun.info.run_name == run.path.name
    assert mrun.data.params["model"] == "cnn" and mrun.data.params["param.epochs"] == "3"
    m = run.metrics
    assert mrun.data.metrics["accuracy"] == pytest.approx(m["accuracy"])
    assert mrun.data.metrics["accuracy_ci_low"] == pytest.approx(m["accuracy_ci"][0])
    assert mrun.data.metrics["n_wrong"] == m["n_wrong"]
    hist = client.get_metric_history(mrun.info.run_id, "epoch_val_accuracy")
    hist = sorted(hist, key=lambda h: h.step)
    assert [h.step for h in hist] == [int(r["epoch"]) for r in _history(run)]
    assert [h.value for h in hist] == pytest.approx([float(r["val_accuracy"]) for r in _history(run)])
    names = {a.path for a in client.list_artifacts(mrun.info.run_id)}
    assert {"card.html", "metrics.json", "config.json", "history.csv", "confusion_matrix.png", "model"} <= names
    model_files = {a.path for a in client.list_artifacts(mrun.info.run_id, "model")}
    assert "model/model.json" in model_files


def test_the_command_line_logs_the_same_numbers_as_python(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    py = tc.train("digits", model="logreg", audit=False, log="mlflow", out=tmp_path / "py")
    res = CliRunner().invoke(cli, ["train", "digits", "--model", "logreg", "--no-audit", "--log", "mlflow",
                                   "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("trueclass").experiment_id])
    by_name = {r.info.run_name: r for r in runs}
    assert by_name["py"].data.metrics["accuracy"] == by_name["cli"].data.metrics["accuracy"] == py.metrics["accuracy"]
    assert json.loads((tmp_path / "cli" / "config.json").read_text())["log"] == "mlflow"


def test_bad_trackers_get_a_sentence_before_any_work(tmp_path, monkeypatch):
    runner = CliRunner()
    res = runner.invoke(cli, ["train", "digits", "--model", "logreg", "--log", "wandb", "--out", str(tmp_path / "a")])
    assert res.exit_code == 1 and "log must name trackers among tensorboard, mlflow; 'wandb' is not one" in res.output
    assert not (tmp_path / "a").exists()
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # not installed
    res = runner.invoke(cli, ["train", "digits", "--model", "logreg", "--log", "tensorboard", "--out",
                              str(tmp_path / "b")])
    assert res.exit_code == 1 and "pip install 'trueclass[tensorboard]'" in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "b").exists()


def test_a_failing_tracker_keeps_the_run_and_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def broken(*a, **k):
        raise ConnectionError("the tracking server did not answer")

    monkeypatch.setattr("trueclass.run.trackers._mlflow", broken)
    res = CliRunner().invoke(cli, ["train", "digits", "--model", "logreg", "--no-audit", "--log", "mlflow",
                                   "--out", str(tmp_path / "run")])
    assert res.exit_code == EXIT_INCOMPLETE, res.output
    assert "trackers failed (ConnectionError: the tracking server did not answer)" in res.output
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["warnings"][0]["step"] == "trackers" and m["accuracy"] > 0.9
    assert (tmp_path / "run" / "model" / "model.json").is_file()
    assert "trackers failed" in (tmp_path / "run" / "card.html").read_text()


def test_a_model_chosen_by_auto_is_logged_beside_the_setting():
    from trueclass.run.trackers import params_of

    config = {"source": "photos", "model": "auto", "params": {}, "seed": 0, "command": "trueclass train photos",
              "resolved": {"model_chosen": {"model": "lite0", "why": "photographs", "by": "from the data"}}}
    params = params_of(config)
    assert params["model"] == "auto" and params["model_chosen"] == "lite0" and params["seed"] == "0"
    assert "resolved" not in params and "command" not in params
