"""Every source kind, and every kind of bad input: a clear sentence, nothing lost."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import trueclass as tc
from trueclass.data import write_idx
from trueclass.data._images import probe
from tests.conftest import need_fashion_mnist, shape_image

SMALL_LIMIT = 1_000_000  # pixels: the 1500x1500 "bomb" in messy_folder is over it


def skipped_map(ds):
    return {s.path: s.reason for s in ds.skipped}


def test_digits_are_the_embedded_set():
    from sklearn.datasets import load_digits

    ds = tc.load("digits")
    ref = load_digits()
    assert ds.images.shape == (1797, 8, 8, 1)
    assert ds.value_max == 16
    np.testing.assert_array_equal(ds.images[..., 0], ref.images.astype(np.uint8))
    np.testing.assert_array_equal(ds.labels, ref.target)
    assert ds.classes == tuple(str(i) for i in range(10))
    assert ds.provenance["hash"].startswith("sha256:")
    assert tc.load("digits").hash == ds.hash  # same content, same hash


@pytest.mark.slow
def test_fashion_mnist_reads_the_debian_files():
    need_fashion_mnist()
    ds = tc.load("fashion-mnist")
    assert ds.images.shape == (70000, 28, 28, 1)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert (ds.predefined_split == "train").sum() == 60000
    assert (ds.predefined_split == "test").sum() == 10000
    assert np.bincount(ds.labels).tolist() == [7000] * 10
    parts = tc.split(ds)
    assert (parts.n_train, parts.n_test) == (60000, 10000)


def test_fashion_mnist_prefers_data_dir(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "fm"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (20, 28, 28), dtype=np.uint8))
    write_idx(d / "train-labels-idx1-ubyte.gz", (np.arange(20) % 10).astype(np.uint8))
    write_idx(d / "t10k-images-idx3-ubyte", rng.integers(0, 255, (10, 28, 28), dtype=np.uint8))  # not gzipped
    write_idx(d / "t10k-labels-idx1-ubyte", (np.arange(10) % 10).astype(np.uint8))
    ds = tc.load("fashion-mnist", data_dir=d)
    assert len(ds) == 30
    assert str(d) in ds.provenance["files"]["train-images-idx3-ubyte.gz"]


def test_a_data_dir_that_is_no_folder_is_one_sentence_before_any_work(tmp_path, monkeypatch):
    # it was passed over in silence: Fashion-MNIST came from Debian's folder and trained for minutes
    from click.testing import CliRunner

    from trueclass.cli import cli

    monkeypatch.chdir(tmp_path)
    with pytest.raises(tc.TrueclassError, match=r"The data folder '.*nope' is not a folder on this machine"):
        tc.load("fashion-mnist", data_dir=tmp_path / "nope")
    res = CliRunner().invoke(cli, ["train", "fashion-mnist", "--data-dir", str(tmp_path / "nope"), "--out", "run"])
    assert res.exit_code == 1 and "with --data-dir FOLDER" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_idx_pair_and_broken_idx(tmp_path):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 255, (12, 6, 6), dtype=np.uint8)
    write_idx(tmp_path / "im.idx", imgs)
    write_idx(tmp_path / "lb.idx", (np.arange(12) % 3).astype(np.uint8))
    ds = tc.load(f"idx:{tmp_path / 'im.idx'},{tmp_path / 'lb.idx'}")
    np.testing.assert_array_equal(ds.images[..., 0], imgs)
    assert ds.classes == ("0", "1", "2")
    (tmp_path / "bad.idx").write_bytes((tmp_path / "im.idx").read_bytes()[:50])
    with pytest.raises(tc.TrueclassError, match="truncated or corrupt"):
        tc.load(f"idx:{tmp_path / 'bad.idx'},{tmp_path / 'lb.idx'}")
    with pytest.raises(tc.TrueclassError, match="idx:IMAGES,LABELS"):
        tc.load("idx:only-one-file")
    write_idx(tmp_path / "lb5.idx", np.zeros(5, np.uint8))
    with pytest.raises(tc.TrueclassError, match="12 images but the labels file holds 5"):
        tc.load(f"idx:{tmp_path / 'im.idx'},{tmp_path / 'lb5.idx'}")


def test_npz_shapes_and_refusals(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.random((10, 4, 4))  # floats in [0, 1]
    y = np.array(["cat", "dog"] * 5)
    np.savez(tmp_path / "a.npz", X=X, y=y)
    ds = tc.load(tmp_path / "a.npz")
    assert ds.images.dtype == np.uint8 and ds.images.shape == (10, 4, 4, 1)
    assert ds.images.max() > 200  # scaled from [0, 1] to [0, 255]
    assert ds.classes == ("cat", "dog")
    np.savez(tmp_path / "flat.npz", X=(X.reshape(10, 16) * 255).astype(np.uint8), y=y)
    assert tc.load(tmp_path / "flat.npz").images.shape == (10, 4, 4, 1)
    np.savez(tmp_path / "nox.npz", images=X, y=y)
    with pytest.raises(tc.TrueclassError, match="arrays named X"):
        tc.load(tmp_path / "nox.npz")
    np.savez(tmp_path / "obj.npz", X=np.array([object()] * 3, dtype=object), y=np.arange(3))
    with pytest.raises(tc.TrueclassError, match="never loads"):
        tc.load(tmp_path / "obj.npz")
    np.savez(tmp_path / "odd.npz", X=np.zeros((4, 15)), y=np.arange(4))
    with pytest.raises(tc.TrueclassError, match="not a square image"):
        tc.load(tmp_path / "odd.npz")


def test_messy_folder_loads_good_files_and_lists_every_skip(messy_folder):
    root, expected = messy_folder
    ds = tc.load(root, max_pixels=SMALL_LIMIT)
    skipped = {str(Path(p).relative_to(root)) + ("/" if p.endswith("/") else ""): r for p, r in skipped_map(ds).items()}
    for rel, word in expected.items():
        assert rel in skipped, f"{rel} was not listed as skipped"
        assert word in skipped[rel], f"{rel}: {skipped[rel]!r} should mention {word!r}"
    assert len(skipped) == len(expected)
    # every good file loaded: 8 per class + the odd modes and formats
    counts = ds.counts()
    assert counts == {"bars": 9, "cols": 11, "squares": 12}
    assert ds.images.shape[1:] == (16, 16, 1)  # most common size, grey wins the vote
    assert ds.provenance["skipped"]  # kept in provenance, not only returned


def test_odd_modes_are_converted_sensibly(messy_folder):
    root, _ = messy_folder
    ds = tc.load(root, max_pixels=SMALL_LIMIT)
    by_id = {i: img for i, img in zip(ds.ids, ds.images)}
    # 16-bit: scaled down, not clipped to white
    deep = by_id["squares/deep16.png"][..., 0].astype(int)
    plain = np.asarray(shape_image(2)).astype(int)
    assert np.abs(deep - plain).max() <= 1
    # RGBA with full alpha keeps its pixels; palette GIF too
    assert np.abs(by_id["squares/rgba.png"][..., 0].astype(int) - plain).max() <= 1
    assert np.abs(by_id["squares/palette.gif"][..., 0].astype(int) - plain).max() <= 1


def test_exif_orientation_is_applied(messy_folder):
    root, _ = messy_folder
    (pr,) = probe([str(root / "bars" / "exif_rotated.jpg")])
    assert pr.ok and pr.size == (16, 12)  # stored 16 wide x 12 high, shown rotated


def test_transparent_pixels_become_white(tmp_path, make_folder):
    root = make_folder({"a": 3, "b": 3})
    im = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    im.save(root / "a" / "clear.png")
    ds = tc.load(root)
    img = ds.images[list(ds.ids).index("a/clear.png")]
    assert img.min() == 255


def test_colour_mode_and_image_size_options(make_folder):
    root = make_folder({"a": 4, "b": 4}, color=True)
    ds = tc.load(root)
    assert ds.color_mode == "RGB"
    grey = tc.load(root, color_mode="L", image_size="12x8")
    assert grey.images.shape[1:] == (8, 12, 1)  # WIDTHxHEIGHT
    with pytest.raises(tc.TrueclassError, match="WIDTHxHEIGHT"):
        tc.load(root, image_size="big")


def test_large_photos_are_scaled_down_by_default(make_folder):
    root = make_folder({"a": 3, "b": 3}, size=600)
    ds = tc.load(root)
    assert ds.image_size == (256, 256)
    assert ds.provenance["resized_from"] == [600, 600]


def test_presplit_folder_keeps_its_split(make_folder, tmp_path):
    base = tmp_path / "split"
    make_folder({"a": 6, "b": 6}, root=base / "train")
    make_folder({"a": 2, "b": 2}, root=base / "test", seed=1)
    make_folder({"a": 2, "b": 2}, root=base / "val", seed=2)
    ds = tc.load(base)
    assert sorted(set(ds.predefined_split)) == ["test", "train", "val"]
    parts = tc.split(ds, test_size=0.5)
    assert (parts.n_train, parts.n_val, parts.n_test) == (12, 4, 4)
    assert all(i.startswith("test/") for i in parts.test.ids)


def test_csv_manifest(tmp_path, make_folder):
    make_folder({"a": 4, "b": 4})
    rows = [(f"images/a/a_{i:03d}.png", "a") for i in range(4)] + [(f"images/b/b_{i:03d}.png", "b") for i in range(4)]
    rows += [("images/missing.png", "a"), ("images/a/a_000.png", "")]
    with open(tmp_path / "m.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label"])
        w.writerows(rows)
    ds = tc.load(tmp_path / "m.csv")
    assert len(ds) == 8 and ds.classes == ("a", "b")
    reasons = list(skipped_map(ds).values())
    assert any("file not found" in r for r in reasons) and any("no label" in r for r in reasons)
    (tmp_path / "bad.csv").write_text("file,class\nx.png,a\n")
    with pytest.raises(tc.TrueclassError, match="columns named path and label"):
        tc.load(tmp_path / "bad.csv")


def test_missing_path_empty_class_one_class(tmp_path, make_folder):
    with pytest.raises(tc.TrueclassError, match="No such file or folder: 'nowhere'"):
        tc.load("nowhere")
    root = make_folder({"a": 3, "b": 3})
    (root / "c").mkdir()
    (root / "c" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    before = sorted(p.name for p in (root / "c").iterdir())
    with pytest.raises(tc.TrueclassError, match=r"Class folder 'c' .* has no usable images \(1 files skipped: broken.jpg"):
        tc.load(root)
    assert sorted(p.name for p in (root / "c").iterdir()) == before  # nothing deleted
    one = make_folder({"only": 3}, root=tmp_path / "one")
    with pytest.raises(tc.TrueclassError, match="Only one class"):
        tc.load(one)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(tc.TrueclassError, match="No class subfolders"):
        tc.load(empty)


def test_unreadable_file_is_skipped(make_folder, monkeypatch):
    # Tests run as root in CI, where chmod cannot make a file unreadable: make the
    # open itself fail the way it does for an ordinary user.
    root = make_folder({"a": 3, "b": 3})
    locked = root / "a" / "a_000.png"
    real_open = Image.open

    def fake_open(fp, *args, **kwargs):
        if Path(fp) == locked:
            raise PermissionError(13, "Permission denied", str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", fake_open)
    ds = tc.load(root)
    assert "permission denied" in skipped_map(ds)[str(locked)]
    assert len(ds) == 5 and locked.exists()


def test_unknown_file_kind_and_bad_color_mode(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(tc.TrueclassError, match="does not know how to read"):
        tc.load(tmp_path / "x.json")
    with pytest.raises(tc.TrueclassError, match="color_mode"):
        tc.load("digits", color_mode="CMYK")


def test_dataset_show_and_subset():
    import matplotlib

    matplotlib.use("Agg")
    ds = tc.load("digits")
    ax = ds.show(5)
    assert ax.get_title().startswith("5")
    with pytest.raises(tc.TrueclassError, match="no image 5000"):
        ds.show(5000)
    sub = ds.subset([3, 1])
    assert sub.ids.tolist() == ["digits/3", "digits/1"]
    assert sub.provenance["parent_hash"] == ds.hash


def test_sizes_are_written_width_x_height_everywhere(tmp_path):
    # regression: --image-size, the console and predict wrote 88x157 (width x height) where the
    # card, the Dataset and its intended use wrote 157x88 for the same images
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (40, 10, 20, 1), dtype=np.uint8)  # 10 high, 20 wide
    images[::2, :, :10] = 255  # class a: the left half white
    ds = tc.load((images, ["a", "b"] * 20))
    assert "20x10 L" in repr(ds) and "images of 20x10 L" in ds.summary()
    assert tc.load((images, ["a", "b"] * 20), image_size="20x10").image_size == (10, 20)  # as written
    assert tc.load((images, ["a", "b"] * 20), image_size=(10, 20)).image_size == (10, 20)  # numpy's (height, width)
    run = tc.train(ds, model="knn", audit=False, out=tmp_path / "run")
    card = (run.path / "card.html").read_text()
    assert "images of 20x10 pixels (width x height)" in card and "Sorting 20x10 grey images" in card


def test_a_file_that_will_not_decode_does_not_choose_the_sets_size(tmp_path):
    # regression: a truncated file's header voted for the size every image was resized to; removing
    # that file, which was skipped anyway, changed the model's input size
    import shutil

    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for cls, sizes in {"a": [16, 16, 24], "b": [20, 20, 28]}.items():
        (root / cls).mkdir(parents=True)
        for k, side in enumerate(sizes):
            Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).save(root / cls / f"{k}.png")
    clean = tmp_path / "clean"
    shutil.copytree(root, clean)
    for k in range(3):  # three truncated 40x40 JPEGs: their headers read, their pixels do not
        Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(root / "a" / f"cut{k}.jpg")
        data = (root / "a" / f"cut{k}.jpg").read_bytes()
        (root / "a" / f"cut{k}.jpg").write_bytes(data[: len(data) // 3])
    tidy = tc.load(clean)
    for cache in (False, True):  # decoded in memory, and into the disk cache (then read back from it)
        for _ in range(1 + cache):
            messy = tc.load(root, cache=cache)
            assert len(messy.skipped) == 3 and messy.image_size == tidy.image_size != (40, 40)
            np.testing.assert_array_equal(messy.images, tidy.images)
