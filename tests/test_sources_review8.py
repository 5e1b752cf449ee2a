"""Review 8 of the frame sources: the video clock's flushed tail and its stated bound.

- OpenCV gives the frames flushed from an H.264 decoder at the end of an AVI the time 0; a
  pause before such a tail is kept as the pause it is. H.264 reorders at most 16 frames
  (`_MAX_FLUSHED_FRAMES`): a tail of 17 zeros was taken as flushed too (looked for again from
  its second zero), 18 were not.
"""

from __future__ import annotations

import pytest

from eventsim.simulator import sources
from eventsim.simulator.sources import _FrameClock

STEP = 1e6 / 30
OWN = [0, 33_333, 66_667, 100_000, 133_333, 166_667]
PAUSE = 1_933_333


def _clock(raw: list[int | None]) -> list[int]:
    clock = _FrameClock(STEP, raw.__getitem__)
    out = [t for k, r in enumerate(raw) for t, _ in clock.push(r, k)]
    return out + [t for t, _ in clock.finish()]


def test_the_bound_is_16():
    assert sources._MAX_FLUSHED_FRAMES == 16


@pytest.mark.parametrize("tail", [1, 15, 16])
def test_a_pause_before_up_to_16_zeros_is_kept(tail):
    got = _clock([*OWN, PAUSE] + [0] * tail)
    assert got == [*OWN, *(PAUSE + 33_333 * k for k in range(tail + 1))]


@pytest.mark.parametrize("tail", [17, 18, 30])
def test_more_than_16_zeros_are_no_flushed_tail(tail):
    """The time ahead that the zeros fall back from is taken as wild, as it was from 18 on:
    the frames after the last own time go on at the nominal rate."""
    got = _clock([*OWN, PAUSE] + [0] * tail)
    assert got == [*OWN, *(OWN[-1] + 33_333 * k for k in range(1, tail + 2))]
