"""Write the foreign-format test fixtures in tests/data/ with the formats' owners' libraries.

The files in tests/data/ test our readers against bytes we did not produce: each raw-format file
is written by the library that owns or maintains the format, read back by that library (and,
where one exists, by a second, independent decoder that must agree), and the read-back events
are stored beside it (``<name>.expected.npz``) for tests/test_io_formats.py. HDF5 layouts whose
owners ship no writer we can install are written here with h5py, following the owners' writer
code statement by statement (file and commit named in tests/data/README.md); their expected
events are what that code stores.

Nothing here imports eventsim: the point is independence from our own code. Run once, in a
throw-away environment (these libraries are not project dependencies)::

    python -m venv /tmp/fixtures-env
    /tmp/fixtures-env/bin/pip install dv-processing==2.0.4 faery==0.7.1 evlib==0.13.2 h5py numpy
    /tmp/fixtures-env/bin/python tools/make_test_fixtures.py            # refuses to overwrite
    /tmp/fixtures-env/bin/python tools/make_test_fixtures.py --force    # regenerate everything

It writes tests/data/fixtures.json (what wrote and read each file, with versions and sha256).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def _version(dist: str) -> str:
    return importlib.metadata.version(dist)


def _events(n: int, width: int, height: int, t0: int, span: int, seed: int) -> np.recarray:
    """Sorted events with runs of equal timestamps, a long gap and both sensor edges hit."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, span, n)) + t0
    t[n // 3 : n // 3 + 20] = t[n // 3]  # a burst at one timestamp
    t[n // 2 :] += span  # a gap as long as the recording so far
    x = rng.integers(0, width, n)
    y = rng.integers(0, height, n)
    x[:2], y[:2] = (0, width - 1), (height - 1, 0)
    p = rng.integers(0, 2, n)
    # numpy's stub only accepts names= together with formats=, which fromarrays infers from
    # the arrays when left out
    return np.rec.fromarrays([x, y, t, p], names="x,y,t,p")  # type: ignore[call-overload]


def _save_expected(name: str, x, y, t, p, **extra: Any) -> str:
    path = DATA / f"{name}.expected.npz"
    np.savez_compressed(
        path,
        x=np.asarray(x, np.int64),
        y=np.asarray(y, np.int64),
        t=np.asarray(t, np.int64),
        p=np.asarray(p, np.int64),
        **extra,
    )
    return path.name


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray], what: str) -> None:
    for k in "xytp":
        if not np.array_equal(np.asarray(a[k], np.int64), np.asarray(b[k], np.int64)):
            raise SystemExit(f"{what}: column {k} differs between the two decoders")


# ----------------------------------------------------------------------------- raw formats
def aedat4(name: str, compression: str) -> dict[str, Any]:
    """iniVation's dv-processing writes and reads AEDAT4; faery and evlib decode it too."""
    import dv_processing as dv

    width, height = 346, 260
    ev = _events(2500, width, height, t0=1_700_000_000_000_000, span=150_000, seed=1)
    path = DATA / f"{name}.aedat4"
    config = dv.io.MonoCameraWriter.EventOnlyConfig(
        "DAVIS346_fixture", (width, height), getattr(dv.CompressionType, compression)
    )
    writer = dv.io.MonoCameraWriter(str(path), config)
    # three packets, so the file holds several compressed packets
    for part in np.array_split(np.arange(len(ev)), 3):
        store = dv.EventStore()
        for i in part:
            store.push_back(int(ev.t[i]), int(ev.x[i]), int(ev.y[i]), bool(ev.p[i]))
        writer.writeEvents(store)
    del writer  # closes the file
    reader = dv.io.MonoCameraRecording(str(path))
    batches = []
    while (batch := reader.getNextEventBatch()) is not None:
        batches.append(batch.numpy())
    got = np.concatenate(batches)
    back = {"x": got["x"], "y": got["y"], "t": got["timestamp"], "p": got["polarity"]}
    _same(back, {"x": ev.x, "y": ev.y, "t": ev.t, "p": ev.p}, f"{name}: dv-processing")
    checks = _cross_check(back, f"{name}: dv-processing", _faery_read, path)
    checks += _cross_check(back, f"{name}: dv-processing", _evlib_read, path, 0)
    return {
        "format": "aedat4",
        "written_by": f"dv-processing {_version('dv-processing')} "
        f"(MonoCameraWriter, EventOnlyConfig, {compression} compression, 3 packets)",
        "read_back_by": f"dv-processing {_version('dv-processing')} (MonoCameraRecording)",
        "cross_checked_by": checks,
        "sensor_size": [width, height],
        "expected": _save_expected(name, **{k: back[k] for k in "xytp"}),
    }


def _cross_check(back: dict[str, Any], what: str, read: Callable[..., dict], *args: Any) -> list:
    """Decode again with another library; it must agree where it can read the file at all."""
    try:
        other = read(*args)
    except OSError as exc:
        return [f"{read.__name__.strip('_').replace('_read', '')}: cannot read it ({exc})"]
    _same(back, other, f"{what} vs {other['by']}")
    return [other["by"]]


def _faery_read(path: Path) -> dict[str, Any]:
    import faery

    stream = faery.events_stream_from_file(path)
    got = np.concatenate([p for p in stream if len(p)])
    return {
        "x": got["x"],
        "y": got["y"],
        "t": got["t"],
        "p": got["on"],
        "size": tuple(int(v) for v in stream.dimensions()),
        "by": f"faery {_version('faery')}",
    }


def _evlib_read(path: Path, t0: int) -> dict[str, Any]:
    """evlib (Rust decoders, no faery code) reads EVT and AEDAT4; EVT times come back relative
    to the header's t0, which only faery adds back."""
    import evlib

    df = evlib.load_events(str(path), sort=False)
    df = df.collect() if hasattr(df, "collect") else df
    return {
        "x": df["x"].to_numpy(),
        "y": df["y"].to_numpy(),
        "t": df["t"].dt.total_microseconds().to_numpy() + t0,
        "p": df["polarity"].to_numpy() == 1,
        "by": f"evlib {_version('evlib')}",
    }


def _header_t0(path: Path) -> int:
    for line in path.read_bytes().split(b"\n")[:10]:
        if line.lower().startswith(b"% t0 "):
            return int(line.split()[-1])
    raise SystemExit(f"{path.name}: no '% t0' header line")


def faery_format(name: str, ext: str, version: str | None, size: tuple[int, int], **kw: Any):
    """faery (aestream) writes EVT2/EVT3/DAT/ES/CSV; evlib cross-checks what it can read."""
    import faery

    def make() -> dict[str, Any]:
        width, height = size
        ev = _events(3000, width, height, **kw)
        arr = np.zeros(len(ev), dtype=faery.EVENTS_DTYPE)
        arr["t"], arr["x"], arr["y"], arr["on"] = ev.t, ev.x, ev.y, ev.p == 1
        path = DATA / f"{name}{ext}"
        options: dict[str, Any] = {} if version is None else {"version": version}
        if ext == ".es":
            options["zero_t0"] = False  # ES has no t0 header: keep absolute times
        faery.events_stream_from_array(arr, size).to_file(path, **options)
        back = _faery_read(path)
        if ext != ".csv" and back["size"] != size:
            raise SystemExit(f"{name}: faery read back size {back['size']}, wrote {size}")
        checks = []
        if ext in (".raw", ".dat"):
            t0 = _header_t0(path)
            checks += _cross_check(back, f"{name}: faery", _evlib_read, path, t0)
        return {
            "format": {".raw": version, ".dat": "dat", ".es": "es", ".csv": "csv"}[ext],
            "written_by": f"faery {_version('faery')} (events_stream_from_array(...).to_file"
            + (f", version={version!r}" if version else "")
            + (", zero_t0=False" if ext == ".es" else "")
            + ")",
            "read_back_by": back["by"],
            "cross_checked_by": checks,
            "sensor_size": list(size),
            "expected": _save_expected(name, *(back[k] for k in "xytp")),
        }

    return make


# ----------------------------------------------------------------------------- HDF5 layouts
def v2e(name: str) -> dict[str, Any]:
    """v2e's DVS HDF5 output as EventEmulator writes it (v2ecore/emulator.py): /events (N, 4)
    uint32 [t_us, x, y, p], gzip, grown by resize per frame; t passes through float32 seconds
    times 1e6 and truncation, OFF = -1 becomes 0; frames go to /frame (uint8, gzip),
    /frame_ts (float32 seconds * 1e6 -> uint32) and /frame_idx (uint64, events written after
    the frame)."""
    width, height, fps, n_frames = 64, 48, 50.0, 6
    rng = np.random.default_rng(7)
    frame_times = 0.5 + np.arange(n_frames) / fps  # seconds, as v2e's frame clock
    path = DATA / f"{name}.h5"
    with h5py.File(path, "w") as f:
        events_ds = f.create_dataset(
            "events", shape=(0, 4), maxshape=(None, 4), dtype="uint32", compression="gzip"
        )
        frame_ds = f.create_dataset(
            "frame", shape=(n_frames, height, width), dtype="uint8", compression="gzip"
        )
        f.create_dataset(
            "frame_ts",
            shape=(n_frames,),
            data=(np.array(frame_times, dtype=np.float32) * 1e6).astype(np.uint32),
            dtype="uint32",
            compression="gzip",
        )
        idx_ds = f.create_dataset(
            "frame_idx", shape=(n_frames,), dtype="uint64", compression="gzip"
        )
        for k in range(n_frames):
            frame_ds[k] = rng.integers(0, 256, (height, width), dtype=np.uint8)
            if k:
                # v2e's events of one interval: N timestamps spaced evenly up to the frame,
                # rows [t_s, x, y, ±1] in float32
                n_steps = int(rng.integers(1, 4))
                ts = np.linspace(
                    frame_times[k - 1] + (frame_times[k] - frame_times[k - 1]) / n_steps,
                    frame_times[k],
                    n_steps,
                    dtype=np.float32,
                )
                rows = []
                for t_step in ts:
                    m = int(rng.integers(20, 60))
                    block = np.ones((m, 4), np.float32)
                    block[:, 0] = t_step
                    block[:, 1] = rng.integers(0, width, m)
                    block[:, 2] = rng.integers(0, height, m)
                    block[rng.random(m) < 0.5, 3] = -1
                    rows.append(block)
                events = np.concatenate(rows)
                out = np.array(events, dtype=np.float32)
                out[:, 0] = out[:, 0] * 1e6
                out[out[:, 3] == -1, 3] = 0
                out = out.astype(np.uint32)
                events_ds.resize(events_ds.shape[0] + out.shape[0], axis=0)
                events_ds[-out.shape[0] :] = out
            idx_ds[k] = events_ds.shape[0]
        stored = events_ds[()]
        frame_ts = f["frame_ts"][()]
        frame_idx = f["frame_idx"][()]
    return {
        "format": "v2e HDF5",
        "written_by": "h5py following v2e's EventEmulator HDF5 writer "
        "(SensorsINI/v2e v2ecore/emulator.py @ cac6384)",
        "read_back_by": f"h5py {_version('h5py')} (the stored matrix)",
        "cross_checked_by": [],
        "sensor_size": [width, height],
        "expected": _save_expected(
            name,
            stored[:, 1],
            stored[:, 2],
            stored[:, 0],
            stored[:, 3],
            frame_ts_us=frame_ts.astype(np.int64),
            frame_idx=frame_idx.astype(np.int64),
        ),
    }


def event_utils(name: str, with_images: bool) -> dict[str, Any]:
    """event_utils' hdf5_packager (lib/data_formats/event_packagers.py) as rosbag_to_h5.py
    drives it: events/xs, ys int16, ts float64 ROS seconds (absolute unless zero_timestamps),
    ps bool, each chunked and resizable; images/image%09d uint8 with attrs size, timestamp,
    type and (add_event_indices) event_idx = searchsorted(ts, timestamp) - 1, at least 0;
    sensor_resolution is the image shape (H, W), or [max(ys), max(xs)] without images."""
    width, height = 48, 40
    rng = np.random.default_rng(11 if with_images else 12)
    n = 1500
    # DAVIS timestamps are whole microseconds; the ROS driver turns them into (secs, nsecs)
    t_true = 1_600_000_000_000_000 + np.sort(rng.integers(0, 3_000_000, n))
    secs, nsecs = np.divmod(t_true, 1_000_000)
    ts = secs + (nsecs * 1000) / 1e9
    xs = rng.integers(0, width, n).astype(np.int16)
    ys = rng.integers(0, height, n).astype(np.int16)
    ps = rng.random(n) < 0.5
    path = DATA / f"{name}.h5"
    image_ts = []
    with h5py.File(path, "w") as f:
        dsets = {
            key: f.create_dataset(
                f"events/{key}", (0,), dtype=np.dtype(dt), maxshape=(None,), chunks=True
            )
            for key, dt in (("xs", np.int16), ("ys", np.int16), ("ts", np.float64), ("ps", bool))
        }
        n_images = 3 if with_images else 0
        if n_images:
            f.create_group("images").attrs["num_images"] = n_images
        # events arrive in messages of a few hundred, appended as they come
        for lo in range(0, n, 400):
            for key, values in (("xs", xs), ("ys", ys), ("ts", ts), ("ps", ps)):
                chunk = values[lo : lo + 400]
                dsets[key].resize(dsets[key].shape[0] + len(chunk), axis=0)
                dsets[key][-len(chunk) :] = chunk
        for k in range(n_images):
            t_img = float(ts[(k + 1) * n // (n_images + 1)]) + 1e-4
            image = rng.integers(0, 256, (height, width), dtype=np.uint8)
            d = f.create_dataset(f"images/image{k:09d}", data=image, dtype=np.dtype(np.uint8))
            d.attrs["size"] = image.shape
            d.attrs["timestamp"] = t_img
            d.attrs["type"] = "greyscale"
            image_ts.append(t_img)
        num_pos = int(ps.sum())
        f.attrs["num_events"] = n
        f.attrs["num_pos"] = num_pos
        f.attrs["num_neg"] = n - num_pos
        f.attrs["duration"] = ts[-1] - ts[0]
        f.attrs["t0"] = ts[0]
        f.attrs["tk"] = ts[-1]
        f.attrs["num_imgs"] = n_images
        f.attrs["num_flow"] = 0
        f.attrs["sensor_resolution"] = (
            [height, width] if with_images else [int(ys.max()), int(xs.max())]
        )
        event_idx = []
        for k in range(n_images):
            d = f[f"images/image{k:09d}"]
            idx = max(0, int(np.searchsorted(f["events/ts"][()], d.attrs["timestamp"])) - 1)
            d.attrs["event_idx"] = idx
            event_idx.append(idx)
    return {
        "format": "event_utils HDF5",
        "written_by": "h5py following event_utils' hdf5_packager and rosbag_to_h5 "
        "(TimoStoff/event_utils lib/data_formats/event_packagers.py @ ce3ca30, "
        "rosbag_to_h5.py @ 73aa3c7)",
        "read_back_by": f"h5py {_version('h5py')}; expected t: the whole-µs times encoded",
        "cross_checked_by": [],
        "sensor_size": [width, height] if with_images else None,
        "expected": _save_expected(
            name,
            xs,
            ys,
            t_true,
            ps,
            image_ts_us=np.rint(np.array(image_ts) * 1e6).astype(np.int64),
            image_event_idx=np.array(event_idx, np.int64),
        ),
    }


def evqa(name: str) -> dict[str, Any]:
    """EvQA's per-question file as its README documents it (HYLZ-2019/EvQA README.md): h5py
    with compression; events/xs, ys uint16, ts uint64 µs with ts[0] == 0, ps uint8;
    attrs sensor_resolution (H, W), num_events, num_imgs, duration (s), camera_type,
    data_source, base_time (epoch s); images/image%09d with attrs event_idx and timestamp
    (uint64 µs)."""
    width, height = 56, 42
    rng = np.random.default_rng(13)
    n = 2000
    ts = np.sort(rng.integers(0, 2_500_000, n)).astype(np.uint64)
    ts -= ts[0]
    xs = rng.integers(0, width, n).astype(np.uint16)
    ys = rng.integers(0, height, n).astype(np.uint16)
    ps = rng.integers(0, 2, n).astype(np.uint8)
    path = DATA / f"{name}.h5"
    image_ts, event_idx = [], []
    with h5py.File(path, "w") as f:
        for key, values in (("xs", xs), ("ys", ys), ("ts", ts), ("ps", ps)):
            f.create_dataset(f"events/{key}", data=values, compression="gzip")
        for k in range(2):
            t_img = np.uint64(ts[(k + 1) * n // 3])
            d = f.create_dataset(
                f"images/image{k:09d}",
                data=rng.integers(0, 256, (height, width), dtype=np.uint8),
                compression="gzip",
            )
            d.attrs["timestamp"] = t_img
            d.attrs["event_idx"] = np.uint64(np.searchsorted(ts, t_img))
            image_ts.append(int(t_img))
            event_idx.append(int(d.attrs["event_idx"]))
        f.attrs["sensor_resolution"] = np.array([height, width])
        f.attrs["num_events"] = n
        f.attrs["num_imgs"] = 2
        f.attrs["duration"] = float(ts[-1]) / 1e6
        f.attrs["camera_type"] = "DAVIS240C"
        f.attrs["data_source"] = "fixture"
        f.attrs["base_time"] = 1_500_000_000.25
    return {
        "format": "EvQA HDF5",
        "written_by": "h5py following the EvQA README's file description "
        "(HYLZ-2019/EvQA README.md @ f724d25; the repository ships no writer)",
        "read_back_by": f"h5py {_version('h5py')}",
        "cross_checked_by": [],
        "sensor_size": [width, height],
        "expected": _save_expected(
            name,
            xs,
            ys,
            ts,
            ps,
            image_ts_us=np.array(image_ts, np.int64),
            image_event_idx=np.array(event_idx, np.int64),
        ),
    }


_EVENT_CD = np.dtype(
    {
        "names": ["x", "y", "p", "t"],
        "formats": ["<u2", "<u2", "<i2", "<i8"],
        "offsets": [0, 2, 4, 8],
        "itemsize": 16,
    }
)
_EXT_TRIGGER = np.dtype(
    {
        "names": ["p", "t", "id"],
        "formats": ["<i2", "<i8", "<i2"],
        "offsets": [0, 8, 16],
        "itemsize": 24,
    }
)
_INDEX = np.dtype([("id", "<u8"), ("ts", "<i8")])
_INDEX_PERIOD_US = 2000


def prophesee(name: str) -> dict[str, Any]:
    """Metavision's HDF5 event file as OpenEB's Python reader expects it (prophesee-ai/openeb
    sdk/modules/core/python/pypkg/metavision_core/event_io/h5_io.py, HDF5EventsReader):
    /CD/events of EventCD {x u2, y u2, p i2, t i8} (itemsize 16), /CD/indexes {id u8, ts i8},
    one row per 2 ms after a leading (0, -1), with an 'offset' attribute; /EXT_TRIGGER/events
    and /indexes; root attrs version, geometry 'WxH', generation as ASCII bytes. Metavision
    compresses /CD/events with its ECF codec (HDF5 filter 0x8ECF), which only Prophesee's plugin
    can write; this file stores the same layout with gzip instead (h5py reads either through
    the same chunked-dataset path, and 16384-row chunks would otherwise take 0.5 MB here)."""
    width, height = 1280, 720
    ev = _events(3000, width, height, t0=17, span=60_000, seed=5)
    cd = np.zeros(len(ev), _EVENT_CD)
    cd["x"], cd["y"], cd["p"], cd["t"] = ev.x, ev.y, ev.p, ev.t
    first = int(cd["t"][0])
    index = [(0, -1)]
    for k in range((int(cd["t"][-1]) - first) // _INDEX_PERIOD_US + 1):
        lo = int(np.searchsorted(cd["t"], first + k * _INDEX_PERIOD_US))
        index.append((lo, int(cd["t"][lo]) - first))
    path = DATA / f"{name}.hdf5"
    with h5py.File(path, "w") as f:
        for group, data, dtype in (("CD", cd, _EVENT_CD), ("EXT_TRIGGER", None, _EXT_TRIGGER)):
            g = f.create_group(group, track_order=True)
            rows = data if data is not None else np.zeros(0, dtype)
            g.create_dataset(
                "events",
                data=rows,
                maxshape=(None,),
                chunks=(16384,),
                dtype=dtype,
                compression="gzip",
            )
            idx = np.array(index if data is not None else [], dtype=_INDEX)
            ds = g.create_dataset(
                "indexes", data=idx, maxshape=(None,), chunks=(16384,), compression="gzip"
            )
            ds.attrs["offset"] = f"{-first}".encode("ascii")
        f.attrs["version"] = b"1.0"
        f.attrs["geometry"] = f"{width}x{height}".encode("ascii")
        f.attrs["generation"] = b"4.0"
        f.attrs["format"] = b"ECF"
    return {
        "format": "Prophesee HDF5",
        "written_by": "h5py following OpenEB's HDF5 event layout (prophesee-ai/openeb "
        "sdk/modules/core/python/pypkg/metavision_core/event_io/h5_io.py @ ea2cf58), "
        "gzip instead of the ECF codec",
        "read_back_by": f"h5py {_version('h5py')}",
        "cross_checked_by": [],
        "sensor_size": [width, height],
        "expected": _save_expected(name, cd["x"], cd["y"], cd["t"], cd["p"]),
    }


def mvsec(name: str) -> dict[str, Any]:
    """MVSEC's *_data.hdf5 as its converter writes it (daniilidis-group/mvsec
    tools/mvsec_simple_reader/mvsec_h5py.py, mvsec_reader.py): davis/<side>/events is the
    float64 (N, 4) array [x, y, t (ROS seconds), p (polarity - 0.5) * 2] created with default
    settings; davis/left/image_raw (lzf, one chunk per image), image_raw_ts (float64 s) and
    image_raw_event_inds = searchsorted(event t, image t) - 1."""
    width, height = 346, 260
    rng = np.random.default_rng(17)
    path = DATA / f"{name}.hdf5"
    expected: dict[str, Any] = {}
    with h5py.File(path, "w") as f:
        for side, n in (("left", 1800), ("right", 700)):
            t_us = 1_504_645_177_000_000 + np.sort(rng.integers(0, 2_000_000, n))
            t = t_us / 1e6
            events = np.zeros((n, 4))
            events[:, 0] = rng.integers(0, width, n)
            events[:, 1] = rng.integers(0, height, n)
            events[:, 2] = t
            events[:, 3] = rng.integers(0, 2, n)
            events[:, 3] -= 0.5
            events[:, 3] *= 2.0
            f.require_group("davis").require_group(side).create_dataset("events", data=events)
            if side == "left":
                expected["left"], expected["t_us"] = events, t_us
        left = f["davis/left"]
        n_images = 2
        image_t = expected["left"][[600, 1200], 2] + 1e-4
        images = left.create_dataset(
            "image_raw",
            shape=(n_images, height, width),
            dtype=np.uint8,
            compression="lzf",
            chunks=(1, height, width),
        )
        times = left.create_dataset("image_raw_ts", shape=(n_images,), dtype=np.float64)
        inds = left.create_dataset("image_raw_event_inds", shape=(n_images,), dtype=np.int64)
        for i in range(n_images):
            images[i] = np.full((height, width), 60 * (i + 1), np.uint8)
            times[i] = image_t[i]
            inds[i] = np.searchsorted(expected["left"][:, 2], image_t[i]) - 1
    ev = expected["left"]
    return {
        "format": "MVSEC HDF5",
        "written_by": "h5py following MVSEC's converter (daniilidis-group/mvsec "
        "tools/mvsec_simple_reader/mvsec_h5py.py @ b635e4a, mvsec_reader.py @ fe73448)",
        "read_back_by": f"h5py {_version('h5py')}; expected t: the whole-µs times encoded, "
        "p = (p + 1) / 2",
        "cross_checked_by": [],
        "sensor_size": None,
        "expected": _save_expected(name, ev[:, 0], ev[:, 1], expected["t_us"], (ev[:, 3] + 1) / 2),
    }


FIXTURES: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "dvp-davis346-lz4": ("dvp-davis346-lz4.aedat4", lambda: aedat4("dvp-davis346-lz4", "LZ4")),
    "dvp-davis346-zstd": (
        "dvp-davis346-zstd.aedat4",
        lambda: aedat4("dvp-davis346-zstd", "ZSTD"),
    ),
    "faery-gen4-evt3": (
        "faery-gen4-evt3.raw",
        faery_format(
            "faery-gen4-evt3", ".raw", "evt3", (1280, 720), t0=16_000_000, span=9_000_000, seed=2
        ),
    ),
    "faery-gen4-evt2": (
        "faery-gen4-evt2.raw",
        faery_format(
            "faery-gen4-evt2", ".raw", "evt2", (1280, 720), t0=3_000_000, span=40_000, seed=3
        ),
    ),
    "faery-vga-dat": (
        "faery-vga-dat.dat",
        faery_format("faery-vga-dat", ".dat", "dat2", (640, 480), t0=250_000, span=50_000, seed=4),
    ),
    "faery-vga-es": (
        "faery-vga-es.es",
        faery_format("faery-vga-es", ".es", None, (640, 480), t0=1_234, span=20_000, seed=6),
    ),
    "faery-vga-csv": (
        "faery-vga-csv.csv",
        faery_format("faery-vga-csv", ".csv", None, (640, 480), t0=77, span=30_000, seed=8),
    ),
    "v2e": ("v2e.h5", lambda: v2e("v2e")),
    "event-utils": ("event-utils.h5", lambda: event_utils("event-utils", True)),
    "event-utils-no-images": (
        "event-utils-no-images.h5",
        lambda: event_utils("event-utils-no-images", False),
    ),
    "evqa": ("evqa.h5", lambda: evqa("evqa")),
    "prophesee": ("prophesee.hdf5", lambda: prophesee("prophesee")),
    "mvsec": ("mvsec.hdf5", lambda: mvsec("mvsec")),
}


# (module, distribution) of the formats' owners' libraries the fixtures are written and read with
OWNERS = (("dv_processing", "dv-processing"), ("faery", "faery"), ("evlib", "evlib"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite existing fixtures")
    args = parser.parse_args(argv)
    DATA.mkdir(parents=True, exist_ok=True)
    existing = [f for f, _ in FIXTURES.values() if (DATA / f).exists()]
    if existing and not args.force:
        print(
            f"make_test_fixtures: fixtures exist ({', '.join(existing)}); pass --force to "
            "regenerate",
            file=sys.stderr,
        )
        return 1
    # every fixture is deleted just before it is remade: a library found missing half-way would
    # leave tests/data without the committed fixtures it had deleted so far
    missing = [dist for module, dist in OWNERS if importlib.util.find_spec(module) is None]
    if missing:
        print(
            f"make_test_fixtures: {', '.join(missing)} not installed in this Python; run it in "
            "the throw-away environment the docstring sets up (nothing was changed)",
            file=sys.stderr,
        )
        return 1
    manifest: dict[str, Any] = {}
    for name, (filename, make) in FIXTURES.items():
        (DATA / filename).unlink(missing_ok=True)
        info = make()
        info["file"] = filename
        info["sha256"] = hashlib.sha256((DATA / filename).read_bytes()).hexdigest()
        manifest[name] = info
        print(f"{filename}: {(DATA / filename).stat().st_size:,} bytes, {info['written_by']}")
    (DATA / "fixtures.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
