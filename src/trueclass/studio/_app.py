"""The studio's web application (Starlette): a JSON API over :class:`Project` and the
run pipeline, and one page of plain HTML/CSS/JavaScript served from the package.

Safety: the Host header must name this machine (no DNS rebinding); every request that
changes something must come from the studio's own page (same Origin, and a per-server
token that another web page cannot read); request bodies are capped; files are served
only from the project's manifest and its run folders.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import TrueclassError
from ._project import MAX_FILE_BYTES, Project, check_image
from ._training import (MAX_EPOCHS, RUN_NAME, Trainer, check_project, check_settings, current_result, run_result,
                        studio_models, studio_runs)

__all__ = ["create_app", "MAX_REQUEST_BYTES", "TOKEN_HEADER"]

#: One request (an upload of many files, a hold-to-record burst) carries at most this much.
MAX_REQUEST_BYTES = 64 * 1024**2
#: ... and at most this many files.
MAX_FILES_PER_REQUEST = 500
TOKEN_HEADER = "x-trueclass-token"
STATIC = Path(__file__).parent / "static"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
#: The digits "Start from digits" adds a class, and the most it adds: a fifth of each class
#: is tested, so 30 test images a digit, the fewest that make a class's score worth reading
#: (with 30 a digit the test part held 6, and a model often read all 60 right, leaving
#: nothing to discuss). The page reads it from its meta tag.
DIGITS_PER_CLASS = 150
#: Class names read as "none of these" in the preview.
NONE_NAMES = ("none", "none of these", "nothing", "other", "background", "unknown")


class Predictor:
    """The latest run's model, loaded once, for preview predictions."""

    def __init__(self, project: Project):
        self.project = project
        self.loaded: tuple[str, Any] | None = None
        self.lock = threading.Lock()

    def latest(self) -> Path | None:
        # a run is finished when its card is written, the last of its files (a run in progress
        # already has a model folder, possibly half-written)
        runs = [p for p in studio_runs(self.project) if (p / "card.html").is_file()]
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

        check_image(data, "The preview image")  # the sentence starts with it
        run, clf = self.model()
        known, now = [str(c) for c in clf.classes_], self.project.class_names()
        if sorted(known) != sorted(now):  # a class renamed, added or deleted since: its result is greyed too
            raise TrueclassError(f"The classes changed since the last training (the model knows {', '.join(known)}; "
                                 f"the project now has {', '.join(now) or 'none'}): train again to preview.")
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

    def guarded(what: str, change: Any, *fields: str) -> Any:
        """A POST that changes images a training may be reading: refused while one runs,
        else ``change`` called with the request's ``fields`` (strings)."""
        async def handler(request: Request) -> Response:
            d = await _body_json(request)
            _refuse_while_training(trainer, what)
            return JSONResponse(change(*(str(d.get(f, "")) for f in fields)))
        return handler

    async def add_images(request: Request) -> Response:
        from starlette.datastructures import UploadFile

        async with request.form(max_files=MAX_FILES_PER_REQUEST, max_fields=20) as form:
            name = str(form.get("class") or "")
            kind = str(form.get("kind") or "upload")
            # a later part of one upload (the page sends a large one in parts): the first part's session
            session = str(form.get("session") or "") or None
            files = []
            for f in form.getlist("files"):
                if isinstance(f, UploadFile):
                    files.append((f.filename or "an upload", await f.read(MAX_FILE_BYTES + 1)))
        if not files:
            raise TrueclassError("No files came with the request.")
        if kind == "drawing":
            files = drawings_in_project_form(project, files)
        if session is not None and not project.has_session(name, session):
            raise TrueclassError(f"The first part of this upload is not in '{name}'; upload the files again.")
        return JSONResponse(project.add_images(name, files, kind=kind, session=session))

    async def builtin(request: Request) -> Response:
        d = await _body_json(request)
        try:
            per_class = int(d.get("per_class", DIGITS_PER_CLASS))
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
        Route("/api/classes/delete", guarded("delete a class", project.delete_class, "name"), methods=["POST"]),
        Route("/api/classes/restore", guarded("restore a class", project.restore_class, "id"), methods=["POST"]),
        Route("/api/images", add_images, methods=["POST"]),
        Route("/api/images/move", guarded("move an image", project.move_image, "file", "to"), methods=["POST"]),
        Route("/api/images/remove", guarded("remove an image", project.remove_image, "file"), methods=["POST"]),
        Route("/api/images/unremove", guarded("put an image back", project.unremove_image, "kept_in"),
              methods=["POST"]),
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
        html = (STATIC / "index.html").read_text(encoding="utf-8").replace("{{TOKEN}}", token).replace(
            "{{MAX_FILE_BYTES}}", str(MAX_FILE_BYTES)).replace(  # the page refuses a file the server would, before sending
            "{{MAX_EPOCHS}}", str(MAX_EPOCHS)).replace("{{DIGITS_PER_CLASS}}", str(DIGITS_PER_CLASS)).replace(
            "{{MAX_FILES_PER_REQUEST}}", str(MAX_FILES_PER_REQUEST)).replace(  # the page sends a large upload in parts
            "{{MAX_REQUEST_BYTES}}", str(MAX_REQUEST_BYTES))
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
        out["deleted_classes"] = project.deleted_classes()[:5]  # the latest, for the page's Restore
        return JSONResponse(out)

    async def start_training(request: Request) -> Response:
        settings = await _body_json(request)
        check_settings(settings)  # a sentence (400) before anything starts
        check_project(project)
        return JSONResponse(trainer.start(settings))

    async def stop_training_now(request: Request) -> Response:
        return JSONResponse(trainer.request_stop())

    async def resume_training(request: Request) -> Response:
        check_project(project)
        return JSONResponse(trainer.resume())

    async def models(request: Request) -> Response:
        return JSONResponse({"models": studio_models()})

    async def predict(request: Request) -> Response:
        data = await request.body()
        return JSONResponse(predictor.predict(data, drawing=request.query_params.get("kind") == "drawing"))

    async def run_file(request: Request) -> Response:
        run, rest = request.path_params["run"], request.path_params["path"]
        base = project.runs_dir.resolve()
        target = (base / run / rest).resolve()
        if not RUN_NAME.match(run) or base not in target.parents or not target.is_file():
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
        Route("/api/train/stop", stop_training_now, methods=["POST"]),
        Route("/api/train/resume", resume_training, methods=["POST"]),
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


def add_builtin(project: Project, name: str, per_class: int = DIGITS_PER_CLASS, *, beside: bool = False
                ) -> dict[str, Any]:
    """Start a classroom project from a built-in set (digits): ``per_class`` images of
    each class, each its own capture session (a different child's handwriting). A project
    that already has classes is refused with a sentence unless ``beside`` (the page has
    asked): ten digit classes beside a webcam project's are rarely what was meant."""
    from PIL import Image

    import trueclass as tc
    from ..data import to_display

    if name != "digits":
        raise TrueclassError("The studio can start from the built-in 'digits' set.")
    per_class = max(1, min(int(per_class), DIGITS_PER_CLASS))
    have = [c["name"] for c in project.summary()["classes"]]
    digits = [str(d) for d in range(10)]  # the set's classes, known before it is loaded (or refused)
    same = [c for c in have if c in digits]  # digits join the classes of their name
    where = (f"the digits would go into its class{'es' if len(same) > 1 else ''} {', '.join(same)}"
             + (" and add the other digits as classes" if len(same) < len(digits) else "")
             if same else "the digits would add ten classes, 0 to 9, beside them")
    if have and not beside:
        shown_names = ", ".join(repr(c) for c in have[:6]) + (f" and {len(have) - 6} more" if len(have) > 6 else "")
        raise TrueclassError(f"This project already has classes ({shown_names}); {where}. Start the digits in an "
                             "empty project, or confirm to add them.")
    ds = tc.load("digits")
    assert [str(c) for c in ds.classes] == digits
    shown = to_display(ds.images, ds.value_max)
    added = already = 0
    for k, cls in enumerate(ds.classes):
        if not any(c["name"] == str(cls) for c in project.summary()["classes"]):
            project.add_class(str(cls))
        files = []
        for i in np.flatnonzero(ds.labels == k)[:per_class]:
            buf = io.BytesIO()
            Image.fromarray(shown[i][..., 0]).save(buf, format="PNG")
            files.append((f"digit-{i}.png", buf.getvalue()))
        got = project.add_images(str(cls), files, kind="builtin", each_its_own_session=True)
        added, already = added + len(got["added"]), already + len(got["already"])
    return {"added": added, "classes": [str(c) for c in ds.classes],
            "message": f"Added {added} images of handwritten digits in ten classes, 0 to 9"
                       + ((" (into the classes of those names already here)." if same else
                           f", beside the {len(have)} classes already here.") if have else ".")
                       + (f" {already} more {'were' if already != 1 else 'was'} in the project already and "
                          f"{'were' if already != 1 else 'was'} not added again." if already else "")}

