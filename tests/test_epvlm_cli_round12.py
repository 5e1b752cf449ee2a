"""Round 12: an EP-VLM researcher's walk through the epvlm command line and docs.

- `epvlm flops` named the checkpoint --config where run and eval name it --model: `flops
  --model DIR` was 'unrecognized arguments'. --model is now the same option.
- flops costed a config.json without model_type as Qwen2-VL's, where run and eval refuse it;
  it now refuses it in their words (one shared check, `epvlm.loading.config_model_type`).
- eval refused an empty model folder, one without weights, a damaged weight file, a deleted or
  damaged dataset shard and an edited samples.jsonl only after importing torch (seconds), and
  run an empty model folder: all are now refused before torch loads, the weight files checked
  once (the load does not read them again).
- eval's --keep '0.5,,0.25' dropped the empty entry silently; --keep 1 ran the selectors as
  copies of dense unsaid; run's --choices took one option; --model and --dataset swapped were
  not said to be; run --json did not name its model and inputs.
- The README had no example of the EP-VLM Python API; the model card imported encode_batch
  without using it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from epvlm.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "epvlm" / "assets" / "shapes-demo-tiny"


def _error(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


# ------------------------------------------------------------------------- 1, 2. epvlm flops


def test_flops_takes_model_as_run_and_eval_do(capsys):
    assert main(["flops", "--model", str(TINY), "--json"]) == 0
    by_model = json.loads(capsys.readouterr().out)
    assert main(["flops", "--config", str(TINY), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == by_model
    assert by_model["config"] == str(TINY) and by_model["total_tokens"] == 256
    # its config.json names the checkpoint as well
    assert main(["flops", "--model", str(TINY / "config.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["flops"] == by_model["flops"]


def test_flops_refuses_a_config_without_model_type_as_eval_does(tmp_path, capsys):
    from epvlm.errors import CheckpointError
    from epvlm.flops import load_dims

    folder = tmp_path / "ckpt"
    shutil.copytree(TINY, folder)
    cfg = json.loads((folder / "config.json").read_text())
    del cfg["model_type"]
    (folder / "config.json").write_text(json.dumps(cfg))
    expected = (
        f"{str(folder / 'config.json')!r} has no model_type; expected one of qwen2_vl, qwen2_5_vl"
    )
    rc, err = _error(capsys, "flops", "--model", folder)
    assert rc == 1 and err == f"epvlm flops: error: {expected}\n"
    rc, err = _error(capsys, "eval", "--model", folder, "--dataset", tmp_path / "ds")
    assert rc == 1 and expected in err
    with pytest.raises(CheckpointError, match="the config has no model_type; expected one of"):
        load_dims(cfg)
    with pytest.raises(CheckpointError, match=r"model_type 2 \(a number\)"):
        load_dims({**cfg, "model_type": 2})


# ------------------------------------------------------------- 3. refusals before torch loads


_TORCH_FREE = """
import json, sys
from epvlm.cli import main
seen = {}
for name, argv in json.loads(sys.argv[1]):
    rc = main(argv)
    seen[name] = [rc, "torch" in sys.modules]
print(json.dumps(seen))
"""


def test_model_and_dataset_refusals_come_before_torch(tmp_path, build_shapes):
    from safetensors.numpy import save_file

    dataset = build_shapes(4)
    png = tmp_path / "frame.png"
    import cv2

    cv2.imwrite(str(png), np.zeros((56, 56, 3), np.uint8))

    def model(name: str) -> Path:
        folder = tmp_path / name
        shutil.copytree(TINY, folder)
        return folder

    empty = tmp_path / "empty"
    empty.mkdir()
    no_weights = model("no-weights")
    (no_weights / "model.safetensors").unlink()
    cut = model("cut")
    with open(cut / "model.safetensors", "r+b") as fh:
        fh.truncate(4000)
    # a sharded checkpoint that lost a shard
    sharded = model("sharded")
    (sharded / "model.safetensors").unlink()
    save_file({"a": np.zeros(2, np.float32)}, str(sharded / "model-00001-of-00002.safetensors"))
    index = {
        "weight_map": {
            "a": "model-00001-of-00002.safetensors",
            "b": "model-00002-of-00002.safetensors",
        }
    }
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))

    def data(name: str) -> Path:
        folder = tmp_path / name
        shutil.copytree(dataset, folder)
        return folder

    no_shard = data("no-shard")
    next((no_shard / "shards").iterdir()).unlink()
    bad_shard = data("bad-shard")
    shard = next((bad_shard / "shards").iterdir())
    raw = bytearray(shard.read_bytes())
    raw[-10] ^= 0xFF
    shard.write_bytes(bytes(raw))
    edited = data("edited")
    text = (edited / "samples.jsonl").read_text()
    (edited / "samples.jsonl").write_text(text.replace('"question": "', '"question": "X', 1))

    def eval_argv(model_dir: Path, ds: Path) -> list[str]:
        out = tmp_path / f"out-{model_dir.name}-{ds.name}"
        return ["eval", "--model", str(model_dir), "--dataset", str(ds), "-o", str(out)]

    run = ["run", "--image", str(png), "--question", "q", "--selector", "dense"]
    cases = [
        ("empty", eval_argv(empty, dataset)),
        ("no weights", eval_argv(no_weights, dataset)),
        ("cut weights", eval_argv(cut, dataset)),
        ("lost shard", eval_argv(sharded, dataset)),
        ("deleted dataset shard", eval_argv(TINY, no_shard)),
        ("damaged dataset shard", eval_argv(TINY, bad_shard)),
        ("edited samples.jsonl", eval_argv(TINY, edited)),
        ("run empty", [*run, "--model", str(empty)]),
        ("run cut weights", [*run, "--model", str(cut)]),
    ]
    done = subprocess.run(
        [sys.executable, "-c", _TORCH_FREE, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen == {name: [1, False] for name, _ in cases}, (seen, done.stderr)
    err = done.stderr
    for needle in (
        f"{str(empty)!r} is not a model checkpoint folder: it has no config.json",
        f"model directory {str(no_weights)!r} has neither model.safetensors",
        f"weight file {str(cut / 'model.safetensors')!r} is damaged or incomplete",
        "lacks 1 of the 2 weight files its index names: model-00002-of-00002.safetensors",
        "cannot be read (No such file or directory); see what else is damaged before "
        "rebuilding the dataset: eventsim verify ",
        "does not match the sha256 in dataset.json",
        "samples.jsonl' was changed after the build",
    ):
        assert needle in err, (needle, err)


def test_weight_files_checked_before_torch_are_not_read_again(monkeypatch):
    from epvlm import loading

    reads: list[Path] = []
    real = loading._header_keys

    def counted(path: Path) -> list[str]:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(loading, "_header_keys", counted)
    monkeypatch.setattr(loading, "_WEIGHTS_CHECKED", set())
    loading.check_weight_files(TINY, torch_free=True)
    loading.check_weight_files(TINY)
    assert reads == [TINY / "model.safetensors"]


def test_a_changed_weight_file_is_checked_again(tmp_path, monkeypatch):
    from epvlm import loading
    from epvlm.errors import CheckpointError

    monkeypatch.setattr(loading, "_WEIGHTS_CHECKED", set())
    folder = tmp_path / "ckpt"
    shutil.copytree(TINY, folder)
    loading.check_weight_files(folder, torch_free=True)
    with open(folder / "model.safetensors", "r+b") as fh:
        fh.truncate(4000)
    with pytest.raises(CheckpointError, match="damaged or incomplete"):
        loading.check_weight_files(folder)


# ------------------------------------------------------------------------- 4. small leniencies


def test_eval_keep_list_with_an_empty_entry_is_refused(capsys):
    rc, err = _error(capsys, "eval", "--model", "m", "--dataset", "d", "--keep", "0.5,,0.25")
    assert rc == 2
    assert "keep list '0.5,,0.25' has an empty entry; expected comma-separated fractions" in err
    from epvlm.cli import _keeps_arg

    # a trailing comma is still one list, as flops' and run's --keep read '0.5,'
    assert _keeps_arg("0.5,0.25,") == [0.5, 0.25]
    rc, err = _error(capsys, "eval", "--model", "m", "--dataset", "d", "--keep", ",0.5")
    assert rc == 2 and "has an empty entry" in err


def test_eval_keep_1_says_the_selectors_repeat_dense(tmp_path, capsys, monkeypatch, build_shapes):
    import epvlm.evaluate
    from eventsim.errors import ParameterError

    def stop(*args, **kwargs):
        raise ParameterError("stopped before the model")

    monkeypatch.setattr(epvlm.evaluate, "evaluate_dataset", stop)
    dataset = build_shapes(4)
    argv = ["eval", "--model", TINY, "--dataset", dataset, "-o", tmp_path / "out"]
    rc, err = _error(capsys, *argv, "--keep", "1,0.5")
    assert rc == 1
    assert (
        "epvlm eval: note: at --keep 1 every selector keeps all the tokens: the event, random, "
        "downsample rows at keep 1 repeat dense's answers" in err
    )
    rc, err = _error(capsys, *argv, "--keep", "0.5")
    assert rc == 1 and "note" not in err


def test_run_refuses_a_single_option(capsys):
    argv = ["run", "--model", TINY, "--image", "f.png", "--question", "q", "--selector", "dense"]
    for value in ("a", '["a"]'):
        rc, err = _error(capsys, *argv, "--choices", value)
        assert rc == 2 and f"{value!r} is one option; expected two or more" in err


def test_model_and_dataset_swapped_are_said_to_be(capsys, build_shapes):
    dataset = build_shapes(4)
    rc, err = _error(capsys, "eval", "--model", dataset, "--dataset", TINY)
    assert rc == 1
    assert err.rstrip().endswith(
        "it holds dataset.json, a dataset built by 'eventsim build': pass it as --dataset, and "
        "a checkpoint as --model"
    ), err
    rc, err = _error(capsys, "eval", "--model", TINY, "--dataset", TINY)
    assert rc == 1
    assert err.rstrip().endswith(
        "it holds config.json and model weights, a checkpoint: pass it as --model"
    ), err
    png = dataset / "x.png"
    run = ["run", "--image", png, "--question", "q", "--selector", "dense"]
    rc, err = _error(capsys, *run, "--model", dataset)
    assert rc == 1 and "it holds dataset.json, a dataset built by 'eventsim build'\n" in err


def test_run_json_names_its_model_and_inputs(tmp_path, capsys, monkeypatch, events_npy):
    import cv2

    monkeypatch.chdir(tmp_path)
    cv2.imwrite("frame.png", np.full((24, 32, 3), 90, np.uint8))
    shutil.copytree(TINY, "model")
    argv = ["run", "--model", "model", "--image", "frame.png", "--question", "q", "--json"]
    assert main([*argv, "--selector", "dense"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == str(tmp_path / "model")
    assert out["image"] == str(tmp_path / "frame.png")
    assert out["events"] is None
    assert main([*argv, "--events", os.path.relpath(events_npy)]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == str(events_npy.resolve())


# ------------------------------------------------------------------------------------ 5. docs


def _readme_epvlm_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    python = readme.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", python, flags=re.S) if "epvlm" in b]
    assert len(blocks) == 1, blocks
    return blocks[0]


@pytest.mark.slow
def test_the_readme_epvlm_python_example_runs_as_written(tmp_path):
    from eventsim.cli.build import main as build_main

    code = _readme_epvlm_block()
    for name in ("event_map", "select_blocks", "encode_batch", "keep_masks", "generate"):
        assert name in code, name
    for name in ("evaluate_dataset", "load_pretrained_model", "DEFAULT_MODEL"):
        assert name in code, name
    # the folder `epvlm demo -o demo-out` writes, with a few questions
    argv = ["shapes-demo", "-o", str(tmp_path / "demo-out" / "data"), "--limit", "3"]
    assert build_main([*argv, "--no-progress", "--no-preview"]) == 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"\d+ events; 32 of 64 tokens kept", lines[0]), lines
    assert lines[1].startswith("answer '"), lines
    assert [line.split()[:2] for line in lines[2:]] == [
        ["dense", "1.0"],
        ["event", "0.5"],
        ["random", "0.5"],
    ], lines


def test_the_model_cards_snippet_uses_what_it_imports():
    card = (TINY / "README.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", card, flags=re.S)
    tree = ast.parse(textwrap.dedent(code))
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert imported <= used, imported - used


def test_the_docs_say_the_demo_model_needs_choices():
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "give `epvlm run` the options with `--choices`" in readme
    assert "may answer a pattern question with a colour" in readme
    card = " ".join((TINY / "README.md").read_text(encoding="utf-8").split())
    assert "may answer a pattern question with a colour" in card
