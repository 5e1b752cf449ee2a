"""Leftovers of render walkthrough 12: every video suffix named where the 2x default is said,
the 1x fallback of an .mp4 over MPEG-4's side limit suggesting the .avi that keeps 2x, Motion
JPEG's own side limit, `epvlm run --overlay` to .ppm/.pnm, and the --pair hint that names no
order argparse cannot tell."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import ParameterError
from eventsim.events import make_events


def _save(path, x, y, t, p):
    np.save(path, make_events(np.array(x), np.array(y), np.array(t), np.array(p)))
    return path


def _render(capsys, *argv):
    from eventsim.cli.render import main

    rc = main([*map(str, argv), "--no-progress"])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_render_help_names_every_video_suffix(capsys):
    from eventsim.cli.render import build_parser
    from eventsim.render.writers import VIDEO_SUFFIXES

    text = " ".join(build_parser().format_help().split())
    assert ".m4v" in VIDEO_SUFFIXES
    assert f"OUT{' / '.join(VIDEO_SUFFIXES)} (video)" in text
    assert f"2 for {' / '.join(VIDEO_SUFFIXES)} video in colour" in text


def test_mp4_over_mpeg4_side_limit_suggests_avi_which_keeps_2x(tmp_path, capsys):
    """4200 px wide is 8400 at 2x: over MPEG-4's 8190, within Motion JPEG's 65535."""
    src = _save(tmp_path / "w.npy", [0, 4199], [0, 3], [0, 10], [1, 0])
    rc, _, err = _render(capsys, src, "--sensor-size", "4200x4", "-o", tmp_path / "v.mp4")
    assert rc == 0, err
    assert "too large for MPEG-4 video (8190 px a side)" in err
    assert "an .avi (Motion JPEG) takes them at 2x" in err
    rc, text, err = _render(capsys, src, "--sensor-size", "4200x4", "-o", tmp_path / "v.avi")
    assert rc == 0, err
    assert "frame of 8400x8 (drawn at 2x" in text


def test_avi_over_mjpeg_side_limit_is_refused_not_written_wrapped(tmp_path):
    """OpenCV's own Motion JPEG writer (FFmpeg's refuses over 65500) wrote 98302 px frames
    32766 px wide and reported them written."""
    from eventsim.render.writers import MAX_MJPEG_SIDE, VideoSink

    sink = VideoSink(tmp_path / "v.avi", fps=30)
    frame = np.zeros((2, MAX_MJPEG_SIDE + 1, 3), np.uint8)
    with pytest.raises(ParameterError, match="too large for Motion JPEG"):
        sink.write(frame)
    sink.abort()
    assert not (tmp_path / "v.avi").exists()


def test_default_scale_falls_back_at_mjpeg_side_limit(tmp_path, capsys):
    """A 2-bin voxel grid of a 20000 px sensor is 40002 wide, 80004 at 2x."""
    from eventsim.cli.render import _default_scale, build_parser

    args = build_parser().parse_args(
        ["x.npy", "-o", str(tmp_path / "v.avi"), "--mode", "voxel", "--bins", "2"]
    )
    scale, note = _default_scale(args, {"sensor_size": (20000, 2)})
    assert scale == 1
    assert note is not None and "Motion JPEG video (65535 px a side)" in note
    assert ".avi (Motion JPEG) takes" not in note


@pytest.mark.parametrize("suffix", [".ppm", ".pnm"])
def test_epvlm_overlay_writes_colour_netpbm(tmp_path, suffix):
    import cv2

    from epvlm.cli import _check_overlay, _write_overlay

    path = _check_overlay(str(tmp_path / f"o{suffix}"), force=False)
    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[1, 2] = (255, 70, 60)
    rgb[4, 6] = (60, 140, 255)
    _write_overlay(path, rgb)
    back = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, rgb)


def test_epvlm_overlay_refuses_pxm_opencv_cannot_write(tmp_path):
    from epvlm.cli import _check_overlay

    with pytest.raises(ParameterError, match=r"unsupported extension '\.pxm'"):
        _check_overlay(str(tmp_path / "o.pxm"), force=False)


@pytest.mark.parametrize("order", [("b.png", "--image", "a.png"), ("--image", "a.png", "b.png")])
def test_second_image_hint_names_no_order_argparse_cannot_tell(tmp_path, capsys, order):
    import cv2

    from eventsim.cli.simulate import main

    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.full((8, 8), 128, np.uint8))
    argv = [str(tmp_path / w) if w.endswith(".png") else w for w in order]
    rc = main([*argv, "-o", str(tmp_path / "o.h5"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert f"are --pair FIRST SECOND, e.g. --pair {a} {b}" in err
