"""`EventFileReader`: the interface every reader `open_events` returns has in common.

`EventReader` (lazy, indexed HDF5) and `ArrayReader` (events in memory, for the other
layouts) both satisfy it without inheriting from it, so code written against it works on any
supported file; ``isinstance(reader, EventFileReader)`` tells whether an object has all of it.
Every reader has ``read_columns`` (four column arrays, for numeric work). What only the HDF5
reader offers (``read_index_columns``, ``read`` into a reused buffer) needs an
``isinstance(reader, EventReader)`` check first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from eventsim.io.hdf5_reader import EventColumns

__all__ = ["EventFileReader"]


# runtime_checkable: the README calls what open_events returns "an EventFileReader", and
# isinstance() on a plain Protocol raised TypeError
@runtime_checkable
class EventFileReader(Protocol):
    """A time-sorted event stream read from one file; times are absolute microseconds.

    ``isinstance(obj, EventFileReader)`` checks that ``obj`` has every member below (not their
    types)."""

    @property
    def path(self) -> Path | None:
        """The file read (None for events handed over in memory)."""

    @property
    def sensor_size(self) -> tuple[int, int]:
        """(W, H) of the pixel grid."""

    @property
    def layout(self) -> str:
        """The detected file layout (``eventsim``, ``dsec``, ``v2e``, ``npy``...)."""

    @property
    def notes(self) -> list[str]:
        """Every conversion applied while reading (time unit, polarity, sorting, size)."""

    @property
    def attrs(self) -> dict[str, Any]:
        """The file's root attributes, decoded."""

    @property
    def params(self) -> dict[str, Any]:
        """The simulator parameters the file records (empty when it records none)."""

    @property
    def source(self) -> dict[str, Any]:
        """The description of what the events were made from (empty when not recorded)."""

    @property
    def file_index(self) -> np.ndarray | None:
        """Each event's index in the file when the reader sorted the file's events by time
        (the indices of the events read then count the sorted ones); None when they are read
        in the file's order."""

    @property
    def time_unit_detected(self) -> str:
        """``"us"`` or ``"s"``: the unit the file's times were read in (``"ms"`` or ``"ns"``
        only when given to `open_events` as ``time_unit``)."""

    @property
    def sensor_size_inferred(self) -> bool:
        """True when ``sensor_size`` came from the largest coordinates, not the file or caller."""

    @property
    def t_offset_us(self) -> int:
        """Offset added to the stored times to make them absolute."""

    @property
    def frame_ts_us(self) -> np.ndarray:
        """int64 times of the saved frames (empty without frames)."""

    @property
    def frame_event_idx(self) -> np.ndarray:
        """Per saved frame, the number of events at or before its time."""

    @property
    def t_start_us(self) -> int:
        """Time of the first event (0 when there is none)."""

    @property
    def t_end_us(self) -> int:
        """One past the last event's time, so ``read(t_start_us, t_end_us)`` reads all."""

    @property
    def duration_us(self) -> int:
        """``t_end_us - t_start_us``."""

    @property
    def num_frames(self) -> int:
        """Number of saved frames."""

    @property
    def closed(self) -> bool:
        """Whether `close` was called: every read then raises `EventFileError`."""

    def __enter__(self) -> EventFileReader: ...
    def __exit__(self, *exc: object) -> None: ...
    def close(self) -> None:
        """Release the file; every read afterwards (a window or packet of an iterator made
        before too) raises `EventFileError`. What was read when it opened (``len``, the times,
        ``sensor_size``) stays."""

    def __len__(self) -> int: ...
    def read_index(self, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Events ``start:stop`` by index (clipped to the stream), as `EVENT_DTYPE`."""

    def read(self, t_start_us: int | None = None, t_end_us: int | None = None) -> np.ndarray:
        """Events with ``t_start_us <= t < t_end_us`` (None means open-ended). Equal bounds
        read no events; an end before the start raises `ArgumentValueError`."""

    def read_columns(
        self, t_start_us: int | None = None, t_end_us: int | None = None
    ) -> EventColumns:
        """The events `read` returns, as four new arrays ``x``, ``y`` int16, ``t`` int64,
        ``p`` int8 (`EventColumns`; empty arrays when none): no 13-byte records are packed."""

    def iter_windows(
        self, window_us: int, t_start_us: int | None = None, t_end_us: int | None = None
    ) -> Iterator[np.ndarray]:
        """Consecutive windows of ``window_us`` (empty ones too); bounds as in `read`."""

    def iter_chunks(self, n_events: int) -> Iterator[np.ndarray]:
        """Consecutive packets of ``n_events`` events (the last may be shorter)."""

    def read_frame(self, i: int) -> np.ndarray:
        """Saved frame ``i`` (negative indices count from the end)."""
