"""Second look at review 8 of `eventsim render` / `eventsim plot`: the per-pixel rate
histogram's tick labels over rates of any magnitude."""

from __future__ import annotations

import itertools

import numpy as np
import pytest


def _per_pixel_labels(seconds: float, max_count: int, tmp_path):
    """The visible x tick labels of the per-pixel rate panel of a recording of ``seconds``
    whose pixels hold 1..``max_count`` events each, left to right, with their boxes."""
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from eventsim.events import EVENT_DTYPE
    from eventsim.io import open_events
    from eventsim.render.summary import collect_summary, summary_figure

    rng = np.random.default_rng(0)
    width, height = 32, 24
    counts = rng.integers(1, max_count + 1, width * height)
    counts[0] = max_count
    pixel = np.repeat(np.arange(width * height), counts)
    events = np.zeros(len(pixel), EVENT_DTYPE)
    events["x"], events["y"] = pixel % width, pixel // width
    events["t"] = np.sort(rng.integers(0, int(seconds * 1e6), len(pixel)))
    events["t"][-1] = int(seconds * 1e6)
    events["p"] = rng.integers(0, 2, len(pixel))
    np.save(tmp_path / "ev.npy", events)
    with open_events(tmp_path / "ev.npy") as reader:
        fig = summary_figure(collect_summary(reader))
    (ax,) = [a for a in fig.axes if a.get_title().startswith("Per-pixel rate")]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    lo, hi = ax.get_xlim()
    labels = [
        (t.get_text(), t.get_window_extent(renderer))
        for t in [*ax.xaxis.get_majorticklabels(), *ax.xaxis.get_minorticklabels()]
        if t.get_visible() and t.get_text() and lo <= t.get_position()[0] <= hi
    ]
    return sorted(labels, key=lambda item: item[1].x0)


@pytest.mark.parametrize(
    ("seconds", "max_count"),
    [(3000.0, 9), (3000.0, 20), (300.0, 20), (0.003, 20), (13.0, 7), (1.0, 4), (20.0, 3)],
)
def test_per_pixel_rate_tick_labels_never_overlap(tmp_path, seconds, max_count):
    """Plain minor labels still ran into each other where they are long and the axis spans
    more than a decade: a 50-minute recording of 1 to 9 events a pixel was ticked '0.0003'
    '0.0004' (and '0.003' '0.004') 0.12 decades apart. At least two labels remain."""
    labels = _per_pixel_labels(seconds, max_count, tmp_path)
    assert len(labels) >= 2, labels
    for (a, box_a), (b, box_b) in itertools.pairwise(labels):
        assert box_a.x1 < box_b.x0, f"tick labels {a!r} and {b!r} overlap"
