"""A shard's sha256 is computed once for all processes (DataLoader workers, later epochs and
runs), not once per process, and never trusted for bytes other than the ones it came from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import eventsim.datasets.loader as loader
from eventsim.datasets import EventVQADataset, _digests
from eventsim.errors import DamagedShardError


@pytest.fixture
def dataset(build_shapes, tmp_path):
    """A fresh copy of a small built dataset (its shards never hashed before)."""
    root = tmp_path / "ds"
    shutil.copytree(build_shapes(4), root)
    return root


@pytest.fixture
def hashes(monkeypatch):
    """Every full hash of a shard this process makes, as a list of paths."""
    made: list[str] = []
    real = loader.file_digest

    def counted(path):
        made.append(str(path))
        return real(path)

    monkeypatch.setattr(loader, "file_digest", counted)
    return made


def _read_all(root) -> None:
    ds = EventVQADataset(root, "test")
    for i in range(len(ds)):
        ds[i]


def test_a_new_process_uses_the_digest_another_one_computed(dataset, hashes, monkeypatch):
    _read_all(dataset)
    shards = sorted(os.listdir(dataset / "shards"))
    assert sorted(os.path.basename(p) for p in hashes) == shards
    # a new process starts with nothing of its own
    monkeypatch.setattr(loader, "_DIGESTS", {})
    _read_all(dataset)
    assert len(hashes) == len(shards)


def test_a_changed_shard_is_hashed_again_and_refused(dataset, hashes, monkeypatch):
    _read_all(dataset)
    monkeypatch.setattr(loader, "_DIGESTS", {})
    shard = dataset / "shards" / "test-00000.h5"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    shard.write_bytes(bytes(data))
    with pytest.raises(DamagedShardError, match="does not match the sha256"):
        _read_all(dataset)
    assert hashes.count(str(shard)) == 2


def test_a_remembered_digest_serves_only_its_own_bytes(dataset):
    shard = dataset / "shards" / "test-00000.h5"
    before = _digests.identity(shard, os.stat(shard))
    copy = dataset / "copy.h5"
    shutil.copy2(shard, copy)
    os.replace(copy, shard)  # same bytes and mtime, another inode
    assert _digests.identity(shard, os.stat(shard)) != before
    os.utime(shard)
    assert _digests.identity(shard, os.stat(shard)) != before


def test_an_unwritable_cache_leaves_the_check_as_it_was(dataset, hashes, monkeypatch, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("EVENTSIM_CACHE_DIR", str(blocked))
    _read_all(dataset)
    monkeypatch.setattr(loader, "_DIGESTS", {})
    _read_all(dataset)
    # hashed again by the "new process", and no error either time
    assert len(hashes) == 2 * len(os.listdir(dataset / "shards"))


def test_a_malformed_cache_entry_is_ignored(dataset, hashes, monkeypatch):
    shard = dataset / "shards" / "test-00000.h5"
    name = _digests.identity(shard, os.stat(shard))
    _digests.cache_folder().mkdir(parents=True, exist_ok=True)
    (_digests.cache_folder() / name).write_text("not a digest")
    _read_all(dataset)
    assert str(shard) in hashes
    assert _digests.remembered(name) is not None


def test_other_processes_do_not_hash_again(dataset):
    """Real processes: the second one reads every sample with hashing made impossible."""
    read = (
        "from eventsim.datasets import EventVQADataset\n"
        "ds = EventVQADataset(ROOT, 'test')\n"
        "for i in range(len(ds)):\n"
        "    ds[i]\n"
    ).replace("ROOT", repr(str(dataset)))
    refuse = textwrap.dedent(
        """
        import eventsim.datasets.loader as loader

        def refuse(path):
            raise AssertionError("hashed again: " + str(path))

        loader.file_digest = refuse
        """
    )
    for code in (read, refuse + read):
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    # and the refusal is real: without the cache the second process fails
    env = {**os.environ, "EVENTSIM_CACHE_DIR": str(dataset / "elsewhere")}
    run = subprocess.run(
        [sys.executable, "-c", refuse + read], capture_output=True, text=True, env=env
    )
    assert run.returncode != 0 and "hashed again" in run.stderr
