"""The evidence card: one self-contained HTML page rendered from metrics.json."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ._text import format_percent, format_report_card

__all__ = ["render_card", "png_base64"]


def png_base64(image_or_figure: Any) -> str:
    """A PIL image or a matplotlib Figure as base64 PNG text, for inlining."""
    buf = io.BytesIO()
    if hasattr(image_or_figure, "savefig"):
        image_or_figure.savefig(buf, format="png", dpi=100)
    else:
        image_or_figure.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render_card(
    metrics: dict[str, Any],
    *,
    confusion_png: str,
    misread_thumbs: list[dict[str, Any]],
    run_dir: str | Path | None = None,
) -> str:
    """The card's HTML. Renders ``metrics`` only; computes nothing."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("trueclass", "report/templates"), autoescape=select_autoescape(["j2", "html"]))
    template = env.get_template("card.html.j2")
    return template.render(
        title=f"{metrics.get('model', 'model')} on {metrics.get('dataset', {}).get('source', 'data')}",
        model=metrics.get("model"),
        seed=metrics.get("seed"),
        n_train=metrics.get("n_train"),
        n_val=metrics.get("n_val"),
        m=metrics,
        report_card=format_report_card(metrics, str(run_dir) if run_dir else None),
        confusion_png=confusion_png,
        misread=misread_thumbs,
        pct=format_percent,
        version=__version__,
        np=np,
    )
