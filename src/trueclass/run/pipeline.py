"""``train``: a run as a pipeline of steps, each returning its section of metrics.json.

load -> duplicates -> split -> fit -> score -> write the model -> checks (verdict, audit,
baseline, shuffled labels, stress, explanations, slices, repeats) -> write the rest.
``metrics.json`` is assembled once, by :func:`assemble_metrics`, from the sections. A
failure before the model is written leaves no folder; a failed check after it is
caught by :func:`_optional` and reported in metrics.json's warnings, and the run is kept.
"""

from __future__ import annotations

import logging
import shutil
import time
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .. import __version__
from .._errors import TrueclassError
from ..checks.stability import headline
from ..data import Dataset, Split, load, split
from ..evaluation import Evaluation, evaluate
from ..models import get_spec
from ..models._choice import AUTO, FINETUNE, choose_model, model_for_params
from ..training import TrainingInterrupted
from ..training import _distributed as dist
from .config import DEFAULT_MODEL_NAME, RunConfig, as_budgeted, budget_for_fit
from .folder import RUNS_DIR, RunFolder
from .provenance import counts_by_split, dataset_info, environment, model_record, source_name
from .scoring import Scored, scored_images, test_copies
from .why import EXPLAIN_DIR, explain_misread, slices_section

__all__ = ["Run", "train", "run_training", "resume", "assemble_metrics", "IncompleteRunWarning", "OPTIONAL_STEPS",
           "TRAIN_ACCURACY_SAMPLE"]

#: Training accuracy (for the train-test gap) of pixel models is measured on at most
#: this many training images; networks report theirs per epoch in the history.
TRAIN_ACCURACY_SAMPLE = 2000
_log = logging.getLogger(__name__)

Progress = Callable[..., None]


@dataclass
class Run:
    """What a run produced: the fitted model, its evaluation, and where it was written."""

    path: Path
    model: Any
    evaluation: Evaluation
    dataset: Dataset
    split: Split | None
    metrics: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        from ..report._text import format_report_card

        return format_report_card(self.metrics, str(self.path))

    @property
    def card_path(self) -> Path:
        from ..report._card import CARD_HTML

        return self.path / CARD_HTML

    def _repr_html_(self) -> str:
        """Jupyter shows the run as its evidence card, in a frame so its script and style
        stay its own."""
        import html

        card = self.card_path.read_text(encoding="utf-8") if self.card_path.is_file() else ""
        if not card:
            return self.evaluation._repr_html_()
        return (f'<iframe title="evidence card" srcdoc="{html.escape(card, quote=True)}" '
                'style="width:100%;height:720px;border:1px solid #ddd" sandbox="allow-scripts"></iframe>')

    def __repr__(self) -> str:
        acc = headline(self.evaluation)[0]
        return f"Run(path={str(self.path)!r}, accuracy={acc:.4f}, n_test={self.evaluation.n_test})"


# -- the front door ---------------------------------------------------------------------------
def train(source: str | Path | Dataset = "digits", *, out: str | Path | None = None, overwrite: bool = False,
          runs_dir: str | Path = RUNS_DIR, on_progress: Progress | None = None, **settings: Any) -> Run:
    """Load ``source``, split it, train a model, evaluate it on the held-out test part,
    and write the run folder. Returns the :class:`Run`.

    ``settings`` are the fields of :class:`RunConfig`: ``model`` and its ``params``
    (hyperparameters), ``test_size``, ``val_size`` (share of the training part held out
    for validation: early stopping and history of networks, the review threshold; the
    model's own default when None), ``seed``, ``stratify``, ``image_size``,
    ``color_mode``, ``data_dir``, ``repeats`` (K > 1 re-splits and re-trains with seeds
    seed+1, ... and records the spread under ``stability``), ``audit`` (duplicates keep
    to one side of the split, leaked test images of a source that comes split are left
    out of the headline, likely label errors are listed), ``allow_leakage``, ``stress``
    (perturbations and images of no class), ``shuffle_check`` (the same recipe on
    shuffled labels must score near chance) and ``unknown_class`` (a "none of these"
    class). The test part is used for nothing but the score.
    """
    if not isinstance(source, (str, Path, Dataset)):  # the lesson's arrays, (X, y): what tc.load takes
        from ..data import load

        source = load(source)
    dataset = source if isinstance(source, Dataset) else None
    name = str(source.provenance.get("source")) if dataset is not None else str(source)
    unknown = sorted(set(settings) - {f.name for f in fields(RunConfig)})
    if unknown:
        model = settings.get("model", DEFAULT_MODEL_NAME)
        if model == AUTO:  # the model the setting would belong to
            try:
                model = model_for_params({unknown[0]: None})[0]
            except TrueclassError:
                pass
        spec = get_spec(model) if isinstance(model, str) and model != AUTO else None
        if spec is not None and unknown[0] in spec.defaults:
            raise TrueclassError(f"{unknown[0]!r} is a parameter of model {model!r}: pass it as params="
                                 f"{{{unknown[0]!r}: {settings[unknown[0]]!r}}}.")
        raise TrueclassError(f"train() has no setting {unknown[0]!r}; it takes "
                             f"{', '.join(f.name for f in fields(RunConfig) if f.name != 'source')}.")
    config = RunConfig(source=name, **settings)
    return run_training(config, dataset=dataset, out=out, overwrite=overwrite, runs_dir=runs_dir,
                        on_progress=on_progress)


def resume(run_dir: str | Path, *, on_progress: Progress | None = None) -> Run:
    """Go on with a run that was stopped (Ctrl-C, kill -9, a crash) from its last checkpoint.

    The run's config.json gives the source, split and recipe; training restarts after
    the last finished epoch and ends with the same weights as an uninterrupted run.
    """
    import json

    from .folder import CHECKPOINT

    path = Path(run_dir).expanduser()
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise TrueclassError(f"{str(path)!r} is not a run folder (it has no config.json); nothing to resume.")
    if (path / "metrics.json").is_file() and not (path / CHECKPOINT).is_file():
        raise TrueclassError(f"The run in {str(path)!r} already finished; there is nothing to resume.")
    config = RunConfig.from_dict(json.loads(cfg_file.read_text(encoding="utf-8")))
    return run_training(config, resume_folder=RunFolder(path), on_progress=on_progress)


# -- the pipeline ---------------------------------------------------------------------------------
def run_training(config: RunConfig, *, dataset: Dataset | None = None, out: str | Path | None = None,
                 overwrite: bool = False, runs_dir: str | Path = RUNS_DIR, resume_folder: RunFolder | None = None,
                 on_progress: Progress | None = None) -> Run:
    """The run that ``config`` describes; a run that fails leaves no folder behind (one
    stopped by Ctrl-C keeps its checkpoint, to resume). Once the model is trained, a
    failed check or diagnostic is reported instead (metrics.json's warnings, an
    :class:`IncompleteRunWarning`) and the run is kept.

    Under torchrun every process runs this: each loads the data and splits it the same
    way (both are deterministic), a network trains with DistributedDataParallel, and the
    test images are scored in shards, each exactly once; then rank 0 alone evaluates,
    runs the checks and writes the run folder, and the other processes return None.
    Models that are not networks train in rank 0 alone."""
    started = time.monotonic()  # a time budget counts the whole run
    dist.setup()
    choice = model_for_params(config.params) if config.model == AUTO else None  # parameters name their model
    if choice is not None:
        config = replace(config, model=choice[0])
    if config.model != AUTO:
        get_spec(config.model)  # an unknown name, a misspelt or meaningless parameter: before any work
        make_classifier(config, config.seed).check_params()
    if resume_folder is None:  # writable, outside a folder source: before any work
        RunFolder.check_place(out, overwrite=overwrite, runs_dir=runs_dir,
                              source=config.source if dataset is None else dataset)
    ds = load_step(config, dataset, on_progress)
    if config.slice_by:
        from ..data._slices import check_slice_by

        check_slice_by(ds, config.slice_by)  # a missing column fails before any training
    if config.model == AUTO:
        from ..data._dataset import to_display

        choice = choose_model(to_display(ds.images[:500], ds.value_max))
        config = replace(config, model=choice[0])
    spec = get_spec(config.model)
    dups = duplicates_step(ds, config, on_progress)
    may_finetune = choice is not None and config.model == "lite0" and not config.params
    parts = split_step(ds, config, spec, config.seed, dups, val_for_finetuning=may_finetune)
    if not spec.is_network:
        dist.teardown()  # nothing to share: rank 0 goes on alone
    if not dist.is_main():
        return _train_as_worker(config, ds, dups, parts, resume_folder) if dist.broadcast_flag(False) else None
    try:
        folder = resume_folder or RunFolder.create(out, f"{source_name(dataset or config.source)}-{config.model}",
                                                   overwrite=overwrite, runs_dir=runs_dir)
    except BaseException:
        dist.broadcast_flag(False)  # the other processes stop instead of waiting for this one
        raise
    dist.broadcast_flag(True)
    try:
        chosen = None if choice is None else {"model": choice[0], "why": choice[1]}
        folder.write_json("config.json", config_json(config, ds, chosen=chosen))  # first, so a killed run can resume
        run = _train_in(folder, config, ds, dups, parts, resume=resume_folder is not None, on_progress=on_progress,
                        chosen=chosen, started=started)
    except KeyboardInterrupt:
        raise
    except TrainingInterrupted as exc:
        if exc.checkpoint is None and resume_folder is None:
            shutil.rmtree(folder.path, ignore_errors=True)
            raise
        raise TrainingInterrupted(f"{exc.stopped}; the checkpoint after the last finished epoch is kept. "
                                  f"Resume with: tc.resume({str(folder.path)!r})", checkpoint=exc.checkpoint,
                                  stopped=exc.stopped) from None
    except BaseException:
        if resume_folder is None and not folder.checkpoint.is_file():
            shutil.rmtree(folder.path, ignore_errors=True)  # nothing half-made is left behind
        raise
    _warn_if_incomplete(run)  # outside the try: a warning turned into an error keeps the run
    return run


def _train_in(folder: RunFolder, config: RunConfig, ds: Dataset, dups: Any, parts: Split, *, resume: bool,
              on_progress: Progress | None, chosen: dict[str, str] | None = None, started: float = 0.0) -> Run:
    """Fit, score and evaluate (required: a failure removes the folder), write the model,
    then the checks and diagnostics, each through :func:`_optional`: a failure there is
    reported in metrics.json's warnings and costs nothing else."""
    from ..report._card import AUDIT_ARRAYS

    fingerprints = fingerprint_step(ds, parts, dups)
    clf = fit_step(budget_for_fit(config, started), parts, config.seed, folder=folder, resume=resume,
                   on_progress=on_progress, fingerprints=fingerprints)
    refits = as_budgeted(config, clf)  # the checks' refits repeat the recipe the budget chose
    if chosen is not None and config.model == "lite0" and not config.params:
        config, clf, chosen = finetune_step(config, parts, clf, chosen, folder, on_progress, fingerprints)
    scored = score_step(ds, parts, dups, fingerprints, config)
    if on_progress is not None:
        on_progress("evaluating", 0, 0)
    train_labels = None if ds.multilabel else clf.label_indices(parts.train, "training")
    held_out = held_out_step(clf)  # fitted with the model: its temperature came from them
    test_probs = sharded_test_probs(clf, scored)
    dist.teardown()  # the checks and the writing run in this process alone
    ev = evaluate(clf, scored.test, val=parts.val, train_labels=train_labels, held_out=held_out,
                  test_probs=test_probs)
    training = clf.estimator_.training_record()
    leakage = leakage_section(scored, ev, clf, parts, dups, config, train_labels)
    cfg = config_json(config, ds, clf, chosen=chosen)
    # the trained model is on disk before any check runs
    folder.write_json("config.json", cfg)
    folder.write_split(parts)
    folder.write_model(clf, **model_record(ev, ds, parts, fingerprints))
    if training is not None:
        folder.write_history(training["history"])

    failed: list[dict[str, str]] = []
    quick = None if ds.multilabel else _optional(
        "quick_baseline", lambda: _quick_baseline(parts, scored, clf, config, ev), failed)
    sections: dict[str, Any] = {
        "training": training,
        "diagnosis": _optional("diagnosis", lambda: diagnose(clf, ev, parts.train, training, config.seed,
                                                              baseline=quick), failed),
        "leakage": leakage,
        "audit": _optional("audit", lambda: _audit_written(folder, ds, parts, dups, config, on_progress), failed,
                           leaves=[folder.path / "audit.json", folder.path / AUDIT_ARRAYS]),
        "quick_baseline": quick,
        "sanity": _optional("shuffle_check", lambda: shuffle_step(refits, parts, scored, ev, on_progress), failed),
        "robustness": _optional("stress", lambda: stress_step(clf, scored, ev, config, folder, on_progress,
                                                              train=parts.train), failed,
                                leaves=[folder.path / "stress.json", folder.path / "stress"]),
        "explanations": _optional("explanations", lambda: explain_misread(clf, scored.test, ev, folder.path,
                                                                          on_progress=on_progress), failed,
                                  leaves=[folder.path / EXPLAIN_DIR]),
        "slices": _optional("slices", lambda: slices_section(config.slice_by, scored.test, ev, seed=config.seed),
                            failed),
        "stability": _optional("repeats", lambda: repeats_step(ds, ev, refits, dups, on_progress), failed),
    }
    run_facts = {
        "n_train": parts.n_train,
        "n_val": parts.n_val,
        "model": config.model,
        **({"model_chosen": chosen} if chosen else {}),
        "params": {k: v for k, v in clf.get_params().items() if k != "model"},
        "seed": config.seed,
        "train_seconds": clf.train_seconds_,
        "split": parts.params,
        "dataset": dataset_info(ds) | {"counts_by_split": counts_by_split(parts)},
        "environment": environment(),
        **({"allow_leakage": True} if config.allow_leakage else {}),
    }
    numbers = ev.to_dict()
    metrics = assemble_metrics(numbers, run_facts, sections, failed=failed)
    if _write_results(folder, ev, scored.test, metrics, on_progress, failed):
        metrics = assemble_metrics(numbers, run_facts, sections, failed=failed)
        folder.write_json("metrics.json", metrics)  # now saying that the card failed
    folder.checkpoint.unlink(missing_ok=True)  # the finished weights are in model/
    return Run(path=folder.path, model=clf, evaluation=ev, dataset=ds, split=parts, metrics=metrics, config=cfg)


#: The steps after training whose failure is reported (metrics.json's warnings) instead
#: of costing the run, in the order they run.
OPTIONAL_STEPS = ("quick_baseline", "diagnosis", "audit", "shuffle_check", "stress", "explanations", "slices",
                  "repeats", "card")


class IncompleteRunWarning(UserWarning):
    """A run finished and kept its model and test scores, but a step after training
    failed (a check, a diagnostic or the card); ``Run.metrics["warnings"]`` says which."""


def _optional(step: str, fn: Callable[[], Any], failed: list[dict[str, str]], *,
              leaves: Sequence[Path] = ()) -> Any:
    """``fn()``, or None when it raises an ``Exception``: the failure is appended to
    ``failed`` as ``{"step", "error"}`` (the exception's type and message on one line)
    and what the step had written (``leaves``) is removed. KeyboardInterrupt and other
    BaseExceptions pass through."""
    try:
        return fn()
    except Exception as exc:  # a bug in a check must not cost the trained model
        _record_failure(step, exc, failed, leaves)
        return None


def _record_failure(step: str, exc: Exception, failed: list[dict[str, str]], leaves: Sequence[Path]) -> None:
    _log.debug("the %s step failed", step, exc_info=exc)
    failed.append({"step": step, "error": one_line_error(exc)})
    for path in leaves:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def one_line_error(exc: BaseException, limit: int = 300) -> str:
    """'RuntimeError: what it said', on one line and at most ``limit`` characters."""
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def step_failure_message(step: str, error: str) -> str:
    return (f"The run is incomplete: {step.replace('_', ' ')} failed ({error}); the model and its test scores "
            "are kept.")


def _audit_written(folder: RunFolder, ds: Dataset, parts: Split, dups: Any, config: RunConfig,
                   on_progress: Progress | None) -> dict[str, Any] | None:
    """The audit's section, with audit.json and its thumbnails written."""
    report = audit_step(ds, parts, dups, config, on_progress)
    if report is not None:
        folder.write_audit(report, ds)
    return report


def _write_results(folder: RunFolder, ev: Any, test: Dataset, metrics: dict[str, Any],
                      on_progress: Progress | None, failed: list[dict[str, str]]) -> bool:
    """Write predictions.csv, errors/, evaluation.npz, metrics.json and the card; True
    when the card failed. What comes before the card is required (its failure is raised);
    the card is not: its failure is added to ``failed`` and nothing of it is left, so
    metrics.json can be written again, saying so."""
    from ..report._card import CARD_HTML, CARD_JSON

    metrics_file = folder.path / "metrics.json"
    metrics_file.unlink(missing_ok=True)  # (a resumed folder's) so that it tells how far the writing went
    try:
        folder.write_evaluation(ev, test, metrics, on_progress)
    except Exception as exc:
        if not metrics_file.is_file():
            raise  # metrics.json is written just before the card: something required failed
        _record_failure("card", exc, failed, [folder.path / n for n in (CARD_HTML, CARD_HTML + ".part", CARD_JSON)])
        return True
    return False


def _warn_if_incomplete(run: Run) -> None:
    from ..report._text import failed_steps

    failures = failed_steps(run.metrics)
    if failures:
        what = "; ".join(f"{w['step'].replace('_', ' ')} failed ({w['error']})" for w in failures)
        warnings.warn(f"The run in {str(run.path)!r} is incomplete: {what}. The model and its test scores are kept; "
                      "run.metrics['warnings'] lists what failed.", IncompleteRunWarning, stacklevel=3)


def _train_as_worker(config: RunConfig, ds: Dataset, dups: Any, parts: Split,
                     resume_folder: RunFolder | None) -> None:
    """A process of rank > 0 under torchrun: its share of the training and of the test
    images' scoring; rank 0 writes everything. Returns None."""
    fingerprints = fingerprint_step(ds, parts, dups) if dups is None else None
    clf = fit_step(config, parts, config.seed, folder=resume_folder, resume=resume_folder is not None)
    sharded_test_probs(clf, score_step(ds, parts, dups, fingerprints, config))
    dist.teardown()
    return None


def sharded_test_probs(clf: Any, scored: Scored) -> np.ndarray | None:
    """Under torchrun, the raw probabilities of every scored test image, each computed by
    exactly one process (contiguous shards, no padding) and gathered in order; None in a
    single process."""
    if not dist.active():
        return None
    mine = dist.shard(len(scored.test))
    local = (clf.predict_proba(scored.test.subset(mine), raw=True) if len(mine)
             else np.zeros((0, len(clf.classes_))))
    return dist.all_concat(local)


def assemble_metrics(evaluation: dict[str, Any], run: dict[str, Any], sections: dict[str, Any],
                     failed: Sequence[dict[str, str]] = ()) -> dict[str, Any]:
    """metrics.json from the Evaluation's numbers, the run's facts and the steps'
    sections (a section that is None was not run, or failed). ``failed`` are the
    optional steps that failed (``{"step", "error"}``): they lead the warnings. Pure:
    changes none of its inputs."""
    from ..evaluation._diagnosis import data_warnings

    m = {**evaluation, **run}
    extra = {k: v for k, v in sections.items() if v is not None}
    quick = extra.pop("quick_baseline", None)
    if quick is not None:
        m["baselines"] = {**m["baselines"], "logistic_regression": quick}
    m |= extra
    m["warnings"] = [{"kind": "step_failed", "step": f["step"], "error": f["error"],
                      "message": step_failure_message(f["step"], f["error"])} for f in failed]
    m["warnings"] += data_warnings(m["dataset"]["counts_by_split"], m.get("per_class"))
    return m


def config_json(config: RunConfig, ds: Dataset, clf: Any = None, *, chosen: dict[str, str] | None = None) -> dict[str, Any]:
    """config.json: the configuration, the command that repeats it, and what the run
    resolved (the model when none was named, and why; image size and colour mode; for
    networks augmentation, recipe, runtime)."""
    resolved: dict[str, Any] = {"model_chosen": chosen} if chosen else {}
    resolved |= {"image_size": list(ds.image_size), "color_mode": ds.color_mode}
    if clf is not None:
        resolved |= clf.estimator_.resolved()
    if dist.world_size() > 1:
        recipe = resolved.get("recipe_used") or {}
        resolved["distributed"] = {
            "world_size": dist.world_size(), "backend": dist.BACKEND,
            "trained_with": "DistributedDataParallel" if get_spec(config.model).is_network else "rank 0 alone",
            **({"global_batch": recipe["batch_size"], "per_process_batch": -(-recipe["batch_size"] // dist.world_size()),
                "lr": recipe.get("lr")} if recipe.get("batch_size") else {}),
        }
    return {**config.to_dict(), "command": config.command(), "trueclass_version": __version__,
            "resolved": resolved}


# -- the steps ------------------------------------------------------------------------------------
def make_classifier(config: RunConfig, seed: int) -> Any:
    """The unfitted estimator of ``config`` (its seed as random_state unless given)."""
    from ..models import ImageClassifier

    params = dict(config.params)
    if get_spec(config.model).accepts_random_state:
        params.setdefault("random_state", seed)
    return ImageClassifier(config.model, **params)


def load_step(config: RunConfig, dataset: Dataset | None, on_progress: Progress | None) -> Dataset:
    if dataset is not None:
        ds = dataset
    else:
        with dist.machine_first():  # one process a machine fills its disk cache of decoded images
            ds = load(config.source, image_size=config.image_size, color_mode=config.color_mode,
                      data_dir=config.data_dir, on_progress=on_progress)
    if config.unknown_class:
        from ..checks._stress import with_unknown_class

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
        from ..models._torch import MIN_VAL_IMAGES

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
        from ..data._hashing import groups_from_pairs

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
                  on_progress: Progress | None, fingerprints: Any) -> tuple[RunConfig, Any, dict[str, Any]]:
    """With the probe chosen by "auto": fine-tune the backbone too where the probe is weak
    on the validation images and the training part is small (models._choice.FINETUNE),
    and keep whichever is more accurate there. (The fine-tuning also stops early on those
    images, which flatters it a little; the test images decide nothing here.)"""
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
    tuned = fit_step(tuned_config, parts, config.seed, folder=folder, on_progress=on_progress,
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
    from ..models._fingerprints import Fingerprints
    from ..data._dataset import to_display

    seen = np.sort(np.concatenate([parts.indices["train"], parts.indices.get("val", np.zeros(0, np.int64))]))
    phash = None if dups is None or dups.phash is None else dups.phash[seen]
    return Fingerprints.of(to_display(ds.images[seen], ds.value_max), phash=phash)


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

    from ..evaluation._diagnosis import training_verdict

    acc, ci = headline(ev)
    n = min(len(train_ds), TRAIN_ACCURACY_SAMPLE)
    training_verdict = partial(training_verdict, train_n=n)
    if baseline and baseline.get("accuracy") is not None:
        training_verdict = partial(training_verdict, baseline_accuracy=baseline["accuracy"],
                                   baseline_name=f"the quick baseline ({baseline['model']})",
                                   baseline_paired=baseline.get("paired"), baseline_ci=baseline.get("accuracy_ci"))
    if training and training.get("history"):
        hist = training["history"]
        best = training.get("best_epoch") or len(hist)
        row = hist[min(len(hist), int(best)) - 1]
        return training_verdict(acc, ci, row.get("train_accuracy"), hist, best_epoch=best,
                                stopped_early=bool(training.get("stopped_early")),
                                train_accuracy_on=f"{n:,} training images (epoch {best}, no augmentation)")
    rng = np.random.default_rng(seed)
    sub = train_ds.subset(np.sort(rng.choice(len(train_ds), n, replace=False)))
    train_acc = clf.score(sub)  # subset accuracy for several labels per image
    what = "all training images" if n == len(train_ds) else f"{n:,} training images drawn at random"
    return training_verdict(acc, ci, train_acc, None, train_accuracy_on=what)


def audit_step(ds: Dataset, parts: Split, dups: Any, config: RunConfig,
               on_progress: Progress | None) -> dict[str, Any] | None:
    if dups is None:
        return None
    from ..checks import audit as run_audit

    return run_audit(ds, parts=parts.assignment, duplicates=dups, label_part="train", seed=config.seed,
                     on_progress=on_progress).to_dict()


def _quick_baseline(parts: Split, scored: Scored, clf: Any, config: RunConfig, ev: Any = None) -> dict[str, Any]:
    from ..checks.sanity import quick_baseline

    return quick_baseline(parts.train, scored.test, clf, config.seed, model_pred=None if ev is None else ev.y_pred)


def shuffle_step(config: RunConfig, parts: Split, scored: Scored, ev: Any,
                 on_progress: Progress | None) -> dict[str, Any] | None:
    if not config.shuffle_check:
        return None
    from ..checks.sanity import shuffled_label_check

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
    from ..checks._stress import ood_check, stress_test

    from ..checks._explain import shortcut_check

    data, examples = stress_test(clf, scored.test, seed=config.seed, on_progress=on_progress)
    data["ood"] = ood_check(clf, scored.test, threshold=ev.flagged["threshold"], seed=config.seed,
                            reference=train)
    data["shortcuts"] = shortcut_check(clf, train, scored.test, seed=config.seed, on_progress=on_progress)
    return folder.write_stress(data, examples)


def repeats_step(ds: Dataset, ev: Any, config: RunConfig, dups: Any,
                 on_progress: Progress | None) -> dict[str, Any] | None:
    """Re-split and re-train with seeds seed+1 ... with the same leak gate and the same
    rule for which test images count as the first run."""
    if config.repeats <= 1:
        return None
    from ..checks.stability import repeat_runs

    spec = get_spec(config.model)

    def run_one(seed: int) -> Any:
        parts = split_step(ds, config, spec, seed, dups)
        clf = fit_step(config, parts, seed)
        # the headline's rule for which test images count (without the audit, the fingerprints)
        scored = score_step(ds, parts, dups, None if dups is not None else fingerprint_step(ds, parts, dups), config)
        return evaluate(clf, scored.test, val=parts.val)

    return repeat_runs(ev, config.seed, config.repeats, run_one, predefined_split=ds.predefined_split is not None,
                       on_progress=on_progress)
