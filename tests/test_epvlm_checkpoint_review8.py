"""Review of what `load_processor` and `epvlm run` say about two wrong model folders: one whose
only tokenizer file is tokenizer_config.json (transformers built an empty Qwen2Tokenizer from it
and the refusal came later, calling config.json's image_token_id unknown), and a Hugging Face
cache folder (``models--ORG--NAME``, which holds ``snapshots/REV/``) given as the model, where
the refusal said 'no config.json' without naming the snapshot folder to pass."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from epvlm.cli import main
from epvlm.demo.pipeline import DEFAULT_MODEL
from epvlm.errors import ModelDirError
from epvlm.flops import load_dims
from epvlm.loading import check_model_type
from epvlm.processing import load_processor

TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt")


def _image(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "frame.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (56, 56, 3), dtype=np.uint8)).save(path)
    return path


def _run(model: Path, image: Path) -> list[str]:
    return ["run", "--model", str(model), "--image", str(image), "--question", "What is it?",
            "--selector", "dense"]  # fmt: skip


# ------------------------------------------------------------- tokenizer_config.json alone


def _without_tokenizer_json(model: Path, tokenizer_class: str) -> Path:
    shutil.copytree(DEFAULT_MODEL, model)
    (model / "tokenizer.json").unlink()
    config = json.loads((model / "tokenizer_config.json").read_text())
    if tokenizer_class == "Qwen2Tokenizer":
        # as the Hub's Qwen2-VL folders say: from this transformers built a tokenizer with no
        # vocabulary ('hello' encoded to []) and loading went on
        config.pop("backend", None)
    config["tokenizer_class"] = tokenizer_class
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    return model


@pytest.mark.parametrize("tokenizer_class", ["Qwen2Tokenizer", "TokenizersBackend"])
@pytest.mark.parametrize("extra", [(), ("vocab.json",), ("merges.txt",)])
def test_a_folder_without_tokenizer_json_or_vocab_and_merges_is_refused_naming_them(
    tmp_path, extra, tokenizer_class
):
    model = _without_tokenizer_json(tmp_path / "model", tokenizer_class)
    for name in extra:
        (model / name).write_text("{}" if name.endswith(".json") else "#version: 0.2\n")
    with pytest.raises(ModelDirError) as info:
        load_processor(model)
    message = str(info.value)
    assert "\n" not in message
    assert repr(str(model)) in message
    assert "has no tokenizer" in message
    assert "tokenizer.json, or vocab.json and merges.txt" in message
    assert "image_token_id" not in message


def test_the_cli_refuses_tokenizer_config_alone_before_reading_the_weights(tmp_path, capsys):
    model = _without_tokenizer_json(tmp_path / "model", "Qwen2Tokenizer")
    assert main(_run(model, _image(tmp_path))) != 0
    err = capsys.readouterr().err
    assert "tokenizer.json, or vocab.json and merges.txt" in err
    assert "unknown in the tokenizer" not in err


def test_either_tokenizer_form_is_still_accepted(tmp_path):
    """tokenizer.json alone (the demo model) loads; the vocab.json + merges.txt form is covered
    by test_epvlm_checkpoints6's tokenizer test."""
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, model)
    assert not any((model / n).exists() for n in TOKENIZER_FILES[1:])
    assert load_processor(model).tokenizer("hello")["input_ids"] != []


# ------------------------------------------------------------- a Hugging Face cache folder


def _cache(tmp_path: Path, *revisions: str, with_config: bool = True) -> Path:
    root = tmp_path / "hub" / "models--Qwen--Qwen2-VL-2B-Instruct"
    for rev in revisions:
        shutil.copytree(DEFAULT_MODEL, root / "snapshots" / rev)
        if not with_config:
            (root / "snapshots" / rev / "config.json").unlink()
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(revisions[-1] if revisions else "")
    (root / "blobs").mkdir()
    return root


def _refusals(root: Path) -> list[str]:
    messages = []
    for check in (load_processor, check_model_type, load_dims):
        with pytest.raises(ModelDirError) as info:
            check(root)
        messages.append(str(info.value))
    return messages


def test_a_cache_folder_names_its_one_snapshot_to_pass(tmp_path, capsys):
    root = _cache(tmp_path, "0123abcd")
    snapshot = root / "snapshots" / "0123abcd"
    for message in _refusals(root):
        assert "\n" not in message
        assert "no config.json" in message
        assert "Hugging Face cache folder of Qwen/Qwen2-VL-2B-Instruct" in message
        assert f"pass {str(snapshot)!r} instead" in message
    # the snapshot named is one that loads
    assert load_processor(snapshot).tokenizer("hello")["input_ids"] != []
    assert main(_run(root, _image(tmp_path))) != 0
    assert f"pass {str(snapshot)!r} instead" in capsys.readouterr().err


def test_the_snapshots_folder_itself_names_the_snapshot(tmp_path):
    root = _cache(tmp_path, "0123abcd")
    for message in _refusals(root / "snapshots"):
        assert f"pass {str(root / 'snapshots' / '0123abcd')!r} instead" in message


def test_a_relative_cache_folder_is_named_as_given(tmp_path, monkeypatch):
    _cache(tmp_path, "0123abcd")
    monkeypatch.chdir(tmp_path / "hub")
    for message in _refusals(Path("models--Qwen--Qwen2-VL-2B-Instruct")):
        assert "pass 'models--Qwen--Qwen2-VL-2B-Instruct/snapshots/0123abcd' instead" in message


def test_a_cache_folder_with_several_snapshots_lists_them(tmp_path):
    root = _cache(tmp_path, "aaaa1111", "bbbb2222")
    (root / "snapshots" / "cccc3333").mkdir()  # no config.json: not offered
    for message in _refusals(root):
        assert "one of its snapshots" in message
        assert repr(str(root / "snapshots" / "aaaa1111")) in message
        assert repr(str(root / "snapshots" / "bbbb2222")) + " (refs/main)" in message
        assert "cccc3333" not in message


def test_a_cache_folder_whose_snapshots_lack_config_json_says_so(tmp_path):
    root = _cache(tmp_path, "0123abcd", with_config=False)
    for message in _refusals(root):
        assert "Hugging Face cache folder of Qwen/Qwen2-VL-2B-Instruct" in message
        assert "no snapshot holding a config.json" in message


def test_an_ordinary_folder_without_config_json_gets_no_cache_hint(tmp_path):
    (tmp_path / "models").mkdir()
    for message in _refusals(tmp_path / "models"):
        assert "no config.json" in message and "Hugging Face" not in message
