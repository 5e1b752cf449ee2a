import numpy as np
import pytest

from eventsim.events import EVENT_DTYPE


@pytest.fixture
def small_events() -> np.ndarray:
    """A few thousand sorted events on a 64x48 sensor, deterministic."""
    rng = np.random.default_rng(1234)
    n = 5000
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["x"] = rng.integers(0, 64, n)
    ev["y"] = rng.integers(0, 48, n)
    ev["t"] = np.sort(rng.integers(0, 250_000, n))
    ev["p"] = rng.integers(0, 2, n)
    return ev
