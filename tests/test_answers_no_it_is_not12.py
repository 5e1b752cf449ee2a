"""A "No," followed by "it is not clear/certain/sure" restates the answer "no" (to "Is it
clear?"), as "No, it is not moving" does; "I" being unsure, or what cannot be told, still names
no option."""

import pytest

from epvlm.answers import parse_choice

YES_NO = ["yes", "no"]


@pytest.mark.parametrize(
    "answer",
    [
        "No, it's not clear.",
        "No, it is not certain.",
        "No. It is not certain.",
        "No, it is not clear",
    ],
)
def test_no_it_is_not_clear_is_no(answer: str) -> None:
    assert parse_choice(answer, YES_NO) == 1


@pytest.mark.parametrize(
    "answer",
    [
        "It's not clear.",
        "No, I'm not sure.",
        "No, I cannot tell.",
        "No, it's not clear whether it moves.",
    ],
)
def test_an_answer_that_cannot_tell_names_no_option(answer: str) -> None:
    assert parse_choice(answer, YES_NO) is None
