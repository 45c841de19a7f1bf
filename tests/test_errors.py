"""In a notebook a TrueclassError is shown as one line, not a traceback."""

from __future__ import annotations

import sys
import types

import trueclass as tc
from trueclass._errors import install_notebook_handler


def test_handler_outside_ipython_does_nothing(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert install_notebook_handler() is False


def test_handler_in_ipython_prints_one_line(monkeypatch, capsys):
    registered = {}

    class Shell:
        def set_custom_exc(self, types_, handler):
            registered["types"] = types_
            registered["handler"] = handler

    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: Shell()
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert install_notebook_handler() is True
    assert registered["types"] == (tc.TrueclassError, tc.TrainingInterrupted)  # a Ctrl-C says what it kept
    err = tc.TrueclassError("Class 'c' has no usable images; add images to it or remove it.")
    registered["handler"](None, type(err), err, None)
    out = capsys.readouterr().err
    assert out.strip() == "TrueclassError: Class 'c' has no usable images; add images to it or remove it."
