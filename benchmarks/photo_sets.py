"""Folders of colour photo crops built from the sample photos that ship with
scikit-image, scikit-learn and matplotlib, for the benchmarks and walk-throughs.

Each class is one photo; an image is a random crop of it (a random place, 30-70% of the
short side, sometimes mirrored), resized and saved as JPEG. Crops of one photo share its
colours and textures but rarely its pixels, so a classifier must read the content.

    python benchmarks/photo_sets.py OUT [--per-class 60] [--bad 5]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image

# class name -> where its photo lives
PHOTOS = {
    "astronaut": ("skimage", "astronaut.png"),
    "cat": ("skimage", "chelsea.png"),
    "coffee": ("skimage", "coffee.png"),
    "rocket": ("skimage", "rocket.jpg"),
    "temple": ("sklearn", "china.jpg"),
    "flower": ("sklearn", "flower.jpg"),
    "portrait": ("matplotlib", "grace_hopper.jpg"),
    "motorcycle": ("skimage", "motorcycle_left.png"),
}


def photo(name: str) -> Image.Image:
    """The sample photo behind class ``name``, as RGB."""
    where, file = PHOTOS[name]
    if where == "skimage":
        import skimage

        path = Path(skimage.__file__).parent / "data" / file
    elif where == "sklearn":
        import sklearn.datasets

        path = Path(sklearn.datasets.__file__).parent / "images" / file
    else:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / file
    return Image.open(path).convert("RGB")


def crops(name: str, n: int, *, size: int | tuple[int, int] = 101, seed: int = 0) -> list[Image.Image]:
    """``n`` random crops of the photo of class ``name``, each ``size`` x ``size`` (or, for
    ``size=(lo, hi)``, each of a side drawn from lo..hi: a folder of mixed sizes)."""
    im = photo(name)
    w, h = im.size
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    out = []
    for _ in range(n):
        side = int(min(w, h) * rng.uniform(0.3, 0.7))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        px = size if isinstance(size, int) else int(rng.integers(size[0], size[1] + 1))
        c = im.crop((x, y, x + side, y + side)).resize((px, px), Image.Resampling.BICUBIC)
        out.append(c.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.3 else c)
    return out


BAD_FILES = {  # name -> bytes: what a real folder of photos holds besides photos
    "empty.jpg": b"",
    "notes.jpg": b"these are my notes, not a picture\n",
    "half.jpg": None,  # a JPEG cut off after its first 300 bytes
    "broken.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    "desktop.ini.png": b"[.ShellClassInfo]\nIconResource=x\n",
}


def build(root: str | Path, classes: tuple[str, ...] = ("astronaut", "cat", "coffee", "rocket"), *,
          per_class: int = 60, size: int | tuple[int, int] = 101, seed: int = 0, bad: int = 0,
          split: dict[str, int] | None = None) -> Path:
    """Write a folder ``root/<class>/<class>_NNN.jpg`` (or ``root/<part>/<class>/...``
    when ``split`` gives images per class for each part) and ``bad`` unreadable files
    scattered among the classes. Returns ``root``."""
    root = Path(root)
    parts = split or {"": per_class}
    for c_i, name in enumerate(classes):
        images = crops(name, sum(parts.values()), size=size, seed=seed)
        start = 0
        for part, n in parts.items():
            folder = root / part / name if part else root / name
            folder.mkdir(parents=True, exist_ok=True)
            for i, im in enumerate(images[start:start + n]):
                im.save(folder / f"{name}_{start + i:03d}.jpg", quality=90)
            start += n
    first = next(iter(parts))
    for i, (file, data) in enumerate(list(BAD_FILES.items())[:bad]):
        folder = (root / first / classes[i % len(classes)]) if first else root / classes[i % len(classes)]
        if data is None:
            good = next(folder.glob("*.jpg")).read_bytes()
            data = good[:300]
        (folder / file).write_bytes(data)
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--size", type=int, default=101)
    ap.add_argument("--bad", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classes", default="astronaut,cat,coffee,rocket")
    a = ap.parse_args()
    root = build(a.out, tuple(a.classes.split(",")), per_class=a.per_class, size=a.size, seed=a.seed, bad=a.bad)
    n = sum(1 for _ in root.rglob("*") if _.is_file())
    print(f"{n} files in {os.fspath(root)}")


if __name__ == "__main__":
    main()
