"""Second look at the round 12 simulator inputs:

- a source of one's own that yields uint16 frames: its colour frames went into the luma as
  0..65535 DN (and its grey ones too with upsampling, or alpha), where `ArraySource`,
  `simulate_frames` and `EventSimulator.step` read uint16 as 16-bit (value / 257);
- `tifffile.imwrite(path, stack, imagej=True)` of a [T,H,W] array without axes writes
  ``channels=T``: the refusal says how to write a time stack instead.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from test_tiff_round10 import _greys, _stack

from eventsim.errors import InputError
from eventsim.simulator import EventSimulator, simulate
from eventsim.simulator.params import DVSParams
from eventsim.simulator.pipeline import simulate_frames
from eventsim.simulator.sources import TiffStackSource

TS = np.arange(6, dtype=np.int64) * 1000


def _rgb16() -> np.ndarray:
    rng = np.random.default_rng(4)
    return rng.integers(0, 65536, (6, 12, 16, 3)).astype(np.uint16)


class _Own:
    """A source of one's own, yielding ``frames`` as they are."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self.sensor_size = (frames.shape[2], frames.shape[1])

    def __iter__(self):
        yield from zip(self.frames, TS.tolist())


def _luma16(rgb: np.ndarray) -> np.ndarray:
    """The documented reading: value / 257, then BT.601 luma of the DN."""
    dn = rgb / 257.0
    return dn[..., 0] * 0.299 + dn[..., 1] * 0.587 + dn[..., 2] * 0.114


@pytest.mark.parametrize("upsample", ["none", "linear"])
def test_rgb_uint16_frames_of_one_s_own_give_the_events_of_their_luma(upsample):
    rgb = _rgb16()
    expected = simulate_frames(_luma16(rgb), TS, upsample=upsample)
    assert expected.size > 0
    own = simulate(_Own(rgb), upsample=upsample).events
    assert own.tobytes() == expected.tobytes()
    assert simulate_frames(rgb, TS, upsample=upsample).tobytes() == expected.tobytes()
    if upsample == "none":
        sim = EventSimulator(DVSParams(), (16, 12))
        chunks = [sim.step(rgb[:3], TS[:3]), sim.step(rgb[3:], TS[3:])]
        assert np.concatenate(chunks).tobytes() == expected.tobytes()


@pytest.mark.parametrize("shape", ["grey", "grey1", "rgba"])
def test_grey_and_alpha_uint16_frames_of_one_s_own_are_read_as_arrays_are(shape):
    rgb = _rgb16()
    frames = {
        "grey": rgb[..., 0],
        "grey1": rgb[..., :1],
        "rgba": np.concatenate([rgb, rgb[..., :1]], axis=3),
    }[shape]
    # with upsampling the grey ones went in raw, as alpha-blended colour did at any setting
    for upsample in ("none", "linear"):
        own = simulate(_Own(frames), upsample=upsample).events
        assert own.tobytes() == simulate_frames(frames, TS, upsample=upsample).tobytes()


def test_saved_frames_of_uint16_frames_of_one_s_own_are_not_saturated(tmp_path):
    rgb = _rgb16()
    out = tmp_path / "o.h5"
    simulate(_Own(rgb), out=out, save_frames=True)
    with h5py.File(out) as f:
        saved = f["frames"][...]
    np.testing.assert_array_equal(saved[0], np.clip(rgb[0] / 257.0 + 0.5, 0, 255).astype(np.uint8))


def test_bool_frames_of_one_s_own_are_refused_naming_the_frame():
    with pytest.raises(InputError, match=r"frame 0 has dtype bool; expected uint8, uint16"):
        simulate(_Own(np.zeros((6, 12, 16, 3), bool)))


def test_tifffile_s_imagej_stack_without_axes_is_refused_saying_how_to_write_frames(tmp_path):
    # tifffile 2026.3's imwrite(path, np.zeros((4, 30, 40), np.uint8), imagej=True)
    desc = b"ImageJ=1.11a\nimages=4\nchannels=4\nhyperstack=true\nmode=grayscale"
    path = _stack(tmp_path, _greys(4), desc)
    with pytest.raises(InputError, match=r"hyperstack of 4 channels") as info:
        TiffStackSource(path, fps=10)
    assert str(info.value).endswith(
        "write it with metadata={'axes': 'TYX'}, or set it in Fiji's Image > Properties "
        "(Channels 1, Frames 4)"
    )
    # channels and slices together: no time stack to write
    path = _stack(tmp_path, _greys(4), desc.replace(b"channels=4", b"channels=2\nslices=2"), "b.tif")  # fmt: skip
    with pytest.raises(InputError, match=r"hyperstack of 2 channels x 2 slices") as info:
        TiffStackSource(path, fps=10)
    assert "TYX" not in str(info.value)
