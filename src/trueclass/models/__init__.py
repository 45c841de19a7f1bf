"""The model registry, the scikit-learn estimator, and safe model folders."""

from typing import Any

from .._face import face, face_names
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


def load_model(path: Any) -> Any:
    """Load a model saved with ``save`` (a model or run folder), or a file exported to
    ONNX (``trueclass export``); never runs code stored in the file."""
    from ._io import is_onnx, read_saved

    if is_onnx(path):
        from ._onnx import load_onnx

        model = load_onnx(path)
    else:
        from ._estimator import ImageClassifier

        model = ImageClassifier._from_saved(*read_saved(path))
    # named where a file name is given in place of images; and where the fingerprints of
    # the images it trained on are read when first asked for (ImageClassifier.__getattr__),
    # so that evaluate never scores them (as trueclass evaluate does)
    model._saved_at = path
    return model


__getattr__ = face(__name__)
__all__ += [n for n in face_names(__name__) if n not in __all__]
