"""Event I/O walkthrough (helper 334).

- Writing DAT kept each time as its low 32 bits of µs from the first event's; faery's reader takes
  a fall of more than 2^31 us for a wrap and holds the time at a smaller one, so a gap of 2^32 us
  or more, or of 2^31 us or more across a wrap, was read back wrong with no word (exit 0). Such a
  gap is refused, across packets too, naming it; convert leaves no output.
- Reading a DAT whose times fall gave the time before the fall (faery's clamp), silently: the
  file's times are read, sorted by time with a note naming the first fall, as .npy and text are.
- ``info --json`` on a file without events gave t_start_us and t_end_us 0 beside t_last_us null.
- The time-unit note of a plain N x 4 .npy read 'integer plain.npy (an N x 4 array read as
  columns t, x, y, p) t'.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from eventsim.cli import main
from eventsim.errors import InvalidEventsError
from eventsim.events import EVENT_DTYPE, make_events
from eventsim.io import open_events, write_events
from eventsim.io.formats import write_stream
from eventsim.io.layouts import SORTED_NOTE

H, W = 1 << 31, 1 << 32


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([*argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _events(times) -> np.ndarray:
    n = len(times)
    return make_events(np.arange(n) % 10, np.zeros(n), np.asarray(times, np.int64), np.ones(n))


def _read(path):
    with open_events(path) as r:
        return r.read(), list(r.notes), r.file_index


# -- 1. DAT cannot store every gap ---------------------------------------------------------------
@pytest.fixture
def faery():
    import faery

    return faery


@pytest.mark.parametrize(
    "times, pair, gap",
    [
        ([0, 1, H + 5, W + 7, 10**10], (2, 3), W + 7 - (H + 5)),  # the walkthrough's file
        ([0, W + 5], (0, 1), W + 5),  # read back as [0, 5]
        ([0, W - 10, W - 10 + H], (1, 2), H),  # 2^31 across a wrap: held at the time before
    ],
    ids=["reproducer", "whole-wrap", "half-wrap-across"],
)
def test_dat_refuses_a_gap_its_times_lose(faery, tmp_path, times, pair, gap):
    path = tmp_path / "long.dat"
    with pytest.raises(InvalidEventsError) as info:
        write_events(path, _events([t + 10**12 for t in times]), (10, 10))
    message = str(info.value)
    assert f"gap of {gap} us" in message
    assert f"events {pair[0]} and {pair[1]} in time order" in message
    assert "write h5, aedat4 or evt3 instead" in message
    assert list(tmp_path.iterdir()) == []


def test_dat_refuses_a_gap_between_packets(faery, tmp_path):
    path = tmp_path / "long.dat"
    packets = [_events([0, W - 10]), _events([W - 10 + H, W + H])]
    with pytest.raises(
        InvalidEventsError, match=r"gap of 2147483648 us .*\(events 1 and 2 in time order\)"
    ):
        write_stream(path, packets, (10, 10))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "times",
    [
        [0, H + 5],  # over 2^31 but within one wrap: read back as written
        [0, H - 1, 2 * H - 2, 3 * H - 3, 4 * H - 4, 5 * H - 5],  # wraps, gaps under 2^31
    ],
    ids=["no-wrap", "wraps"],
)
def test_dat_keeps_gaps_its_readers_recover(faery, tmp_path, times):
    path = tmp_path / "ok.dat"
    t0 = 10**12
    write_stream(
        path, [_events([t0 + t for t in times[:2]]), _events([t0 + t for t in times[2:]])], (10, 10)
    )
    events, notes, index = _read(path)
    assert events["t"].tolist() == [t0 + t for t in times]
    assert index is None and not any(n.startswith(SORTED_NOTE) for n in notes)


def test_convert_to_dat_refuses_the_gap_and_writes_nothing(faery, tmp_path, capsys):
    src = write_events(tmp_path / "long.h5", _events([0, 1, H + 5, W + 7, 10**10]), (10, 10))
    rc, _, err = _run(capsys, "convert", str(src), str(tmp_path / "l.dat"))
    assert rc == 1
    assert "gap of 2147483650 us (35.8 min)" in err and "h5, aedat4 or evt3" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.h5"]


# -- 2. DAT times that fall ------------------------------------------------------------------------
def _dat(path, raw_times, t0=0):
    """A DAT v2 file of CD events at x = index, whose words hold ``raw_times`` (32 bits)."""
    with open(path, "wb") as f:
        f.write(f"% Version 2\n% Width 10\n% Height 10\n% T0 {t0}\n".encode())
        f.write(bytes([0x0C, 8]))
        for i, t in enumerate(raw_times):
            f.write(((1 << 60) | (i << 32) | t).to_bytes(8, "little"))
    return path


def test_dat_times_that_fall_are_read_as_written_and_sorted(faery, tmp_path, capsys):
    path = _dat(tmp_path / "back.dat", [100, 50, 200])
    events, notes, index = _read(path)
    # faery read [100, 100, 200]
    assert events["t"].tolist() == [50, 100, 200] and events["x"].tolist() == [1, 0, 2]
    assert index.tolist() == [1, 0, 2]
    (note,) = [n for n in notes if n.startswith(SORTED_NOTE)]
    assert "the first at event 1: t = 50 us after 100 us" in note
    rc, out, err = _run(capsys, "info", "--check", str(path))
    assert rc == 0, err
    assert "time range:      50 .. 200 us" in out and "the first at event 1" in out


def test_dat_falls_and_wraps_together(faery, tmp_path):
    # W - 10 -> 5 falls by more than 2^31: a wrap (t0 + W + 5); 5 -> 3 falls by 2
    path = _dat(tmp_path / "wrap.dat", [W - 10, 5, 3, 7], t0=1000)
    events, notes, _ = _read(path)
    assert events["t"].tolist() == [1000 + t for t in (W - 10, W + 3, W + 5, W + 7)]
    assert events["x"].tolist() == [0, 2, 1, 3]
    assert any("1 decreasing steps, the first at event 2" in n for n in notes)


# -- 3. info --json of no events ---------------------------------------------------------------
def test_info_of_no_events_gives_no_times(tmp_path, capsys):
    path = tmp_path / "none.npy"
    np.save(path, np.zeros(0, EVENT_DTYPE))
    rc, out, _ = _run(capsys, "info", "--json", str(path), "--sensor-size", "8x6")
    s = json.loads(out)
    assert rc == 0
    assert (s["t_start_us"], s["t_end_us"], s["t_last_us"], s["duration_s"]) == (None,) * 4
    rc, out, _ = _run(capsys, "info", str(path), "--sensor-size", "8x6")
    assert "duration:        n/a (no events)" in out


# -- 4. a plain matrix's time-unit note ------------------------------------------------------------
def test_plain_npy_time_unit_note_reads(tmp_path):
    path = tmp_path / "plain.npy"
    np.save(path, np.array([[0, 1, 2, 1], [5, 3, 4, 0]]))
    _, notes, _ = _read(path)
    assert notes[0].startswith(
        "time unit detected: microseconds (integer column t of plain.npy, an N x 4 array read "
        "as columns t, x, y, p); "
    )
