"""The audit's nearest-neighbour search for copies at scale: every vector's nearest
neighbours among all the others (a self-join), exact (blocked matrix products) against
the faiss index the audit switches to past ``EXACT_MAX`` vectors (data/_neighbours.py).

Generated vectors, 64-d like the copy search's window thumbnails: N/50 clusters of look-
alikes (unit centres plus noise, cosine about 0.8 to their centre), and 1,000 planted near
copies (a vector plus a little noise, cosine about 0.99 to it). Per N: the time of the
whole self-join (k = 10), peak memory added (RssAnon sampled every 20 ms), the planted
copies whose source is their nearest other vector, and recall@10 against the exact search
on 1,000 sample queries. The exact self-join at 1M is timed on those 1,000 queries and
scaled by N / 1,000 (its cost is the same for every query), and says so.

    python benchmarks/neighbours.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import numpy as np


def anon() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


class Peak:
    def __enter__(self):
        self.start, self.peak, self._stop = anon(), anon(), threading.Event()

        def run():
            while not self._stop.wait(0.02):
                self.peak = max(self.peak, anon())

        self._t = threading.Thread(target=run, daemon=True)
        self._t.start()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self._stop.set()
        self._t.join()
        self.added = max(self.peak, anon()) - self.start


def vectors(n: int, d: int = 64, copies: int = 1000, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 50), d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[rng.integers(0, len(centres), n)] + rng.standard_normal((n, d)).astype(np.float32) * (0.75 / np.sqrt(d))
    src = rng.choice(n - copies, copies, replace=False)
    x[n - copies :] = x[src] + rng.standard_normal((copies, d)).astype(np.float32) * (0.12 / np.sqrt(d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, src, np.arange(n - copies, n)


def main() -> None:
    from trueclass.data._neighbours import EXACT_MAX, NPROBE, nearest
    from trueclass.data._images import n_workers

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    args = ap.parse_args()
    k = 10
    print(f"{os.cpu_count()} cores ({n_workers()} threads), float32, k = {k}; the audit searches exactly up to "
          f"{EXACT_MAX:,} vectors, then faiss IndexIVFFlat (nprobe {NPROBE}).\n")
    print("| Vectors (64-d) | Search | Self-join time | Peak memory added | Planted copies found | Recall@10 vs exact |")
    print("|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        x, src, cp = vectors(n)
        sample = np.random.default_rng(1).choice(n, 1000, replace=False)
        with Peak() as ex_sample:
            _, truth = nearest(x, x[sample], k + 1, exact=True)
        with Peak() as ix:
            _, idx = nearest(x, x, k + 1, exact=False)
        found = np.mean([src[i] in idx[c, :2] for i, c in enumerate(cp)])
        recall = np.mean([len(set(idx[q, 1:]) & set(truth[j, 1:])) / k for j, q in enumerate(sample)])
        if n <= 200_000:
            with Peak() as ex:
                _, eidx = nearest(x, x, k + 1, exact=True)
            efound = np.mean([src[i] in eidx[c, :2] for i, c in enumerate(cp)])
            print(f"| {n:,} | exact | {ex.seconds:.1f} s | {ex.added / 1024**2:.0f} MB | {efound:.1%} | 100% |")
        else:
            est = ex_sample.seconds * n / len(sample)
            print(f"| {n:,} | exact | about {est / 60:.0f} min (1,000 queries took {ex_sample.seconds:.1f} s, "
                  f"scaled by N/1,000) | {ex_sample.added / 1024**2:.0f} MB | | 100% |")
        print(f"| {n:,} | faiss IVF | {ix.seconds:.1f} s | {ix.added / 1024**2:.0f} MB | {found:.1%} | {recall:.1%} |",
              flush=True)


if __name__ == "__main__":
    main()
