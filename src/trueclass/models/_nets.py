"""The networks: our small CNN, and pretrained backbones through timm. Imports torch:
only loaded when a torch model is built."""

from __future__ import annotations

import math
from typing import Any

import torch.nn as nn

from .._errors import TrueclassError

__all__ = ["GlobalMaxPool", "WithHead", "build_cnn", "build_timm", "cnn_layout", "load_state_into"]


def cnn_layout(image_size: tuple[int, int], width: int = 32, depth: int = 2) -> dict[str, Any]:
    """How many stride-2 stems and pooling stages suit an image size.

    Big images first go through stride-2 convolutions until the short side is at most 64
    (full-resolution convolutions on photos would be slow on a CPU); then each stage
    halves the side, as many times as leaves about 3-4 pixels.
    """
    side = min(image_size)
    strided = 0
    while side > 64:
        side = (side + 1) // 2
        strided += 1
    pools = int(min(4, max(1, round(math.log2(max(side, 2) / 3.5)))))
    return {"strided_stem": strided, "pools": pools, "width": int(width), "depth": int(depth)}


def build_cnn(in_channels: int, n_classes: int, image_size: tuple[int, int], *, width: int = 32, depth: int = 2):
    """conv-BN-ReLU stem, then stages of max-pool + ``depth`` conv-BN-ReLU doubling the
    width, a global max-pool and a linear head.

    Most convolutions come after the first pooling, where they are cheap: for 28x28 grey
    images a training step runs at 2,612 images/s on 2 CPU cores in bf16 with
    channels_last (benchmarks/trainer_speed.py), and 15 epochs reach 0.9485 on a
    validation split of Fashion-MNIST's training images.
    """
    if width < 4 or depth < 1:
        raise TrueclassError("cnn needs width >= 4 and depth >= 1.")
    if min(image_size) < 2:
        raise TrueclassError(f"The cnn needs images of at least 2x2 pixels; these are {image_size[1]}x{image_size[0]}.")
    lay = cnn_layout(image_size, width, depth)

    def cbn(cin: int, cout: int, stride: int = 1) -> list:
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    layers = cbn(in_channels, width, 2 if lay["strided_stem"] else 1)
    for _ in range(max(0, lay["strided_stem"] - 1)):
        layers += cbn(width, width, 2)
    c = width
    for _ in range(lay["pools"]):
        layers.append(nn.MaxPool2d(2))
        layers += cbn(c, 2 * c)
        c *= 2
        for _ in range(depth - 1):
            layers += cbn(c, c)
    layers += [GlobalMaxPool()]  # no parameters: the weights files of earlier cnns load unchanged
    body = nn.Sequential(*layers)
    return WithHead(body, nn.Linear(c, n_classes))


class GlobalMaxPool(nn.Module):
    """The largest value of each channel: (N, C, H, W) -> (N, C).

    Written as ``amax`` over the spatial dimensions rather than ``AdaptiveMaxPool2d(1)`` +
    ``Flatten``: the same numbers, and torch.onnx's dynamo exporter (torch 2.11 with
    onnxscript 0.7.2) has no ONNX function for aten.adaptive_max_pool2d, while amax exports
    everywhere as ReduceMax."""

    def forward(self, x):
        return x.amax(dim=(2, 3))


class WithHead(nn.Module):
    """A feature body and a linear head, so the head can be swapped or trained alone."""

    def __init__(self, body: nn.Module, head: nn.Module):
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, x):
        return self.head(self.body(x))


OFFLINE_ARCH = "tf_efficientnet_lite0"  # pretrained weights ship with trueclass (trueclass.features)


def build_timm(name: str, n_classes: int, *, pretrained: bool = False):
    """A timm backbone with a fresh head for ``n_classes``.

    ``pretrained=True`` takes ``tf_efficientnet_lite0``'s ImageNet weights from the package
    installed with trueclass, and asks timm's model hub for any other; without a network
    that fails with a sentence that points to ``--weights PATH``.
    """
    try:
        import timm
    except ImportError:  # pragma: no cover - a declared dependency
        raise TrueclassError("Pretrained backbones need the timm package: pip install timm.") from None
    if name not in timm.list_models() and name not in timm.list_models(pretrained=True):
        close = timm.list_models(f"*{name}*")[:5]
        hint = f" Close names: {', '.join(close)}." if close else ""
        raise TrueclassError(f"timm has no model named {name!r}.{hint}")
    if pretrained and name == OFFLINE_ARCH:  # the weights installed with trueclass: no hub needed
        from ..features import build_backbone

        net = build_backbone(num_classes=n_classes)
        return net
    if pretrained:
        _hub_or_cache(name)
    try:
        return timm.create_model(name, pretrained=pretrained, num_classes=n_classes)
    except (OSError, RuntimeError, ValueError) as exc:
        if pretrained:
            raise TrueclassError(
                f"Could not fetch pretrained weights for {name!r} from the model hub ({type(exc).__name__}: "
                f"{str(exc)[:200]}). Without a network, pass a local weights file as weights=PATH."
            ) from None
        raise


def _hub_or_cache(name: str, timeout: float = 3.0) -> None:
    """Fail at once, in one sentence, when pretrained weights are neither in the local
    cache nor reachable: without this a machine with no network spent about a minute in
    the hub client's retries before the same error."""
    import os
    import socket
    from urllib.parse import urlparse

    import timm

    cfg = timm.get_pretrained_cfg(name)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if hub_id:
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
            if isinstance(try_to_load_from_cache(hub_id.split("@")[0], filename), str):
                return  # in the cache: no network needed
    hint = "Without a network, pass a local weights file as weights=PATH."
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise TrueclassError(f"The pretrained weights of {name!r} are not in the local cache and HF_HUB_OFFLINE is "
                             f"set, so they cannot be fetched. {hint}")
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                 timeout=timeout).close()
    except OSError as exc:
        raise TrueclassError(f"Could not fetch pretrained weights for {name!r}: the model hub ({url.hostname}) cannot "
                             f"be reached from here ({exc.strerror or type(exc).__name__}). {hint}") from None


def load_state_into(module, state: dict, *, skip_prefixes: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Load matching tensors of ``state`` into ``module``; a head of another size is left fresh.

    Returns which keys were loaded, skipped (shape or name mismatch) and missing.
    """
    own = module.state_dict()
    loaded, skipped = [], []
    for key, value in state.items():
        if key.startswith(skip_prefixes) or key not in own or own[key].shape != value.shape:
            skipped.append(key)
            continue
        own[key] = value
        loaded.append(key)
    module.load_state_dict(own)
    missing = [k for k in own if k not in state]
    if not loaded:
        raise TrueclassError("The weights file matches none of this network's layers; is it for another model?")
    return {"loaded": loaded, "skipped": skipped, "missing": missing}
