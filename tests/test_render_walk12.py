"""Visualisation walkthrough 12 of `eventsim render`: video colour of lone event pixels (4:2:0
chroma), --color-by with --background grey, the summary of windows without events, ranges
that round to no time, the digits of a start past the recording, a PNG's unused --end-ms and a
fractional --max-count."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.events import make_events

ON, OFF = 1, 0


def _save(path, x, y, t, p):
    np.save(path, make_events(np.array(x), np.array(y), np.array(t), np.array(p)))
    return path


def _render(capsys, *argv):
    from eventsim.cli.render import main

    rc = main([*map(str, argv), "--no-progress"])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _lone_pixels(tmp_path):
    """Isolated ON and OFF events on a 64x48 sensor, 8 px apart, alternating polarity."""
    xs, ys, ps = [], [], []
    for k, (y, x) in enumerate((y, x) for y in range(4, 48, 8) for x in range(3, 64, 8)):
        xs.append(x)
        ys.append(y)
        ps.append(ON if k % 2 == 0 else OFF)
    ts = np.arange(len(xs)) * 10
    return _save(tmp_path / "lone.npy", xs, ys, ts, ps), list(zip(xs, ys, ps, strict=True))


def _first_frame(path):
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    assert ok
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(int)


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_lone_event_pixels_keep_their_polarity_colour_in_video(tmp_path, capsys, suffix):
    """Both encoders keep colour at half resolution: a lone ON pixel (255,70,60) decoded as
    grey (144,113,119) and OFF (60,140,255) as (103,132,130). Video is now drawn at 2x."""
    src, pixels = _lone_pixels(tmp_path)
    out = tmp_path / f"v{suffix}"
    rc, text, err = _render(capsys, src, "--sensor-size", "64x48", "-o", out)
    assert rc == 0, err
    assert "of 128x96 (drawn at 2x" in text and "--scale 1" in text, text
    frame = _first_frame(out)
    assert frame.shape[:2] == (96, 128)
    for x, y, p in pixels:
        r, _, b = frame[2 * y, 2 * x]
        if p == ON:
            assert r - b > 80, (x, y, frame[2 * y, 2 * x])
        else:
            assert b - r > 80, (x, y, frame[2 * y, 2 * x])


def test_a_given_scale_and_a_grey_video_are_drawn_as_asked(tmp_path, capsys):
    src, _ = _lone_pixels(tmp_path)
    rc, text, _err = _render(
        capsys, src, "--sensor-size", "64x48", "--scale", "1", "-o", tmp_path / "a.mp4"
    )
    assert rc == 0 and "of 64x48," in text and "drawn at" not in text, text
    rc, text, _err = _render(
        capsys, src, "--sensor-size", "64x48", "--background", "grey", "-o", tmp_path / "g.mp4"
    )
    assert rc == 0 and "of 64x48," in text and "drawn at" not in text, text
    rc, text, _err = _render(capsys, src, "--sensor-size", "64x48", "-o", tmp_path / "a.gif")
    assert rc == 0 and "of 64x48," in text, text


def test_a_video_too_wide_for_2x_stays_at_1x_with_a_note(tmp_path, capsys):
    src = _save(tmp_path / "wide.npy", [0, 4000], [0, 1], [0, 10], [1, 0])
    rc, text, err = _render(capsys, src, "--sensor-size", "4100x2", "-o", tmp_path / "w.mp4")
    assert rc == 0, err
    assert "of 4100x2," in text, text
    assert "8200x4" in err and "MPEG-4" in err and "grey" in err, err


@pytest.mark.parametrize("color_by", ["last", "net"])
def test_color_by_is_refused_with_a_grey_background(tmp_path, capsys, color_by):
    """Grey draws the signed ON - OFF count: --color-by last drew the same bytes as net."""
    src, _ = _lone_pixels(tmp_path)
    out = tmp_path / "a.png"
    rc, _, err = _render(
        capsys,
        src,
        "--sensor-size",
        "64x48",
        "--background",
        "grey",
        "--color-by",
        color_by,
        "-o",
        out,
    )
    assert rc != 0 and f"--color-by {color_by} does not apply to --background grey" in err, err
    assert not out.exists()


def test_an_explicit_color_by_last_is_refused_where_the_mode_ignores_it(tmp_path, capsys):
    src, _ = _lone_pixels(tmp_path)
    rc, _, err = _render(
        capsys,
        src,
        "--sensor-size",
        "64x48",
        "--mode",
        "heatmap",
        "--color-by",
        "last",
        "-o",
        tmp_path / "a.png",
    )
    assert rc != 0 and "--color-by does not apply to --mode heatmap" in err, err
    rc, _, err = _render(
        capsys, src, "--sensor-size", "64x48", "--color-by", "last", "-o", tmp_path / "b.png"
    )
    assert rc == 0, err


@pytest.mark.parametrize("extra", [[], ["--events-per-frame", "5"]])
def test_windows_between_events_say_no_events(tmp_path, capsys, extra):
    """'1 ms of events' was printed for a window the file's span overlapped but no event
    fell in."""
    src = _save(tmp_path / "sparse.npy", [1, 2], [1, 2], [0, 5000], [1, 0])
    rc, text, err = _render(
        capsys,
        src,
        "--sensor-size",
        "8x8",
        "--start-ms",
        "1",
        "--end-ms",
        "2",
        *extra,
        "-o",
        tmp_path / "e.png",
    )
    assert rc == 0, err
    assert "no events in" in text and "of events" not in text, text


def test_a_window_with_events_still_says_how_long(tmp_path, capsys):
    src = _save(tmp_path / "sparse.npy", [1, 2], [1, 2], [0, 5000], [1, 0])
    rc, text, _err = _render(
        capsys, src, "--sensor-size", "8x8", "--end-ms", "2", "-o", tmp_path / "e.png"
    )
    assert rc == 0 and "2 ms of events" in text and "no events" not in text, text


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--end-ms", "0.0001"], ["--end-ms 0.0001 rounds to 0 µs"]),
        (
            ["--start-ms", "0.0001", "--end-ms", "0.0004"],
            ["--start-ms 0.0001 and --end-ms 0.0004 both round to 0 µs"],
        ),
        (
            ["--start-ms", "0.0006", "--end-ms", "0.0014"],
            ["--start-ms 0.0006 and --end-ms 0.0014 both round to 1 µs"],
        ),
    ],
)
def test_a_range_that_rounds_to_no_time_is_refused(tmp_path, capsys, argv, words):
    src = _save(tmp_path / "ev.npy", [1, 2], [1, 2], [0, 5000], [1, 0])
    out = tmp_path / "e.png"
    rc, _, err = _render(capsys, src, "--sensor-size", "8x8", *argv, "-o", out)
    assert rc != 0, err
    for word in words:
        assert word in err, err
    assert not out.exists()


def test_a_range_one_us_wide_is_drawn(tmp_path, capsys):
    src = _save(tmp_path / "ev.npy", [1, 2], [1, 2], [0, 5000], [1, 0])
    rc, _, err = _render(
        capsys,
        src,
        "--sensor-size",
        "8x8",
        "--start-ms",
        "0.0004",
        "--end-ms",
        "0.0006",
        "-o",
        tmp_path / "e.png",
    )
    assert rc == 0, err


def test_a_start_past_the_recording_is_named_with_its_own_digits(tmp_path, capsys):
    """'982.087 is past ... span 0 .. 982.086 ms' read as if the start were in the span."""
    src = _save(tmp_path / "ev.npy", [1, 2], [1, 2], [0, 982_086], [1, 0])
    rc, _, err = _render(
        capsys, src, "--sensor-size", "8x8", "--start-ms", "982.0866", "-o", tmp_path / "e.png"
    )
    assert rc != 0
    assert "--start-ms 982.0866 is past" in err and "0 .. 982.086 ms" in err, err


def test_a_png_with_a_window_and_an_end_notes_the_unused_end(tmp_path, capsys):
    src = _save(tmp_path / "ev.npy", [1, 2], [1, 2], [0, 5000], [1, 0])
    rc, _, err = _render(
        capsys,
        src,
        "--sensor-size",
        "8x8",
        "--window-ms",
        "1",
        "--end-ms",
        "4",
        "-o",
        tmp_path / "e.png",
    )
    assert rc == 0, err
    assert "--end-ms 4 is unused" in err and "0–1 ms" in err, err
    rc, _, err = _render(
        capsys,
        src,
        "--sensor-size",
        "8x8",
        "--window-ms",
        "4",
        "--end-ms",
        "4",
        "-o",
        tmp_path / "f.png",
    )
    assert rc == 0 and "unused" not in err, err


def test_a_fractional_max_count_is_refused(tmp_path, capsys):
    """0.5 drew every touched pixel at full scale and labelled the bar '0.5+'."""
    from eventsim.errors import ParameterError
    from eventsim.render.renderer import RenderParams

    src = _save(tmp_path / "ev.npy", [1, 2], [1, 2], [0, 5000], [1, 0])
    rc, _, err = _render(
        capsys,
        src,
        "--sensor-size",
        "8x8",
        "--mode",
        "heatmap",
        "--max-count",
        "0.5",
        "-o",
        tmp_path / "e.png",
    )
    assert rc != 0 and "--max-count 0.5 must be a whole number" in err, err
    with pytest.raises(ParameterError, match="whole number"):
        RenderParams(mode="heatmap", max_count=2.5)
    assert RenderParams(mode="heatmap", max_count=3.0).max_count == 3.0
