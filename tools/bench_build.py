"""Benchmark `eventsim build` on the default recipe: samples/s with 1 and 2 workers, speed-up,
peak memory.

    python tools/bench_build.py [--samples 1000] [--shard-size 8] [--recipe datasets/shapes-vqa.toml]

Each configuration runs in a fresh Python process (so imports, worker start-up and peak RSS are
counted the way a user's build sees them) and builds ``--samples`` test samples into a temporary
folder. Samples/s is end to end: recipe loading, worker start-up, rendering, simulation, HDF5
shards and the manifest. Peak memory is the largest resident set of the driver and of any one
worker process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(recipe: str, samples: int, shard_size: int, workers: int) -> dict:
    from eventsim.datasets import build_dataset

    overrides = {
        "splits.train": 0,
        "splits.val": 0,
        "splits.test": samples,
        "build.shard_size": shard_size,
    }
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
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--rounds", type=int, default=1, help="repeat the worker counts, interleaved, N times"
    )
    p.add_argument("--recipe", default=str(ROOT / "datasets" / "shapes-vqa.toml"))
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--shard-size", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.recipe, args.samples, args.shard_size, args.one)))
        return 0

    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs; load average before: {load:.2f}", flush=True)
    rows = []
    for w in [w for _ in range(args.rounds) for w in args.workers]:
        cmd = [sys.executable, __file__, "--recipe", args.recipe, "--samples", str(args.samples),
               "--shard-size", str(args.shard_size), "--one", str(w)]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"workers={w}: {r['samples']} samples in {r['elapsed_s']:.1f} s = "
            f"{r['samples_per_s']:.1f} samples/s; peak RSS driver {r['peak_rss_driver_mib']:.0f} MiB"
            + (f", per worker {r['peak_rss_worker_mib']:.0f} MiB" if w > 1 else "")
            + f"; {r['bytes_per_sample'] / 1024:.0f} KiB/sample"
            + f"; {r['cpu_ms_per_sample']:.0f} CPU-ms/sample (all processes, imports included)",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f} (other processes share these cores)")
    # speed-up against the 1-worker run of the same round
    per_round = len(args.workers)
    base_of = [rows[i - i % per_round]["samples_per_s"] for i in range(len(rows))]
    print()
    print(
        "| workers | samples | time (s) | samples/s | speed-up | CPU-ms/sample "
        "| peak RSS driver (MiB) | peak RSS per worker (MiB) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r, base in zip(rows, base_of):
        worker_rss = f"{r['peak_rss_worker_mib']:.0f}" if r["workers"] > 1 else "(in driver)"
        print(
            f"| {r['workers']} | {r['samples']} | {r['elapsed_s']:.1f} | {r['samples_per_s']:.1f} | "
            f"{r['samples_per_s'] / base:.2f}x | {r['cpu_ms_per_sample']:.0f} | "
            f"{r['peak_rss_driver_mib']:.0f} | {worker_rss} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
