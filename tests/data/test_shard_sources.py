"""Hugging Face style Parquet files and WebDataset tar shards are sources like a folder:
read in place, bad rows and samples skipped with their reasons, splits kept from the
shards' names, the decoded cache, and ids that name the shard and the row or member;
train, evaluate and predict take them."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import trueclass as tc
from trueclass.cli import cli

from tests.conftest import train_evaluate_predict

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

#: Deliberately not sorted: the file's ClassLabel order is the set's class order.
NAMES = ["squares", "bars", "cols"]


def _rows(folder: Path) -> list[tuple[str, bytes, str]]:
    """(relative path, bytes, class) of each image of a class folder, in a mixed order."""
    files = sorted(folder.rglob("*.png"))
    files = files[::2] + files[1::2]
    return [(f.relative_to(folder).as_posix(), f.read_bytes(), f.parent.name) for f in files]


def _parquet(path: Path, rows: list[tuple[str | None, bytes | None, object]], *, names=NAMES, group: int = 7) -> Path:
    """A Parquet file as Hugging Face datasets writes an imagefolder: an ``image`` struct of
    bytes and path, a ``label`` ClassLabel whose names lie in the schema's metadata."""
    image = pa.array([None if b is None and p is None else {"bytes": b, "path": p} for p, b, _ in rows],
                     type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    labels = [names.index(c) if isinstance(c, str) and c in names else c for _, _, c in rows]
    features = {"image": {"_type": "Image"}, "label": {"names": names, "_type": "ClassLabel"}}
    table = pa.table({"image": image, "label": pa.array(labels, type=pa.int64())})
    table = table.replace_schema_metadata({b"huggingface": json.dumps({"info": {"features": features}}).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=group)
    return path


def _png(value: int, size: int = 24) -> bytes:
    out = io.BytesIO()
    Image.new("L", (size, size), value).save(out, format="PNG")
    return out.getvalue()


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _webdataset(rows: list[tuple[str, bytes, str]], *, as_json=()) -> dict[str, bytes]:
    """WebDataset samples: KEY.png beside KEY.cls (or KEY.json for the classes in as_json)."""
    out: dict[str, bytes] = {}
    for i, (_, data, cls) in enumerate(rows):
        key = f"sample{i:04d}"
        out[f"{key}.png"] = data
        if cls in as_json:
            out[f"{key}.json"] = json.dumps({"label": cls, "source": "camera 2"}).encode()
        else:
            out[f"{key}.cls"] = cls.encode()
    return out


@pytest.fixture
def folder(make_folder):
    return make_folder({"bars": 10, "cols": 10, "squares": 10}, size=24)


def _by_path(ds, base: Path) -> dict[str, np.ndarray]:
    return {i: img for i, img in zip(ds.ids, ds.images)}


def test_a_parquet_file_loads_its_rows_with_the_classes_it_declares(folder, tmp_path):
    rows = _rows(folder)
    bad = [("broken.png", b"not an image", "bars"), ("unlabelled.png", _png(9), -1), (None, None, "cols"),
           ("gone.png", None, "bars")]
    shard = _parquet(tmp_path / "set.parquet", rows + bad)
    ds, ref = tc.load(str(shard)), tc.load(str(folder))
    assert list(ds.classes) == NAMES  # the ClassLabel's order, not sorted
    assert len(ds) == len(ref) == 30
    ref_of = {i: (img, ref.classes[y]) for i, img, y in zip(ref.ids, ref.images, ref.labels)}
    for i, img, y in zip(ds.ids, ds.images, ds.labels):
        name, row = i.split("/")
        assert name == "set.parquet"
        rel = rows[int(row)][0]  # the id finds the row again
        assert np.array_equal(img, ref_of[rel][0]) and ds.classes[y] == ref_of[rel][1]
    reasons = {s.path.rsplit("/", 1)[1]: s.reason for s in ds.provenance["skipped"]}
    assert reasons == {"30": "not an image (or an unknown format)", "31": "no label (row 31)",
                       "32": "the row holds no image",
                       "33": "the row holds no image bytes and names gone.png, which is not found"}


def test_a_folder_of_parquet_shards_keeps_its_splits(folder, tmp_path):
    rows = _rows(folder)
    root = tmp_path / "hub"
    _parquet(root / "data" / "train-00000-of-00002.parquet", rows[:12])
    _parquet(root / "data" / "train-00001-of-00002.parquet", rows[12:22])
    _parquet(root / "data" / "test-00000-of-00001.parquet", rows[22:])
    (root / "README.md").write_text("a dataset card")
    ds = tc.load(str(root))
    assert len(ds) == 30 and list(ds.classes) == NAMES
    assert int(np.sum(ds.predefined_split == "test")) == 8
    assert {i.rsplit("/", 1)[0] for i, p in zip(ds.ids, ds.predefined_split) if p == "test"} == \
        {"data/test-00000-of-00001.parquet"}
    # a row read through its id is the image the set holds
    from trueclass.data import read_bytes

    i = 5
    img = np.asarray(Image.open(io.BytesIO(read_bytes(root / ds.ids[i]))).convert("L"))
    assert np.array_equal(img, ds.images[i, ..., 0])


def test_webdataset_shards_load_as_their_folder_does(folder, tmp_path):
    rows = _rows(folder)
    root = tmp_path / "wds"
    members = _webdataset(rows, as_json=("cols",))
    names = list(members)
    _tar(root / "shard-000000.tar", {n: members[n] for n in names[:30]})
    _tar(root / "shard-000001.tar", {**{n: members[n] for n in names[30:]},
                                     "lonely.png": _png(3), "orphan.cls": b"bars", ".hidden.png": _png(4)})
    before = sorted(p.name for p in root.iterdir())
    ds, ref = tc.load(str(root)), tc.load(str(folder))
    assert sorted(p.name for p in root.iterdir()) == before  # nothing unpacked
    assert list(ds.classes) == sorted(NAMES) and len(ds) == 30
    ref_of = {i: (img, ref.classes[y]) for i, img, y in zip(ref.ids, ref.images, ref.labels)}
    for i, img, y in zip(ds.ids, ds.images, ds.labels):
        shard, member = i.split("/")
        rel = rows[int(member[6:10])][0]
        assert shard.startswith("shard-") and np.array_equal(img, ref_of[rel][0]) and ds.classes[y] == ref_of[rel][1]
    reasons = {s.path.rsplit("/", 1)[1]: s.reason for s in ds.provenance["skipped"]}
    assert reasons == {"lonely.png": "no label beside it (KEY.cls, or KEY.json with a label)",
                       "orphan": "a sample with no image file", ".hidden.png": "hidden file or folder"}
    one = tc.load(str(root / "shard-000000.tar"))  # a single shard is a source too
    assert len(one) == 15 and np.array_equal(one.images, ds.images[:15])


def test_a_tar_of_class_folders_loads_as_the_folder(folder, tmp_path):
    archive = tmp_path / "photos.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(folder, arcname="photos")
    ds, ref = tc.load(str(archive)), tc.load(str(folder))
    assert ds.classes == ref.classes and np.array_equal(ds.images, ref.images)
    assert [i.split("/", 1)[1] for i in ds.ids] == list(ref.ids)


def test_the_decoded_cache_keys_a_parquet_file_by_its_rows(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("TRUECLASS_CACHE", str(tmp_path / "cache"))
    rows = _rows(folder)
    shard = _parquet(tmp_path / "set.parquet", rows)
    first = tc.load(str(shard), cache=True)
    again = tc.load(str(shard), cache=True)
    assert np.array_equal(first.images, again.images) and list(first.ids) == list(again.ids)
    n_entries = len(list((tmp_path / "cache" / "decoded").iterdir()))
    assert n_entries >= 1
    _parquet(shard, rows[:-1] + [(rows[-1][0], _png(77), rows[-1][2])])  # one row's image changed
    changed = tc.load(str(shard), cache=True)
    assert len(list((tmp_path / "cache" / "decoded").iterdir())) == n_entries + 1
    assert not np.array_equal(changed.images[-1], first.images[-1]) and np.array_equal(changed.images[:-1],
                                                                                       first.images[:-1])


@pytest.mark.parametrize("kind", ["parquet", "webdataset"])
def test_train_evaluate_and_predict_take_shards(folder, tmp_path, kind):
    rows = _rows(folder)
    if kind == "parquet":
        source = _parquet(tmp_path / "set.parquet", rows)
    else:
        source = _tar(tmp_path / "set.tar", _webdataset(rows))
    out, ids, predicted = train_evaluate_predict(source, tmp_path)
    assert ids and all(i.startswith("set.") for i in ids)
    got = {row["file"]: row for row in predicted}
    assert len(got) == 30 and not any(row["skipped"] for row in got.values())  # the labels are no images
    # the same answer from Python for the same image
    model = tc.load_model(out)
    ds = tc.load(str(source))
    first = f"{source}/{ds.ids[0].split('/', 1)[1]}"
    assert str(model.predict(ds.images[:1])[0]) == got[first]["label"]


def test_bad_shards_get_a_sentence_and_leave_nothing(folder, tmp_path, monkeypatch):
    fake = tmp_path / "fake.parquet"
    fake.write_bytes(b"this is not parquet")
    with pytest.raises(tc.TrueclassError, match="cannot be read as a Parquet file"):
        tc.load(str(fake))
    no_images = tmp_path / "table.parquet"
    pq.write_table(pa.table({"pixels": [1, 2], "label": [0, 1]}), no_images)
    with pytest.raises(tc.TrueclassError, match="has no image column.*pixels, label"):
        tc.load(str(no_images))
    no_labels = tmp_path / "nolabel.parquet"
    pq.write_table(pa.table({"image": pa.array([_png(1), _png(2)], type=pa.binary())}), no_labels)
    with pytest.raises(tc.TrueclassError, match="has no label column"):
        tc.load(str(no_labels))
    gz = tmp_path / "shard.tar.gz"
    with tarfile.open(gz, "w:gz") as tf:
        tf.add(folder, arcname="photos")
    with pytest.raises(tc.TrueclassError, match="compressed tar archive.*unpack it"):
        tc.load(str(gz))
    mixed = tmp_path / "mixed"
    _parquet(mixed / "a.parquet", _rows(folder))
    _tar(mixed / "b.tar", _webdataset(_rows(folder)))
    with pytest.raises(tc.TrueclassError, match="both Parquet files and tar shards"):
        tc.load(str(mixed))
    r = CliRunner().invoke(cli, ["train", str(no_images), "--out", str(tmp_path / "run")])
    assert r.exit_code == 1 and "has no image column" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "run").exists()
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # pyarrow not installed
    with pytest.raises(tc.TrueclassError, match=r"pip install 'trueclass\[parquet\]'"):
        tc.load(str(mixed / "a.parquet"))
