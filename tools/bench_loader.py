"""Benchmark `EventVQADataset` memory with forked DataLoader workers: how much of the parent's
memory each worker ends up owning after reading its share, the parent's own size, and the time
to open the dataset.

    python tools/bench_loader.py [--samples 100000] [--workers 2] [--batch-size 64] [--read N]
                                 [--gc-freeze] [--no-progress]

A small dataset is built for real (``--base`` samples of ``--recipe``'s test split, in a child
process so that the build's imports do not sit in this process), then its ``samples.jsonl`` is
replicated to ``--samples`` lines: each line is a real sample's line with a new ``id`` and
``index``, pointing at that real sample's shard group, and ``dataset.json`` gets the new counts
and the new ``samples_sha256`` (so the loader's checks all run as on a built dataset). Only the
records are synthetic; every read decodes a real frame and real events.

Memory comes from ``/proc/<pid>/smaps_rollup`` (Linux only): USS (private clean + private dirty:
what the process alone holds, freed when it exits) and PSS (shared pages split among their
users). A worker's growth is its USS/PSS after its last batch minus at its start (right after
the fork): pages it touched and so copied from the parent. Each batch is collated inside its
worker into a memory reading, so nothing but those readings travels back to this process; the
reading is taken while the worker holds that batch's decoded samples.

A worker's first full garbage collection writes to the header of every object it inherited
from the parent, which copies all the pages of the parent's Python objects into the worker at
once; the count of full collections each worker made is printed beside its growth.
``--gc-freeze`` calls ``gc.freeze()`` first thing in each worker, so that its collections leave
the inherited objects alone (docs/benchmarks.md, "Dataset loader memory").
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eventsim._system import machine_state
from eventsim._text import plural
from eventsim.cli.common import add_progress_option, show_progress

ROOT = Path(__file__).resolve().parents[1]

_FIELDS = {"Rss": "rss", "Pss": "pss", "Private_Clean": "uss", "Private_Dirty": "uss"}
_AT_START: dict[str, float] = {}
# set before the workers fork: whether they call gc.freeze() on starting
_FREEZE = False


def smaps(pid: int | str = "self") -> dict[str, float]:
    """Rss, Pss and USS of a process in MiB."""
    out = {"rss": 0.0, "pss": 0.0, "uss": 0.0}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in _FIELDS:
                out[_FIELDS[key]] += int(rest.split()[0]) / 1024
    return out


def _full_collections() -> int:
    return gc.get_stats()[2]["collections"]


def _worker_init(_worker_id: int) -> None:
    if _FREEZE:
        gc.freeze()
    _AT_START.update(smaps(), full_gc=_full_collections())


def _collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    # the samples were read and decoded; only the reading leaves the worker
    now = {**smaps(), "full_gc": _full_collections()}
    return {"pid": os.getpid(), "n": len(batch), "start": dict(_AT_START), "now": now}


def _utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def build_base(recipe: str, n: int, out: Path) -> None:
    """A real ``n``-sample test split of ``recipe`` (shards of 2) in ``out``, built in a child
    process."""
    code = (
        "import sys\n"
        "from eventsim.datasets import build_dataset, load_recipe\n"
        "from eventsim.errors import EventsimError\n"
        "try:\n"
        # a test split only: a split the recipe lacks cannot be set (shapes-demo has no train)
        "    sets = {f'splits.{name}': 0 for name in load_recipe(sys.argv[1]).splits}\n"
        "    sets.update({'splits.test': int(sys.argv[3]), 'build.shard_size': 2})\n"
        "    build_dataset(sys.argv[1], sys.argv[2], overrides=sets, workers=1, progress=False)\n"
        "except EventsimError as exc:\n"
        "    sys.exit(f'bench_loader: {exc}')\n"
    )
    subprocess.run([sys.executable, "-c", code, recipe, str(out), str(n)], check=True)


def replicate(base: Path, out: Path, n: int) -> int:
    """``out``: ``base``'s test split with its samples.jsonl lines replicated to ``n`` (new ids
    and indices, the same shard groups); the shards are linked, not copied. Returns the size of
    the new samples.jsonl in bytes."""
    import hashlib

    lines = [json.loads(x) for x in (base / "samples.jsonl").read_text("utf-8").split("\n") if x]
    real = [r for r in lines if r["split"] == "test"]
    if not real:
        raise SystemExit(f"{base}: no test samples to replicate")
    out.mkdir(parents=True)
    (out / "shards").mkdir()
    for shard in (base / "shards").iterdir():
        (out / "shards" / shard.name).symlink_to(shard.resolve())
    with open(out / "samples.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            rec = {**real[i % len(real)], "id": f"test-{i:06d}", "index": i}
            fh.write(json.dumps(rec, sort_keys=True, ensure_ascii=False) + "\n")
    data = (out / "samples.jsonl").read_bytes()
    manifest = json.loads((base / "dataset.json").read_text("utf-8"))
    manifest["counts"]["samples"] = n
    manifest["samples"] = {split: (n if split == "test" else 0) for split in manifest["samples"]}
    manifest["splits"] = {"test": {**manifest["splits"]["test"], "samples": n}}
    manifest["shards"] = [e for e in manifest["shards"] if e["split"] == "test"]
    manifest["samples_sha256"] = hashlib.sha256(data).hexdigest()
    (out / "dataset.json").write_text(json.dumps(manifest, indent=2), "utf-8")
    return len(data)


def _fmt(m: dict[str, float]) -> str:
    return f"RSS {m['rss']:.1f}  PSS {m['pss']:.1f}  USS {m['uss']:.1f} MiB"


def measure(
    root: Path, workers: int, batch_size: int, read: int | None, freeze: bool, progress: bool
) -> None:
    global _FREEZE
    import torch.utils.data as tud

    # imported before the first reading, so that the growth on opening is the dataset's
    from eventsim.datasets.loader import EventVQADataset

    before = smaps()
    t0 = time.perf_counter()
    ds = EventVQADataset(root, "test")
    open_s = time.perf_counter() - t0
    opened = smaps()
    print(f"dataset: {len(ds)} samples opened in {open_s:.2f} s")
    print(f"parent before opening: {_fmt(before)}")
    print(f"parent after opening:  {_fmt(opened)} (+{opened['rss'] - before['rss']:.1f} MiB RSS)")

    # map-style without subclassing torch's Dataset, which its type hints ask for
    _FREEZE = freeze
    whole: Any = ds
    subset: Any = whole if read is None else tud.Subset(whole, range(min(read, len(ds))))
    loader = tud.DataLoader(
        subset,
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_collate,
        worker_init_fn=_worker_init,
        # the case measured: workers forked from a parent that holds the dataset
        multiprocessing_context="fork" if workers else None,
    )
    last: dict[int, dict[str, Any]] = {}
    counts: dict[int, int] = {}
    t0 = time.perf_counter()
    from tqdm import tqdm

    for batch in tqdm(loader, desc="reading", unit="batch", mininterval=2.0, disable=not progress):
        last[batch["pid"]] = batch
        counts[batch["pid"]] = counts.get(batch["pid"], 0) + batch["n"]
    read_s = time.perf_counter() - t0
    n_read = sum(counts.values())
    print(f"read {n_read} samples in {read_s:.1f} s ({n_read / read_s:.0f} samples/s)")
    for pid, b in last.items():
        start, now = b["start"] or b["now"], b["now"]
        gcs = int(now["full_gc"] - start["full_gc"])
        print(
            f"{'no worker' if pid == os.getpid() else f'worker {pid}'}: {counts[pid]} samples; USS {start['uss']:.1f} -> {now['uss']:.1f} MiB "
            f"(+{now['uss'] - start['uss']:.1f}), PSS {start['pss']:.1f} -> {now['pss']:.1f} "
            f"(+{now['pss'] - start['pss']:.1f}), RSS {now['rss']:.1f}; "
            f"{gcs} {plural(gcs, 'full garbage collection')}"
        )
    print(f"parent after reading:  {_fmt(smaps())}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--samples", type=int, default=100_000, help="records in the split (default 100000)"
    )
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers (forked; default 2)")
    p.add_argument("--batch-size", type=int, default=64, help="DataLoader batch size (default 64)")
    p.add_argument(
        "--read", type=int, default=None, metavar="N", help="read only the first N samples"
    )
    p.add_argument(
        "--recipe",
        default=str(ROOT / "datasets" / "shapes-vqa.toml"),
        help="recipe of the real samples (default: datasets/shapes-vqa.toml)",
    )
    p.add_argument(
        "--base", type=int, default=8, help="real samples built and replicated (default 8)"
    )
    p.add_argument(
        "--gc-freeze",
        action="store_true",
        help="call gc.freeze() when a worker starts (its garbage collections then leave the "
        "objects it inherited alone)",
    )
    add_progress_option(p)
    args = p.parse_args(argv)
    # on stderr with a usage error's status (they went to stdout with status 1); --batch-size
    # 0 and --read 0 were a DataLoader traceback after the base build
    if args.samples < 1 or args.base < 1 or args.batch_size < 1 or args.workers < 0:
        p.error(
            "--samples, --base and --batch-size must be >= 1, --workers >= 0; got "
            f"{args.samples}, {args.base}, {args.batch_size} and {args.workers}"
        )
    if args.read is not None and args.read < 1:
        p.error(f"--read must be >= 1, got {args.read}")
    if not Path("/proc/self/smaps_rollup").is_file():
        print("bench_loader: needs /proc/<pid>/smaps_rollup (Linux 4.14 or later)", file=sys.stderr)
        return 1
    print(
        machine_state(("torch", "numpy")),
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        try:
            build_base(args.recipe, args.base, Path(tmp) / "base")
        except subprocess.CalledProcessError:
            # the child said why on stderr; a traceback here would only bury it
            print(f"bench_loader: the base build of {args.recipe} failed", file=sys.stderr)
            return 1
        size = replicate(Path(tmp) / "base", Path(tmp) / "ds", args.samples)
        print(
            f"base: {args.base} real samples built, replicated to {args.samples} records "
            f"({size / args.samples:.0f} bytes of JSON each) in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        measure(
            Path(tmp) / "ds",
            args.workers,
            args.batch_size,
            args.read,
            args.gc_freeze,
            show_progress(args.no_progress),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
