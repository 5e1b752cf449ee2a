"""Tenth round of choice parsing: a numbered list's item that starts with a letter ("1. B") read
nothing; a list of verdicts ("A. red - incorrect\\nB. blue - correct") read its first letter;
"not only X but also Y" read X as rejected after "It is" / "The answer is", and as the one
answer where it names two; Cyrillic or Greek capitals drawn as Latin letters ("В" for B) read
nothing; a comma list of letters ("The answer is A, C") read its first. Each table is (text,
options, expected index or None)."""

from __future__ import annotations

import pytest

from epvlm.answers import parse_choice, score_answer

COLOURS = ["red", "blue", "green", "yellow"]
SHAPES = ["circle", "square", "triangle"]
DIRECTIONS = ["Left", "Straight", "Right"]
NUMBERS = ["1", "2", "3"]


def _table(rows):
    return pytest.mark.parametrize(("text", "options", "expected"), rows)


@_table(
    [
        ("1. B", COLOURS, 1),
        ("1) B", COLOURS, 1),
        ("1. B. blue", COLOURS, 1),
        ("1. (B) blue", COLOURS, 1),
        ("1. The object is round.\n2. B", SHAPES, 1),
        ("1. Look at the picture.\n2. The car is blue.\n3. Answer: B", COLOURS, 1),
        ("1. The car is blue.\n2. So the answer is B.", COLOURS, 1),
        # items that start with different letters name two options
        ("1. B\n2. C", COLOURS, None),
        ("1. B\n2. Because the car is blue.", COLOURS, 1),
        # a list number is no option's text "1" (two or more numbered lines make a list)
        ("1. The car is red.\n2. There are 3 cars.", NUMBERS, 2),
        ("1. B", NUMBERS, 1),
        # one numbered line may be the answer with its reason, as before
        ("2. There are two cars.", NUMBERS, 1),
        ("2.", NUMBERS, 1),
        # an option's number is still read as before; a bare number is a count
        ("(2) blue", COLOURS, 1),
        ("Option 2", COLOURS, 1),
        ("2) blue", COLOURS, 1),
        ("The answer is 2.", COLOURS, None),
        # a lead letter after the first line, outside a numbered list, is no lead ("A:" of a
        # Q/A layout)
        ("Q: What colour is the car?\nA: blue", COLOURS, 1),
    ]
)
def test_numbered_lists(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        ("A. red - incorrect\nB. blue - correct\nC. green - incorrect", COLOURS, 1),
        ("A. red: incorrect\nB. blue: correct\nC. green: incorrect", COLOURS, 1),
        ("A: incorrect\nB: correct\nC: incorrect\nD: incorrect", COLOURS, 1),
        ("A - wrong\nB - right", COLOURS, 1),
        ("A) red \u2014 incorrect\nB) blue \u2014 correct", COLOURS, 1),
        ("(A) red (wrong)\n(B) blue (correct)", COLOURS, 1),
        ("A. red is incorrect.\nB. blue is correct.", COLOURS, 1),
        ("A. red - not correct\nB. blue - correct", COLOURS, 1),
        ("A. red \u2717\nB. blue \u2713", COLOURS, 1),
        ("- A. red: wrong\n- B. blue: right", COLOURS, 1),
        ("1. A. red - no\n2. B. blue - yes", COLOURS, 1),
        ("Option A: incorrect\nOption B: correct", COLOURS, 1),
        ("**A. red** - incorrect\n**B. blue** - correct", COLOURS, 1),
        ("red - incorrect\nblue - correct\ngreen - incorrect", COLOURS, 1),
        ("A. red - Incorrect, the car is blue.\nB. blue - Correct, the car is blue.", COLOURS, 1),
        ("B. blue - correct, because the car is blue.", COLOURS, 1),
        ("A. Left - wrong\nC. Right - correct", DIRECTIONS, 2),
        # two called right name none; none called right names none of those called wrong
        ("A. red - correct\nB. blue - correct", COLOURS, None),
        ("A. red - incorrect", COLOURS, None),
        ("Let's check each option:\nA. red - incorrect\nB. blue - incorrect", COLOURS, None),
        # what is left after a verdict still reads
        ("A. red - incorrect. The car is blue.", COLOURS, 1),
        ("Red - no, it is blue.", COLOURS, 1),
        # the last statement still wins over the list
        ("A. red - incorrect\nB. blue - correct\nSo the answer is C.", COLOURS, 2),
        # a verdict that is an option's text is that option ("right" among the directions)
        ("C - right", DIRECTIONS, 2),
        ("A - Left\nB - Straight\nC - Right", DIRECTIONS, 0),
        ("No - correct", ["yes", "no"], 1),
        ("B - incorrect", ["correct", "incorrect"], 1),
        # a letter with another option's text is no verdict: read as before (its letter)
        ("A. blue - correct", COLOURS, 0),
        # what passed before still does
        ("red is wrong; blue", COLOURS, 1),
        ("B is incorrect. D.", COLOURS, None),
        ("Option A is wrong; option B is correct.", COLOURS, 1),
        ("B is right.", COLOURS, 1),
        ("Answer: A. B is right of the car.", COLOURS, 0),
        ("It is red, and blue is wrong.", COLOURS, 0),
    ]
)
def test_verdict_lists(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        ("It is not only red but also round.", COLOURS, 0),
        ("The answer is not only red but also round.", COLOURS, 0),
        ("The answer is not only B but also the brightest.", COLOURS, 1),
        ("It is not only B, it is also the brightest.", COLOURS, 1),
        ("It's not just red, but also shiny.", COLOURS, 0),
        ("It is not only a circle but also red.", SHAPES, 0),
        # both said: two options
        ("It is not only red but also blue.", COLOURS, None),
        ("Not only B but also C.", COLOURS, None),
        ("The answer is not only B but also C.", COLOURS, None),
        # a plain "not" is still a negation
        ("It is not red.", COLOURS, None),
        ("It is not A; it is C", COLOURS, 2),
        ("The answer is not red but blue.", COLOURS, 1),
        ("It is not only moving but also turning.", ["moving", "not moving"], 0),
    ]
)
def test_not_only_is_no_negation(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        ("\u0412", COLOURS, 1),  # Cyrillic "В"
        ("\u0412.", COLOURS, 1),
        ("(\u0421)", COLOURS, 2),  # Cyrillic "С"
        ("\u0391", COLOURS, 0),  # Greek "Α"
        ("\u0392)", COLOURS, 1),  # Greek "Β"
        ("**\u0412**", COLOURS, 1),
        ("The answer is \u0412.", COLOURS, 1),
        ("The answer is \u0412 because the car is blue.", COLOURS, 1),
        ("\u0412 is the correct answer", COLOURS, 1),
        # the look-alike letter is escaped; the words around it are in their own script
        ("Ответ: \u0412", COLOURS, 1),
        ("Вариант \u0412", COLOURS, 1),
        ("Ответ: \u0421, потому что машина зелёная.", COLOURS, 2),
        ("Η απάντηση είναι \u0392.", COLOURS, 1),  # Greek: "The answer is B."
        ("\u0410. red - incorrect\n\u0412. blue - correct", COLOURS, 1),
        # inside a word, or a word of its own script ("В машине", "in the car"; "А", "but";
        # Greek "Η", "the"), it is no letter
        ("\u0412 машине сидит кот.", COLOURS, None),
        ("\u0410 машина синяя.", COLOURS, None),
        ("\u0397 μπάλα", ["ball", "cube", "cone", "ring", "disc", "star", "rod", "H"], None),
        ("\u0410\u0412\u0421", COLOURS, None),
        ("\u0412\u0412", COLOURS, None),
        ("The answer is \u0412, \u0421", COLOURS, None),
        # a look-alike of no option's letter stays what it is
        ("\u0415", COLOURS, None),  # Cyrillic "Е"; options A to D
        # lower-case look-alikes are words ("с", "with"; "а", "and")
        ("\u0441", COLOURS, None),
        # options in Cyrillic letters: "В" is the option "В", the third
        ("\u0412", ["\u0410", "\u0411", "\u0412"], 2),
        ("\u0412)", ["\u0410", "\u0411", "\u0412"], 2),
        ("Ответ: \u0412", ["\u0410", "\u0411", "\u0412"], 2),
        ("\u0412", ["\u0412 машине", "\u043d\u0430 \u0443\u043b\u0438\u0446\u0435"], None),
    ]
)
def test_cyrillic_and_greek_look_alike_letters(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        ("The answer is A. Actually no, it is C.", COLOURS, 2),
        ("The answer is A. Actually, C.", COLOURS, 2),
        ("The answer is A. No wait, the answer is C.", COLOURS, 2),
        # "Actually" is as weak as "So": a letter it precedes as a subject is no answer
        ("The answer is A. Actually, C is green too.", COLOURS, 0),
        # two letters given as one answer name none
        ("The answer is A and C", COLOURS, None),
        ("The answer is A and C.", COLOURS, None),
        ("The answer is A, C", COLOURS, None),
        ("The answer is A, C.", COLOURS, None),
        ("Answer: A, C", COLOURS, None),
        ("The answer is A & C", COLOURS, None),
        ("The answer is A+C", COLOURS, None),
        ("The answer is A, B and C", COLOURS, None),
        ("The answer is A, B, or C", COLOURS, None),
        ("The answer is (A), (C).", COLOURS, None),
        ("The answers are A and C", COLOURS, None),
        # a comma that starts a new clause joins no second answer
        ("The answer is B, C is wrong.", COLOURS, 1),
        ("The answer is B, since it is blue.", COLOURS, 1),
        ("The answer is B, I think.", COLOURS, 1),
        ("The answer is A, a red square.", COLOURS, 0),
        ("Therefore, A, C, and D are incorrect.", COLOURS, None),
    ]
)
def test_self_contradicting_answers(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        # the article "A" is no letter, as the rules already said
        ("A red ball", ["ball", "cube"], 0),
        ("A big ball is on the table.", COLOURS, None),
        ("A big ball.", COLOURS, None),
        ("A car is parked.", ["A bus", "A car"], 1),
        ("A cube is correct.", ["ball", "cube"], 1),
        # yes/no answers keep their readings
        ("No, it is not moving.", ["yes", "no"], 1),
        ("Yes - correct", ["yes", "no"], 0),
        ("Answer: no", ["yes", "no"], 1),
    ]
)
def test_no_new_false_readings(text, options, expected):
    assert parse_choice(text, options) == expected


def test_scoring_reads_verdict_lists_and_look_alikes():
    question = "What colour is the car?\nA. red\nB. blue\nC. green"
    scored = score_answer("A. red - incorrect\nB. blue - correct", "B", [], question)
    assert scored.mode == "choice" and scored.correct and scored.parsed == "B"
    assert score_answer("\u0412", "B", [], question).correct
    assert score_answer("1. B", "blue", [], question).correct
    assert score_answer("The answer is A, C", "A", [], question).parsed is None


@pytest.mark.parametrize(
    "generation",
    [
        "A. red - incorrect\n" * 5_000,
        "1. B\n" * 5_000,
        "not only " * 10_000,
        "not only red " * 5_000 + "but also blue",
        "\u0412 " * 10_000,
        "The answer is " + "A, " * 10_000,
        "- " * 10_000 + "correct",
        "A" + " " * 10_000 + "- correct",
        "1. A: red\n" * 5_000,
        "It is not only B, but " * 2_000 + "C too.",
    ],
)
def test_new_readings_are_linear(generation):
    # no timing is asserted; the test run's own time is the check
    parse_choice(generation, COLOURS)


@_table(
    [
        # a numbered item that says more than a letter (and its option's text) is a step of
        # reasoning about that option, no answer: the letter that starts the text, or the
        # option the steps name, still is
        ("B\n\n1. A: the car is not red.\n2. C: the car is not green.", COLOURS, 1),
        ("1. The car is blue.\n2. A: red, which does not match the car.", COLOURS, 1),
        ("Steps:\n1. D. The car's colour is not yellow.\n2. The car is blue.", COLOURS, 1),
        ("1. Look at the car.\n2. B. blue", COLOURS, 1),
        ("1. Look at the car.\n2. B - blue", COLOURS, 1),
        ("1. B.\n2. The car is blue.", COLOURS, 1),
        # items naming different options (the options listed) name none, not the first text
        ("1. A. red\n2. B. blue", COLOURS, None),
        ("1. A. red\n2. B. blue\nThe car is blue.", COLOURS, None),
        # an option whose own text says "not only" keeps its words
        ("The answer is not only red.", ["not only red", "only blue", "green"], 0),
        ("It is not only red.", ["not only red", "only blue", "green"], 0),
        # "not only X" that its sentence adds nothing to is no statement of X alone
        ("It's not just B; C also works.", COLOURS, None),
        ("The answer is not just B.", COLOURS, None),
        ("It is not only B, it is also the brightest.", COLOURS, 1),
        ("It is not only B, but C too.", COLOURS, None),
        ("The answer is not only B, but C as well.", COLOURS, None),
        ("It is not only red, but round too.", COLOURS, 0),
        # a verdict's "A" that is the article of an option's text names that text
        ("A car - incorrect\nA bus - correct", ["A car", "A bus", "A truck"], 1),
        ("A car - wrong\nA bus - wrong\nIt is a truck.", ["A car", "A bus", "A truck"], 2),
        ("A car - wrong", ["A car", "A bus", "A truck"], None),
        ("A. blue - correct", COLOURS, 0),
    ]
)
def test_second_look_false_readings(text, options, expected):
    assert parse_choice(text, options) == expected
