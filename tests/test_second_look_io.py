"""A second look at the day's fixes to eventsim's I/O, rendering and file commands: each test
fails without its mend."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
    # but not one of 100 events a pixel, and the note said "the heat map has no colour bar"
    # of a render whose second frame had one
    from eventsim.cli import main as eventsim_main

    busy = np.zeros(1000, EVENT_DTYPE)
    busy["x"] = np.arange(1000) % 10
    busy["t"] = np.arange(1000) * 10
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
