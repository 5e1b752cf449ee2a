"""DVS event simulator: ESIM-exact event timing with v2e's noise model.

``from eventsim.simulator import DVSParams, CAMERAS, EventSimulator, simulate``; `simulate`
returns a `SimulationResult`. Importing this package does not import torch; the simulator
imports it when it is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsim.simulator.core import EventSimulator, FrameScaleWarning, ThresholdSpreadWarning
from eventsim.simulator.params import CAMERAS, PRESETS, DVSParams

if TYPE_CHECKING:
    # what __getattr__ loads on first use, visible to type checkers and IDEs
    from eventsim.simulator.pipeline import SimulationResult, simulate, simulate_frames

__all__ = [
    "CAMERAS",
    "PRESETS",
    "DVSParams",
    "EventSimulator",
    "FrameScaleWarning",
    "SimulationResult",
    "ThresholdSpreadWarning",
    "simulate",
    "simulate_frames",
]


def __getattr__(name: str) -> Any:
    # the pipeline pulls in the HDF5 writer (h5py); load it only when asked for
    if name in ("SimulationResult", "simulate", "simulate_frames"):
        from eventsim.simulator import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'eventsim.simulator' has no attribute {name!r}")
