"""Where a processor folder holds its image processor settings twice, transformers reads
processor_config.json's nested ``image_processor`` before preprocessor_config.json (and, within
one, top-level min_pixels / max_pixels before size's edges); `epvlm.flops.load_dims` read
preprocessor_config.json first, and load_processor's messages named preprocessor_config.json
even where the settings were in processor_config.json (last look 7)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from epvlm.errors import ModelDirError
from epvlm.flops import image_token_grid, load_dims
from epvlm.processing import grid_for_size, load_processor

TINY = Path(__file__).resolve().parents[1] / "epvlm" / "assets" / "shapes-demo-tiny"
SMALL = {"shortest_edge": 28 * 28 * 16, "longest_edge": 28 * 28 * 64}
DEFAULT = {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 256}


def _tiny_copy(tmp_path: Path, **image_processor) -> Path:
    """The shipped tiny model with its nested image processor settings updated."""
    folder = tmp_path / "model"
    shutil.copytree(TINY, folder)
    config = json.loads((folder / "processor_config.json").read_text())
    config["image_processor"].update(image_processor)
    (folder / "processor_config.json").write_text(json.dumps(config))
    return folder


def _processor_grid(proc, height: int, width: int) -> tuple[int, int]:
    from PIL import Image

    image = Image.fromarray(np.zeros((height, width, 3), np.uint8))
    thw = proc.image_processor(images=[image], return_tensors="np")["image_grid_thw"][0]
    merge = proc.image_processor.merge_size
    return int(thw[1]) // merge, int(thw[2]) // merge


def test_flops_reads_the_settings_transformers_reads_where_both_files_are(tmp_path):
    folder = _tiny_copy(tmp_path, size=SMALL)
    # an older preprocessor_config.json left beside it (a folder saved anew over the base
    # model's files), with another budget: transformers does not read it
    older = {
        "image_processor_type": "Qwen2VLImageProcessor",
        "min_pixels": DEFAULT["shortest_edge"],
        "max_pixels": DEFAULT["longest_edge"],
        "size": DEFAULT,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(older))
    proc = load_processor(folder)
    dims = load_dims(folder)
    assert (dims.min_pixels, dims.max_pixels) == (SMALL["shortest_edge"], SMALL["longest_edge"])
    grid = _processor_grid(proc, 600, 800)
    assert grid_for_size(proc, 600, 800) == grid == image_token_grid(dims, 600, 800)


def test_top_level_budget_wins_over_disagreeing_size_edges_everywhere(tmp_path):
    folder = _tiny_copy(
        tmp_path, min_pixels=SMALL["shortest_edge"], max_pixels=SMALL["longest_edge"], size=DEFAULT
    )
    proc = load_processor(folder)
    dims = load_dims(folder)
    assert dict(proc.image_processor.size) == SMALL
    assert (dims.min_pixels, dims.max_pixels) == (SMALL["shortest_edge"], SMALL["longest_edge"])
    for height, width in ((600, 800), (30, 40), (1500, 2000)):
        grid = _processor_grid(proc, height, width)
        assert grid_for_size(proc, height, width) == grid == image_token_grid(dims, height, width)


def test_inverted_budget_message_names_the_file_that_holds_it(tmp_path):
    folder = _tiny_copy(
        tmp_path, size={"shortest_edge": SMALL["longest_edge"], "longest_edge": 3136}
    )
    with pytest.raises(ModelDirError, match=r"processor_config\.json") as info:
        load_processor(folder)
    assert "preprocessor_config.json" not in str(info.value)


def test_legacy_image_processor_name_is_named_in_processor_config_json(tmp_path):
    folder = _tiny_copy(tmp_path, image_processor_type="Qwen2_5_VLImageProcessor")
    with pytest.raises(ModelDirError, match=r"processor_config\.json' has image_processor_type"):
        load_processor(folder)


def test_shipped_tiny_model_keeps_its_processor_settings():
    saved = json.loads((TINY / "processor_config.json").read_text())["image_processor"]
    proc = load_processor(TINY)
    assert dict(proc.image_processor.size) == saved["size"]
    dims = load_dims(TINY)
    assert (dims.min_pixels, dims.max_pixels) == (
        saved["size"]["shortest_edge"],
        saved["size"]["longest_edge"],
    )
