"""Each speed choice of the trainer, measured on the default cnn for 28x28 grey images.

Training images/s of one step configuration at a time (median of 3 timings of 20
steps, batch 256, after 3 warm-up steps), all in one process: fp32, bf16 autocast, and
bf16 with channels_last. The trainer picks bf16 + channels_last on CPUs with
AVX512-BF16/AMX because of this table.

``--flops`` adds how close each width of the cnn comes to this machine's peak: the FLOPs
of one training step counted by torch's FlopCounterMode, the GFLOP/s they reach, and the
peak measured on one large convolution (256 to 256 channels, 3x3, 14x14, batch 256,
forward and backward) in the same precision. ``--compile`` adds torch.compile (inductor)
rows: compile seconds and steady images/s.

    python benchmarks/trainer_speed.py [--flops] [--compile]
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from trueclass.models._nets import build_cnn
from trueclass.training import cpu_has_bf16


def images_per_second(bf16: bool, channels_last: bool, batch: int = 256, steps: int = 20, width: int = 32,
                      compile_net: bool = False) -> float:
    torch.manual_seed(0)
    net = build_cnn(1, 10, (28, 28), width=width)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    fwd = torch.compile(net) if compile_net else net

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(fwd(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    times = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        times.append(time.perf_counter() - t)
    return steps * batch / statistics.median(times)


def step_flops(width: int, batch: int = 256) -> float:
    """FLOPs of one training step (forward and backward) per image, as torch counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    net = build_cnn(1, 10, (28, 28), width=width)
    x = torch.randn(batch, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(x), torch.randint(0, 10, (batch,))).backward()
    return counter.get_total_flops() / batch


def conv_peak(bf16: bool, repeats: int = 5) -> float:
    """GFLOP/s of a large 3x3 convolution, forward and backward, channels_last."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).to(memory_format=torch.channels_last)
    x = torch.randn(256, 256, 14, 14).contiguous(memory_format=torch.channels_last).requires_grad_()
    flops = 3 * 2 * 256 * 256 * 9 * 14 * 14 * 256  # forward, input gradient, weight gradient

    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = conv(x)
        out.float().sum().backward()

    run()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return flops / statistics.median(times) / 1e9


def flops_table() -> None:
    print("\n| precision | width | MFLOP per image (training step) | training images/s | GFLOP/s | "
          "share of the conv peak |")
    print("|---|---|---|---|---|---|")
    for bf16 in ((False, True) if cpu_has_bf16() else (False,)):
        peak = conv_peak(bf16)
        name = "bf16 autocast" if bf16 else "fp32"
        print(f"| {name} | peak: one 256-channel 3x3 conv, 14x14 | | | {peak:,.0f} | 100% |")
        for width in (32, 24, 16):
            mflop = step_flops(width) / 1e6
            ips = images_per_second(bf16, True, width=width)
            g = mflop * ips / 1e3
            print(f"| {name} | {width} | {mflop:,.0f} | {ips:,.0f} | {g:,.0f} | {g / peak:.0%} |", flush=True)


def compile_table() -> None:
    print("\n| precision | torch.compile | compile + first step s | training images/s |")
    print("|---|---|---|---|")
    for bf16 in ((False, True) if cpu_has_bf16() else (False,)):
        for comp in (False, True):
            t = time.perf_counter()
            ips = images_per_second(bf16, True, compile_net=comp, steps=20)
            print(f"| {'bf16 autocast' if bf16 else 'fp32'} | {'yes' if comp else 'no'} | "
                  f"{time.perf_counter() - t - 63 * 256 / ips:.1f} | {ips:,.0f} |", flush=True)


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--flops", action="store_true")
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    print(f"cnn for 28x28 grey images, batch 256; {platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, AVX512-BF16/AMX: {cpu_has_bf16()}\n")
    rows = [("fp32", False, False), ("fp32 + channels_last", False, True), ("bf16 autocast", True, False),
            ("bf16 autocast + channels_last", True, True)]
    base = None
    print("| configuration | training images/s | vs fp32 |")
    print("|---|---|---|")
    for name, bf16, cl in rows:
        ips = images_per_second(bf16, cl)
        base = base or ips
        print(f"| {name} | {ips:,.0f} | {ips / base:.2f}x |", flush=True)
    if args.flops:
        flops_table()
    if args.compile:
        compile_table()


if __name__ == "__main__":
    main()
