"""Fingerprints of the images a model was trained or validated on, so that no later
evaluation can score one of them, or a copy of one, as unseen.

Per image: the SHA-1 of its pixels as shown (0-255, whatever units the data set uses),
its perceptual hash (the audit's imagehash phash) and its copy view (grey, at most 32x32:
data.copy_views). An image is a copy of a training image by the audit's own rule
(data._copyrule: same pixels; or hash and correlation; or moved by a pixel or two), the
copy view standing in for the training pixels a model folder does not keep, so that
``evaluate`` leaves out exactly what the audit would call a copy.

Stored as plain numpy arrays (``np.savez_compressed``, read with ``allow_pickle=False``):
about 0.1-1 KB an image (a 28x28 view is 784 bytes before compression). Folders written
before the copy views kept 16x16 thumbnails; they are compared at 16x16.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import TrueclassError
from ..data import NEAR_MIN_SIDE, PHASH_BITS, copy_views, near_pairs, phash_bits, pixel_digests
from ..data import CHUNK_ROWS

__all__ = ["Fingerprints", "FINGERPRINTS_FILE", "input_stats", "unlike_training"]

#: An image whose brightness or contrast lies this many training standard deviations
#: from the training images' mean is unlike them (and goes to review at predict time).
UNLIKE_Z = 4.0


def _brightness_contrast(display: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = display.reshape(len(display), -1).astype(np.float32) / 255.0
    return x.mean(axis=1), x.std(axis=1)


def input_stats(display: np.ndarray, sizes: np.ndarray | None = None) -> dict[str, list[float]]:
    """Mean and spread of the images' brightness, contrast and colour saturation (0-1),
    and of their files' own height and width when ``sizes`` (N, 2) are known: kept with
    the model so that predict can tell an input unlike its training images, and so that
    another set's images can be set beside them."""
    b, c = _brightness_contrast(display)
    out = {"brightness": [float(b.mean()), float(b.std())], "contrast": [float(c.mean()), float(c.std())]}
    if len(display):
        sat = np.zeros(len(display), np.float32)
        if display.shape[-1] == 3:
            for s in range(0, len(display), CHUNK_ROWS):  # max - min of the channels, as HSV's chroma
                x = np.asarray(display[s : s + CHUNK_ROWS], dtype=np.float32)
                sat[s : s + len(x)] = (x.max(axis=-1) - x.min(axis=-1)).mean(axis=(1, 2)) / 255.0
        out["saturation"] = [float(sat.mean()), float(sat.std())]
    if sizes is not None and len(sizes):
        hw = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
        out["height"] = [float(hw[:, 0].mean()), float(hw[:, 0].std())]
        out["width"] = [float(hw[:, 1].mean()), float(hw[:, 1].std())]
    return out


def unlike_training(display: np.ndarray, stats: dict[str, list[float]] | None) -> list[str | None]:
    """Per image, why it is unlike the training images (inverted polarity, far brightness
    or contrast), or None."""
    if not stats:
        return [None] * len(display)
    b, c = _brightness_contrast(display)
    (bm, bs), (cm, cs) = stats["brightness"], stats["contrast"]
    out: list[str | None] = []
    for bi, ci in zip(b, c):
        zb = (bi - bm) / max(bs, 0.02)
        zc = (ci - cm) / max(cs, 0.02)
        if abs((1 - bi) - bm) / max(bs, 0.02) < 1.5 and abs(zb) > UNLIKE_Z:
            out.append(f"looks inverted (brightness {bi:.2f}; the training images average {bm:.2f}): dark on light "
                       "where they are light on dark, or the other way round")
        elif abs(zb) > UNLIKE_Z:
            out.append(f"brightness {bi:.2f} is far from the training images' {bm:.2f}")
        elif abs(zc) > UNLIKE_Z:
            out.append(f"contrast {ci:.2f} is far from the training images' {cm:.2f}")
        else:
            out.append(None)
    return out

FINGERPRINTS_FILE = "fingerprints.npz"
#: The side of the thumbnails that fingerprints kept before copy views (read, not written).
OLD_THUMB_SIDE = 16


@dataclass(frozen=True, eq=False)
class Fingerprints:
    """Fingerprints of N images: ``pixel`` (N, 20) SHA-1 digests, ``phash`` (N, 64)
    bits (empty for images under NEAR_MIN_SIDE), ``views`` (N, h, w) uint8 copy views."""

    pixel: np.ndarray
    phash: np.ndarray
    views: np.ndarray

    def __len__(self) -> int:
        return len(self.pixel)

    @classmethod
    def of(cls, display: np.ndarray, *, phash: np.ndarray | None = None, views: np.ndarray | None = None,
           side: int | None = None) -> "Fingerprints":
        """Fingerprints of uint8 images (N, H, W, C) in 0-255; ``phash`` and ``views`` reuse
        the bits and copy views the audit already made of them; ``side`` makes views of at
        most that side (to meet fingerprints of another side)."""

        if len(display) > CHUNK_ROWS:  # images on disk are read a chunk at a time
            def part(x, s):
                return None if x is None else x[s : s + CHUNK_ROWS]

            return cls.concat([cls.of(np.asarray(display[s : s + CHUNK_ROWS]), phash=part(phash, s),
                                      views=part(views, s), side=side)
                               for s in range(0, len(display), CHUNK_ROWS)])
        display = np.asarray(display)
        pixel = pixel_digests(display)
        if min(display.shape[1:3]) < NEAR_MIN_SIDE:
            bits = np.zeros((len(display), 0), dtype=bool)
        else:
            bits = phash if phash is not None else phash_bits(display)
            assert bits.shape == (len(display), PHASH_BITS)
        if views is None or side is not None:
            views = copy_views(display) if side is None else copy_views(display, side)
        return cls(pixel=pixel, phash=np.asarray(bits, dtype=bool), views=views)

    @classmethod
    def concat(cls, parts: "list[Fingerprints]") -> "Fingerprints":
        """The fingerprints of several sets of images (of one size), one after another."""
        return cls(pixel=np.concatenate([p.pixel for p in parts]), phash=np.concatenate([p.phash for p in parts]),
                   views=np.concatenate([p.views for p in parts]))

    def save(self, path: str | Path) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, pixel=self.pixel, phash=np.packbits(self.phash, axis=1),
                            n_bits=np.array(self.phash.shape[1]), views=self.views)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> "Fingerprints":
        try:
            with np.load(path, allow_pickle=False) as z:
                n_bits = int(z["n_bits"])
                bits = np.unpackbits(z["phash"], axis=1)[:, :n_bits].astype(bool)
                if "views" in z.files:
                    views = z["views"]
                else:  # written before copy views: 16x16 thumbnails, flat
                    views = z["thumbs"].reshape(len(z["thumbs"]), OLD_THUMB_SIDE, OLD_THUMB_SIDE)
                return cls(pixel=z["pixel"], phash=bits, views=views)
        except (OSError, KeyError, ValueError) as exc:
            raise TrueclassError(f"The fingerprints file {str(path)!r} is damaged ({exc}).") from None

    def copies(self, display: np.ndarray) -> np.ndarray:
        """Per image of ``display`` (uint8, N, H, W, C): True where it is an exact or near
        copy of one of these images."""
        side = self.views.shape[1] if self.views.shape[1:] != copy_views(display[:1]).shape[1:] else None
        return self.copies_of(Fingerprints.of(display, side=side))

    def copies_of(self, other: "Fingerprints") -> np.ndarray:
        """Per image of ``other``: True where it is a copy of one of these images, by the
        audit's rule (data._copyrule)."""
        mine = {d.tobytes() for d in self.pixel}
        hit = np.array([d.tobytes() in mine for d in other.pixel], dtype=bool)
        # (images under NEAR_MIN_SIDE have no hash: exact copies only)
        near = self.phash.shape[1] and other.phash.shape[1] == self.phash.shape[1]
        if near and (~hit).any() and len(self) and other.views.shape[1:] == self.views.shape[1:]:
            rest = np.flatnonzero(~hit)
            n = len(self)
            bits = np.concatenate([self.phash, other.phash[rest]])
            for pair in near_pairs(np.concatenate([self.views, other.views[rest]]), bits, n_first=n):
                hit[rest[pair[1] - n]] = True
        return hit
