"""Benchmark the DVS simulator end to end: decode -> simulate -> HDF5, and against esim_py.

For each sensor size, renders the built-in moving-shapes clip to an MP4 (once, in a temp
folder), then times `eventsim.simulator.simulate(video, out=...)` for the ``ideal`` preset and
for v2e's default noise model (``v2e-default``: mismatch, 300 Hz photoreceptor, leak, shot noise,
0.5 ms refractory). Also times the kernel alone on frames already in memory (what the esim_py and
v2e figures in docs/benchmarks.md measure), and the peak RSS of a long synthetic run whose frames
are generated on the fly (not decoded) to show memory stays flat.

    python tools/bench_simulator.py                   # all sizes, 1-minute RSS run
    python tools/bench_simulator.py --rss-minutes 10  # the 10-minute RSS figure
    python tools/bench_simulator.py --sizes 346x260 --repeats 3 --no-rss
    python tools/bench_simulator.py --peers --esim-python /path/to/venv/bin/python
    python tools/bench_simulator.py --peers --v2e /path/to/v2e-venv/bin/python /path/to/v2e
    python tools/bench_simulator.py --noise-cost --repeats 3      # noisy vs ideal, short

``--peers`` runs only the comparison with esim_py, which a full run also ends with whenever
esim_py is found: ESIM's C++ core, GPL, so it is never vendored. Build it in its own virtual
environment (the build notes are in the development setup's shared peers notes, see
docs/benchmarks.md) and pass that interpreter with ``--esim-python`` or ``$ESIM_PY_PYTHON``. Runs alternate between the two tools (interleaved,
best of ``--repeats``), at one thread each: frames already in memory (ideal preset, and our
``clean``/``noisy`` presets against our ideal), and a command line reading a folder of PNG
frames and writing HDF5 (``eventsim simulate`` against esim_py plus an uncompressed h5py write),
timed from process start to exit. In-memory runs of esim_py use ``generateFromFrames``, a
measurement-only binding over the same ``esim.cpp`` code path as ``generateFromFolder``; without
it only the command-line comparison runs. With ``--v2e PYTHON SRC`` the in-memory comparison
also times v2e's ``EventEmulator`` (GPL; its sources in their own venv, never vendored) on the
same frames, noise-free, against our ``ideal`` preset with v2e's lin-log curve.

Every timed configuration first runs untimed on the clip's first frames (end to end: its first
second through the same call; in memory: two steps of the timed size through the simulator that
is then timed, reset afterwards, or through a fresh one of the same settings), so that one-off
costs (loading each numba kernel from its cache, imports, gain tables, first allocations) stay
out of the timings and ``--repeats 1`` agrees with best of more.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventsim._system import machine_state

# the versions the simulator's figures depend on
SIM_DISTS = ("numpy", "numba", "torch", "opencv-python-headless", "h5py")

SIZES = {"346x260": 300, "640x480": 150, "1280x720": 90}  # frames per clip (30 fps)
PRESETS = ("ideal", "v2e-default")


def _warm_up(sim: Any, gray: np.ndarray, ts: np.ndarray, batch: int) -> None:
    """Untimed, the clip's first two steps of ``batch`` frames through ``sim``, then reset: the
    kernels its settings use are loaded and its tables made, as after any earlier repeat. Two
    steps of the timed size, not a few frames: the first run's buffers of that size otherwise
    cost a first timed run of 346x260 `ideal` 10-30 % (fresh pages; later runs reuse them)."""
    for i in range(0, min(len(gray), 2 * batch), batch):
        sim.step(gray[i : i + batch], ts[i : i + batch])
    sim.reset()


def _load_kernels() -> None:
    """Load the numba kernels now, as a long run has them: with torch imported first the
    simulator would otherwise run on the torch path until it had spent a second there, and load
    them inside some variant's timing."""
    with contextlib.suppress(ImportError):
        import eventsim.simulator._kernels  # noqa: F401


def _proc_status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb() -> float:
    return _proc_status_mb("VmRSS")


def bench_end_to_end(
    video: Path, preset: str, repeats: int, threads: int, out: Path, upsample: str = "none"
) -> dict:
    from eventsim.simulator import DVSParams, simulate
    from eventsim.simulator.upsample import check_mode

    params = DVSParams.from_preset(preset)
    best = None
    for _ in range(repeats):
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        result = simulate(
            video, params, out=out, force=True, threads=threads, upsample=check_mode(upsample)
        )
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        run = {
            "wall_s": wall,
            "cpu_s": cpu,
            "n_frames": result.n_frames,
            "n_events": result.n_events,
            "n_inserted": result.n_inserted_frames,
        }
        if best is None or wall < best["wall_s"]:
            best = run
    if best is None:  # no runs
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    return best


def bench_kernel(frames: np.ndarray, ts: np.ndarray, preset: str, repeats: int) -> dict:
    import cv2
    import torch

    from eventsim.simulator import DVSParams, EventSimulator

    torch.set_num_threads(1)
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    h, w = gray.shape[1:]
    sim = EventSimulator(DVSParams.from_preset(preset), (w, h))
    batch = max(1, 4_000_000 // (w * h))
    _warm_up(sim, gray, ts, batch)
    best = None
    for _ in range(repeats):
        sim.reset()
        n = 0
        wall0 = time.perf_counter()
        for i in range(0, len(gray), batch):
            n += sim.step(gray[i : i + batch], ts[i : i + batch]).size
        wall = time.perf_counter() - wall0
        if best is None or wall < best["wall_s"]:
            best = {"wall_s": wall, "n_frames": len(gray), "n_events": n}
    if best is None:  # no runs
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    return best


BREAKDOWN_BATCH = 16  # frames a step


def breakdown(repeats: int) -> None:
    """Kernel-only CPU time per frame at 346x260 as v2e-default's parts are switched off."""
    import cv2
    import torch

    from eventsim.simulator import DVSParams, EventSimulator
    from eventsim.simulator.synthetic import moving_shapes_clip

    _load_kernels()
    torch.set_num_threads(1)
    frames, ts = moving_shapes_clip(346, 260, duration_s=4.0, fps=30, seed=0)
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    full = DVSParams.from_preset("v2e-default")
    variants = {
        "ideal": DVSParams(),
        "ideal + linlog + mismatch (same events as v2e-default)": DVSParams(
            log_curve="linlog", threshold_sigma=full.threshold_sigma
        ),
        "v2e-default": full,
        "v2e-default without refractory": full.replace(refractory_period_us=0),
        "v2e-default without leak": full.replace(leak_rate_hz=0.0),
        "v2e-default without leak jitter": full.replace(leak_jitter_fraction=0.0),
        "v2e-default without shot noise": full.replace(shot_noise_rate_hz=0.0),
        "v2e-default without photoreceptor low-pass": full.replace(cutoff_hz=0.0),
    }
    sims = {name: EventSimulator(params, (346, 260)) for name, params in variants.items()}
    for sim in sims.values():
        _warm_up(sim, gray, ts, BREAKDOWN_BATCH)
    best: dict[str, float] = {}
    events: dict[str, int] = {}
    # round-robin over the variants so load changes on a shared machine hit all of them alike
    for _ in range(repeats):
        for name, sim in sims.items():
            sim.reset()
            n = 0
            cpu0 = time.process_time()
            for i in range(0, len(gray), BREAKDOWN_BATCH):
                n += sim.step(gray[i : i + BREAKDOWN_BATCH], ts[i : i + BREAKDOWN_BATCH]).size
            cpu = time.process_time() - cpu0
            best[name] = min(best.get(name, cpu), cpu)
            events[name] = n
    print(f"# breakdown: untimed warm-up of each variant, best of {repeats}")
    print()
    print("| variant (346x260, frames in memory, 1 thread) | CPU ms/frame | ev/frame |")
    print("|---|---|---|")
    for name in variants:
        print(f"| {name} | {best[name] / len(gray) * 1e3:.2f} | {events[name] / len(gray):,.0f} |")


ESIM_CHILD = r"""
import json, sys, time
import numpy as np
import esim_py
mode, arg = sys.argv[1], sys.argv[2]
sim = esim_py.EventSimulator(0.2, 0.2, 0.0, 1e-3, True)
if mode == "ram":
    frames = np.load(arg + "/gray.npy")
    ts = (np.load(arg + "/ts.npy") / 1e6).tolist()
    if not hasattr(sim, "generateFromFrames"):
        print(json.dumps(None))
        sys.exit(0)
    t0 = time.perf_counter()
    ev = sim.generateFromFrames(frames, ts)
    print(json.dumps({"wall_s": time.perf_counter() - t0, "n_events": int(ev.shape[0])}))
else:
    import h5py
    ev = sim.generateFromFolder(arg + "/images", arg + "/timestamps.txt")
    with h5py.File(sys.argv[3], "w") as f:
        f["events/x"] = ev[:, 0].astype(np.uint16)
        f["events/y"] = ev[:, 1].astype(np.uint16)
        f["events/t"] = np.round(ev[:, 2] * 1e6).astype(np.int64)
        f["events/p"] = (ev[:, 3] > 0).astype(np.uint8)
    print(json.dumps({"n_events": int(ev.shape[0])}))
"""


# v2e (GPL) from its own sources in its own venv, frames in RAM, ideal settings; measurement only
V2E_CHILD = r"""
import json, sys, time, types
import numpy as np
src, folder = sys.argv[1], sys.argv[2]
# v2e imports GUI and AEDAT4 helpers at module level; its emulator uses none of them
for name in ("screeninfo", "easygui", "dv_processing", "tkinter", "tkinter.filedialog"):
    try:
        __import__(name)
    except ImportError:
        sys.modules[name] = types.ModuleType(name)
if not hasattr(sys.modules["screeninfo"], "get_monitors"):
    sys.modules["screeninfo"].get_monitors = lambda: []
sys.modules["tkinter"].filedialog = sys.modules["tkinter.filedialog"]
sys.path.insert(0, src)
import torch
torch.set_num_threads(1)
from v2ecore.emulator import EventEmulator
frames = np.load(folder + "/gray.npy")
ts = np.load(folder + "/ts.npy") / 1e6
emu = EventEmulator(pos_thres=0.2, neg_thres=0.2, sigma_thres=0.0, cutoff_hz=0.0,
                    leak_rate_hz=0.0, refractory_period_s=0.0, shot_noise_rate_hz=0.0,
                    device="cpu", seed=1)
n = 0
t0 = time.perf_counter()
with torch.no_grad():
    for f, t in zip(frames, ts):
        ev = emu.generate_events(f, float(t))
        if ev is not None:
            n += ev.shape[0]
print(json.dumps({"wall_s": time.perf_counter() - t0, "n_events": n}))
"""


def find_esim_python(given: str | None) -> str | None:
    """An interpreter that can import esim_py: ``given``, $ESIM_PY_PYTHON, or this one."""
    for cand in (given, os.environ.get("ESIM_PY_PYTHON"), sys.executable):
        if not cand:
            continue
        try:
            ok = subprocess.run([cand, "-c", "import esim_py"], capture_output=True).returncode == 0
        except OSError as exc:  # $ESIM_PY_PYTHON naming no interpreter
            name = "--esim-python" if cand is given else "$ESIM_PY_PYTHON"
            raise SystemExit(
                f"bench_simulator: {name} {cand}: cannot run it ({exc.strerror}); expected an "
                "interpreter that can import esim_py"
            ) from None
        if ok:
            return cand
        if cand is given:
            raise SystemExit(f"{cand} cannot import esim_py")
    return None


def _peer(python: str, code: str, *args: str) -> dict | None:
    """Run a peer's measuring child (`ESIM_CHILD`, `V2E_CHILD`) at one thread; its last line."""
    res = subprocess.run(
        [python, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1", "OPENCV_FOR_THREADS_NUM": "1"},
    )
    if res.returncode != 0:
        # the child's own error, not a CalledProcessError traceback that hides it
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"bench_simulator: {python} failed measuring a peer: {last}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _ours_ram(gray: np.ndarray, ts: np.ndarray, preset: str, **changes: Any) -> dict:
    from eventsim.simulator import DVSParams, EventSimulator

    h, w = gray.shape[1:]
    sim = EventSimulator(DVSParams.from_preset(preset).replace(**changes), (w, h))
    batch = max(1, 4_000_000 // (w * h))
    n = 0
    wall0 = time.perf_counter()
    for i in range(0, len(gray), batch):
        n += sim.step(gray[i : i + batch], ts[i : i + batch]).size
    return {"wall_s": time.perf_counter() - wall0, "n_events": n}


def peers(
    sizes: list[str],
    repeats: int,
    esim_python: str | None,
    v2e: tuple[str, str] | None = None,
) -> None:
    """Interleaved ours-vs-esim_py runs: frames in RAM, and frame folder -> HDF5 from the shell;
    with ``v2e`` (interpreter, source folder) also ours-vs-v2e in RAM, both with v2e's lin-log
    curve."""
    import cv2
    import torch

    # the numba kernels once loaded (as in any long run); their load time is start-up, counted
    # in the command-line rows below
    _load_kernels()
    from eventsim.simulator.synthetic import moving_shapes_clip

    torch.set_num_threads(1)
    python = find_esim_python(esim_python)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"# peers: {os.cpu_count()} CPUs visible, load average {load} at start, 1 thread each, "
        f"interleaved, untimed warm-up of each of ours, best of {repeats}; "
        f"esim_py: {python or 'not importable (skipped)'}"
    )
    ram: dict[tuple[str, str], float] = {}
    cli: dict[tuple[str, str], float] = {}
    counts: dict[tuple[str, str], int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            w, h = (int(v) for v in size.split("x"))
            n = SIZES[size]
            frames, ts = moving_shapes_clip(w, h, duration_s=n / 30, fps=30, seed=0)
            gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
            d = Path(tmp) / size
            (d / "images").mkdir(parents=True)
            for i, g in enumerate(gray):
                cv2.imwrite(str(d / "images" / f"{i:05d}.png"), g)
            (d / "timestamps.txt").write_text("".join(f"{t / 1e6:.6f}\n" for t in ts))
            np.save(d / "gray.npy", gray)
            np.save(d / "ts.npy", ts)
            # every timed variant's first-call costs out of the timings (each timed run makes a
            # fresh simulator, so a fresh one here too), on two steps of the timed size (see
            # `_warm_up`)
            n_warm = 2 * max(1, 4_000_000 // (w * h))
            warm = (gray[:n_warm], ts[:n_warm])
            for preset in ("ideal", "clean", "noisy"):
                _ours_ram(*warm, preset)
            if v2e:
                _ours_ram(*warm, "ideal", log_curve="linlog")
            ours_cmd = [sys.executable, "-m", "eventsim", "simulate", str(d), "-o",
                        str(d / "ours.h5"), "--force", "-q", "--threads", "1"]  # fmt: skip
            r: dict | None  # our runs, then esim_py's
            for _ in range(repeats):
                for preset in ("ideal", "clean", "noisy"):
                    r = _ours_ram(gray, ts, preset)
                    key = (size, preset)
                    ram[key] = min(ram.get(key, float("inf")), r["wall_s"])
                    counts[key] = r["n_events"]
                if v2e:
                    r = _ours_ram(gray, ts, "ideal", log_curve="linlog")
                    ram[(size, "linlog")] = min(ram.get((size, "linlog"), 1e9), r["wall_s"])
                    counts[(size, "linlog")] = r["n_events"]
                    r = _peer(v2e[0], V2E_CHILD, v2e[1], str(d))
                    if r is not None:
                        ram[(size, "v2e")] = min(ram.get((size, "v2e"), 1e9), r["wall_s"])
                        counts[(size, "v2e")] = r["n_events"]
                if python:
                    r = _peer(python, ESIM_CHILD, "ram", str(d))
                    if r is not None:
                        ram[(size, "esim")] = min(ram.get((size, "esim"), 1e9), r["wall_s"])
                        counts[(size, "esim")] = r["n_events"]
                t0 = time.perf_counter()
                subprocess.run(ours_cmd, check=True, capture_output=True)
                cli[(size, "ours")] = min(cli.get((size, "ours"), 1e9), time.perf_counter() - t0)
                if python:
                    t0 = time.perf_counter()
                    _peer(python, ESIM_CHILD, "folder", str(d), str(d / "esim.h5"))
                    cli[(size, "esim")] = min(
                        cli.get((size, "esim"), 1e9), time.perf_counter() - t0
                    )
    print()
    print("| size | frames | ev/frame (ours, esim_py) | ours ideal fr/s | esim_py fr/s | ratio "
          "| clean / ideal time | noisy / ideal time |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for size in sizes:
        n = SIZES[size]
        ideal = ram[(size, "ideal")]
        esim = ram.get((size, "esim"))
        ev_e = f"{counts[(size, 'esim')] / n:,.0f}" if esim else "-"
        print(
            f"| {size} | {n} | {counts[(size, 'ideal')] / n:,.0f}, {ev_e} | {n / ideal:.0f} | "
            f"{f'{n / esim:.0f}' if esim else '-'} | {f'{esim / ideal:.2f}x' if esim else '-'} | "
            f"{ram[(size, 'clean')] / ideal:.2f} | {ram[(size, 'noisy')] / ideal:.2f} |"
        )
    if v2e:
        print()
        print("| size | ev/frame (ours linlog, v2e) | ours fr/s | v2e fr/s | ratio |")
        print("|---|---|---|---|---|")
        for size in sizes:
            n = SIZES[size]
            ours, theirs = ram[(size, "linlog")], ram[(size, "v2e")]
            print(
                f"| {size} | {counts[(size, 'linlog')] / n:,.0f}, {counts[(size, 'v2e')] / n:,.0f} "
                f"| {n / ours:.0f} | {n / theirs:.0f} | {theirs / ours:.2f}x |"
            )
    print()
    print("| size | `eventsim simulate` folder -> HDF5 (s) | esim_py folder -> HDF5 (s) | ratio |")
    print("|---|---|---|---|")
    for size in sizes:
        ours = cli[(size, "ours")]
        esim = cli.get((size, "esim"))
        print(
            f"| {size} | {ours:.2f} | {f'{esim:.2f}' if esim else '-'} | "
            f"{f'{esim / ours:.2f}x' if esim else '-'} |"
        )
    print(f"\nload average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


NOISE_COST_FRAMES = {"346x260": 120, "640x480": 60, "1280x720": 30}


def noise_cost(sizes: list[str], repeats: int) -> None:
    """``noisy`` vs ``ideal`` per frame, frames in RAM as grey uint8, the numba kernels loaded
    (as in any long run), one thread; ``noisy`` also with one of its parts off at a time, to
    show what each costs. Variants alternate within each round, best of N."""
    import cv2
    import torch

    from eventsim.simulator import DVSParams, EventSimulator
    from eventsim.simulator.synthetic import moving_shapes_clip

    # the kernels as a long run has them; their load time is start-up, not per-frame cost
    _load_kernels()
    torch.set_num_threads(1)
    noisy = DVSParams.from_preset("noisy")
    variants = {
        "ideal": DVSParams(),
        "noisy": noisy,
        "noisy without shot noise": noisy.replace(shot_noise_rate_hz=0.0),
        "noisy without leak": noisy.replace(leak_rate_hz=0.0),
        "noisy without low-pass": noisy.replace(cutoff_hz=0.0),
        "noisy without refractory": noisy.replace(refractory_period_us=0),
        # the floor for any noisy / ideal ratio: the shot noise's events alone, with no other
        # part of the pixel model to pay for
        "ideal + noisy's shot noise": DVSParams(
            shot_noise_rate_hz=noisy.shot_noise_rate_hz,
            shot_noise_bright_ratio=noisy.shot_noise_bright_ratio,
        ),
    }
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    stamp = time.strftime("%H:%M", time.gmtime())
    print(
        f"# noise cost: {stamp} UTC, load average {load} at start, 1 thread, untimed warm-up of "
        f"each variant, best of {repeats}"
    )
    print()
    print("| size | frames | variant | ev/frame | wall ms/frame | CPU ms/frame |")
    print("|---|---|---|---|---|---|")
    floor = "ideal + noisy's shot noise"
    ratios = []
    for size in sizes:
        w, h = (int(v) for v in size.split("x"))
        n = NOISE_COST_FRAMES[size]
        frames, ts = moving_shapes_clip(w, h, duration_s=n / 30, fps=30, seed=0)
        gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
        batch = max(1, 4_000_000 // (w * h))
        sims = {name: EventSimulator(params, (w, h)) for name, params in variants.items()}
        for sim in sims.values():
            _warm_up(sim, gray, ts, batch)
        best: dict[str, tuple[float, float]] = {}
        events: dict[str, int] = {}
        for _ in range(repeats):
            for name, sim in sims.items():
                sim.reset()
                n_ev = 0
                cpu0, wall0 = time.process_time(), time.perf_counter()
                for i in range(0, n, batch):
                    n_ev += sim.step(gray[i : i + batch], ts[i : i + batch]).size
                run = (time.perf_counter() - wall0, time.process_time() - cpu0)
                best[name] = min(best.get(name, run), run)
                events[name] = n_ev
        for name in sims:
            wall, cpu = best[name]
            print(
                f"| {size} | {n} | {name} | {events[name] / n:,.0f} | "
                f"{wall / n * 1e3:.2f} | {cpu / n * 1e3:.2f} |",
                flush=True,
            )
        ratios.append(
            f"{size} {best['noisy'][0] / best['ideal'][0]:.2f}x wall, "
            f"{best['noisy'][1] / best['ideal'][1]:.2f}x CPU, "
            f"{events['noisy'] / events['ideal']:.2f}x events; shot noise alone "
            f"{best[floor][0] / best['ideal'][0]:.2f}x wall, "
            f"{events[floor] / events['ideal']:.2f}x events"
        )
    print()
    print("noisy / ideal: " + "; ".join(ratios))
    print(f"load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


class _SyntheticStream:
    """The moving-shapes clip generated frame by frame (never decoded, never held whole)."""

    def __init__(self, width: int, height: int, minutes: float) -> None:
        self.sensor_size = (width, height)
        self.minutes = minutes
        self.n_frames = round(minutes * 60 * 30)

    def __iter__(self):
        from eventsim.simulator.synthetic import moving_shapes_frames

        return moving_shapes_frames(*self.sensor_size, self.minutes * 60, fps=30.0, seed=0)

    def describe(self) -> dict:
        return {"kind": "synthetic-stream", "minutes": self.minutes}


RSS_POINTS = {"rss_at_10pct_mb": 0.1, "rss_at_50pct_mb": 0.5}


def rss_child(minutes: float, out: str, preset: str) -> None:
    """Run in a subprocess: simulate a long stream, print JSON with its RSS by stream progress.

    The 10 % and 50 % points are read right after the simulator's step that brings the frames
    it has simulated to that share of the stream, the end point once ``simulate`` has returned:
    by progress, whatever the run's length, and never before the first step (imports and
    set-up). Not by the frames the source has handed out: the pipeline reads a few batches
    ahead, so a short stream is half handed out before its first step."""
    from eventsim.simulator import DVSParams, pipeline, simulate

    stream = _SyntheticStream(346, 260, minutes)
    at: dict[str, float] = {}

    # measurement only: `simulate` makes its simulator from this module's name
    class _Progress(pipeline.EventSimulator):
        done = 0

        def step(
            self,
            frames: np.ndarray | Sequence[np.ndarray],
            timestamps_us: np.ndarray | Sequence[int],
        ) -> np.ndarray:
            ev = super().step(frames, timestamps_us)
            _Progress.done += len(frames)
            for key, share in RSS_POINTS.items():
                if key not in at and _Progress.done >= share * stream.n_frames:
                    at[key] = _rss_mb()
            return ev

    pipeline.EventSimulator = _Progress  # type: ignore[misc]
    t0 = time.perf_counter()
    result = simulate(stream, DVSParams.from_preset(preset), out=out, force=True)
    wall = time.perf_counter() - t0
    at["rss_at_end_mb"] = _rss_mb()
    if _Progress.done == 0:
        raise SystemExit("simulate() no longer makes its simulator as pipeline.EventSimulator")
    print(
        json.dumps(
            {
                "minutes": minutes,
                "preset": preset,
                "n_frames": result.n_frames,
                "n_events": result.n_events,
                "wall_s": wall,
                # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child would report
                # the parent's peak
                "peak_rss_mb": _proc_status_mb("VmHWM"),
                **{key: at[key] for key in RSS_POINTS},
                "rss_at_end_mb": at["rss_at_end_mb"],
                "file_mb": os.path.getsize(out) / 2**20,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    from eventsim.options import UPSAMPLE_MODES

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        nargs="*",
        default=list(SIZES),
        choices=list(SIZES),
        help="frame sizes of the end-to-end runs (default: all three)",
    )
    ap.add_argument(
        "--presets",
        nargs="*",
        default=list(PRESETS),
        help=f"DVSParams presets to time (default {' '.join(PRESETS)})",
    )
    ap.add_argument("--repeats", type=int, default=2, help="best of N runs (default 2)")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads in the pipeline (default 1)"
    )
    ap.add_argument(
        "--rss-minutes", type=float, default=1.0, help="length of the RSS run, minutes (default 1)"
    )
    ap.add_argument("--rss-preset", default="ideal", help="preset of the RSS run (default ideal)")
    ap.add_argument("--no-rss", action="store_true", help="skip the memory (RSS) run")
    ap.add_argument(
        "--no-kernel", action="store_true", help="skip the kernel-only figures (frames in RAM)"
    )
    ap.add_argument(
        "--upsample",
        default="none",
        choices=UPSAMPLE_MODES,
        help="end-to-end runs insert frames this way (default none; with --no-kernel: the "
        "kernel-only figures never upsample)",
    )
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="only the per-feature CPU cost table of v2e-default at 346x260",
    )
    ap.add_argument("--peers", action="store_true", help="only the comparison with esim_py")
    ap.add_argument(
        "--noise-cost",
        action="store_true",
        help="only noisy vs ideal per frame, frames in RAM (short clips)",
    )
    ap.add_argument("--esim-python", help="interpreter that can import esim_py")
    ap.add_argument(
        "--v2e",
        nargs=2,
        metavar=("PYTHON", "SRC"),
        help="with --peers: also time v2e, run by PYTHON from its source folder SRC (the one "
        "holding v2ecore)",
    )
    ap.add_argument(
        "--_rss-child",
        dest="rss_child",
        nargs=2,
        metavar=("MINUTES", "OUT"),
        help=argparse.SUPPRESS,
    )
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")
    # refused now, not after the clips were rendered and timed (a traceback from torch, or
    # the RSS run's child failing)
    if args.threads < 1:
        ap.error(f"--threads must be at least 1, got {args.threads}")
    if not 0 < args.rss_minutes < float("inf"):
        ap.error(f"--rss-minutes must be more than 0, got {args.rss_minutes:g}")
    if args.v2e and not args.peers:
        ap.error("--v2e times v2e in the comparison --peers runs; add --peers")
    # checked now, not as a traceback after our side of the comparison was timed
    for given, what in ((args.esim_python, "--esim-python"), (args.v2e and args.v2e[0], "--v2e")):
        if given and shutil.which(given) is None:
            ap.error(f"{what} {given}: no such interpreter; expected the Python of its venv")
    if args.v2e and not (Path(args.v2e[1]) / "v2ecore").is_dir():
        ap.error(f"--v2e ... {args.v2e[1]}: no v2ecore folder there; expected v2e's source folder")
    from eventsim.simulator import PRESETS as KNOWN_PRESETS

    # named now, not as a traceback after the clips were rendered and the first preset timed
    unknown = [p for p in [*args.presets, args.rss_preset] if p not in KNOWN_PRESETS]
    if unknown:
        ap.error(f"unknown preset {', '.join(unknown)}; expected one of {', '.join(KNOWN_PRESETS)}")
    if args.rss_child:
        rss_child(float(args.rss_child[0]), args.rss_child[1], args.rss_preset)
        return 0
    print(f"# {machine_state(SIM_DISTS)}", flush=True)
    if args.breakdown:
        breakdown(args.repeats)
        return 0
    if args.peers:
        peers(args.sizes, args.repeats, args.esim_python, args.v2e)
        return 0
    if args.noise_cost:
        noise_cost(args.sizes, args.repeats)
        return 0

    from eventsim.simulator.synthetic import moving_shapes_clip, write_video

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"# bench_simulator: {os.cpu_count()} CPUs visible, load average {load} at start, "
        f"threads={args.threads}, best of {args.repeats} after an untimed warm-up of each "
        "preset; clip = moving-shapes, 30 fps MP4"
    )
    # --sizes with none (the RSS run alone) printed this table empty
    if args.sizes:
        print()
        print(
            "| size | preset | frames | ev/frame | end-to-end frames/s | Mev/s | CPU ms/frame "
            "| kernel-only frames/s |"
        )
        print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        results = {}
        inserted: dict[tuple[str, str], float] = {}
        for size in args.sizes:
            width, height = (int(v) for v in size.split("x"))
            n = SIZES[size]
            frames, ts = moving_shapes_clip(width, height, duration_s=n / 30, fps=30, seed=0)
            video = write_video(tmp / f"clip_{size}.mp4", frames, fps=30)
            # warm-up, untimed: each preset's imports, kernels and first-call costs stay out of
            # the timings, through the same call as the timed runs (decode, upsampling, HDF5
            # writer), on the clip's first second at this size: several of the pipeline's
            # batches, so that buffers of their size have been made once (see `_warm_up`)
            warm_video = write_video(tmp / f"warm_{size}.mp4", frames[:30], fps=30)
            for preset in args.presets:
                bench_end_to_end(
                    warm_video, preset, 1, args.threads, tmp / "warm.h5", args.upsample
                )
            for preset in args.presets:
                e2e = bench_end_to_end(
                    video, preset, args.repeats, args.threads, tmp / "o.h5", args.upsample
                )
                if e2e["n_inserted"]:
                    inserted[(size, preset)] = e2e["n_inserted"] / e2e["n_frames"]
                kern = None if args.no_kernel else bench_kernel(frames, ts, preset, args.repeats)
                fps = e2e["n_frames"] / e2e["wall_s"]
                results[(size, preset)] = fps
                kfps = f"{kern['n_frames'] / kern['wall_s']:.0f}" if kern else "-"
                print(
                    f"| {size} | {preset} | {e2e['n_frames']} | "
                    f"{e2e['n_events'] / e2e['n_frames']:,.0f} | {fps:.0f} | "
                    f"{e2e['n_events'] / e2e['wall_s'] / 1e6:.2f} | "
                    f"{e2e['cpu_s'] / e2e['n_frames'] * 1e3:.2f} | {kfps} |",
                    flush=True,
                )
        print()
        for (size, preset), per_frame in inserted.items():
            print(f"- {size} {preset}: --upsample {args.upsample} inserted {per_frame:.2f} frames")
            print("  per source frame (frames/s above count source frames)")
        for size in args.sizes:
            if (size, "ideal") in results and (size, "v2e-default") in results:
                ratio = results[(size, "ideal")] / results[(size, "v2e-default")]
                print(f"- {size}: v2e-default noise costs {ratio:.2f}x the time of ideal")
        if not args.no_rss:
            out = tmp / "long.h5"
            cmd = [
                sys.executable,
                __file__,
                "--_rss-child",
                str(args.rss_minutes),
                str(out),
                "--rss-preset",
                args.rss_preset,
            ]
            child = subprocess.run(cmd, capture_output=True, text=True)
            if child.returncode != 0:
                # its output is captured: say why instead of a bare CalledProcessError
                raise SystemExit(f"bench_simulator: the RSS run failed:\n{child.stderr}")
            res = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"- RSS, {res['minutes']:g}-minute synthetic 346x260 stream generated on the fly "
                f"({res['n_frames']} frames, {res['n_events']:,} events, preset {res['preset']}, "
                f"{res['wall_s']:.0f} s): peak {res['peak_rss_mb']:.0f} MiB; RSS at 10% / 50% / "
                f"end: {res['rss_at_10pct_mb']:.0f} / {res['rss_at_50pct_mb']:.0f} / "
                f"{res['rss_at_end_mb']:.0f} MiB; file {res['file_mb']:.0f} MiB"
            )

    if args.sizes and find_esim_python(args.esim_python) is not None:
        print()
        peers(args.sizes, args.repeats, args.esim_python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
