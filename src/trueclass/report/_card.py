"""The evidence card: one self-contained HTML page (and card.json) rendered from a run
folder's metrics.json and the test predictions kept beside it in evaluation.npz.

Nothing here computes a metric: numbers come from metrics.json; this module only picks
which test images get thumbnails, draws the plots, and fills the Jinja2 template.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._errors import TrueclassError
from .._paths import check_run_writable
from .._jsonio import json_default, write_json
from ._text import (failed_steps, format_confidence, format_percent, format_sureness, format_report_card, format_seconds, format_training,
                    model_card, warning_sentences)

__all__ = ["render_card", "render_summary_html", "build_card", "save_arrays", "select_thumbnails",
           "png_base64", "CARD_HTML", "CARD_JSON", "EVAL_ARRAYS"]

CARD_HTML = "card.html"
CARD_JSON = "card.json"
#: Test labels, probabilities, ids and the thumbnails the card shows (numpy .npz, no pickle).
EVAL_ARRAYS = "evaluation.npz"
#: Thumbnails are at most this many pixels on their long side (the page scales them up).
THUMB_SIDE = 64
#: Least confident correct images kept per class, for the diagonal cells and the gallery.
CORRECT_PER_CLASS = 24
#: At most this many thumbnails in one card: every misread image first (most confident
#: first), then the least sure images. 10,000 Fashion-MNIST test images give a ~1 MB card.
MAX_THUMBS = 3000
#: Audit thumbnails kept: duplicate groups, leaks, label issues and odd images shown.
AUDIT_SHOWN = 12
#: Images shown of each duplicate group.
GROUP_IMAGES = 6
AUDIT_ARRAYS = "audit.npz"
#: Images shown in the static galleries of the page.
GALLERY_ERRORS = 40
GALLERY_CORRECT = 16
REVIEW_SHOWN = 40


def png_base64(image_or_figure: Any) -> str:
    """A PIL image or a matplotlib Figure as base64 PNG text, for inlining."""
    buf = io.BytesIO()
    if hasattr(image_or_figure, "savefig"):
        image_or_figure.savefig(buf, format="png", dpi=100)
    else:
        image_or_figure.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# -- which test images get a thumbnail ----------------------------------------------------------
def select_thumbnails(y_true: np.ndarray, probs: np.ndarray, *, max_thumbs: int = MAX_THUMBS,
                      correct_per_class: int = CORRECT_PER_CLASS) -> np.ndarray:
    """Test indices that get a thumbnail: every misread image (most confident first), the
    ``correct_per_class`` least confident right answers of each class, and then the least
    confident images overall (the review queue), up to ``max_thumbs``."""
    if y_true.ndim != 1:  # multi-label: the least sure images only
        sure = np.abs(probs - 0.5).min(axis=1)
        return np.argsort(sure, kind="stable")[:max_thumbs]
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    chosen = list(wrong[np.argsort(-conf[wrong], kind="stable")])
    for k in range(probs.shape[1]):
        right_k = np.flatnonzero((pred == y_true) & (y_true == k))
        chosen += list(right_k[np.argsort(conf[right_k], kind="stable")][:correct_per_class])
    chosen += list(np.argsort(conf, kind="stable")[: max_thumbs // 10])
    seen: set[int] = set()
    out = [int(i) for i in chosen if not (int(i) in seen or seen.add(int(i)))]
    return np.asarray(out[:max_thumbs], dtype=np.int64)


def make_thumbnails(display: np.ndarray, side: int = THUMB_SIDE) -> np.ndarray:
    """uint8 (M, h, w, C) images no bigger than ``side`` on their long side."""
    if len(display) == 0 or max(display.shape[1:3]) <= side:
        return np.ascontiguousarray(display)
    from PIL import Image

    h, w = display.shape[1:3]
    s = side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    out = []
    for img in display:
        pil = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
        small = np.asarray(pil.resize(size, Image.Resampling.LANCZOS))
        out.append(small[..., None] if small.ndim == 2 else small)
    return np.stack(out)


def save_arrays(path: Path, evaluation: Any, display: np.ndarray) -> None:
    """Write evaluation.npz: what ``trueclass card`` needs to redraw the galleries."""
    idx = select_thumbnails(evaluation.y_true, evaluation.probs)
    thumbs = make_thumbnails(display[idx]) if len(idx) else np.zeros((0, 1, 1, 1), np.uint8)
    tmp = path.with_name(path.name + ".part.npz")
    np.savez_compressed(tmp, y_true=evaluation.y_true, probs=evaluation.probs.astype(np.float32),
                        ids=np.asarray(evaluation.ids, dtype=str), classes=np.asarray(evaluation.classes, dtype=str),
                        thumb_index=idx, thumbs=thumbs)
    tmp.replace(path)


def _audit_shown(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """What the card's audit section shows: duplicate groups (conflicting ones first, at
    most GROUP_IMAGES images each), leaks, label issues and odd images. audit.npz keeps
    thumbnails of exactly these images."""
    groups = report["conflicts"] + [g for g in report["duplicates"] if len(set(g["labels"])) == 1]
    return {"groups": [g | {"indices": g["indices"][:GROUP_IMAGES]} for g in groups[:AUDIT_SHOWN]],
            "leaks": report["leaks"][:AUDIT_SHOWN],
            "label_issues": report["label_issues"][: 2 * AUDIT_SHOWN],
            "outliers": report["outliers"][:AUDIT_SHOWN]}


def _audit_indices(report: dict[str, Any]) -> list[int]:
    shown = _audit_shown(report)
    idx = [i for g in shown["groups"] for i in g["indices"]]
    idx += [i for lk in shown["leaks"] for i in (lk["test_index"], lk["train_index"])]
    idx += [it["index"] for it in shown["label_issues"]] + [o["index"] for o in shown["outliers"]]
    return sorted(set(idx))


def save_audit_thumbnails(path: Path, ds: Any, report: dict[str, Any]) -> None:
    """audit.npz: thumbnails of the images the card shows in its audit section."""
    from ..data import to_display

    idx = np.asarray(_audit_indices(report), dtype=np.int64)
    thumbs = make_thumbnails(to_display(ds.images[idx], ds.value_max)) if len(idx) else np.zeros((0, 1, 1, 1), np.uint8)
    np.savez_compressed(path, index=idx, thumbs=thumbs)


def _audit_view(report: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """The audit's groups, leaks, label issues and odd images with inline thumbnails."""
    f = path / AUDIT_ARRAYS
    if not f.is_file():
        return None
    arr = _load_arrays(f)
    png = {int(i): _thumb_png(t) for i, t in zip(arr["index"], arr["thumbs"])}

    def pic(i: int, caption: str) -> dict[str, Any]:
        return {"png": png.get(int(i)), "caption": caption}

    shown = _audit_shown(report)
    return {
        "groups": [{"conflict": len(set(g["labels"])) > 1, "kinds": g["kinds"],
                    "images": [pic(i, f"{lab}{' · ' + p if p else ''}")
                               for i, lab, p in zip(g["indices"], g["labels"], g.get("parts") or [""] * GROUP_IMAGES)]}
                   for g in shown["groups"]],
        "leaks": [{"kind": lk["kind"], "images": [pic(lk["test_index"], f"test: {lk['test_id']}"),
                                                 pic(lk["train_index"], f"{lk['other_part']}: {lk['train_id']}")]}
                  for lk in shown["leaks"]],
        "label_issues": [pic(it["index"], f"{it['given']} → {it['suggested']}? score {it['score']:.3f}") | {"id": it["id"]}
                         for it in shown["label_issues"]],
        "outliers": [pic(o["index"], ", ".join(o["reasons"])) | {"id": o["id"]} for o in shown["outliers"]],
    }


def _inline_files(rows: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """``rows`` whose ``file`` (relative to the run folder) exists, with its PNG inlined."""
    out = []
    for ex in rows:
        f = path / ex["file"]
        if f.is_file():
            out.append({**ex, "png": base64.b64encode(f.read_bytes()).decode("ascii")})
    return out


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# -- what the card shows, as data (card.json) ---------------------------------------------------
def _thumb_png(img: np.ndarray) -> str:
    from PIL import Image

    return png_base64(Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img))


def _colour(cmap: Any, v: float) -> str:
    r, g, b, _ = cmap(0.08 + 0.8 * float(np.clip(v, 0, 1)))
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def _confusion_cells(m: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Each cell's count, row share and two background colours (counts / row shares).
    Right answers use a blue scale, mistakes an orange one: a pair told apart with
    every common colour-vision deficiency; the diagonal also gets a border."""
    from matplotlib import colormaps

    blues, oranges = colormaps["Blues"], colormaps["Oranges"]
    cm = np.asarray(m["confusion_matrix"], dtype=np.int64)
    frac = np.asarray(m["confusion_matrix_normalized"], dtype=np.float64)
    k = len(cm)
    diag_max = max(1, int(np.diag(cm).max())) if k else 1
    off = cm.copy()
    np.fill_diagonal(off, 0)
    off_max = max(1, int(off.max())) if k else 1
    rows = []
    for i in range(k):
        row = []
        for j in range(k):
            c, f = int(cm[i, j]), float(frac[i, j])
            scale, top = (blues, diag_max) if i == j else (oranges, off_max)
            v_count = c / top
            row.append({
                "true": m["classes"][i], "pred": m["classes"][j], "count": c, "frac": round(f, 4),
                "diag": i == j,
                "bg_count": "#ffffff" if c == 0 else _colour(scale, v_count),
                "bg_norm": "#ffffff" if c == 0 else _colour(scale, f),
                "dark_count": c > 0 and v_count > 0.55, "dark_norm": c > 0 and f > 0.55,
            })
        rows.append(row)
    return rows


def short_id(ident: str, width: int = 22) -> str:
    """An image id for a caption: its file name (the folders are in the full id, shown on
    hover), shortened with an ellipsis in the middle of a name too long to fit."""
    name = ident.replace("\\", "/").rsplit("/", 1)[-1]
    if len(name) <= width:
        return name
    half = (width - 1) // 2
    return name[:half] + "…" + name[-(width - 1 - half):]


def card_data(m: dict[str, Any], arrays: dict[str, np.ndarray] | None) -> dict[str, Any]:
    """Everything the card shows, as JSON-ready data (card.json); thumbnails by position."""
    single = not m.get("multilabel")
    data: dict[str, Any] = {
        "trueclass": __version__,
        "title": f"{m.get('model', 'model')} on {(m.get('dataset') or {}).get('source', 'data')}",
        "report_card": format_report_card(m),
        "model_card": model_card(m),
        "warnings": warning_sentences([w for w in m.get("warnings") or [] if w.get("kind") != "step_failed"]),
        "incomplete": [{"step": w["step"], "error": w["error"]} for w in failed_steps(m)],
        "training_line": format_training(m.get("training") or {}),
        "time_line": format_seconds(m.get("seconds")),
        "items": [],
    }
    if arrays is None:
        return data
    classes = [str(c) for c in arrays["classes"]]
    y, P, ids = arrays["y_true"], arrays["probs"].astype(np.float64), arrays["ids"]
    idx = arrays["thumb_index"]
    flag_thr = (m.get("flagged") or {}).get("threshold")
    if single:
        data["confusion"] = _confusion_cells(m)
        from ..evaluation import prediction_rows

        rows = prediction_rows(classes, y, P, ids, flag_thr, top_k=3, index=idx)
        for pos, r in enumerate(rows):
            data["items"].append({
                "thumb": pos, "id": r["id"], "short_id": short_id(r["id"]), "true": r["true"], "pred": r["pred"],
                "confidence": round(r["confidence"], 4), "top": [[c, round(p, 4)] for c, p in r["top_k"]],
                "correct": r["correct"], "flagged": r["flagged"],
            })
        items = data["items"]
        wrong = [it for it in items if not it["correct"]]
        right = sorted((it for it in items if it["correct"]), key=lambda it: it["confidence"])
        data["gallery_errors"] = [it["thumb"] for it in wrong[:GALLERY_ERRORS]]
        data["gallery_correct"] = [it["thumb"] for it in right[:GALLERY_CORRECT]]
        queue = sorted((it for it in items if it["flagged"]), key=lambda it: it["confidence"])
        data["review_queue"] = [it["thumb"] for it in queue[:REVIEW_SHOWN]]
        # the misread image the card's plain-words top shows: the most confident mistake
        data["plain_example"] = wrong[0]["thumb"] if wrong else None
        # how many images of each cell have a thumbnail, so the page can say "n of m"
        data["thumbs_complete_for_errors"] = len(wrong) == int(m["n_wrong"])
    return data


# -- plots ----------------------------------------------------------------------------------------
def _plots(m: dict[str, Any]) -> dict[str, str]:
    from ._plots import (figure, plot_class_counts, plot_coverage, plot_history, plot_reliability,
                         plot_stability)

    out: dict[str, str] = {}

    def draw(name: str, w: float, h: float, fn: Any) -> None:
        fig = figure(w, h)
        fn(fig)
        out[name] = png_base64(fig)

    counts = (m.get("dataset") or {}).get("counts_by_split")
    if counts:
        n_cls = len(next(iter(counts.values())))
        if n_cls <= 60:
            draw("counts", 6.0, max(2.4, 0.28 * n_cls * 1.4 + 1.0), lambda f: plot_class_counts(counts, f.add_subplot()))
    if m.get("calibration"):
        temp = m["calibration"].get("temperature") or {}

        def rel(f: Any) -> None:
            if temp.get("bins_before"):
                a, b = f.subplots(1, 2)
                plot_reliability(m, a, raw=True)
                plot_reliability(m, b)
            else:
                plot_reliability(m, f.add_subplot())

        draw("reliability", 8.4 if temp.get("bins_before") else 4.4, 4.0, rel)
        target = (m.get("flagged") or {}).get("target_accuracy")
        draw("coverage", 4.6, 3.6, lambda f: plot_coverage(m, f.add_subplot(), target=target))
    hist = (m.get("training") or {}).get("history") or []
    if hist:
        def curves(f: Any) -> None:
            a, b = f.subplots(1, 2)
            plot_history(hist, a, metric="loss")
            plot_history(hist, b, metric="accuracy")

        draw("history", 8.4, 3.2, curves)
    st = m.get("stability")
    if st and st.get("repeats", 0) > 1:
        draw("stability", 6.0, 2.0, lambda f: plot_stability(st, f.add_subplot()))
    rob = m.get("robustness")
    if rob:
        from ._plots import plot_stress

        n = len(rob["accuracy"])
        draw("stress", 2.1 * min(5, n), 2.0 * -(-n // 5), lambda f: plot_stress(rob, f))
    return out


# -- rendering --------------------------------------------------------------------------------------
def _env():
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("trueclass", "report/templates"),
                      autoescape=select_autoescape(["j2", "html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = format_percent
    return env


def render_template(name: str, **context: Any) -> str:
    """One of report/templates (``name``) rendered with ``context``: the card's Jinja2
    environment, for pages made elsewhere (a comparison of runs)."""
    return _env().get_template(name).render(**context)


def render_card(m: dict[str, Any], data: dict[str, Any], thumbs: list[str], plots: dict[str, str],
                *, run_dir: str | Path | None = None, extra: dict[str, Any] | None = None) -> str:
    """The card's HTML from metrics, card data, base64 thumbnails and base64 plots."""
    from markupsafe import Markup

    payload = {"items": data.get("items", []), "thumbs": thumbs,
               "complete": data.get("thumbs_complete_for_errors", True)}
    blob = json.dumps(payload, default=json_default, separators=(",", ":")).replace("</", "<\\/")
    return _env().get_template("card.html.j2").render(
        m=m, d=data, plots=plots, thumbs=thumbs, items=data.get("items", []), run_dir=str(run_dir or ""),
        payload=Markup(blob), version=__version__, pct=format_percent, conf=format_confidence, sure=format_sureness, x=extra or {},
    )


def render_summary_html(m: dict[str, Any]) -> str:
    """A static summary (no script) for Jupyter: headline, report card, confusion table,
    per-class table."""
    data = {"report_card": format_report_card(m)}
    if not m.get("multilabel"):
        data["confusion"] = _confusion_cells(m)
    return _env().get_template("summary.html.j2").render(m=m, d=data, pct=format_percent)


def build_card(run_dir: str | Path) -> Path:
    """(Re)build card.html and card.json of a run folder from its metrics.json and
    evaluation.npz. Returns the path of card.html."""
    path = Path(run_dir).expanduser()
    mfile = path / "metrics.json"
    if not mfile.is_file():
        raise TrueclassError(f"{str(path)!r} is not a finished run folder (it has no metrics.json); "
                             "train or evaluate first.")
    check_run_writable(path, "card (card.html, card.json)", "rebuild the card of")
    m = json.loads(mfile.read_text(encoding="utf-8"))
    afile = path / EVAL_ARRAYS
    arrays = _load_arrays(afile) if afile.is_file() else None
    data = card_data(m, arrays)
    thumbs = [] if arrays is None else [_thumb_png(t) for t in arrays["thumbs"]]
    extra = {}
    if m.get("audit"):
        from ._audit_text import colour_sentences, format_label_issues, label_issue_words

        extra["audit_view"] = _audit_view(m["audit"], path)
        extra["colour_sentences"] = colour_sentences(m["audit"])
        extra["label_words"] = label_issue_words(m["audit"])
        extra["label_sentence"] = format_label_issues(m["audit"])
    if m.get("robustness"):
        extra["stress_examples"] = _inline_files(m["robustness"].get("examples", []), path)
    if m.get("explanations"):
        extra["explained"] = _inline_files(m["explanations"].get("images", []), path)
    html = render_card(m, data, thumbs, _plots(m), run_dir=path, extra=extra)
    write_json(path / CARD_JSON, data)
    tmp = path / (CARD_HTML + ".part")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path / CARD_HTML)
    return path / CARD_HTML
