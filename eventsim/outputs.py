"""Publishing outputs safely: temporary names, leftovers of killed runs, Ctrl-C, OS errors.

Every writer of the toolkit writes under `temp_path` (a hidden name beside the output that
holds the writer's process id) and renames onto the output only once the file is complete and
flushed, with `publish` (which calls `check_interrupted` first). A run killed with SIGKILL
leaves its temporary behind; `remove_stale_temps` deletes those of processes that no longer
run, so the next run for the same output starts clean.

Ctrl-C: `sigint_flagged` installs a SIGINT handler that raises `KeyboardInterrupt` like Python's
own and also records the interrupt. h5py runs cleanup code in weakref callbacks, where Python
prints and drops an exception ("Exception ignored in ..."): when the signal lands in such a
finalizer the handler does not raise but runs itself again 20 ms later, and the recorded flag
lets `check_interrupted` raise it at the next packet or before the final rename. So an interrupt
is never lost, never prints a traceback, and no output is published after one.

SIGTERM (Slurm's scancel and time limit, `timeout`, `docker stop`, systemd) is taken the same
way within `sigint_flagged`, so a command stops at the same safe points and removes its
temporaries; `terminated` tells it apart. Outside `sigint_flagged` its handler is left alone,
and a handler the caller had installed is called once the command has stopped.

A Ctrl-C can also land after a command's output was published, while it closes its threads or
prints its summary. A command that names its output with `expect_final_output` is then done, not
interrupted: `finished_outputs` lists what it published, and the CLI reports success rather
than claim that the (complete) output was removed.
"""

from __future__ import annotations

import _thread
import contextlib
import errno
import os
import re
import shutil
import signal
import stat
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from eventsim.errors import EventFileError

_TEMP_RE = re.compile(r"\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp")
# a plain flag, not a threading.Event: the handler sets it, and an Event's lock taken in a
# handler that a second Ctrl-C interrupts would be held forever
_interrupted = False
_retries: list[threading.Timer] = []
_retry_lock = threading.Lock()
_handler_active = False
# SIGTERM arrived (within `sigint_flagged`); the signal a retry delivers again
_terminated = False
_retry_signal = signal.SIGINT
# the running command's final outputs (absolute paths) and whether each has been published
_final_outputs: dict[str, bool] = {}


def temp_path(path: str | os.PathLike) -> Path:
    """A hidden temporary name beside ``path`` that keeps its suffix (writers that pick the
    format from the suffix, such as OpenCV and Pillow, still see it)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


def check_replaceable(path: str | os.PathLike, *, folder: bool = False) -> None:
    """Refuse an existing output that is not a regular file (or a folder, for folder outputs):
    renaming onto a device or a pipe would replace it with a file."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if stat.S_ISREG(mode) or (folder and stat.S_ISDIR(mode)):
        return
    what = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or socket"
    expected = "a file or folder" if folder else "a regular file"
    raise EventFileError(f"output {str(path)!r} is {what}; expected {expected}")


def _pid_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        # it exists, owned by someone else (EPERM): it may still be a zombie
        return not _zombie(pid)
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has ended and waits for a parent to read its status: a build worker
    whose parent (the fork server) was killed with it waits so until something reaps it."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False  # no /proc (not Linux), or the process is out of sight
    return stat_line[stat_line.rfind(b")") + 2 :][:1] in (b"Z", b"X")


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete temporaries of ``path`` left by runs that were killed; returns what was removed.

    Temporaries of a process that still runs (a concurrent writer) are left alone.
    """
    path = Path(path)
    removed: list[Path] = []
    prefix = f".{path.name}."
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix):
            continue
        m = _TEMP_RE.match(name[len(prefix) - 1 :])
        if m is None or _pid_running(int(m["pid"])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


def remove_path(path: Path) -> None:
    """Delete a file, link or folder tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Rename the finished temporary ``tmp`` onto ``path``, unless Ctrl-C came first.

    A Ctrl-C during the rename is raised once it is done and recorded (see
    `expect_final_output`), so the output is never published unrecorded.
    """
    check_interrupted()
    with sigint_deferred():
        os.replace(tmp, path)
        key = os.path.abspath(path)
        if key in _final_outputs:
            _final_outputs[key] = True


def publish_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole: to a temporary, flushed, then `publish`-ed."""
    tmp = temp_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        fsync_file(tmp)
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def expect_final_output(path: str | os.PathLike) -> None:
    """Name an output whose publication completes the running command (within
    `sigint_flagged`): a Ctrl-C after all such outputs are published finds the work done."""
    _final_outputs[os.path.abspath(path)] = False


def final_output_paths() -> list[str]:
    """The running command's final outputs, as named to `expect_final_output`."""
    return list(_final_outputs)


def finished_outputs() -> list[Path]:
    """The running command's final outputs if every one of them has been published (and is
    still there: cleanup after an interrupt may have removed it again), else []."""
    done = [Path(p) for p, published in _final_outputs.items() if published]
    if done and len(done) == len(_final_outputs) and all(p.exists() for p in done):
        return done
    return []


def fsync_file(path: Path) -> None:
    """Flush a finished file to the disk, so the rename never publishes a file whose data a
    crash could still lose (and a full disk shows up here rather than after the rename)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- Ctrl-C --------------------------------------------------------------------------------------
# Code called back from C that drops an exception raised in it with an "Exception ignored"
# report: llvmlite's ctypes callbacks run while numba compiles the simulator's kernel.
_CALLBACK_PACKAGES = (f"{os.sep}llvmlite{os.sep}",)


def _in_finalizer(frame: FrameType | None) -> bool:
    """Whether Python is running a finalizer (``__del__``, a weakref callback) or a callback
    from C that would drop an exception raised in it with an "Exception ignored" report, or
    an import that C code started with no Python caller beneath it (an extension importing a
    module lazily), whose failure C prints as a traceback and carries on from."""
    bottom = frame
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or code.co_filename.endswith("weakref.py"):
            return True
        if any(part in code.co_filename for part in _CALLBACK_PACKAGES):
            return True
        bottom, frame = frame, frame.f_back
    return bottom is not None and bottom.f_code.co_filename.startswith("<frozen importlib")


def _retry_interrupt() -> None:
    with _retry_lock:
        if _handler_active:
            # runs the Python-level handler in the main thread, like a signal, without sending
            # one (a real signal could arrive after our handler is gone and kill the process)
            _thread.interrupt_main(_retry_signal)


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _interrupted, _terminated, _retry_signal
    _interrupted = True
    if signum == signal.SIGTERM:
        _terminated = True
    _retry_signal = signal.Signals(signum)
    if _in_finalizer(frame):
        # raising here would be dropped (and print a traceback): ask again in a moment, from
        # wherever the program is then; `check_interrupted` also raises it at the next packet
        if not any(t.is_alive() for t in _retries):
            timer = threading.Timer(0.02, _retry_interrupt)
            timer.daemon = True
            _retries.append(timer)
            timer.start()
        return
    raise KeyboardInterrupt


def _pending_handlers_run() -> None:
    """Calling a Python function lets the main thread run the handlers of pending signals."""


@contextlib.contextmanager
def sigint_flagged() -> Iterator[None]:
    """Within the block, Ctrl-C and SIGTERM raise KeyboardInterrupt and are also remembered
    (see module doc); the handlers in place before are restored at its end, and a SIGTERM
    handler of the caller's (a Python function) is then called if a SIGTERM came.

    Outside the main thread (where handlers cannot be installed) this does nothing. A signal
    that is ignored (Ctrl-C for a job a shell started in the background) stays ignored.
    """
    global _handler_active, _interrupted, _terminated
    _interrupted = _terminated = False
    _final_outputs.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Any] = {
        signum: signal.getsignal(signum)
        for signum in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(signum) is not signal.SIG_IGN
    }
    if not previous:
        yield
        return
    try:
        for signum in previous:
            signal.signal(signum, _on_sigint)
    except BaseException:
        _restore_handlers(previous)
        raise
    _handler_active = True
    try:
        yield
    finally:
        with _retry_lock:
            _handler_active = False
        for timer in _retries:
            timer.cancel()
        _retries.clear()
        try:
            # a retry delivered just now raises here, while our handler is still installed
            _pending_handlers_run()
        finally:
            try:
                _restore_handlers(previous)
            finally:
                _pass_on_sigterm(previous.get(signal.SIGTERM))


def _pass_on_sigterm(handler: Any) -> None:
    """Call the SIGTERM handler of the program that ran the command (a batch job's own
    checkpoint-and-stop, one that exits), now that the command has stopped cleanly, when the
    command took a SIGTERM: it must still hear of it, or the program carried on after the
    command as if none had come."""
    if _terminated and callable(handler) and handler is not _on_sigint:
        handler(signal.SIGTERM, None)


def _restore_handlers(previous: Mapping[signal.Signals, Any]) -> None:
    """Put ``previous`` back, every one of them even when a signal that lands meanwhile raises
    (ours, still in place for the other signal): that one is raised once all are back. Cut
    short, our handler stayed as SIGTERM's after the command, and a later SIGTERM raised
    KeyboardInterrupt in the caller's program instead of ending it or reaching its handler."""
    stopped: BaseException | None = None
    while True:
        try:
            for signum, handler in previous.items():
                # None: installed from C, which Python cannot put back; the default is nearest
                signal.signal(signum, signal.SIG_DFL if handler is None else handler)
            break
        except KeyboardInterrupt as exc:
            stopped = exc
    if stopped is not None:
        raise stopped


class KeptInterrupt(KeyboardInterrupt):
    """Ctrl-C after which a command keeps what it finished, on purpose, so that running it
    again goes on from there (a resumable evaluation's answers). Its text says what was kept
    and how to go on; the command line prints it in place of "partial outputs removed"."""


def interrupted() -> bool:
    """Whether Ctrl-C (or SIGTERM) arrived since `sigint_flagged` was entered (even if it was
    swallowed)."""
    return _interrupted


def terminated() -> bool:
    """Whether the interrupt since `sigint_flagged` was entered was (or included) SIGTERM."""
    return _terminated


def check_interrupted() -> None:
    """Raise KeyboardInterrupt if an interrupt arrived that something swallowed, within
    `sigint_flagged` (outside it Python's own handler raises every Ctrl-C, and a flag left by
    an earlier command must not stop library code run after it)."""
    if _interrupted and _handler_active:
        raise KeyboardInterrupt


@contextlib.contextmanager
def sigint_deferred(*, deliver: bool = True) -> Iterator[None]:
    """Hold Ctrl-C back within the block: it is raised at the block's end (by the handler that
    was in place, so `sigint_flagged` records it), also when the block raised (the error is
    then its context), or dropped with ``deliver=False`` (cleanup that runs because the
    program is stopping anyway). SIGTERM is held back too where `sigint_flagged`'s handler
    takes it; elsewhere its handler is left alone.

    For code that must not be cut at an arbitrary bytecode: Python-level locks (`queue.Queue`,
    `threading.Condition`, concurrent.futures' waiting) can be left held by a KeyboardInterrupt
    raised just after they were taken, and whoever needs them next waits forever; cleanup that
    a second Ctrl-C cuts short leaves files behind. Keep such blocks short: Ctrl-C waits for
    their end. Outside the main thread this does nothing, and a signal that is ignored stays
    ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def catch(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    previous: dict[signal.Signals, Any] = {}
    try:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, catch)
        if signal.getsignal(signal.SIGTERM) is _on_sigint:
            previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, catch)
    except BaseException:
        # a SIGTERM landing once SIGINT's handler was replaced left `catch` in place: every
        # later Ctrl-C of the command was swallowed
        _restore_handlers(previous)
        raise
    try:
        yield
    finally:
        try:
            _restore_handlers(previous)
        finally:
            if caught and deliver:
                _deliver(caught, previous)


def _deliver(caught: list[int], previous: Mapping[signal.Signals, Any]) -> None:
    # SIGTERM first: its handler records it (the command says it was terminated)
    signum = signal.SIGTERM if signal.SIGTERM in caught else signal.SIGINT
    handler = previous[signum]
    if callable(handler):
        handler(signum, None)
    else:
        signal.raise_signal(signum)


# -- OS errors -----------------------------------------------------------------------------------
_HINTS = {
    errno.ENOSPC: "no space left on the device; free some space or write elsewhere",
    errno.EDQUOT: "disk quota exceeded; free some space or write elsewhere",
    errno.EROFS: "the file system is read-only; write elsewhere",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a file is in the way (a part of the path exists and is not a folder)",
    errno.EISDIR: "is a folder, expected a file",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EMFILE: "too many open files",
    errno.EIO: "input/output error (failing disk or removed medium)",
}


def _errno_of(exc: OSError) -> int | None:
    if exc.errno:
        return exc.errno
    # h5py puts the C errno in its message: "... errno = 28, error message = ..."
    m = re.search(r"errno = (\d+)", str(exc))
    return int(m[1]) if m else None


def with_disk_state(exc: Exception, path: str | os.PathLike) -> Exception:
    """``exc`` as an ENOSPC `OSError` when it does not say why it failed (numpy's "N requested
    and M written", HDF5's RuntimeErrors after a failed write) and the disk of ``path`` is
    full; ``exc`` itself otherwise."""
    if isinstance(exc, OSError) and _errno_of(exc) is not None:
        return exc
    try:
        st = os.statvfs(Path(path).parent)
    except OSError:
        return exc
    if st.f_bavail * st.f_frsize < (1 << 20):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
    return exc


def describe_os_error(exc: OSError, writing: Sequence[str | os.PathLike] = ()) -> str:
    """One line for an OS error: the path(s) involved and what went wrong. A full disk or quota
    reported without a path (a failed write says none) names ``writing``, the outputs being
    written, instead."""
    code = _errno_of(exc)
    what = _HINTS.get(code) if code is not None else None
    if what is None:
        what = exc.strerror or str(exc) or type(exc).__name__
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    if not names:
        m = re.search(r"name = '([^']*)'", str(exc))
        names = [m[1]] if m else []
    if not names and writing and code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return " ".join(f"writing {', '.join(repr(os.fspath(w)) for w in writing)}: {what}".split())
    where = " -> ".join(repr(os.fsdecode(n)) for n in names)
    text = f"{where}: {what}" if where else what
    return " ".join(text.split())
