"""The disk cache of decoded images: decoded once, read back as a memory map, exact, and
never left half-written; training reads it a batch at a time."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

import trueclass as tc
import trueclass.data._decoding as decoding
from trueclass._errors import TrueclassError
from trueclass.data._cache import DecodedCache
from trueclass.data._rows import ImageRows


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("TRUECLASS_CACHE", str(root))
    return root / "decoded"


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir()) if cache.is_dir() else []


def no_decoding(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(decoding, "decode", refuse)
    monkeypatch.setattr(decoding, "probe", refuse)


def test_a_second_load_reads_the_cache_without_decoding(make_folder, cache, monkeypatch):
    root = make_folder({"bars": 8, "cols": 8, "squares": 8}, color=True)
    (root / "bars" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 20)
    plain = tc.load(root, cache=False)
    assert entries(cache) == []
    first = tc.load(root, cache=True)
    assert [p.name for p in entries(cache)] == [first.provenance["disk_cache"].rsplit("/", 1)[-1]]
    no_decoding(monkeypatch)
    second = tc.load(root, cache=True)
    for ds in (first, second):
        assert isinstance(ds.images, np.memmap) and not ds.images.flags.writeable
        np.testing.assert_array_equal(np.asarray(ds.images), plain.images)
        np.testing.assert_array_equal(ds.labels, plain.labels)
        np.testing.assert_array_equal(ds.ids, plain.ids)
        assert ds.hash == plain.hash
        assert ds.skipped == plain.skipped and "broken.png" in ds.skipped[0].path
        np.testing.assert_array_equal(ds.provenance["image_original_size"], plain.provenance["image_original_size"])
        np.testing.assert_array_equal(ds.provenance["image_files"], plain.provenance["image_files"])


def test_a_changed_file_or_size_is_decoded_again(make_folder, cache):
    root = make_folder({"bars": 5, "cols": 5})
    a = tc.load(root, cache=True)
    target = sorted((root / "bars").iterdir())[0]
    from PIL import Image

    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(target)
    os.utime(target, ns=(1, 1))  # a changed file is a changed file, whatever its clock says
    b = tc.load(root, cache=True)
    assert a.hash != b.hash and len(entries(cache)) == 2
    assert np.asarray(b.images)[0].min() == 255
    c = tc.load(root, cache=True, image_size=8)
    assert c.image_size == (8, 8) and len(entries(cache)) == 3


def test_relabelling_a_manifest_reuses_the_pixels(make_folder, cache, monkeypatch, tmp_path):
    root = make_folder({"bars": 6, "cols": 6})
    rows = [(p.relative_to(root).as_posix(), p.parent.name) for p in sorted(root.rglob("*.png"))]

    def write(labels):
        with open(root / "labels.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "label"])
            w.writerows((p, lab) for (p, _), lab in zip(rows, labels))

    write([r[1] for r in rows])
    first = tc.load(root / "labels.csv", cache=True)
    relabelled = [r[1] for r in rows]
    relabelled[0] = "cols"
    write(relabelled)
    no_decoding(monkeypatch)
    second = tc.load(root / "labels.csv", cache=True)
    np.testing.assert_array_equal(np.asarray(second.images), np.asarray(first.images))
    assert second.labels[0] == second.classes.index("cols") != first.labels[0]
    assert second.hash != first.hash  # the labels are part of the set's hash


def test_a_load_stopped_midway_leaves_no_entry(make_folder, cache, monkeypatch):
    root = make_folder({"bars": 6, "cols": 6})
    monkeypatch.setattr(decoding, "DECODE_CHUNK", 4)
    real = decoding.decode
    calls = []

    def stop_on_second_chunk(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(decoding, "decode", stop_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        tc.load(root, cache=True)
    assert entries(cache) == []  # no half-written entry, no temporary folder
    monkeypatch.setattr(decoding, "decode", real)
    ds = tc.load(root, cache=True)
    np.testing.assert_array_equal(np.asarray(ds.images), tc.load(root, cache=False).images)


def test_auto_caches_large_sets_only(make_folder, cache, monkeypatch):
    root = make_folder({"bars": 4, "cols": 4})
    assert not isinstance(tc.load(root).images, np.memmap)
    monkeypatch.setattr(decoding, "DISK_CACHE_MIN_IMAGES", 8)
    assert isinstance(tc.load(root).images, np.memmap)


def test_bad_cache_option_and_a_full_disk(make_folder, cache, monkeypatch):
    root = make_folder({"bars": 4, "cols": 4})
    with pytest.raises(TrueclassError, match="cache must be 'auto', True or False, not 'yes'"):
        tc.load(root, cache="yes")
    monkeypatch.setattr(DecodedCache, "room_for", lambda self, n: False)
    ds = tc.load(root, cache=True)
    assert not isinstance(ds.images, np.memmap)
    assert "would not fit on the cache's disk" in ds.provenance["disk_cache"]
    assert entries(cache) == []
    monkeypatch.setattr(decoding, "available_memory", lambda: 100)
    with pytest.raises(TrueclassError, match=r"8 images at 16x16 grey need 2 kB as uint8; this machine has 100 bytes "
                                             r"of memory free, and the disk of the cache of decoded images .* has .*; "
                                             r"use fewer images at once, or a machine with more memory"):
        tc.load(root, cache=True)


def test_least_recently_used_entries_go_past_the_limit(make_folder, cache, monkeypatch):
    root = make_folder({"bars": 4, "cols": 4})
    keys = []
    for size in (8, 10, 12):
        keys.append(Path(tc.load(root, cache=True, image_size=size).provenance["disk_cache"]).name)
        os.utime(cache / keys[-1] / "meta.json", (len(keys), len(keys)))  # distinct ages
    tc.load(root, cache=True, image_size=8)  # used again: now the most recent
    monkeypatch.setenv("TRUECLASS_DECODED_CACHE_GB", str(1e-12))
    newest = tc.load(root, cache=True, image_size=14)
    left = [p.name for p in entries(cache)]
    assert left == [Path(newest.provenance["disk_cache"]).name]  # everything else was over the limit


def test_parts_of_a_cached_set_stay_on_disk(make_folder, cache):
    root = make_folder({"bars": 10, "cols": 10, "squares": 10})
    plain, ds = tc.load(root, cache=False), tc.load(root, cache=True)
    parts, plain_parts = tc.split(ds, seed=3), tc.split(plain, seed=3)
    for part, ref in ((parts.train, plain_parts.train), (parts.test, plain_parts.test)):
        assert isinstance(part.images, ImageRows)
        np.testing.assert_array_equal(np.asarray(part.images), ref.images)
        assert part.hash == ref.hash
        assert part.images[[2, 0]].shape == (2,) + ref.images.shape[1:]
        np.testing.assert_array_equal(part.images[[2, 0]], ref.images[[2, 0]])
        np.testing.assert_array_equal(part.images[1], ref.images[1])
        np.testing.assert_array_equal(part.images[1:3], ref.images[1:3])
        np.testing.assert_allclose(part.images / 255.0, ref.images / 255.0)


def test_training_from_the_cache_reads_batches_and_matches_memory(make_folder, cache, monkeypatch):
    root = make_folder({"bars": 700, "cols": 700, "squares": 700}, size=12)
    plain, ds = tc.load(root, cache=False), tc.load(root, cache=True)
    biggest = []
    real_read = ImageRows._read

    def counting(self, index):
        biggest.append(len(index))
        return real_read(self, index)

    monkeypatch.setattr(ImageRows, "_read", counting)
    probs = []
    for data in (plain, ds):
        parts = tc.split(data, seed=0)
        clf = tc.ImageClassifier("cnn", epochs=1, random_state=0, width=8).fit(parts.train, val=parts.val)
        probs.append(clf.predict_proba(parts.test))
    np.testing.assert_allclose(probs[1], probs[0], atol=1e-6)  # the same model, from disk or memory
    n_train = len(tc.split(ds, seed=0).train)
    assert biggest and max(biggest) <= 1024 < n_train  # never the whole training part at once
