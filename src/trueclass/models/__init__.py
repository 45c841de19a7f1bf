"""The model registry, the scikit-learn estimator, and safe model folders."""

from typing import Any

from ._registry import ModelSpec, get_spec, list_models, register_model

# The backends register their names on import; neither imports torch or scikit-learn
# at import time, and the registry imports neither of them.
from . import _pixel, _pretrained, _torch  # noqa: E402, F401  (registration)

__all__ = [
    "DEFAULT_MODEL",
    "ImageClassifier",
    "ModelSpec",
    "NotFittedError",
    "get_spec",
    "list_models",
    "load_model",
    "register_model",
]


def __getattr__(name: str):
    if name in _FACE:
        import importlib

        return getattr(importlib.import_module(_FACE[name], __name__), name)
    # The estimator imports scikit-learn (about a second); load it on first use only.
    if name in ("ImageClassifier", "NotFittedError", "DEFAULT_MODEL"):
        from . import _estimator

        return getattr(_estimator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_model(path: Any) -> Any:
    """Load a model saved with ``save`` (a model or run folder), or a file exported to
    ONNX (``trueclass export``); never runs code stored in the file."""
    from ._io import is_onnx, read_saved

    if is_onnx(path):
        from ._onnx import load_onnx

        return load_onnx(path)
    from ._estimator import ImageClassifier

    return ImageClassifier._from_saved(*read_saved(path))

#: What other trueclass packages use besides the names above, loaded on first use.
_FACE = {
    "AUTO": "._choice",
    "FINETUNE": "._choice",
    "Fingerprints": "._fingerprints",
    "INPUT": "._onnx",
    "MIN_VAL_IMAGES": "._torch",
    "OUTPUTS": "._onnx",
    "PLAIN_SHARE": "._choice",
    "choose_model": "._choice",
    "export_onnx": "._onnx",
    "input_stats": "._fingerprints",
    "load_fingerprints": "._io",
    "model_for_params": "._choice",
    "plain_background_share": "._choice",
    "read_for_onnx": "._onnx",
    "unlike_training": "._fingerprints",
}

__all__ += sorted(_FACE)
