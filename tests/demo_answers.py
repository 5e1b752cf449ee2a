"""Made-up demo answers for tests of the demo report's sentences."""

from __future__ import annotations

from typing import Any


def demo_samples(outcomes: dict[tuple[str, float], dict[str, list[int]]]) -> list[dict[str, Any]]:
    """Answer records as `epvlm.demo.summarize` takes them: ``outcomes[(selector, keep)]
    [scenario]`` lists 1 (right) or 0 per question of that scenario, the same questions for
    every configuration; odd questions ask the pattern (detail), even ones the colour."""
    return [
        {
            "id": f"{scenario}{i}",
            "selector": selector,
            "keep": keep,
            "correct": bool(ok),
            "question_type": "pattern" if i % 2 else "color",
            "target_motion": scenario,
            "flops": 100 if selector == "dense" else 50,
            "latency_s": 0.01,
            "kept_tokens": 64 if selector == "dense" else 32,
            "total_tokens": 64,
        }
        for (selector, keep), by_scenario in outcomes.items()
        for scenario, answers in by_scenario.items()
        for i, ok in enumerate(answers)
    ]
