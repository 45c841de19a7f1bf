"""Training checkpoints in safetensors: tensors plus JSON, never pickle.

A checkpoint holds the model, the EMA copy, the best weights so far, the optimizer's
state and the loop's counters. It is written to a temporary file and renamed, so a run
killed mid-write (kill -9 included) leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._errors import TrueclassError
from .._paths import as_umask_allows

__all__ = ["save_checkpoint", "load_checkpoint", "checkpoint_meta", "save_tensors", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.safetensors"


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch

    tensors, plain = {}, {}
    for idx, per_param in state["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                plain.setdefault(str(idx), {})[key] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return tensors, {"groups": groups, "plain": plain}


def save_tensors(path: str | Path, tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> Path:
    """Write tensors to a safetensors file through a temporary file and a rename."""
    from safetensors.torch import save_file

    path = Path(path)
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(flat, str(tmp), metadata=metadata)
    os.replace(as_umask_allows(tmp), path)
    return path


def save_checkpoint(path: str | Path, *, tensors: dict[str, dict[str, Any]], optimizer: Any, meta: dict[str, Any]) -> Path:
    """Write ``tensors`` (name -> state dict), the optimizer state and ``meta`` atomically."""
    flat = {f"{prefix}.{key}": value for prefix, state in tensors.items() for key, value in state.items()}
    opt_tensors, opt_plain = _flatten_optimizer(optimizer.state_dict())
    flat.update(opt_tensors)
    payload = json.dumps({"meta": meta, "optimizer": opt_plain})
    return save_tensors(path, flat, metadata={"trueclass": payload})


def checkpoint_meta(path: str | Path) -> dict[str, Any] | None:
    """The meta of the checkpoint at ``path`` without its tensors; None when there is none
    or it cannot be read."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return json.loads(fh.metadata()["trueclass"])["meta"]
    except (OSError, KeyError, ValueError, RuntimeError, TypeError):
        return None


def load_checkpoint(path: str | Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Return (tensors by prefix, optimizer state dict, meta)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise TrueclassError(f"There is no checkpoint at {str(path)!r} to resume from.")
    try:
        with safe_open(str(path), framework="pt") as fh:
            extra = json.loads(fh.metadata()["trueclass"])
            flat = {k: fh.get_tensor(k) for k in fh.keys()}
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise TrueclassError(f"The checkpoint {str(path)!r} is damaged ({exc}); it cannot be resumed.") from None
    groups: dict[str, dict[str, Any]] = {}
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in flat.items():
        prefix, rest = key.split(".", 1)
        if prefix == "optim":
            idx, name = rest.split(".", 1)
            opt_state.setdefault(int(idx), {})[name] = value
        else:
            groups.setdefault(prefix, {})[rest] = value
    for idx, plain in extra["optimizer"]["plain"].items():
        opt_state.setdefault(int(idx), {}).update(plain)
    optimizer = {"state": opt_state, "param_groups": extra["optimizer"]["groups"]}
    return groups, optimizer, extra["meta"]
