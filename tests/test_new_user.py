"""The faults a teacher (the lesson in Python) and a practitioner (a photo folder on the
command line) met, each pinned by a test that failed before the fix."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import trueclass as tc
from tests.test_lesson import lesson as lesson_numbers


@pytest.fixture(scope="module")
def lesson():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=1)
    return Xtr, Xte, ytr, yte


def test_the_lessons_own_arrays_can_be_evaluated(lesson):
    Xtr, Xte, ytr, yte = lesson
    clf = tc.ImageClassifier("logreg").fit(Xtr, ytr)
    ev = tc.evaluate(clf, (Xte, yte))
    assert ev.n_test == 360 and ev.n_wrong == lesson_numbers()[1] and ev.accuracy == clf.score(Xte, yte)
    # the review threshold is the model's own (chosen by cross-validation on training images);
    # confidences are in the model's units: 0-16 pixels, not 0-255
    assert ev.flagged["threshold"] == clf.review_threshold_ > 0.5
    assert ev.flagged["n"] == int(np.sum(ev.confidence < clf.review_threshold_)) > 0
    ds = tc.load((Xte, yte))
    assert ds.value_max == 16 and "inferred" in ds.provenance["value_range"]
    assert tc.load((Xte, yte), value_max=255).value_max == 255


@pytest.mark.parametrize("dtype", [np.float64, np.uint8])
def test_one_value_range_rule_for_the_loader_and_the_estimator(lesson, dtype):
    # regression: the estimator took uint8 digits (0-16) as 0-255 where the loader said 0-16
    Xtr, _, ytr, _ = lesson
    X = Xtr.astype(dtype)
    assert tc.ImageClassifier("knn").fit(X, ytr).value_max_ == tc.load((X, ytr)).value_max == 16
    unit = Xtr / 16.0
    assert tc.ImageClassifier("knn").fit(unit, ytr).value_max_ == 1


def test_unfitted_model_and_bad_show_get_sentences(lesson):
    ds = tc.load("digits")
    with pytest.raises(tc.NotFittedError, match="call fit"):
        tc.evaluate(tc.ImageClassifier("knn"), ds)
    with pytest.raises(tc.TrueclassError, match=r"show\(\) takes the number of an image"):
        ds.show("3")
    with pytest.raises(tc.TrueclassError, match=r"show\(\) takes the number of an image"):
        ds.show(lesson[0][0])


def test_one_majority_baseline_for_train_evaluate_and_python(tmp_path, lesson):
    # regression: train said "always '1'", evaluate "always '3'" on the same test images
    run = tc.train("digits", model="logreg", seed=1, out=tmp_path / "run")
    from trueclass.run import evaluate_run

    ev = evaluate_run(run.path, "digits", out=tmp_path / "ev")
    assert run.metrics["baselines"]["majority_class"] == ev.metrics["baselines"]["majority_class"]
    assert ev.metrics["baselines"]["majority_from"] == "train"
    back = tc.load_model(run.path)
    assert tc.evaluate(back, run.split.test).baselines["majority"] == run.metrics["baselines"]["majority"]
    Xtr, Xte, ytr, yte = lesson
    clf = tc.ImageClassifier("knn").fit(Xtr, ytr)
    major = np.bincount(ytr).argmax()
    assert tc.evaluate(clf, (Xte, yte)).baselines["majority"] == pytest.approx(np.mean(yte == major))


def test_evaluate_checks_the_model_path_before_loading_data(tmp_path, monkeypatch):
    import trueclass.run.saved as saved
    import trueclass.run.scoring as scoring  # where a source is read at the model's size

    def slow_load(*a, **k):
        raise AssertionError("the data was loaded before the model path was checked")

    monkeypatch.setattr(scoring, "load", slow_load)
    with pytest.raises(tc.TrueclassError, match="No such model folder"):
        saved.evaluate_run(tmp_path / "nope", "digits")


def test_audit_lists_the_files_it_skipped(make_folder, tmp_path):
    root = make_folder({"bars": 6, "cols": 6})
    (root / "bars" / "broken.png").write_bytes(b"not a png")
    out = subprocess.run([sys.executable, "-m", "trueclass.cli", "audit", str(root), "--out", str(tmp_path / "a"),
                          "--no-label-issues"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Skipped        1 file" in out.stdout and "broken.png" in out.stdout
    data = json.loads((tmp_path / "a" / "audit.json").read_text())
    assert data["n_skipped_files"] == 1 and data["skipped_files"][0]["path"].endswith("broken.png")


def test_no_class_breaks_or_is_weakest_when_every_class_is_perfect():
    from trueclass.evaluation._metrics import weakest_class

    perfect = {c: {"f1": 1.0, "recall": 1.0, "support": 5} for c in "abc"}
    assert weakest_class(perfect) is None
    assert weakest_class({**perfect, "c": {"f1": 0.8, "recall": 0.9, "support": 5}}) == "c"
    X = np.zeros((40, 16, 16))
    y = np.repeat([0, 1], 20)
    X[y == 1, 4:12, 4:12] = 1.0  # a square or nothing: every perturbation but the strongest keeps it
    clf = tc.ImageClassifier("knn", n_neighbors=1).fit(X, y)
    from trueclass.diagnostics import perturbation_curves

    ds = tc.load((np.round(X * 255).astype(np.uint8), y))
    data, _ = perturbation_curves(clf, ds, perturbations={"hflip": [1.0]}, seed=0)
    assert list(data["accuracy"]["hflip"].values()) == [1.0] and "hflip" not in data["breaks_first"]


def test_a_baseline_is_named_as_one_and_a_model_below_it_is_not_fine(tmp_path):
    from trueclass.report._text import format_train_summary

    # C=1e-4 starves the logistic regression: 11 test images read right only by the baseline, none the other way
    run = tc.train("digits", model="logreg", seed=1, out=tmp_path / "run", params={"C": 1e-4})
    m = run.metrics
    assert m["accuracy"] < m["baselines"]["logistic_regression"]["accuracy"]
    assert m["diagnosis"]["verdict"] == "below its baseline"
    text = "\n".join(format_train_summary(m))
    assert "WARNING: this model scores BELOW its baseline. Baseline, not this model: a quick LogisticRegression" in text
    # why, for logreg: the baseline is logreg on pixels scaled to 0-1, the penalty of C = 1/16**2 on the digits
    assert ("The baseline is logistic regression too (C=1), on pixels scaled to 0-1: on these 0-16 pixels that is "
            "the penalty of -p C=0.0039 (params={'C': 0.0039} in Python); try it, or the default model\n") in text
    # Python says it as the command line does: print(run) is what `trueclass train` prints
    assert str(run) == run.summary() and run.summary().startswith(text + "\n")
    assert f"Evidence card  {run.path / 'card.html'}" in run.summary()
    html = (run.path / "card.html").read_text()
    assert 'id="below-baseline"' in html and "Baseline, not this model" in html


def test_a_model_still_improving_at_its_last_epoch_is_not_fine():
    from trueclass.evaluation._diagnosis import training_verdict

    hist = [{"val_loss": v, "val_accuracy": a} for v, a in ((1.0, 0.6), (0.8, 0.7), (0.7, 0.72))]
    v = training_verdict(0.72, (0.7, 0.74), None, hist, best_epoch=3)
    assert v["verdict"] == "still learning" and any("still falling at the last epoch" in r for r in v["reasons"])
    flat = hist[:2] + [{"val_loss": 0.799, "val_accuracy": 0.7}]
    assert training_verdict(0.72, (0.7, 0.74), None, flat, best_epoch=3)["verdict"] == "fine"
    assert training_verdict(0.93, (0.91, 0.95), 0.95, flat, best_epoch=3)["verdict"] == "fine"


def test_repeats_put_the_spread_beside_the_headline(tmp_path):
    run = tc.train("digits", model="knn", repeats=3, out=tmp_path / "run")
    st = run.metrics["stability"]
    assert f"Over 3 seeds   mean {100 * st['mean']:.1f}%" in run.summary()
    assert 'id="headline-spread"' in (run.path / "card.html").read_text()


def test_a_temperature_is_not_fitted_on_too_little_evidence():
    # regression: 20 validation images, all right, gave "divides the logits by 0.08"
    from trueclass.evaluation._calibration import fit_calibration

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    p = np.full((200, 3), 0.1)
    p[np.arange(200), y] = 0.8
    few = fit_calibration(y[:20], p[:20], "20 validation images")
    assert few["temperature"] is None and "too few" in few["reason"] and "(20)" in few["reason"]
    # 100 images all right: the prior on log T keeps the fit off the bound (the likelihood
    # alone runs to 0.05), and it is under-confident raw scores that are sharpened
    all_right = fit_calibration(y[:100], p[:100], "100 validation images")["temperature"]
    assert 0.1 < all_right < 1.0
    wrong = p[:100].copy()
    wrong[:10] = wrong[:10, ::-1]  # 10 mistakes among 100 validation images
    assert fit_calibration(y[:100], wrong, "100 validation images")["temperature"] is not None


def test_pixel_models_choose_their_review_threshold_on_cross_validated_training_images(tmp_path):
    # regression: with no validation part the threshold was 0.5, and the lesson's logreg
    # flagged none of its 10 mistakes
    run = tc.train("digits", model="logreg", seed=1, stratify=False, out=tmp_path / "run")
    f = run.metrics["flagged"]
    assert f["chosen_on"].startswith("5-fold cross-validation on 1,437 training images")
    assert f["threshold"] > 0.5 and f["n"] > 0
    wrong_flagged = sum(r["confidence"] < f["threshold"] for r in run.evaluation.misread)
    assert wrong_flagged >= 3  # some of the 10 mistakes now go to a human
    assert "cross-validation" in run.metrics["calibration"]["temperature"]["fitted_on"]


def test_plot_misread_takes_the_value_range_from_the_data(lesson):
    # regression: the lesson's digits (0-16) were drawn almost black (value_max=255 assumed)
    Xtr, Xte, ytr, yte = lesson
    clf = tc.ImageClassifier("logreg").fit(Xtr, ytr)
    ev = tc.evaluate(clf, (Xte, yte))
    fig = tc.plot_misread(ev, Xte)
    shown = fig.axes[0].get_images()[0].get_array()
    assert shown.max() > 200  # white strokes, not 16 of 255
    ds = tc.load((Xte, yte))
    assert tc.plot_misread(ev, ds).axes[0].get_images()[0].get_array().max() > 200


def test_a_digit_drawn_dark_on_white_goes_to_review(tmp_path):
    # regression: a digit drawn dark on white was read as '1' at 83% and not flagged
    from PIL import Image

    from trueclass.run import predict_files

    run = tc.train("digits", model="logreg", out=tmp_path / "run")
    ds = run.dataset
    i = int(run.split.indices["test"][0])
    light = np.round(ds.images[i, ..., 0].astype(float) * 255 / 16).astype(np.uint8)
    Image.fromarray(light).save(tmp_path / "light.png")
    Image.fromarray(255 - light).save(tmp_path / "dark.png")
    rows, _ = predict_files(run.path, [tmp_path / "light.png", tmp_path / "dark.png"], threshold=0.0)
    by = {r["file"].rsplit("/", 1)[-1]: r for r in rows}
    assert by["light.png"]["unlike_training"] is None and not by["light.png"]["flagged"]
    assert "looks inverted" in by["dark.png"]["unlike_training"] and by["dark.png"]["flagged"]


def test_an_image_of_another_size_before_resizing_goes_to_review(tmp_path):
    from PIL import Image

    from trueclass.run import predict_files

    run = tc.train("digits", model="knn", out=tmp_path / "run")
    digit = np.round(run.dataset.images[0, ..., 0].astype(float) * 255 / 16).astype(np.uint8)
    Image.fromarray(digit).save(tmp_path / "small.png")
    Image.fromarray(digit).resize((256, 256)).save(tmp_path / "big.png")  # 1,024 times the pixels
    rows, _ = predict_files(run.path, [tmp_path / "small.png", tmp_path / "big.png"], threshold=0.0)
    by = {r["file"].rsplit("/", 1)[-1]: r for r in rows}
    assert by["small.png"]["unlike_training"] is None
    assert by["big.png"]["unlike_training"] == "it was 256x256 before resizing; the training images were mostly 8x8 " \
                                               "before resizing"
    assert by["big.png"]["flagged"]


def test_a_model_trained_at_a_smaller_size_does_not_flag_its_own_kind_of_file(make_folder, tmp_path):
    # review: with --image-size 8 on 64x64 files, a 64x64 file was flagged "unlike training",
    # compared with the 8x8 the model reads
    from trueclass.run import predict_files

    root = make_folder({"bars": 10, "cols": 10}, size=64)
    run = tc.train(root, model="knn", image_size=8, audit=False, out=tmp_path / "run")
    one = next((root / "bars").iterdir())
    rows, _ = predict_files(run.path, [one], threshold=0.0)
    assert rows[0]["unlike_training"] is None, rows[0]


def test_the_readme_says_how_to_install_into_a_notebook(tmp_path, monkeypatch):
    # issue 26 item 13: no pip line for a notebook (Colab) was anywhere in the README
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    section = readme[readme.index("### In a notebook (Colab"):]  # near the top, in the set-up
    section = section[: section.index("\n## ")]
    line = re.search(r"^%pip install (\S+)", section, re.M)
    assert line, "a %pip install line for a notebook"
    assert "pip install ." in section  # from a clone, the folder that holds pyproject.toml
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = set(re.findall(r"`\[(\w+)\]`", section))
    assert named and named <= set(extras)  # every extra it names exists
    # its Python snippet runs as written and shows the card inline
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README", "exec"), scope)  # noqa: S102 - our README
    run = scope["run"]
    assert run.metrics["n_wrong"] == lesson_numbers()[1] and run._repr_html_().startswith("<iframe")


def test_tab_completion_shows_the_api_not_the_packages_own_imports():
    import trueclass as tc

    names = dir(tc)
    assert {"train", "load", "ImageClassifier", "evaluate", "TrueclassError"} <= set(names)
    assert not {"annotations", "importlib", "install_notebook_handler"} & set(names)
    # the subpackages too, reachable without importing them first (a message names
    # trueclass.run.predict_files after `import trueclass as tc`: AttributeError)
    assert {"run", "evaluation", "data"} <= set(names)
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import trueclass; print(trueclass.run.predict_files.__name__)"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "predict_files", out.stderr


def test_tc_train_shows_progress_as_the_command_does(monkeypatch, tmp_path, capsys):
    # tc.train ran silent for as long as it took (24 s for the README's own call)
    import trueclass._progress as progress_mod

    made = []

    class Recorder:
        def __init__(self, enabled=True):
            self.stages = []
            made.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def __call__(self, stage, done, total, **info):
            self.stages.append(stage)

    monkeypatch.setattr(progress_mod, "ProgressBar", Recorder)
    tc.train("digits", model="knn", audit=False, out=tmp_path / "a")
    assert len(made) == 1 and "training knn on 1,437 images" in made[0].stages, made[0].stages
    tc.train("digits", model="knn", audit=False, out=tmp_path / "b", progress=False)
    seen = []
    tc.train("digits", model="knn", audit=False, out=tmp_path / "c", on_progress=lambda s, *a, **k: seen.append(s))
    assert len(made) == 1 and seen  # progress=False: none; on_progress given: the caller's own
    import threading  # from another thread (a server's): none, as rich's live display takes the process's output

    worker = threading.Thread(target=tc.train, args=("digits",), kwargs={"model": "knn", "audit": False,
                                                                       "out": tmp_path / "t"})
    worker.start()
    worker.join(120)
    assert (tmp_path / "t" / "metrics.json").is_file() and len(made) == 1
    monkeypatch.undo()
    capsys.readouterr()
    tc.train("digits", model="knn", audit=False, out=tmp_path / "d")  # the real bar, where stderr is no terminal
    assert len(capsys.readouterr().err) < 5  # draws nothing there
