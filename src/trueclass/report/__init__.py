"""Rendering: text, plots and the evidence card. Nothing here computes a metric."""

from ._plots import captioned_image, plot_confusion_matrix, plot_misread
from ._text import format_report_card, format_skipped

__all__ = ["captioned_image", "format_report_card", "format_skipped", "plot_confusion_matrix", "plot_misread"]
