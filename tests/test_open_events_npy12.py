"""open_events of a numpy array saved under an HDF5 name says what it is and how to read it
(EventReader already did); a damaged HDF5 file is still called truncated or corrupt."""

import numpy as np
import pytest

from eventsim.errors import EventFileError, UnknownLayoutError
from eventsim.events import make_events
from eventsim.io import open_events


def test_an_npy_named_h5_is_named_with_its_layout(tmp_path):
    path = tmp_path / "x.h5"
    with open(path, "wb") as fh:
        np.save(fh, make_events([1, 2], [2, 3], [3, 4], [1, 0]))
    with pytest.raises(UnknownLayoutError, match=r"numpy \.npy array, not HDF5.*layout='npy'"):
        open_events(path)
    with open_events(path, layout="npy") as reader:
        assert len(reader.read()) == 2


def test_a_damaged_hdf5_file_is_still_corrupt(tmp_path):
    path = tmp_path / "y.h5"
    path.write_bytes(b"not an hdf5 file at all" * 4)
    with pytest.raises(EventFileError, match="truncated or corrupt"):
        open_events(path)
