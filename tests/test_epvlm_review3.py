"""Review of `epvlm run`, `epvlm demo` and checkpoint loading as a user with a real Qwen2-VL /
Qwen2.5-VL checkpoint folder meets them: tiny folders laid out as the Hub ships them (sharded
bfloat16 safetensors saved by the stock transformers classes, a byte-level BPE tokenizer with
Qwen's special tokens after its byte vocabulary, the chat template where the Hub keeps it,
preprocessor_config.json with min_pixels / max_pixels, a sampling generation_config.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import (  # noqa: E402
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLForConditionalGeneration,
)

from epvlm.cli import main  # noqa: E402
from epvlm.errors import CheckpointError, ModelDirError  # noqa: E402
from epvlm.processing import QWEN2VL_SPECIAL_TOKENS  # noqa: E402

STOCK = {
    "qwen2_vl": Qwen2VLForConditionalGeneration,
    "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration,
}

# The Instruct checkpoints' chat template (its layout: default system turn, image parts matched
# by type or by key, optional "Picture N:" ids, generation prompt)
HUB_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture "
    "{{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video "
    "{{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _byte_level_tokenizer():
    """Qwen2's tokenizer family in miniature: byte-level BPE (no merges) over the 256 byte
    symbols, Qwen2-VL's special tokens after them (ids 256..269, as 151643.. follow the real
    vocabulary), so no token id of the offline word-level tokenizer is assumed anywhere."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(ByteLevel.alphabet()))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in QWEN2VL_SPECIAL_TOKENS]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )


class _TokenizerHolder:
    """What `epvlm.tiny.tiny_config` reads of a processor."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer


def hub_checkpoint(
    out: Path,
    model_type: str,
    *,
    tie: bool,
    template: str,
    min_pixels: int = 56 * 56,
    max_pixels: int = 28 * 28 * 1280,
) -> Path:
    """A tiny random checkpoint folder in the Hub's layout, saved by the stock class."""
    from epvlm.tiny import tiny_config

    out.mkdir(parents=True)
    tok = _byte_level_tokenizer()
    config = tiny_config(_TokenizerHolder(tok), model_type=model_type, tie_word_embeddings=tie)
    torch.manual_seed(11)
    STOCK[model_type](config).to(torch.bfloat16).save_pretrained(out, max_shard_size="200KB")
    cfg = json.loads((out / "config.json").read_text())
    cfg.pop("dtype", None)
    cfg["torch_dtype"] = "bfloat16"
    (out / "config.json").write_text(json.dumps(cfg))
    pad, eos = tok.pad_token_id, tok.eos_token_id
    generation = {"bos_token_id": pad, "pad_token_id": pad, "do_sample": True}
    generation |= {"eos_token_id": [eos, pad], "repetition_penalty": 1.05}
    generation |= {"temperature": 0.01, "top_p": 0.001, "top_k": 1}
    (out / "generation_config.json").write_text(json.dumps(generation))
    tok.save_pretrained(out)
    processor_class = "Qwen2VLProcessor" if model_type == "qwen2_vl" else "Qwen2_5_VLProcessor"
    tok_cfg = json.loads((out / "tokenizer_config.json").read_text())
    tok_cfg.pop("backend", None)
    tok_cfg |= {"tokenizer_class": "Qwen2Tokenizer", "processor_class": processor_class}
    tok_cfg["padding_side"] = "right"
    if template == "tokenizer_config":
        tok_cfg["chat_template"] = HUB_CHAT_TEMPLATE
    elif template == "chat_template.json":
        (out / template).write_text(json.dumps({"chat_template": HUB_CHAT_TEMPLATE}))
    else:
        (out / template).write_text(HUB_CHAT_TEMPLATE)
    (out / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    preprocessor = {
        "min_pixels": min_pixels,
        "max_pixels": max_pixels,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": processor_class,
    }
    (out / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    assert len(list(out.glob("model-*-of-*.safetensors"))) >= 2
    return out


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub-layout")
    return {
        "qwen2_vl": hub_checkpoint(
            root / "Qwen2-VL-tiny", "qwen2_vl", tie=True, template="tokenizer_config"
        ),
        "qwen2_5_vl": hub_checkpoint(
            root / "Qwen2.5-VL-tiny", "qwen2_5_vl", tie=False, template="chat_template.json"
        ),
    }


def _png(path: Path, height: int, width: int, channels: int | None = 3, seed: int = 0) -> Path:
    from PIL import Image

    shape = (height, width) if channels is None else (height, width, channels)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


def _run(model: Path, image: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--model",
        str(model),
        "--image",
        str(image),
        "--question",
        "What is it?",
        *extra,
    ]


# ------------------------------------------------------------------ loading a Hub-layout folder


@pytest.mark.parametrize(
    ("model_type", "dtype"), [("qwen2_vl", "float32"), ("qwen2_5_vl", "bfloat16")]
)
def test_hub_layout_loads_every_tensor_and_dense_equals_stock(hub, model_type, dtype):
    from transformers import AutoImageProcessor

    from epvlm.evaluate import load_model
    from epvlm.processing import encode_batch, prompt_format

    path = hub[model_type]
    model, proc = load_model(path, dtype=dtype)
    stock, info = STOCK[model_type].from_pretrained(
        str(path), dtype=getattr(torch, dtype), output_loading_info=True
    )
    assert not any(info.values())
    ours, theirs = model.state_dict(), stock.eval().state_dict()
    assert list(ours) == list(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert model.dtype == getattr(torch, dtype)
    assert prompt_format(proc) == "chat"
    rng = np.random.default_rng(1)
    images = [
        rng.integers(0, 256, (37, 201, 3), dtype=np.uint8),
        rng.integers(0, 256, (20, 30, 3), dtype=np.uint8),  # below min_pixels
    ]
    batch = encode_batch(proc, images, ["What is it?", "Which one?"], [["a cat", "a dog"], []])
    reference = AutoImageProcessor.from_pretrained(str(path))(images=images, return_tensors="pt")
    assert torch.equal(batch["pixel_values"], reference["pixel_values"])
    assert torch.equal(batch["image_grid_thw"], reference["image_grid_thw"])
    batch["pixel_values"] = batch["pixel_values"].to(model.dtype)
    dense = {k: v for k, v in batch.items() if k != "image_keep_mask"}
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, stock(**dense).logits)
        a = model.generate(**batch, max_new_tokens=4, do_sample=False)
        b = stock.generate(**dense, max_new_tokens=4, do_sample=False)
    assert torch.equal(a, b)


@pytest.mark.parametrize("model_type", sorted(STOCK))
def test_run_on_a_hub_layout_folder_with_every_dtype(hub, model_type, tmp_path, capsys):
    image = _png(tmp_path / "frame.png", 90, 70)
    for dtype in ("float32", "bfloat16"):
        argv = _run(hub[model_type], image, "--choices", "a cat,a dog", "--selector", "center")
        assert main([*argv, "--device", "cpu", "--dtype", dtype, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["prompt_format"] == "chat"
        assert (result["kept_tokens"], result["total_tokens"]) == (3, 6)


@pytest.mark.parametrize(
    ("height", "width", "channels"),
    [(1, 1, 3), (3, 100, 3), (1, 40, 3), (90, 70, None), (90, 70, 4)],
    ids=["1x1", "3-px-high", "1-px-high", "grey", "rgba"],
)
def test_run_takes_tiny_grey_and_rgba_images(hub, tmp_path, capsys, height, width, channels):
    """An image 1 or 3 px high was read by the image processor as channels-first (its shape's
    first axis looks like a channel count), giving another token grid than the keep mask's."""
    from epvlm.processing import grid_for_size, load_processor

    image = _png(tmp_path / "frame.png", height, width, channels)
    rows, cols = grid_for_size(load_processor(hub["qwen2_vl"]), height, width)
    assert main([*_run(hub["qwen2_vl"], image, "--selector", "dense", "--json")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["total_tokens"] == result["kept_tokens"] == rows * cols


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparent_image_is_blended_onto_white_as_transformers_does(tmp_path, mode):
    """OpenCV's colour read dropped the alpha channel: a transparent PNG gave the model the
    colour under the transparency (here red) where stock transformers blends onto white."""
    from PIL import Image
    from transformers.image_transforms import convert_to_rgb

    from epvlm.cli import _read_image

    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :10, 3] = 255
    rgba[:, 10:20, 3] = 128
    path = tmp_path / "transparent.png"
    if mode == "P":
        palette = Image.fromarray(rgba[..., :3]).convert("P")
        palette.save(path, transparency=int(np.asarray(palette)[0, 25]))
    else:
        Image.fromarray(rgba if mode == "RGBA" else rgba[..., [0, 3]].copy(), mode).save(path)
    ours = _read_image(str(path))
    stock = convert_to_rgb(np.asarray(Image.open(path).convert("RGBA")), return_numpy=True)
    assert ours.dtype == np.uint8 and ours.shape == (20, 30, 3)
    assert np.array_equal(ours, stock)
    if mode != "P":
        assert (ours[:, 20:] == 255).all()  # fully transparent: white, not the red under it
    assert (ours != cv2_colour_read(path)).any()
    via_pil = np.asarray(convert_to_rgb(Image.open(path), return_numpy=True), dtype=int)
    assert np.abs(ours.astype(int) - via_pil).max() <= 1  # PIL's integer blend rounds its own way


def test_alpha_of_any_depth_is_blended(tmp_path):
    import cv2

    from epvlm.cli import _read_image
    from eventsim.simulator.sources import composite_on_white

    rgb = np.full((2, 2, 3), 100, np.uint8)
    for alpha in (
        np.array([[0, 65535], [32768, 65535]], np.uint16),
        np.array([[0.0, 1.0], [0.5, 1.5]], np.float32),  # floats: opaque at 1
    ):
        out = composite_on_white(rgb, alpha)[..., 0]
        assert out[0, 0] == 255 and out[0, 1] == 100 and out[1, 1] == 100
        assert abs(int(out[1, 0]) - 178) <= 1
    bgra16 = np.zeros((20, 30, 4), np.uint16)
    bgra16[..., 2] = 200 * 257
    bgra16[:, :10, 3] = 65535
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), bgra16)
    image = _read_image(str(path))
    assert (image[:, :10] == (200, 0, 0)).all() and (image[:, 10:] == 255).all()


def cv2_colour_read(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def test_encode_batch_reads_images_as_height_width_channels():
    from epvlm.processing import build_offline_processor, encode_batch, grid_for_size

    proc = build_offline_processor(["what is it"])
    for hw in [(1, 1), (3, 100), (1, 3), (3, 3)]:
        batch = encode_batch(proc, [np.zeros((*hw, 3), np.uint8)], ["what is it"], [[]])
        rows, cols = grid_for_size(proc, *hw)
        assert batch["image_grid_thw"].tolist() == [[1, 2 * rows, 2 * cols]], hw


def test_too_elongated_image_is_one_line_before_the_model_loads(tmp_path, capsys, monkeypatch):
    """Qwen2-VL's resize refuses an aspect ratio over 200 with a bare ValueError, which
    `epvlm run` printed as an internal error after loading the model."""
    import epvlm.evaluate
    from epvlm.demo import DEFAULT_MODEL
    from epvlm.processing import build_offline_processor, encode_batch, grid_for_size
    from eventsim.errors import ParameterError

    image = _png(tmp_path / "strip.png", 2, 500)

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    # the image is refused before the model loads (a --model that does not exist is refused
    # before anything else is read)
    monkeypatch.setattr(epvlm.evaluate, "load_model", no_loading)
    assert main(_run(DEFAULT_MODEL, image, "--selector", "dense")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err
    assert "500x2 px" in err and "aspect ratio of 250:1" in err and "200:1" in err
    proc = build_offline_processor(["what is it"])
    with pytest.raises(ParameterError, match="aspect ratio"):
        grid_for_size(proc, 2, 500)
    with pytest.raises(ParameterError, match="aspect ratio"):
        encode_batch(proc, [np.zeros((500, 2, 3), np.uint8)], ["what is it"], [[]])
    assert grid_for_size(proc, 2, 400) == (1, 29)  # 200:1 itself is taken


def test_zero_event_file_says_it_fell_back_to_the_centre(hub, tmp_path, capsys):
    from eventsim.events import EVENT_DTYPE
    from eventsim.io import write_events

    image = _png(tmp_path / "frame.png", 112, 112)
    events = tmp_path / "none.h5"
    write_events(events, np.zeros(0, EVENT_DTYPE), sensor_size=(112, 112))
    argv = _run(hub["qwen2_vl"], image, "--events", str(events), "--keep", "0.25")
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        "4 of 16 image tokens kept (event, keep 0.25); no events in the window, fell back to center"
        in out
    )
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["fallback"] == "center" and result["kept_tokens"] == 4


@pytest.mark.parametrize("keep", ["0", "-0.5", "1.01", "nan", "inf"])
def test_keep_outside_the_unit_interval_is_a_usage_error(hub, tmp_path, capsys, keep):
    image = _png(tmp_path / "frame.png", 56, 56)
    assert main(_run(hub["qwen2_vl"], image, "--selector", "center", "--keep", keep)) == 2
    assert f"'{keep}' must lie in (0, 1]" in capsys.readouterr().err


# ----------------------------------------------------------------------------- error messages


@pytest.mark.parametrize(
    ("declared", "weights"), [("qwen2_5_vl", "qwen2_vl"), ("qwen2_vl", "qwen2_5_vl")]
)
def test_config_of_the_other_model_type_is_named(hub, tmp_path, declared, weights):
    import shutil

    from epvlm.loading import load_pretrained_model

    folder = tmp_path / "ckpt"
    shutil.copytree(hub[weights], folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model_type"] = declared
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError) as exc:
        load_pretrained_model(folder)
    msg = str(exc.value)
    assert "\n" not in msg
    assert (
        f"the weights are those of model_type '{weights}' but config.json says '{declared}'" in msg
    )


def test_a_folder_that_is_no_checkpoint_says_so(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    image = _png(folder / "frame.png", 56, 56)
    assert main(_run(folder, image, "--selector", "dense")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{str(folder)!r} is not a model checkpoint folder: it has no config.json" in err


@pytest.mark.parametrize(
    ("removed", "says"),
    [
        ("preprocessor_config.json", "has no preprocessor_config.json"),
        ("config.json", "has no config.json"),
        ("model.safetensors.index.json", "neither model.safetensors nor"),
        ("model-00002-of-", "lacks 1 of the 2 weight files its index names: model-00002-of-00002"),
    ],
)
def test_missing_checkpoint_files_are_one_line(hub, tmp_path, capsys, removed, says):
    import shutil

    folder = tmp_path / "ckpt"
    shutil.copytree(hub["qwen2_vl"], folder)
    for f in folder.glob(f"{removed}*"):
        f.unlink()
    image = _png(tmp_path / "frame.png", 56, 56)
    assert main(_run(folder, image, "--selector", "dense")) == 1
    err = capsys.readouterr().err
    assert err.startswith("epvlm run: error: ") and err.count("\n") == 1 and says in err


@pytest.mark.parametrize(
    "damage", ["cut shard", "cut single file", "index without map", "index not json"]
)
def test_damaged_weight_files_are_one_line_naming_the_file(hub, tmp_path, capsys, damage):
    """A weight file cut short (an interrupted download or copy) or a damaged index was an
    internal error (SafetensorError, KeyError, JSONDecodeError) with no file named."""
    import shutil

    from epvlm.loading import load_pretrained_model

    folder = tmp_path / "ckpt"
    if damage == "cut single file":
        from epvlm.tiny import save_tiny_checkpoint

        save_tiny_checkpoint(folder, ["what is it"])
        bad = folder / "model.safetensors"
    else:
        shutil.copytree(hub["qwen2_vl"], folder)
        bad = sorted(folder.glob("model-*.safetensors"))[0]
    if damage.startswith("cut"):
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
        says = f"weight file {str(bad)!r} is damaged or incomplete"
    else:
        bad = folder / "model.safetensors.index.json"
        bad.write_text("{}" if damage == "index without map" else "{not json")
        says = str(bad)
    with pytest.raises((CheckpointError, ModelDirError)) as exc:
        load_pretrained_model(folder)
    assert "\n" not in str(exc.value) and says in str(exc.value)
    image = _png(tmp_path / "frame.png", 56, 56)
    capsys.readouterr()  # the tiny checkpoint's save
    assert main(_run(folder, image, "--selector", "dense")) == 1
    err = capsys.readouterr().err
    assert err.startswith("epvlm run: error: ") and err.count("\n") == 1 and says in err


@pytest.mark.parametrize(
    ("model_type", "name"),
    [
        ("qwen2_vl", "tokenizer.json"),
        ("qwen2_vl", "config.json"),
        ("qwen2_vl", "generation_config.json"),
        ("qwen2_5_vl", "chat_template.json"),
    ],
)
def test_a_damaged_json_file_is_named(hub, tmp_path, capsys, model_type, name):
    """A processor file cut short gave transformers' bare JSON error (no file named; a damaged
    config.json was blamed on the processor without saying so), and a damaged
    generation_config.json was dropped in silence for defaults (other stop tokens)."""
    import shutil

    folder = tmp_path / "ckpt"
    shutil.copytree(hub[model_type], folder)
    path = folder / name
    path.write_bytes(path.read_bytes()[:30])
    image = _png(tmp_path / "frame.png", 56, 56)
    assert main(_run(folder, image, "--selector", "dense")) == 1
    err = capsys.readouterr().err
    assert err.startswith("epvlm run: error: ") and err.count("\n") == 1
    assert name in err and ("not valid JSON" in err or "cannot read" in err)


def test_the_missing_and_not_a_folder_cases_stay_model_dir_errors(tmp_path):
    from epvlm.processing import load_processor

    with pytest.raises(ModelDirError, match="is a file"):
        load_processor(_png(tmp_path / "frame.png", 56, 56))
    with pytest.raises(ModelDirError, match="does not exist"):
        load_processor(tmp_path / "missing")


# ------------------------------------------------------------------------------------ the demo


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """A 2-question demo (dense and event at τ = 0.5), counting the model loads."""
    import epvlm.loading
    from epvlm.demo import run_demo

    real = epvlm.loading.load_pretrained_model
    loads = []

    def counting(*args, **kwargs):
        loads.append(args)
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(epvlm.loading, "load_pretrained_model", counting)
        result = run_demo(
            tmp_path_factory.mktemp("demo") / "out",
            limit=2,
            selectors=("dense", "event"),
            keeps=(0.5,),
            progress=False,
            coverage_questions=1,
            threads=1,
        )
    return result, loads


def test_demo_loads_the_model_once(small_demo):
    """The report step loaded the whole model again to get its processor: with a real
    checkpoint as --model that is a second copy of its weights in memory and minutes of load."""
    _, loads = small_demo
    assert len(loads) == 1


def test_demo_says_how_many_questions_fell_back_to_the_centre(small_demo):
    from epvlm.demo import findings, summarize

    result, _ = small_demo
    samples = [json.loads(line) for line in (result.out_dir / "samples.jsonl").open()]
    assert result.summary["event_fallbacks"] == 0
    assert not any("no event in" in f for f in findings(result.summary))
    first = next(s["id"] for s in samples if s["selector"] == "event")
    marked = [
        {**s, "fallback": "center"} if s["id"] == first and s["selector"] == "event" else s
        for s in samples
    ]
    summary = summarize(marked)
    assert summary["event_fallbacks"] == 1
    said = [f for f in findings(summary) if "no event in its window" in f]
    assert said == [
        "1 of 2 questions had no event in its window: `event` kept the blocks nearest the "
        "image centre for it (its fallback), so its rows there measure `center`, not the "
        "event prior."
    ]


# ------------------------------------------------------------------- tools/train_demo_model.py


def test_training_tool_writes_the_weights_once_and_as_shipped(tmp_path, monkeypatch):
    """save_checkpoint wrote model.safetensors twice (save_pretrained, then a rewrite under the
    module's names); now once, byte for byte the shipped file for the shipped weights."""
    import importlib.util

    import safetensors.torch
    import transformers.modeling_utils
    from transformers import AutoConfig

    from epvlm.demo import DEFAULT_MODEL
    from epvlm.loading import load_pretrained_model
    from epvlm.modeling import EPQwen2VLForConditionalGeneration
    from epvlm.processing import load_processor

    tool_path = Path(__file__).resolve().parents[1] / "tools" / "train_demo_model.py"
    spec = importlib.util.spec_from_file_location("train_demo_model_review3", tool_path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    shipped = load_pretrained_model(DEFAULT_MODEL)
    model = EPQwen2VLForConditionalGeneration(AutoConfig.from_pretrained(DEFAULT_MODEL))
    model.load_state_dict(shipped.state_dict())
    model.generation_config = shipped.generation_config
    writes = []
    for module, name in (
        (safetensors.torch, "save_file"),
        (transformers.modeling_utils, "safe_save_file"),
    ):
        real = getattr(module, name)
        monkeypatch.setattr(
            module, name, lambda *a, _real=real, **k: (writes.append(a[1]), _real(*a, **k))[1]
        )
    out = tmp_path / "model"
    tool.save_checkpoint(model, load_processor(DEFAULT_MODEL), out, {"steps": 0})
    assert [Path(w).name for w in writes] == ["model.safetensors"]
    assert (out / "model.safetensors").read_bytes() == (
        DEFAULT_MODEL / "model.safetensors"
    ).read_bytes()
    for name in ("config.json", "generation_config.json"):
        assert json.loads((out / name).read_text()) == json.loads(
            (DEFAULT_MODEL / name).read_text()
        )
    again = load_pretrained_model(out).state_dict()
    ref = shipped.state_dict()
    assert list(again) == list(ref) and all(torch.equal(again[k], ref[k]) for k in ref)


@pytest.mark.parametrize(
    ("model_type", "name"), [("qwen2_vl", "Qwen2-VL"), ("qwen2_5_vl", "Qwen2.5-VL")]
)
def test_demo_report_names_the_model_family(hub, model_type, name):
    """The report called every checkpoint without a training.json a Qwen2-VL one."""
    from epvlm.demo.pipeline import _model_description

    assert _model_description(hub[model_type]) == f"{name} checkpoint"


@pytest.mark.parametrize("model_type", sorted(STOCK))
def test_sparse_prompt_keeps_every_dense_position_on_a_hub_layout_folder(hub, model_type):
    """Kept image tokens carry their dense (t, h, w) M-RoPE ids and every text token, before
    and after the image, its dense position, in a left-padded batch of two."""
    from epvlm.evaluate import load_model
    from epvlm.prior import keep_mask_random
    from epvlm.processing import encode_batch, grid_for_size

    model, proc = load_model(hub[model_type])
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for hw in ((37, 201), (90, 70))]
    masks = [
        keep_mask_random(grid_for_size(proc, *im.shape[:2]), 0.4, i) for i, im in enumerate(images)
    ]
    args = (proc, images, ["What is it?", "Which one?"], [["a cat", "a dog"], []])
    dense, sparse = encode_batch(*args), encode_batch(*args, keep_masks=masks)

    def positions(batch, keep_mask):
        ids, _ = model.model.get_rope_index(
            batch["input_ids"],
            batch["mm_token_type_ids"],
            image_grid_thw=batch["image_grid_thw"],
            attention_mask=batch["attention_mask"],
            image_keep_mask=keep_mask,
        )
        return ids

    dense_pos = positions(dense, None)
    sparse_pos = positions(sparse, sparse["image_keep_mask"])
    for i, mask in enumerate(masks):
        d_valid = dense["attention_mask"][i].bool()
        s_valid = sparse["attention_mask"][i].bool()
        d_image = dense["mm_token_type_ids"][i][d_valid].bool()
        s_image = sparse["mm_token_type_ids"][i][s_valid].bool()
        d, s = dense_pos[:, i, d_valid], sparse_pos[:, i, s_valid]
        kept = torch.from_numpy(mask.reshape(-1))
        assert torch.equal(s[:, s_image], d[:, d_image][:, kept])
        assert torch.equal(s[:, ~s_image], d[:, ~d_image])
        assert int(s_image.sum()) == int(kept.sum()) < int(d_image.sum())


@pytest.mark.parametrize("damage", ["no tokenizer", "cut weights", "unknown model_type"])
def test_demo_checks_the_model_folder_before_building_the_split(tmp_path, monkeypatch, damage):
    """A broken --model failed only once the split was built (a minute for the full demo),
    and the build went with the failed run."""
    import shutil

    import epvlm.demo.pipeline as pipeline
    from epvlm.demo import DEFAULT_MODEL, run_demo

    folder = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, folder)
    if damage == "no tokenizer":
        (folder / "tokenizer.json").unlink()
        (folder / "tokenizer_config.json").unlink()
    elif damage == "cut weights":
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        cfg = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**cfg, "model_type": "qwen3_vl"}))

    def no_build(*args, **kwargs):
        raise AssertionError("the split was built before the model folder was checked")

    monkeypatch.setattr(pipeline, "prepare_dataset", no_build)
    with pytest.raises((ModelDirError, CheckpointError)) as exc:
        run_demo(tmp_path / "out", limit=1, model_dir=folder, progress=False)
    msg = str(exc.value)
    says = {"no tokenizer": "has no tokenizer", "cut weights": "is damaged or incomplete"}
    assert "\n" not in msg and says.get(damage, "'qwen3_vl' is not supported") in msg
    assert not (tmp_path / "out").exists()
