"""An exponential moving average of a network's weights, for the trainer."""

from __future__ import annotations

import functools


def make_ema(net, decay: float):
    """An exponential moving average of ``net``'s weights and buffers: torch's AveragedModel
    (its state_dict, so checkpoints keep their layout) with torch's EMA update
    (get_ema_multi_avg_fn's lerp, so the same weights), less the host work AveragedModel does
    at every step on a GPU: it copies its step counter, a host tensor, to the GPU for an
    update that never reads it, and tests the counter twice. Here a Python flag says
    whether the first copy was made, and the counter is only counted."""
    return _ema_class()(net, decay)


@functools.cache
def _ema_class():
    import itertools

    import torch
    from torch.optim.swa_utils import AveragedModel

    class Ema(AveragedModel):
        def __init__(self, net, decay: float):
            super().__init__(net, use_buffers=True)
            self.decay = float(decay)
            self.begun = False  # n_averaged > 0, without reading a tensor at every step

        def update_parameters(self, model) -> None:
            mine = [t.detach() for t in itertools.chain(self.module.parameters(), self.module.buffers())]
            theirs = [t.detach() for t in itertools.chain(model.parameters(), model.buffers())]
            with torch.no_grad():
                if not self.begun:
                    torch._foreach_copy_(mine, theirs)
                else:
                    floats = [i for i, t in enumerate(mine) if t.is_floating_point()]
                    torch._foreach_lerp_([mine[i] for i in floats], [theirs[i] for i in floats], 1 - self.decay)
                    for a, b in zip(mine, theirs, strict=True):
                        if not a.is_floating_point():  # BatchNorm's step count, as torch's EMA does it
                            a.copy_(a * self.decay + b * (1 - self.decay))
            self.begun = True
            self.n_averaged += 1  # a host tensor (AveragedModel keeps it there): counting it waits for nothing

        def load_state_dict(self, state, *args, **kwargs):
            out = super().load_state_dict(state, *args, **kwargs)
            self.begun = bool(self.n_averaged > 0)  # one read, on resume
            return out

    return Ema
