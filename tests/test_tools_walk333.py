"""Walkthrough 333 of tools/ (reproducing docs/benchmarks.md): the smallest settings run, and a
bad path or peer interpreter is one line before the minutes of measuring, not a traceback."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
TINY = ROOT / "epvlm" / "assets" / "shapes-demo-tiny"


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"tool333_{name}", TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    return lines[-1]


def test_bench_h5_sweeps_fewer_events_than_a_column_chunk(tmp_path, capsys):
    # the per-column table asked h5py for 2^17-event chunks of a shorter fixed-size dataset
    argv = ["--events", "3000", "--duration-s", "0.1", "--sweep", "--dir", str(tmp_path)]
    assert _tool("bench_h5").main(argv) == 0
    out = capsys.readouterr().out
    assert "| zstd-1 byte shuffle |" in out


def test_bench_epvlm_refuses_a_json_path_in_a_missing_folder_before_measuring(tmp_path, capsys):
    target = tmp_path / "no-such-folder" / "out.json"
    argv = ["--model", str(TINY), "--reps", "1", "--json", str(target)]
    assert _tool("bench_epvlm").main(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(target) in line and "folder does not exist" in line


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--esim-python", "/no/such/python"], "--esim-python /no/such/python"),
        (["--v2e", "/no/such/python", "/no/src"], "--v2e /no/such/python"),
        (["--v2e", sys.executable, "/no/src"], "no v2ecore folder"),
    ],
)
def test_bench_simulator_refuses_peer_paths_before_timing(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        _tool("bench_simulator").main(["--peers", *argv])
    assert exc.value.code == 2
    assert needle in _one_line(capsys.readouterr().err)


def test_bench_simulator_names_an_esim_interpreter_it_cannot_run(monkeypatch):
    monkeypatch.setenv("ESIM_PY_PYTHON", "/no/such/python")
    with pytest.raises(SystemExit) as exc:
        _tool("bench_simulator").find_esim_python(None)
    assert "$ESIM_PY_PYTHON /no/such/python" in str(exc.value.code)


def test_bench_simulator_says_why_a_peer_child_failed():
    bench = _tool("bench_simulator")
    with pytest.raises(SystemExit) as exc:
        bench._peer(sys.executable, "raise ImportError('no v2ecore here')")
    assert "ImportError: no v2ecore here" in str(exc.value.code)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--recipe", "/no/such/recipe.toml"], "recipe '/no/such/recipe.toml' not found"),
        (["--init-from", "/no/such/model"], "'/no/such/model' does not exist"),
        # a name that is no folder read as a hub id by transformers: never downloaded
        (["--init-from", "Qwen/Qwen2-VL-2B-Instruct"], "never downloads"),
    ],
)
def test_train_demo_model_refuses_a_missing_recipe_or_checkpoint_in_one_line(
    argv, needle, tmp_path, capsys
):
    out = tmp_path / "m"
    assert _tool("train_demo_model").main(["-o", str(out), "--steps", "1", *argv]) == 1
    assert needle in _one_line(capsys.readouterr().err)
    assert not out.exists()


def test_bench_gpu_refuses_an_out_file_and_an_empty_run_before_measuring(tmp_path, capsys):
    bench = _tool("bench_gpu")
    base = ["--quick", "--device", "cpu"]
    # a file as --out failed at the first save, after the identity tables (device minutes)
    afile = tmp_path / "afile"
    afile.write_text("")
    assert bench.main([*base, "--out", str(afile)]) == 2
    assert f"--out {afile} is a file" in _one_line(capsys.readouterr().err)
    # both off ran nothing and reported '0 runs differ'
    assert bench.main([*base, "--no-identity", "--no-speed"]) == 2
    assert "nothing to measure" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("argv", [["--case", "-1"], ["--first-case", "-3", "--seconds", "1"]])
def test_fuzz_kernels_refuses_a_negative_case_number(argv, capsys):
    # the case number seeds numpy's generator: a negative one was its ValueError traceback
    with pytest.raises(SystemExit) as exc:
        _tool("fuzz_kernels").main(argv)
    assert exc.value.code == 2
    assert "must be 0 or more" in _one_line(capsys.readouterr().err)
