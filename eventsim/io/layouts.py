"""`open_events`: one entry point that sniffs an event file's layout and returns a reader.

Our own files and any DSEC-layout HDF5 get the lazy, indexed `EventReader`. Other layouts are
loaded into memory and served by `ArrayReader`, which has the same interface. Both carry
``layout`` (which layout was detected), ``time_unit_detected`` (``"us"`` or ``"s"``; a unit
given to `open_events` is recorded as given: ``"ms"``, ``"ns"``) and
``notes`` (every conversion applied: float seconds to µs, -1/+1 polarity to 0/1, sorting,
an inferred sensor size), so tools can say what they did.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from eventsim._text import shell_command
from eventsim.errors import (
    ArgumentValueError,
    EventFileError,
    InvalidEventsError,
    ParameterError,
    UnknownLayoutError,
)
from eventsim.events import (
    EVENT_DTYPE,
    check_sensor_size,
    empty_events,
    infer_sensor_size,
    make_events,
    normalize_polarity,
    seconds_to_us,
)
from eventsim.io.formats import EVT_VERSION_LAYOUTS
from eventsim.io.hdf5 import EventColumns, EventReader, _iter_windows, open_hdf5
from eventsim.io.hdf5_reader import (
    _reader_repr,
    _recorded_int,
    closed_reader_error,
    time_bounds,
)
from eventsim.io.reader import EventFileReader

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ECF_FILTER_ID = 36559

# HDF5 layouts in the order they are tried, with what identifies them.
HDF5_LAYOUTS: dict[str, str] = {
    "dsec": "eventsim/DSEC: events/x, events/y, events/t, events/p (+ t_offset, ms_to_idx)",
    "event_utils": "event_utils/EvQA: events/xs, events/ys, events/ts, events/ps",
    "v2e": "v2e: /events N x 4 [t_us, x, y, p]",
    "prophesee": "Prophesee: /CD/events {x, y, p, t}",
    "mvsec": "MVSEC: davis/left/events N x 4 [x, y, t_s, p]",
}
ARRAY_EXTENSIONS = {".npy": "npy", ".npz": "npz", ".txt": "txt"}
HDF5_EXTENSIONS = (".h5", ".hdf5", ".hdf", ".he5")
LAYOUT_CHOICES = (*HDF5_LAYOUTS, "npy", "npz", "txt", "csv", "faery", *EVT_VERSION_LAYOUTS)
#: the suffixes by which faery tells its formats apart (`formats.read_faery`), under the name
#: the reader's ``layout`` gives each
FAERY_SUFFIXES = {
    "aedat4": (".aedat4", ".aedat"),
    "evt": (".raw", ".evt"),
    "dat": (".dat",),
    "es": (".es",),
}
#: the names that are no choice of their own, and the choice that reads them: the layouts
#: readers report (``reader.layout``, which ``eventsim info`` prints) and the output formats
#: that `write_stream` writes (``eventsim convert --to``), so a name copied from info or convert
#: forces its layout too. eventsim's own HDF5 (h5) is the DSEC layout, EvQA's event_utils';
#: faery's formats are read by suffix.
LAYOUT_ALIASES = {
    "eventsim": "dsec",
    "h5": "dsec",
    "evqa": "event_utils",
    **dict.fromkeys(FAERY_SUFFIXES, "faery"),
}
#: units `open_events` takes for times a file does not label (``time_unit``)
TIME_UNITS = {"us": "microseconds", "s": "seconds", "ms": "milliseconds", "ns": "nanoseconds"}
#: what a refused ``time_unit`` is told after its value
TIME_UNITS_EXPECTED = f"; expected {', '.join(map(repr, TIME_UNITS))} or None (detect)"
#: how a reader's note begins when it sorted the file's events by time (`build_events`): the
#: indices of its events then count the sorted events; its ``file_index`` maps them to the file's
SORTED_NOTE = "events were not sorted by time"


def unit_hint(detected: str) -> str:
    """How each note of a unit detected, not given, ends: how to give another. In Python's
    words; the CLI spells ``time_unit='s'`` as its option (``--time-unit s``)."""
    others = [repr(u) for u in ("s", "ms", "us", "ns") if u != detected]
    return (
        "; if the times are in another unit, pass "
        f"time_unit={', '.join(others[:-1])} or {others[-1]}"
    )


class ArrayReader:
    """In-memory events with the `EventReader` interface.

    ``events`` hold absolute times; ``t_offset_us`` records what was added to the file's own
    (EvQA's ``base_time``). ``file_index``: each event's index in the file, when the reader
    sorted the file's events by time (`build_events`); None when they are in the file's order.
    ``polarity_kept``: the polarity a reader given ``check_polarity=False`` read on rather than
    refused (`KeptPolarity`), else None.
    """

    def __init__(
        self,
        events: np.ndarray,
        sensor_size: tuple[int, int],
        *,
        path: str | os.PathLike | None = None,
        layout: str = "array",
        notes: list[str] | None = None,
        attrs: dict | None = None,
        params: dict | None = None,
        source: dict | None = None,
        time_unit_detected: str = "us",
        sensor_size_inferred: bool = False,
        frames: Sequence[np.ndarray] | np.ndarray | None = None,
        frame_ts_us: np.ndarray | None = None,
        t_offset_us: int = 0,
        file_index: np.ndarray | None = None,
        polarity_kept: KeptPolarity | None = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self._ev = events
        self._closed = False
        self.file_index = file_index
        self.polarity_kept = polarity_kept
        self.sensor_size = sensor_size
        self.layout = layout
        self.notes = list(notes or [])
        self.attrs = dict(attrs or {})
        self.params = dict(params or {})
        self.source = dict(source or {})
        self.time_unit_detected = time_unit_detected
        self.sensor_size_inferred = sensor_size_inferred
        self.t_offset_us = t_offset_us
        if frames is None or frame_ts_us is None or len(frames) == 0:
            self._frames = None
            self.frame_ts_us = np.zeros(0, np.int64)
            self.frame_event_idx = np.zeros(0, np.int64)
        else:
            self._frames = frames
            self.frame_ts_us = np.asarray(frame_ts_us, np.int64)
            self.frame_event_idx = np.searchsorted(
                events["t"], self.frame_ts_us, side="right"
            ).astype(np.int64)

    def __enter__(self) -> ArrayReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        # what a notebook shows, as EventReader's: no copy of the events, never raising
        try:
            return _reader_repr(self, len(self), self._closed)
        except Exception:  # a reader whose __init__ raised
            return f"<{type(self).__name__} (incomplete)>"

    @property
    def closed(self) -> bool:
        """Whether `close` was called: reads then raise."""
        return self._closed

    def close(self) -> None:
        """Refuse every read from now on with `EventFileError`, as `EventReader` does: reads
        after a close returned the events, so code reading a closed reader worked here and
        failed on an HDF5 file."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise closed_reader_error(self.path)

    def __len__(self) -> int:
        return int(self._ev.shape[0])

    @property
    def t_start_us(self) -> int:
        """Time of the first event (0 when there is none)."""
        return int(self._ev["t"][0]) if len(self) else 0

    @property
    def t_end_us(self) -> int:
        """One past the time of the last event (0 when there is none)."""
        return int(self._ev["t"][-1]) + 1 if len(self) else 0

    @property
    def duration_us(self) -> int:
        """``t_end_us - t_start_us``."""
        return self.t_end_us - self.t_start_us

    def read_index(self, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Events ``start:stop`` by index (a copy)."""
        self._check_open()
        return self._ev[start:stop].copy()

    def read(self, t_start_us: int | None = None, t_end_us: int | None = None) -> np.ndarray:
        """Events with ``t_start_us <= t < t_end_us`` (None means open-ended; a copy)."""
        self._check_open()
        t = self._ev["t"]
        # bounds checked and rounded as `EventReader.read` does: a NaN bound sorted past every
        # event and read nothing, without a word, and so did an end before the start
        t0, t1 = time_bounds(t_start_us, t_end_us)
        a = 0 if t0 is None else int(np.searchsorted(t, t0))
        b = len(t) if t1 is None else int(np.searchsorted(t, t1))
        return self._ev[a : max(a, b)].copy()

    def read_columns(
        self, t_start_us: int | None = None, t_end_us: int | None = None
    ) -> EventColumns:
        """Events with ``t_start_us <= t < t_end_us`` as four arrays, as
        `EventReader.read_columns` returns them (new contiguous arrays; empty when none)."""
        self._check_open()
        t = self._ev["t"]
        t0, t1 = time_bounds(t_start_us, t_end_us)
        a = 0 if t0 is None else int(np.searchsorted(t, t0))
        b = len(t) if t1 is None else max(a, int(np.searchsorted(t, t1)))
        part = self._ev[a:b]
        return EventColumns(*(part[name].astype(EVENT_DTYPE[name]) for name in "xytp"))

    def iter_windows(
        self, window_us: int, t_start_us: int | None = None, t_end_us: int | None = None
    ) -> Iterator[np.ndarray]:
        """Consecutive windows of ``window_us`` from ``t_start_us`` to ``t_end_us`` (empty ones too)."""
        yield from _iter_windows(self, window_us, t_start_us, t_end_us)

    def iter_chunks(self, n_events: int) -> Iterator[np.ndarray]:
        """Consecutive packets of ``n_events`` events (the last may be shorter)."""
        if n_events <= 0:
            raise ParameterError(f"n_events={n_events}; expected a positive count")
        for a in range(0, len(self), n_events):
            self._check_open()
            yield self._ev[a : a + n_events].copy()

    @property
    def num_frames(self) -> int:
        """Number of saved frames."""
        return 0 if self._frames is None else len(self._frames)

    def read_frame(self, i: int) -> np.ndarray:
        """Saved frame ``i`` (negative indices count from the end)."""
        frames = self._frames
        n = 0 if frames is None else len(frames)
        if frames is None or not -n <= i < n:
            raise ParameterError(f"frame index {i} is out of range; the file has {n} frames")
        self._check_open()
        return np.asarray(frames[i])


# -- column helpers ----------------------------------------------------------------------------
def times_to_us(
    t: np.ndarray, what: str, notes: list[str], time_unit: str | None = None
) -> tuple[np.ndarray, str]:
    """Integer or float times to int64 µs, detecting the unit unless ``time_unit`` is given.

    Integers are microseconds. Floats are seconds, unless every value is a whole number and
    they span more than 1000 (whole-second timestamps over 16 minutes do not occur in event
    data; float-typed microseconds do). The choice is appended to ``notes``.
    """
    t = np.asarray(t)
    if time_unit not in (None, *TIME_UNITS):
        raise ArgumentValueError("time_unit", time_unit, TIME_UNITS_EXPECTED)
    if t.dtype.kind not in "biufc":
        # text (a damaged or foreign file) has no time: np.round raised a bare TypeError
        raise InvalidEventsError(f"{what} holds {t.dtype} values; expected numbers (times)")
    if t.dtype.kind in "fc" and t.size and not np.all(np.isfinite(t)):
        bad = int(np.flatnonzero(~np.isfinite(t))[0])
        raise InvalidEventsError(f"{what} holds {t[bad]} at index {bad}; expected a finite time")
    if time_unit is None:
        if t.dtype.kind in "iub":
            unit = "us"
            how = f"integer {what}"
        elif t.size and np.all(t == np.round(t)) and float(t.max() - t.min()) > 1000:
            unit = "us"
            how = f"whole-number float {what} spanning more than 1000"
        else:
            unit = "s"
            if not t.size:
                how = f"float {what}, no events to tell by"
            elif np.all(t == np.round(t)):
                how = f"whole-number float {what} spanning 1000 or less"
            else:
                how = f"float {what} with fractional values"
        notes.append(f"time unit detected: {TIME_UNITS[unit]} ({how}){unit_hint(unit)}")
    else:
        unit = time_unit
        notes.append(f"time unit given: {TIME_UNITS[unit]}")
    if unit == "s":
        return seconds_to_us(t), unit
    per_us = {"us": 1, "ms": 1e-3, "ns": 1e3}[unit]
    if t.dtype.kind in "fc" or unit == "ms":
        t_us = np.rint(np.asarray(t, dtype=np.float64) / per_us).astype(np.int64)
        from eventsim.io.text import merged_times_note

        merged = merged_times_note(t, t_us, unit)
        if merged is not None:
            notes.append(merged)
        return t_us, unit
    if unit == "ns":
        # to the nearest microsecond, in integers: float64 would round large ns times
        return np.floor_divide(t.astype(np.int64) + 500, 1000), unit
    return t.astype(np.int64), unit


@dataclass(frozen=True)
class KeptPolarity:
    """Polarity a reader given ``check_polarity=False`` read on rather than refused.
    ``refusal``: what the reader would have raised, naming the first bad value as the file
    writes it; it ends in ``hint``, where the columns' order was guessed, how to give another
    ('' where the file named it). ``unreadable``: how many values int8 cannot hold exactly (a
    fraction, NaN, beyond -128..127) were read as -128, a stand-in the file does not hold
    (`eventsim info` counts them neither ON nor OFF)."""

    refusal: str
    unreadable: int
    hint: str = ""


def polarity_01(
    p: np.ndarray, what: str, notes: list[str], check_polarity: bool = True
) -> tuple[np.ndarray, KeptPolarity | None]:
    """Polarity to int8 {0, 1}; -1/+1 is converted and the conversion noted. Other values
    raise `InvalidEventsError`, or without ``check_polarity`` are kept (`_polarity_as_read`)
    and said in the `KeptPolarity` returned with them (None for good polarity)."""
    p = np.asarray(p)
    signed = p.dtype != np.bool_ and bool(p.size) and bool(np.any(p == -1))
    try:
        out = normalize_polarity(p, allow_signed=signed)
    except InvalidEventsError as exc:
        if check_polarity:
            raise InvalidEventsError(f"{what}: {exc}") from None
        as_read, unreadable = _polarity_as_read(p, what, notes, signed)
        return as_read, KeptPolarity(f"{what}: {exc}", unreadable)
    if signed:
        notes.append(f"polarity -1/+1 in {what} converted to 0/1 (-1 -> 0, +1 -> 1)")
    return out, None


def _polarity_as_read(
    p: np.ndarray, what: str, notes: list[str], signed: bool
) -> tuple[np.ndarray, int]:
    """Polarity as the file holds it, for a tool that reports bad events (`StreamCheck`, as the
    readers of our HDF5 files let it) rather than refuses them, and how many values int8
    cannot hold exactly (a fraction, NaN, beyond -128..127): those are read as -128, with a
    note naming the first. A -1/+1 column (``signed``, no 0) still has its -1 read as 0."""
    try:
        values = p.astype(np.float64)
    except (TypeError, ValueError):
        # text that is no number: no value is a polarity (each read as -128 below)
        values = np.full(p.shape, np.nan)
    if signed and not np.any(values == 0):
        # else each -1 of an MVSEC-style file would be reported as the bad value, not the
        # stray one among them
        values[values == -1] = 0
        notes.append(f"polarity -1/+1 in {what} converted to 0/1 (-1 -> 0, +1 -> 1)")
    with np.errstate(invalid="ignore"):
        exact = np.isfinite(values) & (values == np.round(values))
        exact &= (values >= -128) & (values <= 127)
    unreadable = int(exact.size - np.count_nonzero(exact))
    if unreadable:
        bad = int(np.flatnonzero(~exact)[0])
        more = f" ({unreadable:,} values so)" if unreadable > 1 else ""
        notes.append(
            f"{what}: polarity at index {bad} is {p[bad].item()!r}, which int8 cannot hold; "
            f"read as -128{more}"
        )
    return np.where(exact, values, -128).astype(np.int8), unreadable


def build_events(
    x: np.ndarray,
    y: np.ndarray,
    t_us: np.ndarray,
    p01: np.ndarray,
    notes: list[str],
    shown: Callable[[str, int], str] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Columns to `EVENT_DTYPE`, sorting by time (stable) with a note if needed. Returns the
    events and, when they were sorted, each one's index in the columns given (else None): it
    is kept only then, so messages can name the file's index of a bad event.
    `InvalidEventsError` for a coordinate that is no whole number or does not fit int16, named
    by ``shown(column, index)`` where given (a text reader's: its text and line), else by its
    value and index."""
    x, y = np.asarray(x), np.asarray(y)
    for name, c in (("x", x), ("y", y)):
        _check_coordinates(name, c, shown)
    # p01 comes from polarity_01, kept as read when asked to (check_polarity=False), which
    # make_events would refuse
    ev = make_events(_as_int64("x", x), _as_int64("y", y), t_us, np.zeros_like(p01))
    ev["p"] = p01
    t = ev["t"]
    if t.size > 1:
        n_bad = int(np.count_nonzero(t[1:] < t[:-1]))
        if n_bad:
            order = np.argsort(t, kind="stable")
            notes.append(f"{SORTED_NOTE} ({n_bad} decreasing steps); sorted them")
            # kept as long as the reader: int32 halves what it adds to the events' 13 bytes
            index_type = np.int32 if t.size <= np.iinfo(np.int32).max else np.int64
            return ev[order], order.astype(index_type)
    return ev, None


def _as_int64(name: str, c: np.ndarray) -> np.ndarray:
    """Coordinate column ``c`` as int64; `InvalidEventsError` for text that is no number (the
    cast's bare ValueError named neither the column nor the file's fault)."""
    try:
        return c.astype(np.int64)
    except (TypeError, ValueError):
        raise InvalidEventsError(
            f"coordinate column {name!r} holds {c.dtype} values that are not numbers; "
            "expected integers"
        ) from None


def _check_coordinates(name: str, c: np.ndarray, shown: Callable[[str, int], str] | None) -> None:
    """`InvalidEventsError` for the first value of coordinate column ``c`` that int16 cannot
    hold exactly (see `build_events`). Before the int64 cast: 1e20 and inf became INT64_MIN
    there, with a RuntimeWarning and 'outside int16: -9223372036854775808'."""
    if not c.size or c.dtype.kind not in "iuf":
        return
    info = np.iinfo(np.int16)
    if c.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(c) & (c == np.round(c))
        if not whole.all():
            bad = int(np.argmin(whole))
            where = f"{c[bad]} at index {bad}" if shown is None else shown(name, bad)
            raise InvalidEventsError(
                f"coordinate column {name!r} holds non-integer values (such as {where})"
            )
    if c.min() >= info.min and c.max() <= info.max:
        return
    bad = int(np.argmin((c >= info.min) & (c <= info.max)))
    where = f"{c[bad]} at index {bad}" if shown is None else shown(name, bad)
    raise InvalidEventsError(
        f"coordinate column {name!r} has values outside int16 ({info.min}..{info.max}), such "
        f"as {where}"
    )


def resolve_sensor_size(
    file_size: tuple[int, int] | None,
    given: tuple[int, int] | None,
    events: np.ndarray,
    path: Path,
    notes: list[str],
) -> tuple[tuple[int, int], bool]:
    """The file's size, else the given one, else inferred (noted). Returns (size, inferred)."""
    if file_size is not None:
        try:
            file_size = check_sensor_size(file_size)
        except ParameterError as exc:
            # the file's fault, not a parameter the caller gave: name the file
            raise EventFileError(
                f"{str(path)!r} records a sensor size that cannot be one: {exc}; the file is "
                "corrupt"
            ) from None
        if given is not None and tuple(given) != file_size:
            raise ArgumentValueError(
                "sensor_size",
                given,
                f" was given but {str(path)!r} records {file_size[0]}x{file_size[1]}",
            )
        return file_size, False
    if given is not None:
        return check_sensor_size(given), False
    # at least 1x1: events whose every x (or y) is negative gave 0 or less, refused as a size
    # out of range that no one gave, where checks of the events name the bad coordinate
    width, height = infer_sensor_size(events)
    size = max(width, 1), max(height, 1)
    if events.size:
        notes.append(
            f"sensor size not recorded; inferred {size[0]}x{size[1]} from the largest "
            "coordinates (pass sensor_size / --sensor-size to set it)"
        )
    else:
        notes.append(
            "sensor size not recorded and no events to infer it from (pass sensor_size / "
            "--sensor-size to set it)"
        )
    return size, True


def _refuse_columns(columns: str, what: str) -> None:
    """A column order given for events whose columns are named or fixed would be ignored."""
    if columns != "txyp":
        raise ArgumentValueError(
            "columns", columns, f" applies only to N x 4 arrays in .npy/.npz files; {what}"
        )


def _columns_from_matrix(arr: np.ndarray, columns: str, what: str) -> dict[str, np.ndarray]:
    if arr.ndim != 2 or arr.shape[1] < 4:
        raise UnknownLayoutError(f"{what} has shape {arr.shape}; expected N x 4 [{columns}]")
    if sorted(columns) != sorted("txyp"):
        raise ArgumentValueError("columns", columns, "; expected a permutation of 'txyp'")
    return {c: arr[:, i] for i, c in enumerate(columns)}


def _has_hdf5_signature(path: Path, size: int) -> bool:
    """Whether ``path`` holds HDF5's signature where the library looks for its superblock:
    byte 0, or past a user block, at 512, 1024, 2048, ... bytes. Files with a user block
    (``h5py.File(..., userblock_size=512)``) were read as text under ``--layout csv``."""
    # unbuffered: a buffered read of 8 bytes fills a buffer of st_blksize (4-16 MiB on
    # cluster file systems) at each of the ~25 offsets of a 10 GB file
    with open(path, "rb", buffering=0) as fh:
        offset = 0
        while offset + len(HDF5_SIGNATURE) <= size:
            fh.seek(offset)
            if fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
            offset = 2 * offset or 512
    return False


# -- entry point -------------------------------------------------------------------------------
def check_event_path(path: str | os.PathLike) -> None:
    """`EventFileError` when ``path`` cannot be an event file (missing, a folder, a device,
    pipe or socket, empty), as `open_events` refuses it, without opening it: for a command that
    names a bad input before it checks its output, and reads the input only after that."""
    path = Path(path)
    if not path.exists():
        raise EventFileError(f"event file {str(path)!r} does not exist")
    if path.is_dir():
        raise EventFileError(f"{str(path)!r} is a directory; expected an event file")
    if not path.is_file():
        # a device, FIFO or socket: it reports 0 bytes, or a read would wait for a writer
        raise EventFileError(
            f"{str(path)!r} is not a regular file (a device, pipe or socket); expected an "
            "event file"
        )
    if path.stat().st_size == 0:
        raise EventFileError(f"event file {str(path)!r} is empty (0 bytes)")


def open_events(
    path: str | os.PathLike,
    *,
    sensor_size: tuple[int, int] | None = None,
    layout: str | None = None,
    time_unit: str | None = None,
    columns: str = "txyp",
    check_polarity: bool = True,
) -> EventFileReader:
    """Open any supported event file and return a reader (`EventReader` or `ArrayReader`).

    ``layout`` forces one of `LAYOUT_CHOICES` instead of sniffing, or one of `LAYOUT_ALIASES`
    that readers report (``"eventsim"``; ``"evt"`` for a file whose suffix faery reads as
    EVT...); ``"evt2"``, ``"evt3"`` or ``"evt21"`` reads a raw EVT file whose header names no
    version as that version. ``time_unit`` (a key of `TIME_UNITS`: ``"us"``, ``"s"``, ``"ms"``,
    ``"ns"``, e.g. rpg_vid2e's nanoseconds) overrides time-unit detection; ``columns`` is the column order of N x 4 arrays
    in ``.npy``/``.npz`` files. ``sensor_size`` is used where the file does not record one.
    ``check_polarity=False`` reads polarity other than 0/1 and -1/+1, or mixing the two, as
    the file holds it instead of refusing the file, for tools that report bad events
    (`eventsim.events.StreamCheck`) rather than refuse them (``eventsim info``); an HDF5
    reader's -1/+1 column reads a stray 0 as 0 and names the mix in its ``polarity_mix``.
    """
    path = Path(path)
    given_layout = layout
    if isinstance(layout, str):
        # as format_from_path takes --to: 'DSEC' or 'CSV' was refused as unknown
        layout = layout.lower()
    faery_format = layout if layout in FAERY_SUFFIXES else None
    evt_version = EVT_VERSION_LAYOUTS.get(layout) if isinstance(layout, str) else None
    if evt_version is not None:
        faery_format, layout = "evt", "faery"
    if layout is not None and layout not in LAYOUT_CHOICES:
        if layout not in LAYOUT_ALIASES:
            aliases = ", ".join(f"{a} ({c})" for a, c in LAYOUT_ALIASES.items())
            raise ArgumentValueError(
                "layout",
                given_layout,
                f" is unknown; valid: {', '.join(LAYOUT_CHOICES)}, or a name for one that a "
                f"reader reports or a format written: {aliases}",
            )
        layout = LAYOUT_ALIASES[layout]
    if sensor_size is not None:
        sensor_size = check_sensor_size(sensor_size)
    check_event_path(path)
    size = path.stat().st_size
    signed = _has_hdf5_signature(path, size)
    ext = path.suffix.lower()
    if faery_format is not None and ext not in FAERY_SUFFIXES[faery_format]:
        # faery tells its formats by the suffix alone: another one's would be read instead;
        # eventsim's EVT 2.1 decoder is reached by the same suffixes
        reader, told = ("eventsim", "EVT 2.1") if evt_version == "2.1" else ("faery", faery_format)
        raise UnknownLayoutError(
            f"{str(path)!r} cannot be read with the {given_layout!r} layout: {reader} tells "
            f"{told} files by the suffix {' or '.join(FAERY_SUFFIXES[faery_format])}, "
            f"and this one ends in {ext!r}"
        )
    # a layout forced for a file of another kind is read as forced, whatever its suffix: a CSV
    # named .h5 given --layout csv was read as HDF5 (and called corrupt)
    forced_other = layout is not None and layout not in HDF5_LAYOUTS
    if forced_other and signed:
        raise UnknownLayoutError(
            f"{str(path)!r} is an HDF5 file, which the {layout!r} layout does not read; HDF5 "
            f"layouts: {', '.join(HDF5_LAYOUTS)}"
        )
    if not forced_other and (signed or ext in HDF5_EXTENSIONS or layout in HDF5_LAYOUTS):
        if not signed and not h5py.is_hdf5(path):
            if ext not in HDF5_EXTENSIONS:
                # only the forced layout made it HDF5: nothing is damaged
                raise UnknownLayoutError(
                    f"{str(path)!r} does not have the {layout!r} layout: it is not an HDF5 "
                    "file (no HDF5 signature)"
                )
            from eventsim.io.formats import sniff_event_file

            # an array saved under an HDF5 name is not damaged: say what it is (as EventReader
            # does) and how to read it
            guess = sniff_event_file(path)
            if guess is not None and guess.by_contents and guess.layout != "hdf5":
                raise UnknownLayoutError(
                    f"{str(path)!r} is {guess.what}, not HDF5, whatever its name: read it with "
                    f"layout={guess.layout!r} (--layout {guess.layout} on the command line)"
                )
            raise EventFileError(
                f"{str(path)!r} is not a readable HDF5 file (no HDF5 signature): it is "
                "truncated or corrupt"
            )
        _refuse_columns(columns, f"{str(path)!r} is HDF5, whose layouts fix their columns")
        return _open_hdf5_layout(path, sensor_size, layout, time_unit, check_polarity)
    kind = layout or ARRAY_EXTENSIONS.get(ext)
    if kind == "npy":
        return _open_npy(path, sensor_size, time_unit, columns, check_polarity)
    if kind == "npz":
        return _open_npz(path, sensor_size, time_unit, columns, check_polarity)
    if kind == "txt":
        _refuse_columns(columns, f"{str(path)!r} is rpg text, whose columns are t x y p")
        return _open_txt(path, sensor_size, time_unit, check_polarity)
    from eventsim.io import formats

    if layout == "csv" or (ext in (".csv", ".tsv") and layout in (None, "faery")):
        # a CSV's order is its header's: the way to give one, as Metavision's files do
        _refuse_columns(
            columns,
            f"{str(path)!r} is CSV, whose header line names its columns (such as x,y,p,t); "
            "without one they are t,x,y,p",
        )
        from eventsim.io import text

        return text.read_csv(path, sensor_size, time_unit, check_polarity)
    if layout == "faery" or ext in formats.FAERY_EXTENSIONS:
        _refuse_columns(
            columns, f"{str(path)!r} is a {ext or 'faery'} file, whose format fixes them"
        )
        if time_unit not in (None, "us"):
            raise ArgumentValueError(
                "time_unit",
                time_unit,
                f" does not apply to {ext or 'these'} files: their format fixes the unit (µs)",
            )
        events, file_size, notes, meta = formats.read_faery(path, sensor_size, evt_version)
        size_, inferred = resolve_sensor_size(file_size, sensor_size, events, path, notes)
        return ArrayReader(
            events,
            size_,
            path=path,
            layout=meta["layout"],
            notes=notes,
            sensor_size_inferred=inferred,
            file_index=meta.get("file_index"),
        )
    frames = formats.frames_kind(path)
    if frames is not None:
        # 'cannot tell the format' left a user who gave a video no hint of what went wrong;
        # a TIFF may be a stack of frames, which simulate reads as a video
        still = ext in formats.IMAGE_SUFFIXES and ext not in (".tif", ".tiff")
        given = ("--image ", " --motion saccade") if still else ("", "")
        command = f"eventsim simulate {given[0]}{path}{given[1]} -o {path.stem}.h5"
        raise UnknownLayoutError(
            f"{str(path)!r} is {frames}, which holds frames, not events: simulate events from it "
            f"('{command}'; eventsim.simulator.simulate in Python) and read the file written"
        )
    raise UnknownLayoutError(
        f"cannot tell the format of {str(path)!r} from its extension {ext!r} or contents; "
        f"supported: HDF5 ({', '.join(HDF5_EXTENSIONS)}), .npy, .npz, .txt, .csv, .tsv, "
        f"{', '.join(formats.FAERY_EXTENSIONS)}"
    )


def load_events(path: str | os.PathLike, **kw: Any) -> np.ndarray:
    """All events of a file as one `EVENT_DTYPE` array (see `open_events` for options)."""
    with open_events(path, **kw) as r:
        return r.read()


def _sniff_hdf5(f: h5py.File) -> str | None:
    ev = f.get("events")
    if isinstance(ev, h5py.Group):
        if all(isinstance(ev.get(k), h5py.Dataset) for k in "xytp"):
            return "dsec"
        if all(isinstance(ev.get(k), h5py.Dataset) for k in ("xs", "ys", "ts", "ps")):
            return "event_utils"
    if isinstance(ev, h5py.Dataset) and ev.ndim == 2 and ev.shape[1] >= 4:
        return "v2e"
    if isinstance(f.get("CD/events"), h5py.Dataset):
        return "prophesee"
    for side in ("left", "right"):
        if isinstance(f.get(f"davis/{side}/events"), h5py.Dataset):
            return "mvsec"
    return None


def _describe_keys(f: h5py.File, path: Path) -> str:
    names: list[str] = []
    try:
        f.visit(lambda n: names.append(n) if len(names) < 12 else None)
    except (OSError, KeyError, RuntimeError) as exc:
        # h5py's bare RuntimeError ('Object visitation failed') for a damaged group
        raise _hdf5_damaged(path, exc) from None
    return ", ".join(names) if names else "nothing"


def _hdf5_damaged(path: Path, exc: BaseException) -> EventFileError:
    return EventFileError(
        f"cannot read {str(path)!r}: its HDF5 structure is truncated or corrupt ({exc})"
    )


def _open_hdf5_layout(
    path: Path,
    sensor_size: tuple[int, int] | None,
    layout: str | None,
    time_unit: str | None,
    check_polarity: bool,
) -> EventFileReader:
    f = open_hdf5(path)
    try:
        try:
            found = _sniff_hdf5(f)
        except (OSError, KeyError, RuntimeError) as exc:
            # damaged metadata: HDF5 fails to follow a link or header while looking for the
            # layout's objects
            raise _hdf5_damaged(path, exc) from None
        if layout is not None and layout != found:
            what = HDF5_LAYOUTS.get(layout, "not an HDF5 layout")
            raise UnknownLayoutError(
                f"{str(path)!r} does not have the {layout!r} layout ({what}); "
                f"detected: {found or 'none'}"
            )
        if found is None:
            if "index_json" in f and "samples" in f:
                # a user who opens one shard of a built dataset wants the dataset's tools
                dataset = path.parent.parent
                raise UnknownLayoutError(
                    f"{str(path)!r} is a shard of an eventsim dataset (many samples' events), not "
                    f"one recording; read the dataset with EventVQADataset({str(dataset)!r}, "
                    "split) in Python, check it with 'eventsim verify' (of the same folder), or "
                    f"describe it: {shell_command('eventsim', 'info', dataset)}"
                )
            tried = "; ".join(HDF5_LAYOUTS.values())
            raise UnknownLayoutError(
                f"{str(path)!r} is HDF5 but matches no known event layout. Tried: {tried}. "
                f"The file contains: {_describe_keys(f, path)}"
            )
        if found == "dsec":
            if time_unit not in (None, "us"):
                raise ArgumentValueError(
                    "time_unit", time_unit, " does not apply to DSEC-layout files (µs)"
                )
            f.close()
            return EventReader(path, sensor_size=sensor_size, check_polarity=check_polarity)
        loader = {
            "event_utils": _load_event_utils,
            "v2e": _load_v2e,
            "prophesee": _load_prophesee,
            "mvsec": _load_mvsec,
        }[found]
        try:
            return loader(f, path, sensor_size, time_unit, check_polarity)
        except EventFileError:
            # a loader's own refusal (EvQA's base_time, Prophesee's ECF codec) says what is
            # wrong; EventFileError is an OSError, which the line below takes for damage
            raise
        except (OSError, KeyError, RuntimeError) as exc:
            raise EventFileError(
                f"cannot read the {found} events in {str(path)!r}: truncated or corrupt ({exc})"
            ) from None
    finally:
        f.close()


def _attr_size_hw(attrs: Any, key: str, path: Path) -> tuple[int, int] | None:
    """A (height, width) attribute such as event_utils' ``sensor_resolution`` as (W, H)."""
    if key not in attrs:
        return None
    v = np.asarray(attrs[key]).ravel()
    if v.size < 2:
        return None
    return _recorded_int(v[1], f"{key}[1]", path), _recorded_int(v[0], f"{key}[0]", path)


def _load_event_utils(
    f: h5py.File,
    path: Path,
    sensor_size: tuple[int, int] | None,
    time_unit: str | None,
    check_polarity: bool,
) -> ArrayReader:
    g = f["events"]
    notes: list[str] = []
    t_us, unit = times_to_us(g["ts"][()], "events/ts", notes, time_unit)
    offset = _evqa_base_time(f.attrs, path, notes)
    if offset and t_us.size:
        ends = int(t_us.min()) + offset, int(t_us.max()) + offset
        if not all(np.iinfo(np.int64).min <= e <= np.iinfo(np.int64).max for e in ends):
            raise EventFileError(
                f"{str(path)!r}: events/ts plus base_time ({offset} us) leave int64 µs"
            )
        t_us = t_us + offset
    p, kept = polarity_01(g["ps"][()], "events/ps", notes, check_polarity)
    ev, order = build_events(g["xs"][()], g["ys"][()], t_us, p, notes)
    recorded = _attr_size_hw(f.attrs, "sensor_resolution", path)
    if recorded is not None and len(ev):
        # rosbag_to_h5 records [max(ys), max(xs)] when a bag has no images: one pixel short.
        # Grow by that pixel; a larger overshoot is bad data that validation reports.
        reach = (int(ev["x"].max()) + 1, int(ev["y"].max()) + 1)
        grown = (max(recorded[0], reach[0]), max(recorded[1], reach[1]))
        if grown != recorded and grown[0] - recorded[0] <= 1 and grown[1] - recorded[1] <= 1:
            notes.append(
                f"sensor_resolution records {recorded[0]}x{recorded[1]} but events reach "
                f"x={reach[0] - 1}, y={reach[1] - 1} (event_utils stores the largest "
                f"coordinates when a recording has no images); using {grown[0]}x{grown[1]}"
            )
            recorded = grown
    size, inferred = resolve_sensor_size(recorded, sensor_size, ev, path, notes)
    frames = frame_ts = None
    imgs = f.get("images")
    if isinstance(imgs, h5py.Group) and len(imgs):
        names = sorted(k for k in imgs if isinstance(imgs[k], h5py.Dataset))
        if names and all("timestamp" in imgs[k].attrs for k in names):
            raw_ts = np.array([imgs[k].attrs["timestamp"] for k in names])
            frame_ts = seconds_to_us(raw_ts) if unit == "s" else np.rint(raw_ts).astype(np.int64)
            # EvQA's image times are on the events' relative clock
            frame_ts = frame_ts + offset
            frames = [np.asarray(imgs[k][()]) for k in names]
    attrs = {k: _plain(v) for k, v in f.attrs.items()}
    return ArrayReader(
        ev,
        size,
        path=path,
        layout="event_utils",
        notes=notes,
        polarity_kept=kept,
        attrs=attrs,
        time_unit_detected=unit,
        sensor_size_inferred=inferred,
        frames=frames,
        frame_ts_us=frame_ts,
        t_offset_us=offset,
        file_index=order,
    )


def _evqa_base_time(attrs: Any, path: Path, notes: list[str]) -> int:
    """EvQA's ``base_time`` (epoch seconds, float64) in µs: its ``events/ts`` count from it.
    Taken from the double's exact value, so one written from whole microseconds comes back
    as them."""
    if "base_time" not in attrs:
        return 0
    raw = np.asarray(attrs["base_time"])
    try:
        base = Decimal(float(raw.item()))
    except (TypeError, ValueError):
        base = Decimal("nan")
    if raw.size != 1 or not base.is_finite() or abs(base) > 9e12:
        raise EventFileError(
            f"{str(path)!r}: attribute base_time is {raw!r}; expected the recording's start in "
            "epoch seconds (EvQA), or 0.0"
        )
    offset = int((base * 1_000_000).to_integral_value(rounding=ROUND_HALF_EVEN))
    if offset:
        notes.append(
            f"times in events/ts are relative to base_time {float(base)!r} s (EvQA); "
            f"added {offset} us"
        )
    return offset


def _load_v2e(
    f: h5py.File,
    path: Path,
    sensor_size: tuple[int, int] | None,
    time_unit: str | None,
    check_polarity: bool,
) -> ArrayReader:
    arr = f["events"][()]
    notes: list[str] = []
    cols = _columns_from_matrix(arr, "txyp", "/events")
    t_us, unit = times_to_us(cols["t"], "/events[:, 0]", notes, time_unit)
    p, kept = polarity_01(cols["p"], "/events[:, 3]", notes, check_polarity)
    ev, order = build_events(cols["x"], cols["y"], t_us, p, notes)
    recorded = None
    if "sensor_width" in f.attrs and "sensor_height" in f.attrs:
        recorded = (
            _recorded_int(f.attrs["sensor_width"], "attribute sensor_width", path),
            _recorded_int(f.attrs["sensor_height"], "attribute sensor_height", path),
        )
    elif sensor_size is None:
        recorded = _v2e_frame_size(f.get("frame"), ev, notes)
    size, inferred = resolve_sensor_size(recorded, sensor_size, ev, path, notes)
    frames = frame_ts = None
    if isinstance(f.get("frame"), h5py.Dataset) and isinstance(f.get("frame_ts"), h5py.Dataset):
        frames = f["frame"][()]
        raw_ts = f["frame_ts"][()]
        frame_ts = seconds_to_us(raw_ts) if unit == "s" else np.rint(raw_ts).astype(np.int64)
    return ArrayReader(
        ev,
        size,
        path=path,
        layout="v2e",
        notes=notes,
        polarity_kept=kept,
        time_unit_detected=unit,
        sensor_size_inferred=inferred,
        frames=frames,
        frame_ts_us=frame_ts,
        file_index=order,
    )


def _v2e_frame_size(frame: Any, ev: np.ndarray, notes: list[str]) -> tuple[int, int] | None:
    """(W, H) of v2e's ``/frame`` (n_frames x H x W), which v2e writes at the sensor's size and
    records nowhere else; None when there is no such dataset or the events reach past it (the
    size is then inferred from the events, as for a file without frames)."""
    if not isinstance(frame, h5py.Dataset) or frame.ndim != 3:
        return None
    try:
        size = check_sensor_size((frame.shape[2], frame.shape[1]))
    except ParameterError:
        return None
    if len(ev) and (int(ev["x"].max()) >= size[0] or int(ev["y"].max()) >= size[1]):
        return None
    notes.append(
        f"sensor size not recorded; took {size[0]}x{size[1]} from the shape of /frame "
        "(pass sensor_size / --sensor-size to set it)"
    )
    return size


def _filters(ds: h5py.Dataset) -> list[int]:
    plist = ds.id.get_create_plist()
    return [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]


def _load_prophesee(
    f: h5py.File,
    path: Path,
    sensor_size: tuple[int, int] | None,
    time_unit: str | None,
    check_polarity: bool,
) -> ArrayReader:
    ds = f["CD/events"]
    if ECF_FILTER_ID in _filters(ds):
        raise EventFileError(
            f"{str(path)!r} is a Prophesee HDF5 file compressed with the ECF codec (HDF5 filter "
            f"{ECF_FILTER_ID}), which h5py cannot decode. Install Prophesee's ECF plugin "
            "(hdf5_ecf, shipped with the Metavision SDK or OpenEB) and set HDF5_PLUGIN_PATH to "
            "its folder, or convert the file to .raw (EVT3) with Metavision and read that"
        )
    names = ds.dtype.names or ()
    if not all(k in names for k in "xytp"):
        raise UnknownLayoutError(
            f"{str(path)!r}: /CD/events has fields {list(names)}; expected x, y, p, t"
        )
    arr = ds[()]
    notes: list[str] = []
    t_us, unit = times_to_us(arr["t"], "/CD/events t", notes, time_unit)
    p, kept = polarity_01(arr["p"], "/CD/events p", notes, check_polarity)
    ev, order = build_events(arr["x"], arr["y"], t_us, p, notes)
    file_size = None
    attrs = {k: _plain(v) for k, v in f.attrs.items()}
    geom = attrs.get("geometry")
    if isinstance(geom, str) and "x" in geom:
        try:
            w, h = (int(v) for v in geom.lower().split("x"))
            file_size = (w, h)
        except ValueError:
            file_size = None
    elif "width" in attrs and "height" in attrs:
        file_size = (int(attrs["width"]), int(attrs["height"]))
    size, inferred = resolve_sensor_size(file_size, sensor_size, ev, path, notes)
    return ArrayReader(
        ev,
        size,
        path=path,
        layout="prophesee",
        notes=notes,
        polarity_kept=kept,
        attrs=attrs,
        time_unit_detected=unit,
        sensor_size_inferred=inferred,
        file_index=order,
    )


def _load_mvsec(
    f: h5py.File,
    path: Path,
    sensor_size: tuple[int, int] | None,
    time_unit: str | None,
    check_polarity: bool,
) -> ArrayReader:
    side = "left" if "davis/left/events" in f else "right"
    arr = f[f"davis/{side}/events"][()]
    notes: list[str] = [f"read the {side} camera's events"]
    cols = _columns_from_matrix(arr, "xytp", f"davis/{side}/events")
    t_us, unit = times_to_us(cols["t"], f"davis/{side}/events t", notes, time_unit)
    p, kept = polarity_01(cols["p"], f"davis/{side}/events p", notes, check_polarity)
    ev, order = build_events(cols["x"], cols["y"], t_us, p, notes)
    size, inferred = resolve_sensor_size(None, sensor_size, ev, path, notes)
    return ArrayReader(
        ev,
        size,
        path=path,
        layout="mvsec",
        notes=notes,
        polarity_kept=kept,
        time_unit_detected=unit,
        sensor_size_inferred=inferred,
        file_index=order,
    )


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


# -- numpy and text files ------------------------------------------------------------------------
def _events_from_array(
    arr: np.ndarray,
    what: str,
    columns: str,
    time_unit: str | None,
    notes: list[str],
    check_polarity: bool,
) -> tuple[np.ndarray, np.ndarray | None, str, KeptPolarity | None]:
    """The events of an array, each one's index in it when they were sorted, the unit, and the
    polarity kept (`polarity_01`)."""
    names = arr.dtype.names
    # what the notes and refusals call the time and polarity columns
    labels = {c: f"{what} {c}" for c in "tp"}
    if names:
        _refuse_columns(columns, f"{what} is a structured array: its fields name the columns")
        alias = {"x": ("x", "xs"), "y": ("y", "ys"), "t": ("t", "ts"), "p": ("p", "ps", "on")}
        cols = {}
        for key, options in alias.items():
            name = next((n for n in options if n in names), None)
            if name is None:
                raise UnknownLayoutError(
                    f"{what} is a structured array with fields {list(names)}; expected x, y, t, p"
                )
            cols[key] = arr[name]
    else:
        cols = _columns_from_matrix(arr, columns, what)
        # a plain matrix has no names: say which column was taken as what
        read_as = f"an N x {arr.shape[1]} array read as columns {', '.join(columns)}"
        # each worded for its note: the time unit's, in parentheses; polarity's, mid-sentence
        labels = {"t": f"column t of {what}, {read_as}", "p": f"{what} column p ({read_as})"}
        what = f"{what} ({read_as})"
    try:
        if arr.dtype == EVENT_DTYPE and time_unit in (None, "us"):
            unit = "us"
            notes.append("time unit: microseconds (EVENT_DTYPE)")
            t_us = cols["t"]
        else:
            t_us, unit = times_to_us(cols["t"], labels["t"], notes, time_unit)
        p, kept = polarity_01(cols["p"], labels["p"], notes, check_polarity)
        if kept is not None and not names:
            hint = _order_hint(what)
            kept = replace(kept, refusal=kept.refusal + hint, hint=hint)
        return *build_events(cols["x"], cols["y"], t_us, p, notes), unit, kept
    except InvalidEventsError as exc:
        if names:
            raise
        raise InvalidEventsError(f"{exc}{_order_hint(what)}") from None


def _order_hint(what: str) -> str:
    """The end of a refusal of the events of a plain matrix ``what``: how to give another
    order of its columns, the usual cause (esim_py's N x 4 arrays are x, y, t, p)."""
    return (
        f" in {what}; if its columns are in another order, give it (columns= in "
        "open_events, --columns to 'eventsim info', 'convert', 'render' or 'plot'; "
        "esim_py writes xytp)"
    )


# how .npy files and .npz archives (zip) start; np.load reads anything else as a pickle
_NUMPY_MAGICS = (b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06")
# what np.load and an .npz archive's arrays raise for a damaged file: a cut or bad header,
# and for an archive the zip's own errors (directory, CRC) and its deflate stream's
_NUMPY_DAMAGE = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def _load_npy_array(path: Path) -> Any:
    with open(path, "rb") as fh:
        head = fh.read(6)
    if not head.startswith(_NUMPY_MAGICS):
        # np.load's own message would be about pickled data, which the file need not hold
        raise UnknownLayoutError(
            f"{str(path)!r} is not a numpy .npy/.npz file (it does not start with numpy's "
            "header or a zip signature)"
        )
    try:
        return np.load(path, allow_pickle=False)
    except _NUMPY_DAMAGE as exc:
        raise EventFileError(
            f"cannot read {str(path)!r} as a numpy file: truncated or corrupt ({exc})"
        ) from None


def _npz_member(archive: Any, name: str, path: Path) -> np.ndarray:
    """Array ``name`` of an open .npz archive: np.load reads each only when asked, so a
    damaged one raised zipfile's or zlib's own error (a bad CRC, a cut deflate stream)."""
    try:
        return np.asarray(archive[name])
    except _NUMPY_DAMAGE as exc:
        raise EventFileError(
            f"cannot read array {name!r} of {str(path)!r}: truncated or corrupt ({exc})"
        ) from None


def _npz_sensor_size(value: np.ndarray, path: Path) -> tuple[int, int]:
    """An .npz archive's ``sensor_size`` (W, H): two whole numbers, else `EventFileError`."""
    s = value.ravel()
    if s.size == 2 and s.dtype.kind in "iu":
        return int(s[0]), int(s[1])
    if s.size == 2 and s.dtype.kind == "f" and np.all(np.isfinite(s) & (s == np.round(s))):
        return int(s[0]), int(s[1])
    raise EventFileError(
        f"{str(path)!r}: its sensor_size is {value.tolist()!r}; expected two whole numbers, "
        "width and height"
    )


def _open_npy(
    path: Path,
    sensor_size: tuple[int, int] | None,
    time_unit: str | None,
    columns: str,
    check_polarity: bool,
) -> ArrayReader:
    arr = _load_npy_array(path)
    if not isinstance(arr, np.ndarray):
        raise UnknownLayoutError(
            f"{str(path)!r} is an .npz archive, not an .npy array: read it as one (a name "
            "ending in .npz, or layout 'npz' / --layout npz)"
        )
    notes: list[str] = []
    ev, order, unit, kept = _events_from_array(
        arr, path.name, columns, time_unit, notes, check_polarity
    )
    from eventsim.io.formats import npy_sensor_size

    size, inferred = resolve_sensor_size(npy_sensor_size(arr.dtype), sensor_size, ev, path, notes)
    return ArrayReader(
        ev,
        size,
        path=path,
        layout="npy",
        notes=notes,
        polarity_kept=kept,
        time_unit_detected=unit,
        sensor_size_inferred=inferred,
        file_index=order,
    )


def _open_npz(
    path: Path,
    sensor_size: tuple[int, int] | None,
    time_unit: str | None,
    columns: str,
    check_polarity: bool,
) -> ArrayReader:
    archive = _load_npy_array(path)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UnknownLayoutError(
            f"{str(path)!r} is a single .npy array, not an .npz archive: read it as one (a "
            "name ending in .npy, or layout 'npy' / --layout npy)"
        )
    with archive:
        keys = set(archive.files)
        notes: list[str] = []
        file_size = None
        kept = None
        if "sensor_size" in keys:
            file_size = _npz_sensor_size(_npz_member(archive, "sensor_size", path), path)
        if "events" in keys:
            ev, order, unit, kept = _events_from_array(
                _npz_member(archive, "events", path),
                f"{path.name}:events",
                columns,
                time_unit,
                notes,
                check_polarity,
            )
        else:
            picked = {}
            for key, options in {
                "x": ("x", "xs"),
                "y": ("y", "ys"),
                "t": ("t", "ts"),
                "p": ("p", "ps"),
            }.items():
                name = next((n for n in options if n in keys), None)
                if name is not None:
                    picked[key] = _npz_member(archive, name, path)
            if len(picked) == 4:
                _refuse_columns(columns, f"{str(path)!r} holds the columns as named arrays")
                t_us, unit = times_to_us(picked["t"], f"{path.name}:t", notes, time_unit)
                p, kept = polarity_01(picked["p"], f"{path.name}:p", notes, check_polarity)
                ev, order = build_events(picked["x"], picked["y"], t_us, p, notes)
            elif len(keys) == 1:
                (only,) = keys
                ev, order, unit, kept = _events_from_array(
                    _npz_member(archive, only, path),
                    f"{path.name}:{only}",
                    columns,
                    time_unit,
                    notes,
                    check_polarity,
                )
            else:
                raise UnknownLayoutError(
                    f"{str(path)!r} holds arrays {sorted(keys)}; expected 'events' or "
                    "x, y, t, p (optionally 'sensor_size')"
                )
    size, inferred = resolve_sensor_size(file_size, sensor_size, ev, path, notes)
    return ArrayReader(
        ev,
        size,
        path=path,
        layout="npz",
        notes=notes,
        polarity_kept=kept,
        time_unit_detected=unit,
        sensor_size_inferred=inferred,
        file_index=order,
    )


# a line that surely holds four numbers (or none), as `_first_bad_txt_line` reads them: the
# lines it need not look at itself. Only plain decimals: a line of others ('nan', '1_0') is
# looked at in Python.
_TXT_NUMBER = rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_TXT_WORD = rb"(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])"


def _txt_line_not_plain(last: bytes) -> re.Pattern[bytes]:
    """The start of the first line not of four plain values, the last of them ``last``."""
    values = rb"[ \t]+".join([_TXT_NUMBER] * 3 + [last])
    return re.compile(rb"^(?![ \t]*(?:" + values + rb")?[ \t\r]*$)", re.M)


_TXT_NOT_PLAIN = _txt_line_not_plain(_TXT_NUMBER)
_TXT_NOT_PLAIN_WORDS = _txt_line_not_plain(_TXT_WORD)
_ONLY_SPACE = re.compile(rb"\s*")


def _first_bad_txt_line(
    raw: bytes, skip: int, lead: int, words: bool = False, decimal_comma: bool = False
) -> str | None:
    """Which line of rpg text (after ``skip`` lines) does not hold four numbers, by its line
    number in the file (``lead`` lines were cut off its start before ``raw``): numpy's own
    message counts rows its way (blank lines left out, from 0 or 1 by the kind of fault).
    With ``words``, the polarities are True or False; with ``decimal_comma``, the file's
    commas were made points in ``raw``, and values are shown with them. ``raw``'s lines end
    in LF or CRLF (`text.read_text`). Only once reading has failed: the lines of plain numbers
    are passed over by a regular expression, without a copy of them (splitting a 1 GB file
    into lines took GBs and minutes to name its cut last line); the others are looked at
    one at a time."""
    from eventsim.io import text

    def shown(field: bytes) -> str:
        return repr(
            (field.replace(b".", b",") if decimal_comma else field).decode(errors="replace")
        )

    plain = _TXT_NOT_PLAIN_WORDS if words else _TXT_NOT_PLAIN
    pos = 0
    for _ in range(skip):
        pos = raw.find(b"\n", pos) + 1
        if not pos:
            return None
    counted = number = 0  # the line number of the line at ``counted``, less ``lead`` + 1
    while pos < len(raw):
        found = plain.search(raw, pos)
        if found is None:
            return None
        start = found.start()
        number += raw.count(b"\n", counted, start)
        counted = start
        end = raw.find(b"\n", start)
        end = len(raw) if end < 0 else end
        fields = raw[start:end].split()
        pos = end + 1
        if not fields:
            continue
        at = lead + number + 1
        if len(fields) != 4:
            # a cut line holds fewer values, never more
            cut = (
                "; the file may be truncated"
                if len(fields) < 4 and _ONLY_SPACE.fullmatch(raw, end)
                else ""
            )
            return f"line {at} holds {len(fields)} values; expected 4 ('t x y p'){cut}"
        for field in fields[:3] if words else fields:
            if not text.is_number(field):
                return f"line {at}: {shown(field)} is not a number"
        if words and fields[3].lower() not in (b"true", b"false"):
            return (
                f"line {at}: polarity {shown(fields[3])} is not True or "
                "False, as the first line's is"
            )
    return None


def _txt_bool_polarity(raw: bytes, has_size: bool, notes: list[str]) -> np.ndarray | None:
    """rpg text whose polarities are True/False (as a CSV's may be) as a float table with them
    1/0, noted; None when it is not such text. Reads the text again, so only once the table
    of numbers failed."""
    from eventsim.io import text

    try:
        words = text.table(raw, has_size, None, np.bytes_, delimiter=None)
    except ValueError:
        return None
    if words.shape[1] != 4 or not words.shape[0]:
        return None
    p = text.bool_words(words[:, 3], [], "rpg text")
    if p is None:
        return None
    try:
        txy = words[:, :3].astype(np.float64)
    except ValueError:
        return None
    if np.any(np.char.find(words[:, :3], b"_") >= 0):
        # numpy reads 1_0 as 10; `_first_bad_txt_line` names it
        return None
    notes.append("polarity True/False in rpg text read as 1/0")
    return np.column_stack([txy, p.astype(np.float64)])


def _txt_refusal(
    raw: bytes, has_size: bool, lead: int, header: bytes, exc: Exception, decimal_comma: bool
) -> str:
    """Why rpg text's table of numbers failed: its first bad line, and what a first line of
    column names (a header, which rpg text has none of) should be instead; ``decimal_comma``
    as `_first_bad_txt_line` takes it."""
    from eventsim.io import text

    lines = raw.split(b"\n", 2)
    p_word = lines[int(has_size)].split()[3:4] if len(lines) > int(has_size) else []
    # True/False polarity beyond the first line that gives it is named so
    bool_p = bool(p_word) and p_word[0].lower() in (b"true", b"false")
    why = _first_bad_txt_line(raw, int(has_size), lead, bool_p, decimal_comma) or str(exc)
    if has_size:
        return why
    if text.looks_like_csv_header(header):
        why += f"; line {lead + 1} is a CSV header: pass layout='csv' to read the file as CSV"
    elif text.comment_columns(header, None) is not None:
        shown = " ".join(header.decode("utf-8", "replace").split())
        why += f"; a line naming the columns is read as a comment: {'# ' + shown!r}"
    return why


def _txt_times(raw: bytes, has_size: bool) -> np.ndarray:
    """The time column of rpg text as written (bytes)."""
    from eventsim.io import text

    return text.table(raw, has_size, [0], np.bytes_, delimiter=None)[:, 0]


def _open_txt(
    path: Path, sensor_size: tuple[int, int] | None, time_unit: str | None, check_polarity: bool
) -> ArrayReader:
    """rpg text: optional first line ``width height``, then ``t x y p`` per line (t in s),
    separated by spaces or commas, after any ``#`` comment lines; polarity 0/1, -1/+1 or
    True/False. Integer times are µs, as a CSV's."""
    from eventsim.io import text

    # the size line may follow blank and comment lines
    raw, lead, comment = text.read_text(path, "rpg text 't x y p' per line")
    named = None if comment is None else text.comment_columns(comment, None)
    index = None if named is None else text.column_index(named)
    if named and index and sorted(index, key=index.__getitem__) != list("txyp"):
        # read in rpg text's order, the columns it names would be swapped without a word; other
        # words among them ('# t [s] x y p', v2e's '# Format is time (float s), x, ...') are not
        # columns
        names = " ".join(n.decode("utf-8", "replace") for n in named)
        raise EventFileError(
            f"{str(path)!r}: its comment line {'# ' + names!r} names the columns in another "
            "order than rpg text's 't x y p'; write them in that order"
        )
    header = raw[: raw.find(b"\n")] if b"\n" in raw else raw
    notes: list[str] = []
    decimal_comma = b"," in raw and text.decimal_comma_lines(raw, path, lead, time_unit, notes)
    if decimal_comma:
        # a spreadsheet's or a program's in a decimal-comma locale: '0,000123 10 20 1'
        if b"." in raw:
            line = lead + raw.count(b"\n", 0, raw.find(b".")) + 1
            raise EventFileError(
                f"{str(path)!r} writes numbers with decimal commas and with points (line "
                f"{line}), where a point may group thousands; expected one decimal mark"
            )
        raw = raw.replace(b",", b".")
        notes.append("decimal commas in rpg text read as decimal points")
    elif b"," in raw:
        # many datasets write their text events as '0.000123,10,20,1'
        raw = raw.replace(b",", b" ")
    end = raw.find(b"\n")
    first_line = raw if end < 0 else raw[:end]
    first = first_line.split()
    file_size = None
    if len(first) == 2:
        # int() would take b"64_0" for 640
        if not (first[0].isdigit() and first[1].isdigit()):
            raise EventFileError(
                f"{str(path)!r}: first line {first_line[:80]!r} is neither 'width height' "
                "nor 't x y p'"
            )
        file_size = (int(first[0]), int(first[1]))
    has_size = file_size is not None
    try:
        vals = text.table(raw, has_size, None, np.float64, delimiter=None)
    except ValueError as exc:
        read = _txt_bool_polarity(raw, has_size, notes)
        if read is None:
            raise EventFileError(
                f"{str(path)!r} is not rpg text 't x y p' per line: "
                f"{_txt_refusal(raw, has_size, lead, header, exc, decimal_comma)}"
            ) from None
        vals = read
    if not vals.size:
        vals = np.zeros((0, 4))
    elif vals.shape[1] != 4:
        raise EventFileError(
            f"{str(path)!r} is not rpg text: its lines hold {vals.shape[1]} values; expected 4 "
            "('t x y p')"
        )
    start = end + 1 if has_size else 0
    head = raw[start : start + 200].split(None, 1)
    decimal_head = bool(head) and b"." in head[0]
    t_text = None
    integer_times = False
    if time_unit is None and vals.shape[0] and not decimal_head:
        if not any(c in raw for c in (b".", b"e", b"E")):
            integer_times = True
        elif np.all(vals[:, 0] == np.rint(vals[:, 0])):
            # the times alone tell: with x, y or p written as 1.0, integer times went to the
            # float rule, and a span up to 1000 was read as seconds. Only for whole times: one
            # with a fraction is written as a decimal, and parsing the text again doubled the
            # time to read a file whose first time is '0' (np.savetxt's %g)
            t_text = _txt_times(raw, has_size)
            integer_times = not text.is_decimal_notation(t_text)
    if time_unit is None and vals.shape[0] and decimal_head:
        # rpg text writes seconds with a decimal point; without one, fall back to detection
        unit = "s"
        notes.append("time unit detected: seconds (decimal times in rpg text)")
    elif integer_times:
        # every time written as an integer: times in whole seconds are no camera's, and the
        # float rule read a span of up to 1000 (1 ms of µs) as seconds
        unit = "us"
        notes.append(
            f"time unit detected: microseconds (integer times in rpg text){unit_hint('us')}"
        )
    elif not np.all(np.isfinite(vals[:, 0])):
        # times_to_us names a NaN by its index; the text, converted below, by its line
        unit = time_unit or "s"
    else:
        unit = times_to_us(vals[:, 0], "column t", notes, time_unit)[1]
    lines = text.TextLines(
        raw, int(has_size), whitespace=True, lead=lead, decimal_comma=decimal_comma
    )
    t_us = text.float_times_to_us(vals[:, 0], unit)
    if t_us is None:
        # from the digits: float64 rounds ties and long epoch times to the wrong microsecond
        t_us = text.text_times_to_us(
            _txt_times(raw, has_size) if t_text is None else t_text,
            unit,
            repr(str(path)),
            lines,
        )
    shown = text.row_shown(raw, has_size, [0, 1, 2, 3], None, lines, repr(str(path)))
    p, kept = text.polarity_by_line(vals[:, 3], "column p", notes, check_polarity, shown)
    ev, order = (
        build_events(vals[:, 1], vals[:, 2], t_us, p, notes, shown)
        if vals.shape[0]
        else (empty_events(), None)
    )
    size, inferred = resolve_sensor_size(file_size, sensor_size, ev, path, notes)
    return ArrayReader(
        ev,
        size,
        path=path,
        layout="txt",
        notes=notes,
        polarity_kept=kept,
        time_unit_detected=unit,
        sensor_size_inferred=inferred,
        file_index=order,
    )
