"""The steps of a run, each a function over what the steps before it made: load,
duplicates, split, fit, fingerprints, score, and the checks after training. The
pipeline (``run.pipeline``) calls them in order; a check that fails is reported by
:func:`optional` instead of costing the run.
"""

from __future__ import annotations

import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..diagnostics.stability import headline
from ..data import Dataset, Split, load, split
from ..evaluation import evaluate
from ..models import FINETUNE, get_spec
from ..training import _distributed as dist, named_setting
from .config import RunConfig
from .folder import RunFolder
from .metrics import one_line_error
from .scoring import Scored, scored_images, test_copies

#: Training accuracy (for the train-test gap) of pixel models is measured on at most
#: this many training images; networks report theirs per epoch in the history.
TRAIN_ACCURACY_SAMPLE = 2000
_log = logging.getLogger(__name__)

Progress = Callable[..., None]


#: The steps after training whose failure is reported (metrics.json's warnings) instead
#: of costing the run, in the order they run.
OPTIONAL_STEPS = ("quick_baseline", "diagnosis", "audit", "shuffle_check", "stress", "explanations", "slices",
                  "repeats", "card", "trackers")


class IncompleteRunWarning(UserWarning):
    """A run finished and kept its model and test scores, but a step after training
    failed (a check, a diagnostic or the card); ``Run.metrics["warnings"]`` says which."""


def optional(step: str, fn: Callable[[], Any], failed: list[dict[str, str]], *,
              leaves: Sequence[Path] = (), seconds: dict[str, float] | None = None) -> Any:
    """``fn()``, or None when it raises an ``Exception``: the failure is appended to
    ``failed`` as ``{"step", "error"}`` (the exception's type and message on one line)
    and what the step had written (``leaves``) is removed. KeyboardInterrupt and other
    BaseExceptions pass through. ``seconds`` gets the step's wall time, failed or not."""
    with timed(seconds, step):
        try:
            return fn()
        except Exception as exc:  # a bug in a check must not cost the trained model
            record_failure(step, exc, failed, leaves)
            return None


@contextmanager
def timed(seconds: dict[str, float] | None, step: str) -> Iterator[None]:
    """Add the block's wall time to ``seconds[step]`` (metrics.json's ``seconds``: what
    each part of a run cost); nothing when ``seconds`` is None."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        if seconds is not None:
            seconds[step] = round(seconds.get(step, 0.0) + time.perf_counter() - t0, 2)


def record_failure(step: str, exc: Exception, failed: list[dict[str, str]], leaves: Sequence[Path]) -> None:
    _log.debug("the %s step failed", step, exc_info=exc)
    failed.append({"step": step, "error": one_line_error(exc)})
    for path in leaves:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


# -- the steps ------------------------------------------------------------------------------------
def make_classifier(config: RunConfig, seed: int) -> Any:
    """The unfitted estimator of ``config`` (its seed as random_state unless given). A pixel
    model takes it even when its estimator has no randomness (logreg, knn): it seeds the
    cross-validation that chooses its temperature and review threshold, so ``--seed 1``
    here and ``ImageClassifier(..., random_state=1)`` in Python flag the same images."""
    from ..models import ImageClassifier

    params = dict(config.params)
    spec = get_spec(config.model)
    if spec.accepts_random_state or not spec.is_network:
        params.setdefault("random_state", seed)
    if config.precision is not None and "precision" in spec.defaults:
        # the run's arithmetic is its network's, and model.json keeps it: evaluate, predict and the
        # export's parity check compute as the run did, whatever $TRUECLASS_PRECISION says then
        if named_setting(params.get("precision")) is None:
            params["precision"] = config.precision
    return ImageClassifier(config.model, **params)


def load_step(config: RunConfig, dataset: Dataset | None, on_progress: Progress | None) -> Dataset:
    if dataset is not None:
        ds = dataset
    else:
        with dist.machine_first():  # one process a machine fills its disk cache of decoded images
            ds = load(config.source, image_size=config.image_size, color_mode=config.color_mode,
                      data_dir=config.data_dir, on_progress=on_progress)
    if config.unknown_class:
        from ..diagnostics import with_unknown_class

        ds = with_unknown_class(ds, config.seed)
    return ds


def duplicates_step(ds: Dataset, config: RunConfig, on_progress: Progress | None) -> Any:
    if not config.audit:
        return None
    from ..checks import find_duplicates

    return find_duplicates(ds, on_progress=on_progress)


def split_step(ds: Dataset, config: RunConfig, spec: Any, seed: int, dups: Any, *,
               val_for_finetuning: bool = False) -> Split:
    """The split with ``seed``; with the audit and no leakage allowed, every duplicate
    group on one side (the leak gate); a studio project's capture sessions whole on one
    side."""
    val_size = spec.default_val_size if config.val_size is None else config.val_size
    if config.val_size is None and spec.is_network:
        from ..models import MIN_VAL_IMAGES

        n_fit = len(ds) * (1 - config.test_size) if ds.predefined_split is None else np.sum(ds.predefined_split != "test")
        if val_size * n_fit < MIN_VAL_IMAGES:
            val_size = 0.0  # too few to mean anything: train on them all, for the full epochs
    if val_for_finetuning and config.val_size is None and ds.predefined_split is None:
        n_fit = len(ds) * (1 - config.test_size)
        if FINETUNE["min_val"] <= FINETUNE["val_size"] * n_fit and n_fit * (1 - FINETUNE["val_size"]) <= \
                FINETUNE["max_images"]:
            val_size = FINETUNE["val_size"]  # the probe against fine-tuning, on images neither trains on
    sessions = None if config.allow_leakage else ds.provenance.get("capture_sessions")
    groups = None if dups is None or config.allow_leakage else dups.groups
    across = 0
    if sessions is not None and groups is not None and len(sessions) == len(ds):
        # A studio project: the capture session is the unit kept on one side. Frames of one
        # scene are near duplicates by nature, across sessions too (the same room, the same
        # hand); joining them would put whole classes on one side. Near copies count only
        # within a session (where they go together anyway); exact copies (one image
        # uploaded twice) still join their sessions. The audit's pairs follow the rule, so
        # a test frame is not left out of the score for resembling another session.
        from ..data import groups_from_pairs

        s = np.asarray(sessions).astype(str)
        keep = [p for p in dups.pairs if p.get("kind") != "near" or s[p["i"]] == s[p["j"]]]
        across = len(dups.pairs) - len(keep)
        if across:
            dups.pairs[:] = keep
            dups.groups = groups_from_pairs(len(ds), np.array([[p["i"], p["j"]] for p in keep],
                                                              dtype=np.int64).reshape(-1, 2))
        groups = dups.groups
    parts = split(ds, test_size=config.test_size, val_size=val_size, seed=seed, stratify=config.stratify,
                  groups=groups, sessions=sessions)
    if across:
        parts.params["near_copies_across_sessions_not_joined"] = across
    return parts


def fit_step(config: RunConfig, parts: Split, seed: int, *, folder: RunFolder | None = None, resume: bool = False,
             on_progress: Progress | None = None, train: Dataset | None = None, fingerprints: Any = False) -> Any:
    """The model of ``config`` fitted on the training part (``train`` in its place when
    given), validated on the validation part; checkpoints in ``folder``. The fingerprints
    kept with the model are ``fingerprints`` (none for the checks' refits)."""
    clf = make_classifier(config, seed)
    train_ds = parts.train if train is None else train
    if on_progress is not None and folder is not None:
        on_progress(f"training {config.model} on {len(train_ds):,} images", 0, 0)
    return clf.fit(train_ds, val=parts.val, on_progress=on_progress,
                   checkpoint=None if folder is None else folder.checkpoint, resume=resume, fingerprints=fingerprints)


def finetune_step(config: RunConfig, parts: Split, clf: Any, chosen: dict[str, Any], folder: RunFolder,
                  on_progress: Progress | None, fingerprints: Any, *,
                  resume: bool = False) -> tuple[RunConfig, Any, dict[str, Any]]:
    """With the probe chosen by "auto": fine-tune the backbone too where the probe is weak
    on the validation images and the training part is small (models._choice.FINETUNE),
    and keep whichever is more accurate there. (The fine-tuning also stops early on those
    images, which flatters it a little; the test images decide nothing here.) With ``resume``
    the fine-tuning goes on from the run's checkpoint (the probe keeps none)."""
    val = parts.val
    if val is None or len(val) < FINETUNE["min_val"] or parts.n_train > FINETUNE["max_images"] or val.multilabel:
        return config, clf, chosen

    def accuracy(model: Any) -> float:
        return float(np.mean(np.argmax(model.predict_proba(val), axis=1) == model.label_indices(val, "validation")))

    probe_acc = accuracy(clf)
    chosen = {**chosen, "validation": {"lite0": round(probe_acc, 4)}}
    if probe_acc >= FINETUNE["below"]:
        return config, clf, chosen
    if on_progress is not None:
        on_progress(f"the probe reached {probe_acc:.0%} on {len(val)} validation images: fine-tuning the backbone "
                    "too", 0, 0)
    tuned_config = replace(config, model=FINETUNE["model"], params=dict(FINETUNE["params"]))
    tuned = fit_step(tuned_config, parts, config.seed, folder=folder, resume=resume, on_progress=on_progress,
                     fingerprints=fingerprints)
    tuned_acc = accuracy(tuned)
    chosen["validation"][FINETUNE["model"]] = round(tuned_acc, 4)
    if tuned_acc > probe_acc:
        chosen |= {"model": FINETUNE["model"],
                   "why": f"{chosen['why']}; fine-tuning the whole backbone then scored {tuned_acc:.1%} on "
                          f"{len(val)} validation images against {probe_acc:.1%} for the probe"}
        return tuned_config, tuned, chosen
    chosen["why"] += (f"; fine-tuning the whole backbone was tried too ({tuned_acc:.1%} on {len(val)} validation "
                      f"images against {probe_acc:.1%} for the probe) and not kept")
    return config, clf, chosen


def fingerprint_step(ds: Dataset, parts: Split, dups: Any) -> Any:
    """Fingerprints of every training and validation image, kept with the model."""
    from ..models import Fingerprints
    from ..data import to_display

    seen = np.sort(np.concatenate([parts.indices["train"], parts.indices.get("val", np.zeros(0, np.int64))]))
    phash = None if dups is None or dups.phash is None else dups.phash[seen]
    views = None if dups is None or dups.views is None else dups.views[seen]  # the audit's, not made again
    return Fingerprints.of(to_display(ds.images[seen], ds.value_max), phash=phash, views=views)


def score_step(ds: Dataset, parts: Split, dups: Any, fingerprints: Any, config: RunConfig) -> Scored:
    """The test images that count: the audit's duplicates tell the copies of training
    images; without the audit, the fingerprints do."""
    from .scoring import copies_for_saved_model

    test_idx = parts.indices["test"]
    is_copy = test_copies(parts, dups) if dups is not None else copies_for_saved_model(fingerprints, ds, test_idx)
    return scored_images(ds, test_idx, is_copy, allow_leakage=config.allow_leakage)


def held_out_step(clf: Any) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The out-of-fold predictions on the training images that a model with no
    validation part (the pixel models) made in ``fit`` (``ImageClassifier.held_out_``,
    models._estimator.held_out_predictions): what the review threshold is chosen on
    instead of a guess of 0.5, and the temperature was fitted on. Never the test
    images. None for a model with validation images."""
    return getattr(clf, "held_out_", None)


def leakage_section(scored: Scored, ev: Any, clf: Any, parts: Split, dups: Any, config: RunConfig,
                    train_labels: Any) -> dict[str, Any] | None:
    """How the run kept test images apart from their copies among the training images."""
    if dups is None and scored.n_copies == 0:
        return None
    if dups is None:
        gate = "no audit: test images that are copies of training images (by fingerprint) are left out"
    elif config.allow_leakage:
        gate = "off (leakage allowed)"
    elif parts.params["predefined"]:
        gate = "the source's own split is kept; leaked test images are left out of the headline numbers"
    else:
        gate = "group-aware split: every duplicate group on one side"
    out = {"gate": gate, "n_leaked_test_images": scored.n_copies,
           "images_moved": int(parts.params.get("images_moved_to_keep_duplicates_together", 0))}
    if scored.n_left_out:
        out["with_leaks"] = _score(evaluate(clf, scored.candidates, val=parts.val, train_labels=train_labels))
    out["without_leaks"] = _score(ev)
    return out


def _score(ev: Any) -> dict[str, Any]:
    acc, ci = headline(ev)
    return {"accuracy": acc, "accuracy_ci": list(ci), "n_test": ev.n_test, "n_wrong": ev.n_wrong}


def diagnose(clf: Any, ev: Any, train_ds: Dataset, training: dict[str, Any] | None, seed: int,
             baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    """The training verdict: the train-test gap against its own uncertainty, for networks
    the curves, and whether the model scores below the quick baseline by more than chance
    explains (the paired test the baseline made on the same test images)."""
    from functools import partial

    from ..evaluation import training_verdict

    acc, ci = headline(ev)
    n = min(len(train_ds), TRAIN_ACCURACY_SAMPLE)
    training_verdict = partial(training_verdict, train_n=n)
    if baseline and baseline.get("accuracy") is not None:
        training_verdict = partial(training_verdict, baseline_accuracy=baseline["accuracy"],
                                   baseline_name=f"the quick baseline ({baseline['model']})",
                                   baseline_paired=baseline.get("paired"), baseline_ci=baseline.get("accuracy_ci"))
    # The model that was tested, scored on training images: for a network, the epoch's own
    # training accuracy in its history was taken before the best weights came back and their
    # BatchNorm statistics were recomputed, and after a short fit it read 20% where the same
    # net scored 50% on the test images.
    rng = np.random.default_rng(seed)
    sub = train_ds.subset(np.sort(rng.choice(len(train_ds), n, replace=False)))
    train_acc = clf.score(sub)  # subset accuracy for several labels per image
    what = "all training images" if n == len(train_ds) else f"{n:,} training images drawn at random"
    if training and training.get("history"):
        hist = training["history"]
        best = training.get("best_epoch") or len(hist)
        return training_verdict(acc, ci, train_acc, hist, best_epoch=best,
                                stopped_early=bool(training.get("stopped_early")),
                                train_accuracy_on=f"{what} (the model as tested)")
    return training_verdict(acc, ci, train_acc, None, train_accuracy_on=what)


def audit_step(ds: Dataset, parts: Split, dups: Any, config: RunConfig,
               on_progress: Progress | None) -> Any:
    """The audit of the data (an Audit), its label check on the training images; None
    when the audit is turned off."""
    if dups is None:
        return None
    from ..checks import audit as run_audit

    return run_audit(ds, parts=parts.assignment, duplicates=dups, label_part="train", seed=config.seed,
                     on_progress=on_progress)


def quick_baseline_step(parts: Split, scored: Scored, clf: Any, config: RunConfig, ev: Any = None) -> dict[str, Any]:
    from ..diagnostics.sanity import quick_baseline

    return quick_baseline(parts.train, scored.test, clf, config.seed, model_pred=None if ev is None else ev.y_pred)


def shuffle_step(config: RunConfig, parts: Split, scored: Scored, ev: Any,
                 on_progress: Progress | None) -> dict[str, Any] | None:
    if not config.shuffle_check:
        return None
    from ..diagnostics.sanity import shuffled_label_check

    if on_progress is not None:
        on_progress("sanity check: training on shuffled labels", 0, 0)
    base = ev.baselines if hasattr(ev, "baselines") else {"chance": 0.0, "majority": 0.0}
    return shuffled_label_check(parts.train, scored.test,
                                lambda shuffled: fit_step(config, parts, config.seed, train=shuffled),
                                config.seed, base)


def stress_step(clf: Any, scored: Scored, ev: Any, config: RunConfig, folder: RunFolder,
                on_progress: Progress | None, *, train: Dataset | None = None) -> dict[str, Any] | None:
    if not config.stress or scored.test.multilabel:
        return None
    from ..diagnostics import robustness

    data, examples = robustness(clf, scored.test, threshold=ev.flagged["threshold"], seed=config.seed, train=train,
                                on_progress=on_progress)
    return folder.write_stress(data, examples)


def repeats_step(ds: Dataset, ev: Any, config: RunConfig, dups: Any,
                 on_progress: Progress | None) -> dict[str, Any] | None:
    """Re-split and re-train with seeds seed+1 ... with the same leak gate and the same
    rule for which test images count as the first run."""
    if config.repeats <= 1:
        return None
    from ..diagnostics.stability import repeat_runs

    spec = get_spec(config.model)

    def run_one(seed: int) -> Any:
        parts = split_step(ds, config, spec, seed, dups)
        clf = fit_step(config, parts, seed)
        # the headline's rule for which test images count (without the audit, the fingerprints)
        scored = score_step(ds, parts, dups, None if dups is not None else fingerprint_step(ds, parts, dups), config)
        return evaluate(clf, scored.test, val=parts.val)

    return repeat_runs(ev, config.seed, config.repeats, run_one, predefined_split=ds.predefined_split is not None,
                       on_progress=on_progress)
