"""The cnn's side of a time budget (training._budget): measure each width of the ladder
on the first batch of the data, at the run's precision, and plan the fit."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..training import as_tensor

__all__ = ["plan_budget"]


def plan_budget(backend: Any, x_all, scale: float, y: np.ndarray, n_val: int, runtime, aug, seconds: float,
                recipe: tuple[int, float, int]) -> dict[str, Any]:
    """Measure a few training and prediction steps of each width of the budget's ladder
    on the first batch of these images, at this run's precision, and plan the fit.
    ``backend`` is the cnn's TorchBackend; ``recipe`` its (batch size, learning rate,
    epochs) for this many images."""
    import time

    import torch

    from ..training import BN_IMAGES, LADDER, TrainConfig, Trainer, fits_on_device, measure, plan, predict_logits
    from ._nets import build_cnn

    t0 = time.perf_counter()
    p = backend.params
    batch_size, lr, recipe_epochs = recipe
    n = min(len(y), batch_size)
    xt = as_tensor(x_all)
    # the batch where training will keep its images: on a GPU when the whole set fits there
    # (training._batches.resident), else on the host, copied at each step as training will
    xb = xt[torch.arange(n)]
    xb = runtime.to_device(xb) if fits_on_device(xt, runtime) else xb
    n_pred = min(len(y), 512)
    xp = xt[torch.arange(n_pred)]
    yb = torch.as_tensor(np.asarray(y)[:n], dtype=torch.long).to(xb.device)
    mean, std = runtime.channel_stats(backend.mean_), runtime.channel_stats(backend.std_)
    speeds: dict[int, dict[str, float]] = {}
    channels, h, w = xt.shape[1:]
    for rung in LADDER:
        torch.manual_seed(0)
        net = runtime.place(build_cnn(int(channels), backend.n_classes, (int(h), int(w)), width=rung["width"],
                                      depth=int(p["depth"])))
        cfg = TrainConfig(batch_size=batch_size, lr=lr, augment=aug, seed=0)
        trainer = Trainer(cfg, runtime, mean=mean, std=std, scale=scale)
        opt = trainer.optimizer(trainer.param_groups(net))
        loss_fn = trainer.loss_fn(np.asarray(y), backend.n_classes)
        gen = torch.Generator(device=runtime.device).manual_seed(0)  # as training draws (on a GPU, there)

        def step(net=net, trainer=trainer, opt=opt, loss_fn=loss_fn, gen=gen):
            net.train()
            trainer.step(net, xb, yb, opt, loss_fn, gen, None)
            runtime.sync()  # the step is timed: on a GPU it has only been queued

        def predict(net=net):
            predict_logits(net, xp, scale=scale, mean=mean, std=std, runtime=runtime)

        speeds[rung["width"]] = measure(step, predict, n, n_pred)
    n_eval = n_val + min(len(y), 2000)
    chosen = plan(seconds, speeds, n_train=len(y), n_eval=n_eval, batch_size=batch_size,
                  recipe_epochs=recipe_epochs, fixed_seconds=time.perf_counter() - t0,
                  final_images=min(len(y), BN_IMAGES))
    rung = next(r for r in LADDER if r["width"] == chosen["width"])
    # the batch and rate measured are the fit's (training._budget.budgeted_params)
    return {"seconds": round(seconds, 1), **chosen, "batch_size": batch_size, "lr": lr, "tta": rung.get("tta", False), "measured_seconds": round(time.perf_counter() - t0, 2),
            "training_images_per_second": {str(k): round(v["train"]) for k, v in speeds.items()},
            "precision": runtime.precision}
