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
"""

from __future__ import annotations

import pytest

from eventsim.errors import EventFileError
from eventsim.io import open_events

SIZE = (64, 48)


def _read(path, **kw):
    with open_events(path, sensor_size=SIZE, **kw) as r:
        ev = r.read()
        return [ev[k].tolist() for k in "txyp"], list(r.notes)


def _write(tmp_path, name, body):
    path = tmp_path / name
    path.write_bytes(body.encode())
    return path


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
