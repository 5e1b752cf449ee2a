"""Second look at round 11's command-line changes (613e1ae, a2b27f9):

- simulate's large-sensor warning came before the checks that refuse the run, so an existing
  output or a missing input got the warning and then the error; it also said the simulator
  holds "about" its per-pixel floor, where a run holds well over it (4000x3000 took ~2.6 GB,
  the floor is 0.9 GiB): it now says "at least";
- `check_memory` told the host's entry of `state_bytes_per_pixel` from a GPU's by its words;
- convert's --help said --force passes implausible times "with a warning that it is deprecated
  for it".
"""

from __future__ import annotations

import pytest

from eventsim.cli import main

SYNTHETIC = ["simulate", "--synthetic", "moving-shapes", "--duration-ms", "40", "-q"]


@pytest.fixture
def low_threshold(monkeypatch):
    """The warning's threshold lowered to 100 KiB, so that 640x480 passes it."""
    from eventsim.cli import simulate

    monkeypatch.setattr(simulate, "LARGE_STATE_BYTES", 100 << 10)


def test_large_sensor_warning_is_not_given_ahead_of_an_existing_output(
    tmp_path, capsys, low_threshold
):
    out = tmp_path / "s.h5"
    out.write_bytes(b"keep")
    assert main([*SYNTHETIC, "--sensor-size", "640x480", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "exists; pass --force to overwrite it" in err
    assert "warning:" not in err


def test_large_sensor_warning_is_not_given_ahead_of_a_missing_input(
    tmp_path, capsys, low_threshold
):
    argv = ["simulate", str(tmp_path / "none.mp4"), "--sensor-size", "640x480", "-q"]
    assert main([*argv, "-o", str(tmp_path / "s.h5")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "warning:" not in err


def test_large_sensor_warning_calls_its_figure_a_floor(tmp_path, capsys, low_threshold):
    out = tmp_path / "s.h5"
    assert main([*SYNTHETIC, "--sensor-size", "640x480", "-o", str(out)]) == 0
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "warning:" in x]
    assert "makes the simulator hold at least 0.0 GiB of memory (80 bytes a pixel)" in line
    assert out.is_file()


@pytest.mark.parametrize("short", ["gpu", "host"])
def test_check_memory_compares_each_floor_with_its_own_memory(monkeypatch, short):
    torch = pytest.importorskip("torch")
    from eventsim.errors import ParameterError
    from eventsim.simulator import DVSParams, core

    # no GPU needed: the device is only named and its memory asked for
    monkeypatch.setattr(core, "_resolve_device", lambda device: torch.device("cuda:0"))
    small, large = 1 << 30, 1 << 40
    monkeypatch.setattr(core, "_gpu_memory", lambda dev: small if short == "gpu" else large)
    monkeypatch.setattr(core, "_available_memory", lambda: small if short == "host" else large)
    with pytest.raises(ParameterError) as exc:
        core.check_memory((10000, 10000), DVSParams(), "cuda")
    where = (
        "on cuda:0 for the simulator's per-pixel state (72"
        if short == "gpu"
        else ("of memory for the simulator's per-pixel state (40")
    )
    assert where in str(exc.value)


def test_convert_help_words_the_deprecated_force():
    from eventsim.cli.convert import build_parser

    text = " ".join(build_parser().format_help().split())
    assert (
        "--force does this too, deprecated: in a later release it will only overwrite OUTPUT"
    ) in text
