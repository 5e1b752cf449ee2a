"""The paper's protocol from a local copy: a parquet split in RealWorldQA's layout (sharded as on
the Hub) -> `eventsim build datasets/image-vqa.example.toml` (saccade ego-motion events) ->
`epvlm eval` with a tiny model whose tokenizer has a chat template, so the chat prompt path and
the benchmark scoring run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from epvlm.answers import score_answer  # noqa: E402
from epvlm.cli import main as epvlm_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTION = "Please answer directly with only the letter of the correct option and nothing else."

# RealWorldQA's own style: options inside the question, a letter as the answer; open questions
# answered with a word or number.
ROWS = [
    (
        "In which direction is the front wheel of the car on the right side facing?\n"
        f"A. Left\nB. Straight\nC. Right\n{INSTRUCTION}",
        "C",
    ),
    (f"Is the traffic light green?\nA. Yes\nB. No\n{INSTRUCTION}", "A"),
    (
        "How many cars are there in the image? "
        "Please answer directly with a single word or number.",
        "2",
    ),
    (f"Where is the red object?\nA. Left\nB. Center\nC. Right\n{INSTRUCTION}", "B"),
]


def _image(seed: int, w: int = 160, h: int = 120) -> bytes:
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    image = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    ok, png = cv2.imencode(".png", image)
    assert ok
    return png.tobytes()


def write_realworldqa_parquet(folder: Path) -> list[Path]:
    """Two shards named like the Hub's (data/test-0000k-of-00002.parquet), RealWorldQA schema:
    image {bytes, path}, question, answer."""
    folder.mkdir(parents=True)
    records = [
        {"image": {"bytes": _image(k), "path": f"{k}.png"}, "question": q, "answer": a}
        for k, (q, a) in enumerate(ROWS)
    ]
    paths = []
    for part, chunk in enumerate((records[:2], records[2:])):
        path = folder / f"test-{part:05d}-of-00002.parquet"
        pq.write_table(pa.Table.from_pylist(chunk), path)
        paths.append(path)
    return paths


def save_chat_model(out: Path, texts: list[str]) -> Path:
    from epvlm.processing import QWEN_STYLE_CHAT_TEMPLATE, build_offline_processor, vocab_from_texts
    from epvlm.tiny import tiny_config, tiny_model

    proc = build_offline_processor(vocab_from_texts(texts), chat_template=QWEN_STYLE_CHAT_TEMPLATE)
    model = tiny_model(tiny_config(proc), seed=1)
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from eventsim.cli.build import main as build_main

    root = tmp_path_factory.mktemp("rwqa")
    write_realworldqa_parquet(root / "RealWorldQA" / "data")
    ds_dir = root / "rwqa-events"
    rc = build_main(
        [
            str(ROOT / "datasets" / "image-vqa.example.toml"),
            "-o",
            str(ds_dir),
            "--set",
            f"splits.test={root / 'RealWorldQA' / 'data' / 'test-*.parquet'}",
            "--set",
            "camera.width=112",
            "--set",
            "camera.height=112",
            "--no-progress",
        ]
    )
    assert rc == 0
    model_dir = save_chat_model(root / "tiny-chat", [q for q, _ in ROWS] + [a for _, a in ROWS])
    return root, ds_dir, model_dir


def test_parquet_builds_into_saccade_events(built):
    from eventsim.datasets import EventVQADataset

    _, ds_dir, _ = built
    with EventVQADataset(ds_dir, split="test") as ds:
        assert len(ds) == len(ROWS)
        for i, (question, answer) in enumerate(ROWS):
            s = ds[i]
            assert s["question"] == question and s["answer"] == answer
            assert s["choices"] == [] and s["image"].shape == (112, 112, 3)
            assert len(s["events"]) > 0 and s["meta"]["motion"] == "saccade"
            # options in the question and a letter answer: multiple choice, as it is scored
            expected = "open" if answer == "2" else "multiple-choice"
            assert s["question_type"] == expected
        files = {r["source"]["file"] for r in ds.records}
        assert len(files) == 2  # both shards were read


def test_eval_runs_the_chat_path_and_scores_like_a_harness(built, capsys):
    root, ds_dir, model_dir = built
    out = root / "eval"
    argv = [
        "eval",
        "--model",
        str(model_dir),
        "--dataset",
        str(ds_dir),
        "--selector",
        "event,random",
        "--keep",
        "0.5",
        "--batch-size",
        "3",
        "--device",
        "cpu",
        "--dtype",
        "auto",
        "--no-progress",
        "-o",
        str(out),
    ]
    assert epvlm_main(argv) == 0
    capsys.readouterr()
    rows = json.loads((out / "results.json").read_text())
    assert [(r["selector"], r["keep"]) for r in rows] == [
        ("dense", 1.0),
        ("event", 0.5),
        ("random", 0.5),
    ]
    for r in rows:
        assert r["prompt_format"] == "chat"
        assert r["answer_modes"] == {"choice": 3, "free": 1}
        assert 0 <= r["unparsed"] <= 3
        assert 0.0 <= r["accuracy"] <= r["contains_accuracy"] <= 1.0
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == len(ROWS) * len(rows)
    questions = dict(ROWS)
    by_answer = {a: q for q, a in ROWS}
    for s in samples:
        assert s["prompt_format"] == "chat"
        question = by_answer[s["answer"]]
        assert question in questions
        again = score_answer(s["raw_output"], s["answer"], [], question)
        assert (s["correct"], s["parsed"], s["answer_mode"]) == (
            again.correct,
            again.parsed,
            again.mode,
        )
        assert s["answer_mode"] == ("free" if s["answer"] == "2" else "choice")
    assert "chat prompt format" in (out / "table.md").read_text()
    # chat checkpoints may answer in a sentence: the budget is not the longest option's length
    from epvlm.evaluate import CHAT_MAX_NEW_TOKENS
    from epvlm.processing import load_processor

    tok = load_processor(model_dir).tokenizer
    lengths = [len(tok(s["raw_output"], add_special_tokens=False)["input_ids"]) for s in samples]
    assert max(lengths) <= CHAT_MAX_NEW_TOKENS
    assert max(lengths) > 3  # longer than any option ("straight" + <|im_end|>)


def test_plain_format_can_be_forced(built, capsys):
    root, ds_dir, model_dir = built
    out = root / "eval-plain"
    argv = [
        "eval",
        "--model",
        str(model_dir),
        "--dataset",
        str(ds_dir),
        "--selector",
        "dense",
        "--limit",
        "2",
        "--prompt-format",
        "plain",
        "--no-progress",
        "--json",
        "-o",
        str(out),
    ]
    assert epvlm_main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["prompt_format"] == "plain"
