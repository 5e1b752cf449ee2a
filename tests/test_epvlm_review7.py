"""Review 7 of epvlm: where ``generate()`` puts the tokens it generates after a prompt that ends
with image tokens (transformers' loop continued from the last kept token's M-RoPE ids + 1, not
from ``rope_deltas``), for Qwen2-VL and Qwen2.5-VL, batch 2 with different keeps."""

from __future__ import annotations

import json
import logging

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_epvlm_second_look6 import _batches  # noqa: E402


def _no_vision_tokens(proc) -> dict:
    # a random model may pick an image token, which a prompt run again would read as an image
    ids = proc.tokenizer.convert_tokens_to_ids(["<|image_pad|>", "<|video_pad|>"])
    return dict(max_new_tokens=3, min_new_tokens=3, do_sample=False, suppress_tokens=ids)


def _generate(model, batch: dict, **kwargs):
    """``generate``'s output and the M-RoPE ids (3, batch, steps) of the tokens it fed back:
    each generated token but the last."""
    seen: list = []
    handle = model.model.language_model.register_forward_pre_hook(
        lambda module, args, kw: seen.append(kw["position_ids"][-3:, :, -1].clone()),
        with_kwargs=True,
    )
    try:
        with torch.no_grad():
            out = model.generate(**batch, **kwargs)
    finally:
        handle.remove()
    # the prefill's last column is the prompt's last token; each later call is one new token
    return out, torch.stack(seen[1:], -1)


def _dense_next(stock, dense: dict) -> list[int]:
    """Where the dense sequence puts the token after each prompt: its largest id + 1."""
    _, deltas = stock.model.get_rope_index(
        dense["input_ids"],
        dense["mm_token_type_ids"],
        image_grid_thw=dense["image_grid_thw"],
        attention_mask=dense["attention_mask"],
    )
    lengths = dense["attention_mask"].sum(-1)
    return [int(n) + int(d) for n, d in zip(lengths, deltas.reshape(-1))]


@pytest.mark.parametrize("keep_all", [False, True])
def test_a_prompt_ending_with_its_image_generates_from_the_dense_position(
    rope_proc, rope_models, keep_all
):
    """Image 0 drops its last column (its largest id, on the width axis), image 1 its last row
    (the height axis), in a left-padded batch of two. The first generated token sits at the
    dense sequence's largest id + 1 on every axis, the next ones after it, as the stock model
    decodes with the cache and as the whole sequence run again places them; generate() put
    them at the last kept token's ids + 1 (15, 17, 19 where dense has 19, 19, 19). Keeping
    every token equals dense exactly: tokens, positions and logits."""
    model, stock = rope_models
    sparse, dense = _batches(rope_proc, "image", same_count=False)
    if keep_all:
        sparse = {**dense, "image_keep_mask": torch.ones(15 + 15, dtype=torch.bool)}
    kwargs = _no_vision_tokens(rope_proc)
    out, positions = _generate(model, sparse, **kwargs)
    steps = positions.shape[-1]
    expected = torch.tensor([[n + k for k in range(steps)] for n in _dense_next(stock, dense)])
    assert torch.equal(positions, expected.expand(3, -1, -1))
    if keep_all:
        dense_out, dense_positions = _generate(model, dense, **kwargs)
        assert torch.equal(out, dense_out)
        assert torch.equal(positions, dense_positions)

    # the whole sequence (prompt and generated tokens) run again, without the cache, puts the
    # generated tokens there too and gives the same logits
    generated = out[:, sparse["input_ids"].shape[1] :]
    kwargs = {**kwargs, "output_logits": True, "return_dict_in_generate": True}
    with torch.no_grad():
        logits = torch.stack(model.generate(**sparse, **kwargs).logits, 1)
        ids = torch.cat([sparse["input_ids"], generated[:, :-1]], 1)
        pad = torch.zeros_like(generated[:, :-1])
        whole = {
            **sparse,
            "input_ids": ids,
            "mm_token_type_ids": torch.cat([sparse["mm_token_type_ids"], pad.int()], 1),
            "attention_mask": torch.cat([sparse["attention_mask"], torch.ones_like(pad)], 1),
        }
        whole_positions, _ = model.model.get_rope_index(
            whole["input_ids"],
            whole["mm_token_type_ids"],
            image_grid_thw=whole["image_grid_thw"],
            attention_mask=whole["attention_mask"],
            image_keep_mask=whole["image_keep_mask"],
        )
        model.model.rope_deltas = None
        again = model(**whole, use_cache=False).logits[:, -generated.shape[1] :]
        model.model.rope_deltas = None
    assert torch.equal(whole_positions[:, :, -steps:], positions)
    torch.testing.assert_close(logits, again, rtol=1e-4, atol=1e-4)


def test_prompts_ending_with_text_generate_as_stock_does(rope_proc, rope_models):
    """Only rows whose prompt ends with an image token change: a prompt ending with text is
    continued as transformers' generate() continues it (here equal to dense)."""
    model, stock = rope_models
    sparse, dense = _batches(rope_proc, "text", same_count=False)
    kwargs = _no_vision_tokens(rope_proc)
    _, positions = _generate(model, sparse, **kwargs)
    out, stock_positions = _generate(stock, dense, **kwargs)
    assert torch.equal(positions, stock_positions)
    dense_out, dense_positions = _generate(model, dense, **kwargs)
    assert torch.equal(dense_out, out)
    assert torch.equal(dense_positions, stock_positions)


def test_positions_given_to_generate_are_continued_as_given(rope_proc, rope_models):
    """A caller's own position ids are continued as transformers continues them, not moved by
    the rope_deltas an earlier call left on the model."""
    model, stock = rope_models
    sparse, dense = _batches(rope_proc, "image", same_count=False)
    kwargs = _no_vision_tokens(rope_proc)
    _generate(model, sparse, **kwargs)  # leaves its rope_deltas on the model
    given = {}
    for m, batch in ((model, sparse), (stock, dense)):
        extra = {"image_keep_mask": batch["image_keep_mask"]} if m is model else {}
        rope, _ = m.model.get_rope_index(
            batch["input_ids"],
            batch["mm_token_type_ids"],
            image_grid_thw=batch["image_grid_thw"],
            attention_mask=batch["attention_mask"],
            **extra,
        )
        text = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        given[m] = torch.cat([text[None], rope], 0)
    _, positions = _generate(model, {**sparse, "position_ids": given[model]}, **kwargs)
    last = given[model][1:, :, -1:]
    assert torch.equal(positions, last + torch.arange(1, positions.shape[-1] + 1))
    _, stock_positions = _generate(stock, {**dense, "position_ids": given[stock]}, **kwargs)
    last = given[stock][1:, :, -1:]
    assert torch.equal(stock_positions, last + torch.arange(1, stock_positions.shape[-1] + 1))


def test_beams_of_a_prompt_ending_with_its_image_start_from_the_dense_position(
    rope_proc, rope_models
):
    """num_beams / num_return_sequences repeat each prompt: each copy decodes from its own
    prompt's dense position."""
    model, stock = rope_models
    sparse, dense = _batches(rope_proc, "image", same_count=False)
    kwargs = {**_no_vision_tokens(rope_proc), "num_beams": 2, "num_return_sequences": 2}
    _, positions = _generate(model, sparse, **kwargs)
    expected = torch.tensor(_dense_next(stock, dense)).repeat_interleave(2)
    assert torch.equal(positions[:, :, 0], expected.expand(3, -1))


# ------------------------------------------- evaluation: what generation_config.json may not do


def _eos_first(model):
    """A forward hook on the LM head that makes the end-of-turn token every step's first
    choice: an answer that ends at once unless a minimum length forbids it."""
    eos = model.generation_config.eos_token_id
    eos = eos if isinstance(eos, int) else eos[0]

    def hook(module, args, output):
        output = output.clone()
        output[..., eos] += 1e4
        return output

    return model.lm_head.register_forward_hook(hook)


@pytest.mark.parametrize("setting", ["min_new_tokens", "min_length"])
def test_evaluation_answers_are_not_held_open_by_a_minimum_length(rope_proc, setting):
    """A min_new_tokens or min_length in generation_config.json forbade the stop token, so an
    answer that ends at once ran on for that many tokens (counted, paid for in FLOPs and
    scored); greedy evaluation answers as without it, in the budget it asks for."""
    import numpy as np

    from epvlm.evaluate import answer_selections
    from epvlm.prior import select_blocks
    from epvlm.processing import grid_for_size
    from epvlm.tiny import tiny_config, tiny_model

    model = tiny_model(tiny_config(rope_proc), seed=0)
    image = np.random.default_rng(0).integers(0, 256, (56, 56, 3), dtype=np.uint8)
    sel = select_blocks("dense", image, keep=1.0, grid=grid_for_size(rope_proc, 56, 56))

    def ask():
        return answer_selections(
            model, rope_proc, [sel], ["what colour is it"], [["red", "blue"]],
            max_new_tokens=8, warm_up=False,
        )  # fmt: skip

    handle = _eos_first(model)
    try:
        answers, details, _ = ask()
        assert details[0]["new_tokens"] == 1
        setattr(model.generation_config, setting, 5 if setting == "min_new_tokens" else 200)
        assert ask()[:2] == (answers, details)
    finally:
        handle.remove()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from test_epvlm_review3 import hub_checkpoint

    root = tmp_path_factory.mktemp("review7")
    return hub_checkpoint(root / "model", "qwen2_vl", tie=False, template="chat_template.json")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _load_logging(model_dir):
    """``load_model`` of ``model_dir``: (the model, the WARNING records transformers logged)."""
    from transformers.utils import logging as hf_logging

    from epvlm.evaluate import load_model

    # transformers logs a notice once per process: forget the ones already logged
    hf_logging.warning_once.cache_clear()
    records = _Records()
    library = logging.getLogger("transformers")
    library.addHandler(records)
    try:
        model, _ = load_model(model_dir)
    finally:
        library.removeHandler(records)
    return model, [r for r in records.records if r.levelno >= logging.WARNING]


def test_ignored_output_flags_are_not_read_whatever_transformers_calls_them(
    checkpoint, tmp_path, monkeypatch
):
    """output_attentions / output_scores in generation_config.json without
    return_dict_in_generate are left out as the model loads, so transformers has nothing to
    warn about: the notice was dropped by matching its words, and a reworded one (another
    transformers version) came through. The loaded generation config holds none of them."""
    from test_epvlm_genconfig6 import _copy

    notice = logging.Logger.warning_once

    def reworded(self, message, *args, **kwargs):
        message = message.replace("are not valid and may be ignored", "will be ignored")
        return notice(self, message, *args, **kwargs)

    monkeypatch.setattr(logging.Logger, "warning_once", reworded)
    flags = {"output_attentions": True, "output_scores": True, "output_logits": True}
    model_dir = _copy(checkpoint, tmp_path / "flags", **flags)
    model, warned = _load_logging(model_dir)
    assert not [r.getMessage() for r in warned], [r.getMessage() for r in warned]
    gen = model.generation_config
    assert not any(getattr(gen, f) for f in flags)
    # everything else is read as the file has it
    settings = json.loads((model_dir / "generation_config.json").read_text())
    assert gen.eos_token_id == settings["eos_token_id"]
    assert gen.repetition_penalty == settings["repetition_penalty"]


def test_other_generation_notices_and_asked_for_outputs_stay(checkpoint, tmp_path):
    """A notice about another setting is still logged (naming it), and the output flags of a
    file that asks for a dict return are read as they are."""
    from test_epvlm_genconfig6 import _copy

    model_dir = _copy(checkpoint, tmp_path / "pad", output_attentions=True, pad_token_id=-1)
    model, warned = _load_logging(model_dir)
    messages = [r.getMessage() for r in warned]
    assert any("pad_token_id" in m for m in messages), messages
    assert not any("output_attentions" in m for m in messages), messages
    assert model.generation_config.pad_token_id == -1

    flags = {"output_scores": True, "return_dict_in_generate": True}
    model, warned = _load_logging(_copy(checkpoint, tmp_path / "dict", **flags))
    assert model.generation_config.output_scores is True
    assert model.generation_config.return_dict_in_generate is True


def test_an_event_window_shorter_than_a_microsecond_is_refused():
    """Event times are whole µs: a window that rounds to 0 µs held no event, and every
    selector fell back to the centre without a word (``--window-ms 0.0004``)."""
    from epvlm.evaluate import event_window
    from eventsim.errors import ParameterError

    assert event_window(1000, 0.001) == (1000, 1001)
    assert event_window(1000, 0.0015) == (999, 1001)
    for window_ms in (0.0004, 0.0005, 1e-9):
        with pytest.raises(ParameterError, match=r"shorter than 1 µs.*at least 0\.001 ms"):
            event_window(1000, window_ms)
