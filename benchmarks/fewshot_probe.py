"""Few-shot sets of three kinds, 10 training images a class, and the default model on them.

The sets are built from images that ship in packages, each with held-back test images
taken elsewhere than its training pool:
- colour photo crops: 8 classes (benchmarks/photo_sets.py), 101 px and 32 px; test crops
  drawn with another seed;
- small grey faces: scikit-image's ``lfw_subset`` (100 faces, 100 non-faces, 25x25); a
  pool of 40 a class, the other 120 images are the test images;
- grey textures: crops of scikit-image's brick, grass and gravel at 48 and 24 px; the pool
  from the top half of each picture, the test images from the bottom half.

Part 1 (validation only, choosing the lever): for each seed, 10 images a class drawn from
the pool train the lite0 probe with each ``augment`` setting, scored on the rest of the
pool. Part 2: the same draws scored on the held-back test images, without and with the
views. Part 3: ``trueclass train FOLDER`` as a user runs it (train/ and test/ folders, the
default model), whole command in a fresh process, one seed a set. Prints Markdown.

    python benchmarks/fewshot_probe.py [--seeds 6] [--skip-cli]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

SHOTS = 10


def _texture_crops(name: str, n: int, side: int, rows: tuple[float, float], seed: int) -> list[np.ndarray]:
    from PIL import Image
    from skimage import data

    im = getattr(data, name)()
    h, w = im.shape
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    out = []
    for _ in range(n):
        s = int(rng.integers(side, 2 * side))  # a crop of side..2*side, resized to side
        y = int(rng.integers(int(rows[0] * h), int(rows[1] * h) - s))
        x = int(rng.integers(0, w - s))
        out.append(np.asarray(Image.fromarray(im[y:y + s, x:x + s]).resize((side, side), Image.BILINEAR)))
    return out


def textures(side: int):
    import trueclass as tc

    def make(rows, n, seed):
        X, y = [], []
        for c in ("brick", "grass", "gravel"):
            X += _texture_crops(c, n, side, rows, seed)
            y += [c] * n
        return tc.load((np.stack(X), np.array(y)), value_max=255)

    return make((0.0, 0.5), 40, 0), make((0.5, 1.0), 60, 1)


def faces():
    import skimage

    import trueclass as tc

    a = np.load(Path(skimage.__file__).parent / "data" / "lfw_subset.npy")
    a = (a * 255).round().astype(np.uint8)
    y = np.array(["face"] * 100 + ["not face"] * 100)
    idx = np.random.default_rng(0).permutation(200)
    pool = np.sort(np.concatenate([idx[y[idx] == c][:40] for c in ("face", "not face")]))
    test = np.setdiff1d(np.arange(200), pool)
    return tc.load((a[pool], y[pool]), value_max=255), tc.load((a[test], y[test]), value_max=255)


def photos(size: int):
    from default_choice import photo_set
    from photo_sets import PHOTOS

    return photo_set(tuple(PHOTOS), 40, size, False, seed=0), photo_set(tuple(PHOTOS), 40, size, False, seed=99)


SETS = {
    "colour photo crops 101 px, 8 classes": lambda: photos(101),
    "colour photo crops 32 px, 8 classes": lambda: photos(32),
    "grey faces / not faces 25 px (lfw_subset)": faces,
    "grey textures 48 px, 3 classes": lambda: textures(48),
    "grey textures 24 px, 3 classes": lambda: textures(24),
}


def draw(pool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(np.flatnonzero(pool.labels == c))[:SHOTS] for c in range(pool.n_classes)])


def plain(ds):
    """``ds`` as a Dataset with no split of its own: every image a training image."""
    import trueclass as tc

    return tc.Dataset(images=ds.images, labels=ds.labels, classes=ds.classes, ids=ds.ids, value_max=ds.value_max,
                      provenance={"source": "few-shot draw"})


def accuracy(pool, test, seeds: int, augment: str) -> tuple[list[float], list[float], float]:
    """Validation accuracies (rest of the pool), test accuracies and the median fit seconds."""
    import trueclass as tc

    val_acc, test_acc, secs = [], [], []
    for seed in range(seeds):
        tr = draw(pool, seed)
        clf = tc.ImageClassifier("lite0", random_state=seed, augment=augment)
        t = time.perf_counter()
        clf.fit(plain(pool.subset(tr)), fingerprints=False)
        secs.append(time.perf_counter() - t)
        val_acc.append(clf.score(pool.subset(np.setdiff1d(np.arange(len(pool)), tr))))
        if test is not None:
            test_acc.append(clf.score(test))
    return val_acc, test_acc, float(np.median(secs))


def write_folder(root: Path, pool, test, seed: int) -> None:
    from PIL import Image

    for part, ds in (("train", pool.subset(draw(pool, seed))), ("test", test)):
        for i, (im, lab) in enumerate(zip(ds.images, ds.labels)):
            d = root / part / ds.classes[lab]
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.asarray(im, dtype=np.uint8).squeeze(-1) if im.shape[-1] == 1
                            else np.asarray(im, dtype=np.uint8)).save(d / f"{i:04d}.png")


def ms(v) -> str:
    return f"{np.mean(v):.3f} ± {np.std(v):.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--skip-cli", action="store_true")
    args = ap.parse_args()
    from trueclass.training import cpu_name

    print(f"{cpu_name()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
          f"{SHOTS} training images a class, {args.seeds} seeds (accuracy mean ± sd)\n")
    data = {name: make() for name, make in SETS.items()}
    print("Validation (the rest of each pool), lite0 probe by `augment`:\n")
    print("| set | none | shifts | flips+shifts | auto |")
    print("|---|---|---|---|---|")
    for name, (pool, _) in data.items():
        cells = [ms(accuracy(pool, None, args.seeds, a)[0]) for a in ("none", "shifts", "flips+shifts", "auto")]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print("\nHeld-back test images, lite0 probe:\n")
    print("| set | test images | without views | with views (auto) | fit s without / with |")
    print("|---|---|---|---|---|")
    for name, (pool, test) in data.items():
        _, before, s0 = accuracy(pool, test, args.seeds, "none")
        _, after, s1 = accuracy(pool, test, args.seeds, "auto")
        print(f"| {name} | {len(test)} | {ms(before)} | {ms(after)} | {s0:.1f} / {s1:.1f} |", flush=True)
    if args.skip_cli:
        return
    from photo_runs import first_use

    print("\n`trueclass train FOLDER` (train/ and test/ folders, the default model, seed 0), whole command "
          "in a fresh process, the embeddings emptied from the cache before each run:\n")
    print("| set | model | precision | test accuracy | wall s |")
    print("|---|---|---|---|---|")
    exe = Path(sys.executable).with_name("trueclass")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        first_use(cache)  # the backbone's ONNX file, made once on a machine
        for name, (pool, test) in data.items():
            folder = Path(tmp) / "-".join(w for w in name.split()[:4] if w.isalnum())  # one folder a set
            write_folder(folder, pool, test, 0)
            for precision in ("fp32", "auto"):
                shutil.rmtree(cache / "embeddings", ignore_errors=True)
                env = dict(os.environ, TRUECLASS_CACHE=str(cache), TRUECLASS_PRECISION=precision)
                t = time.perf_counter()
                subprocess.run([str(exe), "train", str(folder), "--out", str(Path(tmp) / "run"), "--overwrite"],
                               env=env, check=True, capture_output=True)
                wall = time.perf_counter() - t
                m = json.loads((Path(tmp) / "run" / "metrics.json").read_text())
                print(f"| {name} | {m['model']} | {precision} | {m['accuracy']:.3f} | {wall:.1f} |", flush=True)


if __name__ == "__main__":
    main()
