"""An image motion's step between frames, as `eventsim simulate` warns of it (round 11):

- the warning took the fastest speed times the longest frame step, which overstates a random
  walk (its fastest segment's speed held over every step: 182 px a frame for a walk within
  +-8 px over 0.3 ms) and a saccade of 2 frames (8 px a frame where both frames are the same
  image); `ImageMotionSource.max_step_px` now measures the poses at the frame times;
- the rate it advised came from the default rate's 0.45 px margin, not from the frames that
  rate gives; `ImageMotionSource.fps_within` now finds the rate from them.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.cli import main
from eventsim.errors import ParameterError
from eventsim.simulator.sources import ImageMotionSource


def _image(path: Path, width: int = 64, height: int = 48) -> str:
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.random((height, width)), (0, 0), 1.5)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    cv2.imwrite(str(path), img.astype(np.uint8))
    return str(path)


def _steps(src: ImageMotionSource) -> np.ndarray:
    """How far the content at the sensor's corners moves between each two frames, from
    `pose` at the frame times (the furthest any content moves under each motion)."""
    width, height = src.sensor_size
    cx, cy = (width - 1) / 2, (height - 1) / 2
    corners = np.array([[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1]], float)
    total = src.duration_ms * 1e3
    where = []
    for t in src.timestamps_us:
        dx, dy, s = src.pose(min(1.0, float(t) / total))
        where.append(np.stack([s * (corners[:, 0] - cx) + dx, s * (corners[:, 1] - cy) + dy], 1))
    steps = np.diff(np.array(where), axis=0)
    return np.hypot(steps[..., 0], steps[..., 1]).max(axis=1)


def _warning(capsys, *argv: str) -> str:
    assert main(["simulate", "-q", *argv]) == 0
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "warning:" in x]
    return line


@pytest.mark.parametrize("motion", ["saccade", "pan", "zoom", "random-walk"])
@pytest.mark.parametrize(
    "kwargs", [{}, {"fps": 30.0, "amplitude_px": 8.7}, {"duration_ms": 0.3, "amplitude_px": 8.0}]
)
def test_max_step_px_is_the_largest_step_between_frames(motion, kwargs):
    src = ImageMotionSource(np.zeros((48, 64), np.uint8), motion, seed=3, **kwargs)
    if motion == "random-walk":
        # measured along its turns since round 12 (tests/test_sim_round12.py): at least this
        assert src.max_step_px >= _steps(src).max() - 1e-12
        return
    assert src.max_step_px == pytest.approx(_steps(src).max(), rel=1e-9, abs=1e-12)


def test_a_random_walk_is_measured_by_where_it_is_not_by_its_fastest_speed(tmp_path, capsys):
    img = _image(tmp_path / "a.png")
    src = ImageMotionSource(img, "random-walk", duration_ms=0.3, amplitude_px=8.0)
    # between its two frames the walk goes its whole path (round 12), not 182 px
    length = np.hypot(*np.diff(src._walk, axis=0).T).sum()
    assert src.n_frames == 2 and src.max_step_px == pytest.approx(length) and length < 60
    argv = ["--image", img, "--motion", "random-walk", "--duration-ms", "0.3"]
    line = _warning(capsys, *argv, "--amplitude-px", "8", "-o", str(tmp_path / "a.h5"))
    assert f"moves the image up to {src.max_step_px:.1f} px a frame (2 frames;" in line
    for fps in ("30", "100"):
        src = ImageMotionSource(img, "random-walk", fps=float(fps), amplitude_px=8.7)
        argv = ["--image", img, "--motion", "random-walk", "--amplitude-px", "8.7", "--fps", fps]
        line = _warning(capsys, *argv, "-o", str(tmp_path / f"{fps}.h5"), "--force")
        assert f"--fps {fps} moves the image up to {src.max_step_px:.1f} px a frame" in line


def test_a_saccade_of_2_frames_does_not_move_and_is_not_warned_of_as_fast(tmp_path, capsys):
    src = ImageMotionSource(np.zeros((48, 64), np.uint8), duration_ms=0.0015)
    # its path goes round the triangle (round 12), but both frames are one place
    assert src.n_frames == 2 and src.max_step_px == pytest.approx(3 * src.amplitude_px)
    argv = ["--image", _image(tmp_path / "a.png"), "--duration-ms", "0.0015"]
    line = _warning(capsys, *argv, "-o", str(tmp_path / "a.h5"))
    assert line.startswith("eventsim simulate: warning: no events: ")


@pytest.mark.parametrize("motion", ["saccade", "pan", "zoom", "random-walk"])
@pytest.mark.parametrize(("duration_ms", "amplitude_px"), [(300.0, 8.7), (3.0, 8.7), (0.3, 2.0)])
def test_fps_within_is_the_lowest_rate_whose_frames_keep_the_step(
    motion, duration_ms, amplitude_px
):
    img = np.zeros((48, 64), np.uint8)
    kwargs = {"duration_ms": duration_ms, "amplitude_px": amplitude_px, "seed": 3}
    fps = ImageMotionSource(img, motion, fps=30.0, **kwargs).fps_within()
    if fps is None:
        # frames 1 us apart still move further
        finest = ImageMotionSource(img, motion, fps=1e6, **kwargs)
        assert finest.max_step_px > 0.5
        return
    at = ImageMotionSource(img, motion, fps=fps, **kwargs)
    assert at.max_step_px <= 0.5 + 1e-9
    # a frame fewer moves further (these paths' steps shrink as frames are added)
    fewer = ImageMotionSource(img, motion, fps=(at.n_frames - 2) / (duration_ms / 1e3), **kwargs)
    assert fewer.n_frames == at.n_frames - 1 and fewer.max_step_px > 0.5


def test_the_advised_rate_is_the_one_fps_within_finds(tmp_path, capsys):
    img = _image(tmp_path / "a.png")
    argv = ["--image", img, "--amplitude-px", "8.7", "--fps", "30", "-o", str(tmp_path / "a.h5")]
    line = _warning(capsys, *argv)
    # 26.1 px of sides at 87 px/s: 53 steps of 5660 us (0.49 px) over 300 ms, the one that
    # crosses each corner shorter (the default rate's 0.45 px margin advised 194 fps)
    assert ImageMotionSource(img, amplitude_px=8.7).fps_within() == 177
    assert line.endswith(
        "leave --fps out (the default keeps it within 0.5 px) or pass --fps 177 or more"
    )


def test_a_motion_no_rate_keeps_within_half_a_pixel_names_no_rate(tmp_path, capsys):
    img = _image(tmp_path / "a.png")
    # 100 px in 10 us: 10 px a microsecond
    assert ImageMotionSource(img, "pan", duration_ms=0.01, amplitude_px=100.0).fps_within() is None
    argv = ["--image", img, "--motion", "pan", "--duration-ms", "0.01", "--amplitude-px", "100"]
    line = _warning(capsys, *argv, "-o", str(tmp_path / "a.h5"))
    assert line.endswith(
        "give a longer --duration-ms (it is in milliseconds) or a smaller --amplitude-px"
    )


def test_fps_within_refuses_a_step_that_is_no_distance():
    src = ImageMotionSource(np.zeros((48, 64), np.uint8))
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ParameterError, match="step_px"):
            src.fps_within(bad)
