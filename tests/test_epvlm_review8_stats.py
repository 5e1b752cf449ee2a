"""Statistics of `epvlm eval`'s results on few questions: the ratio to dense gets the score
interval where the bootstrap would drop the resamples in which dense answered none right."""

from __future__ import annotations

import numpy as np
import pytest

from epvlm.results import (
    BOOTSTRAP_RESAMPLES,
    SCORE_MARK,
    accuracy_table,
    aggregate,
    find_row,
    paired_bootstrap,
    paired_interval_method,
    paired_intervals,
    paired_ratio_interval,
)


def _outcomes(right: int, n: int) -> np.ndarray:
    return np.arange(n) < right


def test_ratio_to_a_dense_that_got_few_right_is_the_score_interval():
    # event 7 of 10 right, dense 1 of 10 (one question both): a third of the bootstrap's
    # resamples hold no question dense got right, so they have no ratio (an infinite one);
    # dropping them gave 2.0-9.0, an upper bound the resamples do not support
    a, b = _outcomes(7, 10), _outcomes(1, 10)
    out = paired_intervals(a, b)
    assert out["ratio_method"] == "score"
    assert out["ratio"] == paired_ratio_interval(1, 6, 0)
    assert out["ratio"][1] > 9.0
    assert paired_interval_method(6, 0, 10, right=7) == "score"
    # the difference has no such gap and keeps its bootstrap interval
    assert out["method"] == "bootstrap"
    assert out["diff"] == paired_bootstrap(a, b)["diff"]


def test_the_table_marks_that_ratio_as_a_score_interval():
    samples = [
        {"id": str(i), "selector": sel, "keep": keep, "correct": bool(ok), "flops": 1.0,
         "latency_s": 0.0, "kept_tokens": 1, "total_tokens": 1}
        for sel, keep, outcomes in (("dense", 1.0, _outcomes(1, 10)), ("event", 0.5, _outcomes(7, 10)))
        for i, ok in enumerate(outcomes)
    ]  # fmt: skip
    rows = aggregate(samples)
    event = find_row(rows, "event", 0.5)
    lo, hi = event["accuracy_vs_dense_ci95"]
    assert (lo, hi) == pytest.approx(paired_ratio_interval(1, 6, 0))
    assert f"({100 * lo:.1f}–{100 * hi:.1f} %){SCORE_MARK} |" in accuracy_table(rows)


@pytest.mark.parametrize("dense_right, n", [(8, 10), (10, 40), (30, 40), (60, 100)])
def test_ratio_keeps_the_bootstrap_where_dense_got_enough_right(dense_right, n):
    # a resample without a question dense got right is rarer than one in the resamples drawn
    a, b = _outcomes(n, n), _outcomes(dense_right, n)
    a[-1] = False  # not every question differs
    this_only = n - 1 - dense_right
    assert (1 - dense_right / n) ** n < 1 / BOOTSTRAP_RESAMPLES
    out = paired_intervals(a, b)
    expected = "bootstrap" if this_only >= 6 else "score"
    assert out["ratio_method"] == expected
