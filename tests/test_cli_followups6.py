"""Follow-ups on the CLI: info names file indices of unsorted files, render's summary prints
long spans readably, render refuses output names that would make an unwanted folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import ParameterError
from eventsim.events import EVENT_DTYPE


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _npy(path: Path, t: list[int], p: list[int], x: list[int] | None = None) -> Path:
    ev = np.zeros(len(t), EVENT_DTYPE)
    ev["t"], ev["p"] = t, p
    ev["x"] = x if x is not None else np.arange(len(t))
    np.save(path, ev)
    return path


# -- 1. info on a file the reader sorts ----------------------------------------------------------
def test_info_names_the_file_index_of_a_bad_polarity_in_an_unsorted_file(tmp_path, capsys):
    """The reader sorts by time on load; info named p[3], the sorted index, where convert,
    render and plot named index 2, the one in the file."""
    # sorted by time, file index 2 (t = 30) becomes index 3
    bad = _npy(tmp_path / "bad.npy", [10, 5, 30, 20, 40], [0, 1, 2, 0, 1])
    rc, _, err = run(capsys, "info", bad)
    assert rc == 0
    line = one_line(err)
    # the stream check's words, with the file's index (the reader's file_index)
    assert "polarity p[2] = 2" in line and "p[3]" not in line, line
    rc, _, conv_err = run(capsys, "convert", bad, tmp_path / "out.h5")
    assert rc == 1 and "polarity at index 2 is 2" in conv_err
    rc, out, err = run(capsys, "info", bad, "--json", "--check")
    assert rc == 1
    assert "polarity p[2] = 2" in json.loads(out)["problem"]


def test_info_names_the_file_index_of_a_coordinate_in_an_unsorted_file(tmp_path, capsys):
    # it gave the sorted index, x[3], 'among the events sorted by time', where convert,
    # render and plot gave the file's (test_cli_review7)
    bad = _npy(tmp_path / "badx.npy", [10, 5, 30, 20, 40], [0, 1, 1, 0, 1], [1, 2, 9, 4, 5])
    rc, _, err = run(capsys, "info", bad, "--sensor-size", "6x1")
    assert rc == 0
    line = one_line(err)
    assert "x[2] = 9 is outside the sensor" in line and "sorted by time" not in line, line


def test_info_of_a_sorted_file_keeps_its_index(tmp_path, capsys):
    bad = _npy(tmp_path / "sorted.npy", [5, 10, 20, 30], [0, 1, 0, 2])
    rc, _, err = run(capsys, "info", bad)
    assert rc == 0
    line = one_line(err)
    assert "polarity p[3] = 2" in line and "sorted by time" not in line, line


# -- 2. render's summary of long spans -----------------------------------------------------------
def test_render_summary_prints_an_hour_in_seconds(tmp_path, capsys):
    """'3.6e+06 ms of events' is now '3600 s of events'."""
    long = _npy(tmp_path / "long.npy", [0, 5_000_000, 3_600_000_000], [0, 1, 0], [0, 1, 2])
    common = ("--sensor-size", "8x6", "--no-progress")
    rc, out, _ = run(
        capsys, "render", long, "-o", tmp_path / "a.png", "--end-ms", "3600000", *common
    )
    assert rc == 0
    assert "3600 s of events" in out and "e+" not in out, out
    rc, out, _ = run(
        capsys, "render", long, "-o", tmp_path / "b.png", "--window-ms", "5000000", *common
    )
    assert rc == 0
    assert "3600 s of events in 5000 s of windows" in out, out
    rc, out, _ = run(
        capsys, "render", long, "-o", tmp_path / "c.png", "--window-ms", "12345.678", *common
    )
    assert rc == 0
    assert "12.35 s of events" in out, out


def test_render_summary_keeps_milliseconds_below_ten_seconds(tmp_path, capsys):
    short = _npy(tmp_path / "short.npy", [0, 1_000, 9_999_999], [0, 1, 0], [0, 1, 2])
    rc, out, _ = run(
        capsys, "render", short, "-o", tmp_path / "a.png", "--window-ms", "9999.999",
        "--sensor-size", "8x6", "--no-progress",
    )  # fmt: skip
    assert rc == 0
    assert "9999.999 ms of events" in out, out


# -- 3. output names that are not names ----------------------------------------------------------
@pytest.mark.parametrize(
    "output, needles",
    [
        (".png", ("suffix without a name", "'frame.png'")),
        (".GIF", ("suffix without a name", "'frame.GIF'")),
        ("sub/.mp4", ("suffix without a name", "'sub/frame.mp4'")),
        ("out.", ("ends in a dot", "out.png", "or out for a folder")),
        ("-", ("not standard output", "frame.png", "folder name")),
    ],
)
def test_render_refuses_outputs_that_would_be_stray_folders(
    tmp_path, capsys, monkeypatch, output, needles
):
    """'-o .png' wrote a hidden folder '.png', '-o out.' a folder 'out.', '-o -' a folder '-'."""
    _npy(tmp_path / "in.npy", [0, 1_000, 2_000], [0, 1, 0])
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "render", "in.npy", "-o", output, "--sensor-size", "8x6")
    assert rc == 1 and not out
    line = one_line(err)
    for needle in needles:
        assert needle in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


def test_render_file_refuses_them_too_and_plain_names_stay_folders(tmp_path, capsys):
    from eventsim.render.pipeline import render_file

    src = _npy(tmp_path / "in.npy", [0, 1_000, 2_000], [0, 1, 0])
    with pytest.raises(ParameterError, match="suffix without a name"):
        render_file(src, tmp_path / ".png", sensor_size=(8, 6), progress=False)
    assert not (tmp_path / ".png").exists()
    rc, _, err = run(
        capsys, "render", src, "-o", tmp_path / "frames", "--sensor-size", "8x6", "--no-progress"
    )
    assert rc == 0, err
    assert (tmp_path / "frames").is_dir()
    # a trailing separator asks for a folder, whatever the name
    rc, _, err = run(
        capsys, "render", src, "-o", f"{tmp_path / 'odd.'}/", "--sensor-size", "8x6",
        "--no-progress",
    )  # fmt: skip
    assert rc == 0, err
    assert (tmp_path / "odd.").is_dir()
