"""Prophesee EVT 2.1 decoder (numpy, chunked): faery cannot decode EVT 2.1 at all.

It follows Prophesee's EVT 2.1 specification (docs.prophesee.ai, data/encoding_formats/evt21)
and openeb's decoder (hal/decoders/evt21), which Metavision reads these files with:

- The data after the ``%`` header are 64-bit words. The 4 top bits of a word are its type:
  EVT_NEG (0x0) and EVT_POS (0x1) are events of polarity 0 and 1, EVT_TIME_HIGH (0x8) sets the
  time's upper bits, EXT_TRIGGER (0xA), OTHERS (0xE, monitoring) and CONTINUED (0xF, their
  extra data) carry no pixel event and are skipped, and so are the reserved types.
- An event word holds, from its top: type (4 bits), the time's 6 low bits, x (11 bits, aligned
  to 32 by the sensor), y (11 bits) and a 32-bit validity mask: one event at x + i for each set
  bit i, lowest first, all with the word's polarity, row and time. A word without a set bit is
  no event. A time-high word holds the time's bits 6..33 in the 28 bits below its type, so
  times are 34-bit microseconds, which wrap every 2**34 us (4 h 46 min).
- Two orders of the words' bytes exist on disk. Read as a little-endian 64-bit integer, a word
  has its type at bits 60..63 (GenX320 and the newer files; openeb's ``Evt21Raw``), or, in the
  "legacy" order, its two 32-bit halves are swapped, the type at bits 28..31 (IMX636 and
  Gen4.1 write their high half first; openeb's ``Evt21LegacyRaw``). As openeb does, the legacy
  order is taken where the header says so, by ``endianness=legacy`` in its ``% format EVT21;...``
  line or a ``% endianness legacy`` line, or, with neither, for a file that Prophesee's software
  recorded on a system older than the EVK2 Saphir (a ``% system_ID`` from 1 to 0x36); any other
  file is in the little-endian order. The format line's option wins over the endianness line,
  and an empty header line counts as none, as in openeb. openeb also takes a ``% format``
  header without any ``system_ID`` as legacy (it reads the missing number as -1); eventsim
  reads it little-endian, the order the HAL's own format strings leave unsaid (its legacy
  devices always write ``endianness=legacy``; Metavision writes an endianness in every EVT 2.1
  header since 4.0). A header naming another order (big-endian) is refused: neither openeb nor
  eventsim decodes it.
- Events before the first time-high word are dropped, as openeb drops them: their time is not
  known (a note says how many).
- A wrap of the time is counted whenever time-high falls by more than half its range. openeb
  counts one only where it steps from its largest value to 0, as a camera writes it, and lets
  the time fall back at a smaller fall (logging a discrepancy); here times never decrease, as
  `eventsim.io.evt3` decodes EVT 3.0, so an event after such a fall keeps the time before it,
  and the events stay in the file's order.
- An event outside the sensor (the header's size, else the one given, else EVT 2.1's 2048
  addresses) is an `EventFileError`, as `eventsim.io.evt3` refuses one; a word whose x or y is
  past it but has no set bit there is no event and is not checked. openeb passes such events on.
- The ``% t0`` header line (faery writes one) is added to every time, as in `eventsim.io.evt3`.
- A file whose data end mid-word (cut short, as by a crash while recording) is read up to its
  last whole word, as EVT 2.0 and 3.0 files are; `eventsim.io.formats.read_faery` notes the
  bytes left over.
- A header whose ``% format`` line and ``% geometry`` line give different sizes is an
  `EventFileError`, as openeb refuses it (`eventsim.io.evt3.read_header`, for every EVT
  version).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eventsim.errors import EventFileError
from eventsim.events import EVENT_DTYPE
from eventsim.io.evt3 import Evt3Header, read_header, sensor_events, with_t0

# 64-bit words decoded at once. A word holds up to 32 events and a chunk keeps about seven
# arrays of 8 bytes per event (the set bits' rows and columns, the times, the coordinates)
# besides the events' 15 bytes, so this bounds a chunk's arrays to ~300 MiB for a file of full
# masks (evt3's chunk is bounded alike)
_CHUNK_WORDS = 1 << 17
_WORD_BYTES = 8
_NEG, _POS, _TIME_HIGH = 0x0, 0x1, 0x8
_TIME_HIGH_BITS = 28
_HALF_TIME_HIGH = 1 << (_TIME_HIGH_BITS - 1)
_LOW_BITS = 6
# x and y are 11-bit fields; only a mask's bits past x reach beyond
_ADDRESSES = 1 << 11
# openeb reads the files of Prophesee's systems before this one (SYSTEM_EVK2_SAPHIR) without an
# endianness in the header in the legacy order
_FIRST_LITTLE_ENDIAN_SYSTEM = 0x37
_PROPHESEE = "Prophesee"


def _header_fields(path: str | os.PathLike, header: Evt3Header) -> dict[str, str]:
    """The ``% key value`` lines of the header, an empty value as no line (openeb's
    ``get_field`` does not tell them apart)."""
    with open(path, "rb") as fh:
        text = fh.read(header.length).decode("latin-1")
    fields: dict[str, str] = {}
    for line in text.splitlines():
        words = line[1:].split()
        if len(words) > 1:
            # a later line of a key replaces an earlier one, as in openeb's header map
            fields[words[0]] = " ".join(words[1:])
    return fields


def _format_options(fields: dict[str, str]) -> dict[str, str]:
    """The ``key=value`` options of the ``% format EVT21;...`` line."""
    options = fields.get("format", "").split(";")[1:]
    return dict(option.split("=", 1) for option in options if "=" in option)


def legacy_order(path: str | os.PathLike, header: Evt3Header | None = None) -> bool:
    """Whether the header of the EVT 2.1 file ``path`` puts its words' 32-bit halves in the
    legacy order (high half first), as openeb tells it (see the module's docstring)."""
    header = read_header(path) if header is None else header
    fields = _header_fields(path, header)
    endianness = _format_options(fields).get("endianness") or fields.get("endianness")
    if endianness is None:
        # before Metavision 4.0 one integrator_name stood for both; none at all is Prophesee's
        integrators = {fields.get("plugin_integrator_name"), fields.get("camera_integrator_name")}
        if integrators == {None}:
            integrators = {fields.get("integrator_name", _PROPHESEE)}
        system = fields.get("system_ID", "")
        return (
            integrators == {_PROPHESEE}
            and system.isdigit()
            and 0 < int(system) < _FIRST_LITTLE_ENDIAN_SYSTEM
        )
    if endianness not in ("little", "legacy"):
        raise EventFileError(
            f"{str(path)!r}: its header gives EVT 2.1 the endianness {endianness!r}; eventsim "
            "reads 'little' and 'legacy' (the two orders Metavision writes)"
        )
    return endianness == "legacy"


@dataclass
class _State:
    """Decoder state carried from one chunk of words to the next."""

    time_high: int | None = None  # the last time-high word's 28 bits
    wraps: int = 0
    high: int = 0  # time >> 6, wraps included
    t: int = 0  # the last event's time, which the next may not fall below
    dropped: int = 0  # events before the first time-high word


def _decode_chunk(halves: np.ndarray, legacy: bool, st: _State) -> tuple[np.ndarray, ...]:
    """(t, x, y, p) of the events in ``halves`` (each word's two little-endian 32-bit halves,
    as stored), times relative to t0; updates ``st``."""
    head, mask = (halves[:, 0], halves[:, 1]) if legacy else (halves[:, 1], halves[:, 0])
    kind = head >> 28

    is_high = kind == _TIME_HIGH
    highs = (head[is_high] & ((1 << _TIME_HIGH_BITS) - 1)).astype(np.int64)
    first = highs[:1] if st.time_high is None else np.array([st.time_high], dtype=np.int64)
    before = np.concatenate((first, highs[:-1]))[: highs.size]
    wraps = st.wraps + np.cumsum(before - highs > _HALF_TIME_HIGH)
    # the last entry is the time-high before the chunk, for the words before its first
    high_abs = np.concatenate((highs + (wraps << _TIME_HIGH_BITS), [st.high]))
    rank = np.cumsum(is_high) - 1

    cd = np.flatnonzero(((kind == _NEG) | (kind == _POS)) & (mask != 0))
    if st.time_high is None:
        known = rank[cd] >= 0
        bits = np.unpackbits(mask[cd[~known]].view(np.uint8), bitorder="little")
        st.dropped += int(np.count_nonzero(bits))
        cd = cd[known]
    word = head[cd].astype(np.int64)
    t = (high_abs[rank[cd]] << _LOW_BITS) | ((word >> 22) & ((1 << _LOW_BITS) - 1))
    t = np.maximum.accumulate(np.maximum(t, st.t))
    # bit i of each mask is column i: the little-endian bytes, each unpacked lowest bit first
    set_bits = np.unpackbits(
        mask[cd].view(np.uint8).reshape(-1, 4), axis=1, bitorder="little"
    ).astype(bool)
    row, bit = np.nonzero(set_bits)
    x = ((word >> 11) & (_ADDRESSES - 1))[row] + bit
    y = (word & (_ADDRESSES - 1))[row]
    p = (word >> 28)[row]  # the type: EVT_POS is 1, EVT_NEG 0

    if highs.size:
        st.time_high, st.wraps, st.high = int(highs[-1]), int(wraps[-1]), int(high_abs[-2])
    if t.size:
        st.t = int(t[-1])
    return t[row], x, y, p


def read_evt21(
    path: str | os.PathLike,
    size: tuple[int, int] | None,
    header: Evt3Header | None = None,
    notes: list[str] | None = None,
) -> np.ndarray:
    """The events of an EVT 2.1 file as `EVENT_DTYPE`, in the file's order; coordinates
    outside ``size`` (when known, else outside EVT 2.1's 2048 addresses) are an
    `EventFileError`, and so is a header whose format and geometry lines disagree on the size
    (`read_header`).
    A file cut mid-word is read up to its last whole word. What the reading left out (events
    before the first time-high word) is said in ``notes`` when given."""
    path = Path(path)
    header = read_header(path) if header is None else header
    legacy = legacy_order(path, header)
    if size is None:
        limits, where = (_ADDRESSES, _ADDRESSES), f"the {_ADDRESSES} addresses of EVT 2.1"
    else:
        given = "its header names" if size == header.size else "given as its sensor size"
        limits, where = size, f"the {size[0]}x{size[1]} sensor {given}"
    st = _State()
    parts = []
    with open(path, "rb") as fh:
        fh.seek(header.length)
        while True:
            raw = fh.read(_WORD_BYTES * _CHUNK_WORDS)
            if not raw:
                break
            # whole words only: the bytes of a word cut short end the file (a crash cut it)
            halves = np.frombuffer(raw[: len(raw) // 8 * 8], dtype="<u4").reshape(-1, 2)
            t, x, y, p = _decode_chunk(halves, legacy, st)
            parts.append(
                sensor_events(path, with_t0(path, t, header.t0_us), x, y, p, limits, where)
            )
    if st.dropped and notes is not None:
        notes.append(
            f"{st.dropped:,} event{'s' if st.dropped > 1 else ''} before the first time-high "
            "word (whose time is not known) left out, as Metavision leaves them out"
        )
    if not parts:
        return np.zeros(0, dtype=EVENT_DTYPE)
    return np.concatenate(parts)
