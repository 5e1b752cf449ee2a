"""Eighth review of answer normalisation: "-0.5" read "-0 5", which read again was "0 5" (the
normal form was not one); thousands grouped by typographic spaces or apostrophes ("1 000",
"1'000") were not folded as "1,000" is; and the builder, the scorer and
`epvlm.processing.normalize_answer` agree on every string, tricky ones included."""

from __future__ import annotations

import random

import pytest

from epvlm.answers import letter_of, normalize_text, parse_choice, score_answer
from epvlm.processing import normalize_answer
from eventsim.datasets.questions import answers_an_option, options_in_question, reference_index

_TRICKY = [
    "-0.5",
    "-.5",
    "-0,5",
    "(-0.5)",
    "\u22120.5",
    "-0.50",
    "-0.0 5",
    "-0 5",
    "-0",
    "-00.5",
    "1,000",
    "-1,000.50",
    "0,500",
    "1 000",
    "1\u00a0000",
    "1\u202f000",
    "1\u2009000",
    "1'000",
    "1\u2019000",
    "-1'000'000.00",
    "1'000 000",
    "1\u00a000",
    "1\u00a00",
    "12\u00a03456",
    "x1'000",
    "5'11\"",
    "rock'n'roll",
    "\u0661\u066c\u0662\u0660\u0660",
    "\u0661\u00a0\u0662\u0660\u0660",
    "\uff11\uff0c\uff10\uff10\uff10",
    "\uff0d\uff10\uff0e\uff15",
    "2.0.1",
    "1.000",
    ".5.",
    "- 0.5",
    "--0.5",
    "+0.5",
    "1e-5",
    "It is -0.5.",
    "Two thousand",
    "2020-01-05",
    "$1,000.",
    "İstanbul",
    "हिंदी",
]


@pytest.mark.parametrize("text", _TRICKY)
def test_normal_form_is_one(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    articles = normalize_text(text, drop_articles=True)
    assert normalize_text(articles, drop_articles=True) == articles


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a negative fraction keeps its sign, also normalised again
        ("-0.5", "-0 5"),
        ("-0 5", "-0 5"),
        ("(-0.5)", "-0 5"),
        ("\u22120.5", "-0 5"),
        # minus zero is still zero
        ("-0", "0"),
        ("-0.0", "0"),
        ("-0 apples", "0 apples"),
        ("-0, 5", "-0 5"),  # as "0, 5" is "0 5" and "0.5"
        ("--0", "0"),
    ],
)
def test_minus_zero_and_negative_fractions(text, expected):
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # groups of exactly three digits behind a typographic space or an apostrophe
        ("1\u00a0000", "1000"),
        ("1\u202f000", "1000"),
        ("1\u2009000", "1000"),
        ("12\u202f345\u202f678", "12345678"),
        ("1'000", "1000"),
        ("1\u2019000", "1000"),
        ("-1'000'000.50", "-1000000 5"),
        ("CHF 1'000.-", "chf 1000"),
        ("1\u00a0000,5", "1000 5"),
        ("\uff11\u00a0\uff10\uff10\uff10", "1000"),
        ("\u0661\u066c\u0662\u0660\u0660", "\u0661\u0662\u0660\u0660"),  # Arabic-Indic
        # anything else is no grouping: the digits stay apart
        ("1 000", "1 000"),  # a plain space may part two numbers ("2 100-metre lanes")
        ("1\u00a00", "1 0"),
        ("1\u00a000", "1 00"),
        ("1\u00a00000", "1 0000"),
        ("12\u00a03456", "12 3456"),
        ("1'000\u00a0000", "1 000 000"),
        ("x1'000", "x1 000"),
        ("0'500", "0 500"),  # no number is grouped after a leading 0
        ("5'11", "5 11"),
        ("'1'000'", "1000"),  # quoted
        ("1'000'", "1000"),
    ],
)
def test_thousands_grouped_by_spaces_or_apostrophes(text, expected):
    assert normalize_text(text) == expected


def test_leading_zero_comma_is_no_thousands_grouping():
    """ "0,500" (a decimal comma) read "0500"; it is "0 500", as "0,5" is "0 5"."""
    assert normalize_text("0,500") == "0 500"
    assert normalize_text("-0,500") == "-0 500"
    assert normalize_text("1,000") == "1000"


def test_grouped_options_stay_apart_from_digits_in_a_row():
    options = ["1\u00a00", "10", "1\u00a0000"]
    assert parse_choice("10", options) == 1
    assert parse_choice("1 0", options) == 0
    assert parse_choice("1,000", options) == 2
    assert parse_choice("1'000", options) == 2
    # "1000" and "1 000" are one number: an answer that is neither text names both
    assert parse_choice("1'000", ["1000", "1\u202f000"]) is None
    assert parse_choice("1000", ["1000", "1\u202f000"]) == 0


def test_swiss_and_french_numbers_score_as_their_reference():
    assert score_answer("1'000", "1000", []).exact_match
    assert score_answer("Es sind 1'250 Franken.", "1,250", []).contains
    assert score_answer("12\u202f500", "12,500", []).exact_match
    assert not score_answer("1 0", "10", []).exact_match


_POOLS = [
    "0123456789",
    "-\u2212+",
    ".,'\u2019 \u00a0\u202f\u2009",
    "\u0660\u0661\u0665\uff10\uff11\uff15\u00b2\u00bd",
    "abzİßΐ",
    '()$%!?"*_/:',
]
_WORDS = ["zero", "one", "two", "ten", "the", "a", "an", "red", "<|im_end|>"]


def _random_text(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(0, 10)):
        r = rng.random()
        if r < 0.1:
            out.append(rng.choice(_WORDS))
        elif r < 0.95:
            out.append(rng.choice(rng.choice(_POOLS)))
        else:
            out.append(chr(rng.randint(0x20, 0x2FF)))
    return "".join(out)


def test_normal_form_is_one_on_random_numbers():
    rng = random.Random(8)
    for _ in range(4000):
        text = _random_text(rng)
        once = normalize_text(text)
        assert normalize_text(once) == once, ascii(text)
        articles = normalize_text(text, drop_articles=True)
        assert normalize_text(articles, drop_articles=True) == articles, ascii(text)


def test_builder_scorer_and_processing_agree_on_random_answers():
    """The builder labels a record multiple-choice exactly when the scorer scores it as one,
    the reference's letter scores right, and `normalize_answer` is the scorer's normal form."""
    rng = random.Random(88)
    for _ in range(1500):
        options = [_random_text(rng).replace("\n", " ").strip() or "x" for _ in range(3)]
        answer = rng.choice([*options, _random_text(rng), rng.choice("ABCDabc")])
        question = "What is it?\n" + "\n".join(
            f"{letter_of(i)}. {o}" for i, o in enumerate(options)
        )
        if options_in_question(question) != options:
            continue  # options the question's layout cannot hold (a line break in one)
        scored = score_answer(rng.choice(options), answer, [], question)
        assert answers_an_option(question, answer) == (scored.mode == "choice"), ascii(answer)
        ref = reference_index(answer, options)
        if ref is not None:
            assert score_answer(letter_of(ref), answer, [], question).correct
        assert normalize_answer(answer) == normalize_text(answer)


def test_normalize_answer_is_the_scorers_normal_form():
    """It was the offline tokenizer's word split: "2.0" was not "2" (the scorer's exact match
    says it is), and text after ``<|endoftext|>`` counted."""
    assert normalize_answer("2.0") == normalize_answer("2")
    assert normalize_answer("Red<|endoftext|>blue") == "red"
    assert normalize_answer("Top-left!") == normalize_answer("top left") == "top left"
