"""Review of `eventsim render` / `eventsim plot` as a user runs them: windows that reach past
the recording, long windows of big files, GIF and MP4 limits."""

from __future__ import annotations

import numpy as np

from eventsim.events import EVENT_DTYPE
from eventsim.render import (
    RenderParams,
    render_file,
    render_time_surface,
    render_voxel_grid,
    time_surface,
    voxel_grid,
)


def _events(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    ev = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for i, row in enumerate(rows):
        ev[i] = row
    return ev


def _read_png(path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path))
    assert image is not None, path
    return image[:, :, ::-1]


SHORT = _events([(1, 1, 0, 1), (2, 2, 1000, 0), (3, 3, 20_000, 1)])


def test_time_surface_png_of_a_recording_shorter_than_its_window_shows_it(tmp_path):
    """A time surface was taken at the window's end: a 1 s window over a 20 ms recording drew
    every event decayed to black. It is taken where the events end, as `time_surface` does."""
    src = tmp_path / "short.npy"
    np.save(src, SHORT)
    out = tmp_path / "ts.png"
    params = RenderParams(mode="timesurface")
    render_file(src, out, params, window_ms=1000, progress=False, sensor_size=(8, 6))
    want = render_time_surface(time_surface(SHORT, (8, 6), tau_us=30_000, split_polarity=True))
    np.testing.assert_array_equal(_read_png(out), want)
    assert tuple(_read_png(out)[3, 3]) == (255, 70, 60)  # the last event, at full ON colour


def test_voxel_png_of_a_recording_shorter_than_its_window_spreads_its_bins(tmp_path):
    """The bins spanned the whole 1 s window, so a 20 ms recording fell into the first one."""
    src = tmp_path / "short.npy"
    np.save(src, SHORT)
    out = tmp_path / "vox.png"
    params = RenderParams(mode="voxel", n_bins=3)
    render_file(src, out, params, window_ms=1000, progress=False, sensor_size=(8, 6))
    grid = voxel_grid(SHORT, (8, 6), 3, t_start_us=0, t_end_us=20_000)
    assert grid[2, 3, 3] == 1.0  # the last event sits in the last bin
    np.testing.assert_array_equal(_read_png(out), render_voxel_grid(grid))
