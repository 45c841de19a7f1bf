"""Several labels per image, from a CSV 'labels' column, end to end."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

import trueclass as tc  # noqa: E402
from trueclass.evaluation import evaluate_multilabel  # noqa: E402


def _scene(has_bar: bool, has_col: bool, rng) -> Image.Image:
    a = (rng.random((16, 16)) * 40).astype(np.uint8)
    if has_bar:
        a[6:9, 2:14] = 230
    if has_col:
        a[2:14, 6:9] = 230
    return Image.fromarray(a)


@pytest.fixture
def labelled_csv(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    rows = []
    for i in range(240):
        bar, col = bool(i % 2), bool((i // 2) % 2)
        _scene(bar, col, rng).save(tmp_path / "img" / f"{i}.png")
        labels = "|".join(n for n, on in (("bar", bar), ("column", col)) if on)
        rows.append((f"img/{i}.png", labels))
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "labels"])
        w.writerows(rows)
    return tmp_path / "labels.csv"


def test_csv_labels_column_makes_a_multilabel_set(labelled_csv):
    ds = tc.load(labelled_csv)
    assert ds.multilabel and ds.classes == ("bar", "column")
    assert ds.labels.shape == (240, 2) and ds.counts() == {"bar": 120, "column": 120}
    assert ds.labels[0].tolist() == [0, 0]  # an image with no label at all is allowed
    # a folder holding labels.csv is read the same way
    assert tc.load(labelled_csv.parent).hash == ds.hash


def test_train_multilabel_end_to_end(labelled_csv, tmp_path):
    run = tc.train(str(labelled_csv), model="cnn", params={"epochs": 8, "width": 8}, seed=0, out=tmp_path / "run")
    m = json.loads((run.path / "metrics.json").read_text())
    for key in ("per_label", "micro_f1", "macro_f1", "mean_average_precision", "subset_accuracy", "hamming_loss"):
        assert key in m
    assert m["multilabel"] is True and m["subset_accuracy"] >= 0.8
    assert set(m["per_label"]) == {"bar", "column"}
    assert m["split"]["stratify"] is False
    # the evidence card shows the multi-label headline, per-label table and training verdict
    html = (run.path / "card.html").read_text()
    assert f'data-metric="subset_accuracy" data-value="{m["subset_accuracy"]}"' in html
    assert all(f'data-class="{name}"' in html for name in m["per_label"])
    from trueclass.evaluation._diagnosis import training_verdict

    d, tr = m["diagnosis"], m["training"]
    # the verdict judges the multi-label headline (subset accuracy) against the training curves
    assert d["test_accuracy"] == m["subset_accuracy"]
    expected = training_verdict(m["subset_accuracy"], m["subset_accuracy_ci"], d["train_accuracy"], tr["history"],
                                best_epoch=tr["best_epoch"], stopped_early=tr["stopped_early"])
    # the reasons' gap interval also counts the training sample, which this recomputation leaves out
    assert d["verdict"] == expected["verdict"]
    assert f">{d['verdict']}<" in html or f'"{d["verdict"]}"' in html
    rows = list(csv.DictReader(open(run.path / "predictions.csv")))
    assert len(rows) == m["n_test"] and "probabilities" in rows[0]
    back = tc.load_model(run.path)
    assert back.multilabel_ and len(back.thresholds_) == 2
    pred = back.predict(run.split.test)
    assert pred.shape == (m["n_test"], 2) and set(np.unique(pred)) <= {0, 1}
    assert "All labels right" in run.summary()
    from trueclass.run import predict_files

    rows, skipped = predict_files(run.path, [labelled_csv.parent / "img" / "3.png"])  # a bar and a column
    assert not skipped and set(rows[0]["label"].split("|")) <= {"bar", "column"} and 0 <= rows[0]["confidence"] <= 1
    # a multi-label model is not calibrated (its thresholds are per label) and cannot be exported yet
    assert back.calibration_["temperature"] is None and "its own threshold" in back.calibration_["reason"]
    metrics_before = (run.path / "metrics.json").read_bytes()
    with pytest.raises(tc.TrueclassError, match="multi-label model cannot be exported"):
        tc.export(run.path)
    assert not (run.path / "export").exists() and (run.path / "metrics.json").read_bytes() == metrics_before


def test_pixel_models_refuse_multilabel(labelled_csv):
    ds = tc.load(labelled_csv)
    with pytest.raises(tc.TrueclassError, match="Several labels per image need a neural network"):
        tc.ImageClassifier("knn").fit(ds)


def test_multilabel_metrics_match_scikit_learn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(1)
    Y = rng.integers(0, 2, (200, 4))
    P = np.clip(Y * 0.6 + rng.random((200, 4)) * 0.5, 0, 1)
    ev = evaluate_multilabel(Y, P, ["a", "b", "c", "d"])
    pred = (P >= 0.5).astype(int)
    assert ev.micro_f1 == pytest.approx(skm.f1_score(Y, pred, average="micro"))
    assert ev.macro_f1 == pytest.approx(skm.f1_score(Y, pred, average="macro"))
    assert ev.hamming_loss == pytest.approx(skm.hamming_loss(Y, pred))
    assert ev.subset_accuracy == pytest.approx(skm.accuracy_score(Y, pred))
    assert ev.mean_average_precision == pytest.approx(
        np.mean([skm.average_precision_score(Y[:, j], P[:, j]) for j in range(4)]))
    assert ev.per_label["b"]["recall"] == pytest.approx(skm.recall_score(Y[:, 1], pred[:, 1]))
