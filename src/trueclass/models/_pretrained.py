"""``lite0``: a linear probe on the offline pretrained backbone's embeddings.

The images go through ImageNet EfficientNet-Lite0 once (``trueclass.features``; the
embeddings are cached by image content, so a re-run, the audit and the review threshold's
cross-validation reuse them) and a logistic regression on the standardised 1,280
features learns the classes: seconds on a laptop CPU, and far ahead of training from
scratch when there are few images a class (benchmarks/transfer_fewshot.py). A small
training part (at most ``VIEWS_MAX_IMAGES``) also trains on the embeddings of its
mirrored and shifted copies (``augment``; benchmarks/fewshot_probe.py). The fitted
probe is a scikit-learn pipeline saved with skops like the pixel models; the backbone's
weights are named by their SHA-256 in model.json, never stored in the model folder.

Fine-tuning the whole backbone is ``timm:tf_efficientnet_lite0`` with ``pretrained=True``,
which starts from the same offline weights (``models._nets.build_timm``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import TrueclassError
from ..features import PROBE_C, embedding_features, probe, train_views
from ._backend import PixelBackend
from ._choice import is_photograph
from ._registry import ModelSpec, register_model

#: What the probe's ``augment`` may be: "auto" (flips and shifts for photographs, shifts
#: only for drawings, by the rule that chooses the default model: a mirrored 2 is not a 2),
#: "flips+shifts", "shifts" or "none".
AUGMENT = ("auto", "flips+shifts", "shifts", "none")
#: The views join training parts of at most this many images. Chosen on validation images
#: of few-shot sets, 10 a class (benchmarks/fewshot_probe.py): mirrored and shifted copies
#: lifted the probe on small grey faces and textures by 1 to 6 points and cost nothing on
#: colour photos and Fashion-MNIST. Each copy is one more embedding (about 4 ms on 2 cores);
#: a larger training part, where copies are worth less, is not made six times slower.
VIEWS_MAX_IMAGES = 500


def _views(images: np.ndarray, value_max: int, params: dict[str, Any]) -> list[np.ndarray]:
    augment = params.get("augment", "auto")
    if augment == "none" or len(images) > VIEWS_MAX_IMAGES:
        return []
    flips = is_photograph(images, value_max) if augment == "auto" else augment == "flips+shifts"
    return train_views(images, flips=flips)


def _check(params: dict[str, Any]) -> None:
    if params.get("augment", "auto") not in AUGMENT:
        raise TrueclassError(f"lite0's augment must be one of {', '.join(AUGMENT)}, not {params['augment']!r}.")


def _probe(params: dict[str, Any], y: np.ndarray, random_state: int | None, **_: Any):  # noqa: ARG001
    return PixelBackend(probe(params["C"], params["max_iter"]))


register_model(ModelSpec(
    name="lite0",
    description="pretrained ImageNet EfficientNet-Lite0 (offline), a logistic-regression probe on its embeddings",
    family="pretrained",
    build=_probe,
    prepare=embedding_features,
    backend=PixelBackend,
    defaults={"C": PROBE_C, "max_iter": 2000, "augment": "auto"},
    check=_check,
    train_views=_views,
))
