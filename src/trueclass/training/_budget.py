"""A time budget for the cnn: the best recipe this machine can train in the time given.

``time_budget="2m"`` measures a few training and prediction steps of each width on the
data itself, at the precision the run will use, and picks the widest net that affords
its minimum number of epochs, with as many epochs as fit (up to the recipe's own). The
choice is a pure function of the measured speeds, so it is recorded with the model
(``budget`` in the training record) and the same width and epochs repeat the run exactly
with ``--epochs``, ``-p width=`` and ``--tta`` (``--tta flip`` where the budget chose width
16, which predicts with flips as the quick preset does). A slow laptop gets a narrower net
or fewer epochs, never an unfinished schedule: the learning rate still runs its whole
one-cycle.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any, Callable

import numpy as np

from .._errors import TrueclassError

__all__ = ["LADDER", "budgeted_params", "parse_duration", "plan", "epoch_seconds"]

#: Widths from the most to the least accurate per epoch, each with the fewest epochs worth
#: training it for, and the most (None: the recipe's own epochs for this data). Chosen on
#: Fashion-MNIST validation images in fp32 (benchmarks/fp32_levers.py, 54k/6k, validation
#: accuracy / training seconds): width 32 for 15 epochs is the default recipe (0.9485);
#: width 24 for 15 epochs 0.9437 / 535 s; width 16 for 20 epochs 0.9393 / 354 s, for 5
#: epochs 0.9293 / 89 s; below a rung's minimum the next narrower net trained for more
#: epochs scores higher in the same time (width 32 for 3 epochs 0.9272 / 154 s).
#: Widths 32 and 24 predict with test-time augmentation over 1-pixel shifts (and mirrored
#: copies, for a net trained with flips): on the same validation images it lifted width 24
#: for 15 epochs (fp32) from 0.9437 to 0.9495 and width 32 for 15 epochs (bf16) from 0.9480
#: to 0.9520 (benchmarks/fp32_levers.py --tta), for 10 times the prediction time (6,000
#: images: 1.1 s and 10.9 s at width 24 in fp32 on 2 cores).
LADDER: tuple[dict[str, Any], ...] = (
    {"width": 32, "min_epochs": 12, "max_epochs": None, "tta": True},
    {"width": 24, "min_epochs": 8, "max_epochs": 15, "tta": True},
    # the quick preset's width: it predicts with flip test-time augmentation as that preset
    # does (models._torch.RECIPES; a budget of 2m on Fashion-MNIST scored 0.9184 without it
    # where the preset scored 0.9200 with it)
    {"width": 16, "min_epochs": 1, "max_epochs": 20, "tta": "flip"},
)

_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


def parse_duration(value: Any) -> float:
    """Seconds of a duration: a number of seconds, or text such as ``90s``, ``2m``,
    ``1m30s``, ``1.5h``."""
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        parts = re.findall(r"(\d+(?:\.\d+)?)(h|min|m|sec|s)?", text)
        if not text or "".join(n + (u or "") for n, u in parts) != text or (len(parts) > 1 and not all(u for _, u in parts)):
            raise TrueclassError(f"A time budget is a duration such as 90s, 2m, 1m30s or 1h; {value!r} is not one.")
        seconds = sum(float(n) * _UNITS[u or "s"] for n, u in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise TrueclassError(f"A time budget must be more than 0 seconds; got {value!r}.")
    return seconds


def budgeted_params(params: dict[str, Any], budget: dict[str, Any]) -> dict[str, Any]:
    """``params`` with what a time budget chose: its width and epochs, the batch and rate
    it measured with (unless given: the automatic batch of a GPU depends on the epochs being
    the recipe's own, which the budget's are not), and its rung's test-time augmentation
    unless some was asked for. The fit trains with them and the run's checks refit with them
    (run.config.as_budgeted)."""
    tta = {"tta": budget["tta"]} if budget.get("tta") and not params.get("tta") else {}
    measured = {k: budget[k] for k in ("batch_size", "lr") if params.get(k) is None and budget.get(k) is not None}
    return {**params, "width": budget["width"], "epochs": budget["epochs"], **measured, **tta}


def epoch_seconds(speed: dict[str, float], n_train: int, n_eval: int, batch_size: int) -> float:
    """One epoch's seconds: its training steps, and the per-epoch evaluation of the
    validation images and of (up to) 2,000 training images."""
    steps = max(1, n_train // max(1, min(batch_size, n_train)))
    return steps * batch_size / speed["train"] + n_eval / speed["predict"]


def measure(step: Callable[[], None], predict: Callable[[], None], batch_size: int, predict_batch: int,
            repeats: int = 3) -> dict[str, float]:
    """Images per second of ``step`` (one training step of ``batch_size`` images) and of
    ``predict`` (``predict_batch`` images), after one warm-up call of each; the median of
    ``repeats`` timed calls."""
    step()
    predict()
    out: dict[str, float] = {}
    for key, fn, n in (("train", step, batch_size), ("predict", predict, predict_batch)):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        out[key] = n / max(float(np.median(times)), 1e-9)
    return out


def plan(seconds: float, speeds: dict[int, dict[str, float]], *, n_train: int, n_eval: int, batch_size: int,
         recipe_epochs: int, fixed_seconds: float = 0.0, final_images: int = 0) -> dict[str, Any]:
    """The width and epochs for a budget of ``seconds`` given the measured ``speeds`` of
    each width of :data:`LADDER`; ``fixed_seconds`` are spent whatever is chosen (the
    measuring itself), and ``final_images`` are predicted once at the end (the BatchNorm
    pass). Falls to one epoch of the narrowest net when even that does not fit, and says so."""
    costs = {w: epoch_seconds(s, n_train, n_eval, batch_size) for w, s in speeds.items()}
    fixed = {w: fixed_seconds + final_images / s["predict"] for w, s in speeds.items()}
    for rung in LADDER:
        width = rung["width"]
        if width not in costs:
            continue
        most = recipe_epochs if rung["max_epochs"] is None else min(rung["max_epochs"], max(recipe_epochs, 1))
        left = seconds - fixed[width]
        affordable = int(left // costs[width]) if left > 0 else 0
        if affordable >= min(rung["min_epochs"], most):
            epochs = min(affordable, most)
            return {"width": width, "epochs": epochs, "fits": True, "epoch_seconds": round(costs[width], 2),
                    "expected_seconds": round(fixed[width] + epochs * costs[width], 1)}
    width = LADDER[-1]["width"]
    return {"width": width, "epochs": 1, "fits": False, "epoch_seconds": round(costs[width], 2),
            "expected_seconds": round(fixed[width] + costs[width], 1)}
