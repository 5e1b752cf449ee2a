"""Second look at I/O review 7 (b16f03c, 7a5967c, 2345c18, e5af4e8, 78e7fcf, 353227f).

- A layout forced with ``layout=`` / ``--layout`` (csv, txt, npy...) was not used for a file
  with an HDF5 suffix: a CSV named ``.h5`` given ``--layout csv`` was read as HDF5 and called
  corrupt. An HDF5 file forced to a layout that is not HDF5 was read as HDF5 without a word.
- Layout names were taken in lower case only ('CSV', 'DSEC' unknown), where ``--to`` takes any.
- `EventReader`'s open-file bookkeeping: a close run by a signal handler between a read's check
  of ``closed`` and its count let the read go on over the closed file (h5py's bare 'Invalid
  dataset identifier'), and one run between the total and the per-thread count waited forever.
- EVT 3.0 read by faery and by eventsim's decoder (for the files faery misreads) disagreed on
  vectors past the sensor's width: faery dropped their events without a word (and put the next
  vector's first event on the last column), eventsim refused the file; without a size in the
  header faery took 1280x720 and refused any event past it, eventsim the 2048 addresses.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import EventFileError, UnknownLayoutError
from eventsim.events import EVENT_DTYPE
from eventsim.io import EventWriter, evt3, open_events

CSV = b"t,x,y,p\n5,1,2,1\n9,3,4,0\n"


def _own_h5(path: Path) -> Path:
    ev = np.zeros(3, EVENT_DTYPE)
    ev["t"] = [1, 2, 3]
    with EventWriter(path, (4, 4)) as w:
        w.write(ev)
    return path


# -- forced layouts ------------------------------------------------------------------------------
def test_a_forced_layout_reads_a_file_with_an_hdf5_suffix(tmp_path):
    csv = tmp_path / "events.h5"
    csv.write_bytes(CSV)
    with open_events(csv, layout="csv") as r:
        assert r.layout == "csv" and r.read()["t"].tolist() == [5, 9]
    txt = tmp_path / "events.hdf5"
    txt.write_bytes(b"0.000005 1 2 1\n0.000009 3 4 0\n")
    with open_events(txt, layout="txt") as r:
        assert r.layout == "txt" and r.read()["t"].tolist() == [5, 9]
    npy = tmp_path / "events.hdf"
    ev = np.zeros(2, EVENT_DTYPE)
    ev["t"] = [5, 9]
    with open(npy, "wb") as fh:
        np.save(fh, ev)
    with open_events(npy, layout="npy") as r:
        assert r.layout == "npy" and r.read()["t"].tolist() == [5, 9]


def test_an_hdf5_file_forced_to_a_layout_that_is_not_hdf5_is_refused(tmp_path):
    path = _own_h5(tmp_path / "own.h5")
    for layout in ("csv", "npy", "txt", "faery"):
        with pytest.raises(UnknownLayoutError, match=f"HDF5 file, which the '{layout}' layout"):
            open_events(path, layout=layout)


def test_layout_names_are_taken_in_any_case(tmp_path):
    path = _own_h5(tmp_path / "own.h5")
    for layout in ("DSEC", "Eventsim"):
        with open_events(path, layout=layout) as r:
            assert len(r) == 3
    csv = tmp_path / "events.log"
    csv.write_bytes(CSV)
    with open_events(csv, layout="CSV") as r:
        assert r.layout == "csv"


def test_cli_layout_csv_reads_a_csv_named_h5(tmp_path, capsys):
    csv = tmp_path / "events.h5"
    csv.write_bytes(CSV)
    rc = eventsim_main(["info", str(csv), "--layout", "csv"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "csv" in out


# -- close by a signal handler at any point of a read's bookkeeping ------------------------------
_RACE = """
import sys
import numpy as np
from eventsim.errors import EventFileError
from eventsim.io import EventReader
from eventsim.io.hdf5_reader import _OpenFile

path = sys.argv[1]
with EventReader(path) as plain:
    want = plain.read_index(5, 500)
bookkeeping = {_OpenFile.__enter__.__code__, _OpenFile.__exit__.__code__}
k = 0
while True:
    r = EventReader(path)
    seen, fired = [0], [False]

    def local(frame, event, arg):
        # what a signal handler closing the reader does, run before the k-th line
        if event == "line" and not fired[0]:
            if seen[0] == k:
                fired[0] = True
                r.close()
            seen[0] += 1
        return local

    def trace(frame, event, arg):
        return local if frame.f_code in bookkeeping else None

    sys.settrace(trace)
    try:
        outcome = "same" if np.array_equal(r.read_index(5, 500), want) else "different"
    except EventFileError as exc:
        outcome = "refused" if "is closed" in str(exc) else repr(exc)
    except Exception as exc:
        outcome = repr(exc).replace(" ", "_")
    finally:
        sys.settrace(None)
    if not fired[0]:
        break
    print(outcome, "closed" if not r._f.id.valid else "open", flush=True)
    k += 1
print("lines", k)
"""


def test_a_close_at_any_line_of_a_reads_bookkeeping_neither_hangs_nor_breaks_the_read(tmp_path):
    ev = np.zeros(2000, EVENT_DTYPE)
    ev["t"] = np.arange(2000)
    ev["x"] = np.arange(2000) % 64
    path = tmp_path / "ev.h5"
    with EventWriter(path, (64, 48)) as w:
        w.write(ev)
    script = tmp_path / "race.py"
    script.write_text(textwrap.dedent(_RACE))
    try:
        # the timeout only ends a hung child (the bug): the outcome does not depend on it
        done = subprocess.run(
            [sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a close between a read's counts waited forever")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[-2].startswith("lines ") and int(lines[-2].split()[1]) > 4, done.stdout
    for line in lines[:-2]:
        outcome, state = line.split()
        # a close before the read is counted refuses it; after, the read ends as it would have
        assert outcome in ("same", "refused") and state == "closed", done.stdout


# -- EVT 3.0: faery and eventsim's decoder agree ------------------------------------------------
_NO_SIZE = b"% evt 3.0\n% end\n"
_SIZE = b"% evt 3.0\n% format EVT3;height=720;width=1280\n% end\n"


def _evt3(path: Path, header: bytes, base: int, vector: int = 0xFFF) -> Path:
    # time high, time low, y = 5, vector base x (polarity 1), a 12-event vector
    words = [8 << 12, 6 << 12 | 1, 5, 3 << 12 | 1 << 11 | base, 4 << 12 | vector]
    path.write_bytes(header + np.array(words, "<u2").tobytes())
    return path


def _outcome(read) -> str | list[int]:
    try:
        return read()["x"].tolist()
    except EventFileError as exc:
        return str(exc)


@pytest.mark.parametrize(
    ("header", "base"), [(_NO_SIZE, 2040), (_SIZE, 2040), (_SIZE, 1275), (_NO_SIZE, 1275)]
)
@pytest.mark.parametrize("given", [None, (1280, 720)])
def test_evt3_vectors_past_the_sensor_read_alike_by_faery_and_eventsim(
    tmp_path, header, base, given
):
    pytest.importorskip("faery")
    path = _evt3(tmp_path / "v.raw", header, base)

    def by_open_events():
        with open_events(path, sensor_size=given) as r:
            return r.read()

    h = evt3.read_header(path)
    # eventsim's decoder, which read_faery uses for the files faery misreads
    ours = _outcome(lambda: evt3.read_evt3(path, h.size or given, h))
    assert _outcome(by_open_events) == ours
    if isinstance(ours, str):
        assert "an event has x = " in ours


def test_evt3_without_a_size_reads_events_past_faerys_1280x720(tmp_path):
    pytest.importorskip("faery")
    path = tmp_path / "wide.raw"
    # single events (EVT_ADDR_X) at x = 1500, y = 900
    words = [8 << 12, 6 << 12 | 1, 900, 2 << 12 | 1 << 11 | 1500, 2 << 12 | 20]
    path.write_bytes(_NO_SIZE + np.array(words, "<u2").tobytes())
    with open_events(path) as r:
        ev = r.read()
        assert ev["x"].tolist() == [1500, 20] and ev["y"].tolist() == [900, 900]
        assert r.sensor_size == (1501, 901) and r.sensor_size_inferred


def test_faery_misreads_finds_vectors_past_the_width_across_chunks(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    kinds = rng.choice([0, 2, 3, 4, 5, 6], 3000, p=[0.05, 0.1, 0.15, 0.5, 0.15, 0.05])
    values = rng.integers(0, 1 << 12, kinds.size)
    values[kinds == 3] = rng.integers(0, 1100, (kinds == 3).sum())  # bases, polarity 0
    # no single events: faery lets them place the vectors after them (tests/test_evt_review7.py)
    kinds[kinds == 2] = 0
    words = (kinds << 12 | values).astype("<u2")
    header = evt3.Evt3Header(None, None, 0, 0)
    x = evt3._decode_chunk(words.astype(np.int64), evt3._State())[1]
    for chunk in (7, 64, 1 << 20):
        monkeypatch.setattr(evt3, "_CHUNK_WORDS", chunk)
        for stop in (50, 400, 3000):
            path = tmp_path / f"w{stop}.raw"
            path.write_bytes(words[:stop].tobytes())
            reach = evt3._decode_chunk(words[:stop].astype(np.int64), evt3._State())[1].max()
            for width in (reach - 1, reach, reach + 1):
                assert evt3.faery_misreads(path, header, int(width)) == (reach >= width)
    assert x.max() > 1100  # vectors ran on past the bases


# -- int64's least value as a time -------------------------------------------------------------
@pytest.mark.parametrize("unit", ["s", "ms"])
def test_the_least_int64_time_in_seconds_is_refused_not_wrapped(tmp_path, unit):
    path = tmp_path / "least.csv"
    path.write_bytes(f"t_{unit},x,y,p\n-9223372036854775808,1,2,1\n".encode())
    # np.abs of it is itself, negative: it passed the range check and wrapped to 0 us
    with pytest.raises(EventFileError, match="line 2: time -9223372036854775808 is too large"):
        open_events(path)


def test_the_least_int64_time_in_nanoseconds_keeps_its_sign(tmp_path):
    path = tmp_path / "least_ns.csv"
    path.write_bytes(b"t_ns,x,y,p\n-9223372036854775808,1,2,1\n-2500,1,2,1\n-3500,1,2,1\n")
    with open_events(path) as r:
        # sorted by time; -2.5 and -3.5 us round half to even
        assert r.read()["t"].tolist() == [-9223372036854776, -4, -2]


# -- format_extensions, public since b16f03c ------------------------------------------------------
def test_format_extensions_refuses_an_unknown_format_by_name_and_takes_any_case():
    from eventsim.errors import ParameterError
    from eventsim.io.formats import format_extensions

    assert format_extensions("EVQA") == (".h5", ".hdf5")
    with pytest.raises(ParameterError, match=r"format 'bogus' is unknown; valid: .*evqa"):
        format_extensions("bogus")
