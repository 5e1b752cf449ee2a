"""A second look at 386fc62 / 6c433d2 (epvlm): greedy decoding whatever search the
checkpoint's generation_config.json picks, and a results title for ``--dataset
DIR/dataset.json``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import build_eval_dataset

pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_epvlm_review3 import hub_checkpoint

from epvlm.evaluate import dataset_label, evaluate_dataset


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("second_look6b")
    build_eval_dataset(root, 4)
    model = hub_checkpoint(root / "model", "qwen2_5_vl", tie=False, template="chat_template.json")
    return {"root": root, "ds": root / "ds", "model": model}


def _answers(model: Path, ds: Path) -> list[str]:
    # a batch of four: assisted decoding refused any batch over one
    samples = evaluate_dataset(
        model, ds, selectors=("random",), keeps=(0.5,), progress=False, batch_size=4
    )["samples"]
    return [s["raw_output"] for s in samples]


def test_settings_that_pick_another_search_leave_answers_greedy(setup, tmp_path):
    """With num_beams 1 and do_sample off, generation_config.json's penalty_alpha (top_k > 1),
    dola_layers, force_words_ids, prompt_lookup_num_tokens, assistant_early_exit or use_mtp
    still picked contrastive, DoLa, constrained or assisted decoding: each raised ValueError
    from inside generate() ('requires trust_remote_code=True', 'assisted generate is only
    supported for batch_size = 1', 'Could not find num_mtp_layers')."""
    greedy = _answers(setup["model"], setup["ds"])
    for name, setting in [
        ("contrastive", {"penalty_alpha": 0.6, "top_k": 4}),
        ("dola", {"dola_layers": "high"}),
        ("constrained", {"force_words_ids": [[5]]}),
        ("lookup", {"prompt_lookup_num_tokens": 3}),
        ("early_exit", {"assistant_early_exit": 1}),
        ("mtp", {"use_mtp": True}),
    ]:
        model = tmp_path / name
        shutil.copytree(setup["model"], model)
        path = model / "generation_config.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | setting))
        assert _answers(model, setup["ds"]) == greedy, name


def test_a_dataset_named_by_its_dataset_json_is_titled_by_its_folder(tmp_path):
    """``epvlm eval --dataset demo-out/data/dataset.json`` (accepted as the folder, as
    everywhere in the toolkit) titled its results '... (folder data/dataset.json)'."""
    folder = tmp_path / "demo-out" / "data"
    folder.mkdir(parents=True)
    (folder / "dataset.json").write_text("{}")
    manifest = {"name": "shapes-demo"}
    expected = dataset_label(manifest, folder, "test")
    assert expected == "shapes-demo/test (folder demo-out/data)"
    assert dataset_label(manifest, folder / "dataset.json", "test") == expected
    named = tmp_path / "shapes-demo"
    named.mkdir()
    (named / "dataset.json").write_text("{}")
    assert dataset_label(manifest, named / "dataset.json", "val") == "shapes-demo/val"
