"""Review 8 of `eventsim render` / `eventsim plot`: frame-folder names past a million frames,
the plot's memory and panels, and the messages of the edge cases a user meets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from eventsim.render import writers

FRAME = np.zeros((2, 3, 3), np.uint8)


def test_frame_name_pads_every_frame_to_the_last_ones_width():
    """Six digits sorted only to frame 999,999: frame_1000000.png sorted before
    frame_999999.png, and no %06d pattern read it back."""
    assert writers.frame_name(0) == "frame_000000.png"
    assert writers.frame_name(999_999, 1_000_000) == "frame_999999.png"
    names = [writers.frame_name(k, 1_000_001) for k in (0, 999_999, 1_000_000)]
    assert names == ["frame_0000000.png", "frame_0999999.png", "frame_1000000.png"]
    assert names == sorted(names)
    assert writers.frame_name(5, 10**10) == "frame_0000000005.png"


@pytest.mark.parametrize("n", [1, 10, 11, 101])
def test_folder_names_sort_in_frame_order_past_the_digits_of_its_counter(tmp_path, monkeypatch, n):
    """A folder of more frames than its names' digits count (a million with six; here the
    counter is one digit) pads them all to one width, so names sort in frame order."""
    monkeypatch.setattr(writers, "FRAME_DIGITS", 1)
    out = tmp_path / "frames"
    with writers.FolderSink(out) as sink:
        for k in range(n):
            frame = FRAME.copy()
            frame[0, 0, 0] = k
            sink.write(frame)
    names = sorted(p.name for p in out.iterdir())
    width = len(str(n - 1))
    assert names == [f"frame_{k:0{width}d}.png" for k in range(n)]
    import cv2

    firsts = [int(cv2.imread(str(out / name))[0, 0, 2]) for name in names]
    assert firsts == list(range(n))


def test_ordinary_folder_names_keep_six_digits(tmp_path):
    out = tmp_path / "frames"
    with writers.FolderSink(out) as sink:
        for _ in range(3):
            sink.write(FRAME)
    assert sorted(p.name for p in out.iterdir()) == [f"frame_00000{k}.png" for k in range(3)]


def _save(path, rows):
    from eventsim.events import EVENT_DTYPE

    events = np.zeros(len(rows), EVENT_DTYPE)
    for i, row in enumerate(rows):
        events[i] = row
    np.save(path, events)
    return path


def test_plot_refuses_a_sensor_too_large_to_count_before_reading(tmp_path):
    """`eventsim plot --sensor-size 32767x32767` (a size every command accepts) was killed by
    the out-of-memory killer, without a message: the figure takes some 120 bytes a pixel."""
    from eventsim.errors import ParameterError
    from eventsim.render.summary import MAX_PLOT_PIXELS, plot_summary

    src = _save(tmp_path / "one.npy", [(1, 1, 5000, 1)])
    with pytest.raises(ParameterError, match=r"32767x32767 .*at most 67,108,864 pixels"):
        plot_summary(src, tmp_path / "big.png", sensor_size=(32767, 32767))
    assert not (tmp_path / "big.png").exists()
    # round 9: as many as `eventsim render` draws (tests/test_render_round9.py)
    assert MAX_PLOT_PIXELS == 8192 * 8192


def test_plot_cap_applies_to_collect_summary_and_the_cli(tmp_path, monkeypatch, capsys):
    from eventsim.cli.plot import main
    from eventsim.errors import ParameterError
    from eventsim.io import open_events
    from eventsim.render import summary

    monkeypatch.setattr(summary, "MAX_PLOT_PIXELS", 64)
    src = _save(tmp_path / "one.npy", [(1, 1, 5000, 1)])
    with open_events(src, sensor_size=(8, 8)) as reader:
        assert summary.collect_summary(reader).pixel_counts.shape == (2, 8, 8)
    with open_events(src, sensor_size=(9, 8)) as reader, pytest.raises(ParameterError):
        summary.collect_summary(reader)
    out = tmp_path / "p.png"
    rc = main([str(src), "-o", str(out), "--sensor-size", "9x8", "--no-progress"])
    assert rc != 0 and not out.exists()
    assert "9x8" in capsys.readouterr().err


@pytest.mark.parametrize("rows", [[(1, 1, 5000, 1)], [(1, 1, 0, 1), (2, 2, 1999, 0)]])
def test_start_past_the_last_event_names_the_last_events_time(tmp_path, rows):
    """'--start-ms 0.001 is past the last event (0.001 ms after the first)' for one event: the
    end of the events (one past the last, exclusive) was given as the last event's time."""
    from eventsim.errors import ParameterError
    from eventsim.render import render_file

    src = _save(tmp_path / "ev.npy", rows)
    last_ms = (rows[-1][2] - rows[0][2]) / 1000
    start = last_ms + 0.001
    with pytest.raises(ParameterError) as info:
        render_file(src, tmp_path / "x.png", start_ms=start, progress=False)
    assert str(info.value) == (
        f"start_ms {start:g} is past the last event ({last_ms:g} ms after the first)"
    )
    render_file(src, tmp_path / "y.png", start_ms=last_ms, progress=False)


@pytest.mark.parametrize("fps", [float("inf"), float("nan"), 0.0, -3.0])
def test_cli_fps_error_names_the_option_and_a_finite_rate(tmp_path, capsys, fps):
    """'fps inf must be > 0': inf is > 0; and the option typed was --fps."""
    from eventsim.cli.render import main

    src = _save(tmp_path / "ev.npy", [(1, 1, 0, 1), (2, 2, 1999, 0)])
    rc = main([str(src), "-o", str(tmp_path / "x.mp4"), "--fps", str(fps), "--no-progress"])
    err = capsys.readouterr().err
    assert rc != 0
    assert f"--fps {fps:g} must be > 0 and finite" in err, err


@pytest.mark.parametrize(
    ("option", "value", "typed"),
    [
        ("--start-ms", "inf", "inf"),
        ("--end-ms", "inf", "inf"),
        ("--start-ms", "-1", "-1"),
        ("--end-ms", "-0.5", "-0.5"),
        ("--start-ms", "nan", "nan"),
    ],
)
def test_cli_range_error_asks_for_a_finite_time(tmp_path, capsys, option, value, typed):
    """'--start-ms inf must be >= 0': inf is >= 0."""
    from eventsim.cli.render import main

    src = _save(tmp_path / "ev.npy", [(1, 1, 0, 1), (2, 2, 1999, 0)])
    rc = main([str(src), "-o", str(tmp_path / "x.mp4"), option, value, "--no-progress"])
    err = capsys.readouterr().err
    assert rc != 0
    assert f"{option} {typed} must be " in err and " 0 and finite (ms" in err, err


@pytest.mark.parametrize("n_bins", [1, 2])
def test_plot_rate_panel_draws_its_bins_however_few(tmp_path, n_bins):
    """`eventsim plot --bins 1` left the rate panel empty: each bin was a point of a line, and
    a line of one point draws nothing (two were one slanted segment between bin centres). The
    bins are drawn as steps over their whole span now."""
    pytest.importorskip("matplotlib")
    from eventsim.io import open_events
    from eventsim.render.summary import collect_summary, summary_figure

    src = _save(tmp_path / "ev.npy", [(1, 1, 0, 1), (2, 2, 1000, 0), (3, 3, 200_000, 1)])
    with open_events(src) as reader:
        s = collect_summary(reader, n_bins=n_bins)
    fig = summary_figure(s)
    rate_ax = fig.axes[0]
    spans = []
    for artist in rate_ax.patches:
        if artist.get_label() in ("ON", "OFF"):
            vertices = artist.get_path().vertices
            spans.append((artist.get_label(), vertices[:, 0].min(), vertices[:, 0].max()))
    assert sorted(label for label, _, _ in spans) == ["OFF", "ON"]
    for _, lo, hi in spans:
        assert lo == pytest.approx(0) and hi == pytest.approx(200.001)
    heights = {a.get_label(): a.get_path().vertices[:, 1].max() for a in rate_ax.patches}
    assert heights["ON"] > 0 and heights["OFF"] > 0


def test_plot_titles_count_one_event_in_the_singular(tmp_path):
    pytest.importorskip("matplotlib")
    from eventsim.io import open_events
    from eventsim.render.summary import collect_summary, summary_figure

    src = _save(tmp_path / "one.npy", [(1, 1, 5000, 1)])
    with open_events(src) as reader:
        fig = summary_figure(collect_summary(reader))
    titles = [fig.get_suptitle(), *(ax.get_title() for ax in fig.axes)]
    assert not any("1 events" in t for t in titles), titles
    assert " 1 event " in fig.get_suptitle()


def _visible_tick_labels(fig, ax):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    labels = [*ax.xaxis.get_majorticklabels(), *ax.xaxis.get_minorticklabels()]
    lo, hi = ax.get_xlim()
    return [
        (t.get_text(), t.get_window_extent(renderer))
        for t in labels
        if t.get_visible() and t.get_text() and lo <= t.get_position()[0] <= hi
    ]


@pytest.mark.parametrize("seconds", [0.2, 20.0])
def test_plot_per_pixel_rate_ticks_do_not_run_into_each_other(tmp_path, seconds):
    """Per-pixel rates spanning about a decade and a half were ticked '3×10⁰' and '4×10⁰'
    side by side, labels that ran into each other ('3×10⁰4×10⁰')."""
    pytest.importorskip("matplotlib")
    from eventsim.events import EVENT_DTYPE
    from eventsim.io import open_events
    from eventsim.render.summary import collect_summary, summary_figure

    rng = np.random.default_rng(0)
    n = 2000
    events = np.zeros(n, EVENT_DTYPE)
    events["x"], events["y"] = rng.integers(0, 32, n), rng.integers(0, 24, n)
    events["t"] = np.sort(rng.integers(0, int(seconds * 1e6), n))
    events["p"] = rng.integers(0, 2, n)
    np.save(tmp_path / "ev.npy", events)
    with open_events(tmp_path / "ev.npy") as reader:
        fig = summary_figure(collect_summary(reader))
    (hist_ax,) = [ax for ax in fig.axes if ax.get_title().startswith("Per-pixel rate")]
    labels = sorted(_visible_tick_labels(fig, hist_ax), key=lambda item: item[1].x0)
    assert len(labels) >= 2
    for (a, box_a), (b, box_b) in itertools.pairwise(labels):
        assert box_a.x1 < box_b.x0, f"tick labels {a!r} and {b!r} overlap"
