"""Second look at aacb3f9 and 1a005f8 (choice parsing round 11): inputs a chatty model writes
that those readings got wrong. Each table is (text, options, expected index or None)."""

from __future__ import annotations

import pytest
from test_answers_round10 import COLOURS, _table

from epvlm.answers import options_in_question, parse_choice, reference_index, score_answer
from eventsim.datasets.questions import answers_an_option, question_options

YES_NO = ["yes", "no"]


@pytest.mark.parametrize("unit", ["Q:x A:", "Q: x A:"])
def test_a_repeated_question_and_answer_layout_is_read_once(unit):
    # each answer that started a layout of its own was parsed again, a recursion per label:
    # a model repeating itself raised RecursionError (and took time quadratic in its length)
    assert parse_choice(unit * 3_000 + "B", COLOURS) is None


@_table(
    [
        # a letter's verdict is on that option, even where its text is "no"
        ("B - incorrect", YES_NO, None),
        ("B. No - incorrect", YES_NO, None),
        # "is" makes "No" the subject: the option no called wrong
        ("No is incorrect", YES_NO, None),
        ("No was wrong.", YES_NO, None),
        # as the round-11 reading meant
        ("No - incorrect", YES_NO, 1),
        ("No: wrong", YES_NO, 1),
    ]
)
def test_only_a_leading_no_with_its_qualifier_is_the_answer_no(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        # a "no" after "No, wait" is part of the correction, not its answer
        ("No. Wait, no: yes", YES_NO, 0),
        ("No wait, no, C", COLOURS, 2),
        # a dash after "Wait"
        ("The answer is B.\n\nWait \u2014 no: C", COLOURS, 2),
        ("A. Wait\u2014C.", COLOURS, 2),
        # as before
        ("A. Wait, no: C", COLOURS, 2),
        ("No, wait for the light to turn green. The answer is A.", COLOURS, 0),
        ("B\nWait, no.", COLOURS, 1),
    ]
)
def test_self_correction_markers(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        # a stated number the clause goes on past is a count or a quantity, no label
        ("The answer is 2 cars", COLOURS, None),
        ("The answer is 2.5", COLOURS, None),
        ("The answer is 2,000", COLOURS, None),
        ("It is 2,000.", COLOURS, None),
        # labels, as round 11 read them
        ("The answer is 2", COLOURS, 1),
        ("The answer is 2.", COLOURS, 1),
        ("The answer is 2, because the car is blue.", COLOURS, 1),
        ("The answer is 2 (blue)", COLOURS, 1),
        ("The answer is 2: blue", COLOURS, 1),
        ("2 options seem right, but 3 is correct", COLOURS, 2),
        ("The answer is 1. Hmm, the answer is 2 or 3", COLOURS, None),
    ]
)
def test_a_stated_number_is_a_label_where_it_ends_its_clause(text, options, expected):
    assert parse_choice(text, options, numbered=True) == expected


def test_a_reference_number_that_an_option_holds_is_no_label():
    """parse_choice reads no generation's "2" as a label where an option's text holds 2, so a
    reference "2" read as one could never be met: it is scored free, as before round 11."""
    assert reference_index("2", ["2 cars", "3 cars"], numbered=True) is None
    assert reference_index("2", ["1.5 m/s", "2.5 m/s"], numbered=True) is None
    question = "How many cars are there?\n1. 2 cars\n2. 3 cars"
    assert not answers_an_option(question, "2")
    scored = score_answer("2", "2", [], question)
    assert scored.mode == "free" and scored.correct
    # a number no option holds is still its label, and an option's text still that option
    assert reference_index("2", ["red", "blue"], numbered=True) == 1
    assert reference_index("(2)", ["2", "3", "4"], numbered=True) is None
    assert answers_an_option(question, "3 cars")


def test_numbered_steps_before_the_question_are_no_options():
    question = (
        "Count the cars. Think step by step:\n1. Find each car.\n2. Count them.\n"
        "How many cars are there?"
    )
    assert options_in_question(question) == []
    assert not question_options(question)[1]
    assert not answers_an_option(question, "2")
    # scored free, as before round 11: "Two" is "2"
    assert score_answer("Two", "2", [], question).correct
    # options followed by an instruction stay options
    assert options_in_question("What colour?\n1. red\n2. blue\nAnswer with the number.") == [
        "red",
        "blue",
    ]


@pytest.mark.parametrize(
    "question",
    [
        "Which colour: 1. red, 2. blue, or 3. green?",
        "Which colour: (1) red, (2) blue and (3) green",
        "Which colour? (1) red; (2) blue; (3) green",
    ],
)
def test_what_joins_options_on_one_line_is_no_part_of_their_text(question):
    # "blue, or" was the second option: an answer "blue" named none, and a reference "blue"
    # was scored free
    assert options_in_question(question) == ["red", "blue", "green"]
    assert score_answer("blue", "blue", [], question).mode == "choice"
    assert score_answer("blue", "2", [], question).correct
    assert options_in_question("What? 1. black and white 2. colour") == [
        "black and white",
        "colour",
    ]
