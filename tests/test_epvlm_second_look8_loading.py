"""Second look at epvlm's device and checkpoint checks.

- ``epvlm eval/run/demo --device foo`` said "device 'foo' is not a torch device; ..." and
  ``--device cuda:9`` "device 'cuda:9' ..."; the command line now names the option as typed
  (``--device foo is not a torch device; ...``), as ``eventsim simulate`` does, and a library
  caller reads ``device='foo' ...`` (an `ArgumentValueError`).
- A Hugging Face cache folder whose refs/main snapshot lacks config.json, and such a snapshot
  given itself, are said to be an unfinished download (see section 2).
- Held: the config.json forms transformers 4 and 5 save pass `check_model_type`, and a
  processor saved with ``save_pretrained`` passes `load_processor`'s tokenizer check.
"""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")

from epvlm.cli import main  # noqa: E402
from eventsim.errors import ArgumentValueError  # noqa: E402

# ------------------------------------------------------------------ 1. --device as typed


@pytest.fixture
def two_gpus(monkeypatch):
    """torch as it is on a machine with two CUDA devices (none is touched)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def _argv(command: str, tmp_path) -> list[str]:
    """``command``'s arguments up to --device; the device is checked before any of them is read."""
    model, out = str(tmp_path / "model"), str(tmp_path / "out")
    return {
        "eval": ["eval", "--model", model, "--dataset", str(tmp_path / "ds"), "-o", out],
        "run": ["run", "--model", model, "--image", str(tmp_path / "x.png"), "--question", "q"],
        "demo": ["demo", "-o", out],
    }[command]


def _error(argv: list[str], capsys) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    prefix = f"epvlm {argv[0]}: error: "
    assert err.startswith(prefix), err
    return err[len(prefix) :].strip()


@pytest.mark.parametrize("command", ["eval", "run", "demo"])
def test_a_device_that_is_not_one_is_named_as_typed(command, tmp_path, capsys, no_gpu):
    line = _error([*_argv(command, tmp_path), "--device", "foo"], capsys)
    assert line.startswith("--device foo is not a torch device; expected "), line
    assert "available here: auto, cpu" in line
    line = _error([*_argv(command, tmp_path), "--device", "mps"], capsys)
    assert line.startswith("--device mps is not supported; expected "), line
    line = _error([*_argv(command, tmp_path), "--device", "cuda:9"], capsys)
    assert line.startswith("--device cuda:9 requested but CUDA is not available"), line


@pytest.mark.parametrize("command", ["eval", "run", "demo"])
def test_a_gpu_the_machine_lacks_is_named_as_typed(command, tmp_path, capsys, two_gpus):
    line = _error([*_argv(command, tmp_path), "--device", "cuda:9"], capsys)
    assert line.startswith("--device cuda:9 does not exist: this machine has 2 CUDA devices")
    assert "available here: auto, cpu, cuda:0, cuda:1" in line


def test_library_callers_read_the_keyword(no_gpu):
    from epvlm.evaluate import resolve_device

    with pytest.raises(ArgumentValueError) as info:
        resolve_device("foo")
    assert str(info.value).startswith("device='foo' is not a torch device; expected "), info.value
    assert (info.value.parameter, info.value.value) == ("device", "foo")
    with pytest.raises(ArgumentValueError, match=r"^device='cuda:9' requested but CUDA is not"):
        resolve_device("cuda:9")


def test_load_model_reads_the_keyword(tmp_path, two_gpus):
    pytest.importorskip("transformers")
    from epvlm.loading import load_pretrained_model

    (tmp_path / "config.json").write_text('{"model_type": "qwen2_vl"}')
    with pytest.raises(ArgumentValueError, match=r"^device='cuda:5' does not exist"):
        load_pretrained_model(tmp_path, device="cuda:5")


# ------------------------------------------------- 2. Hugging Face cache: an unfinished snapshot
#
# - A cache folder whose refs/main names a snapshot without config.json (a newer revision's
#   download cut short) offered the older snapshot as the one to pass, saying nothing of
#   refs/main's.
# - That snapshot given itself (`snapshot_download`'s path, `huggingface-cli scan-cache`'s)
#   was only 'has no config.json', no hint; `load_model` said so even of a cache folder.


def _cache(tmp_path, *revisions: str, main: str, without_config: tuple[str, ...] = ()):
    import shutil

    from epvlm.demo.pipeline import DEFAULT_MODEL

    root = tmp_path / "hub" / "models--Qwen--Qwen2-VL-2B-Instruct"
    for rev in revisions:
        shutil.copytree(DEFAULT_MODEL, root / "snapshots" / rev)
        if rev in without_config:
            (root / "snapshots" / rev / "config.json").unlink()
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(main + "\n")
    return root


def _refusals(folder) -> list[str]:
    pytest.importorskip("transformers")
    from epvlm.errors import ModelDirError
    from epvlm.evaluate import load_model
    from epvlm.loading import check_model_type

    messages = []
    for check in (check_model_type, load_model):
        with pytest.raises(ModelDirError) as info:
            check(folder)
        messages.append(str(info.value))
        assert "\n" not in messages[-1]
    return messages


def test_refs_main_without_config_json_is_said_beside_the_snapshot_offered(tmp_path):
    root = _cache(tmp_path, "aaaa1111", "bbbb2222", main="bbbb2222", without_config=("bbbb2222",))
    old = root / "snapshots" / "aaaa1111"
    for message in _refusals(root):
        assert "Hugging Face cache folder of Qwen/Qwen2-VL-2B-Instruct" in message
        assert "refs/main snapshot bbbb2222 has no config.json (an unfinished download?)" in message
        assert message.endswith(f"pass {str(old)!r} instead"), message


def test_refs_main_with_config_json_gets_no_such_note(tmp_path):
    root = _cache(tmp_path, "aaaa1111", main="aaaa1111")
    for message in _refusals(root):
        assert "refs/main snapshot" not in message and "unfinished" not in message


def test_a_snapshot_without_config_json_names_the_cache_and_the_others(tmp_path):
    root = _cache(
        tmp_path, "aaaa1111", "bbbb2222", "cccc3333", main="bbbb2222",
        without_config=("bbbb2222",),
    )  # fmt: skip
    given = root / "snapshots" / "bbbb2222"
    for message in _refusals(given):
        assert message.startswith(f"model directory {str(given)!r} has no config.json; "), message
        assert (
            "it is snapshot bbbb2222 of Qwen/Qwen2-VL-2B-Instruct in the Hugging Face cache "
            "(an unfinished download?)" in message
        ), message
        assert repr(str(root / "snapshots" / "aaaa1111")) in message
        assert repr(str(root / "snapshots" / "cccc3333")) in message
        assert "(refs/main)" not in message


def test_the_only_snapshot_without_config_json_says_there_is_none_to_pass(tmp_path):
    root = _cache(tmp_path, "bbbb2222", main="bbbb2222", without_config=("bbbb2222",))
    for message in _refusals(root / "snapshots" / "bbbb2222"):
        assert "it is snapshot bbbb2222 of Qwen/Qwen2-VL-2B-Instruct" in message
        assert message.endswith("no other snapshot of it holds a config.json"), message
    for message in _refusals(root):
        assert "with no snapshot holding a config.json (an unfinished download?)" in message


def test_a_relative_snapshot_names_the_others_relative(tmp_path, monkeypatch):
    root = _cache(tmp_path, "aaaa1111", "bbbb2222", main="aaaa1111", without_config=("bbbb2222",))
    monkeypatch.chdir(root / "snapshots")
    for message in _refusals("bbbb2222"):
        assert message.endswith("pass 'aaaa1111' instead"), message
    monkeypatch.chdir(root / "snapshots" / "bbbb2222")
    for message in _refusals("."):
        assert "it is snapshot bbbb2222 of" in message
        assert message.endswith(f"pass {os.path.join('..', 'aaaa1111')!r} instead"), message


def test_an_ordinary_snapshots_like_folder_gets_no_hint(tmp_path):
    (tmp_path / "snapshots" / "x").mkdir(parents=True)
    for message in _refusals(tmp_path / "snapshots" / "x"):
        assert "Hugging Face" not in message


# ------------------------------------------ 3. what transformers writes is accepted (held)


@pytest.mark.parametrize("model_type", ["qwen2_vl", "qwen2_5_vl"])
def test_check_model_type_takes_the_configs_transformers_saves(tmp_path, model_type):
    """transformers 5 nests the text settings under text_config (whose own model_type is
    '..._text'); transformers 4 and the Hub's first uploads wrote them flat. Both carry the
    model_type at the top, which is what is read."""
    transformers = pytest.importorskip("transformers")
    from epvlm.loading import check_model_type

    cls = {"qwen2_vl": transformers.Qwen2VLConfig, "qwen2_5_vl": transformers.Qwen2_5_VLConfig}
    cls[model_type]().save_pretrained(tmp_path / "new")
    saved = json.loads((tmp_path / "new" / "config.json").read_text())
    assert saved["text_config"]["model_type"] == f"{model_type}_text"
    assert check_model_type(tmp_path / "new") == model_type
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "config.json").write_text(
        json.dumps({"architectures": ["X"], "model_type": model_type, "hidden_size": 1536,
                    "vision_config": {"depth": 32}, "rope_scaling": {"type": "mrope"}})
    )  # fmt: skip
    assert check_model_type(flat) == model_type


def test_a_saved_processor_passes_the_tokenizer_check(tmp_path):
    """save_pretrained writes tokenizer.json beside tokenizer_config.json (no vocab.json or
    merges.txt): the folder loads, encoding as the processor saved did."""
    pytest.importorskip("transformers")
    from epvlm.processing import build_offline_processor, load_processor

    proc = build_offline_processor(["what colour is the object"])
    proc.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file() and not (tmp_path / "vocab.json").exists()
    loaded = load_processor(tmp_path)
    text = "what colour is the object"
    assert loaded.tokenizer(text)["input_ids"] == proc.tokenizer(text)["input_ids"] != []
