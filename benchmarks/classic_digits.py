"""The classic pixel models on scikit-learn's digits, side by side in one process.

Mean test accuracy over 5 stratified 80/20 splits (seeds 0-4), the lesson's
LogisticRegression beside them, and the wall time of `trueclass train digits` (the
default model, the whole run folder included), median of 3. Prints a Markdown table.

    python benchmarks/classic_digits.py
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import trueclass as tc

SEEDS = range(5)


def main() -> None:
    X, y = load_digits(return_X_y=True)
    rows = []
    # the lesson's own code, as a reference
    accs, secs = [], []
    for s in SEEDS:
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=s, stratify=y)
        t = time.perf_counter()
        m = LogisticRegression(max_iter=10000).fit(Xtr, ytr)
        secs.append(time.perf_counter() - t)
        accs.append(m.score(Xte, yte))
    rows.append(("lesson: LogisticRegression(max_iter=10000)", accs, secs))
    ds = tc.load("digits")
    for name in tc.list_models():
        accs, secs = [], []
        for s in SEEDS:
            parts = tc.split(ds, test_size=0.2, seed=s)
            params = {"random_state": s} if name in ("svm", "forest") else {}
            clf = tc.ImageClassifier(name, **params).fit(parts.train)
            secs.append(clf.train_seconds_)
            accs.append(tc.evaluate(clf, parts.test).accuracy)
        rows.append((f"trueclass {name}", accs, secs))
    walls = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "trueclass.cli", "train", "digits", "--out", f"{d}/r"],
                           check=True, capture_output=True)
            walls.append(time.perf_counter() - t)

    print(f"digits, 5 stratified 80/20 splits (seeds 0-4); {platform.processor() or platform.machine()}, "
          f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}")
    print()
    print("| model | mean test accuracy | min | max | median fit s |")
    print("|---|---|---|---|---|")
    for name, accs, secs in rows:
        print(f"| {name} | {np.mean(accs):.4f} | {min(accs):.4f} | {max(accs):.4f} | {statistics.median(secs):.2f} |")
    print()
    print(f"`trueclass train digits` (default model {tc.models.DEFAULT_MODEL}, whole run folder): "
          f"median {statistics.median(walls):.1f} s of 3 runs (each {', '.join(f'{w:.1f}' for w in walls)} s)")


if __name__ == "__main__":
    main()
