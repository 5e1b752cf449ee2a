"""Round 9c: rpg text's first bad line is found without splitting the file into a list of
lines; a Metavision CSV of its '%' header alone (with the geometry) is a file of no events;
`eventsim convert --sort` names a rejected event by its index in the input file."""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest

from eventsim.cli import convert
from eventsim.errors import EventFileError
from eventsim.events import StreamProblem, StreamProblemError
from eventsim.io import EventReader, open_events
from eventsim.io.layouts import _first_bad_txt_line

# ---------------------------------------------------------------- rpg text's first bad line


def _lines(n: int) -> bytes:
    return b"".join(b"%.6f %d %d %d\n" % (i * 1e-6, i % 640, i % 480, i % 2) for i in range(n))


def test_a_cut_last_line_of_a_large_file_is_found_without_a_list_of_its_lines():
    raw = _lines(400_000) + b"0.4 12 3"  # ~7 MB, cut in its last line
    # its first call imports eventsim.io.text, which is not what is measured
    assert _first_bad_txt_line(b"0 1 2 3\n", 0, 0) is None
    tracemalloc.start()
    try:
        why = _first_bad_txt_line(raw, 0, 2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert why == "line 400003 holds 3 values; expected 4 ('t x y p'); the file may be truncated"
    # the lines as a list held several times the file
    assert peak < len(raw) // 20, (peak, len(raw))


@pytest.mark.parametrize(
    ("raw", "skip", "words", "want"),
    [
        (b"640 480\n0.1 1 2 1\r\n\n0.2 1 2\r\n  \n", 1, False, "holds 3 values"),
        (b"0.1 1 2 1\n0.2 1 2\n0.3 1 2 1\n", 0, False, "line 6 holds 3 values"),
        (b"0.1 1 2 1\n0.2 1 2 1 5\n", 0, False, "line 6 holds 5 values"),
        (b"0.1 1 2 1\nnan 1 2 1\n0.3 1_0 2 1\n", 0, False, "line 7: '1_0' is not a number"),
        (b"0.1 1 2 True\n0.2\x0c1 2 false\n0.3 1 2 1\n", 0, True, "polarity '1' is not True"),
        (b"0.1 1 2 1\n\x0c\n0.3 1 2 1\n", 0, False, None),
    ],
)
def test_first_bad_line_messages(raw, skip, words, want):
    why = _first_bad_txt_line(raw, skip, 4, words)
    if want is None:
        assert why is None
        return
    assert want in why, why
    if want == "holds 3 values":
        assert why == ("line 8 holds 3 values; expected 4 ('t x y p'); the file may be truncated")
    else:
        assert "truncated" not in why, why


def test_a_cut_rpg_text_file_is_refused_naming_its_last_line(tmp_path):
    path = tmp_path / "ev.txt"
    path.write_bytes(b"# t x y p\n640 480\n" + _lines(1000) + b"0.002 5")
    with pytest.raises(EventFileError, match=r"line 1003 holds 2 values; .*may be truncated"):
        open_events(path)


# ------------------------------------------------ a Metavision CSV of its '%' header alone


@pytest.mark.parametrize(
    "body",
    [
        b"%geometry:640,480\n",
        b"%geometry:640,480",
        b"% date 2024-01-01\r\n%geometry:640,480\r\n% end\r\n\r\n",
    ],
)
def test_a_metavision_csv_of_no_events_is_read_as_empty_with_its_geometry(tmp_path, body):
    path = tmp_path / "rec.csv"
    path.write_bytes(body)
    with open_events(path) as r:
        assert len(r) == 0
        assert r.sensor_size == (640, 480)
        assert not r.sensor_size_inferred
        assert r.read().shape == (0,)
    # as a CSV of a header line alone is read
    header = tmp_path / "header.csv"
    header.write_bytes(b"t,x@640,y@480,p\n")
    with open_events(header) as h:
        assert (len(h), h.sensor_size, h.time_unit_detected) == (0, (640, 480), "us")
        assert r.notes == h.notes
    with open_events(path, time_unit="ms") as r:
        assert r.time_unit_detected == "ms"


def test_a_metavision_csv_of_no_events_converts(tmp_path, capsys):
    path = tmp_path / "rec.csv"
    path.write_bytes(b"%geometry:320,240\n")
    out = tmp_path / "out.h5"
    assert convert.main([str(path), str(out), "--no-progress"]) == 0
    assert "wrote 0 events (320x240)" in capsys.readouterr().out
    with open_events(out) as r:
        assert (len(r), r.sensor_size) == (0, (320, 240))


def test_percent_lines_without_the_geometry_are_still_refused(tmp_path):
    path = tmp_path / "rec.csv"
    path.write_bytes(b"% date 2024-01-01\n% end\n")
    with pytest.raises(EventFileError, match="holds only '%' lines"):
        open_events(path)


# ------------------------------------------- convert --sort names the input's event index

W, H = 64, 48


def _dsec(path, t, x):
    n = t.shape[0]
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g["x"] = x.astype(np.uint16)
        g["y"] = np.zeros(n, np.uint16)
        g["t"] = t.astype(np.int64)
        g["p"] = np.ones(n, np.uint8)
        f.attrs.update({"sensor_width": W, "sensor_height": H})
    return path


@pytest.mark.parametrize(("suffix", "named"), [(".h5", "event 3 has x = 99"), (".npy", "x[3]")])
def test_sort_names_a_rejected_event_by_its_index_in_the_input(tmp_path, capsys, suffix, named):
    # the event at index 3 (t = 20) is second in time order
    src = _dsec(
        tmp_path / "in.h5", np.array([50, 10, 40, 20, 30, 60]), np.array([1, 2, 3, 99, 4, 5])
    )
    out = tmp_path / f"out{suffix}"
    assert convert.main([str(src), str(out), "--sort", "--no-progress"]) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("eventsim convert: error: ") and named in err, err
    assert "[1]" not in err and "event 1 " not in err and "time order" not in err, err


def test_sort_names_the_input_index_among_equal_times_past_the_first_packet(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(convert, "PACKET_EVENTS", 4)
    rng = np.random.default_rng(3)
    t = rng.integers(0, 5, 40) * 10
    x = np.arange(40) % W
    # the third event of time 30 in the file's order: later in time order than packet 0
    bad = int(np.flatnonzero(t == 30)[2])
    x[bad] = 70
    src = _dsec(tmp_path / "in.h5", t, x)
    place = int(np.flatnonzero(np.argsort(t, kind="stable") == bad)[0])
    assert place >= 4 and place != bad
    assert convert.main([str(src), str(tmp_path / "o.npy"), "--sort", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"x[{bad}] = 70" in err, err


def test_sort_says_events_are_counted_in_time_order_when_it_cannot_tell(tmp_path):
    src = _dsec(tmp_path / "in.h5", np.array([20, 10]), np.array([1, 99]))
    given = convert._Given(iter([]))
    with EventReader(src) as r:
        refused = StreamProblemError(StreamProblem("outside", "x", 0, 99, sensor_size=(W, H)))
        said = convert._in_input_order(r, given, refused)
    assert str(said) == f"{refused} (events counted in time order, as --sort wrote them)"
