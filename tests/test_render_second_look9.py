"""Second look at round 9's render/plot changes: .avi frame rates (FFmpeg's AVI muxer keeps at
most 1000 fps; the .mp4 refusal sent users to an .avi for rates it cannot hold either) and the
rate panel of bins a fraction of a µs past whole (a steady stream drawn as a comb)."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import ParameterError
from eventsim.events import make_events


def _save(path, x, y, t, p):
    np.save(path, make_events(np.array(x), np.array(y), np.array(t), np.array(p)))
    return path


def _frames_read_back(path) -> int:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()


@pytest.mark.parametrize(("fps", "kept"), [(1000, True), (1000.5, False), (5000, False)])
def test_opencvs_avi_keeps_every_frame_up_to_1000_fps(tmp_path, fps, kept):
    """The premise: over 1000 fps the AVI muxer stores 600 fps and drops frames."""
    import cv2

    from eventsim._opencv import opencv_log_silenced

    path = tmp_path / "v.avi"
    with opencv_log_silenced():
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (8, 8))
        for k in range(40):
            writer.write(np.full((8, 8, 3), k, np.uint8))
        writer.release()
    assert (_frames_read_back(path) == 40) == kept


@pytest.mark.parametrize("fps", [1000.5, 5000, 1e5])
def test_an_avi_faster_than_1000_fps_is_refused_up_front(tmp_path, fps):
    from eventsim.render.writers import VideoSink

    with pytest.raises(ParameterError, match=f"fps {fps:g} is too fast for an .avi"):
        VideoSink(tmp_path / "v.avi", fps=fps)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fps", [1000, 123.4567, 29.97, 30000 / 1001, 0.01])
def test_an_avi_at_a_rate_it_holds_keeps_every_frame(tmp_path, fps):
    from eventsim.render.writers import VideoSink

    with VideoSink(tmp_path / "v.avi", fps=fps) as sink:
        for k in range(30):
            sink.write(np.full((8, 8, 3), k, np.uint8))
    assert _frames_read_back(tmp_path / "v.avi") == 30


def test_the_cli_names_fps_for_a_fast_avi_not_a_full_disk(tmp_path, capsys):
    """It wrote frames until the muxer dropped one, then said 'could not write frame 6 ...:
    is the disk full or the file system read-only?'."""
    from eventsim.cli.render import main

    n = 40
    src = _save(
        tmp_path / "ev.npy", np.arange(n) % 8, np.arange(n) % 8, np.arange(n) * 1000, [1] * n
    )
    base = [str(src), "--sensor-size", "8x8", "--window-ms", "1", "--no-progress"]
    assert main([*base, "--fps", "5000", "-o", str(tmp_path / "v.avi")]) != 0
    err = capsys.readouterr().err
    assert "--fps 5000 is too fast for an .avi" in err and "write an .mp4" in err, err
    assert "disk" not in err, err
    assert not (tmp_path / "v.avi").exists()
    assert main([*base, "--fps", "5000", "-o", str(tmp_path / "v.mp4")]) == 0


@pytest.mark.parametrize(
    ("fps", "advice"),
    [
        (123.4567, "write an .avi (Motion JPEG)"),
        (1e5, "choose another fps (an .avi holds at most 1000), or write a .gif"),
    ],
)
def test_the_mp4_refusal_points_to_an_avi_only_where_one_holds_the_rate(tmp_path, fps, advice):
    from eventsim.render.writers import VideoSink

    with pytest.raises(ParameterError) as info:
        VideoSink(tmp_path / "v.mp4", fps=fps)
    assert advice in str(info.value), info.value


@pytest.mark.parametrize(
    ("fps", "video"),
    [
        ("1e5", "neither an .mp4 nor an .avi can play at 100000 fps"),
        ("5000", "an .mp4 plays at 5000 fps"),
        ("1000", "an .mp4 plays at 1000 fps"),
    ],
)
def test_the_gif_note_names_a_video_that_plays_the_rate(tmp_path, capsys, fps, video):
    """'an .avi plays at 100000 fps': it drops frames past 1000 fps."""
    from eventsim.cli.render import main

    src = _save(tmp_path / "ev.npy", [1, 2], [1, 2], [0, 150_000], [1, 0])
    out = tmp_path / "a.gif"
    args = [str(src), "--sensor-size", "8x8", "--window-ms", "100", "--no-progress"]
    assert main([*args, "--fps", fps, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert video in err, err


def test_a_steady_stream_in_bins_of_a_fraction_past_whole_us_is_flat(tmp_path):
    """One event a µs for 250 µs in 200 bins of 1.25 µs: every fourth bin holds two
    timestamps, and the panel drew 1.6 Mev/s there and 0.8 Mev/s between."""
    from eventsim.io import open_events
    from eventsim.render import summary

    pytest.importorskip("matplotlib")
    n = 250
    src = _save(tmp_path / "ev.npy", [0] * n, [0] * n, np.arange(n), [1] * n)
    with open_events(src, sensor_size=(4, 4)) as reader:
        s = summary.collect_summary(reader)
    assert s.bin_counts.shape == (2, 200)
    fig = summary.summary_figure(s)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "event rate [Mev/s]"
    on = next(p for p in ax.patches if p.get_label() == "ON")
    assert np.allclose(on.get_data()[0], 1.0), on.get_data()[0][:8]


def test_a_typical_recordings_rates_are_as_before(tmp_path):
    """Whole-µs bins (10 ms each) are drawn at count / bin width, as they were."""
    from eventsim.io import open_events
    from eventsim.render import summary

    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(3)
    t = np.sort(rng.integers(0, 2_000_000, 5000))
    t[0], t[-1] = 0, 1_999_999
    p = rng.integers(0, 2, 5000)
    src = _save(tmp_path / "ev.npy", np.zeros(5000, int), np.zeros(5000, int), t, p)
    with open_events(src, sensor_size=(4, 4)) as reader:
        s = summary.collect_summary(reader)
    ax = summary.summary_figure(s).axes[0]
    on = next(q for q in ax.patches if q.get_label() == "ON")
    assert ax.get_ylabel() == "event rate [kev/s]"
    assert np.allclose(on.get_data()[0], s.bin_counts[1] / 0.01 / 1e3)


@pytest.mark.parametrize(("n", "wh"), [(50, (3, 2)), (3, (64, 48))])
def test_add_polarity_counts_agrees_whether_it_bins_or_adds_in_place(n, wh):
    """Chunks with more events than pixels are binned (np.add.at, taken for every chunk since
    87771a4, made a VGA plot 2x slower); sparse ones on large sensors are added in place."""
    from eventsim.render.frames import add_polarity_counts, polarity_counts

    rng = np.random.default_rng(n)
    ev = make_events(
        rng.integers(0, wh[0], n), rng.integers(0, wh[1], n), np.arange(n), rng.integers(0, 2, n)
    )
    counts = np.zeros((2, wh[1], wh[0]), np.int32)
    add_polarity_counts(counts, ev)
    add_polarity_counts(counts, ev)
    assert counts.dtype == np.int32
    assert (counts == 2 * polarity_counts(ev, wh)).all()
