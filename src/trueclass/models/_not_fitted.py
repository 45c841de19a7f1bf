"""The error of a model used before ``fit``, alone in a module so that evaluation can
raise it without importing the models package."""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SkNotFittedError

from .._errors import TrueclassError

__all__ = ["NotFittedError"]


class NotFittedError(TrueclassError, _SkNotFittedError):
    """``predict`` (or ``save``) before ``fit``. Also scikit-learn's NotFittedError."""
