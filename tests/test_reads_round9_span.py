"""Reads of files spanning a long time with memory independent of the span: the writer now
writes ms_to_idx for up to 2^31 ms (baace1e), but the reader loaded it whole on open (as
uint64 plus an int64 copy: 32 GiB for 2^31 entries, 'eventsim info' out of memory), and built
a missing one with one entry per millisecond. An index over `_WHOLE_INDEX_MAX` entries is now
read a block at a time, and a built one kept sparse; every read gives what it gave."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

import eventsim.io.hdf5_reader as hr
from eventsim.errors import EventFileError
from eventsim.events import EVENT_DTYPE
from eventsim.io import EventReader
from eventsim.io.hdf5_writer import EventWriter

MS = 1000  # µs
SPAN_MS = (1 << 24) + 5  # over the whole-load limit (2^22 entries) four times


def _events(t_us) -> np.ndarray:
    ev = np.zeros(len(t_us), EVENT_DTYPE)
    ev["t"] = t_us
    ev["x"] = np.arange(len(t_us)) % 8
    ev["y"] = np.arange(len(t_us)) % 5
    ev["p"] = np.arange(len(t_us)) % 2
    return ev


def _ours(path: Path, ev: np.ndarray, *, packets: int = 1) -> None:
    with EventWriter(path, (8, 8)) as w:
        for part in np.array_split(ev, packets):
            if len(part):
                w.write(part)


def _foreign(path: Path, ev: np.ndarray, ms: np.ndarray | None = None) -> None:
    """Another tool's DSEC file of ``ev``, with ``ms`` as its ms_to_idx (None: none)."""
    with h5py.File(path, "w") as f:
        for c in "xytp":
            f.create_dataset(f"events/{c}", data=ev[c], chunks=(min(4096, len(ev)),))
        if ms is not None:
            f.create_dataset("ms_to_idx", data=ms.astype(np.uint64), chunks=(4096,))


def _far_apart() -> np.ndarray:
    return _events([0, SPAN_MS // 3 * MS + 17, (SPAN_MS - 2) * MS + 999])


def _windows(t: np.ndarray, count: int, seed: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    last = int(t[-1])
    out = [(0, 1), (0, last + 1), (last, last + 1), (-5 * MS, 3 * MS), (last + 1, last + 5 * MS)]
    for _ in range(count):
        a = int(rng.integers(-2 * MS, last + 2 * MS))
        # bounds on whole milliseconds use one entry, others two
        if rng.random() < 0.3:
            a -= a % MS
        width = int(rng.choice([1, 999, MS, 2500, 37 * MS, last // 50 + 1]))
        out.append((a, a + width))
    return out


def _want(ev: np.ndarray, a: int, b: int) -> np.ndarray:
    t = ev["t"]
    return ev[np.searchsorted(t, a, "left") : np.searchsorted(t, b, "left")]


def _peak_of(work) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["ours", "foreign index", "no index"])
def test_a_file_spanning_2_24_ms_opens_and_reads_in_bounded_memory(tmp_path, kind):
    ev = _far_apart()
    path = tmp_path / "far.h5"
    if kind == "ours":
        _ours(path, ev)
    else:
        ms = np.searchsorted(ev["t"], np.arange(SPAN_MS + 1) * MS)
        _foreign(path, ev, ms if kind == "foreign index" else None)
    windows = _windows(ev["t"], 60, seed=3)
    got: list[np.ndarray] = []
    notes: list[str] = []

    def work() -> None:
        with EventReader(path, sensor_size=(8, 8)) as r:
            r.check_ms_index()  # eventsim info: compares a foreign index a block at a time
            got.extend(r.read(a, b) for a, b in windows)
            got.append(np.concatenate(list(r.iter_windows(SPAN_MS // 7 * MS))))
            got.append(r.read_columns(SPAN_MS // 3 * MS, SPAN_MS // 3 * MS + 18).t)
            notes.extend(r.notes)

    peak = _peak_of(work)
    # loaded whole, the index took 2^24 * 8 bytes twice (256 MiB); built, as much
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    for (a, b), events in zip(windows, got):
        np.testing.assert_array_equal(events, _want(ev, a, b), err_msg=f"{a}..{b}")
    np.testing.assert_array_equal(got[-2], ev)
    np.testing.assert_array_equal(got[-1], ev["t"][1:2])
    want_notes = ["file has no ms_to_idx; built the index in memory"] if kind == "no index" else []
    assert notes == want_notes


def test_a_foreign_index_of_2_24_ms_wrong_far_from_the_ends_is_found_in_bounded_memory(tmp_path):
    ev = _far_apart()
    path = tmp_path / "far.h5"
    ms = np.searchsorted(ev["t"], np.arange(SPAN_MS + 1) * MS)
    k = SPAN_MS // 3 - 1000  # between the entries opening checks
    ms[k] = 2
    _foreign(path, ev, ms)
    notes: list[str] = []

    def work() -> None:
        with EventReader(path, sensor_size=(8, 8)) as r:
            assert r.notes == []
            np.testing.assert_array_equal(r.read(k * MS - 5, k * MS + 5), ev[:0])
            notes.extend(r.notes)
            np.testing.assert_array_equal(r.read(0, (SPAN_MS // 3 + 1) * MS), ev[:2])

    peak = _peak_of(work)
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert len(notes) == 1 and "does not match" in notes[0], notes


# -- the lazy paths on small files, against the whole load ------------------------------------


def _bursts(seed: int, n_bursts: int = 40) -> np.ndarray:
    """Bursts of events (many at one time, many in one millisecond) separated by gaps of up
    to a few hundred seconds."""
    rng = np.random.default_rng(seed)
    starts = np.cumsum(rng.integers(0, 300_000, n_bursts)) * MS + int(rng.integers(0, 999))
    parts = [
        s + np.sort(rng.integers(0, int(rng.choice([3, 900, 40_000])), int(n)))
        for s, n in zip(starts, rng.integers(1, 3_000, n_bursts))
    ]
    return _events(np.concatenate(parts))


def _reads(path: Path, ev: np.ndarray, seed: int) -> tuple[list[np.ndarray], list[str]]:
    got: list[np.ndarray] = []
    with EventReader(path, sensor_size=(8, 8)) as r:
        for a, b in _windows(ev["t"], 300, seed):
            events = r.read(a, b)
            np.testing.assert_array_equal(events, _want(ev, a, b), err_msg=f"{a}..{b}")
            cols = r.read_columns(a, b)
            np.testing.assert_array_equal(cols.t, events["t"])
            got.append(events)
        span = int(ev["t"][-1])
        # windows of a few ms, many in each block iter_windows reads, then longer than a burst
        for width in (997 * max(1, span // (997 * 3000)), 250_000 * MS):
            windows = list(r.iter_windows(width, 5 * MS, int(ev["t"][-1]) + 3))
            np.testing.assert_array_equal(
                np.concatenate(windows), _want(ev, 5 * MS, ev["t"][-1] + 3)
            )
            got.extend(windows)
        assert r.time_disorder() is None
        got.extend(r.iter_sorted(4096))
        r.check_ms_index()
        got.extend(r.read(a, b) for a, b in _windows(ev["t"], 50, seed + 1))
        return got, list(r.notes)


def _same_reads(
    path: Path, ev: np.ndarray, monkeypatch, seed: int, *, same_notes: bool = True
) -> tuple[list[str], list[str]]:
    """The kinds of index and marks a reader opens with when the index is read on demand,
    and its notes, once its reads are checked against the whole load's."""
    whole = _reads(path, ev, seed)
    with monkeypatch.context() as m:
        m.setattr(hr, "_WHOLE_INDEX_MAX", 64)
        m.setattr(hr, "_LAZY_CHECK", 5)
        m.setattr(hr, "_LAZY_MARKS_MAX", 7)
        m.setattr(hr, "_SPARSE_EVENTS", 256)
        m.setattr(hr, "_INDEX_STEP", 1000)
        with EventReader(path, sensor_size=(8, 8)) as r:
            kinds = (type(r._index[0]), type(r._index[1]))
        lazy = _reads(path, ev, seed)
    assert len(lazy[0]) == len(whole[0])
    for a, b in zip(lazy[0], whole[0]):
        np.testing.assert_array_equal(a, b)
    if same_notes:
        assert lazy[1] == whole[1]
    return [k.__name__ for k in kinds], lazy[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_our_index_read_on_demand_gives_the_whole_loads_reads(tmp_path, monkeypatch, seed):
    ev = _bursts(seed)
    path = tmp_path / "ours.h5"
    _ours(path, ev, packets=7)
    assert _same_reads(path, ev, monkeypatch, seed) == (["_LazyIndex", "NoneType"], [])


@pytest.mark.parametrize("seed", [0, 1])
def test_a_missing_index_built_sparse_gives_the_whole_builds_reads(tmp_path, monkeypatch, seed):
    ev = _bursts(seed + 10)
    path = tmp_path / "none.h5"
    _foreign(path, ev)
    kinds, notes = _same_reads(path, ev, monkeypatch, seed)
    assert kinds == ["_SparseIndex", "NoneType"]
    assert notes == ["file has no ms_to_idx; built the index in memory"]


@pytest.mark.parametrize("wrong", [None, "middle", "last", "first", "beyond the end"])
def test_a_foreign_index_read_on_demand_gives_the_whole_loads_reads(tmp_path, monkeypatch, wrong):
    ev = _bursts(20)
    t = ev["t"]
    path = tmp_path / "foreign.h5"
    ms = np.searchsorted(t, np.arange(t[-1] // MS + 2) * MS)
    if wrong == "middle":
        crowded = np.flatnonzero(np.diff(ms) > 2)
        k = int(crowded[len(crowded) // 2])
        ms[k + 1] -= 1  # the last event of millisecond k counted in k + 1
    elif wrong == "beyond the end":
        # found on open when loaded whole (bounds), on use when read on demand
        ms[len(ms) // 3] = len(t) + 100
    elif wrong == "last":
        ms[-1] = len(t) + 5  # past the end of the file
    elif wrong == "first":
        ms = np.concatenate([ms[1:], ms[-1:]])  # another convention: offset by one
    _foreign(path, ev, ms)
    kinds, notes = _same_reads(path, ev, monkeypatch, 30, same_notes=wrong != "beyond the end")
    # an index found wrong on open is rebuilt, sparse
    assert kinds == (
        ["_SparseIndex", "NoneType"] if wrong in ("last", "first") else ["_LazyIndex", "_LazyMarks"]
    )
    assert sum("does not match" in note for note in notes) == (wrong is not None), notes


def test_a_foreign_index_checked_by_check_ms_index_names_the_first_wrong_entry(
    tmp_path, monkeypatch
):
    ev = _bursts(5)
    t = ev["t"]
    path = tmp_path / "foreign.h5"
    ms = np.searchsorted(t, np.arange(t[-1] // MS + 2) * MS)
    crowded = np.flatnonzero(np.diff(ms) > 2)
    k = int(crowded[len(crowded) // 2]) + 1
    ms[k] -= 1  # between the entries opening checks; no read uses it before the check
    _foreign(path, ev, ms)
    notes = []
    for lazy in (False, True):
        with monkeypatch.context() as m:
            if lazy:
                m.setattr(hr, "_WHOLE_INDEX_MAX", 64)
                m.setattr(hr, "_INDEX_STEP", 333)
            with EventReader(path, sensor_size=(8, 8)) as r:
                r.check_ms_index()
                assert r._unchecked is None
                notes.append(r.notes)
                np.testing.assert_array_equal(
                    r.read(k * MS - 3, k * MS + 4), _want(ev, k * MS - 3, k * MS + 4)
                )
    assert notes[0] == notes[1]
    assert len(notes[0]) == 1 and f"first ms_to_idx[{k}] = " in notes[0][0], notes


def test_an_unsorted_file_without_an_index_is_refused_as_before(tmp_path, monkeypatch):
    ev = _bursts(7)
    i = len(ev) // 2
    ev["t"][i] = ev["t"][i - 1] - 5
    path = tmp_path / "unsorted.h5"
    with h5py.File(path, "w") as f:
        for c in "xytp":
            f.create_dataset(f"events/{c}", data=ev[c], chunks=(512,))
    errors = []
    for limit in (hr._WHOLE_INDEX_MAX, 64):
        monkeypatch.setattr(hr, "_WHOLE_INDEX_MAX", limit)
        with EventReader(path, sensor_size=(8, 8)) as r:
            with pytest.raises(EventFileError, match="not sorted") as caught:
                r.read(0, 5 * MS)
            errors.append((str(caught.value), r.notes))
            np.testing.assert_array_equal(r.read(), ev)
    assert errors[0] == errors[1]
