"""The Dataset: plain arrays of images and labels, with where they came from.

The data layer never imports torch (nor scikit-learn): a Dataset is numpy arrays and a
few strings, so it loads fast and can be handed to any model.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._errors import TrueclassError
from ._rows import is_on_disk, iter_chunks, take_rows

__all__ = ["Dataset", "content_hash", "Skipped", "SPLIT_FOLDERS"]

#: Provenance entries that hold one value per image (sliced along with the images):
#: the file's own (height, width), whether it was grey, its path, its capture session (a
#: studio project), and a manifest's other columns (N, K text; their names under
#: ``image_column_names``).
#: In a Dataset's provenance: its labels were given as numbers (the lesson's y, the digits),
#: so a model trained on it answers numbers (its classes_), as one fitted on the arrays does.
NUMBER_LABELS = "number_labels"
PER_IMAGE_KEYS = ("image_original_size", "image_original_grey", "image_files", "capture_sessions", "image_columns")


@dataclass(frozen=True)
class Skipped:
    """A file that was not loaded, and why."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


def pixel_digest(images: Any) -> str:
    """A SHA-256 of the images' shape and pixels, read chunk by chunk (images on disk
    are never loaded whole)."""
    h = hashlib.sha256()
    h.update(repr(tuple(images.shape)).encode())
    for chunk in iter_chunks(images):
        h.update(np.ascontiguousarray(chunk).data)
    return h.hexdigest()


def content_hash(images: Any, labels: np.ndarray, classes: Sequence[str], *, pixels: str | None = None) -> str:
    """A SHA-256 of the pixels (their :func:`pixel_digest`, or ``pixels`` when it is
    already known), the labels and the class names, in that order.

    Two datasets with the same hash hold the same images with the same labels, whatever
    files or format they were read from.
    """
    h = hashlib.sha256()
    h.update((pixels or pixel_digest(images)).encode())
    h.update(np.ascontiguousarray(labels.astype(np.int64)).tobytes())
    h.update("\x00".join(classes).encode("utf-8"))
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True, eq=False)
class Dataset:
    """Labelled images as plain arrays.

    Attributes
    ----------
    images : uint8 array of shape (N, H, W, C), C = 1 (grey) or 3 (colour). A large set
        of files is read from the disk cache instead: a read-only memmap, and its parts
        :class:`~trueclass.data._rows.ImageRows`, which read their rows when indexed.
    labels : int array of shape (N,), indices into ``classes``.
    classes : the class names, in label order.
    ids : one string per image: its file path, or its index in the source.
    value_max : the value of a white pixel. 255 for almost every source; 16 for
        scikit-learn's digits, which keep their original 0-16 values so the lesson's
        numbers are reproduced exactly.
    provenance : where the images came from: ``source``, ``hash``, ``skipped`` (list of
        :class:`Skipped`), and anything else the loader knows.
    predefined_split : None, or one of "train", "val", "test" per image when the source
        comes already split (Fashion-MNIST, a folder with train/ and test/).
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    ids: np.ndarray
    value_max: int = 255
    provenance: dict[str, Any] = field(default_factory=dict)
    predefined_split: np.ndarray | None = None

    def __post_init__(self) -> None:
        images = self.images if is_on_disk(self.images) else np.asarray(self.images)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise TrueclassError(
                f"Images must be an array of shape (N, H, W) or (N, H, W, C) with C = 1 or 3; "
                f"got shape {images.shape}."
            )
        if images.dtype != np.uint8:
            raise TrueclassError(f"Dataset images must be uint8; got {images.dtype}.")
        labels = np.asarray(self.labels).astype(np.int64, copy=False)
        classes = tuple(str(c) for c in self.classes)
        if labels.ndim == 2:  # multi-label: a 0/1 matrix, one column per class
            if labels.shape != (len(images), len(classes)) or (labels.size and not np.isin(labels, (0, 1)).all()):
                raise TrueclassError(
                    f"Multi-label labels must be a 0/1 matrix of shape ({len(images)}, {len(classes)}); "
                    f"got {labels.shape}."
                )
        elif labels.shape != (len(images),):
            raise TrueclassError(
                f"There are {len(images)} images but {labels.shape[0] if labels.ndim else 0} labels; "
                "each image needs exactly one label."
            )
        elif len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
            raise TrueclassError("Labels must be indices into the class names.")
        ids = np.asarray(self.ids if self.ids is not None else np.arange(len(images))).astype(str)
        if ids.shape != (len(images),):
            raise TrueclassError("There must be one id per image.")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "ids", ids)
        if self.predefined_split is not None:
            object.__setattr__(self, "predefined_split", np.asarray(self.predefined_split).astype(str))
        prov = dict(self.provenance)
        prov.setdefault("source", "arrays")
        prov.setdefault("skipped", [])
        # the disk cache knows its pixels' digest: a cached set is not read to be hashed
        prov["hash"] = content_hash(images, labels, classes, pixels=prov.pop("_pixel_digest", None))
        object.__setattr__(self, "provenance", prov)

    # -- shape -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of every image."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    @property
    def channels(self) -> int:
        return int(self.images.shape[3])

    @property
    def color_mode(self) -> str:
        """"L" for grey images, "RGB" for colour."""
        return "L" if self.channels == 1 else "RGB"

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def hash(self) -> str:
        return self.provenance["hash"]

    @property
    def skipped(self) -> list[Skipped]:
        return list(self.provenance.get("skipped", []))

    @property
    def multilabel(self) -> bool:
        """True when each image may carry several labels (``labels`` is an (N, K) 0/1 matrix)."""
        return self.labels.ndim == 2

    def label_names(self, i: int) -> list[str]:
        """The class name(s) of image ``i``."""
        if self.multilabel:
            return [c for c, v in zip(self.classes, self.labels[i]) if v]
        return [self.classes[self.labels[i]]]

    def counts(self) -> dict[str, int]:
        """Images per class, every class listed (zero included)."""
        if self.multilabel:
            c = self.labels.sum(axis=0)
        else:
            c = np.bincount(self.labels, minlength=self.n_classes)
        return {name: int(n) for name, n in zip(self.classes, c)}

    # -- slicing -----------------------------------------------------------------------
    def subset(self, indices: Sequence[int] | np.ndarray, *, part: str | None = None) -> "Dataset":
        """The images at ``indices`` (in that order), keeping classes and provenance."""
        idx = np.asarray(indices, dtype=np.int64)
        prov = dict(self.provenance)
        for key in PER_IMAGE_KEYS:  # per-image notes follow their images
            if key in prov:
                prov[key] = np.asarray(prov[key])[idx]
        prov["parent_hash"] = self.hash
        if part is not None:
            prov["part"] = part
        return replace(
            self,
            images=take_rows(self.images, idx),
            labels=self.labels[idx],
            ids=self.ids[idx],
            provenance=prov,
            predefined_split=None if self.predefined_split is None else self.predefined_split[idx],
        )

    def display_images(self) -> np.ndarray:
        """Images as uint8 0-255 for drawing and saving (digits' 0-16 scaled up)."""
        return to_display(self.images, self.value_max)

    # -- looking at it -----------------------------------------------------------------
    def show(self, i: int = 0, ax: Any = None):
        """Draw image ``i`` with its label; returns the matplotlib Axes."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TrueclassError(
                f"show() takes the number of an image (0 to {len(self) - 1}), not {type(i).__name__} "
                f"{str(i)[:40]!r}; to draw an array of pixels, use matplotlib's imshow.")
        if not 0 <= i < len(self):
            raise TrueclassError(f"There is no image {i}: this dataset has {len(self)} images (0 to {len(self) - 1}).")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(2.5, 2.5))
        img = self.display_images()[i]
        if img.shape[-1] == 1:
            ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(img, interpolation="nearest")
        ax.set_title(f"{', '.join(self.label_names(i)) or '(no label)'}  (#{i})")
        ax.set_axis_off()
        return ax

    def summary(self) -> str:
        h, w = self.image_size
        counts = self.counts()
        lines = [
            f"{len(self)} images of {w}x{h} {self.color_mode} in {self.n_classes} classes "
            f"from {self.provenance.get('source')}",
            "per class: " + ", ".join(f"{k}={v}" for k, v in counts.items()),
        ]
        if self.skipped:
            lines.append(f"{len(self.skipped)} files skipped (see .skipped)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        h, w = self.image_size
        return (
            f"Dataset({len(self)} images, {w}x{h} {self.color_mode}, {self.n_classes} classes, "
            f"source={self.provenance.get('source')!r}, skipped={len(self.skipped)})"
        )


def to_display(images: np.ndarray, value_max: int) -> np.ndarray:
    """Images in 0..value_max (uint8, or floats in any units) as uint8 in 0..255."""
    if value_max == 255 and images.dtype == np.uint8:
        return images
    return np.clip(np.rint(images.astype(np.float32) * (255.0 / value_max)), 0, 255).astype(np.uint8)


def most_common(values: Sequence[Any]) -> Any:
    """The most frequent value; ties go to the first seen."""
    return Counter(values).most_common(1)[0][0]


#: Folder names recognised as a ready-made split, and the part each stands for.
SPLIT_FOLDERS = {"train": "train", "test": "test", "val": "val", "valid": "val", "validation": "val"}


# -- what every file source ends with: the Dataset and its checks -------------------------
def _build(
    images: np.ndarray,
    kept: list[tuple[str, str, str | None]],
    class_names: Sequence[str],
    skipped: list[Skipped],
    source: str,
    root: Path,
    notes: dict[str, object],
    *,
    multilabel: bool = False,
) -> Dataset:
    index = {c: i for i, c in enumerate(class_names)}
    parts = [e[2] for e in kept]
    if multilabel:
        labels = np.zeros((len(kept), len(class_names)), dtype=np.int64)
        for row, e in enumerate(kept):
            labels[row, [index[n] for n in e[1]]] = 1
    else:
        labels = np.array([index[e[1]] for e in kept], dtype=np.int64)
    ds = Dataset(
        images=images,
        labels=labels,
        classes=tuple(class_names),
        ids=np.array([_relative(e[0], root) for e in kept]),
        provenance={
            "source": source,
            "skipped": sorted(skipped, key=lambda s: s.path),
            **notes,
        },
        predefined_split=np.array(parts) if parts and parts[0] is not None else None,
    )
    return ds


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return path


def _check_classes(ds: Dataset, where: str) -> Dataset:
    counts = ds.counts()
    if len(ds) == 0:
        raise TrueclassError(f"No usable images were found in {where}.")
    empty = [c for c, n in counts.items() if n == 0]
    if empty:
        raise TrueclassError(
            f"Class {empty[0]!r} has no usable images in {where}; add images to it or remove it."
        )
    if ds.n_classes < 2 and not ds.multilabel:
        raise TrueclassError(
            f"Only one class ({ds.classes[0]!r}) was found in {where}; a classifier needs at least two. "
            "Put each class's images in its own subfolder."
        )
    return ds
