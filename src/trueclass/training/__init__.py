"""The torch trainer, batched augmentation, checkpoints and the runtime choice. Imports torch."""

from .._face import face, face_names
from ._augment import PRESETS, Augment, augment_batch, default_preset_for, preset
from ._checkpoint import load_checkpoint, save_checkpoint
from ._device import Runtime, auto_device_setting, auto_precision_setting, cpu_has_bf16, device_for_run, named_setting, pick_runtime, resolve_device
from ._trainer import (TTA_MODES, TrainConfig, Trainer, TrainingInterrupted, TrainResult, lr_factor, predict_logits,
                       shifted, tta_views)

__all__ = [
    "PRESETS",
    "TTA_MODES",
    "Augment",
    "Runtime",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingInterrupted",
    "augment_batch",
    "auto_device_setting",
    "auto_precision_setting",
    "cpu_has_bf16",
    "device_for_run",
    "named_setting",
    "default_preset_for",
    "load_checkpoint",
    "lr_factor",
    "pick_runtime",
    "predict_logits",
    "resolve_device",
    "preset",
    "save_checkpoint",
    "shifted",
    "tta_views",
]


__getattr__ = face(__name__)

__all__ += [n for n in face_names(__name__) if n not in __all__]
