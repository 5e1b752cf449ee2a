"""EP-VLM: event-prior patch selection for a position-preserving sparse Qwen2-VL.

Importing the package is light (not even numpy). The names below load their module on first
use; torch and transformers load only with the model itself (`load_model`,
`epvlm.modeling`, `epvlm.processing`).

Submodules:

- `epvlm.prior`: the event prior and the baseline token selectors (`select_blocks`).
- `epvlm.flops`: analytic FLOPs of (sparse) Qwen2-VL / Qwen2.5-VL inference (`vlm_flops`).
- `epvlm.evaluate`: a model over a built event-VQA dataset split (`evaluate_dataset`,
  `load_model`), what ``epvlm eval`` runs.
- `epvlm.results`: the result rows (`aggregate`), their tables and plots, `load_results` of a
  results folder.
- `epvlm.answers`: scoring a generated answer (`score_answer`).
- `epvlm.loading`: strict checkpoint loading (`load_pretrained_model`).
- `epvlm.modeling`, `epvlm.modeling_qwen2_5_vl`: the sparse model classes (torch).
- `epvlm.processing`: images, questions and keep masks to model inputs (torch).
- `epvlm.tiny`: tiny random models for tests and demos.
- `epvlm.demo`: the end-to-end demonstration behind ``epvlm demo`` (`run_demo`).
- `epvlm.errors`: the typed errors (they derive from `eventsim.errors.EventsimError`).
"""

from __future__ import annotations

import importlib

from epvlm.errors import (
    CheckpointError,
    EventsOutsideImageError,
    FolderLockWarning,
    KeepMaskError,
    ModelDirError,
    ResultsFileError,
    ResultsFolderInUseError,
    ResultsFolderLockError,
)
from eventsim import __version__
from eventsim.errors import EventsimError, ParameterError

# typing.TYPE_CHECKING without importing typing, as eventsim's __init__ does
TYPE_CHECKING = False

if TYPE_CHECKING:
    # what __getattr__ loads on first use, visible to type checkers and IDEs
    from epvlm.answers import score_answer
    from epvlm.demo import run_demo
    from epvlm.evaluate import evaluate_dataset, load_model
    from epvlm.flops import PRESETS, FlopsBreakdown, VLMDims, load_dims, vlm_flops
    from epvlm.loading import load_pretrained_model
    from epvlm.prior import Selection, event_map, keep_budget, select_blocks
    from epvlm.results import (
        accuracy_table,
        aggregate,
        load_results,
        paired_table,
        plot_accuracy_vs_flops,
        plot_accuracy_vs_flops_by,
        results_table,
    )

# none of these modules imports torch or transformers when loaded (pydoc's help(epvlm) loads
# them all), only inside the functions that run a model
_EXPORTS = {
    "score_answer": "epvlm.answers",
    "run_demo": "epvlm.demo",
    "evaluate_dataset": "epvlm.evaluate",
    "load_model": "epvlm.evaluate",
    "PRESETS": "epvlm.flops",
    "FlopsBreakdown": "epvlm.flops",
    "VLMDims": "epvlm.flops",
    "load_dims": "epvlm.flops",
    "vlm_flops": "epvlm.flops",
    "load_pretrained_model": "epvlm.loading",
    "Selection": "epvlm.prior",
    "event_map": "epvlm.prior",
    "keep_budget": "epvlm.prior",
    "select_blocks": "epvlm.prior",
    "accuracy_table": "epvlm.results",
    "aggregate": "epvlm.results",
    "load_results": "epvlm.results",
    "paired_table": "epvlm.results",
    "plot_accuracy_vs_flops": "epvlm.results",
    "plot_accuracy_vs_flops_by": "epvlm.results",
    "results_table": "epvlm.results",
}

__all__ = [
    "PRESETS",
    "CheckpointError",
    "EventsOutsideImageError",
    "EventsimError",
    "FlopsBreakdown",
    "FolderLockWarning",
    "KeepMaskError",
    "ModelDirError",
    "ParameterError",
    "ResultsFileError",
    "ResultsFolderInUseError",
    "ResultsFolderLockError",
    "Selection",
    "VLMDims",
    "__version__",
    "accuracy_table",
    "aggregate",
    "evaluate_dataset",
    "event_map",
    "keep_budget",
    "load_dims",
    "load_model",
    "load_pretrained_model",
    "load_results",
    "paired_table",
    "plot_accuracy_vs_flops",
    "plot_accuracy_vs_flops_by",
    "results_table",
    "run_demo",
    "score_answer",
    "select_blocks",
    "vlm_flops",
]


if not TYPE_CHECKING:
    # hidden from type checkers, which read the names above: a module __getattr__ would make
    # any misspelt attribute (epvlm.vlm_flop) an object to them, not an error
    def __getattr__(name: str) -> object:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'epvlm' has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
