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

#: What other trueclass packages use besides the names above, loaded on first use.
_FACE = {
    "._builtin": "BUILTIN_DATASETS cache_dir load_builtin",
    "._dataset": "PER_IMAGE_KEYS to_display",
    "._hashing": ("NEAR_CORRELATION NEAR_MIN_SIDE PHASH_BITS PHASH_CANDIDATE_DISTANCE close_pairs "
        "file_hashes groups_from_pairs phash_bits pixel_hashes unit_rows"),
    "._images": "DEFAULT_MAX_PIXELS IMAGE_SUFFIXES is_hidden iter_files n_workers probe",
    "._rows": "CHUNK_ROWS ImageRows is_on_disk",
    "._slices": "check_slice_by slice_groups",
    "._sources": ("PROJECT_FILE from_arrays infer_value_max labels_problem read_images "
        "read_images_for read_project_manifest"),
}

__getattr__ = face(__name__, _FACE)

__all__ += [n for n in face_names(_FACE) if n not in __all__]
