import numpy as np
import pytest

from eventsim.errors import ArgumentValueError, InvalidEventsError, ParameterError
from eventsim.events import (
    EVENT_DTYPE,
    as_events,
    check_sensor_size,
    concat_events,
    empty_events,
    make_events,
    normalize_polarity,
    slice_time,
    validate_events,
)


def test_dtype_matches_tonic_convention():
    assert EVENT_DTYPE.names == ("x", "y", "t", "p")
    assert [EVENT_DTYPE[n] for n in "xytp"] == [np.int16, np.int16, np.int64, np.int8]


def test_make_events_converts_signed_polarity():
    ev = make_events([1, 2], [3, 4], [10, 20], [-1, 1])
    assert ev.dtype == EVENT_DTYPE
    assert ev["p"].tolist() == [0, 1]


def test_make_events_refuses_signed_when_asked():
    with pytest.raises(InvalidEventsError, match="index 0"):
        make_events([1], [1], [1], [-1], allow_signed_polarity=False)


def test_make_events_rejects_fractional_times():
    with pytest.raises(InvalidEventsError, match="microseconds"):
        make_events([1], [1], [0.5], [1])


def test_normalize_polarity_names_bad_value():
    with pytest.raises(InvalidEventsError, match=r"index 2 is 5"):
        normalize_polarity(np.array([0, 1, 5]))


def test_validate_reports_first_unsorted_index(small_events):
    ev = small_events.copy()
    ev["t"][100] = -1
    with pytest.raises(InvalidEventsError, match=r"t\[100\] = -1"):
        validate_events(ev)


def test_validate_reports_out_of_bounds(small_events):
    ev = small_events.copy()
    ev["x"][7] = 64
    with pytest.raises(InvalidEventsError, match=r"x\[7\] = 64 is outside the sensor"):
        validate_events(ev, (64, 48))
    validate_events(small_events, (64, 48))


def test_validate_rejects_wrong_dtype():
    with pytest.raises(InvalidEventsError, match="dtype"):
        validate_events(np.zeros(3))


def test_slice_time_is_half_open(small_events):
    t0, t1 = 50_000, 60_000
    s = slice_time(small_events, t0, t1)
    t = small_events["t"]
    assert len(s) == int(((t >= t0) & (t < t1)).sum())
    # an end before the start is refused, as the readers' read refuses it
    with pytest.raises(ArgumentValueError, match="t_end_us=5 is before t_start_us=10"):
        slice_time(small_events, 10, 5)


def test_concat_and_empty(small_events):
    both = concat_events([small_events[:10], empty_events(), small_events[10:20]])
    assert np.array_equal(both, small_events[:20])
    assert concat_events([]).dtype == EVENT_DTYPE
    # strided views, a single part (a copy, not the caller's array) and other field widths
    strided = concat_events([small_events[::3], small_events[1::3]])
    assert strided.dtype == EVENT_DTYPE
    assert np.array_equal(strided, np.concatenate([small_events[::3], small_events[1::3]]))
    alone = concat_events([small_events])
    assert np.array_equal(alone, small_events) and not np.shares_memory(alone, small_events)
    wide = np.zeros(2, dtype=[("x", "u4"), ("y", "u4"), ("t", "u8"), ("p", "?")])
    wide["t"], wide["p"] = [7, 9], [True, False]
    mixed = concat_events([small_events[:1], wide])
    assert mixed.dtype == EVENT_DTYPE and mixed["t"][1:].tolist() == [7, 9]
    assert mixed["p"][1:].tolist() == [1, 0]


def test_as_events_converts_field_widths(small_events):
    other = np.zeros(3, dtype=[("t", "u8"), ("x", "u2"), ("y", "u2"), ("p", "?")])
    other["p"] = [True, False, True]
    ev = as_events(other)
    assert ev.dtype == EVENT_DTYPE and ev["p"].tolist() == [1, 0, 1]
    with pytest.raises(InvalidEventsError, match="missing"):
        as_events(np.zeros(2, dtype=[("x", "i2")]))


def test_sensor_size_checked():
    assert check_sensor_size((640, 480)) == (640, 480)
    with pytest.raises(ParameterError):
        check_sensor_size((0, 10))
