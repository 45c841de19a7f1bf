"""The model registry, the scikit-learn estimator, and safe model folders."""

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
    # The estimator imports scikit-learn (about a second); load it on first use only.
    if name in ("ImageClassifier", "NotFittedError", "DEFAULT_MODEL"):
        from . import _estimator

        return getattr(_estimator, name)
    if name == "load_model":
        from ._io import load_model

        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
