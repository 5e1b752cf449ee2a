"""Simulator inputs and rendering, round 12:

- `simulate_frames` of a dark 16-bit or integer clip drew FrameScaleWarning ('float frames peak
  at 0.77'): the pipeline hands the simulator floats of such frames (and of files, and of
  upsampling); the warning is now given for the user's own float frames only;
- `ImageMotionSource.max_step_px` measured the distance between two frames' places, not the
  path between them: a random walk of 1 px at 10 fps went 3 px a frame without a warning;
- `render_time_surface` refused `time_surface`'s default (H, W) surface;
- an ImageJ hyperstack of z slices alone (tifffile's axes 'ZYX') was read as frames in time
  without the warning an OME-TIFF of z slices gets.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from test_tiff_round10 import _greys, _stack

from eventsim.cli import main
from eventsim.cli.simulate import main as simulate_main
from eventsim.errors import ParameterError
from eventsim.events import EVENT_DTYPE
from eventsim.render import render_time_surface, time_surface
from eventsim.simulator import DVSParams, EventSimulator, FrameScaleWarning, simulate
from eventsim.simulator.pipeline import simulate_frames
from eventsim.simulator.sources import (
    FolderSource,
    ImageMotionSource,
    PairSource,
    TiffSeriesWarning,
    TiffStackSource,
)

from cli_checks import one_line

TS = np.arange(6, dtype=np.int64) * 1000


def _dark(dtype, peak: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, peak + 1, (6, 12, 16)).astype(dtype)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """A FrameScaleWarning within fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", FrameScaleWarning)
        yield


# -- FrameScaleWarning: the user's own float frames only ---------------------------------------


@pytest.mark.parametrize(("dtype", "peak"), [(np.uint16, 200), (np.int32, 1), (np.int16, 1)])
def test_a_dark_integer_clip_draws_no_float_warning_and_keeps_its_events(dtype, peak):
    frames = _dark(dtype, peak)
    with _quiet():
        events = simulate_frames(frames, TS)
        sim = EventSimulator(DVSParams(), (16, 12))
        chunks = [sim.step(frames[:2], TS[:2]), sim.step(frames[2:], TS[2:])]
    assert events.size > 0
    assert events.tobytes() == np.concatenate(chunks).tobytes()


def test_upsampled_dark_uint8_frames_draw_no_float_warning():
    frames = _dark(np.uint8, 1)
    with _quiet():
        simulate_frames(frames, TS, upsample="linear")


def test_float_frames_of_0_to_1_still_draw_the_warning():
    frames = _dark(np.uint8, 255).astype(np.float64) / 255
    with pytest.warns(FrameScaleWarning, match=r"multiply 0\.\.1 frames by 255"):
        simulate_frames(frames, TS)
    with pytest.warns(FrameScaleWarning):
        simulate(PairSource(frames[0], frames[1]))
    with _quiet():
        # a 16-bit image is no 0..1 float, dark or not
        simulate(ImageMotionSource(_dark(np.uint16, 200)[0], duration_ms=5))


class _Own:
    """A source of one's own: frames in DN, as the pipeline takes them."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self.sensor_size = (frames.shape[2], frames.shape[1])

    def __iter__(self):
        yield from zip(self.frames, TS.tolist())


def test_a_source_of_one_s_own_warns_of_its_float_frames_only():
    frames = _dark(np.uint8, 255)
    with pytest.warns(FrameScaleWarning):
        simulate(_Own(frames / 255.0))
    with _quiet():
        simulate(_Own(_dark(np.uint8, 1)), upsample="linear")


def test_dark_float_image_files_draw_no_float_warning(tmp_path):
    # float image files are read with 1.0 as white (times 255): they are DN by then
    for k, frame in enumerate(_dark(np.uint8, 1)[:3]):
        cv2.imwrite(str(tmp_path / f"{k:03d}.tif"), frame.astype(np.float32) / 510)
    with _quiet():
        result = simulate(FolderSource(tmp_path, fps=100))
    assert result.n_frames == 3


# -- the camera motion's step: along its path ------------------------------------------------


def _path_steps(src: ImageMotionSource, samples: int = 4000) -> np.ndarray:
    """The path between each two frames, summed over many poses between them."""
    total = src.duration_ms * 1e3
    out = []
    for t0, t1 in zip(src.timestamps_us[:-1], src.timestamps_us[1:]):
        u = np.linspace(t0, t1, samples) / total
        xy = np.array([src.pose(min(1.0, v))[:2] for v in u])
        out.append(np.hypot(*np.diff(xy, axis=0).T).sum())
    return np.array(out)


def test_a_random_walk_s_step_is_its_path_between_frames_not_the_distance():
    src = ImageMotionSource(np.zeros((48, 64), np.uint8), "random-walk", fps=10.0,
                            amplitude_px=1.0, seed=2)  # fmt: skip
    path = _path_steps(src, 400)
    # frames 0.9 px apart at most, a path of 3 px between two of them
    assert src.max_step_px == pytest.approx(path.max(), rel=1e-3)
    assert src.max_step_px > 2.5


def test_a_saccade_of_3_frames_is_measured_round_its_corner():
    src = ImageMotionSource(np.zeros((48, 64), np.uint8), duration_ms=0.002, amplitude_px=1.0)
    # its frames: the start, the middle of the second side, the end (was 0.87, the distance)
    assert src.n_frames == 3
    assert src.max_step_px == pytest.approx(1.5)
    assert src.max_step_px == pytest.approx(_path_steps(src).max(), rel=1e-3)


def test_the_cli_warns_of_a_walk_that_turns_between_frames(tmp_path, capsys):
    img = tmp_path / "a.png"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(img), cv2.GaussianBlur(rng.integers(0, 256, (48, 64), np.uint8), (0, 0), 2))
    argv = ["simulate", "-q", "--image", str(img), "--motion", "random-walk", "--amplitude-px",
            "1", "--fps", "10", "--seed", "2", "-o", str(tmp_path / "a.h5")]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "eventsim simulate: warning: --fps 10 moves the image up to 3.0 px a frame" in err


# -- time surfaces ------------------------------------------------------------------------


def _events() -> np.ndarray:
    ev = np.zeros(3, EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = [1, 2, 3], [1, 1, 2], [0, 20_000, 30_000], [1, 0, 1]
    return ev


@pytest.mark.parametrize(
    ("background", "newest", "empty"),
    [("dark", 255, 0), ("white", 0, 255), ("grey", 255, 128)],
)
def test_render_time_surface_takes_time_surface_s_default(background, newest, empty):
    surf = time_surface(_events(), (5, 4), tau_us=10_000)
    img = render_time_surface(surf, background=background)
    assert img.shape == (4, 5, 3) and img.dtype == np.uint8
    assert (img[2, 3] == newest).all() and (img[0, 0] == empty).all()
    # an older event lies between, as far along as its surface value
    level = empty + float(surf[1, 2]) * (newest - empty)
    assert (img[1, 2] == round(level)).all()


def test_render_time_surface_of_split_polarities_is_as_before():
    split = time_surface(_events(), (5, 4), tau_us=10_000, split_polarity=True)
    img = render_time_surface(split)
    assert tuple(img[2, 3]) == (255, 70, 60)  # the dark palette's ON
    with pytest.raises(ParameterError, match=r"expected \(2, H, W\) \(OFF, ON\) or \(H, W\)"):
        render_time_surface(np.zeros((3, 4, 5)))


# -- ImageJ z-stacks ------------------------------------------------------------------------

# what tifffile 2026.3 writes with imagej=True and metadata={"axes": ...}
TIFFFILE_ZYX = b"ImageJ=1.11a\nimages=4\nslices=4\nhyperstack=true\nmode=grayscale"
TIFFFILE_TYX = b"ImageJ=1.11a\nimages=4\nframes=4\nhyperstack=true\nmode=grayscale\nloop=false"
# ImageJ's own plain stack (a video's frames too): slices=, no hyperstack=
IMAGEJ_PLAIN = b"ImageJ=1.54f\nimages=4\nslices=4\nloop=false\nfinterval=0.01\n"


def test_an_imagej_z_hyperstack_is_read_with_the_z_slices_warning(tmp_path, capsys):
    frames = _greys(4)
    path = _stack(tmp_path, frames, TIFFFILE_ZYX)
    with pytest.warns(TiffSeriesWarning, match=r"ImageJ hyperstack of 4 z slices at one time point \(slices=4, no frames=\): focal planes, not frames in time"):  # fmt: skip
        source = TiffStackSource(path, fps=10)
    np.testing.assert_array_equal(np.stack([f for f, _ in source]), np.stack(frames))
    assert simulate_main([str(path), "-o", str(tmp_path / "o.h5"), "--fps", "10", "-q"]) == 0
    line = one_line(capsys.readouterr().err, "slices=4, no frames=", "Frames 4")
    assert line.startswith("eventsim simulate: warning: TIFF stack ")


@pytest.mark.parametrize("description", [TIFFFILE_TYX, IMAGEJ_PLAIN])
def test_an_imagej_time_series_or_plain_stack_says_nothing(tmp_path, description):
    with warnings.catch_warnings():
        warnings.simplefilter("error", TiffSeriesWarning)
        source = TiffStackSource(_stack(tmp_path, _greys(4), description), fps=10)
    assert source.n_frames == 4
