"""Accuracy per group (slices) and against the model's own test images (shift): pure
functions checked against hand counts and a published interval."""

from __future__ import annotations

import numpy as np
import pytest

from trueclass.evaluation._groups import difference_interval, shift_report, slice_report


def answers(groups: dict[str, tuple[int, int]], seed: int = 0):
    """y_true, y_pred and group names: per group (images, right answers), 3 classes."""
    rng = np.random.default_rng(seed)
    y_true, y_pred, g = [], [], []
    for name, (n, right) in groups.items():
        t = rng.integers(0, 3, n)
        p = t.copy()
        wrong = rng.permutation(n)[: n - right]
        p[wrong] = (t[wrong] + 1) % 3
        y_true += list(t)
        y_pred += list(p)
        g += [name] * n
    return np.array(y_true), np.array(y_pred), g


def test_a_real_gap_between_groups():
    y, p, g = answers({"indoor": (200, 190), "outdoor": (150, 105), "night": (12, 3)})
    r = slice_report(y, p, g, ["a", "b", "c"], column="site")
    by = {row["group"]: row for row in r["groups"]}
    assert by["indoor"]["accuracy"] == 0.95 and by["outdoor"]["accuracy"] == 0.70
    assert by["night"]["too_few"] and not by["indoor"]["too_few"] and r["n_too_few"] == 1
    assert [row["group"] for row in r["groups"]][-1] == "night"  # marked, listed last, not hidden
    assert (r["best"], r["worst"]) == ("indoor", "outdoor")  # the tiny group decides nothing
    assert r["gap"] == pytest.approx(0.25)
    assert r["gap_ci"][0] > 0.15 and r["gap_ci"][1] < 0.35
    assert r["p_value"] < 0.01 and r["larger_than_chance"]
    cm = np.array(r["worst_confusion"]["matrix"])
    assert r["worst_confusion"]["group"] == "outdoor" and cm.sum() == 150 and np.trace(cm) == 105
    lo, hi = by["outdoor"]["accuracy_ci"]
    assert lo < 0.70 < hi


def test_no_gap_beyond_chance_between_alike_groups():
    y, p, g = answers({"cam1": (200, 180), "cam2": (200, 178), "cam3": (200, 181)}, seed=1)
    r = slice_report(y, p, g, ["a", "b", "c"], column="camera")
    assert r["gap"] == pytest.approx(0.015)
    assert r["p_value"] > 0.3 and not r["larger_than_chance"]
    assert r["gap_ci"][0] < 0 < r["gap_ci"][1]


def test_one_group_or_tiny_groups_give_no_gap():
    y, p, g = answers({"only": (100, 90)})
    r = slice_report(y, p, g, ["a", "b", "c"], column="site")
    assert r["gap"] is None and "one group" in r["why_no_gap"]
    y, p, g = answers({"a": (10, 9), "b": (12, 4)})
    r = slice_report(y, p, g, ["a", "b", "c"], column="site")
    assert r["gap"] is None and r["n_too_few"] == 2 and "fewer than two groups" in r["why_no_gap"]


def test_the_permutation_test_is_seeded():
    y, p, g = answers({"x": (60, 50), "y": (60, 42)})
    a = slice_report(y, p, g, ["a", "b", "c"], column="c", seed=3)
    b = slice_report(y, p, g, ["a", "b", "c"], column="c", seed=3)
    assert a["p_value"] == b["p_value"]


def test_difference_interval_matches_newcombe():
    # Newcombe (1998), Statistics in Medicine 17:873, table II example (a): 56/70 against
    # 48/80; method 10 (hybrid score) gives 0.0524 to 0.3339
    lo, hi = difference_interval(56, 70, 48, 80)
    assert lo == pytest.approx(0.0524, abs=5e-4) and hi == pytest.approx(0.3339, abs=5e-4)
    lo, hi = difference_interval(10, 10, 0, 10)  # stays inside [-1, 1]
    assert -1 <= lo < hi <= 1


def test_shift_report_sets_both_sets_side_by_side():
    own = {"right": 950, "n": 1000, "source": "photos"}
    stats_own = {"brightness": [0.5, 0.1], "contrast": [0.2, 0.05], "saturation": [0.3, 0.1]}
    stats_new = {"brightness": [0.25, 0.1], "contrast": [0.2, 0.05], "saturation": [0.31, 0.1]}
    r = shift_report(own, 700, 1000, stats_own, stats_new)
    assert r["own"]["accuracy"] == 0.95 and r["new"]["accuracy"] == 0.70
    assert r["difference"]["value"] == pytest.approx(-0.25) and r["difference"]["clear_drop"]
    assert r["difference"]["ci"][1] < 0
    props = {p["property"].split(" ")[0]: p for p in r["properties"]}
    assert props["brightness"]["shift_in_spreads"] == pytest.approx(-2.5)
    assert abs(props["contrast"]["shift_in_spreads"]) < 1e-9
    none = shift_report(None, 700, 1000, None, stats_new)
    assert none["own"] is None and "held-out score" in none["why_no_own"]
