"""Stress tests of a trained model: accuracy on the test images under perturbations at
several severities, which class breaks first, the images that flipped from right to
wrong, transforms that turn one class into another, and how the model answers images
that belong to no class.

Perturbations work on whole batches with scipy.ndimage (no per-image Python loop) in
display units (0-255) and are handed to the model in its own units.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._errors import TrueclassError
from .._numerics import keeps_torch_numerics

__all__ = ["PERTURBATIONS", "perturb", "perturbation_curves", "stress_test", "ood_check", "unknown_images", "with_unknown_class",
           "UNKNOWN_CLASS"]

#: Severities per perturbation. occlusion: side of a square patch as a share of the image
#: side; brightness: shift as a share of the full range; contrast: factor around the
#: image's mean; noise: Gaussian sd as a share of the range; blur: Gaussian sigma in
#: pixels of a 28-pixel image (scaled with the image); rotation: degrees (half the images
#: each way); translation: shift as a share of the side (in the four directions); scale:
#: zoom factor about the centre; hflip / vflip: mirrored.
PERTURBATIONS: dict[str, list[float]] = {
    "occlusion": [0.1, 0.2, 0.3, 0.4],
    "brightness": [-0.3, -0.15, 0.15, 0.3],
    "contrast": [0.25, 0.5, 0.75, 1.5],
    "noise": [0.02, 0.05, 0.1, 0.2],
    "blur": [0.5, 1.0, 1.5, 2.0],
    "rotation": [5, 10, 20, 30],
    "translation": [0.05, 0.1, 0.15, 0.2],
    "scale": [0.8, 0.9, 1.1, 1.2],
    "hflip": [1],
    "vflip": [1],
}
#: A flip or rotation that changes the predicted class of at least this share of the
#: test images is flagged as label-changing for this data.
LABEL_CHANGING_SHARE = 0.25
#: The name of the extra class --unknown-class trains.
UNKNOWN_CLASS = "none of these"
EXAMPLES_PER_PERTURBATION = 6

Progress = Callable[..., None]


def perturb(images: np.ndarray, name: str, severity: float, seed: int = 0) -> np.ndarray:
    """``images`` (N, H, W, C) float 0-255 under one perturbation; returns float 0-255."""
    from scipy import ndimage

    x = images.astype(np.float32, copy=True)
    n, h, w, _ = x.shape
    rng = np.random.default_rng(seed)
    if name == "occlusion":
        ph, pw = max(1, round(severity * h)), max(1, round(severity * w))
        ys = rng.integers(0, h - ph + 1, n)
        xs = rng.integers(0, w - pw + 1, n)
        fill = x.mean(axis=(1, 2), keepdims=True)
        rows = np.arange(h)[None, :, None]
        cols = np.arange(w)[None, None, :]
        mask = ((rows >= ys[:, None, None]) & (rows < ys[:, None, None] + ph)
                & (cols >= xs[:, None, None]) & (cols < xs[:, None, None] + pw))[..., None]
        x = np.where(mask, fill, x)
    elif name == "brightness":
        x = x + 255.0 * severity
    elif name == "contrast":
        m = x.mean(axis=(1, 2, 3), keepdims=True)
        x = m + (x - m) * severity
    elif name == "noise":
        x = x + rng.normal(0, 255.0 * severity, x.shape).astype(np.float32)
    elif name == "blur":
        s = severity * min(h, w) / 28.0
        x = ndimage.gaussian_filter(x, sigma=(0, s, s, 0), mode="nearest")
    elif name == "rotation":
        half = n // 2
        x[:half] = ndimage.rotate(x[:half], severity, axes=(2, 1), reshape=False, order=1, mode="nearest")
        x[half:] = ndimage.rotate(x[half:], -severity, axes=(2, 1), reshape=False, order=1, mode="nearest")
    elif name == "translation":
        dy, dx = severity * h, severity * w
        for k, (sy, sx) in enumerate(((dy, 0), (-dy, 0), (0, dx), (0, -dx))):
            sel = slice(k, n, 4)
            x[sel] = ndimage.shift(x[sel], (0, sy, sx, 0), order=1, mode="nearest")
    elif name == "scale":
        c = np.array([0, (h - 1) / 2, (w - 1) / 2, 0])
        mat = np.diag([1, 1 / severity, 1 / severity, 1])
        x = ndimage.affine_transform(x, mat, offset=c - mat @ c, order=1, mode="nearest")
    elif name == "hflip":
        x = x[:, :, ::-1]
    elif name == "vflip":
        x = x[:, ::-1]
    else:
        raise TrueclassError(f"Unknown perturbation {name!r}; choose from {', '.join(PERTURBATIONS)}.")
    return np.clip(x, 0, 255)


def _augment_uses(model: Any) -> set[str]:
    """Which flips and rotations the model was trained with (networks keep their
    augmentation, trained or loaded; pixel models have none)."""
    aug = getattr(getattr(model, "estimator_", None), "augment_", None)
    if aug is None:
        return set()
    return {name for name, on in (("hflip", aug.hflip), ("vflip", aug.vflip), ("rotation", aug.rotate)) if on}


@keeps_torch_numerics
def perturbation_curves(model: Any, test: Any, *, perturbations: dict[str, list[float]] | None = None,
                        max_images: int | None = None, seed: int = 0, on_progress: Progress | None = None
                        ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run every perturbation on ``test`` (a Dataset in the model's classes), whatever
    images it holds (:func:`stress_test` first leaves out those the model trained on).

    Returns (stress.json data, examples) where each example holds the perturbed image
    (uint8) of a test image that flipped from right to wrong at the strongest severity.
    """
    from ..evaluation import wilson_interval

    if test.multilabel:
        raise TrueclassError("Stress tests are for single-label models; this data has several labels per image.")
    perts = perturbations or PERTURBATIONS
    idx = np.arange(len(test))
    if max_images is not None and len(test) > max_images:
        idx = np.sort(np.random.default_rng(seed).choice(len(test), max_images, replace=False))
    sub = test.subset(idx)
    y = model.label_indices(sub)
    # the 0-255 view the perturbations work in, unrounded: the clean images come back exact
    disp = sub.images.astype(np.float32) * np.float32(255.0 / sub.value_max)
    to_model = sub.value_max / 255.0
    classes = [str(c) for c in model.classes_]

    def predict(x: np.ndarray) -> np.ndarray:
        return model.predict_proba(x * to_model)

    # the clean images as they are (their 0-255 display rounds the digits' 0-16, which moved
    # the clean accuracy off the run's own on the same images)
    clean_probs = model.predict_proba(sub.images)
    clean_pred = clean_probs.argmax(1)
    clean_right = clean_pred == y
    clean_acc = float(clean_right.mean())
    per_class_clean = {c: float(clean_right[y == k].mean()) for k, c in enumerate(classes) if (y == k).any()}
    total = sum(len(v) for v in perts.values())
    done = 0
    acc: dict[str, dict[str, float]] = {}
    ci: dict[str, dict[str, list[float]]] = {}
    per_class: dict[str, dict[str, float]] = {}
    changed: dict[str, dict[str, Any]] = {}
    examples: list[dict[str, Any]] = []
    used = _augment_uses(model)
    for name, sevs in perts.items():
        acc[name], ci[name] = {}, {}
        for s_i, sev in enumerate(sevs):
            x = perturb(disp, name, sev, seed=seed + s_i)
            pred = predict(x).argmax(1)
            right = pred == y
            k = int(right.sum())
            acc[name][f"{sev:g}"] = k / len(y)
            ci[name][f"{sev:g}"] = list(wilson_interval(k, len(y)))
            done += 1
            if on_progress:
                on_progress("stress tests", done, total)
            if s_i == len(sevs) - 1:  # the strongest severity: who breaks, and how
                per_class[name] = {c: float(right[y == kk].mean()) - per_class_clean[c]
                                   for kk, c in enumerate(classes) if c in per_class_clean}
                flipped = np.flatnonzero(clean_right & ~right)
                for i in flipped[:EXAMPLES_PER_PERTURBATION]:
                    examples.append({"perturbation": name, "severity": sev, "id": str(sub.ids[i]),
                                     "true": classes[y[i]], "pred": classes[pred[i]],
                                     "image": np.clip(x[i], 0, 255).astype(np.uint8)})
                if name in ("hflip", "vflip", "rotation"):
                    moved = pred != clean_pred
                    share = float(moved.mean())
                    pairs: dict[str, int] = {}
                    for a, b in zip(clean_pred[moved], pred[moved]):
                        key = f"{classes[a]} -> {classes[b]}"
                        pairs[key] = pairs.get(key, 0) + 1
                    top = sorted(pairs.items(), key=lambda kv: -kv[1])[:5]
                    changed[name] = {"severity": sev, "share_changed": share, "most_common": top,
                                     "used_in_training": name in used}
    label_changing = [n for n, c in changed.items() if c["share_changed"] >= LABEL_CHANGING_SHARE]
    breaks_first = {}
    for name, drops in per_class.items():
        if drops:
            worst = min(drops, key=drops.get)
            if drops[worst] < 0:  # a class that never loses accuracy does not break
                # with how many of its images: a drop of 100 points on one image is one image
                breaks_first[name] = {"class": worst, "drop": drops[worst],
                                      "n": int(np.sum(y == classes.index(worst)))}
    data = {
        "n_images": int(len(y)),
        "images_from": "every test image" if len(idx) == len(test) else f"{len(idx):,} test images drawn at random",
        "clean_accuracy": clean_acc,
        "severities": {k: list(v) for k, v in perts.items()},
        "accuracy": acc,
        "accuracy_ci": ci,
        "per_class": per_class,
        "breaks_first": breaks_first,
        "class_changes": changed,
        "label_changing": label_changing,
        "label_changing_rule": (f"a flip or rotation that changes the predicted class of at least "
                                f"{LABEL_CHANGING_SHARE:.0%} of the test images"),
        "augmentations_used_in_training": sorted(used),
    }
    return data, examples


# -- images of no class --------------------------------------------------------------------------
def _other_dataset(shape: tuple[int, int, int], own_source: str | None) -> tuple[str, np.ndarray] | None:
    """Images from another data set, resized to ``shape``: digits for anything but the
    digits, Fashion-MNIST for the digits when its files are on this machine (it is never
    downloaded for this)."""
    from PIL import Image

    from ..data import to_display

    from ..data import load_builtin

    h, w, c = shape
    name = "digits" if own_source != "digits" else "fashion-mnist"
    try:  # never downloads: a run touches the network only for a data set the user asked for
        ds = load_builtin(name, download=False)
    except TrueclassError:  # Fashion-MNIST is not on this machine: this row is left out
        return None
    imgs = to_display(ds.images[:500], ds.value_max)
    out = []
    for img in imgs:
        pil = Image.fromarray(img[..., 0]).resize((w, h), Image.Resampling.BILINEAR)
        pil = pil.convert("RGB" if c == 3 else "L")
        a = np.asarray(pil)
        out.append(a if a.ndim == 3 else a[..., None])
    return name, np.stack(out)


def unknown_images(test_like: np.ndarray, n: int, seed: int, own_source: str | None = None,
                   include_other: bool = True) -> dict[str, np.ndarray]:
    """Images that belong to no class, uint8 like ``test_like`` (N, H, W, C) 0-255:
    uniform noise, blank pages (white, black, grey), inverted real images, and images
    of another data set."""
    rng = np.random.default_rng(seed)
    h, w, c = test_like.shape[1:]
    sets = {
        "noise": rng.integers(0, 256, (n, h, w, c), dtype=np.uint8),
        "blank": np.repeat(np.array([0, 128, 255], np.uint8), -(-n // 3))[:n, None, None, None]
        * np.ones((1, h, w, c), np.uint8),
        "inverted": 255 - test_like[rng.choice(len(test_like), n, replace=len(test_like) < n)],
    }
    if include_other:
        other = _other_dataset((h, w, c), own_source)
        if other is not None:
            name, imgs = other
            sets[f"other data set ({name})"] = imgs[rng.choice(len(imgs), min(n, len(imgs)), replace=False)]
    return sets


#: Training images whose embeddings stand for "what the model knows" in the distance score.
DISTANCE_REFERENCE = 2000


def embedding_distances(reference: np.ndarray, images: list[np.ndarray]) -> list[np.ndarray] | None:
    """For each array of uint8 images (N, H, W, C): 1 - the largest cosine similarity of
    an image's embedding to the ``reference`` images' (standardised by the reference's
    mean and spread), 0 for a copy of a reference image; None where the pretrained
    backbone cannot look at these images (not installed, or images under 16 pixels)."""
    from ..checks import EMBED_MIN_SIDE

    if min(reference.shape[1:3]) < EMBED_MIN_SIDE:
        return None
    try:
        from ..features import embedding_features

        ref = embedding_features(reference, 255)
        outs = [embedding_features(x, 255) for x in images]
    except (ImportError, TrueclassError):
        return None
    mu, sd = ref.mean(0), ref.std(0) + 1e-3

    def unit(e: np.ndarray) -> np.ndarray:
        z = (e - mu) / sd
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-9)

    r = unit(ref)
    return [1.0 - np.max(unit(e) @ r.T, axis=1) if len(e) else np.zeros(0) for e in outs]


def _auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """How well a score separates positives (higher) from negatives: the area under the ROC curve."""
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.zeros(len(negatives)), np.ones(len(positives))]
    return float(roc_auc_score(y, np.r_[negatives, positives]))


#: What the stress section says of its shortcut check when captum is not installed.
SHORTCUTS_SKIPPED = "the shortcut check needs saliency maps: the optional 'explain' extra, pip install 'trueclass[explain]'"


def stress_test(model: Any, data: Any, *, seed: int = 0, max_images: int | None = None,
                threshold: float | None = None, perturbations: dict[str, list[float]] | None = None,
                on_progress: Progress | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What ``trueclass stress MODEL SOURCE`` computes, in Python, with the same numbers: the
    model (a saved one: ``tc.load_model(folder)``) under perturbations, on images of no class and covered at
    the border, on the images of ``data`` it never saw (a Dataset, a source or a pair
    (X_test, y_test), chosen as ``tc.evaluate`` chooses them). ``threshold``: the review
    threshold the images of no class are judged against (default: the model's own).
    Returns (the stress.json data, the examples that flipped)."""
    from ..evaluation import unseen_part

    model, test, unseen = unseen_part(model, data, call="stress_test")
    if threshold is None:
        threshold = getattr(model, "review_threshold_", None)
        threshold = (getattr(model, "metadata_", None) or {}).get("threshold") if threshold is None else threshold
    out, examples = robustness(model, test, threshold=threshold, seed=seed, max_images=max_images,
                               perturbations=perturbations, on_progress=on_progress)
    if unseen is not None:
        out["evaluated_on"] = unseen.note
    return out, examples


def robustness(model: Any, test: Any, *, threshold: float | None, seed: int = 0, train: Any = None,
               max_images: int | None = None, perturbations: dict[str, list[float]] | None = None,
               on_progress: Progress | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The stress section of a run (``trueclass train --stress`` and ``trueclass stress``):
    the perturbations (:func:`perturbation_curves`), images of no class (:func:`ood_check`, against
    the ``train`` images when given) and the shortcut check, which needs the 'explain'
    extra and is noted as not checked without it. (data, examples)."""
    from .._extras import has_extra
    from . import _explain

    # the images in one order whatever the door (a run's test part comes in split order, a
    # saved model's unseen images in source order): occlusions, noise and the images of no
    # class are drawn image by image, so the same images and seed give the same numbers
    test = test.subset(np.argsort(np.asarray(test.ids).astype(str), kind="stable"))
    data, examples = perturbation_curves(model, test, perturbations=perturbations, max_images=max_images, seed=seed,
                                         on_progress=on_progress)
    data["ood"] = ood_check(model, test, threshold=threshold, seed=seed, reference=train)
    if has_extra("explain"):
        data["shortcuts"] = _explain.shortcut_check(model, train, test, seed=seed, on_progress=on_progress)
    else:
        data["shortcuts"], data["shortcuts_skipped"] = None, SHORTCUTS_SKIPPED
    return data, examples


def ood_check(model: Any, test: Any, *, threshold: float | None, n: int = 200, seed: int = 0,
              reference: Any = None) -> dict[str, Any]:
    """How the model answers images of no class: its confidence on each kind, how often
    it would answer with one of the real classes confidently (at or above the review
    threshold; a model trained with unknown_class=True answering "none of these" is right), and the confidence
    threshold that would send 95% of them to a human, with what that costs on real test
    images. With ``reference`` (the training images), also a score beside the confidence:
    the distance of each image's pretrained embedding to the nearest training image's,
    and how well each of the two tells images of no class from real test images."""
    from ..data import to_display

    real = to_display(test.images, test.value_max)
    to_model = test.value_max / 255.0
    real_conf = model.predict_proba(real.astype(np.float32) * to_model).max(1)
    thr = 0.5 if threshold is None else float(threshold)
    sets = unknown_images(real, n, seed, str(test.provenance.get("source")))
    classes = [str(c) for c in model.classes_]
    unknown = classes.index(UNKNOWN_CLASS) if UNKNOWN_CLASS in classes else None
    rows = {}
    all_conf, all_answered = [], []
    for name, imgs in sets.items():
        p = model.predict_proba(imgs.astype(np.float32) * to_model)
        conf = p.max(1)
        # a confident "none of these" is the right answer, not a confident mistake
        answered = (conf >= thr) & (p.argmax(1) != unknown if unknown is not None else True)
        all_conf.append(conf)
        all_answered.append(answered)
        rows[name] = {"n": int(len(conf)), "mean_confidence": float(conf.mean()),
                      "confidently_answered": float(answered.mean())}
        if unknown is not None:
            rows[name]["answered_none_of_these"] = float((p.argmax(1) == unknown).mean())
    conf = np.concatenate(all_conf)
    t95 = float(np.quantile(conf, 0.95))
    out = {
        "threshold": thr,
        "kinds": rows,
        "confidently_answered": float(np.concatenate(all_answered).mean()),
        "has_unknown_class": unknown is not None,
        "threshold_for_95_percent": t95,
        "real_test_images_flagged_at_that_threshold": float((real_conf < t95).mean()),
    }
    if reference is not None and len(reference):
        ref = to_display(reference.images, reference.value_max)
        ref = ref[np.random.default_rng(seed).permutation(len(ref))[:DISTANCE_REFERENCE]]
        dists = embedding_distances(ref, [real] + list(sets.values()))
        if dists is not None:
            real_d, kind_d = dists[0], dists[1:]
            for name, d in zip(sets, kind_d):
                rows[name]["mean_distance"] = float(d.mean())
            unknown_d = np.concatenate(kind_d)
            d95 = float(np.quantile(unknown_d, 0.05))  # at or above this distance: 95% of them
            out["distance"] = {
                "score": "1 - cosine similarity of the pretrained embedding to the nearest of "
                         f"{len(ref):,} training images'",
                "real_test_mean": float(real_d.mean()),
                "auroc": _auroc(real_d, unknown_d),
                "confidence_auroc": _auroc(1 - real_conf, 1 - conf),
                "threshold_for_95_percent": d95,
                "real_test_images_flagged_at_that_threshold": float((real_d >= d95).mean()),
            }
    return out


def with_unknown_class(ds: Any, seed: int) -> Any:
    """``ds`` plus a class UNKNOWN_CLASS of images that belong to none of its classes
    (noise, blank pages, inverted images, another data set), about one class's worth,
    so the model learns to answer "none of these" instead of guessing."""
    from ..data import PER_IMAGE_KEYS, Dataset, to_display

    if ds.multilabel:
        raise TrueclassError("unknown_class=True is for single-label data; with several labels per image, an image "
                             "with no label already means none of these.")
    if UNKNOWN_CLASS in ds.classes:
        raise TrueclassError(f"The data already has a class named {UNKNOWN_CLASS!r}.")
    per_kind = max(10, round(len(ds) / ds.n_classes / 4))
    disp = to_display(ds.images, ds.value_max)
    sets = unknown_images(disp, per_kind, seed, str(ds.provenance.get("source")))
    imgs = np.concatenate(list(sets.values()))
    ids = [f"unknown/{kind}/{i}" for kind, arr in sets.items() for i in range(len(arr))]
    extra = np.round(imgs.astype(np.float32) * (ds.value_max / 255.0)).astype(np.uint8)
    pre = None
    if ds.predefined_split is not None:  # the new images share the source's split in its proportions
        parts, counts = np.unique(ds.predefined_split, return_counts=True)
        pre = np.concatenate([ds.predefined_split,
                              np.random.default_rng(seed).choice(parts, len(extra), p=counts / counts.sum())])
    prov = {k: v for k, v in ds.provenance.items() if k not in PER_IMAGE_KEYS and k != "hash"}
    prov["unknown_class"] = {"name": UNKNOWN_CLASS, "n_images": int(len(extra)),
                             "kinds": {k: int(len(v)) for k, v in sets.items()}}
    return Dataset(images=np.concatenate([ds.images, extra]),
                   labels=np.concatenate([ds.labels, np.full(len(extra), ds.n_classes, dtype=ds.labels.dtype)]),
                   classes=tuple(ds.classes) + (UNKNOWN_CLASS,), ids=np.concatenate([ds.ids, np.array(ids)]),
                   value_max=ds.value_max, provenance=prov, predefined_split=pre)
