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
