"""Review 5 of the inspection commands (info, render, plot, convert) and the dataset readers:
one rule for bad polarity in every layout, closed time ranges, a said-why missing colour bar,
progress bars only on a terminal, the dataset format's version, and small refusals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import DatasetError
from eventsim.events import EVENT_DTYPE
from eventsim.io import write_events

from cli_checks import one_line


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _events(t: list[int], p: list[int]) -> np.ndarray:
    ev = np.zeros(len(t), EVENT_DTYPE)
    ev["x"] = np.arange(len(t)) % 8
    ev["y"] = np.arange(len(t)) % 6
    ev["t"] = t
    ev["p"] = p
    return ev


# -- 1. bad polarity: a warning from info in every layout, an error with --check ---------------
def _bad_polarity_file(tmp_path: Path, layout: str) -> Path:
    ev = _events([1, 2, 3], [0, 2, 1])
    cols = np.stack([ev["t"], ev["x"], ev["y"], ev["p"]], axis=1)
    if layout == "eventsim":
        path = tmp_path / "bad.h5"
        write_events(path, _events([1, 2, 3], [0, 0, 1]), (8, 6))
        with h5py.File(path, "r+") as f:
            f["events/p"][1] = 2
    elif layout == "npy":
        path = tmp_path / "bad.npy"
        np.save(path, ev)
    elif layout == "npz":
        path = tmp_path / "bad.npz"
        np.savez(path, events=cols)
    elif layout == "txt":
        path = tmp_path / "bad.txt"
        np.savetxt(path, cols, fmt="%d")
    else:  # v2e: N x 4 [t, x, y, p] in /events
        path = tmp_path / "bad-v2e.h5"
        with h5py.File(path, "w") as f:
            f["events"] = cols
    return path


@pytest.mark.parametrize("layout", ["eventsim", "npy", "npz", "txt", "v2e"])
def test_info_warns_on_bad_polarity_in_every_layout_and_check_fails(tmp_path, capsys, layout):
    path = _bad_polarity_file(tmp_path, layout)
    rc, out, err = run(capsys, "info", path, "--sensor-size", "8x6")
    assert rc == 0, err
    assert "events:          3" in out
    one_line(err, "warning:", "polarity p[1] = 2; expected 0 or 1")
    rc, _, err = run(capsys, "info", "--check", path, "--sensor-size", "8x6")
    assert rc == 1
    one_line(err, "error:", "polarity p[1] = 2")


def test_info_names_a_polarity_int8_cannot_hold(tmp_path, capsys):
    path = tmp_path / "half.txt"
    np.savetxt(path, np.array([[1, 0, 0, 0], [2, 0, 0, 0.5], [3, 0, 0, 1]]), fmt="%g")
    rc, out, err = run(capsys, "info", path, "--sensor-size", "8x6")
    assert rc == 0, err
    assert "polarity at index 1 is 0.5, which int8 cannot hold" in out
    # the value as written, not the -128 read for it
    one_line(err, "warning:", "polarity at index 1 is 0.5; expected 0/1")


def test_other_commands_still_refuse_bad_polarity(tmp_path, capsys):
    path = _bad_polarity_file(tmp_path, "npy")
    out = tmp_path / "o.h5"
    rc, _, err = run(capsys, "convert", path, out, "--sensor-size", "8x6")
    assert rc == 1
    one_line(err, "polarity at index 1 is 2; expected 0/1")
    assert not out.exists()


# -- 2. the time range info prints holds the first and the last event -------------------------
def test_info_prints_the_first_and_last_event_times(tmp_path, capsys):
    path = tmp_path / "ev.npy"
    np.save(path, _events(list(range(3, 10)), [0, 1] * 3 + [0]))
    rc, out, err = run(capsys, "info", path, "--sensor-size", "8x6")
    assert rc == 0, err
    assert "time range:      3 .. 9 us (first and last event)" in out
    rc, out, _ = run(capsys, "info", "--json", path, "--sensor-size", "8x6")
    summary = json.loads(out)
    assert (summary["t_start_us"], summary["t_last_us"], summary["t_end_us"]) == (3, 9, 10)


def test_info_time_range_of_no_events(tmp_path, capsys):
    path = tmp_path / "none.npy"
    np.save(path, np.zeros(0, EVENT_DTYPE))
    rc, out, err = run(capsys, "info", path, "--sensor-size", "8x6")
    assert rc == 0, err
    assert "time range:      n/a (no events)" in out


# -- 3. a heat map too small for its colour bar says so ----------------------------------------
@pytest.fixture
def small_h5(tmp_path) -> Path:
    path = tmp_path / "small.h5"
    n = 1000
    ev = _events(list(range(0, 10 * n, 10)), [0, 1] * (n // 2))
    ev["x"] = np.arange(n) % 64
    ev["y"] = np.arange(n) % 48
    write_events(path, ev, (64, 48))
    return path


def test_a_heatmap_without_its_colour_bar_says_why_and_how_to_get_one(tmp_path, capsys, small_h5):
    out = tmp_path / "h.png"
    rc, stdout, err = run(
        capsys, "render", small_h5, "-o", out, "--mode", "heatmap", "--no-progress"
    )
    assert rc == 0, err
    assert "wrote" in stdout
    one_line(err, "note:", "no colour bar", "64x48 frames are too small", "--scale 4")
    # the suggested scale gives frames that hold it, and no note
    rc, _, err = run(
        capsys,
        "render",
        small_h5,
        "-o",
        out,
        "--mode",
        "heatmap",
        "--scale",
        "4",
        "--force",
        "--no-progress",
    )
    assert rc == 0 and err == ""
    # without a colour bar asked for, nothing to say
    rc, _, err = run(
        capsys,
        "render",
        small_h5,
        "-o",
        out,
        "--mode",
        "heatmap",
        "--no-colorbar",
        "--force",
        "--no-progress",
    )
    assert rc == 0 and err == ""


# -- 4. progress bars only on a terminal, unless --no-progress ---------------------------------
@pytest.mark.parametrize("command", ["render", "plot"])
def test_progress_bars_are_drawn_only_on_a_terminal(
    tmp_path, capsys, monkeypatch, small_h5, command
):
    pytest.importorskip("matplotlib")
    out = tmp_path / "o.png"
    argv = [command, small_h5, "-o", out, "--force"]
    rc, _, err = run(capsys, *argv)
    assert rc == 0 and err == ""  # stderr is not a terminal here: a log file, a pipe
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    rc, _, err = run(capsys, *argv)
    assert rc == 0 and f"{command}: 100%" in err
    rc, _, err = run(capsys, *argv, "--no-progress")
    assert rc == 0 and err == ""


# -- 5. a dataset format this eventsim does not know is refused, naming both versions ----------
@pytest.fixture
def dataset_copy(build_shapes, tmp_path) -> Path:
    return Path(shutil.copytree(build_shapes(2), tmp_path / "ds"))


def _set_format_version(root: Path, version: object) -> None:
    manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    manifest["format_version"] = version
    (root / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize("version", ["2.0", "0.9", "one"])
def test_a_dataset_format_version_not_known_is_refused(dataset_copy, capsys, version):
    from eventsim.datasets import EventVQADataset, read_manifest
    from eventsim.datasets.engine import DATASET_FORMAT_VERSION

    _set_format_version(dataset_copy, version)
    with pytest.raises(DatasetError) as err:
        read_manifest(dataset_copy)
    assert f"format version {version!r}" in str(err.value)
    assert f"it writes {DATASET_FORMAT_VERSION}" in str(err.value)
    with pytest.raises(DatasetError, match="format version"):
        EventVQADataset(dataset_copy, "test")
    for command in ("info", "verify"):
        rc, _, err_text = run(capsys, command, dataset_copy)
        assert rc == 1
        one_line(err_text, f"format version {version!r}", "reads version 1.x")


@pytest.mark.parametrize("version", ["1.0", "1.3", "1"])
def test_the_current_major_format_version_is_read(dataset_copy, capsys, version):
    from eventsim.datasets import EventVQADataset

    _set_format_version(dataset_copy, version)
    assert len(EventVQADataset(dataset_copy, "test")) == 2
    rc, out, err = run(capsys, "info", dataset_copy)
    assert rc == 0 and f"eventsim-vqa {version}" in out, err


# -- 6. small things: an empty plot's bar, a file that is not a file, an unused --columns ------
def test_plot_of_no_events_draws_no_progress_bar(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    path = tmp_path / "none.npy"
    np.save(path, np.zeros(0, EVENT_DTYPE))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    rc, _, err = run(capsys, "plot", path, "-o", tmp_path / "p.png", "--sensor-size", "8x6")
    assert rc == 0, err
    # the reader's notes ("eventsim plot: note: ...") are no progress bar ("plot: 0%|")
    assert "0.00ev" not in err and "plot:" not in err.replace("eventsim plot: note:", "")


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null")
def test_info_names_a_device_not_a_regular_file(capsys):
    rc, _, err = run(capsys, "info", "/dev/null")
    assert rc == 1
    one_line(err, "'/dev/null' is not a regular file", "expected an event file")


def _inputs_with_named_columns(tmp_path: Path) -> list[Path]:
    ev = _events([1, 2, 3], [0, 1, 1])
    structured = tmp_path / "structured.npy"
    np.save(structured, ev)
    named = tmp_path / "named.npz"
    np.savez(named, x=ev["x"], y=ev["y"], t=ev["t"], p=ev["p"])
    text = tmp_path / "ev.txt"
    np.savetxt(text, np.stack([ev["t"], ev["x"], ev["y"], ev["p"]], axis=1), fmt="%d")
    h5 = tmp_path / "ev.h5"
    write_events(h5, ev, (8, 6))
    return [structured, named, text, h5]


def test_convert_refuses_a_column_order_the_input_does_not_use(tmp_path, capsys):
    for path in _inputs_with_named_columns(tmp_path):
        out = tmp_path / "o.h5"
        rc, _, err = run(capsys, "convert", path, out, "--columns", "xytp", "--sensor-size", "8x6")
        assert rc == 1, path
        one_line(err, "--columns xytp", "applies only to N x 4 arrays", path.name)
        assert not out.exists()
        # the default order is no request: the same files convert
        rc, _, err = run(capsys, "convert", path, out, "--sensor-size", "8x6")
        assert rc == 0, err
        out.unlink()


def test_convert_uses_a_column_order_on_an_n_by_4_array(tmp_path, capsys):
    from eventsim.io import load_events

    path = tmp_path / "m.npy"
    np.save(path, np.array([[1, 2, 10, 1], [3, 4, 20, 0]]))  # esim_py's x, y, t, p
    out = tmp_path / "o.h5"
    rc, _, err = run(capsys, "convert", path, out, "--columns", "xytp", "--sensor-size", "8x6")
    assert rc == 0, err
    ev = load_events(out)
    assert ev["t"].tolist() == [10, 20] and ev["x"].tolist() == [1, 3]


@pytest.mark.skipif(
    sys.platform == "win32" or sys.getfilesystemencoding().lower() != "utf-8",
    reason="file names are bytes, read as UTF-8, only on POSIX systems with a UTF-8 locale",
)
def test_every_command_names_a_file_whose_name_is_not_utf8_escaped(tmp_path):
    # a UTF-8 locale's strict stdout refused the name's surrogates: info exited 1 with an
    # internal error after printing half its report (build and simulate had their own fixes)
    bad = os.fsdecode(b"bad\xff.h5")
    events = np.zeros(3, EVENT_DTYPE)
    events["t"] = [1, 2, 3]
    events["p"] = [0, 1, 1]
    np.save(tmp_path / "ok.npy", events)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    for argv in (
        ["convert", "ok.npy", bad, "--sensor-size", "32x24"],
        ["info", bad],
        ["info", "--json", bad],
    ):
        run = subprocess.run(
            [sys.executable, "-m", "eventsim", *argv],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )
        assert run.returncode == 0, (argv, run.stderr)
        assert "internal error" not in run.stderr
    assert "bad\\udcff.h5" in run.stdout
