"""Cutting an event stream into frames: fixed time windows or fixed event counts.

The ``split_*`` functions work on an in-memory array; the ``stream_*`` functions pull from an
open reader (anything with the EventReader interface) one window at a time, so memory stays
flat however long the file is. Every generator yields ``(t_start_us, t_end_us, events)``
with half-open ``[t_start_us, t_end_us)`` windows; empty time windows are yielded too.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from eventsim.errors import ArgumentValueError, ParameterError
from eventsim.events import check_ends_sorted, slice_time

if TYPE_CHECKING:
    from eventsim.io.reader import EventFileReader

Window = tuple[int, int, np.ndarray]


def check_window_args(window_us: float | None, events_per_frame: int | None) -> None:
    """Exactly one window kind (at least 1 µs, or at least 1 event), or neither (the caller's
    default applies)."""
    if window_us is not None and events_per_frame is not None:
        raise ParameterError(
            "give a time window or an event count per frame, not both "
            f"(got window {window_us / 1000:g} ms and {events_per_frame} events per frame)"
        )
    if window_us is not None and not (math.isfinite(window_us) and window_us > 0):
        raise ParameterError(f"window {window_us / 1000:g} ms must be > 0 and finite")
    if window_us is not None and window_us < 1:
        # bounds are whole µs: shorter windows alternate between empty and one µs long
        raise ParameterError(
            f"window {window_us / 1000:g} ms is shorter than 1 µs (0.001 ms), "
            "the resolution of event times"
        )
    if events_per_frame is not None:
        whole = isinstance(events_per_frame, numbers.Integral) or (
            isinstance(events_per_frame, numbers.Real)
            and math.isfinite(events_per_frame)
            and float(events_per_frame).is_integer()
        )
        if isinstance(events_per_frame, bool) or not whole:
            # int() cut 2.5 to 2 without a word and raised a bare ValueError for NaN
            raise ParameterError(
                f"events per frame {events_per_frame!r}; expected a whole number >= 1"
            )
        if int(events_per_frame) < 1:
            raise ParameterError(f"events per frame {events_per_frame} must be >= 1")


def n_time_windows(t_start_us: int, t_end_us: int, window_us: float) -> int:
    """Windows needed to cover ``[t_start_us, t_end_us)``; at least one."""
    return max(1, math.ceil((t_end_us - t_start_us) / window_us))


def _window_bounds(t_start_us: int, t_end_us: int, window_us: float) -> Iterator[tuple[int, int]]:
    for k in range(n_time_windows(t_start_us, t_end_us, window_us)):
        # Bounds from k * window (not accumulated) so fractional-µs windows do not drift.
        yield (
            t_start_us + round(k * window_us),
            t_start_us + round((k + 1) * window_us),
        )


def check_window_us(window_us: float) -> None:
    """Refuse a ``window_us`` argument that is no number of µs, or under the 1 µs of an event
    time, naming it as given (`check_window_args` speaks of ms, as ``--window-ms`` does)."""
    if (
        isinstance(window_us, bool)
        or not isinstance(window_us, numbers.Real)
        or not (math.isfinite(window_us) and window_us > 0)
    ):
        raise ArgumentValueError("window_us", window_us, " must be a finite number of µs > 0")
    if window_us < 1:
        # bounds are whole µs: shorter windows alternate between empty and one µs long
        raise ArgumentValueError(
            "window_us", window_us, " is shorter than 1 µs, the resolution of event times"
        )


def split_by_time(
    events: np.ndarray,
    window_us: float,
    t_start_us: int | None = None,
    t_end_us: int | None = None,
) -> Iterator[Window]:
    """Consecutive time windows of a time-sorted array, from ``t_start_us`` (default: first
    event) until ``t_end_us`` (default: just after the last event) is covered.

    Each window is found by binary search, so the events must be sorted by time: an array
    whose last event is before its first raises `StreamProblemError` (disorder between the
    ends is not looked for)."""
    check_window_us(window_us)
    t = events["t"]
    check_ends_sorted(t, "split_by_time")
    if t_start_us is None:
        t0 = int(t[0]) if t.size else 0
    else:
        t0 = int(t_start_us)
    if t_end_us is None:
        t1 = int(t[-1]) + 1 if t.size else t0
    else:
        t1 = int(t_end_us)
    for a, b in _window_bounds(t0, t1, window_us):
        yield a, b, slice_time(events, a, min(b, t1))


def split_by_count(events: np.ndarray, events_per_frame: int) -> Iterator[Window]:
    """Consecutive runs of ``events_per_frame`` events (the last may be shorter); each window
    spans its first event's time to just after its last."""
    check_window_args(None, events_per_frame)
    n = int(events_per_frame)
    for i in range(0, len(events), n):
        chunk = events[i : i + n]
        yield int(chunk["t"][0]), int(chunk["t"][-1]) + 1, chunk


def stream_by_time(
    reader: EventFileReader, window_us: float, t_start_us: int, t_end_us: int
) -> Iterator[Window]:
    """Time windows read from ``reader`` (absolute µs, ``[t_start_us, t_end_us)``).

    Whole-µs windows go through the reader's own ``iter_windows`` (it reads blocks of many
    windows at once); fractional ones are read window by window.
    """
    check_window_us(window_us)
    bounds = _window_bounds(t_start_us, t_end_us, window_us)
    if float(window_us).is_integer() and t_end_us > t_start_us:
        windows = reader.iter_windows(int(window_us), t_start_us, t_end_us)
        for (a, b), events in zip(bounds, windows, strict=True):
            yield a, b, events
        return
    for a, b in bounds:
        yield a, b, reader.read(a, min(b, t_end_us))


class PartReader:
    """Reads time ranges of a file in parts of about ``part_events`` events. A part's length in
    time follows the event rate of the part before (the file's mean rate at first), changing
    at most fourfold a step, so a burst costs one large part and not a window's worth."""

    def __init__(self, reader: EventFileReader, part_events: int) -> None:
        self.reader = reader
        self.part_events = part_events
        mean_us = int(reader.duration_us) / max(len(reader), 1)
        self.span_us = max(1, math.floor(part_events * mean_us))

    def read(self, t_start_us: int, t_end_us: int) -> Iterator[np.ndarray]:
        """The events of ``[t_start_us, t_end_us)`` in consecutive parts."""
        a = t_start_us
        while a < t_end_us:
            b = min(a + self.span_us, t_end_us)
            part = self.reader.read(a, b)
            fitting = math.floor((b - a) * self.part_events / max(len(part), 1))
            self.span_us = max(1, min(4 * self.span_us, max(self.span_us // 4, fitting)))
            yield part
            a = b


def index_of(reader: EventFileReader, t_us: int) -> int:
    """The index of the first event at or after ``t_us``, by bisection over single events (a
    reader sorted by time: every layout is, as read)."""
    lo, hi = 0, len(reader)
    while lo < hi:
        mid = (lo + hi) // 2
        if int(reader.read_index(mid, mid + 1)["t"][0]) < t_us:
            lo = mid + 1
        else:
            hi = mid
    return lo


def count_bounds(
    reader: EventFileReader,
    events_per_frame: int,
    t_start_us: int | None = None,
    t_end_us: int | None = None,
) -> Iterator[tuple[int, int]]:
    """Index ranges ``[a, b)`` of consecutive runs of ``events_per_frame`` events of ``reader``
    within ``[t_start_us, t_end_us)`` (None: the file's first or last event); the last run may
    be shorter. What `stream_by_count` reads and ``render_file(events_per_frame=...)`` draws."""
    from eventsim.io.hdf5_reader import _ceil_us

    check_window_args(None, events_per_frame)
    n = int(events_per_frame)
    # bounds as the readers' read() takes them: a fractional one rounded up (int() let an
    # event before it in), NaN refused naming the bound
    lo = 0 if t_start_us is None else index_of(reader, _ceil_us(t_start_us))
    hi = len(reader) if t_end_us is None else index_of(reader, _ceil_us(t_end_us))
    for a in range(lo, hi, n):
        yield a, min(a + n, hi)


def stream_by_count(
    reader: EventFileReader,
    events_per_frame: int,
    t_start_us: int | None = None,
    t_end_us: int | None = None,
) -> Iterator[Window]:
    """Runs of ``events_per_frame`` events read from ``reader`` within ``[t_start_us, t_end_us)``
    (absolute µs; None: from the first event, to the last), the last run possibly shorter: the
    frames of ``eventsim render --events-per-frame N``, and tonic's ``ToFrame(event_count=N)``
    cut, for a file of any length. Each window spans its first event's time to just after its
    last; a range without events yields nothing.

    Runs are cut by index (`count_bounds`), so each read holds one run: a burst of events
    costs no more memory than a quiet stretch.
    """
    for a, b in count_bounds(reader, events_per_frame, t_start_us, t_end_us):
        chunk = reader.read_index(a, b)
        yield int(chunk["t"][0]), int(chunk["t"][-1]) + 1, chunk
