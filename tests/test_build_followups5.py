"""Follow-ups to the fifth review of `eventsim build`: what a build refuses, how its shards'
format is checked, its folder lock across a fork, and how a finished dataset is finished again."""

import json
import os
import warnings
from pathlib import Path

import cv2
import h5py
import pytest

from eventsim.datasets import EventVQADataset, build_dataset
from eventsim.errors import DatasetError

from user_media import textured, write_jsonl


def _image_recipe(tmp_path: Path, records: list[dict]) -> Path:
    (tmp_path / "img").mkdir(exist_ok=True)
    cv2.imwrite(str(tmp_path / "img" / "a.png"), textured(0))
    write_jsonl(tmp_path / "t.jsonl", records)
    path = tmp_path / "image.toml"
    path.write_text(
        '[dataset]\nname = "f5"\n[source]\nkind = "image"\n[camera]\nwidth = 64\nheight = 48\n'
        '[events]\nwindow_ms = 20\n[splits]\ntest = "t.jsonl"\n[build]\nshard_size = 8\n'
    )
    return path


def _reasons(out: Path) -> dict[str, str]:
    rows = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    return {r["id"]: r["reason"] for r in rows}


# ----------------------------------------------------------------------------- choices


def _choice_records() -> list[dict]:
    many = [f"o{i}" for i in range(30)]
    return [
        {"image": "img/a.png", "question": "Which?", "choices": many[:26], "answer": "o25"},
        {"image": "img/a.png", "question": "Which?", "choices": many[:27], "answer": "o3"},
        {"image": "img/a.png", "question": "Which?", "choices": many, "answer": "o29"},
    ]


def test_a_record_with_more_than_26_choices_is_skipped_with_the_count(tmp_path):
    """epvlm letters options A to Z and refused such a dataset at eval, after the build had
    taken it."""
    out = tmp_path / "ds"
    summary = build_dataset(_image_recipe(tmp_path, _choice_records()), out, progress=False)
    assert summary.samples == {"test": 1} and summary.errors == {"test": 2}
    reasons = _reasons(out)
    assert reasons["test-000001"] == (
        "choices lists 27 options; at most 26 (A to Z) can be asked and scored"
    )
    assert reasons["test-000002"].startswith("choices lists 30 options;")
    assert len(EventVQADataset(out, "test")[0]["choices"]) == 26


def test_strict_stops_at_a_record_with_more_than_26_choices(tmp_path):
    recipe = _image_recipe(tmp_path, _choice_records())
    with pytest.raises(DatasetError) as info:
        build_dataset(recipe, tmp_path / "ds", strict=True, progress=False)
    message = str(info.value)
    assert message.startswith("sample test-000001 (")
    assert "t.jsonl line 2): choices lists 27 options; at most 26 (A to Z)" in message


# ----------------------------------------------------------------------------- shard format


def _shapes_dataset(tmp_path: Path, n: int = 4, shard_size: int = 2) -> tuple[Path, Path]:
    recipe = tmp_path / "shapes.toml"
    recipe.write_text(
        '[dataset]\nname = "f5s"\n[source]\nkind = "shapes"\nobject_size_px = [8, 12]\n'
        "target_size_px = [8, 12]\n[camera]\nwidth = 64\nheight = 48\n[events]\nwindow_ms = 20\n"
        f"[splits]\ntest = {n}\n[build]\nshard_size = {shard_size}\n"
    )
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    return recipe, out


def _set_shard_version(out: Path, version: object, *, in_manifest: bool = True) -> Path:
    """Give the first shard another format_version; with ``in_manifest``, record the new bytes
    in dataset.json as a build would have (so the sha256 check passes)."""
    from eventsim.datasets.shards import file_digest

    shard = out / "shards" / "test-00000.h5"
    with h5py.File(shard, "r+") as f:
        f.attrs["format_version"] = version
    if in_manifest:
        manifest = json.loads((out / "dataset.json").read_text())
        entry = manifest["shards"][0]
        entry["sha256"], entry["bytes"] = file_digest(shard)
        (out / "dataset.json").write_text(json.dumps(manifest))
    return shard


@pytest.mark.parametrize("version", ["2.0", "1.x", 3])
def test_a_shard_of_a_format_version_not_read_is_refused(tmp_path, version):
    """The shards' own format_version was never read: a shard of a later major format was read
    as if it were this one's."""
    _, out = _shapes_dataset(tmp_path)
    shard = _set_shard_version(out, version)
    ds = EventVQADataset(out, "test")
    with pytest.raises(DatasetError) as info:
        ds[0]
    assert str(info.value) == (
        f"shard {str(shard)!r} has format version {version!r}; this eventsim reads shard "
        "format version 1.x (it writes 1.0): read it with the eventsim that built it, or "
        "rebuild the dataset"
    )
    assert len(ds[2]["events"]) > 0  # the other shard is read


def test_a_shard_of_a_later_minor_format_version_is_read(tmp_path):
    _, out = _shapes_dataset(tmp_path)
    _set_shard_version(out, "1.7")
    assert EventVQADataset(out, "test")[0]["id"] == "test-000000"


def test_resume_rebuilds_a_shard_of_a_format_version_not_read(tmp_path):
    """A resumed build reused such a shard (its index read as this format's) whenever its
    recipe fingerprint and sample range matched."""
    recipe, out = _shapes_dataset(tmp_path)
    shard = _set_shard_version(out, "2.0", in_manifest=False)
    (out / "dataset.json").unlink()  # a build whose manifest was lost: its shards are resumed
    summary = build_dataset(recipe, out, progress=False)
    assert (summary.shards_built, summary.shards_reused) == (1, 1)
    with h5py.File(shard, "r") as f:
        assert f.attrs["format_version"] == "1.0"


# ----------------------------------------------------------------------------- build lock


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_as_the_build_lock_is_taken_does_not_keep_it(tmp_path, monkeypatch):
    """The folder's descriptor was listed for closing in forked children only after its lock
    was taken: a child forked in between (by another thread: a DataLoader starting its workers)
    kept the folder locked for as long as it lived, and every build into it was refused."""
    from eventsim._locks import try_lock
    from eventsim.datasets import engine

    release_r, release_w = os.pipe()
    started_r, started_w = os.pipe()
    children: list[int] = []

    def lock_then_fork(fd: int) -> bool:
        taken = try_lock(fd)
        # stands for another thread forking at this point
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            pid = os.fork()
        if pid == 0:  # a worker that outlives the build
            try:
                os.write(started_w, b"1")  # (the fork hooks have run by now)
                os.read(release_r, 1)
            finally:
                os._exit(0)
        children.append(pid)
        return taken

    monkeypatch.setattr(engine, "try_lock", lock_then_fork)
    out = tmp_path / "ds"
    try:
        with engine._build_lock(out) as locked:
            assert locked
        monkeypatch.undo()
        os.read(started_r, 1)
        with engine._build_lock(out) as locked:  # raised 'another build is writing to ...'
            assert locked
    finally:
        os.write(release_w, b"x" * len(children))
        for pid in children:
            os.waitpid(pid, 0)
        for fd in (release_r, release_w, started_r, started_w):
            os.close(fd)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_in_the_build_lock_leaves_its_own_files_open_as_it_leaves(tmp_path):
    """A child that returned through the lock's cleanup closed the folder's descriptor number
    again: its copy was closed at the fork, so that number was a file of its own by then."""
    from eventsim.datasets import engine

    pid = -1
    try:
        with engine._build_lock(tmp_path / "ds"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
                pid = os.fork()
            if pid == 0:
                # one of them takes the number the lock's descriptor had
                own = [os.open(tmp_path, os.O_RDONLY) for _ in range(32)]
    except BaseException:
        if pid == 0:
            os._exit(2)
        raise
    if pid == 0:
        try:
            for fd in own:
                os.fstat(fd)
        except OSError:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# ----------------------------------------------------------------------------- finishing again


def test_finishing_again_writes_every_file_before_it_renames_one(tmp_path, monkeypatch):
    """samples.jsonl was renamed into place before dataset.json (with its samples_sha256) was
    even written: a reader opening the dataset meanwhile found the new samples.jsonl against
    the old manifest, a checksum mismatch ('changed after the build'), for as long as writing
    and flushing the other files took."""
    import hashlib

    recipe, out = _shapes_dataset(tmp_path)
    renamed: list[str] = []
    replace = os.replace

    def watched(src, dst, *args, **kwargs):
        name = Path(dst).name
        if Path(dst).parent == out and name in ("samples.jsonl", "errors.jsonl", "dataset.json"):
            if not renamed:
                # the manifest that goes with these samples is complete on disk already
                staged = list(out.glob(".dataset.json.*.tmp.json"))
                assert name == "samples.jsonl" and len(staged) == 1, (name, staged)
                manifest = json.loads(staged[0].read_text(encoding="utf-8"))
                digest = hashlib.sha256(Path(src).read_bytes()).hexdigest()
                assert manifest["samples_sha256"] == digest
                assert len(list(out.glob(".errors.jsonl.*.tmp.jsonl"))) == 1
            renamed.append(name)
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", watched)
    build_dataset(recipe, out, progress=False)  # the same build: finishes the dataset again
    assert renamed == ["samples.jsonl", "errors.jsonl", "dataset.json"]
    assert not list(out.glob(".*.tmp*"))
    assert len(EventVQADataset(out, "test")) == 4


def test_an_in_process_build_leaves_large_blocks_on_the_heap(monkeypatch):
    # mallopt turns glibc's dynamic mmap threshold off for good: going back to its 128 KiB
    # start value after an in-process build had every larger block mapped and faulted in
    # afresh (torch's activations: the demo's evaluation after its build ran 30 % slower)
    from eventsim.datasets import engine

    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(engine, "_mallopt", lambda trim, mmap: calls.append((trim, mmap)))
    with engine.worker_settings():
        assert calls == [(256 << 20, 64 << 20)]
    trim, mmap = calls[-1]
    assert mmap >= 32 << 20 and trim >= mmap
