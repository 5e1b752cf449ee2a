"""CLI messages 7: reading options named as typed; CSV oddities.

- ``eventsim info file.h5 --time-unit ns`` said "time_unit='ns' does not apply to DSEC-layout
  files", ``--columns xyz`` "columns='xyz'; expected a permutation of 'txyp'": Python's
  keyword names on the command line. Now the commands that read event files (info, convert,
  render, plot) name ``--layout``, ``--sensor-size``, ``--time-unit`` and ``--columns`` as
  typed; Python callers still read ``time_unit='ns'`` (`ArgumentValueError`).
- A line of only spaces in a comma CSV was refused ("line 2 holds 1 comma-separated field
  ('')"); it is skipped as an empty line is.
- A CSV (or rpg text) with bare-CR line ends (old Mac) got numpy's own message ("Found an
  unquoted embedded newline ..."); it is read.
- ``1_0`` was read as 10 in a CSV's slow (text) path, Python's number syntax; refused now.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.cli.common import cli_command, make_parser
from eventsim.errors import ArgumentValueError, EventFileError, ParameterError
from eventsim.events import EVENT_DTYPE
from eventsim.io import open_events
from eventsim.io.hdf5 import EventWriter

from cli_checks import one_line


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _events(n: int = 5) -> np.ndarray:
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.arange(1, n + 1)
    ev["x"] = np.arange(n)
    return ev


def _h5(tmp_path: Path) -> Path:
    path = tmp_path / "e.h5"
    with EventWriter(path, sensor_size=(8, 8)) as w:
        w.write(_events())
    return path


def _npy(tmp_path: Path) -> Path:
    ev = _events()
    path = tmp_path / "a.npy"
    np.save(path, np.stack([ev["t"], ev["x"], ev["y"], ev["p"]], axis=1))
    return path


# -- 1. reading options named as typed ------------------------------------------------------
_COMMANDS = {
    "info": [],
    "convert": ["{tmp}/out.csv"],
    "render": ["-o", "{tmp}/r.png"],
    "plot": ["-o", "{tmp}/p.png"],
}
_H5_CASES = [
    (["--time-unit", "ns"], "--time-unit ns does not apply to DSEC-layout files", "time_unit="),
    (["--columns", "xyz"], "--columns xyz applies only to N x 4 arrays", "columns="),
    (["--layout", "Bogus"], "--layout Bogus is unknown; valid: dsec", "layout="),
    (["--sensor-size", "2x2"], "--sensor-size 2x2 was given but", "sensor_size="),
]


@pytest.mark.parametrize("command", list(_COMMANDS))
@pytest.mark.parametrize(("options", "said", "python"), _H5_CASES)
def test_commands_name_the_reading_option_as_typed(
    tmp_path, capsys, command, options, said, python
):
    if command == "plot":
        pytest.importorskip("matplotlib")
    src = _h5(tmp_path)
    extra = [a.format(tmp=tmp_path) for a in _COMMANDS[command]]
    rc, _, err = run(capsys, command, src, *extra, *options)
    assert rc == 1
    line = one_line(err, f"eventsim {command}: error: {said}")
    assert python not in line


def test_a_column_order_that_is_no_permutation_names_the_option(tmp_path, capsys):
    rc, _, err = run(capsys, "info", _npy(tmp_path), "--columns", "xyz")
    assert rc == 1
    one_line(err, "error: --columns xyz; expected a permutation of 'txyp'")
    # a value with a space is shown as a shell takes it
    rc, _, err = run(capsys, "info", _npy(tmp_path), "--columns=x yp")
    assert rc == 1
    one_line(err, "error: --columns 'x yp'; expected a permutation")


def test_a_faery_file_names_the_time_unit_option(capsys):
    src = Path(__file__).parent / "data" / "faery-vga-es.es"
    rc, _, err = run(capsys, "info", src, "--time-unit", "ms")
    assert rc == 1
    one_line(err, "error: --time-unit ms does not apply to .es files")


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"time_unit": "ns"}, "time_unit='ns' does not apply to DSEC-layout files"),
        ({"columns": "xytp"}, "columns='xytp' applies only to N x 4 arrays"),
        ({"layout": "Bogus"}, "layout='Bogus' is unknown"),
        ({"sensor_size": (2, 2)}, "sensor_size=(2, 2) was given but"),
    ],
)
def test_python_callers_read_the_keyword(tmp_path, kwargs, said):
    with pytest.raises(ArgumentValueError) as info:
        open_events(_h5(tmp_path), **kwargs)
    assert str(info.value).startswith(said)
    assert isinstance(info.value, ParameterError)
    # a worker process's error crosses to its parent pickled
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is ArgumentValueError and str(again) == str(info.value)
    assert (again.parameter, again.value, again.rest) == (
        info.value.parameter,
        info.value.value,
        info.value.rest,
    )


def test_a_value_no_option_gave_keeps_the_keyword(tmp_path, capsys):
    """Only a value the user typed as an option is renamed: one the command passed from
    elsewhere (a recipe's field, another option) keeps the library's words."""
    src = _h5(tmp_path)

    def parser() -> argparse.ArgumentParser:
        p = make_parser("demo", "test")
        p.add_argument("--time-unit", default="ms")
        return p

    @cli_command(parser)
    def main(args: argparse.Namespace) -> None:
        open_events(src, time_unit="ns")

    assert main([]) == 1
    one_line(capsys.readouterr().err, "eventsim demo: error: time_unit='ns' does not apply")
    assert main(["--time-unit", "ns"]) == 1
    one_line(capsys.readouterr().err, "eventsim demo: error: --time-unit ns does not apply")


# -- 2. CSV oddities -------------------------------------------------------------------------
def _read(path: Path, text: bytes | str) -> np.ndarray:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with open_events(path, sensor_size=(16, 16)) as reader:
        return reader.read()


@pytest.mark.parametrize(
    "text",
    [
        "1,2,3,0\n   \n2,3,4,1\n",
        "1,2,3,0\n \t \r\n2,3,4,1\n",
        "t,x,y,p\n1,2,3,0\n  \n2,3,4,1\n   ",
        "1.5,2,3,0\n   \n2.25,3,4,1\n",  # the float path
        '"1","2","3","0"\n  \n"2","3","4","1"\n',  # the text path
    ],
)
def test_a_csv_line_of_blanks_is_skipped_as_an_empty_one(tmp_path, text):
    ev = _read(tmp_path / "b.csv", text)
    assert ev["x"].tolist() == [2, 3] and ev["p"].tolist() == [0, 1]


def test_a_bad_value_after_a_line_of_blanks_is_named_by_its_line(tmp_path):
    path = tmp_path / "b.csv"
    with pytest.raises(EventFileError, match=r"column x, line 5: 'x' is not a number"):
        _read(path, "t,x,y,p\n1,2,3,0\n   \n2,3,4,1\n3,x,4,1\n")
    with pytest.raises(EventFileError, match=r"line 6 holds 3 comma-separated fields"):
        _read(path, "t,x,y,p\r\n  \r\n1,2,3,0\r\n \t\r\n2,3,4,1\r\n3,4,1\r\n")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("cr.csv", "t,x,y,p\r1,2,3,0\r2,3,4,1\r"),
        ("cr2.csv", "1,2,3,0\r2,3,4,1"),
        ("cr.txt", "1 2 3 0\r2 3 4 1\r"),
    ],
)
def test_bare_cr_line_ends_are_read(tmp_path, name, text):
    ev = _read(tmp_path / name, text)
    assert ev["t"].tolist() == [1, 2] and ev["x"].tolist() == [2, 3]


def test_a_bad_value_in_a_bare_cr_csv_is_named_by_its_line(tmp_path):
    with pytest.raises(EventFileError, match=r"column y, line 3: 'z' is not a number"):
        _read(tmp_path / "cr.csv", "t,x,y,p\r1,2,3,0\r2,3,z,1\r")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("1,1_0,3,0\n2,3,4,1\n", "column x, line 1: '1_0' is not a number"),
        ("1,2,3,0\n2,3,1_1,1\n", "column y, line 2: '1_1' is not a number"),
        ("1,2,3,0\n2,3,4,0_1\n", "column p, line 2: '0_1' is not a number"),
        ("1_0,1,3,0\n20,3,4,1\n", "line 1: time '1_0' is not a number"),
        ("1.5,1,3,0\n2_0e3,3,4,1\n", "line 2: time '2_0e3' is not a number"),
        ("t,x,y,p\n1,2,3,0\n2.5,1_0,4,1\n", "column x, line 3: '1_0' is not a number"),
    ],
)
def test_underscores_in_csv_numbers_are_refused(tmp_path, text, said):
    with pytest.raises(EventFileError, match=said):
        _read(tmp_path / "u.csv", text)
