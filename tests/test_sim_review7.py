"""Simulator review 7: the pixel parameters as a user porting v2e/ESIM settings sets them."""

from __future__ import annotations

import pytest

from eventsim.cli import main
from eventsim.errors import ParameterError
from eventsim.simulator.params import MAX_LEAK_JITTER, DVSParams

from cli_checks import one_line


def test_a_huge_leak_jitter_is_refused_naming_field_value_and_bound():
    # 1e30 overflowed a period's event count in the kernels and crashed Python (SIGSEGV)
    with pytest.raises(ParameterError) as err:
        DVSParams(leak_rate_hz=1.0, leak_jitter_fraction=1e30)
    text = str(err.value)
    assert "leak_jitter_fraction" in text and "1e+30" in text and "at most 10" in text
    assert DVSParams(leak_jitter_fraction=MAX_LEAK_JITTER).leak_jitter_fraction == 10.0


def test_the_cli_refuses_a_huge_leak_jitter_before_simulating(tmp_path, capsys):
    out = tmp_path / "o.h5"
    argv = ["simulate", "--synthetic", "moving-shapes", "--duration-ms", "100"]
    argv += ["--sensor-size", "64x48", "-o", str(out), "--no-progress"]
    argv += ["--set", "leak_rate_hz=1", "--set", "leak_jitter_fraction=1e30"]
    assert main(argv) != 0
    one_line(capsys.readouterr().err, "leak_jitter_fraction", "at most 10")
    assert not out.exists()


@pytest.mark.parametrize("name", [["clean"], {"clean": 1}])
def test_an_unhashable_preset_name_is_a_parameter_error(name):
    with pytest.raises(ParameterError, match="unknown preset"):
        DVSParams.from_preset(name)
