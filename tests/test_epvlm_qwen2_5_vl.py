"""Equivalence tests of the position- and window-preserving sparse Qwen2.5-VL (tiny model)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
from transformers import AttentionInterface, Qwen2_5_VLForConditionalGeneration
from transformers.vision_utils import (
    get_vision_position_ids,
    get_vision_window_index,
)

from epvlm.errors import KeepMaskError
from epvlm.modeling import sparse_plan
from epvlm.modeling_qwen2_5_vl import (
    EPQwen2_5_VLForConditionalGeneration,
    sparse_window_plan,
)
from epvlm.processing import build_offline_processor, encode_batch
from epvlm.tiny import tiny_config, tiny_model

WORDS = ["what colour is the object", "where is it", "red blue green left right top bottom"]
QUESTIONS = ["What colour is the object?", "Where is it?"]
CHOICES = [["red", "blue", "green"], ["left", "right"]]


@pytest.fixture(scope="module")
def proc():
    return build_offline_processor(WORDS)


@pytest.fixture(scope="module")
def model(proc):
    # depth 3: windows, full attention (block 1), windows; 56 px windows = 2x2 LLM tokens
    return tiny_model(tiny_config(proc, model_type="qwen2_5_vl", vision_depth=3), seed=0)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    # 112x112 -> 4x4 tokens (four full windows); 84x140 -> 3x5 tokens (six windows, padded)
    return [
        rng.integers(0, 256, (112, 112, 3), dtype=np.uint8),
        rng.integers(0, 256, (84, 140, 3), dtype=np.uint8),
    ]


def scattered_masks():
    """Non-contiguous masks; image 1 keeps nothing of its bottom-right window (token 14)."""
    m0 = np.array([1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1], dtype=bool)
    m1 = np.array([0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0], dtype=bool)
    return [m0, m1]


def without_mask(batch):
    return {k: v for k, v in batch.items() if k != "image_keep_mask"}


def test_tiny_config_is_qwen2_5_vl_with_windows(model):
    assert isinstance(model, EPQwen2_5_VLForConditionalGeneration)
    assert model.config.model_type == "qwen2_5_vl"
    assert model.model.visual.fullatt_block_indexes == [1]
    assert model.model.visual.window_size == 56


def test_keep_all_is_bit_identical_to_stock(proc, model, images):
    stock = Qwen2_5_VLForConditionalGeneration(model.config).eval()
    stock.load_state_dict(model.state_dict())
    batch = encode_batch(proc, images, QUESTIONS, CHOICES)
    assert bool(batch["image_keep_mask"].all())
    with torch.no_grad():
        reference = stock(**without_mask(batch)).logits
        sparse = model(**batch).logits
        gen_ref = stock.generate(**without_mask(batch), max_new_tokens=5, do_sample=False)
        gen_sparse = model.generate(**batch, max_new_tokens=5, do_sample=False)
    assert torch.equal(reference, sparse)
    assert torch.equal(gen_ref, gen_sparse)


def test_window_plan_keeps_window_membership(proc, images):
    masks = scattered_masks()
    batch = encode_batch(proc, images, QUESTIONS, CHOICES, keep_masks=masks)
    grid = batch["image_grid_thw"]
    plan = sparse_plan(batch["image_keep_mask"], grid, 2)
    window_index, cu = sparse_window_plan(plan, grid, 2, 56, 14)
    # independent window of every dense token: 2x2-token windows of each image's token grid
    windows, kept_tokens, offset = [], [], 0
    for (_t, h, w), m in zip(grid.tolist(), masks):
        rows, cols = np.divmod(np.arange((h // 2) * (w // 2)), w // 2)
        per_row = -(-(w // 2) // 2)
        windows.append(offset + (rows // 2) * per_row + cols // 2)
        offset += -(-(h // 2) // 2) * per_row
        kept_tokens.append(np.flatnonzero(m))
    dense_window = np.concatenate(windows)[np.concatenate(masks)]  # window of each kept token
    lengths = np.diff(cu.numpy()) // 4
    order = window_index.numpy()
    assert sorted(order.tolist()) == list(range(int(np.concatenate(masks).sum())))
    # consecutive segments hold exactly the kept tokens of one dense window each
    start = 0
    seen = set()
    for n in lengths:
        segment = dense_window[order[start : start + n]]
        assert n > 0 and len(set(segment.tolist())) == 1
        assert segment[0] not in seen
        seen.add(segment[0])
        start += n
    assert seen == set(dense_window.tolist())
    # image 1's window of tokens (2,4) = token 14 keeps nothing and disappears
    assert len(lengths) == len(set(np.concatenate(windows).tolist())) - 1


_HIDDEN_KEYS: list[torch.Tensor] = []
_CALLS = [0]


def _hide_keys_attention(module, query, key, value, attention_mask=None, scaling=None, **kwargs):
    """Dense attention over one segment with the dropped patches hidden as keys."""
    hidden = _HIDDEN_KEYS[_CALLS[0]]
    _CALLS[0] += 1
    assert hidden.numel() == key.shape[-2]
    scores = torch.matmul(query.float(), key.float().transpose(-1, -2)) * scaling
    if not bool(hidden.all()):  # a window with nothing kept only feeds dropped rows
        scores = scores.masked_fill(hidden.view(1, 1, 1, -1), float("-inf"))
    out = torch.matmul(torch.softmax(scores, dim=-1), value.float()).to(query.dtype)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register("epvlm_test_hide_keys_windows", _hide_keys_attention)


def _dense_reference(visual, pixel_values, grid, masks):
    """The stock dense tower, each attention segment hiding the dropped patches as keys."""
    window_index, cu_window = get_vision_window_index(grid, 2, visual.window_size, 14)
    dropped_rows = torch.from_numpy(~np.concatenate(masks))[window_index].repeat_interleave(4)
    cu_full = torch.tensor(
        np.concatenate([[0], np.cumsum([4 * len(m) for m in masks])]), dtype=torch.int32
    )
    _HIDDEN_KEYS.clear()
    for layer in range(len(visual.blocks)):
        cu = cu_full if layer in visual.fullatt_block_indexes else cu_window
        bounds = cu.tolist()
        _HIDDEN_KEYS.extend(dropped_rows[a:b] for a, b in itertools.pairwise(bounds))
    _CALLS[0] = 0
    saved = visual.config._attn_implementation
    visual.config._attn_implementation = "epvlm_test_hide_keys_windows"
    try:
        out = visual(pixel_values, grid_thw=grid)
    finally:
        visual.config._attn_implementation = saved
    assert _CALLS[0] == len(_HIDDEN_KEYS)
    return out, ~dropped_rows


def test_sparse_vision_tower_equals_dense_with_hidden_keys(proc, model, images):
    masks = scattered_masks()
    batch = encode_batch(proc, images, QUESTIONS, CHOICES, keep_masks=masks)
    visual = model.model.visual
    grid = batch["image_grid_thw"]
    plan = sparse_plan(batch["image_keep_mask"], grid, 2)
    with torch.no_grad():
        sparse = model.model.get_image_features(
            batch["pixel_values"], grid, image_keep_mask=batch["image_keep_mask"]
        )
        sparse_tokens = torch.cat(sparse.pooler_output)
        reference, kept_rows_permuted = _dense_reference(visual, batch["pixel_values"], grid, masks)
        ref_tokens = reference.pooler_output[batch["image_keep_mask"]]
        torch.testing.assert_close(sparse_tokens, ref_tokens, rtol=0, atol=1e-5)
        # the tower's rows stay in window order: the sparse order is the dense one, filtered
        torch.testing.assert_close(
            sparse.last_hidden_state,
            reference.last_hidden_state[kept_rows_permuted],
            rtol=0,
            atol=1e-5,
        )

        window_index, cu_window = sparse_window_plan(plan, grid, 2, visual.window_size, 14)
        kept_pixels = batch["pixel_values"][plan.rows]

        def run(**overrides):
            kwargs = dict(
                position_ids=plan.position_ids,
                cu_seqlens=plan.cu_seqlens,
                window_index=window_index,
                cu_window_seqlens=cu_window,
            )
            kwargs.update(overrides)
            return visual(kept_pixels, grid_thw=grid, **kwargs).pooler_output

        assert torch.equal(run(), sparse_tokens)
        # negative controls: each must change the output
        compact = torch.cat(
            [get_vision_position_ids(torch.tensor([[1, 2, 2 * int(m.sum())]]), 2) for m in masks]
        )
        assert (run(position_ids=compact) - sparse_tokens).abs().max() > 1e-3
        # windows recomputed on the kept tokens as if they were a compact grid
        wrong_index, wrong_cu = get_vision_window_index(
            torch.tensor([[1, 2, 2 * int(m.sum())] for m in masks]), 2, visual.window_size, 14
        )
        assert not torch.equal(wrong_cu, cu_window)
        wrong = run(window_index=wrong_index, cu_window_seqlens=wrong_cu)
        assert (wrong - sparse_tokens).abs().max() > 1e-3
        # no windows at all (every block attends over the whole image)
        assert (run(cu_window_seqlens=plan.cu_seqlens) - sparse_tokens).abs().max() > 1e-3
        # full-attention block over both images as one segment
        merged = run(cu_seqlens=plan.cu_seqlens[[0, -1]])
        assert (merged - sparse_tokens).abs().max() > 1e-3


def _dense_prefill_with_hidden_tokens(model, dense_batch, masks, kept_features):
    """Dense sequence, kept image tokens carry the sparse features, dropped ones are hidden."""
    lm = model.model.language_model
    ids = dense_batch["input_ids"]
    attn = dense_batch["attention_mask"].bool()
    image_pos = dense_batch["mm_token_type_ids"] == 1
    embeds = lm.embed_tokens(ids).clone()
    flat_keep = torch.from_numpy(np.concatenate(masks))
    noise = torch.randn(
        int(image_pos.sum()), embeds.shape[-1], generator=torch.Generator().manual_seed(0)
    )
    noise[flat_keep] = kept_features
    embeds[image_pos] = noise
    dropped = torch.zeros_like(attn)
    dropped[image_pos] = ~flat_keep
    position_ids, _ = model.model.get_rope_index(
        ids,
        dense_batch["mm_token_type_ids"],
        dense_batch["image_grid_thw"],
        attention_mask=dense_batch["attention_mask"],
    )
    length = ids.shape[1]
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool))
    allowed = causal[None] & (attn & ~dropped)[:, None, :]
    allowed |= torch.eye(length, dtype=torch.bool)[None]  # padding rows stay finite
    out = lm(inputs_embeds=embeds, position_ids=position_ids, attention_mask=allowed[:, None])
    return out.last_hidden_state, attn & ~dropped


def test_sparse_prefill_equals_dense_prefill_with_masked_tokens(proc, model, images):
    masks = scattered_masks()
    sparse_batch = encode_batch(proc, images, QUESTIONS, CHOICES, keep_masks=masks)
    dense_batch = encode_batch(proc, images, QUESTIONS, CHOICES)
    with torch.no_grad():
        feats = model.model.get_image_features(
            sparse_batch["pixel_values"],
            sparse_batch["image_grid_thw"],
            image_keep_mask=sparse_batch["image_keep_mask"],
        ).pooler_output
        sparse_out = model.model(**sparse_batch).last_hidden_state
        ref, keep_rows = _dense_prefill_with_hidden_tokens(
            model, dense_batch, masks, torch.cat(feats)
        )
        sparse_rows = sparse_batch["attention_mask"].bool()
        for i in range(len(images)):
            a = sparse_out[i][sparse_rows[i]]
            b = ref[i][keep_rows[i]]
            assert a.shape == b.shape
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
        # negative control: plain 1-D positions for the sparse sequence must differ
        pos = (sparse_batch["attention_mask"].long().cumsum(-1) - 1).clamp(min=0)
        wrong = model.model(**sparse_batch, position_ids=pos[None].expand(3, -1, -1))
        diff = (wrong.last_hidden_state[sparse_rows] - sparse_out[sparse_rows]).abs().max()
        assert diff > 1e-3


def _greedy_no_cache(model, batch, steps):
    ids, attn, types = batch["input_ids"], batch["attention_mask"], batch["mm_token_type_ids"]
    for _ in range(steps):
        with torch.no_grad():
            logits = model(
                input_ids=ids,
                attention_mask=attn,
                mm_token_type_ids=types,
                pixel_values=batch["pixel_values"],
                image_grid_thw=batch["image_grid_thw"],
                image_keep_mask=batch["image_keep_mask"],
                use_cache=False,
            ).logits[:, -1]
        model.model.rope_deltas = None
        nxt = logits.argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
        attn = torch.cat([attn, torch.ones_like(nxt)], dim=1)
        types = torch.cat([types, torch.zeros_like(nxt, dtype=types.dtype)], dim=1)
    return ids


def test_cached_sparse_generate_equals_no_cache_greedy(proc, model, images):
    batch = encode_batch(proc, images, QUESTIONS, CHOICES, keep_masks=scattered_masks())
    steps = 6
    with torch.no_grad():
        cached = model.generate(
            **batch, max_new_tokens=steps, do_sample=False, min_new_tokens=steps
        )
    model.model.rope_deltas = None
    assert torch.equal(cached, _greedy_no_cache(model, batch, steps))


def test_batched_sparse_generate_matches_single(proc, model, images):
    masks = scattered_masks()
    batch = encode_batch(proc, images, QUESTIONS, CHOICES, keep_masks=masks)
    prompt_len = batch["input_ids"].shape[1]
    with torch.no_grad():
        both = model.generate(**batch, max_new_tokens=4, do_sample=False, min_new_tokens=4)
        for i in range(2):
            one = encode_batch(
                proc,
                images[i : i + 1],
                QUESTIONS[i : i + 1],
                CHOICES[i : i + 1],
                keep_masks=masks[i : i + 1],
            )
            single = model.generate(**one, max_new_tokens=4, do_sample=False, min_new_tokens=4)
            assert torch.equal(both[i, prompt_len:], single[0, one["input_ids"].shape[1] :])


def test_mask_errors(proc, model, images):
    batch = encode_batch(proc, images, QUESTIONS, CHOICES, keep_masks=scattered_masks())
    with torch.no_grad(), pytest.raises(KeepMaskError, match="entries"):
        model(**{**batch, "image_keep_mask": batch["image_keep_mask"][:-1]})
