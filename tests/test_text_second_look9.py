"""Second look at the text readers' decimal commas, '#' lines below the first row and
Metavision's '%geometry' CSV (tests/test_text_round9.py):

- a CSV whose every comma may group thousands (a US locale's ``1,234`` µs in a TSV) is
  refused as ambiguous: read with decimal commas its times came out 1000 times too late;
- rpg text whose first time is written ``0`` (C's printf in a decimal-comma locale) is read
  with decimal commas: it was refused as a line of 5 values;
- a blank or '#' line below Metavision's '%' lines was taken for the first row;
- rpg text with decimal commas names a bad value with its commas, not points.
"""

from __future__ import annotations

import pytest

from eventsim.errors import EventFileError
from eventsim.io import open_events

SIZE = (64, 48)


def _read(path, **kw):
    with open_events(path, sensor_size=SIZE, **kw) as r:
        ev = r.read()
        return [ev[k].tolist() for k in "txyp"], list(r.notes), r.sensor_size


def _write(tmp_path, name, body):
    path = tmp_path / name
    path.write_bytes(body.encode())
    return path


@pytest.mark.parametrize(
    "body",
    [
        "1,234\t1\t2\t1\n2,345\t3\t4\t0\n",
        "999\t1\t2\t1\n1,234\t3\t4\t0\n",
        "t;x;y;p\n-1,500;1;2;1\n12,000;3;4;0\n",
    ],
)
def test_commas_that_may_group_thousands_are_refused(tmp_path, body):
    with pytest.raises(EventFileError, match=r"column t, line \d: '-?[0-9]+,[0-9]{3}' may be"):
        _read(_write(tmp_path, "ev.tsv" if "\t" in body else "ev.csv", body))


@pytest.mark.parametrize(
    ("body", "t"),
    [
        # a 0 before the comma, other than 3 digits after it, or an exponent tells
        ("0,123;1;2;1\n1,234;3;4;0\n", [123000, 1234000]),
        ("1,234;1;2;1\n1,5;3;4;0\n", [1234000, 1500000]),
        ("1,234;1;2;1\n2,000E-1;3;4;0\n", [200000, 1234000]),
        ("1,234;1,0;2;1\n2,345;3;4;0\n", [1234000, 2345000]),
    ],
)
def test_a_comma_that_groups_no_thousands_tells_the_file(tmp_path, body, t):
    cols, notes, _ = _read(_write(tmp_path, "ev.csv", body))
    assert cols[0] == t
    assert any("decimal commas" in n for n in notes), notes


@pytest.mark.parametrize(
    ("body", "t"),
    [
        ("0 1 2 1\n0,000123 3 4 0\n", [0, 123]),
        ("64 48\n0 1 2 1\n1,5e-06 3 4 0\n", [0, 2]),
        ("0 1 2 1\n0,0000015 3 4 0\n", [0, 2]),
    ],
)
def test_rpg_text_with_a_first_time_of_zero_is_read_with_decimal_commas(tmp_path, body, t):
    cols, notes, _ = _read(_write(tmp_path, "ev.txt", body))
    assert cols == [t, [1, 3], [2, 4], [1, 0]]
    assert any("decimal commas" in n for n in notes), notes
    # the same digits with points
    assert _read(_write(tmp_path, "dot.txt", body.replace(",", ".")))[0] == cols


def test_rpg_text_comma_separated_after_a_line_without_commas_is_still_so(tmp_path):
    cols, notes, _ = _read(_write(tmp_path, "ev.txt", "5 1 2 1\n7,3,4,0\n"))
    assert cols == [[5, 7], [1, 3], [2, 4], [1, 0]]
    assert not any("decimal" in n for n in notes), notes


@pytest.mark.parametrize(
    "body",
    [
        "%geometry:64,48\n\n1,2,1,5\n3,4,0,7\n",
        "%geometry:64,48\r\n# exported\r\n1,2,1,5\r\n3,4,0,7\r\n",
        "%geometry:64,48\n%date 2024\n \n# x,y,p,t\n1,2,1,5\n3,4,0,7\n",
    ],
)
def test_blank_and_comment_lines_below_metavision_lines_are_skipped(tmp_path, body):
    cols, _, size = _read(_write(tmp_path, "rec.csv", body))
    assert cols == [[5, 7], [1, 3], [2, 4], [1, 0]]
    assert size == (64, 48)


def test_line_numbers_count_blank_lines_below_metavision_lines(tmp_path):
    path = _write(tmp_path, "rec.csv", "%geometry:64,48\n\n1,2,1,5\n3,4,0\n")
    with pytest.raises(EventFileError, match="line 4 holds 3"):
        _read(path)


def test_only_metavision_and_blank_lines_are_a_file_of_no_events(tmp_path):
    # round 9c: was refused; without the geometry it still is
    with open_events(_write(tmp_path, "rec.csv", "%geometry:64,48\n\n# none\n")) as r:
        assert (len(r), r.sensor_size) == (0, (64, 48))
    with pytest.raises(EventFileError, match="only '%' lines"):
        _read(_write(tmp_path, "rec.csv", "% date 2024\n\n# none\n"))


def test_rpg_text_names_a_bad_value_with_its_commas(tmp_path):
    path = _write(tmp_path, "ev.txt", "0,5 1 2 1\n1,2,3 3 4 0\n")
    with pytest.raises(EventFileError, match="line 2: '1,2,3' is not a number"):
        _read(path)
