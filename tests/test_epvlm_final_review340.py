"""Final review of the session's epvlm changes (helper 340).

- `keep_budget(2.0, keep)` said the token count "is not a whole number", as the budgets did
  before 337 fixed their wording, and showed a numpy value as ``np.float64(2.0)``: it says
  "is not an integer >= 1" and shows the value as written.
- The token grid and ``out_hw`` took bools for sides (``grid=(True, True)`` was a 1x1 grid): a
  bool is refused, as the budgets and seeds refuse it.
"""

from __future__ import annotations

import numpy as np
import pytest

from epvlm.prior import event_map, keep_budget, select_blocks
from eventsim.errors import ParameterError
from eventsim.events import EVENT_DTYPE


def test_keep_budget_names_a_float_count_as_written():
    with pytest.raises(ParameterError, match=r"token count 2\.0 is not an integer >= 1$"):
        keep_budget(np.float64(2.0), 0.5)
    assert keep_budget(np.int32(4), 0.5) == 2


@pytest.mark.parametrize("grid", [(True, True), (np.True_, 1), (1, False)])
def test_token_grid_of_bools_is_refused(grid):
    image = np.zeros((28, 28, 3), np.uint8)
    with pytest.raises(ParameterError, match=r"is not a \(height, width\) pair of ints"):
        select_blocks("center", image, keep=0.5, grid=grid)


def test_out_hw_of_bools_is_refused():
    events = np.zeros(1, EVENT_DTYPE)
    with pytest.raises(ParameterError, match=r"out_hw .* is not a \(height, width\) pair"):
        event_map(events, (4, 4), out_hw=(True, True))
    assert event_map(events, (4, 4), out_hw=(np.int64(2), 2)).shape == (2, 2)


def test_choices_none_is_refused_in_processing():
    """`build_prompt(q, None, n)` failed with "'NoneType' object is not iterable" since 330
    (before, it was taken as no options, while `epvlm.evaluate` refused it): a `ParameterError`
    naming it, as there."""
    from epvlm.processing import build_prompt, question_text

    with pytest.raises(ParameterError, match=r"choices None is not a list of options"):
        build_prompt("what colour is it?", None, 4)
    with pytest.raises(ParameterError, match=r"choices None is not a list of options"):
        question_text("what colour is it?", None)
    assert "Options" not in build_prompt("what colour is it?", [], 4)
