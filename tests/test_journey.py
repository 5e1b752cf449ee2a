"""A researcher's journey end to end: a short video and a JSONL split of their own, a TOML recipe,
`eventsim build`, then `epvlm eval` and `epvlm run` with tiny checkpoint folders laid out as the
Hub ships them (tests/test_epvlm_review3.py's `hub_checkpoint`). Each test pins a problem met on
that journey."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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
        {"id": "q-move", "video": "clip.avi", "time": 0.5, "question": "Which way does the square move?",
         "choices": ["left", "right"], "answer": "right"},
        {"id": "q-colour", "video": "clip.avi", "time": 1.0, "question": "What colour is the square?",
         "choices": ["white", "black", "red"], "answer": "white"},
        {"id": "q-size", "video": "clip.avi", "time": 1.2, "question": "How many pixels does it cover?",
         "choices": ["1,000", "2,000"], "answer": "2,000"},
    ]  # fmt: skip
    write_jsonl(root / "test.jsonl", questions)
    (root / "recipe.toml").write_text(RECIPE)
    data = root / "data"
    assert eventsim_main(["build", str(root / "recipe.toml"), "-o", str(data)]) == 0
    model = hub_checkpoint(
        root / "Qwen2-VL-tiny", "qwen2_vl", tie=True, template="tokenizer_config"
    )
    says_b = hub_checkpoint(
        root / "Qwen2.5-VL-tiny-B", "qwen2_5_vl", tie=False, template="chat_template.json"
    )
    _always_answer(says_b, "B")
    return {"root": root, "data": data, "model": model, "says_b": says_b}


def _always_answer(model: Path, text: str) -> None:
    """Make a random checkpoint answer ``text`` then end its turn, through the Hub file a
    checkpoint ships for that (generation_config.json's sequence_bias), so answers are scored
    right or wrong on purpose and stock transformers generates the same."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model))
    ids = tok(text)["input_ids"]
    path = model / "generation_config.json"
    config = json.loads(path.read_text())
    config["sequence_bias"] = [[ids, 100.0], [[*ids, tok.eos_token_id], 200.0]]
    path.write_text(json.dumps(config))


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


def test_run_takes_a_datasets_options_that_hold_commas(journey, tmp_path, capsys):
    """Replaying a dataset question with `epvlm run` needs its options as they are; a comma in
    one ("1,000") split it into two, so run answered with another option than eval did. A JSON
    list (samples.jsonl's form) keeps them whole."""
    from PIL import Image

    from eventsim.datasets import EventVQADataset

    out = tmp_path / "eval"
    args = ["eval", "--model", str(journey["says_b"]), "--dataset", str(journey["data"])]
    assert epvlm_main([*args, "--selector", "dense", "-o", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    (row,) = _strict_json((out / "results.json").read_text())
    assert (row["n"], row["correct"]) == (3, 2)  # "right" and "2,000" are option B
    answers = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    with EventVQADataset(journey["data"], split="test") as ds:
        index = next(i for i in range(len(ds)) if "1,000" in ds[i]["choices"])
        sample = ds[index]
    evaluated = next(a for a in answers if a["id"] == sample["id"])
    assert evaluated["prediction"] == "2,000" and evaluated["correct"]
    image = tmp_path / "frame.png"
    Image.fromarray(np.ascontiguousarray(sample["image"])).save(image)
    run = ["run", "--model", str(journey["says_b"]), "--image", str(image), "--selector", "dense"]
    run += ["--question", sample["question"], "--choices", json.dumps(sample["choices"]), "--json"]
    assert epvlm_main(run) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["answer"], result["parsed"]) == (evaluated["prediction"], "B")
    assert result["raw_output"] == evaluated["raw_output"]


@pytest.mark.parametrize("family", ["model", "says_b"])
def test_dense_answers_equal_the_stock_class_on_the_hub_prompt(journey, tmp_path, family):
    """`epvlm eval`'s dense answers are what the stock transformers class generates from the
    checkpoint's own chat template (its default system turn), image processor and
    generation_config.json (its sequence_bias and repetition_penalty), built here without
    epvlm's prompt code."""
    import torch
    from PIL import Image
    from transformers import (
        AutoImageProcessor,
        AutoTokenizer,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLForConditionalGeneration,
    )

    from epvlm.processing import question_text
    from eventsim.datasets import EventVQADataset

    model_dir = journey[family]
    out = tmp_path / "eval"
    args = ["eval", "--model", str(model_dir), "--dataset", str(journey["data"])]
    assert epvlm_main([*args, "--selector", "dense", "-o", str(out), "--no-progress"]) == 0
    evaluated = {
        a["id"]: a for a in map(json.loads, (out / "samples.jsonl").read_text().splitlines())
    }
    config = json.loads((model_dir / "config.json").read_text())
    cls = {
        "qwen2_vl": Qwen2VLForConditionalGeneration,
        "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration,
    }[config["model_type"]]
    stock = cls.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    images = AutoImageProcessor.from_pretrained(str(model_dir))
    template = tok.chat_template
    if template is None:
        template = json.loads((model_dir / "chat_template.json").read_text())["chat_template"]
    pad = "<|image_pad|>"
    with EventVQADataset(journey["data"], split="test") as ds:
        samples = [ds[i] for i in range(len(ds))]
    for s in samples:
        user = [
            {"type": "image"},
            {"type": "text", "text": question_text(s["question"], s["choices"])},
        ]
        text = tok.apply_chat_template(
            [{"role": "user", "content": user}],
            chat_template=template,
            tokenize=False,
            add_generation_prompt=True,
        )
        pixels = images(images=[Image.fromarray(s["image"])], return_tensors="pt")
        text = text.replace(pad, pad * (int(pixels["image_grid_thw"].prod()) // 4))
        inputs = dict(tok([text], return_tensors="pt"), **pixels)
        inputs["mm_token_type_ids"] = (inputs["input_ids"] == tok.convert_tokens_to_ids(pad)).long()
        with torch.no_grad():
            # greedy, as epvlm decodes: the Hub's top_k=1 sampling breaks exact logit ties
            # (common in bfloat16) another way
            out_ids = stock.generate(**inputs, max_new_tokens=32, do_sample=False)
        new = out_ids[0, inputs["input_ids"].shape[1] :].tolist()
        if tok.eos_token_id in new:
            new = new[: new.index(tok.eos_token_id) + 1]
        assert tok.decode(new) == evaluated[s["id"]]["raw_output"], s["id"]


def test_answers_name_the_split_files_own_question_ids(journey, tmp_path):
    """samples.jsonl's ids are the dataset's (test-000000...); the researcher's own ids from the
    split file come along as source_id, so answers join back to their questions."""
    out = tmp_path / "eval"
    args = ["eval", "--model", str(journey["model"]), "--dataset", str(journey["data"])]
    assert epvlm_main([*args, "--selector", "dense", "-o", str(out), "--no-progress"]) == 0
    answers = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert sorted(a["source_id"] for a in answers) == ["q-colour", "q-move", "q-size"]


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ('["1,000", "2,000"]', ["1,000", "2,000"]),
        ("red, green", ["red", "green"]),
        ("[A] red,[B] blue", ["[A] red", "[B] blue"]),  # split on commas before JSON lists too
    ],
)
def test_choices_take_json_lists_and_comma_lists(text, options):
    from epvlm.cli import _choices_arg

    assert _choices_arg(text) == options


@pytest.mark.parametrize("text", ['["1,000", "2,000"', '["a", ""]', "[1, 2]", "red,,blue", "  "])
def test_choices_that_are_neither_are_refused(text):
    import argparse

    from epvlm.cli import _choices_arg

    with pytest.raises(argparse.ArgumentTypeError):
        _choices_arg(text)
