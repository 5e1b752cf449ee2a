import h5py
import numpy as np

from eventsim.io import open_events


def _write_v2e(path, xs, ys, frame_hw=(8, 10)):
    """A file as v2e writes it: uint32 [t, x, y, p] rows, frames, frame times, no attributes."""
    n = len(xs)
    with h5py.File(path, "w") as f:
        f["events"] = np.column_stack(
            [np.arange(10, 10 + 10 * n, 10), xs, ys, np.arange(n) % 2]
        ).astype(np.uint32)
        f["frame"] = np.zeros((2, *frame_hw), np.uint8)
        f["frame_ts"] = np.array([0, 10 * n], np.uint32)


def test_v2e_sensor_size_comes_from_the_frames_not_the_largest_event(tmp_path):
    path = tmp_path / "v2e.h5"
    _write_v2e(path, xs=[0, 3, 7], ys=[1, 6, 2])
    with open_events(path) as r:
        assert r.sensor_size == (10, 8)
        assert not r.sensor_size_inferred
        assert any("/frame" in n for n in r.notes)
    # a size given still wins
    with open_events(path, sensor_size=(12, 9)) as r:
        assert r.sensor_size == (12, 9)


def test_v2e_events_past_the_frames_fall_back_to_the_inferred_size(tmp_path):
    path = tmp_path / "v2e.h5"
    _write_v2e(path, xs=[0, 11], ys=[1, 2])
    with open_events(path) as r:
        assert r.sensor_size == (12, 3)
        assert r.sensor_size_inferred
        assert any("inferred" in n for n in r.notes)


def test_v2e_attributes_still_set_the_size_over_the_frames(tmp_path):
    path = tmp_path / "v2e.h5"
    _write_v2e(path, xs=[0, 3], ys=[1, 2])
    with h5py.File(path, "a") as f:
        f.attrs["sensor_width"] = 20
        f.attrs["sensor_height"] = 16
    with open_events(path) as r:
        assert r.sensor_size == (20, 16) and not r.sensor_size_inferred
