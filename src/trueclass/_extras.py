"""Optional extras: the core install (data, models, evaluation, card, command line) and the
parts that bring libraries of their own. A part whose extra is missing says which to
install, in one sentence, before any work."""

from __future__ import annotations

import importlib.util
import sys

from ._errors import TrueclassError

__all__ = ["EXTRAS", "MissingExtra", "require", "has_extra"]

#: extra -> the modules it brings (as imported; pyproject.toml names their packages)
EXTRAS = {
    "studio": ("starlette", "uvicorn", "multipart"),
    "export": ("onnx", "onnxscript", "skl2onnx"),
    "scale": ("faiss",),
    "explain": ("captum",),
    "tensorboard": ("tensorboard",),
    "mlflow": ("mlflow",),
    "parquet": ("pyarrow",),
}


class MissingExtra(TrueclassError):
    """A part of trueclass whose optional extra is not installed."""


def _missing(extra: str) -> list[str]:
    out = []
    for module in EXTRAS[extra]:
        if module in sys.modules:
            if sys.modules[module] is None:  # blocked
                out.append(module)
            continue
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(module)
    return out


def has_extra(extra: str) -> bool:
    return not _missing(extra)


def require(extra: str, what: str) -> None:
    """Raise :class:`MissingExtra` naming ``extra`` when a module of it is not installed;
    ``what`` names the part that needs it ("The studio")."""
    missing = _missing(extra)
    if missing:
        raise MissingExtra(f"{what} needs the optional {extra!r} extra ({', '.join(missing)} "
                           f"{'is' if len(missing) == 1 else 'are'} not installed): pip install 'trueclass[{extra}]'.")
