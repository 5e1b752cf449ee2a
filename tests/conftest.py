from collections.abc import Callable
from pathlib import Path

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


_SHAPES_RECIPE = """
[dataset]
name = "{name}"
seed = 5

[source]
kind = "shapes"
mode = "vqa"
n_objects = [2, 3]
object_size_px = [10, 16]
motion_px = [4, 8]

[camera]
width = 64
height = 64

[simulator]
preset = "clean"

[events]
window_ms = 20

[splits]
train = {train}
test = {test}

[build]
shard_size = 2
"""


@pytest.fixture(scope="session")
def shapes_recipe() -> Callable[..., Path]:
    """Writes a small 64x64 shapes recipe (shards of 2 samples) to a path and returns it."""

    def write(path: Path, *, name: str = "small", train: int = 0, test: int = 4) -> Path:
        path.write_text(_SHAPES_RECIPE.format(name=name, train=train, test=test))
        return path

    return write
