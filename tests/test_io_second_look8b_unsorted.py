"""Second look at the unsorted-t checks of DSEC-layout files: equal times are sorted (no note,
no refusal), a file with t_offset is told in the file's own times, a refusal is the same
whichever read meets the disorder first, and the coordinate and order checks leave our own
files' reads as they were."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from eventsim.errors import EventFileError
from eventsim.events import make_events
from eventsim.io import EventReader, write_events

N = 4000


def _times(seed: int = 7) -> np.ndarray:
    # many equal times: every time repeated 1-4 times
    rng = np.random.default_rng(seed)
    return np.sort(rng.integers(0, 12_000, N)).astype(np.int64)


def _ms_index(t: np.ndarray) -> np.ndarray:
    return np.searchsorted(t, np.arange(0, t.max() // 1000 + 2) * 1000, "left")


def _dsec(path, t, *, ms_to_idx=None, t_offset=None, chunks=256):
    rng = np.random.default_rng(3)
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g.create_dataset("x", data=rng.integers(0, 64, N).astype(np.uint16), chunks=(chunks,))
        g.create_dataset("y", data=rng.integers(0, 48, N).astype(np.uint16), chunks=(chunks,))
        g.create_dataset("t", data=t, chunks=(chunks,))
        g.create_dataset("p", data=rng.integers(0, 2, N).astype(np.uint8), chunks=(chunks,))
        if ms_to_idx is not None:
            f["ms_to_idx"] = ms_to_idx
        if t_offset is not None:
            f["t_offset"] = np.int64(t_offset)
    return path


@pytest.mark.parametrize("with_index", [False, True])
@pytest.mark.parametrize("t_offset", [None, 5_000_000])
def test_equal_times_are_sorted(tmp_path, with_index, t_offset):
    t = _times()
    assert np.any(np.diff(t) == 0)
    path = _dsec(
        tmp_path / "eq.h5", t, ms_to_idx=_ms_index(t) if with_index else None, t_offset=t_offset
    )
    off = t_offset or 0
    with EventReader(path) as r:
        assert not any("sorted" in n for n in r.notes), r.notes
        got = np.concatenate(list(r.iter_windows(700)))
        assert np.array_equal(got["t"], t + off)
        lo, hi = int(t[1000]) + off, int(t[3000]) + off
        want = np.flatnonzero((t + off >= lo) & (t + off < hi))
        assert np.array_equal(r.read(lo, hi)["t"], t[want] + off)
        assert np.array_equal(r.read_columns(lo, hi).t, t[want] + off)


@pytest.mark.parametrize("with_index", [False, True])
def test_t_offset_refusal_names_the_files_own_times(tmp_path, with_index):
    t = _times()
    ms = _ms_index(t)
    i = 2001
    while t[i] == t[i - 1]:
        i += 1
    t[i - 1], t[i] = t[i], t[i - 1]  # one step down at index i
    off = 7_000_000
    path = _dsec(tmp_path / "off.h5", t, ms_to_idx=ms if with_index else None, t_offset=off)
    words = f"events/t[{i}] = {int(t[i])} after events/t[{i - 1}] = {int(t[i - 1])}"
    with EventReader(path) as r:
        for read in (
            lambda: r.read(off + int(t[1500]), off + int(t[2500])),
            lambda: r.read_columns(off + int(t[1500]), off + int(t[2500])),
            lambda: list(r.iter_windows(1000)),
        ):
            with pytest.raises(EventFileError) as info:
                read()
            assert words in str(info.value), str(info.value)
        # whole and index reads give the file's order, with the offset
        assert np.array_equal(r.read()["t"], t + off)
        assert np.array_equal(r.read_index(i - 1, i + 1)["t"], t[i - 1 : i + 1] + off)
        assert sum(words in n for n in r.notes) == 1, r.notes


def test_our_file_reads_by_time_unchanged(tmp_path):
    t = _times()
    rng = np.random.default_rng(9)
    ev = make_events(rng.integers(0, 64, N), rng.integers(0, 48, N), t, rng.integers(0, 2, N))
    path = tmp_path / "ours.h5"
    write_events(path, ev, (64, 48))
    with EventReader(path) as r:
        assert r.layout == "eventsim" and not r.notes
        got = np.concatenate(list(r.iter_windows(500)))
        assert np.array_equal(got, ev)
        lo, hi = int(t[100]), int(t[3900])
        assert np.array_equal(r.read(lo, hi), ev[(t >= lo) & (t < hi)])
