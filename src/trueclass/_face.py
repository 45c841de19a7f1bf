"""A package's face: the names other packages import from it, each loaded from its own
module on first use (PEP 562), so importing the package stays cheap and no import circle
forms through it."""

from __future__ import annotations

import importlib
from typing import Any, Callable

__all__ = ["face", "face_names"]


def face(package: str, modules: dict[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package`` for ``modules`` (a module relative to the
    package -> the names it gives, separated by spaces). A name is read from its module
    each time, not kept, so a patch of the module's attribute holds."""
    names = {name: module for module, listed in modules.items() for name in listed.split()}

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(names[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def face_names(modules: dict[str, str]) -> list[str]:
    """Every name of a face table, sorted (for the package's ``__all__``)."""
    return sorted(name for listed in modules.values() for name in listed.split())
