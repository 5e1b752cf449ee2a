"""Turning a model's generated text into a scored answer, the way VLM benchmark harnesses do.

Two modes:

* **choice** (the sample has answer options, given as a list or written into the question as
  ``A. ...`` lines, as RealWorldQA does, or numbered there: ``1. ...`` lines, ``(1) red (2)
  blue``, where an option's number, ``2``, names it as a letter does): the generation is parsed
  into one option. A bare letter (``B``, ``(B)``, ``B.``), a letter with its text (``B. red``),
  a stated letter (``The answer is B``, ``the answer is b``, ``It is B.``, ``\\boxed{B}``), an
  option's number (``Option 2``, ``(2)``, ``the second option``, where no option's text is that
  number), the option's text (``red``) or the option's text inside a sentence (``The object is
  red.``) all count, also in Markdown emphasis (``**B**``), and so does the one Latin letter of
  an answer in another script (``答案是B``), a Cyrillic or Greek capital drawn as an option letter
  (``В``, U+0412, where it stands as a letter of its own) and a letter that starts a numbered
  list's item (``1. B``). The last statement of the answer wins over options discussed before
  it (``Option A shows a cat, option B a dog. The answer is B.``), an explicit self-correction
  over the choice it corrects (``A. Wait, no: C``, ``B. Correction: D``), only the answer of a
  question-and-answer layout is read (``Q: Is it red? A: No, blue.``), a list of verdicts names
  the one option it calls right (``A. red - incorrect`` / ``B. blue - correct``), and a
  mention said not to be the answer (``not red``, ``B is wrong``) is none (``not only red but
  also round`` rejects nothing); case, punctuation, number words (``two`` is ``2``), trailing
  decimal zeros (``2.0``), thousands separators (``1,000``, ``1'000``, a no-break or thin
  space; not a plain space), Unicode forms (full-width digits and letters, decomposed accents)
  and trailing special tokens do not matter. Unparseable text scores wrong, and so does text
  that names two options alike (options ``2`` and ``two``, generation ``Two``), hedges between
  two (``blue or green``, ``B or C``, ``Yes/No``) or gives two (``A, C``, ``not only B but
  also C``), and so does an echo of the option block (``A. red\nB. blue``) and an answer that
  says it cannot tell (``No, I cannot tell``, ``No idea``) or only guesses after saying so
  (``Not sure, maybe yes``); an ``A:`` before a letter or another option's text labels the
  answer (``A: B``, ``A: blue``); a
  reference answer that names two options alike is scored free.
* **free** (open questions): normalised exact match and a looser *contains* rule (the
  normalised reference appears as whole words in the normalised generation); both are
  reported, exact match is the headline.

The raw generation is always kept next to the parsed result so any scoring can be redone.
The rules follow the public description of lmms-eval's multiple-choice filter (option
extraction from the question, text-to-letter mapping after stripping punctuation); the code
is this project's own.
"""

from __future__ import annotations

import bisect
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
    question_options,
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
    "option_label",
    "options_in_question",
    "parse_choice",
    "question_options",
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


def option_label(index: int, numbered: bool = False) -> str:
    """The label a question gives its option of 0-based ``index``: its letter, or its number
    ("2") where the question numbers its options (`question_options`), so that a reader of
    the results finds the label the question showed."""
    return str(index + 1) if numbered else letter_of(index)


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


# Cyrillic and Greek capitals drawn as Latin ones ("В" U+0412 for B, "Α" U+0391 for A), as a
# model may write an option letter: NFKC keeps them apart
_LOOKALIKES = dict(zip("АВСЕНКМОРТХΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABCEHKMOPTXABEZHIKMNOPTYX", strict=True))
# one standing as a letter of its own: no letter or digit before it, and after it the end, a
# stop, a bracket, a quote, a dash or a word in Latin script ("The answer is В because"); not
# before a word in its own script, where it is one ("В машине", "in the car"; Greek "Ο", "the")
_LOOKALIKE = re.compile(
    rf"(?<![^\W_])([{''.join(_LOOKALIKES)}])"
    r"(?=[^\S\n]*(?:$|\n|[.,;:!?)\]\"'”’»}。]|[-–—]\s)|[^\S\n]+[A-Za-z])"
)


def _latin_letters(text: str, choices: Sequence[str]) -> str:
    """``text`` with a look-alike of an option's letter that stands as a letter of its own
    written in Latin ("Ответ: В" is "Ответ: B"); not one that is a word of an option's text
    (among options "А", "Б", "В", "В" is the third)."""
    valid = LETTERS[: len(choices)]
    own = {word for choice in choices for word in re.findall(r"\w+", choice)}

    def latin(m: re.Match[str]) -> str:
        letter = _LOOKALIKES[m[1]]
        return letter if letter in valid and m[1] not in own else m[1]

    return _LOOKALIKE.sub(latin, text)


# "not only X but also Y" says X and Y, no rejection of X ("It is not only red but also round"
# is red): read as "X and Y", so that "not only B but also C" names two options, and so are
# "not only X, but Y too" and "not only X, it is also Y" (X); not "not only X" that its
# sentence adds nothing to ("It's not just B; C also works" names no one answer)
_NOT_ONLY = re.compile(
    r"(?i:\bnot\s+(?:only|just|merely)\b)[^\S\n]*(?P<said>(?:[^.;!?\n]|[.;!?](?=\S))*?)"
    r"(?:(?P<also>,?\s*\b(?i:but\s+(?:also|too))\b)|(?=[.;!?](?!\S)|\n|$))"
)
_ALSO = re.compile(r"\b(?i:also|too|as\s+well)\b")
_BUT = re.compile(r",?\s*\b(?i:but)\b")


def _not_only(text: str, choices: Sequence[str]) -> str:
    """``text`` with "not only X but also Y" read as "X and Y"; left as it is where an option's
    own text says "not only" (among "not only red", "only blue", it is that option's words)."""
    if any(_NOT_ONLY.search(choice) for choice in choices):
        return text

    def said(m: re.Match[str]) -> str:
        if m["also"]:
            return m["said"] + " and"
        if not _ALSO.search(m["said"]):
            return m[0]
        return _BUT.sub(" and", m["said"], count=1)

    return _NOT_ONLY.sub(said, text)


# an option's label alone (a letter or a number), also as a Markdown list item ("- B"), quoted,
# bracketed or ended by a CJK full stop ("B。")
_ALONE = r"(?:[-*•]\s+)?[\"'“‘«]?[(\[]?\s*({})\s*[)\]]?[\"'”’»]?[.:。]?"
_BARE_NUMBER = re.compile(_ALONE.format(r"\d{1,2}"))
_BARE_LETTER = re.compile(_ALONE.format("[A-Za-z]"))


def _bare_number(text: str, options: Sequence[str]) -> int | None:
    """Index of an answer that is an option's number alone (``2``, ``(2)``, ``2.``, ``"2"``)
    where the options are numbered, else None; None too where an option's text holds that
    number (among "1. 2 cars", "2. 3 cars", "2" is no label)."""
    bare = _BARE_NUMBER.fullmatch(text)
    if bare is None or not 1 <= int(bare[1]) <= len(options):
        return None
    if any(_contains_words(opt, str(int(bare[1]))) >= 0 for opt in options):
        return None
    return int(bare[1]) - 1


def _bare_letter(text: str, n: int) -> int | None:
    """Index of an answer that is an option letter alone (``B``, ``(b)``, ``B.``, ``"B"``)
    within the first ``n``, else None."""
    valid = LETTERS[:n]
    bare = _BARE_LETTER.fullmatch(text)
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
# a stated letter hedged with another ("The answer is B or C", "'B' or 'C'", "b or c", "A & C",
# "A, C")
_HEDGED_LETTER = re.compile(
    r"[)\]\"'”’»]?\s*(?P<join>(?i:or|and|and/or)|[/&+]|,(?:\s*(?i:and|or)\b)?)"
    r"\s*[\"'“‘«]?[(\[]?(?P<other>[A-Za-z])(?![\w'’])"
)
# a letter that, unbracketed, ends its sentence: only then is an "a" the letter, not the article
_ENDS = re.compile(r"[)\]\"'”’»]?\s*(?:$|\n|[.,;:!?](?!\w))")


def _hedged_letter(text: str, pos: int, valid: str, lower: bool) -> bool:
    """Whether the stated letter ending at ``pos`` is joined to another option's letter ("B or
    C", "A, C", "A, B and C"); "A and I am sure" joins no option's letter when there is no
    option I, and after an upper-case letter "B and a car" joins no lower-case one. A comma
    joins letters only in a list that ends its sentence: in "B, C is wrong" C is a new
    sentence's subject."""
    m = _HEDGED_LETTER.match(text, pos)
    if m is None or m["other"].upper() not in valid:
        return False
    other = m["other"]
    if not (other.isupper() or (lower and (other not in "ai" or bool(_ENDS.match(text, m.end()))))):
        return False
    if not m["join"].startswith(","):
        return True
    # to the list's last letter; no list of distinct options is longer than the options, so
    # a text of nothing but "A, A, A, ..." is still read in linear time
    end = m.end()
    for _ in valid:
        more = _HEDGED_LETTER.match(text, end)
        if more is None or more["other"].upper() not in valid:
            break
        end = more.end()
    return bool(_ENDS.match(text, end))


def _starts_an_option(text: str, options: Sequence[str]) -> bool:
    """Whether normalised ``text`` starts with the text of an option of more than one word
    ("A car ..." among "A bus", "A car"): a letter that starts it is that text's article."""
    norm = normalize_text(text[:_HEAD])
    return any(" " in opt and (norm == opt or norm.startswith(opt + " ")) for opt in options if opt)


# An option named by its letter or its number: "B", "(b)", "'B'", "option B", "choice #2",
# "option two", "(2)", "the second option". Whether a match names one is `_read_reference`'s
# decision, from what it is and where it stands.
_REFERENCE = re.compile(
    r"(?<![\w'’#])(?:"
    r"(?P<opt>(?i:option|choice)\b\s*(?:(?i:number|no\.)\s*|\#\s*)?)?"
    r"(?P<quote>[\"'“‘«])?(?P<open>[(\[]\s*)?"
    r"(?:(?P<letter>[A-Za-z])|(?P<hash>\#\s*)?(?P<num>\d+|(?i:zero|one|two|three|four|five|six"
    r"|seven|eight|nine|ten)))"
    r"(?(quote)(?=[\"'”’»)\]\s.,;:!?]|$)|(?![\w'’]))(?P<close>\s*[)\]])?[\"'”’»]?"
    r"|(?i:the\s+)?(?P<ordinal>(?i:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth"
    r"|tenth)|\d+(?i:st|nd|rd|th))\s+(?i:option|choice)\b)"
)
_ORDINALS = {
    word: i + 1
    for i, word in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth".split()
    )
}
# what states the answer, so that the option named right after it is the generation's answer:
# "The answer is", "Final answer:", "The correct option is", "I'd choose", LaTeX's "\boxed{";
# "It is", "So", "Therefore,", "but" ("not C but B"), "Actually," (a correction: "The answer is
# A. Actually, C."), "I'd say", "Probably"; each may be hedged
# ("The answer is most likely B")
_STATEMENT = re.compile(
    r"(?i:(?:\b(?P<answer>answer\b\s*(?:(?:is|would\s+be|should\s+be|must\s+be|will\s+be)\b"
    r"\s*:?|:|=|[-–—](?=\s))?|(?:option|choice)\s*(?:is\b\s*:?|:)"
    r"|i(?:['’]d\s+|\s+(?:would\s+|will\s+)?)(?:choose|pick|select|go\s+with)\b)"
    r"|(?P<boxed>\\boxed\s*\{)"
    r"|\b(?:it\s+(?:is|would\s+be|must\s+be|seems\s+to\s+be|appears\s+to\s+be)\b|it['’]s\b"
    r"|i(?:['’]d|\s+would)\s+say\b"
    r"|(?:so|thus|therefore|hence|actually|but(?:\s+rather)?|(?:most\s+)?likely|probably)\b\s*,?))"
    r"(?:\s*(?:(?:most\s+)?likely|probably|definitely|clearly|certainly)\b)?\s*)"
)
# after an option that "It is" or "So" name, what makes it the answer: it ends the clause ("So
# B.", "It is B, the blue one"), not as the first of a list ("Hence B, C and D are out"), or a
# reason or its text follows ("It is B because ...", "So B (blue)"); anything else makes it the
# subject of a sentence ("So B and C are wrong", "so option A is red", "I'd say A is less
# likely", "It is option C that is green")
_CLOSED = re.compile(
    r"[)\]\"'”’»]?(?:\s*(?:$|\n|[.;:!?](?!\w)|[(\[–—]|-\s)|\s+(?i:because|since|as|given)\b"
    r"|,(?!\s*(?:(?i:and|or)\s+)?[\"'“‘«]?[(\[]?[A-HJ-Z](?![\w'’])))"
)
# a statement of what the answer is not ("The answer is not A")
_STATED_NOT = re.compile(r"(?i:not)\b")
# after a reference: it is the answer ("B is the correct answer"), or it is not ("B is wrong");
# not where an object an option names stands right of another or is "best-lit"
_IS_RIGHT = re.compile(
    r"\s*(?i:(?:is|would\s+be|seems\s+to\s+be)\s+(?:the\s+)?(?:correct|right|best|answer)\b"
    r"(?![-–])(?!\s+(?:of|side|hand|half|part|corner|edge|next|above|below|beside|behind)\b))"
)
_RIGHT = r"(?:correct|right|(?:the\s+)?(?:correct\s+|right\s+)?answer)"
_IS_WRONG = re.compile(
    rf"\s*(?i:(?:is|was)\s+(?:(?:also\s+)?(?:wrong|incorrect|false)\b|not\s+{_RIGHT}\b)"
    rf"|(?:isn|wasn)['’]t\s+{_RIGHT}\b)"
)
# a negation right before a reference ("not A", "isn't (B)", "rather than option C")
_NOT_BEFORE = re.compile(
    r"(?i:(?<![\w'’])(?:not|nor|neither|never|rather\s+than|instead\s+of)|n['’]t|不是)\s*,?\s*$"
)
# the same in normalised text ("isn't" reads "isn t"), and the same after a mention
_NOT_BEFORE_NORM = re.compile(
    r"(?:(?<!\S)(?:not|nor|neither|never|rather than|instead of)|(?<=\w)n t|不是)"
    r"\s*(?:(?:the|a|an) )*$"
)
# "no" before a mention ("there is no red car"); not before a number, where it may be "No. 2"
_NO_BEFORE_NORM = re.compile(r"(?<!\S)no (?:(?:the|a|an) )*$")
_RIGHT_NORM = r"(?:correct|right|(?:the )?(?:correct |right )?answer)"
_IS_WRONG_NORM = re.compile(
    rf" (?:(?:is|was) (?:(?:also )?(?:wrong|incorrect|false)|not {_RIGHT_NORM})"
    rf"|(?:isn|wasn) t {_RIGHT_NORM})(?!\S)"
)
# how far around a mention a negation or a clause start is looked for, and how much of the
# text after a statement is read for an option's text: bounded, so reading stays linear
_CONTEXT = 40
_HEAD = 400
_STATEMENTS = 32
# the number of an item of a numbered list ("1. ", "2) "): a model numbering its steps, or the
# options as it goes through them
_LIST_NUMBER = r"[^\S\n]*\d{1,2}[.)][^\S\n]+"
_LIST_ITEM = re.compile(rf"^{_LIST_NUMBER}(?=\S)", re.M)
# a letter at the start of a line, maybe of a numbered item ("1. B"), with a bracket or stop, a
# line end or a dash after it ("B. red", "(B) red", "B: red", "B\nBecause ...", "B - red")
_LEAD = re.compile(
    rf"^(?P<num>{_LIST_NUMBER})?[(\[]?(?P<letter>[A-Z])"
    r"(?:(?:[)\].:]|\s*[)\]])(?:\s|$)|[^\S\n]*$|\s+[-–—]\s)",
    re.M,
)
# a verdict on one option, as a model goes through them line by line: its letter, its text or
# both, then a verdict ("A. red - incorrect", "B: correct", "(C) green (wrong)", "2. D - no",
# "red is wrong", "B. blue ✓")
_VERDICT = re.compile(
    rf"^(?:{_LIST_NUMBER}|[^\S\n]*[-*•][^\S\n]+)?(?:(?i:option|choice)\s+)?"
    r"(?:[(\[]?(?P<letter>[A-Z])(?:[)\]][.:]?|[.:])?(?=[\s\-–—:=(]))?"
    r"(?P<body>[^\n]{0,80}?)[^\S\n]*"
    r"(?:(?:[-–—:=(]|->|→|\b(?i:is|was)\b)[^\S\n]*(?P<not>(?i:not)[^\S\n]+)?"
    r"(?P<word>(?i:correct|incorrect|right|wrong|true|false|yes|no))\b"
    r"|(?:[-–—:=(][^\S\n]*)?(?P<mark>[✓✔✅✗✘❌]))"
    r"[)\]]?(?=[^\S\n]*(?:$|[.,;:!(–—-]|[^\S\n]+(?i:because|since|as)\b))",
    re.M,
)
_RIGHT_VERDICTS = {"correct", "right", "true", "yes", "✓", "✔", "✅"}
# a verdict joined by "is" ("No is incorrect"): said of its subject, the option
_IS_WAS = re.compile(r"\b(?i:is|was)\b")


def _read_reference(
    m: re.Match[str], text: str, options: Sequence[str], kind: str, numbered: bool = False
) -> int | None:
    """The index the reference ``m`` in ``text`` names, -1 for two options hedged ("B or C"),
    None when it names none: a stray letter, an article ("a red square"), a number or an
    ordinal that an option's text holds (among "1", "2", "3", "option 2" is the text "2").
    ``kind`` is what stands before it: "answer" (a statement with "answer" or "option"), "it"
    ("It is", "So"), "weak" (nothing) or "after" ("... is correct" follows). With
    ``numbered`` (options numbered in the question) a number a statement names is an option's
    ("The answer is 2"), as a letter is."""
    n = len(options)
    if m["ordinal"] or m["num"]:
        written = (m["ordinal"] or m["num"]).casefold()
        labelled = m["opt"] or m["hash"] or (m["open"] and m["close"])
        if m["ordinal"]:
            number = _ORDINALS.get(written) or int(written[:-2])
        elif labelled or (numbered and kind != "weak"):
            number = int(normalize_text(written))
        else:
            return None  # a bare number is a count, not an option's number
        word = normalize_text(written)
        if not 1 <= number <= n or any(_contains_words(opt, word) >= 0 for opt in options):
            return None
        other = _HEDGED_NUMBER.match(text, m.end()) if numbered else None
        if other and 1 <= int(other["other"]) <= n:
            return -1  # "The answer is 2 or 3"
        if (
            m["num"]
            and not labelled
            and kind != "after"
            and (
                _NUMBER_GOES_ON.match(text, m.end())
                or not (_CLOSED.match(text, m.end()) or _IS_RIGHT.match(text, m.end()))
            )
        ):
            # a stated number that the clause goes on past is a count or a quantity ("The
            # answer is 2 cars", "2.5 m/s", "2,000"), as a letter is the subject of a sentence
            return None
        return number - 1
    letter = m["letter"]
    valid = LETTERS[:n]
    if letter.upper() not in valid or (
        letter.casefold() in options and (letter.islower() or kind == "it")
    ):
        # a lower-case letter that is an option's text is that text, and so is any after "It
        # is" or "So" (among "B", "A", "It's B." is the text "B"); after "The answer is" an
        # upper-case one stays the letter, as it always was
        return None
    if not (m["open"] and m["close"]) and not m["opt"] and kind != "after":
        if (letter.islower() or kind == "it") and re.match(
            r"[^\s.,;:!?)\]\"'”’»}]", text[m.end() : m.end() + 1]
        ):
            return None  # "it is c-shaped", "b/c"
        if (
            letter in "aAiI"
            and (letter.islower() or kind == "it")
            and not _ENDS.match(text, m.end())
        ):
            return None  # "it is a red square", "so I think"
        if _starts_an_option(text[m.start("letter") :], options):
            return None
    if _hedged_letter(text, m.end(), valid, letter.islower()):
        return -1
    return valid.index(letter.upper())


# a number's decimals or thousands ("2.5", "2,000"): it goes on
_NUMBER_GOES_ON = re.compile(r"[.,]\d")
# an option's number hedged with another ("2 or 3", "(2)/(3)"), where options are numbered
_HEDGED_NUMBER = re.compile(
    r"[)\]]?\s*(?:(?i:or|and|and/or)\b|[/&+,])\s*[(\[]?(?P<other>\d{1,2})(?![\d.,]\d)"
)


def _negated(text: str, start: int, end: int) -> bool:
    """Whether a reference at ``start``..``end`` is said not to be the answer ("not B", "B is
    wrong"): a negated mention is no vote for its option."""
    return bool(
        _NOT_BEFORE.search(text[max(0, start - _CONTEXT) : start]) or _IS_WRONG.match(text, end)
    )


def _clause_start(text: str, pos: int) -> bool:
    """Whether ``pos`` starts the text, a line or a clause ("Vitamin C is correct" has a C that
    is no letter of its own)."""
    before = text[max(0, pos - _CONTEXT) : pos]
    kept = before.rstrip()
    return (
        (not kept and pos <= _CONTEXT)
        or kept[-1:] in tuple(".;:!?,")
        or "\n" in before[len(kept) :]
    )


def _mention_pattern(opt: str) -> re.Pattern[str]:
    """An option's normalised text as whole words, a clause mark allowed between its words (so
    "yes, it is" is found in "yes ǂ it is")."""
    if re.fullmatch(f"[{_NO_SPACE}]", opt):
        # one character is no word of its own in such text: "是" is in "不是" and "答案是",
        # "有" in "没有", "左" in "左右" ("about"), "红" in "粉红色" ("pink")
        return re.compile(rf"(?<!\S){re.escape(opt)}(?!\S)")
    gap = f"(?: {_CLAUSE_MARK})* "
    return re.compile(_WORD_START + gap.join(map(re.escape, opt.split(" "))) + _WORD_END)


def _mentions(text: str, options: Sequence[str]) -> list[tuple[int, int, int | None]]:
    """Every mention (start, end, index) of an option's text in normalised ``text``, earliest
    first, none inside another ("red" in "dark red" is that option's); index None where two
    options that normalise alike are both mentioned there."""
    found = sorted(
        (m.start(), -(m.end() - m.start()), i)
        for i, opt in enumerate(options)
        if opt
        for m in _mention_pattern(opt).finditer(text)
    )
    out: list[tuple[int, int, int | None]] = []
    for start, minus_len, i in found:
        end = start - minus_len
        if out and start < out[-1][1]:
            if (start, end) == out[-1][:2] and out[-1][2] != i:
                out[-1] = (start, end, None)
            continue
        out.append((start, end, i))
    return out


def _hedged(
    text: str, found: list[tuple[int, int, int | None]], k: int, options: Sequence[str]
) -> bool:
    """Whether mention ``k`` is joined to the next, of another option, by "or" / "and" in one
    clause ("blue or green"; not "red, and blue is the sky")."""
    if k + 1 >= len(found):
        return False
    (_, end, i), (start, _, j) = found[k], found[k + 1]
    if i is None or j is None or options[i] == options[j]:
        return False
    return text[end:start].strip() in _HEDGES


def _final_statement(text: str, options: Sequence[str], numbered: bool = False) -> int | None:
    """The option the last statement of the answer names ("The answer is B", "Answer: (C)
    blue", "It is B.", "So B", "B is the correct answer"), -1 where it names two or hedges
    between two, None without such a statement. A statement of what it is not ("It is not A")
    names nothing."""
    votes: list[tuple[int, int]] = []
    for ref in _REFERENCE.finditer(text):
        if _IS_RIGHT.match(text, ref.end()) and _clause_start(text, ref.start()):
            index = _read_reference(ref, text, options, "after", numbered)
            if index is not None and not _NOT_BEFORE.search(
                text[max(0, ref.start() - _CONTEXT) : ref.start()]
            ):
                votes.append((ref.start(), index))
    # the last statement that names an option wins: read from the end, and no further back
    # than the last _STATEMENTS of them, so a text of nothing but "answer answer ..." is read in
    # linear time
    latest = max(votes)[0] if votes else -1
    for m in reversed(list(_STATEMENT.finditer(text))[-_STATEMENTS:]):
        pos = m.end()
        if pos < latest:
            break
        kind = "answer" if m["answer"] is not None or m["boxed"] is not None else "it"
        said = None if _STATED_NOT.match(text, pos) else _REFERENCE.match(text, pos)
        index = _read_reference(said, text, options, kind, numbered) if said else None
        if index is not None and said is not None:
            # a hedge ("It is B or C.") is read to its second option's end
            hedge = _HEDGED_LETTER.match(text, said.end()) if index < 0 else None
            if _IS_WRONG.match(text, said.end()) or (
                kind == "it"
                and not _IS_RIGHT.match(text, said.end())
                and not _CLOSED.match(text, hedge.end() if hedge else said.end())
            ):
                continue
        elif kind == "answer":
            # an option's text after it ("The answer is dark red"); an option's own "not" is no
            # negation ("The answer is not moving" among "moving", "not moving")
            index = _text_head(text[pos : pos + _HEAD], options)
        if index is not None:
            votes.append((pos, index))
            break
    return max(votes)[1] if votes else None


def _text_head(text: str, options: Sequence[str]) -> int | None:
    """The option whose text starts ``text`` (after articles; at one place the longest), -1
    where two options normalise alike or it is hedged with another ("blue or green"), else
    None."""
    rest = normalize_text(_CLAUSE_BREAK.sub(f" {_CLAUSE_MARK} ", text))
    articles = re.match(r"(?:(?:the|a|an) )*", rest)
    found = _mentions(rest, options)
    if not found or found[0][0] > (articles.end() if articles else 0):
        return None
    index = found[0][2]
    return -1 if index is None or _hedged(rest, found, 0, options) else index


def _weak_reference(text: str, options: Sequence[str]) -> int | None:
    """Index of an option named by its letter or number without a statement: at the start
    ("B. red", "B\\nBecause ..."), after "option" ("option B", "the second option"; the first
    not negated), in round brackets ("(B)", when one option is bracketed), or as the one Latin
    letter of an answer in another script ("答案是B"); else None. A numbered list's item that
    is a letter alone or with its option's text ("1. B", "2. B. blue") names that option, and
    items that name different ones ("1. B\\n2. C", options listed) name none (-1); one that
    goes on to say more ("2. A: red does not match") is a step of reasoning, no answer."""
    valid = LETTERS[: len(options)]
    lead = _LEAD.match(text)
    if lead and not lead["num"] and lead["letter"] in valid:
        return valid.index(lead["letter"])
    items: set[int] = set()
    for m in _LEAD.finditer(text):
        item = valid.find(m["letter"])
        if m["num"] and item >= 0:
            end = text.find("\n", m.end("letter"))
            rest = normalize_text(text[m.end("letter") : end if end >= 0 else len(text)])
            if rest in ("", options[item]):
                items.add(item)
    if items:
        return items.pop() if len(items) == 1 else -1
    bracketed: set[int | str] = set()
    stated: int | None = None
    for m in _REFERENCE.finditer(text):
        named = m["opt"] or m["ordinal"]
        round_ = bool(m["open"] and m["close"] and m["open"].startswith("("))
        if not (named or round_) or _negated(text, m.start(), m.end()):
            continue
        index = _read_reference(m, text, options, "weak")
        if named and stated is None and index is not None:
            stated = index
        if round_:
            bracketed.add(m.group() if index is None or index < 0 else index)
    if stated is not None and stated >= 0:
        return stated
    if len(bracketed) == 1:
        (only,) = bracketed
        if isinstance(only, int):
            return only
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


def _verdicts(text: str, options: Sequence[str]) -> tuple[int | None, str]:
    """The option a list of verdicts calls right ("A. red - incorrect\\nB. blue - correct" is B),
    -1 where it calls several right, else None; and ``text`` without the verdicts that call an
    option wrong, which are no mention of it. A verdict's option is named by its letter, its
    own text or both ("A. blue - wrong" names none); a verdict that is an option's text ("B -
    right" among "left", "right") is that option, no verdict."""
    valid = LETTERS[: len(options)]
    right: set[int] = set()
    kept: list[str] = []
    start = 0
    verdicts = list(_VERDICT.finditer(text))
    for m in verdicts:
        said = m["mark"] or m["word"].casefold()
        index = valid.find(m["letter"]) if m["letter"] else -1
        if index < 0 or normalize_text(m["body"]) not in ("", options[index]):
            # no letter, or one that is the article of an option's text ("A car - wrong" among
            # "A bus", "A car")
            named = normalize_text(
                text[m.start("letter" if m["letter"] else "body") : m.end("body")]
            )
            same = [i for i, opt in enumerate(options) if opt and opt == named]
            index = same[0] if len(same) == 1 else -1
        own = normalize_text(said)
        if index < 0 or (own and own in options):
            continue
        called_right = (said in _RIGHT_VERDICTS) != bool(m["not"])
        if called_right or _answer_no(m, text, options, index, alone=len(verdicts) == 1):
            right.add(index)
        else:
            kept.append(text[start : m.start()])
            start = m.end()
    kept.append(text[start:])
    if right:
        return (right.pop() if len(right) == 1 else -1), text
    return None, "".join(kept)


def _answer_no(
    m: re.Match[str], text: str, options: Sequence[str], index: int, *, alone: bool
) -> bool:
    """Whether the verdict ``m`` on option ``index`` is the answer "no" with its reason ("No -
    incorrect", "No: wrong"), not the option "no" called wrong: it starts ``text``, is the
    verdict ``alone`` ("No - incorrect. Yes - correct." is a list on one line) and nothing
    after it names another option. "Yes - incorrect" says both and stays a verdict against
    yes, and so do "No is incorrect" and "B - incorrect" (B is "no"), which name the option."""
    return (
        options[index] == "no"
        and not m["letter"]
        and not _IS_WAS.search(text, m.end("body"), m.start("word" if m["word"] else "mark"))
        and alone
        and not text[: m.start()].strip()
        and all(i == index for *_, i in _mentions(normalize_text(text[m.end() :]), options))
    )


def _unnumbered(text: str) -> str:
    """``text`` without the numbers of a numbered list (two or more lines start with one):
    they count steps, and are no option's text "1". A single "2. There are two cars." may be
    the answer 2 with its reason, and keeps it."""
    unnumbered, items = _LIST_ITEM.subn("", text)
    return unnumbered if items > 1 else text


def _text_choice(text: str, options: Sequence[str]) -> int | None:
    """Index of the option whose text the answer mentions first, not counting negated mentions
    ("not red, blue"; "neither red nor blue" negates both), else None; None too where two
    options that normalise alike are mentioned there or it is hedged with another ("blue or
    green")."""
    # read with the clause punctuation that normalising drops, as "red, and blue is the sky" is
    # red; where that finds nothing (a number read otherwise next to a stop), without it
    marked = normalize_text(_CLAUSE_BREAK.sub(f" {_CLAUSE_MARK} ", text))
    found = _mentions(marked, options)
    if not found:
        marked = normalize_text(text)
        found = _mentions(marked, options)
    negated = False
    for k, (start, end, index) in enumerate(found):
        # a negation carries over "or" / "nor" to the next mention ("not red or blue")
        carried = negated and marked[found[k - 1][1] : start].strip() in ("or", "nor")
        before = marked[max(0, start - _CONTEXT) : start]
        negated = carried or bool(
            _NOT_BEFORE_NORM.search(before)
            or (not marked[start].isdigit() and _NO_BEFORE_NORM.search(before))
        )
        if negated or _IS_WRONG_NORM.match(marked, end):
            continue
        if index is None or _hedged(marked, found, k, options):
            return None
        return index
    return None


# an explicit self-correction ("Wait, no:", "No wait,", "Correction:", "On second thought,"):
# what follows it is the answer where it states one. Only such markers: "Actually" is read
# as a statement (it may start a remark: "The answer is A. Actually, C is green too.")
_CORRECTION = re.compile(
    r"(?i:\b(?:"
    r"correction\s*[:\-–—]"
    # "No, wait", "Wait," or "Wait —", and a "no" after it ("Wait, no:"), which is no answer
    r"|(?:(?:no|oh)\s*[,.!]?\s*wait\b[,.!:…–—]*|wait\b\s*[,.!:…–—]+)(?:\s*no\b[,.!:…–—]*)?"
    r"|on\s+second\s+thoughts?\b[,:]?"
    r"|let\s+me\s+correct\s+(?:that|myself)\b[,.!:]*"
    r"))"
)
# the end of a correction's first clause: a sentence's, or a reason after a comma ("Wait, no:
# C, because ..."), so that "C" is read alone
_CLAUSE_END = re.compile(r"[.;!?\n](?!\w)|,\s*(?i:because|since|as)\b")


def _correction(text: str, choices: Sequence[str], numbered: bool) -> int | None:
    """The option an explicit self-correction states, after the last one that starts a clause
    ("A. Wait, no: C", "B. Correction: D", "red. Correction: blue", "A. Wait, no, it's C"):
    its last statement, else its first clause where that is a letter or an option's text
    alone; None where it states none ("A. Wait, C is green too"), and the text is read whole."""
    last = None
    for m in _CORRECTION.finditer(text):
        if _clause_start(text, m.start()):
            last = m
    if last is None:
        return None
    rest = text[last.end() :]
    options = [normalize_text(c) for c in choices]
    index = _final_statement(rest, options, numbered)
    if index is None:
        clause = _CLAUSE_END.split(rest.strip(), maxsplit=1)[0].strip()
        index = _bare_letter(clause, len(choices))
        if index is None and numbered:
            index = _bare_number(clause, options)
        if index is None:
            said = normalize_text(clause, drop_articles=True)
            same = [i for i, opt in enumerate(options) if opt and said == opt]
            index = same[0] if len(same) == 1 else None
    return index if index is not None and index >= 0 else None


# a generation in a question-and-answer layout, the question echoed ("Q: Is it moving? A: Yes",
# "Question: ...\nAnswer: B"): the answer is what follows the first answer label, up to a next
# question label (a model going on with questions of its own). "A:" answers a "Q:" only, so
# that "Question: ...\nA: red\nB: blue\nAnswer: B" is B; the echoed question names no option.
# The answer label follows a space or the question's end ("?", ".", "!"): in "Q: the USA: A: no"
# the "A:" of "USA:" is none; nor is an "A:" that labels the first of the question's options
# ("Q: What colour? A: red B: blue\nA: B"), which some text and a "B:" follow
_QA_HEAD = re.compile(r"\s*(?:(?P<short>Q)|(?i:question))\s*[:：]")
# an answer label after a space or the question's end; "A" only after "Q:"
_QA_LABEL = re.compile(r"(?<![^\s?.!])(?:(?P<a>A)|(?i:answer))\s*[:：]\s*")
_QA_LONG_LABEL = re.compile(r"(?<![^\s?.!])(?i:answer)\s*[:：]\s*")
# the "A:" of a label followed by some text on its line
_QA_A_TEXT = re.compile(r"[^\S\n]*[:：][^\S\n]*(?=\S)")
# a "B:" after a space, the text before it ending on the character before that space
_QA_B_LABEL = re.compile(r"(?<=\S)\s+B[^\S\n]*[:：]")
_QA_NEXT = re.compile(r"(?<!\S)(?:Q|(?i:question))\s*[:：]")
_LINE_END = re.compile("\n")


def _qa_answer(text: str) -> str | None:
    """The answer of a question-and-answer layout (see above), None where ``text`` is none.

    An "A:" whose text goes on, on its line, to a "B:" after a space labels an option. That
    is looked up among the positions of all "B:" labels, found in one pass, not scanned for
    from each "A:" to its line's end: a regex lookahead did that, and a line of thousands of
    "A:" labels took time quadratic in its length (1.7 s at 20,000 characters)."""
    head = _QA_HEAD.match(text)
    if head is None:
        return None
    short = head["short"] is not None
    # the end of the text before each "B:" label, and each line's end: found once, when the
    # first "A:" with text after it is met
    before_b: list[int] | None = None
    line_ends: list[int] = []
    for label in (_QA_LABEL if short else _QA_LONG_LABEL).finditer(text, head.end()):
        # its colon and the first character of its text lie within the label and one past it
        said = (
            _QA_A_TEXT.match(text, label.start() + 1, label.end() + 1)
            if label.lastgroup == "a"
            else None
        )
        if said is not None:
            if before_b is None:
                before_b = [m.start() - 1 for m in _QA_B_LABEL.finditer(text)]
                line_ends = [m.start() for m in _LINE_END.finditer(text)]
            start = said.end()
            k = bisect.bisect_left(before_b, start)
            line = bisect.bisect_left(line_ends, start)
            line_end = line_ends[line] if line < len(line_ends) else len(text)
            if k < len(before_b) and before_b[k] < line_end:
                continue
        after = _QA_NEXT.search(text, label.end())
        return text[label.end() : after.start() if after else len(text)]
    return None


# an option's label as a question writes it: "A.", "A)", "A:", "(A)", "[A]"
_LABEL = r"[(\[]?{}(?:[.):\]]|\s*[)\]])"
# what joins one echoed option to the next: a line break, a space, a comma, "or"
_ECHO_JOIN = r"(?:\s*[,;])?\s*(?:(?i:or|and)\s+)?"


def _echo(text: str, choices: Sequence[str]) -> str:
    """``text`` without an echo of the options, lettered from A in order ("A. red\\nB. blue",
    "A: red B: blue C: green", two or more of them; a model going on with the prompt): it
    lists them and names none. A list in another order ("B. blue\\nA. red") or with a word on
    an option ("B. blue - correct") is no echo."""
    if len(choices) < 2 or len(choices) > len(LETTERS):
        return text
    items = [
        _LABEL.format(letter) + r"[^\S\n]*" + re.escape(choice.strip())
        for letter, choice in zip(LETTERS, choices, strict=False)
    ]
    # the first two, then each further one only after the one before it
    tail = ""
    for item in reversed(items[2:]):
        tail = f"(?:{_ECHO_JOIN}{item}{tail})?"
    echo = re.compile(
        rf"(?<![\w'’]){items[0]}{_ECHO_JOIN}{items[1]}{tail}"
        r"(?=[^\S\n]*(?:[,;.?][^\S\n]*)?(?:\n|$))",
        re.I,
    )
    return echo.sub(" ", text)


# "A:" starting an answer labels it, as "Answer:" does, where an option's letter or another
# option's text follows ("A: B", "A: B: blue", "A: blue" among "red", "blue"; also with a reason
# after it: "A: No, it is still" among "yes", "no"); "A: red" names option A either way
_A_LABEL = re.compile(r"\s*A\s*[:：]\s*")


def _answer_label(text: str, choices: Sequence[str]) -> str:
    """``text`` without an "A:" that labels the answer (`_A_LABEL`)."""
    m = _A_LABEL.match(text)
    if m is None or len(choices) < 2:
        return text
    rest = text[m.end() :]
    options = [normalize_text(c) for c in choices]
    said = normalize_text(rest)
    lead = _LEAD.match(rest)
    if said == options[0]:
        return text
    if (
        _bare_letter(rest, len(choices)) is not None
        or (lead is not None and not lead["num"] and lead["letter"] in LETTERS[: len(choices)])
        or said in options[1:]
        or (_text_head(rest, options) or 0) > 0
    ):
        return rest
    return text


# a statement that the answer cannot be told: "I cannot tell", "It's hard to say", "not sure",
# "I don't know", "no idea", "unclear"
_UNSURE = (
    r"(?:(?:can\s*not|can['’]?t|could\s*n['’]?t|could\s+not|unable\s+to|impossible\s+to"
    r"|not\s+possible\s+to|hard\s+to|difficult\s+to|no\s+way\s+to)\s+"
    r"(?:(?:really|clearly|exactly|accurately|definitively)\s+)?"
    r"(?:tell|say|determine|know|judge|decide|be\s+(?:sure|certain|determined|told))\b"
    r"|(?:not|n['’]t)\s+(?:sure|certain|clear)\b|un(?:sure|certain|clear)\b"
    r"|(?:don['’]?t|do\s+not|doesn['’]?t)\s+know\b|no\s+(?:idea|clue)\b)"
)
_UNSURE_ANY = re.compile(rf"(?i:\b{_UNSURE})")
# the statement starting the answer, maybe after a "No," that answers "can you tell?" ("No, I
# cannot tell", "No idea.", "I'm not sure whether it moves"): the "no" is no answer. A "Yes,"
# before it answers the question, as in "Yes, but I'm not sure" ("Yes, I'm not sure" is yes).
# Only where it ends its clause or says what cannot be told ("... if it moves"), not "No, I
# can't tell its exact speed"
_UNSURE_START = re.compile(
    r"(?i:\s*(?:(?:no|nope|well|hmm+|sorry|honestly)\b[\s,.!:;…–—-]*)?"
    r"(?:(?:i|we)(?:['’]m|\s+am|\s+have|\s+really|\s+honestly)*\s+|it(?:['’]s|\s+is)\s+"
    r"|there(?:['’]s|\s+is)\s+)?"
    rf"{_UNSURE}"
    r"(?=\s*(?:$|[.,;:!?…]|(?:if|whether|what|which|how|for\s+(?:sure|certain)|from|with"
    r"|without|based)\b)))"
)
# "No, it's not clear." restates a "no" to "Is it clear?" (as "No, it is not moving" does);
# only "I" am unsure in "No, I'm not sure", and "No, it's not clear whether it moves" says
# what cannot be told
_NO_IT_IS_NOT = re.compile(
    r"(?i:\s*no\b[\s,.!:;…–—-]*it(?:['’]s|\s+is)\s+not\s+(?:clear|certain|sure)"
    r"(?=\s*(?:$|[.,;!?…])))"
)
# a guess: "maybe", "possibly", "perhaps", "might be", "could be" before what is guessed
_GUESS = (
    r"(?<!\S)(?:maybe|perhaps|possibly|might|could|may)(?: (?:also|be|it|s|is|the|an|option))* "
)


def _unsure(text: str, choices: Sequence[str]) -> str | None:
    """None where the answer says it cannot tell and only guesses an option ("Not sure, maybe
    yes", "Hard to say, possibly B"); else ``text`` without a statement that starts it and
    says it cannot tell ("No, I cannot tell." is "."; "It's hard to tell, but yes." is ", but
    yes."). A guess alone ("Maybe yes") and a statement after it ("Yes, but I'm not sure")
    stay answers."""
    if _UNSURE_ANY.search(text) is None:
        return text
    options = [normalize_text(c) for c in choices]
    letters = LETTERS[1 : len(choices)].lower()
    named = "|".join(
        [re.escape(opt) for opt in options if opt] + ([f"[{letters}]"] if letters else [])
    )
    # an "a" is the letter where it ends its clause ("maybe A."), not the article of "it could
    # be a reflection" or "it may be a still object"
    marked = normalize_text(_CLAUSE_BREAK.sub(f" {_CLAUSE_MARK} ", text))
    if re.search(rf"{_GUESS}(?:a )?(?:{named})(?!\S)", normalize_text(text)) or re.search(
        rf"{_GUESS}a(?= {_CLAUSE_MARK}|$)", marked
    ):
        return None
    if _NO_IT_IS_NOT.match(text):
        return text
    start = _UNSURE_START.match(text)
    return text if start is None else text[start.end() :]


# two words joined by a slash ("yes/no", as an instruction writes the options)
_SLASH = re.compile(r"(?<![\w/])(\w+)/(\w+)(?![\w/])")


def _slashed(text: str, choices: Sequence[str]) -> str:
    """``text`` with two options' texts joined by a slash read as a hedge between them: "Yes/No"
    is "Yes or No" (normalised, a slash was a space: "yes no" was yes). A slash in other words
    ("km/h") stays."""
    options = {normalize_text(c) for c in choices}

    def joined(m: re.Match[str]) -> str:
        if normalize_text(m[1]) in options and normalize_text(m[2]) in options:
            return f"{m[1]} or {m[2]}"
        return m[0]

    return _SLASH.sub(joined, text)


def parse_choice(generation: str, choices: Sequence[str], *, numbered: bool = False) -> int | None:
    """Index of the option a generation names, or None when it names none.

    In a question-and-answer layout ("Q: Is it red? A: No, blue.", "Question: ...\nAnswer: B")
    only the answer is read, not the echoed question, whose options may be labelled "A:" too
    ("Q: What colour? A: red B: blue\nA: B" is B). An "A:" that starts the answer and is
    followed by a letter or another option's text labels it ("A: B", "A: blue"); "A: red" is
    option A either way. An echo of the options in order from A ("A. red\nB. blue", "A: red
    B: blue", a model going on with its prompt) is no answer; what follows it is read. An
    answer that starts by saying it cannot tell ("No, I cannot tell.", "No idea", "I'm not
    sure whether ...") names no option unless a statement follows ("..., but yes"), nor one
    that says so and only guesses ("Not sure, maybe yes", "Hard to say, possibly B"); a guess
    alone ("Maybe yes") and a firm answer with a remark ("Yes, but I'm not sure") are read.
    Order: a letter alone (also in Markdown
    emphasis or quotes: "**B**", "`B`", '"B"'); the whole answer equal to an option's text (so
    "A. Lincoln" is that option, not option A); what an explicit self-correction states ("A.
    Wait, no: C", "B. Correction: D", "red. On second thought, blue"); the last statement of the
    answer ("The answer is B", "the answer is b", "Answer: (C) blue", "It is B.", "So B", "B is
    the correct answer", "The answer is dark red", "The answer is option 2", "The answer is most
    likely B"), so that a final answer wins over options discussed before it; after "So", "It
    is" or "I'd say" only a letter that ends its clause or has a reason after it ("So B.", "It
    is B because ..."), not the subject of a sentence ("So B and C are wrong", "I'd say A is
    less likely"), nor "B is right of the car"; the one option a list of verdicts calls right
    ("A. red - incorrect\\nB. blue - correct"); a letter at the start ("B. red"), as a numbered
    list's item ("1. B", not "1. A: red does not match"), after "option" ("option B", "option
    #2", "the second option"), in round brackets, or the one Latin letter of an answer in
    another script ("答案是B"); an option's text inside the answer (the earliest mention; at the
    same place the longer option, so "dark red" wins over "red"; in Chinese, Japanese or Thai
    text without spaces around it). A verdict that calls an option wrong ("A. red - incorrect")
    is no mention of it for any of these; a "no" that starts the answer and a verdict alone
    follows ("No - incorrect") is the answer no ("Yes - incorrect" names none).

    A letter "a" or "A" after "It is" or a lower-case "a" after "The answer is" is the letter
    only where it ends its sentence ("the answer is a." is A, "it is a red square" is no
    letter); "The answer is A car" among "A bus", "A car" is the option's text. An option's
    number ("option 2", "(2)", "the second option") is read only where no option's text holds
    that number or word (among "1", "2", "3", "option 2" is the option "2"). A mention said
    not to be the answer ("not red", "B is wrong", "It is not A") is no vote. Case,
    punctuation, number words, Unicode forms (a full-width "Ｂ"), Markdown emphasis and special
    tokens are ignored, and so is the script of a Cyrillic or Greek capital drawn as an option
    letter where it stands as a letter of its own ("Ответ: В", not "В машине"); an option's
    exact text is that option. A text that names two options alike (options "2" and "two",
    answer "Two"), hedges between two ("blue or green", "B or C") or gives two ("A, C", "not
    only red but also blue") names none; "not only red but also round" is red.

    With ``numbered`` (the question numbers its options: `question_options`), an option's
    number names it as its letter does: alone ("2", "(2)", "2."), stated ("The answer is 2",
    "2 is correct") or corrected to ("Wait, no: 3"), where no option's text holds that number.
    """
    if not choices:
        return None
    text = clean_generation(generation)
    if not text:
        return None
    qa = _qa_answer(_plain(text))
    if qa is not None:
        # read once: an answer that starts a layout of its own ("Q: x A:Q: x A:...", a model
        # repeating itself) is not unwrapped again, which took a recursion and a scan per label
        text = clean_generation(qa)
        if not text:
            return None
    plain = _plain(text)
    # what is left of an answer once an echo of the options, an "A:" label or a statement that
    # it cannot tell is read off; the whole answer where none is there
    said = _unsure(_answer_label(_echo(plain, choices).strip(), choices), choices)
    if said is None or not said.strip(" .,;:!?…"):
        return None
    if said.strip() != plain:
        plain = text = said.strip()
    plain = _slashed(_not_only(_latin_letters(plain, choices), choices), choices)
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
    if numbered:
        index = _bare_number(plain, options)
        if index is not None:
            return index
    index = _correction(plain, choices, numbered)
    if index is not None:
        return index
    # verdicts first: one that calls an option wrong is no mention of it for any reading
    right, plain = _verdicts(plain, options)
    index = _final_statement(plain, options, numbered)
    if index is None:
        index = right
    if index is None:
        index = _weak_reference(plain, options)
    if index is None:
        index = _text_choice(_unnumbered(plain), options)
    return index if index is not None and index >= 0 else None


@dataclass(frozen=True)
class ScoredAnswer:
    """One scored generation. ``parsed`` is the option's label (choice mode: its letter, or
    its number where the question numbers its options; None when the text names no option) or
    the normalised text (free mode); ``prediction`` is the option's text or the cleaned
    generation."""

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

    Options are ``choices`` when given, else those written into ``question`` (lettered or
    numbered; a numbered option is named by its number too, in the reference and in the
    generation); with options (and a reference that is one of them, by text, letter or
    number) the sample is scored in choice mode, otherwise in free mode.
    """
    options, numbered = (list(choices), False) if choices else question_options(question)
    ref = reference_index(answer, options, numbered=numbered) if options else None
    if ref is not None:
        index = parse_choice(generation, options, numbered=numbered)
        ok = index == ref
        return ScoredAnswer(
            mode="choice",
            raw=generation,
            prediction=options[index] if index is not None else clean_generation(generation),
            parsed=option_label(index, numbered) if index is not None else None,
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
