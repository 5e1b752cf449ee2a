import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from eventsim.errors import (
    EventFileError,
    InvalidEventsError,
    MissingDependencyError,
    OutputExistsError,
    ParameterError,
)
from eventsim.events import EVENT_DTYPE, slice_time, validate_events
from eventsim.io import FORMATS, format_from_path, load_events, open_events, write_events
from eventsim.io.formats import write_stream

SIZE = (64, 48)
EXT = {
    "h5": ".h5",
    "v2e": ".h5",
    "evqa": ".h5",
    "npy": ".npy",
    "npz": ".npz",
    "txt": ".txt",
    "aedat4": ".aedat4",
    "evt3": ".raw",
    "evt2": ".raw",
    "dat": ".dat",
    "es": ".es",
    "csv": ".csv",
}
RECORDS_SIZE = {"h5", "evqa", "npz", "txt", "aedat4", "evt3", "evt2", "dat", "es", "csv"}


def digest(ev: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(ev).tobytes()).hexdigest()


def test_every_format_is_covered():
    assert set(EXT) == set(FORMATS)


@pytest.mark.parametrize("fmt", sorted(EXT))
def test_write_then_read_back_exactly(tmp_path, small_events, fmt):
    if FORMATS[fmt].needs_faery:
        pytest.importorskip("faery")
    ev = small_events.copy()
    ev["t"] += 1_234_567
    path = tmp_path / f"out{EXT[fmt]}"
    write_events(path, ev, SIZE, fmt=fmt)
    with open_events(path, sensor_size=None if fmt in RECORDS_SIZE else SIZE) as r:
        assert digest(r.read()) == digest(ev)
        assert r.sensor_size == SIZE
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("fmt", ["h5", "npy", "txt", "csv", "evt3"])
def test_failed_stream_leaves_nothing(tmp_path, small_events, fmt):
    if FORMATS[fmt].needs_faery:
        pytest.importorskip("faery")
    path = tmp_path / f"out{EXT[fmt]}"
    late = small_events[:10].copy()
    late["t"] = 0  # earlier than the first packet: unsorted across packets
    with pytest.raises(InvalidEventsError, match="not sorted"):
        write_stream(path, [small_events, late], SIZE, fmt=fmt)
    assert list(tmp_path.iterdir()) == []


def test_write_stream_refuses_existing_output(tmp_path, small_events):
    path = tmp_path / "out.npy"
    path.write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="force"):
        write_stream(path, [small_events], SIZE)
    assert path.read_bytes() == b"old"
    write_stream(path, [small_events], SIZE, force=True)
    assert len(load_events(path)) == len(small_events)


def test_out_of_range_and_signed_polarity_are_refused_by_writers(tmp_path, small_events):
    bad = small_events.copy()
    bad["x"][7] = 64
    with pytest.raises(InvalidEventsError, match=r"x\[7\] = 64"):
        write_events(tmp_path / "a.npy", bad, SIZE)
    signed = small_events.copy()
    signed["p"][3] = -1
    with pytest.raises(InvalidEventsError, match=r"p\[3\] = -1"):
        write_events(tmp_path / "b.txt", signed, SIZE)
    assert list(tmp_path.iterdir()) == []


def test_format_from_path():
    assert format_from_path("a.H5") == "h5"
    assert format_from_path("a.raw") == "evt3"
    assert format_from_path("a.raw", "evt2") == "evt2"
    with pytest.raises(ParameterError, match="valid: h5"):
        format_from_path("a.h5", "nope")
    with pytest.raises(ParameterError, match=r"\.xyz.*\.npy"):
        format_from_path("a.xyz")


def test_csv_with_signed_polarity_is_converted_with_a_note(tmp_path):
    pytest.importorskip("faery")
    path = tmp_path / "signed.csv"
    path.write_text("t,x,y,p\n10,1,2,1\n20,3,4,-1\n30,5,6,1\n")
    with open_events(path, sensor_size=SIZE) as r:
        ev = r.read()
        assert any("-1/+1" in n for n in r.notes)
    assert ev["p"].tolist() == [1, 0, 1]
    assert ev["t"].tolist() == [10, 20, 30]


def test_bad_raw_files(tmp_path):
    pytest.importorskip("faery")
    raw = tmp_path / "bad.raw"
    raw.write_bytes(b"not an evt file")
    with pytest.raises(EventFileError, match="not an EVT file"):
        open_events(raw)
    aedat = tmp_path / "bad.aedat4"
    aedat.write_bytes(b"not an aedat file")
    with pytest.raises(EventFileError, match="cannot decode"):
        open_events(aedat)


def test_missing_faery_names_the_extra(tmp_path, small_events, monkeypatch):
    monkeypatch.setitem(sys.modules, "faery", None)
    with pytest.raises(MissingDependencyError, match=r"eventsim\[formats\]"):
        write_events(tmp_path / "a.aedat4", small_events, SIZE)
    assert list(tmp_path.iterdir()) == []


def test_write_events_infers_sensor_size(tmp_path, small_events):
    path = write_events(tmp_path / "a.h5", small_events)
    with open_events(path) as r:
        assert r.sensor_size == (
            int(small_events["x"].max()) + 1,
            int(small_events["y"].max()) + 1,
        )
    assert load_events(path).dtype == EVENT_DTYPE


@pytest.mark.parametrize("fmt", ["h5", "npz"])
def test_signed_polarity_in_other_dtypes_is_refused_not_silently_converted(tmp_path, fmt):
    arr = np.zeros(3, [("x", "<i4"), ("y", "<i4"), ("t", "<i8"), ("p", "<i2")])
    arr["t"] = [1, 2, 3]
    arr["p"] = [1, -1, 1]
    with pytest.raises(InvalidEventsError, match=r"event 1 has p = -1.*normalize_polarity"):
        write_events(tmp_path / f"a{EXT[fmt]}", arr, SIZE)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- owners' files
# Written once by tools/make_test_fixtures.py with the formats' owners' libraries (AEDAT4:
# iniVation's dv-processing; EVT2/EVT3/DAT/ES/CSV: faery, cross-checked by evlib where it
# reads the file); tests/data/README.md says which library and version wrote each file.
DATA = Path(__file__).resolve().parent / "data"
FIXTURES = json.loads((DATA / "fixtures.json").read_text())
RAW_FIXTURES = sorted(
    name
    for name, info in FIXTURES.items()
    if info["format"] in ("aedat4", "evt3", "evt2", "dat", "es", "csv")
)


@pytest.mark.parametrize("name", RAW_FIXTURES)
def test_reads_files_written_by_the_formats_owners(name):
    pytest.importorskip("faery")
    info = FIXTURES[name]
    path = DATA / info["file"]
    # the committed bytes are the ones the manifest describes
    assert hashlib.sha256(path.read_bytes()).hexdigest() == info["sha256"]
    want = np.load(DATA / info["expected"])
    with open_events(path) as r:
        ev = r.read()
        assert r.sensor_size == tuple(info["sensor_size"]) and not r.sensor_size_inferred
        validate_events(ev, r.sensor_size)
        for col in "xytp":
            assert np.array_equal(ev[col], want[col]), col
        t0 = int(ev["t"][len(ev) // 4])
        t1 = int(ev["t"][3 * len(ev) // 4])
        assert np.array_equal(r.read(t0, t1), slice_time(ev, t0, t1))
    assert len(ev) == want["x"].size > 1000 and 0 < ev["p"].mean() < 1


def test_owner_fixtures_cover_the_hard_cases():
    """What the raw fixtures are meant to exercise, so a regenerated set cannot lose it."""
    evt3 = np.load(DATA / FIXTURES["faery-gen4-evt3"]["expected"])
    # EVT3 keeps 24 bits of time: the recording spans a wrap of the time-high counter
    assert evt3["t"][-1] - evt3["t"][0] > 1 << 24
    aedat = np.load(DATA / FIXTURES["dvp-davis346-lz4"]["expected"])
    assert aedat["t"][0] > 10**15  # DV cameras stamp epoch microseconds
    for name in RAW_FIXTURES:
        want = np.load(DATA / FIXTURES[name]["expected"])
        w, h = FIXTURES[name]["sensor_size"]
        assert want["x"].max() == w - 1 and want["y"].max() == h - 1
        assert np.any(np.diff(want["t"]) == 0)  # simultaneous events
