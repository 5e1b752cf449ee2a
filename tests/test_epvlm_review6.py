"""Review 6 of epvlm's result tables, reports and plots: paired intervals on few questions are
score intervals, never a point; every keep fraction prints through `fmt_keep`."""

from __future__ import annotations

import math

import numpy as np
import pytest
from demo_answers import demo_samples

from epvlm.results import (
    BOOTSTRAP_MIN_DIFFERING,
    CLAIM_ALPHA,
    accuracy_table,
    aggregate,
    find_row,
    fmt_keep,
    mcnemar_exact_p,
    paired_bootstrap,
    paired_difference_interval,
    paired_interval_method,
    paired_intervals,
    paired_ratio_interval,
    paired_table,
)


def _answers(outcomes: dict[tuple[str, float], list[int]]) -> list[dict]:
    return [
        {"id": str(i), "selector": sel, "keep": keep, "correct": bool(ok), "flops": 1.0,
         "latency_s": 0.01, "kept_tokens": 1, "total_tokens": 2, "question_type": "color"}
        for (sel, keep), answers in outcomes.items()
        for i, ok in enumerate(answers)
    ]  # fmt: skip


# ------------------------------------------------------------- 1: intervals on few questions


def test_two_of_two_right_under_both_is_no_certain_interval():
    """2/2 right for dense and event printed "100.0 % (100.0–100.0 %)" of dense and an
    event − downsample difference of "+0.0 points (+0.0 to +0.0)": the bootstrap of two
    questions answered alike is a single point."""
    rows = aggregate(
        _answers({("dense", 1.0): [1, 1], ("event", 0.5): [1, 1], ("downsample", 0.5): [1, 1]})
    )
    event = find_row(rows, "event", 0.5)
    lo, hi = event["accuracy_vs_dense_ci95"]
    assert lo < 1.0 < hi
    lo, hi = event["diff_vs_dense_ci95"]
    assert lo < 0.0 < hi
    lo, hi = event["paired"]["downsample"]["diff_ci95"]
    assert (lo, hi) == pytest.approx((-0.6576, 0.6576), abs=1e-4)
    table = accuracy_table(rows)
    assert "100.0–100.0" not in table
    assert "| event | 0.5 | 2 | 100.0 % (34.2–100.0 %) | 100.0 % (43.8–228.1 %)† |" in table
    assert "| event − downsample | 0.5 | +0.0 points (-65.8 to +65.8)† |" in paired_table(rows)


def test_a_difference_all_one_way_on_many_questions_is_no_point():
    """Every question right under one and wrong under the other: each resample gives the
    same difference, so the bootstrap interval was [1, 1] at any n."""
    rows = aggregate(_answers({("dense", 1.0): [1] * 40, ("event", 0.5): [0] * 40}))
    event = find_row(rows, "event", 0.5)
    lo, hi = event["diff_vs_dense_ci95"]
    assert -1.0 == lo < hi < -0.8
    assert paired_interval_method(0, 40, 40) == "score"


def test_a_few_differing_answers_on_many_questions_get_the_score_interval():
    """4 of 300 answered differently, all one way: the bootstrap's interval excluded 0 where
    the exact test gives p = 0.125; the score interval includes it."""
    a = np.ones(300, bool)
    b = a.copy()
    b[:4] = False
    assert paired_bootstrap(a, b)["diff"][0] > 0  # what the tables printed
    out = paired_intervals(a, b)
    assert out["method"] == "score"
    assert out["diff"][0] < 0 < out["diff"][1]


def test_many_differing_answers_keep_the_bootstrap_interval():
    """The figures of the full-size demo where enough questions differ do not move."""
    rng = np.random.default_rng(3)
    a, b = rng.random(600) < 0.9, rng.random(600) < 0.6
    out = paired_intervals(a, b, seed=7)
    assert out["method"] == "bootstrap"
    boot = paired_bootstrap(a, b, seed=7)
    assert (out["ratio"], out["diff"]) == (boot["ratio"], boot["diff"])


def test_the_bootstrap_threshold_is_where_the_exact_test_can_first_pass():
    m = BOOTSTRAP_MIN_DIFFERING
    assert m == 6
    assert mcnemar_exact_p(m, 0) < CLAIM_ALPHA <= mcnemar_exact_p(m - 1, 0)
    assert paired_interval_method(5, 0, 100) == "score"
    assert paired_interval_method(3, 3, 100) == "bootstrap"


def test_score_intervals_of_paired_outcomes():
    # Newcombe's square-and-add and Bonett-Price's hybrid Wilson score interval; the counts
    # are (both, this only, other only, neither)
    assert paired_difference_interval(59, 6, 16, 80) == pytest.approx((-0.1186, -0.0046), abs=1e-4)
    assert paired_difference_interval(1, 1, 7, 12) == pytest.approx((-0.5069, -0.0256), abs=1e-4)
    assert paired_ratio_interval(59, 6, 16) == pytest.approx((0.7579, 0.9910), abs=1e-4)
    assert paired_ratio_interval(1, 1, 7) == pytest.approx((0.0677, 0.9227), abs=1e-4)
    # alike on every question: symmetric about 0 (difference) and holding 1 (ratio)
    lo, hi = paired_difference_interval(10, 0, 0, 0)
    assert lo == pytest.approx(-hi) and hi > 0
    lo, hi = paired_ratio_interval(10, 0, 0)
    assert lo < 1 < hi
    # no question, or no answer right under the other: no interval
    assert all(math.isnan(v) for v in paired_difference_interval(0, 0, 0, 0))
    assert all(math.isnan(v) for v in paired_ratio_interval(0, 3, 0))


def test_the_demo_findings_read_a_score_interval_with_its_name():
    """A share of dense whose whole interval clears the target while the Wilson bound does
    not was said to meet it on "its bootstrap interval", where that interval was the point
    of 30 questions answered alike."""
    from epvlm.demo.analysis import findings, summarize

    samples = demo_samples(
        {("dense", 1.0): {"moving": [1] * 30}, ("event", 0.5): {"moving": [1] * 30}}
    )
    summary = summarize(samples)
    cell = find_row(summary["rows"], "event", 0.5)["groups"]["target_motion"]["moving"]
    lo, hi = cell["accuracy_vs_dense_ci95"]
    assert 0.9 < lo < 1 < hi
    (line,) = [f for f in findings(summary, target=0.9) if "moving-target" in f]
    assert line.endswith(
        "it meets the 90 % target on the point estimate and its score interval, but too few "
        "questions (n = 30) to judge: a 95 % lower bound made for small n is 88.6 %."
    )


# ------------------------------------------------------------------- 2: keep fractions


def test_fmt_keep_is_short_and_tells_shown_keeps_apart():
    assert [fmt_keep(k) for k in (1.0, 0.5, 0.75, 0.125, 0.0625)] == [
        "1", "0.5", "0.75", "0.125", "0.0625"
    ]  # fmt: skip
    assert fmt_keep(1 / 3) == "0.333"
    assert [fmt_keep(k, [0.33, 1 / 3]) for k in (0.33, 1 / 3)] == ["0.33", "0.333"]
    assert [fmt_keep(k, [0.333, 1 / 3]) for k in (0.333, 1 / 3)] == ["0.333", "0.3333"]
    assert [fmt_keep(k, [0.12, 0.125]) for k in (0.12, 0.125)] == ["0.12", "0.125"]


THIRD = {("dense", 1.0): [1, 1, 0], ("event", 1 / 3): [1, 0, 0], ("downsample", 1 / 3): [0, 0, 1]}


def test_tables_print_keeps_through_fmt_keep():
    """accuracy_table and paired_table printed 1/3 as 0.333333 (``:g``)."""
    from epvlm.results import results_table

    rows = aggregate(_answers(THIRD))
    for table in (
        accuracy_table(rows),
        accuracy_table(rows, "question_type"),
        paired_table(rows),
        paired_table(rows, "question_type"),
        results_table(rows),
    ):
        assert "0.333333" not in table
        assert " | 0.333 | " in table


def test_coverage_table_and_sentences_print_keeps_through_fmt_keep():
    from epvlm.demo.analysis import coverage_table, findings, headline, summarize

    samples = demo_samples(
        {
            ("dense", 1.0): {"moving": [1, 1, 1, 1]},
            ("event", 1 / 3): {"moving": [1, 1, 0, 1]},
            ("random", 1 / 3): {"moving": [0, 1, 0, 1]},
            ("downsample", 1 / 3): {"moving": [1, 0, 0, 1]},
        }
    )
    summary = summarize(samples)
    coverage = {
        "n_questions": 4,
        "rows": [
            {"selector": "event", "keep": 1 / 3, "target_motion": "moving", "n": 4,
             "mean_share_kept": 0.9, "mostly_dropped": 0.0},
        ],
    }  # fmt: skip
    summary["coverage"] = coverage
    text = "\n".join(findings(summary, keep=1 / 3) + headline(summary, keep=1 / 3))
    assert "0.333333" not in text and "τ = 0.333 " in text
    table = coverage_table(coverage)
    assert "0.333333" not in table and "| event | 0.333 |" in table


def test_report_prints_keeps_through_fmt_keep(tmp_path):
    from epvlm.demo.analysis import summarize
    from epvlm.demo.report import write_report

    samples = demo_samples(
        {
            ("dense", 1.0): {"moving": [1, 1, 1, 1]},
            ("event", 1 / 3): {"moving": [1, 1, 0, 1]},
            ("event", 0.333): {"moving": [1, 0, 0, 1]},
        }
    )
    path = write_report(
        tmp_path / "report.md", summarize(samples), model_dir=tmp_path, dataset_dir=tmp_path,
        command="epvlm demo", timings={}, previews=[], model_info={},
    )  # fmt: skip
    text = path.read_text(encoding="utf-8")
    assert "0.333333" not in text
    assert "keep fractions τ: 0.3333, 0.333" in text
    assert "| event | 0.3333 |" in text and "| event | 0.333 |" in text


def test_plot_labels_print_keeps_through_fmt_keep(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib.axes

    from epvlm.results import plot_accuracy_vs_flops

    labels: list[str] = []
    annotate = matplotlib.axes.Axes.annotate

    def spy(self, text, *args, **kwargs):
        labels.append(text)
        return annotate(self, text, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "annotate", spy)
    plot_accuracy_vs_flops(aggregate(_answers(THIRD)), tmp_path / "p.png")
    assert labels and set(labels) == {"τ=0.333"}


def test_preview_labels_print_keeps_through_fmt_keep(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import epvlm.demo.preview as preview
    from epvlm.demo import DEFAULT_MODEL
    from epvlm.processing import load_processor
    from eventsim.events import make_events

    labels: list[str] = []
    label = preview._label

    def spy(img, text):
        labels.append(text)
        return label(img, text)

    monkeypatch.setattr(preview, "_label", spy)
    rng = np.random.default_rng(1)
    n = 300
    events = make_events(
        rng.integers(0, 112, n), rng.integers(0, 112, n), np.arange(n) * 50, rng.integers(0, 2, n)
    )
    sample = {
        "image": np.full((112, 112, 3), 90, np.uint8),
        "events": events,
        "meta": {"window_us": [0, int(50 * (n - 1))], "sensor_size": [112, 112]},
    }
    preview.render_preview(
        sample, load_processor(DEFAULT_MODEL), tmp_path, "p", keep=1 / 3, n_slices=2
    )
    taus = [t for t in labels if "tau=" in t]
    assert len(taus) == 3 and all("tau=0.333:" in t for t in taus), taus


def test_flops_prints_the_keep_as_the_tables_do(capsys) -> None:
    from epvlm.cli import main as epvlm_main

    assert epvlm_main(["flops", "--keep", "0.3333333"]) == 0
    out = capsys.readouterr().out
    assert "keep 0.333" in out and "0.333333" not in out


def test_results_title_names_the_recipe_when_the_folder_says_little() -> None:
    from epvlm.evaluate import dataset_label

    assert dataset_label({"name": "shapes-demo"}, "demo-out/data", "test") == (
        "shapes-demo/test (folder demo-out/data)"
    )
    assert dataset_label({"name": "shapes-demo"}, "/x/shapes-demo", "val") == "shapes-demo/val"
    assert dataset_label({}, "ds", "test") == "ds/test"
