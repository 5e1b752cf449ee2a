"""EventReader's block-wise record reads and columnar reads (issue 13): the same events on
every path (numpy or numba packing, block edges, windows, t offsets, foreign column types)."""

import h5py
import numpy as np
import pytest

import eventsim.io.hdf5_reader as h5mod
from eventsim.events import EVENT_DTYPE, slice_time
from eventsim.io import EventReader, EventWriter

SIZE = (640, 480)
CHUNK = 1024


def make_stream(n: int, seed: int, t0: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["x"] = rng.integers(0, SIZE[0], n)
    ev["y"] = rng.integers(0, SIZE[1], n)
    ev["t"] = t0 + np.sort(rng.integers(0, 3 * n, n))
    ev["p"] = rng.integers(0, 2, n)
    return ev


@pytest.fixture(params=["numpy", "numba"])
def packer(request, monkeypatch):
    """Record reads through numpy field copies, or through the numba kernel from the first
    event on (where numba is installed)."""
    if request.param == "numba":
        pytest.importorskip("numba")
        monkeypatch.setattr(h5mod, "_KERNEL_AFTER_EVENTS", 0)
    else:
        monkeypatch.setattr(h5mod, "_USE_NUMBA", False)
    return request.param


@pytest.fixture(params=[0, 1_700_000_000_123], ids=["t_offset_0", "t_offset_large"])
def recording(request, tmp_path):
    """Events in chunks of 1024 (many blocks), with /t_offset 0 or a large one."""
    ev = make_stream(20_000, seed=3, t0=request.param + 11)
    path = tmp_path / "ev.h5"
    with EventWriter(path, SIZE, chunk_events=CHUNK, t_offset_us=request.param) as w:
        for a in range(0, len(ev), 3001):
            w.write(ev[a : a + 3001])
    return path, ev


def test_column_handles_have_their_own_small_cache(recording):
    path, _ = recording
    with EventReader(path) as r:
        for ds in (r._x, r._y, r._t, r._p):
            _, nbytes, w0 = ds.id.get_access_plist().get_chunk_cache()
            # a shared handle would show the file's 16 MiB cache here
            assert nbytes == (r._block + CHUNK) * ds.dtype.itemsize and w0 == 1.0


def test_full_and_index_reads_across_block_edges(recording, packer, monkeypatch):
    monkeypatch.setattr(h5mod, "_BLOCK_EVENTS", 3 * CHUNK)
    path, ev = recording
    with EventReader(path) as r:
        assert r._block == 3 * CHUNK
        assert np.array_equal(r.read(), ev)
        edges = [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK - 1, 3 * CHUNK, 3 * CHUNK + 1, 9 * CHUNK]
        for a in edges:
            for width in (1, 2, CHUNK, 3 * CHUNK, 3 * CHUNK + 2, 7 * CHUNK + 5, len(ev)):
                got = r.read_index(a, a + width)
                assert np.array_equal(got, ev[a : a + width]), (a, width)
                cols = r.read_index_columns(a, a + width)
                want = ev[a : a + width]
                assert all(np.array_equal(getattr(cols, k), want[k]) for k in "xytp")


def test_windows_partial_reads_and_reused_buffers(recording, packer):
    path, ev = recording
    rng = np.random.default_rng(1)
    buf = np.zeros(len(ev), EVENT_DTYPE)
    with EventReader(path) as r:
        for s in rng.integers(r.t_start_us - 100, r.t_end_us, 40):
            for width in (1, 500, 5_000, 50_000):
                want = slice_time(ev, int(s), int(s) + width)
                assert np.array_equal(r.read(int(s), int(s) + width), want)
                assert np.array_equal(r.read(int(s), int(s) + width, out=buf), want)
                cols = r.read_columns(int(s), int(s) + width)
                assert all(np.array_equal(getattr(cols, k), want[k]) for k in "xytp")
        assert np.array_equal(np.concatenate(list(r.iter_windows(777))), ev)


def test_foreign_column_types_and_unchunked_columns(tmp_path, packer, monkeypatch):
    """Types other than the event dtypes (int32 x, uint32 t, bool p) are cast; unchunked
    columns are read in blocks of `_BLOCK_EVENTS`."""
    monkeypatch.setattr(h5mod, "_BLOCK_EVENTS", 1000)
    ev = make_stream(12_000, seed=9, t0=5_000_000)
    t_offset = int(ev["t"][0]) - 3
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f["events/x"] = ev["x"].astype(np.int32)
        f["events/y"] = ev["y"].astype(np.uint16)
        f.create_dataset("events/t", data=(ev["t"] - t_offset).astype(np.uint32), chunks=(700,))
        f["events/p"] = ev["p"].astype(bool)
        f["t_offset"] = np.int64(t_offset)
    with EventReader(path, sensor_size=SIZE) as r:
        assert r._block == 700
        assert np.array_equal(r.read(), ev)
        assert np.array_equal(r.read_index(699, 4321), ev[699:4321])
        cols = r.read_index_columns(1, 11_999)
        assert [c.dtype for c in cols] == [EVENT_DTYPE[k] for k in "xytp"]
        assert all(np.array_equal(getattr(cols, k), ev[k][1:11_999]) for k in "xytp")


def test_kernel_loads_only_when_it_pays(monkeypatch):
    pytest.importorskip("numba")
    import sys

    monkeypatch.setattr(h5mod, "_records_read", 0)
    monkeypatch.setattr(h5mod, "_KERNEL_AFTER_EVENTS", 1000)
    monkeypatch.delitem(sys.modules, "eventsim.io._pack_kernel", raising=False)
    monkeypatch.delitem(sys.modules, "eventsim.simulator._kernels", raising=False)
    assert h5mod._kernel_for(999) is None
    assert h5mod._kernel_for(1) is not None


def test_prefault_maps_pages_without_touching_their_contents():
    arr = np.arange(6 << 20, dtype=np.int64)  # 48 MiB, already written
    thread = h5mod._prefault([arr])
    if thread is not None:  # Linux
        thread.join()
    assert np.array_equal(arr, np.arange(6 << 20, dtype=np.int64))
    assert h5mod._prefault([np.empty(16, np.int64)]) is None  # small arrays: no thread


def test_reads_into_prefaulted_arrays_give_the_same_events(recording, packer, monkeypatch):
    path, ev = recording
    started = []

    def spy(arrays):
        thread = prefault(arrays)
        started.append(thread)
        return thread

    prefault = h5mod._prefault
    monkeypatch.setattr(h5mod, "_PREFAULT_MIN_BYTES", 0)
    monkeypatch.setattr(h5mod, "_prefault", spy)
    with EventReader(path) as r:
        assert np.array_equal(r.read(), ev)
        cols = r.read_columns()
    for name in "xytp":
        assert np.array_equal(getattr(cols, name), ev[name])
    assert len(started) == 2
    assert all(t is not None for t in started) or not h5mod.sys.platform.startswith("linux")
