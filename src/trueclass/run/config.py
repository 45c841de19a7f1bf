"""One run configuration: every parameter of a run, once.

Its fields come from the table in :mod:`.fields`, as do ``trueclass train``'s options and
the equivalent command line (:meth:`RunConfig.to_argv`); ``config.json`` is its JSON (plus
what the run resolved, such as the image size it chose) and ``--resume`` reads it back
with :meth:`RunConfig.from_dict`.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import asdict, field, fields, make_dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from .fields import DEFAULT_MODEL_NAME, argv_for, run_fields

__all__ = ["RunConfig", "DEFAULT_MODEL_NAME", "AFTER_TRAINING", "budget_for_fit", "as_budgeted", "source_path"]


def _size_text(size: Any) -> str | None:
    """An image size as the command line writes it: "32" or "WIDTHxHEIGHT"."""
    if size is None:
        return None
    if isinstance(size, (list, tuple)):
        h, w = (int(v) for v in size)
        return str(h) if h == w else f"{w}x{h}"
    return str(size)


class _RunConfigMethods:
    """What a run does: ``source``, the model's ``params`` (its hyperparameters as the user
    gave them, a preset's values included), then a field for each run setting of
    :data:`~trueclass.run.fields.RUN_FIELDS` (``val_size=None`` means the model's own
    default). Frozen; compared by value."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", str(self.source))
        object.__setattr__(self, "params", dict(self.params or {}))
        object.__setattr__(self, "image_size", _size_text(self.image_size))
        for name in ("device", "precision"):  # "CPU", " fp32" as a user may type them
            if getattr(self, name) is not None:
                object.__setattr__(self, name, str(getattr(self, name)).strip().lower())
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", str(self.data_dir))
        from .trackers import parse_trackers

        object.__setattr__(self, "log", parse_trackers(self.log))  # ["mlflow", "tensorboard"] -> "tensorboard,mlflow"
        for f in run_fields():  # the table's choices and minimums
            f.check(getattr(self, f.name))

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunConfig":
        """The configuration in ``data`` (config.json); other keys are ignored. A source
        given as a path is the absolute one config.json also keeps (``resolved.source_path``)
        where that is still there: a resume or an export started in another folder than the
        training reads the images it trained on, not a folder of the same name there."""
        names = {f.name for f in fields(cls)}
        given = {k: v for k, v in data.items() if k in names}
        where = (data.get("resolved") or {}).get("source_path")
        if where and isinstance(given.get("source"), str) and Path(where).exists():
            given["source"] = where
        return cls(**given)

    # -- the command line --------------------------------------------------------------------
    def to_argv(self) -> list[str]:
        """The ``trueclass train`` arguments that make this configuration."""
        argv = [self.source, *argv_for(self)]
        for key, value in self.params.items():
            argv += ["--param", f"{key}={format_value(value)}"]
        return argv

    def command(self) -> str:
        """The shell command that repeats this run."""
        return shlex.join(["trueclass", "train", *self.to_argv()])


def source_path(source: Any) -> str | None:
    """The absolute path of a source given as a path on this machine (a folder or a file),
    or None (a built-in data set's name, a Dataset, a path that is not there)."""
    from ..data import BUILTIN_DATASETS

    if not isinstance(source, (str, Path)) or str(source) in BUILTIN_DATASETS:
        return None
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else None


def _dataclass_fields() -> list[tuple[str, str, Any]]:
    """source, model, params (the model's hyperparameters), then the other run fields."""
    out = [("source", "str", field(default="digits"))]
    for f in run_fields():
        out.append((f.name, f.annotation, field(default=f.default)))
        if f.name == "model":
            out.append(("params", "Mapping[str, Any]", field(default_factory=dict)))
    return out


RunConfig = make_dataclass("RunConfig", _dataclass_fields(), bases=(_RunConfigMethods,), frozen=True)
RunConfig.__doc__, RunConfig.__module__ = _RunConfigMethods.__doc__, __name__


def format_value(value: Any) -> str:
    """A parameter value as ``parse_value`` reads it back."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def parse_value(text: str) -> Any:
    """``KEY=VALUE`` values of the command line: true/false, none, numbers, JSON lists
    and objects, else the text itself."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.strip()[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return text


#: What a whole-run time budget keeps for the work after training (scoring the test images,
#: the audit's label-error model, the checks, the card): a share of the budget and a few
#: seconds. With it, `--time-budget 2m` on Fashion-MNIST in fp32 ended after 117 s and
#: `--time-budget 10m` after 563 s (benchmarks/fashion_mnist.py --recipes).
AFTER_TRAINING = {"share": 0.12, "seconds": 5.0}


def with_preset(preset: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` over a named network recipe's (models._torch.RECIPES: default, quick,
    best), for ``trueclass train --preset`` and ``train(preset=...)`` alike; a sentence for
    an unknown name, and for a preset beside a time budget, which chooses the recipe itself."""
    from .._errors import TrueclassError
    from ..models import RECIPES

    if preset not in RECIPES:
        raise TrueclassError(f"There is no preset {preset!r}; choose {', '.join(map(repr, RECIPES))}.")
    if preset != "default" and params.get("time_budget") is not None:
        raise TrueclassError("A time_budget chooses the recipe itself; leave out preset=NAME.")
    return {**RECIPES[preset], **params}


def budget_for_fit(config: RunConfig, started: float) -> RunConfig:
    """``config`` with a whole-run ``time_budget`` turned into the fit's own: what is left
    of the budget after the work so far (load, audit, split), less what the work after
    training needs."""
    if config.params.get("time_budget") is None:
        return config
    from ..training import parse_duration

    whole = parse_duration(config.params["time_budget"])
    left = whole - (time.monotonic() - started) - AFTER_TRAINING["share"] * whole - AFTER_TRAINING["seconds"]
    return replace(config, params={**config.params, "time_budget": round(max(left, 1.0), 1)})


def as_budgeted(config: RunConfig, clf: Any) -> RunConfig:
    """``config`` with the width, epochs and test-time augmentation that the fit's time
    budget chose in place of the budget (the configuration itself as it is otherwise)."""
    budget = getattr(getattr(clf, "estimator_", None), "budget_", None)
    if not budget:
        return config
    from ..training import budgeted_params

    return replace(config, params=budgeted_params({k: v for k, v in config.params.items() if k != "time_budget"},
                                                  budget))
