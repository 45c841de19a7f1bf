"""What `trueclass export` prints: the exported file and its parity check, and the int8
file against the fp32 one."""

from __future__ import annotations

from typing import Any

from ._text import format_percent

__all__ = ["format_parity", "int8_verdict", "format_int8"]


def format_parity(info: dict[str, Any], parity: dict[str, Any], path: str | None = None) -> str:
    """The export and its parity check in a few lines (``trueclass export``)."""
    ref = parity["reference"]
    lo, hi = ref["agreement_ci"]
    lines = [
        f"Exported       {path or info['file']} ({info['bytes'] / 1e6:.1f} MB, {info['exporter']}, "
        f"{info['seconds']:.1f} s)",
        f"Checked on     {parity['images_from']}",
        f"Agreement      top-1 {format_percent(ref['agreement'])} (95% CI {format_percent(lo)} to {format_percent(hi)}) "
        f"with the trained model in fp32; {ref['n_flips']} answer{'s' if ref['n_flips'] != 1 else ''} flipped",
        f"Probabilities  largest difference {ref['max_abs_diff']:.2g}, mean {ref['mean_abs_diff']:.2g}",
        f"Accuracy       exported {format_percent(parity['onnx']['accuracy'])}, trained model "
        f"{format_percent(ref['accuracy'])}",
    ]
    default = parity.get("default")
    if default:
        lines.append(f"{'In ' + default['precision']:<15}as `trueclass predict` runs here by default: agreement "
                     f"{format_percent(default['agreement'])}, largest difference {default['max_abs_diff']:.2g}")
    for f in ref["flips"][:5]:
        lines.append(f"  flipped {f.get('file') or f['id']}: true {f['true']}, trained model {f['trueclass']} "
                     f"({f['p_trueclass']:.2f}), exported {f['onnx']} ({f['p_onnx']:.2f})")
    return "\n".join(lines)


def int8_verdict(check: dict[str, Any]) -> str:
    """One sentence: which file to deploy, and why (the int8 targets it met or missed)."""
    if check["deploy"] == "int8":
        return ("Deploy the int8 file: it agrees with the fp32 file on "
                f"{format_percent(check['agreement'])} of the held-out images, its accuracy is not clearly lower, "
                f"and it is {check['bytes']['int8'] / check['bytes']['fp32']:.0%} of the size and "
                f"{check['images_per_second']['int8'] / check['images_per_second']['fp32']:.1f}x as fast on this CPU.")
    return "Keep the fp32 file as the one to deploy: " + "; ".join(check["missed"]) + "."


def format_int8(info: dict[str, Any], check: dict[str, Any], path: str | None = None) -> str:
    """The int8 file and its check against the fp32 file in a few lines (``trueclass export --int8``)."""
    lo, hi = check["agreement_ci"]
    acc, ci, ips, paired = check["accuracy"], check["accuracy_ci"], check["images_per_second"], check["paired"]
    lines = [
        f"Int8           {path or info['file']} ({check['bytes']['int8'] / 1e6:.1f} MB against "
        f"{check['bytes']['fp32'] / 1e6:.1f} MB; {info['quantization']})",
        f"Agreement      top-1 {format_percent(check['agreement'])} (95% CI {format_percent(lo)} to "
        f"{format_percent(hi)}) with the fp32 file; {check['n_flips']} answer{'s' if check['n_flips'] != 1 else ''} "
        "flipped",
        f"Accuracy       int8 {format_percent(acc['int8'])} ({format_percent(ci['int8'][0])} to "
        f"{format_percent(ci['int8'][1])}), fp32 {format_percent(acc['fp32'])}; difference "
        f"{100 * paired['difference']:+.2f} points, McNemar mid-p {paired['mcnemar_midp']:.2g} "
        f"({'clear' if paired['significant'] else 'no clear difference'})",
        f"Speed          int8 {ips['int8']:,.0f} images/s, fp32 {ips['fp32']:,.0f} on {check['cpu']} "
        "(ONNX Runtime, batches of 64)",
        int8_verdict(check),
    ]
    for f in check["flips"][:5]:
        lines.append(f"  flipped {f.get('file') or f['id']}: true {f['true']}, fp32 {f['fp32']} ({f['p_fp32']:.2f}), "
                     f"int8 {f['int8']} ({f['p_int8']:.2f})")
    return "\n".join(lines)
