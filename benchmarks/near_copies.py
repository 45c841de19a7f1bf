"""Near copies the perceptual hash misses: shifted, cropped and rescaled copies, planted
among photographs, and the pairs reported that are not planted copies.

First the audit's whole copy rule on small grey pictures (10,000 Fashion-MNIST training
images; the 1,797 digits drawn at 32x32) with 20 copies planted of each kind: exact,
brightened, JPEG, shifted 1 and 2 px, shifted and JPEG, rescaled, cropped; found per kind,
and the pairs reported between two original images (false pairs, or the set's own copies).

Then the window search of photographs. The set: 8 classes x 60 colour photo crops of 101x101 (benchmarks/photo_sets.py; a crop is
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


def exact(im, rng):
    return im.copy()


def brighten(im, rng):
    return np.clip(im.astype(np.float32) * 1.15 + 15, 0, 255).astype(np.uint8)


def jpeg(im, rng, quality=70):
    import io

    buf = io.BytesIO()
    Image.fromarray(im.squeeze()).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf)).reshape(im.shape)


def move(im, rng, px=1):
    """Moved by ``px`` pixels along each axis (the uncovered strip repeats the edge)."""
    h, w = im.shape[:2]
    return shift(im, rng, frac=px / h)


KINDS = {"shifted 10%": shift, "cropped to 80%": crop, "rescaled to 50%": rescale}
#: The copies of small grey pictures the issue names, for the audit's whole rule.
SMALL_KINDS = {"exact": exact, "brightened": brighten, "JPEG (quality 70)": jpeg,
               "shifted 1 px": move, "shifted 2 px": lambda im, rng: move(im, rng, 2),
               "shifted 1 px + JPEG": lambda im, rng: jpeg(move(im, rng, 1), rng),
               "rescaled to 50%": rescale, "cropped to 90%": lambda im, rng: crop(im, rng, 0.9)}


def plant(images, per_kind=30, seed=1, kinds=None):
    """``images`` followed by ``per_kind`` copies of each kind, of distinct other images:
    (all images, the source of each copy, the kind of each copy)."""
    kinds_of = KINDS if kinds is None else kinds
    rng = np.random.default_rng(seed)
    src = rng.choice(len(images), per_kind * len(kinds_of), replace=False)
    kinds = [k for k in kinds_of for _ in range(per_kind)]
    new = np.stack([kinds_of[k](images[i], rng) for k, i in zip(kinds, src)])
    return np.concatenate([images, new]), src, kinds


def audit_rule(name, images, per_kind=20):
    """The audit's whole copy rule (find_duplicates) on ``images`` with SMALL_KINDS planted:
    table rows per kind, and the false pairs."""
    import trueclass as tc
    from trueclass.checks import find_duplicates

    X, src, kinds = plant(images, per_kind, kinds=SMALL_KINDS)
    n0 = len(images)
    ds = tc.load((X, (np.arange(len(X)) % 2).astype(str)), value_max=255)
    t = time.perf_counter()
    dups = find_duplicates(ds)
    seconds = time.perf_counter() - t
    found = {(p["i"], p["j"]) for p in dups.pairs}
    planted = {(int(src[j]), n0 + j) for j in range(len(kinds))}
    rows = []
    for k in SMALL_KINDS:
        js = [j for j, kk in enumerate(kinds) if kk == k]
        rows.append(f"| {name} | {k} | {sum((int(src[j]), n0 + j) in found for j in js)}/{len(js)} |")
    false = [p for p in found - planted if p[1] < n0]
    via_copy = [p for p in found - planted if p[1] >= n0]
    return rows, (f"{name}: {len(false)} pairs of two original images ({len(false) / n0 * 1000:.1f} per 1,000 "
                  f"images; the set's own near duplicates among them), {len(via_copy)} of a copy with another original;"
                  f" {seconds:.1f} s for {len(X):,} images")


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
    from audit_labels import cpu

    print(f"{cpu()}, Python {platform.python_version()}\n", flush=True)
    fm = tc.load("fashion-mnist")
    train = np.flatnonzero(fm.predefined_split == "train")
    sample = fm.images[np.random.default_rng(0).permutation(train)[:10_000]]
    digits = tc.load("digits")
    big = np.stack([np.asarray(Image.fromarray((im[..., 0] * 15).astype(np.uint8)).resize((32, 32),
                    Image.Resampling.BILINEAR)) for im in digits.images])[..., None]
    print("The audit's copy rule (hash, correlation and the shift search), 20 planted copies of each kind:\n")
    print("| data | copy | found |")
    print("|---|---|---|")
    notes = []
    for name, images in (("Fashion-MNIST (10,000)", sample), ("digits at 32x32 (1,797)", big)):
        rows, note = audit_rule(name, images)
        print("\n".join(rows), flush=True)
        notes.append(note)
    print()
    print("\n".join(notes))
    print("\nThe window search of photographs:\n")
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
