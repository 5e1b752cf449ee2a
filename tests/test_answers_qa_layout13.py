"""The question-and-answer layout ("Q: ... A: ...") is read in linear time: a regex lookahead
scanned from each "A:" to its line's end, so an echo of thousands of "A:" labels on one line
took time quadratic in its length (1.7 s at 20,000 characters). The work is counted, not timed:
every regex call of the reader is given the stretch of text it may read, and their sum must
stay a few times the text's length. That count cannot see what one call reads more than once
(the old reading was one call, over the text once), so no pattern of the reader may hold a
lookahead of unbounded length either: the scan that made the old one quadratic."""

from __future__ import annotations

import importlib
import random
import re
from typing import Any

import pytest

from epvlm import answers
from epvlm.answers import parse_choice

COLOURS = ["red", "blue", "green"]

# the layout's reading before it was made linear: the oracle the new one must agree with
_OLD_QA = re.compile(
    r"\A\s*(?:(?P<short>Q)|(?i:question))\s*[:：](?P<question>.*?)(?<![^\s?.!])"
    r"(?(short)(?:A(?![^\S\n]*[:：][^\S\n]*\S(?:[^\n]*?\S)?\s+B[^\S\n]*[:：])|(?i:answer))|(?i:answer))"
    r"\s*[:：]\s*"
    r"(?P<answer>.*?)(?=(?<!\S)(?:Q|(?i:question))\s*[:：]|\Z)",
    re.S,
)


def _old_answer(text: str) -> str | None:
    m = _OLD_QA.match(text)
    return None if m is None else m["answer"]


class _Counting:
    """A compiled pattern that adds to ``reads`` how much of its string each call may read
    (from ``pos`` to ``endpos`` or the end)."""

    def __init__(self, pattern: re.Pattern[str], reads: list[int]) -> None:
        self._pattern = pattern
        self._reads = reads

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._pattern, name)
        if name not in ("match", "fullmatch", "search", "finditer", "findall"):
            raise AssertionError(f"the layout reader calls {name!r}, which is not counted")

        def counted(string: str, pos: int = 0, endpos: int | None = None) -> Any:
            end = len(string) if endpos is None else min(endpos, len(string))
            self._reads.append(max(0, end - pos))
            return method(string, pos, len(string) if endpos is None else endpos)

        return counted


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count every compiled pattern the layout reader names."""
    reads: list[int] = []
    names = answers._qa_answer.__code__.co_names
    patterns = [n for n in names if isinstance(getattr(answers, n, None), re.Pattern)]
    assert patterns, "the layout reader names no compiled pattern to count"
    for name in patterns:
        monkeypatch.setattr(answers, name, _Counting(getattr(answers, name), reads))
    return reads


# the regex parser: re._parser from Python 3.11, sre_parse before
_PARSER: Any = importlib.import_module("re._parser" if hasattr(re, "_parser") else "sre_parse")


def _scans_ahead(pattern: str) -> bool:
    """Whether ``pattern`` holds a lookahead with an unbounded repeat (``(?=[^\\n]*x)``): one
    that may read to the text's end from each place it is tried."""

    def unbounded(items: Any) -> bool:
        for op, av in items:
            if op in (_PARSER.MAX_REPEAT, _PARSER.MIN_REPEAT) and av[1] == _PARSER.MAXREPEAT:
                return True
            if any(unbounded(sub) for sub in _children(av)):
                return True
        return False

    def ahead(items: Any) -> bool:
        for op, av in items:
            if op in (_PARSER.ASSERT, _PARSER.ASSERT_NOT) and av[0] == 1 and unbounded(av[1]):
                return True
            if any(ahead(sub) for sub in _children(av)):
                return True
        return False

    return ahead(_PARSER.parse(pattern))


def _children(av: Any) -> list[Any]:
    """The subpatterns among a parsed node's arguments, at any depth of tuples and lists."""
    if isinstance(av, _PARSER.SubPattern):
        return [av]
    if isinstance(av, (tuple, list)):
        return [sub for item in av for sub in _children(item)]
    return []


def test_no_pattern_of_the_reader_scans_ahead_without_bound():
    names = answers._qa_answer.__code__.co_names
    patterns = [getattr(answers, n, None) for n in names]
    patterns = [p for p in patterns if isinstance(p, re.Pattern)]
    assert patterns
    assert [p.pattern for p in patterns if _scans_ahead(p.pattern)] == []
    # the check sees the old reading's scan, and a bounded lookahead is no scan
    assert _scans_ahead(_OLD_QA.pattern)
    assert not _scans_ahead(r"A(?=\S)(?![^\S\n]{0,3}:)")


@pytest.mark.parametrize(
    "unit",
    [
        "A: a ",  # an option's label each, a "B:" at the line's end
        "A: red ",
        "A:\ta ",
        "A：a ",
    ],
)
@pytest.mark.parametrize("labels", [100, 4_000])
def test_an_echo_of_many_a_labels_is_read_in_linear_work(monkeypatch, unit, labels):
    text = "Q: what colour? " + unit * labels + "B: c"
    reads = _count_reads(monkeypatch)
    assert answers._qa_answer(text) is None
    # a few passes over the text and a label's length for each label; a scan from each label
    # to the line's end reads about labels / 2 times the text
    assert sum(reads) <= 8 * len(text), (labels, sum(reads), len(text))


@pytest.mark.parametrize("lines", [100, 4_000])
def test_many_question_and_answer_pairs_are_read_in_linear_work(monkeypatch, lines):
    text = "Q: x? A: red B: blue\n" * lines + "A: B"
    reads = _count_reads(monkeypatch)
    # every "A:" but the last labels the options of its line
    assert answers._qa_answer(text) == "B"
    assert sum(reads) <= 8 * len(text), (lines, sum(reads), len(text))


def test_the_bad_echo_still_names_no_option():
    text = "Q: what colour? " + "A: a " * 4_000 + "B: c"
    assert parse_choice(text, COLOURS) is None
    assert parse_choice(text + "\nAnswer: blue", COLOURS) == 1


@pytest.mark.parametrize(
    "text",
    [
        "Q: What colour? A: red B: blue\nA: B",
        "Q: What colour? A: red\nB: blue\nA: B",
        "Q: What colour? A: red\n\n  B: blue\nA: B",
        "Q: What colour? A: red\nx B: blue\nA: B",
        "Q: Is it red? A: No, blue.",
        "Q: the USA: A: no",
        "Q: x A:\nB: y",
        "Q: x A: B: blue",
        "Q: x A :B: blue",
        "Q: x A\n: red B: blue",
        "Q: x A: red B :\nQ: y A: B",
        "Question: x\nA: red\nB: blue\nAnswer: B",
        "Question: x A: red Answer : B Question: y",
        "Q:A: red",
        "Q: x? A: red. B: blue",
        "Q: x ANSWER： B",
        "Q: x a: B",
    ],
)
def test_the_layout_is_read_as_before(text):
    assert answers._qa_answer(text) == _old_answer(text)


def test_the_layout_is_read_as_before_on_random_texts():
    # pieces the layout's reading turns on: labels, spaces and line ends, stops, words
    pieces = [
        "Q", "Q:", "A", "A:", "B", "B:", " B:", "Answer:", "answer :", "ANSWER：", "question:",
        " ", "  ", "\n", "\n\n", " \n ", "\t", "red", "blue", "?", ".", "!", ":", "：", "x",
        "a", "b", "A ：", "A\n:", "B\n:", "USA:",
    ]  # fmt: skip
    rng = random.Random(13)
    for _ in range(20_000):
        head = rng.choice(["Q:", "Question:", " Q :", "q:", "", "Q: x ", "Q:\n"])
        text = head + "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        assert answers._qa_answer(text) == _old_answer(text), repr(text)
