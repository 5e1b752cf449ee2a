"""Oracle tests of the DVS pixel model (EventSimulator)."""

from __future__ import annotations

import itertools
import math
import warnings

import cv2
import numpy as np
import pytest

from eventsim.errors import InputError, ParameterError
from eventsim.events import EVENT_DTYPE, validate_events
from eventsim.simulator import DVSParams, EventSimulator
from eventsim.simulator.synthetic import moving_shapes_clip

IDEAL = DVSParams.from_preset("ideal")


def log_intensity(dn, params):
    """The oracle's own log curves, written from their definitions (not the simulator's code):
    ESIM's ln(I/255 + eps); v2e's lin-log, the line through 0 and (20, ln 20) below 20 DN and
    ln(I) above."""
    i = np.asarray(dn, dtype=np.float64)
    if params.log_curve == "ln":
        return np.log(i / 255.0 + params.log_eps)
    assert params.log_curve == "linlog"
    out = np.empty_like(i)
    dark = i <= 20.0
    out[dark] = i[dark] * (math.log(20.0) / 20.0)
    out[~dark] = np.log(i[~dark])
    return out


def _run(params, frames, ts, *, seed=0, chunks=None, size=None):
    h, w = frames.shape[1:3]
    sim = EventSimulator(params, size or (w, h), seed=seed)
    if chunks is None:
        return sim.step(frames, ts)
    out, lo = [], 0
    for n in chunks:
        out.append(sim.step(frames[lo : lo + n], ts[lo : lo + n]))
        lo += n
    assert lo == len(frames)
    return np.concatenate(out)


@pytest.fixture(scope="module")
def clip():
    frames, ts = moving_shapes_clip(64, 48, duration_s=0.5, fps=60, seed=3)
    return frames, ts


def test_ramp_event_times_match_analytic_crossings():
    # 50 -> 100 -> 50 DN over 2 s, log-linear between the three frames (ESIM's model)
    frames = np.array([50, 100, 50], np.uint8).reshape(3, 1, 1)
    ts = np.array([0, 1_000_000, 2_000_000])
    ev = _run(IDEAL, frames, ts)
    l50, l100 = log_intensity(np.array([50.0, 100.0]), IDEAL)
    c = IDEAL.pos_threshold
    n = math.floor((l100 - l50) / c)
    up = np.arange(1, n + 1) * c / (l100 - l50) * 1e6
    down = 1e6 + (l100 - (l50 + np.arange(n - 1, -1, -1) * c)) / (l100 - l50) * 1e6
    expected = np.concatenate([up, down])
    assert len(ev) == 2 * n  # includes the exact return to the starting level
    assert np.all(np.abs(ev["t"] - expected) <= 1.0)
    assert list(ev["p"]) == [1] * n + [0] * n


def test_dense_float_ramp_gives_the_same_events_as_the_coarse_one():
    l50, l100 = log_intensity(np.array([50.0, 100.0]), IDEAL)
    t = np.arange(0, 2_000_001, 10_000)  # 100 fps
    logs = np.where(t <= 1e6, l50 + (l100 - l50) * t / 1e6, l100 - (l100 - l50) * (t - 1e6) / 1e6)
    intensity = 255.0 * (np.exp(logs) - IDEAL.log_eps)
    dense = _run(IDEAL, intensity.reshape(-1, 1, 1), t)
    coarse = _run(IDEAL, np.array([50, 100, 50], np.uint8).reshape(3, 1, 1), t[[0, 100, 200]])
    assert len(dense) == len(coarse)
    assert np.all(np.abs(dense["t"] - coarse["t"]) <= 1)
    assert np.array_equal(dense["p"], coarse["p"])


def test_static_scene_gives_no_events_in_ideal():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    frames = np.repeat(frame[None], 20, axis=0)
    ev = _run(IDEAL, frames, np.arange(20) * 33_333)
    assert ev.dtype == EVENT_DTYPE and ev.size == 0


@pytest.mark.parametrize("curve", ["ln", "linlog"])
def test_brightness_step_gives_floor_dlog_over_c_events(curve):
    params = IDEAL.replace(log_curve=curve, pos_threshold=0.17, neg_threshold=0.23)
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    b = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    ev = _run(params, np.stack([a, b]), np.array([0, 10_000]))
    la, lb = log_intensity(a, params), log_intensity(b, params)
    d = lb - la
    n_on = np.floor(np.maximum(d, 0) / params.pos_threshold + 1e-9).astype(int)
    n_off = np.floor(np.maximum(-d, 0) / params.neg_threshold + 1e-9).astype(int)
    got_on = np.zeros((16, 16), int)
    got_off = np.zeros((16, 16), int)
    np.add.at(got_on, (ev["y"][ev["p"] == 1], ev["x"][ev["p"] == 1]), 1)
    np.add.at(got_off, (ev["y"][ev["p"] == 0], ev["x"][ev["p"] == 0]), 1)
    assert np.array_equal(got_on, n_on)
    assert np.array_equal(got_off, n_off)
    assert n_on.sum() > 50 and n_off.sum() > 50
    validate_events(ev, (16, 16))
    assert np.all((ev["t"] > 0) & (ev["t"] <= 10_000))


def test_rgb_input_uses_bt601_luma_like_opencv(clip):
    frames, ts = clip
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    ev_rgb = _run(IDEAL, frames, ts)
    ev_gray = _run(IDEAL, gray, ts)
    assert ev_rgb.size > 1000
    assert np.array_equal(ev_rgb, ev_gray)


NOISY_ALL = DVSParams.from_preset("noisy").replace(
    hot_pixel_fraction=0.01, leak_rate_hz=2.0, shot_noise_rate_hz=3.0
)


@pytest.mark.parametrize("params", [IDEAL, NOISY_ALL], ids=["ideal", "noisy"])
def test_chunked_equals_whole_and_is_deterministic(clip, params):
    frames, ts = clip
    whole = _run(params, frames, ts, seed=5)
    assert whole.size > 1000
    validate_events(whole, (64, 48))
    for chunks in ([1] * len(frames), [7, 1, 2, 5, len(frames) - 15]):
        assert np.array_equal(_run(params, frames, ts, seed=5, chunks=chunks), whole)
    assert _run(params, frames, ts, seed=5).tobytes() == whole.tobytes()
    other = _run(params, frames, ts, seed=6)
    if params.has_noise:
        assert not np.array_equal(other, whole)


def test_reset_restarts_the_recording(clip):
    frames, ts = clip
    sim = EventSimulator(NOISY_ALL, (64, 48), seed=2)
    first = sim.step(frames, ts)
    sim.reset()
    assert np.array_equal(sim.step(frames, ts), first)


def test_refractory_period_is_never_violated(clip):
    frames, ts = clip
    period = 3_000
    params = DVSParams.from_preset("clean").replace(
        refractory_period_us=period, shot_noise_rate_hz=20.0
    )
    sim = EventSimulator(params, (64, 48), seed=1)
    ev = np.concatenate([sim.step(frames[i : i + 4], ts[i : i + 4]) for i in range(0, 30, 4)])
    free = _run(params.replace(refractory_period_us=0), frames[:30], ts[:30], seed=1)
    assert 0 < ev.size < free.size
    order = np.lexsort((ev["t"], ev["y"].astype(int) * 64 + ev["x"]))
    pix = ev["y"][order].astype(int) * 64 + ev["x"][order]
    t = ev["t"][order]
    same = pix[1:] == pix[:-1]
    assert np.all(np.diff(t)[same] >= period)


def test_symmetric_stimulus_balances_polarity():
    # every pixel's log intensity swings symmetrically around its mean for whole periods
    params = DVSParams.from_preset("clean")
    rng = np.random.default_rng(4)
    h, w = 32, 32
    base = rng.uniform(-3.0, -0.5, (h, w))
    amp = rng.uniform(0.3, 1.5, (h, w))
    phase = rng.uniform(0, 2 * np.pi, (h, w))
    t = np.arange(0, 2_000_001, 2_000)
    logs = base + amp * np.sin(2 * np.pi * 5 * t[:, None, None] / 1e6 + phase)
    frames = 255.0 * (np.exp(logs) - params.log_eps)
    ev = _run(params, frames, t)
    assert ev.size > 10_000
    assert abs(ev["p"].mean() - 0.5) <= 0.01


def _static(value=128, size=(48, 48), seconds=10.0, fps=20.0, dtype=np.uint8):
    n = round(seconds * fps) + 1
    frames = np.full((n, size[1], size[0]), value, dtype=dtype)
    return frames, np.round(np.arange(n) * 1e6 / fps).astype(np.int64)


def test_leak_rate_matches_parameter():
    rate = 2.0
    params = IDEAL.replace(threshold_sigma=0.03, leak_rate_hz=rate)
    frames, ts = _static()
    ev = _run(params, frames, ts)
    expected = rate * 48 * 48 * 10.0
    assert abs(ev.size / expected - 1) < 0.03
    assert np.all(ev["p"] == 1)
    # leak events are spread over time, not synchronised across pixels
    assert np.unique(ev["t"]).size > ev.size // 4


def test_shot_noise_rate_matches_parameter_and_falls_with_intensity():
    rate = 3.0
    params = IDEAL.replace(shot_noise_rate_hz=rate)
    frames, ts = _static()
    frames[:, :, :24] = 5  # dark half
    frames[:, :, 24:] = 250  # bright half
    ev = _run(params, frames, ts)
    expected = rate * 48 * 48 * 10.0
    assert abs(ev.size / expected - 1) < 0.03
    assert abs(ev["p"].mean() - 0.5) < 0.02
    dark = np.count_nonzero(ev["x"] < 24)
    assert dark > 2 * (ev.size - dark)  # v2e's shape: 0.945 vs 0.25 of the black rate


def test_hot_pixels_fire_at_their_rate():
    params = IDEAL.replace(hot_pixel_fraction=0.02, hot_pixel_rate_hz=40.0)
    frames, ts = _static(seconds=5.0)
    ev = _run(params, frames, ts)
    pix = np.unique(ev["y"].astype(int) * 48 + ev["x"])
    n_hot = round(0.02 * 48 * 48)
    assert pix.size == n_hot
    assert abs(ev.size / (n_hot * 40.0 * 5.0) - 1) < 0.1


def test_photoreceptor_lowpass_delays_dark_pixels_more():
    params = IDEAL.replace(cutoff_hz=20.0)
    n = 401
    ts = np.arange(n) * 1_000  # 1 kHz sampling, 0.4 s
    frames = np.zeros((n, 1, 2), np.float64)
    frames[:, 0, 0] = 10.0  # dark pixel steps x4
    frames[:, 0, 1] = 60.0  # bright pixel steps x4
    frames[1:] *= 4
    ev = _run(params, frames, ts)
    ideal = _run(IDEAL, frames, ts)
    for x in (0, 1):
        got, ref = ev[ev["x"] == x], ideal[ideal["x"] == x]
        assert got.size == ref.size  # the filter settles to the same level
        assert got["t"][0] > ref["t"][0]
    first = {x: ev["t"][ev["x"] == x][-1] for x in (0, 1)}
    assert first[0] > first[1]


def test_no_events_is_an_empty_array_never_none():
    sim = EventSimulator(IDEAL, (4, 3))
    ev = sim.step(np.zeros((1, 3, 4), np.uint8), np.array([0]))
    assert isinstance(ev, np.ndarray) and ev.dtype == EVENT_DTYPE and ev.size == 0
    ev = sim.step(np.zeros((0, 3, 4), np.uint8), np.zeros(0, np.int64))
    assert ev.size == 0


@pytest.mark.parametrize(
    ("frames", "ts", "match"),
    [
        (np.zeros((2, 3, 5), np.uint8), [0, 1], "shape"),
        (np.zeros((2, 3, 4), np.bool_), [0, 1], "dtype"),
        (np.full((2, 3, 4), np.nan), [0, 1], "NaN"),
        (np.full((2, 3, 4), -1.0), [0, 1], "negative"),
        (np.zeros((2, 3, 4), np.uint8), [5, 5], "increase"),
        (np.zeros((2, 3, 4), np.uint8), [0], "one per frame"),
    ],
)
def test_bad_frames_raise_input_error(frames, ts, match):
    sim = EventSimulator(IDEAL, (4, 3))
    with pytest.raises(InputError, match=match):
        sim.step(frames, np.asarray(ts))


def test_timestamps_must_increase_across_chunks():
    sim = EventSimulator(IDEAL, (4, 3))
    sim.step(np.zeros((2, 3, 4), np.uint8), np.array([0, 100]))
    with pytest.raises(InputError, match="previous chunk"):
        sim.step(np.zeros((1, 3, 4), np.uint8), np.array([100]))


def test_bad_device_and_params_are_named():
    with pytest.raises(ParameterError, match="device"):
        EventSimulator(IDEAL, (4, 3), device="nonsense")
    with pytest.raises(ParameterError, match="sensor size"):
        EventSimulator(IDEAL, (0, 3))


def _greedy_refractory(ev, period):
    last: dict[tuple[int, int], int] = {}
    keep = np.zeros(ev.size, bool)
    for i, (x, y, t, _) in enumerate(ev.tolist()):
        if t - last.get((x, y), -(10**18)) >= period:
            keep[i] = True
            last[(x, y)] = t
    return ev[keep]


@pytest.mark.parametrize(
    ("params", "period"),
    [(NOISY_ALL, 4_000), (IDEAL.replace(threshold_sigma=0.03), 12_000)],
    ids=["noisy", "noise-free"],
)
def test_refractory_equals_a_greedy_filter_of_the_free_stream(clip, params, period):
    # dropped events still move the reference, so the refractory stream is exactly the
    # unfiltered stream passed through a per-pixel greedy filter
    frames, ts = clip
    params = params.replace(refractory_period_us=period)
    got = _run(params, frames, ts, seed=9, chunks=[5, 9, len(frames) - 14])
    free = _run(params.replace(refractory_period_us=0), frames, ts, seed=9)
    expected = _greedy_refractory(free, period)
    assert 0 < got.size < free.size
    assert np.array_equal(got, expected)


def test_refractory_with_several_events_per_interval_inside_the_period():
    # fast swings sampled at 500 fps: many crossings per 2 ms interval, closer than the period
    rng = np.random.default_rng(8)
    t = np.arange(0, 400_001, 2_000)
    amp = rng.uniform(0.5, 3.0, (12, 12))
    phase = rng.uniform(0, 2 * np.pi, (12, 12))
    logs = -2.0 + amp * np.sin(2 * np.pi * 40 * t[:, None, None] / 1e6 + phase)
    frames = 255.0 * (np.exp(logs) - IDEAL.log_eps)
    params = IDEAL.replace(refractory_period_us=300)
    got = _run(params, frames, t, chunks=[3, 50, len(t) - 53])
    free = _run(params.replace(refractory_period_us=0), frames, t)
    expected = _greedy_refractory(free, 300)
    assert 0 < got.size < free.size - 1000
    assert np.array_equal(got, expected)


def test_a_frame_whose_noise_candidates_are_all_thinned_out_gives_no_events(monkeypatch):
    # a still, bright scene fed frame by frame: no pixel reaches a level, and at full
    # brightness the thinning keeps a quarter of the shot-noise candidates, so some frames draw
    # candidates and keep none. The torch path's refractory filter then got an empty batch and
    # raised IndexError (found by tools/fuzz_kernels.py)
    import eventsim.simulator.core as core

    params = IDEAL.replace(cutoff_hz=30.0, shot_noise_rate_hz=5.0, refractory_period_us=500)
    frames = np.full((200, 4, 4), 255, np.uint8)
    ts = np.arange(200, dtype=np.int64) * 1000
    chunks = [1] * 200
    monkeypatch.setattr(core, "_USE_NUMBA", False)
    slow = _run(params, frames, ts, seed=0, chunks=chunks)
    assert slow.size > 5
    pytest.importorskip("eventsim.simulator._kernels")
    monkeypatch.setattr(core, "_USE_NUMBA", True)
    assert _run(params, frames, ts, seed=0, chunks=chunks).tobytes() == slow.tobytes()


@pytest.mark.parametrize(
    "params",
    [IDEAL, NOISY_ALL, IDEAL.replace(refractory_period_us=12_000, threshold_sigma=0.03)],
    ids=["ideal", "noisy", "refractory"],
)
def test_numba_kernel_and_torch_path_give_identical_events(clip, params, monkeypatch):
    # importing the kernel module makes every new simulator use it
    pytest.importorskip("eventsim.simulator._kernels")
    import eventsim.simulator.core as core

    frames, ts = clip
    chunks = [4, 1, 11, len(frames) - 16]
    fast = _run(params, frames, ts, seed=2, chunks=chunks)
    monkeypatch.setattr(core, "_USE_NUMBA", False)
    slow = _run(params, frames, ts, seed=2, chunks=chunks)
    assert fast.size > 1000
    assert fast.tobytes() == slow.tobytes()


def _events_and_state(params, frames, ts, *, seed, chunks):
    """A chunked run's events and the simulator's state after it: a last-bit difference in
    the filter changes few events of a short clip."""
    from eventsim.simulator.core import _np

    h, w = frames.shape[1:3]
    sim = EventSimulator(params, (w, h), seed=seed)
    lo, parts = 0, []
    for n in chunks:
        parts.append(sim.step(frames[lo : lo + n], ts[lo : lo + n]))
        lo += n
    state = [sim._ref, sim._x_prev, sim._lp]
    if params.leak_rate_hz > 0:
        state += [sim._leak_base, sim._leak_speed, sim._leak_anchor, sim._leak_cycle]
    return np.concatenate(parts), [_np(v).copy() for v in state]


@pytest.mark.parametrize("kind", ["uint8", "float"])
@pytest.mark.parametrize(
    "params",
    [
        DVSParams.from_preset("v2e-default"),
        # a leak period of ~50 ms: most pixels complete one or more per batch, so the kernel
        # stops them several times for their new leak speed and merges their records back
        NOISY_ALL.replace(leak_rate_hz=20.0),
    ],
    ids=["v2e-default", "fast-leak"],
)
def test_numba_walk_matches_torch_for_lowpass_leak_and_float_input(clip, params, kind, monkeypatch):
    kernels = pytest.importorskip("eventsim.simulator._kernels")
    import eventsim.simulator.core as core

    walks = []
    walk = kernels.walk

    def counted(*args):
        walks.append(1)
        return walk(*args)

    monkeypatch.setattr(kernels, "walk", counted)
    frames, ts = clip
    frames = frames.mean(axis=-1) * 1.3 if kind == "float" else frames

    chunks = (1, 13, 2, len(frames) - 16)
    fast, fast_state = _events_and_state(params, frames, ts, seed=4, chunks=chunks)
    assert walks  # the kernel's walk ran, not the torch path
    monkeypatch.setattr(core, "_USE_NUMBA", False)
    slow, slow_state = _events_and_state(params, frames, ts, seed=4, chunks=chunks)
    assert fast.size > 1000
    assert fast.tobytes() == slow.tobytes()
    for a, b in zip(fast_state, slow_state):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "params",
    [IDEAL, DVSParams.from_preset("v2e-default"), NOISY_ALL.replace(leak_rate_hz=20.0)],
    ids=["ideal", "v2e-default", "fast-leak"],
)
def test_numba_walk_blocks_end_mid_sensor_and_resume_after_full_buffers(params, monkeypatch):
    # 67 x 45 pixels: the walk's last block of pixels is a partial one; and the record buffer
    # starts empty, so the first batch's walk stops before some block and resumes there
    kernels = pytest.importorskip("eventsim.simulator._kernels")
    import eventsim.simulator.core as core

    frames, ts = moving_shapes_clip(67, 45, duration_s=0.4, fps=60, seed=8)
    assert (67 * 45) % (kernels.BLOCK // 2) != 0  # blocks hold BLOCK or BLOCK / 2 pixels
    resumed = []
    walk = kernels.walk

    def counted(*args):
        if args[18].size == 0 and args[22] > 0:  # all pixels, from a later block
            assert args[22] % (kernels.BLOCK // 2) == 0
            resumed.append(args[22])
        return walk(*args)

    monkeypatch.setattr(kernels, "walk", counted)
    chunks = [9, 1, len(frames) - 10]
    fast = _run(params, frames, ts, seed=6, chunks=chunks)
    assert resumed
    monkeypatch.setattr(core, "_USE_NUMBA", False)
    slow = _run(params, frames, ts, seed=6, chunks=chunks)
    assert fast.size > 1000
    assert fast.tobytes() == slow.tobytes()


@pytest.mark.parametrize(
    "params",
    [
        DVSParams.from_preset("v2e-default").replace(leak_rate_hz=20.0),
        # a slow filter: dark pixels settle a last bit away from their input, or not at all
        NOISY_ALL.replace(leak_rate_hz=20.0, cutoff_hz=5.0),
        NOISY_ALL.replace(leak_rate_hz=0.0),
    ],
    ids=["v2e-default", "slow-filter", "no-leak"],
)
def test_numba_walk_of_still_blocks_gives_the_torch_paths_events_and_state(params, monkeypatch):
    # the top half never changes, so the walk skips its filter steps block by block; the
    # fast leak still makes those pixels fire (and stop for new leak speeds) inside such blocks
    pytest.importorskip("eventsim.simulator._kernels")
    import eventsim.simulator.core as core

    frames, ts = moving_shapes_clip(96, 64, duration_s=0.6, fps=60, seed=2)
    frames[:, :32] = frames[0, :32]

    chunks = (1, 6, 1, 9, len(frames) - 17)
    fast, fast_state = _events_and_state(params, frames, ts, seed=3, chunks=chunks)
    monkeypatch.setattr(core, "_USE_NUMBA", False)
    slow, slow_state = _events_and_state(params, frames, ts, seed=3, chunks=chunks)
    if params.leak_rate_hz > 0:
        assert np.count_nonzero(fast["y"] < 32) > 500
    assert fast.tobytes() == slow.tobytes()
    for a, b in zip(fast_state, slow_state):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("params", [IDEAL, NOISY_ALL], ids=["ideal", "noisy"])
def test_uint8_and_float_chunks_in_one_stream_give_the_torch_paths_events(
    clip, params, monkeypatch
):
    # uint8 chunks run on numpy state, float chunks on tensors: the state crosses between them
    pytest.importorskip("eventsim.simulator._kernels")
    import eventsim.simulator.core as core

    frames, ts = clip
    grey = frames.mean(axis=-1)
    spans = list(itertools.pairwise([0, 5, 9, 10, 17, len(frames)]))

    def run():
        sim = EventSimulator(params, (64, 48), seed=3)
        out = [
            sim.step((frames if i % 2 == 0 else grey)[lo:hi], ts[lo:hi])
            for i, (lo, hi) in enumerate(spans)
        ]
        return np.concatenate(out)

    fast = run()
    monkeypatch.setattr(core, "_USE_NUMBA", False)
    slow = run()
    assert fast.size > 1000
    assert fast.tobytes() == slow.tobytes()


@pytest.mark.parametrize("first", [1, 3])
@pytest.mark.parametrize(
    "params", [NOISY_ALL, IDEAL.replace(cutoff_hz=40.0)], ids=["noisy", "lowpass"]
)
def test_kernels_loaded_after_the_torch_path_started_give_its_events(
    clip, params, first, monkeypatch
):
    # the torch path leaves its state as tensors (the filter state and the previous input may
    # be one); the kernels then take it over as numpy arrays mid-stream
    kernels = pytest.importorskip("eventsim.simulator._kernels")
    import eventsim.simulator.core as core

    frames, ts = clip
    chunks = [first, 4, len(frames) - 4 - first]
    monkeypatch.setattr(core, "_USE_NUMBA", False)
    slow = _run(params, frames, ts, seed=1, chunks=chunks)
    monkeypatch.setattr(core, "_USE_NUMBA", True)
    calls = []

    def late(torch_path_s):
        calls.append(torch_path_s)
        return kernels if len(calls) > 1 else None

    monkeypatch.setattr(core, "_kernel_for", late)
    fast = _run(params, frames, ts, seed=1, chunks=chunks)
    assert len(calls) == 2
    assert slow.size > 1000
    assert fast.tobytes() == slow.tobytes()


_NO_TORCH_RUN = """
import sys
import numpy as np
from eventsim.simulator import DVSParams, EventSimulator

frames, ts = np.load(sys.argv[1]), np.load(sys.argv[2])
sim = EventSimulator(DVSParams.from_preset(sys.argv[3]), (64, 48), seed=2)
events = np.concatenate([sim.step(frames[:7], ts[:7]), sim.step(frames[7:], ts[7:])])
np.save(sys.argv[4], events)
print("torch" in sys.modules, sim.device_name)
"""


@pytest.mark.parametrize(("preset", "torch_used"), [("clean", False), ("noisy", True)])
def test_a_process_without_torch_simulates_uint8_input_without_importing_it(
    clip, preset, torch_used, tmp_path, monkeypatch
):
    # the kernels load at once in a process that has not imported torch; only the low-pass
    # and leak draws (noisy) then need torch, for its own math
    pytest.importorskip("eventsim.simulator._kernels")
    import subprocess
    import sys

    import eventsim.simulator.core as core

    frames, ts = clip
    np.save(tmp_path / "f.npy", frames)
    np.save(tmp_path / "t.npy", ts)
    out = tmp_path / "ev.npy"
    done = subprocess.run(
        [sys.executable, "-c", _NO_TORCH_RUN, str(tmp_path / "f.npy"), str(tmp_path / "t.npy"),
         preset, str(out)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.split() == [str(torch_used), "cpu"]
    monkeypatch.setattr(core, "_USE_NUMBA", False)
    expected = _run(DVSParams.from_preset(preset), frames, ts, seed=2, chunks=[7, len(ts) - 7])
    got = np.load(out)
    assert got.size > 1000
    assert got.tobytes() == expected.tobytes()


_MANY_SHORT_RUNS = """
import itertools
import sys
import types
import numpy as np
import torch
import eventsim.simulator.core as core
from eventsim.simulator import DVSParams, EventSimulator

frames = np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8)
# a clock that moves 1 s between two readings: every run costs the torch path exactly 1 s, so
# the threshold of 10 s is spent by ten runs whatever the machine's speed and load (timed
# runs, with the threshold at ten times a measured one, failed under load)
ticks = itertools.count()
core.time = types.SimpleNamespace(perf_counter=lambda: float(next(ticks)))
core._KERNEL_AFTER_TORCH_S = 10.0
core._torch_path_s = 0.0
for i in range(2000):
    EventSimulator(DVSParams(), (32, 32)).step(frames, [0, 1000, 2000])
    if "eventsim.simulator._kernels" in sys.modules:
        break
print(i, "torch" in sys.modules)
"""


def test_many_short_simulations_load_the_kernels_once_the_process_has_paid_for_them():
    # the kernels' load is once per process, so a dataset build's one short simulation per
    # sample counts towards it: none of these alone spends the (lowered) threshold, ten
    # together do, and the eleventh runs on the kernels
    pytest.importorskip("eventsim.simulator._kernels")
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _MANY_SHORT_RUNS], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["10", "True"]


_PRELOAD = """
import eventsim.simulator._kernels as kernels
from eventsim.simulator.core import preload_kernels

print(preload_kernels(), len(kernels.walk.signatures), len(kernels.assemble.signatures))
"""


def test_preload_kernels_loads_the_walk_and_the_assembly():
    # the build's fork server preloads them, so that no pool worker compiles or loads its own
    pytest.importorskip("eventsim.simulator._kernels")
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _PRELOAD], capture_output=True, text=True, check=True
    )
    loaded, n_walk, n_assemble = done.stdout.split()
    assert loaded == "True"
    assert int(n_walk) >= 1
    assert int(n_assemble) >= 1


def test_every_log_curve_table_rises_with_the_code():
    # the kernel's walk screens a noise-free pixel by its batch's extreme codes alone
    from eventsim.options import LOG_CURVES
    from eventsim.simulator.core import log_curve_np

    for curve in LOG_CURVES:
        table = log_curve_np(np.arange(256), IDEAL.replace(log_curve=curve))
        assert np.all(np.diff(table) > 0), curve


@pytest.mark.parametrize("ratio", [0.3, 1.0])
def test_shot_noise_kernel_draws_numpys_uniforms_and_leaves_the_generator_as_numpy_does(ratio):
    # the kernel steps numpy's PCG64 itself: its events must be those of
    # rng.random((3, count)), and later draws (hot pixels) must not notice
    kernels = pytest.importorskip("eventsim.simulator._kernels")
    from eventsim.simulator.core import _uniform_rows

    a_lut = np.minimum(1.0, (np.arange(256) + 20.0) / 275.0)
    codes = np.random.default_rng(0).integers(0, 256, 5000).astype(np.uint8)
    spare = set()
    for seed in range(6):
        ours, ref = (np.random.default_rng([seed, 1, 7]) for _ in range(2))
        cand = ours.integers(0, codes.size, 1001 + seed)
        assert np.array_equal(ref.integers(0, codes.size, 1001 + seed), cand)
        # an odd number of 32-bit draws leaves a spare half-word in the generator
        spare.add(ours.bit_generator.state["has_uint32"])
        pix, t, pol = kernels.shot_noise(
            cand, _uniform_rows(ours, cand.size), codes, a_lut, ratio, 33_333, 100
        )
        u = ref.random((3, cand.size))
        keep = u[2] < 1.0 - (1.0 - ratio) * a_lut[codes[cand]]
        assert 0 < keep.sum() <= cand.size
        assert np.array_equal(pix, cand[keep])
        assert np.array_equal(t, np.floor(u[0] * 33_333).astype(np.int64)[keep] + 100)
        assert np.array_equal(pol, (u[1] < 0.5)[keep])
        assert ours.bit_generator.state == ref.bit_generator.state
        assert np.array_equal(ours.integers(0, 1000, 9), ref.integers(0, 1000, 9))
        assert np.array_equal(ours.random(5), ref.random(5))
    assert spare == {0, 1}


def test_the_kernels_pixel_row_multiply_equals_floor_division():
    # `assemble` finds an event's row by a multiply and a shift, for any sensor width
    kernels = pytest.importorskip("eventsim.simulator._kernels")
    rng = np.random.default_rng(0)
    widths = [1, 2, 3, 7, 240, 346, 640, 1280, 1920, 4097, 32767, 65535, 2**30 + 1, 2**31 - 1]
    for d in widths + rng.integers(1, 2**31, 20).tolist():
        magic, shift = kernels.divisor(d)
        # the hardest cases sit next to multiples of d
        near = rng.integers(0, (2**31 - 1) // d + 1, 10_000) * d + np.array([[-1], [0], [1]])
        n = np.concatenate(
            [
                np.arange(0, 4096),
                2**31 - 1 - np.arange(4096),
                rng.integers(0, 2**31, 100_000),
                near[(near >= 0) & (near < 2**31)],
            ]
        ).astype(np.int64)
        assert 0 < magic < 2**32
        assert np.array_equal((n * magic) >> shift, n // d), d


def test_low_pass_rounding_probe_matches_torch_addcmul():
    # the kernel's low-pass step rounds as the probe says torch's addcmul does
    from fractions import Fraction

    import torch

    import eventsim.simulator.core as core

    fused = core._addcmul_rounding()
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((3, 301))
    got = torch.addcmul(*(torch.from_numpy(v) for v in (a, b, c))).numpy()
    once = np.array([float(Fraction(x) + Fraction(y) * Fraction(z)) for x, y, z in zip(a, b, c)])
    twice = a + b * c
    assert not np.array_equal(once, twice)  # the data tells the two roundings apart
    # True: rounds once; False: rounds twice; None: mixes both, so matches neither
    assert np.array_equal(got, once) == (fused is True)
    assert np.array_equal(got, twice) == (fused is False)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 64, 1000, 4099])
def test_merge_sort_orders_like_a_stable_argsort(n):
    kernels = pytest.importorskip("eventsim.simulator._kernels")
    rng = np.random.default_rng(n)
    key = rng.integers(0, max(1, n // 8), n)  # many equal keys: stability shows
    val = np.arange(n, dtype=np.int64) * 3 + 1
    order = np.argsort(key, kind="stable")
    expected_key, expected_val = key[order], val[order]
    kernels._merge_sort(key, val)
    assert np.array_equal(key, expected_key)
    assert np.array_equal(val, expected_val)


def test_long_frame_gaps_sort_like_short_ones(monkeypatch):
    # a 30 s gap between frames takes the kernel's comparison-sort branch instead of its
    # counting sort; both must give the torch path's order
    pytest.importorskip("eventsim.simulator._kernels")
    import eventsim.simulator.core as core

    rng = np.random.default_rng(4)
    frames = rng.integers(0, 256, (4, 20, 30), dtype=np.uint8)
    ts = np.array([0, 30_000_000, 30_033_333, 90_000_000])
    params = IDEAL.replace(refractory_period_us=7_000_000)
    fast = _run(params, frames, ts, chunks=[2, 2])
    monkeypatch.setattr(core, "_USE_NUMBA", False)
    slow = _run(params, frames, ts, chunks=[2, 2])
    assert fast.size > 100
    assert fast.tobytes() == slow.tobytes()


def test_float_frames_scaled_to_one_draw_a_warning_once():
    from eventsim.simulator import FrameScaleWarning

    rng = np.random.default_rng(0)
    frames = rng.uniform(0.1, 0.9, (4, 6, 8))
    ts = np.arange(4, dtype=np.int64) * 1000
    sim = EventSimulator(DVSParams(), (8, 6))
    with pytest.warns(
        FrameScaleWarning, match=r"peak at 0\.8\d*; .* multiply 0\.\.1 frames by 255"
    ):
        sim.step(frames[:2], ts[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim.step(frames[2:], ts[2:])  # looked at once per simulator
        EventSimulator(DVSParams(), (8, 6)).step(frames * 255, ts)  # DN floats: no warning
        EventSimulator(DVSParams(), (8, 6)).step(np.zeros((2, 6, 8)), ts[:2])  # black: none


def test_device_path_thins_shot_noise_with_the_kernel_on_a_host_copy(clip, monkeypatch):
    # on CUDA the torch path hands each batch's uint8 luma to the numba `shot_noise` kernel;
    # a CPU simulator marked as off the CPU takes that route here, with torch tensors as state
    pytest.importorskip("eventsim.simulator._kernels")
    import eventsim.simulator.core as core

    frames, ts = clip
    chunks = [4, 1, 11, len(frames) - 16]
    monkeypatch.setattr(core, "_USE_NUMBA", False)
    reference = _run(NOISY_ALL, frames, ts, seed=2, chunks=chunks)
    monkeypatch.setattr(core, "_USE_NUMBA", True)
    sim = EventSimulator(NOISY_ALL, frames.shape[2:0:-1], seed=2)
    sim._on_cpu = sim._may_use_kernel = False
    got = np.concatenate([sim.step(f, t) for f, t in _chunked(frames, ts, chunks)])
    assert sim._noise_kernel is not None and sim._kernel is None
    assert reference.size > 1000
    assert got.tobytes() == reference.tobytes()


def _chunked(frames, ts, chunks):
    lo = 0
    for n in chunks:
        yield frames[lo : lo + n], ts[lo : lo + n]
        lo += n


def test_events_packed_as_bytes_equal_the_column_writes():
    # `_packed_events` (CUDA's single copy to the host) against `_to_numpy`'s numpy columns
    torch = pytest.importorskip("torch")
    import eventsim.simulator.core as core

    rng = np.random.default_rng(0)
    width, height, t_base = 1280, 720, 2**40 + 17
    pix = torch.from_numpy(rng.integers(0, width * height, 5000))
    t = torch.from_numpy(np.sort(rng.integers(1, 2**31 - 1, 5000)).astype(np.int32))
    pol = torch.from_numpy(rng.random(5000) < 0.5)
    sim = EventSimulator(IDEAL, (width, height))
    want = sim._to_numpy(pix, t, pol, t_base)
    got = core._packed_events(pix, t, pol, t_base, width)
    assert got.dtype == EVENT_DTYPE
    assert got.tobytes() == want.tobytes()
    assert want["t"][0] > 2**40
    assert core._packed_events(pix[:0], t[:0], pol[:0], t_base, width).size == 0
