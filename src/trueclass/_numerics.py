"""torch's process-wide numeric switches: what a GPU run sets (cuda_numerics) and how the
public API's calls put them back (keeps_torch_numerics). Imports torch only where a
switch is set or put back, so a pixel model's calls never load it."""

from __future__ import annotations

import functools
import threading
from typing import Any

__all__ = ["cuda_numerics", "keeps_torch_numerics"]

#: torch's switches that cuda_numerics sets, as (module path, attribute).
_NUMERICS = (("cuda.matmul", "allow_tf32"), ("cudnn", "allow_tf32"), ("cudnn", "deterministic"),
             ("cudnn", "benchmark"))
_numerics_lock = threading.Lock()
_numerics: dict[str, Any] = {"active": 0, "found": None}  # scopes open (all threads), the switches found


def _switch(torch: Any, path: str) -> Any:
    return functools.reduce(getattr, path.split("."), torch.backends)


def cuda_numerics() -> None:
    """fp32 on a GPU is fp32 (not TF32, which cuDNN uses for convolutions by default: the
    fp32 reference of the export's parity check, Grad-CAM's full precision and
    TRUECLASS_PRECISION=fp32 mean it), and cuDNN picks the same algorithms every time, so
    the same seed gives the same weights on one machine, as on a CPU. These switches are
    torch's, for the whole process: inside :func:`keeps_torch_numerics` (the public API's
    calls) the ones found are put back once the last such call ends, so a notebook's own
    torch code afterwards keeps TF32 and cuDNN's autotuning."""
    import torch

    with _numerics_lock:
        if _numerics["active"] and _numerics["found"] is None:
            _numerics["found"] = [getattr(_switch(torch, path), name) for path, name in _NUMERICS]
        for (path, name), value in zip(_NUMERICS, (False, False, True, False)):
            setattr(_switch(torch, path), name, value)


def keeps_torch_numerics(fn: Any) -> Any:
    """``fn`` with torch's numeric switches (cuda_numerics) as it found them once it returns.
    Counted across threads: the studio's preview may predict while a training runs, and
    only the last call to end puts them back (never under a training still running)."""
    @functools.wraps(fn)
    def kept(*args: Any, **kwargs: Any) -> Any:
        with _numerics_lock:
            _numerics["active"] += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with _numerics_lock:
                _numerics["active"] -= 1
                if not _numerics["active"] and _numerics["found"] is not None:
                    import torch

                    for (path, name), value in zip(_NUMERICS, _numerics["found"]):
                        setattr(_switch(torch, path), name, value)
                    _numerics["found"] = None

    return kept
