"""Likely label errors: out-of-fold probabilities from the best of a few label models
(a logistic regression on whitened principal components of the pixels, an RBF SVC on
principal components, a logistic regression on the pretrained backbone's embeddings),
ranked by cleanlab. Part of the audit (checks._audit)."""

from __future__ import annotations

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
LABEL_CANDIDATES = ("pca-logreg", "pca-svc", "embeddings-logreg")
#: An SVC's fit grows with the square of the images: above this many it is not tried.
SVC_MAX_IMAGES = 10_000
#: Embedding images costs about 5 ms each on 2 cores: above this many (and not already
#: cached) the backbone is not asked.
EMBED_MAX_IMAGES = 10_000
#: Images smaller than this are not shown to the backbone (upscaled 8x8 digits say little).
EMBED_MIN_SIDE = 16
#: Pixels (as float32 bytes) up to which the label model's PCA is fitted on every image;
#: above, on PCA_SAMPLE of them (Fashion-MNIST's 70,000 x 784 pixels are 220 MB: whole).
PCA_WHOLE_BYTES = 1024**3
PCA_SAMPLE = 10_000
LABEL_MODEL_TEXT = {
    "pca-logreg": f"a logistic regression on {LABEL_PCA_DIMS} whitened principal components of the pixels",
    "pca-svc": "an RBF support vector machine on 50 principal components of the pixels",
    "embeddings-logreg": "a logistic regression on the pretrained backbone's embeddings (EfficientNet-Lite0)",
}


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


def _candidate(name: str, ds: Any, seed: int) -> tuple[np.ndarray, Any] | None:
    """(features, classifier) of one label-error model candidate, or None where it does
    not suit this data. Features never see a label (PCA, the pretrained backbone), so
    they are computed once on all the images."""
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
    raise TrueclassError(f"Unknown label-error model {name!r}; choose from {', '.join(LABEL_CANDIDATES)}.")


def out_of_fold_probs(ds: Any, *, seed: int = 0, folds: int = LABEL_FOLDS,
                      candidates: tuple[str, ...] = LABEL_CANDIDATES) -> tuple[np.ndarray, dict[str, Any]]:
    """(N, K) probabilities of each image from a model that never saw its label, by
    stratified cross-validation, from the candidate with the best out-of-fold accuracy;
    and what was tried: {"model", "accuracy", "tried": {name: accuracy}}."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    n = len(ds)
    y = ds.labels
    k = int(min(folds, np.bincount(y)[np.bincount(y) > 0].min()))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    best: tuple[float, str, np.ndarray] | None = None
    tried: dict[str, float] = {}
    names = list(candidates) or ["pca-logreg"]
    for name in names:
        made = _candidate(name, ds, seed)
        if made is None and name == names[-1] and best is None:
            names.append("pca-logreg")  # none of those asked for suits this data: the one that always does
        if made is None:
            continue
        feats, model = made
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # stopped early on purpose, see LABEL_MAX_ITER
            # n_jobs=1: the folds fit one after another in this process. The audit also runs in the
            # studio's training thread, and a process pool started from a thread forks a copy of
            # locks other threads hold (a classic deadlock); the models use the cores themselves.
            probs = cross_val_predict(model, feats, y, cv=cv, method="predict_proba", n_jobs=1)
        acc = float(np.mean(np.unique(y)[np.argmax(probs, axis=1)] == y))
        tried[name] = round(acc, 4)
        if best is None or acc > best[0]:
            best = (acc, name, probs)
    full = np.zeros((n, ds.n_classes))
    full[:, np.unique(y)] = best[2]  # classes with no image keep probability 0
    return full, {"model": best[1], "accuracy": round(best[0], 4), "tried": tried}


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


def find_label_issues(ds: Any, *, seed: int = 0, probs: np.ndarray | None = None,
                      candidates: tuple[str, ...] = LABEL_CANDIDATES,
                      model_info: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], np.ndarray | None, str | None]:
    """Likely mislabelled images, most likely first: (issues, out-of-fold probs, reason if
    skipped). ``model_info``, when given, receives which label-error model was chosen."""
    if ds.multilabel:
        return [], None, "not checked for several labels per image"
    counts = np.bincount(ds.labels, minlength=ds.n_classes)
    if (counts[counts > 0] < 2).any() or (counts > 0).sum() < 2:
        return [], None, "needs two classes with at least two images each"
    from cleanlab.filter import find_label_issues as cl_find
    from cleanlab.rank import get_label_quality_scores

    n_tried = 1
    if probs is None:
        probs, info = out_of_fold_probs(ds, seed=seed, candidates=candidates)
        n_tried = len(info["tried"])
        if model_info is not None:
            model_info.update(info)
    present = np.flatnonzero(counts > 0)
    remap = np.full(ds.n_classes, -1)
    remap[present] = np.arange(len(present))
    y = remap[ds.labels]
    p = probs[:, present]
    p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
    if not label_model_beats_guessing(y, p, n_tried):
        return [], probs, (f"the label-error model is no better than guessing here (out-of-fold accuracy "
                           f"{label_model_accuracy(y, p):.1%}, against {np.bincount(y).max() / len(y):.1%} for always "
                           "answering the commonest class), so it flags nothing")
    # n_jobs=1: left to itself cleanlab forks a multiprocessing.Pool (one process per core);
    # forked from the studio's training thread, a child inherits locks other threads held
    # and can wait on one forever (a second Train hung at the label-error step). Ranking
    # N x K probabilities in this process takes milliseconds.
    ranked = cl_find(y, p, return_indices_ranked_by="self_confidence", n_jobs=1)
    scores = get_label_quality_scores(y, p)  # plain numpy in this process (no n_jobs, no pool)
    out = []
    for i in ranked:
        sug = int(present[int(np.argmax(p[i]))])
        out.append({"index": int(i), "id": str(ds.ids[i]), "given": str(ds.classes[ds.labels[i]]),
                    "suggested": str(ds.classes[sug]), "score": round(float(scores[i]), 6),
                    "p_given": round(float(probs[i, ds.labels[i]]), 4), "p_suggested": round(float(probs[i, sug]), 4)})
    return out, probs, None
