"""DSEC-layout HDF5 files written by other tools, read by `EventReader` through `open_events`:
-1/+1 polarity, coordinates beyond int16, and malformed t_offset, sensor size and frame
datasets (refused with typed errors naming the file, the dataset and the value)."""

from __future__ import annotations

import h5py
import hdf5plugin
import numpy as np
import pytest

import eventsim.io.hdf5_reader as h5mod
from eventsim.errors import EventFileError, InvalidEventsError
from eventsim.events import slice_time
from eventsim.io import EventReader, open_events

N = 3000


def _dsec(path, *, p=None, x=None, chunks=None, extra=None, attrs=None):
    rng = np.random.default_rng(8)
    t = np.sort(rng.integers(0, 40_000, N)).astype(np.uint32)
    cols = {
        "x": rng.integers(0, 64, N).astype(np.uint16) if x is None else x,
        "y": rng.integers(0, 48, N).astype(np.uint16),
        "t": t,
        "p": rng.integers(0, 2, N).astype(np.uint8) if p is None else p,
    }
    kw = {} if chunks is None else {"chunks": (chunks,)}
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        for name, values in cols.items():
            g.create_dataset(name, data=values, **kw)
        for name, value in (extra or {}).items():
            f[name] = value
        f.attrs.update(attrs or {})
    return path, cols


@pytest.mark.parametrize("packer", ["numpy", "numba"])
@pytest.mark.parametrize("chunks", [None, 256])
def test_signed_polarity_is_read_as_0_1_by_every_read(tmp_path, chunks, packer, monkeypatch):
    if packer == "numba":
        pytest.importorskip("numba")
        monkeypatch.setattr(h5mod, "_KERNEL_AFTER_EVENTS", 0)
    else:
        monkeypatch.setattr(h5mod, "_USE_NUMBA", False)
    rng = np.random.default_rng(1)
    signed = np.where(rng.integers(0, 2, N) > 0, 1, -1).astype(np.int8)
    path, cols = _dsec(tmp_path / "pm.h5", p=signed, chunks=chunks)
    want = (signed > 0).astype(np.int8)
    with open_events(path) as r:
        ev = r.read()
        assert np.array_equal(ev["p"], want)
        assert any("-1/+1" in n for n in r.notes), r.notes
        assert isinstance(r, EventReader)
        assert np.array_equal(r.read_columns().p, want)
        assert np.array_equal(r.read_index_columns(100, 2000).p, want[100:2000])
        s, e = int(cols["t"][700]), int(cols["t"][2100])
        assert np.array_equal(r.read(s, e), slice_time(ev, s, e))
        assert np.array_equal(r.read_columns(s, e).p, slice_time(ev, s, e)["p"])
        assert np.array_equal(np.concatenate(list(r.iter_windows(1000))), ev)


def test_signed_polarity_first_seen_after_the_first_block_is_read_as_0_1(tmp_path):
    # all ON in the block opening looks at: the -1 come later
    n = (1 << 17) + 1000
    signed = np.ones(n, np.int8)
    signed[(1 << 17) + 5 :: 3] = -1
    path = tmp_path / "late.h5"
    with h5py.File(path, "w") as f:
        f["events/x"] = np.zeros(n, np.uint16)
        f["events/y"] = np.zeros(n, np.uint16)
        f["events/t"] = np.arange(n, dtype=np.int64)
        f.create_dataset("events/p", data=signed, chunks=(4096,))
    want = (signed > 0).astype(np.int8)
    with open_events(path) as r:
        assert np.array_equal(r.read()["p"], want)
        assert np.array_equal(r.read_index_columns((1 << 17) - 10).p, want[(1 << 17) - 10 :])
        assert any("-1/+1" in n for n in r.notes), r.notes


def test_0_1_polarity_in_a_signed_column_is_kept_and_a_stray_minus_one_refused(tmp_path):
    p = np.random.default_rng(2).integers(0, 2, N).astype(np.int8)
    p[1234] = -1
    path, _ = _dsec(tmp_path / "int8.h5", p=p)
    zero = int(np.argmax(p == 0))
    mix = rf"mixes the -1/\+1 and 0/1 conventions \(p\[1234\] = -1, p\[{zero}\] = 0\)"
    with open_events(path) as r:
        assert np.array_equal(r.read_index(0, 1234)["p"], p[:1234])
        assert not any("-1/+1" in n for n in r.notes)
        with pytest.raises(InvalidEventsError, match=mix):
            r.read()
        with pytest.raises(InvalidEventsError, match=mix):
            r.read_columns()


def test_bool_polarity_is_read_as_0_1(tmp_path):
    p = np.random.default_rng(3).integers(0, 2, N).astype(bool)
    path, _ = _dsec(tmp_path / "bool.h5", p=p)
    with open_events(path) as r:
        assert np.array_equal(r.read()["p"], p.astype(np.int8))
        assert np.array_equal(r.read_columns().p, p.astype(np.int8))


@pytest.mark.parametrize("dtype", [np.uint16, np.int32])
def test_coordinates_beyond_int16_are_refused_naming_file_dataset_and_value(tmp_path, dtype):
    x = np.arange(N).astype(dtype)
    x[77] = 40000
    path, _ = _dsec(tmp_path / "wide.h5", x=x)
    with pytest.raises(EventFileError, match=r"wide\.h5.*events/x.*40000.*32767"):
        open_events(path)


@pytest.mark.parametrize(
    ("attrs", "match"),
    [
        ({"sensor_width": 40000, "sensor_height": 10}, r"sensor_width.*40000"),
        ({"sensor_width": 0, "sensor_height": 10}, r"sensor_width.*\b0\b"),
        ({"sensor_width": "abc", "sensor_height": 10}, r"sensor_width.*'abc'"),
        ({"sensor_width": [64, 2], "sensor_height": 10}, r"sensor_width.*\[64, 2\]"),
        ({"sensor_width": 64.5, "sensor_height": 10}, r"sensor_width.*64\.5"),
    ],
)
def test_bad_recorded_sensor_size_is_refused_naming_the_attribute(tmp_path, attrs, match):
    path, _ = _dsec(tmp_path / "size.h5", attrs=attrs)
    with pytest.raises(EventFileError, match=r"size\.h5.*" + match) as info:
        open_events(path)
    assert "truncated or corrupt" not in str(info.value)


def test_bad_events_width_dataset_is_refused_naming_it(tmp_path):
    path, _ = _dsec(tmp_path / "wh.h5", extra={"events/width": 64, "events/height": "x"})
    with pytest.raises(EventFileError, match=r"wh\.h5.*events/height.*'x'") as info:
        open_events(path)
    assert "truncated or corrupt" not in str(info.value)


def test_whole_recorded_sizes_of_other_types_are_read(tmp_path):
    attrs = {"sensor_width": np.uint32(64), "sensor_height": 48.0}
    path, _ = _dsec(tmp_path / "ok.h5", attrs=attrs)
    with open_events(path) as r:
        assert r.sensor_size == (64, 48)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (1.5, r"1\.5"),
        (np.array([1000, 2000]), r"\[1000, 2000\]"),
        (np.uint64(2**63 + 5), str(2**63 + 5)),
        ("abc", "abc"),
    ],
)
def test_bad_t_offset_is_refused_naming_it(tmp_path, value, match):
    path, _ = _dsec(tmp_path / "toff.h5", extra={"t_offset": value})
    with pytest.raises(EventFileError, match=r"toff\.h5.*t_offset.*" + match) as info:
        open_events(path)
    assert "truncated or corrupt" not in str(info.value)


@pytest.mark.parametrize("value", [np.float64(5000.0), np.array([5000], np.int64), np.uint64(5000)])
def test_whole_t_offset_of_other_types_is_read(tmp_path, value):
    path, cols = _dsec(tmp_path / "toff.h5", extra={"t_offset": value})
    with open_events(path) as r:
        assert r.t_offset_us == 5000
        assert np.array_equal(r.read()["t"], cols["t"].astype(np.int64) + 5000)


def test_frames_without_frame_event_idx_are_left_out_with_a_note(tmp_path):
    extra = {"frames": np.zeros((2, 4, 4), np.uint8), "frame_ts_us": np.array([0, 1000])}
    path, _ = _dsec(tmp_path / "frames.h5", extra=extra)
    with open_events(path) as r:
        assert len(r.read()) == N and r.num_frames == 0
        assert any("frame_event_idx" in n for n in r.notes), r.notes


def _with_unknown_filter(path, columns="xytp", size=None):
    """A DSEC file whose named columns name an HDF5 filter no plugin provides (32999: the
    LZ4 filter's id 32004 patched in the file's bytes; zeros keep the data free of it)."""
    n = 1000
    with h5py.File(path, "w") as f:
        for k, dt in zip("xytp", (np.uint16, np.uint16, np.int64, np.uint8), strict=True):
            kw = hdf5plugin.LZ4() if k in columns else {}
            data = np.arange(n, dtype=dt) if k == "t" else np.zeros(n, dt)
            f.create_dataset(f"events/{k}", data=data, chunks=(256,), **kw)
        if size is not None:
            f.attrs["sensor_width"], f.attrs["sensor_height"] = size
    raw = path.read_bytes()
    old, new = (32004).to_bytes(2, "little"), (32999).to_bytes(2, "little")
    assert raw.count(old) == len(columns)
    path.write_bytes(raw.replace(old, new))
    return path


def test_a_compression_filter_hdf5_lacks_is_named_not_called_corruption(tmp_path):
    path = _with_unknown_filter(tmp_path / "lz.h5")
    with pytest.raises(
        EventFileError,
        match=r"lz\.h5.*events/\w is compressed with HDF5 filter "
        r"32999 \(HDF5 lz4 filter\).*cannot decode",
    ) as info:
        open_events(path)
    assert "corrupt" not in str(info.value)


def test_a_missing_filter_found_by_a_read_is_named(tmp_path):
    # t and the recorded size let the file open; x is decoded only when events are read
    path = _with_unknown_filter(tmp_path / "x.h5", columns="x", size=(64, 48))
    with open_events(path) as r:
        for read in (r.read, r.read_columns):
            with pytest.raises(
                EventFileError, match=r"events/x is compressed with HDF5 filter 32999"
            ):
                read()


@pytest.mark.parametrize(
    ("t", "match"),
    [
        (np.int64(5), r"events/t has shape \(\); expected a 1-D column"),
        (np.arange(N).reshape(N, 1), r"events/t has shape \(3000, 1\); expected a 1-D column"),
    ],
)
def test_a_column_that_is_not_1d_is_refused_naming_its_shape(tmp_path, t, match):
    path = tmp_path / "shape.h5"
    with h5py.File(path, "w") as f:
        for k in "xyp":
            f[f"events/{k}"] = np.zeros(N, np.uint8)
        f["events/t"] = t
    with pytest.raises(EventFileError, match=r"shape\.h5.*" + match):
        open_events(path)
