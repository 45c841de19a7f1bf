"""Embeddings of images in the data's units, and the linear probe that reads them: one
recipe for the lite0 model, the audit's label model and the head a fine-tuned backbone
starts from."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["embedding_features", "probe", "train_views", "PROBE_C"]

#: C=0.1 on validation images (benchmarks/probe_regularisation.py): within 0.005 of the best
#: C from 0.01 to 1 on photo crops, Fashion-MNIST (200 and 2,000 images) and digits.
PROBE_C = 0.1


def embedding_features(images: np.ndarray, value_max: int, on_progress: Any = None, *,
                       size: int | None = None) -> np.ndarray:
    """(N, H, W, C) images in the data's units -> (N, 1280) backbone embeddings;
    ``on_progress`` hears how the embedding goes (minutes for tens of thousands)."""
    from ..data import to_display
    from ._backbone import DEFAULT_SIZE, embed

    display = to_display(np.asarray(images), value_max)
    if display.shape[-1] not in (1, 3):
        from .._errors import TrueclassError

        raise TrueclassError("lite0 takes grey or colour images (1 or 3 channels).")
    return embed(display, size=size or DEFAULT_SIZE, on_progress=on_progress)


#: A shifted view is the corner crop of this share of each side (the backbone resizes it).
_CROP = 0.85


def train_views(images: np.ndarray, *, flips: bool) -> list[np.ndarray]:
    """More training images for a probe, each a copy of every image (same labels): the
    mirrored images when ``flips``, and four corner crops of 85% of the side (shifts of
    up to 15%, slightly enlarged by the backbone's resize). Images in any units."""
    images = np.asarray(images)
    h, w = images.shape[1:3]
    ch, cw = max(1, round(h * _CROP)), max(1, round(w * _CROP))
    views = [images[:, :, ::-1]] if flips else []
    views += [images[:, y:y + ch, x:x + cw] for y in (0, h - ch) for x in (0, w - cw)]
    return [np.ascontiguousarray(v) for v in views]


def probe(C: float = PROBE_C, max_iter: int = 2000):
    """The linear probe on backbone features: standardised features, then a logistic
    regression. One recipe for the lite0 model, the audit's embeddings candidate and the
    head a fine-tuned backbone starts from."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # newton-cg, not scikit-learn's default lbfgs: with 1,280 features a class the model has
    # over 10,000 weights and lbfgs's per-step cost dominates. Measured on lite0 embeddings
    # (2 cores): 605 images, 10 classes, 0.05 s against 0.77 s; 6,000 Fashion-MNIST images
    # 0.9 s against 3.1 s, and to a lower loss (lbfgs stops short at its tolerance). The
    # audit's self-check fits it (1 + copies) x folds times, so this is most of its cost.
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, solver="newton-cg", max_iter=max_iter))
