"""Event I/O as a Python library (helper 355's walk):

- `EventReader`, `ArrayReader` and `EventWriter` printed as ``<... object at 0x...>`` in a
  notebook: each has a short repr, from what it holds (no read), that never raises.
- An `ArrayReader` (what `open_events` gives for CSV, aedat4, raw, npy, npz, txt) read on
  after `close`, where `EventReader` raised: both refuse with the same `EventFileError`.
- An ``iter_windows`` iterator served the rest of its cached block after its reader's
  ``with`` block, then raised partway through: it raises at the next step.
- `write_events` without a sensor size named the size it inferred as if given.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.errors import EventFileError
from eventsim.events import StreamProblemError, make_events
from eventsim.io import EventReader, EventWriter, open_events, write_events
from eventsim.io.layouts import ArrayReader


def _events(n: int = 3000) -> np.ndarray:
    k = np.arange(n)
    return make_events(k % 80, k % 64, 4305 + k * 50, k % 2)


def _written(tmp_path: Path, ext: str) -> Path:
    path = tmp_path / f"b.{ext}"
    write_events(path, _events(), (80, 64))
    return path


ARRAY_FORMATS = ["npy", "npz", "csv", "txt", "aedat4", "raw"]


# -- 1. reprs --------------------------------------------------------------------------------


def test_event_reader_repr_names_file_layout_count_sensor_times(tmp_path, monkeypatch):
    path = _written(tmp_path, "h5")
    with EventReader(path) as r:
        # cheap: no events are read for it
        monkeypatch.setattr(EventReader, "_read_index", None)
        assert repr(r) == (
            f"EventReader({str(path)!r}, layout='eventsim', n=3000, sensor=80x64, "
            "t=4305..154255 us, closed=False)"
        )
    assert repr(r).endswith("closed=True)")


@pytest.mark.parametrize("ext", ["npy", "csv"])
def test_array_reader_repr(tmp_path, ext):
    path = _written(tmp_path, ext)
    r = open_events(path)
    assert isinstance(r, ArrayReader)
    assert repr(r) == (
        f"ArrayReader({str(path)!r}, layout={ext!r}, n=3000, sensor=80x64, "
        "t=4305..154255 us, closed=False)"
    )
    r.close()
    assert repr(r).endswith("closed=True)")


def test_array_reader_repr_in_memory_inferred_and_empty():
    ev = _events(10)
    assert repr(ArrayReader(ev[:0], (3, 3))) == (
        "ArrayReader(layout='array', n=0, sensor=3x3, closed=False)"
    )
    r = ArrayReader(ev, (80, 64), sensor_size_inferred=True)
    assert "sensor=80x64 (inferred)" in repr(r)


def test_writer_repr_counts_events_and_closing(tmp_path):
    path = tmp_path / "out.h5"
    w = EventWriter(path, (80, 64))
    assert repr(w) == f"EventWriter({str(path)!r}, sensor=80x64, n_written=0, closed=False)"
    w.write(_events(100))
    w.close()
    assert repr(w) == f"EventWriter({str(path)!r}, sensor=80x64, n_written=100, closed=True)"


def test_reprs_never_raise_on_half_built_objects():
    for cls in (EventReader, ArrayReader, EventWriter):
        assert repr(object.__new__(cls)) == f"<{cls.__name__} (incomplete)>"


# -- 2. every reader refuses reads after close --------------------------------------------------


@pytest.mark.parametrize("ext", ["h5", *ARRAY_FORMATS])
def test_reads_after_close_raise_the_same_error(tmp_path, ext):
    path = _written(tmp_path, ext)
    r = open_events(path)
    r.close()
    assert r.closed
    expected = f"the reader of {str(path)!r} is closed; open the file again to read it"
    reads = [
        lambda: r.read(),
        lambda: r.read(5000, 9000),
        lambda: r.read_index(0, 5),
        lambda: r.read_columns(),
        lambda: next(r.iter_windows(1000)),
        lambda: next(r.iter_chunks(100)),
    ]
    for read in reads:
        with pytest.raises(EventFileError) as info:
            read()
        assert str(info.value) == expected
    # what open read stays
    assert len(r) == 3000 and r.t_start_us == 4305 and r.sensor_size == (80, 64)


def test_array_reader_frames_and_memory_events_after_close():
    ev = _events(10)
    r = ArrayReader(ev, (80, 64), frames=[np.zeros((64, 80), np.uint8)], frame_ts_us=[5000])
    assert r.read_frame(0).shape == (64, 80)
    r.close()
    with pytest.raises(EventFileError, match="reader of events in memory is closed"):
        r.read_frame(0)
    with pytest.raises(EventFileError, match="reader of events in memory is closed"):
        r.read()


# -- 3. iterators stop at the next step after a close ------------------------------------------


@pytest.mark.parametrize("ext", ["h5", "npy"])
def test_iter_windows_raises_at_the_next_step_after_the_with_block(tmp_path, ext):
    path = _written(tmp_path, ext)
    with open_events(path) as r:
        # 1 ms windows: a block holds 100 of them, so 99 were cached when the block ended
        windows = r.iter_windows(1000)
        first = next(windows)
        assert len(first) == 20
    with pytest.raises(EventFileError, match="is closed; open the file again"):
        next(windows)


@pytest.mark.parametrize("ext", ["h5", "npy"])
def test_iter_chunks_raises_at_the_next_step_after_close(tmp_path, ext):
    path = _written(tmp_path, ext)
    r = open_events(path)
    chunks = r.iter_chunks(100)
    next(chunks)
    r.close()
    with pytest.raises(EventFileError, match="is closed"):
        next(chunks)


def test_iter_sorted_raises_at_the_next_step_after_close(tmp_path):
    path = _written(tmp_path, "h5")
    with h5py.File(path, "r+") as f:
        t = f["events/t"]
        t[10], t[11] = t[11], t[10]
    r = EventReader(path)
    # the whole file is held and sorted in memory, then cut into packets
    packets = r.iter_sorted(100, max_events=10**6)
    next(packets)
    r.close()
    with pytest.raises(EventFileError, match="is closed"):
        next(packets)


# -- 4. write_events says when it inferred the sensor size ------------------------------------


@pytest.mark.parametrize("ext", ["h5", "npy", "csv"])
def test_write_events_names_an_inferred_size_as_inferred(tmp_path, ext):
    ev = make_events([-1, 3], [0, 2], [0, 5], [1, 0])
    with pytest.raises(StreamProblemError) as info:
        write_events(tmp_path / f"a.{ext}", ev)
    message = str(info.value)
    assert "for sensor size 4x3 (inferred from the events; pass sensor_size=" in message
    assert info.value.problem.kind == "outside" and info.value.problem.index == 0
    # the refusal's words follow the problem when said of another event
    moved = info.value.said_of(info.value.problem.renumbered(np.array([7, 8])))
    assert ("[7]" in str(moved) or "event 7 " in str(moved)) and "(inferred" in str(moved)
    # a size given is the caller's: no note
    with pytest.raises(StreamProblemError) as given:
        write_events(tmp_path / f"b.{ext}", ev, (4, 3))
    assert "inferred" not in str(given.value)


def test_write_events_with_only_negative_coordinates_names_the_value(tmp_path):
    # the inferred width was 0: 'sensor size 0x3 is out of range', though none was given
    ev = make_events([-1, -3], [0, 2], [0, 5], [1, 0])
    with pytest.raises(StreamProblemError, match=r"x = -1, outside the sensor.*inferred"):
        write_events(tmp_path / "a.h5", ev)
