"""`epvlm demo` end to end on a tiny split (fast mode), and the report's statistics."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("matplotlib")

from epvlm.cli import demo_main as main
from epvlm.demo import DEFAULT_MODEL, KEEPS, SELECTORS, findings, headline, summarize
from epvlm.results import find_row

N_QUESTIONS = 4


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    rc = main(["-o", str(out), "--limit", str(N_QUESTIONS), "--no-progress"])
    assert rc == 0
    return out


def test_demo_writes_a_report_with_every_selector_and_ratio(demo_run, capsys):
    out = demo_run
    for name in (
        "report.md",
        "results.json",
        "samples.jsonl",
        "table.md",
        "summary.json",
        "accuracy_vs_flops.png",
        "accuracy_vs_flops_by_target.png",
        "accuracy_vs_flops_by_question_type.png",
    ):
        assert (out / name).is_file(), name
    rows = json.loads((out / "results.json").read_text())
    configs = {(r["selector"], r["keep"]) for r in rows}
    expected = {("dense", 1.0)} | {(s, k) for s in SELECTORS if s != "dense" for k in KEEPS}
    assert configs == expected
    assert all(r["n"] == N_QUESTIONS for r in rows)
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == N_QUESTIONS * len(expected)

    report = (out / "report.md").read_text()
    # float32 by default on any device (the documented figures are float32 ones), and said
    assert all(r["dtype"] == "float32" for r in rows)
    assert f"run on {rows[0]['device']}, float32" in report
    for sel, keep in expected:
        assert f"| {sel} | {keep:g} |" in report, (sel, keep)
    for heading in (
        "## Headline",
        "## Findings",
        "### Per scenario (target_motion",
        "### Per question type",
        "### Paired differences",
    ):
        assert heading in report
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["selector"], r["keep"]) for r in summary["rows"]] == [
        (r["selector"], r["keep"]) for r in rows
    ]
    for r in summary["rows"]:
        for value, n in summary["scenarios"].items():
            assert f"{value} (n = {n})" in report
            assert r["groups"]["target_motion"][value]["n"] == n
    assert "accuracy_vs_flops.png" in report
    # the preview images the report links to exist (PNG strips and event GIFs)
    for png in sorted(out.glob("preview_*")):
        assert png.name in report
    assert any(out.glob("preview_*.png")) and any(out.glob("preview_*_events.gif"))
    # FLOPs fall with the keep fraction for the sparse selectors
    by = {(r["selector"], r["keep"]): r for r in rows}
    for sel in ("event", "random", "downsample"):
        flops = [by[(sel, k)]["flops_vs_dense"] for k in sorted(KEEPS)]
        assert flops == sorted(flops) and flops[-1] < 1.0


def test_demo_refuses_to_overwrite_and_reuses_the_split(demo_run, capsys):
    out = demo_run
    assert main(["-o", str(out), "--limit", str(N_QUESTIONS), "--no-progress"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["-o", str(out), "--limit", "2", "--no-progress", "--force"]) == 0
    printed = capsys.readouterr().out
    assert str(out / "report.md") in printed
    assert "dataset reused" in (out / "report.md").read_text()
    rows = json.loads((out / "results.json").read_text())
    assert {r["n"] for r in rows} == {2}


def test_demo_bad_arguments(tmp_path, capsys):
    assert main(["-o", str(tmp_path / "x"), "--limit", "0", "--no-progress"]) == 2
    assert "limit" in capsys.readouterr().err
    assert main(["-o", str(tmp_path / "y"), "--model", str(tmp_path), "--no-progress"]) == 1
    assert "config.json" in capsys.readouterr().err
    assert main(["--limit", "many"]) == 2


def test_shipped_model_is_the_default():
    assert (DEFAULT_MODEL / "config.json").is_file()


# ----------------------------------------------------------------------------- statistics


def _fake_samples(acc: dict[tuple[str, float], list[int]], motions: list[str]):
    samples = []
    for (sel, keep), outcomes in acc.items():
        for i, ok in enumerate(outcomes):
            samples.append(
                {
                    "id": f"q{i}",
                    "selector": sel,
                    "keep": keep,
                    "correct": bool(ok),
                    "question_type": "color" if i % 2 else "shape",
                    "target_motion": motions[i],
                    "flops": 100 if sel == "dense" else 50,
                    "latency_s": 0.01,
                    "kept_tokens": 64 if sel == "dense" else 32,
                    "total_tokens": 64,
                }
            )
    return samples


def test_summary_and_findings_follow_the_numbers():
    motions = ["moving"] * 6 + ["static"] * 4
    acc = {
        ("dense", 1.0): [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        ("event", 0.5): [1, 1, 1, 1, 1, 1, 0, 0, 1, 0],
        ("random", 0.5): [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    }
    questions = {f"q{i}": {"choices": ["a", "b", "c", "d"], "answer": "a" if i < 7 else "b",
                           "question_type": "color" if i % 2 else "shape"} for i in range(10)}  # fmt: skip
    s = summarize(_fake_samples(acc, motions), questions)
    assert s["scenarios"] == {"moving": 6, "static": 4}
    event = find_row(s["rows"], "event", 0.5)
    assert event["groups"]["target_motion"]["moving"]["accuracy"] == 1.0
    assert event["groups"]["target_motion"]["static"]["accuracy"] == 0.25
    assert event["accuracy_vs_dense"] == 0.7
    assert event["flops_vs_dense"] == 0.5
    assert s["baselines"]["chance"] == 0.25
    text = "\n".join(findings(s))
    # random is as good on moving targets and better on static ones: both must be said
    assert "`random` at τ = 0.5 matches or beats `event` on moving-target questions" in text
    assert "`random` at τ = 0.5 matches or beats `event` on static-target questions" in text
    assert "25.0 % vs 100.0 % dense" in text  # the static-target loss is reported
    assert "keeps 100.0 % of dense accuracy on moving-target questions" in text


def test_summary_needs_a_dense_configuration():
    from eventsim.errors import ParameterError

    with pytest.raises(ParameterError, match="dense"):
        summarize(_fake_samples({("event", 0.5): [1, 0]}, ["moving", "static"]))


def _detail_samples():
    """Ten questions: even ones ask a detail ('pattern'), odd ones the colour; half move, half
    come from camera motion. event answers every detail question, downsample none, random half."""
    acc = {
        ("dense", 1.0): [1] * 10,
        ("event", 0.5): [1] * 10,
        ("downsample", 0.5): [0 if i % 2 == 0 else 1 for i in range(10)],
        ("random", 0.5): [0 if i % 4 == 0 else 1 for i in range(10)],
    }
    samples = _fake_samples(acc, ["moving"] * 5 + ["camera"] * 5)
    for s in samples:
        s["question_type"] = "pattern" if int(s["id"][1:]) % 2 == 0 else "color"
    return samples


def test_headline_reports_event_minus_baselines_on_detail_questions():
    s = summarize(_detail_samples())
    assert s["detail_types"] == ["pattern"] and s["scenarios"] == {"camera": 5, "moving": 5}
    event = find_row(s["rows"], "event", 0.5)
    detail = event["groups"]["question_kind"]["detail"]
    assert detail["n"] == 5
    assert detail["paired"]["downsample"]["diff"] == 1.0
    assert math.isclose(detail["paired"]["random"]["diff"], 0.6)
    text = "\n".join(headline(s))
    assert "On all 5 detail questions (pattern)" in text
    # 5 of 5 answered differently: too few for a claim (the claim on enough questions:
    # tests/test_epvlm_followups5.py)
    assert "event − downsample = +100.0 points" in text
    assert "too few questions answered differently to judge: 5 of 5" in text
    assert "event − random = +60.0 points" in text
    assert "camera-motion detail questions" in text and "moving-target detail questions" in text
    # the detail types come from the caller when given
    s = summarize(_detail_samples(), detail_types=["color"])
    assert "On all 5 detail questions (color)" in "\n".join(headline(s))
    assert "event − downsample = +0.0 points" in "\n".join(headline(s))


def test_headline_says_when_there_are_no_detail_questions_and_when_downsample_wins():
    samples = [s for s in _detail_samples() if s["question_type"] == "color"]
    assert "no detail questions" in "\n".join(headline(summarize(samples)))
    unlearned = _detail_samples()
    for s in unlearned:
        if s["question_type"] == "pattern":
            s["correct"] = False
    questions = {f"q{i}": {"choices": ["a", "b", "c", "d"], "answer": "a",
                           "question_type": "pattern" if i % 2 == 0 else "color"} for i in range(10)}  # fmt: skip
    text = "\n".join(headline(summarize(unlearned, questions)))
    assert "this model has not learned them" in text
    assert "not learned" not in "\n".join(headline(summarize(_detail_samples(), questions)))
    flipped = _detail_samples()
    for s in flipped:
        if s["selector"] == "downsample":
            s["correct"] = True
        elif s["selector"] == "event" and s["question_type"] == "pattern":
            s["correct"] = False
    text = "\n".join(headline(summarize(flipped)))
    assert "event − downsample = -100.0 points" in text and "`downsample` wins" not in text
