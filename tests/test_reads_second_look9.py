"""Second look at 0c5258d/3849d78: `EventReader.iter_sorted` out of memory (a crowded time
followed by empty bins was held whole; files one event past the in-memory limit; int64's
extremes), a file of times since 1970 without ms_to_idx (its index took terabytes),
reads by time of our own files whose ms_to_idx points outside the file (blamed
damage), no false alarm on runs of equal times across chunks, and `time_bounds` with numpy
types past 2**53."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

import eventsim.io.hdf5_reader as hr
from eventsim.errors import ArgumentValueError, ParameterError
from eventsim.events import EVENT_DTYPE
from eventsim.io import EventReader, write_events
from eventsim.io.hdf5_reader import time_bounds

W, H = 64, 48
I64 = np.iinfo(np.int64)


def _dsec(path, t, *, t_offset=None, chunks=256, ms_to_idx=False):
    """A DSEC-layout file whose event i has x, y = i % W, (i // W) % H, so the output's order
    of events of equal time tells the file's."""
    n = t.shape[0]
    i = np.arange(n)
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g.create_dataset("x", data=(i % W).astype(np.uint16), chunks=(chunks,))
        g.create_dataset("y", data=((i // W) % H).astype(np.uint16), chunks=(chunks,))
        g.create_dataset("t", data=t, chunks=(chunks,))
        g.create_dataset("p", data=(i % 2).astype(np.uint8), chunks=(chunks,))
        f.attrs.update({"sensor_width": W, "sensor_height": H})
        if ms_to_idx:
            ms = np.arange(int(t[-1]) // 1000 + 1, dtype=np.int64) * 1000
            f["ms_to_idx"] = np.searchsorted(t, ms, "left").astype(np.uint64)
        if t_offset is not None:
            f["t_offset"] = np.int64(t_offset)
    return path


def _sorted_held(path, t, max_events, monkeypatch, n_events=97):
    """iter_sorted's output checked against a stable argsort; the most events it sorted at
    once."""
    held = [0]
    real = hr._in_time_order

    def spy(events, n):
        held[0] = max(held[0], events.shape[0])
        return real(events, n)

    monkeypatch.setattr(hr, "_in_time_order", spy)
    monkeypatch.setattr(hr, "_SORT_BLOCK", 512)
    with EventReader(path) as r:
        ev = np.concatenate(list(r.iter_sorted(n_events, max_events=max_events)))
    order = np.argsort(t, kind="stable")
    assert np.array_equal(ev["t"], t[order])
    assert np.array_equal(ev["x"], order % W) and np.array_equal(ev["y"], (order // W) % H)
    return held[0]


@pytest.mark.parametrize("crowded", [5_004, 0, I64.max, I64.min])
def test_iter_sorted_streams_a_crowded_time_followed_by_empty_times(tmp_path, monkeypatch, crowded):
    # a time held by more events than may be held at once, with no event in the times just
    # after it: its range took those empty times in and was sorted whole
    rng = np.random.default_rng(4)
    spread = (
        rng.integers(-(10**6), 10**6, 300)
        if crowded in (0, 5_004)
        else rng.integers(-(10**18), 10**18, 300)
    )
    t = np.concatenate([np.full(700, crowded), spread]).astype(np.int64)
    rng.shuffle(t)
    # a first time before 0 and a last one near it: the index built on opening stays small
    t = np.concatenate([[-5], t, [3]]).astype(np.int64)
    held = _sorted_held(_dsec(tmp_path / "c.h5", t), t, 250, monkeypatch)
    assert held <= 250


def test_iter_sorted_one_event_past_the_limit_and_extremes(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    t = rng.integers(0, 50, 1001).astype(np.int64)  # many equal times
    t[[3, 500, 1000]] = [I64.min, I64.max, I64.min]
    assert _sorted_held(_dsec(tmp_path / "e.h5", t), t, 1000, monkeypatch) <= 1000
    same = np.full(1001, 7, np.int64)
    same[0] = 8  # out of order; the rest all one time
    assert _sorted_held(_dsec(tmp_path / "s.h5", same), same, 1000, monkeypatch) <= 1000


def _ours(tmp_path):
    t = np.sort(np.random.default_rng(1).integers(0, 50_000, 20_000)).astype(np.int64)
    ev = np.zeros(t.shape[0], EVENT_DTYPE)
    ev["t"] = t
    ev["x"] = np.arange(t.shape[0]) % W
    path = write_events(tmp_path / "ours.h5", ev, (W, H))
    return path, t


@pytest.mark.parametrize("entry", [10**6, -3])
def test_read_by_time_with_an_index_outside_the_file_rebuilds_it(tmp_path, entry):
    base, t = _ours(tmp_path)
    path = tmp_path / "edited.h5"
    shutil.copy(base, path)
    with h5py.File(path, "r+") as f:
        ms = f["ms_to_idx"][()].astype(np.int64)
        ms[10] = entry
        del f["ms_to_idx"]
        f["ms_to_idx"] = ms
    with EventReader(path) as r:
        # the writer keeps t from its first event (t_offset): ms_to_idx[10] is read for
        # 10 ms after it
        off = r.t_offset_us
        for lo, hi in [(10_000, None), (None, 10_000), (10_000, 20_000), (10_000, 10_000)]:
            s = None if lo is None else lo + off
            e = None if hi is None else hi + off
            want = t[(t >= (-1 if s is None else s)) & (t < (10**9 if e is None else e))]
            assert np.array_equal(r.read(s, e)["t"], want)
            assert np.array_equal(r.read_columns(s, e).t, want)
        notes = [n for n in r.notes if "ms_to_idx" in n]
        assert len(notes) == 1 and "of 20000" in notes[0], r.notes


def test_no_false_alarm_on_runs_of_equal_times_across_chunks(tmp_path):
    rng = np.random.default_rng(3)
    values = np.sort(rng.choice(20_000, 120, replace=False))
    t = np.repeat(values, rng.integers(1, 700, values.shape[0])).astype(np.int64)
    for off in (None, 123_456_789_000):
        path = _dsec(tmp_path / f"r{off}.h5", t, t_offset=off, ms_to_idx=True)
        o = off or 0
        with EventReader(path) as r:
            for v0, v1 in zip(values[::9], values[4::9]):
                for s, e in ((v0, v1), (v0 + 1, v1 + 1), (v0, v0)):
                    got = r.read(int(s) + o, int(e) + o)["t"]
                    assert np.array_equal(got, t[(t >= s) & (t < e)] + o)
            assert r.notes == [] and r.time_disorder() is None


def test_a_file_of_times_since_1970_without_ms_to_idx_opens(tmp_path):
    # the index built in memory began at t = 0: 1.7e12 entries (12 TiB), a MemoryError
    t = np.sort(np.random.default_rng(6).integers(0, 10**6, 3000)) + 1_700_000_000_000_000
    path = _dsec(tmp_path / "epoch.h5", t.astype(np.int64))
    with EventReader(path) as r:
        for s, e in [(t[10], t[500]), (t[10] + 1, None), (None, t[-1]), (0, 10)]:
            lo, hi = -1 if s is None else s, 2**62 if e is None else e
            assert np.array_equal(r.read(s, e)["t"], t[(t >= lo) & (t < hi)])
        assert sum(len(w) for w in r.iter_windows(999, int(t[0]), int(t[-1]) + 1)) == len(t)


@pytest.mark.parametrize(
    "start, end",
    [
        (np.int64(2**60 + 1), np.uint64(2**60)),
        (2**60 + 1, np.float64(2.0**60)),
    ],
)
def test_time_bounds_refuses_an_end_before_the_start_past_2_53(start, end):
    with pytest.raises(ArgumentValueError, match="is before t_start_us"):
        time_bounds(start, end)


def test_time_bounds_with_numpy_nan_and_none():
    assert time_bounds(np.int64(5), np.float64(5.0)) == (5, 5)
    assert time_bounds(None, np.int8(3)) == (None, 3)
    assert time_bounds(None, None) == (None, None)
    with pytest.raises(ArgumentValueError, match=r"t_end_us=10\.2 is before t_start_us=10\.5"):
        time_bounds(np.float64(10.5), 10.2)
    with pytest.raises(ParameterError, match="finite"):
        time_bounds(3, np.float64("nan"))
