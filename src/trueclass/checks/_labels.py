"""Label errors: out-of-fold probabilities from the best of a few label models (a logistic
regression on whitened principal components of the pixels, an RBF SVC on principal
components, a logistic regression on the pretrained backbone's embeddings, the run's own
kind of network trained on the other folds where that is affordable), every image
ranked by cleanlab's label quality score, and a self-check that says what a flag is worth
on this very data set. Part of the audit (checks._audit).

The self-check: a known number of labels (SELF_CHECK_SHARE of the images) are moved to
another class in a copy of the labels, and the same detector runs on the copy. Where it
flags is chosen there (the score below which the F1 of finding the planted flips is best),
and how well it does there is measured with the cut chosen on one half of the images and
counted on the other (so the figures are not flattered by the choice): the share of the
planted flips it finds (recall), and, among the copy's flags on images it had not flagged
on the real labels, the share that were planted flips (precision). The real labels are
then flagged below the same score. Flags are called likely label errors only when that
precision is at least LIKELY_PRECISION (the lower end of its 95% interval); otherwise they
are images ranked for review. Why not cleanlab's own count (``find_label_issues``): with a
label model that is 84% right out of fold it flagged 430 of 3,000 Fashion-MNIST images for
60 planted flips (precision 0.12); the self-check's cut flags 46-78 at 0.56-0.85
(benchmarks/audit_labels.py). Limits (docs/failure-checks.md): planted flips go to a class
drawn at random, and are easier to find than the errors people make between classes that
look alike; an image the detector flags on the real labels cannot be scored by the copy
(its label is unknown), so the precision speaks of the detector, not of those images one
by one, and a set with no label errors at all can still get a few flags.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import TrueclassError

#: Folds of the cross-validation behind the out-of-fold probabilities.
LABEL_FOLDS = 5
#: Out-of-fold probabilities come from a logistic regression on this many whitened principal
#: components of the pixels, stopped after LABEL_MAX_ITER steps. On 54,000 Fashion-MNIST
#: training images (held-out accuracy of one fit): whitened, 50 steps 0.840 in about half
#: the time of 100 steps unwhitened (0.841); 500 steps took 4x longer for nothing; LDA
#: was fast but 0.796.
LABEL_PCA_DIMS = 64
LABEL_MAX_ITER = 50
#: Candidates for the label-error model, tried in this order; the one with the best
#: out-of-fold accuracy gives the probabilities cleanlab ranks. Measured on 3,000 digits
#: with 60 planted label flips (benchmarks/audit_labels.py): the PCA logistic regression
#: is fast but weak; an RBF SVC on 50 principal components and a logistic regression on
#: the pretrained backbone's embeddings are stronger where they are affordable.
LABEL_CANDIDATES = ("pca-logreg", "pca-svc", "embeddings-logreg", "cnn-folds")
#: An SVC's fit grows with the square of the images: above this many it is not tried (on
#: 10,000 Fashion-MNIST images one cross-validation took 47 s, and the self-check needs two).
SVC_MAX_IMAGES = 5_000
#: Embedding images costs about 5 ms each on 2 cores: above this many (and not already
#: cached) the backbone is not asked.
EMBED_MAX_IMAGES = 10_000
#: Images smaller than this are not shown to the backbone (upscaled 8x8 digits say little).
EMBED_MIN_SIDE = 16
#: The cnn trained on the other folds: a short recipe on purpose (a network that has not
#: trained long has learnt the easy, consistent patterns and not yet memorised the wrong
#: labels; its out-of-fold probabilities are what cleanlab ranks). Tried by default on a
#: CUDA GPU only; on a CPU when asked for by name (``candidates``): the self-check repeats
#: every fit for its copies, (1 + copies) x LABEL_FOLDS fits in all, and on 2 CPU cores one
#: out-of-fold pass on the digits took 30-60 s (out-of-fold accuracy 0.994 against the
#: SVC's 0.989 in 3 s).
FOLD_NET = {"width": 16, "epochs": 8, "val_fraction": 0.0, "tta": False}
#: Pixels (as float32 bytes) up to which the label model's PCA is fitted on every image;
#: above, on PCA_SAMPLE of them (Fashion-MNIST's 70,000 x 784 pixels are 220 MB: whole).
PCA_WHOLE_BYTES = 1024**3
PCA_SAMPLE = 10_000
#: The self-check plants this share of label flips in a copy of the labels (at least
#: SELF_CHECK_MIN_FLIPS, at most SELF_CHECK_MAX_FLIPS, at most a fifth of the images); with
#: fewer than SELF_CHECK_MIN_FLIPS * 5 images it is not run and flags are only ranked.
SELF_CHECK_SHARE = 0.02
SELF_CHECK_MIN_FLIPS = 10
SELF_CHECK_MAX_FLIPS = 2_000
#: A small set gets several planted copies, this many flips in all, at most SELF_CHECK_COPIES.
SELF_CHECK_POOL = 100
SELF_CHECK_COPIES = 5
#: Flags are "likely label errors" when the self-check's precision (the lower end of its 95%
#: interval) reaches this; below, they are "ranked for review".
LIKELY_PRECISION = 0.5
LABEL_MODEL_TEXT = {
    "pca-logreg": f"a logistic regression on {LABEL_PCA_DIMS} whitened principal components of the pixels",
    "pca-svc": "an RBF support vector machine on 50 principal components of the pixels",
    "embeddings-logreg": "a logistic regression on the pretrained backbone's embeddings (EfficientNet-Lite0)",
    "cnn-folds": f"the cnn (width {FOLD_NET['width']}, {FOLD_NET['epochs']} epochs) trained on the other folds",
}


def _fold_net(seed: int) -> Any:
    """The cnn as a scikit-learn classifier of uint8 images, for cross_val_predict: each
    fold's fit is a fresh, seeded network that keeps no fingerprints. (Defined here, so that
    importing trueclass does not import scikit-learn.)"""
    from sklearn.base import BaseEstimator, ClassifierMixin

    from ..models import ImageClassifier

    class FoldNet(ClassifierMixin, BaseEstimator):
        def __init__(self, seed: int = 0):
            self.seed = seed

        def fit(self, X: np.ndarray, y: np.ndarray) -> "FoldNet":
            self.net_ = ImageClassifier("cnn", **FOLD_NET, random_state=self.seed).fit(X, y, fingerprints=False)
            self.classes_ = self.net_.classes_
            return self

        def predict_proba(self, X: np.ndarray) -> np.ndarray:
            return self.net_.predict_proba(X)

        def predict(self, X: np.ndarray) -> np.ndarray:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    return FoldNet(seed)


def _on_gpu() -> bool:
    from ..training import resolve_device

    try:
        return resolve_device("auto").startswith("cuda")
    except TrueclassError:  # a $TRUECLASS_DEVICE this machine cannot give: the network's fit says so
        return False


def _pca(ds: Any, dims: int, *, whiten: bool, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    n = len(ds)
    d = int(np.prod(ds.images.shape[1:]))
    pca = PCA(n_components=int(min(dims, d, n - 1)), whiten=whiten, random_state=seed)
    if n * d * 4 <= PCA_WHOLE_BYTES:
        return pca.fit_transform(ds.images.reshape(n, -1).astype(np.float32) / float(ds.value_max))
    # a large set: the components from a seeded sample, every image projected a chunk at a time
    pick = np.sort(np.random.default_rng(seed).choice(n, size=min(n, max(PCA_SAMPLE, 4 * dims)), replace=False))
    pca.fit(np.asarray(ds.images[pick]).reshape(len(pick), -1).astype(np.float32) / float(ds.value_max))
    return np.concatenate([pca.transform(np.asarray(ds.images[s : s + 4096]).reshape(-1, d).astype(np.float32)
                                         / float(ds.value_max)) for s in range(0, n, 4096)])


def _candidate(name: str, ds: Any, seed: int, asked: bool = False) -> tuple[np.ndarray, Any] | None:
    """(features, classifier) of one label-error model candidate, or None where it does
    not suit this data (or, unless ``asked`` for by name, costs too much here). Features
    never see a label (PCA, the pretrained backbone), so they are computed once on all the
    images."""
    from sklearn.linear_model import LogisticRegression

    n = len(ds)
    if name == "pca-logreg":
        return _pca(ds, LABEL_PCA_DIMS, whiten=True, seed=seed).astype(np.float64), LogisticRegression(max_iter=LABEL_MAX_ITER)
    if name == "pca-svc":
        if n > SVC_MAX_IMAGES:
            return None
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        smallest = int(np.bincount(ds.labels)[np.bincount(ds.labels) > 0].min())
        if smallest < 4:
            return None
        return (_pca(ds, 50, whiten=False, seed=seed).astype(np.float64),
                CalibratedClassifierCV(SVC(C=10, random_state=seed), ensemble=False, cv=3, n_jobs=1))  # in-process
    if name == "embeddings-logreg":
        if n > EMBED_MAX_IMAGES or min(ds.images.shape[1:3]) < EMBED_MIN_SIDE or ds.images.shape[-1] not in (1, 3):
            return None
        try:
            from ..features import embedding_features, probe

            feats = embedding_features(ds.images, ds.value_max)
        except (ImportError, TrueclassError):  # the backbone is not installed here
            return None
        return feats, probe()
    if name == "cnn-folds":
        if ds.images.shape[-1] not in (1, 3) or not (asked or _on_gpu()):
            return None
        from ..data import to_display

        return to_display(ds.images, ds.value_max), _fold_net(seed)
    raise TrueclassError(f"Unknown label-error model {name!r}; choose from {', '.join(LABEL_CANDIDATES)}.")


@dataclass
class LabelCheck:
    """What the label check found: ``issues`` (flagged images, most likely first),
    ``ranking`` (every checked image, most likely first: the CSV), the out-of-fold
    ``probs``, ``skipped`` (why nothing was checked), ``model`` (the label model chosen,
    what was tried and what it cost), ``self_check`` (planted flips: found, precision,
    recall, the cut) and ``wording`` ("likely" or "review")."""

    issues: list[dict[str, Any]] = field(default_factory=list)
    ranking: list[dict[str, Any]] = field(default_factory=list)
    probs: np.ndarray | None = None
    skipped: str | None = None
    model: dict[str, Any] | None = None
    self_check: dict[str, Any] | None = None
    wording: str = "review"


def _oof(feats: np.ndarray, model: Any, y: np.ndarray, seed: int, folds: int) -> np.ndarray | None:
    """(N, P) out-of-fold probabilities for labels ``y`` in 0..P-1 (every one present), or
    None where a class has fewer than two images, or too few for the model's own inner
    folds (the SVC's calibration, on a self-check copy whose flips left a class 3 images)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    k = int(min(folds, np.bincount(y).min()))
    if k < 2:
        return None
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # stopped early on purpose, see LABEL_MAX_ITER
        # n_jobs=1: the folds fit one after another in this process. The audit also runs in the
        # studio's training thread, and a process pool started from a thread forks a copy of
        # locks other threads hold (a classic deadlock); the models use the cores themselves.
        try:
            return cross_val_predict(model, feats, y, cv=cv, method="predict_proba", n_jobs=1)
        except ValueError as exc:
            if "cross-validation but provided less than" in str(exc):
                return None
            raise


def _scores(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """cleanlab's label quality score of each image (self-confidence: the probability of
    its given label; low = likely wrong). Plain numpy in this process: no pool is forked
    (cleanlab's ``find_label_issues`` forks one per core unless told n_jobs=1, and forked from
    the studio's training thread a child could wait forever on a lock another thread held)."""
    from cleanlab.rank import get_label_quality_scores

    return get_label_quality_scores(y, probs)


def plant_flips(y: np.ndarray, n_classes: int, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A copy of labels ``y`` (0..n_classes-1) with ``m`` of them, drawn at random, moved
    to another class drawn at random; (labels, sorted indices moved)."""
    idx = np.sort(rng.choice(len(y), size=m, replace=False))
    out = y.copy()
    out[idx] = (out[idx] + rng.integers(1, n_classes, size=m)) % n_classes
    return out, idx


def best_cut(scores: np.ndarray, planted: np.ndarray) -> float:
    """The score at or below which flagging finds the ``planted`` images with the best F1."""
    order = np.argsort(scores, kind="stable")
    found = np.cumsum(planted[order])
    f1 = 2 * found / (np.arange(1, len(scores) + 1) + planted.sum())
    return float(scores[order[int(np.argmax(f1))]])


def self_check_size(n: int) -> int:
    """How many flips the self-check plants among ``n`` images (0: too few to check)."""
    m = int(min(SELF_CHECK_MAX_FLIPS, max(SELF_CHECK_MIN_FLIPS, round(SELF_CHECK_SHARE * n)), n // 5))
    return m if m >= SELF_CHECK_MIN_FLIPS else 0


def self_check(feats: np.ndarray, model: Any, y: np.ndarray, scores: np.ndarray, *, seed: int,
               folds: int = LABEL_FOLDS) -> dict[str, Any] | None:
    """Plant flips in copies of labels ``y`` (0..P-1), run the detector on each copy, and
    measure it (see the module's docstring); None where the set is too small. A small set
    gets several copies (SELF_CHECK_POOL planted flips in all, at most SELF_CHECK_COPIES
    copies), so that the cut does not rest on ten flips."""
    from ..evaluation import wilson_interval

    n, n_classes = len(y), int(y.max()) + 1
    m = self_check_size(n)
    if m == 0 or n_classes < 2:
        return None
    started = time.perf_counter()
    rng = np.random.default_rng([seed, 2028])
    copies = int(min(SELF_CHECK_COPIES, -(-SELF_CHECK_POOL // m)))
    runs = []  # (scores on the copy, planted mask, half mask) of each copy
    for _ in range(copies):
        y2, idx = plant_flips(y, n_classes, m, rng)
        probs2 = _oof(feats, model, y2, seed, folds)
        if probs2 is None:
            continue
        planted = np.zeros(n, dtype=bool)
        planted[idx] = True
        runs.append((_scores(y2, probs2), planted, rng.random(n) < 0.5))
    if not runs:
        return None
    s2 = np.concatenate([r[0] for r in runs])
    planted = np.concatenate([r[1] for r in runs])
    half = np.concatenate([r[2] for r in runs])
    mine = np.tile(scores, len(runs))  # each image's score on the real labels, beside each copy
    found = other = 0
    for a, b in ((half, ~half), (~half, half)):  # the cut chosen on one half, counted on the other
        if not planted[a].any() or not b.any():
            continue
        cut = best_cut(s2[a], planted[a])
        flagged = s2[b] <= cut
        found += int((flagged & planted[b]).sum())
        other += int((flagged & ~planted[b] & (mine[b] > cut)).sum())  # new flags on unplanted images
    total = int(planted.sum())
    precision = found / (found + other) if found + other else None
    return {"planted": total, "copies": len(runs), "found": found, "other_flags": other,
            "recall": round(found / total, 4), "recall_ci": [round(v, 4) for v in wilson_interval(found, total)],
            "precision": None if precision is None else round(precision, 4),
            "precision_ci": None if precision is None else [round(v, 4) for v in wilson_interval(found, found + other)],
            "cut": float(best_cut(s2, planted)), "seconds": round(time.perf_counter() - started, 2)}


def _f1(check: dict[str, Any] | None) -> float:
    if not check or not check["precision"]:
        return -1.0
    return 2 * check["precision"] * check["recall"] / (check["precision"] + check["recall"] or 1)


def label_model_accuracy(y: np.ndarray, probs: np.ndarray) -> float:
    """Out-of-fold accuracy of the label-error model: how far its word can be trusted."""
    return float(np.mean(np.argmax(probs, axis=1) == y))


def label_model_beats_guessing(y: np.ndarray, probs: np.ndarray, n_tried: int = 1) -> bool:
    """Whether the out-of-fold accuracy is above the commonest class's share by more
    than chance could make it: the lower end of its Wilson interval at 95% confidence,
    Bonferroni-corrected for the ``n_tried`` candidates the best was picked from (the
    best of three models on random labels beats chance more often than one does)."""
    from ..evaluation import wilson_interval

    k = int(np.sum(np.argmax(probs, axis=1) == y))
    return wilson_interval(k, len(y), confidence=1 - 0.05 / max(1, n_tried))[0] > np.bincount(y).max() / len(y)


def find_label_issues(ds: Any, *, seed: int = 0, candidates: tuple[str, ...] | None = None,
                      folds: int = LABEL_FOLDS) -> LabelCheck:
    """Rank every image of ``ds`` by how likely its label is wrong, flag those below the
    self-check's cut, and say what a flag is worth. The label model is the candidate whose
    self-check finds planted flips best (F1), or, where the set is too small to check, the
    one with the best out-of-fold accuracy. ``candidates``: None for those of
    LABEL_CANDIDATES that suit the data and this machine; names to try those (where the
    data suits them) whatever they cost."""
    if ds.multilabel:
        return LabelCheck(skipped="not checked for several labels per image")
    counts = np.bincount(ds.labels, minlength=ds.n_classes)
    if (counts[counts > 0] < 2).any() or (counts > 0).sum() < 2:
        return LabelCheck(skipped="needs two classes with at least two images each")
    started = time.perf_counter()
    present = np.flatnonzero(counts > 0)
    remap = np.full(ds.n_classes, -1)
    remap[present] = np.arange(len(present))
    y = remap[ds.labels]
    tried: dict[str, dict[str, Any]] = {}
    best: tuple[tuple[float, float], str, np.ndarray, np.ndarray, dict[str, Any] | None] | None = None
    names = list(LABEL_CANDIDATES if candidates is None else candidates) or ["pca-logreg"]
    for name in names:
        t0 = time.perf_counter()
        made = _candidate(name, ds, seed, asked=candidates is not None)
        if made is None and name == names[-1] and best is None and "pca-logreg" not in tried:
            names.append("pca-logreg")  # none of those asked for suits this data: the one that always does
        if made is None:
            continue
        feats, model = made
        probs = _oof(feats, model, y, seed, folds)
        if probs is None:
            continue
        acc = label_model_accuracy(y, probs)
        scores = _scores(y, probs)
        check = self_check(feats, model, y, scores, seed=seed, folds=folds)
        tried[name] = {"accuracy": round(acc, 4), "self_check_f1": None if check is None else round(_f1(check), 4),
                       "seconds": round(time.perf_counter() - t0, 2)}
        rank = (_f1(check), acc)
        if best is None or rank > best[0]:
            best = (rank, name, probs, scores, check)
    _, name, probs, scores, check = best
    full = np.zeros((len(ds), ds.n_classes))
    full[:, present] = probs  # classes with no image keep probability 0
    info = {"model": name, "accuracy": tried[name]["accuracy"], "tried": tried,
            "seconds": round(time.perf_counter() - started, 2)}
    if not label_model_beats_guessing(y, probs, len(tried)):
        return LabelCheck(probs=full, model=info, skipped=(
            f"the label-error model is no better than guessing here (out-of-fold accuracy "
            f"{label_model_accuracy(y, probs):.1%}, against {np.bincount(y).max() / len(y):.1%} for always "
            "answering the commonest class), so it flags nothing"))
    order = np.argsort(scores, kind="stable")
    if check is not None:
        flagged = scores <= check["cut"]
        low = check["precision_ci"] is None or check["precision_ci"][0] < LIKELY_PRECISION
        wording = "review" if low else "likely"
    else:  # too few images to check the check: cleanlab's own count, ranked for review
        from cleanlab.filter import find_label_issues as cleanlab_issues

        flagged = np.zeros(len(y), dtype=bool)
        flagged[cleanlab_issues(y, probs, n_jobs=1)] = True  # n_jobs=1: see _scores
        wording = "review"
    suggested = present[np.argmax(probs, axis=1)]
    flagged &= suggested != ds.labels  # (a flag's score is below 1/K, so its label is never the top one)
    ranking = []
    for rank, i in enumerate(order, start=1):
        g, sug = int(ds.labels[i]), int(suggested[i])
        ranking.append({"rank": rank, "index": int(i), "id": str(ds.ids[i]), "given": str(ds.classes[g]),
                        "suggested": str(ds.classes[sug]), "score": round(float(scores[i]), 6),
                        "p_given": round(float(full[i, g]), 4), "p_suggested": round(float(full[i, sug]), 4),
                        "flagged": bool(flagged[i])})
    issues = [r for r in ranking if r["flagged"]]
    return LabelCheck(issues=issues, ranking=ranking, probs=full, model=info, self_check=check, wording=wording)
