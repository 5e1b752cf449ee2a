"""Turning a model's generated text into a scored answer, the way VLM benchmark harnesses do.

Two modes:

* **choice** (the sample has answer options, given as a list or written into the question as
  ``A. ...`` lines, as RealWorldQA does): the generation is parsed into one option. A bare
  letter (``B``, ``(B)``, ``B.``), a letter with its text (``B. red``), a stated letter
  (``The answer is B``), the option's text (``red``) or the option's text inside a sentence
  (``The object is red.``) all count, also in Markdown emphasis (``**B**``), and so does the
  one Latin letter of an answer in another script (``答案是B``); case, punctuation, number
  words (``two`` is ``2``), trailing decimal zeros (``2.0``), thousands separators
  (``1,000``, ``1'000``, a no-break or thin space; not a plain space), Unicode forms
  (full-width digits and letters, decomposed accents) and trailing special tokens do not
  matter. Unparseable text scores wrong, and so does text that names two options alike
  (options ``2`` and ``two``, generation ``Two``) or hedges between two (``blue or green``,
  ``B or C``); a reference answer that names two options alike is scored free.
* **free** (open questions): normalised exact match and a looser *contains* rule (the
  normalised reference appears as whole words in the normalised generation); both are
  reported, exact match is the headline.

The raw generation is always kept next to the parsed result so any scoring can be redone.
The rules follow the public description of lmms-eval's multiple-choice filter (option
extraction from the question, text-to-letter mapping after stripping punctuation); the code
is this project's own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# the reading of a reference answer is the builder's, so a sample's label and its scoring agree
from eventsim.datasets.questions import (
    OPTION_LETTERS,
    clean_generation,
    normalize_text,
    options_in_question,
    reference_index,
)

__all__ = [
    "MAX_OPTIONS",
    "MC_INSTRUCTION",
    "ScoredAnswer",
    "clean_generation",
    "format_options",
    "letter_of",
    "normalize_text",
    "options_in_question",
    "parse_choice",
    "reference_index",
    "score_answer",
]

# The instruction public harnesses append to lettered options (lmms-eval, VLMEvalKit).
MC_INSTRUCTION = "Answer with the option's letter from the given choices directly."

LETTERS = OPTION_LETTERS
# options a question may have: each is asked and scored by its letter
MAX_OPTIONS = len(LETTERS)


def letter_of(index: int) -> str:
    """Option letter of a 0-based index (A, B, ...)."""
    if not 0 <= index < len(LETTERS):
        raise ValueError(f"option index {index} is outside 0..{len(LETTERS) - 1}")
    return LETTERS[index]


def format_options(choices: Sequence[str]) -> str:
    """``A. first\\nB. second ...``: the lettered option block of a multiple-choice prompt."""
    return "\n".join(f"{letter_of(i)}. {c}" for i, c in enumerate(choices))


# scripts written without spaces between words (Thai, kana, Han): a word ends where one of
# their letters begins or ends, so "蓝色" is a word of "答案是蓝色"
_NO_SPACE = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_WORD_START = rf"(?:(?<!\S)|(?<=[{_NO_SPACE}])|(?=[{_NO_SPACE}]))"
_WORD_END = rf"(?:(?!\S)|(?=[{_NO_SPACE}])|(?<=[{_NO_SPACE}]))"


def _contains_words(haystack: str, needle: str) -> int:
    """Start offset of ``needle`` as whole words in ``haystack`` (both normalised), else -1."""
    if not needle:
        return -1
    if re.fullmatch(f"[{_NO_SPACE}]", needle):
        # one character is no word of its own in such text: "是" is in "不是" and "答案是",
        # "有" in "没有", "左" in "左右" ("about"), "红" in "粉红色" ("pink")
        m = re.search(rf"(?<!\S){re.escape(needle)}(?!\S)", haystack)
    else:
        m = re.search(_WORD_START + re.escape(needle) + _WORD_END, haystack)
    return m.start() if m else -1


# Markdown emphasis or code around a word or phrase ("**B**", "__B__", "`B`"), as chat models
# write an answer: a marker not inside a word ("2*3*4", "top_left_corner" stay). What is inside
# holds no character of its marker, so a marker never closed costs a scan to the next such
# character, not to the end of the line (".+?" took time quadratic in the length, "`+" cubic)
_EMPHASIS = re.compile(
    "|".join(
        rf"(?<!\w)(?P<{name}>{m}{{1,3}})(?=[^\s{m}])(?P<{name}_in>[^{m}\n]*?[^\s{m}])(?P={name})(?!\w)"
        for name, m in (("star", r"\*"), ("under", "_"), ("tick", "`"))
    )
)


def _emphasised(m: re.Match[str]) -> str:
    return next(v for k, v in m.groupdict().items() if k.endswith("_in") and v is not None)


def _plain(text: str) -> str:
    """``text`` with Unicode compatibility forms folded (a full-width "Ｂ" is "B") and Markdown
    emphasis dropped: the form letters are looked for in."""
    text = unicodedata.normalize("NFKC", text)
    while True:
        plain = _EMPHASIS.sub(_emphasised, text)
        if plain == text:
            return plain
        text = plain


def _bare_letter(text: str, n: int) -> int | None:
    """Index of an answer that is an option letter alone (``B``, ``(b)``, ``B.``, ``"B"``)
    within the first ``n``, else None."""
    valid = LETTERS[:n]
    bare = re.fullmatch(r"[\"'“‘«]?[(\[]?\s*([A-Za-z])\s*[)\]]?[\"'”’»]?[.:]?", text)
    if bare and bare.group(1).upper() in valid:
        return valid.index(bare.group(1).upper())
    return None


# words that join two options into a hedge ("blue or green"): the answer names both
_HEDGES = {"or", "and", "and or", "还是", "或", "或者", "和", "与"}
# punctuation that ends a clause ("red, and blue ..."; not "1,000" or "2.5"; NFKC has made "，"
# a ","), and the word that
# stands for it where a hedge is looked for: a letter (so it stays a word) no option holds
_CLAUSE_BREAK = re.compile(rf"[,;:.!?](?![^\s{_NO_SPACE}])|[。、]")
_CLAUSE_MARK = "\u01c2"
# a stated letter hedged with another ("The answer is B or C")
_HEDGED_LETTER = re.compile(r"[)\]]?\s*(?i:or|and|and/or|/)\s*[(\[]?([A-Z])\b")


def _hedged_letter(text: str, pos: int, valid: str) -> bool:
    """Whether the stated letter ending at ``pos`` is joined to another option's letter ("B or
    C"); "A and I am sure" joins no option's letter when there is no option I."""
    m = _HEDGED_LETTER.match(text, pos)
    return m is not None and m.group(1) in valid


def _starts_an_option(text: str, options: Sequence[str]) -> bool:
    """Whether normalised ``text`` starts with the text of an option of more than one word
    ("A car ..." among "A bus", "A car"): a letter that starts it is that text's article."""
    norm = normalize_text(text)
    return any(" " in opt and (norm == opt or norm.startswith(opt + " ")) for opt in options if opt)


def _letter_in(text: str, n: int, options: Sequence[str]) -> int | None:
    """Index of an option letter given with more text (within the first ``n``), else None.
    ``options`` are the normalised option texts."""
    valid = LETTERS[:n]
    # "B. red", "(B) red", "B) red", "B: red" at the start
    lead = re.match(r"[(\[]?([A-Z])(?:[)\].:]|\s*[)\]])(?:\s|$)", text)
    if lead and lead.group(1) in valid:
        return valid.index(lead.group(1))
    # "The answer is B", "The answer is: B", "Answer: (C)", "option B", "choice: D"; not the
    # article of an option's text ("The answer is A car" among "A bus", "A car")
    stated = re.search(
        r"(?i:answer|option|choice)\s*(?i:is\s*:|is|:)?\s*(?i:option\s+)?[(\[]?([A-Z])\b(?![’'])",
        text,
    )
    if (
        stated
        and stated.group(1) in valid
        and not _starts_an_option(text[stated.start(1) :], options)
        and not _hedged_letter(text, stated.end(1), valid)
    ):
        return valid.index(stated.group(1))
    paren = re.findall(r"\(([A-Z])\)", text)
    if len(set(paren)) == 1 and paren[0] in valid:
        return valid.index(paren[0])
    # an answer in another script with one Latin letter in it ("答案是B", "Ответ: B"); not a
    # unit ("30°C", as NFKC writes "30℃") nor the letter of an option's own text found in it
    # ("维生素C" among "维生素A", "维生素C")
    latin = re.findall(r"[A-Za-z]", text)
    if (
        len(latin) == 1
        and latin[0] in valid
        and re.search(r"(?<![A-Za-z0-9°])[A-Z](?![A-Za-z0-9])", text)
        and any(c.isalpha() and not c.isascii() for c in text)
        and not any(
            re.search("[a-z]", opt) and _contains_words(normalize_text(text), opt) >= 0
            for opt in options
        )
    ):
        return valid.index(latin[0])
    return None


def parse_choice(generation: str, choices: Sequence[str]) -> int | None:
    """Index of the option a generation names, or None when it names none.

    Order: a letter alone (also in Markdown emphasis or quotes: "**B**", "`B`", '"B"'); the
    whole answer equal to an option's text (so "A. Lincoln" is that option, not option A); a
    letter with more text ("B. red", "The answer is: B", not "The answer is A car" among "A
    bus", "A car", where the "A" is the option's own), or the one Latin letter of an answer in
    another script ("答案是B"); an option's text inside the answer (the earliest mention; at
    the same place the longer option, so "dark red" wins over "red"; in Chinese, Japanese or
    Thai text without spaces around it). Case, punctuation, number words, Unicode forms (a
    full-width "Ｂ"), Markdown emphasis and special tokens are ignored; an option's exact text
    is that option. A text that names two options alike (options "2" and "two", answer "Two")
    or hedges between two ("blue or green", "B or C") names none.
    """
    if not choices:
        return None
    text = clean_generation(generation)
    if not text:
        return None
    plain = _plain(text)
    index = _bare_letter(plain, len(choices))
    if index is not None:
        return index
    norm = normalize_text(plain)
    options = [normalize_text(c) for c in choices]
    # an option's exact text is that option, also where another normalises alike ("2", "two");
    # a text that only normalises like two options names neither
    exact = [i for i, c in enumerate(choices) if c.strip() == text]
    if len(exact) == 1:
        return exact[0]
    same = [i for i, opt in enumerate(options) if opt and norm == opt]
    if same:
        return same[0] if len(same) == 1 else None
    index = _letter_in(plain, len(choices), options)
    if index is not None:
        return index
    hits: list[tuple[int, int, int]] = []  # (start, -length, index)
    for i, opt in enumerate(options):
        start = _contains_words(norm, opt)
        if start >= 0:
            hits.append((start, -len(opt), i))
    if not hits:
        return None
    # earliest mention wins; at the same offset the longer option ("dark red" over "red"); two
    # options that normalise alike, mentioned there, are both named: neither is the answer
    best = min(hits)
    if any(hit[:2] == best[:2] for hit in hits if hit[2] != best[2]):
        return None
    # a hedge: another option joined to it by "or" / "and" ("blue or green") names both; read
    # with the clause punctuation that normalising drops, as "red, and blue is the sky" is red
    marked = normalize_text(_CLAUSE_BREAK.sub(f" {_CLAUSE_MARK} ", plain))
    start = _contains_words(marked, options[best[2]])
    if start < 0:
        return best[2]
    end = start + len(options[best[2]])
    for i in {hit[2] for hit in hits if options[hit[2]] != options[best[2]]}:
        other = _contains_words(marked, options[i])
        if other > end and marked[end:other].strip() in _HEDGES:
            return None
    return best[2]


@dataclass(frozen=True)
class ScoredAnswer:
    """One scored generation. ``parsed`` is the option letter (choice mode, None when the
    text names no option) or the normalised text (free mode); ``prediction`` is the option's
    text or the cleaned generation."""

    mode: str
    raw: str
    prediction: str
    parsed: str | None
    correct: bool
    exact_match: bool
    contains: bool


def score_answer(
    generation: str, answer: str, choices: Sequence[str], question: str = ""
) -> ScoredAnswer:
    """Score one generation against the reference ``answer``.

    Options are ``choices`` when given, else those written into ``question``; with options
    (and a reference that is one of them, by text or letter) the sample is scored in choice
    mode, otherwise in free mode.
    """
    options = list(choices) or options_in_question(question)
    ref = reference_index(answer, options) if options else None
    if ref is not None:
        index = parse_choice(generation, options)
        ok = index == ref
        return ScoredAnswer(
            mode="choice",
            raw=generation,
            prediction=options[index] if index is not None else clean_generation(generation),
            parsed=letter_of(index) if index is not None else None,
            correct=ok,
            exact_match=ok,
            contains=ok,
        )
    pred = normalize_text(generation, drop_articles=True)
    ref_text = normalize_text(answer, drop_articles=True)
    if not ref_text:
        # a reference of articles alone ("A", "The") keeps them: without them nothing is left
        # to match, and no generation could be right
        pred = normalize_text(generation)
        ref_text = normalize_text(answer)
    exact = bool(ref_text) and pred == ref_text
    return ScoredAnswer(
        mode="free",
        raw=generation,
        prediction=clean_generation(generation),
        parsed=pred,
        correct=exact,
        exact_match=exact,
        contains=exact or _contains_words(pred, ref_text) >= 0,
    )
