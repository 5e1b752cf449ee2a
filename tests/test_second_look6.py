"""A second look at review 6's changes: looking a sample up by its id in a large split (a long
or mistyped id, the suggestions' cost), and the file cache a cgroup's memory limit can take
back. (Its tests of abbreviations whose values hold a space went when the CLI stopped taking
abbreviations: tests/test_cli_round10.py.)"""

from __future__ import annotations

import bisect
import hashlib
import json
import shutil
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.datasets import EventVQADataset, UnknownSampleError, build_dataset
from eventsim.datasets import loader as loader_module
from eventsim.datasets.loader import SampleRecords, _insertion_point

from user_media import textured

# ----------------------------------------------------------------------------- lookups by id

# source ids that JSON writes escaped (a line break) or as UTF-8 (non-ASCII)
_SOURCE_IDS = ["a", "café", "x\u2028y", "d"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("second_look6")
    cv2.imwrite(str(root / "a.png"), textured(1, 64, 48))
    (root / "qa.jsonl").write_text(
        "".join(
            json.dumps({"id": sid, "image": "a.png", "question": "What is it?", "answer": "x"})
            + "\n"
            for sid in _SOURCE_IDS
        ),
        encoding="utf-8",
    )
    recipe = root / "img.toml"
    recipe.write_text(
        '[dataset]\nname = "second-look6"\n[source]\nkind = "image"\n[camera]\nwidth = 64\n'
        'height = 48\n[events]\nwindow_ms = 10\n[splits]\ntest = "qa.jsonl"\n'
    )
    build_dataset(recipe, root / "ds", progress=False)
    return root / "ds"


@pytest.fixture(scope="module")
def large(built, tmp_path_factory) -> Path:
    """The dataset with its split's samples.jsonl grown to 20,000 records (copies of the
    first, ids test-000000...; samples.jsonl's sha256 in dataset.json to match): lookups by
    id read samples.jsonl alone."""
    root = Path(shutil.copytree(built, tmp_path_factory.mktemp("large") / "ds"))
    first = json.loads((built / "samples.jsonl").read_text(encoding="utf-8").splitlines()[0])
    data = "".join(
        json.dumps(
            {
                **first,
                "id": f"test-{k:06d}",
                "index": k,
                "source": {**first["source"], "source_id": f"img_{k:07d}"},
            },
            sort_keys=True,
        )
        + "\n"
        for k in range(20_000)
    ).encode()
    (root / "samples.jsonl").write_bytes(data)
    manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    manifest["samples_sha256"] = hashlib.sha256(data).hexdigest()
    (root / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


def test_a_long_id_is_searched_for_without_widening_every_id():
    """numpy's searchsorted widened a copy of the whole sorted id array to the length of the
    id looked up: an id one digit too long copied 45 MiB of a 1M-id split, and a pasted
    100,000-character text raised numpy's MemoryError (37 GiB) instead of UnknownSampleError."""
    held = sorted(f"test-{k:06d}" for k in range(0, 2000, 2))
    ids = np.array(held)
    for text in ["", "test-000042", "test-000043", "test-0000042", "test-00004", "test-001998x"]:
        assert _insertion_point(ids, text) == bisect.bisect_left(held, text), text
    assert _insertion_point(ids, "u" * 30) == len(held)
    long_text = "test-000042" + "9" * 20_000  # widened, 1000 copies of 20,000 characters
    tracemalloc.start()
    try:
        assert _insertion_point(ids, long_text) == bisect.bisect_left(held, long_text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_an_id_one_digit_too_long_is_unknown_and_its_number_suggested(built):
    ds = EventVQADataset(built, "test")
    with pytest.raises(UnknownSampleError) as info:
        ds.index_of("test-0000002")
    assert "(4 sample ids, test-000000 to test-000003); did you mean 'test-000002' or " in str(
        info.value
    )
    with pytest.raises(UnknownSampleError, match=r"^no sample has id 'xxxxx"):
        ds.index_of("x" * 100_000)


def test_suggestions_for_a_large_split_compare_a_bounded_number_of_ids(large, monkeypatch):
    """difflib compared the unknown id with every id of the split: 1-2 s for 100,000 ids (and
    its ties then went to the largest ids: 'test-00004' got test-090004, test-080004...). A
    split of over 10,000 ids offers it the ids beside the unknown one in sorted order, and the
    split's id with the number the unknown one ends in comes first."""
    ds = EventVQADataset(large, "test")
    assert ds.index_of("test-019999") == 19_999
    sizes: list[int] = []
    real = loader_module.difflib.get_close_matches

    def counted(word, possibilities, *args, **kwargs):
        sizes.append(len(possibilities))
        return real(word, possibilities, *args, **kwargs)

    monkeypatch.setattr(loader_module.difflib, "get_close_matches", counted)
    for typed in ("test-00004", "tset-012345", "test-0000042"):
        with pytest.raises(UnknownSampleError) as info:
            ds.by_id(typed)
        number = int(typed.rpartition("-")[2])
        assert f"; did you mean 'test-{number:06d}'" in str(info.value), typed
    assert sizes and max(sizes) <= 100


def test_the_split_files_id_is_found_decoding_only_the_lines_that_hold_it(large, monkeypatch):
    """Naming the sample an unknown id is the split file's id of decoded every line of the
    split for each unknown id (seconds for a million)."""
    ds = EventVQADataset(large, "test")
    ds.index_of("test-000000")  # the id table is read once, decoding every line
    decoded: list[int] = []
    real = SampleRecords._decode

    def counting(self, k):
        decoded.append(k)
        return real(self, k)

    monkeypatch.setattr(SampleRecords, "_decode", counting)
    with pytest.raises(UnknownSampleError) as info:
        ds.by_id("img_0012345")
    assert str(info.value).endswith(
        ": it is the split file's id of sample 'test-012345', read it with ds.by_id('test-012345')"
    )
    assert decoded == [12_345]
    with pytest.raises(UnknownSampleError):
        ds.by_id("img_9999999")
    assert decoded == [12_345]


def test_split_file_ids_written_as_utf8_or_escaped_are_still_found(built):
    ds = EventVQADataset(built, "test")
    for k, source_id in enumerate(_SOURCE_IDS):
        with pytest.raises(UnknownSampleError) as info:
            ds.index_of(source_id)
        assert str(info.value).endswith(f"read it with ds.by_id('test-{k:06d}')"), source_id
    # a lone surrogate (no UTF-8 text holds one) is an unknown id too
    with pytest.raises(UnknownSampleError):
        ds.index_of("test-\udcff")


# ----------------------------------------------------------------------------- cgroup memory

GIB = 1 << 30


def _write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


@pytest.mark.parametrize("v2", [True, False])
def test_the_cgroup_room_leaves_out_active_file_cache_too(tmp_path, v2):
    """The kernel reclaims a group's active file pages as well as its inactive ones before it
    kills a process for the limit (and psutil's 'available' counts both as free): counting the
    active ones as used refused sensors that fit a container that had read its input twice."""
    from eventsim._system import cgroup_memory_room

    if v2:
        text, folder = "0::/job\n", tmp_path / "job"
        names = ("memory.max", "memory.current", "")
    else:
        text, folder = "4:memory:/job\n", tmp_path / "memory" / "job"
        names = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_")
    limit, usage, prefix = names
    stat = f"{prefix}active_file {GIB}\n{prefix}inactive_file {GIB // 2}\n"
    if not v2:  # v1 also lists the group's own pages, without its children's
        stat += f"active_file 1\ninactive_file 2\n{prefix}shmem {GIB}\n"
    else:
        stat += f"shmem {GIB}\nfile {3 * GIB}\n"
    _write(folder, {limit: f"{4 * GIB}\n", usage: f"{3 * GIB}\n", "memory.stat": stat})
    # 3 GiB in use, 1.5 GiB of it file cache the kernel takes back: 2.5 GiB of room
    assert cgroup_memory_room(text, tmp_path) == 2 * GIB + GIB // 2


def test_a_dataset_root_with_a_tilde_is_the_users_home(monkeypatch, build_shapes):
    from eventsim.datasets import EventVQADataset

    root = build_shapes(2)
    monkeypatch.setenv("HOME", str(root.parent))
    ds = EventVQADataset("~/ds", split="test")
    assert ds.root == root.resolve() and len(ds) == len(EventVQADataset(root, split="test"))


def test_collate_names_tonic_pairs_and_what_to_use_instead(build_shapes):
    pytest.importorskip("tonic")
    from eventsim.datasets import TonicEventVQA, collate_event_vqa

    root = build_shapes(2)
    items = [TonicEventVQA(root, split="test")[i] for i in range(2)]
    with pytest.raises(TypeError, match=r"TonicEventVQA's \(events, target\) pair.*PadTensors"):
        collate_event_vqa(items)
