"""Second look at `make_events`' checks of float columns, made after the cast in one
comparison each: every value a cast would change is still refused, and whole floats of any
width, the ends of int64 among them, are kept, without numpy's cast warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from eventsim.errors import InvalidEventsError
from eventsim.events import make_events


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_whole_floats_of_every_width_are_kept_without_warnings(dtype):
    x = np.array([0, 1, 639, -5], dtype)
    t = np.array([-(2.0**63), 0, 1024, 2.0**62], np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ev = make_events(x, x[::-1], t.astype(np.float64), [1, 0, 1, 0])
    assert ev["x"].tolist() == [0, 1, 639, -5] and ev["y"].tolist() == [-5, 639, 1, 0]
    assert ev["t"].tolist() == [-(2**63), 0, 1024, 2**62]


@pytest.mark.parametrize("col", ["x", "y"])
@pytest.mark.parametrize(("bad", "match"), [(np.nan, "nan"), (0.5, r"0\.5"), (-3.25, r"-3\.25")])
def test_a_coordinate_a_cast_would_change_is_refused_without_warnings(col, bad, match):
    c = np.arange(6, dtype=np.float64)
    c[4] = bad
    cols = {"x": np.zeros(6), "y": np.zeros(6), col: c}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidEventsError, match=rf"'{col}'.*such as {match}"):
            make_events(cols["x"], cols["y"], np.arange(6), np.ones(6))


@pytest.mark.parametrize(
    ("t", "match"),
    [
        ([0.0, np.nan], "non-integer"),
        ([0.0, 2.5], "non-integer"),
        ([0.0, np.inf], "non-integer"),
        ([0.0, 2.0**63], "outside int64"),
        ([-(2.0**64), 0.0], "outside int64"),
    ],
)
def test_a_float_time_a_cast_would_change_is_refused(t, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidEventsError, match=rf"'t'.*{match}|{match}.*'t'"):
            make_events([0, 1], [0, 0], np.array(t), [1, 1])
