"""A shard's sha256 is computed once for all processes (DataLoader workers, later epochs and
runs), not once per process, and never trusted for bytes other than the ones it came from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

import eventsim.datasets.loader as loader
from eventsim.datasets import EventVQADataset, _digests
from eventsim.errors import DamagedShardError


@pytest.fixture(scope="module")
def built(build_shapes):
    return build_shapes(4)


@pytest.fixture
def dataset(built, tmp_path):
    """A fresh copy of a small built dataset (its shards never hashed before: a digest is
    remembered for a file's path, inode and times, which no other copy shares)."""
    root = tmp_path / "ds"
    shutil.copytree(built, root)
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


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty digest cache of this test's own."""
    monkeypatch.setenv("EVENTSIM_CACHE_DIR", str(tmp_path / "cache"))
    return _digests.cache_folder()


def _copy(root, to):
    # new files: new inodes, so digests not remembered yet
    shutil.copytree(root, to)
    return to


def _entry_names(root) -> set[str]:
    return {_digests.identity(p, os.stat(p)) for p in (root / "shards").iterdir()}


def _entries(cache) -> set[str]:
    return {p.name for p in cache.iterdir() if not p.name.startswith(".")}


def test_entries_that_can_never_be_used_again_are_pruned_once_a_day(
    dataset, cache, monkeypatch, tmp_path
):
    gone = _copy(dataset, tmp_path / "gone")
    _read_all(gone)
    _read_all(dataset)
    gone_names, kept_names = _entry_names(gone), _entry_names(dataset)
    touched = dataset / "shards" / "test-00000.h5"
    before_touch = _digests.identity(touched, os.stat(touched))
    shutil.rmtree(gone)
    os.utime(touched, ns=(1, 1))  # same bytes, another identity: its entry is dead
    _read_all(_copy(dataset, tmp_path / "later"))
    # pruned on the first write above; not again within the interval
    assert gone_names | {before_touch} <= _entries(cache)

    monkeypatch.setattr(_digests, "PRUNE_INTERVAL_S", 0)
    newest = _copy(dataset, tmp_path / "newest")
    _read_all(newest)
    left = _entries(cache)
    assert not left & (gone_names | {before_touch})
    kept_names.remove(before_touch)
    assert left == kept_names | _entry_names(tmp_path / "later") | _entry_names(newest)


def test_beyond_the_cap_the_oldest_entries_go(dataset, cache, monkeypatch, tmp_path):
    _read_all(dataset)
    first = sorted(_entry_names(dataset))
    assert _entries(cache) == set(first)
    now = time.time()
    for k, name in enumerate(first):  # written a minute apart, long ago
        os.utime(cache / name, (now - 3600 + 60 * k, now - 3600 + 60 * k))
    monkeypatch.setattr(_digests, "MAX_ENTRIES", len(first) + 1)
    monkeypatch.setattr(_digests, "PRUNE_INTERVAL_S", 0)
    second = _copy(dataset, tmp_path / "second")
    _read_all(second)
    assert _entries(cache) == _entry_names(second) | {first[-1]}


def test_pruning_drops_what_it_cannot_check_and_files_of_dead_processes(
    dataset, cache, hashes, monkeypatch, tmp_path
):
    shard = dataset / "shards" / "test-00000.h5"
    name = _digests.identity(shard, os.stat(shard))
    cache.mkdir(parents=True)
    # an entry of an older version (the bare digest, no path) is still used...
    (cache / name).write_text(loader.file_digest(shard)[0])
    hashes.clear()
    EventVQADataset(dataset, "test")[0]
    assert hashes == []
    long_ago = time.time() - 2 * 24 * 3600
    strays = [cache / f".{name}.123.tmp", cache / f".{name}.lock"]
    fresh = [cache / f".{'0' * 64}.456.tmp", cache / f".{'0' * 64}.lock"]
    for path in strays + fresh:
        path.write_text("")
    for path in strays:
        os.utime(path, (long_ago, long_ago))
    (cache / ("f" * 64)).write_text("not a digest")
    (cache / "notes.txt").write_text("not ours")
    monkeypatch.setattr(_digests, "PRUNE_INTERVAL_S", 0)
    _read_all(_copy(dataset, tmp_path / "other"))
    # ...but it cannot be checked: dropped by the pruning (and written anew by the next hash)
    assert name not in _entries(cache) and "f" * 64 not in _entries(cache)
    assert not any(p.exists() for p in strays)
    assert all(p.exists() for p in fresh) and (cache / "notes.txt").exists()


def test_workers_starting_together_hash_each_shard_once(dataset, cache, tmp_path):
    """Real processes that all start reading at once, each hash made slow: every shard is
    hashed by one of them while the others wait for its digest."""
    log, ready, n = tmp_path / "hashed.log", tmp_path / "ready", 3
    ready.mkdir()
    code = textwrap.dedent(
        f"""
        import os, time
        import eventsim.datasets.loader as loader
        from eventsim.datasets import EventVQADataset

        real = loader.file_digest

        def slow(path):
            with open({str(log)!r}, "a") as fh:
                fh.write(str(path) + "\\n")
            time.sleep(0.5)  # the other processes ask for the same shard meanwhile
            return real(path)

        loader.file_digest = slow
        ds = EventVQADataset({str(dataset)!r}, "test")
        open(os.path.join({str(ready)!r}, str(os.getpid())), "w").close()
        while len(os.listdir({str(ready)!r})) < {n}:
            time.sleep(0.01)
        for i in range(len(ds)):
            ds[i]
        """
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    hashed = log.read_text().splitlines()
    assert sorted(hashed) == sorted(str(p) for p in (dataset / "shards").iterdir())
    assert not [p for p in cache.iterdir() if p.name.endswith(".lock")]
