"""Sources stored as shards: Hugging Face style Parquet files (one image a row) and
WebDataset tar shards (an image beside its label file), a file or a folder of them, read
in place through :mod:`._archives` and decoded as a folder's files are."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

from .._errors import TrueclassError
from ._archives import archive_members, hidden_member, parquet_file, parquet_image_column, read_bytes
from ._dataset import SPLIT_FOLDERS, Dataset, Skipped, _build, _check_classes
from ._decoding import Decoding, _decode_classes
from ._images import IMAGE_SUFFIXES, is_hidden, iter_files

__all__ = ["SHARD_SUFFIXES", "WDS_LABEL_SUFFIXES", "shard_files", "is_webdataset", "load_shards"]

SHARD_SUFFIXES = (".parquet", ".tar")
#: WebDataset: a sample's label lies beside its image as KEY.cls (the class) or KEY.json.
WDS_LABEL_SUFFIXES = (".cls", ".json")
#: The keys of a sample's .json that may hold its class, in the order they are tried.
WDS_JSON_KEYS = ("label", "cls", "class", "category")


def shard_files(root: Path) -> list[Path]:
    """The Parquet or tar shards of a folder that holds shards and no image files (a
    Hugging Face dataset's ``data/train-00000-of-00002.parquet``, a WebDataset's
    ``shard-000000.tar``); empty for a folder of images."""
    shards, images = [], False
    for f in iter_files(root):
        if is_hidden(f, root):
            continue
        if f.suffix.lower() in SHARD_SUFFIXES:
            shards.append(f)
        elif f.suffix.lower() in IMAGE_SUFFIXES:
            images = True
            break
    return [] if images else shards


def _shard_part(shard: Path, root: Path) -> str | None:
    """The split a shard holds, from its name (``train-00000-of-00002.parquet``,
    ``test.tar``) or a folder it lies in (``validation/0000.parquet``); None if neither says."""
    first = re.split(r"[-_.]", shard.name.lower(), maxsplit=1)[0]
    if first in SPLIT_FOLDERS:
        return SPLIT_FOLDERS[first]
    try:
        folders = shard.relative_to(root).parent.parts
    except ValueError:
        folders = ()
    return next((SPLIT_FOLDERS[f.lower()] for f in reversed(folders) if f.lower() in SPLIT_FOLDERS), None)


def is_webdataset(tar: Path) -> bool:
    """A tar whose samples carry their labels (``KEY.cls`` or ``KEY.json``) rather than
    class folders."""
    return any(Path(m).suffix.lower() in WDS_LABEL_SUFFIXES for m in archive_members(tar))


def _class_order(values: set[str], declared: Sequence[str] = ()) -> list[str]:
    """The classes found: in the order the file declares them (a Hugging Face ClassLabel),
    then the rest sorted, numbers by value (``2`` before ``10``)."""
    rest = sorted(values - set(declared), key=lambda v: (0, int(v), v) if v.isdigit() else (1, 0, v))
    return [c for c in declared if c in values] + rest


def load_shards(shards: list[Path], root: Path, how: Decoding) -> Dataset:
    """Parquet files or WebDataset tars as one set. Shards named for a split keep it when a
    train and a test shard are among them; ids name the shard and the row or member."""
    kinds = {s.suffix.lower() for s in shards}
    if len(kinds) > 1:
        raise TrueclassError(f"{str(root)!r} holds both Parquet files and tar shards; give a folder of one kind.")
    parts = {s: _shard_part(s, root) for s in shards}
    presplit = {"train", "test"} <= set(parts.values())
    skipped: list[Skipped] = []
    entries: list[tuple[str, str, str | None]] = []
    declared: list[str] = []
    for shard in shards:
        part = parts[shard] if presplit else None
        if presplit and part is None:
            skipped.append(Skipped(str(shard), "a shard outside the train, validation and test shards"))
            continue
        if shard.suffix.lower() == ".parquet":
            found, names = _parquet_entries(shard, skipped)
            declared += [n for n in names if n not in declared]
        else:
            found = _webdataset_entries(shard, skipped)
        entries += [(path, label, part) for path, label in found]
    if not entries:
        raise TrueclassError(f"No labelled images were found in {str(root if len(shards) > 1 else shards[0])!r}.")
    names = _class_order({e[1] for e in entries}, declared)
    where = repr(str(root if len(shards) > 1 else shards[0]))
    images, kept, notes = _decode_classes(entries, skipped, how, names, where,
                                          f"the train shards of {where}" if presplit else None)
    ds = _build(images, kept, names, skipped, str(root if len(shards) > 1 else shards[0]), root, notes)
    return _check_classes(ds, where)


def _parquet_entries(shard: Path, skipped: list[Skipped]) -> tuple[list[tuple[str, str]], list[str]]:
    """(``SHARD/ROW``, class) of each labelled row of a Hugging Face style Parquet file, and
    the class names its metadata declares (a ClassLabel's names, in their order)."""
    pf = parquet_file(shard)
    schema = pf.schema_arrow
    columns = [f.name for f in schema]
    image_col = parquet_image_column(schema)
    if image_col is None:
        raise TrueclassError(
            f"{str(shard)!r} has no image column: trueclass reads an 'image' column of {{bytes, path}} structs "
            f"(as Hugging Face datasets writes it) or of image bytes; its columns are {', '.join(columns)}.")
    try:
        features = json.loads((schema.metadata or {}).get(b"huggingface", b"{}")).get("info", {}).get("features", {})
    except (ValueError, AttributeError):
        features = {}
    label_col = next((c for c in ("label", "labels") if c in columns), None) or next(
        (c for c, f in features.items() if isinstance(f, dict) and f.get("_type") == "ClassLabel"), None)
    if label_col is None:
        raise TrueclassError(f"{str(shard)!r} has no label column (named 'label', or a ClassLabel); its columns are "
                             f"{', '.join(columns)}.")
    names = [str(n) for n in (features.get(label_col) or {}).get("names") or []]
    out = []
    values = pf.read(columns=[label_col]).column(0).to_pylist()
    for row, value in enumerate(values):
        path = f"{shard}/{row}"
        if isinstance(value, (list, tuple, dict)):
            raise TrueclassError(f"{str(shard)!r}: the column {label_col!r} holds several labels a row; trueclass "
                                 "reads one class an image from Parquet (give a manifest with a labels column for "
                                 "several).")
        if value is None or (isinstance(value, int) and value < 0) or str(value).strip() == "":
            skipped.append(Skipped(path, f"no label (row {row})"))  # -1: Hugging Face's "no label"
        elif names and isinstance(value, int):
            if value >= len(names):
                skipped.append(Skipped(path, f"label {value} is not one of the file's {len(names)} classes (row {row})"))
            else:
                out.append((path, names[value]))
        else:
            out.append((path, str(value).strip()))
    return out, names


def _webdataset_entries(shard: Path, skipped: list[Skipped]) -> list[tuple[str, str]]:
    """(``SHARD/KEY.ext``, class) of each sample of a WebDataset tar: the image and its
    ``KEY.cls`` (the class, as text) or ``KEY.json`` (the class under label, cls, class or
    category). A sample is its members whose names share the part before the first dot of
    the file name, as WebDataset groups them."""
    samples: dict[str, dict[str, str]] = {}
    for member in archive_members(shard):
        folder, _, name = member.rpartition("/")
        if hidden_member(member):
            skipped.append(Skipped(f"{shard}/{member}", "hidden file or folder"))
            continue
        key, dot, ext = name.partition(".")
        samples.setdefault(f"{folder}/{key}" if folder else key, {})["." + ext.lower() if dot else ""] = member
    out = []
    for key, parts in samples.items():
        image = next((m for ext, m in parts.items() if ext in IMAGE_SUFFIXES), None)
        if image is None:
            skipped.append(Skipped(f"{shard}/{key}", "a sample with no image file"))
            continue
        path = f"{shard}/{image}"
        label = None
        try:
            if ".cls" in parts:
                label = read_bytes(f"{shard}/{parts['.cls']}").decode("utf-8").strip()
            elif ".json" in parts:
                meta = json.loads(read_bytes(f"{shard}/{parts['.json']}").decode("utf-8"))
                label = next((meta[k] for k in WDS_JSON_KEYS if isinstance(meta, dict) and k in meta), None)
                label = None if label is None or isinstance(label, (list, dict)) else str(label).strip()
        except (OSError, ValueError) as exc:
            skipped.append(Skipped(path, f"its label file cannot be read ({exc})"))
            continue
        if not label:
            skipped.append(Skipped(path, "no label beside it (KEY.cls, or KEY.json with a label)"))
        else:
            out.append((path, label))
    return out
