"""Follow-ups to the fifth review of reading built datasets: the one format-version rule of
dataset.json and the shards, a dataset finished again while a reader opens it, a shard whose
index is malformed, and the byte-order mark in samples.jsonl."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from eventsim.datasets import EventVQADataset, build_dataset, read_manifest, verify_dataset
from eventsim.datasets.shards import file_digest
from eventsim.errors import DatasetError


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """A recipe and the dataset it builds: 4 test samples in two shards."""
    root = tmp_path_factory.mktemp("f5d")
    recipe = root / "shapes.toml"
    recipe.write_text(
        '[dataset]\nname = "f5d"\n[source]\nkind = "shapes"\nobject_size_px = [8, 12]\n'
        "target_size_px = [8, 12]\n[camera]\nwidth = 64\nheight = 48\n[events]\nwindow_ms = 20\n"
        "[splits]\ntest = 4\n[build]\nshard_size = 2\n"
    )
    build_dataset(recipe, root / "ds", progress=False)
    return recipe, root / "ds"


@pytest.fixture(scope="module")
def other_build(built) -> Path:
    """The dataset of ``built``'s recipe with another seed: other samples.jsonl bytes."""
    recipe = built[0].with_name("seeded.toml")
    recipe.write_text(built[0].read_text().replace("[source]", "seed = 7\n[source]"))
    out = built[0].parent / "other"
    build_dataset(recipe, out, progress=False)
    return out


@pytest.fixture
def dataset(built, tmp_path) -> Path:
    return Path(shutil.copytree(built[1], tmp_path / "ds"))


def _edit_manifest(root: Path, **fields: object) -> None:
    manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    manifest.update(fields)
    (root / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")


def _set_shard_version(root: Path, version: str) -> Path:
    """Give the first shard another format_version and record its new bytes in dataset.json,
    as a build would have (so its sha256 check passes)."""
    shard = root / "shards" / "test-00000.h5"
    with h5py.File(shard, "r+") as f:
        f.attrs["format_version"] = version
    manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    manifest["shards"][0]["sha256"], manifest["shards"][0]["bytes"] = file_digest(shard)
    (root / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    return shard


# ----------------------------------------------------------------------------- format version


@pytest.mark.parametrize("version", ["1.2.3", "1.0.0", "1.10"])
def test_a_later_patch_level_of_the_same_major_version_is_read(dataset, version):
    """'1.2.3' was refused as unknown, in dataset.json and in a shard, though its major
    version is the one read: a later release's minor and patch versions only add."""
    _edit_manifest(dataset, format_version=version)
    _set_shard_version(dataset, version)
    assert read_manifest(dataset)["format_version"] == version
    assert EventVQADataset(dataset, "test")[0]["id"] == "test-000000"
    assert verify_dataset(dataset).ok


@pytest.mark.parametrize("version", ["1.\u0663", "1.\u00b2", "1.2.", "1..2", "1.2.x"])
def test_dataset_json_and_shards_refuse_the_same_non_versions(dataset, version):
    """The two copies of the rule took any str.isdigit() minor: a superscript or another
    script's digit passed for a version."""
    _edit_manifest(dataset, format_version=version)
    with pytest.raises(DatasetError) as info:
        read_manifest(dataset)
    assert str(info.value) == (
        f"{str(dataset / 'dataset.json')!r} has format version {version!r}; this eventsim "
        "reads version 1.x (it writes 1.0): read it with the eventsim that built it, or "
        "rebuild the dataset"
    )
    _edit_manifest(dataset, format_version="1.0")
    shard = _set_shard_version(dataset, version)
    with pytest.raises(DatasetError) as info:
        EventVQADataset(dataset, "test")[0]
    assert str(info.value) == (
        f"shard {str(shard)!r} has format version {version!r}; this eventsim reads shard "
        "format version 1.x (it writes 1.0): read it with the eventsim that built it, or "
        "rebuild the dataset"
    )


def test_reading_a_dataset_does_not_import_the_build_engine(dataset):
    """The loader imported the engine (and with it what a build needs) for its format
    version alone."""
    code = (
        "import sys\n"
        "from eventsim.datasets import EventVQADataset\n"
        f"EventVQADataset({str(dataset)!r}, 'test')[0]\n"
        "print('eventsim.datasets.engine' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# ----------------------------------------------------------------------------- finished again


def _finish_again(root: Path, build: Path) -> None:
    """Put ``build``'s files in ``root`` as finishing it again does: shards first, then
    samples.jsonl, errors.jsonl and dataset.json renamed into place in that order."""
    for src in [*sorted((build / "shards").iterdir()), *(build / n for n in _FINISHED)]:
        dst = root / src.relative_to(build)
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)


_FINISHED = ("samples.jsonl", "errors.jsonl", "dataset.json")


def _straddling_reads(monkeypatch, root: Path, builds: list[Path], times: int) -> list[str]:
    """Make the first ``times`` reads of ``root``'s dataset.json each followed by the
    dataset being finished again with the next of ``builds`` (in turn), before the reader
    goes on to samples.jsonl; returns the list that records each read's samples_sha256."""
    from eventsim.datasets import inspection, loader

    real = loader.read_manifest
    seen: list[str] = []

    def read_manifest(path):
        manifest = real(path)
        seen.append(manifest["samples_sha256"])
        if len(seen) <= times:
            _finish_again(root, builds[(len(seen) - 1) % len(builds)])
        return manifest

    monkeypatch.setattr(loader, "read_manifest", read_manifest)
    monkeypatch.setattr(inspection, "read_manifest", read_manifest)
    return seen


def test_a_dataset_finished_again_between_its_two_reads_is_read_again(
    dataset, other_build, monkeypatch
):
    """The build renames samples.jsonl and dataset.json back to back; a reader that read
    dataset.json before the renames and samples.jsonl after them called the dataset damaged
    ('samples.jsonl was changed after the build')."""
    expected = EventVQADataset(other_build, "test")
    seen = _straddling_reads(monkeypatch, dataset, [other_build], 1)
    ds = EventVQADataset(dataset, "test")
    assert ds.manifest == expected.manifest
    assert ds.records == expected.records
    assert ds[3]["id"] == expected[3]["id"] and (ds[3]["events"] == expected[3]["events"]).all()
    assert len(set(seen)) == 2  # the first manifest was the earlier build's


def test_verify_of_a_dataset_finished_again_between_its_two_reads_verifies_it_again(
    dataset, other_build, monkeypatch
):
    _straddling_reads(monkeypatch, dataset, [other_build], 1)
    report = verify_dataset(dataset)
    assert report.ok, report.problems


def test_a_dataset_finished_again_twice_while_being_opened_is_named_so(
    dataset, built, other_build, monkeypatch
):
    _straddling_reads(monkeypatch, dataset, [other_build, built[1]], 4)
    with pytest.raises(DatasetError) as info:
        EventVQADataset(dataset, "test")
    assert str(info.value) == (
        f"dataset {str(dataset)!r} was rebuilt while being opened (its dataset.json and "
        "samples.jsonl were replaced between the reads of the two); open it again"
    )
    monkeypatch.undo()
    _straddling_reads(monkeypatch, dataset, [other_build, built[1]], 4)
    with pytest.raises(DatasetError, match=r"rebuilt while being opened .*; verify it again$"):
        verify_dataset(dataset)


def test_samples_changed_in_place_are_still_called_changed(dataset, monkeypatch):
    """Only a dataset.json that changed between the reads is taken for a rebuild."""
    from eventsim.datasets import loader

    path = dataset / "samples.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"question": "', b'"question": "Edited: ', 1))
    calls = []
    real = loader.read_manifest
    monkeypatch.setattr(loader, "read_manifest", lambda p: calls.append(p) or real(p))
    with pytest.raises(DatasetError, match="was changed after the build: sample test-000000"):
        EventVQADataset(dataset, "test")
    assert len(calls) == 2  # read again once, found the same
    assert not verify_dataset(dataset).ok


# ----------------------------------------------------------------------------- shard index


def _set_index(shard: Path, index: object) -> None:
    import numpy as np

    with h5py.File(shard, "r+") as f:
        del f["index_json"]
        f["index_json"] = np.frombuffer(json.dumps(index).encode(), np.uint8)


_MALFORMED = [
    ([], "it is not a JSON object"),
    ({"errors": []}, "its 'records' is not a list of JSON objects"),
    ({"records": 5, "errors": []}, "its 'records' is not a list of JSON objects"),
    ({"records": [1], "errors": []}, "its 'records' is not a list of JSON objects"),
    ({"records": []}, "its 'errors' is not a list of JSON objects"),
]


@pytest.mark.parametrize(("index", "why"), _MALFORMED)
def test_a_shard_with_a_malformed_index_is_named_in_one_line(dataset, index, why):
    """The index was used as read: a KeyError or TypeError, naming no shard."""
    from eventsim.datasets.shards import read_shard_records

    shard = dataset / "shards" / "test-00000.h5"
    _set_index(shard, index)
    with pytest.raises(DatasetError) as info:
        read_shard_records(shard)
    assert str(info.value) == (
        f"shard {str(shard)!r} has no readable index: {why}; rebuild the dataset"
    )


@pytest.mark.parametrize(("index", "why"), _MALFORMED[:3])
def test_verify_reports_a_shard_with_a_malformed_index(dataset, index, why):
    """verify stopped with the KeyError or TypeError (the shard's bytes match dataset.json)."""
    shard = dataset / "shards" / "test-00000.h5"
    _set_index(shard, index)
    manifest = json.loads((dataset / "dataset.json").read_text(encoding="utf-8"))
    manifest["shards"][0]["sha256"], manifest["shards"][0]["bytes"] = file_digest(shard)
    (dataset / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    report = verify_dataset(dataset)
    assert report.problems == [
        f"shards/test-00000.h5: cannot be read: shard {str(shard)!r} has no readable index: "
        f"{why}; rebuild the dataset"
    ]


@pytest.mark.parametrize("index", [index for index, _ in _MALFORMED])
def test_resume_rebuilds_a_shard_with_a_malformed_index(built, dataset, index):
    """A resumed build took such a shard for finished (its attributes match) and failed on
    its index with a KeyError or TypeError."""
    shard = dataset / "shards" / "test-00000.h5"
    _set_index(shard, index)
    (dataset / "dataset.json").unlink()  # a build whose manifest was lost: its shards resume
    summary = build_dataset(built[0], dataset, progress=False)
    assert (summary.shards_built, summary.shards_reused) == (1, 1)
    assert (shard.read_bytes()) == (built[1] / "shards" / "test-00000.h5").read_bytes()
    assert verify_dataset(dataset).ok


# ----------------------------------------------------------------------------- byte-order mark


def _with_bom(root: Path, line: int, *, recorded: bool) -> Path:
    """samples.jsonl with a UTF-8 byte-order mark at the start of ``line``; with ``recorded``,
    its new sha256 in dataset.json (an edit that kept the manifest in step), else none (an
    older build recorded none)."""
    import hashlib

    path = root / "samples.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = b"\xef\xbb\xbf" + lines[line - 1]
    path.write_bytes(b"\n".join(lines))
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if recorded else None
    _edit_manifest(root, samples_sha256=digest)
    return path


@pytest.mark.parametrize("recorded", [True, False])
@pytest.mark.parametrize("line", [1, 3])
def test_samples_jsonl_with_a_byte_order_mark_is_refused_alike(dataset, line, recorded):
    """The build never writes a byte-order mark into samples.jsonl. read_samples refused one
    (json's 'Unexpected UTF-8 BOM (decode using utf-8-sig)'), while the dataset and verify
    decoded lines from bytes and took it."""
    from eventsim.datasets.loader import read_samples

    path = _with_bom(dataset, line, recorded=recorded)
    message = (
        f"cannot read {str(path)!r}: line {line}: it starts with a byte-order mark (U+FEFF), "
        "which the build never writes: the file was edited; restore it or rebuild the dataset"
    )
    with pytest.raises(DatasetError) as info:
        EventVQADataset(dataset, "test")
    assert str(info.value) == message
    with pytest.raises(DatasetError) as info:
        read_samples(dataset, read_manifest(dataset))
    assert str(info.value) == message
    assert verify_dataset(dataset).problems == [message]


def test_a_line_that_is_not_json_whitespace_is_refused_alike(dataset):
    """The dataset took a line of a form feed for a blank one (bytes.strip()), where
    read_samples and verify refused it as not JSON."""
    from eventsim.datasets.loader import read_samples

    path = dataset / "samples.jsonl"
    path.write_bytes(path.read_bytes() + b"\x0c\n")
    _edit_manifest(dataset, samples_sha256=None)
    message = f"cannot read {str(path)!r}: line 5: Expecting value: line 1 column 1 (char 0)"
    with pytest.raises(DatasetError) as info:
        EventVQADataset(dataset, "test")
    assert str(info.value) == message
    with pytest.raises(DatasetError) as info:
        read_samples(dataset, read_manifest(dataset))
    assert str(info.value) == message
    assert verify_dataset(dataset).problems == [message]
