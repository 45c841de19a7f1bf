"""The one rule for which images a score counts: the test images, less every image
whose exact or near copy trained (or validated) the model.

``train`` and ``evaluate`` both ask :func:`scored_images`; they differ only in how they
know the copies: a training run has every image and the audit's duplicate groups; a
saved model has the fingerprints of its training images (models._fingerprints).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import TrueclassError
from ..data import Dataset, Split, load

__all__ = ["Scored", "scored_images", "test_copies", "copies_for_saved_model", "UNSEEN_RULE", "candidate_images",
           "load_for"]

#: The provenance key of the images :func:`scored_images` chose: which images they are
#: (``Scored.note``). ``trueclass.evaluate`` applies the rule only to images without it,
#: so that images chosen once (a run's test part, with leakage allowed or not) are not
#: chosen again.
UNSEEN_RULE = "unseen_rule"


@dataclass(frozen=True)
class Scored:
    """The images a score counts (``test``), the candidates before copies were left out
    (``candidates``), the indices into the source of those left out, and why."""

    test: Dataset
    candidates: Dataset
    left_out: np.ndarray
    note: str
    n_copies: int = 0  # candidates that are copies of training images, left out or (leakage allowed) not

    @property
    def n_left_out(self) -> int:
        return int(len(self.left_out))


def scored_images(ds: Dataset, candidates: np.ndarray, is_copy: np.ndarray | None, *, allow_leakage: bool = False,
                  what: str = "the test part") -> Scored:
    """The images of ``ds`` at ``candidates`` that count, leaving out those marked in
    ``is_copy`` (copies of a training image) unless ``allow_leakage``."""
    scored = _scored_images(ds, candidates, is_copy, allow_leakage=allow_leakage, what=what)
    for part in (scored.candidates, scored.test):  # fresh subsets: marking them changes nothing else
        part.provenance[UNSEEN_RULE] = scored.note
    return scored


def _scored_images(ds: Dataset, candidates: np.ndarray, is_copy: np.ndarray | None, *, allow_leakage: bool,
                   what: str) -> Scored:
    candidates = np.asarray(candidates, dtype=np.int64)
    cand_ds = ds.subset(candidates, part="test")
    if is_copy is None or not np.any(is_copy):
        return Scored(cand_ds, cand_ds, np.zeros(0, dtype=np.int64), what)
    left = candidates[np.asarray(is_copy, dtype=bool)]
    if allow_leakage:
        return Scored(cand_ds, cand_ds, np.zeros(0, dtype=np.int64),
                      f"{what}, {len(left):,} copies of training images counted (leakage allowed)", len(left))
    keep = candidates[~np.asarray(is_copy, dtype=bool)]
    if len(keep) == 0:
        raise TrueclassError(
            f"Every one of the {len(candidates):,} images is a copy of an image the model was trained or validated "
            "on, so none can be scored as unseen. Evaluate it on images it has never seen."
        )
    note = (f"{what}, less {len(left):,} {'image' if len(left) == 1 else 'images'} that the model was trained or "
            "validated on (exact or near copies, found by their fingerprints)")
    return Scored(ds.subset(keep, part="test"), cand_ds, left, note, len(left))


def test_copies(parts: Split, dups: Any) -> np.ndarray | None:
    """Per test image of ``parts``: whether the audit found a duplicate of it in the
    training or validation part (None when the audit did not run)."""
    if dups is None:
        return None
    return np.isin(parts.indices["test"], dups.leaked_test(parts.assignment))


def copies_for_saved_model(fingerprints: Any, ds: Dataset, candidates: np.ndarray) -> np.ndarray:
    """Per candidate image: whether it is a copy of an image the saved model was trained
    or validated on."""
    from ..data import to_display

    return fingerprints.copies(to_display(ds.images[candidates], ds.value_max))


def load_for(clf: Any, source: str | Path | Dataset, data_dir: Any = None, on_progress: Any = None) -> Dataset:
    """``source`` at the model's image size and colour mode (``trueclass evaluate``'s
    reading, and ``tc.evaluate``'s when given a source)."""
    if isinstance(source, Dataset):
        return source
    h, w, c = clf.image_shape_
    return load(source, image_size=(h, w), color_mode="L" if c == 1 else "RGB", data_dir=data_dir,
                on_progress=on_progress)


def candidate_images(ds: Dataset) -> tuple[np.ndarray, str]:
    """The images of a source that a saved model may be scored on before its copies are
    left out, and their name: the source's own test part when it comes split, else all."""
    if ds.predefined_split is not None:
        return np.flatnonzero(ds.predefined_split == "test"), "the source's own test part"
    return np.arange(len(ds)), "every image of the source"
