"""``tc.export`` / ``trueclass export``: a run's model as one ONNX file, checked at once.

The parity check runs the exported file as a deployment would, on the run's own
held-out test images: each image file decoded by :func:`~trueclass.models._onnx.read_for_onnx`
(docs/export.md's deployment snippet) and run by ONNX Runtime; against it, the trained model
as ``trueclass predict`` runs it on the same files, in fp32 (and, where this machine
picks bf16, as it runs by default too). It reports the top-1 agreement with its 95%
interval, every image whose answer flips, the largest and mean absolute difference in
probability, and both accuracies. Sources without image files (the digits,
Fashion-MNIST, arrays) have their test images written as 8-bit PNG files first, which
is what a deployment of such a model would be given.

With ``int8``, ONNX Runtime's static quantization writes ``model.int8.onnx`` beside it,
calibrated on up to :data:`CALIBRATION_IMAGES` of the run's training and validation images
(split.csv; never test images), and the int8 check runs both files on the same held-out
files: top-1 agreement with its interval, the flipped images, both accuracies with the
paired McNemar test of their difference, file sizes and images/s on this CPU. The int8
file is the one to deploy only when it meets :data:`INT8_TARGETS`; otherwise the check
says which it missed, in one sentence, and the fp32 file stays the one to deploy.

Everything goes to ``RUN/export/`` (``model.onnx``, ``parity.json``), written whole or
not at all; ``metrics.json`` gains ``export`` and the evidence card its section. A
failure anywhere leaves the run as it was: model/ is only read, and export/,
metrics.json and the card are replaced together or not at all."""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .._errors import TrueclassError
from .._extras import require
from .._jsonio import write_json
from .._numerics import keeps_torch_numerics
from .._paths import as_umask_allows, check_run_writable

__all__ = ["Export", "export", "parity_check", "int8_check", "restored_on_failure", "EXPORT_DIR", "FORMATS",
           "CALIBRATION_IMAGES", "INT8_TARGETS"]

EXPORT_DIR = "export"
FORMATS = ("onnx",)
#: Training and validation images (a seeded sample) that set the int8 activation ranges.
CALIBRATION_IMAGES = 512
#: When the int8 file is the one to deploy: top-1 agreement with the fp32 file, an accuracy
#: drop the paired test cannot tell from zero or smaller than max_drop, at most a third of
#: the fp32 file's size, and faster than it on this CPU.
INT8_TARGETS = {"min_agreement": 0.99, "max_drop": 0.005, "max_size_ratio": 1 / 3, "min_speedup": 1.0}
#: Flipped images listed in parity.json and on the card.
MAX_FLIPS_LISTED = 50

Progress = Callable[..., None]


@dataclass(frozen=True)
class Export:
    """An exported model: the file, how it was made, and its parity check."""

    path: Path
    info: dict[str, Any]
    parity: dict[str, Any]
    #: the int8 file and its check (``export(..., int8=True)``), else None
    int8: dict[str, Any] | None = None

    @property
    def deploy(self) -> Path:
        """The file to deploy: the int8 one where it met :data:`INT8_TARGETS`, else fp32."""
        if self.int8 and self.int8["check"]["deploy"] == "int8":
            return self.path.with_name(self.int8["info"]["file"])
        return self.path

    def summary(self) -> str:
        from ..report import format_int8, format_parity

        text = format_parity(self.info, self.parity, str(self.path))
        if self.int8:
            text += "\n" + format_int8(self.int8["info"], self.int8["check"], str(self.path.with_name(self.int8["info"]["file"])))
        return text

    def __repr__(self) -> str:
        p = self.parity["reference"]
        return (f"Export(path={str(self.path)!r}, agreement={p['agreement']:.4f} on {self.parity['n_images']} "
                f"held-out images, max_prob_diff={p['max_abs_diff']:.2g})")

    __str__ = summary


@keeps_torch_numerics
def export(run: Any, format: str = "onnx", *, int8: bool = False,  # noqa: A002
           on_progress: Progress | None = None) -> Export:
    """Export the model of ``run`` (a run folder or a :class:`Run`) to ``RUN/export/model.onnx``
    and check it on the run's held-out test images (``RUN/export/parity.json``); with
    ``int8``, also ``model.int8.onnx`` and its check against the fp32 file."""
    from ..models import export_onnx, load_model
    from ..report import CARD_HTML, CARD_JSON
    from .metrics import METRICS_FILE, add_section

    if format not in FORMATS:
        raise TrueclassError(f"format must be one of {', '.join(map(repr, FORMATS))}; got {format!r}.")
    require("export", "Exporting a model to ONNX")
    run_dir, dataset = _run_of(run)
    check_run_writable(run_dir, "export (export/, and its section of metrics.json and the card)", "export")
    clf = load_model(run_dir)
    if getattr(clf, "multilabel_", False):
        raise TrueclassError("A multi-label model cannot be exported yet: its per-label thresholds have no place in "
                             "the graph. Export a single-label model.")
    if int8 and clf.metadata_.get("family") == "pixel":
        raise TrueclassError(f"int8 export is for the networks and the lite0 probe; {clf.metadata_['model']} is a "
                             "scikit-learn pixel model, whose ONNX file stays fp32. Export it without --int8.")
    ids, true = _scored_test(run_dir)
    if on_progress is not None:
        on_progress("loading the held-out test images", 0, 0)
    ds = dataset if dataset is not None else _reload(run_dir, on_progress)
    final = run_dir / EXPORT_DIR
    work = as_umask_allows(Path(tempfile.mkdtemp(prefix=".export-", dir=run_dir)))  # becomes export/
    try:
        files, images_from = _test_files(ds, ids, work / "images")
        if on_progress is not None:
            on_progress(f"exporting {clf.metadata_['model']} to ONNX", 0, 0)
        info = export_onnx(clf, work / "model.onnx")
        if on_progress is not None:
            on_progress(f"checking the exported file on {len(files):,} held-out test images", 0, 0)
        deployed = _deployed(files, clf)  # read once by the deployment code, for both checks
        parity = parity_check(work / "model.onnx", clf, files, true, ids, images=deployed,
                              show_files=images_from.startswith("the original"))
        parity["images_from"] = images_from
        quantized = None
        if int8:
            quantized = _int8(run_dir, ds, clf, work, files, true, ids, images_from, on_progress, deployed)
        shutil.rmtree(work / "images", ignore_errors=True)
        write_json(work / "parity.json", {"export": info, **parity, **({"int8": quantized} if quantized else {})})
        section = {"onnx": {**info, "path": f"{EXPORT_DIR}/{info['file']}"},
                   "parity": {k: v for k, v in parity.items() if k != "images"}}
        if quantized:
            section["int8"] = {**quantized, "info": {**quantized["info"], "path": f"{EXPORT_DIR}/{quantized['info']['file']}"}}
        # export/, metrics.json and the card change together or not at all
        with restored_on_failure(run_dir, [EXPORT_DIR, METRICS_FILE, CARD_HTML, CARD_JSON]):
            work.rename(final)
            add_section(run_dir, "export", section)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # nothing half-made is left behind
        raise
    return Export(path=final / info["file"], info=info, parity=parity, int8=quantized)


def _int8(run_dir: Path, ds: Any, clf: Any, work: Path, files: list[str], true: list[str], ids: list[str],
          images_from: str, on_progress: Progress | None, images: np.ndarray) -> dict[str, Any]:
    """Quantize ``work/model.onnx`` on training and validation images and check it on the
    held-out ``images`` (``files`` as the deployment code read them for the parity check)."""
    from ..models import quantize_onnx

    cal_ids = _calibration_ids(run_dir, seed=int((clf.metadata_.get("params") or {}).get("random_state") or 0))
    if on_progress is not None:
        on_progress(f"quantizing to int8, calibrated on {len(cal_ids):,} training and validation images", 0, 0)
    cal_files, _ = _test_files(ds, cal_ids, work / "calibration")
    calibration = _deployed(cal_files, clf)
    shutil.rmtree(work / "calibration", ignore_errors=True)
    info = quantize_onnx(work / "model.onnx", work / "model.int8.onnx", calibration)
    if on_progress is not None:
        on_progress(f"checking the int8 file against the fp32 one on {len(files):,} held-out test images", 0, 0)
    from ..report import int8_verdict

    check = int8_check(work / "model.onnx", work / "model.int8.onnx", clf, files, true, ids, images=images,
                       show_files=images_from.startswith("the original"))
    check["verdict"] = int8_verdict(check)
    return {"info": info, "check": check}


def _deployed(files: list[str], clf: Any) -> np.ndarray:
    """The image files as the exported graph takes them: read by the deployment code."""
    from ..models import read_for_onnx

    h, w, c = clf.image_shape_
    return np.stack([read_for_onnx(f, w, h, "L" if c == 1 else "RGB") for f in files])


def _probabilities(session: Any, images: np.ndarray) -> np.ndarray:
    """An exported file's calibrated probabilities for uint8 images, 256 at a time."""
    from ..models import INPUT, OUTPUTS

    return np.concatenate([session.run([OUTPUTS[0]], {INPUT: images[i:i + 256]})[0]
                           for i in range(0, len(images), 256)]).astype(np.float64)


def _calibration_ids(run_dir: Path, *, seed: int) -> list[str]:
    """Up to CALIBRATION_IMAGES ids of the run's training and validation images (split.csv),
    a seeded sample; never a test image."""
    split = run_dir / "split.csv"
    try:
        with open(split, newline="", encoding="utf-8") as fh:
            rows = [r["id"] for r in csv.DictReader(fh) if r.get("split") in ("train", "val") and r.get("id")]
    except (OSError, KeyError, csv.Error) as exc:
        raise TrueclassError(f"int8 calibration reads the run's training images from {str(split)!r}, which cannot be "
                             f"read ({exc}).") from None
    if not rows:
        raise TrueclassError(f"{str(split)!r} names no training or validation images to calibrate int8 on.")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(rows), size=min(CALIBRATION_IMAGES, len(rows)), replace=False))
    return [rows[i] for i in pick]


def _images_per_second(sessions: dict[str, Any], images: np.ndarray, rounds: int = 7,
                       min_seconds: float = 0.05) -> dict[str, float]:
    """Median images/s of each session, measured side by side: the sessions take turns,
    pass after pass through the images in batches of 64 (each pass long enough to time),
    so a machine that speeds up or slows down meanwhile does not favour either file."""
    import time

    from ..models import INPUT, OUTPUTS

    batch = images[: max(64, min(len(images), 1024))]

    def one_pass(session: Any) -> None:
        for i in range(0, len(batch), 64):
            session.run([OUTPUTS[0]], {INPUT: batch[i:i + 64]})

    passes = {}
    for name, session in sessions.items():  # warm-up, and how many passes make one timing
        t = time.perf_counter()
        one_pass(session)
        passes[name] = max(1, int(np.ceil(min_seconds / max(time.perf_counter() - t, 1e-6))))
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, session in sessions.items():
            t = time.perf_counter()
            for _ in range(passes[name]):
                one_pass(session)
            times[name].append((time.perf_counter() - t) / passes[name])
    return {name: len(batch) / float(np.median(ts)) for name, ts in times.items()}


def int8_check(fp32_path: str | Path, int8_path: str | Path, clf: Any, files: list[str], true: list[str],
               ids: list[str], *, images: np.ndarray | None = None, show_files: bool = True) -> dict[str, Any]:
    """The int8 file against the fp32 file on the same held-out image files: agreement with
    its 95% interval, the flipped images, both accuracies and the paired test of their
    difference, sizes and speeds; ``deploy`` says which file meets :data:`INT8_TARGETS`."""
    from ..evaluation import paired_test, wilson_interval
    from ..features import session_of
    from ..training import cpu_name

    images = _deployed(files, clf) if images is None else images
    sessions = {"fp32": session_of(fp32_path), "int8": session_of(int8_path)}
    probs = {k: _probabilities(s, images) for k, s in sessions.items()}
    classes = [str(x) for x in clf.classes_]
    y = np.array([classes.index(t) for t in true])
    pred = {k: p.argmax(1) for k, p in probs.items()}
    agree = int(np.sum(pred["fp32"] == pred["int8"]))
    flips = [{"id": ids[i], **({"file": files[i]} if show_files else {}), "true": true[i],
              "fp32": classes[pred["fp32"][i]], "int8": classes[pred["int8"][i]],
              "p_fp32": float(probs["fp32"][i, pred["fp32"][i]]), "p_int8": float(probs["int8"][i, pred["int8"][i]])}
             for i in np.flatnonzero(pred["fp32"] != pred["int8"])]
    right = {k: pred[k] == y for k in pred}
    paired = paired_test(right["fp32"], right["int8"])
    size = {"fp32": Path(fp32_path).stat().st_size, "int8": Path(int8_path).stat().st_size}
    speed = _images_per_second(sessions, images)
    t = INT8_TARGETS
    missed = []
    if agree / len(y) < t["min_agreement"]:
        missed.append(f"it agrees with the fp32 file on {100 * agree / len(y):.1f}% of the test images "
                      f"(target {100 * t['min_agreement']:.0f}%)")
    if paired["significant"] and paired["difference"] < 0 and -paired["difference"] >= t["max_drop"]:
        missed.append(f"it is clearly less accurate ({100 * -paired['difference']:.1f} points, McNemar mid-p "
                      f"{paired['mcnemar_midp']:.2g})")
    if size["int8"] > t["max_size_ratio"] * size["fp32"]:
        missed.append(f"the file is {size['int8'] / size['fp32']:.0%} of the fp32 file's size (target at most a third)")
    if speed["int8"] <= t["min_speedup"] * speed["fp32"]:
        missed.append(f"it runs at {speed['int8']:,.0f} images/s against fp32's {speed['fp32']:,.0f} on this CPU")
    return {
        "n_images": len(files),
        "agreement": agree / len(y),
        "agreement_ci": list(wilson_interval(agree, len(y))),
        "n_flips": len(flips),
        "flips": flips[:MAX_FLIPS_LISTED],
        "max_abs_diff": float(np.abs(probs["fp32"] - probs["int8"]).max()),
        "accuracy": {k: float(np.mean(r)) for k, r in right.items()},
        "accuracy_ci": {k: list(wilson_interval(int(np.sum(r)), len(y))) for k, r in right.items()},
        "paired": paired,
        "bytes": size,
        "images_per_second": {k: round(v, 1) for k, v in speed.items()},
        "cpu": cpu_name(),
        "targets": dict(t),
        "missed": missed,
        "deploy": "fp32" if missed else "int8",
    }


@contextmanager
def restored_on_failure(run_dir: Path, names: Sequence[str]) -> Iterator[None]:
    """Run the block with the run folder's ``names`` (files and folders) set aside, and
    put them back as they were if it fails (on any exception, Ctrl-C included).

    Files are copied aside and stay in place meanwhile; folders are moved aside (the
    block writes them anew). What the block made of ``names`` is removed on failure."""
    keep = Path(tempfile.mkdtemp(prefix=".keep-", dir=run_dir))
    kept: list[str] = []
    try:
        for name in names:
            src = run_dir / name
            if src.is_dir():
                src.rename(keep / name)
                kept.append(name)
            elif src.is_file():
                shutil.copy2(src, keep / name)
                kept.append(name)
    except BaseException:
        _put_back(run_dir, keep, kept, kept)
        raise
    try:
        yield
    except BaseException:
        _put_back(run_dir, keep, names, kept)
        raise
    finally:
        shutil.rmtree(keep, ignore_errors=True)


def _put_back(run_dir: Path, keep: Path, names: Sequence[str], kept: Sequence[str]) -> None:
    for name in names:
        target = run_dir / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists() or target.is_symlink():
            target.unlink()
        if name in kept:
            (keep / name).replace(target)
    shutil.rmtree(keep, ignore_errors=True)


def _run_of(run: Any) -> tuple[Path, Any]:
    """The run folder (and the Run's data, when a Run object is given)."""
    if hasattr(run, "path") and hasattr(run, "evaluation"):
        return Path(run.path), getattr(run, "dataset", None)
    p = Path(str(run)).expanduser()
    if (p / "model.json").is_file() and (p.parent / "predictions.csv").is_file():
        p = p.parent  # the run's model/ folder
    if not p.exists():
        raise TrueclassError(f"No such run folder: {str(run)!r}.")
    if not (p / "model" / "model.json").is_file() or not (p / "predictions.csv").is_file():
        raise TrueclassError(f"{str(run)!r} is not a finished training run (it needs model/ and predictions.csv): "
                             "the parity check runs on the run's own held-out test images. Train one with "
                             "`trueclass train`.")
    return p, None


def _scored_test(run_dir: Path) -> tuple[list[str], list[str]]:
    """The ids and true classes of the run's scored test images (predictions.csv)."""
    with open(run_dir / "predictions.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["id"] for r in rows], [r["true"] for r in rows]


def _reload(run_dir: Path, on_progress: Progress | None) -> Any:
    from .config import RunConfig
    from .pipeline import load_step

    cfg_file = run_dir / "config.json"
    try:
        config = RunConfig.from_dict(json.loads(cfg_file.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise TrueclassError(f"{str(cfg_file)!r} cannot be read ({exc}).") from None
    try:
        return load_step(config, None, on_progress)
    except TrueclassError as exc:
        raise TrueclassError(f"The run's source {config.source!r} cannot be loaded here ({exc}); the parity check "
                             "needs its held-out test images. In Python, export the Run object the training "
                             "returned.") from None


def _test_files(ds: Any, ids: list[str], folder: Path) -> tuple[list[str], str]:
    """One file per scored test image: the source's own files where it has them, else
    the images written as 8-bit PNG files into ``folder``."""
    from PIL import Image

    from ..data import to_display

    index = {str(i): n for n, i in enumerate(ds.ids)}
    missing = [i for i in ids if i not in index]
    if missing:
        raise TrueclassError(f"{len(missing):,} of the run's {len(ids):,} test images are no longer in its source "
                             f"(the first: {missing[0]!r}); the parity check needs them all.")
    idx = np.array([index[i] for i in ids], dtype=np.int64)
    files = ds.provenance.get("image_files")
    if files is not None and len(files) == len(ds) and all(Path(str(files[i])).is_file() for i in idx):
        return [str(files[i]) for i in idx], f"the original files of the {len(ids):,} held-out test images"
    folder.mkdir(parents=True, exist_ok=True)
    shown = to_display(ds.images[idx], ds.value_max)
    out = []
    for n, img in enumerate(shown):
        f = folder / f"{n:06d}.png"
        Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(f)
        out.append(str(f))
    return out, (f"the {len(ids):,} held-out test images written as 8-bit PNG files (the source has no image files; "
                 "a deployment is given 8-bit images)")


def parity_check(onnx_path: str | Path, clf: Any, files: list[str], true: list[str], ids: list[str], *,
                 images: np.ndarray | None = None, show_files: bool = True) -> dict[str, Any]:
    """The exported file run as a deployment runs it against the trained model as
    ``trueclass predict`` runs it, on the same image files (see the module's notes)."""
    from ..data import read_images
    from ..evaluation import wilson_interval
    from ..features import session_of

    h, w, c = clf.image_shape_
    mode = "L" if c == 1 else "RGB"
    deployed = _deployed(files, clf) if images is None else images
    p_onnx = _probabilities(session_of(onnx_path), deployed)
    arrays, good, bad = read_images(files, (h, w), mode)
    if bad:
        raise TrueclassError(f"{len(bad)} test image files could not be read for the parity check "
                             f"({bad[0].path}: {bad[0].reason}).")
    to_model = clf.value_max_ / 255.0  # files are 0-255, as trueclass predict reads them
    classes = [str(x) for x in clf.classes_]
    y = np.array([classes.index(t) for t in true])
    onnx_pred = p_onnx.argmax(1)
    out: dict[str, Any] = {
        "n_images": len(files),
        "same_input_pixels": bool(np.array_equal(arrays, deployed)),
        "onnx": {"accuracy": float(np.mean(onnx_pred == y)), "accuracy_ci": list(wilson_interval(int(np.sum(onnx_pred == y)), len(y)))},
    }
    for key, precision in _references(clf):
        p_ref = _with_precision(clf, precision, lambda: clf.predict_proba(arrays.astype(np.float64) * to_model))
        ref_pred = p_ref.argmax(1)
        agree = int(np.sum(ref_pred == onnx_pred))
        diff = np.abs(p_ref - p_onnx)
        flips = [{"id": ids[i], **({"file": files[i]} if show_files else {}),
                  "true": true[i], "trueclass": classes[ref_pred[i]], "onnx": classes[onnx_pred[i]],
                  "p_trueclass": float(p_ref[i, ref_pred[i]]), "p_onnx": float(p_onnx[i, onnx_pred[i]])}
                 for i in np.flatnonzero(ref_pred != onnx_pred)]
        out[key] = {
            "precision": precision,
            "agreement": agree / len(y),
            "agreement_ci": list(wilson_interval(agree, len(y))),
            "n_flips": len(flips),
            "flips": flips[:MAX_FLIPS_LISTED],
            "max_abs_diff": float(diff.max()),
            "mean_abs_diff": float(diff.mean()),
            "accuracy": float(np.mean(ref_pred == y)),
            "accuracy_ci": list(wilson_interval(int(np.sum(ref_pred == y)), len(y))),
        }
    return out


def _references(clf: Any) -> list[tuple[str, str]]:
    """What the exported file is compared with: the trained model in fp32 ("reference"),
    and as ``trueclass predict`` runs it by default where that is not fp32 ("default")."""
    params = getattr(clf.estimator_, "params", None)
    out = [("reference", "fp32")]
    if params is not None and "precision" in params:  # a network: where it runs now, as prediction picks it
        default = clf.estimator_.runtime().precision
        if default != "fp32":
            out.append(("default", default))
    return out


def _with_precision(clf: Any, precision: str, fn: Callable[[], np.ndarray]) -> np.ndarray:
    """``fn()`` with the network computing in ``precision``; pixel models compute in
    float64 and the probe's backbone in ONNX Runtime fp32 whatever it is."""
    params = getattr(clf.estimator_, "params", None)
    if params is None or "precision" not in params:
        return fn()
    old = params["precision"]
    params["precision"] = precision
    try:
        return fn()
    finally:
        params["precision"] = old
