"""Round 9: what `epvlm run` and `epvlm eval` print when the model's answers say nothing the
scorer can read. `run` printed a bare "answer: " for an open question the model answered with
only its end-of-turn token; `eval` showed 0.0 % rows, with results.json's ``unparsed`` the only
trace, when every answer named no option (the shipped demo model asked shapes-vqa's questions
answers with colours and patterns). `run` without --events and the default selector named
neither."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import build_eval_dataset

import epvlm.evaluate
from epvlm.cli import main
from epvlm.results import aggregate, results_table
from eventsim.events import EVENT_DTYPE
from eventsim.io import write_events

TINY = Path(__file__).resolve().parents[1] / "epvlm" / "assets" / "shapes-demo-tiny"
QUESTION = "What colour is the coloured object?"


def write_run_files(root: Path) -> tuple[Path, Path]:
    """A 224x224 image (8x8 tokens) with a red square and events on the square alone in the
    50 ms before 0.5 s, written into ``root``."""
    import cv2

    image = np.full((224, 224, 3), 90, np.uint8)
    image[100:120, 100:120] = (0, 0, 255)
    cv2.imwrite(str(root / "a.png"), image)
    rng = np.random.default_rng(0)
    ev = np.zeros(3000, EVENT_DTYPE)
    ev["x"] = rng.integers(95, 125, ev.size)
    ev["y"] = rng.integers(95, 125, ev.size)
    ev["t"] = np.sort(rng.integers(450_000, 500_000, ev.size))
    ev["p"] = rng.integers(0, 2, ev.size)
    write_events(root / "ev.npy", ev, sensor_size=(224, 224))
    return root / "a.png", root / "ev.npy"


@pytest.fixture(scope="module")
def run_files(tmp_path_factory) -> tuple[Path, Path]:
    return write_run_files(tmp_path_factory.mktemp("round9-run"))


@pytest.fixture
def silent_model(monkeypatch):
    """The model's generation replaced by its end-of-turn token alone (counts kept)."""
    real = epvlm.evaluate.answer_selections

    def answer(*args, **kw):
        answers, counts, seconds = real(*args, **kw)
        for cnt in counts:
            cnt["raw"] = "<|im_end|>"
        return answers, counts, seconds

    monkeypatch.setattr(epvlm.evaluate, "answer_selections", answer)


def _run(run_files, *extra: str) -> None:
    image, events = run_files
    argv = [
        "run", "--model", str(TINY), "--image", str(image), "--events", str(events),
        "--frame-time-us", "500000", "--window-ms", "50", "--question", QUESTION,
        "--keep", "0.5", *extra,
    ]  # fmt: skip
    assert main(argv) == 0


def test_run_says_when_an_open_question_got_no_text(run_files, silent_model, capsys):
    _run(run_files)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "answer: (none: the model generated no text)"
    assert lines[1] == "raw output: '<|im_end|>'"


def test_run_says_when_a_choice_question_got_no_text(run_files, silent_model, capsys):
    _run(run_files, "--choices", "red,green,blue")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "answer: (none: the model generated no text)"
    assert lines[1] == "raw output (names no option): '<|im_end|>'"


def test_run_prints_an_answer_as_before(run_files, capsys):
    _run(run_files)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("answer: ") and "none" not in lines[0]
    assert not any(line.startswith("raw output") for line in lines)
    _run(run_files, "--json")
    result = json.loads(capsys.readouterr().out)
    assert result["answer"] and result["parsed"] is None


def test_run_without_events_names_the_default_selector_and_the_others(run_files, capsys):
    image, _ = run_files
    argv = ["run", "--model", str(TINY), "--image", str(image), "--question", QUESTION]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "the event selector (the default) needs --events FILE" in err
    assert "--selector edges, random, downsample, center or dense" in err


# ------------------------------------------------------------------------- eval: unparsed


@pytest.fixture(scope="module")
def unanswerable(tmp_path_factory) -> Path:
    """A shapes-vqa split: the demo model answers its shape, motion and count questions with
    colours and patterns, none of them an option."""
    return build_eval_dataset(tmp_path_factory.mktemp("round9-eval"), 4)


def test_eval_warns_and_tables_answers_that_named_no_option(unanswerable, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = [
        "eval", "--model", str(TINY), "--dataset", str(unanswerable), "--selector", "event",
        "--keep", "0.5", "--no-progress", "-o", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    rows = json.loads((out / "results.json").read_text())
    assert [r["unparsed"] for r in rows] == [4, 4]
    warning = [line for line in captured.err.splitlines() if "warning" in line]
    assert len(warning) == 1
    assert warning[0].startswith(
        "epvlm eval: warning: 8 of 8 answers across all 2 configurations (100.0 %) named no option"
    )
    # two of the generations, with the question and the options they answered
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert repr(samples[0]["raw_output"]) in warning[0]
    asked = json.loads((unanswerable / "samples.jsonl").read_text().splitlines()[0])
    options = ", ".join(map(repr, asked["choices"]))
    assert f"to {asked['question']!r} with options {options}" in warning[0]
    assert "samples.jsonl's raw_output" in warning[0]
    for table in (captured.out, (out / "table.md").read_text()):
        assert "| named no option |" in table
        assert table.count("| 4 of 4 (100.0 %) |") == 2
        assert "Note: named no option: the multiple-choice answers" in table


def test_eval_json_keeps_its_stdout_and_warns_on_stderr(unanswerable, tmp_path, capsys):
    argv = [
        "eval", "--model", str(TINY), "--dataset", str(unanswerable), "--selector", "dense",
        "--no-progress", "-o", str(tmp_path / "eval"), "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["unparsed"] == 4
    assert "epvlm eval: warning: 4 of 4 answers (100.0 %)" in captured.err


def _answers(selector: str, keep: float, n: int, unparsed: int, mode: str = "choice") -> list:
    return [
        {
            "id": f"q{i}", "selector": selector, "keep": keep, "correct": i >= unparsed,
            "answer_mode": mode, "parsed": None if i < unparsed else "A",
            "prediction": "" if i < unparsed else "red",
            "raw_output": "yellow" if i < unparsed else "A", "flops": 10, "latency_s": 0.1,
            "kept_tokens": 4, "total_tokens": 8,
        }
        for i in range(n)
    ]  # fmt: skip


def test_the_warning_names_only_the_configurations_over_the_share():
    from epvlm.evaluate import unreadable_answers_warning

    # (where dense ran, only when its answers come to the share: tests/test_epvlm_round9b_walk.py)
    samples = [
        *_answers("dense", 1.0, 8, 2),
        *_answers("event", 0.5, 8, 2),
        *_answers("event", 0.25, 8, 1),
    ]
    asked = {f"q{i}": ("Left or right?", ["left", "right"]) for i in range(8)}
    text = unreadable_answers_warning(samples, asked)
    assert text is not None
    assert text.startswith(
        "4 of 16 answers (25.0 %) in dense at keep 1 (2 of 8), event at keep 0.5 (2 of 8) "
        "named no option"
    )
    assert "'yellow' to 'Left or right?' with options 'left', 'right' (sample 'q0')" in text
    # one example per distinct generation
    assert text.count("'yellow'") == 1
    assert unreadable_answers_warning([*_answers("event", 0.5, 8, 1)], asked) is None
    # an open question answered with nothing
    free = _answers("dense", 1.0, 2, 2, mode="free")
    assert "2 of 2 answers (100.0 %) in dense at keep 1 held no text" in str(
        unreadable_answers_warning(free, {})
    )
    # a long generation and question are cut short in the one line
    long = [{**_answers("dense", 1.0, 1, 1)[0], "raw_output": "x" * 500}]
    text = str(unreadable_answers_warning(long, {"q0": ("why? " * 100, ["a", "b"])}))
    assert "'" + "x" * 77 + "...'" in text and len(text) < 500


def test_the_table_adds_the_column_only_when_an_answer_named_no_option():
    rows = aggregate([*_answers("dense", 1.0, 4, 0), *_answers("event", 0.5, 4, 3)])
    # aggregate counts them from the answers as epvlm.evaluate does (round 11)
    assert [(r["unparsed"], r["answer_modes"]) for r in rows] == [
        (0, {"choice": 4, "free": 0}),
        (3, {"choice": 4, "free": 0}),
    ]
    for row in rows:
        row["unparsed"] = 0
    plain = results_table(rows)
    assert "named no option" not in plain
    for row, unparsed in zip(rows, (0, 3)):
        row["unparsed"] = unparsed
        row["answer_modes"] = {"choice": 4, "free": 0}
    table = results_table(rows)
    assert "| named no option |" in table
    assert "| 0 of 4 (0.0 %) |" in table and "| 3 of 4 (75.0 %) |" in table
    assert table.count("\n|") == len(rows) + 1
    # all rows at 0 (as every row of a good run): the table is as before
    for row in rows:
        row["unparsed"] = 0
    assert results_table(rows) == plain


# ------------------------------------------------------------------------- audit


def test_eval_of_an_empty_split_names_the_splits_that_hold_samples(unanswerable, tmp_path, capsys):
    argv = ["eval", "--model", str(TINY), "--dataset", str(unanswerable), "--split", "val"]
    assert main([*argv, "--no-progress", "-o", str(tmp_path / "eval")]) == 1
    err = capsys.readouterr().err
    assert f"split 'val' of {str(unanswerable)!r} has no samples (test has 4)" in err


@pytest.mark.parametrize(
    ("hw", "resized"),
    [
        (("10", "10"), " (resized to H 56 x W 56 px: multiples of 28 px within the pixel budget)"),
        (("10000", "10000"), " (resized to H 3556 x W 3556 px: multiples of 28 px within the"),
        (("448", "448"), " -> 16x16 = 256 image tokens"),
    ],
)
def test_flops_says_the_size_the_processor_resizes_to(capsys, hw, resized):
    assert main(["flops", "--image-hw", *hw]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert f"image H {hw[0]} x W {hw[1]} px{resized}" in first
