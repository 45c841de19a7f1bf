"""Model folders: ``model.json`` beside the weights, loaded without running any code.

This module is the folder's format only: the weights are written and read by the
model's backend (skops with a trusted-type list for the pixel models, safetensors for
networks; see ``_backend``), and a checksum in ``model.json`` catches a weights file that
was swapped or damaged before any backend reads it.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._errors import TrueclassError
from .._jsonio import sha256_file, write_json

__all__ = ["save_model", "read_saved", "load_fingerprints", "read_model_json", "resolve_model_dir", "FORMAT_VERSION"]

FORMAT_VERSION = 1
FINGERPRINTS_FILE = "fingerprints.npz"


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
    """Write ``path/model.json`` and the weights of the fitted ``model``; ``extra`` keys go
    into model.json."""
    from ._registry import get_spec

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    spec = get_spec(model.model)
    weights_info = model.estimator_.save(path)
    weights = path / weights_info["file"]
    fingerprints = extra.pop("fingerprints", getattr(model, "fingerprints_", None))
    if fingerprints is not None:  # numpy arrays of the training images' fingerprints (models._fingerprints)
        fp_file = path / FINGERPRINTS_FILE
        fingerprints.save(fp_file)
        extra["fingerprints"] = {"file": FINGERPRINTS_FILE, "n_images": len(fingerprints), "sha256": sha256_file(fp_file)}
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
        "weights": {**weights_info, "sha256": sha256_file(weights)},
        "environment": {"python": platform.python_version()},
        **extra,
    }
    write_json(path / "model.json", meta)
    return path


def resolve_model_dir(path: str | Path) -> Path:
    """A model folder, or a run folder holding ``model/``."""
    p = Path(path).expanduser()
    if p.name == "model.json" and p.is_file():  # the file named in place of its folder
        p = p.parent
    if (p / "model.json").is_file():
        return p
    if (p / "model" / "model.json").is_file():
        return p / "model"
    if not p.exists():
        raise TrueclassError(f"No such model folder: {str(path)!r}.")
    if p.is_file():  # a file of a run (metrics.json, card.html) in place of the run
        raise TrueclassError(f"{str(path)!r} is a file, not a trueclass model: give the folder that holds "
                             f"model.json, or the run folder around it ({str(p.parent)!r}, if it is one).")
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
    from ._fingerprints import Fingerprints

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
    if not file.is_file() or sha256_file(file) != info.get("sha256"):
        raise TrueclassError(f"The fingerprints file {str(file)!r} is missing or does not match its checksum in "
                             "model.json; without it trueclass cannot tell which images trained the model.")
    return Fingerprints.load(file)


def read_saved(path: str | Path) -> tuple[dict[str, Any], Any]:
    """(model.json, the loaded backend) of a model folder saved with ``save`` (or a run
    folder holding one), each file checked against model.json first; never runs code
    stored in the files. ``models.load_model`` makes the estimator of them."""
    from ._registry import get_spec

    d = resolve_model_dir(path)
    meta = read_model_json(d)
    info = meta.get("weights", {})
    weights = d / str(info.get("file", ""))
    if not info.get("file") or not weights.is_file():
        raise TrueclassError(f"The weights file {str(weights)!r} is missing.")
    if info.get("sha256") != sha256_file(weights):
        raise TrueclassError(
            f"The weights file {str(weights)!r} does not match the checksum in model.json; "
            "it was changed or damaged after saving. Refusing to load it."
        )
    if meta.get("backbone") and meta["backbone"].get("weights_sha256") != _backbone_record()["weights_sha256"]:
        raise TrueclassError(f"The model in {str(d)!r} was trained on features of other backbone weights "
                             f"({meta['backbone'].get('weights_sha256', '?')[:12]}...) than the ones installed here; "
                             "its probe would read the wrong features. Train it again here.")
    spec = get_spec(meta["model"])
    _check_model_json(d, meta)
    if spec.is_network:
        _check_network_weights(d, meta, weights)
    try:
        backend = spec.backend.load(d, meta)
    except TrueclassError:
        raise
    except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as exc:  # a network's load_state_dict, ...
        raise TrueclassError(f"The model folder {str(d)!r} does not hold together: its weights do not load as "
                             f"model.json describes them ({type(exc).__name__}: {_first_lines(exc)}); "
                             f"{_EDITED}") from None
    if not spec.is_network:
        _check_pixel_weights(d, meta, backend, spec.family)
    return meta, backend


_EDITED = "model.json was edited or comes from another model; save or train the model again."


def _disagree(d: Path, what: str) -> TrueclassError:
    return TrueclassError(f"The model folder {str(d)!r} does not hold together: {what}; {_EDITED}")


def _first_lines(exc: BaseException) -> str:
    text = " ".join(line.strip() for line in str(exc).splitlines()[:2] if line.strip())
    return text if len(text) <= 240 else text[:239] + "…"


def _names(classes: list[Any]) -> str:
    shown = ", ".join(str(c) for c in classes[:6])
    return f"{shown}, ... {classes[-1]}" if len(classes) > 7 else ", ".join(str(c) for c in classes)


def _shape_words(h: int, w: int, c: int) -> str:
    return f"{w}x{h} {'grey' if c == 1 else 'RGB' if c == 3 else f'{c}-channel'} images"


def _check_model_json(d: Path, meta: dict[str, Any]) -> None:
    """model.json against itself: the class list, the image size and channels, and the
    lists that have one entry a class."""
    classes, size, channels = meta.get("classes"), meta.get("image_size"), meta.get("channels")
    if not isinstance(classes, list) or not classes:
        raise _disagree(d, "model.json has no list of classes")
    twice = [c for c in dict.fromkeys(map(str, classes)) if [str(v) for v in classes].count(c) > 1]
    if twice:
        raise _disagree(d, f"model.json names the class {twice[0]!r} twice")
    kind = meta.get("classes_type", "str")
    caster = {"int": int, "float": float, "bool": bool, "str": str}.get(kind)
    try:
        if caster is None or (kind != "str" and not all(isinstance(c, (int, float, bool)) for c in classes)):
            raise ValueError(kind)
        [caster(c) for c in classes]
    except (TypeError, ValueError):
        raise _disagree(d, f"model.json's classes ({_names(classes)}) are not of its classes_type {kind!r}") from None
    if (not isinstance(size, list) or len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size)
            or channels not in (1, 3) or not isinstance(meta.get("value_max"), int)):
        raise _disagree(d, f"model.json's image_size {size!r}, channels {channels!r} or value_max "
                        f"{meta.get('value_max')!r} is not an image size, 1 or 3 channels and a white level")
    resize = (meta.get("preprocessing") or {}).get("resize")
    if isinstance(resize, str) and resize.startswith("to ") and not resize.startswith(f"to {size[1]}x{size[0]} "):
        raise _disagree(d, f"model.json's image_size {size[1]}x{size[0]} is not the size its preprocessing resizes "
                        f"to ({resize})")
    for key in ("class_counts", "label_thresholds"):
        values = meta.get(key)
        if values and len(values) != len(classes):
            raise _disagree(d, f"model.json names {len(classes)} classes but its {key} has {len(values)} entries")


def _safetensors_shapes(file: Path) -> dict[str, list[int]]:
    """The tensors' shapes from a safetensors file's header, read as JSON (no tensor is
    loaded)."""
    import struct

    try:
        with open(file, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n)) if n < 100 * 1024**2 else {}
    except (OSError, struct.error, ValueError, UnicodeDecodeError):
        return {}
    return {k: v.get("shape") for k, v in header.items() if isinstance(v, dict) and isinstance(v.get("shape"), list)}


#: The output layer of the networks trueclass builds: the cnn's head, and timm's
#: classifier names (EfficientNet, ResNet, ViT/ConvNeXt).
_HEAD_TENSORS = ("head.weight", "classifier.weight", "fc.weight", "head.fc.weight")


def _check_network_weights(d: Path, meta: dict[str, Any], weights: Path) -> None:
    """A network's classes and input size in model.json against the network its weights
    entry describes and the output size of the head stored in the weights."""
    net = (meta.get("weights") or {}).get("network")
    if not isinstance(net, dict):
        raise _disagree(d, "model.json does not describe the network its weights are for")
    k, (h, w), c = len(meta["classes"]), meta["image_size"], meta["channels"]
    if net.get("n_classes") != k:
        raise _disagree(d, f"model.json names {k} classes ({_names(meta['classes'])}) but the network "
                        f"answers {net.get('n_classes')}")
    if list(net.get("image_size") or []) != [h, w] or net.get("in_channels") != c:
        nh, nw = (list(net.get("image_size") or []) + [0, 0])[:2]
        raise _disagree(d, f"model.json says the model takes {_shape_words(h, w, c)} but its network was trained "
                        f"on {_shape_words(nh, nw, net.get('in_channels') or 0)}")
    shapes = _safetensors_shapes(weights)
    head = next((shapes[name] for name in _HEAD_TENSORS if name in shapes and shapes[name]), None)
    if head is not None and head[0] != k:
        raise _disagree(d, f"model.json names {k} classes ({_names(meta['classes'])}) but the "
                        f"weights' output layer answers {head[0]}")


def _check_pixel_weights(d: Path, meta: dict[str, Any], backend: Any, family: str) -> None:
    """A scikit-learn model's classes and input size in model.json against the fitted
    estimator: its ``classes_`` (the class indices it was trained on) and, for models on
    pixels, its ``n_features_in_`` (height x width x channels)."""
    classes = meta["classes"]
    k = len(classes)
    seen = np.asarray(getattr(backend, "classes_", []))
    counts = meta.get("class_counts")
    if seen.dtype.kind not in "iu" or (len(seen) and (seen.min() < 0 or seen.max() >= k)):
        raise _disagree(d, f"model.json names {k} classes ({_names(classes)}) but the weights were "
                        f"trained on {len(seen)}")
    missing = sorted(set(range(k)) - {int(v) for v in seen})
    if missing and (counts is None or any(counts[i] for i in missing)):  # a class with no training image is fine
        raise _disagree(d, f"model.json names {k} classes ({_names(classes)}) but the weights were "
                        f"trained on {len(seen)} (nothing answers {', '.join(repr(str(classes[i])) for i in missing)})")
    n = getattr(backend.estimator, "n_features_in_", None)
    h, w = meta["image_size"]
    c = meta["channels"]
    if family == "pixel" and n is not None and int(n) != h * w * c:
        side = int(round((int(n) / c) ** 0.5))
        was = f" ({_shape_words(side, side, c)})" if side * side * c == int(n) else ""
        raise _disagree(d, f"model.json says the model takes {_shape_words(h, w, c)} ({h * w * c:,} pixel values) "
                        f"but its weights take {int(n):,} values{was}")


def is_onnx(path: str | Path) -> bool:
    return str(path).lower().endswith(".onnx")


def _folder_of_export(path: str | Path) -> Path | None:
    from ..features import read_onnx_meta

    d = Path(path).expanduser().resolve().parent.parent / "model"
    if not (d / "model.json").is_file():
        return None
    source_sha = read_onnx_meta(path).get("exported", {}).get("weights_sha256")
    return d if read_model_json(d).get("weights", {}).get("sha256") == source_sha else None


def _backbone_record() -> dict[str, Any]:
    from ..features import describe

    return describe()
