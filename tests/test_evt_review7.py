"""EVT 3.0 and DAT read alike by faery and by eventsim (review 7).

eventsim reads an EVT 3.0 file with faery unless `evt3.faery_misreads` finds an event faery
would read otherwise than Prophesee's EVT 3.0 specification (docs.prophesee.ai, EVT 3.0
format; openeb's decoder reads it so too); `evt3.read_evt3` decodes those. Both paths disagreed:

- A single event (EVT_ADDR_X) between a vector base (VECT_BASE_X) and its vectors: the spec's
  vectors start at the base, with its polarity, and the single event carries its own; faery
  let the single event move the vectors after it to its x and polarity.
- A vector base past the sensor's width, or a row (EVT_ADDR_Y) past its height, that no event
  uses: faery refused the file at the word, eventsim's decoder read it (the spec's events are
  where the vectors' bits and single events put them; a base or row is none).
- A first time-high of 4094 or 4095 (faery starts from 0 and ignores a step that large: every
  time was 16.77 s early), and a time-high that falls without wrapping (faery keeps the old).
- A DAT file without a size in its header got faery's 1280x720 (events past it refused; the
  size reported as the file's); it is now read within DAT's 14-bit addresses, size inferred.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventsim.errors import EventFileError
from eventsim.events import EVENT_DTYPE
from eventsim.io import evt3, open_events, write_events

ADDR_Y, ADDR_X, BASE, VECT_12, VECT_8, LOW, HIGH = (
    0,
    2 << 12,
    3 << 12,
    4 << 12,
    5 << 12,
    6 << 12,
    8 << 12,
)
ON = 1 << 11
SIZED = b"% evt 3.0\n% format EVT3;height=720;width=1280\n% end\n"
BARE = b"% evt 3.0\n% end\n"


def _evt3_words(*words: int) -> bytes:
    return np.array(words, "<u2").tobytes()


def _write(path: Path, header: bytes, *words: int) -> Path:
    path.write_bytes(header + _evt3_words(*words))
    return path


def _read(path: Path, **kw) -> np.ndarray | str:
    try:
        with open_events(path, **kw) as r:
            return r.read()
    except EventFileError as exc:
        return str(exc)


def _ours(path: Path, size: tuple[int, int] | None = None) -> np.ndarray | str:
    header = evt3.read_header(path)
    try:
        return evt3.read_evt3(path, header.size or size, header)
    except EventFileError as exc:
        return str(exc)


def _same(a: np.ndarray | str, b: np.ndarray | str) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        # both refuse (each path says so in its own words)
        return isinstance(a, str) and isinstance(b, str)
    return a.tolist() == b.tolist()


# -- a single event between a vector base and its vectors --------------------------------------
@pytest.mark.parametrize("header", [SIZED, BARE])
def test_a_single_event_does_not_move_the_vectors_after_it(tmp_path, header):
    pytest.importorskip("faery")
    # base x = 100 (on), a single off event at x = 7, then a 12- and an 8-bit vector
    path = _write(
        tmp_path / "v.raw",
        header,
        *(HIGH | 1, LOW | 1, ADDR_Y | 5, BASE | ON | 100, ADDR_X | 7, VECT_12 | 0b101, VECT_8 | 1),
    )
    ev = _read(path)
    assert not isinstance(ev, str), ev
    # faery read x 7, 7, 9, 19, all off
    assert ev["x"].tolist() == [7, 100, 102, 112] and ev["p"].tolist() == [0, 1, 1, 1]
    assert _same(ev, _ours(path))


@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 20])
def test_faery_misreads_finds_a_single_event_before_vectors_across_chunks(
    tmp_path, monkeypatch, chunk
):
    monkeypatch.setattr(evt3, "_CHUNK_WORDS", chunk)
    header = evt3.Evt3Header(None, None, 0, 0)
    path = tmp_path / "w.raw"
    start = (HIGH | 1, LOW | 1, ADDR_Y | 5)
    path.write_bytes(_evt3_words(*start, BASE | 100, ADDR_X | 7, VECT_8 | 0, VECT_12 | 1))
    assert evt3.faery_misreads(path, header)
    # a single event before the base, or before vectors without events, places nothing
    path.write_bytes(_evt3_words(*start, ADDR_X | 7, BASE | 100, VECT_12 | 1, ADDR_X | 9))
    assert not evt3.faery_misreads(path, header)
    path.write_bytes(_evt3_words(*start, BASE | 100, ADDR_X | 7, VECT_12, BASE | 3, VECT_8 | 1))
    assert not evt3.faery_misreads(path, header)
    # one with the x and polarity the next vector has anyway places it alike
    path.write_bytes(_evt3_words(*start, BASE | ON | 100, VECT_8, ADDR_X | ON | 108, VECT_12 | 1))
    assert not evt3.faery_misreads(path, header)


# -- a vector base or row past the sensor that no event uses -----------------------------------
@pytest.mark.parametrize(
    ("header", "given"), [(SIZED, None), (BARE, (1280, 720)), (SIZED, (1280, 720))]
)
def test_a_base_or_row_past_the_sensor_without_events_is_read(tmp_path, header, given):
    pytest.importorskip("faery")
    start = (HIGH | 1, LOW | 1, ADDR_Y | 5, ADDR_X | 3)
    base = _write(tmp_path / "b.raw", header, *start, BASE | 1300, VECT_12, BASE | 10, VECT_8 | 1)
    row = _write(tmp_path / "r.raw", header, *start, ADDR_Y | 800, ADDR_Y | 6, ADDR_X | 4)
    for path, x, y in ((base, [3, 10], [5, 5]), (row, [3, 4], [5, 6])):
        ev = _read(path, sensor_size=given)
        # faery refused both: 'x overflow (x=1300 ...)', 'y overflow (y=800 ...)'
        assert not isinstance(ev, str), ev
        assert ev["x"].tolist() == x and ev["y"].tolist() == y
        assert _same(ev, _ours(path, given))
    # an event there is refused by both
    _write(tmp_path / "e.raw", header, *start, BASE | 1300, VECT_12 | 2)
    _write(tmp_path / "f.raw", header, *start, ADDR_Y | 800, ADDR_X | 4)
    for name, what in (("e", "x = 1301"), ("f", "y = 800")):
        refused = _read(tmp_path / f"{name}.raw", sensor_size=given)
        assert isinstance(refused, str) and f"an event has {what}, outside the 1280x720" in refused


# -- time-high steps faery ignores -------------------------------------------------------------
def test_a_first_time_high_near_the_wrap_and_a_falling_one_read_alike(tmp_path):
    pytest.importorskip("faery")
    first = _write(
        tmp_path / "first.raw",
        SIZED,
        *(HIGH | 4095, LOW | 5, ADDR_Y | 5, ADDR_X | 3, HIGH | 0, LOW | 7, ADDR_X | 4),
    )
    ev = _read(first)
    assert not isinstance(ev, str), ev
    # faery read t = 5 and 7: the first time-high ignored, the wrap after it missed
    assert ev["t"].tolist() == [4095 << 12 | 5, 1 << 24 | 7]
    falling = _write(
        tmp_path / "fall.raw",
        SIZED,
        *(HIGH | 100, LOW | 5, ADDR_Y | 5, ADDR_X | 3, HIGH | 99, LOW | 7, ADDR_X | 4),
    )
    for path in (first, falling):
        assert _same(_read(path), _ours(path))


# -- any stream: both paths give the same events -----------------------------------------------
def _random_stream(rng: np.random.Generator, n: int) -> np.ndarray:
    kinds = rng.choice(
        [ADDR_Y, ADDR_X, BASE, VECT_12, VECT_8, LOW, HIGH],
        n,
        p=[0.1, 0.08, 0.17, 0.25, 0.15, 0.12, 0.13],
    )
    values = rng.integers(0, 1 << 12, n)
    values[kinds == ADDR_Y] = rng.integers(0, 730, (kinds == ADDR_Y).sum())
    # coordinates mostly on a 1280-wide sensor, polarity random
    x = (kinds == ADDR_X) | (kinds == BASE)
    values[x] = rng.integers(0, 1290, x.sum()) | rng.integers(0, 2, x.sum()) << 11
    # time-high counts up by 0 or 1 from a random start, wrapping at 4095 -> 0
    high = kinds == HIGH
    values[high] = (rng.integers(0, 4096) + np.cumsum(rng.integers(0, 2, high.sum()))) % 4096
    return (kinds | values).astype("<u2")


@pytest.mark.parametrize("chunk", [5, 1 << 20])
def test_random_streams_read_alike_by_both_paths(tmp_path, monkeypatch, chunk):
    pytest.importorskip("faery")
    monkeypatch.setattr(evt3, "_CHUNK_WORDS", chunk)
    rng = np.random.default_rng(chunk)
    header = evt3.read_header(_write(tmp_path / "h.raw", SIZED))
    by_faery = 0
    for i in range(150):
        path = tmp_path / f"s{i}.raw"
        path.write_bytes(SIZED + _random_stream(rng, int(rng.integers(4, 40))).tobytes())
        ours = _ours(path)
        assert _same(_read(path), ours), path.read_bytes()[len(SIZED) :].hex()
        by_faery += not evt3.faery_misreads(path, header, 1280, 720)
    # both paths were taken often enough for the comparison to mean something
    assert 20 <= by_faery <= 130, by_faery


# -- DAT without a size ------------------------------------------------------------------------
def _dat_body(tmp_path: Path, x: list[int], y: list[int], size: tuple[int, int]) -> bytes:
    ev = np.zeros(len(x), EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = np.arange(len(x)) + 5, x, y, 1
    raw = write_events(tmp_path / "full.dat", ev, size, force=True).read_bytes()
    # faery's header ends with its '% T0' line
    return raw[raw.index(b"\n", raw.index(b"% T0")) + 1 :]


@pytest.mark.parametrize("header", [b"", b"% Version 2\n", b"% Date 2024-01-01 10:00:00\n"])
def test_a_dat_without_a_size_is_read_within_its_addresses(tmp_path, header):
    pytest.importorskip("faery")
    path = tmp_path / "bare.dat"
    path.write_bytes(
        header + _dat_body(tmp_path, [3, 1500, 16383], [4, 900, 16383], (16384, 16384))
    )
    with open_events(path) as r:
        ev = r.read()
        # faery's 1280x720 refused x = 1500 ('x overflow'); it was reported as the file's size
        assert ev["x"].tolist() == [3, 1500, 16383] and ev["y"].tolist() == [4, 900, 16383]
        assert r.sensor_size == (16384, 16384) and r.sensor_size_inferred
    path.write_bytes(header + _dat_body(tmp_path, [3, 10], [4, 7], (20, 10)))
    with open_events(path) as r:
        assert r.read()["x"].tolist() == [3, 10]
        assert r.sensor_size == (11, 8) and r.sensor_size_inferred
    with open_events(path, sensor_size=(640, 480)) as r:
        assert r.sensor_size == (640, 480) and not r.sensor_size_inferred
    # a size given is still the bound
    with pytest.raises(EventFileError, match="x overflow"):
        open_events(path, sensor_size=(8, 8))


def test_a_dat_with_a_size_reads_it(tmp_path):
    pytest.importorskip("faery")
    path = tmp_path / "sized.dat"
    path.write_bytes(
        b"% Version 2\n% Width 20\n% Height 10\n" + _dat_body(tmp_path, [3], [4], (20, 10))
    )
    with open_events(path) as r:
        assert r.read()["x"].tolist() == [3]
        assert r.sensor_size == (20, 10) and not r.sensor_size_inferred
