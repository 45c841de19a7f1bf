"""The pretrained backbone's embedding speed and accuracy by input size and precision.

Speed: images per second through EfficientNet-Lite0 (resizing included), median of 3
passes over 256 photo crops of 160x160, batch 64: PyTorch (timm, channels_last) in fp32
and in bf16 autocast, and ONNX Runtime in fp32 (what trueclass uses when installed). Accuracy: a logistic-regression probe on the
embeddings, fitted on training images and scored on validation images (never a test
set): 8 classes of colour photo crops (30 + 30 a class) and 2,000 + 2,000 Fashion-MNIST
training images. Prints Markdown tables.

    python benchmarks/embedding_speed.py [--sizes 96,128,160,224]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def photo_arrays(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from photo_sets import PHOTOS, crops

    X, y = [], []
    for k, name in enumerate(PHOTOS):
        X += [np.asarray(c) for c in crops(name, per_class, size=160, seed=seed)]
        y += [k] * per_class
    return np.stack(X), np.array(y)


def speed(images: np.ndarray, size: int, engine: str, precision: str = "fp32", repeats: int = 3) -> float:
    """Images per second through the backbone, resizing included, median of ``repeats``."""
    from trueclass.features._backbone import Embedder

    emb = Embedder(size, engine=engine, precision=precision)
    emb(images[:64])  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        emb(images)
        times.append(time.perf_counter() - t)
    return len(images) / statistics.median(times)


def probe_accuracy(Xtr, ytr, Xva, yva, size: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from trueclass.features._backbone import embed

    a, b = embed(Xtr, size=size, cache=False), embed(Xva, size=size, cache=False)  # ONNX Runtime, fp32
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1)).fit(a, ytr)
    return float(clf.score(b, yva))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="96,128,160,224")
    ap.add_argument("--skip-accuracy", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    from trueclass.training import cpu_has_bf16

    print(f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
          f"CPU bf16: {cpu_has_bf16()}\n")
    X, _ = photo_arrays(32, seed=1)
    X = X[:256]
    print("| input side | fp32 images/s | bf16 images/s | ONNX Runtime fp32 images/s |")
    print("|---|---|---|---|")
    for s in sizes:
        fp32 = speed(X, s, "torch", "fp32")
        bf16 = speed(X, s, "torch", "bf16") if cpu_has_bf16() else None
        ox = speed(X, s, "onnx")
        print(f"| {s} | {fp32:.0f} | {'' if bf16 is None else f'{bf16:.0f}'} | {'' if ox is None else f'{ox:.0f}'} |")
    if args.skip_accuracy:
        return
    import trueclass as tc

    Xp, yp = photo_arrays(60, seed=2)
    rng = np.random.default_rng(0)
    tr = np.concatenate([rng.permutation(np.flatnonzero(yp == k))[:30] for k in np.unique(yp)])
    va = np.setdiff1d(np.arange(len(yp)), tr)
    fm = tc.load("fashion-mnist")
    train_idx = np.flatnonzero(fm.predefined_split == "train")
    pick = rng.permutation(train_idx)[:4000]
    Xf, yf = fm.images[pick], fm.labels[pick]
    print("\n| input side | photo crops, 8 classes: validation accuracy (240 images) | "
          "Fashion-MNIST: validation accuracy (2,000 images) |")
    print("|---|---|---|")
    for s in sizes:
        a = probe_accuracy(Xp[tr], yp[tr], Xp[va], yp[va], s)
        b = probe_accuracy(Xf[:2000], yf[:2000], Xf[2000:], yf[2000:], s)
        print(f"| {s} | {a:.3f} | {b:.3f} |")


if __name__ == "__main__":
    main()
