"""One copy rule for the audit, the fingerprints, train and evaluate: planted copies of each
kind are found, look-alikes are not, featureless images do not chain, and grey pictures
saved as RGB are grey."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import trueclass as tc
from trueclass.checks import audit, find_duplicates
from trueclass.models._fingerprints import Fingerprints

from tests.conftest import need_fashion_mnist

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


@pytest.fixture(scope="module")
def garments():
    """2,000 Fashion-MNIST training images: garments of one cut look alike, the hard case."""
    need_fashion_mnist()
    fm = tc.load("fashion-mnist")
    train = np.flatnonzero(fm.predefined_split == "train")
    pick = np.random.default_rng(5).permutation(train)[:2000]
    return fm.images[pick], np.asarray(fm.classes)[fm.labels[pick]]


def test_each_kind_of_planted_copy_is_found_and_look_alikes_are_not(garments):
    from near_copies import SMALL_KINDS, plant

    images, _ = garments
    kinds = {k: SMALL_KINDS[k] for k in ("exact", "brightened", "JPEG (quality 70)", "shifted 1 px", "shifted 2 px")}
    X, src, planted_kinds = plant(images, 8, seed=2, kinds=kinds)
    n0 = len(images)
    ds = tc.load((X, (np.arange(len(X)) % 2).astype(str)), value_max=255)
    found = {(p["i"], p["j"]): p for p in find_duplicates(ds).pairs}
    for k in kinds:
        js = [j for j, kk in enumerate(planted_kinds) if kk == k]
        got = sum((int(src[j]), n0 + j) in found for j in js)
        assert got >= (7 if k == "shifted 2 px" else 8), (k, got)  # a 2-px move can push a garment out of frame
    assert any("shifted by up to 2 px" in p["how"] for p in found.values())
    planted = {(int(src[j]), n0 + j) for j in range(len(planted_kinds))}
    others = [p for p in found if p not in planted]
    assert len(others) <= 4, others  # among 2,000 garments (the set's own near copies included)
    # the fingerprints a model keeps find the same copies of its training images
    prints = Fingerprints.of(X[:n0])
    hit = prints.copies(X[n0:])
    from_audit = np.array([(int(src[j]), n0 + j) in found for j in range(len(planted_kinds))])
    assert (hit == from_audit).all()


def test_featureless_images_do_not_chain_into_a_group():
    rng = np.random.default_rng(0)
    yy = np.linspace(0, 1, 48)[None, :, None]
    skies = [np.clip(150 + 60 * (yy + rng.uniform(-0.2, 0.2)) + rng.normal(0, 0.6, (1, 48, 48)), 0, 255)
             for _ in range(30)]  # smooth gradients of sky: every pair correlates like copies
    skies = np.concatenate(skies).astype(np.uint8)[..., None].repeat(48, axis=2)[:, :, :48]
    from conftest import textured

    shapes = np.stack([textured(i % 3, rng, size=48) for i in range(30)])[..., None]
    images = np.concatenate([skies, shapes])
    exact = images[:1].copy()
    ds = tc.load((np.concatenate([images, exact]), np.array(["sky"] * 30 + ["shape"] * 30 + ["sky"])), value_max=255)
    dups = find_duplicates(ds)
    groups = dups.members()
    assert [sorted(g.tolist()) for g in groups] == [[0, 60]]  # the exact copy only, no chain of skies


def test_grey_pictures_saved_as_rgb_are_grey(make_folder, tmp_path):
    root = make_folder({"bars": 20, "cols": 20})
    files = sorted(root.rglob("*.png"))
    for f in files[:12]:  # saved again as RGB: the same grey picture
        Image.open(f).convert("RGB").save(f)
    for f in files[12:14]:  # two with real colour
        a = np.asarray(Image.open(f).convert("RGB")).copy()
        a[..., 0] = 255 - a[..., 0]
        Image.fromarray(a).save(f)
    ds = tc.load(root)
    assert ds.images.shape[-1] == 1  # most files are grey
    odd = [o for o in audit(ds, label_issues=False).to_dict()["outliers"]
           if any("colour among" in r for r in o["reasons"])]
    assert sorted(o["id"] for o in odd) == sorted(str(f.relative_to(root)).replace("\\", "/") for f in files[12:14])


def test_a_model_evaluated_on_its_own_source_leaves_out_only_what_it_saw(garments, tmp_path):
    from near_copies import move
    from trueclass.run import evaluate_run

    images, labels = garments
    images, labels = images[:600], labels[:600]
    rng = np.random.default_rng(3)
    copies = np.stack([move(images[i], rng) for i in range(5)])  # moved by a pixel: copies of 5 images
    source = tmp_path / "set.npz"
    np.savez(source, X=np.concatenate([images, copies])[..., 0], y=np.concatenate([labels, labels[:5]]))
    run = tc.train(source, model="knn", out=tmp_path / "run")  # any model: the copy rule is the point
    seen = set(run.split.indices["train"].tolist()) | set(run.split.indices.get("val", np.zeros(0, int)).tolist())
    test = run.split.indices["test"]
    parts = run.split.assignment
    assert all(parts[i] == parts[600 + i] for i in range(5))  # each moved copy sits on its original's side
    leaked = {lk["test_index"] for lk in run.metrics["audit"]["leaks"]}
    ev = evaluate_run(run.path, source, out=tmp_path / "ev")
    scored = set(ev.evaluation.ids)
    ids = np.asarray(run.dataset.ids)
    assert scored == {str(ids[i]) for i in test if int(i) not in leaked}  # every distinct test image, no other
    assert ev.metrics["n_left_out_as_seen"] == len(seen) + len(leaked)
    assert ev.metrics["n_test"] == run.metrics["n_test"]


def test_the_shift_search_of_a_large_set_finds_what_the_exact_search_finds(garments, monkeypatch):
    """Past SHIFT_EXACT_MAX images the shift search asks faiss's index (the scale extra) for
    neighbours; forced here on 2,000 images, it must find the exact search's copies."""
    pytest.importorskip("faiss")
    from near_copies import SMALL_KINDS, plant
    from trueclass.data import _copyrule, copy_views, phash_bits

    images, _ = garments
    X, src, kinds = plant(images, 6, seed=4, kinds={k: SMALL_KINDS[k] for k in ("shifted 1 px", "shifted 2 px")})
    views, bits = copy_views(X), phash_bits(X)
    exact = {p[:2] for p in _copyrule.near_pairs(views, bits)}
    monkeypatch.setattr(_copyrule, "SHIFT_EXACT_MAX", 100)
    indexed = {p[:2] for p in _copyrule.near_pairs(views, bits)}
    planted = {(int(src[j]), len(images) + j) for j in range(len(kinds))}
    assert len(exact & planted) >= 10 and (exact & planted) <= indexed


def test_the_batched_perceptual_hash_is_imagehash_phash_bit_for_bit():
    import imagehash
    from PIL import Image

    from trueclass.data import phash_bits

    rng = np.random.default_rng(0)
    ds = tc.load("digits")
    grey = np.round(np.asarray(ds.images[:300], dtype=np.float64) * 255 / 16).astype(np.uint8)
    colour = rng.integers(0, 256, (40, 37, 53, 3), dtype=np.uint8)
    smooth = np.repeat(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None, None], 5, axis=0).repeat(64, axis=2)
    for images in (grey, colour, smooth):
        ref = np.array([imagehash.phash(Image.fromarray(i[..., 0] if i.shape[-1] == 1 else i)).hash.ravel()
                        for i in images])
        assert np.array_equal(phash_bits(images), ref)
