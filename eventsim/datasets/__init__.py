"""Event-VQA datasets: recipes, the build engine, loaders, verification.

``from eventsim.datasets import load_recipe, build_dataset, EventVQADataset, verify_dataset,
describe_dataset``. Each name is imported on first use, so ``import eventsim.datasets`` stays
cheap; torch is never imported here (the simulator imports it when a build runs) and tonic only by
`TonicEventVQA`. The submodules load on first access too (``eventsim.datasets.tonic_adapter``).
The procedural scene generator is `eventsim.datasets.scenes` (no build needed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # what __getattr__ loads on first use, visible to type checkers and IDEs
    from eventsim.datasets.engine import BuildSummary, build_dataset
    from eventsim.datasets.inspection import (
        VerifyReport,
        describe_dataset,
        preview_dataset,
        verify_dataset,
    )
    from eventsim.datasets.loader import (
        EventVQADataset,
        UnknownSampleError,
        collate_event_vqa,
        read_manifest,
    )
    from eventsim.datasets.recipe import Recipe, load_recipe, recipe_fields_markdown
    from eventsim.datasets.scenes import SceneConfig, draw_sample, simulate_scene
    from eventsim.datasets.tonic_adapter import TonicEventVQA
    from eventsim.errors import DamagedShardError

_EXPORTS = {
    "load_recipe": "eventsim.datasets.recipe",
    "Recipe": "eventsim.datasets.recipe",
    "recipe_fields_markdown": "eventsim.datasets.recipe",
    "build_dataset": "eventsim.datasets.engine",
    "BuildSummary": "eventsim.datasets.engine",
    "EventVQADataset": "eventsim.datasets.loader",
    "UnknownSampleError": "eventsim.datasets.loader",
    "DamagedShardError": "eventsim.errors",
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

# the public submodules, loaded on first access as attributes too: until something imported
# one, eventsim.datasets.tonic_adapter (as in help(...)) raised AttributeError
_SUBMODULES = (
    "engine",
    "inspection",
    "loader",
    "questions",
    "recipe",
    "scene_render",
    "scenes",
    "shards",
    "sources",
    "tonic_adapter",
)

# a literal list (not derived from _EXPORTS) so linters see the names re-exported
__all__ = [
    "BuildSummary",
    "DamagedShardError",
    "EventVQADataset",
    "Recipe",
    "SceneConfig",
    "TonicEventVQA",
    "UnknownSampleError",
    "VerifyReport",
    "build_dataset",
    "collate_event_vqa",
    "describe_dataset",
    "draw_sample",
    "load_recipe",
    "preview_dataset",
    "read_manifest",
    "recipe_fields_markdown",
    "simulate_scene",
    "verify_dataset",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        # importing it also binds it here, so this runs once per submodule
        return importlib.import_module(f"{__name__}.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'eventsim.datasets' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})
