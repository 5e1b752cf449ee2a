"""EventVQADataset keeps a split's records as arrays (tools/bench_loader.py measures why); these
tests check that the records, the samples and worker use behave as they did with a list of dicts,
and the ``locking`` option of shard opening."""

import gc
import json
import pickle

import h5py
import numpy as np
import pytest

from eventsim.datasets import EventVQADataset, collate_event_vqa
from eventsim.datasets.loader import SampleRecords, read_manifest, read_samples
from eventsim.errors import DatasetError, ParameterError


@pytest.fixture(scope="module")
def built(tmp_path_factory, shapes_recipe):
    """Two splits (train 3, test 5) in shards of 2, so records of the splits interleave."""
    from eventsim.cli import main as eventsim_main

    root = tmp_path_factory.mktemp("mem")
    recipe = shapes_recipe(root / "r.toml", train=3, test=5, shard=2)
    assert eventsim_main(["build", str(recipe), "-o", str(root / "ds"), "--no-progress"]) == 0
    return root / "ds"


def _old_records(root, split):
    # what the loader kept before: the split's lines of samples.jsonl as a list of dicts
    return [r for r in read_samples(root, read_manifest(root)) if r["split"] == split]


def _same_sample(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key])
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("split", ["train", "test"])
def test_records_view_equals_the_old_list_of_dicts(built, split):
    old = _old_records(built, split)
    records = EventVQADataset(built, split).records
    assert len(records) == len(old) == {"train": 3, "test": 5}[split]
    assert {r["split"] for r in records} == {split}
    assert list(records) == old and records == old
    assert records[-1] == old[-1] and records[1:4] == old[1:4] and records[::-2] == old[::-2]
    assert records == EventVQADataset(built, split).records
    assert records != old[:-1]
    assert [i for i, r in enumerate(records) if r["n_events"]] == [
        i for i, r in enumerate(old) if r["n_events"]
    ]
    with pytest.raises(IndexError):
        records[len(old)]
    with pytest.raises(IndexError):
        records[-len(old) - 1]


def test_records_hold_no_python_object_per_sample(built):
    records = EventVQADataset(built, "test").records
    assert isinstance(records, SampleRecords)
    held = [x for x in gc.get_referents(records) if not isinstance(x, type)]
    assert held and all(isinstance(x, np.ndarray) for x in held)


def test_edits_to_a_record_or_a_sample_do_not_leak_into_later_reads(built):
    def vandal(sample):
        sample["choices"].append("zzz")
        sample["meta"]["objects"].clear()
        sample["meta"]["source"]["kind"] = "edited"
        return sample

    clean = EventVQADataset(built, "test")
    edited = EventVQADataset(built, "test", transform=vandal)
    first = clean[2]
    for _ in range(2):
        got = edited[2]
        assert got["choices"] == first["choices"] + ["zzz"]
        assert got["meta"]["source"]["kind"] == "edited"
    rec = clean.records[2]
    rec["question"] = "edited"
    rec["meta"]["objects"] = []
    assert clean.records[2]["question"] == first["question"]
    assert clean.records[2]["meta"]["objects"] == first["meta"]["objects"]
    _same_sample(clean[2], first)


def test_pickled_dataset_reads_the_same_samples(built):
    ds = EventVQADataset(built, "test")
    expected = [ds[i] for i in range(len(ds))]
    clone = pickle.loads(pickle.dumps(ds))
    assert clone.records == ds.records and len(clone) == len(ds)
    for i, sample in enumerate(expected):
        _same_sample(clone[i], sample)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers_give_the_same_samples(built, context):
    tud = pytest.importorskip("torch.utils.data")
    ds = EventVQADataset(built, "test")
    expected = collate_event_vqa([ds[i] for i in range(len(ds))])
    workers = 2 if context == "fork" else 1  # a spawned worker imports torch: one is enough
    loader = tud.DataLoader(
        ds,
        batch_size=2,
        num_workers=workers,
        collate_fn=collate_event_vqa,
        multiprocessing_context=context,
    )
    batches = list(loader)
    assert [i for b in batches for i in b["id"]] == expected["id"]
    assert [q for b in batches for q in b["question"]] == expected["question"]
    assert [m for b in batches for m in b["meta"]] == expected["meta"]
    assert np.array_equal(np.concatenate([b["image"] for b in batches]), expected["image"])
    for got, want in zip([e for b in batches for e in b["events"]], expected["events"]):
        assert np.array_equal(got, want)


def test_a_line_that_is_not_a_record_is_refused(tmp_path, built):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(built, root)
    manifest = json.loads((root / "dataset.json").read_text())
    manifest.pop("samples_sha256")
    (root / "dataset.json").write_text(json.dumps(manifest))
    lines = (root / "samples.jsonl").read_text().splitlines()
    (root / "samples.jsonl").write_text("\n".join([*lines[:2], "[1, 2]", *lines[2:]]) + "\n")
    with pytest.raises(DatasetError, match="line 3 is not a sample record"):
        EventVQADataset(root, "test")
    (root / "samples.jsonl").write_text("\n".join([*lines[:2], "{oops", *lines[2:]]) + "\n")
    with pytest.raises(DatasetError, match="line 3"):
        EventVQADataset(root, "test")


def _record_opens(monkeypatch):
    calls = []
    real = h5py.File

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(h5py, "File", spy)
    return calls


def test_shards_open_without_file_locking_when_asked(built, monkeypatch):
    # HDF5 opens a file once per process: each dataset is closed before one with another
    # locking setting opens the same shard
    with EventVQADataset(built, "test") as ref:
        reference = ref[3]
    calls = _record_opens(monkeypatch)
    with EventVQADataset(built, "test", locking=False) as ds:
        _same_sample(ds[3], reference)
        assert calls and all(c.get("locking") is False for c in calls)
        calls.clear()
        with pickle.loads(pickle.dumps(ds)) as clone:
            _same_sample(clone[3], reference)
        assert calls and all(c.get("locking") is False for c in calls)
    calls.clear()
    with EventVQADataset(built, "test") as ds:
        _same_sample(ds[3], reference)
    assert calls and all("locking" not in c for c in calls)


def test_two_locking_settings_on_one_open_shard_are_explained(built):
    with (
        EventVQADataset(built, "test") as locked,
        EventVQADataset(built, "test", locking=False) as free,
    ):
        locked[0]
        with pytest.raises(DatasetError, match="already has it open with another locking"):
            free[0]


def test_a_locking_failure_names_the_option(built, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(
            "Unable to synchronously open file (unable to lock file, errno = 37, "
            "error message = 'No locks available')"
        )

    monkeypatch.setattr(h5py, "File", refuse)
    with pytest.raises(DatasetError, match=r"locking=False"):
        EventVQADataset(built, "test")[0]
    with pytest.raises(DatasetError, match="unable to lock file") as info:
        EventVQADataset(built, "test", locking=False)[0]
    assert "locking=False" not in str(info.value)


def test_locking_takes_only_what_h5py_takes(built):
    with pytest.raises(ParameterError, match="'no'"):
        EventVQADataset(built, "test", locking="no")
    assert len(EventVQADataset(built, "test", locking="best-effort")) == 5
    for word in ("true", "false"):
        assert len(EventVQADataset(built, "test", locking=word)) == 5
    with pytest.raises(ParameterError, match="got 0"):
        EventVQADataset(built, "test", locking=0)


def test_tonic_adapter_passes_locking_on(built, monkeypatch):
    pytest.importorskip("tonic")
    from eventsim.datasets import TonicEventVQA

    calls = _record_opens(monkeypatch)
    with TonicEventVQA(built, "test", locking=False) as ds:
        events, target = ds[1]
        assert ds.records[1]["id"] == target["id"] and len(events) == ds.records[1]["n_events"]
    assert calls and all(c.get("locking") is False for c in calls)
