"""`trueclass export` on real runs: the parity of the exported ONNX file with the trained
model on each run's own held-out test images, and how long the export takes.

Runs: the digits with the default cnn and the four pixel models; 240 colour photo crops
(benchmarks/photo_sets.py) with the default model (the lite0 probe) and the fine-tuned
backbone; with --fashion, Fashion-MNIST with the cnn's quick preset (10,000 test images).
Each run is exported --repeats times; the export time is the median (the graph alone,
and the whole `tc.export` with its parity check), and the digits cnn's `trueclass export`
is timed as a whole command in a fresh process. The reference is the trained model in
fp32; "bf16" is the agreement with the model as `trueclass predict` runs it by default on
this machine (bf16 autocast where the CPU has it; networks only). Prints Markdown.

    python benchmarks/export_parity.py [--repeats 3] [--fashion]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fashion", action="store_true", help="also Fashion-MNIST's quick cnn (about 2 minutes)")
    args = ap.parse_args()

    import trueclass as tc
    from photo_sets import build

    tmp = Path(tempfile.mkdtemp(prefix="export-bench-"))
    photos = build(tmp / "photos", per_class=60)
    runs = [
        ("digits", "cnn (default recipe)", dict(model="cnn")),
        ("digits", "logreg", dict(model="logreg")),
        ("digits", "knn", dict(model="knn")),
        ("digits", "svm", dict(model="svm")),
        ("digits", "forest", dict(model="forest")),
        (str(photos), "lite0 probe (the default)", dict(model="lite0")),
        (str(photos), "fine-tuned tf_efficientnet_lite0 (3 epochs, 128 px)",
         dict(model="timm:tf_efficientnet_lite0", params={"pretrained": True, "input_size": 128, "epochs": 3})),
    ]
    if args.fashion:
        runs.append(("fashion-mnist", "cnn --preset quick", dict(model="cnn", params={"epochs": 3, "batch_size": 128,
                                                                                      "lr": 0.05, "tta": "flip"})))
    print(f"Machine: {platform.processor() or platform.machine()}, {len(__import__('os').sched_getaffinity(0))} "
          f"cores; torch {__import__('torch').__version__}; medians of {args.repeats} exports\n")
    print("| data | model | test images | agreement (95% CI) | flips | max / mean prob. diff | accuracy trained / "
          "exported | bf16: agreement, max diff | export s (graph / with check) |")
    print("|---|---|---|---|---|---|---|---|---|")
    first_cnn = None
    for source, label, settings in runs:
        run = tc.train(source, out=tmp / f"run-{len(list(tmp.iterdir()))}", **settings)
        graph, whole = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            ex = tc.export(run.path)
            whole.append(time.perf_counter() - t0)
            graph.append(ex.info["seconds"])
        p, r = ex.parity, ex.parity["reference"]
        lo, hi = r["agreement_ci"]
        b = p.get("default")
        bf16 = f"{100 * b['agreement']:.2f}%, {b['max_abs_diff']:.2g}" if b else "n/a (computes in fp32/fp64)"
        name = "photo crops" if source == str(photos) else source
        print(f"| {name} | {label} | {p['n_images']:,} | {100 * r['agreement']:.2f}% ({100 * lo:.2f}-{100 * hi:.2f}%) | "
              f"{r['n_flips']} | {r['max_abs_diff']:.2g} / {r['mean_abs_diff']:.2g} | "
              f"{100 * r['accuracy']:.2f}% / {100 * p['onnx']['accuracy']:.2f}% | {bf16} | "
              f"{statistics.median(graph):.1f} / {statistics.median(whole):.1f} |", flush=True)
        if first_cnn is None and settings.get("model") == "cnn":
            first_cnn = run.path
    walls = []
    for _ in range(args.repeats):  # the whole command, as a user runs it: a fresh process, imports included
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from trueclass.cli import main; main()", "export", str(first_cnn)],
                       check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
    print(f"\n`trueclass export` of the digits cnn, the whole command: {statistics.median(walls):.1f} s "
          f"(median of {args.repeats}; runs {', '.join(f'{w:.1f}' for w in walls)} s)")


if __name__ == "__main__":
    main()
