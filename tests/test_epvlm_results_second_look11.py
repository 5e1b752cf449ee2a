"""Second look at round 11's `epvlm eval` notes and accuracy_vs_flops.png labels (45255be,
a901627).

- The label of a point at 100 % of dense FLOPs (where --rule quantile's rows that kept every
  token meet: "τ=0.9, 0.75, 0.5") ran under the legend, which hid most of it; a label now
  overlaps neither the legend nor the title, taking a place left of its point where every
  place right of it is taken.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from epvlm.results import aggregate

N = 20
KEEPS = (0.9, 0.75, 0.5, 0.25)


def _rows(kept, correct):
    """Rows of dense and event, random at ``KEEPS`` over ``N`` questions of 64 image tokens."""
    configs = [("dense", 1.0)] + [(s, k) for s in ("event", "random") for k in KEEPS]
    samples = [
        {
            "id": f"q{i:02d}",
            "selector": sel,
            "keep": keep,
            "correct": correct(sel, keep, i),
            "question_type": "color",
            "target_motion": "moving",
            "flops": 1000 * kept(sel, keep, i) // 64,
            "latency_s": 0.01,
            "kept_tokens": kept(sel, keep, i),
            "total_tokens": 64,
        }
        for sel, keep in configs
        for i in range(N)
    ]
    rows = aggregate(samples, bootstrap=False)
    for r in rows:
        r["rule"] = "quantile"
    return rows


def _drawn(rows, monkeypatch, tmp_path: Path):
    """The τ labels' texts and boxes, and the legend's and title's boxes, as saved."""
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from epvlm.results import plot_accuracy_vs_flops

    seen: dict = {}
    save = Figure.savefig

    def keep_figure(fig, *args, **kwargs):
        save(fig, *args, **kwargs)
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        seen["labels"] = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts]
        seen["legend"] = ax.get_legend().get_window_extent(renderer)
        seen["title"] = fig._suptitle.get_window_extent(renderer)

    monkeypatch.setattr(Figure, "savefig", keep_figure)
    plot_accuracy_vs_flops(rows, tmp_path / "plot.png", title="a title as eval gives one")
    return seen


def test_label_at_full_flops_is_not_under_the_legend(monkeypatch, tmp_path):
    # every token kept at 0.9, 0.75 and 0.5 (both selectors: 100 % of dense FLOPs), event
    # right more often than random there, so two points at x = 100 carry long labels
    def kept(sel, keep, i):
        return 64 if keep >= 0.5 else 40

    def correct(sel, keep, i):
        return i < (16 if sel in ("dense", "event") else 12)

    seen = _drawn(_rows(kept, correct), monkeypatch, tmp_path)
    texts = [text for text, _ in seen["labels"]]
    # one label for the column of the two points at x = 100 (round 12)
    assert texts.count("τ=0.9, 0.75, 0.5") == 1
    for text, box in seen["labels"]:
        assert not box.overlaps(seen["legend"]), text
        assert not box.overlaps(seen["title"]), text
    boxes = [box for _, box in seen["labels"]]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
