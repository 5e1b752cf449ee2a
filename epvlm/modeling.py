"""Position-preserving sparse Qwen2-VL: subclasses of transformers' Qwen2-VL (no fork).

``image_keep_mask`` is a flat boolean tensor with one entry per LLM image token (one merged
2x2 patch group) of every image in the batch, in batch order. Unkept groups never enter the
vision tower: their four patch rows are removed before patch embedding, the kept rows keep
their original 2-D rotary positions (precomputed ``position_ids``) and each image attends
over its kept rows only (shorter ``cu_seqlens`` segments). In the language model the kept
image tokens keep their original M-RoPE (t, h, w) ids and every text token gets exactly the
position it has in the dense sequence, so a fully kept mask reproduces dense Qwen2-VL and a
partial mask equals dense Qwen2-VL with the dropped tokens hidden from attention.

Tested with transformers 5.23 (the ``vlm`` extra pins that range).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import GenerationMixin, Qwen2VLForConditionalGeneration, Qwen2VLModel
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutputWithPooling, CausalLMOutputWithPast
from transformers.modeling_utils import slice_logits_to_keep
from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VLPreTrainedModel
from transformers.utils.generic import accepts_precomputed_kwargs, can_return_tuple
from transformers.vision_utils import get_vision_position_ids

from epvlm.errors import KeepMaskError
from epvlm.loading import register_stock_conversions
from epvlm.prior import _check_mask_shape
from eventsim._text import plural

__all__ = [
    "DecodeFromRopeDeltas",
    "EPQwen2VLForConditionalGeneration",
    "EPQwen2VLModel",
    "SparsePlan",
    "prepare_sparse_inputs",
    "sparse_plan",
    "sparse_rope_index",
    "split_keep_mask",
]


@dataclass(frozen=True)
class SparsePlan:
    """Which pixel rows enter the vision tower and how they are laid out."""

    rows: torch.Tensor  # (kept_rows,) indices into the dense pixel_values rows
    position_ids: torch.Tensor  # (kept_rows, 2) original (h, w) patch coordinates
    cu_seqlens: torch.Tensor  # (segments + 1,) int32 boundaries, one segment per image frame
    kept_per_image: list[int]  # kept LLM tokens per image
    token_masks: list[torch.Tensor]  # per image, bool over its dense LLM tokens


#: A keep mask as the model takes it: one flat bool tensor over every image's tokens, or one
#: mask per image (flat, or (rows, cols) on its token grid), tensors or numpy arrays.
KeepMaskLike = torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray]


def _as_flat_mask(
    image_keep_mask: KeepMaskLike, grid_thw: torch.Tensor, spatial_merge_size: int
) -> torch.Tensor:
    """The batch mask flat on ``grid_thw``'s device; a mask that is not flat (one per image,
    or the whole mask of a one-image batch) must be its image's (rows, cols) token grid, up to
    axes of length 1 (`epvlm.prior._check_mask_shape`)."""
    grids = [
        (int(h) // spatial_merge_size, int(w) // spatial_merge_size)
        for _, h, w in grid_thw.tolist()
    ]
    if isinstance(image_keep_mask, (list, tuple)):
        parts = [torch.as_tensor(m) for m in image_keep_mask]
    else:
        parts = [torch.as_tensor(image_keep_mask)]
    # parts and images pair up only when counted alike (a (B, tokens) stack of B > 1 images
    # does not, and flattens in batch order); else split_keep_mask's length check says so
    for i, part in enumerate(parts if len(parts) == len(grids) else ()):
        which = "image_keep_mask" if len(parts) == 1 else f"image_keep_mask[{i}]"
        _check_mask_shape(tuple(part.shape), grids[i], which, i)
    flat = parts[0].reshape(-1) if len(parts) == 1 else torch.cat([m.reshape(-1) for m in parts])
    mask = flat.to(grid_thw.device)
    if mask.dtype != torch.bool:
        raise KeepMaskError(f"image_keep_mask must be a bool tensor, got dtype {mask.dtype}")
    return mask


def split_keep_mask(
    image_keep_mask: KeepMaskLike, grid_thw: torch.Tensor, spatial_merge_size: int
) -> list[torch.Tensor]:
    """Split the flat batch mask into one mask per image, checking its length and content."""
    mask = _as_flat_mask(image_keep_mask, grid_thw, spatial_merge_size)
    counts = (grid_thw.prod(-1) // spatial_merge_size**2).tolist()
    if mask.numel() != sum(counts):
        raise KeepMaskError(
            f"image_keep_mask has {mask.numel()} entries but the {len(counts)} "
            f"{plural(len(counts), 'image has', 'images have')} "
            f"{sum(counts)} LLM image tokens ({counts} per image)"
        )
    parts = list(torch.split(mask, counts))
    for i, part in enumerate(parts):
        if not bool(part.any()):
            raise KeepMaskError(f"image_keep_mask keeps no token of image {i}; keep at least one")
    return parts


def sparse_plan(
    image_keep_mask: KeepMaskLike, grid_thw: torch.Tensor, spatial_merge_size: int
) -> SparsePlan:
    """Rows, original rotary positions and attention segments of the kept patch groups.

    The processor orders pixel rows by merge group (rows ``u*g .. u*g+u-1`` form LLM token
    ``g``, ``u = merge**2``), so token masks map to rows by ``repeat_interleave(u)``.
    """
    unit = spatial_merge_size**2
    token_masks = split_keep_mask(image_keep_mask, grid_thw, spatial_merge_size)
    row_mask = torch.cat([m.repeat_interleave(unit) for m in token_masks])
    rows = torch.nonzero(row_mask, as_tuple=False).reshape(-1)
    position_ids = get_vision_position_ids(grid_thw, spatial_merge_size)[rows]
    seg_lengths: list[int] = []
    for (t, h, w), m in zip(grid_thw.tolist(), token_masks):
        per_frame = m.reshape(t, (h * w) // unit).sum(-1) * unit
        seg_lengths.extend(int(v) for v in per_frame.tolist() if v > 0)
    lengths = torch.tensor(seg_lengths, dtype=torch.int32, device=grid_thw.device)
    cu_seqlens = F.pad(lengths.cumsum(0, dtype=torch.int32), (1, 0), value=0)
    return SparsePlan(
        rows=rows,
        position_ids=position_ids,
        cu_seqlens=cu_seqlens,
        kept_per_image=[int(m.sum()) for m in token_masks],
        token_masks=token_masks,
    )


def sparse_rope_index(
    model: Any,
    input_ids: torch.LongTensor,
    mm_token_type_ids: torch.IntTensor,
    image_grid_thw: torch.LongTensor,
    video_grid_thw: torch.LongTensor | None,
    attention_mask: torch.Tensor | None,
    image_keep_mask: KeepMaskLike,
    video_time_intervals: list[float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense M-RoPE ids restricted to the kept image tokens (Qwen2-VL and Qwen2.5-VL).

    Each image run takes the kept columns of its dense (t, h, w) ids and then advances the
    running position by ``max(h, w) / merge`` exactly like the dense sequence, so every
    text token (and every decoding step after the prompt) has its dense position. Videos are
    kept whole; ``video_time_intervals`` (Qwen2.5-VL) spaces their temporal ids.
    """
    merge = model.config.vision_config.spatial_merge_size
    image_masks = iter(split_keep_mask(image_keep_mask, image_grid_thw, merge))
    grids = {
        1: iter(image_grid_thw),
        2: iter(video_grid_thw) if video_grid_thw is not None else None,
    }
    intervals = iter(video_time_intervals) if video_time_intervals is not None else None
    device = input_ids.device
    position_ids = torch.zeros(3, *input_ids.shape, dtype=input_ids.dtype, device=device)
    deltas = []
    for b, ids in enumerate(input_ids):
        types = mm_token_type_ids[b]
        if attention_mask is not None:
            keep_tok = attention_mask[b].bool()
            ids, types = ids[keep_tok], types[keep_tok]
        pieces = []
        cur = 0
        # the dense sequence's largest id: a dropped image token may hold it, and decoding
        # continues from it when the prompt ends with the image
        top = 0
        for modality, run in itertools.groupby(enumerate(types.tolist()), lambda x: x[1]):
            group = list(run)
            length = group[-1][0] + 1 - group[0][0]
            if modality == 0:
                pieces.append(torch.arange(length, device=device).view(1, -1).expand(3, -1) + cur)
                cur += length
                continue
            grid = next(grids[modality])
            interval = next(intervals) if modality == 2 and intervals is not None else 1
            dense = model.get_vision_position_ids(cur, grid, 1, merge, interval, device=device)
            top = max(top, int(dense.max()))
            if modality == 1:
                kept = next(image_masks).to(device)
                if int(kept.sum()) != length:
                    raise KeepMaskError(
                        f"sample {b} has {length} image tokens in its prompt but its keep "
                        f"mask keeps {int(kept.sum())}; the prompt must carry exactly the "
                        "kept count of <|image_pad|> tokens"
                    )
                dense = dense[:, kept]
            pieces.append(dense)
            cur += max(int(grid[1]), int(grid[2])) // merge
        llm_positions = torch.cat(pieces, dim=1)
        if attention_mask is not None:
            position_ids[:, b, attention_mask[b].bool()] = llm_positions.to(position_ids.dtype)
        else:
            position_ids[:, b] = llm_positions.to(position_ids.dtype)
        deltas.append(max(top, int(llm_positions.max())) + 1 - len(ids))
    return position_ids, torch.tensor(deltas, device=device).unsqueeze(1)


def prepare_sparse_inputs(
    model: Any,
    *,
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    position_ids: torch.LongTensor | None,
    past_key_values: Cache | None,
    pixel_values: torch.Tensor | None,
    pixel_values_videos: torch.Tensor | None,
    image_grid_thw: torch.LongTensor | None,
    video_grid_thw: torch.LongTensor | None,
    mm_token_type_ids: torch.IntTensor | None,
    mm_encoder_outputs: dict[str, Any] | None,
    image_keep_mask: KeepMaskLike | None,
    rope_kwargs: dict[str, Any],
    kwargs: dict[str, Any],
) -> tuple[
    dict[str, Any] | None,
    torch.Tensor | None,
    torch.Tensor | None,
    torch.LongTensor | None,
]:
    """Sparse image features and kept-token M-RoPE ids for a base model's ``forward``.

    Returns ``(mm_encoder_outputs, pixel_values, pixel_values_videos, position_ids)`` for the
    stock ``forward``: the image features are precomputed from the kept patches (so
    ``pixel_values`` becomes None), and so are the features of whole videos given beside
    them (the stock ``forward`` refuses raw pixels beside precomputed features); the
    positions are computed at prefill (decoding steps reuse ``rope_deltas``).
    """
    if pixel_values is not None:
        encoded = dict(mm_encoder_outputs or {})
        encoded["image"] = model.get_image_features(
            pixel_values,
            image_grid_thw,
            image_keep_mask=image_keep_mask,
            return_dict=True,
            **kwargs,
        )
        if pixel_values_videos is not None:
            encoded["video"] = model.get_video_features(
                pixel_values_videos, video_grid_thw, return_dict=True, **kwargs
            )
        mm_encoder_outputs, pixel_values, pixel_values_videos = encoded, None, None
    past_length = 0 if past_key_values is None else past_key_values.get_seq_length()
    if (
        position_ids is None
        and input_ids is not None
        and mm_token_type_ids is not None
        and image_grid_thw is not None
        and (model.rope_deltas is None or past_length == 0)
    ):
        position_ids, model.rope_deltas = model.get_rope_index(
            input_ids,
            mm_token_type_ids,
            image_grid_thw=image_grid_thw,
            video_grid_thw=video_grid_thw,
            attention_mask=attention_mask,
            image_keep_mask=image_keep_mask,
            **rope_kwargs,
        )
    return mm_encoder_outputs, pixel_values, pixel_values_videos, position_ids


class EPQwen2VLModel(Qwen2VLModel):
    """`Qwen2VLModel` whose image path accepts ``image_keep_mask``."""

    @accepts_precomputed_kwargs(modality="image")
    @can_return_tuple
    def get_image_features(
        self,
        pixel_values: torch.Tensor,
        image_grid_thw: torch.LongTensor | None = None,
        image_keep_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> tuple | BaseModelOutputWithPooling:
        """`Qwen2VLModel.get_image_features`; with ``image_keep_mask`` (bool, ``(N,)``, one entry
        per LLM image token, see ``forward``) only the kept tokens' patch rows enter the vision
        tower, and ``pooler_output`` holds each image's kept tokens only."""
        if image_keep_mask is None:
            return super().get_image_features(pixel_values, image_grid_thw, **kwargs)
        if image_grid_thw is None:
            raise KeepMaskError("image_keep_mask needs image_grid_thw to map tokens to images")
        plan = sparse_plan(image_keep_mask, image_grid_thw, self.visual.spatial_merge_size)
        kept_pixels = pixel_values[plan.rows.to(pixel_values.device)].type(self.visual.dtype)
        vision_outputs = self.visual(
            kept_pixels,
            grid_thw=image_grid_thw,
            position_ids=plan.position_ids,
            cu_seqlens=plan.cu_seqlens,
            **kwargs,
        )
        vision_outputs.pooler_output = torch.split(
            vision_outputs.pooler_output, plan.kept_per_image
        )
        return vision_outputs

    def get_rope_index(
        self,
        input_ids: torch.LongTensor,
        mm_token_type_ids: torch.IntTensor,
        image_grid_thw: torch.LongTensor | None = None,
        video_grid_thw: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_keep_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stock M-RoPE ids, or with ``image_keep_mask`` the dense ids of the kept tokens
        (`sparse_rope_index`)."""
        if image_keep_mask is None or image_grid_thw is None:
            return super().get_rope_index(
                input_ids,
                mm_token_type_ids,
                image_grid_thw=image_grid_thw,
                video_grid_thw=video_grid_thw,
                attention_mask=attention_mask,
            )
        return sparse_rope_index(
            self,
            input_ids,
            mm_token_type_ids,
            image_grid_thw,
            video_grid_thw,
            attention_mask,
            image_keep_mask,
        )

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        pixel_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        image_grid_thw: torch.LongTensor | None = None,
        video_grid_thw: torch.LongTensor | None = None,
        mm_token_type_ids: torch.IntTensor | None = None,
        mm_encoder_outputs: dict[str, BaseModelOutputWithPooling] | None = None,
        image_keep_mask: torch.Tensor | None = None,
        **kwargs,
    ):
        """`Qwen2VLModel.forward`, plus ``image_keep_mask``.

        ``image_keep_mask``: bool, shape ``(N,)`` with ``N = sum(t * h * w) // merge**2`` over
        the rows ``(t, h, w)`` of ``image_grid_thw`` (merge = ``spatial_merge_size``, 2): one
        entry per LLM image token, images in batch order, each image's tokens row-major over
        its ``(t, h // merge, w // merge)`` token grid (a list of per-image masks of those
        shapes is concatenated to the same). Every image keeps at least one token, and each
        prompt carries exactly its kept count of image tokens. None: dense Qwen2-VL.
        """
        if image_keep_mask is not None:
            mm_encoder_outputs, pixel_values, pixel_values_videos, position_ids = (
                prepare_sparse_inputs(
                    self,
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    position_ids=position_ids,
                    past_key_values=past_key_values,
                    pixel_values=pixel_values,
                    pixel_values_videos=pixel_values_videos,
                    image_grid_thw=image_grid_thw,
                    video_grid_thw=video_grid_thw,
                    mm_token_type_ids=mm_token_type_ids,
                    mm_encoder_outputs=mm_encoder_outputs,
                    image_keep_mask=image_keep_mask,
                    rope_kwargs={},
                    kwargs=kwargs,
                )
            )
        return super().forward(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            pixel_values=pixel_values,
            pixel_values_videos=pixel_values_videos,
            image_grid_thw=image_grid_thw,
            video_grid_thw=video_grid_thw,
            mm_token_type_ids=mm_token_type_ids,
            mm_encoder_outputs=mm_encoder_outputs,
            **kwargs,
        )


class DecodeFromRopeDeltas(GenerationMixin):
    """``generate()`` that continues a prompt ending with image tokens from ``rope_deltas``.

    transformers 5.23's ``generate()`` gives every generated token the previous token's M-RoPE
    ids + 1 on each axis. After text that is the next position, but after an image it is the
    last image token's ``(t, h, w) + 1``, not where the stock model's own decoding with the cache
    (``rope_deltas``) and the whole sequence run again (``get_rope_index``) put text after that
    image: the image's largest id + 1 on every axis. With a keep mask it was the last KEPT
    token's ids + 1, so a dropped last row or column moved the answer off the dense one's
    positions. Rows of a batch whose prompt ends with an image token decode here at their text
    position + ``rope_deltas`` (for a keep mask the dense sequence's largest id + 1 less the
    kept prompt's length, `sparse_rope_index`), with or without a keep mask, so keep-all equals
    dense; other rows (text or video last) and positions a caller passes to ``generate()`` are
    continued as transformers does.
    """

    # (rope_deltas, rows ending with an image) of the prompt positions this generate() call
    # computed itself; None when it was given them
    _decode_deltas: tuple[torch.Tensor, torch.Tensor] | None = None

    def generate(self, *args, **kwargs):
        """`transformers.GenerationMixin.generate` (see the class docstring for the positions)."""
        self._decode_deltas = None
        return super().generate(*args, **kwargs)

    def _prepare_position_ids_for_generation(self, inputs_tensor, model_kwargs):
        position_ids = super()._prepare_position_ids_for_generation(inputs_tensor, model_kwargs)
        types = model_kwargs.get("mm_token_type_ids")
        # four rows (text, t, h, w): a prompt whose rope_deltas the base model just computed
        # (one row continues a cache from rope_deltas already); left padding puts every
        # prompt's last token in the last column
        fresh = position_ids.ndim == 3 and position_ids.shape[0] == 4 and types is not None
        self._decode_deltas = None
        if fresh and self.model.rope_deltas is not None:
            self._decode_deltas = (self.model.rope_deltas, types[:, -1:] == 1)
        return position_ids

    def _update_model_kwargs_for_generation(
        self, outputs, model_kwargs, is_encoder_decoder=False, num_new_tokens=1
    ):
        model_kwargs = super()._update_model_kwargs_for_generation(
            outputs, model_kwargs, is_encoder_decoder, num_new_tokens
        )
        positions = model_kwargs.get("position_ids")
        if self._decode_deltas is None or positions is None or positions.shape[0] != 4:
            return model_kwargs
        deltas, image_last = self._decode_deltas
        # beams and return sequences repeat each prompt's positions, in order
        repeat = positions.shape[1] // deltas.shape[0]
        deltas = deltas.to(positions.device).repeat_interleave(repeat, dim=0)
        image_last = image_last.to(positions.device).repeat_interleave(repeat, dim=0)
        new = positions[:, :, -num_new_tokens:]
        from_deltas = (new[0] + deltas).to(positions.dtype).expand_as(new[1:])
        new[1:] = torch.where(image_last, from_deltas, new[1:])
        return model_kwargs


class EPQwen2VLForConditionalGeneration(DecodeFromRopeDeltas, Qwen2VLForConditionalGeneration):
    """`Qwen2VLForConditionalGeneration` whose ``forward`` and ``generate`` take ``image_keep_mask``.

    ``from_pretrained`` loads any Qwen2-VL checkpoint (legacy or current tensor names) exactly
    as the stock class does; `epvlm.loading.load_pretrained_model` also rejects incomplete ones.
    After a prompt that ends with image tokens ``generate()`` decodes from ``rope_deltas``
    (`DecodeFromRopeDeltas`).
    """

    def __init__(self, config):
        # Skip the parent __init__ so the dense base model is not built (and initialised) twice.
        Qwen2VLPreTrainedModel.__init__(self, config)
        self.model = EPQwen2VLModel(config)
        self.lm_head = torch.nn.Linear(
            config.text_config.hidden_size, config.text_config.vocab_size, bias=False
        )
        self.post_init()

    # generate() validates kwargs against this signature, hence the full parameter list.
    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        pixel_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        image_grid_thw: torch.LongTensor | None = None,
        video_grid_thw: torch.LongTensor | None = None,
        mm_token_type_ids: torch.IntTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        mm_encoder_outputs: dict[str, BaseModelOutputWithPooling] | None = None,
        image_keep_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> tuple | CausalLMOutputWithPast:
        """`Qwen2VLForConditionalGeneration.forward`, plus ``image_keep_mask``: bool, shape
        ``(N,)``, one entry per LLM image token of every image in batch order (see
        `EPQwen2VLModel.forward` for ``N`` and the order); None runs dense Qwen2-VL."""
        outputs = self.model(
            input_ids=input_ids,
            pixel_values=pixel_values,
            pixel_values_videos=pixel_values_videos,
            image_grid_thw=image_grid_thw,
            video_grid_thw=video_grid_thw,
            mm_token_type_ids=mm_token_type_ids,
            position_ids=position_ids,
            attention_mask=attention_mask,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            mm_encoder_outputs=mm_encoder_outputs,
            image_keep_mask=image_keep_mask,
            **kwargs,
        )
        hidden_states = slice_logits_to_keep(outputs.last_hidden_state, logits_to_keep)
        logits = self.lm_head(hidden_states)
        loss = None
        if labels is not None:
            loss = self.loss_function(
                logits=logits,
                labels=labels,
                vocab_size=self.config.get_text_config().vocab_size,
                **kwargs,
            )
        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


# Stock transformers renames legacy checkpoint keys only for its own classes; give ours the same.
register_stock_conversions(EPQwen2VLForConditionalGeneration, EPQwen2VLModel)
