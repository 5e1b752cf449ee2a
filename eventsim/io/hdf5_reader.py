"""Read eventsim and DSEC-layout HDF5 files (`eventsim.io.hdf5_format`) lazily: `EventReader`,
whose `read_columns` returns `EventColumns`, and `open_hdf5`, which the foreign HDF5
layouts in `eventsim.io.layouts` share.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import h5py

# imported for its side effect: it registers the Blosc filter h5py needs to decode the columns
import hdf5plugin  # noqa: F401
import numpy as np

from eventsim.errors import EventFileError, EventsimError, ParameterError, UnknownLayoutError
from eventsim.events import EVENT_DTYPE, check_sensor_size, empty_events
from eventsim.io.hdf5_format import FORMAT_NAME
from eventsim.io.reader import EventFileReader

# h5py's default chunk cache (1 MiB) cannot even hold one decompressed 2^17 int64 chunk, so a
# window read would decode it again for every slice; 16 MiB keeps a window's chunks hot.
_READ_CACHE_BYTES = 16 << 20

# ranges up to this many events are read through the cached handles (window reads)
_READ_STEP = 1 << 17

# `read_columns` decodes long ranges straight into its arrays in blocks of this many events:
# per-call overhead made 2^17-event calls ~1.5x slower than plain h5py; 2^21 reaches its speed
_LONG_STEP = 1 << 21


def _decode_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _json_dict(value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    try:
        out = json.loads(value)
    except (TypeError, ValueError):
        return {"value": value}
    return out if isinstance(out, dict) else {"value": out}


def open_hdf5(path: Path) -> h5py.File:
    """Open an HDF5 file for reading with clear errors for missing, empty and corrupt files."""
    if not path.exists():
        raise EventFileError(f"event file {str(path)!r} does not exist")
    if path.is_dir():
        raise EventFileError(f"{str(path)!r} is a directory; expected an event file")
    if path.stat().st_size == 0:
        raise EventFileError(f"event file {str(path)!r} is empty (0 bytes)")
    try:
        return h5py.File(path, "r", rdcc_nbytes=_READ_CACHE_BYTES, rdcc_nslots=10007)
    except OSError as exc:
        raise EventFileError(
            f"cannot read {str(path)!r} as HDF5: the file is truncated or corrupt ({exc})"
        ) from None


class EventColumns(NamedTuple):
    """Events as four column arrays (what `EventReader.read_columns` returns): ``x``, ``y``
    int16, ``t`` int64 absolute µs, ``p`` int8 in {0, 1}; no 13-byte records are built."""

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray

    def __len__(self) -> int:
        return int(self.t.shape[0])


_COLUMN_DTYPES = {name: EVENT_DTYPE[name] for name in "xytp"}


class EventReader:
    """Read an eventsim or DSEC-layout HDF5 file lazily.

    Times are absolute microseconds (``/t_offset`` applied). ``t_end_us`` is one past the last
    event, so ``read(r.t_start_us, r.t_end_us)`` returns everything. Files without
    ``/ms_to_idx`` (e.g. RVT conversions) get an index built in memory on first use.
    ``sensor_size`` is taken from the file's attributes, then from the argument, and is
    otherwise inferred from the largest coordinates (``sensor_size_inferred`` is then True).
    """

    layout = "eventsim"
    time_unit_detected = "us"

    def __init__(
        self, path: str | os.PathLike, *, sensor_size: tuple[int, int] | None = None
    ) -> None:
        self.path = Path(path)
        self._f = open_hdf5(self.path)
        self.notes: list[str] = []
        try:
            self._open(sensor_size)
        except EventsimError:
            self._f.close()
            raise
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            self._f.close()
            raise EventFileError(
                f"cannot read events from {str(self.path)!r}: the file is truncated or "
                f"corrupt ({exc})"
            ) from None

    def _open(self, sensor_size: tuple[int, int] | None) -> None:
        f = self._f
        grp = f.get("events")
        if not isinstance(grp, h5py.Group) or not all(
            isinstance(grp.get(k), h5py.Dataset) for k in "xytp"
        ):
            raise UnknownLayoutError(
                f"{str(self.path)!r} does not have the DSEC layout "
                f"(events/x, events/y, events/t, events/p); it has {sorted(f.keys())}"
            )
        self._x, self._y, self._t, self._p = (grp[k] for k in "xytp")
        for name, ds in zip("xytp", (self._x, self._y, self._t, self._p), strict=True):
            # a float or string column would be truncated or garbled by the integer casts
            if ds.dtype.kind not in "iub":
                raise EventFileError(
                    f"{str(self.path)!r}: events/{name} holds {ds.dtype} values; expected "
                    f"integers ({EVENT_DTYPE[name]})"
                )
        self._bulk: dict[str, h5py.Dataset] | None = None
        n = self._t.shape[0]
        if any(d.shape != (n,) for d in (self._x, self._y, self._p)):
            raise EventFileError(
                f"{str(self.path)!r}: events/x, y, t, p have different lengths "
                f"{[d.shape for d in (self._x, self._y, self._t, self._p)]}"
            )
        self._n = n
        self._bufs: dict[str, np.ndarray] | None = None
        self.attrs = {k: _decode_attr(v) for k, v in f.attrs.items()}
        if self.attrs.get("format") != FORMAT_NAME:
            self.layout = "dsec"
        self.t_offset_us = int(f["t_offset"][()]) if "t_offset" in f else 0
        ms = f.get("ms_to_idx")
        self._ms = np.asarray(ms[()], dtype=np.int64) if isinstance(ms, h5py.Dataset) else None
        if self._ms is None and n:
            self._ms = self._build_ms_index()
            self.notes.append("file has no ms_to_idx; built the index in memory")
        if n:
            self._t_first = int(self._t[0])
            self._t_last = int(self._t[n - 1])
        else:
            self._t_first = self._t_last = 0
        self.params = _json_dict(self.attrs.get("params"))
        self.source = _json_dict(self.attrs.get("source"))
        self.sensor_size_inferred = False
        file_size = self._file_sensor_size()
        if file_size is not None:
            if sensor_size is not None and tuple(sensor_size) != file_size:
                raise ParameterError(
                    f"sensor size {sensor_size[0]}x{sensor_size[1]} was given but "
                    f"{str(self.path)!r} records "
                    f"{file_size[0]}x{file_size[1]}"
                )
            self.sensor_size = file_size
        elif sensor_size is not None:
            self.sensor_size = check_sensor_size(sensor_size)
        else:
            self.sensor_size = self._infer_sensor_size()
            self.sensor_size_inferred = True
            self.notes.append(
                f"sensor size not recorded; inferred {self.sensor_size[0]}x"
                f"{self.sensor_size[1]} from the largest coordinates"
            )
        fr = f.get("frames")
        self._frames = fr if isinstance(fr, h5py.Dataset) else None
        if self._frames is not None and "frame_ts_us" in f:
            self.frame_ts_us = np.asarray(f["frame_ts_us"][()], dtype=np.int64)
            self.frame_event_idx = np.asarray(f["frame_event_idx"][()], dtype=np.int64)
        else:
            self._frames = None
            self.frame_ts_us = np.zeros(0, np.int64)
            self.frame_event_idx = np.zeros(0, np.int64)

    def _file_sensor_size(self) -> tuple[int, int] | None:
        w, h = self.attrs.get("sensor_width"), self.attrs.get("sensor_height")
        if w is None or h is None:
            grp = self._f["events"]
            if isinstance(grp.get("width"), h5py.Dataset) and isinstance(
                grp.get("height"), h5py.Dataset
            ):
                w, h = grp["width"][()], grp["height"][()]
        if w is None or h is None:
            return None
        return check_sensor_size((int(w), int(h)))

    def _infer_sensor_size(self) -> tuple[int, int]:
        w = h = 0
        for a in range(0, self._n, 1 << 20):
            b = min(a + (1 << 20), self._n)
            w = max(w, int(self._x[a:b].max()) + 1)
            h = max(h, int(self._y[a:b].max()) + 1)
        return (max(w, 1), max(h, 1))

    def _build_ms_index(self) -> np.ndarray:
        last = int(self._t[self._n - 1])
        ms = np.arange(0, last // 1000 + 2, dtype=np.int64) * 1000
        out = np.empty(ms.shape[0], np.int64)
        pos = 0
        done = 0
        for a in range(0, self._n, 1 << 20):
            t = np.asarray(self._t[a : a + (1 << 20)], dtype=np.int64)
            stop = np.searchsorted(ms, t[-1], side="right")
            out[done:stop] = a + np.searchsorted(t, ms[done:stop], side="left")
            done = stop
            pos = a + t.shape[0]
        out[done:] = pos
        return out

    # -- basic properties -----------------------------------------------------------------------
    def __enter__(self) -> EventReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._f.close()

    def __len__(self) -> int:
        return self._n

    @property
    def t_start_us(self) -> int:
        """Time of the first event (0 when there is none)."""
        return self.t_offset_us + self._t_first if self._n else 0

    @property
    def t_end_us(self) -> int:
        """One past the time of the last event (0 when there is none)."""
        return self.t_offset_us + self._t_last + 1 if self._n else 0

    @property
    def duration_us(self) -> int:
        """``t_end_us - t_start_us``."""
        return self.t_end_us - self.t_start_us

    # -- reading --------------------------------------------------------------------------------
    def read_index(
        self, start: int | None = None, stop: int | None = None, *, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Events ``start:stop`` by index (clipped to the file).

        ``out``: an `EVENT_DTYPE` array to fill and return a view of, so a consumer reading
        many ranges can reuse one buffer instead of allocating (and page-faulting) each time.
        """
        a, b, _ = slice(start, stop).indices(self._n)
        if b <= a:
            return empty_events()
        if out is None:
            out = np.empty(b - a, dtype=EVENT_DTYPE)
        elif out.dtype != EVENT_DTYPE or out.ndim != 1 or out.shape[0] < b - a:
            raise ParameterError(
                f"out has dtype {out.dtype} and shape {out.shape}; expected a 1-D EVENT_DTYPE "
                f"array of at least {b - a} events"
            )
        out = out[: b - a]
        try:
            if b - a <= _READ_STEP:
                self._read_into(out, a, b)
            else:
                self._read_long(out, a, b)
        except OSError as exc:
            raise EventFileError(
                f"cannot read events {a}:{b} from {str(self.path)!r}: the file is truncated "
                f"or corrupt ({exc})"
            ) from None
        return out

    def _bulk_handles(self) -> dict[str, h5py.Dataset]:
        """Second handles without a chunk cache: a long read decodes each chunk once, straight
        into the caller's buffer, instead of through (and evicting) the window-read cache."""
        if self._bulk is None:
            self._bulk = {}
            for name, ds in (("x", self._x), ("y", self._y), ("t", self._t), ("p", self._p)):
                dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
                dapl.set_chunk_cache(0, 0, 1.0)
                self._bulk[name] = h5py.Dataset(h5py.h5d.open(self._f.id, ds.name.encode(), dapl))
        return self._bulk

    def _read_into(self, out: np.ndarray, lo: int, hi: int) -> None:
        """A short range through the cached handles (window reads)."""
        if self._bufs is None:
            self._bufs = self._new_buffers()
        handles = {"x": self._x, "y": self._y, "t": self._t, "p": self._p}
        self._decode(handles, self._bufs, lo, hi)
        self._pack(out, self._bufs, 0, hi - lo)

    def _read_long(self, out: Any, a: int, b: int) -> None:
        """A long range, decoded block by block into reused cache-sized buffers (fresh large
        arrays per block would page-fault) and copied into ``out``. A helper thread packing
        block i while block i+1 decodes was tried and measured slower: h5py holds the GIL."""
        handles = self._bulk_handles()
        if self._bufs is None:
            self._bufs = self._new_buffers()
        for lo in range(a, b, _READ_STEP):
            hi = min(lo + _READ_STEP, b)
            self._decode(handles, self._bufs, lo, hi)
            self._pack(out, self._bufs, lo - a, hi - lo)

    def _read_columns_long(self, cols: dict[str, np.ndarray], a: int, b: int) -> None:
        """Decode straight into the column arrays (a same-width integer view of the file's
        type), in large blocks; other file types go through `_read_long`'s buffers."""
        handles = self._bulk_handles()
        direct = all(
            ds.dtype == cols[name].dtype
            or (ds.dtype.itemsize == cols[name].dtype.itemsize and ds.dtype.kind in "iu")
            for name, ds in handles.items()
        )
        if not direct:
            self._read_long(cols, a, b)
            return
        for name, ds in handles.items():
            dest = cols[name].view(ds.dtype)
            for lo in range(a, b, _LONG_STEP):
                hi = min(lo + _LONG_STEP, b)
                ds.read_direct(dest, np.s_[lo:hi], np.s_[lo - a : hi - a])
        if self.t_offset_us:
            cols["t"] += self.t_offset_us

    def _new_buffers(self) -> dict[str, np.ndarray]:
        return {
            name: np.empty(_READ_STEP, dtype=ds.dtype)
            for name, ds in (("x", self._x), ("y", self._y), ("t", self._t), ("p", self._p))
        }

    @staticmethod
    def _decode(handles: dict, bufs: dict, lo: int, hi: int) -> None:
        for name, ds in handles.items():
            ds.read_direct(bufs[name], np.s_[lo:hi], np.s_[0 : hi - lo])

    def _pack(self, out: Any, bufs: dict, at: int, k: int) -> None:
        """Copy decoded block columns into ``out``: an `EVENT_DTYPE` array (packing records)
        or a dict of column arrays (plain contiguous copies)."""
        o = slice(at, at + k)
        for name in "xytp":
            field = out[name]
            values = bufs[name][:k]
            if values.dtype.itemsize == field.dtype.itemsize and values.dtype.kind in "iu":
                # same-width reinterpretation (uint16 -> int16) copies faster than a cast
                values = values.view(field.dtype)
            field[o] = values
            if name == "t" and self.t_offset_us:
                field[o] += self.t_offset_us

    def read_columns(
        self, t_start_us: int | None = None, t_end_us: int | None = None
    ) -> EventColumns:
        """Events with ``t_start_us <= t < t_end_us`` as four arrays (no record packing).

        The fastest full read: each column is decoded straight into its own new array, at the
        speed of reading the datasets with plain h5py. Use it for numeric work on columns;
        use `read` when an `EVENT_DTYPE` array is wanted.
        """
        a = 0 if t_start_us is None else self._index_of(int(t_start_us))
        b = self._n if t_end_us is None else self._index_of(int(t_end_us))
        return self.read_index_columns(a, b)

    def read_index_columns(self, start: int | None = None, stop: int | None = None) -> EventColumns:
        """Events ``start:stop`` by index (clipped to the file) as four arrays."""
        a, b, _ = slice(start, stop).indices(self._n)
        k = max(b - a, 0)
        cols = {name: np.empty(k, dtype=want) for name, want in _COLUMN_DTYPES.items()}
        try:
            if k > _READ_STEP:
                self._read_columns_long(cols, a, b)
            elif k:
                if self._bufs is None:
                    self._bufs = self._new_buffers()
                handles = {"x": self._x, "y": self._y, "t": self._t, "p": self._p}
                self._decode(handles, self._bufs, a, b)
                self._pack(cols, self._bufs, 0, k)
        except OSError as exc:
            raise EventFileError(
                f"cannot read events {a}:{b} from {str(self.path)!r}: the file is truncated "
                f"or corrupt ({exc})"
            ) from None
        return EventColumns(**cols)

    def _index_of(self, t_abs: int) -> int:
        """First index with t >= t_abs (searchsorted 'left'), through ms_to_idx."""
        ms = self._ms  # None only for a file without events
        if self._n == 0 or ms is None:
            return 0
        r = t_abs - self.t_offset_us
        if r <= self._t_first:
            return 0
        if r > self._t_last:
            return self._n
        k = r // 1000
        lo = int(ms[k]) if k < ms.shape[0] else self._n
        if r % 1000 == 0:
            return lo
        hi = int(ms[k + 1]) if k + 1 < ms.shape[0] else self._n
        if hi <= lo:
            return lo
        return lo + int(np.searchsorted(self._t[lo:hi], r, side="left"))

    def read(
        self,
        t_start_us: int | None = None,
        t_end_us: int | None = None,
        *,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Events with ``t_start_us <= t < t_end_us`` (absolute µs; None means open-ended).

        ``out`` as in `read_index`.
        """
        a = 0 if t_start_us is None else self._index_of(int(t_start_us))
        b = self._n if t_end_us is None else self._index_of(int(t_end_us))
        return self.read_index(a, b, out=out)

    def iter_windows(
        self,
        window_us: int,
        t_start_us: int | None = None,
        t_end_us: int | None = None,
    ) -> Iterator[np.ndarray]:
        """Consecutive windows of ``window_us`` from ``t_start_us`` to ``t_end_us`` (empty ones too).

        Windows are served from blocks of many windows so small windows cost one slice each.
        """
        yield from _iter_windows(self, window_us, t_start_us, t_end_us)

    def iter_chunks(self, n_events: int) -> Iterator[np.ndarray]:
        """Consecutive packets of ``n_events`` events (the last may be shorter)."""
        if n_events <= 0:
            raise ParameterError(f"n_events={n_events}; expected a positive count")
        for a in range(0, self._n, n_events):
            yield self.read_index(a, a + n_events)

    # -- frames ---------------------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        """Number of saved frames."""
        return 0 if self._frames is None else int(self._frames.shape[0])

    def read_frame(self, i: int) -> np.ndarray:
        """Saved frame ``i`` (negative indices count from the end)."""
        frames = self._frames
        n = self.num_frames
        if frames is None or not -n <= i < n:
            raise ParameterError(f"frame index {i} is out of range; the file has {n} frames")
        return np.asarray(frames[i])


def _iter_windows(
    reader: EventFileReader, window_us: int, t_start_us: int | None, t_end_us: int | None
) -> Iterator[np.ndarray]:
    window_us = int(window_us)
    if window_us <= 0:
        raise ParameterError(f"window_us={window_us}; expected a positive duration")
    t0 = reader.t_start_us if t_start_us is None else int(t_start_us)
    t1 = reader.t_end_us if t_end_us is None else int(t_end_us)
    if t1 <= t0:
        return
    # blocks of whole windows covering about 100 ms (at least one window)
    per_block = max(1, 100_000 // window_us)
    start = t0
    while start < t1:
        block_end = min(start + per_block * window_us, t1)
        block = reader.read(start, block_end)
        edges = np.minimum(np.arange(start, block_end + window_us, window_us), block_end)
        edges = edges[: int(np.searchsorted(edges, block_end, side="left")) + 1]
        # one contiguous copy and one vectorised search per block, not per window
        idx = np.searchsorted(np.ascontiguousarray(block["t"]), edges, side="left")
        for a, b in zip(idx[:-1].tolist(), idx[1:].tolist()):
            yield block[a:b]
        start = block_end
