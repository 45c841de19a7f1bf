"""``predict_files`` (``trueclass predict``): a saved model on image files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._errors import TrueclassError
from ..data._images import IMAGE_SUFFIXES, is_hidden, iter_files
from ..data._sources import read_images

__all__ = ["collect_images", "predict_arrays", "predict_files"]


def collect_images(inputs: Sequence[str | Path]) -> tuple[list[str], list[dict[str, str]]]:
    """Image files named directly or found in folders (hidden ones skipped, and listed)."""
    files: list[str] = []
    skipped: list[dict[str, str]] = []
    for item in inputs:
        p = Path(item).expanduser()
        if p.is_dir():
            for f in iter_files(p):
                if is_hidden(f, p):
                    skipped.append({"path": str(f), "reason": "hidden file or folder"})
                elif f.suffix.lower() in IMAGE_SUFFIXES:
                    files.append(str(f))
                else:
                    skipped.append({"path": str(f), "reason": "not an image file name"})
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
    from ..data._images import probe

    src = meta.get("source") or {}
    th, tw = src.get("resized_from") or src.get("image_size") or meta["image_size"]
    out: list[str | None] = []
    for pr in probe(list(files)):
        h, w = pr.size if pr.ok else (th, tw)
        factor = (h * w) / max(1, th * tw)
        out.append(None if 1 / SIZE_FACTOR <= factor <= SIZE_FACTOR else
                   f"it was {w}x{h} before resizing; the training images were {tw}x{th}")
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
    from ..models import load_model

    if top_k < 1:
        raise TrueclassError("top_k must be 1 or more.")
    clf = load_model(model_path)
    if tta:
        clf.set_params(tta=tta)
        clf.check_params()
    h, w, c = clf.image_shape_
    files, skipped = collect_images(inputs)
    arrays, good, bad = read_images(files, (h, w), "L" if c == 1 else "RGB")
    skipped += [b.to_dict() for b in bad]
    if not good:
        return [], skipped
    return predict_arrays(clf, arrays, good, top_k=top_k, threshold=threshold,
                          sizes=_size_unlike_training(good, clf.metadata_), raw=raw), skipped


def predict_arrays(clf: Any, arrays: np.ndarray, names: Sequence[str], *, top_k: int = 3,
                   threshold: float | None = None, sizes: Sequence[str | None] | None = None,
                   raw: bool = False) -> list[dict[str, Any]]:
    """Rows of :func:`predict_files` for decoded 0-255 images already of the model's
    size and colour mode (``names`` label the rows; ``sizes``: a reason per image when
    its original size was unlike the training images')."""
    from ..checks._fingerprints import unlike_training
    from ..evaluation._calibration import calibrated

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
