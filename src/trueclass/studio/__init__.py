"""trueclass studio: a local web page to collect images, train and see the evidence.

    trueclass studio [PROJECT_DIR]

A project is an ordinary folder (``_project``); the page is plain HTML, CSS and
JavaScript in ``static/``, served with the JSON API of ``_app`` by uvicorn on 127.0.0.1.
"""

from __future__ import annotations

from ._project import Project, check_class_name

__all__ = ["Project", "check_class_name", "create_app", "serve"]


def create_app(project, **kw):
    from .._extras import require

    require("studio", "The studio")
    from ._app import create_app as make

    return make(project if isinstance(project, Project) else Project(project), **kw)


def serve(project_dir: str = "studio-project", *, host: str = "127.0.0.1", port: int = 8765,
          open_browser: bool = True, echo=print, exit_process: bool = False) -> None:
    """Serve the studio for ``project_dir`` until Ctrl-C. Another host than this machine
    only when asked, with a warning: anyone who can reach it can read and change the
    project. On Ctrl-C a training in progress stops at its next progress report; with
    ``exit_process`` (``trueclass studio``), one that does not within a few seconds ends
    with the process."""
    import signal
    import socket
    import threading

    from .._extras import require

    require("studio", "The studio")
    import webbrowser

    import uvicorn

    from ._app import LOCAL_HOSTS
    from ._training import stop_training

    project = Project(project_dir)
    local = host in LOCAL_HOSTS
    app = create_app(project, allowed_hosts=LOCAL_HOSTS if local else ("*",))
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        if port == 0:
            raise
        sock.bind((host.strip("[]"), 0))  # the port is taken: any free one
    sock.listen(128)  # listening before the address is printed: a browser opened at once waits, not fails
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host == "0.0.0.0" else host
    url = f"http://{shown if ':' not in shown else '[' + shown.strip('[]') + ']'}:{port}/"
    if not local:
        echo(f"Warning: the studio listens on {host}: anyone who can reach this machine on port {port} can see and "
             "change the project. Use it on a network you trust, and stop it (Ctrl-C) when done.")
    if project.recovered.get("adopted") or project.recovered.get("forgotten"):
        echo(f"Recovered the project after an interruption: {project.recovered['adopted']} image(s) kept that the "
             f"manifest had not named yet, {project.recovered['forgotten']} entry(ies) whose file was gone.")
    echo(f"trueclass studio: project {project.root}\nOpen {url} (Ctrl-C stops the studio)")
    if open_browser:
        threading.Timer(0.8, lambda: webbrowser.open(url)).start()
    class Server(uvicorn.Server):
        """uvicorn's server, remembering the signals that stopped it."""

        stopped_by: tuple[int, ...] = ()

        def handle_exit(self, sig, frame):
            self.stopped_by += (sig,)
            super().handle_exit(sig, frame)

    # the first Ctrl-C stops the studio: requests still answering after 5 s are cancelled
    server = Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=5))
    try:
        server.run(sockets=[sock])
        if signal.SIGINT in server.stopped_by:
            # uvicorn raises the Ctrl-C again once it has stopped, but a process started with
            # SIGINT ignored (a background job of a script inherits that) would then end as if
            # nothing had happened: it ends as a Ctrl-C does, whatever it inherited
            raise KeyboardInterrupt
    finally:
        stop_training(app.state.trainer, echo, exit_process=exit_process)

