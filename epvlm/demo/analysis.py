"""What the demo reads off its answers: the summary (rows of `epvlm.results` grouped by question
type, scenario and detail vs other questions), shortcut baselines, the target-coverage analysis,
and the headline and findings sentences (nothing in them is fixed in advance)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from epvlm.prior import Selector
from epvlm.results import (
    CLAIM_ALPHA,
    aggregate,
    event_pairs,
    find_row,
    fmt_ci,
    fmt_keep,
    fmt_pct,
    fmt_points,
    mcnemar_exact_p,
    paired_interval_method,
    wilson_interval,
)
from eventsim._text import plural
from eventsim.errors import ParameterError

KEEPS: tuple[float, ...] = (0.75, 0.5, 0.25)
HEADLINE_KEEP = 0.5
SCENARIO_FIELD = "target_motion"
KIND_FIELD = "question_kind"
# question types whose answer survives downsampling; every other type counts as a detail question
NON_DETAIL_TYPES: tuple[str, ...] = ("color",)
SCENARIO_LABELS = {
    "moving": "moving-target",
    "static": "static-target",
    "camera": "camera-motion",
    "all": "all",
}

__all__ = [
    "HEADLINE_KEEP",
    "KEEPS",
    "coverage_scope",
    "coverage_table",
    "findings",
    "headline",
    "shortcut_baselines",
    "summarize",
    "target_coverage",
]


def _label(value: str) -> str:
    return SCENARIO_LABELS.get(value, value)


def _tau(summary: Mapping[str, Any], keep: float) -> str:
    """``keep`` as the summary's tables print it (`fmt_keep` among its rows' keeps)."""
    return fmt_keep(keep, [r["keep"] for r in summary["rows"]])


def _all_of(n: int, what: str) -> str:
    """``"all 5 questions"``, but ``"the 1 question"``."""
    return f"the 1 {what}" if n == 1 else f"all {n} {plural(n, what)}"


# ----------------------------------------------------------------------------- summary


def summarize(
    samples: Iterable[Mapping[str, Any]],
    questions: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    detail_types: Sequence[str] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The demo's numbers: `epvlm.results.aggregate` rows grouped by ``question_type``, by
    scenario (``target_motion``), by ``question_kind`` (``detail`` for ``detail_types``, default
    every type but colour, else ``other``) and by kind and scenario together.

    ``questions`` (id -> dataset record with ``choices`` and ``answer``) adds the shortcut
    baselines. ``pairs``: the paired comparisons (default: `epvlm.results.event_pairs`, event
    against every baseline the samples hold). Raises `ParameterError` when the samples hold no dense configuration.
    """
    samples = list(samples)
    dense = [s for s in samples if s["selector"] == "dense" and float(s["keep"]) == 1.0]
    if not dense:
        raise ParameterError("the samples hold no dense configuration to compare with")
    selectors = {str(s["selector"]) for s in samples}
    if pairs is None:
        pairs = event_pairs(selectors)
    types = Counter(str(s["question_type"]) for s in dense)
    if detail_types is None:
        detail_types = [t for t in sorted(types) if t not in NON_DETAIL_TYPES]
    detail = set(detail_types)
    marked = [
        {**s, KIND_FIELD: "detail" if s["question_type"] in detail else "other"} for s in samples
    ]
    rows = aggregate(
        marked,
        group_by=("question_type", SCENARIO_FIELD, KIND_FIELD, (KIND_FIELD, SCENARIO_FIELD)),
        pairs=pairs,
    )
    ids = [str(s["id"]) for s in dense]
    summary: dict[str, Any] = {
        "n_questions": len(ids),
        "scenario_field": SCENARIO_FIELD,
        "scenarios": dict(
            sorted(Counter(str(s[SCENARIO_FIELD]) for s in dense if s.get(SCENARIO_FIELD)).items())
        ),
        "question_types": dict(sorted(types.items())),
        "detail_types": sorted(detail),
        # the pairs these samples can compare (both selectors present)
        "pairs": [list(p) for p in pairs if {*p} <= selectors],
        # questions whose event window held no event: `event` kept the centre blocks there
        "event_fallbacks": len(
            {str(s["id"]) for s in samples if s["selector"] == "event" and s.get("fallback")}
        ),
        "rows": rows,
    }
    if questions:
        summary["baselines"] = shortcut_baselines([questions[i] for i in ids if i in questions])
    return summary


def shortcut_baselines(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy of answering without looking: a uniform guess among the choices, and always
    giving the most frequent answer of the question type (measured on these very questions,
    which flatters it)."""
    if not records:
        return {}
    chance = float(np.mean([1 / max(1, len(r["choices"])) for r in records]))
    by_type: dict[str, list[str]] = defaultdict(list)
    for r in records:
        by_type[r["question_type"]].append(r["answer"])
    hits = 0
    for answers in by_type.values():
        _, counts = np.unique(answers, return_counts=True)
        hits += int(counts.max())
    majority = hits / len(records)
    return {
        "chance": chance,
        "majority": majority,
        "majority_ci95": list(wilson_interval(hits, len(records))),
    }


def _cell(row: Mapping[str, Any], group: str | None, value: str | None) -> Mapping[str, Any]:
    if group is None:
        return row
    return row.get("groups", {}).get(group, {}).get(value) or {"n": 0}


# ----------------------------------------------------------------------------- coverage


def target_coverage(
    ds,
    proc,
    n: int,
    *,
    keeps: Sequence[float] = KEEPS,
    selectors: Sequence[Selector] = ("event", "random"),
    seed: int = 0,
) -> dict[str, Any]:
    """How much of the question's target each selector keeps, on the first ``n`` questions.

    The target is the scene object the question is about (``meta.objects[meta.target]``), taken
    as a disk of its size at the frame time. For each selector and τ: the mean share of the
    disk's pixels inside kept blocks and the share of questions where under half of it was kept,
    split by scenario. The random draws are the evaluation's own under ``seed``
    (`epvlm.evaluate.selection_seed`), so the shares describe the blocks its answers were
    given.
    """
    import cv2

    from epvlm.evaluate import make_selection, selection_seed

    acc: dict[tuple[Selector, float, str], list[float]] = defaultdict(list)
    for i in range(n):
        rec = ds.records[i]
        meta = rec.get("meta") or {}
        scenario = rec.get(SCENARIO_FIELD)
        target = meta.get("target")
        objects = meta.get("objects") or []
        if scenario is None or target is None or target >= len(objects):
            continue
        sample = ds[i]
        height, width = sample["image"].shape[:2]
        obj = objects[target]
        cx, cy = obj["end_xy"]
        yy, xx = np.mgrid[0:height, 0:width]
        disk = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= (obj["size_px"] / 2) ** 2
        area = int(disk.sum())
        if area == 0:
            continue
        for selector in selectors:
            for keep in keeps:
                sel = make_selection(
                    proc, sample, selector, keep, seed=selection_seed(seed, i, keep)
                )
                kept = cv2.resize(
                    sel.mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST
                ).astype(bool)
                acc[(selector, float(keep), str(scenario))].append(
                    float((disk & kept).sum()) / area
                )
    rows = []
    for (selector, keep, scenario), shares in sorted(acc.items()):
        arr = np.asarray(shares)
        rows.append(
            {
                "selector": selector,
                "keep": keep,
                SCENARIO_FIELD: scenario,
                "n": int(arr.size),
                "mean_share_kept": float(arr.mean()),
                "mostly_dropped": float((arr < 0.5).mean()),
            }
        )
    return {"n_questions": n, "rows": rows}


def coverage_scope(n_coverage: int, n_questions: int) -> str:
    """Which questions `target_coverage` measured: all of them or the first ``n_coverage``."""
    if n_coverage >= n_questions:
        return _all_of(n_questions, "question")
    if n_coverage == 1:
        return f"the first question of the {n_questions}"
    return f"the first {n_coverage} of the {n_questions} questions"


def coverage_table(coverage: Mapping[str, Any]) -> str:
    """Markdown: target area kept and questions whose target was mostly dropped, per scenario."""
    by = {(r["selector"], r["keep"], r[SCENARIO_FIELD]): r for r in coverage["rows"]}
    keys = sorted(
        {(r["selector"], r["keep"]) for r in coverage["rows"]}, key=lambda k: (k[0], -k[1])
    )
    scenarios = sorted({r[SCENARIO_FIELD] for r in coverage["rows"]})
    keeps = [k for _, k in keys]
    head = " | ".join(
        f"{s}: target area kept | {s}: target mostly dropped (< 50 % kept)" for s in scenarios
    )
    lines = [f"| selector | τ | {head} |", "|---|---|" + "---|---|" * len(scenarios)]
    for sel, keep in keys:
        cells = []
        for scenario in scenarios:
            r = by.get((sel, keep, scenario))
            cells += ["–", "–"] if r is None else [
                fmt_pct(r["mean_share_kept"]), f"{fmt_pct(r['mostly_dropped'])} of {r['n']}"
            ]  # fmt: skip
        lines.append(f"| {sel} | {fmt_keep(keep, keeps)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- sentences


def _ci_points(entry: Mapping[str, Any]) -> str:
    lo, hi = entry.get("diff_ci95") or (math.nan, math.nan)
    return f"{fmt_points(lo)} to {fmt_points(hi)}"


def headline(summary: Mapping[str, Any], keep: float = HEADLINE_KEEP) -> list[str]:
    """event − downsample and event − random at ``keep`` on the detail questions, overall and
    per scenario, with paired 95 % intervals, and whether each interval excludes 0."""
    rows = summary["rows"]
    event = find_row(rows, "event", keep)
    dense = find_row(rows, "dense", 1.0)
    if event is None or dense is None:
        return []
    types = summary.get("detail_types") or []
    detail = _cell(event, KIND_FIELD, "detail")
    if not detail.get("n"):
        return [
            f"This run has no detail questions (question types here: "
            f"{', '.join(summary['question_types']) or 'none'}; detail types are every type but "
            f"{', '.join(NON_DETAIL_TYPES)}), so it cannot show what the event prior is worth "
            "where detail matters; see the tables for what it does show."
        ]
    out = []
    tau = _tau(summary, keep)
    subsets: list[tuple[str, str | None]] = [("all", None)] + [
        (s, f"detail/{s}") for s in summary.get("scenarios", {})
    ]
    for scenario, value in subsets:
        group, key = (
            (KIND_FIELD, "detail") if value is None else (f"{KIND_FIELD}+{SCENARIO_FIELD}", value)
        )
        e, d = _cell(event, group, key), _cell(dense, group, key)
        if not e.get("n"):
            continue
        where = (
            f"{_all_of(e['n'], 'detail question')} ({', '.join(types)})"
            if value is None
            else f"the {e['n']} {_label(scenario)} detail {plural(e['n'], 'question')}"
        )
        parts = []
        for other in ("downsample", "random"):
            entry = (e.get("paired") or {}).get(other)
            if not entry or not entry["n"]:
                continue
            side = _paired_side(entry)
            verdict = {
                "above": "interval above 0",
                "below": f"interval below 0: `{other}` wins",
                "unconfirmed": _unconfirmed(entry["this_only"], entry["other_only"], entry["n"]),
            }.get(side, "interval includes 0")
            parts.append(
                f"event − {other} = {fmt_points(entry['diff'])} "
                f"(paired 95 % CI {_ci_points(entry)}; {verdict})"
            )
        out.append(
            f"On {where}, `event` at τ = {tau} ({fmt_pct(event['flops_vs_dense'])} of dense "
            f"FLOPs) scores {fmt_pct(e['accuracy'])} vs {fmt_pct(d.get('accuracy'))} dense: "
            + "; ".join(parts)
            + "."
        )
    chance = (summary.get("baselines") or {}).get("chance")
    dense_cell = _cell(dense, KIND_FIELD, "detail")
    dense_detail = dense_cell.get("accuracy")
    lo = (dense_cell.get("accuracy_ci95") or [math.nan])[0]
    if chance is not None and dense_detail is not None and dense_detail <= chance:
        out.append(
            f"Dense itself scores {fmt_pct(dense_detail)} on the detail questions, no better than "
            f"a uniform guess ({fmt_pct(chance)}): this model has not learned them, so the "
            "differences above say nothing about the event prior."
        )
    elif chance is not None and dense_detail is not None and math.isfinite(lo) and lo <= chance:
        out.append(
            f"Dense itself scores {fmt_pct(dense_detail)} ({fmt_ci(dense_cell['accuracy_ci95'])}) "
            f"on the detail questions, within noise of a uniform guess ({fmt_pct(chance)}): this "
            "model may not have learned them, so the differences above say little about the "
            "event prior."
        )
    return out


def _interval(ci: Sequence[float] | None) -> str:
    """Where a 95 % interval of a difference lies: ``"above"`` or ``"below"`` 0 (beyond noise),
    ``"within"`` (it includes 0: within noise) or ``"unknown"`` (no finite interval)."""
    lo, hi = ci if ci else (math.nan, math.nan)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "unknown"
    if lo > 0:
        return "above"
    if hi < 0:
        return "below"
    return "within"


def _judged(ci: Sequence[float] | None, counts: Mapping[str, int], this: str, other: str) -> str:
    """`_interval` of a paired difference read as a claim: ``"above"`` or ``"below"`` only
    when the exact McNemar test of the questions answered differently (``counts[this]`` right
    only under this configuration, ``counts[other]`` only under the other) agrees (p <
    `CLAIM_ALPHA`), else ``"unconfirmed"`` (`_unconfirmed` says why). On so few such
    questions that no outcome could pass the test, the interval (a score interval there,
    `epvlm.results.paired_interval_method`) can still exclude 0."""
    side = _interval(ci)
    if side in ("above", "below") and mcnemar_exact_p(counts[this], counts[other]) >= CLAIM_ALPHA:
        return "unconfirmed"
    return side


def _paired_side(entry: Mapping[str, Any]) -> str:
    """`_judged` for a ``paired`` entry of `epvlm.results.aggregate` (this minus other)."""
    return _judged(entry.get("diff_ci95"), entry, "this_only", "other_only")


def _dense_side(cell: Mapping[str, Any]) -> str:
    """`_judged` for a cell's change from dense (this minus dense)."""
    counts = cell.get("vs_dense_counts") or {}
    return _judged(cell.get("diff_vs_dense_ci95"), counts, "this_only", "dense_only")


def _few_differ(this_only: int, other_only: int) -> bool:
    """Whether so few questions were answered differently that not even all of them going one
    way would reach p < `CLAIM_ALPHA` in the exact McNemar test (under 6 at 0.05): no outcome
    of so few could be judged, where a larger count that stays short of it is a borderline
    effect."""
    m = this_only + other_only
    return mcnemar_exact_p(m, 0) >= CLAIM_ALPHA


def _unconfirmed(this_only: int, other_only: int, n: int) -> str:
    """Why a difference whose interval excludes 0 is not called one (`_judged`): too
    few questions answered differently (`_few_differ`), or an effect not beyond noise."""
    p = mcnemar_exact_p(this_only, other_only)
    m = this_only + other_only
    if _few_differ(this_only, other_only):
        return (
            f"too few questions answered differently to judge: {m} of {n}, "
            f"exact McNemar p = {p:.2g}"
        )
    return (
        f"not beyond noise: exact McNemar p = {p:.2g} on the {m} of {n} questions answered "
        "differently"
    )


_NOISE = {
    "above": "interval above 0",
    "below": "interval below 0",
    "within": "interval includes 0: within noise",
    "unknown": "no interval",
}


def _static_sentence(
    event: Mapping[str, Any],
    dense: Mapping[str, Any],
    scenarios: Sequence[str],
    tau: str,
) -> str:
    """What the static-target numbers show: a failure case of the event prior only where it
    loses to dense beyond noise and is no better than `random` there."""
    e = _cell(event, SCENARIO_FIELD, "static")
    d = _cell(dense, SCENARIO_FIELD, "static")
    lo, hi = e.get("diff_vs_dense_ci95") or (math.nan, math.nan)
    vs_dense = _dense_side(e)
    counts = e.get("vs_dense_counts") or {}
    dense_noise = (
        _unconfirmed(counts["this_only"], counts["dense_only"], sum(counts.values()))
        if vs_dense == "unconfirmed"
        else _NOISE[vs_dense]
    )
    numbers = (
        f"on the {e['n']} {plural(e['n'], 'question')} about a target that did not move, `event` "
        f"at τ = {tau} "
        f"scores {fmt_pct(e['accuracy'])} vs {fmt_pct(d.get('accuracy'))} dense, a change of "
        f"{fmt_points(e['accuracy'] - d['accuracy'])} (95 % CI {fmt_points(lo)} to "
        f"{fmt_points(hi)}; {dense_noise})"
    )
    random = (e.get("paired") or {}).get("random") or {}
    vs_random = _paired_side(random) if random.get("n") else "unknown"
    random_noise = (
        _unconfirmed(random["this_only"], random["other_only"], random["n"])
        if vs_random == "unconfirmed"
        else _NOISE.get(vs_random, "")
    )
    random_part = (
        f"event minus `random` is {fmt_points(random['diff'])} (paired 95 % CI "
        f"{_ci_points(random)}; {random_noise})"
        if vs_random != "unknown"
        else ""
    )
    kept = f"it keeps {fmt_pct(e.get('accuracy_vs_dense'))} of dense there"
    if vs_dense == "below":
        others_lose = [
            _label(s)
            for s in scenarios
            if s != "static" and _dense_side(_cell(event, SCENARIO_FIELD, s)) == "below"
        ]
        if vs_random in ("within", "unconfirmed", "below"):
            who = (
                "a failure case of the event prior (so are "
                + ", ".join(f"{s} questions" for s in others_lose)
                + ")"
                if others_lose
                else "the event prior's failure case"
            )
            than_random = (
                "`random` beats it there"
                if vs_random == "below"
                else "it does no better than `random` there"
            )
            return f"Static targets are {who}: {numbers}, and {than_random}: {random_part}; {kept}."
        tail = f"; it still beats `random` there: {random_part}" if vs_random == "above" else ""
        return f"Static targets cost the event prior accuracy: {numbers}{tail}; {kept}."
    if vs_dense == "unconfirmed" and not _few_differ(counts["this_only"], counts["dense_only"]):
        lead = "On static targets the event prior's change from dense is not beyond noise"
    else:
        # when not even every question lost would be a loss beyond noise, "no loss beyond
        # noise" would read as a finding where it says nothing (1 of 1 lost at --limit 1)
        if vs_dense == "within" and _few_differ(sum(counts.values()), 0):
            vs_dense = "unconfirmed"
        lead = {
            "within": "On static targets the event prior shows no loss beyond noise",
            "above": "On static targets the event prior scores above dense beyond noise",
            "unknown": "Static targets: no interval for the event prior's change from dense",
            "unconfirmed": (
                "Static targets: too few questions to judge the event prior's change from dense"
            ),
        }[vs_dense]
    tail = f"; {random_part}" if random_part else ""
    return f"{lead}: {numbers}{tail}; {kept}."


def _target_bound(cell: Mapping[str, Any], side: str) -> float:
    """A 95 % bound on ``cell``'s share of dense accuracy made for few questions as well (the
    bootstrap interval is too narrow on few questions answered differently):
    ``"above"`` a lower bound, the Wilson lower bound of `event`'s accuracy on the
    questions dense answers right (the share is never below that accuracy); ``"below"`` an
    upper bound, `event`'s Wilson upper bound over dense's Wilson lower bound."""
    c = cell["vs_dense_counts"]
    return _share_bound(
        c["both"], c["this_only"], c["both"] + c["dense_only"], sum(c.values()), side
    )


def _share_bound(both: int, this_only: int, dense_right: int, n: int, side: str) -> float:
    """`_target_bound` of ``n`` questions shared with dense, ``dense_right`` of them answered
    right by dense, ``both`` of those and ``this_only`` others by this configuration."""
    if side == "above":
        return wilson_interval(both, dense_right)[0]
    # dense answers some question right wherever there is a share to bound, so lo_dense > 0
    lo_dense = wilson_interval(dense_right, n)[0]
    return wilson_interval(both + this_only, n)[1] / lo_dense


def _target_verdict(cell: Mapping[str, Any], target: float) -> str:
    """Whether ``cell``'s share of dense accuracy meets ``target``, read with its interval: a
    whole interval on one side of the target is a claim only when `_target_bound` agrees. When it does not, the questions shared with dense are too few to judge where
    not even the most extreme answers of this configuration on them (every one of dense's
    right answers right, for a claim above the target; none right, below it) would give a
    bound past the target; otherwise the share is not beyond noise."""
    ratio = cell.get("accuracy_vs_dense")
    goal = f"the {fmt_pct(target, 0)} target"
    if ratio is None:
        return f"dense scores 0 % here, so no share of it can be held against {goal}"
    lo, hi = cell.get("accuracy_vs_dense_ci95") or (math.nan, math.nan)
    side = _interval((lo - target, hi - target))
    if side in ("above", "below"):
        bound = _target_bound(cell, side)
        if side == "above" and bound > target:
            return f"it meets {goal}, its whole interval above it"
        if side == "below" and bound < target:
            return f"it misses {goal}, its whole interval below it"
        verb = "meets" if side == "above" else "misses"
        kind = "lower" if side == "above" else "upper"
        c = cell["vs_dense_counts"]
        n = sum(c.values())
        dense_right = c["both"] + c["dense_only"]
        method = paired_interval_method(
            c["this_only"], c["dense_only"], n, right=c["both"] + c["this_only"]
        )
        interval = f"its {method} interval"
        if side == "above":
            few = _share_bound(dense_right, 0, dense_right, n, side) <= target
        else:
            few = _share_bound(0, 0, dense_right, n, side) >= target
        # the bound counts the questions dense answered too, which the cell's n may exceed
        shared = f"n = {n}" if n == cell.get("n") else f"n = {n} shared with dense"
        if few:
            return (
                f"it {verb} {goal} on the point estimate and {interval}, but too few "
                f"questions ({shared}) to judge: a 95 % {kind} bound made for small n is "
                f"{fmt_pct(bound)}"
            )
        return (
            f"it {verb} {goal} on the point estimate and {interval}, but not beyond "
            f"noise ({shared}): a 95 % {kind} bound made for small n is {fmt_pct(bound)}, not "
            f"{side} the target"
        )
    verb = "meets" if ratio >= target else "misses"
    if side == "within":
        return (
            f"it {verb} {goal} on the point estimate only, within noise (the interval includes it)"
        )
    return f"it {verb} {goal} on the point estimate (no interval)"


def findings(
    summary: Mapping[str, Any], keep: float = HEADLINE_KEEP, target: float = 0.95
) -> list[str]:
    """Plain statements read off the numbers, including where a baseline matches or beats the
    event prior and what still targets cost. ``target`` is the share of dense accuracy the demo
    asks of `event` where things move (issue 11: 95 % at τ = 0.5).

    Every comparison is read with its 95 % interval: a difference whose interval includes 0
    (or, for the target, an interval that includes the target) is said to be within noise, and
    no sentence claims more than its numbers show. An interval beyond 0 (or the target) is a
    claim only when a check that holds on few questions agrees (`_judged`, `_target_bound`);
    otherwise the sentence says there are too few questions to judge, or, where there are
    enough to judge, that the difference is not beyond noise (or the bound does not clear the
    target)."""
    out: list[str] = []
    rows = summary["rows"]
    tau = _tau(summary, keep)
    dense = find_row(rows, "dense", 1.0)
    if dense is None:
        return out
    base = summary.get("baselines") or {}
    line = (
        f"Dense accuracy is {fmt_pct(dense['accuracy'])} ({fmt_ci(dense['accuracy_ci95'])}) on "
        f"{dense['n']} {plural(dense['n'], 'question')}"
    )
    if base:
        line += (
            f"; answering without the image scores {fmt_pct(base['chance'])} (uniform guess among "
            f"the choices) or {fmt_pct(base['majority'])} (the most frequent answer per question "
            "type, counted on these same questions, which flatters it)"
        )
    out.append(line + ".")
    fallbacks = summary.get("event_fallbacks", 0)
    if fallbacks:
        out.append(
            f"{fallbacks} of {summary['n_questions']} {plural(summary['n_questions'], 'question')} "
            f"had no event in {plural(fallbacks, 'its window', 'their window')}: `event` kept the "
            f"blocks nearest the image centre for {plural(fallbacks, 'it', 'them')} (its fallback), "
            "so its rows there measure `center`, not the event prior."
        )

    event = find_row(rows, "event", keep)
    if event is None:
        return out
    scenarios = list(summary.get("scenarios", {}))
    for scenario in scenarios:
        e = _cell(event, SCENARIO_FIELD, scenario)
        d = _cell(dense, SCENARIO_FIELD, scenario)
        if not e.get("n"):
            continue
        if scenario == "static":
            out.append(_static_sentence(event, dense, scenarios, tau))
            continue
        out.append(
            f"`event` at τ = {tau} costs {fmt_pct(event['flops_vs_dense'])} of the dense FLOPs "
            f"and keeps {fmt_pct(e.get('accuracy_vs_dense'))} of dense accuracy on "
            f"{_label(scenario)} questions (95 % CI {fmt_ci(e.get('accuracy_vs_dense_ci95'))}; "
            f"{fmt_pct(e['accuracy'])} vs {fmt_pct(d['accuracy'])}, n = {e['n']}); "
            f"{_target_verdict(e, target)}."
        )
    coverage = summary.get("coverage") or {}
    cov = {(r["selector"], r["keep"], r[SCENARIO_FIELD]): r for r in coverage.get("rows", [])}
    parts = []
    for sel in ("event", "random"):
        for scenario in scenarios:
            r = cov.get((sel, float(keep), scenario))
            if r is not None:
                parts.append(
                    f"`{sel}` keeps {fmt_pct(r['mean_share_kept'])} of a {scenario} target's area "
                    f"on average and drops most of it in {fmt_pct(r['mostly_dropped'])} of "
                    f"{r['n']} {plural(r['n'], 'question')}"
                )
    if parts:
        out.append(
            f"Why, at τ = {tau} (target coverage on "
            f"{coverage_scope(coverage['n_questions'], summary['n_questions'])}): "
            + "; ".join(parts)
            + "."
        )
    comparisons: list[str] = []
    down_matches = False
    for name in ("random", "downsample"):
        other = find_row(rows, name, keep)
        if other is None or name not in (event.get("paired") or {}):
            continue
        for scenario in [*scenarios, "all"]:
            group = None if scenario == "all" else SCENARIO_FIELD
            e, o = _cell(event, group, scenario), _cell(other, group, scenario)
            if not e.get("n") or not o.get("n"):
                continue
            entry = (e.get("paired") or {}).get(name) or {}
            gap = e["accuracy"] - o["accuracy"]
            side = _paired_side(entry)
            if side == "unconfirmed":
                noise = f" — {_unconfirmed(entry['this_only'], entry['other_only'], entry['n'])}"
            else:
                noise = {"within": " — within noise", "unknown": " — no interval"}.get(side, "")
            paired = f"paired 95 % CI of event minus {name}: {_ci_points(entry)}"
            if gap <= 0:
                down_matches = down_matches or name == "downsample"
                comparisons.append(
                    f"`{name}` at τ = {tau} matches or beats `event` on {_label(scenario)} "
                    f"questions: {fmt_pct(o['accuracy'])} vs {fmt_pct(e['accuracy'])} at "
                    f"{fmt_pct(other['flops_vs_dense'])} vs {fmt_pct(event['flops_vs_dense'])} of "
                    f"dense FLOPs ({paired}){noise}."
                )
            else:
                comparisons.append(
                    f"`event` beats `{name}` at τ = {tau} on {_label(scenario)} questions by "
                    f"{fmt_points(gap)}: {fmt_pct(e['accuracy'])} vs {fmt_pct(o['accuracy'])} "
                    f"({paired}){noise}."
                )
    down = find_row(rows, "downsample", keep)
    if down is not None and down_matches:
        out.append(
            f"`downsample` keeps every object, only at lower resolution (the whole image in "
            f"{down['kept_tokens']:.0f} instead of {down['total_tokens']:.0f} tokens "
            f"at τ = {tau}), so a still target is never dropped and only what needs finer "
            "detail than that is lost: where it matches or beats `event` below, that resolution "
            "was enough for those questions."
        )
    return out + comparisons
