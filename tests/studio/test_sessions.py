"""Issue 26, item 5: a webcam project of two classes with two recorded sessions each
trains on whole sessions. Burst frames are near duplicates by nature, across sessions
too (one room, one hand): the duplicate groups must not join a class's sessions and send
the whole class to one side of the split."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import trueclass as tc
from trueclass._errors import TrueclassError
from trueclass.studio import Project


def scene(kind: int, size: int = 48) -> np.ndarray:
    """One class's scene: a grey room with a bright square (class 0) or a bar (class 1)."""
    a = np.full((size, size, 3), 90.0)
    yy, xx = np.mgrid[:size, :size]
    a += 40 * np.sin(xx / 7.0)[..., None]  # the same wall in every class
    if kind == 0:
        a[12:30, 14:32] = 230
    else:
        a[8:40, 20:27] = 30
    return a


def frames(kind: int, session: int, n: int = 10, seed: int = 0) -> list[bytes]:
    """A hold-to-record burst: the scene a pixel or so off, with a little noise each frame."""
    rng = np.random.default_rng([seed, kind, session])
    base = scene(kind) * (1 + 0.01 * session)  # the same place, the light a little different
    out = []
    for _ in range(n):
        a = np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


@pytest.fixture
def webcam_project(tmp_path):
    """trueclass-project.json naming each frame's class and capture session: two classes,
    two sessions each, every frame a near copy of every other frame of its class."""
    p = Project(tmp_path / "proj")
    for k, name in enumerate(("thumbs up", "thumbs down")):
        p.add_class(name)
        for s in range(2):
            p.add_images(name, [(f"f{i}.png", b) for i, b in enumerate(frames(k, s))], kind="webcam")
    return p.root


def test_near_copies_across_sessions_do_not_join_a_class_into_one_side(webcam_project, tmp_path):
    ds = tc.load(webcam_project)
    from trueclass.checks import find_duplicates

    dups = find_duplicates(ds)
    sessions = ds.provenance["capture_sessions"]
    cross = [p for p in dups.pairs if sessions[p["i"]] != sessions[p["j"]]]
    assert cross, "the synthetic bursts must be near copies across sessions, as webcam frames are"
    run = tc.train(str(webcam_project), model="logreg", out=tmp_path / "run")
    m = run.metrics
    sp = m["split"]
    assert sp["by_capture_session"] and sp["images_moved_to_keep_duplicates_together"] == 0
    assert sp["near_copies_across_sessions_not_joined"] > 0
    # one whole session of each class trains, the other tests: 10 + 10 each side
    assert m["n_train"] == 20 and m["n_test"] == 20
    counts = m["dataset"]["counts_by_split"]
    assert counts["train"] == {"thumbs up": 10, "thumbs down": 10}
    assert counts["test"] == {"thumbs up": 10, "thumbs down": 10}


def test_a_copy_uploaded_in_two_sessions_joins_them_and_the_split_says_what_to_do(webcam_project):
    ds = tc.load(webcam_project)
    sessions = np.asarray(ds.provenance["capture_sessions"])
    up = np.flatnonzero(ds.labels == ds.classes.index("thumbs up"))
    groups = np.arange(len(ds))
    groups[up] = up.min()  # an exact copy linking the two sessions of "thumbs up"
    with pytest.raises(TrueclassError, match="only one capture session.*count as one"):
        tc.split(ds, sessions=sessions, groups=groups, test_size=0.3)


def test_groups_that_leave_a_class_nothing_to_train_on_are_refused():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (40, 16, 16, 1), dtype=np.uint8)
    labels = np.repeat([0, 1], 20)
    ds = tc.Dataset(images, labels, ("a", "b"), np.array([str(i) for i in range(40)]))
    groups = np.arange(40)
    groups[20:] = 20  # every image of "b" in one duplicate group
    refused = 0
    for seed in range(12):
        try:
            parts = tc.split(ds, test_size=0.25, seed=seed, groups=groups)
        except TrueclassError as e:
            assert "class 'b'" in str(e) and "0 of its 20 images to train on" in str(e)
            assert "add more images of 'b'" in str(e)
            refused += 1
            continue
        # where the group landed on the training side, b trains on all of it
        assert np.sum(parts.train.labels == 1) == 20
    assert refused  # some seed sends the group's first image, and so the whole class, to the test side


def _uploads(sizes_per_class: dict[str, list[int]]) -> tuple[tc.Dataset, np.ndarray]:
    """A data set whose classes come in uploads (sessions) of the given sizes."""
    rng = np.random.default_rng(0)
    labels, sessions = [], []
    for k, sizes in enumerate(sizes_per_class.values()):
        for s, n in enumerate(sizes):
            labels += [k] * n
            sessions += [f"{k}-{s}"] * n
    images = rng.integers(0, 255, (len(labels), 8, 8, 1), dtype=np.uint8)
    ds = tc.Dataset(images, np.array(labels), tuple(sizes_per_class), np.array([str(i) for i in range(len(labels))]))
    return ds, np.array(sessions)


def test_the_sessions_sent_to_test_come_closest_to_the_test_share():
    # a teacher's uploads: 75 images of each class, then a second batch of 25. Taking sessions
    # in a random order until 20% was passed sent the 75 to the test part in most classes
    # (63% of the images tested, 37% trained on).
    ds, sessions = _uploads({"zero": [75, 25], "one": [75, 25], "three": [25, 75], "seven": [75, 25]})
    for seed in range(5):
        parts = tc.split(ds, test_size=0.2, val_size=0.0, sessions=sessions, seed=seed)
        assert len(parts.test) == 100 and len(parts.train) == 300
        assert np.bincount(parts.test.labels).tolist() == [25, 25, 25, 25]
    # many sessions of one size: as many as make about the share, a different few per seed
    ds, sessions = _uploads({"a": [10] * 10, "b": [10] * 10})
    chosen = set()
    for seed in range(4):
        parts = tc.split(ds, test_size=0.2, val_size=0.0, sessions=sessions, seed=seed)
        assert len(parts.test) == 40
        chosen.add(tuple(sorted(set(sessions[parts.indices["test"]]))))
    assert len(chosen) > 1
    # two sessions that both overshoot: the test part still gets one, the training part the other
    ds, sessions = _uploads({"a": [50, 60], "b": [40, 40]})
    parts = tc.split(ds, test_size=0.2, val_size=0.0, sessions=sessions, seed=0)
    assert np.bincount(parts.test.labels).tolist() == [50, 40]


def test_every_class_with_one_session_is_named_in_one_sentence():
    ds, sessions = _uploads({"zero": [30], "one": [20, 10], "three": [30], "seven": [30]})
    with pytest.raises(TrueclassError) as err:
        tc.split(ds, sessions=sessions)
    msg = str(err.value)
    assert "Classes 'zero', 'three', 'seven' each have images from only one capture session" in msg
    assert "'one'" not in msg and "second batch of each" in msg


def test_a_test_part_far_from_the_share_asked_is_said():
    from trueclass.evaluation import data_warnings

    ds, sessions = _uploads({"a": [50, 60], "b": [40, 40]})  # every session overshoots 20%
    parts = tc.split(ds, test_size=0.2, val_size=0.0, sessions=sessions, seed=0)
    assert parts.params["test_share"] == round(90 / 190, 4)
    counts = {"test": {"a": 50, "b": 40}, "train": {"a": 60, "b": 40}}
    w = [x for x in data_warnings(counts, None, parts.params) if x["kind"] == "test_share"]
    assert w and w[0]["message"].startswith("The test part holds 47% of the images, not the 20% asked")
    ds, sessions = _uploads({"a": [10] * 10, "b": [10] * 10})  # close enough: nothing said
    parts = tc.split(ds, test_size=0.2, val_size=0.0, sessions=sessions, seed=0)
    assert not [x for x in data_warnings(counts, None, parts.params) if x["kind"] == "test_share"]


def test_a_class_tested_on_a_share_far_from_the_one_asked_is_named():
    # a class uploaded in two batches of 15 gave one of them to the test, unsaid while the whole was near 20%
    from trueclass.evaluation import data_warnings

    ds, sessions = _uploads({"seven": [15, 15], "one": [10] * 10, "two": [10] * 10})
    parts = tc.split(ds, test_size=0.2, val_size=0.0, sessions=sessions, seed=0)
    counts = {p: {c: int(np.sum(getattr(parts, p).labels == k)) for k, c in enumerate(ds.classes)}
              for p in ("train", "test")}
    assert counts["test"] == {"seven": 15, "one": 20, "two": 20}
    ws = data_warnings(counts, None, parts.params)
    assert not [x for x in ws if x["kind"] == "test_share"]  # 55 of 230: the whole is near the 20% asked
    w = [x for x in ws if x["kind"] == "class_test_share"]
    assert len(w) == 1 and w[0]["classes"] == ["seven"]
    assert w[0]["message"].startswith("Tested on a share far from the 20% asked: 'seven' on 15 of its 30 images.")
    # every class far from it, as the whole is: one warning, not the same said twice
    ds, sessions = _uploads({"zero": [4, 4], "one": [4, 4]})
    parts = tc.split(ds, test_size=0.2, val_size=0.0, sessions=sessions, seed=0)
    counts = {p: {c: int(np.sum(getattr(parts, p).labels == k)) for k, c in enumerate(ds.classes)}
              for p in ("train", "test")}
    ws = [x for x in data_warnings(counts, None, parts.params) if x["kind"] in ("test_share", "class_test_share")]
    assert len(ws) == 1 and ws[0]["message"].startswith("The test part holds 50% of the images, not the 20% asked")
    assert ws[0]["message"].endswith(" Per class: 'zero' 4 of 8, 'one' 4 of 8.")
