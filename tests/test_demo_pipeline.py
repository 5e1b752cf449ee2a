"""`eventsim demo` end to end on a tiny split (fast mode), and the report's statistics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("matplotlib")

from epvlm.demo import (
    DEFAULT_MODEL,
    KEEPS,
    SELECTORS,
    findings,
    paired_bootstrap,
    summarize,
    wilson,
)
from eventsim.cli.demo import main

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
    for sel, keep in expected:
        assert f"| {sel} | {keep:g} |" in report, (sel, keep)
    for heading in ("## Findings", "### Moving vs static target", "### Per question type"):
        assert heading in report
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
    assert main(["-o", str(tmp_path / "x"), "--limit", "0", "--no-progress"]) == 1
    assert "limit" in capsys.readouterr().err
    assert main(["-o", str(tmp_path / "y"), "--model", str(tmp_path), "--no-progress"]) == 1
    assert "config.json" in capsys.readouterr().err
    assert main(["--limit", "many"]) == 2


def test_shipped_model_is_the_default():
    assert (DEFAULT_MODEL / "config.json").is_file()


# ----------------------------------------------------------------------------- statistics


def test_wilson_interval_known_values():
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and math.isclose(hi, 0.2775, abs_tol=1e-3)
    lo, hi = wilson(50, 100)
    assert math.isclose(lo, 0.4038, abs_tol=1e-3) and math.isclose(hi, 0.5962, abs_tol=1e-3)
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_paired_bootstrap_ratio_and_difference():
    a = np.array([1, 1, 1, 0] * 25)
    same = paired_bootstrap(a, a)
    assert same["ratio"] == (1.0, 1.0) and same["diff"] == (0.0, 0.0)
    b = np.ones(100)
    boot = paired_bootstrap(a, b)
    assert boot["ratio"][0] < 0.75 < boot["ratio"][1] < 1.0
    assert boot["diff"][1] < 0


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
    assert (s["n_moving"], s["n_static"]) == (6, 4)
    event = next(c for c in s["configs"] if c["selector"] == "event")
    assert event["subsets"]["moving"]["accuracy"] == 1.0
    assert event["subsets"]["static"]["accuracy"] == 0.25
    assert event["subsets"]["all"]["vs_dense"] == 0.7
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
