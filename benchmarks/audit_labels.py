"""The audit's label check on planted flips and on clean sets, with its self-check.

Labels of 2% and 5% of the images of each set are moved to another class (seeded); the
audit's label check must find them. Per label-error model candidate and for the audit's
own choice: flagged, precision and recall against the planted flips (the set's own label
errors, if any, count as false flags here, as they would for a user), seconds, and the
precision and recall the self-check estimated on its own second copy (flips planted on
top, the truth not used) beside the true ones. Clean sets: what the audit flags, and the
words the summary uses, where nothing was planted.

    python benchmarks/audit_labels.py            # digits, Fashion-MNIST 10,000, photo crops
    python benchmarks/audit_labels.py --quick    # digits and photo crops only
    python benchmarks/audit_labels.py --cnn-folds   # also the cnn trained on the folds on a CPU

The cnn trained on the other folds ("cnn-folds") is one of the audit's candidates on a
CUDA GPU only; on a CPU its rows (and only they) take minutes a set, so they are left out
unless --cnn-folds asks for them. "audit's choice" is the audit's own default here.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def plant(ds, rate: float, seed: int = 0):
    """A copy of ``ds`` with ``rate`` of its labels moved to another class; (dataset, indices)."""
    from trueclass.checks._labels import plant_flips

    m = int(round(rate * len(ds)))
    labels, idx = plant_flips(ds.labels, ds.n_classes, m, np.random.default_rng(seed))
    return replace(ds, labels=labels, provenance={"source": f"{rate:.0%} planted flips"}), idx


def sets(quick: bool):
    import trueclass as tc
    from default_choice import photo_set
    from photo_sets import PHOTOS

    out = [("digits (1,797)", tc.load("digits"))]
    if not quick:
        fm = tc.load("fashion-mnist")
        train = np.flatnonzero(fm.predefined_split == "train")
        pick = np.random.default_rng(0).permutation(train)[:10_000]
        out.append(("Fashion-MNIST (10,000)", tc.load((fm.images[pick], np.asarray(fm.classes)[fm.labels[pick]]),
                                                      value_max=255)))
    out.append(("photo crops (480, colour)", photo_set(tuple(PHOTOS), 60, 101, False, seed=3)))
    return out


def cpu() -> str:
    try:
        name = [ln.split(":", 1)[1].strip() for ln in subprocess.run(["lscpu"], capture_output=True, text=True).stdout
                .splitlines() if ln.startswith("Model name")][0]
    except (OSError, IndexError):
        name = platform.processor() or platform.machine()
    import os

    return f"{name}, {len(os.sched_getaffinity(0))} cores"


def main() -> None:
    import trueclass as tc
    from trueclass.checks._labels import LABEL_CANDIDATES, _on_gpu, find_label_issues

    quick = "--quick" in sys.argv
    singles = [c for c in LABEL_CANDIDATES if c != "cnn-folds" or "--cnn-folds" in sys.argv or _on_gpu()]
    print(f"{cpu()}, Python {platform.python_version()}\n")
    print("| data | planted | label-error model | out-of-fold accuracy | flagged | precision | recall "
          "| self-check precision (95% CI) | self-check recall | words | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    all_sets = sets(quick)
    for name, ds in all_sets:
        for rate in (0.02, 0.05):
            noisy, flipped = plant(ds, rate)
            truth = set(flipped.tolist())
            for cands in [(c,) for c in singles] + [None]:
                t = time.perf_counter()
                found = find_label_issues(noisy, seed=0, candidates=cands)
                secs = time.perf_counter() - t
                if cands is not None and found.model["model"] != cands[0]:
                    continue  # the candidate does not suit this data (too small, too many images)
                got = {it["index"] for it in found.issues}
                hit = len(got & truth)
                sc = found.self_check or {}
                est = ("n/a" if not sc.get("precision_ci") else
                       f"{sc['precision']:.2f} ({sc['precision_ci'][0]:.2f}-{sc['precision_ci'][1]:.2f})")
                label = f"**audit's choice: {found.model['model']}**" if cands is None else cands[0]
                print(f"| {name} | {len(truth)} ({rate:.0%}) | {label} | {found.model['accuracy']:.3f} | {len(got)} | "
                      f"{hit / max(1, len(got)):.2f} | {hit / len(truth):.2f} | {est} | "
                      f"{sc.get('recall', float('nan')):.2f} | {found.wording} | {secs:.1f} |", flush=True)
    print("\nClean sets (nothing planted): what the audit's label check flags and says")
    print("\n| data | label-error model chosen | flagged | words | self-check precision | odd images |")
    print("|---|---|---|---|---|---|")
    for name, ds in all_sets:
        report = tc.audit(ds, seed=0).to_dict()
        sc = report.get("label_self_check") or {}
        print(f"| {name} | {(report.get('label_model') or {}).get('model')} | {report['n_label_issues']} "
              f"({report['n_label_issues'] / len(ds):.1%}) | {report['label_issues_wording']} | "
              f"{sc.get('precision')} | {report['n_outliers']} ({report['n_outliers'] / len(ds):.1%}) |", flush=True)


if __name__ == "__main__":
    main()
