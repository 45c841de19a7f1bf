"""Image files inside a zip archive, read where they lie: nothing is unpacked to disk.

A member is named by the archive's path and the member's name joined by "/"
(``photos.zip/cats/001.jpg``), so it reads like a file inside a folder: the decoders open
it with :func:`open_source`, the decoded-image cache keys it by :func:`stamp` (the
archive's size and time and the member's checksum), and a run's ids name the member
(``cats/001.jpg``) so a misread image can be found again in the archive. Each reading
thread keeps its own open archive: ``zipfile.ZipFile`` objects are not meant to be shared
by threads that seek.
"""

from __future__ import annotations

import io
import os
import threading
import zipfile
from pathlib import Path
from typing import BinaryIO

__all__ = ["ARCHIVE_NOISE", "ARCHIVE_SUFFIXES", "MAX_MEMBER_BYTES", "split_member", "open_source", "read_bytes", "source_size",
           "stamp", "archive_members"]

ARCHIVE_SUFFIXES = (".zip",)
#: Folders that zip tools add beside the files: never read as images.
ARCHIVE_NOISE = ("__MACOSX/",)
#: A member larger than this once unpacked is not read (a zip bomb, or no image).
MAX_MEMBER_BYTES = 512 * 1024**2

_local = threading.local()


def split_member(path: str | Path) -> tuple[str, str] | None:
    """(archive, member) for a path through a zip archive, else None (a plain file)."""
    text = str(path)
    low = text.lower()
    start = 0
    while True:
        i = low.find(".zip/", start)
        if i < 0:
            return None
        archive = text[: i + 4]
        if os.path.isfile(archive):
            return archive, text[i + 5 :]
        start = i + 1


def _archive(path: str) -> zipfile.ZipFile:
    """This thread's open handle on ``path`` (opened again when the file changed)."""
    handles = getattr(_local, "handles", None)
    if handles is None:
        handles = _local.handles = {}
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    zf = handles.get(path)
    if zf is None or zf[0] != key:
        if zf is not None:
            zf[1].close()
        try:
            handles[path] = (key, zipfile.ZipFile(path))
        except zipfile.BadZipFile as exc:
            raise OSError(f"not a readable zip archive ({exc})") from None
    return handles[path][1]


def _info(archive: str, member: str) -> zipfile.ZipInfo:
    try:
        return _archive(archive).getinfo(member)
    except KeyError:
        raise FileNotFoundError(f"{member} is not in {archive}") from None


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a file or of an archive member."""
    where = split_member(path)
    if where is None:
        return Path(path).read_bytes()
    info = _info(*where)
    if info.is_dir():
        raise IsADirectoryError(str(path))
    if info.file_size > MAX_MEMBER_BYTES:
        raise OSError(f"archive member of {info.file_size:,} bytes unpacked (limit {MAX_MEMBER_BYTES:,})")
    try:
        return _archive(where[0]).read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
        raise OSError(f"cannot unpack the archive member ({exc})") from None


def open_source(path: str | Path) -> str | BinaryIO:
    """What Pillow's ``Image.open`` takes for ``path``: the path of a plain file, the bytes
    of an archive member."""
    return str(path) if split_member(path) is None else io.BytesIO(read_bytes(path))


def source_size(path: str | Path) -> int:
    """Bytes of a file, or of an archive member once unpacked."""
    where = split_member(path)
    return os.stat(path).st_size if where is None else _info(*where).file_size


def stamp(path: str | Path) -> str:
    """What changes when the file (or member) changes: size and time, and for a member
    the archive's and the member's checksum."""
    where = split_member(path)
    if where is None:
        st = os.stat(path)
        return f"{st.st_size}:{st.st_mtime_ns}"
    st = os.stat(where[0])
    info = _info(*where)
    return f"{st.st_size}:{st.st_mtime_ns}:{info.CRC}:{info.file_size}"


def archive_members(path: str | Path) -> list[str]:
    """The names of the files (not folders) in a zip archive, in the archive's order; a
    sentence when it is not one."""
    from .._errors import TrueclassError

    try:
        with zipfile.ZipFile(path) as zf:
            return [i.filename for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise TrueclassError(f"{str(path)!r} cannot be read as a zip archive ({exc}).") from None
