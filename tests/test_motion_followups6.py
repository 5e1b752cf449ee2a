"""Image motion follow-ups: the default rate's frame count, and too many frames to time."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_motion_review6 import _largest_step_px

from eventsim.cli import simulate
from eventsim.errors import ParameterError
from eventsim.simulator.sources import ImageMotionSource


def test_a_short_small_motion_takes_enough_frames_for_half_a_pixel_each():
    # 267 fps over 5 ms rounded to one step: the whole 0.6 px pan in one frame
    src = ImageMotionSource(np.zeros((48, 64), np.uint8), "pan", duration_ms=5.0, amplitude_px=0.6)
    assert src.n_frames == 3
    assert src.fps == 400.0
    assert _largest_step_px(src) <= 0.5


def test_steps_a_microsecond_longer_than_the_rest_stay_within_half_a_pixel():
    # two steps of 2500 and 2501 us over a 1 px pan: 0.5001 px in the longer one
    src = ImageMotionSource(
        np.zeros((48, 64), np.uint8), "pan", duration_ms=5.001, amplitude_px=1.0
    )
    assert _largest_step_px(src) <= 0.5


@pytest.mark.parametrize("motion", ["saccade", "pan", "zoom", "random-walk"])
def test_the_default_rate_keeps_small_motions_under_half_a_pixel_a_frame(motion):
    over = []
    for size in [(64, 48), (34, 34), (346, 260)]:
        image = np.zeros(size[::-1], np.uint8)
        for duration_ms in [0.5, 1.0, 2.0, 3.3, 5.0, 7.5, 10.0, 20.0]:
            for amplitude_px in [0.1, 0.25, 0.4, 0.6, 0.9, 1.0, 1.3, 1.7, 2.2, 3.0]:
                src = ImageMotionSource(
                    image, motion, duration_ms=duration_ms, amplitude_px=amplitude_px
                )
                step = _largest_step_px(src)
                if src.fps < 5000 and step > 0.5:
                    over.append((size, duration_ms, amplitude_px, src.fps, round(step, 4)))
    assert over == []


@pytest.mark.parametrize(
    ("motion", "size", "fps", "n_frames"),
    [
        ("saccade", (346, 260), 194.0, 59),
        ("pan", (346, 260), 100.0, 31),
        ("zoom", (346, 260), 107.0, 33),
        ("random-walk", (346, 260), 1469.0, 442),
        ("saccade", (128, 128), 100.0, 31),
        ("random-walk", (128, 128), 541.0, 163),
    ],
)
def test_default_settings_keep_their_frames(motion, size, fps, n_frames):
    # only motions that broke the 0.5 px limit take more frames
    src = ImageMotionSource(np.zeros(size[::-1], np.uint8), motion)
    assert (src.fps, src.n_frames) == (fps, n_frames)


def test_too_many_frames_to_time_are_refused_before_any_is_made():
    # 1e6 fps over an hour: the times alone took 54 GiB while they were made
    with pytest.raises(
        ParameterError,
        match=r"duration_ms = 3600000\.0 at 1e\+06 fps is 3,600,000,001 frames .* at most "
        r"33,554,432 fit the 512 MiB",
    ):
        ImageMotionSource(np.zeros((8, 8), np.uint8), "pan", duration_ms=3_600_000.0, fps=1e6)


def test_one_frame_over_the_limit_is_refused_and_an_hour_at_5000_fps_is_not():
    image = np.zeros((8, 8), np.uint8)
    with pytest.raises(ParameterError, match=r"is 33,554,433 frames"):
        ImageMotionSource(image, "pan", duration_ms=33_554.432, fps=1e6)
    # the longest --duration-ms at the default rate's cap
    assert ImageMotionSource(image, "pan", duration_ms=3_600_000.0, fps=5000).n_frames == (
        18_000_001
    )


def test_the_cli_refuses_too_many_frames_in_one_line(tmp_path, capsys):
    image = tmp_path / "img.png"
    cv2.imwrite(str(image), np.full((48, 64), 128, np.uint8))
    out = tmp_path / "out.h5"
    argv = ["--image", str(image), "--fps", "1000000", "--duration-ms", "3600000", "-o", str(out)]
    assert simulate.main(argv) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "3,600,000,001 frames" in err and "at most 33,554,432" in err
    assert not out.exists()
