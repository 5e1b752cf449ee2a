"""Eighth review of choice parsing with generations as Qwen2-VL writes them: a letter in
Markdown emphasis or quotes ("**B**"), "The answer is: B", a full-width letter, a stated letter
that starts an option's own text ("The answer is A car"), a hedge naming two options ("blue or
green"), and answers in a script written without spaces ("答案是B", "答案是蓝色")."""

from __future__ import annotations

import pytest

from epvlm.answers import parse_choice, score_answer

COLOURS = ["red", "blue", "green", "Yellow"]


@pytest.mark.parametrize(
    "generation",
    [
        "**B**",
        "**B**.",
        "*B*",
        "__B__",
        "`B`",
        '"B"',
        "'B'",
        "\u201cB\u201d",
        "\u00abB\u00bb",
        "**(B)**",
        "**Answer:** B",
        "Answer: **B**",
        "**The answer is B.**",
        "The answer is: B",
        "The correct answer is: (B) blue",
        "\uff22",
        "\uff08\uff22\uff09",
        "The answer is \uff22.",
        # what passed before still does
        "The answer is B.",
        "B) red",
        "(b)",
        "B",
        "b.",
        "**B. blue**",
        "BLUE!",
        "The car is Blue.",
        "blue, not red",
    ],
)
def test_option_b(generation):
    assert parse_choice(generation, COLOURS) == 1


@pytest.mark.parametrize(
    "generation",
    [
        "blue or green",
        "Either blue or green.",
        "It is blue and green.",
        "B or C",
        "A and B",
        "**B** or **C**",
        "The answer is B or C.",
        "Answer: (B) or (C)",
        "The answer is B/C",
        "",
        "   ",
        "<|im_end|>",
        "I cannot tell from the image.",
        "**",
    ],
)
def test_no_option(generation):
    assert parse_choice(generation, COLOURS) is None


def test_an_option_naming_both_is_still_that_option():
    assert parse_choice("red and white", ["red", "white", "red and white"]) == 2
    assert parse_choice("Red or white?", ["red", "white", "red or white"]) == 2
    # a later mention after "or" in a sentence that does not join the two is no hedge
    assert parse_choice("It is red, or so it seems; white is the wall.", ["red", "white"]) == 0


def test_a_stated_letter_that_starts_an_options_text():
    options = ["A bus", "A car"]
    assert parse_choice("The answer is A car", options) == 1
    assert parse_choice("The answer is A car.", options) == 1
    assert parse_choice("The answer is A bus", options) == 0
    assert parse_choice("The answer is A.", options) == 0
    assert parse_choice("The answer is B.", options) == 1
    # a letter followed by text that is no option's is still the letter
    assert parse_choice("The answer is B because it is red.", COLOURS) == 1
    assert parse_choice("The answer is B and a car is blue.", COLOURS) == 1


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("答案是B", 1),
        ("答案：B", 1),
        ("答案是 B。", 1),
        ("Ответ: B", 1),
        ("选B，因为车是蓝色的", 1),
        ("答案是蓝色", None),  # options in English: no option named
        ("答案是B还是C", None),
        ("B还是C", None),
    ],
)
def test_another_script_with_a_latin_letter(generation, expected):
    assert parse_choice(generation, COLOURS) == expected


def test_option_text_inside_a_sentence_without_spaces():
    options = ["红色", "蓝色", "绿色"]
    assert parse_choice("答案是蓝色", options) == 1
    assert parse_choice("车是蓝色的。", options) == 1
    assert parse_choice("蓝色还是绿色", options) is None
    assert parse_choice("答案是B", options) == 1
    assert score_answer("图中的车是蓝色的", "蓝色", []).contains
    assert not score_answer("图中的车是蓝色的", "蓝色", []).exact_match


def test_empty_generation_scores_wrong():
    for gen in ("", " ", "<|im_end|>", "<|endoftext|>"):
        scored = score_answer(gen, "B", COLOURS)
        assert scored.mode == "choice"
        assert scored.parsed is None
        assert not scored.correct
        assert not score_answer(gen, "", []).correct
