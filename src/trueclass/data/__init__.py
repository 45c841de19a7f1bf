"""Sources, the Dataset, and the split. Never imports torch."""

from .._face import face, face_names
from ._builtin import download_fashion_mnist, list_datasets
from ._dataset import Dataset, Skipped
from ._idx import read_idx, write_idx
from ._sources import array_to_images, load
from ._split import Split, split

__all__ = [
    "Dataset",
    "Skipped",
    "Split",
    "array_to_images",
    "download_fashion_mnist",
    "list_datasets",
    "load",
    "read_idx",
    "split",
    "write_idx",
]


__getattr__ = face(__name__)

__all__ += [n for n in face_names(__name__) if n not in __all__]
