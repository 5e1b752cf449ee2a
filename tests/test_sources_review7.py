"""Review 7 of the video frame clock: a run of one repeated container time of any length is
spread up to the time after it (the times past the held frames are read ahead by a second
decoder), and one wild forward time is that frame's error, not every later frame's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_video_review6 import _stamped, write_mkv

from eventsim.simulator import sources
from eventsim.simulator.sources import VideoSource, _FrameClock


def _clock_times(raw: list[int | None], *, ahead: bool = True, step: float = 40_000.0) -> list:
    """(t_us, k) the clock gives the frames of container times ``raw`` (µs)."""
    clock = _FrameClock(step, raw.__getitem__ if ahead else None)
    out = [item for k, r in enumerate(raw) for item in clock.push(r, k)]
    return out + clock.finish()


@pytest.mark.parametrize("repeats", [9, 12, 17])
def test_a_run_of_repeats_longer_than_the_hold_keeps_the_later_frames_on_their_times(
    tmp_path, repeats
):
    """Nine or more frames repeating one time pushed every later frame up to nine frames
    late: they went on at the nominal rate from the repeated time."""
    path = tmp_path / "run.mkv"
    times = [0, 40, 80, *[80] * repeats, 120, 160]
    write_mkv(path, times)
    got = _stamped(path)
    assert [k for _, k in got] == list(range(len(times)))
    stamps = [t for t, _ in got]
    assert stamps[:3] == [0, 40_000, 80_000] and stamps[-2:] == [120_000, 160_000]
    # spread evenly between the repeated time and the next one
    spread = [80_000 + 40_000 * j // (repeats + 1) for j in range(1, repeats + 1)]
    assert stamps[3:-2] == spread


def test_a_long_run_in_a_video_is_spread_and_the_times_after_it_kept(tmp_path):
    path = tmp_path / "long.mkv"
    times = [0, 40, *[40] * 60, 80, 120, 120, 160]
    write_mkv(path, times)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stamps = [t for _, t in VideoSource(path)]
    assert len(stamps) == len(times) and np.all(np.diff(stamps) > 0)
    assert stamps[-4:] == [80_000, 120_000, 140_000, 160_000]
    # and a window gives the whole video's frames inside it
    inside = [t for t in stamps if 50_000 <= t <= 130_000]
    assert [t for _, t in VideoSource(path, start_s=0.05, stop_s=0.13)] == inside


@pytest.mark.parametrize("run", [9, 50, 1000])
def test_the_clock_holds_no_more_frames_than_the_limit_for_a_run_of_any_length(run):
    raw: list[int | None] = [0, 40_000, *[40_000] * run, 80_000, 120_000]
    clock = _FrameClock(40_000.0, raw.__getitem__)
    out, held = [], 0
    for k, r in enumerate(raw):
        out += clock.push(r, k)
        held = max(held, k + 1 - len(out) - clock.dropped)
    out += clock.finish()
    assert held <= sources._MAX_HELD_FRAMES + 1
    assert [k for _, k in out] == list(range(len(raw)))
    assert [t for t, _ in out][-2:] == [80_000, 120_000]


def test_frames_without_times_read_ahead_to_the_next_time():
    # a backend giving no time for a stretch, then times again
    raw: list[int | None] = [0, *[None] * 20, 400_000, 440_000]
    got = _clock_times(raw)
    assert [t for t, _ in got][-2:] == [400_000, 440_000]
    assert [t for t, _ in got][1:-2] == [min(400_000 * j // 21, 40_000 * j) for j in range(1, 21)]


@pytest.mark.parametrize("ahead", [True, False])
def test_times_that_restart_still_go_on_at_the_nominal_rate(ahead):
    """Two videos joined (times restart at 0): the second one's frames go on at the nominal
    rate after the first, not squeezed between its last time and the next one above it."""
    raw: list[int | None] = [*range(0, 400_001, 40_000), *range(0, 800_001, 40_000)]
    got = _clock_times(raw, ahead=ahead)
    assert got == [(40_000 * k, k) for k in range(len(raw))]


def test_a_run_to_the_end_of_the_video_goes_on_at_the_nominal_rate():
    raw: list[int | None] = [0, 40_000, *[40_000] * 30]
    assert [t for t, _ in _clock_times(raw)] == [40_000 * k for k in range(32)]


def test_a_wild_forward_time_is_that_frames_error(tmp_path):
    """One frame 30 s ahead, then the times go on as before: every later frame was pushed
    past it (held, then on at the nominal rate from 30 s)."""
    path = tmp_path / "wild.mkv"
    write_mkv(path, [0, 40, 80, 30_000, 160, 200, 240, 280])
    assert _stamped(path) == [
        *((0, 0), (40_000, 1), (80_000, 2), (120_000, 3)),
        *((160_000, 4), (200_000, 5), (240_000, 6), (280_000, 7)),
    ]


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        # a genuine pause: the times after it go on from it
        ([0, 40, 80, 30_000, 30_040, 30_080], [0, 40, 80, 30_000, 30_040, 30_080]),
        # one frame below it, then times past it: kept (one frame moves either way)
        ([0, 40, 80, 200, 120, 240, 280], [0, 40, 80, 200, 220, 240, 280]),
        # a wild time at the end of a run of repeats: both wait for the time after them
        ([0, 40, 80, 80, 30_000, 160, 200], [0, 40, 80, 106.666, 133.333, 160, 200]),
        # a wild time just before the end: kept, nothing after it says otherwise
        ([0, 40, 80, 30_000, 160], [0, 40, 80, 30_000, 30_040]),
        # a small step forward is no wild time
        ([0, 40, 100, 80, 120], [0, 40, 100, 110, 120]),
    ],
)
def test_when_a_forward_time_is_wild(raw, expect):
    got = _clock_times([1000 * r for r in raw])
    assert [k for _, k in got] == list(range(len(raw)))
    assert [t for t, _ in got] == [int(1000 * e) for e in expect]


def test_a_window_agrees_with_the_whole_video_around_a_wild_time(tmp_path):
    path = tmp_path / "wild.mkv"
    write_mkv(path, [0, 40, 80, 30_000, 160, 160, 200, 240])
    whole = _stamped(path)
    for start_s, stop_s in [(0.1, 0.2), (0.11, None), (None, 0.15), (0.12, 0.13)]:
        lo, hi = (start_s or 0) * 1e6, (stop_s or 1e9) * 1e6
        assert _stamped(path, start_s, stop_s) == [(t, k) for t, k in whole if lo <= t <= hi]


def test_the_clock_reading_ahead_keeps_its_promises_on_random_streams():
    """Streams of rising times with runs of a repeated time (any length), frames without a
    time and single wild times: order and strictly increasing times; every other frame keeps
    its own time."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        raw: list[int | None] = [0]
        own: list[bool] = [True]
        while len(raw) < 60:
            last = max(r for r, mine in zip(raw, own) if mine)
            pick = rng.random()
            if pick < 0.2:
                n = int(rng.integers(1, 40))
                value = None if rng.random() < 0.3 else last
                raw += [value] * n
                own += [False] * n
            elif pick < 0.28 and len(raw) > 1 and own[-1]:
                raw.append(last + int(rng.integers(200_000, 10**9)))  # wild
                gap = int(rng.integers(1_000, 30_000))
                raw += [last + gap, last + 2 * gap]
                own += [False, True, True]
            else:
                raw.append(last + int(rng.integers(1_000, 80_000)))
                own.append(True)
        raw.append(max(r for r in raw if r is not None) + 40_000)  # the video goes on
        own.append(True)
        clock = _FrameClock(40_000.0, raw.__getitem__)
        out = [item for k, r in enumerate(raw) for item in clock.push(r, k)]
        out += clock.finish()
        assert [k for _, k in out] == sorted(k for _, k in out)
        assert len(out) + clock.dropped == len(raw)
        assert np.all(np.diff([t for t, _ in out]) > 0)
        for t, k in out:
            if own[k]:
                assert t == raw[k], (raw, k)


def test_a_video_without_long_runs_is_decoded_once(tmp_path, monkeypatch):
    path = tmp_path / "dup.mkv"
    write_mkv(path, [0, 40, 80, 80, 80, 120, 30_000, 30_040])
    source = VideoSource(path)
    opened = []
    real = VideoSource._open

    def counting(self):
        opened.append(1)
        return real(self)

    monkeypatch.setattr(VideoSource, "_open", counting)
    assert len(list(source)) == 8
    assert len(opened) == 1
