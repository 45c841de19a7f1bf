"""The registry of model names, in the manner of timm: ``list_models("*n*")``."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable

from .._errors import TrueclassError

__all__ = ["ModelSpec", "register_model", "get_spec", "list_models", "MODELS"]


@dataclass(frozen=True)
class ModelSpec:
    """How to build one kind of model.

    ``build(params, y, random_state, n_classes=K)`` returns an unfitted scikit-learn estimator for
    the training labels ``y`` (integers); it raises a TrueclassError when the data cannot
    suit the model (too few images a class, say).
    ``prepare(images, value_max)`` turns float images (N, H, W, C) in the data's own
    units into what the backend takes. ``defaults`` are the hyperparameters a user may
    set, with their default values; ``check(params)``, when given, raises a
    TrueclassError for a value that means nothing, before any run folder or training.
    """

    name: str
    description: str
    family: str
    build: Callable[..., Any]
    prepare: Callable[..., Any]
    defaults: dict[str, Any] = field(default_factory=dict)
    accepts_random_state: bool = False
    save_format: str = "skops"
    check: Callable[[dict[str, Any]], None] | None = None


MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry under ``spec.name`` (a new name only)."""
    if spec.name in MODELS:
        raise ValueError(f"model {spec.name!r} is already registered")
    MODELS[spec.name] = spec
    return spec


def _ensure_loaded() -> None:
    # Registering happens on import of the model modules (neither imports torch or
    # scikit-learn at import time).
    from . import _pixel, _torch  # noqa: F401


def _ordered() -> list[str]:
    """Registered names, pixel models first, whichever module happened to be imported first."""
    return sorted(MODELS, key=lambda n: MODELS[n].family != "pixel")  # stable within a family


def get_spec(name: str) -> ModelSpec:
    _ensure_loaded()
    if isinstance(name, str) and name.startswith("timm:") and len(name) > 5:
        from ._torch import timm_spec

        return timm_spec(name)
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        close = fnmatch.filter(MODELS, f"*{str(name)[:3]}*") if isinstance(name, str) else []
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise TrueclassError(
            f"There is no model named {name!r}.{hint} Choose one of: {', '.join(_ordered())} "
            "(`trueclass models` lists them)."
        ) from None


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, in registry order."""
    _ensure_loaded()
    names = _ordered() + ["timm:<name>"]
    return [n for n in names if fnmatch.fnmatch(n, pattern)]
