"""Which model should `trueclass train` pick when the user names none? The cnn from
scratch against the pretrained lite0 probe, on validation images only (carved from each
set's training images; no test image is looked at), with fit wall time.

    python benchmarks/default_choice.py
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def photo_set(classes, per_class: int, size: int, grey: bool, seed: int = 0):
    import trueclass as tc
    from photo_sets import crops

    X, y = [], []
    for k, name in enumerate(classes):
        for c in crops(name, per_class, size=size, seed=seed):
            X.append(np.asarray(c.convert("L") if grey else c))
            y.append(name)
    return tc.load((np.stack(X), np.array(y)), value_max=255)


def sets():
    import trueclass as tc
    from photo_sets import PHOTOS

    digits = tc.split(tc.load("digits"), test_size=0.2, seed=0).train  # the test part is never looked at
    fm = tc.load("fashion-mnist")
    train = np.flatnonzero(fm.predefined_split == "train")
    pick = np.random.default_rng(0).permutation(train)[:7000]
    fm_small = tc.load((fm.images[pick], np.asarray(fm.classes)[fm.labels[pick]]), value_max=255)  # no own split
    eight = tuple(PHOTOS)
    return [
        ("digits 8x8 grey", digits),
        ("Fashion-MNIST 28x28 grey (7,000)", fm_small),
        ("photo crops 28x28 grey, 8 classes", photo_set(eight, 60, 28, True)),
        ("photo crops 64x64 grey, 8 classes", photo_set(eight, 60, 64, True)),
        ("photo crops 32x32 colour, 8 classes", photo_set(eight, 60, 32, False)),
        ("photo crops 101x101 colour, 8 classes", photo_set(eight, 60, 101, False)),
    ]


def main() -> None:
    import tempfile

    # an empty embedding cache: lite0's fit times include embedding every image once
    os.environ["TRUECLASS_CACHE"] = tempfile.mkdtemp(prefix="trueclass-bench-")
    import trueclass as tc

    print(f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}\n")
    from trueclass.data._dataset import to_display
    from trueclass.models._choice import choose_model, plain_background_share

    print("| data | validation images | pixels at the background level | cnn accuracy | cnn fit s | "
          "lite0 accuracy | lite0 fit s | auto picks |")
    print("|---|---|---|---|---|---|---|---|")
    for name, ds in sets():
        parts = tc.split(ds, test_size=0.3, seed=1)  # here the "test" part is the validation part
        display = to_display(parts.train.images, parts.train.value_max)
        row = [name, f"{len(parts.test):,}", f"{plain_background_share(display):.1%}"]
        for model in ("cnn", "lite0"):
            t = time.perf_counter()
            clf = tc.ImageClassifier(model, random_state=0).fit(parts.train)
            fit_s = time.perf_counter() - t
            row += [f"{clf.score(parts.test):.3f}", f"{fit_s:.1f}"]
        row.append(choose_model(display)[0])
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
