"""How far the model's confidence can be trusted: pure functions over ``(y_true, probs)``.

Reliability bins and the expected calibration error (ECE), temperature scaling fitted on
validation predictions (never test ones) and kept with the model as its calibration
record, and the coverage-accuracy curve: the accuracy on the images the model is surest
of, as more of the others go to a human.

scikit-learn's ``calibration_curve`` is binary only and has no ECE or temperature
scaling, so the multi-class versions are written here (a few lines of numpy each).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["reliability", "expected_calibration_error", "fit_temperature", "apply_temperature",
           "coverage_curve", "calibration_report", "fit_calibration", "calibrated", "uncalibrated", "N_BINS"]

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


#: The prior on log T of the temperature fit: normal, centred on T = 1 (the raw scores),
#: with this standard deviation. It matters only with few validation mistakes, where the
#: likelihood alone keeps rising as T falls toward 0 (every validation image right) or
#: leans on one or two images: on the default cnn on the digits (144 validation images,
#: 0 to 3 of them wrong, 8 seeds) the likelihood alone gave T from 0.05 to 0.45 and a test
#: log-loss up to 0.19; with the prior T was 0.28 to 0.47 and the test log-loss at most
#: 0.04, test ECE 0.002 to 0.011 (raw 0.11 to 0.12). With thousands of validation images
#: it changes T by well under 1%.
TEMPERATURE_PRIOR_SD = 1.0


def fit_temperature(y_val: np.ndarray, probs_val: np.ndarray, prior_sd: float | None = TEMPERATURE_PRIOR_SD) -> float:
    """The temperature that maximises the likelihood of the validation labels, times a
    normal prior on log T (``prior_sd``; None for the likelihood alone).

    A one-parameter fit (bounded to 0.05-20 on a log scale), so a few hundred validation
    images suffice; it changes confidence, never which class is predicted.
    """
    from scipy.optimize import minimize_scalar

    n = len(y_val)

    def loss(logt: float) -> float:
        prior = 0.0 if prior_sd is None else logt * logt / (2 * prior_sd * prior_sd)
        return n * _nll(y_val, apply_temperature(probs_val, float(np.exp(logt)))) + prior

    res = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4})
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


#: A temperature is fitted only on at least this many held-out images: on fewer (20
#: validation images, all right, once gave "divides the logits by 0.08") the fit shows
#: little but how little evidence there was.
MIN_TEMPERATURE_IMAGES = 50


def uncalibrated(reason: str) -> dict[str, Any]:
    """The calibration record of a model that answers its raw scores, and why."""
    return {"temperature": None, "fitted_on": None, "reason": reason}


def fit_calibration(y_val: np.ndarray, raw_val: np.ndarray, fitted_on: str) -> dict[str, Any]:
    """The calibration record a model keeps (``model.json``'s ``calibration``): the
    temperature fitted on held-out predictions ``raw_val`` (validation images, or
    out-of-fold predictions; never test images), or None with the reason when there is
    too little evidence to fit one."""
    y_val = np.asarray(y_val, dtype=np.int64)
    raw_val = np.asarray(raw_val, dtype=np.float64)
    n = len(y_val)
    n_wrong = int(np.sum(raw_val.argmax(1) != y_val)) if n else 0
    if n >= MIN_TEMPERATURE_IMAGES:
        return {"temperature": fit_temperature(y_val, raw_val), "fitted_on": fitted_on, "n_images": n,
                "n_wrong": n_wrong}
    if not n:
        return uncalibrated("the model had no validation images to fit a temperature on (the test images are never "
                            "used for it), so it answers its raw scores")
    return {**uncalibrated(
        f"the validation images ({n:,}) are too few to fit a temperature on: it takes at least "
        f"{MIN_TEMPERATURE_IMAGES} (the test images are never used for it), so the model answers its raw scores"),
        "n_images": n, "n_wrong": n_wrong}


def calibrated(raw: np.ndarray, record: dict[str, Any] | None) -> np.ndarray:
    """The probabilities a model with calibration ``record`` answers for raw scores."""
    t = (record or {}).get("temperature")
    return np.asarray(raw, dtype=np.float64) if not t else apply_temperature(raw, t)


def calibration_report(y_true: np.ndarray, raw: np.ndarray, record: dict[str, Any] | None) -> dict[str, Any]:
    """How honest the model's confidence is on the test images: reliability bins, ECE,
    log-loss and the coverage-accuracy curve of the probabilities it answers (its raw
    scores through the temperature of ``record``), and with a temperature, the raw
    scores' ECE, log-loss and bins beside them. Test labels only measure, never fit."""
    record = record or uncalibrated("no calibration was given")
    answered = calibrated(raw, record)
    out: dict[str, Any] = {
        "n_bins": N_BINS,
        "ece": expected_calibration_error(y_true, answered),
        "nll": _nll(y_true, answered),
        "bins": reliability(y_true, answered),
        "coverage": coverage_curve(y_true, answered),
    }
    if record.get("temperature"):
        out["temperature"] = {
            "value": float(record["temperature"]),
            "fitted_on": record.get("fitted_on"),
            "ece_before": expected_calibration_error(y_true, raw),
            "ece_after": out["ece"],
            "nll_before": _nll(y_true, raw),
            "nll_after": out["nll"],
            "bins_before": reliability(y_true, raw),
        }
    else:
        out["temperature"] = {"value": None, "fitted_on": None, "reason": record.get("reason")}
    return out
