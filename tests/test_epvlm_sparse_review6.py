"""Audit of the sparse Qwen2-VL / Qwen2.5-VL against the stock models and the dense tower:
odd and non-square token grids, the rotary ids and attention segments the vision tower really
receives (read with hooks), Qwen2.5-VL's windows when whole windows are dropped or partly kept,
where decoding continues after a prompt that ends with its image, and both float types."""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
from transformers import (
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLForConditionalGeneration,
)
from transformers.vision_utils import get_vision_window_index

from epvlm.errors import KeepMaskError
from epvlm.modeling import sparse_plan
from epvlm.processing import build_offline_processor, encode_batch
from epvlm.tiny import tiny_config, tiny_model

STOCK = {
    "qwen2_vl": Qwen2VLForConditionalGeneration,
    "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration,
}
QUESTIONS = ["What colour is the object?", "Where is it?"]
CHOICES = [["red", "blue", "green"], []]


@pytest.fixture(scope="module")
def proc():
    return build_offline_processor(["what colour is the object where is it red blue green"])


@pytest.fixture(scope="module", params=sorted(STOCK))
def model(request, proc):
    # Qwen2.5-VL: windows, full attention (block 1), windows; 56 px windows = 2x2 tokens
    return tiny_model(tiny_config(proc, model_type=request.param, vision_depth=3), seed=0)


def _images(*hws: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for hw in hws]


def _without_mask(batch):
    return {k: v for k, v in batch.items() if k != "image_keep_mask"}


def _stock_copy(model):
    stock = STOCK[model.config.model_type](model.config).eval()
    stock.load_state_dict(model.state_dict())
    return stock


# 84x84 -> 3x3 tokens, 140x196 -> 5x7, 252x140 -> 9x5, 84x196 -> 3x7: odd merge grids, and for
# Qwen2.5-VL windows cut at the right and bottom edges


@pytest.mark.parametrize(("first", "second"), [((84, 84), (140, 196)), ((252, 140), (84, 196))])
def test_keep_all_equals_stock_on_odd_and_non_square_grids(proc, model, first, second):
    stock = _stock_copy(model)
    batch = encode_batch(proc, _images(first, second), QUESTIONS, CHOICES)
    grids = batch["image_grid_thw"][:, 1:] // 2
    assert bool((grids % 2 == 1).any())
    with torch.no_grad():
        torch.testing.assert_close(
            model(**batch).logits, stock(**_without_mask(batch)).logits, rtol=0, atol=0
        )


def _masks():
    """Image 0 (5x7 tokens, 3x4 windows of 2x2 tokens): the window of tokens (0..1, 2..3) and
    the bottom-right one (token (4, 6)) dropped whole, the others partly kept, scattered.
    Image 1 (3x3 tokens): a different kept count."""
    m0 = np.random.default_rng(3).random((5, 7)) < 0.55
    m0[0:2, 2:4] = False
    m0[4, 6] = False
    m0[0, 0] = m0[1, 1] = True
    m1 = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=bool)
    return [m0, m1]


def _record_tower(visual):
    """Hooks that record the rotary ids the tower embeds and, per block, the cos rows and the
    attention segments (``cu_seqlens``) that block is given."""
    seen: dict[str, list] = {"ids": [], "cos": [], "cu": []}

    def on_rotary(module, args):
        seen["ids"].append(args[1].clone())

    def on_block(module, args, kwargs):
        seen["cos"].append(kwargs["position_embeddings"][0].clone())
        seen["cu"].append(kwargs["cu_seqlens"].clone())

    handles = [visual.rotary_pos_emb.register_forward_pre_hook(on_rotary)]
    handles += [b.register_forward_pre_hook(on_block, with_kwargs=True) for b in visual.blocks]
    return seen, handles


def _tower_inputs(model, batch, keep_mask):
    seen, handles = _record_tower(model.model.visual)
    try:
        with torch.no_grad():
            model.model.get_image_features(
                batch["pixel_values"], batch["image_grid_thw"], image_keep_mask=keep_mask
            )
    finally:
        for h in handles:
            h.remove()
    return seen


def test_the_tower_embeds_each_kept_patch_at_its_dense_rotary_position(proc, model):
    """Read inside the tower: the kept rows' rotary ids and cos rows are the dense ones of the
    same patches, in every block, and each image attends over its kept rows only."""
    masks = _masks()
    batch = encode_batch(proc, _images((140, 196), (84, 84)), QUESTIONS, CHOICES, keep_masks=masks)
    grid = batch["image_grid_thw"]
    dense = _tower_inputs(model, batch, None)
    sparse = _tower_inputs(model, batch, batch["image_keep_mask"])
    rows = sparse_plan(batch["image_keep_mask"], grid, 2).rows
    assert len(sparse["ids"]) == 1 and len(sparse["cos"]) == len(model.model.visual.blocks)
    assert torch.equal(sparse["ids"][0], dense["ids"][0][rows])
    # the ids are not those of a compact grid of the kept patches
    assert not torch.equal(sparse["ids"][0], dense["ids"][0][: len(rows)])

    visual = model.model.visual
    row_kept = torch.from_numpy(np.concatenate([m.reshape(-1) for m in masks])).repeat_interleave(4)
    per_image = [0, *np.cumsum([4 * int(m.sum()) for m in masks]).tolist()]
    if model.config.model_type == "qwen2_vl":
        slots = row_kept  # the tower keeps the processor's row order
        windowed: set[int] = set()
    else:
        # the tower's rows run in window order: the dense permutation, filtered to kept rows
        window_index, dense_cu = get_vision_window_index(grid, 2, visual.window_size, 14)
        dense_rows = (window_index[:, None] * 4 + torch.arange(4)).reshape(-1)
        slots = row_kept[dense_rows]
        windowed = set(range(len(visual.blocks))) - set(visual.fullatt_block_indexes)
        assert windowed and visual.fullatt_block_indexes
        # the dense window of every kept row, in the order the sparse tower holds them
        window_of = torch.bucketize(torch.arange(len(slots)), dense_cu[1:], right=True)[slots]
        change = torch.nonzero(window_of[1:] != window_of[:-1]).reshape(-1) + 1
        expected_windows = [0, *change.tolist(), len(window_of)]
        # whole windows dropped (2 in image 0) and partly kept ones (each kept length < 16 rows)
        assert len(expected_windows) - 1 < len(dense_cu) - 1 - 1
        lengths = np.diff(expected_windows)
        assert (lengths < 16).any() and (lengths % 4 == 0).all()
    for layer, (cos, cu) in enumerate(zip(sparse["cos"], sparse["cu"])):
        assert torch.equal(cos, dense["cos"][layer][slots]), layer
        expected = expected_windows if layer in windowed else per_image
        assert cu.tolist() == expected, layer


def _cached_step_positions(model, ids, types, batch, **sparse) -> list[list[int]]:
    """The M-RoPE ids the language model gets for two tokens decoded one at a time with the
    cache after a prefill of ``ids`` (``rope_deltas`` continue the positions)."""
    seen: list[torch.Tensor] = []

    def on_language_model(module, args, kwargs):
        seen.append(kwargs["position_ids"][-3:].clone())

    handle = model.model.language_model.register_forward_pre_hook(
        on_language_model, with_kwargs=True
    )
    image = {"image_grid_thw": batch["image_grid_thw"], **sparse}
    try:
        with torch.no_grad():
            out = model(
                input_ids=ids,
                mm_token_type_ids=types,
                pixel_values=batch["pixel_values"],
                use_cache=True,
                **image,
            )
            cache = out.past_key_values
            for _ in range(2):
                nxt = out.logits[:, -1:].argmax(-1)
                ids = torch.cat([ids, nxt], dim=1)
                types = torch.cat([types, torch.zeros_like(nxt, dtype=types.dtype)], dim=1)
                out = model(
                    input_ids=nxt,
                    mm_token_type_ids=types[:, -1:],
                    past_key_values=cache,
                    use_cache=True,
                    **image,
                )
                cache = out.past_key_values
    finally:
        handle.remove()
        model.model.rope_deltas = None
    return [p.reshape(3, -1)[:, -1].tolist() for p in seen[1:]]


def test_a_prompt_ending_with_its_image_decodes_from_the_dense_position(proc, model):
    """Decoding with the cache continues from the dense sequence's largest id + 1 (as stock
    dense does) also when the prompt ends with the image and a dropped token (the last column
    of a wide grid) held that id; the sparse model's ``rope_deltas`` continued from the kept
    tokens' largest id + 1, one position too early here."""
    batch = encode_batch(proc, _images((84, 140)), QUESTIONS[:1], CHOICES[:1])
    types = batch["mm_token_type_ids"][0]
    end = int(torch.nonzero(types).max()) + 1
    dense_ids, dense_types = batch["input_ids"][:, :end], batch["mm_token_type_ids"][:, :end]
    keep = torch.ones(3, 5, dtype=torch.bool)
    keep[:, 4] = False  # 3x5 tokens: the width axis holds the largest id, in the last column
    keep = keep.reshape(-1)
    image = types[:end].bool()
    sparse_ids = torch.cat([dense_ids[0][~image], dense_ids[0][image][keep]])[None]
    sparse_types = torch.cat([dense_types[0][~image], dense_types[0][image][keep]])[None]
    grid = batch["image_grid_thw"]
    stock = _stock_copy(model)
    _, dense_delta = stock.model.get_rope_index(dense_ids, dense_types, image_grid_thw=grid)
    sparse_pos, sparse_delta = model.model.get_rope_index(
        sparse_ids, sparse_types, image_grid_thw=grid, image_keep_mask=keep
    )
    dense_next = dense_ids.shape[1] + int(dense_delta)
    assert int(sparse_pos.max()) + 1 < dense_next  # the dropped column held the largest id
    assert sparse_ids.shape[1] + int(sparse_delta) == dense_next

    expected = [[dense_next] * 3, [dense_next + 1] * 3]
    assert _cached_step_positions(stock, dense_ids, dense_types, batch) == expected
    steps = _cached_step_positions(model, sparse_ids, sparse_types, batch, image_keep_mask=keep)
    assert steps == expected


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_both_float_types_run_sparse_down_to_one_kept_token(proc, model, dtype):
    """A left-padded batch of two with different kept counts, one image keeping a single
    token, in float32 and bfloat16: cached generation equals generation without the cache,
    and keep-all equals stock in the same type. No token at all is a KeepMaskError."""
    images = _images((140, 196), (84, 84))
    one = np.zeros((3, 3), dtype=bool)
    one[1, 2] = True
    masks = [_masks()[0], one]
    batch = encode_batch(proc, images, QUESTIONS, CHOICES, keep_masks=masks)
    assert not bool(batch["attention_mask"].all())  # left padding in one row
    full = encode_batch(proc, images, QUESTIONS, CHOICES)
    # copies: casting the shared model there and back would round its rotary buffers
    stock = _stock_copy(model).to(dtype)
    model = copy.deepcopy(model).to(dtype)
    with torch.no_grad():
        kwargs = dict(max_new_tokens=3, min_new_tokens=3, do_sample=False)
        cached = model.generate(**batch, **kwargs)
        uncached = model.generate(**batch, use_cache=False, **kwargs)
        assert torch.equal(cached, uncached)
        logits = model(**full).logits
        assert logits.dtype == dtype and bool(torch.isfinite(logits).all())
        assert torch.equal(logits, stock(**_without_mask(full)).logits)
        none = batch["image_keep_mask"].clone()
        none[-9:] = False
        with pytest.raises(KeepMaskError, match="keeps no token of image 1"):
            model(**{**batch, "image_keep_mask": none})


def _with_video(proc, model, batch, keep):
    """The sample of ``batch`` with a 3-frame video (whole) before its image; the image keeps
    the tokens of ``keep``. Returns the model inputs and the tokens the sparse prompt keeps."""
    tok = proc.tokenizer
    grid = torch.tensor([[3, 4, 6]])
    n_video = int(grid.prod()) // 4
    video = [tok.convert_tokens_to_ids("<|vision_start|>")]
    video += [tok.convert_tokens_to_ids("<|video_pad|>")] * n_video
    video += [tok.convert_tokens_to_ids("<|vision_end|>")]
    ids = torch.cat([torch.tensor([video]), batch["input_ids"]], 1)
    types = torch.cat([torch.tensor([[0] + [2] * n_video + [0]]), batch["mm_token_type_ids"]], 1)
    kept_tokens = torch.ones(ids.shape[1], dtype=torch.bool)
    kept_tokens[types[0] == 1] = keep
    inputs = {
        "input_ids": ids[:, kept_tokens],
        "attention_mask": torch.ones_like(ids[:, kept_tokens]),
        "mm_token_type_ids": types[:, kept_tokens],
        "pixel_values": batch["pixel_values"],
        "image_grid_thw": batch["image_grid_thw"],
        "pixel_values_videos": torch.randn(
            int(grid.prod()),
            batch["pixel_values"].shape[1],
            generator=torch.Generator().manual_seed(0),
        ),
        "video_grid_thw": grid,
    }
    if model.config.model_type == "qwen2_5_vl":
        inputs["second_per_grid_ts"] = torch.tensor([0.5])
    return inputs, kept_tokens


def test_a_video_beside_a_sparse_image_is_encoded_whole(proc, model):
    """A prompt with a video and an image, given as pixels to ``forward``: the sparse model
    raised stock transformers' 'cannot specify both pixel_values/pixel_values_videos and
    mm_encoder_outputs' (it precomputed the image features and left the video's pixels).
    Keep-all now gives the stock logits; a sparse image leaves the video's and the text's
    positions as dense."""
    batch = encode_batch(proc, _images((84, 140)), QUESTIONS[:1], CHOICES[:1])
    stock = _stock_copy(model)
    everything = torch.ones(15, dtype=torch.bool)
    dense, _ = _with_video(proc, model, batch, everything)
    keep = torch.zeros(15, dtype=torch.bool)
    keep[[0, 4, 7, 13]] = True
    sparse, kept_tokens = _with_video(proc, model, batch, keep)
    with torch.no_grad():
        reference = stock(**dense).logits
        assert torch.equal(model(**dense, image_keep_mask=everything).logits, reference)
        out = model(**sparse, image_keep_mask=keep).logits
        assert out.shape[1] == int(kept_tokens.sum()) and bool(torch.isfinite(out).all())
    rope = {k: v for k, v in dense.items() if k.endswith("grid_thw") or k == "second_per_grid_ts"}
    dense_pos, _ = stock.model.get_rope_index(
        dense["input_ids"], dense["mm_token_type_ids"], **rope
    )
    sparse_pos, _ = model.model.get_rope_index(
        sparse["input_ids"], sparse["mm_token_type_ids"], image_keep_mask=keep, **rope
    )
    assert torch.equal(sparse_pos, dense_pos[:, :, kept_tokens])
    model.model.rope_deltas = None
