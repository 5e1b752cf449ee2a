"""Video frame times where the container repeats a time (a duplicate PTS) or steps back: the
frames keep their order and their neighbours' times, and chunked feeding, windows and whole
runs agree on them. The videos are Matroska files written by hand (OpenCV's writer stamps
every frame one period on), MJPEG frames with the block times a badly muxed file has."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.errors import InputError, ParameterError
from eventsim.simulator import DVSParams, EventSimulator, simulate
from eventsim.simulator.sources import VideoSource, VideoTimesWarning, _FrameClock

from user_media import textured


def _element(element_id: int, payload: bytes) -> bytes:
    head = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    return head + b"\x01" + len(payload).to_bytes(7, "big") + payload


def _uint(element_id: int, value: int) -> bytes:
    return _element(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def write_mkv(path: Path, times: list[int], *, scale_ns: int = 1_000_000, fps: float = 25) -> None:
    """A Matroska video of ``len(times)`` 80x60 MJPEG frames, frame ``k`` showing a square at
    ``5 + 3k`` px, at block times ``times`` (in ``scale_ns`` units), at ``fps`` nominally."""
    header = _element(
        0x1A45DFA3,
        _uint(0x4286, 1)
        + _uint(0x42F7, 1)
        + _uint(0x42F2, 4)
        + _uint(0x42F3, 8)
        + _element(0x4282, b"matroska")
        + _uint(0x4287, 4)
        + _uint(0x4285, 2),
    )
    period = 1e9 / fps / scale_ns
    info = _element(
        0x1549A966,
        _uint(0x2AD7B1, scale_ns)
        + _element(0x4D80, b"test")
        + _element(0x5741, b"test")
        + _element(0x4489, struct.pack(">d", len(times) * period)),
    )
    video = _element(0xE0, _uint(0xB0, 80) + _uint(0xBA, 60))
    track = _element(
        0xAE,
        _uint(0xD7, 1)
        + _uint(0x73C5, 1)
        + _uint(0x83, 1)
        + _element(0x86, b"V_MJPEG")
        + _uint(0x23E383, round(1e9 / fps))
        + video,
    )
    blocks = b""
    for k, t in enumerate(times):
        frame = textured(5)
        cv2.rectangle(frame, (5 + 3 * k, 20), (20 + 3 * k, 35), (255, 255, 255), -1)
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        blocks += _element(0xA3, b"\x81" + struct.pack(">hB", t, 0x80) + jpeg.tobytes())
    cluster = _element(0x1F43B675, _uint(0xE7, 0) + blocks)
    path.write_bytes(header + _element(0x18538067, info + _element(0x1654AE6B, track) + cluster))


def _square_x(frame: np.ndarray) -> int:
    """Where frame k's white square starts (5 + 3k): the frame's identity after decoding."""
    white = np.flatnonzero((frame[27] > 240).all(axis=1))
    return int(white[0])


def _stamped(
    path: Path, start_s: float | None = None, stop_s: float | None = None
) -> list[tuple[int, int]]:
    """(t_us, k) of the video's frames, k the frame's place in the file."""
    video = VideoSource(path, start_s=start_s, stop_s=stop_s)
    return [(t, (_square_x(f) - 5) // 3) for f, t in video]


# 25 fps, one PTS written twice: the frames after it are on their own 40 ms grid again
DUPLICATE = [0, 40, 80, 80, 120, 160, 200, 240, 280, 320]


def test_a_repeated_container_time_falls_between_its_neighbours(tmp_path):
    path = tmp_path / "dup.mkv"
    write_mkv(path, DUPLICATE)
    got = _stamped(path)
    # every frame, in its order; the repeat halfway to the next time, the rest on their own
    # times (the repeat was put at 120 ms, and each later frame one period late in turn)
    assert [k for _, k in got] == list(range(10))
    assert [t for t, _ in got] == [0, 40_000, 80_000, 100_000, *range(120_000, 320_001, 40_000)]


def test_runs_of_repeats_steps_back_and_a_repeat_at_the_end(tmp_path):
    path = tmp_path / "runs.mkv"
    # two repeats of 80, a time stepping back below 200 (held until 240), the last one repeated
    write_mkv(path, [0, 40, 80, 80, 80, 200, 120, 240, 280, 280])
    got = _stamped(path)
    assert [k for _, k in got] == list(range(10))
    assert [t for t, _ in got] == [
        *(0, 40_000, 80_000, 120_000, 160_000, 200_000),
        *(220_000, 240_000, 280_000, 320_000),
    ]


def test_a_window_gives_the_whole_videos_times_inside_it(tmp_path):
    path = tmp_path / "dup.mkv"
    write_mkv(path, [0, 40, 80, 80, 80, 200, 240, 240, 320, 360])
    whole = _stamped(path)
    for start_s, stop_s in [(0.1, 0.3), (0.09, 0.21), (0.13, None), (None, 0.29), (0.27, 0.29)]:
        lo, hi = (start_s or 0) * 1e6, (stop_s or 1e9) * 1e6
        want = [(t, k) for t, k in whole if lo <= t <= hi]
        assert _stamped(path, start_s, stop_s) == want, (start_s, stop_s)


def test_chunked_feeding_gives_the_events_of_feeding_the_video_whole(tmp_path):
    path = tmp_path / "dup.mkv"
    write_mkv(path, DUPLICATE)
    frames, ts = zip(*VideoSource(path))
    stack, times = np.stack(frames), np.asarray(ts, np.int64)
    params = DVSParams.from_preset("noisy")
    whole = EventSimulator(params, (80, 60), seed=3).step(stack, times)
    sim = EventSimulator(params, (80, 60), seed=3)
    parts, lo = [], 0
    for n in (1, 3, 1, 5):  # one chunk ends on the repeated frame, one starts at it
        parts.append(sim.step(stack[lo : lo + n], times[lo : lo + n]))
        lo += n
    chunked = np.concatenate(parts)
    assert whole.size > 0
    np.testing.assert_array_equal(chunked, whole)
    assert np.all(np.diff(whole["t"]) >= 0) and whole["t"].max() <= times[-1]
    # the simulate pipeline reads the file the same way
    np.testing.assert_array_equal(simulate(path, params, seed=3).events, whole)


def test_more_repeats_than_microseconds_to_the_next_time_are_left_out_with_a_warning(tmp_path):
    path = tmp_path / "tight.mkv"
    # a microsecond time scale: three frames at 10 us, the next at 12 us; one cannot fit
    write_mkv(path, [0, 10, 10, 10, 12, 40], scale_ns=1000)
    with pytest.warns(VideoTimesWarning, match="1 frame"):
        got = _stamped(path)
    assert got == [(0, 0), (10, 1), (11, 3), (12, 4), (40, 5)]


def test_the_clock_holds_a_bounded_run_then_goes_on_at_the_nominal_rate():
    clock = _FrameClock(40_000.0)
    times = []
    # times that restart (two videos joined): after the hold runs out, nominal steps until a
    # time follows the last one given again
    for raw in [0, 40_000, 80_000, *range(0, 80_001, 8_000), 1_000_000]:
        times += [t for t, _ in clock.push(raw, None)]
    times += [t for t, _ in clock.finish()]
    assert times == [*range(0, 80_001, 40_000), *range(120_000, 520_001, 40_000), 1_000_000]
    assert np.all(np.diff(times) > 0) and clock.dropped == 0


def test_a_video_without_repeats_is_read_as_before(tmp_path):
    path = tmp_path / "plain.mkv"
    write_mkv(path, list(range(0, 400, 40)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _stamped(path)
    assert got == [(t * 1000, k) for k, t in enumerate(range(0, 400, 40))]


@pytest.mark.parametrize(
    "window",
    [
        {"start_s": float("nan")},
        {"stop_s": float("nan")},
        {"stop_s": float("inf")},
        {"start_s": -1.0},
        {"stop_s": -0.5},
        {"start_s": "0.1"},
    ],
)
def test_a_window_end_that_is_not_a_time_is_a_parameter_error(tmp_path, window):
    path = tmp_path / "plain.mkv"
    write_mkv(path, list(range(0, 400, 40)))
    name = next(iter(window))
    with pytest.raises(ParameterError, match=rf"{name} = .*expected a time >= 0 s"):
        list(VideoSource(path, **window))


def test_a_start_past_the_nominal_length_of_a_variable_rate_video_reads_its_frames(tmp_path):
    # 12 frames 80 ms apart at a nominal 25 fps: 0.48 s by count / rate, frames to 0.88 s
    path = tmp_path / "slow.mkv"
    write_mkv(path, list(range(0, 960, 80)))
    assert [t for _, t in VideoSource(path, start_s=0.6)] == [640_000, 720_000, 800_000, 880_000]
    with pytest.raises(
        InputError, match=r"no decodable frames after 0\.95 s \(the video is 0\.92 s"
    ):
        list(VideoSource(path, start_s=0.95))
