"""Round 10 of the HDF5 reader (`eventsim.io.hdf5_reader`): reads by time that take the times
just outside their window from reads they make anyway, counted as HDF5 reads of events/t;
the marks of a lazily read ms_to_idx; an ms_to_idx of another shape than 1-D."""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest
import test_reads_round9_span as span
from test_reads_round9_edges_cost import CHUNK, N, _foreign

import eventsim.io.hdf5_reader as hr
from eventsim.errors import EventFileError
from eventsim.io import EventReader
from eventsim.io.hdf5_format import FORMAT_NAME


class _CountedId:
    """A dataset's low-level id whose reads are recorded as (first, stop) of the file's
    selection: the reader reads events/t through it."""

    def __init__(self, real, reads: list[tuple[int, int]]) -> None:
        self._real = real
        self._reads = reads

    def read(self, mspace, fspace, arr, *args, **kwargs):
        lo, hi = fspace.get_select_bounds()
        self._reads.append((lo[0], hi[0] + 1))
        return self._real.read(mspace, fspace, arr, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)


class _CountedT:
    def __init__(self, ds: h5py.Dataset, reads: list[tuple[int, int]]) -> None:
        self._ds = ds
        self.id = _CountedId(ds.id, reads)

    def __getitem__(self, key):
        return self._ds[key]

    def __getattr__(self, name):
        return getattr(self._ds, name)


def _count_t_reads(r: EventReader) -> list[tuple[int, int]]:
    """The low-level reads of events/t that ``r`` makes from now on (its searches through
    h5py's indexing, ``t[lo:hi]``, are not among them)."""
    reads: list[tuple[int, int]] = []
    r._t = _CountedT(r._t, reads)
    return reads


# -- the times beside a window, from the reads of the window ---------------------------------


def test_read_columns_of_a_window_inside_one_chunk_reads_t_once(tmp_path):
    t = np.arange(N, dtype=np.int64) * 10 + 5  # event i at 10 i + 5
    path = tmp_path / "foreign.h5"
    ev = _foreign(path, t)
    i, j = 3 * CHUNK + 20, 3 * CHUNK + 60  # events i:j, all inside the fourth chunk
    with EventReader(path) as r:
        reads = _count_t_reads(r)
        cols = r.read_columns(10 * i, 10 * j)
        # t[i - 1], the window's times and t[j] in one read (were three)
        assert reads == [(i - 1, j + 1)]
        for name in "xytp":
            np.testing.assert_array_equal(getattr(cols, name), ev[name][i:j])
        reads.clear()
        np.testing.assert_array_equal(r.read(10 * i, 10 * j), ev[i:j])
        assert reads == [(i - 1, j + 1)]


def test_an_empty_window_reads_the_times_either_side_in_one_read(tmp_path):
    t = np.arange(N, dtype=np.int64) * 10 + 5
    path = tmp_path / "foreign.h5"
    ev = _foreign(path, t)
    for i in (5, CHUNK):  # inside a chunk, and between two chunks
        with EventReader(path) as r:
            reads = _count_t_reads(r)
            # between events i - 1 (10 i - 5) and i (10 i + 5)
            assert len(r.read(10 * i - 3, 10 * i + 3)) == 0
            assert len(r.read_columns(10 * i - 3, 10 * i + 3).t) == 0
            assert reads == [(i - 1, i + 1)] * 2
    assert ev["t"][i - 1] < 10 * i - 3 and ev["t"][i] >= 10 * i + 3


@pytest.mark.parametrize("small_blocks", [False, True])
def test_read_columns_at_chunk_and_block_edges_reads_as_a_mask(tmp_path, monkeypatch, small_blocks):
    t = np.arange(N, dtype=np.int64) * 10 + 5
    path = tmp_path / "foreign.h5"
    ev = _foreign(path, t)
    edges = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 5 * CHUNK - 1, N - 1, N]
    if small_blocks:
        # blocks of a few chunks: a window spans several
        monkeypatch.setattr(hr, "_BLOCK_EVENTS", 4 * CHUNK)
    with EventReader(path) as r:
        notes = list(r.notes)
        for i in edges:
            for j in [*edges, i + 3, i + CHUNK - 1, i + 4 * CHUNK + 7]:
                if not i <= j <= N:
                    continue
                cols = r.read_columns(10 * i, 10 * j)
                for name in "xytp":
                    np.testing.assert_array_equal(
                        getattr(cols, name), ev[name][i:j], err_msg=f"{name} {i}:{j}"
                    )
                assert cols.t.flags.owndata and cols.t.dtype == np.int64
                assert r.notes == notes  # no index found wrong


@pytest.mark.parametrize("dtype", [np.int64, np.uint32])
@pytest.mark.parametrize("offset", [0, 1_000_000])
def test_read_columns_with_an_offset_or_a_narrow_t_gives_the_same_times(tmp_path, dtype, offset):
    t = np.arange(N, dtype=np.int64) * 10 + 5
    path = tmp_path / "foreign.h5"
    ev = _foreign(path, t.astype(dtype))
    with h5py.File(path, "r+") as f:
        f["t_offset"] = np.int64(offset)
    with EventReader(path) as r:
        for i, j in [(3, 40), (CHUNK + 7, 3 * CHUNK + 9), (CHUNK, 2 * CHUNK - 1), (N - 9, N)]:
            cols = r.read_columns(offset + 10 * i, offset + 10 * j)
            np.testing.assert_array_equal(cols.t, ev["t"][i:j] + offset, err_msg=f"{i}:{j}")


@pytest.mark.parametrize("where", ["before", "after", "inside"])
def test_read_columns_still_finds_an_edited_time_beside_its_window(tmp_path, where):
    t = np.arange(N, dtype=np.int64) * 10 + 5
    path = tmp_path / "foreign.h5"
    _foreign(path, t)
    i, j = 3 * CHUNK + 20, 3 * CHUNK + 60
    # a step down at k: t[k - 1] above t[k] (10 k + 5)
    k, edited, value = {
        "before": (i, i - 1, 10 * i + 7),
        "after": (j, j, 10 * j - 7),
        "inside": (i + 7, i + 6, 10 * (i + 7) + 7),
    }[where]
    with h5py.File(path, "r+") as f:
        f["events/t"][edited] = value
    with EventReader(path) as r, pytest.raises(EventFileError) as info:
        r.read_columns(10 * i, 10 * j)
    msg = str(info.value)
    assert f"events/t[{k}] = " in msg and f"after events/t[{k - 1}] = " in msg, msg


def _compressed(path, t: np.ndarray) -> None:
    """Another tool's file with gzip chunks of CHUNK events: a damaged chunk fails to decode."""
    rng = np.random.default_rng(4)
    with h5py.File(path, "w") as f:
        for name, data in (
            ("x", rng.integers(0, 64, t.shape[0]).astype(np.uint16)),
            ("y", rng.integers(0, 48, t.shape[0]).astype(np.uint16)),
            ("t", t),
            ("p", rng.integers(0, 2, t.shape[0]).astype(np.uint8)),
        ):
            f.create_dataset(f"events/{name}", data=data, chunks=(CHUNK,), compression="gzip")
        f["ms_to_idx"] = np.searchsorted(t, np.arange(0, t.max() // 1000 + 2) * 1000, "left")


def _damage(path, chunks: list[tuple[str, int]]) -> None:
    with h5py.File(path, "r") as f:
        infos = [f[f"events/{name}"].id.get_chunk_info(c) for name, c in chunks]
    raw = bytearray(path.read_bytes())
    for info in infos:
        raw[info.byte_offset : info.byte_offset + info.size] = b"\xff" * info.size
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    ("window", "damaged", "blamed"),
    [
        # events 800:1000 lie in the fourth chunk (768:1024), as t[799] does: read with them
        ((800, 1000), [("t", 3)], "events/t"),
        ((800, 1000), [("p", 3), ("t", 3)], "events/t"),  # t[799] read first, as before
        ((800, 1000), [("p", 3)], "events 800:1000"),
        # t[1100] lies in the fifth chunk with the window's last events
        ((800, 1100), [("t", 4)], "events 800:1100"),
        ((800, 1100), [("y", 3), ("t", 4)], "events 800:1100"),
        # empty windows: the times either side read together
        ((800, 800), [("t", 3)], "events/t"),
        ((1100, 1100), [("t", 4)], "events/t"),
        ((1000, 1000), [("p", 3), ("t", 3)], "events/t"),
    ],
)
@pytest.mark.parametrize("columns", [False, True])
def test_a_damaged_chunk_beside_a_window_is_blamed_as_before(
    tmp_path, window, damaged, blamed, columns
):
    path = tmp_path / "damaged.h5"
    _compressed(path, np.arange(N, dtype=np.int64) * 10 + 5)
    with h5py.File(path, "r+") as f:
        # read as ours: the index is trusted, so no search decodes t before the read does
        f.attrs["format"] = FORMAT_NAME
    _damage(path, damaged)
    i, j = window
    with EventReader(path, sensor_size=(64, 48)) as r, pytest.raises(EventFileError) as info:
        (r.read_columns if columns else r.read)(10 * i, 10 * j)
    msg = str(info.value)
    assert msg.startswith(f"cannot read {blamed} from "), msg
    assert "truncated or corrupt" in msg, msg


@pytest.mark.parametrize(("t_type", "xy_type"), [(">i8", ">u2"), (">u4", ">i4"), ("<i8", ">i2")])
def test_big_endian_columns_are_read_as_their_values(tmp_path, t_type, xy_type):
    # decoded into arrays of the file's byte order, then viewed as native event fields: a
    # time 5 read as 360287970189639680
    t = np.arange(N, dtype=np.int64) * 10 + 5
    path = tmp_path / "big_endian.h5"
    rng = np.random.default_rng(6)
    x, y = rng.integers(0, 64, N), rng.integers(0, 48, N)
    with h5py.File(path, "w") as f:
        for name, data in (
            ("x", x.astype(xy_type)),
            ("y", y.astype(xy_type)),
            ("t", t.astype(t_type)),
        ):
            f.create_dataset(f"events/{name}", data=data, chunks=(CHUNK,))
        f["events/p"] = (t // 10 % 2).astype(np.uint8)
        f["t_offset"] = np.int64(1000)
        f["ms_to_idx"] = np.searchsorted(t, np.arange(0, t.max() // 1000 + 2) * 1000, "left")
    with EventReader(path, sensor_size=(64, 48)) as r:
        assert r.t_start_us == 1005
        for i, j in [(0, N), (3 * CHUNK + 20, 3 * CHUNK + 60), (CHUNK - 1, 4 * CHUNK + 1)]:
            records = (r.read(1000 + 10 * i, 1000 + 10 * j), r.read_index(i, j))
            columns = (r.read_columns(1000 + 10 * i, 1000 + 10 * j), r.read_index_columns(i, j))
            for got in (*records, *columns):
                for name, want in (("t", t + 1000), ("x", x), ("y", y)):
                    values = got[name] if isinstance(got, np.ndarray) else getattr(got, name)
                    np.testing.assert_array_equal(values, want[i:j], err_msg=f"{name} {i}:{j}")


def _random_foreign(path, rng: np.random.Generator, n: int) -> tuple[np.ndarray, int]:
    """Another tool's file of random shape: chunks down to one event, times repeated across
    chunk edges, big-endian or narrow columns, an ms_to_idx of 1-D, column or row shape or
    none. Returns the times as the file holds them and the chunk length of t."""
    t = np.cumsum(rng.choice([0, 0, 1, 999, 1000, 1001, 2500], n)).astype(np.int64) + 995
    chunk = int(rng.choice([1, 3, 7, 64]))
    with h5py.File(path, "w") as f:
        kw = {"chunks": (min(chunk, n),)} if n else {"chunks": (4,), "maxshape": (None,)}
        f.create_dataset("events/t", data=t.astype(str(rng.choice(["<i8", ">i8", ">u4"]))), **kw)
        for name in "xyp":
            dtype = ">u2" if name != "p" else "u1"
            f.create_dataset(f"events/{name}", data=(t % 7).astype(dtype), **kw)
        if n and rng.random() < 0.8:
            ms = np.searchsorted(t, np.arange(t[-1] // 1000 + 2) * 1000, "left")
            f["ms_to_idx"] = [ms, ms[:, None], ms[None, :]][int(rng.integers(0, 3))]
    return t, chunk


@pytest.mark.parametrize("seed", range(8))
def test_reads_by_time_agree_with_a_search_of_all_times(tmp_path, monkeypatch, seed):
    # the windows the reads' edge handling treats apart: ends on and beside chunk and block
    # edges, empty windows, the file's ends; blocks of a few chunks, an index read on demand
    rng = np.random.default_rng(seed)
    monkeypatch.setattr(hr, "_BLOCK_EVENTS", int(rng.choice([4, 16, 1 << 17])))
    monkeypatch.setattr(hr, "_WHOLE_INDEX_MAX", int(rng.choice([8, 1 << 22])))
    monkeypatch.setattr(hr, "_LAZY_CHECK", 3)
    path = tmp_path / "random.h5"
    # three files of 0, 1, 2 events, the others of hundreds
    t, chunk = _random_foreign(path, rng, seed if seed < 3 else int(rng.integers(100, 700)))
    n = t.shape[0]
    with EventReader(path, sensor_size=(8, 8)) as r:
        edges = {0, 1, n - 1, n}
        for step in (chunk, r._block):
            edges.update(e + d for e in range(0, n + 1, step) for d in (-1, 0, 1))
        times = sorted({int(t[i]) + d for i in edges if 0 <= i < n for d in (-1, 0, 1)} | {0})
        for _ in range(40):
            lo, hi = sorted(rng.choice(times, 2).tolist())
            a, b = np.searchsorted(t, [lo, hi], "left").tolist()
            got, cols = r.read(lo, hi), r.read_columns(lo, hi)
            np.testing.assert_array_equal(got["t"], t[a:b], err_msg=f"{lo}..{hi}")
            np.testing.assert_array_equal(got["x"], t[a:b] % 7, err_msg=f"{lo}..{hi}")
            np.testing.assert_array_equal(cols.t, t[a:b], err_msg=f"{lo}..{hi} columns")
            np.testing.assert_array_equal(cols.y, t[a:b] % 7, err_msg=f"{lo}..{hi} columns")
        assert not any("does not match" in note or "not sorted" in note for note in r.notes)


# -- the marks of a lazily read ms_to_idx -------------------------------------------------------


def _marks_peak(marks: hr._LazyMarks, k0: int, k1: int) -> int:
    tracemalloc.start()
    try:
        marks.block(k0, k1)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_lazy_marks_block_looks_only_at_the_marks_of_its_range():
    # as after many reads: up to the most a `_LazyMarks` remembers, far from the range asked
    marks = hr._LazyMarks([(0, 10)])
    for k in range(1 << 30, (1 << 30) + hr._LAZY_MARKS_MAX - 1):
        marks[k] = False
    # the flags themselves: 4096 bytes; a copy of the marks held was 8 bytes a mark (512 KiB)
    assert _marks_peak(marks, 1 << 20, (1 << 20) + 4096) < 64 * 1024


def test_lazy_marks_agree_with_an_array_of_flags():
    rng = np.random.default_rng(7)
    size = 50_000
    ranges = [(0, 300), (49_000, 49_900)]
    marks = hr._LazyMarks(list(ranges))
    want = np.ones(size, np.bool_)
    for r0, r1 in ranges:
        want[r0:r1] = False
    for k in rng.integers(0, size, 3000).tolist():
        marks[k] = False
        want[k] = False
    for k in rng.integers(0, size, 200).tolist():
        marks[k] = True  # marked unchecked again (those of the ranges stay checked)
        want[k] = not any(r0 <= k < r1 for r0, r1 in ranges)
    for k0, k1 in [(0, size), (1, 2), (4095, 4097), (8191, 12_289), (49_500, size), (7, 7)]:
        np.testing.assert_array_equal(marks.block(k0, k1), want[k0:k1], err_msg=f"{k0}:{k1}")
    assert [marks[k] for k in range(size)] == want.tolist()


def test_lazy_marks_forget_all_past_their_limit(monkeypatch):
    monkeypatch.setattr(hr, "_LAZY_MARKS_MAX", 5)
    marks = hr._LazyMarks([])
    for k in (3, 3, 9000, 4, 70_000, 5):  # a mark set twice counts once
        marks[k] = False
    assert [marks[k] for k in (3, 4, 5, 9000, 70_000, 6)] == [False] * 5 + [True]
    marks[6] = False  # the sixth: the others are forgotten
    assert [marks[k] for k in (3, 4, 5, 9000, 70_000, 6)] == [True] * 5 + [False]
    assert marks.block(0, 10).tolist() == [True] * 6 + [False] + [True] * 3


# -- an ms_to_idx of another shape, or in huge compressed chunks -----------------------------


def _file_with_index(path, ev: np.ndarray, ms: np.ndarray, *, ours: bool = False, **kw) -> None:
    """A file of ``ev`` whose ms_to_idx is ``ms`` as given (any shape), stored with ``kw``."""
    with h5py.File(path, "w") as f:
        for c in "xytp":
            f.create_dataset(f"events/{c}", data=ev[c], chunks=(512,))
        f.create_dataset("ms_to_idx", data=ms, **kw)
        if ours:
            f.attrs["format"] = FORMAT_NAME


def _right_index(ev: np.ndarray) -> np.ndarray:
    t = ev["t"]
    return np.searchsorted(t, np.arange(t[-1] // span.MS + 2) * span.MS).astype(np.uint64)


def _check_reads(path, ev: np.ndarray) -> list[str]:
    with EventReader(path, sensor_size=(8, 8)) as r:
        for a, b in span._windows(ev["t"], 120, seed=11):
            np.testing.assert_array_equal(r.read(a, b), span._want(ev, a, b), err_msg=f"{a}..{b}")
            np.testing.assert_array_equal(r.read_columns(a, b).t, span._want(ev, a, b)["t"])
        r.check_ms_index()
        return list(r.notes)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("ours", [False, True])
@pytest.mark.parametrize("vector", ["column", "row"])
def test_an_index_stored_as_a_column_or_row_vector_is_read_as_1d(
    tmp_path, monkeypatch, lazy, ours, vector
):
    ev = span._bursts(2, n_bursts=10)
    ms = _right_index(ev)
    ms = ms[:, None] if vector == "column" else ms[None, :]
    path = tmp_path / "vector.h5"
    _file_with_index(path, ev, ms, ours=ours, chunks=(64, 1) if vector == "column" else (1, 64))
    if lazy:
        monkeypatch.setattr(hr, "_WHOLE_INDEX_MAX", 64)
        monkeypatch.setattr(hr, "_LAZY_CHECK", 5)
    with EventReader(path, sensor_size=(8, 8)) as r:
        assert type(r._ms) is (hr._LazyIndex if lazy else np.ndarray)
        assert r._ms.shape == (ms.size,)
    # used, and found right: no note (a foreign one was rebuilt, 'does not match')
    assert _check_reads(path, ev) == []


def test_an_index_of_two_columns_is_not_read_but_named(tmp_path):
    ev = span._bursts(3, n_bursts=10)
    right = _right_index(ev)
    ms = np.stack([np.arange(right.size, dtype=np.uint64), right], axis=1)  # (ms, index) pairs
    path = tmp_path / "pairs.h5"
    _file_with_index(path, ev, ms, chunks=(1024, 2), compression="gzip")
    # damaged: opening read it whole (to find it of no use), and so failed
    _damage_dataset(path, "ms_to_idx")
    notes = _check_reads(path, ev)
    assert notes == [
        f"the file's ms_to_idx has shape ({right.size}, 2); expected a 1-D index (one entry per "
        "millisecond); built the index in memory"
    ]


@pytest.mark.parametrize("ours", [False, True])
def test_an_index_without_a_dataspace_is_named_not_a_type_error(tmp_path, ours):
    # h5py.Empty: no shape at all (opening raised a bare TypeError)
    ev = span._bursts(5, n_bursts=10)
    path = tmp_path / "null.h5"
    _file_with_index(path, ev, h5py.Empty("<i8"), ours=ours)
    assert _check_reads(path, ev) == [
        "the file's ms_to_idx is empty (no dataspace); expected a 1-D index; built the index "
        "in memory"
    ]


@pytest.mark.parametrize("ours", [False, True])
@pytest.mark.parametrize("kind", ["strings", "records"])
def test_an_index_of_strings_or_records_is_named_not_blamed_on_damage(tmp_path, ours, kind):
    # strings: 'truncated or corrupt' (their int64 cast failed); records: a bare TypeError
    ev = span._bursts(6, n_bursts=10)
    right = _right_index(ev)
    if kind == "strings":
        ms = right.astype("S8")
    else:
        ms = np.zeros(right.size, [("ms", "<i8"), ("idx", "<u8")])
        ms["ms"], ms["idx"] = np.arange(right.size), right
    path = tmp_path / "typed.h5"
    _file_with_index(path, ev, ms, ours=ours)
    assert _check_reads(path, ev) == [
        f"the file's ms_to_idx holds {ms.dtype} values; expected event indices; built the "
        "index in memory"
    ]


@pytest.mark.parametrize("compressed", [False, True])
def test_a_long_index_in_one_compressed_chunk_is_not_read(tmp_path, monkeypatch, compressed):
    ev = span._bursts(4, n_bursts=10)
    ms = _right_index(ev)
    path = tmp_path / "one_chunk.h5"
    kw = {"compression": "gzip"} if compressed else {}
    _file_with_index(path, ev, ms, chunks=(ms.size,), **kw)
    if compressed:
        # damaged: every look-up decoded the whole chunk, so opening failed
        _damage_dataset(path, "ms_to_idx")
    # the index is "long", and its chunk holds more entries than a whole load
    monkeypatch.setattr(hr, "_WHOLE_INDEX_MAX", 64)
    monkeypatch.setattr(hr, "_INDEX_CHUNK_MAX", 64)
    with EventReader(path, sensor_size=(8, 8)) as r:
        # uncompressed, HDF5 reads the entries wanted from a chunk too big for its cache
        assert type(r._ms) is (hr._SparseIndex if compressed else hr._LazyIndex)
    notes = _check_reads(path, ev)
    assert notes == (
        [
            f"the file's ms_to_idx ({ms.size} entries) is stored compressed in chunks of "
            f"{ms.size} entries, which HDF5 decodes whole for each entry read; built the "
            "index in memory"
        ]
        if compressed
        else []
    )


def _damage_dataset(path, name: str) -> None:
    with h5py.File(path, "r") as f:
        ds = f[name]
        infos = [ds.id.get_chunk_info(i) for i in range(ds.id.get_num_chunks())]
    raw = bytearray(path.read_bytes())
    for info in infos:
        raw[info.byte_offset : info.byte_offset + info.size] = b"\xff" * info.size
    path.write_bytes(bytes(raw))
