"""The sha256 of shard files, and of the videos a build reads, remembered across processes.

A loader checks each shard against the sha256 its manifest records before reading it. Kept in
one process only, that check was repeated by every DataLoader worker, and again in every epoch
(workers are new processes each epoch unless ``persistent_workers``): with W workers each
reading a shuffled share, every worker hashed every shard, W times the dataset's bytes per
epoch, which outweighs the reads themselves from about five workers on and reads a dataset
larger than the page cache from disk W more times.

So a computed digest is also written to a small file in the user's cache folder, named after
what identifies those bytes: the resolved path, device, inode, size, and the modification and
change times in ns. Any write to the shard, or a new file in its place, changes the change time
or the inode, so a remembered digest is only ever used for the bytes it was computed from. Bit
rot that leaves those untouched is not seen after the first check; ``eventsim verify`` always
hashes in full.

A build hashes each video its samples read, whole, for its inputs log
(`eventsim.datasets.engine`): the samples of several shards, built by several workers, read the
same video, which is hashed once so.

Workers that start together and need the same digest (the first epoch) compute it once: the
first takes a lock on the entry (``flock``, released by the kernel if its process dies) and the
others wait for it, then read what it wrote; a holder that takes far longer than a slow disk
would (stopped with Ctrl-Z, hung) is waited for no longer. Where locks are not available (no
``fcntl``, a file system that refuses them, a folder that cannot be written) each process
hashes on its own, as without the lock.

The folder is pruned at most once every `PRUNE_INTERVAL_S`, by the process that writes an entry
after that time: entries whose file is gone or is no longer the same bytes (another inode,
size or time; they can never be used again) are dropped, and then the oldest beyond
`MAX_ENTRIES`. Each entry records the path it was made for so that this needs a ``stat`` per
entry and no hashing. Other processes may read, write or delete entries meanwhile: every entry
is written whole under a temporary name and renamed, and an entry that disappears only costs
its hash again.

The folder is ``$EVENTSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/eventsim``, else
``~/.cache/eventsim``, in ``shard-sha256/``. A folder that cannot be written leaves the check
as it was, once per process; deleting the folder only costs the hashes again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from eventsim._locks import HAVE_FLOCK, LockFile, try_lock

_HEX64 = re.compile(r"[0-9a-f]{64}")

#: seconds between two prunings of the folder
PRUNE_INTERVAL_S = 24 * 3600
#: entries kept at most; the oldest written go first
MAX_ENTRIES = 10_000
# a temporary or lock file this old was left by a process that died while writing or hashing
_STRAY_AGE_S = 24 * 3600
# a process waits for another hashing the same file at most this long, plus the time a slow
# disk takes to read it, then hashes on its own
_WAIT_S = 30.0
_SLOW_HASH_BYTES_PER_S = 20e6
# the longest pause between two looks at a held lock
_POLL_S = 0.05
# its modification time is when the folder was last pruned
_PRUNED_MARKER = ".pruned"


def cache_folder() -> Path:
    """Where remembered shard digests are kept (see the module's docstring); a relative path
    when there is none: no home folder is known (HOME unset, the user not in the password
    database, as in some containers), and `remembered` and `remember` then do nothing rather
    than fill a folder named '~' in the working directory."""
    root = os.environ.get("EVENTSIM_CACHE_DIR")
    if root:
        return Path(os.path.abspath(root)) / "shard-sha256"
    xdg = os.environ.get("XDG_CACHE_HOME")
    # the XDG specification says to ignore a relative path there
    if xdg and os.path.isabs(xdg):
        root = os.path.join(xdg, "eventsim")
    else:
        root = os.path.expanduser("~/.cache/eventsim")
    return Path(root) / "shard-sha256"


def identity(path: Path, st: os.stat_result) -> str:
    """The name of the digest of the bytes ``st`` describes at ``path``."""
    what = f"{os.path.realpath(path)}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}"
    what += f"\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
    return hashlib.sha256(what.encode("utf-8", "surrogateescape")).hexdigest()


def _read_entry(path: Path) -> tuple[str | None, str | None]:
    """(digest, path of the file it is for) of an entry; None for what is missing or malformed.
    Entries written before paths were recorded hold the bare digest."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None, None
    if _HEX64.fullmatch(text):
        return text, None
    try:
        data = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    digest, source = data.get("sha256"), data.get("path")
    digest = digest if isinstance(digest, str) and _HEX64.fullmatch(digest) else None
    return digest, source if isinstance(source, str) else None


def remembered(name: str) -> str | None:
    """The digest an earlier process wrote under ``name``, if any (and well formed)."""
    folder = cache_folder()
    if not folder.is_absolute():
        return None
    return _read_entry(folder / name)[0]


def remember(name: str, digest: str, path: Path) -> bool:
    """Write ``digest`` of the file at ``path`` under ``name``; False when the cache cannot be
    written, which is otherwise ignored."""
    folder = cache_folder()
    if not folder.is_absolute():
        return False
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    # ASCII (escapes for any other character of the path) and one line
    text = json.dumps({"sha256": digest, "path": os.path.realpath(path)})
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="ascii")
        # a reader in another worker sees the old file or the whole new one, never a part
        os.replace(tmp, folder / name)
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        return False
    return True


def sha256_of(path: Path, st: os.stat_result, compute: Callable[[], str]) -> str:
    """The sha256 of the bytes ``st`` describes at ``path``: the one an earlier process
    remembered, else ``compute()``, remembered for the others. Processes asking at the same
    time compute it once (see the module's docstring)."""
    name = identity(path, st)
    digest = remembered(name)
    if digest is not None:
        return digest
    pid = os.getpid()
    lock = _lock(name, _WAIT_S + st.st_size / _SLOW_HASH_BYTES_PER_S)
    hashed = False
    try:
        # the process that held the lock (or kept it too long) may have written it meanwhile
        digest = remembered(name)
        if digest is None:
            hashed = True
            digest = compute()
            remember(name, digest, path)
    finally:
        # a child forked by ``compute`` has closed its copy and holds no lock to release
        if lock is not None and os.getpid() == pid:
            if hashed:
                # removed while held, whether the hash was written or failed: a process
                # waiting on it rereads the entry (or hashes) once it has the lock, one arriving
                # later finds the entry before it needs a lock, and none is left behind
                _unlink(lock[1])
            lock[0].close()  # releases the flock
    # only after a hash, the one way the folder grows, and with no lock held
    _prune_if_due(cache_folder())
    return digest


def _lock(name: str, wait_s: float) -> tuple[LockFile, Path] | None:
    """An exclusive ``flock`` on ``name``'s lock file, waited for while the entry is not
    written, for ``wait_s`` at most; None where there is none, once the entry is written, and
    after that wait (its holder stopped, as by Ctrl-Z, or hung: this process hashes on its
    own rather than wait for ever). A child forked while it is held (a DataLoader starting its
    workers while a thread hashes) does not keep it (`LockFile`)."""
    folder = cache_folder()
    if not HAVE_FLOCK or not folder.is_absolute():
        return None
    path = folder / f".{name}.lock"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = LockFile(path)
    except OSError:
        return None
    deadline = time.monotonic() + wait_s
    pause = 0.001
    try:
        while True:
            if try_lock(lock.fd):
                return lock, path
            if time.monotonic() >= deadline or remembered(name) is not None:
                lock.close()
                return None
            time.sleep(pause)
            pause = min(2 * pause, _POLL_S)
    except BaseException as exc:
        lock.close()
        if isinstance(exc, OSError):  # a file system without flock (some NFS mounts)
            return None
        raise


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _prune_if_due(folder: Path) -> None:
    if not folder.is_absolute():
        return
    marker = folder / _PRUNED_MARKER
    try:
        if time.time() - marker.stat().st_mtime < PRUNE_INTERVAL_S:
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        # claimed first, so that the processes writing next do not prune the folder as well
        marker.touch()
    except OSError:
        return
    prune(folder)


def prune(folder: Path | None = None) -> int:
    """Remove the entries of ``folder`` (default `cache_folder`) that can never be used again
    (their file is gone or holds other bytes; entries that do not record their file), then the
    oldest beyond `MAX_ENTRIES`, and temporary and lock files left by processes that died.
    Returns how many files were removed. Safe while other processes use the folder."""
    folder = cache_folder() if folder is None else folder
    if not folder.is_absolute():
        return 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    now = time.time()
    removed = 0
    kept: list[tuple[float, Path]] = []
    for name in names:
        entry = folder / name
        if name.startswith(".") and name.endswith((".tmp", ".lock")):
            try:
                stale = now - entry.stat().st_mtime > _STRAY_AGE_S
            except OSError:
                continue
            if stale:
                _unlink(entry)
                removed += 1
        elif _HEX64.fullmatch(name):
            try:
                written = entry.stat().st_mtime
            except OSError:  # removed by another process meanwhile
                continue
            if _usable(name, entry):
                kept.append((written, entry))
            else:
                _unlink(entry)
                removed += 1
    kept.sort()
    for _, entry in kept[: max(0, len(kept) - MAX_ENTRIES)]:
        _unlink(entry)
        removed += 1
    return removed


def _usable(name: str, entry: Path) -> bool:
    digest, source = _read_entry(entry)
    if digest is None or source is None:
        return False
    try:
        st = os.stat(source)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        # cannot tell (no permission, a network file system that is down): kept, until
        # MAX_ENTRIES pushes it out
        return True
    return identity(Path(source), st) == name
