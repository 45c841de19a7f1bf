"""Splitting a Dataset into train / validation / test, seeded and stratified."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import TrueclassError
from ._dataset import Dataset

__all__ = ["Split", "split", "MIN_TRAIN_PER_CLASS"]

#: Keeping duplicates (or capture sessions) together may move images out of the training
#: part; a class left with fewer training images than this, or with less than
#: ``MIN_TRAIN_SHARE`` of what the split alone gave it, cannot be learnt from: the split
#: says so instead of a score on a model that hardly saw the class.
MIN_TRAIN_PER_CLASS = 2
MIN_TRAIN_SHARE = 0.25


@dataclass(frozen=True)
class Split:
    """The parts of a dataset. ``assignment[i]`` says where image ``i`` of the source went."""

    train: Dataset
    test: Dataset
    val: Dataset | None
    assignment: np.ndarray
    indices: dict[str, np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)
    source: Dataset | None = None

    @property
    def n_train(self) -> int:
        return len(self.train)

    @property
    def n_val(self) -> int:
        return 0 if self.val is None else len(self.val)

    @property
    def n_test(self) -> int:
        return len(self.test)

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per class in each part (metrics.json's ``dataset.counts_by_split``)."""
        out = {"train": self.train.counts()}
        if self.val is not None and len(self.val):
            out["val"] = self.val.counts()
        out["test"] = self.test.counts()
        return out

    def to_csv(self, path: str | Path) -> Path:
        """Write ``split.csv``: one row per image of the source, in source order."""
        path = Path(path)
        src = self.source
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["index", "id", "label", "split"])
            for i, part in enumerate(self.assignment):
                if src is not None:
                    w.writerow([i, src.ids[i], "|".join(src.label_names(i)), part])
                else:
                    w.writerow([i, "", "", part])
        return path

    def __repr__(self) -> str:
        return f"Split(train={self.n_train}, val={self.n_val}, test={self.n_test}, {self.params})"


def _check_fraction(name: str, value: float, *, allow_zero: bool) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TrueclassError(f"{name} must be a fraction such as 0.2; got {value!r}.") from None
    lo_ok = v >= 0 if allow_zero else v > 0
    if not (lo_ok and v < 1):
        raise TrueclassError(
            f"{name} must be a fraction {'from 0' if allow_zero else 'above 0'} and below 1 (such as 0.2); got {value!r}."
        )
    return v


def _split_indices(
    idx: np.ndarray, labels: np.ndarray, frac: float, seed: int, stratify: bool, classes: tuple[str, ...], what: str
) -> tuple[np.ndarray, np.ndarray]:
    """``train_test_split`` of ``idx`` with the failure modes turned into sentences."""
    from sklearn.model_selection import train_test_split

    n = len(idx)
    n_out = math.ceil(frac * n)
    if n_out < 1 or n - n_out < 1:
        raise TrueclassError(f"{n} images are too few to set aside a {what} of {frac:g}; add images.")
    strat = None
    if stratify:
        counts = np.bincount(labels, minlength=len(classes))
        present = counts > 0
        smallest = int(np.argmin(np.where(present, counts, np.iinfo(np.int64).max)))
        if counts[smallest] < 2:
            raise TrueclassError(
                f"Class {classes[smallest]!r} has only {counts[smallest]} image, too few to put one in both the "
                f"training part and the {what}; add images to it, or split without stratifying (stratify=False)."
            )
        k = int(present.sum())
        if n_out < k or n - n_out < k:
            raise TrueclassError(
                f"A stratified {what} of {n_out} images cannot hold all {k} classes; make it larger "
                f"(test_size / val_size) or split without stratifying (stratify=False)."
            )
        strat = labels
    a, b = train_test_split(idx, test_size=frac, random_state=seed, shuffle=True, stratify=strat)
    return np.asarray(a), np.asarray(b)


def _session_split(idx: np.ndarray, labels: np.ndarray, sessions: np.ndarray, frac: float, seed: int,
                   classes: tuple[str, ...], what: str, *, strict: bool = True,
                   joined: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """Whole capture sessions of ``idx`` to the ``what`` part: per class, the sessions whose
    images come closest to ``frac`` of the class's (``_closest_sessions``), and every class
    keeps at least one session on each side. A class with one session cannot be split: one
    sentence naming every such class when ``strict``, else None."""
    rng = np.random.default_rng(seed)
    per_class, single = [], []
    for k in np.unique(labels[idx]):
        mine = idx[labels[idx] == k]
        names, sizes = np.unique(sessions[mine], return_counts=True)
        if len(names) < 2:
            single.append(classes[k])
        per_class.append((mine, names, sizes))
    if single:
        if not strict:
            return None
        which = (f"Class {single[0]!r} has" if len(single) == 1
                 else f"Classes {', '.join(repr(c) for c in single)} each have")
        batch = f"a second batch of {single[0]!r}" if len(single) == 1 else "a second batch of each"
        raise TrueclassError(
            f"{which} images from only one capture session (one recording or one upload), so none can be kept "
            f"apart for the {what}: frames of one burst look alike, and testing on a burst the model trained on "
            f"would flatter it. Record or upload {batch}"
            + (" (sessions that share a copy of the same image count as one)." if joined else "."))
    out = []
    for mine, names, sizes in per_class:
        taken = _closest_sessions(sizes, frac * len(mine), rng)
        out.append(mine[np.isin(sessions[mine], names[taken])])
    b = np.sort(np.concatenate(out))
    return np.setdiff1d(idx, b), b


def _closest_sessions(sizes: np.ndarray, target: float, rng: np.random.Generator) -> list[int]:
    """Which sessions (of two or more, with these sizes) to send to a part meant to hold
    about ``target`` images: in a seeded order, a session is taken where it brings the
    total closer to the target; at least one is taken and at least one left. Taking
    sessions until the target is passed, in any order, sent a class's 75-image upload to
    the test part and trained on its 25-image one."""
    order = rng.permutation(len(sizes))
    taken, n = [], 0
    for j in order:
        if len(taken) == len(sizes) - 1:
            break
        if abs(n + sizes[j] - target) < abs(n - target):
            taken.append(int(j))
            n += int(sizes[j])
    if not taken:  # every session alone overshoots more than none at all: the one nearest the target
        taken = [int(min(order, key=lambda j: abs(sizes[j] - target)))]
    return taken


def _join_sessions(sessions: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, int]:
    """Sessions as the units of the split, where a duplicate group that spans several
    sessions (a copy of one image in two uploads) makes them one unit: (unit per image,
    sessions joined)."""
    if groups is None:
        return sessions, 0
    groups = np.asarray(groups)
    if len(groups) != len(sessions):
        raise TrueclassError(f"groups has {len(groups)} entries for {len(sessions)} images.")
    names, code = np.unique(sessions, return_inverse=True)
    parent = np.arange(len(names))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    joined = 0
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(g)]):
        members = np.unique(code[order[a:b]])
        for other in members[1:]:
            ra, rb = root(int(members[0])), root(int(other))
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
                joined += 1
    if not joined:
        return sessions, 0
    return names[[root(int(c)) for c in code]].astype(str), joined


def _parts_by_session(dataset: Dataset, sessions: np.ndarray, test_size: float, val_size: float,
                      seed: int, joined: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) indices of whole capture sessions: the test part always, the
    validation part where every class has two training sessions."""
    sessions = np.asarray(sessions).astype(str)
    if len(sessions) != len(dataset):
        raise TrueclassError(f"sessions has {len(sessions)} entries for {len(dataset)} images.")
    labels, classes = dataset.labels, dataset.classes
    train_idx, test_idx = _session_split(np.arange(len(dataset)), labels, sessions, test_size, seed, classes,
                                         "test part", joined=joined)
    val_idx = np.array([], dtype=np.int64)
    if val_size > 0:
        parted = _session_split(train_idx, labels, sessions, val_size, seed + 1, classes, "validation part",
                                strict=False)
        if parted is not None:
            train_idx, val_idx = parted
    return train_idx, val_idx, test_idx


def _keep_groups_together(assignment: np.ndarray, groups: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
                          test_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Move every group the split cut whole to the part of its first image (``assignment``
    is updated in place); (train, val, test indices, images moved)."""
    n = len(assignment)
    if len(groups) != n:
        raise TrueclassError(f"groups has {len(groups)} entries for {n} images.")
    moved = 0
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], n]):
        members = order[a:b]
        if b - a > 1 and len(set(assignment[members])) > 1:
            target = assignment[members.min()]
            moved += int(np.sum(assignment[members] != target))
            assignment[members] = target
    if not moved:
        return train_idx, val_idx, test_idx, 0
    new = {}  # each part keeps its images in their order; the ones that arrived follow, sorted
    for part, idx in (("train", train_idx), ("val", val_idx), ("test", test_idx)):
        idx = np.asarray(idx, dtype=np.int64)
        stay = idx[assignment[idx] == part]
        came = np.setdiff1d(np.flatnonzero(assignment == part), stay)
        new[part] = np.concatenate([stay, came]).astype(np.int64)
    return new["train"], new["val"], new["test"], moved


def _check_training_left(dataset: Dataset, planned: np.ndarray, train_idx: np.ndarray, by_session: bool) -> None:
    """A sentence when keeping duplicates (or sessions) together left a class too few
    training images to learn it: fewer than MIN_TRAIN_PER_CLASS, or less than
    MIN_TRAIN_SHARE of what the split alone gave it (``planned``: its training indices)."""
    if dataset.multilabel:
        return
    k = len(dataset.classes)
    before = np.bincount(dataset.labels[planned], minlength=k)
    after = np.bincount(dataset.labels[train_idx], minlength=k)
    total = np.bincount(dataset.labels, minlength=k)
    for c in range(k):
        if before[c] == 0 or after[c] >= max(MIN_TRAIN_PER_CLASS, math.ceil(MIN_TRAIN_SHARE * before[c])):
            continue
        name = dataset.classes[c]
        fix = (f"record (or upload) more capture sessions of {name!r} that differ from each other"
               if by_session else f"add more images of {name!r} that are not copies of other images")
        went = int(before[c] - after[c])
        raise TrueclassError(
            f"Keeping copies of the same image on one side of the split would leave class {name!r} with "
            f"{after[c]} of its {total[c]} images to train on (the split alone gave it {before[c]}): {went} of them "
            f"{'is a copy or near copy' if went == 1 else 'are copies or near copies'} of held-out images (of "
            f"{name!r} or of another class) and went to the held-out side with "
            f"{'it' if went == 1 else 'them'}. No honest score can come from that; {fix}, or remove the copies "
            "(an audit of the images lists them).")


def _predefined_parts(dataset: Dataset, val_size: float, seed: int, stratify: bool,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) indices of a source that comes split; validation images carved
    from its training part when it has none and ``val_size`` asks for them."""
    all_idx, pre = np.arange(len(dataset)), dataset.predefined_split
    test_idx, train_idx, val_idx = all_idx[pre == "test"], all_idx[pre == "train"], all_idx[pre == "val"]
    if len(test_idx) == 0:
        raise TrueclassError("The source's own split has no test images.")
    if len(val_idx) == 0 and val_size > 0:
        train_idx, val_idx = _split_indices(train_idx, dataset.labels[train_idx], val_size, seed, stratify,
                                            dataset.classes, "validation part")
    return train_idx, val_idx, test_idx


def _random_parts(dataset: Dataset, test_size: float, val_size: float, seed: int, stratify: bool,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) indices drawn as scikit-learn's train_test_split draws them."""
    labels = dataset.labels
    train_idx, test_idx = _split_indices(np.arange(len(dataset)), labels, test_size, seed, stratify,
                                         dataset.classes, "test part")
    val_idx = np.array([], dtype=np.int64)
    if val_size > 0:
        train_idx, val_idx = _split_indices(train_idx, labels[train_idx], val_size, seed, stratify, dataset.classes,
                                            "validation part")
    return train_idx, val_idx, test_idx


def split(
    dataset: Dataset,
    *,
    test_size: float = 0.2,
    val_size: float = 0.0,
    seed: int = 0,
    stratify: bool = True,
    groups: np.ndarray | None = None,
    sessions: np.ndarray | None = None,
    random_state: int | None = None,
) -> Split:
    """Split ``dataset`` into train, optional validation, and test parts.

    With ``stratify=False`` the test part is exactly scikit-learn's
    ``train_test_split(X, y, test_size=test_size, random_state=seed)`` (same images,
    same order). A source that comes already split (Fashion-MNIST, a folder with train/
    and test/) keeps its split and ``test_size`` is not used. ``val_size`` is the fraction
    of the training part held out for validation (early stopping, threshold choice);
    the test part is never used for either.

    ``groups`` (one label per image, such as the duplicate groups of an audit) makes the
    split group-aware: a group that the split would cut is moved whole to the part of its
    first image, so no copy of a test image trains the model. Images in no shared group
    keep their place, so a source without duplicates splits exactly as without groups.
    A source that comes already split is never changed (its leaks are reported instead).

    ``sessions`` (one capture session per image: a hold-to-record burst, an upload batch)
    splits whole sessions, class by class, so near-identical frames of one burst are never
    on both sides; a class needs two sessions. Validation sessions are set aside the same
    way where every class has two training sessions, and not at all otherwise. With both,
    the sessions are the groups: a duplicate group that spans several sessions (a copy of
    one image uploaded twice) joins them into one unit; near duplicates within a session
    go with it anyway. (The caller decides which duplicates count: the run keeps only the
    exact copies across sessions, since frames of one scene are alike by nature.)

    When keeping groups or sessions together would leave a class fewer than
    ``MIN_TRAIN_PER_CLASS`` training images, or less than a quarter of what the split
    alone gave it, the split refuses with a sentence rather than train a model that
    hardly saw the class.

    ``random_state`` is scikit-learn's word for ``seed`` (``train_test_split``'s), and
    the same thing: give either.
    """
    if random_state is not None:
        if seed not in (0, random_state):
            raise TrueclassError(f"seed={seed} and random_state={random_state} are the same setting; give only one.")
        seed = random_state
    val_size = _check_fraction("val_size", val_size, allow_zero=True)
    seed = int(seed)
    if dataset.multilabel:
        stratify = False  # several labels per image: there is no single class to stratify on
    n = len(dataset)
    joined, planned = 0, None  # sessions joined by a shared copy; the training part before groups moved it
    predefined = dataset.predefined_split is not None
    if predefined:
        train_idx, val_idx, test_idx = _predefined_parts(dataset, val_size, seed, stratify)
    elif sessions is not None and not dataset.multilabel:
        test_size = _check_fraction("test_size", test_size, allow_zero=False)
        sessions = np.asarray(sessions).astype(str)
        if len(sessions) != n:
            raise TrueclassError(f"sessions has {len(sessions)} entries for {n} images.")
        units, joined = _join_sessions(sessions, groups)
        planned = _parts_by_session(dataset, sessions, test_size, val_size, seed)[0] if joined else None
        train_idx, val_idx, test_idx = _parts_by_session(dataset, units, test_size, val_size, seed, bool(joined))
    else:
        sessions = None
        test_size = _check_fraction("test_size", test_size, allow_zero=False)
        train_idx, val_idx, test_idx = _random_parts(dataset, test_size, val_size, seed, stratify)
    assignment = np.full(n, "", dtype=object)
    assignment[train_idx] = "train"
    assignment[val_idx] = "val"
    assignment[test_idx] = "test"
    moved = 0
    if groups is not None and not predefined:
        if planned is None:
            planned = train_idx
        train_idx, val_idx, test_idx, moved = _keep_groups_together(assignment, np.asarray(groups),
                                                                    train_idx, val_idx, test_idx)
        if moved or joined:
            _check_training_left(dataset, planned, train_idx, sessions is not None)
    params = {
        "test_size": None if predefined else test_size,
        "val_size": val_size,
        "seed": seed,
        "stratify": bool(stratify),
        "predefined": predefined,
        **({"group_aware": True, "images_moved_to_keep_duplicates_together": moved} if groups is not None else {}),
    }
    if sessions is not None and not predefined:  # the share the test part got, whole sessions being kept together
        params |= {"by_capture_session": True, "test_share": round(len(test_idx) / max(n, 1), 4),
                   **({"sessions_joined_by_copies": joined} if groups is not None else {})}
    return Split(
        train=dataset.subset(train_idx, part="train"),
        test=dataset.subset(test_idx, part="test"),
        val=dataset.subset(val_idx, part="val") if len(val_idx) else None,
        assignment=assignment.astype(str),
        indices={"train": train_idx, "val": val_idx, "test": test_idx},
        params=params,
        source=dataset,
    )
