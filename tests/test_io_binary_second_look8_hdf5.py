"""Second look at the -1/+1 polarity rule of `EventReader` for DSEC-layout files: a signed
(int8) 0/1 column that opens with a burst of ON events is not taken for -1/+1."""

from __future__ import annotations

import h5py
import hdf5plugin
import numpy as np
import pytest

from eventsim.errors import EventFileError, InvalidEventsError
from eventsim.io import open_events


def _int8_polarity_file(path, p):
    n = p.shape[0]
    with h5py.File(path, "w") as f:
        f["events/x"] = np.arange(n, dtype=np.uint16) % 64
        f["events/y"] = np.arange(n, dtype=np.uint16) % 48
        f["events/t"] = np.arange(n, dtype=np.int64) * 3
        f.create_dataset("events/p", data=p, chunks=(min(n, 4096),))
    return path


def test_0_1_column_opening_with_on_events_has_no_signed_note(tmp_path):
    # int8 0/1 whose first block (2^17 events) is all ON: there is no -1 to convert, and the
    # note said the file held -1/+1 (eventsim info and convert print it)
    n = (1 << 17) + 3000
    p = np.ones(n, np.int8)
    p[(1 << 17) + 7 :: 5] = 0
    path = _int8_polarity_file(tmp_path / "on_burst.h5", p)
    with open_events(path) as r:
        assert not any("-1" in note for note in r.notes), r.notes
        assert np.array_equal(r.read()["p"], p)
        assert np.array_equal(r.read_columns().p, p)


def test_short_all_on_0_1_file_has_no_signed_note(tmp_path):
    p = np.ones(40, np.int8)
    path = _int8_polarity_file(tmp_path / "all_on.h5", p)
    with open_events(path) as r:
        assert not any("-1" in note for note in r.notes), r.notes
        assert np.array_equal(r.read()["p"], p)


def test_stray_minus_one_after_an_on_burst_is_refused_as_a_mix(tmp_path):
    # a 0/1 file: its first 0 comes after the first block, with a stray -1 beside it; the -1
    # is a bad event, not an OFF one: the reads meeting it refuse the mix
    n = (1 << 17) + 3000
    p = np.ones(n, np.int8)
    p[(1 << 17) + 7 :: 5] = 0
    p[(1 << 17) + 100] = -1
    path = _int8_polarity_file(tmp_path / "stray.h5", p)
    mix = r"mixes the -1/\+1 and 0/1 conventions \(p\[131172\] = -1, p\[131079\] = 0\)"
    with open_events(path) as r:
        assert np.array_equal(r.read_index(0, (1 << 17) + 100)["p"], p[: (1 << 17) + 100])
        for read in (
            r.read,
            lambda: r.read_index_columns((1 << 17) - 10),
            lambda: list(r.iter_windows(10_000)),
        ):
            with pytest.raises(InvalidEventsError, match=mix):
                read()
        assert not any("-1/+1" in note for note in r.notes), r.notes


def test_signed_column_opening_with_on_events_is_still_read_as_0_1(tmp_path):
    n = (1 << 17) + 3000
    p = np.ones(n, np.int8)
    p[(1 << 17) + 7 :: 5] = -1
    path = _int8_polarity_file(tmp_path / "signed_burst.h5", p)
    want = (p > 0).astype(np.int8)
    with open_events(path) as r:
        assert any("-1/+1" in note for note in r.notes), r.notes
        assert np.array_equal(r.read()["p"], want)
        assert np.array_equal(r.read_columns().p, want)
        assert np.array_equal(np.concatenate(list(r.iter_windows(10_000)))["p"], want)


def _patch_filter(path, count):
    """The LZ4 filter's id (32004) in the file's bytes replaced by one no plugin provides."""
    raw = path.read_bytes()
    old, new = (32004).to_bytes(2, "little"), (32999).to_bytes(2, "little")
    assert raw.count(old) == count
    path.write_bytes(raw.replace(old, new))


def test_damaged_events_are_not_blamed_on_the_frames_filter(tmp_path):
    # the frames need a filter this installation lacks, but the read that fails is of events/x,
    # whose own (gzip) chunk is damaged: the message said the frames could not be decoded
    n = 1000
    path = tmp_path / "bad_x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "events/x", data=np.arange(n, dtype=np.uint16) % 64, chunks=(n,), compression="gzip"
        )
        f["events/y"] = np.zeros(n, np.uint16)
        f["events/t"] = np.arange(n, dtype=np.int64)
        f["events/p"] = np.ones(n, np.uint8)
        f.attrs["sensor_width"], f.attrs["sensor_height"] = 64, 48
        f.create_dataset(
            "frames", data=np.zeros((2, 48, 64), np.uint8), chunks=(1, 48, 64), **hdf5plugin.LZ4()
        )
        f["frame_ts_us"] = np.array([0, 500], np.int64)
        f["frame_event_idx"] = np.array([0, 500], np.int64)
        chunk = f["events/x"].id.get_chunk_info(0)
    _patch_filter(path, 1)
    raw = bytearray(path.read_bytes())
    raw[chunk.byte_offset : chunk.byte_offset + chunk.size] = b"\xff" * chunk.size
    path.write_bytes(bytes(raw))
    with open_events(path) as r:
        for read in (r.read, r.read_columns):
            with pytest.raises(EventFileError, match=r"bad_x\.h5.*truncated or corrupt") as info:
                read()
            assert "frames" not in str(info.value)
        with pytest.raises(EventFileError, match=r"frames is compressed with HDF5 filter 32999"):
            r.read_frame(0)


def test_a_missing_filter_on_ms_to_idx_is_named(tmp_path):
    n = 1000
    path = tmp_path / "ms.h5"
    with h5py.File(path, "w") as f:
        f["events/x"] = np.zeros(n, np.uint16)
        f["events/y"] = np.zeros(n, np.uint16)
        f["events/t"] = np.arange(n, dtype=np.int64) * 10
        f["events/p"] = np.ones(n, np.uint8)
        ms = np.searchsorted(f["events/t"][()], np.arange(11) * 1000)
        f.create_dataset("ms_to_idx", data=ms, chunks=(11,), **hdf5plugin.LZ4())
    _patch_filter(path, 1)
    with pytest.raises(
        EventFileError, match=r"ms\.h5.*ms_to_idx is compressed with HDF5 filter 32999"
    ):
        open_events(path)
