"""Groups of images for ``--slice-by``: a manifest's own column (camera, site, age group,
...) or a level of a folder source's subfolders inside each class folder."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .._errors import TrueclassError
from ._dataset import PER_IMAGE_KEYS, Dataset

__all__ = ["slice_groups", "check_slice_by", "BLANK", "NO_FOLDER"]

BLANK = "(blank)"
NO_FOLDER = "(none)"
_FOLDER = re.compile(r"folder(?::(\d+))?")


def _columns(ds: Dataset) -> list[str]:
    return [str(c) for c in ds.provenance.get("image_column_names") or []]


def check_slice_by(ds: Dataset, by: str) -> None:
    """A sentence, before any training, when ``ds`` has no such column or subfolders."""
    slice_groups(ds, by)


def slice_groups(ds: Dataset, by: str) -> np.ndarray:
    """The group of each image of ``ds`` by ``by``: a manifest column (any case), or
    ``folder`` (the subfolder right inside each class folder; ``folder:2`` the level below
    that). Images without a value are in "(blank)" or "(none)"."""
    text = str(by).strip()
    names = _columns(ds)
    lowered = {n.lower(): i for i, n in enumerate(names)}
    values = ds.provenance.get(PER_IMAGE_KEYS[4])
    if text.lower() in lowered and values is not None:
        col = np.asarray(values)[:, lowered[text.lower()]]
        return np.where(col == "", BLANK, col).astype(str)
    m = _FOLDER.fullmatch(text.lower())
    source = ds.provenance.get("source", "this data")
    if m and not ds.multilabel:
        level = int(m.group(1) or 1)
        if level < 1:
            raise TrueclassError("--slice-by folder:N counts subfolder levels from 1 (folder:1 is the subfolder right "
                                 "inside each class folder).")
        files = ds.provenance.get(PER_IMAGE_KEYS[2])
        if files is None:
            raise TrueclassError(f"--slice-by {text} groups the images of a folder by their subfolders; {source!r} "
                                 "is not read from files.")
        out = []
        for f, label in zip(np.asarray(files), ds.labels):
            parts = Path(str(f)).parts[:-1]
            cls = ds.classes[int(label)]
            where = [i for i, p in enumerate(parts) if p == cls]
            pos = where[-1] + level if where else None
            out.append(parts[pos] if pos is not None and pos < len(parts) else NO_FOLDER)
        groups = np.asarray(out, dtype=str)
        if (groups == NO_FOLDER).all():
            raise TrueclassError(f"--slice-by {text}: no image of {source!r} lies in a subfolder {level} level(s) "
                                 "inside its class folder (photos/cat/indoor/1.jpg is in group 'indoor').")
        return groups
    have = (f"its columns besides path and label are {', '.join(repr(n) for n in names)}" if names
            else "it has no columns besides path and label")
    raise TrueclassError(f"--slice-by {text!r}: {source!r} has no column {text!r}; {have}. A manifest (.csv) may "
                         "carry more columns (camera, site, ...); a folder of class folders is grouped by its "
                         "subfolders with --slice-by folder.")
