"""Where the model looked: saliency maps (Captum), the shortcut check with a planted
shortcut, and `trueclass explain`."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import trueclass as tc
from trueclass import TrueclassError
from trueclass.diagnostics import explain, saliency, shortcut_check
from trueclass.cli import cli


def padded_digits(plant: bool):
    """The digits centred on a 16x16 background (a 4-pixel margin, so the object is in
    the centre), split; with ``plant``, every *training* image of "3" carries a bright
    2x2 marker in its top-left corner, which no test image has."""
    ds = tc.load("digits")
    pad = np.zeros((len(ds), 16, 16, 1), np.uint8)
    pad[:, 4:12, 4:12] = ds.images
    ds = tc.load((pad, [ds.classes[i] for i in ds.labels]), value_max=16)
    parts = tc.split(ds, seed=0)
    imgs = parts.train.images.copy()
    if plant:
        imgs[parts.train.labels == parts.train.classes.index("3"), 0:2, 0:2, :] = 16
    train = tc.load((imgs, [parts.train.classes[i] for i in parts.train.labels]), value_max=16)
    return train, parts.test


@pytest.fixture(scope="module")
def planted():
    train, test = padded_digits(plant=True)
    return tc.ImageClassifier("logreg").fit(train), train, test


def test_the_shortcut_check_points_at_a_planted_marker(planted):
    clf, train, test = planted
    r = shortcut_check(clf, train, test)
    assert r["method"] == "occlusion" and r["flagged"] == ["3"] and r["judged_on"] == "training images"
    three = r["parts"]["training"]["per_class"]["3"]
    others = [v for c, v in r["parts"]["training"]["per_class"].items() if c != "3"]
    assert three["border_share"] > 0.3 and max(v["border_share"] for v in others) < 0.05
    # covering the border takes the marker away: the "3"s are no longer read, the others are
    assert three["accuracy"] == 1.0 and three["accuracy_border_covered"] < 0.5
    assert min(v["accuracy_border_covered"] for v in others) >= 0.9
    # and the test images, which never had the marker: the model reads almost no "3"
    assert r["parts"]["test"]["per_class"]["3"]["accuracy"] < 0.5
    assert r["covered"]["centre covered"]["accuracy"] < 0.2 < r["covered"]["as is"]["accuracy"]


def test_the_shortcut_check_flags_nothing_without_a_shortcut():
    train, test = padded_digits(plant=False)
    clf = tc.ImageClassifier("logreg").fit(train)
    r = shortcut_check(clf, train, test)
    assert r["flagged"] == []
    assert all(v["border_share"] < 0.05 for v in r["parts"]["training"]["per_class"].values())


def test_occlusion_finds_the_patch_that_decides():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, (240, 12, 12, 1)).astype(np.uint8)
    y = np.arange(240) % 2
    x[y == 1, 2:5, 7:10] = 250  # class 1 is a bright patch up right; class 0 is noise
    clf = tc.ImageClassifier("logreg").fit(x, y)
    maps, method = saliency(clf, x[y == 1][:10], np.ones(10, int))
    assert method == "occlusion" and maps.shape == (10, 12, 12) and (maps >= 0).all()
    for m in maps:
        r, c = np.unravel_index(np.argmax(m), m.shape)
        assert 1 <= r <= 5 and 6 <= c <= 10, (r, c)


def test_gradcam_for_networks_and_overlays():
    parts = tc.split(tc.load("digits"), seed=0)
    clf = tc.ImageClassifier("cnn", width=8, epochs=2, random_state=0).fit(parts.train)
    rows = explain(clf, parts.test.subset(range(4)))
    assert len(rows) == 4 and {r["method"] for r in rows} == {"gradcam"}
    for r in rows:
        assert r["map"].shape == (8, 8) and np.isfinite(r["map"]).all() and (r["map"] >= 0).all()
        assert r["overlay"].shape == (8, 8, 3) and r["overlay"].dtype == np.uint8
        assert r["predicted"] in parts.test.classes and 0 < r["confidence"] <= 1
    occ = explain(clf, parts.test.images[:2], method="occlusion")  # arrays in the model's units
    assert {r["method"] for r in occ} == {"occlusion"}
    assert [r["predicted"] for r in occ] == [r["predicted"] for r in rows[:2]]


def test_gradcam_after_a_prediction_in_the_users_inference_mode(tmp_path):
    """A loaded network whose first prediction ran inside torch.inference_mode() (a user's
    own loop) still explains: its device copy (on a GPU, every model's; on a CPU, a loaded
    one's channels_last layout) is made outside inference mode."""
    import torch

    parts = tc.split(tc.load("digits"), seed=0)
    tc.ImageClassifier("cnn", width=8, epochs=1, random_state=0).fit(parts.train).save(tmp_path / "m")
    clf = tc.load_model(tmp_path / "m")
    with torch.inference_mode():
        clf.predict_proba(parts.test.subset(range(4)))
        loaded_there = tc.load_model(tmp_path / "m")  # its weights made inside it, too
    for model in (clf, loaded_there):
        rows = explain(model, parts.test.subset(range(2)))
        assert {r["method"] for r in rows} == {"gradcam"} and all(np.isfinite(r["map"]).all() for r in rows)


def test_bad_requests_are_sentences(planted, tmp_path):
    clf, train, _ = planted
    with pytest.raises(TrueclassError, match="one of auto, occlusion, gradcam"):
        explain(clf, train.images[:1], method="lime")
    with pytest.raises(TrueclassError, match="Grad-CAM needs a network"):
        explain(clf, train.images[:1], method="gradcam")
    with pytest.raises(TrueclassError, match=r"array \(N, H, W\)"):
        explain(clf, np.zeros(5))
    missing = tmp_path / "nope.png"
    with pytest.raises(TrueclassError, match="could not be read"):
        explain(clf, [str(missing)])


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("why") / "run"
    return tc.train("digits", model="logreg", out=out, seed=0)


def test_a_run_explains_its_most_confident_mistakes(digits_run):
    section = digits_run.metrics["explanations"]
    assert section["method"] == "occlusion" and section["n_wrong"] == digits_run.evaluation.n_wrong
    assert 1 <= len(section["images"]) <= 12
    confs = [r["confidence"] for r in section["images"]]
    assert confs == sorted(confs, reverse=True)
    for r in section["images"]:
        f = digits_run.path / r["file"]
        assert f.is_file() and r["true"] != r["predicted"]
        assert Image.open(f).size == (128 + 8 + 128, 128)  # the image | its overlay, 8x8 scaled up 16 times
    html = (digits_run.path / "card.html").read_text()
    assert 'id="explained-gallery"' in html and html.count('class="explain"') == len(section["images"])


def test_cli_explain(digits_run, tmp_path):
    res = CliRunner().invoke(cli, ["explain", str(digits_run.path)])
    assert res.exit_code == 0, res.output
    assert "most confident mistakes" in res.output and "read as" in res.output
    img = tmp_path / "one.png"
    Image.fromarray((digits_run.dataset.images[0, :, :, 0] * 15).astype(np.uint8)).save(img)
    out = tmp_path / "pics"
    res = CliRunner().invoke(cli, ["explain", str(digits_run.path), str(img), "--out", str(out),
                                   "--method", "occlusion"])
    assert res.exit_code == 0, res.output
    assert "read as" in res.output and len(list(out.glob("*.png"))) == 1
    for args, message in [([str(tmp_path / "missing.png")], "No such file"),
                          ([str(img), "--method", "gradcam"], "Grad-CAM needs a network"),
                          ([], None)]:
        target = str(tmp_path) if message is None else str(digits_run.path)
        res = CliRunner().invoke(cli, ["explain", target, *args])
        assert res.exit_code == 1 and "Traceback" not in res.output
        assert (message or "is not a run folder") in res.output
