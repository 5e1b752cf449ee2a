"""Round 9b: a researcher's walk through EP-VLM. The eval table printed a 2B model's GFLOPs as
``2.27e+03`` and mixed ``0.76`` with ``0.393``; `epvlm flops` printed a tiny model's parts as
0.0 and 0.1. `epvlm run` took ``--choices red,red``, printed ``64 of 64 tokens kept (event,
keep 0.25)`` under --rule quantile without saying why, and a window ``[0, 1) µs`` for a file of
no events (refusing it with --frame-time-us as a window outside a recording [0, 0]). The edges
selector's plot label and help said RGB gradients (it scores the luma's). `epvlm eval` had no
--threads. The answers warning fired on `epvlm demo`'s own dataset, where only downsampled
configurations named patterns outside the options. README shows how to build a tiny checkpoint
(tests/test_epvlm_round9_output.py holds the warning's first tests)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import build_eval_dataset
from test_epvlm_round9_output import write_run_files

from epvlm.cli import build_run_parser, main
from epvlm.results import LABELS, aggregate, results_table
from eventsim.events import EVENT_DTYPE
from eventsim.io import write_events

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "epvlm" / "assets" / "shapes-demo-tiny"
QUESTION = "What colour is the coloured object?"


@pytest.fixture(scope="module")
def run_files(tmp_path_factory) -> tuple[Path, Path, Path]:
    """round 9's image and events (`write_run_files`), and a file of no events."""
    root = tmp_path_factory.mktemp("round9b-run")
    image, events = write_run_files(root)
    write_events(root / "empty.h5", np.zeros(0, EVENT_DTYPE), sensor_size=(224, 224))
    return image, events, root / "empty.h5"


def _run(image: Path, events: Path | None, *extra: str) -> None:
    argv = ["run", "--model", str(TINY), "--image", str(image), "--question", QUESTION]
    if events is not None:
        argv += ["--events", str(events)]
    assert main([*argv, *extra]) == 0


def _out(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


# ----------------------------------------------------------------------------- GFLOPs


def _rows(flops: list[float]) -> list[dict]:
    samples = [
        {
            "id": "q0", "selector": sel, "keep": keep, "correct": True, "flops": f,
            "latency_s": 0.1, "kept_tokens": 4, "total_tokens": 8,
        }
        for (sel, keep), f in zip((("dense", 1.0), ("event", 0.5), ("event", 0.25)), flops)
    ]  # fmt: skip
    return aggregate(samples)


def _gflops_cells(table: str) -> list[str]:
    lines = [line for line in table.splitlines() if line.startswith("|")]
    at = [c.strip() for c in lines[0].strip("|").split("|")].index("GFLOPs")
    return [[c.strip() for c in line.strip("|").split("|")][at] for line in lines[2:]]


def test_the_eval_table_prints_gflops_without_an_exponent_and_with_one_decimal_count():
    # a 2B model: 2.27e+03 before
    assert _gflops_cells(results_table(_rows([2.2702e12, 1.1351e12, 0.5876e12]))) == [
        "2,270",
        "1,135",
        "588",
    ]
    # the tiny model: 0.76 beside 0.393 before
    assert _gflops_cells(results_table(_rows([0.76e9, 0.5e9, 0.393e9]))) == [
        "0.760",
        "0.500",
        "0.393",
    ]
    from epvlm.results import fmt_gflops

    assert fmt_gflops([2.25e12, 8.72e9, 0.0]) == ["2,250.00", "8.72", "0.00"]


def _flops_table(capsys, *argv: str) -> dict[str, list[str]]:
    assert main(["flops", *argv]) == 0
    lines = _out(capsys)
    return {
        line[:16].strip(): line[16:].split()
        for line in lines
        if line.startswith(("vision", "merger", "LLM", "decode", "total"))
    }


def test_flops_prints_a_small_models_parts_readably(capsys):
    table = _flops_table(capsys, "--config", str(TINY), "--new-tokens", "4")
    cells = [c for row in table.values() for c in row]
    assert len(cells) == 10
    # each non-zero part with at least 3 significant digits, all with one decimal count
    for cell in cells:
        digits = cell.replace(",", "").replace(".", "").lstrip("0")
        assert len(digits) >= 3, cell
    assert len({len(c.split(".")[1]) for c in cells}) == 1
    assert table["merger GFLOPs"][0].startswith("0.20")
    # a 2B model's figures keep their sense, thousands separated
    table = _flops_table(capsys)
    assert re.fullmatch(r"1,4\d\d\.\d\d", table["vision GFLOPs"][0])


# ----------------------------------------------------------------------------- run


@pytest.mark.parametrize("choices", ["red,red", "red, green , red", '["red", " red "]'])
def test_run_refuses_an_option_given_twice(run_files, capsys, choices):
    image, events, _ = run_files
    argv = ["run", "--model", str(TINY), "--image", str(image), "--events", str(events)]
    assert main([*argv, "--question", QUESTION, "--choices", choices]) == 2
    err = capsys.readouterr().err
    assert "lists the option 'red' more than once" in err


def test_run_says_why_quantile_kept_every_token(run_files, capsys):
    image, events, _ = run_files
    _run(image, events, "--rule", "quantile", "--keep", "0.25")
    tokens = next(line for line in _out(capsys) if line.startswith("tokens:"))
    assert tokens == (
        "tokens: 64 of 64 image tokens kept (event, keep 0.25); --rule quantile keeps every "
        "block scoring at or above its threshold, ties included, so all of them, as 60 of "
        "the 64 blocks saw no event"
    )
    # random takes the event prior's count, and the reason with it
    _run(image, events, "--rule", "quantile", "--keep", "0.25", "--selector", "random")
    tokens = next(line for line in _out(capsys) if line.startswith("tokens:"))
    assert tokens.startswith(
        "tokens: 64 of 64 image tokens kept (random, keep 0.25); as many as the event prior "
        "kept (--rule quantile; it keeps every block scoring at or above its threshold"
    )
    assert tokens.endswith("as 60 of the 64 blocks saw no event)")
    _run(image, None, "--rule", "quantile", "--keep", "0.25", "--selector", "edges")
    tokens = next(line for line in _out(capsys) if line.startswith("tokens:"))
    assert tokens.endswith("so all of them, as 60 of the 64 blocks are flat (no luma gradient)")
    # top-k keeps its keep: nothing to explain
    _run(image, events, "--keep", "0.25")
    tokens = next(line for line in _out(capsys) if line.startswith("tokens:"))
    assert tokens == "tokens: 16 of 64 image tokens kept (event, keep 0.25)"


@pytest.mark.parametrize("extra", [(), ("--frame-time-us", "500000"), ("--window-ms", "50")])
def test_run_says_a_file_holds_no_events(run_files, capsys, extra):
    image, _, empty = run_files
    _run(image, empty, *extra)
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert f"events: none, {str(empty)!r} holds no events; plain prompt format" in lines
    assert not any("window [" in line for line in lines)
    assert "no events in the window, fell back to center" in captured.out
    # no note of a window cut at a first event the file does not have
    assert "first event" not in captured.err
    _run(image, empty, "--json", *extra)
    result = json.loads(capsys.readouterr().out)
    assert result["event_window_us"] is None and result["fallback"] == "center"


# ----------------------------------------------------------------------------- edges labels


def test_the_edges_label_and_help_say_luma_gradients():
    assert LABELS["edges"] == "edges (luma gradients)"
    text = " ".join(build_run_parser().format_help().split())
    assert "strongest gradients of the image's luma (no events)" in text
    assert "RGB only" not in text


# ----------------------------------------------------------------------------- eval --threads


@pytest.fixture(scope="module")
def eval_dataset(tmp_path_factory) -> Path:
    return build_eval_dataset(tmp_path_factory.mktemp("round9b-eval"), 2)


def test_eval_takes_threads_as_demo_does(eval_dataset, tmp_path, capsys, monkeypatch):
    import torch

    calls: list[int] = []
    # the process's torch threads stay as they were for the other tests
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    argv = [
        "eval", "--model", str(TINY), "--dataset", str(eval_dataset), "--selector", "dense",
        "--no-progress",
    ]  # fmt: skip
    assert main([*argv, "-o", str(tmp_path / "a"), "--threads", "1"]) == 0
    assert calls == [1]
    capsys.readouterr()
    assert main([*argv, "-o", str(tmp_path / "b"), "--threads", "0"]) == 2
    assert "--threads: 0 must be 1.." in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    # without it, torch's own count
    assert main([*argv, "-o", str(tmp_path / "c")]) == 0
    assert calls == [1]


# ----------------------------------------------------------------------------- warning


def _answers(selector: str, keep: float, n: int, unparsed: int) -> list[dict]:
    return [
        {
            "id": f"q{i}", "selector": selector, "keep": keep, "correct": i >= unparsed,
            "answer_mode": "choice", "parsed": None if i < unparsed else "A",
            "prediction": "horizontal" if i < unparsed else "plain",
            "raw_output": "horizontal" if i < unparsed else "A",
        }
        for i in range(n)
    ]  # fmt: skip


def test_the_answers_warning_judges_the_model_by_its_dense_answers():
    from epvlm.evaluate import unreadable_answers_warning

    asked = {f"q{i}": ("What pattern?", ["vertical", "plain"]) for i in range(8)}
    # dense reads fine: a downsampled row naming patterns outside the options is its accuracy
    samples = [*_answers("dense", 1.0, 8, 0), *_answers("downsample", 0.25, 8, 2)]
    assert unreadable_answers_warning(samples, asked) is None
    # dense does not: the model does not answer in a form the scorer reads
    samples = [
        *_answers("dense", 1.0, 8, 4),
        *_answers("event", 0.25, 8, 0),
        *_answers("downsample", 0.25, 8, 2),
    ]
    text = str(unreadable_answers_warning(samples, asked))
    assert text.startswith(
        "6 of 16 answers (37.5 %) in dense at keep 1 (4 of 8), downsample at keep 0.25 (2 of 8) "
        "named no option"
    )
    # one configuration over the share: its count is said once
    samples = [*_answers("dense", 1.0, 8, 2), *_answers("event", 0.25, 8, 0)]
    assert str(unreadable_answers_warning(samples, asked)).startswith(
        "2 of 8 answers (25.0 %) in dense at keep 1 named no option, and scored wrong"
    )
    # without dense, every configuration is judged
    text = str(unreadable_answers_warning(_answers("event", 0.5, 8, 2), asked))
    assert text.startswith("2 of 8 answers (25.0 %) in event at keep 0.5 named no option")


def test_the_demo_on_its_own_dataset_prints_no_answers_warning(tmp_path, capsys):
    from epvlm.cli import demo_main

    out = tmp_path / "demo"
    assert demo_main(["-o", str(out), "--limit", "24", "--no-progress"]) == 0
    assert "warning" not in capsys.readouterr().err
    rows = json.loads((out / "results.json").read_text())
    dense = next(r for r in rows if r["selector"] == "dense")
    assert dense["unparsed"] == 0
    # downsampled answers name patterns outside the options (before, a warning line for them)
    assert any(r["unparsed"] for r in rows)


# ----------------------------------------------------------------------------- README


def test_the_readme_builds_a_tiny_checkpoint_as_written(run_files, tmp_path, monkeypatch, capsys):
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(ln for ln in readme.splitlines() if "save_tiny_checkpoint(" in ln)
    words = shlex.split(line)
    assert words[:2] == ["python", "-c"]
    monkeypatch.chdir(tmp_path)
    exec(words[2], {})  # the README line, as python -c runs it
    run = next(ln for ln in readme.splitlines() if ln.startswith("epvlm run --model tiny-vlm"))
    args = shlex.split(run)[1:]
    image, _, _ = run_files
    args[args.index("frame.png")] = str(image)
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("answer: ")
