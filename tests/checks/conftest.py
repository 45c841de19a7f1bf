"""Image sets with planted problems: duplicates, leaks, flipped labels, rare classes, dark images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter


def textured(kind: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A distinct picture of class ``kind``: a random smooth texture (so no two images
    correlate) with a class shape on top (bar, column, square, cross)."""
    coarse = rng.random((4, 4)) * 120
    tex = np.asarray(Image.fromarray(coarse.astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC),
                     dtype=np.float64)
    a = tex + rng.normal(0, 6, (size, size))
    m, c = size // 5, size // 2
    if kind == 0:
        a[c - 3 : c + 3, m:-m] = 235
    elif kind == 1:
        a[m:-m, c - 3 : c + 3] = 235
    elif kind == 2:
        a[m:-m, m:-m] = 235
    else:
        a[c - 3 : c + 3, m:-m] = 235
        a[m:-m, c - 3 : c + 3] = 235
    return np.clip(a, 0, 255).astype(np.uint8)


def save(arr: np.ndarray, path: Path, fmt: str = "PNG", **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt, **kw)
    return path


@pytest.fixture
def planted(tmp_path):
    """A class-folder set with: an exact copy within a class, the same picture in another
    class (and format) - a conflict, a JPEG re-encoded, brighter copy (near), three dark
    images and two blurred ones. Returns (root, facts)."""
    rng = np.random.default_rng(1)
    root = tmp_path / "shapes"
    names = ["bars", "cols", "squares"]
    arrays = {}
    for k, name in enumerate(names):
        for i in range(30):
            arrays[f"{name}/{name}_{i:02d}.png"] = textured(k, rng)
            save(arrays[f"{name}/{name}_{i:02d}.png"], root / name / f"{name}_{i:02d}.png")
    # exact copy in the same class (same bytes)
    (root / "bars" / "bars_copy.png").write_bytes((root / "bars" / "bars_00.png").read_bytes())
    # the same pixels filed under another class, as BMP: a conflicting duplicate
    save(arrays["cols/cols_03.png"], root / "squares" / "cols_03_again.bmp", fmt="BMP")
    # a near copy: JPEG, quality 85, a little brighter
    bright = np.clip(arrays["squares/squares_05.png"].astype(int) + 12, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(bright).save(buf, format="JPEG", quality=85)
    (root / "squares" / "squares_05_reshot.jpg").write_bytes(buf.getvalue())
    # three very dark images, two blurred ones
    for i in range(3):
        save((textured(0, rng).astype(np.float64) * 0.12).astype(np.uint8), root / "bars" / f"dark_{i}.png")
    for i in range(2):
        img = Image.fromarray(textured(1, rng)).filter(ImageFilter.GaussianBlur(3))
        img.save(root / "cols" / f"blurred_{i}.png")
    facts = {
        "exact_same_class": {"bars/bars_00.png", "bars/bars_copy.png"},
        "conflict": {"cols/cols_03.png", "squares/cols_03_again.bmp"},
        "near": {"squares/squares_05.png", "squares/squares_05_reshot.jpg"},
        "dark": {f"bars/dark_{i}.png" for i in range(3)},
        "blurred": {f"cols/blurred_{i}.png" for i in range(2)},
    }
    return root, facts


@pytest.fixture
def presplit_with_leak(tmp_path):
    """train/ and test/ folders where two test images are copies of training images."""
    rng = np.random.default_rng(2)
    root = tmp_path / "presplit"
    kept = {}
    for part, n in (("train", 24), ("test", 8)):
        for k, name in enumerate(["bars", "cols", "squares"]):
            for i in range(n):
                a = textured(k, rng)
                save(a, root / part / name / f"{i:02d}.png")
                kept[f"{part}/{name}/{i:02d}.png"] = a
    save(kept["train/bars/03.png"], root / "test" / "bars" / "leaked.png")
    save(kept["train/cols/07.png"], root / "test" / "cols" / "leaked.png")
    return root, {"test/bars/leaked.png", "test/cols/leaked.png"}
