"""Library-user walkthrough, round 11 (eventsim as a library).

- `ArrayReader` (what `open_events` returns for .npy, .npz, text and foreign HDF5) had no
  ``read_columns``, which the README recommends for numeric work.
- ``slice_time(ev, 900, 100)`` (end before start) returned an empty array, where the readers'
  ``read`` refuse the same bounds.
- ``render_heatmap`` of a (2, H, W) map raised OpenCV's ``cv2.error``; NaN and negative counts
  were coloured as zero without a word.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import eventsim
from eventsim.errors import ArgumentValueError, ParameterError
from eventsim.events import EVENT_DTYPE, make_events
from eventsim.io import EventColumns, EventFileReader, EventReader, open_events, write_events
from eventsim.io.layouts import ArrayReader
from eventsim.render import render_heatmap
from eventsim.render.renderer import FrameRenderer, RenderParams


def _events() -> np.ndarray:
    return make_events([1, 2, 3, 4], [1, 2, 3, 0], [100, 200, 300, 400], [1, 0, 1, 0])


def _pair(tmp_path: Path) -> tuple[EventFileReader, EventFileReader]:
    """The same events through `EventReader` (our HDF5) and `ArrayReader` (.npy)."""
    ev = _events()
    h5 = open_events(write_events(tmp_path / "a.h5", ev, (10, 10)))
    npy = open_events(write_events(tmp_path / "a.npy", ev, (10, 10)))
    assert isinstance(h5, EventReader)
    assert isinstance(npy, ArrayReader)
    return h5, npy


# -- 1. ArrayReader.read_columns ----------------------------------------------------------------
@pytest.mark.parametrize(
    "bounds",
    [(None, None), (150, 350), (200, 300), (None, 250), (250, None), (500, 900), (200, 200)],
)
def test_array_reader_read_columns_matches_event_reader(tmp_path, bounds):
    h5, npy = _pair(tmp_path)
    with h5, npy:
        want = h5.read_columns(*bounds)
        got = npy.read_columns(*bounds)
        records = npy.read(*bounds)
    assert isinstance(got, EventColumns)
    for name in "xytp":
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype == EVENT_DTYPE[name], name
        assert a.flags.c_contiguous and a.flags.owndata, name
        np.testing.assert_array_equal(a, b, err_msg=name)
        np.testing.assert_array_equal(a, records[name], err_msg=name)
    assert len(got) == len(records)


def test_array_reader_read_columns_is_a_copy():
    ev = _events()
    reader = ArrayReader(ev, (10, 10))
    cols = reader.read_columns()
    cols.x[:] = 9
    assert reader.read()["x"].tolist() == [1, 2, 3, 4]


def test_array_reader_read_columns_refuses_bounds_as_read_does(tmp_path):
    h5, npy = _pair(tmp_path)
    with h5, npy:
        for reader in (h5, npy):
            with pytest.raises(ArgumentValueError, match=r"t_end_us=100 is before t_start_us=500"):
                reader.read_columns(500, 100)
        with pytest.raises(ParameterError, match="time bound nan"):
            npy.read_columns(float("nan"), None)


def test_read_columns_is_part_of_the_reader_interface():
    assert hasattr(EventFileReader, "read_columns")
    assert isinstance(ArrayReader(_events(), (10, 10)), EventFileReader)


# -- 2. slice_time refuses an end before the start -----------------------------------------------
def test_slice_time_refuses_end_before_start():
    ev = _events()
    with pytest.raises(ArgumentValueError, match=r"t_end_us=100 is before t_start_us=900") as e:
        eventsim.slice_time(ev, 900, 100)
    assert e.value.parameter == "t_end_us"
    with pytest.raises(ArgumentValueError, match=r"t_end_us=100 is before t_start_us=900"):
        eventsim.slice_time(ev, np.int64(900), np.int64(100))


def test_slice_time_equal_and_open_bounds_still_work():
    ev = _events()
    assert eventsim.slice_time(ev, 200, 200).size == 0
    assert eventsim.slice_time(ev, 200, 300)["t"].tolist() == [200]
    assert eventsim.slice_time(ev, None, 250)["t"].tolist() == [100, 200]
    assert eventsim.slice_time(ev, 250, None)["t"].tolist() == [300, 400]


# -- 3. render_heatmap input checks ------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 10, 10), (10,), (4, 5, 3)])
def test_render_heatmap_refuses_a_map_that_is_not_2d(shape):
    with pytest.raises(ParameterError, match=rf"shape \({shape[0]},.*expected \(H, W\)"):
        render_heatmap(np.zeros(shape))


@pytest.mark.parametrize("bad", [np.nan, -1.0, -np.inf])
def test_render_heatmap_refuses_nan_and_negative_counts(bad):
    counts = np.ones((4, 5))
    counts[1, 2] = bad
    counts[3, 0] = bad
    with pytest.raises(ParameterError, match=r"2 value\(s\).*at \(y=1, x=2\)"):
        render_heatmap(counts)


def test_render_heatmap_still_renders_counts():
    out = render_heatmap(np.arange(20).reshape(4, 5))
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8


def test_heatmap_renderer_output_passes_the_checks():
    """The render pipeline's own count maps never trip the new refusal."""
    ev = _events()
    for log in ("log", "linear"):
        renderer = FrameRenderer(RenderParams(mode="heatmap", heatmap_scale=log), (10, 10))
        assert renderer.render([ev[:2], ev[2:]], 0, 500).ndim == 3
        assert renderer.render(ev[:0], 0, 500).ndim == 3
