"""metrics.json: assembled once from an Evaluation's numbers, the run's facts and the
steps' sections, and written in one place (:func:`write_metrics`) by train, evaluate,
stress and export alike; a section added later (stress, export) goes through
:func:`add_section`, which rebuilds the card with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .._jsonio import write_json

__all__ = ["assemble_metrics", "one_line_error", "step_failure_message", "read_metrics", "write_metrics", "add_section", "METRICS_FILE"]

METRICS_FILE = "metrics.json"


def one_line_error(exc: BaseException, limit: int = 300) -> str:
    """'RuntimeError: what it said', on one line and at most ``limit`` characters."""
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def step_failure_message(step: str, error: str) -> str:
    return (f"The run is incomplete: {step.replace('_', ' ')} failed ({error}); the model and its test scores "
            "are kept.")


def assemble_metrics(evaluation: dict[str, Any], run: dict[str, Any], sections: dict[str, Any],
                     failed: Sequence[dict[str, str]] = ()) -> dict[str, Any]:
    """metrics.json from the Evaluation's numbers, the run's facts and the steps'
    sections (a section that is None was not run, or failed). ``failed`` are the
    optional steps that failed (``{"step", "error"}``): they lead the warnings. Pure:
    changes none of its inputs."""
    from ..evaluation import data_warnings

    m = {**evaluation, **run}
    extra = {k: v for k, v in sections.items() if v is not None}
    quick = extra.pop("quick_baseline", None)
    if quick is not None:
        m["baselines"] = {**m["baselines"], "logistic_regression": quick}
    m |= extra
    m["warnings"] = [{"kind": "step_failed", "step": f["step"], "error": f["error"],
                      "message": step_failure_message(f["step"], f["error"])} for f in failed]
    m["warnings"] += data_warnings(m["dataset"]["counts_by_split"], m.get("per_class"), m.get("split"))
    return m


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    import json

    return json.loads((Path(run_dir) / METRICS_FILE).read_text(encoding="utf-8"))


def write_metrics(run_dir: str | Path, metrics: dict[str, Any]) -> Path:
    """Write ``run_dir/metrics.json`` (atomically): the one writer of the file."""
    return write_json(Path(run_dir) / METRICS_FILE, metrics)


def add_section(run_dir: str | Path, key: str, data: Any) -> dict[str, Any]:
    """metrics.json with ``key`` set to ``data``, written, and the card rebuilt from it;
    the new metrics. The caller keeps the folder's files as they were if this fails
    (``run.export.restored_on_failure``)."""
    from ..report import build_card

    metrics = read_metrics(run_dir)
    metrics[key] = data
    write_metrics(run_dir, metrics)
    build_card(Path(run_dir))
    return metrics
