"""Last look 7 (a): the video clock's flushed frames (0552e33) and the EVT 3.0 routing scan's
one-placement shortcut (1588b00).

- Flushed zeros are only looked for after a time more than two nominal steps ahead: an
  ordinary constant-rate file holds no more frames than before and opens no second decoder.
  Zero-only, one-frame and zero-tail videos keep a rising timeline, and a ``start_s``/``stop_s``
  window ending inside the flushed tail gives the frames the whole timeline has there.
- `evt3._vectors_misread` is compared chunk by chunk, for chunks of 1-9 words, with the
  two-placement routine it replaced: the same answer and the same placements carried over.
"""

from __future__ import annotations

import itertools
import random
import warnings
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import pytest
from test_video_review6 import write_mkv

from eventsim.errors import InputError
from eventsim.io import evt3
from eventsim.simulator import sources
from eventsim.simulator.sources import VideoSource, _FrameClock

STEP = 1e6 / 30


def _clock(raw: list[int | None], step: float = STEP) -> list[int]:
    clock = _FrameClock(step, raw.__getitem__)
    out = [t for k, r in enumerate(raw) for t, _ in clock.push(r, k)]
    return out + [t for t, _ in clock.finish()]


# -- the video clock ----------------------------------------------------------------------------
def test_a_constant_rate_file_holds_few_frames_and_reads_nothing_ahead(tmp_path, monkeypatch):
    path = tmp_path / "cfr.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for k in range(300):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, k % 64] = 255
        writer.write(frame)
    writer.release()
    held: list[int] = []
    looked: list[int] = []
    push, flushed = _FrameClock.push, _FrameClock._flushed

    def counting_push(self, raw, frame):
        held.append(len(self._queue) + 1)
        return push(self, raw, frame)

    def counting_flushed(self, i, final):
        looked.append(i)
        return flushed(self, i, final)

    def no_ahead(self, index):
        raise AssertionError(f"read ahead to frame {index}")

    monkeypatch.setattr(_FrameClock, "push", counting_push)
    monkeypatch.setattr(_FrameClock, "_flushed", counting_flushed)
    monkeypatch.setattr(sources._TimesAhead, "__call__", no_ahead)
    times = [t for _, t in VideoSource(path)]
    assert times == [round(k * STEP) for k in range(300)]
    # the first frames wait for the next few (a wild first time); every later one is stamped
    # as it comes
    assert max(held) <= 4 and max(held[4:]) == 1 and not looked


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        ([0], [0]),
        ([None], [0]),
        ([0, 0], [0, 33_333]),
        ([0] * 5, [33_333 * k for k in range(5)]),
        ([0] * 30, [33_333 * k for k in range(30)]),
        # a late first time then flushed zeros: the first keeps its time
        ([500_000, 0, 0], [500_000, 533_333, 566_666]),
    ],
)
def test_zero_only_and_one_frame_videos(raw, expect):
    assert _clock(raw) == expect


@pytest.mark.parametrize("tail", [1, 2, 8, 9, 16])
def test_a_file_pauses_before_up_to_16_flushed_frames(tmp_path, monkeypatch, tail):
    """The zeros past the frames held are read ahead by the second decoder: no more than
    `_MAX_HELD_FRAMES` + 1 frames wait (a 4K frame is 24 MB)."""
    path = tmp_path / "pause.mkv"
    write_mkv(path, [0, 33, 67, 100, 133, 167, 1933] + [0] * tail, fps=30)
    held: list[int] = []
    push = _FrameClock.push

    def counting_push(self, raw, frame):
        held.append(len(self._queue) + 1)
        return push(self, raw, frame)

    monkeypatch.setattr(_FrameClock, "push", counting_push)
    got = [t for _, t in VideoSource(path)]
    assert max(held) <= sources._MAX_HELD_FRAMES + 1
    assert got == [0, 33_000, 67_000, 100_000, 133_000, 167_000] + [
        1_933_000 + 33_333 * k for k in range(tail + 1)
    ]


class _Capture:
    """Stands in for OpenCV's capture: frame ``k`` is a 4x4 image of value ``k`` (mod 256) at
    container time ``raw[k]`` µs."""

    def __init__(self, raw: list[int | None]) -> None:
        self.raw, self.k = raw, -1

    def grab(self) -> bool:
        self.k += 1
        return self.k < len(self.raw)

    def get(self, prop: int) -> float | None:
        r = self.raw[self.k]
        return None if r is None else r / 1000

    def retrieve(self) -> tuple[bool, np.ndarray]:
        return True, np.full((4, 4), self.k % 256, np.uint8)


def _frames(raw: list[int | None], start_s=None, stop_s=None) -> list[tuple[int, int]]:
    source = object.__new__(VideoSource)
    source.path, source.fps, source.container_frames = Path("x.avi"), 30.0, len(raw)
    source.start_s, source.stop_s, source.sensor_size, source.fit = start_s, stop_s, (4, 4), "crop"
    source.decode_problem = None
    clock = _FrameClock(STEP, sources._TimesAhead(lambda: cast(Any, _Capture(raw))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return [(int(f[0, 0]), t) for f, t in source._frames(cast(Any, _Capture(raw)), clock)]
        except InputError:
            return []


def test_windows_ending_inside_the_flushed_tail(monkeypatch):
    """Random streams with pauses and flushed tails of 0-18 frames, in random windows: the
    frames the window gives are the whole timeline's frames in it, with their times."""
    monkeypatch.setattr(sources, "fit_frame", lambda frame, size, fit: frame)
    rng = random.Random(7)
    windows = 0
    for _ in range(300):
        n = rng.randint(1, 40)
        own = max(n - rng.randint(0, 18), 0)
        t = rng.choice([0, 33_333])
        raw: list[int | None] = []
        for k in range(n):
            raw.append(t if k < own else 0)
            pause = rng.random() < 0.2
            t += rng.randint(3, 80) * 33_333 if pause else 33_333 + rng.randint(-99, 99)
        whole = _frames(raw)
        times = [t for _, t in whole]
        assert [k for k, _ in whole] == list(range(n)), raw
        assert all(b > a for a, b in itertools.pairwise(times)), raw
        for _ in range(3):
            # a stop among the last frames' times, where the flushed ones are
            stop = rng.choice(times[-(n - own) - 1 :]) + rng.randint(-20_000, 20_000)
            start = rng.choice([None, 0, max(stop - 200_000, 0)])
            if stop <= 0 or (start is not None and start >= stop):
                continue
            window = (None if start is None else start / 1e6, stop / 1e6)
            lo, hi = (round(s * 1e6) if s is not None else None for s in window)
            want = [(k, t) for k, t in whole if (lo is None or t >= lo) and t <= hi]
            assert _frames(raw, *window) == want, (raw, window)
            windows += 1
    assert windows > 500


# -- EVT 3.0: the one-placement scan against the two-placement one ------------------------------
ADDR_Y, ADDR_X, BASE, VECT_12, VECT_8, LOW, HIGH = (k << 12 for k in (0, 2, 3, 4, 5, 6, 8))


def _two_placements(words: np.ndarray, kind: np.ndarray, limit: int, carry) -> bool:
    """`evt3._vectors_misread` as it was before 1588b00."""
    placing = (kind == 3) | (kind == 2) | (kind == 4) | (kind == 5)
    if not placing.any():
        return False
    kind = kind[placing]
    val = (words[placing] & 0xFFF).astype(np.int64)
    base = kind == 3
    width = np.where(kind == 4, 12, np.where(kind == 5, 8, 0))
    x, p = evt3._starts(val, base, width, carry.x, carry.p)
    fx, fp = evt3._starts(val, base | (kind == 2), width, carry.faery_x, carry.faery_p)
    carry.x, carry.p = int(x[-1] + width[-1]), int(p[-1])
    carry.faery_x, carry.faery_p = int(fx[-1] + width[-1]), int(fp[-1])
    bits = evt3._BIT_LENGTH[np.where(kind == 5, val & 0xFF, np.where(width > 0, val, 0))]
    placed_apart = (x != fx) | (p != fp) | (x + bits > limit)
    return bool(np.any((bits > 0) & placed_apart) or np.any(base & ((val & 0x7FF) >= limit)))


def _stream(rng: np.random.Generator, n: int) -> np.ndarray:
    # single events before vectors often, at the x and polarity a vector has at times; empty
    # vectors; bases near the sensor's edge; rows and times between
    kinds = rng.choice([ADDR_Y, ADDR_X, ADDR_X, BASE, VECT_12, VECT_8, VECT_8, LOW, HIGH], n)
    values = rng.integers(0, 1 << 12, n)
    values[rng.random(n) < 0.3] = 0
    x = (kinds == ADDR_X) | (kinds == BASE)
    values[x] = rng.choice([0, 8, 12, 20, 1260, 1275, 1285], x.sum()) | (
        rng.integers(0, 2, x.sum()) << 11
    )
    return (kinds | values).astype("<u2")


@pytest.mark.parametrize("chunk", range(1, 10))
def test_each_chunk_answers_and_carries_as_the_two_placement_scan(chunk):
    rng = np.random.default_rng(100 + chunk)
    answers = [0, 0]
    for _ in range(400):
        words = _stream(rng, int(rng.integers(1, 40)))
        for limit in (2048, 1280):
            new, old = evt3._Placement(), evt3._Placement()
            # the carries set apart at random, as an earlier chunk's single event leaves them
            if rng.random() < 0.3:
                new.faery_x = old.faery_x = int(rng.integers(0, 1300))
                new.faery_p = old.faery_p = int(rng.integers(0, 2))
            for at in range(0, words.size, chunk):
                part = words[at : at + chunk]
                kind = part >> 12
                got = evt3._vectors_misread(part, kind, limit, new)
                assert got == _two_placements(part, kind, limit, old), (words.tobytes().hex(), at)
                assert new == old, (words.tobytes().hex(), at)
                answers[got] += 1
    assert min(answers) > 500, answers


@pytest.mark.parametrize("chunk", range(1, 10))
def test_files_route_as_the_two_placement_scan_in_any_chunk(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(evt3, "_CHUNK_WORDS", chunk)
    rng = np.random.default_rng(200 + chunk)
    path = tmp_path / "s.raw"
    header = evt3.Evt3Header(None, None, 0, 0)
    for _ in range(150):
        # no time-high words: the scan's answer is the vectors' alone
        words = _stream(rng, int(rng.integers(1, 40)))
        words = words[(words >> 12) != HIGH >> 12]
        path.write_bytes(words.tobytes())
        for width in (None, 1280):
            expect = _two_placements(words, words >> 12, width or 2048, evt3._Placement())
            assert evt3.faery_misreads(path, header, width) == expect, words.tobytes().hex()
