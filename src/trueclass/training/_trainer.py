"""The torch trainer: fast on a CPU, seeded, resumable.

The whole training set stays in memory as one tensor and each batch is augmented in one
call (no per-image Python work); bf16 autocast and channels_last where the hardware
gains from them. The learning rate is a pure function of the step (one-cycle or cosine)
and every epoch re-seeds its own generators from (seed, epoch), so a run resumed from an
epoch's checkpoint ends with the same weights as one that was never stopped.
"""

from __future__ import annotations

import copy
import math
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._errors import TrainingInterrupted, TrueclassError
from . import _distributed as dist
from ._augment import Augment, augment_batch
from ._batches import resident, subset_rows
from ._checkpoint import load_checkpoint, save_checkpoint
from ._device import Runtime, machine_load, usable_cores
from ._ema import make_ema
from ._optim import build_optimizer, load_state

__all__ = ["TTA_MODES", "TrainConfig", "TrainResult", "Trainer", "TrainingInterrupted", "lr_factor", "predict_logits",
           "shifted", "tta_views"]


BN_IMAGES = 4096  # training images for the final BatchNorm statistics


@dataclass
class TrainConfig:
    epochs: int = 15
    batch_size: int = 256
    lr: float = 0.1
    optimizer: str = "sgd"  # "sgd" (Nesterov momentum) or "adamw"
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    ema: float = 0.0  # decay of an exponential moving average of the weights; 0 = off
    lookahead: int = 0  # every this many steps, pull the weights halfway back to slow weights (Lookahead); 0 = off
    schedule: str = "onecycle"  # "onecycle", "cosine" or "constant"
    warmup: float = 0.2  # share of the steps spent warming up
    patience: int = 5  # stop after this many epochs without a better validation loss; 0 = never
    augment: Augment = field(default_factory=Augment)
    class_weight: str | None = None  # None or "balanced"
    balanced_sampling: bool = False
    freeze_backbone: bool = False
    freeze_batchnorm: bool = False  # keep BatchNorm statistics as loaded (fine-tuning pretrained weights)
    backbone_lr_scale: float = 1.0  # < 1 when fine-tuning pretrained weights
    multilabel: bool = False
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["augment"] = self.augment.to_dict()
        return d


@dataclass
class TrainResult:
    history: list[dict[str, Any]]
    best_epoch: int
    stopped_early: bool
    seconds: float
    images_per_second: float
    resumed_from: int | None = None
    #: the highest one-minute load average seen at the start and after each epoch, and the
    #: cores the run could use (the report says when the machine was busy: report._text.busy_machine)
    load: float | None = None
    cores: int | None = None
    #: on a GPU, the share of its measured peak the training used (training._speed.device_use)
    device_use: dict[str, Any] | None = None


#: Early stopping counts an epoch without a better validation loss only once the one-cycle
#: (or cosine) rate has fallen to this share of its peak: while it is high the validation
#: loss stalls although the net still has most of its learning ahead. Fashion-MNIST's
#: default net for 30 epochs stopped after 13 (test accuracy 0.9223) when every epoch after
#: the warm-up counted, and scored 0.9405 when it ran to the end (docs/benchmarks.md).
PATIENCE_BELOW_RATE = 0.5


def lr_factor(step: int, total: int, schedule: str, warmup: float) -> float:
    """The learning rate at ``step`` of ``total``, as a fraction of the peak."""
    if schedule == "constant" or total <= 1:
        return 1.0
    w = max(1, int(round(warmup * total)))
    if step < w:
        return 0.1 + 0.9 * step / w
    progress = min(1.0, (step - w) / max(1, total - w))
    if schedule == "onecycle":
        return max(0.0, 1.0 - progress)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    raise TrueclassError(f"schedule must be 'onecycle', 'cosine' or 'constant', not {schedule!r}.")


def _counts_toward_patience(epoch: int, steps_per_epoch: int, cfg: TrainConfig) -> bool:
    """Whether an epoch (0-based) without a better validation loss counts toward early
    stopping: never during the warm-up, and with a decaying schedule only once the rate at
    the epoch's last step has fallen to PATIENCE_BELOW_RATE of its peak."""
    if epoch + 1 <= int(np.ceil(cfg.warmup * cfg.epochs)):
        return False
    if cfg.schedule == "constant":
        return True
    last_step = (epoch + 1) * steps_per_epoch - 1
    return lr_factor(last_step, steps_per_epoch * cfg.epochs, cfg.schedule, cfg.warmup) <= PATIENCE_BELOW_RATE


def _to_float(xb, scale: float, runtime: Runtime):
    x = runtime.to_device(xb).float()
    if scale != 1.0:
        x = x * (1.0 / scale)
    return x


def _normalize(x, mean, std, runtime: Runtime):
    import torch

    x = (x - mean) / std
    if runtime.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def predict_logits(net, X, *, scale: float, mean, std, runtime: Runtime, batch_size: int = 512,
                   tta: str | None = None, expand_channels: int | None = None, resize: tuple[int, int] | None = None):
    """Logits for every image of ``X`` (N, C, H, W), in batches, without gradients.

    ``tta`` (:data:`TTA_MODES`) averages the logits over :func:`tta_views`.
    """
    import torch

    net.eval()
    outs = []
    with torch.inference_mode(), runtime.autocast():
        for i in range(0, len(X), batch_size):
            x = prep_input(_to_float(X[i : i + batch_size], scale, runtime), expand_channels, resize)
            views = tta_views(x, tta)
            logits = sum(net(_normalize(v, mean, std, runtime)).float() for v in views) / len(views)
            outs.append(logits.cpu())
    return torch.cat(outs) if outs else torch.zeros((0,))


#: Test-time augmentation: the views whose logits are averaged, besides the image itself.
#: "hflip": the mirrored image; "shift": the image moved by one pixel up, down, left and
#: right; "hflip+shift": both, and the mirrored image's four shifts (10 views in all).
#: Chosen on validation images (Fashion-MNIST's training images, 54k/6k, the cnn at width
#: 24 for 15 epochs in fp32; benchmarks/fp32_levers.py --tta): none 0.9437, hflip 0.9468,
#: shift 0.9482, hflip+shift 0.9495; with label smoothing 0.2 0.9442, 0.9482, 0.9473, 0.9490;
#: the default net (width 32, 15 epochs, bf16) 0.9480, 0.9500, 0.9495, 0.9520.
TTA_MODES = {"hflip": ("hflip",), "shift": ("shift",), "hflip+shift": ("hflip", "shift")}

#: The one-pixel moves of the "shift" views, (rows, columns).
_SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def tta_views(x, tta: str | None) -> list:
    """The views of a float batch (N, C, H, W) that ``tta`` averages over, the batch itself
    first. A shift moves the image by a whole pixel and fills the uncovered edge with 0 (black
    in the 0-1 scale, as the clothing preset's training shifts pad), never wrapping the far
    edge around. One function for PyTorch's predictions and the exported ONNX graph, so both
    see the same views."""
    if tta is not None and tta not in TTA_MODES:
        raise TrueclassError(f"Unknown test-time augmentation {tta!r}; one of {', '.join(TTA_MODES)}.")
    parts = TTA_MODES.get(tta, ())
    views = [x] + ([x.flip(3)] if "hflip" in parts else [])
    if "shift" in parts:
        views += [moved for base in list(views) for moved in shifted(base, _SHIFTS)]
    return views


def shifted(x, shifts) -> list:
    """The batch (N, C, H, W) moved by each whole-pixel ``(rows, columns)`` of ``shifts``,
    the uncovered edge filled with 0 and nothing wrapped around: slices of one padded copy."""
    import torch.nn.functional as F

    r = max(max(abs(dy), abs(dx)) for dy, dx in shifts)
    h, w = x.shape[2], x.shape[3]
    padded = F.pad(x, (r, r, r, r))
    return [padded[:, :, r - dy:r - dy + h, r - dx:r - dx + w] for dy, dx in shifts]


def prep_input(x, expand_channels: int | None, resize: tuple[int, int] | None):
    """Grey to 3 channels and resizing, for backbones that expect RGB at a set size."""
    import torch.nn.functional as F

    if expand_channels and x.shape[1] == 1 and expand_channels == 3:
        x = x.expand(-1, 3, -1, -1)
    if resize and tuple(x.shape[2:]) != tuple(resize):
        x = F.interpolate(x, size=resize, mode="bilinear", align_corners=False, antialias=True)
    return x


def _interrupted(epoch: int, epochs: int, done: int, checkpoint: str | Path | None) -> TrainingInterrupted:
    """What a Ctrl-C during ``epoch`` says: where training stopped, and the checkpoint after
    epoch ``done`` to go on from, when one was written."""
    stopped = f"Training stopped during epoch {epoch + 1} of {epochs}"
    if checkpoint is None:
        return TrainingInterrupted(f"{stopped}; no checkpoint was written.", stopped=stopped)
    return TrainingInterrupted(
        f"{stopped}; the checkpoint after epoch {done} is kept in {str(checkpoint)!r}. Go on with "
        "the same fit(..., checkpoint=..., resume=True).", checkpoint=Path(checkpoint), stopped=stopped)


class Trainer:
    """Trains a torch module on in-memory tensors. One instance per fit."""

    def __init__(self, config: TrainConfig, runtime: Runtime, *, mean, std, scale: float,
                 expand_channels: int | None = None, resize: tuple[int, int] | None = None,
                 head_prefixes: tuple[str, ...] = ("head.",), note: dict[str, Any] | None = None):
        self.cfg = config
        self.note = note  # kept in every checkpoint (how the recipe was chosen), read back on resume
        self.rt = runtime
        self.mean, self.std, self.scale = mean, std, scale
        self.expand_channels, self.resize = expand_channels, resize
        self.head_prefixes = head_prefixes
        self.scaler = runtime.grad_scaler()  # loss scaling in fp16, a pass-through otherwise

    # -- pieces ---------------------------------------------------------------------------------
    def as_input(self, xb) -> Any:
        """A batch of stored images (uint8 or float) as the network takes it at prediction
        time: on the runtime's device, scaled, grey expanded or resized for a backbone,
        normalised, in the runtime's memory format."""
        rt = self.rt
        return _normalize(prep_input(_to_float(xb, self.scale, rt), self.expand_channels, self.resize),
                          self.mean, self.std, rt)

    def step(self, net, xb, yb, opt, loss_fn, gen, ema, part: tuple[int, int] | None = None) -> Any:
        """One training step on a batch (augmented here; ``part``: this process's rows of
        the batch under torchrun, see augment_batch); returns its loss, a tensor on the
        device: reading it as a number would make the host wait for the GPU at every step."""
        rt = self.rt
        x = prep_input(_to_float(xb, self.scale, rt), self.expand_channels, self.resize)
        x = augment_batch(x, self.cfg.augment, gen, part)
        x = _normalize(x, self.mean, self.std, rt)
        with rt.autocast():
            loss = loss_fn(net(x), rt.to_device(yb))
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)  # in fp16: skipped, and the scale halved, where gradients overflowed
        self.scaler.update()
        if ema is not None:
            ema.update_parameters(net)
        return loss.detach()

    def _load_epoch(self, checkpoint, net, ema, opt, best: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Weights, EMA and optimiser from the last checkpoint; (best so far, where training stood)."""
        tensors, opt_state, meta = load_checkpoint(checkpoint)
        try:
            net.load_state_dict(tensors["model"])
        except RuntimeError as exc:  # another width, or another number of classes (the images changed)
            why = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
            raise TrueclassError(f"The checkpoint {str(checkpoint)!r} holds another network than this fit builds "
                                 f"({why}); it cannot go on from there. Train anew.") from None
        load_state(opt, opt_state)
        if ema is not None and "ema" in tensors:
            ema.load_state_dict(tensors["ema"])
        if "best" in tensors:
            best = {"loss": meta["best_loss"], "epoch": meta["best_epoch"], "state": tensors["best"]}
        if self.scaler.is_enabled() and meta.get("loss_scale"):  # a checkpoint from fp16 goes on at its scale
            self.scaler.load_state_dict(meta["loss_scale"])
        return best, meta

    def _save_epoch(self, checkpoint, net, ema, opt, best: dict[str, Any], meta: dict[str, Any]) -> None:
        """The checkpoint after an epoch: weights, EMA, the best weights so far, the
        optimiser and where training stands, so a resumed run ends with the same weights."""
        tensors = {"model": net.state_dict()}
        if ema is not None:
            tensors["ema"] = ema.state_dict()
        if best["state"] is not None:
            tensors["best"] = best["state"]
        save_checkpoint(checkpoint, tensors=tensors, optimizer=opt, meta={
            **meta, "best_loss": best["loss"] if best["state"] is not None else None,
            "best_epoch": best["epoch"], "config": self.cfg.to_dict(), **({"note": self.note} if self.note else {}),
            **({"loss_scale": self.scaler.state_dict()} if self.scaler.is_enabled() else {}),
        })

    def _train_mode(self, net) -> None:
        """Training mode, less what stays as loaded: BatchNorm statistics when frozen, the
        whole backbone (dropout included) when only the head learns."""
        import torch

        net.train()
        if self.cfg.freeze_batchnorm:
            for mod in net.modules():
                if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                    mod.eval()
        if self.cfg.freeze_backbone:
            heads = tuple(p.rstrip(".") for p in self.head_prefixes)
            for name, mod in net.named_modules():
                if name and not name.startswith(heads):
                    mod.eval()

    def param_groups(self, net) -> list[dict[str, Any]]:
        head, body = [], []
        for name, p in net.named_parameters():
            (head if name.startswith(self.head_prefixes) else body).append(p)
        if self.cfg.freeze_backbone:
            for p in body:
                p.requires_grad_(False)
            return [{"params": head, "base_lr": self.cfg.lr}]
        groups = [{"params": head, "base_lr": self.cfg.lr}]
        if body:
            groups.append({"params": body, "base_lr": self.cfg.lr * self.cfg.backbone_lr_scale})
        return groups

    def optimizer(self, groups):
        """SGD with Nesterov momentum or AdamW over ``groups``, with Lookahead when asked;
        fused when fp16's loss scaling is on (training._optim)."""
        return build_optimizer(groups, self.cfg, fused=self.scaler.is_enabled())

    def loss_fn(self, y_train: np.ndarray, n_classes: int):
        import torch.nn.functional as F

        if self.cfg.multilabel:
            pos_weight = None
            if self.cfg.class_weight == "balanced":
                pos = y_train.sum(0).clip(1)
                pos_weight = self.rt.tensor((len(y_train) - pos) / pos)
            return lambda logits, y: F.binary_cross_entropy_with_logits(logits.float(), y, pos_weight=pos_weight)
        weight = None
        if self.cfg.class_weight == "balanced":
            counts = np.bincount(y_train, minlength=n_classes).clip(1)
            weight = self.rt.tensor(len(y_train) / (n_classes * counts))
        elif self.cfg.class_weight not in (None, "none"):
            raise TrueclassError(f"class_weight must be None or 'balanced', not {self.cfg.class_weight!r}.")
        ls = self.cfg.label_smoothing
        return lambda logits, y: F.cross_entropy(logits.float(), y, weight=weight, label_smoothing=ls)

    def _order(self, y: np.ndarray, generator):
        import torch

        n = len(y)
        if self.cfg.balanced_sampling and not self.cfg.multilabel:
            counts = np.bincount(y).astype(np.float64)
            w = torch.tensor(1.0 / counts[y], dtype=torch.float64)
            return torch.multinomial(w, n, replacement=True, generator=generator)
        return torch.randperm(n, generator=generator)

    def _evaluate(self, net, X, y, loss_fn) -> tuple[float, float]:
        """Mean loss and accuracy on (X, y); under torchrun each process scores its own
        shard and the sums are added up, so every image counts exactly once."""
        import torch

        mine = dist.shard(len(y))
        if len(mine) != len(y):  # this process's share
            X, y = subset_rows(X, torch.from_numpy(mine)), np.asarray(y)[mine]
        logits = predict_logits(net, X, scale=self.scale, mean=self.mean, std=self.std, runtime=self.rt,
                                expand_channels=self.expand_channels, resize=self.resize)
        yt = torch.as_tensor(y)
        # the loss on the runtime's device, where its class weights live
        loss = float(loss_fn(self.rt.to_device(logits), self.rt.to_device(yt.float() if self.cfg.multilabel else yt))
                     ) if len(yt) else 0.0
        if self.cfg.multilabel:
            right = float(((logits > 0) == (yt > 0.5)).all(1).float().sum())
        else:
            right = float((logits.argmax(1) == yt).float().sum())
        loss_sum, right_sum, n = dist.all_sum([loss * len(yt), right, len(yt)])
        return loss_sum / max(n, 1), right_sum / max(n, 1)

    def _precise_batchnorm(self, net, X, *, seed: int, max_images: int = BN_IMAGES) -> None:
        """BatchNorm running statistics recomputed for the final weights.

        The running averages collected during training lag the weights (after a handful of
        steps on a small set they describe a network that no longer exists, and the
        eval-mode model can answer one class for everything). One pass over up to
        ``max_images`` training images, as the network sees them at prediction time,
        gives exact averages for the weights that are kept (torch's ``update_bn``).
        Skipped with a frozen backbone or frozen BatchNorm, whose pretrained statistics stay.
        """
        import torch
        from torch.nn.modules.batchnorm import _BatchNorm
        from torch.optim.swa_utils import update_bn

        if not any(isinstance(m, _BatchNorm) for m in net.modules()) or len(X) < 2:
            return
        rt = self.rt
        gen = torch.Generator().manual_seed(seed * 1009 + 7)
        idx = torch.randperm(len(X), generator=gen)[:max_images]
        bs = min(self.cfg.batch_size, len(idx))
        batches = (self.as_input(X[idx[i : i + bs]])
                   for i in range(0, len(idx), bs) if len(idx) - i >= 2)  # a batch of 1 has no variance
        with torch.no_grad(), rt.autocast():
            update_bn(batches, net)
        net.eval()

    def _train_epoch(self, epoch: int, step_net, net, X, y_t, order, opt, loss_fn, gen, ema, bs: int,
                     steps_per_epoch: int, on_progress: Callable[..., None] | None) -> dict[str, Any]:
        """The steps of one epoch over the batches of ``order`` (each process taking its
        share of every batch under torchrun); returns the epoch's history record."""
        import torch

        cfg = self.cfg
        total_steps = steps_per_epoch * cfg.epochs
        sharded = step_net is not net
        t_epoch = time.perf_counter()
        running = torch.zeros((), dtype=torch.float64, device=self.rt.device)  # summed where the losses are
        mine = dist.shard(bs)  # this process's rows of every batch: contiguous, so a slice (no index to copy)
        lo, hi = (int(mine[0]), int(mine[-1]) + 1) if len(mine) else (0, 0)
        for b in range(steps_per_epoch):
            f = lr_factor(epoch * steps_per_epoch + b, total_steps, cfg.schedule, cfg.warmup)
            for g in opt.param_groups:
                g["lr"] = g["base_lr"] * f
            batch = order[b * bs : (b + 1) * bs]
            idx = batch[lo:hi] if sharded else batch
            running += self.step(step_net, X[idx], y_t[idx], opt, loss_fn, gen, ema,
                                 (lo, len(batch)) if sharded else None)
            if on_progress is not None and (b % 10 == 0 or b == steps_per_epoch - 1):  # the one wait: every 10 steps
                loss_so_far = float(running) / (b + 1)
                el = time.perf_counter() - t_epoch
                on_progress(f"epoch {epoch + 1}/{cfg.epochs}", b + 1, steps_per_epoch,
                            loss=loss_so_far, images_per_second=(b + 1) * bs / max(el, 1e-9))
        return {"epoch": epoch + 1, "train_loss": float(running) / steps_per_epoch,
                "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t_epoch}

    # -- the loop ---------------------------------------------------------------------------------
    def fit(self, net, X, y: np.ndarray, X_val=None, y_val: np.ndarray | None = None, *,
            n_classes: int, checkpoint: str | Path | None = None, resume: bool = False,
            on_progress: Callable[..., None] | None = None) -> TrainResult:
        import torch

        cfg, rt = self.cfg, self.rt
        torch.manual_seed(cfg.seed)
        rt.place(net)
        opt = self.optimizer(self.param_groups(net))
        # under torchrun: gradients averaged over the processes, each taking its share of every
        # global batch (the same batches, learning rate and schedule as one process)
        step_net = dist.data_parallel(net)
        ema = make_ema(net, cfg.ema) if cfg.ema else None
        loss_fn = self.loss_fn(y, n_classes)
        n = len(y)
        bs = min(cfg.batch_size, n)
        steps_per_epoch = max(1, n // bs)  # the last partial batch is dropped: a batch of 1 breaks BatchNorm
        history: list[dict[str, Any]] = []
        best = {"loss": math.inf, "epoch": -1, "state": None}
        stale, start_epoch, resumed_from = 0, 0, None
        if resume and checkpoint is not None and Path(checkpoint).is_file():
            best, meta = self._load_epoch(checkpoint, net, ema, opt, best)
            history, stale, start_epoch = meta["history"], meta["stale"], meta["epoch"] + 1
            resumed_from = meta["epoch"]
        X_steps, y_t = self._steps_data(X, y, will_train=start_epoch < cfg.epochs)
        t_start = time.perf_counter()
        loads = [machine_load()]
        images_seen, step_seconds = 0, 0.0
        stopped_early = False
        epoch = start_epoch - 1
        order = stopped = None
        try:
            for epoch in range(start_epoch, cfg.epochs):
                if cfg.patience and stale >= cfg.patience:
                    stopped_early = True
                    break
                seed = cfg.seed * 1009 + epoch
                torch.manual_seed(seed)
                gen = torch.Generator().manual_seed(seed)
                order = self._order(y, gen).to(y_t.device)  # one copy an epoch where the images are
                # on a GPU the augmentation draws its random numbers there (a generator of its
                # own); on a CPU it goes on drawing from the one that ordered the batches
                aug_gen = torch.Generator(device=rt.device).manual_seed(seed) if rt.is_cuda else gen
                self._train_mode(net)
                record = self._train_epoch(epoch, step_net, net, X_steps, y_t, order, opt, loss_fn, aug_gen, ema,
                                           bs, steps_per_epoch, on_progress)
                images_seen += steps_per_epoch * bs
                # the steps alone (not the evaluations, checkpoints and BatchNorm pass): what the
                # device's share of use speaks of
                step_seconds += record["seconds"]
                model_for_eval = ema.module if ema is not None else net
                first = order[: min(n, 2000)].cpu()
                tr_loss, tr_acc = self._evaluate(model_for_eval, subset_rows(X, first), y[first.numpy()], loss_fn)
                record["train_eval_loss"], record["train_accuracy"] = tr_loss, tr_acc
                if X_val is not None and len(X_val):
                    v_loss, v_acc = self._evaluate(model_for_eval, X_val, y_val, loss_fn)
                    record["val_loss"], record["val_accuracy"] = v_loss, v_acc
                    if v_loss < best["loss"] - 1e-4:
                        best = {"loss": v_loss, "epoch": epoch, "state": copy.deepcopy(model_for_eval.state_dict())}
                        stale = 0
                    elif _counts_toward_patience(epoch, steps_per_epoch, cfg):
                        stale += 1
                history.append(record)
                loads.append(machine_load())
                if on_progress is not None:
                    on_progress(f"epoch {epoch + 1}/{cfg.epochs}", steps_per_epoch, steps_per_epoch,
                                loss=record["train_loss"], val_accuracy=record.get("val_accuracy"))
                if checkpoint is not None and dist.is_main():  # one process writes
                    self._save_epoch(checkpoint, net, ema, opt, best,
                                     {"epoch": epoch, "history": history, "stale": stale})
        except KeyboardInterrupt:
            kept = checkpoint is not None and epoch > start_epoch - 1 and Path(checkpoint).is_file()
            stopped = _interrupted(epoch, cfg.epochs, len(history), checkpoint if kept else None)
        except BaseException as exc:
            # the steps' frames in its traceback hold the GPU's copy of the training images (and
            # a step's activations): cleared, so a traceback kept (a notebook's last error, an
            # exception's context) does not keep them; the lines it names stay
            traceback.clear_frames(exc.__traceback__)
            raise
        finally:  # the GPU's copy of the training images goes now
            del X_steps, y_t, order
        if stopped is not None:  # raised here, not in the handler: with no Ctrl-C as its context to keep frames
            raise stopped
        final = self._final_weights(net, ema, best, X)
        seconds = time.perf_counter() - t_start
        images_per_second = images_seen / seconds if seconds > 0 else 0.0
        return TrainResult(
            history=history,
            best_epoch=(best["epoch"] + 1) if best["state"] is not None else len(history),
            stopped_early=stopped_early,
            seconds=seconds,
            images_per_second=images_per_second,
            resumed_from=resumed_from,
            load=max((v for v in loads if v is not None), default=None),
            cores=usable_cores(),
            device_use=(self._device_use(final, X, images_seen / step_seconds)
                        if rt.is_cuda and images_seen and step_seconds > 0 else None),
        )

    def _final_weights(self, net, ema, best: dict[str, Any], X) -> Any:
        """The weights kept, in ``net``: the best epoch's (of the EMA where there is one), with
        BatchNorm statistics recomputed for them; returns the module that holds them."""
        final = ema.module if ema is not None else net
        if best["state"] is not None:
            final.load_state_dict(best["state"])
        if not (self.cfg.freeze_backbone or self.cfg.freeze_batchnorm):
            self._precise_batchnorm(final, X, seed=self.cfg.seed)
        if ema is not None:
            net.load_state_dict(final.state_dict())
        return final

    def _steps_data(self, X, y: np.ndarray, *, will_train: bool) -> tuple[Any, Any]:
        """The images and labels the training steps index. On a GPU they live there when they
        fit (training._batches.resident): a batch is then cut out where it is used, with no
        copy from the host and no wait for one; not moved when no epoch will run."""
        import torch

        X_steps = resident(X, self.rt) if will_train else X
        y_t = torch.as_tensor(y, dtype=torch.float32 if self.cfg.multilabel else torch.long)
        return X_steps, (self.rt.to_device(y_t) if X_steps is not X else y_t)

    def _device_use(self, net, X, images_per_second: float) -> dict[str, Any]:
        """The share of the GPU's measured peak the training used (training._speed): words for
        the run's training line, never a reason to lose the trained model, so a failure to
        measure is kept as its reason."""
        from ._speed import device_use

        try:
            return device_use(self, net, X[: min(len(X), 8)], images_per_second, processes=dist.world_size())
        except Exception as exc:  # noqa: BLE001 - informational; the model is trained
            return {"unmeasured": f"{type(exc).__name__}: {exc}"}
