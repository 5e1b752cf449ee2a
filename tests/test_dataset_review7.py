"""Seventh review of the dataset loader, shards and verify: lookups by id that decode no line,
and damaged shards (truncated, columns of two lengths, unreadable attributes, missing frames)
that gave a wrong hint, numpy's or h5py's bare errors, or left the shard open."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import h5py
import pytest

from eventsim.datasets import EventVQADataset, verify_dataset
from eventsim.datasets import loader as loader_module
from eventsim.datasets.inspection import preview_dataset
from eventsim.datasets.loader import SampleRecords
from eventsim.datasets.questions import answers_an_option
from eventsim.datasets.shards import open_shard
from eventsim.errors import DatasetError


@pytest.fixture(scope="module")
def built(build_shapes) -> Path:
    """4 test samples in two shards of 2."""
    return build_shapes(4)


def _copy(built: Path, tmp_path: Path, *, checksums: bool = True) -> Path:
    """A copy of the dataset; without ``checksums`` its dataset.json records no sha256 (as an
    older build's did), so damaged shards reach the readers."""
    root = Path(shutil.copytree(built, tmp_path / "ds"))
    if not checksums:
        manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
        for entry in manifest["shards"]:
            entry.pop("sha256")
        (root / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


def _edit_shard(root: Path, edit) -> Path:
    """Apply ``edit`` to the first shard of ``root`` opened for writing, and record its new
    size in dataset.json (a checksum-less build is checked by size only)."""
    path = root / "shards" / "test-00000.h5"
    with h5py.File(path, "a") as f:
        edit(f)
    manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    manifest["shards"][0]["bytes"] = path.stat().st_size
    (root / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    return path


def _open_files(under: Path) -> list[str]:
    """The HDF5 files under ``under`` this process holds open."""
    names = [fid.name.decode() for fid in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE)]
    return [n for n in names if Path(n).is_relative_to(under)]


# ----------------------------------------------------------------------------- lookups by id


def test_the_first_lookup_by_id_decodes_no_line_and_reads_no_payload(built, monkeypatch):
    """The first by_id/index_of decoded every samples.jsonl line of the split to learn its ids
    (0.7 s per 100,000, once per process and DataLoader worker); the ids now come from the
    decoding the opening does anyway. by_id decodes the one line, frame and events it reads."""
    ds = EventVQADataset(built, "test")
    decoded: list[int] = []
    payloads: list[str] = []
    real_decode = SampleRecords._decode
    real_events = loader_module.read_events

    def counting_decode(self, k):
        decoded.append(k)
        return real_decode(self, k)

    def counting_events(group):
        payloads.append(group.name)
        return real_events(group)

    monkeypatch.setattr(SampleRecords, "_decode", counting_decode)
    monkeypatch.setattr(loader_module, "read_events", counting_events)
    assert [ds.index_of(f"test-{k:06d}") for k in (3, 0, 2, 1)] == [3, 0, 2, 1]
    assert decoded == [] and payloads == []
    # a DataLoader worker gets the ids with the dataset
    assert pickle.loads(pickle.dumps(ds)).index_of("test-000002") == 2
    assert decoded == []
    sample = ds.by_id("test-000002")
    assert sample["id"] == "test-000002" and decoded == [2] and payloads == ["/samples/00000"]
    with pytest.raises(loader_module.UnknownSampleError, match="did you mean 'test-000002'"):
        ds.index_of("test-2")


# ----------------------------------------------------------------------------- damaged shards


def test_a_truncated_shard_is_not_blamed_on_file_locking(built, tmp_path):
    """HDF5's error for a truncated file names the superblock ('sblock->base_addr'): its
    'lock' sent the reader to the NFS and HDF5_USE_FILE_LOCKING advice."""
    root = _copy(built, tmp_path, checksums=False)
    shard = root / "shards" / "test-00000.h5"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    for read in (lambda: open_shard(shard), lambda: EventVQADataset(root)[0]):
        with pytest.raises(DatasetError) as info:
            read()
        message = str(info.value)
        assert "truncated file" in message and str(shard) in message
        assert "NFS" not in message and "HDF5_USE_FILE_LOCKING" not in message, message


def test_a_shard_that_cannot_be_locked_still_gets_the_locking_advice(built, monkeypatch):
    def refused(*args, **kwargs):
        raise OSError(
            "Unable to synchronously open file (unable to lock file, errno = 37, error "
            "message = 'No locks available')"
        )

    monkeypatch.setattr(h5py, "File", refused)
    with pytest.raises(DatasetError, match=r"locking=False\) or set HDF5_USE_FILE_LOCKING"):
        open_shard(built / "shards" / "test-00000.h5")


def test_event_columns_of_two_lengths_name_the_sample(built, tmp_path):
    """numpy's 'could not broadcast input array from shape (211,) into shape (212,)' came out
    of ds[i] naming neither shard nor sample, and stopped eventsim verify as an internal
    error."""
    root = _copy(built, tmp_path, checksums=False)

    def shorten_x(f):
        events = f["samples/00000/events"]
        x = events["x"][()]
        del events["x"]
        events.create_dataset("x", data=x[:-1])

    _edit_shard(root, shorten_x)
    n = EventVQADataset(built)[0]["events"].size
    with pytest.raises(DatasetError) as info:
        EventVQADataset(root)[0]
    assert str(info.value).startswith(
        f"sample test-000000 cannot be read from shard {str(root / 'shards/test-00000.h5')!r} "
        f"(the event columns of '/samples/00000' are not of one length (x {n - 1}, y {n}, "
        f"t {n}, p {n}): the shard was changed or damaged); see what else is damaged before "
        "rebuilding the dataset: eventsim verify "
    )
    report = verify_dataset(root)
    assert report.problems == [
        f"test-000000 (shards/test-00000.h5:samples/00000): cannot be read: the event columns "
        f"of '/samples/00000' are not of one length (x {n - 1}, y {n}, t {n}, p {n}): the "
        "shard was changed or damaged"
    ]


def test_verify_reports_a_sample_it_cannot_read_and_checks_the_rest(built, tmp_path):
    """A sample without its frame raised h5py's KeyError out of verify_dataset ('eventsim
    verify: internal error'); it is now one problem, and the shard's other sample is still
    checked."""
    root = _copy(built, tmp_path, checksums=False)

    def damage(f):
        del f["samples/00000/frame"]
        f["samples/00001"].attrs["id"] = "zzz"

    _edit_shard(root, damage)
    first, second = verify_dataset(root).problems
    assert first.startswith(
        "test-000000 (shards/test-00000.h5:samples/00000): cannot be read: Unable to "
    )
    assert "'frame' doesn't exist" in first
    assert second == "test-000001 (shards/test-00000.h5:samples/00001): stored id 'zzz' differs"


def test_verify_reports_hdf5s_runtime_errors_as_a_problem(built, tmp_path, monkeypatch):
    """A damaged symbol table made h5py raise RuntimeError ('unknown symbol table entry cache
    type') from the group lookup: found by flipping bytes of a shard."""
    root = _copy(built, tmp_path)
    real = h5py.Group.__contains__

    def damaged(self, name):
        if name == "samples/00001" and self.file.filename.endswith("test-00000.h5"):
            raise RuntimeError(
                "Unable to synchronously check link existence (unknown symbol table entry "
                "cache type)"
            )
        return real(self, name)

    monkeypatch.setattr(h5py.Group, "__contains__", damaged)
    assert verify_dataset(root).problems == [
        "test-000001 (shards/test-00000.h5:samples/00001): cannot be read: Unable to "
        "synchronously check link existence (unknown symbol table entry cache type)"
    ]


def test_an_unreadable_format_version_is_refused_naming_the_shard_and_closes_it(built, tmp_path):
    """A damaged global heap object (where the format_version string lives) raised h5py's
    OSError 'Can't synchronously read data' out of open_shard, naming no file, and left the
    file open."""
    root = _copy(built, tmp_path, checksums=False)
    shard = root / "shards" / "test-00000.h5"
    data = bytearray(shard.read_bytes())
    # the heap object's size field, then its bytes: "1.0"
    at = bytes(data).find((3).to_bytes(8, "little") + b"1.0")
    assert at > 0
    data[at] = 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=f"^cannot read shard {str(shard)!r}: Can't"):
        open_shard(shard)
    assert _open_files(tmp_path) == []
    with pytest.raises(DatasetError, match=f"cannot read shard {str(shard)!r}"):
        EventVQADataset(root)[0]
    assert _open_files(tmp_path) == []


def test_an_unreadable_sensor_attribute_closes_the_shard(built, tmp_path, monkeypatch):
    root = _copy(built, tmp_path)
    real = h5py.AttributeManager.__getitem__

    def damaged(self, name):
        if name == "sensor_width":
            raise OSError("Can't synchronously read data (Expected global heap object size)")
        return real(self, name)

    monkeypatch.setattr(h5py.AttributeManager, "__getitem__", damaged)
    ds = EventVQADataset(root)
    with pytest.raises(DatasetError) as info:
        ds[0]
    assert str(info.value).startswith(
        f"cannot read shard {str(root / 'shards/test-00000.h5')!r} (Can't synchronously read "
    )
    assert _open_files(tmp_path) == []


def test_changed_labels_are_named_past_a_shard_whose_index_is_gone(built, tmp_path):
    """Naming the first changed label read every shard's own copy of the labels: a shard
    whose index could not be read raised its own error, and the changed samples.jsonl went
    unmentioned."""
    root = _copy(built, tmp_path)
    _edit_shard(root, lambda f: f.__delitem__("index_json"))
    path = root / "samples.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    record = json.loads(lines[3])
    assert record["shard"] == "shards/test-00001.h5"
    lines[3] = json.dumps({**record, "answer_index": 9}, sort_keys=True) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        EventVQADataset(root)
    assert str(info.value) == (
        f"{str(path)!r} was changed after the build: sample test-000003: answer_index is 9, "
        f"the build wrote {record['answer_index']}; rebuild the dataset or restore the file"
    )


def test_a_failed_preview_closes_the_shards(built, tmp_path, monkeypatch):
    """preview_dataset closed its dataset only when every tile was drawn: a failure left the
    shard open for as long as its traceback lived."""
    import eventsim.render

    root = _copy(built, tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(eventsim.render, "overlay_events", broken)
    with pytest.raises(RuntimeError, match="drawing failed") as info:
        preview_dataset(root, tmp_path / "p.png")
    assert info.value.__traceback__ is not None  # the frames that held the dataset live on
    assert _open_files(tmp_path) == []


# ----------------------------------------------------------------------------- questions


@pytest.mark.parametrize("answer", ["C", "c", "(C)", "C.", "C)", "C.)", ".C", "(C", " (c). "])
def test_a_letter_the_scorer_takes_is_labelled_multiple_choice(answer):
    """The builder's label and epvlm's scorer read a reference letter alike: 'C.)' and '.C'
    were scored as option C but labelled open questions."""
    from epvlm.answers import reference_index

    question = "Which way does it face?\nA. Left\nB. Straight\nC. Right"
    options = ["Left", "Straight", "Right"]
    assert reference_index(answer, options) == 2
    assert answers_an_option(question, answer)


def test_an_answer_that_is_no_letter_of_the_options_is_not_one():
    question = "Which way does it face?\nA. Left\nB. Right"
    # ("Left", an option's text, is one: tests/test_answers_review7.py)
    for answer in ["C", "AB", "", "(", "Up", "A B"]:
        assert not answers_an_option(question, answer), answer
