"""Plots of an Evaluation. Functions take ``ax=None`` and never call show() or savefig().

Colours come from viridis-family maps, readable with every common colour-vision
deficiency.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["plot_confusion_matrix", "plot_misread", "captioned_image", "figure"]


def figure(width: float, height: float):
    """A matplotlib Figure not tied to pyplot (no GUI, no global state): for files."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _new_ax(ax: Any, size: tuple[float, float]):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def plot_confusion_matrix(ev: Any, ax: Any = None, *, normalize: bool = False, cmap: str = "viridis"):
    """The confusion matrix (rows: true class, columns: predicted) as a heat map.

    ``normalize=True`` divides each row by its total, so each cell is the share of that
    true class read as the predicted one. Returns the Axes.
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    k = len(ev.classes)
    ax = _new_ax(ax, (max(4, 0.55 * k + 2), max(3.5, 0.5 * k + 1.5)))
    values = ev.confusion_normalized if normalize else ev.confusion_matrix
    disp = ConfusionMatrixDisplay(confusion_matrix=values, display_labels=list(ev.classes))
    disp.plot(
        ax=ax,
        cmap=cmap,
        colorbar=False,
        values_format=".2f" if normalize else "d",
        xticks_rotation="vertical" if k > 6 or max(map(len, ev.classes)) > 4 else "horizontal",
        include_values=k <= 30,
    )
    ax.set_title(
        f"Confusion matrix ({'share of each true class' if normalize else 'counts'}), "
        f"{ev.n_test:,} test images"
    )
    return ax


def plot_misread(ev: Any, images: np.ndarray, *, n: int = 16, fig: Any = None, value_max: int = 255):
    """The ``n`` most confident mistakes, each titled true -> predicted (confidence).

    ``images`` are the test images in the order of the evaluation (``dataset.images``).
    Returns the Figure.
    """
    from ..data._dataset import to_display

    rows = ev.misread[:n]
    cols = min(8, max(1, len(rows)))
    nrows = max(1, int(np.ceil(len(rows) / cols)))
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(1.6 * cols, 1.9 * nrows), layout="constrained")
    axes = fig.subplots(nrows, cols, squeeze=False)
    shown = to_display(images[[r["index"] for r in rows]], value_max) if rows else []
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, r, img in zip(axes.ravel(), rows, shown):
        if img.shape[-1] == 1:
            ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(img, interpolation="nearest")
        ax.set_title(f"{r['true']} → {r['pred']}\n{r['confidence']:.0%}", fontsize=8)
    if not rows:
        fig.suptitle("No test image was misread.")
    return fig


def captioned_image(image: np.ndarray, lines: Sequence[str], *, min_side: int = 128):
    """A PIL image: ``image`` (uint8 HWC, 0-255) upscaled with sharp pixels, caption below."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = image.shape[:2]
    scale = max(1, int(np.ceil(min_side / max(1, min(h, w)))))
    arr = image[..., 0] if image.shape[-1] == 1 else image
    big = Image.fromarray(arr).convert("RGB").resize((w * scale, h * scale), Image.Resampling.NEAREST)
    font = ImageFont.load_default(size=13)
    line_h = 17
    width = max(big.width, 8 + max(int(font.getlength(t)) for t in lines) if lines else big.width)
    canvas = Image.new("RGB", (width, big.height + line_h * len(lines) + 8), "white")
    canvas.paste(big, ((width - big.width) // 2, 0))
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(lines):
        draw.text((4, big.height + 4 + i * line_h), text, fill="black", font=font)
    return canvas
