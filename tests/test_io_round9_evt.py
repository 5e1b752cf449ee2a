"""Raw EVT files: EVT 2.1 (whose header Metavision writes as '% format EVT21' or '% evt 2.1',
which faery cannot decode) is read by eventsim's own decoder, one cut mid-word up to the cut
with a note, instead of faery's "unknown version" or an uncaught Rust panic; and
``layout='evt2'`` (``'evt3'``, ``'evt21'``) says the version of a file whose header names
none. (tests/test_evt21.py tests the EVT 2.1 decoder itself.)"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from eventsim.errors import ArgumentValueError, EventFileError, UnknownLayoutError
from eventsim.events import make_events
from eventsim.io import open_events
from eventsim.io.formats import write_events
from eventsim.io.layouts import LAYOUT_CHOICES

pytest.importorskip("faery")

N = 500
# an EVT 2.1 time-high word, then a CD_ON word (x=10, y=20, one valid bit)
EVT21_BODY = struct.pack("<QQ", 0x8 << 60, (0x1 << 60) | (10 << 43) | (20 << 32) | 1)
EVT21_HEADERS = {
    "format": b"% format EVT21;height=720;width=1280\n% end\n",
    "evt": b"% evt 2.1\n% end\n",
    "both": b"% evt 2.1\n% format EVT21;height=720;width=1280\n% end\n",
}


@pytest.mark.parametrize("header", list(EVT21_HEADERS))
def test_evt21_read_by_name(tmp_path, header):
    path = tmp_path / "evt21.raw"
    path.write_bytes(EVT21_HEADERS[header] + EVT21_BODY)
    with open_events(path) as r:
        events = r.read()
    assert [tuple(int(v) for v in e) for e in events[["x", "y", "t", "p"]]] == [(10, 20, 0, 1)]


@pytest.mark.parametrize("header", list(EVT21_HEADERS))
def test_evt21_cut_mid_word_read_up_to_the_cut(tmp_path, header):
    path = tmp_path / "evt21.raw"
    path.write_bytes(EVT21_HEADERS[header] + EVT21_BODY + b"\x01" * 3)
    with open_events(path) as r:
        assert len(r) == 1
    assert any("last 3 bytes" in n and "64-bit word of EVT 2.1" in n for n in r.notes), r.notes


def test_faery_panic_is_refused_as_a_bad_file(tmp_path, monkeypatch):
    import faery

    # pyo3's PanicException derives from BaseException, past `except Exception`
    panic = type("PanicException", (BaseException,), {})

    def decode(*args, **kwargs):
        raise panic("not yet implemented")

    monkeypatch.setattr(faery, "events_stream_from_file", decode)
    path = tmp_path / "x.es"
    path.write_bytes(b"Event Stream" + bytes(20))
    with pytest.raises(EventFileError, match="not yet implemented"):
        open_events(path)


# -- a forced EVT version ------------------------------------------------------------------------
def _events():
    rng = np.random.default_rng(9)
    return make_events(
        rng.integers(0, 64, N),
        rng.integers(0, 48, N),
        np.sort(rng.integers(0, 20_000, N)),
        rng.integers(0, 2, N),
    )


def _strip_format_lines(data: bytes) -> bytes:
    lines = data.split(b"\n")
    drop = (b"% evt ", b"% format ")
    return b"\n".join(line for line in lines if not line.startswith(drop))


@pytest.fixture
def evt2_unversioned(tmp_path):
    whole = tmp_path / "whole.raw"
    write_events(whole, _events(), (64, 48), fmt="evt2")
    path = tmp_path / "noversion.raw"
    path.write_bytes(_strip_format_lines(whole.read_bytes()))
    return path


def test_evt_versions_are_layout_choices():
    assert {"evt2", "evt3", "evt21"} <= set(LAYOUT_CHOICES)
    with pytest.raises(ArgumentValueError, match="evt2"):
        open_events("whatever.raw", layout="evt9")


def test_unversioned_evt2_refusal_names_the_layout(evt2_unversioned):
    with pytest.raises(EventFileError) as info:
        open_events(evt2_unversioned)
    assert "'% evt 2.0'" in str(info.value) and "pass layout='evt2'" in str(info.value)


@pytest.mark.parametrize("layout", ["evt2", "EVT2"])
def test_forced_evt2_reads_an_unversioned_file(evt2_unversioned, layout):
    with open_events(evt2_unversioned, layout=layout) as r:
        events = r.read()
        notes = r.notes
        assert r.layout == "evt"
    expected = _events()
    for name in "xytp":
        assert np.array_equal(events[name], expected[name]), name
    assert not any("EVT 3.0" in n for n in notes), notes
    assert any("EVT 2.0" in n and "'evt2'" in n for n in notes), notes


def test_forced_evt2_truncation_counts_its_words(evt2_unversioned):
    evt2_unversioned.write_bytes(evt2_unversioned.read_bytes()[:-1])
    with open_events(evt2_unversioned, layout="evt2") as r:
        notes = [n for n in r.notes if "mid-word" in n]
    assert len(notes) == 1 and "last 3 bytes" in notes[0] and "EVT 2.0" in notes[0], r.notes


def test_forced_version_against_the_header_is_refused(tmp_path):
    path = tmp_path / "evt2.raw"
    write_events(path, _events(), (64, 48), fmt="evt2")
    with open_events(path, layout="evt2") as r:
        assert len(r) == N
    with pytest.raises(UnknownLayoutError) as info:
        open_events(path, layout="evt3")
    assert "EVT 2.0" in str(info.value) and "'evt3'" in str(info.value)


def test_forced_evt21_reads_an_unversioned_file(tmp_path):
    path = tmp_path / "noversion.raw"
    path.write_bytes(b"% geometry 1280x720\n% end\n" + EVT21_BODY)
    with open_events(path, layout="evt21") as r:
        assert len(r) == 1 and r.sensor_size == (1280, 720)
        assert any("EVT 2.1" in n and "'evt21'" in n for n in r.notes), r.notes


def test_forced_evt_version_needs_an_evt_suffix(tmp_path):
    path = tmp_path / "events.dat"
    path.write_bytes(b"% Date 2020\n" + bytes(16))
    with pytest.raises(UnknownLayoutError, match=r"\.raw"):
        open_events(path, layout="evt2")


def test_cli_info_takes_a_forced_evt_version(evt2_unversioned, capsys):
    from eventsim.cli import main

    assert main(["info", str(evt2_unversioned), "--layout", "evt2"]) in (0, None)
    assert str(N) in capsys.readouterr().out


def test_cli_refusal_names_the_layout_option(evt2_unversioned, capsys):
    from eventsim.cli import main

    assert main(["info", str(evt2_unversioned)]) not in (0, None)
    assert "pass --layout evt2" in capsys.readouterr().err
