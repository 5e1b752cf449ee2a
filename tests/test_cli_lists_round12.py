"""Comma lists of epvlm's options: an empty entry inside one is refused, not dropped."""

import argparse

import pytest

from epvlm.cli import _keeps_arg, _selectors_arg


@pytest.mark.parametrize("text", ["event,,random", ",event", "event, ,random"])
def test_a_selector_list_with_an_empty_entry_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"has an empty entry.*names of event"):
        _selectors_arg(text)


def test_a_trailing_comma_is_still_one_list() -> None:
    assert _selectors_arg("event,random,") == ["event", "random"]
    assert _keeps_arg("0.5,") == [0.5]


def test_the_keep_list_keeps_its_message() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"keep list '0.5,,0.25' has an empty"):
        _keeps_arg("0.5,,0.25")
