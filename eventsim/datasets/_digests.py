"""The sha256 of shard files, remembered across processes.

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

The folder is ``$EVENTSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/eventsim``, else
``~/.cache/eventsim``, in ``shard-sha256/``. A folder that cannot be written leaves the check
as it was, once per process; deleting the folder only costs the hashes again.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

_HEX64 = re.compile(r"[0-9a-f]{64}")


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


def remembered(name: str) -> str | None:
    """The digest an earlier process wrote under ``name``, if any (and well formed)."""
    folder = cache_folder()
    if not folder.is_absolute():
        return None
    try:
        text = (folder / name).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if _HEX64.fullmatch(text) else None


def remember(name: str, digest: str) -> None:
    """Write ``digest`` under ``name``; a cache that cannot be written is skipped."""
    folder = cache_folder()
    if not folder.is_absolute():
        return
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.write_text(digest, encoding="ascii")
        # a reader in another worker sees the old file or the whole new one, never a part
        os.replace(tmp, folder / name)
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
