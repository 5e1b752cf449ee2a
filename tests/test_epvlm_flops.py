"""Analytic FLOPs against torch's FlopCounterMode and against the processor's token grid."""

from __future__ import annotations

import json

import numpy as np
import pytest

from epvlm.errors import ModelDirError
from epvlm.flops import PRESETS, image_token_grid, load_dims, vlm_flops

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def _count(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        fn()
    return counter.get_total_flops()


@pytest.fixture(scope="module")
def setup():
    from epvlm.processing import build_offline_processor
    from epvlm.tiny import tiny_config, tiny_model

    proc = build_offline_processor(["what colour is it red blue"])
    models = {
        impl: tiny_model(tiny_config(proc, vision_heads=4, attn_implementation=impl), seed=0)
        for impl in ("eager", "sdpa")
    }
    return proc, models


@pytest.mark.parametrize("keep_all", [True, False])
def test_prefill_flops_match_counter(setup, keep_all):
    from epvlm.processing import encode_batch

    proc, models = setup
    image = np.random.default_rng(0).integers(0, 256, (112, 168, 3), dtype=np.uint8)  # 4x6 tokens
    mask = np.ones(24, bool)
    if not keep_all:
        mask[[1, 2, 5, 9, 10, 17, 20, 23]] = False
    batch = encode_batch(
        proc, [image], ["what colour is it?"], [["red", "blue"]], keep_masks=[mask]
    )
    image_id = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    text_tokens = int((batch["input_ids"] != image_id).sum())
    expected = vlm_flops(models["eager"].config, int(mask.sum()), text_tokens, new_tokens=1)

    # eager attention is made of matmuls the counter sees: the whole prefill must match
    counted = _count(lambda: models["eager"](**batch, logits_to_keep=1))
    assert counted == expected.prefill
    # vision tower + merger alone
    vis = _count(
        lambda: models["eager"].model.get_image_features(
            batch["pixel_values"], batch["image_grid_thw"], image_keep_mask=batch["image_keep_mask"]
        )
    )
    assert vis == expected.vision + expected.merger
    # with SDPA the counter misses attention on CPU; the linear layers still match exactly
    counted_sdpa = _count(lambda: models["sdpa"](**batch, logits_to_keep=1))
    attention = expected.vision_attention + expected.llm_attention
    assert counted_sdpa in (expected.prefill - attention, expected.prefill)


def test_decode_flops_match_counter(setup):
    from epvlm.processing import encode_batch

    proc, models = setup
    model = models["eager"]
    image = np.random.default_rng(1).integers(0, 256, (56, 56, 3), dtype=np.uint8)
    batch = encode_batch(proc, [image], ["what colour is it?"], [[]])
    prompt = batch["input_ids"].shape[1]
    new = 4
    counted = _count(
        lambda: model.generate(**batch, max_new_tokens=new, min_new_tokens=new, do_sample=False)
    )
    image_id = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    text = prompt - int((batch["input_ids"] == image_id).sum())
    expected = vlm_flops(model.config, 4, text, new_tokens=new)
    assert counted == expected.total


def test_token_grid_matches_transformers_smart_resize():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    dims = PRESETS["qwen2-vl-2b"]
    for h, w in [(448, 448), (480, 640), (1080, 1920), (20, 30), (3000, 4000), (100, 2000)]:
        rh, rw = smart_resize(
            h, w, factor=28, min_pixels=dims.min_pixels, max_pixels=dims.max_pixels
        )
        assert image_token_grid(dims, h, w) == (rh // 28, rw // 28)


def test_presets_and_savings():
    assert image_token_grid(PRESETS["qwen2-vl-2b"], 448, 448) == (16, 16)
    dense = vlm_flops("qwen2-vl-2b", 256, 30)
    half = vlm_flops("qwen2-vl-2b", 128, 30)
    assert half.total / dense.total <= 0.53
    # per image token at 2B dims: ViT+merger ~5.1 GFLOPs, LLM ~2.6 GFLOPs
    one = vlm_flops("qwen2-vl-2b", 1, 0, new_tokens=0)
    assert 5.0e9 < one.vision + one.merger < 5.2e9
    assert 2.5e9 < one.language_model < 2.7e9
    assert vlm_flops("qwen2-vl-7b", 1, 0).language_model > one.language_model


def test_load_dims_from_dir_and_errors(tmp_path, setup):
    proc, models = setup
    model = models["sdpa"]
    model.config.save_pretrained(tmp_path)
    proc.save_pretrained(tmp_path)
    dims = load_dims(tmp_path)
    assert dims == load_dims(model.config).__class__(
        **{**load_dims(model.config).__dict__, "max_pixels": 448 * 448}
    )
    assert dims.max_pixels == 448 * 448
    with pytest.raises(ModelDirError, match="neither a preset"):
        load_dims(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelDirError, match=r"config\.json"):
        load_dims(empty)
    (empty / "config.json").write_text(json.dumps({"text_config": {"hidden_size": 8}}))
    from eventsim.errors import ParameterError

    with pytest.raises(ParameterError, match="lacks the field"):
        load_dims(empty)
