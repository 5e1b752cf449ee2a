"""Colour scales and the one events-over-a-picture convention: the heatmap's colour bar shows
the full scale each frame used, the patch-grid view's legend shows its score range and the
kept/dropped keys (the demo strip and `epvlm run --overlay` carry it), and every preview paints
events over a grey picture in the shared ON/OFF colours."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from eventsim.events import make_events
from eventsim.render import FrameRenderer, RenderParams, count_map, render_heatmap
from eventsim.render.colors import (
    DROPPED_COLOR,
    KEPT_COLOR,
    OVERLAY_FRAME,
    OVERLAY_PALETTE,
    apply_colormap,
    palette,
)
from eventsim.render.frames import count_full_scale
from eventsim.render.overlay import overlay_events, patch_grid_overlay
from eventsim.render.scales import (
    format_value,
    heatmap_colorbar,
    heatmap_ticks,
    patch_grid_legend,
    score_range,
)

SENSOR = (346, 260)


def _busy_events(n: int = 4000, seed: int = 0) -> np.ndarray:
    """Events piled on a few pixels (so the 99th percentile is a non-trivial count) plus a
    scattered background, over the whole sensor."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.integers(0, SENSOR[0], n), np.full(300, 40), np.full(90, 41)])
    y = np.concatenate([rng.integers(0, SENSOR[1], n), np.full(300, 30), np.full(90, 31)])
    t = np.arange(x.size) * 10
    return make_events(x, y, t, rng.integers(0, 2, x.size))


def _bar_region(frame: np.ndarray, bar: np.ndarray) -> np.ndarray:
    """The bottom-right corner where `draw_heatmap_colorbar` pastes ``bar`` (4 px margins)."""
    h, w = bar.shape[:2]
    return frame[-4 - h : -4, -4 - w : -4]


@pytest.mark.parametrize("max_count", [None, 5.0])
@pytest.mark.parametrize("heatmap_scale", ["log", "linear"])
def test_heatmap_frames_carry_the_bar_of_the_full_scale_they_used(max_count, heatmap_scale):
    events = _busy_events()
    counts = count_map(events, SENSOR)
    full = count_full_scale(counts) if max_count is None else max_count
    params = RenderParams(mode="heatmap", max_count=max_count, heatmap_scale=heatmap_scale)
    frame = FrameRenderer(params, SENSOR).render(events, 0, int(events["t"][-1]) + 1)
    log = heatmap_scale == "log"
    plain = render_heatmap(counts, max_count=full, log_scale=log)
    bar = heatmap_colorbar(full, log_scale=log)
    # the frame keeps the sensor's size; the bar is pasted in its corner, the rest untouched
    assert frame.shape == plain.shape == (SENSOR[1], SENSOR[0], 3)
    assert np.array_equal(_bar_region(frame, bar), bar)
    changed = np.any(frame != plain, axis=2)
    changed[-4 - bar.shape[0] : -4, -4 - bar.shape[1] : -4] = False
    assert not changed.any()
    # the bar holds the colour map's ramp from its bottom to its top colour
    ramp_colours = {tuple(c) for c in bar.reshape(-1, 3)}
    for end in (0.0, 1.0):
        assert tuple(apply_colormap(np.full((1, 1), end))[0, 0]) in ramp_colours
    # switched off, the frame is the plain heat map
    off = FrameRenderer(params.replace(colorbar=False), SENSOR).render(
        events, 0, int(events["t"][-1]) + 1
    )
    assert np.array_equal(off, plain)


def test_the_bar_is_drawn_after_upscaling_and_left_out_of_tiny_frames():
    events = make_events([1, 2, 2], [1, 1, 1], [0, 1, 2], [1, 1, 0])
    counts = count_map(events, (64, 48))
    tiny = FrameRenderer(RenderParams(mode="heatmap"), (64, 48)).render(events, 0, 3)
    assert np.array_equal(tiny, render_heatmap(counts))
    big = FrameRenderer(RenderParams(mode="heatmap", scale=4), (64, 48)).render(events, 0, 3)
    bar = heatmap_colorbar(count_full_scale(counts))
    assert big.shape == (192, 256, 3)
    assert np.array_equal(_bar_region(big, bar), bar)


def test_heatmap_tick_labels_name_the_values_at_their_positions():
    # log: a count c sits at log(1 + c) / log(1 + 30); the middle (c = 4.57) is no count
    assert heatmap_ticks(30, True) == [(0.0, "0"), (np.log(5) / np.log(31), "4"), (1.0, "30+")]
    assert heatmap_ticks(30, False) == [(0.0, "0"), (0.5, "15"), (1.0, "30+")]
    assert heatmap_ticks(2.5, False)[2] == (1.0, "2.5+")
    assert [format_value(v) for v in (0.1234, 7, 99.94, 1234.4)] == ["0.123", "7", "99.9", "1234"]
    assert [format_value(v) for v in (99999.4, 1e6, 1.234e12)] == ["99999", "1e+06", "1.23e+12"]
    # a huge full scale still leaves a bar that fits a 346x260 frame
    assert heatmap_colorbar(1e12, log_scale=False).shape[1] <= SENSOR[0] // 2
    # a bigger full scale gives other labels, so a bar of another value differs
    assert not np.array_equal(heatmap_colorbar(30), heatmap_colorbar(31))


def test_patch_grid_legend_follows_the_scores_and_shows_both_keys():
    image = np.full((96, 128, 3), 200, np.uint8)
    scores = np.arange(12, dtype=float).reshape(3, 4) * 2.5
    keep = scores >= 15
    plain = patch_grid_overlay(image, scores, keep)
    out = patch_grid_overlay(image, scores, keep, legend="events per token block")
    legend = patch_grid_legend(128, 0.0, 27.5, label="events per token block")
    assert score_range(scores) == (0.0, 27.5)
    assert out.shape == (96 + legend.shape[0], 128, 3)
    assert np.array_equal(out[:96], plain) and np.array_equal(out[96:], legend)
    colours = {tuple(c) for c in legend.reshape(-1, 3)}
    assert {KEPT_COLOR, DROPPED_COLOR} <= colours
    for end in (0.0, 1.0):
        assert tuple(apply_colormap(np.full((1, 1), end))[0, 0]) in colours
    # other score ends are other labels
    assert not np.array_equal(
        legend, patch_grid_legend(128, 0.0, 30.0, label="events per token block")
    )
    # a narrow strip wraps onto more rows rather than cutting items off
    narrow = patch_grid_legend(112, 0.0, 27.5, label="events per token block")
    assert narrow.shape[0] > patch_grid_legend(600, 0.0, 27.5, label="x").shape[0]
    assert {KEPT_COLOR, DROPPED_COLOR} <= {tuple(c) for c in narrow.reshape(-1, 3)}


def test_equal_scores_get_one_colour_not_a_ramp():
    """Blocks of one score all take the ramp's bottom colour; the legend shows that colour."""
    flat = patch_grid_legend(600, 5.0, 5.0, label="x")
    colours = {tuple(c) for c in flat.reshape(-1, 3)}
    bottom, top = (tuple(apply_colormap(np.full((1, 1), e))[0, 0]) for e in (0.0, 1.0))
    assert bottom in colours and top not in colours
    assert top in {tuple(c) for c in patch_grid_legend(600, 5.0, 6.0, label="x").reshape(-1, 3)}


def test_rendering_a_heatmap_with_its_bar_imports_no_matplotlib():
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from eventsim.events import make_events\n"
        "from eventsim.render import FrameRenderer, RenderParams\n"
        "ev = make_events([1, 2], [1, 1], [0, 1], [1, 0])\n"
        "f = FrameRenderer(RenderParams(mode='heatmap', scale=8), (64, 48)).render(ev, 0, 2)\n"
        "assert f.shape == (384, 512, 3)\n"
        "print('matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_overlays_follow_the_one_convention():
    assert RenderParams().overlay_frame == OVERLAY_FRAME == "grey"
    _, on, off = palette(OVERLAY_PALETTE)
    image = np.zeros((48, 64, 3), np.uint8)
    image[..., 1] = 200
    ev = make_events([5, 6], [5, 6], [0, 1], [1, 0])
    out = overlay_events(image, ev, alpha=1.0, grey_frame=OVERLAY_FRAME == "grey")
    assert tuple(out[5, 5]) == on and tuple(out[6, 6]) == off
    assert (out[0, 0] == out[0, 0, 0]).all()


# -- the demo's preview: the GIF's picture is grey with events in the shared colours, the strip
# carries the legend of its overlays


@pytest.fixture(scope="module")
def preview(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from epvlm.demo import DEFAULT_MODEL
    from epvlm.demo.preview import render_preview
    from epvlm.processing import load_processor

    rng = np.random.default_rng(1)
    size = 112
    image = np.zeros((size, size, 3), np.uint8)
    image[...] = (40, 170, 60)  # a green scene: a colour frame shows through as non-grey
    n = 600
    x = np.concatenate([rng.integers(60, 90, n), rng.integers(0, size, 50)])
    y = np.concatenate([rng.integers(10, 40, n), rng.integers(0, size, 50)])
    order = np.argsort(rng.random(x.size))
    t = np.arange(x.size) * 50
    events = make_events(x[order], y[order], t, rng.integers(0, 2, x.size))
    sample = {
        "image": image,
        "events": events,
        "meta": {"window_us": [0, int(t[-1])], "sensor_size": [size, size]},
    }
    out = tmp_path_factory.mktemp("preview")
    files = render_preview(sample, load_processor(DEFAULT_MODEL), out, "p", n_slices=3)
    return out, files, sample


def test_demo_preview_gif_draws_events_over_grey_in_the_shared_colours(preview):
    from PIL import Image

    out, files, _ = preview
    _, on, off = palette(OVERLAY_PALETTE)
    with Image.open(out / files["gif"]) as im:
        im.seek(1)
        frame = np.asarray(im.convert("RGB"))
    picture = frame[22:]  # below the time label, 2x upscaled
    colours = {tuple(c) for c in picture.reshape(-1, 3)}
    grey = {c for c in colours if c[0] == c[1] == c[2]}
    painted = colours - grey
    assert grey and painted
    # every non-grey pixel is an ON or OFF colour blended (alpha 0.85) over the grey picture
    level = round(0.299 * 40 + 0.587 * 170 + 0.114 * 60) // 2
    blends = {tuple(round(0.85 * c + 0.15 * level) for c in rgb) for rgb in (on, off)}
    assert painted <= {tuple(int(v) for v in c) for c in blends}, painted - blends


def test_demo_preview_strip_has_the_legend_of_its_overlays(preview):
    import cv2

    from epvlm.demo import DEFAULT_MODEL
    from epvlm.demo.preview import PREVIEW_KEEP, SCORE_LABEL
    from epvlm.evaluate import make_selection
    from epvlm.processing import load_processor

    out, files, sample = preview
    strip = cv2.cvtColor(cv2.imread(str(out / files["strip"])), cv2.COLOR_BGR2RGB)
    sel = make_selection(load_processor(DEFAULT_MODEL), sample, "event", PREVIEW_KEEP)
    assert sel.scores is not None and sel.scores.max() > 0
    legend = patch_grid_legend(strip.shape[1], *score_range(sel.scores), label=SCORE_LABEL)
    assert np.array_equal(strip[-legend.shape[0] :], legend)
    # the events panel (second, after the 112 px frame and a 6 px gap) uses the shared colours
    _, on, off = palette(OVERLAY_PALETTE)
    panel = strip[22 : 22 + 112, 118 : 118 + 112]
    colours = {tuple(int(v) for v in c) for c in panel.reshape(-1, 3)}
    assert {on, off} <= colours


def test_epvlm_run_overlay_of_the_event_selector_has_a_legend(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import cv2

    from epvlm.cli import main
    from epvlm.processing import vocab_from_texts
    from epvlm.tiny import save_tiny_checkpoint
    from eventsim.io import write_events

    question, choices = "what colour is the square", ["red", "green"]
    model = save_tiny_checkpoint(tmp_path / "model", vocab_from_texts([question, *choices]), seed=0)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "f.png"), rng.integers(0, 256, (112, 112, 3), dtype=np.uint8))
    x, y = rng.integers(0, 56, 300), rng.integers(0, 56, 300)
    write_events(
        tmp_path / "e.h5",
        make_events(x, y, np.arange(300) * 10, rng.integers(0, 2, 300)),
        (112, 112),
    )
    overlay = tmp_path / "o.png"
    argv = ["run", "--model", str(model), "--image", str(tmp_path / "f.png"), "--question",
            question, "--events", str(tmp_path / "e.h5"), "--selector", "event", "--keep", "0.5",
            "--overlay", str(overlay), "--json"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    img = cv2.cvtColor(cv2.imread(str(overlay)), cv2.COLOR_BGR2RGB)
    assert img.shape[1] == 112 and img.shape[0] > 112
    colours = {tuple(int(v) for v in c) for c in img[112:].reshape(-1, 3)}
    assert {KEPT_COLOR, DROPPED_COLOR} <= colours
    assert tuple(apply_colormap(np.ones((1, 1)))[0, 0]) in colours


def test_the_build_preview_paints_events_over_the_grey_frame(build_shapes):
    """`preview_dataset`'s second tile is the frame in grey with the window's events in the
    shared colours, as every other preview draws them (it painted over the colour frame)."""
    from eventsim.datasets.inspection import preview_dataset
    from eventsim.datasets.loader import EventVQADataset

    root = build_shapes(1)
    sheet = cv2_imread_rgb(preview_dataset(root, root / "sheet.png", n=1))
    s = EventVQADataset(root, "test")[0]
    h, w = s["image"].shape[:2]
    scale = -(-448 // (2 * w))
    tile = sheet[: h * scale : scale, w * scale : 2 * w * scale : scale]
    expected = overlay_events(s["image"], s["events"], grey_frame=True)
    np.testing.assert_array_equal(tile, expected)
    assert not np.array_equal(expected, overlay_events(s["image"], s["events"]))


def cv2_imread_rgb(path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path))
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def test_render_no_colorbar_writes_the_plain_heat_map(tmp_path):
    from eventsim.cli.render import main as render_main
    from eventsim.io import write_events

    events = _busy_events()
    src = tmp_path / "ev.h5"
    write_events(src, events, SENSOR)
    end = str((int(events["t"][-1]) + 1) / 1000)
    with_bar, without = tmp_path / "bar.png", tmp_path / "plain.png"
    common = ["--mode", "heatmap", "--window-ms", end]
    assert render_main([str(src), "-o", str(with_bar), *common]) == 0
    assert render_main([str(src), "-o", str(without), *common, "--no-colorbar"]) == 0
    plain = render_heatmap(count_map(events, SENSOR), max_count=None)
    assert np.array_equal(cv2_imread_rgb(without), plain)
    assert not np.array_equal(cv2_imread_rgb(with_bar), plain)
