"""Shifted, cropped and rescaled copies of photographs, which a perceptual hash misses.

A copy of a photo that was re-framed (shifted by a tenth, cropped to four fifths and
resized) shares no hash bits worth the name with its original, and the pooled embeddings
of a pretrained backbone do not rank it first among look-alikes either (measured: the
copy's cosine 0.75-0.95, often below another crop of the same scene). What does find it is
the copy's own pixels somewhere inside the original. So each image is seen through a grid
of windows (the whole image, 3x3 windows of 90% of the side, 5x5 of 80%), each shrunk to
an 8x8 grey thumbnail; each image's whole view and centre view (80%) are compared with
every window of every other image (one matrix product per block), the best few partners
are kept, and each is confirmed at 24x24 by a local search of scale and position around
the best window (normalised correlation, torchvision's ``roi_align`` doing the cropping
and resampling of every window in one batched call).

Measured (benchmarks/near_copies.py) on 480 colour photo crops with 30 planted copies of
each kind: 30/30 shifted, 29/30 cropped and 30/30 rescaled copies found at a correlation
of 0.95; every other pair it reported was two crops of the same scene overlapping by half
or more (a real partial copy), none of different content. On small grey drawings on a
plain background (Fashion-MNIST) garments of one cut look like shifted copies of each
other (3,044 such pairs among 3,000), and so do grey shapes on smooth noise, so the search
is only run on colour photographs of at least 64 pixels
(models._choice.is_photograph tells photographs from drawings).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["window_copies", "window_search_suits", "WINDOW_CORRELATION", "WINDOW_MAX_IMAGES", "WINDOW_MIN_SIDE"]

#: A pair is a copy when its aligned 24x24 windows correlate at least this much.
WINDOW_CORRELATION = 0.95
#: Up to this many images, every image's windows are compared with every other's exactly
#: (its cost grows with the square); above, a nearest-neighbour index finds the candidates.
EXACT_IMAGES = 5_000
#: Above this many images the search is not run (memory: 37 KB an image at WORK_SIDE).
WINDOW_MAX_IMAGES = 50_000
#: Grey images and images smaller than this (short side) are left to the hash: on grey
#: pictures with little texture (Fashion-MNIST, drawn shapes on smooth 32x32 noise) pictures
#: of one shape correlate up to 0.99 once aligned, as copies do.
WINDOW_MIN_SIDE = 64
#: (window side as a share of the image's, windows along each axis)
GALLERY = ((1.0, 1), (0.9, 3), (0.8, 5))
QUERY = ((1.0, 1), (0.8, 1))
COARSE, FINE, WORK_SIDE, TOP_K = 8, 24, 96, 3
SCALES = (0.96, 1.0, 1.04)
OFFSETS = (-0.02, 0.0, 0.02)


def _boxes(spec) -> np.ndarray:
    """(V, 4) windows as fractions of the image: x0, y0, x1, y1."""
    out = []
    for side, n in spec:
        offs = np.linspace(0, 1 - side, n) if n > 1 else [(1 - side) / 2]
        out += [[ox, oy, ox + side, oy + side] for oy in offs for ox in offs]
    return np.asarray(out, dtype=np.float32)


#: A row or column of an image edge whose grey levels span at most this (0-255) is a plain
#: margin: a transparent border laid on white, a letterbox bar.
FLAT_SPAN = 2.0


def _without_margins(g):
    """Grey images (n, 1, H, W) with their plain margins cut away and what is left stretched
    back to H x W: two different photos with one white border correlated 0.95 on the
    border's edge alone (a false copy, and a false label conflict between them)."""
    import torch

    h, w = g.shape[-2:]
    flat_rows = (g.amax(dim=3) - g.amin(dim=3))[:, 0] <= FLAT_SPAN  # (n, H)
    flat_cols = (g.amax(dim=2) - g.amin(dim=2))[:, 0] <= FLAT_SPAN  # (n, W)

    def run(flat):  # leading plain lines, per image
        return torch.cumprod(flat.to(torch.int32), dim=1).sum(dim=1)

    top, bottom = run(flat_rows), run(flat_rows.flip(1))
    left, right = run(flat_cols), run(flat_cols.flip(1))
    for i in torch.nonzero((top + bottom + left + right) > 0).flatten().tolist():
        y0, y1, x0, x1 = int(top[i]), h - int(bottom[i]), int(left[i]), w - int(right[i])
        if y1 - y0 >= h // 2 and x1 - x0 >= w // 2:  # else mostly plain: left as it is
            g[i : i + 1] = torch.nn.functional.interpolate(g[i : i + 1, :, y0:y1, x0:x1], size=(h, w),
                                                           mode="bilinear", align_corners=False)
    return g


def _grey(images: np.ndarray):
    """Grey float images at most WORK_SIDE a side without their plain margins, a chunk at a
    time (images on disk are never read whole)."""
    import torch

    out = []
    for s in range(0, len(images), 1024):
        g = torch.from_numpy(np.asarray(images[s : s + 1024], dtype=np.float32).mean(axis=3))[:, None]
        g = _without_margins(g)
        if max(g.shape[-2:]) > WORK_SIDE:
            g = torch.nn.functional.interpolate(g, size=(WORK_SIDE, WORK_SIDE), mode="area")
        out.append(g)
    return torch.cat(out)


def _crops(g, image_index: np.ndarray, boxes: np.ndarray, side: int) -> np.ndarray:
    """Mean-centred unit vectors of the windows ``boxes`` (fractions) of images
    ``image_index``, each resampled to side x side."""
    import torch
    from torchvision.ops import roi_align

    h, w = g.shape[-2:]
    rois = torch.from_numpy(np.column_stack([image_index.astype(np.float32), boxes[:, 0] * w, boxes[:, 1] * h,
                                             boxes[:, 2] * w, boxes[:, 3] * h]))
    v = roi_align(g, rois, output_size=(side, side), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    v = v.reshape(len(rois), -1).numpy()
    v = v - v.mean(axis=1, keepdims=True)
    return v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-6)


def _coarse_exact(Q: np.ndarray, G: np.ndarray, V: int, block: int) -> np.ndarray:
    """(C, 4) candidates (image, partner, query view, gallery window): every image's best
    TOP_K partners over all pairs of its views and their windows, by matrix products."""
    n, Qn = Q.shape[:2]
    cand = []
    for s in range(0, n, block):
        q = Q[s : s + block]
        b = len(q)
        sim = (q.reshape(b * Qn, -1) @ G.T).reshape(b, Qn, n, V).transpose(0, 2, 1, 3).reshape(b, n, Qn * V)
        sim[np.arange(b), np.arange(s, s + b)] = -1  # not itself
        best_view = sim.argmax(axis=2)
        best = np.take_along_axis(sim, best_view[..., None], axis=2)[..., 0]
        k = min(TOP_K, n - 1)
        part = np.argpartition(-best, k - 1, axis=1)[:, :k]
        for r in range(b):
            for a in part[r]:
                qv, gv = divmod(int(best_view[r, a]), V)
                cand.append((s + r, int(a), qv, gv))
    return np.asarray(cand, dtype=np.int64).reshape(-1, 4)


def _coarse_index(Q: np.ndarray, G: np.ndarray, V: int) -> np.ndarray:
    """The candidates of :func:`_coarse_exact` from a nearest-neighbour index: each query
    view's (TOP_K + 1) * V nearest windows (enough, searched exactly, to hold the best
    window of each of the TOP_K best partners, past the image's own V windows), grouped
    by partner image."""
    from ..data import nearest

    n, Qn = Q.shape[:2]
    sims, idx = nearest(G, Q.reshape(n * Qn, -1), (TOP_K + 1) * V)
    r = np.repeat(np.arange(n), Qn)[:, None].repeat(idx.shape[1], axis=1)
    qv = np.tile(np.arange(Qn), n)[:, None].repeat(idx.shape[1], axis=1)
    a, gv = idx // V, idx % V
    ok = (idx >= 0) & (a != r)
    r, a, sim, qv, gv = r[ok], a[ok], sims[ok], qv[ok], gv[ok]
    order = np.lexsort((-sim, a, r))  # by image, partner, best first
    r, a, sim, qv, gv = r[order], a[order], sim[order], qv[order], gv[order]
    first = np.ones(len(r), bool)
    first[1:] = (r[1:] != r[:-1]) | (a[1:] != a[:-1])  # each partner's best pair of views
    r, a, sim, qv, gv = r[first], a[first], sim[first], qv[first], gv[first]
    order = np.lexsort((-sim, r))
    r, a, qv, gv = r[order], a[order], qv[order], gv[order]
    start = np.searchsorted(r, r, side="left")
    keep = np.arange(len(r)) - start < TOP_K  # each image's TOP_K best partners
    return np.column_stack([r[keep], a[keep], qv[keep], gv[keep]]).astype(np.int64)


def window_copies(images: np.ndarray, *, threshold: float = WINDOW_CORRELATION,
                  block: int = 64) -> np.ndarray:
    """(P, 3) float array of (i, j, correlation), i < j: image j is a shifted, cropped or
    rescaled copy of image i or the other way round (uint8 (N, H, W, C) images)."""
    import torch

    n = len(images)
    if n < 2:
        return np.zeros((0, 3))
    with torch.no_grad():
        g = _grey(images)
        gal, qry = _boxes(GALLERY), _boxes(QUERY)
        V, Qn = len(gal), len(qry)
        G = _crops(g, np.repeat(np.arange(n), V), np.tile(gal, (n, 1)), COARSE)  # (n*V, 64)
        Q = _crops(g, np.repeat(np.arange(n), Qn), np.tile(qry, (n, 1)), COARSE).reshape(n, Qn, -1)
        # coarse: each image's best TOP_K partners, with the views that matched
        cand = (_coarse_exact(Q, G, V, block) if n <= EXACT_IMAGES else _coarse_index(Q, G, V))
        # fine: a local search of scale and position around the matched window, at 24x24
        local = np.array([(f, dx, dy) for f in SCALES for dy in OFFSETS for dx in OFFSETS], dtype=np.float32)
        score = np.empty(len(cand), dtype=np.float32)
        for s in range(0, len(cand), 256):
            c = cand[s : s + 256]
            qv = _crops(g, c[:, 0], qry[c[:, 2]], FINE)  # (b, 576)
            gb = gal[c[:, 3]]
            cx, cy, side = (gb[:, 0] + gb[:, 2]) / 2, (gb[:, 1] + gb[:, 3]) / 2, gb[:, 2] - gb[:, 0]
            ss = side[:, None] * local[None, :, 0]
            x, y = cx[:, None] + local[None, :, 1], cy[:, None] + local[None, :, 2]
            boxes = np.stack([x - ss / 2, y - ss / 2, x + ss / 2, y + ss / 2], axis=2).reshape(-1, 4)
            gv = _crops(g, np.repeat(c[:, 1], len(local)), boxes, FINE).reshape(len(c), len(local), -1)
            score[s : s + len(c)] = np.einsum("pd,pkd->pk", qv, gv).max(axis=1)
    keep = score >= threshold
    i, j = np.minimum(cand[keep, 0], cand[keep, 1]), np.maximum(cand[keep, 0], cand[keep, 1])
    out: dict[tuple[int, int], float] = {}
    for a, b, r in zip(i, j, score[keep]):
        out[(int(a), int(b))] = max(out.get((int(a), int(b)), -1.0), float(r))
    return np.array([(a, b, r) for (a, b), r in sorted(out.items())]).reshape(-1, 3)


def window_search_suits(ds: Any) -> bool:
    """Whether shifted and cropped copies are searched for: colour photographs (not drawings
    on a plain background, where different items of one cut look like shifted copies) of at
    least WINDOW_MIN_SIDE pixels, at most WINDOW_MAX_IMAGES images."""
    from ..models import is_photograph

    return (1 < len(ds) <= WINDOW_MAX_IMAGES and min(ds.images.shape[1:3]) >= WINDOW_MIN_SIDE
            and ds.images.shape[-1] == 3 and is_photograph(ds.images, ds.value_max))
