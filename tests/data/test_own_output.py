"""A folder source never reads what trueclass wrote as data: run folders, a runs/ folder of
them, model folders, stress results and its own cache are skipped and listed with the
reason, and the source is left untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import trueclass as tc
from trueclass.data._images import trueclass_folder


def listing(root: Path) -> list[tuple[str, int]]:
    return sorted((p.relative_to(root).as_posix(), p.stat().st_size) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def a_run(tmp_path_factory):
    """A finished run folder, with its PNGs (errors/, the confusion matrix)."""
    out = tmp_path_factory.mktemp("made") / "run"
    tc.train("digits", model="knn", audit=False, out=out)
    assert any(out.rglob("*.png"))
    return out


def skipped_reasons(ds) -> dict[str, str]:
    return {Path(s.path.rstrip("/")).name: s.reason for s in ds.skipped}


def test_run_folders_inside_the_source_are_skipped_and_listed(make_folder, a_run, tmp_path):
    root = make_folder({"bars": 6, "cols": 6})
    shutil.copytree(a_run, root / "runs" / "images-logreg")  # `trueclass train .` from inside the source
    shutil.copytree(a_run, root / "runs" / "images-logreg-2")
    shutil.copytree(a_run, root / "old-run")  # a run folder on its own
    shutil.copytree(a_run / "model", root / "bars" / "model")  # a model folder inside a class folder
    stress = root / "cols" / "stress-out"
    (stress / "stress").mkdir(parents=True)
    (stress / "stress.json").write_text("{}")
    shutil.copy(next(a_run.rglob("*.png")), stress / "stress" / "000_noise_bars_as_cols.png")
    before = listing(root)

    ds = tc.load(root)
    assert ds.classes == ("bars", "cols")  # no class 'runs' or 'old-run'
    assert len(ds) == 12 and not any("runs/" in i or "old-run" in i or "stress" in i for i in ds.ids)
    reasons = skipped_reasons(ds)
    assert reasons["runs"].startswith("a folder of trueclass runs: trueclass's own files, never read as images")
    assert reasons["old-run"].startswith("a trueclass run folder")
    assert reasons["model"].startswith("a trueclass model folder")
    assert reasons["stress-out"].startswith("a trueclass stress test's results")
    assert listing(root) == before  # the source is untouched


def test_a_split_source_with_a_runs_folder_keeps_its_split(make_folder, a_run, tmp_path):
    root = tmp_path / "split"
    make_folder({"bars": 6, "cols": 6}, root=root / "train")
    make_folder({"bars": 3, "cols": 3}, root=root / "test", seed=1)
    shutil.copytree(a_run, root / "runs" / "split-logreg")
    ds = tc.load(root)
    assert ds.classes == ("bars", "cols") and ds.predefined_split is not None
    assert sorted(set(ds.predefined_split)) == ["test", "train"]
    assert "runs" in skipped_reasons(ds)


def test_the_cache_inside_the_source_is_skipped(make_folder, tmp_path, monkeypatch):
    root = make_folder({"bars": 6, "cols": 6})
    cache = root / "cache"
    monkeypatch.setenv("TRUECLASS_CACHE", str(cache))
    first = tc.load(root, cache=True)  # decodes into root/cache/decoded/...
    assert str(cache) in first.provenance["disk_cache"]
    second = tc.load(root, cache=True)
    assert second.classes == ("bars", "cols") and len(second) == 12
    assert skipped_reasons(second)["cache"].startswith("trueclass's cache")


def test_a_source_that_is_a_run_folder_or_holds_only_runs_is_a_sentence(a_run, tmp_path):
    with pytest.raises(tc.TrueclassError, match=r"is a trueclass run folder, not a folder of images; give a folder "
                                                r"of class subfolders \(the images to train on, or to test a model "
                                                r"on\)\.$"):  # not "the model should learn from": evaluate's too
        tc.load(a_run)
    runs = tmp_path / "only-runs"
    shutil.copytree(a_run, runs / "runs" / "a")
    with pytest.raises(tc.TrueclassError, match=r"No class subfolders in .* \(it holds only trueclass's own "
                                                r"folders: runs/\)"):
        tc.load(runs)


def test_a_class_folder_with_images_and_a_run_inside_keeps_its_images(make_folder, a_run):
    root = make_folder({"bars": 6, "cols": 6})
    sub = root / "bars" / "2024"
    sub.mkdir()
    for f in sorted((root / "bars").glob("*.png"))[:2]:
        f.rename(sub / f.name)
    shutil.copytree(a_run, root / "bars" / "run")
    assert trueclass_folder(root / "bars") is None  # images (in 2024/) beside the run: a class folder
    ds = tc.load(root)
    assert ds.counts() == {"bars": 6, "cols": 6}
    assert skipped_reasons(ds)["run"].startswith("a trueclass run folder")


def test_ordinary_folders_are_not_taken_for_trueclass_ones(make_folder, tmp_path):
    root = make_folder({"bars": 2})
    (root / "bars" / "config.json").write_text("{}")  # a config.json alone is no run
    (root / "bars" / "model.json").write_text("{}")  # nor a model.json without weights
    assert trueclass_folder(root / "bars") is None
    assert trueclass_folder(root) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert trueclass_folder(empty) is None
    make_folder({"cols": 2}, root=root)
    ds = tc.load(root)
    assert ds.counts() == {"bars": 2, "cols": 2}
    assert {Path(s.path).name for s in ds.skipped} == {"config.json", "model.json"}  # as files, not as a run
