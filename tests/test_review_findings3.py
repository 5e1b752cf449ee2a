"""Third review of the event-simulation side, as a researcher uses it (simulate, convert,
render, verify): each test failed before its fix."""

from __future__ import annotations

import cv2
import pytest

from eventsim.cli.simulate import main as simulate_main
from eventsim.simulator.synthetic import moving_shapes_clip

from cli_checks import one_line


@pytest.fixture(scope="module")
def frame_folder(tmp_path_factory):
    """Six 32x24 PNG frames without a timestamps file."""
    folder = tmp_path_factory.mktemp("frames") / "png"
    folder.mkdir()
    frames, _ = moving_shapes_clip(32, 24, duration_s=0.2, fps=30, seed=1)
    for i, frame in enumerate(frames):
        assert cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


def _simulate_fails(tmp_path, capsys, argv, *needles) -> str:
    out = tmp_path / "out.h5"
    rc = simulate_main([*map(str, argv), "-o", str(out), "-q"])
    assert rc == 1
    line = one_line(capsys.readouterr().err, *needles)
    assert not out.exists()
    return line


def test_a_timestamps_file_that_is_not_text_is_one_line(tmp_path, capsys, frame_folder):
    """Was 'internal error: UnicodeDecodeError'."""
    times = tmp_path / "times.txt"
    times.write_bytes(bytes(range(128, 256)))
    _simulate_fails(
        tmp_path, capsys, [frame_folder, "--timestamps", times], "not UTF-8 text", "times.txt"
    )


def test_a_folder_given_as_timestamps_file_is_named_a_folder(tmp_path, capsys, frame_folder):
    """Was 'timestamps file ... does not exist' for a folder that exists."""
    _simulate_fails(tmp_path, capsys, [frame_folder, "--timestamps", tmp_path], "is a folder")


def test_times_past_int64_microseconds_are_refused_by_line(tmp_path, capsys, frame_folder):
    """1e20 s wrapped around in int64 µs and the error blamed the order of the times."""
    times = tmp_path / "times.txt"
    times.write_text("".join(f"{i + 1}e20\n" for i in range(6)))
    _simulate_fails(
        tmp_path, capsys, [frame_folder, "--timestamps", times], "line 1", "'1e20'", "beyond"
    )


def test_fps_with_timestamps_is_refused_by_one_check(tmp_path, capsys, frame_folder):
    """One check for --fps beside --timestamps or beside a folder's timestamps.txt; the
    message offers --timestamps only where it was not given."""
    times = tmp_path / "times.txt"
    times.write_text("".join(f"{i / 30}\n" for i in range(6)))
    line = _simulate_fails(
        tmp_path, capsys, [frame_folder, "--timestamps", times, "--fps", 30], "drop --fps"
    )
    assert "--timestamps FILE" not in line
    timed = tmp_path / "timed"
    timed.mkdir()
    for p in frame_folder.iterdir():
        (timed / p.name).write_bytes(p.read_bytes())
    (timed / "timestamps.txt").write_text(times.read_text())
    _simulate_fails(tmp_path, capsys, [timed, "--fps", 30], "drop --fps", "--timestamps FILE")
