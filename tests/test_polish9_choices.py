"""eventsim simulate's fixed-choice options guess a misspelt value, as --preset does."""

from __future__ import annotations

import pytest

from eventsim.cli import main


def _cli_error(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["simulate", "clip.mp4", "-o", "never.h5", "-q", *argv])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "typo", "guess"),
    [
        ("--motion", "sacade", "saccade"),
        ("--fit", "resise", "resize"),
        ("--upsample", "linaer", "linear"),
        ("--flow-method", "farnback", "farneback"),
        ("--camera", "davis364", "davis346"),
        ("--synthetic", "moving-shape", "moving-shapes"),
    ],
)
def test_fixed_choice_options_guess_a_misspelt_value(capsys, option, typo, guess):
    rc, err = _cli_error(capsys, option, typo)
    assert rc == 2
    assert f"{option}: invalid choice: {typo!r} (choose from " in err, err
    assert err.rstrip().endswith(f"; did you mean {guess}?"), err


def test_a_value_near_no_choice_has_no_guess(capsys):
    rc, err = _cli_error(capsys, "--camera", "zzzzzzzz")
    assert rc == 2 and "invalid choice: 'zzzzzzzz'" in err and "did you mean" not in err


def test_choices_still_listed_in_help(capsys):
    rc = main(["simulate", "--help"])
    assert rc == 0
    out = capsys.readouterr().out
    for listed in ("{crop,resize}", "{none,linear,flow}", "{dis,farneback}", "{moving-shapes}"):
        assert listed in out, out
