"""simulate(): streaming into HDF5, stored attributes and frames, upsampling."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from eventsim.errors import InputError, ParameterError
from eventsim.events import validate_events
from eventsim.io import EventReader
from eventsim.simulator import DVSParams, EventSimulator, simulate, simulate_frames
from eventsim.simulator.sources import ArraySource, ImageMotionSource, VideoSource
from eventsim.simulator.synthetic import moving_shapes_clip, write_video
from eventsim.simulator.upsample import Upsampler, estimate_flow


@pytest.fixture(scope="module")
def clip():
    return moving_shapes_clip(64, 48, duration_s=0.5, fps=30, seed=2)


def test_simulate_frames_equals_the_simulator(clip):
    frames, ts = clip
    params = DVSParams.from_preset("noisy")
    ev = simulate_frames(frames, ts, params, seed=4)
    direct = EventSimulator(params, (64, 48), seed=4).step(frames, ts)
    assert ev.size > 500 and np.array_equal(ev, direct)


def test_simulate_video_to_h5_with_frames(tmp_path, clip):
    video = write_video(tmp_path / "c.mp4", clip[0], fps=30)
    params = DVSParams.from_preset("clean").replace(pos_threshold=0.25)
    out = tmp_path / "c.h5"
    result = simulate(video, params, out=out, save_frames=True, seed=3)
    assert result.n_frames == len(clip[0]) and out.exists()
    assert result.path == out and result.events is None
    decoded = list(VideoSource(video))
    expected = simulate_frames(
        np.stack([f for f, _ in decoded]), np.array([t for _, t in decoded]), params, seed=3
    )
    with EventReader(out) as r:
        ev = r.read()
        assert r.sensor_size == (64, 48)
        assert r.params["pos_threshold"] == 0.25 and r.params["threshold_sigma"] == 0.02
        assert r.source["kind"] == "video" and r.source["path"] == str(video)
        assert r.num_frames == len(clip[0])
        fts = r.frame_ts_us
        idx = r.frame_event_idx
        frame0 = r.read_frame(0)
    assert np.array_equal(ev, expected) and result.n_events == ev.size
    validate_events(ev, (64, 48))
    assert np.array_equal(fts, [t for _, t in decoded])
    assert list(idx) == [int(np.count_nonzero(ev["t"] <= t)) for t in fts]
    assert np.array_equal(frame0, decoded[0][0])


def test_failed_run_leaves_no_output(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 5000)
    out = tmp_path / "o.h5"
    with pytest.raises(InputError):
        simulate(bad, out=out)
    nan = np.full((3, 8, 8), 10.0)
    nan[2, 1, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        simulate(ArraySource(nan, fps=10), out=out)
    assert list(tmp_path.iterdir()) == [bad]


@pytest.mark.parametrize("failing_write", [1, 3])
def test_a_write_that_fails_behind_the_simulation_stops_it_and_leaves_no_output(
    tmp_path, monkeypatch, failing_write
):
    # the events are written by a thread while the next batch is simulated: its error
    # reaches the caller, at the next batch or at the end, and the file is still deleted
    import threading

    from eventsim.io import EventWriter

    write = EventWriter.write
    calls = []

    def full_disk(self, events):
        calls.append(threading.current_thread().name)
        if len(calls) == failing_write:
            raise OSError(28, "No space left on device")
        write(self, events)

    monkeypatch.setattr(EventWriter, "write", full_disk)
    # 16-frame batches: five writes
    frames, ts = moving_shapes_clip(64, 48, duration_s=2.5, fps=30, seed=2)
    out = tmp_path / "o.h5"
    with pytest.raises(OSError, match="No space left"):
        simulate(ArraySource(frames, ts), out=out)
    assert calls and set(calls) == {"eventsim-write"}
    assert list(tmp_path.iterdir()) == []
    assert not any(t.name == "eventsim-write" for t in threading.enumerate())


def test_bad_arguments():
    src = ArraySource(np.zeros((2, 4, 4), np.uint8), fps=10)
    with pytest.raises(ParameterError, match="upsample"):
        simulate(src, upsample="superslomo")
    with pytest.raises(ParameterError, match="save_frames"):
        simulate(src, save_frames=True)


def test_sensor_size_fits_frames(clip):
    result = simulate(ArraySource(clip[0], clip[1]), sensor_size=(32, 24))
    ev = result.events
    validate_events(ev, (32, 24))
    assert ev.size > 0 and result.n_events == ev.size and result.path is None
    assert result.sensor_size == (32, 24) and result.n_frames == len(clip[0])
    assert result.t_first_frame_us == clip[1][0] and result.t_last_frame_us == clip[1][-1]


def _histogram(ev):
    """Events binned in 4x4 pixel blocks and 10 ms slices."""
    sample = np.stack([ev["x"], ev["y"], ev["t"]], axis=1).astype(float)
    h, _ = np.histogramdd(sample, bins=(40, 12, 20), range=((0, 160), (0, 48), (0, 200_000)))
    return h


def test_flow_upsampling_recovers_fast_motion():
    # a textured image panned 48 px in 0.2 s: 12 px per frame at 20 fps is far too coarse
    rng = np.random.default_rng(0)
    img = np.repeat(np.repeat(rng.uniform(30, 220, (12, 40)), 4, axis=0), 4, axis=1)
    img = cv2.GaussianBlur(img.astype(np.uint8), (0, 0), 1.0)
    params = DVSParams.from_preset("ideal")
    truth = simulate(
        ImageMotionSource(img, "pan", duration_ms=200, amplitude_px=48, fps=2000)
    ).events
    coarse = ImageMotionSource(img, "pan", duration_ms=200, amplitude_px=48, fps=20)
    none = simulate(coarse, params).events
    up = simulate(coarse, params, upsample="flow").events
    ref = _histogram(truth)

    def dist(ev):
        return np.abs(_histogram(ev) - ref).sum() / ref.sum()

    # warping along the flow reproduces the sweep: where and when events happen, and how many
    assert dist(up) < 0.35 * dist(none)
    assert abs(up.size - truth.size) < 0.25 * abs(none.size - truth.size)


def test_linear_upsampling_follows_intensity_linear_ramp():
    # one brightness ramp 50 -> 200 DN over 1 s, linear in intensity between the two frames
    a = np.full((4, 4), 50, np.uint8)
    b = np.full((4, 4), 200, np.uint8)
    params = DVSParams(max_log_change=0.02)
    src = ArraySource(np.stack([a, b]), [0, 1_000_000])
    up = simulate(src, params, upsample="linear").events
    none = simulate(src, params).events
    assert up.size == none.size == 16 * 6
    eps = params.log_eps
    levels = np.log(50 / 255 + eps) + 0.2 * np.arange(1, 7)
    analytic = (255 * (np.exp(levels) - eps) - 50) / 150 * 1e6
    got = up["t"][up["x"] == 0][up["y"][up["x"] == 0] == 0]
    assert np.all(np.abs(got - analytic) < 2_000)
    log_linear = none["t"][(none["x"] == 0) & (none["y"] == 0)]
    assert np.abs(log_linear - analytic).max() > 50_000


def test_upsampler_counts_steps_from_motion():
    rng = np.random.default_rng(1)
    big = np.repeat(np.repeat(rng.uniform(30, 220, (16, 22)), 4, 0), 4, 1).astype(np.uint8)
    big = cv2.GaussianBlur(big, (0, 0), 1.0)
    base, shifted = big[:, 6:70], big[:, 0:64]  # content moves 6 px to the right
    flow = estimate_flow(base, shifted)
    assert np.median(flow[8:-8, 8:-8, 0]) == pytest.approx(6, abs=0.5)
    up = Upsampler("flow", DVSParams(max_motion_px=1.0))
    n, _ = up.steps_for(base, shifted)
    assert 6 <= n <= 8
    mids = list(up.between(base, shifted, 0, 1000))
    assert len(mids) == n - 1 and all(0 < t < 1000 for _, t in mids)
    assert list(Upsampler("flow", DVSParams()).between(base, base, 0, 1000)) == []
