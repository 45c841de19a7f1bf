"""The optimiser of a fit: SGD with Nesterov momentum or AdamW, Lookahead as step hooks,
and its per-weight state put back in its weights' layout after a checkpoint is loaded."""

from __future__ import annotations

from typing import Any

from .._errors import TrueclassError

__all__ = ["build_optimizer", "add_lookahead", "load_state", "state_like_params"]


def build_optimizer(groups: list[dict[str, Any]], cfg: Any, *, fused: bool = False) -> Any:
    """The optimiser ``cfg`` (a TrainConfig) names over ``groups`` (each with its
    ``base_lr``), at its base rates. ``fused``: torch's fused kernels, for fp16's loss
    scaling: the scaler then hands them the scale and the overflow flag as tensors, where
    with the others it reads the flag on the host at every step (a wait for the GPU)."""
    import torch

    for g in groups:
        g["lr"] = g["base_lr"]
    extra = {"fused": True} if fused else {}
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay, **extra)
    elif cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, **extra)
    else:
        raise TrueclassError(f"optimizer must be 'sgd' or 'adamw', not {cfg.optimizer!r}.")
    if fused and cfg.optimizer == "sgd":
        # torch's fused SGD makes its momentum with empty_like and fills it in the first
        # step's kernel, which a first step that overflows (skipped) never runs: the memory
        # left there became momentum. Zeros are what a first step makes of them (dampening
        # 0: momentum x 0 + gradient), in the weight's layout.
        for g in groups:
            for p in g["params"]:
                opt.state[p]["momentum_buffer"] = torch.zeros_like(p)
    if cfg.lookahead:
        add_lookahead(opt, int(cfg.lookahead))
    return opt


def add_lookahead(opt, k: int, alpha: float = 0.5) -> None:
    """Lookahead (Zhang et al., 2019) on an optimiser, as step hooks: every ``k`` steps the
    slow weights move ``alpha`` of the way to the fast ones, and the fast ones restart there.

    torch has no Lookahead; these hooks are its whole algorithm. The slow weights and the
    step count live in the optimiser's per-parameter state, so a checkpoint keeps them and a
    resumed run ends with the same weights. They are put there after the first step: AdamW
    fills an empty state on its first step and would find it taken. With fp16's fused steps
    a step the scaler skipped (its gradients overflowed) still counts: knowing would take a
    wait for the GPU at every step, and the count is the same from run to run."""
    import torch

    first: dict = {}  # the weights before the first step, until the step has run

    def params():
        return (p for group in opt.param_groups for p in group["params"] if p.requires_grad)

    def before(opt_, args, kwargs) -> None:
        for p in params():
            if "lookahead_slow" not in opt.state.get(p, {}):
                first[p] = p.detach().clone()

    def after(opt_, args, kwargs) -> None:
        with torch.no_grad():
            for p in params():
                st = opt.state[p]
                if p in first:
                    st["lookahead_slow"], st["lookahead_steps"] = first.pop(p), 0  # an int: no device sync
                st["lookahead_steps"] += 1
                if st["lookahead_steps"] % k == 0:
                    slow = st["lookahead_slow"]
                    slow.add_(p - slow, alpha=alpha)
                    p.copy_(slow)

    opt.register_step_pre_hook(before)
    opt.register_step_post_hook(after)


def load_state(opt, state: dict[str, Any]) -> None:
    """A checkpoint's optimiser state into ``opt``, which keeps how it was built: torch's
    load_state_dict also puts back the saved groups' kernel flags ("fused", "foreach"), and
    a checkpoint written without loss scaling (bf16 on one GPU, fp32) resumed in fp16 (a T4)
    then had a scaler handing its scale to an optimiser no longer fused (an assertion in
    torch's step). The state then takes its weights' layout (state_like_params)."""
    kept = [{k: g[k] for k in ("fused", "foreach") if k in g} for g in opt.param_groups]
    # into the state before it loads: torch places AdamW's step counts by the flags it reads there
    # (on the GPU for a fused step, which would meet them on the host otherwise)
    opt.load_state_dict({**state, "param_groups": [{**g, **flags} for g, flags in zip(state["param_groups"], kept)]})
    state_like_params(opt)


def state_like_params(opt) -> None:
    """The optimiser's per-weight tensors (momentum, Adam's moments, Lookahead's slow
    weights) in the memory layout of their weights again. A checkpoint stores them
    contiguous; the weights of a channels_last net are not, and torch's fused steps (used
    with fp16's loss scaling) walk a weight and its state as one flat block: with the layouts
    apart they paired the wrong numbers, and a resumed fit went elsewhere than one never
    stopped."""
    import torch

    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p, {})
            for k, v in st.items():
                if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                    st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)
