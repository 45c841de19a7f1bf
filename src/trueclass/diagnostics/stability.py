"""Stability over seeds: re-split and re-train, and the spread of test accuracy."""

from __future__ import annotations

from typing import Any, Callable

from ..evaluation import stability_summary

__all__ = ["repeat_runs", "headline"]


def headline(ev: Any) -> tuple[float, tuple[float, float]]:
    """Accuracy and its interval; for multi-label, the share of images with every label right."""
    if hasattr(ev, "accuracy"):
        return ev.accuracy, tuple(ev.accuracy_ci)
    return ev.subset_accuracy, tuple(ev.subset_accuracy_ci)


def repeat_runs(first: Any, seed: int, repeats: int, run_one: Callable[[int], Any], *, predefined_split: bool,
                on_progress: Callable[..., None] | None = None) -> dict[str, Any]:
    """``first`` is the first run's Evaluation (seed ``seed``); ``run_one(s)`` splits,
    trains and scores with seed ``s`` and returns its Evaluation, for s = seed+1, ..."""
    accs, seeds, sizes = [headline(first)[0]], [seed], [first.n_test]
    for r in range(1, repeats):
        s = seed + r
        if on_progress is not None:
            on_progress(f"repeat {r + 1}/{repeats}: new split and training with seed {s}", r, repeats)
        ev = run_one(s)
        accs.append(headline(ev)[0])
        seeds.append(s)
        sizes.append(ev.n_test)
    out = stability_summary(accs, seeds, sizes)
    out["varied"] = ("the training seed only (the source comes with its own split)" if predefined_split
                     else "the split and the training seed")
    return out
