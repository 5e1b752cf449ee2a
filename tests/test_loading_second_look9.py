"""Second look at round 9's loading of PyTorch ``.bin`` checkpoints and refusal of quantized
ones: a config.json carrying an empty ``quantization_config`` (which transformers takes as
none) loads, a real one under ``text_config`` is named by its quant_method, and ``.bin`` files
as users have them (bfloat16, tied weights saved as one shared storage, torch's pre-1.6
non-zip format, shards whose index and files disagree, beside safetensors) load as the stock
class loads them, tensor by tensor, memory-mapped when torch's zip format allows it."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from safetensors.torch import load_file  # noqa: E402
from transformers import Qwen2VLForConditionalGeneration  # noqa: E402

from epvlm.errors import CheckpointError  # noqa: E402
from epvlm.loading import check_weight_files, load_pretrained_model  # noqa: E402
from epvlm.processing import build_offline_processor  # noqa: E402
from epvlm.tiny import tiny_config  # noqa: E402

# typed loosely: from_pretrained(output_loading_info=True) returns a pair its hints don't say
STOCK: Any = Qwen2VLForConditionalGeneration


@pytest.fixture(scope="module")
def proc():
    return build_offline_processor(["what colour is the object", "red blue green"])


def _save(path: Path, proc, *, tie: bool = False, dtype: Any = None, shard: str = "50GB"):
    torch.manual_seed(9)
    stock = STOCK(tiny_config(proc, tie_word_embeddings=tie))
    if dtype is not None:
        stock = stock.to(dtype)
    stock.save_pretrained(path, max_shard_size=shard)
    return stock


def _assert_loads_as_stock(path: Path, caplog, dtype: Any = torch.float32):
    """Our model equals the stock class's from the same folder, every tensor and its dtype; a
    warning or a logged message (transformers' missing-keys report) is a failure."""
    caplog.clear()
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = load_pretrained_model(path, dtype=dtype)
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    stock, info = STOCK.from_pretrained(str(path), output_loading_info=True, dtype=dtype)
    assert not any(info.values()), info
    a, b = ours.state_dict(), stock.state_dict()
    assert list(a) == list(b)
    for name, tensor in b.items():
        assert a[name].dtype == tensor.dtype and torch.equal(a[name], tensor), name
    return ours


def _set_config(path: Path, **items: Any) -> None:
    cfg = json.loads((path / "config.json").read_text())
    cfg.update(items)
    (path / "config.json").write_text(json.dumps(cfg))


# ------------------------------------------------------------------------ quantization_config


@pytest.mark.parametrize("value", [None, {}], ids=["null", "empty"])
def test_an_empty_or_null_quantization_config_is_no_quantization(tmp_path, proc, caplog, value):
    """``"quantization_config": {}`` was refused as a quantized checkpoint, though transformers
    takes an empty one as none and loads the plain weights."""
    original = _save(tmp_path, proc)
    _set_config(tmp_path, quantization_config=value)
    model = _assert_loads_as_stock(tmp_path, caplog)
    for name, tensor in original.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_a_quantization_config_under_text_config_is_named_past_an_empty_one(tmp_path, proc):
    """transformers looks in text_config when the top-level one is empty; the refusal named no
    quant_method (it took the empty top-level one)."""
    _save(tmp_path, proc)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["quantization_config"] = {}
    cfg["text_config"]["quantization_config"] = {"quant_method": "awq", "bits": 4}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError) as err:
        load_pretrained_model(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "is quantized (quant_method 'awq'" in msg
    assert "use the checkpoint it was quantized from" in msg


# ------------------------------------------------------------------------------- .bin weights


def _single_bin(path: Path, state: dict[str, Any], **save_kwargs: Any) -> None:
    torch.save(state, path / "pytorch_model.bin", **save_kwargs)
    (path / "model.safetensors").unlink()


def test_a_bfloat16_bin_loads_in_the_dtype_asked_as_safetensors_do(tmp_path, proc, caplog):
    original = _save(tmp_path, proc, dtype=torch.bfloat16)
    _single_bin(tmp_path, load_file(tmp_path / "model.safetensors"))
    for dtype in (torch.float32, torch.bfloat16):
        model = _assert_loads_as_stock(tmp_path, caplog, dtype=dtype)
        for name, tensor in original.state_dict().items():
            assert model.state_dict()[name].dtype == dtype
            assert torch.equal(model.state_dict()[name], tensor.to(dtype)), name


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_a_bin_of_tied_weights_sharing_one_storage_loads(
    tmp_path, proc, caplog, monkeypatch, zipped
):
    """torch.save(model.state_dict()) keeps lm_head and the embedding as one storage; torch's
    zip format is memory-mapped as transformers maps it, the pre-1.6 format (which cannot be)
    is read whole."""
    original = _save(tmp_path, proc, tie=True)
    state = original.state_dict()
    assert (
        state["lm_head.weight"].data_ptr()
        == state["model.language_model.embed_tokens.weight"].data_ptr()
    )
    _single_bin(tmp_path, state, _use_new_zipfile_serialization=zipped)

    mmaps: list[bool] = []
    load = torch.load

    def spy(*args: Any, **kwargs: Any):
        mmaps.append(bool(kwargs.get("mmap")))
        return load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    check_weight_files(tmp_path)
    assert mmaps == [zipped]
    monkeypatch.undo()
    model = _assert_loads_as_stock(tmp_path, caplog)
    for name, tensor in state.items():
        assert torch.equal(model.state_dict()[name], tensor), name
    assert model.lm_head.weight is model.model.language_model.embed_tokens.weight


def _sharded_bin(path: Path, proc):
    original = _save(path, proc, shard="60KB")
    index = json.loads((path / "model.safetensors.index.json").read_text())
    renamed = {}
    for shard in sorted(set(index["weight_map"].values())):
        renamed[shard] = shard.replace("model-", "pytorch_model-").replace(".safetensors", ".bin")
        torch.save(load_file(path / shard), path / renamed[shard])
        (path / shard).unlink()
    index["weight_map"] = {k: renamed[v] for k, v in index["weight_map"].items()}
    (path / "model.safetensors.index.json").unlink()
    (path / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    return original, index["weight_map"]


def test_a_sharded_bin_whose_index_and_shards_disagree(tmp_path, proc, caplog):
    original, weight_map = _sharded_bin(tmp_path, proc)
    key = "model.norm.weight"
    listed = tmp_path / weight_map[key]
    other = tmp_path / next(f for f in sorted(set(weight_map.values())) if f != weight_map[key])

    # in the index, in no shard: missing, named as the files spell it
    shard = torch.load(listed, weights_only=True)
    tensor = shard.pop(key)
    torch.save(shard, listed)
    with pytest.raises(CheckpointError, match=r"1 missing tensor: model\.norm\.weight$"):
        load_pretrained_model(tmp_path)

    # in another shard than the index says: transformers reads every shard's tensors
    moved = torch.load(other, weights_only=True)
    moved[key] = tensor
    torch.save(moved, other)
    model = _assert_loads_as_stock(tmp_path, caplog)
    for name, value in original.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name

    # in a shard, in no model: unexpected
    moved["visual.extra.weight"] = torch.zeros(2)
    torch.save(moved, other)
    with pytest.raises(CheckpointError, match=r"1 unexpected tensor: visual\.extra\.weight$"):
        load_pretrained_model(tmp_path)


@pytest.mark.parametrize("sharded", [False, True], ids=["single", "index"])
def test_safetensors_win_over_a_stray_bin_as_in_transformers(tmp_path, proc, caplog, sharded):
    original = _save(tmp_path, proc, shard="60KB" if sharded else "50GB")
    assert (tmp_path / "model.safetensors.index.json").is_file() == sharded
    torch.save(
        {k: torch.zeros_like(v) for k, v in original.state_dict().items()},
        tmp_path / "pytorch_model.bin",
    )
    model = _assert_loads_as_stock(tmp_path, caplog)
    for name, tensor in original.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
