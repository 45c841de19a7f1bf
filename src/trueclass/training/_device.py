"""Where and how fast torch runs: device, precision (bf16, fp16 or fp32), channels_last, threads."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .._numerics import cuda_numerics

__all__ = ["Runtime", "pick_runtime", "resolve_device", "cpu_has_bf16", "gpu_precision", "PRECISIONS", "cuda_numerics", "device_for_run", "auto_device_setting", "auto_precision_setting", "named_setting", "free_cores", "usable_cores", "machine_load"]


def free_cores() -> int:
    """Threads for torch: $TRUECLASS_THREADS if set, else the cores this process may use.

    Not reduced by the current load on purpose: the thread count changes the order of
    floating-point sums, and the same seed must give the same weights on a machine.
    """
    env = os.environ.get("TRUECLASS_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return usable_cores()


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def machine_load() -> float | None:
    """The machine's one-minute load average (runnable threads, this process's included),
    or None where the system does not say (Windows). Read by the trainer at the start and
    after each epoch; report._text.busy_machine words it."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


@functools.cache
def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), named beside every speed trueclass reports."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX) and oneDNN uses it."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")  # closed at once
    except OSError:
        flags = ""
    native = "avx512_bf16" in flags or "amx_bf16" in flags
    try:
        import torch

        return native and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def gpu_precision(device: str) -> str:
    """The arithmetic a network trains in on the GPU ``device`` by default: "bf16" where it
    computes bf16 natively (compute capability 8.0 or more: Ampere on); "fp16" with loss
    scaling where it has fp16 tensor cores but no bf16 (7.x: T4 and V100, Colab's usual GPUs;
    torch.cuda.is_bf16_supported() says yes there too, but bf16 is emulated and cuDNN has no
    bf16 convolutions); "fp32" on older GPUs."""
    import torch

    major = torch.cuda.get_device_capability(torch.device(device))[0]
    return "bf16" if major >= 8 else "fp16" if major >= 7 else "fp32"


#: what ``precision=`` takes besides "auto"
PRECISIONS = ("bf16", "fp16", "fp32")




@dataclass(frozen=True)
class Runtime:
    """Where and how tensors of a network live: the one place that decides it.

    Every path that touches a network (training, validation, BatchNorm re-estimation,
    prediction and TTA, calibration, Grad-CAM, the stress checks, the time budget's
    measure, the backbone) builds its tensors through these methods, so nothing ends up on
    a device of its own choosing."""

    device: str
    precision: str  # "bf16", "fp16" or "fp32": the arithmetic of its networks, as runs record it
    channels_last: bool
    threads: int

    def describe(self) -> str:
        arithmetic = {"bf16": "bf16 autocast", "fp16": "fp16 autocast with loss scaling"}.get(self.precision, "fp32")
        return f"{self.device}, {arithmetic}{', channels_last' if self.channels_last else ''}, {self.threads} threads"

    @property
    def half(self) -> Any:
        """The torch dtype autocast computes in (bf16 or fp16), None in fp32."""
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    @property
    def device_type(self) -> str:
        """"cuda" or "cpu": what torch.autocast takes (it refuses "cuda:1")."""
        return self.device.split(":", 1)[0]

    @property
    def is_cuda(self) -> bool:
        return self.device_type == "cuda"

    def tensor(self, values: Any, dtype: Any = None) -> Any:
        """``values`` as a tensor on this runtime's device (float32 unless ``dtype``)."""
        import torch

        return torch.as_tensor(values, dtype=torch.float32 if dtype is None else dtype, device=self.device)

    def channel_stats(self, values: Any) -> Any:
        """Per-channel values (mean, std) shaped (1, C, 1, 1) on this device, float32."""
        return self.tensor(values).view(1, -1, 1, 1)

    def to_device(self, x: Any, non_blocking: bool = True) -> Any:
        """A tensor moved here; pinned host memory makes the copy overlap on CUDA."""
        return x.to(self.device, non_blocking=non_blocking and self.is_cuda)

    def place(self, net: Any) -> Any:
        """``net`` moved here in place, in channels_last when this runtime uses it."""
        import torch

        net.to(self.device)
        if self.channels_last:
            net.to(memory_format=torch.channels_last)
        return net

    def sync(self) -> None:
        """Wait for the work queued on this device (a GPU runs it asynchronously): what a
        timing must do before it reads the clock."""
        if self.is_cuda:
            import torch

            torch.cuda.synchronize(self.device)

    def autocast(self) -> Any:
        """bf16 or fp16 autocast on this device when the runtime uses one, else a no-op context.
        On a GPU it sets cuda_numerics again: every forward pass runs under it, and a runtime
        kept from an earlier call (a fitted model's, the backbone's cached embedder) would
        otherwise run with the switches that call put back when it returned."""
        import torch

        if self.is_cuda:
            cuda_numerics()
        return torch.autocast(self.device_type, dtype=self.half or torch.bfloat16, enabled=self.half is not None)

    def grad_scaler(self) -> Any:
        """torch's loss scaler, on in fp16 (whose gradients underflow without it: its
        exponent has 5 bits where bf16 and fp32 have 8) and a pass-through otherwise. Steps
        whose scaled gradients overflow are skipped and the scale halved."""
        import torch

        return torch.amp.GradScaler(self.device_type, enabled=self.precision == "fp16")


def resolve_device(device: str | None = "auto") -> str:
    """The torch device string ``device`` means on this machine, or one sentence saying why
    it cannot be had. "auto": $TRUECLASS_DEVICE, else the GPU of this process under
    torchrun (LOCAL_RANK), else cuda when torch sees a GPU, else cpu."""
    import torch

    from .._errors import TrueclassError

    device = named_setting(device) or auto_device_setting() or "auto"
    local = int(os.environ.get("LOCAL_RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0
    if device == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        return f"cuda:{local}" if local else "cuda"
    if device == "cpu":
        return "cpu"
    m = re.fullmatch(r"cuda(?::(\d+))?", device)
    if m is None:
        raise TrueclassError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:K' (K a GPU number), not {device!r}.")
    if not torch.cuda.is_available():
        why = ("this torch is built for the CPU only" if torch.version.cuda is None
               else "torch sees no CUDA GPU on this machine")
        raise TrueclassError(f"device={device!r} asks for a CUDA GPU, but {why}; use device='cpu'.")
    count = torch.cuda.device_count()
    if m.group(1) is not None and int(m.group(1)) >= count:
        raise TrueclassError(f"device={device!r} names GPU {m.group(1)}, but this machine has {count} "
                             f"(cuda:0{'' if count == 1 else f' to cuda:{count - 1}'}).")
    return f"cuda:{local}" if device == "cuda" and local else device  # under torchrun: this process's GPU


#: The device "auto" means inside device_for_run, in this thread (and the context it runs in)
#: alone: an environment variable would be every thread's, and two runs in threads would
#: undo each other's.
_RUN_DEVICE: contextvars.ContextVar[str | None] = contextvars.ContextVar("trueclass_run_device", default=None)


_RUN_PRECISION: contextvars.ContextVar[str | None] = contextvars.ContextVar("trueclass_run_precision", default=None)


def named_setting(value: Any) -> str | None:
    """A device or precision as given ("CPU", " fp32", None), lowercased; None where it
    leaves the choice to the machine (None, "" or "auto")."""
    named = str(value or "").strip().lower()
    return None if named in ("", "auto") else named


def _setting(var: contextvars.ContextVar[str | None], env: str) -> str | None:
    """A run's setting where one is in force (its "auto": the hardware's choice, whatever
    the environment says), else the environment variable's; None for "auto"."""
    return named_setting(var.get() or os.environ.get(env))


def auto_device_setting() -> str | None:
    """What "auto" follows here, before torch resolves it: a run's device, else
    $TRUECLASS_DEVICE; None for neither."""
    return _setting(_RUN_DEVICE, "TRUECLASS_DEVICE")


def auto_precision_setting() -> str | None:
    """What precision "auto" follows here: a run's precision, else $TRUECLASS_PRECISION;
    None for neither (the hardware's choice)."""
    return _setting(_RUN_PRECISION, "TRUECLASS_PRECISION")


@contextlib.contextmanager
def device_for_run(device: str | None, precision: str | None = None) -> Iterator[None]:
    """Within it, "auto" means ``device`` (and ``precision``) for every network a run builds
    or loads in this thread (the model's, the audit's label model, the backbone's, the
    checks'), as ``--device`` and $TRUECLASS_PRECISION make them for a command. A value of
    "auto" is the hardware's choice, the environment variables' no longer; None changes
    nothing."""
    tokens = [(var, var.set(str(value))) for var, value in ((_RUN_DEVICE, device), (_RUN_PRECISION, precision))
              if value not in (None, "")]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def pick_runtime(precision: str = "auto", channels_last: str | bool = "auto", device: str | None = "auto") -> Runtime:
    """Choose device and precision.

    bf16 autocast where the hardware has it (fp16 with loss scaling on GPUs with fp16
    tensor cores but no bf16: gpu_precision), with channels_last: on this project's
    2-core AVX512-BF16 CPU the default cnn for 28x28 images trains at 1,132 images/s in
    fp32, 1,461 with channels_last, 1,778 in bf16 and 2,612 in bf16 with channels_last
    (benchmarks/trainer_speed.py): channels_last won in both precisions, so it is on by
    default.
    """
    import torch

    if precision == "auto":  # a run's precision, or TRUECLASS_PRECISION=fp32 (bf16, fp16) for a whole command
        precision = auto_precision_setting() or "auto"
    precision = str(precision).strip().lower()
    if precision not in ("auto", *PRECISIONS):
        from .._errors import TrueclassError

        raise TrueclassError(f"precision must be 'auto', 'bf16', 'fp16' or 'fp32', not {precision!r}.")
    device = resolve_device(device)
    if device.startswith("cuda"):
        if precision == "auto":
            precision = gpu_precision(device)
        cuda_numerics()
    elif precision == "auto":  # fp16 on a CPU only when asked: few CPUs compute it natively
        precision = "bf16" if cpu_has_bf16() else "fp32"
    cl = True if channels_last == "auto" else bool(channels_last)
    # under torchrun the processes of one machine share its cores
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    threads = max(1, free_cores() // local_world)
    if device == "cpu" or local_world > 1:  # GPU processes of one machine share its cores for their CPU work too
        torch.set_num_threads(threads)
    return Runtime(device=device, precision=precision, channels_last=cl, threads=threads)
