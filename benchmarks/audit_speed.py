"""The data audit of all 70,000 Fashion-MNIST images (train and test), step by step.

Target: the whole audit under 2 minutes on this machine. Median of 3 runs; the
findings are printed once (they do not change between runs).

    python benchmarks/audit_speed.py
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main(repeats: int = 3) -> None:
    import trueclass as tc
    from audit_labels import cpu
    from trueclass.checks import audit
    from trueclass.report import format_label_issues

    t = time.perf_counter()
    ds = tc.load("fashion-mnist")
    load_s = time.perf_counter() - t
    totals, steps = [], {}
    for _ in range(repeats):
        marks = []
        t0 = time.perf_counter()
        result = audit(ds, on_progress=lambda stage, *a, **k: marks.append((stage, time.perf_counter())))
        end = time.perf_counter()
        totals.append(end - t0)
        for (stage, start), (_, stop) in zip(marks, marks[1:] + [("end", end)]):
            steps.setdefault(stage.replace("audit: ", ""), []).append(stop - start)
    r = result.report
    print(f"Fashion-MNIST, {len(ds):,} images; {cpu()}, Python {platform.python_version()}; "
          f"median of {repeats} runs (loading the files: {load_s:.1f} s)\n")
    print("| step | seconds |")
    print("|---|---|")
    for stage, secs in steps.items():
        print(f"| {stage} | {statistics.median(secs):.1f} |")
    print(f"| **whole audit** (target < 120 s) | **{statistics.median(totals):.1f}** |")
    print(f"\nFound: {r['n_duplicate_groups']} duplicate groups ({r['n_exact_pairs']} exact pairs, "
          f"{r['n_near_pairs']} near), {r['n_conflicts']} with conflicting labels, {r['n_leaked_test_images']} test "
          f"images with a copy among the training images, {r['n_outliers']} odd images.\nLabel issues: "
          f"{format_label_issues(r)}.")


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 3)
