"""Round 11 of the text readers (eventsim/io/text.py):

- a CSV field that opens with a quote no quote closes is found by CSV's quoting rules (a quote
  opens a field only at its start, ``""`` inside a quoted field is a quote): counting quotes
  took ``"a""`` for closed, so the table read every line below it as that one field;
- a CSV polarity that is no finite number (``nan``, ``inf``) is named as written, by its line
  in the file, as the other values are: it was named by its index among the rows;
- a headerless CSV whose first line holds more fields than the line below, a number among the
  extra ones, is refused naming both lines and their counts: that line set the fields per line;
- a semicolon or tab CSV whose every comma may be a decimal mark or group thousands
  (``1,234``: times from 1 s on with three decimals, or 1234 µs) is read with decimal marks where
  its times are in seconds, as its header or ``time_unit`` says (grouped, each would be a whole
  second); otherwise its refusal says how to say so. Times written with points (``1.234``) were
  never refused: they are seconds.
"""

from __future__ import annotations

import pytest
from test_text_round9 import _read, _write

from eventsim.cli import main as eventsim_main
from eventsim.errors import EventFileError, InvalidEventsError


# -- quotes --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "line", "field"),
    [
        # an escaped quote at the end of an unclosed field: four quotes counted even
        ('t,x,y,p,label\n1,5,6,1,"a""\n2,7,8,0,x\n3,9,9,1,y\n', 2, '"a""'),
        ('t\tx\ty\tp\tlabel\n1\t5\t6\t1\t"a""b""\n2\t7\t8\t0\tx\n3\t9\t9\t1\t""\n', 2, '"a""b""'),
        # a quote inside a field quotes nothing, and its count hid the unclosed one
        ('t,x,y,p,label\n1,5,6,1,5" screen\n2,7,8,0,"abc\n3,9,9,1,y\n', 3, '"abc'),
    ],
)
def test_an_unclosed_quote_is_found_by_csv_quoting_rules(tmp_path, body, line, field):
    with pytest.raises(EventFileError) as info:
        _read(_write(tmp_path, "ev.csv", body))
    assert f"line {line}: a field opens with a quote that no quote closes ({field!r})" in str(
        info.value
    )


@pytest.mark.parametrize(
    "body",
    [
        # a quoted field over two lines whose second starts with its closing quote: the last
        # quote of the file stood at a line's start with the quotes odd
        't,x,y,p,label\n1,5,6,1,a"b\n2,7,8,0,"c\n",d\n3,9,9,1,y\n',
        # escaped quotes, and quotes inside unquoted fields
        't,x,y,p,label\n1,5,6,1,""""\n2,7,8,0,"say ""hi"""\n3,9,9,1,a"b"c"\n',
        # a quote in a comment line below the first is no field's
        't,x,y,p,label\n1,5,6,1,x\n# it"s here\n2,7,8,0,"y"\n3,9,9,1,z\n',
    ],
)
def test_quotes_that_csv_reads_closed_are_read(tmp_path, body):
    cols, _ = _read(_write(tmp_path, "ev.csv", body))
    assert cols[0] == [1, 2, 3]


# -- polarity ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "shown"),
    [
        # integer times, a header, a blank line: the line counts them all
        ("t,x,y,p\n1,2,3,1\n\n2,3,4,nan\n", "'nan' at line 4 of"),
        ("# by hand\n0.1,2,3,1\n0.2,3,4,inf\n", "'inf' at line 3 of"),
        ("t;x;y;p\n0,1;2;3;1\n0,2;3;4;NaN\n", "'NaN' at line 3 of"),
    ],
)
def test_a_polarity_that_is_no_finite_number_is_named_by_its_line(tmp_path, body, shown):
    path = _write(tmp_path, "ev.csv", body)
    with pytest.raises(InvalidEventsError) as info:
        _read(path)
    message = str(info.value)
    assert f"polarity is {shown} {str(path)!r}; expected 0/1 or -1/+1" in message
    assert "index" not in message


# -- a first line longer than the lines below ----------------------------------------------------
@pytest.mark.parametrize(
    ("body", "first", "below", "counts", "extra"),
    [
        # its 7 was dropped, and the lines below were held to 5 fields: line 3's 8 went unseen
        ("1,2,3,1,7\n2,3,4,0\n3,4,5,1,8\n", 1, 2, (5, 4), "7"),
        # comment and blank lines counted, a quoted field holding the delimiter one field
        ('# by hand\n\n1;2;3;1;7;9\n\n2;3;4;0;"a;b"\n', 3, 5, (6, 5), "9"),
        ('"1"\t"2"\t"3"\t"1"\t"7"\n"2"\t"3"\t"4"\t"0"\n', 1, 2, (5, 4), "7"),
    ],
)
def test_a_first_line_with_more_fields_than_the_next_is_refused(
    tmp_path, body, first, below, counts, extra
):
    with pytest.raises(EventFileError) as info:
        _read(_write(tmp_path, "ev.csv", body))
    message = str(info.value)
    assert f"line {first}: " in message
    assert f"holds {counts[0]} " in message and f"line {below} below it {counts[1]}," in message
    assert f"past those {counts[1]} ({extra!r}) is a number" in message


@pytest.mark.parametrize(
    "body",
    [
        # a label on the first line only, a trailing delimiter, a quoted delimiter
        "1,2,3,1,start\n2,3,4,0\n",
        "1,2,3,1,\n2,3,4,0\n",
        '1,2,3,1,"a,b"\n2,3,4,0,c\n',
        # every line with a fifth number: a column of its own
        "1,2,3,1,7\n2,3,4,0,8\n",
        # a header names the fields
        "t,x,y,p,n\n1,2,3,1,7\n2,3,4,0\n",
    ],
)
def test_first_lines_whose_extra_fields_are_no_dropped_number_are_read(tmp_path, body):
    cols, _ = _read(_write(tmp_path, "ev.csv", body))
    assert cols[0] == [1, 2]


# -- commas that may be decimal marks or group thousands -----------------------------------------
_GROUPED = "1,234;10;20;1\n1,456;11;21;0\n2,001;12;22;1\n"


@pytest.mark.parametrize(
    ("body", "kw", "unit_note"),
    [
        (_GROUPED, {"time_unit": "s"}, "time unit given: seconds"),
        ("t [s];x;y;p\n" + _GROUPED, {}, "time unit from the CSV header: seconds"),
        ("t_s\tx\ty\tp\n" + _GROUPED.replace(";", "\t"), {}, "time unit from the CSV header"),
        # the caller's unit over the header's
        ("t_us;x;y;p\n" + _GROUPED, {"time_unit": "s"}, "time unit given: seconds"),
    ],
)
def test_commas_of_times_in_seconds_are_read_as_decimal_marks(tmp_path, body, kw, unit_note):
    cols, notes = _read(_write(tmp_path, "ev.csv", body), **kw)
    assert cols[0] == [1234000, 1456000, 2001000]
    assert unit_note in " | ".join(notes)
    assert any("commas taken for decimal marks" in n and "whole second" in n for n in notes)


@pytest.mark.parametrize(
    ("body", "kw", "hint"),
    [
        (_GROUPED, {}, True),
        ("t_us;x;y;p\n" + _GROUPED, {}, True),
        (_GROUPED, {"time_unit": "ms"}, True),
        # a comma in a coordinate too: the unit of the times tells nothing of it
        ("1,234;1,023;20;1\n1,456;11;21;0\n", {"time_unit": "s"}, False),
    ],
)
def test_commas_that_may_group_thousands_are_still_refused(tmp_path, body, kw, hint):
    with pytest.raises(EventFileError) as info:
        _read(_write(tmp_path, "ev.csv", body), **kw)
    message = str(info.value)
    assert "'1,234' may be a number with a decimal comma (1.234) or with its thousands" in message
    said = "or, for times in seconds, pass time_unit='s' or name the time column 't [s]'"
    assert message.endswith(said) is hint, message


def test_the_refusal_names_the_option_in_the_cli(tmp_path, capsys):
    path = _write(tmp_path, "ev.csv", _GROUPED)
    argv = ["convert", str(path), str(tmp_path / "out.h5"), "--sensor-size", "64x48"]
    assert eventsim_main(argv) != 0
    assert "pass --time-unit s or name the time column 't [s]'" in capsys.readouterr().err
    assert eventsim_main([*argv, "--time-unit", "s"]) == 0


def test_times_with_points_and_three_decimals_are_seconds(tmp_path):
    for name, body in [
        ("ev.csv", _GROUPED.replace(",", ".").replace(";", ",")),
        ("ev.txt", _GROUPED.replace(",", ".").replace(";", " ")),
    ]:
        cols, _ = _read(_write(tmp_path, name, body))
        assert cols[0] == [1234000, 1456000, 2001000]
