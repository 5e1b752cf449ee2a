"""The layout of a VQA question's text that the builder and the scorer both read: answer options
written into the question as ``A. text`` lines (RealWorldQA's layout). `epvlm.answers` scores
generations against them; the builder labels such a record multiple-choice."""

from __future__ import annotations

import re
import string

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


def answers_an_option(question: str, answer: str) -> bool:
    """Whether ``answer`` is the letter of one of the options written into ``question``
    (``C`` or ``C.`` for a question listing A to D), read as `epvlm.answers` reads a
    reference letter: one the scorer takes as an option must not be labelled open."""
    options = options_in_question(question)
    # dots and brackets in any order around the letter ("C.)", ".C"), as the scorer strips
    letter = answer.strip().strip("().").upper()
    return len(letter) == 1 and letter in OPTION_LETTERS[: len(options)]
