"""``train``: a run as a pipeline of steps, each returning its section of metrics.json.

load -> duplicates -> split -> fit -> score -> write the model -> checks (verdict, audit,
baseline, shuffled labels, stress, explanations, slices, repeats) -> write the rest.
``metrics.json`` is assembled once, by :func:`assemble_metrics`, from the sections. A
failure before the model is written leaves no folder; a failed check after it is
caught by :func:`_optional` and reported in metrics.json's warnings, and the run is kept.
"""

from __future__ import annotations

import inspect
import logging
import shutil
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .. import __version__
from .._errors import ImagesChanged, TrueclassError
from ..diagnostics.stability import headline
from ..data import Dataset, Split
from ..evaluation import Evaluation, evaluate
from ..models import AUTO, choose_model, get_spec, model_for_params
from ..training import TrainingInterrupted, _distributed as dist, named_setting
from .config import DEFAULT_MODEL_NAME, RunConfig, as_budgeted, budget_for_fit, source_path
from .folder import RUNS_DIR, RunFolder
from .provenance import dataset_info, environment, model_record, source_name
from .metrics import assemble_metrics
from .scoring import Scored
from .steps import (OPTIONAL_STEPS, TRAIN_ACCURACY_SAMPLE, IncompleteRunWarning, audit_step, diagnose,
                    duplicates_step, fingerprint_step, finetune_step, fit_step, held_out_step, leakage_section,
                    load_step, make_classifier, optional, quick_baseline_step, record_failure, repeats_step,
                    score_step, shuffle_step, split_step, stress_step, timed)
from .trackers import TENSORBOARD_DIR, check_trackers, log_run
from .why import EXPLAIN_DIR, explain_misread, slices_section
from .._numerics import keeps_torch_numerics

__all__ = ["Run", "train", "run_training", "resume", "assemble_metrics", "IncompleteRunWarning", "OPTIONAL_STEPS",
           "TRAIN_ACCURACY_SAMPLE"]

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
        """What ``trueclass train`` (or ``evaluate``) prints of this run: what it did, with
        its warnings (a model below its baseline, leaks, the verdict), the files it skipped,
        the report card and where the evidence card is."""
        from ..report import format_run_summary

        return format_run_summary(self.metrics, str(self.path), card=self.card_path.is_file())

    def __str__(self) -> str:  # print(run) in a script: what the command line prints
        return self.summary()

    @property
    def card_path(self) -> Path:
        from ..report import CARD_HTML

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
          runs_dir: str | Path = RUNS_DIR, on_progress: Progress | None = None, preset: str | None = None,
          progress: bool = True, **settings: Any) -> Run:
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
    shuffled labels must score near chance), ``unknown_class`` (a "none of these"
    class), ``device`` (cpu, cuda or cuda:K: where the model, the audit's label model,
    the backbone and the checks run; default a GPU when torch sees one) and ``precision``
    (bf16, fp16 or fp32 for all of them; default the hardware's). The test part is used
    for nothing but the score. ``preset`` names a network
    recipe, as ``trueclass train --preset`` does: ``"quick"`` or ``"best"`` (its values
    under any given in ``params``). Without ``on_progress``, a progress bar shows on
    stderr in a terminal or a notebook (``progress=False``: none), as the command's does.
    """
    if preset is not None:
        from .config import with_preset

        settings["params"] = with_preset(preset, settings.get("params") or {})
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
        own = [n for n, a in inspect.signature(train).parameters.items() if a.kind is a.KEYWORD_ONLY]
        raise TrueclassError(f"train() has no setting {unknown[0]!r}; it takes "
                             f"{', '.join(f.name for f in fields(RunConfig) if f.name != 'source')}, and "
                             f"{', '.join(own[:-1])} and {own[-1]}.")
    config = RunConfig(source=name, **settings)
    with _progress_for(on_progress, progress) as shown:
        return run_training(config, dataset=dataset, out=out, overwrite=overwrite, runs_dir=runs_dir,
                            on_progress=shown)


@contextmanager
def _progress_for(on_progress: Progress | None, progress: bool) -> Iterator[Progress | None]:
    """``on_progress`` where given, else the command line's progress bar (``progress``;
    under torchrun, in the first process only; from the main thread only: rich's live
    display takes over the whole process's stdout and stderr while it runs)."""
    import threading

    if on_progress is not None or not progress or not dist.is_main() or \
            threading.current_thread() is not threading.main_thread():
        yield on_progress
        return
    from .._progress import ProgressBar

    with ProgressBar() as bar:
        yield bar


#: What a resume may change of a run: where it runs and where its data set's files are.
RESUME_MOVES = ("device", "precision", "data_dir")


def resume(run_dir: str | Path, *, dataset: Dataset | None = None, device: str | None = None,
           precision: str | None = None, data_dir: str | Path | None = None,
           on_progress: Progress | None = None, progress: bool = True) -> Run:
    """Go on with a run that was stopped (Ctrl-C, kill -9, a crash) from its last checkpoint.

    The run's config.json gives the source, split, recipe, device and precision; training
    restarts after the last finished epoch and ends with the same weights as an
    uninterrupted run. ``dataset``: the Dataset a run trained on in Python (``tc.train(ds)``),
    which its source's name does not load again. ``device`` (cpu, cuda, cuda:K),
    ``precision`` and ``data_dir`` move it where the recorded ones are not on this machine
    (another precision gives other weights). The images must be the ones the run began
    with (a sentence otherwise). A progress bar shows as in :func:`train`.
    """
    config = resumed_config(run_dir, device=device, precision=precision, data_dir=data_dir)
    with _progress_for(on_progress, progress) as shown:
        return run_training(config, dataset=dataset, resume_folder=RunFolder(Path(run_dir).expanduser()),
                            on_progress=shown)


def resumed_config(run_dir: str | Path, **moves: Any) -> RunConfig:
    """The configuration a resume of ``run_dir`` goes on with: its config.json, with the
    RESUME_MOVES given in ``moves`` (a network's own parameter of that name too); a
    sentence for a folder that is no run, or a finished one."""
    import json

    from .folder import CHECKPOINT

    path = Path(run_dir).expanduser()
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise TrueclassError(f"{str(path)!r} is not a run folder (it has no config.json); nothing to resume.")
    if (path / "metrics.json").is_file() and not (path / CHECKPOINT).is_file():
        raise TrueclassError(f"The run in {str(path)!r} already finished; there is nothing to resume.")
    recorded = json.loads(cfg_file.read_text(encoding="utf-8"))
    config = RunConfig.from_dict(recorded)
    if ((recorded.get("resolved") or {}).get("model_chosen") or {}).get("by") == "from the data" and config.model != AUTO:
        config = replace(config, model=AUTO, params={})  # a run folder from before "auto" was recorded as asked
    for name, value in moves.items():  # resumed elsewhere: this machine's, not the recorded ones
        if name not in RESUME_MOVES:
            raise TypeError(f"resumed_config() got an unexpected keyword argument {name!r}")
        if value not in (None, ""):  # "auto": back to this machine's choice
            own = {name: str(value)} if named_setting(config.params.get(name)) is not None else {}
            moved = None if str(value).strip().lower() == "auto" and name != "data_dir" else str(value)
            config = replace(config, **{name: moved}, params={**config.params, **own})
    return config


def run_device(config: RunConfig) -> str | None:
    """The device of ``config``'s run: its ``device`` setting, else its network's own
    ``params['device']`` (None: "auto", a GPU when torch sees one); a sentence where the
    two name different devices."""
    return _run_setting(config, "device")


def _run_setting(config: RunConfig, name: str) -> str | None:
    """``config``'s run setting ``name`` (device, precision), else its network's own
    parameter of that name; None for "auto"."""
    run, own = named_setting(getattr(config, name)), named_setting(config.params.get(name))
    if run is not None and own is not None and own != run:
        raise TrueclassError(f"{name}={run!r} and the model's params {name}={own!r} differ; give one of them.")
    return run or own


# -- the pipeline ---------------------------------------------------------------------------------
@keeps_torch_numerics
def run_training(config: RunConfig, *, dataset: Dataset | None = None, out: str | Path | None = None,
                 overwrite: bool = False, runs_dir: str | Path = RUNS_DIR, resume_folder: RunFolder | None = None,
                 on_progress: Progress | None = None) -> Run:
    """The run that ``config`` describes (_run_training), on its device and in its
    precision (its own settings, else its model's parameters, else for a new run
    $TRUECLASS_DEVICE and $TRUECLASS_PRECISION, which config.json then keeps): the audit's
    label model, the backbone's embeddings and every check follow them (device_for_run)."""
    from ..training import auto_device_setting, auto_precision_setting, device_for_run, resolve_device

    if resume_folder is None:  # $TRUECLASS_DEVICE and $TRUECLASS_PRECISION are the run's: kept for --resume
        for name, setting in (("device", auto_device_setting()), ("precision", auto_precision_setting())):
            if setting and _run_setting(config, name) is None:
                config = replace(config, **{name: setting})
    # the run's own settings ("auto": the hardware's choice), whatever the environment says by now (a resume)
    with device_for_run(run_device(config) or "auto", _run_setting(config, "precision") or "auto"):
        resolve_device("auto")  # a GPU asked for where there is none: one sentence, before any work
        return _run_training(config, dataset=dataset, out=out, overwrite=overwrite, runs_dir=runs_dir,
                             resume_folder=resume_folder, on_progress=on_progress)


def _run_training(config: RunConfig, *, dataset: Dataset | None = None, out: str | Path | None = None,
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
    dist.setup(run_device(config))  # the run's device decides gloo or nccl
    asked = config  # what config.json records: a model chosen by "auto" is chosen again on resume and repeat
    choice = model_for_params(config.params) if config.model == AUTO else None  # parameters name their model
    chosen_by = "by its parameters"
    if choice is not None:
        config = replace(config, model=choice[0])
    if config.model != AUTO:
        get_spec(config.model)  # an unknown name, a misspelt or meaningless parameter: before any work
        make_classifier(config, config.seed).check_params()
    if resume_folder is None:  # writable, outside a folder source: before any work
        RunFolder.check_place(out, overwrite=overwrite, runs_dir=runs_dir,
                              source=config.source if dataset is None else dataset)
    if config.log:
        check_trackers(config.log)  # a tracker that is not installed: one sentence, before any work
    spent: dict[str, float] = {}  # metrics.json's seconds: what each part of the run cost
    if resume_folder is not None:
        _check_given(resume_folder, config, given=dataset is not None)
    with timed(spent, "load"):
        ds = load_step(config, dataset, on_progress)
    if resume_folder is not None:
        _check_same_images(resume_folder, ds)
    if config.slice_by:
        from ..data import check_slice_by

        check_slice_by(ds, config.slice_by)  # a missing column fails before any training
    if config.model == AUTO:
        from ..data import to_display

        choice, chosen_by = choose_model(to_display(ds.images[:500], ds.value_max)), "from the data"
        config = replace(config, model=choice[0])
    spec = get_spec(config.model)
    may_finetune = choice is not None and config.model == "lite0" and not config.params
    with timed(spent, "duplicates and split"):
        dups = duplicates_step(ds, config, on_progress)
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
    interrupted, in_python = None, dataset is not None
    try:
        chosen = None if choice is None else {"model": choice[0], "why": choice[1], "by": chosen_by}
        # first, so a killed run can resume
        folder.write_json("config.json", config_json(config, ds, chosen=chosen, asked=asked, in_python=in_python))
        run = _train_in(folder, config, ds, dups, parts, resume=resume_folder is not None, on_progress=on_progress,
                        chosen=chosen, started=started, spent=spent, asked=asked, in_python=in_python)
    except KeyboardInterrupt as exc:  # Ctrl-C (a network's fit says where it stood: a TrainingInterrupted)
        if not (folder.checkpoint.is_file() or (folder.path / "model" / "model.json").is_file()):
            if resume_folder is None:  # nothing to go on from: no half-made folder blocks the same command again
                shutil.rmtree(folder.path, ignore_errors=True)
            raise
        interrupted = _interrupted_run(folder, exc)
    except BaseException:
        if resume_folder is None and not folder.checkpoint.is_file():
            shutil.rmtree(folder.path, ignore_errors=True)  # nothing half-made is left behind
        raise
    if interrupted is not None:  # raised here, not in the handler: no Ctrl-C traceback as its context
        raise interrupted
    warn_if_incomplete(run)  # outside the try: a warning turned into an error keeps the run
    return run


def _check_given(folder: RunFolder, config: RunConfig, given: bool) -> None:
    """A sentence, before any loading, where the run in ``folder`` began on a Dataset given
    in Python and none is given now: its source's name ("arrays", or a built-in set a subset
    was cut from) does not load those images again."""
    began = folder.began_with() or {}
    if began.get("in_python") and not given:
        n, k = began["n_images"], len(began["classes"])
        raise ImagesChanged(f"The run in {str(folder.path)!r} began on a Dataset given in Python ({n:,} images in {k} "
                            f"classes), which its source's name {config.source!r} does not load again: go on with "
                            f"{folder.resume_call()}.", changes=f"{n:,} images then, given in Python")


def _check_same_images(folder: RunFolder, ds: Dataset) -> None:
    """A sentence, before any work, where the source no longer holds the images and labels
    the run in ``folder`` began with (config.json's ``resolved.data``): a resume would split
    other images and go on training on them, or fail on a class more or less."""
    began = folder.began_with()
    if not began or began.get("hash") == ds.hash:
        return
    n, k = began["n_images"], len(began["classes"])
    then = f"{n:,} image{'s' * (n != 1)} in {k} class{'es' * (k != 1)} then"
    now = f"{len(ds):,} in {len(ds.classes)} now" if (n, k) != (len(ds), len(ds.classes)) else "as many now, but not the same"
    added, gone = sorted(set(ds.classes) - set(began["classes"])), sorted(set(began["classes"]) - set(ds.classes))
    moved = "; ".join(x for x in (f"new: {', '.join(added)}" if added else "", f"gone: {', '.join(gone)}" if gone else "") if x)
    changes = f"{then}, {now}{'; ' + moved if moved else ''}"
    raise ImagesChanged(f"The images of {ds.provenance.get('source')!r} are not the ones the run in {str(folder.path)!r} "
                        f"began with ({changes}): a resume would go on with other images. Start a new run, or resume "
                        "once the images are as they were.", changes=changes)


def _interrupted_run(folder: RunFolder, exc: KeyboardInterrupt) -> TrainingInterrupted:
    """What a Ctrl-C says of a run folder that keeps a trained model or a checkpoint: where
    it stopped, what is kept and how to finish it (the resume it can have: a metrics.json
    written before the card is removed, else the folder would count as finished)."""
    from ..report import CARD_HTML

    at = str(folder.path)
    if (folder.path / "metrics.json").is_file() and (folder.path / CARD_HTML).is_file():  # the trackers' turn
        folder.checkpoint.unlink(missing_ok=True)  # the run is complete: nothing to resume
        stopped = "Stopped while logging the run to its trackers"
        return TrainingInterrupted(f"{stopped}; the run itself is complete in {at!r} (its card and metrics.json), "
                                   "but the trackers may lack part of it.", stopped=stopped)
    if (folder.path / "model" / "model.json").is_file():  # in the checks, or a check's own network fit
        (folder.path / "metrics.json").unlink(missing_ok=True)
        stopped, kept = "Stopped after training, before the run's checks and card were written", "the trained model"
    elif isinstance(exc, TrainingInterrupted) and exc.stopped:  # in the epochs
        stopped, kept = exc.stopped, "the checkpoint after the last finished epoch"
    else:  # calibration, the review threshold, the evaluation
        stopped, kept = "Stopped before the run's model was written", "the checkpoint after the last epoch"
    return TrainingInterrupted(f"{stopped}; {kept} is kept in {at!r}. Finish the run with: {folder.resume_call()}",
                               checkpoint=folder.checkpoint if folder.checkpoint.is_file() else None, stopped=stopped)


def _train_in(folder: RunFolder, config: RunConfig, ds: Dataset, dups: Any, parts: Split, *, resume: bool,
              on_progress: Progress | None, chosen: dict[str, str] | None = None, started: float = 0.0,
              spent: dict[str, float] | None = None, asked: RunConfig | None = None, in_python: bool = False) -> Run:
    """Fit, score and evaluate (required: a failure removes the folder), write the model,
    then the checks and diagnostics, each through :func:`_optional`: a failure there is
    reported in metrics.json's warnings and costs nothing else."""
    from ..report import AUDIT_ARRAYS

    spent = {} if spent is None else spent
    with timed(spent, "fingerprints"):
        fingerprints = fingerprint_step(ds, parts, dups)
    with timed(spent, "training"):  # the fit with its calibration and review threshold (held-out folds)
        clf = fit_step(budget_for_fit(config, started), parts, config.seed, folder=folder, resume=resume,
                       on_progress=on_progress, fingerprints=fingerprints)
    if chosen is not None and config.model == "lite0" and not config.params:
        with timed(spent, "fine-tuning"):
            config, clf, chosen = finetune_step(config, parts, clf, chosen, folder, on_progress, fingerprints,
                                                resume=resume)
    refits = as_budgeted(config, clf)  # the checks' refits repeat the recipe the budget (or fine-tuning) chose
    with timed(spent, "evaluation"):
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
    cfg = config_json(config, ds, clf, chosen=chosen, asked=asked, in_python=in_python)
    # the trained model is on disk before any check runs
    with timed(spent, "writing the model"):
        folder.write_json("config.json", cfg)
        folder.write_split(parts)
        folder.write_model(clf, **model_record(ev, ds, parts, fingerprints, scored.test))
        if training is not None:
            folder.write_history(training["history"])

    failed: list[dict[str, str]] = []

    def opt(step: str, fn: Callable[[], Any], leaves: Sequence[Path] = ()) -> Any:
        return optional(step, fn, failed, leaves=leaves, seconds=spent)

    quick = None if ds.multilabel else opt("quick_baseline",
                                           lambda: quick_baseline_step(parts, scored, clf, config, ev))
    sections: dict[str, Any] = {
        "training": training,
        "diagnosis": opt("diagnosis", lambda: diagnose(clf, ev, parts.train, training, config.seed, baseline=quick)),
        "leakage": leakage,
        "audit": opt("audit", lambda: _audit_written(folder, ds, parts, dups, config, on_progress),
                     leaves=[folder.path / "audit.json", folder.path / "label_issues.csv", folder.path / AUDIT_ARRAYS]),
        "quick_baseline": quick,
        "sanity": opt("shuffle_check", lambda: shuffle_step(refits, parts, scored, ev, on_progress)),
        "robustness": opt("stress", lambda: stress_step(clf, scored, ev, config, folder, on_progress, train=parts.train),
                          leaves=[folder.path / "stress.json", folder.path / "stress"]),
        "explanations": opt("explanations", lambda: explain_misread(clf, scored.test, ev, folder.path,
                                                                     on_progress=on_progress),
                            leaves=[folder.path / EXPLAIN_DIR]),
        "slices": opt("slices", lambda: slices_section(config.slice_by, scored.test, ev, seed=config.seed)),
        "stability": opt("repeats", lambda: repeats_step(ds, ev, refits, dups, on_progress)),
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
        "dataset": dataset_info(ds) | {"counts_by_split": parts.counts()},
        "environment": environment(),
        **({"allow_leakage": True} if config.allow_leakage else {}),
    }
    numbers = ev.to_dict()
    # the card is written with what came before it; its own seconds are in the total
    run_facts["seconds"] = {**spent, "total": round(time.monotonic() - started, 2)} if started else dict(spent)
    metrics = assemble_metrics(numbers, run_facts, sections, failed=failed)
    if _write_results(folder, ev, scored.test, metrics, on_progress, failed):
        metrics = assemble_metrics(numbers, run_facts, sections, failed=failed)
        folder.write_json("metrics.json", metrics)  # now saying that the card failed
    if config.log:  # the trackers log the finished folder; one that fails is reported, the run kept
        logged = optional("trackers", lambda: log_run(folder.path, config.log), failed, seconds=spent,
                          leaves=[folder.path / TENSORBOARD_DIR])
        if logged is not None:
            run_facts["trackers"] = logged
        run_facts["seconds"] = {**run_facts["seconds"], "trackers": spent["trackers"]}
        metrics = assemble_metrics(numbers, run_facts, sections, failed=failed)
        if logged is None:
            _write_results(folder, ev, scored.test, metrics, on_progress, failed)  # the card says so too
        else:
            folder.write_json("metrics.json", metrics)
    folder.checkpoint.unlink(missing_ok=True)  # the finished weights are in model/
    return Run(path=folder.path, model=clf, evaluation=ev, dataset=ds, split=parts, metrics=metrics, config=cfg)


def _audit_written(folder: RunFolder, ds: Dataset, parts: Split, dups: Any, config: RunConfig,
                   on_progress: Progress | None) -> dict[str, Any] | None:
    """The audit's section, with audit.json and its thumbnails written."""
    found = audit_step(ds, parts, dups, config, on_progress)
    if found is None:
        return None
    folder.write_audit(found, ds)
    return found.to_dict()


def _write_results(folder: RunFolder, ev: Any, test: Dataset, metrics: dict[str, Any],
                      on_progress: Progress | None, failed: list[dict[str, str]]) -> bool:
    """Write predictions.csv, errors/, evaluation.npz, metrics.json and the card; True
    when the card failed. What comes before the card is required (its failure is raised);
    the card is not: its failure is added to ``failed`` and nothing of it is left, so
    metrics.json can be written again, saying so."""
    from ..report import CARD_HTML, CARD_JSON

    metrics_file = folder.path / "metrics.json"
    metrics_file.unlink(missing_ok=True)  # (a resumed folder's) so that it tells how far the writing went
    try:
        folder.write_evaluation(ev, test, metrics, on_progress)
    except Exception as exc:
        if not metrics_file.is_file():
            raise  # metrics.json is written just before the card: something required failed
        record_failure("card", exc, failed, [folder.path / n for n in (CARD_HTML, CARD_HTML + ".part", CARD_JSON)])
        return True
    return False


def warn_if_incomplete(run: Run) -> None:
    from ..report import failed_steps

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


def config_json(config: RunConfig, ds: Dataset, clf: Any = None, *, chosen: dict[str, str] | None = None,
                asked: RunConfig | None = None, in_python: bool = False) -> dict[str, Any]:
    """config.json: the configuration, the command that repeats it, and what the run
    resolved (the model when none was named, and why; image size and colour mode; for
    networks augmentation, recipe, runtime). A model chosen by "auto" is recorded as
    ``asked`` ("auto" and its parameters): the choice, made again from the same data,
    also decides the split (the probe's fine-tuning sets more images aside), so only
    "auto" repeats and resumes the same run; ``resolved.model_chosen`` names the choice."""
    resolved: dict[str, Any] = {"model_chosen": chosen} if chosen else {}
    resolved |= {"image_size": list(ds.image_size), "color_mode": ds.color_mode,
                 # what a resume checks (a Dataset given in Python is given again: its source's name may not load it)
                 "data": {"hash": ds.hash, "n_images": len(ds), "classes": list(ds.classes),
                          **({"in_python": True} if in_python else {})}}
    where = None if in_python else source_path(config.source)
    if where:  # found again from another folder (RunConfig.from_dict)
        resolved["source_path"] = where
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
    recorded = config if asked is None else replace(config, model=asked.model, params=asked.params)
    return {**recorded.to_dict(), "command": recorded.command(), "trueclass_version": __version__,
            "resolved": resolved}
