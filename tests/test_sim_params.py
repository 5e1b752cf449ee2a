"""DVSParams: presets, overrides, validation; the simulator package stays light to import."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from eventsim.errors import ParameterError
from eventsim.simulator import CAMERAS, PRESETS, DVSParams


def test_presets():
    ideal = DVSParams.from_preset("ideal")
    assert ideal == DVSParams()
    assert ideal.pos_threshold == ideal.neg_threshold == 0.2
    assert ideal.threshold_sigma == 0 and not ideal.has_noise and ideal.cutoff_hz == 0
    clean = DVSParams.from_preset("clean")
    assert clean.threshold_sigma == 0.02 and not clean.has_noise
    noisy = DVSParams.from_preset("noisy")
    assert (noisy.threshold_sigma, noisy.cutoff_hz, noisy.leak_rate_hz) == (0.05, 30.0, 0.1)
    assert noisy.shot_noise_rate_hz == 5.0 and noisy.has_noise
    assert set(PRESETS) >= {"ideal", "clean", "noisy"}


def test_cameras():
    assert CAMERAS["davis346"] == (346, 260)
    assert CAMERAS["dvs240"] == (240, 180)
    assert CAMERAS["gen4"] == (1280, 720)
    assert CAMERAS["dvxplorer"] == (640, 480)
    assert CAMERAS["dvs128"] == (128, 128)


def test_frozen_and_replace():
    p = DVSParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.pos_threshold = 0.3
    q = p.replace(pos_threshold=0.3)
    assert q.pos_threshold == 0.3 and p.pos_threshold == 0.2


def test_with_overrides_parses_strings():
    p = DVSParams.from_preset("clean").with_overrides(
        {"pos_threshold": "0.3", "refractory_period_us": "100", "log_curve": "linlog"}
    )
    assert p.pos_threshold == 0.3 and p.refractory_period_us == 100 and p.log_curve == "linlog"
    assert isinstance(p.refractory_period_us, int)


def test_unknown_field_lists_valid_ones():
    with pytest.raises(ParameterError, match=r"valid fields: .*pos_threshold"):
        DVSParams().with_overrides({"pos_thresh": "0.3"})
    with pytest.raises(ParameterError, match="valid fields"):
        DVSParams().replace(nope=1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pos_threshold", "abc"),
        ("pos_threshold", "-0.1"),
        ("neg_threshold", "1e-30"),  # ran out of memory in the kernels' walk
        ("refractory_period_us", "1.5"),
        ("log_curve", "log10"),
        ("hot_pixel_fraction", "2"),
        ("cutoff_hz", "nan"),
    ],
)
def test_bad_values_are_named(field, value):
    with pytest.raises(ParameterError, match=field):
        DVSParams().with_overrides({field: value})


def test_smallest_threshold_is_the_mismatch_floor():
    assert DVSParams(pos_threshold=0.01, neg_threshold=0.01).pos_threshold == 0.01
    with pytest.raises(ParameterError, match=r"pos_threshold = 0.009; expected at least 0.01"):
        DVSParams(pos_threshold=0.009)


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ParameterError, match="valid presets: ideal, clean, noisy"):
        DVSParams.from_preset("loud")


def test_import_does_not_pull_torch():
    code = (
        "import sys, eventsim.simulator, eventsim.simulator.sources, "
        "eventsim.simulator.upsample, eventsim.simulator.synthetic; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("field", ["leak_rate_hz", "shot_noise_rate_hz", "hot_pixel_rate_hz"])
def test_rates_faster_than_the_microsecond_clock_are_refused(field):
    assert getattr(DVSParams().replace(**{field: 1e6}), field) == 1e6
    with pytest.raises(ParameterError, match=rf"{field} = 1e\+09 Hz; expected at most 1e\+06"):
        DVSParams().with_overrides({field: "1e9"})


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("refractory_period_us", "abc", "expected an integer"),
        ("refractory_period_us", "1.5", "expected an integer"),
        ("cutoff_hz", "fast", "expected a number"),
        ("cutoff_hz", [1], "expected a number"),
    ],
)
def test_override_errors_name_the_kind_in_words(field, value, expected):
    with pytest.raises(ParameterError, match=rf"^{field} = .*; {expected}$"):
        DVSParams().with_overrides({field: value})
