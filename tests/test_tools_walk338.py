"""Walkthrough 333's findings in tools/, fixed by helper 338: a file given as a folder and a
missing --dir are one line, a deleted tracked file no longer stops the package check without a
word, and no progress bar or expected warning is drawn where the tool's convention says not."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"tool338_{name}", TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    return lines[-1]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_check_package_copies_a_checkout_with_a_deleted_tracked_file(tmp_path):
    # tar's "Cannot stat" went to /dev/null and pipefail ended the script with status 2, silent
    repo = tmp_path / "repo"
    (repo / "tools").mkdir(parents=True)
    shutil.copy(TOOLS / "check_package.sh", repo / "tools")
    (repo / "kept.txt").write_text("kept\n")
    (repo / "gone.txt").write_text("gone\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "t"], check=True)
    (repo / "gone.txt").unlink()
    # stands in for the wheel build: lists the copy it is given, then stops the script
    fake_pip = tmp_path / "fake-pip"
    fake_pip.write_text('#!/bin/sh\nls "$5"\nexit 7\n')
    fake_pip.chmod(0o755)
    env = {**os.environ, "BUILD_PIP": str(fake_pip), "TMPDIR": str(tmp_path)}
    res = subprocess.run(
        ["bash", str(repo / "tools" / "check_package.sh")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert res.returncode == 7, res.stderr
    assert "kept.txt" in res.stdout.split() and "gone.txt" not in res.stdout
    assert "gone.txt is tracked but deleted in the work tree" in res.stderr


def test_make_gallery_refuses_a_file_as_out_before_simulating(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    work = tmp_path / "work"
    with pytest.raises(SystemExit) as exc:
        _tool("make_gallery").main(["--out", str(afile), "--work", str(work)])
    assert exc.value.code == 2
    assert f"--out {afile} is a file; expected a folder" in _one_line(capsys.readouterr().err)
    assert not work.exists()


def test_make_gallery_help_says_the_out_folder_is_overwritten(capsys):
    with pytest.raises(SystemExit):
        _tool("make_gallery").main(["--help"])
    assert "README.md are overwritten" in " ".join(capsys.readouterr().out.split())


def test_bench_h5_refuses_a_missing_dir_before_generating(tmp_path, capsys):
    missing = tmp_path / "nope"
    with pytest.raises(SystemExit) as exc:
        _tool("bench_h5").main(["--events", "10", "--dir", str(missing)])
    assert exc.value.code == 2
    assert f"--dir {missing}: no such folder" in _one_line(capsys.readouterr().err)


def test_bench_h5_small_stream_counts_and_labels(tmp_path, capsys):
    argv = ["--events", "3000", "--duration-s", "0.1", "--windows", "2", "--repeat", "1"]
    assert _tool("bench_h5").main([*argv, "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "stream: 3,000 events," in out and "0.0 M events" not in out
    labels = [line for line in out.splitlines() if line.startswith(("write:", "full read"))]
    # every figure starts in one column
    assert len({len(line) - len(line.split(":", 1)[1].lstrip()) for line in labels}) == 1


def test_bench_loader_draws_no_bar_when_stderr_is_no_terminal(capsys):
    argv = ["--samples", "3", "--base", "1", "--workers", "0", "--batch-size", "2"]
    assert _tool("bench_loader").main(argv) == 0
    captured = capsys.readouterr()
    assert "read 3 samples" in captured.out
    assert "reading" not in captured.err


def test_train_demo_model_hides_transformers_bar_while_saving(tmp_path, capfd):
    from transformers.utils import logging as hf_logging

    from epvlm.demo import DEFAULT_MODEL
    from epvlm.loading import load_pretrained_model
    from epvlm.processing import load_processor

    model, proc = load_pretrained_model(DEFAULT_MODEL), load_processor(DEFAULT_MODEL)
    assert hf_logging.is_progress_bar_enabled()
    capfd.readouterr()
    _tool("train_demo_model").save_checkpoint(model, proc, tmp_path / "m", {}, progress=False)
    assert "Writing model shards" not in capfd.readouterr().err
    # the switch is transformers' global one: the caller's setting comes back
    assert hf_logging.is_progress_bar_enabled()
    assert (tmp_path / "m" / "model.safetensors").is_file()


def test_fuzz_kernels_keeps_the_threshold_spread_warning_of_its_wide_cases_quiet(recwarn):
    from eventsim.simulator.core import ThresholdSpreadWarning, preload_kernels

    assert preload_kernels()  # as the tool's main does before its cases

    # case 12 draws threshold_sigma 0.2 at a 0.2 OFF threshold: 17 % of them clamped, on purpose
    assert _tool("fuzz_kernels").check_case(12)[0]
    assert not [w for w in recwarn if issubclass(w.category, ThresholdSpreadWarning)]


def test_bench_simulator_prints_no_empty_table_without_sizes(capsys):
    assert _tool("bench_simulator").main(["--sizes", "--no-rss"]) == 0
    assert "| size | preset |" not in capsys.readouterr().out


def test_make_test_fixtures_names_itself_when_fixtures_exist(capsys):
    # the committed fixtures exist: it refuses without --force and changes nothing
    assert _tool("make_test_fixtures").main([]) == 1
    assert _one_line(capsys.readouterr().err).startswith("make_test_fixtures: fixtures exist")
