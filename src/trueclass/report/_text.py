"""Pure ``format_*`` functions: metrics in, text out. Printing happens elsewhere."""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["format_report_card", "format_skipped", "format_percent"]


def format_percent(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def format_report_card(metrics: dict[str, Any], run_dir: str | None = None) -> str:
    """The short report card: accuracy with its interval, wrong out of N, the most common
    confusion, the weakest class, the baselines, and where the evidence is."""
    lo, hi = metrics["accuracy_ci"]
    n = metrics["n_test"]
    lines = [
        f"Accuracy       {format_percent(metrics['accuracy'])} (95% CI {format_percent(lo)} to "
        f"{format_percent(hi)}) on {n:,} test images the model never saw",
        f"Wrong          {metrics['n_wrong']:,} of {n:,}",
    ]
    confused = metrics.get("most_confused") or []
    if confused:
        top = confused[0]
        times = "once" if top["count"] == 1 else f"{top['count']} times"
        lines.append(f"Most confused  {top['true']} read as {top['pred']} ({times})")
    else:
        lines.append("Most confused  no confusions: every test image was read right")
    weak = metrics.get("weakest_class")
    if weak is not None:
        pc = metrics["per_class"][weak]
        lines.append(
            f"Weakest class  {weak} (F1 {pc['f1']:.2f}, recall {format_percent(pc['recall'], 0)} "
            f"of {pc['support']} images)"
        )
    base = metrics.get("baselines")
    if base:
        lines.append(
            f"Baselines      chance {format_percent(base['chance'])}, always '{base['majority_class']}' "
            f"{format_percent(base['majority'])}"
        )
    flagged = metrics.get("flagged")
    if flagged and flagged.get("n"):
        acc = flagged.get("accuracy_accepted")
        lines.append(
            f"For review     {flagged['n']:,} image{'s' if flagged['n'] != 1 else ''} below confidence "
            f"{flagged['threshold']:.2f}; "
            f"accuracy on the rest {format_percent(acc)}"
        )
    if run_dir:
        lines.append(f"Run folder     {run_dir}")
    return "\n".join(lines)


def format_skipped(skipped: Sequence[dict[str, str]], limit: int = 10) -> str:
    """'Skipped 3 files:' and one line per file with its reason."""
    if not skipped:
        return ""
    lines = [f"Skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''} (listed in metrics.json):"]
    for s in list(skipped)[:limit]:
        lines.append(f"  {s['path']}: {s['reason']}")
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more")
    return "\n".join(lines)
