"""How much of its device a training run used.

The network's arithmetic per training image is counted by torch's ``FlopCounterMode`` on
one real forward and backward pass (convolutions and matrix products; what a frozen
backbone does not differentiate is not counted), times the images/s of the training steps
(the epochs' evaluations and checkpoints left out; the optimiser, augmentation and the
layers FlopCounterMode does not count are in their time, so the share is a lower bound),
against what the same device does on a large matrix multiply in the run's precision. The
peak is measured, not read from a spec sheet: clocks, power caps, the precision the run
used (bf16, fp16, or fp32 without TF32) and a GPU shared with other work all count, and a device
no table knows gets a figure too. A few tenths of a second on a GPU, so a run on a GPU
reports it (issue: the default recipe once used about 1% of an H200's bf16 arithmetic).
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["flops_per_image", "matmul_flops", "device_use"]

#: The side of the square matrices of the peak measure: large enough that a GPU runs at its
#: peak (8192: 1.1 TFLOP a product, about 1.5 ms in bf16 on an H100; three operands of 134 MB
#: in bf16, 268 MB in fp32), small enough to take well under a second on a CPU's cores (1024).
MATMUL_SIDE = {"cuda": 8192, "cpu": 1024}


def flops_per_image(trainer: Any, net: Any, xb: Any) -> float:
    """Floating-point operations of one training step per image: forward and backward on
    the batch ``xb`` (uint8 or float images as the trainer stores them), prepared as the
    trainer prepares a batch, under the runtime's autocast. The net is put in eval mode for
    it (BatchNorm's running statistics stay as they are; convolutions cost the same), its
    gradients are dropped after, and it is left in eval mode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    rt = trainer.rt
    net.eval()
    x = trainer.as_input(xb)
    with FlopCounterMode(display=False) as counter, torch.enable_grad(), rt.autocast():
        out = net(x).float().sum()
        if out.requires_grad:
            out.backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops() / max(len(xb), 1)


def matmul_flops(rt: Any, side: int | None = None, reps: int = 5) -> float:
    """FLOP/s of a large square matrix multiply on ``rt``'s device in its precision (bf16
    or fp16 when the runtime uses one, else fp32): the median of ``reps`` timed products after one
    to warm up."""
    import torch

    n = side or MATMUL_SIDE[rt.device_type]
    dtype = rt.half or torch.float32
    gen = torch.Generator(device=rt.device).manual_seed(0)
    a = torch.randn(n, n, device=rt.device, dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=rt.device, dtype=dtype, generator=gen)
    times = []
    with torch.no_grad():
        for i in range(reps + 1):
            rt.sync()
            t = time.perf_counter()
            a @ b
            rt.sync()
            if i:
                times.append(time.perf_counter() - t)
    del a, b
    times.sort()
    return 2 * n**3 / max(times[len(times) // 2], 1e-12)


def device_use(trainer: Any, net: Any, xb: Any, images_per_second: float, *, processes: int = 1) -> dict[str, Any]:
    """What a run's training throughput was worth on its device: GFLOP an image, the
    device's measured peak (TFLOP/s, per process's device), and the share of it used
    (images/s x FLOP an image over the peak of ``processes`` devices)."""
    per_image = flops_per_image(trainer, net, xb)
    peak = matmul_flops(trainer.rt)
    share = images_per_second * per_image / (peak * max(processes, 1)) if peak > 0 else 0.0
    return {"device": device_name(trainer.rt.device), "precision": trainer.rt.precision,
            "gflop_per_image": round(per_image / 1e9, 4), "peak_tflops": round(peak / 1e12, 2),
            "share": round(share, 4)}


def device_name(device: str) -> str:
    """The GPU's name for a CUDA device, else the CPU's model name."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    from ._device import cpu_name

    return cpu_name()
