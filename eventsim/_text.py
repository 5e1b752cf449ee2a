"""Wording shared by the commands, the library's messages and epvlm's reports."""

from __future__ import annotations


def plural(count: float, noun: str, nouns: str | None = None) -> str:
    """``noun`` as it goes with ``count``: ``plural(1, "sample")`` is ``"sample"``, any other
    count gives ``nouns`` (default: ``noun + "s"``). Only the word, so that the caller
    formats the count (``f"{n:,} {plural(n, 'event')}"``)."""
    if count == 1:
        return noun
    return noun + "s" if nouns is None else nouns
