"""Second look at the ninth round of choice parsing (052e242, the last statement wins): a letter
that "So", "Therefore", "It is" or "I'd say" precede counted as the final answer where it was
the subject of a sentence after the answer ("The answer is A. So B and C are wrong."), "X is
right of ..." read as "X is right", and a hedged statement ("The answer is most likely B") read
nothing. The yes/no readings the negation rule must keep are pinned here too."""

from __future__ import annotations

import pytest

from epvlm.answers import parse_choice

COLOURS = ["red", "blue", "green", "yellow"]


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        # a list or a hedge of letters after "So" is what the sentence is about, not the answer
        ("The answer is A. So B and C are wrong.", 0),
        ("The answer is A. Thus B and D are incorrect.", 0),
        ("The answer is A, so B or C cannot be right.", 0),
        ("The answer is A. Hence B, C and D are excluded.", 0),
        ("B\n\nThe car is blue. Therefore, A, C, and D are incorrect.", 1),
        # a letter followed by a verb the old list did not hold
        ("B\n\nThe car is blue. So D doesn't fit.", 1),
        ("The answer is B. But option C also looks similar.", 1),
        ("The answer is (B). But option (C) also looks similar.", 1),
        ("The answer is B. It is option C that is green.", 1),
        ("The answer is B. So the first option cannot be right.", 1),
        # "I'd say" is as weak as "So": what follows may be a sentence about another option
        ("The answer is B. I would say C is also plausible.", 1),
        ("The answer is B. I'd say A is less likely.", 1),
    ],
)
def test_a_letter_a_weak_statement_names_as_a_subject_is_no_final_answer(generation, expected):
    assert parse_choice(generation, COLOURS) == expected


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("So B.", 1),
        ("So, B", 1),
        ("It is B, the blue one.", 1),
        ("It is B because the car is blue.", 1),
        ("It is B: blue", 1),
        ("So B (blue).", 1),
        ("So B is the answer.", 1),
        ("The answer is C, so D.", 3),
        ("The answer is B.\nHence, D.", 3),
        ("I'd say C", 2),
        ("I would say B because it is blue.", 1),
        ("I would say no.", None),
        ("It is B or C.", None),
        ("So B and C.", None),
    ],
)
def test_a_weak_statement_that_ends_its_clause_still_names_the_answer(generation, expected):
    assert parse_choice(generation, COLOURS) == expected


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("The answer is most likely B.", 1),
        ("The answer is probably B.", 1),
        ("The answer is definitely (B) blue.", 1),
        ("The correct answer is likely B because the car is blue.", 1),
        ("It is probably B.", 1),
        ("It is not clear, but probably B", 1),
        ("Probably B.", 1),
        ("Most likely, B", 1),
        ("The answer is probably not A.", None),
        ("The answer is B, probably C would also work.", 1),
        ("The answer is B. It is probably C-shaped.", 1),
    ],
)
def test_a_hedged_statement_names_its_option(generation, expected):
    assert parse_choice(generation, COLOURS) == expected


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        # an option that names an object in the image, standing right of another
        ("Answer: A\nExplanation: Option B is the right-hand car, which is blue.", 0),
        ("The answer is A. B is the right side of the road.", 0),
        ("Answer: A. B is right of the car.", 0),
        ("Answer: A\nB is the best-lit object.", 0),
        # what "is right" still means
        ("B is right.", 1),
        ("B is the right answer.", 1),
        ("B is the best choice.", 1),
        ("So B is the right answer.", 1),
    ],
)
def test_is_right_of_is_no_statement_of_the_answer(generation, expected):
    assert parse_choice(generation, COLOURS) == expected


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("No", 1),
        ("no", 1),
        ("No.", 1),
        ("No, it is not moving.", 1),
        ("No, it isn't moving.", 1),
        ("No, it's not.", 1),
        ("No. It's not moving.", 1),
        ("No, there are no cars.", 1),
        ("No, the object is not moving.", 1),
        ("**No**, the object is not moving.", 1),
        ("The object does not move, so the answer is No.", 1),
        ("There is no car, so no.", 1),
        ("Answer: No", 1),
        ("B. No", 1),
        ("Yes", 0),
        ("Yes, it is not moving.", 0),
        ("Yes, it's moving to the left, not right.", 0),
        ("Yes, there is a car.", 0),
        ("The object is not moving.", None),
    ],
)
def test_yes_no_answers_survive_the_negation_rule(generation, expected):
    assert parse_choice(generation, ["yes", "no"]) == expected


@pytest.mark.parametrize(
    "generation",
    ["probably " * 10_000, "most likely " * 10_000, "so B, " * 10_000, "I'd say " * 8_000],
)
def test_hedged_and_weak_statements_are_read_in_linear_time(generation):
    # no timing is asserted: the statements are read from the end, at most 32 of them
    parse_choice(generation, COLOURS)
