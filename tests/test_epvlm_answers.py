"""Answer parsing and scoring on generations of the kinds real VLMs produce."""

from __future__ import annotations

import pytest

from epvlm.answers import (
    MC_INSTRUCTION,
    clean_generation,
    format_options,
    normalize_text,
    options_in_question,
    parse_choice,
    reference_index,
    score_answer,
)

COLOURS = ["red", "dark red", "blue", "green"]
DIRECTIONS = ["Left", "Straight", "Right"]

# (generation, options, expected index or None)
CHOICE_TABLE = [
    ("B", COLOURS, 1),
    ("b", COLOURS, 1),
    ("B.", COLOURS, 1),
    ("(C)", COLOURS, 2),
    ("C) blue", COLOURS, 2),
    ("D. green<|im_end|>", COLOURS, 3),
    ("A<|im_end|><|endoftext|><|endoftext|>", COLOURS, 0),
    ("The answer is C.", COLOURS, 2),
    ("Answer: (D)", COLOURS, 3),
    ("The correct option is B", COLOURS, 1),
    ("blue", COLOURS, 2),
    ("Blue.", COLOURS, 2),
    ("  GREEN!  ", COLOURS, 3),
    ("The object is red.", COLOURS, 0),
    ("The object is dark red.", COLOURS, 1),
    ("It looks dark-red to me", COLOURS, 1),
    ("I think it is blue, not green.", COLOURS, 2),
    ("A red cube on a table", COLOURS, 0),  # the article "A" is not option A's letter
    ("The car is turning right.", DIRECTIONS, 2),
    ("straight ahead", DIRECTIONS, 1),
    ("C", DIRECTIONS, 2),
    ("E", COLOURS, None),  # a letter beyond the options
    ("D", DIRECTIONS, None),
    ("purple", COLOURS, None),
    ("", COLOURS, None),
    ("<|im_end|>", COLOURS, None),
    ("I cannot tell from this image.", DIRECTIONS, None),
    ("two", ["1", "2", "3"], 1),
    ("There are 3 cars.", ["1", "2", "3"], 2),
]


@pytest.mark.parametrize(("generation", "options", "expected"), CHOICE_TABLE)
def test_parse_choice_table(generation, options, expected):
    assert parse_choice(generation, options) == expected


def test_parse_choice_without_options():
    assert parse_choice("A", []) is None


def test_clean_and_normalize():
    assert clean_generation(" Red<|im_end|>\nextra") == "Red"
    assert clean_generation("yes</s>") == "yes"
    assert clean_generation("<|vision_start|>ok") == "ok"
    assert normalize_text("Top-Left!") == "top left"
    assert normalize_text("Three cars") == "3 cars"
    assert normalize_text("The cat", drop_articles=True) == "cat"


REALWORLDQA_QUESTION = (
    "In which direction is the front wheel of the car on the right side facing?\n"
    "A. Left\nB. Straight\nC. Right\n"
    "Please answer directly with only the letter of the correct option and nothing else."
)


def test_options_in_question():
    assert options_in_question(REALWORLDQA_QUESTION) == DIRECTIONS
    assert options_in_question("How many cars are there?") == []
    assert options_in_question("Pick one.\nA. only one") == []  # one option is no list
    assert options_in_question("x\nA. a\nC. c") == []  # letters must run A, B, ...


def test_format_options():
    assert format_options(["red", "blue"]) == "A. red\nB. blue"
    assert MC_INSTRUCTION.startswith("Answer with the option's letter")


def test_reference_index():
    assert reference_index("blue", COLOURS) == 2
    assert reference_index("Blue", COLOURS) == 2
    assert reference_index("C", DIRECTIONS) == 2
    assert reference_index("(B)", DIRECTIONS) == 1
    assert reference_index("purple", COLOURS) is None


def test_score_choice_mode_with_options_in_the_question():
    right = score_answer("C.<|im_end|>", "C", [], REALWORLDQA_QUESTION)
    assert right.mode == "choice" and right.correct and right.parsed == "C"
    assert right.prediction == "Right" and right.raw == "C.<|im_end|>"
    by_text = score_answer("The wheel faces right.", "C", [], REALWORLDQA_QUESTION)
    assert by_text.correct and by_text.parsed == "C"
    wrong = score_answer("A", "C", [], REALWORLDQA_QUESTION)
    assert wrong.mode == "choice" and not wrong.correct and wrong.parsed == "A"
    unparsed = score_answer("no idea", "C", [], REALWORLDQA_QUESTION)
    assert not unparsed.correct and unparsed.parsed is None


def test_score_choice_mode_with_option_list():
    s = score_answer("The object is dark red.", "dark red", COLOURS)
    assert s.mode == "choice" and s.correct and s.prediction == "dark red"
    assert not score_answer("red", "dark red", COLOURS).correct


def test_score_free_mode_reports_exact_and_contains():
    exact = score_answer("Two.<|im_end|>", "2", [], "How many cars are there?")
    assert exact.mode == "free" and exact.correct and exact.exact_match and exact.contains
    loose = score_answer("There are two cars.", "2", [], "How many cars are there?")
    assert not loose.exact_match and loose.contains and not loose.correct
    article = score_answer("A stop sign", "stop sign", [])
    assert article.exact_match
    miss = score_answer("three", "2", [])
    assert not miss.exact_match and not miss.contains
    # "2" inside "12" is not a whole-word match
    assert not score_answer("12", "2", []).contains
    assert not score_answer("", "", []).exact_match


def test_a_letter_answer_to_options_in_the_question_is_multiple_choice():
    from eventsim.datasets.questions import answers_an_option

    assert answers_an_option(REALWORLDQA_QUESTION, "C")
    assert answers_an_option(REALWORLDQA_QUESTION, "(c).")
    assert not answers_an_option(REALWORLDQA_QUESTION, "E")  # three options: A to C
    # an option's text is scored as that option, so it is one (tests/test_answers_review7.py)
    assert answers_an_option(REALWORLDQA_QUESTION, "Right")
    assert not answers_an_option(REALWORLDQA_QUESTION, "Backwards")
    assert not answers_an_option("How many cars are there?", "A")


@pytest.mark.parametrize(
    ("generation", "answer", "correct", "contains"),
    [
        ("A", "A", True, True),
        ("a.", "A", True, True),
        ("The", "the", True, True),
        ("B", "A", False, False),
        ("The letter is A", "A", False, True),
        ("a red square", "red square", True, True),
    ],
)
def test_free_answers_of_articles_alone_can_be_right(generation, answer, correct, contains):
    scored = score_answer(generation, answer, [], "Which letter is on the sign?")
    assert scored.mode == "free"
    assert scored.correct is correct and scored.exact_match is correct
    assert scored.contains is contains
