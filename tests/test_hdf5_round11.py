"""Round 11 of the HDF5 reader and ``eventsim info``:

- `StreamCheck` gives its problem as a `StreamProblem` (kind, index, value, the other event),
  so callers need not parse its message, which is unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import InvalidEventsError
from eventsim.events import EVENT_DTYPE, StreamCheck, StreamProblem, validate_events

MIX = "polarity mixes the -1/+1 and 0/1 conventions ({}); expected 0/1 or -1/+1 throughout"


# ------------------------------------------------------------ StreamCheck's structured result


def _packet(p: list[int], t0: int = 0, x: list[int] | None = None) -> np.ndarray:
    ev = np.zeros(len(p), EVENT_DTYPE)
    ev["t"] = np.arange(t0, t0 + len(p))
    ev["p"] = p
    if x is not None:
        ev["x"] = x
    return ev


def test_stream_check_result_is_structured_and_its_message_unchanged():
    check = StreamCheck((4, 4))
    check.check(_packet([0, 1]))
    late = _packet([1, 1], t0=0)
    assert check.check(late) == "timestamps are not sorted: t[2] = 0 us < t[1] = 1 us"
    assert check.result == StreamProblem("unsorted", "t", 2, 0, 1, 1)
    assert check.problem == str(check.result) == check.result.message

    check = StreamCheck((4, 4))
    check.check(_packet([0, 1, 2]))
    assert check.result == StreamProblem("polarity", "p", 2, 2)
    assert check.problem == "polarity p[2] = 2; expected 0 or 1"

    check = StreamCheck((4, 3))
    check.check(_packet([0, 1, 1], x=[0, 3, 4]))
    assert check.result == StreamProblem("outside", "x", 2, 4, sensor_size=(4, 3))
    assert (
        check.problem == "x[2] = 4 is outside the sensor; expected 0 <= x < 4 for sensor size 4x3"
    )

    check = StreamCheck()
    check.check(_packet([0, 1], x=[0, -2]))
    assert check.result == StreamProblem("negative", "x", 1, -2)
    assert check.problem == "x[1] = -2 is negative"


def test_stream_check_lone_minus_one_becomes_a_mix_by_its_fields():
    # a -1 with no 0 yet is a bad value; a 0 packets later makes it a mix, told by the
    # result's kind and value (it was told by comparing the message's text)
    check = StreamCheck((4, 4), signed_polarity=True)
    check.check(_packet([1, -1, 1]))
    assert check.result == StreamProblem("polarity", "p", 1, -1)
    check.check(_packet([1, 1, 0], t0=3))
    assert check.result == StreamProblem("polarity_mix", "p", 1, -1, 5, 0, signed=True)
    assert check.problem == MIX.format("p[1] = -1, p[5] = 0")
    assert check.result.at == 5


def test_stream_problem_renumbered_to_the_file_order():
    order = np.array([3, 0, 1, 2])
    mix = StreamProblem("polarity_mix", "p", 1, -1, 3, 0)
    assert mix.renumbered(order) == StreamProblem("polarity_mix", "p", 0, -1, 2, 0)
    assert mix.renumbered(None) is mix
    # an index past the order is kept
    assert StreamProblem("polarity", "p", 7, 2).renumbered(order).index == 7


def test_validate_events_message_unchanged():
    with pytest.raises(InvalidEventsError, match=r"^polarity p\[1\] = 3; expected 0 or 1$"):
        validate_events(_packet([0, 3]), (4, 4))
