"""A processor folder that saves its pixel budget as ``size: {min_pixels, max_pixels}``
(transformers 4.45-4.48, some fine-tune tools) is read by `epvlm.processing.load_processor`,
but `epvlm.flops.load_dims` fell back to the class default budget for it (review 7)."""

from __future__ import annotations

import json

import pytest

# writes a Hub-layout Qwen2.5-VL-3B config.json (and checks the budget's current form)
from test_epvlm_flops import test_hub_style_qwen2_5_config_matches_preset as _write_hub_config

from epvlm.flops import PRESETS, load_dims


def test_the_old_size_form_of_the_pixel_budget_is_read(tmp_path):
    _write_hub_config(tmp_path)
    processor = {
        "size": {"min_pixels": 3136, "max_pixels": 12845056},
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_processor_type": "Qwen2VLImageProcessor",
    }
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(processor))
    assert load_dims(tmp_path) == PRESETS["qwen2.5-vl-3b"]
    processor["size"] = {"min_pixels": 3136, "max_pixels": 28 * 28 * 256}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(processor))
    assert load_dims(tmp_path).max_pixels == 28 * 28 * 256


def test_a_budget_whose_min_is_above_its_max_is_refused(tmp_path):
    """load_processor refuses min_pixels > max_pixels; load_dims quoted a cost for it."""
    from eventsim.errors import ParameterError

    _write_hub_config(tmp_path)
    processor = {"min_pixels": 50176, "max_pixels": 12544, "patch_size": 14, "merge_size": 2}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(processor))
    with pytest.raises(ParameterError, match="min_pixels 50176 is above its max_pixels 12544"):
        load_dims(tmp_path)
