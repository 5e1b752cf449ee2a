"""Analytic FLOPs against torch's FlopCounterMode and against the processor's token grid."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from epvlm.errors import ModelDirError
from epvlm.flops import PRESETS, image_token_grid, load_dims, vlm_flops, window_token_counts

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

    sizes = [(448, 448), (480, 640), (1080, 1920), (20, 30), (3000, 4000), (100, 2000)]
    # a side under 14 px rounds to 0 and goes through the min_pixels branch
    sizes += [(10, 500), (3, 200), (13, 13), (14, 40), (500, 6)]
    # transformers' class-default budget, which a checkpoint without a processor config gets
    tiny_budget = replace(PRESETS["qwen2-vl-2b"], min_pixels=56 * 56, max_pixels=28 * 28 * 1280)
    for dims in (PRESETS["qwen2-vl-2b"], tiny_budget):
        for h, w in sizes:
            rh, rw = smart_resize(
                h, w, factor=28, min_pixels=dims.min_pixels, max_pixels=dims.max_pixels
            )
            assert image_token_grid(dims, h, w) == (rh // 28, rw // 28), (h, w, dims.max_pixels)


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
    # the config.json file names its checkpoint as the folder does (pixel budget included)
    assert load_dims(tmp_path / "config.json") == dims
    with pytest.raises(ModelDirError, match="neither a preset"):
        load_dims(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelDirError, match=r"config\.json"):
        load_dims(empty)
    cfg = {"model_type": "qwen2_vl", "text_config": {"hidden_size": 8}}
    (empty / "config.json").write_text(json.dumps(cfg))
    from eventsim.errors import ParameterError

    with pytest.raises(ParameterError, match="lacks the field"):
        load_dims(empty)


# ------------------------------------------------------------------------------ Qwen2.5-VL


@pytest.fixture(scope="module")
def setup_2_5():
    from epvlm.processing import build_offline_processor
    from epvlm.tiny import tiny_config, tiny_model

    proc = build_offline_processor(["what colour is it red blue"])
    models = {
        impl: tiny_model(
            tiny_config(
                proc,
                model_type="qwen2_5_vl",
                vision_heads=4,
                vision_depth=3,
                attn_implementation=impl,
            ),
            seed=0,
        )
        for impl in ("eager", "sdpa")
    }
    return proc, models


@pytest.mark.parametrize("keep_all", [True, False])
def test_qwen2_5_prefill_flops_match_counter(setup_2_5, keep_all):
    from epvlm.flops import window_token_counts
    from epvlm.processing import encode_batch

    proc, models = setup_2_5
    image = np.random.default_rng(0).integers(0, 256, (140, 168, 3), dtype=np.uint8)  # 5x6
    mask = np.ones(30, bool)
    if not keep_all:
        mask[[1, 2, 5, 9, 10, 17, 20, 23, 24, 25]] = False
    batch = encode_batch(
        proc, [image], ["what colour is it?"], [["red", "blue"]], keep_masks=[mask]
    )
    image_id = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    text_tokens = int((batch["input_ids"] != image_id).sum())
    config = models["eager"].config
    dims = load_dims(config)
    assert dims.model_type == "qwen2_5_vl" and dims.window_tokens == 2
    assert dims.window_layers == 2  # blocks 0 and 2; block 1 attends over the whole image
    windows = window_token_counts(config, 5, 6, mask.tolist())
    assert len(windows) == 9 and sum(windows) == int(mask.sum())
    expected = vlm_flops(config, int(mask.sum()), text_tokens, new_tokens=1, windows=[windows])

    counted = _count(lambda: models["eager"](**batch, logits_to_keep=1))
    assert counted == expected.prefill
    vis = _count(
        lambda: models["eager"].model.get_image_features(
            batch["pixel_values"], batch["image_grid_thw"], image_keep_mask=batch["image_keep_mask"]
        )
    )
    assert vis == expected.vision + expected.merger
    counted_sdpa = _count(lambda: models["sdpa"](**batch, logits_to_keep=1))
    attention = expected.vision_attention + expected.llm_attention
    assert counted_sdpa in (expected.prefill - attention, expected.prefill)
    # the window layers' cost depends on where the kept tokens lie
    grid_estimate = vlm_flops(config, int(mask.sum()), text_tokens, token_grids=[(5, 6)])
    assert (grid_estimate.vision_attention == expected.vision_attention) == keep_all
    assert grid_estimate.vision_linear == expected.vision_linear


def test_qwen2_5_decode_flops_match_counter(setup_2_5):
    from epvlm.processing import encode_batch

    proc, models = setup_2_5
    model = models["eager"]
    image = np.random.default_rng(1).integers(0, 256, (56, 112, 3), dtype=np.uint8)
    batch = encode_batch(proc, [image], ["what colour is it?"], [[]])
    new = 3
    counted = _count(
        lambda: model.generate(**batch, max_new_tokens=new, min_new_tokens=new, do_sample=False)
    )
    image_id = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    text = batch["input_ids"].shape[1] - int((batch["input_ids"] == image_id).sum())
    _t, h, w = batch["image_grid_thw"][0].tolist()
    assert (h // 2, w // 2) == (2, 4)  # two 2x2-token windows
    expected = vlm_flops(model.config, 8, text, new_tokens=new, token_grids=[(2, 4)])
    assert counted == expected.total


def test_qwen2_5_presets_and_config_dirs(tmp_path, setup_2_5):
    from epvlm.flops import window_token_counts

    for name, hidden, layers in (("qwen2.5-vl-3b", 2048, 36), ("qwen2.5-vl-7b", 3584, 28)):
        d = PRESETS[name]
        assert (d.model_type, d.hidden_size, d.num_layers) == ("qwen2_5_vl", hidden, layers)
        assert d.window_tokens == 4 and d.window_layers == 28
    assert window_token_counts("qwen2.5-vl-3b", 16, 16) == [16] * 16
    assert window_token_counts("qwen2.5-vl-3b", 5, 6) == [16, 8, 4, 2]
    assert window_token_counts("qwen2-vl-2b", 5, 6) == [30]
    # 448x448: 256 tokens in 16 full windows, so the packed default is exact for dense
    dense = vlm_flops("qwen2.5-vl-3b", 256, 30)
    assert dense == vlm_flops("qwen2.5-vl-3b", 256, 30, token_grids=[(16, 16)])
    half = vlm_flops("qwen2.5-vl-3b", 128, 30, token_grids=[(16, 16)])
    assert 0.45 < half.total / dense.total < 0.53
    one = vlm_flops("qwen2.5-vl-3b", 1, 0, new_tokens=0)
    assert 5.0e9 < one.vision + one.merger < 5.2e9  # 1280-wide SwiGLU blocks, 4 patches
    assert 5.4e9 < one.language_model < 5.6e9  # 36 layers of 2048
    assert vlm_flops("qwen2.5-vl-7b", 1, 0).language_model > one.language_model
    with pytest.raises(Exception, match="sums"):
        vlm_flops("qwen2.5-vl-3b", 5, 0, windows=[[1, 2]])

    _proc, models = setup_2_5
    models["sdpa"].config.save_pretrained(tmp_path)
    dims = load_dims(tmp_path)
    assert dims.model_type == "qwen2_5_vl"
    assert dims.vision_intermediate_size == 64 and dims.fullatt_block_indexes == (1,)
    assert dims == load_dims(models["sdpa"].config)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava"}))
    from eventsim.errors import ParameterError

    with pytest.raises(ParameterError, match="'llava' is not supported"):
        load_dims(tmp_path)


def test_flops_cli_qwen2_5(capsys, tmp_path, setup_2_5):
    from epvlm.cli import main

    argv = ["flops", "--config", "qwen2.5-vl-3b", "--image-hw", "448", "448", "--keep", "0.5"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["total_tokens"], out["kept_tokens"]) == (256, 128)
    assert out["dense_flops"] == vlm_flops("qwen2.5-vl-3b", 256, 32).total
    assert 0.45 < out["flops_vs_dense"] < 0.55
    assert out["vision"] < out["dense"]["vision"] and out["language_model"] > 0
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "qwen2.5-vl-3b" in text and "vision GFLOPs" in text and "LLM GFLOPs" in text
    # a Qwen2.5-VL checkpoint directory is read by its model_type
    _proc, models = setup_2_5
    models["sdpa"].config.save_pretrained(tmp_path)
    assert main(["flops", "--config", str(tmp_path), "--image-hw", "112", "112", "--json"]) == 0
    small = json.loads(capsys.readouterr().out)
    assert small["total_tokens"] == 16 and small["flops"] < small["dense_flops"]


def test_hub_style_qwen2_5_config_matches_preset(tmp_path):
    """The public Qwen2.5-VL-3B-Instruct config.json layout (text fields at the top level)."""
    hub = {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "model_type": "qwen2_5_vl",
        "hidden_size": 2048,
        "intermediate_size": 11008,
        "num_attention_heads": 16,
        "num_hidden_layers": 36,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
        "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
        "vision_config": {
            "depth": 32,
            "hidden_act": "silu",
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "in_chans": 3,
            "out_hidden_size": 2048,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "spatial_patch_size": 14,
            "window_size": 112,
            "fullatt_block_indexes": [7, 15, 23, 31],
            "tokens_per_second": 2,
            "temporal_patch_size": 2,
        },
    }
    (tmp_path / "config.json").write_text(json.dumps(hub))
    # without a processor config: transformers' class-default pixel budget, all else the same
    bare = load_dims(tmp_path)
    assert (bare.min_pixels, bare.max_pixels) == (56 * 56, 28 * 28 * 1280)
    # the checkpoint's public preprocessor_config.json carries the presets' budget
    processor = {
        "min_pixels": 3136,
        "max_pixels": 12845056,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_processor_type": "Qwen2VLImageProcessor",
    }
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(processor))
    assert load_dims(tmp_path) == PRESETS["qwen2.5-vl-3b"]


def test_eval_flops_count_the_windows_the_kept_tokens_fall_in():
    """Qwen2.5-VL: kept tokens packed into few windows cost more window attention (quadratic
    per window) than the same number spread one per window; `selection_flops` sees it."""
    import numpy as np

    from epvlm.evaluate import selection_flops
    from epvlm.prior import Selection
    from epvlm.tiny import tiny_config

    config = tiny_config(model_type="qwen2_5_vl", window_size=56, fullatt_block_indexes=(1,))
    rows, cols = 8, 8  # 2x2 tokens per window -> 16 windows
    packed = np.zeros((rows, cols), dtype=bool)
    packed[:4, :4] = True  # 16 tokens filling 4 whole windows
    spread = np.zeros((rows, cols), dtype=bool)
    spread[::2, ::2] = True  # 16 tokens, one in each window

    def flops(mask):
        sel = Selection("event", 0.25, np.zeros((112, 112, 3), np.uint8), mask, rows * cols)
        return selection_flops(config, sel, text_tokens=10, new_tokens=1)

    assert flops(packed).image_tokens == flops(spread).image_tokens == 16
    assert flops(packed).vision > flops(spread).vision
    assert (
        flops(packed).total
        == vlm_flops(
            config,
            16,
            10,
            windows=[window_token_counts(config, rows, cols, packed.ravel().tolist())],
        ).total
    )
