"""Damaged event files that a fuzz of every reader (helper 352) found read wrongly: each must be
refused with an eventsim error naming the file (``eventsim info --check`` exits 1 with it, no
'internal error'), or read with a note saying what was dropped, never with times wrapped
past int64."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import EventFileError, InvalidEventsError
from eventsim.events import EVENT_DTYPE
from eventsim.io import open_events, write_events

SIZE = (64, 48)
INT64_MAX = np.iinfo(np.int64).max


def events(n: int = 50) -> np.ndarray:
    rng = np.random.default_rng(352)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = 1_000_000 + np.sort(rng.integers(0, 20_000, n))
    ev["x"] = rng.integers(0, SIZE[0], n)
    ev["y"] = rng.integers(0, SIZE[1], n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def refused(path: Path, error: type[Exception], capsys, *needles: str) -> str:
    """The error open_events raises for ``path``; info --check must exit 1 with one line."""
    with pytest.raises(error) as exc:
        with open_events(path) as r:
            r.read()
    message = str(exc.value)
    for needle in needles:
        assert needle in message
    capsys.readouterr()
    assert eventsim_main(["info", "--check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err
    assert "error:" in err
    return message


# -- .npz archives: zip and deflate damage --------------------------------------------------


def test_npz_cut_short_is_refused(tmp_path, capsys):
    good = tmp_path / "good.npz"
    write_events(good, events(), SIZE)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    refused(cut, EventFileError, capsys, "truncated or corrupt", "cut.npz")


def test_npz_member_damaged_is_refused(tmp_path, capsys):
    path = tmp_path / "crc.npz"
    np.savez_compressed(path, **{k: events()[k] for k in "xytp"}, sensor_size=np.array(SIZE))
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("t.npy")
    # a byte in the middle of t's compressed data: zlib's error or the zip's CRC one
    at = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))
    refused(path, EventFileError, capsys, "array 't'", "truncated or corrupt")


@pytest.mark.parametrize("value", [np.array([], np.int64), np.array(["a", "b"])])
def test_npz_sensor_size_not_two_numbers_is_refused(tmp_path, capsys, value):
    path = tmp_path / "size.npz"
    np.savez(path, **{k: events()[k] for k in "xytp"}, sensor_size=value)
    refused(path, EventFileError, capsys, "sensor_size", "two whole numbers")


# -- columns of text ------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["t", "x"])
def test_npz_text_column_is_refused(tmp_path, capsys, column):
    path = tmp_path / "text.npz"
    cols = {k: events()[k] for k in "xytp"}
    cols[column] = np.array(["zz"] * len(cols[column]))
    np.savez(path, **cols)
    refused(path, InvalidEventsError, capsys, "<U2", "expected")


def test_npz_text_polarity_is_told_by_info(tmp_path, capsys):
    path = tmp_path / "p.npz"
    cols = {k: events()[k] for k in "xytp"}
    cols["p"] = np.array(["zz"] * len(cols["p"]))
    np.savez(path, **cols)
    refused(path, InvalidEventsError, capsys, "'zz'")
    # info reads polarity as the file holds it (check_polarity=False): the text is no polarity
    with open_events(path, check_polarity=False) as r:
        assert (r.read()["p"] == -128).all()


def test_v2e_text_events_are_refused(tmp_path, capsys):
    path = tmp_path / "v2e.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("events", data=np.array([[b"a"] * 4] * 10))
    refused(path, InvalidEventsError, capsys, "/events[:, 0]", "expected numbers")


# -- sizes and times a header records -------------------------------------------------------


@pytest.mark.parametrize("value", [np.array([64, 64]), b"\xff\xfe"])
def test_v2e_sensor_attribute_not_a_number_is_refused(tmp_path, capsys, value):
    path = tmp_path / "v2e.h5"
    write_events(path, events(), SIZE, fmt="v2e")
    with h5py.File(path, "r+") as f:
        f.attrs["sensor_width"] = value
    refused(path, EventFileError, capsys, "sensor_width", "whole number")


def test_dsec_t_offset_past_int64_is_refused(tmp_path, capsys):
    path = tmp_path / "toff.h5"
    write_events(path, events(), SIZE)
    with h5py.File(path, "r+") as f:
        del f["t_offset"]
        f.create_dataset("t_offset", data=np.int64(INT64_MAX - 10))
    refused(path, EventFileError, capsys, "t_offset", "leaves int64")


def test_dsec_large_t_offset_within_int64_is_read(tmp_path):
    path = tmp_path / "toff.h5"
    ev = events()
    write_events(path, ev, SIZE)
    with h5py.File(path, "r+") as f:
        off = int(f["t_offset"][()])
        del f["t_offset"]
        f.create_dataset("t_offset", data=np.int64(off + (1 << 62)))
    with open_events(path) as r:
        assert np.array_equal(r.read()["t"], ev["t"] + (1 << 62))


def _with_t0(raw: bytes, t0: str) -> bytes:
    new, n = re.subn(rb"% t0 [0-9]+\n", f"% t0 {t0}\n".encode(), raw)
    assert n == 1
    return new


@pytest.mark.parametrize("fmt", ["evt3", "evt2"])
@pytest.mark.parametrize("t0", [str(INT64_MAX - 5), "99999999999999999999999"])
def test_evt_t0_past_int64_is_refused(tmp_path, capsys, fmt, t0):
    good = tmp_path / "good.raw"
    write_events(good, events(), SIZE, fmt=fmt)
    path = tmp_path / "t0.raw"
    path.write_bytes(_with_t0(good.read_bytes(), t0))
    refused(path, EventFileError, capsys, "int64")


def test_evt3_decoder_t0_past_int64_is_refused(tmp_path):
    from eventsim.io import evt3

    good = tmp_path / "good.raw"
    write_events(good, events(), SIZE, fmt="evt3")
    path = tmp_path / "t0.raw"
    path.write_bytes(_with_t0(good.read_bytes(), str(INT64_MAX - 5)))
    with pytest.raises(EventFileError, match="leaves int64"):
        evt3.read_evt3(path, SIZE)


def test_evt21_t0_past_int64_is_refused(tmp_path, capsys):
    # one time-high word (time 64 us) and one event word at x 0..1, y 3
    words = [(0x8 << 60) | (1 << 32), (1 << 60) | (3 << 32) | 0b11]
    path = tmp_path / "t0.raw"
    body = np.array(words, dtype="<u8").tobytes()
    path.write_bytes(f"% evt 2.1\n% geometry 64x48\n% t0 {INT64_MAX - 5}\n% end\n".encode() + body)
    refused(path, EventFileError, capsys, "leaves int64")


# -- DAT cut mid-event ----------------------------------------------------------------------


def test_dat_cut_mid_event_is_noted(tmp_path):
    ev = events()
    good = tmp_path / "good.dat"
    write_events(good, ev, SIZE, fmt="dat")
    cut = tmp_path / "cut.dat"
    cut.write_bytes(good.read_bytes()[:-3])
    with open_events(cut) as r:
        assert np.array_equal(r.read(), ev[:-1])
        assert any("last 5 bytes" in n and "truncated" in n for n in r.notes)
    with open_events(good) as r:
        assert not any("truncated" in n for n in r.notes)


# -- HDF5 whose structure is damaged --------------------------------------------------------


def test_hdf5_damaged_group_is_refused(tmp_path, capsys):
    path = tmp_path / "damaged.h5"
    with h5py.File(path, "w", libver="earliest") as f:
        f.create_dataset("g/d", data=np.arange(4))
    raw = bytearray(path.read_bytes())
    # the last symbol-table node's first entry: its name's offset into the local heap, made
    # past the heap (h5py's visit raised a bare RuntimeError, 'Object visitation failed')
    at = raw.rindex(b"SNOD") + 8 + 7
    raw[at] ^= 0xC0
    path.write_bytes(bytes(raw))
    refused(path, EventFileError, capsys, "truncated or corrupt")


def test_evqa_sensor_resolution_of_text_is_refused(tmp_path, capsys):
    path = tmp_path / "evqa.h5"
    write_events(path, events(), SIZE, fmt="evqa")
    with h5py.File(path, "r+") as f:
        f.attrs["sensor_resolution"] = np.array([b"a", b"b"])
    refused(path, EventFileError, capsys, "sensor_resolution", "whole number")


@pytest.mark.parametrize("geometry", [b"99999999x48", b"32768x48"])
def test_evt21_header_size_out_of_range_names_the_file(tmp_path, capsys, geometry):
    words = [(0x8 << 60) | (1 << 32), (1 << 60) | (3 << 32) | 0b11]
    path = tmp_path / "size.raw"
    body = np.array(words, dtype="<u8").tobytes()
    path.write_bytes(b"% evt 2.1\n% geometry " + geometry + b"\n% end\n" + body)
    refused(path, EventFileError, capsys, "size.raw", "records a sensor size", "out of range")


# -- a header faery cannot read -------------------------------------------------------------

LATIN1_LINE = b"% camera_integrator_name Proph\xe9s\xe9e\n"


def _with_latin1_line(raw: bytes) -> bytes:
    # after the first header line, as a recording tool would add one
    first = raw.index(b"\n") + 1
    return raw[:first] + LATIN1_LINE + raw[first:]


def test_evt3_header_not_utf8_is_read_by_eventsim(tmp_path):
    ev = events()
    good = tmp_path / "good.raw"
    write_events(good, ev, SIZE, fmt="evt3")
    path = tmp_path / "latin1.raw"
    path.write_bytes(_with_latin1_line(good.read_bytes()))
    with open_events(path) as r:
        assert r.sensor_size == SIZE
        assert np.array_equal(r.read(), ev)


@pytest.mark.parametrize("fmt", ["evt2", "dat"])
def test_faery_header_not_utf8_is_refused(tmp_path, capsys, fmt):
    ext = ".dat" if fmt == "dat" else ".raw"
    good = tmp_path / f"good{ext}"
    write_events(good, events(), SIZE, fmt=fmt)
    path = tmp_path / f"latin1{ext}"
    path.write_bytes(_with_latin1_line(good.read_bytes()))
    refused(path, EventFileError, capsys, "line 2", "not UTF-8", "faery cannot read")
