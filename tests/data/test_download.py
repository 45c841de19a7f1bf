"""The real Fashion-MNIST download code, run against a local HTTP server."""

from __future__ import annotations

import hashlib
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

import trueclass as tc
from trueclass.data import write_idx
from trueclass.data._builtin import FASHION_MNIST_FILES


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _make_files(root, n_train=30, n_test=10):
    rng = np.random.default_rng(0)
    write_idx(root / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (n_train, 28, 28), dtype=np.uint8))
    write_idx(root / "train-labels-idx1-ubyte.gz", (np.arange(n_train) % 10).astype(np.uint8))
    write_idx(root / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (n_test, 28, 28), dtype=np.uint8))
    write_idx(root / "t10k-labels-idx1-ubyte.gz", (np.arange(n_test) % 10).astype(np.uint8))
    return {name: hashlib.md5((root / name).read_bytes()).hexdigest() for name in FASHION_MNIST_FILES}


def test_download_checks_sums_and_loads(server, tmp_path, monkeypatch):
    root, url = server
    sums = _make_files(root)
    dest = tmp_path / "cache"
    got = tc.download_fashion_mnist(dest, base_url=url, checksums=sums)
    assert sorted(p.name for p in got.values()) == sorted(FASHION_MNIST_FILES)
    assert not list(dest.glob("*.part"))
    # the loader falls back to the cache when no other folder has the files
    monkeypatch.setenv("TRUECLASS_CACHE", str(tmp_path))
    monkeypatch.setattr("trueclass.data._builtin.DEBIAN_FASHION_MNIST_DIR", tmp_path / "absent")
    monkeypatch.delenv("TRUECLASS_DATA", raising=False)
    (tmp_path / "fashion-mnist").symlink_to(dest)
    ds = tc.load("fashion-mnist")
    assert len(ds) == 40


def test_loader_downloads_when_nothing_is_on_disk(server, tmp_path, monkeypatch):
    root, url = server
    sums = _make_files(root)
    monkeypatch.setenv("TRUECLASS_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("TRUECLASS_FASHION_MNIST_URL", url)
    monkeypatch.setattr("trueclass.data._builtin.DEBIAN_FASHION_MNIST_DIR", tmp_path / "absent")
    monkeypatch.setattr("trueclass.data._builtin.FASHION_MNIST_FILES", sums)
    monkeypatch.delenv("TRUECLASS_DATA", raising=False)
    ds = tc.load("fashion-mnist")
    assert len(ds) == 40
    assert (tmp_path / "c" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_wrong_checksum_is_refused_and_deleted(server, tmp_path):
    root, url = server
    _make_files(root)
    dest = tmp_path / "cache"
    # the official sums do not match these made-up files
    with pytest.raises(tc.TrueclassError, match="does not match its published MD5 sum"):
        tc.download_fashion_mnist(dest, base_url=url)
    assert list(dest.iterdir()) == []  # neither a .part nor a bad file is left


def test_unreachable_server_gives_a_sentence(tmp_path):
    with pytest.raises(tc.TrueclassError, match="Could not download Fashion-MNIST .* dataset-fashion-mnist"):
        tc.download_fashion_mnist(tmp_path, base_url="http://127.0.0.1:9/", timeout=2)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_on_server(server, tmp_path):
    root, url = server
    sums = _make_files(root)
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(tc.TrueclassError, match="t10k-labels"):
        tc.download_fashion_mnist(tmp_path / "d", base_url=url, checksums=sums)
    assert not list((tmp_path / "d").glob("*.part"))
