"""Position-preserving sparse Qwen2.5-VL: subclasses of transformers' Qwen2.5-VL (no fork).

Same contract as `epvlm.modeling` (``image_keep_mask``: one bool per LLM image token of every
image, in batch order). Qwen2.5-VL's vision tower differs from Qwen2-VL's by window attention:
it permutes the merged 2x2 patch groups so that each window of
``window_size / (patch * merge)`` groups per side is contiguous, attends within windows in most
layers and over the whole image in ``fullatt_block_indexes``. With a keep mask:

- the kept rows keep their original 2-D rotary ids (precomputed ``position_ids``);
- the window permutation is the dense one restricted to kept groups, so every kept group stays
  in its original window, and each window becomes a shorter segment of ``cu_window_seqlens``
  (windows with nothing kept disappear);
- the full-attention layers attend over each image's kept rows (``cu_seqlens``);
- the language model keeps the dense M-RoPE ids of the kept tokens (`sparse_rope_index`).

A fully kept mask therefore reproduces dense Qwen2.5-VL and a partial mask equals dense
Qwen2.5-VL with the dropped groups hidden as attention keys (tests/test_epvlm_qwen2_5_vl.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLModel
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutputWithPooling, CausalLMOutputWithPast
from transformers.modeling_utils import slice_logits_to_keep
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLPreTrainedModel
from transformers.utils.generic import accepts_precomputed_kwargs, can_return_tuple
from transformers.vision_utils import get_vision_window_index

from epvlm.errors import KeepMaskError
from epvlm.loading import register_stock_conversions, vision_config
from epvlm.modeling import (
    DecodeFromRopeDeltas,
    SparsePlan,
    prepare_sparse_inputs,
    sparse_plan,
    sparse_rope_index,
)

__all__ = [
    "EPQwen2_5_VLForConditionalGeneration",
    "EPQwen2_5_VLModel",
    "sparse_window_plan",
]


def sparse_window_plan(
    plan: SparsePlan,
    grid_thw: torch.Tensor,
    spatial_merge_size: int,
    window_size: int,
    patch_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(window_index, cu_window_seqlens)`` of the kept merge groups.

    ``window_index`` orders the kept groups (indices into the kept rows / ``merge**2``) as the
    dense window permutation orders them; ``cu_window_seqlens`` (in rows) has one segment per
    dense window that keeps at least one group, of the kept length.
    """
    unit = spatial_merge_size**2
    dense_index, dense_cu = get_vision_window_index(
        grid_thw,
        spatial_merge_size=spatial_merge_size,
        window_size=window_size,
        patch_size=patch_size,
    )
    device = grid_thw.device
    dense_index = dense_index.to(device)
    window_lengths = (dense_cu[1:] - dense_cu[:-1]).to(device) // unit
    window_of_slot = torch.repeat_interleave(
        torch.arange(len(window_lengths), device=device), window_lengths
    )
    kept = torch.cat(plan.token_masks).to(device)
    local = torch.cumsum(kept.long(), 0) - 1  # index of each kept group among the kept groups
    kept_slots = kept[dense_index]
    window_index = local[dense_index[kept_slots]]
    counts = torch.bincount(window_of_slot[kept_slots], minlength=len(window_lengths))
    counts = counts[counts > 0] * unit
    cu_window_seqlens = F.pad(counts.cumsum(0).to(torch.int32), (1, 0), value=0)
    return window_index, cu_window_seqlens


class EPQwen2_5_VLModel(Qwen2_5_VLModel):
    """`Qwen2_5_VLModel` whose image path accepts ``image_keep_mask``."""

    @accepts_precomputed_kwargs(modality="image")
    @can_return_tuple
    def get_image_features(
        self,
        pixel_values: torch.Tensor,
        image_grid_thw: torch.LongTensor | None = None,
        image_keep_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> tuple | BaseModelOutputWithPooling:
        """`Qwen2_5_VLModel.get_image_features`; with ``image_keep_mask`` (bool, ``(N,)``, one entry
        per LLM image token, see ``forward``) only the kept tokens' patch rows enter the vision
        tower, and ``pooler_output`` holds each image's kept tokens only."""
        if image_keep_mask is None:
            return super().get_image_features(pixel_values, image_grid_thw, **kwargs)
        if image_grid_thw is None:
            raise KeepMaskError("image_keep_mask needs image_grid_thw to map tokens to images")
        visual = self.visual
        plan = sparse_plan(image_keep_mask, image_grid_thw, visual.spatial_merge_size)
        window_index, cu_window_seqlens = sparse_window_plan(
            plan, image_grid_thw, visual.spatial_merge_size, visual.window_size, visual.patch_size
        )
        kept_pixels = pixel_values[plan.rows.to(pixel_values.device)].type(visual.dtype)
        vision_outputs = visual(
            kept_pixels,
            grid_thw=image_grid_thw,
            position_ids=plan.position_ids,
            cu_seqlens=plan.cu_seqlens,
            window_index=window_index,
            cu_window_seqlens=cu_window_seqlens,
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
        second_per_grid_ts: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_keep_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stock M-RoPE ids, or with ``image_keep_mask`` the dense ids of the kept tokens."""
        if image_keep_mask is None or image_grid_thw is None:
            return super().get_rope_index(
                input_ids,
                mm_token_type_ids,
                image_grid_thw=image_grid_thw,
                video_grid_thw=video_grid_thw,
                second_per_grid_ts=second_per_grid_ts,
                attention_mask=attention_mask,
            )
        intervals = None
        if video_grid_thw is not None:
            per_video = (
                second_per_grid_ts.tolist()
                if second_per_grid_ts is not None
                else [1] * len(video_grid_thw)
            )
            intervals = [vision_config(self.config).tokens_per_second * s for s in per_video]
        return sparse_rope_index(
            self,
            input_ids,
            mm_token_type_ids,
            image_grid_thw,
            video_grid_thw,
            attention_mask,
            image_keep_mask,
            video_time_intervals=intervals,
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
        second_per_grid_ts: torch.Tensor | None = None,
        mm_encoder_outputs: dict[str, BaseModelOutputWithPooling] | None = None,
        image_keep_mask: torch.Tensor | None = None,
        **kwargs,
    ):
        """`Qwen2_5_VLModel.forward`, plus ``image_keep_mask``: bool, shape ``(N,)`` with
        ``N = sum(t * h * w) // merge**2`` over the rows ``(t, h, w)`` of ``image_grid_thw``
        (merge = ``spatial_merge_size``, 2), one entry per LLM image token, images in batch
        order (as `epvlm.modeling.EPQwen2VLModel.forward`). None: dense Qwen2.5-VL."""
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
                    rope_kwargs={"second_per_grid_ts": second_per_grid_ts},
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
            second_per_grid_ts=second_per_grid_ts,
            mm_encoder_outputs=mm_encoder_outputs,
            **kwargs,
        )


class EPQwen2_5_VLForConditionalGeneration(
    DecodeFromRopeDeltas, Qwen2_5_VLForConditionalGeneration
):
    """`Qwen2_5_VLForConditionalGeneration` whose ``forward`` and ``generate`` take
    ``image_keep_mask``. Loads stock Qwen2.5-VL checkpoints exactly as the stock class does;
    after a prompt that ends with image tokens ``generate()`` decodes from ``rope_deltas``
    (`epvlm.modeling.DecodeFromRopeDeltas`)."""

    def __init__(self, config):
        # Skip the parent __init__ so the dense base model is not built (and initialised) twice.
        Qwen2_5_VLPreTrainedModel.__init__(self, config)
        self.model = EPQwen2_5_VLModel(config)
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
        second_per_grid_ts: torch.Tensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        mm_encoder_outputs: dict[str, BaseModelOutputWithPooling] | None = None,
        image_keep_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> tuple | CausalLMOutputWithPast:
        """`Qwen2_5_VLForConditionalGeneration.forward`, plus ``image_keep_mask``: bool, shape
        ``(N,)``, one entry per LLM image token of every image in batch order (see
        `EPQwen2_5_VLModel.forward`); None runs dense Qwen2.5-VL."""
        outputs = self.model(
            input_ids=input_ids,
            pixel_values=pixel_values,
            pixel_values_videos=pixel_values_videos,
            image_grid_thw=image_grid_thw,
            video_grid_thw=video_grid_thw,
            second_per_grid_ts=second_per_grid_ts,
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
register_stock_conversions(EPQwen2_5_VLForConditionalGeneration, EPQwen2_5_VLModel)
