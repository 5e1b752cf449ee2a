"""DSEC-layout HDF5 files from other tools whose events/t is not sorted: told by a note when
the reader builds the index (it reads all of t then), and refused by reads by time, whose
windows would be wrong; a valid ms_to_idx costs no scan at open, the window read checks its
own events."""

from __future__ import annotations

import numpy as np
import pytest
from test_io_followup8_hdf5 import N, _dsec

from eventsim.errors import EventFileError
from eventsim.io import EventReader, open_events


def _unsorted_t():
    t = np.sort(np.random.default_rng(5).integers(0, 40_000, N)).astype(np.int64)
    t[1500], t[1510] = t[1510] + 700, t[1500]
    return t


def test_unsorted_times_without_ms_to_idx_are_told(tmp_path):
    path, cols = _dsec(tmp_path / "uns.h5", t=_unsorted_t())
    with open_events(path) as r:
        assert any("not sorted" in n and "events/t" in n for n in r.notes), r.notes
        # reads by index, and the whole file, are as the file holds them
        assert np.array_equal(r.read()["t"], cols["t"])
        assert len(r.read_index(0, N)) == N
        with pytest.raises(EventFileError) as info:
            r.read(10_000, 30_000)
        assert str(path) in str(info.value) and "not sorted" in str(info.value)
        with pytest.raises(EventFileError, match="not sorted"):
            list(r.iter_windows(1000))


def test_unsorted_times_with_ms_to_idx_refused_by_the_window_read(tmp_path):
    t = np.sort(np.random.default_rng(5).integers(0, 40_000, N)).astype(np.int64)
    ms = np.searchsorted(t, np.arange(0, t[-1] // 1000 + 2) * 1000, "left")
    # two events swapped within the file's middle: the index's entries still agree with the
    # times around them, and open checks only the first and last chunks
    t[1500], t[1504] = t[1504], t[1500]
    assert t[1500] != t[1504]
    path, _ = _dsec(tmp_path / "ms.h5", t=t, chunks=256, ms_to_idx=ms)
    with EventReader(path) as r:
        assert not any("ms_to_idx" in n for n in r.notes), r.notes
        assert len(r.read()) == N
        assert len(r.read(0, int(t[100]))) == 100
        lo, hi = int(t[1400]), int(t[1600])
        for read in (lambda: r.read(lo, hi), lambda: r.read_columns(lo, hi)):
            with pytest.raises(EventFileError) as info:
                read()
            msg = str(info.value)
            assert str(path) in msg and "not sorted" in msg and "events/t" in msg


def test_sorted_foreign_file_reads_windows(tmp_path):
    path, cols = _dsec(tmp_path / "sorted.h5", chunks=256)
    with EventReader(path) as r:
        assert not any("sorted" in n for n in r.notes)
        got = np.concatenate(list(r.iter_windows(1000)))
    assert np.array_equal(got["t"], cols["t"])
