"""A zip of class folders is a source like a folder: read in place (nothing unpacked), the
same skipping of bad files, the decoded cache, and ids that name the members; train,
evaluate and predict take it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import trueclass as tc
from trueclass.cli import cli

from tests.conftest import train_evaluate_predict


def _zip_of(folder: Path, archive: Path, *, top: str | None = "photos", extra: dict[str, bytes] | None = None) -> Path:
    """``folder`` zipped as a user zips it (inside a top folder by default), in an order
    unlike the folder's, with ``extra`` members added."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*"), reverse=True):
            if f.is_file():
                rel = f.relative_to(folder).as_posix()
                zf.write(f, f"{top}/{rel}" if top else rel)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return archive


@pytest.fixture
def zipped(make_folder, tmp_path):
    folder = make_folder({"bars": 10, "cols": 10, "squares": 10}, size=24)
    png = io.BytesIO()
    Image.new("L", (24, 24), 128).save(png, format="PNG")
    extra = {"photos/bars/broken.png": b"not an image", "photos/cols/empty.png": b"",
             "photos/.DS_Store": b"x", "__MACOSX/photos/bars/._bars_000.png": b"x",
             "photos/readme.txt": b"notes"}
    archive = _zip_of(folder, tmp_path / "photos.zip", extra=extra)
    return folder, archive


def test_a_zip_loads_as_its_folder_does_without_unpacking(zipped, tmp_path):
    folder, archive = zipped
    before = sorted(p.name for p in tmp_path.iterdir())
    ds, ref = tc.load(str(archive)), tc.load(str(folder))
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing unpacked beside it
    assert ds.classes == ref.classes and np.array_equal(ds.images, ref.images)
    assert np.array_equal(ds.labels, ref.labels)
    assert [i.split("/", 1)[1] for i in ds.ids] == list(ref.ids)  # the members' names, top folder included
    assert ds.ids[0] == "photos/bars/bars_000.png"
    with zipfile.ZipFile(archive) as zf:  # an id finds its image again in the archive
        first = np.asarray(Image.open(io.BytesIO(zf.read(ds.ids[0]))).convert("L"))
    assert np.array_equal(first, ds.images[0, ..., 0])
    reasons = {Path(s.path).name: s.reason for s in ds.provenance["skipped"]}
    assert reasons["broken.png"] == "not an image (or an unknown format)"
    assert reasons["empty.png"] == "empty file (0 bytes)"
    assert reasons["readme.txt"] == "not inside a class folder"
    assert reasons[".DS_Store"] == "hidden file or folder"
    assert not any("__MACOSX" in s.path for s in ds.provenance["skipped"])  # the zip tool's own folder


def test_a_zip_with_train_and_test_folders_keeps_its_split(make_folder, tmp_path):
    root = tmp_path / "split"
    make_folder({"bars": 8, "cols": 8}, root=root / "train")
    make_folder({"bars": 4, "cols": 4}, root=root / "test", seed=1)
    archive = _zip_of(root, tmp_path / "split.zip", top=None)
    ds = tc.load(str(archive))
    assert sorted(set(ds.predefined_split)) == ["test", "train"]
    assert int(np.sum(ds.predefined_split == "test")) == 8
    assert all(i.startswith(("train/", "test/")) for i in ds.ids)


def test_the_decoded_cache_keys_a_zip_by_its_members(zipped, tmp_path, monkeypatch):
    monkeypatch.setenv("TRUECLASS_CACHE", str(tmp_path / "cache"))
    _, archive = zipped
    first = tc.load(str(archive), cache=True)
    assert "disk_cache" not in first.provenance or "not used" not in str(first.provenance["disk_cache"])
    again = tc.load(str(archive), cache=True)
    assert np.array_equal(first.images, again.images) and list(first.ids) == list(again.ids)
    assert list((tmp_path / "cache" / "decoded").iterdir())  # the set went through the cache
    n_entries = len(list((tmp_path / "cache" / "decoded").iterdir()))
    with zipfile.ZipFile(archive, "a") as zf:  # a changed archive is a different set
        zf.writestr("photos/bars/new.png", _png(200))
    changed = tc.load(str(archive), cache=True)
    assert len(changed) == len(first) + 1
    assert len(list((tmp_path / "cache" / "decoded").iterdir())) == n_entries + 1


def _png(value: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (24, 24), value).save(out, format="PNG")
    return out.getvalue()


def test_train_evaluate_and_predict_take_a_zip(zipped, tmp_path):
    _, archive = zipped
    out, ids, rows = train_evaluate_predict(archive, tmp_path)
    assert ids and all(i.startswith("photos/") for i in ids)
    with zipfile.ZipFile(archive) as zf:
        assert set(ids) <= set(zf.namelist())  # each id is a member
    paths = [row["file"] for row in rows]
    assert f"{archive}/photos/bars/bars_000.png" in paths
    reasons = {row["file"].rsplit("/", 1)[1]: row["skipped"] for row in rows if row["skipped"]}
    assert len(rows) == 30 + len(reasons)  # every member: predicted, or listed with why not
    assert reasons == {"._bars_000.png": "hidden file or folder", ".DS_Store": "hidden file or folder",
                       "readme.txt": "not an image (or an unknown format)", "broken.png": "not an image (or an unknown format)",
                       "empty.png": "empty file (0 bytes)"}
    # the same answers from Python, for the same member
    model = tc.load_model(out)
    ds = tc.load(str(archive))
    i = list(ds.ids).index("photos/bars/bars_000.png")
    row = next(r for r in rows if r["file"].endswith("photos/bars/bars_000.png"))
    assert str(model.predict(ds.images[i:i + 1])[0]) == row["label"]


def test_bad_archives_get_a_sentence(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"this is not a zip")
    with pytest.raises(tc.TrueclassError, match="cannot be read as a zip archive"):
        tc.load(str(fake))
    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as zf:
        zf.writestr("a.png", _png(10))
        zf.writestr("b.png", _png(20))
    with pytest.raises(tc.TrueclassError, match="No class folders in"):
        tc.load(str(flat))
    r = CliRunner().invoke(cli, ["train", str(fake), "--out", str(tmp_path / "run")])
    assert r.exit_code == 1 and "cannot be read as a zip archive" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "run").exists()


def test_a_folder_with_a_subfolder_in_a_class_and_its_zip_give_one_order_hash_and_split(make_folder, tmp_path):
    # regression: the folder listed cat/IMG_* before cat/2023 trip/*, its zip the other way
    # round: another hash, another seeded split of the same images
    root = make_folder({"bars": 6, "cols": 6})
    trip = root / "bars" / "2023 trip"
    trip.mkdir()
    for f in sorted((root / "bars").glob("bars_00[0-2].png")):
        f.rename(trip / f.name)
    folder = tc.load(root)
    zipped = tc.load(_zip_of(root, tmp_path / "photos.zip"))
    assert [i.split("bars/")[-1] for i in folder.ids[:4]] == [i.split("bars/")[-1] for i in zipped.ids[:4]] == [
        "2023 trip/bars_000.png", "2023 trip/bars_001.png", "2023 trip/bars_002.png", "bars_003.png"]
    assert folder.hash == zipped.hash
    a, b = tc.split(folder, seed=3), tc.split(zipped, seed=3)
    np.testing.assert_array_equal(a.indices["test"], b.indices["test"])
