"""Second look at ffb888a's answer normalisation: a number's sign and a decimal's missing leading
0 are part of the number, so "-2" is not "2" and ".5" is not "5"."""

from __future__ import annotations

import pytest

from epvlm.answers import normalize_text, parse_choice, reference_index, score_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-2", "-2"),
        ("(-2)", "-2"),
        ("\u22123", "-3"),  # the Unicode minus sign
        ("\uff0d4", "-4"),  # full width, folded by NFKC
        ("-1.50", "-1 5"),
        (".5", "0 5"),
        (".50", "0 5"),
        ("-.5", "-0 5"),
        # a hyphen between words or numbers, or a dash before a space, is punctuation as before
        ("1-2", "1 2"),
        ("x-2", "x 2"),
        ("- 2", "2"),
        ("2020-01-05", "2020 01 05"),
        ("v.5", "v 5"),
        # what ffb888a settled stays
        ("1.50", "1 5"),
        ("1.0", "1"),
        ("10", "10"),
        ("0.0", "0"),
        ("No.", "no"),
    ],
)
def test_normalize_keeps_sign_and_leading_zero(text, expected):
    assert normalize_text(text) == expected


def test_negative_generation_is_not_the_positive_option():
    assert parse_choice("-2", ["2", "3"]) is None
    assert parse_choice("The answer is -1.", ["-1", "1"]) == 0
    assert parse_choice("It is 1.", ["-1", "1"]) == 1
    assert parse_choice("\u22121", ["-1", "1"]) == 0
    assert not score_answer("-5", "5", []).correct
    assert score_answer("-5.0", "-5", []).correct


def test_bare_decimal_is_not_the_whole_number():
    assert parse_choice(".5", ["0.5", "5"]) == 0
    assert parse_choice("about .50 m", ["5 m", "0.5 m"]) == 1
    assert reference_index(".5", ["5", "0.5"]) == 1
    assert not score_answer(".5", "5", []).correct


def test_reference_with_unicode_minus_is_its_option():
    assert reference_index("\u22121", ["1", "-1"]) == 1
