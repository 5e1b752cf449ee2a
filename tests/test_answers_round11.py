"""Eleventh round of choice parsing: a yes/no answer with a qualifier that agrees ("No -
incorrect") read nothing; a question-and-answer layout ("Q: Is it red? A: No, blue.") read the
echoed question; an explicit self-correction ("A. Wait, no: C", "B. Correction: D") read the
choice it corrects. Each table is (text, options, expected index or None)."""

from __future__ import annotations

import pytest
from test_answers_round10 import COLOURS, _table

from epvlm.answers import (
    options_in_question,
    parse_choice,
    question_options,
    reference_index,
    score_answer,
)
from eventsim.datasets.questions import answers_an_option

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


@pytest.mark.parametrize(
    ("question", "options"),
    [
        ("What colour is the car?\n1. red\n2. blue\n3. green", ["red", "blue", "green"]),
        ("What colour is the car?\n1) red\n2) blue", ["red", "blue"]),
        ("What colour is the car?\n(1) red\n(2) blue\nAnswer with the number.", ["red", "blue"]),
        ("What colour is the car?\n1. red\n\n2. blue", ["red", "blue"]),
        ("What colour is the car? 1. red 2. blue", ["red", "blue"]),
        ("What colour is the car? (1) red (2) blue (3) green", ["red", "blue", "green"]),
        ("What colour is the car?\nOptions: 1) red 2) blue", ["red", "blue"]),
        ("What colour is the car?\n(1) red (2) blue", ["red", "blue"]),
    ],
)
def test_numbered_options_in_the_question(question, options):
    assert options_in_question(question) == options
    assert question_options(question)[1]


@pytest.mark.parametrize(
    "question",
    [
        # steps a prompt numbers, sentences that end with a number, a broken run
        "1. Look at the image.\n2. What colour is the car?",
        "(1) red (2) blue",
        "Look at lane 1. Then lane 2. Which is busier?",
        "What colour is the car?\n1. red\n3. blue",
        "What colour is the car?\n1. red\n2) blue",
        "What colour is the car?\n1. red\n2. blue\nThen:\n3. green",
        "What colour is the car?\n1. red",
        "What is 1.5 plus 2.5?",
    ],
)
def test_no_numbered_options(question):
    assert options_in_question(question) == []
    assert not question_options(question)[1]


def test_lettered_options_are_not_numbered():
    question = "What colour is the car?\nA. red\nB. blue"
    assert options_in_question(question) == ["red", "blue"]
    assert not question_options(question)[1]


NUMBERED = "What colour is the car? (1) red (2) blue (3) green"


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("2", "2"),
        ("(2)", "2"),
        ("2.", "2"),
        ("**2**", "2"),
        ("option 2", "2"),
        ("The answer is 2.", "2"),
        ("Answer: 2", "2"),
        ("2 is the correct answer.", "2"),
        ("So 2.", "2"),
        ("2. blue", "2"),
        ("blue", "2"),
        ("B", "2"),
        ("1. Wait, no: 2", "2"),
        ("Q: What colour is the car? A: 2", "2"),
        # no option's number, or two
        ("4", None),
        ("The answer is 2 or 3", None),
        ("It is 2 cars.", None),
    ],
)
def test_numbered_answers_name_their_option(generation, expected):
    assert score_answer(generation, "2", [], NUMBERED).parsed == expected
    assert score_answer(generation, "blue", [], NUMBERED).parsed == expected


def test_a_numbered_reference_is_its_option():
    assert reference_index("2", ["red", "blue"], numbered=True) == 1
    assert reference_index("(2).", ["red", "blue"], numbered=True) == 1
    assert reference_index("3", ["red", "blue"], numbered=True) is None
    # without numbered options a number is no label, as before
    assert reference_index("2", ["red", "blue"]) is None
    assert answers_an_option(NUMBERED, "2")
    assert answers_an_option(NUMBERED, "green")
    assert score_answer("blue", "2", [], NUMBERED).correct
    assert not score_answer("red", "2", [], NUMBERED).correct


def test_options_that_are_numbers_are_read_by_their_text():
    """Among counts numbered in the question, an option's text wins over a label, as a
    lettered option's text does over its letter."""
    question = "How many cars are there?\n1. 2\n2. 3\n3. 4"
    assert options_in_question(question) == ["2", "3", "4"]
    assert score_answer("3", "3", [], question).parsed == "2"
    assert score_answer("4", "4", [], question).correct
    # a reference whose text is one option and whose number another names none
    assert reference_index("(2)", ["2", "3", "4"], numbered=True) is None


def test_a_choices_list_is_never_numbered():
    # the prompt letters a choices list, so "2" is a count, not its second option
    assert score_answer("2", "blue", ["red", "blue"], NUMBERED).parsed is None
    assert parse_choice("2", ["red", "blue"]) is None
