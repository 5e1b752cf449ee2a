"""eventsim's lazily loaded names, as type checkers see them: a module ``__getattr__`` visible
to mypy made any misspelt attribute (``eventsim.make_event``) an object, not an error, so it is
hidden from them, and the ``TYPE_CHECKING`` imports name exactly what it loads."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest


def test_type_checkers_see_the_lazy_names_and_no_others() -> None:
    # annotated, so mypy (make lint) checks this body: the names resolve to their objects'
    # types, and a misspelt one is an error (the ignore below is unused, and so an error, when
    # mypy sees the module __getattr__)
    import eventsim

    events: np.ndarray = eventsim.empty_events()
    assert events.dtype == eventsim.EVENT_DTYPE
    with pytest.raises(AttributeError, match="no attribute 'make_event'"):
        eventsim.make_event  # type: ignore[attr-defined]  # noqa: B018


def test_the_names_type_checkers_see_are_the_lazy_ones() -> None:
    import eventsim

    tree = ast.parse(Path(eventsim.__file__).read_text(encoding="utf-8"))
    seen: dict[str, str] = {}
    hidden = []
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module
                seen.update({alias.name: imp.module for alias in imp.names})
        if isinstance(node, ast.If) and ast.unparse(node.test) == "not TYPE_CHECKING":
            hidden += [d.name for d in node.body if isinstance(d, ast.FunctionDef)]
        assert not (isinstance(node, ast.FunctionDef) and node.name == "__getattr__")
    assert seen == eventsim._EXPORTS
    assert hidden == ["__getattr__"]
    assert set(eventsim._EXPORTS) <= set(eventsim.__all__)
