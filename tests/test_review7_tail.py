"""Review 7, tail: the video frame clock's flushed frames after a pause, and the EVT 3.0
routing scan's cost.

- OpenCV gives the last frames of an H.264 AVI with B-frames (flushed from the decoder) the
  time 0. After a long pause (..., 166, 1933, 0, 0 ms) the one-wild-frame rule read those
  zeros as two times falling back, took 1933 ms as a wild time, and placed the last real frame
  just after 166 ms. Zeros that last to the end are missing times now, as frames without a
  time are: the frame before them keeps its time, and they go on at the nominal rate.
- `evt3.faery_misreads` placed every vector twice (as the spec and as faery do); the second
  placement is skipped where no vector follows a single event, which must not change which
  files are routed to `read_evt3`.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest
from test_video_review6 import write_mkv

from eventsim.io import evt3
from eventsim.simulator.sources import VideoSource, _FrameClock

STEP = 1e6 / 30


def _clock(raw: list[int | None], step: float = STEP) -> list[tuple[int, int]]:
    clock = _FrameClock(step, raw.__getitem__)
    out = [item for k, r in enumerate(raw) for item in clock.push(r, k)]
    return out + clock.finish()


# -- flushed frames after a pause ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        # the reviewer's case: the pause is kept, the flushed frames follow it
        (
            [0, 33_333, 66_667, 100_000, 133_333, 166_667, 1_933_333, 0, 0],
            [0, 33_333, 66_667, 100_000, 133_333, 166_667, 1_933_333, 1_966_666, 1_999_999],
        ),
        # one flushed frame, and three
        ([0, 33_333, 66_667, 1_933_333, 0], [0, 33_333, 66_667, 1_933_333, 1_966_666]),
        (
            [0, 33_333, 66_667, 1_933_333, 0, 0, 0],
            [0, 33_333, 66_667, 1_933_333, 1_966_666, 1_999_999, 2_033_332],
        ),
        # a step just past two nominal ones before them was taken as wild too
        (
            [0, 33_333, 66_667, 133_334, 0, 0],
            [0, 33_333, 66_667, 133_334, 166_667, 200_000],
        ),
    ],
)
def test_flushed_frames_after_a_pause_leave_it_its_time(raw, expect):
    got = _clock(list(raw))
    assert [k for _, k in got] == list(range(len(raw)))
    assert [t for t, _ in got] == expect
    # as frames without a time are
    own = len(raw)
    while raw[own - 1] == 0:
        own -= 1
    nones: list[int | None] = [*raw[:own], *[None] * (len(raw) - own)]
    assert [t for t, _ in _clock(nones)] == expect


def test_a_wild_time_before_times_falling_back_is_still_its_error():
    """Two real times falling back below it still make it wild, flushed frames after or not;
    zeros followed by a later time are times of their own (the timeline restarting)."""
    assert [t for t, _ in _clock([0, 33_333, 66_667, 1_933_333, 99_000, 133_000, 0, 0])] == [
        0,
        33_333,
        66_667,
        82_833,
        99_000,
        133_000,
        166_333,
        199_666,
    ]
    got = [t for t, _ in _clock([0, 33_333, 66_667, 1_933_333, 0, 0, 40_000])]
    assert got[3] != 1_933_333


def test_a_file_keeps_the_pause_before_its_flushed_frames(tmp_path):
    path = tmp_path / "pause.mkv"
    write_mkv(path, [0, 33, 67, 100, 133, 167, 1933, 0, 0], fps=30)
    got = [t for _, t in VideoSource(path)]
    assert got == [0, 33_000, 67_000, 100_000, 133_000, 167_000, 1_933_000, 1_966_333, 1_999_666]


def test_streams_with_pauses_before_flushed_frames_keep_their_times():
    """test_second_look7_video's random streams, now with pauses just before the flushed
    frames too: each frame in order, times rising, a frame whose time follows the last one
    keeps it."""
    rng = random.Random(11)
    for _ in range(400):
        step = rng.choice([40_000, 33_367, 33_333])
        t = rng.choice([0, step, 2 * step])
        n = rng.randint(2, 12)
        own = max(n - rng.choice([0, 1, 2, 3]), 1)
        raw: list[int | None] = []
        for k in range(n):
            raw.append(t if k < own else 0)
            pause = rng.random() < 0.15 and k < own
            t += rng.randint(3, 300) * step if pause else step + rng.randint(-99, 99)
        out = _clock(raw, step)
        assert [k for _, k in out] == list(range(n)), raw
        times = [t for t, _ in out]
        assert all(b > a for a, b in itertools.pairwise(times)), raw
        last = -1
        for (t_out, _), r in zip(out, raw, strict=True):
            if r is not None and r > last:
                assert t_out == r, raw
            last = t_out


# -- EVT 3.0 routing: the cheaper scan routes the same files ------------------------------------
ADDR_Y, ADDR_X, BASE, VECT_12, VECT_8, LOW = 0, 2 << 12, 3 << 12, 4 << 12, 5 << 12, 6 << 12
HEADER = evt3.Evt3Header(None, None, 0, 0)


def _placed_apart(words: np.ndarray, limit: int) -> bool:
    """The vector check as it was: every vector placed both ways over the whole stream."""
    kind = words >> 12
    placing = (kind == BASE >> 12) | (kind == ADDR_X >> 12) | (kind == VECT_12 >> 12)
    placing |= kind == VECT_8 >> 12
    if not placing.any():
        return False
    kind, val = kind[placing], (words[placing] & 0xFFF).astype(np.int64)
    base = kind == BASE >> 12
    width = np.where(kind == VECT_12 >> 12, 12, np.where(kind == VECT_8 >> 12, 8, 0))
    x, p = evt3._starts(val, base, width, 0, 0)
    fx, fp = evt3._starts(val, base | (kind == ADDR_X >> 12), width, 0, 0)
    bits = evt3._BIT_LENGTH[np.where(kind == VECT_8 >> 12, val & 0xFF, np.where(width, val, 0))]
    apart = (x != fx) | (p != fp) | (x + bits > limit)
    return bool(np.any((bits > 0) & apart) or np.any(base & ((val & 0x7FF) >= limit)))


def _placing_stream(rng: np.random.Generator, n: int) -> np.ndarray:
    # single events before vectors often, with the x and polarity the vectors have at times;
    # empty vectors; bases near the sensor's edge; rows and times that never route a file
    kinds = rng.choice([ADDR_Y, ADDR_X, BASE, VECT_12, VECT_8, LOW], n)
    values = rng.integers(0, 1 << 12, n)
    values[rng.random(n) < 0.3] = 0
    values[kinds == ADDR_Y] = rng.integers(0, 720, (kinds == ADDR_Y).sum())
    x = (kinds == ADDR_X) | (kinds == BASE)
    values[x] = rng.choice([0, 8, 12, 20, 1260, 1275, 1285], x.sum()) | (
        rng.integers(0, 2, x.sum()) << 11
    )
    return (kinds | values).astype("<u2")


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_the_cheaper_scan_routes_the_same_files(tmp_path: Path, monkeypatch, chunk):
    monkeypatch.setattr(evt3, "_CHUNK_WORDS", chunk)
    rng = np.random.default_rng(chunk)
    path = tmp_path / "s.raw"
    routed = 0
    for _ in range(300):
        words = _placing_stream(rng, int(rng.integers(1, 30)))
        path.write_bytes(words.tobytes())
        for width in (None, 1280):
            expect = _placed_apart(words, 1 << 11 if width is None else width)
            assert evt3.faery_misreads(path, HEADER, width) == expect, words.tobytes().hex()
            routed += expect
    # both decisions were taken often enough for the comparison to mean something
    assert 150 <= routed <= 450, routed


@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 20])
def test_crafted_files_route_as_before(tmp_path: Path, monkeypatch, chunk):
    monkeypatch.setattr(evt3, "_CHUNK_WORDS", chunk)
    path = tmp_path / "c.raw"
    start = (LOW | 1, ADDR_Y | 5)
    for words, routed in (
        # a single event, then vectors placed by the base before it (faery: by the event)
        ((BASE | 100, ADDR_X | 7, VECT_8 | 1), True),
        # an empty vector between: the next vector is placed apart all the same
        ((BASE | 100, ADDR_X | 7, VECT_12, VECT_8 | 1), True),
        # a single event last in one chunk, vectors first in the next
        ((BASE | 100, VECT_12 | 1, ADDR_X | 9, VECT_12 | 2), True),
        # single events only after vectors, or before a base
        ((BASE | 100, VECT_12 | 1, ADDR_X | 9, BASE | 3, VECT_8 | 1), False),
        ((ADDR_X | 9, ADDR_X | 10, BASE | 3, VECT_8 | 1, ADDR_X | 11), False),
        # vectors before any base start at 0 both ways
        ((VECT_12 | 1, VECT_8 | 1, ADDR_X | 5), False),
        # a single event with the x and polarity the vector has anyway
        ((BASE | 100, VECT_8, ADDR_X | 108, VECT_12 | 1), False),
    ):
        path.write_bytes(np.array(start + words, "<u2").tobytes())
        assert evt3.faery_misreads(path, HEADER) is routed, words
