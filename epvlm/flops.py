"""Analytic FLOPs of (sparse) Qwen2-VL / Qwen2.5-VL inference: vision tower, merger, LLM
prefill, decoding.

Conventions (those of ``torch.utils.flop_counter.FlopCounterMode``): a matrix product of
(m x k) by (k x n) costs 2mkn FLOPs; normalisations, activations, rotary embeddings, softmax
and embedding look-ups are not counted (they are a small fraction and the counter ignores
them too). Attention is counted as the two products QK^T and AV over the full score matrix
of each segment (what an un-fused kernel computes; causal masking is not discounted). The
test suite checks every term against the counter on a tiny model run with eager attention.

Qwen2.5-VL's vision tower attends within windows of ``window_size`` px (``window_size /
(patch * merge)`` LLM tokens per side) except in ``fullatt_block_indexes``; its window layers
cost the sum of squared kept rows per window, so they depend on where the kept tokens lie.
`vlm_flops` takes the exact per-window counts (`window_token_counts` of a keep mask) or, given
only the token grid, spreads the kept tokens over its windows in proportion to their sizes.
Window attention is under 1 % of a 2.5 vision tower's FLOPs, so the estimate barely matters.

Prefill counts the LM head for the last position only (``generate`` needs one row of logits);
decoding step ``i`` (for new tokens 2..n) processes one token over a context of prefill + i
cached tokens.

This module imports neither torch nor transformers: ``epvlm flops`` answers without weights.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, SupportsIndex

from epvlm.errors import ModelDirError
from eventsim.errors import ParameterError, shown_value

__all__ = [
    "PRESETS",
    "FlopsBreakdown",
    "VLMDims",
    "image_token_grid",
    "load_dims",
    "vlm_flops",
    "window_token_counts",
]


MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")


@dataclass(frozen=True)
class VLMDims:
    """The sizes that determine Qwen2-VL's (and Qwen2.5-VL's) compute.

    ``vision_intermediate_size`` is set for Qwen2.5-VL's gated (SwiGLU) vision MLP; Qwen2-VL's
    two-matrix MLP is ``vision_dim * vision_mlp_ratio`` wide. ``window_size`` (px, 0 = none)
    and ``fullatt_block_indexes`` describe Qwen2.5-VL's window attention.
    """

    vision_depth: int
    vision_dim: int
    vision_heads: int
    vision_mlp_ratio: float
    patch_size: int
    temporal_patch_size: int
    merge_size: int
    in_channels: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    min_pixels: int = 56 * 56
    max_pixels: int = 28 * 28 * 1280
    model_type: str = "qwen2_vl"
    vision_intermediate_size: int | None = None
    window_size: int = 0
    fullatt_block_indexes: tuple[int, ...] = ()

    @property
    def head_dim(self) -> int:
        """Width of one LLM attention head."""
        return self.hidden_size // self.num_heads

    @property
    def window_tokens(self) -> int:
        """LLM tokens per side of a vision attention window (0: no window attention)."""
        return self.window_size // (self.patch_size * self.merge_size)

    @property
    def window_layers(self) -> int:
        """Vision blocks that attend within windows."""
        if not self.window_tokens:
            return 0
        return self.vision_depth - len(set(self.fullatt_block_indexes))


# keyword arguments of VLMDims shared by the presets of one model family
_VISION_2B_7B: dict[str, Any] = dict(
    vision_depth=32,
    vision_dim=1280,
    vision_heads=16,
    vision_mlp_ratio=4,
    patch_size=14,
    temporal_patch_size=2,
    merge_size=2,
    in_channels=3,
)
_VISION_2_5: dict[str, Any] = dict(
    vision_depth=32,
    vision_dim=1280,
    vision_heads=16,
    vision_mlp_ratio=3420 / 1280,
    vision_intermediate_size=3420,
    patch_size=14,
    temporal_patch_size=2,
    merge_size=2,
    in_channels=3,
    model_type="qwen2_5_vl",
    window_size=112,
    fullatt_block_indexes=(7, 15, 23, 31),
)
# The pixel budget of the public preprocessor_config.json of every Qwen2-VL and Qwen2.5-VL
# Instruct checkpoint (4 to 16384 image tokens), which `epvlm run` / `eval` use with those
# checkpoints; VLMDims' own defaults are transformers' class defaults (1280 tokens at most),
# which a checkpoint directory without a processor config gets.
_PUBLIC_PIXELS: dict[str, Any] = dict(min_pixels=4 * 28 * 28, max_pixels=16384 * 28 * 28)
# Sizes from the public config.json files of the Qwen/*-Instruct checkpoints.
PRESETS: dict[str, VLMDims] = {
    "qwen2-vl-2b": VLMDims(
        **_VISION_2B_7B,
        hidden_size=1536,
        num_layers=28,
        num_heads=12,
        num_kv_heads=2,
        intermediate_size=8960,
        vocab_size=151936,
        **_PUBLIC_PIXELS,
    ),
    "qwen2-vl-7b": VLMDims(
        **_VISION_2B_7B,
        hidden_size=3584,
        num_layers=28,
        num_heads=28,
        num_kv_heads=4,
        intermediate_size=18944,
        vocab_size=152064,
        **_PUBLIC_PIXELS,
    ),
    "qwen2.5-vl-3b": VLMDims(
        **_VISION_2_5,
        hidden_size=2048,
        num_layers=36,
        num_heads=16,
        num_kv_heads=2,
        intermediate_size=11008,
        vocab_size=151936,
        **_PUBLIC_PIXELS,
    ),
    "qwen2.5-vl-7b": VLMDims(
        **_VISION_2_5,
        hidden_size=3584,
        num_layers=28,
        num_heads=28,
        num_kv_heads=4,
        intermediate_size=18944,
        vocab_size=152064,
        **_PUBLIC_PIXELS,
    ),
}


def _dims_from_dict(
    cfg: dict[str, Any], pixels: dict[str, Any] | None = None, where: str = "the config"
) -> VLMDims:
    from epvlm.loading import config_model_type

    # refused as epvlm run and eval refuse it: costed as Qwen2-VL's, a Qwen2.5-VL config
    # without the field got the wrong vision tower's FLOPs
    model_type = config_model_type(cfg, where)
    if model_type not in MODEL_TYPES:
        raise ParameterError(
            f"model_type {model_type!r} is not supported; expected one of {', '.join(MODEL_TYPES)}"
        )
    vision = cfg.get("vision_config") or {}
    text = cfg.get("text_config") or cfg  # older checkpoints keep text fields at the top level
    vision_dims: dict[str, Any]
    try:
        if model_type == "qwen2_5_vl":
            vision_dim = int(vision.get("hidden_size", 1280))
            mlp = int(vision.get("intermediate_size", 3420))
            vision_dims = dict(
                vision_dim=vision_dim,
                vision_mlp_ratio=mlp / vision_dim,
                vision_intermediate_size=mlp,
                window_size=int(vision.get("window_size", 112)),
                fullatt_block_indexes=tuple(
                    int(i) for i in vision.get("fullatt_block_indexes", (7, 15, 23, 31))
                ),
            )
        else:
            vision_dims = dict(
                vision_dim=int(vision.get("embed_dim", 1280)),
                vision_mlp_ratio=float(vision.get("mlp_ratio", 4)),
            )
        dims: dict[str, Any] = dict(
            vision_depth=int(vision.get("depth", 32)),
            vision_heads=int(vision.get("num_heads", 16)),
            patch_size=int(vision.get("patch_size", 14)),
            temporal_patch_size=int(vision.get("temporal_patch_size", 2)),
            merge_size=int(vision.get("spatial_merge_size", 2)),
            in_channels=int(vision.get("in_channels", vision.get("in_chans", 3))),
            hidden_size=int(text["hidden_size"]),
            num_layers=int(text["num_hidden_layers"]),
            num_heads=int(text["num_attention_heads"]),
            num_kv_heads=int(text.get("num_key_value_heads") or text["num_attention_heads"]),
            intermediate_size=int(text["intermediate_size"]),
            vocab_size=int(text["vocab_size"]),
            model_type=model_type,
            **vision_dims,
        )
    except KeyError as exc:
        raise ParameterError(f"{model_type} config lacks the field {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        # a field of the wrong type: a string where a number belongs, a list for a section
        raise ParameterError(f"{model_type} config has a field of the wrong type: {exc}") from None
    if pixels:
        size = pixels.get("size") or {}
        # transformers 4.45-4.48 (and some fine-tune tools) saved the budget as size's
        # min_pixels / max_pixels, which epvlm.processing.load_processor reads too
        dims["min_pixels"] = int(
            pixels.get("min_pixels")
            or size.get("shortest_edge")
            or size.get("min_pixels")
            or 56 * 56
        )
        dims["max_pixels"] = int(
            pixels.get("max_pixels")
            or size.get("longest_edge")
            or size.get("max_pixels")
            or 28 * 28 * 1280
        )
        if dims["min_pixels"] > dims["max_pixels"]:
            # load_processor refuses such a folder, so no cost may be quoted for it either
            raise ParameterError(
                f"the processor's min_pixels {dims['min_pixels']} is above its max_pixels "
                f"{dims['max_pixels']}; expected min_pixels <= max_pixels"
            )
    return VLMDims(**dims)


def load_dims(config: str | Path | VLMDims | dict | Any) -> VLMDims:
    """Dims from a preset name (`PRESETS`: ``qwen2-vl-2b``, ``qwen2-vl-7b``,
    ``qwen2.5-vl-3b``, ``qwen2.5-vl-7b``), a checkpoint directory (``config.json``, whose
    ``model_type`` says Qwen2-VL or Qwen2.5-VL, and if present the processor's pixel budget), a
    config dict (with its ``model_type``, as config.json has it), a transformers
    ``Qwen2VLConfig`` / ``Qwen2_5_VLConfig`` or `VLMDims`. A hub id given for a folder
    (``Qwen/Qwen2-VL-2B-Instruct``) is said to be one (`epvlm.loading.hub_id_message`)."""
    if isinstance(config, VLMDims):
        return config
    if isinstance(config, dict):
        return _dims_from_dict(config)
    if hasattr(config, "to_dict"):
        return _dims_from_dict(config.to_dict())
    name = str(config)
    if name in PRESETS:
        return PRESETS[name]
    path = Path(name)
    if path.name == "config.json" and path.is_file():
        # the file names its checkpoint as well as the folder does (the processor's pixel
        # budget beside it is read too)
        path = path.parent
    if not path.is_dir():
        from epvlm.loading import hub_id_message
        from eventsim._suggest import did_you_mean

        raise ModelDirError(
            hub_id_message(name)
            or f"config {name!r} is neither a preset ({', '.join(PRESETS)}) nor a checkpoint folder"
            + did_you_mean(name, list(PRESETS))
        )
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        from epvlm.loading import hub_cache_hint

        # a dataset folder, or any other, is as likely a mistyped preset as a checkpoint
        raise ModelDirError(
            f"config {name!r} is neither a preset ({', '.join(PRESETS)}) nor a checkpoint "
            "folder: it has no config.json" + hub_cache_hint(path)
        )
    pixels = None
    # transformers' order: processor_config.json's nested image_processor, else
    # preprocessor_config.json (a folder saved anew over an older one can hold both, apart)
    if (path / "processor_config.json").is_file():
        pixels = _read_json_object(path / "processor_config.json").get("image_processor")
        if pixels is not None and not isinstance(pixels, dict):
            raise ModelDirError(
                f"{path / 'processor_config.json'}: 'image_processor' is not a JSON object"
            )
    if pixels is None and (path / "preprocessor_config.json").is_file():
        pixels = _read_json_object(path / "preprocessor_config.json")
    return _dims_from_dict(_read_json_object(cfg_file), pixels, repr(str(cfg_file)))


def _read_json_object(path: Path) -> dict[str, Any]:
    """A checkpoint's JSON file as a dict; a file that is not one JSON object is a
    `ModelDirError` naming the file and where it breaks."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ModelDirError(f"{path}: not a UTF-8 text file; expected a JSON object") from None
    except json.JSONDecodeError as exc:
        raise ModelDirError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise ModelDirError(f"{path}: holds a JSON {type(data).__name__}; expected an object")
    return data


def image_token_grid(dims: VLMDims, height: int, width: int) -> tuple[int, int]:
    """(rows, cols) of LLM image tokens for an image of ``height`` x ``width`` px
    (Qwen2-VL's ``smart_resize``: multiples of patch*merge within the pixel budget)."""
    if height <= 0 or width <= 0:
        raise ParameterError(f"image size {height}x{width} must be positive")
    factor = dims.patch_size * dims.merge_size
    ratio = max(height, width) / min(height, width)
    if ratio > 200:
        raise ParameterError(
            f"image of {height}x{width} px (H x W) has an aspect ratio of {ratio:g}:1; "
            "expected at most 200:1"
        )
    # no floor of one factor here: a side under factor/2 rounds to 0, which sends the image
    # through the min_pixels branch as in transformers (a floor would skip it)
    h = round(height / factor) * factor
    w = round(width / factor) * factor
    if h * w > dims.max_pixels:
        beta = math.sqrt((height * width) / dims.max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < dims.min_pixels:
        beta = math.sqrt(dims.min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    if h == 0 or w == 0:
        raise ParameterError(
            f"image size {height}x{width} gives no image token with min_pixels "
            f"{dims.min_pixels}; expected min_pixels > 0 or sides over {factor // 2} px"
        )
    return h // factor, w // factor


@dataclass(frozen=True)
class FlopsBreakdown:
    """FLOPs of one request (all images of it), split by component."""

    vision_linear: int
    vision_attention: int
    merger: int
    llm_linear: int
    llm_attention: int
    lm_head: int
    decode: int
    image_tokens: int
    text_tokens: int
    new_tokens: int

    @property
    def vision(self) -> int:
        """Vision tower FLOPs (linear layers and attention)."""
        return self.vision_linear + self.vision_attention

    @property
    def language_model(self) -> int:
        """Language model FLOPs, LM head included."""
        return self.llm_linear + self.llm_attention + self.lm_head

    @property
    def prefill(self) -> int:
        """Vision tower, merger and language model over the prompt."""
        return self.vision + self.merger + self.language_model

    @property
    def total(self) -> int:
        """Prefill and decoding."""
        return self.prefill + self.decode

    def as_dict(self) -> dict[str, int]:
        """Every field and the vision, language_model, prefill and total sums."""
        out = asdict(self)
        out.update(
            vision=self.vision,
            language_model=self.language_model,
            prefill=self.prefill,
            total=self.total,
        )
        return out


def _llm_token_linear(d: VLMDims) -> int:
    kv = d.num_kv_heads * d.head_dim
    attn = 2 * d.hidden_size * (2 * d.hidden_size + 2 * kv)
    mlp = 2 * 3 * d.hidden_size * d.intermediate_size
    return d.num_layers * (attn + mlp)


def window_token_counts(
    config: Any, rows: int, cols: int, mask: Sequence[bool] | None = None
) -> list[int]:
    """Kept LLM tokens in each vision attention window of a ``rows`` x ``cols`` token grid
    (``mask``: one bool per token in raster order; None keeps all). Windows tile the grid
    from the top-left corner, the last row and column of windows being partial, as in
    Qwen2.5-VL; a model without window attention has one window, the whole grid."""
    d = load_dims(config)
    if rows <= 0 or cols <= 0:
        raise ParameterError(f"token grid {rows}x{cols} must be positive")
    if mask is not None and len(mask) != rows * cols:
        raise ParameterError(f"mask has {len(mask)} entries, the {rows}x{cols} grid {rows * cols}")
    side = d.window_tokens or max(rows, cols)
    per_row = -(-cols // side)
    counts = [0] * (-(-rows // side) * per_row)
    for i in range(rows * cols):
        if mask is None or mask[i]:
            r, c = divmod(i, cols)
            counts[(r // side) * per_row + c // side] += 1
    return counts


def _spread(kept: int, sizes: list[int]) -> list[int]:
    """``kept`` tokens over windows of ``sizes`` tokens, proportionally (largest remainder)."""
    total = sum(sizes)
    shares = [kept * s / total for s in sizes]
    counts = [int(x) for x in shares]
    order = sorted(range(len(sizes)), key=lambda i: counts[i] - shares[i])
    for i in order[: kept - sum(counts)]:
        counts[i] += 1
    return counts


def _count(value: Any, what: str) -> int:
    """``value`` as a token count: any integer (numpy's too); a float, even a whole one, is
    refused rather than truncated, and so is a bool (an entry of a keep mask, not its sum)."""
    if not isinstance(value, bool):  # numpy's bool has no __index__
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise ParameterError(f"{what} {shown_value(value)} is not an integer; expected a token count")


def _counts(values: Any, what: str) -> list[int]:
    """``values`` (one count, or one per image: a list, a numpy integer array) as counts."""
    try:
        return [_count(values, what)]
    except ParameterError:
        # not one count: a sequence of them, else it is named whole (a float, a string)
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise
    return [_count(v, f"{what} entry") for v in values]


def _window_counts(
    d: VLMDims,
    kept: list[int],
    windows: Sequence[Sequence[int]] | None,
    token_grids: Sequence[tuple[int, int]] | None,
) -> list[list[int]]:
    if windows is not None:
        bare = [w for w in windows if isinstance(w, (str, bytes)) or not isinstance(w, Iterable)]
        if bare:
            # a bare count would be read as one window holding all of the image's kept tokens
            raise ParameterError(
                f"windows entry {shown_value(bare[0])} is not one image's kept tokens per window "
                "(a list of counts, `window_token_counts` of its mask)"
            )
        given = [_counts(w, "windows") for w in windows]
        if len(given) != len(kept) or any(sum(w) != k for w, k in zip(given, kept)):
            raise ParameterError(
                f"windows must give each image's kept tokens per window; their sums "
                f"{[sum(w) for w in given]} differ from kept {kept}"
            )
        return given
    if token_grids is not None:
        if len(token_grids) != len(kept):
            raise ParameterError(f"{len(token_grids)} token grids for {len(kept)} images")
        out = []
        for grid, k in zip(token_grids, kept):
            sides = _counts(grid, "token_grids")
            if len(sides) != 2:
                # one number, or three, failed unpacking with a bare ValueError
                raise ParameterError(
                    f"token_grids entry {shown_value(grid)} is not one image's (rows, cols) of "
                    "LLM tokens"
                )
            rows, cols = sides
            if k > rows * cols:
                raise ParameterError(f"{k} kept tokens exceed the {rows}x{cols} grid")
            out.append(_spread(k, window_token_counts(d, rows, cols)))
        return out
    # without a grid: the kept tokens fill whole windows (an upper bound of the cost)
    full = d.window_tokens**2
    return [[full] * (k // full) + ([k % full] if k % full else []) for k in kept]


def vlm_flops(
    config: Any,
    kept_tokens: SupportsIndex | Iterable[SupportsIndex],
    text_tokens: SupportsIndex,
    *,
    new_tokens: SupportsIndex = 1,
    windows: Sequence[Sequence[int]] | None = None,
    token_grids: Sequence[tuple[int, int]] | None = None,
) -> FlopsBreakdown:
    """FLOPs of answering one prompt with ``text_tokens`` non-image tokens and images of which
    ``kept_tokens`` LLM tokens each (one integer per image: a list, a numpy integer array)
    enter the model; ``new_tokens`` generated tokens (the first comes from prefill). Counts
    may be numpy integers (``mask.sum()``); a float or bool is refused, not truncated.

    Qwen2.5-VL's window attention needs to know where the kept tokens lie: ``windows`` gives
    each image's kept tokens per window (`window_token_counts` of its mask, exact);
    otherwise ``token_grids`` gives each image's (rows, cols) and the kept tokens are spread
    over its windows in proportion to their sizes (exact when all are kept); with neither,
    they fill whole windows. Qwen2-VL ignores both."""
    d = load_dims(config)
    kept = _counts(kept_tokens, "kept_tokens")
    text_tokens = _count(text_tokens, "text_tokens")
    new_tokens = _count(new_tokens, "new_tokens")
    if any(k < 0 for k in kept) or text_tokens < 0 or new_tokens < 0:
        raise ParameterError(
            f"token counts must be >= 0, got kept={kept}, text={text_tokens}, new={new_tokens}"
        )
    unit = d.merge_size**2
    patches = [k * unit for k in kept]
    n_patches = sum(patches)
    vd = d.vision_dim
    patch_in = d.in_channels * d.temporal_patch_size * d.patch_size**2
    if d.vision_intermediate_size:  # gated MLP: gate, up, down
        mlp = 3 * 2 * vd * d.vision_intermediate_size
    else:
        mlp = 2 * 2 * vd * int(vd * d.vision_mlp_ratio)
    per_patch_block = 2 * vd * 3 * vd + 2 * vd * vd + mlp
    vision_linear = n_patches * (2 * patch_in * vd + d.vision_depth * per_patch_block)
    full_layers = d.vision_depth - d.window_layers
    vision_attention = full_layers * 4 * vd * sum(p * p for p in patches)
    if d.window_layers:
        per_window = _window_counts(d, kept, windows, token_grids)
        squares = sum((n * unit) ** 2 for w in per_window for n in w)
        vision_attention += d.window_layers * 4 * vd * squares
    merged = unit * vd
    merger = sum(kept) * (2 * merged * merged + 2 * merged * d.hidden_size)

    seq = text_tokens + sum(kept)
    llm_linear = seq * _llm_token_linear(d)
    llm_attention = d.num_layers * 4 * d.hidden_size * seq * seq
    lm_head = 2 * d.hidden_size * d.vocab_size if new_tokens > 0 else 0
    decode = 0
    for i in range(1, new_tokens):
        context = seq + i
        decode += _llm_token_linear(d) + d.num_layers * 4 * d.hidden_size * context
        decode += 2 * d.hidden_size * d.vocab_size
    return FlopsBreakdown(
        vision_linear=vision_linear,
        vision_attention=vision_attention,
        merger=merger,
        llm_linear=llm_linear,
        llm_attention=llm_attention,
        lm_head=lm_head,
        decode=decode,
        image_tokens=sum(kept),
        text_tokens=text_tokens,
        new_tokens=new_tokens,
    )
