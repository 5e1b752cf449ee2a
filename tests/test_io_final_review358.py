"""Final review of the event-I/O hardening (helper 358): faery's times past int64 are blamed on
what holds them (an EVT header's t0, else the file), and the notes of a file cut mid-word read
alike for EVT and DAT."""

from __future__ import annotations

import re

import numpy as np
import pytest

from eventsim.errors import EventFileError
from eventsim.events import EVENT_DTYPE
from eventsim.io import open_events, write_events

SIZE = (64, 48)
INT64_MAX = np.iinfo(np.int64).max


def events(n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(358)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = 1_000_000 + np.sort(rng.integers(0, 20_000, n))
    ev["x"] = rng.integers(0, SIZE[0], n)
    ev["y"] = rng.integers(0, SIZE[1], n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def test_evt2_t0_past_int64_names_the_t0(tmp_path):
    # faery adds the header's t0 to EVT 2.0 times in uint64: the refusal names that t0 and
    # the events' own times, as eventsim's EVT 2.1 and 3.0 decoders' refusal does
    good = tmp_path / "good.raw"
    write_events(good, events(), SIZE, fmt="evt2")
    t0 = INT64_MAX - 5
    path = tmp_path / "t0.raw"
    path.write_bytes(re.sub(rb"% t0 [0-9]+\n", f"% t0 {t0}\n".encode(), good.read_bytes()))
    with pytest.raises(EventFileError, match=f"its header's t0 {t0} plus its events' times"):
        open_events(path)


class _Decoder:
    """faery's decoder of an ES file whose times reach past int64 (faery's uint64)."""

    def __init__(self, packet: np.ndarray) -> None:
        self.packet = packet

    def __iter__(self):
        return iter([self.packet])

    def dimensions(self) -> tuple[int, int]:
        return SIZE


def test_faery_times_past_int64_without_a_header_blame_the_file(tmp_path, monkeypatch):
    # an ES or AEDAT4 file has no '% t0' line: the refusal said its header's t0 line was corrupt
    import faery
    from faery.events_stream import EVENTS_DTYPE

    packet = np.zeros(2, dtype=EVENTS_DTYPE)
    packet["t"] = [5, 1 << 63]
    packet["x"], packet["y"], packet["on"] = 1, 2, True
    monkeypatch.setattr(faery, "events_stream_from_file", lambda *a, **k: _Decoder(packet))
    path = tmp_path / "far.es"
    path.write_bytes(b"\0" * 16)
    with pytest.raises(EventFileError) as exc:
        open_events(path)
    message = str(exc.value)
    assert f"times reach {1 << 63} us, past int64" in message
    assert "the file is corrupt" in message and "t0" not in message


@pytest.mark.parametrize(
    ("fmt", "suffix", "cut", "note"),
    [
        ("dat", ".dat", 3, "its last 5 bytes, after the last whole 64-bit word of DAT, were"),
        ("dat", ".dat", 7, "its last 1 byte, after the last whole 64-bit word of DAT, was"),
        ("evt2", ".raw", 1, "its last 3 bytes, after the last whole 32-bit word of EVT 2.0, were"),
        ("evt3", ".raw", 1, "its last 1 byte, after the last whole 16-bit word of EVT 3.0, was"),
    ],
)
def test_cut_mid_word_notes_read_alike(tmp_path, fmt, suffix, cut, note):
    good = tmp_path / f"good{suffix}"
    write_events(good, events(), SIZE, fmt=fmt)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(good.read_bytes()[:-cut])
    with open_events(path) as r:
        notes = [n for n in r.notes if "mid-word" in n]
    assert notes == [f"the file ends mid-word: {note} ignored (the file is truncated)"]
