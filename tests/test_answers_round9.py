"""Ninth round of choice parsing on generations as Qwen2-VL-style models write them: an option
named by its number ("Option 2", "(2)", "the second option"), "It is B." and a lower-case stated
letter ("the answer is b"; "a" only where it ends the sentence, as "a" is also the article), a
final statement that wins over options discussed before it ("Option A shows a cat, option B a
dog. The answer is B."), and negated mentions that are no vote ("not red, blue")."""

from __future__ import annotations

import pytest

from epvlm.answers import parse_choice, score_answer

COLOURS = ["red", "blue", "green", "yellow"]
ANIMALS = ["cat", "dog", "fish"]


@pytest.mark.parametrize(
    "generation",
    [
        "Option 2",
        "Choice 2",
        "option #2",
        "Option no. 2",
        "option two",
        "the second option",
        "The 2nd option.",
        "(2)",
        "(2) blue",
        "The answer is option 2.",
        "The answer is (2).",
        "The answer is the second option.",
        "I would pick option 2",
    ],
)
def test_an_options_number_names_it(generation):
    assert parse_choice(generation, COLOURS) == 1


@pytest.mark.parametrize(
    ("generation", "options", "expected"),
    [
        # an option whose text is the number: the number is that text, as before
        ("Option 2", ["3", "1", "2"], 2),
        ("The answer is (2).", ["3", "1", "2"], 2),
        ("option two", ["3", "1", "2"], 2),
        # an option's text that holds the number: neither reading is sure
        ("Option 2", ["2 cars", "3 cars", "4 cars"], None),
        # an ordinal an option's text holds is that text, not a position
        ("The second option", ["second place", "first place"], None),
        ("The second option", ["second", "first"], 0),
        # positions past the options, and a bare number, which is a count
        ("Option 5", COLOURS, None),
        ("Option 0", COLOURS, None),
        ("The fifth option", COLOURS, None),
        ("2", COLOURS, None),
        ("There are 2 cars.", COLOURS, None),
        ("The answer is 2.", COLOURS, None),
    ],
)
def test_an_options_number_only_where_it_is_unambiguous(generation, options, expected):
    assert parse_choice(generation, options) == expected


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("It is B.", 1),
        ("It's B", 1),
        ("It is (B).", 1),
        ("it is b", 1),
        ("the answer is b", 1),
        ("the answer is b because the car is blue", 1),
        ("answer: b", 1),
        ("So, B.", 1),
        ("Therefore C.", 2),
        ("I choose B.", 1),
        ("I'd go with C", 2),
        # "a" is the letter where it ends the sentence, the article elsewhere
        ("the answer is a", 0),
        ("the answer is a.", 0),
        ("The answer is a, since it is red.", 0),
        ("It is A.", 0),
        ("it is a", 0),
        ("it is a red square", None),
        ("It is a square.", None),
        ("So a car is parked.", None),
        ("the answer is a square", None),
        # not a letter of its own
        ("it is c-shaped", None),
        ("it is b/c of the light", None),
        ("the answer is b or c", None),
        ("It is B or C.", None),
    ],
)
def test_it_is_b_and_lower_case_stated_letters(generation, expected):
    assert parse_choice(generation, ["circle", "oval", "triangle", "star"]) == expected


def test_the_article_a_before_an_options_text_is_no_letter():
    options = ["blue", "red", "green"]
    assert parse_choice("it is a red square", options) == 1
    assert parse_choice("It is A red square", options) == 1
    assert parse_choice("It is A.", options) == 0


def test_a_letter_that_is_an_options_text_after_it_is_reads_as_that_text():
    """Among options "B" and "A", "It's B." is the text "B" (as it was), while "The answer is
    B" is, as it always was, the letter B; a lower-case stated letter is the text."""
    options = ["B", "A"]
    assert parse_choice("It's B.", options) == 0
    assert parse_choice("So A.", options) == 1
    assert parse_choice("The answer is B", options) == 1
    assert parse_choice("the answer is a", options) == 1


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("Option A shows a cat, option B a dog. The answer is B.", 1),
        ("Option A shows a cat, option B a dog. Final answer: B", 1),
        ("Option A shows a cat, option B a dog, so B.", 1),
        ("Option A shows a cat, option B a dog. The answer is dog.", 1),
        ("Option A shows a cat, option B a dog. It is B.", 1),
        ("A. cat\nB. dog\nC. fish\nThe answer is C.", 2),
        ("The image shows a cat next to a dog. The answer is B.", 1),
        ("A cat sits by the fish tank, so the answer is fish.", 2),
        ("Option A is wrong; option B is correct.", 1),
        ("B is the correct answer.", 1),
        ("The answer is A. On second thought, the answer is C.", 2),
        # without a statement the first option named still wins
        ("Option A shows a cat, option B a dog.", 0),
    ],
)
def test_a_final_statement_wins_over_earlier_mentions(generation, expected):
    assert parse_choice(generation, ANIMALS) == expected


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("not red, blue", 1),
        ("Not red; it is blue.", 1),
        ("It is not A; it is C", 2),
        ("It's not A, it's C.", 2),
        ("B is wrong, the answer is D", 3),
        ("B is incorrect. D.", None),
        ("It isn't red, it's blue", 1),
        ("The answer is not red but blue.", 1),
        ("red is wrong; blue", 1),
        ("Red is not the answer. Green is.", 2),
        ("neither red nor blue, but green", 2),
        ("Not red or blue; green.", 2),
        ("not option A but option B", 1),
        ("Not (A). (C)", 2),
        ("rather than red, yellow", 3),
        # a negated mention alone names nothing
        ("Not red.", None),
        ("It is not B.", None),
        ("The answer is not red.", None),
        # what passed before still does
        ("blue, not red", 1),
        ("It is red, and blue is wrong.", 0),
        ("blue or green", None),
        ("Not red; blue or green.", None),
    ],
)
def test_a_negated_mention_is_no_vote(generation, expected):
    assert parse_choice(generation, COLOURS) == expected


@pytest.mark.parametrize(
    ("generation", "options", "expected"),
    [
        ("It is dark red, not red.", ["red", "dark red"], 1),
        ("Not dark red but red.", ["red", "dark red"], 0),
        ("It is red, not dark red.", ["red", "dark red"], 0),
        ("The answer is dark red.", ["red", "dark red"], 1),
        ("The answer is red; dark red is wrong.", ["red", "dark red"], 0),
        # an option's own "not" is its text, no negation
        ("The answer is not moving.", ["moving", "not moving"], 1),
        ("It is not moving.", ["moving", "not moving"], 1),
        ("The car is moving.", ["moving", "not moving"], 0),
        ("不是红色，是蓝色", ["红色", "蓝色"], 1),
    ],
)
def test_negation_and_options_inside_others(generation, options, expected):
    assert parse_choice(generation, options) == expected


@pytest.mark.parametrize(
    "generation",
    [
        "**Answer:** (C) green",
        "The answer is \u201cC\u201d.",
        "The answer is \u2018C\u2019",
        "The answer is 'C'.",
        "- C",
        "* C",
        "C\u3002",
        "Answer - C",
        "Answer \u2014 C",
        "C\nBecause the first one is red.",
        "C - green",
        "The correct answer is **C. green**",
        "C is the correct answer, as the car is not red.",
    ],
)
def test_markdown_quotes_and_layouts(generation):
    assert parse_choice(generation, COLOURS) == 2


@pytest.mark.parametrize(
    ("generation", "options", "expected"),
    [
        # a statement's own letter inside an option's text is no letter
        ("Vitamin C is correct.", ["Vitamin A", "Vitamin C", "Vitamin D"], 1),
        # a decimal at the end of a sentence ("2.50.") is still 2.5
        ("The answer is 2.50.", ["2.5", "3"], 0),
        ("It is about 2.50.", ["2.5", "3"], 0),
        # thousands before a comma
        ("About 1,000, I think.", ["100", "1000"], 1),
    ],
)
def test_more_generations(generation, options, expected):
    assert parse_choice(generation, options) == expected


def test_scoring_reads_the_final_statement():
    question = "Which animal is it?\nA. cat\nB. dog\nC. fish"
    scored = score_answer(
        "Option A shows a cat, option B a dog. The answer is B.", "B", [], question
    )
    assert scored.mode == "choice" and scored.correct and scored.parsed == "B"
    assert scored.prediction == "dog"
    scored = score_answer("It is not A; it is C", "C", [], question)
    assert scored.correct and scored.parsed == "C"
    assert score_answer("Option 2", "dog", ANIMALS).correct


@pytest.mark.parametrize(
    "generation",
    [
        "answer " * 10_000,
        "the answer is not " * 5_000,
        "it is " * 10_000,
        "B is correct. " * 3_000,
        "not red " * 5_000,
        "option 2 " * 5_000,
        "so " * 10_000,
    ],
)
def test_many_statements_are_read_in_linear_time(generation):
    # no timing is asserted; read back to every statement, "answer " * 10000 took 8 s
    parse_choice(generation, COLOURS)
    parse_choice(generation, ["1", "2", "3"])


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        # LaTeX's box, as math-tuned Qwen models end an answer
        ("\\boxed{C}", 2),
        ("The final answer is $\\boxed{C}$", 2),
        ("\\boxed{green}", 2),
        ("It seems to be C.", 2),
        ("I'd say C", 2),
        ("So C is the answer.", 2),
        # a letter that "so" or "It is" precede as the subject of a sentence is no answer
        ("The answer is C.\n\nThe car is red, so option A is not right.", 2),
        ("The answer is C. The car is red, so A would be a guess.", 2),
        ("It is C-shaped.", None),
        # what it is not, then what it is
        ("The answer is not A but C.", 2),
        ("Not A but rather C", 2),
        ("It could be A, but C.", 2),
        # "no" before an option's text
        ("There is no red car; the car is green.", 2),
        ("No, it is green.", 2),
    ],
)
def test_more_statements(generation, expected):
    assert parse_choice(generation, COLOURS) == expected


def test_no_before_a_number_is_no_negation():
    assert parse_choice("No. 2", ["1", "2", "3"]) == 1
    assert parse_choice("The answer is no.", ["yes", "no"]) == 1
    assert parse_choice("No, there is no car.", ["yes", "no"]) == 1
    assert parse_choice("There is no car.", ["car", "no car"]) == 1
