"""eventsim.render as a library (helper 354's walkthrough).

- `FrameRenderer` printed as ``<... object at 0x...>``.
- `voxel_grid` took reversed bounds (every event in bin 0) and piled events outside
  ``[t_start_us, t_end_us]`` into the first and last bins.
- Events not sorted by time: `split_by_time` named reversed bounds it had made up itself,
  `slice_time` returned no events, both without saying why.
- `draw_heatmap_colorbar` of an (H, W) or (H, W, 4) frame raised numpy's broadcast error, and a
  float frame was taken.
- `split_by_time(ev, -5)` spoke of a "window -0.005 ms".
- `apply_colormap` drew NaN as 0.
- `collect_summary` and `summary_figure` were not in `eventsim.render`.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from eventsim.errors import ArgumentValueError, ParameterError
from eventsim.events import StreamProblemError, make_events, slice_time
from eventsim.render import (
    FrameRenderer,
    RenderParams,
    apply_colormap,
    draw_heatmap_colorbar,
    split_by_time,
    time_surface,
    voxel_grid,
)

SENSOR = (40, 30)


@pytest.fixture
def events() -> np.ndarray:
    rng = np.random.default_rng(354)
    n = 2000
    t = np.sort(rng.integers(0, 500_000, n))
    return make_events(rng.integers(0, 40, n), rng.integers(0, 30, n), t, rng.integers(0, 2, n))


# ----------------------------------------------------------------------------- FrameRenderer


def test_a_frame_renderer_says_what_it_draws():
    default = FrameRenderer(RenderParams(), SENSOR)
    assert repr(default) == "<FrameRenderer RenderParams() sensor 40x30, frames 40x30>"
    voxel = FrameRenderer(RenderParams(mode="voxel", n_bins=3, scale=2), SENSOR)
    assert repr(voxel) == (
        "<FrameRenderer RenderParams(mode='voxel', n_bins=3, scale=2) sensor 40x30, frames 248x60>"
    )


def test_a_frame_renderer_repr_never_raises():
    half_made = FrameRenderer.__new__(FrameRenderer)  # as a failed __init__ leaves one
    assert repr(half_made).startswith("<FrameRenderer at 0x")


# ----------------------------------------------------------------------------- voxel grid


def test_voxel_grid_refuses_reversed_bounds(events):
    with pytest.raises(ArgumentValueError) as info:
        voxel_grid(events, SENSOR, 5, t_start_us=200_000, t_end_us=100_000)
    assert str(info.value) == (
        "t_end_us=100000 is before t_start_us=200000; expected an end at or after the start"
    )
    # refused before the events are looked at, and numpy integers are named as written
    with pytest.raises(ArgumentValueError, match=r"^t_end_us=1 is before t_start_us=2;"):
        voxel_grid(events[:0], SENSOR, 5, t_start_us=np.int64(2), t_end_us=np.int64(1))


def test_voxel_grid_refuses_a_bound_past_the_events_that_set_the_other(events):
    last = int(events["t"][-1])
    with pytest.raises(ArgumentValueError) as info:
        voxel_grid(events, SENSOR, 5, t_start_us=last + 10)
    assert str(info.value).startswith(f"t_start_us={last + 10} leaves no time for the grid")
    assert f"the latest event's t = {last} us" in str(info.value)
    with pytest.raises(ArgumentValueError, match=r"^t_end_us=-1 leaves no time"):
        voxel_grid(events, SENSOR, 5, t_end_us=-1)
    with pytest.raises(ArgumentValueError, match=r"^t_start_us=nan must be a finite time"):
        voxel_grid(events, SENSOR, 5, t_start_us=float("nan"))


def test_voxel_grid_leaves_out_events_outside_its_bounds(events):
    a, b = 100_000, 300_000
    inside = events[(events["t"] >= a) & (events["t"] <= b)]
    grid = voxel_grid(events, SENSOR, 5, t_start_us=a, t_end_us=b)
    assert np.array_equal(grid, voxel_grid(inside, SENSOR, 5, t_start_us=a, t_end_us=b))
    net = np.zeros(SENSOR[::-1])
    np.add.at(net, (inside["y"], inside["x"]), np.where(inside["p"] > 0, 1.0, -1.0))
    assert np.allclose(grid.sum(axis=0), net, atol=1e-5)
    # bounds equal: the events at that time, in bin 0
    at = int(inside["t"][0])
    one = voxel_grid(events, SENSOR, 3, t_start_us=at, t_end_us=at)
    assert np.abs(one[0]).sum() > 0 and not one[1:].any()
    assert np.abs(one[0]).sum() <= np.count_nonzero(events["t"] == at)


# ----------------------------------------------------------------------------- time order


def test_split_by_time_says_the_events_are_not_sorted(events):
    with pytest.raises(StreamProblemError) as info:
        next(split_by_time(events[::-1], 10_000))
    n = len(events)
    assert str(info.value).startswith(
        f"events are not sorted by time: the last, t[{n - 1}] = {int(events['t'][0])} us, is "
        f"before the first, t[0] = {int(events['t'][-1])} us; split_by_time needs them in "
        "time order"
    )
    assert info.value.problem.kind == "unsorted"


def test_slice_time_says_the_events_are_not_sorted(events):
    assert len(slice_time(events, 100_000, 200_000)) > 0
    with pytest.raises(StreamProblemError, match=r"slice_time needs them in time order"):
        slice_time(events[::-1], 100_000, 200_000)
    # one event, or all at one time, is in order
    assert len(slice_time(events[:1], None, None)) == 1
    same = make_events([1, 2], [0, 0], [5, 5], [0, 1])
    assert len(slice_time(same, 5, 6)) == 2


def test_time_surface_takes_events_in_any_order(events):
    # each pixel keeps its latest time and the reference is the latest event: order is free
    forward = time_surface(events, SENSOR, split_polarity=True)
    assert np.array_equal(forward, time_surface(events[::-1], SENSOR, split_polarity=True))


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("window", "words"),
    [
        (-5, "window_us=-5 must be a finite number of µs > 0"),
        (0, "window_us=0 must be a finite number of µs > 0"),
        (float("nan"), "window_us=nan must be a finite number of µs > 0"),
        ("10", "window_us='10' must be a finite number of µs > 0"),
        (0.5, "window_us=0.5 is shorter than 1 µs, the resolution of event times"),
    ],
)
def test_split_by_time_names_the_window_as_given(events, window, words):
    with pytest.raises(ArgumentValueError) as info:
        next(split_by_time(events, window))
    assert str(info.value) == words


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((300, 400), np.uint8),
        np.zeros((300, 400, 4), np.uint8),
        np.zeros((300, 400, 3), np.float64),
    ],
)
def test_a_colour_bar_is_drawn_on_rgb_uint8_frames_only(frame):
    with pytest.raises(ParameterError) as info:
        draw_heatmap_colorbar(frame, 37.0)
    assert str(info.value) == (
        f"frame has shape {frame.shape} and dtype {frame.dtype}; expected HxWx3 uint8"
    )
    rgb = np.zeros((300, 400, 3), np.uint8)
    assert draw_heatmap_colorbar(rgb, 37.0).shape == rgb.shape


def test_apply_colormap_refuses_nan_or_draws_it_in_its_colour():
    values = np.full((3, 4), 0.5)
    values[1, 2] = values[2, 0] = np.nan
    with pytest.raises(ParameterError) as info:
        apply_colormap(values)
    assert str(info.value).startswith("values hold 2 NaN(s), the first at index (1, 2);")
    img = apply_colormap(values, nan_color="grey")
    assert tuple(img[1, 2]) == tuple(img[2, 0]) == (128, 128, 128)
    assert np.array_equal(img[0, 0], apply_colormap(np.full((1, 1), 0.5))[0, 0])
    # infinities are ends of the scale, as before
    ends = apply_colormap(np.array([[np.inf, -np.inf]]))
    assert np.array_equal(ends[0], apply_colormap(np.array([[1.0, 0.0]]))[0])


# ----------------------------------------------------------------------------- summary


def test_the_summary_figure_is_in_eventsim_render_and_loaded_on_first_use():
    code = (
        "import sys, eventsim.render as r; "
        "before = sorted({'eventsim.render.summary', 'matplotlib'} & set(sys.modules)); "
        "names = {'collect_summary', 'summary_figure'} <= set(r.__all__); "
        "f = r.summary_figure; "
        "print(before, names, f.__module__, 'summary_figure' in dir(r))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True", "eventsim.render.summary", "True"]


def test_the_summary_figure_draws_from_eventsim_render(tmp_path, events):
    from eventsim.io import open_events, write_events
    from eventsim.render import collect_summary, summary_figure

    path = tmp_path / "e.h5"
    write_events(path, events, SENSOR)
    with open_events(path) as reader:
        fig = summary_figure(collect_summary(reader, n_bins=20))
    assert type(fig).__name__ == "Figure" and len(fig.axes) >= 4
