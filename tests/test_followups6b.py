"""Follow-ups: convert, render and plot say that an event index of a file the reader sorted
counts the sorted events; an unknown id of another split points at that split only when it
holds the id."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.datasets import EventVQADataset, build_dataset
from eventsim.datasets.loader import UnknownSampleError
from eventsim.events import EVENT_DTYPE

from user_media import textured

_SORTED = "(index among the events sorted by time; the file holds them out of order"


def run(capsys, *argv: object) -> tuple[int, str]:
    rc = eventsim_main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def _npy(path: Path, t: list[int], x: list[int]) -> Path:
    ev = np.zeros(len(t), EVENT_DTYPE)
    ev["t"], ev["x"] = t, x
    np.save(path, ev)
    return path


# -- 1. an index of a sorted file is the file's ---------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ("convert", "{f}", "{o}.h5"),
        ("convert", "{f}", "{o}.npy"),
        ("render", "{f}", "-o", "{o}.png", "--no-progress"),
        ("plot", "{f}", "-o", "{o}.png"),
    ],
    ids=["convert-h5", "convert-npy", "render", "plot"],
)
def test_a_coordinate_index_of_a_sorted_file_is_the_files(tmp_path, capsys, argv):
    # x = 9 is file index 2, index 3 once sorted by time: the reader keeps the sort's
    # permutation (test_io_review7), so both files name the index x = 9 has in them
    unsorted = _npy(tmp_path / "unsorted.npy", [10, 5, 30, 20, 40], [1, 2, 9, 4, 5])
    in_order = _npy(tmp_path / "in_order.npy", [5, 10, 20, 30, 40], [1, 2, 4, 9, 5])
    for path, index in ((unsorted, 2), (in_order, 3)):
        words = [a.format(f=path, o=tmp_path / f"out_{path.stem}") for a in argv]
        rc, err = run(capsys, *words, "--sensor-size", "6x1")
        line = err.strip().splitlines()[-1]
        assert rc == 1 and (f"x[{index}] = 9" in line or f"event {index} has x = 9" in line)
        assert _SORTED not in line, line


# -- 2. an id of another split ----------------------------------------------------------------
@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("followups6b")
    cv2.imwrite(str(root / "a.png"), textured(1, 64, 48))
    line = {"image": "a.png", "question": "What is it?", "answer": "a"}
    (root / "test.jsonl").write_text(json.dumps(line) + "\n")
    (root / "train.jsonl").write_text(json.dumps(line) + "\n")
    recipe = root / "r.toml"
    recipe.write_text(
        '[dataset]\nname = "f6b"\n[source]\nkind = "image"\n[camera]\nwidth = 64\n'
        'height = 48\n[events]\nwindow_ms = 10\n[splits]\ntest = "test.jsonl"\n'
        'train = "train.jsonl"\n'
    )
    build_dataset(recipe, root / "ds", progress=False)
    return root / "ds"


def _unknown(ds: EventVQADataset, sample_id: str) -> str:
    with pytest.raises(UnknownSampleError) as info:
        ds.by_id(sample_id)
    return str(info.value)


def test_an_id_of_another_split_points_there_only_when_that_split_holds_it(dataset):
    ds = EventVQADataset(dataset, "test")
    hint = "open that one with EventVQADataset"
    assert hint in _unknown(ds, "train-000000")
    # train holds only train-000000; val is no split of the dataset
    for sample_id in ("train-000001", "val-000000"):
        message = _unknown(ds, sample_id)
        assert hint not in message and "split 'train'" not in message, message
        assert message.startswith(f"no sample has id {sample_id!r} in split 'test'"), message
