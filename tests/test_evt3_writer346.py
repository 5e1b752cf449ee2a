"""EVT 3.0 as eventsim writes it (`eventsim.io.evt3.Evt3Encoder`), checked against an independent
decoder written here from Prophesee's EVT 3.0 specification and openeb's decoder
(hal/decoders/evt3/evt3_decoder.h, evt3_validator.h), which Metavision reads files with:

- a VECT_12 word always starts a VECT_12, VECT_12, VECT_8 group: the two words after it are its
  mask bits, whatever their type; a VECT_8 word alone is no event (it only sets a state);
- a wrap of the 24-bit time is counted where ``high_prev >= 2048 + high_new``;
- its BasicCheckValidator flags NonMonotonicTimeHigh at any fall of time-high other than a wrap
  (4095 -> 0, or a fall of more than 3840), which MV_FLAGS_EVT3_THROW_ON_NON_MONOTONIC_TIME_HIGH
  turns into an exception: the decoder here raises there;
- the header is the lines that start with ``% `` up to ``% end``; words before the first
  time-high are skipped.

faery 0.7.1 wrote lone VECT_12 and VECT_8 words and stepped time-high over long gaps by 1024 up
to a fall (0, 1024, 2048, 3072, 0), so Metavision lost about 14 % of the events of its files.
Also the reader's fixes: a time-high fall of exactly 2048 is a wrap, as openeb counts it, and
a header line is one that starts with ``% `` (a data byte 0x25 after a header without
``% end`` was taken for a header line, and the events after it were lost).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from eventsim.events import EVENT_DTYPE
from eventsim.io import evt3, open_events
from eventsim.io.formats import write_events, write_stream

SIZE = (1280, 720)
T0 = 1_700_000_000_123_456  # an epoch-like first time, in us


class NonMonotonicTimeHigh(Exception):
    pass


def _openeb_header(data: bytes) -> tuple[dict[str, str], int]:
    """openeb's GenericHeader: '% key value' lines, up to '% end' or the first other line."""
    fields: dict[str, str] = {}
    pos = 0
    while data.startswith(b"% ", pos):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end + 1
        words = data[pos + 2 : end].decode("latin-1").split()
        pos = end
        if words and words[0] == "end":
            break
        if words:
            fields[words[0]] = " ".join(words[1:])
    return fields, pos


def _openeb_decode(data: bytes, strict: bool = True) -> np.ndarray:
    """The CD events openeb's EVT 3.0 decoder gives (time shifting off), plus '% t0';
    ``strict``: raise at a NonMonotonicTimeHigh (else, as openeb, only count the wraps)."""
    fields, start = _openeb_header(data)
    options = dict(o.split("=") for o in fields["format"].split(";")[1:])
    height = int(options["height"])
    words = np.frombuffer(data[start:], dtype="<u2").tolist()
    out: list[tuple[int, int, int, int]] = []
    loop = high = low = 0
    state = {0: 0, 1: 0, 3: 0, 5: 0, 6: 0}  # by type: the last content of the plain words
    is_cd = is_valid = False
    i = 0
    # openeb starts at the first time-high word, its high one less (so it decodes as a step)
    while i < len(words) and words[i] >> 12 != 0x8:
        i += 1
    if i < len(words):
        high = max((words[i] & 0xFFF) - 1, 0)
    while i < len(words):
        w = words[i]
        kind, content = w >> 12, w & 0xFFF
        t = (loop << 24) | (high << 12) | low
        if kind == 0x2:  # EVT_ADDR_X
            if is_valid:
                out.append((t, w & 0x7FF, state[0], (w >> 11) & 1))
            i += 1
        elif kind == 0x4:  # VECT_12: a 12-12-8 group, whatever the next two words are
            if i + 3 > len(words):
                break
            if is_valid:
                mask = (
                    (words[i] & 0xFFF)
                    | ((words[i + 1] & 0xFFF) << 12)
                    | ((words[i + 2] & 0xFF) << 24)
                )
                base = state[3] & 0x7FF
                for bit in range(32):
                    if mask >> bit & 1:
                        out.append((t, base + bit, state[0], state[3] >> 11))
            state[3] += 32
            i += 3
        elif kind == 0x8:  # EVT_TIME_HIGH
            if strict and not (high == 0xFFF and content == 0):
                if content < high and not (content - high + 0xFFF) < 0xFF:
                    raise NonMonotonicTimeHigh(f"word {i}: time-high {high} -> {content}")
            loop += high >= 2048 + content
            low = low if high == content else 0
            high = content
            i += 1
        elif kind in (0xA, 0xE):  # EXT_TRIGGER, OTHERS: no CD event (eventsim writes none)
            i += 1
        else:  # EVT_ADDR_Y, VECT_BASE_X, VECT_8, EVT_TIME_LOW, ...: a state, no event
            state[kind] = content
            is_cd = is_cd if kind >= 2 else kind == 0
            is_valid = is_cd and state[0] < height
            if kind == 0x6:
                low = content
            i += 1
    ev = np.zeros(len(out), dtype=EVENT_DTYPE)
    if out:
        cols = np.array(out, dtype=np.int64)
        ev["t"] = cols[:, 0] + int(fields.get("t0", 0))
        ev["x"], ev["y"], ev["p"] = cols[:, 1], cols[:, 2], cols[:, 3]
    return ev


def _random_events(n: int, seed: int) -> np.ndarray:
    """Sorted events on `SIZE` with many equal times, both polarities and long gaps: past the
    24-bit range (16.78 s), past several wraps, ending at each side of a wrap."""
    rng = np.random.default_rng(seed)
    step = rng.choice([0, 0, 0, 1, 3, 40, 700, 5000], size=n)
    big = rng.choice(n, size=12, replace=False)
    step[big] = [
        1 << 24,
        (1 << 24) + 1,
        3 * (1 << 24) + 7,
        (1 << 26) + 4095,
        2048 << 12,
        (2048 << 12) + 1,
        4095 << 12,
        4096 << 12,
        (4097 << 12) - 1,
        10**9,
        123_456_789,
        7 * (1 << 24) - 1,
    ]
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["t"] = T0 + np.cumsum(step) - step[0]
    ev["x"] = rng.integers(0, SIZE[0], n)
    # runs of one row as a sensor's readout gives them, and single rows
    ev["y"] = np.where(rng.random(n) < 0.5, (np.arange(n) // 7) % SIZE[1], rng.integers(0, 720, n))
    ev["p"] = rng.integers(0, 2, n)
    return ev


def _time_highs(data: bytes) -> np.ndarray:
    words = np.frombuffer(data[_openeb_header(data)[1] :], dtype="<u2")
    return (words[words >> 12 == 0x8] & 0xFFF).astype(np.int64)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    ev = _random_events(200_000, 346)
    path = tmp_path_factory.mktemp("evt3") / "random.raw"
    # packets cut anywhere, equal times across a cut included
    cuts = [0, 1, 2, 999, 1000, 65_536, 150_001, len(ev)]
    write_stream(path, [ev[a:b] for a, b in itertools.pairwise(cuts)], SIZE)
    return ev, path


def test_openeb_decodes_every_event_exactly(written):
    ev, path = written
    got = _openeb_decode(path.read_bytes())
    assert len(got) == len(ev)
    np.testing.assert_array_equal(got, ev)


def test_time_high_steps_under_2048_and_falls_only_at_wraps(written):
    ev, path = written
    highs = _time_highs(path.read_bytes())
    step = np.diff(highs)
    assert step.max() < 2048
    falls = np.flatnonzero(step < 0)
    assert falls.size == (ev["t"][-1] - ev["t"][0]) >> 24  # one at each wrap
    assert np.all(highs[falls] == 4095) and np.all(highs[falls + 1] == 0)


def test_only_single_event_words(written):
    _, path = written
    data = path.read_bytes()
    kinds = set((np.frombuffer(data[_openeb_header(data)[1] :], dtype="<u2") >> 12).tolist())
    assert kinds == {0x0, 0x2, 0x6, 0x8}  # ADDR_Y, ADDR_X, TIME_LOW, TIME_HIGH


def test_header(written):
    _, path = written
    fields, length = _openeb_header(path.read_bytes())
    assert fields["format"] == "EVT3;height=720;width=1280"
    assert fields["evt"] == "3.0"
    assert fields["t0"] == str(T0)
    assert path.read_bytes()[:length].endswith(b"% end\n")
    header = evt3.read_header(path)
    assert (header.version, header.size, header.t0_us, header.length) == ("3", SIZE, T0, length)


def test_eventsim_reads_it_back_exactly(written):
    ev, path = written
    with open_events(path) as r:
        got = r.read()
        assert r.sensor_size == SIZE
    np.testing.assert_array_equal(got, ev)
    np.testing.assert_array_equal(evt3.read_evt3(path, SIZE), ev)
    assert not evt3.faery_misreads(path, evt3.read_header(path), *SIZE)


def test_faery_reads_it_back_exactly(written):
    import faery

    ev, path = written
    got = np.concatenate(list(faery.events_stream_from_file(path)))
    np.testing.assert_array_equal(got["t"].astype(np.int64), ev["t"])
    np.testing.assert_array_equal(got["x"], ev["x"])
    np.testing.assert_array_equal(got["y"], ev["y"])
    np.testing.assert_array_equal(got["on"], ev["p"] == 1)


def _faery_file(path, ev):
    import faery
    from faery.events_stream import EVENTS_DTYPE

    out = np.empty(len(ev), dtype=EVENTS_DTYPE)
    out["t"], out["x"], out["y"], out["on"] = ev["t"], ev["x"], ev["y"], ev["p"] == 1
    faery.events_stream_from_array(out, dimensions=SIZE).to_file(path, version="evt3")
    return path


def test_the_decoder_here_misreads_faerys_files_as_openeb_does(tmp_path):
    """The model of openeb above sees what the review saw in faery's files; eventsim still
    reads such (old) files back exactly."""
    # ten neighbouring events of a row at one time, which faery writes as a lone VECT_12
    rng = np.random.default_rng(7)
    dense = np.zeros(20_000, dtype=EVENT_DTYPE)
    dense["t"] = np.arange(20_000) // 20 * 50
    dense["y"] = np.arange(20_000) // 10 % SIZE[1]
    dense["x"] = np.arange(20_000) % 10 + np.repeat(rng.integers(0, 1200, 2000), 10)
    dense["p"] = np.arange(20_000) // 10 % 2
    path = _faery_file(tmp_path / "dense.raw", dense)
    got = _openeb_decode(path.read_bytes())
    assert len(got) != len(dense) or not np.array_equal(got, dense)
    with open_events(path) as r:
        np.testing.assert_array_equal(r.read(), dense)

    gaps = _random_events(20_000, 8)
    gaps["t"] -= T0 - 10**6
    path = _faery_file(tmp_path / "gaps.raw", gaps)
    with pytest.raises(NonMonotonicTimeHigh):
        _openeb_decode(path.read_bytes())
    with open_events(path) as r:
        np.testing.assert_array_equal(r.read(), gaps)


def test_empty_and_one_event(tmp_path):
    path = write_events(tmp_path / "empty.raw", np.zeros(0, dtype=EVENT_DTYPE), SIZE)
    assert _openeb_header(path.read_bytes())[1] == len(path.read_bytes())
    with open_events(path) as r:
        assert len(r.read()) == 0
    one = np.zeros(1, dtype=EVENT_DTYPE)
    one["t"], one["x"], one["y"], one["p"] = 5, 1279, 719, 1
    path = write_events(tmp_path / "one.raw", one, SIZE)
    np.testing.assert_array_equal(_openeb_decode(path.read_bytes()), one)
    with open_events(path) as r:
        np.testing.assert_array_equal(r.read(), one)


def _raw(tmp_path, words: list[int], header: bytes) -> object:
    path = tmp_path / "w.raw"
    path.write_bytes(header + np.asarray(words, dtype="<u2").tobytes())
    return path


HEADER = b"% evt 3.0\n% format EVT3;height=720;width=1280\n% t0 0\n"


def test_a_time_high_fall_of_2048_is_a_wrap_as_openeb_counts_it(tmp_path):
    # time-high 2048, an event, time-high 0 (a fall of exactly half the range), an event
    path = _raw(tmp_path, [0x8800, 0x6000, 0x0001, 0x2001, 0x8000, 0x6005, 0x2002], HEADER)
    want = [2048 << 12, (1 << 24) + 5]
    # (openeb's validator flags this fall, but its decoder counts the wrap)
    assert _openeb_decode(path.read_bytes(), strict=False)["t"].tolist() == want
    assert evt3.read_evt3(path, SIZE)["t"].tolist() == want
    with open_events(path) as r:
        assert r.read()["t"].tolist() == want


def test_data_starting_with_a_percent_byte_after_a_header_without_end(tmp_path):
    # words 0x8025 (time-high 37: bytes 25 80, '%' first), 0x600a (bytes 0a 60: a newline),
    # then an event: openeb's header ends at the first line that does not start with '% '
    path = _raw(tmp_path, [0x8025, 0x600A, 0x0001, 0x2003], HEADER)
    assert evt3.read_header(path).length == len(HEADER)
    want = [(3, 1, 37 * 4096 + 10, 0)]
    assert _openeb_decode(path.read_bytes()).tolist() == want
    with open_events(path) as r:
        assert r.read().tolist() == want


def test_end_line_with_text_after_its_key_ends_the_header(tmp_path):
    # openeb reads the first word after '% ' as the key, so '% end' with more on its line ends
    # the header; the data after it here start '% \n' (words 0x2025, 0x800a), no header line
    end = b"% end of header\n"
    path = _raw(tmp_path, [0x2025, 0x800A, 0x6001, 0x0002, 0x2004], HEADER + end)
    assert _openeb_header(path.read_bytes())[1] == len(HEADER + end)
    assert evt3.read_header(path).length == len(HEADER + end)


def test_bytes_do_not_depend_on_packets_or_slices(tmp_path, monkeypatch):
    from eventsim.io import formats

    ev = _random_events(5_000, 9)
    one = write_events(tmp_path / "one.raw", ev, SIZE).read_bytes()
    monkeypatch.setattr(formats, "_EVT3_SLICE", 7)
    cut = tmp_path / "cut.raw"
    write_stream(cut, [ev[:1], ev[1:2500], ev[2500:]], SIZE)
    assert cut.read_bytes() == one
    np.testing.assert_array_equal(_openeb_decode(one), ev)


# -- review (helper 349): the encoder's numpy against a word-by-word statement of its rule ------
_GRID = (0, 1365, 2730, 4095)


def _reference_words(ev: np.ndarray, t0: int) -> list[int]:
    """The words `Evt3Encoder` writes, event by event: over a step of time-high, the grid's
    values after the last one written (from 0 for the first), then the event's; time-low and
    row where they change; the column."""
    out: list[int] = []
    last_high, last_t, last_y = -1, None, None
    for t_abs, x, y, p in zip(*(ev[k].tolist() for k in "txyp"), strict=True):
        t = t_abs - t0
        high = t >> 12
        if high != last_high:
            grid = (
                q * 4096 + r
                for q in range(max(last_high, 0) >> 12, (high >> 12) + 1)
                for r in _GRID
            )
            out += [0x8000 | g & 0xFFF for g in grid if last_high < g < high]
            out.append(0x8000 | high & 0xFFF)
        if t != last_t:
            out.append(0x6000 | t & 0xFFF)
        if y != last_y:
            out.append(y)
        out.append(0x2000 | p << 11 | x)
        last_high, last_t, last_y = high, t, y
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_encoder_writes_the_words_of_its_rule(seed):
    ev = _random_events(3_000, seed)
    cuts = sorted({0, len(ev), *np.random.default_rng(seed).integers(0, len(ev), 4).tolist()})
    encoder = evt3.Evt3Encoder(T0)
    got = np.concatenate([encoder.encode(ev[a:b]) for a, b in itertools.pairwise(cuts)])
    assert got.tolist() == _reference_words(ev, T0)


@pytest.mark.parametrize("start", [1, 4095, 4096, 3 * (1 << 12) + 7, 5 * (1 << 24) + 12_345])
def test_a_first_event_long_after_t0_keeps_its_wraps(tmp_path, start):
    # Evt3Encoder(t0) of events starting 16.78 s or more after t0 wrote the first time-high
    # alone, so every decoder lost the wraps before it (read 2**24 us early, or more)
    ev = _random_events(500, 5)
    ev["t"] += start
    words = evt3.Evt3Encoder(T0).encode(ev)
    assert words.tolist() == _reference_words(ev, T0)
    path = tmp_path / "late.raw"
    path.write_bytes(evt3.evt3_header(SIZE, T0) + words.tobytes())
    np.testing.assert_array_equal(_openeb_decode(path.read_bytes()), ev)
    np.testing.assert_array_equal(evt3.read_evt3(path, SIZE), ev)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("x", 2048, "x as 0 to 2047; an event has x = 2048"),
        ("y", 2048, "y as 0 to 2047; an event has y = 2048"),
        ("x", -1, "x = -1"),
        ("p", 2, "p as 0 to 1; an event has p = 2"),
        ("t", T0 - 1, f"event 3 has t = {T0 - 1} us, before"),
    ],
)
def test_encoder_refuses_what_its_words_cannot_carry(field, value, match):
    # x 2048 set the polarity bit, p 2 turned the column into a VECT_BASE_X word, y 2048 set
    # the slave-camera bit, a time before the last one a wrap: all written without a word
    from eventsim.errors import InvalidEventsError

    ev = _random_events(50, 4)
    ev[field][3] = value
    with pytest.raises(InvalidEventsError, match=match):
        evt3.Evt3Encoder(T0).encode(ev)
    # and across the encoder's calls
    encoder = evt3.Evt3Encoder(T0)
    encoder.encode(ev[-1:])
    early = ev[-1:].copy()
    early["t"] -= 1
    with pytest.raises(InvalidEventsError, match=f"event 0 has t = {early['t'][0]} us, before"):
        encoder.encode(early)


def test_evt3_is_written_and_read_without_faery(tmp_path, monkeypatch):
    import sys

    from eventsim.errors import MissingDependencyError, ParameterError
    from eventsim.io.formats import format_from_path

    monkeypatch.setitem(sys.modules, "faery", None)
    ev = _random_events(2_000, 6)
    path = write_events(tmp_path / "a.raw", ev, SIZE)
    with open_events(path) as r:
        np.testing.assert_array_equal(r.read(), ev)
        assert r.sensor_size == SIZE
    # EVT 2.0 still needs faery, and an evt3 file still needs its suffix (read by it alone)
    with pytest.raises(MissingDependencyError, match=r"eventsim\[formats\]"):
        write_events(tmp_path / "b.raw", ev, SIZE, fmt="evt2")
    with pytest.raises(ParameterError, match=r"writes \.raw or \.evt files"):
        format_from_path(tmp_path / "c.bin", "evt3")


def test_convert_help_says_evt3_needs_no_extra():
    from eventsim.cli.convert import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "Writing AEDAT4, EVT 2.0, DAT, ES and CSV needs eventsim[formats]" in text
    assert "EVT 3.0 is written and read without it" in text


def test_events_before_the_first_time_high_read_at_time_high_0(tmp_path):
    # no eventsim or faery file has any; faery reads them so, and so does eventsim's decoder,
    # so that a file reads alike whichever decodes it (openeb skips them)
    header = b"% evt 3.0\n% format EVT3;height=720;width=1280\n% t0 100\n% end\n"
    path = _raw(tmp_path, [0x0003, 0x6005, 0x2004, 0x8001, 0x6000, 0x0003, 0x2007], header)
    assert evt3.read_evt3(path, SIZE).tolist() == [(4, 3, 105, 0), (7, 3, 4196, 0)]
    assert _openeb_decode(path.read_bytes()).tolist() == [(7, 3, 4196, 0)]
