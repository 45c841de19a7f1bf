"""Pure metric functions and the Evaluation they fill."""

from .._face import face, face_names
from ._evaluation import Evaluation, evaluate, evaluate_predictions, unseen_part
from ._multilabel import MultiLabelEvaluation, choose_label_thresholds, evaluate_multilabel
from ._metrics import (
    baselines,
    choose_threshold,
    confusion,
    flag_summary,
    misread,
    most_confused,
    per_class_report,
    top_k_accuracies,
    weakest_class,
    wilson_interval,
)

__all__ = [
    "Evaluation",
    "MultiLabelEvaluation",
    "choose_label_thresholds",
    "evaluate_multilabel",
    "baselines",
    "choose_threshold",
    "confusion",
    "evaluate",
    "evaluate_predictions",
    "unseen_part",
    "flag_summary",
    "misread",
    "most_confused",
    "per_class_report",
    "top_k_accuracies",
    "weakest_class",
    "wilson_interval",
]


__getattr__ = face(__name__)

__all__ += [n for n in face_names(__name__) if n not in __all__]
