"""Exclusive file locks that never wait (``flock``), shared by the dataset build, the shard
digest cache and ``epvlm eval``: each says in its own words what a held lock means, and each
carries on unguarded where the system or its file system has no locks."""

from __future__ import annotations

import errno
import os

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
