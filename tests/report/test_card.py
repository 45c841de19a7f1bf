"""The evidence card: every number on it is the one in metrics.json, its cells and
galleries match the predictions, it rebuilds from the run folder, and it stays small."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser

import numpy as np
import pytest

import trueclass as tc
from trueclass.data import Dataset
from trueclass.evaluation import evaluate_predictions
from trueclass.report._text import format_report_card


class CardParser(HTMLParser):
    """Collects the elements tools are promised: data-metric values, confusion cells,
    gallery images, per-class rows, and every external reference."""

    def __init__(self):
        super().__init__()
        self.metrics, self.cells, self.images, self.rows, self.external = {}, [], [], [], []
        self._in_row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-metric" in a:
            self.metrics[a["data-metric"]] = a["data-value"]
        if tag == "td" and "cm" in a.get("class", "").split():
            self.cells.append(a)
        if tag == "img" and "data-id" in a:
            self.images.append(a)
        if tag == "tr" and "data-class" in a:
            self._in_row = {"class": a["data-class"], "values": []}
            self.rows.append(self._in_row)
        if tag == "td" and self._in_row is not None and "data-value" in a:
            self._in_row["values"].append(a["data-value"])
        for key in ("src", "href"):
            v = a.get(key) or ""
            if v and not v.startswith(("data:", "#")):
                self.external.append(v)

    def handle_endtag(self, tag):
        if tag == "tr":
            self._in_row = None


def parse(html: str) -> CardParser:
    p = CardParser()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    # a validation part, so the temperature and the review threshold are fitted on it
    return tc.train("digits", model="logreg", val_size=0.1, out=tmp_path_factory.mktemp("card") / "run")


def test_headline_numbers_are_those_of_metrics_json(run):
    m = json.loads((run.path / "metrics.json").read_text())
    card = parse((run.path / "card.html").read_text())
    cal = m["calibration"]
    expected = {
        "accuracy": m["accuracy"], "accuracy_ci_low": m["accuracy_ci"][0], "accuracy_ci_high": m["accuracy_ci"][1],
        "n_wrong": m["n_wrong"], "chance": m["baselines"]["chance"], "majority": m["baselines"]["majority"],
        "ece": cal["ece"], "temperature": cal["temperature"]["value"], "ece_raw": cal["temperature"]["ece_before"],
        "threshold": m["flagged"]["threshold"], "gap": m["diagnosis"]["gap"],
    }
    assert set(expected) <= set(card.metrics)
    for key, value in expected.items():
        assert float(card.metrics[key]) == value, key
    assert cal["temperature"]["fitted_on"] == "144 validation images"
    assert cal["ece"] == cal["temperature"]["ece_after"]


def test_confusion_cells_carry_their_counts_and_names(run):
    m = run.metrics
    cells = parse((run.path / "card.html").read_text()).cells
    k = len(m["classes"])
    assert len(cells) == k * k
    for n, c in enumerate(cells):
        i, j = divmod(n, k)
        assert (c["data-true"], c["data-pred"]) == (m["classes"][i], m["classes"][j])
        assert int(c["data-count"]) == m["confusion_matrix"][i][j]
        assert float(c["data-frac"]) == pytest.approx(m["confusion_matrix_normalized"][i][j], abs=1e-4)
        assert ("diag" in c["class"]) == (i == j)


def test_every_misread_image_is_in_the_card_data_under_its_cell(run):
    data = json.loads((run.path / "card.json").read_text())
    preds = list(csv.DictReader(open(run.path / "predictions.csv")))
    wrong = {(r["id"], r["true"], r["pred"]) for r in preds if r["correct"] == "False"}
    items = {(it["id"], it["true"], it["pred"]) for it in data["items"] if not it["correct"]}
    assert items == wrong and data["thumbs_complete_for_errors"]
    # each item's top-3 starts with its prediction and confidence
    for it in data["items"]:
        assert it["top"][0] == [it["pred"], it["confidence"]]
    # the static error gallery: most confident first, each image tagged for tools
    gallery = parse((run.path / "card.html").read_text()).images
    errs = [g for g in gallery if g["data-true"] != g["data-pred"]]
    assert errs and {(g["data-id"], g["data-true"], g["data-pred"]) for g in errs} <= wrong
    assert data["report_card"] == format_report_card(run.metrics)


def test_per_class_rows_match_metrics(run):
    rows = parse((run.path / "card.html").read_text()).rows
    pc = run.metrics["per_class"]
    assert [r["class"] for r in rows] == list(pc)
    for r in rows:
        name, precision, recall, f1, support = r["values"]
        v = pc[r["class"]]
        assert (float(precision), float(recall), float(f1), int(support)) == (v["precision"], v["recall"], v["f1"],
                                                                           v["support"])


def test_card_is_self_contained(run):
    html = (run.path / "card.html").read_text()
    card = parse(html)
    assert card.external == []  # no CDN, no file next to it: opens offline
    assert "<link" not in html and "<script src" not in html
    # every plot has a text equivalent
    assert html.count('class="plot"') == html.count('class="plot" src="data:image/png;base64,')
    assert all(part.split('alt="')[1].split('"')[0] for part in html.split('class="plot"')[1:])


def test_trueclass_card_rebuilds_the_same_card(run, tmp_path):
    before = (run.path / "card.html").read_bytes()
    before_json = (run.path / "card.json").read_bytes()
    (run.path / "card.html").unlink()
    out = subprocess.run([sys.executable, "-m", "trueclass.cli", "card", str(run.path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "card.html" in out.stdout
    assert (run.path / "card.html").read_bytes() == before
    assert (run.path / "card.json").read_bytes() == before_json


def test_trueclass_card_on_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    out = subprocess.run([sys.executable, "-m", "trueclass.cli", "card", str(tmp_path)], capture_output=True,
                         text=True)
    assert out.returncode == 1
    assert "not a finished run folder" in out.stderr and "Traceback" not in out.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # nothing written, nothing lost


def test_card_without_prediction_arrays_still_renders_the_numbers(run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy)
    (copy / "evaluation.npz").unlink()
    (copy / "card.html").unlink()
    tc_card = __import__("trueclass.report._card", fromlist=["build_card"]).build_card
    html = tc_card(copy).read_text()
    assert float(parse(html).metrics["accuracy"]) == run.metrics["accuracy"]
    assert 'id="confusion-matrix"' not in html  # no cells without the predictions behind them


def test_notebook_views(run):
    ev_html = run.evaluation._repr_html_()
    assert "<table" in ev_html and f"{run.metrics['n_wrong']} wrong of {run.metrics['n_test']}" in ev_html
    assert "<script" not in ev_html
    run_html = run._repr_html_()
    assert run_html.startswith("<iframe") and "srcdoc=" in run_html and "&lt;!doctype html&gt;" in run_html


def test_plots_are_public_and_take_an_axes(run):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3)
    assert tc.plot_reliability(run.evaluation, ax=axes[0]) is axes[0]
    assert tc.plot_coverage(run.evaluation, ax=axes[1]) is axes[1]
    assert tc.plot_class_counts(run.metrics["dataset"]["counts_by_split"], ax=axes[2]) is axes[2]
    bars = lambda ax: sorted(round(p.get_width()) for p in ax.patches)  # noqa: E731
    drawn = bars(axes[2])
    for same in (run, run.split):  # the natural inputs draw the same bars (regression: a Dataset was refused
        axes[2].clear()            # with an AttributeError)
        assert bars(tc.plot_class_counts(same, ax=axes[2])) == drawn
    axes[2].clear()
    assert sum(bars(tc.plot_class_counts(run.dataset, ax=axes[2]))) == len(run.dataset)
    assert axes[0].get_title() == f"Reliability, calibrated (ECE {run.metrics['calibration']['ece']:.3f})"
    plt.close(fig)


def test_repeats_report_the_spread_of_independent_runs(tmp_path):
    run = tc.train("digits", model="logreg", repeats=3, out=tmp_path / "r", audit=False)
    st = run.metrics["stability"]
    assert st["repeats"] == 3 and st["seeds"] == [0, 1, 2]
    assert st["accuracies"][0] == run.metrics["accuracy"]
    # the second repeat is exactly what a run with seed 1 gets
    assert st["accuracies"][1] == tc.train("digits", model="logreg", seed=1, out=tmp_path / "s1", audit=False).metrics["accuracy"]
    assert st["min"] <= st["mean"] <= st["max"] and st["sd"] > 0
    card = parse((run.path / "card.html").read_text())
    assert float(card.metrics["stability_mean"]) == st["mean"]
    assert "--repeats 3" in json.loads((run.path / "config.json").read_text())["command"]
    with pytest.raises(tc.TrueclassError, match="repeats must be"):
        tc.train("digits", model="logreg", repeats=0, out=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_card_for_ten_thousand_test_images_stays_small(tmp_path):
    """10,000 28x28 test images (Fashion-MNIST's test set size) with 1,500 mistakes."""
    from trueclass.run import RunFolder

    rng = np.random.default_rng(0)
    n, k = 10_000, 10
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 4.0
    logits[rng.random(n) < 0.15] *= -1
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    images = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)  # noise: the worst case for PNG size
    classes = [f"class {i}" for i in range(k)]
    test = Dataset(images=images, labels=y, classes=tuple(classes), ids=np.array([f"t{i}" for i in range(n)]),
                   provenance={"source": "synthetic", "hash": "sha256:0"})
    ev = evaluate_predictions(y, p, classes, test.ids)
    metrics = {**ev.to_dict(), "n_train": 60000, "n_val": 0, "model": "cnn", "params": {}, "seed": 0,
               "train_seconds": 1.0, "dataset": {"source": "synthetic", "hash": "sha256:0", "n_images": n,
                                                 "image_size": [28, 28], "color_mode": "L", "n_skipped": 0,
                                                 "skipped": [], "counts_by_split": {"test": test.counts()}}}
    RunFolder(tmp_path).write_evaluation(ev, test, metrics)
    size = (tmp_path / "card.html").stat().st_size
    assert size < 10 * 1024 * 1024, f"card is {size / 1e6:.1f} MB"
    data = json.loads((tmp_path / "card.json").read_text())
    assert sum(not it["correct"] for it in data["items"]) == ev.n_wrong  # every mistake has its thumbnail
    cells = Counter((it["true"], it["pred"]) for it in data["items"] if not it["correct"])
    cm = np.asarray(metrics["confusion_matrix"])
    assert all(cells[(classes[i], classes[j])] == cm[i, j] for i in range(k) for j in range(k) if i != j)


def test_card_items_are_the_evaluations_own_rows(run):
    # renderers never compute: each card item is the row predictions.csv has for its image
    import csv

    data = json.loads((run.path / "card.json").read_text())
    rows = {r["id"]: r for r in csv.DictReader(open(run.path / "predictions.csv"))}
    assert data["items"]
    for it in data["items"]:
        r = rows[it["id"]]
        assert (it["true"], it["pred"]) == (r["true"], r["pred"])
        assert str(it["correct"]) == r["correct"] and str(it["flagged"]) == r["flagged"]
        assert it["confidence"] == pytest.approx(float(r["confidence"]), abs=1e-4)
        assert [c for c, _ in it["top"]] == [kv.split(":")[0] for kv in r["top_k"].split("|")]


def test_review_target_comes_from_data_not_prose(run):
    m = json.loads((run.path / "metrics.json").read_text())
    assert m["n_val"] > 0 and m["flagged"]["target_accuracy"] == 0.99  # chosen on the validation part
    meta = json.loads((run.path / "model" / "model.json").read_text())
    assert meta["review_target"] == m["flagged"]["target_accuracy"]


def test_gallery_captions_show_whole_file_names():
    # regression: captions kept the last 18 characters ("fee/coffee_003.jpg")
    from trueclass.report._card import short_id

    assert short_id("coffee/coffee_003.jpg") == "coffee_003.jpg"
    s = short_id("cats/a_very_long_photo_name_from_camera_0001.jpeg")
    assert len(s) == 22 and s.startswith("a_very_lon") and s.endswith("0001.jpeg") and "…" in s
