"""Rendering: text, plots and the evidence card. Nothing here computes a metric."""

from ..evaluation import set_renderers
from ._card import build_card, render_summary_html
from ._plots import (captioned_image, plot_class_counts, plot_confusion_matrix, plot_coverage, plot_history,
                     plot_misread, plot_reliability, plot_stability, plot_stress)
from ._text import format_report_card, format_skipped, model_card

__all__ = ["build_card", "captioned_image", "format_report_card", "format_skipped", "model_card",
           "plot_class_counts", "plot_confusion_matrix", "plot_coverage", "plot_history", "plot_misread",
           "plot_reliability", "plot_stability", "plot_stress"]

set_renderers(text=format_report_card, html=render_summary_html)  # how an Evaluation shows itself

#: What other trueclass packages use besides the names above, loaded on first use.
_FACE = {
    "AUDIT_ARRAYS": "._card",
    "CARD_HTML": "._card",
    "CARD_JSON": "._card",
    "EVAL_ARRAYS": "._card",
    "failed_steps": "._text",
    "figure": "._plots",
    "format_audit": "._text",
    "format_parity": "._text",
    "render_template": "._card",
    "save_arrays": "._card",
    "save_audit_thumbnails": "._card",
}


def __getattr__(name: str):
    if name in _FACE:  # read from its module each time (not kept here), so a patch of it holds
        import importlib

        return getattr(importlib.import_module(_FACE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ += sorted(_FACE)
