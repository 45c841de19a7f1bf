"""What a run records about its data and its machine."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._errors import TrueclassError
from ..data import Dataset, Split
from .folder import safe_name

__all__ = ["environment", "dataset_info", "source_name", "image_properties", "model_record"]


def source_name(source: Any) -> str:
    """A short name for run folders: "digits", "photos", "train" (of idx:train-images...)."""
    if isinstance(source, Dataset):
        return safe_name(Path(str(source.provenance.get("source", "data"))).stem)
    text = str(source)
    if text.startswith("idx:"):
        return safe_name(Path(text[4:].split(",")[0]).name.split(".")[0])
    return safe_name(Path(text).stem if "/" in text or "." in text else text)


def _gpu_name(torch: Any) -> str | None:
    """The GPU this run's networks use ("auto" as it resolves now: --device, the model's
    device for the run), or None where they run on the CPU."""
    from ..training import resolve_device

    try:
        device = resolve_device("auto")
    except TrueclassError:
        return None
    return torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else None


def environment() -> dict[str, Any]:
    import sklearn

    env = {
        "trueclass": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    if "torch" in sys.modules:  # only when a network was used: never import torch for this
        torch = sys.modules["torch"]
        env["torch"] = torch.__version__
        env["cuda"] = _gpu_name(torch)
    return env


def dataset_info(ds: Dataset) -> dict[str, Any]:
    skipped = [s.to_dict() if hasattr(s, "to_dict") else dict(s) for s in ds.skipped]
    h, w = ds.image_size
    return {
        "source": ds.provenance.get("source"),
        "hash": ds.hash,
        "n_images": len(ds),
        "image_size": [h, w],
        "color_mode": ds.color_mode,
        "value_max": int(ds.value_max),  # white: 16 for the digits, 255 for 8-bit images
        "counts": ds.counts(),
        "n_skipped": len(skipped),
        "skipped": skipped,
        **({"resized_from": ds.provenance["resized_from"]} if "resized_from" in ds.provenance else {}),
    }


def image_properties(ds: Dataset, idx: np.ndarray | None = None) -> dict[str, list[float]]:
    """Brightness, contrast, colour and file size (mean, spread) of ``ds``'s images at
    ``idx`` (up to 20,000 of them when None)."""
    from ..models import input_stats
    from ..data import PER_IMAGE_KEYS, to_display

    if idx is None:
        idx = np.arange(min(len(ds), 20000))
    sizes = ds.provenance.get(PER_IMAGE_KEYS[0])
    return input_stats(to_display(ds.images[idx], ds.value_max),
                       None if sizes is None else np.asarray(sizes)[idx])


def images_digest(ds: Dataset) -> str:
    """One digest of a set of labelled images, whatever their order: the run's held-out test
    images are known again by it (``trueclass evaluate`` on the run's own source)."""
    import hashlib

    from ..data import pixel_hashes, to_display

    rows = []
    for start in range(0, len(ds), 4096):  # in chunks: a photo set's display copy at once is large
        pixels = pixel_hashes(to_display(ds.images[start:start + 4096], ds.value_max))
        rows += [f"{h}|{'|'.join(ds.label_names(start + i))}" for i, h in enumerate(pixels)]
    return hashlib.sha1("\n".join(sorted(rows)).encode()).hexdigest()


def model_record(ev: Any, ds: Dataset, parts: Split, fingerprints: Any, test: Dataset) -> dict[str, Any]:
    """What model.json keeps of the run beside the model itself (``test``: the images ``ev``
    scored)."""
    return {
        "threshold": None if ds.multilabel else ev.flagged["threshold"],
        "threshold_chosen_on": getattr(ev, "threshold_source", "per-label thresholds on validation data"),
        "review_target": None if ds.multilabel else ev.flagged.get("target_accuracy"),
        # how the threshold did on the held-out images it was chosen on: evaluate says it again
        "review": None if ds.multilabel else {k: ev.flagged[k] for k in (
            "target_reached", "chosen_on_images", "target_min_images", "held_out_images", "held_out_accuracy_accepted",
            "held_out_fraction_flagged") if k in ev.flagged},
        "split": parts.params,
        "source": dataset_info(ds) | {"skipped": []},
        "fingerprints": fingerprints,
        "input_stats": image_properties(ds, parts.indices["train"][:20000]),
        # the score beside which another set's score is set (trueclass evaluate MODEL OTHER)
        "held_out": None if ds.multilabel else {"right": int(ev.n_test - ev.n_wrong), "n": int(ev.n_test),
                                                "source": str(ds.provenance.get("source")),
                                                "images": images_digest(test)},
    }
