"""The data audit finds each planted problem, the leak gate keeps copies on one side,
and leaked test images never count in the headline numbers."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import trueclass as tc
from trueclass.checks import audit, find_duplicates


def groups_as_sets(report):
    return [set(g["ids"]) for g in report["duplicates"]]


def test_exact_near_and_conflicting_duplicates_are_found(planted):
    root, facts = planted
    ds = tc.load(root)
    rep = audit(ds, label_issues=False).to_dict()
    groups = groups_as_sets(rep)
    for key in ("exact_same_class", "conflict", "near"):
        assert any(facts[key] <= g for g in groups), key
    assert [set(g["ids"]) for g in rep["conflicts"]] == [facts["conflict"]]  # the only one with two labels
    kinds = {frozenset(g["ids"]): g["kinds"] for g in rep["duplicates"]}
    assert kinds[frozenset(facts["near"])] == ["near"] and kinds[frozenset(facts["conflict"])] == ["exact"]
    # distinct pictures of one class are not called duplicates
    assert rep["n_duplicate_groups"] == 3
    assert rep["leaks"] == []  # no split given: nothing can leak


def test_dark_and_blurred_images_are_found(planted):
    root, facts = planted
    rep = audit(tc.load(root), label_issues=False).to_dict()
    reasons = {o["id"]: o["reasons"] for o in rep["outliers"]}
    assert all("very dark" in reasons.get(i, []) for i in facts["dark"])
    assert all("blurry" in reasons.get(i, []) for i in facts["blurred"])
    assert len(reasons) <= len(facts["dark"]) + len(facts["blurred"]) + 2  # few false alarms


def test_a_class_of_plain_pictures_is_not_a_wall_of_odd_images():
    """Skies are low in contrast beside textures (a quarter of the typical contrast), yet
    ordinary for the class 'sky': only a picture unusual for its own class too is flagged."""
    from trueclass.checks import image_outliers

    rng = np.random.default_rng(5)
    ramp = np.linspace(0, 1, 32)[None, :, None]
    sky = [np.clip(150 + 30 * ramp * rng.uniform(0.3, 1.5) + rng.normal(0, rng.uniform(1, 4), (32, 32, 1)),
                   0, 255).astype(np.uint8) for _ in range(20)]
    textures = [np.clip(rng.integers(0, 256, (8, 8, 1)).repeat(4, 0).repeat(4, 1) + rng.normal(0, 5, (32, 32, 1)),
                        0, 255).astype(np.uint8) for _ in range(60)]
    faint = [np.clip(128 + (t.astype(np.float64) - 128) * 0.08, 0, 255).astype(np.uint8) for t in textures[:2]]
    images = np.stack(sky + textures + faint)
    labels = ["sky"] * 20 + ["texture"] * 62
    ds = tc.load((images, labels), value_max=255)
    flagged = {o["index"]: o["reasons"] for o in image_outliers(ds)}
    assert set(flagged) == {80, 81}, flagged  # the two faint textures, no sky
    assert all("low contrast" in r for r in flagged.values())


def test_flipped_labels_are_found_by_cleanlab():
    digits = tc.load("digits")
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(digits), 900, replace=False))
    ds = digits.subset(idx)
    flip = rng.choice(len(ds), 30, replace=False)
    labels = ds.labels.copy()
    labels[flip] = (labels[flip] + rng.integers(1, 10, len(flip))) % 10
    from dataclasses import replace

    noisy = replace(ds, labels=labels, provenance={"source": "digits with 30 flipped labels"})
    rep = audit(noisy).to_dict()
    found = {it["id"] for it in rep["label_issues"]}
    planted_ids = set(noisy.ids[flip])
    assert len(found & planted_ids) >= 0.7 * len(planted_ids)
    assert len(found) <= 3 * len(planted_ids)  # not everything is called an error
    top = rep["label_issues"][0]
    assert top["given"] != top["suggested"] and set(top) >= {"id", "given", "suggested", "score"}
    # the original label is the suggestion for most found flips
    orig = dict(zip(ds.ids, ds.labels))
    right = [it for it in rep["label_issues"] if it["id"] in planted_ids
             and it["suggested"] == ds.classes[orig[it["id"]]]]
    assert len(right) >= 0.6 * len(planted_ids)


def test_imbalance_and_small_test_classes_are_reported(make_folder):
    root = make_folder({"common": 60, "rare": 8})
    ds = tc.load(root)
    parts = tc.split(ds, test_size=0.25)
    rep = audit(ds, parts=parts.assignment, label_issues=False).to_dict()
    b = rep["imbalance"]
    assert b["strong"] and b["smallest"] == "rare" and b["ratio"] == pytest.approx(7.5)
    assert "rare" in b["few_test_images"] and any('class_weight="balanced"' in a for a in b["advice"])


def test_leak_gate_keeps_every_duplicate_group_on_one_side(planted):
    root, facts = planted
    ds = tc.load(root)
    dups = find_duplicates(ds)
    for seed in range(5):
        parts = tc.split(ds, test_size=0.3, seed=seed, groups=dups.groups)
        for g in dups.members():
            assert len(set(parts.assignment[g])) == 1
        assert len(dups.leaked_test(parts.assignment)) == 0
    # without the gate, some seed cuts a group
    cut = [seed for seed in range(5) if len(dups.leaked_test(tc.split(ds, test_size=0.3, seed=seed).assignment))]
    assert cut


def test_gate_changes_nothing_without_duplicates():
    ds = tc.load("digits")  # 8x8: exact duplicates only, and there are none
    plain = tc.split(ds, test_size=0.2, seed=1, stratify=False)
    gated = tc.split(ds, test_size=0.2, seed=1, stratify=False, groups=find_duplicates(ds).groups)
    for part in ("train", "test"):
        assert np.array_equal(plain.indices[part], gated.indices[part])


def test_train_moves_duplicates_and_says_so(planted, tmp_path):
    root, _ = planted
    run = tc.train(root, model="logreg", seed=3, test_size=0.3, out=tmp_path / "run")
    lk = run.metrics["leakage"]
    assert lk["n_leaked_test_images"] == 0 and "group-aware" in lk["gate"]
    assert run.metrics["split"]["group_aware"] is True
    saved = json.loads((tmp_path / "run" / "audit.json").read_text())
    assert saved["n_conflicts"] == 1 and run.metrics["audit"]["n_conflicts"] == 1
    assert 'id="audit"' in (run.path / "card.html").read_text()
    # the saved model re-derives the same, group-aware test part
    from trueclass.run import evaluate_run

    ev = evaluate_run(run.path, root, out=tmp_path / "ev")
    assert sorted(ev.evaluation.ids) == sorted(run.evaluation.ids)


def test_presplit_leaks_are_left_out_of_the_headline(presplit_with_leak, tmp_path):
    root, leaked = presplit_with_leak
    run = tc.train(root, model="logreg", out=tmp_path / "run")
    m = run.metrics
    lk = m["leakage"]
    assert lk["n_leaked_test_images"] == 2
    assert lk["with_leaks"]["n_test"] == 26 and m["n_test"] == 24 == lk["without_leaks"]["n_test"]
    assert not (set(run.evaluation.ids) & leaked)
    assert {r["test_id"] for r in m["audit"]["leaks"]} == leaked
    html = (run.path / "card.html").read_text()
    assert 'id="leak-warning"' in html and f'data-value="{lk["with_leaks"]["accuracy"]}"' in html

    loose = tc.train(root, model="logreg", allow_leakage=True, out=tmp_path / "loose")
    assert loose.metrics["n_test"] == 26 and loose.metrics["allow_leakage"] is True
    assert 'id="allow-leakage"' in (loose.path / "card.html").read_text()
    assert "--allow-leakage" in loose.config["command"]


def test_audit_command_writes_json_and_strict_fails_on_leaks(presplit_with_leak, tmp_path):
    root, leaked = presplit_with_leak
    cmd = [sys.executable, "-m", "trueclass.cli", "audit", str(root), "--out", str(tmp_path / "a")]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "LEAKS          2 test images" in ok.stdout
    data = json.loads((tmp_path / "a" / "audit.json").read_text())
    assert set(data) >= {"leaks", "duplicates", "conflicts", "label_issues", "imbalance", "outliers"}
    assert {lk["test_id"] for lk in data["leaks"]} == leaked
    assert all(set(lk) >= {"test_id", "train_id", "kind", "distance"} for lk in data["leaks"])
    strict = subprocess.run(cmd + ["--strict"], capture_output=True, text=True)
    assert strict.returncode == 2 and "Strict audit failed: 2 leaked test images" in strict.stderr


def test_counts_cover_every_leak_when_the_lists_are_cut(presplit_with_leak, monkeypatch):
    from trueclass.checks import _audit

    root, leaked = presplit_with_leak
    monkeypatch.setattr(_audit, "LIST_LIMIT", 1)
    result = audit(tc.load(root), label_issues=False)
    assert len(result.report["leaks"]) == 1  # audit.json keeps one example...
    assert result.n_leaks == result.report["n_leaks"] == 2  # ...and counts both
    assert "leaks=2" in repr(result)


def test_audit_command_on_a_missing_path(tmp_path):
    out = subprocess.run([sys.executable, "-m", "trueclass.cli", "audit", str(tmp_path / "nowhere")],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "nowhere" in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_audit_refuses_what_is_not_a_dataset():
    with pytest.raises(tc.TrueclassError, match="takes a trueclass Dataset"):
        audit("digits")


def test_a_resized_jpeg_copy_of_a_colour_photo_is_a_near_duplicate(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(5)
    for k, name in enumerate(["red", "blue"]):
        for i in range(10):
            coarse = rng.random((6, 6, 3)) * 255
            coarse[..., k * 2] = 255 * (0.5 + 0.5 * rng.random((6, 6)))
            img = Image.fromarray(coarse.astype(np.uint8)).resize((96, 96), Image.Resampling.BICUBIC)
            (tmp_path / name).mkdir(exist_ok=True)
            img.save(tmp_path / name / f"{i}.png")
    Image.open(tmp_path / "red" / "4.png").resize((80, 80)).save(tmp_path / "red" / "4_small.jpg", quality=80)
    rep = audit(tc.load(tmp_path), label_issues=False).to_dict()
    assert groups_as_sets(rep) == [{"red/4.png", "red/4_small.jpg"}]
    assert rep["duplicates"][0]["kinds"] == ["near"]


def test_repeats_score_the_same_leak_free_test_images(presplit_with_leak, tmp_path):
    root, leaked = presplit_with_leak
    run = tc.train(root, model="logreg", repeats=2, out=tmp_path / "run")
    assert run.metrics["stability"]["n_test"] == [24, 24]  # 26 official test images less the 2 leaked


def test_close_pairs_finds_exactly_the_pairs_a_full_comparison_finds():
    from trueclass.data._hashing import close_pairs

    rng = np.random.default_rng(0)
    base = rng.random((60, 64)) < 0.5
    near = base[rng.integers(0, 60, 600)] ^ (rng.random((600, 64)) < 0.05)  # clusters of near copies
    bits = np.concatenate([near, rng.random((400, 64)) < 0.5, base[:5], base[:5]])  # and exact copies
    got = close_pairs(bits, 6)
    signs = np.where(bits, 1, -1)
    dist = (64 - signs @ signs.T) // 2
    ii, jj = np.nonzero(np.triu(dist <= 6, 1))
    assert len(got) > 500
    assert set(map(tuple, got[:, :2].tolist())) == set(zip(ii.tolist(), jj.tolist()))
    assert (got[:, 2] == dist[got[:, 0], got[:, 1]]).all()
    assert (got[:, 0] < got[:, 1]).all()
    assert len(close_pairs(bits[:1], 6)) == 0
    small_batches = close_pairs(bits, 6, batch_pairs=50)  # candidates made 50 at a time
    assert sorted(map(tuple, small_batches.tolist())) == sorted(map(tuple, got.tolist()))
    odd_width = close_pairs(bits[:, :40], 3)  # a code that is not a whole 64-bit word
    d40 = (40 - signs[:, :40] @ signs[:, :40].T) // 2
    assert len(odd_width) == int(np.triu(d40 <= 3, 1).sum())


def test_the_audit_says_which_label_model_looked_and_what_it_found():
    from trueclass.report._text import format_audit

    digits = tc.load("digits")
    idx = np.concatenate([np.flatnonzero(digits.labels == k)[:40] for k in (0, 1)])
    rep = audit(digits.subset(idx)).to_dict()  # 0s and 1s, 40 of each: nothing mislabelled
    text = format_audit(rep)
    lm = rep["label_model"]
    best = max(lm["tried"].values(), key=lambda t: (t["self_check_f1"], t["accuracy"]))  # the self-check's choice
    assert lm["model"] in lm["tried"] and lm["tried"][lm["model"]] == best
    assert rep["label_self_check"]["planted"] == 50  # 10 (the least) in each of 5 copies: 80 images are few
    assert rep["n_label_issues"] == 0 and f"Label issues   none flagged (checked by {lm['model']}" in text
    assert "Balance        every class has as many images as the others" in text
    from trueclass.checks._labels import LABEL_MODEL_TEXT

    assert LABEL_MODEL_TEXT[lm["model"]] in rep["label_issues_checked_on"]


def test_shifted_cropped_and_rescaled_copies_of_photos_are_found():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from near_copies import KINDS
    from photo_sets import crops

    names = ("astronaut", "cat", "coffee", "rocket")
    images = np.stack([np.asarray(c) for n in names for c in crops(n, 15, size=96, seed=2)])
    labels = [n for n in names for _ in range(15)]
    rng = np.random.default_rng(0)
    planted = []
    for k, (kind, make) in enumerate(KINDS.items()):
        for src in (3 + k, 20 + k, 40 + k):  # three copies of each kind, in three classes
            planted.append((src, len(images) + len(planted), kind))
    extra = np.stack([KINDS[kind](images[src], rng) for src, _, kind in planted])
    ds = tc.load((np.concatenate([images, extra]), labels + [labels[s] for s, _, _ in planted]), value_max=255)
    dups = find_duplicates(ds)
    found = {(p["i"], p["j"]): p for p in dups.pairs}
    for src, copy, kind in planted:
        assert (src, copy) in found, kind
    assert any(found[s, c]["how"] == "shifted, cropped or rescaled copy" for s, c, k in planted if k != "rescaled to 50%")
    # crops of one photo may overlap (a real partial copy); crops of different photos never pair
    assert all(ds.labels[i] == ds.labels[j] for i, j in found)
    rep = audit(ds, label_issues=False).to_dict()
    assert "a grid of windows of each photograph" in rep["near_duplicate_rule"]
    grey = tc.load((images[..., :1], labels), value_max=255)
    assert "looked for only among" in audit(grey, label_issues=False).to_dict()["near_duplicate_rule"]


def test_the_index_search_for_copies_finds_what_the_exact_search_finds(monkeypatch):
    """Large sets find copy candidates through a nearest-neighbour index (faiss past
    EXACT_MAX vectors); forced here on a small set, it must find the exact search's pairs."""
    import sys
    from pathlib import Path

    from trueclass.checks import _copies
    from trueclass.data import _neighbours

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from near_copies import KINDS
    from photo_sets import crops

    images = np.stack([np.asarray(c) for n in ("astronaut", "coffee") for c in crops(n, 30, size=96, seed=5)])
    rng = np.random.default_rng(1)
    plan = [(2, "shifted 10%"), (17, "cropped to 80%"), (40, "rescaled to 50%")]
    extra = np.stack([KINDS[kind](images[src], rng) for src, kind in plan])
    images = np.concatenate([images, extra])
    exact = _copies.window_copies(images)
    monkeypatch.setattr(_copies, "EXACT_IMAGES", 0)
    monkeypatch.setattr(_neighbours, "EXACT_MAX", 0)
    indexed = _copies.window_copies(images)
    pairs = lambda a: {(int(i), int(j)) for i, j, _ in a}  # noqa: E731
    planted = {(src, 60 + n) for n, (src, _) in enumerate(plan)}
    assert len(planted & pairs(exact)) >= 2  # (a crop may be left to the perceptual hash)
    assert planted & pairs(exact) <= pairs(indexed)
    assert len(pairs(indexed) ^ pairs(exact)) <= max(1, len(pairs(exact)) // 10)
    # the neighbour search itself: exact and indexed agree on the nearest rows
    base = rng.standard_normal((5000, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    s1, i1 = _neighbours.nearest(base, base[:50], 5, exact=True)
    s2, i2 = _neighbours.nearest(base, base[:50], 5, exact=False)
    assert (i1[:, 0] == np.arange(50)).all() and (i2[:, 0] == np.arange(50)).all()
    assert np.isclose(s1[:, 0], 1, atol=1e-5).all() and (np.diff(s1, axis=1) <= 1e-6).all()


def test_the_audits_summary_says_where_its_whole_lists_are_and_how_many_it_left_out(make_folder, tmp_path):
    # regression: without --out it pointed to audit.json and label_issues.csv, which were never
    # written, and it listed 5 of 7 skipped files without a word about the other 2
    from click.testing import CliRunner

    from trueclass.cli import cli

    root = make_folder({"bars": 10, "cols": 10})
    for k in range(7):
        (root / "bars" / f"broken_{k}.png").write_bytes(b"not a png")
    res = CliRunner().invoke(cli, ["audit", str(root), "--no-label-issues"])
    assert res.exit_code == 0, res.output
    assert "Skipped        7 files that were not read as images (--out DIR lists them in audit.json):" in res.output
    assert "  ... and 2 more" in res.output and not (root / "audit.json").exists()
    res = CliRunner().invoke(cli, ["audit", str(root), "--no-label-issues", "--out", str(tmp_path / "a")])
    assert "(listed in audit.json):" in res.output and (tmp_path / "a" / "audit.json").is_file()
    assert "(listed in audit.report['skipped_files']):" in tc.audit(tc.load(root), label_issues=False).summary()


def test_a_folder_of_many_sizes_has_no_unusual_size_but_one_odd_image_does(tmp_path):
    # regression: a folder of portrait and landscape photos of many sizes got 58% of its images
    # flagged for their size or aspect ratio, which buried the few odd ones
    from PIL import Image

    from trueclass.checks import image_outliers

    rng = np.random.default_rng(0)

    def folder(name, sizes):
        for cls in ("a", "b"):
            (tmp_path / name / cls).mkdir(parents=True)
            for k, (w, h) in enumerate(sizes):
                Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / name / cls / f"{k}.png")
        return tc.load(tmp_path / name)

    mixed = folder("mixed", [(40, 70), (70, 40), (50, 90), (90, 50), (30, 60), (120, 80)] * 3)
    assert not [o for o in image_outliers(mixed) if {"unusual size", "unusual aspect ratio"} & set(o["reasons"])]
    one = folder("one", [(64, 64)] * 19 + [(200, 60)])
    odd = [o for o in image_outliers(one) if "unusual aspect ratio" in o["reasons"]]
    assert len(odd) == 2 and all(o["id"].endswith("19.png") for o in odd)  # the one wide image of each class
    # a fifth of them icons: still unusual (a share rule would have dropped them)
    icons = folder("icons", [(64, 64)] * 16 + [(8, 8)] * 4)
    small = [o for o in image_outliers(icons) if "unusual size" in o["reasons"]]
    assert len(small) == 8 and all(int(o["id"].rsplit("/", 1)[1].split(".")[0]) >= 16 for o in small)


def test_photos_that_share_only_a_plain_border_are_not_copies_and_a_bordered_copy_is():
    # a walk-through's RGBA crops laid on white, each with a transparent strip along one edge,
    # paired on the border's edge (0.95: a cat's fur with a rocket's sky, a false label conflict);
    # plain margins are now cut before the windows are compared. Here: no pair across classes
    # among bordered crops, and a copy letterboxed beside a white strip is found (it was not)
    import sys
    from pathlib import Path

    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from photo_sets import crops

    names = ("astronaut", "cat", "coffee", "rocket")
    images = np.stack([np.asarray(c) for n in names for c in crops(n, 12, size=96, seed=4)])
    labels = [n for n in names for _ in range(12)]
    bordered = images.copy()
    bordered[:, :, :20] = 255  # every image with a plain white strip down its left side
    framed = np.asarray(Image.fromarray(images[5]).resize((76, 96), Image.Resampling.BILINEAR))
    copy = np.full_like(images[5], 255)
    copy[:, 20:] = framed  # image 5, squeezed right of a white strip: a copy, letterboxed
    ds = tc.load((np.concatenate([bordered, copy[None]]), labels + [labels[5]]), value_max=255)
    pairs = [(p["i"], p["j"]) for p in find_duplicates(ds).pairs]
    assert all(ds.labels[i] == ds.labels[j] for i, j in pairs), [p for p in pairs if ds.labels[p[0]] != ds.labels[p[1]]]
    ds2 = tc.load((np.concatenate([images, copy[None]]), labels + [labels[5]]), value_max=255)
    assert (5, len(images)) in [(p["i"], p["j"]) for p in find_duplicates(ds2).pairs]


def test_a_class_told_apart_by_colour_is_said_once_as_a_shortcut(make_folder, tmp_path):
    # every image of a grey class was listed as an odd image ("grey among mostly colour
    # images"), one by one, and nothing said that colour alone tells the class apart
    from click.testing import CliRunner
    from PIL import Image

    from trueclass.cli import cli

    root = make_folder({"bars": 10, "cols": 10}, color=True, size=24)
    make_folder({"squares": 10}, root=root, size=24, seed=1)  # saved in grey
    Image.open(root / "bars" / "bars_000.png").convert("L").save(root / "bars" / "grey_one.png")
    ds = tc.load(root)
    report = audit(ds, label_issues=False).report
    assert report["colour_by_class"] == [{"class": "squares", "n": 10, "grey": 1.0, "others_grey": 1 / 21}]
    odd = {o["id"]: o["reasons"] for o in report["outliers"]}
    # the class is said once, not image by image
    assert not any("squares" in i and any("among mostly" in r for r in rs) for i, rs in odd.items())
    (one,) = [r for i, r in odd.items() if i.endswith("grey_one.png")]  # a grey image in a colour class still is
    assert "grey among mostly colour images" in one
    text = audit(ds, label_issues=False).summary()
    assert ("COLOUR         every one of the 10 images of 'squares' is grey, against 5% of the other classes' images: "
            "a model can tell 'squares' by colour alone") in text
    res = CliRunner().invoke(cli, ["train", str(root), "--model", "knn", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "colour alone tells 'squares' apart" in res.output
    assert 'class="warn colour-shortcut">Colour: every one of' in (tmp_path / "r" / "card.html").read_text()
    # loaded in grey, no model sees the colour: no finding
    assert audit(tc.load(root, color_mode="L"), label_issues=False).report["colour_by_class"] == []
    # a class whose images are colour like the others' is no finding
    plain = make_folder({"bars": 10, "cols": 10}, color=True, size=24, root=tmp_path / "plain")
    assert audit(tc.load(plain), label_issues=False).report["colour_by_class"] == []
