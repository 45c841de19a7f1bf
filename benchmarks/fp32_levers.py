"""Levers for the cnn recipes on a CPU without bf16 (issue: fast where our users are).

Each row trains the cnn on Fashion-MNIST's training images with 10% of them held out for
validation (54k/6k, seed 0), in fp32 forced (``precision="fp32"``) unless the row says
otherwise, and reports the validation accuracy (never the test images: these choose the
recipe), the training seconds and the trainer's images/s; also the audit's time on the
whole set, which every run pays. One run each. Prints Markdown.

    python benchmarks/fp32_levers.py [--rows quick,w16,w24] [--tta]

``--save DIR`` keeps each row's validation logits (as trained, and with each ``--tta`` mode)
in DIR/ROW.npz; ``--ensemble A+B[,C+D]`` then scores, from those files alone, the average of
the rows' softmax probabilities: two nets of half the epochs against one of all of them.

``--tta`` adds the validation accuracy with each test-time augmentation (training.TTA_MODES:
the mirrored image, 1-pixel shifts, both) of the same trained net, and the seconds of
predicting the 6,000 validation images without and with each (median of 3). The cost does
not depend on the epochs: ``--rows w24e1,auto1 --tta`` measures it in a minute.

A row is the cnn's parameters, plus ``seed`` (the training seed; the validation images stay
the same) and ``augment`` (changes to the clothing preset, such as ``{"erase": 0.5}``).
"""

from __future__ import annotations

import argparse
import time

ROWS = {
    "quick": {"epochs": 3, "batch_size": 128, "lr": 0.05, "tta": "flip"},
    "w24": {"epochs": 3, "batch_size": 128, "lr": 0.05, "tta": "flip", "width": 24},
    "w16": {"epochs": 4, "batch_size": 128, "lr": 0.05, "tta": "flip", "width": 16},
    "w16e3": {"epochs": 3, "batch_size": 128, "lr": 0.05, "tta": "flip", "width": 16},
    "w16d1e4": {"epochs": 4, "batch_size": 128, "lr": 0.05, "tta": "flip", "width": 16, "depth": 1},
    "w16e5": {"epochs": 5, "batch_size": 128, "lr": 0.05, "tta": "flip", "width": 16},
    "w16b256": {"epochs": 4, "batch_size": 256, "lr": 0.1, "tta": "flip", "width": 16},
    "w16e4ls0": {"epochs": 4, "batch_size": 128, "lr": 0.05, "tta": "flip", "width": 16, "label_smoothing": 0.0},
    "w16b256e5": {"epochs": 5, "batch_size": 256, "lr": 0.1, "tta": "flip", "width": 16},
    "w24e2": {"epochs": 2, "batch_size": 128, "lr": 0.05, "tta": "flip", "width": 24},
    # the default recipe's length (15 epochs, batch 256) at narrower widths, and longer
    "w24e15": {"epochs": 15, "width": 24},
    "w16e20": {"epochs": 20, "width": 16},
    "w16e15": {"epochs": 15, "width": 16},
    "w32e10": {"epochs": 10},
    "w24e12": {"epochs": 12, "width": 24},
    "w16e10": {"epochs": 10, "width": 16},
    "w28e12": {"epochs": 12, "width": 28},
    "w24e15ls2": {"epochs": 15, "width": 24, "label_smoothing": 0.2},
    # towards a recipe for 0.95 within 15 minutes in the automatic precision (bf16 here); no
    # early stopping in these rows (val_fraction=0)
    "auto30": {"epochs": 30, "precision": "auto"},
    "auto15": {"epochs": 15, "precision": "auto"},
    # levers not tried before (airbench's list and random erasing), each on auto30, chosen
    # by the hflip+shift column of --tta
    "auto30er": {"epochs": 30, "precision": "auto", "augment": {"erase": 0.5}},
    "auto30la": {"epochs": 30, "precision": "auto", "lookahead": 5},
    # wider or deeper stages for about the compute of auto30: width 40 costs (40/32)^2 = 1.56x
    # an epoch, a third convolution in each stage about 1.67x
    "auto19w40": {"epochs": 19, "precision": "auto", "width": 40},
    "auto18d3": {"epochs": 18, "precision": "auto", "depth": 3},
    # auto30 with other training seeds (the same validation images): how far two runs of
    # one recipe lie apart, to read the differences above
    "auto30s1": {"epochs": 30, "precision": "auto", "seed": 1},
    "auto30s2": {"epochs": 30, "precision": "auto", "seed": 2},
    # larger batches with the learning rate scaled with them (0.1 for 256, as the recipe
    # scales it): a GPU runs a small net's step in about the same time at 256 as at 1,024
    # images, so 4x fewer steps are up to 4x less training time there, if accuracy holds
    "auto15b512": {"epochs": 15, "precision": "auto", "batch_size": 512, "lr": 0.2},
    "auto15b1024": {"epochs": 15, "precision": "auto", "batch_size": 1024, "lr": 0.4},
    "auto15b1024lr2": {"epochs": 15, "precision": "auto", "batch_size": 1024, "lr": 0.2},
    # batch 512 scored above 256 at 15 epochs: the same for `best`'s 30 epochs, and 15 again
    # with another training seed (is the gain more than a seed's spread?)
    "auto30b512": {"epochs": 30, "precision": "auto", "batch_size": 512, "lr": 0.2},
    "auto15b512s1": {"epochs": 15, "precision": "auto", "batch_size": 512, "lr": 0.2, "seed": 1},
    "auto15s1": {"epochs": 15, "precision": "auto", "seed": 1},
    # one epoch: for the prediction seconds of --tta at widths 24 (fp32) and 32 (automatic)
    "w24e1": {"epochs": 1, "width": 24},
    "auto1": {"epochs": 1, "precision": "auto"},
}


def main() -> None:
    import trueclass as tc
    from trueclass.checks import audit

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--audit", action="store_true")
    ap.add_argument("--tta", action="store_true", help="also score each test-time augmentation")
    ap.add_argument("--tta-grid", action="store_true",
                    help="also score mirrors with every shift of a 3x3 and a 5x5 grid (18 and 50 views)")
    ap.add_argument("--save", default=None, help="keep each row's validation logits in DIR/ROW.npz")
    ap.add_argument("--ensemble", default=None, help="score averages of saved rows: A+B[,C+D]")
    args = ap.parse_args()
    if args.ensemble:
        return ensembles(args.save or ".", args.ensemble)
    ds = tc.load("fashion-mnist")
    train = ds.subset([i for i, p in enumerate(ds.predefined_split) if p == "train"])
    parts = tc.split(tc.load((train.images, [train.classes[k] for k in train.labels]), value_max=255),
                     test_size=0.1, seed=0)
    if args.audit:
        t = time.perf_counter()
        audit(ds)
        print(f"audit of the 70,000 images: {time.perf_counter() - t:.1f} s\n")
    from trueclass.training import PRESETS, TTA_MODES, preset

    modes = list(TTA_MODES) if args.tta else []
    grids = ["mirrors and 3x3 shifts (s) | ", "mirrors and 5x5 shifts (s) | "] if args.tta_grid else []
    print("| Row | Parameters | Validation accuracy | " + "".join(f"with {m} (prediction s) | " for m in modes)
          + "".join(grids) + "Training s | Trainer images/s |")
    print("|---|---|---|" + "---|" * (len(modes) + len(grids)) + "---|---|")
    for name in args.rows.split(","):
        params = {"precision": "fp32", **ROWS[name], "val_fraction": 0}
        seed = params.pop("seed", 0)
        augment = "clothing"
        if "augment" in params:  # a variant of the clothing preset, registered for this process only
            augment = f"clothing-{name}"
            PRESETS[augment] = preset({**PRESETS["clothing"].to_dict(), **params.pop("augment"), "name": augment})
        t = time.perf_counter()
        clf = tc.ImageClassifier("cnn", random_state=seed, augment=augment, **params).fit(parts.train)
        secs = time.perf_counter() - t
        acc = clf.score(parts.test)
        ips = clf.estimator_.training_record()["images_per_second"]
        feats, y = clf._features(parts.test), clf.label_indices(parts.test)
        cells = f"{acc:.4f}" + (f" ({timed_logits(clf.estimator_, feats, None)[1]:.2f} s)" if modes else "") + " | "
        kept = {"y": y, "none": timed_logits(clf.estimator_, feats, None, repeats=1)[0]}
        for m in modes:
            z, seconds = timed_logits(clf.estimator_, feats, m)
            kept[m] = z
            cells += f"{(z.argmax(1) == y).mean():.4f} ({seconds:.2f} s) | "
        if args.save:
            import os

            import numpy as np

            os.makedirs(args.save, exist_ok=True)
            np.savez(os.path.join(args.save, f"{name}.npz"), **kept)
        if args.tta_grid:
            for r in (1, 2):
                t = time.perf_counter()
                z = grid_logits(clf.estimator_, feats, r)
                cells += f"{(z.argmax(1) == y).mean():.4f} ({time.perf_counter() - t:.1f} s) | "
        print(f"| {name} | {ROWS[name]} | {cells}{secs:.0f} | {ips:.0f} |", flush=True)


def grid_logits(backend, feats, r: int):
    """The mean logits over the mirror and the image, each moved by every whole-pixel shift
    of up to ``r`` rows and columns with the edge filled with black (training.shifted, as
    the hflip+shift mode moves them): 2 (2r+1)^2 views, a wider version of that mode (whose
    shifts are the grid's centre and its four neighbours), measured before any of it is
    offered."""
    import numpy as np
    import torch

    from trueclass.training import shifted

    grid = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
    views = shifted(torch.as_tensor(np.asarray(feats["x"])), grid)
    total = sum(backend.logits({**feats, "x": v.contiguous().numpy()}, tta=False, mode="hflip") for v in views)
    return total / len(views)


def ensembles(folder: str, spec: str) -> None:
    """Each ``A+B`` of ``spec``: the validation accuracy of the mean softmax probabilities of
    the saved rows, as trained and with each test-time augmentation all of them kept."""
    import os

    import numpy as np

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    print("| Rows averaged | Test-time augmentation | Each alone | Average of their probabilities |")
    print("|---|---|---|---|")
    for combo in spec.split(","):
        saved = [np.load(os.path.join(folder, f"{n}.npz")) for n in combo.split("+")]
        y = saved[0]["y"]
        assert all(np.array_equal(s["y"], y) for s in saved), "rows of other validation images"
        for mode in [m for m in saved[0].files if m != "y" and all(m in s.files for s in saved)]:
            alone = ", ".join(f"{(s[mode].argmax(1) == y).mean():.4f}" for s in saved)
            mean = np.mean([softmax(s[mode].astype(np.float64)) for s in saved], axis=0)
            print(f"| {combo} | {mode} | {alone} | {(mean.argmax(1) == y).mean():.4f} |")


def timed_logits(backend, feats, mode, repeats: int = 3):
    """The backend's logits for ``feats`` with test-time augmentation ``mode``, and the
    median seconds of ``repeats`` calls."""
    import statistics

    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        z = backend.logits(feats, tta=False, mode=mode)
        times.append(time.perf_counter() - t)
    return z, statistics.median(times)


if __name__ == "__main__":
    main()
