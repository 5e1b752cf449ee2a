"""Findings of a fresh-eyes review of `eventsim render` and `eventsim plot`: what a researcher
sees in the pictures, frame counts and timings of the outputs."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.events import EVENT_DTYPE
from eventsim.render import RenderParams, render_file


def _events(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    ev = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for i, row in enumerate(rows):
        ev[i] = row
    return ev


def _gif_frames(path) -> tuple[list[np.ndarray], list[int]]:
    from PIL import Image

    frames, durations = [], []
    with Image.open(path) as im:
        for k in range(im.n_frames):
            im.seek(k)
            frames.append(np.asarray(im.convert("RGB")))
            durations.append(im.info["duration"])
    return frames, durations


def _png_frames(folder) -> list[np.ndarray]:
    import cv2

    frames = []
    for p in sorted(folder.glob("frame_*.png")):
        image = cv2.imread(str(p))
        assert image is not None, p
        frames.append(image[:, :, ::-1])
    return frames


@pytest.mark.parametrize("mode", ["polarity", "heatmap"])
def test_gif_keeps_one_frame_per_window_when_windows_repeat(tmp_path, mode):
    """Empty windows between events minutes apart repeat the frame before; Pillow folded such
    repeats into one GIF frame, so 11 windows came out as 5 frames."""
    pytest.importorskip("PIL")
    src = tmp_path / "gap.npy"
    minute = 60_000_000
    np.save(src, _events([(1, 1, 0, 1), (2, 2, 5 * minute, 0), (3, 3, 10 * minute, 1)]))
    params = RenderParams(mode=mode, colorbar=False)
    kw = {"window_ms": 60_000, "progress": False, "sensor_size": (4, 4)}
    result = render_file(src, tmp_path / "v.gif", params, **kw)
    render_file(src, tmp_path / "frames", params, **kw)
    frames, durations = _gif_frames(tmp_path / "v.gif")
    expected = _png_frames(tmp_path / "frames")
    assert result.n_frames == len(expected) == len(frames) == 11
    for got, want in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert sum(durations) == 370  # 11 frames at 30 fps, in whole centiseconds


def test_gif_keeps_frames_of_a_fade_that_quantises_to_the_same_colours(tmp_path):
    """A time surface fading slowly after the last event changes each frame by a level or so;
    quantised to the GIF's 255 colours, consecutive frames came out equal and were folded."""
    pytest.importorskip("PIL")
    rng = np.random.default_rng(3)
    n = 20_000
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["x"], ev["y"] = rng.integers(0, 64, n), rng.integers(0, 48, n)
    ev["t"], ev["p"] = np.sort(rng.integers(0, 50_000, n)), rng.integers(0, 2, n)
    src = tmp_path / "fade.npy"
    np.save(src, ev)
    params = RenderParams(mode="timesurface", tau_ms=1000.0)
    kw = {"window_ms": 1, "end_ms": 80, "progress": False, "sensor_size": (64, 48)}
    result = render_file(src, tmp_path / "v.gif", params, **kw)
    frames, _ = _gif_frames(tmp_path / "v.gif")
    assert result.n_frames == len(frames) == 80


def test_gif_of_a_range_without_events_is_still_animated(tmp_path):
    pytest.importorskip("PIL")
    src = tmp_path / "two.npy"
    np.save(src, _events([(0, 0, 0, 1), (1, 0, 1000, 0)]))
    out = tmp_path / "blank.gif"
    result = render_file(
        src, out, window_ms=1, start_ms=3, end_ms=9, progress=False, sensor_size=(4, 3)
    )
    frames, _ = _gif_frames(out)
    assert result.n_frames == len(frames) == 6
    assert all(not f.any() for f in frames)


def test_summary_of_a_short_recording_reads_in_milliseconds(tmp_path):
    """A 0.2 ms recording was titled "0.000 s" and its rate plot ticked 0.000000, 0.000025, ...
    seconds, labels that ran into each other."""
    pytest.importorskip("matplotlib")
    from eventsim.io import open_events
    from eventsim.render.summary import collect_summary, summary_figure

    src = tmp_path / "short.npy"
    np.save(src, _events([(0, 0, 0, 1), (5, 1, 100, 0), (9, 1, 200, 1)]))
    with open_events(src, sensor_size=(10, 2)) as reader:
        fig = summary_figure(collect_summary(reader))
    title = fig._suptitle.get_text()
    assert "0.201 ms" in title and "0.000 s" not in title, title
    assert fig.axes[0].get_xlabel() == "time since first event [ms]"
    ticks = [float(t) for t in fig.axes[0].get_xticks()]
    assert max(ticks) < 1.0  # the plot spans 0.2 ms, drawn in ms


def test_summary_of_a_long_recording_keeps_seconds(tmp_path):
    pytest.importorskip("matplotlib")
    from eventsim.io import open_events
    from eventsim.render.summary import collect_summary, summary_figure

    src = tmp_path / "long.npy"
    np.save(src, _events([(0, 0, 0, 1), (1, 0, 2_500_000, 0)]))
    with open_events(src, sensor_size=(2, 1)) as reader:
        fig = summary_figure(collect_summary(reader))
    assert "2.500 s" in fig._suptitle.get_text()
    assert fig.axes[0].get_xlabel() == "time since first event [s]"


def _corner_events(x0: int, x1: int, y0: int, y1: int, n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(7)
    rows = [
        (int(x), int(y), i, int(p))
        for i, (x, y, p) in enumerate(
            zip(rng.integers(x0, x1, n), rng.integers(y0, y1, n), rng.integers(0, 2, n))
        )
    ]
    return _events(rows)


def _bar_at(frame: np.ndarray, bar: np.ndarray, corner: str) -> bool:
    from eventsim.render.scales import colorbar_box

    x0, y0, x1, y1 = colorbar_box((frame.shape[1], frame.shape[0]), bar.shape[1::-1], corner)
    return np.array_equal(frame[y0:y1, x0:x1], bar)


def test_heatmap_colour_bar_does_not_hide_events_in_its_corner():
    """Events in the bottom-right corner were painted over by the colour bar although three
    corners were empty."""
    from eventsim.render import FrameRenderer, count_map, render_heatmap
    from eventsim.render.frames import count_full_scale
    from eventsim.render.scales import heatmap_colorbar

    sensor = (346, 260)
    events = _corner_events(280, 346, 200, 260)
    counts = count_map(events, sensor)
    full = count_full_scale(counts)
    frame = FrameRenderer(RenderParams(mode="heatmap"), sensor).render(events, 0, 400)
    plain = render_heatmap(counts, max_count=full)
    bar = heatmap_colorbar(full)
    lit = counts > 0
    np.testing.assert_array_equal(frame[lit], plain[lit])
    assert _bar_at(frame, bar, "bottom-left")


def test_heatmap_colour_bar_stays_put_in_a_video_while_it_hides_nothing():
    from eventsim.render import FrameRenderer
    from eventsim.render.scales import heatmap_colorbar

    sensor = (346, 260)
    renderer = FrameRenderer(RenderParams(mode="heatmap", max_count=4.0), sensor)
    bar = heatmap_colorbar(4.0)
    first = renderer.render(_corner_events(280, 346, 200, 260), 0, 400)
    # bottom right is free again, but the bar does not jump back
    second = renderer.render(_corner_events(150, 200, 100, 150), 400, 800)
    assert _bar_at(first, bar, "bottom-left") and _bar_at(second, bar, "bottom-left")
    # with no corner free it stays where it is
    third = renderer.render(_corner_events(0, 346, 0, 260, 20000), 800, 20800)
    assert _bar_at(third, bar, "bottom-left")
    assert not _bar_at(third, bar, "bottom-right")


def test_summary_heat_map_shows_pixels_with_one_event(tmp_path):
    """The summary's heat map ran LogNorm from 1 event: a pixel with one event took the colour
    map's black bottom, the colour of pixels without events, so sparse edges vanished."""
    pytest.importorskip("matplotlib")
    from eventsim.io import open_events
    from eventsim.render.summary import collect_summary, summary_figure

    rows = [(0, 0, t, 1) for t in range(100)] + [(3, 2, 200, 0)]
    src = tmp_path / "sparse.npy"
    np.save(src, _events(rows))
    with open_events(src, sensor_size=(4, 3)) as reader:
        fig = summary_figure(collect_summary(reader))
    heat = fig.axes[1].get_images()[0]
    one_event = heat.to_rgba(np.array([[1.0]]))[0, 0, :3]
    none = heat.to_rgba(np.array([[0.0]]))[0, 0, :3]
    assert one_event.max() > 0.15 and np.abs(one_event - none).max() > 0.15, one_event


def test_windows_shorter_than_a_microsecond_are_refused(tmp_path):
    """Window bounds are whole µs: a 0.5 µs window made every other frame zero-length, and an
    event at the first window's start landed in the second frame."""
    from eventsim.errors import ParameterError
    from eventsim.render import split_by_time

    events = _events([(0, 0, 0, 1), (1, 0, 1, 1), (2, 0, 2, 0)])
    with pytest.raises(ParameterError, match="shorter than 1 µs"):
        list(split_by_time(events, 0.5))
    src = tmp_path / "ev.npy"
    np.save(src, events)
    with pytest.raises(ParameterError, match="shorter than 1 µs"):
        render_file(src, tmp_path / "f", window_ms=0.0005, progress=False, sensor_size=(3, 1))
    assert not (tmp_path / "f").exists()
    # one µs is the finest window: one event per frame, each in its own window
    windows = list(split_by_time(events, 1.0))
    assert [(a, b, len(ev)) for a, b, ev in windows] == [(0, 1, 1), (1, 2, 1), (2, 3, 1)]


def test_mp4_too_wide_for_mpeg4_is_refused_in_one_line(tmp_path, capfd):
    """A 32767-px-wide sensor ended in FFmpeg's and OpenCV's own log lines and "OpenCV could
    not open a mp4v video writer", which did not say why."""
    from eventsim.errors import ParameterError
    from eventsim.render.writers import MAX_MPEG4_SIDE, VideoSink

    with VideoSink(tmp_path / "ok.mp4", fps=30.0) as sink:
        sink.write(np.zeros((2, MAX_MPEG4_SIDE, 3), np.uint8))
    with pytest.raises(ParameterError, match="too large for MPEG-4"):
        with VideoSink(tmp_path / "wide.mp4", fps=30.0) as sink:
            sink.write(np.zeros((2, MAX_MPEG4_SIDE + 1, 3), np.uint8))
    assert not (tmp_path / "wide.mp4").exists()
    assert "dimensions too large" not in capfd.readouterr().err
