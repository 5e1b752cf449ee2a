"""eventsim's own EVT 2.1 decoder (eventsim.io.evt21), which faery cannot decode: hand-computed
words against the events they hold, and round trips through a small encoder written here from
Prophesee's specification (docs.prophesee.ai, data/encoding_formats/evt21)."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import EventFileError, UnknownLayoutError
from eventsim.events import EVENT_DTYPE, make_events
from eventsim.io import evt21, load_events, open_events

SIZE = (64, 48)
GEOMETRY = b"% evt 2.1\n% geometry 64x48\n% end\n"
TIME_HIGH_RANGE = 1 << 28

# -- the spec's words, built from their fields -------------------------------------------------


def time_high(value: int) -> int:
    return (0x8 << 60) | (value << 32)


def event_word(p: int, x: int, y: int, ts: int, mask: int) -> int:
    return (p << 60) | (ts << 54) | (x << 43) | (y << 32) | mask


def pack(words: list[int], legacy: bool = False) -> bytes:
    if legacy:
        # the spec's IMX636 order: the word's high 32 bits first, each half little-endian
        return b"".join(struct.pack("<II", w >> 32, w & 0xFFFFFFFF) for w in words)
    return struct.pack(f"<{len(words)}Q", *words)


def encode(events: np.ndarray) -> list[int]:
    """EVT 2.1 words for time-sorted events: a time-high word where time >> 6 changes (none
    for the steps without events, so a gap skips many), then one word per run of events of the
    same time, row, polarity and 32-column block, x rising."""
    words: list[int] = []
    high = None
    run: list[int] | None = None  # [t, y, p, base, mask, last x]

    def flush() -> None:
        if run is not None:
            t, y, p, base, mask, _ = run
            words.append(event_word(p, base, y, t & 63, mask))

    for x, y, t, p in zip(*(events[k].tolist() for k in "xytp")):
        if t >> 6 != high:
            flush()
            run = None
            high = t >> 6
            words.append(time_high(high % TIME_HIGH_RANGE))
        base = x & ~31
        if run is not None and run[:4] == [t, y, p, base] and x > run[5]:
            run[4] |= 1 << (x - base)
            run[5] = x
        else:
            flush()
            run = [t, y, p, base, 1 << (x - base), x]
    flush()
    return words


def with_others(words: list[int], rng: np.random.Generator, n: int) -> list[int]:
    """``words`` with ``n`` words that hold no pixel event at random places: triggers, OTHERS
    and their CONTINUED words, reserved types, and event words without a set bit."""
    junk = [
        lambda: (0xA << 60) | int(rng.integers(0, 1 << 60)),
        lambda: (0xE << 60) | int(rng.integers(0, 1 << 60)),
        lambda: (0xF << 60) | int(rng.integers(0, 1 << 60)),
        lambda: (int(rng.choice([0x2, 0x5, 0x7, 0x9, 0xC])) << 60) | int(rng.integers(0, 1 << 60)),
        lambda: event_word(int(rng.integers(0, 2)), 2016, 2047, int(rng.integers(0, 64)), 0),
    ]
    out = list(words)
    for _ in range(n):
        out.insert(int(rng.integers(0, len(out) + 1)), junk[int(rng.integers(0, len(junk)))]())
    return out


def random_events(rng: np.random.Generator, n: int, t0: int = 0, span: int = 200_000):
    """``n`` bursts of 1 to 8 events in one row and 32-column block at one time, polarity
    mixed, on the 64x48 sensor."""
    cols: dict[str, list[int]] = {k: [] for k in "xytp"}
    for t in np.sort(rng.integers(t0, t0 + span, n)).tolist():
        y, p, base = int(rng.integers(0, 48)), int(rng.integers(0, 2)), int(rng.integers(0, 2))
        xs = np.sort(rng.choice(32, int(rng.integers(1, 9)), replace=False)) + 32 * base
        for x in xs.tolist():
            for k, v in zip("xytp", (x, y, t, p)):
                cols[k].append(v)
    return make_events(cols["x"], cols["y"], cols["t"], cols["p"])


def as_tuples(events: np.ndarray) -> list[tuple[int, int, int, int]]:
    return list(zip(*(events[k].tolist() for k in "xytp")))


def write(tmp_path, body: bytes, header: bytes = GEOMETRY, name: str = "rec.raw"):
    path = tmp_path / name
    path.write_bytes(header + body)
    return path


# -- hand-computed words ---------------------------------------------------------------------
HAND_WORDS = [
    0x1041_0000_0000_0001,  # EVT_POS before any time-high: dropped
    0x8000_0002_0000_0000,  # time-high 2: t = 128 + the event's 6 bits
    0x1141_0007_0000_0005,  # EVT_POS, ts 5, x 32, y 7, bits 0 and 2
    0xA000_0000_0000_0123,  # EXT_TRIGGER
    0x0FC0_002F_8000_0000,  # EVT_NEG, ts 63, x 0, y 47, bit 31
    0x8000_0003_0000_0000,  # time-high 3
    0xE000_0014_0000_0007,  # OTHERS
    0xF000_0000_0000_0007,  # CONTINUED
    0x0000_0000_0000_0000,  # EVT_NEG without a set bit: no event
    0x1040_0001_0000_0001,  # EVT_POS, ts 1, x 0, y 1, bit 0
]
HAND_EVENTS = [(32, 7, 133, 1), (34, 7, 133, 1), (31, 47, 191, 0), (0, 1, 193, 1)]


def test_hand_computed_words(tmp_path):
    with open_events(write(tmp_path, pack(HAND_WORDS))) as r:
        assert as_tuples(r.read()) == HAND_EVENTS
        assert r.sensor_size == SIZE and r.layout == "evt"
        assert any("1 event before the first time-high" in n for n in r.notes), r.notes


@pytest.mark.parametrize(
    "header",
    [
        b"% format EVT21;height=48;width=64;endianness=legacy\n% end\n",
        b"% evt 2.1\n% geometry 64x48\n% endianness legacy\n% end\n",
        # Prophesee's systems before the EVK2 Saphir (0x37) wrote no endianness
        b"% evt 2.1\n% geometry 64x48\n% system_ID 40\n% end\n",
        b"% evt 2.1\n% geometry 64x48\n% system_ID 40\n% integrator_name Prophesee\n% end\n",
        # an empty field is no field for openeb: the integrator is still Prophesee
        b"% evt 2.1\n% geometry 64x48\n% system_ID 40\n% integrator_name\n% end\n",
        b"% evt 2.1\n% geometry 64x48\n% endianness\n% system_ID 40\n% end\n",
        # the format line's option over the endianness line, as openeb reads them
        b"% format EVT21;height=48;width=64;endianness=legacy\n% endianness little\n% end\n",
        # SYSTEM_EVK3_IMX647, the last before the EVK2 Saphir
        b"% evt 2.1\n% geometry 64x48\n% system_ID 54\n% end\n",
    ],
)
def test_legacy_order_swaps_the_halves(tmp_path, header):
    path = write(tmp_path, pack(HAND_WORDS, legacy=True), header)
    assert as_tuples(load_events(path)) == HAND_EVENTS


@pytest.mark.parametrize(
    "header",
    [
        b"% format EVT21;height=48;width=64;endianness=little\n% end\n",
        b"% evt 2.1\n% geometry 64x48\n% endianness little\n% end\n",
        b"% evt 2.1\n% geometry 64x48\n% system_ID 40\n% integrator_name Acme\n% end\n",
        b"% evt 2.1\n% geometry 64x48\n% system_ID 64\n% end\n",
        # the EVK2 Saphir (0x37) and a system_ID of 0 (none set)
        b"% evt 2.1\n% geometry 64x48\n% system_ID 55\n% end\n",
        b"% evt 2.1\n% geometry 64x48\n% system_ID 0\n% end\n",
    ],
)
def test_little_endian_order(tmp_path, header):
    assert as_tuples(load_events(write(tmp_path, pack(HAND_WORDS), header))) == HAND_EVENTS


def test_the_spec_example_bytes_of_the_legacy_order():
    assert pack([0x0102030405060708], legacy=True) == bytes.fromhex("0403020108070605")
    assert pack([0x0102030405060708]) == bytes.fromhex("0807060504030201")


def test_other_endianness_refused(tmp_path):
    path = write(tmp_path, pack(HAND_WORDS), b"% format EVT21;height=48;width=64;endianness=big\n")
    with pytest.raises(EventFileError, match=r"endianness 'big'.*'little' and 'legacy'"):
        load_events(path)


def test_time_wraps_where_time_high_steps_to_zero(tmp_path):
    words = [
        time_high(TIME_HIGH_RANGE - 1),
        event_word(0, 0, 4, 5, 1),
        time_high(0),
        event_word(0, 0, 4, 5, 1),
        time_high(TIME_HIGH_RANGE - 1),
        time_high(0),
        event_word(1, 0, 4, 6, 1),
        # a fall by more than half the range in a gap without events wraps too
        time_high(TIME_HIGH_RANGE - 3),
        time_high(2),
        event_word(1, 0, 4, 7, 1),
    ]
    events = load_events(write(tmp_path, pack(words)))
    assert events["t"].tolist() == [
        ((TIME_HIGH_RANGE - 1) << 6) + 5,
        (1 << 34) + 5,
        (2 << 34) + 6,
        (3 << 34) + (2 << 6) + 7,
    ]


@pytest.mark.parametrize("chunk", [None, 1, 2])
def test_time_never_falls_back(tmp_path, monkeypatch, chunk):
    # a small fall of time-high is no wrap: the event after it keeps the time before it, in
    # the same chunk of words or a later one
    if chunk is not None:
        monkeypatch.setattr(evt21, "_CHUNK_WORDS", chunk)
    words = [time_high(10), event_word(1, 0, 0, 3, 1), time_high(9), event_word(1, 0, 0, 1, 2)]
    words += [time_high(11), event_word(0, 0, 0, 2, 4), event_word(0, 0, 0, 1, 8)]
    events = load_events(write(tmp_path, pack(words)))
    assert as_tuples(events) == [(0, 0, 643, 1), (1, 0, 643, 1), (2, 0, 706, 0), (3, 0, 706, 0)]


@pytest.mark.parametrize("legacy", [False, True])
def test_the_top_addresses(tmp_path, legacy):
    # x and y of 11 bits each, their top bits set; no size: EVT 2.1's 2048 addresses
    words = [time_high(0), event_word(1, 2016, 2047, 0, 1 << 31), event_word(0, 1024, 1024, 1, 1)]
    header = b"% evt 2.1\n" + (b"% endianness legacy\n" if legacy else b"") + b"% end\n"
    events = load_events(write(tmp_path, pack(words, legacy), header))
    assert as_tuples(events) == [(2047, 2047, 0, 1), (1024, 1024, 1, 0)]


# -- round trips -----------------------------------------------------------------------------
@pytest.mark.parametrize("legacy", [False, True])
def test_round_trip_random_streams(tmp_path, legacy):
    rng = np.random.default_rng(21)
    events = random_events(rng, 2000)
    words = with_others(encode(events), rng, 300)
    assert max(bin(w & 0xFFFFFFFF).count("1") for w in words if w >> 60 <= 1) > 4
    header = GEOMETRY if not legacy else GEOMETRY.replace(b"% end", b"% endianness legacy\n% end")
    got = load_events(write(tmp_path, pack(words, legacy), header))
    assert got.dtype == EVENT_DTYPE
    assert as_tuples(got) == as_tuples(events)


def test_round_trip_across_the_34_bit_wrap(tmp_path):
    events = random_events(np.random.default_rng(5), 500, t0=(1 << 34) - 50_000, span=100_000)
    assert events["t"][0] < 1 << 34 <= events["t"][-1]
    got = load_events(write(tmp_path, pack(encode(events))))
    assert as_tuples(got) == as_tuples(events)


def test_chunks_carry_the_state(tmp_path, monkeypatch):
    rng = np.random.default_rng(8)
    events = random_events(rng, 400, t0=(1 << 34) - 10_000, span=20_000)
    words = with_others([event_word(1, 0, 0, 0, 3), *encode(events)], rng, 50)
    path = write(tmp_path, pack(words))
    whole = load_events(path)
    monkeypatch.setattr(evt21, "_CHUNK_WORDS", 3)
    notes: list[str] = []
    chunked = evt21.read_evt21(path, SIZE, notes=notes)
    assert as_tuples(chunked) == as_tuples(whole) == as_tuples(events)
    assert notes == [
        "2 events before the first time-high word (whose time is not known) left out, as "
        "Metavision leaves them out"
    ]


def test_t0_header_line_is_added(tmp_path):
    header = b"% evt 2.1\n% geometry 64x48\n% t0 1000000\n% end\n"
    events = load_events(write(tmp_path, pack(HAND_WORDS), header))
    assert events["t"].tolist() == [1_000_000 + e[2] for e in HAND_EVENTS]


# -- headers, sizes, refusals ----------------------------------------------------------------
@pytest.mark.parametrize(
    "header", [GEOMETRY, b"% format EVT21;height=48;width=64\n% end\n", b"% evt 2.1\n% end\n"]
)
def test_sensor_size_from_the_header_or_inferred(tmp_path, header):
    with open_events(write(tmp_path, pack(HAND_WORDS), header)) as r:
        assert len(r.read()) == len(HAND_EVENTS)
        if b"48" in header:
            assert r.sensor_size == SIZE and not r.sensor_size_inferred
        else:
            assert r.sensor_size == (35, 48) and r.sensor_size_inferred
            assert any("sensor size not recorded" in n for n in r.notes), r.notes


def test_given_sensor_size_for_a_header_without_one(tmp_path):
    path = write(tmp_path, pack(HAND_WORDS), b"% evt 2.1\n% end\n")
    with open_events(path, sensor_size=(40, 48)) as r:
        assert r.sensor_size == (40, 48) and len(r) == len(HAND_EVENTS)
    with pytest.raises(EventFileError, match=r"x = 34, outside the 34x48 sensor given"):
        open_events(path, sensor_size=(34, 48))


def test_event_outside_the_sensor_refused(tmp_path):
    words = [time_high(0), event_word(1, 64, 3, 0, 1 << 6)]
    with pytest.raises(EventFileError, match=r"x = 70, outside the 64x48 sensor its header names"):
        load_events(write(tmp_path, pack(words)))


def test_vector_at_the_right_edge_of_a_1280_wide_sensor(tmp_path):
    # x = 1248 with all 32 bits: columns 1248..1279, the last one on the sensor
    header = b"% format EVT21;height=720;width=1280;endianness=little\n% end\n"
    words = [time_high(1), event_word(1, 1248, 719, 3, 0xFFFF_FFFF)]
    with open_events(write(tmp_path, pack(words), header)) as r:
        events = r.read()
        assert r.sensor_size == (1280, 720)
    assert events["x"].tolist() == list(range(1248, 1280))
    assert set(events["y"].tolist()) == {719} and set(events["t"].tolist()) == {67}


def test_vector_past_the_last_address_is_refused_not_wrapped(tmp_path):
    # x + i reaches 2078 without a size: refused by value, never stored modulo 2**16 or 2**11
    words = [time_high(0), event_word(0, 2047, 0, 0, 1 << 31)]
    with pytest.raises(EventFileError, match=r"x = 2078, outside the 2048 addresses of EVT 2\.1"):
        load_events(write(tmp_path, pack(words), b"% evt 2.1\n% end\n"))


@pytest.mark.parametrize(
    "header",
    [
        b"% format EVT21;height=48;width=64\n% geometry 32x48\n% end\n",
        b"% geometry 64x40\n% format EVT21;height=48;width=64\n% end\n",
    ],
)
def test_format_and_geometry_lines_that_disagree_refused(tmp_path, header):
    with pytest.raises(EventFileError, match=r"two sensor sizes, 64x48 in its '% format' line"):
        load_events(write(tmp_path, pack(HAND_WORDS), header))


def test_format_and_geometry_lines_that_agree(tmp_path):
    header = b"% format EVT21;height=48;width=64\n% geometry 64x48\n% end\n"
    assert as_tuples(load_events(write(tmp_path, pack(HAND_WORDS), header))) == HAND_EVENTS


def test_header_only(tmp_path):
    with open_events(write(tmp_path, b"")) as r:
        assert len(r.read()) == 0 and r.sensor_size == SIZE
        assert not any("mid-word" in n or "time-high" in n for n in r.notes), r.notes


def test_forced_layout_on_another_suffix_names_eventsim(tmp_path):
    path = write(tmp_path, pack(HAND_WORDS), b"% geometry 64x48\n% end\n", name="rec.bin")
    with pytest.raises(UnknownLayoutError) as info:
        open_events(path, layout="evt21")
    msg = str(info.value)
    assert "eventsim tells EVT 2.1 files by the suffix .raw or .evt" in msg, msg
    assert "faery" not in msg, msg


def test_word_without_a_set_bit_does_not_move_the_time(tmp_path):
    # it holds no event: its 6 time bits are no floor for the events after it
    words = [time_high(2), event_word(1, 0, 0, 63, 0), event_word(0, 0, 1, 4, 1)]
    assert as_tuples(load_events(write(tmp_path, pack(words)))) == [(0, 1, 132, 0)]


def test_word_without_events_past_the_sensor_is_no_event(tmp_path):
    words = [time_high(0), event_word(1, 1984, 2047, 0, 0), event_word(0, 32, 47, 1, 1 << 31)]
    assert as_tuples(load_events(write(tmp_path, pack(words)))) == [(63, 47, 1, 0)]


@pytest.mark.parametrize("extra", [1, 7])
@pytest.mark.parametrize("legacy", [False, True])
def test_file_cut_mid_word_read_up_to_the_cut(tmp_path, extra, legacy):
    # a recording cut by a crash reads as EVT 2.0 and 3.0 ones do: the whole words, with a note
    header = GEOMETRY.replace(b"% end", b"% endianness legacy\n% end") if legacy else GEOMETRY
    cut_word = pack([event_word(1, 32, 9, 2, 0xFFFF_FFFF)], legacy)[:extra]
    path = write(tmp_path, pack(HAND_WORDS, legacy) + cut_word, header, name="cut.raw")
    with open_events(path) as r:
        assert as_tuples(r.read()) == HAND_EVENTS
    ending = "its last 7 bytes, after" if extra == 7 else "its last 1 byte, after"
    note = (
        f"the file ends mid-word: {ending} the last whole 64-bit word of EVT 2.1, "
        f"{'were' if extra == 7 else 'was'} ignored (the file is truncated)"
    )
    assert note in r.notes, r.notes


def test_cut_file_notes_as_evt3_does(tmp_path):
    import faery  # noqa: F401  (the formats extra, installed for the tests)

    # the EVT 3.0 words of one event (time high, time low, y, x), then a byte of another
    evt3 = struct.pack("<4H", 0x8000, 0x6005, 0x0003, 0x2000 | 7) + b"\x01"
    with open_events(write(tmp_path, evt3, b"% evt 3.0\n% geometry 64x48\n% end\n")) as r:
        assert len(r) == 1
    evt21_path = write(tmp_path, pack(HAND_WORDS) + b"\x01", name="evt21.raw")
    with open_events(evt21_path) as r21:
        assert len(r21) == len(HAND_EVENTS)
    [cut3] = [n for n in r.notes if "mid-word" in n]
    [cut21] = [n for n in r21.notes if "mid-word" in n]
    assert cut21 == cut3.replace("16-bit word of EVT 3.0", "64-bit word of EVT 2.1")


def test_cut_file_read_in_chunks(tmp_path, monkeypatch):
    events = random_events(np.random.default_rng(13), 200)
    path = write(tmp_path, pack(encode(events)) + b"\x00\x00\x00\x80\x10")
    monkeypatch.setattr(evt21, "_CHUNK_WORDS", 5)
    assert as_tuples(evt21.read_evt21(path, SIZE)) == as_tuples(events)


def test_forced_layout_reads_a_header_without_a_version(tmp_path):
    path = write(tmp_path, pack(HAND_WORDS), b"% geometry 64x48\n% end\n")
    with open_events(path, layout="evt21") as r:
        assert as_tuples(r.read()) == HAND_EVENTS and r.sensor_size == SIZE
        assert any("as the layout 'evt21' says" in n for n in r.notes), r.notes


def test_forced_layout_needs_a_header(tmp_path):
    with pytest.raises(EventFileError, match="does not start with a '%' header"):
        open_events(write(tmp_path, pack(HAND_WORDS), b""), layout="evt21")


def test_no_time_high_reads_no_events(tmp_path):
    with open_events(write(tmp_path, pack(HAND_WORDS[:1]))) as r:
        assert len(r.read()) == 0
        assert any("1 event before the first" in n for n in r.notes), r.notes


def test_read_without_faery(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "faery", None)  # `import faery` raises ImportError
    assert as_tuples(load_events(write(tmp_path, pack(HAND_WORDS)))) == HAND_EVENTS


# -- the command line --------------------------------------------------------------------------
def test_cli_info_and_convert(tmp_path, capsys):
    events = random_events(np.random.default_rng(3), 300)
    path = write(tmp_path, pack(encode(events)))
    assert eventsim_main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{len(events):,}" in out and "64x48" in out, out
    out_path = tmp_path / "rec.npy"
    assert eventsim_main(["convert", str(path), str(out_path)]) == 0
    assert as_tuples(load_events(out_path)) == as_tuples(events)
