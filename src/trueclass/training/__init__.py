"""The torch trainer, batched augmentation, checkpoints and the runtime choice. Imports torch."""

from .._face import face, face_names
from ._augment import PRESETS, Augment, augment_batch, default_preset_for, preset
from ._checkpoint import load_checkpoint, save_checkpoint
from ._device import Runtime, cpu_has_bf16, pick_runtime
from ._trainer import TrainConfig, Trainer, TrainingInterrupted, TrainResult, lr_factor, predict_logits

__all__ = [
    "PRESETS",
    "Augment",
    "Runtime",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingInterrupted",
    "augment_batch",
    "cpu_has_bf16",
    "default_preset_for",
    "load_checkpoint",
    "lr_factor",
    "pick_runtime",
    "predict_logits",
    "preset",
    "save_checkpoint",
]

#: What other trueclass packages use besides the names above, loaded on first use.
_FACE = {
    "._batches": "DiskNCHW as_tensor subset_rows",
    "._budget": "LADDER measure parse_duration plan",
    "._checkpoint": "checkpoint_meta save_tensors",
    "._device": "resolve_device",
    "._trainer": "BN_IMAGES prep_input",
}

__getattr__ = face(__name__, _FACE)

__all__ += [n for n in face_names(_FACE) if n not in __all__]
