"""How fast each kind of source is read: the same Fashion-MNIST images (PNG files) as a
folder, a zip, a tar of class folders, a Hugging Face style Parquet file and WebDataset
tar shards, loaded with `tc.load(..., cache=False)` (every image decoded), median of 3.
Prints Markdown.

    python benchmarks/sources_read.py [--images 10000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np


def write_sources(images: np.ndarray, labels: np.ndarray, classes: list[str], d: Path) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    pngs = []
    for img in images:
        buf = io.BytesIO()
        Image.fromarray(img[..., 0]).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    names = [f"{classes[y]}/{i:06d}.png" for i, y in enumerate(labels)]
    folder = d / "folder"
    for name, data in zip(names, pngs):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    with zipfile.ZipFile(d / "set.zip", "w", zipfile.ZIP_STORED) as zf:  # PNGs do not deflate further
        for name, data in zip(names, pngs):
            zf.writestr(f"set/{name}", data)

    def tar(path: Path, members):
        with tarfile.open(path, "w") as tf:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))

    tar(d / "set.tar", ((f"set/{n}", b) for n, b in zip(names, pngs)))
    shards = d / "shards"
    shards.mkdir()
    per = 2000
    for s in range(0, len(pngs), per):
        tar(shards / f"shard-{s // per:06d}.tar",
            (m for i in range(s, min(s + per, len(pngs))) for m in ((f"{i:06d}.png", pngs[i]),
                                                                      (f"{i:06d}.cls", classes[labels[i]].encode()))))
    features = {"image": {"_type": "Image"}, "label": {"names": classes, "_type": "ClassLabel"}}
    table = pa.table({"image": pa.array([{"bytes": b, "path": n} for n, b in zip(names, pngs)],
                                        type=pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                      "label": pa.array(labels.astype(np.int64))})
    table = table.replace_schema_metadata({b"huggingface": json.dumps({"info": {"features": features}}).encode()})
    pq.write_table(table, d / "set.parquet", row_group_size=1000)  # about what `datasets` writes for images
    return {"folder of PNGs": folder, "zip (stored)": d / "set.zip", "tar of class folders": d / "set.tar",
            "Parquet (Hugging Face)": d / "set.parquet", f"WebDataset ({-(-len(pngs) // per)} shards)": shards}


def main() -> None:
    import trueclass as tc
    from trueclass.training import cpu_name

    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ds = tc.load("fashion-mnist")
    n = min(args.images, len(ds))
    with tempfile.TemporaryDirectory() as d:
        sources = write_sources(np.asarray(ds.images[:n]), np.asarray(ds.labels[:n]), list(ds.classes), Path(d))
        print(f"{cpu_name()}, {len(os.sched_getaffinity(0))} cores; {n:,} Fashion-MNIST images as 28x28 PNGs; "
              f"tc.load(..., cache=False), median of {args.repeats}\n")
        print("| source | size on disk MB | load s (median) | images/s | same pixels as the folder |")
        print("|---|---|---|---|---|")
        ref = None
        for name, path in sources.items():
            size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() \
                else path.stat().st_size
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                got = tc.load(str(path), cache=False)
                times.append(time.perf_counter() - t)
            # each id names its image (NNNNNN.png, or row NNNNNN): compare the pixels image by image
            order = np.argsort([int(Path(i).stem) for i in got.ids], kind="stable")  # parquet: the row
            pixels = np.asarray(got.images)[order]
            ref = pixels if ref is None else ref
            same = len(got) == n and np.array_equal(pixels, ref)
            med = statistics.median(times)
            print(f"| {name} | {size / 1e6:.1f} | {med:.2f} | {n / med:,.0f} | {'yes' if same else 'NO'} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
