"""What the builder and the scorer both read in a VQA record: answer options written into the
question as ``A. text`` lines (RealWorldQA's layout), and which option a reference answer is (its
text or its letter, normalised). `epvlm.answers` scores generations with these and re-exports
them; the builder labels a record multiple-choice exactly when the scorer will score it as one.
Kept here, free of torch, so ``import eventsim`` stays light."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence

OPTION_LETTERS = string.ascii_uppercase

_OPTION_LINE = re.compile(r"^\s*\(?([A-Z])[.)]\s+(\S.*?)\s*$")


def options_in_question(question: str) -> list[str]:
    """Options written into the question as lines ``A. text``, ``B. text``, ... (RealWorldQA's
    layout); empty when the lines are not a run of consecutive letters from A with at least two.
    """
    found: list[str] = []
    for line in question.splitlines():
        m = _OPTION_LINE.match(line)
        if m is None:
            continue
        if len(found) >= len(OPTION_LETTERS) or m.group(1) != OPTION_LETTERS[len(found)]:
            return []
        found.append(m.group(2))
    return found if len(found) >= 2 else []


# Qwen-style <|...|> markers plus the sentencepiece/LLaMA ones a generation may end with.
_SPECIAL = re.compile(r"<\|[^|<>]*\|>|</s>|<s>|<unk>|<pad>|<eos>")
_NUMBER_WORDS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
_ARTICLES = {"a", "an", "the"}


def clean_generation(text: str) -> str:
    """The generation up to its first end-of-turn marker, special tokens removed, stripped."""
    for stop in ("<|im_end|>", "<|endoftext|>", "</s>", "<eos>"):
        cut = text.find(stop)
        if cut >= 0:
            text = text[:cut]
    return _SPECIAL.sub(" ", text).strip()


# a decimal with trailing zeros, not part of a longer dotted run ("2.0", "2.50"; not "2.0.1")
_DECIMAL_ZEROS = re.compile(r"(?<![\d.])(\d+)\.(\d*?)0+(?![\d.])")


def _trim_zeros(m: re.Match[str]) -> str:
    return m.group(1) + (f".{m.group(2)}" if m.group(2) else "")


# a decimal written without its leading 0 (".5"): read as "0.5", or its dot as a space made it "5"
_BARE_DECIMAL = re.compile(r"(?<![\w.])\.(?=\d)")
# a minus sign that starts a number ("-2", "(-2)"; not "1-2", "x-2" or "- 2"); as punctuation it
# was a space, and "-2" read "2"
_MINUS = re.compile(r"(?<!\w)[-\u2212](?=\d)")
_PUNCTUATION = re.compile(r"(?!(?<!\w)-\d)[^\w\s]")


def normalize_text(text: str, *, drop_articles: bool = False) -> str:
    """Unicode compatibility forms folded (full-width digits, a decomposed accent), case
    folded, decimals without trailing zeros ("2.0" is "2") or with their leading 0 (".5" is
    "0.5"), punctuation but a number's minus sign ("-2") as spaces, number words as digits,
    single spaces."""
    # NFKC first: a decomposed accent's combining mark is no word character, so "cafe\u0301"
    # lost it and differed from "café"
    text = unicodedata.normalize("NFKC", clean_generation(text)).casefold()
    text = _MINUS.sub("-", _BARE_DECIMAL.sub("0.", text))
    text = _DECIMAL_ZEROS.sub(_trim_zeros, text)
    text = _PUNCTUATION.sub(" ", text)
    words = [_NUMBER_WORDS.get(w, w) for w in text.split()]
    if drop_articles:
        words = [w for w in words if w not in _ARTICLES]
    return " ".join(words)


def reference_index(answer: str, choices: Sequence[str]) -> int | None:
    """Index of the reference answer among the options: the one option whose text it is
    exactly (a choices list's answer is its text, even where that is another option's letter),
    else the one option it names normalised (its text, case, punctuation, number words and
    Unicode forms aside, or its letter: ``C``, ``(c)``, ``C.)``). None when it names none, or
    more than one: two options that normalise alike ("2", "two"), or its normalised text one
    option and its letter another; picking one of them would score half the right answers
    wrong."""
    exact = [i for i, c in enumerate(choices) if c == answer]
    if exact:
        return exact[0] if len(exact) == 1 else None
    norm = normalize_text(answer)
    # an answer of punctuation alone normalises to nothing: it is no option's text
    named = {i for i, c in enumerate(choices) if norm and normalize_text(c) == norm}
    # dots and brackets in any order around the letter ("C.)", ".C")
    letter = answer.strip().strip("().").upper()
    if len(letter) == 1 and letter in OPTION_LETTERS[: len(choices)]:
        named.add(OPTION_LETTERS.index(letter))
    return named.pop() if len(named) == 1 else None


def answers_an_option(question: str, answer: str) -> bool:
    """Whether ``answer`` names one of the options written into ``question``, by its text
    (``Right``) or its letter (``C``, ``C.)``): exactly when `epvlm.answers` scores the record
    as multiple-choice, so its label and its scoring agree."""
    return reference_index(answer, options_in_question(question)) is not None
