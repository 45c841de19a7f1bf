"""A set that will not fit is refused before any image is decoded, with the size it
would need, what is free (memory, or the disk of the cache) and a size that would fit;
one that is large for the free memory goes to the disk cache, a chunk at a time."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import trueclass as tc
import trueclass.data._decoding as decoding
import trueclass.data._sources as sources
from trueclass.cli import cli
from trueclass.data._cache import DecodedCache

MB = 1024**2


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("TRUECLASS_CACHE", str(root))
    return root / "decoded"


def no_decoding(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("an image was decoded before the refusal")

    monkeypatch.setattr(decoding, "decode", refuse)


def test_the_free_memory_and_the_cpu_are_read_without_leaving_files_open():
    # regression: ResourceWarning "unclosed file" for /proc/cpuinfo and the cgroup's memory files
    import gc
    import warnings

    from trueclass.training._device import cpu_has_bf16

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        decoding.available_memory()
        cpu_has_bf16.__wrapped__()
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)]


def test_the_free_memory_is_read():
    free = decoding.available_memory()
    assert free is None or 0 < free < 2**50


def test_too_large_for_memory_is_refused_before_decoding(make_folder, cache, monkeypatch):
    root = make_folder({"bars": 6, "cols": 6})
    monkeypatch.setattr(decoding, "available_memory", lambda: 100 * MB)
    no_decoding(monkeypatch)
    with pytest.raises(tc.TrueclassError) as err:
        tc.load(root, image_size=4096, cache=False)
    assert str(err.value) == ("12 images at 4096x4096 grey need 192 MB as uint8; this machine has 100 MB of memory "
                              "free; choose a smaller image_size=N (at 1024x1024 they would need 12 MB).")
    with pytest.raises(tc.TrueclassError, match="12 images at 4096x2048 RGB need 288 MB as uint8"):
        tc.load(root, image_size="4096x2048", color_mode="RGB", cache=False)


def test_too_large_for_memory_and_the_cache_disk_names_both(make_folder, cache, monkeypatch):
    root = make_folder({"bars": 6, "cols": 6})
    monkeypatch.setattr(decoding, "available_memory", lambda: 100 * MB)
    monkeypatch.setattr(DecodedCache, "free_bytes", lambda self: 50 * MB)
    no_decoding(monkeypatch)
    with pytest.raises(tc.TrueclassError, match=r"12 images at 4096x4096 grey need 192 MB as uint8; this machine "
                                                r"has 100 MB of memory free, and the disk of the cache of decoded "
                                                r"images \(.*decoded'\) has 50 MB; choose a smaller image_size=N"):
        tc.load(root, image_size=4096)  # large for memory: the cache is tried, and its disk is full
    assert not cache.exists() or list(cache.iterdir()) == []


def test_cli_and_train_refuse_before_any_work(make_folder, cache, tmp_path, monkeypatch):
    root = make_folder({"bars": 6, "cols": 6})
    monkeypatch.setattr(decoding, "available_memory", lambda: 100 * MB)
    monkeypatch.setattr(DecodedCache, "free_bytes", lambda self: 50 * MB)
    no_decoding(monkeypatch)
    res = CliRunner().invoke(cli, ["train", str(root), "--model", "knn", "--image-size", "4096",
                                   "--out", str(tmp_path / "run")])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
    assert "need 192 MB as uint8" in res.output and "choose a smaller --image-size N" in res.output
    assert "Traceback" not in res.output
    with pytest.raises(tc.TrueclassError, match="need 192 MB as uint8"):
        tc.train(root, model="knn", image_size=4096, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_set_large_for_the_free_memory_goes_to_the_disk_cache_a_chunk_at_a_time(make_folder, cache, monkeypatch):
    root = make_folder({"bars": 6, "cols": 6})
    plain = tc.load(root, image_size=32)
    need = 12 * 32 * 32
    monkeypatch.setattr(decoding, "available_memory", lambda: 2 * need)  # the set would take half of it
    monkeypatch.setattr(decoding, "CHUNK_BYTES", 5 * 32 * 32)  # five decoded images at a time
    real, chunks = decoding.decode, []
    monkeypatch.setattr(decoding, "decode", lambda paths, *a, **k: chunks.append(len(paths)) or real(paths, *a, **k))
    ds = tc.load(root, image_size=32)
    assert isinstance(ds.images, np.memmap) and str(cache) in ds.provenance["disk_cache"]
    assert chunks == [5, 5, 2]
    np.testing.assert_array_equal(np.asarray(ds.images), plain.images)


def test_a_cache_that_cannot_be_written_falls_back_to_memory(make_folder, tmp_path, monkeypatch):
    root = make_folder({"bars": 4, "cols": 4})
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("TRUECLASS_CACHE", str(tmp_path / "a-file" / "cache"))  # cannot be made, even by root
    ds = tc.load(root, cache=True)
    assert not isinstance(ds.images, np.memmap)
    assert ds.provenance["disk_cache"].startswith("not used: the cache folder") and "cannot be created" in \
        ds.provenance["disk_cache"]


def test_arrays_resized_past_memory_are_refused(monkeypatch):
    monkeypatch.setattr(sources, "available_memory", lambda: 1024 * MB)
    with pytest.raises(tc.TrueclassError, match=r"1,797 images at 4096x4096 grey need 28 GB as uint8; this machine "
                                                r"has 1.0 GB of memory free; choose a smaller image_size=N \(at "
                                                r"384x384 they would need 253 MB\)"):
        tc.load("digits", image_size=4096)
