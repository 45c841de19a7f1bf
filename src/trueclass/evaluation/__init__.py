"""Pure metric functions and the Evaluation they fill."""

from ._evaluation import Evaluation, evaluate, evaluate_predictions
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
    "flag_summary",
    "misread",
    "most_confused",
    "per_class_report",
    "top_k_accuracies",
    "weakest_class",
    "wilson_interval",
]
