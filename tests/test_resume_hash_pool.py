"""Resuming a build hashed the videos whose state moved (an rsync, a copy) one after another in
the main process: they are hashed by a few threads together (`engine._hash_inputs`), with the
same digests, the same refusals and the same inputs log as hashing them one by one."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from eventsim import outputs
from eventsim.datasets import build_dataset, engine
from eventsim.errors import OutputExistsError

from user_media import small_recipe, write_jsonl, write_video


def _videos(folder: Path, n: int) -> Path:
    """A recipe of n videos of other bytes, one question each, one shard per question."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        write_video(folder / f"v{k}.avi", 25, 10 + k, 2)
    records = [
        {"video": f"v{k}.avi", "time": 0.2, "question": "Q?", "answer": "a"} for k in range(n)
    ]
    write_jsonl(folder / "qa.jsonl", records)
    return small_recipe(folder, "video", "qa.jsonl", shard_size=1, name="hashpool")


def _touch_all(folder: Path) -> None:
    for video in sorted(folder.glob("v*.avi")):
        later = video.stat().st_mtime_ns + 10**9
        os.utime(video, ns=(later, later))


class _Threads:
    """Counts the hashing threads started, and which thread hashed each file: the pool's
    (`engine._hash_file`) or the check's, one by one (`engine.file_digest`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = 0
        self.hashed_in: dict[str, str] = {}
        real_thread, real_digest, real_hash = (
            threading.Thread,
            engine.file_digest,
            engine._hash_file,
        )
        outer = self

        class Counting(real_thread):  # type: ignore[misc, valid-type]
            def start(self) -> None:
                if self.name == "eventsim-hash":
                    outer.started += 1
                super().start()

        def digest(path):
            outer.hashed_in[str(path)] = threading.current_thread().name
            return real_digest(path)

        def hash_file(path, *args):
            outer.hashed_in[str(path)] = threading.current_thread().name
            return real_hash(path, *args)

        monkeypatch.setattr(threading, "Thread", Counting)
        monkeypatch.setattr(engine, "file_digest", digest)
        monkeypatch.setattr(engine, "_hash_file", hash_file)


def _fresh_digest_caches(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv("EVENTSIM_CACHE_DIR", str(folder))
    monkeypatch.setattr(engine, "_VIDEO_DIGESTS", {})


def test_moved_videos_are_hashed_by_the_pool_with_the_serial_digests_and_log(tmp_path, monkeypatch):
    recipe = _videos(tmp_path / "media", 5)
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    _touch_all(tmp_path / "media")
    copy = tmp_path / "ds-serial"
    copy.mkdir()
    for path in out.rglob("*"):
        if path.is_file():
            (copy / path.relative_to(out)).parent.mkdir(parents=True, exist_ok=True)
            (copy / path.relative_to(out)).write_bytes(path.read_bytes())

    # as before: no digest taken ahead, each hashed by the check, in this thread
    _fresh_digest_caches(monkeypatch, tmp_path / "cache-serial")
    with monkeypatch.context() as m:
        m.setattr(engine, "_hash_inputs", lambda checked, workers, progress: {})
        threads = _Threads(m)
        summary = build_dataset(recipe, copy, progress=False, workers=3)
    assert (summary.shards_reused, summary.shards_built) == (5, 0)
    assert threads.started == 0 and set(threads.hashed_in.values()) == {"MainThread"}

    _fresh_digest_caches(monkeypatch, tmp_path / "cache-pool")
    monkeypatch.setattr(engine, "usable_cores", lambda: 8)
    threads = _Threads(monkeypatch)
    summary = build_dataset(recipe, out, progress=False, workers=3)
    assert (summary.shards_reused, summary.shards_built) == (5, 0)
    # each of the five videos hashed once, by one of three threads
    assert threads.started == 3
    assert sorted(threads.hashed_in) == sorted(str(p) for p in (tmp_path / "media").glob("*.avi"))
    assert set(threads.hashed_in.values()) == {"eventsim-hash"}
    # the same records, in the same order, byte for byte
    log = engine.INPUTS_FILE
    assert (out / log).read_bytes() == (copy / log).read_bytes()


def _job(path: Path, logged: str | None) -> tuple[SimpleNamespace, dict]:
    """A reused shard of an image recipe whose one input's change time moved since it was
    logged with the digest ``logged`` (the file's own when None)."""
    st = path.stat()
    digest = engine.file_digest(path)[0] if logged is None else logged
    was = [st.st_size, st.st_mtime_ns - 1, st.st_ctime_ns, st.st_ino, digest]
    task = SimpleNamespace(recipe=SimpleNamespace(source_kind="image"))
    return task, {str(path): was}


def test_the_digests_are_those_hashed_one_by_one_in_the_order_asked(tmp_path, monkeypatch):
    files = []
    for k in range(6):
        files.append(tmp_path / f"f{k}.bin")
        files[-1].write_bytes(bytes([k]) * (3000 + 1000 * k))
    checked = [_job(path, None) for path in files]
    threads = _Threads(monkeypatch)
    monkeypatch.setattr(engine, "usable_cores", lambda: 8)
    hashes = engine._hash_inputs(checked, workers=4, progress=False)
    serial = {}
    for _, inputs in checked:
        for path in inputs:
            st = os.stat(path)
            key = (path, *engine._state(st))
            serial[key] = engine._content_sha256(path, st, False)
    assert list(hashes) == list(serial)
    assert hashes == serial
    assert threads.started == 4


def test_files_after_one_of_other_bytes_are_not_hashed_and_it_is_refused(tmp_path, monkeypatch):
    files = []
    for k in range(4):
        files.append(tmp_path / f"f{k}.bin")
        files[-1].write_bytes(bytes([k]) * 4096)
    checked = [_job(path, "0" * 64 if k == 1 else None) for k, path in enumerate(files)]
    threads = _Threads(monkeypatch)
    monkeypatch.setattr(engine, "usable_cores", lambda: 1)
    hashes = engine._hash_inputs(checked, workers=4, progress=False)
    # one thread: the second file's digest is not the logged one, so the check refuses it and
    # needs none after it
    assert threads.started == 1
    assert sorted(threads.hashed_in) == [str(files[0]), str(files[1])]
    task = SimpleNamespace(
        recipe=SimpleNamespace(source_kind="image"), path=str(tmp_path / "test-00000.h5")
    )
    assert engine._check_inputs(tmp_path, task, checked[0][1], hashes) == (True, [])
    with pytest.raises(OutputExistsError, match=r"f1\.bin.*its sha256 is not the one"):
        engine._check_inputs(tmp_path, task, checked[1][1], hashes)


def test_a_file_of_another_size_is_refused_without_hashing_any(tmp_path, monkeypatch):
    # the check refuses the first shard's input without hashing: nothing is hashed ahead
    files = [tmp_path / "a.bin", tmp_path / "b.bin"]
    for path in files:
        path.write_bytes(b"x" * 5000)
    checked = [_job(path, None) for path in files]
    checked[0][1][str(files[0])][0] += 1
    threads = _Threads(monkeypatch)
    assert engine._hash_inputs(checked, workers=4, progress=False) == {}
    assert threads.started == 0 and threads.hashed_in == {}


def _files(folder: Path, n: int) -> list[Path]:
    files = []
    for k in range(n):
        files.append(folder / f"f{k}.bin")
        files[-1].write_bytes(bytes([k]) * 4096)
    return files


def _hashing_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "eventsim-hash" and t.is_alive()]


def test_an_error_hashing_a_file_gives_way_to_the_refusal_of_an_earlier_one(tmp_path, monkeypatch):
    # hashed one by one, the first file (of other bytes) is refused before the second is read:
    # its error, raised first in its thread, is not the build's
    files = _files(tmp_path, 2)
    checked = [_job(files[0], "0" * 64), _job(files[1], None)]
    real = engine._hash_file
    failed = threading.Event()
    failing: list[threading.Thread] = []

    def hash_file(path, *args):
        if path == str(files[1]):
            failing.append(threading.current_thread())
            failed.set()
            raise RuntimeError("disk on fire")
        # the error is in before this file's digest (its thread has ended)
        assert failed.wait(30)
        failing[0].join(30)
        return real(path, *args)

    monkeypatch.setattr(engine, "_hash_file", hash_file)
    monkeypatch.setattr(engine, "usable_cores", lambda: 2)
    hashes = engine._hash_inputs(checked, workers=2, progress=False)
    task = SimpleNamespace(
        recipe=SimpleNamespace(source_kind="image"), path=str(tmp_path / "test-00000.h5")
    )
    with pytest.raises(OutputExistsError, match=r"f0\.bin.*its sha256 is not the one"):
        engine._check_inputs(tmp_path, task, checked[0][1], hashes)


def test_an_error_hashing_a_file_is_raised_in_this_thread_as_it_was(tmp_path, monkeypatch):
    files = _files(tmp_path, 3)
    checked = [_job(path, None) for path in files]
    real = engine._hash_file

    def hash_file(path, *args):
        if path == str(files[1]):
            raise PermissionError(13, "no entry", path)
        return real(path, *args)

    monkeypatch.setattr(engine, "_hash_file", hash_file)
    monkeypatch.setattr(engine, "usable_cores", lambda: 3)
    with pytest.raises(PermissionError) as err:
        engine._hash_inputs(checked, workers=3, progress=False)
    assert err.value.filename == str(files[1]) and err.value.strerror == "no entry"
    assert _hashing_threads() == []


def _hold_until_stopped(monkeypatch, on_start) -> list[str]:
    """`engine._hash_file` calls ``on_start()`` as the second file's hash starts, then waits
    until the pool tells it to stop, the others waiting for it to start; returns what each
    such hash came to."""
    real = engine._hash_file
    ends: list[str] = []
    started = threading.Event()

    def hash_file(path, st, video, stop):
        if not path.endswith("f1.bin"):
            # the second file is being hashed when the first comes in
            assert started.wait(30)
            return real(path, st, video, stop)
        started.set()
        on_start()
        stop.wait(30)
        try:
            return real(path, st, video, stop)
        except engine._Stopped:
            ends.append("stopped")
            raise

    monkeypatch.setattr(engine, "_hash_file", hash_file)
    monkeypatch.setattr(engine, "usable_cores", lambda: 2)
    return ends


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_while_hashing_leaves_no_thread_reading_a_file(
    tmp_path, monkeypatch, signum
):
    files = _files(tmp_path, 3)
    checked = [_job(path, None) for path in files]
    main = threading.main_thread().ident
    assert main is not None
    ends = _hold_until_stopped(monkeypatch, lambda: signal.pthread_kill(main, signum))
    # a SIGTERM of the test's own where the command's handler is not in place
    before = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        with pytest.raises(KeyboardInterrupt), outputs.sigint_flagged():
            engine._hash_inputs(checked, workers=2, progress=False)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert outputs.terminated() == (signum == signal.SIGTERM)
    assert ends == ["stopped"] and _hashing_threads() == []


def test_a_refusal_leaves_no_thread_hashing_a_later_file(tmp_path, monkeypatch):
    files = _files(tmp_path, 3)
    checked = [_job(files[0], "0" * 64), _job(files[1], None), _job(files[2], None)]
    ends = _hold_until_stopped(monkeypatch, lambda: None)
    hashes = engine._hash_inputs(checked, workers=2, progress=False)
    assert list(hashes) == [(str(files[0]), *engine._state(files[0].stat()))]
    assert ends == ["stopped"] and _hashing_threads() == []


def test_sigterm_while_a_resume_hashes_ends_the_build_with_143(tmp_path, monkeypatch, capsys):
    from eventsim.cli import main

    recipe = _videos(tmp_path / "media", 3)
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    _touch_all(tmp_path / "media")
    main_thread = threading.main_thread().ident
    assert main_thread is not None
    real = engine._hash_file
    ends: list[str] = []

    def hash_file(path, st, video, stop):
        if path.endswith("v1.avi"):
            signal.pthread_kill(main_thread, signal.SIGTERM)
            stop.wait(30)
            try:
                return real(path, st, video, stop)
            except engine._Stopped:
                ends.append("stopped")
                raise
        return real(path, st, video, stop)

    monkeypatch.setattr(engine, "_hash_file", hash_file)
    monkeypatch.setattr(engine, "usable_cores", lambda: 2)
    monkeypatch.setenv("EVENTSIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(engine, "_VIDEO_DIGESTS", {})
    before = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        code = main(["build", str(recipe), "-o", str(out), "--workers", "2", "--no-progress"])
    finally:
        signal.signal(signal.SIGTERM, before)
    assert code == 143
    assert "terminated (SIGTERM)" in capsys.readouterr().err
    assert ends == ["stopped"] and _hashing_threads() == []
    # the digest cache keeps no lock of the stopped hash
    assert not list((tmp_path / "cache").rglob("*.lock"))


def test_a_known_video_digest_is_not_kept_again(tmp_path, monkeypatch):
    # it took the place of the oldest digest kept, though it was kept already
    video = tmp_path / "v.avi"
    video.write_bytes(b"v" * 5000)
    task, inputs = _job(video, None)
    task.recipe.source_kind = "video"
    key = engine._digests.identity(video, video.stat())
    kept = {"older": "1" * 64, key: inputs[str(video)][4]}
    monkeypatch.setattr(engine, "_VIDEO_DIGESTS", dict(kept))
    monkeypatch.setattr(engine, "_VIDEO_DIGESTS_KEPT", 2)
    hashes = engine._hash_inputs([(task, inputs)], workers=2, progress=False)
    assert list(hashes.values()) == [kept[key]]
    assert engine._VIDEO_DIGESTS == kept
