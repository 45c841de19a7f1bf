"""How far the model's confidence can be trusted: pure functions over ``(y_true, probs)``.

Reliability bins and the expected calibration error (ECE), temperature scaling fitted on
validation predictions (never test ones), and the coverage-accuracy curve: the accuracy
on the images the model is surest of, as more of the others go to a human.

scikit-learn's ``calibration_curve`` is binary only and has no ECE or temperature
scaling, so the multi-class versions are written here (a few lines of numpy each).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["reliability", "expected_calibration_error", "fit_temperature", "apply_temperature",
           "coverage_curve", "calibration_report", "N_BINS"]

#: Equal-width confidence bins of the reliability diagram and the ECE.
N_BINS = 10
_EPS = 1e-12


def reliability(y_true: np.ndarray, probs: np.ndarray, n_bins: int = N_BINS) -> list[dict[str, Any]]:
    """Equal-width bins of top-1 confidence: for each, how many images, the mean
    confidence and the accuracy. Empty bins are kept (n=0, the two means None)."""
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # a confidence of exactly 1.0 belongs to the last bin
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        sel = which == b
        n = int(sel.sum())
        bins.append({
            "lo": float(edges[b]),
            "hi": float(edges[b + 1]),
            "n": n,
            "confidence": float(conf[sel].mean()) if n else None,
            "accuracy": float(right[sel].mean()) if n else None,
        })
    return bins


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, n_bins: int = N_BINS) -> float:
    """Sum over bins of (share of images) x |accuracy - mean confidence|."""
    n = len(y_true)
    if n == 0:
        return 0.0
    return float(sum(b["n"] / n * abs(b["accuracy"] - b["confidence"])
                     for b in reliability(y_true, probs, n_bins) if b["n"]))


def _nll(y_true: np.ndarray, probs: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y_true)), y_true], _EPS, 1.0))))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): the same as dividing the logits by T (log p differs from the
    logits by a per-row constant), so it works on any model's probabilities."""
    z = np.log(np.clip(probs, _EPS, 1.0)) / float(temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(y_val: np.ndarray, probs_val: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of validation labels.

    A one-parameter fit (bounded to 0.05-20 on a log scale), so a few hundred validation
    images suffice; it changes confidence, never which class is predicted.
    """
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda logt: _nll(y_val, apply_temperature(probs_val, float(np.exp(logt)))),
                          bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def coverage_curve(y_true: np.ndarray, probs: np.ndarray, points: int = 20) -> dict[str, list[float]]:
    """Accuracy on the ``coverage`` share of images the model is surest of.

    ``coverage`` runs from 1.0 (every image answered) down in equal steps; ``threshold``
    is the confidence of the least sure image still answered at that coverage.
    """
    n = len(y_true)
    conf = probs.max(axis=1)
    order = np.argsort(-conf, kind="stable")
    right = (probs.argmax(axis=1) == y_true)[order]
    cum = np.cumsum(right)
    cov, acc, thr = [], [], []
    for c in np.linspace(1.0, 1.0 / points, points):  # 100%, 95%, ... 5% for 20 points
        k = max(1, int(round(c * n)))
        cov.append(round(float(c), 4))
        acc.append(float(cum[k - 1] / k))
        thr.append(float(conf[order[k - 1]]))
    return {"coverage": cov, "accuracy": acc, "threshold": thr}


#: A temperature is fitted only on a validation part of at least this many images with
#: at least this many mistakes: with every validation image right, the likelihood keeps
#: rising as the temperature falls toward 0, so a fit there (20 images all right gave
#: 0.08) only shows how little evidence there was.
MIN_TEMPERATURE_IMAGES = 50
MIN_TEMPERATURE_MISTAKES = 2


def calibration_report(
    y_true: np.ndarray,
    probs: np.ndarray,
    val_true: np.ndarray | None = None,
    val_probs: np.ndarray | None = None,
    val_name: str = "validation split",
) -> dict[str, Any]:
    """Reliability bins and ECE of the test predictions, the temperature fitted on the
    validation predictions with the test ECE and NLL before and after, and the
    coverage-accuracy curve. Test labels are used only to measure, never to fit."""
    out: dict[str, Any] = {
        "n_bins": N_BINS,
        "ece": expected_calibration_error(y_true, probs),
        "nll": _nll(y_true, probs),
        "bins": reliability(y_true, probs),
        "coverage": coverage_curve(y_true, probs),
    }
    n_val = 0 if val_true is None or val_probs is None else len(val_true)
    n_wrong = 0 if not n_val else int(np.sum(np.asarray(val_probs).argmax(1) != np.asarray(val_true)))
    if n_val >= MIN_TEMPERATURE_IMAGES and n_wrong >= MIN_TEMPERATURE_MISTAKES:
        t = fit_temperature(val_true, val_probs)
        scaled = apply_temperature(probs, t)
        out["temperature"] = {
            "value": t,
            "fitted_on": val_name if "images" in val_name else f"{val_name} ({len(val_true):,} images)",
            "ece_before": out["ece"],
            "ece_after": expected_calibration_error(y_true, scaled),
            "nll_before": out["nll"],
            "nll_after": _nll(y_true, scaled),
            "bins_after": reliability(y_true, scaled),
        }
    else:
        if not n_val:
            reason = "no validation split to fit it on; the test set is never used for it"
        else:
            reason = (f"the validation split ({n_val:,} images, {n_wrong} wrong) is too small to fit it on: it takes "
                      f"at least {MIN_TEMPERATURE_IMAGES} images with at least {MIN_TEMPERATURE_MISTAKES} mistakes; "
                      "the test set is never used for it")
        out["temperature"] = {"value": None, "fitted_on": None, "reason": reason}
    return out
