"""Second look at ms_to_idx written in blocks (baace1e) and read on demand (d8782a0).

A damaged chunk of an index read on demand (`_LazyIndex`) was reported as damage of events/t:
its reads share the look-up's OSError handler, which named events/t (and asked events/t's
filters why). The rest checks the block edges of the reads on demand (entries 4095/4096, the
last partial block, windows across blocks, t_offset, threads) against a whole load, and the
writer's runs across packets and flushes against the definition of the index."""

from __future__ import annotations

import threading
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


def _events(t_us) -> np.ndarray:
    ev = np.zeros(len(t_us), EVENT_DTYPE)
    ev["t"] = t_us
    ev["x"] = np.arange(len(t_us)) % 8
    ev["y"] = np.arange(len(t_us)) % 5
    ev["p"] = np.arange(len(t_us)) % 2
    return ev


def _want(ev: np.ndarray, a: int, b: int) -> np.ndarray:
    t = ev["t"]
    return ev[np.searchsorted(t, a, "left") : np.searchsorted(t, b, "left")]


def _lazy(monkeypatch) -> None:
    monkeypatch.setattr(hr, "_WHOLE_INDEX_MAX", 64)
    monkeypatch.setattr(hr, "_LAZY_CHECK", 5)
    monkeypatch.setattr(hr, "_SPARSE_EVENTS", 16)


def test_a_damaged_chunk_of_an_index_read_on_demand_is_named_as_ms_to_idx(tmp_path, monkeypatch):
    t = np.arange(0, 40_000 * MS, 997, dtype=np.int64)
    path = tmp_path / "damaged.h5"
    with h5py.File(path, "w") as f:
        for c in "xyp":
            f.create_dataset(f"events/{c}", data=np.zeros(t.size, np.int16), chunks=(4096,))
        f.create_dataset("events/t", data=t, chunks=(4096,))
        ms = np.searchsorted(t, np.arange(t[-1] // MS + 2) * MS).astype(np.uint64)
        ds = f.create_dataset("ms_to_idx", data=ms, chunks=(4096,), compression="gzip")
        where = ds.id.get_chunk_info(4)  # entries 16384:20480, far from the ends
    data = bytearray(path.read_bytes())
    data[where.byte_offset : where.byte_offset + where.size] = b"\xff" * where.size
    path.write_bytes(bytes(data))
    # loaded whole, as before: refused on open
    with pytest.raises(EventFileError, match="truncated or corrupt"):
        EventReader(path, sensor_size=(8, 8))
    _lazy(monkeypatch)
    with EventReader(path, sensor_size=(8, 8)) as r:
        np.testing.assert_array_equal(r.read(0, 5 * MS)["t"], t[t < 5 * MS])
        with pytest.raises(EventFileError, match=r"cannot read ms_to_idx from .*truncated"):
            r.read(17_000 * MS + 5, 17_500 * MS)
        with pytest.raises(EventFileError, match=r"cannot read ms_to_idx from .*truncated"):
            r.check_ms_index()
        # events/t itself reads on
        np.testing.assert_array_equal(r.read()["t"], t)


def _edge_files(tmp_path: Path, seed: int) -> tuple[np.ndarray, int, dict[str, Path]]:
    """Events around the edges of 4096-entry blocks, ours (t_offset before the first event)
    and another tool's (relative times, t_offset) with and without an index; the events
    are ``off`` (µs) after the edges."""
    rng = np.random.default_rng(seed)
    edges = (4095, 4096, 4097, 8191, 8192, 12287, 12288, 20000)
    t = np.sort(np.concatenate([k * MS + rng.integers(-1500, 1500, 30) for k in edges]))
    off = int(rng.integers(0, 10**6))
    ev = _events(t + off)
    paths = {"ours": tmp_path / "ours.h5", "foreign": tmp_path / "f.h5", "none": tmp_path / "n.h5"}
    with EventWriter(paths["ours"], (8, 8), t_offset_us=off - 2500, chunk_events=1024) as w:
        for part in np.array_split(ev, 5):
            w.write(part)
    rel = t - t[0] + 7
    for kind in ("foreign", "none"):
        with h5py.File(paths[kind], "w") as f:
            for c in "xytp":
                f.create_dataset(f"events/{c}", data=rel if c == "t" else ev[c], chunks=(64,))
            f.create_dataset("t_offset", data=np.int64(off + t[0] - 7))
            if kind == "foreign":
                ms = np.searchsorted(rel, np.arange(rel[-1] // MS + 2) * MS)
                f.create_dataset("ms_to_idx", data=ms.astype(np.uint64), chunks=(4096,))
    return ev, off, paths


@pytest.mark.parametrize("seed", [0, 1])
def test_reads_across_the_edges_of_blocks_read_on_demand_match_the_events(
    tmp_path, monkeypatch, seed
):
    ev, off, paths = _edge_files(tmp_path, seed)
    t = ev["t"]
    windows = [
        (off + k * MS + d, off + k * MS + d + w)
        for k in (4095, 4096, 8191, 8192, 12288, 20000, 20001, 20002, 30000)
        for d in (-1001, -1000, -1, 0, 1, 999, 1000)
        for w in (1, 999, 1000, 1001, 4096 * MS, 10**9)
    ]
    _lazy(monkeypatch)
    kinds = []
    for path in paths.values():
        with EventReader(path, sensor_size=(8, 8)) as r:
            kinds.append(type(r._index[0]).__name__)
            for a, b in windows:
                np.testing.assert_array_equal(r.read(a, b), _want(ev, a, b), err_msg=f"{a}..{b}")
            got = np.concatenate(list(r.iter_windows(777, int(t[0]) - 3000, int(t[-1]) + 5000)))
            np.testing.assert_array_equal(got, ev)
            wrong: list[tuple[int, int]] = []

            def work(s: int, r: EventReader = r, wrong: list = wrong) -> None:
                rng = np.random.default_rng(s)
                for _ in range(150):
                    a = int(rng.integers(int(t[0]) - 5000, int(t[-1]) + 5000))
                    b = a + int(rng.choice([1, 999, MS, 5000, 3_000_000]))
                    if not np.array_equal(r.read(a, b), _want(ev, a, b)):
                        wrong.append((a, b))

            threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            assert wrong == []
    assert kinds == ["_LazyIndex", "_LazyIndex", "_SparseIndex"]


@pytest.mark.parametrize("seed", range(6))
def test_written_runs_across_packets_and_flushes_give_the_searchsorted_index(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5000, 20000))
    # dense stretches, times on whole milliseconds, and a few gaps of more than one written
    # block (2^18 entries)
    steps = np.where(rng.random(n) < 0.3, rng.integers(0, 3, n) * MS, rng.integers(0, 400, n))
    steps[rng.choice(n, 3, replace=False)] = rng.integers(200_000, 300_000, 3) * MS
    t = np.cumsum(steps) + int(rng.integers(0, 10**7))
    ev = _events(t)
    off = None if seed % 2 else int(t[0]) - int(rng.integers(0, 5 * MS))
    frames = np.sort(rng.integers(int(t[0]) - 3 * MS, int(t[-1]) + 3 * MS, 8))
    path = tmp_path / "w.h5"
    with EventWriter(path, (8, 8), chunk_events=1024, t_offset_us=off) as w:
        k = 0
        cuts = np.sort(rng.choice(np.arange(1, n), 60, replace=False))
        for part in np.split(ev, cuts):
            w.write(part)
            while k < frames.size and frames[k] <= part["t"][-1]:
                w.add_frame(np.zeros((2, 2), np.uint8), int(frames[k]))
                k += 1
        for j in range(k, frames.size):
            w.add_frame(np.zeros((2, 2), np.uint8), int(frames[j]))
    base = int(t[0]) if off is None else off
    rel = t - base
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(
            f["ms_to_idx"][()], np.searchsorted(rel, np.arange(rel[-1] // MS + 2) * MS)
        )
        np.testing.assert_array_equal(
            f["frame_event_idx"][()], np.searchsorted(t, frames, side="right")
        )
