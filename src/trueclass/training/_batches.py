"""Batch sources for the trainer: images in memory as a tensor, or on disk read a batch
at a time (see :mod:`trueclass.data._rows`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import ImageRows

__all__ = ["DiskNCHW", "subset_rows", "as_tensor", "resident", "fits_on_device", "RESIDENT_SHARE"]

#: Training images move to a GPU once when they take at most this share of its free memory
#: (Fashion-MNIST's 60,000 images are 47 MB as uint8; the network, its activations and the
#: optimiser keep the rest).
RESIDENT_SHARE = 0.25


class DiskNCHW:
    """(N, H, W, C) images in the disk cache seen as an (N, C, H, W) uint8 tensor: indexing
    reads just the rows asked for (a batch), ``subset_rows`` narrows it without reading."""

    def __init__(self, images: Any):
        self.rows = images if isinstance(images, ImageRows) else ImageRows(images)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        n, h, w, c = self.rows.shape
        return (n, c, h, w)

    def __len__(self) -> int:
        return len(self.rows)

    def subset_rows(self, idx: Any) -> "DiskNCHW":
        return DiskNCHW(self.rows.take(idx.numpy() if hasattr(idx, "numpy") else idx))

    def __getitem__(self, key: Any):
        import torch

        return torch.from_numpy(np.ascontiguousarray(self.rows[key].transpose(0, 3, 1, 2)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:  # noqa: ARG002
        out = np.ascontiguousarray(np.asarray(self.rows).transpose(0, 3, 1, 2))
        return out if dtype is None else out.astype(dtype)


def subset_rows(x: Any, idx: Any) -> Any:
    """Rows ``idx`` of a batch source: a copy for arrays and tensors, still on disk for a
    :class:`DiskNCHW`."""
    return x.subset_rows(idx) if isinstance(x, DiskNCHW) else x[idx]


def as_tensor(x: Any):
    """A batch source the trainer indexes: a torch tensor over an array, or the DiskNCHW."""
    import torch

    return x if isinstance(x, DiskNCHW) else torch.from_numpy(x)


def resident(x: Any, runtime: Any, free_bytes: int | None = None) -> Any:
    """The training images where the training steps run. On a GPU, a tensor in memory is
    moved there once, as stored (uint8 stays uint8), when it fits (:func:`fits_on_device`):
    each step then indexes its batch on the GPU instead of copying it from the host, and the
    host never waits for a copy. On a CPU, for images read from disk a batch at a time, or
    when they do not fit, ``x`` as it is (each batch is copied when it is used)."""
    return x.to(runtime.device) if fits_on_device(x, runtime, free_bytes) else x


def fits_on_device(x: Any, runtime: Any, free_bytes: int | None = None) -> bool:
    """Whether :func:`resident` moves ``x`` to the runtime's GPU: a tensor in memory taking at
    most RESIDENT_SHARE of the GPU's free memory (``free_bytes``; asked of the GPU when None,
    with what torch holds cached but unused counted as free)."""
    if not runtime.is_cuda or isinstance(x, DiskNCHW):
        return False
    if free_bytes is None:
        import torch

        free_bytes = (torch.cuda.mem_get_info(runtime.device)[0] + torch.cuda.memory_reserved(runtime.device)
                      - torch.cuda.memory_allocated(runtime.device))
    return x.numel() * x.element_size() <= RESIDENT_SHARE * free_bytes
