"""A second look at the day's fixes to eventsim's I/O, rendering and file commands: each test
fails without its mend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventsim.events import EVENT_DTYPE
from eventsim.io import write_events
from eventsim.io.hdf5_reader import EventReader


def test_numpy_integer_time_bounds_past_2_to_53_are_taken_exactly(tmp_path: Path) -> None:
    # rounding fractional bounds up went through math.ceil, which turns a numpy integer into
    # a float: 2**60 + 1 became 2**60 and the event at 2**60 came back too
    base = 2**60
    ev = np.zeros(4, EVENT_DTYPE)
    ev["t"] = base + np.arange(4)
    ev["p"] = 1
    path = tmp_path / "late.h5"
    write_events(path, ev, (4, 4))
    lo, hi = np.int64(base + 1), np.int64(base + 3)
    with EventReader(path) as r:
        assert r.read(lo, hi)["t"].tolist() == [base + 1, base + 2]
        assert r.read_columns(lo, hi).t.tolist() == [base + 1, base + 2]
        windows = [w["t"].tolist() for w in r.iter_windows(1, lo, hi)]
        assert windows == [[base + 1], [base + 2]]


def test_the_colour_bar_note_counts_the_frames_that_lack_it(tmp_path: Path, capsys) -> None:
    # a bar is as wide as its labels: 210x160 frames hold the bar of a window of single events
    # but not one of 1000 events a pixel, and the note said "the heat map has no colour bar"
    # of a render whose second frame had one
    from eventsim.cli import main as eventsim_main

    busy = np.zeros(10_000, EVENT_DTYPE)
    busy["x"] = np.arange(10_000) % 10
    busy["t"] = np.arange(10_000)
    calm = np.zeros(100, EVENT_DTYPE)
    calm["x"] = np.arange(100)
    calm["y"] = 50
    calm["t"] = 10_000 + np.arange(100) * 10
    ev = np.concatenate([busy, calm])
    ev["p"] = 1
    src = tmp_path / "ev.h5"
    write_events(src, ev, (210, 160))
    argv = ["render", str(src), "--mode", "heatmap", "--window-ms", "10", "--no-progress"]
    assert eventsim_main([*argv, "-o", str(tmp_path / "two.gif")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "note: 1 of 2 heat-map frames have no colour bar: 210x160" in err[0]
    # a render whose every frame lacks it says so as before
    assert eventsim_main([*argv, "-o", str(tmp_path / "one.png")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "note: the heat map has no colour bar: 210x160" in err[0], err


def test_info_names_the_stray_polarity_of_a_minus_one_plus_one_file(tmp_path: Path, capsys):
    # reading bad polarity as the file holds it kept every -1 of a -1/+1 file (MVSEC's
    # convention) too: the warning named the first -1 instead of the stray 2
    from eventsim.cli import main as eventsim_main

    path = tmp_path / "signed.npy"
    np.save(path, np.array([[1, 0, 0, -1], [2, 1, 0, 1], [3, 2, 0, 2], [4, 3, 0, -1]]))
    assert eventsim_main(["info", str(path), "--sensor-size", "8x6"]) == 0
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "polarity p[2] = 2; expected 0 or 1" in err[0], err
    assert "polarity -1/+1 in signed.npy" in captured.out and "converted to 0/1" in captured.out
    # a column of -1, 0 and 1 follows no one convention: kept as read, named as the mix
    mixed = tmp_path / "mixed.npy"
    np.save(mixed, np.array([[1, 0, 0, 0], [2, 1, 0, -1], [3, 2, 0, 1]]))
    assert eventsim_main(["info", str(mixed), "--sensor-size", "8x6"]) == 0
    assert "mixes the -1/+1 and 0/1 conventions (p[1] = -1, p[0] = 0)" in capsys.readouterr().err


def test_a_column_order_for_csv_says_a_header_line_gives_one(tmp_path: Path) -> None:
    # CSV columns follow the header's names now; the refusal said "whose format fixes them",
    # as if a CSV in another order could not be read
    from eventsim.errors import ParameterError
    from eventsim.io import open_events

    path = tmp_path / "ev.csv"
    path.write_text("1,2,1,10\n3,0,0,20\n")
    with pytest.raises(ParameterError) as caught:
        open_events(path, sensor_size=(8, 4), columns="xypt")
    text = str(caught.value)
    assert "header line names its columns (such as x,y,p,t)" in text, text
    assert "format fixes" not in text


def test_convert_says_nothing_about_reading_back_an_output_of_an_input_it_refuses(
    tmp_path: Path, capsys
) -> None:
    # the note on reading the output back was moved after the output checks only: it still
    # came before the error about a missing or unreadable input, of an output never written
    from eventsim.cli import main as eventsim_main

    garbage = tmp_path / "g.npy"
    garbage.write_bytes(b"garbage")
    for src in (tmp_path / "missing.h5", garbage):
        assert eventsim_main(["convert", str(src), str(tmp_path / "plain"), "--to", "npz"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "error:" in err[0] and "read it back" not in err[0], err
        assert not (tmp_path / "plain").exists()
    good = tmp_path / "ev.h5"
    write_events(good, np.zeros(3, EVENT_DTYPE), (4, 4))
    assert eventsim_main(["convert", str(good), str(tmp_path / "plain"), "--to", "npz"]) == 0
    captured = capsys.readouterr()
    assert "read it back with --layout npz" in captured.err and "wrote 3 events" in captured.out
