"""Final review of round 12's EP-VLM changes (helper 309).

- `epvlm.processing.load_processor` (and so `epvlm.evaluate.load_model`, which reads the
  processor first) checked the folder with words of its own: a hub id was said not to exist,
  where `load_pretrained_model` and the command line say it is a hub id and what to pass.
- ``epvlm demo --model`` checked only that the folder exists: an empty folder, a damaged
  weight file or a built dataset was refused after torch and transformers had loaded (seconds),
  where eval and run refuse them at once; a dataset is now said to be one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from epvlm.errors import ModelDirError

TINY = Path(__file__).resolve().parents[1] / "epvlm" / "assets" / "shapes-demo-tiny"
HUB_ID = "Qwen/Qwen2-VL-2B-Instruct"


def test_load_processor_and_load_model_name_a_hub_id(tmp_path, monkeypatch):
    from epvlm.evaluate import load_model
    from epvlm.processing import load_processor

    monkeypatch.chdir(tmp_path)
    for load in (load_processor, load_model):
        with pytest.raises(ModelDirError, match="looks like a Hugging Face hub id") as info:
            load(HUB_ID)
        assert "epvlm never downloads models" in str(info.value)
    # a path that is no hub id keeps its words
    with pytest.raises(ModelDirError, match=r"'nothere' does not exist; expected the folder"):
        load_processor("nothere")


_DEMO = """
import json, sys
from epvlm.cli import main
rc = main(["demo", "--model", sys.argv[1], "-o", sys.argv[2], "--no-progress"])
print(json.dumps([rc, "torch" in sys.modules, "transformers" in sys.modules]))
"""


def _demo(model: Path, out: Path) -> tuple[int, bool, bool, str]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_DEMO), str(model), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    rc, torch_loaded, transformers_loaded = json.loads(done.stdout.splitlines()[-1])
    return rc, torch_loaded, transformers_loaded, done.stderr


def test_demo_refuses_a_bad_model_folder_before_torch(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    damaged = tmp_path / "damaged"
    shutil.copytree(TINY, damaged)
    (damaged / "model.safetensors").write_bytes(b"not a safetensors file")
    dataset = tmp_path / "built"
    dataset.mkdir()
    (dataset / "dataset.json").write_text("{}")
    expected = {
        empty: "is not a model checkpoint folder",
        damaged: "model.safetensors' is damaged or incomplete",
        dataset: "it holds dataset.json, a dataset built by 'eventsim build': pass it as "
        "--dataset, and a checkpoint as --model",
    }
    for model, words in expected.items():
        out = tmp_path / f"out-{model.name}"
        rc, torch_loaded, transformers_loaded, err = _demo(model, out)
        assert rc == 1, err
        assert words in err, err
        assert not torch_loaded and not transformers_loaded, err
        assert not out.exists()
