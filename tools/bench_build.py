"""Benchmark `eventsim build` on the default recipe: samples/s with 1 and 2 workers, speed-up,
peak memory.

    python tools/bench_build.py [--samples 1000] [--shard-size 8] [--recipe datasets/shapes-vqa.toml]

Each configuration runs in a fresh Python process (so imports, worker start-up and peak RSS are
counted the way a user's build sees them) and builds ``--samples`` test samples into a temporary
folder. Samples/s is end to end: recipe loading, worker start-up, rendering, simulation, HDF5
shards and the manifest. Peak memory is the largest resident set of the driver and of any one
worker process. CPU is that of the whole process tree (driver, fork server, workers, resource
tracker; imports included): this script adopts the orphaned fork server as a subreaper (Linux)
so that its usage is counted even after the build process has exited. "CPU share" is that CPU
time over the run's wall time: on a loaded machine it shows how much of the cores the build
got, which with the CPU per sample explains the samples/s.

Before any timing, an untimed warm-up build (``WARM_UP_SAMPLES`` samples, one worker, into a
throw-away folder) compiles the numba kernels into their on-disk cache; without it the first
timed build, always the first worker count, would pay that compilation on a fresh clone and the
speed-up of the others would be overstated.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eventsim._system import machine_state
from eventsim._text import plural

ROOT = Path(__file__).resolve().parents[1]
WARM_UP_SAMPLES = 2


def run_one(recipe: str, samples: int, shard_size: int, workers: int) -> dict:
    from eventsim.datasets import build_dataset, load_recipe

    # a test split only: a split the recipe lacks cannot be set (shapes-demo has no train)
    overrides = {f"splits.{name}": 0 for name in load_recipe(recipe).splits}
    overrides.update({"splits.test": samples, "build.shard_size": shard_size})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = build_dataset(
            recipe, Path(tmp) / "ds", overrides=overrides, workers=workers, progress=False
        )
        elapsed = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in (Path(tmp) / "ds" / "shards").glob("*.h5"))
    # pool workers are forked by multiprocessing's fork server, not by this process: stop the
    # server (private API, measurement only) so its and its workers' usage reaches
    # RUSAGE_CHILDREN
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    if server is not None and hasattr(server, "_stop"):
        server._stop()
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own, kids = me.ru_maxrss / 1024, children.ru_maxrss / 1024
    cpu = me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
    return {
        "workers": workers,
        "samples": summary.n_samples,
        "elapsed_s": elapsed,
        "samples_per_s": summary.n_samples / elapsed,
        "peak_rss_driver_mib": own,
        "peak_rss_worker_mib": kids if workers > 1 else 0.0,
        "bytes_per_sample": size / max(1, summary.n_samples),
        "cpu_ms_per_sample": 1000 * cpu / max(1, summary.n_samples),
        "shards_in_process": summary.shards_in_process,
        "pool_workers": summary.pool_workers,
    }


def _utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _become_subreaper() -> bool:
    """Adopt this process's orphaned descendants (PR_SET_CHILD_SUBREAPER): the fork server
    outlives the build process, and its usage and its workers' reach RUSAGE_CHILDREN only if
    someone waits for it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    pr_set_child_subreaper = 36
    return libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0


def _reap_orphans() -> None:
    """Wait for every descendant the finished run left behind (its fork server)."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat the worker counts, interleaved, N times (default 1)",
    )
    p.add_argument(
        "--recipe",
        default=str(ROOT / "datasets" / "shapes-vqa.toml"),
        help="recipe to build (default: datasets/shapes-vqa.toml)",
    )
    p.add_argument(
        "--samples", type=int, default=1000, help="samples per build (default %(default)s)"
    )
    p.add_argument(
        "--shard-size", type=int, default=8, help="samples per shard (default %(default)s)"
    )
    p.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="worker counts to compare (default 1 2)",
    )
    p.add_argument(
        "--competing-load",
        type=int,
        default=0,
        metavar="N",
        help="run N busy loops, each in its own session (as other users' jobs are), while "
        "measuring",
    )
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    # refused before the warm-up build: --samples 0 ended in a ZeroDivisionError at the table,
    # --workers 0 in a build's traceback
    if min(args.rounds, args.samples, args.shard_size, *args.workers) < 1:
        p.error(
            "--rounds, --samples, --shard-size and --workers must be at least 1; got "
            f"{args.rounds}, {args.samples}, {args.shard_size} and "
            f"{' '.join(map(str, args.workers))}"
        )
    if args.competing_load < 0:
        p.error(f"--competing-load must be at least 0, got {args.competing_load}")
    if args.one is not None:
        print(json.dumps(run_one(args.recipe, args.samples, args.shard_size, args.one)))
        return 0

    # started by a launcher that exits at once, before this process becomes a subreaper: the
    # loops are then nobody's children here, and reaping the build's orphans never waits on them
    launcher = (
        "import subprocess, sys\n"
        f"loops = [subprocess.Popen([sys.executable, '-c', 'while True: pass'], "
        f"start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) "
        f"for _ in range({args.competing_load})]\n"
        "print(' '.join(str(p.pid) for p in loops))"
    )
    loops = []
    if args.competing_load:
        out = subprocess.run([sys.executable, "-c", launcher], capture_output=True, text=True)
        loops = [int(pid) for pid in out.stdout.split()]
    try:
        return _measure(args)
    finally:
        for pid in loops:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _failed(res: subprocess.CompletedProcess, what: str) -> bool:
    """Say why a build process failed (its output is captured, so a bad --recipe would otherwise
    show only this script's CalledProcessError)."""
    if res.returncode == 0:
        return False
    last = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[-1]
    print(f"bench_build: {what} failed: {last}", file=sys.stderr)
    return True


def _measure(args: argparse.Namespace) -> int:
    if args.competing_load:
        print(
            f"competing load: {args.competing_load} {plural(args.competing_load, 'busy loop')}, each in its own session"
        )
    subreaper = _become_subreaper()
    print(machine_state(("numpy", "numba", "h5py")), flush=True)
    # a process of its own, as the timed builds are, so the kernels it compiles reach the
    # on-disk cache that every timed build then loads
    warm_cmd = [sys.executable, __file__, "--recipe", args.recipe, "--samples",
                str(WARM_UP_SAMPLES), "--shard-size", str(args.shard_size), "--one", "1"]  # fmt: skip
    t0 = time.perf_counter()
    if _failed(subprocess.run(warm_cmd, capture_output=True, text=True), "the warm-up build"):
        return 1
    warm_s = time.perf_counter() - t0
    if subreaper:
        _reap_orphans()
    print(
        f"{_utc()}: warm-up (untimed in the table): a {WARM_UP_SAMPLES}-sample 1-worker build in "
        f"{warm_s:.1f} s, so every timed build finds the numba kernels compiled",
        flush=True,
    )
    rows = []
    for w in [w for _ in range(args.rounds) for w in args.workers]:
        cmd = [sys.executable, __file__, "--recipe", args.recipe, "--samples", str(args.samples),
               "--shard-size", str(args.shard_size), "--one", str(w)]  # fmt: skip
        load_1min = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if _failed(out, f"the {w}-worker build"):
            return 1
        if subreaper:
            _reap_orphans()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        if subreaper:
            tree_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            r["cpu_ms_per_sample"] = 1000 * tree_cpu / max(1, r["samples"])
            r["cpu_share"] = tree_cpu / wall
        r["load_1min"] = load_1min
        rows.append(r)
        print(
            f"{_utc()} load {load_1min:.2f}: workers={w}: {r['samples']} samples in "
            f"{r['elapsed_s']:.1f} s = {r['samples_per_s']:.1f} samples/s; peak RSS driver "
            f"{r['peak_rss_driver_mib']:.0f} MiB"
            + (f", per worker {r['peak_rss_worker_mib']:.0f} MiB" if r["pool_workers"] else "")
            + f"; {r['bytes_per_sample'] / 1024:.0f} KiB/sample"
            + f"; {r['cpu_ms_per_sample']:.1f} CPU-ms/sample (all processes, imports included)"
            + (f"; CPU share {r['cpu_share']:.2f}" if "cpu_share" in r else "")
            + (
                f"; shards in the build process {r['shards_in_process']}, pool of "
                f"{r['pool_workers']}"
                if w > 1
                else ""
            ),
            flush=True,
        )
    load = os.getloadavg()
    print(
        f"{_utc()}; load average after: "
        + " ".join(f"{x:.2f}" for x in load)
        + " (other processes share these cores)"
    )
    # speed-up against the same round's first worker count (1 by default)
    per_round = len(args.workers)
    base_of = [rows[i - i % per_round]["samples_per_s"] for i in range(len(rows))]
    print()
    print(
        "| workers | samples | load (1 min) | time (s) | samples/s | speed-up | CPU-ms/sample "
        "| CPU share | peak RSS driver (MiB) | peak RSS per worker (MiB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r, base in zip(rows, base_of):
        worker_rss = f"{r['peak_rss_worker_mib']:.0f}" if r["pool_workers"] else "(in driver)"
        share = f"{r['cpu_share']:.2f}" if "cpu_share" in r else "n/a"
        print(
            f"| {r['workers']} | {r['samples']} | {r['load_1min']:.2f} | {r['elapsed_s']:.1f} | "
            f"{r['samples_per_s']:.1f} | {r['samples_per_s'] / base:.2f}x | "
            f"{r['cpu_ms_per_sample']:.1f} | {share} | {r['peak_rss_driver_mib']:.0f} | "
            f"{worker_rss} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
