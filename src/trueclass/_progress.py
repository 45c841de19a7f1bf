"""A progress bar for ``on_progress(stage, done, total, **info)``: the command line's, and
``tc.train``'s and ``tc.resume``'s in Python by default (as Keras's fit shows its own). rich
draws it on stderr, in a terminal or a notebook, and removes it when the work ends; where
stderr is neither (a log file, a test), it draws nothing."""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["ProgressBar"]


class ProgressBar:
    """Shows on_progress(stage, done, total) calls as a rich progress bar on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console(stderr=True)
        # in a notebook rich draws with ipywidgets; without it, it warns at every refresh instead
        widgets = not self.console.is_jupyter or importlib.util.find_spec("ipywidgets") is not None
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=self.console, transient=True, disable=not (enabled and widgets),  # under torchrun, rank 0's
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> "ProgressBar":
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def __call__(self, stage: str, done: int, total: int, **info: Any) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total or None)
        label = stage
        if info:
            from .report._text import format_progress

            label = f"{stage} {format_progress(info)}"
        self.progress.update(self.tasks[stage], completed=done, total=total or None, description=label)
