"""Findings of the visual audit of every image the toolkit writes: GIF playback speed, the
colours of the summary figure, and the accuracy-vs-FLOPs plots' legends and coincident series."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.io import open_events, write_events
from eventsim.render.colors import palette

W, H = 64, 48


def test_gif_plays_at_the_requested_rate(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    from eventsim.render.writers import GifSink

    path = tmp_path / "v.gif"
    with GifSink(path, fps=30.0) as sink:
        for k in range(6):
            frame = np.zeros((H, W, 3), np.uint8)
            frame[:, k * 8 : k * 8 + 8] = 255  # distinct frames: Pillow merges equal ones
            sink.write(frame)
    with Image.open(path) as im:
        durations = []
        for k in range(im.n_frames):
            im.seek(k)
            durations.append(im.info["duration"])
    # 6 frames at 30 fps last 200 ms; one truncated delay per frame made it 6 x 30 = 180 ms
    assert len(durations) == 6 and sum(durations) == 200


def test_gif_durations_track_real_time_in_centiseconds():
    from eventsim.render.writers import gif_durations_ms

    for fps in (24.0, 30.0, 15.0, 12.5):
        d = gif_durations_ms(90, fps)
        assert all(v % 10 == 0 and v >= 20 for v in d)
        running = np.cumsum(d)
        ideal = np.arange(1, 91) * 1000.0 / fps
        assert np.abs(running - ideal).max() <= 5.0
    # faster than a viewer plays: every delay is the 20 ms floor
    assert gif_durations_ms(4, 100.0) == [20, 20, 20, 20]


def test_summary_median_line_is_not_the_on_colour(tmp_path, small_events):
    pytest.importorskip("matplotlib")
    from matplotlib.colors import to_rgb

    from eventsim.render.summary import collect_summary, summary_figure

    path = tmp_path / "ev.h5"
    write_events(path, small_events, (W, H))
    with open_events(path) as r:
        fig = summary_figure(collect_summary(r, n_bins=20, scatter_events=200))
    _, on, off = palette("white")
    (hist_ax,) = [ax for ax in fig.axes if ax.get_xlabel().startswith("per-pixel event rate")]
    median = [ln for ln in hist_ax.get_lines() if ln.get_label().startswith("median")]
    assert len(median) == 1
    colour = tuple(round(255 * v) for v in to_rgb(median[0].get_color()))
    assert colour not in (on, off)


# accuracies (%) at keep 0.75, 0.5, 0.25 of the shipped demo's 50-question run: high at the
# right, where a legend placed "best" inside the axes covered the dense point
DEMO_ACCURACY = {"event": (100, 94, 86), "random": (96, 86, 50), "downsample": (68, 60, 26)}
DEMO_FLOPS = {0.75: 150, 0.5: 104, 0.25: 62}  # of dense's 200


def _rows(event_equals_random: bool) -> list[dict]:
    from epvlm.results import aggregate

    n = 50
    outcomes: dict[tuple[str, float], list[int]] = {("dense", 1.0): [1] * n}
    for sel, accuracies in DEMO_ACCURACY.items():
        if sel == "random" and event_equals_random:
            accuracies = DEMO_ACCURACY["event"]
        for keep, acc in zip((0.75, 0.5, 0.25), accuracies, strict=True):
            right = acc * n // 100
            outcomes[(sel, keep)] = [1] * right + [0] * (n - right)
    samples = []
    for (sel, keep), values in outcomes.items():
        for i, ok in enumerate(values):
            samples.append(
                {
                    "id": f"q{i}",
                    "selector": sel,
                    "keep": keep,
                    "correct": bool(ok),
                    "question_type": "color",
                    "target_motion": "moving" if i % 2 else "static",
                    "flops": 200 if sel == "dense" else DEMO_FLOPS[keep],
                    "latency_s": 0.02,
                    "kept_tokens": 64 if sel == "dense" else round(64 * keep),
                    "total_tokens": 64,
                }
            )
    return aggregate(samples)


@pytest.fixture
def saved_figures(monkeypatch):
    """(figure, renderer) of each figure as it is saved (drawn, so its artists have window
    extents; pyplot detaches the canvas when the plot function closes the figure)."""
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    saved: list = []
    original = Figure.savefig

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        saved.append((self, self.canvas.get_renderer()))

    monkeypatch.setattr(Figure, "savefig", spy)
    return saved


@pytest.mark.parametrize("by_group", [False, True])
def test_accuracy_plot_legend_covers_no_data_point(tmp_path, saved_figures, by_group):
    from epvlm.results import plot_accuracy_vs_flops, plot_accuracy_vs_flops_by

    rows = _rows(event_equals_random=False)
    if by_group:
        plot_accuracy_vs_flops_by(rows, "target_motion", tmp_path / "b.png")
    else:
        plot_accuracy_vs_flops(rows, tmp_path / "a.png", "title")
    ((fig, renderer),) = saved_figures
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
    boxes = [lg.get_window_extent(renderer) for lg in legends if lg is not None]
    assert len(boxes) == 1
    from matplotlib.transforms import Bbox

    marks = []
    for ax in fig.axes:
        for line in ax.get_lines():
            if len(line.get_xdata()) == 0:
                continue
            r = line.get_markersize() * fig.dpi / 72 / 2  # marker half-size in pixels
            for x, y in ax.transData.transform(np.column_stack(line.get_data())):
                marks.append(Bbox.from_extents(x - r, y - r, x + r, y + r))
    assert marks
    for mark in marks:
        # the dense point sits at the top right, where the default legend went
        assert not boxes[0].overlaps(mark), f"legend covers the data point at {mark}"


def _colour_pixels(png, rgb: tuple[int, int, int]) -> int:
    import cv2

    bgr = cv2.imread(str(png))
    assert bgr is not None, png
    img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(int)
    return int((np.abs(img - np.asarray(rgb)).sum(axis=2) < 40).sum())


@pytest.mark.parametrize("by_group", [False, True])
def test_identical_series_stay_visible(tmp_path, by_group):
    pytest.importorskip("matplotlib")
    from epvlm.results import plot_accuracy_vs_flops, plot_accuracy_vs_flops_by

    rows = _rows(event_equals_random=True)
    path = tmp_path / "p.png"
    if by_group:
        plot_accuracy_vs_flops_by(rows, "target_motion", path)
    else:
        plot_accuracy_vs_flops(rows, path)
    event = _colour_pixels(path, (255, 127, 14))  # drawn before "random"
    random = _colour_pixels(path, (44, 160, 44))
    # "random" drawn exactly over "event" left little more than event's legend entry visible
    # (5-11 % of random's pixels); rings and dash gaps show 25 % (error bars) to 58 %
    assert event > 0.18 * random, (event, random)


def test_summary_heat_map_is_not_washed_out_by_hot_pixels(tmp_path):
    pytest.importorskip("matplotlib")
    from eventsim.events import make_events
    from eventsim.render.summary import collect_summary, summary_figure

    # an edge of 200 pixels with 8 events each, and 2 hot pixels with 500 each
    xs = np.concatenate([np.repeat(np.arange(10, 50), 5 * 8), np.repeat([3, 60], 500)])
    ys = np.concatenate([np.tile(np.repeat(np.arange(20, 25), 8), 40), np.repeat([2, 40], 500)])
    order = np.arange(len(xs))
    events = make_events(xs, ys, order * 10, order % 2)
    path = tmp_path / "hot.h5"
    write_events(path, events, (W, H))
    with open_events(path) as r:
        fig = summary_figure(collect_summary(r, n_bins=20, scatter_events=200))
    (heat_ax,) = [ax for ax in fig.axes if ax.get_title().startswith("Events per pixel")]
    (image,) = heat_ax.get_images()
    # the edge's 8 events sit near the top of the colour scale, not at log(8)/log(500) = 1/3
    assert image.norm(8) > 0.9
    assert "clipped" in heat_ax.get_title()
    assert image.colorbar is not None and image.colorbar.extend == "max"
