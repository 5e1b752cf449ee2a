"""Golden hashes of the simulator's and the HDF5 writer's output.

Dataset fingerprints include ``eventsim.__version__``, so a change of simulator output without a
version bump would let two different datasets carry the same fingerprint. These tests simulate
fixed inputs, hash the events and compare with ``tests/data/golden_events.json``, recorded
together with the version that produced them:

- hashes equal: pass (whatever the version);
- hashes differ and the recorded version is the current one: fail, asking for a version bump
  and a CHANGELOG entry;
- hashes differ after a bump: fail, asking to re-record with
  ``.venv/bin/python tests/test_golden.py --update`` (which refuses to record new hashes under
  an unchanged version).

A dependency upgrade (torch, numpy, OpenCV, hdf5plugin) that changes the output counts as an
output change too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import eventsim
from eventsim.events import EVENT_DTYPE
from eventsim.options import Codec, UpsampleMode

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "data" / "golden_events.json"
VERSION_FILE = "eventsim/_version.py"
UPDATE = ".venv/bin/python tests/test_golden.py --update"


# ----------------------------------------------------------------------------- inputs
def _image(width: int, height: int) -> np.ndarray:
    """A fixed RGB test card built from closed forms only (no codec, no resampling)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    checker = ((xx // 8 + yy // 8) % 2) * 90.0
    ramp = 40.0 + 120.0 * xx / max(width - 1, 1)
    disc = 60.0 * (np.hypot(xx - width / 3, yy - height / 2) < min(width, height) / 4)
    grey = np.clip(checker + ramp + disc, 0, 255)
    rgb = np.stack([grey, 0.8 * grey + 20, 255 - grey], axis=-1)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def _events(result: Any) -> np.ndarray:
    ev = result.events
    assert ev.dtype == EVENT_DTYPE
    return ev


def _params(preset: str):
    from eventsim.simulator import DVSParams

    return DVSParams.from_preset(preset)


def _clip_case(
    width: int, height: int, preset: str, upsample: UpsampleMode = "none", fps: float = 60
) -> np.ndarray:
    from eventsim.simulator import simulate
    from eventsim.simulator.sources import ArraySource
    from eventsim.simulator.synthetic import moving_shapes_clip

    frames, ts = moving_shapes_clip(width, height, duration_s=0.25, fps=fps, seed=3)
    src = ArraySource(frames, ts)
    return _events(simulate(src, _params(preset), seed=7, upsample=upsample))


def _saccade_case(width: int, height: int, preset: str) -> np.ndarray:
    from eventsim.simulator import simulate
    from eventsim.simulator.sources import ImageMotionSource

    src = ImageMotionSource(_image(width, height), "saccade", duration_ms=60.0)
    return _events(simulate(src, _params(preset), seed=11))


def _float_chunked_case(preset: str) -> np.ndarray:
    """HDR float frames straight into the pixel array, fed in uneven chunks."""
    from eventsim.simulator import EventSimulator

    h, w = 20, 24
    t = np.arange(0, 400_001, 4_000)
    yy, xx = np.mgrid[0:h, 0:w]
    phase = (xx * 0.37 + yy * 0.23)[None]
    frames = 40.0 + 300.0 * (1 + np.sin(2 * np.pi * 3 * t[:, None, None] / 1e6 + phase)) / 2
    sim = EventSimulator(_params(preset), (w, h), seed=5)
    parts, lo = [], 0
    for n in (1, 7, 30, 63):
        parts.append(sim.step(frames[lo : lo + n], t[lo : lo + n]))
        lo += n
    return np.concatenate(parts)


SIM_CASES: dict[str, Callable[[], np.ndarray]] = {
    "clip-64x48-ideal": lambda: _clip_case(64, 48, "ideal"),
    "clip-64x48-clean": lambda: _clip_case(64, 48, "clean"),
    "clip-64x48-noisy": lambda: _clip_case(64, 48, "noisy"),
    "clip-96x72-v2e-default": lambda: _clip_case(96, 72, "v2e-default"),
    # 15 fps: the shapes move several pixels per frame, so both upsamplers insert frames
    "clip-96x72-15fps-clean-linear": lambda: _clip_case(96, 72, "clean", "linear", fps=15),
    "clip-96x72-15fps-clean-flow": lambda: _clip_case(96, 72, "clean", "flow", fps=15),
    "saccade-40x30-ideal": lambda: _saccade_case(40, 30, "ideal"),
    "saccade-40x30-noisy": lambda: _saccade_case(40, 30, "noisy"),
    "saccade-64x48-clean": lambda: _saccade_case(64, 48, "clean"),
    "float-24x20-noisy-chunked": lambda: _float_chunked_case("noisy"),
}


def hash_events(ev: np.ndarray) -> str:
    """sha256 over the columns in a fixed byte order (independent of the struct layout)."""
    h = hashlib.sha256()
    h.update(str(ev.size).encode())
    for name, dtype in (("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")):
        h.update(np.ascontiguousarray(ev[name], dtype=dtype).tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- HDF5 writer
def _writer_events() -> np.ndarray:
    rng = np.random.default_rng(2024)
    n = 6000
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["x"] = rng.integers(0, 64, n)
    ev["y"] = rng.integers(0, 48, n)
    ev["t"] = 1_000_000 + np.sort(rng.integers(0, 40_000, n))
    ev["p"] = rng.integers(0, 2, n)
    return ev


def _write_h5(path: Path, codec: Codec) -> None:
    from eventsim.io import EventWriter

    ev = _writer_events()
    frame = np.arange(48 * 64, dtype=np.int64).reshape(48, 64) % 251
    with EventWriter(
        path,
        (64, 48),
        params={"pos_threshold": 0.2},
        source={"kind": "golden"},
        chunk_events=1024,
        codec=codec,
    ) as w:
        # uneven packets so the chunk-aligned flushes and the ms index see partial buffers
        for lo, hi in ((0, 1), (1, 700), (700, 4100), (4100, 6000)):
            w.write(ev[lo:hi])
            w.add_frame(frame.astype(np.uint8), int(ev["t"][hi - 1]))
        w.set_attrs(note="golden", n_packets=4)


def hash_h5(path: Path) -> str:
    """sha256 over every dataset's name, dtype, shape, chunking, Blosc settings and values, and
    the root attributes except ``software`` (it holds the version). File bytes are not hashed:
    HDF5 headers and chunk placement are the library's business, not our format."""
    import h5py

    h = hashlib.sha256()

    def visit(name: str, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        h.update(f"{name}|{obj.dtype.str}|{obj.shape}|{obj.chunks}".encode())
        # Blosc options end with (clevel, shuffle, compressor); the leading fields are versions
        filters = {k: tuple(v)[-3:] if k == "32001" else v for k, v in obj._filters.items()}
        h.update(json.dumps(filters, sort_keys=True, default=str).encode())
        h.update(np.ascontiguousarray(obj[()]).tobytes())
        for key in sorted(obj.attrs):
            h.update(f"{name}@{key}={obj.attrs[key]!r}".encode())

    with h5py.File(path, "r") as f:
        f.visititems(visit)
        for key in sorted(f.attrs):
            if key != "software":
                h.update(f"@{key}={f.attrs[key]!r}".encode())
    return h.hexdigest()


def _h5_case(codec: Codec) -> Callable[[Path], str]:
    def run(tmp: Path) -> str:
        path = tmp / f"golden-{codec}.h5"
        _write_h5(path, codec)
        return hash_h5(path)

    return run


H5_CASES: dict[str, Callable[[Path], str]] = {
    "writer-lz4": _h5_case("lz4"),
    "writer-zstd": _h5_case("zstd"),
}


# ----------------------------------------------------------------------------- checks
def _recorded() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text())


def _compare(group: str, case: str, got: str) -> None:
    rec = _recorded()
    want = rec[group][case]["sha256"]
    if got == want:
        return
    recorded, current = rec["version"], eventsim.__version__
    if recorded == current:
        pytest.fail(
            f"{group} output of case {case!r} changed (sha256 {got[:12]}… != recorded "
            f"{want[:12]}…) but eventsim.__version__ is still {current}. If the change is "
            f"intended, bump __version__ in {VERSION_FILE}, describe the change under the new "
            f"version in CHANGELOG.md, then re-record with `{UPDATE}`. If it is not intended, "
            "this is a regression."
        )
    pytest.fail(
        f"{group} output of case {case!r} changed and the version moved from {recorded} to "
        f"{current}: re-record the golden hashes with `{UPDATE}` (and check CHANGELOG.md "
        f"describes the change under {current})."
    )


@pytest.mark.parametrize("case", sorted(SIM_CASES))
def test_simulator_output_matches_golden_hash(case):
    ev = SIM_CASES[case]()
    assert ev.size > 0
    _compare("simulator", case, hash_events(ev))


@pytest.mark.parametrize("case", sorted(H5_CASES))
def test_hdf5_writer_output_matches_golden_hash(case, tmp_path):
    _compare("hdf5", case, H5_CASES[case](tmp_path))


def test_golden_file_covers_every_case_and_names_its_version():
    rec = _recorded()
    assert set(rec["simulator"]) == set(SIM_CASES)
    assert set(rec["hdf5"]) == set(H5_CASES)
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", rec["version"])


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def test_recorded_version_is_not_newer_than_the_code():
    assert _version_key(_recorded()["version"]) <= _version_key(eventsim.__version__)


def test_changelog_has_an_entry_for_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    version = re.escape(eventsim.__version__)
    assert re.search(rf"^## \[{version}\]", text, re.M), (
        f"CHANGELOG.md has no '## [{eventsim.__version__}]' section; add one describing what "
        "changed in this version"
    )
    assert re.search(r"^## \[Unreleased\]", text, re.M)


def test_pre_commit_runs_the_pinned_ruff():
    pyproject = (ROOT / "pyproject.toml").read_text()
    pinned = re.search(r'"ruff==([^"]+)"', pyproject)
    assert pinned, "pyproject.toml's test extra must pin ruff with =="
    assert re.search(r'"mypy==[^"]+"', pyproject), "pyproject.toml must pin mypy with =="
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    rev = re.search(r"astral-sh/ruff-pre-commit\s+rev:\s*v(\S+)", config)
    assert rev and rev.group(1) == pinned.group(1)


def test_hash_events_sees_every_column():
    ev = _writer_events()
    base = hash_events(ev)
    for name in ("x", "y", "t", "p"):
        changed = ev.copy()
        changed[name][-1] ^= 1
        assert hash_events(changed) != base
    assert hash_events(ev[:-1]) != base


# ----------------------------------------------------------------------------- recording
def record(tmp: Path) -> int:
    """Recompute every hash; write them under the current version, unless they changed and
    the version did not."""
    sim = {}
    for case, fn in sorted(SIM_CASES.items()):
        ev = fn()
        sim[case] = {"sha256": hash_events(ev), "n_events": int(ev.size)}
    h5 = {case: {"sha256": fn(tmp)} for case, fn in sorted(H5_CASES.items())}
    new: dict[str, Any] = {"version": eventsim.__version__, "simulator": sim, "hdf5": h5}
    if GOLDEN.exists():
        old = _recorded()
        changed = [
            f"{group}/{case}"
            for group in ("simulator", "hdf5")
            for case, entry in new[group].items()
            if old.get(group, {}).get(case, {}).get("sha256") != entry["sha256"]
            and case in old.get(group, {})
        ]
        if changed and old["version"] == eventsim.__version__:
            print(
                f"output changed for {', '.join(changed)} but the version is still "
                f"{eventsim.__version__}: bump it in {VERSION_FILE} and add a CHANGELOG.md "
                "entry first",
                file=sys.stderr,
            )
            return 1
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(new, indent=2, sort_keys=True) + "\n")
    print(f"recorded {len(sim) + len(h5)} hashes for eventsim {eventsim.__version__} in {GOLDEN}")
    return 0


if __name__ == "__main__":
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="re-record the golden hashes")
    args = parser.parse_args()
    if not args.update:
        parser.error("nothing to do; pass --update to re-record the golden hashes")
    with tempfile.TemporaryDirectory() as tmp:
        raise SystemExit(record(Path(tmp)))
