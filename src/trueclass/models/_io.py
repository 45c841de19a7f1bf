"""Model folders: ``model.json`` beside the weights, loaded without running any code.

scikit-learn models are stored with skops, whose loader rebuilds only the types it is
told to trust; we trust scikit-learn's and numpy's own plus the few extra types our
registered models hold, and refuse a file that asks for anything else. A checksum in
``model.json`` catches a weights file that was swapped or damaged.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._errors import TrueclassError
from .._jsonio import write_json

__all__ = ["save_model", "load_model", "read_model_json", "resolve_model_dir", "FORMAT_VERSION"]

FORMAT_VERSION = 1
WEIGHTS_SKOPS = "weights.skops"
#: Types beyond skops' defaults that the registered pixel models contain.
_TRUSTED_EXTRA = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
})


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
    import skops.io as sio

    from ._registry import get_spec

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    spec = get_spec(model.model)
    if spec.save_format == "safetensors":
        weights_info = model.estimator_.save(path)
        weights = path / weights_info["file"]
    else:
        weights = path / WEIGHTS_SKOPS
        tmp = weights.with_name(weights.name + ".tmp")
        sio.dump(model.estimator_, tmp)
        os.replace(tmp, weights)
        weights_info = {"file": WEIGHTS_SKOPS, "format": "skops"}
    classes, classes_type = _jsonable_classes(np.asarray(model.classes_))
    h, w, c = model.image_shape_
    params = {k: v for k, v in model.get_params().items() if k != "model"}
    meta = {
        "format_version": FORMAT_VERSION,
        "trueclass_version": __version__,
        "model": model.model,
        "family": spec.family,
        "params": params,
        "classes": classes,
        "classes_type": classes_type,
        "image_size": [h, w],
        "channels": c,
        "color_mode": "L" if c == 1 else "RGB",
        "value_max": model.value_max_,
        "multilabel": bool(getattr(model, "multilabel_", False)),
        "label_thresholds": [float(t) for t in getattr(model, "thresholds_", [])],
        "preprocessing": {
            "resize": f"to {w}x{h} (bilinear)",
            "color_mode": "L" if c == 1 else "RGB",
            "features": "flattened pixels in the data's own units (0..value_max)" if spec.family == "pixel"
            else "pixels / value_max, normalised by the mean and std in weights.input",
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


def load_model(path: str | Path):
    """Load a model saved with ``save``; never runs code stored in the file."""
    import skops.io as sio

    d = resolve_model_dir(path)
    meta = read_model_json(d)
    info = meta.get("weights", {})
    weights = d / info.get("file", WEIGHTS_SKOPS)
    if not weights.is_file():
        raise TrueclassError(f"The weights file {str(weights)!r} is missing.")
    if info.get("sha256") != _sha256(weights):
        raise TrueclassError(
            f"The weights file {str(weights)!r} does not match the checksum in model.json; "
            "it was changed or damaged after saving. Refusing to load it."
        )
    if info.get("format") == "safetensors":
        from ._torch import TorchBackend

        estimator = TorchBackend.load(d, meta)
        return _restore(meta, estimator)
    try:
        untrusted = sio.get_untrusted_types(file=weights)
    except Exception as exc:  # skops raises several types for a broken archive
        raise TrueclassError(f"The weights file {str(weights)!r} is damaged ({exc}).") from None
    unexpected = [t for t in untrusted if t not in _TRUSTED_EXTRA]
    if unexpected:
        raise TrueclassError(
            f"The weights file {str(weights)!r} contains types trueclass does not trust "
            f"({', '.join(unexpected)}); it was not loaded."
        )
    estimator = sio.load(weights, trusted=list(untrusted))
    return _restore(meta, estimator)


def _restore(meta: dict[str, Any], estimator: Any):
    from ._estimator import ImageClassifier

    model = ImageClassifier(meta["model"], **meta.get("params", {}))
    classes = meta["classes"]
    dtype = {"int": np.int64, "float": np.float64, "bool": bool, "str": str}[meta.get("classes_type", "str")]
    model.classes_ = np.asarray(classes, dtype=dtype)
    model.image_shape_ = (int(meta["image_size"][0]), int(meta["image_size"][1]), int(meta["channels"]))
    model.value_max_ = int(meta["value_max"])
    model.n_features_in_ = int(np.prod(model.image_shape_))
    model.estimator_ = estimator
    model.training_ = meta.get("training", {})
    model.train_seconds_ = model.training_.get("train_seconds")
    model.multilabel_ = bool(meta.get("multilabel", False))
    model.thresholds_ = np.asarray(meta.get("label_thresholds") or [0.5] * len(classes), dtype=np.float64)
    model.metadata_ = meta
    return model
