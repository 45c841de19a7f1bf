"""Where the model looked: saliency maps over images, and the shortcut check.

The maps come from Captum, PyTorch's own interpretability library, rather than our code:
- ``occlusion`` (captum.attr.Occlusion) for every model: it covers one patch of the image
  at a time with the image's own background and records how much the answer's
  log-probability falls. It needs nothing but predicted probabilities, so pixel models and
  the pretrained probe get it too; it costs about 50-65 predictions an image (an 8x8
  grid of patches).
- ``gradcam`` (captum.attr.LayerGradCam) for our networks: the gradient-weighted
  activations of the last convolution, one forward and one backward pass an image.
  Coarser (the last convolution of the cnn sees a 3x3 grid of a 28x28 image), much
  cheaper. ``auto`` picks it for networks and occlusion for the rest.
Captum comes with the optional 'explain' extra: without it a map asks for the extra in one
sentence, and a training run notes its explanations as skipped (run/why.py).

The shortcut check asks whether a class is recognised by the image's border rather than
its object: the share of each image's saliency that falls on the outer ring of the image,
less the share of the image's own content there (a digit 5 whose stroke touches the top
edge is looked at there for a good reason), per class, on training and test images;
flagged when one class leans on its border far more than the others; and the accuracy with
the border or the centre covered by the image's background.

On the digits with a 2x2 marker planted in the corner of every training image of "3"
(tests/checks/test_explain.py), a logistic regression puts +0.39 more of the saliency of
its "3" training images on the border than their content (the median class: -0.12), and
+0.33 for "5", the class it now tells from "3" by the missing marker; it reads no test "3"
right. Without the marker the largest class excess is +0.04 (median -0.11).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._errors import TrueclassError
from .._extras import require
from .._numerics import keeps_torch_numerics

__all__ = ["explain", "saliency", "overlay", "border_mask", "border_shares", "content_shares", "shortcut_check", "explain_images",
           "METHODS", "FLAG_LIFT"]

METHODS = ("auto", "occlusion", "gradcam")
#: Occlusion patches per side of the image (an 8x8 grid, whatever its size).
GRID = 8
#: Images covered at a time (16 copies each are predicted in one call).
OCCLUSION_CHUNK = 32
#: The border is the outer ring of this share of each side (4 px of 28, 1 px of 8).
BORDER = 1 / 8
#: A class is flagged when its images' mean border excess (saliency share on the border
#: less content share there) exceeds the other classes' median by this much, and a
#: one-sided Mann-Whitney test against the other classes' images (Bonferroni over the
#: classes) says it is no accident at 1%. Judged on training images, where a shortcut is
#: learnt (on the test images when there are none).
FLAG_LIFT = 0.25
FLAG_P = 0.01
#: Images of each class whose saliency the shortcut check measures, per part.
PER_CLASS = 20
#: Test images scored with the border and the centre covered.
MASK_IMAGES = 2000


def _network(model: Any) -> Any | None:
    est = getattr(model, "estimator_", None)
    return est if getattr(est, "net_", None) is not None and hasattr(est, "mean_") else None


def resolve_method(model: Any, method: str = "auto") -> str:
    if method not in METHODS:
        raise TrueclassError(f"The saliency method must be one of {', '.join(METHODS)}; not {method!r}.")
    if method == "gradcam" and _network(model) is None:
        raise TrueclassError(f"Grad-CAM needs a network; model {getattr(model, 'model', '?')!r} is not one. "
                             "Use the occlusion method, which works for every model.")
    if method == "auto":
        return "gradcam" if _network(model) is not None else "occlusion"
    return method


def _display_float(images: np.ndarray, value_max: int) -> np.ndarray:
    """Images in 0..value_max as float32 in 0..255, unrounded: the model sees the same
    values as when it was scored (to_display's uint8 rounding would move a few answers)."""
    return np.asarray(images, dtype=np.float32) * np.float32(255.0 / value_max)


def _background(disp: np.ndarray) -> np.ndarray:
    """Each image's background: the median of its border ring, per channel (N, C)."""
    ring = border_mask(*disp.shape[1:3])
    return np.median(disp[:, ring, :], axis=1)


def _probs_fn(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The model's calibrated probabilities for images in display units (0-255)."""
    scale = float(getattr(model, "value_max_", 255)) / 255.0

    def probs(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_proba(x * scale), dtype=np.float64)

    return probs


def _occlusion(model: Any, disp: np.ndarray, targets: np.ndarray) -> np.ndarray:
    import torch
    from captum.attr import Occlusion

    probs = _probs_fn(model)
    h, w, c = disp.shape[1:]
    win = (max(1, round(h / (GRID - 2))), max(1, round(w / (GRID - 2))))
    stride = (max(1, (h - win[0]) // (GRID - 1)), max(1, (w - win[1]) // (GRID - 1)))
    occ = Occlusion(lambda t: torch.from_numpy(_log_odds(probs(t.numpy()))))
    out = []
    for s in range(0, len(disp), OCCLUSION_CHUNK):  # each call predicts 16 covered copies of the chunk
        part = np.ascontiguousarray(disp[s : s + OCCLUSION_CHUNK], dtype=np.float32)
        base = np.broadcast_to(_background(part)[:, None, None, :], part.shape).astype(np.float32)
        attr = occ.attribute(torch.from_numpy(part), sliding_window_shapes=(win[0], win[1], c),
                             strides=(stride[0], stride[1], c), baselines=torch.from_numpy(base),
                             target=torch.as_tensor(targets[s : s + OCCLUSION_CHUNK], dtype=torch.long),
                             perturbations_per_eval=16, show_progress=False)
        out.append(attr.sum(dim=-1).numpy())
    return np.concatenate(out)


def _log_odds(p: np.ndarray) -> np.ndarray:
    """log(p_j / sum of the other classes' p) for every class j. A confident answer's
    probability is 1.0 to the last bit whether or not a patch that matters is covered,
    but the others' sum still moves by orders of magnitude; it is summed directly (not
    as 1 - p_j, which is 0) up to 256 classes."""
    p = np.clip(p, 1e-300, None)
    k = p.shape[1]
    if k <= 256:
        others = p @ (1.0 - np.eye(k))
    else:
        others = np.clip(p.sum(axis=1, keepdims=True) - p, 1e-300, None)
    return np.log(p) - np.log(others)


def _last_conv(net: Any) -> Any:
    import torch.nn as nn

    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise TrueclassError("Grad-CAM needs a network with convolutions; use the occlusion method.")
    return convs[-1]


def _gradcam(model: Any, disp: np.ndarray, targets: np.ndarray) -> np.ndarray:
    import torch
    from captum.attr import LayerAttribution, LayerGradCam

    from ..training import prep_input

    est = _network(model)
    rt = est.runtime("fp32")  # the model's own device, gradients in full precision
    net = est.device_net(rt).eval()
    mean, std = rt.channel_stats(est.mean_), rt.channel_stats(est.std_)
    x = torch.from_numpy(np.ascontiguousarray(disp.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0)

    def forward(t):
        return net((prep_input(t, est.expand_, est.resize_) - mean) / std)

    cam = LayerGradCam(forward, _last_conv(net))
    out = []
    with torch.enable_grad():
        for s in range(0, len(x), 64):
            a = cam.attribute(rt.to_device(x[s : s + 64]), relu_attributions=True,
                              target=rt.tensor(targets[s : s + 64], dtype=torch.long))
            out.append(LayerAttribution.interpolate(a, tuple(disp.shape[1:3]), interpolate_mode="bilinear")
                       .detach()[:, 0].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(disp.shape[:3], np.float32)


def saliency(model: Any, images: np.ndarray, targets: np.ndarray | None = None, *, value_max: int = 255,
             method: str = "auto") -> tuple[np.ndarray, str]:
    """Saliency maps (N, H, W), non-negative, for ``images`` (N, H, W, C in 0..value_max)
    towards ``targets`` (class indices; the predicted class when None); and the method
    used. High values: the parts of the image that raised the answer's score."""
    method = resolve_method(model, method)
    if len(images) == 0:
        return np.zeros((0, *np.shape(images)[1:3]), np.float32), method
    disp = _display_float(images, value_max)
    if targets is None:
        targets = _probs_fn(model)(disp).argmax(axis=1)
    require("explain", "Saliency maps (where the model looked)")
    fn = _gradcam if method == "gradcam" else _occlusion
    maps = fn(model, disp, np.asarray(targets, dtype=np.int64))
    return np.clip(np.nan_to_num(maps), 0, None).astype(np.float32), method


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """An RGB uint8 picture: ``image`` (H, W, C uint8, 0-255) in grey under ``heat`` in
    colour (inferno: dark where the model did not look, yellow where it did)."""
    from matplotlib import colormaps

    grey = image.astype(np.float32).mean(axis=-1) / 255.0
    top = float(heat.max())
    h = heat / top if top > 0 else np.zeros_like(heat)
    colour = colormaps["inferno"](h)[..., :3]
    rgb = (1 - alpha * h[..., None]) * grey[..., None] + alpha * h[..., None] * colour
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def border_mask(h: int, w: int) -> np.ndarray:
    """True on the outer ring of BORDER of each side (at least one pixel)."""
    bh, bw = max(1, round(h * BORDER)), max(1, round(w * BORDER))
    m = np.ones((h, w), dtype=bool)
    m[bh : h - bh, bw : w - bw] = False
    return m


def border_shares(maps: np.ndarray) -> np.ndarray:
    """Per map, the share of its saliency on the border ring (NaN for an empty map)."""
    ring = border_mask(*maps.shape[1:3])
    total = maps.reshape(len(maps), -1).sum(axis=1)
    on_ring = maps[:, ring].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, on_ring / total, np.nan)


def content_shares(disp: np.ndarray) -> np.ndarray:
    """Per image, the share of its content (distance from its background, summed over
    channels) that lies on the border ring."""
    ring = border_mask(*disp.shape[1:3])
    ink = np.abs(disp - _background(disp)[:, None, None, :]).sum(axis=-1)
    total = ink.reshape(len(ink), -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, ink[:, ring].sum(axis=1) / total, 0.0)


def _covered(disp: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``disp`` with the pixels of ``where`` (H, W) set to each image's background."""
    out = disp.copy()
    out[:, where, :] = _background(disp)[:, None, :]
    return out


def _sample(labels: np.ndarray, n_classes: int, per_class: int, rng: np.random.Generator) -> np.ndarray:
    idx = [rng.permutation(np.flatnonzero(labels == k))[:per_class] for k in range(n_classes)]
    return np.sort(np.concatenate(idx)) if idx else np.zeros(0, np.int64)


@keeps_torch_numerics
def shortcut_check(model: Any, train: Any, test: Any, *, per_class: int | None = None, seed: int = 0,
                   method: str = "auto", on_progress: Any = None) -> dict[str, Any]:
    """Where each class's saliency falls (border ring against the centre) on training and
    test images, the classes that lean on their border far more than the others, and the
    accuracy of the test images (and of each class's training images) with the border or
    the centre covered by the image's background."""
    from scipy.stats import mannwhitneyu

    from ..evaluation import wilson_interval

    if test.multilabel:
        raise TrueclassError("The shortcut check is for single-label models; this data has several labels per image.")
    method = resolve_method(model, method)
    per_class = PER_CLASS if per_class is None else per_class
    classes = [str(c) for c in model.classes_]
    h, w = test.images.shape[1:3]
    ring = border_mask(h, w)
    probs = _probs_fn(model)
    parts: dict[str, Any] = {}
    for step, (name, ds) in enumerate((("training", train), ("test", test))):
        if ds is None or len(ds) == 0:
            continue
        if on_progress is not None:
            on_progress(f"shortcut check: saliency of {name} images", step, 2)
        y = model.label_indices(ds, name)
        # a generator of each part's own: the test images drawn are the same with or without
        # training images before them (trueclass stress has none, train --stress has them)
        pick = _sample(y, len(classes), per_class, np.random.default_rng([seed, step]))
        disp = _display_float(ds.images[pick], ds.value_max)
        maps, _ = saliency(model, disp, y[pick], value_max=255, method=method)
        shares = border_shares(maps)
        content = content_shares(disp)
        excess = shares - content
        yk = y[pick]
        per = {}
        for k, c in enumerate(classes):
            m = (yk == k) & np.isfinite(shares)
            if m.any():
                per[c] = {"border_share": float(shares[m].mean()), "content_share": float(content[m].mean()),
                          "excess": float(excess[m].mean()), "n": int(m.sum())}
        # the training images of each class read with their border covered
        right = probs(disp).argmax(1) == yk
        right_cov = probs(_covered(disp, ring)).argmax(1) == yk
        for k, c in enumerate(classes):
            if c in per:
                m = yk == k
                per[c] |= {"accuracy": float(right[m].mean()), "accuracy_border_covered": float(right_cov[m].mean())}
        flagged = []
        for k, c in enumerate(classes):
            if c not in per:
                continue
            others = [v["excess"] for o, v in per.items() if o != c]
            if not others:
                continue
            lift = per[c]["excess"] - float(np.median(others))
            mine = excess[(yk == k) & np.isfinite(excess)]
            rest = excess[(yk != k) & np.isfinite(excess)]
            p = float(mannwhitneyu(mine, rest, alternative="greater").pvalue) if len(mine) > 1 and len(rest) > 1 else 1.0
            per[c] |= {"lift": lift, "p_value": p}
            if lift >= FLAG_LIFT and p < FLAG_P / len(classes):
                flagged.append(c)
        parts[name] = {"n_images": int(len(pick)), "per_class": per, "flagged": flagged}
    # the test images with their border, or their centre, covered
    n = len(test)
    idx = (np.sort(np.random.default_rng([seed, 2]).choice(n, MASK_IMAGES, replace=False)) if n > MASK_IMAGES
           else np.arange(n))
    disp = _display_float(test.images[idx], test.value_max)
    y = model.label_indices(test.subset(idx) if len(idx) != n else test)
    masked = {}
    for name, x in (("as is", disp), ("border covered", _covered(disp, ring)), ("centre covered", _covered(disp, ~ring))):
        k = int((probs(x).argmax(1) == y).sum())
        masked[name] = {"accuracy": k / max(len(y), 1), "accuracy_ci": list(wilson_interval(k, len(y)))}
    judged = "training" if "training" in parts else "test"
    flagged = parts.get(judged, {}).get("flagged", [])
    return {
        "method": method,
        "border": f"the outer {max(1, round(h * BORDER))} px of each side ({ring.mean():.0%} of the image)",
        "border_area_share": float(ring.mean()),
        "parts": parts,
        "flagged": flagged,
        "judged_on": f"{judged} images",
        "rule": (f"a class whose {judged} images put on average at least {FLAG_LIFT:.0%} more of their saliency on "
                 "the border, beyond the share of their content there, than the median class (one-sided "
                 f"Mann-Whitney test against the other classes' images, p < {FLAG_P:g} / classes)"),
        "covered": {"n_images": int(len(y)), **masked},
    }


def explain_images(model: Any, images: np.ndarray, *, value_max: int = 255,
                   method: str = "auto") -> list[dict[str, Any]]:
    """Per image: the predicted class, its confidence, the saliency map, the share on the
    border and an overlay picture (RGB uint8)."""
    from ..data import to_display

    disp = _display_float(images, value_max)
    probs = _probs_fn(model)(disp)
    pred = probs.argmax(1)
    maps, used = saliency(model, disp, pred, value_max=255, method=method)
    disp = to_display(np.asarray(images), value_max)  # the pictures
    shares = border_shares(maps)
    classes = [str(c) for c in model.classes_]
    return [{"predicted": classes[int(p)], "confidence": float(pr[p]), "method": used,
             "border_share": None if not np.isfinite(s) else float(s), "map": m, "overlay": overlay(d, m)}
            for p, pr, m, s, d in zip(pred, probs, maps, shares, disp)]


@keeps_torch_numerics
def explain(model: Any, images: Any, *, method: str = "auto") -> list[dict[str, Any]]:
    """Where ``model`` (a fitted ImageClassifier, or the path of a run or model folder)
    looked on ``images``: a Dataset, an array (N, H, W[, C]) in the model's units, or
    image files. Per image: ``predicted``, ``confidence``, ``border_share``, ``map``
    (H, W) and ``overlay`` (an RGB picture to show, e.g. with plt.imshow)."""
    from pathlib import Path

    from ..data import Dataset

    if isinstance(model, (str, Path)):
        from ..models import load_model

        model = load_model(model)
    if isinstance(images, Dataset):
        return explain_images(model, images.images, value_max=images.value_max, method=method)
    if isinstance(images, (str, Path)) or (isinstance(images, (list, tuple)) and images
                                           and isinstance(images[0], (str, Path))):
        from ..data import read_images_for

        arr, _, bad = read_images_for(model.image_shape_,
                                      [str(p) for p in ([images] if isinstance(images, (str, Path)) else images)])
        if bad:
            raise TrueclassError(f"{bad[0].path!r} could not be read as an image: {bad[0].reason}.")
        return explain_images(model, arr, value_max=255, method=method)
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise TrueclassError(f"explain() takes images as an array (N, H, W) or (N, H, W, C); got shape {arr.shape}.")
    return explain_images(model, arr, value_max=int(getattr(model, "value_max_", 255)), method=method)
