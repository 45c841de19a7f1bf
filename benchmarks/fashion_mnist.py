"""Fashion-MNIST (official 60k/10k split), peers and trueclass side by side in one process.

Rows: the lesson's LogisticRegression and a k-NN on raw pixels; a TensorFlow-tutorial
style 2-conv CNN in plain PyTorch fp32 (per-image transforms through a DataLoader, the
usual reference loop); trueclass's cnn with its default and quick recipes. Then the
trainer's throughput against the plain fp32 loop on the same network, and prediction
latency. Prints Markdown tables.

    python benchmarks/fashion_mnist.py            # everything (about 15 minutes on 2 cores)
    python benchmarks/fashion_mnist.py --skip-classic --skip-reference
    python benchmarks/fashion_mnist.py --recipes   # only the recipes in fp32 and automatic precision

``--recipes`` times whole ``trueclass train fashion-mnist --model cnn`` commands, each in a
fresh process as a user runs it: the quick and default recipes and ``--time-budget`` runs,
with bf16 turned off (``TRUECLASS_PRECISION=fp32``, as on a CPU without it) and with the
automatic choice (bf16 autocast where the CPU has it). Accuracy is the run's headline: the
official test images without a near copy in the training set.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import numpy as np


def machine() -> str:
    """The machine the rows ran on: its CPU and, where torch sees one, the GPU the runs use."""
    from trueclass.training import cpu_name

    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", GPU {torch.cuda.get_device_name()}"
    except ImportError:
        pass
    return f"{cpu_name()} ({platform.machine()}), {os.cpu_count()} cores{gpu}, Python {platform.python_version()}"


def load():
    import trueclass as tc

    ds = tc.load("fashion-mnist")
    parts = tc.split(ds)
    return ds, parts


def classic_rows(parts):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    # Pixels divided by 255: on raw 0-255 values lbfgs had not converged after 17 minutes.
    Xtr = parts.train.images.reshape(len(parts.train), -1).astype(np.float64) / 255
    Xte = parts.test.images.reshape(len(parts.test), -1).astype(np.float64) / 255
    rows = []
    for name, model in [("lesson LogisticRegression(max_iter=10000), pixels/255", LogisticRegression(max_iter=10000)),
                        ("KNeighborsClassifier(k=5), pixels/255", KNeighborsClassifier(n_jobs=-1))]:
        t = time.perf_counter()
        model.fit(Xtr, parts.train.labels)
        acc = model.score(Xte, parts.test.labels)
        rows.append((name, acc, time.perf_counter() - t, None))
    return rows


def reference_net():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10),
    )


class _PerImage:
    """A torchvision-style dataset: one PIL image and one transform call per item."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i, :, :, 0])), int(self.labels[i])


def plain_loop(net, images, labels, epochs, batch_size=64, lr=1e-3, limit=None):
    """The reference: fp32, a DataLoader over per-image ToTensor, Adam. Returns (seconds, images)."""
    import torch
    from torchvision import transforms

    torch.manual_seed(0)
    ds = _PerImage(images[:limit], labels[:limit], transforms.ToTensor())
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    seen, t = 0, time.perf_counter()
    for _ in range(epochs):
        net.train()
        for x, y in loader:
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            opt.step()
            seen += len(y)
    return time.perf_counter() - t, seen


def reference_rows(parts):
    import torch

    net = reference_net()
    secs, seen = plain_loop(net, parts.train.images, parts.train.labels, epochs=10)
    net.eval()
    with torch.no_grad():
        x = torch.from_numpy(parts.test.images[..., 0]).float().div(255).unsqueeze(1)
        acc = float((net(x).argmax(1).numpy() == parts.test.labels).mean())
    return [("TF-tutorial 2-conv CNN, plain PyTorch fp32, 10 epochs", acc, secs, seen / secs)]


def trueclass_rows():
    import trueclass as tc
    from trueclass.models._torch import RECIPES

    rows = []
    for recipe in ("default", "quick"):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            run = tc.train("fashion-mnist", model="cnn", params=dict(RECIPES[recipe]), out=f"{d}/r")
            wall = time.perf_counter() - t
        lo, hi = run.evaluation.accuracy_ci
        tr = run.metrics["training"]
        leak = run.metrics.get("leakage") or {}
        if leak.get("with_leaks"):  # the official 10,000, and without the test images copied in training
            full = leak["with_leaks"]
            flo, fhi = full["accuracy_ci"]
            rows.append((f"trueclass cnn, {recipe} recipe ({tr['epochs_run']} epochs; all {full['n_test']:,} test "
                         f"images; 95% CI {flo:.3f}-{fhi:.3f})", full["accuracy"], wall, tr["images_per_second"]))
            rows.append((f"  same model, the {run.evaluation.n_test:,} test images without a near copy in the "
                         f"training set (95% CI {lo:.3f}-{hi:.3f})", run.evaluation.accuracy, None, None))
        else:
            rows.append((f"trueclass cnn, {recipe} recipe ({tr['epochs_run']} epochs; 95% CI {lo:.3f}-{hi:.3f})",
                         run.evaluation.accuracy, wall, tr["images_per_second"]))
    return rows, run


RECIPE_ROWS = [  # (name, extra arguments, TRUECLASS_PRECISION)
    ("--preset quick", ["--preset", "quick"], "fp32"),
    ("--preset quick", ["--preset", "quick"], "auto"),
    ("--time-budget 2m", ["--time-budget", "2m"], "fp32"),
    ("default recipe", [], "fp32"),
    ("default recipe", [], "auto"),
    ("--time-budget 10m", ["--time-budget", "10m"], "fp32"),
    # a candidate for 0.95 within 15 minutes (30 epochs: 0.9510 on validation images, see
    # fp32_levers.py); patience=0 runs the one-cycle schedule to its end
    ("--epochs 30 -p patience=0", ["--epochs", "30", "-p", "patience=0"], "auto"),
    ("--preset best", ["--preset", "best"], "auto"),
]


def recipe_rows(names: list[str] | None = None) -> None:
    """Whole commands, fresh processes; prints one Markdown row as each ends."""
    import json
    import subprocess
    import sys

    from trueclass.models._torch import CNN_DEFAULTS

    print("| command | precision | test accuracy (95% CI) | whole command s | width, epochs | test-time augmentation "
          "| training images/s | share of the GPU's peak |")
    print("|---|---|---|---|---|---|---|---|")
    for name, extra, precision in RECIPE_ROWS:
        if names and not any(n in name for n in names):
            continue
        with tempfile.TemporaryDirectory() as d:
            env = {**os.environ, "TRUECLASS_PRECISION": precision}
            cmd = [sys.executable, "-m", "trueclass", "train", "fashion-mnist", "--model", "cnn", *extra,
                   "--out", f"{d}/r"]
            t = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - t
            m = json.load(open(f"{d}/r/metrics.json"))
        acc, (lo, hi) = m["accuracy"], m["accuracy_ci"]
        tr = m["training"]
        recipe = tr["recipe"]
        width = (tr.get("budget") or {}).get("width") or m["params"].get("width") or CNN_DEFAULTS["width"]
        label = "automatic (" + ("bf16 autocast" if "bf16" in tr["runtime"] else "fp32") + ")" \
            if precision == "auto" else "fp32 (forced)"
        tta = m["params"].get("tta") or (tr.get("budget") or {}).get("tta") or "none"
        print(f"| {name} | {label} | {acc:.4f} ({lo:.3f}-{hi:.3f}) | {wall:.0f} | {width}, {recipe['epochs']} "
              f"(ran {tr['epochs_run']}) | {tta} | {tr['images_per_second']:,.0f} | {share(tr.get('device_use'))} |",
              flush=True)


def share(use) -> str:
    """A GPU run's share of its device's measured peak (metrics.json training.device_use)."""
    if not use or "share" not in use:
        return ""
    return f"{use['share']:.1%} of {use['peak_tflops']:.3g} TFLOP/s ({use['precision']})"


def throughput(parts, n_images=16384, epochs=2, repeats=3):
    """Images/s on the same cnn: the plain fp32 loop vs trueclass's trainer, over the same
    images and epochs. Ours twice: the whole fit (with its per-epoch evaluation of 2,000
    training images) and its training steps alone (the epochs' own timings), which is
    what the plain loop's figure measures."""
    import torch

    from trueclass.models._nets import build_cnn
    from trueclass.training import PRESETS, TrainConfig, Trainer, pick_runtime

    images, labels = parts.train.images[:n_images], parts.train.labels[:n_images]
    plain, fit, steps = [], [], []
    for _ in range(repeats):
        torch.manual_seed(0)
        secs, seen = plain_loop(build_cnn(1, 10, (28, 28)), images, labels, epochs=epochs, batch_size=256, lr=1e-3)
        plain.append(seen / secs)
        rt = pick_runtime()
        cfg = TrainConfig(epochs=epochs, patience=0, augment=PRESETS["clothing"])
        mean = torch.tensor([0.286]).view(1, 1, 1, 1)
        std = torch.tensor([0.353]).view(1, 1, 1, 1)
        trainer = Trainer(cfg, rt, mean=mean, std=std, scale=255.0)
        x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        res = trainer.fit(build_cnn(1, 10, (28, 28)), x, labels, n_classes=10)
        fit.append(res.images_per_second)
        per_epoch = (len(labels) // cfg.batch_size) * cfg.batch_size
        steps.append(per_epoch * len(res.history) / sum(h["seconds"] for h in res.history))
    return statistics.median(plain), statistics.median(fit), statistics.median(steps), rt


def prediction_speed(run, parts, n_single=200):
    model = run.model
    imgs = parts.test.images
    lat = []
    for i in range(n_single):
        t = time.perf_counter()
        model.predict_proba(imgs[i : i + 1])
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    model.predict_proba(imgs)
    batch = len(imgs) / (time.perf_counter() - t)
    return statistics.median(lat) * 1000, batch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-classic", action="store_true")
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--skip-trueclass", action="store_true")
    ap.add_argument("--recipes", nargs="*", default=None, metavar="NAME",
                    help="only the whole-command recipe rows (those whose name contains NAME)")
    args = ap.parse_args()
    if args.recipes is not None:
        print(f"Fashion-MNIST, official split, whole commands; {machine()}\n")
        recipe_rows(args.recipes)
        return
    _, parts = load()
    print(f"Fashion-MNIST, official split: {len(parts.train):,} train / {len(parts.test):,} test; {machine()}\n")
    rows = []
    if not args.skip_classic:
        rows += classic_rows(parts)
    if not args.skip_reference:
        rows += reference_rows(parts)
    run = None
    if not args.skip_trueclass:
        tc_rows, run = trueclass_rows()
        rows += tc_rows
    print("| model | test accuracy | training wall time s | training images/s |")
    print("|---|---|---|---|")
    for name, acc, secs, ips in rows:
        print(f"| {name} | {acc:.4f} | {'' if secs is None else f'{secs:.0f}'} | {'' if ips is None else f'{ips:,.0f}'} |")
    plain, fit, steps, rt = throughput(parts)
    print(f"\nTrainer throughput, same cnn, 2 epochs of 16,384 images, median of 3: plain fp32 loop {plain:,.0f} "
          f"images/s; trueclass trainer ({rt.describe()}) training steps {steps:,.0f} images/s ({steps / plain:.1f}x), "
          f"whole fit with its per-epoch evaluation {fit:,.0f} images/s ({fit / plain:.1f}x)")
    if run is not None:
        p50, batch = prediction_speed(run, parts)
        print(f"Prediction (quick-recipe model): single image p50 {p50:.1f} ms, batch of 10,000 {batch:,.0f} images/s")


if __name__ == "__main__":
    main()
