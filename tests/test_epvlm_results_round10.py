"""Round 10: a newcomer's walk through `epvlm` results.

- ``epvlm eval --selector event,edges,random,downsample,center`` wrote no event − center
  comparison: `epvlm.results.PAIRS` was a fixed list of downsample, random and edges.
- The demo report gave two 95 % intervals for one comparison on one set of questions: the
  bootstrap seed came from the cell's name, so "Per question type" (pattern) and "Detail vs
  other" (detail, every detail question a pattern question) resampled differently.
- The unreadable-answers warning said "21 of 24 answers (87.5 %) in every configuration", which
  read as each configuration's count; it was the sum over all six.
- README's "98.7–100 % on the pattern" came from two 2,100-question builds; the default demo,
  the run a reader makes, gives 98.1 % on camera-motion pattern questions, and README did not
  say which run each figure came from.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from epvlm.demo.analysis import headline, summarize
from epvlm.demo.report import report_tables
from epvlm.evaluate import unreadable_answers_warning
from epvlm.results import (
    PAIRS,
    aggregate,
    find_row,
    json_ready,
    paired_table,
    results_table,
)

ROOT = Path(__file__).resolve().parents[1]

# per question: right (1) or wrong (0) under each configuration, drawn once with a fixed seed;
# 60 questions, on which event and each baseline differ on many (the bootstrap's intervals,
# not the score ones)
N = 60
_RNG = random.Random(10)
OUTCOMES = {
    (sel, keep): [int(_RNG.random() < share) for _ in range(N)]
    for sel, keep, share in [
        ("dense", 1.0, 0.95),
        ("event", 0.5, 0.85),
        ("downsample", 0.5, 0.4),
        ("random", 0.5, 0.6),
        ("edges", 0.5, 0.55),
        ("center", 0.5, 0.3),
    ]
}


def _samples(outcomes=OUTCOMES, types=lambda i: "pattern" if i % 2 else "color") -> list[dict]:
    return [
        {
            "id": f"q{i:02d}",
            "selector": sel,
            "keep": keep,
            "correct": bool(ok),
            "question_type": types(i),
            "target_motion": ("moving", "camera", "static")[i % 3],
            "flops": 200 if sel == "dense" else 100,
            "latency_s": 0.01,
            "kept_tokens": 64 if sel == "dense" else 32,
            "total_tokens": 64,
        }
        for (sel, keep), values in outcomes.items()
        for i, ok in enumerate(values)
    ]


# ----------------------------------------------------------------------------- 1: center


def test_event_rows_compare_with_center_and_every_other_baseline_in_a_fixed_order():
    from epvlm.results import event_pairs

    samples = _samples()
    event = find_row(aggregate(samples), "event", 0.5)
    assert list(event["paired"]) == ["downsample", "random", "edges", "center"]
    center = event["paired"]["center"]
    right = {sel: sum(v) for (sel, _), v in OUTCOMES.items()}
    assert center["n"] == N
    assert center["diff"] == pytest.approx((right["event"] - right["center"]) / N)
    lo, hi = center["diff_ci95"]
    assert lo < center["diff"] < hi
    # every group cell too, and the order does not follow the samples'
    for cell in event["groups"]["question_type"].values():
        assert list(cell["paired"]) == ["downsample", "random", "edges", "center"]
    shuffled = list(reversed(samples))
    assert list(find_row(aggregate(shuffled), "event", 0.5)["paired"]) == list(event["paired"])
    assert event_pairs(["center", "event", "dense", "random"]) == [
        ("event", "random"),
        ("event", "center"),
    ]
    assert event_pairs(["random", "downsample"]) == []
    assert PAIRS[-1] == ("event", "center")


def test_center_pair_reaches_the_tables_and_the_demo_report():
    rows = aggregate(_samples())
    table = paired_table(rows)
    heads = [line.split(" | ")[0] for line in table.splitlines()[2:]]
    assert heads == [
        "| event − downsample",
        "| event − random",
        "| event − edges",
        "| event − center",
    ]
    summary = summarize(_samples())
    assert ["event", "center"] in summary["pairs"]
    assert "| event − center | 0.5 |" in report_tables(summary)


def test_results_written_before_center_was_compared_still_tabulate():
    """0.2.5's results.json (no version field; rows as `aggregate` writes them) has event rows
    whose ``paired`` holds downsample, random and edges only: the tables read it as it is."""
    old_pairs = [("event", "downsample"), ("event", "random"), ("event", "edges")]
    old = json.loads(json.dumps(json_ready(aggregate(_samples(), pairs=old_pairs))))
    assert "center" not in find_row(old, "event", 0.5)["paired"]
    table = paired_table(old)
    assert "event − edges" in table and "event − center" not in table
    assert "event − center" not in paired_table(old, "question_type")
    assert results_table(old).count("\n|") == len(old) + 1


# ----------------------------------------------------------------------------- 2: seeds


def test_one_set_of_questions_gives_one_interval_wherever_it_appears():
    summary = summarize(_samples())
    assert summary["detail_types"] == ["pattern"]
    event = find_row(summary["rows"], "event", 0.5)
    pattern = event["groups"]["question_type"]["pattern"]
    detail = event["groups"]["question_kind"]["detail"]
    assert pattern["n"] == detail["n"] == N // 2
    for other in ("downsample", "random", "edges", "center"):
        assert pattern["paired"][other] == detail["paired"][other], other
    assert pattern["accuracy_vs_dense_ci95"] == detail["accuracy_vs_dense_ci95"]
    assert pattern["diff_vs_dense_ci95"] == detail["diff_vs_dense_ci95"]
    # the headline quotes the interval the per-type table shows
    lo, hi = pattern["paired"]["downsample"]["diff_ci95"]
    assert (
        f"(paired 95 % CI {100 * lo:+.1f} points to {100 * hi:+.1f} points;" in headline(summary)[0]
    )
    per_type = paired_table(summary["rows"], "question_type")
    assert f"({100 * lo:+.1f} to {100 * hi:+.1f})" in per_type


def test_a_row_of_one_question_type_and_its_type_cell_share_intervals():
    rows = aggregate(_samples(types=lambda i: "pattern"))
    event = find_row(rows, "event", 0.5)
    cell = event["groups"]["question_type"]["pattern"]
    assert event["paired"] == cell["paired"]
    assert event["accuracy_vs_dense_ci95"] == cell["accuracy_vs_dense_ci95"]


def test_intervals_do_not_depend_on_the_order_of_the_samples():
    samples = _samples()
    shuffled = samples[:]
    random.Random(3).shuffle(shuffled)
    a = find_row(aggregate(samples), "event", 0.5)
    b = find_row(aggregate(shuffled), "event", 0.5)
    assert a["paired"] == b["paired"] and a["groups"] == b["groups"]


def test_results_are_the_same_bytes_under_any_string_hash_seed(tmp_path):
    """Second look: the pairs come from a set of selector names and the seeds from sha256, so
    nothing may follow Python's per-process string hashing; two processes with other
    PYTHONHASHSEEDs (and baselines of other names, listed after PAIRS) write the same JSON."""
    import os
    import subprocess
    import sys

    outcomes = {**OUTCOMES, ("zeta", 0.5): OUTCOMES[("random", 0.5)][::-1]}
    outcomes[("alpha", 0.5)] = OUTCOMES[("edges", 0.5)][::-1]
    (tmp_path / "samples.json").write_text(json.dumps(_samples(outcomes)))
    code = (
        "import json, sys; from epvlm.results import aggregate, json_ready; "
        "rows = aggregate(json.load(open(sys.argv[1]))); "
        "print(json.dumps(json_ready(rows), allow_nan=False))"
    )
    written = []
    # seeds under which CPython 3.11 iterates {'alpha', 'zeta'} in either order
    for seed in ("1", "5"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "samples.json")],
            capture_output=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        written.append(done.stdout)
    assert written[0] == written[1]
    event = find_row(json.loads(written[0]), "event", 0.5)
    assert list(event["paired"]) == ["downsample", "random", "edges", "center", "alpha", "zeta"]


# ----------------------------------------------------------------------------- 3: warning


def _answers(selector: str, keep: float, unparsed: int) -> list[dict]:
    return [
        {
            "id": f"q{i}", "selector": selector, "keep": keep, "correct": i >= unparsed,
            "answer_mode": "choice", "parsed": None if i < unparsed else "A",
            "prediction": "" if i < unparsed else "red",
            "raw_output": "yellow" if i < unparsed else "A",
        }
        for i in range(4)
    ]  # fmt: skip


def _pyproject_filters() -> list[str]:
    """The quoted entries of pyproject's ``filterwarnings`` list."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^filterwarnings = \[(.*?)^\]", text, re.M | re.S)
    assert block, "pyproject.toml has no filterwarnings list"
    return re.findall(r'"([^"]*)"', block.group(1))


def test_the_answers_warning_says_its_counts_add_up_every_configuration():
    configs = [("dense", 1.0), ("event", 0.5), ("event", 0.25)]
    configs += [("random", 0.5), ("random", 0.25), ("downsample", 0.5)]
    samples = [s for i, (sel, keep) in enumerate(configs) for s in _answers(sel, keep, 4 - (i < 3))]
    asked = {f"q{i}": ("Which pattern?", ["stripes", "dots"]) for i in range(4)}
    text = unreadable_answers_warning(samples, asked)
    assert text is not None
    assert text.startswith(
        "21 of 24 answers across all 6 configurations (87.5 %) named no option, and scored "
        "wrong; e.g. 'yellow' to 'Which pattern?'"
    )
    assert "every configuration" not in text
    # pyproject's filter of these warnings in the test run still matches the new words
    ignore = [f for f in _pyproject_filters() if "named no option" in f]
    assert len(ignore) == 1
    _, pattern, category = ignore[0].split(":")[:3]
    assert category == "UserWarning" and re.match(pattern, text)


# ----------------------------------------------------------------------------- 4: README


def _flat(path: str) -> str:
    return " ".join((ROOT / path).read_text(encoding="utf-8").split())


def test_readme_says_which_run_each_demo_figure_comes_from():
    readme, bench = _flat("README.md"), _flat("docs/benchmarks.md")
    builds = re.search(
        r"On two held-out builds of 2,100 questions(?:(?!\. ).)*? keeps ([\d.]+–[\d.]+) %", readme
    )
    assert builds, "README's build figures no longer say they come from the two builds"
    demo = re.search(
        r"The default `make demo` run \(600 questions[^)]*\)(?:(?!\. ).)*? ([\d.]+) % on "
        r"moving-target and ([\d.]+) % on camera-motion pattern questions",
        readme,
    )
    assert demo, "README does not give the default demo's own figures"
    measured = re.search(
        r"The default `epvlm demo` run \(600 questions.*?moving-target detail questions at "
        r"τ = 0\.5, event ([\d.]+) % vs dense.*?camera-motion detail questions event ([\d.]+) %",
        bench,
    )
    assert measured, "docs/benchmarks.md's default-demo paragraph changed"
    assert demo.groups() == measured.groups()
