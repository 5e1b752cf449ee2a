"""Bad inputs, full disks, read-only folders and Ctrl-C against every command.

Each case asserts the exit code, a one-line message without a traceback, and that nothing
appeared at (or vanished from) the output path. Disk-full and read-only cases mount a small
tmpfs, which needs root; elsewhere they skip and say why.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.datasets import EventVQADataset
from eventsim.errors import DatasetError
from eventsim.events import EVENT_DTYPE
from eventsim.io import open_events
from eventsim.io.formats import write_events


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line(err: str, *needles: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def demo_err(err: str) -> str:
    """``err`` less the demo's warning that a dataset (`built`) is of no target-mode recipe, and
    eval's and the demo's warning that the demo model names no option of `built`'s questions."""
    return "\n".join(
        ln
        for ln in err.splitlines()
        if not ln.startswith("epvlm demo: warning: ") and "scored wrong" not in ln
    )


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def events(n: int = 2000, size=(64, 48), t0: int = 0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"] = rng.integers(0, size[0], n)
    ev["y"] = rng.integers(0, size[1], n)
    ev["t"] = t0 + np.sort(rng.integers(0, 200_000, n))
    ev["p"] = rng.integers(0, 2, n)
    return ev


@pytest.fixture
def good_h5(tmp_path) -> Path:
    path = tmp_path / "in.h5"
    write_events(path, events(), (64, 48))
    return path


# -- file-system trouble ---------------------------------------------------------------------------
def _can_mount() -> str | None:
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    probe = tempfile.mkdtemp()
    try:
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], capture_output=True
        )
        if r.returncode:
            return f"mount failed: {r.stderr.decode().strip()}"
        subprocess.run(["umount", probe], check=True)
        return None
    except OSError as exc:
        return f"cannot run mount: {exc}"
    finally:
        os.rmdir(probe)


MOUNT_PROBLEM = _can_mount()
needs_mount = pytest.mark.skipif(MOUNT_PROBLEM is not None, reason=str(MOUNT_PROBLEM))


@contextlib.contextmanager
def tmpfs(tmp_path: Path, size: str, *, read_only: bool = False):
    where = tmp_path / f"fs-{size}-{'ro' if read_only else 'rw'}"
    where.mkdir()
    opts = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


@needs_mount
@pytest.mark.parametrize(
    "make_argv",
    [
        lambda src, out: ["convert", src, out / "big.npy"],
        lambda src, out: ["convert", src, out / "big.txt"],
        lambda src, out: ["convert", src, out / "big.h5"],
        lambda src, out: ["render", src, "-o", out / "frames", "--window-ms", "1", "--no-progress"],
        lambda src, out: [
            "render",
            src,
            "-o",
            out / "clip.mp4",
            "--window-ms",
            "1",
            "--no-progress",
        ],
    ],
    ids=["npy", "txt", "h5", "png-folder", "mp4"],
)
def test_disk_full_is_one_line_and_leaves_nothing(tmp_path, capsys, make_argv):
    src = tmp_path / "many.h5"
    write_events(src, events(200_000, size=(346, 260), seed=1), (346, 260))
    with tmpfs(tmp_path, "96k") as disk:
        rc, _, err = run(capsys, *make_argv(src, disk))
        assert rc == 1
        assert_one_line(err, "no space left", str(disk))  # where, even when the OS says not
        assert listing(disk) == []


@needs_mount
def test_disk_full_during_simulate_and_build(tmp_path, capsys, shapes_recipe):
    with tmpfs(tmp_path, "48k") as disk:
        rc, _, err = run(
            capsys, "simulate", "--synthetic", "moving-shapes", "-q", "-o", disk / "s.h5"
        )
        assert rc == 1
        assert_one_line(err, "no space left")
        assert listing(disk) == []
    recipe = shapes_recipe(tmp_path / "r.toml", test=4)
    with tmpfs(tmp_path, "16k") as disk:
        rc, _, err = run(capsys, "build", recipe, "-o", disk / "ds", "--no-progress")
        assert rc == 1
        assert_one_line(err, "no space left")
        assert not (disk / "ds" / "dataset.json").exists()


@needs_mount
def test_read_only_file_system(tmp_path, capsys, good_h5):
    with tmpfs(tmp_path, "1m", read_only=True) as ro:
        for argv in (
            ["convert", good_h5, ro / "new" / "x.npy"],
            ["render", good_h5, "-o", ro / "frames", "--no-progress"],
            ["simulate", "--synthetic", "moving-shapes", "-q", "-o", ro / "s.h5"],
            ["build", "shapes-vqa", "-o", ro / "ds", "--limit", "1", "--no-progress"],
        ):
            rc, _, err = run(capsys, *argv)
            assert rc == 1, argv
            assert_one_line(err, "read-only")
        assert listing(ro) == []


def test_output_under_a_file_is_one_line(tmp_path, capsys, good_h5):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for argv in (
        ["convert", good_h5, blocker / "x.npy"],
        ["convert", good_h5, blocker / "sub" / "x.h5"],
        ["render", good_h5, "-o", blocker / "f.png", "--no-progress"],
        ["simulate", "--synthetic", "moving-shapes", "-q", "-o", blocker / "s.h5"],
        ["build", "shapes-vqa", "-o", blocker / "ds", "--limit", "1", "--no-progress"],
    ):
        rc, _, err = run(capsys, *argv)
        assert rc == 1, argv
        assert_one_line(err)
    assert blocker.read_text() == "x"


def test_devices_are_never_replaced(tmp_path, capsys, good_h5):
    for argv in (
        ["convert", good_h5, "/dev/null", "--to", "npy", "--force"],
        ["convert", good_h5, "/dev/null", "--to", "h5", "--force"],
        ["render", good_h5, "-o", "/dev/null", "--force", "--no-progress"],
    ):
        rc, _, err = run(capsys, *argv)
        assert rc == 1, argv
        assert_one_line(err, "device")
    assert Path("/dev/null").is_char_device()


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path, capsys, good_h5):
    out = tmp_path / "o.npy"
    dead = 2**22 + 12345  # above the default pid_max of 4194304: never a running process
    stale = tmp_path / f".o.npy.{dead}-0123abcd.tmp.npy"
    stale.write_bytes(b"partial")
    live = tmp_path / f".o.npy.{os.getpid()}-0123abcd.tmp.npy"
    live.write_bytes(b"someone else's")
    rc, _, err = run(capsys, "convert", good_h5, out)
    assert rc == 0, err
    assert not stale.exists()
    assert live.exists()  # a writer that still runs keeps its temporary
    live.unlink()
    assert listing(tmp_path) == ["in.h5", "o.npy"]


# -- one validation of event streams ---------------------------------------------------------------
def _damaged(tmp_path: Path, what: str) -> Path:
    path = tmp_path / f"{what}.h5"
    write_events(path, events(), (64, 48))
    with h5py.File(path, "r+") as f:
        if what == "polarity":
            p = f["events/p"][()]
            p[10] = 2
            f["events/p"][...] = p
        elif what == "unsorted":
            t = f["events/t"][()]
            t[100], t[101] = t[101] + 5, t[100]
            f["events/t"][...] = t
        else:
            x = f["events/x"][()]
            x[7] = 200
            f["events/x"][...] = x
    return path


@pytest.mark.parametrize("what", ["polarity", "unsorted", "outside"])
def test_invalid_events_are_caught_by_info_convert_render(tmp_path, capsys, what):
    bad = _damaged(tmp_path, what)
    rc, out, err = run(capsys, "info", bad)
    assert rc == 0 and "events:" in out
    assert_one_line(err, "warning", "invalid events")
    rc, _, err = run(capsys, "info", "--check", bad)
    assert rc == 1
    assert_one_line(err, "error", "invalid events")
    for argv in (
        ["convert", bad, tmp_path / "o.npy"],
        ["convert", bad, tmp_path / "o.h5"],
        ["render", bad, "-o", tmp_path / "o.png", "--no-progress"],
        ["plot", bad, "-o", tmp_path / "p.png", "--no-progress"],
    ):
        rc, _, err = run(capsys, *argv)
        assert rc == 1, argv
        assert_one_line(err)
    assert listing(tmp_path) == [bad.name]


def test_epoch_timestamps_to_es_are_refused_up_front(tmp_path, capsys):
    pytest.importorskip("faery")
    src = tmp_path / "epoch.h5"
    write_events(src, events(t0=1_700_000_000_000_000), (64, 48))
    started = time.perf_counter()
    rc, _, err = run(capsys, "convert", src, tmp_path / "o.es")
    assert rc == 1
    assert_one_line(err, "ES", "GB")
    assert time.perf_counter() - started < 30
    assert listing(tmp_path) == ["epoch.h5"]


@pytest.mark.parametrize("fmt", ["npy", "v2e"])
def test_round_trips_keep_the_sensor_size(tmp_path, capsys, fmt):
    src = tmp_path / "in.h5"
    write_events(src, events(size=(300, 200)), (346, 260))
    out = tmp_path / ("o.npy" if fmt == "npy" else "o.h5")
    rc, _, err = run(capsys, "convert", src, out, "--to", fmt)
    assert rc == 0, err
    with open_events(out) as r:
        assert r.sensor_size == (346, 260)
        assert not r.sensor_size_inferred


# -- simulate options ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--fps", "0"], "--fps"),
        (["--fps", "nan"], "--fps"),
        (["--threads", "0"], "--threads"),
        (["--duration-ms", "-5"], "--duration-ms"),
    ],
)
def test_simulate_rejects_values_it_would_ignore(tmp_path, capsys, extra, needle):
    out = tmp_path / "s.h5"
    rc, _, err = run(capsys, "simulate", "--synthetic", "moving-shapes", "-o", out, *extra)
    assert rc == 1
    assert_one_line(err, needle)
    assert listing(tmp_path) == []


def test_simulate_refuses_a_non_hdf5_output_name(tmp_path, capsys):
    rc, _, err = run(capsys, "simulate", "--synthetic", "moving-shapes", "-o", tmp_path / "o.npy")
    assert rc == 1
    assert_one_line(err, "convert")
    assert listing(tmp_path) == []


def _frames(folder: Path, n: int = 4) -> None:
    import cv2

    folder.mkdir(parents=True)
    for i in range(n):
        img = np.full((32, 40, 3), 40, np.uint8)
        img[8:20, 4 + 5 * i : 14 + 5 * i] = 230
        cv2.imwrite(str(folder / f"frame_{i:04d}.png"), img)


def test_simulate_reads_esim_layout_and_a_timestamps_file(tmp_path, capsys):
    seq = tmp_path / "seq"
    _frames(seq / "images")
    (seq / "timestamps.txt").write_text("0.0\n0.01\n0.02\n0.03\n")
    rc, _, err = run(capsys, "simulate", seq, "-q", "-o", tmp_path / "a.h5")
    assert rc == 0, err
    with open_events(tmp_path / "a.h5") as r:
        assert r.source["timing"].endswith("timestamps.txt")
    times = tmp_path / "times.txt"
    times.write_text("0\n0.02\n0.04\n0.06\n")
    rc, _, err = run(
        capsys, "simulate", seq / "images", "--timestamps", times, "-q", "-o", tmp_path / "b.h5"
    )
    assert rc == 0, err
    with open_events(tmp_path / "b.h5") as r:
        assert r.source["timing"] == str(times)
    rc, _, err = run(
        capsys, "simulate", seq, "--timestamps", tmp_path / "missing.txt", "-o", tmp_path / "c.h5"
    )
    assert rc == 1
    assert_one_line(err, "missing.txt")
    assert not (tmp_path / "c.h5").exists()


# -- datasets: labels, unfinished builds, limits ----------------------------------------------------
@pytest.fixture(scope="module")
def built(build_shapes) -> Path:
    return build_shapes(4)


@pytest.mark.parametrize("field", ["answer", "answer_index", "question"])
def test_verify_and_loader_refuse_edited_labels(tmp_path, capsys, built, field):
    ds = tmp_path / "ds"
    shutil.copytree(built, ds)
    lines = (ds / "samples.jsonl").read_text().splitlines()
    rec = json.loads(lines[2])
    rec[field] = {"answer": "edited", "answer_index": 0, "question": "Edited?"}[field]
    if rec[field] == json.loads(lines[2])[field]:
        rec[field] = 1
    lines[2] = json.dumps(rec, sort_keys=True)
    (ds / "samples.jsonl").write_text("\n".join(lines) + "\n")
    rc, out, _ = run(capsys, "verify", ds, "--no-progress")
    assert rc == 1
    assert rec["id"] in out and field in out
    with pytest.raises(DatasetError, match=f"sample {rec['id']}: {field}"):
        EventVQADataset(ds, "test")


def test_missing_labels_and_unfinished_builds_are_errors(tmp_path, capsys, built):
    ds = tmp_path / "ds"
    shutil.copytree(built, ds)
    (ds / "samples.jsonl").unlink()
    rc, out, _ = run(capsys, "verify", ds, "--no-progress")
    assert rc == 1 and "samples.jsonl" in out and "missing" in out
    with pytest.raises(DatasetError, match="missing"):
        EventVQADataset(ds, "test")
    # what a killed build leaves: the state file, shards, no manifest
    (ds / "dataset.json").unlink()
    (ds / ".build-state.json").write_text("{}")
    rc, _, err = run(capsys, "verify", ds, "--no-progress")
    assert rc == 1
    assert_one_line(err, "unfinished build", "rerun the same command")
    rc, _, err = run(capsys, "info", ds)
    assert rc == 1
    assert_one_line(err, "unfinished build")


@pytest.mark.parametrize("extra", [["--limit", "0"], ["--limit", "-1"], ["--workers", "0"]])
def test_build_rejects_empty_or_negative_counts(tmp_path, capsys, extra):
    rc, _, err = run(capsys, "build", "shapes-vqa", "-o", tmp_path / "ds", *extra)
    assert rc == 1
    assert_one_line(err, extra[0])
    assert listing(tmp_path) == []


# -- Ctrl-C ----------------------------------------------------------------------------------------
INTERRUPTED = 130


def _interrupt(argv: list[str], cwd: Path, after_s: float, writing_in: Path | None = None):
    """Run ``eventsim ARGV``, send Ctrl-C ``after_s`` seconds after start or, with
    ``writing_in``, after a file (the output's temporary) appears there; (status, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "eventsim", *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    if writing_in is not None:
        deadline = time.monotonic() + 120
        while not any(writing_in.iterdir()) and proc.poll() is None:
            assert time.monotonic() < deadline, "the command never started writing"
            time.sleep(0.005)
    time.sleep(after_s)
    # as a terminal's Ctrl-C does: to the whole process group (worker processes included)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.fixture(scope="module")
def big_h5(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.h5"
    rng = np.random.default_rng(3)

    def packets():
        for k in range(24):
            n = 1 << 20
            ev = np.zeros(n, EVENT_DTYPE)
            ev["x"] = rng.integers(0, 346, n)
            ev["y"] = rng.integers(0, 260, n)
            ev["t"] = k * 1_000_000 + np.sort(rng.integers(0, 1_000_000, n))
            ev["p"] = rng.integers(0, 2, n)
            yield ev

    from eventsim.io.formats import write_stream

    write_stream(path, packets(), (346, 260))
    return path


@pytest.mark.xdist_group("signals")
@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(4))
@pytest.mark.parametrize("target", ["o.h5", "o.npy"])
def test_ctrl_c_during_convert(tmp_path, big_h5, attempt, target):
    out = tmp_path / "out"
    out.mkdir()
    # while the output is being written: from its first bytes to (nearly) its rename
    argv = ["convert", str(big_h5), str(out / target)]
    # an .npy is written in one go at the end, an .h5 packet by packet
    step = 0.15 if target.endswith(".h5") else 0.02
    rc, err = _interrupt(argv, tmp_path, step * attempt, writing_in=out)
    if rc == 0:
        # the late attempts can land after the rename: then the output must be whole
        assert "interrupted" not in err
        assert listing(out) == [target]
        with open_events(out / target, sensor_size=(346, 260)) as reader:
            assert len(reader) == 24 << 20
        return
    assert rc == INTERRUPTED, err
    assert_one_line(err, "interrupted")
    assert listing(out) == []


@pytest.mark.xdist_group("signals")
@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_during_simulate(tmp_path, attempt):
    out = tmp_path / "out"
    out.mkdir()
    # ~2.4 s of simulating here: the Ctrl-C (up to 0.6 s after writing starts) lands in it
    argv = ["simulate", "--synthetic", "moving-shapes", "--duration-ms", "40000", "-q"]
    rc, err = _interrupt([*argv, "-o", str(out / "s.h5")], tmp_path, 0.3 * attempt, writing_in=out)
    assert rc == INTERRUPTED, err
    assert_one_line(err, "interrupted")
    assert listing(out) == []


@pytest.mark.xdist_group("signals")
@pytest.mark.slow
def test_ctrl_c_during_a_parallel_build(tmp_path, shapes_recipe):
    # big enough that a quiet machine is still building when the Ctrl-C lands
    recipe = shapes_recipe(tmp_path / "r.toml", test=3000)
    out = tmp_path / "ds"
    argv = ["build", str(recipe), "-o", str(out), "--workers", "2", "--exact-workers"]
    rc, err = _interrupt([*argv, "--no-progress"], tmp_path, 2.0)
    assert rc == INTERRUPTED, err
    assert_one_line(err, "interrupted")
    assert not (out / "dataset.json").exists()
    shards = out / "shards"
    assert not shards.exists() or not [p for p in shards.iterdir() if ".tmp" in p.name]


def test_a_ctrl_c_after_the_build_wrote_its_manifest_keeps_the_dataset(
    tmp_path, capsys, monkeypatch, shapes_recipe
):
    """The manifest is written last: a Ctrl-C while the summary prints (or the preview is
    drawn) finds a complete dataset, which stays, and the build exits 0 saying so."""
    recipe = shapes_recipe(tmp_path / "r.toml", test=4)
    out = tmp_path / "ds"
    monkeypatch.setattr(sys, "stdout", _CutStdout())
    rc = eventsim_main(["build", str(recipe), "-o", str(out), "--no-progress"])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert rc == 0, err
    assert_one_line(err, "Ctrl-C came after", "dataset.json")
    rc, _, err = run(capsys, "verify", out)
    assert rc == 0, err


# -- the pieces behind the commands ----------------------------------------------------------------
def test_stream_check_names_the_stream_index_across_packets():
    from eventsim.events import StreamCheck

    a, b = events(100, seed=1), events(100, seed=2)
    check = StreamCheck((64, 48))
    assert check.check(a) is None
    b["t"] -= 1  # starts before the end of the previous packet
    assert check.check(b).startswith("timestamps are not sorted: t[100]")
    # the first problem is kept
    assert check.check(events(10, seed=3)).startswith("timestamps are not sorted: t[100]")
    bad = events(50)
    bad["y"][7] = 48
    assert "y[7] = 48 is outside the sensor" in StreamCheck((64, 48)).check(bad)


def test_os_errors_read_as_one_line():
    import errno

    from eventsim.outputs import describe_os_error

    h5 = OSError(
        "Unable to synchronously create file (unable to open file: name = '/x/.o.h5.tmp', "
        "errno = 28, error message = 'No space left on device', flags = 13)"
    )
    assert (
        describe_os_error(h5)
        == "'/x/.o.h5.tmp': no space left on the device; free some space or write elsewhere"
    )
    text = describe_os_error(OSError(errno.EROFS, "Read-only file system", "/ro/a\nb"))
    assert "read-only" in text and "\n" not in text
    full = OSError(errno.ENOSPC, "No space left on device")  # what a failed write() says
    assert describe_os_error(full, writing=["/d/o.png"]).startswith("writing '/d/o.png': no space")
    # a path the error names wins; other errors without a path do not guess one
    assert describe_os_error(OSError(errno.ENOSPC, "x", "/a"), writing=["/b"]).startswith("'/a'")
    assert "/b" not in describe_os_error(OSError(errno.EIO, "I/O error"), writing=["/b"])


def test_labels_are_compared_with_the_shards_without_a_recorded_hash(tmp_path, capsys, built):
    ds = tmp_path / "ds"
    shutil.copytree(built, ds)
    manifest = json.loads((ds / "dataset.json").read_text())
    del manifest["samples_sha256"]  # as written by an older eventsim
    (ds / "dataset.json").write_text(json.dumps(manifest))
    assert run(capsys, "verify", ds, "--no-progress")[0] == 0
    lines = (ds / "samples.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["answer"] = "tampered"
    lines[0] = json.dumps(rec, sort_keys=True)
    (ds / "samples.jsonl").write_text("\n".join(lines) + "\n")
    rc, out, _ = run(capsys, "verify", ds, "--no-progress")
    assert rc == 1 and rec["id"] in out and "tampered" in out


# -- epvlm and the readers ---------------------------------------------------------------------------
def run_epvlm(capsys, *argv: str) -> tuple[int, str, str]:
    from epvlm.cli import main as epvlm_main

    rc = epvlm_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize(
    "text, needle",
    [
        ('{"model_type": "qwen2_vl", ', "not valid JSON"),
        ("[1, 2]", "JSON list"),
        (b"\xff\xfe{}", "UTF-8"),
        ('{"model_type": "qwen2_vl", "vision_config": [1], "hidden_size": 8}', "wrong type"),
        ('{"model_type": "qwen2_vl", "hidden_size": "big"}', "wrong type"),
    ],
    ids=["truncated", "list", "binary", "section-list", "string-number"],
)
def test_flops_with_a_broken_config_json(tmp_path, capsys, text, needle):
    model = tmp_path / "m"
    model.mkdir()
    cfg = model / "config.json"
    cfg.write_bytes(text if isinstance(text, bytes) else text.encode())
    rc, out, err = run_epvlm(capsys, "flops", "--config", model)
    assert rc == 1 and out == ""
    assert_one_line(err, needle)
    assert "internal error" not in err
    assert listing(model) == ["config.json"]


def test_demo_checks_options_before_creating_anything(tmp_path, capsys):
    pytest.importorskip("transformers")
    for extra, needle in ((["--workers", "0"], "workers"), (["--threads", "0"], "threads")):
        rc, _, err = run_epvlm(capsys, "demo", "-o", tmp_path / "deep" / "demo", *extra)
        assert rc == 2  # usage errors, as --keep's
        assert_one_line(err, needle)
        assert listing(tmp_path) == []


@pytest.mark.parametrize("existing", [False, True])
def test_demo_removes_what_it_created_on_ctrl_c(tmp_path, capsys, built, monkeypatch, existing):
    pytest.importorskip("transformers")
    import epvlm.evaluate

    def interrupted(*args, **kwargs):
        (tmp_path / "out" / "results.json").write_text("partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(epvlm.evaluate, "evaluate_dataset", interrupted)
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "mine.txt").write_text("keep me")
    rc, _, err = run_epvlm(capsys, "demo", "-o", out, "--dataset", built, "--no-progress")
    assert rc == 130
    assert_one_line(demo_err(err), "interrupted")
    if existing:
        assert listing(out) == ["mine.txt"] and (out / "mine.txt").read_text() == "keep me"
    else:
        assert listing(tmp_path) == []


def test_plot_removes_stale_temporaries_and_publishes_whole(tmp_path, capsys, good_h5):
    pytest.importorskip("matplotlib")
    dead = 2**22 + 12345  # above the default pid_max: never a running process
    stale = tmp_path / f".p.png.{dead}-0123abcd.tmp.png"
    stale.write_bytes(b"partial")
    rc, _, err = run(capsys, "plot", good_h5, "-o", tmp_path / "p.png", "--no-progress")
    assert rc == 0, err
    assert listing(tmp_path) == ["in.h5", "p.png"]
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("column", ["x", "y", "t", "p"])
def test_hdf5_reader_refuses_non_integer_columns(tmp_path, capsys, column):
    path = tmp_path / "float.h5"
    ev = events(100)
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        for name in "xytp":
            values = ev[name].astype(np.float64) + (0.5 if name == column else 0)
            g[name] = values if name == column else ev[name]
    for argv in (["info", path], ["convert", path, tmp_path / "o.npy"]):
        rc, _, err = run(capsys, *argv)
        assert rc == 1, argv
        assert_one_line(err, f"events/{column}", "float64", "integers")
    assert listing(tmp_path) == ["float.h5"]


def test_a_wrong_sensor_size_is_not_called_corrupt(tmp_path, capsys, good_h5):
    rc, _, err = run(capsys, "info", good_h5, "--sensor-size", "32x32")
    assert rc == 1
    assert_one_line(err, "32x32", "64x48")
    assert "corrupt" not in err


# -- held-out replay: cases that failed once ---------------------------------------------------------
def test_convert_refuses_a_format_that_contradicts_the_suffix(tmp_path, capsys, good_h5):
    rc, _, err = run(capsys, "convert", good_h5, tmp_path / "o.npy", "--to", "h5")
    assert rc == 1
    assert_one_line(err, ".npy", "'h5'")
    assert listing(tmp_path) == ["in.h5"]
    # a suffix no format claims is the user's choice, with a word on how to read it back
    rc, _, err = run(capsys, "convert", good_h5, tmp_path / "o.bin", "--to", "npy")
    assert rc == 0, err
    assert_one_line(err, "note: o.bin does not end in .npy", "--layout npy")
    assert np.load(tmp_path / "o.bin").dtype.names == EVENT_DTYPE.names
    with open_events(tmp_path / "o.bin", layout="npy", sensor_size=(64, 48)) as r:
        assert len(r) == len(np.load(tmp_path / "o.bin"))


def test_convert_refuses_a_suffix_faery_cannot_read_back(tmp_path, capsys, good_h5):
    # faery reads EVT 2.0 back only from .raw / .evt files: a .evt2 file would be write-only
    rc, _, err = run(capsys, "convert", good_h5, tmp_path / "o.evt2", "--to", "evt2")
    assert rc == 1
    assert_one_line(err, ".evt2", "'evt2'", ".raw or .evt")
    assert listing(tmp_path) == ["in.h5"]


def test_info_on_a_dataset_with_a_missing_shard(tmp_path, capsys, built):
    ds = tmp_path / "ds"
    shutil.copytree(built, ds)
    shard = sorted((ds / "shards").glob("*.h5"))[0]
    shard.unlink()
    rc, out, err = run(capsys, "info", ds)
    assert rc == 0 and "samples" in out
    assert_one_line(err, "warning", shard.name, "eventsim verify")
    rc, _, err = run(capsys, "info", "--check", ds)
    assert rc == 1
    assert_one_line(err, "error", shard.name)


def test_plot_never_replaces_a_folder(tmp_path, capsys, good_h5):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "p.png"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep")
    rc, _, err = run(capsys, "plot", good_h5, "-o", folder, "--force", "--no-progress")
    assert rc == 1
    assert_one_line(err, "folder")
    assert listing(folder) == ["mine.txt"]


@pytest.fixture
def demo_model(tmp_path) -> Path:
    pytest.importorskip("transformers")
    from epvlm.demo.pipeline import DEFAULT_MODEL

    return Path(shutil.copytree(DEFAULT_MODEL, tmp_path / "model"))


def test_a_model_without_tokenizer_is_named(tmp_path, capsys, demo_model, good_h5):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (demo_model / name).unlink()
    image = tmp_path / "i.png"
    _frames(tmp_path / "fr", 1)
    shutil.copy(tmp_path / "fr" / "frame_0000.png", image)
    rc, _, err = run_epvlm(
        capsys, "run", "--model", demo_model, "--image", image, "--question", "q?",
        "--selector", "dense",
    )  # fmt: skip
    assert rc == 1
    assert_one_line(err, "no tokenizer", "tokenizer.json")


@pytest.mark.parametrize("earlier", [False, True])
def test_eval_interrupted_before_publishing_keeps_its_answers_and_the_old_results(
    tmp_path, capsys, demo_model, built, monkeypatch, earlier
):
    """Ctrl-C while the results are being written: earlier results stay as they were, the
    finished answers are kept to resume from, and the same command without --force resumes."""
    import epvlm.results
    from epvlm.results import PARTIAL_FILES, RESULT_FILES

    out = tmp_path / "deep" / "ev"
    if earlier:
        out.mkdir(parents=True)
        (out / "results.json").write_text("[]\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()} if earlier else {}
    real_plot = epvlm.results.plot_accuracy_vs_flops

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(epvlm.results, "plot_accuracy_vs_flops", interrupted)
    argv = ["eval", "--model", demo_model, "--dataset", built, "-o", out, "--no-progress"]
    argv += ["--selector", "dense", "--limit", "1"]
    rc, _, err = run_epvlm(capsys, *argv, "--force")
    assert rc == 130
    assert_one_line(err, "interrupted", "1 of 1 answer kept", "without --force to resume")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name in RESULT_FILES} == before
    assert set(PARTIAL_FILES) <= set(listing(out))
    monkeypatch.setattr(epvlm.results, "plot_accuracy_vs_flops", real_plot)
    rc, _, err = run_epvlm(capsys, *argv)
    assert rc == 0, err
    assert "resuming: 1 of 1 answer done" in err
    assert sorted(listing(out)) == sorted(RESULT_FILES)


class _CutStdout:
    """A stdout whose writing is cut by Ctrl-C: the command's closing summary."""

    def write(self, text: str) -> int:
        raise KeyboardInterrupt

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("case", ["eval", "demo", "demo-before-returning"])
def test_a_ctrl_c_after_the_results_are_written(
    tmp_path, capsys, demo_model, built, monkeypatch, case
):
    """A Ctrl-C while the summary prints finds the results (eval) or the report (demo) complete:
    they are kept, one line says so, exit 0. One that lands in the demo before it returns is
    an interruption: the demo removes what it wrote, so exit 130 and nothing left."""
    import epvlm.demo.pipeline
    from epvlm.cli import main as epvlm_main
    from epvlm.results import RESULT_FILES

    out = tmp_path / "out"
    if case == "eval":
        argv = ["eval", "--model", demo_model, "--dataset", built, "--selector", "dense"]
        argv += ["--limit", "1"]
    else:
        argv = ["demo", "--dataset", built, "--limit", "2"]
    if case == "demo-before-returning":

        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(epvlm.demo.pipeline, "DemoResult", interrupted)
    else:
        monkeypatch.setattr(sys, "stdout", _CutStdout())
    rc = epvlm_main([str(a) for a in [*argv, "-o", out, "--no-progress"]])
    monkeypatch.undo()
    err = capsys.readouterr().err
    if case == "demo-before-returning":
        assert rc == 130, err
        assert_one_line(demo_err(err), "interrupted; partial outputs removed")
        assert listing(tmp_path) == ["model"]
        return
    assert rc == 0, err
    assert_one_line(demo_err(err), "Ctrl-C came after", str(out))
    assert set(RESULT_FILES) <= set(listing(out))
    if case == "demo":
        assert (out / "report.md").read_text().startswith("#")


@needs_mount
def test_run_overlay_on_a_read_only_file_system(tmp_path, capsys, demo_model):
    _frames(tmp_path / "fr", 1)
    with tmpfs(tmp_path, "1m", read_only=True) as ro:
        rc, _, err = run_epvlm(
            capsys, "run", "--model", demo_model, "--image", tmp_path / "fr" / "frame_0000.png",
            "--question", "q?", "--selector", "random", "--overlay", ro / "o.png",
        )  # fmt: skip
        assert rc == 1
        assert_one_line(err, "read-only")
        assert listing(ro) == []


def test_absurd_rate_is_named_not_out_of_memory(tmp_path, capsys):
    rc, _, err = run(
        capsys, "simulate", "--synthetic", "moving-shapes", "-o", tmp_path / "s.h5",
        "--set", "leak_rate_hz=1e9",
    )  # fmt: skip
    assert rc == 1
    assert_one_line(err, "--set leak_rate_hz=1e9; expected at most 1e+06 Hz")
    assert listing(tmp_path) == []


def test_out_of_memory_says_how_much(tmp_path, capsys, monkeypatch):
    import eventsim.simulator.pipeline as pipeline

    def too_big(*args, **kwargs):
        raise MemoryError("Unable to allocate 22.4 GiB for an array with shape (3000000000,)")

    monkeypatch.setattr(pipeline, "simulate", too_big)  # the command imports it when it runs
    rc, _, err = run(capsys, "simulate", "--synthetic", "moving-shapes", "-o", tmp_path / "s.h5")
    assert rc == 1
    assert_one_line(err, "out of memory: Unable to allocate 22.4 GiB")


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--alpha", "2", "--alpha 2.0 must be in [0, 1]"),
        ("--tau-ms", "0", "--tau-ms 0.0 must be > 0"),
        ("--max-count", "-1", "--max-count -1.0 must be a finite value > 0"),
        ("--bins", "0", "--bins 0 must be >= 1"),
        ("--scale", "0", "--scale 0 must be an integer >= 1"),
    ],
)
def test_render_errors_name_the_flag(tmp_path, capsys, good_h5, flag, value, needle):
    rc, _, err = run(capsys, "render", good_h5, "-o", tmp_path / "f.png", flag, value)
    assert rc == 1
    assert_one_line(err, needle)
    assert listing(tmp_path) == ["in.h5"]


def test_render_of_an_empty_file_without_a_size_asks_for_one(tmp_path, capsys):
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros(0, EVENT_DTYPE))
    rc, _, err = run(capsys, "render", empty, "-o", tmp_path / "e.png", "--no-progress")
    assert rc == 1
    assert_one_line(err, "holds no events", "--sensor-size")
    assert listing(tmp_path) == ["empty.npy"]
    rc, _, err = run(
        capsys, "render", empty, "-o", tmp_path / "e.png", "--sensor-size", "32x24", "--no-progress"
    )
    assert rc == 0, err
    import cv2

    assert cv2.imread(str(tmp_path / "e.png")).shape == (24, 32, 3)


def test_render_summary_says_how_much_of_a_long_window_holds_events(tmp_path, capsys, good_h5):
    with open_events(good_h5) as r:
        span_ms = r.duration_us / 1000  # t_end_us is already one past the last event
    rc, out, _ = run(
        capsys, "render", good_h5, "-o", tmp_path / "w.png", "--window-ms", "50000", "--no-progress"
    )
    assert rc == 0
    assert f"{span_ms:g} ms of events in 50 s of windows" in out


def test_render_summary_of_one_event_spans_one_microsecond(tmp_path, capsys):
    one = tmp_path / "one.h5"
    write_events(one, np.array([(3, 4, 500, 1)], dtype=EVENT_DTYPE), (32, 24))
    rc, out, _ = run(capsys, "render", one, "-o", tmp_path / "one.png", "--no-progress")
    assert rc == 0
    assert "0.001 ms of events" in out, out


def test_a_plain_matrix_error_says_how_its_columns_were_read(tmp_path, capsys):
    plain = tmp_path / "plain.npy"
    np.save(plain, np.array([[3, 1, 2, 3], [4, 5, 6, 1]]))
    rc, _, err = run(capsys, "convert", plain, tmp_path / "p.h5")
    assert rc == 1
    assert_one_line(err, "read as columns t, x, y, p", "polarity at index 0 is 3")


def test_an_empty_dat_is_refused_as_unreadable(tmp_path, capsys):
    pytest.importorskip("faery")
    empty = tmp_path / "empty.h5"
    write_events(empty, np.zeros(0, EVENT_DTYPE), (32, 24))
    rc, _, err = run(capsys, "convert", empty, tmp_path / "e.dat")
    assert rc == 1
    assert_one_line(err, "cannot hold zero events")
    assert listing(tmp_path) == ["empty.h5"]
    # the formats that read an empty recording back are still written
    assert run(capsys, "convert", empty, tmp_path / "e.aedat4")[0] == 0
    with open_events(tmp_path / "e.aedat4") as r:
        assert len(r) == 0 and r.sensor_size == (32, 24)


def test_info_on_one_shard_points_at_the_dataset(capsys, built):
    shard = sorted((built / "shards").glob("*.h5"))[0]
    rc, _, err = run(capsys, "info", shard)
    assert rc == 1
    assert_one_line(err, "is a shard of an eventsim dataset", f"eventsim info {built}")


def test_a_missing_torch_is_installed_pinned_first(monkeypatch):
    """An extra's torch is unpinned: the message says to install the pinned torch first."""
    import importlib.util

    from eventsim.errors import MissingDependencyError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    msg = str(MissingDependencyError("torch", "sim", "the DVS simulator"))
    assert "pip install torch==2.13.0 first" in msg and "then pip install 'eventsim[sim]'" in msg
    # extras without torch, or torch already there: the extra alone
    assert "torch==" not in str(MissingDependencyError("matplotlib", "viz", "eventsim plot"))
    monkeypatch.setattr(importlib.util, "find_spec", real)
    assert "torch==" not in str(MissingDependencyError("numba", "sim", "the kernels"))
