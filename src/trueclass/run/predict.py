"""``predict_files`` (``trueclass predict``): a saved model on image files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._errors import TrueclassError
from .._jsonio import write_json
from ..data import (ARCHIVE_SUFFIXES, archive_members, hidden_member, is_hidden, iter_files,
                                    WDS_LABEL_SUFFIXES, parquet_file, read_images_for)
from .._paths import check_writable_file

__all__ = ["collect_images", "predict_arrays", "predict_files", "predict_to_csv", "CSV_COLUMNS"]


def collect_images(inputs: Sequence[str | Path]) -> tuple[list[str], list[dict[str, str]]]:
    """Image files named directly or found in folders, zip and tar archives (WebDataset
    shards too) and Parquet files (hidden ones skipped, and listed); an archive's members
    are named ``ARCHIVE.zip/member``, a Parquet file's rows ``FILE.parquet/ROW``. A file
    is an image by its content, as training reads it (a frame saved without an extension
    is one; a text file is listed with the reader's reason), not by its name."""
    files: list[str] = []
    skipped: list[dict[str, str]] = []
    for item in inputs:
        p = Path(item).expanduser()
        if p.is_dir():
            for f in iter_files(p):
                if is_hidden(f, p):
                    skipped.append({"path": str(f), "reason": "hidden file or folder"})
                else:
                    files.append(str(f))
        elif p.is_file() and p.suffix.lower() in ARCHIVE_SUFFIXES:
            for m in sorted(archive_members(p)):
                f = f"{p}/{m}"
                if hidden_member(m):
                    skipped.append({"path": f, "reason": "hidden file or folder"})
                elif Path(m).suffix.lower() not in WDS_LABEL_SUFFIXES:  # not a WebDataset sample's label
                    files.append(f)
        elif p.is_file() and p.suffix.lower() == ".parquet":
            files += [f"{p}/{row}" for row in range(parquet_file(p).metadata.num_rows)]
        elif p.is_file():
            files.append(str(p))
        else:
            raise TrueclassError(f"No such file or folder: {str(item)!r}.")
    return files, skipped


#: An input whose pixel count differs from the training images' by more than this factor
#: (either way) before resizing is unlike them: a phone photo given to a 28x28 model.
SIZE_FACTOR = 16.0


def _size_unlike_training(files: Sequence[str], meta: dict[str, Any]) -> list[str | None]:
    """Per file, a reason when its size before resizing is far from the training images'."""
    from ..data import probe

    src, stats = meta.get("source") or {}, meta.get("input_stats") or {}
    if stats.get("height") and stats.get("width"):  # the training files' own sizes, on average
        th, tw = round(stats["height"][0]), round(stats["width"][0])
        theirs = f"the training images were {tw}x{th} on average before resizing"
    else:  # a model saved before those were kept
        th, tw = src.get("resized_from") or src.get("image_size") or meta["image_size"]
        theirs = f"the training images were mostly {tw}x{th} before resizing"
    out: list[str | None] = []
    for pr in probe(list(files)):
        h, w = pr.size if pr.ok else (th, tw)
        factor = (h * w) / max(1, th * tw)
        out.append(None if 1 / SIZE_FACTOR <= factor <= SIZE_FACTOR else f"it was {w}x{h} before resizing; {theirs}")
    return out


def predict_files(
    model_path: str | Path,
    inputs: Sequence[str | Path],
    *,
    top_k: int = 3,
    threshold: float | None = None,
    tta: bool | str = False,
    raw: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Predict each image file; returns (rows, skipped files with reasons).

    Each image is resized and converted to what the model was trained on. A row has
    ``file``, ``label``, ``confidence``, ``top_k`` ([(label, p), ...]) and ``flagged``
    (confidence below the model's review threshold, or an input unlike the training
    images, whose reason is in ``unlike_training``). ``tta`` is False, True or "flip".
    Confidences are the model's calibrated probabilities; ``raw=True`` gives its raw
    scores instead (the review flag still uses the calibrated confidence).
    """
    clf = _model_for_prediction(model_path, top_k, tta, threshold)
    files, skipped = collect_images(inputs)
    rows, bad = _predict_chunk(clf, files, top_k=top_k, threshold=threshold, raw=raw)
    return rows, skipped + [b.to_dict() for b in bad]


def check_csv_place(csv_path: str | Path) -> Path:
    """The predictions CSV's path, or a sentence when it cannot be written there (a folder,
    a path under a file, a read-only place): for predict_to_csv, and for the command line
    once before it starts several processes."""
    out = Path(csv_path).expanduser()
    check_writable_file(out, what="predictions CSV", param="csv_path=FILE")
    return out


def _model_for_prediction(model_path: str | Path, top_k: int, tta: bool | str, threshold: float | None) -> Any:
    from ..models import load_model

    if top_k < 1:
        raise TrueclassError("top_k must be 1 or more.")
    if threshold is not None and not 0 <= threshold <= 1:
        raise TrueclassError(f"The threshold is a confidence from 0 to 1 (answers below it are flagged for a "
                             f"human); got {threshold:g}.")
    clf = load_model(model_path)
    if tta:
        clf.set_params(tta=tta)
        clf.check_params()
    return clf


def _resumable(marker: Path, out: Path, model_id: str | None) -> bool:
    """True when ``out`` is a stopped prediction of this model to go on from: its marker
    names the model. A marker that cannot be read (cut off by a crash, edited) means a
    fresh start, not a traceback."""
    import json

    try:
        return marker.is_file() and out.is_file() and json.loads(marker.read_text(encoding="utf-8")).get("model") == model_id
    except (OSError, ValueError, AttributeError):
        return False


def _predict_chunk(clf: Any, files: Sequence[str], *, top_k: int, threshold: float | None,
                   raw: bool) -> tuple[list[dict[str, Any]], list[Any]]:
    """Decode ``files`` (on every core) and predict them: (rows, the files skipped)."""
    arrays, good, bad = read_images_for(clf.image_shape_, files)
    if not good:
        return [], bad
    return predict_arrays(clf, arrays, good, top_k=top_k, threshold=threshold,
                          sizes=_size_unlike_training(good, clf.metadata_), raw=raw), bad


def predict_arrays(clf: Any, arrays: np.ndarray, names: Sequence[str], *, top_k: int = 3,
                   threshold: float | None = None, sizes: Sequence[str | None] | None = None,
                   raw: bool = False) -> list[dict[str, Any]]:
    """Rows of :func:`predict_files` for decoded 0-255 images already of the model's
    size and colour mode (``names`` label the rows; ``sizes``: a reason per image when
    its original size was unlike the training images')."""
    from ..models import unlike_training
    from ..evaluation import calibrated

    thr = threshold if threshold is not None else (clf.metadata_.get("threshold") or 0.5)
    sizes = sizes if sizes is not None else [None] * len(arrays)
    # the size first: it often explains the rest (a big photo shrunk to 8x8 loses its contrast)
    unusual = [size or odd for odd, size in zip(unlike_training(arrays, clf.metadata_.get("input_stats")), sizes)]
    # files are 0-255; the model may use other units (digits: 0-16)
    images = arrays.astype(np.float64) * (clf.value_max_ / 255.0)
    raw_probs = clf.predict_proba(images, raw=True)
    multilabel = bool(getattr(clf, "multilabel_", False))
    probs = raw_probs if multilabel else calibrated(raw_probs, getattr(clf, "calibration_", None))
    shown = raw_probs if raw else probs
    k = min(top_k, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    rows = []
    for f, p, s, top, odd in zip(names, probs, shown, order, unusual):
        if multilabel:  # every label at or above its own threshold; sureness = the least sure label
            on = p >= clf.thresholds_
            label = "|".join(str(c) for c, v in zip(clf.classes_, on) if v)
            conf = shown_conf = float(np.min(np.where(on, p, 1 - p)))
        else:
            label = str(clf.classes_[top[0]])
            conf, shown_conf = float(p[top[0]]), float(s[top[0]])
        rows.append({
            "file": f,
            "label": label,
            "confidence": shown_conf,
            "top_k": [(str(clf.classes_[j]), float(s[j])) for j in top],
            # the threshold was chosen on calibrated confidences; an input unlike the training images goes to review
            "flagged": conf < thr or odd is not None,
            "unlike_training": odd,
        })
    return rows


CSV_COLUMNS = ["file", "label", "confidence", "top_k", "flagged", "skipped"]
#: Files decoded and predicted at a time by predict_to_csv: memory stays bounded whatever
#: the folder's size (1,024 images of 224x224 RGB are 150 MB).
CHUNK = 1024


def csv_row(r: dict[str, Any]) -> list[Any]:
    return [r["file"], r["label"], f"{r['confidence']:.6f}", "|".join(f"{lab}:{p:.4f}" for lab, p in r["top_k"]),
            r["flagged"], ""]


def predict_to_csv(
    model_path: str | Path,
    inputs: Sequence[str | Path],
    csv_path: str | Path,
    *,
    top_k: int = 3,
    threshold: float | None = None,
    tta: bool | str = False,
    raw: bool = False,
    chunk: int = CHUNK,
    on_progress: Any = None,
    on_rows: Any = None,
) -> dict[str, Any]:
    """Predict every image of ``inputs`` into ``csv_path``, streaming: ``chunk`` files
    decoded at a time (on every core), rows appended and flushed as they come, progress
    with images/s and the time left. Stopped (Ctrl-C, a crash, a kill), the same call
    goes on from the rows already written: a file beside the CSV (``.progress.json``)
    names the model and is removed when every file has its row. Unreadable files get a
    row with the reason. Returns the counts (of every process, under torchrun).

    Under torchrun each process predicts its share of the files into a part file beside
    the CSV (``OUT.part-R-of-N.csv``); once all are done, rank 0 puts the rows together
    in the files' order into the one CSV and removes the parts. A stopped run goes on
    from the parts, with any number of processes.
    """
    import csv
    import time

    from ..training import _distributed as dist

    out = check_csv_place(csv_path)  # before the model or any image is read
    clf = _model_for_prediction(model_path, top_k, tta, threshold)
    files, hidden = collect_images(inputs)
    marker = out.with_name(out.name + ".progress.json")
    model_id = (clf.metadata_.get("weights") or {}).get("sha256")
    sharded = dist.setup() is not None
    me, world = (dist.rank(), dist.world_size()) if sharded else (0, 1)
    parts = sorted(out.parent.glob(out.name + ".part-*.csv")) if out.parent.is_dir() else []
    # rank 0 decides for all, before it writes: a process that read the marker as it was being
    # written found it empty (a JSON error) or took the fresh start for a stopped run, and
    # processes that decided apart would cut the files into shards that do not fit together
    resumed = dist.broadcast_flag(_resumable(marker, out, model_id) if me == 0 else False)
    if me == 0 and not resumed:  # a fresh start: the header, the hidden files, and the marker
        for part in parts:
            part.unlink()
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerow(CSV_COLUMNS)
            csv.writer(fh).writerows([h["path"], "", "", "", "", h["reason"]] for h in hidden)
        write_json(marker, {"model": model_id, "csv": out.name})  # whole or not at all, whenever a stop comes
    dist.barrier()
    # every process reads the same rows before any writes: the same files are left to do
    done = {r["file"] for f in ([out] if resumed else []) + (parts if resumed else [])
            for r in _complete_rows(f)}
    dist.barrier()
    todo = [f for f in files if f not in done]
    mine = [todo[i] for i in dist.shard(len(todo))] if sharded else todo
    target = out.with_name(f"{out.name}.part-{me}-of-{world}.csv") if sharded else out
    if resumed and target.is_file():  # a row cut off by the stop is written again
        text = target.read_text(encoding="utf-8")
        target.write_text(text[: text.rfind("\n") + 1], encoding="utf-8")
    counts = {"n_files": len(files), "resumed_with": len(done), "predicted": 0, "flagged": 0, "skipped": 0,
              "skipped_files": [], "hidden": hidden, "processes": world}
    t0 = time.perf_counter()
    with open(target, "a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if sharded and fh.tell() == 0:
            writer.writerow(CSV_COLUMNS)
        for i in range(0, len(mine), chunk):
            part = mine[i:i + chunk]
            rows, bad = _predict_chunk(clf, part, top_k=top_k, threshold=threshold, raw=raw)
            writer.writerows(csv_row(r) for r in rows)
            writer.writerows([b.path, "", "", "", "", b.reason] for b in bad)
            fh.flush()
            os.fsync(fh.fileno())
            counts["predicted"] += len(rows)
            counts["flagged"] += sum(r["flagged"] for r in rows)
            counts["skipped"] += len(bad)
            counts["skipped_files"] += [b.to_dict() for b in bad]
            if on_rows is not None:
                on_rows(rows)
            if on_progress is not None:
                n = i + len(part)
                # under torchrun: this process's share, scaled to the whole (the shares are equal)
                on_progress("predicting", min(len(files), len(done) + n * world), len(files),
                            images_per_second=n * world / max(time.perf_counter() - t0, 1e-9))
    if sharded:
        totals = dist.all_sum([counts["predicted"], counts["flagged"], counts["skipped"]])
        counts["predicted"], counts["flagged"], counts["skipped"] = (int(v) for v in totals)
        dist.teardown()  # every part is complete before rank 0 reads them
    if me == 0 and (sharded or (resumed and parts)):  # a stopped torchrun run left parts
        counts["skipped_files"] = _merge_parts(out, files, hidden)
    marker.unlink(missing_ok=True)  # every file has its row
    counts["seconds"] = time.perf_counter() - t0
    return counts


def _complete_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a prediction CSV that were written whole (not a last one cut off)."""
    import csv

    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    return list(csv.DictReader(text[: text.rfind("\n") + 1].splitlines()))


def _merge_parts(out: Path, files: Sequence[str], hidden: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rank 0's last step under torchrun: the rows of ``out`` (a resumed run's) and of
    every part file, one per file in the files' order, into ``out``; the parts removed.
    Returns the files skipped as unreadable."""
    import csv

    parts = sorted(out.parent.glob(out.name + ".part-*.csv"))
    row_of = {r["file"]: r for f in [out, *parts] for r in _complete_rows(f)}
    tmp = out.with_name(out.name + ".merging")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        writer.writerows([h["path"], "", "", "", "", h["reason"]] for h in hidden)
        writer.writerows([row_of[f][c] for c in CSV_COLUMNS] for f in files if f in row_of)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out)
    for part in parts:
        part.unlink()
    return [{"path": f, "reason": row_of[f]["skipped"]} for f in files if f in row_of and row_of[f]["skipped"]]
