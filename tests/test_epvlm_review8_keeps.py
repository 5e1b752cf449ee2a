"""`evaluate_dataset`'s selectors and keeps, and every keep fraction, are checked before any
model loads, each refusal a typed error naming what was given."""

from __future__ import annotations

import numpy as np
import pytest

from epvlm.evaluate import evaluate_dataset
from epvlm.prior import check_keep, keep_budget, select_blocks
from eventsim.errors import ParameterError


@pytest.mark.parametrize("keep", [True, False, np.bool_(True)])
def test_a_bool_is_no_keep_fraction(keep):
    # True was taken as 1.0 (everything kept), as event_window once took it for 1 ms
    with pytest.raises(
        ParameterError, match=rf"keep fraction {keep!r} is not a number in \(0, 1\]"
    ):
        check_keep(keep)
    with pytest.raises(ParameterError, match="keep fraction"):
        select_blocks("center", np.zeros((56, 56, 3), np.uint8), keep=keep, grid=(2, 2))
    with pytest.raises(ParameterError, match="keep fraction"):
        keep_budget(4, keep)


@pytest.mark.parametrize("keep", [0, 0.0, -0.25, 1.0000001, 2, float("nan"), float("inf")])
def test_keep_fractions_outside_the_range_are_refused_by_value(keep):
    with pytest.raises(ParameterError, match=rf"keep fraction {keep!r} is outside \(0, 1\]"):
        check_keep(keep)


@pytest.mark.parametrize("keep", [1, 1.0, np.float32(1.0), 1e-9, np.float64(0.5)])
def test_keep_fractions_in_range_are_taken(keep):
    assert check_keep(keep) == float(keep)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        # 'float' object is not iterable (a TypeError), and '0.5' was read character by character
        ({"keeps": 0.5}, r"keeps 0\.5 is one value; expected a sequence of keep fractions"),
        ({"keeps": "0.5"}, r"keeps '0\.5' is one value; expected a sequence of keep fractions"),
        ({"keeps": (0.5, True)}, r"keep fraction True is not a number"),
        ({"keeps": (0.5, 0)}, r"keep fraction 0 is outside \(0, 1\]"),
        # 'selectors e, v, n, t unknown'
        ({"selectors": "event"}, r"selectors 'event' is one value; expected a sequence of"),
    ],
)
def test_evaluate_dataset_refuses_bad_keeps_and_selectors_before_reading_anything(
    tmp_path, kwargs, message
):
    with pytest.raises(ParameterError, match=message):
        evaluate_dataset(tmp_path / "no-model", tmp_path / "no-dataset", progress=False, **kwargs)
