"""``tc.compare`` / ``trueclass compare``: models scored on the same test images, paired.

Takes run folders, :class:`Run` objects or :class:`Evaluation` objects; compares every
one with the first (evaluation._compare holds the statistics) and writes
``comparison.json`` and a self-contained ``comparison.html`` when asked to.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Sequence

from .._errors import TrueclassError
from ..evaluation import compare_answers, names_for
from .._numerics import keeps_torch_numerics

__all__ = ["Comparison", "compare"]


def _answers(item: Any) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """(default name, {ids, true, pred}, the run's stability section or None)."""
    import numpy as np

    from ..evaluation import Evaluation

    if isinstance(item, Evaluation):
        classes = np.asarray(item.classes).astype(str)
        return "model", {"ids": list(item.ids), "true": classes[item.y_true],
                         "pred": classes[np.argmax(item.probs, axis=1)]}, None
    if hasattr(item, "evaluation") and hasattr(item, "path"):  # a Run
        name, ans, _ = _answers(item.evaluation)
        return Path(item.path).name, ans, (item.metrics or {}).get("stability")
    path = Path(str(item)).expanduser()
    preds = path / "predictions.csv"
    if not preds.is_file():
        raise TrueclassError(f"{str(path)!r} is not a run folder with predictions.csv; give run folders (as "
                             "`trueclass train` writes them) or, in Python, Run or Evaluation objects.")
    with open(preds, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if rows and "pred" not in rows[0]:
        raise TrueclassError(f"{str(path)!r} holds a multi-label run; compare single-label runs.")
    metrics = json.loads((path / "metrics.json").read_text()) if (path / "metrics.json").is_file() else {}
    return path.name, {"ids": [r["id"] for r in rows], "true": [r["true"] for r in rows],
                       "pred": [r["pred"] for r in rows]}, metrics.get("stability")


class Comparison:
    """Every model against the first: ``pairs`` (one dict each, see
    evaluation._compare.compare_answers) and the seed-to-seed spread of runs that had
    repeats (``spread``)."""

    def __init__(self, pairs: list[dict[str, Any]], spread: dict[str, Any]):
        self.pairs, self.spread = pairs, spread

    def to_dict(self) -> dict[str, Any]:
        return {"comparisons": self.pairs, "seed_spread": self.spread}

    def summary(self) -> str:
        lines = []
        for p in self.pairs:
            lines += [f"{p['a']:<28} {p['accuracy_a']:.1%} (95% CI {p['accuracy_a_ci'][0]:.1%} to "
                      f"{p['accuracy_a_ci'][1]:.1%})",
                      f"{p['b']:<28} {p['accuracy_b']:.1%} (95% CI {p['accuracy_b_ci'][0]:.1%} to "
                      f"{p['accuracy_b_ci'][1]:.1%})",
                      f"{'disagreements':<28} {p['only_a_right']} right only by {p['a']}, {p['only_b_right']} right "
                      f"only by {p['b']}, of {p['n_test']} test images",
                      f"Verdict: {p['verdict']}"]
            for name in (p["a"], p["b"]):
                s = self.spread.get(name)
                if s:
                    lines.append(f"{'':<28} {name} over {s['repeats']} seeds: {s['mean']:.1%} ± {100 * s['sd']:.1f} points (sd)")
            lines.append("")
        return "\n".join(lines).rstrip()

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return _render(self, standalone=False)

    def write(self, out: str | Path) -> Path:
        """comparison.json and comparison.html in folder ``out``."""
        out = Path(out).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.json").write_text(json.dumps(self.to_dict(), indent=1))
        (out / "comparison.html").write_text(_render(self, standalone=True), encoding="utf-8")
        return out


def _render(c: Comparison, *, standalone: bool) -> str:
    from ..report import render_template

    return render_template("comparison.html.j2", c=c, standalone=standalone)


@keeps_torch_numerics
def compare(*items: Any, names: Sequence[str] | None = None, out: str | Path | None = None,
            seed: int = 0) -> Comparison:
    """Compare models scored on the same test images: run folders, Runs or Evaluations.
    Every one after the first is paired with the first. ``out`` writes comparison.json
    and comparison.html there."""
    if len(items) == 1 and isinstance(items[0], (list, tuple)):
        items = tuple(items[0])
    if len(items) < 2:
        raise TrueclassError("compare() needs at least two runs (or evaluations) to compare.")
    if out is not None:
        from .folder import check_writable

        check_writable(Path(out).expanduser(), what="comparison folder")  # before the runs are read
    got = [_answers(x) for x in items]
    if names is not None and len(names) != len(items):
        raise TrueclassError(f"names has {len(names)} entries for {len(items)} models.")
    shown = names_for(list(names) if names is not None else
                      [n if n != "model" else f"model {i + 1}" for i, (n, _, _) in enumerate(got)])
    first = {"name": shown[0], **got[0][1]}
    pairs = [compare_answers(first, {"name": shown[i], **got[i][1]}, seed=seed) for i in range(1, len(got))]
    spread = {shown[i]: s for i, (_, _, s) in enumerate(got) if s}
    c = Comparison(pairs, spread)
    if out is not None:
        c.write(out)
    return c
