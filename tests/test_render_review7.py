"""Seventh render review: the summary names the size a video's frames have in the file, narrow
Motion JPEG frames are padded (not refused), `stream_by_count` is the cut that
``--events-per-frame`` draws and holds one run at a time, and a ranged count-frame GIF is
judged by the events of its range."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from test_render_review6 import _spy_reads

from eventsim.events import EVENT_DTYPE, slice_time
from eventsim.io import open_events, write_events
from eventsim.render import RenderParams, render_file, split_by_count, stream_by_count


def _events(n: int, width: int, height: int, step_us: int = 10) -> np.ndarray:
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.arange(n) * step_us
    ev["x"] = np.arange(n) % width
    ev["y"] = (np.arange(n) // width) % height
    ev["p"] = np.arange(n) % 2
    return ev


def _render_cli(tmp_path, name: str, events: np.ndarray, *options: str):
    src = tmp_path / "ev.npy"
    np.save(src, events)
    cmd = [sys.executable, "-m", "eventsim", "render", str(src), "-o", str(tmp_path / name)]
    return subprocess.run(
        [*cmd, *options, "--no-progress"], capture_output=True, text=True, timeout=120
    )


def _first_video_frame(path) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read()
    capture.release()
    assert ok
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize(
    ("fourcc", "frame_wh", "written"),
    [
        ("mp4v", (33, 25), (34, 26)),
        ("mp4v", (4, 4), (4, 4)),
        ("mp4v", (1, 1), (2, 2)),
        ("MJPG", (346, 260), (346, 260)),
        ("MJPG", (33, 25), (34, 26)),
        ("MJPG", (4, 4), (8, 4)),
        ("MJPG", (5, 3), (8, 4)),
        ("MJPG", (1, 9), (8, 10)),
        ("MJPG", (8, 2), (8, 2)),
    ],
)
def test_video_frame_size_is_even_and_motion_jpeg_at_least_8_wide(fourcc, frame_wh, written):
    from eventsim.render.writers import video_frame_wh

    assert video_frame_wh(fourcc, frame_wh) == written


def test_summary_of_an_odd_sized_mp4_names_the_size_in_the_file(tmp_path):
    """The summary said '1 frame of 33x25' for an MP4 whose frames are 34x26."""
    run = _render_cli(
        tmp_path, "odd.mp4", _events(40, 33, 25), "--sensor-size", "33x25", "--scale", "1"
    )
    assert run.returncode == 0, run.stderr
    assert (
        "1 frame of 34x26 (33x25 frames padded with their edge pixels: video takes even sizes)"
    ) in run.stdout
    assert _first_video_frame(tmp_path / "odd.mp4").shape == (26, 34, 3)


def test_narrow_avi_frames_are_padded_to_8_px_not_refused(tmp_path):
    """4x4 frames were refused for .avi (FFmpeg's Motion JPEG path overruns the picture of
    frames under 8 px wide and the process aborted): they are padded to 8x4 with their edge
    pixels, and the summary says so."""
    ev = _events(4, 4, 4, step_us=100)
    run = _render_cli(
        tmp_path, "narrow.avi", ev, "--sensor-size", "4x4", "--background", "white", "--scale", "1"
    )
    assert run.returncode == 0, run.stderr
    assert "1 frame of 8x4 (4x4 frames padded with their edge pixels: Motion JPEG (.avi) " in (
        run.stdout
    )
    frame = _first_video_frame(tmp_path / "narrow.avi").astype(int)
    assert frame.shape == (4, 8, 3)
    # the padding repeats the last column (JPEG blurs colours a little)
    for col in range(4, 8):
        assert np.abs(frame[:, col] - frame[:, 3]).max() <= 40


def test_render_result_gives_the_written_size(tmp_path):
    src = tmp_path / "ev.npy"
    np.save(src, _events(30, 5, 3))
    for name, written in (("v.avi", (8, 4)), ("v.mp4", (6, 4)), ("v.gif", (5, 3))):
        res = render_file(src, tmp_path / name, window_ms=0.1, progress=False, sensor_size=(5, 3))
        assert (res.frame_wh, res.written_wh) == ((5, 3), written), name
    res = render_file(src, tmp_path / "v.png", RenderParams(scale=3), progress=False)
    assert res.written_wh == res.frame_wh == (15, 9)


def test_a_slow_rate_refusal_names_the_padded_size(tmp_path):
    from eventsim.render.writers import VideoSink

    frame = np.zeros((2, 3, 3), np.uint8)
    sink = VideoSink(tmp_path / "v.avi", fps=0.01)
    with pytest.raises(Exception, match=r"video of 3x2 \(padded to 8x2\) frames"), sink:
        sink.write(frame)
    assert not (tmp_path / "v.avi").exists()


@pytest.fixture
def burst_file(tmp_path):
    """1,000 events over a second, then 50,000 in one millisecond, then 1,000 more."""
    quiet = _events(1000, 16, 8, step_us=1000)
    burst = _events(50_000, 16, 8, step_us=0)
    burst["t"] = 1_000_000 + np.arange(50_000) // 50
    late = _events(1000, 16, 8, step_us=1000)
    late["t"] += 1_002_000
    path = tmp_path / "burst.h5"
    write_events(path, np.concatenate([quiet, burst, late]), (16, 8))
    return path


@pytest.mark.parametrize("ranged", [False, True])
def test_stream_by_count_holds_one_run_at_a_time(burst_file, monkeypatch, ranged):
    """With a range, stream_by_count read time blocks sized from the mean rate (about four
    frames' worth): the 1 ms burst came in one read of 50,000 events for frames of 100. It is
    cut by index now, as ``render --events-per-frame`` cuts: one read per run."""
    with open_events(burst_file) as r:
        everything = r.read()
    lo, hi = (500_000, 1_500_000) if ranged else (None, None)
    reads = _spy_reads(monkeypatch, "read")
    index_reads = _spy_reads(monkeypatch, "read_index")
    with open_events(burst_file) as r:
        got = list(stream_by_count(r, 100, lo, hi))
    assert max([*reads, *index_reads]) <= 100
    expected = everything if lo is None else slice_time(everything, lo, hi)
    want = list(split_by_count(expected, 100))
    assert [w[:2] for w in got] == [w[:2] for w in want]
    assert all(np.array_equal(g[2], w[2]) for g, w in zip(got, want, strict=True))


def test_stream_by_count_gives_the_windows_render_draws(tmp_path, burst_file, monkeypatch):
    from eventsim.render.renderer import FrameRenderer

    drawn: list[tuple[int, int]] = []
    real = FrameRenderer.render

    def spy(self, events, t_start_us, t_end_us, image=None):
        drawn.append((t_start_us, t_end_us))
        return real(self, events, t_start_us, t_end_us, image)

    monkeypatch.setattr(FrameRenderer, "render", spy)
    render_file(
        burst_file,
        tmp_path / "f",
        events_per_frame=700,
        start_ms=300,
        end_ms=1001.5,
        progress=False,
    )
    with open_events(burst_file) as r:
        t0 = int(r.t_start_us)
        windows = list(stream_by_count(r, 700, t0 + 300_000, t0 + 1_001_500))
    assert drawn == [(a, b) for a, b, _ in windows]
    assert len(drawn) == -(-(700 + 50_000) // 700)  # the quiet 700 ms, then the burst


def test_a_range_without_events_streams_no_count_window(burst_file):
    with open_events(burst_file) as r:
        assert list(stream_by_count(r, 10, 3_000_000, 4_000_000)) == []
        assert list(stream_by_count(r, 10, 1_000_000, 1_000_000)) == []


def test_a_ranged_count_gif_is_judged_by_the_events_of_its_range(tmp_path):
    """A GIF of 10-event frames over 1 ms of a 200,000-event file (100 events: 10 frames) was
    refused as '20,000 frames for 200,000 events', the count of the whole file, and told to
    use --start-ms/--end-ms, which it did."""
    ev = _events(200_000, 30, 4)
    args = ("--events-per-frame", "10", "--start-ms", "0", "--end-ms", "1")
    run = _render_cli(tmp_path, "g.gif", ev, *args, "--sensor-size", "32x8")
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stdout and "10 frames of 32x8" in run.stdout
    # a range that does hold too many is still refused, naming its own count
    args = ("--events-per-frame", "1", "--start-ms", "0", "--end-ms", "200")
    run = _render_cli(tmp_path, "h.gif", ev, *args, "--sensor-size", "32x8")
    assert run.returncode == 1
    assert "20,000 frames for 20,000 events (limit 10,000 for gif output)" in run.stderr
