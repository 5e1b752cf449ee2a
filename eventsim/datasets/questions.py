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

_OPTION_LINE = re.compile(r"^\s*\(?([A-Z])[.):]\s+(\S.*?)\s*$")
# a numbered option's label: "1.", "1)" or "(1)", followed by its text
_NUMBER_LABEL = r"(?:\((?P<paren>\d{1,2})\)|(?P<num>\d{1,2})(?P<stop>[.)]))\s+"
_NUMBERED_LINE = re.compile(rf"^\s*{_NUMBER_LABEL}(?P<text>\S.*?)\s*$")
# numbered options on one line ("What colour? (1) red (2) blue", "Options: 1. red 2. blue"): the
# first label starts the line or follows a "?" or ":", so that "lane 1. Then lane 2." is none
_INLINE_LABEL = re.compile(rf"(?<!\S){_NUMBER_LABEL}")
# lettered options on one line ("What colour? A: red B: blue", "(A) red (B) blue"), read as
# numbered ones are
_INLINE_LETTER = re.compile(r"(?<!\S)(?:\((?P<paren>[A-Z])\)|(?P<num>[A-Z])(?P<stop>[.):]))\s+")
_INLINE_START = re.compile(r"(?:^|[?:])\s*$")
# what joins one option on a line to the next ("1. red, 2. blue, or 3. green?"), and the "?"
# that ends the question after the last: no part of an option's text, which an answer "blue"
# must equal
_INLINE_JOIN = re.compile(r"(?:\s*[,;])?(?:\s+(?i:or|and))?\s*$")
_INLINE_END = re.compile(r"\s*\?$")


def options_in_question(question: str) -> list[str]:
    """Options written into the question as lines ``A. text``, ``B. text``, ... (RealWorldQA's
    layout; also ``A) text``, ``(A) text``, ``A: text``), or on one line after the question's
    text (``What colour? A: red B: blue``); empty when the lines are not a run of consecutive
    letters from A with at least two.
    Without lettered lines, options numbered from 1 after the question's text (see
    `question_options`)."""
    return question_options(question)[0]


def question_options(question: str) -> tuple[list[str], bool]:
    """The options written into ``question`` (`options_in_question`'s) and whether they are
    numbered, not lettered: lines ``1. text``, ``1) text`` or ``(1) text`` running from 1 after
    some text of the question, or one line of them (``What colour? (1) red (2) blue``,
    ``Options: 1. red 2. blue``). A numbered option's number is its label as a letter is a
    lettered option's ("2" is the second). One read gives both, as scoring needs both."""
    found: list[str] = []
    for line in question.splitlines():
        m = _OPTION_LINE.match(line)
        if m is None or (not found and line.lstrip().startswith("Q:")):
            # "Q: What colour?" labels the question: no option Q
            continue
        if len(found) >= len(OPTION_LETTERS) or m.group(1) != OPTION_LETTERS[len(found)]:
            return [], False
        found.append(m.group(2))
    if len(found) >= 2:
        return found, False
    # one "A. ..." line may hold them all ("A: red B: blue")
    lettered = _inline(question, _INLINE_LETTER)
    if found or lettered:
        return lettered, False
    numbered = _numbered_lines(question) or _inline(question, _INLINE_LABEL)
    return numbered, bool(numbered)


def _label(m: re.Match[str]) -> tuple[str, int]:
    """The style of an option's label ("(", ".", ")" or ":") and its number (a letter's place:
    B is 2)."""
    label = m["paren"] or m["num"]
    return ("(" if m["paren"] else m["stop"]), (
        int(label) if label.isdigit() else OPTION_LETTERS.index(label) + 1
    )


def _numbered_lines(question: str) -> list[str]:
    """Options on lines of their own numbered 1, 2, ... in one style, one after another
    (blank lines aside) and after some text of the question: a question that starts with
    numbered lines, or asks its question after them, numbers its steps, not options."""
    lines = [line for line in question.splitlines() if line.strip()]
    found: list[str] = []
    style = ""
    end = len(lines)
    for k, line in enumerate(lines):
        m = _NUMBERED_LINE.match(line)
        if m is None:
            if found:
                end = k
                break
            continue
        label, number = _label(m)
        if k == 0 or number != len(found) + 1 or (found and label != style):
            return []
        style = label
        found.append(m["text"])
    if any(_NUMBERED_LINE.match(line) for line in lines[end:]):
        return []  # numbered lines past the run: no one list of options
    if any(line.rstrip().endswith("?") for line in lines[end:]):
        return []  # the question follows the run: it numbers steps or context, not options
    return found if 2 <= len(found) <= len(OPTION_LETTERS) else []


def _inline(question: str, label: re.Pattern[str]) -> list[str]:
    """Options labelled 1, 2, ... (A, B, ...) in one style on one line, the first after a "?"
    or ":" or starting a line after the question's first."""
    for k, line in enumerate(question.splitlines()):
        labels = list(label.finditer(line))
        # from the first option's label: "Q: What colour? A: red B: blue" labels its question
        first = next((i for i, m in enumerate(labels) if _label(m)[1] == 1), len(labels))
        labels = labels[first:]
        if len(labels) < 2 or not _INLINE_START.search(line[: labels[0].start()]):
            continue
        if k == 0 and not line[: labels[0].start()].strip():
            continue
        styles = [_label(m) for m in labels]
        if any(style != (styles[0][0], i + 1) for i, style in enumerate(styles)):
            continue
        ends = [m.start() for m in labels[1:]] + [len(line)]
        found = [
            _INLINE_JOIN.sub("", line[m.end() : end]).strip()
            for m, end in zip(labels, ends, strict=True)
        ]
        found[-1] = _INLINE_END.sub("", found[-1])
        if all(found) and len(found) <= len(OPTION_LETTERS):
            return found
    return []


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


# a number grouped in thousands by commas ("1,000", "12,345,678"), read as the VQA scorer reads
# it; a comma in any other place ("1,5", "1,2,3", "0,500") stays punctuation, since "1,5" may
# be 1.5 and no number grouped in thousands starts with 0
_THOUSANDS = re.compile(r"(?<![\w.,])(?!0)\d{1,3}(?:,\d{3})+(?![\d,])")
# Thousands grouped by a no-break, narrow no-break or thin space (SI, French), an apostrophe
# (Swiss: "1'000", "1’000") or the Arabic thousands separator, one separator throughout, every
# group after the first of exactly three digits. These separators are written inside numbers
# only, so the grouping is unambiguous. A plain space is not one: "2 100-metre lanes" or "rows
# 1 200" part two numbers, so "1 000" stays two words (and "1 0" is never "10"). Read before
# NFKC, which turns the spaces into plain ones.
_GROUP_SEPARATORS = "\u00a0\u202f\u2009'\u2019\u066c"
_SPACED_THOUSANDS = re.compile(
    rf"(?<![\w.,])(?<!\d[{_GROUP_SEPARATORS}])(?!0)\d{{1,3}}(?P<sep>[{_GROUP_SEPARATORS}])\d{{3}}"
    rf"(?:(?P=sep)\d{{3}})*(?!\w|[{_GROUP_SEPARATORS}]\d)"
)
# a decimal with trailing zeros, not part of a longer dotted run ("2.0", "2.50"; not "2.0.1")
_DECIMAL_ZEROS = re.compile(r"(?<![\d.])(\d+)\.(\d*?)0+(?![\d.])")


def _trim_zeros(m: re.Match[str]) -> str:
    return m.group(1) + (f".{m.group(2)}" if m.group(2) else "")


# a decimal written without its leading 0 (".5"): read as "0.5", or its dot as a space made it "5"
_BARE_DECIMAL = re.compile(r"(?<![\w.])\.(?=\d)")
# a minus sign that starts a number ("-2", "(-2)"; not "1-2", "x-2" or "- 2"); as punctuation it
# was a space, and "-2" read "2"
_MINUS = re.compile(r"(?<!\w)[-\u2212](?=\d)")
# minus zero ("-0", "-0.0" once its zeros are trimmed) is zero. Read on the words punctuation
# leaves, as "-0.5" normalised is "-0 5": a "-0" followed by a number is a negative fraction
# (read before, "-0.5" normalised to "-0 5" and that to "0 5"), and a sign that only comes to
# stand before the 0 once another is read ("--0") is seen
_MINUS_ZERO = re.compile(r"(?<!\S)-0(?!\d)(?!\s+\d)")
# a run of punctuation (or combining marks) but a number's minus sign: read as one match, so a
# long run of marks costs time linear in its length (each mark looked back over the run)
_PUNCTUATION = re.compile(r"(?:(?!(?<!\w)-\d)[^\w\s])+")
# casefold's "i" + U+0307 for "İ", with any further dots written after it
_DOTTED_I = re.compile("i\u0307+")


def _space_punctuation(m: re.Match[str]) -> str:
    # a combining mark on a letter is part of the word (Devanagari vowel signs, the dot casefold
    # leaves on "İ"): as punctuation it split the word ("हिंदी" read "ह द"); a mark on nothing
    # (NFKC makes "´" a space and a mark) or after punctuation is punctuation. No mark is a word
    # character, so a run starts after a word character, a space or the text's start.
    text, start = m.string, m.start()
    on_word = start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_")
    out = []
    for c in m.group():
        if unicodedata.category(c).startswith("M"):
            out.append(c if on_word else " ")
        else:
            out.append(" ")
            on_word = False
    return "".join(out)


def normalize_text(text: str, *, drop_articles: bool = False) -> str:
    """Unicode compatibility forms folded (full-width digits, a decomposed accent), case
    folded, thousands separators dropped ("1,000", "1'000", "1’000", and "1 000" with a
    no-break, narrow no-break or thin space or U+066C, are "1000"; "1 000" with a plain space,
    "0,500" and "1,0" are no grouping and stay two numbers), decimals read with a decimal
    point, without trailing zeros ("2.0" and "1.000" are "2" and "1") and with their leading 0
    (".5" is "0.5"), "-0" as "0" (not "-0" before a number: "-0.5" reads "-0 5"), punctuation
    but a number's minus sign ("-2") as spaces, number words as digits, single spaces; the
    result normalises to itself."""
    # NFKC first: "cafe\u0301" and "café" are one word; again after casefold, which decomposes
    # some letters ("ΐ"); casefold's "i\u0307" for "İ" has no composed form: it is the "i" of
    # the Turkish İ, so "İstanbul" reads "istanbul". The dot goes before that NFKC, as many as
    # follow the "i": a mark after it ("İ\u0308") then composes ("ï"), and the result
    # normalises to itself (dropped after NFKC, "i\u0308" and a second dot were left)
    text = _SPACED_THOUSANDS.sub(lambda m: m.group().replace(m["sep"], ""), clean_generation(text))
    text = unicodedata.normalize("NFKC", text).casefold()
    text = unicodedata.normalize("NFKC", _DOTTED_I.sub("i", text))
    text = _THOUSANDS.sub(lambda m: m.group().replace(",", ""), text)
    text = _MINUS.sub("-", _BARE_DECIMAL.sub("0.", text))
    text = _DECIMAL_ZEROS.sub(_trim_zeros, text)
    text = _MINUS_ZERO.sub("0", _PUNCTUATION.sub(_space_punctuation, text))
    words = [_NUMBER_WORDS.get(w, w) for w in text.split()]
    if drop_articles:
        words = [w for w in words if w not in _ARTICLES]
    return " ".join(words)


def reference_index(answer: str, choices: Sequence[str], *, numbered: bool = False) -> int | None:
    """Index of the reference answer among the options: the one option whose text it is
    exactly (a choices list's answer is its text, even where that is another option's letter),
    else the one option it names normalised (its text, case, punctuation, number words and
    Unicode forms aside, or its letter: ``C``, ``(c)``, ``C.)``). None when it names none, or
    more than one: two options that normalise alike ("2", "two"), or its normalised text one
    option and its letter another; picking one of them would score half the right answers
    wrong. With ``numbered`` (options numbered in the question), an option's number (``2``,
    ``(2)``, ``2.``) names it as its letter does."""
    # surrounding spaces aside, as parse_choice reads a generation: " 2 " among "2" and "two"
    # was no option (scored free) though a generation " 2 " was option "2"
    exact = [i for i, c in enumerate(choices) if c.strip() == answer.strip()]
    if exact:
        return exact[0] if len(exact) == 1 else None
    norm = normalize_text(answer)
    # an answer of punctuation alone normalises to nothing: it is no option's text
    named = {i for i, c in enumerate(choices) if norm and normalize_text(c) == norm}
    # dots and brackets in any order around the letter ("C.)", ".C")
    letter = answer.strip().strip("().").upper()
    if len(letter) == 1 and letter in OPTION_LETTERS[: len(choices)]:
        named.add(OPTION_LETTERS.index(letter))
    if numbered and re.fullmatch("[0-9]{1,2}", letter) and 1 <= int(letter) <= len(choices):
        if any(str(int(letter)) in normalize_text(c).split() for c in choices):
            # a count or a label ("2" among "2 cars", "3 cars"): parse_choice reads no
            # generation's "2" as the label there, so as one the reference could never be met
            return None
        named.add(int(letter) - 1)
    return named.pop() if len(named) == 1 else None


def answers_an_option(question: str, answer: str) -> bool:
    """Whether ``answer`` names one of the options written into ``question``, by its text
    (``Right``) or its letter (``C``, ``C.)``; its number, ``2``, where the question numbers
    them): exactly when `epvlm.answers` scores the record as multiple-choice, so its label and
    its scoring agree."""
    options, numbered = question_options(question)
    return reference_index(answer, options, numbered=numbered) is not None
