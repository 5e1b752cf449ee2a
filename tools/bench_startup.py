"""Measure start-up: what `eventsim simulate` and `epvlm run` spend before their first frame or
token, split into the imports they need.

    python tools/bench_startup.py [--repeats 3]

Every row is a fresh Python process (wall clock from process start to exit, best of
``--repeats``, rows interleaved so load changes hit all alike). The import rows show the floor
that a command cannot go below while it needs those modules; the command rows are the real
commands on tiny inputs (30 frames of 346x260 for `eventsim simulate`; the shipped tiny model,
one question, for `epvlm run`), so their difference from the import rows is the work itself.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eventsim._system import machine_state
from eventsim._text import plural

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "epvlm" / "assets" / "shapes-demo-tiny"


def _prepare(tmp: Path) -> None:
    import cv2

    from eventsim.simulator.synthetic import moving_shapes_clip

    frames, ts = moving_shapes_clip(346, 260, duration_s=1.0, fps=30, seed=0)
    (tmp / "seq" / "images").mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp / "seq" / "images" / f"{i:05d}.png"), f[..., ::-1])
    (tmp / "seq" / "timestamps.txt").write_text("".join(f"{t / 1e6:.6f}\n" for t in ts))
    cv2.imwrite(str(tmp / "frame.png"), frames[15][..., ::-1])


def _rows(tmp: Path) -> dict[str, list[str]]:
    py = sys.executable
    seq, ev = str(tmp / "seq"), str(tmp / "ev.h5")
    return {
        "python -c pass": [py, "-c", "pass"],
        "import eventsim": [py, "-c", "import eventsim"],
        "import torch": [py, "-c", "import torch"],
        "import h5py, hdf5plugin, cv2, torch": [py, "-c", "import h5py, hdf5plugin, cv2, torch"],
        # what `simulate` loads instead of torch where numba is installed
        "import h5py, hdf5plugin, cv2; 2 frames through the numba kernels": [
            py,
            "-c",
            "import h5py, hdf5plugin, cv2, numpy as np; "
            "from eventsim.simulator import DVSParams, EventSimulator; "
            "EventSimulator(DVSParams(), (8, 8)).step(np.zeros((2, 8, 8), np.uint8), [0, 1])",
        ],
        "eventsim simulate (30 frames 346x260 -> HDF5)": [
            py,
            "-m",
            "eventsim",
            "simulate",
            seq,
            "-o",
            ev,
            "--force",
            "-q",
        ],
        "import transformers.models.qwen2_vl.modeling_qwen2_vl": [
            py,
            "-c",
            "import transformers.models.qwen2_vl.modeling_qwen2_vl",
        ],
        "import epvlm.modeling, epvlm.processing": [
            py,
            "-c",
            "import epvlm.modeling, epvlm.processing",
        ],
        "epvlm run (tiny model, one question)": [
            py,
            "-m",
            "epvlm.cli",
            "run",
            "--model",
            str(TINY),
            "--image",
            str(tmp / "frame.png"),
            "--events",
            ev,
            "--question",
            "what colour is the coloured object?",
            "--keep",
            "0.5",
            "--selector",
            "event",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--repeats", type=int, default=3, help="runs of each row, best kept (default 3)"
    )
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")
    print(f"# bench_startup: best of {args.repeats}, interleaved")
    # the import rows depend on these versions (read from the metadata: nothing imported yet)
    print(f"# {machine_state(('torch', 'transformers', 'numba'))}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        _prepare(tmp)
        rows = _rows(tmp)
        best: dict[str, float] = {}
        failed: dict[str, str] = {}
        for _ in range(args.repeats):
            for name, cmd in rows.items():
                t0 = time.perf_counter()
                res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
                wall = time.perf_counter() - t0
                if res.returncode != 0:
                    failed[name] = (res.stderr.strip().splitlines() or ["?"])[-1][:160]
                    continue
                best[name] = min(best.get(name, float("inf")), wall)
    print()
    print("| process | wall s (best) |")
    print("|---|---|")
    for name in rows:
        got = f"{best[name]:.2f}" if name in best else f"failed: {failed.get(name)}"
        print(f"| {name} | {got} |")
    print(f"\nload average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    # a row that never ran is no figure: exit non-zero so a script using this table notices
    missing = [name for name in rows if name not in best]
    if missing:
        print(
            f"bench_startup: {len(missing)} {plural(len(missing), 'row')} failed: {'; '.join(missing)}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
