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


def test_the_cli_refuses_before_writing_and_an_avi_takes_the_rate(tmp_path, capsys):
    from eventsim.cli.render import main

    src = _save(tmp_path / "ev.npy", [1, 2], [1, 2], [0, 150_000], [1, 0])
    base = [str(src), "--sensor-size", "8x8", "--window-ms", "100", "--fps", "1e5"]
    assert main([*base, "-o", str(tmp_path / "v.mp4"), "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "--fps 100000 cannot be stored in MPEG-4 video" in err and "timebase" not in err, err
    assert not (tmp_path / "v.mp4").exists()
    assert main([*base, "-o", str(tmp_path / "v.avi"), "--no-progress"]) == 0


def test_the_gif_note_counts_whole_times_and_points_to_a_video_that_holds_the_rate(
    tmp_path, capsys
):
    """'2e+03x slower than --fps 100000 ...; an .mp4 plays at 100000 fps' (it cannot)."""
    from eventsim.cli.render import main

    src = _save(tmp_path / "ev.npy", [1, 2], [1, 2], [0, 150_000], [1, 0])
    base = [str(src), "--sensor-size", "8x8", "--window-ms", "100", "--no-progress"]
    assert main([*base, "-o", str(tmp_path / "a.gif"), "--fps", "1e5"]) == 0
    err = capsys.readouterr().err
    assert "2,000x slower than --fps 100000" in err and "an .avi plays at 100000 fps" in err, err
    assert main([*base, "-o", str(tmp_path / "b.gif"), "--fps", "1000"]) == 0
    err = capsys.readouterr().err
    assert "20x slower than --fps 1000" in err and "an .mp4 plays at 1000 fps" in err, err
