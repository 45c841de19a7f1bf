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

#: What other trueclass packages use besides the names above, loaded on first use.
_FACE = {
    "FEW_TEST_IMAGES": "._diagnosis",
    "STRONG_IMBALANCE": "._diagnosis",
    "calibrated": "._calibration",
    "compare_answers": "._compare",
    "data_warnings": "._diagnosis",
    "fit_calibration": "._calibration",
    "names_for": "._compare",
    "paired_test": "._compare",
    "prediction_rows": "._evaluation",
    "set_renderers": "._render",
    "shift_report": "._groups",
    "slice_report": "._groups",
    "stability_summary": "._diagnosis",
    "training_verdict": "._diagnosis",
    "uncalibrated": "._calibration",
}


def __getattr__(name: str):
    if name in _FACE:  # read from its module each time (not kept here), so a patch of it holds
        import importlib

        return getattr(importlib.import_module(_FACE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ += sorted(_FACE)
