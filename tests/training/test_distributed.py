"""Training under torchrun: 2 processes on the CPU with gloo, each under a hard time-out
(a hung collective fails the test instead of the CI run)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import trueclass as tc
from trueclass.training import _distributed as dist

TIMEOUT = 300


def torchrun(args, cwd, *, wait=True):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "trueclass",
           "train", *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
    return subprocess.run(cmd, cwd=cwd, env=os.environ.copy(), capture_output=True, text=True, timeout=TIMEOUT)


def kill_9_every_process_of(marker: str) -> None:
    """SIGKILL to every process whose command line holds ``marker`` (torchrun starts its
    workers in sessions of their own, so killing its process group leaves them running)."""
    from pathlib import Path

    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    os.kill(int(proc.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass


def rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_shards_cover_every_image_once_without_padding(monkeypatch):
    monkeypatch.setattr(dist, "_active", lambda: True)
    monkeypatch.setenv("WORLD_SIZE", "3")
    seen = []
    for r in range(3):
        monkeypatch.setenv("RANK", str(r))
        seen.append(dist.shard(10))
    assert [len(s) for s in seen] == [4, 3, 3]
    assert sorted(np.concatenate(seen).tolist()) == list(range(10))  # DistributedSampler would give 12


GROUP_FREED = """
import os, sys, torch
from trueclass.training import _distributed as dist


def fit():  # as the trainer: the wrapper is gone when fit returns, the network stays
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    dist.data_parallel(net)(torch.ones(3, 4)).sum().backward()
    return net


dist.setup()
net = fit()
dist.all_concat(torch.ones((dist.rank() + 1, 2)).numpy())
dist.teardown()
names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
# one write of the whole line: with PYTHONUNBUFFERED=1 (set on this project's machines) print()
# writes its pieces one by one, and the two processes' pieces interleaved
sys.stdout.write(f"gloo threads left: {sum('gloo' in n for n in names)}" + chr(10))
sys.stdout.flush()
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_teardown_frees_the_group_before_the_process_exits(tmp_path):
    """The cause of the old SIGABRT flake: after a DistributedDataParallel step the group
    outlived destroy_process_group() (torch.distributed.nn.functional's default arguments
    held it), and its gloo threads met interpreter exit. Deterministic, unlike the abort."""
    (tmp_path / "group_freed.py").write_text(GROUP_FREED)
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                          "group_freed.py"], cwd=tmp_path, env=os.environ.copy(), capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("gloo threads left: 0") == 2, res.stdout + res.stderr[-2000:]


@pytest.mark.slow
def test_two_processes_train_one_run_and_score_every_test_image_once(tmp_path):
    args = ["digits", "--model", "cnn", "--epochs", "4", "--seed", "3"]
    res = torchrun([*args, "--out", "ddp"], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    run = tmp_path / "ddp"
    for f in ("config.json", "metrics.json", "predictions.csv", "split.csv", "card.html", "model/model.json",
              "history.csv"):
        assert (run / f).is_file(), f
    assert not (run / "checkpoint.safetensors").exists()
    assert res.stdout.count("Accuracy ") == 1  # rank 0 alone reports
    cfg = json.loads((run / "config.json").read_text())
    d = cfg["resolved"]["distributed"]
    assert d["world_size"] == 2 and d["backend"] == "gloo" and d["trained_with"] == "DistributedDataParallel"
    assert d["global_batch"] == cfg["resolved"]["recipe_used"]["batch_size"] == 2 * d["per_process_batch"]
    preds = rows(run / "predictions.csv")
    test_ids = [r["id"] for r in rows(run / "split.csv") if r["split"] == "test"]
    assert sorted(r["id"] for r in preds) == sorted(test_ids) and len(test_ids) == 360  # each exactly once
    m = json.loads((run / "metrics.json").read_text())
    assert m["n_test"] == 360
    # within the single-process run's interval
    single = tc.train("digits", model="cnn", params={"epochs": 4}, seed=3, out=tmp_path / "single", audit=False)
    lo, hi = single.metrics["accuracy_ci"]
    assert lo <= m["accuracy"] <= hi, (m["accuracy"], lo, hi)
    # the same seed gives the same run for the same number of processes
    again = torchrun([*args, "--out", "again"], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert rows(tmp_path / "again" / "predictions.csv") == preds


@pytest.mark.slow
def test_a_killed_distributed_run_resumes_to_the_same_result(tmp_path):
    args = ["digits", "--model", "cnn", "--epochs", "6", "--seed", "1", "--no-audit"]  # the audit is not resumed
    full = torchrun([*args, "--out", "full"], tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    proc = torchrun([*args, "--out", str(tmp_path / "killed")], tmp_path, wait=False)
    ckpt = tmp_path / "killed" / "checkpoint.safetensors"
    t0 = time.time()
    while not ckpt.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < TIMEOUT
        time.sleep(0.01)
    kill_9_every_process_of(str(tmp_path / "killed"))  # torchrun and both of its processes (in sessions of their own)
    proc.wait(timeout=60)
    time.sleep(0.5)
    assert not (tmp_path / "killed" / "metrics.json").exists()
    assert ckpt.is_file(), sorted(p.name for p in (tmp_path / "killed").iterdir())
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m",
                          "trueclass", "train", "--resume", str(tmp_path / "killed")], cwd=tmp_path, env=os.environ.copy(),
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resumed after epoch" in res.stdout, res.stdout + res.stderr[-2000:]
    assert rows(tmp_path / "killed" / "predictions.csv") == rows(tmp_path / "full" / "predictions.csv")
    m = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    assert m["training"]["resumed_from_epoch"] >= 1


@pytest.mark.slow
def test_nproc_launches_torchrun_and_a_bad_out_stops_every_process(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x.txt").write_text("keep me")
    t0 = time.time()
    res = subprocess.run([sys.executable, "-m", "trueclass", "train", "digits", "--model", "cnn", "--epochs", "2",
                          "--nproc", "2", "--out", "taken"], cwd=tmp_path, env=os.environ.copy(), capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert res.returncode != 0 and "already exists" in res.stderr + res.stdout
    assert time.time() - t0 < 120  # the other process did not wait for a collective that never comes
    assert (tmp_path / "taken" / "x.txt").read_text() == "keep me"
    ok = subprocess.run([sys.executable, "-m", "trueclass", "train", "digits", "--model", "logreg", "--nproc", "2",
                         "--out", "lr"], cwd=tmp_path, env=os.environ.copy(), capture_output=True, text=True,
                        timeout=TIMEOUT)
    assert ok.returncode == 0, ok.stderr[-3000:]
    d = json.loads((tmp_path / "lr" / "config.json").read_text())["resolved"]["distributed"]
    assert d["trained_with"] == "rank 0 alone" and ok.stdout.count("Accuracy ") == 1


@pytest.mark.slow
def test_two_processes_decode_a_large_folder_once_into_the_disk_cache(tmp_path):
    """A folder past the cache's size threshold under torchrun (the first process fills
    the cache while the other waits at a barrier, then reads it): the launch completes, one
    whole entry is left, and the run trains on every image from it."""
    from PIL import Image

    from trueclass.data._cache import DISK_CACHE_MIN_IMAGES

    digits = tc.load("digits")
    folder = tmp_path / "digits"
    for i in range(DISK_CACHE_MIN_IMAGES):
        j = i % len(digits)
        d = folder / digits.classes[digits.labels[j]]
        d.mkdir(parents=True, exist_ok=True)
        img = np.clip(digits.images[j, :, :, 0].astype(np.float64) * 255 / 16 + (i // len(digits)) * 3, 0, 255)
        Image.fromarray(img.astype(np.uint8)).save(d / f"{i:05d}.png")
    cache = tmp_path / "cache"
    env = dict(os.environ, TRUECLASS_CACHE=str(cache))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "trueclass",
           "train", str(folder), "--model", "cnn", "--epochs", "2", "--no-audit", "--out", "run"]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr[-3000:]
    entries = [p for p in (cache / "decoded").iterdir()]
    assert len(entries) == 1 and not entries[0].name.startswith(".")  # decoded once, nothing half-made
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["n_test"] + m["n_train"] + m.get("n_val", 0) == DISK_CACHE_MIN_IMAGES
    assert m["accuracy"] > 0.5
