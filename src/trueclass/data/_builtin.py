"""The built-in data sets: scikit-learn's digits and Fashion-MNIST."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .._errors import TrueclassError
from ._dataset import NUMBER_LABELS, Dataset
from ._idx import read_idx

__all__ = [
    "BUILTIN_DATASETS",
    "BuiltinDataset",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_URL",
    "DEBIAN_FASHION_MNIST_DIR",
    "cache_dir",
    "download_fashion_mnist",
    "find_fashion_mnist",
    "list_datasets",
    "load_builtin",
]

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
#: The dataset's official address and the MD5 sums published beside the files.
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
#: Where Debian's package dataset-fashion-mnist puts the files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class BuiltinDataset:
    name: str
    description: str
    loader: Callable[..., Dataset]
    where: Callable[[], str]


def cache_dir() -> Path:
    """Where downloads, converted weights, embeddings and decoded images are kept:
    $TRUECLASS_CACHE, else $XDG_CACHE_HOME/trueclass, else ~/.cache/trueclass."""
    env = os.environ.get("TRUECLASS_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trueclass"


# -- digits ------------------------------------------------------------------------------
def _load_digits(**_: object) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Keep the original 0..16 values (value_max=16): the pixel models then see exactly the
    # numbers the lesson's LogisticRegression sees, and reproduce its score to the image.
    images = bunch.images.astype(np.uint8)
    return Dataset(
        images=images,
        labels=bunch.target,
        classes=tuple(str(c) for c in bunch.target_names),
        ids=np.array([f"digits/{i}" for i in range(len(images))]),
        value_max=16,
        # the lesson's y is numbers: a model trained here answers numbers too (clf.predict(X_test) == y_test)
        provenance={"source": "digits", "origin": "scikit-learn load_digits (UCI optical digits, 8x8, values 0-16)",
                    NUMBER_LABELS: True},
    )


# -- Fashion-MNIST -----------------------------------------------------------------------
def _names_in(folder: Path) -> dict[str, Path] | None:
    """The four files in ``folder`` (or its fashion-mnist/ subfolder), gzipped or not."""
    for base in (folder, folder / "fashion-mnist"):
        found = {}
        for name in FASHION_MNIST_FILES:
            for candidate in (base / name, base / name[: -len(".gz")]):
                if candidate.is_file():
                    found[name] = candidate
                    break
        if len(found) == len(FASHION_MNIST_FILES):
            return found
    return None


def find_fashion_mnist(data_dir: str | Path | None = None) -> tuple[dict[str, Path] | None, list[str]]:
    """Look for the files in ``data_dir``, $TRUECLASS_DATA, Debian's folder, the cache.

    Returns the files found (or None) and the folders that were searched.
    """
    candidates = []
    if data_dir is not None:
        candidates.append(Path(data_dir).expanduser())
    if os.environ.get("TRUECLASS_DATA"):
        candidates.append(Path(os.environ["TRUECLASS_DATA"]).expanduser())
    candidates += [DEBIAN_FASHION_MNIST_DIR, cache_dir() / "fashion-mnist"]
    for folder in candidates:
        found = _names_in(folder)
        if found:
            return found, [str(c) for c in candidates]
    return None, [str(c) for c in candidates]


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_fashion_mnist(
    dest: str | Path | None = None,
    *,
    base_url: str | None = None,
    checksums: dict[str, str] | None = None,
    timeout: float = 60.0,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Path]:
    """Download the four Fashion-MNIST files into ``dest`` and check their MD5 sums.

    A file already there with the right sum is kept. Each download goes to a ``.part``
    file that is renamed only once its sum matches, so a broken download never leaves a
    file that looks complete. ``base_url`` defaults to $TRUECLASS_FASHION_MNIST_URL, else
    the dataset's official address.
    """
    dest = Path(dest) if dest is not None else cache_dir() / "fashion-mnist"
    base_url = base_url or os.environ.get("TRUECLASS_FASHION_MNIST_URL") or FASHION_MNIST_URL
    if not base_url.endswith("/"):
        base_url += "/"
    checksums = checksums or FASHION_MNIST_FILES
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, md5 in checksums.items():
        target = dest / name
        if target.is_file() and _md5(target) == md5:
            out[name] = target
            continue
        part = target.with_name(target.name + ".part")
        url = base_url + name
        h = hashlib.md5(usedforsecurity=False)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as fh:
                total = int(resp.headers.get("Content-Length") or 0)
                done = 0
                while block := resp.read(1 << 16):
                    fh.write(block)
                    h.update(block)
                    done += len(block)
                    if on_progress is not None:
                        on_progress(name, done, total)
        except (urllib.error.URLError, OSError) as exc:
            part.unlink(missing_ok=True)
            reason = getattr(exc, "reason", exc)
            raise TrueclassError(
                f"Could not download Fashion-MNIST file {name} from {url} ({reason}). "
                "Install Debian's package dataset-fashion-mnist, or put the four files in a folder "
                "and pass it as data_dir=FOLDER (or $TRUECLASS_DATA)."
            ) from None
        if h.hexdigest() != md5:
            part.unlink(missing_ok=True)
            raise TrueclassError(
                f"The downloaded {name} does not match its published MD5 sum "
                f"(got {h.hexdigest()}, expected {md5}); it was deleted. Try again later, or "
                "put the official files in a folder and pass it as data_dir=FOLDER."
            )
        os.replace(part, target)
        out[name] = target
    return out


def _load_fashion_mnist(*, data_dir: str | Path | None = None, download: bool = True, **_: object) -> Dataset:
    files, searched = find_fashion_mnist(data_dir)
    if files is None:
        if not download:
            raise TrueclassError(
                "Fashion-MNIST was not found in " + ", ".join(searched) + ". Install Debian's package "
                "dataset-fashion-mnist or pass data_dir=FOLDER."
            )
        files = download_fashion_mnist()
    x_train = read_idx(files["train-images-idx3-ubyte.gz"])
    y_train = read_idx(files["train-labels-idx1-ubyte.gz"])
    x_test = read_idx(files["t10k-images-idx3-ubyte.gz"])
    y_test = read_idx(files["t10k-labels-idx1-ubyte.gz"])
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise TrueclassError(
            f"The Fashion-MNIST files in {files['train-images-idx3-ubyte.gz'].parent} do not match "
            "(different numbers of images and labels); replace them with the official files."
        )
    images = np.concatenate([x_train, x_test])
    labels = np.concatenate([y_train, y_test]).astype(np.int64)
    ids = np.array([f"train/{i}" for i in range(len(x_train))] + [f"test/{i}" for i in range(len(x_test))])
    part = np.array(["train"] * len(x_train) + ["test"] * len(x_test))
    return Dataset(
        images=images,
        labels=labels,
        classes=FASHION_MNIST_CLASSES,
        ids=ids,
        provenance={
            "source": "fashion-mnist",
            "origin": "Zalando Research Fashion-MNIST (official train/test split)",
            "files": {k: str(v) for k, v in files.items()},
        },
        predefined_split=part,
    )


def _fashion_where() -> str:
    files, _ = find_fashion_mnist()
    if files:
        return "found in " + str(next(iter(files.values())).parent)
    return "not on disk yet: downloaded on first use"


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    "digits": BuiltinDataset(
        "digits", "1,797 handwritten digits, 8x8 grey, 10 classes (scikit-learn, embedded)",
        _load_digits, lambda: "embedded in scikit-learn",
    ),
    "fashion-mnist": BuiltinDataset(
        "fashion-mnist", "70,000 clothing images, 28x28 grey, 10 classes, official 60k/10k split",
        _load_fashion_mnist, _fashion_where,
    ),
}


def load_builtin(name: str, **options: object) -> Dataset:
    return BUILTIN_DATASETS[name].loader(**options)


def list_datasets() -> list[dict[str, str]]:
    """The built-in data sets with a description and where they are."""
    return [{"name": d.name, "description": d.description, "where": d.where()} for d in BUILTIN_DATASETS.values()]
