"""SIGTERM (Slurm's scancel and time limit, `timeout`, `docker stop`, systemd) stops a command
as Ctrl-C does: at the same safe points, with its temporaries removed and its finished shards
or answers kept, one line that says so and how to go on, and status 143 (128 + SIGTERM). It
used to end the process with status -15, no message, and temporaries left behind.

The commands run in a subprocess on inputs long enough to be mid-run when the signal comes:
each test waits (polling, with a generous deadline) for the output's temporary or the first
finished shard to appear and sends SIGTERM then.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from eventsim import outputs
from eventsim.datasets import build_dataset, verify_dataset

# signals sent on a timer: run one at a time beside the other workers (see the Makefile)
pytestmark = pytest.mark.xdist_group("signals")

TERMINATED = 143
DEADLINE_S = 120.0
# test samples of the build tests, two to a shard: few, as each build is resumed to its end
# and compared with an uninterrupted one, yet enough that a shard is still being built when
# the first is done (SIGTERM is sent then)
SAMPLES = 20
SHARDS = SAMPLES // 2

RECIPE = """
[dataset]
name = "sigterm"
seed = 3

[source]
kind = "shapes"
mode = "vqa"
n_objects = [2, 3]
object_size_px = [10, 16]
motion_px = [40, 50]
max_step_px = 0.4

[camera]
width = 160
height = 160

[simulator]
preset = "clean"

[events]
window_ms = 20

[splits]
train = 0
test = {samples}

[build]
shard_size = 2
"""


def _start(argv: list[str], cwd: Path) -> subprocess.Popen:
    # a session of its own, as a batch job's step is: `os.killpg` reaches its workers too
    return subprocess.Popen(
        [sys.executable, "-m", "eventsim", *argv],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(proc: subprocess.Popen, ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"finished before {what}: {proc.stderr.read() if proc.stderr else ''}")
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.005)


def _finish(proc: subprocess.Popen) -> str:
    try:
        _, err = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the command hung after SIGTERM")
    return err


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "preview.png"
    }


# -- simulate, convert, render -------------------------------------------------------------------
def test_simulate_terminated_removes_its_temporary_and_exits_143(tmp_path):
    out = tmp_path / "out"
    # long enough to be mid-run when its temporary appears (the clip is made first)
    argv = ["simulate", "--synthetic", "moving-shapes", "--duration-ms", "12000", "-q"]
    proc = _start([*argv, "-o", str(out / "s.h5")], tmp_path)
    _wait_for(proc, lambda: out.is_dir() and bool(_temporaries(out)), "the output's temporary")
    proc.send_signal(signal.SIGTERM)
    err = _finish(proc)
    assert proc.returncode == TERMINATED, err
    assert err.splitlines() == [
        "eventsim simulate: terminated (SIGTERM); partial outputs removed; rerun the same "
        "command to start again"
    ]
    # the folder it created for the output goes too
    assert not out.exists() or list(out.iterdir()) == []


@pytest.fixture(scope="module")
def events_file(tmp_path_factory) -> Path:
    """A minute of a million events: converting it to text or rendering it takes seconds."""
    from eventsim.events import EVENT_DTYPE
    from eventsim.io import write_events

    n = 1_000_000
    rng = np.random.default_rng(0)
    ev = np.empty(n, EVENT_DTYPE)
    ev["x"] = rng.integers(0, 128, n)
    ev["y"] = rng.integers(0, 96, n)
    ev["t"] = np.sort(rng.integers(0, 60_000_000, n))
    ev["p"] = rng.integers(0, 2, n)
    path = tmp_path_factory.mktemp("sigterm-events") / "ev.h5"
    write_events(path, ev, (128, 96))
    return path


@pytest.mark.parametrize(
    ("command", "name"),
    [("convert", "ev.txt"), ("render", "v.mp4"), ("render", "frames")],
)
def test_convert_and_render_terminated_remove_their_temporary(tmp_path, events_file, command, name):
    out = tmp_path / "out"
    out.mkdir()
    target = out / name
    argv = [command, str(events_file), str(target), "-q"]
    if command == "render":
        argv = [command, str(events_file), "-o", str(target), "-q"]
    proc = _start(argv, tmp_path)
    _wait_for(proc, lambda: bool(_temporaries(out)), "the output's temporary")
    proc.send_signal(signal.SIGTERM)
    err = _finish(proc)
    assert proc.returncode == TERMINATED, err
    assert err.splitlines() == [
        f"eventsim {command}: terminated (SIGTERM); partial outputs removed; rerun the same "
        "command to start again"
    ]
    assert list(out.iterdir()) == []


# -- build ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The dataset built without a stop (in this process: no start-up cost), beside its
    recipe, which the stopped builds use too (dataset.json names it)."""
    root = tmp_path_factory.mktemp("sigterm-reference")
    (root / "r.toml").write_text(RECIPE.format(samples=SAMPLES))
    build_dataset(root / "r.toml", root / "ds", progress=False)
    return root / "ds"


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state letter) of every process, from /proc."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(name)] = (int(fields[1]), fields[0])
    return table


def _descendants(root: int) -> set[int]:
    table = _process_table()
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, (ppid, _) in table.items() if ppid in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> list[int]:
    return [pid for pid, (_, state) in _process_table().items() if pid in pids and state != "Z"]


@pytest.mark.parametrize(
    ("workers", "to_group"),
    [(1, False), (2, False), (2, True)],
    ids=["in-process", "pool-parent-only", "pool-process-group"],
)
def test_terminated_build_keeps_its_shards_and_resumes_to_the_same_bytes(
    tmp_path, reference, workers, to_group
):
    recipe = reference.parent / "r.toml"
    out = tmp_path / "ds"
    shards = out / "shards"
    argv = ["build", str(recipe), "-o", str(out), "--no-progress", "--no-preview"]
    argv += ["--workers", str(workers), "--exact-workers"]
    proc = _start(argv, tmp_path)
    started: set[int] = set()

    def a_shard_written() -> bool:
        started.update(_descendants(proc.pid))
        return shards.is_dir() and any(not p.name.startswith(".") for p in shards.iterdir())

    _wait_for(proc, a_shard_written, "a finished shard")
    started.update(_descendants(proc.pid))
    if workers > 1:
        # the fork server and two workers at least
        assert len(started) >= 3, started
    if to_group:
        # as Slurm stops a job step: every process of it, workers and fork server included
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        # as `timeout`, `docker stop` or `kill PID` do: the build process alone
        proc.send_signal(signal.SIGTERM)
    err = _finish(proc)
    assert proc.returncode == TERMINATED, err
    kept = len([p for p in shards.glob("*.h5") if not p.name.startswith(".")])
    assert 0 < kept < SHARDS, "the build finished before SIGTERM came"
    assert err.splitlines() == [
        f"eventsim build: terminated (SIGTERM); {kept} finished "
        f"{'shard' if kept == 1 else 'shards'} kept in {str(out)!r}; rerun the same command to "
        "finish the build"
    ]
    assert _temporaries(out) == []
    assert not (out / "dataset.json").exists()
    deadline = time.monotonic() + 10.0
    while _alive(started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive(started) == [], "a build process outlived the build"

    finished = {p.name: p.stat().st_mtime_ns for p in shards.glob("*.h5")}
    summary = build_dataset(recipe, out, progress=False)
    assert summary.shards_reused == kept
    for name, stamp in finished.items():
        assert (shards / name).stat().st_mtime_ns == stamp  # resumed, not rewritten
    assert verify_dataset(out).ok
    assert _files(out) == _files(reference)


# -- the handlers: only within a command, put back after it --------------------------------------
@pytest.fixture
def guarded():
    """A SIGTERM handler of the test's own, as a program that runs a command may have (a
    SIGTERM raised in this process then does not end the test run): it records the signals
    it got (the handler itself is ``guarded.handler``). A command that takes a SIGTERM calls
    it once it has stopped."""

    class Heard(list):
        def handler(self, signum, frame):
            self.append(signum)

    heard = Heard()
    before = signal.signal(signal.SIGTERM, heard.handler)
    yield heard
    signal.signal(signal.SIGTERM, before)


def test_the_handlers_are_installed_by_the_command_only_and_restored(guarded):
    # library code (outside `sigint_flagged`) leaves a user's SIGTERM handler alone
    with outputs.sigint_deferred():
        assert signal.getsignal(signal.SIGTERM) == guarded.handler
    with outputs.sigint_flagged():
        assert signal.getsignal(signal.SIGTERM) is outputs._on_sigint
    assert signal.getsignal(signal.SIGTERM) == guarded.handler
    # an ignored SIGTERM stays ignored
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with outputs.sigint_flagged():
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN


def test_a_held_back_sigterm_is_raised_even_when_the_block_fails(guarded):
    """A worker that the same SIGTERM ended makes the pool fail while the build holds the
    signal back (waiting on the pool): the build is still reported as terminated."""
    with pytest.raises(KeyboardInterrupt) as info, outputs.sigint_flagged():
        with outputs.sigint_deferred():
            signal.raise_signal(signal.SIGTERM)
            raise RuntimeError("a worker died")
    assert isinstance(info.value.__context__, RuntimeError)
    assert outputs.interrupted() and outputs.terminated()
    assert signal.getsignal(signal.SIGTERM) == guarded.handler
    assert guarded == [signal.SIGTERM]


def test_sigterm_in_a_background_job_is_taken_while_ctrl_c_stays_ignored(guarded):
    """A job a shell starts with '&' ignores Ctrl-C, and SIGTERM still stops it cleanly."""
    before = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with pytest.raises(KeyboardInterrupt), outputs.sigint_flagged():
            with outputs.sigint_deferred():
                signal.raise_signal(signal.SIGTERM)
                assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert outputs.terminated()
    finally:
        signal.signal(signal.SIGINT, before)


# -- epvlm eval ----------------------------------------------------------------------------------
def test_terminated_eval_keeps_its_answers_and_resumes(
    tmp_path, eval_setup, capsys, monkeypatch, guarded
):
    import json

    import epvlm.evaluate
    from epvlm.cli import main

    # three samples in batches of two, dense and event: 2 x 2 + 2 x 1 answers
    root, ds, model, _ = eval_setup(tmp_path, 3)

    def argv(out: Path) -> list[str]:
        return ["eval", "--model", str(model), "--dataset", str(ds), "--keep", "0.5",
                "--selector", "event", "--batch-size", "2", "--no-progress", "-o", str(out)]  # fmt: skip

    assert main(argv(root / "reference")) == 0
    answer = epvlm.evaluate.answer_selections
    calls = []

    def stopped_at_the_third(*args, **kwargs):
        if len(calls) == 2:
            signal.raise_signal(signal.SIGTERM)
        calls.append(1)
        return answer(*args, **kwargs)

    monkeypatch.setattr(epvlm.evaluate, "answer_selections", stopped_at_the_third)
    out = root / "out"
    capsys.readouterr()
    assert main(argv(out)) == TERMINATED
    err = [ln for ln in capsys.readouterr().err.splitlines() if "scored wrong" not in ln]
    assert len(err) == 1, err
    assert err[0].startswith("epvlm eval: terminated (SIGTERM); 4 of 6 answers kept in ")
    assert err[0].endswith("; rerun the same command to resume")
    assert not _temporaries(out)
    assert guarded == [signal.SIGTERM]
    monkeypatch.undo()

    assert main(argv(out)) == 0

    def results(folder: Path) -> list[dict]:
        lines = (folder / "samples.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(ln).items() if k != "latency_s"} for ln in lines]

    assert results(out) == results(root / "reference")
