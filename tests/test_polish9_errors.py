"""ArgumentValueError shows a huge integer compactly (repr of 10**5000 raised Python's ValueError
while its message was built), and still pickles."""

from __future__ import annotations

import pickle

from eventsim.errors import ArgumentValueError


def test_argument_value_error_shows_a_huge_int_compactly():
    error = ArgumentValueError("limit", 10**5000, "; expected at most 10")
    assert str(error) == "limit=1e+5000 (a 5001-digit integer); expected at most 10"
    assert str(ArgumentValueError("limit", -(10**60), "")) == ("limit=-1e+60 (a 61-digit integer)")
    # small values keep their repr
    assert str(ArgumentValueError("time_unit", "ns", " is odd")) == "time_unit='ns' is odd"
    assert str(ArgumentValueError("n", 10**49, "")) == f"n={10**49!r}"


def test_argument_value_error_with_a_huge_int_pickles():
    error = ArgumentValueError("limit", 10**5000, "; expected at most 10")
    error.add_note("a note")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ArgumentValueError
    assert str(copy) == str(error)
    assert (copy.parameter, copy.value, copy.rest) == ("limit", 10**5000, "; expected at most 10")
    assert copy.__notes__ == ["a note"]
