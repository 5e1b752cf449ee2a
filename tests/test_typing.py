"""Lazily exported names stay visible to type checkers: each package's ``TYPE_CHECKING`` imports
name exactly what its ``__getattr__`` loads, from the same modules."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest


def _type_checking_imports(package: str) -> dict[str, str]:
    """name -> module of the imports under ``if TYPE_CHECKING:`` in a package's __init__."""
    init = Path(str(importlib.import_module(package).__file__))
    tree = ast.parse(init.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom) and stmt.module:
                    found.update({a.asname or a.name: stmt.module for a in stmt.names})
    return found


def test_datasets_exports_are_typed():
    import eventsim.datasets as ds

    assert _type_checking_imports("eventsim.datasets") == ds._EXPORTS
    assert sorted(ds.__all__) == sorted(ds._EXPORTS)


@pytest.mark.parametrize("name", ["SimulationResult", "simulate", "simulate_frames"])
def test_simulator_lazy_exports_are_typed(name):
    import eventsim.simulator as sim
    from eventsim.simulator import pipeline

    typed = _type_checking_imports("eventsim.simulator")
    assert typed[name] == "eventsim.simulator.pipeline"
    assert getattr(sim, name) is getattr(pipeline, name) and name in sim.__all__


def test_top_level_exports_are_typed_and_import_light():
    import subprocess
    import sys

    import eventsim

    assert _type_checking_imports("eventsim") == eventsim._EXPORTS
    assert set(eventsim._EXPORTS) <= set(eventsim.__all__)
    # numpy loads on first use of an event helper, not with the package (or the CLI's entry)
    code = "import sys, eventsim, eventsim.cli, epvlm; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
