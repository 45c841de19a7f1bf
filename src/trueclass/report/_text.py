"""Pure ``format_*`` functions: metrics in, text out. Printing happens elsewhere."""

from __future__ import annotations

import os
from typing import Any, Sequence

from ._audit_text import _count, format_audit, format_audit_counts

__all__ = ["format_report_card", "format_run_summary", "failed_steps", "format_skipped", "format_percent", "format_progress",
           "format_training", "model_card", "format_audit", "format_train_summary", "format_evaluate_summary",
           "format_stress_line", "format_review", "format_baseline_line"]


def format_percent(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _short_of_one(x: float, scale: int, usual: int, first: int) -> str:
    """``scale * x`` written with ``usual`` decimals or, where that would read as ``scale``
    for a value below 1, with ``first`` or as many more as keep it below (up to 8 decimals
    of the fraction): the test is on the text the reader sees."""
    def text(digits: int) -> str:
        return f"{scale * x:.{digits}f}"

    if x >= 1 or float(text(usual)) < scale:
        return text(usual)
    digits, last = first, 8 - (len(str(scale)) - 1)
    while float(text(digits)) >= scale and digits < last:
        digits += 1
    return text(digits)


def format_sureness(x: float) -> str:
    """A confidence threshold as a percent: whole percents, or as many decimals as keep one
    below 1 from reading 100% ("less than 100% sure" of a threshold of 0.9957 says nothing)."""
    return _short_of_one(x, 100, 0, 1) + "%"


def _leaked(lk: dict[str, Any]) -> str:
    n = lk["n_leaked_test_images"]
    return f"{n:,} test image{'s have' if n != 1 else ' has'}"


def format_confidence(x: float) -> str:
    """A confidence threshold: two decimals, or as many more as keep one below 1 from
    reading 1 (a threshold of 0.9987 is not 'confidence 1.00')."""
    return _short_of_one(x, 1, 2, 4)


def _unseen_words(metrics: dict[str, Any]) -> str:
    """What the headline may say of its test images: "never saw", unless the model kept no
    fingerprints of its training images (an exported file alone), so no copy was left out."""
    if "keeps no fingerprints" in str(metrics.get("evaluated_on") or ""):
        return "(the model keeps no fingerprints, so images it trained on may be among them)"
    return "the model never saw"


def failed_steps(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The warnings of metrics.json that say a step after training failed (the run is
    incomplete): ``{"kind": "step_failed", "step", "error", "message"}``."""
    return [w for w in metrics.get("warnings") or [] if w.get("kind") == "step_failed"]


def format_report_card(metrics: dict[str, Any], run_dir: str | None = None) -> str:
    """The short report card: accuracy with its interval, wrong out of N, the most common
    confusion, the weakest class, the baselines, and where the evidence is; a line for
    each step after training that failed."""
    incomplete = [w["message"] for w in failed_steps(metrics)]
    if metrics.get("multilabel"):
        return "\n".join([_format_multilabel_card(metrics, run_dir), *incomplete])
    lo, hi = metrics["accuracy_ci"]
    n = metrics["n_test"]
    lines = [
        f"Accuracy       {format_percent(metrics['accuracy'])} (95% CI {format_percent(lo)} to "
        f"{format_percent(hi)}) on {n:,} test images {_unseen_words(metrics)}",
        f"Wrong          {metrics['n_wrong']:,} of {n:,}",
    ]
    st = metrics.get("stability")
    if st:
        lines.insert(1, f"{'Over %d seeds' % st['repeats']:<15}mean {format_percent(st['mean'])}, from "
                        f"{format_percent(st['min'])} to {format_percent(st['max'])} (the line above is the first "
                        "seed's; another split can move it this much)")
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
    cal = metrics.get("calibration") or {}
    if cal.get("ece") is not None:
        t = cal.get("temperature") or {}
        lines.append(f"Confidence     calibrated (temperature {t['value']:.2f}): test ECE {t['ece_before']:.3f} raw, "
                     f"{cal['ece']:.3f} as answered"
                     + (" (the temperature did not help on these test images)" if cal["ece"] > t["ece_before"] else "")
                     if t.get("value") else
                     f"Confidence     uncalibrated, test ECE {cal['ece']:.3f}: "
                     f"{t.get('reason') or 'no temperature was fitted'}")
    flagged = metrics.get("flagged")
    if flagged and flagged.get("n"):
        lines += format_review(flagged, metrics.get("accuracy"))
    elif flagged and flagged.get("threshold") is not None:  # said too when none: the threshold is a choice made
        lines.append(f"For review     none: every test image at or above confidence {format_confidence(flagged['threshold'])}")
    spent = format_seconds(metrics.get("seconds"))
    if spent:
        lines.append(f"Time           {spent}")
    if run_dir:
        lines.append(f"Run folder     {run_dir}")
    return "\n".join(lines + incomplete)


#: Steps of a run, as metrics.json's ``seconds`` names them, in the words the time line uses.
STEP_WORDS = {"shuffle_check": "shuffled-label check", "quick_baseline": "quick baseline", "repeats": "repeats",
              "stress": "stress tests",
              # the fit of the first line, and its temperature and review threshold (a pixel
              # model's out-of-fold fits): "Trained in 1.6 s" beside "training 9.4 s" read as a slip
              "training": "training and calibration"}


def format_seconds(seconds: dict[str, float] | None, *, most: int = 5) -> str:
    """Where a run's time went (metrics.json's ``seconds``), costliest first: "34.4 s in
    all: audit 20.1 s, stress tests 6.0 s, training 0.2 s ..."; "" without a total."""
    if not seconds or not seconds.get("total"):
        return ""
    parts = sorted(((v, k) for k, v in seconds.items() if k != "total" and v >= 0.05), reverse=True)
    shown = ", ".join(f"{STEP_WORDS.get(k, k)} {v:.1f} s" for v, k in parts[:most])
    rest = sum(v for v, _ in parts[most:])
    if rest >= 0.05:
        shown += f", the rest {rest:.1f} s"
    return f"{seconds['total']:.1f} s in all: {shown}"


def format_review(flagged: dict[str, Any], accuracy: float | None) -> list[str]:
    """The report card's review lines: how many test images fall below the review
    threshold and the accuracy on the rest; then, where it holds, that the threshold is
    the default (nothing to choose it on), that the review target was not reached on the
    held-out images it was chosen on, and that the rest are read no better than all."""
    pad = " " * 15
    rest = flagged.get("accuracy_accepted")
    ci = flagged.get("accuracy_accepted_ci")
    lines = [f"For review     {flagged['n']:,} image{'s' if flagged['n'] != 1 else ''} below confidence "
             f"{format_confidence(flagged['threshold'])}; accuracy on the rest {format_percent(rest)}"
             + (f" (95% CI {format_percent(ci[0])} to {format_percent(ci[1])})" if ci and rest is not None else "")
             + (f", against {format_percent(accuracy)} on all test images" if rest is not None and accuracy is not None
                and rest < accuracy else "")]
    chosen = str(flagged.get("chosen_on") or "")
    target = flagged.get("target_accuracy")
    if chosen.startswith("default"):
        lines.append(f"{pad}the default threshold {format_confidence(flagged['threshold'])}: there were no validation images to choose "
                     "one on, so it is not tuned to any accuracy")
    elif flagged.get("target_reached") is False:
        best = flagged.get("held_out_accuracy_accepted")
        where = flagged.get("chosen_on_images") or "the validation images"
        need, held = flagged.get("target_min_images"), flagged.get("held_out_images")
        lines.append((f"{pad}the {format_percent(target, 0)} review target cannot be shown on {where} ({held:,} "
                      f"images; it takes {need:,})" if need and held is not None and held < need else
                      f"{pad}the {format_percent(target, 0)} review target was not reached at any confidence on {where}"
                      + (f" (at best {format_percent(best)}, keeping at least half of them)" if best is not None else ""))
                     + ": the threshold only sets the least sure images aside and promises no accuracy")
    if rest is not None and accuracy is not None and rest < accuracy:
        lines.append(f"{pad}on these test images the review does not help: the images it sets aside are read no worse "
                     "than the rest")
    return lines


def format_skipped(skipped: Sequence[dict[str, str]], limit: int = 10, listed_in: str | None = "metrics.json") -> str:
    """'Skipped 3 files (listed in metrics.json):' and one line per file with its reason."""
    if not skipped:
        return ""
    where = f" (listed in {listed_in})" if listed_in else ""
    lines = [f"Skipped {_count(len(skipped), 'file')}{where}:"]
    for s in list(skipped)[:limit]:
        lines.append(f"  {s['path']}: {s['reason']}")
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more")
    return "\n".join(lines)


def format_progress(info: dict[str, Any]) -> str:
    """'loss 0.412 · val 91.2% · 1,950 img/s' from a trainer's progress report."""
    parts = []
    if info.get("loss") is not None:
        parts.append(f"loss {info['loss']:.3f}")
    if info.get("val_accuracy") is not None:
        parts.append(f"val {format_percent(info['val_accuracy'])}")
    if info.get("images_per_second"):
        parts.append(f"{info['images_per_second']:,.0f} img/s")
    return " · ".join(parts)


#: Other work on the cores slows a training run without a word: the same cnn fit took 6 s
#: on an idle 2-core machine and 138 s at a load of 6. A run that saw a load (the one-minute
#: average, its own threads included) above this many times its cores says so.
BUSY_LOAD_PER_CORE = 1.5


def busy_machine(load: float | None, cores: int | None) -> str:
    """Words for a run that shared its cores with other work (``load`` as the trainer saw
    it at its busiest, training._device.machine_load), or "" for one that had them."""
    if load is None or not cores or load <= BUSY_LOAD_PER_CORE * cores:
        return ""
    return (f"the machine was busy while it trained (load {load:.1f} on {cores} cores): this speed is below what "
            "it reaches alone")


def device_share(use: dict[str, Any] | None) -> str:
    """Words for the share of its device a GPU run's training used (training._speed.device_use),
    or "" where it was not measured."""
    if not use or "share" not in use:
        return ""
    return (f" ({use['share']:.1%} of the {use['peak_tflops']:.3g} TFLOP/s the {use['device']} reaches on a large "
            f"{use['precision']} matrix multiply; {use['gflop_per_image']:.3g} GFLOP a training image)")


def format_training(training: dict[str, Any], metrics: dict[str, Any] | None = None) -> str:
    """One line on how a neural network's training went. With no validation images (no
    validation loss in its history) it says so: no early stopping, the final epoch kept;
    and with ``metrics`` (metrics.json) what that costs: an uncalibrated confidence and a
    default review threshold."""
    if "epochs_run" not in training:
        return ""
    speed = training.get("images_per_second") or 0  # none after a resume with no epoch left to train
    text = (f"{_count(training['epochs_run'], 'epoch')} on {training['runtime']}"
            + (f", {speed:,.0f} images/s{device_share(training.get('device_use'))}; " if speed else "; "))
    busy = busy_machine(training.get("machine_load"), training.get("cores"))
    if busy:
        text += busy + "; "
    budget = training.get("budget")
    if budget:
        text += (f"the time budget left {budget['seconds']:g} s for training: width {budget['width']}, "
                 f"{_count(budget['epochs'], 'epoch')}"
                 + ("" if budget.get("fits", True) else
                    f" (the budget is too short for even that, which takes about {budget['expected_seconds']:g} s; "
                    "it was trained anyway)") + "; ")
    hist = training.get("history") or []
    if hist and all(h.get("val_loss") in (None, "") for h in hist):
        text += "no validation images, so no early stopping: the final epoch's weights were kept"
        if metrics is not None:
            cal = ((metrics.get("calibration") or {}).get("temperature") or {}).get("value")
            chosen = str((metrics.get("flagged") or {}).get("chosen_on") or "")
            if not cal:
                text += "; its confidence is uncalibrated (raw scores)"
            if chosen.startswith("default"):
                text += (f"{' and' if not cal else ';'} the review threshold is the default "
                         f"{format_confidence(metrics['flagged']['threshold'])}, not chosen on any images")
        return text
    text += f"best validation loss at epoch {training['best_epoch']}"
    if training.get("stopped_early"):
        text += " (stopped early)"
    if training.get("resumed_from_epoch"):
        text += f"; resumed after epoch {training['resumed_from_epoch']}"
    return text


def _format_multilabel_card(m: dict[str, Any], run_dir: str | None) -> str:
    lo, hi = m["subset_accuracy_ci"]
    n = m["n_test"]
    lines = [
        f"All labels right {format_percent(m['subset_accuracy'])} of images (95% CI {format_percent(lo)} to "
        f"{format_percent(hi)}) on {n:,} test images {_unseen_words(m)}",
        f"Wrong          {m['n_wrong']:,} of {n:,} images have at least one wrong label; "
        f"{format_percent(m['hamming_loss'], 2)} of all labels are wrong",
        f"F1             micro {m['micro_f1']:.3f}, macro {m['macro_f1']:.3f}"
        + (f"; mean average precision {m['mean_average_precision']:.3f}" if m.get("mean_average_precision") is not None else ""),
    ]
    weak = m.get("weakest_label")
    if weak is not None:
        pl = m["per_label"][weak]
        lines.append(f"Weakest label  {weak} (F1 {pl['f1']:.2f}, recall {format_percent(pl['recall'], 0)} "
                     f"of {pl['support']} images)")
    if run_dir:
        lines.append(f"Run folder     {run_dir}")
    return "\n".join(lines)


def model_card(m: dict[str, Any]) -> dict[str, Any]:
    """Intended use and the limitations this evaluation found, in words made from the
    numbers in ``m`` (metrics.json). Nothing here is measured anew."""
    ds = m.get("dataset") or {}
    h, w = (ds.get("image_size") or [None, None])[:2]
    classes = m.get("classes") or list((m.get("per_label") or {}).keys())
    intended = (
        f"Sorting {w}x{h} {'grey' if ds.get('color_mode') == 'L' else 'colour'} images like those of "
        f"'{ds.get('source')}' into {len(classes)} {'labels' if m.get('multilabel') else 'classes'} "
        f"({', '.join(map(str, classes[:12]))}{', ...' if len(classes) > 12 else ''}). It was tested only on "
        "held-out images from the same source; images of another kind (other cameras, drawings, other sizes or "
        "lighting) were not tested and may be read much worse."
    )
    lim: list[str] = []
    if not m.get("multilabel"):
        lo, hi = m["accuracy_ci"]
        lim.append(f"Accuracy is {format_percent(m['accuracy'])} on {m['n_test']:,} test images; with that many, "
                   f"the true accuracy may lie anywhere from {format_percent(lo)} to {format_percent(hi)}.")
        weak = m.get("weakest_class")
        if weak is not None:
            pc = m["per_class"][weak]
            lim.append(f"The weakest class is '{weak}': {format_percent(pc['recall'], 0)} of its {pc['support']} test "
                       f"images are read right (F1 {pc['f1']:.2f}).")
        for c in (m.get("most_confused") or [])[:2]:
            lim.append(f"'{c['true']}' is read as '{c['pred']}' {c['count']} time{'s' if c['count'] != 1 else ''}.")
        cal = m.get("calibration") or {}
        if cal.get("ece") is not None and cal["ece"] > 0.05:
            t = cal.get("temperature") or {}
            how = "even after calibration" if t.get("value") else "and it is uncalibrated"
            lim.append(f"Its confidence is off by {cal['ece']:.3f} on average (expected calibration error on the test "
                       f"images, {how}): do not read a confidence as a probability.")
    diag = m.get("diagnosis") or {}
    if diag.get("verdict") in ("over-fitting", "under-fitting", "still learning"):
        shows = "The model was still learning" if diag["verdict"] == "still learning" else f"Training shows {diag['verdict']}"
        lim.append(f"{shows}: " + "; ".join(diag.get("reasons", [])) + ".")
    st = m.get("stability")
    if st and st.get("repeats", 0) > 1:
        lim.append(f"Over {st['repeats']} splits with different seeds, test accuracy ranged from "
                   f"{format_percent(st['min'])} to {format_percent(st['max'])} (sd {100 * st['sd']:.2f} points).")
    else:
        # the hint to the command line is the Stability section's (a card opened from the studio hides it)
        lim.append("Only one split was scored: how much the number moves with another split is not measured "
                   "(see Stability).")
    for wng in failed_steps(m):
        lim.append(f"This evaluation is incomplete: {wng['step'].replace('_', ' ')} failed, so its evidence is "
                   "missing.")
    lim += warning_sentences([w for w in m.get("warnings") or [] if w.get("kind") != "step_failed"])
    if ds.get("n_skipped"):
        lim.append(f"{ds['n_skipped']} files of the source could not be read and were left out.")
    return {"intended_use": intended, "limitations": lim}


def warning_sentences(warnings: Sequence[dict[str, Any]]) -> list[str]:
    """A run's warnings as sentences, each said once: the classes with few test images in
    one sentence rather than one per class (the card, its limitations and the studio)."""
    from ..evaluation import FEW_TEST_IMAGES

    few = [w for w in warnings if w.get("kind") == "few_test_images"]
    out: list[str] = []
    for w in warnings:
        if w.get("kind") == "few_test_images" and len(few) > 1:
            if w is few[0]:
                ns = sorted({int(x.get("n", 0)) for x in few})
                n = f"{ns[0]}" if len(ns) == 1 else f"{ns[0]} to {ns[-1]}"
                names = ", ".join(repr(str(x.get("class"))) for x in few)
                out.append(f"Classes {names} have only {n} test images each; fewer than {FEW_TEST_IMAGES} a class "
                           "make their scores unreliable.")
            continue
        text = str(w.get("message") or w.get("error") or "")
        if text and text not in out:
            out.append(text)
    return out


def _val_uses(m: dict[str, Any]) -> str:
    """What a run's validation images were for: when a network stops, the temperature, the
    review threshold, and the choice between the probe and its fine-tuning."""
    uses = ["when to stop"] if (m.get("training") or {}).get("epochs_run") else []
    uses += ["the threshold of each label"] if m.get("multilabel") else ["the temperature", "the review threshold"]
    if len((m.get("model_chosen") or {}).get("validation") or {}) > 1:
        uses.append("the choice between the probe and fine-tuning")
    return ", ".join(uses[:-1]) + " and " + uses[-1]


def format_train_summary(m: dict[str, Any]) -> list[str]:
    """What a training run did, line by line, from its metrics.json: data, training,
    verdict, leaks, audit, baseline, sanity, stress and stability."""
    n_val = m.get("n_val") or 0
    resumed = (m.get("training") or {}).get("resumed_from_epoch")  # the seconds are the resumed part's
    lines = [f"Trained {m['model']} on {m['n_train']:,} images in {m['train_seconds']:.1f} s"
             + (f" after resuming from epoch {resumed}" if resumed else "")
             + (f" ({n_val:,} more kept aside for {_val_uses(m)})" if n_val else "")
             + f"; tested on {m['n_test']:,} held-out images"
             f"{' (whole capture sessions the model never saw)' if (m.get('split') or {}).get('by_capture_session') else ''}."]
    if m.get("model_chosen"):
        lines.append(f"Model {m['model']}, chosen {m['model_chosen'].get('by', 'from the data')}: "
                     f"{m['model_chosen']['why']}; name a model to use another")
    if "training" in m:
        lines.append(format_training(m["training"], m))
    if m.get("diagnosis"):
        lines.append(format_verdict(m["diagnosis"]))
    lk = m.get("leakage")
    if lk and lk.get("with_leaks"):
        them = "them" if lk["n_leaked_test_images"] != 1 else "it"
        lines.append(f"LEAKS: {_leaked(lk)} a copy among the training images; the "
                     f"numbers below leave {them} out (with {them}: {lk['with_leaks']['accuracy']:.2%}).")
    elif lk and lk["n_leaked_test_images"] and m.get("allow_leakage"):
        lines.append(f"LEAKS: {_leaked(lk)} a copy among the training images "
                     f"(leakage allowed: {'they are' if lk['n_leaked_test_images'] != 1 else 'it is'} counted).")
    elif lk and lk.get("images_moved"):
        lines.append(f"Leak gate: {lk['images_moved']} duplicate images moved so each group sits on one side.")
    au = m.get("audit")
    if au:
        lines.append(f"Audit: {format_audit_counts(au)} (audit.json, label_issues.csv)")
    base = (m.get("baselines") or {}).get("logistic_regression")
    if base and base.get("accuracy") is not None:
        lines.append(format_baseline_line(base, m))
    sanity = m.get("sanity")
    if sanity:
        lines.append(("" if sanity["passed"] else "WARNING: ") + sanity["message"])
    rob = m.get("robustness")
    if rob:
        lines.append(format_stress_line(rob))
    st = m.get("stability")
    if st:
        lines.append(f"Over {st['repeats']} seeds: accuracy mean {st['mean']:.2%}, sd {100 * st['sd']:.2f} points, "
                     f"from {st['min']:.2%} to {st['max']:.2%}")
    return lines + format_why(m)


def format_verdict(diagnosis: dict[str, Any]) -> str:
    """The training verdict in one line, with its first reason."""
    return (f"Training verdict: {diagnosis['verdict']}"
            + (f" ({diagnosis['reasons'][0]})" if diagnosis.get("reasons") else ""))


def _logreg_hint(m: dict[str, Any]) -> str:
    """Why logreg can lose to the baseline, which is logreg too: the baseline's pixels are
    scaled to 0-1, and scaling the features by 1/W weighs the L2 penalty as C / W**2 does
    on the raw 0-W pixels logreg sees (the lesson's features). Said with that C."""
    white = (m.get("dataset") or {}).get("value_max")
    if m.get("model") != "logreg" or not white:
        return ""
    c = f"{1 / white ** 2:.2g}"
    return (f". The baseline is logistic regression too (C=1), on pixels scaled to 0-1: on these 0-{white} pixels "
            f"that is the penalty of -p C={c} (params={{'C': {c}}} in Python); try it, or the default model")


def format_baseline_line(base: dict[str, Any], m: dict[str, Any]) -> str:
    """The quick baseline in a line, and whether the model is really below it: only when
    the paired test on the same test images says so (``base["paired"]``: a = the
    baseline, b = the model); lower by less than chance explains is "no clear difference"."""
    text = f"Baseline, not this model: {base['model']}, {base['accuracy']:.2%} on the same test images"
    paired = base.get("paired")
    if paired is None:  # a run written before the paired test: its verdict said it
        below = (m.get("diagnosis") or {}).get("verdict") == "below its baseline"
        return ("WARNING: this model scores BELOW its baseline. " if below else "") + text
    b, c, p = paired["only_b_right"], paired["only_a_right"], paired["mcnemar_midp"]
    evidence = (f"{c} test image{'s' if c != 1 else ''} read right only by the baseline, {b} only by this model; "
                f"McNemar mid-p = {p:.2g}")
    if paired["judgement"] == "a better":
        return (f"WARNING: this model scores BELOW its baseline. {text}; more than chance explains ({evidence})"
                + _logreg_hint(m))
    if paired["judgement"] == "b better":
        return f"{text}; this model is clearly better ({evidence})"
    return f"{text}; no clear difference from this model ({evidence})"


def format_run_summary(m: dict[str, Any], run_dir: str, *, card: bool = True) -> str:
    """All a command says of a run (``trueclass train`` or ``evaluate``), and ``Run.summary()``
    in Python: what it did, the files it skipped, the report card and where its evidence
    card is (``card``: it was written)."""
    lines = format_evaluate_summary(m) if "evaluated_on" in m else format_train_summary(m)
    skipped = format_skipped((m.get("dataset") or {}).get("skipped") or [])
    lines += [skipped] if skipped else []
    lines += ["", format_report_card(m, run_dir)]
    if card:  # a card that failed to build is named among the failed steps
        lines.append(f"Evidence card  {os.path.join(run_dir, 'card.html')}")
    return "\n".join(lines)


def format_evaluate_summary(m: dict[str, Any]) -> list[str]:
    """What an evaluation of a saved model scored, from its metrics.json."""
    name = f"{m['exported_from']} (its exported {m['model'].upper()} file)" if m.get("exported_from") else m["model"]
    lines = [f"Evaluated {name} on {m['n_test']:,} images: {m['evaluated_on']}."]
    sh = m.get("shift")
    if sh and sh.get("same_images"):
        lines.append(f"These are the run's own {sh['own']['n']:,} test images of {sh['own']['source']}, so the numbers "
                     "are the run's; evaluate other images to see how the model does on them.")
    elif sh and sh.get("own"):
        d = sh["difference"]
        verdict = ("clearly worse here" if d["clear_drop"] else "clearly better here" if d["clear_gain"]
                   else "no clear difference")
        lines.append(f"Against its own test images: {sh['new']['accuracy']:.1%} here, {sh['own']['accuracy']:.1%} on "
                     f"{sh['own']['n']:,} held-out images of {sh['own']['source']}: {100 * d['value']:+.1f} points "
                     f"(95% CI {100 * d['ci'][0]:+.1f} to {100 * d['ci'][1]:+.1f}), {verdict}")
        moved = [p for p in sh["properties"] if abs(p.get("shift_in_spreads") or 0) >= 1]
        if moved:
            lines.append("The images differ: " + "; ".join(
                f"mean {p['property']} {_mean_text(p, 'new')} against {_mean_text(p, 'own')} in training"
                for p in moved))
    return lines + format_why(m)


def _mean_text(row: dict[str, Any], side: str) -> str:
    """A property's mean as people read it: whole pixels for sizes, two decimals for 0-1 values."""
    mean = row[side][0]
    return f"{mean:.0f}" if "pixels" in row["property"] else f"{mean:.2f}"


def format_why(m: dict[str, Any]) -> list[str]:
    """Where the model looked on its mistakes, and the accuracy per group, in a line each."""
    lines = []
    sl = m.get("slices")
    if sl and sl.get("groups"):
        if sl.get("gap") is not None:
            judged = "larger than chance makes it" if sl["larger_than_chance"] else "within what chance makes"
            lines.append(f"By {sl['column']}: best {sl['best']} {sl['groups'][0]['accuracy']:.1%}, worst {sl['worst']} "
                         f"{next(g['accuracy'] for g in sl['groups'] if g['group'] == sl['worst']):.1%}: a gap of "
                         f"{100 * sl['gap']:.1f} points (p = {sl['p_value']:.3f}, {judged})"
                         + (f"; {sl['n_too_few']} group(s) too small to judge" if sl["n_too_few"] else ""))
        else:
            lines.append(f"By {sl['column']}: {len(sl['groups'])} group(s); no gap computed: {sl['why_no_gap']}")
    xp = m.get("explanations")
    if xp and xp.get("images"):
        n = len(xp["images"])
        lines.append(f"Explained: where the model looked on {f'its {n} most confident mistakes' if n != 1 else 'its one mistake'} "
                     f"({xp['method']}), in explain/ and on the card")
    elif xp and xp.get("skipped"):
        lines.append(f"Explained: not done; {xp['skipped']}")
    return lines


def format_stress_line(rob: dict[str, Any]) -> str:
    """The stress tests in one line."""
    worst = min(((name, min(v.values())) for name, v in rob["accuracy"].items()), key=lambda kv: kv[1])
    text = (f"Stress: clean {rob['clean_accuracy']:.1%}; hardest perturbation {worst[0]} ({worst[1]:.1%} at its "
            f"strongest); images of no class answered confidently {rob['ood']['confidently_answered']:.0%}")
    if rob["label_changing"]:
        text += f"; label-changing for this data: {', '.join(rob['label_changing'])}"
    sc = rob.get("shortcuts")
    if sc and sc["flagged"]:
        text += f"; SHORTCUT: {', '.join(sc['flagged'])} lean(s) on the image border"
    return text


def format_per_class(metrics: dict[str, Any], run_dir: str | None = None) -> str:
    """Precision, recall, F1 and support per class from metrics.json's ``per_class``
    (``per_label`` for several labels per image), as scikit-learn's
    ``classification_report`` lays them out, with recall's 95% interval (``trueclass report``)."""
    from .._errors import TrueclassError

    rows = metrics.get("per_class") or metrics.get("per_label")
    if not rows:
        where = f" of {run_dir}" if run_dir else ""
        raise TrueclassError(f"metrics.json{where} has no per-class results; train or evaluate the model again to "
                             "get them.")
    kind = "class" if metrics.get("per_class") else "label"
    width = max(len(kind), len("weighted avg"), *(len(str(name)) for name in rows))
    total = sum(int(r["support"]) for r in rows.values())
    lines = [f"{kind:<{width}}  precision  recall  f1-score  support  recall 95% CI"]
    for name, r in rows.items():
        ci = r.get("recall_ci")
        ci_text = f"{ci[0]:.3f} to {ci[1]:.3f}" if ci and r["support"] else "-"  # in the columns' own units
        lines.append(f"{name!s:<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  {r['f1']:8.3f}  "
                     f"{int(r['support']):7d}  {ci_text}")
    lines.append("")
    for label, weights in (("macro avg", [1] * len(rows)), ("weighted avg", [int(r["support"]) for r in rows.values()])):
        w = sum(weights) or 1
        avg = {k: sum(wi * r[k] for wi, r in zip(weights, rows.values())) / w for k in ("precision", "recall", "f1")}
        lines.append(f"{label:<{width}}  {avg['precision']:9.3f}  {avg['recall']:6.3f}  {avg['f1']:8.3f}  {total:7d}")
    lines.append("")
    lines.append("precision: of the images the model called this class, the share that were; recall: of the images "
                 "of this class, the share it found; F1: the two together; support: test images of the class.")
    if run_dir:
        lines.append(f"Run folder  {run_dir}")
    return "\n".join(lines)
