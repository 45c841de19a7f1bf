"""Errors that reach users as one plain sentence instead of a traceback."""

from __future__ import annotations

from typing import Any

__all__ = ["TrueclassError", "NotFittedError", "ImagesChanged", "TrainingInterrupted", "Terminated",
           "install_notebook_handler"]


class TrueclassError(ValueError):
    """A mistake in the input or the call that the user can fix.

    The message is a full sentence saying what went wrong and what to do. The command
    line prints it without a traceback, and so does a notebook (see
    :func:`install_notebook_handler`). It subclasses ``ValueError`` so code that already
    catches bad values keeps working.
    """


class ImagesChanged(TrueclassError):
    """A resume whose source no longer holds the images the run began with; ``changes``
    says how they differ ("80 images in 2 classes then, 120 in 3 now; new: d2")."""

    def __init__(self, message: str, *, changes: str = ""):
        super().__init__(message)
        self.changes = changes


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a job scheduler's stop), raised as Ctrl-C is once the
    command line installs its handler: the run stops at once and cleans up after itself (a
    half-made run folder is removed, a network keeps its last finished epoch), where
    Python's default ends the process mid-write. ``seen``: a SIGTERM arrived in this
    process (a TrainingInterrupted raised from it exits 143 too)."""

    seen = False


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during a fit, or a run stopped once its model was trained: what was kept
    (``checkpoint``, or None when none was written) and how to go on; ``stopped`` says where
    training stood. A KeyboardInterrupt, so no ``except Exception`` (a check that may fail
    without costing the run) takes it for a failure and goes on; the command line prints it
    and exits 130, a notebook shows it in one line."""

    def __init__(self, message: str, *, checkpoint: Any = None, stopped: str = ""):
        super().__init__(message)
        self.checkpoint, self.stopped = checkpoint, stopped


def install_notebook_handler() -> bool:
    """Show :class:`TrueclassError` in IPython/Jupyter as one line, not a traceback.

    Called once by ``import trueclass``; does nothing outside IPython. Returns whether a
    handler was installed.
    """
    import sys

    if "IPython" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    if shell is None:
        return False

    def _handler(shell, etype, value, tb, tb_offset=None):  # noqa: ARG001 - IPython's signature
        print(f"{etype.__name__}: {value}", file=sys.stderr)
        return None

    shell.set_custom_exc((TrueclassError, TrainingInterrupted), _handler)
    import warnings

    # libraries under trueclass (the hub client, cleanlab) import tqdm.auto, which warns in a
    # notebook without ipywidgets; the lesson's notebook has no use for their progress bars
    warnings.filterwarnings("ignore", message="IProgress not found")
    return True


def __getattr__(name: str):
    # NotFittedError is also scikit-learn's, whose import takes about a second: the class is
    # made on first use (then kept), so `import trueclass` and the command line stay fast.
    if name == "NotFittedError":
        from sklearn.exceptions import NotFittedError as _SkNotFittedError

        class NotFittedError(TrueclassError, _SkNotFittedError):
            """``predict`` (or ``save``) before ``fit``. Also scikit-learn's NotFittedError."""

        NotFittedError.__module__ = __name__
        globals()[name] = NotFittedError
        return NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
