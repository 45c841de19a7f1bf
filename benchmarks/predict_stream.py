"""`trueclass predict MODEL FOLDER --csv OUT` (streaming) against a plain loop (PIL open,
convert, resize, one model call per image) on a generated folder of image files.

The folder: --files PNG files of 8x8 digits (the digits, repeated with a little noise)
for the cnn; --photos JPEG photo crops of 101x101 (benchmarks/photo_sets.py) for the
lite0 probe (its embeddings are computed afresh: the cache is emptied before each run).
Throughput in images/s, median of --repeats, in fp32 and bf16 where the CPU has it (the
probe's backbone runs in ONNX Runtime fp32 either way). Prints Markdown.

    python benchmarks/predict_stream.py [--files 20000] [--photos 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))


def digit_files(folder: Path, n: int) -> list[str]:
    from sklearn.datasets import load_digits

    X = load_digits().images
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    out = []
    for i in range(n):
        img = np.clip(X[i % len(X)] * 255 / 16 + rng.normal(0, 4, (8, 8)), 0, 255).astype(np.uint8)
        f = folder / f"{i:06d}.png"
        Image.fromarray(img).save(f)
        out.append(str(f))
    return out


def plain_loop(model, files: list[str]) -> None:
    h, w, c = model.image_shape_
    for f in files:
        with Image.open(f) as im:
            x = np.asarray(im.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR))
        model.predict_proba(x.reshape(1, h, w, c) * (model.value_max_ / 255.0))


def main() -> None:
    import trueclass as tc
    from photo_sets import build
    from trueclass.models import load_model
    from trueclass.run import predict_to_csv
    from trueclass.training import cpu_has_bf16

    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--photos", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="predict-bench-"))
    cache = tmp / "cache"
    os.environ["TRUECLASS_CACHE"] = str(cache)
    print(f"{len(os.sched_getaffinity(0))} cores, CPU bf16: {cpu_has_bf16()}; medians of {args.repeats}\n")
    print("| model | files | precision | streaming images/s | plain loop images/s | ratio |")
    print("|---|---|---|---|---|---|")
    cnn_run = tc.train("digits", model="cnn", params={"epochs": 3}, audit=False, out=tmp / "cnn")
    files = digit_files(tmp / "digits", args.files)
    photo_root = build(tmp / "photos", per_class=max(1, args.photos // 4))
    photos = sorted(str(p) for p in photo_root.rglob("*.jpg"))
    lite_run = tc.train(str(tmp / "photos"), model="lite0", audit=False, out=tmp / "lite0")
    rows = [("cnn (digits, 8x8 PNG)", cnn_run.path, files, p) for p in ["fp32"] + (["bf16"] if cpu_has_bf16() else [])]
    rows.append(("lite0 probe (photo crops, 101x101 JPEG)", lite_run.path, photos, "fp32"))
    for label, model_dir, fs, precision in rows:
        stream, plain = [], []
        os.environ["TRUECLASS_PRECISION"] = precision  # both paths, the whole way
        for r in range(args.repeats):
            shutil.rmtree(cache / "embeddings", ignore_errors=True)
            model = load_model(model_dir)
            t = time.perf_counter()
            predict_to_csv(model_dir, fs, tmp / f"out-{r}.csv")
            stream.append(len(fs) / (time.perf_counter() - t))
            shutil.rmtree(cache / "embeddings", ignore_errors=True)
            t = time.perf_counter()
            plain_loop(model, fs)
            plain.append(len(fs) / (time.perf_counter() - t))
        s, p = statistics.median(stream), statistics.median(plain)
        print(f"| {label} | {len(fs):,} | {precision} | {s:,.0f} | {p:,.0f} | {s / p:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
