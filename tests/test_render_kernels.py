import math

import numpy as np
import pytest

from eventsim.errors import InvalidEventsError, ParameterError
from eventsim.events import empty_events, make_events
from eventsim.render import (
    FrameRenderer,
    RenderParams,
    TimeSurface,
    count_map,
    overlay_events,
    palette,
    parse_color,
    patch_grid_overlay,
    polarity_counts,
    render_heatmap,
    render_polarity,
    split_by_count,
    split_by_time,
    time_surface,
    voxel_grid,
)
from eventsim.render.colors import apply_colormap
from eventsim.render.overlay import DROPPED_COLOR, KEPT_COLOR
from eventsim.render.writers import output_kind

SENSOR = (64, 48)


def one(x, y, t=0, p=1):
    return make_events([x], [y], [t], [p])


@pytest.mark.parametrize("background", ["dark", "white"])
@pytest.mark.parametrize("p", [0, 1])
def test_single_event_colours_exactly_its_pixel(background, p):
    img = render_polarity(one(10, 7, p=p), SENSOR, background=background)
    bg, on, off = palette(background)
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    assert tuple(img[7, 10]) == (on if p else off)
    others = np.ones((48, 64), bool)
    others[7, 10] = False
    assert (img[others] == bg).all()


def test_custom_colours_and_parsing():
    img = render_polarity(one(3, 4), SENSOR, on_color="#00ff00", background="white")
    assert tuple(img[4, 3]) == (0, 255, 0)
    assert parse_color("12,34,56") == (12, 34, 56)
    assert parse_color("red") == (255, 0, 0)
    for bad in ("nope", "1,2", "300,0,0", "#12345"):
        with pytest.raises(ParameterError):
            parse_color(bad)


def test_last_versus_net_polarity():
    # pixel (1,1): ON, ON, OFF -> last says OFF, net says ON
    ev = make_events([1, 1, 1, 5], [1, 1, 1, 5], [0, 1, 2, 3], [1, 1, 0, 0])
    _, on, off = palette("dark")
    last = render_polarity(ev, SENSOR, color_by="last")
    net = render_polarity(ev, SENSOR, color_by="net")
    assert tuple(last[1, 1]) == off and tuple(net[1, 1]) == on
    assert tuple(last[5, 5]) == off and tuple(net[5, 5]) == off


def test_signed_grey_follows_formula():
    ev = make_events([2, 2, 2, 9, 20], [3, 3, 3, 9, 20], [0, 1, 2, 3, 4], [1, 1, 1, 0, 1])
    img = render_polarity(ev, SENSOR, background="grey", full_scale_count=4)
    assert img[3, 2, 0] == round(128 + 127 * 3 / 4)
    assert img[9, 9, 0] == round(128 - 127 / 4)
    assert img[0, 0, 0] == 128
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()


def test_counts_add_up(small_events):
    total = count_map(small_events, SENSOR)
    on = count_map(small_events, SENSOR, polarity=1)
    off = count_map(small_events, SENSOR, polarity=0)
    assert total.shape == (48, 64)
    assert total.sum() == len(small_events)
    assert (on + off == total).all()
    assert on.sum() == int((small_events["p"] == 1).sum())
    expected = np.zeros((48, 64), np.int64)
    np.add.at(expected, (small_events["y"], small_events["x"]), 1)
    assert (total == expected).all()
    assert (polarity_counts(small_events, SENSOR) == np.stack([off, on])).all()


def test_out_of_sensor_events_are_rejected():
    with pytest.raises(InvalidEventsError, match="x 64"):
        count_map(one(64, 0), SENSOR)
    with pytest.raises(InvalidEventsError):
        render_polarity(one(0, 48), SENSOR)


def test_time_surface_matches_exponential_decay():
    tau = 10_000.0
    ev = make_events([4, 4, 8, 12], [5, 5, 6, 7], [1_000, 6_000, 9_000, 20_000], [1, 0, 1, 0])
    t_ref = 25_000
    ts = time_surface(ev, SENSOR, t_ref, tau_us=tau)
    assert ts.dtype == np.float32
    assert ts[5, 4] == pytest.approx(math.exp(-(t_ref - 6_000) / tau), rel=1e-6)
    assert ts[6, 8] == pytest.approx(math.exp(-(t_ref - 9_000) / tau), rel=1e-6)
    assert ts[7, 12] == pytest.approx(math.exp(-(t_ref - 20_000) / tau), rel=1e-6)
    assert ts[0, 0] == 0.0
    split = time_surface(ev, SENSOR, t_ref, tau_us=tau, split_polarity=True)
    assert split.shape == (2, 48, 64)
    assert split[1, 5, 4] == pytest.approx(math.exp(-(t_ref - 1_000) / tau), rel=1e-6)
    assert split[0, 5, 4] == pytest.approx(math.exp(-(t_ref - 6_000) / tau), rel=1e-6)
    # default reference time is the last event: that pixel is exactly 1
    assert time_surface(ev, SENSOR, tau_us=tau)[7, 12] == 1.0
    # events after the reference time are not seen yet
    assert time_surface(ev, SENSOR, 5_000, tau_us=tau)[6, 8] == 0.0


def test_time_surface_state_carries_across_windows(small_events):
    ts = TimeSurface(SENSOR, 20_000)
    for _, _, window in split_by_time(small_events, 30_000):
        ts.update(window)
    t_ref = int(small_events["t"][-1])
    whole = time_surface(small_events, SENSOR, t_ref, tau_us=20_000, split_polarity=True)
    assert np.array_equal(ts.surface(t_ref), whole)
    with pytest.raises(ParameterError):
        TimeSurface(SENSOR, 0)


def test_voxel_grid_conserves_net_polarity_and_interpolates(small_events):
    grid = voxel_grid(small_events, SENSOR, 5)
    counts = polarity_counts(small_events, SENSOR)
    assert grid.shape == (5, 48, 64)
    assert np.allclose(grid.sum(axis=0), counts[1] - counts[0], atol=1e-4)

    ev = make_events([1, 2, 3], [0, 0, 0], [0, 500, 1000], [1, 0, 1])
    g = voxel_grid(ev, SENSOR, 3)  # bin centres at 0, 500, 1000
    assert g[0, 0, 1] == 1.0 and g[1:, 0, 1].sum() == 0
    assert g[1, 0, 2] == -1.0
    assert g[2, 0, 3] == 1.0
    g = voxel_grid(make_events([7], [0], [250], [1]), SENSOR, 3, t_start_us=0, t_end_us=1000)
    assert g[0, 0, 7] == pytest.approx(0.5) and g[1, 0, 7] == pytest.approx(0.5)
    with pytest.raises(ParameterError):
        voxel_grid(ev, SENSOR, 0)


def test_empty_events_render_blank():
    ev = empty_events()
    bg, _, _ = palette("dark")
    assert (render_polarity(ev, SENSOR) == bg).all()
    assert (render_polarity(ev, SENSOR, background="grey") == 128).all()
    assert count_map(ev, SENSOR).sum() == 0
    assert (time_surface(ev, SENSOR) == 0).all()
    assert (voxel_grid(ev, SENSOR, 3) == 0).all()
    for mode in ("polarity", "timesurface", "heatmap", "voxel"):
        frame = FrameRenderer(RenderParams(mode=mode), SENSOR).render(ev, 0, 1000)
        assert frame.dtype == np.uint8 and frame.ndim == 3
        if mode == "voxel":  # bins separated by grey gaps: check the first bin's tile
            frame = frame[:, : SENSOR[0]]
        assert (frame == frame[0, 0]).all(), mode


def test_heatmap_scale():
    counts = np.zeros((48, 64), np.int64)
    counts[1, 1] = 4
    counts[2, 2] = 2
    img = render_heatmap(counts, max_count=4)
    assert tuple(img[1, 1]) == tuple(apply_colormap(np.ones((1, 1)))[0, 0])
    assert tuple(img[0, 0]) == tuple(apply_colormap(np.zeros((1, 1)))[0, 0])
    expected_log = apply_colormap(np.full((1, 1), math.log(3) / math.log(5)))[0, 0]
    assert tuple(img[2, 2]) == tuple(expected_log)
    linear = render_heatmap(counts, max_count=4, log_scale=False)
    assert tuple(linear[2, 2]) == tuple(apply_colormap(np.full((1, 1), 0.5))[0, 0])


def test_overlay_paints_only_event_pixels():
    image = np.full((48, 64), 90, np.uint8)
    ev = make_events([5, 6], [5, 6], [0, 1], [1, 0])
    _, on, off = palette("dark")
    out = overlay_events(image, ev, alpha=1.0)
    assert tuple(out[5, 5]) == on and tuple(out[6, 6]) == off
    mask = np.ones((48, 64), bool)
    mask[5, 5] = mask[6, 6] = False
    assert (out[mask] == 90).all()
    half = overlay_events(image, ev, alpha=0.5)
    assert tuple(half[5, 5]) == tuple(round(0.5 * c + 45) for c in on)
    with pytest.raises(InvalidEventsError):
        overlay_events(image, one(64, 0))
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 1] = 200
    grey = overlay_events(rgb, ev, grey_frame=True)
    assert (grey[0, 0] == grey[0, 0, 0]).all() and grey[0, 0, 0] > 0
    assert tuple(overlay_events(rgb, ev)[0, 0]) == (0, 200, 0)


def test_patch_grid_overlay_marks_kept_and_dropped():
    image = np.full((96, 128, 3), 200, np.uint8)
    scores = np.arange(12, dtype=float).reshape(3, 4)
    keep = scores >= 6
    out = patch_grid_overlay(image, scores, keep)
    assert out.shape == (96, 128, 3) and out.dtype == np.uint8
    bh, bw = 32, 32
    # outlines: top-left corner of each block
    assert tuple(out[2 * bh, 3 * bw]) == KEPT_COLOR
    assert tuple(out[0, 0]) == DROPPED_COLOR
    # interiors: dropped blocks dimmed below kept ones
    kept_mean = out[2 * bh + 5 : 3 * bh - 5, 5 : bw - 5].mean()
    dropped_mean = out[5 : bh - 5, 5 : bw - 5].mean()
    assert kept_mean > dropped_mean
    # a grid that does not divide the image resizes it to whole blocks
    odd = patch_grid_overlay(
        np.zeros((50, 70, 3), np.uint8), np.ones((3, 3)), np.ones((3, 3), bool)
    )
    assert odd.shape == (51, 72, 3)
    with pytest.raises(ParameterError):
        patch_grid_overlay(image, scores, keep[:2])
    with pytest.raises(ParameterError):
        patch_grid_overlay(image, scores, np.full((3, 4), 2))


def test_split_by_time_and_count(small_events):
    windows = list(split_by_time(small_events, 10_000, 0, 300_000))
    assert len(windows) == 30
    assert sum(len(w[2]) for w in windows) == len(small_events)
    assert all(len(w[2]) == 0 for w in windows[25:])  # events end before 250 ms
    assert windows[3][:2] == (30_000, 40_000)
    chunks = list(split_by_count(small_events, 1000))
    assert [len(c[2]) for c in chunks] == [1000] * 5
    with pytest.raises(ParameterError):
        list(split_by_time(small_events, -5))
    with pytest.raises(ParameterError):
        list(split_by_count(small_events, 0))


def test_render_params_validation():
    with pytest.raises(ParameterError, match="polarity, overlay"):
        RenderParams(mode="nope")
    with pytest.raises(ParameterError, match="dark, white, grey"):
        RenderParams(background="pink")
    assert RenderParams(on_color="blue").on_color == (0, 0, 255)
    assert FrameRenderer(RenderParams(scale=3), SENSOR).render(one(1, 1), 0, 10).shape == (
        144,
        192,
        3,
    )


def test_output_kind():
    assert output_kind("a.png") == "png"
    assert output_kind("a.MP4") == "video"
    assert output_kind("a.gif") == "gif"
    assert output_kind("frames") == "folder"
    with pytest.raises(ParameterError, match=r"\.png"):
        output_kind("a.jpeg")
