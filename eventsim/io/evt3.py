"""Prophesee EVT 3.0 decoder (numpy, chunked), for the files faery misreads, and encoder.

It follows Prophesee's EVT 3.0 specification (docs.prophesee.ai, data/encoding_formats/evt3),
as openeb's decoder does, where faery 0.7.1 departs from it (`faery_misreads` finds the files
where that changes an event):

- A wrap of the 24-bit time (every 16.78 s) is counted whenever time-high falls by half its
  range or more, as openeb counts one (``high_prev >= 2048 + high_new``). faery counts one
  only when time-high steps from 4095 to 0, yet its own encoder skips the steps in which no
  event falls (up to 1024 at once), so it read every event after such a wrap at the time
  before it; it also ignores a time-high 4094 or more above the last (from 0 at the start),
  and one that falls without wrapping.
- Only VECT_BASE_X sets where vectors start and their polarity; a single event (EVT_ADDR_X)
  carries its own. faery lets a single event set both for the vectors after it.
- Coordinates are checked on events only: a row (EVT_ADDR_Y) or vector base (VECT_BASE_X) past
  the sensor is no event (openeb reads such files too). faery refuses the file at the word.

Otherwise it decodes like faery: a time-high word resets the low 12 bits, times never decrease,
and the ``% t0`` header line (written by faery and `Evt3Encoder`) is added to every time. Events
before the first time-high word (none in the files faery and `Evt3Encoder` write) are read at
time-high 0, as faery reads them, so that a file reads alike whichever of the two decodes it;
openeb skips them, having no time for them.

`Evt3Encoder` writes EVT 3.0 in single-event words only, which openeb, faery and this decoder
read alike (faery's encoder writes lone VECT_12 and VECT_8 words, which openeb misreads).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eventsim.errors import EventFileError, InvalidEventsError
from eventsim.events import EVENT_DTYPE

# 16-bit words decoded at once. A vector word holds up to 12 events and the decoder keeps about
# ten arrays of 8 bytes per event, so this bounds a chunk's arrays to ~1 GiB (16 Mi words took
# 13 GiB beyond the events on a file of full VECT_12 words)
_CHUNK_WORDS = 1 << 20
_ADDR_Y, _ADDR_X, _VECT_BASE_X, _VECT_12, _VECT_8, _TIME_LOW, _TIME_HIGH = 0, 2, 3, 4, 5, 6, 8
_HALF_TIME_HIGH = 1 << 11
# x and y are 11-bit fields; only a vector run on past the last address reaches beyond
_ADDRESSES = 1 << 11
_INT64_END = 1 << 63


@dataclass(frozen=True)
class Evt3Header:
    """What the ``%`` lines at the start of a Prophesee raw file say."""

    version: str | None
    size: tuple[int, int] | None
    t0_us: int
    length: int


_VERSION_ALIASES = {"21": "2.1"}
# ASCII digits: str.isdigit also takes '²', a byte of a damaged header, which int() refuses
_DIGITS = re.compile(r"[0-9]+")


def read_header(path: str | os.PathLike) -> Evt3Header:
    """Parse the ``%`` header of an EVT file: version, sensor size, faery's ``t0`` and the
    header's length in bytes. As in openeb, the header is the lines that start with ``% ``
    (percent, space), up to the first other line or the line ``% end``. A header whose
    ``% format`` line (``width=``, ``height=``) and ``% geometry`` line give different sizes
    is an `EventFileError`, as openeb refuses it: which one holds is not known (events past
    the smaller would be refused, or a size read that the camera did not have). Of lines of
    one key the last counts, as in openeb's header map."""
    version: str | None = None
    width = height = None
    # the sizes of the last '% format' and '% geometry' lines, None where one gives none
    named: tuple[int, int] | None = None
    geometry: tuple[int, int] | None = None
    t0 = 0
    length = 0
    with open(path, "rb") as fh:
        while True:
            line = fh.readline()
            # openeb's rule: a header line starts with '% '; data may start with a '%' byte
            # (a time-high word of 0x25 in its low byte), and a header without '% end' is
            # followed by data
            if not line.startswith(b"% "):
                break
            length += len(line)
            head = line[2:].split(maxsplit=1)
            if head and head[0] == b"end":
                # Metavision ends its header so ('% end', any text after the key ignored)
                break
            words = line[1:].decode("latin-1").replace(";", " ").split()
            if len(words) < 2:
                continue
            key, value = words[0], words[1]
            if key in ("evt", "Version"):
                version = value
            elif key == "format":
                version = value.upper().removeprefix("EVT")
                fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
                named = _size(fields.get("width", ""), fields.get("height", ""))
                if named is not None:
                    width, height = named
            elif key == "geometry":
                geometry = _size(*value.partition("x")[::2])
                if geometry is not None:
                    width, height = geometry
            elif key == "Width" and _DIGITS.fullmatch(value):
                width = int(value)
            elif key == "Height" and _DIGITS.fullmatch(value):
                height = int(value)
            elif key in ("t0", "T0") and _DIGITS.fullmatch(value):
                t0 = int(value)
                if t0 >= _INT64_END:
                    # faery ignored such a line (times from 0) and numpy raised OverflowError
                    raise EventFileError(
                        f"{str(path)!r}: its header's '% {key}' line gives {value}, past "
                        "int64 µs; expected the time its events count from"
                    )
    if named is not None and geometry is not None and named != geometry:
        raise EventFileError(
            f"{str(path)!r}: its header gives two sensor sizes, {named[0]}x{named[1]} in its "
            f"'% format' line and {geometry[0]}x{geometry[1]} in its '% geometry' line; "
            "Metavision refuses such a file too: correct the wrong line"
        )
    if version is not None and version.endswith(".0"):
        version = version[:-2]
    # Metavision's '% format EVT21' names the version '% evt 2.1' does: one spelling for callers
    version = _VERSION_ALIASES.get(version or "", version)
    size = (width, height) if width is not None and height is not None else None
    return Evt3Header(version, size, t0, length)


def _size(width: str, height: str) -> tuple[int, int] | None:
    """The size two header fields give, None unless both are numbers."""
    if _DIGITS.fullmatch(width) and _DIGITS.fullmatch(height):
        return int(width), int(height)
    return None


@dataclass
class _State:
    """Decoder state carried from one chunk of words to the next."""

    time_high: int | None = None  # the last time-high word's 12 bits
    wraps: int = 0
    high: int = 0  # time >> 12, wraps included
    low: int = 0
    t: int = 0
    y: int = 0
    x: int = 0  # where the next vector starts
    p: int = 0  # the polarity of the next vector


def _last_index(mask: np.ndarray) -> np.ndarray:
    """For each word, the index of the last word at or before it where ``mask`` holds, or -1."""
    return np.maximum.accumulate(np.where(mask, np.arange(mask.size), -1))


def _decode_chunk(words: np.ndarray, st: _State) -> tuple[np.ndarray, ...]:
    """(t, x, y, p) of the events in ``words``, times relative to t0; updates ``st``."""
    kind = words >> 12
    val = (words & 0xFFF).astype(np.int64)

    is_high = kind == _TIME_HIGH
    highs = val[is_high]
    first = st.time_high if st.time_high is not None else highs[:1]
    before = np.concatenate((np.atleast_1d(first), highs[:-1]))[: highs.size]
    wraps = st.wraps + np.cumsum(before - highs >= _HALF_TIME_HIGH)
    high_abs = np.concatenate((highs + (wraps << 12), [st.high]))
    rank = np.cumsum(is_high) - 1
    high = np.where(rank >= 0, high_abs[rank], st.high)
    last_high = _last_index(is_high)
    last_low = _last_index(kind == _TIME_LOW)
    low = np.where(
        last_low > last_high,
        val[np.maximum(last_low, 0)],
        np.where(last_high >= 0, 0, st.low),
    )
    t = np.maximum.accumulate(np.maximum((high << 12) | low, st.t))

    last_y = _last_index(kind == _ADDR_Y)
    y = np.where(last_y >= 0, val[np.maximum(last_y, 0)] & 0x7FF, st.y)
    # only VECT_BASE_X sets where vectors start and their polarity: a single event (EVT_ADDR_X)
    # between a base and its vectors carries its own x and polarity and changes neither
    last_base = _last_index(kind == _VECT_BASE_X)
    base = np.where(last_base >= 0, val[np.maximum(last_base, 0)] & 0x7FF, st.x)
    p = np.where(last_base >= 0, val[np.maximum(last_base, 0)] >> 11, st.p)
    width = np.where(kind == _VECT_12, 12, np.where(kind == _VECT_8, 8, 0))
    done = np.cumsum(width) - width  # vector bits before each word
    x_start = base + done - np.where(last_base >= 0, done[np.maximum(last_base, 0)], 0)

    single = np.flatnonzero(kind == _ADDR_X)
    vec = np.flatnonzero(width > 0)
    bits = (val[vec, None] >> np.arange(12)) & 1
    bits[kind[vec] == _VECT_8, 8:] = 0
    row, bit = np.nonzero(bits)
    at = np.concatenate((single, vec[row]))
    order = np.argsort(at, kind="stable")  # single events first; vector bits ascending
    at = at[order]
    ex = np.concatenate((val[single] & 0x7FF, x_start[vec[row]] + bit))[order]
    ep = np.concatenate((val[single] >> 11, p[vec[row]]))[order]

    if words.size:
        st.time_high = int(highs[-1]) if highs.size else st.time_high
        st.wraps = int(wraps[-1]) if highs.size else st.wraps
        st.high, st.low, st.t = int(high[-1]), int(low[-1]), int(t[-1])
        st.y, st.p = int(y[-1]), int(p[-1])
        st.x = int(x_start[-1] + width[-1])
    return t[at], ex, y[at], ep


def faery_misreads(
    path: str | os.PathLike,
    header: Evt3Header,
    width: int | None = None,
    height: int | None = None,
) -> bool:
    """Whether faery would read some event of this EVT 3.0 file otherwise than `read_evt3`, as
    the module's docstring lists: a time-high step it ignores or a wrap it misses, a vector
    placed after a single event, a vector whose events run past ``width`` (the sensor's; None:
    the 2048 addresses: faery drops them without a word and puts the next vector's first event
    on the last column, where `read_evt3` refuses the file), or a row or vector base past the
    sensor (``height``, ``width``) that no event uses (faery refuses the file, `read_evt3`
    reads it)."""
    limit = _ADDRESSES if width is None else width
    last = 0  # faery's time-high before the first
    carry = _Placement()
    with open(path, "rb") as fh:
        fh.seek(header.length)
        while True:
            raw = fh.read(2 * _CHUNK_WORDS)
            if not raw:
                return False
            words = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<u2")
            kind = words >> 12
            highs = (words[kind == _TIME_HIGH] & 0xFFF).astype(np.int32)
            if highs.size:
                step = np.diff(highs, prepend=last)
                # only 4095 -> 0 falls alike in both; faery ignores any other fall
                if np.any(((step < 0) & (step != -4095)) | (step >= 4094)):
                    return True
                last = int(highs[-1])
            if height is not None and np.any((words[kind == _ADDR_Y] & 0x7FF) >= height):
                return True
            if _vectors_misread(words, kind, limit, carry):
                return True


# the number of bits up to a 12-bit vector's highest set one (0 for none)
_BIT_LENGTH = np.array([i.bit_length() for i in range(1 << 12)], dtype=np.int64)


@dataclass
class _Placement:
    """Where the next vector starts and its polarity, carried over chunks: as `_decode_chunk`
    places it (only VECT_BASE_X sets them) and as faery does (EVT_ADDR_X sets them too)."""

    x: int = 0
    p: int = 0
    faery_x: int = 0
    faery_p: int = 0


def _starts(
    val: np.ndarray, sets: np.ndarray, width: np.ndarray, x: int, p: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where each word's vector starts and its polarity, when the words where ``sets`` holds
    set both, from ``x`` and ``p`` before the first."""
    done = np.cumsum(width) - width  # vector bits before each word
    last = _last_index(sets)
    at = np.maximum(last, 0)
    start = np.where(last >= 0, (val[at] & 0x7FF) + done - done[at], x + done)
    return start, np.where(last >= 0, val[at] >> 11, p)


def _vectors_misread(words: np.ndarray, kind: np.ndarray, limit: int, carry: _Placement) -> bool:
    """Whether faery places some vector event of ``words`` otherwise than `_decode_chunk`,
    or refuses a vector base that no event uses; updates ``carry``."""
    placing = (kind == _VECT_BASE_X) | (kind == _ADDR_X) | (kind == _VECT_12) | (kind == _VECT_8)
    if not placing.any():
        return False
    kind = kind[placing]
    val = (words[placing] & 0xFFF).astype(np.int64)
    base = kind == _VECT_BASE_X
    width = np.where(kind == _VECT_12, 12, np.where(kind == _VECT_8, 8, 0))
    single = kind == _ADDR_X
    x, p = _starts(val, base, width, carry.x, carry.p)
    placed_apart = np.zeros(kind.size, dtype=bool)
    # faery's placement differs only at a vector whose last word that set one is a single
    # event: the first vector after it follows it directly (vectors only between), or, before
    # any such word, vectors follow a chunk that left faery's placement apart. Without either
    # (most files) the second placement, over half the scan, is not needed.
    setters = np.flatnonzero(base | single)
    leading = setters[0] if setters.size else kind.size
    if np.any(single[:-1] & (width[1:] > 0)) or (
        (carry.x, carry.p) != (carry.faery_x, carry.faery_p) and np.any(width[:leading] > 0)
    ):
        fx, fp = _starts(val, base | single, width, carry.faery_x, carry.faery_p)
        placed_apart |= (x != fx) | (p != fp)
        carry.faery_x, carry.faery_p = int(fx[-1] + width[-1]), int(fp[-1])
    elif setters.size:
        # faery's placement runs on from the last word that set one, as the spec's does
        k = setters[-1]
        carry.faery_x = int((val[k] & 0x7FF) + width[k:].sum())
        carry.faery_p = int(val[k] >> 11)
    else:
        carry.faery_x += int(width.sum())
    carry.x, carry.p = int(x[-1] + width[-1]), int(p[-1])
    bits = _BIT_LENGTH[np.where(kind == _VECT_8, val & 0xFF, np.where(width > 0, val, 0))]
    placed_apart |= x + bits > limit
    return bool(np.any((bits > 0) & placed_apart) or np.any(base & ((val & 0x7FF) >= limit)))


def with_t0(path: str | os.PathLike, t: np.ndarray, t0_us: int) -> np.ndarray:
    """Decoded times ``t`` (from 0) plus the header's t0, `EventFileError` where the sum
    leaves int64 (it wrapped to times far before the first, read as they were)."""
    if t.size and t0_us + int(t.max()) >= _INT64_END:
        raise t0_overflow(path, t0_us, int(t.max()))
    return t + t0_us


def t0_overflow(path: str | os.PathLike, t0_us: int, t_max: int) -> EventFileError:
    """The refusal of a file whose header's t0 plus its largest time ``t_max`` (from 0)
    leaves int64, whichever decoder (eventsim's or faery's) added them."""
    return EventFileError(
        f"{str(path)!r}: its header's t0 {t0_us} plus its events' times (up to {t_max} us) "
        "leaves int64 µs; the t0 line is corrupt"
    )


def sensor_events(
    path: str | os.PathLike,
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    limits: tuple[int, int],
    where: str,
) -> np.ndarray:
    """A decoded chunk's columns as events, refused where an address lies past ``limits``
    (``where`` names that sensor in the message)."""
    if t.size:
        for name, v, limit in (("x", x, limits[0]), ("y", y, limits[1])):
            if v.max() >= limit:
                raise EventFileError(
                    f"{str(path)!r}: an event has {name} = {int(v.max())}, outside {where}"
                )
    ev = np.empty(t.size, dtype=EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = t, x, y, p
    return ev


def read_evt3(
    path: str | os.PathLike, size: tuple[int, int] | None, header: Evt3Header | None = None
) -> np.ndarray:
    """The events of an EVT 3.0 file as `EVENT_DTYPE`; coordinates outside ``size`` (when
    known, else outside EVT 3.0's 2048 addresses) are an `EventFileError`."""
    path = Path(path)
    header = read_header(path) if header is None else header
    st = _State()
    parts = []
    if size is None:
        # else a long run of vectors was stored modulo 2**16 in the int16 coordinates
        limits, where = (_ADDRESSES, _ADDRESSES), f"the {_ADDRESSES} addresses of EVT 3.0"
    else:
        given = "its header names" if size == header.size else "given as its sensor size"
        limits, where = size, f"the {size[0]}x{size[1]} sensor {given}"
    with open(path, "rb") as fh:
        fh.seek(header.length)
        while True:
            raw = fh.read(2 * _CHUNK_WORDS)
            if not raw:
                break
            words = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<u2").astype(np.int64)
            t, x, y, p = _decode_chunk(words, st)
            parts.append(
                sensor_events(path, with_t0(path, t, header.t0_us), x, y, p, limits, where)
            )
    if not parts:
        return np.zeros(0, dtype=EVENT_DTYPE)
    return np.concatenate(parts)


# -- writing -------------------------------------------------------------------------------------
# Time-high values (of time >> 12, wraps included) written over a gap between events, 4 to a
# 24-bit period: every step forward is under 2048 and the only fall is 4095 -> 0, so that
# openeb counts exactly the wraps (it counts one where time-high falls by 2048 or more), its
# validator sees no NonMonotonicTimeHigh (it allows 4095 -> 0), and faery (which counts a wrap
# only at 4095 -> 0) and readers that take a step of under half the range as forward agree
_GRID = np.array([0, 1365, 2730, 4095], dtype=np.int64)
_PERIOD = 1 << 12


def _grid_count(high: np.ndarray) -> np.ndarray:
    """The number of `_GRID` time-highs at or before each of ``high`` (from 0)."""
    return 4 * (high >> 12) + np.searchsorted(_GRID, high & (_PERIOD - 1), side="right")


def _grid_value(index: np.ndarray) -> np.ndarray:
    return (index >> 2 << 12) + _GRID[index & 3]


def evt3_header(size: tuple[int, int], t0_us: int) -> bytes:
    """The ``%`` header eventsim writes EVT 3.0 files with: the version and sensor size in
    Metavision's and faery's lines, ``% t0`` (the time the file's times count from, which
    faery and eventsim add back), and ``% end``, after which openeb reads data even where its
    first byte is a '%'."""
    width, height = size
    return (
        "% evt 3.0\n"
        f"% format EVT3;height={height};width={width}\n"
        f"% geometry {width}x{height}\n"
        f"% t0 {t0_us}\n"
        "% end\n"
    ).encode("ascii")


class Evt3Encoder:
    """Encodes time-sorted events as EVT 3.0 words, chunk by chunk, in the words that every
    decoder reads alike: EVT_TIME_HIGH, EVT_TIME_LOW, EVT_ADDR_Y (master camera) where they
    change, then one EVT_ADDR_X per event (polarity in bit 11). No vector words: openeb reads
    any VECT_12 as the start of a VECT_12, VECT_12, VECT_8 group and a lone VECT_8 as nothing,
    and faery writes them alone (aestream/faery#14). Times are counted from ``t0_us``; the
    first time-high steps up from 0 as later ones do, so that the wraps before a first event
    16.78 s or more after t0 are counted too."""

    def __init__(self, t0_us: int) -> None:
        self.t0_us = t0_us
        self._high = -1  # the last time-high written (time >> 12, wraps included); -1: none
        self._t = -1
        self._y = -1

    def encode(self, events: np.ndarray) -> np.ndarray:
        """The little-endian 16-bit words of ``events``: sorted, from t0 on, x and y under 2048,
        p 0 or 1 (else bits of other fields or words: an `InvalidEventsError` names the value)."""
        n = len(events)
        if n == 0:
            return np.zeros(0, dtype="<u2")
        t = np.asarray(events["t"], dtype=np.int64) - self.t0_us
        x, y, p = events["x"], events["y"], events["p"]
        self._check(t, x, y, p)
        high = t >> 12
        # each event's four slots, time-high, time-low, row, column, of which a mask keeps the
        # words that change (the column always): one compress, in the file's order
        slots = np.empty((n, 4), dtype="<u2")
        slots[:, 0] = high & 0xFFF
        slots[:, 0] |= _TIME_HIGH << 12
        slots[:, 1] = t & 0xFFF
        slots[:, 1] |= _TIME_LOW << 12
        slots[:, 2] = y  # _ADDR_Y is 0; bit 11 0: the master camera
        slots[:, 3] = p
        slots[:, 3] <<= 11
        # (x is int16, checked to lie in 0..2047)
        np.bitwise_or(slots[:, 3], x, out=slots[:, 3], casting="unsafe")
        slots[:, 3] |= _ADDR_X << 12
        keep = np.empty((n, 4), dtype=bool)
        for slot, v, last in ((0, high, self._high), (1, t, self._t), (2, y, self._y)):
            keep[0, slot] = v[0] != last
            np.not_equal(v[1:], v[:-1], out=keep[1:, slot])
        keep[:, 3] = True
        words = slots[keep]

        # over a gap the grid's time-highs past the last come before the event's own (only a
        # step of more than one can pass a grid value: the others are not looked at)
        changed = np.flatnonzero(keep[:, 0])
        before = high[changed - 1]
        if changed.size and changed[0] == 0:
            # the file's first time-high steps up from 0 as any other, so that decoders count
            # the wraps before it too (-1: 0 itself is still to write)
            before[0] = self._high
        far = high[changed] - before > 1
        event, before = changed[far], before[far]
        count = _grid_count(high[event] - 1) - _grid_count(before)
        if count.any():
            event, before, count = event[count > 0], before[count > 0], count[count > 0]
            k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
            grid = _grid_value(np.repeat(_grid_count(before), count) + k)
            # an event's words start after the column word of the one before
            columns = np.flatnonzero(words >> 12 == _ADDR_X)
            at = np.where(event > 0, columns[event - 1] + 1, 0)
            value = ((_TIME_HIGH << 12) | (grid & 0xFFF)).astype("<u2")
            words = np.insert(words, np.repeat(at, count), value)

        self._high, self._t, self._y = int(high[-1]), int(t[-1]), int(y[-1])
        return words

    def _check(self, t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> None:
        """Refuse events that EVT 3.0 words cannot carry as they are: a time before t0 or
        before the one before it, an address outside the 11-bit fields, a polarity not 0 or 1
        (its one bit)."""
        last = max(self._t, 0)
        if t[0] < last or np.any(t[1:] < t[:-1]):
            i = int(np.flatnonzero(np.diff(t, prepend=last) < 0)[0])
            raise InvalidEventsError(
                f"evt3 needs events sorted by time, from t0 = {self.t0_us} us on: event {i} "
                f"has t = {int(t[i]) + self.t0_us} us, before "
                f"{(int(t[i - 1]) if i else last) + self.t0_us} us"
            )
        for name, v, top in (("x", x, _ADDRESSES - 1), ("y", y, _ADDRESSES - 1), ("p", p, 1)):
            low, high = int(v.min()), int(v.max())
            if low < 0 or high > top:
                raise InvalidEventsError(
                    f"evt3 stores {name} as 0 to {top}; an event has {name} = "
                    f"{low if low < 0 else high}"
                )
