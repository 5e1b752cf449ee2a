"""Second look at render/CLI review 7 (2cbd3e1, 7a5967c, e2b3d29, c67c312).

- ``render`` and ``plot`` had no ``--layout``: a file that ``info`` and ``convert`` read with
  ``--layout csv`` (a CSV named ``.txt``) could not be drawn without converting it first.
- ``info`` on a dataset folder took ``--time-unit``, ``--columns``, ``--layout`` and
  ``--sensor-size`` and printed the manifest's figures as if they applied.
- ``simulate --force`` given to overwrite the output also let timestamps 1000 s apart through
  (usually microseconds read as seconds), and its warning did not say that --force had.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.render import RenderParams
from eventsim.render.pipeline import render_file


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _csv_named_txt(tmp_path: Path) -> Path:
    path = tmp_path / "events.txt"
    path.write_text("x,y,p,t\n1,2,1,100\n2,3,0,200\n0,1,1,300\n")
    return path


# -- render and plot take --layout ---------------------------------------------------------------
def test_render_reads_a_csv_named_txt_with_layout_csv(tmp_path, capsys):
    src = _csv_named_txt(tmp_path)
    rc, _, err = run(capsys, "render", src, "-o", tmp_path / "a.png")
    assert rc == 1 and "is not rpg text" in err  # sniffed by its suffix
    rc, out, err = run(capsys, "render", src, "--layout", "csv", "-o", tmp_path / "a.png")
    assert rc == 0, err
    assert "1 frame of 3x4" in out
    # the range check of a count GIF reads the file as render does
    rc, out, err = run(
        capsys,
        "render",
        src,
        "--layout",
        "csv",
        "--events-per-frame",
        "1",
        "--start-ms",
        "0.1",
        "-o",
        tmp_path / "a.gif",
    )
    assert rc == 0, err
    assert "2 frames of 3x4" in out


def test_render_file_takes_layout(tmp_path):
    src = _csv_named_txt(tmp_path)
    result = render_file(src, tmp_path / "b.png", RenderParams(), layout="csv", progress=False)
    assert result.frame_wh == (3, 4)
    frame = cv2.imread(str(result.path))
    assert frame is not None and frame.shape[:2] == (4, 3)


def test_plot_reads_a_csv_named_txt_with_layout_csv(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    src = _csv_named_txt(tmp_path)
    rc, out, err = run(capsys, "plot", src, "--layout", "csv", "-o", tmp_path / "p.png")
    assert rc == 0, err
    assert out.startswith("wrote") and (tmp_path / "p.png").is_file()


def test_render_and_plot_refuse_an_unknown_layout(tmp_path, capsys):
    src = _csv_named_txt(tmp_path)
    for command in ("render", "plot"):
        rc, _, err = run(capsys, command, src, "--layout", "bogus", "-o", tmp_path / "x.png")
        assert rc == 1
        assert "--layout bogus is unknown" in err


def test_layout_help_in_render_and_plot(capsys):
    for command in ("render", "plot"):
        assert eventsim_main([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "--layout LAYOUT" in out


# -- info on a dataset folder refuses the options of event files ---------------------------------
@pytest.mark.parametrize(
    "option",
    [
        ("--time-unit", "ns"),
        ("--columns", "xytp"),
        ("--layout", "csv"),
        ("--sensor-size", "4x4"),
    ],
)
def test_info_refuses_event_file_options_for_a_dataset(build_shapes, capsys, option):
    ds = build_shapes(1)
    rc, out, _ = run(capsys, "info", ds)
    assert rc == 0 and out
    rc, out, err = run(capsys, "info", ds, *option)
    assert rc == 1
    assert out == ""
    assert f"{option[0]} applies to an event file, not to the folder" in err
    # its manifest stands for the folder
    rc, _, err = run(capsys, "info", ds / "dataset.json", *option)
    assert rc == 1 and f"{option[0]} applies to an event file" in err


# -- simulate --force says that it passed times 1000 s apart -------------------------------------
def _frame_folder(tmp_path: Path, times_s: list[int]) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(len(times_s)):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((8, 8), 40 + 60 * i, np.uint8))
    (folder / "timestamps.txt").write_text("".join(f"{t}\n" for t in times_s))
    return folder


def test_simulate_force_names_itself_when_it_passes_long_gaps(tmp_path, capsys):
    folder = _frame_folder(tmp_path, [0, 1000, 2000])
    out = tmp_path / "out.h5"
    rc, _, err = run(capsys, "simulate", folder, "-o", out, "-q")
    assert rc == 1 and "implausible for frames" in err
    rc, _, err = run(capsys, "simulate", folder, "-o", out, "-q", "--allow-long-gaps")
    assert rc == 0, err
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1
    assert "median frame gap is 1000 s" in warning[0]
    assert "simulated as seconds because of --allow-long-gaps" in warning[0]
    # --force, which passed them before they had a flag of their own, still does, deprecated
    rc, _, err = run(capsys, "simulate", folder, "-o", out, "-q", "--force")
    assert rc == 0, err
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 2
    assert "simulated as seconds because of --force" in warning[0]
    assert "deprecated" in warning[1] and warning[1].endswith("pass --allow-long-gaps")


def test_simulate_force_adds_nothing_to_the_warning_of_second_gaps(tmp_path, capsys):
    folder = _frame_folder(tmp_path, [0, 1, 2])
    out = tmp_path / "out.h5"
    out.write_bytes(b"")
    rc, _, err = run(capsys, "simulate", folder, "-o", out, "-q", "--force")
    assert rc == 0, err
    assert "median frame gap is 1 s" in err
    assert "--force" not in err


def test_simulate_help_says_which_flag_passes_long_gaps(capsys):
    assert eventsim_main(["simulate", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "--allow-long-gaps simulate, with a warning, a frame folder whose timestamps put frames "
        "1000 s" in out
    )
    assert "--force does this too, deprecated" in out


# -- render's summary of a range past the last event ---------------------------------------------
@pytest.mark.parametrize(
    ("frames", "output", "expected"),
    [
        (("--window-ms", "10"), "a.gif", "10 frames of 4x3, polarity, 0.001 ms of events in 100"),
        (("--events-per-frame", "2"), "b.gif", "1 frame of 4x3, polarity, 0.001 ms of events"),
    ],
)
def test_render_summary_of_a_range_past_the_last_event(tmp_path, capsys, frames, output, expected):
    """A range that starts past the last event is refused since round 10 (its frames were all
    blank: tests/test_cli_round10.py); one that starts at the last event and reaches past it
    says how much of it holds events."""
    src = tmp_path / "events.csv"
    src.write_text("x,y,p,t\n1,2,1,0\n2,1,0,5000\n3,0,1,10000\n")
    rc, out, err = run(
        capsys, "render", src, *frames, "--start-ms", 200, "--end-ms", 300, "-o", tmp_path / output
    )
    assert rc == 1
    assert "is past the last event" in err and "its events span 0 .. 10 ms" in err
    rc, out, err = run(
        capsys, "render", src, *frames, "--start-ms", 10, "--end-ms", 110, "-o", tmp_path / output
    )
    assert rc == 0, err
    # it said '0 ms of events in 100 ms of windows', a span of the recording
    assert expected in out
    assert "0 ms of events" not in out


# -- count_bounds / stream_by_count take bounds as the readers do --------------------------------
def _reader_file(tmp_path: Path) -> Path:
    from eventsim.events import EVENT_DTYPE
    from eventsim.io.hdf5 import EventWriter

    ev = np.zeros(6, EVENT_DTYPE)
    ev["t"] = [100, 200, 300, 400, 500, 600]
    path = tmp_path / "ev.h5"
    with EventWriter(path, sensor_size=(4, 4)) as w:
        w.write(ev)
    return path


def test_count_bounds_round_a_fractional_bound_up_as_read_does(tmp_path):
    from eventsim.io import open_events
    from eventsim.render import stream_by_count
    from eventsim.render.accumulate import count_bounds

    with open_events(_reader_file(tmp_path)) as reader:
        # t >= 200.5 starts at 300, as reader.read(200.5, 500.5) does (int() gave 200)
        assert list(count_bounds(reader, 10, 200.5, 500.5)) == [(2, 5)]
        assert len(reader.read(200.5, 500.5)) == 3
        windows = list(stream_by_count(reader, 2, 200.5, 500.5))
        assert [list(w[2]["t"]) for w in windows] == [[300, 400], [500]]
        assert list(count_bounds(reader, 10, np.int64(200), np.int64(500))) == [(1, 4)]


@pytest.mark.parametrize("bound", [float("nan"), "200"])
def test_count_bounds_refuse_a_bound_that_is_no_time(tmp_path, bound):
    from eventsim.errors import ParameterError
    from eventsim.io import open_events
    from eventsim.render.accumulate import count_bounds

    with open_events(_reader_file(tmp_path)) as reader:
        with pytest.raises(ParameterError, match="time bound"):
            list(count_bounds(reader, 2, bound, None))  # was a bare ValueError for NaN


@pytest.mark.parametrize("count", [2.5, float("nan"), float("inf"), True])
def test_a_count_per_frame_must_be_a_whole_number(tmp_path, count):
    from eventsim.errors import ParameterError
    from eventsim.events import EVENT_DTYPE
    from eventsim.io import open_events
    from eventsim.render import split_by_count, stream_by_count

    events = np.zeros(5, EVENT_DTYPE)
    src = _reader_file(tmp_path)
    with pytest.raises(ParameterError, match="expected a whole number >= 1"):
        list(split_by_count(events, count))  # 2.5 ran as 2; NaN raised a bare ValueError
    with open_events(src) as reader:
        with pytest.raises(ParameterError, match="expected a whole number >= 1"):
            list(stream_by_count(reader, count))
    with pytest.raises(ParameterError, match="expected a whole number >= 1"):
        render_file(src, tmp_path / "x.png", events_per_frame=count, progress=False)


def test_a_whole_count_of_any_number_type_is_taken(tmp_path):
    from eventsim.io import open_events
    from eventsim.render.accumulate import count_bounds

    with open_events(_reader_file(tmp_path)) as reader:
        for count in (4, np.int32(4), 4.0, np.float64(4.0)):
            assert list(count_bounds(reader, count)) == [(0, 4), (4, 6)]
