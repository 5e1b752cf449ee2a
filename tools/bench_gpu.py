"""CUDA against CPU: bit-identical events on the oracle clips, then simulator frames/s by size.

    PYTHONPATH=. python3 tools/bench_gpu.py --out DIR       # on a machine with a GPU
    python tools/bench_gpu.py --device cpu --quick          # dry run: CPU against CPU, small

Identity: every clip the simulator's tests use as an oracle or golden input (the golden-hash
cases of tests/test_golden.py, the test_sim_core clip, step and sine stimuli), the synthetic
moving-shapes clip and a few hundred frames of a random-ish 346x260 video, under each preset,
run on CPU (torch path, the reference) and on the device, fed whole and in uneven chunks; every
event column must match. The numba CPU path is compared with the same reference when numba is
installed. The golden cases also report whether their hash matches the recorded one. Exit
status 1 when any run differs (after the whole table; the first differing event is printed).

Speed: frames/s and events/s of `EventSimulator.step` on grey uint8 frames of the
moving-shapes clip already in RAM (as tools/bench_simulator.py's kernel-only figure), presets
``ideal`` and ``noisy``, on the device (warmed up, synchronised) and, for a few frames, on CPU
with the numba kernels loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eventsim._text import plural

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parent.parent
CHUNK_SIZES = (1, 7, 2, 13, 4, 30)  # fed in this cycle: batch edges fall everywhere
SPEED_SIZES = ("640x480", "1280x720", "1920x1080")
SPEED_PRESETS = ("ideal", "noisy")


# ----------------------------------------------------------------------------- inputs
def _grey(frames: np.ndarray) -> np.ndarray:
    import cv2

    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


def _random_video(width: int, height: int, n: int, seed: int = 0) -> np.ndarray:
    """Grey uint8 frames: a coarse random field, drifting sideways while its values wander,
    with per-frame pixel noise, so pixels cross levels now and then at many different rates."""
    import cv2

    rng = np.random.default_rng(seed)
    shape = (height // 8 + 2, width // 8 + 2)
    steps = rng.normal(0, 6, (n // 30 + 2, *shape))
    keys = np.clip(rng.uniform(30, 225, shape) + np.cumsum(steps, axis=0), 10, 245)
    frames = np.empty((n, height, width), np.uint8)
    for i in range(n):
        k, f = divmod(i, 30)
        coarse = keys[k] + (keys[k + 1] - keys[k]) * (f / 30)
        # bilinear: the frames behind the recorded CUDA figures (an earlier version asked for
        # INTER_CUBIC as the positional `dst` argument, which OpenCV ignored)
        field = cv2.resize(
            coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR
        )
        field = np.roll(field, shift=i // 8, axis=1)
        field += rng.normal(0, 0.7, field.shape).astype(np.float32)
        frames[i] = np.clip(field + 0.5, 0, 255).astype(np.uint8)
    return frames


def _step_pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)  # test_sim_core's brightness-step oracle
    a = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    b = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    return np.stack([a, b]), np.array([0, 10_000])


def _sine(n: int) -> tuple[np.ndarray, np.ndarray]:
    """test_sim_core's symmetric stimulus: float HDR frames, log intensity a sine per pixel."""
    rng = np.random.default_rng(4)
    base = rng.uniform(-3.0, -0.5, (32, 32))
    amp = rng.uniform(0.3, 1.5, (32, 32))
    phase = rng.uniform(0, 2 * np.pi, (32, 32))
    t = np.arange(n) * 2_000
    logs = base + amp * np.sin(2 * np.pi * 5 * t[:, None, None] / 1e6 + phase)
    return 255.0 * (np.exp(logs) - 1e-3), t


def clips(quick: bool, n_random: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from eventsim.simulator.synthetic import moving_shapes_clip

    out = {
        "shapes-64x48-rgb": moving_shapes_clip(64, 48, duration_s=0.5, fps=60, seed=3),
        "step-16x16": _step_pair(),
        "sine-32x32-float": _sine(60 if quick else 400),
    }
    frames, ts = moving_shapes_clip(
        346, 260, duration_s=0.25 if quick else 1.0, fps=30, seed=0, n_shapes=4
    )
    out["shapes-346x260-rgb"] = (frames, ts)
    w, h = (96, 72) if quick else (346, 260)
    rand = _random_video(w, h, n_random)
    rand_ts = np.round(np.arange(n_random) * 1e6 / 30).astype(np.int64)
    out[f"random-{w}x{h}-{n_random}f"] = (rand, rand_ts)
    # HDR float input takes the device's own log and exp (no uint8 lookup tables)
    n_float = min(n_random, 60)
    out[f"random-{w}x{h}-{n_float}f-float"] = (rand[:n_float] * 1.3, rand_ts[:n_float])
    return out


def presets() -> dict[str, Any]:
    from eventsim.simulator import PRESETS, DVSParams

    out = {name: DVSParams.from_preset(name) for name in PRESETS}
    # hot pixels and a faster leak, which no preset switches on (test_sim_core's NOISY_ALL)
    out["noisy+hot"] = out["noisy"].replace(
        hot_pixel_fraction=0.01, leak_rate_hz=2.0, shot_noise_rate_hz=3.0
    )
    return out


# ----------------------------------------------------------------------------- identity
@contextlib.contextmanager
def cpu_path(numba: bool) -> Iterator[None]:
    """The CPU torch path, or the numba kernels (a loaded kernel module is used at once)."""
    import eventsim.simulator.core as core

    old = core._USE_NUMBA
    core._USE_NUMBA = numba
    if numba:
        import eventsim.simulator._kernels  # noqa: F401
    try:
        yield
    finally:
        core._USE_NUMBA = old


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    lo, i = 0, 0
    while lo < n:
        hi = min(n, lo + CHUNK_SIZES[i % len(CHUNK_SIZES)])
        yield lo, hi
        lo, i = hi, i + 1


def run_sim(params, frames, ts, device: str, chunked: bool, seed: int = 5):
    """Events of one run, and the simulator (its state is compared too)."""
    from eventsim.events import concat_events
    from eventsim.simulator import EventSimulator

    h, w = frames.shape[1:3]
    sim = EventSimulator(params, (w, h), seed=seed, device=device)
    if not chunked:
        return sim.step(frames, ts), sim
    parts = [sim.step(frames[lo:hi], ts[lo:hi]) for lo, hi in _chunks(len(frames))]
    return concat_events(parts), sim


def first_difference(a: np.ndarray, b: np.ndarray) -> str:
    """Where two event arrays first differ, with both events, for diagnosis."""
    n = min(a.size, b.size)
    diff = np.zeros(n, bool)
    fields = []
    for name in ("x", "y", "t", "p"):
        d = a[name][:n] != b[name][:n]
        if d.any():
            fields.append(f"{name} ({int(d.sum())} differ)")
        diff |= d
    where = np.flatnonzero(diff)
    if where.size == 0:
        return f"the first {n} events agree; counts {a.size} != {b.size}"
    i = int(where[0])
    return (
        f"first differing index {i} of {n} compared (fields: {', '.join(fields)}): "
        f"reference {tuple(a[i].tolist())} vs {tuple(b[i].tolist())}; counts {a.size} vs {b.size}"
    )


def _state(sim) -> list[np.ndarray]:
    names = ["_ref", "_x_prev", "_lp", "_t_last"]
    if sim.params.leak_rate_hz > 0:
        names += ["_leak_base", "_leak_speed", "_leak_anchor", "_leak_cycle"]
    # the CPU kernels keep their state in numpy arrays, the torch path in tensors
    return [
        np.asarray(v.cpu() if hasattr(v, "cpu") else v)
        for v in (getattr(sim, n) for n in names if hasattr(sim, n))
    ]


def _same_state(a, b) -> bool:
    sa, sb = _state(a), _state(b)
    return len(sa) == len(sb) and all(x.tobytes() == y.tobytes() for x, y in zip(sa, sb))


def identity(device: str, quick: bool, n_random: int, has_numba: bool, report: dict) -> int:
    """The identity table; returns the number of runs that differ from the reference."""
    rows = report.setdefault("identity", [])
    bad = 0
    print("\n## CPU vs device events on the oracle and synthetic clips (reference: CPU torch path)")
    print(
        f"\n| clip | preset | n cpu | n {device} | {device} whole | {device} chunked | "
        f"cpu chunked ({'numba' if has_numba else 'torch'}) | cpu numba whole | state |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    params_by_name = presets()
    for clip, (frames, ts) in clips(quick, n_random).items():
        for preset, params in params_by_name.items():
            t0 = time.perf_counter()
            # the torch path (the device's code) once; chunked CPU runs take the fast path
            with cpu_path(False):
                ref, ref_sim = run_sim(params, frames, ts, "cpu", chunked=False)
            runs = {}
            with cpu_path(has_numba):
                runs["cpu chunked"], _ = run_sim(params, frames, ts, "cpu", chunked=True)
                if has_numba:
                    runs["cpu numba whole"], _ = run_sim(params, frames, ts, "cpu", chunked=False)
            dev_whole, dev_sim = run_sim(params, frames, ts, device, chunked=False)
            runs[f"{device} whole"] = dev_whole
            runs[f"{device} chunked"], _ = run_sim(params, frames, ts, device, chunked=True)
            same = {k: bool(np.array_equal(ref, v) and ref.size == v.size) for k, v in runs.items()}
            state = _same_state(ref_sim, dev_sim)
            cells = [
                "n/a" if k not in same else ("yes" if same[k] else "**NO**")
                for k in (f"{device} whole", f"{device} chunked", "cpu chunked", "cpu numba whole")
            ]
            print(
                f"| {clip} | {preset} | {ref.size} | {dev_whole.size} | {' | '.join(cells)} | "
                f"{'same' if state else 'differs'} |",
                flush=True,
            )
            for k, ok in same.items():
                if not ok:
                    bad += 1
                    print(f"    {clip}/{preset} {k}: {first_difference(ref, runs[k])}")
            rows.append(
                {
                    "clip": clip,
                    "preset": preset,
                    "frames": len(frames),
                    "n_cpu": int(ref.size),
                    "n_device": int(dev_whole.size),
                    "equal": same,
                    "state_equal": state,
                    "seconds": round(time.perf_counter() - t0, 3),
                }
            )
    return bad


def _load_golden_module():
    """tests/test_golden.py (it needs pytest), or None when it cannot be imported here."""
    path = ROOT / "tests" / "test_golden.py"
    spec = importlib.util.spec_from_file_location("_golden_cases", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        print(f"\n(golden cases skipped: {exc})")
        return None
    return module


@contextlib.contextmanager
def simulators_on(device: str) -> Iterator[None]:
    """Make the golden cases, which build their simulators on CPU, build them on ``device``
    (the pipeline's and the package's name for the class both)."""
    import eventsim.simulator as package
    import eventsim.simulator.pipeline as pipeline
    from eventsim.simulator.core import EventSimulator

    built: list[torch.device] = []

    class OnDevice(EventSimulator):
        def __init__(self, *args: Any, device: str = "cpu", **kwargs: Any) -> None:
            super().__init__(*args, device=target, **kwargs)
            built.append(self.device)

    target = device
    saved = package.EventSimulator, pipeline.EventSimulator
    package.EventSimulator = pipeline.EventSimulator = OnDevice  # type: ignore[misc]
    try:
        yield
    finally:
        package.EventSimulator, pipeline.EventSimulator = saved  # type: ignore[misc]
    if not built:
        # a case that imports the class some other way would silently stay on CPU
        raise RuntimeError("a golden case built no simulator through the replaced class")


def golden(device: str, has_numba: bool, report: dict) -> int:
    """tests/test_golden.py's simulator cases on CPU and on the device; returns mismatches
    between the two (a CPU hash unlike the recorded one is reported, not counted: another
    torch, OpenCV or numpy may change it, which test_golden.py itself checks)."""
    module = _load_golden_module()
    if module is None:
        report["golden"] = "skipped"
        return 0
    recorded = json.loads(module.GOLDEN.read_text())["simulator"]
    rows = report.setdefault("golden", [])
    bad = 0
    print("\n## tests/test_golden.py simulator cases (pipeline batching as recorded)")
    print(
        f"\n| case | n cpu | n {device} | {device} = cpu | cpu = recorded | {device} = recorded |"
    )
    print("|---|---|---|---|---|---|")
    for case, fn in sorted(module.SIM_CASES.items()):
        with cpu_path(has_numba):
            cpu = fn()
        with simulators_on(device):
            dev = fn()
        same = bool(np.array_equal(cpu, dev) and cpu.size == dev.size)
        want = recorded.get(case, {}).get("sha256")
        cpu_rec = module.hash_events(cpu) == want
        dev_rec = module.hash_events(dev) == want
        yes = {True: "yes", False: "**NO**"}
        print(
            f"| {case} | {cpu.size} | {dev.size} | {yes[same]} | {yes[cpu_rec]} | {yes[dev_rec]} |",
            flush=True,
        )
        if not same:
            bad += 1
            print(f"    {case}: {first_difference(cpu, dev)}")
        rows.append(
            {
                "case": case,
                "n_cpu": int(cpu.size),
                "n_device": int(dev.size),
                "equal": same,
                "cpu_matches_recorded": cpu_rec,
                "device_matches_recorded": dev_rec,
            }
        )
    return bad


# ----------------------------------------------------------------------------- speed
def _speed_frames(width: int, height: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Grey uint8 moving-shapes frames, converted one by one (the RGB clip is never whole)."""
    import cv2

    from eventsim.simulator.synthetic import moving_shapes_frames

    grey = np.empty((n, height, width), np.uint8)
    ts = np.empty(n, np.int64)
    for i, (frame, t) in enumerate(moving_shapes_frames(width, height, n / 30, 30.0, seed=0)):
        if i == n:
            break
        grey[i] = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        ts[i] = t
    return grey, ts


def _timed(sim, frames: np.ndarray, ts: np.ndarray, sync: Callable[[], None]) -> tuple[float, int]:
    batch = max(1, 4_000_000 // (frames.shape[1] * frames.shape[2]))
    sim.reset()
    sync()
    t0 = time.perf_counter()
    n = 0
    for i in range(0, len(frames), batch):
        n += sim.step(frames[i : i + batch], ts[i : i + batch]).size
    sync()
    return time.perf_counter() - t0, n


def speed(args: argparse.Namespace, has_numba: bool, report: dict) -> None:
    import torch

    from eventsim.simulator import DVSParams, EventSimulator

    device = args.device
    dev_sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rows = report.setdefault("speed", [])
    print(
        f"\n## Speed: grey uint8 moving-shapes frames in RAM, best of {args.repeats}; "
        f"CPU: {torch.get_num_threads()} torch threads, numba kernels "
        f"{'loaded' if has_numba else 'missing (torch path)'}"
    )
    print(
        "\n| size | preset | where | frames | ev/frame | frames/s | Mev/s | ms/frame | "
        f"{device} / cpu |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        w, h = _parse_size(size)
        frames, ts = _speed_frames(w, h, max(args.frames, args.cpu_frames))
        for preset in SPEED_PRESETS:
            params = DVSParams.from_preset(preset)
            results = {}
            for where, n, sync in (
                ("device", args.frames, dev_sync),
                ("cpu", args.cpu_frames, lambda: None),
            ):
                with cpu_path(has_numba):
                    sim = EventSimulator(
                        params, (w, h), device=device if where == "device" else "cpu"
                    )
                    # warm-up: kernels loaded, CUDA context, caching allocator, gain tables
                    _timed(sim, frames[: min(n, 8)], ts[: min(n, 8)], sync)
                    best = min(_timed(sim, frames[:n], ts[:n], sync) for _ in range(args.repeats))
                results[where] = (n, *best)
            fps = {k: n / wall for k, (n, wall, _) in results.items()}
            for where, (n, wall, n_ev) in results.items():
                label = device if where == "device" else "cpu"
                ratio = f"{fps['device'] / fps['cpu']:.1f}x" if where == "device" else ""
                print(
                    f"| {size} | {preset} | {label} | {n} | {n_ev / n:,.0f} | {n / wall:,.1f} | "
                    f"{n_ev / wall / 1e6:.2f} | {wall / n * 1e3:.2f} | {ratio} |",
                    flush=True,
                )
                rows.append(
                    {
                        "size": size,
                        "preset": preset,
                        "where": label,
                        "frames": n,
                        "events": n_ev,
                        "wall_s": wall,
                        "frames_per_s": n / wall,
                        "events_per_s": n_ev / wall,
                    }
                )
        del frames


# ----------------------------------------------------------------------------- main
def _parse_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` in px as (width, height); ValueError naming it when it is not one."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"--sizes {text}: expected WIDTHxHEIGHT in px, e.g. 640x480")
    return int(parts[0]), int(parts[1])


def _probe_addcmul(device: str) -> str:
    """How addcmul rounds on ``device`` (the low-pass step): once (fused), twice, or mixed."""
    import torch

    n = 67  # reaches both the vectorised body and the scalar tail of a CPU loop
    x = torch.full((n,), 1.0 + 2.0**-30, dtype=torch.float64, device=device)
    got = torch.addcmul(torch.full_like(x, -1.0), x, x).tolist()
    if all(v == 2.0**-29 + 2.0**-60 for v in got):
        return "fused (one rounding)"
    if all(v == 2.0**-29 for v in got):
        return "two roundings"
    return "mixed"


def _probe_math(device: str) -> dict[str, int]:
    """How many of 10^6 float64 values exp, log and cos give differently on ``device`` and
    CPU (the low-pass gains, float-input logs and leak jitter are computed on the device)."""
    import torch

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(-20.0, 0.0, 1_000_000))
    pos = torch.from_numpy(rng.uniform(1e-6, 300.0, 1_000_000))
    out = {}
    for name, fn, v in (("exp", torch.exp, x), ("log", torch.log, pos), ("cos", torch.cos, x)):
        out[name] = int((fn(v) != fn(v.to(device)).cpu()).sum())
    return out


def header(device: str, report: dict) -> bool:
    import torch

    has_numba = importlib.util.find_spec("numba") is not None
    if has_numba:
        # numba compiles on first call: a small noisy run (walk, shot noise, assembly) shows
        # whether this numba builds the kernels, before the tables depend on them
        params = presets()["noisy+hot"]
        frames, _ = _step_pair()
        try:
            with cpu_path(True):
                run_sim(
                    params, np.concatenate([frames, frames[:1]]), [0, 10_000, 20_000], "cpu", True
                )
        except Exception as exc:  # any failure here means: measure without the kernels
            print(f"numba kernels do not work here ({type(exc).__name__}: {exc})")
            print("CPU runs use the torch path")
            has_numba = False
    import eventsim.simulator.core as core

    memory = (
        f"{torch.cuda.get_device_properties(device).total_memory / 2**30:.1f} GiB"
        if device.startswith("cuda")
        else None
    )
    info = {
        "device": device,
        "device_name": (
            torch.cuda.get_device_name(device)
            if device.startswith("cuda")
            else platform.processor()
        ),
        "device_memory": memory,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "numpy": np.__version__,
        "numba": has_numba,
        "cpu_threads": torch.get_num_threads(),
        "addcmul_cpu": _probe_addcmul("cpu"),
        "addcmul_cpu_core_probe": repr(core._addcmul_rounding()),
        "addcmul_device": _probe_addcmul(device),
        "math_differs_of_1e6": _probe_math(device),
    }
    report["machine"] = info
    print("# bench_gpu")
    for key, value in info.items():
        print(f"{key}: {value}")
    return has_numba


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", default="cuda", help="device to compare with CPU (default cuda)"
    )
    parser.add_argument("--out", type=Path, help="folder for bench_gpu.json")
    parser.add_argument("--force", action="store_true", help="overwrite bench_gpu.json")
    parser.add_argument("--quick", action="store_true", help="small clips and sizes (dry run)")
    parser.add_argument("--sizes", nargs="+", help=f"speed sizes (default {' '.join(SPEED_SIZES)})")
    parser.add_argument("--frames", type=int, help="device frames per speed run (default 300)")
    parser.add_argument("--cpu-frames", type=int, help="CPU frames per speed run (default 20)")
    parser.add_argument(
        "--random-frames", type=int, help="frames of the random clip (default 200 at 346x260)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed runs, best kept (default 2)")
    parser.add_argument("--cpu-threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-identity", action="store_true", help="only the speed table")
    parser.add_argument("--no-speed", action="store_true", help="only the identity tables")
    args = parser.parse_args(argv)
    args.sizes = args.sizes or (["160x120", "320x240"] if args.quick else list(SPEED_SIZES))
    args.frames = args.frames or (12 if args.quick else 300)
    args.cpu_frames = args.cpu_frames or (6 if args.quick else 20)
    args.random_frames = args.random_frames or (20 if args.quick else 200)
    if min(args.frames, args.cpu_frames, args.repeats, args.random_frames - 1) < 1:
        print(
            "error: --frames, --cpu-frames and --repeats must be >= 1, --random-frames >= 2",
            file=sys.stderr,
        )
        return 2
    if args.cpu_threads is not None and args.cpu_threads < 1:
        print(f"error: --cpu-threads must be >= 1, got {args.cpu_threads}", file=sys.stderr)
        return 2
    # checked now: a bad size used to fail with a traceback after the identity tables' minutes
    try:
        for size in args.sizes:
            _parse_size(size)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.no_identity and args.no_speed:
        print("error: --no-identity with --no-speed leaves nothing to measure", file=sys.stderr)
        return 2
    # a file where the folder should be failed at the first save, after the identity tables
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        print(
            f"error: --out {args.out} is a file; expected a folder for bench_gpu.json",
            file=sys.stderr,
        )
        return 2
    out_file = None if args.out is None else args.out / "bench_gpu.json"
    if out_file is not None and out_file.exists() and not args.force:
        print(f"error: {out_file} exists; pass --force to overwrite it", file=sys.stderr)
        return 2

    import torch

    from eventsim.cli.common import cli_words
    from eventsim.errors import EventsimError
    from eventsim.simulator.core import _resolve_device

    if args.cpu_threads:
        torch.set_num_threads(args.cpu_threads)
    try:
        _resolve_device(args.device)
    except EventsimError as exc:
        print(f"error: {cli_words(exc, parser, args)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}

    def save() -> None:
        # after every section, so a run cut short by a time limit keeps what it measured
        report["mismatches"] = bad
        report["seconds"] = round(time.perf_counter() - started, 1)
        if out_file is not None:
            out_file.parent.mkdir(parents=True, exist_ok=True)
            out_file.write_text(json.dumps(report, indent=2) + "\n")

    bad = 0
    has_numba = header(args.device, report)
    if not args.no_identity:
        bad += identity(args.device, args.quick, args.random_frames, has_numba, report)
        save()
        bad += golden(args.device, has_numba, report)
        save()
    if not args.no_speed:
        speed(args, has_numba, report)
    save()
    print(
        f"\n{bad} {plural(bad, 'run')} {'differs' if bad == 1 else 'differ'} from the CPU reference; {report['seconds']} s in all"
    )
    if out_file is not None:
        print(f"wrote {out_file}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
