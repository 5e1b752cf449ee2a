"""Options named with their units, and counts that agree with their nouns.

`eventsim simulate --start-s/--stop-s` (seconds of video) and `eventsim render
--start-ms/--end-ms` (ms after the first event) name their units as --window-ms and --duration-ms
do; the former names --start/--stop and --start/--end, one spelling for two units, are refused
naming the new ones (tests/test_cli_round10.py). Summaries say "1 sample", "1 frame", not "1
samples".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventsim._text import plural
from eventsim.cli import convert, render, simulate
from eventsim.datasets.engine import BuildSummary
from eventsim.datasets.inspection import VerifyReport
from eventsim.events import EVENT_DTYPE
from eventsim.io import EventReader, write_events
from eventsim.simulator.synthetic import moving_shapes_clip, write_video


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    frames, _ = moving_shapes_clip(32, 24, duration_s=0.5, fps=30, seed=3)
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", frames, fps=30)


@pytest.fixture(scope="module")
def events(tmp_path_factory, video) -> Path:
    out = tmp_path_factory.mktemp("events") / "clip.h5"
    assert simulate.main([str(video), "-o", str(out), "--no-progress"]) == 0
    return out


def _events_of(path: Path) -> tuple:
    with EventReader(path) as r:
        ev = r.read()
    return tuple(ev[k].tolist() for k in ("x", "y", "t", "p"))


def test_simulate_unit_named_cut_options_cut(tmp_path, video, capsys):
    new = tmp_path / "new.h5"
    assert simulate.main([str(video), "-o", str(new), "--start-s", "0.1", "--stop-s", "0.3"]) == 0
    whole = tmp_path / "whole.h5"
    assert simulate.main([str(video), "-o", str(whole)]) == 0
    assert len(_events_of(new)[0]) < len(_events_of(whole)[0])


def test_render_unit_named_range_options_draw_the_range(tmp_path, events):
    part, whole = tmp_path / "part.png", tmp_path / "whole.png"
    common = ["--no-progress", "--mode", "heatmap"]
    argv = [str(events), "-o", str(part), "--start-ms", "50", "--end-ms", "200", *common]
    assert render.main(argv) == 0
    argv = [str(events), "-o", str(whole), "--start-ms", "0", "--end-ms", "500", *common]
    assert render.main(argv) == 0
    assert part.read_bytes() != whole.read_bytes()


@pytest.mark.parametrize(
    ("command", "names"),
    [(simulate, ("--start-s S", "--stop-s S")), (render, ("--start-ms MS", "--end-ms MS"))],
)
def test_help_lists_the_unit_names(capsys, command, names):
    assert command.main(["--help"]) == 0
    text = capsys.readouterr().out
    for name in names:
        assert name in text


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--start-s", "-1"], "--start-s -1 must be a time >= 0 s"),
        (["--start-s", "2", "--stop-s", "1"], "--stop-s 1 s is not after --start-s 2 s"),
    ],
)
def test_simulate_errors_name_the_option(tmp_path, video, capsys, argv, said):
    assert simulate.main([str(video), "-o", str(tmp_path / "a.h5"), *argv]) == 1
    assert said in capsys.readouterr().err


def test_simulate_cut_of_a_non_video_names_the_option(tmp_path, capsys):
    argv = ["--synthetic", "moving-shapes", "-o", str(tmp_path / "a.h5"), "--stop-s", "1"]
    assert simulate.main(argv) == 1
    assert "error: --stop-s applies to a video INPUT only" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--start-ms", "100", "--end-ms", "50"], "--start-ms 100 is not before --end-ms 50"),
        (["--start-ms", "-1"], "--start-ms -1 must be >= 0"),
        (["--start-ms", "5000"], "--start-ms 5000 is past the last event"),
        (["--end-ms", "1e300"], "--end-ms 1e+300 ms is beyond the time range"),
    ],
)
def test_render_errors_name_the_option(tmp_path, events, capsys, argv, said):
    assert render.main([str(events), "-o", str(tmp_path / "a.png"), "--no-progress", *argv]) == 1
    assert said in capsys.readouterr().err


def test_plural_agrees_with_the_count():
    assert [plural(n, "sample") for n in (0, 1, 2)] == ["samples", "sample", "samples"]
    assert plural(1, "index", "indices") == "index"
    assert plural(3, "index", "indices") == "indices"


def test_summaries_of_one_say_the_singular(tmp_path):
    built = BuildSummary(
        out_dir=tmp_path,
        samples={"test": 1},
        errors={"test": 1},
        shards_built=1,
        shards_reused=0,
        elapsed_s=0.0,
    ).text()
    assert "built 1 sample (test 1)" in built and "skipped 1 bad sample;" in built
    ok = VerifyReport(root=tmp_path, n_samples=1, n_shards=1, problems=[]).text()
    assert ok.startswith("ok: 1 sample in 1 shard verified")
    failed = VerifyReport(root=tmp_path, n_samples=1, n_shards=1, problems=["x"]).text()
    assert failed.startswith("FAILED: 1 problem in")


def test_convert_of_one_event_says_event(tmp_path, capsys):
    one = np.zeros(1, dtype=EVENT_DTYPE)
    src = write_events(tmp_path / "one.h5", one, (4, 3))
    assert convert.main([str(src), str(tmp_path / "one.npy")]) == 0
    assert capsys.readouterr().out.startswith("wrote 1 event (4x3)")
