"""tools/fuzz_kernels.py: random cases agree on both simulator paths, and a difference fails it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "fuzz_kernels.py"


@pytest.fixture
def fuzz(monkeypatch):
    pytest.importorskip("eventsim.simulator._kernels")
    import eventsim.simulator.core as core

    # the tool switches the kernels off module-wide for the torch path's runs, and back
    monkeypatch.setattr(core, "_USE_NUMBA", True)
    spec = importlib.util.spec_from_file_location("fuzz_kernels", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_random_cases_give_the_same_events_and_state_on_both_paths(fuzz):
    # cases 2..24 are small (about 2.5 s together): odd sizes, gaps, leak, noise, chunkings
    results = [fuzz.check_case(case) for case in range(2, 25)]
    assert all(same for same, _ in results)
    assert sum(n for _, n in results) > 1_000_000


def test_a_path_that_differs_or_raises_is_reported_and_fails_the_run(fuzz, monkeypatch, capsys):
    run_path = fuzz.run_path

    def off_by_one(*args):
        events, state = run_path(*args)
        if args[5] and events.size:  # the kernels' run
            events = events.copy()
            events["t"][-1] += 1
        return events, state

    monkeypatch.setattr(fuzz, "run_path", off_by_one)
    assert fuzz.main(["--seconds", "0.3", "--first-case", "2"]) == 1
    out = capsys.readouterr().out
    assert "case 2: DIFFERENT" in out
    assert "re-run one with --case 2" in out
    assert fuzz.main(["--case", "2"]) == 1
    monkeypatch.setattr(fuzz, "run_path", run_path)
    assert fuzz.main(["--case", "2"]) == 0

    def failing(*args):
        raise IndexError("index out of range in self")

    monkeypatch.setattr(fuzz, "run_path", failing)
    assert fuzz.main(["--seconds", "0.2", "--first-case", "2"]) == 1
    assert "case 2: ERROR IndexError: index out of range" in capsys.readouterr().out
    monkeypatch.setattr(fuzz, "run_path", run_path)
    assert fuzz.main(["--device", "nonsense", "--case", "2"]) == 2
    assert "nonsense" in capsys.readouterr().err
    # and the kernels stay on for whatever runs next in this process
    import eventsim.simulator.core as core

    assert core._USE_NUMBA
