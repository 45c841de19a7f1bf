"""Where and how fast torch runs: device, bf16, channels_last, threads."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

__all__ = ["Runtime", "pick_runtime", "cpu_has_bf16", "free_cores"]


def free_cores() -> int:
    """Threads for torch: $TRUECLASS_THREADS if set, else the cores this process may use.

    Not reduced by the current load on purpose: the thread count changes the order of
    floating-point sums, and the same seed must give the same weights on a machine.
    """
    env = os.environ.get("TRUECLASS_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@functools.cache
def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX) and oneDNN uses it."""
    try:
        flags = open("/proc/cpuinfo", encoding="ascii", errors="ignore").read()
    except OSError:
        flags = ""
    native = "avx512_bf16" in flags or "amx_bf16" in flags
    try:
        import torch

        return native and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass(frozen=True)
class Runtime:
    device: str
    bf16: bool
    channels_last: bool
    threads: int

    def describe(self) -> str:
        return (f"{self.device}, {'bf16 autocast' if self.bf16 else 'fp32'}"
                f"{', channels_last' if self.channels_last else ''}, {self.threads} threads")


def pick_runtime(precision: str = "auto", channels_last: str | bool = "auto", device: str = "auto") -> Runtime:
    """Choose device and precision.

    bf16 autocast where the hardware has it, with channels_last: on this project's
    2-core AVX512-BF16 CPU the default cnn for 28x28 images trains at 1,132 images/s in
    fp32, 1,461 with channels_last, 1,778 in bf16 and 2,612 in bf16 with channels_last
    (benchmarks/trainer_speed.py): channels_last won in both precisions, so it is on by
    default.
    """
    import torch

    if precision == "auto":  # TRUECLASS_PRECISION=fp32 forces fp32 for a whole run (or bf16)
        precision = os.environ.get("TRUECLASS_PRECISION", "auto") or "auto"
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        bf16 = precision == "bf16" or (precision == "auto" and torch.cuda.is_bf16_supported())
    else:
        bf16 = precision == "bf16" or (precision == "auto" and cpu_has_bf16())
    if precision not in ("auto", "bf16", "fp32"):
        from .._errors import TrueclassError

        raise TrueclassError(f"precision must be 'auto', 'bf16' or 'fp32', not {precision!r}.")
    cl = True if channels_last == "auto" else bool(channels_last)
    # under torchrun the processes of one machine share its cores
    threads = max(1, free_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    if device == "cpu":
        torch.set_num_threads(threads)
    return Runtime(device=device, bf16=bf16, channels_last=cl, threads=threads)
