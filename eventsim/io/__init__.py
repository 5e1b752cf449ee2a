"""Event file I/O: the eventsim HDF5 format, readers for common layouts, format conversion.

``open_events`` sniffs any supported file and returns an `EventFileReader` (for our HDF5,
``read_columns`` gives four arrays at plain-h5py speed, ``read`` packed `EVENT_DTYPE` records);
``EventWriter`` streams events into our DSEC-compatible HDF5 format; ``write_events`` writes a
whole array in any format.
"""

from eventsim.io.formats import FORMATS, format_from_path, write_events, write_stream
from eventsim.io.hdf5 import EventColumns, EventReader, EventWriter
from eventsim.io.layouts import ArrayReader, load_events, open_events
from eventsim.io.reader import EventFileReader

__all__ = [
    "FORMATS",
    "ArrayReader",
    "EventColumns",
    "EventFileReader",
    "EventReader",
    "EventWriter",
    "format_from_path",
    "load_events",
    "open_events",
    "write_events",
    "write_stream",
]
