"""Plots of an Evaluation. Functions take ``ax=None`` and never call show() or savefig().

Colours come from viridis-family maps, readable with every common colour-vision
deficiency.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._errors import TrueclassError

__all__ = ["plot_confusion_matrix", "plot_misread", "plot_reliability", "plot_coverage", "plot_class_counts",
           "plot_history", "plot_stability", "plot_stress", "captioned_image", "figure", "show_image"]


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


def plot_misread(ev: Any, images: Any, *, n: int = 16, fig: Any = None, value_max: int | None = None):
    """The ``n`` most confident mistakes, each titled true -> predicted (confidence).

    ``images`` are the test images in the order of the evaluation: the test Dataset, or
    its images as an array ((N, H, W), (N, H, W, C) or flattened rows such as the
    lesson's ``X_test``). The white level comes from the Dataset, else ``value_max``,
    else the data (16 for pixels that never pass 16, as the digits). Returns the Figure.
    """
    from ..data import Dataset, array_to_images, infer_value_max, to_display

    if isinstance(images, Dataset):
        images, value_max = images.images, images.value_max
    else:
        raw = np.asarray(images)
        images = array_to_images(raw)
        if raw.dtype.kind == "f" and raw.size and float(raw.max()) <= 1.0:
            value_max = 255  # unit floats were scaled to 0-255 on the way in
        elif value_max is None:
            value_max = infer_value_max(images)
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


def _get(obj: Any, key: str) -> Any:
    """A value from an Evaluation (attribute) or from metrics.json data (key)."""
    return getattr(obj, key) if hasattr(obj, key) else obj[key]


def plot_reliability(ev: Any, ax: Any = None, *, raw: bool = False):
    """Reliability diagram: accuracy against mean confidence per confidence bin, with the
    diagonal of perfect calibration and the bars' image counts. Returns the Axes.

    The bins are of the probabilities the model answers (calibrated by its temperature
    when it has one); ``raw=True`` draws its raw scores' bins instead, where they differ."""
    cal = _get(ev, "calibration")
    ax = _new_ax(ax, (4.2, 4.0))
    temp = cal.get("temperature") or {}
    show_raw = raw and bool(temp.get("bins_before"))
    bins = temp["bins_before"] if show_raw else cal["bins"]
    width = bins[0]["hi"] - bins[0]["lo"]
    centres = [b["lo"] + width / 2 for b in bins if b["n"]]
    accs = [b["accuracy"] for b in bins if b["n"]]
    confs = [b["confidence"] for b in bins if b["n"]]
    ax.bar(centres, accs, width=width * 0.92, color="#3b75af", edgecolor="white", label="accuracy in bin")
    ax.plot([0, 1], [0, 1], ls="--", color="#555", lw=1, label="perfect calibration")
    ax.scatter(confs, accs, color="#e8871e", zorder=3, s=18, label="mean confidence")
    for c, a, b in zip(centres, accs, [b for b in bins if b["n"]]):
        ax.annotate(f"{b['n']:,}", (c, a), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    if show_raw:
        ax.set_title(f"Reliability of the raw scores (ECE {temp['ece_before']:.3f})")
    elif temp.get("value"):
        ax.set_title(f"Reliability, calibrated (ECE {cal['ece']:.3f})")
    else:
        ax.set_title(f"Reliability (ECE {cal['ece']:.3f})")
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    return ax


def plot_coverage(ev: Any, ax: Any = None, *, target: float | None = None):
    """Accuracy on the images the model is surest of, against the share it answers
    (the rest go to a human). Returns the Axes."""
    cov = _get(ev, "calibration")["coverage"]
    ax = _new_ax(ax, (4.2, 3.6))
    ax.plot(cov["coverage"], cov["accuracy"], marker="o", ms=3, color="#3b75af")
    if target is not None:
        ax.axhline(target, ls=":", color="#e8871e", label=f"target {target:.0%}")
        ax.legend(loc="lower left", fontsize=7, frameon=False)
    ax.set_xlim(1.02, min(cov["coverage"]) - 0.02)
    ax.set_xlabel("share answered by the model (the rest to a human)")
    ax.set_ylabel("accuracy on the answered images")
    ax.set_title("Coverage vs accuracy")
    return ax


def plot_class_counts(data: Any, ax: Any = None):
    """Images per class as horizontal bars, grouped by split: of a Dataset (all its
    images), a Split, a Run, or a ``counts_by_split`` dict (metrics.json's). Returns the Axes."""
    counts_by_split = _counts_by_split(data)
    splits = [s for s in ("all", "train", "val", "test") if counts_by_split.get(s)]
    classes = list(counts_by_split[splits[0]]) if splits else []
    ax = _new_ax(ax, (5.5, max(2.2, 0.32 * len(classes) * max(1, len(splits)) ** 0.5 + 1)))
    colours = {"all": "#3b75af", "train": "#3b75af", "val": "#9ecae1", "test": "#e8871e"}
    h = 0.8 / max(1, len(splits))
    y = np.arange(len(classes))
    for i, s in enumerate(splits):
        ax.barh(y + i * h - 0.4 + h / 2, [counts_by_split[s][c] for c in classes], height=h, color=colours[s], label=s)
    ax.set_yticks(y, classes if len(classes) <= 40 else [""] * len(classes))
    ax.invert_yaxis()
    ax.set_xlabel("images")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("Images per class and split")
    return ax


def _counts_by_split(data: Any) -> dict[str, dict[str, int]]:
    from ..data import Dataset, Split

    if isinstance(data, Dataset):
        return {"all": data.counts()}
    if isinstance(data, Split):
        return data.counts()
    metrics = getattr(data, "metrics", None)  # a Run
    if isinstance(metrics, dict):
        return metrics["dataset"]["counts_by_split"]
    if isinstance(data, dict):
        return data
    raise TrueclassError("plot_class_counts takes a Dataset (tc.load(...)), a Split, a Run or a counts_by_split "
                         f"dict; got {type(data).__name__}.")


def plot_history(history: Sequence[dict[str, Any]], ax: Any = None, *, metric: str = "loss"):
    """Training and validation ``metric`` ('loss' or 'accuracy') per epoch. Returns the Axes."""
    ax = _new_ax(ax, (4.2, 3.2))
    epochs = [int(h["epoch"]) for h in history]
    for key, label, colour in ((f"train_{'eval_' if metric == 'loss' else ''}{metric}", "training", "#3b75af"),
                               (f"val_{metric}", "validation", "#e8871e")):
        ys = [h.get(key) for h in history]
        if key == "train_eval_loss" and all(v in (None, "") for v in ys):
            ys = [h.get("train_loss") for h in history]
        pts = [(e, float(v)) for e, v in zip(epochs, ys) if v not in (None, "")]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, label=label, color=colour)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric.capitalize()} per epoch")
    ax.legend(fontsize=7, frameon=False)
    return ax


def plot_stability(stability: dict[str, Any], ax: Any = None):
    """Test accuracy of each re-split and re-trained repeat, with their mean. Returns the Axes."""
    ax = _new_ax(ax, (5.0, 1.9))
    accs = stability["accuracies"]
    ax.scatter(accs, np.zeros(len(accs)), s=40, color="#3b75af", zorder=3)
    for a, s in zip(accs, stability["seeds"]):
        ax.annotate(f"seed {s}", (a, 0), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=7)
    ax.axvline(stability["mean"], color="#e8871e", ls="--", label=f"mean {stability['mean']:.2%}")
    pad = max(0.005, (max(accs) - min(accs)) * 0.3)
    ax.set_xlim(min(accs) - pad, max(accs) + pad)
    ax.set_yticks([])
    ax.set_xlabel("test accuracy")
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    ax.set_title(f"{len(accs)} splits and trainings with different seeds")
    return ax


def plot_stress(robustness: dict[str, Any], fig: Any = None):
    """Accuracy against severity for each perturbation of a stress test (small
    multiples, the clean accuracy dashed). Returns the Figure."""
    acc = robustness["accuracy"]
    names = list(acc)
    cols = min(5, len(names))
    rows = int(np.ceil(len(names) / cols))
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(2.2 * cols, 2.0 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[len(names):]:
        ax.set_axis_off()
    for ax, name in zip(axes, names):
        sev = list(acc[name])
        ys = [acc[name][s] for s in sev]
        ax.axhline(robustness["clean_accuracy"], ls="--", color="#555", lw=1)
        if len(sev) == 1:
            ax.bar([0], ys, color="#e8871e", width=0.5)
            ax.set_xticks([0], [name])
        else:
            ax.plot(range(len(sev)), ys, marker="o", ms=3, color="#3b75af")
            ax.set_xticks(range(len(sev)), sev, fontsize=7)
        ax.set_ylim(0, 1.02)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    return fig


def show_image(image: Any, ax: Any = None, title: str | None = None, *, cmap: str = "gray_r",
               value_max: float | None = None):
    """One image on an Axes: the lesson's ``imshow(X_test[i].reshape(8, 8), cmap="gray_r")``
    in one call. Returns the Axes.

    ``image`` is a flattened row of a square image (64 values: 8x8, 784: 28x28), an
    (H, W) image, or an (H, W, C) one (C of 1, 3 or 4; (C, H, W) is turned round). Grey
    images use ``cmap`` (default "gray_r": dark ink on white, as the lesson's digits);
    colour images their own colours. ``value_max`` fixes white (16 for the digits);
    without it the image's own range is used.
    """
    if isinstance(image, (str, bytes)):
        raise TrueclassError(f"show_image takes the pixels of one image, such as X_test[0], not the text {image!r}.")
    arr = np.asarray(image)
    if arr.dtype.kind not in "biuf":
        raise TrueclassError(f"show_image takes the pixels of one image, such as X_test[0]; this holds {arr.dtype}.")
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]  # X_test[0:1]: a list of one row
    if arr.ndim == 1:
        side = int(round(np.sqrt(arr.size)))
        if arr.size == 0 or side * side != arr.size:
            raise TrueclassError(
                f"A row of {arr.size} values is not a square image (64 values make 8x8, 784 make 28x28): give one "
                "image such as X_test[0], or reshape it first with .reshape(HEIGHT, WIDTH)."
            )
        arr = arr.reshape(side, side)
    elif arr.ndim == 3:
        if arr.shape[-1] not in (1, 3, 4) and arr.shape[0] in (1, 3, 4):
            arr = np.moveaxis(arr, 0, -1)
        if arr.shape[-1] not in (1, 3, 4):
            raise TrueclassError(f"An image of shape {arr.shape} has neither 1, 3 nor 4 colour channels; give "
                                 "one image such as X_test[0].")
        if arr.shape[-1] == 1:
            arr = arr[..., 0]
    elif arr.ndim != 2:
        raise TrueclassError(f"show_image shows one image, such as X_test[0]; this array has shape {arr.shape} "
                             f"({'one number' if arr.ndim == 0 else 'several images: pick one with [i]'}).")
    ax = _new_ax(ax, (3, 3))
    if arr.ndim == 2:
        ax.imshow(arr, cmap=cmap, vmin=0 if value_max is not None else None, vmax=value_max,
                  interpolation="nearest")
    else:
        shown = arr.astype(np.float64) / (value_max or (255.0 if arr.max(initial=0) > 1 else 1.0))
        ax.imshow(np.clip(shown, 0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(str(title))
    return ax
