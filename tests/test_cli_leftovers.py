"""Four CLI leftovers of the fuzz audit: option values that start with '-', empty paths,
unbounded --threads, and an error line drawn after a half-drawn progress bar."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from epvlm.cli import main as epvlm_main
from eventsim._system import usable_cores
from eventsim.cli import main as eventsim_main
from eventsim.cli.common import cli_command, make_parser
from eventsim.errors import InputError

from cli_checks import one_line
from user_media import textured

SYNTHETIC = ["simulate", "--synthetic", "moving-shapes", "--duration-ms", "40", "-q"]


def run(capsys, *argv: object, prog=eventsim_main) -> tuple[int, str]:
    rc = prog([str(a) for a in argv])
    return rc, capsys.readouterr().err


# -- values that start with '-' -------------------------------------------------------------


@pytest.mark.parametrize("value", ["-5x3", "-5*3", "-0x0"])
def test_a_dash_sensor_size_reaches_the_size_check(tmp_path, capsys, events_npy, value):
    out = tmp_path / "o.h5"
    rc, err = run(capsys, "convert", events_npy, out, "--sensor-size", value)
    assert rc == 2
    one_line(err, f"sensor size {value!r} must be 1..32767 each")
    assert not out.exists()
    # simulate reads the size after parsing: the same words, from the run
    rc, err = run(capsys, *SYNTHETIC, "-o", out, "--sensor-size", value)
    assert rc == 1
    one_line(err, f"sensor size {value!r} must be 1..32767 each")
    assert not out.exists()


def test_dash_values_reach_their_checks_in_epvlm(tmp_path, capsys):
    rc, err = run(capsys, "flops", "--keep", "-0.5x", prog=epvlm_main)
    assert rc == 2
    one_line(err, "keep fraction '-0.5x' is not a number; expected a fraction in (0, 1], e.g. 0.5")
    rc, err = run(capsys, "flops", "--config", "-nope.json", prog=epvlm_main)
    assert rc == 1
    one_line(err, "-nope.json")


def test_a_dash_word_value_is_refused_naming_the_option_and_the_spelling_that_works(
    tmp_path, capsys
):
    out = tmp_path / "o.h5"
    rc, err = run(capsys, *SYNTHETIC, "-o", out, "--sensor-size", "-big")
    assert rc == 2
    line = one_line(err, "--sensor-size", "'-big'", "--sensor-size=-big")
    assert "expected one argument" in line
    # the spelling it suggests reaches the size check
    rc, err = run(capsys, *SYNTHETIC, "-o", out, "--sensor-size=-big")
    assert rc == 1
    one_line(err, "sensor size '-big' is not WIDTHxHEIGHT")
    assert not out.exists()


def test_real_flags_after_an_option_still_mean_a_missing_value(tmp_path, capsys, events_npy):
    out = tmp_path / "o.h5"
    # a known flag, and a word like one (no abbreviation: --forc is no option), are not taken
    # for the value
    for flag in ("--force", "--forc", "-h"):
        rc, err = run(capsys, "convert", events_npy, out, "--sensor-size", flag)
        assert rc == 2
        one_line(err, "argument --sensor-size: expected one argument")
    rc, err = run(capsys, *SYNTHETIC, "--sensor-size", "8x8", "-o", "-q")
    assert rc == 2
    one_line(err, "argument -o/--output: expected one argument")
    assert "-o=-q" not in err
    # argparse would read '-out.h5' as '-o ut.h5'
    rc, err = run(capsys, *SYNTHETIC, "-o", "-out.h5")
    assert rc == 2
    one_line(err, "argument -o/--output: expected one argument", "write -o=-out.h5")
    # plain negative numbers were values before and still are
    rc, err = run(capsys, *SYNTHETIC, "-o", out, "--duration-ms", "-5")
    assert rc == 1
    one_line(err, "--duration-ms -5 must be a finite number > 0")


def test_a_dash_positional_after_double_dash_is_still_a_positional(
    tmp_path, capsys, monkeypatch, events_npy
):
    monkeypatch.chdir(tmp_path)
    rc, err = run(capsys, "convert", events_npy, "--sensor-size", "32x24", "--", "-5x3.h5")
    assert rc == 0, err
    assert (tmp_path / "-5x3.h5").is_file()


def test_options_separated_by_dash_values_parse_as_before(tmp_path, capsys, events_npy):
    out = tmp_path / "o.h5"
    rc, err = run(capsys, "convert", events_npy, out, "--sensor-size", "32x24", "--force")
    assert rc == 0, err
    rc, err = run(capsys, "convert", "--sensor-size=32x24", events_npy, out, "--force")
    assert rc == 0, err


# -- empty paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, name",
    [
        (["convert", "", "o.h5"], "argument INPUT"),
        (["convert", "IN", ""], "argument OUTPUT"),
        (["info", ""], "argument path"),
        (["render", "IN", "-o", ""], "argument -o/--output"),
        (["render", "", "-o", "out.png"], "argument file"),
        (["plot", "IN", "-o", ""], "argument -o/--output"),
        (["verify", ""], "argument dataset"),
        (["build", "", "-o", "ds"], "argument recipe"),
        (["build", "shapes-vqa", "-o", ""], "argument -o/--output"),
        (["simulate", "", "-o", "o.h5"], "argument INPUT"),
        (["simulate", "--synthetic", "moving-shapes", "-o", ""], "argument -o/--output"),
        (["simulate", "--image", "", "-o", "o.h5"], "argument --image"),
        (["simulate", "--pair", "a.png", "", "-o", "o.h5"], "argument --pair"),
        (["simulate", "IN", "--timestamps", "", "-o", "o.h5"], "argument --timestamps"),
    ],
)
def test_an_empty_path_is_refused_not_read_as_the_current_folder(
    tmp_path, capsys, monkeypatch, argv, name
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "IN").write_bytes(b"")
    rc, err = run(capsys, *argv)
    assert rc == 2
    line = one_line(err, name, "the path is empty ('')", "expected ")
    assert "'.'" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IN"]


@pytest.mark.parametrize(
    "argv, name",
    [
        (["run", "--model", "", "--image", "i.png", "--question", "q"], "argument --model"),
        (["run", "--model", "m", "--image", "", "--question", "q"], "argument --image"),
        (
            ["run", "--model", "m", "--image", "i.png", "--question", "q", "--events", ""],
            "argument --events",
        ),
        (
            ["run", "--model", "m", "--image", "i.png", "--question", "q", "--overlay", ""],
            "argument --overlay",
        ),
        (["eval", "--model", "m", "--dataset", ""], "argument --dataset"),
        (["eval", "--model", "", "--dataset", "d"], "argument --model"),
        (["eval", "--model", "m", "--dataset", "d", "-o", ""], "argument -o/--output"),
        (["flops", "--config", ""], "argument --config"),
        (["demo", "-o", ""], "argument -o/--output"),
        (["demo", "--dataset", ""], "argument --dataset"),
        (["demo", "--model", ""], "argument --model"),
    ],
)
def test_epvlm_refuses_empty_paths(tmp_path, capsys, monkeypatch, argv, name):
    monkeypatch.chdir(tmp_path)
    rc, err = run(capsys, *argv, prog=epvlm_main)
    assert rc == 2
    one_line(err, name, "the path is empty ('')", "expected ")
    assert list(tmp_path.iterdir()) == []


# -- --threads ----------------------------------------------------------------------------------


def test_simulate_threads_are_bounded_by_the_usable_cores(tmp_path, capsys):
    out = tmp_path / "o.h5"
    cores = usable_cores()
    for threads in (cores + 1, 1_000_000):
        rc, err = run(capsys, *SYNTHETIC, "-o", out, "--threads", threads)
        assert rc == 1
        one_line(err, f"--threads {threads}", f"1..{cores}")
        assert not out.exists()
    rc, err = run(capsys, *SYNTHETIC, "-o", out, "--threads", cores)
    assert rc == 0, err


def test_demo_threads_are_bounded_by_the_usable_cores(tmp_path, capsys):
    cores = usable_cores()
    rc, err = run(capsys, "demo", "-o", tmp_path / "d", "--threads", 1_000_000, prog=epvlm_main)
    assert rc == 2  # a usage error, as --keep's
    one_line(err, "--threads: 1000000", f"1..{cores}")
    assert list(tmp_path.iterdir()) == []


# -- the error line after progress bars -------------------------------------------------------


def _error_starts_a_line(err: str, prog: str) -> None:
    """The error message starts at the left of a terminal line that shows nothing else."""
    head, sep, _ = err.partition(f"{prog}: error:")
    assert sep, err
    # the terminal line the message is written on, as '\r' leaves it
    shown: list[str] = []
    column = 0
    for char in head.rpartition("\n")[2]:
        if char == "\r":
            column = 0
            continue
        shown[column : column + 1] = [char]
        column += 1
    assert column == 0 and not "".join(shown).strip(), repr(err[-300:])


def test_an_error_with_a_bar_left_open_starts_its_own_line(capsys):
    from tqdm import tqdm

    # code (a library's, say) that does not close its bar on an error: the traceback's frames
    # keep the bar open, half-drawn, while the error is printed
    @cli_command(lambda: make_parser("loop", "a loop that fails half-way"))
    def main(args) -> int:
        bar = tqdm(total=10, desc="loop", mininterval=0)
        for i in range(10):
            if i == 5:
                raise InputError("item 5 cannot be read")
            bar.update()
        bar.close()
        return 0

    rc, err = run(capsys, prog=main)
    assert rc == 1
    _error_starts_a_line(err, "eventsim loop")
    # the bar is kept, at the count where it stopped
    assert "5/10" in err.rpartition("eventsim loop: error:")[0]


def test_a_bar_open_before_the_command_is_left_open(capsys):
    from tqdm import tqdm

    @cli_command(lambda: make_parser("fail", "fails at once"))
    def main(args) -> int:
        raise InputError("nothing to read")

    with tqdm(total=3, desc="caller") as outer:
        rc, err = run(capsys, prog=main)
        assert rc == 1 and "nothing to read" in err
        assert not outer.disable  # still open: a closed bar is disabled


def test_verify_failing_mid_run_prints_its_error_on_a_clean_line(
    tmp_path, capsys, monkeypatch, build_shapes
):
    from eventsim.datasets import inspection

    ds = tmp_path / "ds"
    shutil.copytree(build_shapes(4), ds)
    real = inspection.file_digest

    def read_error_on_the_second_shard(path):
        if Path(path).name == "test-00001.h5":
            # an error verify does not take for a problem of the shard: an OSError there is
            # reported as one, and the check goes on
            raise InputError(f"cannot read {path}")
        return real(path)

    monkeypatch.setattr(inspection, "file_digest", read_error_on_the_second_shard)
    rc, err = run(capsys, "verify", ds)
    assert rc == 1
    assert "verify:" in err  # the bar was drawn
    _error_starts_a_line(err, "eventsim verify")
    assert "test-00001.h5" in err.rpartition("eventsim verify: error:")[2]


def test_simulate_failing_on_a_corrupt_frame_prints_its_error_on_a_clean_line(tmp_path, capsys):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(200):
        assert cv2.imwrite(str(frames / f"{i:03d}.png"), textured(i % 5))
    (frames / "150.png").write_bytes(b"not a png")
    out = tmp_path / "o.h5"
    rc, err = run(capsys, "simulate", frames, "-o", out, "--fps", "30")
    assert rc == 1
    assert "simulate:" in err  # progress was shown
    _error_starts_a_line(err, "eventsim simulate")
    assert "150.png" in err.rpartition("eventsim simulate: error:")[2]
    assert not out.exists()
