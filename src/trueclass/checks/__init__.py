"""The data audit: duplicates and near copies, leaks between parts, conflicting labels,
class balance, odd images and likely label errors. It looks at the data, before and
around the split; what looks at a trained model is in ``trueclass.diagnostics``."""

from ._audit import Audit, Duplicates, audit, class_balance, find_duplicates, find_label_issues, image_outliers

__all__ = ["Audit", "Duplicates", "audit", "class_balance", "find_duplicates", "find_label_issues", "image_outliers"]

#: What other trueclass packages use besides the names above, loaded on first use.
_FACE = {
    "EMBED_MIN_SIDE": "._labels",
}


def __getattr__(name: str):
    if name in _FACE:  # read from its module each time (not kept here), so a patch of it holds
        import importlib

        return getattr(importlib.import_module(_FACE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ += sorted(_FACE)
