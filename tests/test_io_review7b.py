"""Review 7b of the writers and text readers: CSV errors name the file's line, times near the
int64 limit, typed errors for outputs that cannot be made, a reader's error kept as it is by
the faery writers, EVT 3.0 vectors past the last address, round trips of every format."""

import errno
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import EventFileError, EventsimError, InvalidEventsError
from eventsim.events import EVENT_DTYPE
from eventsim.io import FORMATS, open_events, write_stream
from eventsim.io.formats import format_extensions
from eventsim.io.text import TextLines, text_times_to_us

I64 = np.iinfo(np.int64).max
needs_faery = pytest.mark.skipif(
    importlib.util.find_spec("faery") is None, reason="needs eventsim[formats]"
)


def events(t, x=0, y=0, p=0) -> np.ndarray:
    ev = np.zeros(len(t), EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = t, x, y, p
    return ev


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- CSV errors name the line an editor shows ------------------------------------------------
@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("2,abc,4,1", r"column x, line 9: 'abc' is not a number"),
        ("1.2.3,3,4,1", r", line 9: time '1\.2\.3' is not a number"),
        ("99999999999999999999,3,4,1", r", line 9: time '99999999999999999999' is too large"),
        ("2,3,4", r"line 9 holds 3 comma-separated fields \('2,3,4'\); expected 4"),
    ],
)
def test_csv_errors_name_the_line_of_the_file(tmp_path, bad_row, message):
    # blank lines before the header and between rows: 'data row 3' was the file's line 9
    path = tmp_path / "bad.csv"
    path.write_text(f"\n\nt,x,y,p\n\n1,2,3,1\r\n\n2,3,4,1\n\n{bad_row}\n5,3,4,1\n")
    with pytest.raises(EventFileError, match=message):
        open_events(path, sensor_size=(8, 8))


def test_a_too_large_integer_time_names_its_line(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("t_s,x,y,p\n1,2,3,1\n\n9999999999999999,3,4,1\n")
    with pytest.raises(EventFileError, match=r"line 4: time 9999999999999999 is too large"):
        open_events(path, sensor_size=(8, 8))


def test_text_lines_for_whitespace_tables():
    # rpg text: lines of blanks hold no row, a first 'width height' line is skipped
    raw = b"8 8\n\n0.1 1 2 1\n  \t\n0.2 1 2 1\n\n\n0.3 1 2 1"
    lines = TextLines(raw, 1, whitespace=True)
    assert [lines.line(r) for r in range(3)] == [3, 5, 8]
    assert TextLines(b"1,2\n\n3,4\n", 0).line(1) == 3
    # without a TextLines the row is named as before
    with pytest.raises(EventFileError, match=r"data row 2: time '1\.2\.3'"):
        text_times_to_us(np.array([b"1", b"1.2.3"]), "s", "t")


def test_a_csv_of_blank_lines_says_so(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\n  \n")
    with pytest.raises(EventFileError, match="holds only blank lines"):
        open_events(path, sensor_size=(8, 8))


# -- times near the int64 limit ----------------------------------------------------------------
def test_decimal_times_up_to_the_int64_limit_are_read():
    # refused as 'too large' from 9223372036853 s on, a second short of the limit
    got = text_times_to_us(
        np.array([b"9223372036854.775807", b"9223372036854.7758065", b"9223372036854.5"]),
        "s",
        "t",
    )
    assert got.tolist() == [I64, I64 - 1, I64 - 275807]
    got = text_times_to_us(
        np.array([b"9223372036854775806.4", b"1755187267636961234.5"]), "us", "t"
    )
    assert got.tolist() == [I64 - 1, 1755187267636961234]
    # nanoseconds with 19 digits and a fraction were 'too large' too
    assert text_times_to_us(np.array([b"1755187267636961234.5"]), "ns", "t").tolist() == [
        1755187267636961
    ]
    for bad in (b"9223372036854.775808", b"9223372036854.7758075", b"9223372036855.0"):
        with pytest.raises(EventFileError, match="too large for int64 microseconds"):
            text_times_to_us(np.array([b"1.5", bad]), "s", "t")


@pytest.mark.parametrize("fmt", ["txt", "evqa"])
def test_times_near_the_int64_limit_round_trip(tmp_path, fmt):
    # txt's reader refused them; evqa's base_time was beyond what its reader takes
    ev = events([I64 - 10, I64 - 5, I64], x=[0, 1, 2], p=[1, 0, 1])
    out = tmp_path / ("o.txt" if fmt == "txt" else "o.h5")
    write_stream(out, [ev], (4, 4), fmt=fmt)
    with open_events(out) as r:
        assert r.read().tolist() == ev.tolist()


def test_evqa_refuses_times_its_base_time_cannot_reach(tmp_path):
    out = tmp_path / "o.h5"
    with pytest.raises(InvalidEventsError, match=r"evqa cannot store t = -9223372036854775800"):
        write_stream(out, [events([-(I64 - 7), 0])], (4, 4), fmt="evqa")
    assert listing(tmp_path) == []


# -- outputs that cannot be made ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["o.h5", "o.npy", "o.txt", "o.npz"])
@pytest.mark.parametrize("under", ["", "sub/"])
def test_an_output_under_a_file_is_a_typed_error_naming_it(tmp_path, name, under):
    # h5: the cleanup's NotADirectoryError hid the writer's error; others: a bare
    # FileExistsError / NotADirectoryError
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / f"{under}{name}"
    with pytest.raises(EventFileError) as info:
        write_stream(out, [events([1, 2])], (4, 4))
    text = str(info.value)
    assert repr(str(out)) in text
    assert "a file is in the way" in text or "is a file, not a folder" in text
    assert ".tmp" not in text
    assert listing(tmp_path) == ["afile"]


def test_an_output_that_cannot_be_opened_names_the_output_not_its_temporary(tmp_path, monkeypatch):
    import eventsim.io.formats as formats

    def denied(file, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(file))

    monkeypatch.setattr(formats, "open", denied, raising=False)
    out = tmp_path / "o.npy"
    with pytest.raises(EventFileError, match=rf"cannot write '{out}': permission denied$"):
        write_stream(out, [events([1, 2])], (4, 4))
    assert listing(tmp_path) == []


def test_one_events_array_is_written_as_one_packet(tmp_path):
    ev = events([1, 2, 3], x=[0, 1, 2], p=[1, 0, 1])
    for name in ("o.npy", "o.h5"):
        # a TypeError (len() of unsized object) for .npy: its records were taken for packets
        assert write_stream(tmp_path / name, ev, (4, 4)) == 3
        with open_events(tmp_path / name) as r:
            assert r.read().tolist() == ev.tolist()


@needs_faery
@pytest.mark.parametrize("name", ["o.aedat4", "o.raw", "o.es"])
def test_a_failing_input_is_not_reported_as_faery_failing(tmp_path, name):
    def packets():
        yield events(np.arange(1000))
        raise OSError(errno.EIO, "Can't read data (damaged chunk)", "in.h5")

    with pytest.raises(OSError) as info:
        write_stream(tmp_path / name, packets(), (4, 4))
    assert "faery" not in str(info.value)
    assert info.value.filename == "in.h5"
    assert listing(tmp_path) == []


# -- convert --help without a private name -----------------------------------------------------
def test_format_extensions_and_convert_help(capsys):
    assert format_extensions("v2e") == (".h5", ".hdf5")
    assert format_extensions("evt2") == (".raw", ".evt")
    assert format_extensions("npy") == (".npy",)
    assert eventsim_main(["convert", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "v2e (.h5, .hdf5 with --to v2e)" in text
    assert "evt2 (.raw, .evt with --to evt2)" in text


# -- EVT 3.0 ------------------------------------------------------------------------------------
def _evt3_words(*words: int) -> bytes:
    return np.array(words, "<u2").tobytes()


def test_evt3_vectors_past_the_last_address_are_refused(tmp_path):
    # a header without a size and a long run of vectors: x went past 32767 and wrapped to
    # negative int16, and the size inferred from it was 32768 wide
    high, low, addr_y, addr_x, base_x, vect_12 = 8 << 12, 6 << 12, 0, 2 << 12, 3 << 12, 4 << 12
    # time-high falls from 4000 to 10: a wrap faery misreads, so eventsim's decoder reads it
    body = _evt3_words(high | 4000, low | 1, addr_y | 1, addr_x | 1, high | 10, addr_y | 2)
    path = tmp_path / "bad.raw"
    path.write_bytes(b"% evt 3.0\n" + body + _evt3_words(base_x | 2040, *[vect_12 | 0xFFF] * 3))
    with pytest.raises(EventFileError, match=r"x = 2075, outside the 2048 addresses of EVT 3\.0"):
        open_events(path)
    path.write_bytes(b"% evt 3.0\n" + body + _evt3_words(base_x | 100, vect_12 | 0b101))
    with open_events(path) as r:
        assert r.read()["x"].tolist() == [1, 100, 102]


# -- round trips ----------------------------------------------------------------------------------
_CASES = {
    "empty": (events([]), (10, 10)),
    "one": (events([5], [3], [4], [1]), (10, 10)),
    "corner": (events([1, 2], [2047, 0], [0, 2047], [1, 0]), (2048, 2048)),
    "int16": (events([1, 2], [32766, 0], [0, 32766], [1, 0]), (32767, 32767)),
    "wraps": (
        events([0, 17_000_000, 40_000_000, 40_000_001], [0, 1, 2, 3], p=[0, 1, 1, 0]),
        (4, 4),
    ),
    "epoch": (events([1_755_187_267_636_961, 1_755_187_267_636_962]), (4, 4)),
}


# what a format cannot hold is refused in one line saying what to write instead
_REFUSED = {
    ("dat", "empty"): "cannot hold zero events",
    ("es", "epoch"): "look like absolute",
}


@pytest.mark.parametrize("case", list(_CASES))
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_round_trips(tmp_path, fmt, case):
    ev, size = _CASES[case]
    if FORMATS[fmt].needs_faery and importlib.util.find_spec("faery") is None:
        pytest.skip("needs eventsim[formats]")
    out = tmp_path / ("o" + format_extensions(fmt)[0])
    refusal = _REFUSED.get((fmt, case))
    if refusal is None and max(size) > {"evt3": 2048, "evt2": 2048, "dat": 16384}.get(fmt, 32767):
        refusal = "does not fit: write .h5"
    if refusal is not None:
        with pytest.raises(EventsimError, match=refusal):
            write_stream(out, [ev], size, fmt=fmt)
        assert not out.exists()
        return
    assert write_stream(out, [ev], size, fmt=fmt) == len(ev)
    with open_events(out, sensor_size=size, layout="v2e" if fmt == "v2e" else None) as r:
        assert r.read().tolist() == ev.tolist()
        assert tuple(r.sensor_size) == size
