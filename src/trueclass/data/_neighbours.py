"""Nearest neighbours by inner product (cosine, on unit vectors): exact for small sets,
a faiss index for large ones.

The audit's searches for copies compare every image's feature vectors with every other
image's. Exactly, that is one blocked matrix product and costs the square of the set: a
few seconds for 200,000 vectors, hours for millions. Past ``EXACT_MAX`` vectors the search
goes to faiss (Facebook's library made for this), an inverted-file index (``IndexIVFFlat``:
k-means cells, each query scanning the ``nprobe`` nearest cells), which is approximate;
its recall against the exact search is measured in benchmarks/neighbours.py.
"""

from __future__ import annotations

import numpy as np

from .._extras import has_extra, require

__all__ = ["nearest", "EXACT_MAX", "NPROBE"]

#: Base vectors up to which the search is exact.
EXACT_MAX = 200_000
#: Cells each query scans in the faiss index (of about 4 x sqrt(N)). Measured on generated
#: clustered 64-d vectors (benchmarks/neighbours.py): planted copies found 100% at 1M.
NPROBE = 16
#: Scores held at once by the exact search (float32): 64 MB.
_BLOCK_SCORES = 16_000_000


def nearest(base: np.ndarray, queries: np.ndarray, k: int, *, exact: bool | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` base rows with the largest inner product with each query row, best first:
    (scores (M, k) float32, indices (M, k) int64). Rows are float32 vectors of one length
    (unit vectors give cosines). ``exact``: None chooses by size (exact up to EXACT_MAX)."""
    base = np.ascontiguousarray(base, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(int(k), len(base))
    if k == 0 or len(queries) == 0:
        return np.zeros((len(queries), k), np.float32), np.zeros((len(queries), k), np.int64)
    if exact is None:
        exact = len(base) <= EXACT_MAX
        if not exact and not has_extra("scale"):
            import warnings

            warnings.warn(f"Searching {len(base):,} vectors for copies exactly, which is slow; the optional 'scale' "
                          "extra makes it fast: pip install 'trueclass[scale]'.", stacklevel=2)
            exact = True
    return _exact(base, queries, k) if exact else _faiss(base, queries, k)


def _exact(base: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    step = max(1, _BLOCK_SCORES // len(base))
    scores = np.empty((len(queries), k), np.float32)
    index = np.empty((len(queries), k), np.int64)
    for s in range(0, len(queries), step):
        sim = queries[s : s + step] @ base.T
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < len(base) else np.tile(np.arange(k), (len(sim), 1))
        top = np.take_along_axis(sim, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        scores[s : s + step] = np.take_along_axis(top, order, axis=1)
        index[s : s + step] = np.take_along_axis(part, order, axis=1)
    return scores, index


def _faiss(base: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    require("scale", "The approximate search for copies (exact=False)")
    import faiss

    from ._images import n_workers

    faiss.omp_set_num_threads(n_workers())
    d = base.shape[1]
    nlist = int(min(max(1, len(base) // 39), 4 * np.sqrt(len(base))))  # faiss wants >= 39 points a cell
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)  # k-means on a seeded sample: the same cells every run
    sample = base[np.sort(rng.choice(len(base), size=min(len(base), nlist * 40), replace=False))]
    index.cp.seed, index.cp.niter = 0, 10
    index.train(sample)
    index.add(base)
    index.nprobe = min(NPROBE, nlist)
    scores, idx = index.search(queries, k)
    return scores.astype(np.float32), idx.astype(np.int64)
