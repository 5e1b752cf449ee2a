"""Second look at the review-8 changes to `epvlm eval`'s statistics: where the share of dense
gets the score interval (†) because dense answered few right, the demo report's legend says so."""

from __future__ import annotations

from demo_answers import demo_samples


def test_the_demo_report_says_why_a_share_of_a_dense_with_few_right_is_marked(tmp_path):
    from epvlm.demo.analysis import summarize
    from epvlm.demo.report import write_report
    from epvlm.results import SCORE_MARK, find_row

    # event right on 7 of 10, dense on 1 (one question both): 6 answered differently, so
    # only dense's few right answers make this share a score interval
    summary = summarize(
        demo_samples(
            {
                ("dense", 1.0): {"moving": [1] + [0] * 9},
                ("event", 0.5): {"moving": [1] * 7 + [0] * 3},
            }
        )
    )
    counts = find_row(summary["rows"], "event", 0.5)["vs_dense_counts"]
    assert counts["this_only"] + counts["dense_only"] == 6
    path = write_report(
        tmp_path / "report.md", summary, model_dir=tmp_path, dataset_dir=tmp_path,
        command="epvlm demo", timings={}, previews=[], model_info={},
    )  # fmt: skip
    text = path.read_text(encoding="utf-8")
    share = next(line for line in text.splitlines() if line.startswith("| event | 0.5 | 10 |"))
    assert share.split(" | ")[4].endswith(SCORE_MARK)
    # the legend named only fewer than 6 questions answered differently and a selector with
    # none right, neither of which holds here
    legend = next(line for line in text.splitlines() if line.startswith("Accuracy intervals"))
    assert "where dense answered so few right" in legend
