"""`epvlm.results`: intervals, the row format of results.json, tables and plots."""

from __future__ import annotations

import math

import numpy as np
import pytest

from epvlm.results import (
    accuracy_table,
    aggregate,
    find_row,
    paired_bootstrap,
    paired_table,
    results_table,
    wilson_interval,
)


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and math.isclose(hi, 0.2775, abs_tol=1e-3)
    lo, hi = wilson_interval(50, 100)
    assert math.isclose(lo, 0.4038, abs_tol=1e-3) and math.isclose(hi, 0.5962, abs_tol=1e-3)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_paired_bootstrap_ratio_and_difference():
    a = np.array([1, 1, 1, 0] * 25)
    same = paired_bootstrap(a, a)
    assert same["ratio"] == (1.0, 1.0) and same["diff"] == (0.0, 0.0)
    b = np.ones(100)
    boot = paired_bootstrap(a, b)
    assert boot["ratio"][0] < 0.75 < boot["ratio"][1] < 1.0
    assert boot["diff"][1] < 0


def _samples(outcomes: dict[tuple[str, float], list[int]]) -> list[dict]:
    out = []
    for (sel, keep), values in outcomes.items():
        for i, ok in enumerate(values):
            out.append(
                {
                    "id": f"q{i}",
                    "selector": sel,
                    "keep": keep,
                    "correct": bool(ok),
                    "question_type": "pattern" if i < 6 else "color",
                    "target_motion": "moving" if i % 2 else "camera",
                    "flops": 200 if sel == "dense" else 100,
                    "latency_s": 0.02,
                    "kept_tokens": 64 if sel == "dense" else 32,
                    "total_tokens": 64,
                }
            )
    return out


OUTCOMES = {
    ("dense", 1.0): [1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
    ("event", 0.5): [1, 1, 1, 1, 1, 0, 1, 1, 0, 0],
    ("downsample", 0.5): [0, 0, 0, 1, 0, 0, 1, 1, 0, 0],
    ("random", 0.5): [1, 0, 1, 0, 1, 0, 1, 1, 0, 0],
}


def test_aggregate_rows_cells_and_paired_differences():
    rows = aggregate(_samples(OUTCOMES))
    assert [(r["selector"], r["keep"]) for r in rows] == [
        ("dense", 1.0), ("event", 0.5), ("random", 0.5), ("downsample", 0.5)
    ]  # fmt: skip
    dense, event = find_row(rows, "dense", 1.0), find_row(rows, "event", 0.5)
    assert (dense["n"], dense["correct"], dense["accuracy"]) == (10, 8, 0.8)
    assert dense["accuracy_vs_dense"] == 1.0 and "paired" not in dense
    assert event["accuracy"] == 0.7 and math.isclose(event["accuracy_vs_dense"], 0.7 / 0.8)
    assert event["accuracy_ci95"] == list(wilson_interval(7, 10))
    assert event["flops_vs_dense"] == 0.5 and event["kept_tokens"] == 32
    lo, hi = event["diff_vs_dense_ci95"]
    assert lo <= -0.1 <= hi
    assert math.isclose(event["paired"]["downsample"]["diff"], 0.4)
    assert math.isclose(event["paired"]["random"]["diff"], 0.2)
    assert event["paired"]["downsample"]["diff_ci95"][0] > 0
    pattern = event["groups"]["question_type"]["pattern"]
    assert (pattern["n"], pattern["correct"]) == (6, 5)
    assert math.isclose(pattern["paired"]["downsample"]["diff"], 4 / 6)
    assert set(event["groups"]["target_motion"]) == {"camera", "moving"}
    assert event["per_type"] == {"color": 0.5, "pattern": 5 / 6}
    # only the first selector of a pair carries the comparison
    assert "paired" not in find_row(rows, "downsample", 0.5)


def test_aggregate_crossed_groups_and_seeds_independent_of_other_cells():
    samples = _samples(OUTCOMES)
    rows = aggregate(samples, group_by=[("question_type", "target_motion")])
    cells = find_row(rows, "event", 0.5)["groups"]["question_type+target_motion"]
    assert set(cells) == {"pattern/camera", "pattern/moving", "color/camera", "color/moving"}
    assert sum(c["n"] for c in cells.values()) == 10
    alone = aggregate(samples, [("dense", 1.0), ("event", 0.5), ("downsample", 0.5)])
    full = aggregate(samples)
    a, b = find_row(alone, "event", 0.5), find_row(full, "event", 0.5)
    assert a["paired"]["downsample"] == b["paired"]["downsample"]
    assert a["accuracy_vs_dense_ci95"] == b["accuracy_vs_dense_ci95"]
    assert "diff_ci95" not in aggregate(samples, bootstrap=False)[1]["paired"]["downsample"]


def test_tables_hold_every_row_and_group_value():
    rows = aggregate(_samples(OUTCOMES))
    overall = accuracy_table(rows)
    assert "| event | 0.5 | 10 | 70.0 % (" in overall
    by_type = accuracy_table(rows, "question_type")
    assert "color (n = 4)" in by_type and "pattern (n = 6)" in by_type
    diffs = paired_table(rows, "question_type")
    # colour: 2/4 for both, alike on every question; pattern: 5/6 vs 1/6 (score intervals:
    # too few answered differently)
    assert "| event − downsample | 0.5 | +0.0 points (-35.0 to +35.0)† | +66.7 points" in diffs
    assert "| event − random | 0.5 |" in paired_table(rows)
    assert results_table(rows).count("\n|") == len(rows) + 1


def test_plots_write_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    from epvlm.results import plot_accuracy_vs_flops, plot_accuracy_vs_flops_by

    rows = aggregate(_samples(OUTCOMES))
    for path in (
        plot_accuracy_vs_flops(rows, tmp_path / "a.png", "t"),
        plot_accuracy_vs_flops_by(rows, "target_motion", tmp_path / "b.png"),
    ):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_prefill_flops_aggregate_only_when_every_record_has_them():
    samples = _samples(OUTCOMES)
    rows = aggregate(samples)
    assert "prefill_flops" not in find_row(rows, "event", 0.5)
    for s in samples:
        s["prefill_flops"] = 180 if s["selector"] == "dense" else 60
    event = find_row(aggregate(samples), "event", 0.5)
    assert event["prefill_flops"] == 60
    assert math.isclose(event["prefill_flops_vs_dense"], 1 / 3)
    assert event["flops_vs_dense"] == 0.5


def test_results_folder_check_guards_datasets_and_earlier_results(tmp_path):
    from epvlm.results import check_results_folder
    from eventsim.errors import OutputExistsError, ParameterError

    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "dataset.json").write_text("{}")
    for force in (False, True):
        with pytest.raises(ParameterError, match="holds a dataset"):
            check_results_folder(ds, None, force)
    out = tmp_path / "out"
    out.mkdir()
    check_results_folder(out, ds, False)
    (out / "table.md").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"table\.md' exists; pass force=True"):
        check_results_folder(out, ds, False)
    check_results_folder(out, ds, True)
