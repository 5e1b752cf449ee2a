"""`eventsim plot` takes sensors up to `eventsim render`'s frame limit (8192x8192): the heat
map is drawn from block sums at most `PANEL_MAX_SIDE` a side, the per-pixel counts are kept
as int32 and counted without a sensor-sized temporary per chunk. It refused anything over
4096x4096, so an 8K simulated clip could not be plotted."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from eventsim.errors import ParameterError
from eventsim.events import make_events
from eventsim.io import open_events
from eventsim.render import summary
from eventsim.render.frames import MAX_FRAME_PIXELS

pytest.importorskip("matplotlib")


def _save(path, x, y, t, p):
    np.save(path, make_events(np.array(x), np.array(y), np.array(t), np.array(p)))
    return path


def test_plot_and_render_share_one_limit():
    assert summary.MAX_PLOT_PIXELS == MAX_FRAME_PIXELS == 8192 * 8192
    summary.check_plot_size((8192, 8192))
    with pytest.raises(ParameterError) as info:
        summary.check_plot_size((8193, 8192))
    msg = str(info.value)
    assert "8193x8192" in msg and "like `eventsim render`" in msg, msg
    assert "at most 67,108,864 pixels, e.g. 8192x8192" in msg, msg


def test_an_8k_sensor_is_counted_in_bounded_memory(tmp_path):
    """int32 counts (512 MiB for 8192x8192) and no (2, H, W) int64 temporary per chunk: the
    old counting held 1 GiB of counts and made another 1 GiB for every chunk."""
    src = _save(tmp_path / "ev.npy", [0, 8191, 4000], [0, 8191, 17], [0, 10, 2000], [1, 0, 1])
    tracemalloc.start()
    try:
        with open_events(src, sensor_size=(8192, 8192)) as reader:
            s = summary.collect_summary(reader, chunk_events=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert s.pixel_counts.dtype == np.int32 and s.pixel_counts.shape == (2, 8192, 8192)
    assert s.pixel_counts[1, 0, 0] == 1 and s.pixel_counts[0, 8191, 8191] == 1
    assert s.pixel_counts.sum() == 3
    assert peak < 600 * 2**20, peak / 2**20


def test_the_cli_plots_an_8k_sensor(tmp_path, capsys):
    from eventsim.cli.plot import main

    src = _save(tmp_path / "ev.npy", [0, 8191, 4000], [0, 8191, 17], [0, 10, 2000], [1, 0, 1])
    out = tmp_path / "p.png"
    rc = main([str(src), "-o", str(out), "--sensor-size", "8192x8192", "--dpi", "30"])
    assert rc == 0, capsys.readouterr().err
    assert out.stat().st_size > 0


def test_a_large_sensors_heat_map_is_drawn_from_block_sums(tmp_path, monkeypatch):
    """A 10x6 sensor with at most 4 blocks a side: 3x3 blocks (the last column of blocks one
    pixel wide), the axes still in sensor pixels; the rate histogram still counts pixels."""
    monkeypatch.setattr(summary, "PANEL_MAX_SIDE", 4)
    xs, ys = [0, 2, 3, 9, 9, 5], [0, 2, 0, 5, 5, 3]
    src = _save(tmp_path / "ev.npy", xs, ys, [0, 1, 2, 3, 4, 5], [1, 0, 1, 0, 1, 1])
    with open_events(src, sensor_size=(10, 6)) as reader:
        fig = summary.summary_figure(summary.collect_summary(reader))
    ax = fig.axes[1]
    assert ax.get_title().startswith("Events per 3x3-pixel block")
    shown = np.ma.filled(ax.images[0].get_array(), 0)
    expected = np.zeros((2, 4), int)
    for x, y in zip(xs, ys, strict=True):
        expected[y // 3, x // 3] += 1
    assert (shown == expected).all(), shown
    assert ax.images[0].get_extent() == [-0.5, 11.5, 5.5, -0.5]
    assert ax.get_xlim() == (-0.5, 9.5) and ax.get_ylim() == (5.5, -0.5)
    titles = [a.get_title() for a in fig.axes]
    assert "Per-pixel rate (5 active, 55 silent pixels)" in titles, titles


def test_a_sensor_that_fits_is_drawn_pixel_by_pixel(tmp_path):
    src = _save(tmp_path / "ev.npy", [0, 2, 2], [0, 1, 1], [0, 1, 2], [1, 0, 1])
    with open_events(src, sensor_size=(3, 2)) as reader:
        fig = summary.summary_figure(summary.collect_summary(reader))
    ax = fig.axes[1]
    assert ax.get_title().startswith("Events per pixel ")
    assert (np.ma.filled(ax.images[0].get_array(), 0) == [[1, 0, 0], [0, 0, 2]]).all()


def test_add_polarity_counts_matches_polarity_counts_and_checks_its_array():
    from eventsim.render.frames import add_polarity_counts, polarity_counts

    ev = make_events(
        np.array([0, 1, 1]), np.array([1, 0, 0]), np.array([0, 1, 2]), np.array([1, 0, 0])
    )
    counts = np.zeros((2, 2, 3), np.int32)
    add_polarity_counts(counts, ev)
    add_polarity_counts(counts, ev)
    assert (counts == 2 * polarity_counts(ev, (3, 2))).all()
    with pytest.raises(ParameterError, match="C-contiguous"):
        add_polarity_counts(np.zeros((2, 3, 2), np.int32).transpose(0, 2, 1), ev)


def test_render_names_the_sensor_not_an_unset_scale(tmp_path, capsys):
    """'--scale 1 makes 32767x32767 frames; keep width x height under ...' named an option the
    user had not given, and 'under' the limit that 8192x8192 itself meets."""
    from eventsim.cli.render import main

    src = _save(tmp_path / "ev.npy", [0], [0], [0], [1])
    out = tmp_path / "r.png"
    assert main([str(src), "-o", str(out), "--sensor-size", "32767x32767"]) != 0
    err = capsys.readouterr().err
    assert "sensor size 32767x32767 makes 32767x32767 frames" in err, err
    assert "at most 67,108,864 pixels (width x height), e.g. 8192x8192" in err, err
    assert "--scale" not in err, err
    assert main([str(src), "-o", str(out), "--sensor-size", "5000x5000", "--scale", "2"]) != 0
    assert "--scale 2 makes 10000x10000 frames" in capsys.readouterr().err


def test_a_wide_sensors_scatter_has_few_x_ticks(tmp_path):
    """Nine 4-digit ticks (0, 1000, ... 8000) on the 3D scatter's x axis ran into each other."""
    src = _save(tmp_path / "ev.npy", [0, 7999], [0, 1], [0, 10], [1, 0])
    with open_events(src, sensor_size=(8000, 2)) as reader:
        fig = summary.summary_figure(summary.collect_summary(reader))
    ax = next(a for a in fig.axes if a.name == "3d")
    ticks = [t for t in ax.get_xticks() if 0 <= t <= 8000]
    assert len(ticks) <= 5, ticks
