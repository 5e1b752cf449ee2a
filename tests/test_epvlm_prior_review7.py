"""Event prior review: events from a sensor of another size than the processed image are
scored by area over each token block's region of the sensor, and a signed map cancels ON
against OFF within one sensor pixel only."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from epvlm.prior import (
    block_scores,
    event_block_scores,
    event_map,
    keep_mask_center,
    select_blocks,
)
from eventsim.events import make_events

FACTOR = 28  # patch 14 x merge 2: one LLM token block


def _every_pixel_once(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    n = width * height
    return make_events(x.ravel(), y.ravel(), np.arange(n), np.ones(n, dtype=np.int8))


def _reference_scores(events: np.ndarray, width: int, height: int, grid) -> np.ndarray:
    """Each event's pixel shares its count among the blocks by the exact area it covers of
    each, the sensor stretched over the rows*28 x cols*28 processed image."""
    rows, cols = grid

    def shares(n_in: int, n_cells: int) -> list[list[Fraction]]:
        scale = Fraction(n_cells * FACTOR, n_in)
        out = []
        for i in range(n_in):
            lo, hi = i * scale, (i + 1) * scale
            row = []
            for j in range(n_cells):
                cell_lo, cell_hi = Fraction(j * FACTOR), Fraction((j + 1) * FACTOR)
                overlap = min(hi, cell_hi) - max(lo, cell_lo)
                row.append(max(Fraction(0), overlap) / scale)
            out.append(row)
        return out

    sx, sy = shares(width, cols), shares(height, rows)
    ref = np.zeros((rows, cols))
    for x, y in zip(events["x"].tolist(), events["y"].tolist()):
        for r in range(rows):
            for c in range(cols):
                ref[r, c] += float(sy[y][r] * sx[x][c])
    return ref


def test_uniform_activity_scores_every_block_alike_on_a_rescaled_grid():
    # a 640x480 sensor fills Qwen2-VL's 644x476 px (17 x 23 tokens): centre scaling gave the
    # blocks 27, 28 or 29 whole sensor rows/columns (756 to 812 events), and top-k kept the
    # blocks that happened to get more instead of the centre ones its tie rule names
    events = _every_pixel_once(640, 480)
    scores = event_block_scores(events, (640, 480), (17, 23))
    assert scores.shape == (17, 23)
    assert np.unique(scores).size == 1
    assert scores.sum() == pytest.approx(640 * 480)
    image = np.zeros((480, 640, 3), np.uint8)
    sel = select_blocks("event", image, keep=0.25, grid=(17, 23), events=events)
    assert np.array_equal(sel.mask, keep_mask_center((17, 23), 0.25))


@pytest.mark.parametrize(
    ("sensor", "grid"),
    [((37, 23), (2, 3)), ((90, 70), (2, 3)), ((346, 260), (3, 4)), ((20, 9), (1, 2))],
)
def test_block_scores_equal_the_exact_area_shares(sensor, grid):
    width, height = sensor
    rng = np.random.default_rng(width)
    n = 300
    events = make_events(
        rng.integers(0, width, n), rng.integers(0, height, n), np.arange(n), rng.integers(0, 2, n)
    )
    scores = event_block_scores(events, sensor, grid)
    np.testing.assert_allclose(scores, _reference_scores(events, width, height, grid), rtol=1e-12)
    assert scores.sum() == pytest.approx(n)
    # the pixel map on the processed grid carries the same shares
    emap = event_map(events, sensor, out_hw=(grid[0] * FACTOR, grid[1] * FACTOR))
    np.testing.assert_allclose(block_scores(emap), scores, rtol=1e-5)


def test_border_events_land_in_the_border_blocks_the_right_way_round():
    width, height = 346, 260  # landscape: 9 x 12 tokens of 252 x 336 px
    corners = [(0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)]
    for x, y in corners:
        events = make_events([x], [y], [0], [1])
        scores = event_block_scores(events, (width, height), (9, 12))
        row, col = divmod(int(np.argmax(scores)), 12)
        assert (row, col) == (0 if y == 0 else 8, 0 if x == 0 else 11)
        assert scores.sum() == pytest.approx(1.0) and np.count_nonzero(scores) == 1


def test_signed_map_cancels_only_within_one_sensor_pixel():
    # an edge one pixel wide moving by one pixel: ON at its new pixel, OFF at its old one.
    # On a 112 px sensor scored at 56 px both fell into one processed pixel and cancelled,
    # so the event selector reported "no events" and fell back to the centre
    image = np.zeros((112, 112, 3), np.uint8)
    moved = make_events([60, 61], [10, 10], [0, 1], [1, 0])
    sel = select_blocks(
        "event", image, keep=0.25, grid=(2, 2), events=moved, sensor_size=(112, 112), mode="signed"
    )
    assert sel.fallback is None
    assert sel.scores.tolist() == [[0.0, 2.0], [0.0, 0.0]]
    assert sel.mask.tolist() == [[False, True], [False, False]]
    # ON and OFF at the same sensor pixel still cancel
    flicker = make_events([60, 60], [10, 10], [0, 1], [1, 0])
    sel = select_blocks(
        "event",
        image,
        keep=0.25,
        grid=(2, 2),
        events=flicker,
        sensor_size=(112, 112),
        mode="signed",
    )
    assert sel.fallback == "center" and "cancel" in sel.fallback_reason


def test_unrescaled_scores_are_the_block_sums_of_the_event_map():
    rng = np.random.default_rng(5)
    n = 500
    events = make_events(
        rng.integers(0, 84, n), rng.integers(0, 56, n), np.arange(n), rng.integers(0, 2, n)
    )
    for mode in ("count", "signed"):
        expected = block_scores(event_map(events, (84, 56), mode=mode))
        assert np.array_equal(event_block_scores(events, (84, 56), (2, 3), mode=mode), expected)
