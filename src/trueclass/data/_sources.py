"""``trueclass.load(source)``: every kind of source becomes a Dataset.

A source is a built-in name (``digits``), ``idx:IMAGES,LABELS``, an ``.npz`` file, a
``.csv`` manifest, a folder of class subfolders (optionally inside train/ and test/) or a
zip or tar archive of one, Hugging Face style Parquet files, or WebDataset tar shards
(a file, or a folder of shards).
Bad files never crash a load: each is skipped and listed, with its reason, in
``dataset.provenance["skipped"]``.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._errors import TrueclassError
from ._builtin import BUILTIN_DATASETS, load_builtin
from ._dataset import NUMBER_LABELS, PER_IMAGE_KEYS, SPLIT_FOLDERS, Dataset, Skipped, _build, _check_classes
from ._decoding import DEFAULT_MAX_SIDE, MEMORY_LIMIT_BYTES, Decoding, Progress, _decode_classes, _decode_entries
from ._decoding import read_images
from ._decoding import available_memory, check_fits_in_memory, read_images_for
from ._archives import ARCHIVE_NOISE, archive_members
from ._idx import read_idx
from ._images import DEFAULT_MAX_PIXELS, is_hidden, iter_files, parse_image_size, trueclass_folder

__all__ = ["load", "read_images", "read_images_for", "array_to_images", "SPLIT_FOLDERS", "DEFAULT_MAX_SIDE", "MEMORY_LIMIT_BYTES"]

#: The kinds of labelled source trueclass reads, in the words every message and help text
#: uses (the built-in names aside): one list, so no door names fewer.
SOURCE_KINDS = ("a folder of class subfolders (or of train/ and test/ holding them, or a .zip or .tar of one), a .csv "
                "manifest with path,label columns, an .npz with X and y, a Parquet file, WebDataset .tar shards, or "
                "idx:IMAGES,LABELS")

#: A folder holding one of these is read as a manifest (path,label or path,labels).
LABEL_FILES = ("labels.csv",)
#: A studio project: class folders plus this manifest, which names each image's class and
#: capture session (one hold-to-record burst, one upload, one drawing).
PROJECT_FILE = "trueclass-project.json"

def load(
    source: str | Path = "digits",
    *,
    image_size: int | str | Sequence[int] | None = None,
    color_mode: str = "auto",
    data_dir: str | Path | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_progress: Progress | None = None,
    value_max: int | None = None,
    cache: bool | str = "auto",
) -> Dataset:
    """Load labelled images from ``source`` into a :class:`Dataset`.

    Parameters
    ----------
    source : "digits" (default), "fashion-mnist", "idx:IMAGES,LABELS", a pair of arrays
        ``(X, y)``, a path to an ``.npz`` (arrays ``X`` and ``y``, optional ``value_max``), a ``.csv`` manifest (``path,label`` columns,
        paths relative to the CSV, optional ``split`` column), a folder with one
        subfolder per class, or with ``train/`` and ``test/`` (and ``val/``) subfolders
        each holding class subfolders, a ``.zip`` or ``.tar`` of such a folder, a
        Hugging Face style ``.parquet`` file (an ``image`` column and a ``label``
        column), a WebDataset ``.tar`` shard (``KEY.jpg`` beside ``KEY.cls`` or
        ``KEY.json``), or a folder of Parquet files or of tar shards. Shards named
        ``train-*``/``test-*``/``validation-*`` (or inside folders of those names) keep
        their split.
    image_size : every image is resized to this: one number (32), "WIDTHxHEIGHT" as image
        editors write it (and trueclass prints it), or a (height, width) pair as numpy's shape.
        Default: the most common size in the set (longer side capped at 256 for photos).
    color_mode : "auto" (the most common of grey and colour in the set), "L" or "RGB".
    data_dir : where to look first for a built-in data set's files.
    max_pixels : larger images are skipped as possible decompression bombs.
    on_progress : called as ``on_progress(stage, done, total)`` while files are read.
    value_max : the white level of ``(X, y)`` arrays or an .npz without one (16 for the
        digits); inferred when not given.
    cache : image files are decoded into the disk cache ($TRUECLASS_CACHE/decoded) and
        read from it as a memory map: "auto" (default) for sets of 2,000 files or more
        and for sets whose pixels would take more than a quarter of the free memory,
        True for any set, False never. A second load of the same files (same paths, sizes
        and modification times, same image_size and color_mode) skips decoding, and a set
        larger than memory can be trained on.
    """
    if cache not in ("auto", True, False):
        raise TrueclassError(f"cache must be 'auto', True or False, not {cache!r}.")
    if color_mode not in ("auto", "L", "RGB"):
        raise TrueclassError(f"color_mode must be 'auto', 'L' or 'RGB', not {color_mode!r}.")
    size = parse_image_size(image_size)
    if not isinstance(source, (str, Path, tuple)):  # an array where a source belongs (tc.load(X_test[0]))
        raise TrueclassError(
            "tc.load takes a data source such as 'digits', a folder or a pair (X_test, y_test), not images on "
            "their own: give the labels with them, as in tc.load((X_test, y_test)), or look at one image with "
            "tc.show_image(X_test[0])."
        )
    if isinstance(source, tuple) and len(source) == 2:  # (X, y) arrays, as train_test_split gives them
        return _resize_arrays(from_arrays(*source, value_max=value_max), size, color_mode)
    if isinstance(source, tuple):
        raise TrueclassError(f"tc.load takes a pair (X, y) of images and their labels; got a tuple of {len(source)} "
                             "item" + ("" if len(source) == 1 else "s") + ".")
    text = str(source)
    if isinstance(source, str) and text.lower() in BUILTIN_DATASETS:
        if data_dir is not None and not Path(data_dir).expanduser().is_dir():  # not passed over in silence
            raise TrueclassError(f"The data folder {str(data_dir)!r} is not a folder on this machine; give the folder "
                                 "that holds the data set's files with data_dir=FOLDER, or leave it out to look in "
                                 "the usual places.")
        ds = load_builtin(text.lower(), data_dir=data_dir)
        return _resize_arrays(ds, size, color_mode)
    if text.startswith("idx:"):
        return _resize_arrays(_load_idx_pair(text[4:]), size, color_mode)
    path = Path(text).expanduser()
    if not path.exists():
        raise TrueclassError(
            f"No such file or folder: {text!r}. Give {SOURCE_KINDS.replace(', or idx:', ', idx:')}, or a built-in "
            f"name ({', '.join(BUILTIN_DATASETS)})."
        )
    how = Decoding(size, color_mode, max_pixels, on_progress, cache)
    if path.is_dir():
        return _load_folder(path, how)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _load_archive(path, how)
    if suffix in (".tar", ".parquet"):
        from ._shards import is_webdataset, load_shards

        if suffix == ".tar" and not is_webdataset(path):
            return _load_archive(path, how)
        return load_shards([path], path.parent, how)
    if path.name.lower().endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        raise TrueclassError(f"{text!r} is a compressed tar archive, which cannot be read in place; unpack it, or "
                             "give an uncompressed .tar (WebDataset shards are uncompressed tars).")
    if suffix == ".npz":
        return _resize_arrays(_load_npz(path), size, color_mode)
    if suffix in (".csv", ".tsv", ".txt"):
        return _load_csv(path, how)
    raise TrueclassError(f"{text!r} is a file trueclass does not know how to read as a labelled set; give "
                         f"{SOURCE_KINDS}.")


# -- arrays ------------------------------------------------------------------------------
def array_to_images(X: np.ndarray, *, name: str = "X") -> np.ndarray:
    """Any numeric image array (N,H,W), (N,H,W,C) or square-flattened (N,D) as uint8 NHWC."""
    X = np.asarray(X)
    if X.dtype.kind not in "uifb":
        raise TrueclassError(f"{name} must hold numbers; it holds {X.dtype}.")
    if X.ndim == 2:
        n, d = X.shape
        side = int(round(np.sqrt(d)))
        side3 = int(round(np.sqrt(d / 3)))
        if side * side == d:
            X = X.reshape(n, side, side, 1)
        elif 3 * side3 * side3 == d:
            X = X.reshape(n, side3, side3, 3)
        else:
            raise TrueclassError(
                f"{name} has {d} values per row, which is not a square image; store it with shape (N, H, W)."
            )
    elif X.ndim == 3:
        X = X[..., None]
    elif X.ndim == 4 and X.shape[-1] not in (1, 3) and X.shape[1] in (1, 3):
        X = np.moveaxis(X, 1, -1)  # channels first (N, C, H, W)
    if X.ndim != 4 or X.shape[-1] not in (1, 3):
        raise TrueclassError(f"{name} must have shape (N, H, W), (N, H, W, C) or (N, H*W); got {X.shape}.")
    if X.dtype == np.uint8:
        return X
    Xf = X.astype(np.float64)
    if Xf.size and (not np.isfinite(Xf).all()):
        raise TrueclassError(f"{name} contains NaN or infinite values.")
    lo, hi = (float(Xf.min()), float(Xf.max())) if Xf.size else (0.0, 1.0)
    if lo < 0:
        raise TrueclassError(f"{name} has negative pixel values; give pixels from 0 to 1 or 0 to 255.")
    if X.dtype.kind == "f" and hi <= 1.0:
        Xf = Xf * 255.0
    elif hi > 255:
        raise TrueclassError(f"{name} has pixel values up to {hi:g}; give pixels from 0 to 1 or 0 to 255.")
    return np.clip(np.rint(Xf), 0, 255).astype(np.uint8)


def _labels_to_indices(y: np.ndarray, classes: Sequence[str] | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    y = np.asarray(y)
    if y.ndim != 1:
        raise TrueclassError(f"Labels must be one value per image; got shape {y.shape}.")
    if classes is not None and y.dtype.kind in "iu":
        return y.astype(np.int64), tuple(str(c) for c in classes)
    values, idx = np.unique(y, return_inverse=True)
    return idx.astype(np.int64), tuple(str(v) for v in values)


def _resize_arrays(ds: Dataset, size: tuple[int, int] | None, color_mode: str) -> Dataset:
    """Apply image_size and color_mode to a set that was loaded from arrays."""
    want_c = {"L": 1, "RGB": 3}.get(color_mode, ds.channels)
    if (size is None or size == ds.image_size) and want_c == ds.channels:
        return ds
    from dataclasses import replace

    from PIL import Image

    h, w = size or ds.image_size
    check_fits_in_memory(len(ds), (h, w, want_c), len(ds) * h * w * want_c, available_memory())
    out = np.empty((len(ds), h, w, want_c), dtype=np.uint8)
    for i, img in enumerate(ds.images):
        im = Image.fromarray(img[..., 0] if ds.channels == 1 else img)
        im = im.convert("L" if want_c == 1 else "RGB")
        if im.size != (w, h):
            im = im.resize((w, h), Image.Resampling.BILINEAR)
        a = np.asarray(im)
        out[i] = a[..., None] if a.ndim == 2 else a
    return replace(ds, images=out)


def _load_idx_pair(spec: str) -> Dataset:
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) != 2 or not all(parts):
        raise TrueclassError("Write an IDX source as idx:IMAGES,LABELS (two file paths separated by a comma).")
    images = read_idx(Path(parts[0]).expanduser())
    labels = read_idx(Path(parts[1]).expanduser())
    if len(images) != len(labels):
        raise TrueclassError(
            f"The IDX images file holds {len(images)} images but the labels file holds {len(labels)} labels."
        )
    idx, classes = _labels_to_indices(labels)
    ds = Dataset(
        images=array_to_images(images, name="IDX images"),
        labels=idx,
        classes=classes,
        ids=np.arange(len(images)).astype(str),
        provenance={"source": f"idx:{parts[0]},{parts[1]}"},
    )
    return _check_classes(ds, spec)


def infer_value_max(images: np.ndarray) -> int:
    """The white level of images given as arrays without one, the one rule for the
    loader, the estimator and the plots: 1 for floats from 0 to 1, 16 when no pixel
    exceeds 16 (scikit-learn's digits are 0-16), 255 when none exceeds 255, else the
    largest value rounded up."""
    images = np.asarray(images)
    top = float(images.max(initial=0))
    if images.dtype.kind in "fb" and top <= 1.0:
        return 1
    for level in (16, 255):
        if top <= level:
            return level
    return int(np.ceil(top))


def labels_problem(y: Any) -> str | None:
    """The one sentence for labels that cannot be labels, in the lesson's words, or None:
    a word or a single value where the list of labels belongs (``fit(X, "y_train")``),
    or numbers and words mixed (``[0, "cat", 1]``)."""
    if isinstance(y, str):
        if y.isidentifier():
            return (f"The labels must be a list with one label per image, not the text {y!r}: write {y} without "
                    "quotes so that Python uses the variable.")
        return f"The labels must be a list with one label per image (like y_train), not the text {y!r}."
    try:
        scalar = y is not None and np.asarray(y).ndim == 0
    except ValueError:  # ragged: the checks that follow say what is wrong
        return None
    if scalar:
        return f"The labels must be a list with one label per image (like y_train), not the single value {y}."
    if y is None or not hasattr(y, "__len__") or (isinstance(y, np.ndarray) and y.dtype != object):
        return None
    values = np.asarray(y, dtype=object).ravel()
    words = [v for v in values if isinstance(v, (str, bytes))]
    numbers = [v for v in values if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)]
    if words and numbers:
        return (f"The labels mix numbers and words (such as {numbers[0]} and {words[0]!r}): write every label the "
                "same way, all numbers or all words (y.astype(str) makes them all words).")
    return None


def from_arrays(X: Any, y: Any, *, value_max: int | None = None, source: str = "arrays",
                classes: Sequence[str] | None = None) -> Dataset:
    """A Dataset of images ``X`` ((N, H, W), (N, H, W, C) or (N, H*W)) and labels ``y``,
    as the lesson's ``train_test_split`` gives them. ``value_max`` is the white level
    (16 for the digits, 255 for 8-bit images); when not given it is inferred (see
    :func:`infer_value_max`) and the provenance says so."""
    problem = labels_problem(y)
    if problem:
        raise TrueclassError(problem)
    X = np.asarray(X)
    y = np.asarray(y)
    if len(X) != len(y):
        raise TrueclassError(f"X has {len(X)} images but y has {len(y)} labels; they must match.")
    images = array_to_images(X)
    prov: dict[str, Any] = {"source": source}
    if value_max is None:
        value_max = infer_value_max(images)
        prov["value_range"] = (f"0-{value_max}, inferred from the largest pixel value ({int(images.max(initial=0))}); "
                               "give value_max to say otherwise")
    elif int(images.max(initial=0)) > value_max:
        raise TrueclassError(f"The images have pixel values up to {int(images.max())}, above value_max={value_max}.")
    idx, names = _labels_to_indices(y, None if classes is None else list(classes))
    if y.dtype.kind in "iu" and classes is None:
        prov[NUMBER_LABELS] = True  # a model trained on them answers numbers, as y was given
    ds = Dataset(images=images, labels=idx, classes=names, ids=np.arange(len(X)).astype(str),
                 value_max=int(value_max), provenance=prov)
    return _check_classes(ds, source)


def _load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        raise TrueclassError(
            f"{str(path)!r} holds Python objects, which trueclass never loads (they can run code); "
            f"store plain arrays X and y ({exc})."
        ) from None
    except (OSError, EOFError) as exc:
        raise TrueclassError(f"{str(path)!r} is not a readable .npz file ({exc}).") from None
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        raise TrueclassError(
            f"{str(path)!r} must hold arrays named X (images) and y (labels); it holds {sorted(arrays)}."
        )
    classes = arrays.get("classes")
    return from_arrays(arrays["X"], arrays["y"], value_max=int(arrays["value_max"]) if "value_max" in arrays else None,
                       source=str(path), classes=None if classes is None else list(classes))


# -- files -------------------------------------------------------------------------------
def _load_folder(root: Path, how: Decoding) -> Dataset:
    if (root / PROJECT_FILE).is_file():
        return _load_project(root, how)
    for name in LABEL_FILES:
        if (root / name).is_file():  # a folder of images with a labels file: read it as a manifest
            return _load_csv(root / name, how)
    own_kind = trueclass_folder(root)
    if own_kind is not None:
        raise TrueclassError(f"{str(root)!r} is {own_kind}, not a folder of images; give a folder of class "
                             "subfolders (the images to train on, or to test a model on).")
    from ._shards import load_shards, shard_files

    shards = shard_files(root)
    if shards:
        return load_shards(shards, root, how)
    skipped: list[Skipped] = []
    own: list[tuple[Path, str]] = []  # the folders trueclass wrote: never read as images
    subdirs = sorted(d for d in root.iterdir() if d.is_dir())
    visible = []
    for d in subdirs:
        if d.name.startswith("."):
            n = sum(1 for _ in iter_files(d))
            skipped.append(Skipped(str(d) + "/", f"hidden folder ({n} files)"))
        elif (kind := trueclass_folder(d)) is not None:
            own.append((d, kind))
        else:
            visible.append(d)
    lower = {d.name.lower(): d for d in visible}
    presplit = "train" in lower and "test" in lower and set(lower) <= set(SPLIT_FOLDERS)
    groups = [(SPLIT_FOLDERS[k], d) for k, d in sorted(lower.items())] if presplit else [(None, root)]

    entries: list[tuple[str, str, str | None]] = []
    class_names: set[str] = set()
    train_classes: set[str] = set()
    for part, base in groups:
        for f in sorted(p for p in base.iterdir() if p.is_file()):
            skipped.append(Skipped(str(f), "hidden file" if f.name.startswith(".") else "not inside a class folder"))
        for cls_dir in sorted(d for d in base.iterdir() if d.is_dir()):
            if cls_dir.name.startswith("."):
                if presplit:
                    n = sum(1 for _ in iter_files(cls_dir))
                    skipped.append(Skipped(str(cls_dir) + "/", f"hidden folder ({n} files)"))
                continue
            if presplit and (kind := trueclass_folder(cls_dir)) is not None:
                own.append((cls_dir, kind))
                continue
            if not presplit and cls_dir not in visible:
                continue  # trueclass's own folder, listed above
            class_names.add(cls_dir.name)
            if part in (None, "train"):
                train_classes.add(cls_dir.name)
            for f in iter_files(cls_dir, own):
                if is_hidden(f, cls_dir):
                    skipped.append(Skipped(str(f), "hidden file or folder"))
                else:
                    entries.append((str(f), cls_dir.name, part))
    skipped.extend(Skipped(str(d) + "/", f"{kind}: trueclass's own files, never read as images")
                   for d, kind in own)
    if not class_names:
        mine = f" (it holds only trueclass's own folders: {', '.join(d.name + '/' for d, _ in own)})" if own else ""
        raise TrueclassError(
            f"No class subfolders in {str(root)!r}{mine}. Put each class's images in a subfolder named after "
            f"the class ({root.name}/cats/..., {root.name}/dogs/...)."
        )
    names = sorted(class_names)
    images, kept, notes = _decode_classes(entries, skipped, how, names, repr(str(root)),
                                          repr(str(root / "train")) if presplit else None)
    ds = _build(images, kept, names, skipped, str(root), root, notes)
    return _check_classes(ds, repr(str(root)))


def _load_archive(archive: Path, how: Decoding) -> Dataset:
    """A zip or tar of class folders (``cats/1.jpg``; with ``train/`` and ``test/`` for a
    split made in advance; all of it inside one top folder, as archiving a folder makes it),
    read from the archive as a folder is read from the disk. Ids are the members' names."""
    members = [m for m in archive_members(archive) if not m.startswith(ARCHIVE_NOISE)]
    parts = [tuple(m.split("/")) for m in members]
    tops = {p[0] for p in parts if len(p) > 1}
    at_root = [p for p in parts if len(p) == 1 and not p[0].startswith(".")]
    prefix = ()
    if len(tops) == 1 and not at_root and any(len(p) > 2 for p in parts):
        prefix = (next(iter(tops)),)  # the zipped folder itself: its class folders are one level down
    skipped: list[Skipped] = []
    entries: list[tuple[str, str, str | None]] = []
    # in the order a folder is read (class by class, names sorted), whatever order the archive has
    inner = sorted(((m, p[len(prefix):]) for m, p in zip(members, parts) if p[:len(prefix)] == prefix),
                   key=lambda e: e[1])
    firsts = {p[0].lower() for _, p in inner if len(p) > 1 and not p[0].startswith(".")}
    presplit = "train" in firsts and "test" in firsts and firsts <= set(SPLIT_FOLDERS)
    class_names: set[str] = set()
    for member, p in inner:
        path = f"{archive}/{member}"
        part, rest = (SPLIT_FOLDERS[p[0].lower()], p[1:]) if presplit and len(p) > 1 else (None, p)
        if any(x.startswith(".") for x in p):
            skipped.append(Skipped(path, "hidden file or folder"))
        elif len(rest) < 2:
            skipped.append(Skipped(path, "not inside a class folder"))
        else:
            class_names.add(rest[0])
            entries.append((path, rest[0], part))
    if not class_names:
        raise TrueclassError(
            f"No class folders in {str(archive)!r}. Archive a folder that holds one subfolder per class "
            "(cats/..., dogs/...), or give the folder itself.")
    names = sorted(class_names)
    images, kept, notes = _decode_classes(entries, skipped, how, names, repr(str(archive)),
                                          f"the train/ folder of {str(archive)!r}" if presplit else None)
    ds = _build(images, kept, names, skipped, str(archive), archive, notes)
    return _check_classes(ds, repr(str(archive)))


def read_project_manifest(root: Path) -> dict[str, Any]:
    """The studio project manifest of ``root``: {"classes": [...], "images": [{"file",
    "class", "session"}, ...]}, checked so that no entry points outside the folder."""
    import json

    file = root / PROJECT_FILE
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        classes = [str(c) for c in data["classes"]]
        images = [{"file": str(e["file"]), "class": str(e["class"]), "session": str(e["session"]),
                   "bytes": int(e.get("bytes", 0))} for e in data["images"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise TrueclassError(f"{str(file)!r} is not a readable trueclass project manifest ({e}).") from None
    base = root.resolve()
    for e in images:
        target = (root / e["file"]).resolve()
        if base not in target.parents or e["class"] not in classes:
            raise TrueclassError(f"{str(file)!r} lists {e['file']!r}, which is not an image of one of its classes "
                                 "inside the project folder.")
    return {"classes": classes, "images": images}


def _load_project(root: Path, how: Decoding) -> Dataset:
    """A studio project: the images its manifest lists, with their capture sessions (the
    split keeps each session on one side, so frames of one burst never straddle it)."""
    manifest = read_project_manifest(root)
    names = manifest["classes"]
    if not names:
        raise TrueclassError(f"The project {str(root)!r} has no classes yet; add classes and images first.")
    session_of = {str(root / e["file"]): e["session"] for e in manifest["images"]}
    entries = [(str(root / e["file"]), e["class"], None) for e in manifest["images"]]
    skipped: list[Skipped] = []
    images, kept, notes = _decode_entries(entries, skipped, how)
    have = Counter(e[1] for e in kept)
    empty = [name for name in names if have[name] == 0]  # every one at once, not one per try
    if empty:
        one = len(empty) == 1
        raise TrueclassError(f"Class{'' if one else 'es'} {', '.join(map(repr, empty))} of the project {str(root)!r} "
                             f"ha{'s' if one else 've'} no images yet; add some or delete the class{'' if one else 'es'}.")
    notes[PER_IMAGE_KEYS[3]] = np.asarray([session_of[e[0]] for e in kept], dtype=str)
    ds = _build(images, kept, names, skipped, str(root), root, notes)
    return _check_classes(ds, repr(str(root)))


def _load_csv(path: Path, how: Decoding) -> Dataset:
    """A manifest: ``path,label`` (one class per image) or ``path,labels`` with several
    labels per image separated by ``|`` (multi-label); optional ``split`` column."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrueclassError(f"The manifest {str(path)!r} could not be read as UTF-8 text ({exc}).") from None
    dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    fields = {(f or "").strip().lower(): f for f in (reader.fieldnames or [])}
    multilabel = "labels" in fields and "label" not in fields
    label_col = fields.get("labels" if multilabel else "label")
    if "path" not in fields or label_col is None:
        raise TrueclassError(
            f"The manifest {str(path)!r} needs columns named path and label (or labels, for several labels "
            f"per image); it has {', '.join(repr(f) for f in reader.fieldnames or []) or 'no header'}."
        )
    split_col = fields.get("split")
    # the other columns (camera, site, age group, ...) stay with their images: --slice-by
    extra_cols = [f for f in (reader.fieldnames or []) if f and f not in (fields["path"], label_col, split_col)]
    extra_of: dict[str, list[str]] = {}
    base = path.parent
    skipped: list[Skipped] = []
    entries: list[tuple[str, Any, str | None]] = []
    for line, row in enumerate(reader, start=2):
        rel = (row.get(fields["path"]) or "").strip()
        raw_label = (row.get(label_col) or "").strip()
        if not rel:
            skipped.append(Skipped(f"{path.name}:{line}", "row has no path"))
            continue
        file = (base / rel).expanduser()
        if multilabel:
            label: Any = tuple(sorted({t.strip() for t in raw_label.split("|") if t.strip()}))
        else:
            label = raw_label
            if not label:
                skipped.append(Skipped(str(file), f"no label (row {line})"))
                continue
        part = None
        if split_col:
            raw = (row.get(split_col) or "").strip().lower()
            part = SPLIT_FOLDERS.get(raw)
            if part is None:
                skipped.append(Skipped(str(file), f"split {raw!r} is not train, val or test (row {line})"))
                continue
        entries.append((str(file), label, part))
        if extra_cols:
            extra_of[str(file)] = [(row.get(c) or "").strip() for c in extra_cols]
    if not entries:
        raise TrueclassError(f"The manifest {str(path)!r} lists no usable rows.")
    if multilabel:
        names = sorted({name for e in entries for name in e[1]})
    else:
        names = sorted({e[1] for e in entries})
    images, kept, notes = _decode_entries(entries, skipped, how)
    have = Counter(name for e in kept for name in (e[1] if multilabel else (e[1],)))
    for name in names:
        if have[name] == 0:
            raise TrueclassError(
                f"Class {name!r} in {str(path)!r} has no usable images (all its files were skipped); "
                "fix or remove its rows."
            )
    if split_col and not any(e[2] == "test" for e in kept):
        raise TrueclassError(f"The manifest {str(path)!r} has a split column but no usable 'test' rows.")
    if extra_cols:
        notes[PER_IMAGE_KEYS[4]] = np.asarray([extra_of[e[0]] for e in kept], dtype=str).reshape(len(kept), -1)
        notes["image_column_names"] = [str(c).strip() for c in extra_cols]
    ds = _build(images, kept, names, skipped, str(path), base, notes, multilabel=multilabel)
    return _check_classes(ds, repr(str(path)))
