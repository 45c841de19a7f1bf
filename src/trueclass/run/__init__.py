"""Runs: a configuration, a pipeline of steps, a run folder, and the one rule for which
images are scored.

``train()`` is what ``trueclass train`` does; ``evaluate_run()`` is ``trueclass
evaluate``; ``stress_run()`` is ``trueclass stress``; ``predict_files()`` is ``trueclass
predict``. The command line only parses arguments, calls these and prints what they
return through ``report``'s ``format_*`` functions.

The names load on first use, so the command line reads the table of run settings
(``run.fields``) without importing the pipeline.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Run", "RunConfig", "RunFolder", "RUNS_DIR", "train", "run_training", "resume", "evaluate_run",
           "stress_run", "unseen_images", "predict_files", "predict_to_csv", "collect_images"]

_HOME = {
    "RunConfig": ".config", "RunFolder": ".folder", "RUNS_DIR": ".folder", "Run": ".pipeline", "train": ".pipeline",
    "run_training": ".pipeline", "resume": ".pipeline", "collect_images": ".predict", "predict_files": ".predict",
    "predict_to_csv": ".predict", "evaluate_run": ".saved", "stress_run": ".saved", "unseen_images": ".saved",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'trueclass.run' has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
