"""Review of `eventsim render` / `eventsim plot` as a user runs them: windows that reach past
the recording, long windows of big files, GIF and MP4 limits."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.events import EVENT_DTYPE
from eventsim.render import (
    RenderParams,
    render_file,
    render_time_surface,
    render_voxel_grid,
    time_surface,
    voxel_grid,
)


def _events(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    ev = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for i, row in enumerate(rows):
        ev[i] = row
    return ev


def _read_png(path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path))
    assert image is not None, path
    return image[:, :, ::-1]


SHORT = _events([(1, 1, 0, 1), (2, 2, 1000, 0), (3, 3, 20_000, 1)])


def _spy_reads(monkeypatch: pytest.MonkeyPatch, method: str) -> list[int]:
    """The event counts of each call of EventReader.``method`` from now on."""
    from eventsim.io.hdf5_reader import EventReader

    reads: list[int] = []
    original = getattr(EventReader, method)

    def spy(self, *args, **kwargs):
        events = original(self, *args, **kwargs)
        reads.append(len(events))
        return events

    monkeypatch.setattr(EventReader, method, spy)
    return reads


def test_time_surface_png_of_a_recording_shorter_than_its_window_shows_it(tmp_path):
    """A time surface was taken at the window's end: a 1 s window over a 20 ms recording drew
    every event decayed to black. It is taken where the events end, as `time_surface` does."""
    src = tmp_path / "short.npy"
    np.save(src, SHORT)
    out = tmp_path / "ts.png"
    params = RenderParams(mode="timesurface")
    render_file(src, out, params, window_ms=1000, progress=False, sensor_size=(8, 6))
    want = render_time_surface(time_surface(SHORT, (8, 6), tau_us=30_000, split_polarity=True))
    np.testing.assert_array_equal(_read_png(out), want)
    assert tuple(_read_png(out)[3, 3]) == (255, 70, 60)  # the last event, at full ON colour


def test_voxel_png_of_a_recording_shorter_than_its_window_spreads_its_bins(tmp_path):
    """The bins spanned the whole 1 s window, so a 20 ms recording fell into the first one."""
    src = tmp_path / "short.npy"
    np.save(src, SHORT)
    out = tmp_path / "vox.png"
    params = RenderParams(mode="voxel", n_bins=3)
    render_file(src, out, params, window_ms=1000, progress=False, sensor_size=(8, 6))
    grid = voxel_grid(SHORT, (8, 6), 3, t_start_us=0, t_end_us=20_000)
    assert grid[2, 3, 3] == 1.0  # the last event sits in the last bin
    np.testing.assert_array_equal(_read_png(out), render_voxel_grid(grid))


def test_mp4_of_small_frames_at_a_slow_rate_is_refused_not_aborted(tmp_path):
    """OpenCV gives FFmpeg's MPEG-4 encoder a bit rate of width * height * fps; when that
    rounds to 0 the encoder's assertion aborted the whole process (8x6 frames at 0.01 fps)."""
    import subprocess
    import sys

    src = tmp_path / "short.npy"
    np.save(src, SHORT)
    out = tmp_path / "slow.mp4"
    cmd = [sys.executable, "-m", "eventsim", "render", str(src), "-o", str(out)]
    cmd += ["--fps", "0.01", "--sensor-size", "8x6", "--scale", "1", "--no-progress"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "fps 0.01 is too slow for MPEG-4 video of 8x6 frames" in run.stderr
    assert "below 0.0104 fps" in run.stderr and not out.exists()
    # Motion JPEG gets the same bit rate of 0 (tests/test_render_second_look6.py)
    cmd[cmd.index(str(out))] = str(tmp_path / "slow.avi")
    assert subprocess.run(cmd, capture_output=True, timeout=120).returncode == 1


@pytest.mark.parametrize("name", ["v.mp4", "v.gif"])
def test_library_refuses_a_playback_rate_no_video_or_gif_holds(tmp_path, name):
    """Only the command line refused rates below 0.01 fps: render_file raised OverflowError
    from Pillow for a GIF and a bare 'could not open a video writer' for an MP4."""
    pytest.importorskip("PIL")
    from eventsim.errors import ParameterError

    src = tmp_path / "short.npy"
    np.save(src, SHORT)
    with pytest.raises(ParameterError, match=r"fps 0\.001 is not a playback rate .* 0\.01"):
        render_file(src, tmp_path / name, fps=0.001, progress=False, sensor_size=(64, 48))
    assert list(tmp_path.iterdir()) == [src]


def test_gif_too_big_to_hold_in_memory_is_refused_up_front(tmp_path, monkeypatch, capsys):
    """Only the frame count was limited (10,000): a minute of 1280x720 at 30 fps (1,800 frames)
    passed, and Pillow holds every frame until the file is written (about 2.2 bytes a pixel of
    each: 3.4 GiB here; 10,000 frames would take 19 GiB)."""
    from eventsim.cli.render import main
    from eventsim.errors import ParameterError
    from eventsim.render import writers

    with pytest.raises(ParameterError, match=r"1,800 GIF frames of 1280x720 are too many"):
        writers.check_gif_size(1800, (1280, 720))
    writers.check_gif_size(10_000, (346, 260))  # a DAVIS346 clip up to the frame limit

    src = tmp_path / "short.npy"
    np.save(src, SHORT)
    out = tmp_path / "v.gif"
    argv = [str(src), "-o", str(out), "--window-ms", "5", "--sensor-size", "8x6", "--no-progress"]
    monkeypatch.setattr(writers, "MAX_GIF_PIXELS", 4 * 48)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "5 GIF frames of 8x6 are too many to write" in err and "folder of PNGs" in err
    assert not out.exists()
    # render_file and the sink check as the frames come
    with pytest.raises(ParameterError, match="5 GIF frames of 8x6"):
        render_file(src, out, window_ms=5, progress=False, sensor_size=(8, 6))
    assert list(tmp_path.iterdir()) == [src]


def test_a_gif_faster_than_50_fps_says_how_fast_it_plays(tmp_path, capsys):
    """Frames under 20 ms are slowed to 100 ms by browsers, so every frame of a 100 fps GIF
    gets 20 ms: it played at half the asked rate without a word."""
    pytest.importorskip("PIL")
    from PIL import Image

    from eventsim.cli.render import main

    src = tmp_path / "short.npy"
    np.save(src, SHORT)
    out = tmp_path / "fast.gif"
    argv = [str(src), "--window-ms", "10", "--sensor-size", "8x6", "--no-progress"]
    assert main([*argv, "-o", str(out), "--fps", "100"]) == 0
    err = capsys.readouterr().err
    assert f"{out} plays at 50 fps, 2x slower than --fps 100: a GIF frame lasts at least 20" in err
    with Image.open(out) as im:
        assert im.n_frames == 3
        for k in range(3):
            im.seek(k)
            assert im.info["duration"] == 20
    result = render_file(src, tmp_path / "fast2.gif", fps=100, window_ms=10, progress=False)
    assert result.fps == 50
    assert render_file(src, tmp_path / "v.mp4", fps=100, window_ms=10, progress=False).fps == 100
    assert render_file(src, tmp_path / "a.gif", fps=25, window_ms=10, progress=False).fps == 25
    assert main([*argv, "-o", str(tmp_path / "slow.gif"), "--fps", "50"]) == 0
    # the reader's note on the time unit stays; no word on the GIF's rate
    assert "plays at" not in capsys.readouterr().err


LOOKS = [
    RenderParams(),
    RenderParams(color_by="net"),
    RenderParams(background="grey"),
    RenderParams(mode="overlay"),
    RenderParams(mode="overlay", color_by="net"),
    RenderParams(mode="timesurface", tau_ms=100),
    RenderParams(mode="heatmap"),
    RenderParams(mode="voxel", n_bins=4),
]


@pytest.fixture
def long_file(tmp_path):
    """2,000 events over 1 s on 16x12, with saved frames for the overlay."""
    from eventsim.io import EventWriter

    rng = np.random.default_rng(6)
    ev = np.zeros(2000, EVENT_DTYPE)
    ev["x"], ev["y"] = rng.integers(0, 16, 2000), rng.integers(0, 12, 2000)
    ev["t"], ev["p"] = np.sort(rng.integers(0, 1_000_000, 2000)), rng.integers(0, 2, 2000)
    path = tmp_path / "long.h5"
    with EventWriter(path, (16, 12)) as w:
        w.write(ev)
        for k in range(4):
            w.add_frame(np.full((12, 16), 50 * k, np.uint8), 250_000 * k)
    return path


@pytest.mark.parametrize("params", LOOKS, ids=lambda p: f"{p.mode}-{p.color_by}-{p.background}")
def test_long_windows_are_read_and_drawn_in_parts(tmp_path, long_file, monkeypatch, params):
    """A window was read whole: a PNG of a 1-hour 1280x720 recording of 20 M events took 0.7 GB
    (heat map) to 1.9 GB (voxel), growing with the recording. Windows expected to hold more
    than PART_EVENTS are read in parts of about that many and drawn as the parts come; the
    pictures are those of the whole windows."""
    from eventsim.render import pipeline

    whole = tmp_path / "whole"
    render_file(long_file, whole / "one.png", params, end_ms=1000, progress=False)
    render_file(long_file, whole / "frames", params, window_ms=250, progress=False)

    reads = _spy_reads(monkeypatch, "read")
    monkeypatch.setattr(pipeline, "PART_EVENTS", 50)
    parted = tmp_path / "parted"
    render_file(long_file, parted / "one.png", params, end_ms=1000, progress=False)
    render_file(long_file, parted / "frames", params, window_ms=250, progress=False)
    assert len(reads) > 40 and max(reads) <= 200
    np.testing.assert_array_equal(_read_png(parted / "one.png"), _read_png(whole / "one.png"))
    names = sorted(p.name for p in (whole / "frames").glob("frame_*.png"))
    assert len(names) == 4
    windows = (parted / "frames" / "windows.csv").read_text()
    assert windows == (whole / "frames" / "windows.csv").read_text()
    for name in names:
        got, want = _read_png(parted / "frames" / name), _read_png(whole / "frames" / name)
        np.testing.assert_array_equal(got, want)


def test_plot_reads_its_scatter_window_in_parts(tmp_path, long_file, monkeypatch):
    """The x-y-t scatter's window is at least a rate bin wide and was read whole before being
    thinned: with --bins 1 that was the whole file (20 M events at 1280x720: 458 MB against
    283 MB with 200 bins). It is read in parts, counted, then picked: the same events."""
    from eventsim.io import open_events
    from eventsim.render.summary import collect_summary

    with open_events(long_file) as r:
        everything = r.read()
    reads = _spy_reads(monkeypatch, "read")
    with open_events(long_file) as r:
        s = collect_summary(r, n_bins=1, scatter_events=100, chunk_events=100)
    assert max(reads) <= 400
    a, b = s.scatter_window_us
    window = everything[(everything["t"] >= a) & (everything["t"] < b)]
    assert len(window) == 2000
    np.testing.assert_array_equal(s.scatter, window[np.linspace(0, 1999, 100).astype(np.int64)])


@pytest.mark.parametrize("name", ["odd.mp4", "odd.avi"])
def test_odd_frames_in_a_video_are_padded_with_their_edge(tmp_path, name):
    """Odd sizes are padded to even ones (the encoders crop them); the padding was black, a
    dark line along the right and bottom of a white frame."""
    import cv2

    src = tmp_path / "short.npy"
    np.save(src, SHORT)
    out = tmp_path / name
    params = RenderParams(background="white")
    render_file(src, out, params, window_ms=50, progress=False, sensor_size=(33, 25))
    capture = cv2.VideoCapture(str(out))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (26, 34, 3)
    assert frame[:, 33].min() > 200 and frame[25].min() > 200  # white, as the frame's edge


@pytest.mark.parametrize("mode", ["polarity", "timesurface", "voxel"])
@pytest.mark.parametrize("flag", ["--on-color", "--off-color"])
def test_colours_with_a_grey_background_are_refused_not_ignored(tmp_path, capsys, mode, flag):
    """--background grey draws signed grey levels: --on-color green gave the same picture
    without a word, where every other option a look does not use is refused."""
    from eventsim.cli.render import main

    src = tmp_path / "short.npy"
    np.save(src, SHORT)
    out = tmp_path / "g.png"
    argv = [str(src), "-o", str(out), "--mode", mode, "--background", "grey", flag, "green"]
    assert main([*argv, "--sensor-size", "8x6", "--no-progress"]) == 1
    assert f"{flag} does not apply to --background grey" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("params", LOOKS, ids=lambda p: f"{p.mode}-{p.color_by}-{p.background}")
@pytest.mark.parametrize("ranged", [False, True])
def test_large_event_counts_per_frame_are_read_in_parts(
    tmp_path, long_file, monkeypatch, params, ranged
):
    """--events-per-frame N read N events at once (a frame of 20 M events: 1.9 GB as a voxel
    grid). Frames are cut by index and read in parts of PART_EVENTS; the same pictures."""
    from eventsim.render import pipeline

    kw = {"events_per_frame": 600, "progress": False}
    if ranged:
        kw |= {"start_ms": 100, "end_ms": 900}
    render_file(long_file, tmp_path / "whole", params, **kw)

    reads = _spy_reads(monkeypatch, "read_index")
    monkeypatch.setattr(pipeline, "PART_EVENTS", 50)
    result = render_file(long_file, tmp_path / "parted", params, **kw)
    assert result.n_frames == (3 if ranged else 4)
    assert max(reads) <= 50
    for k in range(result.n_frames):
        name = f"frame_{k:06d}.png"
        got, want = _read_png(tmp_path / "parted" / name), _read_png(tmp_path / "whole" / name)
        np.testing.assert_array_equal(got, want)
