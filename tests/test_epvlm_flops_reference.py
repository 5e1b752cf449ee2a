"""The FLOPs presets and counts against an independent reference.

The reference sizes are the public ``config.json`` / ``preprocessor_config.json`` values of the
Qwen/Qwen2-VL-{2B,7B}-Instruct and Qwen/Qwen2.5-VL-{3B,7B}-Instruct checkpoints (fields their
config.json leaves out take transformers' config class defaults: Qwen2-VL vision depth 32,
embed_dim 1280, mlp_ratio 4, 16 heads; Qwen2.5-VL vision intermediate_size 3420, window_size
112, fullatt_block_indexes [7, 15, 23, 31]). The reference count lists every matrix product of
a prefill from those sizes, written without `epvlm.flops`' helpers: a product of (m x k) by
(k x n) is 2mkn FLOPs, attention is QK^T and AV per head over the whole segment (no causal
discount), and the LM head runs on the last position only, as the module's docstring states.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from epvlm.flops import PRESETS, image_token_grid, vlm_flops

PUBLIC: dict[str, dict[str, Any]] = {
    "qwen2-vl-2b": dict(
        family="qwen2_vl", depth=32, vdim=1280, vheads=16, vmlp=5120,
        hidden=1536, layers=28, heads=12, kv_heads=2, inter=8960, vocab=151936,
    ),
    "qwen2-vl-7b": dict(
        family="qwen2_vl", depth=32, vdim=1280, vheads=16, vmlp=5120,
        hidden=3584, layers=28, heads=28, kv_heads=4, inter=18944, vocab=152064,
    ),
    "qwen2.5-vl-3b": dict(
        family="qwen2_5_vl", depth=32, vdim=1280, vheads=16, vmlp=3420,
        hidden=2048, layers=36, heads=16, kv_heads=2, inter=11008, vocab=151936,
    ),
    "qwen2.5-vl-7b": dict(
        family="qwen2_5_vl", depth=32, vdim=1280, vheads=16, vmlp=3420,
        hidden=3584, layers=28, heads=28, kv_heads=4, inter=18944, vocab=152064,
    ),
}  # fmt: skip
PATCH, TEMPORAL, MERGE, CHANNELS = 14, 2, 2, 3
WINDOW_PX, FULL_BLOCKS = 112, (7, 15, 23, 31)
MIN_PIXELS, MAX_PIXELS = 3136, 12845056


def _mm(m: int, k: int, n: int) -> int:
    return 2 * m * k * n


def _reference_prefill(name: str, kept: int, text: int, windows: list[int]) -> int:
    """Prefill FLOPs of one image of ``kept`` LLM tokens (``windows``: kept tokens in each
    Qwen2.5-VL attention window) after ``text`` other prompt tokens."""
    c = PUBLIC[name]
    d, unit = c["vdim"], MERGE * MERGE
    patches = kept * unit
    total = _mm(patches, CHANNELS * TEMPORAL * PATCH * PATCH, d)  # Conv3d patch embedding
    block = _mm(patches, d, 3 * d) + _mm(patches, d, d)  # qkv, proj
    if c["family"] == "qwen2_vl":
        block += _mm(patches, d, c["vmlp"]) + _mm(patches, c["vmlp"], d)  # fc1, fc2
    else:
        block += 2 * _mm(patches, d, c["vmlp"]) + _mm(patches, c["vmlp"], d)  # gate, up, down
    total += c["depth"] * block
    head = d // c["vheads"]

    def attention(n: int) -> int:
        return c["vheads"] * (_mm(n, head, n) + _mm(n, n, head))

    if c["family"] == "qwen2_vl":
        total += c["depth"] * attention(patches)
    else:
        total += len(FULL_BLOCKS) * attention(patches)
        total += (c["depth"] - len(FULL_BLOCKS)) * sum(attention(n * unit) for n in windows)
    merged = unit * d
    total += _mm(kept, merged, merged) + _mm(kept, merged, c["hidden"])  # merger MLP
    seq, h = text + kept, c["hidden"]
    head = h // c["heads"]
    per_layer = _mm(seq, h, h) + 2 * _mm(seq, h, c["kv_heads"] * head) + _mm(seq, h, h)
    per_layer += 2 * _mm(seq, h, c["inter"]) + _mm(seq, c["inter"], h)
    per_layer += c["heads"] * (_mm(seq, head, seq) + _mm(seq, seq, head))
    total += c["layers"] * per_layer
    return total + _mm(1, h, c["vocab"])


def _window_counts(mask: np.ndarray) -> list[int]:
    side = WINDOW_PX // PATCH // MERGE
    rows, cols = mask.shape
    return [
        int(mask[r : r + side, c : c + side].sum())
        for r in range(0, rows, side)
        for c in range(0, cols, side)
    ]


@pytest.mark.parametrize("name", PUBLIC)
def test_presets_equal_the_public_configs(name):
    d, c = PRESETS[name], PUBLIC[name]
    assert d.model_type == c["family"]
    assert (d.vision_depth, d.vision_dim, d.vision_heads) == (c["depth"], c["vdim"], c["vheads"])
    assert (d.vision_intermediate_size or int(d.vision_dim * d.vision_mlp_ratio)) == c["vmlp"]
    assert (d.patch_size, d.temporal_patch_size, d.merge_size) == (PATCH, TEMPORAL, MERGE)
    assert d.in_channels == CHANNELS
    assert (d.hidden_size, d.num_layers, d.intermediate_size) == (
        c["hidden"],
        c["layers"],
        c["inter"],
    )
    assert (d.num_heads, d.num_kv_heads, d.vocab_size) == (c["heads"], c["kv_heads"], c["vocab"])
    assert (d.min_pixels, d.max_pixels) == (MIN_PIXELS, MAX_PIXELS)
    if c["family"] == "qwen2_5_vl":
        assert (d.window_size, tuple(d.fullatt_block_indexes)) == (WINDOW_PX, FULL_BLOCKS)
    else:
        assert d.window_size == 0


@pytest.mark.parametrize("name", PUBLIC)
@pytest.mark.parametrize("hw", [(448, 448), (480, 640), (336, 1008), (1080, 1920)])
def test_prefill_equals_the_reference_count(name, hw):
    rows, cols = image_token_grid(PRESETS[name], *hw)
    rng = np.random.default_rng(rows * 1000 + cols)
    for keep in (1.0, 0.5, 0.25, 0.1):
        kept = max(1, math.floor(keep * rows * cols + 0.5))
        mask = np.zeros(rows * cols, bool)
        mask[rng.choice(rows * cols, kept, replace=False)] = True  # scattered, as the prior
        windows = _window_counts(mask.reshape(rows, cols))
        for text in (0, 41, 700):
            ours = vlm_flops(name, kept, text, new_tokens=1, windows=[windows])
            assert ours.prefill == _reference_prefill(name, kept, text, windows), (keep, text)


def test_reference_grid_at_1080p_is_the_public_processors():
    # 1092 x 1932 px after smart_resize under the public 16384-token budget: 39 x 69 tokens
    assert image_token_grid(PRESETS["qwen2-vl-2b"], 1080, 1920) == (39, 69)
    assert image_token_grid(PRESETS["qwen2.5-vl-7b"], 1080, 1920) == (39, 69)


@pytest.mark.parametrize("name", ["qwen2-vl-2b", "qwen2.5-vl-3b"])
def test_decode_equals_the_reference_count(name):
    c = PUBLIC[name]
    h, head = c["hidden"], c["hidden"] // c["heads"]
    seq, new = 297, 6
    expected = 0
    for step in range(1, new):  # new token `step` attends to the prompt and `step` tokens
        context = seq + step
        layer = _mm(1, h, h) * 2 + 2 * _mm(1, h, c["kv_heads"] * head)
        layer += 2 * _mm(1, h, c["inter"]) + _mm(1, c["inter"], h)
        layer += c["heads"] * (_mm(1, head, context) + _mm(1, context, head))
        expected += c["layers"] * layer + _mm(1, h, c["vocab"])
    assert vlm_flops(name, 256, seq - 256, new_tokens=new, token_grids=[(16, 16)]).decode == (
        expected
    )
