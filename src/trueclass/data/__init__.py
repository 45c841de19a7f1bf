"""Sources, the Dataset, and the split. Never imports torch."""

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

#: What other trueclass packages use besides the names above, loaded on first use.
_FACE = {
    "BUILTIN_DATASETS": "._builtin",
    "CHUNK_ROWS": "._rows",
    "DEFAULT_MAX_PIXELS": "._images",
    "IMAGE_SUFFIXES": "._images",
    "ImageRows": "._rows",
    "NEAR_CORRELATION": "._hashing",
    "NEAR_MIN_SIDE": "._hashing",
    "PER_IMAGE_KEYS": "._dataset",
    "PHASH_BITS": "._hashing",
    "PHASH_CANDIDATE_DISTANCE": "._hashing",
    "PROJECT_FILE": "._sources",
    "cache_dir": "._builtin",
    "check_slice_by": "._slices",
    "close_pairs": "._hashing",
    "file_hashes": "._hashing",
    "from_arrays": "._sources",
    "groups_from_pairs": "._hashing",
    "infer_value_max": "._sources",
    "is_hidden": "._images",
    "is_on_disk": "._rows",
    "iter_files": "._images",
    "labels_problem": "._sources",
    "load_builtin": "._builtin",
    "n_workers": "._images",
    "phash_bits": "._hashing",
    "pixel_hashes": "._hashing",
    "probe": "._images",
    "read_images": "._sources",
    "read_images_for": "._sources",
    "read_project_manifest": "._sources",
    "slice_groups": "._slices",
    "to_display": "._dataset",
    "unit_rows": "._hashing",
}


def __getattr__(name: str):
    if name in _FACE:  # read from its module each time (not kept here), so a patch of it holds
        import importlib

        return getattr(importlib.import_module(_FACE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ += sorted(_FACE)
