"""The ``trueclass`` command: parse arguments, call the library, print what it returns.

Heavy imports happen inside the commands so ``trueclass --help`` answers at once.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import click

from ._errors import Terminated, TrainingInterrupted, TrueclassError
from ._progress import ProgressBar
from .run.fields import cli_options, refuse_beside_resume

__all__ = ["main", "cli", "EXIT_INCOMPLETE"]

#: ``trueclass train`` (or ``evaluate``) finished and kept the model and its test scores, but
#: a step after scoring failed (a check, a diagnostic or the card): the run is incomplete.
EXIT_INCOMPLETE = 3


#: ``trueclass train``'s options for the run's settings, made from the one table of them.
run_options = cli_options()


class _Group(click.Group):
    """A TrueclassError is one line on stderr and exit status 1, a Ctrl-C what it kept and 130; no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (TrainingInterrupted, KeyboardInterrupt) as exc:  # the user's own Ctrl-C: what was kept, 130
            kept = isinstance(exc, TrainingInterrupted)
            if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 says it for all the processes
                click.echo(f"\n{_as_cli(str(exc)) if kept else 'Interrupted; nothing further was written.'}", err=True)
            ctx.exit(143 if Terminated.seen else 130)  # SIGTERM's own status
        except TrueclassError as exc:
            raise click.ClickException(_as_cli(str(exc))) from None


def _parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    from .run.config import parse_value

    out = {}
    for item in items:
        if "=" not in item:
            raise TrueclassError(f"--param takes KEY=VALUE (such as C=1.0); got {item!r}.")
        key, value = item.split("=", 1)
        out[key.strip()] = parse_value(value)
    return out


#: The library's messages name parameters; the command line names its options.
_FLAGS = {
    "A time_budget": "--time-budget", "preset=NAME": "--preset",
    "overwrite=True": "--overwrite", "out=FOLDER": "--out FOLDER", "csv_path=FILE": "--csv FILE", "top_k": "--top-k",
    'class_weight="balanced"': "--class-weight balanced", "balanced_sampling=True": "--balanced-sampling",
    "unknown_class=True": "--unknown-class", "weights=PATH": "--weights PATH", "image_size=N": "--image-size N",
    "data_dir=FOLDER": "--data-dir FOLDER", "stratify=False": "--no-stratify", "test_size / val_size":
    "--test-size / --val-size", "model=NAME": "--model NAME",
}


def _as_cli(message: str) -> str:
    for param, flag in _FLAGS.items():
        message = message.replace(param, flag)
    message = re.sub(r"\bdevice=(['\"])(.*?)\1", r"--device \2", message)
    message = re.sub(r"\bnproc=(\d+)", r"--nproc \1", message)
    return re.sub(r"tc\.resume\((['\"])(.*?)\1\)", r"trueclass train --resume \2", message)


def _use_device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--device``: checked before any work (a GPU asked for where there is none is one
    sentence), then the device of every network this command builds or loads, and of
    the processes ``--nproc`` starts (they inherit $TRUECLASS_DEVICE)."""
    import os

    if value is not None:
        from .training._device import resolve_device

        resolve_device(value)
        os.environ["TRUECLASS_DEVICE"] = value
    return value


_device_option = click.option(
    "--device", default=None, metavar="cpu|cuda|cuda:K", expose_value=False, is_eager=True, callback=_use_device,
    help="Where networks run: cpu, cuda or cuda:K. Default: a CUDA GPU when torch sees one, else the CPU "
         "($TRUECLASS_DEVICE sets it too).")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trueclass")
def cli() -> None:
    """Train image classifiers and evaluate them honestly.

    \b
    trueclass train                      the default model on the digits: runs/digits-cnn
    trueclass train photos/ --model knn  a folder with one subfolder per class
    trueclass evaluate runs/digits-cnn other.csv
    trueclass predict runs/digits-cnn my_digit.png
    trueclass export runs/digits-cnn     an ONNX file, checked on the held-out images
    """


@cli.command()
@click.argument("source", default="digits")
@run_options
@click.option("--out", "-o", default=None, help="Run folder (default: runs/<source>-<model>).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run folder given with --out.")
@click.option("--preset", "recipe", type=click.Choice(["default", "quick", "best"]), default="default",
              show_default=True,
              help="Neural-network recipe: quick trains a narrower cnn (width 16) for 5 epochs, for CPUs without bf16; "
                   "best trains 30 epochs (about twice the default's time) and predicts with test-time augmentation.")
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE", help="Any model hyperparameter, e.g. -p C=1.0.")
@click.option("--resume", "resume_dir", default=None, metavar="DIR",
              help="Go on with a stopped run from its last checkpoint (its settings come from DIR; --device, "
                   "--precision and --data-dir move it).")
@click.option("--nproc", default=1, show_default=True, type=click.IntRange(min=1),
              help="Train a network on N processes of this machine: runs `torchrun --standalone --nproc-per-node N "
                   "-m trueclass train ...` (gloo on CPUs, nccl on GPUs). For several machines, call torchrun "
                   "with its own rendezvous options.")
def train(out: str | None, overwrite: bool, resume_dir: str | None, nproc: int, **options: Any) -> None:
    """Train a model on SOURCE, test it on held-out images, and write a run folder.

    SOURCE is digits (default), fashion-mnist, a folder of class subfolders (or of
    train/ and test/ holding them, or a .zip or .tar of one), a .csv manifest with
    path,label columns, an .npz with X and y, a Parquet file, WebDataset .tar shards,
    or idx:IMAGES,LABELS.
    """
    import warnings

    from .report._text import failed_steps
    from .run import resume, run_training
    from .run.pipeline import RESUME_MOVES, IncompleteRunWarning, resumed_config, run_device
    from .training._distributed import check_gpus_for, is_main, world_size

    ctx = click.get_current_context()  # bad options, or a folder that is no run to resume: before any work
    if resume_dir:
        refuse_beside_resume(ctx, allowed=("nproc", *RESUME_MOVES))  # none is dropped in silence
    moves = {name: options[name] for name in RESUME_MOVES}  # what --resume DIR may change: where it runs
    config = resumed_config(resume_dir, **moves) if resume_dir else _train_config(ctx.params)
    if nproc > 1 and world_size() == 1:
        # one GPU a process: fewer GPUs than processes, or one GPU named for all, is a sentence, not a torch error
        check_gpus_for(nproc, run_device(config))
        raise SystemExit(_launch_torchrun(nproc))
    with ProgressBar(enabled=is_main()) as progress, warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteRunWarning)  # the report card says it, and the exit status
        if resume_dir:
            run = resume(resume_dir, **moves, on_progress=progress)
        else:
            run = run_training(config, out=out, overwrite=overwrite, on_progress=progress)
    if run is not None:  # under torchrun, rank 0 reports
        click.echo(run.summary())  # what it did, skipped files, the report card: print(run) in Python too
        if failed_steps(run.metrics):
            click.get_current_context().exit(EXIT_INCOMPLETE)


def _launch_torchrun(nproc: int) -> int:
    """``trueclass train|predict ... --nproc N`` as torchrun on this machine; its exit status."""
    from .training._distributed import relaunch

    return relaunch(nproc, sys.argv[1:])


def _train_config(options: dict[str, Any]) -> Any:
    """The RunConfig of ``trueclass train``'s parsed options (the network options and
    the preset become model parameters)."""
    from .run import RunConfig
    from .run.config import with_preset
    from .run.fields import DEFAULT_MODEL_NAME, settings_from_options

    settings, chosen = settings_from_options(options)
    if chosen.get("time_budget") is not None and settings["model"] not in (DEFAULT_MODEL_NAME, "cnn"):
        raise TrueclassError(f"--time-budget chooses the cnn's width and epochs; it does not apply to model "
                             f"{settings['model']!r}. Leave out --model, or give --model cnn.")
    params = with_preset(options["recipe"], {**chosen, **_parse_params(options["params"])})
    return RunConfig(source=options["source"], params=params, **settings)


def config_from_argv(argv: list[str]) -> Any:
    """The RunConfig that ``trueclass train ARGV`` would run (parsing only)."""
    with train.make_context("train", list(argv)) as ctx:
        return _train_config(ctx.params)


@cli.command("evaluate")
@click.argument("model_path", metavar="MODEL")
@click.argument("source")
@click.option("--out", "-o", default=None, help="Run folder for the results (default: runs/eval-<source>-<model>).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run folder given with --out.")
@click.option("--data-dir", default=None, help="Where to look first for a built-in data set's files.")
@click.option("--tta", is_flag=False, flag_value="true", default=None, type=click.Choice(["true", "flip"]),
              help="Average predictions over copies shifted by a pixel, and mirrored ones for a net trained "
                   "with flips (--tta), or over mirrored ones only (--tta flip); neural networks.")
@click.option("--slice-by", default=None, metavar="COLUMN",
              help="Accuracy per group of images: a column of the manifest, or folder (subfolders of each class).")
@_device_option
def evaluate_cmd(model_path: str, source: str, out: str | None, overwrite: bool, data_dir: str | None,
                 tta: str | None, slice_by: str | None) -> None:
    """Evaluate a saved MODEL (a run folder or its model/ folder) on SOURCE: its score
    beside the model's own held-out score, with the difference and the two sets' image
    properties side by side."""
    import warnings

    from .report._text import failed_steps
    from .run import evaluate_run
    from .run.steps import IncompleteRunWarning

    with ProgressBar() as progress, warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteRunWarning)  # the report card says it, and the exit status
        run = evaluate_run(model_path, source, out=out, overwrite=overwrite, data_dir=data_dir, tta=_tta(tta),
                           slice_by=slice_by, on_progress=progress)
    click.echo(run.summary())
    if failed_steps(run.metrics):
        click.get_current_context().exit(EXIT_INCOMPLETE)


@cli.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("inputs", nargs=-1, required=True, metavar="IMAGE|FOLDER...")
@click.option("--top-k", "-k", default=3, show_default=True, type=int, help="How many classes to list per image.")
@click.option("--threshold", "-t", default=None, type=float,
              help="Flag answers below this confidence for review (default: the model's own).")
@click.option("--csv", "csv_path", default=None, help="Also write the predictions to this CSV file.")
@click.option("--tta", is_flag=False, flag_value="true", default=None, type=click.Choice(["true", "flip"]),
              help="Average predictions over copies shifted by a pixel, and mirrored ones for a net trained "
                   "with flips (--tta), or over mirrored ones only (--tta flip); neural networks.")
@click.option("--raw", is_flag=True,
              help="Show the model's raw scores instead of its calibrated probabilities (the review flag still uses "
                   "the calibrated confidence its threshold was chosen on).")
@click.option("--nproc", default=1, show_default=True, type=click.IntRange(min=1),
              help="With --csv: predict on N processes of this machine (`torchrun --standalone --nproc-per-node N -m "
                   "trueclass predict ...`), each taking its share of the files, into the one CSV.")
@_device_option
def predict(model_path: str, inputs: tuple[str, ...], top_k: int, threshold: float | None, csv_path: str | None,
            tta: str | None, raw: bool, nproc: int) -> None:
    """Predict the class of each IMAGE (or every image in a FOLDER) with a saved MODEL.

    Confidences are calibrated on the model's validation images when it has a
    temperature (see its evidence card); --raw shows the raw scores."""
    from .run import predict_files
    from .report._text import format_skipped

    from .training._distributed import check_gpus_for, world_size

    if (nproc > 1 or world_size() > 1) and not csv_path:
        raise TrueclassError("Prediction on several processes writes its rows to one CSV file; add --csv OUT.")
    if csv_path and nproc > 1:  # once, before the processes start (each would say it again)
        from .run.predict import check_csv_place

        check_csv_place(csv_path)
    if nproc > 1 and world_size() == 1:
        check_gpus_for(nproc)
        raise SystemExit(_launch_torchrun(nproc))
    if csv_path:
        return _predict_to_csv(model_path, inputs, top_k, threshold, csv_path, tta, raw)
    rows, skipped = predict_files(model_path, inputs, top_k=top_k, threshold=threshold, tta=_tta(tta), raw=raw)
    if not rows:
        if skipped:
            click.echo(format_skipped(skipped, listed_in=None), err=True)
        raise TrueclassError("None of the given files could be read as an image." if skipped
                             else _no_images_in(inputs))
    _echo_rows(rows)
    n_flag = sum(r["flagged"] for r in rows)
    noun = "image" if len(rows) == 1 else "images"
    click.echo(f"{len(rows)} {noun} predicted, {n_flag} flagged for review.", err=True)
    if skipped:
        click.echo(format_skipped(skipped, listed_in=None), err=True)


def _no_images_in(inputs: tuple[str, ...]) -> str:
    named = ", ".join(repr(str(i)) for i in inputs[:3]) + (f" and {len(inputs) - 3} more" if len(inputs) > 3 else "")
    return f"No image files were found in {named}."


def _echo_rows(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        top = ", ".join(f"{lab} {p:.0%}" for lab, p in r["top_k"])
        flag = ("  REVIEW" if r["flagged"] else "") + (f" (unlike the training images: {r['unlike_training']})"
                                                       if r.get("unlike_training") else "")
        click.echo(f"{r['file']}\t{r['label']}\t{r['confidence']:.3f}\t[{top}]{flag}")


def _predict_to_csv(model_path: str, inputs: tuple[str, ...], top_k: int, threshold: float | None, csv_path: str,
                    tta: str | None, raw: bool) -> None:
    """``trueclass predict ... --csv OUT``: streamed into OUT (every file gets its row, the
    unreadable ones with the reason), continued where a stopped run left off."""
    from .report._text import format_skipped
    from .run import predict_to_csv

    from .training._distributed import is_main

    with ProgressBar(enabled=is_main()) as progress:  # under torchrun, rank 0 reports
        c = predict_to_csv(model_path, inputs, csv_path, top_k=top_k, threshold=threshold, tta=_tta(tta), raw=raw,
                           on_progress=progress, on_rows=_echo_rows if is_main() else None)
    if not is_main():
        return
    skipped = c["hidden"] + c["skipped_files"]
    if not c["predicted"] and not c["resumed_with"]:
        if skipped:
            click.echo(format_skipped(skipped, listed_in=None), err=True)
        raise TrueclassError("None of the given files could be read as an image." if skipped
                             else _no_images_in(inputs))
    noun = "image" if c["predicted"] == 1 else "images"
    went_on = f" (went on after the {c['resumed_with']:,} rows a stopped run wrote)" if c["resumed_with"] else ""
    click.echo(f"{c['predicted']:,} {noun} predicted, {c['flagged']:,} flagged for review{went_on}; rows in "
               f"{csv_path}.", err=True)
    if skipped:
        click.echo(format_skipped(skipped, listed_in=csv_path), err=True)


def _tta(value: str | None) -> bool | str:
    return {None: False, "true": True, "flip": "flip"}[value]


@cli.command()
@click.argument("source")
@click.option("--out", "-o", default=None, help="Folder for audit.json.")
@click.option("--strict", is_flag=True, help="Exit with status 2 when a leak or a conflicting duplicate is found.")
@click.option("--no-label-issues", is_flag=True, help="Skip the search for mislabelled images (cross-validation).")
@click.option("--image-size", default=None, help="Resize every image: 32 or WIDTHxHEIGHT.")
@click.option("--color-mode", type=click.Choice(["auto", "L", "RGB"]), default="auto", show_default=True)
@click.option("--data-dir", default=None, help="Where to look first for a built-in data set's files.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the cross-validation folds.")
@click.option("--label-model", "label_models", multiple=True,
              type=click.Choice(["pca-logreg", "pca-svc", "embeddings-logreg", "cnn-folds"]),
              help="Label-error model to try (repeat for several; default: those that suit the data and this "
                   "machine, cnn-folds on a CUDA GPU only).")
def audit(source: str, out: str | None, strict: bool, no_label_issues: bool, image_size: str | None,
          color_mode: str, data_dir: str | None, seed: int, label_models: tuple[str, ...]) -> None:
    """Look for what can make a test score lie in SOURCE: duplicates, leaks across its
    split, conflicting labels, imbalance, odd images and likely label errors."""
    from .checks import audit as run_audit
    from .checks import audit_folder
    from .data import load

    if out:
        audit_folder(out)  # a file given as --out is refused before the audit runs
    with ProgressBar() as progress:
        ds = load(source, image_size=image_size, color_mode=color_mode, data_dir=data_dir, on_progress=progress)
        result = run_audit(ds, label_issues=not no_label_issues, seed=seed, label_models=label_models or None,
                           on_progress=progress)
    click.echo(result.summary(lists="written" if out else "not written"))
    if out:
        written = result.write(out)
        click.echo(f"Audit written to {', '.join(str(f) for f in written)}")
    if strict and (result.n_leaks or result.n_conflicts):
        click.echo(f"Strict audit failed: {result.report['n_leaked_test_images']} leaked test images, "
                   f"{result.n_conflicts} conflicting duplicate groups.", err=True)
        sys.exit(2)


@cli.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("source")
@click.option("--out", "-o", default=None,
              help="Folder for stress.json (default: the run folder given as MODEL, whose card gains the section).")
@click.option("--max-images", type=click.IntRange(min=10), default=None, help="Test on at most this many images.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random perturbations.")
@click.option("--data-dir", default=None, help="Where to look first for a built-in data set's files.")
@_device_option
def stress(model_path: str, source: str, out: str | None, max_images: int | None, seed: int,
           data_dir: str | None) -> None:
    """Test a saved MODEL on SOURCE's test images under occlusion, lighting, noise, blur,
    rotation, translation, scale and flips, and on images that belong to no class."""
    from .report._stress_text import format_stress
    from .run import stress_run

    with ProgressBar() as progress:
        path, data = stress_run(model_path, source, out=out, data_dir=data_dir, max_images=max_images, seed=seed,
                                on_progress=progress)
    click.echo(format_stress(data))
    click.echo(f"Written to {path / 'stress.json'}")


@cli.command()
@click.argument("model_path", metavar="RUN")
@click.argument("inputs", nargs=-1, metavar="[IMAGE|FOLDER...]")
@click.option("--method", type=click.Choice(["auto", "occlusion", "gradcam"]), default="auto", show_default=True,
              help="occlusion works for every model; gradcam for networks (auto: gradcam for networks).")
@click.option("--out", "-o", default=None, help="Folder for the pictures (default: the run's explain/).")
@_device_option
def explain(model_path: str, inputs: tuple[str, ...], method: str, out: str | None) -> None:
    """Where the model of RUN looked: a saliency map over each IMAGE (image and overlay
    side by side in RUN/explain/). Without images: the run's own most confident mistakes,
    as its card shows them."""
    import json as _json
    from pathlib import Path

    from .run.why import explain_run

    if not inputs:
        if out is not None:
            raise TrueclassError(f"--out is where the pictures of the images named go; without images, the run's own "
                                 f"mistakes are already explained in {str(Path(model_path) / 'explain')!r}. Name "
                                 "image files to explain, or leave out --out.")
        p = Path(model_path).expanduser()
        mfile = p / "metrics.json"
        if not mfile.is_file():
            raise TrueclassError(f"{model_path!r} is not a run folder with metrics.json; name image files to explain "
                                 "with a model folder.")
        section = _json.loads(mfile.read_text(encoding="utf-8")).get("explanations")
        if not section or not section.get("images"):
            raise TrueclassError(f"The run {model_path!r} has no explained mistakes (it misread no test image, or it "
                                 "was made before trueclass explained them); name image files to explain.")
        rows = [{**r, "file": str(p / r["file"])} for r in section["images"]]
        click.echo(f"The run's {len(rows)} most confident mistakes ({section['method']}):" if len(rows) != 1 else
                   f"The run's one mistake ({section['method']}):")
    else:
        rows = explain_run(model_path, inputs, out=out, method=method)
    for r in rows:
        if r.get("error"):
            click.echo(f"{r['id']}\tnot read: {r['error']}", err=True)
            continue
        true = f"true {r['true']}, " if r.get("true") else ""
        share = "" if r.get("border_share") is None else f"; {r['border_share']:.0%} of its saliency on the border"
        click.echo(f"{r['id']}\t{true}read as {r['predicted']} ({r['confidence']:.0%}){share}\t{r['file']}")
    if not any(not r.get("error") for r in rows):
        raise TrueclassError("None of the given files could be read as an image.")


@cli.command()
@click.argument("run_dir", metavar="RUN_DIR")
def card(run_dir: str) -> None:
    """Rebuild the evidence card (card.html, card.json) of a run folder."""
    from .report._card import build_card

    click.echo(f"Evidence card  {build_card(run_dir)}")


@cli.command()
@click.argument("run_dir", metavar="RUN_DIR")
def report(run_dir: str) -> None:
    """Precision, recall, F1 and support per class of a run (scikit-learn's classification_report)."""
    import json
    from pathlib import Path

    from .report._text import format_per_class

    mfile = Path(run_dir) / "metrics.json"
    if not mfile.is_file():
        raise TrueclassError(f"{run_dir!r} is not a run folder with metrics.json; give a folder that "
                             "`trueclass train` or `trueclass evaluate` wrote, such as runs/digits-cnn.")
    click.echo(format_per_class(json.loads(mfile.read_text()), run_dir))


@cli.command()
def datasets() -> None:
    """List the built-in data sets and the kinds of source trueclass reads."""
    from .data import list_datasets

    for d in list_datasets():
        click.echo(f"{d['name']:<15} {d['description']}  [{d['where']}]")
    from .data import SOURCE_KINDS

    click.echo(f"\nAlso: {SOURCE_KINDS}.")


@cli.command()
@click.argument("pattern", default="*")
def models(pattern: str) -> None:
    """List the registered models (optionally those matching PATTERN, like 'k*')."""
    from .models import get_spec, list_models

    import fnmatch

    glob = pattern if any(ch in pattern for ch in "*?[") else f"*{pattern}*"
    names = list_models(glob)
    if fnmatch.fnmatch("auto", glob):
        click.echo(f"{'auto':<8} the default: cnn for drawings on a plain background (digits, clothes), "
                   "lite0 for photographs")
    if not names and not fnmatch.fnmatch("auto", glob):
        raise TrueclassError(f"No registered model matches {pattern!r}; any timm backbone works as timm:<name> "
                             f"(timm:resnet18, timm:mobilenetv3_small_100, ...). `trueclass models` lists them all.")
    for name in names:
        if name == "timm:<name>":
            click.echo(f"{name:<8} any timm backbone with a new head, e.g. timm:resnet18 "
                       "(--pretrained, --weights PATH, --freeze)")
            continue
        spec = get_spec(name)
        defaults = ", ".join(f"{k}={v}" for k, v in spec.defaults.items())
        click.echo(f"{name:<8} {spec.description}  ({defaults})")


@cli.command("compare")
@click.argument("runs", nargs=-1, required=True)
@click.option("--out", "-o", default=None, help="Folder for comparison.json and comparison.html "
              "(default: runs/compare-<first>-<second>).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the paired bootstrap.")
def compare_cmd(runs: tuple[str, ...], out: str | None, seed: int) -> None:
    """Compare runs scored on the same test images: each against the first, paired."""
    from pathlib import Path

    from .run.compare import compare
    from .run.folder import RUNS_DIR

    if len(runs) < 2:
        raise TrueclassError("trueclass compare needs at least two run folders.")
    folder = Path(out) if out else Path(RUNS_DIR) / f"compare-{Path(runs[0]).name}-{Path(runs[1]).name}"
    c = compare(*runs, seed=seed, out=folder)  # the folder is checked before the runs are read
    click.echo(c.summary())
    click.echo(f"\nComparison card  {folder / 'comparison.html'}")


@cli.command("export")
@click.argument("run_dir", metavar="RUN")
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="File format of the exported model.")
@click.option("--int8", is_flag=True,
              help="Also write model.int8.onnx (static quantization calibrated on training images) and check it "
                   "against the fp32 file.")
def export_cmd(run_dir: str, fmt: str, int8: bool) -> None:
    """Export the model of a training RUN to RUN/export/model.onnx (uint8 images in,
    calibrated probabilities out) and check it on the run's held-out test images."""
    from .run.export import export

    with ProgressBar() as progress:
        result = export(run_dir, fmt, int8=int8, on_progress=progress)
    click.echo(result.summary())


@cli.command()
@click.argument("project_dir", default="studio-project")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; another than this machine only on a network you trust.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (a free one if it is taken).")
@click.option("--no-browser", is_flag=True, help="Do not open the browser.")
def studio(project_dir: str, host: str, port: int, no_browser: bool) -> None:
    """Collect images, train and see the evidence in a local web page (no code)."""
    from .studio import serve

    # exit_process: this process is the studio, so a training that does not stop on Ctrl-C ends with it
    try:
        serve(project_dir, host=host, port=port, open_browser=not no_browser, echo=lambda m: click.echo(m, err=True),
              exit_process=True)
    except KeyboardInterrupt:  # the usual way to stop it: nothing was lost, unlike what the general message says
        click.echo(f"\nStudio stopped; the project and its runs are kept in {project_dir!r}.", err=True)
        click.get_current_context().exit(130)


def _on_sigterm(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal handler signature
    Terminated.seen = True
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    import signal
    import threading

    # not inside torchrun's processes: torchrun stops its workers with SIGTERM and reports them
    if threading.current_thread() is threading.main_thread() and "TORCHELASTIC_RUN_ID" not in os.environ:
        signal.signal(signal.SIGTERM, _on_sigterm)
    cli.main(args=argv, prog_name="trueclass")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
