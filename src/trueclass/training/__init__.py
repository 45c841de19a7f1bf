"""The torch trainer, batched augmentation, checkpoints and the runtime choice. Imports torch."""

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
    "BN_IMAGES": "._trainer",
    "DiskNCHW": "._batches",
    "LADDER": "._budget",
    "as_tensor": "._batches",
    "checkpoint_meta": "._checkpoint",
    "measure": "._budget",
    "parse_duration": "._budget",
    "plan": "._budget",
    "prep_input": "._trainer",
    "resolve_device": "._device",
    "save_tensors": "._checkpoint",
    "subset_rows": "._batches",
}


def __getattr__(name: str):
    if name in _FACE:  # read from its module each time (not kept here), so a patch of it holds
        import importlib

        return getattr(importlib.import_module(_FACE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ += sorted(_FACE)
