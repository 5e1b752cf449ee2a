"""`epvlm.flops.load_dims` refuses a hub id given for a checkpoint folder in the words of
`epvlm.loading.hub_id_message`, as ``epvlm flops --config`` does (the check was in the command
only, so a Python caller got "neither a preset nor a model directory")."""

from __future__ import annotations

import pytest

from epvlm.errors import ModelDirError
from epvlm.flops import load_dims
from epvlm.loading import hub_id_message

HUB_ID = "Qwen/Qwen2-VL-2B-Instruct"


def test_load_dims_names_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)
    message = hub_id_message(HUB_ID)
    assert message is not None
    with pytest.raises(ModelDirError) as info:
        load_dims(HUB_ID)
    assert str(info.value) == message
    # a missing path that reads as no hub id keeps the preset message
    with pytest.raises(ModelDirError, match="neither a preset"):
        load_dims("qwen2-vl-99b")
