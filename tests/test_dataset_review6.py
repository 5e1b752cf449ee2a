"""Sixth review of the dataset builder and loader: a shard index that lists another number of
samples than its range holds, and reading a sample by its id."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from eventsim.datasets import build_dataset, verify_dataset
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
    recipe = root / "img.toml"
    recipe.write_text(
        '[dataset]\nname = "review6"\n[source]\nkind = "image"\n[camera]\nwidth = 64\n'
        'height = 48\n[events]\nwindow_ms = 10\n[splits]\ntest = "qa.jsonl"\n'
        "[build]\nshard_size = 3\n"
    )
    summary = build_dataset(recipe, root / "ds", progress=False)
    assert (summary.samples, summary.errors) == ({"test": 4}, {"test": 3})
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
    counts = [
        (len(index["records"]), len(index["errors"]))
        for index in map(_index, sorted((dataset / "shards").glob("*.h5")))
    ]
    assert counts == [(2, 1), (1, 2), (1, 0)]
    for shard in sorted((dataset / "shards").glob("*.h5")):
        read_shard_records(shard)
    assert verify_dataset(dataset).ok
    (dataset / "dataset.json").unlink()
    summary = build_dataset(built[0], dataset, progress=False)
    assert (summary.shards_built, summary.shards_reused) == (0, 3)


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
    assert (summary.shards_built, summary.shards_reused) == (1, 2)
    assert shard.read_bytes() == (built[1] / "shards" / shard.name).read_bytes()
    assert verify_dataset(dataset).ok
