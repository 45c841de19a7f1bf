"""The Evaluation: every number about a model's test predictions, computed once.

The card, the command line and the notebook only render it; none of them recompute a
metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._errors import TrueclassError
from . import _metrics as m
from ._render import render_html, render_text
from .._numerics import keeps_torch_numerics

__all__ = ["Evaluation", "evaluate", "evaluate_predictions", "prediction_rows"]

@dataclass(frozen=True, eq=False)
class Evaluation:
    """Held-out test predictions and every metric computed from them.

    ``y_true`` are class indices into ``classes``; ``probs`` is (N, K); ``ids`` name the
    test images. Scalars are plain floats; ``to_dict()`` is ``metrics.json``.
    """

    classes: tuple[str, ...]
    y_true: np.ndarray
    probs: np.ndarray
    ids: np.ndarray
    accuracy: float
    accuracy_ci: tuple[float, float]
    n_test: int
    n_wrong: int
    balanced_accuracy: float
    top_k_accuracy: dict[str, float]
    per_class: dict[str, dict[str, Any]]
    macro_f1: float
    weighted_f1: float
    weakest_class: str | None
    confusion_matrix: np.ndarray
    confusion_normalized: np.ndarray
    most_confused: list[dict[str, Any]]
    misread: list[dict[str, Any]]
    baselines: dict[str, Any]
    flagged: dict[str, Any]
    threshold_source: str
    calibration: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    # -- derived views ---------------------------------------------------------------------
    @property
    def y_pred(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return self.probs.max(axis=1)

    @property
    def is_flagged(self) -> np.ndarray:
        return self.confidence < self.flagged["threshold"]

    def to_dict(self) -> dict[str, Any]:
        """The metrics as JSON-ready data (the keys of ``metrics.json``)."""
        base = self.baselines
        return {
            "accuracy": self.accuracy,
            "accuracy_ci": list(self.accuracy_ci),
            "n_test": self.n_test,
            "n_wrong": self.n_wrong,
            "balanced_accuracy": self.balanced_accuracy,
            "top_k_accuracy": dict(self.top_k_accuracy),
            "macro_f1": self.macro_f1,
            "weighted_f1": self.weighted_f1,
            "per_class": self.per_class,
            "weakest_class": self.weakest_class,
            "confusion_matrix": self.confusion_matrix.tolist(),
            "confusion_matrix_normalized": np.round(self.confusion_normalized, 6).tolist(),
            "classes": list(self.classes),
            "most_confused": list(self.most_confused),
            "baselines": {**base, "majority_class": self.classes[base["majority_class"]]},
            "flagged": {**self.flagged, "chosen_on": self.threshold_source},
            "calibration": self.calibration,
            **self.extra,
        }

    def prediction_rows(self, top_k: int = 3) -> list[dict[str, Any]]:
        """One row per test image (predictions.csv): id, true, pred, confidence, top-k,
        correct, flagged."""
        rows = prediction_rows(self.classes, self.y_true, self.probs, self.ids, self.flagged["threshold"], top_k)
        for r in rows:
            r["confidence"] = round(r["confidence"], 6)
            r["top_k"] = "|".join(f"{c}:{p:.4f}" for c, p in r["top_k"])
        return rows

    def summary(self) -> str:
        card = render_text(self.to_dict(), repr(self))
        left = self.extra.get("n_left_out_as_seen")
        if not left:
            return card
        lines = card.split("\n")
        lines.insert(2, f"Left out       {left:,} of the {left + self.n_test:,} images given: the model was trained on "
                        f"{'it' if left == 1 else 'them'} (exact or near copies, found by the fingerprints it keeps "
                        "of its training images), so they cannot tell how it does on new images")
        return "\n".join(lines)

    def __repr__(self) -> str:
        lo, hi = self.accuracy_ci
        return (
            f"Evaluation(accuracy={self.accuracy:.4f} [95% CI {lo:.4f}-{hi:.4f}], "
            f"wrong={self.n_wrong}/{self.n_test}, classes={len(self.classes)})"
        )

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """How Jupyter shows an Evaluation: headline, report card, confusion matrix and
        per-class table as static HTML (the full card with its galleries is Run's)."""
        return render_html(self.to_dict(), self.summary())


def prediction_rows(classes: Sequence[str], y_true: np.ndarray, probs: np.ndarray, ids: Sequence[str],
                    threshold: float | None, top_k: int = 3, index: Sequence[int] | None = None,
                    ) -> list[dict[str, Any]]:
    """The per-image answers of single-label predictions, for the images at ``index``
    (all by default): id, true, pred, confidence, top_k [(class, p), ...], correct and
    flagged (confidence below ``threshold``). The one place they are computed: the run
    folder's predictions.csv and the evidence card both read them from here."""
    P = np.asarray(probs, dtype=np.float64)
    idx = np.arange(len(P)) if index is None else np.asarray(index, dtype=np.int64)
    k = min(top_k, P.shape[1])
    top = np.argsort(-P[idx], axis=1, kind="stable")[:, :k]
    rows = []
    for i, t in zip(idx, top):
        pred = int(t[0])
        conf = float(P[i, pred])
        rows.append({
            "id": str(ids[i]),
            "true": str(classes[int(y_true[i])]),
            "pred": str(classes[pred]),
            "confidence": conf,
            "top_k": [(str(classes[j]), float(P[i, j])) for j in t],
            "correct": bool(pred == int(y_true[i])),
            "flagged": bool(threshold is not None and conf < threshold),
        })
    return rows


def _review_threshold(threshold: float | None, vt: np.ndarray | None, vp: np.ndarray | None,
                      target_accuracy: float, val_name: str) -> tuple[float, str, float | None, dict[str, Any]]:
    """(threshold, what chose it, the accuracy it aims at, how it did on the held-out
    images): ``threshold`` when given, else chosen on the calibrated held-out predictions
    (``vt``, ``vp``) when there are some, else 0.5."""
    if threshold is not None:
        return float(threshold), "given", None, {"target_reached": None}
    if vt is None:
        return m.DEFAULT_THRESHOLD, "default (no validation data)", None, {"target_reached": None}
    thr = m.choose_threshold(vt, vp, target_accuracy)
    # did the held-out images reach the target above this threshold? If not, the
    # threshold is choose_threshold's fallback, and the card must say so
    on_val = m.flag_summary(vt, vp, thr)
    need = m.min_accepted(target_accuracy)
    reached = (on_val["accuracy_accepted"] is not None and on_val["accuracy_accepted"] >= target_accuracy
               and len(vt) - on_val["n"] >= need)
    review = {"target_reached": bool(reached), "chosen_on_images": val_name, "target_min_images": need,
              "held_out_images": int(len(vt)),
              "held_out_accuracy_accepted": on_val["accuracy_accepted"], "held_out_fraction_flagged": on_val["fraction"]}
    source = (f"{val_name} (lowest confidence reaching {target_accuracy:.0%} accuracy)" if reached else
              f"{val_name} ({target_accuracy:.0%} accuracy not reached at any confidence on {need} images or more; "
              "the threshold with the best accuracy that still keeps at least half of the images)")
    return thr, source, float(target_accuracy), review


def evaluate_predictions(
    y_true: Sequence[int] | np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    ids: Sequence[str] | None = None,
    *,
    threshold: float | None = None,
    val_true: np.ndarray | None = None,
    val_probs: np.ndarray | None = None,
    train_labels: np.ndarray | None = None,
    target_accuracy: float = m.DEFAULT_TARGET_ACCURACY,
    val_name: str = "validation",
    calibration: dict[str, Any] | None = None,
) -> Evaluation:
    """Compute an :class:`Evaluation` from test labels and a model's raw probabilities.

    ``calibration`` is the model's calibration record (``ImageClassifier.calibration_``):
    its temperature turns the raw test and validation probabilities into the ones the
    model answers, which every number here is computed from. Without a record, one is
    fitted on the validation predictions (``val_true``, ``val_probs``) when given. The
    review threshold is ``threshold`` if given, else chosen on the calibrated validation
    predictions if given, else 0.5. Test labels never choose a threshold or a temperature.
    """
    from ._calibration import calibrated, calibration_report, fit_calibration, uncalibrated

    y = np.asarray(y_true, dtype=np.int64)
    raw = np.asarray(probs, dtype=np.float64)
    classes = tuple(str(c) for c in classes)
    if raw.ndim != 2 or raw.shape != (len(y), len(classes)):
        raise TrueclassError(
            f"probs must have shape ({len(y)}, {len(classes)}) for {len(y)} images and {len(classes)} classes; "
            f"got {raw.shape}."
        )
    if len(y) == 0:
        raise TrueclassError("There are no test images to evaluate on.")
    ids_arr = np.asarray(ids if ids is not None else np.arange(len(y))).astype(str)
    from sklearn.metrics import balanced_accuracy_score, f1_score

    vt = None if val_true is None else np.asarray(val_true, dtype=np.int64)
    vp = None if val_probs is None else np.asarray(val_probs, dtype=np.float64)
    has_val = vt is not None and vp is not None and len(vt) > 0
    if calibration is None and has_val:
        name = val_name if "images" in val_name else \
            f"{'validation split' if val_name == 'validation' else val_name} ({len(vt):,} images)"
        calibration = fit_calibration(vt, vp, name)
    elif calibration is None:
        calibration = uncalibrated("no validation predictions were given to fit a temperature on (the test images "
                                   "are never used for it)")
    P = calibrated(raw, calibration)  # what the model answers: every number below is of these
    if has_val:
        vp = calibrated(vp, calibration)
    pred = P.argmax(axis=1)
    n = len(y)
    k = int(np.sum(pred == y))
    cm, cm_norm = m.confusion(y, pred, len(classes))
    per_class = m.per_class_report(y, pred, classes)
    labels = np.arange(len(classes))
    present = np.unique(y)
    thr, source, target, review = _review_threshold(threshold, vt if has_val else None, vp, target_accuracy,
                                                    val_name)
    import warnings

    with warnings.catch_warnings():
        # A class absent from the test set makes balanced accuracy warn; we restrict it.
        warnings.simplefilter("ignore")
        bal = float(balanced_accuracy_score(y, pred)) if len(present) else 0.0
    return Evaluation(
        classes=classes,
        y_true=y,
        probs=P,
        ids=ids_arr,
        accuracy=k / n,
        accuracy_ci=m.wilson_interval(k, n),
        n_test=n,
        n_wrong=n - k,
        balanced_accuracy=bal,
        top_k_accuracy=m.top_k_accuracies(y, P),
        per_class=per_class,
        macro_f1=float(f1_score(y, pred, labels=labels, average="macro", zero_division=0)),
        weighted_f1=float(f1_score(y, pred, labels=labels, average="weighted", zero_division=0)),
        weakest_class=m.weakest_class(per_class),
        confusion_matrix=cm,
        confusion_normalized=cm_norm,
        most_confused=m.most_confused(cm, classes),
        misread=m.misread(y, P, ids_arr, classes),
        baselines=m.baselines(y, len(classes), train_labels),
        flagged={**m.flag_summary(y, P, thr), "target_accuracy": target, **review},
        threshold_source=source,
        calibration=calibration_report(y, raw, calibration),
    )


@keeps_torch_numerics
def evaluate(
    model: Any,
    dataset: Any,
    *,
    val: Any = None,
    threshold: float | None = None,
    train_labels: np.ndarray | None = None,
    target_accuracy: float = m.DEFAULT_TARGET_ACCURACY,
    held_out: tuple[np.ndarray, np.ndarray, str] | None = None,
    test_probs: np.ndarray | None = None,
) -> Evaluation:
    """Evaluate a fitted model (a saved one: ``tc.load_model(folder)``) on a held-out Dataset.

    ``val`` (a Dataset the model did not train on) is used only to choose the review
    threshold; the majority baseline is the majority class of the training images
    (``train_labels``, indices into the model's classes, else the counts the model kept).
    ``dataset`` may also be a pair ``(X_test, y_test)`` of arrays in the model's units, or
    a source (a folder, a file, a built-in name) read at the model's size and colour mode
    as ``trueclass evaluate`` reads it, its own test part when it comes split.
    Images the model was trained or validated on are left out, by the rule of
    ``trueclass evaluate`` (run.scoring: the fingerprints the model keeps,
    ``fingerprints_``), and the Evaluation says how many (``extra["n_left_out_as_seen"]``,
    a line of its summary); when every image was, there is nothing to score and it says
    so. ``held_out`` = (labels, raw probabilities, name) stands in for ``val`` when the
    model has no validation part; by default, the out-of-fold predictions on its
    training images that the model made in ``fit`` (``held_out_``) do.
    Probabilities are the model's calibrated ones (``calibration_``): the numbers are of
    what the model answers. ``test_probs`` are the model's raw probabilities of
    ``dataset`` when they were computed elsewhere (in shards, under torchrun).
    """
    # with test_probs the images were chosen where their probabilities were computed
    model, dataset, unseen = unseen_part(model, dataset, choose=test_probs is None)
    saved = None
    if threshold is None and (val is None or not len(val)) and held_out is None and getattr(model, "held_out_", None) is None:
        saved = _saved_review(model)  # a loaded model keeps the threshold it chose when it was trained
        threshold = None if saved is None else saved[0]
    ev = _evaluate(model, dataset, val=val, threshold=threshold, train_labels=train_labels,
                   target_accuracy=target_accuracy, held_out=held_out, test_probs=test_probs)
    if isinstance(ev, Evaluation):
        from dataclasses import replace

        if unseen is not None:
            ev = replace(ev, extra={**ev.extra, "evaluated_on": unseen.note, "n_left_out_as_seen": unseen.n_left_out})
        if saved is not None:
            ev = replace(ev, threshold_source=saved[1],
                         flagged={**ev.flagged, **saved[3], "target_accuracy": saved[2]})
    return ev


def _saved_review(model: Any) -> tuple[float, str, float | None, dict[str, Any]] | None:
    """The review threshold a saved model chose when it was trained (model.json's
    ``threshold``), what chose it, the accuracy it aimed at and how it did on the held-out
    images it was chosen on (whether it reached the target: the card says so again); None
    for a model without one (fitted here, or saved without held-out images)."""
    meta = getattr(model, "metadata_", None) or {}
    if meta.get("threshold") is None or getattr(model, "multilabel_", False):
        return None
    return (float(meta["threshold"]), str(meta.get("threshold_chosen_on") or "training run"), meta.get("review_target"),
            dict(meta.get("review") or {}))


def unseen_part(model: Any, dataset: Any, *, choose: bool = True, call: str = "evaluate") -> tuple[Any, Any, Any]:
    """What ``tc.evaluate`` and ``tc.stress_test`` were given, as (fitted model, Dataset of
    images it never saw, the Scored images or None): the images may be a Dataset, a source
    (read at the model's size, its own test part when it comes split) or a pair (X_test,
    y_test); images the model was trained or validated on are left out by the rule of
    ``trueclass evaluate`` (unless ``choose`` is False)."""
    from ..data import Dataset

    if isinstance(model, (str, Path)):  # the command line's RUN, in Python (regression: "not fitted yet")
        raise TrueclassError(f"{call}(model, data) takes a model, not its folder: load it first, "
                             f"{call}(tc.load_model({str(model)!r}), ...).")
    if not hasattr(model, "classes_"):
        from .._errors import NotFittedError

        raise NotFittedError(f"This model is not fitted yet: call fit(...) first, then {call}(model, ...).")
    pair = isinstance(dataset, tuple) and len(dataset) == 2
    what = "the images given"
    if isinstance(dataset, (str, Path)):  # a source, read as `trueclass evaluate` reads it
        from ..run.scoring import candidate_images, load_for

        dataset = load_for(model, dataset)
        part, what = candidate_images(dataset)
        dataset = dataset.subset(part)  # its own test part when it comes split
    if pair:  # (X_test, y_test), as the lesson has them
        from ..data import from_arrays

        dataset = from_arrays(*dataset, value_max=getattr(model, "value_max_", None), source="arrays")
    if not isinstance(dataset, Dataset):
        raise TrueclassError(f"{call}(model, data) takes a trueclass Dataset, a source (a folder, a file or a "
                             "built-in name, read at the model's size) or a pair (X_test, y_test).")
    unseen = _unseen(model, dataset, pair, what, call) if choose else None
    return model, (dataset if unseen is None else unseen.test), unseen


def _unseen(model: Any, dataset: Any, pair: bool, what: str, call: str = "evaluate") -> Any:
    """The one rule of ``trueclass evaluate`` (run.scoring) for images that have not been
    through it: those the model was trained or validated on (its fingerprints) are left
    out. None when the model keeps no fingerprints or the images were chosen already."""
    from ..run.scoring import UNSEEN_RULE, copies_for_saved_model, scored_images

    if UNSEEN_RULE in dataset.provenance or len(dataset) == 0:  # before the fingerprints: a loaded model reads them
        return None
    fingerprints = getattr(model, "fingerprints_", None)
    if fingerprints is None:
        return None
    candidates = np.arange(len(dataset))
    is_copy = copies_for_saved_model(fingerprints, dataset, candidates)
    if np.all(is_copy):
        n = len(dataset)
        where = "X_test, y_test" if pair else "the test part"
        head = ("The one image was used to train this model, so it cannot tell" if n == 1 else
                f"All {n:,} images were used to train this model, so they cannot tell")
        verb = "evaluate" if call == "evaluate" else "test"
        raise TrueclassError(f"{head} how it does on new images; {verb} it on {where} (the images it never saw).")
    return scored_images(dataset, candidates, is_copy, what=what)


def _evaluate(model: Any, dataset: Any, *, val: Any, threshold: float | None, train_labels: np.ndarray | None,
              target_accuracy: float, held_out: tuple[np.ndarray, np.ndarray, str] | None,
              test_probs: np.ndarray | None) -> Any:
    if dataset.multilabel or getattr(model, "multilabel_", False):
        from ._multilabel import evaluate_multilabel

        if not (dataset.multilabel and getattr(model, "multilabel_", False)):
            raise TrueclassError("A multi-label model needs multi-label test images, and the other way round.")
        return evaluate_multilabel(model.label_indices(dataset), model.predict_proba(dataset),
                                   [str(c) for c in model.classes_], dataset.ids, model.thresholds_)
    if train_labels is None and getattr(model, "class_counts_", None) is not None:
        # one rule everywhere: the majority baseline is the majority class of the training images
        train_labels = np.repeat(np.arange(len(model.class_counts_)), model.class_counts_)
    y = model.label_indices(dataset)
    # raw scores in, with the model's own calibration record: the Evaluation scores what the
    # model answers and reports the raw scores' calibration beside it
    probs = model.predict_proba(dataset, raw=True) if test_probs is None else np.asarray(test_probs)
    val_true = val_probs = None
    val_name = "validation"
    if val is not None and len(val):
        val_true = model.label_indices(val, "validation")
        val_probs = model.predict_proba(val, raw=True)
    elif held_out is not None or getattr(model, "held_out_", None) is not None:
        val_true, val_probs, val_name = held_out if held_out is not None else model.held_out_
    return evaluate_predictions(
        y,
        probs,
        [str(c) for c in model.classes_],
        dataset.ids,
        threshold=threshold,
        val_true=val_true,
        val_probs=val_probs,
        val_name=val_name,
        train_labels=train_labels,
        target_accuracy=target_accuracy,
        calibration=getattr(model, "calibration_", None),
    )
