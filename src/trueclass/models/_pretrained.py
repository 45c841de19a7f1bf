"""``lite0``: a linear probe on the offline pretrained backbone's embeddings.

The images go through ImageNet EfficientNet-Lite0 once (``trueclass.features``; the
embeddings are cached by image content, so a re-run, the audit and the review threshold's
cross-validation reuse them) and a logistic regression on the standardised 1,280
features learns the classes: seconds on a laptop CPU, and far ahead of training from
scratch when there are few images a class (benchmarks/transfer_fewshot.py). The fitted
probe is a scikit-learn pipeline saved with skops like the pixel models; the backbone's
weights are named by their SHA-256 in model.json, never stored in the model folder.

Fine-tuning the whole backbone is ``timm:tf_efficientnet_lite0`` with ``pretrained=True``,
which starts from the same offline weights (``models._nets.build_timm``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..features import PROBE_C, embedding_features, probe
from ._backend import PixelBackend
from ._registry import ModelSpec, register_model

def _probe(params: dict[str, Any], y: np.ndarray, random_state: int | None, **_: Any):  # noqa: ARG001
    return PixelBackend(probe(params["C"], params["max_iter"]))


register_model(ModelSpec(
    name="lite0",
    description="pretrained ImageNet EfficientNet-Lite0 (offline), a logistic-regression probe on its embeddings",
    family="pretrained",
    build=_probe,
    prepare=embedding_features,
    backend=PixelBackend,
    defaults={"C": PROBE_C, "max_iter": 2000},
))
