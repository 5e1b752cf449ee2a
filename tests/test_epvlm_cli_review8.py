"""Review of `epvlm run`, `eval` and `demo` given a checkpoint folder of another model family:
a LLaVA download (CLIP image processor) or a text-only Qwen2 (no image processor). The model
type in config.json is what is wrong there, and the error says so, before the processor's
files are read (which failed on the image processor's settings, naming a pixel budget or a
missing preprocessor_config.json). Input errors of the command (image, dataset) still come
first, as before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import build_eval_dataset
from test_epvlm_review3 import hub_checkpoint

from epvlm.cli import main
from epvlm.errors import CheckpointError
from epvlm.loading import check_model_type, read_model_type


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("review8-hub")
    return hub_checkpoint(root / "qwen2-vl", "qwen2_vl", tie=False, template="tokenizer_config")


def _llava(hub_dir: Path, out: Path) -> Path:
    """A LLaVA-1.5 folder as the Hub ships it, in the parts that matter here."""
    shutil.copytree(hub_dir, out)
    config = {
        "model_type": "llava",
        "architectures": ["LlavaForConditionalGeneration"],
        "text_config": {"model_type": "llama"},
        "vision_config": {"model_type": "clip_vision_model"},
    }
    (out / "config.json").write_text(json.dumps(config))
    preprocessor = {
        "image_processor_type": "CLIPImageProcessor",
        "crop_size": {"height": 336, "width": 336},
        "size": {"shortest_edge": 336},
        "processor_class": "LlavaProcessor",
    }
    (out / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return out


def _text_only_qwen2(hub_dir: Path, out: Path) -> Path:
    """A Qwen2 language model's folder: no image processor."""
    shutil.copytree(hub_dir, out)
    config = {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 64}
    (out / "config.json").write_text(json.dumps(config))
    (out / "preprocessor_config.json").unlink()
    return out


def _image(path: Path) -> Path:
    import cv2

    cv2.imwrite(str(path), np.full((56, 56, 3), 120, np.uint8))
    return path


@pytest.mark.parametrize(("make", "model_type"), [(_llava, "llava"), (_text_only_qwen2, "qwen2")])
def test_run_names_the_model_type_of_another_family(hub_dir, tmp_path, capsys, make, model_type):
    model = make(hub_dir, tmp_path / model_type)
    argv = ["run", "--model", str(model), "--image", str(_image(tmp_path / "a.png"))]
    rc = main([*argv, "--question", "what?", "--selector", "dense", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"model_type {model_type!r} is not supported" in err
    assert str(model / "config.json") in err
    assert "qwen2_vl, qwen2_5_vl" in err
    assert "pixel budget" not in err and "preprocessor_config" not in err


def test_eval_names_the_model_type_of_another_family(hub_dir, tmp_path, capsys):
    model = _llava(hub_dir, tmp_path / "llava")
    dataset = build_eval_dataset(tmp_path, 2)
    out = tmp_path / "out"
    argv = ["eval", "--model", str(model), "--dataset", str(dataset), "-o", str(out)]
    rc = main([*argv, "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "model_type 'llava' is not supported" in err
    assert str(model / "config.json") in err
    assert "pixel budget" not in err
    assert not (out / "results.json").exists()


def test_demo_names_the_model_type_of_another_family(hub_dir, tmp_path, capsys):
    model = _llava(hub_dir, tmp_path / "llava")
    out = tmp_path / "demo"
    rc = main(["demo", "-o", str(out), "--model", str(model), "--limit", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "model_type 'llava' is not supported" in err
    assert str(model / "config.json") in err
    assert not out.exists()


def test_model_type_of_the_wrong_json_type_is_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": 3}))
    with pytest.raises(CheckpointError, match=r"model_type 3 \(a number\); expected one of"):
        read_model_type(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps([]))
    with pytest.raises(CheckpointError, match=r"holds a JSON array, not an object"):
        read_model_type(tmp_path)


def test_check_model_type(hub_dir, tmp_path):
    assert check_model_type(hub_dir) == "qwen2_vl"
    model = _text_only_qwen2(hub_dir, tmp_path / "qwen2")
    with pytest.raises(CheckpointError, match=r"'qwen2' is not supported.*config\.json"):
        check_model_type(model)
