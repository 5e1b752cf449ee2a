"""Second look at round 12's choice parsing (1bc63e3). The article "a" after a guess word was
read as the letter A, so a firm answer that says it is unsure of something and "it could be a
reflection" named no option; "Yes," before a statement that it is not sure was read off as a
"No," is, so "Yes, I'm not sure" named none though "Yes, but I'm not sure" was yes; and an
answer labelled "A:" with another option's text and a reason after it ("A: No, it is still")
was option A. Each table is (text, options, expected index or None)."""

from __future__ import annotations

from test_answers_round10 import COLOURS, _table

from epvlm.answers import parse_choice, score_answer

YES_NO = ["yes", "no"]
MOTION = ["moving left", "moving right", "still"]


@_table(
    [
        # an article after "could be" / "might be" is no letter A
        (
            "B. The car is blue. The image is a bit unclear, so it could be a reflection.",
            COLOURS,
            1,
        ),
        ("The car is blue (B). It's hard to tell whether it might be a darker shade.", COLOURS, 1),
        ("No. It may be a shadow; I'm not sure.", YES_NO, 1),
        ("Yes, it might be a car. Hard to tell.", YES_NO, 0),
        # the letter A guessed, where it ends its clause, is still a guess
        ("Not sure, maybe A", COLOURS, None),
        ("Hard to say, possibly a.", COLOURS, None),
        ("I can't tell, maybe A, because it looks red", COLOURS, None),
        # a guessed option after an article is a guess too
        ("It is hard to tell, it may be a still object.", MOTION, None),
    ]
)
def test_an_article_after_a_guess_word_is_no_letter(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        ("Yes, I'm not sure.", YES_NO, 0),
        ("Yes, I can't be certain.", YES_NO, 0),
        ("Yes. Uncertain.", YES_NO, 0),
        # a "No," before it stays no answer, as round 12 has it
        ("No, I cannot tell.", YES_NO, None),
        ("No, I can't tell its exact speed.", YES_NO, 1),
    ]
)
def test_a_yes_before_a_remark_that_it_is_unsure_is_yes(text, options, expected):
    assert parse_choice(text, options) == expected


@_table(
    [
        ("A: No, the object is stationary.", YES_NO, 1),
        ("A: no, it's still", YES_NO, 1),
        ("A: Blue, because the car is blue", COLOURS, 1),
        ("A: green. The car is green.", COLOURS, 2),
        ("A: No, I cannot tell.", YES_NO, None),
        # option A's own text first is option A, as before
        ("A: yes, it moves", YES_NO, 0),
        ("A: red, because the car is red", COLOURS, 0),
    ]
)
def test_an_answer_labelled_a_with_a_reason(text, options, expected):
    assert parse_choice(text, options) == expected


def test_scores():
    assert score_answer("A: No, the object is stationary.", "no", YES_NO).correct
    firm = "B. The car is blue. The image is a bit unclear, so it could be a reflection."
    assert score_answer(firm, "B", COLOURS).correct
