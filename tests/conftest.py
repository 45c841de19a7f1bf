"""Shared fixtures: small image folders built on the spot, with every kind of bad file."""

from __future__ import annotations

import io
import os
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):
    # two test workers on two cores: one thread each, not two each, for torch and for the BLAS
    # and OpenMP pools of numpy and scikit-learn (set before numpy loads here, and inherited by
    # the commands the tests start). Two pools of two threads on two cores made a group of
    # runs take 110 s against 50 s with one (tests/test_lesson.py, checks/test_audit.py, test_run.py)
    os.environ.setdefault("TRUECLASS_THREADS", "1")
    for _pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_pool, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER"):
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # a pool a plugin loaded before this file keeps one thread too

REQUIRE_DATA = os.environ.get("TRUECLASS_REQUIRE_DATA") == "1"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` run where torch sees a GPU; elsewhere they are skipped, or fail
    where TRUECLASS_REQUIRE_CUDA=1 says a GPU must be there (the GPU check)."""
    marked = [item for item in items if item.get_closest_marker("cuda")]
    if not marked:
        return
    import torch

    if torch.cuda.is_available():
        return
    if os.environ.get("TRUECLASS_REQUIRE_CUDA") == "1":
        raise pytest.UsageError("TRUECLASS_REQUIRE_CUDA=1, but torch sees no CUDA GPU here")
    for item in marked:
        item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


@pytest.fixture(scope="session", autouse=True)
def _cache_of_this_session(tmp_path_factory):
    """Converted backbone weights and embeddings go to this test session's folder, not ~/.cache:
    one folder for all the session's xdist workers (they share pytest's base folder), so the
    backbone is converted and exported about once, not once a worker; every cache file is
    written under a temporary name and renamed, so two workers never see half a file."""
    if "TRUECLASS_CACHE" not in os.environ:
        base = tmp_path_factory.getbasetemp()
        shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
        (shared / "cache").mkdir(exist_ok=True)
        os.environ["TRUECLASS_CACHE"] = str(shared / "cache")
    yield


def need_fashion_mnist():
    """Skip on a machine without Debian's Fashion-MNIST; fail in CI, which installs it."""
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        if REQUIRE_DATA:
            pytest.fail("Fashion-MNIST is required here (apt-get install dataset-fashion-mnist)")
        pytest.skip("Debian's dataset-fashion-mnist is not installed")


def train_evaluate_predict(source: Path, tmp_path: Path) -> tuple[Path, list[str], list[dict[str, str]]]:
    """``trueclass train`` (logreg, no audit), ``evaluate`` and ``predict`` on ``source``
    through the CLI, each asserted to succeed: the run folder, the ids of its
    predictions.csv and the rows of predict's CSV."""
    import csv

    from click.testing import CliRunner

    from trueclass.cli import cli

    runner, out = CliRunner(), tmp_path / "run"
    r = runner.invoke(cli, ["train", str(source), "--model", "logreg", "--no-audit", "--out", str(out)])
    assert r.exit_code == 0, r.output
    with open(out / "predictions.csv", newline="") as fh:
        ids = [row["id"] for row in csv.DictReader(fh)]
    r = runner.invoke(cli, ["evaluate", str(out), str(source), "--out", str(tmp_path / "ev")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["predict", str(out), str(source), "--csv", str(tmp_path / "pred.csv")])
    assert r.exit_code == 0, r.output
    with open(tmp_path / "pred.csv", newline="") as fh:
        return out, ids, list(csv.DictReader(fh))


def shape_image(kind: int, size: int = 16, rng: np.random.Generator | None = None, color=None) -> Image.Image:
    """A synthetic picture of class ``kind``: 0 = horizontal bar, 1 = vertical bar, 2 = square."""
    rng = rng or np.random.default_rng(0)
    a = (rng.random((size, size)) * 40).astype(np.uint8)
    m = size // 4
    if kind == 0:
        a[size // 2 - 2 : size // 2 + 2, m:-m] = 230
    elif kind == 1:
        a[m:-m, size // 2 - 2 : size // 2 + 2] = 230
    else:
        a[m:-m, m:-m] = 230
    img = Image.fromarray(a)
    if color:
        img = Image.merge("RGB", [img, img.point(lambda v: v // 2), img.point(lambda v: 255 - v)])
    return img


@pytest.fixture
def make_folder(tmp_path):
    """Build a class-folder tree: ``make_folder({"bars": 6, "cols": 6})`` -> root path."""

    def build(counts: dict[str, int], *, size: int = 16, root: Path | None = None, fmt: str = "PNG",
              color: bool = False, seed: int = 0) -> Path:
        root = root or (tmp_path / "images")
        rng = np.random.default_rng(seed)
        for kind, (name, n) in enumerate(counts.items()):
            d = root / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = shape_image(kind % 3, size, rng, color=color)
                img.save(d / f"{name}_{i:03d}.{fmt.lower().replace('jpeg', 'jpg')}", format=fmt)
        return root

    return build


@pytest.fixture
def messy_folder(make_folder, tmp_path):
    """A folder with good images and every kind of bad or odd file. Returns (root, expected)."""
    root = make_folder({"bars": 8, "cols": 8, "squares": 8})
    bars, cols, squares = root / "bars", root / "cols", root / "squares"
    expected_skips = {}
    # bad files
    (bars / "empty.png").write_bytes(b"")
    expected_skips["bars/empty.png"] = "empty"
    good = io.BytesIO()
    shape_image(0).save(good, format="PNG")
    (bars / "truncated.png").write_bytes(good.getvalue()[:60])
    expected_skips["bars/truncated.png"] = "truncated"
    (cols / "notes.txt").write_text("not an image")
    expected_skips["cols/notes.txt"] = "not an image"
    (cols / ".DS_Store").write_bytes(b"\x00\x01junk")
    expected_skips["cols/.DS_Store"] = "hidden"
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "x.png").write_bytes(good.getvalue())
    expected_skips[".ipynb_checkpoints/"] = "hidden folder"
    (root / "README.md").write_text("stray file at the top")
    expected_skips["README.md"] = "not inside a class folder"
    big = Image.new("L", (1500, 1500))
    big.save(squares / "bomb.png", optimize=False)
    expected_skips["squares/bomb.png"] = "decompression bomb"
    # odd modes that must load
    rgba = shape_image(2).convert("RGBA")
    rgba.save(squares / "rgba.png")
    shape_image(2).convert("P").save(squares / "palette.gif")
    arr16 = (np.asarray(shape_image(2), dtype=np.uint16) * 257)
    Image.fromarray(arr16).save(squares / "deep16.png")
    shape_image(2, size=24).convert("CMYK").save(squares / "cmyk.jpg", format="JPEG")
    shape_image(1, size=20).save(cols / "other_size.bmp", format="BMP")
    shape_image(1).save(cols / "tiff.tif", format="TIFF")
    shape_image(1).save(cols / "webp.webp", format="WEBP", lossless=True)
    # a portrait JPEG stored sideways with an EXIF orientation tag
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    side = shape_image(0, size=16).crop((0, 0, 16, 12))
    side.save(bars / "exif_rotated.jpg", format="JPEG", exif=exif.tobytes())
    return root, expected_skips
