"""Second look at the sixth review's CSV/TXT/EvQA readers: each test fails without its fix."""

import h5py
import numpy as np
import pytest

from eventsim.errors import EventFileError, InvalidEventsError
from eventsim.io import open_events
from eventsim.io.text import float_times_to_us, text_times_to_us


# -- CSV: what the first line is -----------------------------------------------------------------
def test_a_csv_whose_lines_end_with_a_comma_keeps_its_first_event(tmp_path):
    # the empty field after the comma is no number, so the first event was taken for a header
    # and dropped without a word
    path = tmp_path / "trailing.csv"
    path.write_text("1,2,3,1,\n2,3,4,0,\n")
    with open_events(path, sensor_size=(8, 8)) as r:
        ev = r.read()
    assert ev["t"].tolist() == [1, 2] and ev["x"].tolist() == [2, 3]


@pytest.mark.parametrize(
    ("row", "bad"), [("0x10,2,3,1", "'0x10' is not a number"), ("1,2,3,yes", "'yes'")]
)
def test_a_first_row_with_one_bad_field_is_refused_not_taken_for_a_header(tmp_path, row, bad):
    # a one-event file came out empty; with more rows, the error named the second row
    path = tmp_path / "bad.csv"
    path.write_text(row + "\n")
    with pytest.raises(EventFileError, match=rf"line 1: .*{bad}"):
        open_events(path, sensor_size=(8, 8))


def test_a_csv_separated_by_tabs_or_semicolons_is_read(tmp_path):
    # its one field per line was taken for a header: a one-row file read as no events; since
    # tests/test_io_text8b such files are read, and their delimiter counts a short line's fields
    for name, line in (("tab.csv", "1\t2\t3\t1\n"), ("semi.csv", "1;2;3;1\n")):
        path = tmp_path / name
        path.write_text(line)
        assert open_events(path, sensor_size=(8, 8)).read()["x"].tolist() == [2]
        path.write_text(line[:-3] + "\n")
        with pytest.raises(EventFileError, match=r"holds 3 (tab|semicolon)-separated fields"):
            open_events(path, sensor_size=(8, 8))


def test_blank_lines_before_a_csv_header_are_skipped(tmp_path):
    # skiprows counted the blank line, so the header was read as data ("time 't'")
    path = tmp_path / "blank.csv"
    path.write_text("\n\r\nt,x,y,p\n1,2,3,1\n")
    assert open_events(path, sensor_size=(8, 8)).read()["t"].tolist() == [1]


# -- CSV: fields ---------------------------------------------------------------------------------
def test_quoted_numbers_are_read(tmp_path):
    # csv.writer(quoting=QUOTE_ALL) writes them so; they were refused ("time '"1"'")
    path = tmp_path / "quoted.csv"
    path.write_text('"t","x","y","p"\n"0.000001","2","3","1"\n"0.5","4","5","0"\n')
    ev = open_events(path, sensor_size=(8, 8)).read()
    assert ev["t"].tolist() == [1, 500_000] and ev["x"].tolist() == [2, 4]
    path.write_text('"1","2","3","1"\n"2","4","5","0"\n')
    assert open_events(path, sensor_size=(8, 8)).read()["t"].tolist() == [1, 2]


def test_a_true_false_polarity_column_is_read_as_1_0(tmp_path):
    # pandas writes a bool column so; the first row was taken for a header, then the second
    # refused as 'False' is not a number
    path = tmp_path / "bool.csv"
    path.write_text("1,2,3,True\n2,3,4,False\n3,4,5,true\n")
    with open_events(path, sensor_size=(8, 8)) as r:
        ev = r.read()
        assert any("True/False" in n for n in r.notes)
    assert ev["p"].tolist() == [1, 0, 1] and ev["t"].tolist() == [1, 2, 3]
    path.write_text("t,x,y,p\n0.5,2,3,False\n0.6,3,4,True\n")
    assert open_events(path, sensor_size=(8, 8)).read()["p"].tolist() == [0, 1]


def test_an_infinite_coordinate_is_named(tmp_path):
    # inf passed the whole-number check and became INT64_MIN, with a RuntimeWarning and
    # "values outside int16: -9223372036854775808"
    path = tmp_path / "inf.csv"
    path.write_text("1,inf,3,1\n")
    with pytest.raises(InvalidEventsError, match=r"column 'x' holds non-integer values .*inf"):
        open_events(path, sensor_size=(8, 8))


# -- float64 where it is provably exact ----------------------------------------------------------
def test_float_times_are_taken_only_where_they_give_the_digits_microsecond():
    whole = np.array([b"0.003811000", b"1755187267.636961", b"-0.000005", b"4294967295.999999"])
    got = float_times_to_us(whole.astype(np.float64), "s")
    assert got is not None and got.tolist() == text_times_to_us(whole, "s", "t").tolist()
    assert float_times_to_us(np.array([1.5, 2.0]), "ms").tolist() == [1500, 2000]
    # not a whole microsecond, past 2**32 s, a near tie in ns, not finite: the text decides
    for values, unit in (
        ([0.0000015], "s"),
        ([1755187267.63696149], "s"),
        ([4294967296.000001], "s"),
        ([2500.0], "ns"),
        ([np.nan], "s"),
        ([np.inf], "us"),
    ):
        assert float_times_to_us(np.array(values), unit) is None, values


def test_rpg_text_reads_exactly_on_both_paths(tmp_path):
    rows = "64 48\r\n0.003811000 1 2 1\r\n\r\n0.003812000 3 4 0\r\n"
    path = tmp_path / "ecd.txt"
    path.write_text(rows)
    with open_events(path) as r:
        assert r.sensor_size == (64, 48) and r.read()["t"].tolist() == [3811, 3812]
    # one time that is not a whole microsecond sends the column to the digit conversion
    path.write_text("0.0000025 1 2 1\n1755187267.636961490 3 4 0\n")
    assert open_events(path, sensor_size=(8, 8)).read()["t"].tolist() == [
        2,
        1_755_187_267_636_961,
    ]


def test_rpg_text_with_five_values_a_line_is_refused(tmp_path):
    path = tmp_path / "five.txt"
    path.write_text("0.1 1 2 1 7\n0.2 3 4 0 7\n0.3 5 6 1 7\n0.4 7 7 0 7\n")
    # 20 values, a multiple of 4, were grouped across line ends and refused for an x of 0.2
    with pytest.raises(EventFileError, match="lines hold 5 values; expected 4"):
        open_events(path, sensor_size=(8, 8))


# -- EvQA ----------------------------------------------------------------------------------------
def test_a_bad_evqa_base_time_is_not_called_a_damaged_file(tmp_path):
    path = tmp_path / "evqa.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        for k in ("xs", "ys", "ts", "ps"):
            g[k] = np.array([0, 1], np.uint16)
        f.attrs["base_time"] = "yesterday"
    with pytest.raises(EventFileError) as caught:
        open_events(path)
    assert "base_time" in str(caught.value) and "corrupt" not in str(caught.value)
