"""The run folder: its naming, its overwrite safety and its writers.

Layout (DESIGN.md): model/, metrics.json, predictions.csv, split.csv, errors/, card.html
(card.json and evaluation.npz beside it), audit.json, history.csv, config.json, stress/.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._errors import TrueclassError
from .._paths import check_writable
from .._jsonio import write_json

__all__ = ["RunFolder", "RUNS_DIR", "safe_name", "check_outside_source", "check_writable", "source_folder"]

RUNS_DIR = "runs"
CHECKPOINT = "checkpoint.safetensors"
CONFUSION_PNG = "confusion_matrix.png"
HISTORY_KEYS = ["epoch", "train_loss", "train_eval_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                "seconds"]

Progress = Callable[..., None]


def safe_name(text: str, most: int = 80) -> str:
    """``text`` as a file name: letters (any script: "café crème" stays readable, however its
    accents were encoded) and digits kept, every run of anything else one "-", at most
    ``most`` characters (a file name holds 255 bytes, a letter up to 4); never "." or ".." or
    a hidden name."""
    import unicodedata

    name = re.sub(r"[^\w.-]+", "-", unicodedata.normalize("NFC", text)).strip("-.")[:most].rstrip("-.")
    return name or "x"


def source_folder(source: Any) -> Path | None:
    """The folder a source is read from by walking it (a folder of class subfolders, a
    studio project, a folder with labels.csv), or None: a built-in set, idx:, a file,
    arrays, a Dataset not loaded from a folder."""
    from ..data import BUILTIN_DATASETS, Dataset

    if isinstance(source, Dataset):
        source = source.provenance.get("source")
    if not isinstance(source, (str, Path)):
        return None
    text = str(source)
    if text.lower() in BUILTIN_DATASETS or text.startswith("idx:"):
        return None
    path = Path(text).expanduser()
    try:
        return path if path.is_dir() else None
    except OSError:
        return None


def check_outside_source(path: Path, source: Any, *, default: bool = False, what: str = "run folder",
                         holds: str = "the images to learn from") -> None:
    """A sentence when ``path`` (a folder trueclass would write) is the folder ``source``
    or lies inside it, except under a hidden folder there (never read: the studio keeps
    its runs in a project's .trueclass/). ``default``: ``path`` is the default runs/;
    ``holds``: what the source is for."""
    folder = source_folder(source)
    if folder is None:
        return
    try:
        inside = path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError):
        return
    if any(part.startswith(".") for part in inside.parts):
        return
    here = ""
    if folder.resolve() == Path.cwd().resolve():
        folder, here = Path.cwd(), " (the current folder)"
    if default:
        raise TrueclassError(
            f"The {what} would be written to {str(path) + '/'!r} inside the source folder {str(folder)!r}{here}, "
            f"which should hold only {holds}; give out=FOLDER outside {str(folder)!r}.")
    raise TrueclassError(
        f"The {what} {str(path)!r} lies inside the source folder {str(folder)!r}{here}, which should hold only "
        f"{holds}; choose out=FOLDER outside {str(folder)!r}.")


@dataclass(frozen=True)
class RunFolder:
    """One run's folder and everything written into it."""

    path: Path

    # -- naming and safety -------------------------------------------------------------------
    @classmethod
    def create(cls, out: str | Path | None, name: str, *, overwrite: bool = False,
               runs_dir: str | Path = RUNS_DIR) -> "RunFolder":
        """A new, empty run folder: ``out``, else ``runs_dir/name`` (``name-2``, ... when
        taken). Never deletes anything that is not an earlier run folder."""
        if out is None:
            base = Path(runs_dir) / name
            path, n = base, 1
            while path.exists() and any(path.iterdir()):
                n += 1
                path = base.with_name(f"{base.name}-{n}")
        else:
            path = cls.check_out(out, overwrite=overwrite)
        try:
            if out is not None and path.is_dir() and any(path.iterdir()):
                shutil.rmtree(path)
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # what check_place could not foresee (a disk that became read-only, ...)
            raise TrueclassError(f"trueclass cannot write the run folder {str(path)!r} "
                                 f"({exc.strerror or exc}); choose out=FOLDER in a folder you can write.") from None
        return cls(path)

    @classmethod
    def check_place(cls, out: str | Path | None, *, overwrite: bool = False, runs_dir: str | Path = RUNS_DIR,
                    source: Any = None, holds: str = "the images to learn from") -> None:
        """Before any work, the place a run will be written: ``out`` (see
        :meth:`check_out`), else a new folder in ``runs_dir``; either must be a folder
        trueclass can write in, outside the folder ``source`` (a folder source should
        hold only images; the walk of a folder skips run folders anyway). Raises a
        sentence; creates nothing."""
        if out is not None:
            path = cls.check_out(out, overwrite=overwrite)
            check_outside_source(path, source, holds=holds)
            check_writable(path, removes=overwrite and path.is_dir() and any(path.iterdir()))
        else:
            check_outside_source(Path(runs_dir), source, default=True, holds=holds)
            check_writable(Path(runs_dir), default=True)

    @staticmethod
    def check_out(out: str | Path, *, overwrite: bool = False) -> Path:
        """``out`` as a folder a run may write: new, empty, or (with ``overwrite``) an
        earlier run folder. Raises before anything is touched."""
        path = Path(out).expanduser()
        if path.exists() and not path.is_dir():
            raise TrueclassError(f"{str(path)!r} is a file; choose a folder name for the run.")
        if path.is_dir() and any(path.iterdir()):
            stopped = RunFolder(path)
            if not overwrite and stopped.holds_stopped_run():  # the same command again, after a Ctrl-C: a resume
                raise TrueclassError(
                    f"The run folder {str(path)!r} holds a stopped run: go on with {stopped.resume_call()}, or "
                    "choose another folder (overwrite=True replaces it, with what it had done).")
            if not overwrite:
                raise TrueclassError(
                    f"The run folder {str(path)!r} already exists and is not empty; choose another folder, "
                    "or overwrite=True to replace that run."
                )
            if not ((path / "config.json").is_file() or (path / "metrics.json").is_file()):
                raise TrueclassError(
                    f"{str(path)!r} is not empty and does not look like a trueclass run folder; "
                    "refusing to overwrite it. Choose another folder."
                )
        return path

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    # -- a stopped run ---------------------------------------------------------------------
    def holds_stopped_run(self) -> bool:
        """Whether this folder holds a run that was stopped (Ctrl-C, a crash) and can be
        resumed: its config.json with a checkpoint, or a trained model without metrics.json."""
        p = self.path
        return (p / "config.json").is_file() and (self.checkpoint.is_file() or (
            (p / "model" / "model.json").is_file() and not (p / "metrics.json").is_file()))

    def began_with(self) -> dict[str, Any] | None:
        """config.json's record of the images the run began with (``resolved.data``: their
        hash, count and classes, and ``in_python`` for a Dataset given in Python), if any."""
        try:
            return json.loads((self.path / "config.json").read_text(encoding="utf-8")).get("resolved", {}).get("data")
        except (OSError, ValueError, AttributeError):
            return None

    def resume_call(self) -> str:
        """The Python call that goes on with this run: with its Dataset where it was given
        one in Python (the command line's words for the other: cli._as_cli)."""
        at = str(self.path)
        return (f"tc.resume({at!r}, dataset=...) with the same Dataset" if (self.began_with() or {}).get("in_python")
                else f"tc.resume({at!r})")

    # -- writers -----------------------------------------------------------------------------
    def write_json(self, name: str, data: Any) -> None:
        write_json(self.path / name, data)

    def write_split(self, parts: Any) -> None:
        parts.to_csv(self.path / "split.csv")

    def write_model(self, model: Any, **extra: Any) -> None:
        model.save(self.path / "model", **extra)

    def write_history(self, history: list[dict[str, Any]]) -> None:
        with open(self.path / "history.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=HISTORY_KEYS, extrasaction="ignore")
            w.writeheader()
            for row in history:
                w.writerow({k: row.get(k, "") for k in HISTORY_KEYS})

    def write_audit(self, audit: Any, ds: Any) -> None:
        """audit.json, label_issues.csv and the thumbnails the card's audit section shows."""
        from ..report import AUDIT_ARRAYS, save_audit_thumbnails

        audit.write(self.path)
        save_audit_thumbnails(self.path / AUDIT_ARRAYS, ds, audit.to_dict())

    def write_stress(self, data: dict[str, Any], examples: list[dict[str, Any]]) -> dict[str, Any]:
        """stress.json and stress/ (one PNG per example that flipped from right to wrong);
        returns ``data`` with the examples' rows (file names, no pixels)."""
        from PIL import Image

        folder = self.path / "stress"
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for k, ex in enumerate(examples):
            name = (f"{k:03d}_{safe_name(ex['perturbation'])}_{safe_name(ex['true'])}_as_"
                    f"{safe_name(ex['pred'])}.png")
            img = ex["image"]
            Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(folder / name)
            rows.append({k2: v for k2, v in ex.items() if k2 != "image"} | {"file": f"stress/{name}"})
        out = {**data, "examples": rows}
        self.write_json("stress.json", out)
        return out

    def write_evaluation(self, evaluation: Any, test: Any, metrics: dict[str, Any],
                         on_progress: Progress | None = None) -> None:
        """predictions.csv, errors/, confusion_matrix.png, evaluation.npz, metrics.json and
        the evidence card: what every run folder has, trained or evaluated."""
        from ..data import to_display
        from ..report import EVAL_ARRAYS, build_card, save_arrays
        from .metrics import write_metrics

        self._write_predictions(evaluation)
        display = to_display(test.images, test.value_max)
        self._write_errors(evaluation, display, on_progress)
        if hasattr(evaluation, "confusion_matrix"):  # single-label only
            self._write_confusion(evaluation)
        save_arrays(self.path / EVAL_ARRAYS, evaluation, display)
        write_metrics(self.path, metrics)
        if on_progress is not None:
            on_progress("writing the evidence card", 0, 0)
        build_card(self.path)

    def _write_predictions(self, ev: Any) -> None:
        rows = ev.prediction_rows()
        with open(self.path / "predictions.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["id"])
            w.writeheader()
            w.writerows(rows)

    def _write_confusion(self, ev: Any) -> None:
        from ..report import figure, plot_confusion_matrix

        k = len(ev.classes)
        fig = figure(max(4.0, 0.55 * k + 2), max(3.5, 0.5 * k + 1.5))
        plot_confusion_matrix(ev, ax=fig.add_subplot())
        fig.savefig(self.path / CONFUSION_PNG, dpi=100)

    def _write_errors(self, ev: Any, display: np.ndarray, on_progress: Progress | None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from ..data import n_workers
        from ..report import captioned_image

        folder = self.path / "errors"
        folder.mkdir(exist_ok=True)
        rows = ev.misread

        def one(item: tuple[int, dict[str, Any]]) -> None:
            rank, r = item
            ident = r["id"] if len(r["id"]) <= 28 else "…" + r["id"][-27:]
            img = captioned_image(
                display[r["index"]],
                [f"true: {r['true']}", f"pred: {r['pred']} ({r['confidence']:.0%})", f"id: {ident}"],
            )
            img.save(folder / f"{rank:05d}_{safe_name(r['true'])}_as_{safe_name(r['pred'])}.png", format="PNG")

        total = len(rows)
        with ThreadPoolExecutor(max_workers=n_workers()) as pool:
            for i, _ in enumerate(pool.map(one, enumerate(rows, start=1)), start=1):
                if on_progress is not None and (i % 50 == 0 or i == total):
                    on_progress("writing misread images", i, total)
