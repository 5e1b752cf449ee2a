"""`EventFileReader`: the interface every reader `open_events` returns has in common.

`EventReader` (lazy, indexed HDF5) and `ArrayReader` (events in memory, for the other
layouts) both satisfy it without inheriting from it, so code written against it works on any
supported file. What only the HDF5 reader offers (``read_columns``, ``read`` into a reused
buffer) needs an ``isinstance(reader, EventReader)`` check first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = ["EventFileReader"]


class EventFileReader(Protocol):
    """A sorted event stream read from one file; times are absolute microseconds.

    ``t_end_us`` is one past the last event, so ``read(r.t_start_us, r.t_end_us)`` returns
    everything. ``layout`` names the detected file layout, ``time_unit_detected`` is ``"us"``
    or ``"s"``, ``notes`` lists every conversion applied while reading, and
    ``sensor_size_inferred`` is True when the (W, H) ``sensor_size`` came from the largest
    coordinates rather than the file or the caller.
    """

    @property
    def path(self) -> Path | None: ...
    @property
    def sensor_size(self) -> tuple[int, int]: ...
    @property
    def layout(self) -> str: ...
    @property
    def notes(self) -> list[str]: ...
    @property
    def attrs(self) -> dict[str, Any]: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def source(self) -> dict[str, Any]: ...
    @property
    def time_unit_detected(self) -> str: ...
    @property
    def sensor_size_inferred(self) -> bool: ...
    @property
    def t_offset_us(self) -> int: ...
    @property
    def frame_ts_us(self) -> np.ndarray: ...
    @property
    def frame_event_idx(self) -> np.ndarray: ...
    @property
    def t_start_us(self) -> int: ...
    @property
    def t_end_us(self) -> int: ...
    @property
    def duration_us(self) -> int: ...
    @property
    def num_frames(self) -> int: ...

    def __enter__(self) -> EventFileReader: ...
    def __exit__(self, *exc: object) -> None: ...
    def close(self) -> None:
        """Release the file; the reader cannot be used afterwards."""

    def __len__(self) -> int: ...
    def read_index(self, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Events ``start:stop`` by index (clipped to the stream), as `EVENT_DTYPE`."""

    def read(self, t_start_us: int | None = None, t_end_us: int | None = None) -> np.ndarray:
        """Events with ``t_start_us <= t < t_end_us`` (None means open-ended)."""

    def iter_windows(
        self, window_us: int, t_start_us: int | None = None, t_end_us: int | None = None
    ) -> Iterator[np.ndarray]:
        """Consecutive windows of ``window_us`` (empty ones too)."""

    def iter_chunks(self, n_events: int) -> Iterator[np.ndarray]:
        """Consecutive packets of ``n_events`` events (the last may be shorter)."""

    def read_frame(self, i: int) -> np.ndarray:
        """Saved frame ``i`` (negative indices count from the end)."""
