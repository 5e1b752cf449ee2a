"""Checkpoints written by stock transformers load into the EP classes exactly, in every layout;
an incomplete or foreign checkpoint is a one-line `CheckpointError`."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import (  # noqa: E402
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLForConditionalGeneration,
)

from epvlm.errors import CheckpointError, ModelDirError  # noqa: E402
from epvlm.loading import (  # noqa: E402
    checkpoint_keys,
    load_pretrained_model,
    model_class_for,
    read_model_type,
)
from epvlm.modeling import EPQwen2VLForConditionalGeneration  # noqa: E402
from epvlm.modeling_qwen2_5_vl import EPQwen2_5_VLForConditionalGeneration  # noqa: E402
from epvlm.processing import build_offline_processor, encode_batch  # noqa: E402
from epvlm.tiny import tiny_config  # noqa: E402

STOCK = {
    "qwen2_vl": (Qwen2VLForConditionalGeneration, EPQwen2VLForConditionalGeneration),
    "qwen2_5_vl": (Qwen2_5_VLForConditionalGeneration, EPQwen2_5_VLForConditionalGeneration),
}
LAYOUTS = ("legacy", "current", "sharded")


@pytest.fixture(scope="module")
def proc():
    return build_offline_processor(["what colour is the object", "red blue green"])


@pytest.fixture(scope="module")
def batch(proc):
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)]
    return encode_batch(proc, images, ["What colour is the object?"], [["red", "blue"]])


def _stock_checkpoint(path, proc, model_type, tie, layout):
    """A random tiny model saved by the stock transformers class in the given layout."""
    stock_cls, _ = STOCK[model_type]
    torch.manual_seed(7)
    config = tiny_config(proc, model_type=model_type, tie_word_embeddings=tie)
    stock = stock_cls(config).eval()
    if layout == "sharded":
        stock.save_pretrained(path, max_shard_size="40KB")
    else:
        stock.save_pretrained(path)
    if layout == "current":
        # module names (model.language_model.*, model.visual.*), as some tools write them
        state = {k: v.contiguous() for k, v in stock.state_dict().items()}
        if tie:
            state.pop("lm_head.weight")
        save_file(state, path / "model.safetensors", metadata={"format": "pt"})
    return path


@pytest.mark.parametrize("model_type", sorted(STOCK))
@pytest.mark.parametrize("tie", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_stock_saved_checkpoint_loads_exactly(tmp_path, proc, batch, model_type, tie, layout):
    path = _stock_checkpoint(tmp_path / "ckpt", proc, model_type, tie, layout)
    keys = checkpoint_keys(path)
    if layout == "sharded":
        assert (path / "model.safetensors.index.json").is_file()
        assert len(list(path.glob("model-*.safetensors"))) > 2
    legacy = layout != "current"
    assert any(k.startswith("model.layers.") for k in keys) == legacy
    assert any(k.startswith("visual.") for k in keys) == legacy
    assert ("lm_head.weight" in keys) == (not tie)

    stock_cls, ep_cls = STOCK[model_type]
    stock, info = stock_cls.from_pretrained(str(path), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    model = load_pretrained_model(path)
    assert type(model) is ep_cls
    expected, got = stock.state_dict(), model.state_dict()
    assert list(got) == list(expected)
    for name, tensor in expected.items():
        assert torch.equal(got[name], tensor), name
    # the weights really came from the file, not from a matching random init
    with torch.no_grad():
        fresh = stock_cls(stock.config).state_dict()
    some_llm = "model.language_model.layers.1.mlp.down_proj.weight"
    assert not torch.equal(fresh[some_llm], got[some_llm])
    if tie:
        assert model.lm_head.weight is model.model.language_model.embed_tokens.weight
    with torch.no_grad():
        dense = stock.eval()(**{k: v for k, v in batch.items() if k != "image_keep_mask"})
        ours = model(**batch)  # keep mask all True
    assert torch.equal(dense.logits, ours.logits)


@pytest.mark.parametrize("model_type", sorted(STOCK))
def test_ep_save_writes_the_stock_layout(tmp_path, proc, model_type):
    path = _stock_checkpoint(tmp_path / "stock", proc, model_type, False, "legacy")
    model = load_pretrained_model(path)
    model.save_pretrained(tmp_path / "ep")
    assert checkpoint_keys(tmp_path / "ep") == checkpoint_keys(path)
    with safe_open(str(path / "model.safetensors"), "pt") as a:
        with safe_open(str(tmp_path / "ep" / "model.safetensors"), "pt") as b:
            for key in a.keys():
                assert torch.equal(a.get_tensor(key), b.get_tensor(key)), key


def _hub_style_config(model_type: str) -> dict:
    """A config.json in the layout of the Hub's Qwen2-VL / Qwen2.5-VL Instruct checkpoints (text
    fields at the top level, ``rope_scaling`` of type mrope), with tiny sizes."""
    cfg = {
        "model_type": model_type,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "vocab_size": 40,
        "tie_word_embeddings": True,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
        "bos_token_id": 0,
        "eos_token_id": 2,
        "image_token_id": 12,
        "video_token_id": 13,
        "vision_start_token_id": 9,
        "vision_end_token_id": 10,
    }
    common = {"depth": 2, "num_heads": 2, "in_chans": 3, "patch_size": 14, "spatial_merge_size": 2}
    if model_type == "qwen2_vl":
        cfg["architectures"] = ["Qwen2VLForConditionalGeneration"]
        cfg["vision_config"] = {**common, "embed_dim": 32, "mlp_ratio": 2, "hidden_size": 64}
    else:
        cfg["architectures"] = ["Qwen2_5_VLForConditionalGeneration"]
        cfg["vision_config"] = {
            **common,
            "hidden_size": 32,
            "intermediate_size": 48,
            "out_hidden_size": 64,
            "window_size": 56,
            "fullatt_block_indexes": [1],
        }
    return cfg


@pytest.mark.parametrize("model_type", sorted(STOCK))
def test_hub_style_config_and_weights_load_exactly(tmp_path, model_type):
    from transformers import AutoConfig

    hub = _hub_style_config(model_type)
    (tmp_path / "config.json").write_text(json.dumps(hub))
    stock_cls, ep_cls = STOCK[model_type]
    torch.manual_seed(0)
    stock_cls(AutoConfig.from_pretrained(tmp_path)).save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(hub))  # keep the Hub's config layout
    assert any(k.startswith("model.layers.") for k in checkpoint_keys(tmp_path))
    expected = stock_cls.from_pretrained(str(tmp_path)).state_dict()
    model = load_pretrained_model(tmp_path)
    assert type(model) is ep_cls
    got = model.state_dict()
    assert list(got) == list(expected)
    assert all(torch.equal(got[k], v) for k, v in expected.items())


def _drop_tensor(path, key):
    state = load_file(path / "model.safetensors")
    del state[key]
    save_file(state, path / "model.safetensors", metadata={"format": "pt"})


@pytest.mark.parametrize("model_type", sorted(STOCK))
def test_missing_unexpected_and_misshaped_tensors_raise(tmp_path, proc, model_type):
    path = _stock_checkpoint(tmp_path / "ckpt", proc, model_type, False, "legacy")
    _drop_tensor(path, "model.layers.1.mlp.up_proj.weight")
    with pytest.raises(CheckpointError) as exc:
        load_pretrained_model(path)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "1 missing tensor: model.layers.1.mlp.up_proj.weight" in msg

    state = load_file(path / "model.safetensors")
    state["model.layers.1.mlp.up_proj.weight"] = torch.zeros(3, 3)
    state["visual.extra.weight"] = torch.zeros(2)
    save_file(state, path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError) as exc:
        load_pretrained_model(path)
    msg = str(exc.value)
    assert "\n" not in msg
    # named as the checkpoint's files spell them (here the legacy names), as missing ones are
    assert "unexpected tensor: visual.extra.weight" in msg
    assert "wrong shape: model.layers.1.mlp.up_proj.weight (3, 3)" in msg


def test_auto_device_and_dtype_mean_what_the_command_line_means(tmp_path, proc):
    path = _stock_checkpoint(tmp_path / "ckpt", proc, "qwen2_vl", True, "legacy")
    model = load_pretrained_model(path, device="auto", dtype="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(model.parameters()).device.type == expected
    if expected == "cpu":
        assert next(model.parameters()).dtype == torch.float32


def test_untied_checkpoint_without_lm_head_raises(tmp_path, proc):
    path = _stock_checkpoint(tmp_path / "ckpt", proc, "qwen2_vl", False, "legacy")
    _drop_tensor(path, "lm_head.weight")
    with pytest.raises(CheckpointError, match=r"missing tensor.*lm_head\.weight"):
        load_pretrained_model(path)


def test_model_type_dispatch_and_errors(tmp_path):
    assert model_class_for("qwen2_vl") is EPQwen2VLForConditionalGeneration
    assert model_class_for("qwen2_5_vl") is EPQwen2_5_VLForConditionalGeneration
    with pytest.raises(CheckpointError, match=r"'llava'.*qwen2_vl, qwen2_5_vl"):
        model_class_for("llava")
    with pytest.raises(ModelDirError, match=r"no config\.json"):
        read_model_type(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen3_vl"}))
    with pytest.raises(CheckpointError, match="'qwen3_vl' is not supported"):
        load_pretrained_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(CheckpointError, match="no model_type"):
        read_model_type(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelDirError, match="cannot read"):
        read_model_type(tmp_path)
    tiny_config().save_pretrained(tmp_path)
    with pytest.raises(ModelDirError, match=r"neither model\.safetensors"):
        load_pretrained_model(tmp_path)


# ---------------------------------------------------------------- the shipped demo checkpoint


@pytest.fixture(scope="module", params=["reloaded", "rebuilt"])
def demo_resaved(request, tmp_path_factory):
    """The shipped demo model saved again by the stock class: as loaded by it (transformers
    then keeps the file's current names) and rebuilt from its config (legacy names, like the
    Hub's checkpoints)."""
    from epvlm.demo import DEFAULT_MODEL
    from epvlm.processing import load_processor

    out = tmp_path_factory.mktemp(f"demo-{request.param}") / "model"
    stock = Qwen2VLForConditionalGeneration.from_pretrained(str(DEFAULT_MODEL))
    if request.param == "rebuilt":
        rebuilt = Qwen2VLForConditionalGeneration(stock.config)
        rebuilt.load_state_dict(stock.state_dict())
        stock = rebuilt
    stock.save_pretrained(out)
    load_processor(DEFAULT_MODEL).save_pretrained(out)
    legacy = any(k.startswith("model.layers.") for k in checkpoint_keys(out))
    assert legacy == (request.param == "rebuilt")
    return DEFAULT_MODEL, out


def _demo_samples():
    from eventsim.datasets import load_recipe
    from eventsim.datasets.scenes import draw_sample

    cfg = load_recipe("shapes-demo").scene_config()
    return [draw_sample(cfg, seed, render_frames=False) for seed in (900, 901, 905, 910)]


def test_demo_model_resaved_by_stock_gives_same_answers(demo_resaved):
    from epvlm.evaluate import load_model
    from epvlm.prior import keep_mask_random
    from epvlm.processing import decode_answers, grid_for_size

    original_dir, resaved_dir = demo_resaved
    original, proc = load_model(original_dir)
    resaved, _ = load_model(resaved_dir)
    a, b = original.state_dict(), resaved.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    samples = _demo_samples()
    grid = grid_for_size(proc, *samples[0].image.shape[:2])
    for masks in (None, [keep_mask_random(grid, 0.25, i) for i in range(len(samples))]):
        batch = encode_batch(
            proc,
            [s.image for s in samples],
            [s.question for s in samples],
            [s.choices for s in samples],
            keep_masks=masks,
        )
        with torch.no_grad():
            assert torch.equal(original(**batch).logits, resaved(**batch).logits)
            n = batch["input_ids"].shape[1]
            answers = [
                decode_answers(proc, m.generate(**batch, max_new_tokens=4, do_sample=False), n)
                for m in (original, resaved)
            ]
        assert answers[0] == answers[1]


def test_run_exits_with_one_line_on_a_missing_tensor(demo_resaved, tmp_path, capsys):
    from PIL import Image

    from epvlm.cli import main

    _, resaved_dir = demo_resaved
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in resaved_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    key = next(k for k in checkpoint_keys(broken) if k.endswith("layers.0.self_attn.q_proj.weight"))
    _drop_tensor(broken, key)
    sample = _demo_samples()[0]
    image = tmp_path / "image.png"
    Image.fromarray(sample.image).save(image)
    argv = ["run", "--model", str(broken), "--image", str(image), "--question", sample.question]
    rc = main([*argv, "--selector", "dense"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1 and err[0].startswith("epvlm run: error:")
    assert key in err[0]


def test_run_picks_qwen2_5_vl_from_config(tmp_path, capsys):
    """`epvlm run --model DIR` on a Qwen2.5-VL checkpoint: the class comes from model_type."""
    from PIL import Image

    from epvlm.cli import main
    from epvlm.evaluate import load_model
    from epvlm.tiny import save_tiny_checkpoint

    model_dir = save_tiny_checkpoint(
        tmp_path / "model", ["what colour is it", "red", "blue"], model_type="qwen2_5_vl"
    )
    assert read_model_type(model_dir) == "qwen2_5_vl"
    model, _proc = load_model(model_dir)
    assert type(model) is EPQwen2_5_VLForConditionalGeneration
    image = tmp_path / "image.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)).save(image)
    argv = ["run", "--model", str(model_dir), "--image", str(image)]
    argv += ["--question", "what colour is it?", "--choices", "red,blue"]
    assert main([*argv, "--selector", "random", "--keep", "0.5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kept_tokens"] == 8 and result["total_tokens"] == 16
    assert result["flops"] < result["dense_flops"]
