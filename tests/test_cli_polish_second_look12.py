"""Second look at round 12's option hints (each test failed before its fix):

- the guess compared options with their dashes, which count as letters to difflib and towards
  the prefix rule's 3 letters: '--i' was told 'did you mean --fit?' and '--o' '--output';
- words after '--' are INPUTs, not options: '-- --out_put.mp4' was told 'did you mean
  --output?' after the missing -o.
"""

from __future__ import annotations

import pytest

from eventsim.cli import main


def _run(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["simulate", "-q", *argv])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("word", ["--i", "--o", "--in"])
def test_a_short_word_is_not_guessed_by_its_dashes(capsys, word):
    rc, err = _run(capsys, "x.mp4", "-o", "y.h5", word)
    assert rc == 2 and f"unrecognized arguments: {word}" in err
    assert "did you mean" not in err


def test_close_words_are_still_guessed(capsys):
    rc, err = _run(capsys, "x.mp4", "-o", "y.h5", "--fp", "30")
    assert rc == 2 and err.rstrip().endswith("did you mean --fps?")
    rc, err = _run(capsys, "x.mp4", "-o", "y.h5", "--cam", "davis346")
    assert rc == 2 and err.rstrip().endswith("did you mean --camera?")


def test_words_after_double_dash_are_no_options(capsys):
    rc, err = _run(capsys, "--", "--out_put.mp4")
    assert rc == 2 and "the following arguments are required: -o/--output" in err
    assert "did you mean" not in err
    rc, err = _run(capsys, "x.mp4", "-o", "y.h5", "--", "--sensor_size")
    assert rc == 2 and "did you mean" not in err
    # before '--' the hint stands
    rc, err = _run(capsys, "--sensor_size", "346x260", "--", "x.mp4")
    assert rc == 2 and "did you mean --sensor-size?" in err
