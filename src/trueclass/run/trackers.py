"""``--log tensorboard`` / ``--log mlflow``: a finished run written to the experiment
trackers practitioners already use, with the trackers' own libraries, into their own local
stores.

What each gets, from the run folder (so the numbers are the run's, whatever the door):
- TensorBoard (``RUN/tensorboard/``, ``tensorboard --logdir runs`` shows every run): the
  per-epoch losses, accuracies and learning rate of history.csv as scalars by epoch; the
  test accuracy with its interval and the other headline numbers as scalars; the run's
  parameters and the report card as text; the confusion matrix as an image.
- MLflow (its local SQLite store, ``mlflow.db`` in the working folder, unless
  $MLFLOW_TRACKING_URI names another; experiment "trueclass"): the run's settings and model parameters as parameters, history.csv as
  metrics by epoch, the headline numbers with their intervals as metrics, and card.html,
  metrics.json, the confusion matrix and the model folder as artefacts.
Logging runs after the run folder is complete, in the process that wrote it (rank 0 under
torchrun), as an optional step: a tracker that fails is reported and the run is kept.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Sequence

from .._errors import TrueclassError
from .folder import CONFUSION_PNG

__all__ = ["TRACKERS", "parse_trackers", "check_trackers", "log_run", "TENSORBOARD_DIR", "MLFLOW_EXPERIMENT"]

TRACKERS = ("tensorboard", "mlflow")
TENSORBOARD_DIR = "tensorboard"
MLFLOW_EXPERIMENT = "trueclass"
#: The headline numbers logged as final metrics (those metrics.json has), with their intervals.
HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "n_wrong", "n_test")


def parse_trackers(value: str | Sequence[str] | None) -> str | None:
    """The trackers asked for, as one comma-joined text in TRACKERS' order ("tensorboard,mlflow"),
    or None; a sentence for a name that is not one."""
    if value is None or value == "" or value == ():
        return None
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    names = {v.strip().lower() for v in items if v.strip()}
    unknown = sorted(names - set(TRACKERS))
    if unknown:
        raise TrueclassError(f"log must name trackers among {', '.join(TRACKERS)}; {unknown[0]!r} is not one.")
    return ",".join(t for t in TRACKERS if t in names) or None


def check_trackers(value: str | None) -> None:
    """A sentence naming the extra to install for a tracker that is not installed (before
    any work)."""
    from .._extras import require

    for name in (value or "").split(","):
        if name:
            require(name, f"Logging to {'TensorBoard' if name == 'tensorboard' else 'MLflow'}")


def log_run(run_dir: str | Path, trackers: str) -> dict[str, Any]:
    """Log the finished run in ``run_dir`` to each of ``trackers``; what was written where."""
    run_dir = Path(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    history = _history(run_dir)
    out: dict[str, Any] = {}
    for name in trackers.split(","):
        if name == "tensorboard":
            out[name] = _tensorboard(run_dir, metrics, config, history)
        elif name == "mlflow":
            out[name] = _mlflow(run_dir, metrics, config, history)
    return out


# -- what is logged --------------------------------------------------------------------------
def _history(run_dir: Path) -> list[dict[str, float]]:
    """history.csv's rows with their numbers as floats (empty cells left out)."""
    f = run_dir / "history.csv"
    if not f.is_file():
        return []
    rows = []
    with open(f, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rows.append({k: float(v) for k, v in row.items() if v not in ("", None)})
    return rows


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The final numbers of a run, each interval as ``_ci_low`` and ``_ci_high``."""
    out = {}
    for key in HEADLINE:
        if metrics.get(key) is not None:
            out[key] = float(metrics[key])
            ci = metrics.get(f"{key}_ci")
            if ci:
                out[f"{key}_ci_low"], out[f"{key}_ci_high"] = float(ci[0]), float(ci[1])
    if metrics.get("train_seconds") is not None:
        out["train_seconds"] = float(metrics["train_seconds"])
    return out


def params_of(config: dict[str, Any]) -> dict[str, str]:
    """The run's settings and model parameters as flat text values (trackers' parameters)."""
    flat = {k: v for k, v in config.items() if k not in ("params", "resolved", "command", "environment")
            and not isinstance(v, (dict, list))}
    flat.update({f"param.{k}": v for k, v in (config.get("params") or {}).items()})
    chosen = (config.get("resolved") or {}).get("model_chosen")
    if chosen:  # model "auto": the model it chose
        flat["model_chosen"] = chosen["model"]
    return {k: json.dumps(v) if not isinstance(v, str) else v for k, v in flat.items()}


# -- the trackers --------------------------------------------------------------------------
def _tensorboard(run_dir: Path, metrics: dict[str, Any], config: dict[str, Any],
                 history: list[dict[str, float]]) -> dict[str, Any]:
    import numpy as np
    from PIL import Image
    from torch.utils.tensorboard import SummaryWriter

    from ..report import format_report_card

    folder = run_dir / TENSORBOARD_DIR
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for row in history:
            epoch = int(row.get("epoch", 0))
            for key, value in row.items():
                if key != "epoch":
                    writer.add_scalar(f"epoch/{key}", value, epoch)
        for key, value in headline(metrics).items():
            writer.add_scalar(f"test/{key}", value, 0)
        writer.add_text("params", "\n".join(f"    {k}: {v}" for k, v in params_of(config).items()), 0)
        writer.add_text("report", "\n".join("    " + line for line in format_report_card(metrics).splitlines()), 0)
        png = run_dir / CONFUSION_PNG  # the run folder's own drawing
        if png.is_file():
            with Image.open(png) as im:
                writer.add_image("confusion_matrix", np.asarray(im.convert("RGB")), 0, dataformats="HWC")
    finally:
        writer.close()
    return {"log_dir": str(folder)}


def mlflow_uri() -> str:
    """$MLFLOW_TRACKING_URI, else MLflow's own local default: a SQLite store, mlflow.db in
    the working folder (``mlflow ui`` there shows it). MLflow's ./mlruns file store is in
    maintenance mode and refuses to start unless MLFLOW_ALLOW_FILE_STORE is set."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path('mlflow.db').resolve()}"


def _mlflow(run_dir: Path, metrics: dict[str, Any], config: dict[str, Any],
            history: list[dict[str, float]]) -> dict[str, Any]:
    import time

    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    uri = mlflow_uri()
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(MLFLOW_EXPERIMENT)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(MLFLOW_EXPERIMENT)
    run = client.create_run(exp_id, run_name=run_dir.name, tags={"trueclass.run_folder": str(run_dir.resolve())})
    rid = run.info.run_id
    try:
        now = int(time.time() * 1000)
        params = [Param(k, v[:6000]) for k, v in params_of(config).items()]
        series = [Metric(f"epoch_{k}", v, now, int(row.get("epoch", 0)))
                  for row in history for k, v in row.items() if k != "epoch"]
        final = [Metric(k, v, now, 0) for k, v in headline(metrics).items()]
        values = series + final
        for s in range(0, len(params), 90):  # the client's batch limits: 100 parameters, 1,000 metrics
            client.log_batch(rid, params=params[s:s + 90])
        for s in range(0, len(values), 900):
            client.log_batch(rid, metrics=values[s:s + 900])
        for name in ("card.html", "metrics.json", "config.json", "history.csv", CONFUSION_PNG):
            if (run_dir / name).is_file():
                client.log_artifact(rid, str(run_dir / name))
        client.log_artifacts(rid, str(run_dir / "model"), "model")
    except BaseException:
        client.set_terminated(rid, "FAILED")
        raise
    client.set_terminated(rid, "FINISHED")
    return {"tracking_uri": uri, "experiment": MLFLOW_EXPERIMENT, "run_id": rid}
