"""The copy rule: when two images are the same picture. One rule, used by the audit (pairs
within a set) and by a model's fingerprints (new images against the images it was trained
and validated on), so train, evaluate, predict and the studio decide "copy" alike.

Two images are copies when
- their pixels are the same (SHA-1 of the decoded pixels, or of the files' bytes), or, for
  images of at least NEAR_MIN_SIDE pixels a side that are not featureless,
- their perceptual hashes (imagehash's phash) differ in at most PHASH_CANDIDATE_DISTANCE
  of 64 bits and their copy views correlate at least NEAR_CORRELATION (a JPEG re-encoding,
  a brightness or contrast change), or
- one is the other moved by up to SHIFT_PX pixels: among each image's SHIFT_NEIGHBOURS
  nearest neighbours by the magnitude of the low frequencies of its Fourier transform
  (which a shift does not change), the best correlation over shifts of up to SHIFT_PX
  pixels reaches SHIFT_CORRELATION (SHIFT_IN_PLACE_CORRELATION where the best is unshifted).

The copy view of an image is grey, at most COPY_SIDE pixels a side (larger images are
shrunk), the same in the audit and in the fingerprints a model keeps. A featureless image
(plain sky, a blank page: little left once its smooth shading is taken away) is matched
exactly only: two of them correlate as copies do, and chained into one group they forced a
class's images to one side of the split.

Measured (benchmarks/near_copies.py): on 10,000 Fashion-MNIST images with 60 planted
copies (exact, brightened, JPEG, shifted 1 and 2 px) the shift search finds the shifted
ones that the hash misses; garments of one cut (trousers, plain tees) correlate up to
0.993 with each other, hence the stricter thresholds for a pair the search alone finds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._hashing import close_pairs

__all__ = ["COPY_SIDE", "NEAR_CORRELATION", "NEAR_MIN_SIDE", "PHASH_CANDIDATE_DISTANCE", "SHIFT_CORRELATION",
           "SHIFT_PX", "copy_views", "describe_near_pair", "featureless", "near_pairs", "near_rule_text"]

#: Candidate near duplicates differ in at most this many of the 64 perceptual-hash bits...
PHASH_CANDIDATE_DISTANCE = 6
#: ... and are confirmed when their mean-centred copy views correlate at least this much.
#: Measured on Fashion-MNIST: a JPEG re-encoding (quality 70), a brightness or contrast
#: change or mild noise keeps a copy at 0.977-1.0 (median 0.997); different garments that
#: merely look alike rarely pass 0.985 (0.1% of the candidate pairs).
NEAR_CORRELATION = 0.985
#: A match found by the shift search (not by the hash) needs this much at its best shift:
#: the best of 25 shifts is higher by chance than one comparison, and the search looks at
#: each image's closest look-alikes. Measured on 10,000 Fashion-MNIST images: shifted
#: copies reach 1.0, shifted and JPEG re-encoded ones 0.987-0.998.
SHIFT_CORRELATION = 0.99
#: ... and this much where its best match is in place (unshifted): the hash pairs real
#: in-place copies already, and what the search adds there are different trousers of one
#: cut, at 0.985-0.993 (30 such pairs among 10,000 images at 0.985).
SHIFT_IN_PLACE_CORRELATION = 0.995
#: Shifts tried, in pixels of the copy view, along each axis.
SHIFT_PX = 2
#: Partners compared per image in the shift search (nearest by Fourier magnitude; a copy
#: moved 2 px that pushed part of a garment out of the frame ranked up to 11th).
SHIFT_NEIGHBOURS = 5
#: Up to this many images the shift search's neighbours are found exactly; above, by an index.
SHIFT_EXACT_MAX = 20_000
#: Images smaller than this (short side, pixels) are checked for exact duplicates only: a
#: perceptual hash works on a 32x32 picture, and at 8x8 two samples of the same digit by
#: one writer look as alike as a copy does.
NEAR_MIN_SIDE = 16
#: Copy views are at most this many pixels a side.
COPY_SIDE = 32
#: An image whose detail (the spread of its copy view once a 5x5 blur of it is taken away,
#: 0-255) is below this is featureless: matched exactly only.
FEATURELESS_DETAIL = 2.0
#: Pairs of views compared at once in the shift search.
_CHUNK = 2048


def copy_views(display: np.ndarray, side: int = COPY_SIDE) -> np.ndarray:
    """(N, h, w) uint8 grey views of uint8 (N, H, W, C) images in 0-255, at most ``side``
    pixels a side (larger images are shrunk to side x side), a chunk at a time."""
    from PIL import Image

    n, h, w = display.shape[:3]
    out_hw = (h, w) if max(h, w) <= side else (side, side)
    out = np.empty((n,) + out_hw, dtype=np.uint8)
    for s in range(0, n, 4096):
        x = np.asarray(display[s : s + 4096])
        if x.shape[-1] == 3:  # ITU-R 601 luma, as Pillow's convert("L")
            x = np.rint(x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
        else:
            x = x[..., 0]
        if out_hw != (h, w):
            x = np.stack([np.asarray(Image.fromarray(im).resize((out_hw[1], out_hw[0]), Image.Resampling.BILINEAR))
                          for im in x])
        out[s : s + len(x)] = x
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32).reshape(len(x), -1)
    x -= x.mean(axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-6
    return x


def featureless(views: np.ndarray) -> np.ndarray:
    """Per view, whether it has almost no detail (see FEATURELESS_DETAIL)."""
    from scipy.ndimage import uniform_filter

    out = np.empty(len(views), dtype=bool)
    for s in range(0, len(views), 4096):
        v = views[s : s + 4096].astype(np.float32)
        detail = v - uniform_filter(v, size=(1, 5, 5), mode="nearest")
        out[s : s + len(v)] = detail.reshape(len(v), -1).std(axis=1) < FEATURELESS_DETAIL
    return out


def _spectra(views: np.ndarray) -> np.ndarray:
    """Unit vectors of the log-magnitudes of the lowest spatial frequencies (the constant
    left out): a shift moves the phases of the Fourier transform, not its magnitudes."""
    k = 6
    out = []
    for s in range(0, len(views), 4096):
        f = np.abs(np.fft.rfft2(views[s : s + 4096].astype(np.float32)))
        low = np.concatenate([f[:, :k, :k], f[:, -(k - 1):, :k]], axis=1).reshape(len(f), -1)[:, 1:]
        out.append(_unit(np.log1p(low)))
    return np.concatenate(out)


def _window_sums(x: np.ndarray, r: int) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """For each column range a shift of up to ``r`` px leaves, the running sums down the rows
    of ``x`` and of its square (N, h+1), in float64: any window's sum in two look-ups."""
    n, h, w = x.shape
    out = {}
    for dx in range(-r, r + 1):
        cols = (max(0, dx), w + min(0, dx))
        part = x[:, :, cols[0]:cols[1]]
        s1 = np.zeros((n, h + 1))
        s2 = np.zeros((n, h + 1))
        s1[:, 1:] = np.cumsum(part.sum(axis=2), axis=1)
        s2[:, 1:] = np.cumsum(np.einsum("ijk,ijk->ij", part, part), axis=1)
        out[cols] = (s1, s2)
    return out


def _best_shift(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For pairs of views, the best correlation of ``a`` with ``b`` moved by up to SHIFT_PX
    pixels, over the part they share (what a shift pushed out of the frame is not held
    against the copy), and whether it was found in place.

    Pearson's correlation of each pair of windows from its sums: the windows' sums and sums
    of squares from running sums down the rows, and only the sum of products computed per shift
    (one pass over the shared part, no copies). Done as the textbook way (centring and
    normalising copies of both windows, 25 times) it took 57 s of Fashion-MNIST's 100-s
    copy search on 2 cores. The images are centred on their own mean first, which leaves
    every window's correlation unchanged and keeps the float32 products' sums small."""
    r = SHIFT_PX
    h, w = a.shape[1:]
    fa = a.astype(np.float32)
    fb = b.astype(np.float32)
    fa -= fa.mean(axis=(1, 2), keepdims=True)
    fb -= fb.mean(axis=(1, 2), keepdims=True)
    sums_a, sums_b = _window_sums(fa, r), _window_sums(fb, r)
    best = np.full(len(a), -1.0)
    in_place = best
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            ya, yb = (max(0, dy), h + min(0, dy)), (max(0, -dy), h + min(0, -dy))
            xa, xb = (max(0, dx), w + min(0, dx)), (max(0, -dx), w + min(0, -dx))
            m = (ya[1] - ya[0]) * (xa[1] - xa[0])
            sxy = np.einsum("ijk,ijk->i", fa[:, ya[0]:ya[1], xa[0]:xa[1]], fb[:, yb[0]:yb[1], xb[0]:xb[1]])
            (a1, a2), (b1, b2) = sums_a[xa], sums_b[xb]
            sx, sy = a1[:, ya[1]] - a1[:, ya[0]], b1[:, yb[1]] - b1[:, yb[0]]
            vx = np.maximum(a2[:, ya[1]] - a2[:, ya[0]] - sx * sx / m, 0.0)
            vy = np.maximum(b2[:, yb[1]] - b2[:, yb[0]] - sy * sy / m, 0.0)
            corr = (sxy - sx * sy / m) / (np.sqrt(vx * vy) + 1e-6)
            if dy == 0 and dx == 0:
                in_place = corr
            best = np.maximum(best, corr)
    return best.astype(np.float32), in_place >= best


def _shift_candidates(spec: np.ndarray, n_first: int | None) -> np.ndarray:
    """(P, 2) pairs i < j of each image and its nearest SHIFT_NEIGHBOURS by spectrum
    (only pairs across the two parts when ``n_first`` is given)."""
    from .._extras import has_extra
    from ._neighbours import nearest

    if n_first is None:
        base, queries, offset = spec, spec, 0
    else:
        base, queries, offset = spec[:n_first], spec[n_first:], n_first
    k = min(SHIFT_NEIGHBOURS + (1 if n_first is None else 0), len(base))
    if k == 0 or len(queries) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    # exact up to SHIFT_EXACT_MAX images; above, faiss's index where the 'scale' extra is
    # installed (the exact search of 70,000 took 90 s of a 113-s audit on 2 cores)
    _, idx = nearest(base, queries, k, exact=len(base) <= SHIFT_EXACT_MAX or not has_extra("scale"))
    q = np.repeat(np.arange(len(queries)) + offset, idx.shape[1])
    b = idx.ravel()
    keep = (b >= 0) & (b != q)
    pairs = np.stack([np.minimum(q[keep], b[keep]), np.maximum(q[keep], b[keep])], axis=1)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def near_pairs(views: np.ndarray, bits: np.ndarray | None, *, n_first: int | None = None,
               shifts: bool = True) -> list[tuple[int, int, str, int | None, float]]:
    """Near copies among ``views`` (N, h, w) with their perceptual hashes ``bits`` (N, 64),
    by the rule above: (i, j, how, hash distance or None, correlation) with i < j. With
    ``n_first``, only pairs joining one of the first ``n_first`` images to one of the rest."""
    n = len(views)
    if n < 2 or min(views.shape[1:3]) < NEAR_MIN_SIDE:
        return []
    plain = featureless(views)
    found: dict[tuple[int, int], tuple[int, int, str, int | None, float]] = {}
    if bits is not None and len(bits):
        cand = close_pairs(bits, PHASH_CANDIDATE_DISTANCE)
        if n_first is not None:
            cand = cand[(cand[:, 0] < n_first) & (cand[:, 1] >= n_first)]
        cand = cand[~plain[cand[:, 0]] & ~plain[cand[:, 1]]]
        for s in range(0, len(cand), 50_000):  # in chunks: the gathered rows are big
            c = cand[s : s + 50_000]
            corr = np.einsum("ij,ij->i", _unit(views[c[:, 0]]), _unit(views[c[:, 1]]))
            for (i, j, d), r in zip(c, corr):
                if r >= NEAR_CORRELATION:
                    found[(int(i), int(j))] = (int(i), int(j), "perceptual hash", int(d), round(float(r), 4))
    if shifts:
        cand = _shift_candidates(_spectra(views), n_first)
        cand = cand[~plain[cand[:, 0]] & ~plain[cand[:, 1]]]
        cand = np.array([p for p in cand.tolist() if tuple(p) not in found], dtype=np.int64).reshape(-1, 2)
        for s in range(0, len(cand), _CHUNK):
            c = cand[s : s + _CHUNK]
            best, in_place = _best_shift(views[c[:, 0]], views[c[:, 1]])
            ok = best >= np.where(in_place, SHIFT_IN_PLACE_CORRELATION, SHIFT_CORRELATION)
            for (i, j), r, still in zip(c[ok], best[ok], in_place[ok]):
                how = "same framing, pixels changed" if still else f"shifted by up to {SHIFT_PX} px"
                found[(int(i), int(j))] = (int(i), int(j), how, None, round(float(r), 4))
    return [found[k] for k in sorted(found)]


def near_rule_text() -> str:
    """The near-copy rule in words (audit.json's near_duplicate_rule)."""
    return (f"perceptual hash (imagehash phash) within {PHASH_CANDIDATE_DISTANCE} of 64 bits and pixel correlation "
            f">= {NEAR_CORRELATION}, or moved by up to {SHIFT_PX} px (nearest by Fourier magnitude) and correlating "
            f">= {SHIFT_CORRELATION} once aligned ({SHIFT_IN_PLACE_CORRELATION} unmoved), on grey views of at most "
            f"{COPY_SIDE}x{COPY_SIDE} pixels; featureless images exactly only")


def describe_near_pair(pair: tuple[int, int, str, int | None, float]) -> dict[str, Any]:
    """audit.json's entry of a near pair."""
    i, j, how, d, r = pair
    return {"i": i, "j": j, "kind": "near", "how": how, "distance": d, "correlation": r}
