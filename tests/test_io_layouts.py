import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.errors import EventFileError, ParameterError, UnknownLayoutError
from eventsim.events import EVENT_DTYPE, slice_time, validate_events
from eventsim.io import load_events, open_events
from eventsim.io.layouts import HDF5_LAYOUTS


def digest(ev: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(ev).tobytes()).hexdigest()


@pytest.fixture
def ev(small_events):
    out = small_events.copy()
    out["t"] += 1_000_000  # not starting at zero, like a real recording
    return out


def test_v2e_layout(tmp_path, ev):
    path = tmp_path / "v2e.h5"
    with h5py.File(path, "w") as f:
        f["events"] = np.column_stack([ev["t"], ev["x"], ev["y"], ev["p"]]).astype(np.uint32)
        f["frame"] = np.zeros((2, 48, 64), np.uint8)
        f["frame_ts"] = np.array([ev["t"][0], ev["t"][100]], np.uint32)
    with open_events(path, sensor_size=(64, 48)) as r:
        assert r.layout == "v2e" and r.time_unit_detected == "us"
        assert digest(r.read()) == digest(ev)
        assert r.sensor_size == (64, 48) and not r.sensor_size_inferred
        assert r.num_frames == 2
        assert r.frame_event_idx.tolist() == [
            int(np.count_nonzero(ev["t"] <= ev["t"][0])),
            int(np.count_nonzero(ev["t"] <= ev["t"][100])),
        ]
        s = int(ev["t"][2000])
        assert np.array_equal(r.read(s, s + 3000), slice_time(ev, s, s + 3000))
    with open_events(path) as r:
        # v2e records the sensor's size only in its frames' shape
        assert r.sensor_size == (64, 48) and not r.sensor_size_inferred
        assert any("/frame" in n for n in r.notes)


def test_event_utils_float_seconds_is_detected_and_said(tmp_path, ev):
    path = tmp_path / "eu.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g["xs"] = ev["x"].astype(np.int16)
        g["ys"] = ev["y"].astype(np.int16)
        g["ts"] = ev["t"] / 1e6
        g["ps"] = ev["p"].astype(bool)
        f.attrs["sensor_resolution"] = [48, 64]
        img = f.create_group("images")
        for k, i in enumerate((0, 2500)):
            d = img.create_dataset(f"image{k:09d}", data=np.full((48, 64), k, np.uint8))
            d.attrs["timestamp"] = ev["t"][i] / 1e6
    with open_events(path) as r:
        assert r.layout == "event_utils"
        assert r.time_unit_detected == "s"
        assert any("seconds" in n for n in r.notes)
        assert digest(r.read()) == digest(ev)
        assert r.sensor_size == (64, 48)
        assert r.frame_ts_us.tolist() == [int(ev["t"][0]), int(ev["t"][2500])]
        assert r.read_frame(1)[0, 0] == 1


def test_evqa_integer_microseconds(tmp_path, ev):
    path = tmp_path / "evqa.h5"
    t = ev["t"] - ev["t"][0]
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g["xs"], g["ys"] = ev["x"].astype(np.uint16), ev["y"].astype(np.uint16)
        g["ts"], g["ps"] = t.astype(np.uint64), ev["p"].astype(np.uint8)
        f.attrs["sensor_resolution"] = [48, 64]
    with open_events(path) as r:
        assert r.time_unit_detected == "us"
        assert any("microseconds" in n for n in r.notes)
        assert np.array_equal(r.read()["t"], t)
    with open_events(path, time_unit="s") as r:
        assert r.time_unit_detected == "s"
        assert r.read()["t"][-1] == t[-1] * 1_000_000


def test_prophesee_uncompressed_and_ecf(tmp_path, ev):
    dtype = np.dtype([("x", "<u2"), ("y", "<u2"), ("p", "<i2"), ("t", "<i8")])
    rec = np.zeros(len(ev), dtype)
    for k in "xytp":
        rec[k] = ev[k]
    path = tmp_path / "prophesee.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("CD/events", data=rec)
        f.attrs["geometry"] = "64x48"
    with open_events(path) as r:
        assert r.layout == "prophesee" and r.sensor_size == (64, 48)
        assert digest(r.read()) == digest(ev)
    ecf = tmp_path / "ecf.hdf5"
    with h5py.File(ecf, "w") as f:
        f.create_dataset(
            "CD/events",
            shape=(10,),
            dtype=dtype,
            chunks=(10,),
            compression=36559,
            allow_unknown_filter=True,
        )
    with pytest.raises(EventFileError, match=r"ECF.*36559.*HDF5_PLUGIN_PATH"):
        open_events(ecf)


def test_mvsec_signed_polarity_float_seconds(tmp_path, ev):
    path = tmp_path / "mvsec.hdf5"
    signed = np.where(ev["p"] == 1, 1.0, -1.0)
    with h5py.File(path, "w") as f:
        f["davis/left/events"] = np.column_stack([ev["x"], ev["y"], ev["t"] / 1e6, signed])
    with open_events(path, sensor_size=(64, 48)) as r:
        assert r.layout == "mvsec" and r.time_unit_detected == "s"
        assert any("-1/+1" in n for n in r.notes)
        assert digest(r.read()) == digest(ev)


def test_npy_structured_and_matrix(tmp_path, ev):
    p1 = tmp_path / "ev.npy"
    np.save(p1, ev)
    with open_events(p1, sensor_size=(64, 48)) as r:
        assert r.layout == "npy" and digest(r.read()) == digest(ev)
    p2 = tmp_path / "mat.npy"
    np.save(p2, np.column_stack([ev["t"] / 1e6, ev["x"], ev["y"], ev["p"]]))
    with open_events(p2) as r:
        assert r.time_unit_detected == "s"
        assert digest(r.read()) == digest(ev)
    p3 = tmp_path / "xytp.npy"
    np.save(p3, np.column_stack([ev["x"], ev["y"], ev["t"], ev["p"]]))
    assert digest(load_events(p3, columns="xytp")) == digest(ev)
    tonic_like = np.zeros(len(ev), [("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "?")])
    for k in "xytp":
        tonic_like[k] = ev[k]
    p4 = tmp_path / "tonic.npy"
    np.save(p4, tonic_like)
    assert digest(load_events(p4)) == digest(ev)


def test_npz_columns_and_events_key(tmp_path, ev):
    p1 = tmp_path / "cols.npz"
    np.savez(p1, x=ev["x"], y=ev["y"], t=ev["t"], p=ev["p"], sensor_size=[64, 48])
    with open_events(p1) as r:
        assert r.sensor_size == (64, 48) and not r.sensor_size_inferred
        assert digest(r.read()) == digest(ev)
    p2 = tmp_path / "events.npz"
    np.savez(p2, events=ev)
    assert digest(load_events(p2)) == digest(ev)
    p3 = tmp_path / "other.npz"
    np.savez(p3, a=np.zeros(3), b=np.zeros(3))
    with pytest.raises(UnknownLayoutError, match="expected 'events' or x, y, t, p"):
        open_events(p3)


def test_rpg_text_with_and_without_size_line_and_signed_polarity(tmp_path, ev):
    rows = [f"{t / 1e6:.6f} {x} {y} {1 if p else -1}" for x, y, t, p in ev.tolist()]
    with_size = tmp_path / "events.txt"
    with_size.write_text("64 48\n" + "\n".join(rows) + "\n")
    with open_events(with_size) as r:
        assert r.layout == "txt" and r.sensor_size == (64, 48)
        assert r.time_unit_detected == "s"
        assert any("-1/+1" in n for n in r.notes)
        assert digest(r.read()) == digest(ev)
    bare = tmp_path / "bare.txt"
    bare.write_text("\n".join(rows[:100]) + "\n")
    assert digest(load_events(bare)) == digest(ev[:100])
    broken = tmp_path / "broken.txt"
    broken.write_text("0.1 1 2 1\n0.2 3 4\n")
    with pytest.raises(EventFileError, match=r"line 2 holds 3 values.*may be truncated"):
        open_events(broken)


def test_unsorted_input_is_sorted_with_a_note(tmp_path, ev):
    path = tmp_path / "shuffled.npy"
    rng = np.random.default_rng(0)
    np.save(path, ev[rng.permutation(len(ev))])
    with open_events(path) as r:
        assert any("not sorted" in n for n in r.notes)
        assert np.array_equal(r.read()["t"], ev["t"])


def test_unknown_hdf5_layout_lists_layouts_tried(tmp_path):
    path = tmp_path / "weird.h5"
    with h5py.File(path, "w") as f:
        f["something/else"] = np.arange(10)
    with pytest.raises(UnknownLayoutError) as info:
        open_events(path)
    msg = str(info.value)
    for description in HDF5_LAYOUTS.values():
        assert description in msg
    assert "something/else" in msg


def test_missing_empty_and_unknown_files(tmp_path):
    with pytest.raises(EventFileError, match="does not exist"):
        open_events(tmp_path / "nope.h5")
    empty = tmp_path / "empty.h5"
    empty.touch()
    with pytest.raises(EventFileError, match="empty"):
        open_events(empty)
    with pytest.raises(EventFileError, match="directory"):
        open_events(tmp_path)
    odd = tmp_path / "events.xyz"
    odd.write_bytes(b"1234")
    with pytest.raises(UnknownLayoutError, match=r"\.xyz"):
        open_events(odd)
    bad_npy = tmp_path / "bad.npy"
    bad_npy.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(EventFileError, match="truncated or corrupt"):
        open_events(bad_npy)


def test_layout_and_sensor_size_arguments(tmp_path, ev):
    path = tmp_path / "v2e.h5"
    with h5py.File(path, "w") as f:
        f["events"] = np.column_stack([ev["t"], ev["x"], ev["y"], ev["p"]]).astype(np.int64)
    with pytest.raises(UnknownLayoutError, match="detected: v2e"):
        open_events(path, layout="prophesee")
    with pytest.raises(ParameterError, match="valid:"):
        open_events(path, layout="bogus")
    npz = tmp_path / "s.npz"
    np.savez(npz, events=ev, sensor_size=[64, 48])
    with pytest.raises(ParameterError, match="records 64x48"):
        open_events(npz, sensor_size=(100, 100))
    assert load_events(path, layout="v2e").dtype == EVENT_DTYPE


# --------------------------------------------------------------------------- owners' layouts
# Written once by tools/make_test_fixtures.py with h5py, following each layout owner's own
# writer code (v2e, event_utils, MVSEC), reader (OpenEB for Prophesee) or file description
# (EvQA); tests/data/README.md names the file and commit each one follows.
DATA = Path(__file__).resolve().parent / "data"
FIXTURES = json.loads((DATA / "fixtures.json").read_text())
# name: (layout, sensor size recorded in the file or None, time unit in the file)
HDF5_FIXTURES = {
    # v2e records no size attribute: the reader takes it from its frames' shape
    "v2e": ("v2e", (64, 48), "us"),
    "event-utils": ("event_utils", (48, 40), "s"),
    "evqa": ("event_utils", (56, 42), "us"),
    "prophesee": ("prophesee", (1280, 720), "us"),
    "mvsec": ("mvsec", None, "s"),
}


def _fixture(name):
    info = FIXTURES[name]
    path = DATA / info["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == info["sha256"]
    return path, np.load(DATA / info["expected"])


@pytest.mark.parametrize("name", sorted(HDF5_FIXTURES))
def test_reads_layouts_as_their_owners_write_them(name):
    layout, recorded, unit = HDF5_FIXTURES[name]
    path, want = _fixture(name)
    with open_events(path) as r:
        assert r.layout == layout and r.time_unit_detected == unit
        ev = r.read()
        if recorded is not None:
            assert r.sensor_size == recorded and not r.sensor_size_inferred
        else:
            assert r.sensor_size_inferred
        validate_events(ev, r.sensor_size)
        for col in "xytp":
            # EvQA's ts count from its base_time, which the reader adds (t_offset_us)
            got = ev[col] - r.t_offset_us if col == "t" else ev[col]
            assert np.array_equal(got, want[col]), col
    assert len(ev) == want["x"].size > 300


def test_v2e_frames_and_their_event_index():
    path, want = _fixture("v2e")
    with open_events(path, sensor_size=(64, 48)) as r:
        # v2e's frame times went through float32 seconds, as its events' did
        assert r.frame_ts_us.tolist() == want["frame_ts_us"].tolist()
        # v2e records the events written after each frame: the events up to its time
        assert r.frame_event_idx.tolist() == want["frame_idx"].tolist()
        assert r.read_frame(0).shape == (48, 64)


def test_event_utils_images_and_their_event_index():
    path, want = _fixture("event-utils")
    with open_events(path) as r:
        assert r.frame_ts_us.tolist() == want["image_ts_us"].tolist()
        # event_utils stores the last event before the image, we count the events up to it
        assert r.frame_event_idx.tolist() == (want["image_event_idx"] + 1).tolist()
    path, want = _fixture("evqa")
    with open_events(path) as r:
        assert (r.frame_ts_us - r.t_offset_us).tolist() == want["image_ts_us"].tolist()


def test_event_utils_without_images_gets_a_sensor_that_holds_its_events():
    # event_utils' rosbag_to_h5 records sensor_resolution as [max(ys), max(xs)] when a bag has
    # no images, one pixel short: the reader grows the sensor by that pixel and says so
    path, want = _fixture("event-utils-no-images")
    with open_events(path) as r:
        ev = r.read()
        assert np.array_equal(ev["x"], want["x"])
        validate_events(ev, r.sensor_size)
        assert any("sensor_resolution records" in n for n in r.notes)
