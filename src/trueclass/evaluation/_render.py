"""How an evaluation shows itself as text and HTML: set by the report package, which
renders (it imports evaluation, never the other way round)."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["set_renderers", "render_text", "render_html"]

#: How an Evaluation shows itself: "text" (print) and "html" (Jupyter), each a function of
#: its ``to_dict()``. Rendering is the report package's (it imports this module, never the
#: other way round) and it sets them when it is imported; ``import trueclass`` brings it.
#: Without them an Evaluation prints its headline.
_RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {}


def render_text(metrics: dict[str, Any], fallback: str) -> str:
    """``metrics`` as the report package renders them, or ``fallback`` without it."""
    render = _RENDERERS.get("text")
    return render(metrics) if render is not None else fallback


def render_html(metrics: dict[str, Any], fallback: str) -> str:
    """``metrics`` as HTML, as the report package renders them, or ``fallback`` (text,
    escaped into a <pre>) without it."""
    render = _RENDERERS.get("html")
    if render is not None:
        return render(metrics)
    import html

    return f"<pre>{html.escape(fallback)}</pre>"


def set_renderers(*, text: Callable[[dict[str, Any]], str], html: Callable[[dict[str, Any]], str]) -> None:
    """Show every Evaluation with these: ``text(metrics)`` and ``html(metrics)``."""
    _RENDERERS.update(text=text, html=html)
