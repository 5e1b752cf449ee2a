"""DVSParams: did-you-mean for misspelt fields and presets; huge integers in messages."""

from __future__ import annotations

import pickle
from fractions import Fraction

import pytest

from eventsim.cli import main
from eventsim.errors import ParameterError
from eventsim.simulator.params import DVSParams, ParameterValueError


def _cli_error(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["simulate", "clip.mp4", "-o", "never.h5", "-q", *argv])
    return rc, capsys.readouterr().err


def test_cli_set_suggests_the_field(capsys):
    rc, err = _cli_error(capsys, "--set", "pos_treshold=0.2")
    assert rc == 1
    assert "DVSParams has no field pos_treshold; valid fields: log_curve" in err
    assert err.rstrip().endswith("; did you mean pos_threshold?"), err


def test_cli_set_suggests_from_a_unique_prefix(capsys):
    rc, err = _cli_error(capsys, "--set", "refrac=100")
    assert rc == 1
    assert err.rstrip().endswith("; did you mean refractory_period_us?"), err


def test_cli_set_without_a_close_field_has_no_guess(capsys):
    rc, err = _cli_error(capsys, "--set", "bogus=1")
    assert rc == 1
    assert "valid fields" in err and "did you mean" not in err


def test_cli_preset_suggests_the_name(capsys):
    rc, err = _cli_error(capsys, "--preset", "nosiy")
    assert rc == 2
    assert "invalid choice: 'nosiy'" in err
    assert err.rstrip().endswith("; did you mean noisy?"), err
    rc, err = _cli_error(capsys, "--preset", "loud")
    assert rc == 2 and "invalid choice: 'loud'" in err and "did you mean" not in err


def test_library_overrides_suggest_the_field():
    with pytest.raises(ParameterError, match=r"valid fields: .*; did you mean 'pos_threshold'\?$"):
        DVSParams().with_overrides({"pos_treshold": 0.2})
    with pytest.raises(ParameterError, match=r"; did you mean neg_threshold\?$"):
        DVSParams().replace(neg_treshold=0.2)
    with pytest.raises(ParameterError) as info:
        DVSParams().replace(a=1, b=2)
    assert "did you mean" not in str(info.value)


def test_library_preset_suggests_the_name():
    with pytest.raises(ParameterError, match=r"valid presets: .*; did you mean 'noisy'\?$"):
        DVSParams.from_preset("Nosy")
    with pytest.raises(ParameterError, match=r"; did you mean 'v2e-default'\?$"):
        DVSParams.from_preset("v2e")
    with pytest.raises(ParameterError) as info:
        DVSParams.from_preset("loud")
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "shown", "rest"),
    [
        (
            {"refractory_period_us": 10**5000},
            "1e+5000 (a 5001-digit integer)",
            "; expected at most",
        ),
        ({"refractory_period_us": -(10**5000)}, "-1e+5000 (a 5001-digit integer)", "; expected a"),
        ({"refractory_period_us": 10**400}, "1e+400 (a 401-digit integer)", "; expected at most"),
        ({"max_upsample_factor": 2 * 10**5000 + 7}, "2e+5000 (a 5001-digit integer)", "; expected"),
        ({"pos_threshold": 10**5000}, "1e+5000 (a 5001-digit integer)", "; expected a number"),
        ({"hot_pixel_fraction": 10**400}, "1e+400 (a 401-digit integer)", "; expected a number"),
    ],
)
def test_huge_integers_are_refused_and_shown_compactly(kwargs, shown, rest):
    with pytest.raises(ParameterValueError) as info:
        DVSParams(**kwargs)
    (name,) = kwargs
    message = str(info.value)
    assert message.startswith(f"{name} = {shown}{rest}"), message
    assert info.value.parameter == name and info.value.value == kwargs[name]
    copy = pickle.loads(pickle.dumps(info.value))
    assert str(copy) == message


def test_huge_fraction_is_refused_in_words():
    with pytest.raises(ParameterValueError, match=r"^pos_threshold = .*; expected a number"):
        DVSParams(pos_threshold=Fraction(10**5000, 3))


def test_ordinary_integers_keep_their_digits():
    with pytest.raises(ParameterValueError, match=r"^refractory_period_us = 10{20}; expected"):
        DVSParams(refractory_period_us=10**20)
