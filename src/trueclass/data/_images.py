"""Decoding image files safely: every failure becomes a reason, never a crash.

Two passes over the files: ``probe`` reads only headers (format, mode, size) so the set's
common size and colour mode can be chosen; ``decode`` then loads, orients, converts and
resizes each image. Both run in a thread pool: Pillow releases the GIL while it decodes
and resizes, so threads use every core without copying arrays between processes.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ._archives import MissingImage, open_source, source_size

from .._errors import TrueclassError

__all__ = [
    "SUPPORTED_FORMATS",
    "IMAGE_SUFFIXES",
    "DEFAULT_MAX_PIXELS",
    "Probe",
    "probe",
    "decode",
    "parse_image_size",
    "n_workers",
    "iter_files",
    "trueclass_folder",
]

#: Pillow format names we read. MPO is how Pillow names some camera JPEGs.
SUPPORTED_FORMATS = frozenset({"PNG", "JPEG", "MPO", "BMP", "GIF", "WEBP", "TIFF"})
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".dib"}
)
#: Images with more pixels than this are skipped as possible decompression bombs
#: (Pillow's own warning limit, about 89 megapixels).
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485

_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F", "La"})


def n_workers() -> int:
    """Worker threads for decoding: one per core this process may use (under torchrun,
    its share of the cores of the machine)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def parse_image_size(value: str | int | Sequence[int] | None) -> tuple[int, int] | None:
    """``32`` -> (32, 32); ``"48x32"`` (width x height) -> (32, 48) as (height, width)."""
    if value is None:
        return None
    if isinstance(value, int):
        hw: tuple[int, ...] = (value, value)
    elif isinstance(value, str):
        parts = value.lower().replace(" ", "").split("x")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            nums = []
        if len(nums) == 1:
            hw = (nums[0], nums[0])
        elif len(nums) == 2:
            hw = (nums[1], nums[0])  # written WIDTHxHEIGHT, as image editors do
        else:
            raise TrueclassError(
                f"Image size {value!r} is not understood; write one number (32) or WIDTHxHEIGHT (48x32)."
            )
    else:
        hw = tuple(int(v) for v in value)
        if len(hw) != 2:
            raise TrueclassError("Image size must be (height, width).")
    if min(hw) < 1 or max(hw) > 4096:
        raise TrueclassError(f"Image size {value!r} must be between 1 and 4096 pixels a side.")
    return int(hw[0]), int(hw[1])


@dataclass(frozen=True)
class Probe:
    """What a file's header says, or why it cannot be used."""

    path: str
    ok: bool
    reason: str = ""
    size: tuple[int, int] = (0, 0)  # (height, width) after EXIF orientation
    grey: bool = True


def _probe_one(path: str, max_pixels: int) -> Probe:
    try:
        if source_size(path) == 0:
            return Probe(path, False, "empty file (0 bytes)")
        with Image.open(open_source(path)) as im:
            fmt = im.format or "unknown"
            if fmt not in SUPPORTED_FORMATS:
                return Probe(path, False, f"unsupported image format {fmt}")
            w, h = im.size
            if w * h > max_pixels:
                return Probe(
                    path, False,
                    f"oversized image ({w}x{h} = {w * h:,} pixels, limit {max_pixels:,}): possible decompression bomb",
                )
            orientation = im.getexif().get(0x0112, 1) if fmt in {"JPEG", "MPO", "TIFF", "WEBP", "PNG"} else 1
            if orientation in (5, 6, 7, 8):
                w, h = h, w
            grey = im.mode in _GREY_MODES or (im.mode == "P" and _palette_is_grey(im))
            return Probe(path, True, size=(h, w), grey=grey)
    except MissingImage as exc:
        return Probe(path, False, str(exc))
    except FileNotFoundError:
        return Probe(path, False, "file not found")
    except PermissionError:
        return Probe(path, False, "cannot read file (permission denied)")
    except IsADirectoryError:
        return Probe(path, False, "is a folder, not an image")
    except UnidentifiedImageError:
        return Probe(path, False, "not an image (or an unknown format)")
    except Image.DecompressionBombError as exc:
        return Probe(path, False, f"oversized image: possible decompression bomb ({exc})")
    except (OSError, SyntaxError, ValueError) as exc:
        return Probe(path, False, f"corrupt image header ({exc})")


def _palette_is_grey(im: Image.Image) -> bool:
    pal = im.getpalette() or []
    rgb = np.asarray(pal[: (len(pal) // 3) * 3], dtype=np.int32).reshape(-1, 3)
    return bool(len(rgb) == 0 or (np.all(rgb[:, 0] == rgb[:, 1]) and np.all(rgb[:, 1] == rgb[:, 2])))


def probe(
    paths: Sequence[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Probe]:
    """Read the headers of ``paths`` in parallel, in order."""
    return _map(lambda p: _probe_one(p, max_pixels), paths, on_progress)


def _to_mode(im: Image.Image, grey: bool) -> Image.Image:
    """Convert any mode to 8-bit L or RGB, scaling 16-bit and float images properly."""
    mode = im.mode
    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        # Pillow's convert("L") clips 16-bit values instead of scaling them.
        a = np.asarray(im, dtype=np.float64)
        top = 1.0 if mode == "F" and a.max(initial=0) <= 1.0 else (255.0 if a.max(initial=0) <= 255 else 65535.0)
        a = np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8)
        im = Image.fromarray(a)
        mode = "L"
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        # Transparent pixels are laid on white paper.
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba).convert("RGB")
    target = "L" if grey else "RGB"
    if im.mode != target:
        im = im.convert(target)
    return im


def content_is_grey(rgb: np.ndarray) -> bool:
    """Whether a uint8 (H, W, 3) picture is grey in content (its channels equal but for
    the odd unit a JPEG's colour subsampling leaves), whatever mode its file was saved in."""
    x = rgb.astype(np.int16)
    return bool(np.abs(x[..., 0] - x[..., 1]).mean() < 1.0 and np.abs(x[..., 1] - x[..., 2]).mean() < 1.0)


def _decode_one(path: str, size: tuple[int, int], grey: bool, max_pixels: int
                ) -> tuple[np.ndarray | None, str, bool]:
    h, w = size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(open_source(path)) as im:
                if im.width * im.height > max_pixels:
                    return None, f"oversized image ({im.width}x{im.height}): possible decompression bomb", False
                if im.format in ("JPEG", "MPO"):
                    im.draft("L" if grey else "RGB", (w, h))  # decode JPEGs at reduced scale: much faster
                im.load()
                im = ImageOps.exif_transpose(im)
                colour_file = im.mode not in _GREY_MODES
                if grey and colour_file:  # (converted to grey below): is its content grey already?
                    small = im.convert("RGB")
                    small.thumbnail((64, 64))
                    grey_content = content_is_grey(np.asarray(small))
                im = _to_mode(im, grey)
                if im.size != (w, h):
                    im = im.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=3.0)
                arr = np.asarray(im, dtype=np.uint8)
    except Image.DecompressionBombWarning as exc:
        return None, f"oversized image: possible decompression bomb ({exc})", False
    except Image.DecompressionBombError as exc:
        return None, f"oversized image: possible decompression bomb ({exc})", False
    except MissingImage as exc:
        return None, str(exc), False
    except FileNotFoundError:
        return None, "file not found", False
    except PermissionError:
        return None, "cannot read file (permission denied)", False
    except UnidentifiedImageError:
        return None, "not an image (or an unknown format)", False
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        return None, f"truncated or corrupt image ({exc})", False
    if arr.ndim == 2:
        arr = arr[..., None]
    if not colour_file:
        grey_content = True
    elif not grey:
        grey_content = content_is_grey(arr)
    return arr, "", grey_content


def decode(
    paths: Sequence[str],
    size: tuple[int, int],
    grey: bool,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[tuple[np.ndarray | None, str, bool]]:
    """Decode ``paths`` to uint8 arrays of ``size`` (height, width), in order.

    Each result is ``(array, "", grey content)`` or ``(None, reason, False)``: whether the
    picture is grey in content, whatever mode its file was saved in.
    """
    return _map(lambda p: _decode_one(p, size, grey, max_pixels), paths, on_progress)


def _map(fn, items: Sequence[str], on_progress: Callable[[int, int], None] | None) -> list:
    total = len(items)
    if total == 0:
        return []
    out = []
    step = max(1, total // 100)
    with ThreadPoolExecutor(max_workers=n_workers()) as pool:
        for i, result in enumerate(pool.map(fn, items, chunksize=16), start=1):
            out.append(result)
            if on_progress is not None and (i % step == 0 or i == total):
                on_progress(i, total)
    return out


def iter_files(root: Path, own: list[tuple[Path, str]] | None = None) -> Iterable[Path]:
    """Every file under ``root`` in the order of their paths' parts, name by name (a
    subfolder's files where its name sorts, as an archive of the folder lists them, so a
    folder and its .zip give one order, one hash and one split), hidden ones included.
    Links to folders are not followed. Given a list ``own``, the folders trueclass wrote
    (see :func:`trueclass_folder`) are not walked; each is appended to ``own`` as
    (folder, what it is)."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:  # unreadable: as os.walk, nothing from it
        return
    for entry in entries:
        path = Path(root) / entry.name
        if entry.is_dir(follow_symlinks=False):
            kind = None if own is None or entry.name.startswith(".") else trueclass_folder(path)
            if kind is not None:
                own.append((path, kind))
            else:
                yield from iter_files(path, own)
        elif not entry.is_dir():  # a file, or a link to one (a link to a folder is not followed)
            yield path


#: What trueclass writes, recognised by the files each folder holds: a run (config.json
#: with its metrics, its model or its checkpoint), a model folder (model.json beside its
#: weights), a stress test's results and a comparison. Their images (errors/, stress/,
#: explain/) are trueclass's output, never data.
_RUN_FILES = ("metrics.json", "model/model.json", "checkpoint.safetensors")
_MODEL_WEIGHTS = ("weights.safetensors", "weights.skops")


def trueclass_folder(path: Path) -> str | None:
    """What ``path`` is when trueclass wrote it ("a trueclass run folder", "a folder of
    trueclass runs", "trueclass's cache", ...), else None: a folder source never reads
    these as images."""
    if _is_cache(path):
        return "trueclass's cache"
    kind = _own_output(path)
    if kind is not None:
        return kind
    # runs/: every folder in it is trueclass's output, and no image lies beside them
    subdirs = []
    try:
        with os.scandir(path) as it:  # the entries' types come with the listing: no stat a file
            for entry in it:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    subdirs.append(Path(entry.path))
                elif Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                    return None
    except OSError:
        return None
    if subdirs and all(_own_output(c) is not None for c in subdirs):
        return "a folder of trueclass runs"
    return None


def _own_output(path: Path) -> str | None:
    if (path / "config.json").is_file() and any((path / f).is_file() for f in _RUN_FILES):
        return "a trueclass run folder"
    if (path / "model.json").is_file() and any((path / f).is_file() for f in _MODEL_WEIGHTS):
        return "a trueclass model folder"
    if (path / "stress.json").is_file():
        return "a trueclass stress test's results"
    if (path / "comparison.json").is_file():
        return "a trueclass comparison"
    return None


def _is_cache(path: Path) -> bool:
    """``path`` is trueclass's cache ($TRUECLASS_CACHE; a walk that meets it does not go in)."""
    from ._builtin import cache_dir

    try:
        return path.resolve() == cache_dir().resolve()
    except OSError:
        return False


def is_hidden(path: Path, root: Path) -> bool:
    """True if the file or any folder between ``root`` and it starts with a dot."""
    return any(p.startswith(".") for p in path.relative_to(root).parts)
