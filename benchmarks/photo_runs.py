"""Whole runs on a folder of photos: `trueclass train FOLDER` with the default model
(chosen from the data) against the cnn and the pixel models, as a user runs them.

The folder: 240 colour photo crops of 101x101 in 4 classes (benchmarks/photo_sets.py;
--sizes LO-HI for crops of mixed sides) and 5 unreadable files. Each row is one
`trueclass train` process (import, load, audit, split, train, evaluate, card); wall time
is the median of --repeats runs, with TRUECLASS_PRECISION=fp32 forced and with the
automatic precision (bf16 where the CPU has it). The embeddings are emptied from the cache
before every run, so no run reuses another's work; the backbone's ONNX file, made once on
a machine (like a download), is kept, and the seconds its making took on first use are
printed above the table. The last column is metrics.json's ``seconds``: where the run's
time went. Prints Markdown.

    python benchmarks/photo_runs.py [--repeats 3]
    python benchmarks/photo_runs.py --sizes 40-120 --models logreg,knn,svm,forest
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def run(folder: Path, model: str | None, out: Path, cache: Path, precision: str) -> tuple[float, dict]:
    """One `trueclass train FOLDER` in a fresh process; (wall seconds, metrics.json)."""
    shutil.rmtree(cache / "embeddings", ignore_errors=True)
    env = {**os.environ, "TRUECLASS_CACHE": str(cache), "TRUECLASS_PRECISION": precision}
    cmd = [sys.executable, "-m", "trueclass.cli", "train", str(folder), "--out", str(out), "--overwrite"]
    if model:
        cmd += ["--model", model]
    t = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    return wall, json.loads((out / "metrics.json").read_text())


def first_use(cache: Path) -> float:
    """Seconds a fresh process takes to embed two images with an empty cache: the backbone's
    ONNX file is made then, once a machine."""
    shutil.rmtree(cache, ignore_errors=True)
    code = ("import numpy as np; from trueclass.features import embedding_features; "
            "embedding_features(np.zeros((2, 64, 64, 3), np.uint8), 255)")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "TRUECLASS_CACHE": str(cache)}, check=True)
    return time.perf_counter() - t


def main() -> None:
    from photo_sets import build

    from trueclass.report import format_seconds
    from trueclass.training import cpu_has_bf16, cpu_name

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="101", help="side of the crops, or LO-HI for a folder of mixed sizes")
    ap.add_argument("--models", default="default,cnn,logreg,knn,svm,forest",
                    help="comma-separated; 'default' lets trueclass choose")
    ap.add_argument("--precisions", default="fp32,auto", help="TRUECLASS_PRECISION values, comma-separated")
    args = ap.parse_args()
    lo, _, hi = args.sizes.partition("-")
    size = (int(lo), int(hi)) if hi else int(lo)
    print(f"{cpu_name()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
          f"CPU bf16: {cpu_has_bf16()}; crops of {args.sizes} px\n")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        folder = build(d / "photos", per_class=60, size=size, bad=5)
        print(f"First use on this machine: making the backbone's ONNX file took {first_use(d / 'cache'):.1f} s "
              "(once; kept in the cache for every later run).\n")
        print(f"| model | TRUECLASS_PRECISION | test accuracy (95% CI) | wrong / test | quick baseline | "
              f"wall s, median of {args.repeats} | training s | where the last run's time went |")
        print("|---|---|---|---|---|---|---|---|")
        for model in args.models.split(","):
            for precision in args.precisions.split(","):
                walls, fits, m = [], [], {}
                for _ in range(args.repeats):
                    wall, m = run(folder, None if model == "default" else model, d / "run", d / "cache", precision)
                    walls.append(wall)
                    fits.append(m.get("train_seconds") or 0.0)
                ci = m["accuracy_ci"]
                name = f"default (chose {m['model']})" if model == "default" else model
                base = (m.get("baselines") or {}).get("logistic_regression") or {}
                base_text = "n/a" if base.get("accuracy") is None else f"{base['accuracy']:.3f}"
                wall, fit = statistics.median(walls), statistics.median(fits)
                print(f"| {name} | {precision} | {m['accuracy']:.3f} ({ci[0]:.3f}-{ci[1]:.3f}) | {m['n_wrong']} / "
                      f"{m['n_test']} | {base_text} | {wall:.1f} | {fit:.1f} | {format_seconds(m.get('seconds'), most=3)} |",
              flush=True)


if __name__ == "__main__":
    main()
