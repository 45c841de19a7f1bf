"""How long the evidence card takes and how big it gets for Fashion-MNIST's 10,000 test images.

A logistic regression trained on 10,000 training images gives realistic predictions
(about 16% wrong, so about 1,600 mistakes, each with its thumbnail); then the run
folder is written (predictions.csv, errors/, metrics.json, evaluation.npz, card) and
the card alone is rebuilt as `trueclass card` does. Median of 3 timings each.
Target: under 15 s and under 10 MB.

    python benchmarks/card_speed.py
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import trueclass as tc
    from trueclass.run import RunFolder
    from trueclass.run.provenance import dataset_info
    from trueclass.evaluation import evaluate_predictions
    from trueclass.report._card import build_card
    from sklearn.linear_model import LogisticRegression

    ds = tc.load("fashion-mnist")
    parts = tc.split(ds, val_size=0.0)
    x = parts.train.images[:10_000].reshape(10_000, -1) / 255.0
    clf = LogisticRegression(max_iter=300).fit(x, parts.train.labels[:10_000])
    test = parts.test
    probs = clf.predict_proba(test.images.reshape(len(test), -1) / 255.0)
    ev = evaluate_predictions(test.labels, probs, ds.classes, test.ids)
    metrics = {**ev.to_dict(), "n_train": 10_000, "n_val": 0, "model": "logreg", "params": {}, "seed": 0,
               "train_seconds": None, "dataset": dataset_info(ds) | {"counts_by_split": {"test": test.counts()}}}
    write_times, card_times = [], []
    with tempfile.TemporaryDirectory() as d:
        for r in range(3):
            out = Path(d) / f"run{r}"
            t = time.perf_counter()
            out.mkdir(parents=True)
            RunFolder(out).write_evaluation(ev, test, metrics)
            write_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            build_card(out)
            card_times.append(time.perf_counter() - t)
        size = (out / "card.html").stat().st_size
        n_thumbs = len(np.load(out / "evaluation.npz")["thumb_index"])
    print(f"Fashion-MNIST test set, {ev.n_test:,} images, {ev.n_wrong:,} misread; {platform.machine()}, "
          f"{os.cpu_count()} cores; median of 3\n")
    print("| step | seconds | target |")
    print("|---|---|---|")
    print(f"| whole run folder (predictions, {ev.n_wrong:,} error PNGs, card) | {statistics.median(write_times):.1f} | |")
    print(f"| card alone (`trueclass card`) | {statistics.median(card_times):.1f} | < 15 s |")
    print(f"\ncard.html {size / 1e6:.2f} MB (target < 10 MB) with {n_thumbs:,} thumbnails")


if __name__ == "__main__":
    main()
