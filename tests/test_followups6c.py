"""Follow-ups: a model folder whose tokenizer is vocab.json + merges.txt without
tokenizer_config.json is refused naming that file; `--upsample` counts its steps by the log
curve the simulator runs (v2e's lin-log too)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from eventsim.simulator.core import log_curve_np
from eventsim.simulator.params import DVSParams
from eventsim.simulator.upsample import Upsampler


def test_vocab_and_merges_without_tokenizer_config_name_the_missing_file(tmp_path: Path):
    """Qwen's special tokens (<|image_pad|>, ...) are added tokens listed in
    tokenizer_config.json, not in vocab.json; the refusal said config.json's image_token_id
    was unknown in the tokenizer."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tokenizers.pre_tokenizers import ByteLevel

    from epvlm.errors import ModelDirError
    from epvlm.processing import load_processor

    vocab = {c: i for i, c in enumerate(sorted(ByteLevel.alphabet()))}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    preprocessor = {"min_pixels": 56 * 56, "max_pixels": 28 * 28 * 1280, "patch_size": 14,
                    "temporal_patch_size": 2, "merge_size": 2,
                    "image_processor_type": "Qwen2VLImageProcessor",
                    "processor_class": "Qwen2VLProcessor"}  # fmt: skip
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    config = {"model_type": "qwen2_vl", "image_token_id": 268, "vision_start_token_id": 265}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelDirError) as info:
        load_processor(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "vocab.json + merges.txt but no tokenizer_config.json" in message
    assert "added special tokens" in message and "<|image_pad|>" in message


@pytest.mark.parametrize("mode", ["linear", "flow"])
def test_upsampling_under_linlog_keeps_dark_steps_within_max_log_change(mode):
    """20 -> 10 DN is a lin-log change of 1.50 but an ln(I/255 + 1e-3) change of 0.68: the
    ln count (2 steps) left 0.75 per step against max_log_change 0.4; now 4 steps."""
    params = DVSParams(log_curve="linlog", max_log_change=0.4, max_upsample_factor=50)
    a = np.full((32, 32), 20, np.uint8)
    b = np.full((32, 32), 10, np.uint8)
    up = Upsampler(mode, params)
    assert up.steps_for(a, b)[0] == 4
    frames = [a.astype(np.float64)]
    frames += [f for f, _ in up.between(a, b, 0, 1000)]
    frames.append(b.astype(np.float64))
    logs = [log_curve_np(f, params) for f in frames]
    steps = [float(np.abs(y - x).max()) for x, y in itertools.pairwise(logs)]
    assert len(steps) == 4 and max(steps) <= 0.4
    # the ln curve's count is unchanged
    assert Upsampler(mode, DVSParams(max_log_change=0.4)).steps_for(a, b)[0] == 2
