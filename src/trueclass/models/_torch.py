"""Neural networks behind the same registry and estimator: ``cnn`` and ``timm:<name>``.

Nothing here imports torch at import time: registering the names is free, and torch is
loaded when such a model is first built.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import TrueclassError
from ..data import is_on_disk
from ..training import DiskNCHW, TrainConfig, as_tensor, budgeted_params, subset_rows
from ._cnn_budget import plan_budget
from ._registry import ModelSpec, register_model, register_prefix

__all__ = ["TorchBackend", "to_nchw", "timm_spec", "RECIPES"]

#: Named recipes for the cnn (`--preset`), chosen on a validation split of
#: Fashion-MNIST's training images (54k/6k, seed 0; 2-core AMD EPYC): "default" (15 epochs,
#: batch 256) 0.9485 validation accuracy in about 6 minutes of training in bf16 (with flip
#: test-time augmentation 0.9475, so it is left off). "quick" is made for CPUs without
#: bf16 (benchmarks/fp32_levers.py, fp32 forced, validation accuracy / training seconds):
#: width 16, 5 epochs, batch 256, flip TTA 0.9293 / 89 s; the earlier width 32, 3 epochs,
#: batch 128 0.9272 / 154 s; width 16 for 4 epochs 0.9258 / 64 s, width 24 for 3 epochs
#: 0.9255 / 106 s. "best" is for the most accuracy in about twice the default's time (a
#: 2-core CPU with bf16: 15 minutes on Fashion-MNIST): 30 epochs run to the end of their
#: schedule, predicting with test-time augmentation (shifts, and mirrors for nets trained
#: with flips); on the same validation images, with bf16 (fp32_levers.py --tta), 0.9553
#: against the default's 0.9480 (0.9520 with the same augmentation at test time, 0.9510 with
#: 30 epochs alone); on the test images 0.9463 in 13.5 minutes against the default's 0.9402
#: in 6.7. Test accuracy and wall time: benchmarks/fashion_mnist.py.
RECIPES: dict[str, dict[str, Any]] = {
    "default": {},
    "quick": {"epochs": 5, "batch_size": 256, "lr": 0.1, "tta": "flip", "width": 16},
    "best": {"epochs": 30, "patience": 0, "tta": True},
}

#: A validation part smaller than this says little (4 images of 4 classes decided early
#: stopping once); below it a network trains on every image for its full epochs.
MIN_VAL_IMAGES = 30

_TRAIN_KEYS = ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "label_smoothing", "ema", "lookahead",
               "schedule", "warmup", "patience", "class_weight", "balanced_sampling")

#: The trainer's own defaults (TrainConfig), defined once there: the optimiser and its schedule.
_TRAINER_DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.name in _TRAIN_KEYS}

CNN_DEFAULTS: dict[str, Any] = {
    "width": 32,
    "depth": 2,
    **_TRAINER_DEFAULTS,
    "epochs": None,  # auto: 15, more for small sets; see _recipe_for_data
    "batch_size": None,  # auto: see _recipe_for_data
    "lr": None,  # auto: 0.1 for a batch of 256, scaled with the batch
    "augment": "auto",
    "val_fraction": 0.1,
    "tta": False,  # True: 1-pixel shifts, and flips when trained with flips (10 views); "flip": flips only
    "precision": "auto",
    "device": "auto",  # "cpu", "cuda" or "cuda:K"; auto: $TRUECLASS_DEVICE, else a CUDA GPU when torch sees one
    "weights": None,
    "freeze": False,
    "time_budget": None,  # "2m", "90s" or seconds: width and epochs chosen to fit (training._budget)
}

TIMM_DEFAULTS: dict[str, Any] = {
    **{k: v for k, v in CNN_DEFAULTS.items() if k not in ("width", "depth", "time_budget")},
    "epochs": 10,
    "batch_size": 64,
    "lr": 1e-3,
    "optimizer": "adamw",
    "weight_decay": 0.05,
    "pretrained": False,
    "input_size": None,
    "backbone_lr_scale": 0.1,
}


#: The types of the parameters whose default (None, False) does not tell it.
NET_TYPES: dict[str, Any] = {
    "epochs": int, "batch_size": int, "lr": float, "class_weight": (str, dict), "weights": str,
    "tta": (bool, str), "patience": int, "input_size": (int, list, tuple), "time_budget": (str, int, float),
    "device": str,
}


def check_tta(tta: Any) -> None:
    """A sentence for a ``tta`` value that means nothing."""
    if tta not in (None, False, True, "flip"):
        raise TrueclassError(f"tta must be False, True or 'flip', not {tta!r}.")


def _check_params(params: dict[str, Any]) -> None:
    from ..training import resolve_device

    check_tta(params.get("tta"))
    resolve_device(params.get("device"))  # a GPU asked for on a machine without one: before any work
    for key in ("epochs", "batch_size"):
        if params.get(key) is not None and params[key] < 1:
            raise TrueclassError(f"{key} must be 1 or more; got {params[key]!r}, which would train nothing.")
    if params.get("lr") is not None and params["lr"] < 0:
        raise TrueclassError(f"lr must not be negative; got {params['lr']!r}.")
    if params.get("lookahead") is not None and params["lookahead"] < 0:
        raise TrueclassError(f"lookahead is a number of steps (0 = off, 5 is usual); got {params['lookahead']!r}.")
    if params.get("time_budget") is not None:
        from ..training import parse_duration

        parse_duration(params["time_budget"])
        if params.get("epochs") is not None:
            raise TrueclassError("A time budget chooses the epochs (and the width) itself; give either the time "
                                 "budget or the epochs, not both.")


def to_nchw(images: np.ndarray, value_max: int, on_progress: Any = None) -> dict[str, Any]:  # noqa: ARG001
    """Images (N, H, W, C) as (N, C, H, W), kept as uint8 when they are, with their scale.
    Images on disk stay there: a :class:`DiskNCHW` reads them a batch at a time."""
    if is_on_disk(images):
        return {"x": DiskNCHW(images), "scale": float(value_max)}
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
    return {"x": np.ascontiguousarray(arr.transpose(0, 3, 1, 2)), "scale": float(value_max)}


class TorchBackend:
    """Trains and runs a torch network; speaks ``fit`` / ``predict_proba`` like scikit-learn."""

    def __init__(self, kind: str, params: dict[str, Any], n_classes: int, random_state: int | None,
                 multilabel: bool = False):
        self.kind = kind
        self.params = dict(params)
        self.n_classes = int(n_classes)
        self.random_state = 0 if random_state is None else int(random_state)
        self.multilabel = multilabel
        self.classes_ = np.arange(self.n_classes)
        self.history_: list[dict[str, Any]] = []

    # -- building --------------------------------------------------------------------------
    def _build_net(self, in_channels: int, image_size: tuple[int, int]):
        from ._nets import build_cnn, build_timm

        if self.kind == "cnn":
            return build_cnn(in_channels, self.n_classes, image_size,
                             width=int(self.params["width"]), depth=int(self.params["depth"]))
        return build_timm(self.kind.split(":", 1)[1], self.n_classes, pretrained=bool(self.params.get("pretrained")))

    def _load_weights(self, net) -> dict[str, Any]:
        """Start from a local weights file: a .safetensors file or a trueclass model folder."""
        from safetensors.torch import load_file

        from ._nets import load_state_into

        path = Path(str(self.params["weights"])).expanduser()
        if path.is_dir():
            path = path / "model" / "weights.safetensors" if (path / "model").is_dir() else path / "weights.safetensors"
        if not path.is_file():
            raise TrueclassError(f"The weights file {str(path)!r} does not exist.")
        if path.suffix != ".safetensors":
            raise TrueclassError(
                f"{str(path)!r} is not a .safetensors file; trueclass only loads weights in a format that cannot "
                "run code. Convert it with safetensors, or give a trueclass model folder."
            )
        try:
            state = load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types for broken files
            raise TrueclassError(f"The weights file {str(path)!r} could not be read ({exc}).") from None
        state = {k.removeprefix("net."): v for k, v in state.items()}
        return load_state_into(net, state) | {"file": str(path)}

    def _input_geometry(self, channels: int, image_size: tuple[int, int]):
        """(expand_channels, resize) for the network's input: grey to RGB and the size a
        timm backbone takes (``input_size``, else its pretrained size when starting from
        pretrained weights, else the data's own size, at least 32)."""
        if self.kind == "cnn":
            return None, None
        import timm

        size = self.params.get("input_size")
        if size is None:
            net_cfg = timm.get_pretrained_cfg(self.kind.split(":", 1)[1]) if self.params.get("pretrained") or self.params.get("weights") else None
            native = tuple(net_cfg.input_size[1:]) if net_cfg is not None and getattr(net_cfg, "input_size", None) else None
            size = native or tuple(max(32, s) for s in image_size)
        elif isinstance(size, int):
            size = (size, size)
        return 3 if channels == 1 else None, tuple(int(s) for s in size)

    # -- fit / predict ----------------------------------------------------------------------
    def fit(self, X: dict[str, Any], y: np.ndarray, *, val: tuple[dict[str, Any], np.ndarray] | None = None,
            on_progress=None, checkpoint=None, resume: bool = False, source: str | None = None):
        import torch

        from ..training import Trainer, checkpoint_meta, default_preset_for, preset

        p = self.params
        x_all, scale = X["x"], X["scale"]
        y = np.asarray(y)
        if val is None and p["val_fraction"] and p["val_fraction"] * len(y) >= MIN_VAL_IMAGES:
            val, (x_all, y) = self._carve_validation(X, y)
            self.carved_val_ = val  # the estimator fits its temperature on them, then drops them
        channels, h, w = x_all.shape[1:]
        self.image_size_ = (int(h), int(w))
        self.in_channels_ = int(channels)
        runtime = self.runtime()
        expand, resize = self._input_geometry(int(channels), (int(h), int(w)))
        self.expand_, self.resize_ = expand, resize
        mean, std = self._norm_stats(x_all, scale, expand)
        self.mean_, self.std_ = mean, std
        aug = default_preset_for(source) if p["augment"] in ("auto", None) else preset(p["augment"])
        self.augment_ = aug
        self.budget_ = None
        if p.get("time_budget") is not None:
            self.budget_ = self._budget(x_all, scale, y, val, runtime, aug, checkpoint if resume else None)
            p = self.params = budgeted_params(p, self.budget_)
        torch.manual_seed(self.random_state)
        net = self._build_net(int(channels), (int(h), int(w)))
        self.loaded_weights_ = self._load_weights(net) if p.get("weights") else None
        pretrained = bool(p.get("pretrained") or p.get("weights"))
        recipe_params = p
        if resume and checkpoint is not None and Path(checkpoint).is_file():
            # a resumed fit goes on with the batch, rate and epochs it began with: the automatic batch
            # depends on the device (and the epochs on the batch), and a checkpoint may come from another
            began = (checkpoint_meta(checkpoint) or {}).get("config") or {}
            recipe_params = {**p, **{k: began[k] for k in ("batch_size", "lr", "epochs")
                                     if p.get(k) is None and began.get(k)}}
        batch_size, lr, epochs = _recipe_for_data(recipe_params, len(y), gpu=runtime.is_cuda)
        cfg = TrainConfig(
            **{k: p[k] for k in _TRAIN_KEYS if k in p and k not in ("batch_size", "lr", "epochs")},
            batch_size=batch_size,
            lr=lr,
            epochs=epochs,
            augment=aug,
            freeze_backbone=bool(p.get("freeze")),
            # pretrained statistics stay: batches of a few dozen images would replace them with
            # noise, and the head fitted on the pretrained features would no longer match
            freeze_batchnorm=pretrained and self.kind != "cnn",
            backbone_lr_scale=float(p.get("backbone_lr_scale", 0.1)) if pretrained else 1.0,
            multilabel=self.multilabel,
            seed=self.random_state,
        )
        self.config_ = cfg
        head = ("head.",) if self.kind == "cnn" else tuple(f"{n}." for n in _timm_head_names(net))
        trainer = Trainer(cfg, runtime, mean=runtime.channel_stats(mean), std=runtime.channel_stats(std), scale=scale,
                          expand_channels=expand, resize=resize, head_prefixes=head,
                          note={"budget": self.budget_} if self.budget_ else None)
        xt = as_tensor(x_all)
        if pretrained and self.kind != "cnn" and not self.multilabel and not (resume and checkpoint is not None
                                                                              and Path(checkpoint).is_file()):
            self.head_from_probe_ = _head_from_probe(runtime.place(net), xt, y, trainer, seed=self.random_state)
        xv = as_tensor(val[0]["x"]) if val is not None else None
        yv = np.asarray(val[1]) if val is not None else None
        result = trainer.fit(net, xt, y, xv, yv, n_classes=self.n_classes, checkpoint=checkpoint, resume=resume,
                             on_progress=on_progress)
        # the model's own copy of the weights lives on the CPU in the plain layout (what is saved and
        # exported); prediction runs on a copy on the runtime's device (device_net)
        self.net_ = net.to("cpu").to(memory_format=torch.contiguous_format)
        self._device_nets = {}  # a refit's network replaces any device copy of the last one
        self.runtime_ = runtime
        self.result_ = result
        self.history_ = result.history
        self.scale_ = scale
        return self

    def _budget(self, x_all, scale: float, y: np.ndarray, val, runtime, aug, checkpoint) -> dict[str, Any]:
        """The width and epochs that fit ``time_budget`` on this machine (training._budget);
        a resumed fit keeps the choice written in its checkpoint."""
        from ..training import _distributed as dist, checkpoint_meta, parse_duration

        if checkpoint is not None and Path(checkpoint).is_file():
            kept = (checkpoint_meta(checkpoint) or {}).get("note", {}).get("budget")
            if kept:
                return kept
        if dist.world_size() > 1:
            raise TrueclassError("A time budget is measured on one process; under torchrun give the epochs (and "
                                 "-p width=) instead.")
        if self.kind != "cnn":
            raise TrueclassError("A time budget chooses the cnn's width and epochs; it does not apply to "
                                 f"{self.kind!r}.")
        seconds = parse_duration(self.params["time_budget"])
        return plan_budget(self, x_all, scale, y, 0 if val is None else len(val[1]), runtime, aug, seconds,
                           _recipe_for_data({**self.params, "epochs": None}, len(y), gpu=runtime.is_cuda))

    def _carve_validation(self, X, y):
        """Hold out ``val_fraction`` of the training images: ((val X, val y), (train x, train y))."""
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(y))
        strat = y if not self.multilabel and np.bincount(y).min() >= 2 else None
        try:
            tr, va = train_test_split(idx, test_size=self.params["val_fraction"], random_state=self.random_state,
                                      stratify=strat)
        except ValueError:
            tr, va = train_test_split(idx, test_size=self.params["val_fraction"], random_state=self.random_state)
        x = X["x"]
        return ({"x": subset_rows(x, va), "scale": X["scale"]}, y[va]), (subset_rows(x, tr), y[tr])

    def _norm_stats(self, x: np.ndarray, scale: float, expand: int | None):
        if self.kind != "cnn" and (self.params.get("pretrained") or self.params.get("weights")):
            import timm

            cfg = timm.get_pretrained_cfg(self.kind.split(":", 1)[1])
            if cfg is not None and cfg.mean:
                return list(cfg.mean), list(cfg.std)
        # per-channel mean and spread of up to 20,000 images, summed a chunk at a time
        n = min(len(x), 20000)
        total = np.zeros(x.shape[1]), np.zeros(x.shape[1])
        for start in range(0, n, 1000):
            chunk = np.asarray(x[start : min(n, start + 1000)], dtype=np.float64) / scale
            total[0][:] += chunk.sum(axis=(0, 2, 3))
            total[1][:] += (chunk * chunk).sum(axis=(0, 2, 3))
        count = max(n, 1) * x.shape[2] * x.shape[3]
        mean = total[0] / count
        std = np.sqrt(np.maximum(total[1] / count - mean * mean, 0.0)).clip(1e-3)
        if expand == 3 and len(mean) == 1:
            mean, std = np.repeat(mean, 3), np.repeat(std, 3)
        return [float(v) for v in mean], [float(v) for v in std]

    def runtime(self, precision: str | None = None):
        """Where this model's network runs now: its ``device`` and ``precision`` parameters
        resolved on this machine (a model trained on a GPU predicts on a CPU-only machine,
        and the other way round). ``precision="fp32"`` for gradients."""
        from ..training import pick_runtime

        return pick_runtime(precision or self.params.get("precision", "auto"), device=self.params.get("device"))

    def device_net(self, rt):
        """The trained network on ``rt``'s device and memory format: on the CPU the model's
        own, elsewhere a copy kept for the next call on the GPU current then (``net_``, saved
        and exported, stays on the CPU). Made outside inference mode: Grad-CAM needs it."""
        import copy

        import torch

        with torch.inference_mode(False):
            if rt.device == "cpu":
                net = self.net_
                return net.to(memory_format=torch.channels_last) if rt.channels_last else net
            cache = self.__dict__.setdefault("_device_nets", {})
            key = (f"cuda:{torch.cuda.current_device()}" if rt.device == "cuda" else rt.device, rt.channels_last)
            if key not in cache:
                cache.clear()  # one device copy at a time
                cache[key] = rt.place(copy.deepcopy(self.net_))
            return cache[key]

    def logits(self, X: dict[str, Any], tta: bool | str | None = None, *, mode: str | None = None):
        """Logits of every image; ``mode`` names the views (training.TTA_MODES) directly,
        for benchmarks that compare them, where ``tta`` is the user's setting."""
        from ..training import predict_logits

        rt = self.runtime()
        mode = mode or self.tta_mode(self.params.get("tta") if tta is None else tta)
        out = predict_logits(self.device_net(rt), as_tensor(X["x"]), scale=X["scale"],
                             mean=rt.channel_stats(self.mean_), std=rt.channel_stats(self.std_), runtime=rt, tta=mode,
                             expand_channels=self.expand_, resize=self.resize_)
        return out.numpy().astype(np.float64)

    def tta_mode(self, tta: bool | str | None) -> str | None:
        """What test-time augmentation ``tta`` means for this model (training.TTA_MODES):
        True averages over 1-pixel shifts, and over mirrored copies too for a model trained
        with flips; "flip" over mirrored copies only (nothing for a model trained without)."""
        check_tta(tta)
        flips = getattr(self, "augment_", None) is not None and self.augment_.hflip
        if tta is True:
            return "hflip+shift" if flips else "shift"
        return "hflip" if tta == "flip" and flips else None

    def predict_proba(self, X: dict[str, Any], tta: bool | str | None = None) -> np.ndarray:
        z = self.logits(X, tta)
        if self.multilabel:
            return 1.0 / (1.0 + np.exp(-z))
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def training_record(self) -> dict[str, Any]:
        """How training went: epochs, best epoch, speed, runtime, recipe, history."""
        res = getattr(self, "result_", None)
        info: dict[str, Any] = {"history": list(self.history_)}
        if res is not None:
            info |= {
                "epochs_run": len(res.history),
                "best_epoch": res.best_epoch,
                "stopped_early": res.stopped_early,
                "images_per_second": res.images_per_second,
                "machine_load": None if res.load is None else round(res.load, 1),
                "cores": res.cores,
                "resumed_from_epoch": None if res.resumed_from is None else res.resumed_from + 1,
                "runtime": self.runtime_.describe(),
                "recipe": self.config_.to_dict(),
                "head_from_probe": getattr(self, "head_from_probe_", None),
                **({"budget": self.budget_} if getattr(self, "budget_", None) else {}),
                **({"device_use": res.device_use} if res.device_use else {}),
            }
        return info

    def resolved(self) -> dict[str, Any]:
        """Exactly what was used, with "auto" resolved (the augmentation preset, the
        recipe, the runtime)."""
        if getattr(self, "config_", None) is None:
            return {}
        return {"augment_used": self.augment_.to_dict(), "recipe_used": self.config_.to_dict(),
                "runtime_used": self.runtime_.describe(),
                **({"budget_used": self.budget_} if getattr(self, "budget_", None) else {})}

    # -- persistence --------------------------------------------------------------------------
    def save(self, folder: Path) -> dict[str, Any]:
        from ..training import save_tensors

        save_tensors(folder / "weights.safetensors", self.net_.to("cpu").state_dict())
        return {
            "file": "weights.safetensors",
            "format": "safetensors",
            "network": {
                "kind": self.kind,
                "in_channels": self.in_channels_,
                "image_size": list(self.image_size_),
                "n_classes": self.n_classes,
                "multilabel": self.multilabel,
                "width": self.params.get("width"),
                "depth": self.params.get("depth"),
            },
            "input": {"mean": self.mean_, "std": self.std_, "expand_channels": self.expand_,
                      "resize": list(self.resize_) if self.resize_ else None},
            "augment": self.augment_.to_dict(),
            "train_config": self.config_.to_dict(),
            "history": self.history_,
        }

    @classmethod
    def load(cls, folder: Path, meta: dict[str, Any]) -> "TorchBackend":
        import torch
        from safetensors.torch import load_file

        info = meta["weights"]
        net_info = info["network"]
        params = dict(meta.get("params", {}))
        params["pretrained"] = False  # the weights come from the file, not a hub
        params["weights"] = None
        params["device"] = "auto"  # where it was trained says nothing of where it runs now
        for key in ("width", "depth"):  # as built (a time budget may have chosen the width)
            if net_info.get(key) is not None:
                params[key] = net_info[key]
        backend = cls(net_info["kind"], params, net_info["n_classes"], params.get("random_state"),
                      multilabel=net_info.get("multilabel", False))
        with torch.inference_mode(False):  # loaded inside a caller's inference mode, Grad-CAM could not use it
            net = backend._build_net(net_info["in_channels"], tuple(net_info["image_size"]))
            net.load_state_dict(load_file(str(folder / info["file"])))
        backend.net_ = net
        backend.in_channels_ = net_info["in_channels"]
        backend.image_size_ = tuple(net_info["image_size"])
        backend.mean_, backend.std_ = info["input"]["mean"], info["input"]["std"]
        backend.expand_ = info["input"]["expand_channels"]
        backend.resize_ = tuple(info["input"]["resize"]) if info["input"]["resize"] else None
        from ..training import preset

        backend.augment_ = preset(info.get("augment"))
        backend.history_ = info.get("history", [])
        return backend


#: The largest batch the recipe chooses by itself: 256 images on a CPU, GPU_MAX_BATCH on a
#: GPU, the learning rate scaled with it: a GPU runs a small net's step on 512 images in about
#: the time of 256 (kernel launches), so half the steps are up to half the time. Chosen on Fashion-MNIST's validation images
#: (54k/6k, the default net for 15 epochs, bf16 on a 2-core AMD EPYC; benchmarks/fp32_levers.py,
#: docs/benchmarks.md): batch 256 at rate 0.1 0.9473, 512 at 0.2 0.9512, 1,024 at 0.4 0.9423
#: and at 0.2 0.9415; seed 1: 256 0.9472, 512 0.9420. 512 keeps the mean (0.9466 against
#: 0.9473, within its seeds' spread); 1,024 does not. At `best`'s 30 epochs 512 scored 0.9480
#: against 0.9510, so a set number of epochs keeps 256. GPU seconds not measured (no GPU).
CPU_MAX_BATCH = 256
GPU_MAX_BATCH = 512


def _recipe_for_data(params: dict[str, Any], n_train: int, *, gpu: bool = False) -> tuple[int, float, int]:
    """Batch size, peak learning rate and epochs, with None meaning "choose for this data".

    Small sets get small batches (at least ~40 steps an epoch, between 32 and 256 images,
    512 on a GPU: GPU_MAX_BATCH): on digits' validation images (3 seeds, 15 epochs) batches
    of 32 reached 0.991, 64 0.989 and 256 0.984. The learning rate scales with the batch,
    0.1 for 256 (SGD). Epochs: 15, or as many as give about 1,200 steps (of the CPU's
    batch, so a GPU trains as many epochs) up to 30, since a small set's epoch is only a
    few dozen steps: on digits' validation images (10 seeds, 1,440 images) 15 epochs
    misread 10, 30 epochs 6 and 60 epochs 9; Fashion-MNIST keeps 15.
    """
    by_size = int(np.clip(n_train // 40, 32, CPU_MAX_BATCH))
    # a GPU's larger cap only with the recipe's own epochs, as measured (best's 30 keep 256)
    wide = gpu and params.get("epochs") is None
    bs = params.get("batch_size") or (int(np.clip(n_train // 40, 32, GPU_MAX_BATCH)) if wide else by_size)
    lr = params.get("lr")
    if lr is None:
        lr = 0.1 * bs / 256 if params.get("optimizer", "sgd") == "sgd" else 1e-3 * bs / 64
    epochs = params.get("epochs")
    if epochs is None:
        ref = params.get("batch_size") or by_size
        steps_per_epoch = max(1, n_train // min(ref, max(n_train, 1)))
        epochs = int(np.clip(math.ceil(1200 / steps_per_epoch), 15, 30))
    return int(bs), float(lr), int(epochs)


#: Training images whose pretrained features fit the starting head.
PROBE_IMAGES = 2000


def _head_from_probe(net, X, y: np.ndarray, trainer: Any, *, seed: int) -> dict[str, Any] | None:
    """Start fine-tuning from a linear probe (LP-FT): the new head is a logistic
    regression fitted on the pretrained network's own features of (up to PROBE_IMAGES)
    training images, instead of random numbers. A random head sends large, wrong
    gradients into the pretrained layers during the first steps; with few images and few
    steps (a CPU's budget) the network never recovers. On digits, 20 images a class, 10
    epochs: 0.32 from a random head (benchmarks/transfer_fewshot.py)."""
    import torch

    from ..training import predict_logits
    from ..features import probe

    head = net.get_classifier() if hasattr(net, "get_classifier") else None
    if not isinstance(head, torch.nn.Linear):
        return None
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.permutation(len(y))[:PROBE_IMAGES])
    feats = []
    hook = head.register_forward_pre_hook(lambda mod, args: feats.append(args[0].detach().float().cpu()))
    try:
        predict_logits(net, X[torch.from_numpy(pick)], scale=trainer.scale, mean=trainer.mean, std=trainer.std,
                       runtime=trainer.rt, expand_channels=trainer.expand_channels, resize=trainer.resize)
    finally:
        hook.remove()
    f = torch.cat(feats).numpy().astype(np.float64)
    yp = y[pick]
    classes = np.unique(yp)
    if len(classes) < 2:
        return None
    fitted = probe().fit(f, yp)
    scaler, lr = fitted[0], fitted[-1]
    mu, sd = scaler.mean_, scaler.scale_
    coef = lr.coef_ if len(classes) > 2 else np.vstack([-lr.coef_[0] / 2, lr.coef_[0] / 2])
    icpt = lr.intercept_ if len(classes) > 2 else np.array([-lr.intercept_[0] / 2, lr.intercept_[0] / 2])
    w = np.zeros(tuple(head.weight.shape))
    b = np.zeros(head.weight.shape[0])
    w[classes] = coef / sd  # the standardisation folded into the layer
    b[classes] = icpt - (coef / sd) @ mu
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(w, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(b, dtype=head.bias.dtype))
    return {"images": int(len(pick)), "train_accuracy": float(fitted.score(f, yp))}


def _timm_head_names(net) -> list[str]:
    """Names of the classifier modules of a timm model (the part a new task retrains)."""
    cfg = getattr(net, "pretrained_cfg", None) or {}
    names = cfg.get("classifier") if isinstance(cfg, dict) else getattr(cfg, "classifier", None)
    if isinstance(names, str):
        names = [names]
    return list(names or ["fc", "head", "classifier"])


def _build_torch(kind: str):
    def build(params: dict[str, Any], y: np.ndarray, random_state: int | None, *, n_classes: int | None = None,
              multilabel: bool = False, **_: Any):
        if n_classes is None:
            n_classes = y.shape[1] if multilabel else int(y.max()) + 1
        return TorchBackend(kind, params, n_classes, random_state, multilabel=multilabel)

    return build


register_model(ModelSpec(
    name="cnn",
    description="our small convolutional net (conv-BN-ReLU stages), bf16 on CPUs that have it",
    family="torch",
    build=_build_torch("cnn"),
    prepare=to_nchw,
    defaults=CNN_DEFAULTS,
    types=NET_TYPES,
    accepts_random_state=True,
    backend=TorchBackend,
    check=_check_params,
))


def timm_spec(name: str) -> ModelSpec:
    """The spec of ``timm:<backbone>``, made on request (timm has hundreds of names)."""
    return ModelSpec(
        name=name,
        description=f"timm backbone {name.split(':', 1)[1]} with a new head (transfer learning)",
        family="torch",
        build=_build_torch(name),
        prepare=to_nchw,
        defaults=TIMM_DEFAULTS,
        types=NET_TYPES,
        accepts_random_state=True,
        backend=TorchBackend,
        check=_check_params,
    )


register_prefix("timm:", timm_spec, "timm:<name>")
