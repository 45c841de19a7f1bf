"""Image files to pixels: probing, choosing the set's size and colour mode, and decoding
a chunk at a time into memory or into the disk cache of decoded images (``_cache``)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .._errors import TrueclassError
from ._builtin import cache_dir
from ._cache import DISK_CACHE_MIN_IMAGES, DecodedCache
from ._dataset import PER_IMAGE_KEYS, Skipped, most_common, pixel_digest
from ._images import DEFAULT_MAX_PIXELS, decode, probe

__all__ = ["Decoding", "read_images", "DEFAULT_MAX_SIDE", "MEMORY_LIMIT_BYTES", "DECODE_CHUNK", "available_memory",
           "check_fits_in_memory"]

#: With no --image-size, a set of large photos is scaled so its longer side is at most
#: this: the most common size of phone photos (4032x3024) would need 36 MB an image.
DEFAULT_MAX_SIDE = 256
#: The memory a decoded set may take where the free memory cannot be read (not Linux,
#: no /proc); elsewhere the limit is the memory free now (:func:`available_memory`).
MEMORY_LIMIT_BYTES = 12 * 1024**3
#: A set whose pixels would take more than this share of the free memory goes to the disk
#: cache (cache="auto") even below DISK_CACHE_MIN_IMAGES files: a run from memory holds
#: about four times the decoded set (README, "Sets larger than memory").
MEMORY_SHARE_FOR_CACHE = 0.25
#: The decoded pixels of one chunk held in memory at most while decoding into the cache.
CHUNK_BYTES = 512 * 1024**2

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Decoding:
    """How image files become pixels: the size and colour mode asked for (None and "auto"
    choose from the files), the decompression-bomb limit, progress, and the disk cache."""

    size: tuple[int, int] | None
    color_mode: str
    max_pixels: int = DEFAULT_MAX_PIXELS
    on_progress: Progress | None = None
    cache: bool | str = False
    #: entries whose header reads but whose pixels do not (a truncated file): they do not
    #: vote for the set's size and colour mode, found by a first decoding
    unreadable: frozenset[int] = frozenset()


#: Files decoded at a time: the decoded pixels in memory at once are one chunk's.
DECODE_CHUNK = 1024


def _chosen(how: Decoding, probes: list[Any], notes: dict[str, object]) -> tuple[tuple[int, int], bool]:
    """The size (the most common, a photo's longer side capped) and whether grey (the
    majority), from the voting files' ``probes``, where ``how`` leaves them to the set."""
    size = how.size
    if size is None:
        size = most_common([pr.size for pr in probes])
        if max(size) > DEFAULT_MAX_SIDE:
            scale = DEFAULT_MAX_SIDE / max(size)
            notes["resized_from"] = list(size)
            size = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
    if how.color_mode == "auto":
        n_grey = sum(pr.grey for pr in probes)
        return size, n_grey > len(probes) - n_grey
    return size, how.color_mode == "L"


def _decode_entries(
    entries: list[tuple[str, Any, str | None]], skipped: list[Skipped], how: Decoding,
) -> tuple[np.ndarray, list[tuple[str, Any, str | None]], dict[str, object]]:
    """Probe and decode (path, class, part) entries; bad ones go to ``skipped``.

    Large sets go through the disk cache (see :mod:`._cache`): read back from it when the
    same files were decoded before, else decoded straight into it.
    """
    paths = [e[0] for e in entries]
    store = None
    request = {"size": how.size, "color_mode": how.color_mode, "max_pixels": how.max_pixels}
    if how.cache is True or (how.cache == "auto" and len(entries) >= DISK_CACHE_MIN_IMAGES):
        store = DecodedCache(paths, request)
        if store.hit:
            return _from_cache(store, entries, skipped)
    probes = probe(paths, max_pixels=how.max_pixels, on_progress=_stage(how.on_progress, "reading headers"))
    good = []
    bad = []
    for i, (entry, pr) in enumerate(zip(entries, probes)):
        if pr.ok:
            good.append((i, pr))
        else:
            bad.append((i, pr.reason))
    notes: dict[str, object] = {}
    if not good:
        skipped.extend(Skipped(entries[i][0], reason) for i, reason in bad)
        return np.zeros((0, 1, 1, 1), np.uint8), [], notes
    size, grey = _chosen(how, [pr for i, pr in good if i not in how.unreadable] or [pr for _, pr in good], notes)
    shape = (len(good), size[0], size[1], 1 if grey else 3)
    need = int(np.prod(shape))
    free_memory = available_memory()
    if store is None and how.cache == "auto" and need > MEMORY_SHARE_FOR_CACHE * (free_memory or MEMORY_LIMIT_BYTES):
        store = DecodedCache(paths, request)  # large in bytes, if not in files: decoded onto disk
        if store.hit:
            return _from_cache(store, entries, skipped)
    disk_free, images = None, None
    if store is not None:
        why_not = store.unusable(need)
        if why_not is None:
            try:
                images = store.create(shape)
            except OSError as exc:
                store.abandon()
                why_not = f"the entry could not be created ({exc.strerror or exc})"
        if why_not is not None:
            notes["disk_cache"] = f"not used: {why_not}"
            disk_free = store.free_bytes()
            store = None
    if store is None:  # before any image is decoded
        check_fits_in_memory(len(good), shape[1:], need, free_memory, disk_free=disk_free)
    # the decoded images of one chunk are in memory at once, into the cache too
    per_chunk = max(1, min(DECODE_CHUNK, CHUNK_BYTES // max(1, int(np.prod(shape[1:])))))
    kept: list[int] = []
    content_grey: dict[int, bool] = {}
    try:
        if images is None:
            images = np.empty(shape, dtype=np.uint8)
        report = _stage(how.on_progress, "decoding images")
        for start in range(0, len(good), per_chunk):
            chunk = good[start : start + per_chunk]
            results = decode([entries[i][0] for i, _ in chunk], size, grey, max_pixels=how.max_pixels)
            for (i, _), (arr, reason, grey_content) in zip(chunk, results):
                if arr is None:
                    bad.append((i, reason))
                    continue
                images[len(kept)] = arr
                kept.append(i)
                content_grey[i] = grey_content
            if report is not None:
                report(start + len(chunk), len(good))
        failed = frozenset(i for i, _ in bad) & frozenset(i for i, _ in good)  # headers read, pixels did not
        voters = [pr for i, pr in good if i not in failed]
        if failed - how.unreadable and voters and _chosen(how, voters, {}) != (size, grey):
            # a file that will not decode voted for the size or colour mode: chosen again without it,
            # so that removing a skipped file never changes the images (decoded once more: rare);
            # the first decoding is let go first (its memory, and the cache entry's open memmap)
            images = None
            if store is not None:
                store.abandon()
            return _decode_entries(entries, skipped, replace(how, unreadable=how.unreadable | failed))
        # per image, in image order: what the file was before resizing and conversion (the
        # audit looks for unusual sizes and colour modes, and hashes the files' bytes); grey
        # by content, so grey pictures saved as RGB are grey
        by_index = dict(good)
        meta = {"kept": kept, "bad": sorted(bad), "resized_from": notes.get("resized_from"),
                "sizes": [list(by_index[i].size) for i in kept], "greys": [content_grey[i] for i in kept]}
        if store is not None:
            images = store.finish(images, len(kept), {**meta, "pixel_digest": pixel_digest(images[: len(kept)])})
            return _from_cache(store, entries, skipped, images=images)
    except BaseException:
        if store is not None:
            store.abandon()
        raise
    images, kept_entries, decoded_notes = _decoded(images[: len(kept)], meta, entries, skipped)
    return images, kept_entries, {**notes, **decoded_notes}


def available_memory() -> int | None:
    """Bytes of memory this process may still take: the kernel's MemAvailable (free memory
    plus the page cache it can drop), less where a container's memory limit (cgroup)
    leaves less; None where neither can be read."""
    free = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if free is None:
        try:
            free = int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, OSError, ValueError):
            free = None
    for limit_file, used_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                  ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                   "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text(encoding="ascii").strip()  # closed at once (no ResourceWarning)
            used = int(Path(used_file).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max", or v1's "no limit" (a huge number)
            room = max(0, int(limit) - used)
            free = room if free is None else min(free, room)
        break
    return free


def _gb(nbytes: float) -> str:
    gb = nbytes / 1024**3
    if gb >= 1:
        return f"{gb:,.0f} GB" if gb >= 10 else f"{gb:.1f} GB"
    return f"{nbytes / 1024**2:,.0f} MB" if nbytes >= 1024**2 else f"{nbytes / 1024:,.0f} kB" if nbytes >= 1024 \
        else f"{int(nbytes)} bytes"


def check_fits_in_memory(n: int, image_shape: Sequence[int], need: int, free: int | None, *,
                         disk_free: int | None = None) -> None:
    """A sentence, before any image is decoded, when ``n`` images of ``image_shape``
    (height, width, channels) would need more memory than is free (``free``; where it
    cannot be read, MEMORY_LIMIT_BYTES): with the size each would take, and a side at
    which the set would fit in a quarter of it."""
    limit = MEMORY_LIMIT_BYTES if free is None else free
    if need <= limit:
        return
    h, w, c = (int(v) for v in image_shape)
    have = f"this machine has {_gb(free)} of memory free" if free is not None else \
        f"trueclass cannot read the free memory here and decodes at most {_gb(MEMORY_LIMIT_BYTES)} in memory"
    if disk_free is not None:
        have += f", and the disk of the cache of decoded images ({str(cache_dir() / 'decoded')!r}) has {_gb(disk_free)}"
    side = int(np.sqrt(MEMORY_SHARE_FOR_CACHE * limit / max(1, n * c)))
    side = next((s for s in (1024, 768, 512, 384, 256, 224, 192, 128, 96, 64, 48, 32, 28, 16, 8) if s <= side), 0)
    hint = (f"choose a smaller image_size=N (at {side}x{side} they would need {_gb(n * side * side * c)})" if side
            else "use fewer images at once, or a machine with more memory")
    raise TrueclassError(f"{n:,} images at {w}x{h} {'RGB' if c == 3 else 'grey'} need {_gb(need)} as uint8; "
                         f"{have}; {hint}.")


def _from_cache(store: DecodedCache, entries, skipped: list[Skipped], images: np.ndarray | None = None):
    """A cache entry's images (a memmap) with the entries, skips and notes it records."""
    cached, meta = store.read()
    out = _decoded(cached if images is None else images, meta, entries, skipped)
    out[2]["_pixel_digest"] = meta["pixel_digest"]
    out[2]["disk_cache"] = str(store.folder)
    return out


def _decoded(images: np.ndarray, meta: dict[str, Any], entries, skipped: list[Skipped]):
    skipped.extend(Skipped(entries[i][0], reason) for i, reason in meta["bad"])
    kept = [entries[i] for i in meta["kept"]]
    notes: dict[str, object] = {}
    if meta.get("resized_from"):
        notes["resized_from"] = list(meta["resized_from"])
    notes[PER_IMAGE_KEYS[0]] = np.asarray(meta["sizes"], dtype=np.int64).reshape(-1, 2)
    notes[PER_IMAGE_KEYS[1]] = np.asarray(meta["greys"], dtype=bool)
    notes[PER_IMAGE_KEYS[2]] = np.asarray([e[0] for e in kept], dtype=str)
    return images, kept, notes


def read_images(
    paths: Sequence[str],
    size: tuple[int, int],
    color_mode: str,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_progress: Progress | None = None,
) -> tuple[np.ndarray, list[str], list[Skipped]]:
    """Decode unlabelled image files to one array of ``size`` (height, width) in
    ``color_mode`` ("L" or "RGB"). Returns (images, the paths read, the files skipped)."""
    skipped: list[Skipped] = []
    images, kept, _ = _decode_entries([(str(p), "", None) for p in paths], skipped,
                                      Decoding(size, color_mode, max_pixels, on_progress))
    return images, [e[0] for e in kept], skipped


def read_images_for(image_shape: Sequence[int], paths: Sequence[str]) -> tuple[np.ndarray, list[str], list[Skipped]]:
    """:func:`read_images` the way a model of ``image_shape`` (H, W, C) was trained: at its
    size, in grey for one channel and in colour for three."""
    h, w, c = image_shape
    return read_images(list(paths), (h, w), "L" if c == 1 else "RGB")


def _stage(on_progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    if on_progress is None:
        return None
    return lambda done, total: on_progress(stage, done, total)


def _empty_class_error(name: str, where: str, skipped: list[Skipped]) -> TrueclassError:
    mine = [s for s in skipped if f"/{name}/" in "/" + Path(s.path).as_posix()]
    detail = ""
    if mine:
        shown = "; ".join(f"{Path(s.path).name}: {s.reason}" for s in mine[:3])
        more = f" and {len(mine) - 3} more" if len(mine) > 3 else ""
        detail = f" ({len(mine)} files skipped: {shown}{more})"
    return TrueclassError(
        f"Class folder {name!r} in {where} has no usable images{detail}; add images to it or remove it."
    )



def _decode_classes(entries: list[tuple[str, str, str | None]], skipped: list[Skipped], how: Decoding,
                    names: list[str], where: str, train_where: str | None
                    ) -> tuple[np.ndarray, list[tuple[str, str, str | None]], dict[str, object]]:
    """Decode the (path, class, part) entries of a folder or an archive; a sentence for a
    class left with no usable image (``where``), or, for a split made in advance
    (``train_where``: its train folder), with no usable training image."""
    images, kept, notes = _decode_entries(entries, skipped, how)
    have = Counter(e[1] for e in kept)
    for name in names:
        if have[name] == 0:
            raise _empty_class_error(name, where, skipped)
    if train_where is not None:
        have_train = Counter(e[1] for e in kept if e[2] == "train")
        for name in names:
            if have_train[name] == 0:
                raise TrueclassError(f"Class {name!r} has no usable training images in {train_where}; "
                                     "add some there or remove the class.")
    return images, kept, notes

