"""Second look (helper 351) at the epvlm eval walk (418fe5f) and CLI walk (1d196e3):

1. A τ label of a point at 100 % accuracy that found no spot clear of the data took the first
   spot free of labels, above the point, where the axes' top spine struck it through. It is
   drawn over the spine on the white backing of labels that cross a line.
2. Under --rule quantile the τ column labels sat 2 points above 100 %, and a marker there (event's
   circle is 9 points wide, the dense star 12) reached into them.
"""

from __future__ import annotations

from pathlib import Path

from epvlm.results import plot_accuracy_vs_flops, wilson_interval

# (selector, keep, FLOPs share of dense, right of 30): a top-k run of shapes-demo-tiny on 30
# questions, where event's τ=0.75 point is at 100 % with random's just below it
TOPK_30 = [
    ("dense", 1.0, 1.0, 30), ("event", 0.75, 0.751, 30), ("event", 0.5, 0.521, 28),
    ("event", 0.25, 0.309, 25), ("random", 0.75, 0.751, 28), ("random", 0.5, 0.521, 27),
    ("random", 0.25, 0.309, 17), ("downsample", 0.75, 0.751, 21),
    ("downsample", 0.5, 0.521, 19), ("downsample", 0.25, 0.309, 8),
]  # fmt: skip
# the same under --rule quantile: most keeps kept every token
QUANTILE_30 = [
    ("dense", 1.0, 1.0, 30), ("event", 0.75, 1.0, 30), ("event", 0.5, 1.0, 30),
    ("event", 0.25, 0.862, 30), ("random", 0.75, 1.0, 30), ("random", 0.5, 1.0, 30),
    ("random", 0.25, 0.862, 27), ("downsample", 0.75, 1.0, 30),
    ("downsample", 0.5, 1.0, 30), ("downsample", 0.25, 0.862, 26),
]  # fmt: skip
TITLE = "epvlm eval: shapes-demo-tiny on shapes-demo/test (folder data), n=30 of 30 (limit none)"


def _rows(run, rule: str, n: int = 30) -> list[dict]:
    return [
        {
            "selector": sel, "keep": keep, "n": n, "correct": right, "accuracy": right / n,
            "accuracy_ci95": list(wilson_interval(right, n)), "flops": share * 7.66e8,
            "flops_vs_dense": share, "rule": rule,
        }
        for sel, keep, share, right in run
    ]  # fmt: skip


def _figure(rows, monkeypatch, tmp_path: Path):
    """The figure as `plot_accuracy_vs_flops` saves it, and its renderer."""
    from matplotlib.figure import Figure

    seen: dict = {}
    save = Figure.savefig

    def keep_figure(fig, *args, **kwargs):
        save(fig, *args, **kwargs)
        seen["fig"] = fig
        seen["renderer"] = fig.canvas.get_renderer()  # before pyplot closes the figure

    monkeypatch.setattr(Figure, "savefig", keep_figure)
    plot_accuracy_vs_flops(rows, tmp_path / "plot.png", TITLE)
    return seen["fig"], seen["renderer"]


def test_a_tau_label_across_the_frame_is_drawn_over_it_on_a_backing(monkeypatch, tmp_path):
    fig, renderer = _figure(_rows(TOPK_30, "topk"), monkeypatch, tmp_path)
    ax = fig.axes[0]
    frame = ax.get_window_extent(renderer)
    spine = max(s.get_zorder() for s in ax.spines.values())
    labels = [t for t in ax.texts if t.xycoords == "data"]
    assert len(labels) == 9, [t.get_text() for t in labels]
    crossing = []
    for label in labels:
        box = label.get_window_extent(renderer)
        if frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1):
            continue
        crossing.append(label.xy)
        # the spine is hidden behind the text, not drawn through it
        assert label.get_bbox_patch() is not None, (label.get_text(), label.xy, box)
        assert label.get_zorder() > spine
    # event's τ=0.75 at 100 %, whose every spot inside the axes lies nearer random's point
    assert crossing == [(75.1, 100.0)], crossing


def test_the_tau_column_labels_clear_the_markers_at_100_percent(monkeypatch, tmp_path):
    fig, renderer = _figure(_rows(QUANTILE_30, "quantile"), monkeypatch, tmp_path)
    ax = fig.axes[0]
    columns = [t for t in ax.texts if t.xycoords == ("data", "axes fraction")]
    # the points at (100 %, 100 %) are one point, with a label of its own, not a column
    assert [t.get_text() for t in columns] == ["τ=0.25"]
    boxes = [t.get_window_extent(renderer) for t in columns]
    for line in ax.lines:
        if line.get_marker() in (None, "None", ""):
            continue
        radius = line.get_markersize() / 2 * fig.dpi / 72
        for xy in line.get_xydata():
            x, y = ax.transData.transform(xy)
            for text, box in zip(columns, boxes):
                covered = box.x0 < x + radius and x - radius < box.x1
                covered = covered and box.y0 < y + radius and y - radius < box.y1
                assert not covered, (text.get_text(), line.get_label(), tuple(xy))


def test_the_results_table_writes_both_intervals_alike_and_its_footnote_as_the_method():
    from epvlm.results import SCORE_MARK, aggregate, results_table

    samples = [
        {"id": f"q{i}", "selector": sel, "keep": keep, "correct": right, "flops": 10 * keep,
         "latency_s": 0.01, "kept_tokens": 64 * keep, "total_tokens": 64,
         "question_type": "color"}
        for i in range(8)
        for sel, keep, right in (("dense", 1.0, True), ("event", 0.5, i < 6))
    ]  # fmt: skip
    rows = aggregate(samples)
    table = results_table(rows)
    event = next(r for r in rows if r["selector"] == "event")
    lo, hi = event["accuracy_ci95"]
    line = next(line for line in table.splitlines() if line.startswith("| event |"))
    # '75.0 % (40.9–92.9 %)' beside '75.0 % (...–... %)†', not '75.0 % (40.9 %–92.9 %)'
    assert f"| 75.0 % ({100 * lo:.1f}–{100 * hi:.1f} %) |" in line, line
    # the score interval's cases (`paired_interval_method`): every question answered
    # differently all one way; none right for the row, too few for dense
    note = next(line for line in table.splitlines() if line.startswith(SCORE_MARK))
    assert "(or every question was, all one way)" in note, note
    assert "where the row answered none right or dense too few" in note, note
