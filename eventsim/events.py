"""The one events type of the toolkit.

An events array is a 1-D numpy structured array of `EVENT_DTYPE`:
``x``, ``y`` int16 pixel coordinates, ``t`` int64 microseconds, ``p`` int8 polarity in {0, 1}
(1 = ON, brighter). Polarity is int8 rather than bool because tonic's voxel grid loses bool
polarity; the field names and widths are tonic's, so tonic transforms accept our arrays as they are.

Sensor sizes are always ``(width, height)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from eventsim.errors import ArgumentValueError, InvalidEventsError, ParameterError, shown_value

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])

SensorSize = tuple[int, int]


def empty_events() -> np.ndarray:
    """A zero-length events array (never ``None``)."""
    return np.zeros(0, dtype=EVENT_DTYPE)


def normalize_polarity(p: np.ndarray, *, allow_signed: bool = True) -> np.ndarray:
    """Return polarity as int8 in {0, 1}.

    Accepts bool, {0, 1}, and (if ``allow_signed``) {-1, +1} encodings; -1 maps to 0.
    Anything else raises `InvalidEventsError` naming the first bad value.
    """
    p = np.asarray(p)
    if p.dtype == np.bool_:
        return p.astype(np.int8)
    if p.size == 0:
        return p.astype(np.int8)
    if np.issubdtype(p.dtype, np.floating) and not np.all(np.isfinite(p)):
        bad = int(np.flatnonzero(~np.isfinite(p))[0])
        raise InvalidEventsError(
            f"polarity at index {bad} is {p[bad].item()!r}; expected 0/1 or -1/+1"
        )
    ok01 = (p == 0) | (p == 1)
    if ok01.all():
        return p.astype(np.int8)
    if allow_signed:
        okpm = (p == -1) | (p == 1)
        if okpm.all():
            return (p > 0).astype(np.int8)
        known = okpm | ok01
        if known.all():
            # each convention alone is expected; the mix is the problem
            neg, zero = int(np.argmax(p == -1)), int(np.argmax(p == 0))
            raise InvalidEventsError(_mixed_polarity(f"index {neg} is -1", f"index {zero} is 0"))
        bad = int(np.argmin(known))
    else:
        bad = int(np.argmin(ok01))
    expected = "0/1 or -1/+1" if allow_signed else "0/1"
    raise InvalidEventsError(f"polarity at index {bad} is {p[bad].item()!r}; expected {expected}")


def _mixed_polarity(negative: str, zero: str, expected: str = "0/1 or -1/+1 throughout") -> str:
    """The refusal of polarity that holds both -1 and 0: the readers take either convention,
    -1/+1 or 0/1, but cannot tell what a mix of the two means. ``negative`` and ``zero`` name
    an event holding each."""
    return f"polarity mixes the -1/+1 and 0/1 conventions ({negative}, {zero}); expected {expected}"


def _bad_polarity(index: int, value: int) -> str:
    return f"polarity p[{index}] = {value}; expected 0 or 1"


def _expected_polarity(signed: bool) -> str:
    return "0/1 or -1/+1 throughout" if signed else "0 or 1 throughout"


def make_events(
    x: Iterable[int] | np.ndarray,
    y: Iterable[int] | np.ndarray,
    t: Iterable[int] | np.ndarray,
    p: Iterable[int] | np.ndarray,
    *,
    allow_signed_polarity: bool = True,
) -> np.ndarray:
    """Build an `EVENT_DTYPE` array from columns (t in integer microseconds).

    Coordinates must fit int16 and times must be integers; signed (-1/+1) or bool polarity is
    converted to 0/1 unless ``allow_signed_polarity`` is False.
    """
    cols = [np.asarray(c) for c in (x, y, t, p)]
    n = cols[0].shape[0] if cols[0].ndim else 0
    for name, c in zip("xytp", cols):
        if c.ndim != 1 or c.shape[0] != n:
            like = "a 1-D column" if name == "x" else f"1-D of length {n} like 'x'"
            raise InvalidEventsError(f"column {name!r} has shape {c.shape}; expected {like}")
    x_, y_, t_, p_ = (_numeric_column(name, c) for name, c in zip("xytp", cols))
    for name, c in (("x", x_), ("y", y_)):
        # NaN passes (min and max are NaN): the cast's comparison below finds it
        if c.size and (c.min() < np.iinfo(np.int16).min or c.max() > np.iinfo(np.int16).max):
            raise InvalidEventsError(
                f"column {name!r} has values outside int16: {c.min()}..{c.max()}"
            )
    # uint64 past 2^63 would wrap negative
    if t_.size and t_.dtype.kind == "u" and t_.max() > np.iinfo(np.int64).max:
        raise InvalidEventsError(f"column 't' has values outside int64: {t_.min()}..{t_.max()}")
    out = np.empty(n, dtype=EVENT_DTYPE)
    # float columns are checked after their cast, in one comparison each: the cast cuts 1.5
    # to 1 and makes NaN and a time past int64 other values, so each shows as a value that
    # changed (integer columns are cast exactly and pay nothing). 2.0**63, the first float
    # past int64, survives a cast that saturates to INT64_MAX (ARM), as that compares equal
    with np.errstate(invalid="ignore"):
        out["x"] = x_
        out["y"] = y_
        out["t"] = t_
    for name, c in (("x", x_), ("y", y_)):
        if c.size and c.dtype.kind == "f" and not np.array_equal(out[name], c):
            whole = np.isfinite(c) & (c == np.round(c))
            raise InvalidEventsError(
                f"column {name!r} holds non-integer values (such as "
                f"{c[np.argmin(whole)]}); expected whole pixel coordinates"
            )
    if (
        t_.size
        and t_.dtype.kind == "f"
        and (not np.array_equal(out["t"], t_) or t_.max() >= 2.0**63)
    ):
        if not np.all(np.isfinite(t_)) or np.any(t_ != np.round(t_)):
            raise InvalidEventsError(
                "column 't' holds non-integer values; expected integer microseconds "
                "(convert seconds with eventsim.events.seconds_to_us)"
            )
        raise InvalidEventsError(f"column 't' has values outside int64: {t_.min()}..{t_.max()}")
    out["p"] = normalize_polarity(p_, allow_signed=allow_signed_polarity)
    return out


def _numeric_column(name: str, c: np.ndarray) -> np.ndarray:
    """``c`` as a numeric array; strings, complex numbers and other objects raise
    `InvalidEventsError`. An object array of Python ints (some beyond int64) becomes int64
    once its values are checked to fit."""
    if c.dtype.kind == "O":
        values = c.tolist()
        for v in values:
            if not isinstance(v, numbers.Real):
                raise InvalidEventsError(f"column {name!r} holds {v!r}; expected numbers")
        if not all(isinstance(v, numbers.Integral) for v in values):
            return np.array(values, dtype=np.float64)
        info = np.iinfo(np.int64)
        if values and (min(values) < info.min or max(values) > info.max):
            raise InvalidEventsError(
                f"column {name!r} has values outside int64: {min(values)}..{max(values)}"
            )
        return np.array(values, dtype=np.int64)
    if c.dtype.kind not in "biuf":
        raise InvalidEventsError(f"column {name!r} holds {c.dtype} values; expected numbers")
    return c


def seconds_to_us(t_s: np.ndarray) -> np.ndarray:
    """Float seconds to int64 microseconds, rounded to the nearest microsecond."""
    return np.rint(np.asarray(t_s, dtype=np.float64) * 1e6).astype(np.int64)


def as_events(arr: np.ndarray) -> np.ndarray:
    """Return ``arr`` as an `EVENT_DTYPE` array, converting field types if needed.

    Accepts structured arrays with fields x, y, t, p (any integer widths, bool or signed p).
    """
    arr = np.asarray(arr)
    if arr.dtype == EVENT_DTYPE:
        return arr
    names = arr.dtype.names or ()
    missing = [f for f in "xytp" if f not in names]
    if missing:
        raise InvalidEventsError(
            f"array has fields {list(names)}; expected a structured array with x, y, t, p "
            f"(missing {missing})"
        )
    return make_events(arr["x"], arr["y"], arr["t"], arr["p"])


def validate_events(
    events: np.ndarray,
    sensor_size: SensorSize | None = None,
    *,
    check_sorted: bool = True,
) -> None:
    """Check the contract of an events array; raise `InvalidEventsError` on the first violation.

    The message names the first bad index and its value: non-decreasing ``t``, ``0 <= x < width``,
    ``0 <= y < height`` (when ``sensor_size`` is given) and ``p`` in {0, 1}.
    """
    if not isinstance(events, np.ndarray) or events.dtype != EVENT_DTYPE:
        got = getattr(events, "dtype", type(events).__name__)
        raise InvalidEventsError(f"events have dtype {got}; expected EVENT_DTYPE {EVENT_DTYPE}")
    if events.ndim != 1:
        raise InvalidEventsError(f"events have shape {events.shape}; expected a 1-D array")
    size = None if sensor_size is None else check_sensor_size(sensor_size)
    problem = _first_problem(events, size, check_sorted=check_sorted)
    if problem is not None:
        raise StreamProblemError(problem)


ProblemKind = Literal["unsorted", "polarity", "polarity_mix", "outside", "negative"]


@dataclass(frozen=True)
class StreamProblem:
    """The first broken rule of an event stream (`StreamCheck.result`), by kind, event and
    value, so that callers need not read the message (``message``, also ``str()``).

    ``kind``: ``"unsorted"`` (``t`` steps down at ``index`` from ``other_index``, the event
    before it), ``"polarity"`` (``p`` is neither 0 nor 1), ``"polarity_mix"`` (a -1 at
    ``index`` and a 0 at ``other_index``), ``"outside"`` (a coordinate outside
    ``sensor_size``) or ``"negative"`` (a negative coordinate, the size not known).
    ``field`` is the column (``t``, ``p``, ``x`` or ``y``), ``value`` the event's value in it,
    ``other_value`` the other event's. ``signed`` (a mix): the stream was read from a format
    taking -1/+1 polarity as well as 0/1, so either is expected throughout."""

    kind: ProblemKind
    field: str
    index: int
    value: int
    other_index: int | None = None
    other_value: int | None = None
    sensor_size: SensorSize | None = None
    signed: bool = False

    @property
    def at(self) -> int:
        """The stream index at which the rule is seen broken: the later of the events named."""
        return self.index if self.other_index is None else max(self.index, self.other_index)

    @property
    def message(self) -> str:
        i, v, o, ov = self.index, self.value, self.other_index, self.other_value
        if self.kind == "unsorted":
            return f"timestamps are not sorted: t[{i}] = {v} us < t[{o}] = {ov} us"
        if self.kind == "polarity":
            return _bad_polarity(i, v)
        if self.kind == "polarity_mix":
            return _mixed_polarity(
                f"p[{i}] = {v}", f"p[{o}] = {ov}", _expected_polarity(self.signed)
            )
        name = self.field
        if self.kind == "outside" and self.sensor_size is not None:
            width, height = self.sensor_size
            limit = width if name == "x" else height
            return (
                f"{name}[{i}] = {v} is outside the sensor; expected "
                f"0 <= {name} < {limit} for sensor size {width}x{height}"
            )
        return f"{name}[{i}] = {v} is negative"

    def __str__(self) -> str:
        return self.message

    def renumbered(self, order: np.ndarray | None) -> StreamProblem:
        """The problem with each stream index ``i`` turned into ``order[i]`` (an index past
        ``order`` is kept; no ``order``, the problem itself): for a reader that sorted a file's
        events by time, their indices in the file (its ``file_index``)."""
        if order is None:
            return self

        def moved(i: int) -> int:
            return int(order[i]) if i < len(order) else i

        other = None if self.other_index is None else moved(self.other_index)
        return replace(self, index=moved(self.index), other_index=other)


class StreamProblemError(InvalidEventsError):
    """The refusal of a `StreamProblem` (``problem``), whose indices count the events given to
    the check that raised it: a caller that gave them in another order than the file holds
    them (``eventsim convert``) says it again of other indices with `said_of`, rather than
    reading the message. The message is ``prefix`` and the problem's `~StreamProblem.message`,
    or ``words`` (a writer's own wording) filled with the problem's fields (``{index}``,
    ``{value}``, ``{other_index}``, ``{other_value}``, ``{field}``)."""

    def __init__(self, problem: StreamProblem, prefix: str = "", words: str | None = None) -> None:
        self.problem = problem
        self.prefix = prefix
        self.words = words
        if words is None:
            text = f"{prefix}{problem.message}"
        else:
            p = problem
            text = words.format(
                index=p.index,
                value=p.value,
                other_index=p.other_index,
                other_value=p.other_value,
                field=p.field,
            )
        super().__init__(text)

    def __reduce__(self) -> tuple[type, tuple[StreamProblem, str, str | None], dict]:
        # a worker process's error reaches the parent pickled: rebuild from the parts
        return type(self), (self.problem, self.prefix, self.words), self.__dict__

    def said_of(self, problem: StreamProblem) -> StreamProblemError:
        """This refusal in the same words, of ``problem`` (this one's, renumbered)."""
        return type(self)(problem, self.prefix, self.words)


def _first_problem(
    events: np.ndarray,
    sensor_size: SensorSize | None,
    *,
    check_sorted: bool = True,
    base: int = 0,
    last_t: int | None = None,
    zero_at: int | None = None,
    signed_polarity: bool = False,
) -> StreamProblem | None:
    """The first broken rule of a packet (indices offset by ``base``), or None. ``zero_at``:
    the stream index of a polarity 0 before the packet, which a -1 is named with
    (`StreamCheck`'s ``signed_polarity``)."""
    if events.size == 0:
        return None
    if check_sorted:
        t = events["t"]
        if last_t is not None and t[0] < last_t:
            return StreamProblem("unsorted", "t", base, int(t[0]), base - 1, last_t)
        dec = np.flatnonzero(t[1:] < t[:-1])
        if dec.size:
            i = int(dec[0]) + 1
            return StreamProblem("unsorted", "t", base + i, int(t[i]), base + i - 1, int(t[i - 1]))
    p = events["p"]
    badp = np.flatnonzero((p != 0) & (p != 1))
    if badp.size:
        i = int(badp[0])
        if p[i] == -1:
            zeros = np.flatnonzero(p == 0)
            zero = zero_at if zero_at is not None or not zeros.size else base + int(zeros[0])
            if zero is not None:
                return StreamProblem(
                    "polarity_mix", "p", base + i, -1, zero, 0, signed=signed_polarity
                )
        return StreamProblem("polarity", "p", base + i, int(p[i]))
    x, y = events["x"], events["y"]
    for name, c in (("x", x), ("y", y)):
        if sensor_size is not None:
            limit = sensor_size[0] if name == "x" else sensor_size[1]
            bad = np.flatnonzero((c < 0) | (c >= limit))
        else:
            bad = np.flatnonzero(c < 0)
        if bad.size:
            i = int(bad[0])
            kind: ProblemKind = "negative" if sensor_size is None else "outside"
            return StreamProblem(kind, name, base + i, int(c[i]), sensor_size=sensor_size)
    return None


class StreamCheck:
    """The one validation of an event stream read or written in packets: time order (also
    across packets), polarity in {0, 1}, coordinates inside the sensor.

    ``check(packet)`` returns the first problem of the stream so far as a message naming the
    stream index and value, as ``problem`` holds it (None while all is well); ``result`` is the
    same problem as a `StreamProblem` (kind, index, value). `checked` wraps an iterable of
    packets and raises `StreamProblemError` (an `InvalidEventsError`) at the first problem.
    Used by ``eventsim info`` (which warns, or fails with ``--check``), ``convert``,
    ``render``, the file writers and the dataset builder.
    """

    def __init__(
        self, sensor_size: SensorSize | None = None, *, signed_polarity: bool = False
    ) -> None:
        self.sensor_size = None if sensor_size is None else check_sensor_size(sensor_size)
        #: the stream was read from a file whose format takes -1/+1 polarity as well as 0/1
        #: (its reader converts a -1/+1 column): a -1 left in it comes from a column mixing the
        #: two, and is named as such in the words that refuse it on reading
        self.signed_polarity = signed_polarity
        self.n_events = 0
        self.result: StreamProblem | None = None
        self._last_t: int | None = None
        # the stream index of the first polarity 0, and of a -1 reported before any 0: a mix
        # of -1/+1 and 0/1 is named by one event of each, the 0 perhaps packets later
        self._zero_at: int | None = None
        self._lone_negative: int | None = None

    @property
    def problem(self) -> str | None:
        """The first problem's message (`StreamProblem.message`), or None."""
        return None if self.result is None else self.result.message

    def check(self, packet: np.ndarray) -> str | None:
        if self.result is None and len(packet):
            self.result = _first_problem(
                packet,
                self.sensor_size,
                base=self.n_events,
                last_t=self._last_t,
                zero_at=self._zero_at,
                signed_polarity=self.signed_polarity,
            )
            self._last_t = int(packet["t"][-1])
            r = self.result
            if r is not None and r.kind == "polarity" and r.value == -1:
                self._lone_negative = r.index
        if self._zero_at is None and len(packet):
            zeros = np.flatnonzero(packet["p"] == 0)
            if zeros.size:
                self._zero_at = self.n_events + int(zeros[0])
                if self._lone_negative is not None:
                    self.result = StreamProblem(
                        "polarity_mix",
                        "p",
                        self._lone_negative,
                        -1,
                        self._zero_at,
                        0,
                        signed=self.signed_polarity,
                    )
        self.n_events += len(packet)
        return self.problem

    def checked(self, packets: Iterable[np.ndarray], what: str = "events") -> Iterator[np.ndarray]:
        """Yield the packets, raising `InvalidEventsError` (prefixed by ``what``) at a bad one."""
        for packet in packets:
            self.check(packet)
            if self.result is not None:
                raise StreamProblemError(self.result, f"{what}: ")
            yield packet


def check_sensor_size(sensor_size: Sequence[int]) -> SensorSize:
    """Validate a ``(width, height)`` pair and return it as a tuple of ints."""
    try:
        width, height = (int(v) for v in sensor_size)
    except (TypeError, ValueError):
        raise ParameterError(
            f"sensor size {sensor_size!r} is not a (width, height) pair of integers"
        ) from None
    if not (0 < width <= 32767 and 0 < height <= 32767):
        raise ParameterError(
            f"sensor size {width}x{height} is out of range; expected 1..32767 in each dimension"
        )
    return width, height


def infer_sensor_size(events: np.ndarray) -> SensorSize:
    """Smallest sensor that contains all events (max coordinate + 1); (1, 1) when empty."""
    if events.size == 0:
        return (1, 1)
    return int(events["x"].max()) + 1, int(events["y"].max()) + 1


def concat_events(chunks: Iterable[np.ndarray]) -> np.ndarray:
    """Concatenate events arrays in order (empty input gives an empty array)."""
    parts = [as_events(c) for c in chunks]
    if not parts:
        return empty_events()
    if len(parts) == 1:
        return parts[0].copy()
    # as raw bytes: numpy copies a packed structured dtype field by field, 7x slower
    raw = np.concatenate([np.ascontiguousarray(p).view(np.uint8) for p in parts])
    return raw.view(EVENT_DTYPE)


def _plain(value: Any) -> Any:
    # a bound as the user would write it: np.float64(0.5) is shown as 0.5
    return value.item() if isinstance(value, np.generic) else value


def reversed_bounds_error(t_start_us: Any, t_end_us: Any) -> ArgumentValueError:
    """The refusal of a time window whose end is before its start, in the readers' words."""
    start, end = _plain(t_start_us), _plain(t_end_us)
    return ArgumentValueError(
        "t_end_us",
        end,
        f" is before t_start_us={shown_value(start)}; expected an end at or after the start "
        "(equal bounds give an empty window)",
    )


def _ceil(t: Any) -> int:
    # integers exactly: math.ceil takes a numpy integer through a float
    return int(t) if isinstance(t, (int, np.integer)) else math.ceil(t)


def windowless_bounds_error(t_start_us: Any, t_end_us: Any) -> ArgumentValueError | None:
    """The refusal of a window whose fractional bounds hold no whole microsecond
    (``read(0.5, 0.6)``): it can hold no event, and such bounds are mostly seconds given where
    microseconds are expected (a v2e user's), which read nothing without a word. None for
    any other window, among them equal bounds (an empty window by choice) and fractional ones
    around a whole microsecond (``10.5`` to ``11.5``, rounded up as every read rounds them)."""
    try:
        if (
            t_start_us is None
            or t_end_us is None
            or not t_start_us < t_end_us
            or _ceil(t_start_us) < _ceil(t_end_us)
        ):
            return None
    except (TypeError, ValueError, OverflowError):
        return None  # NaN, inf or not a number: the caller's own checks name it
    start, end = _plain(t_start_us), _plain(t_end_us)
    return ArgumentValueError(
        "t_end_us",
        end,
        f" with t_start_us={shown_value(start)} holds no whole microsecond, so no event: "
        f"bounds are integer microseconds (for seconds, pass int({start!r} * 1e6) and "
        f"int({end!r} * 1e6))",
    )


def check_ends_sorted(t: np.ndarray, function: str) -> None:
    """Refuse times whose last is before their first with `StreamProblemError`: the O(1) part
    of the time order that ``function`` needs (a binary search in an array the other way
    round found nothing, or the wrong events, without a word)."""
    if t.size > 1 and t[-1] < t[0]:
        last = t.size - 1
        raise StreamProblemError(
            StreamProblem("unsorted", "t", last, int(t[last]), 0, int(t[0])),
            words=(
                "events are not sorted by time: the last, t[{index}] = {value} us, is before "
                "the first, t[{other_index}] = {other_value} us; "
                f"{function} needs them in time order (np.sort(events, order='t', "
                "kind='stable') sorts them)"
            ),
        )


def slice_time(
    events: np.ndarray, t_start_us: int | None = None, t_end_us: int | None = None
) -> np.ndarray:
    """Events with ``t_start_us <= t < t_end_us`` from a time-sorted array (a view, no copy).

    An end before the start raises `ArgumentValueError`, as the readers' ``read`` does; equal
    bounds give an empty window. Fractional bounds that hold no whole microsecond between
    them (``0.5``, ``0.6``: seconds, most likely) raise `ArgumentValueError` too.

    The events must be sorted by time (the window is found by binary search): an array whose
    last event is before its first raises `StreamProblemError`; disorder between the ends is
    not looked for, since that would take a pass over every event of every call."""
    # it returned nothing for swapped or mistyped bounds, without a word
    if t_start_us is not None and t_end_us is not None and t_end_us < t_start_us:
        raise reversed_bounds_error(t_start_us, t_end_us)
    windowless = windowless_bounds_error(t_start_us, t_end_us)
    if windowless is not None:
        raise windowless
    t = events["t"]
    check_ends_sorted(t, "slice_time")
    lo = 0 if t_start_us is None else int(np.searchsorted(t, t_start_us, side="left"))
    hi = len(events) if t_end_us is None else int(np.searchsorted(t, t_end_us, side="left"))
    return events[lo : max(lo, hi)]
