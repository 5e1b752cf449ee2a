"""Rendering speed and memory against file length: `eventsim render` to MP4 and `eventsim plot`
on two synthetic recordings that differ only in length. Peak RSS should not grow with length.

    python tools/bench_render.py [--rate-mev 2] [--seconds 4 16]

Each command runs in a fresh Python process that reports its own peak RSS.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from eventsim._system import machine_state
from eventsim._text import significant

SENSOR = (346, 260)

RUNNER = """
import json, resource, sys, time
from eventsim.cli import main
t = time.perf_counter()
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "wall_s": time.perf_counter() - t,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_recording(path: Path, seconds: float, rate_mev: float, seed: int = 0) -> int:
    """Edges sweeping across the sensor plus uniform background noise, written 100 ms at a time."""
    from eventsim.events import EVENT_DTYPE
    from eventsim.io import EventWriter

    rng = np.random.default_rng(seed)
    width, height = SENSOR
    per_block = int(rate_mev * 1e6 * 0.1)
    with EventWriter(path, SENSOR, force=True) as w:
        for k in range(round(seconds * 10)):
            t0 = k * 100_000
            ev = np.empty(per_block, EVENT_DTYPE)
            ev["t"] = np.sort(rng.integers(t0, t0 + 100_000, per_block))
            # 80 % of events on a vertical edge moving at 500 px/s, 20 % noise
            on_edge = rng.random(per_block) < 0.8
            edge_x = (ev["t"] * 5e-4).astype(np.int64) % width
            jitter = rng.integers(-2, 3, per_block)
            ev["x"] = np.where(
                on_edge, np.clip(edge_x + jitter, 0, width - 1), rng.integers(0, width, per_block)
            )
            ev["y"] = rng.integers(0, height, per_block)
            ev["p"] = rng.integers(0, 2, per_block)
            w.write(ev)
        return w.n_events


def run(argv: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, *argv], capture_output=True, text=True, check=False
    )
    lines = out.stdout.strip().splitlines()
    # a process that died (an exception, killed for memory) prints no result line: say why
    # instead of failing to parse it
    result = json.loads(lines[-1]) if out.returncode == 0 and lines else {"rc": None}
    if result["rc"] != 0:
        raise SystemExit(f"eventsim {' '.join(argv)} failed:\n{out.stderr}")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate-mev", type=float, default=2.0, help="event rate, Mev/s (default 2)")
    ap.add_argument(
        "--seconds",
        type=float,
        nargs="+",
        default=[4.0, 16.0],
        help="recording lengths to measure, s (default 4 16)",
    )
    ap.add_argument(
        "--window-ms", type=float, default=10.0, help="window per video frame, ms (default 10)"
    )
    args = ap.parse_args(argv)
    # the recording is written 100 ms at a time: a length that is not a whole number of those
    # was cut or stretched, and frames/s counted frames of the length asked for
    lengths = [round(seconds * 10) / 10 for seconds in args.seconds]
    values = [args.rate_mev, args.window_ms, *args.seconds]
    if not all(math.isfinite(v) and v > 0 for v in values) or min(lengths) <= 0:
        ap.error(
            "--rate-mev, --window-ms and --seconds must be finite and more than 0 (--seconds "
            f"at least 0.1, in steps of 0.1 s); got {args.rate_mev:g}, {args.window_ms:g} and "
            f"{' '.join(f'{v:g}' for v in args.seconds)}"
        )
    if lengths != args.seconds:
        ap.error(
            f"--seconds {' '.join(f'{v:g}' for v in args.seconds)}: the recordings are made "
            "100 ms at a time; expected multiples of 0.1 s"
        )
    print(machine_state(("numpy", "opencv-python-headless", "matplotlib")), flush=True)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.seconds:
            path = Path(tmp) / f"rec_{seconds:g}s.h5"
            t = time.perf_counter()
            n = make_recording(path, seconds, args.rate_mev)
            print(
                f"made {path.name}: {significant(n / 1e6)} M events in {time.perf_counter() - t:.1f} s",
                file=sys.stderr,
            )
            mp4 = Path(tmp) / f"rec_{seconds:g}s.mp4"
            r = run(
                [
                    "render",
                    str(path),
                    "-o",
                    str(mp4),
                    "--window-ms",
                    str(args.window_ms),
                    # at the sensor's size, as the figures in docs/benchmarks.md were taken
                    # (video is drawn at 2x unless --scale is given)
                    "--scale",
                    "1",
                    "--no-progress",
                ]
            )
            frames = round(seconds * 1000 / args.window_ms)
            rows.append(("render → MP4", seconds, n, r, frames))
            r = run(["plot", str(path), "-o", str(mp4.with_suffix(".png")), "--no-progress"])
            rows.append(("plot", seconds, n, r, None))

    print(f"sensor {SENSOR[0]}x{SENSOR[1]}, {args.rate_mev:g} Mev/s, window {args.window_ms:g} ms")
    print()
    print("| command | recording | events | wall s | frames/s | Mev/s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    # significant(): a small --rate-mev read '0.0 M' events at '0.0' Mev/s
    for name, seconds, n, r, frames in rows:
        fps = f"{frames / r['wall_s']:.0f}" if frames else "–"
        print(
            f"| {name} | {seconds:g} s | {significant(n / 1e6)} M | {r['wall_s']:.2f} | {fps} | "
            f"{significant(n / 1e6 / r['wall_s'])} | {r['peak_rss_mib']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
