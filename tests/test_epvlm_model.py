"""Equivalence tests of the position-preserving sparse Qwen2-VL on a tiny random model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
from transformers import AttentionInterface
from transformers.vision_utils import get_vision_position_ids

from epvlm.errors import KeepMaskError
from epvlm.modeling import sparse_plan
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
    return tiny_model(tiny_config(proc), seed=0)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    # 112x112 -> 4x4 tokens; 84x140 -> 3x5 tokens (different sizes in one batch)
    return [
        rng.integers(0, 256, (112, 112, 3), dtype=np.uint8),
        rng.integers(0, 256, (84, 140, 3), dtype=np.uint8),
    ]


def scattered_masks():
    """Checkerboard-like, non-contiguous masks (a contiguous band could hide position bugs)."""
    m0 = np.array([1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1], dtype=bool)
    m1 = np.array([0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0], dtype=bool)
    return [m0, m1]


def without_mask(batch):
    return {k: v for k, v in batch.items() if k != "image_keep_mask"}


def test_keep_all_is_bit_identical_to_dense(proc, model, images):
    batch = encode_batch(proc, images, QUESTIONS, CHOICES)
    assert bool(batch["image_keep_mask"].all())
    with torch.no_grad():
        dense = model(**without_mask(batch)).logits
        sparse = model(**batch).logits
        gen_dense = model.generate(**without_mask(batch), max_new_tokens=5, do_sample=False)
        gen_sparse = model.generate(**batch, max_new_tokens=5, do_sample=False)
    assert torch.equal(dense, sparse)
    assert torch.equal(gen_dense, gen_sparse)


def test_prompt_carries_kept_count_and_plan_maps_rows(proc, images):
    masks = scattered_masks()
    batch = encode_batch(proc, images, QUESTIONS, CHOICES, keep_masks=masks)
    image_id = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for i, m in enumerate(masks):
        assert int((batch["input_ids"][i] == image_id).sum()) == int(m.sum())
    plan = sparse_plan(batch["image_keep_mask"], batch["image_grid_thw"], 2)
    assert plan.kept_per_image == [int(m.sum()) for m in masks]
    # rows 4j..4j+3 belong to LLM token j
    flat = np.concatenate(masks)
    expected_rows = np.flatnonzero(np.repeat(flat, 4))
    assert np.array_equal(plan.rows.numpy(), expected_rows)
    assert plan.cu_seqlens.tolist() == [0, 4 * int(masks[0].sum()), 4 * int(flat.sum())]


_HIDDEN_KEYS: list[torch.Tensor] = []
_CALLS = [0]


def _hide_keys_attention(module, query, key, value, attention_mask=None, scaling=None, **kwargs):
    """Dense attention over one image segment with the dropped patches hidden as keys."""
    hidden = _HIDDEN_KEYS[_CALLS[0] % len(_HIDDEN_KEYS)]
    _CALLS[0] += 1
    scores = torch.matmul(query.float(), key.float().transpose(-1, -2)) * scaling
    scores = scores.masked_fill(hidden.view(1, 1, 1, -1), float("-inf"))
    out = torch.matmul(torch.softmax(scores, dim=-1), value.float()).to(query.dtype)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register("epvlm_test_hide_keys", _hide_keys_attention)


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
        sparse.pooler_output = torch.cat(sparse.pooler_output)
        saved = visual.config._attn_implementation
        _HIDDEN_KEYS[:] = [~torch.from_numpy(np.repeat(m, 4)) for m in masks]
        _CALLS[0] = 0
        visual.config._attn_implementation = "epvlm_test_hide_keys"
        try:
            reference = visual(batch["pixel_values"], grid_thw=grid)
        finally:
            visual.config._attn_implementation = saved
        assert _CALLS[0] == len(masks) * len(visual.blocks)
        ref_rows = reference.last_hidden_state[plan.rows]
        ref_tokens = reference.pooler_output[batch["image_keep_mask"]]
        torch.testing.assert_close(sparse.last_hidden_state, ref_rows, rtol=0, atol=1e-5)
        torch.testing.assert_close(sparse.pooler_output, ref_tokens, rtol=0, atol=1e-5)

        # negative control: the same rows re-indexed as a compact grid must differ
        compact = []
        for m in masks:
            k = int(m.sum())
            compact.append(get_vision_position_ids(torch.tensor([[1, 2, 2 * k]]), 2))
        wrong = visual(
            batch["pixel_values"][plan.rows],
            grid_thw=grid,
            position_ids=torch.cat(compact),
            cu_seqlens=plan.cu_seqlens,
        )
        assert (wrong.pooler_output - sparse.pooler_output).abs().max() > 1e-3
        # and running all kept rows as one segment (no per-image split) must differ too
        merged = visual(
            batch["pixel_values"][plan.rows],
            grid_thw=grid,
            position_ids=plan.position_ids,
            cu_seqlens=plan.cu_seqlens[[0, -1]],
        )
        assert (merged.pooler_output - sparse.pooler_output).abs().max() > 1e-3


def _dense_prefill_with_hidden_tokens(model, dense_batch, masks, kept_features):
    """Dense sequence, kept image tokens carry the sparse features, dropped ones are hidden."""
    lm = model.model.language_model
    ids = dense_batch["input_ids"]
    attn = dense_batch["attention_mask"].bool()
    image_pos = dense_batch["mm_token_type_ids"] == 1
    embeds = lm.embed_tokens(ids).clone()
    flat_keep = torch.from_numpy(np.concatenate(masks))
    # dropped tokens get noise: hidden keys must make their content irrelevant
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
    _n, length = ids.shape
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool))
    allowed = causal[None] & (attn & ~dropped)[:, None, :]
    allowed |= torch.eye(length, dtype=torch.bool)[None]  # padding rows stay finite
    out = lm(inputs_embeds=embeds, position_ids=position_ids, attention_mask=allowed[:, None])
    keep_rows = attn & ~dropped
    return out.last_hidden_state, keep_rows


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
        kept_features = torch.cat(feats)
        sparse_out = model.model(**sparse_batch).last_hidden_state
        ref, keep_rows = _dense_prefill_with_hidden_tokens(model, dense_batch, masks, kept_features)
        sparse_rows = sparse_batch["attention_mask"].bool()
        for i in range(len(images)):
            a = sparse_out[i][sparse_rows[i]]
            b = ref[i][keep_rows[i]]
            assert a.shape == b.shape
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)

        # negative control: plain 1-D positions for the sparse sequence must differ
        pos = sparse_batch["attention_mask"].long().cumsum(-1) - 1
        pos = pos.clamp(min=0)[None].expand(3, -1, -1)
        wrong = model.model(**sparse_batch, position_ids=pos).last_hidden_state
        diff = (wrong[sparse_rows] - sparse_out[sparse_rows]).abs().max()
        assert diff > 1e-3


def test_training_batch_with_different_kept_counts(proc, model, images):
    masks = scattered_masks()
    masks[1] = masks[1].copy()
    masks[1][:] = True
    batch = encode_batch(
        proc, images, QUESTIONS, CHOICES, keep_masks=masks, answers=["red", "top left"]
    )
    labels = batch["labels"]
    for i, answer in enumerate(["red", "top left"]):
        target = labels[i][labels[i] != -100]
        assert proc.tokenizer.decode(target) == f"{answer} <|im_end|>"
        # labels are the last tokens of the (left-padded) sequence
        assert torch.equal(batch["input_ids"][i, -len(target) :], target)
    model.train()
    try:
        out = model(**batch)
        out.loss.backward()
    finally:
        model.eval()
        model.zero_grad(set_to_none=True)
    assert torch.isfinite(out.loss)
    # the loss is the mean token NLL of exactly the answer tokens
    with torch.no_grad():
        logits = model(**batch).logits
    shifted = logits[:, :-1].reshape(-1, logits.shape[-1])
    tgt = labels[:, 1:].reshape(-1)
    expected = torch.nn.functional.cross_entropy(shifted, tgt, ignore_index=-100)
    torch.testing.assert_close(out.loss.detach(), expected, rtol=1e-5, atol=1e-6)


def _greedy_no_cache(model, batch, steps):
    ids = batch["input_ids"]
    attn = batch["attention_mask"]
    types = batch["mm_token_type_ids"]
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
    masks = scattered_masks()
    batch = encode_batch(proc, images, QUESTIONS, CHOICES, keep_masks=masks)
    steps = 6
    with torch.no_grad():
        cached = model.generate(
            **batch, max_new_tokens=steps, do_sample=False, min_new_tokens=steps
        )
    model.model.rope_deltas = None
    reference = _greedy_no_cache(model, batch, steps)
    assert torch.equal(cached, reference)


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
    with pytest.raises(KeepMaskError, match="entries"):
        encode_batch(proc, images[:1], QUESTIONS[:1], CHOICES[:1], keep_masks=[np.ones(5, bool)])
    with pytest.raises(KeepMaskError, match="keeps no token"):
        encode_batch(proc, images[:1], QUESTIONS[:1], CHOICES[:1], keep_masks=[np.zeros(16, bool)])
    batch = encode_batch(proc, images, QUESTIONS, CHOICES, keep_masks=scattered_masks())
    with torch.no_grad(), pytest.raises(KeepMaskError, match="entries"):
        model(**{**batch, "image_keep_mask": batch["image_keep_mask"][:-1]})
    flipped = batch["image_keep_mask"].clone()
    flipped[flipped.nonzero()[0]] = False  # prompt no longer matches the mask
    with torch.no_grad(), pytest.raises((KeepMaskError, ValueError)):
        model(**{**batch, "image_keep_mask": flipped})
