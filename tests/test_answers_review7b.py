"""Seventh review of answer normalisation, second part: thousands commas ("1,000" read "1 000"),
minus zero ("-0" was not "0"), combining marks left by casefold or written on a letter
("İstanbul" read "i stanbul", "हिंदी" read "ह द"), and a reference answer's surrounding spaces
(its exact-text check was not the one `parse_choice` makes)."""

from __future__ import annotations

import pytest

from epvlm.answers import normalize_text, parse_choice, score_answer
from eventsim.datasets.questions import answers_an_option, reference_index


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # thousands grouped by commas, as the VQA scorer reads them
        ("1,000", "1000"),
        ("12,345,678", "12345678"),
        ("-1,000", "-1000"),
        ("(1,000)", "1000"),
        ("1,000.50", "1000 5"),
        ("$1,000.", "1000"),
        # a comma that groups no thousands stays punctuation: "1,5" may be a decimal comma
        ("1,5", "1 5"),
        ("1,2,3", "1 2 3"),
        ("1,000,00", "1 000 00"),
        ("1, 000", "1 000"),
        # minus zero is zero; a negative fraction keeps its sign
        ("-0", "0"),
        ("-0.0", "0"),
        ("\u22120", "0"),
        ("-.0", "0"),
        ("It is -0.", "it is 0"),
        ("-0.5", "-0 5"),
        ("-0,5", "-0 5"),
        ("-05", "-05"),
        # a decimal point reads as one: "1.000" is 1 (see the ambiguity test below)
        ("1.000", "1"),
    ],
)
def test_numbers(text, expected):
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("İstanbul", "istanbul"),  # casefold gives "i\u0307": the dot split the word
        ("ISTANBUL", "istanbul"),
        ("i\u0307stanbul", "istanbul"),
        ("हिंदी", "हिंदी"),  # vowel signs are combining marks
        ("\u0390x", "\u0390x"),  # casefold decomposes it; NFKC composes it again
        ("\u03aa\u0301a", "\u0390a"),
        ("e\u0301\u0302x", "\u00e9\u0302x"),  # a mark with no composed form stays on its letter
        ("café", "café"),
        # a mark on no letter is punctuation ("´" is a space and a mark under NFKC)
        ("it\u00b4s", "it s"),
        (" \u0301x", "x"),
    ],
)
def test_combining_marks_do_not_split_words(text, expected):
    assert normalize_text(text) == expected


def test_istanbul_scores_in_free_mode():
    assert score_answer("Istanbul.", "İstanbul", []).exact_match
    assert score_answer("It is in İstanbul", "istanbul", []).contains


def test_thousands_and_minus_zero_score_in_free_mode():
    assert score_answer("1000", "1,000", []).exact_match
    assert score_answer("About 1,000 people", "1000", []).contains
    assert score_answer("-0", "0", []).exact_match
    assert not score_answer("1,5", "15", []).exact_match


def test_thousands_option_is_parsed():
    choices = ["100", "1000", "10000"]
    assert parse_choice("1,000", choices) == 1
    assert parse_choice("There are 1,000 of them.", choices) == 1
    assert reference_index("1,000", choices) == 1


def test_one_and_one_point_000_stay_apart_by_their_exact_text():
    """'1.000' reads as 1 (decimal point), like option '1'; options '1' and '1.000' are told
    apart only by exact text, and anything else naming them is ambiguous (named by neither)."""
    choices = ["1", "1.000"]
    assert reference_index("1.000", choices) == 1
    assert reference_index("1", choices) == 0
    assert reference_index("1.0", choices) is None
    assert parse_choice("1.000", choices) == 1
    assert parse_choice("1", choices) == 0
    assert parse_choice("The answer is 1.000.", choices) is None


@pytest.mark.parametrize("answer", [" 2 ", "2\n", "\ttwo "])
def test_reference_exact_text_ignores_surrounding_spaces(answer):
    """parse_choice compares a stripped generation with stripped options; reference_index
    compared the raw answer, so ' 2 ' among '2' and 'two' named both (scored free) while a
    generation ' 2 ' was option '2'."""
    choices = ["2", "two"]
    index = 0 if "2" in answer else 1
    assert reference_index(answer, choices) == index
    assert parse_choice(answer, choices) == index
    scored = score_answer(answer, answer, choices)
    assert scored.mode == "choice"
    assert scored.correct
    assert answers_an_option("How many?\nA. 2\nB. two", answer)


def test_options_differing_only_by_spaces_are_ambiguous():
    assert reference_index("2", ["2", " 2"]) is None
