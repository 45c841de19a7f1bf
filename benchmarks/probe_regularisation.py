"""The lite0 probe's regularisation C, chosen on validation images: photo crops (20 a
class, 8 classes), Fashion-MNIST (200 and 2,000 training images) and digits (1,000 of the
training part); each scored on validation images carved from training data only.

    python benchmarks/probe_regularisation.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

CS = [0.01, 0.03, 0.1, 0.3, 1.0]


def main() -> None:
    from embedding_speed import photo_arrays
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import trueclass as tc
    from trueclass.data._dataset import to_display
    from trueclass.features._backbone import embed

    rng = np.random.default_rng(0)
    Xp, yp = photo_arrays(60, seed=2)
    tr = np.concatenate([rng.permutation(np.flatnonzero(yp == k))[:20] for k in np.unique(yp)])
    va = np.setdiff1d(np.arange(len(yp)), tr)
    fm = tc.load("fashion-mnist")
    fi = rng.permutation(np.flatnonzero(fm.predefined_split == "train"))[:4000]
    dg = tc.split(tc.load("digits"), test_size=0.2, seed=0).train  # the test part is never looked at
    di = rng.permutation(len(dg))
    D = to_display(dg.images, dg.value_max)
    sets = {
        "photo crops, 20 a class (validation: 320)": (Xp[tr], yp[tr], Xp[va], yp[va]),
        "Fashion-MNIST, 2,000 (validation: 2,000)": (fm.images[fi[:2000]], fm.labels[fi[:2000]],
                                                     fm.images[fi[2000:]], fm.labels[fi[2000:]]),
        "Fashion-MNIST, 200 (validation: 2,000)": (fm.images[fi[:200]], fm.labels[fi[:200]],
                                                   fm.images[fi[2000:]], fm.labels[fi[2000:]]),
        "digits, 1,000 (validation: 437)": (D[di[:1000]], dg.labels[di[:1000]], D[di[1000:]], dg.labels[di[1000:]]),
    }
    print("| data | " + " | ".join(f"C={c}" for c in CS) + " |")
    print("|---|" + "---|" * len(CS))
    for name, (a, ya, b, yb) in sets.items():
        ea, eb = embed(a), embed(b)
        accs = [make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)).fit(ea, ya).score(eb, yb)
                for c in CS]
        print(f"| {name} | " + " | ".join(f"{x:.3f}" for x in accs) + " |", flush=True)


if __name__ == "__main__":
    main()
