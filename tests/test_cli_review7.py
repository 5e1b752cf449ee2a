"""CLI review 7: info, render and plot read files as convert does.

- ``eventsim info`` named a bad event of a file the reader sorted by time by its sorted index
  ('index among the events sorted by time'), where convert, render and plot give the file's.
- ``info`` printed layout names (eventsim, csv, aedat4, evt, dat, es) that ``--layout`` refused.
- ``render``'s summary clipped the span of events to the last event, not to ``--end-ms``:
  ``--window-ms 10 --end-ms 15`` said '20 ms of events'.
- ``info``, ``render`` and ``plot`` had no ``--time-unit``/``--columns``: a nanosecond ``.npz``
  was 4961.82 s long with no way to say otherwise.
- A reader that sorted a file kept the sort's permutation as int64, 8 bytes an event beside
  the events' 13, for as long as it is open.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.events import EVENT_DTYPE
from eventsim.io import open_events
from eventsim.io.hdf5 import EventWriter

DATA = Path(__file__).parent / "data"


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


# -- 1. info names the file's index of a bad event ---------------------------------------------
_T = [10, 5, 30, 20, 40]  # sorted: file indices 1, 0, 3, 2, 4
_X = [1, 2, 9, 4, 5]  # x = 9 is file index 2, sorted index 3


def _unsorted_files(tmp_path: Path) -> list[Path]:
    ev = np.zeros(len(_T), EVENT_DTYPE)
    ev["t"], ev["x"] = _T, _X
    cols = np.stack([ev["t"], ev["x"], ev["y"], ev["p"]], axis=1)
    paths = [tmp_path / n for n in ("a.npy", "b.npz", "c.txt", "d.csv", "e.h5")]
    np.save(paths[0], ev)
    np.savez(paths[1], x=ev["x"], y=ev["y"], t=ev["t"], p=ev["p"])
    np.savetxt(paths[2], cols, fmt="%d")
    paths[3].write_text("".join(f"{t},{x},0,0\n" for t, x in zip(_T, _X, strict=True)))
    with h5py.File(paths[4], "w") as f:
        f["events"] = cols  # v2e's layout
    return paths


def test_info_names_the_files_index_of_a_coordinate_as_convert_does(tmp_path, capsys):
    for path in _unsorted_files(tmp_path):
        rc, _, err = run(capsys, "info", path, "--sensor-size", "6x1")
        line = last_line(err)
        assert rc == 0 and "x[2] = 9 is outside the sensor" in line, (path.name, line)
        assert "sorted" not in line, line
        rc, out, _ = run(capsys, "info", path, "--sensor-size", "6x1", "--json", "--check")
        problem = json.loads(out)["problem"]
        assert rc == 1 and problem.startswith("x[2] = 9 "), (path.name, problem)
        # the index convert names
        rc, _, err = run(
            capsys, "convert", path, tmp_path / f"{path.name}.out.h5", "--sensor-size", "6x1"
        )
        assert rc == 1 and "event 2 has x = 9" in last_line(err), err


def test_info_keeps_the_index_of_a_file_in_time_order(tmp_path, capsys):
    ev = np.zeros(4, EVENT_DTYPE)
    ev["t"], ev["x"] = [1, 2, 3, 4], [0, 1, 9, 2]
    np.save(tmp_path / "sorted.npy", ev)
    rc, _, err = run(capsys, "info", tmp_path / "sorted.npy", "--sensor-size", "6x1")
    assert rc == 0 and "x[2] = 9 is outside the sensor" in last_line(err), err


def test_a_sorting_reader_keeps_the_files_indices_in_int32(tmp_path):
    for path in _unsorted_files(tmp_path):
        with open_events(path, sensor_size=(10, 1)) as r:
            assert r.file_index is not None and r.file_index.dtype == np.int32, path.name
            assert r.file_index.tolist() == [1, 0, 3, 2, 4], path.name
            # stable: events of one time keep the file's order
    ev = np.zeros(4, EVENT_DTYPE)
    ev["t"], ev["x"] = [7, 3, 7, 3], [0, 1, 2, 3]
    np.save(tmp_path / "ties.npy", ev)
    with open_events(tmp_path / "ties.npy", sensor_size=(4, 1)) as r:
        assert r.file_index.tolist() == [1, 3, 0, 2]
        assert r.read()["x"].tolist() == [1, 3, 0, 2]


# -- 2. the layout info prints is one --layout takes -------------------------------------------
def _own_h5(tmp_path: Path) -> Path:
    ev = np.zeros(3, EVENT_DTYPE)
    ev["t"] = [1, 2, 3]
    path = tmp_path / "own.h5"
    with EventWriter(path, (4, 4)) as w:
        w.write(ev)
    return path


def _layout_files(tmp_path: Path) -> list[Path]:
    files = [_own_h5(tmp_path), *(DATA / n for n in ("v2e.h5", "faery-vga-csv.csv"))]
    pytest.importorskip("faery")
    names = ("dvp-davis346-lz4.aedat4", "faery-gen4-evt3.raw", "faery-vga-dat.dat")
    return [*files, *(DATA / n for n in (*names, "faery-vga-es.es"))]


def test_info_layout_names_are_taken_by_layout(tmp_path, capsys):
    printed = set()
    for path in _layout_files(tmp_path):
        rc, out, err = run(capsys, "info", path, "--json")
        assert rc == 0, err
        layout = json.loads(out)["layout"]
        printed.add(layout)
        for command in (("info", path, "--json"), ("convert", path, tmp_path / f"{layout}.npz")):
            rc, out, err = run(capsys, *command, "--layout", layout)
            assert rc == 0, (layout, err)
        assert (
            json.loads(run(capsys, "info", path, "--json", "--layout", layout)[1])["layout"]
            == layout
        )
    assert {"eventsim", "csv", "aedat4", "evt", "dat", "es"} <= printed


def test_a_faery_format_name_is_refused_for_another_formats_suffix(tmp_path, capsys):
    # faery tells its formats by the suffix: 'evt' on a .dat would read it as DAT
    dat = tmp_path / "x.dat"
    dat.write_bytes(b"% header\n")
    rc, _, err = run(capsys, "info", dat, "--layout", "evt")
    line = last_line(err)
    assert rc == 1 and "'evt' layout" in line and ".raw or .evt" in line and "'.dat'" in line, line


def test_an_unknown_layout_lists_the_choices_and_the_names_readers_give(tmp_path, capsys):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros(2, EVENT_DTYPE))
    rc, _, err = run(capsys, "info", path, "--layout", "hdf5")
    line = last_line(err)
    assert rc == 1 and "--layout hdf5 is unknown" in line, line
    for name in ("dsec", "npy", "csv", "faery", "eventsim", "aedat4", "evt", "dat", "es"):
        assert name in line, (name, line)


def test_layout_csv_reads_a_csv_of_any_name(tmp_path, capsys):
    path = tmp_path / "events.log"
    path.write_text("t,x,y,p\n5,1,2,1\n9,3,4,0\n")
    rc, _, err = run(capsys, "info", path)
    assert rc == 1 and "cannot tell the format" in err, err
    rc, out, err = run(capsys, "info", path, "--layout", "csv", "--json")
    assert rc == 0, err
    s = json.loads(out)
    assert s["layout"] == "csv" and s["events"] == 2 and s["t_last_us"] == 9


# -- 3. render's summary ends at --end-ms -----------------------------------------------------
@pytest.fixture
def long_npy(tmp_path: Path) -> Path:
    ev = np.zeros(201, EVENT_DTYPE)
    ev["t"] = np.arange(201) * 1000  # one event a millisecond for 200 ms
    ev["x"] = np.arange(201) % 8
    path = tmp_path / "long.npy"
    np.save(path, ev)
    return path


@pytest.mark.parametrize(
    ("args", "frames", "covered"),
    [
        (("--end-ms", "15"), "2 frames", "15 ms of events in 20 ms of windows"),
        (("--start-ms", "100", "--end-ms", "101"), "1 frame", "1 ms of events in 10 ms of windows"),
        # past the last event, the recording still ends them
        (
            ("--start-ms", "195", "--end-ms", "400"),
            "21 frames",
            "5.001 ms of events in 210 ms of windows",
        ),
        (("--end-ms", "20"), "2 frames", "20 ms of events"),
    ],
)
def test_render_summary_counts_events_up_to_end_ms(
    tmp_path, capsys, long_npy, args, frames, covered
):
    for out in ("frames", "e.gif"):
        rc, stdout, err = run(
            capsys,
            "render",
            long_npy,
            "-o",
            tmp_path / out,
            "--window-ms",
            "10",
            *args,
            "--sensor-size",
            "8x6",
            "--no-progress",
            "--force",
        )
        assert rc == 0, err
        assert f": {frames} of" in stdout and stdout.rstrip().endswith(covered), stdout


# -- 4. --time-unit and --columns for info, render and plot ------------------------------------
def _vid2e_npz(tmp_path: Path) -> Path:
    # rpg_vid2e's esim_torch: times in nanoseconds, polarity -1/+1
    path = tmp_path / "vid2e.npz"
    t = np.array([0, 1_000_000_000, 4_961_820_000], np.int64)
    np.savez(path, x=np.array([1, 2, 3]), y=np.array([0, 1, 2]), t=t, p=np.array([1, -1, 1]))
    return path


def _esim_npy(tmp_path: Path) -> Path:
    # esim_py: N x 4 floats, x, y, t (s), p
    path = tmp_path / "esim.npy"
    np.save(path, np.array([[1, 2, 0.001, 1], [3, 4, 0.0025, -1], [5, 1, 0.004, 1]], np.float64))
    return path


def test_info_reads_times_in_the_unit_given(tmp_path, capsys):
    path = _vid2e_npz(tmp_path)
    rc, out, _ = run(capsys, "info", path, "--json", "--sensor-size", "8x6")
    assert rc == 0 and json.loads(out)["duration_s"] == pytest.approx(4961.82, abs=0.01)
    rc, out, err = run(capsys, "info", path, "--json", "--sensor-size", "8x6", "--time-unit", "ns")
    s = json.loads(out)
    assert rc == 0 and s["duration_s"] == pytest.approx(4.96182, abs=1e-5), err
    assert s["time_unit_detected"] == "ns"


def test_info_reads_columns_in_the_order_given(tmp_path, capsys):
    path = _esim_npy(tmp_path)
    rc, _, err = run(capsys, "info", path, "--sensor-size", "8x6")
    assert rc == 1 and "--columns" in last_line(err), err
    rc, out, err = run(capsys, "info", path, "--sensor-size", "8x6", "--columns", "xytp", "--json")
    s = json.loads(out)
    assert rc == 0 and (s["t_start_us"], s["t_last_us"]) == (1000, 4000), err


def test_render_reads_times_and_columns_as_given(tmp_path, capsys):
    common = ("--sensor-size", "8x6", "--no-progress", "--window-ms", "10000")
    path = _vid2e_npz(tmp_path)
    rc, out, err = run(
        capsys, "render", path, "-o", tmp_path / "a.png", *common, "--time-unit", "ns"
    )
    assert rc == 0 and "4961.821 ms of events in 10 s of windows" in out, (out, err)
    # read as µs the file lasts 4962 s: the 10 s window is all events
    rc, out, err = run(capsys, "render", path, "-o", tmp_path / "b.png", *common)
    assert rc == 0 and out.rstrip().endswith("10 s of events"), (out, err)
    esim = _esim_npy(tmp_path)
    rc, _, err = run(capsys, "render", esim, "-o", tmp_path / "c.png", *common)
    assert rc == 1 and "--columns" in last_line(err), err
    rc, out, err = run(
        capsys, "render", esim, "-o", tmp_path / "c.png", *common, "--columns", "xytp"
    )
    assert rc == 0 and "3.001 ms of events" in out, (out, err)


def test_plot_reads_times_and_columns_as_given(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    esim = _esim_npy(tmp_path)
    rc, _, err = run(capsys, "plot", esim, "-o", tmp_path / "a.png", "--sensor-size", "8x6")
    assert rc == 1 and "--columns" in last_line(err), err
    rc, _, err = run(
        capsys, "plot", esim, "-o", tmp_path / "a.png", "--sensor-size", "8x6", "--columns", "xytp"
    )
    assert rc == 0 and (tmp_path / "a.png").is_file(), err
    path = _vid2e_npz(tmp_path)
    rc, _, err = run(
        capsys, "plot", path, "-o", tmp_path / "b.png", "--sensor-size", "8x6", "--time-unit", "ns"
    )
    assert rc == 0, err
    # a unit that the format fixes is refused, not ignored
    rc, _, err = run(
        capsys, "plot", _own_h5(tmp_path), "-o", tmp_path / "c.png", "--time-unit", "ns"
    )
    assert rc == 1 and "does not apply" in last_line(err), err


@pytest.mark.parametrize("command", ["info", "convert", "render", "plot"])
def test_reading_options_are_one_definition(command):
    from test_docs_review5 import _options

    convert = _options("convert")
    options = _options(command)
    for name in ("--time-unit", "--columns"):
        assert options[name].help == convert[name].help
        assert options[name].choices == convert[name].choices
        assert options[name].default == convert[name].default
