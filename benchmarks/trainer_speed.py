"""Each speed choice of the trainer, measured on the default cnn for 28x28 grey images.

Training images/s of one step configuration at a time (median of 3 timings of 20
steps, batch 256, after 3 warm-up steps), all in one process: fp32, bf16 autocast, and
bf16 with channels_last. The trainer picks bf16 + channels_last on CPUs with
AVX512-BF16/AMX because of this table.

    python benchmarks/trainer_speed.py
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


def images_per_second(bf16: bool, channels_last: bool, batch: int = 256, steps: int = 20) -> float:
    torch.manual_seed(0)
    net = build_cnn(1, 10, (28, 28))
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(net(x), y)
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


def main() -> None:
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
        print(f"| {name} | {ips:,.0f} | {ips / base:.2f}x |")


if __name__ == "__main__":
    main()
