"""How many cores a build could use right now: the cores of this process's CPU set that are
idle or already running this process.

A parallel build pays only when its extra workers get CPU time. On a loaded Linux machine the
scheduler shares the cores per session (autogroup) or per cgroup, not per process, so workers
beyond what is free take nothing from the other jobs: they split this build's share and add
their own overhead (measured: 0.83-0.88x of one in-process worker under a competing load).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from eventsim._system import cgroup_folders

_PROC_STAT = Path("/proc/stat")


def _cpu_set() -> set[int] | None:
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return None


def _idle_seconds(stat_text: str, cpus: set[int]) -> float:
    """Idle + iowait seconds of ``cpus``, summed, from the text of /proc/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for line in stat_text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        try:
            cpu = int(name[3:])
        except ValueError:
            continue
        if cpu in cpus:
            fields = rest.split()
            total += int(fields[3]) + int(fields[4])
    return total / ticks


def cpu_quota_cores(cgroup_text: str, root: Path | None = None) -> float | None:
    """The CPU limit of this process's cgroup and its ancestors in cores (cgroup v2 ``cpu.max``
    or v1 ``cpu.cfs_quota_us``), None when there is none. ``cgroup_text`` is /proc/self/cgroup;
    ``root`` where the hierarchies are mounted (`eventsim._system.cgroup_folders`).
    """
    limits = [
        _read_quota(folder, "cpu.max" if v2 else "cpu.cfs_quota_us")
        for folder, v2 in cgroup_folders(cgroup_text, "cpu", root)
    ]
    found = [q for q in limits if q is not None]
    return min(found) if found else None


def _read_quota(folder: Path, quota_file: str) -> float | None:
    try:
        text = (folder / quota_file).read_text().split()
    except OSError:
        return None
    if quota_file == "cpu.max":
        if len(text) != 2 or text[0] == "max":
            return None
        return int(text[0]) / int(text[1])
    quota = int(text[0]) if text else -1
    if quota <= 0:
        return None
    try:
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period


class FreeCores:
    """Measures, over the time since it was made (or last read), how many cores of this
    process's CPU set were free for it: idle, or running this process itself.

    `read` returns None where that cannot be known (not Linux) or should not be judged this
    way (a cgroup CPU quota: /proc/stat then shows the whole host, whose other tenants are not
    this process's competitors); a build then uses the workers it was given.
    """

    def __init__(self) -> None:
        cpus = _cpu_set()
        self._cpus = cpus
        self._usable = cpus is not None and _PROC_STAT.exists()
        if self._usable:
            try:
                if cpu_quota_cores(Path("/proc/self/cgroup").read_text()) is not None:
                    self._usable = False
            except (OSError, ValueError):
                pass
        self._mark = self._sample()

    def _sample(self) -> tuple[float, float, float] | None:
        if not self._usable or self._cpus is None:
            return None
        try:
            idle = _idle_seconds(_PROC_STAT.read_text(), self._cpus)
        except (OSError, ValueError, IndexError):
            self._usable = False
            return None
        return time.monotonic(), idle, time.process_time()

    def read(self, min_window_s: float = 0.0) -> float | None:
        """Free cores since the last reading, waiting until the window is ``min_window_s``
        long (/proc/stat counts in 10 ms ticks)."""
        if self._mark is None:
            return None
        wait = min_window_s - (time.monotonic() - self._mark[0])
        if wait > 0:
            time.sleep(wait)
        now = self._sample()
        if now is None:
            return None
        (t0, idle0, own0), (t1, idle1, own1) = self._mark, now
        self._mark = now
        wall = max(t1 - t0, 1e-9)
        return ((idle1 - idle0) + (own1 - own0)) / wall
