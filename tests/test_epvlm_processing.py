"""Offline processor, prompt format and checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from epvlm.errors import ModelDirError  # noqa: E402
from epvlm.processing import (  # noqa: E402
    IMAGE_TOKEN,
    QWEN2VL_SPECIAL_TOKENS,
    build_offline_processor,
    build_prompt,
    encode_batch,
    grid_for_size,
    load_processor,
    normalize_answer,
    vocab_from_texts,
)
from epvlm.tiny import save_tiny_checkpoint, tiny_config  # noqa: E402
from eventsim.errors import ParameterError  # noqa: E402

WORDS = ["What colour is the cube?", "red", "dark-blue", "top left"]


def test_special_tokens_sit_at_config_ids():
    proc = build_offline_processor(WORDS)
    tok = proc.tokenizer
    for i, token in enumerate(QWEN2VL_SPECIAL_TOKENS):
        assert tok.convert_tokens_to_ids(token) == i
    config = tiny_config(proc)
    assert config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert config.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    assert config.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    assert config.text_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    assert config.text_config.vocab_size == len(tok)
    ids = tok("What colour is the cube? dark-blue", add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids


def test_prompt_words_need_no_unknown_tokens():
    vocab = vocab_from_texts(["Where is the red cube?", "Top-left", "right"])
    assert vocab == sorted(set(vocab))
    proc = build_offline_processor(vocab)
    prompt = build_prompt("Where is the red cube?", ["top-left", "right"], 3)
    ids = proc.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert proc.tokenizer.unk_token_id not in ids
    assert ids.count(proc.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)) == 3
    assert prompt.index("Where") < prompt.index(IMAGE_TOKEN)  # question first


def test_normalize_answer():
    assert normalize_answer("Top-left") == normalize_answer("top - left")
    assert normalize_answer(" Red<|im_end|>") == "red"
    assert normalize_answer("red") != normalize_answer("blue")


def test_grid_matches_processor_output():
    proc = build_offline_processor(WORDS)
    rng = np.random.default_rng(0)
    for h, w in [(112, 112), (90, 150), (480, 640), (30, 30)]:
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        batch = encode_batch(proc, [image], ["what?"], [[]])
        t, gh, gw = batch["image_grid_thw"][0].tolist()
        assert (t, gh // 2, gw // 2) == (1, *grid_for_size(proc, h, w))
        assert batch["image_keep_mask"].numel() == (gh // 2) * (gw // 2)
        assert batch["pixel_values"].shape[0] == gh * gw


def test_encode_batch_rejects_bad_input():
    proc = build_offline_processor(WORDS)
    image = np.zeros((56, 56, 3), np.uint8)
    with pytest.raises(ParameterError, match="HxWx3 uint8"):
        encode_batch(proc, [np.zeros((56, 56), np.uint8)], ["q"], [[]])
    with pytest.raises(ParameterError, match="one question"):
        encode_batch(proc, [image], ["q", "r"], [[]])
    with pytest.raises(ParameterError, match="boolean"):
        encode_batch(proc, [image], ["q"], [[]], keep_masks=[np.ones(4, np.int64)])


def test_load_processor_errors(tmp_path):
    with pytest.raises(ModelDirError, match="does not exist"):
        load_processor(tmp_path / "missing")
    with pytest.raises(ModelDirError, match="preprocessor_config"):
        load_processor(tmp_path)


def test_tiny_checkpoint_round_trip(tmp_path):
    from transformers import Qwen2VLForConditionalGeneration

    from epvlm.modeling import EPQwen2VLForConditionalGeneration

    out = save_tiny_checkpoint(tmp_path / "tiny", WORDS, seed=3)
    proc = load_processor(out)
    assert proc.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) == 12
    ours = EPQwen2VLForConditionalGeneration.from_pretrained(out).eval()
    stock = Qwen2VLForConditionalGeneration.from_pretrained(out).eval()
    image = np.random.default_rng(0).integers(0, 256, (56, 84, 3), dtype=np.uint8)
    batch = encode_batch(proc, [image], ["What colour is the cube?"], [["red", "dark-blue"]])
    dense = {k: v for k, v in batch.items() if k != "image_keep_mask"}
    with torch.no_grad():
        a = ours(**batch).logits
        b = stock(**dense).logits
    assert torch.equal(a, b)
    assert a.abs().max() > 0.1  # initializer_range 0.1 gives non-trivial logits


def test_load_processor_from_real_checkpoint_layout(tmp_path):
    """A Qwen2-VL checkpoint ships preprocessor_config.json + tokenizer files, no processor_config."""
    import json

    proc = build_offline_processor(WORDS)
    proc.image_processor.save_pretrained(tmp_path)
    proc.tokenizer.save_pretrained(tmp_path)
    cfg_path = tmp_path / "preprocessor_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(processor_class="Qwen2VLProcessor", min_pixels=56 * 56, max_pixels=28 * 28 * 1280)
    cfg_path.write_text(json.dumps(cfg))
    assert not (tmp_path / "processor_config.json").exists()
    loaded = load_processor(tmp_path)
    assert grid_for_size(loaded, 448, 448) == (16, 16)
    assert loaded.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) == 12
    assert loaded.tokenizer.padding_side == "left"


# ------------------------------------------------------------------ chat template prompt format


def _chat_processor(words=WORDS):
    from epvlm.processing import QWEN_STYLE_CHAT_TEMPLATE

    return build_offline_processor(words, chat_template=QWEN_STYLE_CHAT_TEMPLATE)


def test_prompt_format_follows_the_checkpoint():
    from epvlm.demo import DEFAULT_MODEL
    from epvlm.processing import prompt_format

    assert prompt_format(build_offline_processor(WORDS)) == "plain"
    assert prompt_format(load_processor(DEFAULT_MODEL)) == "plain"  # the demo model: no template
    chat = _chat_processor()
    assert prompt_format(chat) == "chat"
    assert prompt_format(chat, "plain") == "plain"
    with pytest.raises(ParameterError, match="needs a chat template"):
        prompt_format(build_offline_processor(WORDS), "chat")
    with pytest.raises(ParameterError, match="unknown"):
        prompt_format(chat, "fancy")


def test_chat_prompt_layout():
    from epvlm.answers import MC_INSTRUCTION
    from epvlm.processing import DEFAULT_SYSTEM_PROMPT, build_chat_prompt

    proc = _chat_processor()
    text = build_chat_prompt(proc, "What colour is the cube?", ["red", "dark-blue"], 3)
    assert text.startswith(f"<|im_start|>system\n{DEFAULT_SYSTEM_PROMPT}<|im_end|>\n")
    assert text.count(IMAGE_TOKEN) == 3
    # image before the text, lettered options, the harness instruction, generation prompt
    assert text.index(IMAGE_TOKEN) < text.index("What colour")
    assert "What colour is the cube?\nA. red\nB. dark-blue\n" + MC_INSTRUCTION in text
    assert text.endswith("<|im_start|>assistant\n")
    ids = proc.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert proc.tokenizer.unk_token_id not in ids
    # an open question gets no options and no instruction
    open_text = build_chat_prompt(proc, "What colour is the cube?", [], 1)
    assert MC_INSTRUCTION not in open_text and "A." not in open_text
    batch = encode_batch(
        proc,
        [np.zeros((56, 56, 3), np.uint8)],
        ["What colour is the cube?"],
        [["red", "dark-blue"]],
    )
    decoded = proc.tokenizer.decode(batch["input_ids"][0])
    assert "system" in decoded and "options" not in decoded  # not the plain format


def test_chat_template_survives_save_and_load(tmp_path):
    from epvlm.processing import prompt_format

    _chat_processor().save_pretrained(tmp_path)
    loaded = load_processor(tmp_path)
    assert prompt_format(loaded) == "chat"


def test_empty_question_is_refused():
    proc = build_offline_processor(WORDS)
    with pytest.raises(ParameterError, match="question 1 is empty"):
        encode_batch(proc, [np.zeros((56, 56, 3), np.uint8)] * 2, ["q", "  "], [[], []])


def test_config_token_ids_must_match_the_tokenizer(tmp_path):
    import json

    out = save_tiny_checkpoint(tmp_path / "tiny", WORDS)
    assert load_processor(out).tokenizer is not None
    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["image_token_id"] = 151655  # the real vocabulary's id, unknown to this tokenizer
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ModelDirError, match=r"image_token_id = 151655 is unknown") as err:
        load_processor(out)
    assert "\n" not in str(err.value) and "(12)" in str(err.value)
    cfg["image_token_id"] = 13  # <|video_pad|>
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ModelDirError, match=r"'<\|video_pad\|>' in the tokenizer"):
        load_processor(out)


def test_missing_tokenizer_is_a_one_line_error(tmp_path):
    out = save_tiny_checkpoint(tmp_path / "tiny", WORDS)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (out / name).unlink(missing_ok=True)
    with pytest.raises(ModelDirError) as err:
        load_processor(out)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("where", ["chat_template.json", "tokenizer"])
def test_chat_template_of_a_hub_layout_checkpoint(tmp_path, where):
    """Qwen2-VL Instruct dirs carry the template in chat_template.json and in the tokenizer."""
    import json

    from epvlm.processing import CHAT_PROMPT_WORDS, QWEN_STYLE_CHAT_TEMPLATE, prompt_format

    template = QWEN_STYLE_CHAT_TEMPLATE if where == "tokenizer" else None
    proc = build_offline_processor([*WORDS, *CHAT_PROMPT_WORDS], chat_template=template)
    proc.image_processor.save_pretrained(tmp_path)
    proc.tokenizer.save_pretrained(tmp_path)
    if where == "chat_template.json":
        (tmp_path / "chat_template.json").write_text(
            json.dumps({"chat_template": QWEN_STYLE_CHAT_TEMPLATE})
        )
    cfg_path = tmp_path / "preprocessor_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["processor_class"] = "Qwen2VLProcessor"
    cfg_path.write_text(json.dumps(cfg))
    loaded = load_processor(tmp_path)
    assert prompt_format(loaded) == "chat"
    batch = encode_batch(
        loaded, [np.zeros((56, 56, 3), np.uint8)], ["What colour is the cube?"], [[]]
    )
    assert loaded.tokenizer.unk_token_id not in batch["input_ids"][0].tolist()
    text = loaded.tokenizer.decode(batch["input_ids"][0])
    assert text.startswith("<|im_start|> system you are a helpful assistant")
