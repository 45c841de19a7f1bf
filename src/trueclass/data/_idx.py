"""Reading IDX files (the MNIST family's format), plain or gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .._errors import TrueclassError

__all__ = ["read_idx", "write_idx"]

# The third byte of the magic number names the element type.
_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _open(path: Path):
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` or not)."""
    path = Path(path)
    if not path.is_file():
        raise TrueclassError(f"IDX file {str(path)!r} does not exist.")
    try:
        with _open(path) as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise TrueclassError(f"IDX file {str(path)!r} could not be read ({exc}); it may be truncated.") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise TrueclassError(f"{str(path)!r} is not an IDX file (its first bytes are not an IDX magic number).")
    dtype = _DTYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise TrueclassError(f"IDX file {str(path)!r} has a broken header.")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise TrueclassError(
            f"IDX file {str(path)!r} should hold {expected:,} bytes of data for shape {shape} "
            f"but holds {len(data) - header:,}; it is truncated or corrupt."
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` (uint8 or int8) as an IDX file; gzipped when the name ends in .gz."""
    path = Path(path)
    array = np.asarray(array)
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}.get(array.dtype)
    if code is None:
        raise TrueclassError("write_idx writes uint8 or int8 arrays only.")
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    payload = header + np.ascontiguousarray(array).tobytes()
    gz = path.suffix == ".gz" if compress is None else compress
    with (gzip.open(path, "wb") if gz else open(path, "wb")) as fh:
        fh.write(payload)
    return path
