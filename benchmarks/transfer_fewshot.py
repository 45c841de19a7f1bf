"""Few-shot transfer: 5, 10 and 20 training images a class, several seeds.

Rows: the pretrained EfficientNet-Lite0 probe (`lite0`), the same backbone fine-tuned
(`timm:tf_efficientnet_lite0 --pretrained`, 128 px input, 10 epochs, starting from a
linear probe's head; at 20 images a class only, it takes minutes on a CPU), our cnn from
scratch (its default recipe for small sets) and the SVC on pixels. Each model is trained
on k images a class drawn with the seed and scored on a fixed set of test images no
seed ever trains on. Data: the digits (their 360 test images of split seed 0), Fashion-
MNIST (2,000 of the official test images) and 8 classes of colour photo crops
(benchmarks/photo_sets.py; 40 test crops a class from other places of each photo).
Recipes are the defaults, fixed before looking at these numbers. Prints Markdown.

    python benchmarks/transfer_fewshot.py [--seeds 5] [--finetune-seeds 2] [--finetune-shots 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def data_sets():
    import trueclass as tc
    from default_choice import photo_set
    from photo_sets import PHOTOS

    digits = tc.split(tc.load("digits"), test_size=0.2, seed=0)
    fm = tc.load("fashion-mnist")
    fm_train = fm.subset(np.flatnonzero(fm.predefined_split == "train"))
    fm_test_idx = np.flatnonzero(fm.predefined_split == "test")
    fm_test = fm.subset(np.random.default_rng(0).permutation(fm_test_idx)[:2000])
    photos = tuple(PHOTOS)
    pool = photo_set(photos, 40, 101, False, seed=0)  # training crops are drawn from these
    test = photo_set(photos, 40, 101, False, seed=99)
    return [("digits", digits.train, digits.test), ("Fashion-MNIST", fm_train, fm_test),
            ("photo crops (8 classes, colour)", pool, test)]


def draw(pool, k: int, seed: int):
    import trueclass as tc

    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.permutation(np.flatnonzero(pool.labels == c))[:k] for c in range(pool.n_classes)])
    sub = pool.subset(idx)
    # a plain Dataset (no predefined split of its own) so every image is a training image
    return tc.Dataset(images=sub.images, labels=sub.labels, classes=sub.classes, ids=sub.ids,
                      value_max=sub.value_max, provenance={"source": "few-shot draw"})


MODELS = {
    "lite0 probe": ("lite0", {}),
    "lite0 fine-tuned": ("timm:tf_efficientnet_lite0", {"pretrained": True, "input_size": 128, "epochs": 10}),
    "cnn from scratch": ("cnn", {}),
    "svm on pixels": ("svm", {}),
}


def main() -> None:
    import trueclass as tc

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--finetune-seeds", type=int, default=2)
    ap.add_argument("--shots", default="5,10,20")
    ap.add_argument("--finetune-shots", default="20")
    ap.add_argument("--models", default=",".join(MODELS), help="rows to run, by label")
    args = ap.parse_args()
    shots = [int(s) for s in args.shots.split(",")]
    ft_shots = {int(s) for s in args.finetune_shots.split(",")}
    print(f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}; "
          f"accuracy mean ± sd over seeds (fine-tuning: {args.finetune_seeds} seeds)\n")
    print("| data | model | " + " | ".join(f"{k} a class" for k in shots) + " | fit s (20 a class) |")
    print("|---|---|" + "---|" * len(shots) + "---|")
    for name, pool, test in data_sets():
        for label, (model, params) in MODELS.items():
            if label not in args.models.split(","):
                continue
            cells, fit_s = [], 0.0
            for k in shots:
                if "fine" in label and k not in ft_shots:
                    cells.append("")
                    continue
                accs = []
                for seed in range(args.finetune_seeds if "fine" in label else args.seeds):
                    train = draw(pool, k, seed)
                    clf = tc.ImageClassifier(model, random_state=seed, **params)
                    t = time.perf_counter()
                    clf.fit(train)
                    if k == shots[-1]:
                        fit_s = time.perf_counter() - t
                    accs.append(clf.score(test))
                cells.append(f"{np.mean(accs):.3f} ± {np.std(accs):.3f}")
            print(f"| {name} | {label} | " + " | ".join(cells) + f" | {fit_s:.1f} |", flush=True)


if __name__ == "__main__":
    main()
