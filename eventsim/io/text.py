"""Event files in text: CSV (comma, tab or semicolon separated, ``#`` comment lines skipped)
with or without a header line, and exact decimal times; a CSV separated by semicolons or tabs may
write them with a decimal comma (``0,000123``), as spreadsheets in many locales do.

Times written as text (``0.000123``, ``1600000000.123456789``, ``1e-06``) are turned into
integer microseconds from their digits, rounded half to even: parsing them as float64 first
puts epoch times given to more than six places on the wrong microsecond near a half
(``1755187267.63696149`` s came out as ...962 µs, not ...961).
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eventsim.errors import ArgumentValueError, EventFileError, InvalidEventsError
from eventsim.events import empty_events
from eventsim.io.layouts import (
    TIME_UNITS,
    TIME_UNITS_EXPECTED,
    ArrayReader,
    KeptPolarity,
    build_events,
    polarity_01,
    resolve_sensor_size,
    unit_hint,
)

if TYPE_CHECKING:
    from _csv import Reader

# decimal places from a time unit to microseconds (ns: three places the other way)
_SHIFT = {"s": 6, "ms": 3, "us": 0, "ns": -3}
_INT64_MAX = np.iinfo(np.int64).max
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class _BadTime(Exception):
    """Row ``index`` of a time column is not a number, or too large for int64 µs."""

    def __init__(self, index: int, why: str) -> None:
        super().__init__(index, why)
        self.index = index
        self.why = why


# lines that hold no row of `table`: empty ones for a delimiter, blank ones for whitespace
_EMPTY_LINE = re.compile(rb"^\r?$", re.MULTILINE)
_BLANK_LINE = re.compile(rb"^[ \t\r]*$", re.MULTILINE)
# blank and '#' comment lines at the start of a file, and each comment's text
_LEADING = re.compile(rb"(?:\s*#[^\n]*)*\s*")
_COMMENT = re.compile(rb"^[ \t]*#([^\n]*)", re.MULTILINE)
# a line of blanks after the first (its newline leads, which the regex engine finds fast)
_SPACES_LINE = re.compile(rb"\n[ \t]+(?=\r?(?:\n|\Z))")
# a '#' comment line after the first (files pasted together, a footer)
_COMMENT_BELOW = re.compile(rb"\n[ \t]*#[^\n]*")


def lf_line_ends(raw: bytes) -> bytes:
    """``raw`` with the bare-CR line ends of old Mac text as LF, also among LF or CRLF ones
    (text pasted together): numpy's parser takes a CR alone for a newline inside a line and
    refuses the file."""
    if b"\r" not in raw:
        return raw
    if b"\n" not in raw:
        return raw.replace(b"\r", b"\n")
    if raw.count(b"\r") != raw.count(b"\r\n"):
        return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return raw


def read_text(
    path: Path, expected: str, header_comment: bool = False
) -> tuple[bytes, int, bytes | None]:
    """A text event file from its first line that is neither blank nor a ``#`` comment, UTF-8
    without a BOM, with LF line ends where it has only CR (`lf_line_ends`) and the comment lines
    below that line empty (`_comments_emptied`); the number of lines
    cut off before it; and the last comment line cut, without its ``#`` (None: none).
    `EventFileError` when it holds no such line (``expected`` says what it should hold), but
    with ``header_comment`` a last comment naming the four columns is then the file's only
    line (the header of a CSV of no events)."""
    raw = path.read_bytes()
    if raw.startswith(_UTF16_BOMS):
        # PowerShell 5's '>' and Excel's "Unicode text" write UTF-16, whose NULs made each
        # line look broken
        try:
            raw = raw.decode("utf-16").encode()
        except UnicodeDecodeError as exc:
            raise EventFileError(
                f"{str(path)!r} starts with a UTF-16 byte-order mark but is not UTF-16 text "
                f"({exc.reason} at byte {exc.start}); expected {expected}"
            ) from None
    raw = lf_line_ends(raw.removeprefix(_BOM))
    # many tools open with a comment ('# t x y p', '# width height'), which numpy's C
    # parser would take for data: only those at the top, so that data is never dropped
    m = _LEADING.match(raw)
    start = m.end() if m else 0
    comments = _COMMENT.findall(raw, 0, start)
    if start == len(raw):
        if header_comment and comments:
            last = comments[-1].strip()
            found = _separating(last)
            if len(found) == 1 and comment_columns(last, found[0]) is not None:
                # np.savetxt(header='t,x,y,p') of no events writes only '# t,x,y,p'
                return last, raw.count(b"\n", 0, raw.rfind(b"#", 0, start)), None
        only = "comment and blank lines" if comments else "blank lines"
        raise EventFileError(f"{str(path)!r} holds only {only}; expected {expected}")
    return (
        _comments_emptied(raw[start:]),
        raw.count(b"\n", 0, start),
        comments[-1] if comments else None,
    )


def _comments_emptied(raw: bytes) -> bytes:
    """``raw`` with each ``#`` comment line below its first line empty, so that the tables
    skip it as numpy's loadtxt does (a line starting with ``#`` is no event); the lines stay,
    for their numbers in messages."""
    if b"#" not in raw:
        return raw
    return _COMMENT_BELOW.sub(b"\n", raw)


def _blank_lines_emptied(raw: bytes) -> bytes:
    """``raw`` with each line of only spaces and tabs empty, so that a CSV's table skips it as
    it skips an empty line (with ',' for delimiter numpy reads it as one field). The lines stay,
    for their numbers in messages."""
    if b"\n " not in raw and b"\n\t" not in raw:
        return raw
    return _SPACES_LINE.sub(b"\n", raw)


@dataclass(frozen=True)
class TextLines:
    """Where the rows `table` reads from ``raw`` lie in the file, for error messages: `table`
    skips ``skip`` lines, then every line without data (``whitespace``: the delimiter is
    whitespace, so a line of blanks has none), and the caller cut ``lead`` lines off the
    file's start before ``raw``. With ``decimal_comma`` the rows' decimal commas were read as
    points (`_decimal_comma_rows`), and messages show them as the file writes them."""

    raw: bytes
    skip: int
    whitespace: bool = False
    lead: int = 0
    decimal_comma: bool = False

    def line(self, row: int) -> int:
        """The file's 1-based line number of data row ``row`` (0-based). Scans ``raw``, so
        only for a message: rows are counted without it."""
        line = row + 1 + self.skip
        number, pos = 1, 0
        pattern = _BLANK_LINE if self.whitespace else _EMPTY_LINE
        for m in pattern.finditer(self.raw):
            number += self.raw.count(b"\n", pos, m.start())
            pos = m.start()
            if number > line:
                break
            if number > self.skip:
                line += 1
        return self.lead + line


def _where(lines: TextLines | None, row: int) -> str:
    return f"data row {row + 1}" if lines is None else f"line {lines.line(row)}"


def _shown(lines: TextLines | None, value: bytes) -> str:
    """A value of the rows as the file writes it, for a message."""
    if lines is not None and lines.decimal_comma:
        # such rows held no point of their own (`_decimal_comma_rows`)
        value = value.replace(b".", b",")
    return repr(_text(value).strip())


def _text(value: bytes) -> str:
    # `read_text` gives UTF-8: as Latin-1 a full-width '１' was shown as 'ï¼\x91'
    return value.decode("utf-8", "replace")


def text_times_to_us(
    text: np.ndarray, unit: str, what: str, lines: TextLines | None = None
) -> np.ndarray:
    """Decimal numbers as bytes (one per event) in ``unit`` (a key of `TIME_UNITS`) to int64
    microseconds, rounded half to even from the digits. `EventFileError` names the first
    value that is not a number or does not fit, by its line in the file when ``lines`` says
    where the rows lie, else by its data row."""
    text = _stripped(text)
    try:
        return _to_int(text, _SHIFT[unit])
    except _BadTime as bad:
        raise EventFileError(
            f"{what}, {_where(lines, bad.index)}: time {_shown(lines, text[bad.index])} {bad.why}"
        ) from None


def _stripped(text: np.ndarray) -> np.ndarray:
    return np.char.strip(np.asarray(text, dtype=np.bytes_))


def _to_int(text: np.ndarray, shift: int) -> np.ndarray:
    out = np.empty(text.shape[0], np.int64)
    if not text.size:
        return out
    # numpy and Decimal read numbers as Python does, 1_0 as 10; a CSV reader takes no '_'
    under = np.flatnonzero(np.char.find(text, b"_") >= 0)
    if under.size:
        raise _BadTime(int(under[0]), "is not a number")
    sci = (np.char.find(text, b"e") >= 0) | (np.char.find(text, b"E") >= 0)
    plain = np.flatnonzero(~sci)
    if plain.size:
        try:
            # the common case, integers, without splitting the digits
            whole = text[plain].astype(np.int64)
        except (ValueError, OverflowError):
            out[plain] = _plain_to_int(text[plain], shift, plain)
        else:
            out[plain] = _scale_int(whole, shift, plain)
    for i in np.flatnonzero(sci):
        out[i] = _decimal_to_int(text[i], shift, int(i))
    return out


def _scale_int(whole: np.ndarray, shift: int, rows: np.ndarray) -> np.ndarray:
    # both signs apart: np.abs of int64's least value is that value, negative, so -2**63 s
    # passed the check and wrapped (to 0 us), and in ns came out positive
    if shift >= 0:
        factor = 10**shift
        limit = _INT64_MAX // factor
        if shift:
            big = np.flatnonzero((whole > limit) | (whole < -limit))
            if big.size:
                raise _BadTime(int(rows[big[0]]), "is too large for int64 microseconds")
        return whole * factor
    q, r = np.divmod(np.abs(whole).astype(np.uint64), np.uint64(10**-shift))
    half = 10**-shift // 2
    q += (r > half) | ((r == half) & (q % 2 == 1))
    return np.where(whole < 0, -q.astype(np.int64), q.astype(np.int64))


def _plain_to_int(text: np.ndarray, shift: int, rows: np.ndarray) -> np.ndarray:
    """``[+-]digits[.digits]`` texts times ``10**shift``, rounded half to even."""
    body = np.char.lstrip(text, b"+-")
    neg = np.char.startswith(text, b"-")
    parts = np.char.partition(body, b".")
    ip, fp = np.char.lstrip(parts[:, 0], b"0"), parts[:, 2]
    ok = np.char.str_len(text) - np.char.str_len(body) <= 1
    ok &= (np.char.isdigit(ip) | (ip == b"")) & (np.char.isdigit(fp) | (fp == b""))
    ok &= (parts[:, 0] != b"") | (fp != b"")
    if not ok.all():
        raise _BadTime(int(rows[np.argmin(ok)]), "is not a number")
    long = np.char.str_len(ip) > 19
    if long.any():
        raise _BadTime(int(rows[np.argmax(long)]), "is too large")
    # unsigned: the sum below reaches past int64 for a time just under its limit
    whole = np.where(ip == b"", b"0", ip).astype(np.uint64)
    # the fraction's digits as a matrix, padded with zeros to one digit past the last kept
    width = max(fp.dtype.itemsize, shift + 1, 1)
    digits = np.char.ljust(fp, width, b"0").view(np.uint8).reshape(-1, width).astype(np.int64)
    digits -= ord("0")
    if shift >= 0:
        factor = 10**shift
        big = np.flatnonzero(whole > _INT64_MAX // factor)
        if big.size:
            raise _BadTime(int(rows[big[0]]), "is too large for int64 microseconds")
        kept = digits[:, :shift] @ (10 ** np.arange(shift - 1, -1, -1, dtype=np.int64))
        mag = whole * np.uint64(factor) + kept.astype(np.uint64)
        first = digits[:, shift]
        rest = digits[:, shift + 1 :].any(axis=1)
    else:
        mag, r = np.divmod(whole, np.uint64(10**-shift))
        half = 10**-shift // 2
        # the remainder's leading digit against 5, the fraction as what follows it
        first = np.where(r == half, 5, np.where(r > half, 6, 0))
        rest = digits.any(axis=1)
    mag += (first > 5) | ((first == 5) & (rest | (mag % 2 == 1)))
    big = np.flatnonzero(mag > _INT64_MAX)
    if big.size:
        raise _BadTime(int(rows[big[0]]), "is too large for int64 microseconds")
    out = mag.astype(np.int64)
    return np.where(neg, -out, out)


def _decimal_to_int(value: bytes, shift: int, row: int) -> int:
    """One value in exponent notation (``1e-06``, as Python prints small floats)."""
    try:
        d = Decimal(value.decode("ascii"))
    except UnicodeDecodeError:
        raise _BadTime(row, "is not a number") from None
    except InvalidOperation:
        try:
            # an exponent beyond Decimal's (1e99999999999999999999): 0 or inf as a float
            tiny = float(value) == 0
        except ValueError:
            raise _BadTime(row, "is not a number") from None
        if tiny:
            return 0
        raise _BadTime(row, "is too large for int64 microseconds") from None
    if not d.is_finite():
        raise _BadTime(row, "is not a finite number")
    # the leading digit's power of ten in µs: below 0.1 µs the value rounds to 0, and
    # decimal's default context raised Overflow for 1e999999
    lead = d.adjusted() + shift
    if d.is_zero() or lead < -1:
        return 0
    if lead > 18:
        raise _BadTime(row, "is too large for int64 microseconds")
    with localcontext() as ctx:
        # every digit kept: the default 28 rounded 2.5000000000000000000000000000001e-6 s to
        # the tie 2.5 µs, which went to 2 µs, not 3
        ctx.prec = max(len(d.as_tuple().digits), 28)
        out = int(d.scaleb(shift).to_integral_value(rounding=ROUND_HALF_EVEN))
    if abs(out) > _INT64_MAX:
        raise _BadTime(row, "is too large for int64 microseconds")
    return out


def float_times_to_us(t: np.ndarray, unit: str) -> np.ndarray | None:
    """Times parsed from text as float64 (each the double nearest its digits) in ``unit`` to
    int64 µs, when that is provably what the digits give; else None, and the caller converts
    the text (`text_times_to_us`).

    If ``t`` is also the double nearest a whole number ``k`` of microseconds, the digits and
    ``k`` both lie within one double spacing of ``t``; with that spacing under 0.5 µs the
    digits round to ``k``. So every time that is a whole µs, written with any number of
    places (``0.003811000``), in seconds below 2**32 (the year 2106) takes this path.
    """
    shift = _SHIFT[unit]
    if shift < 0:
        # ns: a time near a tie (2500.0000000001) parses as the tie itself
        return None
    scale = float(10**shift)
    with np.errstate(invalid="ignore", over="ignore"):
        k = np.rint(t * scale)
        exact = (k / scale == t) & (np.spacing(np.abs(t)) * scale < 0.5)
    return k.astype(np.int64) if exact.all() else None


#: how a reader's note begins when times given in µs or ns had fractions, or in ms fractions
#: of a µs, and rounding them to whole µs merged most of them: times in seconds read with
#: ``time_unit='us'`` end up a handful of distinct times. ``eventsim convert``, ``render`` and
#: ``plot`` refuse such a file unless told ``--allow-implausible-times``
MERGED_TIMES_NOTE = "times merged by rounding"
# the units whose times `merged_times_note` looks at. Not seconds: their fractions hold µs and
# float noise alike, and times of a smaller unit read as seconds span years, which
# `eventsim.cli.common.why_implausible` refuses
_MERGING_UNITS = ("us", "ns", "ms")


def merged_times_note(t: np.ndarray, t_us: np.ndarray, unit: str) -> str | None:
    """The note (`MERGED_TIMES_NOTE`) for times ``t`` given in ``unit`` and read as ``t_us``,
    when ``t`` has fractions of its unit (µs, ns), or of a microsecond (ms), and rounding left
    at most a tenth of its distinct values; None otherwise. It names the larger unit that keeps
    the most of them apart."""
    if unit not in _MERGING_UNITS or t.dtype.kind != "f" or not t.size:
        return None
    with np.errstate(invalid="ignore", over="ignore"):
        if unit == "ms":
            # ms have µs in their fractions; seconds read as ms have finer ones. Within two
            # ulps of a whole µs is the product's own rounding (0.001 ms * 1000)
            scaled = t * 1e3
            has_fraction = np.abs(scaled - np.rint(scaled)) > 2 * np.spacing(np.abs(scaled))
        else:
            has_fraction = t != np.rint(t)
    n_fractions = int(np.count_nonzero(has_fraction))
    if not n_fractions:
        return None
    given = _distinct(t)
    kept = _distinct(t_us)
    # fractions of a ns (or µs) that fall together now and then are a sub-µs rounding, and so
    # are a simulator's sub-µs times at a few Mev/s (4 distinct times a µs at 4 Mev/s); a wrong
    # unit merges more into each µs: seconds as many as the recording has events a second, ms
    # a thousandth of that
    if 10 * kept > given:
        return None
    larger = [u for u in ("us", "ms", "s") if _SHIFT[u] > _SHIFT[unit]]
    with np.errstate(invalid="ignore", over="ignore"):
        apart = {u: _distinct(np.rint(t * 10.0 ** _SHIFT[u])) for u in larger}
    likely = max(larger, key=lambda u: (apart[u], -_SHIFT[u]))
    fractions = "fractions of a microsecond" if unit == "ms" else "fractions"
    return (
        f"{MERGED_TIMES_NOTE}: {n_fractions:,} of the times given in {TIME_UNITS[unit]} "
        f"have {fractions} (such as {float(t[np.argmax(has_fraction)])!r}), and rounded to whole "
        f"microseconds their {given:,} distinct values became {kept:,}; they are likely in "
        f"{TIME_UNITS[likely]}: pass time_unit={likely!r}"
    )


def _distinct(a: np.ndarray) -> int:
    """How many distinct values ``a`` holds. Not np.unique: it hashes integers, which took 9 s
    for 10 M event times (a sort takes 0.2 s), and times are mostly in order, needing none."""
    if a.size > 1 and not np.all(a[1:] >= a[:-1]):
        a = np.sort(a)
    return int(a.size and 1 + np.count_nonzero(a[1:] != a[:-1]))


def has_fraction(text: np.ndarray) -> bool:
    """Whether any of the numbers (bytes) has a non-zero fractional part; texts that are not
    numbers count as whole (their conversion names them)."""
    text = _stripped(text)
    sci = (np.char.find(text, b"e") >= 0) | (np.char.find(text, b"E") >= 0)
    plain = text[~sci]
    if plain.size and np.any(np.char.rstrip(np.char.partition(plain, b".")[:, 2], b"0") != b""):
        return True
    for value in text[sci]:
        try:
            d = Decimal(value.decode("ascii"))
        except (InvalidOperation, UnicodeDecodeError):
            continue
        if d.is_finite() and d != d.to_integral_value():
            return True
    return False


def is_decimal_notation(text: np.ndarray) -> bool:
    """Whether any number is written with a decimal point or an exponent."""
    text = np.asarray(text, dtype=np.bytes_)
    return bool(
        text.size
        and np.any(
            (np.char.find(text, b".") >= 0)
            | (np.char.find(text, b"e") >= 0)
            | (np.char.find(text, b"E") >= 0)
        )
    )


# -- CSV -----------------------------------------------------------------------------------------
# names a CSV header gives each event column (lower case, a faery ``@size`` suffix removed)
_CSV_NAMES = {
    "t": ("t", "ts", "timestamp", "time"),
    "x": ("x",),
    "y": ("y",),
    "p": ("p", "on", "polarity", "pol", "ps"),
}
_UNIT_WORDS = {
    "s": ("s", "sec", "secs", "second", "seconds"),
    "ms": ("ms", "msec", "millisecond", "milliseconds"),
    "us": ("us", "µs", "μs", "usec", "microsecond", "microseconds"),
    "ns": ("ns", "nsec", "nanosecond", "nanoseconds"),
}
_UNIT_OF_WORD = {word: unit for unit, words in _UNIT_WORDS.items() for word in words}
# a time column's name with its unit: t_us, timestamp_s, t[us], time (ms)
_TIMED_NAME = re.compile(
    r"(?P<name>" + "|".join(_CSV_NAMES["t"]) + r")"
    r"(?:[\s_-]+|\s*[\[(])\s*(?P<unit>" + "|".join(_UNIT_OF_WORD) + r")\s*[\])]?"
)
# a number with a decimal comma, digits on both sides (in '5, 1, 2, 1' the commas separate)
_DECIMAL_COMMA = re.compile(rb"[+-]?[0-9]+,[0-9]+(?:[eE][+-]?[0-9]+)?")
# a field of whitespace-separated text whose comma is a decimal mark and no thousands group:
# none of 1 to 3 digits without a leading 0, a comma and 3 digits (1,234; -12,000)
_SETTLED_COMMA = re.compile(
    rb"(?<!\S)(?![+-]?[1-9][0-9]{0,2},[0-9]{3}(?!\S))[+-]?[0-9]+,[0-9]+(?:[eE][+-]?[0-9]+)?(?!\S)"
)
# a field of whitespace-separated text whose commas group thousands, more than one of them
_THOUSANDS = re.compile(rb"(?<!\S)[+-]?[1-9][0-9]{0,2}(?:,[0-9]{3}){2,}(?!\S)")
# a comma of rpg text that no time holds: one after a line's first field, or a second one in it
_COMMA_OFF_TIME = re.compile(rb"(?m)^[ \t]*(?:\S+[ \t]+[^\n]*,|[^\s,]*,[^\s,]*,)")
# what may separate a CSV's fields, by name
_DELIMITERS = {b",": "comma", b"\t": "tab", b";": "semicolon"}
_ACCEPTED_TIMES = (
    "integer microseconds (123), seconds with a fractional part (0.000123, 1.23e-04), or any "
    "unit named in the header (t_us, t_ms, t_s, t_ns, or 't [s]')"
)


def is_number(cell: bytes) -> bool:
    """Whether ``cell`` is a number as a CSV reader takes one (Python's float, without ``_``)."""
    if b"_" in cell:
        # Python's float() takes 1_0 for 10; other CSV readers do not
        return False
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _is_decimal_comma(cell: bytes) -> bool:
    """Whether ``cell`` is a number written with a decimal comma (``0,5``, ``1,5E-03``)."""
    return _DECIMAL_COMMA.fullmatch(cell) is not None


def _is_number_at(cell: bytes, delim: bytes) -> bool:
    """Whether ``cell`` is a number in a CSV separated by ``delim``: with a decimal comma too
    where that is not a comma."""
    return is_number(cell) or (delim != b"," and _is_decimal_comma(cell))


def decimal_comma_lines(
    raw: bytes,
    path: Path | None = None,
    lead: int = 0,
    time_unit: str | None = None,
    notes: list[str] | None = None,
) -> bool:
    """Whether whitespace-separated text ``raw`` writes its numbers with decimal commas
    (``0,5 1 2 1``): its first line holding a comma holds 4 values, each comma among them a
    decimal mark. Lines before it tell nothing: C's printf in such a locale writes a first
    time of zero as ``0``. Commas that separate values (``0.5,1,2,1``, ``5, 1, 2, 1``) leave
    no such line. `EventFileError` (naming ``path``, ``lead`` lines cut off its start before
    ``raw``) when every comma of the file may group thousands as well (``1,234``; none
    `_SETTLED_COMMA`): read as decimal marks, 1234 µs came out as 1.234 s. Where each such
    comma is in a time, times in seconds (``time_unit``) settle it, with a note in ``notes``,
    as they do a CSV's (`_decimal_comma_rows`): grouped, each time would be a whole second,
    1,000 s or more; other units leave it refused, the refusal then naming ``time_unit='s'``."""
    at = raw.find(b",")
    if at < 0:
        return False
    end = raw.find(b"\n", at)
    start = raw.rfind(b"\n", 0, at) + 1
    fields = raw[start : len(raw) if end < 0 else end].split()
    if len(fields) != 4 or not all(_is_decimal_comma(f) for f in fields if b"," in f):
        return False
    if _SETTLED_COMMA.search(raw, start) is not None:
        return True
    where = "rpg text" if path is None else f"{str(path)!r}"
    grouped = _THOUSANDS.search(raw, start)
    if grouped is not None:
        # 1,234,567 holds no decimal comma: the file's commas group thousands
        shown = grouped[0].decode()
        line = lead + raw.count(b"\n", 0, grouped.start()) + 1
        raise EventFileError(
            f"{where}, line {line}: {shown!r} "
            "groups its thousands with commas, and so may each comma of the file; expected "
            f"numbers without thousands separators ({shown.replace(',', '')})"
        )
    in_times = _COMMA_OFF_TIME.search(raw) is None
    if in_times and time_unit == "s":
        if notes is not None:
            notes.append(
                "rpg text's commas taken for decimal marks, not thousands separators: its times "
                "are in seconds, and grouped, each would be a whole second"
            )
        return True
    col, shown = next((i, f.decode()) for i, f in enumerate(fields) if b"," in f)
    line = lead + raw.count(b"\n", 0, at) + 1
    raise EventFileError(
        f"{where} column {'txyp'[col]}, line {line}: "
        f"{shown!r} may be a number with a decimal comma ({shown.replace(',', '.')}) or with "
        f"its thousands grouped ({shown.replace(',', '')}), and so may each comma of the "
        "file; expected numbers without thousands separators; if the commas are decimal "
        "marks, write them as points"
        + (", or, for times in seconds, pass time_unit='s'" if in_times else "")
    )


def _separating(line: bytes) -> list[bytes]:
    """Those of comma, tab and semicolon that may separate the fields of a CSV's first line
    ``line``: each that separates 4 or more fields there; of several, the one that alone
    splits it as a first line is split, a header naming t, x, y and p or data whose first four
    fields are numbers or a True/False polarity (a text field after them may hold another
    delimiter: a label 'a;b;c;d', written so by pandas)."""
    found = [d for d in _DELIMITERS if line.count(d) >= 3]
    if len(found) == 2 and b"\t" in found:
        # tabs that only pad fields (1,\t2,\t3,\t1) separate nothing
        other = found[1 - found.index(b"\t")]
        if all(b"\t" not in cell.strip() for cell in line.split(other)):
            return [other]
    if len(found) > 1:
        fitting = [d for d in found if _splits_first_line(line, d)]
        if len(fitting) == 1:
            return fitting
    return found


def _splits_first_line(line: bytes, delim: bytes) -> bool:
    cells = [c.strip().strip(b'"') for c in _cells(line, delim)]
    if len(cells) >= 4 and all(_is_number_at(c, delim) for c in cells[:3]):
        return _is_number_at(cells[3], delim) or cells[3].lower() in (b"true", b"false")
    return _named_columns(_names(cells)) is not None


def delimiter(path: Path, line: bytes, number: int) -> bytes:
    """The delimiter of a CSV whose first line (line ``number`` of the file) is ``line``: the
    one of comma, tab and semicolon that separates 4 or more fields there (`_separating`; else
    the most frequent, comma for none, for messages to count fields by). `EventFileError` when
    several do: which one splits the values is a guess."""
    counts = {d: line.count(d) for d in _DELIMITERS}
    found = _separating(line)
    if len(found) > 1:
        held = " and ".join(f"{counts[d]} {_DELIMITERS[d]}s" for d in found)
        raise EventFileError(
            f"{str(path)!r}, line {number}: {line[:80].decode('utf-8', 'replace')!r} holds "
            f"{held}; expected one of comma, tab or semicolon between fields"
        )
    if found:
        return found[0]
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else b","


def _cells(line: bytes, delim: bytes) -> list[bytes]:
    # a trailing delimiter ends each line in some writers' output
    return line.rstrip(delim + b" \t").split(delim)


def _is_header(path: Path, first: bytes, delim: bytes) -> bool:
    """Whether the first line names columns: none of its fields is a number. A line of some
    numbers and some not is data with a bad value (``0x10,2,3,1``, ``1,2,3,True``), which the
    conversion names; taken for a header, that event was dropped without a word."""
    cells = _cells(first, delim)
    numbers = sum(_is_number_at(c.strip().strip(b'"'), delim) for c in cells)
    if numbers:
        return False
    if len(cells) < 4:
        raise EventFileError(
            f"{str(path)!r} is not a CSV of events t,x,y,p: its first line "
            f"{first[:80].decode('utf-8', 'replace')!r} holds {len(cells)} "
            f"{_DELIMITERS[delim]}-separated field{'s' if len(cells) > 1 else ''}; expected 4 "
            "or more (fields separated by commas, tabs or semicolons)"
        )
    return True


def looks_like_csv_header(line: bytes) -> bool:
    """Whether ``line`` is a CSV header the CSV layout reads: 4 or more fields separated by
    one of comma, tab and semicolon, none a number, naming the four columns."""
    found = _separating(line.strip())
    if len(found) != 1:
        return False
    cells = _cells(line.strip(), found[0])
    if any(is_number(c.strip().strip(b'"')) for c in cells):
        return False
    return _named_columns(_names(cells)) is not None


def comment_columns(comment: bytes, delim: bytes | None) -> list[bytes] | None:
    """The names of a comment line (its text after ``#``) that names the four columns (``t x
    y p``, ``x,y,p,t``), split at ``delim`` where it holds 3 or more, else at blanks and
    commas; None for another comment (``width height``, ``recorded 2024-01-01``)."""
    text = comment.strip()
    if delim is not None and text.count(delim) >= 3:
        cells = _cells(text, delim)
    else:
        cells = text.replace(b",", b" ").split()
    names = _names(cells)
    return cells if _named_columns(names) is not None else None


def column_index(cells: list[bytes]) -> dict[str, int] | None:
    """The column of each of t, x, y, p that header ``cells`` name, None unless all four."""
    return _named_columns(_names(cells))


def _names(cells: list[bytes]) -> list[str]:
    """Header fields as text: UTF-8, else Windows-1252, as Excel saves a CSV in a Western
    locale (read as UTF-8, the 'µ' of its 't [µs]' was lost, and the times with it read as
    seconds)."""
    names = []
    for cell in cells:
        try:
            names.append(cell.decode("utf-8"))
        except UnicodeDecodeError:
            names.append(cell.decode("cp1252", "replace"))
    return names


def _named_columns(fields: list[str]) -> dict[str, int] | None:
    """The column of each of t, x, y, p that header ``fields`` name, None unless all four."""
    names = [_field_name(f)[0] for f in fields]
    found = {
        key: next((i for i, n in enumerate(names) if n in aliases), None)
        for key, aliases in _CSV_NAMES.items()
    }
    found["t"] = next((i for i, n in enumerate(names) if _time_name(n) is not None), None)
    if any(i is None for i in found.values()):
        return None
    return {key: int(i) for key, i in found.items() if i is not None}


def _field_name(field: str) -> tuple[str, str]:
    """A header field's name (lower case, unquoted) and what follows an ``@`` (a size)."""
    name, _, size = field.partition("@")
    return name.strip().strip("\"'").lower(), size


def bool_words(column: np.ndarray, notes: list[str], what: str) -> np.ndarray | None:
    """A polarity column of True/False (pandas writes a bool column so) as 1/0, else None."""
    words = np.char.lower(np.char.strip(column))
    true = words == b"true"
    if not np.all(true | (words == b"false")):
        return None
    notes.append(f"polarity True/False in {what} read as 1/0")
    return true.astype(np.int8)


def _time_name(name: str) -> str | None:
    """The unit a header's time column names (``t_us`` -> ``us``), ``""`` for a time column
    without one, None for another column."""
    if name in _CSV_NAMES["t"]:
        return ""
    m = _TIMED_NAME.fullmatch(name)
    return _UNIT_OF_WORD[m["unit"]] if m else None


def _csv_header(
    path: Path, cells: list[bytes]
) -> tuple[dict[str, int], str | None, tuple[int, int] | None, list[str]]:
    """From a header line's fields: the column of each of t, x, y, p, the unit its time
    column's name gives, the sensor size written as ``x@W,y@H`` (faery's CSV writer), and
    notes."""
    index = {"t": 0, "x": 1, "y": 2, "p": 3}
    fields = _names(cells)
    sizes = {}
    names = []
    for fld in fields:
        name, size = _field_name(fld)
        names.append(name)
        if size.strip().isdigit():
            sizes[name] = int(size)
    file_size = (sizes["x"], sizes["y"]) if "x" in sizes and "y" in sizes else None
    units = [_time_name(n) for n in names]
    found: dict[str, int | None] = {
        key: next((i for i, n in enumerate(names) if n in aliases), None)
        for key, aliases in _CSV_NAMES.items()
    }
    found["t"] = next((i for i, u in enumerate(units) if u is not None), None)
    notes: list[str] = []
    named = _named_columns(fields)
    if named is not None:
        # another tool's order (Metavision writes x,y,p,t): read it as named
        index = named
        if index != {"t": 0, "x": 1, "y": 2, "p": 3}:
            order = ",".join(sorted(index, key=index.__getitem__))
            notes.append(f"CSV columns read in the header's order ({order})")
    elif any(i is not None and i != index[key] for key, i in found.items()):
        raise EventFileError(
            f"{str(path)!r}: the CSV header {','.join(fields)[:80]!r} "
            "names columns in another order than t,x,y,p but not all four "
            f"(t: {' / '.join(_CSV_NAMES['t'])}; p: {' / '.join(_CSV_NAMES['p'])}); "
            "name them so, or write them as t,x,y,p"
        )
    unit = units[index["t"]] if index["t"] < len(units) else None
    return index, unit or None, file_size, notes


def _numbers(column: np.ndarray, what: str, lines: TextLines) -> np.ndarray:
    # numpy converts text as Python does, which takes 1_0 for 10 (`is_number`)
    if not np.any(np.char.find(column, b"_") >= 0):
        try:
            return column.astype(np.int64)
        except (ValueError, OverflowError):
            pass
        try:
            # written as floats (1.0) by some tools; build_events refuses fractional coordinates
            return column.astype(np.float64)
        except ValueError:
            pass
    bad = next(i for i, v in enumerate(column) if not is_number(v))
    raise EventFileError(
        f"{what}, {_where(lines, bad)}: {_shown(lines, column[bad])} is not a number"
    )


def row_shown(
    raw: bytes, header: bool, cols: list[int], delim: str | None, lines: TextLines, what: str
) -> Callable[[str, int], str]:
    """For `build_events`: data row ``row``'s value in column x or y as the file writes it,
    and its line (``'1e20' at line 3 of 'ev.csv'``). Reads that column's text again, so only
    for a message."""

    def shown(name: str, row: int) -> str:
        column = table(raw, header, [cols["txyp".index(name)]], np.bytes_, delim)[:, 0]
        return f"{_shown(lines, column[row])} at {_where(lines, row)} of {what}"

    return shown


def _refuse_unclosed_quote(path: Path, raw: bytes, delim: bytes, lead: int) -> None:
    """`EventFileError` for a field that opens with a quote no quote closes while lines with
    values follow: the table reads it to the end of the file as one field, and the rows below
    with it (a label '"abc' took every event after it without a word). Quoted fields are
    followed as a CSV reader does (a quote opens one only at a field's start, ``""`` inside
    is a quote): counting quotes took ``"a""`` for closed and a quote inside a field for
    opening one."""
    if b'"' not in raw or _quotes_pair(raw, delim):
        return
    d = re.escape(delim)
    # a quote at a field's start, with the quoted text that closes it where one does
    opening = re.compile(rb'(?:(?<=[\n%s])|\A)"(?:[^"]*(?:""[^"]*)*"(?!"))?' % d)
    at = next((m.start() for m in opening.finditer(raw) if m.end() - m.start() == 1), None)
    if at is None:
        return
    below = raw.find(b"\n", at)
    if below < 0 or _ONLY_SPACE.fullmatch(raw, below):
        return
    shown = _text(raw[at:below].rstrip(b"\r")[:40])
    line = lead + raw.count(b"\n", 0, at) + 1
    raise EventFileError(
        f"{str(path)!r}, line {line}: a field opens with a quote that no quote closes "
        f"({shown!r}), so every line below it would be read as part of that field; expected "
        "a quote that closes it, or none at its start"
    )


def _quotes_pair(raw: bytes, delim: bytes) -> bool:
    """Whether, past its ``""``, every other quote of ``raw`` stands at a field's start and so
    opens a field that the next one closes: no field is left open. Checked by numpy, where
    `_refuse_unclosed_quote` follows the quoted fields one match at a time: a file of quoted
    fields (QUOTE_ALL) took 5 times as long to read. A ``""`` changes no field's openness: a
    quote inside a quoted field, an empty one, or two in an unquoted one."""
    text = np.frombuffer(raw.replace(b'""', b""), np.uint8)
    quotes = np.flatnonzero(text == ord('"'))
    if quotes.size % 2:
        return False
    opening = quotes[::2]
    before = text[opening[opening > 0] - 1]
    return bool(np.all((before == ord("\n")) | (before == delim[0])))


def _csv_rows(raw: bytes, delim: bytes) -> Reader:
    """The rows of ``raw`` as a CSV reader splits them (a quoted field may hold the delimiter
    or line ends; its ``line_num`` tells where a row ends)."""
    text = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="replace", newline="")
    return csv.reader(text, delimiter=delim.decode())


def _number_past(row: list[str], fields: int, delim: bytes) -> str | None:
    """The first field of ``row`` past its first ``fields`` that is a number, stripped; None
    when there is none."""
    return next((c.strip() for c in row[fields:] if _is_number_at(c.strip().encode(), delim)), None)


def _refuse_long_rows(
    path: Path,
    raw: bytes,
    header: bool,
    fields: int,
    given: str,
    delim: bytes,
    lead: int,
    rows: int,
) -> None:
    """`EventFileError` for a data line with a number in a field past the ``fields`` that
    ``given`` says its lines hold (``the header names 4``): the table reads the columns it
    names and drops the rest, so in Metavision's ``5,6,1,1,234`` (x,y,p,t with 1,234 µs) t
    read 1. Empty fields past them (a trailing delimiter) and text (a label holding the
    delimiter unquoted) pass. Scans the lines only where the file holds more delimiters than
    ``rows`` lines of its first data line's would: a file of such lines pays a count."""
    if not rows:
        return
    start = raw.find(b"\n") + 1 if header else 0
    end = raw.find(b"\n", start)
    first = raw[start : len(raw) if end < 0 else end].rstrip(b"\r").split(delim)
    per_line = fields - 1
    if len(first) > fields and not any(c.strip() for c in first[fields:]):
        per_line = len(first) - 1
    if raw.count(delim, start) <= per_line * rows:
        return
    reader = _csv_rows(raw, delim)
    line = 0
    try:
        for row in reader:
            # a quoted field may hold line ends: the row starts on the line after the last one's
            number, line = line + 1, reader.line_num
            extra = _number_past(row, fields, delim)
            if extra is not None:
                break
        else:
            return
    except csv.Error:
        # a quoted field past csv's limit (128 KiB): the table read it, so nothing to name
        return
    name = _DELIMITERS[delim]
    raise EventFileError(
        f"{str(path)!r}, line {lead + number}: {delim.decode().join(row)[:80]!r} holds "
        f"{len(row)} {name}-separated fields, where {given}, and a field past them "
        f"({extra!r}) is a number: the fields may stand shifted, as a number written with its "
        f"thousands grouped (1,234) splits in two; expected {fields} fields, numbers without "
        f"thousands separators, and a label holding a {name} in quotes"
    )


def _refuse_long_first_line(path: Path, raw: bytes, delim: bytes, lead: int) -> None:
    """`EventFileError` for a CSV without a header whose first line holds more fields than the
    data line below it, a number among the extra ones: that line alone told how many fields
    each line holds, so its extra number was dropped without a word, and a number past the
    named fields on the lines below went unseen (`_refuse_long_rows`). Fields as a CSV reader
    splits them (quoted ones may hold the delimiter), empty ones counted: pandas writes a column
    of a number, then NaN, as ``0,1,2,1,5`` over ``1,2,3,0,``, 5 fields each. A delimiter that
    ends both lines, as some writers end every line, ends no field."""
    reader = _csv_rows(raw, delim)
    try:
        first = next(reader, [])
        # a quoted field may hold line ends: a row starts on the line after the last one's
        number, below = reader.line_num, None
        for row in reader:
            if any(c.strip() for c in row):
                below = row
                break
            number = reader.line_num
    except csv.Error:
        # a quoted field past csv's limit (128 KiB): the table names what is wrong
        return
    if below is None:
        return
    if not first[-1].strip() and not below[-1].strip():
        first, below = first[:-1], below[:-1]
    if len(first) <= len(below) or len(below) < 4:
        return
    extra = _number_past(first, len(below), delim)
    if extra is None:
        return
    name = _DELIMITERS[delim]
    shown = delim.decode().join(first)[:80]
    raise EventFileError(
        f"{str(path)!r}, line {lead + 1}: {shown!r} holds {len(first)} {name}-separated fields, "
        f"line {lead + number + 1} below it {len(below)}, and a field of line {lead + 1} past "
        f"those {len(below)} ({extra!r}) is a number, which would be dropped (without a header "
        "line the first line tells how many fields each line holds); expected the same number "
        "of fields on every line"
    )


def _short_line(raw: bytes, header: bool, fields: int, lead: int, delim: bytes) -> str | None:
    """Where the first data line with fewer than ``fields`` fields separated by ``delim`` is
    (``lead`` lines were cut off the file's start), and what it holds; None when there is none
    (the table failed otherwise)."""
    d = re.escape(delim)
    short = re.compile(
        rb"^(?!\r?$)[^%s\n]*(?:%s[^%s\n]*){0,%d}$" % (d, d, d, fields - 2), re.MULTILINE
    )
    m = short.search(raw, raw.find(b"\n") + 1 if header else 0)
    if m is None:
        return None
    text = m[0].strip(b" \r\n")
    number = lead + raw.count(b"\n", 0, m.start()) + 1
    return (
        f"line {number} holds {text.count(delim) + 1} {_DELIMITERS[delim]}-separated "
        f"field{'s' if delim in text else ''} "
        f"({text[:80].decode('utf-8', 'replace')!r}); expected {fields}"
    )


def table(
    raw: bytes, header: bool, cols: list[int] | None, dtype: type, delimiter: str | None = ","
) -> np.ndarray:
    """The ``cols`` (all for None) of the text table ``raw`` as a 2-D array of ``dtype``, by
    numpy's C parser; ``delimiter`` None splits at whitespace. A ``"``-quoted field is read
    without its quotes (csv.writer with QUOTE_ALL). Raises ValueError."""
    with warnings.catch_warnings():
        # loadtxt warns of blank lines and of a file with no rows; both are fine here
        warnings.simplefilter("ignore", UserWarning)
        return np.loadtxt(
            io.BytesIO(raw),
            delimiter=delimiter,
            dtype=dtype,
            skiprows=int(header),
            usecols=cols,
            ndmin=2,
            comments=None,
            quotechar=None if delimiter is None else '"',
        )


def _decimal_comma_rows(
    raw: bytes,
    header: bool,
    cols: list[int],
    delim: bytes,
    lines: TextLines,
    what: str,
    unit: str | None,
    notes: list[str],
) -> np.ndarray | None:
    """The ``cols`` as text with their decimal commas as points, when a CSV separated by
    semicolons or tabs writes its numbers so (a spreadsheet in a decimal-comma locale:
    ``0,5;1;2;1``); None when none of those fields holds a comma (one in another column, a
    label, marks no decimal). `EventFileError` for a field whose comma is no decimal mark, and
    for a file that writes points too: beside decimal commas a point groups thousands
    (``1.500`` for 1500), so which of them each number means is a guess. Where every comma may
    group thousands as well (``1,234``), times in seconds (``unit``, as the header or the
    caller names it) settle it, with a note in ``notes``; else `EventFileError`."""
    if delim == b"," or b"," not in (raw[raw.find(b"\n") + 1 :] if header else raw):
        return None
    try:
        rows = _stripped(table(raw, header, cols, np.bytes_, delim.decode()))
    except ValueError:
        # the caller's tables name what is wrong
        return None
    comma = np.char.find(rows, b",") >= 0
    if not comma.any():
        return None
    cells = rows[comma]
    fixed = np.char.replace(cells, b",", b".")
    # digits on both sides of the one comma, then an optional exponent (`_DECIMAL_COMMA`)
    whole, _, fraction = np.moveaxis(np.char.partition(cells, b","), -1, 0)
    digits, e, _ = np.moveaxis(np.char.partition(np.char.lower(fraction), b"e"), -1, 0)
    unsigned = np.char.lstrip(whole, b"+-")
    ok = np.char.isdigit(unsigned) & np.char.isdigit(digits)
    ok &= np.char.str_len(whole) - np.char.str_len(unsigned) <= 1
    for i in np.flatnonzero(ok & (e != b"")):
        ok[i] = _is_decimal_comma(cells[i])
    if not ok.all():
        row, col = np.argwhere(comma)[np.argmin(ok)]
        raise EventFileError(
            f"{what} column {'txyp'[col]}, {_where(lines, int(row))}: "
            f"{_text(rows[row, col])!r} is not a number, nor one with a decimal "
            "comma (0,5)"
        )
    grouped = np.char.str_len(unsigned) <= 3
    grouped &= ~np.char.startswith(unsigned, b"0") & (np.char.str_len(digits) == 3) & (e == b"")
    only_times = not comma[:, 1:].any()
    if grouped.all() and only_times and unit == "s":
        # grouped, each time would be a whole second, 1,000 s or more: no event camera's
        notes.append(
            "the CSV's commas taken for decimal marks, not thousands separators: its times "
            "are in seconds, and grouped, each would be a whole second"
        )
    elif grouped.all():
        # every comma may group thousands as well (a US locale's 1,234 µs for 1234): read as a
        # decimal mark, such a file's times came out 1000 times too late, in seconds
        row, col = np.argwhere(comma)[0]
        shown = _text(rows[row, col])
        seconds = (
            ", or, for times in seconds, pass time_unit='s' or name the time column 't [s]'"
            if only_times
            else ""
        )
        raise EventFileError(
            f"{what} column {'txyp'[col]}, {_where(lines, int(row))}: {shown!r} may be a "
            f"number with a decimal comma ({shown.replace(',', '.')}) or with its thousands "
            f"grouped ({shown.replace(',', '')}), and so may each comma of the file; expected "
            "numbers without thousands separators; if the commas are decimal marks, write them "
            f"as points{seconds}"
        )
    point = np.argwhere(np.char.find(rows, b".") >= 0)
    if point.size:
        (row, col), (crow, ccol) = point[0], np.argwhere(comma)[0]
        raise EventFileError(
            f"{what} writes numbers with decimal commas ({_where(lines, int(crow))}: "
            f"{_text(rows[crow, ccol])!r}) and with points ({_where(lines, int(row))}: "
            f"{_text(rows[row, col])!r}), where a point may group thousands; expected "
            "one decimal mark in the columns t, x, y and p"
        )
    rows[comma] = fixed
    return rows


def _integer_table(raw: bytes, header: bool, cols: list[int], delim: str) -> np.ndarray | None:
    """The columns as int64, or None when a field is not an integer. Then the caller reads
    text and converts it digit by digit, which takes some 7x the time of numpy's C parser on
    the common file, integers only."""
    try:
        return table(raw, header, cols, np.int64, delim)
    except (ValueError, OverflowError):
        return None


def _exact_float_table(
    raw: bytes, header: bool, cols: list[int], unit: str | None, delim: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """The columns as float64 and the times in µs, when float64 gives each time's digits
    exactly (`float_times_to_us`) and the unit is named or, for seconds, shown by a
    fraction. Else None, and the caller reads text: a field that is no float, whole numbers
    (``1234`` or ``1234.0``: only the text tells), a time beyond float64's reach. The text
    path, every field as bytes, peaks at some 2.4x the memory (500k events: 111 MB, 47 here)."""
    try:
        rows = table(raw, header, cols, np.float64, delim)
    except ValueError:
        return None
    t = rows[:, 0]
    if not t.size:
        return None
    if unit is None:
        if np.all(t == np.rint(t)):
            return None
        unit = "s"
    t_us = float_times_to_us(t, unit)
    return None if t_us is None else (rows, t_us)


_GEOMETRY = re.compile(rb"%geometry:[ \t]*([0-9]+)[ \t]*,[ \t]*([0-9]+)[ \t\r]*")
# fullmatch from a place: whether the rest is blank, without a copy of the rest (a 1 GB file's)
_ONLY_SPACE = re.compile(rb"\s*")


def _metavision_lines(
    path: Path, raw: bytes, lead: int
) -> tuple[bytes, int, tuple[int, int] | None]:
    """``raw`` past the ``%`` lines that open a CSV of Metavision's writer, and the number of
    lines then cut off the file's start; the width and height of its ``%geometry:W,H`` line
    (None: none). Its rows are ``x,y,p,t`` without a header line."""
    size = None
    pos = 0
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end
        if raw.startswith(b"%", pos):
            m = _GEOMETRY.fullmatch(raw, pos, end)
            if m is not None:
                size = (int(m[1]), int(m[2]))
        elif not pos or raw[pos:end].strip():
            break
        # a blank line below the '%' lines (or a '#' one, `read_text` left it empty) was
        # taken for the first row, a line of one field
        pos = end + 1
        lead += 1
    if pos and size is None and _ONLY_SPACE.fullmatch(raw, pos):
        # without the geometry nothing says these are an event file's lines
        raise EventFileError(
            f"{str(path)!r} holds only '%' lines (Metavision's header); expected rows of events "
            "x,y,p,t after them"
        )
    return raw[pos:], lead, size


def polarity_by_line(
    p: np.ndarray,
    what: str,
    notes: list[str],
    check: bool,
    shown: Callable[[str, int], str],
    hint: str = "",
) -> tuple[np.ndarray, KeptPolarity | None]:
    """`polarity_01` of a text file's p column, ``hint`` ending its refusal. A polarity that is
    no finite number is named as written, by its line (``shown``, as `row_shown` gives it):
    `polarity_01` named it by its index among the rows. Without ``check``, the refusal is kept
    in the same words (`KeptPolarity`)."""
    nonfinite = None
    if p.dtype.kind == "f" and not np.all(np.isfinite(p)):
        bad = int(np.flatnonzero(~np.isfinite(p))[0])
        nonfinite = f"{what}: polarity is {shown('p', bad)}; expected 0/1 or -1/+1"
        if check:
            raise InvalidEventsError(nonfinite)
    try:
        p01, kept = polarity_01(p, what, notes, check)
    except InvalidEventsError as exc:
        if not hint:
            raise
        raise InvalidEventsError(f"{exc}{hint}") from None
    if kept is not None and nonfinite is not None:
        kept = replace(kept, refusal=nonfinite)
    elif kept is not None and hint:
        kept = replace(kept, refusal=kept.refusal + hint, hint=hint)
    return p01, kept


def _csv_polarity(
    p: np.ndarray,
    notes: list[str],
    check: bool,
    named: bool,
    shown: Callable[[str, int], str],
) -> tuple[np.ndarray, KeptPolarity | None]:
    """`polarity_by_line` of a CSV's p column; where no header named the columns, the refusal
    says how to give another order: Metavision's writers put the time last (x,y,p,t) without
    one."""
    return polarity_by_line(p, "the CSV", notes, check, shown, "" if named else _CSV_ORDER_HINT)


_CSV_ORDER_HINT = (
    "; without a header line the columns are read as t,x,y,p: if they are x,y,p,t "
    "(Metavision's metavision_file_to_csv), add the line 'x,y,p,t' at the top"
)


def _no_events_csv(
    path: Path,
    geometry: tuple[int, int],
    sensor_size: tuple[int, int] | None,
    time_unit: str | None,
) -> ArrayReader:
    """A CSV of Metavision's writer holding no events: its ``%`` lines alone."""
    notes = (
        [f"time unit given: {TIME_UNITS[time_unit]}"]
        if time_unit is not None
        else [f"time unit detected: microseconds (integer times in the CSV){unit_hint('us')}"]
    )
    ev = empty_events()
    size, inferred = resolve_sensor_size(geometry, sensor_size, ev, path, notes)
    return ArrayReader(
        ev,
        size,
        path=path,
        layout="csv",
        notes=notes,
        time_unit_detected=time_unit or "us",
        sensor_size_inferred=inferred,
        file_index=None,
    )


def read_csv(
    path: Path,
    sensor_size: tuple[int, int] | None,
    time_unit: str | None = None,
    check_polarity: bool = True,
) -> ArrayReader:
    """A CSV of events, its fields separated by commas, tabs or semicolons (the first line
    tells which), after any ``#`` comment lines: a header line naming the columns (any order,
    ``x@W,y@H`` sizes, a unit in the time column's name), or a last comment line naming all
    four, or Metavision's ``%geometry:W,H`` line (``x,y,p,t``, that sensor size), or none
    (``t,x,y,p``). Times are integer microseconds,
    seconds when written with a fractional part, or the unit the header or ``time_unit``
    names; whole numbers written as decimals (``1234.0``) are refused as ambiguous."""
    if time_unit not in (None, *TIME_UNITS):
        raise ArgumentValueError("time_unit", time_unit, TIME_UNITS_EXPECTED)
    # without blank or comment lines before the header: loadtxt's skiprows would count them
    raw, lead, comment = read_text(path, "a CSV of events t,x,y,p", header_comment=True)
    raw, lead, geometry = _metavision_lines(path, raw, lead)
    if geometry is not None and _ONLY_SPACE.fullmatch(raw):
        # Metavision's header alone, as its writer leaves a recording of no events: no events,
        # the geometry's sensor size, as a CSV of a header line alone is read
        return _no_events_csv(path, geometry, sensor_size, time_unit)
    first = raw[: raw.find(b"\n")] if b"\n" in raw else raw
    first = first.strip()
    delim = delimiter(path, first, lead + 1)
    has_header = _is_header(path, first, delim)
    raw = _blank_lines_emptied(raw)
    _refuse_unclosed_quote(path, raw, delim, lead)
    notes: list[str] = []
    index = {"t": 0, "x": 1, "y": 2, "p": 3}
    header_unit = file_size = None
    # whether a header, a comment line or the '%geometry' line gave the order
    named_order = has_header or geometry is not None
    # how many fields each line holds: those past them are dropped (`_refuse_long_rows`)
    fields = len(_cells(first, delim))
    given = f"line {lead + 1} holds {fields}"
    if has_header:
        index, header_unit, file_size, notes = _csv_header(path, _cells(first, delim))
        given = f"the header names {fields}"
    elif comment is not None and (named := comment_columns(comment, delim)) is not None:
        # np.savetxt(header="x,y,p,t") writes its header as a comment: the columns are so
        if len(named) != fields:
            raise EventFileError(
                f"{str(path)!r}: the comment line "
                f"{'#' + comment.decode('utf-8', 'replace').rstrip()!r} "
                f"names the columns t, x, y and p in {len(named)} names, but line {lead + 1} "
                f"holds {fields} fields; write the header as a line of its own without '#'"
            )
        index, header_unit, file_size, notes = _csv_header(path, named)
        named_order = True
        given = f"the comment line names {fields}"
        shown = "#" + comment.decode("utf-8", "replace").rstrip()
        notes.insert(0, f"column names read from the comment line {shown!r}")
    elif geometry is not None:
        index = {"x": 0, "y": 1, "p": 2, "t": 3}
        fields, given = 4, "Metavision's writer writes 4 (x,y,p,t)"
        notes.append(
            "CSV columns read as x,y,p,t, the order Metavision's CSV writer gives the rows "
            "after its '%geometry' line"
        )
    else:
        _refuse_long_first_line(path, raw, delim, lead)
    if geometry is not None and file_size is None:
        file_size = geometry
    cols = [index[k] for k in "txyp"]
    what = f"{str(path)!r}"
    sep = delim.decode()
    lines = TextLines(raw, int(has_header), lead=lead)
    decimal = _decimal_comma_rows(
        raw, has_header, cols, delim, lines, what, time_unit or header_unit, notes
    )
    integers = None if decimal is not None else _integer_table(raw, has_header, cols, sep)
    floats = None
    if decimal is not None:
        rows = decimal
        lines = replace(lines, decimal_comma=True)
        notes.append("decimal commas in the CSV read as decimal points")
    elif integers is not None:
        rows = integers
    else:
        floats = _exact_float_table(raw, has_header, cols, time_unit or header_unit, sep)
        if floats is not None:
            rows = floats[0]
        else:
            try:
                rows = table(raw, has_header, cols, np.bytes_, sep)
            except ValueError as exc:
                # numpy's "row N" counts rows after the header and empty lines
                why = _short_line(raw, has_header, max(cols) + 1, lead, delim) or exc
                raise EventFileError(f"{what} is not a CSV of events t,x,y,p: {why}") from None
    _refuse_long_rows(path, raw, has_header, fields, given, delim, lead, rows.shape[0])
    t_text = rows[:, 0] if integers is None and floats is None else np.zeros(0, np.bytes_)
    if time_unit is not None:
        unit = time_unit
        notes.append(f"time unit given: {TIME_UNITS[unit]}")
    elif header_unit is not None:
        unit = header_unit
        notes.append(f"time unit from the CSV header: {TIME_UNITS[unit]}")
    elif floats is not None or (integers is None and is_decimal_notation(t_text)):
        # a float table is taken without a named unit only when a time has a fraction
        if floats is None and not has_fraction(t_text):
            example = next(v for v in t_text if not v.strip().lstrip(b"+-").isdigit())
            raise EventFileError(
                f"{what}: cannot tell the unit of the CSV's times: they are whole numbers "
                f"written as decimals (such as {_shown(lines, example)}), which "
                "may be seconds or microseconds. Accepted: "
                f"{_ACCEPTED_TIMES}; or pass time_unit='s' or 'us'"
            )
        unit = "s"
        notes.append(f"time unit detected: seconds (decimal times in the CSV){unit_hint('s')}")
    else:
        unit = "us"
        notes.append(
            f"time unit detected: microseconds (integer times in the CSV){unit_hint('us')}"
        )
    row_text = row_shown(raw, has_header, cols, sep, lines, what)
    kept = None
    if not rows.shape[0]:
        ev, order = empty_events(), None
    elif integers is not None:
        try:
            t_us = _scale_int(integers[:, 0], _SHIFT[unit], np.arange(len(integers)))
        except _BadTime as bad:
            raise EventFileError(
                f"{what}, {_where(lines, bad.index)}: time {int(integers[bad.index, 0])} {bad.why}"
            ) from None
        p, kept = _csv_polarity(integers[:, 3], notes, check_polarity, named_order, row_text)
        ev, order = build_events(integers[:, 1], integers[:, 2], t_us, p, notes, row_text)
    elif floats is not None:
        p, kept = _csv_polarity(rows[:, 3], notes, check_polarity, named_order, row_text)
        ev, order = build_events(rows[:, 1], rows[:, 2], floats[1], p, notes, row_text)
    else:
        t_us = text_times_to_us(t_text, unit, what, lines)
        x = _numbers(rows[:, 1], f"{what} column x", lines)
        y = _numbers(rows[:, 2], f"{what} column y", lines)
        p_read = bool_words(rows[:, 3], notes, "the CSV")
        if p_read is None:
            p_read = _numbers(rows[:, 3], f"{what} column p", lines)
        p, kept = _csv_polarity(p_read, notes, check_polarity, named_order, row_text)
        ev, order = build_events(x, y, t_us, p, notes, row_text)
    if rows.shape[0] and integers is None:
        merged = _merged_csv_times(rows[:, 0], ev["t"], unit)
        if merged is not None:
            notes.append(merged)
    size, inferred = resolve_sensor_size(file_size, sensor_size, ev, path, notes)
    return ArrayReader(
        ev,
        size,
        path=path,
        layout="csv",
        notes=notes,
        time_unit_detected=unit,
        sensor_size_inferred=inferred,
        file_index=order,
        polarity_kept=kept,
    )


def _merged_csv_times(t: np.ndarray, t_us: np.ndarray, unit: str) -> str | None:
    """`merged_times_note` of a CSV's time column, read as floats or as text."""
    if t.dtype.kind != "f":
        if unit not in _MERGING_UNITS or not has_fraction(t):
            return None
        try:
            t = t.astype(np.float64)
        except ValueError:
            # a time as '1_000' or a decimal comma: its digits were read, not float()'s
            return None
    return merged_times_note(t, t_us, unit)
