"""The one evaluation result format of ``epvlm eval`` and ``epvlm demo``: aggregation, intervals,
paired comparisons, Markdown tables and plots.

Input is the per-answer records that `epvlm.evaluate.evaluate_dataset` produces (one per sample
and configuration, as in ``samples.jsonl``): ``id``, ``selector``, ``keep``, ``correct``,
``flops``, ``prefill_flops`` (optional), ``latency_s``, ``kept_tokens``, ``total_tokens``,
``fallback`` (optional: the selector a selection fell back to, e.g. ``event``'s ``center`` for
a window without event signal) and descriptive fields such as
``question_type`` and ``target_motion``. `aggregate` turns them into one row per
(selector, keep), the rows of ``results.json``::

    {"selector": "event", "keep": 0.5,
     "n", "correct", "accuracy", "accuracy_ci95",            # 95 % Wilson interval
     "accuracy_vs_dense", "accuracy_vs_dense_ci95",           # ratio, paired interval
     "diff_vs_dense_ci95",                                    # accuracy - dense, paired interval
     "vs_dense_counts": {"both", "this_only", "dense_only", "neither"},  # right, per question
     "paired": {"downsample": {"n", "diff", "diff_ci95",      # this - other at the same keep
                               "this_only", "other_only"}},   # questions only one got right
                                                  # event's rows: every baseline of the run
     "flops", "flops_vs_dense", "latency_s", "kept_tokens", "total_tokens",
     "fallbacks",                                             # answers that used the fallback
     "kept_all",                                   # answers that kept every image token
     "answer_modes", "unparsed",          # where the records carry answer_mode (see below)
     "prefill_flops", "prefill_flops_vs_dense",               # when the records carry them
     "groups": {"question_type": {"color": CELL, ...}, "target_motion": {"moving": CELL, ...}},
     "per_type": {"color": accuracy, ...}, "per_motion": {"moving": accuracy, ...}}

where CELL holds the accuracy keys of the row (``n`` ... ``paired``) for the answers whose field
has that value. A group spec may also be a tuple of fields, e.g. ``("question_type",
"target_motion")`` gives ``groups["question_type+target_motion"]["color/moving"]``. Pairs are
matched by sample ``id``, so every comparison resamples questions, keeping each question's two
outcomes together (`paired_bootstrap`), where at least `BOOTSTRAP_MIN_DIFFERING` questions were
answered differently; on fewer (or when every question was, all one way) the bootstrap interval
is too narrow or a single point, and the paired intervals are score intervals instead (made for
few questions: coverage near 95 %, though not at every n), as is the ratio's where this
configuration answered none right (every resample's ratio is 0) or dense so few that many
resamples hold none of them (no ratio there); `paired_interval_method` says which from the
counts in the row (`paired_intervals`).
``aggregate`` compares ``event`` with every baseline the samples hold (`event_pairs`: `PAIRS` in
order, center included). Each bootstrap seed derives from the comparison (the two
configurations) and the set of questions it covers, so an interval depends neither on which
other cells were computed nor on the cell it is shown in: a question type whose questions are
all the detail questions gets the interval of those. An undefined value (a ratio to a dense
accuracy of 0, the interval of no answers) is nan in the rows and null in results.json
(`json_ready`).

`aggregate` counts how a row's answers were scored (``answer_modes``, ``unparsed``) where
every record carries ``answer_mode``, as `epvlm.evaluate`'s and the demo's do;
`epvlm.evaluate.evaluate_dataset` adds ``prompt_format``, ``contains_accuracy`` and the
settings that shape the numbers, the ones table.md states: ``model``, ``dataset``, ``split``,
``window_ms`` (the event window before each frame that was used; the dataset's unless asked for),
``dataset_window_ms`` (the window the dataset stores), ``rule``, ``event_mode``, ``device``,
``dtype``, ``batch_size``, ``seed`` (of the random selector), ``max_new_tokens`` and
``baseline_tokens`` (``"keep"``: every selector keeps ``keep`` of the tokens, as ``topk`` does;
``"event"``: under ``quantile``, random, center and downsample keep per question as many tokens
as the event prior kept there, so a keep's rows compare at equal tokens); and what produced
them: ``model`` and ``dataset`` resolved to absolute paths, as typed in ``model_given`` and
``dataset_given``, ``model_files`` (``{file: [bytes, mtime_ns]}`` of the checkpoint's files as
loaded), ``dataset_digest`` (``samples_sha256`` and ``{shard file: sha256}`` of the split,
from dataset.json), ``dataset_versions`` (dataset.json's ``versions``: the eventsim and the
libraries that built the events; null where it has none), ``split_questions`` (the split's
questions), ``limit`` (null: none) and ``questions`` (those asked), ``threads`` (torch's CPU
threads of the run that wrote the results, which the latencies depend on; answers kept from
an interrupted run keep the latency measured then, as table.md's note says) and ``versions``
(``epvlm``, ``torch``, ``transformers``, ``python``). results.json carries no
format version: rows of 0.2.7 and before lack these fields and hold ``model`` and ``dataset``
as typed (a row with ``model_given`` has them resolved); everything that reads rows takes
the fields it needs and reads either. `load_results` reads them back from a results folder.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import socket
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from epvlm.errors import (
    FolderLockWarning,
    ResultsFileError,
    ResultsFolderInUseError,
    ResultsFolderLockError,
)
from eventsim._locks import LockFile, LocksUnsupported, try_lock
from eventsim._text import plural
from eventsim.errors import ParameterError, shown_value

BOOTSTRAP_RESAMPLES = 2000
# two-sided level of the exact tests that a claim "beyond noise" also needs (`mcnemar_exact_p`)
CLAIM_ALPHA = 0.05
GROUP_BY: tuple[str, ...] = ("question_type", "target_motion")
# The paired comparisons of event with each baseline, in the order tables list them (event -
# edges asks whether events add anything beyond where the RGB frame has detail); `event_pairs`
# picks those of the selectors an evaluation ran, any other baseline after them
PAIRS: tuple[tuple[str, str], ...] = (
    ("event", "downsample"),
    ("event", "random"),
    ("event", "edges"),
    ("event", "center"),
)
SELECTOR_ORDER: tuple[str, ...] = ("dense", "event", "edges", "random", "downsample", "center")
RESULT_FILES = ("results.json", "samples.jsonl", "table.md", "accuracy_vs_flops.png")
MARKERS = {
    "dense": "*",
    "event": "o",
    "edges": "P",
    "random": "s",
    "downsample": "^",
    "center": "D",
}

GroupSpec = str | tuple[str, ...]
# what the tables and plots take: the rows (results.json's list, `load_results`), or a result
# holding them under "rows" (`epvlm.evaluate.evaluate_dataset`'s, the demo's summary)
Rows = Sequence[Mapping[str, Any]] | Mapping[str, Any]

__all__ = [
    "BOOTSTRAP_MIN_DIFFERING",
    "BOOTSTRAP_RESAMPLES",
    "CLAIM_ALPHA",
    "EVAL_LOCK",
    "GROUP_BY",
    "PAIRS",
    "PARTIAL_ANSWERS",
    "PARTIAL_FILES",
    "PARTIAL_STATE",
    "PLOT_SUFFIXES",
    "RESULT_FILES",
    "SCORE_MARK",
    "PartialAnswers",
    "ResultsFolderLock",
    "Rows",
    "accuracy_table",
    "aggregate",
    "check_results_folder",
    "event_pairs",
    "find_row",
    "fmt_ci",
    "fmt_gflops",
    "fmt_keep",
    "fmt_pct",
    "fmt_points",
    "group_name",
    "group_values",
    "load_results",
    "lock_results_folder",
    "mcnemar_exact_p",
    "paired_bootstrap",
    "paired_difference_interval",
    "paired_interval_method",
    "paired_intervals",
    "paired_ratio_interval",
    "paired_table",
    "partial_state",
    "partial_state_difference",
    "partial_state_problem",
    "plot_accuracy_vs_flops",
    "plot_accuracy_vs_flops_by",
    "read_partial_answers",
    "read_partial_state",
    "rebuild_partial_state",
    "remove_partial",
    "results_table",
    "state_digest",
    "tau_columns",
    "wilson_interval",
    "write_eval_outputs",
]


# ----------------------------------------------------------------------------- statistics


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of k successes in n trials (nan for n = 0)."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # the bounds are exactly 0 and 1 at k = 0 and k = n; rounding would leave them a hair off
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


def mcnemar_exact_p(this_only: int, other_only: int) -> float:
    """Two-sided exact McNemar p-value: the binomial sign test of the questions two
    configurations answered differently (``this_only`` right only under one, ``other_only``
    only under the other), 1.0 when there are none.

    The percentile bootstrap of a paired difference resamples only those questions' signs, so
    with a handful of them its interval is too narrow, and with none it collapses to a point;
    this test keeps its level at any count."""
    m = this_only + other_only
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, i) for i in range(min(this_only, other_only) + 1))
    return min(1.0, 2 * tail / 2**m)


# The fewest questions answered differently on which a paired comparison gets the percentile
# bootstrap's interval (6 at CLAIM_ALPHA 0.05): on fewer that interval is too narrow, a single
# point when none differ, and not even all of them going one way would pass the exact test.
BOOTSTRAP_MIN_DIFFERING = next(m for m in range(1, 64) if mcnemar_exact_p(m, 0) < CLAIM_ALPHA)


def paired_interval_method(
    this_only: int, other_only: int, n: int, *, right: int | None = None
) -> str:
    """The interval a paired comparison of ``n`` questions gets (`paired_intervals`):
    ``"bootstrap"``, the percentile bootstrap, when at least `BOOTSTRAP_MIN_DIFFERING` were
    answered differently (``this_only`` right only under this configuration, ``other_only``
    only under the other) and not every question was (all one way, every resample gives the
    same difference); else ``"score"``, the score intervals made for few questions
    (`paired_difference_interval`, `paired_ratio_interval`). ``right``, the questions this
    configuration answered right, asks for the ratio's interval: where that is 0, every
    resample's ratio is 0, so the ratio gets the score interval however many differ. So it
    does where the other answered so few right that a resample holding none of them (no
    ratio: an infinite one, which the bootstrap drops, narrowing its upper bound) is not
    rarer than one in `BOOTSTRAP_RESAMPLES` (on many questions: fewer than 8 right)."""
    if this_only + other_only < BOOTSTRAP_MIN_DIFFERING or n in (this_only, other_only):
        return "score"
    if right is None:
        return "bootstrap"
    other_right = right - this_only + other_only
    if right == 0 or (1 - other_right / n) ** n >= 1 / BOOTSTRAP_RESAMPLES:
        return "score"
    return "bootstrap"


def paired_difference_interval(
    both: int, this_only: int, other_only: int, neither: int, z: float = 1.96
) -> tuple[float, float]:
    """95 % interval of the paired difference of two accuracies (this minus other), from the
    counts of questions both, only this, only the other and neither answered right: Newcombe's
    square-and-add interval for paired data (Newcombe 1998, Statistics in Medicine 17:2635,
    method 10), two Wilson intervals joined with the estimated correlation of the two
    accuracies. It never collapses to a point and keeps its level on few questions (if
    anything it is wide there), where the percentile bootstrap does neither. nan for no
    question."""
    n = both + this_only + other_only + neither
    if n == 0:
        return (math.nan, math.nan)
    right, other_right = both + this_only, both + other_only
    p1, p2 = right / n, other_right / n
    l1, u1 = wilson_interval(right, n, z)
    l2, u2 = wilson_interval(other_right, n, z)
    margins = right * (n - right) * other_right * (n - other_right)
    phi = 0.0
    if margins:
        cross = both * neither - this_only * other_only
        # Newcombe's correction: a positive correlation, which narrows the interval, is
        # shrunk by n / 2 (to none below that); a negative one is taken as it is
        if cross > n / 2:
            phi = (cross - n / 2) / math.sqrt(margins)
        elif cross < 0:
            phi = cross / math.sqrt(margins)
    down = (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    up = (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
    diff = p1 - p2
    return (max(-1.0, diff - math.sqrt(max(0.0, down))), min(1.0, diff + math.sqrt(max(0.0, up))))


def paired_ratio_interval(
    both: int, this_only: int, other_only: int, z: float = 1.96
) -> tuple[float, float]:
    """95 % interval of the ratio of two accuracies on the same questions (this over other),
    from the counts of questions both, only this and only the other answered right: the
    Bonett-Price hybrid Wilson score interval (Bonett and Price 2006, Statistics in Medicine
    25:3039). nan where the other answered none right (no ratio)."""
    right, other_right = both + this_only, both + other_only
    if other_right == 0:
        return (math.nan, math.nan)
    n = both + this_only + other_only  # questions either answered right
    scale = math.sqrt((this_only + other_only + 2) / ((right + 1) * (other_right + 1)))
    spread = math.sqrt((1 - (right + 1) / (n + 2)) / (right + 1)) + math.sqrt(
        (1 - (other_right + 1) / (n + 2)) / (other_right + 1)
    )
    z_adj = scale / spread * z
    l1, u1 = wilson_interval(right, n, z_adj)
    l2, u2 = wilson_interval(other_right, n, z_adj)
    return (l1 / u2, u1 / l2)


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> dict[str, tuple[float, float]]:
    """95 % percentile intervals of mean(a)/mean(b) and mean(a)-mean(b), resampling questions.

    ``a`` and ``b`` are 0/1 outcomes of the same questions under two configurations, so the
    resampling keeps each question's pair together.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return {"ratio": (math.nan, math.nan), "diff": (math.nan, math.nan)}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(resamples, a.size))
    ma, mb = a[idx].mean(1), b[idx].mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mb > 0, ma / mb, np.nan)
    ratio = ratio[np.isfinite(ratio)]
    diff = ma - mb
    r = tuple(np.percentile(ratio, [2.5, 97.5])) if ratio.size else (math.nan, math.nan)
    d_lo, d_hi = np.percentile(diff, [2.5, 97.5])
    return {
        "ratio": (float(r[0]), float(r[1])),
        "diff": (float(d_lo), float(d_hi)),
    }


def paired_intervals(
    a: np.ndarray, b: np.ndarray, *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> dict[str, Any]:
    """95 % intervals of mean(a)/mean(b) (``ratio``) and mean(a)-mean(b) (``diff``) for 0/1
    outcomes of the same questions, and the methods that gave them (`paired_interval_method`;
    ``method`` the difference's, ``ratio_method`` the ratio's): `paired_bootstrap` where it
    holds, else the score intervals."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    this_only, other_only = int((a & ~b).sum()), int((~a & b).sum())
    both, neither = int((a & b).sum()), int((~a & ~b).sum())
    method = paired_interval_method(this_only, other_only, int(a.size))
    ratio_method = paired_interval_method(
        this_only, other_only, int(a.size), right=both + this_only
    )
    boot = (
        paired_bootstrap(a, b, seed=seed, resamples=resamples)
        if "bootstrap" in (method, ratio_method)
        else {}
    )
    return {
        "ratio": boot["ratio"]
        if ratio_method == "bootstrap"
        else paired_ratio_interval(both, this_only, other_only),
        "diff": boot["diff"]
        if method == "bootstrap"
        else paired_difference_interval(both, this_only, other_only, neither),
        "method": method,
        "ratio_method": ratio_method,
    }


def _seed(comparison: Sequence[object], ids: Sequence[str]) -> int:
    """The bootstrap seed of one comparison (this configuration against another) on the
    questions ``ids``: the same questions give the same seed, and so the same interval, in
    whichever cell they appear (a question type whose questions are all the detail
    questions, a row whose questions are all one type)."""
    text = json.dumps([[str(p) for p in comparison], sorted(ids)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


# ----------------------------------------------------------------------------- aggregation


def group_name(spec: GroupSpec) -> str:
    """``"question_type"`` -> itself; ``("question_type", "target_motion")`` -> joined by +."""
    return spec if isinstance(spec, str) else "+".join(spec)


def _group_value(sample: Mapping[str, Any], spec: GroupSpec) -> str | None:
    fields = (spec,) if isinstance(spec, str) else spec
    values = [sample.get(f) for f in fields]
    if any(v is None for v in values):
        return None
    return "/".join(str(v) for v in values)


def _cell(
    ids: Sequence[str],
    mine: Mapping[str, Mapping[str, Any]],
    dense: Mapping[str, Mapping[str, Any]] | None,
    others: Mapping[str, Mapping[str, Mapping[str, Any]]],
    config: tuple[str, float],
    bootstrap: bool,
) -> dict[str, Any]:
    outcome = np.array([bool(mine[i]["correct"]) for i in ids], dtype=bool)
    k, n = int(outcome.sum()), int(outcome.size)
    cell: dict[str, Any] = {
        "n": n,
        "correct": k,
        "accuracy": k / n if n else math.nan,
        "accuracy_ci95": list(wilson_interval(k, n)),
    }
    if dense is not None:
        # in one order, so that the same questions resample alike (`_seed`)
        common = sorted(i for i in ids if i in dense)
        a = np.array([bool(mine[i]["correct"]) for i in common], dtype=bool)
        base = np.array([bool(dense[i]["correct"]) for i in common], dtype=bool)
        dense_acc = float(base.mean()) if base.size else math.nan
        cell["accuracy_vs_dense"] = float(a.mean()) / dense_acc if dense_acc > 0 else None
        cell["vs_dense_counts"] = {
            "both": int((a & base).sum()),
            "this_only": int((a & ~base).sum()),
            "dense_only": int((~a & base).sum()),
            "neither": int((~a & ~base).sum()),
        }
        if bootstrap:
            boot = paired_intervals(a, base, seed=_seed((*config, "dense"), common))
            cell["accuracy_vs_dense_ci95"] = list(boot["ratio"])
            cell["diff_vs_dense_ci95"] = list(boot["diff"])
    paired = {}
    for other, theirs in others.items():
        common = sorted(i for i in ids if i in theirs)
        a = np.array([bool(mine[i]["correct"]) for i in common], dtype=bool)
        b = np.array([bool(theirs[i]["correct"]) for i in common], dtype=bool)
        entry: dict[str, Any] = {
            "n": len(common),
            "diff": float(a.mean() - b.mean()) if common else math.nan,
            "this_only": int((a & ~b).sum()),
            "other_only": int((~a & b).sum()),
        }
        if bootstrap:
            seed = _seed((*config, other), common)
            entry["diff_ci95"] = list(paired_intervals(a, b, seed=seed)["diff"])
        paired[other] = entry
    if paired:
        cell["paired"] = paired
    return cell


def aggregate(
    samples: Iterable[Mapping[str, Any]],
    configs: Sequence[tuple[str, float]] | None = None,
    *,
    group_by: Sequence[GroupSpec] = GROUP_BY,
    pairs: Sequence[tuple[str, str]] | None = None,
    bootstrap: bool = True,
) -> list[dict[str, Any]]:
    """One row per (selector, keep) in the format of the module docstring.

    ``configs`` fixes the rows and their order (default: the configurations found, dense first,
    then by selector and falling keep). Rows relate to dense (``("dense", 1.0)``) when the
    samples hold it. ``pairs`` lists (a, b) selector pairs whose paired difference a - b at the
    same keep goes into a's rows and cells (default: `event_pairs` of the samples' selectors,
    event against every baseline). ``bootstrap=False`` skips the resampled intervals.
    """
    by_config: dict[tuple[str, float], dict[str, Mapping[str, Any]]] = defaultdict(dict)
    for s in samples:
        by_config[(s["selector"], float(s["keep"]))][str(s["id"])] = s
    if configs is None:
        configs = sorted(
            by_config,
            key=lambda c: (
                SELECTOR_ORDER.index(c[0]) if c[0] in SELECTOR_ORDER else len(SELECTOR_ORDER),
                c[0],
                -c[1],
            ),
        )
    if pairs is None:
        pairs = event_pairs(sel for sel, _ in by_config)
    dense = by_config.get(("dense", 1.0))
    dense_flops = _mean(dense.values(), "flops") if dense else math.nan
    dense_prefill = _prefill_mean(dense.values()) if dense else None
    rows = []
    for selector, keep in configs:
        mine = by_config.get((selector, float(keep)), {})
        others = {
            b: by_config[(b, float(keep))]
            for a, b in pairs
            if a == selector and (b, float(keep)) in by_config
        }
        ref = dense if selector != "dense" or keep != 1.0 else None
        config = (selector, float(keep))
        row: dict[str, Any] = {"selector": selector, "keep": keep}
        row.update(_cell(list(mine), mine, ref, others, config, bootstrap))
        if ref is None:
            row["accuracy_vs_dense"] = 1.0 if dense is not None and row["accuracy"] > 0 else None
        flops = _mean(mine.values(), "flops")
        row.update(
            {
                "flops": flops,
                "flops_vs_dense": flops / dense_flops if dense_flops > 0 else None,
                "latency_s": _mean(mine.values(), "latency_s", None),
                "kept_tokens": _mean(mine.values(), "kept_tokens", None),
                "total_tokens": _mean(mine.values(), "total_tokens", None),
                "fallbacks": sum(1 for s in mine.values() if s.get("fallback")),
                # under --rule quantile a keep below 1 can keep them all (`_kept_all_notes`)
                "kept_all": sum(1 for s in mine.values() if s["kept_tokens"] >= s["total_tokens"]),
            }
        )
        modes = [s.get("answer_mode") for s in mine.values()]
        if modes and None not in modes:
            # as `epvlm.evaluate` counts them, so that tables of these rows (the demo's) can
            # show the answers that named no option beside the accuracy they lowered
            row["answer_modes"] = {m: modes.count(m) for m in ("choice", "free")}
            row["unparsed"] = sum(
                s["answer_mode"] == "choice" and s.get("parsed") is None for s in mine.values()
            )
        prefill = _prefill_mean(mine.values())
        if prefill is not None:
            row["prefill_flops"] = prefill
            row["prefill_flops_vs_dense"] = prefill / dense_prefill if dense_prefill else None
        groups: dict[str, dict[str, Any]] = {}
        for spec in group_by:
            members: dict[str, list[str]] = defaultdict(list)
            for i, s in mine.items():
                value = _group_value(s, spec)
                if value is not None:
                    members[value].append(i)
            gname = group_name(spec)
            groups[gname] = {
                value: _cell(ids, mine, ref, others, config, bootstrap)
                for value, ids in sorted(members.items())
            }
        row["groups"] = groups
        # compact views kept from the first results.json format
        row["per_type"] = {v: c["accuracy"] for v, c in groups.get("question_type", {}).items()}
        row["per_motion"] = {v: c["accuracy"] for v, c in groups.get("target_motion", {}).items()}
        rows.append(row)
    return rows


def event_pairs(selectors: Iterable[str]) -> list[tuple[str, str]]:
    """The paired comparisons of ``event`` with every baseline among ``selectors`` (all but
    dense and event): those of `PAIRS` in its order, then any other by name; none without
    event."""
    present = set(selectors)
    if "event" not in present:
        return []
    known = [pair for pair in PAIRS if pair[1] in present]
    listed = {b for _, b in PAIRS}
    rest = sorted(present - listed - {"dense", "event"})
    return [*known, *(("event", b) for b in rest)]


def _mean(records: Iterable[Mapping[str, Any]], key: str, empty: float | None = math.nan):
    values = [r[key] for r in records]
    return float(np.mean(values)) if values else empty


def _prefill_mean(records: Iterable[Mapping[str, Any]]) -> float | None:
    """Mean ``prefill_flops``, or None unless every record has one (results written before
    the field existed have none)."""
    values = [r.get("prefill_flops") for r in records]
    if not values or any(v is None for v in values):
        return None
    return float(np.mean([float(v) for v in values if v is not None]))


def find_row(rows: Sequence[dict[str, Any]], selector: str, keep: float) -> dict[str, Any] | None:
    """The row of (selector, keep), or None."""
    for r in rows:
        if r["selector"] == selector and math.isclose(r["keep"], keep):
            return r
    return None


def group_values(rows: Sequence[Mapping[str, Any]], group: str) -> list[str]:
    """The values a group takes in any row, sorted."""
    return sorted({v for r in rows for v in r.get("groups", {}).get(group, {})})


def _as_rows(rows: Rows) -> Sequence[Mapping[str, Any]]:
    """The rows of ``rows``: itself, or a result's ``rows``. Anything else is a
    `ParameterError` rather than a TypeError from deep inside a table or plot."""
    found: Any = rows
    if isinstance(rows, Mapping):
        if "rows" not in rows:
            raise ParameterError(
                f"got a mapping with keys {sorted(map(str, rows))}; expected evaluation rows (a "
                "list, as results.json holds them) or a result holding them under 'rows'"
            )
        found = rows["rows"]
    got = type(found).__name__
    if isinstance(found, Sequence) and not isinstance(found, (str, bytes)):
        bad = [r for r in found if not isinstance(r, Mapping)]
        if not bad:
            return found
        got += f" holding {shown_value(bad[0])[:60]}"
    raise ParameterError(
        "expected evaluation rows, a list of dicts (`aggregate`'s, results.json's, a result's "
        f"'rows'); got a {got}"
    )


def _check_group(rows: Sequence[Mapping[str, Any]], group: str) -> None:
    """Refuse a group the rows were not aggregated by: its tables and panels were blank."""
    present = sorted({name for r in rows for name in r.get("groups", {})})
    if rows and group not in present:
        raise ParameterError(
            f"group {group!r} is not among the rows' groups ("
            + (", ".join(present) or f"none; `aggregate` groups by {', '.join(GROUP_BY)}")
            + ")"
        )


def _subset(row: Mapping[str, Any], group: str | None, value: str | None) -> dict[str, Any]:
    if group is None:
        return dict(row)
    return row.get("groups", {}).get(group, {}).get(value) or {"n": 0}


# ----------------------------------------------------------------------------- formatting


def fmt_pct(v: float | None, digits: int = 1) -> str:
    """``0.5`` -> ``'50.0 %'``; ``'–'`` for None or nan."""
    return "–" if v is None or not math.isfinite(v) else f"{100 * v:.{digits}f} %"


def fmt_points(v: float | None) -> str:
    """A difference of accuracies in percentage points, signed."""
    return "–" if v is None or not math.isfinite(v) else f"{100 * v:+.1f} points"


def fmt_ci(ci: Sequence[float] | None) -> str:
    """``[0.4, 0.6]`` -> ``'40.0–60.0 %'``."""
    if not ci:
        return "–"
    lo, hi = ci
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "–"
    return f"{100 * lo:.1f}–{100 * hi:.1f} %"


def _acc(cell: Mapping[str, Any]) -> str:
    if not cell.get("n"):
        return "–"
    return f"{fmt_pct(cell['accuracy'])} ({fmt_ci(cell['accuracy_ci95'])})"


# after a paired interval in a table: a score interval, not the bootstrap's
# (`paired_interval_method`)
SCORE_MARK = "†"


def _mark(this_only: int, other_only: int, n: int, *, right: int | None = None) -> str:
    method = paired_interval_method(this_only, other_only, n, right=right)
    return SCORE_MARK if method == "score" else ""


def _vs(cell: Mapping[str, Any]) -> str:
    if not cell.get("n") or cell.get("accuracy_vs_dense") is None:
        return "–"
    ci = cell.get("accuracy_vs_dense_ci95")
    counts = cell.get("vs_dense_counts")
    mark = ""
    if ci and counts and all(math.isfinite(v) for v in ci):
        mark = _mark(
            counts["this_only"],
            counts["dense_only"],
            sum(counts.values()),
            right=counts["both"] + counts["this_only"],
        )
    return f"{fmt_pct(cell['accuracy_vs_dense'])} ({fmt_ci(ci)}){mark}"


def _diff(entry: Mapping[str, Any] | None) -> str:
    if not entry or not entry.get("n"):
        return "–"
    ci = entry.get("diff_ci95")
    text = fmt_points(entry["diff"])
    if ci and all(math.isfinite(v) for v in ci):
        text += f" ({100 * ci[0]:+.1f} to {100 * ci[1]:+.1f})"
        text += _mark(entry["this_only"], entry["other_only"], entry["n"])
    return text


# ----------------------------------------------------------------------------- tables


def fmt_keep(keep: float, among: Iterable[float] = ()) -> str:
    """A keep fraction as every table, plot label and sentence prints it: 3 significant
    digits at most, no trailing zeros (``1``, ``0.5``, ``0.125``, 1/3 as ``0.333``), or as
    many more as it takes to print each of the fractions ``among`` (those shown with it, as
    in one table; pass the same ones wherever the labels must agree) apart from the others:
    0.33 and 1/3 print 0.33 and 0.333, 0.333 and 1/3 print 0.333 and 0.3333. A keep below 1
    never prints as dense's ``1`` (0.9996 prints 0.9996)."""
    shown = {float(k) for k in among} | {float(keep), 1.0}
    # 17 significant digits tell every two floats apart
    digits = next(d for d in range(3, 18) if len({f"{k:.{d}g}" for k in shown}) == len(shown))
    return f"{keep:.{digits}g}"


def fmt_gflops(flops: Sequence[float]) -> list[str]:
    """FLOPs as GFLOPs, one column's worth: every value with the same decimals, as many as
    give the smallest non-zero one 3 significant digits (at most 6), no exponent, thousands
    separated (a 2B model's ``2,270`` beside ``1,135``; a tiny model's ``0.760`` beside
    ``0.393``, where ``.3g`` printed ``2.27e+03`` and ``0.76``)."""
    values = [f / 1e9 for f in flops]
    smallest = min((abs(v) for v in values if v and math.isfinite(v)), default=1.0)
    decimals = min(6, max(0, 2 - math.floor(math.log10(smallest))))
    return [f"{v:,.{decimals}f}" for v in values]


def results_table(rows: Rows) -> str:
    """Markdown table of evaluation rows (``epvlm eval``'s table.md and console output)."""
    rows = _as_rows(rows)
    types = group_values(rows, "question_type")
    # only when some answer named no option: those score wrong, and a row of 0 % said no more
    unparsed = any(r.get("unparsed") for r in rows)
    head = [
        "selector",
        "keep",
        "n",
        "accuracy (95 % CI)",
        "% of dense acc. (95 % CI)",
        "GFLOPs",
        "% of dense FLOPs",
        "latency ms",
        "kept / total tokens",
        *(["named no option"] if unparsed else []),
        *(_group_head(rows, "question_type", t) for t in types),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    keeps = [r["keep"] for r in rows]
    gflops = fmt_gflops([r["flops"] for r in rows])
    for r, gf in zip(rows, gflops, strict=True):
        cells = [
            r["selector"],
            fmt_keep(r["keep"], keeps),
            str(r["n"]),
            # written as the "% of dense" interval beside it (and the demo report's tables)
            _acc(r),
            _vs(r),
            gf,
            fmt_pct(r["flops_vs_dense"]),
            f"{1000 * r['latency_s']:.1f}" if r["latency_s"] is not None else "–",
            f"{r['kept_tokens']:.1f} / {r['total_tokens']:.0f}" if r["n"] else "–",
            *([_unparsed_cell(r)] if unparsed else []),
            *[fmt_pct(r["per_type"].get(t)) for t in types],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    # as the demo report's tables mark them (`_vs`), with the mark's meaning beside them
    notes = [SCORE_FOOTNOTE] if any(_vs(r).endswith(SCORE_MARK) for r in rows) else []
    notes += [_fallback_note(r, keeps) for r in rows if r.get("fallbacks")]
    notes += _kept_all_notes(rows, keeps)
    if unparsed:
        notes.append(UNPARSED_NOTE)
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


# what `SCORE_MARK` after a "% of dense" interval of `results_table` means
SCORE_FOOTNOTE = (
    f"{SCORE_MARK} a score interval (Bonett and Price's) in place of the paired bootstrap's, "
    f"which is too narrow where fewer than {BOOTSTRAP_MIN_DIFFERING} questions were answered "
    "differently from dense (or every question was, all one way), or where the row answered "
    "none right or dense too few (epvlm.results.paired_interval_method)."
)

UNPARSED_NOTE = (
    "Note: named no option: the multiple-choice answers whose generation named none of the "
    "options, scored wrong; samples.jsonl's raw_output holds each generation."
)

# Why a selector kept every image token at a keep below 1 under --rule quantile, which keeps
# every block scoring at or above the (1 - keep) quantile of a sample's scores, ties included
_KEPT_ALL_WHY = {
    "event": "--rule quantile keeps every block at or above the (1 - keep) quantile of its "
    "event counts, ties included: all of them where more than a 1 - keep share of the "
    "blocks saw no event, as that quantile is then 0",
    "matched": "under --rule quantile {verb} as many tokens as event kept on the same sample",
    "edges": "--rule quantile keeps every block at or above the (1 - keep) quantile of its "
    "luma-gradient scores, ties included: all of them where more than a 1 - keep share of "
    "the blocks are flat, with no luma gradient, as that quantile is then 0",
}


def _kept_all_notes(rows: Sequence[Mapping[str, Any]], keeps: Iterable[float]) -> list[str]:
    """One note per kind of selector (event; the baselines given event's counts; edges; any
    other) whose rows of a --rule quantile run kept every image token on some answers at a
    keep below 1: at which keeps, on how many answers, and why. A row of 64.0 / 64 tokens and
    100 % of dense FLOPs at keep 0.25 read as a fault. Rows that do not say how many (written
    before ``kept_all``) have none."""
    from epvlm.evaluate import MATCHED_BASELINES

    keeps = list(keeps)
    counts: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if r.get("rule") == "quantile" and r["selector"] != "dense" and r["keep"] < 1:
            if r.get("kept_all"):
                unit = "" if counts[r["selector"]] else f" {plural(r['n'], 'answer')}"
                counts[r["selector"]].append(
                    f"at keep {fmt_keep(r['keep'], keeps)} on {r['kept_all']} of {r['n']}{unit}"
                )
    # selectors of one kind that kept them all alike share a clause: "random and center, each
    # at keep 0.5 on 20 of 20 answers"
    kinds: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for sel, parts in counts.items():
        kind = "matched" if sel in MATCHED_BASELINES else sel
        kinds[kind][" and ".join(parts)].append(sel)
    notes = []
    for kind in ("event", "matched", "edges", *sorted(set(kinds) - set(_KEPT_ALL_WHY))):
        if kind not in kinds:
            continue
        said = [
            f"{_names(sels)}{', each' if len(sels) > 1 else ''} {text}"
            for text, sels in kinds[kind].items()
        ]
        many = sum(map(len, kinds[kind].values())) > 1
        why = _KEPT_ALL_WHY.get(kind, "--rule quantile keeps every block tied at its threshold")
        notes.append(
            f"Note: every image token kept: {'; '.join(said)} "
            f"({why.format(verb='they keep' if many else 'it keeps')})."
        )
    return notes


def _names(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _unparsed_cell(row: Mapping[str, Any]) -> str:
    """``12 of 20 (60.0 %)``: a row's answers that named no option among its multiple-choice
    ones (all its answers when the row does not say how many were)."""
    if row.get("unparsed") is None:
        return "–"
    asked = (row.get("answer_modes") or {}).get("choice", row["n"])
    if not asked:
        return "–"
    return f"{row['unparsed']} of {asked} ({fmt_pct(row['unparsed'] / asked)})"


def _fallback_note(row: Mapping[str, Any], keeps: Iterable[float]) -> str:
    """The answers of a row whose selector found nothing to score and used another (the event
    selector's `center` when its window scored zero everywhere); ``keeps``: the table's."""
    return (
        f"Note: {row['selector']} at keep {fmt_keep(row['keep'], keeps)}: {row['fallbacks']} of "
        f"{row['n']} {plural(row['n'], 'answer')} fell back to the center selection (no event "
        "signal in the sample's window), so "
        f"{plural(row['fallbacks'], 'it measures', 'they measure')} center, not the event prior."
    )


def accuracy_table(rows: Rows, group: str | None = None) -> str:
    """Markdown: one line per row. Without ``group``: accuracy, % of dense, FLOPs, tokens and
    latency over all questions; with it: accuracy (95 % CI) per value of that group (one the
    rows were aggregated by, else a `ParameterError`). A "% of dense" interval that is a score
    interval, not the bootstrap's, is marked `SCORE_MARK`."""
    rows = _as_rows(rows)
    if group is not None:
        _check_group(rows, group)
    keeps = [r["keep"] for r in rows]
    if group is None:
        # as in `results_table`: a row's unreadable answers score wrong, and without them its
        # accuracy read as all lost to the selection
        unparsed = any(r.get("unparsed") for r in rows)
        head = (
            "| selector | τ | n | accuracy (95 % CI) | % of dense accuracy (95 % CI) "
            "| FLOPs % of dense | kept / total image tokens | latency ms / question |"
            + (" named no option |" if unparsed else "")
        )
        lines = [head, "|" + "---|" * head.count(" |")]
        for r in rows:
            latency = f"{1000 * r['latency_s']:.1f}" if r["latency_s"] is not None else "–"
            tokens = f"{r['kept_tokens']:.1f} / {r['total_tokens']:.0f}" if r["n"] else "–"
            lines.append(
                f"| {r['selector']} | {fmt_keep(r['keep'], keeps)} | {r['n']} | {_acc(r)} | "
                f"{_vs(r)} | {fmt_pct(r['flops_vs_dense'])} | {tokens} | {latency} |"
                + (f" {_unparsed_cell(r)} |" if unparsed else "")
            )
        if unparsed:
            lines += ["", UNPARSED_NOTE]
        return "\n".join(lines) + "\n"
    values = group_values(rows, group)
    lines = [
        "| selector | τ | FLOPs % of dense | "
        + " | ".join(_group_head(rows, group, v) for v in values)
        + " |",
        "|---|---|---|" + "---|" * len(values),
    ]
    for r in rows:
        cells = [_acc(_subset(r, group, v)) for v in values]
        lines.append(
            f"| {r['selector']} | {fmt_keep(r['keep'], keeps)} | {fmt_pct(r['flops_vs_dense'])} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines) + "\n"


def _group_head(rows: Sequence[Mapping[str, Any]], group: str, value: str) -> str:
    """A group column's heading: its value and its questions, ``color (n = 16)``."""
    n = max((_subset(r, group, value)["n"] for r in rows), default=0)
    return f"{value} (n = {n})"


def paired_table(
    rows: Rows,
    group: str | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> str:
    """Markdown: paired differences a - b in points (95 % paired interval, marked `SCORE_MARK`
    where it is a score interval, not the bootstrap's), one line per pair and keep, one column
    for all questions or per value of ``group``. ``pairs`` defaults to `event_pairs` of the
    rows' selectors; a pair a row holds no comparison for (rows written before it was made)
    has no line there."""
    rows = _as_rows(rows)
    if group is not None:
        _check_group(rows, group)
    if pairs is None:
        pairs = event_pairs(r["selector"] for r in rows)
    keeps = [r["keep"] for r in rows]
    names = [] if group is None else group_values(rows, group)
    values: list[str | None] = [None] if group is None else list(names)
    heads = ["all questions"] if group is None else names
    lines = [
        "| difference | τ | " + " | ".join(heads) + " |",
        "|---|---|" + "---|" * len(heads),
    ]
    for a, b in pairs:
        for r in rows:
            if r["selector"] != a or b not in (r.get("paired") or {}):
                continue
            cells = [
                _diff((_subset(r, group, v).get("paired") or {}).get(b))
                if group is not None
                else _diff(r["paired"][b])
                for v in values
            ]
            lines.append(
                f"| {a} − {b} | {fmt_keep(r['keep'], keeps)} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- plots


def _pyplot(what: str):
    from eventsim.errors import require

    matplotlib = require("matplotlib", "viz", what)
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


# the formats eventsim plot writes too (eventsim.render.summary); matplotlib takes the format
# from the suffix, so a name without one (saved as name.png) or with another is refused before
# the figure is drawn
PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _plot_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise ParameterError(
            f"plot output {str(path)!r} must end in {', '.join(PLOT_SUFFIXES[:-1])} or "
            f"{PLOT_SUFFIXES[-1]}"
        )
    return path


def _save(plt: Any, fig: Any, path: Path) -> Path:
    """Lay ``fig`` out by its engine, save it to ``path`` and close it. Saved with its engine,
    the figure would be drawn twice, the first time unrendered only to lay it out, which
    the layout alone does at a fraction of the cost."""
    fig.get_layout_engine().execute(fig)
    # None, not 'none': savefig lays out (draws) a figure whose engine is the placeholder
    with plt.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)
    fig.savefig(path)
    plt.close(fig)
    return path


# Selectors often score the same (a static scene gives `event` nothing to go on): line styles
# and shrinking markers drawn bigger-first keep a series visible under an identical later one.
LINESTYLES = {
    "dense": "-",
    "event": "-",
    "edges": (0, (5, 1, 1, 1, 1, 1)),
    "random": "--",
    "downsample": ":",
    "center": "-.",
}
MARKER_SIZES = {
    "dense": 12.0,
    "event": 9.0,
    "edges": 7.5,
    "random": 6.5,
    "downsample": 4.5,
    "center": 4.5,
}
# the other selectors take matplotlib's colour cycle in plotting order (C0-C4 for five
# series); edges has a fixed colour outside that range, so it never shares one with event
COLORS = {"edges": "tab:olive"}
# edges scores the frame's luma (`epvlm.prior.edge_map`): colours of equal luma make no edge
LABELS = {"edges": "edges (luma gradients)"}


def _series_style(sel: str) -> dict[str, Any]:
    ms = MARKER_SIZES.get(sel, 4.5)
    style: dict[str, Any] = {
        "marker": MARKERS.get(sel, "o"),
        "ms": ms,
        "ls": LINESTYLES.get(sel, "-"),
        "zorder": 3 + (12.0 - ms) / 10,
        "label": LABELS.get(sel, sel),
    }
    if sel in COLORS:
        style["color"] = COLORS[sel]
    return style


def _wilson_bars(cells: Sequence[Mapping[str, Any]]) -> list[list[float]]:
    """errorbar's (below, above) lengths in points from each cell's ``accuracy_ci95``, clipped
    at 0: at 0 % or 100 % rounding can put the Wilson bound a hair past the estimate."""
    return [
        [max(0.0, 100 * (c["accuracy"] - c["accuracy_ci95"][0])) for c in cells],
        [max(0.0, 100 * (c["accuracy_ci95"][1] - c["accuracy"])) for c in cells],
    ]


def plot_accuracy_vs_flops(rows: Rows, path: str | Path, title: str = "") -> Path:
    """Accuracy against FLOPs (% of dense) with 95 % Wilson bars, one line per selector; the
    legend sits outside the axes, where it cannot hide the dense point or the high-accuracy
    end of the curves. Where the rows carry their keep ``rule`` (`epvlm.evaluate`'s do) the
    title names it; under ``quantile`` the points of one keep that stand in one column (the
    matched baselines keep event's count, so their FLOPs are event's) share one τ label, in
    a strip above 100 % over a dotted line down the column (`tau_columns`).

    ``path`` ends in one of `PLOT_SUFFIXES`; the path written is returned."""
    rows = _as_rows(rows)
    path = _plot_path(path)
    plt = _pyplot("the accuracy-vs-FLOPs plot")
    fig, ax = plt.subplots(figsize=(6.8, 4.2), dpi=120, layout="constrained")
    keeps = [r["keep"] for r in rows]
    rules = {r.get("rule") for r in rows}
    rule = rules.pop() if len(rules) == 1 else None  # None: not recorded, or mixed
    by_sel: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["n"]:
            by_sel[r["selector"]].append(r)
    drawn: list[tuple[float, float, float]] = []  # (x, y, keep) of every point but dense's
    for sel, rs in by_sel.items():
        rs = sorted(rs, key=lambda r: r["flops"])
        x = [100 * (r["flops_vs_dense"] or 0) for r in rs]
        y = [100 * r["accuracy"] for r in rs]
        # without bars, 85 % against 60 % on 20 questions read like a settled difference
        ax.errorbar(x, y, yerr=_wilson_bars(rs), capsize=3, **_series_style(sel))
        if sel != "dense":
            drawn.extend((xi, yi, r["keep"]) for r, xi, yi in zip(rs, x, y))
    columns = tau_columns(drawn) if rule == "quantile" else []
    in_column = {i for _, members in columns for i in members}
    # one label per point, naming every keep there: rows that coincide (random and downsample
    # at one keep, every row at 100 % of dense FLOPs when all tokens were kept) drew theirs
    # one over the other, "τ=0.525"
    points: dict[tuple[float, float], list[float]] = defaultdict(list)
    for i, (xi, yi, keep) in enumerate(drawn):
        # rounded: means of the same counts in another order can differ in the last bit
        shown = points[(round(xi, 6), round(yi, 6))] if i not in in_column else []
        if keep not in shown:
            shown.append(keep)
    labels = [
        ax.annotate(
            _tau_text(shown, keeps),
            at,
            fontsize=7,
            xytext=LABEL_OFFSETS[0],
            textcoords="offset points",
        )
        for at, shown in points.items()
        if shown
    ]
    column_labels = []
    for cx, members in columns:
        ax.axvline(cx, color="0.55", lw=0.7, ls=(0, (1, 2)), zorder=1.5, gid=TAU_GUIDE)
        column_labels.append(
            ax.annotate(
                _tau_text(sorted({drawn[i][2] for i in members}), keeps),
                (cx, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=COLUMN_OFFSETS[0],
                textcoords="offset points",
                fontsize=7,
                ha="center",
                va="top",
            )
        )
    ax.set_xlabel("FLOPs (% of dense)")
    ax.set_ylabel("accuracy (%, 95 % Wilson CI)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    heading = "\n".join(t for t in (title, _rule_title(rule, by_sel)) if t)
    # over the figure, not the axes: centred over the axes, a title wider than they are ran
    # off the figure's left edge (constrained layout makes room above for a figure's title,
    # not beside an axes' one), and one wider than the figure is wrapped to fit it
    shown_title = _fitted_suptitle(fig, heading, fontsize=9) if heading else None
    point_xy = [
        (100 * (r["flops_vs_dense"] or 0), 100 * r["accuracy"])
        for rs in by_sel.values()
        for r in rs
    ]
    _untangle(ax, labels, column_labels, point_xy, [shown_title] if shown_title else [])
    # laid out once more: the y axis may have grown
    return _save(plt, fig, path)


def _fitted_suptitle(fig: Any, text: str, fontsize: float) -> Any:
    """``fig``'s title (`Figure.suptitle`) reading ``text``, each line broken at spaces where
    it would be wider than the figure (a word wider than that, a long folder name, broken
    where it must be), so that all of it is drawn."""
    title = fig.suptitle(text, fontsize=fontsize)
    renderer = fig.canvas.get_renderer()
    room = fig.bbox.width - 2 * 4 * fig.dpi / 72  # a 4-point margin each side

    def fits(line: str) -> bool:
        title.set_text(line)
        return bool(title.get_window_extent(renderer).width <= room)

    lines: list[str] = []
    for line in text.split("\n"):
        current = ""
        for word in line.split(" "):
            joined = f"{current} {word}" if current else word
            if fits(joined):
                current = joined
                continue
            if current:
                lines.append(current)
            # a word that alone is too wide: as much of it as fits on each line
            while not fits(word) and len(word) > 1:
                cut = next((i for i in range(len(word) - 1, 0, -1) if fits(word[:i])), 1)
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        lines.append(current)
    title.set_text("\n".join(lines))
    return title


def _rule_title(rule: str | None, selectors: Iterable[str]) -> str:
    """The plot title's line naming the keep rule its rows were selected by ('' unknown)."""
    if rule == "topk":
        return "keep rule topk: every selector keeps τ of the tokens"
    if rule != "quantile":
        return f"keep rule {rule}" if rule else ""
    # the baselines `epvlm.evaluate` gives event's count under quantile
    matched = [s for s in ("random", "center", "downsample") if s in set(selectors)]
    if not matched:
        return "keep rule quantile"
    verb = "keeps" if len(matched) == 1 else "keep"
    return f"keep rule quantile: {', '.join(matched)} {verb} event's count"


# the gid of the dotted line down a τ column, which labels may cross
TAU_GUIDE = "tau-column"
# a column's points lie within this share of the FLOPs axis' span of each other
COLUMN_SPREAD = 0.01


def _tau_text(keeps: Iterable[float], among: Sequence[float]) -> str:
    return "τ=" + ", ".join(fmt_keep(k, among) for k in sorted(keeps, reverse=True))


def tau_columns(points: Sequence[tuple[float, float, float]]) -> list[tuple[float, list[int]]]:
    """The columns of ``points`` ((x, y, keep), x in % of dense FLOPs): the points of one keep
    whose x lie within `COLUMN_SPREAD` of the x span of each other (chained), where they are
    at least two; columns of several keeps at one x (within the same spread) merge. Returns
    (mean x, indices of the member points), left to right."""
    if not points:
        return []
    xs = [p[0] for p in points]
    tol = COLUMN_SPREAD * max(max(xs) - min(xs), 1.0)
    found: list[list[int]] = []
    for keep in sorted({p[2] for p in points}):
        idx = sorted((i for i, p in enumerate(points) if p[2] == keep), key=lambda i: xs[i])
        run = idx[:1]
        for i in idx[1:]:
            if xs[i] - xs[run[-1]] > tol:
                found.append(run)
                run = []
            run.append(i)
        found.append(run)
    found = [c for c in found if len({(xs[i], points[i][1]) for i in c}) > 1]
    found.sort(key=lambda c: float(np.mean([xs[i] for i in c])))
    merged: list[list[int]] = []
    for c in found:
        if (
            merged
            and abs(np.mean([xs[i] for i in c]) - np.mean([xs[i] for i in merged[-1]])) <= tol
        ):
            merged[-1] += c
        else:
            merged.append(c)
    return [(float(np.mean([xs[i] for i in c])), sorted(c)) for c in merged]


# where a keep label goes beside its point (offset points), tried in this order until it
# overlaps no label placed before it: above right first, then below, then further out
LABEL_OFFSETS = ((3, 3), (3, -10), (3, 11), (3, -18), (3, 19), (3, -26), (3, 27))
# a τ column's label hangs from the top of the axes: the first row, or one row lower each
# while it overlaps a column label to its left
COLUMN_OFFSETS = ((0, -2), (0, -11), (0, -20), (0, -29), (0, -38))


def _untangle(
    ax: Any,
    labels: Sequence[Any],
    column_labels: Sequence[Any] = (),
    points: Sequence[tuple[float, float]] = (),
    avoid: Sequence[Any] = (),
) -> None:
    """Lay out the τ labels. ``column_labels`` (one per τ column) take the first row of
    `COLUMN_OFFSETS` where they overlap no other, and the y axis grows above 100 % by the rows
    they took, so that no point or bar reaches them. Each of ``labels`` (annotations of points,
    at `LABEL_OFFSETS`' first) then goes to the first offset where it overlaps no label placed
    before it, no column label, the legend, nor ``avoid`` (artists such as the figure's
    title), nor a marker, line or error bar, and lies nearer its own point than any other of
    ``points`` (the data points, x and y in data units), at each height right of its point,
    then left of it; else the first of those that stays inside the axes and nearest its
    point, else the first that overlaps no label (on a white backing where it crosses a line
    or the axes' frame); or it is dropped where the label it overlaps at the first says the
    same (a point next to it at the same keep). A label that ends up nearer another point than
    its own is joined to its own by a thin leader line, so that it cannot be read as the
    other's."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    # the layout (not a whole draw: the boxes need only it), so the labels' boxes are where
    # they go; then the axes where they were, so that the layout for saving starts where it
    # would have without this one
    original, active = ax.get_position(original=True), ax.get_position()
    fig.get_layout_engine().execute(fig)
    others = [ax.get_legend(), *avoid]
    placed: list[tuple[str, Any]] = [("", a.get_window_extent(renderer)) for a in others if a]
    if column_labels:
        frame = ax.get_window_extent(renderer)
        columns: list[Any] = []
        for label in column_labels:
            # centred on its column, but ending at it where it would pass the axes' edge
            box = label.get_window_extent(renderer)
            if box.x1 > frame.x1:
                label.set_horizontalalignment("right")
            elif box.x0 < frame.x0:
                label.set_horizontalalignment("left")
            for offset in COLUMN_OFFSETS:
                label.xyann = offset
                box = label.get_window_extent(renderer)
                if (
                    not any(box.overlaps(other) for other in columns)
                    or offset == COLUMN_OFFSETS[-1]
                ):
                    columns.append(box)
                    break
        # the strip the column labels take below the top of the axes, and half the largest
        # marker: with 2 points only, a marker at 100 % (event's 9-point circle) reached them
        top = ax.transAxes.transform((0, 1))[1]
        radius = max((line.get_markersize() for line in ax.lines), default=0.0) / 2
        strip = top - min(box.y0 for box in columns) + (radius + 2) * fig.dpi / 72
        height = ax.get_window_extent(renderer).height
        lo = ax.get_ylim()[0]
        # the top such that 100 % sits ``strip`` pixels below it
        ax.set_ylim(lo, 100 + (100 - lo) * strip / max(height - strip, 1.0) + 1)
        ax.set_yticks(range(0, 101, 20))
        placed += [("", box) for box in columns]
    marks = _data_marks(ax)
    inside = ax.get_window_extent(renderer)
    # the labels that sit at the first offset, by text: one there already says what a label
    # of a point next to its own would
    first: dict[str, list[Any]] = defaultdict(list)
    # left of the point at a height before right of it further out: a label 27 points above
    # a point at 100 % accuracy sits over the title, far from it
    spots = [s for dx, dy in LABEL_OFFSETS for s in (((dx, dy), "left"), ((-dx, dy), "right"))]
    shown = ax.transData.transform(np.asarray(points, dtype=float).reshape(-1, 2))
    for label in labels:
        text = label.get_text()
        own = ax.transData.transform(label.xy)
        # the other points: one drawn where this one is (another selector's) is this one
        rivals = shown[np.hypot(*(shown - own).T) > 1.0]
        free = near = None
        for offset, align in spots:
            label.xyann = offset
            label.set_horizontalalignment(align)
            box = label.get_window_extent(renderer)
            hit = [said for said, other in placed if box.overlaps(other)]
            if (
                offset == LABEL_OFFSETS[0]
                and text in first
                and any(box.overlaps(other) for other in first[text])
            ):
                label.remove()
                break
            if hit:
                continue
            within = inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1)
            nearest = _nearest_own(box, own, rivals)
            if within and nearest and not box.count_contains(marks):
                placed.append((text, box))
                if offset == LABEL_OFFSETS[0]:
                    first[text].append(box)
                break
            if near is None and within and nearest:
                near = (offset, align)
            if free is None:
                free = (offset, align)
        else:
            # every spot covers some of the data: the first that stays by its point, else the
            # first that covers no label, else the last
            spot = near or free
            if spot is not None:
                label.xyann, _ = spot
                label.set_horizontalalignment(spot[1])
            box = label.get_window_extent(renderer)
            placed.append((text, box))
            crossing = not (inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1))
            if crossing or box.count_contains(marks):
                # over a line or bar, or across the frame (a label above a point at 100 %,
                # struck through by the top spine): on a backing that lets the text be read
                label.set_bbox(LABEL_BACKING)
                label.set_zorder(6)  # above the series (`_series_style`)
            if not _nearest_own(box, own, rivals):
                ax.annotate(
                    text,
                    label.xy,
                    xytext=label.xyann,
                    textcoords="offset points",
                    fontsize=label.get_fontsize(),
                    ha=label.get_horizontalalignment(),
                    bbox=LABEL_BACKING if label.get_bbox_patch() is not None else None,
                    zorder=label.get_zorder(),
                    arrowprops=LEADER,
                )
                label.remove()
    ax.set_position(original, which="original")
    ax.set_position(active, which="active")
    ax.set_in_layout(True)  # set_position takes the axes out of the layout


# the line from a τ label set apart from its point to that point
LEADER = {"arrowstyle": "-", "color": "0.35", "lw": 0.6, "shrinkA": 0, "shrinkB": 3}
# behind a τ label that could find no spot clear of the data
LABEL_BACKING = {"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75}


def _nearest_own(box: Any, own: np.ndarray, rivals: np.ndarray) -> bool:
    """Whether the label ``box`` (display units) lies nearer its point ``own`` than any of
    ``rivals`` (display points), which a reader would otherwise attach it to."""

    def gap(p: np.ndarray) -> np.ndarray:
        p = np.atleast_2d(p)
        dx = np.maximum.reduce([box.x0 - p[:, 0], np.zeros(len(p)), p[:, 0] - box.x1])
        dy = np.maximum.reduce([box.y0 - p[:, 1], np.zeros(len(p)), p[:, 1] - box.y1])
        return np.hypot(dx, dy)

    return not len(rivals) or bool(gap(own)[0] < gap(rivals).min())


def _data_marks(ax: Any) -> np.ndarray:
    """Display points along every line and error bar of ``ax`` (not the τ columns' guides),
    a few pixels apart, and at every marker: where a label would cover the data."""
    step = 3.0 * ax.figure.dpi / 72
    paths: list[tuple[np.ndarray, bool]] = []  # (points, joined by a drawn line)
    for line in ax.get_lines():
        if line.get_gid() != TAU_GUIDE and len(line.get_xdata()):
            xy = np.column_stack(line.get_data()).astype(float)
            paths.append((ax.transData.transform(xy), line.get_linestyle() != "None"))
    for coll in ax.collections:
        for seg in coll.get_segments() if hasattr(coll, "get_segments") else []:
            if len(seg):
                paths.append((ax.transData.transform(np.asarray(seg, dtype=float)), True))
    found = [np.empty((0, 2))]
    for pts, joined in paths:
        found.append(pts)
        for a, b in pairwise(pts) if joined else ():
            n = int(np.hypot(*(b - a)) // step)
            if n > 0:
                found.append(a + np.linspace(0, 1, n + 2)[1:-1, None] * (b - a))
    return np.concatenate(found)


def plot_accuracy_vs_flops_by(
    rows: Rows,
    group: str,
    path: str | Path,
    values: Sequence[str] | None = None,
) -> Path:
    """Accuracy vs FLOPs % of dense with 95 % Wilson bars, one panel per value of ``group``
    (a group the rows were aggregated by, `GROUP_BY` by default, and values some answer has)
    and one legend beside the panels. ``path`` ends in one of `PLOT_SUFFIXES`; the path written
    is returned."""
    rows = _as_rows(rows)
    path = _plot_path(path)
    _check_group(rows, group)
    present = group_values(rows, group)
    values = list(values) if values is not None else present
    missing = [v for v in values if v not in present]
    if not values or missing:
        said = (
            f"no answer has {group} {', '.join(map(repr, missing))}"
            if missing
            else f"no answer has {group} set"
            if not present
            else "values is empty; it names the panels"
        )
        raise ParameterError(f"{said}; the rows' values are: {', '.join(present) or 'none'}")
    plt = _pyplot("the accuracy-vs-FLOPs plot")
    fig, axes = plt.subplots(
        1, len(values), figsize=(5 * len(values) + 1.2, 4.2), dpi=110,
        sharey=True, squeeze=False, layout="constrained",
    )  # fmt: skip
    axes = axes[0]
    by_sel: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        by_sel[r["selector"]].append(r)
    for ax, value in zip(axes, values):
        for sel, rs in by_sel.items():
            rs = sorted(rs, key=lambda r: r["flops_vs_dense"] or 0)
            cells = [_subset(r, group, value) for r in rs]
            keep = [i for i, c in enumerate(cells) if c.get("n")]
            if not keep:
                continue
            x = [100 * (rs[i]["flops_vs_dense"] or 0) for i in keep]
            y = [100 * cells[i]["accuracy"] for i in keep]
            err = _wilson_bars([cells[i] for i in keep])
            ax.errorbar(x, y, yerr=err, capsize=3, **_series_style(sel))
        n = max((_subset(r, group, value)["n"] for r in rows), default=0)
        ax.set_ylim(-2, 102)
        ax.set_title(f"{group} = {value} (n = {n})", fontsize=10)
        ax.set_xlabel("FLOPs (% of dense)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%, 95 % Wilson CI)")
    # one entry per selector, whichever panels it appears in
    labelled: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            labelled.setdefault(label, handle)
    if labelled:
        fig.legend(labelled.values(), labelled.keys(), loc="outside right upper", fontsize=8)
    return _save(plt, fig, path)


# ----------------------------------------------------------------------------- files


# An unfinished ``epvlm eval`` keeps its answers beside a record of the run, so the same
# command resumes it (see `epvlm.evaluate.evaluate_dataset`)
PARTIAL_STATE = "partial-state.json"
PARTIAL_ANSWERS = "partial-answers.jsonl"
PARTIAL_FILES = (PARTIAL_STATE, PARTIAL_ANSWERS)
PARTIAL_FORMAT = "epvlm-eval-partial"
PARTIAL_VERSION = 1


def check_results_folder(
    out_dir: str | Path,
    dataset_dir: str | Path | None,
    force: bool,
    run_state: Mapping[str, Any] | None = None,
) -> None:
    """Refuse ``out_dir`` for `write_eval_outputs` when it is a dataset folder, even with
    ``force`` (the results' samples.jsonl would replace the dataset's label index), or a folder
    inside one (its shards/, say: named by the dataset it is in), and unless
    ``force`` when any of `RESULT_FILES` or `PARTIAL_FILES` is there already.

    ``run_state`` (the settings of the evaluation about to run, see `partial_state`) accepts a
    folder holding an unfinished evaluation with the same settings, earlier results included
    (a ``force`` run that was stopped, or one stopped after publishing them): the evaluation
    resumes there. A partial state with other settings is refused naming the first that
    differs; a missing or damaged one is refused too (`rebuild_partial_state` first rewrites
    it where the kept answers prove they are this run's)."""
    from eventsim.errors import OutputExistsError, ParameterError

    out = Path(out_dir)
    same = dataset_dir is not None and out.exists() and out.resolve() == Path(dataset_dir).resolve()
    if same or (out / "dataset.json").is_file():
        raise ParameterError(
            f"output folder {str(out)!r} holds a dataset; its samples.jsonl would be replaced by "
            "the results; pick another output folder"
        )
    holder = _dataset_holding(out)
    if holder is not None:
        # its shards/ folder, say: the results would lie among the dataset's own files
        raise ParameterError(
            f"output folder {str(out)!r} is inside the dataset {str(holder)!r}; the results "
            "would be written among its files; pick another output folder"
        )
    if force:
        return
    partial = [out / name for name in PARTIAL_FILES if (out / name).exists()]
    if partial and run_state is not None:
        problem = partial_state_problem(out)
        if problem is not None:
            proof = (
                "the kept answers do not show that they were made with this run's settings"
                if _kept_answers(out)
                else f"no answer was kept in {PARTIAL_ANSWERS} to show which settings it ran with"
            )
            raise OutputExistsError(
                f"{str(out)!r} holds an unfinished evaluation that this one cannot resume "
                f"({PARTIAL_STATE} is missing or unreadable: {problem}; {proof}); {_WAYS_OUT}"
            )
        difference = partial_state_difference(read_partial_state(out), run_state)
        if difference is None:
            return
        raise OutputExistsError(
            f"{str(out)!r} holds an unfinished evaluation that this one cannot resume "
            f"({difference}); pass force=True to start over"
        )
    for path in [*partial, *(out / name for name in RESULT_FILES)]:
        if path.exists():
            raise OutputExistsError(f"{str(path)!r} exists; pass force=True to overwrite")


def _dataset_holding(out: Path) -> Path | None:
    """The dataset folder (one holding dataset.json) that ``out`` lies in, at any depth, named
    as ``out`` spells it where one of its own parents is that folder; None when there is none
    (or none this user may look into)."""
    real = Path(os.path.realpath(out))
    for parent in real.parents:
        try:
            if (parent / "dataset.json").is_file():
                break
        except OSError:
            continue
    else:
        return None
    return next((p for p in out.parents if os.path.realpath(p) == str(parent)), parent)


def _kept_answers(out: Path) -> bool:
    """Whether `PARTIAL_ANSWERS` in ``out`` holds a whole line (a torn last line is no kept
    answer: `read_partial_answers` drops it); True for a file that cannot be read, which may."""
    try:
        return b"\n" in (out / PARTIAL_ANSWERS).read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return True


def partial_state(
    settings: Mapping[str, Any], facts: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The record of an evaluation run that `PARTIAL_STATE` holds: ``settings`` (everything
    that changes an answer or the answers' order, in the order differences are reported)
    under a format name and version, and ``facts`` where given: what a refused resume quotes
    but does not compare (``dataset`` as given, the split's sample count ``split_samples``,
    the window the dataset stores ``dataset_window_ms``), left out of `state_digest`, so that
    a state written without them still resumes."""
    state = {"format": PARTIAL_FORMAT, "version": PARTIAL_VERSION, "settings": dict(settings)}
    if facts is not None:
        state["facts"] = dict(facts)
    return state


def state_digest(state: Mapping[str, Any]) -> str:
    """sha256 (hex) of a `partial_state` record as canonical JSON (keys sorted), without its
    ``facts``, which each line of `PARTIAL_ANSWERS` carries as ``state``: equal digests, equal
    settings."""
    compared = {k: v for k, v in state.items() if k != "facts"}
    text = json.dumps(compared, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rebuild_partial_state(out_dir: str | Path, state: Mapping[str, Any]) -> str | None:
    """Rewrite a missing or damaged `PARTIAL_STATE` in ``out_dir`` with ``state`` (the run
    about to resume) when the kept answers prove they are that run's: every whole line of
    `PARTIAL_ANSWERS` carries ``state``'s `state_digest`. Returns what was wrong with the file
    (`partial_state_problem`) when it was rewritten; None when the file is sound or the
    answers prove nothing (no whole line, a damaged line, lines written before lines carried
    the digest, or another run's digest), which leaves the usual refusal to the caller."""
    from eventsim.outputs import publish_text, remove_stale_temps

    out = Path(out_dir)
    path = out / PARTIAL_STATE
    problem = partial_state_problem(out)
    if problem is None or (path.exists() and not path.is_file()):
        return None
    try:
        data = (out / PARTIAL_ANSWERS).read_bytes()
    except OSError:
        return None
    # a torn last line (no line end) proves nothing; `read_partial_answers` drops it
    lines = data.split(b"\n")[:-1]
    digest = state_digest(state)
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if not isinstance(record, dict) or record.get("state") != digest:
            return None
    if not lines:
        return None
    remove_stale_temps(path)  # left by a killed run
    publish_text(path, json.dumps(state, indent=1) + "\n")
    return problem


# what a user can do about partial files that cannot be resumed: either way the kept answers
# are lost (a state rebuilt from the current settings could pair them with another model's
# answers; `rebuild_partial_state` does so only for answers carrying this run's digest)
_WAYS_OUT = (
    f"pass force=True to start the evaluation over, or delete {PARTIAL_STATE} and "
    f"{PARTIAL_ANSWERS} there"
)


def partial_state_problem(out_dir: str | Path) -> str | None:
    """What is wrong with `PARTIAL_STATE` in ``out_dir``, in words naming the file (missing,
    unreadable, not JSON, cut short, a value of the wrong type); None when it is a record
    `read_partial_state` returns. Another format or version is not a problem here (see
    `partial_state_difference`)."""
    path = Path(out_dir) / PARTIAL_STATE
    where = repr(str(path))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return f"{where} is not there"
    except OSError as exc:
        return f"{where} cannot be read ({exc.strerror or exc})"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f"{where} is not UTF-8 text"
    if not text.strip():
        return f"{where} is empty"
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        # an error at the end of the text, or a string still open there, is a record cut
        # short (a copy or a disk that lost its tail); one before it, a damaged record
        tail = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        cut = "cut short" if tail else "not JSON"
        return f"{where} is {cut} ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if not isinstance(state, dict):
        return f"{where} holds a JSON {_json_type(state)}, not an object"
    if not isinstance(state.get("settings"), dict):
        if "settings" not in state:
            return f"{where} has no 'settings'"
        return f"{where} has 'settings' of JSON type {_json_type(state['settings'])}, not an object"
    return None


def _json_type(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (str, "string"), (list, "array"), (dict, "object")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else "number"


def read_partial_state(out_dir: str | Path) -> dict[str, Any] | None:
    """The `partial_state` record in ``out_dir``, or None when it is missing or unreadable."""
    try:
        state = json.loads((Path(out_dir) / PARTIAL_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("settings"), dict):
        return None
    return state


def partial_state_difference(
    saved: Mapping[str, Any] | None, current: Mapping[str, Any]
) -> str | None:
    """None when the saved `partial_state` is the current run's; else what differs first, in
    words naming the `epvlm.evaluate.evaluate_dataset` parameter and the ``epvlm eval``
    option that set it, and its values as typed, e.g. ``"batch_size (--batch-size) was 16,
    now 8"``, ``"window_ms (--window-ms) was the dataset's 50 ms, now 20"``, a model file's new
    size and time, a dataset's rewritten files (`_setting_change`)."""
    if saved is None:
        return f"{PARTIAL_STATE} is missing or unreadable"
    if (saved.get("format"), saved.get("version")) != (current["format"], current["version"]):
        return f"{PARTIAL_STATE} is of another format ({saved.get('format')!r} version {saved.get('version')!r})"
    old, new = saved["settings"], current["settings"]
    # a JSON round trip, so tuples and lists compare alike
    new = json.loads(json.dumps(new))
    facts = (_facts(saved), _facts(json.loads(json.dumps(current))))
    for key in [*new, *(k for k in old if k not in new)]:
        if old.get(key) != new.get(key):
            return _setting_change(key, old, new, facts)
    return None


def _facts(state: Mapping[str, Any]) -> dict[str, Any]:
    """A state's ``facts`` (`partial_state`), none where it has none (an older run's)."""
    facts = state.get("facts")
    return dict(facts) if isinstance(facts, Mapping) else {}


# each setting of `partial_state` as `epvlm.evaluate.evaluate_dataset`'s parameter and
# epvlm eval's option name it: the refusal reaches both a Python caller and the command line
_SETTING_NAMES = {
    key: f"{param} ({option})"
    for key, param, option in (
        ("model", "model_dir", "--model"),
        ("split", "split", "--split"),
        ("selectors", "selectors", "--selector"),
        ("keeps", "keeps", "--keep"),
        ("samples", "limit", "--limit"),
        ("window_ms", "window_ms", "--window-ms"),
        ("seed", "seed", "--seed"),
        ("batch_size", "batch_size", "--batch-size"),
        ("rule", "rule", "--rule"),
        ("event_mode", "event_mode", "--event-mode"),
        ("prompt", "prompt", "--prompt-format"),
        ("max_new_tokens", "max_new_tokens", "--max-new-tokens"),
        ("dtype", "dtype", "--dtype"),
        ("device", "device", "--device"),
    )
}
# how the baselines chose their token counts (`epvlm.evaluate`'s baseline_tokens); a state
# without it is of a run from before they kept event's count under the quantile rule
_BASELINE_TOKENS = {"event": "event's token count", "keep": "τ of the tokens"}


def _setting_change(
    key: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    facts: tuple[Mapping[str, Any], Mapping[str, Any]],
) -> str:
    """What changed in setting ``key`` from ``old`` to ``new`` (the two runs' settings), with
    ``facts`` (the two states' `partial_state` facts) for what the settings leave implicit."""
    was, now = old.get(key), new.get(key)
    try:
        readable = _readable_change(key, old, new, facts)
    except (TypeError, ValueError, AttributeError, KeyError):
        # a damaged value: named below as the file holds it
        readable = None
    if readable is not None:
        return readable
    if isinstance(was, dict) and isinstance(now, dict):
        for sub in [*now, *(k for k in was if k not in now)]:
            if was.get(sub) != now.get(sub):
                return f"{key} {sub!r} {_was_now(was, now, sub)}"
    return f"{key} {_was_now(old, new, key)}"


def _readable_change(
    key: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    facts: tuple[Mapping[str, Any], Mapping[str, Any]],
) -> str | None:
    """`_setting_change`'s wording in the option's own terms, or None for a setting that has
    none; raises what a damaged value raises (TypeError, ValueError, AttributeError, KeyError)."""
    was, now = old.get(key), new.get(key)
    if key == "model_files" and isinstance(was, dict) and isinstance(now, dict):
        return _model_files_change(was, now)
    if key == "dataset" and isinstance(was, dict) and isinstance(now, dict):
        return _dataset_change(was, now, facts, str(new.get("split")))
    if key == "baseline_tokens" and key in new:
        keeps = _BASELINE_TOKENS[str(now)]
        if key not in old:
            return (
                "the run stopped is an older epvlm's, whose baselines under the quantile "
                f"rule kept τ of the tokens; now they keep {keeps}"
            )
        kept = _BASELINE_TOKENS[str(was)]
        return f"the baselines under the quantile rule kept {kept}, now {keeps}"
    if key in _SETTING_NAMES:
        shown = [
            _setting_value(key, settings[key], side) if key in settings else "not recorded"
            for settings, side in ((old, facts[0]), (new, facts[1]))
        ]
        return f"{_SETTING_NAMES[key]} was {shown[0]}, now {shown[1]}"
    return None


def _setting_value(key: str, value: Any, facts: Mapping[str, Any]) -> str:
    """A setting's value as ``epvlm eval`` takes it: ``0.75,0.5`` for the keeps, the
    dataset's window for no --window-ms, all of them for a --limit that asked every question."""
    if key == "keeps":
        return ",".join(fmt_keep(k, value) for k in sorted(value, reverse=True))
    if key == "selectors":
        order = {s: i for i, s in enumerate(SELECTOR_ORDER)}
        shown = sorted((s for s in value if s != "dense"), key=lambda s: order.get(s, len(order)))
        return ",".join(shown) or "dense"
    if key == "window_ms":
        if value is not None:
            return f"{value:g}"
        held = facts.get("dataset_window_ms")
        return "the dataset's" + (f" {held:g} ms" if isinstance(held, (int, float)) else "")
    if key == "max_new_tokens":
        return "the prompt format's default" if value is None else str(value)
    if key == "samples":
        split = facts.get("split_samples")
        if isinstance(split, int) and value >= split:
            return f"all {value:,} {plural(value, 'question')}"
        return f"{value:,}"
    if key == "model":
        return repr(value)
    return str(value)


def _model_files_change(was: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """The first of a checkpoint's files (`epvlm.evaluate.model_files_fingerprint`: name to
    bytes and modification time in ns) that is new, gone or changed, with its size and time."""
    import time

    for name in [*now, *(k for k in was if k not in now)]:
        if was.get(name) == now.get(name):
            continue
        if name not in was:
            return f"model file {name!r} was added"
        if name not in now:
            return f"model file {name!r} is gone"
        (old_size, _), (size, mtime_ns) = was[name], now[name]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(mtime_ns / 1e9))
        if old_size == size:
            return f"model file {name!r} was modified at {when}, same size"
        return f"model file {name!r} was rewritten at {when}, size {old_size:,} → {size:,} bytes"
    return "the model's files changed"


# the changed shards a refusal names before "and N more"
_SHARDS_NAMED = 3


def _dataset_change(
    was: Mapping[str, Any],
    now: Mapping[str, Any],
    facts: tuple[Mapping[str, Any], Mapping[str, Any]],
    split: str,
) -> str:
    """Which of a dataset's files (`epvlm.evaluate.dataset_digest`: the sha256 of
    samples.jsonl and of each shard of the split) differ, with the split's sample counts
    where both states record them."""
    dataset = facts[1].get("dataset")
    parts = []
    if was.get("samples_sha256") != now.get("samples_sha256"):
        before, after = (f.get("split_samples") for f in facts)
        part = "samples.jsonl rewritten"
        if isinstance(before, int) and isinstance(after, int):
            change = f"{before:,} → {after:,}" if before != after else f"still {after:,}"
            part += f" ({change} {plural(after, 'sample')} in split {split!r})"
        parts.append(part)
    shards = [k for k in [*now, *(k for k in was if k not in now)] if k != "samples_sha256"]
    changed = []
    for name in shards:
        if was.get(name) != now.get(name):
            how = "added" if name not in was else "removed" if name not in now else "rewritten"
            changed.append(f"{name} {how}")
    if len(changed) > _SHARDS_NAMED + 1:
        changed[_SHARDS_NAMED:] = [f"{len(changed) - _SHARDS_NAMED} more shards changed"]
    parts += changed
    named = f"dataset {dataset!r}" if isinstance(dataset, str) else "the dataset"
    return f"{named} was rebuilt or extended since the run stopped: {'; '.join(parts)}"


def _was_now(old: Mapping[str, Any], new: Mapping[str, Any], key: str) -> str:
    """``"was 16, now 8"`` for ``key``; a value one side lacks (a state written by a version
    that did not record it) is "not recorded", not None, which a setting may be."""
    was = repr(old[key]) if key in old else "not recorded"
    now = repr(new[key]) if key in new else "not recorded"
    return f"was {was}, now {now}"


def read_partial_answers(out_dir: str | Path) -> list[dict[str, Any]]:
    """The step records of `PARTIAL_ANSWERS` in ``out_dir`` (none when it is missing), one per
    finished batch and configuration: ``start`` (the batch's first sample), ``selector``,
    ``keep``, ``answers`` (the per-answer records of samples.jsonl) and ``state`` (the
    `state_digest` of the run's settings; absent from lines written before it was recorded).

    A last line that a killed run left torn (no line end, or not JSON) is dropped from the
    file, so appending goes on after the last whole record; a damaged line before it is
    refused."""
    from eventsim.errors import OutputExistsError

    path = Path(out_dir) / PARTIAL_ANSWERS
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    keep = len(data) - len(lines[-1])  # bytes up to the last line end
    lines = lines[:-1]
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            ok = isinstance(record, dict) and isinstance(record.get("answers"), list)
            ok = ok and all(k in record for k in ("start", "selector", "keep"))
        except ValueError:
            ok = False
        if ok:
            records.append(record)
            continue
        if number < len(lines):
            raise OutputExistsError(
                f"{str(path)!r} line {number} is not a record of finished answers; {_WAYS_OUT}"
            )
        keep -= len(line) + 1
    if keep < len(data):
        with open(path, "r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
    return records


class PartialAnswers:
    """Appends finished answers to `PARTIAL_ANSWERS` in ``out_dir``, each batch and
    configuration as one line, flushed to the disk before the next starts; the folder, and
    `PARTIAL_STATE` with ``state``, are written with the first line."""

    def __init__(self, out_dir: str | Path, state: Mapping[str, Any]) -> None:
        self.out_dir = Path(out_dir)
        self.state = state
        self._file: Any = None
        self._digest = state_digest(state)
        # answers on the disk, counted as each line is flushed: a Ctrl-C held back while one is
        # written is raised in `append` after it, and the caller's count never sees that line
        self.written = 0

    def append(self, start: int, selector: str, keep: float, answers: Sequence[Any]) -> None:
        from eventsim.outputs import sigint_deferred

        # the run's settings digest on every line: a lost or damaged `PARTIAL_STATE` can be
        # rebuilt from answers that prove whose they are (`rebuild_partial_state`)
        line = json.dumps(
            {
                "start": start,
                "selector": selector,
                "keep": keep,
                "state": self._digest,
                "answers": answers,
            }
        )
        # a Ctrl-C waits for the line's end, and for the state that goes with the first (a
        # kill can still tear a line: `read_partial_answers` drops it)
        with sigint_deferred():
            if self._file is None:
                self._open()
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self.written += len(answers)

    def _open(self) -> None:
        from eventsim.outputs import publish_text, remove_path, remove_stale_temps

        out = self.out_dir
        created = next((p for p in reversed((out, *out.parents)) if not p.exists()), None)
        out.mkdir(parents=True, exist_ok=True)
        try:
            state_path = out / PARTIAL_STATE
            if read_partial_state(out) != json.loads(json.dumps(self.state)):
                remove_stale_temps(state_path)  # left by a killed run
                publish_text(state_path, json.dumps(self.state, indent=1) + "\n")
            self._file = open(out / PARTIAL_ANSWERS, "a", encoding="utf-8")
        except BaseException:
            if created is not None:
                remove_path(created)
            raise

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def remove_partial(out_dir: str | Path) -> None:
    """Delete the unfinished-evaluation files of ``out_dir`` (`PARTIAL_FILES`)."""
    for name in PARTIAL_FILES:
        (Path(out_dir) / name).unlink(missing_ok=True)


# Held by the process evaluating into a results folder, so that a second one cannot interleave
# its answers with the first's (see `lock_results_folder`)
EVAL_LOCK = ".epvlm-eval.lock"


class ResultsFolderLock:
    """The exclusive lock of `lock_results_folder`; `release` (or leaving a ``with`` block)
    gives it up. ``guarded`` is False when the filesystem could not lock.

    The lock file is a `LockFile`: a child forked while it is held (DataLoader workers, a
    library's worker) closes its copy as it starts, so it cannot keep the folder locked after
    this process lets go."""

    def __init__(self, out_dir: Path, lock: LockFile | None, created: Path | None) -> None:
        self.out_dir = out_dir
        self.guarded = lock is not None
        self._lock = lock
        self._created = created
        self._pid = os.getpid()

    def release(self) -> None:
        """Remove the lock file (while still holding it, so a process waiting for it cannot
        lock a file that is gone) and unlock; a folder the lock created goes again when
        nothing was written into it. Calling it again does nothing, and so does calling it
        in a child forked while it was held: the lock file and the folder are the parent's,
        which still holds them."""
        if os.getpid() != self._pid:
            return
        lock, self._lock = self._lock, None
        if lock is not None:
            try:
                if _same_file(lock.fd, self.out_dir / EVAL_LOCK):
                    (self.out_dir / EVAL_LOCK).unlink()
            finally:
                lock.close()
        created, self._created = self._created, None
        if created is not None:
            for folder in (self.out_dir, *self.out_dir.parents):
                try:
                    folder.rmdir()
                except OSError:
                    break
                if folder == created:
                    break

    def __enter__(self) -> ResultsFolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _holder(fd: int) -> str:
    """``" (pid N)"``, ``" (pid N on host H)"`` from another host, or ``""`` when the lock
    file does not say (its holder may not have written it yet)."""
    try:
        record = json.loads(os.pread(fd, 4096, 0))
        pid, host = int(record["pid"]), str(record.get("host", ""))
    except (OSError, ValueError, TypeError, KeyError):
        return ""
    if host and host != socket.gethostname():
        return f" (pid {pid} on host {host})"
    return f" (pid {pid})"


def lock_results_folder(out_dir: str | Path) -> ResultsFolderLock:
    """Lock ``out_dir`` for one evaluation, creating the folder when needed: an exclusive
    ``flock`` on `EVAL_LOCK` there, which also names this process.

    Another process holding it raises `ResultsFolderInUseError` at once, naming the folder
    and that process, and changes nothing. The lock belongs to the open file, so the system
    drops it whenever the process ends (a crash or a kill included): a lock file left behind
    does not block the next run. Where the filesystem has no file locks (some NFS mounts) the
    evaluation is not refused: a `FolderLockWarning` says it runs unguarded, and the returned
    lock has ``guarded`` False. A folder or lock file that cannot be created (read-only,
    permission) raises `ResultsFolderLockError` naming the folder."""
    out = Path(out_dir)
    created = next((p for p in reversed((out, *out.parents)) if not p.exists()), None)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_lock(out, exc) from None
    path = out / EVAL_LOCK
    while True:
        try:
            lock = LockFile(path)
        except OSError as exc:
            # no lock held: release only removes the folders this call created
            ResultsFolderLock(out, None, created).release()
            raise _cannot_lock(out, exc) from None
        try:
            locked = try_lock(lock.fd)
        except LocksUnsupported as exc:
            lock.close()
            path.unlink(missing_ok=True)
            return _unguarded(out, created, exc.strerror or str(exc))
        except OSError:
            lock.close()
            raise
        if not locked:
            holder = _holder(lock.fd)
            lock.close()
            raise ResultsFolderInUseError(
                f"results folder {str(out)!r} is in use by another epvlm eval{holder}; wait "
                "for it to end or pick another output folder"
            )
        # the holder before us removes the file as it lets go: ours may be that unlinked one
        if _same_file(lock.fd, path):
            break
        lock.close()
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
    held = ResultsFolderLock(out, lock, created)
    try:
        os.ftruncate(lock.fd, 0)
        os.pwrite(lock.fd, (record + "\n").encode(), 0)
    except OSError as exc:
        # a full disk: the eval could not write its answers either; let go of the lock now
        held.release()
        raise _cannot_lock(out, exc) from None
    return held


def _cannot_lock(out: Path, exc: OSError) -> ResultsFolderLockError:
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        from eventsim.outputs import describe_os_error

        # a file where the folder, or one above it, should be: "(File exists)" named no file
        return ResultsFolderLockError(
            f"results folder {str(out)!r} cannot be created ({describe_os_error(exc)}); pick "
            "another output folder"
        )
    return ResultsFolderLockError(
        f"cannot create the lock file {EVAL_LOCK} in results folder {str(out)!r} "
        f"({exc.strerror or exc}); epvlm eval writes there, so pick a folder you can write to"
    )


def _unguarded(out: Path, created: Path | None, why: str) -> ResultsFolderLock:
    warnings.warn(
        FolderLockWarning(
            f"results folder {str(out)!r} cannot be locked ({why}); evaluating without the "
            "guard against a second epvlm eval writing into it at the same time"
        ),
        stacklevel=3,
    )
    return ResultsFolderLock(out, None, created)


def json_ready(value: Any) -> Any:
    """``value`` with every non-finite float (an undefined ratio, an interval of no answers) as
    None, for results.json and ``epvlm eval --json``: standard JSON has no NaN, and strict
    parsers (JavaScript's JSON.parse, serde_json, Go's encoding/json) refuse the file."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """The rows of an evaluation's results.json, ``path`` being the file or the folder holding
    it (``epvlm eval --output``'s, ``epvlm demo``'s): what `aggregate` returned, each undefined
    value (nan) read as None, as the file stores it (`json_ready`). The tables and plots here
    take them. A missing or unreadable file, or one that holds no rows, is a
    `epvlm.errors.ResultsFileError`."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsFileError(
            f"{str(file)!r} does not exist; expected the results.json of an epvlm eval, or the "
            "folder holding it"
        ) from None
    except UnicodeDecodeError:
        raise ResultsFileError(f"{str(file)!r} is not a UTF-8 text file; expected JSON") from None
    except json.JSONDecodeError as exc:
        raise ResultsFileError(
            f"{str(file)!r} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except OSError as exc:
        raise ResultsFileError(f"cannot read {str(file)!r}: {exc.strerror or exc}") from None
    # an empty list too: epvlm eval writes a row per configuration, and a table of none is blank
    if (
        not isinstance(data, list)
        or not data
        or not all(isinstance(r, dict) and "selector" in r and "keep" in r for r in data)
    ):
        raise ResultsFileError(
            f"{str(file)!r} holds no evaluation rows; expected a JSON list of objects with "
            "'selector' and 'keep', as epvlm eval writes"
        )
    return data


def write_eval_outputs(
    out_dir: str | Path,
    rows: Sequence[Mapping[str, Any]],
    samples: Iterable[Mapping[str, Any]],
    title: str,
    note: str,
) -> None:
    """Write `RESULT_FILES` into ``out_dir`` together: each is written to a temporary folder
    first and moved in place, so an interrupted run leaves the earlier set intact."""
    from eventsim.outputs import (
        publish,
        remove_path,
        remove_stale_temps,
        sigint_deferred,
        temp_path,
    )

    out_dir = Path(out_dir)
    # an output folder this call creates goes again if the set is never published
    created = next((p for p in reversed((out_dir, *out_dir.parents)) if not p.exists()), None)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out_dir / "results")  # left by killed runs
    tmp = temp_path(out_dir / "results")
    tmp.mkdir()
    published = False
    try:
        (tmp / "results.json").write_text(
            json.dumps(json_ready(rows), indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        with open(tmp / "samples.jsonl", "w", encoding="utf-8") as f:
            for s in samples:
                f.write(json.dumps(json_ready(s), allow_nan=False) + "\n")
        (tmp / "table.md").write_text(
            f"# {title}\n\n{note}\n\n" + results_table(rows), encoding="utf-8"
        )
        plot_accuracy_vs_flops(rows, tmp / "accuracy_vs_flops.png", title)
        # all files or none: a Ctrl-C between two renames waits for the last (an earlier one
        # stops the first `publish`)
        with sigint_deferred():
            for name in RESULT_FILES:
                publish(tmp / name, out_dir / name)
            published = True
    finally:
        remove_path(tmp)
        if not published and created is not None:
            remove_path(created)
