"""Second look at epvlm's device and checkpoint checks.

- ``epvlm eval/run/demo --device foo`` said "device 'foo' is not a torch device; ..." and
  ``--device cuda:9`` "device 'cuda:9' ..."; the command line now names the option as typed
  (``--device foo is not a torch device; ...``), as ``eventsim simulate`` does, and a library
  caller reads ``device='foo' ...`` (an `ArgumentValueError`).
"""

from __future__ import annotations

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
