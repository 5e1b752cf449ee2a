"""Round 10: `EventReader` refuses events/p values outside the convention it took for the
column (-1/+1, told by a -1 and no 0 in the first block holding either, or 0/1) at the read
that meets them, naming an index of each convention, where it read them silently wrong: a 0
in a -1/+1 file was kept as 0 (OFF), a -1 in a 0/1 file was passed on as -1. Values int8
wraps (256 in a uint16 column, cast to int8 as 0) are refused naming them; other values (a 2)
are still kept for the checks to report."""

from __future__ import annotations

import re

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import pytest

import eventsim.io.hdf5_reader as h5mod
from eventsim.errors import EventFileError, InvalidEventsError
from eventsim.io import open_events

BLOCK = 1 << 17  # the reader's block for columns of small chunks (`_block_events`)
N = BLOCK + 3000


def _file(path, p, chunks=4096):
    n = p.shape[0]
    with h5py.File(path, "w") as f:
        f["events/x"] = np.arange(n, dtype=np.uint16) % 64
        f["events/y"] = np.arange(n, dtype=np.uint16) % 48
        f["events/t"] = np.arange(n, dtype=np.int64) * 3
        f.create_dataset("events/p", data=p, chunks=(min(n, chunks),))
    return path


def _every_read(r, t_of):
    """Each way of reading the events ``t_of`` spans."""
    s, e = t_of
    return {
        "read": lambda: r.read(),
        "read_columns": lambda: r.read_columns(),
        "read window": lambda: r.read(s, e),
        "read_columns window": lambda: r.read_columns(s, e),
        "iter_windows": lambda: list(r.iter_windows(10_000)),
        "iter_chunks": lambda: list(r.iter_chunks(5000)),
    }


@pytest.mark.parametrize("packer", ["numpy", "numba"])
def test_zero_in_a_later_block_of_a_signed_file_is_refused_as_a_mix(tmp_path, packer, monkeypatch):
    if packer == "numba":
        import numba  # noqa: F401  (the sim extra, installed for the tests)

        monkeypatch.setattr(h5mod, "_KERNEL_AFTER_EVENTS", 0)
    else:
        monkeypatch.setattr(h5mod, "_USE_NUMBA", False)
    p = np.where(np.arange(N) % 3 == 0, -1, 1).astype(np.int8)  # -1 at 0, 3, 6, ...
    z = BLOCK + 500
    p[z] = 0
    path = _file(tmp_path / "signed_then_0.h5", p)
    # a -1 of the block read is named where it holds one, else the one the column was told by
    mix = rf"polarity mixes the -1/\+1 and 0/1 conventions \(p\[(\d+)\] = -1, p\[{z}\] = 0\)"
    with open_events(path) as r:
        assert any("-1/+1" in note for note in r.notes), r.notes
        # the events either side of the 0 read as before, -1 as OFF
        assert np.array_equal(r.read_index(0, z)["p"], (p[:z] > 0).astype(np.int8))
        assert np.array_equal(r.read_index_columns(z + 1).p, (p[z + 1 :] > 0).astype(np.int8))
        with pytest.raises(InvalidEventsError, match=mix.replace(r"(\d+)", "0")):
            r.read_index(z, z + 1)
        reads = _every_read(r, (3 * (z - 10), 3 * (z + 10)))
        reads["read_index_columns"] = lambda: r.read_index_columns(BLOCK, N)
        for what, read in reads.items():
            with pytest.raises(InvalidEventsError) as info:
                read()
            found = re.search(mix, str(info.value))
            assert found and p[int(found[1])] == -1, (what, str(info.value))
            assert str(info.value).startswith(f"{str(path)!r}: events/p: "), what
            assert str(info.value).endswith("; expected 0/1 or -1/+1 throughout"), what


def test_minus_one_in_a_later_block_of_a_0_1_file_is_refused_naming_the_first_0(tmp_path):
    p = np.ones(N, np.int8)
    p[5::7] = 0  # the first 0 is at 5
    p[BLOCK:] = 1  # the later block holds no 0: the 0 named is the one the column was told by
    m = BLOCK + 1234
    p[m] = -1
    path = _file(tmp_path / "01_then_minus.h5", p)
    mix = rf"polarity mixes the -1/\+1 and 0/1 conventions \(p\[{m}\] = -1, p\[5\] = 0\)"
    with open_events(path) as r:
        assert not any("-1/+1" in note for note in r.notes), r.notes
        assert np.array_equal(r.read_index(0, m)["p"], p[:m])
        assert np.array_equal(r.read_columns(0, 3 * m).p, p[:m])
        reads = _every_read(r, (3 * (m - 10), 3 * (m + 10)))
        reads["read_index_columns"] = lambda: r.read_index_columns(BLOCK)
        for read in reads.values():
            with pytest.raises(InvalidEventsError, match=mix):
                read()


def test_minus_one_beside_a_0_in_the_block_read_names_that_0(tmp_path):
    p = np.ones(300, np.int8)
    p[[40, 260]] = 0
    p[250] = -1
    path = _file(tmp_path / "short_mix.h5", p, chunks=64)
    with open_events(path) as r:
        with pytest.raises(InvalidEventsError, match=r"\(p\[250\] = -1, p\[260\] = 0\)"):
            r.read_index(200)
        with pytest.raises(InvalidEventsError, match=r"\(p\[250\] = -1, p\[40\] = 0\)"):
            r.read_columns()


@pytest.mark.parametrize(
    ("dtype", "values", "bad"),
    [
        ("u1", [0, 1, 255, 1], 255),  # was read as -1 (the int8 of 255)
        ("u2", [0, 1, 256, 1], 256),  # was read as 0 (OFF)
        ("i2", [1, -1, 257, -1], 257),  # a -1/+1 file: was read as 1 (ON)
        ("i4", [0, 1, -300, 1], -300),  # was read as -44
    ],
)
def test_polarity_int8_wraps_is_refused_as_the_file_holds_it(tmp_path, dtype, values, bad):
    path = _file(tmp_path / f"bad_{dtype}.h5", np.array(values, dtype))
    want = re.escape(f"events/p holds {bad} (p[2]), beyond the -128..127 that polarity (int8)")
    with open_events(path) as r:
        for read in (r.read, r.read_columns, lambda: r.read(0, 9), lambda: r.read_columns(0, 9)):
            with pytest.raises(EventFileError, match=want):
                read()
        assert len(r.read_index(0, 2)) == 2  # the events before it read


@pytest.mark.parametrize(("dtype", "values"), [("i1", [0, 1, 2, 1]), ("i2", [1, -1, -2, 1])])
def test_polarity_of_neither_convention_int8_holds_is_kept_for_the_checks(tmp_path, dtype, values):
    # as the readers of the other layouts keep it: `eventsim info` warns of it, --check fails
    path = _file(tmp_path / "two.h5", np.array(values, dtype))
    want = (np.array(values) > 0).astype(int) if -1 in values else np.array(values)
    want[2] = values[2]
    with open_events(path) as r:
        assert np.array_equal(r.read()["p"], want)
        assert np.array_equal(r.read_columns().p, want)


@pytest.mark.parametrize("dtype", ["i1", "u1", "u2", "i8", "?"])
def test_0_1_and_signed_files_of_any_type_still_read(tmp_path, dtype):
    rng = np.random.default_rng(10)
    p01 = rng.integers(0, 2, 5000)
    path = _file(tmp_path / "ok.h5", p01.astype(dtype), chunks=512)
    with open_events(path) as r:
        assert np.array_equal(r.read()["p"], p01.astype(np.int8))
        assert np.array_equal(r.read_columns(300, 9000).p, p01[100:3000].astype(np.int8))
    if dtype in ("i1", "i8"):
        path = _file(tmp_path / "pm.h5", np.where(p01 > 0, 1, -1).astype(dtype), chunks=512)
        with open_events(path) as r:
            assert np.array_equal(r.read()["p"], p01.astype(np.int8))
            assert np.array_equal(r.read_columns(300, 9000).p, p01[100:3000].astype(np.int8))
