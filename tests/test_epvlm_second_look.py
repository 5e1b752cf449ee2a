"""A second look at a day of epvlm fixes: the demo's words for an unconfirmed difference, epvlm
run's alpha channel read as its colour is, grey TIFFs with transparency, the results folder's
refusal without kept answers, and keep fractions that differ past six digits."""

from __future__ import annotations

from collections.abc import Callable

from epvlm.demo import findings, headline, summarize

# ----------------------------------------------------------------------------- 1: demo words


def _samples(selector: str, keep: float, scenario: str, n: int, right: Callable[[int], bool]):
    """``n`` questions of ``scenario`` (odd ones detail) answered by one configuration."""
    return [
        {
            "id": f"{scenario}{i}",
            "selector": selector,
            "keep": keep,
            "correct": bool(right(i)),
            "question_type": "pattern" if i % 2 else "color",
            "target_motion": scenario,
            "flops": 100 if selector == "dense" else 50,
            "latency_s": 0.01,
            "kept_tokens": 64 if selector == "dense" else 32,
            "total_tokens": 64,
        }
        for i in range(n)
    ]


def _line(lines: list[str], text: str) -> str:
    (line,) = [s for s in lines if text in s]
    return line


def test_a_borderline_difference_on_many_questions_is_not_called_too_few():
    """60 against 40 of 600 questions answered differently: the bootstrap interval excludes 0,
    the exact McNemar test does not (p = 0.057). 100 questions are not too few to judge (any
    count from 6 could reach p < 0.05); the effect is not beyond noise, and is said so."""
    summary = summarize(
        _samples("dense", 1.0, "moving", 600, lambda i: True)
        + _samples("event", 0.5, "moving", 600, lambda i: i >= 40)
        + _samples("random", 0.5, "moving", 600, lambda i: not 40 <= i < 100)
        # static: event right on 40 dense misses, wrong on 60 dense answers right
        + _samples("dense", 1.0, "static", 600, lambda i: i >= 40)
        + _samples("event", 0.5, "static", 600, lambda i: not 40 <= i < 100)
        + _samples("random", 0.5, "static", 600, lambda i: not 40 <= i < 100)
    )
    (event,) = [r for r in summary["rows"] if r["selector"] == "event"]
    moving = event["groups"]["target_motion"]["moving"]
    assert moving["paired"]["random"]["diff_ci95"][0] > 0
    assert event["groups"]["target_motion"]["static"]["diff_vs_dense_ci95"][1] < 0
    lines = findings(summary)
    beats = _line(lines, "`event` beats `random` at τ = 0.5 on moving-target questions")
    assert beats.endswith(
        "— not beyond noise: exact McNemar p = 0.057 on the 100 of 600 questions answered "
        "differently."
    )
    static = _line(lines, "did not move")
    assert static.startswith(
        "On static targets the event prior's change from dense is not beyond noise: on the 600 "
    )
    assert "not beyond noise: exact McNemar p = 0.057 on the 100 of 600 questions" in static
    assert "too few" not in "\n".join(lines + headline(summary))


def test_five_questions_answered_differently_are_still_too_few():
    # 5 of 300, all one way: p = 0.0625, the least 5 can give
    summary = summarize(
        _samples("dense", 1.0, "moving", 300, lambda i: True)
        + _samples("event", 0.5, "moving", 300, lambda i: True)
        + _samples("random", 0.5, "moving", 300, lambda i: i >= 5)
    )
    beats = _line(findings(summary), "`event` beats `random` at τ = 0.5 on moving-target")
    assert beats.endswith(
        "— too few questions answered differently to judge: 5 of 300, exact McNemar p = 0.062."
    )


def test_the_target_verdict_on_many_questions_is_not_called_too_few_and_counts_shared_ones():
    """580 of dense's 600 right answers: the bootstrap interval of the share (95.2-98.0 %)
    clears 95 %, the Wilson bound (94.9 %) does not; with 600 questions it could have, so they
    are not too few. The bound counts the 600 questions dense answered, not the cell's 650."""
    summary = summarize(
        _samples("dense", 1.0, "moving", 600, lambda i: True)
        + _samples("event", 0.5, "moving", 650, lambda i: i >= 20)
    )
    moving = _line(findings(summary), "on moving-target questions (95 % CI")
    assert "n = 650);" in moving  # the cell's accuracy is of its 650
    assert moving.endswith(
        "it meets the 95 % target on the point estimate and its bootstrap interval, but not "
        "beyond noise (n = 600 shared with dense): a 95 % lower bound valid at any n is 94.9 %, "
        "not above the target."
    )

    # 72 questions: all of them right would still give a Wilson bound of 94.9 %
    summary = summarize(
        _samples("dense", 1.0, "moving", 72, lambda i: True)
        + _samples("event", 0.5, "moving", 80, lambda i: True)
    )
    moving = _line(findings(summary), "on moving-target questions (95 % CI")
    assert "but too few questions (n = 72 shared with dense) to judge: a 95 % lower bound" in (
        moving
    )
