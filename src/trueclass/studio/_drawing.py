"""A drawing from the page's canvas, turned into the form of the training images before
it is predicted or added to a class.

The canvas is 280x280 pixels of white ink on black. Shrunk as it is to the digits' 8x8,
a stroke becomes a faint smudge unlike any digit. The UCI digits were made another way:
each digit's bounding box scaled to a 32x32 bitmap, and the bitmap's on pixels counted in
4x4 blocks (0-16, ink bright on dark). :func:`drawing_as_training_image` does the same
for training images that small, and for larger ones crops the drawing to its ink and
scales it to their size.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from .._errors import TrueclassError

__all__ = ["drawing_as_training_image", "png_bytes", "BLOCK_SIDE"]

#: Training images this small (their longer side, pixels) are taken for block counts of a
#: bitmap, like the UCI digits (8x8 from 32x32 in 4x4 blocks).
BLOCK_SIDE = 16
#: A pixel brighter than this (0-255) is ink.
INK = 96
#: The digit's box fills this share of the bitmap (the UCI digits seldom touch its edge),
#: and its strokes are widened by a square of this side (pixels of the 32x32 bitmap): the
#: canvas's brush, scaled down, is a thinner pen than the forms were written with. Chosen
#: on drawings of 0-4, 7 and 9 read by the studio's logreg and auto models on 30 digits a class.
FILL = 0.8
PEN = 5


def _ink_box(a: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(a > INK)
    if len(ys) == 0:
        raise TrueclassError("The drawing is empty: draw something first (white on black).")
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def drawing_as_training_image(data: bytes, size: tuple[int, int], channels: int = 1) -> np.ndarray:
    """The drawing in ``data`` (an image file: bright ink on a dark ground) as a uint8
    image of ``size`` (height, width) with ``channels``, in the form of the training
    images: for small images (the digits) the ink's bounding box scaled into a bitmap 4
    times their size and counted in 4x4 blocks; for larger ones the ink's box, a margin
    around it, scaled to their size."""
    from PIL import Image

    h, w = int(size[0]), int(size[1])
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        if im.mode in ("RGBA", "LA") or "transparency" in im.info:  # transparent ground: dark
            ground = Image.new("RGBA", im.size, (0, 0, 0, 255))
            im = Image.alpha_composite(ground, im.convert("RGBA"))
        a = np.asarray(im.convert("L"), dtype=np.uint8)
    if np.median(a) > 127:  # dark ink on a light ground (a photo of paper): the digits' way round
        a = 255 - a
    y0, y1, x0, x1 = _ink_box(a)
    box = Image.fromarray(a[y0:y1, x0:x1])
    bh, bw = y1 - y0, x1 - x0
    if max(h, w) <= BLOCK_SIDE:
        # the UCI way: the digit's box scaled (aspect kept) into a bitmap of 4x4 blocks,
        # centred, then the on pixels counted per block: 0-16, shown as 0-255
        from PIL import ImageFilter

        H, W = 4 * h, 4 * w
        scale = min(FILL * H / bh, FILL * W / bw)
        nh, nw = max(1, round(bh * scale)), max(1, round(bw * scale))
        small = np.asarray(box.resize((nw, nh), Image.Resampling.LANCZOS), dtype=np.uint8)
        bitmap = np.zeros((H, W), dtype=np.uint8)
        top, left = (H - nh) // 2, (W - nw) // 2
        bitmap[top:top + nh, left:left + nw] = np.where(small > 127, 255, 0)
        # the pen of the UCI forms: a stroke about a fifth of the digit's height
        bitmap = np.asarray(Image.fromarray(bitmap).filter(ImageFilter.MaxFilter(PEN)), dtype=np.uint8) > 127
        counts = bitmap.reshape(h, 4, w, 4).sum(axis=(1, 3))
        out = np.round(counts * 255 / 16).astype(np.uint8)
    else:
        side = int(max(bh, bw) * 1.25)  # the ink centred on a square with a margin
        canvas = np.zeros((side, side), dtype=np.uint8)
        top, left = (side - bh) // 2, (side - bw) // 2
        canvas[top:top + bh, left:left + bw] = a[y0:y1, x0:x1]
        out = np.asarray(Image.fromarray(canvas).resize((w, h), Image.Resampling.LANCZOS), dtype=np.uint8)
    out = out[..., None]
    return np.repeat(out, channels, axis=-1) if channels == 3 else out


def png_bytes(image: np.ndarray) -> bytes:
    """An (H, W, 1|3) uint8 image as PNG file bytes."""
    from PIL import Image

    a = image[..., 0] if image.shape[-1] == 1 else image
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def project_image_form(files: list[Any]) -> tuple[tuple[int, int], int] | None:
    """((height, width), channels) most common among up to 50 of ``files`` (paths of the
    project's images, headers only), or None when there are none."""
    from collections import Counter

    from PIL import Image

    seen: Counter = Counter()
    for f in files[:50]:
        try:
            with Image.open(f) as im:
                seen[(im.size[1], im.size[0]), 1 if im.mode in ("L", "1", "LA", "I", "I;16") else 3] += 1
        except OSError:
            continue
    return seen.most_common(1)[0][0] if seen else None
