"""Second look at render walkthrough 12 (video at 2x by default) and plot walkthrough 12 (the
reader's notes told by render and plot): a unit our own .npy fixes was noted on every render,
the PNG note named --end-ms with six digits, and the render benchmark drew its MP4 at 2x."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from eventsim.events import make_events
from eventsim.io import write_events

ROOT = Path(__file__).resolve().parents[1]


def _events(n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(12)
    t = np.sort(rng.integers(0, 100_000, n))
    return make_events(rng.integers(0, 32, n), rng.integers(0, 24, n), t, rng.integers(0, 2, n))


def _cli(capsys, *argv):
    from eventsim.cli import main

    rc = main([*map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("command", ["render", "plot"])
def test_render_and_plot_of_our_npy_do_not_note_the_unit_its_dtype_fixes(tmp_path, capsys, command):
    """Every render or plot of an .npy of eventsim's own dtype said 'note: time unit:
    microseconds (EVENT_DTYPE)': the dtype fixes the unit, so it told nothing. The sensor size
    the reader inferred (the frames' size) is still noted."""
    src = tmp_path / "ev.npy"
    np.save(src, _events())
    extra = ["--end-ms", "100"] if command == "render" else []
    rc, _, err = _cli(capsys, command, src, "-o", tmp_path / "o.png", *extra, "--no-progress")
    assert rc == 0, err
    assert "time unit" not in err
    assert f"eventsim {command}: note: sensor size not recorded; inferred" in err


def test_convert_still_notes_the_unit_of_our_npy(tmp_path, capsys):
    src = tmp_path / "ev.npy"
    np.save(src, _events())
    rc, _, err = _cli(capsys, "convert", src, tmp_path / "o.h5", "--no-progress")
    assert rc == 0, err
    assert "eventsim convert: note: time unit: microseconds (EVENT_DTYPE)" in err


@pytest.mark.parametrize("command", ["render", "plot"])
def test_render_and_plot_of_our_hdf5_print_no_note(tmp_path, capsys, command):
    src = tmp_path / "ev.h5"
    write_events(src, _events(), (32, 24))
    extra = ["--end-ms", "100"] if command == "render" else []
    rc, _, err = _cli(capsys, command, src, "-o", tmp_path / "o.png", *extra, "--no-progress")
    assert rc == 0, err
    assert err == ""


def test_png_note_of_an_unused_end_ms_names_it_as_given(tmp_path, capsys):
    """The note said '--end-ms 82.0867 is unused' for --end-ms 82.0866666 (':g' kept six
    digits), which the same commit stopped other messages from doing."""
    src = tmp_path / "ev.h5"
    write_events(src, _events(), (32, 24))
    rc, _, err = _cli(
        capsys, "render", src, "-o", tmp_path / "o.png", "--window-ms", "10.0000005",
        "--end-ms", "82.0866666", "--no-progress",
    )  # fmt: skip
    assert rc == 0, err
    assert "the first --window-ms 10.0000005 window" in err
    assert "--end-ms 82.0866666 is unused" in err


def test_render_benchmark_draws_its_mp4_at_the_sensors_size(monkeypatch):
    """docs/benchmarks.md's render figures were taken at 346x260; with video drawn at 2x by
    default the tool timed frames four times as large against them."""
    spec = importlib.util.spec_from_file_location(
        "bench_render_sl12", ROOT / "tools" / "bench_render.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    runs: list[list[str]] = []

    def fake_run(argv: list[str]) -> dict:
        runs.append(argv)
        return {"rc": 0, "wall_s": 1.0, "peak_rss_mib": 1.0}

    monkeypatch.setattr(bench, "make_recording", lambda path, seconds, rate: 1000)
    monkeypatch.setattr(bench, "run", fake_run)
    assert bench.main(["--seconds", "0.1"]) == 0
    render = next(argv for argv in runs if argv[0] == "render")
    assert render[render.index("--scale") + 1] == "1"
