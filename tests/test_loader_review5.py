"""Findings of the fifth review of the dataset reading side: the loader with torch and tonic,
`eventsim info` and `verify`, on damaged, moved, unreadable and half-built datasets."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from eventsim.datasets import EventVQADataset
from eventsim.datasets.engine import _build_lock
from eventsim.errors import DatasetError


@pytest.fixture(scope="module")
def built(build_shapes) -> Path:
    """A 64x64 dataset of 3 test samples in 2 shards, 20 ms windows; not to be changed."""
    return build_shapes(3)


@pytest.fixture
def copy(built, tmp_path) -> Path:
    """A copy of `built` that a test may damage."""
    shutil.copytree(built, tmp_path / "ds")
    return tmp_path / "ds"


def test_the_documented_window_frames_give_the_asked_number_of_frames(built):
    tonic = pytest.importorskip("tonic")
    import eventsim.datasets.tonic_adapter as adapter

    # the recipe exactly as the adapter's docstring gives it
    recipe = re.search(
        r"``(ToFrame\(sensor_size=ds\.sensor_size, time_window=[^`]*\))``", adapter.__doc__
    )
    assert recipe is not None
    ds = adapter.TonicEventVQA(built)
    for i in range(len(ds)):
        events, target = ds[i]
        w0, w1 = target["meta"]["window_us"]
        assert w1 - w0 == 20_000
        # with end_time=w1, k = 3, 6, 7, 11, 12 gave one frame fewer (tonic's float arithmetic)
        for k in range(1, 13):
            to_frame = eval(recipe.group(1), {"ToFrame": tonic.transforms.ToFrame, "ds": ds, "w0": w0, "w1": w1, "k": k})  # fmt: skip
            frames = to_frame(events)
            assert frames.shape == (k, 2, 64, 64), k
            b = (events["t"] - w0) * k // (w1 - w0)
            for j in range(k):
                assert frames[j].sum() == np.count_nonzero(b == j), (k, j)


def test_a_dataset_being_built_is_not_called_interrupted(copy):
    # what a reader sees while `eventsim build` runs: its state file, no manifest yet
    (copy / "dataset.json").rename(copy / ".build-state.json")
    # the build's lock tells it running (tests/test_builder_round12.py)
    with _build_lock(copy), pytest.raises(DatasetError, match="unfinished build") as err:
        EventVQADataset(copy)
    assert "is running" in str(err.value) and "interrupted" not in str(err.value)


def test_verify_reports_an_unreadable_shard_and_checks_the_others(copy, monkeypatch):
    import errno

    import eventsim.datasets.inspection as inspection

    real = inspection.file_digest

    def bad_sector(path):
        if Path(path).name == "test-00000.h5":
            raise OSError(errno.EIO, "Input/output error")
        return real(path)

    # a read error of one shard stopped verify with a bare 'Input/output error' naming no file
    monkeypatch.setattr(inspection, "file_digest", bad_sector)
    (copy / "shards" / "test-00001.h5").unlink()
    report = inspection.verify_dataset(copy)
    assert report.problems == [
        "shards/test-00000.h5: cannot be read: Input/output error",
        "shards/test-00001.h5: missing",
    ]


def test_verify_reports_a_damaged_shard_an_older_build_has_no_checksum_for(copy):
    import json

    from eventsim.datasets import verify_dataset

    manifest = json.loads((copy / "dataset.json").read_text())
    for entry in manifest["shards"]:
        del entry["sha256"]
    (copy / "dataset.json").write_text(json.dumps(manifest))
    shard = copy / "shards" / "test-00000.h5"
    shard.write_bytes(bytes(shard.stat().st_size))
    report = verify_dataset(copy)  # raised DatasetError: cannot open shard
    assert len(report.problems) == 1
    assert report.problems[0].startswith("shards/test-00000.h5: cannot be read: cannot open shard")
    assert "no sha256 for 2 shards" in report.notes[-1]


def test_a_shard_that_fails_to_read_is_named(copy, monkeypatch):
    import errno

    import eventsim.datasets.loader as loader

    def bad_sector(path):
        raise OSError(errno.EIO, "Input/output error")

    # both raised the bare OSError, which names no shard (h5py's names no file either)
    monkeypatch.setattr(loader, "file_digest", bad_sector)
    with pytest.raises(DatasetError, match=r"shard '.*test-00000\.h5' cannot be read \(Input/output error\)"):  # fmt: skip
        EventVQADataset(copy)[0]
    monkeypatch.undo()

    def bad_chunk(group):
        raise OSError("Can't synchronously read data (filter returned failure during read)")

    monkeypatch.setattr(loader, "read_events", bad_chunk)
    ds = EventVQADataset(copy)
    with pytest.raises(DatasetError, match=r"sample test-000002 cannot be read from shard '.*test-00001\.h5' \(Can't synchronously read data"):  # fmt: skip
        ds[2]


def test_a_dataset_moved_or_being_rebuilt_while_open_is_named_so(copy):
    ds = EventVQADataset(copy)
    ds[0]  # opens the first shard only
    ds.close()
    moved = copy.with_name("moved")
    copy.rename(moved)
    # both said the shard could not be read and asked for a rebuild of a sound dataset
    with pytest.raises(DatasetError, match=r"is gone since the dataset was opened \(moved"):
        ds[2]
    moved.rename(copy)
    (copy / "dataset.json").rename(copy / ".build-state.json")
    (copy / "shards" / "test-00001.h5").unlink()
    with pytest.raises(DatasetError, match=r"lost its dataset\.json after it was opened"):
        ds[2]


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_a_preview_of_no_samples_is_refused_as_such(built, tmp_path, n):
    from eventsim.datasets import preview_dataset
    from eventsim.errors import ParameterError

    # n=0 said "split 'test' ... has no samples to preview" of a split of 3
    with pytest.raises(ParameterError, match=rf"n = {n!r}; expected the number of samples"):
        preview_dataset(built, tmp_path / "p.png", n=n)
    assert not (tmp_path / "p.png").exists()


def test_the_shards_folder_is_named_as_part_of_its_dataset(built, capsys):
    from eventsim.cli.info import main as info_main

    # said "is not a built dataset (no dataset.json); build one with 'eventsim build ...'"
    with pytest.raises(DatasetError, match=r"is a folder inside the dataset '.*ds'; pass"):
        EventVQADataset(built / "shards")
    assert info_main([str(built / "shards")]) == 1
    assert "is a folder inside the dataset" in capsys.readouterr().err


def test_collate_names_a_sample_a_transform_changed(built):
    from eventsim.datasets import collate_event_vqa

    ds = EventVQADataset(built)
    pair = EventVQADataset(built, transform=lambda s: (s["events"], s["answer_index"]))
    # was numpy's "only integer scalar arrays can be converted to a scalar index"
    with pytest.raises(TypeError, match=r"sample 0 of the batch is a tuple \(a transform"):
        collate_event_vqa([pair[0], pair[1]])
    a, b = ds[0], ds[1]
    del b["meta"]
    # was KeyError: 'meta'
    with pytest.raises(TypeError, match=r"sample 1 of the batch lacks 'meta', which sample 0 has"):
        collate_event_vqa([a, b])
    with pytest.raises(TypeError, match=r"sample 1 of the batch has 'meta', which sample 0 lacks"):
        collate_event_vqa([b, a])
    assert collate_event_vqa([ds[0], ds[1]])["image"].shape == (2, 64, 64, 3)


def test_a_dataset_folder_that_cannot_be_entered_is_a_dataset_error(built, monkeypatch):
    import errno

    real = Path.is_file

    def no_entry(self):
        if self.parent == built:
            # what stat says in a folder without execute permission for this user
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "is_file", no_entry)
    # was the bare PermissionError, which `except DatasetError` does not catch
    for given in (built, built / "dataset.json"):
        with pytest.raises(DatasetError, match=r"cannot read '.*ds/dataset\.json': Permission denied"):  # fmt: skip
            EventVQADataset(given)


def test_an_unreadable_samples_file_is_named_once(copy, monkeypatch):
    import errno

    real = Path.read_bytes

    def denied(self):
        if self.name == "samples.jsonl":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(DatasetError) as err:
        EventVQADataset(copy)
    # was "cannot read 'X': [Errno 13] Permission denied: 'X'"
    assert str(err.value) == f"cannot read {str(copy / 'samples.jsonl')!r}: Permission denied"


def test_verify_without_samples_file_says_so_once_and_still_checks_the_shards(copy):
    from eventsim.datasets import verify_dataset

    (copy / "samples.jsonl").unlink()
    shard = copy / "shards" / "test-00001.h5"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    report = verify_dataset(copy)
    # was 9 problems: every split and shard counted short, every sample "lacking" from the file
    assert len(report.problems) == 2, report.problems
    assert "samples.jsonl' is missing" in report.problems[0]
    assert report.problems[1] == "shards/test-00001.h5: checksum mismatch (file changed or damaged)"


def test_a_dataset_opened_by_a_relative_path_survives_a_change_of_directory(built, monkeypatch):
    monkeypatch.chdir(built.parent)
    ds = EventVQADataset("ds")
    first = ds[0]["id"]  # opens the first shard only
    monkeypatch.chdir(built / "shards")
    # the next shard was looked for under the new working directory
    assert [ds[i]["id"] for i in range(len(ds))] == [first, "test-000001", "test-000002"]
    assert ds.root == built


def test_what_the_adapter_says_of_tonics_time_bins_holds(built):
    tonic = pytest.importorskip("tonic")
    from eventsim.datasets import TonicEventVQA

    events, _ = TonicEventVQA(built)[0]
    frames = tonic.transforms.ToFrame(sensor_size=(64, 64, 2), n_time_bins=3)(events)
    t = events["t"]
    width = (t[-1] - t[0]) // 3
    # the last event, and those past k whole-µs bins, are in no frame
    assert frames.sum() == np.count_nonzero(t < t[0] + 3 * width) < len(events)


def test_verify_holds_samples_jsonl_as_bytes_not_a_dict_per_sample(copy):
    import json
    import tracemalloc

    from eventsim.datasets import verify_dataset

    # 8,000 more lines like the build's own (of a shard the manifest does not list)
    line = (copy / "samples.jsonl").read_text().splitlines()[0]
    rec = json.loads(line)
    rec["shard"] = "shards/other.h5"
    extra = "".join(
        json.dumps({**rec, "id": f"x-{k:06d}"}, ensure_ascii=False) + "\n" for k in range(8_000)
    )
    with open(copy / "samples.jsonl", "a", encoding="utf-8") as fh:
        fh.write(extra)
    size = (copy / "samples.jsonl").stat().st_size
    tracemalloc.start()
    try:
        report = verify_dataset(copy)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "samples.jsonl refers to shards/other.h5, which the manifest does not list" in (
        report.problems
    )
    # was about 7x: the file's text, its lines and a dict per sample, all at once
    assert peak < 2.5 * size, (peak, size)


def test_the_tonic_dataset_says_what_it_holds(built):
    pytest.importorskip("tonic")
    from eventsim.datasets import TonicEventVQA

    # was 'TonicEventVQA', tonic's repr of every dataset
    assert (
        repr(TonicEventVQA(built))
        == f"TonicEventVQA({str(built)!r}, split='test', n=3, sensor=64x64)"
    )


def test_reading_a_sample_by_its_id_says_how(built):
    ds = EventVQADataset(built)
    with pytest.raises(TypeError, match=r"got str 'test-000002': samples are read by position"):
        ds["test-000002"]
    # the way the message gives
    assert ds[[r["id"] for r in ds.records].index("test-000002")]["id"] == "test-000002"


def test_the_package_star_imports_without_tonic(built):
    import subprocess
    import sys

    script = f"""
import sys
sys.modules["tonic"] = None  # as if the extra were not installed
from eventsim.datasets import *
from eventsim.errors import MissingDependencyError
assert EventVQADataset({str(built)!r})[0]["id"] == "test-000000"
try:
    TonicEventVQA({str(built)!r})
except MissingDependencyError as exc:
    print(exc)
"""
    # the star import raised MissingDependencyError: TonicEventVQA is in __all__
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "pip install 'eventsim[tonic]'" in done.stdout
