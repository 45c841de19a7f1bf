"""Near copies the perceptual hash misses: shifted, cropped and rescaled copies, planted
among photographs, and the pairs reported that are not planted copies.

The set: 8 classes x 60 colour photo crops of 101x101 (benchmarks/photo_sets.py; a crop is
30-70% of the photo's short side at a random place), plus 30 copies of each kind made
from other crops: shifted by 10% (the edge strip repeated), cropped to 80% at a random
place and resized back, and rescaled to half and back. For every reported pair that is
not a planted copy, how much of the smaller crop lies inside the other (two crops of the
same scene overlapping by half are a real partial copy; crops of other places are not).
Then the same planting in 3,000 Fashion-MNIST images, where the window search is not run
(garments of one cut look like shifted copies of each other): what it would report.

    python benchmarks/near_copies.py
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))


def shift(im, rng, frac=0.1):
    h, w = im.shape[:2]
    dy, dx = int(round(h * frac)) * rng.choice([-1, 1]), int(round(w * frac)) * rng.choice([-1, 1])
    out = np.roll(im, (dy, dx), axis=(0, 1))
    if dy > 0:
        out[:dy] = out[dy : dy + 1]
    else:
        out[dy:] = out[dy - 1 : dy]
    if dx > 0:
        out[:, :dx] = out[:, dx : dx + 1]
    else:
        out[:, dx:] = out[:, dx - 1 : dx]
    return out


def crop(im, rng, keep=0.8):
    h, w = im.shape[:2]
    ch, cw = int(h * keep), int(w * keep)
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return np.asarray(Image.fromarray(im[y : y + ch, x : x + cw].squeeze()).resize((w, h), Image.Resampling.BILINEAR)
                      ).reshape(im.shape)


def rescale(im, rng, f=0.5):
    h, w = im.shape[:2]
    small = Image.fromarray(im.squeeze()).resize((int(w * f), int(h * f)), Image.Resampling.BILINEAR)
    return np.asarray(small.resize((w, h), Image.Resampling.BILINEAR)).reshape(im.shape)


KINDS = {"shifted 10%": shift, "cropped to 80%": crop, "rescaled to 50%": rescale}


def plant(images, per_kind=30, seed=1):
    rng = np.random.default_rng(seed)
    src = rng.choice(len(images), per_kind * len(KINDS), replace=False)
    kinds = [k for k in KINDS for _ in range(per_kind)]
    new = np.stack([KINDS[k](images[i], rng) for k, i in zip(kinds, src)])
    return np.concatenate([images, new]), src, kinds


def photo_crops():
    from photo_sets import PHOTOS, photo

    imgs, boxes = [], []
    for name in PHOTOS:
        im = photo(name)
        w, h = im.size
        rng = np.random.default_rng([3, sum(map(ord, name))])
        for _ in range(60):
            side = int(min(w, h) * rng.uniform(0.3, 0.7))
            x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            c = im.crop((x, y, x + side, y + side)).resize((101, 101), Image.Resampling.BICUBIC)
            imgs.append(np.asarray(c.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.3 else c))
            boxes.append((name, x, y, side))
    return np.stack(imgs), boxes


def inside(a, b):
    """Share of the smaller of two crops that lies inside the other (0 for two photos)."""
    (na, xa, ya, sa), (nb, xb, yb, sb) = a, b
    if na != nb:
        return 0.0
    ix = max(0, min(xa + sa, xb + sb) - max(xa, xb))
    iy = max(0, min(ya + sa, yb + sb) - max(ya, yb))
    return ix * iy / min(sa, sb) ** 2


def report(name, images, boxes=None):
    from trueclass.checks._copies import window_copies
    from trueclass.data._hashing import close_pairs, phash_bits

    X, src, kinds = plant(images)
    n0 = len(images)
    t = time.perf_counter()
    pairs = window_copies(X)
    seconds = time.perf_counter() - t
    found = {tuple(p[:2].astype(int)) for p in pairs}
    hashed = {tuple(p[:2]) for p in close_pairs(phash_bits(X), 6)}
    rows = []
    for k in KINDS:
        js = [n0 + j for j, kk in enumerate(kinds) if kk == k]
        got = sum((int(src[j - n0]), j) in found for j in js)
        by_hash = sum((int(src[j - n0]), j) in hashed for j in js)
        rows.append(f"| {name} | {k} | {got}/{len(js)} | {by_hash}/{len(js)} |")
    planted = {(int(src[j]), n0 + j) for j in range(len(kinds))}
    others = [p for p in found if p not in planted and p[1] < n0]
    with_copies = [p for p in found if p not in planted and p[1] >= n0]
    if boxes is not None:
        share = np.array([inside(boxes[a], boxes[b]) for a, b in others])
        other = (f"{len(others)} other pairs: {int((share >= 0.5).sum())} crops of one scene overlapping by half or more, "
                 f"{int(((share > 0) & (share < 0.5)).sum())} by less, {int((share == 0).sum())} of different content")
    else:
        other = f"{len(others)} other pairs (different garments of the same cut)"
    return rows, f"{name}: {other}; {len(with_copies)} pairs of a copy with another image; {seconds:.1f} s for {len(X):,} images"


def main() -> None:
    import trueclass as tc

    print(f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}\n", flush=True)
    photos, boxes = photo_crops()
    fm = tc.load("fashion-mnist")
    pick = np.random.default_rng(0).permutation(len(fm))[:3000]
    print("| data | copy | found by the window search | found by the perceptual hash (<= 6 bits) |")
    print("|---|---|---|---|")
    notes = []
    for name, images, b in (("photo crops (480)", photos, boxes),
                            ("Fashion-MNIST (3,000; not searched in a run)", fm.images[pick], None)):
        rows, note = report(name, images, b)
        print("\n".join(rows), flush=True)
        notes.append(note)
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main()
