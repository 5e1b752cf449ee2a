"""Review 7 of the readers: closing a shared EventReader while another thread reads, reads
after close, unclear errors on bad time bounds and damaged time chunks."""

import copy
import multiprocessing
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import EventFileError, ParameterError
from eventsim.events import EVENT_DTYPE
from eventsim.io import EventReader, EventWriter, open_events

SIZE = (64, 48)


@pytest.fixture
def recording(tmp_path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 20_000
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"] = rng.integers(0, SIZE[0], n)
    ev["y"] = rng.integers(0, SIZE[1], n)
    ev["t"] = 100 + np.sort(rng.integers(0, 400_000, n))
    ev["p"] = rng.integers(0, 2, n)
    path = tmp_path / "ev.h5"
    with EventWriter(path, SIZE, chunk_events=1024) as w:
        w.write(ev)
        w.add_frame(np.zeros((SIZE[1], SIZE[0]), np.uint8), 200)
    return path, ev


def _wait_for(condition, what: str) -> None:
    """Poll ``condition`` (state another thread sets), failing after a minute: the outcome
    does not depend on how long it takes."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


class _HeldRead:
    """Holds the next read of the decode path inside the read until released."""

    def __init__(self, monkeypatch, name: str) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()
        original = getattr(EventReader, name)

        def held(reader, *args, **kwargs):
            self.inside.set()
            assert self.release.wait(60), "never released"
            return original(reader, *args, **kwargs)

        monkeypatch.setattr(EventReader, name, held)


@pytest.mark.parametrize(
    ("held", "call"),
    [
        ("_decode_records", lambda r: r.read()),
        ("_decode_records", lambda r: r.read_index(5, 15_000)),
        ("_read_column", lambda r: r.read_columns(1_000, 300_000)),
        ("_read_column", lambda r: r.read_index_columns()),
    ],
    ids=["read", "read_index", "read_columns", "read_index_columns"],
)
def test_close_waits_for_a_read_under_way_in_another_thread(recording, monkeypatch, held, call):
    # close() pulled the file from under the reading thread: h5py raised 'Invalid dataset
    # identifier (identifier is not of specified type)' (ValueError) there
    path, _ = recording
    with EventReader(path) as plain:
        want = call(plain)
    hold = _HeldRead(monkeypatch, held)
    r = EventReader(path)
    results: list[object] = []
    reader = threading.Thread(target=lambda: results.append(_attempt(call, r)))
    closer = threading.Thread(target=r.close)
    reader.start()
    try:
        assert hold.inside.wait(60)
        closer.start()
        _wait_for(lambda: r._open_file.closed, "close to begin")
        # the read is held inside: close cannot have finished
        assert closer.is_alive()
        with pytest.raises(EventFileError, match="is closed"):
            r.read(0, 10)  # a read begun after the close is refused, typed
    finally:
        hold.release.set()
        reader.join()
        if closer.ident is not None:  # started
            closer.join()
    (got,) = results
    assert not isinstance(got, BaseException), repr(got)
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray) and np.array_equal(got, want)
    else:
        assert all(np.array_equal(getattr(got, k), getattr(want, k)) for k in "xytp")
    assert not r._f.id.valid  # and the file is closed


def _attempt(call, reader):
    try:
        return call(reader)
    except BaseException as exc:  # returned to the test's thread
        return exc


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.read(),
        lambda r: r.read(200, 5_000),
        lambda r: r.read_index(0, 10),
        lambda r: r.read_columns(),
        lambda r: r.read_columns(200, 5_000),
        lambda r: r.read_index_columns(0, 10),
        lambda r: list(r.iter_windows(1_000)),
        lambda r: list(r.iter_chunks(100)),
        lambda r: r.read_frame(0),
    ],
)
def test_a_read_after_close_says_the_reader_is_closed(recording, call):
    path, _ = recording
    r = EventReader(path)
    r.close()
    with pytest.raises(EventFileError, match=r"the reader of .*ev\.h5' is closed"):
        call(r)
    # what needs no file still answers, and a second close is harmless
    assert len(r) == 20_000 and r.num_frames == 1 and r.t_start_us > 0
    r.close()


def test_closing_a_copy_closes_the_shared_file_for_both(recording):
    path, ev = recording
    r = EventReader(path)
    twin = copy.copy(r)
    assert np.array_equal(twin.read_index(0, 10), ev[:10])
    twin.close()
    with pytest.raises(EventFileError, match="is closed"):
        r.read_index(0, 10)
    r.close()


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform"
)
def test_a_child_forked_during_a_read_reads_and_closes(recording):
    # a read under way in another thread at the fork has no thread in the child to finish
    # it: the child's close must not wait for it
    path, ev = recording
    ctx = multiprocessing.get_context("fork")
    with EventReader(path) as r:

        def child(queue) -> None:
            ok = np.array_equal(r.read_index(0, 100), ev[:100])
            r.close()
            queue.put(bool(ok))

        queue = ctx.Queue()
        with r._open_file:  # as a read in another thread holds it
            proc = ctx.Process(target=child, args=(queue,))
            proc.start()
        try:
            result = queue.get(timeout=60)
        finally:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        assert result is True and proc.exitcode == 0
        assert np.array_equal(r.read_index(0, 100), ev[:100])


# -- bad time bounds and windows -----------------------------------------------------------------
@pytest.mark.parametrize("bound", [float("nan"), float("inf"), np.float64("nan"), "10"])
def test_a_time_bound_that_is_no_number_is_named(recording, bound):
    # math.ceil raised 'cannot convert float NaN to integer' / OverflowError / TypeError
    path, _ = recording
    with EventReader(path) as r:
        for call in (
            lambda: r.read(bound, None),
            lambda: r.read(None, bound),
            lambda: r.read_columns(bound),
            lambda: list(r.iter_windows(1000, bound)),
        ):
            with pytest.raises(ParameterError, match="time bound"):
                call()


@pytest.mark.parametrize("window", ["1000", None, float("nan")])
def test_a_window_that_is_no_number_is_named(recording, window):
    path, _ = recording
    with EventReader(path) as r, pytest.raises(ParameterError, match="window_us="):
        list(r.iter_windows(window))


def test_a_damaged_time_chunk_met_while_searching_a_window_is_a_file_error(recording, monkeypatch):
    # the search of the window's first event decodes chunks of t outside the read's try:
    # h5py's bare OSError ('Can't synchronously read data (filter returned failure ...)')
    path, _ = recording
    with EventReader(path) as r:
        column = r._t
        failing = _FailingSlices(column)
        monkeypatch.setattr(r, "_t", failing)
        with pytest.raises(EventFileError, match="truncated or corrupt"):
            r.read(150_250, 150_750)
        assert failing.failed


class _FailingSlices:
    """A column whose slicing fails as HDF5 does on a chunk its filter cannot decode."""

    def __init__(self, ds: h5py.Dataset) -> None:
        self._ds = ds
        self.failed = False

    def __getitem__(self, key):
        self.failed = True
        raise OSError("Can't synchronously read data (filter returned failure during read)")

    def __getattr__(self, name):
        return getattr(self._ds, name)


def test_check_ms_index_on_a_damaged_time_column_is_a_file_error(tmp_path, monkeypatch):
    path = tmp_path / "foreign.h5"
    t = np.arange(0, 50_000, 10, dtype=np.int64)
    with h5py.File(path, "w") as f:
        for k in "xyp":
            f.create_dataset(f"events/{k}", data=np.zeros(t.size, np.uint8), chunks=(256,))
        f.create_dataset("events/t", data=t, chunks=(256,))
        f["ms_to_idx"] = np.searchsorted(t, np.arange(t[-1] // 1000 + 2) * 1000)
    with EventReader(path, sensor_size=SIZE) as r:
        assert r._unchecked is not None  # the entries between the first and last chunks
        monkeypatch.setattr(r, "_t", _FailingSlices(r._t))
        with pytest.raises(EventFileError, match="truncated or corrupt"):
            r.check_ms_index()


def test_a_damaged_frame_is_a_file_error(recording, monkeypatch):
    path, _ = recording
    with EventReader(path) as r:
        monkeypatch.setattr(r, "_frames", _FailingSlices(r._frames))
        with pytest.raises(EventFileError, match=r"cannot read frame 0 .* truncated or corrupt"):
            r.read_frame(0)


# -- rpg text of integer times -------------------------------------------------------------------
@pytest.mark.parametrize("size_line", ["", "64 48\n"])
def test_rpg_text_of_integer_times_spanning_1000_or_less_is_microseconds(tmp_path, size_line):
    # integer times took the float rule, which reads whole numbers spanning <= 1000 as
    # seconds: 1 ms of µs became 15 minutes; spanning more, the same file was read as µs
    path = tmp_path / "short.txt"
    path.write_text(size_line + "5 1 2 1\n7 3 4 0\n1005 5 6 1\n")
    with open_events(path, sensor_size=SIZE) as r:
        assert r.read()["t"].tolist() == [5, 7, 1005] and r.time_unit_detected == "us"
        (note,) = [n for n in r.notes if n.startswith("time unit")]
    assert "integer times in rpg text" in note and "pass time_unit=" in note, note
    path.write_text(size_line + "5 1 2 1\n7 3 4 0\n")
    with open_events(path, sensor_size=SIZE, time_unit="s") as r:
        assert r.read()["t"].tolist() == [5_000_000, 7_000_000]


def test_rpg_text_with_decimals_keeps_its_rules(tmp_path):
    path = tmp_path / "rpg.txt"
    for rows, want, unit in (
        ("0.000005 1 2 1\n0.000007 3 4 0\n", [5, 7], "s"),  # rpg's own: seconds
        ("5.0 1 2 1\n7.0 3 4 0\n", [5_000_000, 7_000_000], "s"),  # a decimal point: seconds
        ("0 1 2 1\n0.5 3 4 0\n", [0, 500_000], "s"),  # a fraction: seconds
    ):
        path.write_text(rows)
        with open_events(path, sensor_size=SIZE) as r:
            assert r.read()["t"].tolist() == want and r.time_unit_detected == unit, rows


def test_convert_names_the_option_that_sets_a_detected_unit(tmp_path, capsys):
    text = tmp_path / "ev.txt"
    text.write_text("5 1 2 1\n7 3 4 0\n")
    floats = tmp_path / "ev.npy"
    np.save(floats, np.array([[5.0, 1, 2, 1], [7.0, 3, 4, 0]]))
    for path, unit in ((text, "microseconds"), (floats, "seconds")):
        out = tmp_path / f"{path.stem}-{path.suffix[1:]}.h5"
        assert eventsim_main(["convert", str(path), str(out), "--sensor-size", "8x6"]) == 0
        err = capsys.readouterr().err
        line = next(n for n in err.splitlines() if "time unit detected" in n)
        assert unit in line and "--time-unit" in line, line


# -- the file's index of an event of a file sorted on reading ------------------------------------
_T = [10, 5, 30, 20, 40]  # sorted: file indices 1, 0, 3, 2, 4
_X = [1, 2, 9, 4, 5]  # x = 9 is file index 2, sorted index 3


def _unsorted_files(tmp_path: Path) -> list[Path]:
    ev = np.zeros(len(_T), EVENT_DTYPE)
    ev["t"], ev["x"] = _T, _X
    cols = np.stack([ev["t"], ev["x"], ev["y"], ev["p"]], axis=1)
    paths = [tmp_path / n for n in ("a.npy", "b.npz", "c.npz", "d.txt", "e.csv", "f.csv", "v.h5")]
    np.save(paths[0], ev)
    np.savez(paths[1], events=cols)
    np.savez(paths[2], x=ev["x"], y=ev["y"], t=ev["t"], p=ev["p"])
    np.savetxt(paths[3], cols, fmt="%d")
    paths[4].write_text("".join(f"{t},{x},0,0\n" for t, x in zip(_T, _X, strict=True)))
    paths[5].write_text("".join(f"{t / 1e6:.6f},{x},0,0\n" for t, x in zip(_T, _X, strict=True)))
    with h5py.File(paths[6], "w") as f:
        f["events"] = cols
    return paths


def test_a_reader_that_sorts_keeps_each_events_index_in_the_file(tmp_path):
    for path in _unsorted_files(tmp_path):
        with open_events(path, sensor_size=(10, 1)) as r:
            ev = r.read()
            assert ev["t"].tolist() == sorted(_T), path.name
            assert r.file_index is not None, path.name
            assert r.file_index.tolist() == [1, 0, 3, 2, 4], path.name
            assert np.array_equal(np.asarray(_X)[r.file_index], ev["x"]), path.name
        # in order: nothing kept
        np.save(tmp_path / "sorted.npy", ev)
        with open_events(tmp_path / "sorted.npy", sensor_size=(10, 1)) as r:
            assert r.file_index is None
    with EventReader(_write_h5(tmp_path)) as r:
        assert r.file_index is None


def _write_h5(tmp_path: Path) -> Path:
    ev = np.zeros(3, EVENT_DTYPE)
    ev["t"] = [1, 2, 3]
    path = tmp_path / "own.h5"
    with EventWriter(path, (4, 4)) as w:
        w.write(ev)
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ("convert", "{f}", "{o}.h5"),
        ("convert", "{f}", "{o}.txt"),
        ("convert", "{f}", "{o}.npz"),
        ("render", "{f}", "-o", "{o}.png", "--no-progress"),
        ("plot", "{f}", "-o", "{o}.png"),
    ],
    ids=["convert-h5", "convert-txt", "convert-npz", "render", "plot"],
)
def test_commands_name_the_files_index_of_a_bad_event_of_an_unsorted_file(tmp_path, capsys, argv):
    # the message gave index 3 'among the events sorted by time': the sort's permutation
    # was not kept, so the file's own index was lost
    for path in _unsorted_files(tmp_path):
        out = tmp_path / f"out_{path.stem}{path.suffix[1:]}"
        words = [a.format(f=path, o=out) for a in argv]
        rc = eventsim_main([*words, "--sensor-size", "6x1"])
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert rc == 1, line
        assert "x[2] = 9" in line or "event 2 has x = 9" in line, (path.name, line)
        assert "sorted" not in line, line
