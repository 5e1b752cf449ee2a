"""The time unit's advice, as researchers read it.

- The note on a detected time unit ended "; another unit: time_unit= (--time-unit to 'eventsim
  info', 'convert', 'render' or 'plot')": now a sentence, in Python for the library (``pass
  time_unit='s', 'ms' or 'ns'``) and with the option in the CLI (``pass --time-unit s, ms or ns``).
"""

from __future__ import annotations

import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import EventFileError
from eventsim.io import open_events

SIZE = (64, 48)


def _read(path, **kw):
    with open_events(path, sensor_size=SIZE, **kw) as r:
        ev = r.read()
        return [ev[k].tolist() for k in "txyp"], list(r.notes)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- the note on a detected time unit ------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "body", "others"),
    [
        ("ev.csv", "5,1,2,1\n7,3,4,0\n", "'s', 'ms' or 'ns'"),
        ("ev.csv", "0.5,1,2,1\n0.7,3,4,0\n", "'ms', 'us' or 'ns'"),
        ("ev.txt", "5 1 2 1\n7 3 4 0\n", "'s', 'ms' or 'ns'"),
    ],
)
def test_the_unit_note_is_a_sentence_in_python_words(tmp_path, name, body, others):
    path = tmp_path / name
    path.write_text(body)
    _, notes = _read(path)
    (note,) = [n for n in notes if n.startswith("time unit detected")]
    assert note.endswith(f"; if the times are in another unit, pass time_unit={others}"), note
    assert "--time-unit" not in note


def test_the_unit_note_of_an_array_is_a_sentence(tmp_path):
    import numpy as np

    np.save(tmp_path / "ev.npy", np.array([[5, 1, 2, 1], [7, 3, 4, 0]], np.int64))
    _, notes = _read(tmp_path / "ev.npy")
    (note,) = [n for n in notes if n.startswith("time unit detected")]
    assert note.endswith("pass time_unit='s', 'ms' or 'ns'"), note


@pytest.mark.parametrize("command", ["info", "convert"])
def test_the_unit_note_names_the_option_in_the_cli(tmp_path, capsys, command):
    path = tmp_path / "ev.csv"
    path.write_text("5,1,2,1\n7,3,4,0\n")
    argv = [command, str(path), "--sensor-size", "8x6"]
    if command == "convert":
        argv.insert(2, str(tmp_path / "out.h5"))
    assert eventsim_main(argv) == 0
    out = capsys.readouterr()
    line = next(n for n in (out.out + out.err).splitlines() if "time unit detected" in n)
    assert line.endswith("; if the times are in another unit, pass --time-unit s, ms or ns"), line


def test_the_unit_note_in_info_json_names_the_option(tmp_path, capsys):
    import json

    path = tmp_path / "ev.csv"
    path.write_text("5,1,2,1\n7,3,4,0\n")
    assert eventsim_main(["info", str(path), "--sensor-size", "8x6", "--json"]) == 0
    (note,) = [n for n in json.loads(capsys.readouterr().out)["notes"] if "time unit" in n]
    assert note.endswith("pass --time-unit s, ms or ns"), note


def test_the_ambiguous_csv_refusal_names_the_units_to_pass(tmp_path, capsys):
    path = tmp_path / "ev.csv"
    path.write_text("5.0,1,2,1\n7.0,3,4,0\n")
    with pytest.raises(EventFileError) as exc:
        open_events(path, sensor_size=SIZE)
    assert str(exc.value).endswith("; or pass time_unit='s' or 'us'"), exc.value
    assert eventsim_main(["info", str(path), "--sensor-size", "8x6"]) == 1
    assert _one_line(capsys.readouterr().err).endswith("; or pass --time-unit s or us")


def test_a_command_without_the_option_names_eventsim_convert():
    from eventsim.cli.common import option_words

    text = "cannot tell; or pass time_unit='s' or 'us'"
    assert option_words(text, {"--time-unit"}) == "cannot tell; or pass --time-unit s or us"
    assert option_words(text, {"--force"}) == (
        "cannot tell; or pass --time-unit s or us to 'eventsim convert'"
    )
    # a refused value is not advice: ArgumentValueError's own words stay
    assert option_words("time_unit='ns' does not apply") == "time_unit='ns' does not apply"
