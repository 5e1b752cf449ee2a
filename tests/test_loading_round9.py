"""Round 9 audit of loading Qwen2-VL / Qwen2.5-VL checkpoints from a local folder as users have
them, each compared tensor by tensor with what the stock transformers class loads (and the
keep-all sparse forward with the stock dense one): PyTorch ``.bin`` weights (single and
sharded), sharded safetensors in the current key layout, a config.json as the Hub's Instruct
checkpoints carry it (bfloat16 ``torch_dtype``, ``rope_scaling`` of type mrope, sliding-window
keys, Qwen2.5-VL's window-attention vision keys), a Hugging Face cache snapshot, and quantized
(AWQ / GPTQ / bitsandbytes) checkpoints, which are refused in one line."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from safetensors.torch import load_file, save_file  # noqa: E402
from test_epvlm_checkpoints6 import REVISION, _hf_cache  # noqa: E402
from transformers import (  # noqa: E402
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLForConditionalGeneration,
)

from epvlm.errors import CheckpointError, ModelDirError  # noqa: E402
from epvlm.loading import checkpoint_keys, load_pretrained_model  # noqa: E402
from epvlm.processing import build_offline_processor, encode_batch  # noqa: E402
from epvlm.tiny import tiny_config  # noqa: E402

STOCK: dict[str, Any] = {
    "qwen2_vl": Qwen2VLForConditionalGeneration,
    "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration,
}


@pytest.fixture(scope="module")
def proc():
    return build_offline_processor(["what colour is the object", "red blue green"])


@pytest.fixture(scope="module")
def batch(proc):
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (224, 168, 3), dtype=np.uint8)]
    return encode_batch(proc, images, ["What colour is the object?"], [["red", "blue"]])


def _load_without_warnings(path: Path, caplog, **kwargs):
    """load_pretrained_model, failing on any warning or logged message of WARNING or above."""
    caplog.clear()
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")
        model = load_pretrained_model(path, **kwargs)
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    return model


def _assert_loads_as_stock(path: Path, model_type: str, batch, caplog, **kwargs):
    model = _load_without_warnings(path, caplog, **kwargs)
    stock, info = STOCK[model_type].from_pretrained(
        str(path), output_loading_info=True, dtype=kwargs.get("dtype", torch.float32)
    )
    assert not any(info.values()), info
    ours, theirs = model.state_dict(), stock.state_dict()
    assert list(ours) == list(theirs)
    for name, tensor in theirs.items():
        assert ours[name].dtype == tensor.dtype and torch.equal(ours[name], tensor), name
    with torch.no_grad():
        dense = stock.eval()(**{k: v for k, v in batch.items() if k != "image_keep_mask"})
        sparse = model(**batch)  # keep mask all True: the sparse path at keep ratio 1.0
    assert bool(batch["image_keep_mask"].all())
    assert torch.equal(dense.logits, sparse.logits)
    return model, stock


def _save_stock(path: Path, proc, model_type: str, *, tie: bool, shard: str | None = None):
    torch.manual_seed(21)
    stock = STOCK[model_type](tiny_config(proc, model_type=model_type, tie_word_embeddings=tie))
    stock.save_pretrained(path, max_shard_size=shard or "50GB")
    return stock.eval()


# ----------------------------------------------------------------- PyTorch .bin checkpoints


def _to_bin(path: Path) -> None:
    """Turn a saved safetensors checkpoint (single or sharded) into the PyTorch ``.bin`` files
    older tools wrote: pytorch_model.bin, or pytorch_model-0000i-of-0000n.bin shards with
    pytorch_model.bin.index.json."""
    index = path / "model.safetensors.index.json"
    if not index.is_file():
        torch.save(load_file(path / "model.safetensors"), path / "pytorch_model.bin")
        (path / "model.safetensors").unlink()
        return
    data = json.loads(index.read_text())
    renamed = {}
    for shard in sorted(set(data["weight_map"].values())):
        name = shard.replace("model-", "pytorch_model-").replace(".safetensors", ".bin")
        torch.save(load_file(path / shard), path / name)
        (path / shard).unlink()
        renamed[shard] = name
    data["weight_map"] = {k: renamed[v] for k, v in data["weight_map"].items()}
    (path / "pytorch_model.bin.index.json").write_text(json.dumps(data))
    index.unlink()


@pytest.mark.parametrize("model_type", sorted(STOCK))
@pytest.mark.parametrize("sharded", [False, True], ids=["single", "sharded"])
def test_a_pytorch_bin_checkpoint_loads_as_the_stock_class_loads_it(
    tmp_path, proc, batch, caplog, model_type, sharded
):
    """It was refused ('PyTorch pickles are not read'), though transformers reads it with
    torch.load(weights_only=True), and the advice (save it again with save_pretrained) needed
    a model loaded from it first."""
    path = tmp_path / "bin"
    original = _save_stock(path, proc, model_type, tie=True, shard="60KB" if sharded else None)
    _to_bin(path)
    assert not list(path.glob("*.safetensors"))
    assert len(list(path.glob("pytorch_model*.bin"))) > (2 if sharded else 0)
    keys = checkpoint_keys(path)
    assert "lm_head.weight" not in keys and "model.layers.0.mlp.up_proj.weight" in keys
    model, _ = _assert_loads_as_stock(path, model_type, batch, caplog)
    expected = original.state_dict()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())
    assert model.lm_head.weight is model.model.language_model.embed_tokens.weight


def test_a_damaged_or_unsafe_bin_checkpoint_is_named(tmp_path, proc):
    import os

    path = tmp_path / "bin"
    _save_stock(path, proc, "qwen2_vl", tie=False)
    _to_bin(path)
    weights = path / "pytorch_model.bin"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as err:
        load_pretrained_model(path)
    msg = str(err.value)
    assert "\n" not in msg and repr(str(weights)) in msg and "damaged, incomplete" in msg

    # a pickle that would run code when loaded without weights_only is never run
    import pickle

    weights.write_bytes(pickle.dumps({"model.norm.weight": os.getcwd}, protocol=2))
    with pytest.raises(CheckpointError, match=r"weights_only=True failed"):
        load_pretrained_model(path)
    torch.save({"state_dict": {"a": torch.zeros(1)}}, weights)
    with pytest.raises(CheckpointError, match=r"holds a dict that is not a state dict"):
        load_pretrained_model(path)


def test_a_sharded_bin_checkpoint_missing_a_shard_is_named(tmp_path, proc):
    path = tmp_path / "bin"
    _save_stock(path, proc, "qwen2_vl", tie=False, shard="60KB")
    _to_bin(path)
    shards = sorted(path.glob("pytorch_model-*.bin"))
    shards[1].unlink()
    with pytest.raises(CheckpointError, match=rf"lacks 1 of the {len(shards)} weight files.*"):
        load_pretrained_model(path)


def test_a_folder_without_weights_names_every_form_read(tmp_path):
    tiny_config().save_pretrained(tmp_path)
    with pytest.raises(ModelDirError) as err:
        load_pretrained_model(tmp_path)
    for name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"):
        assert name in str(err.value)


# ------------------------------------------------- sharded safetensors in the current layout


def _current_names(key: str) -> str:
    for legacy, current in (("model.", "model.language_model."), ("visual.", "model.visual.")):
        if key.startswith(legacy):
            return current + key[len(legacy) :]
    return key


@pytest.mark.parametrize("model_type", sorted(STOCK))
def test_sharded_safetensors_with_current_names_load_exactly(
    tmp_path, proc, batch, caplog, model_type
):
    path = tmp_path / "current"
    _save_stock(path, proc, model_type, tie=False, shard="60KB")
    index = path / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    for shard in sorted(set(data["weight_map"].values())):
        state = {_current_names(k): v for k, v in load_file(path / shard).items()}
        save_file(state, path / shard, metadata={"format": "pt"})
    data["weight_map"] = {_current_names(k): v for k, v in data["weight_map"].items()}
    index.write_text(json.dumps(data))
    keys = checkpoint_keys(path)
    assert not any(k.startswith(("model.layers.", "visual.")) for k in keys)
    _assert_loads_as_stock(path, model_type, batch, caplog)


# ------------------------------------------------- config.json as the Hub's checkpoints have it


def _hub_config(model_type: str, vocab_size: int, ids: dict) -> dict:
    """Every key of Qwen2-VL-2B-Instruct's / Qwen2.5-VL-3B-Instruct's config.json (flat text
    settings, transformers_version 4.41.2 / 4.49.0), with tiny sizes."""
    cfg = {
        "attention_dropout": 0.0,
        **ids,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.1,
        "intermediate_size": 128,
        "max_position_embeddings": 32768,
        "max_window_layers": 28,
        "model_type": model_type,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": 32768,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "use_sliding_window": False,
        "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
        "vocab_size": vocab_size,
    }
    common = {"depth": 2, "num_heads": 2, "in_chans": 3, "patch_size": 14}
    common |= {"spatial_merge_size": 2, "spatial_patch_size": 14, "temporal_patch_size": 2}
    if model_type == "qwen2_vl":
        cfg["architectures"] = ["Qwen2VLForConditionalGeneration"]
        cfg["transformers_version"] = "4.41.2"
        cfg["vision_config"] = {**common, "embed_dim": 32, "mlp_ratio": 2, "hidden_size": 64}
    else:
        cfg["architectures"] = ["Qwen2_5_VLForConditionalGeneration"]
        cfg["transformers_version"] = "4.49.0.dev0"
        cfg["max_position_embeddings"] = 128000
        cfg["max_window_layers"] = 70
        cfg["rope_scaling"] = {"type": "mrope", "mrope_section": [2, 3, 3], "rope_type": "default"}
        cfg["vision_config"] = {
            **common,
            "hidden_act": "silu",
            "hidden_size": 32,
            "intermediate_size": 48,
            "out_hidden_size": 64,
            "window_size": 112,
            "fullatt_block_indexes": [1],
            "tokens_per_second": 2,
        }
    return cfg


@pytest.fixture(scope="module")
def hub_folders(tmp_path_factory, proc):
    """Per model type a folder with the Hub's config.json and bfloat16 weights in the legacy
    names, tied embeddings without an lm_head tensor, saved by the stock class."""
    from transformers import AutoConfig

    root = tmp_path_factory.mktemp("round9-hub")
    tok = proc.tokenizer
    ids = {
        "bos_token_id": tok.convert_tokens_to_ids("<|endoftext|>"),
        "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
        "vision_start_token_id": tok.convert_tokens_to_ids("<|vision_start|>"),
        "vision_end_token_id": tok.convert_tokens_to_ids("<|vision_end|>"),
        "vision_token_id": tok.convert_tokens_to_ids("<|vision_pad|>"),
        "image_token_id": tok.convert_tokens_to_ids("<|image_pad|>"),
        "video_token_id": tok.convert_tokens_to_ids("<|video_pad|>"),
    }
    folders = {}
    for model_type, cls in STOCK.items():
        folder = root / model_type
        folder.mkdir()
        cfg = _hub_config(model_type, len(tok), ids)
        (folder / "config.json").write_text(json.dumps(cfg))
        torch.manual_seed(4)
        cls(AutoConfig.from_pretrained(folder)).to(torch.bfloat16).save_pretrained(
            folder, max_shard_size="100KB"
        )
        (folder / "config.json").write_text(json.dumps(cfg))  # the Hub's layout, not 5.x's
        keys = checkpoint_keys(folder)
        assert "lm_head.weight" not in keys and any(k.startswith("visual.") for k in keys)
        folders[model_type] = folder
    return folders


@pytest.mark.parametrize("model_type", sorted(STOCK))
def test_the_hubs_config_json_loads_exactly_in_float32_on_a_cpu(
    hub_folders, batch, caplog, model_type
):
    """torch_dtype bfloat16 in config.json does not decide the dtype: load_pretrained_model
    loads float32 unless told (docstring; the CLI's --dtype auto: float32 on a CPU, README)."""
    folder = hub_folders[model_type]
    model, _ = _assert_loads_as_stock(folder, model_type, batch, caplog)
    assert model.dtype == torch.float32
    assert _load_without_warnings(folder, caplog, dtype="auto").dtype == torch.float32
    text = model.config.get_text_config()
    assert text.rope_parameters["mrope_section"] == [2, 3, 3]
    assert text.rope_parameters["rope_theta"] == 1000000.0
    assert not text.use_sliding_window and set(text.layer_types) == {"full_attention"}
    if model_type == "qwen2_5_vl":
        assert model.config.vision_config.window_size == 112
        assert model.config.vision_config.fullatt_block_indexes == [1]
    # in bfloat16 every tensor is the file's own bits
    bf16 = _load_without_warnings(folder, caplog, dtype="bfloat16")
    stored = {}
    for shard in folder.glob("model-*.safetensors"):
        stored |= load_file(shard)
    state = bf16.state_dict()
    for key, tensor in stored.items():
        name = _current_names(key)
        assert state[name].dtype == torch.bfloat16 and torch.equal(state[name], tensor), key


@pytest.mark.parametrize("model_type", sorted(STOCK))
def test_a_hugging_face_cache_snapshot_loads_exactly(
    hub_folders, tmp_path, batch, caplog, model_type
):
    repo = {"qwen2_vl": "Qwen/Qwen2-VL-2B-Instruct", "qwen2_5_vl": "Qwen/Qwen2.5-VL-3B-Instruct"}
    snapshot = _hf_cache(hub_folders[model_type], tmp_path / "hub", repo[model_type])
    assert (snapshot / "config.json").is_symlink()
    _assert_loads_as_stock(snapshot, model_type, batch, caplog)
    cache_folder = snapshot.parent.parent
    with pytest.raises(ModelDirError) as err:
        load_pretrained_model(cache_folder)
    msg = str(err.value)
    assert f"Hugging Face cache folder of {repo[model_type]}" in msg
    assert repr(str(cache_folder / "snapshots" / REVISION)) in msg


# ------------------------------------------------------------------------ quantized weights


QUANTIZATION = {
    "awq": {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm"},
    "gptq": {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False},
    "bitsandbytes": {"quant_method": "bitsandbytes", "load_in_4bit": True},
}


@pytest.mark.parametrize("method", sorted(QUANTIZATION))
def test_a_quantized_checkpoint_is_refused_in_one_line(hub_folders, tmp_path, method):
    """transformers raised the quantizer package's ImportError (gptqmodel, optimum,
    accelerate), which escaped as a traceback; the sparse path is not made for it anyway."""
    import shutil

    from epvlm.evaluate import load_model

    folder = tmp_path / "quantized"
    shutil.copytree(hub_folders["qwen2_5_vl"], folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["quantization_config"] = QUANTIZATION[method]
    (folder / "config.json").write_text(json.dumps(cfg))
    for load in (load_pretrained_model, load_model):
        with pytest.raises(CheckpointError) as err:
            load(folder)
        msg = str(err.value)
        assert "\n" not in msg and f"is quantized (quant_method {method!r}" in msg
        assert "unquantized" in msg
