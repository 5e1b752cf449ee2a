"""``report.md`` of the demo: a thin Markdown writer over `epvlm.results` tables and the
sentences of `epvlm.demo.analysis`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from epvlm.demo.analysis import (
    HEADLINE_KEEP,
    KIND_FIELD,
    SCENARIO_FIELD,
    coverage_scope,
    coverage_table,
    findings,
    headline,
)
from epvlm.results import (
    BOOTSTRAP_MIN_DIFFERING,
    BOOTSTRAP_RESAMPLES,
    CLAIM_ALPHA,
    RESULT_FILES,
    SCORE_MARK,
    SELECTOR_ORDER,
    accuracy_table,
    fmt_ci,
    fmt_keep,
    fmt_pct,
    paired_table,
)
from eventsim._text import plural
from eventsim.outputs import publish_text

__all__ = [
    "BY_SCENARIO_PLOT",
    "BY_TYPE_PLOT",
    "SUMMARY_FILE",
    "demo_files",
    "report_tables",
    "write_report",
]

BY_SCENARIO_PLOT = "accuracy_vs_flops_by_target.png"
BY_TYPE_PLOT = "accuracy_vs_flops_by_question_type.png"
# written by `epvlm.demo.pipeline`
SUMMARY_FILE = "summary.json"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {v}" for v, n in counts.items()) or "none"


def _scenario_counts(summary: Mapping[str, Any]) -> str:
    """Each scenario's questions, and those of none (no single target: a dataset that is no
    build of a target-mode recipe), so that the counts add up to the questions."""
    scenarios = summary.get("scenarios", {})
    untargeted = summary["n_questions"] - sum(scenarios.values())
    counts = _counts(scenarios)
    if untargeted:
        counts += f"; {untargeted} without a single target (in no scenario)"
    return counts


def report_tables(summary: Mapping[str, Any]) -> str:
    """The report's tables: all questions, per scenario, per question type, detail vs other,
    and the paired differences for each of those groupings."""
    rows = summary["rows"]
    scenarios = ", ".join(summary.get("scenarios", {})) or "none"
    sections = [
        ("All questions", None),
        (f"Per scenario ({SCENARIO_FIELD}: {scenarios})", SCENARIO_FIELD),
        ("Per question type", "question_type"),
        (
            f"Detail questions ({', '.join(summary.get('detail_types', [])) or 'none'}) vs other",
            KIND_FIELD,
        ),
        ("Question kind per scenario", f"{KIND_FIELD}+{SCENARIO_FIELD}"),
    ]
    lines: list[str] = []
    for title, group in sections:
        lines += [f"### {title}: accuracy (95 % CI)", "", accuracy_table(rows, group)]
    lines += [
        f"### Paired differences (points, 95 % paired CI; {SCORE_MARK} a score interval)",
        "",
        "Accuracy of `event` minus a baseline at the same τ on the same questions.",
        "",
    ]
    for title, group in sections:
        lines += [f"{title}:", "", paired_table(rows, group, summary.get("pairs", ()))]
    return "\n".join(lines)


def write_report(
    path: Path,
    summary: Mapping[str, Any],
    *,
    model_dir: Path,
    dataset_dir: Path,
    command: str,
    timings: Mapping[str, float],
    previews: Sequence[Mapping[str, Any]],
    model_info: Mapping[str, Any],
    runtime: str = "",
    settings: Mapping[str, Any] | None = None,
) -> Path:
    """Write the report to ``path``. ``settings`` is a row of the evaluation's results.json
    (`epvlm.evaluate.evaluate_dataset`'s), whose split size, limit and versions the report
    names; without it, the data line gives the questions asked alone."""
    rows = summary["rows"]
    base = summary.get("baselines") or {}
    selectors = sorted(
        {r["selector"] for r in rows},
        key=lambda s: SELECTOR_ORDER.index(s) if s in SELECTOR_ORDER else len(SELECTOR_ORDER),
    )
    keeps = sorted({r["keep"] for r in rows if r["selector"] != "dense"}, reverse=True)
    shown = [r["keep"] for r in rows]
    lines = [
        "# EP-VLM demo report",
        "",
        f"Command: `{command}`",
        "",
        # resolved: a path as typed named a folder relative to wherever the demo ran
        f"- Model: `{Path(model_dir).resolve()}` "
        f"({model_info.get('description', 'Qwen2-VL checkpoint')})"
        + (f", run on {runtime}" if runtime else ""),
        *_software(settings),
        f"- Data: `{Path(dataset_dir).resolve()}`, split `test`: "
        f"{_questions(summary['n_questions'], settings)}; scenarios "
        f"({SCENARIO_FIELD}): {_scenario_counts(summary)}; question types: "
        f"{_counts(summary.get('question_types', {}))}",
        f"- Selectors: {', '.join(selectors)}; keep fractions τ: "
        f"{', '.join(fmt_keep(k, shown) for k in keeps)}",
        "- Time: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()),
        "",
        'Accuracy intervals are 95 % Wilson score intervals; "% of dense" intervals and paired '
        "differences are 95 % paired-bootstrap intervals over questions "
        f"({BOOTSTRAP_RESAMPLES} resamples), except where fewer than {BOOTSTRAP_MIN_DIFFERING} "
        "questions were answered differently (or every question was, all one way), where the "
        "bootstrap interval is too narrow, a single point when none differ: there they are "
        "score intervals made for few questions (coverage near 95 %, though not at every n), marked "
        f"{SCORE_MARK} in the tables (Newcombe's for a difference, Bonett and Price's for a "
        "share of dense; a share is one also where the selector answered none right, whose "
        "every resample gives 0 %, and where dense answered so few right that a resample "
        "holding none of them, which has no share and which the bootstrap would drop, is not "
        f"rarer than one in {BOOTSTRAP_RESAMPLES}). The sentences below call a difference "
        "beyond noise "
        "only when its interval excludes 0 and the exact McNemar test of the questions the two "
        f"answered differently agrees (p < {CLAIM_ALPHA:g}), and a share of dense accuracy "
        "beyond the target only when a Wilson bound agrees with its interval: an interval can "
        "exclude 0, or the target, on fewer questions than such a check needs. Where the check "
        "disagrees they say there are too "
        "few to judge when no outcome on so few questions could pass it, and otherwise that the "
        "difference is not beyond noise. FLOPs are analytic (`epvlm.flops`) with each "
        "question's kept image tokens, text tokens and generated tokens. `event`, `random` and "
        "`downsample` keep the same number of image tokens at a given τ.",
        "",
        f"## Headline (τ = {fmt_keep(HEADLINE_KEEP, shown)}, detail questions)",
        "",
        *[f"- {h}" for h in headline(summary)],
        "",
        "## Findings",
        "",
        *[f"- {f}" for f in findings(summary)],
        "",
        "## Accuracy vs FLOPs",
        "",
        "![accuracy vs FLOPs](accuracy_vs_flops.png)",
        "",
        f"![accuracy vs FLOPs by scenario]({BY_SCENARIO_PLOT})",
        "",
        f"![accuracy vs FLOPs by question type]({BY_TYPE_PLOT})",
        "",
        "## Tables",
        "",
        report_tables(summary),
    ]
    coverage = summary.get("coverage")
    if coverage and coverage["rows"]:
        lines += [
            "### Where the kept blocks fall",
            "",
            "Share of the question's target (a disk of its size at the frame time) inside the "
            f"kept blocks, on {coverage_scope(coverage['n_questions'], summary['n_questions'])}:",
            "",
            coverage_table(coverage),
        ]
    if base:
        lines += [
            "Shortcut baselines on the same questions: uniform guess among the choices "
            f"{fmt_pct(base['chance'])}, most frequent answer per question type "
            f"{fmt_pct(base['majority'])} ({fmt_ci(base['majority_ci95'])}).",
            "",
        ]
    if previews:
        lines += [
            "## Preview",
            "",
            "Each strip shows the frame, its events, the blocks `event` and `random` keep over a "
            "heat map of the `event` selector's scores (events per token block, from the lowest "
            "to the highest as the legend below the strip reads; kept blocks outlined green, "
            "dropped ones dimmed and outlined dark red) and the `downsample` image. The GIFs "
            "draw ON events red and OFF events blue over the frame in grey.",
            "",
        ]
        for p in previews:
            lines += [
                f"**{p['title']}**: {p['question']} (choices: {', '.join(p['choices'])}; "
                f"answer: *{p['answer']}*)",
                "",
                f"![{p['title']}]({p['strip']})",
                "",
                f"Events of the {p['window_ms']:g} ms window before the frame: "
                f"[{p['gif']}]({p['gif']}). Answers: "
                + "; ".join(f"{k}: *{v}*" for k, v in p["predictions"].items()),
                "",
            ]
    lines += ["## Files", "", *demo_files(path, dataset_dir, previews), ""]
    publish_text(path, "\n".join(lines))
    return path


def _questions(n: int, settings: Mapping[str, Any] | None) -> str:
    """``24 of 24 questions (limit none)``, or ``24 questions`` without the run's settings."""
    if settings is None or "split_questions" not in settings:
        return f"{n} {plural(n, 'question')}"
    of, limit = settings["split_questions"], settings.get("limit")
    return f"{n} of {of} {plural(of, 'question')} (limit {'none' if limit is None else limit})"


def _software(settings: Mapping[str, Any] | None) -> list[str]:
    """``- Software: epvlm 0.2.8, torch 2.5.1, ...; 1 torch CPU thread``: what the answers and
    latencies depend on beyond the model and data (none without the run's settings)."""
    if settings is None or "versions" not in settings:
        return []
    threads = settings["threads"]
    versions = ", ".join(f"{k} {v}" for k, v in settings["versions"].items())
    return [f"- Software: {versions}; {threads} torch CPU {plural(threads, 'thread')}"]


def demo_files(report: Path, dataset_dir: Path, previews: Sequence[Mapping[str, Any]]) -> list[str]:
    """Markdown bullets naming everything the demo writes beside ``report``: the names come
    from the modules that write them (`epvlm.results.RESULT_FILES`, the plot names above, the
    previews' own file names) and ``data/`` only where the split was built into the folder."""
    names = ", ".join(f"`{name}`" for name in RESULT_FILES)
    lines = [
        f"- `{report.name}`: this report",
        f"- {names}: written by `epvlm.evaluate.evaluate_dataset` (`epvlm eval`); the rows of "
        "`results.json` are the format of `epvlm.results`",
        f"- `{SUMMARY_FILE}`: the numbers of this report (the same rows, grouped also by detail vs "
        "other questions, plus baselines and target coverage)",
        f"- `{BY_SCENARIO_PLOT}`, `{BY_TYPE_PLOT}`: accuracy vs FLOPs per scenario and per "
        "question type",
    ]
    for p in previews:
        lines.append(
            f"- `{p['strip']}`, `{p['gif']}`: the preview strip and events GIF of {p['title']}"
        )
    data = report.parent / "data"
    if Path(dataset_dir).resolve() == data.resolve():
        lines.append(
            f"- `{data.name}/`: the built test split (`eventsim build` output: `dataset.json`, "
            "samples and shards), reused by a later run"
        )
    return lines
