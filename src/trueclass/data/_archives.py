"""Images inside a container file, read where they lie: nothing is unpacked to disk.

Three kinds: a zip archive, a tar archive (a WebDataset shard is one) and a Parquet file
of Hugging Face style (an ``image`` column of ``{bytes, path}`` structs, one image a row).
A member is named by the container's path and the member's name joined by "/"
(``photos.zip/cats/001.jpg``, ``shard-0001.tar/sample7.jpg``, ``train-00000.parquet/17``:
row 17), so it reads like a file inside a folder: the decoders open it with
:func:`open_source`, the decoded-image cache keys it by :func:`stamp` (the container's size
and time and where the member lies in it), and a run's ids name the member so a misread
image can be found again. Each reading thread keeps its own open zip archive and Parquet
row group: ``zipfile.ZipFile`` objects are not meant to be shared by threads that seek. A
tar archive is indexed once (its headers, read in one pass) and its members are then read
at their offsets; a compressed tar (``.tar.gz``) has no offsets to read at and is refused.
"""

from __future__ import annotations

import io
import os
import tarfile
import threading
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["ARCHIVE_NOISE", "ARCHIVE_SUFFIXES", "CONTAINER_SUFFIXES", "MAX_MEMBER_BYTES", "split_member", "open_source",
           "read_bytes", "source_size", "stamp", "archive_members", "hidden_member", "parquet_file", "parquet_image_column", "MissingImage"]

#: Archives of files (members named by path).
ARCHIVE_SUFFIXES = (".zip", ".tar")
#: Every container whose members are images: the archives and Parquet files (rows).
CONTAINER_SUFFIXES = (*ARCHIVE_SUFFIXES, ".parquet")
#: Folders that zip tools add beside the files: never read as images.
ARCHIVE_NOISE = ("__MACOSX/",)
#: A member larger than this once unpacked is not read (a zip bomb, or no image).
MAX_MEMBER_BYTES = 512 * 1024**2

_local = threading.local()


def split_member(path: str | Path) -> tuple[str, str] | None:
    """(container, member) for a path through a container file, else None (a plain file)."""
    text = str(path)
    low = text.lower()
    for suffix in CONTAINER_SUFFIXES:
        start = 0
        while (i := low.find(suffix + "/", start)) >= 0:
            container = text[: i + len(suffix)]
            if os.path.isfile(container):
                return container, text[i + len(suffix) + 1 :]
            start = i + 1
    return None


def hidden_member(member: str) -> bool:
    """Whether an archive member is hidden (a name or folder starting with a dot) or the
    archiving tool's own (``__MACOSX/``): never read as an image."""
    return any(x.startswith(".") for x in member.split("/")) or member.startswith(ARCHIVE_NOISE)


def _kind(container: str) -> str:
    return Path(container).suffix.lower()


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


# -- tar: one pass over the headers, then reads at offsets ------------------------------
_tar_lock = threading.Lock()
_tar_indexes: dict[str, tuple[tuple[int, int], dict[str, tuple[int, int]]]] = {}


def _tar_index(path: str) -> dict[str, tuple[int, int]]:
    """{member name: (data offset, size)} of the regular files in a tar archive, read once
    while the file is unchanged."""
    st = os.stat(path)
    key = (st.st_size, st.st_mtime_ns)
    with _tar_lock:
        known = _tar_indexes.get(path)
        if known is not None and known[0] == key:
            return known[1]
    if path.lower().endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        raise OSError("a compressed tar archive cannot be read in place; unpack it or give an uncompressed .tar")
    index: dict[str, tuple[int, int]] = {}
    try:
        with tarfile.open(path, "r:") as tf:  # "r:" only: a compressed stream has no offsets
            for info in tf:
                if info.isfile():
                    index[info.name] = (info.offset_data, info.size)
    except tarfile.TarError as exc:
        raise OSError(f"not a readable tar archive ({exc})") from None
    with _tar_lock:
        _tar_indexes[path] = (key, index)
    return index


def _tar_member(archive: str, member: str) -> tuple[int, int]:
    try:
        return _tar_index(archive)[member]
    except KeyError:
        raise FileNotFoundError(f"{member} is not in {archive}") from None


# -- Parquet: one row an image ------------------------------------------------------------
def parquet_file(path: str | Path) -> Any:
    """``pyarrow.parquet.ParquetFile`` of ``path``; a sentence when pyarrow is missing or
    the file is not Parquet."""
    from .._errors import TrueclassError
    from .._extras import require

    require("parquet", "Reading Parquet files")
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(str(path))
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise TrueclassError(f"{str(path)!r} cannot be read as a Parquet file ({exc}).") from None


def parquet_image_column(schema: Any) -> str | None:
    """The column of a Parquet schema that holds the images: ``image`` (or ``img``) when it
    is a {bytes, path} struct or binary, else the first such struct; None when none is."""
    import pyarrow as pa

    def holds_images(t: Any) -> bool:
        return (pa.types.is_struct(t) and t.get_field_index("bytes") >= 0) or pa.types.is_binary(t) \
            or pa.types.is_large_binary(t)

    fields = {f.name: f.type for f in schema}
    for name in ("image", "img"):
        if name in fields and holds_images(fields[name]):
            return name
    return next((n for n, t in fields.items() if pa.types.is_struct(t) and holds_images(t)), None)


class MissingImage(FileNotFoundError):
    """A container's entry that holds no image: its message is the reason shown."""


def _row_image(value: Any, base: Path) -> bytes:
    """The bytes of one row's image cell: its ``bytes``, else the file its ``path`` names
    (beside the Parquet file, or where it says)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):
        if value.get("bytes") is not None:
            return bytes(value["bytes"])
        if value.get("path"):
            for candidate in (base / value["path"], Path(value["path"])):
                if candidate.is_file():
                    return candidate.read_bytes()
            raise MissingImage(f"the row holds no image bytes and names {value['path']}, which is not found")
    raise MissingImage("the row holds no image")


def _parquet_row(container: str, member: str) -> bytes:
    """The image of row ``member`` of a Parquet file; each thread keeps the row group it
    read last (rows are read in order, a row group at a time)."""
    try:
        row = int(member)
    except ValueError:
        raise FileNotFoundError(f"{member} is not a row number of {container}") from None
    groups = getattr(_local, "parquet", None)
    if groups is None:
        groups = _local.parquet = {}
    st = os.stat(container)
    key = (st.st_size, st.st_mtime_ns)
    held = groups.get(container)
    if held is None or held["key"] != key:
        pf = parquet_file(container)
        column = parquet_image_column(pf.schema_arrow)
        if column is None:
            raise OSError("the Parquet file has no image column")
        sizes = [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)]
        starts = [sum(sizes[:g]) for g in range(len(sizes) + 1)]
        held = groups[container] = {"key": key, "file": pf, "column": column, "starts": starts, "group": -1,
                                    "cells": []}
    starts = held["starts"]
    if not 0 <= row < starts[-1]:
        raise FileNotFoundError(f"{container} has no row {row}")
    g = next(i for i in range(len(starts) - 1) if starts[i] <= row < starts[i + 1])
    if held["group"] != g:
        held["cells"] = held["file"].read_row_group(g, columns=[held["column"]]).column(0).to_pylist()
        held["group"] = g
    return _row_image(held["cells"][row - starts[g]], Path(container).parent)


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a file or of a container's member."""
    where = split_member(path)
    if where is None:
        return Path(path).read_bytes()
    kind = _kind(where[0])
    if kind == ".parquet":
        return _parquet_row(*where)
    if kind == ".tar":
        offset, size = _tar_member(*where)
        if size > MAX_MEMBER_BYTES:
            raise OSError(f"archive member of {size:,} bytes (limit {MAX_MEMBER_BYTES:,})")
        with open(where[0], "rb") as f:
            f.seek(offset)
            return f.read(size)
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
    of a container's member."""
    return str(path) if split_member(path) is None else io.BytesIO(read_bytes(path))


def source_size(path: str | Path) -> int:
    """Bytes of a file, or of a container's member once unpacked."""
    where = split_member(path)
    if where is None:
        return os.stat(path).st_size
    kind = _kind(where[0])
    if kind == ".parquet":
        return len(_parquet_row(*where))
    if kind == ".tar":
        return _tar_member(*where)[1]
    return _info(*where).file_size


def stamp(path: str | Path) -> str:
    """What changes when the file (or member) changes: size and time, and for a member
    the container's size and time and where the member lies in it (a zip member's checksum,
    a tar member's offset and size, a Parquet row's number)."""
    where = split_member(path)
    if where is None:
        st = os.stat(path)
        return f"{st.st_size}:{st.st_mtime_ns}"
    st = os.stat(where[0])
    kind = _kind(where[0])
    if kind == ".parquet":
        return f"{st.st_size}:{st.st_mtime_ns}:row {where[1]}"
    if kind == ".tar":
        offset, size = _tar_member(*where)
        return f"{st.st_size}:{st.st_mtime_ns}:{offset}:{size}"
    info = _info(*where)
    return f"{st.st_size}:{st.st_mtime_ns}:{info.CRC}:{info.file_size}"


def archive_members(path: str | Path) -> list[str]:
    """The names of the files (not folders) in a zip or tar archive, in the archive's
    order; a sentence when it is not one."""
    from .._errors import TrueclassError

    if _kind(str(path)) == ".tar":
        try:
            return list(_tar_index(str(path)))
        except OSError as exc:
            raise TrueclassError(f"{str(path)!r} cannot be read as a tar archive ({exc}).") from None
    try:
        with zipfile.ZipFile(path) as zf:
            return [i.filename for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise TrueclassError(f"{str(path)!r} cannot be read as a zip archive ({exc}).") from None
