"""The eventsim HDF5 event format: the layout `EventWriter` writes and `EventReader` reads.

Layout (a DSEC reader loads it unchanged)::

    /events/x  uint16      /events/y  uint16
    /events/t  int64 µs, relative to /t_offset
    /events/p  uint8 in {0, 1}
    /t_offset  int64 scalar (µs)
    /ms_to_idx uint64: t[ms_to_idx[ms]] >= 1000*ms > t[ms_to_idx[ms] - 1]
    /frames (K, H, W[, 3]) uint8, /frame_ts_us int64 (absolute µs), /frame_event_idx uint64
    root attributes: format, format_version, sensor_width, sensor_height, params (JSON),
    source (JSON), software

Columns are stored separately, each compressed with Blosc-lz4 and the shuffle that suits it
(bitshuffle for coordinates and polarity, byte shuffle for timestamps; see
`eventsim.io.hdf5_writer.column_filters`); per-column storage lets a reader decode only the
fields it needs. ``ms_to_idx`` has one entry per millisecond up to and including the one after
the last event, so every window end inside the recording has an index: a reader that loads it
whole (DSEC's does) needs 8 bytes per millisecond of the recording's span, 691 MB a day.
"""

from __future__ import annotations

import numpy as np

FORMAT_NAME = "eventsim-events"
FORMAT_VERSION = "1.0"
#: The /events columns and their stored dtypes, in DSEC's layout (built datasets' shards too).
COLUMNS: tuple[tuple[str, type[np.generic]], ...] = (
    ("x", np.uint16),
    ("y", np.uint16),
    ("t", np.int64),
    ("p", np.uint8),
)
