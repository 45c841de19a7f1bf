"""stress.json in words, for ``trueclass stress`` (a run's one-line summary of it is
_text.format_stress_line)."""

from __future__ import annotations

from typing import Any

from ._text import format_confidence

__all__ = ["format_stress"]


def format_stress(data: dict[str, Any]) -> str:
    """stress.json as text: the accuracy curve of each perturbation with the 95% interval
    at its strongest, the class that breaks first (and on how many images), label-changing
    perturbations, and images of no class."""
    lines = [f"Stress tests on {data['n_images']:,} test images ({data['evaluated_on']}); "
             f"clean accuracy {data['clean_accuracy']:.1%}"]
    for name, accs in data["accuracy"].items():
        curve = "  ".join(f"{sev}: {a:.1%}" for sev, a in accs.items())
        strongest = list(accs)[-1]
        low, high = (data.get("accuracy_ci") or {}).get(name, {}).get(strongest, (None, None))
        ci = f" (95% CI {low:.0%} to {high:.0%})" if low is not None else ""
        bf = data["breaks_first"].get(name)
        if bf and bf.get("n"):
            bf_text = (f"   breaks first: {bf['class']} ({100 * bf['drop']:+.0f} points on its {bf['n']} "
                       f"image{'s' * (bf['n'] != 1)})")
        else:
            bf_text = f"   breaks first: {bf['class']}" if bf else ""
        lines.append(f"  {name:<12} {curve}{ci}{bf_text}")
    if data["label_changing"]:
        lines.append(f"Label-changing for this data: {', '.join(data['label_changing'])}")
    if data.get("shortcuts_skipped"):
        lines.append(f"Shortcuts: not checked ({data['shortcuts_skipped']})")
    sc = data.get("shortcuts")
    if sc:
        cov = sc["covered"]
        lines.append(f"Shortcuts ({sc['method']}): " + (f"{', '.join(sc['flagged'])} lean(s) on the border, "
                                                       f"{sc['border']}" if sc["flagged"] else
                                                       "no class leans on the image border")
                     + f"; accuracy as is {cov['as is']['accuracy']:.1%}, border covered "
                       f"{cov['border covered']['accuracy']:.1%}, centre covered {cov['centre covered']['accuracy']:.1%}")
    ood = data["ood"]
    at, for_95 = format_confidence(ood["threshold"]), format_confidence(ood["threshold_for_95_percent"])
    if for_95 == at and ood["threshold_for_95_percent"] > ood["threshold"]:  # images tied at the threshold (knn's votes)
        for_95 = f"just above {at}"
    lines.append(f"Images of no class answered with confidence >= {at}: "
                 f"{ood['confidently_answered']:.0%}; a threshold of {for_95} would send "
                 f"95% of them to a human (and {ood['real_test_images_flagged_at_that_threshold']:.0%} of real test "
                 "images)")
    return "\n".join(lines)
