"""The offline pretrained backbone: its weights without pickle, the variant they belong
to, the embedding cache, and the lite0 probe model."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import trueclass as tc  # noqa: E402
from trueclass.features import _backbone  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from photo_sets import build, crops  # noqa: E402


def _imagenet_probs(arch: str, images) -> torch.Tensor:
    import timm
    from safetensors.torch import load_file

    net = timm.create_model(arch, pretrained=False)
    net.load_state_dict(load_file(str(_backbone.weights_file())))  # the same tensors, by position
    x = torch.tensor(np.stack([np.asarray(i) for i in images]), dtype=torch.float32).permute(0, 3, 1, 2)
    with torch.no_grad():
        return net.eval()((x - 127.5) / 128).softmax(1)


def test_the_weights_are_the_tensorflow_port_and_read_without_pickle():
    cats, cups = crops("cat", 12, size=224, seed=5), crops("coffee", 12, size=224, seed=5)
    cat_ids, cup_ids = list(range(281, 286)), [967, 968, 504]  # ImageNet: cats; espresso, cup, coffee mug
    tf = _imagenet_probs("tf_efficientnet_lite0", cats + cups)
    assert np.isin(tf[:12].argmax(1), cat_ids).mean() >= 0.9 and np.isin(tf[12:].argmax(1), cup_ids).mean() >= 0.8
    # the evidence for the variant: TF's "same" padding gives the right class more probability
    other = _imagenet_probs("efficientnet_lite0", cats + cups)
    right = lambda p: float(p[:12, cat_ids].sum(1).mean() + p[12:, cup_ids].sum(1).mean())  # noqa: E731
    assert _backbone.ARCH == "tf_efficientnet_lite0" and right(tf) > right(other) + 0.05
    assert _backbone.weights_file().suffix == ".safetensors"


def test_a_file_that_is_not_the_known_weights_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TRUECLASS_CACHE", str(tmp_path / "cache"))
    fake = tmp_path / "efficientnet-lite0.pth"
    torch.save({"a": torch.zeros(2)}, fake)
    with pytest.raises(tc.TrueclassError, match="not the file trueclass knows.*reinstall efficientnet-lite0"):
        _backbone.weights_file(fake)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_embeddings_are_computed_once_per_image(tmp_path, monkeypatch):
    monkeypatch.setenv("TRUECLASS_CACHE", str(tmp_path / "cache"))
    images = np.stack([np.asarray(c) for c in crops("rocket", 6, size=64)])
    calls = []
    real = _backbone.Embedder.__call__
    monkeypatch.setattr(_backbone.Embedder, "__call__", lambda self, x, p=None: calls.append(len(x)) or real(self, x, p))
    first = _backbone.embed(np.concatenate([images, images[:2]]))  # a repeat inside one call: embedded once
    again = _backbone.embed(images[::-1])
    assert calls == [6] and first.shape == (8, _backbone.EMBED_DIM)
    np.testing.assert_array_equal(first[:6], again[::-1])  # the cached answer is the fresh one, bit for bit
    np.testing.assert_array_equal(first[6:], first[:2])
    assert list((tmp_path / "cache" / "embeddings").iterdir())  # kept on disk for the next run


def test_lite0_learns_photos_from_few_images_and_saves_no_pickle(tmp_path):
    root = build(tmp_path / "photos", per_class=0, split={"train": 8, "test": 20}, size=96)
    run = tc.train(root, out=tmp_path / "run", audit=False)  # no model named: chosen from the data
    assert run.metrics["n_train"] == 32 and run.evaluation.n_test == 80
    cfg = json.loads((run.path / "config.json").read_text())
    # the model asked for is recorded ("auto"): the choice, made again, decides the split too
    assert cfg["model"] == "auto" and "photographs (96x96" in cfg["resolved"]["model_chosen"]["why"]
    assert run.metrics["model_chosen"]["model"] == "lite0" and "--model auto" in cfg["command"]
    from trueclass.report._text import format_train_summary

    assert any(line.startswith("Model lite0, chosen from the data: photographs") for line in
               format_train_summary(run.metrics))
    assert run.metrics["accuracy"] >= 0.9  # 8 photos a class, from scratch the cnn stays near chance
    files = sorted(p.name for p in (run.path / "model").iterdir())
    assert "weights.skops" in files and not any(f.endswith((".pkl", ".pth", ".pt")) for f in files)
    meta = json.loads((run.path / "model" / "model.json").read_text())
    assert meta["model"] == "lite0" and meta["backbone"]["weights_sha256"] == _backbone.PTH_SHA256
    again = tc.load_model(run.path)
    ds = tc.load(root)
    test = ds.subset(np.flatnonzero(ds.predefined_split == "test"))
    np.testing.assert_allclose(again.predict_proba(test), run.model.predict_proba(test))
    # a probe of other backbone weights would read the wrong features: refused in a sentence
    meta["backbone"]["weights_sha256"] = "0" * 64
    (run.path / "model" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(tc.TrueclassError, match="features of other backbone weights"):
        tc.load_model(run.path)


@pytest.mark.slow
def test_images_of_no_class_get_a_distance_beside_the_confidence(tmp_path, monkeypatch):
    from trueclass.diagnostics import _explain

    monkeypatch.setattr(_explain, "PER_CLASS", 2)  # the stress section's shortcut check is not tested here
    root = build(tmp_path / "photos", per_class=0, split={"train": 15, "test": 10}, size=64)
    run = tc.train(root, model="lite0", out=tmp_path / "run", audit=False, stress=True)
    ood = run.metrics["robustness"]["ood"]
    d = ood["distance"]
    assert d["auroc"] >= 0.9 and "nearest of 60 training images" in d["score"]
    assert all(v["mean_distance"] > d["real_test_mean"] for v in ood["kinds"].values())
    card = (run.path / "card.html").read_text()
    assert 'data-metric="ood_distance_auroc"' in card and "real test images" in card


def test_fine_tuning_starts_from_a_linear_probe_with_pretrained_statistics(tmp_path):
    # regression: a random head and BatchNorm statistics of a few dozen images took the
    # fine-tuned backbone from the probe's 0.85 to 0.18 on 20 digits a class
    root = build(tmp_path / "photos", per_class=0, split={"train": 8, "test": 10}, size=64)
    ds = tc.load(root)
    train = ds.subset(np.flatnonzero(ds.predefined_split == "train"))
    test = ds.subset(np.flatnonzero(ds.predefined_split == "test"))
    clf = tc.ImageClassifier("timm:tf_efficientnet_lite0", pretrained=True, input_size=64, epochs=1, lr=0.0,
                             random_state=0).fit(train)
    record = clf.estimator_.training_record()
    assert record["head_from_probe"]["images"] == 32 and record["recipe"]["freeze_batchnorm"]
    assert clf.score(test) >= 0.9  # with nothing learnt yet, the probe's head already reads the photos
    bn = next(m for m in clf.estimator_.net_.modules() if isinstance(m, torch.nn.BatchNorm2d))
    fresh = _backbone.build_backbone()
    ref = next(m for m in fresh.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert torch.equal(bn.running_mean, ref.running_mean)  # ImageNet's statistics, untouched


def test_embedding_reports_its_progress(tmp_path, monkeypatch):
    # no embedding cached: every image is embedded (the converted backbone's files are
    # copied from the session's cache where a test made them already, to skip the export)
    cache = tmp_path / "cache"
    cache.mkdir()
    for made in Path(os.environ["TRUECLASS_CACHE"]).glob("tf_efficientnet_lite0-*"):
        if made.is_file() and not made.name.endswith(".tmp"):
            shutil.copy(made, cache / made.name)
    monkeypatch.setenv("TRUECLASS_CACHE", str(cache))
    images = np.stack([np.asarray(c) for name in ("cat", "rocket") for c in crops(name, 40, size=48)])
    heard = []
    tc.ImageClassifier("lite0").fit(images, np.repeat(["cat", "rocket"], 40),
                                    on_progress=lambda stage, done, total, **_: heard.append((stage, done, total)))
    # step by step, to the end: the 80 images and their 5 training views (mirrored, 4 crops)
    embedded = [h for h in heard if h[0] == "embedding images"]
    assert embedded[0][1] < 80 and ("embedding images", 480, 480) in embedded


@pytest.mark.parametrize("probe_is_weak", [False, True])
def test_auto_tries_fine_tuning_only_where_the_probe_is_weak_on_validation(tmp_path, monkeypatch, probe_is_weak):
    from trueclass.models import _choice

    if probe_is_weak:  # every probe is "weak" below 101%; a one-epoch recipe keeps the test short
        monkeypatch.setitem(_choice.FINETUNE, "below", 1.01)
        monkeypatch.setitem(_choice.FINETUNE, "params", {"pretrained": True, "input_size": 64, "epochs": 1})
    root = build(tmp_path / "photos", per_class=50, size=64)
    run = tc.train(root, out=tmp_path / "run", audit=False)
    chosen = run.metrics["model_chosen"]
    assert run.metrics["n_val"] >= 20  # set aside for the choice; the test images decide nothing
    val = chosen["validation"]
    cfg = json.loads((run.path / "config.json").read_text())
    assert cfg["model"] == "auto" and cfg["resolved"]["model_chosen"]["model"] == run.metrics["model"] == chosen["model"]
    if not probe_is_weak:
        assert list(val) == ["lite0"] and val["lite0"] >= 0.95 and chosen["model"] == "lite0"
    else:
        assert set(val) == {"lite0", "timm:tf_efficientnet_lite0"}
        best = max(val, key=lambda k: (val[k], k == "lite0"))  # a tie keeps the probe
        assert chosen["model"] == best and "fine-tuning the whole backbone" in chosen["why"]
        meta = json.loads((run.path / "model" / "model.json").read_text())
        assert meta["model"] == best


def test_a_fine_tuning_stopped_by_ctrl_c_resumes_to_the_run_it_would_have_been(tmp_path, monkeypatch):
    # regression: config.json said model "lite0", so the resume (and the card's repeat
    # command) split without the images set aside for the choice and trained the probe alone
    from trueclass.models import _choice

    monkeypatch.setitem(_choice.FINETUNE, "below", 1.01)  # the probe is "weak": fine-tuning is tried
    monkeypatch.setitem(_choice.FINETUNE, "params", {"pretrained": True, "input_size": 48, "epochs": 2})
    root = build(tmp_path / "photos", per_class=50, size=48)
    whole = tc.train(root, out=tmp_path / "whole", audit=False)
    assert set(whole.metrics["model_chosen"]["validation"]) == {"lite0", "timm:tf_efficientnet_lite0"}

    def stop_in_the_second_epoch(stage, done=0, total=0, **info):
        if stage.startswith("epoch 2/2"):
            raise KeyboardInterrupt

    with pytest.raises(tc.TrainingInterrupted, match="epoch 2 of 2"):
        tc.train(root, out=tmp_path / "stopped", audit=False, on_progress=stop_in_the_second_epoch)
    heard = []
    resumed = tc.resume(tmp_path / "stopped", on_progress=lambda stage, *a, **k: heard.append(stage))
    epochs = [s.split(" ")[1] for s in heard if s.startswith("epoch ")]
    assert epochs and set(epochs) == {"2/2"}  # the fine-tuning went on from its checkpoint
    for key in ("model", "n_train", "n_val", "model_chosen", "accuracy"):
        assert resumed.metrics[key] == whole.metrics[key], key
    assert (tmp_path / "stopped" / "split.csv").read_text() == (tmp_path / "whole" / "split.csv").read_text()


def test_train_views_are_mirrored_and_corner_crops_of_every_image():
    from trueclass.features import train_views

    images = np.arange(2 * 20 * 20 * 3, dtype=np.float32).reshape(2, 20, 20, 3)
    with_flips = train_views(images, flips=True)
    assert len(with_flips) == 5
    np.testing.assert_array_equal(with_flips[0], images[:, :, ::-1])
    crops17 = with_flips[1:]
    assert all(v.shape == (2, 17, 17, 3) for v in crops17)  # 85% of the side
    np.testing.assert_array_equal(crops17[0], images[:, :17, :17])
    np.testing.assert_array_equal(crops17[3], images[:, 3:, 3:])
    shifts = train_views(images, flips=False)
    assert len(shifts) == 4 and all(np.array_equal(a, b) for a, b in zip(shifts, crops17))


def _rows_trained_on(clf) -> int:
    return int(clf.estimator_.estimator[0].n_samples_seen_)  # the probe's StandardScaler


def test_the_probe_trains_on_views_of_a_small_set_and_predicts_on_the_images_alone(tmp_path, monkeypatch):
    from trueclass.models import _pretrained

    monkeypatch.setenv("TRUECLASS_CACHE", str(tmp_path / "cache"))
    X = np.stack([np.asarray(c) for name in ("rocket", "coffee") for c in crops(name, 6, size=48)])
    y = np.repeat(["rocket", "coffee"], 6)
    heard = []
    auto = tc.ImageClassifier("lite0", random_state=0).fit(
        X, y, fingerprints=False, held_out=False,
        on_progress=lambda stage, done, total, **_: heard.append((done, total)) if "embedding" in stage else None)
    assert _rows_trained_on(auto) == 12 * 6  # photographs: the images, mirrored, four corner crops
    # one bar for the images and their views: it never restarts, and ends at all 72
    assert heard[-1] == (72, 72) and {t for _, t in heard} == {72}
    assert [d for d, _ in heard] == sorted(d for d, _ in heard)
    none = tc.ImageClassifier("lite0", random_state=0, augment="none").fit(X, y, fingerprints=False, held_out=False)
    assert _rows_trained_on(none) == 12
    assert auto.predict_proba(X).shape == none.predict_proba(X).shape == (12, 2)
    again = tc.ImageClassifier("lite0", random_state=0).fit(X, y, fingerprints=False, held_out=False)
    np.testing.assert_array_equal(again.predict_proba(X), auto.predict_proba(X))  # same seed, same model
    # a drawing on a plain background is never mirrored (a mirrored 2 is not a 2): shifts only
    drawings = np.zeros_like(X)
    drawings[:, 16:32, 20:24] = 255
    drawings[6:, 16:20, 16:32] = 255
    shifts = tc.ImageClassifier("lite0", random_state=0).fit(drawings, y, fingerprints=False, held_out=False)
    assert _rows_trained_on(shifts) == 12 * 5
    # a larger training part is not made six times slower
    monkeypatch.setattr(_pretrained, "VIEWS_MAX_IMAGES", 11)
    big = tc.ImageClassifier("lite0", random_state=0).fit(X, y, fingerprints=False, held_out=False)
    assert _rows_trained_on(big) == 12


def test_an_unknown_augment_for_the_probe_is_one_sentence_before_any_work(tmp_path):
    from click.testing import CliRunner

    from trueclass.cli import cli

    root = build(tmp_path / "photos", per_class=4, size=32)
    with pytest.raises(tc.TrueclassError, match="lite0's augment must be one of auto, flips\\+shifts, shifts, none"):
        tc.ImageClassifier("lite0", augment="mirror").fit(tc.load(root))
    res = CliRunner().invoke(cli, ["train", str(root), "--model", "lite0", "-p", "augment=mirror", "--out",
                                   str(tmp_path / "run")])
    assert res.exit_code == 1 and "lite0's augment must be one of" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "run").exists()


def test_a_run_folder_from_before_auto_was_recorded_as_asked_resumes_as_auto(tmp_path):
    # such a folder says model "lite0" (or the fine-tuned network) with the choice beside it
    from trueclass.run.pipeline import resumed_config

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps({
        "source": "photos", "model": "timm:tf_efficientnet_lite0", "params": {"pretrained": True, "epochs": 10},
        "resolved": {"model_chosen": {"model": "timm:tf_efficientnet_lite0", "by": "from the data"}}}))
    config = resumed_config(tmp_path / "run")
    assert config.model == "auto" and config.params == {}
