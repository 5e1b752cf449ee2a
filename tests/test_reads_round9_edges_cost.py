"""Reads by time check the events just outside their window (`EventReader._checked_read`).
`read` takes those two times from the chunks it decodes anyway, in the same HDF5 read as
the block beside them, instead of a one-value read each (a read call apiece, about a third
of a 10 ms window's read): no one-value read is made for a window inside one chunk, and
windows with an end on or beside a chunk's or block's edge read the same events as a mask
of all of them (the one-value reads are used there)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from eventsim.errors import EventFileError
from eventsim.events import make_events
from eventsim.io import EventReader, write_events

CHUNK = 256
N = 40 * CHUNK


def _counting(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = EventReader._time_at

    def counted(self, i):
        calls.append(i)
        return real(self, i)

    monkeypatch.setattr(EventReader, "_time_at", counted)
    return calls


def _foreign(path, t):
    # another tool's layout with small chunks: a block of a record read holds many of them
    rng = np.random.default_rng(3)
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        for name, hi, dtype in (("x", 64, np.uint16), ("y", 48, np.uint16), ("p", 2, np.uint8)):
            g.create_dataset(
                name, data=rng.integers(0, hi, t.shape[0]).astype(dtype), chunks=(CHUNK,)
            )
        g.create_dataset("t", data=t, chunks=(CHUNK,))
        f["ms_to_idx"] = np.searchsorted(t, np.arange(0, t.max() // 1000 + 2) * 1000, "left")
    with h5py.File(path, "r") as f:
        g = f["events"]
        return make_events(g["x"][:], g["y"][:], g["t"][:], g["p"][:])


def _expected(ev, lo, hi):
    return ev[(ev["t"] >= lo) & (ev["t"] < hi)]


def test_a_window_inside_one_chunk_makes_no_one_value_read(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    n = 200_000
    t = np.sort(rng.integers(0, 2_000_000, n)).astype(np.int64)
    ev = make_events(rng.integers(0, 64, n), rng.integers(0, 48, n), t, rng.integers(0, 2, n))
    path = tmp_path / "ours.h5"
    write_events(path, ev, (64, 48))
    calls = _counting(monkeypatch)
    with EventReader(path) as r:
        chunk = r._t.chunks[0]
        assert chunk < n  # the window below lies inside the second chunk
        lo, hi = int(t[chunk + 100]) + 1, int(t[chunk + 3000])
        a, b = int(np.searchsorted(t, lo)), int(np.searchsorted(t, hi))
        assert chunk < a - 1 and b < 2 * chunk
        got = r.read(lo, hi)
        np.testing.assert_array_equal(got, _expected(ev, lo, hi))
        assert calls == []


@pytest.mark.parametrize("busy", [False, True])
def test_windows_at_chunk_and_block_edges_read_as_a_mask(tmp_path, busy):
    t = np.arange(N, dtype=np.int64) * 10 + 5  # event i at 10 i + 5: its window ends are exact
    path = tmp_path / "foreign.h5"
    ev = _foreign(path, t)
    edges = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 5 * CHUNK - 1, N - 1, N]
    with EventReader(path) as r:
        notes = list(r.notes)
        for i in edges:
            for j in [*edges, i + 3, i + CHUNK - 1]:
                if not i <= j <= N:
                    continue
                lo, hi = 10 * i, 10 * j  # events i:j (lo falls between events i - 1 and i)
                if busy:
                    # another thread's read holds the reader's buffers: ones of the read's size
                    with r._bufs_lock:
                        got = r.read(lo, hi)
                else:
                    got = r.read(lo, hi)
                np.testing.assert_array_equal(got, ev[i:j], err_msg=f"events {i}:{j}")
                assert r.notes == notes  # no index found wrong


@pytest.mark.parametrize("where", ["before", "after"])
def test_an_edited_time_beside_a_window_inside_one_chunk_is_still_found(
    tmp_path, where, monkeypatch
):
    t = np.arange(N, dtype=np.int64) * 10 + 5
    path = tmp_path / "foreign.h5"
    _foreign(path, t)
    i, j = 3 * CHUNK + 20, 3 * CHUNK + 60  # events i:j, all inside the fourth chunk
    with h5py.File(path, "r+") as f:
        if where == "before":
            f["events/t"][i - 1] = 10 * i + 7  # above t[i] (10 i + 5): a step down at i
        else:
            f["events/t"][j] = 10 * j - 7  # below t[j - 1]
    calls = _counting(monkeypatch)
    with EventReader(path) as r, pytest.raises(EventFileError) as info:
        r.read(10 * i, 10 * j)
    k = i if where == "before" else j
    msg = str(info.value)
    assert f"events/t[{k}] = " in msg and f"after events/t[{k - 1}] = " in msg, msg
    assert "--sort" in msg
    assert [c for c in calls if c in (i - 1, j)] == []
