"""Paired comparison of two models: the statistics against statsmodels and scipy on known
tables, the refusals, identical runs, and the CLI and Python doors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import trueclass as tc
from trueclass.evaluation._compare import compare_answers, detectable_difference, mcnemar_midp, paired_bootstrap


@pytest.mark.parametrize("b,c", [(0, 0), (1, 0), (4, 11), (10, 10), (3, 17), (25, 40), (0, 7)])
def test_mcnemar_mid_p_is_the_exact_test_less_half_the_observed_table(b, c):
    from scipy.stats import binom
    from statsmodels.stats.contingency_tables import mcnemar

    exact = mcnemar(np.array([[50, b], [c, 40]]), exact=True).pvalue
    n = b + c
    # statsmodels' exact p is 2 P(X <= min), capped at 1; at b == c the uncapped value less
    # the observed table's probability is exactly 1
    expected = 1.0 if n == 0 or b == c else exact - binom.pmf(min(b, c), n, 0.5)
    assert mcnemar_midp(b, c) == pytest.approx(expected, abs=1e-12)
    assert mcnemar_midp(b, c) <= exact + 1e-12  # mid-p is never more conservative than the exact test


def test_the_paired_bootstrap_agrees_with_scipy():
    from scipy.stats import bootstrap

    rng = np.random.default_rng(3)
    ra = rng.random(400) < 0.9
    rb = np.where(rng.random(400) < 0.1, ~ra, ra)
    lo, hi = paired_bootstrap(ra, rb, n_boot=4000, seed=1)
    ref = bootstrap((rb.astype(float) - ra.astype(float),), np.mean, n_resamples=4000, method="percentile",
                    random_state=2).confidence_interval
    assert lo == pytest.approx(ref.low, abs=0.006) and hi == pytest.approx(ref.high, abs=0.006)
    assert lo <= rb.mean() - ra.mean() <= hi


def test_the_detectable_difference_is_the_smallest_that_passes():
    d = detectable_difference(15, 360)
    k = round(d * 360)
    assert mcnemar_midp((15 - k) // 2, (15 + k) // 2) < 0.05
    assert mcnemar_midp((15 - k + 2) // 2, (15 + k - 2) // 2) >= 0.05
    assert detectable_difference(2, 100) is None  # two disagreements can never be enough


def answers(name, ids, true, pred):
    return {"name": name, "ids": ids, "true": true, "pred": pred}


def test_identical_answers_give_no_difference_without_errors():
    ids, true = [f"i{k}" for k in range(50)], ["a", "b"] * 25
    pred = ["a"] * 50
    r = compare_answers(answers("A", ids, true, pred), answers("B", ids[::-1], true[::-1], pred[::-1]))
    assert r["mcnemar_midp"] == 1.0 and r["difference"] == 0 and r["difference_ci"] == [0.0, 0.0]
    assert "read every one of the 50 test images the same way" in r["verdict"] and not r["significant"]


def test_different_test_images_or_labels_are_refused():
    ids = ["x", "y", "z"]
    with pytest.raises(tc.TrueclassError, match="scored on different test images .*1 only in the first"):
        compare_answers(answers("A", ids, ["a"] * 3, ["a"] * 3), answers("B", ids[:2] + ["w"], ["a"] * 3, ["a"] * 3))
    with pytest.raises(tc.TrueclassError, match="different true labels"):
        compare_answers(answers("A", ids, ["a", "a", "b"], ["a"] * 3), answers("B", ids, ["a", "b", "b"], ["a"] * 3))


def test_a_clear_winner_is_called_with_its_flips():
    ids = [str(k) for k in range(200)]
    true = ["a"] * 200
    pa = ["a"] * 150 + ["b"] * 50
    pb = ["a"] * 195 + ["b"] * 5
    r = compare_answers(answers("weak", ids, true, pa), answers("strong", ids, true, pb))
    assert r["significant"] and r["only_b_right"] == 45 and r["only_a_right"] == 0
    assert r["verdict"].startswith("strong is more accurate than weak by 22.5 points (95% interval of the "
                                   "difference +")
    assert len(r["flips_to_b"]) == 45 and r["flips_to_a"] == []
    assert r["per_class"]["a"]["difference"] == pytest.approx(0.225)


def test_compare_runs_from_the_cli_and_python(tmp_path):
    from click.testing import CliRunner

    from trueclass.cli import cli

    lr = tc.train("digits", model="logreg", out=tmp_path / "lr", audit=False, repeats=2)
    knn = tc.train("digits", model="knn", out=tmp_path / "knn", audit=False)
    r = CliRunner().invoke(cli, ["compare", str(lr.path), str(knn.path), "--out", str(tmp_path / "cmp")])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    pair = data["comparisons"][0]
    assert pair["n_test"] == 360 and pair["a"] == "lr" and pair["b"] == "knn"
    assert pair["only_a_right"] + pair["only_b_right"] + pair["both_right"] + pair["both_wrong"] == 360
    assert data["seed_spread"]["lr"]["repeats"] == 2 and "over 2 seeds" in r.output
    html = (tmp_path / "cmp" / "comparison.html").read_text()
    assert pair["verdict"].split(":")[0] in html and "<script" not in html
    # Python: Evaluations from the notebook, named
    c = tc.compare(lr.evaluation, knn.evaluation, names=["logistic regression", "k nearest neighbours"])
    assert c.pairs[0]["accuracy_a"] == pytest.approx(lr.evaluation.accuracy)
    assert "logistic regression" in c._repr_html_()
    # runs of another split are refused
    other = tc.train("digits", model="logreg", out=tmp_path / "other", audit=False, seed=5)
    r = CliRunner().invoke(cli, ["compare", str(lr.path), str(other.path)])
    assert r.exit_code == 1 and "scored on different test images" in r.output
    with pytest.raises(tc.TrueclassError, match="at least two"):
        tc.compare(lr)
