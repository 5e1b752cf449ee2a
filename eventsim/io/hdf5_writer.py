"""Write the eventsim HDF5 format (`eventsim.io.hdf5_format`) as a stream: `EventWriter`,
`write_h5`, and the per-column compression settings `column_filters`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np

from eventsim._version import __version__
from eventsim.errors import EventFileError, InvalidEventsError, OutputExistsError, ParameterError
from eventsim.events import (
    EVENT_DTYPE,
    StreamProblem,
    StreamProblemError,
    as_events,
    check_sensor_size,
)
from eventsim.io.hdf5_format import COLUMNS, FORMAT_NAME, FORMAT_VERSION
from eventsim.options import CODECS, Codec
from eventsim.outputs import (
    check_interrupted,
    check_replaceable,
    describe_os_error,
    fsync_file,
    publish,
    remove_stale_temps,
    sigint_deferred,
    temp_path,
)

# Chosen with tools/bench_h5.py --sweep (docs/benchmarks.md). Blosc-lz4 for every column:
# zstd stores t ~20 % smaller but writes and reads at about half the speed. Coordinates and
# polarity use bitshuffle (their high bits are constant); t uses byte shuffle at level 9,
# which compresses it as well as bitshuffle (slowly growing µs: the high bytes repeat) and
# decodes twice as fast. 2^17 events per chunk: full reads are faster and the ratio slightly
# better than at 2^16, while a random 1 ms window still decodes in well under a millisecond
# (2^18 doubles that latency).
CHUNK_EVENTS = 1 << 17
CODEC: Codec = "lz4"

# The writer buffers this many chunks before one append, so each flush is chunk-aligned.
FLUSH_CHUNKS = 4
_MS_CHUNK = 4096
# ms_to_idx entries expanded in memory at a time (2 MiB): a whole number of its chunks, so each
# chunk is still compressed and placed once, in order, and the file's bytes are those of one
# write of the whole range
_MS_BLOCK = 64 * _MS_CHUNK
# ms_to_idx entries a file may have: 2^31 ms (24.9 days after its first event), 16 GiB
MAX_MS_INDEX = 1 << 31
_RESERVED_ATTRS = frozenset(
    ("format", "format_version", "sensor_width", "sensor_height", "params", "source", "software")
)


def column_filters(codec: Codec = CODEC, clevel: int | None = None) -> dict[str, hdf5plugin.Blosc]:
    """Blosc settings per column for ``codec`` ``"lz4"`` (default) or ``"zstd"``.

    ``clevel`` None uses the measured defaults (lz4: 5, t at 9; zstd: 1); a number applies to
    every column.
    """
    if codec not in CODECS:
        raise ParameterError(
            f"codec {codec!r} is not supported; expected {' or '.join(map(repr, CODECS))}"
        )
    if clevel is not None and not 0 <= int(clevel) <= 9:
        raise ParameterError(f"clevel={clevel} is out of range; expected 0..9")
    bit, byte = hdf5plugin.Blosc.BITSHUFFLE, hdf5plugin.Blosc.SHUFFLE
    if codec == "lz4":
        levels = {"x": 5, "y": 5, "t": 9, "p": 5}
        shuffles = {"x": bit, "y": bit, "t": byte, "p": bit}
    else:
        levels = dict.fromkeys("xytp", 1)
        shuffles = dict.fromkeys("xytp", bit)
    return {
        name: hdf5plugin.Blosc(
            cname=codec,
            clevel=levels[name] if clevel is None else int(clevel),
            shuffle=shuffles[name],
        )
        for name in "xytp"
    }


def _json_attr(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"attribute value {value!r} cannot be stored as JSON: {exc}") from None


def _as_dict(value: Any, what: str) -> dict:
    if value is None:
        return {}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return dict(value)
    raise ParameterError(f"{what} is a {type(value).__name__}; expected a dict or a dataclass")


def _json_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def strict_events(events: np.ndarray, base: int = 0) -> np.ndarray:
    """`as_events` that refuses -1/+1 polarity instead of converting it silently."""
    arr = np.asarray(events)
    if arr.dtype != EVENT_DTYPE and arr.dtype.names and "p" in arr.dtype.names:
        p = arr["p"]
        if p.dtype.kind in "if" and p.size and p.min() < 0:
            i = int(np.flatnonzero(p < 0)[0])
            raise InvalidEventsError(
                f"event {base + i} has p = {p[i]}; expected 0 or 1 (convert -1/+1 with "
                "eventsim.events.normalize_polarity)"
            )
    return as_events(arr)


class EventWriter:
    """Stream events into an eventsim HDF5 file.

    Memory stays constant in stream length and time span: packets go through a fixed buffer
    of ``FLUSH_CHUNKS * chunk_events`` events that is appended chunk-aligned to the datasets,
    and ``ms_to_idx`` is extended as soon as a millisecond is complete, held as runs of one
    value until it is written in blocks (events days apart cost no entry per millisecond in
    memory). The file is written under a
    temporary name in the same folder and renamed on `close`; leaving a ``with`` block on an
    exception (or calling `abort`) deletes it, so no half-written file ever has the final name.

    ``t_offset_us`` is the DSEC ``/t_offset``; by default the time of the first event.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        sensor_size: tuple[int, int],
        *,
        params: dict | None = None,
        source: dict | None = None,
        force: bool = False,
        t_offset_us: int | None = None,
        chunk_events: int = CHUNK_EVENTS,
        codec: Codec = CODEC,
        clevel: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.sensor_size = check_sensor_size(sensor_size)
        self.force = force
        check_replaceable(self.path)
        if self.path.exists() and not force:
            raise OutputExistsError(
                f"output {str(self.path)!r} exists; pass force=True to replace it"
            )
        if chunk_events < 1024:
            raise ParameterError(f"chunk_events={chunk_events} is too small; expected >= 1024")
        self._filters = column_filters(codec, clevel)
        self._chunk = int(chunk_events)
        self._attrs: dict[str, Any] = {}
        self._params = _as_dict(params, "params")
        self._source = _as_dict(source, "source")
        _json_attr(self._params)
        _json_attr(self._source)
        self._tmp = temp_path(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(self.path)
            self._f = h5py.File(self._tmp, "w", rdcc_nbytes=0)
        except OSError as exc:
            # where the file could not be made (a file for a folder), nor can it be removed
            with contextlib.suppress(OSError):
                self._tmp.unlink(missing_ok=True)
            raise EventFileError(
                f"cannot create {str(self.path)!r}: {describe_os_error(exc)}"
            ) from None
        except BaseException:
            # Ctrl-C while the file was being created
            with contextlib.suppress(OSError):
                self._tmp.unlink(missing_ok=True)
            raise
        self._closed = False
        try:
            grp = self._f.create_group("events")
            self._ds = {
                name: grp.create_dataset(
                    name,
                    shape=(0,),
                    maxshape=(None,),
                    dtype=dtype,
                    chunks=(self._chunk,),
                    **self._filters[name],
                )
                for name, dtype in COLUMNS
            }
            self._ms_ds = self._f.create_dataset(
                "ms_to_idx",
                shape=(0,),
                maxshape=(None,),
                dtype=np.uint64,
                chunks=(_MS_CHUNK,),
                **self._filters["t"],
            )
        except BaseException:
            self.abort()
            raise
        cap = FLUSH_CHUNKS * self._chunk
        self._buf = {name: np.empty(cap, dtype=dtype) for name, dtype in COLUMNS}
        self._nbuf = 0
        self._nflushed = 0
        self._t_offset = None if t_offset_us is None else int(t_offset_us)
        self._last_t: int | None = None  # absolute µs of the last event accepted
        # ms_to_idx entries decided but not yet written, as runs of one value (the index is
        # constant over milliseconds without events, so a long gap between events costs one
        # run, not one entry per millisecond): (first millisecond of each run, its value)
        self._ms_pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._ms_count = 0  # entries of ms_to_idx decided so far (flushed + pending)
        self._ms_flushed = 0
        # frames: datasets are created with the first frame; indices resolve lazily.
        self._frames_ds: h5py.Dataset | None = None
        self._frame_ts: list[int] = []
        self._frame_idx: list[int | None] = []

    def __repr__(self) -> str:
        # what a notebook shows: counters only, never raising (a failed __init__ too)
        try:
            width, height = self.sensor_size
            shown = (
                f"{str(self.path)!r}, sensor={width}x{height}, n_written={self.n_events}, "
                f"closed={self._closed}"
            )
        except Exception:
            return f"<{type(self).__name__} (incomplete)>"
        return f"{type(self).__name__}({shown})"

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def n_events(self) -> int:
        """Events written so far (buffered ones included)."""
        return self._nflushed + self._nbuf

    @property
    def t_offset_us(self) -> int:
        """The file's ``/t_offset``: the first event's time unless given (0 before any)."""
        return 0 if self._t_offset is None else self._t_offset

    # -- events -----------------------------------------------------------------------------
    def write(self, events: np.ndarray) -> None:
        """Append a time-sorted packet; raises `InvalidEventsError` naming the stream index.

        A rejected packet leaves the writer as it was.
        """
        self._check_open()
        check_interrupted()
        ev = strict_events(events, self.n_events)
        if ev.ndim != 1:
            raise InvalidEventsError(f"events have shape {ev.shape}; expected a 1-D array")
        n = ev.shape[0]
        if n == 0:
            return
        cap = self._buf["t"].shape[0]
        # same-width views: the copies are plain copies, not int16 -> uint16 casts
        bx, by = self._buf["x"].view(np.int16), self._buf["y"].view(np.int16)
        bt, bp = self._buf["t"], self._buf["p"].view(np.int8)
        fits = self._nbuf + n <= cap
        if fits:
            # Stage in the free part of the buffer: checks then run on contiguous columns,
            # and nothing is committed until they pass.
            sl = slice(self._nbuf, self._nbuf + n)
            x, y, t, p = bx[sl], by[sl], bt[sl], bp[sl]
            x[...], y[...], t[...], p[...] = ev["x"], ev["y"], ev["t"], ev["p"]
        else:
            x, y, t, p = (np.ascontiguousarray(ev[k]) for k in "xytp")
        self._validate(x, y, t, p)
        if self._t_offset is None:
            self._t_offset = int(t[0])
        self._extend_ms_to_idx(t, self.n_events)
        self._last_t = int(t[-1])
        if fits:
            t -= self._t_offset
            self._nbuf += n
            if self._nbuf == cap:
                self._flush()
        else:
            pos = 0
            while pos < n:
                take = min(cap - self._nbuf, n - pos)
                sl = slice(self._nbuf, self._nbuf + take)
                src = slice(pos, pos + take)
                bx[sl], by[sl], bp[sl] = x[src], y[src], p[src]
                np.subtract(t[src], self._t_offset, out=bt[sl])
                self._nbuf += take
                pos += take
                if self._nbuf == cap:
                    self._flush()
        self._resolve_frames(final=False)

    def _validate(self, x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray) -> None:
        base = self.n_events
        if self._last_t is not None and t[0] < self._last_t:
            raise StreamProblemError(
                StreamProblem("unsorted", "t", base, int(t[0]), base - 1, self._last_t),
                words="timestamps are not sorted across packets: event {index} has t = {value} "
                "us < t = {other_value} us of the previous event",
            )
        if self._t_offset is not None and t[0] < self._t_offset:
            raise InvalidEventsError(
                f"event {base} has t = {t[0]} us, before t_offset_us = {self._t_offset}"
            )
        if t.shape[0] > 1 and np.any(t[1:] < t[:-1]):
            i = int(np.flatnonzero(t[1:] < t[:-1])[0]) + 1
            raise StreamProblemError(
                StreamProblem("unsorted", "t", base + i, int(t[i]), base + i - 1, int(t[i - 1])),
                words="timestamps are not sorted: event {index} has t = {value} us "
                "< t = {other_value} us of event {other_index}",
            )
        width, height = self.sensor_size
        for name, c, limit in (("x", x, width), ("y", y, height)):
            # one pass: negative int16 values are >= 32768 when viewed as uint16
            if c.view(np.uint16).max() >= limit:
                i = int(np.flatnonzero((c < 0) | (c >= limit))[0])
                problem = StreamProblem(
                    "outside", name, base + i, int(c[i]), sensor_size=self.sensor_size
                )
                raise StreamProblemError(
                    problem,
                    words="event {index} has {field} = {value}, outside the sensor; expected "
                    f"0 <= {name} < {limit} for sensor size {width}x{height}",
                )
        if p.view(np.uint8).max() > 1:
            i = int(np.flatnonzero((p != 0) & (p != 1))[0])
            hint = " (convert -1/+1 with eventsim.events.normalize_polarity)" if p[i] == -1 else ""
            raise StreamProblemError(
                StreamProblem("polarity", "p", base + i, int(p[i])),
                words=f"event {{index}} has p = {{value}}; expected 0 or 1{hint}",
            )

    def _extend_ms_to_idx(self, t: np.ndarray, n_before: int) -> None:
        # Entries for milliseconds that start at or before the newest event are final: every
        # earlier event lies before them (they start after the previous packet's last event).
        offset = self.t_offset_us  # set by `write` before it calls this
        stop = (int(t[-1]) - offset) // 1000 + 1
        if stop <= self._ms_count:
            return
        if stop > MAX_MS_INDEX:
            raise InvalidEventsError(
                f"an event at t = {int(t[-1])} us is {(int(t[-1]) - offset) / 86.4e9:.3g} days "
                f"after the first (t = {offset} us): the file's ms_to_idx (one 8-byte entry per "
                f"millisecond) would need {stop * 8 / 2**30:,.0f} GiB; check that the times "
                "are microseconds, or split the recording"
            )
        # entry k counts the events with t - offset < 1000 k, so event i first counts at
        # millisecond (t_i - offset) // 1000 + 1: the runs start where that changes
        first = (t - offset) // 1000 + 1
        inner = first[(first > self._ms_count) & (first < stop)]
        starts = np.concatenate(
            ([self._ms_count], inner[np.diff(inner, prepend=self._ms_count) > 0])
        )
        self._ms_pending.append(
            (starts, (n_before + np.searchsorted(first, starts, side="right")).astype(np.uint64))
        )
        self._ms_count = stop

    def _pending_runs(self) -> tuple[np.ndarray, np.ndarray]:
        starts = np.concatenate([s for s, _ in self._ms_pending])
        return starts, np.concatenate([v for _, v in self._ms_pending])

    def _flush(self) -> None:
        n = self._nbuf
        if n:
            a, b = self._nflushed, self._nflushed + n
            for name, _ in COLUMNS:
                ds = self._ds[name]
                ds.resize((b,))
                ds[a:b] = self._buf[name][:n]
            self._nflushed = b
            self._nbuf = 0
        if self._ms_pending:
            starts, values = self._pending_runs()
            self._ms_ds.resize((self._ms_count,))
            a = self._ms_flushed
            while a < self._ms_count:
                b = min((a // _MS_BLOCK + 1) * _MS_BLOCK, self._ms_count)
                i = int(np.searchsorted(starts, a, side="right")) - 1
                j = int(np.searchsorted(starts, b, side="left"))
                ends = np.append(starts[i + 1 : j], b)
                lengths = ends - np.maximum(starts[i:j], a)
                self._ms_ds[a:b] = np.repeat(values[i:j], lengths)
                a = b
            self._ms_flushed = self._ms_count
            self._ms_pending = []

    # -- frames -----------------------------------------------------------------------------
    def add_frame(self, frame: np.ndarray, t_us: int) -> None:
        """Store an HxW or HxWx3 uint8 frame taken at absolute time ``t_us``.

        ``frame_event_idx`` gets the number of events with ``t <= t_us``; it is resolved once
        an event after ``t_us`` arrives or at `close`, so call this after writing the events up
        to ``t_us``.
        """
        self._check_open()
        frame = np.asarray(frame)
        if (
            frame.dtype != np.uint8
            or frame.ndim not in (2, 3)
            or (frame.ndim == 3 and frame.shape[2] != 3)
        ):
            raise ParameterError(
                f"frame has dtype {frame.dtype} and shape {frame.shape}; "
                "expected uint8 HxW or HxWx3"
            )
        t_us = int(t_us)
        if self._frame_ts and t_us < self._frame_ts[-1]:
            raise ParameterError(
                f"frame {len(self._frame_ts)} has t = {t_us} us < t = {self._frame_ts[-1]} us "
                "of the previous frame; frames must be added in time order"
            )
        if self._frames_ds is None:
            self._frames_ds = self._f.create_dataset(
                "frames",
                shape=(0, *frame.shape),
                maxshape=(None, *frame.shape),
                dtype=np.uint8,
                chunks=(1, *frame.shape),
                **hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.NOSHUFFLE),
            )
        elif self._frames_ds.shape[1:] != frame.shape:
            raise ParameterError(
                f"frame {len(self._frame_ts)} has shape {frame.shape}; earlier frames have "
                f"shape {self._frames_ds.shape[1:]}"
            )
        k = self._frames_ds.shape[0]
        self._frames_ds.resize((k + 1, *frame.shape))
        self._frames_ds[k] = frame
        self._frame_ts.append(t_us)
        self._frame_idx.append(None)
        self._resolve_frames(final=False)

    def _resolve_frames(self, *, final: bool) -> None:
        for k in range(len(self._frame_idx) - 1, -1, -1):
            if self._frame_idx[k] is not None:
                break
        else:
            k = -1
        for j in range(k + 1, len(self._frame_idx)):
            ft = self._frame_ts[j]
            if not final and (self._last_t is None or ft >= self._last_t):
                # later packets may still hold events at exactly ft
                break
            self._frame_idx[j] = self._count_le(ft)

    def _count_le(self, t_abs: int) -> int:
        """Number of events written so far with t <= t_abs."""
        if self._last_t is None or self._t_offset is None or t_abs < self._t_offset:
            return 0
        if t_abs >= self._last_t:
            return self.n_events
        r = t_abs - self._t_offset
        ms = r // 1000
        lo = int(self._ms_entry(ms))
        hi = int(self._ms_entry(ms + 1)) if ms + 1 < self._ms_count else self.n_events
        return lo + int(np.searchsorted(self._t_slice(lo, hi), r, side="right"))

    def _ms_entry(self, ms: int) -> int:
        if ms < self._ms_flushed:
            return int(self._ms_ds[ms])
        starts, values = self._pending_runs()
        return int(values[np.searchsorted(starts, ms, side="right") - 1])

    def _t_slice(self, lo: int, hi: int) -> np.ndarray:
        parts = []
        if lo < self._nflushed:
            parts.append(self._ds["t"][lo : min(hi, self._nflushed)])
        if hi > self._nflushed:
            parts.append(self._buf["t"][max(lo - self._nflushed, 0) : hi - self._nflushed])
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    # -- attributes and closing ---------------------------------------------------------------
    def set_attrs(self, **kv: Any) -> None:
        """Extra root attributes; non-scalar values are stored as JSON strings."""
        self._check_open()
        for key, value in kv.items():
            if key in _RESERVED_ATTRS:
                raise ParameterError(
                    f"attribute {key!r} is written by the format itself; reserved: "
                    f"{', '.join(sorted(_RESERVED_ATTRS))}"
                )
            if isinstance(value, (str, bool, int, float, np.integer, np.floating)):
                self._attrs[key] = value
            else:
                self._attrs[key] = _json_attr(value)

    def close(self) -> Path:
        """Finish the file and move it to its final name; returns the final path."""
        if self._closed:
            return self.path
        try:
            self._finish()
            self._f.close()
            fsync_file(self._tmp)
            if self.path.exists() and not self.force:
                raise OutputExistsError(
                    f"output {str(self.path)!r} appeared while writing; pass force=True to replace it"
                )
            publish(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.path

    def _finish(self) -> None:
        if self._last_t is not None:
            # the entry after the last event's millisecond points past the end
            self._ms_pending.append(
                (np.array([self._ms_count]), np.array([self.n_events], dtype=np.uint64))
            )
            self._ms_count += 1
        elif self._ms_count == 0:
            self._ms_pending.append((np.array([0]), np.array([0], dtype=np.uint64)))
            self._ms_count = 1
        self._resolve_frames(final=True)
        self._flush()
        self._f.create_dataset("t_offset", data=np.int64(self.t_offset_us))
        if self._frame_ts:
            self._f.create_dataset("frame_ts_us", data=np.asarray(self._frame_ts, np.int64))
            self._f.create_dataset(
                "frame_event_idx", data=np.asarray(self._frame_idx, dtype=np.uint64)
            )
            self._f["frame_ts_us"].attrs["description"] = "absolute microseconds"
        attrs = self._f.attrs
        attrs["format"] = FORMAT_NAME
        attrs["format_version"] = FORMAT_VERSION
        attrs["sensor_width"] = self.sensor_size[0]
        attrs["sensor_height"] = self.sensor_size[1]
        attrs["params"] = _json_attr(self._params)
        attrs["source"] = _json_attr(self._source)
        attrs["software"] = f"eventsim {__version__}"
        for key, value in self._attrs.items():
            attrs[key] = value

    def abort(self) -> None:
        """Discard everything written: close and delete the temporary file."""
        self._closed = True
        # The file may already be unusable (that is often why we abort); removing it matters,
        # so a second Ctrl-C must not cut the cleanup short (the first is already on its way).
        with sigint_deferred(deliver=False):
            with contextlib.suppress(Exception):
                self._f.close()
            with contextlib.suppress(OSError):
                self._tmp.unlink(missing_ok=True)

    def _check_open(self) -> None:
        if self._closed:
            raise EventFileError(f"writer for {str(self.path)!r} is closed")

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.abort()


def write_h5(
    path: str | os.PathLike,
    events: np.ndarray,
    sensor_size: tuple[int, int],
    *,
    force: bool = False,
    params: dict | None = None,
    source: dict | None = None,
) -> Path:
    """Write a whole events array in one go (see `EventWriter`)."""
    with EventWriter(path, sensor_size, params=params, source=source, force=force) as w:
        w.write(events)
    return w.path
