"""Second look at the text readers' delimiter detection and ``#`` comment lines (2523cf0).

- A comma CSV whose first line also holds 3 or more semicolons or tabs in a text field (quoted,
  or unquoted as pandas writes a field without a comma) was refused as mixing delimiters; it
  was read before. The delimiter whose fields make the line a header naming t, x, y, p, or a
  data line whose first four fields are numbers, is taken; a line that fits both or neither
  is still refused.
- ``np.savetxt(f, no_events, header="t,x,y,p", delimiter=",")`` writes only ``# t,x,y,p``: that
  CSV of no events was read before and was refused as holding only comment lines.
- rpg text whose comment line names t, x, y, p in that order among other words (``# columns:
  t x y p``, ``# t [s] x y p``, v2e's ``# Format is time (float s), x, y, polarity ...``) was
  refused as naming "another order".
"""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import EventFileError
from eventsim.io import open_events

SIZE = (64, 48)
EXPECTED = [[5, 7], [1, 3], [2, 4], [1, 0]]


def _read(path, **kw):
    with open_events(path, sensor_size=SIZE, **kw) as r:
        ev = r.read()
        return [ev[k].tolist() for k in "txyp"], list(r.notes)


@pytest.mark.parametrize(
    "text",
    [
        # a label column: quoted, or unquoted as pandas writes a field without a comma
        '5,1,2,1,"a;b;c;d"\n7,3,4,0,"e"\n',
        "5,1,2,1,a;b;c;d\n7,3,4,0,e\n",
        '5,1,2,1,"a\tb\tc\td"\n7,3,4,0,"e"\n',
        "t,x,y,p,note;a;b;c\n5,1,2,1,n\n7,3,4,0,n\n",
        't,x,y,p,"label; camera; A; gen4"\n5,1,2,1,n\n7,3,4,0,n\n',
    ],
)
def test_comma_csv_with_semicolons_or_tabs_in_a_text_field_is_read(tmp_path, text):
    path = tmp_path / "ev.csv"
    path.write_text(text)
    assert _read(path)[0] == EXPECTED


def test_semicolon_csv_with_commas_in_a_text_field_is_read(tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text("5;1;2;1;a,b,c,d\n7;3;4;0;e\n")
    assert _read(path)[0] == EXPECTED


@pytest.mark.parametrize(
    "first",
    [
        "t,x,y,p;;;",  # neither split names the four columns
        "0,5;1,0;2,0;1,0,5",  # decimal commas, but the fourth field holds two: neither fits
    ],
)
def test_a_line_no_delimiter_fits_is_still_refused(tmp_path, first):
    path = tmp_path / "ev.csv"
    path.write_text(first + "\n5,1,2,1\n")
    with pytest.raises(EventFileError, match="commas and 3 semicolons"):
        _read(path)


@pytest.mark.parametrize("header", ["t,x,y,p", "x,y,p,t", "t\tx\ty\tp"])
def test_savetxt_csv_of_no_events_with_a_header_is_read(tmp_path, header):
    path = tmp_path / "ev.csv"
    np.savetxt(path, np.zeros((0, 4)), header=header, delimiter=",")
    assert path.read_text().startswith("# ")
    cols, _ = _read(path)
    assert cols == [[], [], [], []]


def test_csv_of_only_other_comments_is_still_refused(tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text("# recorded 2024\n# camera A\n")
    with pytest.raises(EventFileError, match="holds only comment and blank lines"):
        _read(path)


@pytest.mark.parametrize(
    "comment",
    [
        "# columns: t x y p",
        "# t [s] x y p",
        "# Format is time (float s), x, y, polarity (0=off, 1=on) as specified at "
        "http://rpg.ifi.uzh.ch/davis_data.html",
    ],
)
def test_rpg_comment_naming_t_x_y_p_in_order_among_other_words_is_read(tmp_path, comment):
    path = tmp_path / "events.txt"
    path.write_text(comment + "\n0.000005 1 2 1\n0.000007 3 4 0\n")
    assert _read(path)[0] == EXPECTED


def test_rpg_comment_naming_another_order_is_still_refused(tmp_path):
    path = tmp_path / "events.txt"
    path.write_text("# columns: x y p t\n1 2 1 0.000005\n")
    with pytest.raises(EventFileError, match="another order"):
        _read(path)


def test_v2e_text_output_is_read(tmp_path):
    # the header v2e's DVSTextOutput writes before 'time x y p' lines (time as Python's str)
    path = tmp_path / "v2e-dvs-events.txt"
    path.write_text(
        "#!events.txt\n"
        "# This is a text DVS created by v2e (see https://github.com/SensorsINI/v2e)\n"
        "# Format is time (float s), x, y, polarity (0=off, 1=on), signal/noise (1/0)\n"
        "#  as specified at http://rpg.ifi.uzh.ch/davis_data.html\n"
        "# Creation time: 11:03PM November 28 2026\n"
        "# Creation time: System.currentTimeMillis() 1795000000000\n"
        "# User name: tobi\n"
        "5e-06 1 2 1\n7e-06 3 4 0\n"
    )
    assert _read(path)[0] == EXPECTED
