"""A second look at round 12 of eventsim simulate (5959c4e); each test failed before its fix:

- the words that --set (one FIELD=VALUE a time) left over were told they were a second INPUT:
  '--set pos_threshold=0.3 neg_threshold=0.3' read "INPUT is one input (got 2); simulate each
  in a run of its own", and so did the value of '--set pos_threshold 0.3'.
"""

from __future__ import annotations

import pytest

from eventsim.cli import main


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (
            ["--set", "pos_threshold=0.3", "neg_threshold=0.3"],
            "unrecognized arguments: neg_threshold=0.3; --set takes one FIELD=VALUE: "
            "--set neg_threshold=0.3",
        ),
        (
            # the word that INPUT took, and INPUT the word left over
            ["--set", "pos_threshold=0.3", "neg_threshold=0.3", "clip.mp4"],
            "unrecognized arguments: clip.mp4; --set takes one FIELD=VALUE: "
            "--set neg_threshold=0.3",
        ),
        (
            ["--set", "pos_threshold", "0.3"],
            "unrecognized arguments: 0.3; --set takes FIELD=VALUE as one word: "
            "--set pos_threshold=VALUE",
        ),
    ],
)
def test_words_left_by_set_are_not_called_a_second_input(tmp_path, capsys, words, said):
    first = [] if "clip.mp4" in words else [str(tmp_path / "clip.mp4")]
    rc = main(["simulate", "-q", *first, "-o", str(tmp_path / "o.h5"), *words])
    err = capsys.readouterr().err
    assert rc == 2
    assert said in err
    assert "INPUT is one input" not in err
