import hashlib
import tracemalloc

import h5py
import hdf5plugin
import numpy as np
import pytest

from eventsim.errors import (
    EventFileError,
    InvalidEventsError,
    OutputExistsError,
    ParameterError,
)
from eventsim.events import EVENT_DTYPE, slice_time
from eventsim.io import EventReader, EventWriter, open_events, write_events

SIZE = (64, 48)


def digest(ev: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(ev).tobytes()).hexdigest()


def make_stream(n: int, seed: int = 0, t0: int = 1_000_003, span: int = 400_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["x"] = rng.integers(0, SIZE[0], n)
    ev["y"] = rng.integers(0, SIZE[1], n)
    ev["t"] = np.sort(rng.integers(t0, t0 + span, n))
    ev["p"] = rng.integers(0, 2, n)
    return ev


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def write_packets(path, ev, sizes=(1, 17, 999, 5000), **kw) -> None:
    with EventWriter(path, SIZE, **kw) as w:
        a, k = 0, 0
        while a < len(ev):
            step = sizes[k % len(sizes)]
            w.write(ev[a : a + step])
            a += step
            k += 1
        assert w.n_events == len(ev)


def test_roundtrip_digest_and_metadata(tmp_path, small_events):
    path = tmp_path / "ev.h5"
    params = {"pos_threshold": 0.2, "preset": "clean", "shape": (3, 4)}
    write_packets(path, small_events, params=params, source={"video": "clip.mp4"})
    with EventReader(path) as r:
        back = r.read()
        assert digest(back) == digest(small_events)
        assert len(r) == len(small_events)
        assert r.sensor_size == SIZE
        assert r.t_start_us == small_events["t"][0]
        assert r.t_end_us == small_events["t"][-1] + 1
        assert r.duration_us == r.t_end_us - r.t_start_us
        assert r.params == {"pos_threshold": 0.2, "preset": "clean", "shape": [3, 4]}
        assert r.source == {"video": "clip.mp4"}
        assert r.attrs["format"] == "eventsim-events"
        assert r.attrs["software"].startswith("eventsim ")
        assert r.layout == "eventsim"
    assert leftovers(tmp_path) == ["ev.h5"]


def test_plain_h5py_dsec_reader_reads_our_file(tmp_path):
    ev = make_stream(20_000, seed=3)
    path = tmp_path / "dsec.h5"
    write_packets(path, ev, sizes=(3000, 1, 7000), chunk_events=1024)
    # Only what a DSEC reader knows: the layout, t_offset, ms_to_idx semantics and hdf5plugin.
    with h5py.File(path, "r") as f:
        assert f["events/x"].dtype == np.uint16 and f["events/y"].dtype == np.uint16
        assert f["events/p"].dtype == np.uint8 and f["events/t"].dtype == np.int64
        assert f["ms_to_idx"].dtype == np.uint64
        t_rel = f["events/t"][()]
        t_offset = int(f["t_offset"][()])
        ms_to_idx = f["ms_to_idx"][()]
        x, y, p = f["events/x"][()], f["events/y"][()], f["events/p"][()]
        filters = f["events/t"].id.get_create_plist()
        codes = [filters.get_filter(i)[0] for i in range(filters.get_nfilters())]
        assert hdf5plugin.BLOSC_ID in codes
        assert (int(f.attrs["sensor_width"]), int(f.attrs["sensor_height"])) == SIZE
    assert np.array_equal(t_rel + t_offset, ev["t"])
    assert np.array_equal(x, ev["x"]) and np.array_equal(y, ev["y"])
    assert np.array_equal(p, ev["p"])
    n = len(t_rel)
    assert len(ms_to_idx) == t_rel[-1] // 1000 + 2
    for ms, idx in enumerate(ms_to_idx.astype(np.int64)):
        if idx < n:
            assert t_rel[idx] >= ms * 1000
        if idx > 0:
            assert t_rel[idx - 1] < ms * 1000

    # DSEC's EventSlicer logic: conservative ms window through ms_to_idx (None past its end),
    # then refine on t; windows up to the end of the recording must resolve.
    def dsec_slice(t_start_us, t_end_us):
        s_ms, e_ms = (t_start_us - t_offset) // 1000, -(-(t_end_us - t_offset) // 1000)
        if e_ms >= len(ms_to_idx):
            return None
        a, b = int(ms_to_idx[s_ms]), int(ms_to_idx[e_ms])
        t = t_rel[a:b]
        lo = a + np.searchsorted(t, t_start_us - t_offset)
        hi = a + np.searchsorted(t, t_end_us - t_offset)
        return x[lo:hi], y[lo:hi], t_rel[lo:hi] + t_offset, p[lo:hi]

    # Every window ending inside the recording, up to the end of the last event's millisecond,
    # must resolve and give exactly the events of the window; one microsecond later the index
    # has no entry, and DSEC's slicer gives up (the index is neither short nor padded).
    end = int(ev["t"][-1]) + 1
    covered = t_offset + 1000 * ((end - 1 - t_offset) // 1000 + 1)
    for t1 in [*range(t_offset + 1, end, 997), end, covered]:
        t0 = max(t_offset, t1 - 4321)
        got = dsec_slice(t0, t1)
        assert got is not None, (t0, t1)
        want = ev[(ev["t"] >= t0) & (ev["t"] < t1)]
        for col, name in zip(got, "xytp"):
            assert np.array_equal(col, want[name])
    assert dsec_slice(end - 10, covered + 1) is None


def test_time_window_reads_match_slice_time(tmp_path):
    ev = make_stream(30_000, seed=5)
    path = tmp_path / "w.h5"
    write_packets(path, ev, chunk_events=1024)
    rng = np.random.default_rng(0)
    t0, t1 = int(ev["t"][0]), int(ev["t"][-1])
    starts = [t0 - 5000, t0, t0 + 1000, t1, t1 + 1, *rng.integers(t0 - 2000, t1 + 2000, 60)]
    with EventReader(path) as r:
        for s in starts:
            for width in (0, 1, 999, 1000, 1001, 10_000, 10**9):
                got = r.read(int(s), int(s) + width)
                assert np.array_equal(got, slice_time(ev, int(s), int(s) + width)), (s, width)
        assert np.array_equal(r.read(None, t0 + 5000), slice_time(ev, None, t0 + 5000))
        assert np.array_equal(r.read(t0 + 5000, None), slice_time(ev, t0 + 5000, None))
        assert np.array_equal(r.read_index(100, 2000), ev[100:2000])
        assert len(r.read_index(5, 5)) == 0 and r.read_index(5, 5).dtype == EVENT_DTYPE


def test_iter_windows_every_window_and_iter_chunks(tmp_path):
    ev = make_stream(5000, seed=7, span=100_000)
    gap = ev["t"][-1] + 50_000  # a silent stretch must still give (empty) windows
    tail = make_stream(100, seed=8, t0=int(gap), span=10_000)
    ev = np.concatenate([ev, tail])
    path = tmp_path / "it.h5"
    write_events(path, ev, SIZE)
    with open_events(path) as r:
        windows = list(r.iter_windows(3_000))
        n_expected = -(-(r.t_end_us - r.t_start_us) // 3_000)
        assert len(windows) == n_expected
        assert any(len(w) == 0 for w in windows)
        assert np.array_equal(np.concatenate(windows), ev)
        for k, w in enumerate(windows):
            lo = r.t_start_us + k * 3_000
            assert np.array_equal(w, slice_time(ev, lo, lo + 3_000))
        chunks = list(r.iter_chunks(777))
        assert [len(c) for c in chunks[:-1]] == [777] * (len(chunks) - 1)
        assert np.array_equal(np.concatenate(chunks), ev)
        with pytest.raises(ParameterError):
            list(r.iter_windows(0))


@pytest.mark.parametrize("chunk_events", [1024, 1 << 17])
def test_frames_and_frame_event_idx(tmp_path, chunk_events):
    # small chunks: late frames are resolved from events already flushed to the file
    ev = make_stream(30_000, seed=9, t0=0, span=90_000)
    # frames at event times too, so "t <= frame time" differs from "t < frame time"
    early = int(ev["t"][np.searchsorted(ev["t"], 10_000)])
    mid = int(ev["t"][np.searchsorted(ev["t"], 45_000)])
    frame_ts = [0, early, early, mid, 89_000, 200_000]
    path = tmp_path / "f.h5"
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8) for _ in frame_ts]
    with EventWriter(path, SIZE, chunk_events=chunk_events) as w:
        # the first two frames are added late (after later events), the rest interleaved
        w.write(ev[ev["t"] <= 20_000])
        w.add_frame(frames[0], frame_ts[0])
        w.add_frame(frames[1], frame_ts[1])
        w.add_frame(frames[2], frame_ts[2])
        w.write(ev[(ev["t"] > 20_000) & (ev["t"] <= mid)])
        w.add_frame(frames[3], frame_ts[3])
        w.write(ev[ev["t"] > mid])
        w.add_frame(frames[4], frame_ts[4])
        w.add_frame(frames[5], frame_ts[5])
        with pytest.raises(ParameterError, match="time order"):
            w.add_frame(frames[0], 5)
        with pytest.raises(ParameterError, match="shape"):
            w.add_frame(np.zeros((4, 4), np.uint8), 300_000)
    with EventReader(path) as r:
        assert r.num_frames == len(frame_ts)
        assert r.frame_ts_us.tolist() == frame_ts
        expected = [int(np.count_nonzero(ev["t"] <= ft)) for ft in frame_ts]
        assert r.frame_event_idx.tolist() == expected
        for i, fr in enumerate(frames):
            assert np.array_equal(r.read_frame(i), fr)
        with pytest.raises(ParameterError):
            r.read_frame(len(frames))


def test_frame_index_counts_events_at_the_frame_time_from_later_packets(tmp_path):
    path = tmp_path / "tie.h5"
    ev = np.zeros(4, dtype=EVENT_DTYPE)
    ev["t"] = [10, 20, 20, 30]
    with EventWriter(path, SIZE) as w:
        w.write(ev[:2])
        w.add_frame(np.zeros((2, 2), np.uint8), 20)
        w.write(ev[2:])
    with EventReader(path) as r:
        assert r.frame_event_idx.tolist() == [3]


@pytest.mark.parametrize(
    ("packets", "match"),
    [
        ([[(1, 1, 10, 1), (2, 2, 5, 0)]], r"event 1 has t = 5 us < t = 10 us"),
        ([[(1, 1, 10, 1)], [(2, 2, 9, 0)]], r"across packets: event 1 has t = 9"),
        ([[(1, 1, 10, 1), (64, 2, 11, 0)]], r"event 1 has x = 64.*0 <= x < 64"),
        ([[(1, 1, 10, 1)], [(1, 48, 11, 0)]], r"event 1 has y = 48.*0 <= y < 48"),
        ([[(1, 1, 10, 1), (-1, 2, 11, 0)]], r"event 1 has x = -1"),
        ([[(1, 1, 10, 1), (1, 2, 11, -1)]], r"event 1 has p = -1; expected 0 or 1.*normalize"),
    ],
)
def test_writer_rejects_bad_events_and_leaves_nothing(tmp_path, packets, match):
    path = tmp_path / "bad.h5"
    with pytest.raises(InvalidEventsError, match=match):
        with EventWriter(path, SIZE) as w:
            for rows in packets:
                w.write(np.array(rows, dtype=EVENT_DTYPE))
    assert leftovers(tmp_path) == []


def test_writer_refuses_existing_output_without_force(tmp_path, small_events):
    path = tmp_path / "out.h5"
    path.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="force"):
        EventWriter(path, SIZE)
    assert path.read_bytes() == b"keep me"
    write_events(path, small_events, SIZE, force=True)
    assert digest(open_events(path).read()) == digest(small_events)
    assert leftovers(tmp_path) == ["out.h5"]


def test_exception_inside_with_block_removes_temp_and_keeps_old_file(tmp_path, small_events):
    path = tmp_path / "out.h5"
    write_events(path, small_events[:10], SIZE)
    with pytest.raises(RuntimeError):
        with EventWriter(path, SIZE, force=True) as w:
            w.write(small_events)
            raise RuntimeError("simulated crash")
    assert leftovers(tmp_path) == ["out.h5"]
    assert len(open_events(path)) == 10
    with pytest.raises(EventFileError, match="closed"):
        w.write(small_events)


def test_empty_stream_and_explicit_t_offset(tmp_path, small_events):
    path = tmp_path / "empty.h5"
    with EventWriter(path, SIZE) as w:
        w.write(np.zeros(0, dtype=EVENT_DTYPE))
    with EventReader(path) as r:
        assert len(r) == 0 and r.duration_us == 0
        assert r.read().dtype == EVENT_DTYPE and len(r.read(0, 10)) == 0
        assert list(r.iter_windows(1000)) == []
    path2 = tmp_path / "off.h5"
    with EventWriter(path2, SIZE, t_offset_us=0) as w:
        w.write(small_events)
        assert w.t_offset_us == 0
    with h5py.File(path2) as f:
        assert int(f["t_offset"][()]) == 0
        assert np.array_equal(f["events/t"][()], small_events["t"])
    with pytest.raises(InvalidEventsError, match="before t_offset_us"):
        with EventWriter(tmp_path / "neg.h5", SIZE, t_offset_us=10**9) as w:
            w.write(small_events)
    assert not (tmp_path / "neg.h5").exists()


def test_writer_memory_is_flat_in_stream_length(tmp_path):
    """Peak traced memory while streaming 10x more packets stays the same."""

    def stream_peak(n_packets: int) -> int:
        packet = make_stream(20_000, seed=2, t0=0, span=20_000)
        tracemalloc.start()
        with EventWriter(tmp_path / f"m{n_packets}.h5", SIZE, chunk_events=4096) as w:
            for k in range(n_packets):
                packet["t"] += 20_000 if k else 0
                w.write(packet)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    short, long = stream_peak(5), stream_peak(50)
    assert long < short * 1.3 + (256 << 10), (short, long)


def test_reader_reads_foreign_dsec_and_rvt_files(tmp_path):
    ev = make_stream(4000, seed=11)
    t_offset = int(ev["t"][0])
    dsec = tmp_path / "dsec_foreign.h5"
    with h5py.File(dsec, "w") as f:
        g = f.create_group("events")
        g["x"] = ev["x"].astype(np.uint16)
        g["y"] = ev["y"].astype(np.uint16)
        g["t"] = (ev["t"] - t_offset).astype(np.uint32)
        g["p"] = ev["p"].astype(np.uint8)
        f["t_offset"] = np.int64(t_offset)
        ms = np.arange((int(ev["t"][-1]) - t_offset) // 1000 + 1) * 1000
        f["ms_to_idx"] = np.searchsorted(g["t"][()], ms).astype(np.uint64)
    with open_events(dsec) as r:
        assert r.layout == "dsec"
        assert np.array_equal(r.read(), ev)
        assert r.sensor_size_inferred and r.sensor_size == (
            int(ev["x"].max()) + 1,
            int(ev["y"].max()) + 1,
        )
        s = t_offset + 123_456
        assert np.array_equal(r.read(s, s + 7_777), slice_time(ev, s, s + 7_777))
        assert np.array_equal(r.read(r.t_end_us - 10, None), slice_time(ev, r.t_end_us - 10))
    with open_events(dsec, sensor_size=(100, 100)) as r:
        assert r.sensor_size == (100, 100) and not r.sensor_size_inferred
    rvt = tmp_path / "rvt.h5"
    with h5py.File(rvt, "w") as f:
        g = f.create_group("events")
        g.create_dataset("x", data=ev["x"].astype(np.uint16), **hdf5plugin.Blosc(cname="zstd"))
        g["y"] = ev["y"].astype(np.uint16)
        g["t"] = ev["t"]
        g["p"] = ev["p"].astype(np.int8)
        g["width"], g["height"] = 64, 48
    with open_events(rvt) as r:
        assert r.sensor_size == SIZE
        assert any("ms_to_idx" in n for n in r.notes)
        s = int(ev["t"][1000])
        assert np.array_equal(r.read(s, s + 5000), slice_time(ev, s, s + 5000))


def test_truncated_and_corrupt_hdf5(tmp_path, small_events):
    good = tmp_path / "good.h5"
    write_events(good, small_events, SIZE)
    data = good.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(EventFileError, match="truncated or corrupt"):
        with open_events(cut) as r:
            r.read()
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"this is not hdf5 at all" * 10)
    with pytest.raises(EventFileError, match="truncated or corrupt"):
        open_events(garbage)
    header_only = tmp_path / "header.h5"
    header_only.write_bytes(data[:64])
    with pytest.raises(EventFileError, match="truncated or corrupt"):
        open_events(header_only)


def test_params_dataclass_and_extra_attributes(tmp_path, small_events):
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Params:
        threshold: float = 0.2
        sizes: tuple = (1, 2)

    path = tmp_path / "attrs.h5"
    with EventWriter(path, SIZE, params=Params(), source={"seed": np.int64(3)}) as w:
        w.write(small_events)
        w.set_attrs(camera="dvs", fps=30.0, window_us=[0, 10])
        with pytest.raises(ParameterError, match="reserved"):
            w.set_attrs(sensor_width=3)
    with EventReader(path) as r:
        assert r.params == {"threshold": 0.2, "sizes": [1, 2]}
        assert r.source == {"seed": 3}
        assert r.attrs["camera"] == "dvs" and r.attrs["fps"] == 30.0
        assert r.attrs["window_us"] == "[0, 10]"
    with pytest.raises(ParameterError, match="expected a dict"):
        EventWriter(tmp_path / "x.h5", SIZE, params=[1, 2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attrs.h5"]


def test_read_into_a_reused_buffer(tmp_path, small_events):
    path = tmp_path / "buf.h5"
    write_events(path, small_events, SIZE)
    buf = np.zeros(len(small_events), dtype=EVENT_DTYPE)
    with EventReader(path) as r:
        got = r.read(out=buf)
        assert np.shares_memory(got, buf) and np.array_equal(got, small_events)
        t0 = int(small_events["t"][100])
        part = r.read(t0, t0 + 10_000, out=buf)
        assert np.array_equal(part, slice_time(small_events, t0, t0 + 10_000))
        with pytest.raises(ParameterError, match="at least"):
            r.read_index(0, 10, out=np.zeros(5, EVENT_DTYPE))


@pytest.mark.parametrize("bad_size", [10, 9000])  # staged in the buffer / larger than it
def test_rejected_packet_leaves_the_writer_unchanged(tmp_path, bad_size):
    ev = make_stream(20_000, seed=4, t0=0, span=200_000)
    path = tmp_path / "atomic.h5"
    with EventWriter(path, SIZE, chunk_events=1024) as w:
        w.write(ev[:5000])
        bad = ev[5000 : 5000 + bad_size].copy()
        bad["y"][-1] = 48
        with pytest.raises(InvalidEventsError, match=rf"event {5000 + bad_size - 1} has y = 48"):
            w.write(bad)
        assert w.n_events == 5000
        w.write(ev[5000:])
    with EventReader(path) as r:
        assert digest(r.read()) == digest(ev)
        s = int(ev["t"][4000])
        assert np.array_equal(r.read(s, s + 20_000), slice_time(ev, s, s + 20_000))


def test_long_reads_in_steps_match(tmp_path, monkeypatch):
    """Reads longer than one block go block by block (whole chunks, or `_BLOCK_EVENTS` for
    unchunked columns)."""
    import eventsim.io.hdf5_reader as h5mod

    monkeypatch.setattr(h5mod, "_BLOCK_EVENTS", 1000)
    ev = make_stream(12_345, seed=12)
    path = tmp_path / "long.h5"
    write_packets(path, ev, chunk_events=1024)
    foreign = tmp_path / "u4.h5"
    t_offset = int(ev["t"][0]) - 7
    with h5py.File(foreign, "w") as f:
        for k, dtype in (("x", np.uint16), ("y", np.uint16), ("p", np.uint8)):
            f[f"events/{k}"] = ev[k].astype(dtype)
        f["events/t"] = (ev["t"] - t_offset).astype(np.uint32)
        f["t_offset"] = np.int64(t_offset)
    for p in (path, foreign):
        with EventReader(p, sensor_size=SIZE) as r:
            assert digest(r.read()) == digest(ev)
            assert np.array_equal(r.read_index(999, 5001), ev[999:5001])
            s = int(ev["t"][2000])
            assert np.array_equal(r.read(s, s + 150_000), slice_time(ev, s, s + 150_000))
            assert np.array_equal(r.read_index(10, 20), ev[10:20])
            cols = r.read_columns()
            assert [c.dtype for c in cols] == [EVENT_DTYPE[k] for k in "xytp"]
            assert all(np.array_equal(getattr(cols, k), ev[k]) for k in "xytp")
            win = r.read_columns(s, s + 150_000)
            want = slice_time(ev, s, s + 150_000)
            assert len(win) == want.size > 0
            assert all(np.array_equal(getattr(win, k), want[k]) for k in "xytp")
            assert len(r.read_index_columns(10, 5)) == 0
