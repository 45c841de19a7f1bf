"""trueclass's default cnn on scikit-learn's digits: 5 seeded stratified 80/20 splits.

Each row is one whole `trueclass.train` run (load, split, train, evaluate, run folder).
The svm, the best classic model, runs on the same splits beside it. Prints a Markdown
table; the target is a mean test accuracy >= 0.995 with every run under 30 s in fp32.

    python benchmarks/digits_cnn.py [--precision fp32|auto]
"""

from __future__ import annotations

import os
import platform
import tempfile
import time

import numpy as np

import trueclass as tc


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                    help="TRUECLASS_PRECISION for the whole run (fp32: as on a CPU without bf16)")
    args = ap.parse_args()
    os.environ["TRUECLASS_PRECISION"] = args.precision
    print(f"digits, stratified 80/20 splits; {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; precision {args.precision}\n")
    print("| seed | cnn test accuracy | cnn wrong / 360 | cnn wall s | svm test accuracy | svm wall s |")
    print("|---|---|---|---|---|---|")
    cnn_acc, svm_acc, walls = [], [], []
    for seed in range(5):
        out = []
        for model in ("cnn", "svm"):
            with tempfile.TemporaryDirectory() as d:
                t = time.perf_counter()
                run = tc.train("digits", model=model, seed=seed, out=f"{d}/r")
                out.append((run.evaluation.accuracy, run.evaluation.n_wrong, time.perf_counter() - t))
        (ca, cw, ct), (sa, _, st) = out
        cnn_acc.append(ca)
        svm_acc.append(sa)
        walls.append(ct)
        print(f"| {seed} | {ca:.4f} | {cw} | {ct:.1f} | {sa:.4f} | {st:.1f} |")
    print(f"| mean | {np.mean(cnn_acc):.4f} | | max {max(walls):.1f} | {np.mean(svm_acc):.4f} | |")


if __name__ == "__main__":
    main()
