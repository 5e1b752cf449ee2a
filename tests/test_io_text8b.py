"""Event text files as researchers write them.

- CSV: ``#`` comment lines at the top are skipped (one naming the four columns is read as the
  header), tab- and semicolon-separated files (``.csv`` or ``.tsv``) are read; rpg text skips
  ``#`` comment lines at the top.
- A CSV with a ``t,x,y,p`` header named ``.txt`` was refused as "line 1: 't' is not a number";
  the message names ``layout='csv'`` (``--layout csv`` in the CLI).
- rpg text with True/False polarity is read as 1/0, as CSV reads it.
"""

from __future__ import annotations

import pytest
from test_io_text8 import SIZE, _one_line, _read

from eventsim.cli import main as eventsim_main
from eventsim.errors import EventFileError
from eventsim.io import open_events


# -- CSV variants --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "comment",
    ["# width height\n", "# t x y p\n", "#t,x,y,p\n", "# written by tool 1.0\n#\n# 640 480\n"],
)
def test_csv_comment_lines_at_the_top_are_skipped(tmp_path, comment):
    path = tmp_path / "ev.csv"
    path.write_text(comment + "5,1,2,1\n7,3,4,0\n")
    cols, _ = _read(path)
    assert cols == [[5, 7], [1, 3], [2, 4], [1, 0]]


def test_csv_comment_before_a_header_is_skipped(tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text("# recorded 2024-01-01\nx,y,p,t\n1,2,1,5\n3,4,0,7\n")
    cols, _ = _read(path)
    assert cols == [[5, 7], [1, 3], [2, 4], [1, 0]]


@pytest.mark.parametrize("comment", ["# x,y,p,t\n", "# x y p t\n", "#x\ty\tp\tt\n"])
def test_csv_comment_naming_the_columns_is_the_header(tmp_path, comment):
    # np.savetxt(header="x,y,p,t") writes '# x,y,p,t': the columns are in that order
    path = tmp_path / "ev.csv"
    delimiter = "\t" if "\t" in comment else ","
    path.write_text(comment + f"1{delimiter}2{delimiter}1{delimiter}5\n".replace("\t", delimiter))
    cols, notes = _read(path)
    assert cols == [[5], [1], [2], [1]], notes
    assert any("comment line" in n for n in notes), notes


def test_csv_comment_line_numbers_count_in_messages(tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text("# a\n# b\n5,1,2,1\n7,3,x,0\n")
    with pytest.raises(EventFileError, match="line 4: 'x' is not a number"):
        _read(path)


@pytest.mark.parametrize("name", ["ev.csv", "ev.tsv"])
@pytest.mark.parametrize("sep", ["\t", ";"])
def test_tab_and_semicolon_separated_files_are_read(tmp_path, name, sep):
    path = tmp_path / name
    path.write_text(sep.join("txyp") + "\n" + f"5{sep}1{sep}2{sep}1\n7{sep}3{sep}4{sep}0\n")
    assert _read(path)[0] == [[5, 7], [1, 3], [2, 4], [1, 0]]
    path.write_text(f"0.5{sep}1{sep}2{sep}1\n0.7{sep}3{sep}4{sep}0\n")
    assert _read(path)[0] == [[500000, 700000], [1, 3], [2, 4], [1, 0]]


def test_tab_separated_header_maps_columns_by_name(tmp_path):
    path = tmp_path / "ev.tsv"
    path.write_text("# exported\nx\ty\tpolarity\ttimestamp\n1\t2\t1\t5\n3\t4\t0\t7\n")
    cols, notes = _read(path)
    assert cols == [[5, 7], [1, 3], [2, 4], [1, 0]]
    assert any("header's order" in n for n in notes), notes


def test_a_short_tab_separated_line_is_named_as_tab_separated(tmp_path):
    path = tmp_path / "ev.tsv"
    path.write_text("5\t1\t2\t1\n7\t3\t4\n")
    with pytest.raises(EventFileError, match="line 2 holds 3 tab-separated fields"):
        _read(path)


def test_a_line_of_mixed_separators_is_refused_naming_them(tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text("5,1,2,1;0;1;1\n")
    with pytest.raises(EventFileError) as exc:
        _read(path)
    message = str(exc.value)
    assert "line 1" in message and "commas" in message and "semicolons" in message, message
    assert "comma, tab or semicolon" in message, message


def test_tabs_padding_comma_separated_fields_are_no_delimiter(tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text("5,\t1,\t2,\t1\n7,\t3,\t4,\t0\n")
    assert _read(path)[0] == [[5, 7], [1, 3], [2, 4], [1, 0]]


def test_semicolon_csv_with_decimal_commas_names_the_value(tmp_path):
    # Excel in a decimal-comma locale: read since round 9 (tests/test_text_round9.py); a cell
    # that is no number is named as written
    path = tmp_path / "ev.csv"
    path.write_text("0,5;1;2;1\n0,7;3;4;0\n")
    assert _read(path)[0] == [[500000, 700000], [1, 3], [2, 4], [1, 0]]
    path.write_text("0,5;1;2;1\n0,7,1;3;4;0\n")
    with pytest.raises(EventFileError, match="'0,7,1'"):
        _read(path)


def test_a_csv_of_only_comments_is_refused(tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text("# nothing here\n\n# at all\n")
    with pytest.raises(EventFileError, match="comment"):
        _read(path)


@pytest.mark.parametrize("comment", ["# width height\n", "# t x y p\n", "# 640 480\n#\n"])
@pytest.mark.parametrize("size_line", ["", "64 48\n"])
def test_rpg_text_comment_lines_at_the_top_are_skipped(tmp_path, comment, size_line):
    path = tmp_path / "ev.txt"
    path.write_text(comment + size_line + "0.5 1 2 1\n0.7 3 4 0\n")
    with open_events(path) as r:
        ev = r.read()
        assert ev["t"].tolist() == [500000, 700000] and ev["x"].tolist() == [1, 3]
        assert r.sensor_size == ((64, 48) if size_line else (4, 5))


def test_rpg_text_comment_naming_another_column_order_is_refused(tmp_path):
    path = tmp_path / "ev.txt"
    path.write_text("# x y p t\n1 2 1 0.5\n")
    with pytest.raises(EventFileError, match="t x y p"):
        _read(path)


def test_rpg_text_bad_line_counts_comment_lines(tmp_path):
    path = tmp_path / "ev.txt"
    path.write_text("# a\n# b\n0.5 1 2 1\n0.7 3 q 0\n")
    with pytest.raises(EventFileError, match="line 4: 'q' is not a number"):
        _read(path)


# -- a CSV named .txt ----------------------------------------------------------------------------
@pytest.mark.parametrize("header", ["t,x,y,p", "x,y,p,t", "t\tx\ty\tp", "timestamp;x;y;polarity"])
def test_a_csv_named_txt_names_the_csv_layout(tmp_path, capsys, header):
    sep = next((s for s in ",\t;" if s in header), ",")
    path = tmp_path / "ev.txt"
    path.write_text(header + "\n" + sep.join(["5", "1", "2", "1"]) + "\n")
    with pytest.raises(EventFileError) as exc:
        open_events(path, sensor_size=SIZE)
    assert "pass layout='csv'" in str(exc.value) and "header" in str(exc.value), exc.value
    assert eventsim_main(["info", str(path), "--sensor-size", "8x6"]) == 1
    err = _one_line(capsys.readouterr().err)
    assert "pass --layout csv" in err and "layout='csv'" not in err, err
    # and the hint is right: the CSV layout reads it
    assert eventsim_main(["info", str(path), "--sensor-size", "8x6", "--layout", "csv"]) == 0


def test_a_whitespace_header_in_rpg_text_says_to_make_it_a_comment(tmp_path):
    path = tmp_path / "ev.txt"
    path.write_text("t x y p\n0.5 1 2 1\n")
    with pytest.raises(EventFileError) as exc:
        _read(path)
    assert "'# t x y p'" in str(exc.value), exc.value


# -- True/False polarity in rpg text -------------------------------------------------------------
@pytest.mark.parametrize("sep", [" ", ","])
def test_rpg_text_true_false_polarity_is_one_zero(tmp_path, sep):
    path = tmp_path / "ev.txt"
    path.write_text(
        sep.join(["0.5", "1", "2", "True"]) + "\n" + sep.join(["0.7", "3", "4", "false"])
    )
    cols, notes = _read(path)
    assert cols == [[500000, 700000], [1, 3], [2, 4], [1, 0]]
    assert any("True/False" in n for n in notes), notes
    # as the CSV reads them
    csv = tmp_path / "ev.csv"
    csv.write_text("0.5,1,2,True\n0.7,3,4,false\n")
    assert _read(csv)[0] == cols


def test_rpg_text_polarity_word_other_than_true_false_is_named(tmp_path):
    path = tmp_path / "ev.txt"
    path.write_text("0.5 1 2 True\n0.7 3 4 on\n")
    with pytest.raises(EventFileError, match="line 2: polarity 'on' is not True or False"):
        _read(path)
