"""Sixth review of eventsim's event-file I/O: each test fails without its fix."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.errors import EventFileError
from eventsim.events import EVENT_DTYPE
from eventsim.io import open_events, write_events
from eventsim.io.hdf5_reader import EventReader
from eventsim.io.text import text_times_to_us

DATA = Path(__file__).resolve().parent / "data"


# -- CSV and text with decimal seconds -----------------------------------------------------------
def test_a_csv_of_decimal_seconds_is_read_to_the_microsecond(tmp_path):
    # faery's CSV decoder refused them ('parsing field "t" ("0.000123") ... failed'); the
    # times are rounded from their digits: float64 puts epoch seconds with more than six
    # decimals on the wrong microsecond near a half (1755187267.63696149 on ...962)
    path = tmp_path / "e2vid.csv"
    path.write_text(
        "0.000001,10,20,1\n1e-06,11,20,0\n0.0000035,1,2,1\n0.000123,3,4,0\n"
        "1600000000.123456789,5,6,1\n1755187267.63696149,0,0,0\n"
    )
    with open_events(path, sensor_size=(64, 48)) as r:
        ev = r.read()
        assert r.time_unit_detected == "s" and r.layout == "csv"
        assert any("seconds (decimal times in the CSV)" in n for n in r.notes)
    assert ev["t"].tolist() == [1, 1, 4, 123, 1_600_000_000_123_457, 1_755_187_267_636_961]
    assert ev["x"].tolist() == [10, 11, 1, 3, 5, 0] and ev["p"].tolist() == [1, 0, 1, 0, 1, 0]


def test_decimal_times_round_half_to_even_from_their_digits():
    cases = {
        b"0.0000005": 0,
        b"0.0000015": 2,
        b"0.00000250000001": 3,
        b"-0.0000035": -4,
        b"1600000000.1234565": 1_600_000_000_123_456,
        b"1.5E-05": 15,
        b".5": 500_000,
        b"7": 7_000_000,
    }
    got = text_times_to_us(np.array(list(cases)), "s", "t")
    assert got.tolist() == list(cases.values())
    assert text_times_to_us(np.array([b"1500", b"2500.5", b"-1500"]), "ns", "t").tolist() == [
        2,
        3,
        -2,
    ]
    with pytest.raises(EventFileError, match=r"data row 2: time '1\.2\.3' is not a number"):
        text_times_to_us(np.array([b"1", b"1.2.3"]), "s", "t")


def test_a_csv_header_names_the_unit_and_the_column_order(tmp_path):
    path = tmp_path / "metavision_ms.csv"
    path.write_text("x,y,p,t_ms\n1,2,1,1.5\n3,0,-1,2.0005\n")
    with open_events(path, sensor_size=(8, 4)) as r:
        assert r.read()["t"].tolist() == [1500, 2000]
        assert r.time_unit_detected == "ms"
        assert any("header's order (x,y,p,t)" in n for n in r.notes)
    path = tmp_path / "bracket.csv"
    path.write_text("t [s],x,y,p\n1,0,0,1\n2,1,1,0\n")
    assert open_events(path, sensor_size=(8, 4)).read()["t"].tolist() == [1_000_000, 2_000_000]


def test_whole_numbers_written_as_decimals_are_refused_as_ambiguous(tmp_path):
    path = tmp_path / "float_us.csv"
    path.write_text("t,x,y,p\n1000.0,1,2,1\n2500.0,3,4,0\n")
    with pytest.raises(EventFileError) as caught:
        open_events(path, sensor_size=(8, 8))
    msg = str(caught.value)
    assert "'1000.0'" in msg and "seconds or microseconds" in msg
    assert "integer microseconds" in msg and "t_us" in msg and "time_unit" in msg
    assert open_events(path, sensor_size=(8, 8), time_unit="us").read()["t"].tolist() == [
        1000,
        2500,
    ]


def test_a_csv_of_unsorted_integer_times_is_sorted_not_clamped(tmp_path):
    # faery raised each time below the one before to it, silently: 5, 3 came out as 5, 5
    path = tmp_path / "unsorted.csv"
    path.write_text("t,x,y,p\n5,1,1,1\n3,2,2,0\n")
    with open_events(path, sensor_size=(8, 8)) as r:
        ev = r.read()
        assert any("not sorted" in n for n in r.notes)
        assert r.time_unit_detected == "us"
    assert ev["t"].tolist() == [3, 5] and ev["x"].tolist() == [2, 1]


def test_rpg_text_times_are_exact_and_commas_separate_too(tmp_path):
    path = tmp_path / "events.txt"
    # as float64, x 1e6, 0.49 us past a microsecond came out as the next one
    path.write_text("64 48\n0.0000035 1 2 1\n1755187267.63696149 3 4 0\n")
    assert open_events(path).read()["t"].tolist() == [4, 1_755_187_267_636_961]
    path = tmp_path / "commas.txt"
    path.write_text("0.000123,10,20,1\n0.000124,11,20,0\n")
    with open_events(path, sensor_size=(64, 48)) as r:
        assert r.read()["t"].tolist() == [123, 124] and r.time_unit_detected == "s"


# -- EvQA ----------------------------------------------------------------------------------------
def _evqa_layout(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return {
            "events": {k: f["events"][k].dtype.str for k in f["events"]},
            "attrs": {k for k in f.attrs if k not in ("camera_type",)},
            "ts0": int(f["events/ts"][0]),
        }


def test_the_evqa_writer_writes_the_reference_layout_and_reads_back_absolute(tmp_path):
    # it wrote absolute int64 ts and no base_time; EvQA's files (tests/data/evqa.h5, after
    # its README) hold uint64 ts counting from the first event and base_time in epoch seconds
    ev = np.zeros(5, EVENT_DTYPE)
    ev["t"] = 1_700_000_000_123_457 + np.array([0, 3, 3, 900, 2_500_000])
    ev["x"] = [0, 55, 3, 4, 5]
    ev["y"] = [0, 41, 2, 1, 0]
    ev["p"] = [1, 0, 1, 1, 0]
    path = tmp_path / "q.h5"
    write_events(path, ev, (56, 42), fmt="evqa")
    ours, ref = _evqa_layout(path), _evqa_layout(DATA / "evqa.h5")
    assert ours["events"] == ref["events"] and ours["ts0"] == ref["ts0"] == 0
    assert ours["attrs"] == ref["attrs"]
    with h5py.File(path, "r") as f:
        assert f.attrs["base_time"] == pytest.approx(1_700_000_000.123457)
    with open_events(path) as r:
        assert r.read().tolist() == ev.tolist()
        assert r.t_offset_us == 1_700_000_000_123_457
        assert any("base_time" in n for n in r.notes)


def test_evqa_times_beyond_what_a_double_holds_to_the_microsecond_stay_exact(tmp_path):
    ev = np.zeros(2, EVENT_DTYPE)
    ev["t"] = [5_000_000_000_000_000_123, 5_000_000_000_000_000_124]
    path = tmp_path / "far.h5"
    write_events(path, ev, (4, 4), fmt="evqa")
    with h5py.File(path, "r") as f:
        assert f["events/ts"][()].tolist() == [123, 124]  # from the whole second
    assert open_events(path).read()["t"].tolist() == ev["t"].tolist()


def test_the_evqa_reference_file_reads_on_its_base_time():
    with open_events(DATA / "evqa.h5") as r:
        assert r.t_offset_us == 1_500_000_000_250_000
        assert r.t_start_us == 1_500_000_000_250_000
        assert r.frame_ts_us[0] == 1_500_000_000_250_000 + 834_511


# -- a foreign ms_to_idx wrong in the middle -----------------------------------------------------
def _middle_bad_index_file(path: Path, bad: bool = True) -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    t = np.sort(rng.integers(0, 400_000 // 250, n) * 250)
    ms = np.searchsorted(t, np.arange(t[-1] // 1000 + 2) * 1000, side="left")
    k = len(ms) // 2 + 3
    assert ms[k + 1] > ms[k] + 2
    ms[k] += 2 * bad
    with h5py.File(path, "w") as f:
        f.create_dataset("events/x", data=rng.integers(0, 64, n).astype(np.uint16), chunks=(256,))
        f.create_dataset("events/y", data=rng.integers(0, 48, n).astype(np.uint16), chunks=(256,))
        f.create_dataset("events/t", data=t.astype(np.uint32), chunks=(256,))
        f.create_dataset("events/p", data=rng.integers(0, 2, n).astype(np.uint8), chunks=(256,))
        f["t_offset"] = np.int64(0)
        f["ms_to_idx"] = ms.astype(np.uint64)


def test_a_bad_ms_to_idx_entry_no_read_used_is_found_by_the_full_check(tmp_path):
    path = tmp_path / "middle.h5"
    _middle_bad_index_file(path)
    with EventReader(path, sensor_size=(64, 48)) as r:
        assert r.notes == []  # open stays cheap: the middle is not looked at
        r.check_ms_index()
        assert any("ms_to_idx does not match" in n and "first ms_to_idx[" in n for n in r.notes)
        assert r._unchecked is None
    good = tmp_path / "good.h5"
    _middle_bad_index_file(good, bad=False)
    with EventReader(good, sensor_size=(64, 48)) as r:
        r.check_ms_index()
        assert r.notes == [] and r._unchecked is None


def test_eventsim_info_reports_a_bad_ms_to_idx_entry_in_the_middle(tmp_path, capsys):
    from eventsim.cli import info

    path = tmp_path / "middle.h5"
    _middle_bad_index_file(path)
    assert info.main([str(path), "--sensor-size", "64x48"]) == 0
    out = capsys.readouterr().out
    assert "note: the file's ms_to_idx does not match its event times" in out


def test_eventsim_info_names_a_millisecond_unit(tmp_path, capsys):
    from eventsim.cli import info

    path = tmp_path / "ms.csv"
    path.write_text("t_ms,x,y,p\n1.5,1,2,1\n")
    assert info.main([str(path), "--sensor-size", "8x8"]) == 0
    assert "time unit:       milliseconds in the file" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("header", "unit"), [("t,x,y,p", None), ("t_ns,x,y,p", None), ("x,y,p,t", "ms")]
)
def test_integer_csv_fast_path_reads_what_the_text_path_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, header: str, unit: str | None
) -> None:
    from eventsim.io import text

    rng = np.random.default_rng(3)
    n = 500
    t = np.sort(rng.integers(0, 10**9, n))
    t[:4] = [1500, 2500, 3500, 3501]  # half-way nanoseconds round to even
    cols = {"t": t, "x": rng.integers(0, 64, n), "y": rng.integers(0, 48, n)}
    cols["p"] = rng.integers(0, 2, n)
    names = [c.split("_")[0] for c in header.split(",")]
    rows = "\n".join(",".join(str(cols[c][i]) for c in names) for i in range(n))
    path = tmp_path / "ev.csv"
    path.write_text(f"{header}\n{rows}\n")
    fast = open_events(path, sensor_size=(64, 48), time_unit=unit)
    monkeypatch.setattr(text, "_integer_table", lambda *a: None)
    slow = open_events(path, sensor_size=(64, 48), time_unit=unit)
    assert fast.notes == slow.notes
    np.testing.assert_array_equal(fast.read(), slow.read())
