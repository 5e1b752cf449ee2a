"""Twelfth round of choice parsing. Options labelled "A:" (a line each, or "A: red B: blue" on
one line, also "(A) red (B) blue") were no options of the question, so such samples were scored
free; in a question-and-answer echo the first option's "A:" was read as the answer label, and
an answer "A: B" was option A. An echo of the option block ("A. red\\nB. blue\\nC. green", a
model going on with its prompt) was option A. A yes/no answer that cannot tell ("No, I cannot
tell", "No idea", "not sure, maybe yes", "Yes/No") was yes or no. Each table is (text, options,
expected index or None)."""

from __future__ import annotations

import pytest
from test_answers_round10 import COLOURS, _table

from epvlm.answers import options_in_question, parse_choice, question_options, score_answer
from eventsim.datasets.questions import answers_an_option

YES_NO = ["yes", "no"]
MOTION = ["moving left", "moving right", "still"]


@pytest.mark.parametrize(
    ("question", "options"),
    [
        ("What colour is the car?\nA: red\nB: blue\nC: green", ["red", "blue", "green"]),
        ("What colour is the car? A: red B: blue C: green", ["red", "blue", "green"]),
        ("What colour is the car? (A) red (B) blue", ["red", "blue"]),
        ("What colour is the car? A. red B. blue", ["red", "blue"]),
        ("Which colour: A: red, B: blue, or C: green?", ["red", "blue", "green"]),
        ("What colour is the car?\nA: red B: blue", ["red", "blue"]),
        ("Q: What colour is the car?\nA: red\nB: blue", ["red", "blue"]),
        ("Q: What colour is the car? A: red B: blue", ["red", "blue"]),
        # the layouts read before
        ("What colour is the car?\nA. red\nB. blue", ["red", "blue"]),
        ("What colour is the car?\n(A) red\n(B) blue", ["red", "blue"]),
    ],
)
def test_options_labelled_with_a_colon_or_on_one_line(question, options):
    assert options_in_question(question) == options
    assert not question_options(question)[1]
    assert answers_an_option(question, "B")
    assert score_answer("B", "blue", [], question).correct
    assert score_answer("blue", "B", [], question).correct
    assert not score_answer("red", "B", [], question).correct


@pytest.mark.parametrize(
    "question",
    [
        "Plan A: turn left. Plan B: turn right. Which is safer?",
        "Is the car red?\nA: yes",
        "What colour? A: red C: blue",
        "A: red B: blue",
        "What colour is the car?\nA. red\nC. blue",
    ],
)
def test_no_lettered_options(question):
    assert options_in_question(question) == []


def test_numbered_options_are_read_as_before():
    assert question_options("What colour? (1) red (2) blue (3) green") == (
        ["red", "blue", "green"],
        True,
    )
    assert question_options("What colour?\n1. red\n2. blue") == (["red", "blue"], True)


@_table(
    [
        # the echoed question's options are labelled "A:", "B:": the answer's "A:" follows them
        ("Q: What colour? A: red B: blue C: green D: yellow\nA: C", COLOURS, 2),
        ("Q: What colour?\nA: red\nB: blue\nC: green\nA: B", COLOURS, 1),
        ("Q: What colour? A: red B: blue\nA: blue", COLOURS, 1),
        # the Q/A layouts read before
        ("Q: What colour? A: B: blue", COLOURS, 1),
        ("Q: What colour? A: B", COLOURS, 1),
        ("Q: What colour is the car?\nA: blue", COLOURS, 1),
        ("Q: Is the car red? A: No, it is blue.", COLOURS, 1),
        ("Q: Is it moving? A: Yes. Q: Is it red? A: No.", YES_NO, 0),
        ("Question: What colour?\nA: red\nB: blue\nAnswer: B", COLOURS, 1),
    ]
)
def test_options_labelled_a_in_an_echoed_question(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        # "A:" labels the answer where a letter or another option's text follows it
        ("A: B", COLOURS, 1),
        ("A: B: blue", COLOURS, 1),
        ("A: (B) blue", COLOURS, 1),
        ("A: B. blue", COLOURS, 1),
        ("A: blue", COLOURS, 1),
        ("A: blue.", COLOURS, 1),
        # option A's own text, or anything else after it: option A, as before
        ("A: red", COLOURS, 0),
        ("A: Red.", COLOURS, 0),
        ("A: red, because the car is red", COLOURS, 0),
        ("A: The answer is B", COLOURS, 1),
        ("B: blue", COLOURS, 1),
        ("C: green", COLOURS, 2),
    ]
)
def test_an_answer_labelled_a(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        # the option block echoed names no option
        ("A. red\nB. blue\nC. green\nD. yellow", COLOURS, None),
        ("A: red\nB: blue", COLOURS, None),
        ("A. red B. blue C. green D. yellow", COLOURS, None),
        ("a) red b) blue c) green d) yellow", COLOURS, None),
        ("(A) red (B) blue", COLOURS, None),
        ("A. red, B. blue, C. green or D. yellow", COLOURS, None),
        ("A. yes\nB. no", YES_NO, None),
        # an answer after the echo is read
        ("A. red\nB. blue\nC. green\nD. yellow\nAnswer: C", COLOURS, 2),
        (
            "What colour is the car?\nA. red\nB. blue\nC. green\nD. yellow\nThe answer is D.",
            COLOURS,
            3,
        ),
        ("A: red\nB: blue\n\nB", COLOURS, 1),
        # no echo: one option, or a verdict on one
        ("A. red", COLOURS, 0),
        ("A. red - incorrect\nB. blue - correct", COLOURS, 1),
    ]
)
def test_an_echo_of_the_options_names_none(text, options, expected):
    assert parse_choice(text, options) == expected


def test_an_echo_scores_wrong_whatever_the_reference():
    echo = "A. red\nB. blue\nC. green\nD. yellow"
    for reference in ("A", "red"):
        scored = score_answer(echo, reference, COLOURS)
        assert scored.mode == "choice"
        assert scored.parsed is None
        assert not scored.correct


@_table(
    [
        # the answer cannot tell: no option
        ("No, I cannot tell.", YES_NO, None),
        ("no, I can't tell if it is moving", YES_NO, None),
        ("No, I don't know.", YES_NO, None),
        ("No idea.", YES_NO, None),
        ("I have no idea.", YES_NO, None),
        ("No clue", YES_NO, None),
        ("There is no way to tell.", YES_NO, None),
        ("No, it is impossible to say.", YES_NO, None),
        # it cannot tell, and only guesses
        ("not sure, maybe yes", YES_NO, None),
        ("I'm not sure, maybe yes.", YES_NO, None),
        ("Hard to say, possibly yes.", YES_NO, None),
        ("I can't tell. Maybe yes.", YES_NO, None),
        ("Maybe yes. I'm not sure.", YES_NO, None),
        ("I have no idea, perhaps no", YES_NO, None),
        ("Hmm, hard to say. Possibly blue.", COLOURS, None),
        ("I am not sure, but it could be B", COLOURS, None),
        ("It is unclear, maybe it is still", MOTION, None),
        # both, or either
        ("yes and no", YES_NO, None),
        ("It could be either.", YES_NO, None),
        ("Yes/No", YES_NO, None),
        ("The answer is yes/no.", YES_NO, None),
        ("red/blue", COLOURS, None),
    ]
)
def test_an_answer_that_cannot_tell_names_none(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        # a firm answer, also with a remark that it is not sure, stays one
        ("No, it is not moving.", YES_NO, 1),
        ("No, I can't see any movement.", YES_NO, 1),
        ("No, there is no doubt.", YES_NO, 1),
        ("No, not at all.", YES_NO, 1),
        ("Yes, it is.", YES_NO, 0),
        ("Yes, but I'm not sure.", YES_NO, 0),
        ("Yes, though it is hard to tell.", YES_NO, 0),
        ("Yes, I can't tell its exact speed, but it is moving.", YES_NO, 0),
        ("It's hard to tell, but yes.", YES_NO, 0),
        ("I'm not sure, but I think yes.", YES_NO, 0),
        ("I can't be completely sure. The answer is yes.", YES_NO, 0),
        ("Not sure, probably yes.", YES_NO, 0),
        ("Maybe yes", YES_NO, 0),
        ("Probably not.", YES_NO, None),
        ("The image is unclear, but the car is blue.", COLOURS, 1),
        ("The object is still; I can't tell its colour.", MOTION, 2),
        (
            "The answer is B. However, it is difficult to determine with certainty since the "
            "image might be blurry.",
            COLOURS,
            1,
        ),
        ("B. The car looks blue, though it is hard to tell at this resolution.", COLOURS, 1),
        ("10 km/h", ["10 km/h", "20 km/h"], 0),
    ]
)
def test_firm_answers_stay_answers(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        # answers a Qwen2-VL-style chat model or a tiny model gives, read as before
        ("The answer is B.", COLOURS, 1),
        ("B) blue", COLOURS, 1),
        ("**B**", COLOURS, 1),
        ("Option B: blue", COLOURS, 1),
        ("(b)", COLOURS, 1),
        ("blue.", COLOURS, 1),
        ("The color is blue", COLOURS, 1),
        ("BLUE", COLOURS, 1),
        ("The answer is: **B. blue**", COLOURS, 1),
        ("**Answer:** B", COLOURS, 1),
        ("B\n\nExplanation: The car is blue. Red (A) would be wrong.", COLOURS, 1),
        ("B. blue. Option A (red) is not correct because the car is not red.", COLOURS, 1),
        ("The car in the image is blue, so the answer is B.", COLOURS, 1),
        ("Neither", COLOURS, None),
        ("Neither red nor blue", COLOURS, None),
        ("E", COLOURS, None),
    ]
)
def test_chat_answers(text, options, expected):
    assert parse_choice(text, options) == expected


def test_an_answer_that_cannot_tell_scores_wrong():
    scored = score_answer("not sure, maybe yes", "yes", [], "Is the object moving?\nA. yes\nB. no")
    assert scored.mode == "choice"
    assert scored.parsed is None
    assert not scored.correct
    assert not score_answer("No, I cannot tell.", "no", YES_NO).correct
    assert score_answer("No, it is not moving.", "no", YES_NO).correct
