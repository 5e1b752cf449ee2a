"""The shipped demonstration model: loads like any Qwen2-VL checkpoint and gives its recorded
answers on fixed samples (golden outputs, drawn from the demo recipe's scene generator)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch

from epvlm.demo import DEFAULT_MODEL
from epvlm.prior import keep_mask_random
from epvlm.processing import encode_batch, grid_for_size, load_processor, normalize_answer

GOLDEN_SEEDS = tuple(range(900, 912))
# seed -> (dense answer, answer with a seeded random quarter of the image tokens kept)
GOLDEN: dict[int, tuple[str, str]] = {
    900: ("cyan", "green"),  # colour, moving target
    901: ("orange", "green"),  # colour, moving
    902: ("plain", "plain"),  # pattern (truth: plain), moving
    903: ("vertical", "plain"),  # pattern (vertical), moving
    904: ("vertical", "vertical"),  # pattern (vertical), static
    905: ("purple", "purple"),  # colour, camera motion
    906: ("horizontal", "horizontal"),  # pattern (horizontal), camera motion
    907: ("yellow", "yellow"),  # colour, static
    908: ("horizontal", "plain"),  # pattern (horizontal), camera motion
    909: ("dots", "dots"),  # pattern (dots), moving
    910: ("orange", "orange"),  # colour, camera motion
    911: ("plain", "plain"),  # pattern (plain), moving
}


@pytest.fixture(scope="module")
def shipped():
    from epvlm.modeling import EPQwen2VLForConditionalGeneration

    proc = load_processor(DEFAULT_MODEL)
    model = EPQwen2VLForConditionalGeneration.from_pretrained(str(DEFAULT_MODEL)).eval()
    return model, proc


@pytest.fixture(scope="module")
def golden_samples():
    from eventsim.datasets import load_recipe
    from eventsim.datasets.scenes import draw_sample

    cfg = load_recipe("shapes-demo").scene_config()
    return [draw_sample(cfg, seed, render_frames=False) for seed in GOLDEN_SEEDS]


def _answer(model, proc, samples, masks=None):
    batch = encode_batch(
        proc,
        [s.image for s in samples],
        [s.question for s in samples],
        [s.choices for s in samples],
        keep_masks=masks,
    )
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=4, do_sample=False)
    from epvlm.processing import decode_answers

    return [normalize_answer(a) for a in decode_answers(proc, out, batch["input_ids"].shape[1])]


def _random_masks(proc, samples):
    grid = grid_for_size(proc, *samples[0].image.shape[:2])
    return [keep_mask_random(grid, 0.25, seed) for seed in GOLDEN_SEEDS]


def test_golden_answers(shipped, golden_samples):
    model, proc = shipped
    dense = _answer(model, proc, golden_samples)
    sparse = _answer(model, proc, golden_samples, _random_masks(proc, golden_samples))
    got = {seed: (d, s) for seed, d, s in zip(GOLDEN_SEEDS, dense, sparse)}
    assert got == GOLDEN
    # the recorded answers are those of a model that reads the image, not arbitrary strings:
    # dense, every colour and every pattern is right; with a random quarter of the tokens the
    # model answers "plain" or a wrong colour where the dropped tokens held the small target
    truth = [normalize_answer(s.answer) for s in golden_samples]
    assert dense == truth
    assert {s.question_type for s in golden_samples} == {"color", "pattern"}
    assert sum(d != t for d, t in zip(sparse, truth)) >= 1


def test_keep_all_mask_equals_dense(shipped, golden_samples):
    model, proc = shipped
    grid = grid_for_size(proc, *golden_samples[0].image.shape[:2])
    full = [np.ones(grid, dtype=bool)] * len(golden_samples)
    assert _answer(model, proc, golden_samples, full) == _answer(model, proc, golden_samples)


def test_loads_through_the_stock_qwen2vl_path(shipped, golden_samples):
    """The checkpoint is a plain Qwen2-VL checkpoint: transformers' own class loads it with no
    missing or unexpected weights and computes the same dense logits."""
    from transformers import AutoConfig, Qwen2VLForConditionalGeneration

    config = AutoConfig.from_pretrained(str(DEFAULT_MODEL))
    assert config.model_type == "qwen2_vl"
    stock, info = Qwen2VLForConditionalGeneration.from_pretrained(
        str(DEFAULT_MODEL), output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"]
    model, proc = shipped
    s = golden_samples[:2]
    batch = encode_batch(
        proc, [x.image for x in s], [x.question for x in s], [x.choices for x in s]
    )
    batch.pop("image_keep_mask")
    with torch.no_grad():
        a = stock.eval()(**batch).logits
        b = model(**batch).logits
    assert torch.equal(a, b)


def test_checkpoint_files_and_model_card():
    files = {p.name: p.stat().st_size for p in DEFAULT_MODEL.iterdir()}
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "README.md",
        "training.json",
    ):
        assert name in files, name
    assert any(n in files for n in ("preprocessor_config.json", "processor_config.json"))
    assert sum(files.values()) < 20 * 2**20
    card = (DEFAULT_MODEL / "README.md").read_text()
    for needle in ("tools/train_demo_model.py", "seed", "random", "not a general", "accuracy"):
        assert needle in card, needle
    info = json.loads((DEFAULT_MODEL / "training.json").read_text())
    assert info["steps"] > 0 and info["drop_share"] > 0
