"""Training on several processes with torch.distributed, launched by ``torchrun``.

``torchrun --nproc-per-node N -m trueclass train ...`` (or ``trueclass train --nproc N``,
which runs exactly that) starts N processes that each hold the data and run the same
pipeline. This module is what they share: the process group (gloo on CPUs, nccl on CUDA),
the rank's share of a set of images without the padding ``DistributedSampler`` adds (it
repeats images to make the shares equal, which scores some images twice; pytorch#25162),
and sums and concatenations across ranks. Outside torchrun every function here is the
single-process identity, so the trainer and the pipeline call them unconditionally.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from typing import Any

import numpy as np

__all__ = ["rank", "world_size", "is_main", "active", "setup", "teardown", "shard", "all_sum", "all_concat", "barrier",
           "broadcast_flag", "data_parallel", "machine_first", "backend_for", "check_gpus_for", "relaunch",
           "TIMEOUT_SECONDS", "STOP_SECONDS"]

#: A collective that waits longer than this fails instead of hanging the run. Long: the
#: other processes of a machine wait at a barrier while its first one decodes the whole
#: folder into the disk cache (machine_first), which on a large folder takes more than the
#: 10 minutes this was (nccl's watchdog then aborted every process). A process that fails
#: does not leave the others waiting it out: torchrun stops them.
TIMEOUT_SECONDS = 2 * 3600
#: How long a Ctrl-C of `--nproc` waits for torchrun to stop its processes before killing them.
STOP_SECONDS = 60
#: The process group's backend once joined ("gloo", "nccl"), for config.json.
BACKEND: str | None = None


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Whether this process writes the run folder: the only one, or rank 0."""
    return rank() == 0


def active() -> bool:
    """Whether this process is in a process group of more than one."""
    return _active()


def _active() -> bool:
    if world_size() <= 1:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def setup(device: str | None = "auto") -> str | None:
    """Join the process group torchrun prepared (once); returns its backend, or None
    outside torchrun. nccl where the processes' device (``device``: the model's own
    setting, else $TRUECLASS_DEVICE, else a GPU when torch sees one) is a GPU, gloo
    otherwise."""
    if world_size() <= 1:
        return None
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        # Before the group exists (issue 25: a gloo worker died with SIGABRT now and then, after its
        # last line). torch.distributed.nn.functional's collectives take group=group.WORLD as a
        # default argument, evaluated on first import, and DistributedDataParallel imports it (via
        # torch._dynamo) after the group exists: those defaults kept the group alive past
        # destroy_process_group(), so its gloo threads ran on into interpreter exit, where one,
        # releasing the last barrier's work, decref'd a tensor's Python object, asked for the GIL
        # during Py_FinalizeEx and was unwound into std::terminate. Seen in the worker logs
        # ("terminate called without an active exception", "Fatal Python error: Aborted", "<no
        # Python frame>") and a core (~AsyncBarrierWork -> ~AsyncAllgatherWork -> decref_pyobject ->
        # take_gil -> PyThread_exit_thread). Imported here, the defaults are None, and teardown()
        # frees the group and joins its threads while Python is alive.
        import torch.distributed.nn.functional  # noqa: F401

        backend = backend_for(device)
        mine = None
        if backend == "nccl":
            check_gpus_for(int(os.environ.get("LOCAL_WORLD_SIZE", world_size())), device)
            mine = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(mine)
        # device_id binds the group to this process's GPU (nccl's barriers need to know it)
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=TIMEOUT_SECONDS),
                                **({"device_id": mine} if mine is not None else {}))
    global BACKEND
    BACKEND = dist.get_backend()
    return BACKEND


def backend_for(device: str | None = "auto") -> str:
    """The process group's backend for processes whose device is ``device`` (the model's
    own setting, else $TRUECLASS_DEVICE, else a GPU when torch sees one): nccl with one GPU
    a process, gloo on CPUs (device='cpu' on a GPU machine too)."""
    from ._device import resolve_device

    return "nccl" if resolve_device(device).startswith("cuda") else "gloo"


def check_gpus_for(nproc: int, device: str | None = "auto") -> None:
    """One sentence, before anything starts, when ``nproc`` processes of one machine would
    each need a GPU of their own and the machine has fewer (torch would fail in one of
    them with "invalid device ordinal"), or when ``device`` names one GPU for all of them
    (nccl refuses two processes on one GPU). Nothing to check on the CPU."""
    from ._device import auto_device_setting, named_setting, resolve_device

    if nproc <= 1 or not resolve_device(device).startswith("cuda"):
        return
    import torch

    from .._errors import TrueclassError

    named = named_setting(device) or auto_device_setting() or ""
    if ":" in named:  # the user's own words; "auto" under torchrun is this process's GPU, fine
        raise TrueclassError(f"device={named!r} would put all {nproc} processes on GPU {named.split(':')[1]}; "
                             f"with nproc={nproc} use device='cuda' (one GPU a process) or device='cpu'.")

    count = torch.cuda.device_count()
    if nproc > count:
        raise TrueclassError(
            f"nproc={nproc} asks for {nproc} processes on this machine, one GPU each, but it has {count} GPU"
            f"{'' if count == 1 else 's'}; ask for at most {count}, or run the processes on the CPU with "
            "device='cpu'.")


def relaunch(nproc: int, args: list[str]) -> int:
    """The command ``trueclass ARGS`` (train or predict, with ``--nproc N``) run again as
    torchrun with ``nproc`` processes on this machine; its exit status (130 after a Ctrl-C)."""
    import subprocess
    import sys

    from .._errors import Terminated, TrueclassError

    if "train" not in args and "predict" not in args:
        raise TrueclassError("--nproc works from the command line (`trueclass train ... --nproc N`); from Python, "
                             "launch `torchrun --nproc-per-node N -m trueclass train ...` instead.")
    kept, skip = [], False
    for a in args:  # torchrun's own parser would take --nproc for --nproc-per-node
        if skip or a == "--nproc" or a.startswith("--nproc="):
            skip = a == "--nproc"
            continue
        kept.append(a)
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             f"--nproc-per-node={nproc}", "-m", "trueclass", *kept])
    try:
        return proc.wait()
    except KeyboardInterrupt as exc:  # torchrun and its processes had the Ctrl-C too: they say what they kept
        if isinstance(exc, Terminated):  # a SIGTERM came to this process alone: torchrun stops its own on one
            proc.terminate()
        try:
            proc.wait(timeout=STOP_SECONDS)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            with _deaf_to_ctrl_c():  # a third Ctrl-C must not stop the killing half-way: orphans
                kill_with_children(proc.pid)
        return 143 if Terminated.seen else 130


@contextlib.contextmanager
def _deaf_to_ctrl_c():
    """SIGINT ignored inside (in the main thread, where Python handles signals)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def kill_with_children(pid: int) -> None:
    """Kill process ``pid`` and every process it started. torchrun starts its workers in
    sessions of their own, so killing torchrun alone would leave them running (holding
    the cores, or a GPU's memory) where no Ctrl-C of the terminal reaches them."""
    import psutil

    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]  # named before any is killed: then orphans
    except psutil.NoSuchProcess:
        return
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


def shard(n: int) -> np.ndarray:
    """This rank's indices of ``n`` items: contiguous, sizes differing by at most one,
    every item in exactly one shard (no padding, no repeats)."""
    return np.array_split(np.arange(n), world_size())[rank()] if _active() else np.arange(n)


def all_sum(values: list[float]) -> list[float]:
    """Element-wise sums over the ranks (float64)."""
    if not _active():
        return [float(v) for v in values]
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=_device())
    dist.all_reduce(t)
    return [float(v) for v in t.cpu()]


def all_concat(rows: np.ndarray) -> np.ndarray:
    """Every rank's rows (N_r, ...) concatenated in rank order, on every rank: the sizes
    first, then tensors padded to the largest and trimmed back (nothing is repeated)."""
    if not _active():
        return rows
    import torch
    import torch.distributed as dist

    arr = np.ascontiguousarray(rows, dtype=np.float64)
    dev = _device()
    sizes = [torch.zeros(1, dtype=torch.int64, device=dev) for _ in range(world_size())]
    dist.all_gather(sizes, torch.tensor([len(arr)], dtype=torch.int64, device=dev))
    sizes_ = [int(s.item()) for s in sizes]
    longest = max(sizes_)
    padded = torch.zeros((longest, *arr.shape[1:]), dtype=torch.float64, device=dev)
    padded[: len(arr)] = torch.from_numpy(arr).to(dev)
    parts = [torch.zeros_like(padded) for _ in range(world_size())]
    dist.all_gather(parts, padded)
    return np.concatenate([p[:s].cpu().numpy() for p, s in zip(parts, sizes_)])


def broadcast_flag(value: bool) -> bool:
    """Rank 0's ``value`` on every rank."""
    if not _active():
        return value
    import torch
    import torch.distributed as dist

    t = torch.tensor([1 if value else 0], dtype=torch.int64, device=_device())
    dist.broadcast(t, 0)
    return bool(t.item())


def data_parallel(net: Any) -> Any:
    """``net`` wrapped in DistributedDataParallel under torchrun (gradients averaged over
    the processes at every step), else ``net`` itself."""
    if not _active():
        return net
    import torch
    from torch.nn.parallel import DistributedDataParallel

    if torch.distributed.get_backend() == "nccl":
        return DistributedDataParallel(net, device_ids=[next(net.parameters()).device])  # where the net is
    return DistributedDataParallel(net)


def teardown() -> None:
    """Leave the process group: what follows runs in this process alone. The group is
    freed here, its threads joined and its sockets closed, not left to interpreter exit
    (see setup)."""
    if _active():
        import gc

        import torch.distributed as dist

        dist.barrier()  # every process is past its last collective before any leaves
        dist.destroy_process_group()
        gc.collect()  # a DistributedDataParallel wrapper left in a reference cycle lets go of the group now


def barrier() -> None:
    if _active():
        import torch.distributed as dist

        dist.barrier()


@contextlib.contextmanager
def machine_first():
    """The block runs in the first process of each machine (LOCAL_RANK 0) before the other
    processes of that machine, which wait at a barrier: what it leaves on the machine's disk
    (the cache of decoded images) they then read instead of making again. The barrier is
    met also when the block fails, so nobody waits out the time-out. Outside torchrun, the
    block alone."""
    first = os.environ.get("LOCAL_RANK", "0") == "0"
    if not first:
        barrier()
    try:
        yield
    finally:
        if first:
            barrier()


def _device() -> Any:
    import torch
    import torch.distributed as dist

    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
