"""Round 11 of ``eventsim convert``: an empty INPUT was named only after an OUTPUT that exists
(``--force`` first, then "is empty (0 bytes)"): `check_event_path` refuses it, as it refuses a
pipe.
"""

from __future__ import annotations

import pytest

from eventsim.cli import main
from eventsim.errors import EventFileError
from eventsim.io import open_events
from eventsim.io.layouts import check_event_path


def _error(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


# ------------------------------------------------------------------------------- empty INPUT
def test_check_event_path_refuses_an_empty_file_as_open_events_does(tmp_path):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    with pytest.raises(EventFileError) as opened:
        open_events(empty)
    with pytest.raises(EventFileError) as checked:
        check_event_path(empty)
    assert str(checked.value) == str(opened.value)
    assert str(opened.value) == f"event file {str(empty)!r} is empty (0 bytes)"


def test_convert_names_an_empty_input_before_an_existing_output(tmp_path, capsys):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    out = tmp_path / "existing.npz"
    out.write_bytes(b"x")
    assert main(["convert", str(empty), str(out)]) == 1
    assert _error(capsys) == (
        f"eventsim convert: error: event file {str(empty)!r} is empty (0 bytes)"
    )
    assert out.read_bytes() == b"x"
