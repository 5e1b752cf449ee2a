"""rpg text errors name the file's line (review 7): a bad time said "data row N" and a row of
the wrong width passed on numpy's row count, both counted without the size line and the blank
lines an editor shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventsim.errors import EventFileError
from eventsim.io import open_events


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("346 260\n\n0.000001 1 2 1\n\n\n99999999999999999999999.5 1 2 0\n", "line 6: time"),
        ("346 260\n\n0.000001 1 2 1\n\n0.000002 1 2\n", "line 5 holds 3 values; expected 4"),
        ("0.1 1 2 1\n\n0.2 x 2 1\n", "line 3: 'x' is not a number"),
        ("0.1,1,2,1\n0.2,1,2,1,7\n", "line 2 holds 5 values; expected 4"),
    ],
)
def test_rpg_text_errors_name_the_files_line(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "events.txt"
    path.write_text(body)
    with pytest.raises(EventFileError, match=expected):
        open_events(path).read()


@pytest.mark.parametrize("bound", [float("nan"), float("inf"), "10"])
def test_an_in_memory_reader_refuses_a_bound_an_hdf5_reader_refuses(tmp_path: Path, bound) -> None:
    """`ArrayReader.read` (npy, npz, text...) sorted a NaN bound past every event and returned
    nothing; `EventReader.read` refuses it, naming the bound."""
    from eventsim.errors import ParameterError
    from eventsim.events import EVENT_DTYPE

    ev = np.zeros(5, EVENT_DTYPE)
    ev["t"] = [1, 2, 3, 4, 5]
    np.save(tmp_path / "e.npy", ev)
    with open_events(tmp_path / "e.npy", sensor_size=(4, 4)) as r:
        with pytest.raises(ParameterError, match="time bound"):
            r.read(bound, None)
        with pytest.raises(ParameterError, match="time bound"):
            r.read(None, bound)
        assert r.read(3, 5)["t"].tolist() == [3, 4]
