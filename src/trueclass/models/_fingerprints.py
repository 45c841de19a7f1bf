"""Fingerprints of the images a model was trained or validated on, so that no later
evaluation can score one of them, or a copy of one, as unseen.

Per image: the SHA-1 of its pixels as shown (0-255, whatever units the data set uses),
its perceptual hash (the audit's imagehash phash) and a 16x16 grey thumbnail. An image
is a copy of a training image when its pixels are the same, or when the perceptual
hashes differ in at most PHASH_CANDIDATE_DISTANCE bits and the mean-centred thumbnails
correlate at least NEAR_CORRELATION: the audit's own rule for near duplicates, with the
thumbnail standing in for the training pixels a model folder does not keep. Images
smaller than NEAR_MIN_SIDE are matched exactly only, as the audit does.

Stored as plain numpy arrays (``np.savez_compressed``, read with ``allow_pickle=False``):
about 300 bytes an image.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import TrueclassError
from ..data import (NEAR_CORRELATION, NEAR_MIN_SIDE, PHASH_BITS, PHASH_CANDIDATE_DISTANCE, close_pairs,
                             phash_bits, unit_rows)
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
THUMB_SIDE = 16


def _thumbnails(display: np.ndarray) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(display), THUMB_SIDE * THUMB_SIDE), dtype=np.uint8)
    for i, im in enumerate(display):
        pil = Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im).convert("L")
        out[i] = np.asarray(pil.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR)).ravel()
    return out


@dataclass(frozen=True, eq=False)
class Fingerprints:
    """Fingerprints of N images: ``pixel`` (N, 20) SHA-1 digests, ``phash`` (N, 64)
    bits (empty for images under NEAR_MIN_SIDE), ``thumbs`` (N, 256) uint8."""

    pixel: np.ndarray
    phash: np.ndarray
    thumbs: np.ndarray

    def __len__(self) -> int:
        return len(self.pixel)

    @classmethod
    def of(cls, display: np.ndarray, *, phash: np.ndarray | None = None) -> "Fingerprints":
        """Fingerprints of uint8 images (N, H, W, C) in 0-255; ``phash`` reuses the bits
        the audit already computed for them."""

        if len(display) > CHUNK_ROWS:  # images on disk are read a chunk at a time
            return cls.concat([
                cls.of(np.asarray(display[s : s + CHUNK_ROWS]), phash=None if phash is None else phash[s : s + CHUNK_ROWS])
                for s in range(0, len(display), CHUNK_ROWS)])
        display = np.asarray(display)
        pixel = np.array([np.frombuffer(hashlib.sha1(np.ascontiguousarray(x).tobytes()).digest(), np.uint8)
                          for x in display], dtype=np.uint8).reshape(len(display), 20)
        if min(display.shape[1:3]) < NEAR_MIN_SIDE:
            bits = np.zeros((len(display), 0), dtype=bool)
        else:
            bits = phash if phash is not None else phash_bits(display)
            assert bits.shape == (len(display), PHASH_BITS)
        return cls(pixel=pixel, phash=np.asarray(bits, dtype=bool), thumbs=_thumbnails(display))

    @classmethod
    def concat(cls, parts: "list[Fingerprints]") -> "Fingerprints":
        """The fingerprints of several sets of images (of one size), one after another."""
        return cls(pixel=np.concatenate([p.pixel for p in parts]), phash=np.concatenate([p.phash for p in parts]),
                   thumbs=np.concatenate([p.thumbs for p in parts]))

    def save(self, path: str | Path) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, pixel=self.pixel, phash=np.packbits(self.phash, axis=1),
                            n_bits=np.array(self.phash.shape[1]), thumbs=self.thumbs)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> "Fingerprints":
        try:
            with np.load(path, allow_pickle=False) as z:
                n_bits = int(z["n_bits"])
                bits = np.unpackbits(z["phash"], axis=1)[:, :n_bits].astype(bool)
                return cls(pixel=z["pixel"], phash=bits, thumbs=z["thumbs"])
        except (OSError, KeyError, ValueError) as exc:
            raise TrueclassError(f"The fingerprints file {str(path)!r} is damaged ({exc}).") from None

    def copies(self, display: np.ndarray) -> np.ndarray:
        """Per image of ``display`` (uint8, N, H, W, C): True where it is an exact or near
        copy of one of these images."""
        other = Fingerprints.of(display)
        return self.copies_of(other)

    def copies_of(self, other: "Fingerprints") -> np.ndarray:

        mine = {d.tobytes() for d in self.pixel}
        hit = np.array([d.tobytes() in mine for d in other.pixel], dtype=bool)
        if self.phash.shape[1] and other.phash.shape[1] == self.phash.shape[1] and len(self) and (~hit).any():
            rest = np.flatnonzero(~hit)
            n = len(self)
            pairs = close_pairs(np.concatenate([self.phash, other.phash[rest]]), PHASH_CANDIDATE_DISTANCE)
            pairs = pairs[(pairs[:, 0] < n) & (pairs[:, 1] >= n)]  # one image of each side
            if len(pairs):
                a = unit_rows(self.thumbs[pairs[:, 0]])
                b = unit_rows(other.thumbs[rest[pairs[:, 1] - n]])
                near = np.einsum("ij,ij->i", a, b) >= NEAR_CORRELATION
                hit[rest[pairs[near, 1] - n]] = True
        return hit
