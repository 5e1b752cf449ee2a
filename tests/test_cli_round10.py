"""Round 10 walkthrough of the eventsim CLI: one spelling, one unit (no abbreviations, the
unit-less --start/--stop/--end refused naming the unit-named option); a render range wholly
past the recording refused naming its span; input errors before "output exists"; an output
folder that cannot be written named with the user's path; a reader that leaves during
``eventsim --version`` / the command list; a video cut with both ends past its end telling
its length."""

from __future__ import annotations

import importlib
import io
import os
from pathlib import Path

import pytest

from eventsim import cli
from eventsim.cli import plot, render, simulate
from eventsim.cli.common import EXIT_BROKEN_PIPE, dispatch, make_parser
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


def _err(capsys) -> str:
    return capsys.readouterr().err


# ----------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("command", "word", "said"),
    [
        (render, "--start", "--start: say the unit: --start-ms (render times are milliseconds)"),
        (render, "--end", "--end: say the unit: --end-ms (render times are milliseconds)"),
        (simulate, "--start", "--start: say the unit: --start-s (video times are seconds)"),
        (simulate, "--stop", "--stop: say the unit: --stop-s (video times are seconds)"),
    ],
)
def test_a_unit_less_time_option_is_refused_naming_the_unit(tmp_path, capsys, command, word, said):
    """--start was seconds in simulate and milliseconds in render, silently."""
    out = tmp_path / ("a.png" if command is render else "a.h5")
    for argv in ([word, "1"], [f"{word}=1"]):
        assert command.main(["in.h5", "-o", str(out), *argv]) == 2
        assert _err(capsys).strip().endswith(f"error: {said}")
    assert not out.exists()


@pytest.mark.parametrize(
    ("command", "word"), [(render, "--star"), (render, "--en"), (simulate, "--star")]
)
def test_an_abbreviated_option_is_not_taken(tmp_path, capsys, command, word):
    """'--star' resolved to --start-s in one command and --start-ms in the other."""
    out = tmp_path / ("a.png" if command is render else "a.h5")
    assert command.main(["in.h5", "-o", str(out), word, "1"]) == 2
    assert f"unrecognized arguments: {word} 1" in _err(capsys)


def test_no_subcommand_parser_takes_abbreviations():
    assert make_parser("x", "y").allow_abbrev is False
    assert make_parser("x", "y", prog="epvlm").allow_abbrev is False
    for module, _ in cli.COMMANDS.values():
        assert importlib.import_module(module).build_parser().allow_abbrev is False, module


def test_the_unit_named_options_still_work(tmp_path, events, video):
    out = tmp_path / "a.png"
    assert render.main([str(events), "-o", str(out), "--start-ms", "100", "--end-ms", "200"]) == 0
    argv = [str(video), "-o", str(tmp_path / "a.h5"), "--start-s", "0.1", "--stop-s", "0.3"]
    assert simulate.main([*argv, "--no-progress"]) == 0


# ----------------------------------------------------------------------------- render range


def test_a_render_range_past_the_recording_is_refused_naming_its_span(tmp_path, events, capsys):
    out = tmp_path / "r.png"
    argv = [str(events), "-o", str(out), "--start-ms", "300000", "--end-ms", "320000"]
    assert render.main(argv) == 1
    err = _err(capsys)
    assert "--start-ms 300000 --end-ms 320000 is past the last event of" in err
    assert "its events span 0 .. 4" in err  # ~0.47 s of events
    assert "ms after the first" in err
    # about 1000 times the span: the microsecond mistake is named
    assert "if those were microseconds: --start-ms 300 --end-ms 320" in err
    assert not out.exists()


def test_a_render_range_a_little_past_the_recording_names_no_unit_mistake(tmp_path, events, capsys):
    argv = [str(events), "-o", str(tmp_path / "r.png"), "--start-ms", "3000", "--end-ms", "3200"]
    assert render.main(argv) == 1
    err = _err(capsys)
    assert "is past the last event" in err
    assert "microseconds" not in err


def test_a_render_range_partly_past_the_recording_is_drawn(tmp_path, events, capsys):
    out = tmp_path / "r.png"
    argv = [str(events), "-o", str(out), "--start-ms", "400", "--end-ms", "5000"]
    assert render.main(argv) == 0
    assert out.exists()
    assert "no events" not in capsys.readouterr().out


# ----------------------------------------------------------------------------- input first


@pytest.mark.parametrize(
    ("command", "name", "said"),
    [
        (simulate, "missing.mp4", "video '{}' does not exist"),
        (render, "missing.h5", "event file '{}' does not exist"),
        (plot, "missing.h5", "event file '{}' does not exist"),
    ],
)
def test_a_missing_input_is_named_before_an_existing_output(tmp_path, capsys, command, name, said):
    out = tmp_path / ("y.h5" if command is simulate else "y.png")
    out.write_bytes(b"old")
    missing = tmp_path / name
    assert command.main([str(missing), "-o", str(out), "--no-progress"]) == 1
    err = _err(capsys)
    assert said.format(missing) in err
    assert "pass --force" not in err
    assert out.read_bytes() == b"old"


def test_an_existing_output_is_still_refused_after_a_good_input(tmp_path, events, capsys):
    out = tmp_path / "y.png"
    out.write_bytes(b"old")
    assert render.main([str(events), "-o", str(out)]) == 1
    assert "exists; pass --force to overwrite it" in _err(capsys)
    assert out.read_bytes() == b"old"


# ----------------------------------------------------------------------------- unwritable output


@pytest.mark.parametrize("name", ["x.png", "x.mp4", "x.gif", "frames"])
def test_an_output_under_a_file_names_the_users_path(tmp_path, events, capsys, name):
    (tmp_path / "somefile").write_text("")
    out = tmp_path / "somefile" / name
    assert render.main([str(events), "-o", str(out), "--no-progress"]) == 1
    err = _err(capsys)
    assert f"cannot create '{out}': '{tmp_path / 'somefile'}' is not a folder" in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
@pytest.mark.parametrize(
    ("command", "name"),
    [(render, "x.png"), (render, "x.mp4"), (render, "x.gif"), (render, "frames"), (plot, "x.png")],
)
def test_an_output_in_a_read_only_folder_names_the_users_path(
    tmp_path, events, capsys, command, name
):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        out = folder / name
        assert command.main([str(events), "-o", str(out), "--no-progress"]) == 1
        err = _err(capsys)
        assert f"cannot create '{out}' in folder '{folder}': permission denied" in err
        assert ".tmp" not in err
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_a_folder_that_refuses_files_is_named_before_opencv_opens_a_video(
    tmp_path, events, capsys, monkeypatch
):
    """As root no folder refuses a file: the refusal is made up, at the writer's probe. OpenCV
    said only 'could not open a mp4v video writer'."""
    import errno

    from eventsim.render import writers

    real_open = os.open

    def refusing_open(path, flags, *args):
        if Path(path).parent == tmp_path / "ro" and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args)

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(writers.os, "open", refusing_open)
    out = tmp_path / "ro" / "x.mp4"
    assert render.main([str(events), "-o", str(out), "--no-progress"]) == 1
    err = _err(capsys)
    assert f"cannot create '{out}' in folder '{tmp_path / 'ro'}': permission denied" in err
    with pytest.raises(writers.EventFileError, match=r"cannot create .* permission denied"):
        writers.open_sink(out, fps=30)


# ----------------------------------------------------------------------------- broken pipe


class _GoneReader(io.StringIO):
    """A stdout whose reader has left (``eventsim --version | true``)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("argv", [["--version"], [], ["-h"], ["--help"]])
def test_a_reader_that_leaves_the_top_level_output_ends_it_quietly(monkeypatch, capsys, argv):
    monkeypatch.setattr("sys.stdout", _GoneReader())
    assert cli.main(argv) == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_dispatch_of_another_script_ends_quietly_too(monkeypatch):
    """epvlm's script runs the same dispatch."""
    monkeypatch.setattr("sys.stdout", _GoneReader())
    commands = {"run": (lambda argv: 0, "a command")}
    assert dispatch("epvlm", "9.9", commands, ["--version"]) == EXIT_BROKEN_PIPE


def test_the_top_level_output_is_unchanged_with_a_reader(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("eventsim ")
    assert cli.main([]) == 2
    assert "commands:" in capsys.readouterr().out


# ----------------------------------------------------------------------------- video cut


def test_a_video_cut_past_its_end_tells_the_length_with_a_stop_too(tmp_path, video, capsys):
    out = tmp_path / "a.h5"
    argv = [str(video), "-o", str(out), "--no-progress", "--start-s", "500"]
    assert simulate.main([*argv, "--stop-s", "1500"]) == 1
    err = _err(capsys)
    assert "has no decodable frames between 500 s and 1500 s (the video is 0.5 s long)" in err
    assert simulate.main(argv) == 1
    assert "after 500 s (the video is 0.5 s long)" in _err(capsys)


# ----------------------------------------------------------------------------- second look


@pytest.fixture(scope="module")
def still_tail(tmp_path_factory) -> Path:
    """Events with saved frames that outlast them: a clip that ends on a still scene."""
    import numpy as np

    frames, _ = moving_shapes_clip(32, 24, duration_s=0.5, fps=30, seed=3)
    frames = np.concatenate([frames, np.repeat(frames[-1:], 30, axis=0)])
    folder = tmp_path_factory.mktemp("still")
    video = write_video(folder / "still.mp4", frames, fps=30)
    out = folder / "still.h5"
    assert simulate.main([str(video), "-o", str(out), "--save-frames", "--no-progress"]) == 0
    return out


def test_an_overlay_of_saved_frames_past_the_last_event_is_drawn(tmp_path, still_tail, capsys):
    """The frames of a still scene are there to show: the range was refused as past the
    recording, which it is only for the events."""
    from eventsim.io import open_events

    with open_events(still_tail) as reader:
        last_event_ms = (reader.t_end_us - reader.t_start_us) / 1000
        last_frame_ms = (int(reader.frame_ts_us[-1]) - reader.t_start_us) / 1000
    assert last_frame_ms > last_event_ms + 300
    start = last_event_ms + 100
    out = tmp_path / "o.png"
    argv = [str(still_tail), "-o", str(out), "--mode", "overlay", "--start-ms", f"{start:.0f}"]
    assert render.main([*argv, "--end-ms", f"{start + 100:.0f}"]) == 0
    assert "no events in 100 ms of windows" in capsys.readouterr().out
    # past the frames too: refused, naming both
    argv = [str(still_tail), "-o", str(tmp_path / "p.png"), "--mode", "overlay"]
    assert render.main([*argv, "--start-ms", f"{last_frame_ms + 100:.0f}"]) == 1
    err = _err(capsys)
    assert "is past the last event of" in err
    assert f"its last saved frame at {last_frame_ms:.3f}".rstrip("0").rstrip(".") in err
    # other modes draw no frames: still refused past the last event
    argv = [str(still_tail), "-o", str(tmp_path / "q.png"), "--start-ms", f"{start:.0f}"]
    assert render.main(argv) == 1
    assert "last saved frame" not in _err(capsys)


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (["--start-ms", "-5"], "--start-ms -5 must be >= 0"),
        (["--end-ms", "0"], "--end-ms 0 must be > 0"),
        (["--start-ms", "5", "--end-ms", "3"], "--start-ms 5 is not before --end-ms 3"),
        (["--fps", "0"], "--fps 0 must be > 0"),
    ],
)
def test_a_bad_render_range_is_named_before_an_existing_output(
    tmp_path, events, capsys, words, said
):
    """The range was judged by render_file, after the output (and a read of the input)."""
    out = tmp_path / "y.png"
    out.write_bytes(b"old")
    assert render.main([str(events), "-o", str(out), *words]) == 1
    err = _err(capsys)
    assert said in err
    assert "pass --force" not in err


def test_synthetic_refuses_an_existing_output_before_making_its_clip(tmp_path, capsys, monkeypatch):
    """The clip is made in memory (up to 2 GiB) before the output was looked at."""
    from eventsim.simulator import synthetic

    def no_clip(*args, **kwargs):
        raise AssertionError("the clip was made")

    monkeypatch.setattr(synthetic, "moving_shapes_clip", no_clip)
    out = tmp_path / "y.h5"
    out.write_bytes(b"old")
    assert simulate.main(["--synthetic", "moving-shapes", "-o", str(out)]) == 1
    assert "exists; pass --force to overwrite it" in _err(capsys)
    # its own parameters still come first
    argv = ["--synthetic", "moving-shapes", "-o", str(out), "--sensor-size", "8x8"]
    assert simulate.main(argv) == 1
    err = _err(capsys)
    assert "--sensor-size 8x8 is too small for --synthetic" in err
    assert "pass --force" not in err


@pytest.mark.parametrize("module", [render, simulate, plot])
def test_a_reader_that_leaves_a_commands_help_ends_it_quietly(monkeypatch, capsys, module):
    """argparse dropped the write error: a help text longer than stdout's buffer (render's)
    ended with status 0, a shorter one with 141."""
    monkeypatch.setattr("sys.stdout", _GoneReader())
    assert module.main(["-h"]) == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_the_creatable_probe_is_removed_when_interrupted(tmp_path, monkeypatch):
    """A Ctrl-C right after the probe was made left it, in a folder above the output's that no
    later run looks in for its temporaries."""
    from eventsim.render import writers

    real_close = os.close

    def interrupted_close(fd):
        real_close(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(writers.os, "close", interrupted_close)
    with pytest.raises(KeyboardInterrupt):
        writers.check_creatable(tmp_path / "new" / "x.png")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
