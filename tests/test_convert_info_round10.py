"""Round 10 walkthrough of ``eventsim convert`` and ``eventsim info``:

- convert refuses an input whose times are implausible for an event camera (a span over 30
  days, or a mean under 1 ev/s over more than a day), naming the span, the rate and the smaller
  --time-unit that would fit, unless --force: ``--time-unit s`` on µs wrote a 143 MB HDF5 file
  (its ms_to_idx spanned 23 days) without a word;
- polarity mixing -1/+1 and 0/1 is named as a mix, by an index of each, alike by convert and
  ``info --check`` (convert said -1 was not one of "0/1 or -1/+1", info "expected 0 or 1");
- ``info DIR`` of an unfinished build says whether the build is running (it holds the
  folder's lock) or was interrupted or failed; it said "running or interrupted or failed";
- README's colour-bar frame sizes are the renderer's rule;
- convert names a missing input before an existing output.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from eventsim.cli import main
from eventsim.errors import InvalidEventsError
from eventsim.events import EVENT_DTYPE, StreamCheck, normalize_polarity

ROOT = Path(__file__).resolve().parents[1]


def _clip(path: Path, n: int = 2000, span_us: int = 2_000_000) -> Path:
    """``n`` events over ``span_us`` µs in an EVENT_DTYPE .npy (integer times: read as µs)."""
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"], ev["y"] = np.arange(n) % 64, np.arange(n) % 48
    ev["t"] = np.linspace(0, span_us, n).astype(np.int64)
    ev["p"] = np.arange(n) % 2
    np.save(path, ev)
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([*argv])
    out, err = capsys.readouterr()
    return rc, out, err


# --------------------------------------------------------------------- implausible times


def test_convert_refuses_microseconds_read_as_seconds(tmp_path, capsys):
    src = _clip(tmp_path / "c.npy")
    out = tmp_path / "tu_s.h5"
    rc, _, err = _run(
        capsys, "convert", str(src), str(out), "--sensor-size", "64x48", "--time-unit", "s"
    )
    assert rc != 0 and not out.exists()
    assert "read as seconds, its 2,000 events span 2e+06 s (23.1 days)" in err
    assert "at a mean 0.001 ev/s, implausible for an event camera" in err
    # the units that make the numbers plausible, each with its span
    assert "as us 2 s (1e+03 ev/s)" in err and "pass --time-unit ms, us or ns" in err
    assert "pass --allow-implausible-times to convert them as read" in err


def test_convert_force_converts_implausible_times_with_a_warning(tmp_path, capsys):
    src = _clip(tmp_path / "c.npy")
    out = tmp_path / "as_read.npy"
    rc, stdout, err = _run(
        capsys, "convert", str(src), str(out), "--sensor-size", "64x48", "--time-unit", "s",
        "--force",
    )  # fmt: skip
    assert rc == 0 and out.is_file() and "wrote 2,000 events" in stdout
    assert "warning:" in err and "converted as read because of --force" in err
    assert "span 2e+06 s" in err


def test_convert_plausible_times_pass(tmp_path, capsys):
    # the same clip in its own unit, and a sparse but short recording, are converted quietly
    src = _clip(tmp_path / "c.npy")
    rc, _, err = _run(
        capsys, "convert", str(src), str(tmp_path / "ok.npy"), "--sensor-size", "64x48"
    )
    assert rc == 0 and "implausible" not in err
    sparse = _clip(tmp_path / "sparse.npy", n=10, span_us=3_600 * 10**6)  # 10 events in an hour
    rc, _, err = _run(
        capsys, "convert", str(sparse), str(tmp_path / "sparse_out.npy"), "--sensor-size", "64x48"
    )
    assert rc == 0 and "implausible" not in err


def test_implausible_span_alone():
    from eventsim.cli.common import why_implausible

    assert why_implausible(10**9, 31 * 86_400) == "a span over 30 days"
    assert why_implausible(10**9, 29 * 86_400) is None
    assert why_implausible(100, 2 * 86_400) == "a mean under 1 ev/s over more than a day"
    assert why_implausible(100, 80_000) is None


def test_convert_help_says_force_passes_implausible_times(capsys):
    assert main(["convert", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "implausible for an event camera" in text and "--time-unit" in text


# ------------------------------------------------------------------------ mixed polarity


def _mixed(tmp_path: Path) -> Path:
    cols = np.zeros((6, 4), np.int64)
    cols[:, 0] = np.arange(6) * 1000
    cols[:, 1] = cols[:, 2] = 1
    cols[:, 3] = [-1, 1, 0, 1, 0, 1]
    path = tmp_path / "bad.npy"
    np.save(path, cols)
    return path


def test_convert_names_a_polarity_mix(tmp_path, capsys):
    rc, _, err = _run(capsys, "convert", str(_mixed(tmp_path)), str(tmp_path / "bad.h5"))
    assert rc != 0
    assert "polarity mixes the -1/+1 and 0/1 conventions (index 0 is -1, index 2 is 0)" in err
    assert "expected 0/1 or -1/+1 throughout" in err
    assert "polarity at index 0 is -1" not in err


def test_info_check_names_a_polarity_mix_as_convert_does(tmp_path, capsys):
    rc, _, err = _run(capsys, "info", str(_mixed(tmp_path)), "--check")
    assert rc == 1
    assert (
        "polarity mixes the -1/+1 and 0/1 conventions (p[0] = -1, p[2] = 0); expected 0/1 or "
        "-1/+1 throughout" in err
    )
    assert "expected 0 or 1" not in err


def test_normalize_polarity_names_a_value_of_neither_convention():
    with pytest.raises(InvalidEventsError, match=r"index 2 is 2; expected 0/1 or -1/\+1$"):
        normalize_polarity(np.array([-1, 0, 2]))
    with pytest.raises(InvalidEventsError, match=r"index 1 is -1, index 0 is 0"):
        normalize_polarity(np.array([0, -1, 1]))


def _packet(p: list[int], t0: int = 0) -> np.ndarray:
    ev = np.zeros(len(p), EVENT_DTYPE)
    ev["t"] = np.arange(t0, t0 + len(p))
    ev["p"] = p
    return ev


def test_stream_check_names_a_mix_whose_zero_comes_packets_later():
    check = StreamCheck((4, 4), signed_polarity=True)
    check.check(_packet([1, -1, 1]))
    check.check(_packet([1, 1, 0], t0=3))
    assert check.problem == (
        "polarity mixes the -1/+1 and 0/1 conventions (p[1] = -1, p[5] = 0); expected 0/1 or "
        "-1/+1 throughout"
    )
    # a stream whose format has 0/1 alone (eventsim's HDF5) expects that
    check = StreamCheck((4, 4))
    check.check(_packet([0, 1, -1]))
    assert check.problem is not None and check.problem.endswith("expected 0 or 1 throughout")
    # a -1 with no 0 anywhere is a bad value, not a mix
    check = StreamCheck((4, 4))
    check.check(_packet([1, -1]))
    check.check(_packet([1, 1], t0=2))
    assert check.problem == "polarity p[1] = -1; expected 0 or 1"


# ------------------------------------------------------------- info of an unfinished build


def _unfinished(tmp_path: Path) -> Path:
    folder = tmp_path / "ds"
    (folder / "shards").mkdir(parents=True)
    (folder / ".build-state.json").write_text("{}\n")
    return folder


def test_info_says_an_unfinished_build_was_stopped(tmp_path, capsys):
    folder = _unfinished(tmp_path)
    rc, _, err = _run(capsys, "info", str(folder))
    assert rc != 0
    assert (
        "was interrupted or failed (no process on this machine holds its lock); rerun the same"
        in err
    )
    assert "still running" not in err and "is running" not in err


@pytest.mark.skipif(os.name != "posix", reason="builds lock their folder on POSIX systems")
def test_info_says_an_unfinished_build_is_running(tmp_path, capsys):
    from eventsim.datasets.engine import _build_lock

    folder = _unfinished(tmp_path)
    with _build_lock(folder) as locked:
        assert locked
        for given in (folder, folder / "shards", folder / "dataset.json"):
            rc, _, err = _run(capsys, "info", str(given))
            assert rc != 0
            assert "unfinished build: an 'eventsim build' into this folder is running" in err
            assert "wait for it to finish" in err and "interrupted" not in err
            pid = re.search(r"\(pid (\d+)\)", err)
            # /proc/locks names the holder where there is one: this process
            assert pid is None or int(pid[1]) == os.getpid()
            assert pid is not None or not Path("/proc/locks").exists()
        # info took the lock for an instant only: it is still this build's
    rc, _, err = _run(capsys, "info", str(folder))
    assert "was interrupted or failed" in err


@pytest.mark.skipif(os.name != "posix", reason="builds lock their folder on POSIX systems")
def test_info_never_takes_the_build_lock(tmp_path, capsys, monkeypatch):
    # a build refuses to start while its folder is locked: info taking the lock to look, even
    # for an instant, refused a build starting in that instant ('another build is writing')
    import fcntl

    from eventsim.datasets.engine import _build_lock
    from eventsim.errors import DatasetError

    folder = _unfinished(tmp_path)
    real_flock = fcntl.flock
    refused: list[str] = []
    starting = False

    def flock_then_a_build_starts(fd: int, op: int) -> None:
        nonlocal starting
        real_flock(fd, op)
        if starting or not op & fcntl.LOCK_EX:
            return
        starting = True
        try:
            with _build_lock(folder):
                pass
        except DatasetError as exc:
            refused.append(str(exc))

    monkeypatch.setattr(fcntl, "flock", flock_then_a_build_starts)
    for given in (folder, folder / "shards"):
        rc, _, err = _run(capsys, "info", str(given))
        assert rc != 0 and "unfinished build" in err
    assert refused == []


def _fake_proc(tmp_path: Path, monkeypatch, locks: str, mountinfo: str = "") -> None:
    import eventsim.datasets.loader as loader

    (tmp_path / "locks").write_text(locks)
    (tmp_path / "mountinfo").write_text(mountinfo)
    monkeypatch.setattr(loader, "_PROC_LOCKS", str(tmp_path / "locks"))
    monkeypatch.setattr(loader, "_MOUNTINFO", str(tmp_path / "mountinfo"))


def test_info_without_proc_locks_says_running_or_stopped(tmp_path, capsys, monkeypatch):
    # no list of locks (macOS, BSD): the build's state cannot be told without taking its lock
    import eventsim.datasets.loader as loader

    folder = _unfinished(tmp_path)
    monkeypatch.setattr(loader, "_PROC_LOCKS", str(tmp_path / "no-such-file"))
    rc, _, err = _run(capsys, "info", str(folder))
    assert rc != 0
    assert "is still running (wait for it to finish) or was interrupted or failed" in err


def test_info_reads_the_build_lock_from_proc_locks(tmp_path, capsys, monkeypatch):
    folder = _unfinished(tmp_path)
    st = folder.stat()
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}"
    other = f"{os.major(st.st_dev) + 1:02x}:{os.minor(st.st_dev):02x}"
    # a waiter's line, a POSIX lock and another file system's file of that inode are not it
    _fake_proc(
        tmp_path, monkeypatch,
        f"1: POSIX  ADVISORY  WRITE 11 {dev}:{st.st_ino} 0 EOF\n"
        f"2: FLOCK  ADVISORY  WRITE 12 {other}:{st.st_ino} 0 EOF\n"
        f"2: -> FLOCK  ADVISORY  WRITE 13 {dev}:{st.st_ino} 0 EOF\n",
    )  # fmt: skip
    rc, _, err = _run(capsys, "info", str(folder))
    assert rc != 0 and "was interrupted or failed" in err
    # the holder, its pid written without zero padding of the device
    _fake_proc(
        tmp_path, monkeypatch,
        f"1: FLOCK  ADVISORY  WRITE 4321 {os.major(st.st_dev):x}:{os.minor(st.st_dev):x}:"
        f"{st.st_ino} 0 EOF\n",
    )  # fmt: skip
    rc, _, err = _run(capsys, "info", str(folder))
    assert rc != 0 and "is running (pid 4321); wait for it to finish" in err
    # a holder of another pid namespace shows as pid 0 or -1: running, no pid
    _fake_proc(tmp_path, monkeypatch, f"1: FLOCK  ADVISORY  WRITE -1 {dev}:{st.st_ino} 0 EOF\n")
    rc, _, err = _run(capsys, "info", str(folder))
    assert rc != 0 and "is running; wait for it to finish" in err
    # btrfs: stat gives the subvolume's device, /proc/locks the file system's (the mount's)
    mount = f"36 1 0:99 / {tmp_path} rw,relatime shared:1 - btrfs /dev/vda2 rw\n"
    _fake_proc(
        tmp_path, monkeypatch, f"1: FLOCK  ADVISORY  WRITE 77 00:63:{st.st_ino} 0 EOF\n", mount
    )
    rc, _, err = _run(capsys, "info", str(folder / "shards"))
    assert rc != 0 and "is running (pid 77)" in err


def test_info_of_a_plain_folder_is_still_not_a_dataset(tmp_path, capsys):
    rc, _, err = _run(capsys, "info", str(tmp_path))
    assert rc != 0 and "not a built dataset" in err


# ------------------------------------------------------------------------ heat-map colour bar


def test_readme_colour_bar_sizes_are_the_renderers():
    from eventsim.render.scales import colorbar_fits, colorbar_frame_size, colorbar_size

    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    smallest = colorbar_size(8, log_scale=True)
    assert colorbar_frame_size(smallest) == (204, 156) and smallest[0] == 94
    assert "94 px for a log scale up to 99 events/px (frames from 204×156)" in readme
    assert colorbar_frame_size(colorbar_size(99, log_scale=True)) == (204, 156)
    scales = np.unique(np.round(np.logspace(0, 5, 600)))
    scales = scales[scales < 100_000]
    widest = max(
        colorbar_frame_size(colorbar_size(float(s), log_scale=log))
        for s in scales
        for log in (True, False)
    )
    assert widest == (292, 156)
    assert "up to 292×156 for any full scale under 100,000 events/px" in readme
    assert colorbar_fits((346, 260), colorbar_size(99_999, log_scale=False))


# ----------------------------------------------------------------------- convert's order


def test_convert_names_a_missing_input_before_an_existing_output(tmp_path, capsys):
    out = tmp_path / "y.h5"
    out.write_bytes(b"x")
    rc, _, err = _run(capsys, "convert", str(tmp_path / "missing.npy"), str(out))
    assert rc != 0 and "does not exist" in err and "exists; pass --force" not in err
    assert out.read_bytes() == b"x"
    # a readable input then meets the output check
    src = _clip(tmp_path / "c.npy")
    rc, _, err = _run(capsys, "convert", str(src), str(out), "--sensor-size", "64x48")
    assert rc != 0 and "exists; pass --force to overwrite it" in err


def test_convert_names_a_folder_input_before_an_existing_output(tmp_path, capsys):
    out = tmp_path / "y.h5"
    out.write_bytes(b"x")
    folder = tmp_path / "in.npy"
    folder.mkdir()
    rc, _, err = _run(capsys, "convert", str(folder), str(out))
    assert rc != 0 and "is a directory; expected an event file" in err
    assert "exists; pass --force" not in err


def test_convert_checks_an_existing_output_before_reading_the_input(tmp_path, capsys, monkeypatch):
    # reading may take long: an output that would be refused is named first
    import eventsim.io

    src = _clip(tmp_path / "c.npy")
    out = tmp_path / "y.h5"
    out.write_bytes(b"x")
    opened: list[object] = []
    monkeypatch.setattr(eventsim.io, "open_events", lambda *a, **k: opened.append(a))
    rc, _, err = _run(capsys, "convert", str(src), str(out))
    assert rc != 0 and "exists; pass --force to overwrite it" in err and opened == []


def test_convert_names_an_unreadable_input_before_an_existing_output(tmp_path, capsys, monkeypatch):
    # e9976e0 named a missing input first; one this user may not read still got 'output exists',
    # and --force then met the permission error
    import errno

    src = _clip(tmp_path / "c.npy")
    out = tmp_path / "y.h5"
    out.write_bytes(b"x")
    real_open = os.open

    def denied(path, flags, *rest):
        if Path(path) == src:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *rest)

    monkeypatch.setattr(os, "open", denied)
    rc, _, err = _run(capsys, "convert", str(src), str(out), "--sensor-size", "64x48")
    assert rc != 0 and f"cannot read {str(src)!r}: permission denied" in err.lower()
    assert "exists; pass --force" not in err and out.read_bytes() == b"x"


def test_hdf5_polarity_mix_expects_either_convention(tmp_path, capsys):
    # the HDF5 reader takes -1/+1 as well as 0/1, like the others: a 0 then -1s in events/p
    # was said to expect "0 or 1 throughout" by info --check and convert alike (e9976e0)
    import h5py

    path = tmp_path / "mix.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g["x"] = g["y"] = np.ones(6, "u2")
        g["t"] = np.arange(6, dtype="i8") * 1000
        g["p"] = np.array([0, 1, -1, 1, 0, -1], "i1")
    want = (
        "polarity mixes the -1/+1 and 0/1 conventions (p[2] = -1, p[0] = 0); expected 0/1 or "
        "-1/+1 throughout"
    )
    rc, _, err = _run(capsys, "info", str(path), "--check", "--sensor-size", "4x4")
    assert rc == 1 and want in err
    rc, _, err = _run(capsys, "convert", str(path), str(tmp_path / "o.npy"), "--sensor-size", "4x4")
    assert rc != 0 and want in err and "expected 0 or 1" not in err
