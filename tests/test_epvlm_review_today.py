"""Second look at the epvlm changes of one day (checkpoint checks, image reading, devices):
cases where a change refused or altered what was right before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from epvlm.loading import check_weight_files, checkpoint_keys, load_pretrained_model  # noqa: E402
from epvlm.tiny import save_tiny_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def single_file(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("single") / "ckpt", ["what is it"])


def _with_stale_index(single_file: Path, folder: Path, shards: str) -> Path:
    """``single_file`` plus a model.safetensors.index.json left over from a sharded save, naming
    shards that are gone (``shards="absent"``) or cut short (``"cut"``)."""
    shutil.copytree(single_file, folder)
    keys = checkpoint_keys(folder)
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    weight_map = {k: names[i % 2] for i, k in enumerate(keys)}
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 1}, "weight_map": weight_map})
    )
    if shards == "cut":
        whole = (folder / "model.safetensors").read_bytes()
        for name in names:
            (folder / name).write_bytes(whole[: len(whole) // 3])
    return folder


@pytest.mark.parametrize("shards", ["absent", "cut"])
def test_a_single_weight_file_wins_over_an_index_beside_it_as_in_transformers(
    single_file, tmp_path, shards
):
    """transformers loads model.safetensors whenever a folder has one and ignores an index
    beside it; the header check read the index first and refused such a folder (its shards
    missing or damaged) although stock transformers loads it whole."""
    from transformers import Qwen2VLForConditionalGeneration

    folder = _with_stale_index(single_file, tmp_path / "ckpt", shards)
    stock = Qwen2VLForConditionalGeneration.from_pretrained(folder).state_dict()
    check_weight_files(folder)
    ours = load_pretrained_model(folder).state_dict()
    assert ours.keys() == stock.keys()
    assert all(torch.equal(ours[k], stock[k]) for k in ours)
    # the names an error message quotes are those of the file that is read
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        assert checkpoint_keys(folder) == sorted(f.keys())
