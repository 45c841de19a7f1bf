"""Pure metric functions and the Evaluation they fill."""

from .._face import face, face_names
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
    "._calibration": "calibrated fit_calibration uncalibrated",
    "._compare": "compare_answers names_for paired_test",
    "._diagnosis": "FEW_TEST_IMAGES STRONG_IMBALANCE data_warnings stability_summary training_verdict",
    "._evaluation": "prediction_rows",
    "._groups": "shift_report slice_report",
    "._render": "set_renderers",
}

__getattr__ = face(__name__, _FACE)

__all__ += [n for n in face_names(_FACE) if n not in __all__]
