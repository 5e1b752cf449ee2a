"""The eventsim HDF5 event format in one import: `EventWriter` (`eventsim.io.hdf5_writer`),
`EventReader` (`eventsim.io.hdf5_reader`) and the layout they share (`eventsim.io.hdf5_format`,
whose docstring describes it).
"""

from eventsim.io.hdf5_format import FORMAT_NAME, FORMAT_VERSION
from eventsim.io.hdf5_reader import EventColumns, EventReader, open_hdf5
from eventsim.io.hdf5_reader import _iter_windows as _iter_windows  # for eventsim.io.layouts
from eventsim.io.hdf5_writer import (
    CHUNK_EVENTS,
    CODEC,
    FLUSH_CHUNKS,
    EventWriter,
    column_filters,
    strict_events,
    write_h5,
)

__all__ = [
    "CHUNK_EVENTS",
    "CODEC",
    "FLUSH_CHUNKS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "EventColumns",
    "EventReader",
    "EventWriter",
    "column_filters",
    "open_hdf5",
    "strict_events",
    "write_h5",
]
