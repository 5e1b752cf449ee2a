"""Text event files as spreadsheets and other tools write them (round 9).

- A CSV separated by semicolons or tabs whose numbers have a decimal comma (``0,5;1;2;1``, a
  spreadsheet's export in a decimal-comma locale) was refused ("time '0,5' is not a number"), and
  one whose every field held a decimal comma (``0,5;1,0;2,0;1,0``) as mixing delimiters; both are
  read, the commas as decimal marks (noted). A comma-separated file never is; a comma in another
  column (a label) marks no decimal; a file that writes points too is refused, as a point there
  may group thousands (``1.500``). rpg text writes them so too (``0,5 1 2 1``).
- A ``#`` comment line below the first row (files pasted together, a footer) was refused as a
  line of one field; it is skipped, as numpy's loadtxt skips it, and lines keep their numbers in
  messages.
"""

from __future__ import annotations

import pytest

from eventsim.errors import EventFileError
from eventsim.io import open_events

SIZE = (64, 48)
EXPECTED = [[5, 7], [1, 3], [2, 4], [1, 0]]
SECONDS = [[500000, 700000], [1, 3], [2, 4], [1, 0]]


def _read(path, **kw):
    with open_events(path, sensor_size=SIZE, **kw) as r:
        ev = r.read()
        return [ev[k].tolist() for k in "txyp"], list(r.notes)


def _write(tmp_path, name, body):
    path = tmp_path / name
    path.write_bytes(body.encode())
    return path


# -- decimal commas ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("ev.csv", "0,5;1;2;1\n0,7;3;4;0\n"),
        ("ev.csv", "t;x;y;p\r\n0,5;1;2;1\r\n0,7;3;4;0\r\n"),
        ("ev.tsv", "0,5\t1\t2\t1\n0,7\t3\t4\t0\n"),
        ("ev.csv", '"0,5";"1";"2";"1"\n"0,7";"3";"4";"0"\n'),
        # a spreadsheet writes whole numbers of a decimal column with ',0'
        ("ev.csv", "0,5;1,0;2,0;1,0\n0,7;3,0;4,0;0,0\n"),
        ("ev.csv", "5E-01;1;2;1\n7,0E-01;3;4;0\n"),
        ("ev.txt", "0,5 1 2 1\n0,7 3 4 0\n"),
        ("ev.txt", "64 48\n0,5\t1\t2\t1\n0,7\t3\t4\t0"),
    ],
)
def test_decimal_commas_are_read(tmp_path, name, body):
    cols, notes = _read(_write(tmp_path, name, body))
    assert cols == SECONDS
    assert any("decimal commas" in n for n in notes), notes


def test_a_first_time_of_zero_without_a_comma_does_not_hide_the_others(tmp_path):
    # a spreadsheet writes 0 for the first time, then 0,000123
    path = _write(tmp_path, "ev.csv", "0;1;2;1\n0,000123;3;4;0\n")
    assert _read(path)[0] == [[0, 123], [1, 3], [2, 4], [1, 0]]


def test_decimal_commas_take_the_unit_of_the_header(tmp_path):
    path = _write(tmp_path, "ev.csv", "Timestamp [ms];X;Y;Polarity\n0,5;1;2;1\n0,7;3;4;0\n")
    assert _read(path)[0] == [[500, 700], [1, 3], [2, 4], [1, 0]]


def test_times_are_exact_from_the_digits_with_a_decimal_comma(tmp_path):
    # float64 puts this epoch time on ...962 µs; its digits round to ...961
    path = _write(tmp_path, "ev.csv", "1755187267,63696149;1;2;1\n")
    assert _read(path)[0][0] == [1755187267636961]


def test_commas_in_another_column_are_no_decimal_marks(tmp_path):
    path = _write(tmp_path, "ev.csv", "5;1;2;1;a,b\n7;3;4;0;1,5\n")
    cols, notes = _read(path)
    assert cols == EXPECTED
    assert not any("decimal" in n for n in notes), notes


def test_a_comma_separated_file_is_never_read_with_decimal_commas(tmp_path):
    path = _write(tmp_path, "ev.csv", "5,1,2,1\n7,3,4,0\n")
    assert _read(path)[0] == EXPECTED
    path = _write(tmp_path, "ev.txt", "5, 1, 2, 1\n7, 3, 4, 0\n")
    cols, notes = _read(path)
    assert cols == EXPECTED
    assert not any("decimal" in n for n in notes), notes


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("ev.csv", "0,5;1;2;1\n1.500;3;4;0\n"),
        ("ev.txt", "0,5 1 2 1\n1.500 3 4 0\n"),
    ],
)
def test_decimal_commas_beside_points_are_refused(tmp_path, name, body):
    with pytest.raises(EventFileError, match=r"with decimal commas.*and with points") as exc:
        _read(_write(tmp_path, name, body))
    assert "line 2" in str(exc.value)


@pytest.mark.parametrize("cell", ["1,2,3", "5,", ",5", "1,5x"])
def test_a_comma_that_is_no_decimal_mark_is_named(tmp_path, cell):
    path = _write(tmp_path, "ev.csv", f"0,5;1;2;1\n{cell};3;4;0\n")
    with pytest.raises(EventFileError, match=f"line 2: '{cell}' is not a number"):
        _read(path)


def test_messages_show_a_value_with_its_decimal_comma(tmp_path):
    path = _write(tmp_path, "ev.csv", "5,0;1;2;1\n7,0;3;4;0\n")
    with pytest.raises(EventFileError, match="such as '5,0'"):
        _read(path)
    path = _write(tmp_path, "ev.csv", "0,5;1;2;1\n1,5e30;3;4;0\n")
    with pytest.raises(EventFileError, match="line 2: time '1,5e30' is too large"):
        _read(path)


def test_a_decimal_comma_coordinate_with_a_fraction_is_refused_as_a_point_one_is(tmp_path):
    path = _write(tmp_path, "ev.csv", "0,5;1,5;2;1\n")
    with pytest.raises(Exception, match="non-integer"):
        _read(path)


# -- comment lines below the first row -----------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("ev.csv", "5,1,2,1\n# pasted\n7,3,4,0\n# end of recording\n"),
        ("ev.csv", "t,x,y,p\r\n# unit: us\r\n5,1,2,1\r\n  # note\r\n7,3,4,0\r\n"),
        ("ev.tsv", "5\t1\t2\t1\n#\n7\t3\t4\t0\n"),
        ("ev.txt", "64 48\n# size above\n0.000005 1 2 1\n# pasted\n0.000007 3 4 0\n"),
    ],
)
def test_comment_lines_below_the_first_row_are_skipped(tmp_path, name, body):
    assert _read(_write(tmp_path, name, body))[0] == EXPECTED


@pytest.mark.parametrize(
    ("name", "body", "match"),
    [
        ("ev.csv", "# top\n5,1,2,1\n# mid\n\n7,3,4,x\n", "column p, line 5: 'x'"),
        ("ev.csv", "5,1,2,1\n# mid\n7,3,4\n", "line 3 holds 3 comma-separated fields"),
        ("ev.csv", "0.5,1,2,1\n# mid\n1e999999999999999999999999,3,4,0\n", "line 3: time"),
        ("ev.txt", "0.5 1 2 1\n# mid\n1e999999999999999999999999 3 4 0\n", "line 3: time"),
        ("ev.txt", "0.5 1 2 1\n# mid\n0.7 3 4\n", "line 3 holds 3 values"),
    ],
)
def test_line_numbers_count_comment_lines_below_the_first_row(tmp_path, name, body, match):
    with pytest.raises(EventFileError, match=match):
        _read(_write(tmp_path, name, body))


# -- Metavision's CSV ----------------------------------------------------------------------------
def test_metavision_geometry_line_gives_the_size_and_the_order_x_y_p_t(tmp_path):
    # metavision_file_to_csv: a '%geometry:W,H' line, then rows x,y,p,t without a header
    path = _write(tmp_path, "rec.csv", "%geometry:1280,720\r\n100,200,1,5\r\n101,201,0,7\r\n")
    with open_events(path) as r:
        ev = r.read()
        assert [ev[k].tolist() for k in "txyp"] == [[5, 7], [100, 101], [200, 201], [1, 0]]
        assert r.sensor_size == (1280, 720)
        assert not r.sensor_size_inferred
        assert any("x,y,p,t" in n for n in r.notes), r.notes


def test_metavision_geometry_line_before_a_header_keeps_the_header_order(tmp_path):
    path = _write(tmp_path, "rec.csv", "%geometry:64,48\nt,x,y,p\n5,1,2,1\n7,3,4,0\n")
    with open_events(path) as r:
        ev = r.read()
        assert [ev[k].tolist() for k in "txyp"] == EXPECTED
        assert r.sensor_size == (64, 48)


def test_metavision_geometry_line_numbers_count_in_messages(tmp_path):
    path = _write(tmp_path, "rec.csv", "%geometry:64,48\n1,2,1,5\n3,4,0\n")
    with pytest.raises(EventFileError, match="line 3 holds 3"):
        _read(path)


def test_a_csv_of_only_metavision_lines_is_a_file_of_no_events(tmp_path):
    # its writer's output for a recording of no events (round 9c; was refused)
    with open_events(_write(tmp_path, "rec.csv", "%geometry:64,48\n")) as r:
        assert (len(r), r.sensor_size) == (0, (64, 48))


def test_headerless_x_y_p_t_rows_are_refused_saying_how_to_name_them(tmp_path):
    # the same writer without its '%geometry' line: read as t,x,y,p, p is the time
    path = _write(tmp_path, "rec.csv", "10,20,1,5\n11,21,0,7\n")
    with pytest.raises(Exception, match="add the line 'x,y,p,t' at the top"):
        _read(path)
    path = _write(tmp_path, "rec.csv", "t,x,y,p\n10,20,1,5\n11,21,0,7\n")
    with pytest.raises(Exception) as exc:
        _read(path)
    assert "x,y,p,t" not in str(exc.value)
