"""What this process may use of the machine."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, which containers narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


CGROUP_ROOT = Path("/sys/fs/cgroup")
_SELF_CGROUP = Path("/proc/self/cgroup")
# cgroup v1 writes "no limit" as the largest page-aligned int64; no real limit is near it
_V1_NO_LIMIT = 1 << 60


def cgroup_folders(
    cgroup_text: str, controller: str, root: Path | None = None
) -> list[tuple[Path, bool]]:
    """The folders of this process's cgroups that ``controller`` (``"cpu"``, ``"memory"``)
    applies in, each hierarchy's root first, then down to the process's own group, with
    whether each is cgroup v2. ``cgroup_text`` is /proc/self/cgroup; ``root`` where the
    hierarchies are mounted (default `CGROUP_ROOT`).

    The hierarchy's root is listed too: in a container with its own cgroup namespace the
    process's group is mounted there and /proc/self/cgroup reads ``0::/``. A limit is set in
    any of these folders, so a caller reads them all and keeps the strictest; the folders
    that do not exist here (the host's path of a container's group) hold no file to read.
    """
    base = CGROUP_ROOT if root is None else root
    found: list[tuple[Path, bool]] = []
    for line in cgroup_text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            folders, v2 = [base], True
        elif controller in controllers.split(","):
            folders, v2 = [base / controllers], False
        else:
            continue
        for part in Path(path.strip()).parts[1:]:
            folders.append(folders[-1] / part)
        found += [(folder, v2) for folder in folders]
    return found


def cgroup_memory_room(cgroup_text: str | None = None, root: Path | None = None) -> int | None:
    """Bytes this process's memory cgroups let it take still, None when none sets a limit
    (or this is not Linux). ``cgroup_text`` is /proc/self/cgroup (read when None).

    For each group with a limit (v2 ``memory.max``, v1 ``memory.limit_in_bytes``): that
    limit less the group's usage (``memory.current``, ``memory.usage_in_bytes``), of which
    the page cache of files (``memory.stat``'s active and inactive file pages) does not
    count, since the kernel reclaims it, the active part too, before it kills a process for
    the limit (psutil's 'available' counts both as free for the same reason; shared memory
    and tmpfs files are not among them); the least of these. A container's memory limit is
    below what the host has free, and a process that goes past it is killed.
    """
    if cgroup_text is None:
        try:
            cgroup_text = _SELF_CGROUP.read_text()
        except OSError:
            return None
    rooms = []
    for folder, v2 in cgroup_folders(cgroup_text, "memory", root):
        room = _memory_room(folder, v2)
        if room is not None:
            rooms.append(room)
    return min(rooms) if rooms else None


def _memory_room(folder: Path, v2: bool) -> int | None:
    limit_file, usage_file, cache_keys = (
        ("memory.max", "memory.current", ("active_file", "inactive_file"))
        if v2
        else (
            "memory.limit_in_bytes",
            "memory.usage_in_bytes",
            ("total_active_file", "total_inactive_file"),
        )
    )
    try:
        limit_text = (folder / limit_file).read_text().strip()
        if limit_text == "max":
            return None
        limit = int(limit_text)
        usage = int((folder / usage_file).read_text())
    except (OSError, ValueError):
        return None
    if limit >= _V1_NO_LIMIT:
        return None
    return max(0, limit - max(0, usage - _stat_sum(folder / "memory.stat", cache_keys)))


def _stat_sum(path: Path, keys: tuple[str, ...]) -> int:
    """The sum of the values of ``keys`` in a cgroup's memory.stat (``KEY VALUE`` lines),
    one that is absent or not a number counting 0."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    total = 0
    for line in lines:
        name, _, value = line.partition(" ")
        if name in keys:
            try:
                total += int(value)
            except ValueError:
                pass
    return total


def dist_version(dist: str) -> str:
    """An installed distribution's version from its metadata (nothing imported for it), or
    'not installed'."""
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_state(dists: Sequence[str]) -> str:
    """When, on how many CPUs, under what load and with which versions a benchmark's figures
    were taken (`tools/`): on a shared machine the same code moves by tens of percent with the
    load, and the figures depend on ``dists``' versions."""
    import datetime
    import platform

    from eventsim._version import __version__

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    versions = "".join(f", {dist} {dist_version(dist)}" for dist in dists)
    return (
        f"{now}; {os.cpu_count()} CPUs, load average {load}; "
        f"Python {platform.python_version()}, eventsim {__version__}{versions}"
    )
