"""The studio's web application (Starlette): a JSON API over :class:`Project` and the
run pipeline, and one page of plain HTML/CSS/JavaScript served from the package.

Safety: the Host header must name this machine (no DNS rebinding); every request that
changes something must come from the studio's own page (same Origin, and a per-server
token that another web page cannot read); request bodies are capped; files are served
only from the project's manifest and its run folders.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import secrets
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import TrueclassError
from ._project import MAX_FILE_BYTES, Project, check_image

__all__ = ["create_app", "stop_training", "studio_models", "MAX_REQUEST_BYTES", "TOKEN_HEADER"]

#: One request (an upload of many files, a hold-to-record burst) carries at most this much.
MAX_REQUEST_BYTES = 64 * 1024**2
#: ... and at most this many files.
MAX_FILES_PER_REQUEST = 500
TOKEN_HEADER = "x-trueclass-token"
STATIC = Path(__file__).parent / "static"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
#: Class names read as "none of these" in the preview.
NONE_NAMES = ("none", "none of these", "nothing", "other", "background", "unknown")
_RUN_NAME = re.compile(r"^[0-9]{8}-[0-9]{6}(-[0-9]+)?$")
#: Seconds a stopping studio waits for a training in progress to reach its next progress
#: report and stop there (a network reports every 10 batches; a long scikit-learn fit may
#: not report for minutes, and is then abandoned with the process).
STOP_WAIT_S = 5.0


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

    def start(self, settings: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if self.state.get("status") == "running":
                raise TrueclassError("A training is already running; wait for it to finish.")
            self.state = {"status": "running", "stage": "starting", "done": 0, "total": 0, "started": time.time()}
            self.thread = threading.Thread(target=self._run, args=(settings,), daemon=True)
            self.thread.start()
            return dict(self.state)

    def _progress(self, stage: str, done: int = 0, total: int = 0, **_: Any) -> None:
        if self.stopping.is_set():
            raise TrainingStopped
        self.state.update(stage=str(stage), done=int(done or 0), total=int(total or 0))

    def stop(self, timeout: float = STOP_WAIT_S) -> bool:
        """Ask a training in progress to stop at its next progress report and wait up to
        ``timeout`` seconds for it: whether no training is left running."""
        self.stopping.set()
        thread = self.thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _run(self, settings: dict[str, Any]) -> None:
        try:
            result = train_project(self.project, settings, self._progress)
            self.state = {"status": "done", "result": result, "seconds": round(time.time() - self.state["started"], 1)}
        except TrueclassError as e:  # a network stopped by stop() says where it stood
            self.state = {"status": "failed", "message": str(e)}
        except KeyboardInterrupt:  # stop(): the studio is stopping
            self.state = {"status": "failed", "message": "The studio stopped before the training finished."}
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


def train_project(project: Project, settings: dict[str, Any], on_progress: Any = None) -> dict[str, Any]:
    """Train on the project as an ordinary run (whole capture sessions held out for the
    test), and, where sessions exist, score the same recipe on a random split of the same
    images to show what near-identical frames on both sides would claim."""
    import trueclass as tc

    model = check_model_choice(settings.get("model"))
    params = {}
    if settings.get("epochs"):
        try:
            params["epochs"] = int(settings["epochs"])
        except (TypeError, ValueError):
            raise TrueclassError(f"epochs must be a whole number; got {settings['epochs']!r}.") from None
    out = _new_run_dir(project)
    tc.train(str(project.root), model=model, params=params, out=out, on_progress=on_progress)
    result = run_result(out)
    if result["split"].get("by_capture_session"):
        if on_progress:
            on_progress("scoring a random split, for comparison", 0, 0)
        chosen = result["model"]
        naive = tc.train(str(project.root), model=chosen, params=params, out=out / "random-split", allow_leakage=True,
                         audit=False)
        m = naive.metrics
        result["random_split"] = {"accuracy": m["accuracy"], "accuracy_ci": m["accuracy_ci"], "n_test": m["n_test"],
                                  "n_wrong": m["n_wrong"]}
        if m["accuracy"] > result["accuracy"]:
            result["random_split"]["why"] = (
                f"A random split of the same images would claim {m['accuracy']:.0%} ({m['n_wrong']} wrong of "
                f"{m['n_test']}) against {result['accuracy']:.0%} here: it puts frames of one burst on both sides, "
                "and a frame is easy to recognise when its near-identical neighbour was trained on. The number "
                "above tests on whole capture sessions the model never saw.")
    return result


def run_result(out: Path) -> dict[str, Any]:
    """What the page shows of a finished run: its numbers, confusion matrix and misreads
    (a copy: the caller may add to it)."""
    return dict(_read_run(str(out)))


@functools.lru_cache(maxsize=16)
def _read_run(out_dir: str) -> dict[str, Any]:
    """A finished run folder never changes, and the page asks for its result at every
    poll of the project's state: read its files once."""
    out = Path(out_dir)
    m = json.loads((out / "metrics.json").read_text())
    wrong = []
    with open(out / "predictions.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["correct"] != "True":
                wrong.append({"file": row["id"], "true": row["true"], "pred": row["pred"],
                              "confidence": float(row["confidence"])})
    wrong.sort(key=lambda r: -r["confidence"])
    return {
        "run": out.name, "accuracy": m["accuracy"], "accuracy_ci": m["accuracy_ci"], "n_test": m["n_test"],
        "n_wrong": m["n_wrong"], "n_train": m["n_train"], "classes": m["classes"],
        "confusion_matrix": m["confusion_matrix"], "model": m["model"], "split": m["split"],
        "threshold": (m.get("flagged") or {}).get("threshold"), "misread": wrong[:60],
        "card": f"/runs/{out.name}/card.html", "warnings": page_warnings(m.get("warnings") or [])[:5],
        "model_chosen": m.get("model_chosen"),
    }


def page_warnings(warnings: list[dict[str, Any]]) -> list[str]:
    """The run's warnings as sentences for the page, each said once: the classes with few
    test images in one sentence rather than one per class."""
    from ..evaluation._diagnosis import FEW_TEST_IMAGES

    few = [w for w in warnings if w.get("kind") == "few_test_images"]
    out: list[str] = []
    for w in warnings:
        if w.get("kind") == "few_test_images":
            if w is not few[0]:
                continue
            if len(few) > 1:
                ns = sorted({int(x.get("n", 0)) for x in few})
                n = f"{ns[0]}" if len(ns) == 1 else f"{ns[0]} to {ns[-1]}"
                names = ", ".join(repr(str(x.get("class"))) for x in few)
                out.append(f"Classes {names} have only {n} test images each; fewer than {FEW_TEST_IMAGES} a class "
                           "make their scores unreliable.")
                continue
        text = str(w.get("message") or w.get("error") or "")
        if text and text not in out:
            out.append(text)
    return out


def current_result(result: dict[str, Any] | None, project: Project) -> dict[str, Any] | None:
    """A run's result as the page may show it now: None once its classes are not the
    project's classes (one was deleted, renamed or added since), and only the misread
    images the project still has."""
    if not result:
        return None
    summary = project.summary()
    if sorted(result.get("classes") or []) != sorted(c["name"] for c in summary["classes"]):
        return None
    out = dict(result)
    out["misread"] = [w for w in result.get("misread", []) if project.has_image(w["file"])]
    return out


class Predictor:
    """The latest run's model, loaded once, for preview predictions."""

    def __init__(self, project: Project):
        self.project = project
        self.loaded: tuple[str, Any] | None = None
        self.lock = threading.Lock()

    def latest(self) -> Path | None:
        # a run is finished when its card is written, the last of its files (a run in progress
        # already has a model folder, possibly half-written)
        runs = sorted(p for p in self.project.runs_dir.glob("*") if _RUN_NAME.match(p.name)
                      and (p / "card.html").is_file()) if self.project.runs_dir.is_dir() else []
        return runs[-1] if runs else None

    def model(self) -> tuple[str, Any]:
        from ..models import load_model

        run = self.latest()
        if run is None:
            raise TrueclassError("Train a model first: there is nothing to preview with yet.")
        with self.lock:
            if self.loaded is None or self.loaded[0] != run.name:
                self.loaded = (run.name, load_model(run / "model"))
            return self.loaded

    def predict(self, data: bytes, *, drawing: bool = False) -> dict[str, Any]:
        """The latest model's reading of an image file; a ``drawing`` (the page's canvas)
        is first turned into the training images' form (see ``_drawing``)."""
        from PIL import Image

        from ..run.predict import predict_arrays
        from ._drawing import drawing_as_training_image

        check_image(data, "the preview image")
        run, clf = self.model()
        h, w, c = clf.image_shape_
        if drawing:
            arr = drawing_as_training_image(data, (h, w), c).reshape(1, h, w, c)
        else:
            with Image.open(io.BytesIO(data)) as im:
                im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8).reshape(1, h, w, c)
        row = predict_arrays(clf, arr, ["preview"], top_k=len(clf.classes_))[0]
        threshold = clf.metadata_.get("threshold")
        top = row["label"]
        return {"run": run, "label": top, "confidence": row["confidence"], "bars": row["top_k"][:5],
                "not_sure": bool(row["flagged"]), "threshold": threshold,
                "none_of_these": top.strip().casefold() in NONE_NAMES,
                "unlike_training": row["unlike_training"]}


# -- the application --------------------------------------------------------------------------
class Guard:
    """Same-origin requests only for anything that changes the project, and a cap
    on the body of every request."""

    def __init__(self, app: Any, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        from starlette.exceptions import HTTPException
        from starlette.responses import JSONResponse

        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refuse = None
        if scope["method"] not in SAFE_METHODS:
            host = headers.get("host", "")
            origin = headers.get("origin")
            if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
                refuse = (403, "Requests from other web pages are refused: use the studio's own page.")
            elif not secrets.compare_digest(headers.get(TOKEN_HEADER, ""), self.token):
                refuse = (403, "This request did not come from the studio's page (its token is missing); "
                               "reload the page.")
        length = headers.get("content-length")
        if refuse is None and length is not None and length.isdigit() and int(length) > MAX_REQUEST_BYTES:
            refuse = (413, f"A request may carry at most {MAX_REQUEST_BYTES // 1024**2} MB; send fewer files "
                           "at a time.")
        if refuse is not None:
            return await JSONResponse({"error": refuse[1]}, status_code=refuse[0])(scope, receive, send)
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_REQUEST_BYTES:
                raise HTTPException(413, f"A request may carry at most {MAX_REQUEST_BYTES // 1024**2} MB.")
            return message

        return await self.app(scope, counted, send)


def run_zip(run_dir: Path) -> io.BytesIO:
    """A finished run as the studio's download: the model folder, the ONNX export with its
    parity check on the run's held-out images (made on the first download), metrics,
    card and config."""
    from ..run.export import export as export_run

    if not (run_dir / "export" / "model.onnx").is_file():
        export_run(run_dir)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for sub in ("model", "export"):
            for f in sorted((run_dir / sub).rglob("*")):
                if f.is_file():
                    z.write(f, f"{sub}/{f.relative_to(run_dir / sub).as_posix()}")
        for extra in ("metrics.json", "card.html", "config.json"):
            if (run_dir / extra).is_file():
                z.write(run_dir / extra, extra)
    buf.seek(0)
    return buf


def _error(message: str, status: int = 400):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


async def _body_json(request: Any) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        raise TrueclassError("The request is not valid JSON.") from None
    if not isinstance(data, dict):
        raise TrueclassError("The request must be a JSON object.")
    return data


def _refuse_while_training(trainer: "Trainer | None", what: str) -> None:
    if trainer is not None and trainer.state.get("status") == "running":
        raise TrueclassError(f"A training is running on this project's images; {what} once it has finished.")


def drawings_in_project_form(project: Project, files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Drawings from the canvas in the form of the project's images (the digits: 8x8 block
    counts), so that they train like them; as drawn while the project has no images.
    A file that is not an image is passed on for ``add_images`` to refuse with its reason."""
    from ._drawing import drawing_as_training_image, png_bytes, project_image_form

    form = project_image_form(project.sample_files())
    if form is None:
        return files
    out = []
    for name, data in files:
        try:
            check_image(data, "the drawing")
            out.append((name, png_bytes(drawing_as_training_image(data, *form))))
        except TrueclassError:
            out.append((name, data))
    return out


def _project_routes(project: Project, trainer: "Trainer | None" = None) -> list[Any]:
    """The API that edits the project folder: classes, uploads, a built-in set, and its images."""
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Route

    async def add_class(request: Request) -> Response:
        return JSONResponse({"name": project.add_class((await _body_json(request)).get("name"))})

    async def rename_class(request: Request) -> Response:
        d = await _body_json(request)
        _refuse_while_training(trainer, "rename a class")
        return JSONResponse({"name": project.rename_class(str(d.get("old")), d.get("new"))})

    async def delete_class(request: Request) -> Response:
        _refuse_while_training(trainer, "delete a class")
        return JSONResponse(project.delete_class(str((await _body_json(request)).get("name"))))

    async def add_images(request: Request) -> Response:
        from starlette.datastructures import UploadFile

        async with request.form(max_files=MAX_FILES_PER_REQUEST, max_fields=20) as form:
            name = str(form.get("class") or "")
            kind = str(form.get("kind") or "upload")
            files = []
            for f in form.getlist("files"):
                if isinstance(f, UploadFile):
                    files.append((f.filename or "an upload", await f.read(MAX_FILE_BYTES + 1)))
        if not files:
            raise TrueclassError("No files came with the request.")
        if kind == "drawing":
            files = drawings_in_project_form(project, files)
        return JSONResponse(project.add_images(name, files, kind=kind))

    async def builtin(request: Request) -> Response:
        d = await _body_json(request)
        try:
            per_class = int(d.get("per_class", 30))
        except (TypeError, ValueError):
            raise TrueclassError("per_class must be a whole number.") from None
        return JSONResponse(add_builtin(project, str(d.get("name", "digits")), per_class,
                                        beside=d.get("beside_classes") is True))

    async def image(request: Request) -> Response:
        try:
            return FileResponse(project.image_file(request.query_params.get("file", "")),
                                headers={"Cache-Control": "max-age=3600"})
        except TrueclassError as e:
            return _error(str(e), 404)

    return [
        Route("/api/classes", add_class, methods=["POST"]),
        Route("/api/classes/rename", rename_class, methods=["POST"]),
        Route("/api/classes/delete", delete_class, methods=["POST"]),
        Route("/api/images", add_images, methods=["POST"]),
        Route("/api/builtin", builtin, methods=["POST"]),
        Route("/api/image", image),
    ]


def _exception_handlers() -> dict[Any, Any]:
    """Every failure as {"error": sentence} with its status: a TrueclassError, an HTTP
    error, an upload that could not be parsed."""
    from starlette.exceptions import HTTPException
    from starlette.formparsers import MultiPartException

    async def on_trueclass_error(request: Any, exc: Exception) -> Any:
        return _error(str(exc), 400)

    async def on_http_error(request: Any, exc: Exception) -> Any:
        assert isinstance(exc, HTTPException)
        return _error(exc.detail, exc.status_code)

    async def on_form_error(request: Any, exc: Exception) -> Any:
        return _error(f"The upload could not be read: {exc}", 400)

    return {TrueclassError: on_trueclass_error, HTTPException: on_http_error, MultiPartException: on_form_error}


def create_app(project: Project, *, allowed_hosts: tuple[str, ...] = LOCAL_HOSTS, token: str | None = None):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    token = token or secrets.token_urlsafe(24)
    trainer = Trainer(project)
    predictor = Predictor(project)

    async def index(request: Request) -> Response:
        html = (STATIC / "index.html").read_text(encoding="utf-8").replace("{{TOKEN}}", token)
        return HTMLResponse(html, headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: "
                                       "mediastream:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
            "Cache-Control": "no-store"})

    async def state(request: Request) -> Response:
        out = project.summary()
        out["training"] = {k: v for k, v in trainer.state.items() if k != "started"}
        if "result" in out["training"]:
            out["training"]["result"] = current_result(out["training"]["result"], project)
        last = predictor.latest()
        if last is not None and trainer.state.get("status") != "done":
            try:
                out["last_result"] = current_result(run_result(last), project)
            except (OSError, ValueError, KeyError):
                pass
        out["recovered"] = project.recovered
        return JSONResponse(out)

    async def start_training(request: Request) -> Response:
        settings = await _body_json(request)
        check_model_choice(settings.get("model"))
        return JSONResponse(trainer.start(settings))

    async def models(request: Request) -> Response:
        return JSONResponse({"models": studio_models()})

    async def predict(request: Request) -> Response:
        data = await request.body()
        return JSONResponse(predictor.predict(data, drawing=request.query_params.get("kind") == "drawing"))

    async def run_file(request: Request) -> Response:
        run, rest = request.path_params["run"], request.path_params["path"]
        base = project.runs_dir.resolve()
        target = (base / run / rest).resolve()
        if not _RUN_NAME.match(run) or base not in target.parents or not target.is_file():
            return _error("No such file.", 404)
        return FileResponse(target)

    async def export(request: Request) -> Response:
        last = predictor.latest()
        if last is None:
            return _error("Train a model first: there is nothing to export yet.", 404)
        from starlette.concurrency import run_in_threadpool

        buf = await run_in_threadpool(run_zip, last)
        name = f"{re.sub(r'[^A-Za-z0-9_-]', '_', project.root.name) or 'project'}-{last.name}.zip"
        return StreamingResponse(buf, media_type="application/zip",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})

    routes = [
        Route("/", index),
        Route("/api/project", state),
        *_project_routes(project, trainer),
        Route("/api/models", models),
        Route("/api/train", start_training, methods=["POST"]),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/api/export", export),
        Route("/runs/{run}/{path:path}", run_file),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)), Middleware(Guard, token=token)],
        exception_handlers=_exception_handlers(),
    )
    app.state.token = token
    app.state.project = project
    app.state.trainer = trainer
    return app


def add_builtin(project: Project, name: str, per_class: int = 30, *, beside: bool = False) -> dict[str, Any]:
    """Start a classroom project from a built-in set (digits): ``per_class`` images of
    each class, each its own capture session (a different child's handwriting). A project
    that already has classes is refused with a sentence unless ``beside`` (the page has
    asked): ten digit classes beside a webcam project's are rarely what was meant."""
    from PIL import Image

    import trueclass as tc
    from ..data._dataset import to_display

    if name != "digits":
        raise TrueclassError("The studio can start from the built-in 'digits' set.")
    per_class = max(1, min(int(per_class), 150))
    have = [c["name"] for c in project.summary()["classes"]]
    if have and not beside:
        shown_names = ", ".join(repr(c) for c in have[:6]) + (", ..." if len(have) > 6 else "")
        raise TrueclassError(f"This project already has classes ({shown_names}); the digits would add ten classes, "
                             "0 to 9, beside them. Start the digits in an empty project, or confirm to add them "
                             "beside.")
    ds = tc.load("digits")
    shown = to_display(ds.images, ds.value_max)
    added = 0
    for k, cls in enumerate(ds.classes):
        if not any(c["name"] == str(cls) for c in project.summary()["classes"]):
            project.add_class(str(cls))
        for i in np.flatnonzero(ds.labels == k)[:per_class]:
            buf = io.BytesIO()
            Image.fromarray(shown[i][..., 0]).save(buf, format="PNG")
            added += len(project.add_images(str(cls), [(f"digit-{i}.png", buf.getvalue())], kind="builtin")["added"])
    return {"added": added, "classes": [str(c) for c in ds.classes],
            "message": f"Added {added} images of handwritten digits in ten classes, 0 to 9"
                       + (f", beside the {len(have)} classes already here." if have else ".")}

