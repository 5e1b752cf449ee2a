"""Follow-ups to a review of epvlm: the eval lock in forked children, progress bars in logs,
epvlm run's image reader and the coverage note's count of one."""

from __future__ import annotations

import multiprocessing
import os
import sys

import pytest

from epvlm.errors import ResultsFolderInUseError
from eventsim._locks import HAVE_FLOCK, try_lock

needs_fork = pytest.mark.skipif(
    not HAVE_FLOCK or "fork" not in multiprocessing.get_all_start_methods(),
    reason="needs flock and fork",
)

# ----------------------------------------------------------------------------- 1: eval lock


def _run_until(running, done) -> None:
    running.set()
    done.wait(60)


@needs_fork
def test_a_child_forked_while_the_eval_lock_is_held_does_not_keep_it(tmp_path):
    """A child forked while `epvlm eval` held its lock (a DataLoader's workers) shared the
    locked file: after the eval let go, the child still held the lock, so a second eval that
    had opened the lock file meanwhile was refused as long as the child lived."""
    from epvlm.results import EVAL_LOCK, lock_results_folder

    out = tmp_path / "out"
    ctx = multiprocessing.get_context("fork")
    lock = lock_results_folder(out)
    running, done = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_run_until, args=(running, done))
    child.start()
    # the child closes its copies of the lock files as it starts, not in the fork itself
    assert running.wait(60)
    waiter = os.open(out / EVAL_LOCK, os.O_RDWR)  # a second eval about to try the lock
    try:
        lock.release()
        assert try_lock(waiter)
        with lock_results_folder(out):
            pass
    finally:
        done.set()
        child.join()
        os.close(waiter)
    assert child.exitcode == 0


@needs_fork
def test_a_forked_child_releasing_the_eval_lock_leaves_the_parents(tmp_path):
    """A child forked while the lock was held that released it (leaving a ``with`` block)
    removed the parent's lock file: a second eval then locked a new one and wrote into the
    folder beside the first."""
    from epvlm.results import EVAL_LOCK, lock_results_folder

    out = tmp_path / "out"
    lock = lock_results_folder(out)
    try:
        child = multiprocessing.get_context("fork").Process(target=lock.release)
        child.start()
        child.join()
        assert child.exitcode == 0
        assert (out / EVAL_LOCK).is_file()
        with pytest.raises(ResultsFolderInUseError, match=rf"\(pid {os.getpid()}\)"):
            lock_results_folder(out)
    finally:
        lock.release()
    assert not out.exists()  # the folder it created goes with it, as before


# ----------------------------------------------------------------------------- 2: progress bars


@pytest.mark.parametrize("command", ["eval", "demo"])
def test_progress_bars_are_drawn_only_on_a_terminal(tmp_path, monkeypatch, capsys, command):
    """`epvlm eval` and `epvlm demo` drew their bars into a log file or a pipe (a line per
    redraw) unless given --no-progress; eventsim's commands draw them only on a terminal."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from types import SimpleNamespace

    import epvlm.demo
    import epvlm.evaluate
    from epvlm.cli import main

    seen: list[bool] = []

    def fake_eval(*args, progress, **kwargs):
        seen.append(progress)
        return {"rows": []}

    def fake_demo(out, *, progress, **kwargs):
        seen.append(progress)
        summary = {"scenarios": {"moving": 1}, "scenario_field": "target_motion",
                   "n_questions": 1, "rows": [{}]}  # fmt: skip
        return SimpleNamespace(summary=summary, elapsed_s=1.0, report="r", results_json="j")

    monkeypatch.setattr(epvlm.evaluate, "evaluate_dataset", fake_eval)
    monkeypatch.setattr(epvlm.demo, "run_demo", fake_demo)
    out = str(tmp_path / "out")
    if command == "eval":
        argv = ["eval", "--model", str(tmp_path), "--dataset", str(tmp_path), "-o", out]
    else:
        argv = ["demo", "-o", out, "--device", "cpu"]
    assert main(argv) == 0, capsys.readouterr().err
    assert main([*argv, "--no-progress"]) == 0
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(argv) == 0
    assert main([*argv, "--no-progress"]) == 0
    assert seen == [False, False, True, False]
