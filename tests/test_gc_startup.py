"""The scripts' start-up defers the garbage collector's passes and `load_model` ends that
(`eventsim._gc`); library callers and in-process command runs keep the collector as it was."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventsim import _gc

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "epvlm" / "assets" / "shapes-demo-tiny"


@pytest.fixture
def collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    _gc._saved = None
    gc.set_threshold(*before)
    gc.unfreeze()


def test_deferred_start_up_is_frozen_and_restored(
    collector: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = gc.get_threshold()
    _gc.defer_collection()
    _gc.defer_collection()  # a second call keeps the first saved thresholds
    assert gc.get_threshold() == (_gc.STARTUP_THRESHOLD, *before[1:])
    frozen = gc.get_freeze_count()
    _gc.end_startup()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() > frozen
    freezes = _count_freezes(monkeypatch)
    _gc.end_startup()  # not deferred: nothing happens
    assert freezes == [] and gc.get_threshold() == before


def _count_freezes(monkeypatch: pytest.MonkeyPatch) -> list[None]:
    # the frozen count itself falls whenever a frozen object is freed, so calls are counted
    calls: list[None] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append(None))
    return calls


def test_end_startup_without_defer_leaves_the_collector(
    collector: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = gc.get_threshold()
    freezes = _count_freezes(monkeypatch)
    _gc.end_startup()
    assert gc.get_threshold() == before
    assert freezes == []


def test_load_model_ends_a_deferred_start_up(collector: None) -> None:
    from epvlm.evaluate import load_model

    before = gc.get_threshold()
    _gc.defer_collection()
    load_model(TINY)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() > 0


def test_in_process_command_keeps_the_collector(
    collector: None, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventsim.cli import main

    before = gc.get_threshold()
    freezes = _count_freezes(monkeypatch)
    assert main(["--version"]) == 0
    assert gc.get_threshold() == before
    assert freezes == []


def test_script_run_defers_collection_during_the_command() -> None:
    code = (
        "import gc, sys\n"
        "from eventsim.cli import run_script\n"
        "def cmd(argv):\n"
        "    print(gc.get_threshold()[0], flush=True)\n"
        "    return 0\n"
        "sys.argv = ['prog', 'cmd']\n"
        "run_script('prog', '0', {'cmd': (cmd, 'a command')}, None)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(_gc.STARTUP_THRESHOLD)]
