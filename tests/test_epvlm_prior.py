"""Event prior, keep rules and baseline selectors (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from epvlm.errors import EventsOutsideImageError
from epvlm.prior import (
    block_scores,
    downsample_grid,
    event_map,
    keep_budget,
    keep_mask_center,
    keep_mask_quantile,
    keep_mask_random,
    keep_mask_topk,
    patch_scores,
    select_blocks,
)
from eventsim.errors import ParameterError
from eventsim.events import empty_events, make_events


def events_in_box(x0, y0, x1, y1, n, t0=0, seed=0, p=None):
    rng = np.random.default_rng(seed)
    x = rng.integers(x0, x1, n)
    y = rng.integers(y0, y1, n)
    t = np.sort(rng.integers(t0, t0 + 10_000, n))
    pol = rng.integers(0, 2, n) if p is None else np.full(n, p)
    return make_events(x, y, t, pol)


def test_event_map_counts_and_signs():
    ev = make_events([1, 1, 2, 2], [0, 0, 3, 3], [0, 1, 2, 3], [1, 1, 1, 0])
    count = event_map(ev, (4, 4))
    assert count[0, 1] == 2 and count[3, 2] == 2 and count.sum() == 4
    signed = event_map(ev, (4, 4), mode="signed")
    assert signed[0, 1] == 2 and signed[3, 2] == 0
    windowed = event_map(ev, (4, 4), window_us=(1, 3))
    assert windowed.sum() == 2  # t in [1, 3)


def test_event_map_resize_keeps_mass_and_location():
    ev = events_in_box(0, 0, 50, 40, 500, seed=1)
    emap = event_map(ev, (200, 160), out_hw=(56, 56))
    assert emap.shape == (56, 56) and emap.sum() == 500
    # the box covers the top-left quarter of the sensor -> top-left quarter of the map
    assert emap[:14, :14].sum() == 500


def test_patch_and_block_scores_are_l1_sums():
    emap = np.zeros((28, 56), np.float32)
    emap[0, 0] = -3.0
    emap[20, 40] = 2.0
    ps = patch_scores(emap)
    assert ps.shape == (2, 4) and ps[0, 0] == 3 and ps[1, 2] == 2
    bs = block_scores(emap)
    assert bs.shape == (1, 2) and bs.tolist() == [[3.0, 2.0]]
    with pytest.raises(ParameterError):
        patch_scores(np.zeros((30, 28)))


@pytest.mark.parametrize("keep", [1.0, 0.75, 0.5, 0.25])
def test_topk_and_baselines_keep_exact_budget(keep):
    scores = np.random.default_rng(0).random((6, 8))
    k = keep_budget(48, keep)
    assert k == round(keep * 48)
    for mask in (
        keep_mask_topk(scores, keep),
        keep_mask_center((6, 8), keep),
        keep_mask_random((6, 8), keep, seed=3),
    ):
        assert mask.shape == (6, 8) and mask.sum() == k
    top = keep_mask_topk(scores, keep)
    assert scores[top].min() >= scores[~top].max() if keep < 1 else top.all()


def test_quantile_rule_and_ties():
    scores = np.arange(16, dtype=float).reshape(4, 4)
    assert keep_mask_quantile(scores, 0.25).sum() == 4
    assert keep_mask_quantile(scores, 1.0).all()
    # 12 of 16 blocks are event-free: the paper's rule keeps all tied zeros at tau=0.5
    tied = np.zeros((4, 4))
    tied[0, :] = [5, 4, 3, 2]
    assert keep_mask_quantile(tied, 0.5).sum() == 16
    assert keep_mask_quantile(tied, 0.25).sum() == 4
    # top-k keeps exactly the budget; ties go to the blocks nearest the centre
    top = keep_mask_topk(tied, 0.5)
    assert top.sum() == 8 and top[0].all()
    assert top[1:3, 1:3].all()
    assert np.array_equal(top, keep_mask_topk(tied.copy(), 0.5))  # stable


def test_center_and_random_masks():
    c = keep_mask_center((4, 4), 0.25)
    assert c[1:3, 1:3].all() and c.sum() == 4
    a = keep_mask_random((5, 5), 0.5, seed=7)
    b = keep_mask_random((5, 5), 0.5, seed=7)
    d = keep_mask_random((5, 5), 0.5, seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, d)


def test_event_selector_keeps_moving_blocks():
    image = np.zeros((112, 112, 3), np.uint8)
    ev = events_in_box(84, 0, 112, 28, 300)  # top-right block of the 4x4 token grid
    sel = select_blocks("event", image, keep=0.25, grid=(4, 4), events=ev)
    assert sel.mask[0, 3] and sel.kept_tokens == 4 and sel.fallback is None
    assert sel.scores[0, 3] == 300 and sel.scores.sum() == 300
    quant = select_blocks("event", image, keep=0.25, grid=(4, 4), events=ev, rule="quantile")
    assert quant.mask.sum() == 16  # ties at zero: the paper's rule keeps everything


def test_empty_events_fall_back_to_center():
    image = np.zeros((112, 112, 3), np.uint8)
    for events in (empty_events(), events_in_box(0, 0, 5, 5, 10, t0=50_000)):
        for rule in ("topk", "quantile"):
            sel = select_blocks(
                "event",
                image,
                keep=0.25,
                grid=(4, 4),
                events=events,
                window_us=(0, 10_000),
                rule=rule,
            )
            assert sel.fallback == "center"
            assert np.array_equal(sel.mask, keep_mask_center((4, 4), 0.25))


def test_downsample_and_dense():
    image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    sel = select_blocks("downsample", image, keep=0.25, grid=(8, 8))
    assert sel.image.shape == (112, 112, 3) and sel.kept_tokens == 16 and sel.total_tokens == 64
    assert sel.mask.all()
    # 32 tokens: a 6x6 grid (168 px) with the 4 corner tokens masked, not a 30-token 6x5 grid
    assert downsample_grid((8, 8), 32) == (6, 6)
    half = select_blocks("downsample", image, keep=0.5, grid=(8, 8))
    assert half.image.shape == (168, 168, 3) and half.kept_tokens == 32
    assert not half.mask[0, 0] and not half.mask[-1, -1] and half.mask[2:4, 2:4].all()
    assert downsample_grid((6, 10), 30) == (4, 8)
    dense = select_blocks("dense", image, keep=0.5, grid=(8, 8))
    assert dense.mask.all() and dense.image is image


@pytest.mark.parametrize(
    "grid", [(8, 8), (16, 16), (6, 10), (2, 2), (2, 3), (3, 3), (1, 1), (7, 5)]
)
@pytest.mark.parametrize("keep", [1.0, 0.75, 0.5, 0.25, 0.1])
def test_downsample_feeds_the_same_tokens_as_event_and_random(grid, keep):
    rows, cols = grid
    image = np.random.default_rng(1).integers(0, 256, (rows * 28, cols * 28, 3), dtype=np.uint8)
    ev = events_in_box(0, 0, cols * 28, rows * 28, 50)
    down = select_blocks("downsample", image, keep=keep, grid=grid)
    rand = select_blocks("random", image, keep=keep, grid=grid, seed=2)
    event = select_blocks("event", image, keep=keep, grid=grid, events=ev)
    assert (
        down.kept_tokens == rand.kept_tokens == event.kept_tokens == keep_budget(rows * cols, keep)
    )
    r, c = down.mask.shape
    assert down.image.shape[:2] == (r * 28, c * 28)
    # never below the processor's 56x56 px minimum (unless the image itself is smaller)
    assert r * c >= min(4, rows * cols)
    # each side is the original side scaled to the needed token count, rounded down or up
    scale = (max(down.kept_tokens, min(4, rows * cols)) / (rows * cols)) ** 0.5
    assert abs(r - rows * scale) < 1 and abs(c - cols * scale) < 1


def test_downsample_on_a_small_grid_goes_through_the_processor():
    from epvlm.processing import build_offline_processor, encode_batch

    proc = build_offline_processor(["what", "colour", "red", "blue"])
    image = np.random.default_rng(0).integers(0, 256, (56, 56, 3), dtype=np.uint8)
    for keep in (0.75, 0.5, 0.25):
        sel = select_blocks("downsample", image, keep=keep, grid=(2, 2))
        batch = encode_batch(proc, [sel.image], ["what colour"], [["red", "blue"]], [sel.mask])
        assert int(batch["image_keep_mask"].sum()) == keep_budget(4, keep)


def test_bad_inputs_raise_named_errors():
    image = np.zeros((56, 56, 3), np.uint8)
    ev = make_events([60], [3], [0], [1])
    with pytest.raises(EventsOutsideImageError, match="outside the 56x56 image"):
        select_blocks("event", image, keep=0.5, grid=(2, 2), events=ev)
    for keep in (0.0, -0.5, 1.5, float("nan"), "abc"):
        with pytest.raises(ParameterError, match="keep fraction"):
            select_blocks("random", image, keep=keep, grid=(2, 2))
    with pytest.raises(ParameterError, match="expected one of"):
        select_blocks("saliency", image, keep=0.5, grid=(2, 2))
    with pytest.raises(ParameterError, match="needs events"):
        select_blocks("event", image, keep=0.5, grid=(2, 2))
    with pytest.raises(ParameterError, match="mode"):
        event_map(ev, (64, 64), mode="abs")
