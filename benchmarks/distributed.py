"""`trueclass train --nproc N` against one process, on this machine: wall time of the
whole command, training throughput and test accuracy, in fp32 and in bf16 where the CPU
has it. Each row is the median of --repeats runs (fresh processes, same seed).

On one small CPU machine several processes share its cores, so this measures the cost of
the distributed path (gradient all-reduce over gloo every step), not a speed-up; the
speed-up of torchrun comes from more machines or GPUs. Prints Markdown.

    python benchmarks/distributed.py [--repeats 3] [--epochs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(out: Path, nproc: int, precision: str, epochs: int) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "trueclass", "train", "digits", "--model", "cnn", "--epochs", str(epochs),
           "-p", f"precision={precision}", "--no-audit", "--out", str(out), "--overwrite", "--nproc", str(nproc)]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(res.stderr[-3000:])
    return wall, json.loads((out / "metrics.json").read_text())


def main() -> None:
    from trueclass.training import cpu_has_bf16

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    print(f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, CPU bf16: {cpu_has_bf16()}; digits, cnn, "
          f"{args.epochs} epochs, medians of {args.repeats}\n")
    print("| processes | precision | wall s (whole command) | training images/s | test accuracy |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for precision in ["fp32"] + (["bf16"] if cpu_has_bf16() else []):
            for nproc in (1, 2):
                walls, speeds, accs = [], [], []
                for _ in range(args.repeats):
                    wall, m = run(Path(d) / f"r{nproc}{precision}", nproc, precision, args.epochs)
                    walls.append(wall)
                    speeds.append(m["training"]["images_per_second"])
                    accs.append(m["accuracy"])
                print(f"| {nproc} | {precision} | {statistics.median(walls):.1f} | {statistics.median(speeds):,.0f} | "
                      f"{100 * statistics.median(accs):.2f}% |", flush=True)


if __name__ == "__main__":
    main()
