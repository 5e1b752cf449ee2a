"""Round 11 leftovers of the command lines:

- ``-q``/``--quiet`` was simulate's alone; every command with ``--no-progress`` (build,
  convert, render, plot, verify, epvlm eval and demo) now takes it, from one definition;
- simulate said nothing about a given sensor size whose simulator state takes gigabytes (a
  typo such as 12800x720); sizes beyond the events' int16 coordinates were already refused;
- the output options' --help say, in one phrase, that missing folders are created;
- ``convert --force`` both overwrote and passed implausible times: the latter has its own
  ``--allow-implausible-times``, and --force still passes them with a deprecation warning;
- ``epvlm``'s --threads type repeated `check_threads`' range check; both use one rule;
- convert's input checks repeated `open_events`' words; both use `check_event_path`, so a
  pipe given as INPUT is named before an output that exists.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import pytest
from test_convert_info_round10 import _clip

from eventsim.cli import main
from eventsim.cli.common import CREATES_FOLDERS


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _parsers() -> dict[str, tuple[argparse.ArgumentParser, list[str]]]:
    """Each command that draws a progress bar, with the arguments it requires."""
    from epvlm import cli as epvlm_cli
    from eventsim.cli import build, convert, plot, render, simulate, verify

    return {
        "simulate": (simulate.build_parser(), ["-o", "x.h5"]),
        "build": (build.build_parser(), ["recipe.toml", "-o", "out"]),
        "convert": (convert.build_parser(), ["in.npy", "out.h5"]),
        "render": (render.build_parser(), ["in.h5", "-o", "out.png"]),
        "plot": (plot.build_parser(), ["in.h5", "-o", "out.png"]),
        "verify": (verify.build_parser(), ["data"]),
        "epvlm eval": (epvlm_cli.build_eval_parser(), ["--model", "m", "--dataset", "data"]),
        "epvlm demo": (epvlm_cli.build_demo_parser(), []),
    }


# ------------------------------------------------------------------------------ -q / --quiet
@pytest.mark.parametrize("command", list(_parsers()))
@pytest.mark.parametrize("flag", ["-q", "--quiet", "--no-progress"])
def test_every_command_with_a_progress_bar_takes_q_and_quiet(command, flag):
    parser, required = _parsers()[command]
    assert parser.parse_args([*required, flag]).no_progress is True
    assert parser.parse_args(required).no_progress is False
    text = " ".join(parser.format_help().split())
    assert "--no-progress, -q, --quiet hide the progress bar" in text


def test_convert_q_hides_its_bar_on_a_terminal(tmp_path, capsys, monkeypatch):
    src = _clip(tmp_path / "c.npy")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    argv = ["convert", str(src), "--sensor-size", "64x48"]
    assert main([*argv, str(tmp_path / "bar.h5")]) == 0
    assert "convert: 100%" in terminal.getvalue()  # the bar -q hides
    terminal.seek(0), terminal.truncate()
    assert main([*argv, str(tmp_path / "c.h5"), "-q"]) == 0
    assert "%" not in terminal.getvalue()
    assert capsys.readouterr().out.count("wrote 2,000 events") == 2


# ------------------------------------------------------------------------ large sensor sizes
SYNTHETIC = ["simulate", "--synthetic", "moving-shapes", "--duration-ms", "40", "-q"]


def test_a_sensor_size_whose_state_takes_gigabytes_is_named(tmp_path, capsys, monkeypatch):
    from eventsim.cli import simulate

    # the threshold lowered to 100 KiB: a 10000x10000 run would take 7.5 GiB here
    monkeypatch.setattr(simulate, "LARGE_STATE_BYTES", 100 << 10)
    out = tmp_path / "s.h5"
    rc = main([*SYNTHETIC, "--sensor-size", "640x480", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 0 and out.is_file()  # said, not refused
    (line,) = [x for x in err.splitlines() if "warning:" in x]
    assert line.startswith("eventsim simulate: warning: --sensor-size 640x480 (307,200 pixels)")
    assert "at least 0.0 GiB of memory (80 bytes a pixel)" in line
    assert "expected a size such as 1280x720" in line


def test_a_usual_sensor_size_or_the_inputs_own_says_nothing(tmp_path, capsys):
    assert main([*SYNTHETIC, "--sensor-size", "1280x720", "-o", str(tmp_path / "a.h5")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main([*SYNTHETIC, "-o", str(tmp_path / "b.h5")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_warning_counts_the_leak_state(monkeypatch):
    from eventsim.simulator import DVSParams
    from eventsim.simulator.core import state_bytes_per_pixel

    assert state_bytes_per_pixel(DVSParams()) == [(80, "of memory")]
    leaky = DVSParams().replace(leak_rate_hz=0.1)
    assert state_bytes_per_pixel(leaky) == [(128, "of memory")]


def test_a_sensor_size_beyond_int16_coordinates_is_refused(tmp_path, capsys):
    rc = main([*SYNTHETIC, "--sensor-size", "40000x720", "-o", str(tmp_path / "x.h5")])
    err = capsys.readouterr().err
    assert rc == 1 and "sensor size '40000x720' must be 1..32767 each" in err
    assert not (tmp_path / "x.h5").exists()


# --------------------------------------------------------------------- created output folders
@pytest.mark.parametrize(
    "command, option",
    [
        ("simulate", "--output"),
        ("build", "--output"),
        ("convert", "OUTPUT"),
        ("render", "--output"),
        ("plot", "--output"),
        ("epvlm eval", "--output"),
        ("epvlm demo", "--output"),
    ],
)
def test_output_help_says_missing_folders_are_created(command, option):
    parser, _ = _parsers()[command]
    (action,) = [a for a in parser._actions if option in a.option_strings or a.metavar == option]
    assert action.help is not None and action.help.endswith(f"; {CREATES_FOLDERS}")


def test_run_overlay_help_says_missing_folders_are_created():
    from epvlm.cli import build_run_parser

    (action,) = [a for a in build_run_parser()._actions if "--overlay" in a.option_strings]
    assert action.help is not None and action.help.endswith(f"; {CREATES_FOLDERS}")


def test_convert_creates_the_missing_folders_its_help_promises(tmp_path, capsys):
    src = _clip(tmp_path / "c.npy")
    out = tmp_path / "a" / "b" / "c.h5"
    assert main(["convert", str(src), str(out), "--sensor-size", "64x48"]) == 0
    assert out.is_file()


# ------------------------------------------------------------- convert's implausible times
def _seconds(tmp_path: Path) -> list[str]:
    """A convert of µs times read as seconds: 23 days at 0.001 ev/s."""
    src = _clip(tmp_path / "c.npy")
    return ["convert", str(src), "--sensor-size", "64x48", "--time-unit", "s"]


def test_implausible_times_are_refused_naming_their_own_flag(tmp_path, capsys):
    out = tmp_path / "o.npy"
    assert main([*_seconds(tmp_path), str(out)]) == 1
    err = capsys.readouterr().err
    assert "pass --allow-implausible-times to convert them as read" in err
    assert "--force" not in err and not out.exists()


def test_allow_implausible_times_converts_them_with_a_warning(tmp_path, capsys):
    out = tmp_path / "o.npy"
    assert main([*_seconds(tmp_path), str(out), "--allow-implausible-times"]) == 0
    err = capsys.readouterr().err
    assert "converted as read because of --allow-implausible-times" in err
    assert "deprecated" not in err and out.is_file()


def test_allow_implausible_times_does_not_overwrite(tmp_path, capsys):
    out = tmp_path / "o.npy"
    out.write_bytes(b"keep")
    assert main([*_seconds(tmp_path), str(out), "--allow-implausible-times"]) == 1
    assert "exists; pass --force to overwrite it" in capsys.readouterr().err
    assert out.read_bytes() == b"keep"


def test_force_still_passes_implausible_times_and_names_the_new_flag(tmp_path, capsys):
    out = tmp_path / "o.npy"
    assert main([*_seconds(tmp_path), str(out), "--force"]) == 0
    warnings = [x for x in capsys.readouterr().err.splitlines() if "warning:" in x]
    assert len(warnings) == 2 and "converted as read because of --force" in warnings[0]
    assert warnings[1] == (
        "eventsim convert: warning: --force accepting implausible times is deprecated and will "
        "only overwrite OUTPUT in a later release; pass --allow-implausible-times"
    )


def test_convert_help_gives_force_one_meaning(capsys):
    from eventsim.cli.convert import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "--force overwrite OUTPUT if it exists --allow-implausible-times" in text


# ------------------------------------------------------------------------------- --threads
def test_epvlm_threads_type_uses_check_threads_rule(monkeypatch):
    from epvlm.cli import _threads_arg
    from eventsim.cli import common
    from eventsim.errors import ParameterError

    monkeypatch.setattr(common, "usable_cores", lambda: 3)
    assert _threads_arg("3") == 3
    with pytest.raises(argparse.ArgumentTypeError) as typed:
        _threads_arg("4")
    with pytest.raises(ParameterError) as checked:
        common.check_threads(4)
    assert str(checked.value) == f"--threads {typed.value}"
    assert str(typed.value).startswith("4 must be 1..3, the CPU cores this process may use")


# ----------------------------------------------------------------------- convert's input
def test_convert_names_a_missing_input_as_open_events_does(tmp_path, capsys):
    from eventsim.errors import EventFileError
    from eventsim.io import open_events

    missing = tmp_path / "none.npy"
    with pytest.raises(EventFileError) as opened:
        open_events(missing)
    out = tmp_path / "o.h5"
    out.write_bytes(b"x")  # an existing output is not what is named first
    assert main(["convert", str(missing), str(out)]) == 1
    assert capsys.readouterr().err.strip() == f"eventsim convert: error: {opened.value}"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_convert_names_a_pipe_input_before_an_existing_output(tmp_path, capsys):
    pipe = tmp_path / "in.npy"
    os.mkfifo(pipe)
    out = tmp_path / "o.h5"
    out.write_bytes(b"x")
    assert main(["convert", str(pipe), str(out)]) == 1
    err = capsys.readouterr().err
    assert "is not a regular file (a device, pipe or socket); expected an event file" in err
    assert "exists" not in err
