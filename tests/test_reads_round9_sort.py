"""`eventsim convert --sort` and `EventReader.iter_sorted`: a sorted copy of an HDF5 file whose
events/t is not sorted, by a stable sort (equal times keep the file's order), in memory or
one range of times at a time when the file holds more events than may be held at once."""

from __future__ import annotations

import numpy as np
import pytest
from test_reads_second_look9 import _dsec

from eventsim.cli import convert
from eventsim.io import EventReader, open_events

W, H = 64, 48


def _want(t, off=0):
    order = np.argsort(t, kind="stable")
    return order, t[order] + off


def _shuffled(n=3000, seed=2):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 400, n).astype(np.int64) * 10  # many equal times


def test_convert_refuses_unsorted_input_and_names_sort(tmp_path, capsys):
    src = _dsec(tmp_path / "in.h5", _shuffled())
    out = tmp_path / "out.h5"
    assert convert.main([str(src), str(out)]) == 1
    err = capsys.readouterr().err
    assert "not sorted" in err and "--sort" in err, err
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".h5", ".npy"])
def test_convert_sort_writes_a_stable_sorted_copy(tmp_path, capsys, suffix):
    t = _shuffled()
    src = _dsec(tmp_path / "in.h5", t, t_offset=1_000_000)
    out = tmp_path / f"out{suffix}"
    assert convert.main([str(src), str(out), "--sort", "--sensor-size", f"{W}x{H}"]) == 0
    err = capsys.readouterr().err
    assert "not sorted by time" in err and "sorted" in err, err
    order, t_sorted = _want(t, 1_000_000)
    with open_events(out, sensor_size=(W, H)) as r:
        ev = r.read()
    assert np.array_equal(ev["t"], t_sorted)
    assert np.array_equal(ev["x"], order % W) and np.array_equal(ev["y"], (order // W) % H)
    if suffix == ".h5":
        with EventReader(out) as r:
            assert r.source["sorted_by_time"] is True
            lo, hi = 1_000_500, 1_002_000
            assert np.array_equal(r.read(lo, hi)["t"], t_sorted[(t_sorted >= lo) & (t_sorted < hi)])


def test_convert_sort_of_a_sorted_input_is_a_plain_copy(tmp_path, capsys):
    t = np.sort(_shuffled())
    src = _dsec(tmp_path / "in.h5", t)
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert convert.main([str(src), str(a)]) == 0
    assert convert.main([str(src), str(b), "--sort"]) == 0
    assert "sorted" not in capsys.readouterr().err
    with EventReader(a) as ra, EventReader(b) as rb:
        assert np.array_equal(ra.read(), rb.read())
        assert "sorted_by_time" not in rb.source


def test_convert_sort_refuses_to_overwrite_without_force(tmp_path, capsys):
    src = _dsec(tmp_path / "in.h5", _shuffled())
    out = tmp_path / "out.h5"
    out.write_bytes(b"keep")
    assert convert.main([str(src), str(out), "--sort"]) == 1
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"keep"
    assert convert.main([str(src), str(out), "--sort", "--force"]) == 0


def _check_sorted_packets(path, t, max_events, n_events=97):
    order, t_sorted = _want(t)
    with EventReader(path) as r:
        packets = list(r.iter_sorted(n_events, max_events=max_events))
        assert r.time_disorder() is not None
    assert all(0 < len(p) <= n_events for p in packets)
    ev = np.concatenate(packets)
    assert np.array_equal(ev["t"], t_sorted)
    assert np.array_equal(ev["x"], order % W) and np.array_equal(ev["y"], (order // W) % H)


def test_iter_sorted_in_ranges_of_times(tmp_path, monkeypatch):
    import eventsim.io.hdf5_reader as hr

    # blocks of 512 events so that the ranges gather from several blocks
    monkeypatch.setattr(hr, "_SORT_BLOCK", 512)
    rng = np.random.default_rng(8)
    t = rng.integers(0, 5_000, 4000).astype(np.int64)
    _check_sorted_packets(_dsec(tmp_path / "r.h5", t), t, max_events=300)


def test_iter_sorted_splits_a_crowded_bin_and_streams_a_single_time(tmp_path, monkeypatch):
    import eventsim.io.hdf5_reader as hr

    monkeypatch.setattr(hr, "_SORT_BLOCK", 512)
    monkeypatch.setattr(hr, "_SORT_BINS", 8)
    rng = np.random.default_rng(9)
    # times over a wide span (negative ones too), most of them within a few µs, and one
    # time held by more events than may be held at once
    t = np.concatenate(
        [
            rng.integers(-(10**12), 10**12, 300),
            rng.integers(5_000, 5_010, 1200),
            np.full(700, 5_004),
        ]
    ).astype(np.int64)
    rng.shuffle(t)
    _check_sorted_packets(_dsec(tmp_path / "c.h5", t), t, max_events=250)


def test_iter_sorted_of_a_file_out_of_order_in_one_place(tmp_path, monkeypatch):
    import eventsim.io.hdf5_reader as hr

    monkeypatch.setattr(hr, "_SORT_BLOCK", 512)
    t = np.sort(np.random.default_rng(1).integers(0, 100_000, 5000)).astype(np.int64)
    t[2500], t[2501] = t[2501], t[2500] - 3
    path = _dsec(tmp_path / "one.h5", t)
    read = []
    real = EventReader._times_within

    def counted(self, j, lo, hi):
        read.append(j)
        return real(self, j, lo, hi)

    monkeypatch.setattr(EventReader, "_times_within", counted)
    _check_sorted_packets(path, t, max_events=1000)
    # each block gathered about once: only those whose times reach into two ranges twice
    blocks = -(-len(t) // 512)
    assert len(read) <= 2 * blocks - 1 and set(read) == set(range(blocks))
