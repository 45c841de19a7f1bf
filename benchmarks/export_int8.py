"""Int8 exports against fp32 on real runs: `trueclass export RUN --int8` for the digits cnn,
the Fashion-MNIST quick cnn and the lite0 probe on photo crops.

Each run is trained once (seed 0), exported with --int8, and the check's own numbers are
printed: top-1 agreement of the int8 file with the fp32 file (95% interval), flips, both
accuracies and the McNemar mid-p of their difference, file sizes, images/s of both in ONNX
Runtime on this CPU (median of 3 passes, batches of 64) and which file the check says to
deploy. Prints Markdown.

    python benchmarks/export_int8.py [--skip-fashion] [--skip-photos]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def train_and_export(args: list[str], out: Path) -> dict:
    """`trueclass train ARGS --out OUT` then `trueclass export OUT --int8`, as a user runs
    them; the int8 check from parity.json."""
    for cmd in (["train", *args, "--out", str(out)], ["export", str(out), "--int8"]):
        res = subprocess.run([sys.executable, "-m", "trueclass.cli", *cmd], capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(res.stdout + res.stderr)
    return json.loads((out / "export" / "parity.json").read_text())["int8"]["check"]


def time_line(out: Path) -> str:
    """Where the training run's time went (metrics.json's seconds)."""
    from trueclass.report import format_seconds

    return format_seconds(json.loads((out / "metrics.json").read_text()).get("seconds"), most=8)


def main() -> None:
    from trueclass.training import cpu_has_bf16, cpu_name

    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-fashion", action="store_true")
    ap.add_argument("--skip-photos", action="store_true")
    args = ap.parse_args()
    print(f"{cpu_name()}, {len(os.sched_getaffinity(0))} cores; training precision: "
          f"{os.environ.get('TRUECLASS_PRECISION', 'auto')} (CPU bf16: {cpu_has_bf16()}); ONNX Runtime fp32 and int8\n")
    print("| data | model | test images | agreement int8/fp32 (95% CI) | flips | accuracy fp32 / int8 | "
          "difference (McNemar mid-p) | size fp32 / int8 MB | images/s fp32 / int8 | deploy |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        runs = [("digits", "cnn (default recipe)", ["digits", "--model", "cnn"])]
        if not args.skip_fashion:
            runs.append(("fashion-mnist", "cnn --preset quick", ["fashion-mnist", "--model", "cnn", "--preset", "quick"]))
        if not args.skip_photos:
            from photo_sets import build

            folder = build(d / "photos", per_class=60)
            runs.append(("photo crops", "lite0 probe", [str(folder), "--model", "lite0"]))
        times = []
        for n, (data, name, train_args) in enumerate(runs):
            q = train_and_export(train_args, d / f"run{n}")
            times.append(f"- {data}, {name}: {time_line(d / f'run{n}')}")
            lo, hi = q["agreement_ci"]
            p, b, s = q["paired"], q["bytes"], q["images_per_second"]
            print(f"| {data} | {name} | {q['n_images']:,} | {100 * q['agreement']:.2f}% ({100 * lo:.2f}-{100 * hi:.2f}%) "
                  f"| {q['n_flips']} | {100 * q['accuracy']['fp32']:.2f}% / {100 * q['accuracy']['int8']:.2f}% | "
                  f"{100 * p['difference']:+.2f} points ({p['mcnemar_midp']:.2g}) | {b['fp32'] / 1e6:.2f} / "
                  f"{b['int8'] / 1e6:.2f} ({b['int8'] / b['fp32']:.0%}) | {s['fp32']:,.0f} / {s['int8']:,.0f} "
                  f"({s['int8'] / s['fp32']:.2f}x) | {q['deploy']}{'' if not q['missed'] else ': ' + '; '.join(q['missed'])} |",
                  flush=True)

        print("\nThe training runs (`trueclass train`, metrics.json's seconds):\n" + "\n".join(times))


if __name__ == "__main__":
    main()
