"""Round 9 audit of `eventsim render` / `eventsim plot` on awkward inputs: frame rates MPEG-4
cannot store, the GIF note's wording, and the summary figure of very short and very long
recordings."""

from __future__ import annotations

import re

import numpy as np
import pytest

from eventsim.errors import ParameterError
from eventsim.events import make_events


def _save(path, x, y, t, p):
    np.save(path, make_events(np.array(x), np.array(y), np.array(t), np.array(p)))
    return path


@pytest.mark.parametrize("fps", [65536, 40000.5, 1e6])
def test_an_mp4_at_a_rate_mpeg4_cannot_store_is_refused_naming_it(tmp_path, fps):
    """OpenCV failed to open the writer ('could not open a mp4v video writer'), after FFmpeg's
    own 'timebase 2/80001 not supported' on stderr: neither named --fps."""
    from eventsim.render.writers import VideoSink

    out = tmp_path / "v.mp4"
    with pytest.raises(ParameterError, match=re.escape(f"fps {fps:g} cannot be stored in MPEG-4")):
        VideoSink(out, fps=fps)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fps", [65535, 29.97, 12.3456, 0.0123])
def test_rates_mpeg4_stores_are_written(tmp_path, fps):
    from eventsim.render.writers import VideoSink

    with VideoSink(tmp_path / "v.mp4", fps=fps) as sink:
        for _ in range(2):
            sink.write(np.zeros((8, 8, 3), np.uint8))
    assert (tmp_path / "v.mp4").stat().st_size > 0


@pytest.mark.parametrize(
    ("fps", "den"), [(65535, 65535), (65536, 65536), (40000.5, 80001), (12.3456, 6173)]
)
def test_the_time_base_is_opencvs(fps, den):
    from eventsim.render.writers import opencv_time_base

    assert opencv_time_base(fps)[1] == den


@pytest.mark.parametrize("fps", [65535, 65536, 30000.25, 65535.3, 7.77777])
def test_the_refusal_agrees_with_opencvs_writer(tmp_path, fps):
    import cv2

    from eventsim.render.writers import MAX_MPEG4_TIME_BASE_DEN, opencv_time_base

    writer = cv2.VideoWriter(str(tmp_path / "v.mp4"), cv2.VideoWriter.fourcc(*"mp4v"), fps, (8, 8))
    try:
        assert writer.isOpened() == (opencv_time_base(fps)[1] <= MAX_MPEG4_TIME_BASE_DEN)
    finally:
        writer.release()


def test_the_cli_refuses_before_writing(tmp_path, capsys):
    from eventsim.cli.render import main

    src = _save(tmp_path / "ev.npy", [1, 2], [1, 2], [0, 150_000], [1, 0])
    base = [str(src), "--sensor-size", "8x8", "--window-ms", "100", "--fps", "1e5"]
    assert main([*base, "-o", str(tmp_path / "v.mp4"), "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "--fps 100000 cannot be stored in MPEG-4 video" in err and "timebase" not in err, err
    assert not (tmp_path / "v.mp4").exists()
    # nor can an .avi hold it (test_render_second_look9)
    assert main([*base, "-o", str(tmp_path / "v.avi"), "--no-progress"]) != 0


def test_the_gif_note_counts_whole_times_and_points_to_a_video_that_holds_the_rate(
    tmp_path, capsys
):
    """'2e+03x slower than --fps 100000 ...; an .mp4 plays at 100000 fps' (it cannot)."""
    from eventsim.cli.render import main

    src = _save(tmp_path / "ev.npy", [1, 2], [1, 2], [0, 150_000], [1, 0])
    base = [str(src), "--sensor-size", "8x8", "--window-ms", "100", "--no-progress"]
    assert main([*base, "-o", str(tmp_path / "a.gif"), "--fps", "1e5"]) == 0
    err = capsys.readouterr().err
    assert "2,000x slower than --fps 100000" in err, err
    assert "neither an .mp4 nor an .avi can play at 100000 fps" in err, err
    assert main([*base, "-o", str(tmp_path / "b.gif"), "--fps", "1000"]) == 0
    err = capsys.readouterr().err
    assert "20x slower than --fps 1000" in err and "an .mp4 plays at 1000 fps" in err, err


def _summary(path, sensor_size):
    from eventsim.io import open_events
    from eventsim.render.summary import collect_summary, summary_figure

    with open_events(path, sensor_size=sensor_size) as reader:
        s = collect_summary(reader)
    return s, [t for ax in summary_figure(s).axes for t in (ax.get_title(), ax.get_ylabel())]


def test_rate_bins_are_at_least_a_microsecond(tmp_path):
    """200 bins over a 21 µs file were 0.105 µs each, alternately empty and holding one event:
    spikes of a made-up 9.5 Mev/s."""
    pytest.importorskip("matplotlib")
    src = _save(tmp_path / "ev.npy", [0, 0, 0], [0, 0, 0], [0, 10, 20], [1, 0, 1])
    s, texts = _summary(src, (1, 1))
    assert s.bin_counts.shape == (2, 21) and s.bin_counts.sum() == 3
    assert (np.diff(s.bin_edges_us) == 1).all()
    assert "Event rate by polarity (bins of 0.001 ms)" in texts, texts
    assert "event rate [Mev/s]" in texts, texts
    # the 21 µs scatter window was titled '0.0–0.0 ms'
    assert "x-y-t of 3 events, 0.000–0.021 ms" in texts, texts


def test_a_recording_of_hours_is_labelled_in_seconds(tmp_path):
    """A 10 000 s file said 'bins of 5e+04 ms' and 'x-y-t of ..., 0.0–10000000.0 ms'."""
    pytest.importorskip("matplotlib")
    t = [0, 3_000_000_000, 10_000_000_000]
    src = _save(tmp_path / "ev.npy", [1, 2, 3], [1, 2, 3], t, [1, 0, 1])
    _, texts = _summary(src, (8, 8))
    assert "Event rate by polarity (bins of 50 s)" in texts, texts
    assert "x-y-t of 3 events, 0.0–10000.0 s" in texts, texts
    assert "t [s]" in texts, texts


def test_a_typical_recordings_labels_are_as_before(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    n = 2000
    t = np.sort(rng.integers(0, 900_000, n))
    src = _save(
        tmp_path / "ev.npy", rng.integers(0, 8, n), rng.integers(0, 8, n), t, rng.integers(0, 2, n)
    )
    s, texts = _summary(src, (8, 8))
    bins = [x for x in texts if x.startswith("Event rate by polarity (bins of ")]
    assert bins == [f"Event rate by polarity (bins of {(t[-1] + 1 - t[0]) / 200 / 1e3:.3g} ms)"]
    a, b = ((v - s.t_start_us) / 1e3 for v in s.scatter_window_us)
    assert f"x-y-t of {len(s.scatter):,} events, {a:.1f}–{b:.1f} ms" in texts, texts
    assert "t [ms]" in texts


def test_an_output_force_would_not_replace_is_refused_as_such_without_force(tmp_path, capsys):
    """Without --force these said 'exists; pass --force to overwrite it', and with --force
    that --force would not replace them: a folder holding a user's file, a file where a
    folder of PNGs is asked for, a folder named like the plot's file."""
    from eventsim.cli.plot import main as plot_main
    from eventsim.cli.render import main as render_main

    src = _save(tmp_path / "ev.npy", [1, 2], [1, 2], [0, 150_000], [1, 0])
    base = [str(src), "--sensor-size", "8x8", "--no-progress"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert render_main([*base, "-o", str(mine)]) == 1
    err = capsys.readouterr().err
    assert "holds 'notes.txt', which is not a rendered frame" in err and "pass --force" not in err
    (tmp_path / "afile").write_text("keep")
    assert render_main([*base, "-o", str(tmp_path / "afile") + "/"]) == 1
    err = capsys.readouterr().err
    assert "is a file; a folder of PNGs does not replace it" in err, err
    (tmp_path / "fig.png").mkdir()
    pytest.importorskip("matplotlib")
    assert plot_main([*base, "-o", str(tmp_path / "fig.png")]) == 1
    err = capsys.readouterr().err
    assert "is a folder; expected a regular file" in err and "pass --force" not in err, err
    # an earlier render's folder is still only 'exists' without --force
    frames = tmp_path / "frames"
    assert render_main([*base, "-o", str(frames)]) == 0
    assert render_main([*base, "-o", str(frames)]) == 1
    assert "exists; pass --force to overwrite it" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--window-ms", "0"], "--window-ms 0 must be > 0 and finite"),
        (["--window-ms", "inf"], "--window-ms inf must be > 0 and finite"),
        (["--window-ms", "0.0001"], "--window-ms 0.0001 is shorter than 1 µs"),
        (["--events-per-frame", "0"], "--events-per-frame 0 must be >= 1"),
        (
            ["--window-ms", "5", "--events-per-frame", "10"],
            "not both (got --window-ms 5 and --events-per-frame 10)",
        ),
        (["--start-ms", "-1"], "--start-ms -1 must be >= 0"),
        (["--end-ms", "-2"], "--end-ms -2 must be > 0"),
    ],
)
def test_window_errors_name_the_options_as_typed(tmp_path, capsys, extra, message):
    """'window 0 ms must be > 0' (and '... inf ms must be > 0', which it is), 'events per
    frame 0', 'start_ms -1.0': the options and values as typed."""
    from eventsim.cli.render import main

    src = _save(tmp_path / "ev.npy", [1, 2], [1, 2], [0, 150_000], [1, 0])
    argv = [str(src), "--sensor-size", "8x8", "-o", str(tmp_path / "x.png"), "--no-progress"]
    assert main([*argv, *extra]) == 1
    err = capsys.readouterr().err
    assert message in err, err


def test_a_few_events_are_seen_in_the_scatter(tmp_path):
    """Dots of 1 pt² drew one event (or three) as nothing at all under 'x-y-t of 1 event'."""
    pytest.importorskip("matplotlib")
    from eventsim.io import open_events
    from eventsim.render.summary import collect_summary, summary_figure

    src = _save(tmp_path / "ev.npy", [3], [2], [123456], [1])
    with open_events(src, sensor_size=(64, 48)) as reader:
        fig = summary_figure(collect_summary(reader))
    ax = next(a for a in fig.axes if a.name == "3d")
    assert ax.collections[0].get_sizes()[0] >= 8
    rng = np.random.default_rng(1)
    n = 5000
    t = np.sort(rng.integers(0, 1_000_000, n))
    src = _save(
        tmp_path / "many.npy",
        rng.integers(0, 8, n),
        rng.integers(0, 8, n),
        t,
        rng.integers(0, 2, n),
    )
    with open_events(src, sensor_size=(8, 8)) as reader:
        fig = summary_figure(collect_summary(reader))
    ax = next(a for a in fig.axes if a.name == "3d")
    assert ax.collections[0].get_sizes()[0] == 1.0
