"""Second look at e31ee33 (generate() decoding from rope_deltas after a prompt that ends with
image tokens; a generation_config without the ignored output flags passed to from_pretrained):
mixed batches, repeated copies, a continued cache and videos keep their positions, and a model
loaded past the flags keeps the file's settings and saves as one read from it does."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_epvlm_review7 import _generate, _load_logging, _no_vision_tokens  # noqa: E402
from test_epvlm_second_look6 import _batches, _language_positions  # noqa: E402


def _mixed(first: dict, second: dict, pad: int) -> dict:
    """Row 0 of ``first`` and row 1 of ``second`` (the same images and keep masks), left-padded
    again: one prompt ending with its image beside one ending with text."""
    rows = []
    for batch, r in ((first, 0), (second, 1)):
        real = batch["attention_mask"][r].bool()
        rows.append((batch["input_ids"][r][real], batch["mm_token_type_ids"][r][real]))
    width = max(len(ids) for ids, _ in rows)
    out = {
        "input_ids": torch.full((2, width), pad),
        "mm_token_type_ids": torch.zeros(2, width, dtype=first["mm_token_type_ids"].dtype),
        "attention_mask": torch.zeros(2, width, dtype=first["attention_mask"].dtype),
    }
    for r, (ids, types) in enumerate(rows):
        out["input_ids"][r, width - len(ids) :] = ids
        out["mm_token_type_ids"][r, width - len(ids) :] = types
        out["attention_mask"][r, width - len(ids) :] = 1
    return {**first, **out}


def _whole_positions(model, batch: dict, sequences, copies: int = 1):
    """M-RoPE ids (3, rows, length) of each prompt and its generated tokens, run again as one
    sequence; ``copies`` rows of ``sequences`` per prompt (beams, return sequences)."""
    ids = sequences[:, :-1]
    prompt = batch["input_ids"].shape[1]
    rows = batch["input_ids"].shape[0] * copies
    added = torch.zeros(rows, ids.shape[1] - prompt, dtype=batch["attention_mask"].dtype)
    extra = {}
    if "image_keep_mask" in batch:
        per_image = batch["image_grid_thw"].prod(-1) // 4
        masks = torch.split(batch["image_keep_mask"], per_image.tolist())
        extra["image_keep_mask"] = torch.cat([m for m in masks for _ in range(copies)])
    positions, _ = model.model.get_rope_index(
        ids,
        torch.cat([batch["mm_token_type_ids"].repeat_interleave(copies, 0), added.int()], 1),
        image_grid_thw=batch["image_grid_thw"].repeat_interleave(copies, 0),
        attention_mask=torch.cat(
            [batch["attention_mask"].repeat_interleave(copies, 0), torch.ones_like(added)], 1
        ),
        **extra,
    )
    return positions


@pytest.mark.parametrize("order", ["image first", "text first"])
def test_mixed_rows_and_their_copies_generate_where_the_whole_sequence_puts_them(
    rope_proc, rope_models, order
):
    """A left-padded batch with one prompt ending with its image and one ending with text,
    sparse and dense, greedy and with 2 beams / 3 sampled return sequences: each row's
    generated tokens sit where the whole sequence run again puts them, and the text row
    decodes as the stock model's generate() decodes it."""
    model, stock = rope_models
    pad = rope_proc.tokenizer.pad_token_id
    image_end = _batches(rope_proc, "image", same_count=False)
    text_end = _batches(rope_proc, "text", same_count=False)
    pairs = (image_end, text_end) if order == "image first" else (text_end, image_end)
    sparse, dense = (_mixed(a, b, pad) for a, b in zip(*pairs))
    assert bool(sparse["mm_token_type_ids"][:, -1].ne(sparse["mm_token_type_ids"][0, -1]).any())
    kwargs = _no_vision_tokens(rope_proc)
    for batch in (sparse, dense):
        for extra, copies in (
            ({}, 1),
            ({"num_beams": 2, "num_return_sequences": 2}, 2),
            ({"do_sample": True, "num_return_sequences": 3}, 3),
        ):
            torch.manual_seed(0)
            out, positions = _generate(model, batch, **{**kwargs, **extra})
            whole = _whole_positions(model, batch, out, copies)
            assert torch.equal(positions, whole[:, :, -positions.shape[-1] :]), extra
    text_row = 1 if order == "image first" else 0
    out, positions = _generate(model, dense, **kwargs)
    stock_out, stock_positions = _generate(stock, dense, **kwargs)
    assert torch.equal(positions[:, text_row], stock_positions[:, text_row])
    assert torch.equal(out[text_row], stock_out[text_row])


@pytest.mark.parametrize("end", ["image", "text"])
def test_a_conversation_continued_with_the_cache_keeps_the_whole_sequences_positions(
    rope_proc, rope_models, end
):
    """generate() again with the first call's cache and two more tokens per row: the uncached
    tokens and the new answer continue from rope_deltas, at the positions of the whole
    conversation run again, after either prompt end."""
    model, _ = rope_models
    kwargs = _no_vision_tokens(rope_proc)
    for batch in _batches(rope_proc, end, same_count=False):
        seen, handle = _language_positions(model)
        try:
            with torch.no_grad():
                first = model.generate(**batch, **kwargs, return_dict_in_generate=True)
                ids = torch.cat([first.sequences, torch.tensor([[7, 8], [9, 10]])], 1)
                added = ids.shape[1] - batch["input_ids"].shape[1]
                more = {
                    "input_ids": ids,
                    "mm_token_type_ids": torch.cat(
                        [batch["mm_token_type_ids"], torch.zeros(2, added).int()], 1
                    ),
                    "attention_mask": torch.cat(
                        [batch["attention_mask"], torch.ones(2, added).long()], 1
                    ),
                }
                more |= {k: batch[k] for k in ("image_grid_thw", "image_keep_mask") if k in batch}
                second = model.generate(**more, past_key_values=first.past_key_values, **kwargs)
        finally:
            handle.remove()
            model.model.rope_deltas = None
        positions = torch.cat([p.expand(3, -1, -1) for p in seen], -1)
        assert torch.equal(positions, _whole_positions(model, batch, second))


def test_a_prompt_ending_with_a_video_decodes_as_stock(rope_proc, rope_models):
    """Videos are left to transformers: a prompt ending with video tokens (Qwen2.5-VL: 2.5 s
    per temporal patch, so the temporal ids run ahead) decodes as the stock model decodes it,
    dense and beside a sparse image."""
    from test_epvlm_sparse_review6 import CHOICES, QUESTIONS, _images

    from epvlm.processing import encode_batch

    model, stock = rope_models
    tok = rope_proc.tokenizer
    batch = encode_batch(rope_proc, _images((84, 140)), QUESTIONS[:1], CHOICES[:1])
    grid = torch.tensor([[3, 4, 6]])
    n_video = int(grid.prod()) // 4
    video = [tok.convert_tokens_to_ids("<|vision_start|>")]
    video += [tok.convert_tokens_to_ids("<|video_pad|>")] * n_video
    ids = torch.cat([batch["input_ids"], torch.tensor([video])], 1)
    types = torch.cat([batch["mm_token_type_ids"], torch.tensor([[0] + [2] * n_video])], 1)
    dense = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "mm_token_type_ids": types,
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
        dense["second_per_grid_ts"] = torch.tensor([2.5])
    keep = torch.zeros(15, dtype=torch.bool)
    keep[[0, 4, 7, 13]] = True
    kept = torch.ones(ids.shape[1], dtype=torch.bool)
    kept[types[0] == 1] = keep
    sparse = {
        **dense,
        "input_ids": ids[:, kept],
        "attention_mask": torch.ones_like(ids[:, kept]),
        "mm_token_type_ids": types[:, kept],
        "image_keep_mask": keep,
    }
    kwargs = _no_vision_tokens(rope_proc)
    stock_out, stock_positions = _generate(stock, dense, **kwargs)
    out, positions = _generate(model, dense, **kwargs)
    assert torch.equal(out, stock_out) and torch.equal(positions, stock_positions)
    _, positions = _generate(model, sparse, **kwargs)
    assert torch.equal(positions, stock_positions)


# ------------------------------------------------- loading past the ignored output flags


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from test_epvlm_review3 import hub_checkpoint

    root = tmp_path_factory.mktemp("second-look7")
    return hub_checkpoint(root / "model", "qwen2_vl", tie=False, template="chat_template.json")


def _with_generation(src, dst, settings: dict | None):
    shutil.copytree(src, dst)
    path = dst / "generation_config.json"
    if settings is None:
        path.unlink()
    else:
        path.write_text(json.dumps(settings))
    return dst


# greedy settings beside sampling ones (transformers warns as it reads them), a list of stop
# ids, a custom entry and the flags transformers ignores without return_dict_in_generate
GREEDY_FILE = {
    "bos_token_id": 256,
    "pad_token_id": 256,
    "eos_token_id": [258, 256],
    "do_sample": False,
    "temperature": 0.1,
    "top_p": 0.001,
    "top_k": 1,
    "repetition_penalty": 1.05,
    "stop_strings": ["Done."],
    "max_new_tokens": 77,
    "my_entry": 3,
    "transformers_version": "4.37.0",
}
FLAGS = {"output_scores": True, "output_hidden_states": True}


def test_a_model_loaded_past_ignored_flags_saves_as_one_read_from_its_file(checkpoint, tmp_path):
    """The config passed to from_pretrained without the flags came back without transformers'
    'as read' mark, so save_pretrained checked it strictly and refused the file's own
    top_p/temperature beside do_sample false (ValueError 'GenerationConfig is invalid'); the
    file without the flags saved. Both save now, and an edit of the caller's is still checked
    strictly."""
    for name, flags in (("plain", {}), ("flags", FLAGS)):
        model_dir = _with_generation(checkpoint, tmp_path / name, GREEDY_FILE | flags)
        model, _ = _load_logging(model_dir)
        model.save_pretrained(tmp_path / f"{name}-saved")
        saved = json.loads((tmp_path / f"{name}-saved" / "generation_config.json").read_text())
        assert saved["top_p"] == 0.001 and saved["eos_token_id"] == [258, 256]
        assert not any(saved.get(f) for f in FLAGS)
    model.generation_config.temperature = 0.5
    with pytest.raises(ValueError, match="GenerationConfig is invalid"):
        model.save_pretrained(tmp_path / "edited")


@pytest.mark.parametrize("flags", [{}, FLAGS], ids=["plain", "flags"])
def test_loading_keeps_the_files_settings_every_tensor_and_says_nothing(
    checkpoint, tmp_path, flags
):
    """Field by field against transformers' own reading of the file, only the ignored flags
    go; every tensor equals the stock class's load, and nothing is logged or warned (the
    file's greedy settings beside sampling ones were reported by an earlier notice of this
    process, which _load_logging forgets)."""
    from transformers import GenerationConfig, Qwen2VLForConditionalGeneration

    model_dir = _with_generation(checkpoint, tmp_path / "m", GREEDY_FILE | flags)
    quiet = GREEDY_FILE | flags | {"temperature": 1.0, "top_p": 1.0, "top_k": 50}
    quiet_dir = _with_generation(checkpoint, tmp_path / "quiet", quiet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, logged = _load_logging(quiet_dir)
    assert not [r.getMessage() for r in logged] and not [str(w.message) for w in caught]

    model, _ = _load_logging(model_dir)
    loaded = model.generation_config.to_dict()
    expected = GenerationConfig.from_pretrained(model_dir).to_dict()
    defaults = GenerationConfig().to_dict()
    expected |= {flag: defaults[flag] for flag in flags}
    assert loaded == expected
    stock = Qwen2VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32)
    ours, theirs = model.state_dict(), stock.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_a_model_folder_without_generation_config_loads(checkpoint, tmp_path, rope_proc):
    """No generation_config.json: the model config's and the tokenizer's ids, no notice."""
    model_dir = _with_generation(checkpoint, tmp_path / "m", None)
    model, logged = _load_logging(model_dir)
    assert not [r.getMessage() for r in logged]
    gen = model.generation_config
    assert gen.eos_token_id is not None and gen.pad_token_id is not None
    assert not any(getattr(gen, f) for f in FLAGS)
