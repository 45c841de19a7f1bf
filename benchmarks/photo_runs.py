"""Whole runs on a folder of photos: `trueclass train FOLDER` with the default model
(chosen from the data) against the cnn and the pixel models, as a user runs them.

The folder: 240 colour photo crops of 101x101 in 4 classes (benchmarks/photo_sets.py)
and 5 unreadable files. Each row is one `trueclass train` process (import, load, audit,
split, train, evaluate, card); wall time is the median of --repeats runs, in fp32 and
with bf16 where the CPU has it (TRUECLASS_PRECISION). The embedding cache is emptied
before every run, so no run reuses another's work. Prints Markdown.

    python benchmarks/photo_runs.py [--repeats 3]
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


def run(folder: Path, model: str | None, out: Path, cache: Path, precision: str | None) -> tuple[float, dict]:
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "TRUECLASS_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "trueclass.cli", "train", str(folder), "--out", str(out), "--overwrite"]
    if model:
        cmd += ["--model", model]
    if precision and model == "cnn":
        cmd += ["-p", f"precision={precision}"]
    t = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    return wall, json.loads((out / "metrics.json").read_text())


def main() -> None:
    from photo_sets import build

    from trueclass.training import cpu_has_bf16

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
          f"CPU bf16: {cpu_has_bf16()}\n")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        folder = build(d / "photos", per_class=60, bad=5)
        rows = [(None, None), ("cnn", "fp32")] + ([("cnn", "bf16")] if cpu_has_bf16() else []) + [
            ("logreg", None), ("knn", None), ("svm", None), ("forest", None)]
        print("| model | test accuracy (95% CI) | wrong / test images | wall s, median of "
              f"{args.repeats} | precision |")
        print("|---|---|---|---|---|")
        for model, precision in rows:
            walls, m = [], {}
            for _ in range(args.repeats):
                wall, m = run(folder, model, d / "run", d / "cache", precision)
                walls.append(wall)
            ci = m["accuracy_ci"]
            name = f"default (chose {m['model']})" if model is None else model
            prec = precision or ("fp32 (ONNX Runtime)" if m["model"] == "lite0" else "fp64 (scikit-learn)")
            print(f"| {name} | {m['accuracy']:.3f} ({ci[0]:.3f}-{ci[1]:.3f}) | {m['n_wrong']} / {m['n_test']} | "
                  f"{statistics.median(walls):.1f} | {prec} |", flush=True)


if __name__ == "__main__":
    main()
