"""The disk cache of decoded images on a generated folder of --files JPEG files
(default 100,000 of 96x96 RGB in 10 classes: 2.6 GB decoded).

Each measure runs in a fresh process (so one cannot warm the next one's memory), which
reports its wall time and its peak memory two ways:
- peak anonymous memory (RssAnon, sampled every 20 ms): what the process itself needs;
- peak resident memory (VmHWM): the same plus the pages of the memory map it touched, which
  are the kernel's page cache, shared and dropped under pressure.

Rows: loading the folder in memory (cache=False), the first load through the cache
(decoding into it), the second load (read from it); then a training run (tc.split, the cnn
for --epochs on the training part with the validation part, predict_proba on the test part)
from the cache and from memory, in fp32 and with automatic precision (bf16 where the CPU
has it), with the trainer's images/s; and the same training from the cache on 4,000
training images, for the network's own working memory. Prints Markdown.

    python benchmarks/disk_cache.py [--files 100000] [--size 96] [--dir /tmp/tc-disk-cache] [--rows load,train,base]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

#: Training images of the run that measures the network's own working memory.
BASE_IMAGES = 4000


def make_folder(root: Path, n: int, size: int) -> None:
    """10 classes of coloured blocks at class-set places, with noise, as JPEG files."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    if (root / "done").is_file():
        return
    shutil.rmtree(root, ignore_errors=True)

    def one(i: int) -> None:
        rng = np.random.default_rng(i)
        k = i % 10
        img = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
        y0, x0 = (k // 5) * size // 2 + rng.integers(0, size // 8), (k % 5) * size // 5
        img[y0 : y0 + size // 3, x0 : x0 + size // 5] = (40 + 20 * k, 200 - 15 * k, 120)
        d = root / f"class{k}"
        Image.fromarray(img).save(d / f"{i:06d}.jpg", quality=90)

    for k in range(10):
        (root / f"class{k}").mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        list(pool.map(one, range(n), chunksize=256))
    (root / "done").write_text("")


class PeakMemory:
    """Samples /proc/self/status while a block runs."""

    def __init__(self) -> None:
        self.anon = 0
        self._stop = threading.Event()

    @staticmethod
    def _status(key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.anon = max(self.anon, self._status("RssAnon"))

    def __enter__(self) -> "PeakMemory":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.anon = max(self.anon, self._status("RssAnon"))
        self.hwm = self._status("VmHWM")


def child(mode: str, folder: str, epochs: int) -> dict:
    import trueclass as tc

    out: dict = {}
    with PeakMemory() as mem:
        t = time.perf_counter()
        ds = tc.load(folder, cache=mode not in ("memory", "train-memory"))
        out["load_s"] = time.perf_counter() - t
        out["decoded_bytes"] = int(np.prod(ds.images.shape))
        out["on_disk"] = type(ds.images).__name__
        if mode.startswith("train"):
            parts = tc.split(ds, seed=0)
            train = parts.train.subset(np.arange(BASE_IMAGES)) if mode == "train-base" else parts.train
            t = time.perf_counter()
            clf = tc.ImageClassifier("cnn", epochs=epochs, random_state=0).fit(train, val=parts.val)
            out["fit_s"] = time.perf_counter() - t
            rec = clf.estimator_.training_record()
            out["images_per_second"] = rec["images_per_second"]
            out["runtime"] = rec["runtime"]
            out["accuracy"] = float(clf.score(parts.test))
            out["n_train"] = len(train)
    out["peak_anon"], out["peak_rss"] = mem.anon, mem.hwm
    return out


def run_child(mode: str, folder: Path, cache: Path, epochs: int, precision: str | None = None) -> dict:
    env = dict(os.environ, TRUECLASS_CACHE=str(cache))
    if precision:
        env["TRUECLASS_PRECISION"] = precision
    else:
        env.pop("TRUECLASS_PRECISION", None)
    res = subprocess.run([sys.executable, __file__, "--child", mode, "--folder", str(folder), "--epochs", str(epochs)],
                         env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def gb(n: float) -> str:
    return f"{n / 1024**3:.2f} GB"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--dir", default="/tmp/tc-disk-cache")
    ap.add_argument("--rows", default="load,train,base", help="which tables: load, train, base")
    ap.add_argument("--child")
    ap.add_argument("--folder")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.folder, args.epochs)))
        return
    base = Path(args.dir)
    folder = base / f"files-{args.files}-{args.size}px"
    from trueclass.training import cpu_has_bf16

    t = time.perf_counter()
    make_folder(folder, args.files, args.size)
    print(f"Folder: {args.files:,} JPEG files of {args.size}x{args.size} RGB, 10 classes "
          f"(made or found in {time.perf_counter() - t:.0f} s); {os.cpu_count()} cores, "
          f"CPU bf16: {'yes' if cpu_has_bf16() else 'no'}.\n")
    cache = base / "cache"
    if "load" in args.rows:
        shutil.rmtree(cache, ignore_errors=True)
        os.system("sync")
        loads(folder, cache, args.epochs)
    precisions = ["fp32"] + (["auto"] if cpu_has_bf16() else [])
    if "train" in args.rows:
        training(folder, cache, args.epochs, precisions)
    if "base" in args.rows:
        print(f"The network's own working memory: the same training from the cache on {BASE_IMAGES:,} of the "
              "training images (the same network and batches).\n")
        print("| Precision | Train images | Peak anonymous | Peak resident |")
        print("|---|---|---|---|")
        for prec in precisions:
            r = run_child("train-base", folder, cache, args.epochs, None if prec == "auto" else prec)
            label = ("automatic" if prec == "auto" else "fp32") + f" ({r['runtime'].split(', ')[1]})"
            print(f"| {label} | {r['n_train']:,} | {gb(r['peak_anon'])} | {gb(r['peak_rss'])} |")


def loads(folder: Path, cache: Path, epochs: int) -> None:
    memory = run_child("memory", folder, cache, epochs)
    first = run_child("first", folder, cache, epochs)
    second = run_child("second", folder, cache, epochs)
    decoded = memory["decoded_bytes"]
    print(f"Decoded size of the set: {gb(decoded)}.\n")
    print("| Load | Time | Peak anonymous memory | Peak resident (incl. mapped cache pages) |")
    print("|---|---|---|---|")
    for name, r in (("in memory (cache=False)", memory), ("first, decoding into the cache", first),
                    ("second, from the cache", second)):
        print(f"| {name} | {r['load_s']:.1f} s | {gb(r['peak_anon'])} | {gb(r['peak_rss'])} |")
    print(f"\nSecond load against the first: {first['load_s'] / second['load_s']:.0f}x faster; against "
          f"decoding in memory: {memory['load_s'] / second['load_s']:.0f}x.\n")
    print()


def training(folder: Path, cache: Path, epochs: int, precisions: list[str]) -> None:
    rows = []
    print(f"Training run: tc.split, cnn for {epochs} epoch(s) with the validation part, score on the test part.\n")
    print("| Precision | Images from | Train images | Trainer images/s | Whole run | Test accuracy | Peak anonymous | Peak resident |")
    print("|---|---|---|---|---|---|---|---|")
    for prec in precisions:
        pair = {}
        for where in ("cache", "memory"):
            r = run_child("train-cache" if where == "cache" else "train-memory", folder, cache, epochs,
                          None if prec == "auto" else prec)
            pair[where] = r
            label = "automatic" if prec == "auto" else "fp32"
            label += f" ({r['runtime'].split(', ')[1]})"
            print(f"| {label} | {where} | {r['n_train']:,} | {r['images_per_second']:.0f} | "
                  f"{r['load_s'] + r['fit_s']:.0f} s | {r['accuracy']:.4f} | {gb(r['peak_anon'])} | {gb(r['peak_rss'])} |",
                  flush=True)
        rows.append((prec, pair["cache"]["images_per_second"] / pair["memory"]["images_per_second"]))
    print()
    for prec, ratio in rows:
        print(f"Throughput from the cache / in memory, {prec}: {ratio:.3f}")


if __name__ == "__main__":
    main()
