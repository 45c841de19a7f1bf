"""The registry of model names, in the manner of timm: ``list_models("*n*")``.

This module imports no backend: the backends register themselves when
``trueclass.models`` is imported (see its ``__init__``), so nothing here can form an
import cycle.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable

from .._errors import TrueclassError

__all__ = ["ModelSpec", "register_model", "register_prefix", "get_spec", "list_models", "MODELS"]


@dataclass(frozen=True)
class ModelSpec:
    """How to build one kind of model.

    ``build(params, y, random_state, n_classes=K, multilabel=False)`` returns an unfitted
    backend (see ``models._backend.Backend``) for the training labels ``y`` (integers);
    it raises a TrueclassError when the data cannot suit the model (too few images a
    class, say). ``backend`` is the backend's class, whose ``load(folder, meta)`` restores
    a saved one. ``prepare(images, value_max)`` turns float images (N, H, W, C) in the
    data's own units into what the backend takes (``prepare(images, value_max, on_progress)``
    when there is long work to report). ``defaults`` are the hyperparameters a
    user may set, with their default values, whose types the values must have (``types``
    names the type, or a tuple of types, where the default does not); ``check(params)``, when given, raises a
    TrueclassError for a value that means nothing, before any run folder or training.
    ``family`` is "pixel" (scikit-learn on flattened pixels) or "torch" (a network).
    ``train_views(images, value_max, params)``, when given, returns more training images
    (copies of ``images`` in the same units and order, each with the same labels) that
    ``fit`` prepares and trains on beside them; prediction never sees them.
    """

    name: str
    description: str
    family: str
    build: Callable[..., Any]
    prepare: Callable[..., Any]
    backend: type
    defaults: dict[str, Any] = field(default_factory=dict)
    types: dict[str, Any] = field(default_factory=dict)  # where a default (None) does not tell the type
    accepts_random_state: bool = False
    check: Callable[[dict[str, Any]], None] | None = None
    train_views: Callable[..., list[Any]] | None = None

    @property
    def is_network(self) -> bool:
        """Networks train in epochs, take a validation part and need images (not rows)."""
        return self.family == "torch"

    @property
    def default_val_size(self) -> float:
        """Share of the training part held out for validation when the user sets none:
        early stopping and the history of networks; pixel models have no use for one."""
        return 0.1 if self.is_network else 0.0


MODELS: dict[str, ModelSpec] = {}
#: name prefixes ("timm:") whose specs are made on request from the rest of the name
PREFIXES: dict[str, tuple[Callable[[str], ModelSpec], str]] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry under ``spec.name`` (a new name only)."""
    if spec.name in MODELS:
        raise ValueError(f"model {spec.name!r} is already registered")
    MODELS[spec.name] = spec
    return spec


def register_prefix(prefix: str, factory: Callable[[str], ModelSpec], listed_as: str) -> None:
    """Names ``prefix<anything>`` are made by ``factory(name)``; listed as ``listed_as``."""
    PREFIXES[prefix] = (factory, listed_as)


def _ordered() -> list[str]:
    """Registered names: pixel models, networks, then the rest (the pretrained probe),
    whichever module happened to be imported first."""
    rank = {"pixel": 0, "torch": 1}
    return sorted(MODELS, key=lambda n: rank.get(MODELS[n].family, 2))  # stable within a family


def _all_names() -> list[str]:
    return _ordered() + [listed for _, listed in PREFIXES.values()]


#: scikit-learn's names for our pixel models, as a student of the lesson writes them
_SKLEARN_NAMES = {"logisticregression": "logreg", "logistic": "logreg", "svc": "svm", "kneighbors": "knn",
                  "randomforest": "forest"}


def _timm_family(name: str) -> list[str]:
    """timm's architectures named ``name`` or starting with it, shortest first ("resnet":
    resnet18, ...); none where timm is missing or the name is one of ours."""
    if not name or name in MODELS or not name.replace("_", "").isalnum():
        return []
    try:
        import timm
    except ImportError:
        return []
    return sorted(timm.list_models(name) or timm.list_models(f"{name}*"), key=lambda n: (len(n), n))[:1]


def get_spec(name: str) -> ModelSpec:
    if isinstance(name, str):
        for prefix, (factory, _) in PREFIXES.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                return factory(name)
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        sklearn = _SKLEARN_NAMES.get(str(name).lower().replace("_", "").replace("classifier", ""))
        close = [sklearn] if sklearn else [f"timm:{n}" for n in _timm_family(str(name))] or difflib.get_close_matches(
            str(name), list(MODELS) + list(PREFIXES), n=1, cutoff=0.5)  # "resnet" is timm's, not near "forest"
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise TrueclassError(
            f"There is no model named {name!r}.{hint} Choose one of: {', '.join(_all_names())} "
            "(`trueclass models` lists them)."
        ) from None


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, in registry order."""
    return [n for n in _all_names() if fnmatch.fnmatch(n, pattern)]
