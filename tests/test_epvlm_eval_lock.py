"""Reliability of the resumable `epvlm eval`: one evaluation at a time in a results folder (an
flock held by the run, checked with real second processes), a resume told to the caller
instead of printed by the library, and damaged partial files refused in one line that says
what is wrong and the two ways out."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import epvlm.results
from epvlm.cli import main
from epvlm.evaluate import EvalResume, evaluate_dataset
from epvlm.results import EVAL_LOCK, PARTIAL_ANSWERS, PARTIAL_STATE

N_SAMPLES = 4
BATCH = 2
ANSWERS = 2 * N_SAMPLES  # dense and event@0.5
WAYS_OUT = "pass --force to start the evaluation over, or delete partial-state.json and "
WAYS_OUT += "partial-answers.jsonl there"

# `epvlm eval` in a process of its own that stops before its second answering step, says
# "paused" on stdout and goes on when a line comes on stdin
PAUSING_EVAL = """
import sys

import epvlm.evaluate
from epvlm.cli import main

answer = epvlm.evaluate.answer_selections
calls = 0


def paused(*args, **kwargs):
    global calls
    calls += 1
    if calls == 2:
        print("paused", flush=True)
        sys.stdin.readline()
    return answer(*args, **kwargs)


epvlm.evaluate.answer_selections = paused
sys.exit(main(sys.argv[1:]))
"""

# a process that takes the results folder's lock, says "locked" and holds it until killed or
# given a line on stdin
LOCK_HOLDER = """
import sys

from epvlm.results import lock_results_folder

with lock_results_folder(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory, eval_setup):
    return eval_setup(tmp_path_factory.mktemp("epvlm-lock"), N_SAMPLES)


def _argv(model: Path, ds: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "--model", str(model), "--dataset", str(ds), "--keep", "0.5",
            "--selector", "event", "--batch-size", str(BATCH), "--no-progress",
            "-o", str(out), *extra]  # fmt: skip


def _run(capsys, argv: list[str]) -> tuple[int, list[str]]:
    rc = main(argv)
    # the tiny random model's answers seldom name an option, which eval warns of in a line
    # these tests are not about
    lines = capsys.readouterr().err.splitlines()
    return rc, [ln for ln in lines if ln.strip() and "scored wrong; e.g." not in ln]


def _start(script: str, *args: str, ready: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != ready:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"helper process said {line!r}, not {ready!r}: {err}")
    return proc


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def _stop(monkeypatch, after: int) -> None:
    """The evaluation's answering step after ``after`` of them raises KeyboardInterrupt."""
    answer = epvlm.evaluate.answer_selections
    calls: list[int] = []

    def stopping(*args, **kwargs):
        if len(calls) == after:
            raise KeyboardInterrupt
        calls.append(1)
        return answer(*args, **kwargs)

    monkeypatch.setattr(epvlm.evaluate, "answer_selections", stopping)


# ---------------------------------------------------------------------------------- the lock


def test_a_second_eval_into_the_same_folder_fails_at_once_and_touches_nothing(
    built, tmp_path, capsys
):
    """A running `epvlm eval` (another process, paused between two answering steps) keeps the
    folder: a second one, with or without --force, fails naming the folder and its pid and
    leaves the first's partial files as they were; the first then finishes normally."""
    _, ds, model, _ = built
    out = tmp_path / "out"
    argv = _argv(model, ds, out)
    first = _start(PAUSING_EVAL, *argv, ready="paused")
    try:
        before = _snapshot(out)
        assert PARTIAL_ANSWERS in before and EVAL_LOCK in before
        for extra in ([], ["--force"]):
            rc, err = _run(capsys, argv + extra)
            assert rc == 1 and len(err) == 1, err
            assert err[0] == (
                f"epvlm eval: error: results folder {str(out)!r} is in use by another epvlm "
                f"eval (pid {first.pid}); wait for it to end or pick another output folder"
            )
            assert _snapshot(out) == before
    finally:
        _, stderr = first.communicate("\n", timeout=300)
    assert first.returncode == 0, stderr
    samples = (out / "samples.jsonl").read_text().splitlines()
    assert len(samples) == ANSWERS
    assert sorted(p.name for p in out.iterdir()) == sorted(epvlm.results.RESULT_FILES)


def test_a_lock_left_by_a_killed_process_does_not_block_the_next_run(built, tmp_path, capsys):
    _, ds, model, _ = built
    out = tmp_path / "out"
    holder = _start(LOCK_HOLDER, str(out), ready="locked")
    try:
        rc, err = _run(capsys, _argv(model, ds, out))
        assert rc == 1 and f"in use by another epvlm eval (pid {holder.pid})" in err[0], err
    finally:
        holder.kill()
        holder.wait()
    # the file stays behind, the lock went with its process
    assert json.loads((out / EVAL_LOCK).read_text())["pid"] == holder.pid
    rc, err = _run(capsys, _argv(model, ds, out))
    assert (rc, err) == (0, [])
    assert not (out / EVAL_LOCK).exists()


def test_ctrl_c_and_a_crash_release_the_lock(built, tmp_path, capsys, monkeypatch):
    """After an interrupted run and after one that crashed, another process can lock the
    folder at once, and the lock file is gone (the kept answers are what remains)."""
    _, ds, model, _ = built
    out = tmp_path / "out"
    _stop(monkeypatch, after=1)
    rc, err = _run(capsys, _argv(model, ds, out))
    monkeypatch.undo()
    assert rc == 130, err
    assert sorted(p.name for p in out.iterdir()) == [PARTIAL_ANSWERS, PARTIAL_STATE]
    _start(LOCK_HOLDER, str(out), ready="locked").communicate("\n", timeout=60)

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(epvlm.evaluate, "answer_selections", crash)
    rc, err = _run(capsys, _argv(model, ds, out))
    monkeypatch.undo()
    assert rc == 1 and "simulated crash" in err[-1], err
    assert sorted(p.name for p in out.iterdir()) == [PARTIAL_ANSWERS, PARTIAL_STATE]
    _start(LOCK_HOLDER, str(out), ready="locked").communicate("\n", timeout=60)
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 0 and err[0].startswith(f"resuming: {BATCH} of {ANSWERS} answers done"), err


def test_without_file_locks_the_eval_runs_unguarded_and_says_so(
    built, tmp_path, capsys, monkeypatch
):
    """A filesystem without flock (NFS without a lock service answers ENOLCK) does not stop
    the evaluation: one warning line says it runs without the guard."""
    _, ds, model, _ = built
    out = tmp_path / "out"

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 0, err
    assert err == [
        f"epvlm eval: warning: results folder {str(out)!r} cannot be locked "
        f"({os.strerror(errno.ENOLCK)}); evaluating without the guard against a second epvlm "
        "eval writing into it at the same time"
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(epvlm.results.RESULT_FILES)


# ----------------------------------------------------------------------- the resume, told


def test_the_library_prints_nothing_and_tells_its_caller_of_a_resume(
    built, tmp_path, capfd, caplog, monkeypatch
):
    _, ds, model, _ = built
    out = tmp_path / "out"
    _stop(monkeypatch, after=1)
    with pytest.raises(KeyboardInterrupt):
        evaluate_dataset(
            model, ds, selectors=["event"], keeps=[0.5], batch_size=BATCH, progress=False,
            out_dir=out,
        )  # fmt: skip
    monkeypatch.undo()
    capfd.readouterr()
    told: list[EvalResume] = []
    with caplog.at_level(logging.INFO, logger="epvlm.evaluate"):
        evaluate_dataset(
            model, ds, selectors=["event"], keeps=[0.5], batch_size=BATCH, progress=False,
            out_dir=out, on_resume=told.append,
        )  # fmt: skip
    assert capfd.readouterr().err == ""
    assert told == [EvalResume(BATCH, ANSWERS, out / PARTIAL_ANSWERS)]
    assert [r.getMessage() for r in caplog.records if r.name == "epvlm.evaluate"] == [
        f"resuming: {BATCH} of {ANSWERS} answers done ({out / PARTIAL_ANSWERS})"
    ]


# ------------------------------------------------------------------------- damaged files


def _cut(text: str) -> str:
    return text[: len(text) // 2]


DAMAGED_STATES = {
    "cut short": (_cut, "is cut short ("),
    "garbled": (lambda text: text.replace(":", ";", 2), "is not JSON ("),
    "empty": (lambda text: "", "is empty"),
    "not UTF-8": (lambda text: "\udcff" + text, "is not UTF-8 text"),
    "an array": (lambda text: "[1, 2]\n", "holds a JSON array, not an object"),
    "settings a string": (
        lambda text: json.dumps({**json.loads(text), "settings": "x"}),
        "has 'settings' of JSON type string, not an object",
    ),
    "no settings": (lambda text: "{}\n", "has no 'settings'"),
    "gone": (None, "is not there"),
}


@pytest.fixture(scope="module")
def stopped_after_one(built, tmp_path_factory) -> Path:
    """The results folder of an evaluation interrupted after its first answering step, which
    each damage test copies (the same files an interrupted run in its own folder leaves)."""
    _, ds, model, _ = built
    out = tmp_path_factory.mktemp("stopped-after-one") / "out"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _stop(monkeypatch, after=1)
        assert main(_argv(model, ds, out)) == 130
    return out


@pytest.mark.parametrize("damage", list(DAMAGED_STATES))
def test_a_damaged_state_is_refused_in_one_line_naming_it_and_the_ways_out(
    built, stopped_after_one, tmp_path, capsys, damage
):
    _, ds, model, _ = built
    out = tmp_path / "out"
    shutil.copytree(stopped_after_one, out)
    change, problem = DAMAGED_STATES[damage]
    # answers of a version that did not record the run's settings digest on each line (with
    # it, the state is rebuilt: tests/test_epvlm_review5.py)
    answers = out / PARTIAL_ANSWERS
    lines = [json.loads(ln) for ln in answers.read_text().splitlines()]
    for record in lines:
        del record["state"]
    answers.write_text("".join(json.dumps(r) + "\n" for r in lines))
    path = out / PARTIAL_STATE
    if change is None:
        path.unlink()
    else:
        path.write_bytes(change(path.read_text()).encode("utf-8", "surrogateescape"))
    before = _snapshot(out)
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 1 and len(err) == 1, err
    assert f"{str(path)!r} {problem}" in err[0]
    assert err[0].endswith(WAYS_OUT)
    assert _snapshot(out) == before
    rc, err = _run(capsys, _argv(model, ds, out, "--force"))
    assert (rc, err) == (0, [])


@pytest.mark.parametrize("damage", ["not a record", "a record of wrong types"])
def test_a_damaged_answers_line_names_the_ways_out(built, tmp_path, capsys, monkeypatch, damage):
    """Only a damaged line before the last is refused (a torn last line is the step a crash
    cut short, answered again); the refusal says how to go on."""
    _, ds, model, _ = built
    out = tmp_path / "out"
    _stop(monkeypatch, after=3)
    assert _run(capsys, _argv(model, ds, out))[0] == 130
    monkeypatch.undo()
    path = out / PARTIAL_ANSWERS
    lines = path.read_text().splitlines(keepends=True)
    first = json.loads(lines[0])
    lines[0] = "{not json\n" if damage == "not a record" else json.dumps({**first, "start": "0"})
    path.write_text("".join([lines[0].rstrip("\n") + "\n", *lines[1:]]))
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 1 and len(err) == 1, err
    assert f"{str(path)!r} line 1 " in err[0] and err[0].endswith(WAYS_OUT)
