"""Follow-ups to a review of epvlm: the demo's claims on few questions."""

from __future__ import annotations

import pytest
from demo_answers import demo_samples

from epvlm.demo import findings, headline, summarize
from epvlm.results import aggregate, mcnemar_exact_p


def _summary(outcomes: dict[tuple[str, float], dict[str, list[int]]]):
    """``outcomes[(selector, keep)][scenario]``: 1 (right) or 0 per question of that scenario,
    the same questions for every configuration; odd questions ask the pattern (detail)."""
    return summarize(demo_samples(outcomes))


def _all(n: int, right: int = 1) -> list[int]:
    return [right] * n


def _line(lines: list[str], text: str) -> str:
    (line,) = [s for s in lines if text in s]
    return line


# ----------------------------------------------------------------------------- 1: claims


def test_mcnemar_exact_p():
    assert mcnemar_exact_p(0, 0) == 1.0
    assert mcnemar_exact_p(2, 0) == 0.5
    assert mcnemar_exact_p(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact_p(5, 1) == pytest.approx(2 * 7 / 64)
    assert mcnemar_exact_p(3, 3) == 1.0


def test_aggregate_counts_the_questions_answered_differently():
    samples = [
        {"id": str(i), "selector": sel, "keep": keep, "correct": ok, "flops": 1,
         "latency_s": 0.0, "kept_tokens": 1, "total_tokens": 1}
        for sel, keep, answers in (
            ("dense", 1.0, [1, 1, 0, 0, 1]),
            ("event", 0.5, [1, 0, 1, 0, 1]),
            ("random", 0.5, [0, 0, 1, 0, 0]),
        )
        for i, ok in enumerate(answers)
    ]  # fmt: skip
    (event,) = [r for r in aggregate(samples) if r["selector"] == "event"]
    assert event["vs_dense_counts"] == {"both": 2, "this_only": 1, "dense_only": 1, "neither": 1}
    assert event["paired"]["random"] | {"diff_ci95": None} == {
        "n": 5, "diff": pytest.approx(0.4), "diff_ci95": None, "this_only": 2, "other_only": 0,
    }  # fmt: skip


def test_two_questions_a_scenario_make_no_claim():
    # the --limit case: every bootstrap interval would be a single point here (score ones
    # are used)
    summary = _summary(
        {
            ("dense", 1.0): {"moving": _all(2), "static": _all(2)},
            ("event", 0.5): {"moving": _all(2), "static": _all(2, 0)},
            ("random", 0.5): {"moving": _all(2, 0), "static": _all(2)},
        }
    )
    lines = findings(summary)
    text = "\n".join(lines + headline(summary))
    assert "whole interval" not in text
    assert "interval above 0" not in text and "interval below 0" not in text
    assert "failure case" not in text and "beats it there" not in text
    moving = _line(lines, "on moving-target questions (95 % CI")
    assert "keeps 100.0 % of dense accuracy" in moving
    assert moving.endswith(
        "(95 % CI 43.8–228.1 %; 100.0 % vs 100.0 %, n = 2); it meets the 95 % target on the "
        "point estimate only, within noise (the interval includes it)."
    )
    static = _line(lines, "did not move")
    assert static.startswith(
        "Static targets: too few questions to judge the event prior's change from dense:"
    )
    assert "too few questions answered differently to judge: 2 of 2, exact McNemar p = 0.5" in (
        static
    )
    beats = _line(lines, "`event` beats `random` at τ = 0.5 on moving-target questions")
    assert beats.endswith(
        "— too few questions answered differently to judge: 2 of 2, exact McNemar p = 0.5."
    )
    (moving_detail,) = [h for h in headline(summary) if "moving-target detail" in h]
    assert "(paired 95 % CI -12.2 points to +100.0 points; interval includes 0)" in moving_detail


def test_a_collapsed_interval_on_many_questions_still_makes_the_claim():
    # 200 questions answered alike: the interval is a point, and the Wilson bound agrees
    summary = _summary(
        {
            ("dense", 1.0): {"moving": _all(200)},
            ("event", 0.5): {"moving": _all(200)},
            ("random", 0.5): {"moving": [i % 2 for i in range(200)]},
        }
    )
    lines = findings(summary)
    moving = _line(lines, "on moving-target questions (95 % CI")
    assert moving.endswith("it meets the 95 % target, its whole interval above it.")
    beats = _line(lines, "`event` beats `random` at τ = 0.5 on moving-target questions")
    assert "—" not in beats  # a claim: 100 answered differently, all one way


def test_a_few_questions_answered_differently_make_no_claim_on_many():
    # 4 of 300 answered differently, all one way: the bootstrap interval excluded 0 (no
    # resample of 300 misses all 4 often enough), the exact test does not (p = 0.125); the
    # score interval used on so few includes 0, as the exact test does
    random = _all(300)
    random[:4] = [0] * 4
    summary = _summary(
        {
            ("dense", 1.0): {"moving": _all(300)},
            ("event", 0.5): {"moving": _all(300)},
            ("random", 0.5): {"moving": random},
        }
    )
    (event,) = [r for r in summary["rows"] if r["selector"] == "event"]
    assert event["paired"]["random"]["diff_ci95"][0] < 0
    beats = _line(findings(summary), "`event` beats `random` at τ = 0.5 on moving-target")
    assert beats.endswith(
        "(paired 95 % CI of event minus random: -0.2 points to +3.4 points) — within noise."
    )


def test_the_headline_claims_a_difference_on_enough_questions_answered_differently():
    # 40 detail (odd) questions a scenario; downsample misses every one, random every other
    def detail(n: int, rule) -> list[int]:
        return [rule(i) if i % 2 else 1 for i in range(n)]

    summary = _summary(
        {
            ("dense", 1.0): {"moving": _all(80)},
            ("event", 0.5): {"moving": _all(80)},
            ("downsample", 0.5): {"moving": detail(80, lambda i: 0)},
            ("random", 0.5): {"moving": detail(80, lambda i: i % 4 == 1)},
        }
    )
    text = "\n".join(headline(summary))
    assert "event − downsample = +100.0 points" in text and "interval above 0" in text
    assert "too few" not in text
    flipped = _summary(
        {
            ("dense", 1.0): {"moving": _all(80)},
            ("event", 0.5): {"moving": detail(80, lambda i: 0)},
            ("downsample", 0.5): {"moving": _all(80)},
            ("random", 0.5): {"moving": _all(80)},
        }
    )
    assert "interval below 0: `downsample` wins" in "\n".join(headline(flipped))


# ----------------------------------------------------------------------------- 2: decode steps


@pytest.mark.parametrize("stop_token", ["<|im_end|>", "<|endoftext|>"])
def test_the_token_that_stopped_generation_is_counted_whichever_it_was(monkeypatch, stop_token):
    # a chat checkpoint's generation config ends on <|im_end|> or <|endoftext|>; the latter is
    # also the padding that fills a finished answer's row of the batch
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import numpy as np
    import torch

    from epvlm.evaluate import answer_selections
    from epvlm.prior import select_blocks
    from epvlm.processing import build_offline_processor, grid_for_size
    from epvlm.tiny import tiny_config, tiny_model

    proc = build_offline_processor(["what colour is it", "red", "blue"])
    tok = proc.tokenizer
    model = tiny_model(tiny_config(proc))
    end_of_text = tok.convert_tokens_to_ids("<|endoftext|>")
    assert tok.pad_token_id == end_of_text != tok.eos_token_id
    model.generation_config.eos_token_id = [tok.eos_token_id, end_of_text]
    stop = tok.convert_tokens_to_ids(stop_token)
    red, blue = tok.convert_tokens_to_ids(["red", "blue"])

    def generate(**batch):
        # the first answer stops after "red"; the second says "blue blue" and then stops
        tail = torch.tensor([[red, stop, end_of_text], [blue, blue, stop]])
        return torch.cat([batch["input_ids"], tail], dim=1)

    monkeypatch.setattr(model, "generate", generate)
    image = np.zeros((56, 56, 3), dtype=np.uint8)
    sel = select_blocks("dense", image, keep=1.0, grid=grid_for_size(proc, 56, 56))
    answers, details, _ = answer_selections(
        model, proc, [sel, sel], ["what colour is it"] * 2, [["red", "blue"]] * 2,
        max_new_tokens=3, warm_up=False,
    )  # fmt: skip
    assert answers == ["red", "blue blue"]
    assert [d["new_tokens"] for d in details] == [2, 3]


# ----------------------------------------------------------------------------- 3: plurals


def test_noun_follows_its_count():
    from eventsim._text import plural

    assert [plural(n, "question") for n in (0, 1, 2)] == ["questions", "question", "questions"]
    assert plural(1, "was", "were") == "was" and plural(3, "was", "were") == "were"


def test_one_question_reads_in_the_singular():
    from epvlm.demo.analysis import coverage_scope

    assert coverage_scope(1, 1) == "the 1 question"
    assert coverage_scope(4, 4) == "all 4 questions"
    # two questions, one of them a detail (pattern) question
    summary = _summary(
        {
            ("dense", 1.0): {"moving": _all(2)},
            ("event", 0.5): {"moving": _all(2)},
            ("random", 0.5): {"moving": _all(2)},
        }
    )
    summary["event_fallbacks"] = 1
    text = "\n".join(headline(summary) + findings(summary))
    assert "On the 1 detail question (pattern)," in text
    assert "On the 1 moving-target detail question," in text
    assert "on 2 questions" in text
    assert (
        "1 of 2 questions had no event in its window: `event` kept the blocks nearest the image "
        "centre for it (its fallback)" in text
    )
    assert not any(w in text for w in ("1 questions", "1 detail questions", "all 1 "))


def test_one_fallback_and_one_token_read_in_the_singular():
    from epvlm.results import results_table

    rows = aggregate(
        [
            {"id": "a", "selector": sel, "keep": keep, "correct": True, "flops": 1,
             "latency_s": 0.0, "kept_tokens": 1, "total_tokens": 1,
             "fallback": "center" if sel == "event" else None}
            for sel, keep in (("dense", 1.0), ("event", 0.5))
        ]
    )  # fmt: skip
    assert (
        "event at keep 0.5: 1 of 1 answer fell back to the center selection (no event signal "
        "in the sample's window), so it measures center, not the event prior."
    ) in results_table(rows)


def test_the_demo_says_how_many_questions_it_answered_in_the_right_number(
    tmp_path, monkeypatch, capsys
):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from types import SimpleNamespace

    import epvlm.demo
    from epvlm.cli import main

    def fake_demo(out, **kwargs):
        summary = {"scenarios": {"moving": 1}, "scenario_field": "target_motion",
                   "n_questions": 1, "rows": [{}] * 10}  # fmt: skip
        return SimpleNamespace(summary=summary, elapsed_s=1.0, report="r", results_json="j")

    monkeypatch.setattr(epvlm.demo, "run_demo", fake_demo)
    assert main(["demo", "-o", str(tmp_path / "demo"), "--limit", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "answered 1 question (target_motion: 1 moving) x 10 configurations in 1 s" in out


def test_an_interrupted_evaluation_of_one_answer_says_so_in_the_singular(tmp_path):
    from epvlm.evaluate import EvalInterrupted

    assert str(EvalInterrupted(tmp_path, 1, 1)).startswith("1 of 1 answer kept in ")
    assert str(EvalInterrupted(tmp_path, 1, 2)).startswith("1 of 2 answers kept in ")


@pytest.fixture(scope="module")
def built(tmp_path_factory, eval_setup):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return eval_setup(tmp_path_factory.mktemp("followups5"), 2, "events.window_ms=20")


def _eval(model, ds_dir, out, *extra) -> int:
    from epvlm.cli import main

    return main(["eval", "--model", str(model), "--dataset", str(ds_dir), "--keep", "0.5",
                 "--selector", "event", "--no-progress", "-o", str(out), *extra])  # fmt: skip


def test_a_budget_of_one_new_token_reads_in_the_singular(built, capsys):
    root, ds_dir, model_dir, _ = built
    out = root / "one-token"
    assert _eval(model_dir, ds_dir, out, "--max-new-tokens", "1") == 0
    capsys.readouterr()
    assert "of at most 1 new token; selection seed" in (out / "table.md").read_text()


# ----------------------------------------------------------------------------- 4: event window


def test_a_window_as_long_as_the_stored_one_takes_the_events_as_stored():
    # the dataset's window is [0, 20000] µs, both ends included: two events at 0 µs in the
    # top-left token, one at the frame in the bottom-right one
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import numpy as np

    from epvlm.evaluate import make_selection
    from epvlm.processing import build_offline_processor
    from eventsim.events import EVENT_DTYPE

    proc = build_offline_processor(["what colour is it", "red", "blue"])
    events = np.zeros(3, dtype=EVENT_DTYPE)
    events["x"] = events["y"] = [10, 10, 50]
    events["p"] = 1
    events["t"] = [0, 0, 20_000]
    sample = {
        "image": np.zeros((56, 56, 3), dtype=np.uint8),
        "events": events,
        "meta": {"frame_t_us": 20_000, "window_us": (0, 20_000), "sensor_size": (56, 56)},
    }

    def kept(window_ms):
        sel = make_selection(proc, sample, "event", 0.25, window_ms=window_ms)
        return sel.mask.tolist(), sel.fallback

    assert kept(None) == ([[True, False], [False, False]], None)
    assert kept(20) == kept(None)
    # a shorter window is a sub-window: the two events at 0 µs fall out of the last 19 ms
    assert kept(19) == ([[False, False], [False, True]], None)
