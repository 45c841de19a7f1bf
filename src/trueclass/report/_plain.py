"""The studio page's words for what the card and the command line say in the field's terms
(the review threshold, the label check's self-check): the same measurements, for a classroom."""

from __future__ import annotations

import math
from typing import Any

from ._text import _count, format_percent


def _tenths(x: float, *, up: bool) -> str:
    return f"{(math.ceil if up else math.floor)(round(1000 * x, 6)) / 10:.1f}%"


def format_review_plain(flagged: dict[str, Any], n_test: int) -> str:
    """The review lines of ``format_review`` in a classroom's words, for the studio page:
    how many test images the model was unsure of, and how often it was right on those and
    on the rest (with their 95% intervals)."""
    # a percent to a tenth, as the page captions the images under it, rounded so that no caption
    # reads as much as the threshold it is below (0.9942 said "below 0.99" above an image
    # captioned "99% sure"): up for "below", down for "at least" (the page floors its captions)
    if not flagged["n"]:
        return f"None: the model was at least {_tenths(flagged['threshold'], up=False)} sure of every test image."
    conf = _tenths(flagged["threshold"], up=True)

    def right(key: str) -> str:
        ci = flagged.get(f"{key}_ci")
        return format_percent(flagged.get(key), 0) + (
            f" (95% interval {format_percent(ci[0], 0)} to {format_percent(ci[1], 0)})" if ci else "")

    n = flagged["n"]
    n_right = round((flagged.get("accuracy_flagged") or 0) * n)
    if n == 1:  # a percentage of one image (0%, interval 0% to 79%) says less than the count
        on_them = "right on that one" if n_right else "wrong on that one"
    elif n < 10:
        on_them = f"right on {n_right} of those {n}"
    else:
        on_them = f"right on {right('accuracy_flagged')} of them"
    out = (f"{n} of the {n_test} test images {'was' if n == 1 else 'were'} read with confidence below {conf}: "
           f"cases like {'this' if n == 1 else 'these'} go to a person. The model was {on_them}, and right on "
           f"{right('accuracy_accepted')} of the others.")
    if str(flagged.get("chosen_on") or "").startswith("default"):
        out += f" {conf} is a default: there were too few images to choose the threshold on."
    elif flagged.get("target_reached") is False:
        held, need = flagged.get("held_out_images"), flagged.get("target_min_images")
        out += (f" There were too few images ({held}) to aim for an accuracy on (it takes {need}), so it only sets the "
                "least sure images aside." if held is not None and need and held < need else
                " No threshold reached the accuracy aimed for, so it only sets the least sure images aside.")
    return out


def format_label_issues_plain(a: dict[str, Any]) -> str:
    """The label check in a classroom's words, for the studio page: what to look at and how
    often the check was right when tested (the same measurement as ``format_label_issues``,
    without its terms)."""
    if a.get("label_issues_skipped"):
        return f"Not done: {a['label_issues_skipped']}."
    n, sc = a["n_label_issues"], a.get("label_self_check")
    if not n:
        head = "No image looks filed under the wrong class."
    elif a.get("label_issues_wording") == "likely":
        head = f"{_count(n, 'image')} look{'s' if n == 1 else ''} filed under the wrong class: check {'it' if n == 1 else 'these'} first."
    else:
        head = (f"{_count(n, 'image')} might be filed under the wrong class{', most doubtful first' if n > 1 else ''}; "
                f"the check is not sure enough to call {'it a mistake' if n == 1 else 'them mistakes'}.")
    if not sc:
        return f"{head} There are too few images to test how often the check is right."
    test = (f"To test the check, {sc['planted']:,} labels were swapped on purpose in a copy: it found "
            f"{sc['found']:,} of them")
    if sc["precision"] is not None:
        share = "nearly all" if sc["precision"] >= 0.95 else f"about {sc['precision'] * 10:.0f} in 10"
        test += f", and {share} of the images it pointed at were swapped ones"
    return f"{head} {test}."
