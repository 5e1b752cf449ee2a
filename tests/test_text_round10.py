"""Round 10 of the text readers (eventsim/io/text.py):

- rpg text whose every comma may group thousands (``1,234 5 6 1``) is refused as ambiguous,
  as a CSV's is: it was read with decimal commas, 1.234 s where 1234 µs was as likely;
- a value that is not a number, written with characters beyond ASCII (a full-width ``１``), is
  named as the CSV writes it: read as Latin-1, its UTF-8 bytes were shown as ``'ï¼\\x91'``;
- a CSV header saved in Windows-1252 (Excel's "CSV (Comma delimited)" in a Western locale)
  gives its time column's unit: the 'µ' of ``t [µs]`` was lost, and decimal times read as
  seconds, a million times too late;
- a CSV field that opens with a quote no quote closes is refused: the table read every line
  below it as part of that field, and dropped their events without a word.

Second look: a coordinate int16 cannot hold is named as written, by its line (``1e20`` was
``-9223372036854775808``, with a RuntimeWarning), as is rpg text's time that is no number; a
CSV row with a number past the fields the header names is refused (``5,6,1,1,234`` read t=1);
and files the round must still read (decimal commas from Excel, a late comma that settles it).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_text_round9 import _read, _write

from eventsim.errors import EventFileError, InvalidEventsError
from eventsim.io.layouts import build_events


@pytest.mark.parametrize(
    ("body", "line", "value"),
    [
        ("1,234 5 6 1\n", 1, "1,234"),
        ("1,234 5 6 1\n2,345 7 8 0\n", 1, "1,234"),
        # comment, blank and size lines before it count
        ("# t x y p\n\n64 48\n1,234 5 6 1\r\n-12,000 7 8 0\r\n", 4, "1,234"),
        # a first time of 0 tells nothing (C's printf writes it so in any locale)
        ("0 5 6 1\n1,000\t7\t8\t0\n", 2, "1,000"),
        ("1234 5 6 1\n1,234 7 8 0", 2, "1,234"),
    ],
)
def test_rpg_text_whose_commas_may_group_thousands_is_refused(tmp_path, body, line, value):
    path = _write(tmp_path, "ev.txt", body)
    with pytest.raises(EventFileError) as info:
        _read(path)
    msg = str(info.value)
    assert f"column t, line {line}: {value!r} may be a number with a decimal comma" in msg
    assert f"({value.replace(',', '')})" in msg and "write them as points" in msg
    assert str(path) in msg


def test_rpg_text_with_a_number_of_several_thousands_groups_names_it(tmp_path):
    path = _write(tmp_path, "ev.txt", "1,234 5 6 1\n\n1,234,567 7 8 0\n")
    with pytest.raises(EventFileError, match=r"line 3: '1,234,567' groups its thousands"):
        _read(path)


@pytest.mark.parametrize(
    ("body", "t"),
    [
        # six places, as printf's %f writes them
        ("1,234567 5 6 1\n", [1234567]),
        # any comma of the file that groups no thousands tells: a 0 before it, other than 3
        # digits after it, 4 digits before it, an exponent, or one in another column
        ("1,234 5 6 1\n0,5 7 8 0\n", [500000, 1234000]),
        ("1,234 5 6 1\n2,5 7 8 0\n", [1234000, 2500000]),
        ("1,234 5 6 1\n1234,567 7 8 0\n", [1234000, 1234567000]),
        ("1,234 5 6 1\n2,000e-1 7 8 0\n", [200000, 1234000]),
        ("1,234 5,0 6 1\n", [1234000]),
        ("-0,123 5 6 1\n", [-123000]),
    ],
)
def test_rpg_text_whose_commas_tell_decimal_marks_is_read_so(tmp_path, body, t):
    cols, notes = _read(_write(tmp_path, "ev.txt", body))
    assert cols[0] == t
    assert any("decimal commas" in n for n in notes), notes


def test_rpg_text_with_commas_between_values_is_not_asked_about(tmp_path):
    cols, notes = _read(_write(tmp_path, "ev.txt", "1,234,5,1\n2,345,6,0\n"))
    assert cols == [[1, 2], [234, 345], [5, 6], [1, 0]]
    assert not any("decimal" in n for n in notes), notes


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("t,x,y,p\n0.5,5,6,\uff11\n", "column p, line 2: '\uff11' is not a number"),
        ("t,x,y,p\n\uff10.5,5,6,1\n", "line 2: time '\uff10.5' is not a number"),
        ("t;x;y;p\n0,5;5;6;1\n1,5;\u00b5;6;0\n", "column x, line 3: '\u00b5' is not a number"),
        ("t;x;y;p\n0,5;5;6;1\n1,\uff15;5;6;0\n", "column t, line 3: '1,\uff15' is not a number"),
    ],
)
def test_a_bad_value_beyond_ascii_is_named_as_written(tmp_path, body, shown):
    with pytest.raises(EventFileError) as info:
        _read(_write(tmp_path, "ev.csv", body))
    assert shown in str(info.value)


@pytest.mark.parametrize(
    "header",
    ["t [\u00b5s],x,y,p\n", "t_\u00b5s;x;y;p\n", "# t (\u00b5s),x,y,p\n"],
)
@pytest.mark.parametrize("encoding", ["cp1252", "utf-8"])
def test_a_header_in_windows_1252_names_its_unit(tmp_path, header, encoding):
    rows = "1.5,5,6,1\n2.5,7,8,0\n"
    if ";" in header:
        rows = rows.replace(",", ";")
    path = tmp_path / "ev.csv"
    path.write_bytes((header + rows).encode(encoding))
    cols, notes = _read(path)
    assert cols == [[2, 2], [5, 7], [6, 8], [1, 0]]
    assert "time unit from the CSV header: microseconds" in notes


@pytest.mark.parametrize(
    ("body", "line", "field"),
    [
        ('t,x,y,p,label\n1,5,6,1,"abc\n2,7,8,0,x\n3,9,9,1,y\n', 2, '"abc'),
        ('t;x;y;p;label\r\n0,5;5;6;1;"abc\r\n0,6;7;8;0;x\r\n', 2, '"abc'),
        ('# made by hand\nt,x,y,p\n1,5,6,1\n"2,7,8,0\n3,9,9,1\n', 4, '"2,7,8,0'),
    ],
)
def test_a_quote_that_no_quote_closes_is_refused(tmp_path, body, line, field):
    # the table read the rest of the file as that one field: 3 events came out as 1
    with pytest.raises(EventFileError) as info:
        _read(_write(tmp_path, "ev.csv", body))
    assert f"line {line}: a field opens with a quote that no quote closes ({field!r})" in str(
        info.value
    )


@pytest.mark.parametrize(
    "body",
    [
        # a quote inside a field quotes nothing; a quoted field may hold a line end
        't,x,y,p,label\n1,5,6,1,5" screen\n2,7,8,0,x\n3,9,9,1,y\n',
        't,x,y,p,label\n1,5,6,1,"a\nb"\n2,7,8,0,x\n3,9,9,1,"y ""z"""\n',
        '"t","x","y","p"\n"1","5","6","1"\n"2","7","8","0"\n"3","9","9","1"\n',
        # an unclosed quote on the last line takes no line with it
        't,x,y,p,label\n1,5,6,1,x\n2,7,8,0,x\n3,9,9,1,"y\n\n',
    ],
)
def test_quotes_that_close_or_quote_nothing_are_read(tmp_path, body):
    cols, _ = _read(_write(tmp_path, "ev.csv", body))
    assert cols[0] == [1, 2, 3]


# -- second look: coordinates and times that are no numbers of their columns -------------------
@pytest.mark.parametrize(
    ("name", "body", "shown"),
    [
        # beyond int64: the int64 cast made it INT64_MIN, with a RuntimeWarning and
        # "outside int16: -9223372036854775808"
        ("ev.csv", "t,x,y,p\n1,5,6,1\n2,1e20,8,0\n", "'1e20' at line 3 of"),
        (
            "ev.csv",
            "t,x,y,p\n1,5,6,1\n2,5,99999999999999999999,0\n",
            "'99999999999999999999' at line 3",
        ),
        ("ev.csv", "t;x;y;p\n0,1;5;6;1\n0,2;-1E+20;8;0\n", "'-1E+20' at line 3 of"),
        ("ev.txt", "# t x y p\n0.1 5 6 1\n0.2 1e20 8 0\n", "'1e20' at line 3 of"),
        ("ev.txt", "0,1 5 6 1\n0,2 1e20 8 0\n", "'1e20' at line 2 of"),
        ("ev.txt", "1 5 6 True\n2 1e20 8 False\n", "'1e20' at line 2 of"),
        # within int64, beyond int16: named by its line too
        ("ev.txt", "1 5 6 1\n2 40000 8 0\n", "'40000' at line 2 of"),
        ("ev.csv", "x,y,p,t\n5,6,1,1\n7,-40000,0,2\n", "'-40000' at line 3 of"),
    ],
)
def test_a_coordinate_outside_int16_is_named_as_written_by_its_line(tmp_path, name, body, shown):
    path = _write(tmp_path, name, body)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidEventsError) as info:
            _read(path)
    msg = str(info.value)
    assert "has values outside int16 (-32768..32767), such as " + shown in msg, msg
    assert str(path) in msg


@pytest.mark.parametrize(
    ("name", "body", "shown"),
    [
        ("ev.csv", "t,x,y,p\n1,5,6,1\n2,nan,8,0\n", "'nan' at line 3 of"),
        ("ev.csv", "t,x,y,p\n0.5,5,6,1\n0.6,7,6.5,0\n", "'6.5' at line 3 of"),
        ("ev.txt", "\n0.1 5 6 1\n0.2 7 -inf 0\n", "'-inf' at line 3 of"),
        ("ev.txt", "0,1 5 6 1\n0,2 7,5 8 0\n", "'7,5' at line 2 of"),
    ],
)
def test_a_coordinate_that_is_no_whole_number_is_named_by_its_line(tmp_path, name, body, shown):
    path = _write(tmp_path, name, body)
    with pytest.raises(InvalidEventsError) as info:
        _read(path)
    assert "holds non-integer values (such as " + shown in str(info.value)


def test_build_events_names_a_coordinate_beyond_int64_by_its_index():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidEventsError, match=r"such as 1e\+20 at index 1$"):
            build_events(
                np.array([5.0, 1e20]),
                np.array([1.0, 2.0]),
                np.array([1, 2]),
                np.array([1, 0], np.int8),
                [],
            )


@pytest.mark.parametrize(
    ("body", "kw", "line", "value"),
    [
        # the times are seconds (a point, or a given unit): a NaN was named by its index
        ("nan 5 6 1\n0.2 7 8 0\n", {}, 1, "nan"),
        ("0.1 5 6 1\nNaN 7 8 0\n", {"time_unit": "s"}, 2, "NaN"),
        ("# t x y p\n1 5 6 1\nnan 7 8 0\n", {"time_unit": "us"}, 3, "nan"),
        ("1 5.0 6 1\n-inf 7 8 0\n", {}, 2, "-inf"),
        ("0,1 5 6 1\nnan 7 8 0\n", {}, 2, "nan"),
    ],
)
def test_rpg_text_with_a_time_that_is_no_number_names_its_line(tmp_path, body, kw, line, value):
    path = _write(tmp_path, "ev.txt", body)
    with pytest.raises(EventFileError) as info:
        _read(path, **kw)
    assert f"{str(path)!r}, line {line}: time {value!r} is not a number" in str(info.value)


def test_rpg_text_with_a_time_beyond_float64_names_its_line(tmp_path):
    path = _write(tmp_path, "ev.txt", "0 5 6 1\n1e400 7 8 0\n")
    with pytest.raises(EventFileError, match=r"line 2: time '1e400' is too large"):
        _read(path)


# -- second look: rows with more fields than the header names ---------------------------------
@pytest.mark.parametrize(
    ("body", "line", "given", "extra"),
    [
        # x,y,p,t with 1,234 µs: t was read as 1
        ("x,y,p,t\n5,6,1,1\n5,6,1,1,234\n", 3, "the header names 4", "234"),
        ("%geometry:64,48\n5,6,1,999\n5,6,1,1,234\n", 3, "Metavision's writer writes 4", "234"),
        ("%geometry:64,48\n5,6,1,1,234\n", 2, "Metavision's writer writes 4", "234"),
        ("# t,x,y,p\n0.5,5,6,1\r\n0.6,7,8,0,5\r\n", 3, "the comment line names 4", "5"),
        ("t;x;y;p\n0,5;5;6;1\n0,6;7;8;0;;0,7\n", 3, "the header names 4", "0,7"),
        ('t,x,y,p,label\n1,5,6,1,"a\nb"\n2,7,8,0,x,12\n', 4, "the header names 5", "12"),
        # without a header the first line tells
        ("1,5,6,1\n2,7,8,0,1\n", 2, "line 1 holds 4", "1"),
        # an unquoted label holding the delimiter before a number
        ("t,x,y,p,label\n1,5,6,1,run,2\n", 2, "the header names 5", "2"),
    ],
)
def test_a_row_with_a_number_past_the_named_fields_is_refused(tmp_path, body, line, given, extra):
    path = _write(tmp_path, "ev.csv", body)
    with pytest.raises(EventFileError) as info:
        _read(path)
    msg = str(info.value)
    assert f"{str(path)!r}, line {line}: " in msg, msg
    assert f"where {given}" in msg and f"a field past them ({extra!r}) is a number" in msg, msg


@pytest.mark.parametrize(
    ("body", "t"),
    [
        # trailing delimiters, on every line or on some
        ("t,x,y,p\n1,5,6,1,\n2,7,8,0,,\n", [1, 2]),
        ("t,x,y,p,\n1,5,6,1,\n2,7,8,0,\n", [1, 2]),
        ("x;y;p;t\n5;6;1;1;\n7;8;0;2; \n", [1, 2]),
        # labels: named, holding the delimiter quoted, or unquoted text
        ('t,x,y,p,label\n1,5,6,1,"1,234"\n2,7,8,0,"a,b,c"\n', [1, 2]),
        ("t,x,y,p,label\n1,5,6,1,red, big\n2,7,8,0,x\n", [1, 2]),
        ("t,x,y,p\n1,5,6,1,abc\n2,7,8,0\n", [1, 2]),
        # the first line has the most fields
        ("1,5,6,1,9\n2,7,8,0,9\n", [1, 2]),
        # a quoted label past the csv module's field limit (128 KiB) that looks at the rows
        ('t,x,y,p,label\n1,5,6,1,"' + "a," * 70000 + '"\n2,7,8,0,x\n', [1, 2]),
    ],
)
def test_rows_past_the_named_fields_without_numbers_are_read(tmp_path, body, t):
    cols, _ = _read(_write(tmp_path, "ev.csv", body))
    assert cols[0] == t


# -- second look: what the round's fixes must still read ----------------------------------------
@pytest.mark.parametrize(
    ("name", "body", "t"),
    [
        # a European Excel's: semicolons or tabs, decimal commas
        ("ev.csv", "t;x;y;p\n0,000123;12;34;1\n0,000200;1;2;0\n", [123, 200]),
        ("ev.csv", "0,000123;12;34;1\n0,000200;1;2;0\n", [123, 200]),
        ("ev.csv", "t\tx\ty\tp\n0,000123\t12\t34\t1\n0,000200\t1\t2\t0\n", [123, 200]),
        ("ev.txt", "0,000123\t12\t34\t1\n0,000200\t1\t2\t0\n", [123, 200]),
        # lines whose commas may group thousands until one that settles it: all decimal
        ("ev.txt", "1,234 5 6 1\n" * 50 + "1,5 7 8 0\n", [1234000] * 50 + [1500000]),
        ("ev.csv", "t;x;y;p\n" + "1,234;5;6;1\n" * 50 + "1,5;7;8;0\n", [1234000] * 50 + [1500000]),
        # Metavision's, no commas in its numbers
        ("ev.csv", "%geometry:64,48\n5,6,1,1234\n7,8,0,2345\n", [1234, 2345]),
        ("ev.csv", "x,y,p,t\n5,6,1,1234\n7,8,0,2345\n", [1234, 2345]),
    ],
)
def test_files_the_round_must_not_refuse_are_read(tmp_path, name, body, t):
    cols, _ = _read(_write(tmp_path, name, body))
    assert sorted(cols[0]) == sorted(t)
