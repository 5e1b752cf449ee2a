"""I/O review 8: users' text event files and layout routing.

- A number written with an underscore (``1_0``) in rpg text got numpy's own wording ("could
  not convert string '1_0' to float64 at row 1, column 1"), which counts rows its way, where
  the CSV reader names the file's line and the value.
- An HDF5 file with a user block (its signature at byte 512, 1024, ... rather than 0) forced
  to a layout that is not HDF5 (``--layout csv``) was read as text, and one without an HDF5
  suffix was not recognised as HDF5 at all.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.errors import EventFileError, UnknownLayoutError
from eventsim.io import open_events


# -- rpg text: underscores -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "line", "value"),
    [
        (b"0.1 1 2 1\n1_0 3 4 0\n", 2, "1_0"),
        (b"0.1 1 2 1\n0.2 3_0 4 0\n", 2, "3_0"),
        (b"640 480\n1 1 2 1\n\n2 3 4 1_0\n", 4, "1_0"),
        (b"1,1,2,1\n1_0,3,4,0\n", 2, "1_0"),
    ],
)
def test_rpg_text_names_the_line_of_a_number_with_an_underscore(tmp_path, body, line, value):
    path = tmp_path / "events.txt"
    path.write_bytes(body)
    with pytest.raises(EventFileError, match=f"line {line}: '{value}' is not a number"):
        open_events(path)


def test_rpg_text_refuses_an_underscore_in_its_size_line(tmp_path):
    # int() takes b'64_0' for 640: the size line was read as 640x480
    path = tmp_path / "events.txt"
    path.write_bytes(b"64_0 480\n0.1 1 2 1\n")
    with pytest.raises(EventFileError, match="first line"):
        open_events(path)


# -- HDF5 with a user block ----------------------------------------------------------------------
def _dsec_with_userblock(path: Path, userblock: int = 512) -> Path:
    with h5py.File(path, "w", userblock_size=userblock) as f:
        g = f.create_group("events")
        g["x"] = np.array([1, 2], np.uint16)
        g["y"] = np.array([3, 4], np.uint16)
        g["t"] = np.array([5, 9], np.int64)
        g["p"] = np.array([1, 0], np.uint8)
    return path


@pytest.mark.parametrize("userblock", [512, 1024, 4096])
@pytest.mark.parametrize("layout", ["csv", "txt", "npy", "npz"])
def test_an_hdf5_file_with_a_user_block_forced_to_another_layout_is_refused(
    tmp_path, userblock, layout
):
    path = _dsec_with_userblock(tmp_path / "events.h5", userblock)
    with pytest.raises(UnknownLayoutError, match=f"HDF5 file, which the '{layout}' layout"):
        open_events(path, layout=layout)


@pytest.mark.parametrize("name", ["events.h5", "events.bin", "events"])
def test_an_hdf5_file_with_a_user_block_is_read_as_hdf5(tmp_path, name):
    path = _dsec_with_userblock(tmp_path / name)
    with open_events(path) as r:
        assert r.layout in ("dsec", "eventsim")
        assert r.read()["t"].tolist() == [5, 9]


def test_a_text_file_with_the_hdf5_signature_past_a_user_block_boundary_is_not_hdf5(tmp_path):
    # only the superblock's own places count: byte 0, 512, 1024, 2048, ...
    path = tmp_path / "events.csv"
    path.write_bytes(b"t,x,y,p\n" + b"5,1,2,1\n" * 100)
    with open_events(path, layout="csv") as r:
        assert len(r) == 100
