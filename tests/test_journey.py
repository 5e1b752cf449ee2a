"""A researcher's journey end to end: a short video and a JSONL split of their own, a TOML recipe,
`eventsim build`, then `epvlm eval` and `epvlm run` with tiny checkpoint folders laid out as the
Hub ships them (tests/test_epvlm_review3.py's `hub_checkpoint`). Each test pins a problem met on
that journey."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_epvlm_review3 import hub_checkpoint

from epvlm.cli import main as epvlm_main
from eventsim.cli import main as eventsim_main

from user_media import write_jsonl, write_video

RECIPE = """
[dataset]
name = "journey"
seed = 0

[source]
kind = "video"

[camera]
width = 80
height = 60

[simulator]
preset = "clean"

[events]
window_ms = 100.0

[splits]
test = "test.jsonl"
"""


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    root = tmp_path_factory.mktemp("journey")
    write_video(root / "clip.avi", fps=20, n_frames=30, step_px=2)
    questions = [
        {"video": "clip.avi", "time": 0.5, "question": "Which way does the square move?",
         "choices": ["left", "right"], "answer": "right"},
        {"video": "clip.avi", "time": 1.0, "question": "What colour is the square?",
         "choices": ["white", "black", "red"], "answer": "white"},
    ]  # fmt: skip
    write_jsonl(root / "test.jsonl", questions)
    (root / "recipe.toml").write_text(RECIPE)
    data = root / "data"
    assert eventsim_main(["build", str(root / "recipe.toml"), "-o", str(data)]) == 0
    model = hub_checkpoint(
        root / "Qwen2-VL-tiny", "qwen2_vl", tie=True, template="tokenizer_config"
    )
    return {"root": root, "data": data, "model": model}


def _strict_json(text: str):
    """json.loads that refuses NaN and Infinity, as JavaScript's JSON.parse does."""

    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_results_json_is_standard_json_when_a_ratio_is_undefined(journey, tmp_path, capsys):
    """A random tiny model answers nothing right, so every accuracy ratio to dense is undefined;
    results.json (and --json) wrote them as NaN, which strict JSON parsers refuse."""
    out = tmp_path / "eval"
    args = ["eval", "--model", str(journey["model"]), "--dataset", str(journey["data"])]
    args += ["--selector", "event", "--keep", "0.5", "-o", str(out), "--no-progress", "--json"]
    assert epvlm_main(args) == 0
    printed = _strict_json(capsys.readouterr().out)
    rows = _strict_json((out / "results.json").read_text())
    assert printed == rows
    dense, event = rows
    assert (dense["correct"], event["correct"]) == (0, 0)
    assert event["accuracy_vs_dense"] is None and event["accuracy_vs_dense_ci95"] == [None, None]
    assert 0 < event["flops_vs_dense"] < 1
    for line in (out / "samples.jsonl").read_text().splitlines():
        _strict_json(line)
