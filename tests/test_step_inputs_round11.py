"""`EventSimulator.step` takes the frames `simulate_frames` takes (RGBA, uint16 and other integer
types, lists), normalised by the same function, so feeding a clip in chunks gives exactly the
events of simulating it whole; it refused them ("expected uint8 or float")."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import InputError
from eventsim.events import concat_events
from eventsim.simulator import DVSParams, EventSimulator, simulate_frames
from eventsim.simulator.synthetic import moving_shapes_clip

_W, _H = 64, 48


@pytest.fixture(scope="module")
def clip():
    frames, ts = moving_shapes_clip(_W, _H, duration_s=0.3, fps=60.0)
    return frames, ts


def _rgba(frames: np.ndarray) -> np.ndarray:
    # alpha of every level, so that the blend onto white shows (an opaque one changes nothing)
    alpha = np.broadcast_to(np.linspace(0, 255, _W, dtype=np.uint8), frames.shape[:3])
    return np.concatenate([frames, alpha[..., None]], axis=-1)


def _inputs(frames: np.ndarray) -> dict:
    grey = frames.mean(-1)
    return {
        "rgba_uint8": _rgba(frames),
        "grey_uint16": grey.astype(np.uint16) * 257,
        "grey_int64": grey.astype(np.int64),
        "list_of_rgb_uint8": list(frames),
        "grey_uint8_hxwx1": grey.astype(np.uint8)[..., None],
        "rgb_float16": frames.astype(np.float16),
    }


def _chunked(frames, ts, params, chunk: int) -> np.ndarray:
    sim = EventSimulator(params, (_W, _H), seed=3)
    parts = [sim.step(frames[i : i + chunk], ts[i : i + chunk]) for i in range(0, len(ts), chunk)]
    return concat_events(parts)


@pytest.mark.parametrize(
    "kind",
    [
        "rgba_uint8",
        "grey_uint16",
        "grey_int64",
        "list_of_rgb_uint8",
        "grey_uint8_hxwx1",
        "rgb_float16",
    ],
)
def test_step_in_chunks_gives_the_events_of_simulate_frames(clip, kind):
    frames, ts = clip
    frames = _inputs(frames)[kind]
    params = DVSParams.from_preset("noisy")
    whole = simulate_frames(frames, ts, params, seed=3)
    assert whole.size > 100
    for chunk in (7, 1):
        assert _chunked(frames, ts, params, chunk).tobytes() == whole.tobytes(), chunk


def test_rgba_is_blended_onto_white_and_uint16_read_as_16_bit(clip):
    frames, ts = clip
    sim = EventSimulator(DVSParams(), (_W, _H))
    rgba = _rgba(frames)
    got, _ = sim._check(rgba, ts)
    # alpha 0 at the left edge: white, whatever the colour under it
    assert np.all(got[:, :, 0] == 255)
    grey16 = frames[..., 0].astype(np.uint16) * 257
    got16, _ = EventSimulator(DVSParams(), (_W, _H))._check(grey16, ts)
    assert np.array_equal(got16, frames[..., 0].astype(np.float64))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("channels", [None, 3])
def test_uint8_and_float_frames_are_not_copied(clip, dtype, channels):
    frames, ts = clip
    frames = (frames if channels else frames[..., 1]).astype(dtype)
    got, _ = EventSimulator(DVSParams(), (_W, _H))._check(frames, ts)
    assert got is frames


def test_frames_of_another_size_say_how_to_fit_them(clip):
    frames, ts = clip
    sim = EventSimulator(DVSParams(), (_W + 2, _H))
    with pytest.raises(InputError) as err:
        sim.step(frames[:3], ts[:3])
    msg = str(err.value)
    assert f"frames are {_W}x{_H}" in msg and f"sensor is {_W + 2}x{_H}" in msg
    assert "resize" in msg and "simulate_frames(..., sensor_size=...)" in msg


def test_frames_of_no_intensity_dtype_or_ragged_lists_are_refused(clip):
    frames, ts = clip
    sim = EventSimulator(DVSParams(), (_W, _H))
    with pytest.raises(InputError, match="dtype bool; expected uint8, uint16"):
        sim.step(frames[:3, ..., 0] > 0, ts[:3])
    with pytest.raises(InputError, match="do not make one numpy array"):
        sim.step([frames[0], frames[1, :-1]], ts[:2])
    with pytest.raises(InputError, match="negative intensities"):
        sim.step(frames[:3, ..., 0].astype(np.int64) - 300, ts[:3])


def test_dark_integer_frames_are_not_told_to_be_0_to_1_floats(clip, recwarn):
    frames, ts = clip
    dark = (frames[..., 0] // 255).astype(np.uint16) * 257  # 16-bit levels 0 and 1: 0..1 DN
    EventSimulator(DVSParams(), (_W, _H)).step(dark[:3], ts[:3])
    assert not [w for w in recwarn if "0..1" in str(w.message)]
