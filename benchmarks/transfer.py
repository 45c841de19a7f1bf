"""Transfer learning, shown honestly: 10 digits a class, from scratch or from Fashion-MNIST.

1. Train trueclass's cnn on Fashion-MNIST for 3 epochs and keep its run folder.
2. For 5 seeds, draw 10 training images per class from a stratified 80/20 split of the
   digits (upscaled to 28x28), and train the cnn on them twice: from scratch, and
   starting from the Fashion-MNIST weights (--weights). Both are tested on the same
   360 held-out digits.

    python benchmarks/transfer.py
"""

from __future__ import annotations

import os
import platform
import tempfile

import numpy as np

import trueclass as tc


def few_per_class(ds, k, seed):
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(ds.labels == c), k, replace=False) for c in range(ds.n_classes)])
    return ds.subset(np.sort(idx))


def main() -> None:
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n")
    with tempfile.TemporaryDirectory() as d:
        pre = tc.train("fashion-mnist", model="cnn", params={"epochs": 3}, out=f"{d}/fm")
        print(f"pretraining: cnn on Fashion-MNIST, test accuracy {pre.evaluation.accuracy:.4f}\n")
        digits = tc.load("digits", image_size=28)
        print("| seed | from scratch | from Fashion-MNIST weights |")
        print("|---|---|---|")
        scratch, warm = [], []
        for seed in range(5):
            parts = tc.split(digits, seed=seed)
            few = few_per_class(parts.train, 10, seed)
            params = {"epochs": 30, "val_fraction": 0.0, "random_state": seed, "augment": "digits"}
            a = tc.ImageClassifier("cnn", **params).fit(few)
            b = tc.ImageClassifier("cnn", weights=str(pre.path), lr=0.02, **params).fit(few)
            sa, sb = tc.evaluate(a, parts.test).accuracy, tc.evaluate(b, parts.test).accuracy
            scratch.append(sa)
            warm.append(sb)
            print(f"| {seed} | {sa:.4f} | {sb:.4f} |")
        print(f"| mean ± sd | {np.mean(scratch):.4f} ± {np.std(scratch):.4f} | {np.mean(warm):.4f} ± {np.std(warm):.4f} |")


if __name__ == "__main__":
    main()
