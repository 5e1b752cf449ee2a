"""`epvlm run` with options numbered in the question: the model's bare "2" names the second, as
`epvlm eval` scores it (`score_answer` turns numbered mode on for such questions), and the
option is given by its number, the label the question showed ("option 2", not "option B")."""

from __future__ import annotations

import json

import pytest
from test_epvlm_round9_output import TINY, write_run_files

import epvlm.evaluate
from epvlm.cli import main

QUESTION = "Which colour is the square?\n1. blue\n2. red\n3. green"


@pytest.fixture
def says_two(monkeypatch):
    """The model's generation replaced by "2" (counts kept)."""
    real = epvlm.evaluate.answer_selections

    def answer(*args, **kw):
        answers, counts, seconds = real(*args, **kw)
        for cnt in counts:
            cnt["raw"] = "2"
        return answers, counts, seconds

    monkeypatch.setattr(epvlm.evaluate, "answer_selections", answer)


def test_run_reads_a_number_as_the_numbered_option(tmp_path, says_two, capsys):
    image, events = write_run_files(tmp_path)
    argv = [
        "run", "--model", str(TINY), "--image", str(image), "--events", str(events),
        "--frame-time-us", "500000", "--window-ms", "50", "--question", QUESTION,
        "--keep", "0.5", "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["answer"], result["parsed"]) == ("red", "2")
