"""`make_events` / `as_events` on columns of awkward types: coordinates must be whole numbers,
times must fit int64, and columns must hold numbers; each refusal is an `InvalidEventsError`
naming the column and the value (no silent truncation or wrap, no bare numpy error)."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import InvalidEventsError
from eventsim.events import EVENT_DTYPE, as_events, make_events


@pytest.mark.parametrize(
    ("x", "match"),
    [
        ([0.0, 1.5], r"'x'.*1\.5"),
        ([np.nan], r"'x'.*nan"),
        ([np.inf], r"'x'.*inf"),
    ],
)
def test_non_integer_coordinates_are_refused(x, match):
    n = len(x)
    with pytest.raises(InvalidEventsError, match=match):
        make_events(x, np.zeros(n), np.arange(n), np.ones(n))


def test_whole_float_coordinates_are_read():
    ev = make_events([1.0, 2.0], [3.0, -4.0], [5, 6], [1, 0])
    assert ev["x"].tolist() == [1, 2] and ev["y"].tolist() == [3, -4]


@pytest.mark.parametrize(
    ("t", "match"),
    [
        (np.array([0, 2**63 + 5], np.uint64), str(2**63 + 5)),
        (np.array([0.0, 1e30]), r"1e\+30"),
        (np.array([0.0, 2.0**63]), r"9\.22"),
        ([0, 2**70], str(2**70)),
    ],
)
def test_times_beyond_int64_are_refused_naming_the_value(t, match):
    with pytest.raises(InvalidEventsError, match=r"'t'.*" + match):
        make_events([0, 1], [0, 0], t, [1, 1])


def test_times_at_the_ends_of_int64_are_kept():
    t = np.array([-(2**63), 2**63 - 1])
    assert make_events([0, 1], [0, 0], t, [1, 1])["t"].tolist() == t.tolist()
    u = np.array([0, 2**63 - 1], np.uint64)
    assert make_events([0, 1], [0, 0], u, [1, 1])["t"].tolist() == [0, 2**63 - 1]


@pytest.mark.parametrize(
    "cols",
    [
        (["a"], [0], [5], [1]),
        ([0], [0], ["5"], [1]),
        ([0], [0], [1 + 2j], [1]),
        (np.array([None], object), [0], [5], [1]),
    ],
)
def test_columns_that_do_not_hold_numbers_are_refused(cols):
    with pytest.raises(InvalidEventsError, match="expected numbers"):
        make_events(*cols)


def test_a_structured_array_of_other_types_goes_through_the_same_checks():
    arr = np.zeros(2, dtype=[("x", "f8"), ("y", "u2"), ("t", "u8"), ("p", "i1")])
    arr["x"] = [1.0, 2.5]
    with pytest.raises(InvalidEventsError, match=r"'x'.*2\.5"):
        as_events(arr)
    arr["x"] = [1, 2]
    arr["p"] = [-1, 1]
    assert as_events(arr).dtype == EVENT_DTYPE


def test_a_scalar_x_is_named_as_such():
    with pytest.raises(
        InvalidEventsError, match=r"column 'x' has shape \(\); expected a 1-D column$"
    ):
        make_events(1, [2], [3], [1])
