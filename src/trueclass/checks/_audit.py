"""The data audit: what can make a test score lie before any model is trained.

Exact duplicates (same file bytes or same pixels) and near duplicates (imagehash's
perceptual hash to find candidates, confirmed by a pixel correlation; for photographs also
shifted, cropped and rescaled copies, by a search over windows: checks._copies), grouped; the
groups that cross splits (leaks) or carry different labels (conflicts); class balance;
image-property outliers; and likely label errors from out-of-fold probabilities fed to
cleanlab. ``audit()`` returns an :class:`Audit`; ``Audit.to_dict()`` is ``audit.json``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._errors import TrueclassError
from ._copies import WINDOW_CORRELATION, WINDOW_MAX_IMAGES, WINDOW_MIN_SIDE, window_search_suits
from ..data import (NEAR_CORRELATION, NEAR_MIN_SIDE, copy_views, describe_near_pair, file_hashes,
                   featureless, groups_from_pairs, near_pairs, near_rule_text, phash_bits, pixel_hashes,
                   to_display)
from ._labels import LABEL_FOLDS, LABEL_MODEL_TEXT, find_label_issues, label_model_accuracy
from .._numerics import keeps_torch_numerics

__all__ = ["Audit", "Duplicates", "audit", "colour_by_class", "find_duplicates", "find_label_issues", "image_outliers",
           "class_balance", "NEAR_CORRELATION"]

#: Robust z-score (median / MAD) beyond which an image property is an outlier.
OUTLIER_Z = 4.0
#: ... and beyond which it is also unusual for the image's own class (classes of at least
#: CLASS_MIN_IMAGES images): a crop of sky is dim in contrast beside a set of photos but
#: ordinary for the class "rocket". Measured (benchmarks/audit_labels.py): on two clean
#: sets of 480 colour photo crops the rules without it flagged 20 and 38 images (4-8%,
#: skies and clouds), with it 3 and 7; on Fashion-MNIST the 76 thin sandals that were
#: "very dark" beside the garments are ordinary sandals.
CLASS_Z = 3.0
CLASS_MIN_IMAGES = 10
#: Images whose pixel standard deviation is below this (0-255 scale) are nearly blank.
BLANK_STD = 3.0
#: An original area a quarter or four times the median, an aspect ratio 1.5 times or two
#: thirds of it, is unusual, unless the sizes (aspects) of the set vary that much anyway:
#: where half of them lie at least half that factor from the median (the median absolute
#: deviation of the logs), none is. A folder of portrait and landscape photos of many
#: sizes had 58% of its images flagged, which buried the few that were odd; 8x8 icons among
#: 64x64 photos stay flagged, however many.
UNUSUAL_AREA, UNUSUAL_ASPECT = 4.0, 1.5
#: Images kept per list in audit.json (counts always cover every image).
LIST_LIMIT = 1000
AUDIT_JSON = "audit.json"
#: Every image the label check looked at, most likely mislabelled first.
LABEL_RANKING_CSV = "label_issues.csv"
LABEL_RANKING_COLUMNS = ("rank", "id", "given", "suggested", "score", "p_given", "p_suggested", "flagged")


def _unusual(values: np.ndarray, factor: float) -> np.ndarray:
    """Per value, whether it is ``factor`` or more from the median (either way), where the
    values do not spread that far by nature (see UNUSUAL_AREA)."""
    logs = np.log(np.maximum(values, 1e-9))
    off = np.abs(logs - np.median(logs))
    if np.median(off) > np.log(factor) / 2:
        return np.zeros(len(values), dtype=bool)
    return off > np.log(factor) * (1 - 1e-9)


def audit_folder(folder: str | Path) -> Path:
    """The folder an audit is written into, refused with a sentence when it is a file
    (checked before the audit runs, and again when it is written)."""
    from .._paths import check_writable

    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise TrueclassError(f"{str(folder)!r} is a file; give the audit a folder name to write into.")
    # a read-only place, or one under a file; in words for both doors (--out, or write(folder))
    check_writable(folder, what="audit folder", param="a folder for the audit")
    return folder


def write_label_ranking(path: Path, ranking: list[dict[str, Any]]) -> Path:
    """label_issues.csv: one row per image, most likely mislabelled first (written beside
    and then moved, so a half-written file never stands)."""
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=LABEL_RANKING_COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(ranking)
    tmp.replace(path)
    return path

Progress = Callable[..., None]


@dataclass
class Duplicates:
    """Pairs of duplicate images and the groups they form."""

    pairs: list[dict[str, Any]]  # {i, j, kind: exact|near, how, distance}
    groups: np.ndarray  # per image: the smallest index of its group (itself if alone)
    phash: np.ndarray | None = field(default=None, repr=False)  # (N, 64) bits, when near copies were sought
    views: np.ndarray | None = field(default=None, repr=False)  # (N, h, w) copy views, then too
    windows: bool = False  # whether shifted and cropped copies were searched for (checks._copies)

    def test_leaks(self, parts: np.ndarray) -> list[tuple[int, int, dict[str, Any]]]:
        """(test index, other index, pair) for each pair joining a test image to an image
        of another part."""
        out = []
        for p in self.pairs:
            a, b = parts[p["i"]], parts[p["j"]]
            if a != b and "test" in (a, b):
                out.append((p["i"], p["j"], p) if a == "test" else (p["j"], p["i"], p))
        return out

    def leaked_test(self, parts: np.ndarray) -> np.ndarray:
        """Indices of test images with a duplicate outside the test part."""
        return np.asarray(sorted({t for t, _, _ in self.test_leaks(parts)}), dtype=np.int64)

    def members(self) -> list[np.ndarray]:
        """Indices of each group of two or more images."""
        order = np.argsort(self.groups, kind="stable")
        g = self.groups[order]
        cuts = np.flatnonzero(np.diff(g)) + 1
        return [m for m in np.split(order, cuts) if len(m) > 1]


@dataclass
class Audit:
    """What the audit found; ``to_dict()`` is audit.json."""

    report: dict[str, Any]
    duplicates: Duplicates
    label_ranking: list[dict[str, Any]] = field(default_factory=list, repr=False)  # every checked image

    def to_dict(self) -> dict[str, Any]:
        return self.report

    def write(self, folder: str | Path) -> list[Path]:
        """audit.json and label_issues.csv (every checked image, most likely mislabelled
        first) into ``folder``; the paths written."""
        from .._jsonio import write_json

        folder = audit_folder(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / AUDIT_JSON, self.report)
        out = [folder / AUDIT_JSON]
        if self.label_ranking:
            out.append(write_label_ranking(folder / LABEL_RANKING_CSV, self.label_ranking))
        return out

    @property
    def n_leaks(self) -> int:
        return self.report["n_leaks"]  # the lists stop at LIST_LIMIT; the counts do not

    @property
    def n_conflicts(self) -> int:
        return self.report["n_conflicts"]

    def summary(self, lists: str = "python") -> str:
        """The audit in plain text; ``lists``: where its whole lists are said to be
        ("python": this object; "written" or "not written": the command's files)."""
        from ..report import format_audit

        return format_audit(self.report, lists=lists)

    def __repr__(self) -> str:
        r = self.report
        return (f"Audit(images={r['n_images']}, duplicate_groups={r['n_duplicate_groups']}, leaks={r['n_leaks']}, "
                f"conflicts={r['n_conflicts']}, label_issues={r['n_label_issues']}, outliers={r['n_outliers']})")


# -- duplicates ----------------------------------------------------------------------------------
def _hashes_and_views(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    """Perceptual hashes and copy views of the images as shown (0-255, as a model's
    fingerprints see them), a chunk at a time (images on disk are never read whole)."""
    bits, views = [], []
    for s in range(0, len(ds), 4096):
        shown = to_display(np.asarray(ds.images[s : s + 4096]), ds.value_max)
        bits.append(phash_bits(shown))
        views.append(copy_views(shown))
    return np.concatenate(bits), np.concatenate(views)


def find_duplicates(ds: Any, *, near: bool = True, near_correlation: float = NEAR_CORRELATION,
                    on_progress: Progress | None = None) -> Duplicates:
    """Exact duplicates (same file bytes, same pixels) and near duplicates of ``ds``."""
    n = len(ds)
    pairs: list[dict[str, Any]] = []
    linked: set[tuple[int, int]] = set()
    bits = views = None

    def link_equal(keys: list[Any], how: str) -> None:
        first: dict[Any, int] = {}
        for i, k in enumerate(keys):
            if k is None:
                continue
            if k in first:
                a = first[k]
                if (a, i) not in linked:
                    linked.add((a, i))
                    pairs.append({"i": a, "j": i, "kind": "exact", "how": how, "distance": 0})
            else:
                first[k] = i

    files = ds.provenance.get("image_files")
    if files is not None and len(files) == n:
        if on_progress:
            on_progress("audit: hashing files", 0, 0)
        link_equal(file_hashes(list(files)), "same file bytes")
    if on_progress:
        on_progress("audit: hashing pixels", 0, 0)
    link_equal(pixel_hashes(ds.images), "same pixels")
    if near and n > 1 and min(ds.images.shape[1:3]) >= NEAR_MIN_SIDE:
        if on_progress:
            on_progress("audit: perceptual hashes and shifted copies", 0, 0)
        bits, views = _hashes_and_views(ds)
        for pair in near_pairs(views, bits):
            i, j = pair[0], pair[1]
            if (i, j) not in linked and pair[4] >= near_correlation:
                linked.add((i, j))
                pairs.append(describe_near_pair(pair))
    windows = near and window_search_suits(ds)
    if windows:
        from ._copies import window_copies

        if on_progress:
            on_progress("audit: shifted and cropped copies", 0, 0)
        plain = featureless(views)  # (set: the window search asks for images of 64 pixels and more)
        for i, j, r in window_copies(to_display(ds.images, ds.value_max)):
            i, j = int(i), int(j)
            if (i, j) not in linked and not (plain[i] or plain[j]):  # featureless crops would chain
                linked.add((i, j))
                pairs.append({"i": i, "j": j, "kind": "near", "how": "shifted, cropped or rescaled copy",
                              "distance": None, "correlation": round(float(r), 4)})
    arr = np.array([[p["i"], p["j"]] for p in pairs], dtype=np.int64).reshape(-1, 2)
    return Duplicates(pairs=pairs, groups=groups_from_pairs(n, arr), phash=bits, views=views, windows=windows)


# -- class balance ----------------------------------------------------------------------------------
def class_balance(ds: Any, parts: np.ndarray | None = None) -> dict[str, Any]:
    """Counts per class (and per part), the imbalance ratio and what to do about it."""
    from ..evaluation import FEW_TEST_IMAGES, STRONG_IMBALANCE

    counts = ds.counts()
    out: dict[str, Any] = {"counts": counts}
    if parts is not None:
        out["counts_by_split"] = {p: ds.subset(np.flatnonzero(parts == p)).counts()
                                  for p in ("train", "val", "test") if (parts == p).any()}
    present = {k: v for k, v in counts.items() if v > 0}
    big, small = max(present, key=present.get), min(present, key=present.get)
    ratio = present[big] / present[small]
    out |= {"largest": big, "smallest": small, "ratio": ratio, "strong": ratio > STRONG_IMBALANCE,
            "empty_classes": [k for k, v in counts.items() if v == 0]}
    advice = []
    if ratio > STRONG_IMBALANCE:
        advice.append(f"'{small}' has {ratio:.1f}x fewer images than '{big}': judge the model by per-class recall "
                      'and balanced accuracy, train with class_weight="balanced" or balanced_sampling=True, or add '
                      f"images of '{small}'.")
    test = (out.get("counts_by_split") or {}).get("test")
    if test:
        few = [k for k, v in test.items() if v < FEW_TEST_IMAGES]
        out["few_test_images"] = few
        if few:
            advice.append(f"{len(few)} class{'es' if len(few) != 1 else ''} ({', '.join(few[:5])}"
                          f"{', ...' if len(few) > 5 else ''}) {'have' if len(few) != 1 else 'has'} fewer than {FEW_TEST_IMAGES} test images: "
                          "their scores are too uncertain to compare.")
    out["advice"] = advice
    return out


# -- image properties ---------------------------------------------------------------------------------
def _robust_z(v: np.ndarray) -> np.ndarray:
    med = np.median(v)
    mad = 1.4826 * np.median(np.abs(v - med))
    return (v - med) / (mad if mad > 1e-9 else (np.std(v) + 1e-9))


def _class_z(v: np.ndarray, ds: Any) -> np.ndarray:
    """Robust z-score of ``v`` within each image's class (classes of CLASS_MIN_IMAGES or
    more; the whole set for smaller classes and for images with several labels)."""
    z = _robust_z(v)
    labels = np.asarray(ds.labels)
    if getattr(ds, "multilabel", False) or labels.ndim != 1:
        return z
    for k in np.unique(labels):
        m = labels == k
        if m.sum() >= CLASS_MIN_IMAGES:
            z[m] = _robust_z(v[m])
    return z


def image_outliers(ds: Any, colour: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Images unlike the rest and unusual for their own class too: very dark or bright,
    low contrast, blurry; nearly blank; of an unusual size or aspect ratio, or of another
    colour mode than most, outside the classes told apart by colour (``colour``: the
    audit's :func:`colour_by_class`, found here when not given)."""
    from scipy.ndimage import convolve

    from ..data import to_display

    # the variance of the Laplacian (a standard focus measure), image by image: a 3x3 kernel
    # with no extent along the batch axis
    kernel = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32)[None]
    n = len(ds)
    bright, contrast, sharp = (np.empty(n, dtype=np.float32) for _ in range(3))
    for s in range(0, n, 4096):  # a chunk at a time: images on disk are never read whole
        grey = to_display(np.asarray(ds.images[s : s + 4096]), ds.value_max).astype(np.float32).mean(axis=3)
        bright[s : s + len(grey)] = grey.mean(axis=(1, 2))
        contrast[s : s + len(grey)] = grey.std(axis=(1, 2))
        lap = convolve(grey, kernel, mode="nearest")
        sharp[s : s + len(lap)] = lap.reshape(len(lap), -1).var(axis=1)
    # relative to the image's own contrast, so little ink (a thin '1') does not look blurry
    sharp = sharp / np.maximum(contrast**2, 1e-6)
    zb, zc, zs = _robust_z(bright), _robust_z(contrast), _robust_z(np.log1p(sharp))
    cb, cc, cs = _class_z(bright, ds), _class_z(contrast, ds), _class_z(np.log1p(sharp), ds)
    reasons: dict[int, list[str]] = {}

    def add(mask: np.ndarray, text: str) -> None:
        for i in np.flatnonzero(mask):
            reasons.setdefault(int(i), []).append(text)

    add(contrast < BLANK_STD, "nearly blank")
    # far from the rest (robust z-score), or a sixth of the typical brightness (a quarter of the
    # typical contrast): on Fashion-MNIST that flags 76 of 70,000 images, mostly thin sandals
    mb, mc = np.median(bright), np.median(contrast)
    visible = contrast >= BLANK_STD
    add(((zb < -OUTLIER_Z) | (bright < mb / 6)) & (cb < -CLASS_Z) & visible, "very dark")
    add(((zb > OUTLIER_Z) | (255 - bright < (255 - mb) / 6)) & (cb > CLASS_Z) & visible, "very bright")
    add(((zc < -OUTLIER_Z) | (contrast < mc / 4)) & (cc < -CLASS_Z) & visible, "low contrast")
    add((zs < -OUTLIER_Z) & (cs < -CLASS_Z) & visible, "blurry")
    sizes = ds.provenance.get("image_original_size")
    if sizes is not None and len(sizes) == len(ds):
        sizes = np.asarray(sizes, dtype=np.float64)
        area, aspect = sizes[:, 0] * sizes[:, 1], sizes[:, 1] / np.maximum(sizes[:, 0], 1)
        add(_unusual(area, UNUSUAL_AREA), "unusual size")
        add(_unusual(aspect, UNUSUAL_ASPECT), "unusual aspect ratio")
    greys = ds.provenance.get("image_original_grey")
    if greys is not None and len(greys) == len(ds):
        greys = np.asarray(greys, dtype=bool)
        majority_grey = greys.sum() * 2 > len(greys)
        # a class told apart by colour is said once, as a class (colour_by_class), not image by image
        by_class = {ds.classes.index(f["class"]) for f in (colour_by_class(ds) if colour is None else colour)}
        mine = np.isin(ds.labels, list(by_class)) if by_class and not ds.multilabel else np.zeros(len(ds), bool)
        add((greys != majority_grey) & ~mine, f"{'colour' if majority_grey else 'grey'} among mostly "
                                              f"{'grey' if majority_grey else 'colour'} images")
    out = []
    for i in sorted(reasons):
        out.append({"index": i, "id": str(ds.ids[i]), "label": _label_text(ds, i), "reasons": reasons[i],
                    "brightness": round(float(bright[i]), 1), "contrast": round(float(contrast[i]), 1),
                    "sharpness": round(float(sharp[i]), 3)})
    return out


#: A class told apart by colour mode: at least this many images, all grey (or all colour),
#: against at most (at least) COLOUR_OTHERS of the other classes' images.
COLOUR_MIN_IMAGES = 5
COLOUR_OTHERS = 0.1


def colour_by_class(ds: Any) -> list[dict[str, Any]]:
    """The classes whose files are all grey where the others' are (nearly) all colour, or
    the other way round: a model can tell them by colour alone, a shortcut that the test
    score shares when the test images come from the same files. From each file's own
    colour mode before loading (``image_original_grey``); [] where that is not known."""
    greys = ds.provenance.get("image_original_grey")
    if greys is None or len(greys) != len(ds) or ds.multilabel or len(ds.classes) < 2 or ds.channels == 1:
        return []  # loaded in grey (color_mode "L"): the model sees no colour to lean on
    greys = np.asarray(greys, dtype=bool)
    out = []
    for k, name in enumerate(ds.classes):
        mine = ds.labels == k
        n, others = int(mine.sum()), greys[~mine]
        if n < COLOUR_MIN_IMAGES or not len(others):
            continue
        share, rest = float(greys[mine].mean()), float(others.mean())
        if (share == 1.0 and rest <= COLOUR_OTHERS) or (share == 0.0 and rest >= 1 - COLOUR_OTHERS):
            out.append({"class": str(name), "n": n, "grey": share, "others_grey": rest})
    return out


def _label_text(ds: Any, i: int) -> str:
    return "|".join(ds.label_names(i))


def _label_section(ds: Any, parts: np.ndarray | None, label_part: str | None, seed: int,
                   label_models: Any, on_progress: Progress | None) -> tuple[dict[str, Any], Any]:
    """audit.json's label-error entries for the ``label_part`` images (all when None), and
    the whole ranking (label_issues.csv)."""
    if on_progress:
        on_progress("audit: looking for label errors (cross-validation and a self-check)", 0, 0)
    sel = np.flatnonzero(parts == label_part) if label_part is not None and parts is not None else np.arange(len(ds))
    sub = ds.subset(sel)
    if isinstance(label_models, str):  # one name, not its letters
        label_models = (label_models,)
    found = find_label_issues(sub, seed=seed, candidates=None if label_models is None else tuple(label_models))
    for row in found.ranking:
        row["index"] = int(sel[row["index"]])
    accuracy = None if found.probs is None else label_model_accuracy(sub.labels, found.probs)
    lm = found.model or {}
    checked_on = None if found.skipped else (
        f"{'all' if label_part is None or parts is None else label_part} images ({len(sel):,}): {LABEL_FOLDS}-fold "
        f"out-of-fold probabilities of {LABEL_MODEL_TEXT.get(lm.get('model'), lm.get('model'))} ({accuracy:.1%} right "
        f"out of fold; chosen of {len(lm.get('tried', {}))} tried"
        + (" by how well it found flips planted in copies of the labels" if found.self_check else "")
        + "), ranked by cleanlab's label quality score")
    return {"label_issues": found.issues[:LIST_LIMIT], "n_label_issues": len(found.issues),
            "label_issues_checked_on": checked_on, "label_model": found.model, "label_issues_skipped": found.skipped,
            "label_model_out_of_fold_accuracy": accuracy, "label_self_check": found.self_check,
            "label_issues_wording": None if found.skipped else found.wording}, found.ranking


# -- the whole audit -----------------------------------------------------------------------------------
@keeps_torch_numerics
def audit(
    ds: Any,
    *,
    parts: np.ndarray | None = None,
    duplicates: Duplicates | None = None,
    label_issues: bool = True,
    label_part: str | None = None,
    near: bool = True,
    seed: int = 0,
    label_models: str | tuple[str, ...] | list[str] | None = None,
    on_progress: Progress | None = None,
) -> Audit:
    """Audit ``ds``. ``parts`` (per image "train"/"val"/"test") defaults to the source's own
    split; leaks are duplicates across the test part and the others. Label issues are
    looked for among the ``label_part`` images (all images when None), with out-of-fold
    probabilities from the best of ``label_models`` (default: every one of
    LABEL_CANDIDATES that suits the data and this machine; named ones are tried whatever
    they cost, "cnn-folds" on a CPU too)."""
    from ..data import Dataset

    if not isinstance(ds, Dataset):
        raise TrueclassError("audit() takes a trueclass Dataset; trueclass.load(...) makes one.")
    if len(ds) == 0:
        raise TrueclassError("There are no images to audit.")
    if parts is None and ds.predefined_split is not None:
        parts = np.asarray(ds.predefined_split).astype(str)
    dups = duplicates if duplicates is not None else find_duplicates(ds, near=near, on_progress=on_progress)
    labels_of = [_label_text(ds, i) for i in range(len(ds))]
    kinds_of: dict[int, set[str]] = {}
    for p in dups.pairs:
        kinds_of.setdefault(int(dups.groups[p["i"]]), set()).add(p["kind"])
    groups = []
    conflicts = []
    for m in dups.members():
        g = {"ids": [str(ds.ids[i]) for i in m], "indices": [int(i) for i in m], "labels": [labels_of[i] for i in m],
             "kinds": sorted(kinds_of.get(int(dups.groups[m[0]]), set()))}
        if parts is not None:
            g["parts"] = [str(parts[i]) for i in m]
        groups.append(g)
        if len(set(g["labels"])) > 1:
            conflicts.append(g)
    leaks = []
    if parts is not None:
        for t, o, p in dups.test_leaks(parts):
            leaks.append({"test_id": str(ds.ids[t]), "train_id": str(ds.ids[o]), "other_part": str(parts[o]),
                          "kind": p["kind"], "distance": p["distance"], "test_index": int(t),
                          "train_index": int(o), "same_label": labels_of[t] == labels_of[o]})
    if on_progress:
        on_progress("audit: image properties", 0, 0)
    colour = colour_by_class(ds)
    outliers = image_outliers(ds, colour)
    labels, ranking = (_label_section(ds, parts, label_part, seed, label_models, on_progress) if label_issues else (
        {"label_issues": [], "n_label_issues": 0, "label_issues_checked_on": None, "label_model": None,
         "label_issues_skipped": "turned off", "label_model_out_of_fold_accuracy": None, "label_self_check": None,
         "label_issues_wording": None}, []))
    balance = class_balance(ds, parts)
    skipped = [k.to_dict() if hasattr(k, "to_dict") else dict(k) for k in ds.skipped]
    report = {
        "n_images": len(ds),
        "n_skipped_files": len(skipped),
        "skipped_files": skipped[:LIST_LIMIT],
        "near_duplicate_rule": (near_rule_text()
                                + (f"; shifted, cropped and rescaled copies: a grid of windows of each photograph "
                                   f"(its plain margins cut away), aligned at 24x24 and correlating >= "
                                   f"{WINDOW_CORRELATION}" if dups.windows else
                                   "; shifted and cropped copies looked for only among up to "
                                   f"{WINDOW_MAX_IMAGES:,} colour photographs of at least {WINDOW_MIN_SIDE} pixels")
                                if near and min(ds.images.shape[1:3]) >= NEAR_MIN_SIDE else
                                f"not looked for: images under {NEAR_MIN_SIDE}x{NEAR_MIN_SIDE} pixels are checked for "
                                "exact duplicates only" if near else "not looked for"),
        "n_duplicate_pairs": len(dups.pairs),
        "n_exact_pairs": sum(p["kind"] == "exact" for p in dups.pairs),
        "n_near_pairs": sum(p["kind"] == "near" for p in dups.pairs),
        "duplicates": groups[:LIST_LIMIT],
        "n_duplicate_groups": len(groups),
        "conflicts": conflicts[:LIST_LIMIT],
        "n_conflicts": len(conflicts),
        "leaks": leaks[:LIST_LIMIT],
        "n_leaks": len(leaks),
        "n_leaked_test_images": len({lk["test_id"] for lk in leaks}),
        "imbalance": balance,
        "colour_by_class": colour,
        "outliers": outliers[:LIST_LIMIT],
        "n_outliers": len(outliers),
        **labels,
    }
    return Audit(report=report, duplicates=dups, label_ranking=ranking)
