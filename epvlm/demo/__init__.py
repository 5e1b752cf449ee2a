"""The end-to-end EP-VLM demonstration behind ``epvlm demo``.

1. Build the demo test split from ``datasets/shapes-demo.toml`` (or reuse an earlier build).
2. Run `epvlm.evaluate.evaluate_dataset` with the shipped demonstration model
   (``epvlm/assets/shapes-demo-tiny``) for ``dense`` and for ``event``, ``random`` and
   ``downsample`` at keep fractions τ = 0.75, 0.5, 0.25.
3. Aggregate with `epvlm.results` per question type, per scenario (the samples'
   ``target_motion``: moving target, static target, camera motion) and for the detail questions
   (`epvlm.demo.analysis`), with 95 % Wilson intervals and paired differences (bootstrap
   intervals, score intervals where few questions were answered differently).
4. Render a preview per scenario: the sample's events as a GIF, and the frame, its events and
   the blocks each selector keeps at τ = 0.5 as a PNG strip (`epvlm.demo.preview`).
5. Write ``report.md`` (`epvlm.demo.report`): the headline (event − downsample and
   event − random at τ = 0.5 on the detail questions), findings read off the numbers (including
   where a baseline matches or beats the event prior), tables, plots and the preview.
   ``results.json`` / ``samples.jsonl`` / ``table.md`` of ``epvlm eval`` sit beside it.

The modules: `epvlm.demo.pipeline` (build and run), `epvlm.demo.analysis`,
`epvlm.demo.preview`, `epvlm.demo.report`.
"""

from epvlm.demo.analysis import KEEPS, findings, headline, summarize
from epvlm.demo.pipeline import DEFAULT_MODEL, DEFAULT_RECIPE, SELECTORS, DemoResult, run_demo

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_RECIPE",
    "KEEPS",
    "SELECTORS",
    "DemoResult",
    "findings",
    "headline",
    "run_demo",
    "summarize",
]
