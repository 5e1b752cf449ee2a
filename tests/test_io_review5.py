"""Fifth review of eventsim's I/O, rendering and file commands: each test fails without its fix."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.events import EVENT_DTYPE
from eventsim.io import open_events
from eventsim.io.hdf5_reader import EventReader


def _events(n: int, span_us: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["x"] = rng.integers(0, 64, n)
    ev["y"] = rng.integers(0, 48, n)
    # whole milliseconds are frequent, so an index of another convention differs from the rule
    ev["t"] = np.sort(rng.integers(0, span_us // 250, n) * 250)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def _foreign_dsec(path: Path, ev: np.ndarray, ms: np.ndarray, chunk: int = 256) -> None:
    with h5py.File(path, "w") as f:
        for col, dtype in (("x", np.uint16), ("y", np.uint16), ("t", np.uint32), ("p", np.uint8)):
            f.create_dataset(f"events/{col}", data=ev[col].astype(dtype), chunks=(chunk,))
        f["t_offset"] = np.int64(0)
        f["ms_to_idx"] = ms.astype(np.uint64)


def _rule_index(t: np.ndarray) -> np.ndarray:
    return np.searchsorted(t, np.arange(t[-1] // 1000 + 2) * 1000, side="left")


def _windows(t: np.ndarray) -> list[tuple[int, int]]:
    # whole-millisecond bounds use one ms_to_idx entry, others two
    last = int(t[-1])
    return [(a, a + w) for a in range(0, last + 2000, 997) for w in (1000, 1, 2500)]


def test_a_foreign_ms_to_idx_wrong_only_in_the_middle_gives_right_windows(tmp_path):
    # the open-time check looked at 64 entries: one wrong entry elsewhere passed and its
    # windows came out wrong; now every entry is checked before a read uses it
    ev = _events(20_000, 400_000)
    t = ev["t"]
    ms = _rule_index(t)
    k = len(ms) // 2 + 3
    assert ms[k + 1] > ms[k] + 2
    ms[k] += 2  # two events of millisecond k counted in k - 1
    path = tmp_path / "middle.h5"
    _foreign_dsec(path, ev, ms)
    with open_events(path, sensor_size=(64, 48)) as r:
        for a, b in _windows(t):
            want = ev[(t >= a) & (t < b)]
            np.testing.assert_array_equal(r.read(a, b), want, err_msg=f"{a}..{b}")
        assert any("does not match" in n for n in r.notes)


@pytest.mark.parametrize("kind", ["right", "offset"])
def test_a_foreign_ms_to_idx_of_another_convention_is_caught_on_open(tmp_path, kind):
    ev = _events(20_000, 400_000)
    t = ev["t"]
    ms = _rule_index(t)
    if kind == "right":
        ms = np.searchsorted(t, np.arange(t[-1] // 1000 + 2) * 1000, side="right")
    else:
        ms = np.concatenate([ms[1:], ms[-1:]])
    path = tmp_path / f"{kind}.h5"
    _foreign_dsec(path, ev, ms)
    with open_events(path, sensor_size=(64, 48)) as r:
        assert any("does not match" in n for n in r.notes)
        for a, b in _windows(t)[::7]:
            np.testing.assert_array_equal(r.read(a, b), ev[(t >= a) & (t < b)])


def test_a_foreign_ms_to_idx_that_fits_is_kept_and_read_right(tmp_path):
    ev = _events(20_000, 400_000)
    t = ev["t"]
    path = tmp_path / "fits.h5"
    _foreign_dsec(path, ev, _rule_index(t)[:-1])
    with EventReader(path, sensor_size=(64, 48)) as r:
        assert r.notes == []
        # only the entries of the first and last chunks were checked on open
        assert r._unchecked is not None and r._unchecked.any()
        for a, b in _windows(t):
            np.testing.assert_array_equal(r.read(a, b), ev[(t >= a) & (t < b)])
        assert r.notes == []


def test_an_es_output_of_epoch_times_is_refused_without_blaming_faery(tmp_path):
    # the ES size check runs in the packets faery pulls: its ParameterError came out as
    # "EventFileError: faery could not write es: ..."
    pytest.importorskip("faery")
    from eventsim.errors import ParameterError
    from eventsim.io.formats import write_events

    ev = _events(10, 1000)
    ev["t"] += 1_700_000_000_000_000
    with pytest.raises(ParameterError) as caught:
        write_events(tmp_path / "epoch.es", ev, (64, 48))
    assert "faery" not in str(caught.value) and "absolute (epoch)" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_csv_header_in_another_column_order_is_read_as_named(tmp_path):
    # the columns were always taken as t,x,y,on: Metavision's x,y,p,t came out with x as
    # the time and t as the polarity column's neighbour, silently
    pytest.importorskip("faery")
    from eventsim.errors import EventFileError

    path = tmp_path / "metavision.csv"
    path.write_text("x,y,p,t\n1,2,1,10\n3,0,-1,20\n5,1,1,30\n")
    with open_events(path, sensor_size=(8, 4)) as r:
        ev = r.read()
        assert any("header's order (x,y,p,t)" in n for n in r.notes)
    assert ev["t"].tolist() == [10, 20, 30]
    assert ev["x"].tolist() == [1, 3, 5] and ev["y"].tolist() == [2, 0, 1]
    assert ev["p"].tolist() == [1, 0, 1]
    odd = tmp_path / "odd.csv"
    odd.write_text("a,x,y,t\n10,1,0,1\n")
    with pytest.raises(EventFileError, match="names columns in another order"):
        open_events(odd, sensor_size=(8, 4))


def test_a_forced_layout_that_does_not_fit_the_file_says_so(tmp_path):
    # '--layout dsec' on a .npy said the file was "truncated or corrupt", '--layout npy' on
    # any other file spoke of pickled data, and an .npz forced to npy was told to rename
    # itself to the .npz it already was
    from eventsim.errors import EventFileError, UnknownLayoutError
    from eventsim.io.formats import write_events

    ev = _events(50, 10_000)
    npy, npz, txt = tmp_path / "a.npy", tmp_path / "a.npz", tmp_path / "a.txt"
    for path in (npy, npz, txt):
        write_events(path, ev, (64, 48))
    cases = [
        (npy, "dsec", "does not have the 'dsec' layout: it is not an HDF5 file"),
        (txt, "npy", "is not a numpy .npy/.npz file"),
        (txt, "npz", "is not a numpy .npy/.npz file"),
        (npz, "npy", "is an .npz archive, not an .npy array"),
        (npy, "npz", "is a single .npy array, not an .npz archive"),
    ]
    for path, layout, words in cases:
        with pytest.raises(UnknownLayoutError) as caught:
            open_events(path, layout=layout)
        text = str(caught.value)
        assert words in text and "corrupt" not in text and "pickle" not in text, text
    damaged = tmp_path / "damaged.npy"
    damaged.write_bytes(npy.read_bytes()[:100])
    with pytest.raises(EventFileError, match="truncated or corrupt"):
        open_events(damaged)


def _shapes_file(tmp_path: Path) -> Path:
    from eventsim.io.formats import write_events

    path = tmp_path / "ev.h5"
    write_events(path, _events(5000, 500_000), (64, 48))
    return path


def test_render_names_a_window_given_twice_or_under_a_microsecond(tmp_path, capsys):
    # the frame-count limit judged them first: "these settings give 100,000 frames ..." for
    # --window-ms with --events-per-frame, instead of saying only one may be given
    from eventsim.cli.render import main as render_main

    src = _shapes_file(tmp_path)
    out = str(tmp_path / "out.gif")
    cases = [
        (["--window-ms", "10", "--events-per-frame", "1"], "not both"),
        (["--window-ms", "1e-9"], "shorter than 1 µs"),
    ]
    for extra, words in cases:
        assert render_main([str(src), "-o", out, "--no-progress", *extra]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0] and "frames for" not in err[0], err
    assert not Path(out).exists()


def test_render_refuses_voxel_frames_too_wide_for_their_bins(tmp_path, capsys):
    # the frame-size limit counted the sensor only: --bins 100000 went on to allocate
    # 67 GiB ("out of memory") for bins drawn side by side
    from eventsim.cli.render import main as render_main

    src = _shapes_file(tmp_path)
    out = tmp_path / "v.png"
    argv = [str(src), "-o", str(out), "--no-progress", "--mode", "voxel"]
    assert render_main([*argv, "--bins", "30000"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--bins 30000 makes 1979998x48 frames" in err[0], err
    assert not out.exists()
    assert render_main([*argv, "--bins", "3"]) == 0
    assert "1 frame of 196x48, voxel" in capsys.readouterr().out


def test_reads_with_fractional_bounds_agree_across_readers(tmp_path):
    # EventReader truncated a bound (int(10.5) = 10), so read(10.5, 30.5) held the event at
    # 10 us and not the one at 30; ArrayReader and slice_time, rightly, the other way round
    from eventsim.events import slice_time
    from eventsim.io.formats import write_events
    from eventsim.io.layouts import ArrayReader

    ev = np.zeros(5, dtype=EVENT_DTYPE)
    ev["t"] = [-20, -10, 10, 20, 30]
    ev["p"] = [0, 1, 0, 1, 1]
    path = tmp_path / "frac.h5"
    write_events(path, ev, (4, 4))
    with EventReader(path) as r, ArrayReader(ev, (4, 4)) as a:
        for lo, hi in ((10.5, 30.5), (-15.5, 9.5), (-20.0, 20.0), (9.999, 10.001)):
            want = slice_time(ev, lo, hi)
            np.testing.assert_array_equal(r.read(lo, hi), want, err_msg=f"{lo}..{hi}")
            np.testing.assert_array_equal(r.read_columns(lo, hi).t, want["t"])
            np.testing.assert_array_equal(a.read(lo, hi), want)


def test_iter_windows_takes_whole_microsecond_windows_and_rounds_bounds_like_read(tmp_path):
    from eventsim.errors import ParameterError
    from eventsim.events import slice_time
    from eventsim.io.formats import write_events
    from eventsim.io.layouts import ArrayReader

    ev = _events(2000, 200_000)
    path = tmp_path / "w.h5"
    write_events(path, ev, (64, 48))
    t = ev["t"]
    lo = float(t[100]) + 0.5  # an event sits at t[100]: the window starts after it
    with EventReader(path) as r, ArrayReader(ev, (64, 48)) as a:
        for reader in (r, a):
            for bad in (0.5, 333.3, 0, -10):
                with pytest.raises(ParameterError, match="whole number of microseconds"):
                    list(reader.iter_windows(bad))
            got = np.concatenate(list(reader.iter_windows(1000, lo, lo + 50_000)))
            np.testing.assert_array_equal(got, slice_time(ev, lo, lo + 50_000))
            np.testing.assert_array_equal(got, reader.read(lo, lo + 50_000))


def test_convert_says_nothing_about_reading_back_an_output_it_refuses(tmp_path, capsys):
    # "note: out does not end in .npy; read it back with --layout npy" came before
    # "error: output 'out' is a folder"
    from eventsim.cli.convert import main as convert_main

    src = _shapes_file(tmp_path)
    (tmp_path / "out").mkdir()
    assert convert_main([str(src), str(tmp_path / "out"), "--to", "npy", "--force"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder" in err[0], err
    assert convert_main([str(src), str(tmp_path / "plain"), "--to", "npy"]) == 0
    assert "read it back with --layout npy" in capsys.readouterr().err
