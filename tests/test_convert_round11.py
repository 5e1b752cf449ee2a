"""Round 11 of ``eventsim convert``:

- convert named the events of a writer's refusal in the input's order by reading the message
  (a regular expression for ``x[3]``/``event 3``): the writers now raise `StreamProblemError`,
  which carries the `StreamProblem`, and convert renumbers that. Reading the text, it also
  renumbered what the reader itself refused, whose indices are already the file's, and ended
  a refusal that names no event with "(events counted in time order, as --sort wrote them)";
  both are now said as they are;
- an empty INPUT was named only after an OUTPUT that exists (``--force`` first, then "is
  empty (0 bytes)"): `check_event_path` refuses it, as it refuses a pipe.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.cli import main
from eventsim.errors import EventFileError
from eventsim.events import EVENT_DTYPE, StreamProblem, StreamProblemError
from eventsim.io import open_events
from eventsim.io.formats import write_stream
from eventsim.io.layouts import check_event_path

W, H = 64, 48


def _dsec(path: Path, t, x, p) -> Path:
    """A DSEC-layout HDF5 file (its events/t need not be sorted)."""
    n = len(t)
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g["x"] = np.asarray(x, np.uint16)
        g["y"] = np.zeros(n, np.uint16)
        g["t"] = np.asarray(t, np.int64)
        g["p"] = np.asarray(p, np.int8)
        f.attrs.update({"sensor_width": W, "sensor_height": H})
    return path


def _events(t, x) -> np.ndarray:
    ev = np.zeros(len(t), EVENT_DTYPE)
    ev["t"], ev["x"], ev["p"] = t, x, 1
    return ev


def _error(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


# ---------------------------------------------------------------------- the writers' refusals
@pytest.mark.parametrize(
    ("suffix", "said"),
    [
        (
            ".npy",
            "x[2] = 99 is outside the sensor; expected 0 <= x < 64 for sensor size 64x48",
        ),
        (
            ".h5",
            "event 2 has x = 99, outside the sensor; expected 0 <= x < 64 for sensor size 64x48",
        ),
    ],
)
def test_writers_refuse_with_the_problem(tmp_path, suffix, said):
    with pytest.raises(StreamProblemError) as info:
        write_stream(tmp_path / f"o{suffix}", _events([0, 1, 2], [1, 2, 99]), (W, H))
    assert str(info.value) == said
    problem = info.value.problem
    assert (problem.kind, problem.field, problem.index, problem.value) == ("outside", "x", 2, 99)
    # said again of another index, in the same words
    moved = info.value.said_of(problem.renumbered(np.array([5, 6, 7])))
    assert str(moved) == said.replace("2", "7", 1)
    # a worker process's refusal reaches the parent pickled
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is StreamProblemError and str(back) == said and back.problem == problem


def test_hdf5_writer_words_each_problem_as_before(tmp_path):
    cases = [
        (
            [5, 3],
            [1, 1],
            [1, 1],
            "timestamps are not sorted: event 1 has t = 3 us < t = 5 us of event 0",
        ),
        ([0, 1], [1, 1], [1, 2], "event 1 has p = 2; expected 0 or 1"),
        (
            [0, 1],
            [1, 1],
            [1, -1],
            "event 1 has p = -1; expected 0 or 1 (convert -1/+1 with "
            "eventsim.events.normalize_polarity)",
        ),
    ]
    for k, (t, x, p, said) in enumerate(cases):
        ev = _events(t, x)
        ev["p"] = p
        with pytest.raises(StreamProblemError) as info:
            write_stream(tmp_path / f"o{k}.h5", ev, (W, H))
        assert str(info.value) == said
    packets = [_events([5, 6], [1, 1]), _events([4], [1])]
    with pytest.raises(StreamProblemError) as info:
        write_stream(tmp_path / "across.h5", packets, (W, H))
    assert str(info.value) == (
        "timestamps are not sorted across packets: event 2 has t = 4 us < t = 6 us of the "
        "previous event"
    )
    assert (info.value.problem.index, info.value.problem.other_index) == (2, 1)


def test_stream_check_and_validate_events_raise_the_problem():
    from eventsim.events import StreamCheck, validate_events

    with pytest.raises(StreamProblemError) as info:
        validate_events(_events([0, 1], [1, 99]), (W, H))
    assert info.value.problem == StreamProblem("outside", "x", 1, 99, sensor_size=(W, H))
    with pytest.raises(StreamProblemError) as info:
        list(StreamCheck((W, H)).checked([_events([0], [1]), _events([1], [99])], "clip"))
    assert str(info.value) == f"clip: {info.value.problem}"
    assert info.value.problem.index == 1


@pytest.mark.parametrize("suffix", [".npy", ".h5"])
def test_convert_names_a_refused_event_by_its_index_in_a_sorted_input(tmp_path, capsys, suffix):
    # the reader sorts the file's events: the one at index 1 (x = 99) is third in time
    ev = _events([30, 50, 10, 20], [1, 99, 2, 3])
    src = tmp_path / "in.npy"
    np.save(src, ev)
    rc = main(["convert", str(src), str(tmp_path / f"o{suffix}"), "--sensor-size", f"{W}x{H}"])
    assert rc == 1
    err = _error(capsys)
    assert ("x[1] = 99" if suffix == ".npy" else "event 1 has x = 99") in err, err


# ----------------------------------------------------------------------- --sort's renumbering
def test_sort_leaves_the_readers_own_refusal_as_it_is(tmp_path, capsys):
    # the reader names the mix by the file's indices: they are not places in time order
    src = _dsec(tmp_path / "mix.h5", [50, 10, 40, 20, 30, 60], [1] * 6, [1, 0, 1, -1, 1, 1])
    rc = main(["convert", str(src), str(tmp_path / "o.npy"), "--sort", "--no-progress"])
    assert rc == 1
    assert _error(capsys) == (
        f"eventsim convert: error: {str(src)!r}: events/p: polarity mixes the -1/+1 and 0/1 "
        "conventions (p[3] = -1, p[1] = 0); expected 0/1 or -1/+1 throughout"
    )


def test_sort_leaves_a_refusal_naming_no_event_as_it_is(tmp_path, capsys):
    src = _dsec(tmp_path / "neg.h5", [50, -10, 40], [1] * 3, [1, 0, 1])
    rc = main(["convert", str(src), str(tmp_path / "o.txt"), "--sort", "--no-progress"])
    assert rc == 1
    assert _error(capsys) == (
        "eventsim convert: error: txt cannot store negative timestamps (first is -10 us)"
    )


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
