"""Final review of round 12's simulator changes: the leak jitter's log-normal gain is drawn on
the CPU for a GPU simulator too (its exp as well as the hash normal), so CUDA runs give the
CPU's leak events bit for bit."""

from types import SimpleNamespace

import pytest
import torch

from eventsim.simulator import DVSParams, EventSimulator

FAKE_GPU = SimpleNamespace(type="cuda")


class _OnGpu:
    """A CPU tensor that says it is on a GPU. It takes no arithmetic: math done on it is math
    that would run on the GPU, whose exp, log and cos may differ from the CPU's in the last bit."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor
        self.device = FAKE_GPU

    def cpu(self) -> torch.Tensor:
        return self.tensor


def test_the_leak_gain_of_a_gpu_simulator_is_drawn_on_the_cpu(monkeypatch) -> None:
    params = DVSParams.from_preset("ideal").replace(leak_rate_hz=1.0, leak_jitter_fraction=0.5)
    sim = EventSimulator(params, sensor_size=(8, 8), seed=5)
    pix = torch.arange(64, dtype=torch.int64)
    n_done = torch.arange(64, dtype=torch.int64) % 7 + 1
    on_cpu = sim._leak_gain(pix, n_done)
    to = torch.Tensor.to

    def moved(self: torch.Tensor, *args, **kwargs):
        if args and args[0] is FAKE_GPU:
            return _OnGpu(self)
        return to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", moved)
    # the old code moved the hash normal to the GPU and took its exp there (a TypeError here)
    gain = sim._leak_gain(_OnGpu(pix), _OnGpu(n_done))  # type: ignore[arg-type]
    assert isinstance(gain, _OnGpu)
    assert torch.equal(gain.tensor, on_cpu)


@pytest.mark.parametrize("jitter", [0.0, 0.3])
def test_the_mean_period_is_one_at_any_jitter(jitter: float) -> None:
    params = DVSParams.from_preset("ideal").replace(leak_rate_hz=1.0, leak_jitter_fraction=jitter)
    sim = EventSimulator(params, sensor_size=(8, 8), seed=1)
    n = 200_000
    period = 1.0 / sim._leak_gain(torch.arange(n) % 997, torch.arange(n) // 997 + 1).numpy()
    assert period.mean() == pytest.approx(1.0, abs=0.005)
    assert period.std() == pytest.approx(jitter, abs=0.005)
