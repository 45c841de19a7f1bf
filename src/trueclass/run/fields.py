"""Every setting of a run, declared once.

Each :class:`RunField` names one setting: its default, its help text and its command-line
flag. :class:`~trueclass.run.config.RunConfig`'s fields, ``trueclass train``'s options,
the equivalent command line (``RunConfig.to_argv``), config.json and ``--resume`` are all
made from :data:`RUN_FIELDS`; a setting added here appears in each of them.

Two kinds: ``of="run"`` is a field of the run configuration (split, audit, checks);
``of="param"`` is a network hyperparameter with a flag of its own, which travels in
``RunConfig.params`` beside any ``--param KEY=VALUE`` (its default, None, means "the
model's own").
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable

from .._errors import TrueclassError

__all__ = ["RunField", "RUN_FIELDS", "DEFAULT_MODEL_NAME", "run_fields", "param_fields", "cli_options", "settings_from_options",
           "argv_for", "refuse_beside_resume"]


@dataclass(frozen=True)
class RunField:
    name: str
    default: Any
    help: str
    flag: str  # the command line's flag: "--test-size"
    type: type = str  # the value's type
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    aliases: tuple[str, ...] = ()  # other flags for the same setting ("-m", "--random-state")
    switch: bool = False  # a flag without a value: giving it sets ``not default`` (or True for a param)
    of: str = "run"  # "run": a RunConfig field; "param": a model hyperparameter with a flag of its own
    metavar: str | None = None
    none_text: str | None = None  # a choice that means None ("none" for --class-weight)

    @property
    def annotation(self) -> str:
        """RunConfig's type hint, from the value's type and default."""
        kind = "bool" if self.switch else "str" if self.choices else self.type.__name__
        return f"{kind} | None" if self.default is None else kind

    def check(self, value: Any) -> None:
        """A sentence for a value outside the field's choices or below its minimum."""
        if self.choices and value not in self.choices and value != self.default:
            allowed = ", ".join(repr(c) for c in self.choices[:-1]) + f" or {self.choices[-1]!r}"
            raise TrueclassError(f"{self.name} must be {allowed}, not {value!r}.")
        if self.minimum is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                                         or value < self.minimum
                                         or (self.maximum is not None and value > self.maximum)):
            within = "or more" if self.maximum is None else f"to {self.maximum:,}"
            raise TrueclassError(f"{self.name} must be a whole number of {self.minimum} {within}; got {value!r}.")

    def to_value(self, given: Any) -> Any:
        """The setting for what click parsed (None: not given, for a param)."""
        if self.switch:
            if self.of == "param":
                return True if given else None
            return (not self.default) if given else self.default
        if self.none_text is not None and given == self.none_text:
            return None
        return given

    def to_args(self, value: Any) -> list[str]:
        """The command-line arguments that give ``value`` (none for the default)."""
        if value == self.default and not (self.of == "run" and self.name in _ALWAYS_WRITTEN):
            return []
        if self.switch:
            return [self.flag]
        if isinstance(value, float):
            return [self.flag, repr(value)]
        return [self.flag, str(value)]


#: Written in the equivalent command line even at their defaults, so a reader sees them.
_ALWAYS_WRITTEN = ("model", "test_size", "seed")


#: The default model of a run: chosen from the data (models._choice) when the user names none.
DEFAULT_MODEL_NAME = "auto"

_P = "param"  # a network hyperparameter

RUN_FIELDS: tuple[RunField, ...] = (
    # -- the data and the split -----------------------------------------------------------
    RunField("model", DEFAULT_MODEL_NAME, "Model name (see `trueclass models`). Default: auto, chosen from the "
             "data (cnn for drawings on a plain background such as digits, lite0 for photographs; "
             "config.json says why).", "--model", aliases=("-m",)),
    RunField("test_size", 0.2, "Fraction of images held out for testing.", "--test-size", float),
    RunField("val_size", None, "Fraction of the training part held out for validation (early stopping, review "
             "threshold). Default: 0.1 for neural networks, 0 for pixel models.", "--val-size", float),
    RunField("seed", 0, "Seed for the split and the model (--random-state is scikit-learn's name for it).",
             "--seed", int, minimum=0, maximum=2**32 - 1, aliases=("--random-state",)),  # numpy's seeds
    RunField("stratify", True, "Split at random instead of keeping class proportions.", "--no-stratify",
             switch=True),
    RunField("image_size", None, "Resize every image: 32 or WIDTHxHEIGHT. Default: the most common size.",
             "--image-size"),
    RunField("color_mode", "auto", "Colour mode of the images: auto (from their content), L or RGB.",
             "--color-mode", choices=("auto", "L", "RGB")),
    RunField("data_dir", None, "Where to look first for a built-in data set's files.", "--data-dir"),
    # -- what else the run checks -----------------------------------------------------------
    RunField("repeats", 1, "Also re-split and re-train K-1 more times with other seeds; the card shows the "
             "spread.", "--repeats", int, minimum=1),
    RunField("audit", True, "Skip the data audit (duplicates, leaks, label errors) and the leak gate.",
             "--no-audit", switch=True),
    RunField("allow_leakage", False, "Split without keeping duplicate groups together (the card says so).",
             "--allow-leakage", switch=True),
    RunField("stress", False, "Also test the model under perturbations and on images of no class.", "--stress",
             switch=True),
    RunField("shuffle_check", False, "Also train on shuffled labels: the score must fall to chance, else "
             "something leaks.", "--shuffle-check", switch=True),
    RunField("unknown_class", False, 'Add a "none of these" class of images that belong to no class.',
             "--unknown-class", switch=True),
    RunField("slice_by", None, "Accuracy per group of test images: a column of the manifest (camera, site, ...), "
             "or folder for the subfolders inside each class folder (folder:2 the level below).", "--slice-by",
             metavar="COLUMN"),
    RunField("log", None, "Also log the run to experiment trackers: tensorboard, mlflow, or both as "
             "tensorboard,mlflow (each needs its extra: pip install 'trueclass[tensorboard]').", "--log",
             metavar="TRACKERS"),
    RunField("device", None, "Where the run's networks run (the model, the audit's label model, the backbone, "
             "the checks): cpu, cuda or cuda:K. Default: a CUDA GPU when torch sees one, else the CPU "
             "($TRUECLASS_DEVICE sets it too).", "--device", metavar="cpu|cuda|cuda:K"),
    RunField("precision", None, "Arithmetic of the run's networks: bf16 or fp16 autocast, or fp32. Default: bf16 where "
             "the hardware has it (fp16 with loss scaling on a T4 or V100), else fp32 ($TRUECLASS_PRECISION sets it "
             "too).", "--precision", choices=("auto", "bf16", "fp16", "fp32")),
    # -- network hyperparameters with flags of their own (None: the model's default) ------------
    RunField("time_budget", None, "Wall time for the whole run, e.g. 2m or 90s: the cnn's width and epochs are "
             "chosen from a quick measure of this machine's speed so that the run ends within it "
             "(config.json says what was chosen).", "--time-budget", metavar="DURATION", of=_P),
    RunField("epochs", None, "Training epochs (neural networks).", "--epochs", int, of=_P),
    RunField("batch_size", None, "Images per training step (neural networks).", "--batch-size", int, of=_P),
    RunField("lr", None, "Peak learning rate (neural networks).", "--lr", float, of=_P),
    RunField("augment", None, "Augmentation preset: none, safe, digits, text, clothing, photos (default: the "
             "data set's own, else safe).", "--augment", of=_P),
    RunField("pretrained", None, "Start a timm backbone from the model hub's pretrained weights.", "--pretrained",
             switch=True, of=_P),
    RunField("weights", None, "Start from local weights: a .safetensors file or a trueclass run folder.",
             "--weights", of=_P),
    RunField("freeze", None, "Train only a new head on a frozen backbone (linear probe).", "--freeze",
             switch=True, of=_P),
    RunField("tta", None, "Average predictions over copies shifted by a pixel (and mirrored ones, for a net "
             "trained with flips) at test time.", "--tta",
             switch=True, of=_P),
    RunField("class_weight", None, "Weigh classes by the inverse of their frequency (imbalanced sets).",
             "--class-weight", choices=("none", "balanced"), none_text="none", of=_P),
    RunField("balanced_sampling", None, "Draw training batches with every class equally often.",
             "--balanced-sampling", switch=True, of=_P),
)


def run_fields() -> tuple[RunField, ...]:
    """The fields of the run configuration, in RunConfig's order (after ``source``)."""
    return tuple(f for f in RUN_FIELDS if f.of == "run")


def param_fields() -> tuple[RunField, ...]:
    """The network hyperparameters that have flags of their own."""
    return tuple(f for f in RUN_FIELDS if f.of == "param")


def cli_options() -> Callable[[Callable], Callable]:
    """A decorator that adds a click option for each field."""
    import click

    def decorate(func: Callable) -> Callable:
        for f in reversed(RUN_FIELDS):
            decls = [f.flag, *f.aliases, f.name]
            if f.switch:
                func = click.option(*decls, is_flag=True, default=False, help=f.help)(func)
            else:
                shown = f.of == "run" and f.default is not None
                kind = (click.Choice(list(f.choices)) if f.choices else
                        click.IntRange(min=f.minimum, max=f.maximum) if f.minimum is not None else f.type)
                func = click.option(*decls, type=kind, default=f.default if f.of == "run" else None,
                                    show_default=shown, metavar=f.metavar, help=f.help)(func)
        return func

    return decorate


def refuse_beside_resume(ctx: Any, allowed: tuple[str, ...]) -> None:
    """``trueclass train --resume DIR`` goes on with DIR's config.json: a sentence for any
    option (or SOURCE) but ``allowed`` given beside it, which would otherwise be dropped in
    silence."""
    from click.core import ParameterSource

    flag = {p.name: p.opts[0] if p.opts[0].startswith("-") else str(p.name).upper() for p in ctx.command.params}
    given = [name for name in flag if name not in (*allowed, "resume_dir") and name in ctx.params
             and ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)]
    if given:
        raise TrueclassError(f"--resume DIR goes on with the settings in DIR's config.json; leave out "
                             f"{', '.join(flag[n] for n in given)} (only {', '.join(flag[n] for n in allowed)} go "
                             "with it). To train anew, leave out --resume.")


def settings_from_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(RunConfig settings, model parameters given by their own flags) from click's parsed
    options (the fields' names are the options' names)."""
    settings = {f.name: f.to_value(options[f.name]) for f in run_fields()}
    params = {f.name: v for f in param_fields() if (v := f.to_value(options[f.name])) is not None}
    return settings, params


def argv_for(config: Any) -> list[str]:
    """The ``trueclass train`` arguments (after SOURCE) for ``config``'s run fields."""
    return [arg for f in run_fields() for arg in f.to_args(getattr(config, f.name))]
