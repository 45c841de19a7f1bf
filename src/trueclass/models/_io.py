"""Model folders: ``model.json`` beside the weights, loaded without running any code.

This module is the folder's format only: the weights are written and read by the
model's backend (skops with a trusted-type list for the pixel models, safetensors for
networks; see ``_backend``), and a checksum in ``model.json`` catches a weights file that
was swapped or damaged before any backend reads it.
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._errors import TrueclassError
from .._jsonio import write_json

__all__ = ["save_model", "load_model", "load_fingerprints", "read_model_json", "resolve_model_dir", "FORMAT_VERSION"]

FORMAT_VERSION = 1
FINGERPRINTS_FILE = "fingerprints.npz"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jsonable_classes(classes: np.ndarray) -> tuple[list[Any], str]:
    kind = classes.dtype.kind
    if kind in "iu":
        return [int(c) for c in classes], "int"
    if kind == "f":
        return [float(c) for c in classes], "float"
    if kind == "b":
        return [bool(c) for c in classes], "bool"
    return [str(c) for c in classes], "str"


def save_model(model: Any, path: str | Path, **extra: Any) -> Path:
    """Write ``path/model.json`` and the weights; ``extra`` keys go into model.json."""
    from ._estimator import NotFittedError

    if not hasattr(model, "estimator_"):
        raise NotFittedError("This ImageClassifier is not fitted yet: call fit first, then save.")
    from ._registry import get_spec

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    spec = get_spec(model.model)
    weights_info = model.estimator_.save(path)
    weights = path / weights_info["file"]
    fingerprints = extra.pop("fingerprints", getattr(model, "fingerprints_", None))
    if fingerprints is not None:  # numpy arrays of the training images' fingerprints (checks._fingerprints)
        fp_file = path / FINGERPRINTS_FILE
        fingerprints.save(fp_file)
        extra["fingerprints"] = {"file": FINGERPRINTS_FILE, "n_images": len(fingerprints), "sha256": _sha256(fp_file)}
    classes, classes_type = _jsonable_classes(np.asarray(model.classes_))
    h, w, c = model.image_shape_
    params = {k: v for k, v in model.get_params().items() if k != "model"}
    meta = {
        "format_version": FORMAT_VERSION,
        "trueclass_version": __version__,
        "model": model.model,
        "family": spec.family,
        **({"backbone": _backbone_record()} if spec.family == "pretrained" else {}),
        "params": params,
        "classes": classes,
        "classes_type": classes_type,
        "image_size": [h, w],
        "channels": c,
        "color_mode": "L" if c == 1 else "RGB",
        "value_max": model.value_max_,
        "multilabel": bool(getattr(model, "multilabel_", False)),
        "label_thresholds": [float(t) for t in getattr(model, "thresholds_", [])],
        "calibration": getattr(model, "calibration_", None),
        "class_counts": None if getattr(model, "class_counts_", None) is None else [int(c) for c in model.class_counts_],
        "preprocessing": {
            "resize": f"to {w}x{h} (bilinear)",
            "color_mode": "L" if c == 1 else "RGB",
            "features": "pixels / value_max, normalised by the mean and std in weights.input" if spec.is_network
            else "flattened pixels in the data's own units (0..value_max)",
        },
        "training": {**getattr(model, "training_", {}), "train_seconds": getattr(model, "train_seconds_", None)},
        "weights": {**weights_info, "sha256": _sha256(weights)},
        "environment": {"python": platform.python_version()},
        **extra,
    }
    write_json(path / "model.json", meta)
    return path


def resolve_model_dir(path: str | Path) -> Path:
    """A model folder, or a run folder holding ``model/``."""
    p = Path(path).expanduser()
    if (p / "model.json").is_file():
        return p
    if (p / "model" / "model.json").is_file():
        return p / "model"
    if not p.exists():
        raise TrueclassError(f"No such model folder: {str(path)!r}.")
    raise TrueclassError(
        f"{str(path)!r} is not a trueclass model: it has no model.json. Give a run folder or its model/ folder."
    )


def read_model_json(path: str | Path) -> dict[str, Any]:
    d = resolve_model_dir(path)
    try:
        meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrueclassError(f"{str(d / 'model.json')!r} is damaged ({exc}).") from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise TrueclassError(
            f"{str(d / 'model.json')!r} is not a model file this version of trueclass can read."
        )
    return meta


def load_fingerprints(path: str | Path):
    """The fingerprints of the images a saved model was trained or validated on, or
    None when its folder has none (a model saved outside a run). An exported file takes
    those of the model folder it was exported from, where it still lies in its run
    (``RUN/export/model.onnx`` beside ``RUN/model``) with the same weights."""
    from ..checks._fingerprints import Fingerprints

    if is_onnx(path):
        d = _folder_of_export(path)
        if d is None:
            return None
    else:
        d = resolve_model_dir(path)
    info = read_model_json(d).get("fingerprints")
    if not info:
        return None
    file = d / info["file"]
    if not file.is_file() or _sha256(file) != info.get("sha256"):
        raise TrueclassError(f"The fingerprints file {str(file)!r} is missing or does not match its checksum in "
                             "model.json; without it trueclass cannot tell which images trained the model.")
    return Fingerprints.load(file)


def load_model(path: str | Path):
    """Load a model saved with ``save`` (a model or run folder), or a file exported to
    ONNX (``trueclass export``); never runs code stored in the file."""
    from ._estimator import ImageClassifier
    from ._registry import get_spec

    if is_onnx(path):
        from ._onnx import load_onnx

        return load_onnx(path)
    d = resolve_model_dir(path)
    meta = read_model_json(d)
    info = meta.get("weights", {})
    weights = d / str(info.get("file", ""))
    if not info.get("file") or not weights.is_file():
        raise TrueclassError(f"The weights file {str(weights)!r} is missing.")
    if info.get("sha256") != _sha256(weights):
        raise TrueclassError(
            f"The weights file {str(weights)!r} does not match the checksum in model.json; "
            "it was changed or damaged after saving. Refusing to load it."
        )
    if meta.get("backbone") and meta["backbone"].get("weights_sha256") != _backbone_record()["weights_sha256"]:
        raise TrueclassError(f"The model in {str(d)!r} was trained on features of other backbone weights "
                             f"({meta['backbone'].get('weights_sha256', '?')[:12]}...) than the ones installed here; "
                             "its probe would read the wrong features. Train it again here.")
    backend = get_spec(meta["model"]).backend.load(d, meta)
    return ImageClassifier._from_saved(meta, backend)


def is_onnx(path: str | Path) -> bool:
    return str(path).lower().endswith(".onnx")


def _folder_of_export(path: str | Path) -> Path | None:
    from ._onnx import read_onnx_meta

    d = Path(path).expanduser().resolve().parent.parent / "model"
    if not (d / "model.json").is_file():
        return None
    source_sha = read_onnx_meta(path).get("exported", {}).get("weights_sha256")
    return d if read_model_json(d).get("weights", {}).get("sha256") == source_sha else None


def _backbone_record() -> dict[str, Any]:
    from ._backbone import describe

    return describe()
