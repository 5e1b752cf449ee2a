"""The free-core measure that sizes a parallel build's pool (`eventsim.datasets._cpu`)."""

import os
import sys
import time

import pytest

from eventsim.datasets import _cpu

STAT = """cpu  900 0 90 5000 10 0 0 0 0 0
cpu0 100 0 10 1000 5 0 0 0 0 0
cpu1 200 0 20 2000 3 0 0 0 0 0
cpu2 600 0 60 2000 2 0 0 0 0 0
intr 12345
"""


def test_idle_seconds_sum_idle_and_iowait_of_the_given_cpus_only():
    hz = os.sysconf("SC_CLK_TCK")
    assert _cpu._idle_seconds(STAT, {0, 1}) == pytest.approx((1005 + 2003) / hz)
    assert _cpu._idle_seconds(STAT, {2}) == pytest.approx(2002 / hz)
    assert _cpu._idle_seconds(STAT, {7}) == 0


def test_cgroup_quota_v2_v1_and_none(tmp_path):
    v2 = tmp_path / "v2"
    (v2 / "user.slice" / "job").mkdir(parents=True)
    (v2 / "cpu.max").write_text("max 100000\n")
    (v2 / "user.slice" / "cpu.max").write_text("max 100000\n")
    assert _cpu.cpu_quota_cores("0::/user.slice/job\n", v2) is None
    (v2 / "user.slice" / "job" / "cpu.max").write_text("250000 100000\n")
    assert _cpu.cpu_quota_cores("0::/user.slice/job\n", v2) == 2.5

    v1 = tmp_path / "v1"
    (v1 / "cpu,cpuacct" / "docker").mkdir(parents=True)
    (v1 / "cpu,cpuacct" / "cpu.cfs_quota_us").write_text("-1\n")
    text = "4:memory:/docker\n3:cpu,cpuacct:/docker\n"
    assert _cpu.cpu_quota_cores(text, v1) is None
    (v1 / "cpu,cpuacct" / "docker" / "cpu.cfs_quota_us").write_text("50000\n")
    (v1 / "cpu,cpuacct" / "docker" / "cpu.cfs_period_us").write_text("100000\n")
    assert _cpu.cpu_quota_cores(text, v1) == 0.5
    assert _cpu.cpu_quota_cores("2:memory:/x\n", v1) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_free_cores_counts_this_process_own_cpu(monkeypatch):
    # every core busy with other work (no idle time at all): what is free is what this process
    # itself got while it computed (its other threads included: a BLAS thread may spin)
    monkeypatch.setattr(_cpu, "_idle_seconds", lambda text, cpus: 0.0)
    monkeypatch.setattr(_cpu, "cpu_quota_cores", lambda text: None)
    free = _cpu.FreeCores()
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    cores = free.read()
    assert cores is not None and 0.2 < cores <= len(os.sched_getaffinity(0)) + 0.05


def test_free_cores_is_unknown_under_a_cgroup_quota(monkeypatch):
    monkeypatch.setattr(_cpu, "cpu_quota_cores", lambda text: 2.0)
    assert _cpu.FreeCores().read() is None
