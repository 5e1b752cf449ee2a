"""I/O review 8, users' text files:

- rpg text whose times are integers but whose x, y or p are written as decimals (``100 1 2
  1.0``) had its unit chosen by the span rule for floats: a span up to 1000 read as seconds
  (100 s, 600 s), a longer one as microseconds; integer times are microseconds, as in a file
  of integers only and in a CSV.
- rpg text of only blank lines was read as no events on a 1x1 sensor (a CSV of them, or an
  empty file, is refused); one with blank lines before its ``width height`` line was refused.
- Text saved as UTF-16 (PowerShell 5's ``>`` redirection, Excel's "Unicode text") was refused
  with a line that does not exist ("line 3 holds 1 comma-separated field ('\\x00')").
- Events whose every x (or y) is negative, read without a sensor size, got an inferred size
  of 0 or less, which ``eventsim info`` and ``convert`` then refused as a size out of range
  that the user never gave, not as the events' bad coordinates.
"""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import EventFileError
from eventsim.io import open_events


# -- integer times in rpg text -------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b"100 1 2 1.0\n600 3 4 0.0\n",
        b"100 1.0 2.0 1\n1600 3.0 4.0 0\n",
        b"640 480\n100 1 2 1e0\n600 3 4 0\n",
    ],
)
def test_rpg_text_with_integer_times_reads_microseconds_whatever_the_other_columns(tmp_path, body):
    path = tmp_path / "events.txt"
    path.write_bytes(body)
    with open_events(path) as r:
        t = r.read()["t"].tolist()
        assert r.time_unit_detected == "us"
    assert t[0] == 100 and t[1] in (600, 1600)


def test_rpg_text_with_decimal_times_after_an_integer_first_time_stays_seconds(tmp_path):
    path = tmp_path / "events.txt"
    path.write_bytes(b"0 1 2 1\n0.5 3 4 0\n")
    with open_events(path) as r:
        assert r.time_unit_detected == "s" and r.read()["t"].tolist() == [0, 500_000]


# -- blank lines in rpg text ---------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"\n \n", b"\r\n\t\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n"])
def test_text_of_only_blank_lines_is_refused(tmp_path, body):
    for name in ("events.txt", "events.csv"):
        path = tmp_path / name
        path.write_bytes(body)
        with pytest.raises(EventFileError, match="holds only blank lines"):
            open_events(path)


def test_rpg_text_reads_its_size_line_after_blank_lines(tmp_path):
    path = tmp_path / "events.txt"
    path.write_bytes(b"\n  \n640 480\n0.1 1 2 1\n0.2 3 4 0\n")
    with open_events(path) as r:
        assert r.sensor_size == (640, 480)
        assert r.read()["t"].tolist() == [100_000, 200_000]


def test_rpg_text_after_blank_lines_names_the_files_own_line(tmp_path):
    path = tmp_path / "events.txt"
    path.write_bytes(b"\n\n640 480\n0.1 1 2 1\n0.2 3 4\n")
    with pytest.raises(EventFileError, match="line 5 holds 3 values"):
        open_events(path)
    path.write_bytes(b"\n\n640 480\n0.1 1 2 1\n\n0.2 3 x 1\n")
    with pytest.raises(EventFileError, match="line 6: 'x' is not a number"):
        open_events(path)
    path.write_bytes(b"\n\n640 480\n0.1 1 2 1\n\n0.2 3 x 1\n")
    # a time converted from its digits names its line too
    path.write_bytes(b"\n\n640 480\n0.1 1 2 1\n\n1e999 3 4 1\n")
    with pytest.raises(EventFileError, match="line 6: time '1e999'"):
        open_events(path)


# -- UTF-16 --------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize(
    ("name", "body", "size"),
    [
        ("events.csv", "t,x,y,p\r\n1,2,3,1\r\n2,3,4,0\r\n", None),
        ("events.txt", "640 480\r\n0.000001 2 3 1\r\n0.000002 3 4 0\r\n", (640, 480)),
    ],
)
def test_text_saved_as_utf16_with_a_bom_is_read(tmp_path, encoding, name, body, size):
    path = tmp_path / name
    bom = {"utf-16": "", "utf-16-le": "\ufeff", "utf-16-be": "\ufeff"}[encoding]
    path.write_bytes((bom + body).encode(encoding))
    with open_events(path) as r:
        ev = r.read()
        assert ev["t"].tolist() == [1, 2] and ev["x"].tolist() == [2, 3]
        assert size is None or r.sensor_size == size


def test_text_in_utf16_that_does_not_decode_is_refused_by_name(tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes(b"\xff\xfet\x00,\x00\x00\xd8")
    with pytest.raises(EventFileError, match="UTF-16"):
        open_events(path)


# -- negative coordinates without a sensor size --------------------------------------------------
@pytest.mark.parametrize(
    "body", [b"1,-2,3,1\n2,-1,3,0\n", b"1,2,-3,1\n"], ids=["negative x", "negative y"]
)
def test_events_with_only_negative_coordinates_get_a_sensor_size_and_a_report(tmp_path, body):
    path = tmp_path / "events.csv"
    path.write_bytes(body)
    with open_events(path) as r:
        assert min(r.sensor_size) >= 1
        assert np.any((r.read()["x"] < 0) | (r.read()["y"] < 0))


def test_convert_names_the_negative_coordinate_not_the_size(tmp_path, capsys):
    path = tmp_path / "events.csv"
    path.write_bytes(b"1,-2,3,1\n")
    assert eventsim_main(["convert", str(path), str(tmp_path / "out.h5")]) != 0
    err = capsys.readouterr().err
    assert "out of range; expected 1..32767" not in err
    assert "-2" in err


# -- mixed line ends -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("events.csv", b"t,x,y,p\r1,2,3,1\n2,3,4,0\r\n"),
        ("events.txt", b"640 480\r0.000001 2 3 1\n0.000002 3 4 0\r\n"),
    ],
)
def test_text_with_bare_cr_and_lf_line_ends_mixed_is_read(tmp_path, name, body):
    # a bare CR ends a line, as in old Mac text and as Python's splitlines takes it; numpy
    # refused a CSV with it ("unquoted embedded newline") and rpg text named a wrong line
    path = tmp_path / name
    path.write_bytes(body)
    with open_events(path) as r:
        assert r.read()["t"].tolist() == [1, 2]


def test_text_with_mixed_line_ends_names_the_files_line(tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes(b"t,x,y,p\r1,2,3,1\n2,x,4,0\r\n")
    with pytest.raises(EventFileError, match="line 3: 'x' is not a number"):
        open_events(path)
