"""Reading built datasets: a map-style dataset (PyTorch-compatible, torch not needed) and a collate.

`EventVQADataset` has ``__len__`` and ``__getitem__``, which is all a ``torch.utils.data``
``DataLoader`` asks of a map-style dataset, so it works with one without importing torch here.
Shard files are opened lazily per process (handles are dropped when the dataset is pickled into
DataLoader workers; threads of one process can share a dataset). A shard is checked against the
sha256 the manifest records the first time a process opens it: HDF5 reads damaged chunks without
complaint, and a few flipped bytes would otherwise reach a model as a plausible image.

A split's ``samples.jsonl`` lines are kept as one byte array and an array of offsets, not as a
list of dicts: forked DataLoader workers then share those pages with the parent for good, where
the reference counts and garbage-collector passes of ~100 k Python dicts made every worker copy
most of them (docs/benchmarks.md, "Dataset loader memory").

What a forked worker still copies is the parent's own Python objects (torch and the rest of what
the training script imported), all at once at the worker's first full garbage collection, which
writes to every object's header: about 36 MiB per worker under tools/bench_loader.py, bounded
and not this loader's. ``gc.freeze()`` in the parent before iterating the DataLoader, or first
thing in ``worker_init_fn``, keeps the collector away from them; the loader leaves that
process-wide choice to the script.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import operator
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import FrameType
from typing import Any, overload

import numpy as np

from eventsim._suffixes import IMAGE_SUFFIXES
from eventsim._text import plural, shell_command
from eventsim.datasets import _digests
from eventsim.datasets._formats import DATASET_FORMAT_VERSION, STATE_FILE, version_problem
from eventsim.datasets.shards import file_digest, open_shard, read_events
from eventsim.errors import DamagedShardError, DatasetError, ParameterError


class UnknownSampleError(DatasetError, KeyError):
    """A sample id that the split of an `EventVQADataset` does not hold (`by_id`,
    `index_of`): a `KeyError` as a mapping's missing key is, and a `DatasetError`."""

    def __str__(self) -> str:
        # KeyError's own str() is the repr of its argument: the message would print quoted
        return str(self.args[0]) if self.args else ""


_MAX_OPEN_SHARDS = 32
_LOCKING_WORDS = ("true", "false", "best-effort")
# the largest sensor side: event coordinates are int16
_MAX_SENSOR_SIDE = 32767
_MISSING = object()
# An unknown id's suggestions: difflib compares the id with each id it is given (1-2 s for
# 100,000 ids), so a larger split offers it the ids beside the unknown one in sorted order
_SUGGEST_FROM_ALL = 10_000
_SUGGEST_NEAR = 50
# what json.dumps(ensure_ascii=False) leaves and the build escapes (engine._jsonl_line)
_JSON_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def _json_string_forms(text: str) -> list[bytes]:
    """``text`` as a JSON string in a samples.jsonl line: as the build writes it (non-ASCII
    kept, the line breaks escaped), or all escaped. A lone surrogate, which no UTF-8 line
    holds, is given as its own bytes."""
    raw = json.dumps(text, ensure_ascii=False)
    written = {raw, raw.translate(_JSON_LINE_BREAKS), json.dumps(text)}
    return [form.encode("utf-8", "surrogatepass") for form in written]


# Held while a sample's arrays are read and while the open-shard cache changes: a thread must not
# read through a handle another thread is evicting. h5py serialises its calls under one lock
# anyway, so this costs threads no parallel reading; transforms run outside it.
_READ_LOCK = threading.RLock()


def _new_read_lock() -> None:
    # a thread of the parent may have held the lock when the process forked
    global _READ_LOCK
    _READ_LOCK = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_read_lock)

# sha256 of the shards this process has checked, by what identifies their bytes: (path, device,
# inode, size, mtime, ctime). Rewriting a file in place or replacing it changes one of these, so
# each version of a shard is hashed once however often it is reopened, and `_digests` keeps it
# for other processes.
_DIGESTS: dict[tuple[str, int, int, int, int, int], str] = {}

# a damaged shard is seldom the only one: a rebuild from what the loader saw would miss others
_VERIFY_THEN_REBUILD = "see what else is damaged before rebuilding the dataset: "


def check_shard(path: Path, entry: dict[str, Any], root: str | Path) -> None:
    """Raise `DamagedShardError` unless the shard at ``path`` has the size and sha256 its
    manifest ``entry`` records (hashed on the first check of each version of the file, by this
    process or another: `eventsim.datasets._digests`; entries without a sha256, from older
    builds, are not checked)."""
    expected = entry.get("sha256")
    if not isinstance(expected, str):
        return
    how = _VERIFY_THEN_REBUILD + shell_command("eventsim", "verify", root)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DatasetError(f"shard {str(path)!r} cannot be read ({_why(exc)}); {how}") from None
    if isinstance(entry.get("bytes"), int) and st.st_size != entry["bytes"]:
        raise DamagedShardError(
            f"shard {str(path)!r} has {st.st_size} {plural(st.st_size, 'byte')}, the build wrote "
            f"{entry['bytes']} (the "
            f"file was changed or damaged); {how}"
        )
    key = (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        # other processes (DataLoader workers, earlier epochs and runs) hashed it already, or
        # are hashing it now
        try:
            digest = _digests.sha256_of(path, st, lambda: file_digest(path)[0])
        except OSError as exc:
            # an I/O error names no file: a worker's traceback would not say which shard
            raise DatasetError(f"shard {str(path)!r} cannot be read ({_why(exc)}); {how}") from None
        _DIGESTS[key] = digest
    if digest != expected:
        raise DamagedShardError(
            f"shard {str(path)!r} does not match the sha256 in dataset.json (the file was "
            f"changed or damaged); {how}"
        )


def dataset_root(path: str | Path) -> Path:
    """The dataset folder ``path`` names: the folder itself, or the folder of its
    ``dataset.json`` (the file is as natural a name for the dataset as its folder). A leading
    ``~`` is the user's home, as tonic's and torchvision's datasets take it."""
    path = Path(path)
    with contextlib.suppress(RuntimeError):  # no home folder to expand to: the path as given
        path = path.expanduser()
    if path.name == "dataset.json":
        try:
            # an unfinished build has none yet: its folder is what `read_manifest` describes
            if path.is_file() or (path.parent / STATE_FILE).is_file():
                return path.parent
        except OSError:
            # in a folder this user may not enter: `read_manifest` names the file it cannot read
            return path.parent
    return path


def read_manifest(root: str | Path) -> dict[str, Any]:
    """``dataset.json`` of a built dataset (``root`` is its folder, or the file itself);
    DatasetError if it is not one, or if a field the readers use is missing or of the wrong
    kind (a hand-edited or damaged file), naming the field."""
    try:
        return _read_manifest(root)
    except OSError as exc:
        # a folder this user may not enter: even asking whether dataset.json is there fails
        where = exc.filename if exc.filename is not None else root
        raise DatasetError(f"cannot read {str(where)!r}: {_why(exc)}") from None


def _datasets_inside(folder: Path) -> list[Path]:
    """The folders directly inside ``folder`` that hold a dataset.json, in name order (at most
    three; none when it cannot be listed)."""
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.is_dir())
        return [folder / n for n in names if (folder / n / "dataset.json").is_file()][:3]
    except OSError:
        return []


def _holds_frames(folder: Path) -> bool:
    """Whether ``folder`` is a frame folder as `eventsim simulate` reads one: images in it, or
    in its images/, imgs/ or frames/ (ESIM's layout); False when it cannot be listed."""
    for sub in (folder, *(folder / n for n in ("images", "imgs", "frames"))):
        try:
            with os.scandir(sub) as entries:
                if any(
                    e.name.lower().endswith(IMAGE_SUFFIXES) and not e.name.startswith(".")
                    for e in entries
                ):
                    return True
        except OSError:
            continue
    return False


def dataset_of_file(path: Path) -> Path | None:
    """The dataset a file of one (a shard, samples.jsonl) is in: the folder holding
    dataset.json one or two levels up; None when neither holds one."""
    return next((p for p in path.parents[:2] if (p / "dataset.json").is_file()), None)


def _read_manifest(root: str | Path) -> dict[str, Any]:
    root = dataset_root(root)
    path = root / "dataset.json"
    if not path.is_file() and (root / STATE_FILE).is_file():
        raise DatasetError(unfinished_build(root) or _unfinished(root))
    if not path.is_file() and (root.parent / STATE_FILE).is_file():
        # its shards/ folder, named while the build is unfinished
        raise DatasetError(
            unfinished_build(root) or f"{str(root)!r} is a folder inside {_unfinished(root.parent)}"
        )
    if root.is_file():
        # a shard, or samples.jsonl: name the dataset it is in, as for its shards/ folder
        holder = dataset_of_file(root)
        raise DatasetError(
            f"{str(root)!r} is a file, not a dataset folder; pass the folder that holds "
            + (
                f"dataset.json: the dataset it is in, {str(holder)!r}"
                if holder is not None
                else "dataset.json (the -o DIR of 'eventsim build')"
            )
        )
    if not root.exists():
        raise DatasetError(
            f"dataset folder {str(root)!r} does not exist; build one with "
            "'eventsim build RECIPE -o DIR'"
        )
    if not path.is_file():
        if (root.parent / "dataset.json").is_file():
            # the shards/ folder, the natural place to look for the data
            raise DatasetError(
                f"{str(root)!r} is a folder inside the dataset {str(root.parent)!r}; pass "
                "the dataset's own folder (the one that holds dataset.json)"
            )
        if any((root / "shards").glob("*.h5")):
            # the build resumes from shards of its own recipe that have no dataset.json
            raise DatasetError(
                f"{str(root)!r} holds shards but no dataset.json (deleted or lost); restore it "
                f"from a copy, or finish the dataset from its shards: rerun {_RECIPE_BUILD}"
            )
        inside = _datasets_inside(root)
        if inside:
            # epvlm demo's output folder, whose dataset is its data/
            named = " or ".join(repr(str(p)) for p in inside)
            held = "one" if len(inside) == 1 else "several"
            raise DatasetError(
                f"{str(root)!r} is not a built dataset (no dataset.json), but holds {held}: "
                f"pass {named}"
            )
        if _holds_frames(root):
            # a user's frames, given to the command that describes event files and datasets
            name = f"{root.resolve().name or 'events'}.h5"
            timed = (root / "timestamps.txt").is_file()
            rate = () if timed else ("--fps", "FPS")
            raise DatasetError(
                f"{str(root)!r} is not a built dataset (no dataset.json) but a folder of frames: "
                "build a dataset with 'eventsim build RECIPE -o DIR', or simulate events from it"
                f"{'' if timed else ' (FPS its frame rate: it has no timestamps.txt)'}: "
                f"{shell_command('eventsim', 'simulate', root, *rate, '-o', name)}"
            )
        raise DatasetError(
            f"{str(root)!r} is not a built dataset (no dataset.json); build one with "
            "'eventsim build RECIPE -o DIR'"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"cannot read {str(path)!r}: {_why(exc)}") from None
    except ValueError as exc:
        raise DatasetError(f"cannot read {str(path)!r}: {_why(exc)}; {_DAMAGED}") from None
    if not isinstance(manifest, dict):
        raise DatasetError(f"{str(path)!r} is not a JSON object; {_DAMAGED}")
    if manifest.get("format") != "eventsim-vqa":
        raise DatasetError(f"{str(path)!r} is not an eventsim-vqa manifest")
    # before the fields: another major version may lay them out otherwise
    _check_format_version(manifest.get("format_version"), path)
    _check_manifest(manifest, path)
    return manifest


# with no dataset.json to give as the recipe, the recipe file: its shards are reused only
# for the same fields (their fingerprint)
_RECIPE_BUILD = (
    "the 'eventsim build RECIPE -o DIR' that made this dataset, with the --set values and "
    "--limit it was built with"
)
# the build refuses a damaged dataset.json (it cannot tell what it holds) but finishes a
# dataset whose dataset.json is gone from its shards, when they are the recipe's
_DAMAGED = (
    f"the file is damaged; restore it from a copy, or delete it and rerun {_RECIPE_BUILD} (its "
    "shards are reused)"
)


def _unfinished(root: Path) -> str:
    # where `unfinished_build` cannot tell (no /proc/locks) a build running now looks the same
    # as a stopped one: saying only "interrupted" sent readers polling for the dataset to rerun
    # a build that was still going
    return (
        f"{str(root)!r}: unfinished build: an 'eventsim build' into this folder is still "
        "running (wait for it to finish) or was interrupted or failed (rerun the same "
        "command to resume)"
    )


_PROC_LOCKS = "/proc/locks"
_MOUNTINFO = "/proc/self/mountinfo"


def _lock_holders(folder: Path) -> list[int] | None:
    """The processes holding a flock on ``folder`` (0 for one whose pid is not known), from
    Linux's /proc/locks; None where there is no such list. Read rather than the lock tried:
    a build refuses to start while another process holds the lock (`eventsim.datasets.engine`),
    so taking it to look, even for an instant, could refuse a build starting in that instant.
    The list shows only this machine's processes (those of this pid namespace): a build on
    another host sharing the folder is not in it."""
    try:
        st = folder.stat()
        lines = Path(_PROC_LOCKS).read_text().splitlines()
    except OSError:
        return None
    # the list names a file by its file system's device, which stat gives for most file
    # systems; btrfs's stat gives the subvolume's instead, the mount table the file system's
    devices = {(os.major(st.st_dev), os.minor(st.st_dev)), *_mount_devices(folder)}
    holders = []
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"; a process waiting for a lock is
        # listed as "1: -> FLOCK ..." under its holder
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        where = fields[5].split(":")
        try:
            device, inode = (int(where[0], 16), int(where[1], 16)), int(where[2])
            pid = int(fields[4])
        except (ValueError, IndexError):
            continue
        if inode == st.st_ino and device in devices:
            holders.append(max(pid, 0))
    return holders


def _mount_devices(folder: Path) -> set[tuple[int, int]]:
    """The devices (major, minor) of the file systems mounted where ``folder`` is, from
    /proc/self/mountinfo (empty where there is none)."""
    try:
        lines = Path(_MOUNTINFO).read_text().splitlines()
        real = os.path.realpath(folder)
    except OSError:
        return set()
    best = -1
    devices: set[tuple[int, int]] = set()
    for line in lines:
        # "36 35 98:0 /mnt1 /mnt/parent rw,noatime ..."; the mount point escapes a space as
        # \040, a tab, newline and backslash alike
        fields = line.split()
        if len(fields) < 5:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
        if not (real == point or real.startswith(point.rstrip("/") + "/")):
            continue
        try:
            major, minor = (int(v) for v in fields[2].split(":"))
        except ValueError:
            continue
        if len(point) > best:
            best, devices = len(point), set()
        if len(point) == best:
            devices.add((major, minor))
    return devices


def unfinished_build(path: Path) -> str | None:
    """For a folder `read_manifest` refused: whether the build into it (or into the folder
    above, for its shards/) is running or was stopped, told by who holds the build's lock
    (`_lock_holders`), or neither where its state file says it could not lock the folder;
    None where that is not the question (not a build's folder) or cannot be told (no
    /proc/locks)."""
    for folder in (path, path.parent):
        if (folder / "dataset.json").is_file():
            return None
        started = (folder / STATE_FILE).is_file()
        holders = _lock_holders(folder) if started or folder == path else None
        if not (holders or started):
            continue
        inside = "" if folder == path else f"{str(path)!r} is a folder inside "
        if holders:
            return (
                f"{inside}{str(folder)!r}: unfinished build: an 'eventsim build' into this "
                f"folder is running{_by(holders)}; wait for it to finish"
            )
        if started and _built_unlocked(folder):
            # no holder says nothing of a build that could not lock: "interrupted, rerun" sent
            # its user to start a second build into the folder beside it, which nothing refuses
            return (
                f"{inside}{str(folder)!r}: unfinished build: the 'eventsim build' into this "
                "folder is still running or was interrupted or failed (it could not lock the "
                "folder, so eventsim cannot tell which); if no build into it is running, on "
                "this machine or another sharing the folder, rerun the same command to resume"
            )
        if holders is None:
            continue
        return (
            f"{inside}{str(folder)!r}: unfinished build: the 'eventsim build' into this folder "
            "was interrupted or failed (no process on this machine holds its lock); rerun the "
            "same command to resume, unless a build on another machine sharing the folder is "
            "still at work (this machine's list of locks does not show it)"
        )
    return None


def build_holder(folder: Path) -> str:
    """Who holds the build lock of ``folder``, as `unfinished_build` says it: `` (pid 1234)``;
    "" where that is not known (no /proc/locks, a holder on another host, several)."""
    return _by(_lock_holders(folder) or [])


def _by(holders: list[int]) -> str:
    pids = [pid for pid in holders if pid]
    return f" (pid {pids[0]})" if len(pids) == 1 else ""


def _built_unlocked(folder: Path) -> bool:
    """Whether the state file of the build in ``folder`` says it builds without the folder's
    lock (`eventsim.datasets.engine._write_state`); False where it cannot be read."""
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and state.get("unlocked") is True


@contextlib.contextmanager
def unfinished_builds_told(path: Path) -> Iterator[None]:
    """Around reading the dataset ``path`` (``eventsim info``, ``eventsim verify``): a
    `DatasetError` becomes `unfinished_build`'s running-or-stopped where it can tell, and is
    raised as it was otherwise. `read_manifest` tells it of a folder with a build's state file;
    this also of one whose build holds the lock but has written none yet."""
    try:
        yield
    except DatasetError:
        unfinished = unfinished_build(path)
        if unfinished is None:
            raise
        raise DatasetError(unfinished) from None


def _check_format_version(version: Any, path: Path) -> None:
    """Refuse a dataset whose format version this eventsim does not read (`version_problem`);
    a version that is not a string is `_check_manifest`'s to report."""
    if not isinstance(version, str):
        return
    problem = version_problem(version, DATASET_FORMAT_VERSION, repr(str(path)), "version")
    if problem is not None:
        raise DatasetError(problem)


def _why(exc: Exception) -> str:
    """An OSError's reason without the path it repeats ("[Errno 13] Permission denied: 'x'"),
    any other error's message."""
    return getattr(exc, "strerror", None) or str(exc)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_manifest(m: dict[str, Any], path: Path) -> None:
    """Refuse a manifest that lacks a field `eventsim info`, `eventsim verify` or the loader
    index, or holds one of the wrong kind: a hand edit would otherwise surface as a KeyError
    or TypeError deep inside them. Only the manifest is read: events are verify's."""

    def need(
        table: dict[str, Any], key: str, ok: Callable[[Any], bool], expected: str, where: str
    ) -> None:
        value = table.get(key, _MISSING)
        if value is _MISSING or not ok(value):
            got = "missing" if value is _MISSING else _shown(value)
            raise DatasetError(
                f"{str(path)!r} is damaged: {where}{key!r} is {got}; expected {expected}; "
                "restore the file or rebuild the dataset"
            )

    def optional(
        table: dict[str, Any], key: str, ok: Callable[[Any], bool], expected: str, where: str
    ) -> None:
        if key in table:
            need(table, key, ok, expected, where)

    text = "a string"
    count = "an integer >= 0"
    table = "a JSON object"
    need(m, "name", lambda v: isinstance(v, str), text, "")
    need(m, "format_version", lambda v: isinstance(v, str), text, "")
    need(
        m,
        "sensor_size",
        lambda v: (
            isinstance(v, list)
            and len(v) == 2
            and all(_count(s) and 0 < s <= _MAX_SENSOR_SIDE for s in v)
        ),
        f"[width, height], two integers 1..{_MAX_SENSOR_SIDE}",
        "",
    )
    need(m, "window_us", lambda v: _count(v) and v > 0, "an integer > 0 (microseconds)", "")
    need(m, "counts", lambda v: isinstance(v, dict), table, "")
    for key in ("samples", "errors"):
        need(m["counts"], key, _count, count, "'counts' field ")
    need(m, "splits", lambda v: isinstance(v, dict), f"{table} of splits", "")
    for name, split in m["splits"].items():
        need(m["splits"], name, lambda v: isinstance(v, dict), table, "'splits' field ")
        for key in ("samples", "errors", "events"):
            need(split, key, _count, count, f"split {name!r} field ")
        for key in ("question_types", "target_motion"):
            need(
                split,
                key,
                lambda v: isinstance(v, dict),
                f"{table} of counts",
                f"split {name!r} field ",
            )
    need(m, "shards", lambda v: isinstance(v, list), "a list of shard entries", "")
    for k, entry in enumerate(m["shards"]):
        if not isinstance(entry, dict):
            raise DatasetError(
                f"{str(path)!r} is damaged: shard entry {k} is {_shown(entry)}; expected "
                f"{table} with 'file', 'samples', 'bytes' and 'sha256'; restore the file or "
                "rebuild the dataset"
            )
        name = entry.get("file")
        where = f"shard entry {k}" + (f" ({name!r})" if isinstance(name, str) else "") + " field "
        need(entry, "file", lambda v: isinstance(v, str) and v != "", "the shard's path", where)
        if not _inside_dataset(entry["file"]):
            # verify would hash, and the loader open, a file anywhere this user may read
            raise DatasetError(
                f"{str(path)!r} is refused: shard entry {k} names {entry['file']!r}, a path "
                "outside the dataset folder (absolute, or with a '..' part); a build writes its "
                "shards inside it, as 'shards/NAME.h5': restore the file or rebuild the dataset"
            )
        need(entry, "samples", _count, count, where)
        need(entry, "bytes", _count, f"the shard's size, {count}", where)
        # builds before checksums were recorded have none: their shards are read unchecked
        optional(
            entry, "sha256", lambda v: isinstance(v, str), "the shard's sha256, " + text, where
        )
    optional(m, "samples_sha256", lambda v: v is None or isinstance(v, str), text, "")
    optional(m, "recipe_fingerprint", lambda v: v is None or isinstance(v, str), text, "")
    optional(m, "limit", lambda v: v is None or _count(v), f"null or {count}", "")
    optional(m, "recipe", lambda v: isinstance(v, dict), table, "")
    for key in ("source", "dataset"):
        optional(m.get("recipe", {}), key, lambda v: isinstance(v, dict), table, "'recipe' field ")


def _inside_dataset(name: str) -> bool:
    """Whether ``name``, a path dataset.json gives from the dataset folder, stays inside that
    folder on POSIX and Windows alike: no root, no drive, no '..' part, no NUL (which no path
    holds). Symbolic links are followed as the file system has them: a folder of shards linked
    to another disk is the user's to make."""
    if "\0" in name:
        return False
    return not any(
        pure.anchor or ".." in pure.parts for pure in (PurePosixPath(name), PureWindowsPath(name))
    )


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def read_jsonl(path: Path, *, required: bool = False) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; a missing file is empty unless ``required``.

    Lines end at a line feed (after an optional carriage return) only: str.splitlines() would
    also end one at a U+2028, U+2029 or U+0085 that JSON allows unescaped inside a string, and
    datasets built before the builder escaped them hold them raw in samples.jsonl."""
    if _missing(path):
        if required:
            raise DatasetError(
                f"{str(path)!r} is missing; the dataset's labels are gone: restore the file "
                f"from a copy, or {_labels_rebuilt(path.parent)}"
            )
        return []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {str(path)!r}: {_why(exc)}") from None
    return [record for _, _, _, record in _json_lines(data, path)]


def _labels_rebuilt(root: Path) -> str:
    """How the build that made the dataset at ``root`` writes its samples.jsonl again from its
    shards: the command `eventsim verify` prints to repair a shard (its dataset.json as the
    recipe, with its --limit), under the eventsim that built it; the command ends the text,
    unquoted."""
    from eventsim.datasets.inspection import build_under, other_builder, rebuild_command

    try:
        manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict):
        return f"rerun {_RECIPE_BUILD} (it writes them again from the shards)"
    command = rebuild_command(root, manifest)
    was = other_builder(manifest)
    if was is not None:
        how = build_under(was, manifest)
        return (
            f"install eventsim {was}, which built it, and rerun the build that made it ({how}), "
            "which writes them again from the shards; this version's build refuses it, but "
            f"rebuilds every shard and the labels with --force: {command} --force"
        )
    return (
        "rerun the build that made it, which writes them again from the shards, from the "
        f"recipe copy in its dataset.json: {command}"
    )


def _missing(path: Path) -> bool:
    """Whether nothing is at ``path``: a folder (or a link to nothing) in a file's place is
    there, and reading it says why it cannot be read ("Is a directory") instead of calling the
    file missing."""
    return not path.exists() and not path.is_symlink()


def _json_lines(data: bytes, path: Path) -> Iterator[tuple[int, int, int, Any]]:
    """``(number, start, end, record)`` of each line of ``data``, the JSON-lines file at
    ``path`` that the build wrote, but blank ones: its number from 1, where it lies in ``data``
    and what it holds; `DatasetError` naming the first line that is not UTF-8 JSON.

    Lines end at a line feed only (see `read_jsonl`), and each is decoded as the text the build
    wrote: UTF-8 without a byte-order mark, which json.loads() of bytes would take (unlike a
    str's) and the build never writes (the split files a build reads may lead with one; the
    files it writes never do)."""
    start, number = 0, 0
    # one line at a time: a list of them all would copy the whole file
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        number += 1
        line = data[start:end]
        # JSON's whitespace: bytes.strip() would also drop a form feed json.loads() refuses
        if line.strip(b" \t\r"):
            try:
                text = line.decode("utf-8")
                if text.startswith("\ufeff"):
                    raise ValueError(
                        "it starts with a byte-order mark (U+FEFF), which the build never "
                        "writes: the file was edited; restore it or rebuild the dataset"
                    )
                record = json.loads(text)
            except ValueError as exc:
                # numbered here: json's own "line 1" is the position inside one line
                raise DatasetError(f"cannot read {str(path)!r}: line {number}: {exc}") from None
            yield number, start, end, record
        start = end + 1


def read_samples(root: str | Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """``samples.jsonl`` of a built dataset, refused when it differs from what the build wrote
    (``samples_sha256`` in the manifest); the error names the first differing sample."""
    path = Path(root) / "samples.jsonl"
    records = read_jsonl(path, required=True)
    expected = manifest.get("samples_sha256")
    if expected is not None and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        _check_finished_again(root, manifest)
        raise _changed_samples(root, manifest, records)
    return records


class _FinishedAgain(DatasetError):
    """The dataset was finished again (its samples.jsonl and dataset.json replaced by a build)
    between a reader's reads of dataset.json and samples.jsonl."""


def _check_finished_again(
    root: str | Path, manifest: dict[str, Any], again: str = "open it again"
) -> None:
    """Raise `_FinishedAgain` when dataset.json no longer records the ``samples_sha256``
    of ``manifest``, read from it before samples.jsonl was: the build renames the two back to
    back, samples.jsonl first, so a reader whose reads straddle the renames holds the old
    manifest and the new samples, which differ without either being damaged. ``again`` says
    what to do then."""
    try:
        current = read_manifest(root)
    except DatasetError:
        return
    if current.get("samples_sha256") != manifest.get("samples_sha256"):
        raise _FinishedAgain(
            f"dataset {str(root)!r} was rebuilt while being opened (its dataset.json and "
            f"samples.jsonl were replaced between the reads of the two); {again}"
        )


def _changed_samples(
    root: str | Path, manifest: dict[str, Any], records: list[dict[str, Any]]
) -> DatasetError:
    # a line edited into something other than a record (a number, a list) is not compared
    # field by field: the file is still reported as changed
    problem = first_label_difference(root, manifest, [r for r in records if isinstance(r, dict)])
    return DatasetError(
        f"{str(Path(root) / 'samples.jsonl')!r} was changed after the build: "
        f"{problem or 'its bytes differ from what the build wrote'}; rebuild the dataset "
        "or restore the file"
    )


class SampleRecords(Sequence[dict[str, Any]]):
    """The ``samples.jsonl`` lines of one split, read-only: ``records[i]`` decodes line ``i``
    into a new dict on each access (so editing it changes nothing stored), a slice gives a list
    of dicts, and iteration decodes line by line. Equal to a list of the same dicts.

    The lines are one uint8 array and int64 offsets: no per-sample Python objects, so pages a
    forked worker reads stay shared with its parent.
    """

    __slots__ = ("_blob", "_offsets")

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self._blob = blob
        self._offsets = offsets

    @classmethod
    def from_spans(cls, data: bytes, starts: Sequence[int], ends: Sequence[int]) -> SampleRecords:
        """Records from the JSON lines at ``data[starts[k]:ends[k]]``."""
        offsets = np.zeros(len(starts) + 1, np.int64)
        # as int64 arrays: an empty split's empty lists would be float64, which
        # np.subtract(..., dtype=int64) refuses to cast
        lengths = np.asarray(ends, np.int64) - np.asarray(starts, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        source = np.frombuffer(data, np.uint8)
        blob = np.empty(int(offsets[-1]), np.uint8)
        for k, (a, b) in enumerate(zip(starts, ends)):
            blob[offsets[k] : offsets[k + 1]] = source[a:b]
        blob.flags.writeable = False
        return cls(blob, offsets)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [self._decode(k) for k in range(*i.indices(len(self)))]
        n = len(self)
        i = operator.index(i)
        if not -n <= i < n:
            raise IndexError(f"record {i} out of range for {n} {plural(n, 'record')}")
        return self._decode(i % n)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for k in range(len(self)):
            yield self._decode(k)

    def holding(self, text: bytes) -> Iterator[int]:
        """The positions of the records whose line holds the bytes ``text``, in order: a
        search of the stored lines, which decodes none."""
        pattern = re.compile(re.escape(text))
        data, at = self._blob.data, 0
        while (found := pattern.search(data, at)) is not None:
            k = int(np.searchsorted(self._offsets, found.start(), side="right")) - 1
            yield k
            at = int(self._offsets[k + 1])

    def _decode(self, k: int) -> dict[str, Any]:
        return json.loads(self._blob[self._offsets[k] : self._offsets[k + 1]].tobytes())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (SampleRecords, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SampleRecords(n={len(self)}, bytes={self._blob.size})"


def read_split_records(root: str | Path, manifest: dict[str, Any], split: str) -> SampleRecords:
    """The ``samples.jsonl`` lines of ``split`` as `SampleRecords`, with `read_samples`'
    checks (missing file, unreadable line, bytes that differ from what the build wrote)."""
    return _read_split_records(root, manifest, split)[0]


def _read_split_records(
    root: str | Path, manifest: dict[str, Any], split: str
) -> tuple[SampleRecords, np.ndarray, np.ndarray]:
    """`read_split_records`, and the split's sample ids sorted with their positions in it (the
    records whose id is not a string left out), for lookups by id: taken from the decoding
    the checks do anyway, where decoding every line again on the first lookup took 0.7 s per
    100,000 samples."""
    path = Path(root) / "samples.jsonl"
    if _missing(path):
        read_jsonl(path, required=True)  # raises: the file is missing
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {str(path)!r}: {_why(exc)}") from None
    expected = manifest.get("samples_sha256")
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        _check_finished_again(root, manifest)
        records = [record for _, _, _, record in _json_lines(data, path)]
        raise _changed_samples(root, manifest, records)
    starts: list[int] = []
    ends: list[int] = []
    ids: list[str] = []
    positions: list[int] = []
    # each line is decoded once, to check it and learn its split and id, and dropped: the
    # records of all splits never exist as dicts at the same time
    for number, start, end, rec in _json_lines(data, path):
        if not isinstance(rec, dict) or not isinstance(rec.get("split"), str):
            raise DatasetError(
                f"{str(path)!r} is damaged: line {number} is not a sample record (a JSON "
                "object with a 'split'); rebuild the dataset"
            )
        if rec["split"] == split:
            if isinstance(rec.get("id"), str):
                ids.append(rec["id"])
                positions.append(len(starts))
            starts.append(start)
            ends.append(end)
    # a sorted array, not a dict of ids: no per-sample Python objects for forked DataLoader
    # workers to copy (see the module's docstring)
    id_array = np.array(ids, dtype=str)
    # stable: of ids listed twice (an edited samples.jsonl), the first is found
    by_id = np.argsort(id_array, kind="stable")
    return (
        SampleRecords.from_spans(data, starts, ends),
        id_array[by_id],
        np.array(positions, dtype=np.int64)[by_id],
    )


def first_label_difference(
    root: str | Path, manifest: dict[str, Any], records: list[dict[str, Any]]
) -> str | None:
    """The first sample whose samples.jsonl line differs from the copy the build kept in its
    shard, as ``'sample ID: field ...'``; None when all agree."""
    from eventsim.datasets.shards import read_shard_records

    by_shard: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_shard.setdefault(str(r.get("shard")), []).append(r)
    for entry in manifest.get("shards", []):
        path = Path(root) / entry["file"]
        if not path.is_file():
            continue
        try:
            built = read_shard_records(path)
        except (OSError, DatasetError):
            # a damaged shard must not hide that samples.jsonl changed: the others may show how
            continue
        listed = by_shard.get(entry["file"], [])
        for want, got in zip(built, listed):
            if want != got:
                keys = sorted(set(want) | set(got), key=str)
                field = next(k for k in keys if want.get(k) != got.get(k))
                return (
                    f"sample {want.get('id')}: {field} is {got.get(field)!r}, the build wrote "
                    f"{want.get(field)!r}"
                )
        if len(built) != len(listed):
            missing = [r.get("id") for r in built[len(listed) :]]
            extra = [r.get("id") for r in listed[len(built) :]]
            what = f"sample {missing[0]} is missing" if missing else f"sample {extra[0]} is extra"
            return f"{entry['file']}: {what} ({len(listed)} listed, the build wrote {len(built)})"
    return None


class EventVQADataset:
    """Samples of one split of a built dataset.

    ``ds[i]`` is a dict: ``id``, ``image`` (HxWx3 uint8 RGB), ``events`` (``EVENT_DTYPE``, same
    pixel grid as the image, absolute µs, window ending at the frame time), ``question``,
    ``choices``, ``answer``, ``answer_index`` (-1 for open questions), ``question_type`` and
    ``meta`` (``sensor_size``, ``window_us`` (start, end) with both ends included,
    ``frame_t_us``, ``target_motion``, ``split``, ``index``, ``source`` and the source's own
    details). ``transform`` is applied to that dict. ``meta["index"]`` and the number in an
    ``id`` count the split's planned samples, skipped ones included, so they are not positions
    in ``ds`` once a build skipped one.

    ``ds.by_id(sample_id)`` is the sample whose ``id`` is ``sample_id`` (as eval results and
    ``samples.jsonl`` name samples) and ``ds.index_of(sample_id)`` its position in ``ds``; the
    split's ids are kept, sorted, as the dataset is opened, so no lookup decodes a line. An id the
    split does not hold raises `UnknownSampleError` (a ``KeyError``), which says how many ids
    there are and suggests close ones, or says when the build skipped that sample.

    ``records`` holds the split's ``samples.jsonl`` lines (labels, ``n_events``, ``shard``...)
    as a read-only `SampleRecords`: ``records[i]`` is a new dict each time, a slice a list.

    ``locking`` is passed to ``h5py.File`` when shards are opened: None (the default) keeps
    HDF5's own choice, which the ``HDF5_USE_FILE_LOCKING`` environment variable sets; ``False``
    (or h5py's ``"false"``) opens shards without HDF5 file locks, for datasets on NFS or
    read-only media where taking the lock fails ("unable to lock file"); ``"best-effort"``
    locks where the file system supports it. Reading without locks is safe against a build: it
    writes each shard under a temporary name and renames it into place.

    A rebuild after the dataset was opened is found when a shard is opened: its first read,
    after `close`, in a DataLoader worker process started since, or after the cache of open
    shards (32) closed it. A shard then gone, or whose bytes differ from the ``dataset.json``
    read at opening, raises a `DatasetError` that says the dataset was rebuilt (open it
    again). Until then a shard already open keeps serving the old build's samples through its
    handle, which match the labels read at opening; nothing is checked per sample.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        transform: Callable[[dict[str, Any]], Any] | None = None,
        *,
        locking: bool | str | None = None,
    ) -> None:
        # absolute: shards open lazily, and a script that changes its working directory after
        # opening the dataset (as Hydra does for each run) would find none of them
        self.root = Path(os.path.abspath(dataset_root(root)))
        # h5py's values (its strings too); 0 and 1 are refused, not read as False and True
        if not (locking is None or isinstance(locking, bool)) and locking not in _LOCKING_WORDS:
            raise ParameterError(
                f"locking must be None, True, False, 'true', 'false' or 'best-effort', got "
                f"{locking!r}"
            )
        try:
            self.manifest, self.records, self._ids = self._read_split(root, split)
        except _FinishedAgain:
            # what is there now is one build's, unless it was finished again once more
            self.manifest, self.records, self._ids = self._read_split(root, split)
        self.split = split
        self.transform = transform
        self.locking = locking
        self.sensor_size: tuple[int, int] = tuple(self.manifest["sensor_size"])
        self._entries = {
            e["file"]: e for e in self.manifest["shards"] if isinstance(e, dict) and "file" in e
        }
        self._files: dict[str, Any] = {}
        self._pid = os.getpid()

    def _read_split(
        self, shown: str | Path, split: str
    ) -> tuple[dict[str, Any], SampleRecords, tuple[np.ndarray, np.ndarray]]:
        """dataset.json, the records of ``split`` (``shown`` names the dataset as given) and
        its ids sorted with their positions in ``ds``."""
        manifest = read_manifest(self.root)
        splits = list(manifest["splits"])
        if split not in splits:
            raise DatasetError(
                f"split {split!r} is not in {str(shown)!r}; splits: {', '.join(splits)}"
            )
        records, ids, positions = _read_split_records(self.root, manifest, split)
        return manifest, records, (ids, positions)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> Any:
        n = len(self.records)
        try:
            # ints, numpy integers and 0-d integer tensors (``Subset(ds, torch.randperm(n))``)
            i = operator.index(i)
        except TypeError:
            hint = ""
            if isinstance(i, str):
                # a sample id, as eval results and samples.jsonl name samples
                hint = (
                    f" {i!r}: samples are read by position; read one by its id with "
                    f"ds.by_id({i!r}) (ds.index_of({i!r}) is its position)"
                )
            elif isinstance(i, slice):
                hint = _slice_hint(i, n)
            raise TypeError(f"index must be an integer, got {type(i).__name__}{hint}") from None
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} {plural(n, 'sample')}")
        # a new dict on each read: a transform that edits the sample (its nested meta too)
        # cannot change what the next read of it (or the next epoch) starts from
        rec = self.records[i]
        with _READ_LOCK:
            f = self._file(rec["shard"])
            try:
                group = f[rec["group"]]
                image = group["frame"][()]
                events = read_events(group)
            except (OSError, KeyError, DatasetError) as exc:
                # h5py's read errors name neither the file nor the sample; the bytes were
                # checked when the shard was first opened, so they changed since (bit rot a
                # remembered digest does not see) or an older build wrote no checksum
                raise DatasetError(
                    f"sample {rec['id']} cannot be read from shard "
                    f"{str(self.root / rec['shard'])!r} ({exc}); {_VERIFY_THEN_REBUILD}"
                    f"{shell_command('eventsim', 'verify', self.root)}"
                ) from None
        sample = {
            "id": rec["id"],
            "image": image,
            "events": events,
            "question": rec["question"],
            "choices": list(rec["choices"]),
            "answer": rec["answer"],
            "answer_index": int(rec["answer_index"]),
            "question_type": rec["question_type"],
            "meta": {
                **rec.get("meta", {}),
                "sensor_size": self.sensor_size,
                "window_us": tuple(rec["window_us"]),
                "frame_t_us": int(rec["frame_t_us"]),
                "target_motion": rec.get("target_motion"),
                "split": rec["split"],
                "index": rec["index"],
                "source": rec.get("source", {}),
            },
        }
        return self.transform(sample) if self.transform is not None else sample

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        """``[ds[i] for i in indices]``: what a ``DataLoader`` with a ``batch_size`` reads a
        batch with. Under torch's default collate, which fails on a structured array with
        "can't convert np.ndarray of type numpy.void" naming neither the field nor the remedy,
        a batch whose samples hold one (the events, unless a transform made them tensors) is
        refused here with a `TypeError` that names `collate_event_vqa`."""
        samples = [self[i] for i in indices]
        field = _structured_field(samples[0]) if samples else None
        if field is not None and _default_collating(sys._getframe(1)):
            raise TypeError(
                f"torch's default collate cannot batch {field} of these samples (structured "
                "numpy arrays, of another length in each sample): give the DataLoader "
                "collate_fn=eventsim.datasets.collate_event_vqa, which keeps them as a list "
                "of arrays, or a transform that turns them into tensors of one shape"
            )
        return samples

    def by_id(self, sample_id: str) -> Any:
        """The sample whose ``id`` is ``sample_id`` (``"test-000042"``), as ``ds[i]`` gives
        it (``transform`` applied); `UnknownSampleError` when the split holds none."""
        return self[self.index_of(sample_id)]

    def index_of(self, sample_id: str) -> int:
        """The position in ``ds`` of the sample whose ``id`` is ``sample_id``: not the number
        in the id once the build skipped a sample before it. `UnknownSampleError` (a
        ``KeyError``) naming the id, how many the split holds and close ones, when it holds
        none."""
        if not isinstance(sample_id, str):
            raise TypeError(
                f"sample id must be a string such as 'test-000000', got "
                f"{type(sample_id).__name__} {sample_id!r}; read a sample by position with ds[i]"
            )
        ids, order = self._ids
        k = _insertion_point(ids, sample_id)
        if k < len(ids) and str(ids[k]) == sample_id:
            return int(order[k])
        raise self._unknown_id(sample_id, ids)

    def _unknown_id(self, sample_id: str, ids: np.ndarray) -> UnknownSampleError:
        where = f"split {self.split!r} of {str(self.root)!r}"
        n = len(ids)
        held = f"{n} {plural(n, 'sample id')}" + (f", {ids[0]} to {ids[-1]}" if n else "")
        hint = (
            self._skipped(sample_id)
            or self._other_split(sample_id)
            or self._from_source_id(sample_id)
        )
        if hint is None:
            close = self._close_ids(sample_id, ids)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        return UnknownSampleError(f"no sample has id {sample_id!r} in {where} ({held}){hint}")

    def _close_ids(self, sample_id: str, ids: np.ndarray) -> list[str]:
        """Up to three ids of ``ids`` (sorted) like ``sample_id``: first the one of this split
        with the number it ends in (``test-42``, ``tset-000042``: ``test-000042``), then
        difflib's closest, of all ids in a split of up to `_SUGGEST_FROM_ALL`, else of those
        beside it in sorted order."""
        if len(ids) <= _SUGGEST_FROM_ALL:
            pool = ids.tolist()
        else:
            k = _insertion_point(ids, sample_id)
            pool = ids[max(0, k - _SUGGEST_NEAR) : k + _SUGGEST_NEAR].tolist()
        close = difflib.get_close_matches(sample_id, pool, n=3)
        digits = sample_id[len(sample_id.rstrip("0123456789")) :]
        if 0 < len(digits) <= 18:
            # the build's id of that number (``sources.sample_id``)
            same = f"{self.split}-{int(digits):06d}"
            k = _insertion_point(ids, same)
            if k < len(ids) and str(ids[k]) == same:
                close = [same, *[c for c in close if c != same][:2]]
        return close

    def _skipped(self, sample_id: str) -> str | None:
        """Why the build skipped sample ``sample_id`` of this split (errors.jsonl), if it did."""
        try:
            errors = read_jsonl(self.root / "errors.jsonl")
        except DatasetError:
            return None
        for e in errors:
            if isinstance(e, dict) and e.get("id") == sample_id and e.get("split") == self.split:
                return f": the build skipped it ({e.get('reason')}; errors.jsonl)"
        return None

    def _other_split(self, sample_id: str) -> str | None:
        """Which other split of the dataset holds ``sample_id``, when the id names one (ids
        are ``<split>-<number>``) and that split's samples.jsonl lines list it."""
        split = sample_id.rpartition("-")[0]
        if split == self.split or split not in self.manifest["splits"]:
            return None
        try:
            data = (self.root / "samples.jsonl").read_bytes()
        except OSError:
            return None
        # only the lines that hold the id as a JSON string are decoded, as in _from_source_id
        for needle in _json_string_forms(sample_id):
            for found in re.finditer(re.escape(needle), data):
                start = data.rfind(b"\n", 0, found.start()) + 1
                end = data.find(b"\n", found.end())
                try:
                    rec = json.loads(data[start : len(data) if end < 0 else end])
                except ValueError:
                    continue
                if isinstance(rec, dict) and (rec.get("id"), rec.get("split")) == (
                    sample_id,
                    split,
                ):
                    return (
                        f": it names a sample of split {split!r}; open that one with "
                        f"EventVQADataset({str(self.root)!r}, split={split!r})"
                    )
        return None

    def _from_source_id(self, source_id: str) -> str | None:
        """The sample whose split file gave it the id ``source_id``, if one did: the ids a
        user's own records carry are kept as ``source.source_id``."""
        # only the lines that hold the id as a JSON string are decoded (a million lines took
        # seconds): as the build writes it (non-ASCII kept, the line breaks escaped), or all
        # escaped
        needles = _json_string_forms(source_id)
        lines = sorted({k for needle in needles for k in self.records.holding(needle)})
        for k in lines:
            rec = self.records[k]
            source = rec.get("source")
            if isinstance(source, dict) and source.get("source_id") == source_id:
                return (
                    f": it is the split file's id of sample {rec['id']!r}, read it with "
                    f"ds.by_id({rec['id']!r})"
                )
        return None

    def _file(self, shard: str):
        if os.getpid() != self._pid:
            # an HDF5 handle must not cross a fork
            self._files = {}
            self._pid = os.getpid()
        f = self._files.pop(shard, None)
        if f is None:
            if len(self._files) >= _MAX_OPEN_SHARDS:
                # shuffled access over a large dataset must not run out of file handles
                oldest = next(iter(self._files))
                self._files.pop(oldest).close()
            path = self.root / shard
            entry = self._entries.get(shard)
            if entry is None:
                raise DatasetError(
                    f"{str(self.root / 'samples.jsonl')!r} refers to {shard!r}, which "
                    "dataset.json does not list; rebuild the dataset"
                )
            try:
                check_shard(path, entry, self.root)
            except DatasetError:
                self._check_not_rebuilt()
                raise
            f = open_shard(path, self.locking)
            try:
                self._check_sensor(f, shard)
            except BaseException:
                # (an unreadable attribute too): the handle is in no cache to close it later
                f.close()
                raise
        self._files[shard] = f  # most recently used last
        return f

    def _check_sensor(self, f: Any, shard: str) -> None:
        """The shard records the sensor it was built for, and its sha256 is checked: a
        ``sensor_size`` edited in dataset.json differs from it (two attributes, no events
        read; events outside the sensor are `eventsim verify`'s to find)."""
        try:
            built = (f.attrs.get("sensor_width"), f.attrs.get("sensor_height"))
        except (OSError, KeyError) as exc:
            raise DatasetError(
                f"cannot read shard {str(self.root / shard)!r} ({exc}); {_VERIFY_THEN_REBUILD}"
                f"{shell_command('eventsim', 'verify', self.root)}"
            ) from None
        if built[0] is None or built[1] is None:
            return
        built = (int(built[0]), int(built[1]))
        if built != self.sensor_size:
            self._check_not_rebuilt()
            raise DatasetError(
                f"{str(self.root / 'dataset.json')!r} gives sensor_size "
                f"{list(self.sensor_size)}, but shard {shard!r} was built for "
                f"{list(built)}: dataset.json was edited; restore it or rebuild the dataset"
            )

    def _check_not_rebuilt(self) -> None:
        """A shard that no longer matches, or is gone, may belong to a build made after this
        dataset was opened (`eventsim build --force` over it), or the dataset was moved: say
        so rather than call it damaged and ask for a rebuild."""
        root = str(self.root)
        if not self.root.is_dir():
            raise DatasetError(
                f"dataset folder {root!r} is gone since the dataset was opened (moved, renamed "
                "or deleted); open it again where it is now"
            )
        if not (self.root / "dataset.json").is_file():
            raise DatasetError(
                f"dataset {root!r} lost its dataset.json after it was opened (it is being "
                "rebuilt, or was deleted); open it again once it is rebuilt"
            )
        try:
            current = read_manifest(self.root)
        except DatasetError:
            return
        # (a rebuild that wrote other shards lists other sha256 values)
        if current.get("shards") != self.manifest.get("shards"):
            raise DatasetError(
                f"dataset {str(self.root)!r} was rebuilt after it was opened (its dataset.json "
                "changed); open it again"
            )

    def close(self) -> None:
        """Close the shard files this process opened (they reopen on the next access)."""
        with _READ_LOCK:
            for f in self._files.values():
                f.close()
            self._files = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_files"] = {}
        return state

    def __enter__(self) -> EventVQADataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        w, h = self.sensor_size
        return f"EventVQADataset({str(self.root)!r}, split={self.split!r}, n={len(self)}, sensor={w}x{h})"


def _insertion_point(ids: np.ndarray, text: str) -> int:
    """Where ``text`` goes in the sorted str array ``ids``. A text longer than the array's
    width is searched for as its first ``width`` characters, after the ids equal to those
    (where it sorts): numpy would widen a copy of the whole array to the text's length
    (45 MiB for 1M ids and a typo one digit too long, 37 GiB for 100,000 and a pasted
    100,000-character text)."""
    width = ids.dtype.itemsize // 4
    if len(text) <= width:
        return int(np.searchsorted(ids, np.array(text, ids.dtype)))
    return int(np.searchsorted(ids, np.array(text[:width], ids.dtype), side="right"))


def _structured_field(sample: object) -> str | None:
    """How to name the first structured numpy array among the values of ``sample`` (a dict,
    or a tuple as a transform may return): ``'events'``, ``item 0``; None if there is none."""
    if isinstance(sample, Mapping):
        items = [(repr(k), v) for k, v in sample.items()]
    elif isinstance(sample, tuple):
        items = [(f"item {k}", v) for k, v in enumerate(sample)]
    else:
        return None
    return next(
        (name for name, v in items if isinstance(v, np.ndarray) and v.dtype.names is not None),
        None,
    )


def _default_collating(frame: FrameType | None) -> bool:
    """Whether a caller of `EventVQADataset.__getitems__` a few frames up (``frame`` is its
    caller's) is a torch DataLoader's fetcher that batches with torch's default collate. The
    dataset is not told the DataLoader's ``collate_fn``, and registering a collate for
    structured arrays in torch's ``default_collate_fn_map`` would change it for every dataset
    of the process; torch is only looked for where it is imported already."""
    collate = sys.modules.get("torch.utils.data._utils.collate")
    default = getattr(collate, "default_collate", None)
    # torch documents extending its default collate by editing this map in place: an array
    # collate of the user's own there may batch structured arrays
    arrays = getattr(collate, "default_collate_fn_map", {}).get(np.ndarray)
    if default is None or arrays is not getattr(collate, "collate_numpy_array_fn", None):
        return False
    for _ in range(4):
        if frame is None:
            return False
        if frame.f_code.co_name == "fetch":
            fetcher = frame.f_locals.get("self")
            if type(fetcher).__module__ == "torch.utils.data._utils.fetch":
                return getattr(fetcher, "collate_fn", None) is default
        # only torch's wrappers (Subset, StackDataset) stand between the fetcher and the dataset
        # passing the samples on as they are: a wrapper of the user's may make them tensors
        if not str(frame.f_globals.get("__name__")).startswith("torch.utils.data."):
            return False
        frame = frame.f_back
    return False


def _is_tonic_item(sample: object) -> bool:
    return (
        isinstance(sample, tuple)
        and len(sample) == 2
        and isinstance(sample[0], np.ndarray)
        and sample[0].dtype.names is not None
        and isinstance(sample[1], Mapping)
    )


def _slice_hint(index: slice, n: int) -> str:
    """What to write for ``ds[index]`` on a dataset of ``n`` samples, which reads one sample at a
    time (a DataLoader asks for them one by one): a list, or a `torch.utils.data.Subset`."""
    try:
        start, stop, step = index.indices(n)
    except (TypeError, ValueError):
        # bounds that are not integers, or a step of 0: no range to suggest
        return ": samples are read one at a time, by an integer position"
    span = f"{start}, {stop}" + (f", {step}" if step != 1 else "")
    return (
        f": samples are read one at a time; for several write [ds[i] for i in range({span})], "
        f"or torch.utils.data.Subset(ds, range({span})) for a dataset of them"
    )


def collate_event_vqa(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """DataLoader ``collate_fn`` that keeps events as a list of numpy arrays (lengths differ).

    Images that are numpy arrays of one shape and dtype (as the dataset returns them) are stacked
    into a ``BxHxWx3`` array, ``answer_index`` becomes an int64 array, everything else a list
    (images a transform made into tensors too: batch those with torch's default collate).
    The batch holds numpy arrays, not tensors, so a DataLoader's ``pin_memory=True`` pins none
    of it and ``.to(device)`` needs ``torch.from_numpy(batch["image"])`` (and so on) first.
    """
    if isinstance(batch, Mapping) or _is_tonic_item(batch):
        # DataLoader(batch_size=None) passes each sample alone: a dict's keys, or the pair's
        # two parts, were taken for samples "a transform changed"
        raise TypeError(
            "collate_event_vqa was given one sample, not a list of them: "
            "DataLoader(batch_size=None) passes each sample to collate_fn alone; give the "
            "DataLoader a batch_size, or a collate_fn of one sample (torch's default one cannot "
            "convert the events array)"
        )
    if not batch:
        return {}
    for k, sample in enumerate(batch):
        # a transform that returns a tuple or drops a key from some samples failed below with
        # numpy's "only integer scalar arrays can be converted to a scalar index" or a KeyError
        if _is_tonic_item(sample):
            raise TypeError(
                f"collate_event_vqa batches EventVQADataset's sample dicts; sample {k} of the "
                "batch is TonicEventVQA's (events, target) pair: turn the events into tensors "
                "of one shape (tonic.transforms.ToFrame, or NumpyAsType and "
                "collate_fn=tonic.collation.PadTensors())"
            )
        if not isinstance(sample, Mapping):
            raise TypeError(
                f"collate_event_vqa batches sample dicts; sample {k} of the batch is a "
                f"{type(sample).__name__} (a transform changed it): use a collate_fn for what "
                "the transform returns, such as torch's default one"
            )
        if sample.keys() != batch[0].keys():
            key = sorted(sample.keys() ^ batch[0].keys(), key=str)[0]
            lacks = key in batch[0]
            raise TypeError(
                f"collate_event_vqa batches samples with the same keys; sample {k} of the "
                f"batch {'lacks' if lacks else 'has'} {key!r}, which sample 0 "
                f"{'has' if lacks else 'lacks'} (a transform changed them)"
            )
    out: dict[str, Any] = {key: [s[key] for s in batch] for key in batch[0]}
    images = out.get("image")
    if (
        images
        and all(isinstance(im, np.ndarray) for im in images)
        and all(im.shape == images[0].shape and im.dtype == images[0].dtype for im in images)
    ):
        out["image"] = np.stack(images)
    if "answer_index" in out:
        out["answer_index"] = np.asarray(out["answer_index"], np.int64)
    return out
