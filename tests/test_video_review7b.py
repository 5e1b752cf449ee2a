"""Review 7b of the video frame clock: a wild time on the first frame (FFmpeg gives it as 0 and
every later time as negative) and a short burst of wild times in a row are those frames' error;
a video whose times start late, a jump that stays and a jump before times that restart keep
their times."""

from __future__ import annotations

import numpy as np
import pytest
from test_video_review6 import _stamped, write_mkv

from eventsim.simulator import sources
from eventsim.simulator.sources import _FrameClock


def _clock_times(raw: list[int | None], *, step: float = 40_000.0) -> list[tuple[int, int]]:
    """(t_us, k) the clock gives the frames of container times ``raw`` (µs)."""
    clock = _FrameClock(step, raw.__getitem__)
    out = [item for k, r in enumerate(raw) for item in clock.push(r, k)]
    return out + clock.finish()


def _ms(got: list[tuple[int, int]]) -> list[float]:
    return [t / 1000 for t, _ in got]


def _check_windows(path, whole: list[tuple[int, int]]) -> None:
    """Every window gives the whole read's frames inside it, with the same times."""
    stamps = [t for t, _ in whole]
    for lo, hi in [(stamps[1], stamps[-2]), (stamps[2], None), (None, stamps[3]), (1, None)]:
        start_s, stop_s = (None if v is None else v / 1e6 for v in (lo, hi))
        expect = [(t, k) for t, k in whole if (lo is None or t >= lo) and (hi is None or t <= hi)]
        assert _stamped(path, start_s, stop_s) == expect, (lo, hi)


# -- a wild first time ---------------------------------------------------------------------------


def test_a_wild_first_time_keeps_the_later_frames_spacing(tmp_path):
    """Container times 30000, 60, 100, ... ms: OpenCV gave 0, -29940, -29900, ..., and every
    frame was stamped at the nominal rate from 0 (the real gaps of a variable rate lost)."""
    path = tmp_path / "wild_first.mkv"
    write_mkv(path, [30_000, 60, 100, 190, 210, 340])
    whole = _stamped(path)
    assert [k for _, k in whole] == list(range(6))
    # the first frame at 0, one nominal period (40 ms) before the second; the rest keep their
    # gaps (40, 90, 20, 130 ms)
    assert _ms(whole) == [0, 40, 80, 170, 190, 320]
    _check_windows(path, whole)


def test_wild_first_times_reported_as_ffmpeg_does():
    # FFmpeg's times are from the first frame's: a wild one is 0, every later time negative
    raw = [0, -29_940_000, -29_900_000, -29_810_000, -29_790_000]
    assert _clock_times(raw) == [(0, 0), (40_000, 1), (80_000, 2), (170_000, 3), (190_000, 4)]
    # a backend giving the container's times: placed as they are where they leave room
    raw = [30_000_000, 1_060_000, 1_100_000, 1_190_000]
    assert _ms(_clock_times(raw)) == [1020, 1060, 1100, 1190]


def test_a_short_wild_burst_at_the_start(tmp_path):
    path = tmp_path / "wild_first2.mkv"
    write_mkv(path, [30_000, 31_000, 60, 110, 130, 300])
    whole = _stamped(path)
    assert [k for _, k in whole] == list(range(6))
    assert _ms(whole) == [0, 40, 80, 130, 150, 320]
    _check_windows(path, whole)


@pytest.mark.parametrize(
    ("times", "expect"),
    [
        # a video whose times start at 10 s (FFmpeg gives them from 0): spacing kept, as before
        ([10_000, 10_020, 10_100, 10_120, 10_300], [0, 20, 100, 120, 300]),
        # ... and a pause after its first frame stays
        ([10_000, 20_000, 20_040, 20_080], [0, 10_000, 10_040, 10_080]),
        # one frame below the first, then times past it: kept (one frame moves either way)
        ([100, 40, 200, 240], [0, 40, 100, 140]),
        # two frames only: nothing says the first time is wrong
        ([30_000, 60], [0, 40]),
    ],
)
def test_first_times_that_are_not_wild(tmp_path, times, expect):
    path = tmp_path / "start.mkv"
    write_mkv(path, times)
    whole = _stamped(path)
    assert [k for _, k in whole] == list(range(len(times)))
    assert _ms(whole) == expect


def test_frames_without_times_at_the_start_are_no_wild_times():
    raw: list[int | None] = [None, None, 80_000, 120_000]
    assert _ms(_clock_times(raw)) == [0, 40, 80, 120]


# -- a burst of wild times -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "expect"),
    [
        # two wild times in a row: every later frame was pushed past them
        ([0, 40, 30_000, 31_000, 120, 160], [0, 40, 66.666, 93.333, 120, 160]),
        # three, the last ones falling back below the first
        ([0, 40, 80, 30_000, 30_040, 29_000, 160, 200], [0, 40, 80, 100, 120, 140, 160, 200]),
        # two, then a repeated time after them
        ([0, 40, 80, 30_000, 31_000, 160, 160, 200], [0, 40, 80, 106.666, 133.333, 160, 180, 200]),
    ],
)
def test_a_short_burst_of_wild_times_is_those_frames_error(tmp_path, times, expect):
    path = tmp_path / "burst.mkv"
    write_mkv(path, times)
    whole = _stamped(path)
    assert [k for _, k in whole] == list(range(len(times)))
    assert _ms(whole) == expect
    _check_windows(path, whole)


@pytest.mark.parametrize(
    "times",
    [
        # two clips joined: the times jump forward and stay
        [0, 40, 80, 30_000, 30_040, 30_080, 30_120],
        # a pause at the end of a clip, then a clip whose times restart
        [0, 40, 80, 30_000, 30_040, 0, 40, 80],
        # ... restarting at the last time before the jump
        [0, 40, 80, 30_000, 30_040, 80, 120, 160],
        # more wild times in a row than a burst has: frames of their own
        [0, 40, 80, 30_000, 30_040, 30_080, 30_120, 160, 200],
    ],
)
def test_a_jump_that_stays_or_is_followed_by_a_restart_is_kept(tmp_path, times):
    path = tmp_path / "jump.mkv"
    write_mkv(path, times)
    got = _ms(_stamped(path))
    # the frames up to the jump's last keep their times; those after go on at the nominal rate
    jump = next(i for i in range(len(times) - 1, 0, -1) if times[i] >= 30_000) + 1
    assert got[:jump] == times[:jump]
    assert got[jump:] == [times[jump - 1] + 40 * j for j in range(1, len(times) - jump + 1)]


def test_the_longest_burst_is_the_limit():
    wild = [30_000_000 + 40_000 * j for j in range(sources._MAX_WILD_FRAMES)]
    raw: list[int | None] = [0, 40_000, 80_000, *wild, 120_000, 160_000]
    got = _clock_times(raw)
    assert [t for t, _ in got][-2:] == [120_000, 160_000]
    raw = [0, 40_000, 80_000, *wild, wild[-1] + 40_000, 120_000, 160_000]
    assert [t for t, _ in _clock_times(raw)][3:-2] == [*wild, wild[-1] + 40_000]


def test_the_clock_keeps_its_promises_on_random_streams_with_wild_bursts():
    """Rising times with bursts of 1 to `_MAX_WILD_FRAMES` wild times (the first frames' among
    them) and runs of repeats: order and strictly increasing times; every other frame keeps
    its own time, moved by as much as a wild start moved the frames after it."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        raw: list[int | None] = [0, int(rng.integers(1_000, 80_000))]
        own: list[bool] = [True, True]
        if rng.random() < 0.5:
            n = int(rng.integers(1, sources._MAX_WILD_FRAMES + 1))
            raw[:0] = [int(v) for v in rng.integers(10**7, 10**9, n)]
            own[:0] = [False] * n
        while len(raw) < 60:
            last = max(r for r, mine in zip(raw, own) if mine)
            pick = rng.random()
            if pick < 0.15:
                n = int(rng.integers(1, 12))
                raw += [last] * n
                own += [False] * n
            elif pick < 0.25 and own[-1]:
                n = int(rng.integers(1, sources._MAX_WILD_FRAMES + 1))
                raw += [last + int(v) for v in rng.integers(200_000, 10**9, n)]
                gap = int(rng.integers(1_000, 30_000))
                raw += [last + gap, last + 2 * gap]
                own += [False] * n + [True, True]
            else:
                raw.append(last + int(rng.integers(1_000, 80_000)))
                own.append(True)
        raw.append(max(r for r in raw if r is not None) + 40_000)
        own.append(True)
        clock = _FrameClock(40_000.0, raw.__getitem__)
        out = [item for k, r in enumerate(raw) for item in clock.push(r, k)]
        out += clock.finish()
        assert [k for _, k in out] == sorted(k for _, k in out)
        assert len(out) + clock.dropped == len(raw)
        assert np.all(np.diff([t for t, _ in out]) > 0)
        first = own.index(True)
        shift = clock._shift
        assert (shift > 0) == (first > 0), raw[: first + 2]
        for t, k in out:
            if own[k]:
                assert t == raw[k] + shift, (raw, k)
