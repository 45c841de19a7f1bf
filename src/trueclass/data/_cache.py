"""The disk cache of decoded images: a folder of files is decoded once.

A large set of image files is decoded straight into a numpy ``.npy`` file in the cache
(``$TRUECLASS_CACHE/decoded/<key>/images.npy``) and read back as a read-only memmap, so
neither the first load nor any later step needs the decoded set in memory, and a second
load of the same files skips decoding.

The key is a SHA-256 of every file's path, byte size and modification time (nanoseconds),
in order, and of what decoding was asked for (image size, colour mode, pixel limit): the
files are not read to compute it (``make`` and ccache decide the same way), so a key costs
one ``stat`` a file. Labels are not part of the key: relabelling images in a CSV re-uses
the decoded pixels. The pixels' digest is kept beside them, so a cached set is not
re-hashed either.

An entry is built in a temporary folder and renamed into place when complete: a killed
load leaves no half-written entry (and two processes of one torchrun job may race; the
first rename wins). Entries not used for the longest are removed once the decoded cache
passes its size limit (``TRUECLASS_DECODED_CACHE_GB``, default 20).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._archives import stamp as file_stamp
from ._builtin import cache_dir

__all__ = ["DecodedCache", "DISK_CACHE_MIN_IMAGES", "decoded_cache_limit"]

#: Sets of fewer files than this are decoded in memory (seconds of work, and the studio's
#: projects change with every image added); ``load(..., cache=True)`` caches any set.
DISK_CACHE_MIN_IMAGES = 2000
VERSION = 1
DEFAULT_LIMIT_GB = 20.0
#: Free disk space kept beyond an entry's size before the cache is used.
FREE_MARGIN_BYTES = 1024**3


def decoded_cache_limit() -> int:
    """Bytes the decoded cache may hold before its least recently used entries go."""
    try:
        gb = float(os.environ.get("TRUECLASS_DECODED_CACHE_GB", DEFAULT_LIMIT_GB))
    except ValueError:
        gb = DEFAULT_LIMIT_GB
    return int(gb * 1024**3)


def files_key(paths: Sequence[str], request: dict[str, Any]) -> str:
    """The cache key of decoding ``paths`` as ``request`` says: one stat a file."""
    h = hashlib.sha256(json.dumps({"version": VERSION, **request}, sort_keys=True).encode())
    for p in paths:
        try:
            stamp = file_stamp(p)  # an archive member: the archive's and the member's
        except OSError as exc:  # a file that cannot be read now is a different set
            stamp = f"error:{type(exc).__name__}"
        h.update(f"{p}\x00{stamp}\x00".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:32]


class DecodedCache:
    """One entry of the decoded cache: either found (``hit``) or about to be written."""

    def __init__(self, paths: Sequence[str], request: dict[str, Any], root: Path | None = None):
        self.root = (root or cache_dir()) / "decoded"
        self.key = files_key(paths, request)
        self.folder = self.root / self.key
        self._tmp: Path | None = None

    @property
    def hit(self) -> bool:
        return (self.folder / "meta.json").is_file() and (self.folder / "images.npy").is_file()

    # -- reading -------------------------------------------------------------------------
    def read(self) -> tuple[np.ndarray, dict[str, Any]]:
        """(the images as a read-only memmap, the entry's notes)."""
        meta = json.loads((self.folder / "meta.json").read_text())
        images = np.load(self.folder / "images.npy", mmap_mode="r")
        os.utime(self.folder / "meta.json")  # most recently used
        return images, meta

    # -- writing -------------------------------------------------------------------------
    def free_bytes(self) -> int:
        """Free bytes on the cache's disk (of its nearest folder that exists)."""
        place = self.root
        while not place.exists() and place != place.parent:
            place = place.parent
        try:
            return shutil.disk_usage(place).free
        except OSError:
            return 0

    def room_for(self, nbytes: int) -> bool:
        """Whether the cache's disk has ``nbytes`` free, with a margin to spare."""
        return self.free_bytes() >= nbytes + FREE_MARGIN_BYTES

    def unusable(self, nbytes: int) -> str | None:
        """Why an entry of ``nbytes`` cannot be written here (the cache folder cannot be
        made or written, or its disk lacks room), or None when it can."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"the cache folder {str(self.root)!r} cannot be created ({exc.strerror or exc})"
        if not os.access(self.root, os.W_OK | os.X_OK):
            return f"the cache folder {str(self.root)!r} is read-only"
        if not self.room_for(nbytes):
            return f"{nbytes / 1024**3:.1f} GB would not fit on the cache's disk"
        return None

    def create(self, shape: tuple[int, ...]) -> np.ndarray:
        """A writable .npy memmap of ``shape`` in a temporary folder of the entry."""
        self._tmp = self.root / f".tmp-{self.key}-{os.getpid()}-{time.monotonic_ns()}"
        self._tmp.mkdir(parents=True)
        return np.lib.format.open_memmap(self._tmp / "images.npy", mode="w+", dtype=np.uint8, shape=shape)

    def finish(self, images: np.ndarray, n_kept: int, meta: dict[str, Any]) -> np.ndarray:
        """Keep the first ``n_kept`` rows of ``images`` (the rows written), store ``meta``,
        and move the entry into place; returns the entry's images, read-only."""
        assert self._tmp is not None
        if n_kept < len(images):  # files that failed to decode after their header read well
            out = np.lib.format.open_memmap(self._tmp / "kept.npy", mode="w+", dtype=np.uint8,
                                            shape=(n_kept,) + images.shape[1:])
            for start in range(0, n_kept, 1024):
                out[start : start + 1024] = images[start : min(n_kept, start + 1024)]
            out.flush()
            del out, images
            os.replace(self._tmp / "kept.npy", self._tmp / "images.npy")
        else:
            images.flush()
            del images
        (self._tmp / "meta.json").write_text(json.dumps(meta))
        try:
            os.replace(self._tmp, self.folder)
        except OSError:  # another process finished the same entry first: theirs is as good
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = None
        self.evict()
        return self.read()[0]

    def abandon(self) -> None:
        """Remove a half-written entry (the load failed or was stopped)."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def evict(self, limit: int | None = None) -> list[str]:
        """Remove the least recently used entries (never this one) while the cache holds
        more than ``limit`` bytes; returns the keys removed."""
        limit = decoded_cache_limit() if limit is None else limit
        entries = []
        for d in self.root.iterdir() if self.root.is_dir() else []:
            meta = d / "meta.json"
            if d.name.startswith(".") or not meta.is_file():
                continue
            size = sum(f.stat().st_size for f in d.iterdir() if f.is_file())
            entries.append((meta.stat().st_mtime, d, size))
        total = sum(e[2] for e in entries)
        removed = []
        for _, d, size in sorted(entries, key=lambda e: e[0]):
            if total <= limit:
                break
            if d == self.folder:
                continue
            shutil.rmtree(d, ignore_errors=True)
            total -= size
            removed.append(d.name)
        return removed
