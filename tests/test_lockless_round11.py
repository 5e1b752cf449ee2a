"""A build on a file system without locks (NFS without a lock daemon) builds without the
folder's lock. ``eventsim info``/``verify`` of it, running, found no holder of the lock in
/proc/locks and said it "was interrupted or failed (no process on this machine holds its lock);
rerun the same command to resume": following that started a second build into the folder,
which nothing refused. The build's state file now records that it could not lock the folder,
and info and verify say they cannot tell running from stopped."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from eventsim.cli import main
from eventsim.datasets import build_dataset, engine

pytestmark = pytest.mark.skipif(os.name != "posix", reason="builds lock their folder on POSIX")

_CANNOT_TELL = (
    "is still running or was interrupted or failed (it could not lock the folder, so eventsim "
    "cannot tell which); if no build into it is running, on this machine or another sharing "
    "the folder, rerun the same command to resume"
)
_STOPPED = (
    "was interrupted or failed (no process on this machine holds its lock); rerun the same "
    "command to resume, unless a build on another machine sharing the folder is still at work"
)


def _said(capsys, given: Path) -> dict[str, str]:
    """What info and verify say of ``given``: their one error line each."""
    said = {}
    for command in ("info", "verify"):
        rc = main([command, str(given)])
        err = capsys.readouterr().err.strip()
        assert rc == 1 and len(err.splitlines()) == 1, err
        said[command] = err.split(": error: ", 1)[1]
    assert said["info"] == said["verify"], said
    return said


def _no_locks(monkeypatch) -> None:
    """flock fails as on NFS without a lock daemon."""
    import fcntl

    def flock(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", flock)


def _stopped_build(monkeypatch, recipe: Path, out: Path, during=None) -> None:
    """Build ``recipe`` into ``out`` with a Ctrl-C as its second shard starts; ``during(out)``
    is called there first, while the build runs."""
    real = engine.run_shard

    def run(task, *args, **kwargs):
        if task.shard == 1:
            if during is not None:
                during(out)
            raise KeyboardInterrupt
        return real(task, *args, **kwargs)

    monkeypatch.setattr(engine, "run_shard", run)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(recipe, out, progress=False)
    monkeypatch.setattr(engine, "run_shard", real)


def _state(out: Path) -> dict:
    return json.loads((out / engine.STATE_FILE).read_text())


def test_a_running_build_without_the_lock_is_not_called_interrupted(
    tmp_path, monkeypatch, capsys, shapes_recipe
):
    recipe = shapes_recipe(tmp_path / "r.toml", test=6, shard=2)
    out = tmp_path / "ds"
    _no_locks(monkeypatch)
    running: list[dict[str, str]] = []
    _stopped_build(
        monkeypatch, recipe, out, lambda o: running.extend([_said(capsys, o), _state(o)])
    )
    said, state = running
    assert state["unlocked"] is True
    for what in said.values():
        assert _CANNOT_TELL in what and "holds its lock" not in what
    # stopped, it looks the same: nothing on disk can tell the two apart; nor in shards/
    assert _said(capsys, out) == said
    inside = _said(capsys, out / "shards")["info"]
    assert (
        inside.startswith(f"{str(out / 'shards')!r} is a folder inside ") and _CANNOT_TELL in inside
    )
    # a build that takes the lock rewrites the state file: then the lock tells again
    monkeypatch.undo()
    _stopped_build(monkeypatch, recipe, out)
    assert "unlocked" not in _state(out)
    assert _STOPPED in _said(capsys, out)["info"]


def test_a_build_with_the_lock_stopped_says_so_and_names_another_machine(
    tmp_path, monkeypatch, capsys, shapes_recipe
):
    recipe = shapes_recipe(tmp_path / "r.toml", test=6, shard=2)
    out = tmp_path / "ds"
    _stopped_build(monkeypatch, recipe, out)
    assert "unlocked" not in _state(out)
    said = _said(capsys, out)["info"]
    assert said == f"{str(out)!r}: unfinished build: the 'eventsim build' into this folder " + (
        _STOPPED + " (this machine's list of locks does not show it); it has 1 finished shard "
        "(in shards/) so far"
    )


def test_a_build_without_the_lock_makes_the_same_dataset(
    tmp_path, monkeypatch, capsys, shapes_recipe
):
    recipe = shapes_recipe(tmp_path / "r.toml", test=6, shard=2)
    locked = tmp_path / "locked"
    build_dataset(recipe, locked, progress=False)
    _no_locks(monkeypatch)
    out = tmp_path / "ds"
    # stopped and resumed without the lock, as finished at once: the state file goes at the end
    _stopped_build(monkeypatch, recipe, out)
    summary = build_dataset(recipe, out, progress=False)
    assert any("built without the folder lock" in note for note in summary.notes)

    def files(folder: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    assert not (out / engine.STATE_FILE).exists()
    assert files(out) == files(locked)
