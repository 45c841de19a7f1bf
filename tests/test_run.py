"""The run folder holds everything DESIGN.md promises, and nothing is lost."""

from __future__ import annotations

import csv
import json

import pytest

import trueclass as tc


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "r"
    return tc.train("digits", model="knn", seed=0, val_size=0.1, out=out)


def test_run_folder_contents(run):
    p = run.path
    for name in ["model/model.json", "model/weights.skops", "metrics.json", "predictions.csv", "split.csv",
                 "confusion_matrix.png", "config.json", "card.html"]:
        assert (p / name).is_file(), name
    m = json.loads((p / "metrics.json").read_text())
    assert m["n_train"] + m["n_val"] + m["n_test"] == 1797
    assert m["n_val"] > 0 and "validation" in m["flagged"]["chosen_on"]
    assert m["model"] == "knn" and m["seed"] == 0 and m["train_seconds"] >= 0
    assert m["dataset"]["source"] == "digits" and m["dataset"]["hash"].startswith("sha256:")
    assert m["dataset"]["n_skipped"] == 0 and m["dataset"]["skipped"] == []
    errors = sorted((p / "errors").glob("*.png"))
    assert len(errors) == m["n_wrong"]
    rows = list(csv.DictReader(open(p / "predictions.csv")))
    assert len(rows) == m["n_test"]
    assert sum(r["correct"] == "False" for r in rows) == m["n_wrong"]
    assert sum(r["flagged"] == "True" for r in rows) == m["flagged"]["n"]
    split_rows = list(csv.DictReader(open(p / "split.csv")))
    assert sum(r["split"] == "test" for r in split_rows) == m["n_test"]
    # predictions.csv ids are exactly the test part of split.csv
    assert {r["id"] for r in rows} == {r["id"] for r in split_rows if r["split"] == "test"}
    html = (p / "card.html").read_text()
    assert f'data-metric="n_wrong" data-value="{m["n_wrong"]}"' in html and f"wrong of {m['n_test']}" in html
    cfg = json.loads((p / "config.json").read_text())
    assert cfg["command"].startswith("trueclass train digits --model knn")


def test_same_seed_same_metrics(run, tmp_path):
    again = tc.train("digits", model="knn", seed=0, val_size=0.1, out=tmp_path / "again")
    skip = ("train_seconds", "environment", "seconds")  # timings and versions are not results (the audit's
    # label check says the seconds each part took)

    def results(x):
        if isinstance(x, dict):
            return {k: results(v) for k, v in x.items() if k not in skip}
        return [results(v) for v in x] if isinstance(x, list) else x

    a, b = results(run.metrics), results(again.metrics)
    assert a == b


def test_existing_run_folder_is_not_overwritten(run):
    before = (run.path / "metrics.json").read_text()
    with pytest.raises(tc.TrueclassError, match="already exists"):
        tc.train("digits", model="logreg", out=run.path)
    assert (run.path / "metrics.json").read_text() == before


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(tc.TrueclassError, match="does not look like a trueclass run folder"):
        tc.train("digits", model="knn", out=tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_default_run_names_never_collide(tmp_path):
    a = tc.train("digits", model="knn", runs_dir=tmp_path, audit=False)
    b = tc.train("digits", model="knn", runs_dir=tmp_path, audit=False)
    assert a.path.name == "digits-knn" and b.path.name == "digits-knn-2"


def test_messy_folder_run_lists_skips(messy_folder, tmp_path):
    root, expected = messy_folder
    run = tc.train(str(root), model="knn", params={"n_neighbors": 3}, test_size=0.3, out=tmp_path / "m")
    m = run.metrics
    assert m["dataset"]["n_skipped"] == len(expected) - 1  # the 1500x1500 image is under the default limit
    assert {s["reason"] for s in m["dataset"]["skipped"]} >= {"empty file (0 bytes)", "not inside a class folder"}


def test_train_function_is_not_shadowed_by_the_training_package():
    import trueclass.training  # noqa: F401 - importing the subpackage must not hide tc.train

    assert callable(tc.train)


def test_evaluate_function_is_not_shadowed_by_the_evaluation_package(tmp_path):
    tc.train("digits", model="knn", out=tmp_path / "r")  # imports every subpackage
    import trueclass.evaluation  # noqa: F401

    assert callable(tc.evaluate) and callable(tc.train) and callable(tc.load) and callable(tc.split)
