"""Findings of a second-look review of the dash-value CLI parsing and the compact split records:
an empty split opens (the shapes recipe's default ``train = 0``), an edited samples.jsonl is
reported as changed whatever its new lines hold, and a mistyped ``--option=value`` after an
option that lacks its value is refused, not taken for that value."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from eventsim.cli import main as eventsim_main
from eventsim.datasets import EventVQADataset
from eventsim.datasets.loader import SampleRecords
from eventsim.errors import DatasetError


@pytest.fixture(scope="module")
def built(build_shapes) -> Path:
    """A dataset of 2 test samples and an empty train split (the recipe's ``train = 0``)."""
    return build_shapes(2)


# -- empty split ------------------------------------------------------------------------------


def test_an_empty_split_opens_with_no_records(built):
    ds = EventVQADataset(built, "train")
    assert len(ds) == 0
    assert len(ds.records) == 0 and list(ds.records) == [] and ds.records == []
    assert ds.records[:5] == []
    with pytest.raises(IndexError):
        ds[0]
    assert len(SampleRecords.from_spans(b"", [], [])) == 0


# -- samples.jsonl edited after the build ----------------------------------------------------


def _edited(built: Path, tmp_path: Path, tail: bytes) -> Path:
    root = tmp_path / "ds"
    shutil.copytree(built, root)
    with open(root / "samples.jsonl", "ab") as f:
        f.write(tail)
    return root


@pytest.mark.parametrize("tail", [b"5\n", b"[1, 2]\n", b'"text"\n', b"   \n", b"\r\n"])
def test_an_edited_samples_file_is_reported_as_changed_whatever_its_new_lines_hold(
    built, tmp_path, tail
):
    root = _edited(built, tmp_path, tail)
    with pytest.raises(DatasetError, match="was changed after the build"):
        EventVQADataset(root, "test")


def test_an_unreadable_line_of_an_edited_samples_file_is_named_by_its_number(built, tmp_path):
    lines = (built / "samples.jsonl").read_bytes().count(b"\n")
    root = _edited(built, tmp_path, b"{oops\n")
    with pytest.raises(DatasetError, match=f"line {lines + 1}: "):
        EventVQADataset(root, "test")


# -- a mistyped --option=value where a value was expected --------------------------------------


@pytest.mark.parametrize("typo", ["--colour=red", "--on-colour=-red"])
def test_a_mistyped_option_with_its_value_is_not_taken_for_a_missing_value(
    tmp_path, capsys, monkeypatch, events_npy, typo
):
    monkeypatch.chdir(tmp_path)
    rc = eventsim_main(["render", str(events_npy), "-o", typo])
    err = capsys.readouterr().err
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "argument -o/--output: expected one argument" in lines[0]
    assert f"write -o={typo}" in lines[0]
    assert not (tmp_path / typo).exists()


def test_the_spelling_the_refusal_suggests_passes_the_word_as_the_value(
    tmp_path, capsys, monkeypatch, events_npy
):
    monkeypatch.chdir(tmp_path)
    assert eventsim_main(["render", str(events_npy), "-o=--colour=red.png"]) == 0
    assert (tmp_path / "--colour=red.png").is_file()


def test_a_value_with_a_space_is_still_a_value_though_it_starts_like_an_option():
    # argparse reads a word with a space as a value, whatever it starts with
    import epvlm.cli as epvlm_cli
    from eventsim.cli.common import _dash_values

    parser = epvlm_cli.build_run_parser()
    # (--events rather than --seed, whose -3 is refused as a value out of range since 7e10744)
    words = ["--model", "m", "--image", "i.png", "--question", "--x=1 or 2?", "--events", "-3.h5"]
    args = parser.parse_args(_dash_values(parser, words))
    assert args.question == "--x=1 or 2?" and str(args.events) == "-3.h5"
