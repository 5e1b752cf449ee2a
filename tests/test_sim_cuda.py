"""CUDA and CPU simulators give the same events, bit for bit (skipped without a GPU).

tools/bench_gpu.py runs the same comparison on more clips and all presets, with frames/s.
"""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import ParameterError
from eventsim.events import concat_events
from eventsim.simulator import DVSParams, EventSimulator
from eventsim.simulator.synthetic import moving_shapes_clip

torch = pytest.importorskip("torch")

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="CUDA is not available here: CPU vs CUDA event identity needs a GPU",
)

PARAMS = {
    "ideal": DVSParams.from_preset("ideal"),
    "noisy": DVSParams.from_preset("noisy"),
    # hot pixels and a fast leak (leak periods end inside the clip, so jitter is re-drawn)
    "noisy+hot": DVSParams.from_preset("noisy").replace(
        hot_pixel_fraction=0.01, leak_rate_hz=20.0, shot_noise_rate_hz=3.0
    ),
}
CHUNKS = (1, 7, 2, 13, 4)


def _random_clip(kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(6)
    n, h, w = 40, 36, 52
    base = rng.uniform(20, 230, (h, w))
    swing = rng.uniform(0.2, 0.9, (h, w)) * base
    phase = rng.uniform(0, 2 * np.pi, (h, w))
    t = np.round(np.arange(n) * 1e6 / 60).astype(np.int64)
    frames = base + swing * np.sin(2 * np.pi * 4 * t[:, None, None] / 1e6 + phase)
    frames = np.clip(frames + rng.normal(0, 2, frames.shape), 0, 255)
    if kind == "uint8":
        return (frames + 0.5).astype(np.uint8), t
    return frames * 1.3, t  # HDR float input: the device takes its own logs


@pytest.fixture(scope="module", params=["shapes-rgb", "random-uint8", "random-float"])
def clip(request):
    if request.param == "shapes-rgb":
        return moving_shapes_clip(64, 48, duration_s=0.5, fps=60, seed=3)
    return _random_clip(request.param.split("-")[1])


def _run(params, frames, ts, device, *, chunked, states=None):
    h, w = frames.shape[1:3]
    sim = EventSimulator(params, (w, h), seed=5, device=device)
    if not chunked:
        events = sim.step(frames, ts)
    else:
        parts, lo, i = [], 0, 0
        while lo < len(frames):
            hi = min(len(frames), lo + CHUNKS[i % len(CHUNKS)])
            parts.append(sim.step(frames[lo:hi], ts[lo:hi]))
            lo, i = hi, i + 1
        events = concat_events(parts)
    if states is not None:
        states.append(_state(sim))
    return events


def _state(sim) -> list[bytes]:
    """The filter, reference and leak state: equal events can hide a state that differs in
    the last bit, which moves an event later in a longer stream."""
    names = ["_lp", "_ref", "_x_prev", "_leak_base", "_leak_speed", "_leak_anchor"]
    values = [getattr(sim, n) for n in names if hasattr(sim, n)]
    return [np.asarray(v.cpu() if hasattr(v, "cpu") else v).tobytes() for v in values]


@needs_cuda
@pytest.mark.parametrize("host_noise", [False, True], ids=["torch-noise", "kernel-noise"])
@pytest.mark.parametrize("preset", sorted(PARAMS))
def test_cuda_events_equal_cpu_events(clip, preset, host_noise, monkeypatch):
    import eventsim.simulator.core as core

    frames, ts = clip
    params = PARAMS[preset]
    # the CPU torch path: the same code the device runs (the numba kernels match it, see
    # test_sim_core)
    monkeypatch.setattr(core, "_USE_NUMBA", False)
    states: list[list[bytes]] = []
    cpu = _run(params, frames, ts, "cpu", chunked=False, states=states)
    assert cpu.size > 1000
    if host_noise:
        # with numba, CUDA thins the shot noise of uint8 input with the CPU kernel
        pytest.importorskip("eventsim.simulator._kernels")
        monkeypatch.setattr(core, "_USE_NUMBA", True)
    for chunked in (False, True):
        got = _run(params, frames, ts, "cuda", chunked=chunked, states=states)
        assert states[-1] == states[0], f"chunked={chunked}: the simulator state differs"
        assert got.size == cpu.size, f"chunked={chunked}: {got.size} events vs {cpu.size} on CPU"
        for name in ("x", "y", "t", "p"):
            differ = np.flatnonzero(got[name] != cpu[name])
            assert differ.size == 0, (
                f"chunked={chunked}: column {name} differs first at event {differ[0]}: "
                f"cuda {got[differ[0]]} vs cpu {cpu[differ[0]]}"
            )


@needs_cuda
def test_cuda_events_equal_numba_cpu_events(clip):
    pytest.importorskip("eventsim.simulator._kernels")  # loaded: CPU simulators use it
    frames, ts = clip
    params = PARAMS["noisy+hot"]
    cpu = _run(params, frames, ts, "cpu", chunked=True)
    got = _run(params, frames, ts, "cuda", chunked=False)
    assert cpu.size > 1000
    assert got.tobytes() == cpu.tobytes()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_request_without_cuda_names_the_device():
    with pytest.raises(ParameterError, match="'cuda' requested but CUDA is not available"):
        EventSimulator(PARAMS["ideal"], (4, 3), device="cuda")
