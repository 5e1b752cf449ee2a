"""Reads by time of files whose events/t is not sorted where the window is: our own files
edited since they were written (they were trusted to be sorted), and the events just outside
a window of another tool's DSEC file (only the events read were checked). Each is refused
naming the file, the index and the two times, and `eventsim convert --sort`; a wrong
ms_to_idx over sorted times is rebuilt and the window read right."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from eventsim.errors import EventFileError
from eventsim.events import make_events
from eventsim.io import EventReader, write_events

N = 6000


def _times(seed: int = 4) -> np.ndarray:
    # distinct, not ms-aligned times: each window's ends are found by a search in t
    rng = np.random.default_rng(seed)
    t = np.sort(rng.choice(np.arange(1, 60_000), N, replace=False)).astype(np.int64)
    return t


def _ours(path, t):
    rng = np.random.default_rng(9)
    ev = make_events(rng.integers(0, 64, N), rng.integers(0, 48, N), t, rng.integers(0, 2, N))
    write_events(path, ev, (64, 48))
    return ev


def _edit_t(path, values: dict[int, int]) -> int:
    """Set events/t[i] to the absolute time v (the file stores t - t_offset); returns the
    offset, which the refusals' times (the file's own) leave out."""
    with h5py.File(path, "r+") as f:
        off = int(f["t_offset"][()]) if "t_offset" in f else 0
        for i, v in values.items():
            f["events/t"][i] = v - off
    return off


def _dsec(path, t, ms_to_idx):
    rng = np.random.default_rng(3)
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g.create_dataset("x", data=rng.integers(0, 64, N).astype(np.uint16), chunks=(256,))
        g.create_dataset("y", data=rng.integers(0, 48, N).astype(np.uint16), chunks=(256,))
        g.create_dataset("t", data=t, chunks=(256,))
        g.create_dataset("p", data=rng.integers(0, 2, N).astype(np.uint8), chunks=(256,))
        f["ms_to_idx"] = ms_to_idx
    return path


def _ms_index(t: np.ndarray) -> np.ndarray:
    return np.searchsorted(t, np.arange(0, t.max() // 1000 + 2) * 1000, "left")


def _reads(r, lo, hi):
    return {
        "read": lambda: r.read(lo, hi),
        "read_columns": lambda: r.read_columns(lo, hi),
        "iter_windows": lambda: list(r.iter_windows(hi - lo, lo, hi)),
    }


def _refused(path, read, i, before, there):
    with pytest.raises(EventFileError) as info:
        read()
    msg = str(info.value)
    assert str(path) in msg, msg
    assert f"events/t[{i}] = {there} after events/t[{i - 1}] = {before}" in msg, msg
    assert "eventsim convert" in msg and "--sort" in msg, msg


@pytest.mark.parametrize("how", ["read", "read_columns", "iter_windows"])
def test_our_file_edited_unsorted_inside_the_window_is_refused(tmp_path, how):
    t = _times()
    path = tmp_path / "ours.h5"
    _ours(path, t)
    i = 3000
    off = _edit_t(path, {i: int(t[i - 1]) - 7})  # one step down at i, then up again
    with EventReader(path) as r:
        assert r.layout == "eventsim"
        read = _reads(r, int(t[2500]), int(t[3500]))[how]
        _refused(path, read, i, t[i - 1] - off, t[i - 1] - 7 - off)
        # whole and index reads give the file's order
        assert len(r.read()) == N
        assert r.read_index(i, i + 1)["t"][0] == t[i - 1] - 7


@pytest.mark.parametrize("how", ["read", "read_columns"])
def test_our_file_edited_before_the_window_start_is_refused(tmp_path, how):
    # the event just before the window is given a time inside it: the events read are
    # sorted and inside the window, only the one before them tells
    t = _times()
    path = tmp_path / "ours.h5"
    _ours(path, t)
    a = 3000
    off = _edit_t(path, {a - 1: int(t[a]) + 5})
    with EventReader(path) as r:
        read = _reads(r, int(t[a]), int(t[a + 200]))[how]
        _refused(path, read, a, t[a] + 5 - off, t[a] - off)


@pytest.mark.parametrize("how", ["read", "read_columns"])
def test_our_file_edited_after_the_window_end_is_refused(tmp_path, how):
    t = _times()
    path = tmp_path / "ours.h5"
    _ours(path, t)
    b = 3200
    # the first event after the window gets a time inside it (and below the one before it)
    off = _edit_t(path, {b: int(t[b - 1]) - 1})
    with EventReader(path) as r:
        read = _reads(r, int(t[3000]), int(t[b]))[how]
        _refused(path, read, b, t[b - 1] - off, t[b - 1] - 1 - off)


def test_our_file_with_a_wrong_ms_to_idx_entry_is_read_right(tmp_path):
    # t stays sorted but the event before a millisecond moves into it: ms_to_idx, which our
    # files are trusted to hold right, now starts that millisecond one event too late
    t = _times()
    path = tmp_path / "ours.h5"
    ev = _ours(path, t)
    with h5py.File(path, "r") as f:
        off = int(f["t_offset"][()])
    k = 30  # the file's own millisecond (its times are t - off)
    a = int(np.searchsorted(t - off, k * 1000))
    assert t[a - 1] - off < k * 1000 <= t[a] - off
    _edit_t(path, {a - 1: k * 1000 + off})
    ev["t"][a - 1] = k * 1000 + off
    lo, hi = k * 1000 + off, (k + 3) * 1000 + off
    with EventReader(path) as r:
        got = r.read(lo, hi)
        assert any("ms_to_idx does not match" in n for n in r.notes), r.notes
        assert np.array_equal(r.read_columns(lo, hi).t, got["t"])
    assert np.array_equal(got, ev[(ev["t"] >= lo) & (ev["t"] < hi)])


def test_dsec_event_before_the_window_inside_it_is_refused(tmp_path):
    # another tool's file: its index agrees with t around every millisecond, and open checks
    # the first and last chunks only; the window starts between milliseconds
    t = _times()
    ms = _ms_index(t)
    a = 3000
    assert t[a] % 1000 and t[a - 1] // 1000 == t[a] // 1000
    t[a - 1] = t[a] + 2  # inside the window [t[a], ...) though before it in the file
    assert t[a - 1] < t[a + 1] and t[a - 1] // 1000 == t[a] // 1000
    path = _dsec(tmp_path / "d.h5", t, ms)
    with EventReader(path) as r:
        assert r.layout == "dsec"
        assert not any("sorted" in n or "ms_to_idx" in n for n in r.notes), r.notes
        lo, hi = int(t[a]), int(t[a + 300])
        _refused(path, lambda: r.read(lo, hi), a, t[a - 1], t[a])


def test_dsec_event_after_the_window_inside_it_is_refused(tmp_path):
    t = _times()
    ms = _ms_index(t)
    b = 3300
    assert t[b] % 1000 and t[b - 1] // 1000 == t[b] // 1000
    t[b] = t[b - 1] - 1  # inside the window [..., t[b - 1] + 1): before its end
    assert t[b] > t[b - 2] and t[b] // 1000 == t[b - 1] // 1000
    path = _dsec(tmp_path / "d.h5", t, ms)
    with EventReader(path) as r:
        lo, hi = int(t[3000]), int(t[b - 1]) + 1
        for read in (lambda: r.read(lo, hi), lambda: r.read_columns(lo, hi)):
            _refused(path, read, b, t[b - 1], t[b])


def test_sorted_files_read_windows_as_before(tmp_path):
    t = _times()
    path = tmp_path / "ours.h5"
    ev = _ours(path, t)
    with EventReader(path) as r:
        for lo, hi in ((0, 10**9), (int(t[10]), int(t[5990])), (30_000, 31_000), (5, 5)):
            want = ev[(ev["t"] >= lo) & (ev["t"] < hi)]
            assert np.array_equal(r.read(lo, hi), want)
            assert np.array_equal(r.read_columns(lo, hi).t, want["t"])
        assert np.array_equal(np.concatenate(list(r.iter_windows(700))), ev)
        assert not r.notes
