"""A saved model on new images: ``evaluate_run`` (``trueclass evaluate``) and
``stress_run`` (``trueclass stress``). Both score only images the model never saw, by
the rule of ``scoring``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .. import __version__
from .._errors import TrueclassError
from ..data import Dataset
from ..evaluation import evaluate
from .folder import RUNS_DIR, RunFolder, check_outside_source, check_writable
from .pipeline import Run, warn_if_incomplete
from .provenance import dataset_info, environment, source_name
from .scoring import Scored, candidate_images, copies_for_saved_model, load_for, scored_images

__all__ = ["evaluate_run", "stress_run", "unseen_images"]

Progress = Callable[..., None]


def unseen_images(model_path: str | Path, ds: Dataset) -> Scored:
    """The images of ``ds`` a saved model may be scored on: the source's own test part
    when it comes split, else every image; less each exact or near copy of an image the
    model was trained or validated on (its fingerprints), whatever the source."""
    from ..models import load_fingerprints

    candidates, what = candidate_images(ds)
    fingerprints = load_fingerprints(model_path)
    if fingerprints is None:
        return scored_images(ds, candidates, None, what=what + " (the model folder keeps no fingerprints of its "
                             "training images, so copies of them cannot be left out)")
    return scored_images(ds, candidates, copies_for_saved_model(fingerprints, ds, candidates), what=what)


def evaluate_run(
    model_path: str | Path,
    source: str | Path | Dataset,
    *,
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    overwrite: bool = False,
    runs_dir: str | Path = RUNS_DIR,
    tta: bool | str = False,
    slice_by: str | None = None,
    on_progress: Progress | None = None,
) -> Run:
    """Evaluate a saved model on the images of ``source`` it never saw (see
    :func:`unseen_images`) and write a run folder. Beside the score: the model's own
    held-out score with the difference and its interval, the image properties of both
    sets (``shift``), where it looked on its most confident mistakes (``explanations``)
    and, with ``slice_by``, the accuracy per group of images."""
    from ..models import load_model
    from .metrics import assemble_metrics
    from .steps import optional
    from .why import EXPLAIN_DIR, explain_misread, shift_section, slices_section

    clf = load_model(model_path)  # a wrong model path or a bad option fails before the data loads
    if tta:
        clf.set_params(tta=tta)
        clf.check_params()
    RunFolder.check_place(out, overwrite=overwrite, runs_dir=runs_dir, source=source,
                          holds="the images to test on")  # before the data loads
    meta = clf.metadata_
    ds = load_for(clf, source, data_dir, on_progress)
    if slice_by:
        from ..data import check_slice_by

        check_slice_by(ds, slice_by)
    scored = unseen_images(model_path, ds)
    ev = evaluate(clf, scored.test)  # with the review threshold the model chose when it was trained
    folder = RunFolder.create(out, f"eval-{source_name(source)}-{meta['model']}", overwrite=overwrite,
                              runs_dir=runs_dir)
    name = ds.provenance.get("source") if isinstance(source, Dataset) else str(source)
    config = {
        "command": f"trueclass evaluate {model_path} {name}",
        "model_path": str(model_path),
        "source": name,
        "evaluated_on": scored.note,
        "tta": tta,
        "slice_by": slice_by,
        "trueclass_version": __version__,
    }
    facts = {
        "n_train": (meta.get("training") or {}).get("n_images"),
        "n_val": None,
        "model": meta["model"],
        **({"exported_from": meta["exported_from"]} if meta.get("exported_from") else {}),
        "params": meta.get("params"),
        "seed": (meta.get("split") or {}).get("seed"),
        "train_seconds": (meta.get("training") or {}).get("train_seconds"),
        "evaluated_on": scored.note,
        "n_left_out_as_seen": scored.n_left_out,
        "dataset": dataset_info(ds) | {"counts_by_split": {"test": scored.test.counts()}},
        "environment": environment(),
    }
    numbers = ev.to_dict()
    try:
        # the score is written whatever a check after it does: a failed one is reported
        failed: list[dict[str, str]] = []
        sections = {
            "shift": optional("shift", lambda: shift_section(meta, ev, scored.test), failed),
            "explanations": optional("explanations", lambda: explain_misread(
                clf, scored.test, ev, folder.path, on_progress=on_progress), failed,
                leaves=[folder.path / EXPLAIN_DIR]),
            "slices": optional("slices", lambda: slices_section(slice_by, scored.test, ev), failed),
        }
        metrics = assemble_metrics(numbers, facts, sections, failed=failed)
        folder.write_json("config.json", config)
        folder.write_evaluation(ev, scored.test, metrics, on_progress)
    except BaseException:
        import shutil

        shutil.rmtree(folder.path, ignore_errors=True)  # nothing half-made is left behind
        raise
    run = Run(path=folder.path, model=clf, evaluation=ev, dataset=ds, split=None, metrics=metrics, config=config)
    warn_if_incomplete(run)
    return run


def stress_run(
    model_path: str | Path,
    source: str | Path | Dataset,
    *,
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    max_images: int | None = None,
    seed: int = 0,
    on_progress: Progress | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Stress-test a saved model on the images of ``source`` it never saw (chosen as
    ``evaluate`` chooses them) and write ``stress.json`` and ``stress/`` into ``out``.

    Without ``out``, a run folder given as the model gets them, its metrics.json gains
    ``robustness`` and its evidence card is rebuilt with the new section; if any of that
    fails, the run folder is left as it was.
    """
    from ..diagnostics import robustness
    from ..models import load_model
    from ..report import CARD_HTML, CARD_JSON
    from .export import restored_on_failure
    from .metrics import METRICS_FILE, add_section

    run_dir = Path(model_path).expanduser()
    in_run = out is None and (run_dir / METRICS_FILE).is_file()
    clf = load_model(model_path)
    if out is None and not in_run:
        raise TrueclassError("Say where to write the results (out=FOLDER), or pass a run folder as the model "
                             "to add them to its card.")
    target = run_dir if in_run else Path(out).expanduser()
    if not in_run:
        if target.exists() and not target.is_dir():
            raise TrueclassError(f"{str(target)!r} is a file; choose a folder for the results (out=FOLDER).")
        check_outside_source(target, source, what="results folder", holds="the images to test on")
    check_writable(target, what="results folder")  # before the data loads
    ds = load_for(clf, source, data_dir, on_progress)
    scored = unseen_images(model_path, ds)
    data, examples = robustness(clf, scored.test, threshold=clf.metadata_.get("threshold"), seed=seed,
                                max_images=max_images, on_progress=on_progress)
    data["evaluated_on"] = scored.note
    path = run_dir if in_run else Path(out).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    folder = RunFolder(path)
    # stress/ is written anew (no example of an earlier stress test stays); with a run
    # folder, stress.json, metrics.json and the card change together or not at all
    changed = ["stress", "stress.json"] + ([METRICS_FILE, CARD_HTML, CARD_JSON] if in_run else [])
    with restored_on_failure(path, changed):
        data = folder.write_stress(data, examples)
        if in_run:
            add_section(path, "robustness", data)
    return path, data
