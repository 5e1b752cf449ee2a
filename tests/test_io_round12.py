"""Round 12 of reading, converting and rendering: EventReader's refusal of a file open_events
reads names open_events; times with fractions given as µs or ns, which rounding merges, are
refused by convert; a window of fractional bounds holding no whole µs is refused by every
read; a PNG drawn without --end-ms says what it left out; the README says what convert's CSV
holds."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.cli import main
from eventsim.errors import ArgumentValueError, EventFileError, UnknownLayoutError
from eventsim.events import EVENT_DTYPE, slice_time
from eventsim.io import EventReader, open_events
from eventsim.io.formats import write_events
from eventsim.io.text import MERGED_TIMES_NOTE

README = Path(__file__).resolve().parents[1] / "README.md"


def _events(n: int = 2000, span_us: int = 2_000_000) -> np.ndarray:
    rng = np.random.default_rng(12)
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["x"] = rng.integers(0, 64, n)
    ev["y"] = rng.integers(0, 48, n)
    ev["t"] = np.sort(rng.choice(span_us, n, replace=False))
    ev["p"] = rng.integers(0, 2, n)
    return ev


# ------------------------------------------------- 1. EventReader points to open_events
@pytest.mark.parametrize("name", ["clip.npy", "clip.txt", "clip.csv"])
def test_event_reader_sends_a_file_open_events_reads_there(tmp_path, name):
    path = tmp_path / name
    write_events(path, _events(), (64, 48))
    with pytest.raises(UnknownLayoutError, match=r"not HDF5.*eventsim\.io\.open_events\("):
        EventReader(path)
    with open_events(path) as r:  # as the message says
        assert len(r) == 2000


def test_an_npy_array_under_an_h5_name_is_told_its_layout(tmp_path):
    path = tmp_path / "clip.h5"
    np.save(path.with_suffix(".npy"), _events())
    path.with_suffix(".npy").rename(path)
    with pytest.raises(UnknownLayoutError, match=r"numpy \.npy array.*layout='npy'"):
        EventReader(path)
    with open_events(path, layout="npy") as r:
        assert len(r) == 2000


def test_event_reader_names_the_layout_of_a_v2e_file_and_open_events(tmp_path):
    path = tmp_path / "v2e.h5"
    write_events(path, _events(), (64, 48), fmt="v2e")
    with pytest.raises(UnknownLayoutError, match=r"the v2e layout.*eventsim\.io\.open_events"):
        EventReader(path)


def test_hdf5_of_no_known_layout_still_lists_its_keys(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["stuff"] = np.zeros(3)
    with pytest.raises(UnknownLayoutError, match=r"it has \['stuff'\]"):
        EventReader(path)


@pytest.mark.parametrize("name", ["bad.h5", "bad.npy"])
def test_a_damaged_file_is_still_called_truncated_or_corrupt(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".h5"):
        write_events(path, _events(), (64, 48))
        path.write_bytes(path.read_bytes()[:600])  # HDF5's signature, then cut short
    else:
        path.write_bytes(b"garbage, not an array at all")
    with pytest.raises(EventFileError, match="truncated or corrupt") as info:
        EventReader(path)
    assert "open_events" not in str(info.value)


# ------------------------------------- 2. fractional times given as µs or ns are refused
def _seconds_text(tmp_path: Path) -> Path:
    ev = _events()
    path = tmp_path / "clip.txt"
    path.write_text(
        "".join(f"{t / 1e6:.6f} {x} {y} {p}\n" for x, y, t, p in ev.tolist()), encoding="ascii"
    )
    return path


def _seconds_npy(tmp_path: Path) -> Path:
    ev = _events()
    path = tmp_path / "esim.npy"
    np.save(path, np.stack([ev["x"], ev["y"], ev["t"] / 1e6, ev["p"]], axis=1))
    return path


def _seconds_csv(tmp_path: Path) -> Path:
    ev = _events()
    path = tmp_path / "clip.csv"
    path.write_text(
        "t,x,y,p\n" + "".join(f"{t / 1e6:.6f},{x},{y},{p}\n" for x, y, t, p in ev.tolist()),
        encoding="ascii",
    )
    return path


@pytest.mark.parametrize(
    ("make", "extra"),
    [
        (_seconds_text, []),
        (_seconds_npy, ["--columns", "xytp"]),
        (_seconds_csv, []),
    ],
)
@pytest.mark.parametrize("unit", ["us", "ns"])
def test_convert_refuses_seconds_given_as_a_whole_number_unit(tmp_path, capsys, make, extra, unit):
    src = make(tmp_path)
    out = tmp_path / "o.h5"
    argv = ["convert", str(src), str(out), *extra, "--time-unit", unit]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "error:" in err and MERGED_TIMES_NOTE in err
    assert "likely in seconds: pass --time-unit s" in err
    assert "--allow-implausible-times" in err and not out.exists()
    # the escape converts them, with a warning
    assert main([*argv, "--allow-implausible-times"]) == 0
    assert "warning:" in capsys.readouterr().err and out.is_file()
    # and the unit named reads every time apart
    assert main([*argv[:-1], "s", "--force"]) == 0
    with open_events(out) as r:
        assert len(np.unique(r.read()["t"])) == 2000


def test_open_events_notes_merged_times_and_whole_ones_pass(tmp_path, capsys):
    with open_events(_seconds_npy(tmp_path), columns="xytp", time_unit="us") as r:
        assert any(note.startswith(MERGED_TIMES_NOTE) for note in r.notes)
    # whole µs as floats given as µs, and µs with a rare sub-µs fraction, are nothing to say
    ev = _events()
    table = np.stack([ev["x"], ev["y"], ev["t"].astype(np.float64), ev["p"]], axis=1)
    table[5, 2] += 0.25
    np.save(tmp_path / "us.npy", table)
    with open_events(tmp_path / "us.npy", columns="xytp", time_unit="us") as r:
        assert not any(note.startswith(MERGED_TIMES_NOTE) for note in r.notes)
    argv = ["convert", str(tmp_path / "us.npy"), str(tmp_path / "o.h5"), "--columns", "xytp"]
    assert main([*argv, "--time-unit", "us"]) == 0


# ------------------------------------------ 3. a window holding no whole µs is refused
def _readers(tmp_path: Path) -> list:
    ev = _events()
    write_events(tmp_path / "e.h5", ev, (64, 48))
    write_events(tmp_path / "v.h5", ev, (64, 48), fmt="v2e")
    write_events(tmp_path / "e.npy", ev, (64, 48))
    return [EventReader(tmp_path / "e.h5"), open_events(tmp_path / "v.h5"),
            open_events(tmp_path / "e.npy")]  # fmt: skip


def test_seconds_as_read_bounds_are_refused_by_every_reader(tmp_path):
    readers = _readers(tmp_path)
    try:
        for r in readers:
            for read in (
                lambda r=r: r.read(0.5, 0.6),
                lambda r=r: r.read_columns(0.5, 0.6),
                lambda r=r: list(r.iter_windows(1000, 0.5, 0.6)),
                lambda r=r: r.read(np.float64(10.2), 11),
            ):
                with pytest.raises(ArgumentValueError, match="holds no whole microsecond") as e:
                    read()
                assert "1e6" in str(e.value)
        with pytest.raises(ArgumentValueError, match=r"int\(0\.5 \* 1e6\)"):
            slice_time(_events(), 0.5, 0.6)
    finally:
        for r in readers:
            r.close()


def test_whole_and_fractional_bounds_around_a_microsecond_still_read(tmp_path):
    ev = _events()
    readers = _readers(tmp_path)
    try:
        for r in readers:
            want = slice_time(ev, 500_000, 600_000)
            assert len(want) > 0
            np.testing.assert_array_equal(r.read(5e5, 6e5), want)
            np.testing.assert_array_equal(r.read_columns(5e5, 6e5).t, want["t"])
            np.testing.assert_array_equal(r.read(499_999.5, 599_999.5), want)
            assert len(r.read(7, 7)) == 0  # equal bounds: an empty window by choice
            assert len(r.read(0.5, 1.5)) == len(slice_time(ev, 1, 2))
    finally:
        for r in readers:
            r.close()


# ------------------------------------------------- 4. a PNG says what it left out
def test_a_png_without_end_ms_says_which_window_it_drew(tmp_path, capsys):
    src = tmp_path / "e.h5"
    write_events(src, _events(), (64, 48))
    out = tmp_path / "x.png"
    assert main(["render", str(src), "-o", str(out), "--mode", "heatmap"]) == 0
    err = capsys.readouterr().err
    assert "draws one frame, 0–33.333 ms of the recording's" in err
    assert "pass --end-ms" in err
    assert main(["render", str(src), "-o", str(out), "--force", "--end-ms", "2000"]) == 0
    assert "draws one frame" not in capsys.readouterr().err


def test_render_help_says_a_png_is_one_frame_of_1000_over_fps_ms(capsys):
    assert main(["render", "--help"]) == 0
    assert "1000/fps ms" in " ".join(capsys.readouterr().out.split())


# ------------------------------------------------- 5. the README describes convert's CSV
def test_readme_describes_the_csv_header_convert_writes(tmp_path):
    out = tmp_path / "o.csv"
    write_events(out, _events(), (64, 48))
    header = out.read_text(encoding="ascii").splitlines()[0]
    assert header == "t,x@64,y@48,on"
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert "`t,x@W,y@H,on`" in text and "`on` 1 for ON (polarity 1)" in text
    assert 'names=["t", "x", "y", "p"]' in text
