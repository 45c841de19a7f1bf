"""The studio's training: a run of the project in a thread of the server's own (never a
forked process pool: see ``Trainer``), its progress for the page, stopping it, and the
result the page shows."""

from __future__ import annotations

import csv
import functools
import json
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from .._errors import ImagesChanged, TrainingInterrupted, TrueclassError
from ._project import Project

__all__ = ["Trainer", "TrainingStopped", "stop_training", "studio_models", "check_model_choice", "check_settings", "train_project",
           "run_result", "current_result", "page_warnings", "STOP_WAIT_S"]

#: Seconds a stopping studio waits for a training in progress to reach its next progress
#: report and stop there (a network reports every 10 batches; a long scikit-learn fit may
#: not report for minutes, and is then abandoned with the process).
STOP_WAIT_S = 5.0
#: the names of the studio's run folders (_new_run_dir): the time it began
RUN_NAME = re.compile(r"^[0-9]{8}-[0-9]{6}(-[0-9]+)?$")


class TrainingStopped(KeyboardInterrupt):
    """Raised in the training thread at its next progress report once the studio stops:
    a KeyboardInterrupt, so every step stops as it does on Ctrl-C (a network keeps the
    checkpoint of its last finished epoch, the run folder can be resumed)."""


class Trainer:
    """One training at a time, in a thread; its progress and outcome as a dict."""

    def __init__(self, project: Project):
        self.project = project
        self.lock = threading.Lock()
        self.state: dict[str, Any] = {"status": "idle"}
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.stopped_by_page = False
        # a run the page's Stop left to go on with, or the studio's closing: found again on disk
        self.stopped: tuple[Path, dict[str, Any]] | None = left_stopped(project)
        if self.stopped is not None:
            self.state = {"status": "failed", "resumable": True, "message": (
                "The last training stopped before it finished. What it had done is kept: Go on from there, or "
                "Train anew.")}

    def start(self, settings: dict[str, Any]) -> dict[str, Any]:
        """A new training; the one a Stop left to go on with is discarded (nothing else can go
        on with it from the page)."""
        with self.lock:
            self._check_idle()
            out = _new_run_dir(self.project)  # named first: never the stopped one's name again
            if self.stopped is not None:
                shutil.rmtree(self.stopped[0], ignore_errors=True)
                self.stopped = None
            return self._begin(out, settings, resume=False)

    def resume(self) -> dict[str, Any]:
        """Go on with the training the page's Stop left, from its last finished epoch (or
        its checks, once the model was trained): it ends as it would have without the Stop."""
        with self.lock:
            self._check_idle()
            if self.stopped is None or not self.stopped[0].is_dir():
                raise TrueclassError("There is no stopped training to go on with; press Train.")
            return self._begin(*self.stopped, resume=True)

    def _check_idle(self) -> None:
        if self.state.get("status") == "running":
            raise TrueclassError("A training is already running; wait for it to finish.")

    def _begin(self, out: Path, settings: dict[str, Any], *, resume: bool) -> dict[str, Any]:
        self.stopping.clear()
        self.stopped_by_page = False
        self.state = {"status": "running", "stage": "starting", "done": 0, "total": 0, "started": time.time()}
        self.thread = threading.Thread(target=self._run, args=(out, settings, resume), daemon=True)
        self.thread.start()
        return dict(self.state)

    def _progress(self, stage: str, done: int = 0, total: int = 0, **_: Any) -> None:
        if self.stopping.is_set():
            raise TrainingStopped
        self.state.update(stage=str(stage), done=int(done or 0), total=int(total or 0))

    def request_stop(self) -> dict[str, Any]:
        """The page's Stop button: the training stops at its next progress report (a
        network within 10 batches), without waiting here."""
        with self.lock:
            if self.state.get("status") != "running":
                raise TrueclassError("No training is running.")
            self.stopped_by_page = True
            self.stopping.set()
            self.state["stage"] = "stopping at the next step..."
            return dict(self.state)

    def stop(self, timeout: float = STOP_WAIT_S) -> bool:
        """Ask a training in progress to stop at its next progress report and wait up to
        ``timeout`` seconds for it: whether no training is left running."""
        self.stopping.set()
        thread = self.thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _run(self, out: Path, settings: dict[str, Any], resume: bool) -> None:
        try:
            result = train_project(self.project, settings, self._progress, out=out, resume=resume)
            self.stopped = None
            self.state = {"status": "done", "result": result, "seconds": round(time.time() - self.state["started"], 1)}
        except (KeyboardInterrupt, TrainingInterrupted) as exc:  # stop(): the studio is stopping, or the page's
            # Stop button (a network's fit says where it stood and how to resume it in Python: not the page's words)
            from ..run import RunFolder

            kept = RunFolder(out).holds_stopped_run()  # the rule the command's own refusal and resume follow
            self.stopped = (out, settings) if kept and self.stopped_by_page else None
            if self.stopped is None:
                self.state = {"status": "failed", "message": (
                    "Stopped before the training finished. Train again when ready."
                    if self.stopped_by_page else "The studio stopped before the training finished.")}
            else:  # "Training stopped during epoch 3 of 15", "Stopped after training, before ..."
                where = getattr(exc, "stopped", None) or "Stopped before the training finished"
                self.state = {"status": "failed", "resumable": True, "message": (
                    f"{where}. What it had done is kept: Go on from there, or Train anew.")}
        except TrueclassError as e:
            self.state = {"status": "failed", "message": str(e)}
        except Exception as e:  # noqa: BLE001 - the page shows a sentence, the console the detail
            import traceback

            traceback.print_exc()
            self.state = {"status": "failed", "message": f"Training stopped on an unexpected error: {e}"}


def stop_training(trainer: Trainer, echo: Any = print, *, exit_process: bool = False,
                  timeout: float = STOP_WAIT_S) -> None:
    """When the studio stops: a training in progress stops at its next progress report.
    One that does not within ``timeout`` seconds is left running in its thread, or, with
    ``exit_process`` (the studio is the process's program), ends with the process at once:
    Python's own shutdown would stop that thread wherever it stands, which can abort the
    process in the middle of native (torch) code."""
    thread = trainer.thread
    if thread is None or not thread.is_alive():
        return
    echo("Stopping the training in progress...")
    if trainer.stop(timeout):
        return
    if not exit_process:
        echo(f"The training did not stop within {timeout:g} s; it stops at its next progress report.")
        return
    import multiprocessing
    import os
    import sys

    echo(f"The training did not stop within {timeout:g} s and is abandoned where it stood.")
    for child in multiprocessing.active_children():  # none is started, but none outlives the studio either
        child.kill()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(130)  # the exit status of Ctrl-C


def studio_runs(project: Project) -> list[Path]:
    """The studio's run folders, oldest first (finished or not)."""
    runs = project.runs_dir
    if not runs.is_dir():
        return []
    # by time, then by the -K of runs begun in the same second (-10 after -9)
    return sorted((p for p in runs.glob("*") if RUN_NAME.match(p.name)),
                  key=lambda p: (p.name[:15], int(p.name[16:] or 0)))


def left_stopped(project: Project) -> tuple[Path, dict[str, Any]] | None:
    """The newest run folder, with the page's settings it began with, where it holds a run
    stopped before it finished (by the page's Stop, or the studio closing while it ran) that
    can go on: a studio started again offers its Go on as the one that stopped it did."""
    from ..run import RunFolder

    runs = studio_runs(project)
    if not runs or not RunFolder(runs[-1]).holds_stopped_run():
        return None
    try:
        cfg = json.loads((runs[-1] / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    settings = {"model": cfg.get("model") or "auto"}
    if (cfg.get("params") or {}).get("epochs"):
        settings["epochs"] = cfg["params"]["epochs"]
    return runs[-1], settings


def _new_run_dir(project: Project) -> Path:
    base = project.runs_dir / time.strftime("%Y%m%d-%H%M%S")
    out, k = base, 1
    while out.exists():
        out, k = Path(f"{base}-{k}"), k + 1
    return out


def studio_models() -> list[dict[str, str]]:
    """The models the page offers: "auto", then the registry's names (those a name alone
    selects; ``timm:<name>`` needs a backbone named, which is the Python API's business)."""
    from ..models import get_spec, list_models

    out = [{"name": "auto", "description": "chosen from the images"}]
    for name in list_models():
        if "<" not in name:
            out.append({"name": name, "description": get_spec(name).description})
    return out


def check_model_choice(model: Any) -> str:
    """The model a training asks for, or a sentence for the page (no command line in it)."""
    model = str(model or "auto")
    names = [m["name"] for m in studio_models()]
    if model not in names:
        raise TrueclassError(f"There is no model {model[:40]!r}; choose one of the models listed under Advanced "
                             f"({', '.join(names)}).")
    return model


#: The most epochs the page lets a network train for (hours on a laptop CPU beyond it).
MAX_EPOCHS = 200


def check_settings(settings: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The page's Advanced settings as (model, params), or a sentence for the page: checked
    when Train is pressed, before anything starts."""
    model = check_model_choice(settings.get("model"))
    params: dict[str, Any] = {}
    epochs = settings.get("epochs")
    if epochs not in (None, ""):
        try:  # 2.5 is not 2, and true is not 1
            whole = not isinstance(epochs, bool) and float(epochs) == int(float(epochs))
        except (TypeError, ValueError, OverflowError):
            whole = False
        if not whole:
            raise TrueclassError(f"Epochs must be a whole number; got {epochs!r}.")
        params["epochs"] = int(float(epochs))
        if not 1 <= params["epochs"] <= MAX_EPOCHS:
            raise TrueclassError(f"Epochs must be 1 to {MAX_EPOCHS} (or left empty for the model's own); got {epochs!r}.")
        from ..models import get_spec

        if model != "auto" and not get_spec(model).is_network:
            raise TrueclassError(f"Epochs are for the networks; {model} trains until it has learnt what it can. "
                                 "Leave Epochs empty, or choose a network under Advanced.")
    return model, params


def check_project(project: Project) -> None:
    """A sentence in the page's words (no folders, no command line) when the project cannot
    be trained on yet: no images at all, or only one class has images."""
    classes = project.summary()["classes"]
    named = [c["name"] for c in classes if c["count"]]
    if not named:
        raise TrueclassError("There is nothing to train on yet: add two classes and give each images (or press "
                             "Start from digits).")
    if len(named) == 1:
        raise TrueclassError(f"Only '{named[0]}' has images, and a model learns to tell classes apart: add a second "
                             f"class (for example 'not {named[0]}') and give it images.")
    empty = [c["name"] for c in classes if not c["count"]]  # every one at once
    if empty:
        one = len(empty) == 1
        raise TrueclassError(f"{', '.join(map(repr, empty))} ha{'s' if one else 've'} no images yet: give "
                             f"{'it' if one else 'them'} images, or delete {'it' if one else 'them'}, then train.")


def train_project(project: Project, settings: dict[str, Any], on_progress: Any = None, *, out: Path | None = None,
                  resume: bool = False) -> dict[str, Any]:
    """Train on the project as an ordinary run (whole capture sessions held out for the
    test), and, where sessions exist, score the same recipe on a random split of the same
    images to show what near-identical frames on both sides would claim. ``resume``: go on
    with the stopped run in ``out`` (a sentence where the images changed since)."""
    import trueclass as tc

    model, params = check_settings(settings)
    out = _new_run_dir(project) if out is None else out
    if resume:
        try:
            run = tc.resume(out, on_progress=on_progress, progress=False)  # the page shows it
        except ImagesChanged as exc:  # in the page's words: no folders, no command line
            raise TrueclassError(f"The images changed since this training stopped ({exc.changes}), so it cannot go "
                                 "on; press Train to train on them as they are.") from None
    else:
        run = tc.train(str(project.root), model=model, params=params, out=out, on_progress=on_progress,
                       progress=False)
    result = run_result(out)
    if result["split"].get("by_capture_session"):
        def compared(stage: str, done: int, total: int, **info: Any) -> None:
            # the same recipe again: its epochs show, under their own heading
            on_progress(f"scoring a random split, for comparison: {stage}", done, total, **info)

        try:
            if on_progress:
                on_progress("scoring a random split, for comparison (the same training again)", 0, 0)
            # the run's own images, as it read them: not the project as it is now (images added,
            # or a class begun, while the run trained are no part of it)
            naive = tc.train(run.dataset, model=result["model"], params=params, out=out / "random-split",
                             allow_leakage=True, audit=False, on_progress=compared if on_progress else None,
                             progress=False)
        except KeyboardInterrupt:  # Stop during the comparison: the run is done, and Preview already uses its model
            return result
        result["random_split"] = random_split_comparison(result, naive.metrics)
    return result


def random_split_comparison(result: dict[str, Any], m: dict[str, Any]) -> dict[str, Any]:
    """What a random split of the same images claims beside the split by sessions, and
    why, said only as far as the two runs show it: copies of test images among the random
    split's training images, or else only that the two splits differ."""
    out = {"accuracy": m["accuracy"], "accuracy_ci": m["accuracy_ci"], "n_test": m["n_test"], "n_wrong": m["n_wrong"],
           "n_train": m["n_train"]}
    if m["accuracy"] <= result["accuracy"]:
        return out
    claim = (f"A random split of the same images would claim {m['accuracy']:.0%} ({m['n_wrong']} wrong of "
             f"{m['n_test']}, trained on {m['n_train']}) against {result['accuracy']:.0%} here "
             f"(trained on {result['n_train']})")
    copies = ((m.get("leakage") or {}).get("n_leaked_test_images")) or 0
    if copies:
        out["why"] = (f"{claim}: {copies} of its test images {'have' if copies != 1 else 'has'} a near copy among its training images (frames of "
                      "one burst on both sides), and an image is easy to recognise when its near-identical neighbour "
                      "was trained on. The number above tests on whole capture sessions the model never saw.")
    else:
        out["why"] = (f"{claim}. Its test images have no copy among its training images, so the gap is what testing "
                      "on sessions the model never saw costs (another day, light or background), or chance. The "
                      "number above is the one to expect on new sessions.")
    return out


def run_result(out: Path) -> dict[str, Any]:
    """What the page shows of a finished run: its numbers, confusion matrix and misreads
    (a copy: the caller may add to it)."""
    return dict(_read_run(str(out)))


@functools.lru_cache(maxsize=16)
def _read_run(out_dir: str) -> dict[str, Any]:
    """A finished run folder never changes, and the page asks for its result at every
    poll of the project's state: read its files once."""
    from ..report import format_review_plain

    out = Path(out_dir)
    m = json.loads((out / "metrics.json").read_text())
    wrong, unsure = [], []
    with open(out / "predictions.csv", newline="") as f:
        for row in csv.DictReader(f):
            seen = {"file": row["id"], "true": row["true"], "pred": row["pred"], "confidence": float(row["confidence"])}
            if row["correct"] != "True":
                wrong.append(seen)
            if row.get("flagged") == "True":
                unsure.append(seen)
    wrong.sort(key=lambda r: -r["confidence"])
    unsure.sort(key=lambda r: r["confidence"])  # the least sure first
    return {**_label_flags(m.get("audit")),
        "run": out.name, "accuracy": m["accuracy"], "accuracy_ci": m["accuracy_ci"], "n_test": m["n_test"],
        "n_wrong": m["n_wrong"], "n_train": m["n_train"], "classes": m["classes"],
        "confusion_matrix": m["confusion_matrix"], "model": m["model"], "split": m["split"],
        "threshold": (m.get("flagged") or {}).get("threshold"), "misread": wrong[:MISREAD_SHOWN],
        "misread_capped": len(wrong) > MISREAD_SHOWN,
        "review": unsure[:MISREAD_SHOWN], "review_capped": len(unsure) > MISREAD_SHOWN,
        "review_text": format_review_plain(m["flagged"], m["n_test"]) if m.get("flagged") else None,
        "card": f"/runs/{out.name}/card.html?from=studio",  # the card hides its command-line hints
        "warnings": page_warnings(m.get("warnings") or [])[:5],
        "model_chosen": m.get("model_chosen"), **_verdict_and_audit(m),
    }


def _verdict_and_audit(m: dict[str, Any]) -> dict[str, Any]:
    """What the command line prints and the page would otherwise leave out: the training
    verdict where it is not "fine", and the audit's counts with its odd images."""
    from ..report import format_audit_counts, format_verdict

    d, au = m.get("diagnosis"), m.get("audit")
    return {"verdict": format_verdict(d) if d and d.get("verdict") != "fine" else None,
            "audit_text": f"Audit: {format_audit_counts(au)}." if au else None,
            "odd_images": [{"file": o["id"], "reasons": o["reasons"]}
                           for o in (au or {}).get("outliers", [])[:ODD_IMAGES_SHOWN]]}


def _label_flags(audit: dict[str, Any] | None) -> dict[str, Any]:
    """The audit's label flags as the page shows them: the top of the ranking (the card and
    label_issues.csv hold all of it) and what they are called, by the self-check."""
    if not audit:
        return {"label_issues": [], "label_issues_text": None, "label_issues_plain": None}
    from ..report import format_label_issues, format_label_issues_plain

    return {"label_issues": [{"file": it["id"], "given": it["given"], "suggested": it["suggested"],
                              "score": it["score"]} for it in audit.get("label_issues", [])[:LABEL_FLAGS_SHOWN]],
            "label_issues_text": format_label_issues(audit),  # the command line's words, on hover
            "label_issues_plain": format_label_issues_plain(audit)}


#: Misread test images the page shows (the surest first); the card shows them all.
MISREAD_SHOWN = 60

#: Label flags the page shows (most likely wrong first).
LABEL_FLAGS_SHOWN = 24

#: Odd images the page shows, in the audit's order (audit.json lists them all).
ODD_IMAGES_SHOWN = 24


def page_warnings(warnings: list[dict[str, Any]]) -> list[str]:
    """The run's warnings as sentences for the page, each said once (the card's words),
    less what the page cannot do: class weights are a setting of Python and the command line."""
    from ..report import warning_sentences

    page = []
    for w in warnings:
        if w.get("kind") == "imbalance" and {"largest", "smallest", "ratio"} <= set(w):
            w = {**w, "message": f"Strong imbalance: '{w['largest']}' has {w['ratio']:.1f} times the training images "
                                 f"of '{w['smallest']}', and a model leans toward what it saw most. Look at each "
                                 f"class's row of the confusion matrix rather than the accuracy; more images of "
                                 f"'{w['smallest']}' may help."}
        page.append(w)
    return warning_sentences(page)


def current_result(result: dict[str, Any] | None, project: Project) -> dict[str, Any] | None:
    """A run's result as the page may show it now, with only the images the project still
    has. Once its classes are no longer the project's (one renamed, added or deleted since)
    it is marked ``stale`` with a sentence saying so (the page greys it); None when it
    shares no class with the project any more."""
    if not result:
        return None
    was, now = list(result.get("classes") or []), [c["name"] for c in project.summary()["classes"]]
    out = dict(result)
    if sorted(was) != sorted(now):
        if not set(was) & set(now):
            return None
        gone, new = [c for c in was if c not in now], [c for c in now if c not in was]
        change = "; ".join(x for x in (f"{', '.join(map(repr, gone))} no longer here" if gone else "",
                                       f"{', '.join(map(repr, new))} not trained on" if new else "") if x)
        out["stale"] = (f"This result is of the classes before they changed ({change}); train again for a result "
                        "of the classes as they are.")
    there = project.image_files()
    for key in ("misread", "review", "label_issues", "odd_images"):  # thumbnails of images still there
        out[key] = [w for w in result.get(key, []) if w["file"] in there]
    return out
