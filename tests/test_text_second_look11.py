"""Second look at round 11 of the text readers (tests/test_text_round11.py):

- a headerless CSV whose first line holds a number in a column that is empty on the line below
  (pandas' NaN: ``0,1,4,1,5.0`` over ``10,2,5,0,``) has lines of 5 fields each, and is read as
  before round 11: the first-line check dropped the empty field of the line below and refused it;
- a CSV of many quoted fields (QUOTE_ALL) is checked for an unclosed quote by numpy
  (`_quotes_pair`), not one match per field, which took some 5 times as long as the rest of the
  read; where that check does not settle it, the fields are followed one by one as before.
"""

from __future__ import annotations

import csv
import io
import random

import pytest
from test_text_round9 import _read, _write

from eventsim.errors import EventFileError
from eventsim.io import text


# -- a column empty on the line below ------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        # pandas' to_csv(header=False, index=False) of a fifth column 5.0, NaN, NaN
        "0,1,4,1,5.0\n10,2,5,0,\n20,3,6,1,\n",
        # Excel's semicolon export of the same, with its BOM and CRLF
        "\ufeff0;1;4;1;5\r\n10;2;5;0;\r\n20;3;6;1;\r\n",
        # a writer that ends every line with the delimiter, the fifth column so empty below
        "0,1,4,1,5,\n10,2,5,0,,\n20,3,6,1,,\n",
    ],
)
def test_a_column_empty_on_the_line_below_is_read(tmp_path, body):
    cols, _ = _read(_write(tmp_path, "ev.csv", body))
    assert cols[0] == [0, 10, 20]


def test_a_delimiter_ending_both_lines_still_holds_no_field(tmp_path):
    # the lines hold 5 and 4 values, each followed by a comma: line 1's 7 would be dropped
    with pytest.raises(EventFileError) as info:
        _read(_write(tmp_path, "ev.csv", "1,2,3,1,7,\n2,3,4,0,\n3,4,5,1,\n"))
    assert "line 1: '1,2,3,1,7' holds 5 comma-separated fields, line 2 below it 4" in str(
        info.value
    )


# -- quoted fields -------------------------------------------------------------------------------
def _written(rows, quoting, delimiter=","):
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_quoted_fields_that_all_close_are_settled_by_numpy(delimiter):
    rows = [["t", "x", "y", "p", "label"]]
    rows += [
        [i, i % 7, i % 5, i % 2, ['say "hi"', "a,b;c", "two\nlines", ""][i % 4]] for i in range(40)
    ]
    for quoting in (csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC, csv.QUOTE_MINIMAL):
        raw = _written(rows, quoting, delimiter).encode()
        assert text._quotes_pair(raw, delimiter.encode()), (quoting, raw[:120])


def test_a_quote_all_file_is_read(tmp_path):
    rows = [["t", "x", "y", "p"]] + [[i, i % 7, i % 5, i % 2] for i in range(1000)]
    cols, _ = _read(_write(tmp_path, "ev.csv", _written(rows, csv.QUOTE_ALL)))
    assert cols[0] == list(range(1000))


def test_numpy_settles_no_file_whose_fields_one_by_one_leave_one_open(monkeypatch, tmp_path):
    # what _quotes_pair calls closed, the field-by-field scan finds closed too (it would refuse
    # a field left open with values below it)
    rng = random.Random(11)
    path = tmp_path / "ev.csv"
    settled = 0
    for _ in range(20000):
        delim = rng.choice([b",", b";", b"\t"])
        alphabet = [b'"', b'"', b'"', delim, b"\n", b"1", b" "]
        raw = b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) + b"\n1"
        if not text._quotes_pair(raw, delim):
            continue
        settled += 1
        with monkeypatch.context() as m:
            m.setattr(text, "_quotes_pair", lambda raw, delim: False)
            text._refuse_unclosed_quote(path, raw, delim, 0)
    assert settled > 1000


@pytest.mark.parametrize(
    ("body", "line"),
    [
        # each case of test_text_round11 still refused past the numpy check
        ('t,x,y,p,label\n1,5,6,1,"a""\n2,7,8,0,x\n3,9,9,1,y\n', 2),
        ('t,x,y,p,label\n1,5,6,1,5" screen\n2,7,8,0,"abc\n3,9,9,1,y\n', 3),
        # quoted fields that close, then one that does not
        ('"t","x","y","p","l"\n"1","5","6","1","a"\n"2","7","8","0","b\n3,9,9,1,c\n', 3),
    ],
)
def test_an_unclosed_quote_among_closed_ones_is_refused(tmp_path, body, line):
    with pytest.raises(EventFileError, match=f"line {line}: a field opens with a quote"):
        _read(_write(tmp_path, "ev.csv", body))
