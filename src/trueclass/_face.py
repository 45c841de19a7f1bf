"""A package's face: the names other packages import from it, each loaded from its own
module on first use (PEP 562), so importing the package stays cheap and no import circle
forms through it."""

from __future__ import annotations

import importlib
from typing import Any, Callable

__all__ = ["face", "face_names", "FACES"]

#: What each package gives the others beyond the names its ``__init__`` imports, by the
#: module that holds them: the one place the packages' faces are declared.
FACES: dict[str, dict[str, str]] = {
    "trueclass.checks": {
        "._audit": "audit_folder",
        "._labels": "EMBED_MIN_SIDE",
    },
    "trueclass.data": {
        "._archives": ("ARCHIVE_NOISE ARCHIVE_SUFFIXES CONTAINER_SUFFIXES archive_members hidden_member open_source parquet_file "
            "read_bytes split_member"),
        "._builtin": "BUILTIN_DATASETS cache_dir load_builtin",
        "._dataset": "NUMBER_LABELS PER_IMAGE_KEYS to_display",
        "._copyrule": ("COPY_SIDE NEAR_CORRELATION NEAR_MIN_SIDE PHASH_CANDIDATE_DISTANCE SHIFT_CORRELATION SHIFT_PX "
            "copy_views describe_near_pair featureless near_pairs near_rule_text"),
        "._hashing": "PHASH_BITS close_pairs file_hashes groups_from_pairs phash_bits pixel_digests pixel_hashes",
        "._neighbours": "EXACT_MAX nearest",
        "._images": "DEFAULT_MAX_PIXELS IMAGE_SUFFIXES is_hidden iter_files n_workers probe",
        "._rows": "CHUNK_ROWS ImageRows is_on_disk",
        "._slices": "check_slice_by slice_groups",
        "._shards": "WDS_LABEL_SUFFIXES",
        "._sources": ("PROJECT_FILE SOURCE_KINDS from_arrays infer_value_max labels_problem read_images "
            "read_images_for read_project_manifest"),
    },
    "trueclass.diagnostics": {
        "._explain": "explain_images resolve_method",
        "._stress": "robustness",
    },
    "trueclass.evaluation": {
        "._calibration": "MIN_TEMPERATURE_IMAGES calibrated fit_calibration uncalibrated",
        "._compare": "compare_answers names_for paired_test",
        "._diagnosis": "FEW_TEST_IMAGES STRONG_IMBALANCE data_warnings stability_summary training_verdict",
        "._evaluation": "prediction_rows",
        "._groups": "shift_report slice_report",
        "._render": "set_renderers",
    },
    "trueclass.models": {
        "._backend": "fit_wide_logreg",
        "._choice": "AUTO FINETUNE PLAIN_SHARE choose_model is_photograph model_for_params plain_background_share",
        "._estimator": "DEFAULT_MODEL ImageClassifier NotFittedError",
        "._fingerprints": "Fingerprints input_stats unlike_training",
        "._io": "load_fingerprints",
        "._onnx": "INPUT OUTPUTS export_onnx quantize_onnx read_for_onnx",
        "._torch": "MIN_VAL_IMAGES RECIPES",
    },
    "trueclass.report": {
        "._card": "AUDIT_ARRAYS CARD_HTML CARD_JSON EVAL_ARRAYS render_template save_arrays save_audit_thumbnails",
        "._plots": "figure",
        "._export_text": "format_int8 format_parity int8_verdict",
        "._plain": "format_label_issues_plain format_review_plain",
        "._audit_text": "colour_sentences format_audit format_audit_counts format_label_issues label_issue_words",
        "._text": "failed_steps format_run_summary format_seconds format_verdict warning_sentences",
    },
    "trueclass.training": {
        "._batches": "DiskNCHW as_tensor fits_on_device subset_rows",
        "._budget": "LADDER budgeted_params measure parse_duration plan",
        "._checkpoint": "checkpoint_meta save_tensors",
        "._device": "cpu_name resolve_device",
        "._trainer": "BN_IMAGES prep_input",
    },
}


def face(package: str) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package`` for its entry of :data:`FACES` (a module
    relative to the package -> the names it gives, separated by spaces). A name is read
    from its module each time, not kept, so a patch of the module's attribute holds."""
    names = {name: module for module, listed in FACES[package].items() for name in listed.split()}

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(names[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def face_names(package: str) -> list[str]:
    """Every name of ``package``'s face, sorted (for its ``__all__``)."""
    return sorted(name for listed in FACES[package].values() for name in listed.split())
