"""Loading real-checkpoint folders as users have them: a config.json in the flat layout
transformers 4.x wrote (tied embeddings, no lm_head tensor), preprocessor_config.json files
from older saves (size as {min_pixels, max_pixels}, the legacy Qwen2.5-VL image processor
name, an inverted pixel budget), and a model folder that is missing or a file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_epvlm_review3 import STOCK, hub_checkpoint  # noqa: E402

from epvlm.errors import ModelDirError  # noqa: E402
from epvlm.loading import load_pretrained_model, read_model_type  # noqa: E402
from epvlm.processing import encode_batch, grid_for_size, load_processor  # noqa: E402


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("loading-review7")
    return {
        model_type: hub_checkpoint(
            root / model_type,
            model_type,
            tie=True,
            template="chat_template.json",
            min_pixels=3136,
            max_pixels=50176,
        )
        for model_type in STOCK
    }


def _flatten_config(folder: Path) -> None:
    """config.json as transformers 4.x wrote it for the Hub's Qwen2-VL-2B / Qwen2.5-VL-3B:
    text settings at the top level, rope_scaling with type mrope."""
    cfg = json.loads((folder / "config.json").read_text())
    text = cfg.pop("text_config")
    rope = text.pop("rope_parameters")
    flat = {**text, **cfg, "rope_theta": rope["rope_theta"], "transformers_version": "4.41.2"}
    flat["rope_scaling"] = {"type": "mrope", "mrope_section": rope["mrope_section"]}
    (folder / "config.json").write_text(json.dumps(flat))


@pytest.mark.parametrize("model_type", sorted(STOCK))
def test_flat_tied_config_loads_every_tensor_as_stock(folders, model_type, tmp_path):
    folder = tmp_path / model_type
    shutil.copytree(folders[model_type], folder)
    _flatten_config(folder)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert "lm_head.weight" not in index["weight_map"]
    model = load_pretrained_model(folder)
    stock = STOCK[model_type].from_pretrained(folder, dtype=torch.float32)
    ours, theirs = model.state_dict(), stock.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def _preprocessor(folder: Path, tmp_path: Path, **changes) -> Path:
    out = tmp_path / "proc"
    shutil.copytree(folder, out)
    cfg = json.loads((out / "preprocessor_config.json").read_text())
    for key, value in changes.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    (out / "preprocessor_config.json").write_text(json.dumps(cfg))
    return out


@pytest.mark.parametrize("model_type", sorted(STOCK))
def test_size_saved_as_min_max_pixels_is_the_budget_grid_and_processor_use(
    folders, model_type, tmp_path
):
    # transformers 4.45-4.48 saved size as {min_pixels, max_pixels}; 5.x loads it, then its
    # resize failed on every image while grid_for_size planned for a default budget
    folder = _preprocessor(
        folders[model_type],
        tmp_path,
        min_pixels=None,
        max_pixels=None,
        size={"min_pixels": 3136, "max_pixels": 50176},
    )
    proc = load_processor(folder)
    for height, width in ((3000, 4000), (10, 10), (500, 333)):
        rows, cols = grid_for_size(proc, height, width)
        batch = encode_batch(
            proc, [np.zeros((height, width, 3), np.uint8)], ["what?"], [["a", "b"]]
        )
        assert batch["image_grid_thw"].tolist() == [[1, 2 * rows, 2 * cols]]
        assert 3136 <= rows * cols * 28 * 28 <= 50176 or (height, width) == (10, 10)


def test_legacy_qwen2_5_vl_image_processor_name_is_named(folders, tmp_path):
    folder = _preprocessor(
        folders["qwen2_5_vl"], tmp_path, image_processor_type="Qwen2_5_VLImageProcessor"
    )
    with pytest.raises(ModelDirError) as err:
        load_processor(folder)
    message = str(err.value)
    assert "'Qwen2_5_VLImageProcessor'" in message and "'Qwen2VLImageProcessor'" in message
    assert "preprocessor_config.json" in message and "\n" not in message


def test_inverted_pixel_budget_is_refused_at_load(folders, tmp_path):
    folder = _preprocessor(folders["qwen2_vl"], tmp_path, min_pixels=60000, max_pixels=50176)
    with pytest.raises(ModelDirError, match=r"min_pixels=60000, max_pixels=50176"):
        load_processor(folder)


def test_missing_or_file_model_folder_says_so(tmp_path):
    with pytest.raises(ModelDirError, match="does not exist"):
        load_pretrained_model(tmp_path / "missing")
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(ModelDirError, match="is a file"):
        read_model_type(tmp_path / "weights.safetensors")
