"""A did-you-mean guess for a misspelt name, shared by the messages that list valid names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


def did_you_mean(name: str, valid: Iterable[str] | Mapping[str, str], quote: bool = False) -> str:
    """``"; did you mean X?"`` when ``name`` looks like a misspelling of one of ``valid`` (a
    mapping: of its keys, X being the key's value), else ``""``; ``quote`` shows X as its repr.
    Case and surrounding spaces are ignored."""
    guess = closest_name(name, valid)
    if guess is None:
        return ""
    return f"; did you mean {guess!r}?" if quote else f"; did you mean {guess}?"


def closest_name(name: str, valid: Iterable[str] | Mapping[str, str]) -> str | None:
    """The X of `did_you_mean`'s guess, for a message that words it otherwise; None when
    ``name`` looks like none of ``valid``, or as much like two of them (qwen2.5: qwen2.5-vl-3b
    and qwen2.5-vl-7b) and starts neither alone."""
    shown = dict(valid) if isinstance(valid, Mapping) else {v: v for v in valid}
    folded = {k.casefold(): v for k, v in shown.items()}
    name = name.strip().casefold()
    # above difflib's 0.6, which guessed source.kind for id and dataset.name for frames
    close = difflib.get_close_matches(name, list(folded), n=2, cutoff=0.7)
    if len(close) == 2 and _ratio(name, close[0]) == _ratio(name, close[1]):
        # difflib breaks a tie by the later name in sort order: a guess at random to a reader
        close = []
    close = close[:1]
    # or the start of one name (cam: camera, shard: shard_size; 0.67)
    close = close or [k for k in folded if len(name) >= 3 and k.startswith(name)]
    return folded[close[0]] if len(close) == 1 else None


def _ratio(name: str, candidate: str) -> float:
    """The similarity `difflib.get_close_matches` ranks ``candidate`` by."""
    return difflib.SequenceMatcher(None, candidate, name).ratio()
