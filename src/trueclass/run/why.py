"""Why a model fails, for a run: where it looked on its misread images (explain/), which
groups of test images it fails (--slice-by), and how it does on another distribution
(``trueclass evaluate MODEL OTHER``). The computing is in diagnostics._explain and
evaluation._groups; this module picks the images and writes the files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .._errors import TrueclassError
from ..data import Dataset
from .._paths import check_writable

__all__ = ["explain_misread", "slices_section", "shift_section", "explain_run", "EXPLAINED", "EXPLAIN_DIR"]

Progress = Callable[..., None]

#: Misread test images explained on the card (the most confident mistakes first).
EXPLAINED = 12
EXPLAIN_DIR = "explain"
#: Explain pictures are scaled up (nearest neighbour, by a whole factor) to at least this
#: many pixels on their short side: an 8x8 digit becomes 128x128, so it can be seen.
PICTURE_SIDE = 128


def _picture(image: np.ndarray, over: np.ndarray) -> np.ndarray:
    """The image (as RGB) and its saliency overlay side by side, each scaled up by a whole
    factor (nearest neighbour: every pixel a square) to at least PICTURE_SIDE pixels on
    its short side, with a white gap (2 px, 8 px once scaled up) between them."""
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    f = max(1, -(-PICTURE_SIDE // min(rgb.shape[:2])))
    rgb, over = (a.repeat(f, axis=0).repeat(f, axis=1) for a in (rgb, over))
    gap = np.full((rgb.shape[0], 2 * min(f, 4), 3), 255, np.uint8)
    return np.concatenate([rgb, gap, over], axis=1)


def write_explanations(folder: Path, rows: list[dict[str, Any]], images: np.ndarray, *,
                       prefix: str = "") -> list[dict[str, Any]]:
    """PNG files (image | overlay) for explained images into ``folder``; the rows with
    their file names, without pixels."""
    from PIL import Image

    from .folder import safe_name

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k, (row, img) in enumerate(zip(rows, images)):
        name = f"{prefix}{k:03d}-{safe_name(Path(str(row['id'])).stem)[:40]}-{safe_name(row['predicted'])}.png"
        Image.fromarray(_picture(img, row["overlay"])).save(folder / name)
        out.append({key: v for key, v in row.items() if key not in ("map", "overlay")} | {"file": name})
    return out


def explain_misread(clf: Any, test: Dataset, ev: Any, folder: Path | None, *, n: int = EXPLAINED,
                    on_progress: Progress | None = None) -> dict[str, Any] | None:
    """Saliency of the ``n`` most confident misread test images, written to
    ``folder``/explain/ and returned as the card's section."""
    from .._extras import has_extra
    from ..diagnostics import explain_images
    from ..data import to_display

    if test.multilabel or not hasattr(ev, "y_pred"):
        return None
    wrong = np.flatnonzero(ev.y_pred != ev.y_true)
    if len(wrong) == 0:
        return {"method": None, "images": [], "n_wrong": 0}
    order = wrong[np.argsort(-ev.confidence[wrong], kind="stable")][:n]
    if not has_extra("explain"):  # the core install: not a failed step, a part not installed
        return {"method": None, "images": [], "n_wrong": int(len(wrong)),
                "skipped": "saliency maps need the optional 'explain' extra: pip install 'trueclass[explain]'"}
    if on_progress is not None:
        on_progress(f"explaining {len(order)} misread images", 0, 0)
    sub = test.subset(order)
    rows = explain_images(clf, sub.images, value_max=sub.value_max)
    classes = [str(c) for c in ev.classes]
    for row, i in zip(rows, order):
        row |= {"id": str(test.ids[i]), "true": classes[int(ev.y_true[i])]}
    if folder is None:
        kept = [{k: v for k, v in r.items() if k not in ("map", "overlay")} for r in rows]
    else:
        kept = write_explanations(folder / EXPLAIN_DIR, rows, to_display(sub.images, sub.value_max))
        for row in kept:
            row["file"] = f"{EXPLAIN_DIR}/{row['file']}"
    return {"method": rows[0]["method"], "images": kept, "n_wrong": int(len(wrong)),
            "note": "the most confident mistakes; each picture is the image and, beside it, where the model looked "
                    "for the class it answered (bright: that part raised the answer's score)"}


def slices_section(by: str | None, test: Dataset, ev: Any, *, seed: int = 0) -> dict[str, Any] | None:
    """Accuracy per group of the test images by ``by`` (evaluation._groups.slice_report)."""
    if not by:
        return None
    from ..data import slice_groups
    from ..evaluation import slice_report

    if test.multilabel:
        return {"column": by, "skipped": "accuracy per group is for single-label models"}
    groups = slice_groups(test, by)
    # the evaluation's images are the test part's, in its order
    return slice_report(ev.y_true, ev.y_pred, groups, ev.classes, column=by, seed=seed)


def shift_section(meta: dict[str, Any], ev: Any, test: Dataset) -> dict[str, Any] | None:
    """The score on these images beside the model's own held-out score, and the image
    properties of both sets (evaluation._groups.shift_report)."""
    from ..evaluation import shift_report
    from .provenance import image_properties, images_digest

    if test.multilabel or not hasattr(ev, "n_wrong"):
        return None
    own, right, n = meta.get("held_out"), int(ev.n_test - ev.n_wrong), int(ev.n_test)
    out = shift_report(own, right, n, meta.get("input_stats"), image_properties(test))
    if own and own.get("images"):  # the run's own test images again: nothing to compare them with
        out["same_images"] = own.get("n") == n and own["images"] == images_digest(test)  # counts first: cheap
    elif own:  # a model folder written before the digest: the same source, and the same counts
        out["same_images"] = own.get("source") == str(test.provenance.get("source")) and \
            (own.get("right"), own.get("n")) == (right, n)
    return out


def explain_run(model_path: str | Path, images: Sequence[str | Path], *, out: str | Path | None = None,
                method: str = "auto") -> list[dict[str, Any]]:
    """Saliency for image files under a saved model (a run folder or its model/ folder):
    per image its predicted class, confidence and border share; the pictures (image |
    overlay) go to ``out`` (default: the run's explain/ folder). An unreadable file gets
    a row with its reason and no picture."""
    from ..diagnostics import explain_images, resolve_method
    from ..data import read_images_for
    from ..models import load_model
    from .predict import collect_images

    clf = load_model(model_path)
    resolve_method(clf, method)  # a bad method fails before any image is read
    p = Path(model_path).expanduser()
    run_dir = p.parent if p.is_file() or (p / "model.json").is_file() else p
    target = Path(out).expanduser() if out is not None else run_dir / EXPLAIN_DIR
    if not images:
        raise TrueclassError("Name one or more image files to explain (the run's own misread images are explained "
                             f"on its card and in {str(run_dir / EXPLAIN_DIR)!r}).")
    check_writable(target, what="folder of the pictures")
    files, hidden = collect_images(images)
    arrays, kept, failed = read_images_for(clf.image_shape_, files) if files else (None, [], [])
    rows: list[dict[str, Any]] = [{"id": b.path, "error": b.reason} for b in failed]
    rows += [{"id": d["path"], "error": d["reason"]} for d in hidden]
    if kept:
        found = explain_images(clf, arrays, value_max=255, method=method)
        for row, f in zip(found, kept):
            row["id"] = str(f)
        display = arrays if arrays.dtype == np.uint8 else np.clip(arrays, 0, 255).astype(np.uint8)
        written = write_explanations(target, found, display, prefix="image-")  # beside the run's own
        for row in written:
            row["file"] = str(target / row["file"])
        rows = written + rows
    return rows
