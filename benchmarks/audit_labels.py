"""The audit's label-error finder and odd-image flags, on planted flips and clean sets.

Label errors: labels of a known set of images are flipped to another class (seeded) and
the audit's out-of-fold model + cleanlab must find them: found of planted, flagged in
all, precision, per label-error model candidate and for the audit's own choice (the best
out-of-fold accuracy). Clean sets: how many images each model flags where none is
mislabelled, and how many odd images the audit reports.

    python benchmarks/audit_labels.py
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def plant_flips(ds, n: int, seed: int = 0):
    """A copy of ``ds`` with ``n`` labels moved to another class; (dataset, flipped indices)."""
    import trueclass as tc

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(ds), n, replace=False)
    labels = ds.labels.copy()
    labels[idx] = (labels[idx] + rng.integers(1, ds.n_classes, n)) % ds.n_classes
    return tc.Dataset(images=ds.images, labels=labels, classes=ds.classes, ids=ds.ids, value_max=ds.value_max,
                      provenance={"source": "planted"}), idx


def sets():
    import trueclass as tc
    from default_choice import photo_set
    from photo_sets import PHOTOS

    digits = tc.load("digits")
    fm = tc.load("fashion-mnist")
    train = np.flatnonzero(fm.predefined_split == "train")
    pick = np.random.default_rng(0).permutation(train)[:3000]
    fm3k = tc.load((fm.images[pick], np.asarray(fm.classes)[fm.labels[pick]]), value_max=255)
    photos = photo_set(tuple(PHOTOS), 60, 101, False, seed=3)
    return [("digits (1,797)", digits, 60), ("Fashion-MNIST (3,000)", fm3k, 60), ("photo crops (480, colour)", photos, 24)]


def main() -> None:
    import trueclass as tc
    from trueclass.checks._labels import LABEL_CANDIDATES, find_label_issues

    print(f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}\n")
    print("| data | label-error model | out-of-fold accuracy | planted found | flagged | precision | recall | s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, ds, n in sets():
        noisy, flipped = plant_flips(ds, n)
        for cands in [(c,) for c in LABEL_CANDIDATES] + [LABEL_CANDIDATES]:
            info: dict = {}
            t = time.perf_counter()
            issues, _, reason = find_label_issues(noisy, seed=0, candidates=cands, model_info=info)
            secs = time.perf_counter() - t
            if len(cands) == 1 and info["model"] != cands[0]:
                continue  # the candidate does not suit this data (too small, too many images)
            got = {it["index"] for it in issues}
            found = len(got & set(flipped.tolist()))
            label = "**audit's choice: " + info["model"] + "**" if len(cands) > 1 else cands[0]
            print(f"| {name} | {label} | {info['accuracy']:.3f} | {found}/{n} | {len(got)} | "
                  f"{found / max(1, len(got)):.2f} | {found / n:.2f} | {secs:.1f} |", flush=True)
    print("\nClean sets (no label planted): what the audit flags")
    print("\n| data | label-error model chosen | flagged as label errors | odd images |")
    print("|---|---|---|---|")
    for name, ds, _ in sets():
        report = tc.audit(ds, seed=0).to_dict()
        print(f"| {name} | {(report.get('label_model') or {}).get('model')} | {report['n_label_issues']} "
              f"({report['n_label_issues'] / len(ds):.1%}) | {report['n_outliers']} "
              f"({report['n_outliers'] / len(ds):.1%}) |", flush=True)


if __name__ == "__main__":
    main()
