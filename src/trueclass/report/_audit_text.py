"""The audit in words: its plain-text summary and the counts and label-flag sentences the
run summary and the card use. Pure functions: an audit report in, text out."""

from __future__ import annotations

from typing import Any

__all__ = ["AUDIT_LISTS", "colour_sentences", "format_audit", "format_audit_counts", "format_label_issues",
           "label_issue_words"]


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


#: Where the audit's whole lists are, by where it was asked for: (the skipped files, the
#: ranking of every image). Python's Audit holds them; the command writes them with --out.
AUDIT_LISTS = {"python": ("listed in audit.report['skipped_files']", "audit.label_ranking"),
               "written": ("listed in audit.json", "label_issues.csv"),
               "not written": ("--out DIR lists them in audit.json", "--out DIR writes label_issues.csv")}


def format_audit(a: dict[str, Any], limit: int = 5, lists: str = "python") -> str:
    """The audit in plain text: duplicates, leaks, conflicts, balance, outliers, label
    issues; ``lists`` says where the whole lists are (AUDIT_LISTS)."""
    skipped_in, ranked_in = AUDIT_LISTS[lists]
    lines = [f"Audit of {a['n_images']:,} images"]
    if a.get("n_skipped_files"):
        n = a["n_skipped_files"]
        lines.append(f"Skipped        {_count(n, 'file')} that {'was' if n == 1 else 'were'} not read as images "
                     f"({skipped_in}):")
        lines += [f"  {k['path']}: {k['reason']}" for k in a["skipped_files"][:limit]]
        if n > limit:
            lines.append(f"  ... and {n - limit} more")
    lines.append(f"Duplicates     {a['n_duplicate_groups']:,} groups ({a['n_exact_pairs']:,} exact pairs, "
                 f"{a['n_near_pairs']:,} near)")
    if a["n_leaks"]:
        n = a["n_leaked_test_images"]
        lines.append(f"LEAKS          {n:,} test image{'s have' if n != 1 else ' has'} a copy in the training data:")
        for lk in a["leaks"][:limit]:
            lines.append(f"  {lk['test_id']} (test) = {lk['train_id']} ({lk['other_part']}), {lk['kind']}")
    else:
        lines.append("Leaks          none between the test images and the others")
    if a["n_conflicts"]:
        lines.append(f"CONFLICTS      {a['n_conflicts']:,} duplicate groups carry different labels:")
        for g in a["conflicts"][:limit]:
            lines.append("  " + ", ".join(f"{i} ({lab})" for i, lab in zip(g["ids"], g["labels"])))
    else:
        lines.append("Conflicts      no duplicates with different labels")
    b = a["imbalance"]
    if b["largest"] == b["smallest"] or b["ratio"] == 1:
        lines.append("Balance        every class has as many images as the others")
    else:
        lines.append(f"Balance        largest '{b['largest']}' / smallest '{b['smallest']}' = {b['ratio']:.1f}x"
                     + (" (strong)" if b["strong"] else ""))
    lines += [f"  {t}" for t in b.get("advice", [])]
    lines += [f"COLOUR         {t}" for t in colour_sentences(a)]
    if a["n_outliers"]:
        from collections import Counter

        kinds = Counter(r for o in a["outliers"] for r in o["reasons"])
        lines.append(f"Outliers       {_count(a['n_outliers'], 'image')}: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    else:
        lines.append("Outliers       none")
    lines.append(f"Label issues   {format_label_issues(a)}")
    for it in a["label_issues"][:limit]:
        lines.append(f"  {it['id']}: labelled '{it['given']}', looks like '{it['suggested']}' "
                     f"(p {it['p_given']:.2f} vs {it['p_suggested']:.2f})")
    if a.get("n_label_issues"):
        lines.append(f"  (every image, ranked: {ranked_in})")
    return "\n".join(lines)


def label_issue_words(a: dict[str, Any]) -> str:
    """"N likely label errors" or "N images ranked for review": what the audit calls its
    label flags, by the self-check's measured precision."""
    n = a["n_label_issues"]
    if a.get("label_issues_wording") == "likely":
        return f"{n:,} likely label error{'s' if n != 1 else ''}"
    return f"{n:,} image{'s' if n != 1 else ''} ranked for review as possible label errors"


def format_label_issues(a: dict[str, Any]) -> str:
    """One sentence on the label check of an audit report: how many flags, what they are
    called (by the self-check's precision) and what the self-check measured."""
    if a.get("label_issues_skipped"):
        return f"none flagged: {a['label_issues_skipped']}"
    n, lm, sc = a["n_label_issues"], a.get("label_model") or {}, a.get("label_self_check")
    by = (f"checked by {lm['model']}, {lm['accuracy']:.1%} right out of fold"
          + (f", {lm['seconds']:.0f} s" if lm.get("seconds") is not None else "")) if lm.get("model") else ""
    if sc:
        prec = ("flagged nothing else" if sc["precision"] is None else
                f"of the {sc['found'] + sc['other_flags']:,} images it newly flagged there, {sc['found']:,} were planted "
                f"flips ({sc['precision']:.0%}, 95% CI {sc['precision_ci'][0]:.0%} to {sc['precision_ci'][1]:.0%})"
                if "other_flags" in sc else  # an audit.json written before the counts were kept
                f"of the images it newly flagged there, {sc['precision']:.0%} were planted flips "
                f"(95% CI {sc['precision_ci'][0]:.0%} to {sc['precision_ci'][1]:.0%})")
        where = "a copy" if sc.get("copies", 1) == 1 else f"{sc['copies']} copies"
        check = (f"on {sc['planted']:,} flips planted in {where} of these labels the check found "
                 f"{sc['found']:,} ({sc['recall']:.0%}), and {prec}")
    else:
        check = "too few images to measure how precise the flags are"
    if not n:
        return f"none flagged ({'; '.join(x for x in (by, check) if x)})"
    head = label_issue_words(a) + (" to check first" if a.get("label_issues_wording") == "likely" else "")
    if sc and a.get("label_issues_wording") != "likely":
        check += ": too few to call them likely errors"
    return f"{head} ({check}; {by})" if by else f"{head} ({check})"


def format_audit_counts(au: dict[str, Any]) -> str:
    """What the audit found, counted: duplicate groups, conflicts, label flags, odd images,
    and a class told apart by colour alone."""
    apart = [c["class"] for c in au.get("colour_by_class") or []]
    return (f"{_count(au['n_duplicate_groups'], 'duplicate group')}, {au['n_conflicts']} with conflicting labels, "
            f"{label_issue_words(au)}, {_count(au['n_outliers'], 'odd image')}"
            + (f"; colour alone tells {', '.join(map(repr, apart))} apart" if apart else ""))


def colour_sentences(au: dict[str, Any]) -> list[str]:
    """A sentence for each class the audit found told apart by colour alone."""
    out = []
    for c in au.get("colour_by_class") or []:
        mode, other = ("grey", "colour") if c["grey"] == 1.0 else ("colour", "grey")
        rest = c["others_grey"] if mode == "grey" else 1 - c["others_grey"]
        out.append(f"every one of the {c['n']:,} images of '{c['class']}' is {mode}, against {rest:.0%} of the other "
                   f"classes' images: a model can tell '{c['class']}' by colour alone, and the test images share "
                   f"the shortcut; give the class {other} images too, or train every class in grey (--color-mode L; "
                   "color_mode='L' in Python)")
    return out
