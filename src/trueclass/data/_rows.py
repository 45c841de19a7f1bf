"""Images that stay on disk: rows of a memory-mapped array, read when they are used.

A set decoded into the disk cache is a read-only ``np.memmap`` of shape (N, H, W, C). Its
parts (the training, validation and test images of a split) are :class:`ImageRows`: the
memmap and the row numbers of the part, nothing copied. Indexing an ImageRows reads just
those rows (``rows[batch]`` is an ordinary array), so the trainer, prediction and the
audit's per-chunk work hold one batch in memory, never the set. Anything else (numpy
arithmetic, scikit-learn) sees an array-like that reads its rows on demand: correct
everywhere, and bounded in memory wherever the code goes batch by batch.

numpy's memmap cannot express an arbitrary subset of rows (fancy indexing copies), which
is why this small class exists.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

__all__ = ["ImageRows", "take_rows", "iter_chunks", "is_on_disk"]

#: Rows read at a time when a whole part is streamed (hashing, statistics).
CHUNK_ROWS = 1024


class ImageRows(np.lib.mixins.NDArrayOperatorsMixin):
    """Rows ``index`` of the memory-mapped array ``base``, read on demand."""

    __array_priority__ = 20

    def __init__(self, base: np.ndarray, index: np.ndarray | None = None):
        self.base = base
        self.index = np.arange(len(base), dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)

    # -- what it looks like ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index),) + tuple(self.base.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.base.dtype

    @property
    def ndim(self) -> int:
        return self.base.ndim

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return f"ImageRows({len(self)} of {len(self.base)} rows, shape {self.shape}, on disk)"

    # -- reading -----------------------------------------------------------------------------
    def take(self, rows: Any) -> "ImageRows":
        """Rows ``rows`` of this part, still on disk."""
        return ImageRows(self.base, self.index[np.asarray(rows, dtype=np.int64)])

    def _read(self, index: np.ndarray) -> np.ndarray:
        if len(index) == 0:
            return np.empty((0,) + tuple(self.base.shape[1:]), self.dtype)
        # read in file order (sequential pages), then put the rows back in the order asked
        order = np.argsort(index, kind="stable")
        out = np.empty((len(index),) + tuple(self.base.shape[1:]), self.dtype)
        out[order] = self.base[index[order]]
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        rest: tuple = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if isinstance(key, (int, np.integer)):
            out = np.asarray(self.base[self.index[key]])
            return out[rest] if rest else out
        if hasattr(key, "numpy"):  # a torch tensor of row numbers
            key = key.numpy()
        out = self._read(self.index[key])
        return out[(slice(None),) + rest] if rest else out

    def __iter__(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self), CHUNK_ROWS):
            yield from self[start : start + CHUNK_ROWS]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:  # noqa: ARG002
        out = self._read(self.index)
        return out if dtype is None else out.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(np.asarray(x) if isinstance(x, ImageRows) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def astype(self, dtype: Any, **kwargs: Any) -> np.ndarray:
        return np.asarray(self).astype(dtype, **kwargs)

    def reshape(self, *shape: Any) -> np.ndarray:
        return np.asarray(self).reshape(*shape)

    def transpose(self, *axes: Any) -> np.ndarray:
        return np.asarray(self).transpose(*axes)


def is_on_disk(images: Any) -> bool:
    """True for images read from the disk cache (an ImageRows or a memmap)."""
    return isinstance(images, (ImageRows, np.memmap))


def take_rows(images: Any, rows: Any) -> Any:
    """``images[rows]``, kept on disk when the images are on disk."""
    if isinstance(images, ImageRows):
        return images.take(rows)
    if isinstance(images, np.memmap):
        return ImageRows(images).take(rows)
    return images[np.asarray(rows, dtype=np.int64)]


def iter_chunks(images: Any, size: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
    """The images as consecutive in-memory chunks of at most ``size`` rows."""
    for start in range(0, len(images), size):
        yield np.asarray(images[start : start + size])
