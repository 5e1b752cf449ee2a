"""DSEC-layout HDF5 files from other tools: coordinates beyond int16 in a file that records
its sensor size (or is given one) are refused by every read, naming file, dataset and value,
instead of wrapping to another (negative) coordinate."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import eventsim.io.hdf5_reader as h5mod
from eventsim.errors import EventFileError
from eventsim.io import EventReader, open_events

N = 3000


def _dsec(path, *, x=None, y=None, t=None, chunks=None, attrs=None, ms_to_idx=False):
    rng = np.random.default_rng(81)
    cols = {
        "x": rng.integers(0, 64, N).astype(np.uint16) if x is None else x,
        "y": rng.integers(0, 48, N).astype(np.uint16) if y is None else y,
        "t": np.sort(rng.integers(0, 40_000, N)).astype(np.int64) if t is None else t,
        "p": rng.integers(0, 2, N).astype(np.uint8),
    }
    kw = {} if chunks is None else {"chunks": (chunks,)}
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        for name, values in cols.items():
            g.create_dataset(name, data=values, **kw)
        if ms_to_idx is not False:
            f["ms_to_idx"] = ms_to_idx
        f.attrs.update(attrs or {})
    return path, cols


SIZE = {"sensor_width": 64, "sensor_height": 48}


def _reads(r):
    return {
        "read": lambda: r.read(),
        "read_window": lambda: r.read(r.t_start_us, r.t_end_us),
        "read_index": lambda: r.read_index(0, N),
        "read_columns": lambda: r.read_columns(),
        "read_index_columns": lambda: r.read_index_columns(10, N - 10),
    }


@pytest.mark.parametrize("packer", ["numpy", "numba"])
@pytest.mark.parametrize(
    "name, dtype, value",
    [("x", np.uint16, 40_000), ("y", np.int32, 32_768), ("x", np.int32, -40_000)],
)
def test_coordinate_beyond_int16_with_recorded_size_is_refused(
    tmp_path, monkeypatch, packer, name, dtype, value
):
    monkeypatch.setattr(h5mod, "_USE_NUMBA", packer == "numba")
    rng = np.random.default_rng(3)
    col = rng.integers(0, 48, N).astype(dtype)
    col[N // 2] = value
    path, _ = _dsec(tmp_path / "big.h5", chunks=256, attrs=SIZE, **{name: col})
    with EventReader(path) as r:
        for what, read in _reads(r).items():
            with pytest.raises(EventFileError) as info:
                read()
            msg = str(info.value)
            assert str(path) in msg and f"events/{name}" in msg and str(value) in msg, what
            assert "truncated" not in msg, what


def test_coordinate_beyond_int16_with_given_size_is_refused(tmp_path):
    x = np.full(N, 5, np.uint16)
    x[-1] = 65_535
    path, _ = _dsec(tmp_path / "given.h5", x=x)
    with open_events(path, sensor_size=(64, 48)) as r:
        with pytest.raises(EventFileError, match="events/x holds 65535"):
            r.read()
        # a read that does not reach the value is whole
        assert len(r.read_index(0, N - 1)) == N - 1


def test_uint16_coordinates_within_int16_read_unchanged(tmp_path):
    path, cols = _dsec(tmp_path / "ok.h5", attrs=SIZE, chunks=512)
    with EventReader(path) as r:
        ev = r.read()
        c = r.read_columns()
    assert np.array_equal(ev["x"], cols["x"]) and np.array_equal(c.y, cols["y"])
