"""Second look at the eighth review of choice parsing: a one-character Chinese option found
inside a longer word ("是" in "答案是：否"), the lone Latin letter of a Chinese answer that is an
option's own text or a unit ("维生素C", "30℃"), a stated letter followed by "and I", and
Markdown emphasis or combining marks that took time quadratic or worse in the answer's length."""

from __future__ import annotations

import pytest

from epvlm.answers import parse_choice, score_answer
from eventsim.datasets.questions import normalize_text


@pytest.mark.parametrize(
    ("generation", "options", "expected"),
    [
        # read before the CJK rule: "否" as its own word, "是" part of "答案是"
        ("答案是：否", ["是", "否"], 1),
        ("答案是 否", ["是", "否"], 1),
        # a one-character option inside a longer word is no mention of it
        ("不是", ["是", "否"], None),
        ("答案是否", ["是", "否"], None),
        ("图中没有人。", ["有", "无"], None),
        ("大约5米左右", ["左", "右"], None),
        ("答案是粉红色", ["红", "蓝", "绿"], None),
        # longer options are still found inside text without spaces
        ("答案是蓝色", ["红色", "蓝色", "绿色"], 1),
        ("图中没有人。", ["有人", "没有人"], 1),
        ("图中有1个人", ["1", "2", "3"], 0),
    ],
)
def test_one_character_option_in_text_without_spaces(generation, options, expected):
    assert parse_choice(generation, options) == expected


@pytest.mark.parametrize(
    ("generation", "options", "expected"),
    [
        ("这是维生素C", ["维生素A", "维生素C", "维生素D"], 1),
        ("这是B超图像", ["CT", "X光", "B超"], 2),
        ("温度是30℃", ["20℃", "30℃", "40℃"], 1),
        ("温度是30°C", ["20°C", "30°C", "40°C"], 1),
        ("温度是30℃", ["20", "30", "40"], 1),
        # what the rule is for still reads
        ("答案是B", ["红色", "蓝色", "绿色"], 1),
        ("答案是 C。", ["维生素A", "维生素C", "维生素D"], 2),
    ],
)
def test_a_lone_latin_letter_that_is_no_option_letter(generation, options, expected):
    assert parse_choice(generation, options) == expected


def test_a_stated_letter_and_a_word_that_is_no_option_letter():
    options = ["cat", "dog", "fish"]
    assert parse_choice("The answer is A and I am confident.", options) == 0
    assert parse_choice("The answer is B and I think so.", options) == 1
    assert parse_choice("The answer is A or C.", options) is None


@pytest.mark.parametrize(
    "generation",
    [
        "`" * 20_000,
        "**a " * 5_000,
        "__a " * 5_000,
        "`a " * 5_000,
        "a" + "\u0301" * 20_000,
        "\u0301" * 20_000,
    ],
)
def test_long_degenerate_generations_are_read_in_linear_time(generation):
    # quadratic or worse, each of these took from seconds to hours; no timing is asserted, the
    # test run's own time is the check
    assert parse_choice(generation, ["red", "blue"]) is None
    assert not score_answer(generation, "red", []).correct
    assert normalize_text(normalize_text(generation)) == normalize_text(generation)


def test_emphasis_is_still_dropped():
    options = ["red", "blue", "green"]
    for generation in ("**B**", "`B`", "__B__", "***B***", "**The answer is `B`.**", "``B``"):
        assert parse_choice(generation, options) == 1, generation
    assert parse_choice("**top_left** is blue", options) == 1
    assert normalize_text("cafe\u0301\u0301") == normalize_text("cafe\u0301\u0301 ")
    assert normalize_text("हिंदी") == "हिंदी"


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("It is red, and blue is wrong.", 0),
        ("Red. Or blue, if the light is dim? No: red.", 0),
        ("红色，和蓝色的墙", 3),
        # a hedge within one clause still names none
        ("red or blue", None),
        ("It is red or blue.", None),
        ("Red or blue, I cannot tell.", None),
        ("红色还是蓝色？", None),
        ("red, blue and green", 0),
    ],
)
def test_a_hedge_is_within_one_clause(generation, expected):
    assert parse_choice(generation, ["red", "blue", "green", "红色", "蓝色"]) == expected
