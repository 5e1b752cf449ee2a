"""Sixth review of the dataset builder and loader: a shard index that lists another number of
samples than its range holds, and reading a sample by its id."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from eventsim.datasets import EventVQADataset, build_dataset, verify_dataset
from eventsim.datasets.loader import UnknownSampleError
from eventsim.datasets.shards import file_digest, read_shard_records
from eventsim.errors import DatasetError

from user_media import textured

# 7 planned samples in shards of 3: a malformed line (a plan-time error), a missing image (a
# build-time one) and a reused id are skipped, so the shards hold 2, 1 and 1 samples
_LINES = [
    {"id": "a", "image": "a.png", "question": "What is it?", "answer": "a"},
    "{not json",
    {"id": "b", "image": "a.png", "question": "What is it?", "answer": "b"},
    {"id": "c", "image": "gone.png", "question": "What is it?", "answer": "c"},
    {"id": "d", "image": "a.png", "question": "What is it?", "answer": "d"},
    {"id": "a", "image": "a.png", "question": "What is it?", "answer": "again"},
    {"id": "e", "image": "a.png", "question": "What is it?", "answer": "e"},
]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """A recipe whose split skips samples, and the dataset it builds."""
    root = tmp_path_factory.mktemp("review6")
    cv2.imwrite(str(root / "a.png"), textured(1, 64, 48))
    (root / "qa.jsonl").write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in _LINES)
    )
    (root / "train.jsonl").write_text(json.dumps(_LINES[0]) + "\n")
    recipe = root / "img.toml"
    recipe.write_text(
        '[dataset]\nname = "review6"\n[source]\nkind = "image"\n[camera]\nwidth = 64\n'
        'height = 48\n[events]\nwindow_ms = 10\n[splits]\ntest = "qa.jsonl"\n'
        'train = "train.jsonl"\n'
        "[build]\nshard_size = 3\n"
    )
    summary = build_dataset(recipe, root / "ds", progress=False)
    assert (summary.samples, summary.errors) == ({"train": 1, "test": 4}, {"train": 0, "test": 3})
    return recipe, root / "ds"


@pytest.fixture
def dataset(built, tmp_path) -> Path:
    return Path(shutil.copytree(built[1], tmp_path / "ds"))


def _index(shard: Path) -> dict:
    with h5py.File(shard, "r") as f:
        return json.loads(bytes(f["index_json"][()]).decode())


def _set_index(root: Path, shard: Path, index: dict) -> None:
    """Write ``index`` into ``shard`` and its new bytes into dataset.json (as if the build had
    written them, so that only the count is wrong)."""
    with h5py.File(shard, "r+") as f:
        del f["index_json"]
        f["index_json"] = np.frombuffer(json.dumps(index).encode(), np.uint8)
    manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    entry = next(e for e in manifest["shards"] if e["file"] == f"shards/{shard.name}")
    entry["sha256"], entry["bytes"] = file_digest(shard)
    (root / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")


# ----------------------------------------------------------------------------- index count


def test_shards_with_skipped_samples_pass_the_count_check_and_are_reused(built, dataset):
    """Every planned sample of a shard's range is in its index, built or skipped (the plan's
    malformed line and reused id as well as the build's missing image): the count check
    takes all three shards, and a resumed build reuses them."""
    shards = sorted((dataset / "shards").glob("test-*.h5"))
    counts = [(len(index["records"]), len(index["errors"])) for index in map(_index, shards)]
    assert counts == [(2, 1), (1, 2), (1, 0)]
    for shard in shards:
        read_shard_records(shard)
    assert verify_dataset(dataset).ok
    (dataset / "dataset.json").unlink()
    summary = build_dataset(built[0], dataset, progress=False)
    assert (summary.shards_built, summary.shards_reused) == (0, 4)


@pytest.mark.parametrize("drop", ["records", "errors"])
def test_a_shard_index_missing_a_sample_is_named_with_the_counts(dataset, drop):
    """An index that lost a record or an error was taken as it was: verify compared the
    labels and a resumed build reused the shard, its missing sample gone from the dataset."""
    shard = dataset / "shards" / "test-00000.h5"
    index = _index(shard)
    index[drop] = index[drop][:-1]
    _set_index(dataset, shard, index)
    built, skipped = (1, 1) if drop == "records" else (2, 0)
    message = (
        f"shard {str(shard)!r} has a damaged index: it lists {built} built and {skipped} "
        f"skipped {'sample' if skipped == 1 else 'samples'}, 2 in all, but the shard covers "
        "the 3 samples 0 to 2 of its split; rebuild the dataset"
    )
    with pytest.raises(DatasetError) as info:
        read_shard_records(shard)
    assert str(info.value) == message
    assert verify_dataset(dataset).problems == [f"shards/test-00000.h5: cannot be read: {message}"]


def test_a_shard_index_with_an_extra_record_is_rebuilt_on_resume(built, dataset):
    shard = dataset / "shards" / "test-00001.h5"
    index = _index(shard)
    index["records"].append(dict(index["records"][0], id="test-000099"))
    _set_index(dataset, shard, index)
    with pytest.raises(DatasetError, match="lists 2 built and 2 skipped samples, 4 in all"):
        read_shard_records(shard)
    (dataset / "dataset.json").unlink()
    summary = build_dataset(built[0], dataset, progress=False)
    assert (summary.shards_built, summary.shards_reused) == (1, 3)
    assert shard.read_bytes() == (built[1] / "shards" / shard.name).read_bytes()
    assert verify_dataset(dataset).ok


# ----------------------------------------------------------------------------- by id


def test_a_sample_is_read_by_its_id(built):
    """Ids count planned samples, skipped ones included: test-000004 is the third sample."""
    ds = EventVQADataset(built[1], "test", transform=lambda s: (s["id"], s["answer"]))
    assert [r["id"] for r in ds.records] == [f"test-{k:06d}" for k in (0, 2, 4, 6)]
    assert ds.index_of("test-000004") == 2
    assert ds.by_id("test-000004") == ("test-000004", "d")
    assert ds.by_id("test-000000") == ds[0]
    assert EventVQADataset(built[1], "train").by_id("train-000000")["answer"] == "a"


def test_the_ids_are_read_once(built, monkeypatch):
    """Later lookups search the ids read by the first: no samples.jsonl line is decoded."""
    from eventsim.datasets.loader import SampleRecords

    ds = EventVQADataset(built[1], "test")
    assert ds.index_of("test-000006") == 3

    def no_decode(self, k):
        raise AssertionError("a record was decoded")

    monkeypatch.setattr(SampleRecords, "_decode", no_decode)
    assert [ds.index_of(f"test-{k:06d}") for k in (6, 0, 2, 4)] == [3, 0, 1, 2]
    # a DataLoader worker gets the ids with the dataset
    assert pickle.loads(pickle.dumps(ds)).index_of("test-000002") == 1


def _unknown(ds: EventVQADataset, sample_id: str) -> str:
    with pytest.raises(UnknownSampleError) as info:
        ds.by_id(sample_id)
    assert isinstance(info.value, KeyError) and isinstance(info.value, DatasetError)
    return str(info.value)


def test_an_unknown_id_names_the_id_the_count_and_close_ids(built):
    ds = EventVQADataset(built[1], "test")
    where = f"in split 'test' of {str(built[1])!r} (4 sample ids, test-000000 to test-000006)"
    assert _unknown(ds, "test-00004") == (
        f"no sample has id 'test-00004' {where}; did you mean 'test-000004' or 'test-000006' "
        "or 'test-000002'?"
    )
    assert _unknown(ds, "zebra") == f"no sample has id 'zebra' {where}"
    with pytest.raises(KeyError):
        ds.index_of("zebra")


def test_an_unknown_id_says_why_when_it_can(built):
    """A sample the build skipped, one of another split, and the split file's own id."""
    ds = EventVQADataset(built[1], "test")
    assert _unknown(ds, "test-000001").endswith(
        ": the build skipped it (malformed JSONL line 2: Expecting property name enclosed in "
        "double quotes; errors.jsonl)"
    )
    assert _unknown(ds, "train-000000").endswith(
        f": it names a sample of split 'train'; open that one with "
        f"EventVQADataset({str(built[1])!r}, split='train')"
    )
    assert _unknown(ds, "d").endswith(
        ": it is the split file's id of sample 'test-000004', read it with ds.by_id('test-000004')"
    )


def test_an_id_that_is_not_a_string_and_an_id_given_as_a_position(built):
    ds = EventVQADataset(built[1], "test")
    with pytest.raises(TypeError, match=r"got int 4; read a sample by position with ds\[i\]"):
        ds.by_id(4)
    # the message that showed how to find an id's position now names the lookup
    with pytest.raises(TypeError) as info:
        ds["test-000004"]
    assert str(info.value) == (
        "index must be an integer, got str 'test-000004': samples are read by position; read "
        "one by its id with ds.by_id('test-000004') (ds.index_of('test-000004') is its position)"
    )
