"""Exclusive file locks that never wait (``flock``), shared by the dataset build, the shard
digest cache and ``epvlm eval``: each says in its own words what a held lock means, and each
carries on unguarded where the system or its file system has no locks."""

from __future__ import annotations

import errno
import os
import threading

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

#: whether this system has flock at all
HAVE_FLOCK = fcntl is not None
# what flock fails with on a file system without locks: NFS without a lock service (ENOLCK),
# some FUSE and network mounts (EOPNOTSUPP, ENOSYS, EINVAL), macOS (ENOTSUP)
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL})


class LocksUnsupported(OSError):
    """This system or the file's file system cannot lock; the message says which."""


def try_lock(fd: int) -> bool:
    """Take an exclusive lock on the open file ``fd`` without waiting: True when taken (the
    system drops it when the file is closed or the process ends, however it ends), False while
    another process holds it. Raises `LocksUnsupported` where there are no locks."""
    if fcntl is None:
        raise LocksUnsupported("this system has no flock")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in _NO_LOCKS:
            raise LocksUnsupported(exc.errno, os.strerror(exc.errno)) from None
        raise
    return True


# descriptors of the `LockFile`s this process has open. A child forked meanwhile (a DataLoader
# starting its workers while another thread builds or hashes; a worker a library forks) would
# share each one's open file description, and with it the lock, for as long as it lives, after
# this process is done with it: others would wait for it, or be refused, meanwhile. The child
# closes its copies as it starts, the moment it first runs (close-on-exec does nothing for a
# fork without exec). A descriptor is opened and listed, or unlisted and closed, under
# `_HELD_GUARD`, which a fork waits for: no child gets one that is open but not listed, or
# listed but already another file's.
_HELD: set[int] = set()
_HELD_GUARD = threading.Lock()


def _close_held_in_child() -> None:
    global _HELD_GUARD
    for fd in _HELD:
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()
    _HELD_GUARD = threading.Lock()  # the parent's is held by the thread that forked


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=lambda: _HELD_GUARD.acquire(),
        after_in_parent=lambda: _HELD_GUARD.release(),
        after_in_child=_close_held_in_child,
    )


class LockFile:
    """A file opened to be locked (`try_lock` on `fd`) that no child this process forks keeps
    open: closing it here releases the lock, whatever processes were forked meanwhile. Pool
    workers that are exec'd (spawn, a fork server) inherit none of our descriptors anyway."""

    __slots__ = ("_pid", "fd")

    def __init__(self, path: str | os.PathLike[str], flags: int = os.O_RDWR | os.O_CREAT) -> None:
        with _HELD_GUARD:
            self.fd = os.open(path, flags, 0o644)
            _HELD.add(self.fd)
            self._pid = os.getpid()

    def close(self) -> None:
        """Close the file, which releases a lock taken on it. Nothing in a child forked while
        it was open: the child closed its copy as it started, and the number may be another
        file's by now."""
        if os.getpid() != self._pid:
            return
        with _HELD_GUARD:
            _HELD.discard(self.fd)
            os.close(self.fd)
