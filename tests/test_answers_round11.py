"""Eleventh round of choice parsing: a yes/no answer with a qualifier that agrees ("No -
incorrect") read nothing; a question-and-answer layout ("Q: Is it red? A: No, blue.") read the
echoed question; an explicit self-correction ("A. Wait, no: C", "B. Correction: D") read the
choice it corrects. Each table is (text, options, expected index or None)."""

from __future__ import annotations

import pytest
from test_answers_round10 import COLOURS, _table

from epvlm.answers import parse_choice, score_answer

YES_NO = ["yes", "no"]
MOTION = ["moving", "still"]


@_table(
    [
        ("No - incorrect", YES_NO, 1),
        ("No: wrong", YES_NO, 1),
        ("No (incorrect)", YES_NO, 1),
        ("No \u2014 false.", YES_NO, 1),
        ("No - incorrect, the object is still.", YES_NO, 1),
        ("No - not correct", YES_NO, 1),
        ("1. No - incorrect", YES_NO, 1),
        ("No - incorrect", ["Yes", "No", "Maybe"], 1),
        # read as before
        ("No, incorrect.", YES_NO, 1),
        ("Yes - correct", YES_NO, 0),
        ("Yes: true", YES_NO, 0),
        ("No - correct", YES_NO, 1),
        # a contradiction names nothing
        ("Yes - incorrect", YES_NO, None),
        # a list of verdicts is read as one
        ("Yes - correct\nNo - incorrect", YES_NO, 0),
        ("No - incorrect\nYes - correct", YES_NO, 0),
        ("No - incorrect. Yes - correct.", YES_NO, 0),
    ]
)
def test_yes_no_with_an_agreeing_qualifier(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        ("Q: Is the car red? A: No, it is blue.", COLOURS, 1),
        ("Q: Is it red?\nA: No, blue.", COLOURS, 1),
        ("Q: Is the object moving or still? A: still", MOTION, 1),
        ("Q: Is there no car? A: Yes", YES_NO, 0),
        ("**Q:** Is there no car?\n**A:** Yes, there is one.", YES_NO, 0),
        ("Question: Is the car red?\nAnswer: B", COLOURS, 1),
        ("Question: What colour is it?\nA: red\nB: blue\nAnswer: B", COLOURS, 1),
        # the first answer counts, not the questions a model goes on to ask itself
        ("Q: Is it moving? A: Yes. Q: Is it red? A: No.", YES_NO, 0),
        ("Q: Is it moving? A:", YES_NO, None),
        # read as before
        ("Q: What colour is the car?\nA: blue", COLOURS, 1),
        ("Question: Does it say yes? Answer: No.", YES_NO, 1),
        ("Answer: no", YES_NO, 1),
    ]
)
def test_question_and_answer_layouts(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        ("Wait, no: C", COLOURS, 2),
        ("A. Wait, no: C", COLOURS, 2),
        ("A\nWait, no, it's C.", COLOURS, 2),
        ("B. Correction: D", COLOURS, 3),
        ("red. Correction: blue", COLOURS, 1),
        ("No wait, C", COLOURS, 2),
        ("B. On second thought, D.", COLOURS, 3),
        ("A. Wait, C.", COLOURS, 2),
        ("A. Correction: the answer is C. So the answer is D.", COLOURS, 3),
        # read as before
        ("A... no, actually C", COLOURS, 2),
        ("The answer is A. Actually, C is green too.", COLOURS, 0),
        # a correction that states no choice leaves the text read whole
        ("A. Wait, C is green too.", COLOURS, 0),
        ("B. Correction: the car is blue.", COLOURS, 1),
        ("B\nWait, no.", COLOURS, 1),
        # no marker, no correction
        ("B... no, D", COLOURS, None),
        ("B. We wait: C.", COLOURS, 1),
    ]
)
def test_explicit_self_corrections(text, options, expected):
    assert parse_choice(text, options) == expected


def test_scoring_reads_the_new_forms():
    assert score_answer("No - incorrect", "no", YES_NO).correct
    assert score_answer("Q: Is it red? A: No, blue.", "B", COLOURS).correct
    assert score_answer("A. Wait, no: C", "C", COLOURS).correct


@pytest.mark.parametrize(
    "generation",
    [
        "Q: " + "Q: " * 10_000 + "A: B",
        "Q: x A: " * 5_000,
        "Question: " + "a" * 20_000,
        "wait, " * 10_000 + "C",
        "Correction: " * 10_000,
        "No - incorrect " * 5_000,
    ],
)
def test_new_readings_are_linear(generation):
    # no timing is asserted; the test run's own time is the check
    parse_choice(generation, COLOURS)
