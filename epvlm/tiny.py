"""Tiny random Qwen2-VL / Qwen2.5-VL configs and checkpoints for tests and small demo models.

The architecture is exactly Qwen2-VL's (vision tower with 2-D RoPE, 2x2 patch merger, M-RoPE
language model) or Qwen2.5-VL's (the same with RMSNorm/SwiGLU vision blocks and window
attention); only the sizes are small. ``initializer_range`` defaults to 0.1 rather than
Qwen's 0.02: with 0.02 a tiny random model has near-zero logits (equivalence tests then compare
tiny numbers) and a tiny model trained from scratch ignores the image.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from eventsim.errors import ParameterError

__all__ = [
    "MODEL_TYPES",
    "HasTokenizer",
    "mrope_section",
    "save_tiny_checkpoint",
    "tiny_config",
    "tiny_model",
]

if TYPE_CHECKING:
    from transformers import PreTrainedModel, Qwen2_5_VLConfig, Qwen2VLConfig


class HasTokenizer(Protocol):
    """What `tiny_config` reads of a processor: its ``tokenizer`` (a transformers processor,
    `epvlm.processing.build_offline_processor`'s, or anything holding one)."""

    # read only: as a plain attribute, a processor whose tokenizer is a property did not match
    @property
    def tokenizer(self) -> Any: ...


def mrope_section(head_dim: int) -> list[int]:
    """Split of the rotary half-dimension into (t, h, w) sections, Qwen2-VL's 16/24/24 ratio."""
    half = head_dim // 2
    if head_dim % 2 or half < 3:
        raise ParameterError(f"head_dim {head_dim} must be even and >= 6 for M-RoPE")
    t = max(1, round(half / 4))
    h = (half - t) // 2
    return [half - 2 * h, h, h]


MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")


def tiny_config(
    processor: HasTokenizer | None = None,
    *,
    model_type: str = "qwen2_vl",
    vocab_size: int | None = None,
    vision_depth: int = 2,
    vision_dim: int = 32,
    vision_heads: int = 2,
    vision_mlp_ratio: int = 2,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    initializer_range: float = 0.1,
    tie_word_embeddings: bool = False,
    attn_implementation: str = "sdpa",
    window_size: int = 56,
    fullatt_block_indexes: tuple[int, ...] = (1,),
) -> Qwen2VLConfig | Qwen2_5_VLConfig:
    """A small `Qwen2VLConfig` (``model_type="qwen2_vl"``) or `Qwen2_5_VLConfig`
    (``"qwen2_5_vl"``). Token ids (image, video, vision start/end, eos, pad) and the
    vocabulary size are taken from ``processor.tokenizer`` when given, so they always match
    the offline tokenizer of `epvlm.processing.build_offline_processor`.

    ``window_size`` (px) and ``fullatt_block_indexes`` apply to Qwen2.5-VL only: the default
    56 px windows hold 2x2 LLM tokens, so even small test images span several (partly
    padded) windows, and with the default depth 2 one block uses windows, one full attention.
    """
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig

    from epvlm.loading import vision_config
    from epvlm.processing import IM_END, IMAGE_TOKEN, PAD_TOKEN, VISION_END, VISION_START

    if processor is not None:
        tok = processor.tokenizer
        ids = {
            "image_token_id": tok.convert_tokens_to_ids(IMAGE_TOKEN),
            "video_token_id": tok.convert_tokens_to_ids("<|video_pad|>"),
            "vision_start_token_id": tok.convert_tokens_to_ids(VISION_START),
            "vision_end_token_id": tok.convert_tokens_to_ids(VISION_END),
        }
        eos, pad = tok.convert_tokens_to_ids(IM_END), tok.convert_tokens_to_ids(PAD_TOKEN)
        vocab_size = vocab_size or len(tok)
    else:
        ids = {
            "image_token_id": 12,
            "video_token_id": 13,
            "vision_start_token_id": 9,
            "vision_end_token_id": 10,
        }
        eos, pad = 2, 0
        vocab_size = vocab_size or 64
    if hidden_size % num_heads or num_heads % num_kv_heads or vision_dim % vision_heads:
        raise ParameterError(
            f"hidden_size {hidden_size} must divide by num_heads {num_heads}, num_heads by "
            f"num_kv_heads {num_kv_heads}, vision_dim {vision_dim} by vision_heads {vision_heads}"
        )
    if model_type not in MODEL_TYPES:
        raise ParameterError(f"model_type {model_type!r} is unknown; expected one of {MODEL_TYPES}")
    head_dim = hidden_size // num_heads
    config_cls: type[Qwen2VLConfig | Qwen2_5_VLConfig]
    vision: dict[str, Any]
    if model_type == "qwen2_vl":
        config_cls = Qwen2VLConfig
        vision = {
            "depth": vision_depth,
            "embed_dim": vision_dim,
            "hidden_size": hidden_size,
            "num_heads": vision_heads,
            "mlp_ratio": vision_mlp_ratio,
            "initializer_range": initializer_range,
        }
    else:
        config_cls = Qwen2_5_VLConfig
        vision = {
            "depth": vision_depth,
            "hidden_size": vision_dim,
            "intermediate_size": vision_dim * vision_mlp_ratio,
            "out_hidden_size": hidden_size,
            "num_heads": vision_heads,
            "window_size": window_size,
            "fullatt_block_indexes": list(fullatt_block_indexes),
            "initializer_range": initializer_range,
        }
    config = config_cls(
        vision_config=vision,
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": hidden_size,
            "intermediate_size": intermediate_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": num_heads,
            "num_key_value_heads": num_kv_heads,
            "max_position_embeddings": 4096,
            "initializer_range": initializer_range,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": mrope_section(head_dim),
            },
            "bos_token_id": pad,
            "eos_token_id": eos,
            "pad_token_id": pad,
            "tie_word_embeddings": tie_word_embeddings,
        },
        tie_word_embeddings=tie_word_embeddings,
        **ids,
    )
    config._attn_implementation = attn_implementation
    vision_config(config)._attn_implementation = attn_implementation
    config.get_text_config()._attn_implementation = attn_implementation
    return config


def tiny_model(
    config: Qwen2VLConfig | Qwen2_5_VLConfig | None = None, *, seed: int = 0
) -> PreTrainedModel:
    """A randomly initialised EP-VLM model in eval mode (float32): the class the config's
    ``model_type`` names (`epvlm.loading.model_class_for`)."""
    import torch

    from epvlm.loading import model_class_for

    config = config or tiny_config()
    torch.manual_seed(seed)
    model = model_class_for(config.model_type)(config)
    model.generation_config.pad_token_id = model.config.text_config.pad_token_id
    model.generation_config.eos_token_id = model.config.text_config.eos_token_id
    return model.eval()


def save_tiny_checkpoint(
    out_dir: str | Path, vocab_words: list[str], *, seed: int = 0, **config_kwargs: Any
) -> Path:
    """Save a random tiny model with its processor: a directory ``from_pretrained`` accepts."""
    from epvlm.processing import build_offline_processor

    out_dir = Path(out_dir)
    proc = build_offline_processor(vocab_words)
    model = tiny_model(tiny_config(proc, **config_kwargs), seed=seed)
    model.save_pretrained(out_dir)
    proc.save_pretrained(out_dir)
    return out_dir
