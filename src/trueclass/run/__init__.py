"""Runs: a configuration, a pipeline of steps, a run folder, and the one rule for which
images are scored.

``train()`` is what ``trueclass train`` does; ``evaluate_run()`` is ``trueclass
evaluate``; ``stress_run()`` is ``trueclass stress``; ``predict_files()`` is ``trueclass
predict``. The command line only parses arguments, calls these and prints what they
return through ``report``'s ``format_*`` functions.
"""

from .config import RunConfig
from .folder import RUNS_DIR, RunFolder
from .pipeline import Run, resume, run_training, train
from .predict import collect_images, predict_files, predict_to_csv
from .saved import evaluate_run, stress_run, unseen_images

__all__ = ["Run", "RunConfig", "RunFolder", "RUNS_DIR", "train", "run_training", "resume", "evaluate_run",
           "stress_run", "unseen_images", "predict_files", "predict_to_csv", "collect_images"]
