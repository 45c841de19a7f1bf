"""The data audit: duplicates and near copies, leaks between parts, conflicting labels,
class balance, odd images and likely label errors. It looks at the data, before and
around the split; what looks at a trained model is in ``trueclass.diagnostics``."""

from .._face import face, face_names
from ._audit import Audit, Duplicates, audit, class_balance, find_duplicates, find_label_issues, image_outliers

__all__ = ["Audit", "Duplicates", "audit", "class_balance", "find_duplicates", "find_label_issues", "image_outliers"]


__getattr__ = face(__name__)

__all__ += [n for n in face_names(__name__) if n not in __all__]
