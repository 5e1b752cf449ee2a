"""Differential check of the simulator's numba kernels against its torch path: random clips,
settings and chunkings, where both must give the same events and the same state, bit for bit.

    python tools/fuzz_kernels.py [--seconds 600] [--first-case 0]
    python tools/fuzz_kernels.py --case 1234        # re-run one case and print it
    python tools/fuzz_kernels.py --device cuda      # the torch path on a GPU instead

The tests check the two paths on chosen clips; this walks many more corners (tiny and odd
sensor sizes, uint8 and float frames, frame gaps from 1 µs to 5 s, still and flickering
regions, leak periods shorter than a frame, several crossings a frame, chunk splits anywhere,
kernels loaded mid-stream after the torch path ran, uint8 and float chunks in one stream). Each case is a pure function of
its number, so a failure is reproduced with ``--case`` (with the traceback where a path
raised). Exit status 1 when any case differs or raises.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Any

import numpy as np

# a case expected to give more events than this is skipped (the torch path holds several
# int64 arrays per event: memory, not speed)
_MAX_EVENTS = 20e6


def make_clip(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """uint8 frames [T, H, W] and increasing int64 µs times."""
    if rng.random() < 0.85:
        w, h = int(rng.integers(1, 90)), int(rng.integers(1, 70))
    else:
        w, h = int(rng.integers(100, 400)), int(rng.integers(100, 300))
    n = int(rng.integers(2, 40))
    kind = int(rng.integers(0, 4))
    base = rng.integers(0, 256, (h, w)).astype(np.float64)
    frames = []
    for k in range(n):
        if kind == 0:  # every pixel changes every frame
            f = rng.integers(0, 256, (h, w)).astype(np.float64)
        elif kind == 1:  # still, but for a moving bar
            f = base.copy()
            c = (k * 3) % w
            f[:, c : c + 3] = 255 - f[:, c : c + 3]
        elif kind == 2:  # half the sensor flickers, the rest stays still
            f = base.copy()
            f[: h // 2] = (k % 2) * 255
        else:  # a slow drift of brightness with a little noise
            f = base + k * rng.normal(2, 3) + rng.normal(0, 2, (h, w))
        frames.append(f)
    clip = np.array(frames).round().clip(0, 255).astype(np.uint8)
    gaps = int(rng.integers(0, 3)) if w * h < 20_000 else int(rng.integers(0, 2))
    if gaps == 0:
        dts = np.full(n, int(rng.integers(1, 50_000)))
    elif gaps == 1:
        dts = rng.integers(1, 60_000, n)
    else:
        dts = rng.choice([1, 10, 33_333, 1_000_000, 5_000_000], n)
    return clip, np.cumsum(dts).astype(np.int64) + int(rng.integers(0, 10**6))


def make_params(rng: np.random.Generator) -> Any:
    from eventsim.simulator import DVSParams

    p: dict[str, Any] = {}
    if rng.random() < 0.7:
        p["threshold_sigma"] = float(rng.choice([0.0, 0.02, 0.05, 0.2]))
    if rng.random() < 0.6:
        p["cutoff_hz"] = float(rng.choice([0.5, 5.0, 30.0, 300.0, 3000.0]))
    if rng.random() < 0.6:
        p["leak_rate_hz"] = float(rng.choice([0.01, 0.1, 5.0, 20.0, 200.0]))
        if rng.random() < 0.3:
            p["leak_jitter_fraction"] = float(rng.choice([0.0, 0.1, 0.5]))
    if rng.random() < 0.4:
        p["shot_noise_rate_hz"] = float(rng.choice([0.1, 5.0, 20.0]))
    if rng.random() < 0.5:
        p["refractory_period_us"] = int(rng.choice([0, 1, 100, 500, 20_000]))
    if rng.random() < 0.3:
        p["log_curve"] = "linlog"
    if rng.random() < 0.3:
        p["pos_threshold"] = float(rng.choice([0.05, 0.2, 0.6]))
        p["neg_threshold"] = float(rng.choice([0.05, 0.2, 0.6]))
    if rng.random() < 0.2:
        p["hot_pixel_fraction"] = 0.01
        p["hot_pixel_rate_hz"] = 20.0
    return DVSParams().replace(**p)


def expected_events(params: Any, frames: np.ndarray, ts: np.ndarray) -> float:
    """About how many events a run gives, at most: every log-intensity step over the lowest
    threshold, plus the leak and the noise at their rates."""
    log = np.log(np.asarray(frames, np.float64) / 255.0 + params.log_eps)
    lowest = max(0.01, min(params.pos_threshold, params.neg_threshold) - 3 * params.threshold_sigma)
    signal = float(np.abs(np.diff(log, axis=0)).sum()) / lowest
    rate = (
        params.leak_rate_hz
        + params.shot_noise_rate_hz
        + params.hot_pixel_rate_hz * params.hot_pixel_fraction
    )
    return signal + frames.shape[1] * frames.shape[2] * (ts[-1] - ts[0]) * 1e-6 * rate


def run_path(
    params: Any,
    frames: np.ndarray,
    ts: np.ndarray,
    seed: int,
    chunks: list[int],
    kernel: bool,
    torch_chunks: int = 0,
    float_chunks: frozenset[int] = frozenset(),
    device: str = "cpu",
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Events and final state of a chunked run on the kernels (after ``torch_chunks`` chunks on
    the torch path, as when a process loads the kernels mid-stream) or on the torch path on
    ``device``; the chunks numbered in ``float_chunks`` go in as float frames."""
    import eventsim.simulator.core as core
    from eventsim.simulator import EventSimulator

    h, w = frames.shape[1:3]
    before = core._USE_NUMBA
    try:
        with warnings.catch_warnings():
            # the cases draw wide threshold spreads on purpose: clamped thresholds are a corner
            # the kernels must walk as the torch path does, not a mistake to report
            warnings.simplefilter("ignore", core.ThresholdSpreadWarning)
            sim = EventSimulator(params, (w, h), seed=seed, device="cpu" if kernel else device)
        lo, parts = 0, []
        for i, n in enumerate(chunks):
            core._USE_NUMBA = kernel and i >= torch_chunks
            chunk = frames[lo : lo + n]
            parts.append(
                sim.step(chunk.astype(np.float64) if i in float_chunks else chunk, ts[lo : lo + n])
            )
            lo += n
    finally:
        core._USE_NUMBA = before
    if kernel and sim._kernel is None:
        raise RuntimeError("the kernels did not run: is numba installed?")
    state = [sim._ref, sim._x_prev, sim._lp]
    if params.leak_rate_hz > 0:
        state += [sim._leak_base, sim._leak_speed, sim._leak_anchor, sim._leak_cycle]
    host = [v if isinstance(v, np.ndarray) else v.cpu().numpy() for v in state]
    return np.concatenate(parts), [v.copy() for v in host]


def check_case(case: int, verbose: bool = False, device: str = "cpu") -> tuple[bool, int]:
    """(same events and state on both paths, events) for case number ``case``, the torch path
    on ``device``; a skipped case counts as passing with 0 events."""
    rng = np.random.default_rng(case)
    params = make_params(rng)
    frames, ts = make_clip(rng)
    if rng.random() < 0.2:
        # float input (HDR frames, upsampling): the kernels walk the torch path's filter output
        frames = frames * float(rng.uniform(0.5, 3.0))
    if expected_events(params, frames, ts) > _MAX_EVENTS:
        return True, 0
    n = len(frames)
    cuts = sorted(set(rng.integers(1, n, int(rng.integers(0, 4))).tolist()))
    chunks = np.diff([0, *cuts, n]).tolist()
    seed = int(rng.integers(0, 100))
    # sometimes the kernels load only after the torch path ran, or uint8 and float chunks mix
    torch_chunks = (
        int(rng.integers(1, len(chunks))) if len(chunks) > 1 and rng.random() < 0.25 else 0
    )
    floats = (
        frozenset(np.flatnonzero(rng.random(len(chunks)) < 0.3).tolist())
        if rng.random() < 0.15
        else frozenset()
    )
    mixes = (torch_chunks, floats)
    fast, fast_state = run_path(params, frames, ts, seed, chunks, True, *mixes)
    slow, slow_state = run_path(params, frames, ts, seed, chunks, False, *mixes, device)
    same = fast.tobytes() == slow.tobytes() and all(
        a.tobytes() == b.tobytes() for a, b in zip(fast_state, slow_state)
    )
    if verbose or not same:
        print(
            f"case {case}: {'same' if same else 'DIFFERENT'}; {frames.shape[2]}x{frames.shape[1]}, "
            f"{n} frames, chunks {chunks} (torch path for the first {torch_chunks}, float: "
            f"{sorted(floats)}), seed {seed}, events {fast.size} (kernels) / "
            f"{slow.size} (torch path, {device})\n  {params}",
            flush=True,
        )
    return same, int(fast.size)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="how long to run (default 600)")
    ap.add_argument(
        "--first-case", type=int, default=0, help="number of the first case (default 0)"
    )
    ap.add_argument("--case", type=int, help="run only this case and print it")
    ap.add_argument(
        "--device", default="cpu", help="where the torch path runs: cpu (default) or cuda"
    )
    args = ap.parse_args(argv)
    # no time, no case compared: a run that checked nothing must not pass (NaN compared no
    # case and passed)
    if args.case is None and not args.seconds > 0:
        ap.error(f"--seconds must be more than 0, got {args.seconds:g}")
    # a case number seeds numpy's generator, which takes no negative seed (a traceback)
    for name, value in (("--case", args.case), ("--first-case", args.first_case)):
        if value is not None and value < 0:
            ap.error(f"{name} must be 0 or more, got {value}")

    from tqdm.auto import tqdm

    from eventsim.errors import EventsimError
    from eventsim.simulator import DVSParams, EventSimulator
    from eventsim.simulator.core import preload_kernels

    if not preload_kernels():
        print("fuzz_kernels: numba's kernels cannot load here; nothing to compare", file=sys.stderr)
        return 2
    try:
        EventSimulator(DVSParams(), (1, 1), device=args.device)
    except EventsimError as exc:
        print(f"fuzz_kernels: {exc}", file=sys.stderr)
        return 2
    if args.case is not None:
        return 0 if check_case(args.case, verbose=True, device=args.device)[0] else 1
    stop = time.monotonic() + args.seconds
    case, bad, events = args.first_case, [], 0
    with tqdm(unit="case", desc="kernels vs torch path") as bar:
        # at least one case: a --seconds shorter than the set-up compared none and passed
        while case == args.first_case or time.monotonic() < stop:
            try:
                same, n = check_case(case, device=args.device)
            except Exception as exc:  # a path that fails is a finding too: report, go on
                print(f"case {case}: ERROR {type(exc).__name__}: {exc}", flush=True)
                same, n = False, 0
            if not same:
                bad.append(case)
            events += n
            case += 1
            bar.update(1)
            bar.set_postfix(different=len(bad), events=f"{events:,}", refresh=False)
    print(
        f"cases {args.first_case}..{case - 1}: {len(bad)} different, {events:,} events"
        + (f"; re-run one with --case {bad[0]}" if bad else "")
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
