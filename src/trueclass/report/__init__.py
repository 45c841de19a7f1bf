"""Rendering: text, plots and the evidence card. Nothing here computes a metric."""

from .._face import face, face_names
from ..evaluation import set_renderers
from ._card import build_card, render_summary_html
from ._plots import (captioned_image, plot_class_counts, plot_confusion_matrix, plot_coverage, plot_history,
                     plot_misread, plot_reliability, plot_stability, plot_stress)
from ._text import format_report_card, format_skipped, model_card

__all__ = ["build_card", "captioned_image", "format_report_card", "format_skipped", "model_card",
           "plot_class_counts", "plot_confusion_matrix", "plot_coverage", "plot_history", "plot_misread",
           "plot_reliability", "plot_stability", "plot_stress"]

set_renderers(text=format_report_card, html=render_summary_html)  # how an Evaluation shows itself


__getattr__ = face(__name__)

__all__ += [n for n in face_names(__name__) if n not in __all__]
