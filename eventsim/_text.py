"""Wording shared by the commands, the library's messages and epvlm's reports."""

from __future__ import annotations

import math
import shlex
from os import PathLike


def plural(count: float, noun: str, nouns: str | None = None) -> str:
    """``noun`` as it goes with ``count``: ``plural(1, "sample")`` is ``"sample"``, any other
    count gives ``nouns`` (default: ``noun + "s"``). Only the word, so that the caller
    formats the count (``f"{n:,} {plural(n, 'event')}"``)."""
    if count == 1:
        return noun
    return noun + "s" if nouns is None else nouns


def significant(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits (a larger whole number in full) in plain
    notation, without trailing zeros: ``:.3g`` wrote 999.6 as '1e+03' and 1e-6 as '1e-06'."""
    if value == 0:
        # -0.0 too: a difference or a product that came out negative zero printed "-0"
        return "0"
    if not math.isfinite(value):
        return f"{value:g}"
    # the decimals of the value as rounded: 999.6 rounds to 1.00e+03, which needs none
    magnitude = math.floor(math.log10(abs(float(f"{value:.{digits - 1}e}"))))
    text = f"{value:.{max(0, digits - 1 - magnitude)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def rate_text(rate: float) -> str:
    """An event rate to three significant digits in ev/s, kev/s or Mev/s, the larger unit from
    where the rounded figure reaches it ('1 kev/s' for 999.6 ev/s, not '1000 ev/s')."""
    rounded = float(f"{rate:.2e}")
    for unit, scale in (("Mev/s", 1e6), ("kev/s", 1e3)):
        if rounded >= scale:
            return f"{significant(rate / scale)} {unit}"
    return f"{significant(rate)} ev/s"


def shell_command(*words: str | PathLike[str]) -> str:
    """``words`` as one command line to paste into a POSIX shell, each quoted only where the
    shell needs it: ``shell_command("eventsim", "verify", "/a b")`` is ``eventsim verify
    '/a b'``. A message puts it at the end of its line, not inside quotes of its own: a quoted
    path inside quotes does not paste as one command."""
    return " ".join(shlex.quote(str(word)) for word in words)
