"""Event-VQA datasets: recipes, the build engine, loaders, verification.

``from eventsim.datasets import load_recipe, build_dataset, EventVQADataset, verify_dataset,
describe_dataset``. Each name is imported on first use, so ``import eventsim.datasets`` stays
cheap; torch is never imported here (the simulator imports it when a build runs) and tonic only by
`TonicEventVQA`. The procedural scene generator is `eventsim.datasets.scenes` (no build needed).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_recipe": "eventsim.datasets.recipe",
    "Recipe": "eventsim.datasets.recipe",
    "recipe_fields_markdown": "eventsim.datasets.recipe",
    "build_dataset": "eventsim.datasets.engine",
    "BuildSummary": "eventsim.datasets.engine",
    "EventVQADataset": "eventsim.datasets.loader",
    "collate_event_vqa": "eventsim.datasets.loader",
    "read_manifest": "eventsim.datasets.loader",
    "verify_dataset": "eventsim.datasets.inspection",
    "describe_dataset": "eventsim.datasets.inspection",
    "VerifyReport": "eventsim.datasets.inspection",
    "preview_dataset": "eventsim.datasets.inspection",
    "SceneConfig": "eventsim.datasets.scenes",
    "draw_sample": "eventsim.datasets.scenes",
    "simulate_scene": "eventsim.datasets.scenes",
    "TonicEventVQA": "eventsim.datasets.tonic_adapter",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'eventsim.datasets' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
