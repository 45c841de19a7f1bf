"""The label check: every image ranked, flags cut where a self-check on planted flips says,
and words that follow the precision the self-check measured."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

import trueclass as tc
from trueclass.checks import audit
from trueclass.checks._labels import (best_cut, find_label_issues, label_model_beats_guessing, plant_flips,
                                      self_check_size)


def _digits_with_flips(rate: float, seed: int = 0):
    digits = tc.load("digits")
    labels, idx = plant_flips(digits.labels, 10, int(round(rate * len(digits))), np.random.default_rng(seed))
    return replace(digits, labels=labels, provenance={"source": f"digits, {rate:.0%} of labels flipped"}), idx


def _overlapping(n: int = 400, gap: float = 3.0) -> tc.Dataset:
    """Two classes of noise pictures that differ only a little in brightness: correctly
    labelled, but many images look like the other class."""
    rng = np.random.default_rng(0)
    lab = np.repeat([0, 1], n // 2)
    imgs = np.clip(rng.normal(100, 30, (n, 16, 16)) + (lab * gap)[:, None, None], 0, 255).astype(np.uint8)
    return tc.load((imgs[..., None], np.array(["dim", "bright"])[lab]), value_max=255)


def test_planted_flips_are_found_and_the_summary_reads_the_measured_precision():
    noisy, flipped = _digits_with_flips(0.02)
    result = audit(noisy, near=False)
    report = result.to_dict()
    got = {it["index"] for it in report["label_issues"]}
    hit = len(got & set(flipped.tolist()))
    assert hit / len(got) >= 0.6 and hit / len(flipped) >= 0.8  # the issue's target: precision 0.6 at recall 0.8
    sc = report["label_self_check"]
    assert sc["planted"] >= 100 and 0 < sc["found"] <= sc["planted"]  # several copies: 36 flips each
    assert sc["precision_ci"][0] <= sc["precision"] <= sc["precision_ci"][1]
    assert report["label_issues_wording"] == "likely"
    text = result.summary()
    assert f"{len(got)} likely label errors to check first (on {sc['planted']} flips planted in" in text
    # counts and a percent (regression: "10 in 10 were planted flips (95% CI 0.85-0.99)" for 44 of 46)
    assert (f"of the {sc['found'] + sc['other_flags']:,} images it newly flagged there, {sc['found']:,} were planted "
            f"flips ({sc['precision']:.0%}, 95% CI {sc['precision_ci'][0]:.0%} to {sc['precision_ci'][1]:.0%})") in text


def test_a_clean_set_reads_nothing_or_ranked_for_review():
    # clean and easy: 0s and 1s, nothing flagged
    digits = tc.load("digits")
    easy = digits.subset(np.concatenate([np.flatnonzero(digits.labels == k)[:60] for k in (0, 1)]))
    easy_audit = audit(easy, near=False)
    assert easy_audit.to_dict()["n_label_issues"] == 0 and "Label issues   none flagged" in easy_audit.summary()
    # clean and hard: what is flagged is only ranked for review, since the self-check finds the
    # detector unable to tell a planted flip from an image that merely looks like the other class
    hard = audit(_overlapping(), near=False)
    rep = hard.to_dict()
    assert rep["n_label_issues"] > 0 and rep["label_issues_wording"] == "review"
    assert rep["label_self_check"]["precision_ci"][0] < 0.5
    assert f"{rep['n_label_issues']} images ranked for review as possible label errors" in hard.summary()
    assert "likely label error" not in hard.summary()


def test_the_cut_is_where_planted_flips_are_found_best():
    scores = np.array([0.01, 0.02, 0.03, 0.2, 0.3, 0.5, 0.6, 0.9])
    planted = np.array([1, 1, 0, 1, 0, 0, 0, 0], dtype=bool)
    assert best_cut(scores, planted) == 0.2  # flags 4 of which 3 planted: F1 6/7, the best
    assert self_check_size(30) == 0 and self_check_size(100) == 10 and self_check_size(10_000) == 200
    assert self_check_size(1_000_000) == 2_000


def test_every_image_is_ranked_in_label_issues_csv_through_both_doors(tmp_path):
    from trueclass.cli import cli

    noisy, _ = _digits_with_flips(0.02)
    source = tmp_path / "noisy.npz"  # a source both doors read
    np.savez(source, X=noisy.images[..., 0], y=noisy.labels)
    result = CliRunner().invoke(cli, ["audit", str(source), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    cli_report = json.loads((tmp_path / "out" / "audit.json").read_text())
    rows = list(csv.DictReader(open(tmp_path / "out" / "label_issues.csv")))
    assert len(rows) == len(noisy)  # every image, not only the flagged
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores) and [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    assert sum(r["flagged"] == "True" for r in rows) == cli_report["n_label_issues"]
    assert [r["id"] for r in rows[: cli_report["n_label_issues"]]] == [it["id"] for it in cli_report["label_issues"]]
    # the Python door: the same data, the same seed, the same flags and words
    py = tc.audit(tc.load(source), seed=0)
    assert py.to_dict()["n_label_issues"] == cli_report["n_label_issues"]
    assert py.to_dict()["label_issues_wording"] == cli_report["label_issues_wording"]
    assert [r["id"] for r in py.label_ranking] == [r["id"] for r in rows]


def test_same_seed_same_flags():
    noisy, _ = _digits_with_flips(0.05, seed=3)
    noisy = noisy.subset(np.arange(600))  # a third of the digits: the same code path, a third of the time
    a, b = find_label_issues(noisy, seed=4), find_label_issues(noisy, seed=4)
    assert a.issues  # something to compare: the planted flips are ranked
    assert [r["id"] for r in a.issues] == [r["id"] for r in b.issues] and a.self_check == {
        **b.self_check, "seconds": a.self_check["seconds"]}


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory):
    """One run on the digits with 3% of the labels flipped, for the card's and the studio's view."""
    noisy, _ = _digits_with_flips(0.03)
    return tc.train(noisy, model="logreg", out=tmp_path_factory.mktemp("noisy") / "run")


def test_the_run_folder_and_card_show_the_ranking(noisy_run):
    run = noisy_run
    rows = list(csv.DictReader(open(run.path / "label_issues.csv")))
    assert len(rows) == run.metrics["n_train"]  # the training images, the ones the label check looks at
    au = run.metrics["audit"]
    assert au["n_label_issues"] == sum(r["flagged"] == "True" for r in rows) > 0
    card = (run.path / "card.html").read_text()
    words = "Likely label errors" if au["label_issues_wording"] == "likely" else "Label flags ranked for review"
    assert words in card and "label quality score" in card and "label_issues.csv" in card
    top = au["label_issues"][0]
    assert f"{top['given']} → {top['suggested']}? score {top['score']:.3f}" in card


def test_too_few_images_for_a_self_check_are_ranked_for_review():
    digits = tc.load("digits")
    small = digits.subset(np.concatenate([np.flatnonzero(digits.labels == k)[:20] for k in (3, 5)]))
    found = find_label_issues(small, seed=0)
    assert found.self_check is None and found.wording == "review"
    assert len(found.ranking) == len(small)


def test_the_studio_shows_the_top_of_the_same_ranking(noisy_run):
    from trueclass.studio._training import LABEL_FLAGS_SHOWN, run_result

    run = noisy_run
    shown = run_result(run.path)
    au = run.metrics["audit"]
    assert [w["file"] for w in shown["label_issues"]] == [it["id"] for it in au["label_issues"][:LABEL_FLAGS_SHOWN]]
    from trueclass.report import format_label_issues, format_label_issues_plain

    assert shown["label_issues"] and shown["label_issues_text"] == format_label_issues(au)
    assert shown["label_issues_text"].startswith(f"{au['n_label_issues']} ")
    assert shown["label_issues_plain"] == format_label_issues_plain(au)  # the page's words, same measurement


def test_the_studio_says_the_label_check_in_plain_words():
    from trueclass.report import format_label_issues_plain as plain

    sc = {"planted": 60, "found": 50, "recall": 0.83, "precision": 0.7, "precision_ci": [0.6, 0.8]}
    measured = "To test the check, 60 labels were swapped on purpose in a copy: it found 50 of them, and about 7 in 10 " \
               "of the images it pointed at were swapped ones."
    assert plain({"n_label_issues": 12, "label_issues_wording": "likely", "label_self_check": sc}) == (
        "12 images look filed under the wrong class: check these first. " + measured)
    assert plain({"n_label_issues": 1, "label_issues_wording": "review", "label_self_check": sc}) == (
        "1 image might be filed under the wrong class; the check is not sure enough to call it a mistake. " + measured)
    assert plain({"n_label_issues": 2, "label_issues_wording": "likely", "label_self_check": {**sc, "precision": 0.97}}
                 ).endswith("it found 50 of them, and nearly all of the images it pointed at were swapped ones.")
    assert plain({"n_label_issues": 0, "label_self_check": {**sc, "precision": None}}) == (
        "No image looks filed under the wrong class. To test the check, 60 labels were swapped on purpose in a "
        "copy: it found 50 of them.")
    assert plain({"n_label_issues": 3, "label_issues_wording": "review", "label_self_check": None}).endswith(
        "There are too few images to test how often the check is right.")
    assert plain({"label_issues_skipped": "one class only"}) == "Not done: one class only."


def test_an_audit_written_to_a_file_is_a_sentence_and_writes_nothing(tmp_path):
    from trueclass.cli import cli

    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    result = CliRunner().invoke(cli, ["audit", "digits", "--no-label-issues", "--out", str(taken)])
    assert result.exit_code != 0 and "is a file; give the audit a folder name" in result.output
    assert "Traceback" not in result.output and "Leaks" not in result.output  # refused before the audit ran
    assert taken.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    digits = tc.load("digits")
    found = tc.audit(digits.subset(np.arange(200)), near=False)
    with pytest.raises(tc.TrueclassError, match="is a file"):
        found.write(taken)
    written = found.write(tmp_path / "new" / "audit")  # a new folder is made
    assert [p.name for p in written] == ["audit.json", "label_issues.csv"]


def _few_digits(n_per_class: int = 4) -> tc.Dataset:
    digits = tc.load("digits")
    pick = np.concatenate([np.flatnonzero(digits.labels == k)[:n_per_class] for k in range(10)])
    return digits.subset(pick)


def test_the_network_on_the_other_folds_is_a_candidate_on_a_gpu_or_by_name(monkeypatch):
    from trueclass.checks import _labels

    small = _few_digits()  # 40 images: one out-of-fold pass, too few for a self-check
    on_cpu = find_label_issues(small, seed=0)
    assert "cnn-folds" not in on_cpu.model["tried"]  # on a CPU the default leaves it out (its cost)
    asked = find_label_issues(small, seed=0, candidates=("cnn-folds",))
    assert asked.model["model"] == "cnn-folds"
    assert label_model_beats_guessing(small.labels, asked.probs)  # 8 short epochs on 32 images: far above 1 in 10
    again = find_label_issues(small, seed=0, candidates=("cnn-folds",))  # seeded: the same ranking
    assert [r["index"] for r in again.ranking] == [r["index"] for r in asked.ranking]
    monkeypatch.setattr(_labels, "_on_gpu", lambda: True)  # where the cnn trains on a GPU, it is tried by default
    assert "cnn-folds" in find_label_issues(small, seed=0).model["tried"]


def test_the_cli_tries_the_label_models_it_is_given(tmp_path):
    from trueclass.checks._labels import LABEL_CANDIDATES
    from trueclass.cli import cli

    option = next(p for p in cli.commands["audit"].params if p.name == "label_models")
    assert tuple(option.type.choices) == LABEL_CANDIDATES  # the CLI's list is the check's
    small = _few_digits(8)
    np.savez(tmp_path / "few.npz", X=small.images[..., 0], y=small.labels)
    res = CliRunner().invoke(cli, ["audit", str(tmp_path / "few.npz"), "--label-model", "pca-logreg",
                                   "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert list(json.loads((tmp_path / "a" / "audit.json").read_text())["label_model"]["tried"]) == ["pca-logreg"]
    in_cli = json.loads((tmp_path / "a" / "audit.json").read_text())
    in_python = audit(small, label_models="pca-logreg").to_dict()  # one name, as in the CLI: the same check
    assert list(in_python["label_model"]["tried"]) == ["pca-logreg"]
    assert in_python["label_model"]["accuracy"] == in_cli["label_model"]["accuracy"]
    assert in_python["n_label_issues"] == in_cli["n_label_issues"]
    res = CliRunner().invoke(cli, ["audit", str(tmp_path / "few.npz"), "--label-model", "forest"])
    assert res.exit_code == 2 and "'forest' is not one of" in res.output and not (tmp_path / "b").exists()
