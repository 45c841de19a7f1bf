"""--repeats scores each re-split by the headline's own rule for which test images count."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

import trueclass as tc


def test_repeats_without_the_audit_leave_out_copies_of_training_images_as_the_headline_does(tmp_path):
    # every image twice and no audit to keep copies together: most test images have a copy
    # on the training side, and the fingerprints leave them out of every repeat's score
    X, y = load_digits(return_X_y=True)
    X, y = np.concatenate([X[:200], X[:200]]), np.concatenate([y[:200], y[:200]])
    run = tc.train((X, y), model="knn", audit=False, repeats=3, out=tmp_path / "r")
    sizes = run.metrics["stability"]["n_test"]
    assert sizes[0] == run.evaluation.n_test < 60  # of 80 test images drawn
    assert all(n < 60 for n in sizes[1:]), sizes  # before: the repeats scored all 80, copies included
