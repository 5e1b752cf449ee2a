"""The writer's ms_to_idx with bounded memory: a recording whose events are days apart (a frame
folder at --fps 1e-6 spans 2e9 ms, just under the event-file limit) made the writer build the
whole index in memory, one int64 per millisecond (14.6 GiB there: 'out of memory', or the
process killed). The index is now kept as runs of one value and written in blocks."""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np

from eventsim.events import EVENT_DTYPE
from eventsim.io.hdf5_writer import EventWriter

MS = 1000  # µs


def _events(t_us) -> np.ndarray:
    ev = np.zeros(len(t_us), EVENT_DTYPE)
    ev["t"] = t_us
    ev["x"] = np.arange(len(t_us)) % 8
    ev["p"] = np.arange(len(t_us)) % 2
    return ev


def test_a_few_events_far_apart_are_written_without_a_per_millisecond_array(tmp_path):
    span_ms = 1 << 24  # 16.8 M entries: 128 MiB as one array, a few such arrays before
    ev = _events([5_000_000, 5_000_000 + span_ms // 3 * MS, 5_000_000 + (span_ms - 2) * MS])
    path = tmp_path / "far.h5"
    tracemalloc.start()
    try:
        with EventWriter(path, (8, 8)) as w:
            w.write(ev[:1])
            w.write(ev[1:])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    with h5py.File(path, "r") as f:
        ms = f["ms_to_idx"]
        assert ms.shape == (span_ms,)
        # the entry after each event's millisecond, the runs between, and the end
        k1, k2 = span_ms // 3, span_ms - 2
        for k, want in ((0, 0), (1, 1), (k1, 1), (k1 + 1, 2), (k2, 2), (k2 + 1, 3)):
            assert int(ms[k]) == want, k
        assert set(np.unique(ms[: 1 << 20]).tolist()) == {0, 1}
        # mostly one repeated value: small on disk (about 260 bytes per 4096-entry chunk)
        assert ms.id.get_storage_size() < span_ms // 4096 * 400


def test_sparse_packets_over_many_flushes_give_the_searchsorted_index_and_frame_indices(
    tmp_path,
):
    rng = np.random.default_rng(9)
    # bursts of events separated by gaps of up to a million milliseconds (several write
    # blocks), packets cut anywhere, a flush every 4096 events
    bursts = [
        start + np.sort(rng.integers(0, 3_000, int(n)))
        for start, n in zip(
            np.cumsum(rng.integers(1, 10**9, 12)), rng.integers(1, 1500, 12), strict=True
        )
    ]
    t = np.concatenate(bursts).astype(np.int64) + 123_456
    ev = _events(t)
    cuts = np.sort(rng.choice(np.arange(1, t.size), 25, replace=False))
    # one frame at an event's exact time
    frame_ts = np.sort(np.append(rng.integers(t[0] - 5 * MS, t[-1] + 5 * MS, 19), t[cuts[4]]))
    path = tmp_path / "sparse.h5"
    with EventWriter(path, (8, 8), chunk_events=1024) as w:
        k = 0
        for packet in np.split(ev, cuts):
            w.write(packet)
            while k < frame_ts.size and frame_ts[k] <= packet["t"][-1]:
                w.add_frame(np.full((2, 2), k, np.uint8), int(frame_ts[k]))
                k += 1
        for j in range(k, frame_ts.size):
            w.add_frame(np.zeros((2, 2), np.uint8), int(frame_ts[j]))
    rel = t - t[0]
    with h5py.File(path, "r") as f:
        ms = f["ms_to_idx"][()]
        np.testing.assert_array_equal(
            ms, np.searchsorted(rel, np.arange(rel[-1] // MS + 2) * MS, side="left")
        )
        np.testing.assert_array_equal(
            f["frame_event_idx"][()], np.searchsorted(t, frame_ts, side="right")
        )
