"""One EventReader shared by threads (a thread-pool DataLoader, Dask's threads, a viewer's
background thread) and used in forked children: every read returns what one thread alone
reads, the events written (the other tests check single-threaded reads against them)."""

import multiprocessing
import pickle
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

import eventsim.io.hdf5_reader as h5mod
from eventsim.events import EVENT_DTYPE
from eventsim.io import EventReader, EventWriter

SIZE = (640, 480)
OFFSET = 1_700_000_000_000
N_THREADS = 4


@pytest.fixture
def fast_switching():
    """Threads switch every few µs instead of every 5 ms, so a race shows in a short test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


def _hammer(work, n_threads: int = N_THREADS) -> None:
    """``work(seed)`` in ``n_threads`` threads started together; re-raises the first error."""
    start = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        start.wait()
        try:
            work(seed)
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """200k events in chunks of 1024 with a large /t_offset, and the events themselves."""
    rng = np.random.default_rng(0)
    n = 200_000
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"] = rng.integers(0, SIZE[0], n)
    ev["y"] = rng.integers(0, SIZE[1], n)
    ev["t"] = OFFSET + 5 + np.sort(rng.integers(0, 3 * n, n))
    ev["p"] = rng.integers(0, 2, n)
    path = tmp_path_factory.mktemp("threads") / "ev.h5"
    with EventWriter(path, SIZE, chunk_events=1024, t_offset_us=OFFSET) as w:
        w.write(ev)
    return path, ev


@pytest.mark.parametrize("packer", ["numpy", "numba"])
def test_one_reader_shared_by_four_threads_reads_what_one_thread_reads(
    recording, packer, monkeypatch, fast_switching
):
    # record reads decoded every block into the reader's one set of buffers: a thread packed
    # the block another thread had just decoded into them (~10 % of reads came back wrong)
    if packer == "numba":
        pytest.importorskip("numba")
        import eventsim.io._pack_kernel  # noqa: F401 - loaded before the threads start

        monkeypatch.setattr(h5mod, "_KERNEL_AFTER_EVENTS", 0)
    else:
        monkeypatch.setattr(h5mod, "_USE_NUMBA", False)
    path, ev = recording
    t = ev["t"]
    n = len(ev)

    def inside(a: int, b: int) -> np.ndarray:
        return ev[np.searchsorted(t, a) : np.searchsorted(t, b)]

    with EventReader(path) as r:

        def work(seed: int) -> None:
            g = np.random.default_rng(seed)
            own = np.empty(30_000, EVENT_DTYPE)
            for step in range(30):
                a = int(g.integers(t[0] - 10, t[-1]))
                b = a + int(g.integers(1, 40_000))
                i = int(g.integers(0, n))
                # the checks name the read that came back wrong
                got = r.read(a, b)
                assert np.array_equal(got, inside(a, b)), ("read", a, b)
                cols = r.read_columns(a, b)
                want = inside(a, b)
                assert all(np.array_equal(getattr(cols, k), want[k]) for k in "xytp"), (
                    "read_columns",
                    a,
                    b,
                )
                got = r.read_index(i, i + 20_000, out=own)
                assert np.array_equal(got, ev[i : i + 20_000]), ("read_index", i)
                windows = list(r.iter_windows(3_000, a, b))
                assert all(
                    np.array_equal(w, inside(s, min(s + 3_000, b)))
                    for s, w in zip(range(a, b, 3_000), windows, strict=True)
                ), ("iter_windows", a, b)
                if seed == 0 and step % 10 == 0:
                    chunks = np.concatenate(list(r.iter_chunks(7_000)))
                    assert np.array_equal(chunks, ev), "iter_chunks"

        _hammer(work)
        # and the reader's own buffers are still right for one thread
        assert np.array_equal(r.read(), ev)


def _foreign_file(path: Path) -> tuple[np.ndarray, list[int]]:
    """A DSEC-layout file whose ms_to_idx is one off at every 7th millisecond: open checks
    only the first and last chunks, so the first read that uses one rebuilds the index."""
    rng = np.random.default_rng(3)
    n = 20_000
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 400_000 // 250, n) * 250)
    ev["x"] = rng.integers(0, 64, n)
    ev["y"] = rng.integers(0, 48, n)
    ev["p"] = rng.integers(0, 2, n)
    t = ev["t"]
    ms = np.searchsorted(t, np.arange(t[-1] // 1000 + 2) * 1000, side="left")
    bad = list(range(10, len(ms) - 10, 7))
    ms[bad] += 1
    with h5py.File(path, "w") as f:
        for k in "xy":
            f.create_dataset(f"events/{k}", data=ev[k].astype(np.uint16), chunks=(256,))
        f.create_dataset("events/t", data=t.astype(np.uint32), chunks=(256,))
        f.create_dataset("events/p", data=ev["p"].astype(np.uint8), chunks=(256,))
        f["t_offset"] = np.int64(0)
        f["ms_to_idx"] = ms.astype(np.uint64)
    return ev, bad


def test_threads_that_find_a_foreign_ms_to_idx_wrong_together_rebuild_it_once(
    tmp_path, monkeypatch, fast_switching
):
    # one thread replaced the index while another had read a wrong entry of the old one and
    # then found nothing left to check: its window came back wrong; or it marked the entry
    # checked in marks already dropped (TypeError: 'NoneType' object does not support item
    # assignment). Two threads could also rebuild it twice and note it twice
    monkeypatch.setattr(h5mod, "_USE_NUMBA", False)
    path = tmp_path / "foreign.h5"
    ev, bad = _foreign_file(path)
    t = ev["t"]
    for trial in range(25):
        with EventReader(path, sensor_size=(64, 48)) as r:

            def work(seed: int) -> None:
                g = np.random.default_rng(seed)
                for _ in range(8):
                    a = 1000 * int(g.choice(bad)) + int(g.integers(-300, 300))
                    got = r.read(a, a + 700)
                    want = ev[(t >= a) & (t < a + 700)]
                    assert np.array_equal(got, want), (a, a + 700)
                if seed == 0:
                    r.check_ms_index()

            _hammer(lambda s, trial=trial: work(trial * N_THREADS + s))
            assert sum("does not match" in note for note in r.notes) == 1, r.notes
            assert r._unchecked is None


def test_check_ms_index_beside_window_reads_leaves_a_right_index(tmp_path, fast_switching):
    path = tmp_path / "good.h5"
    ev, bad = _foreign_file(path)
    with h5py.File(path, "r+") as f:  # a right index this time: nothing to replace
        t = ev["t"]
        del f["ms_to_idx"]
        f["ms_to_idx"] = np.searchsorted(t, np.arange(t[-1] // 1000 + 2) * 1000).astype(np.uint64)
    for _ in range(10):
        with EventReader(path, sensor_size=(64, 48)) as r:

            def work(seed: int) -> None:
                if seed == 0:
                    r.check_ms_index()
                    return
                g = np.random.default_rng(seed)
                for _ in range(10):
                    a = 1000 * int(g.choice(bad)) + int(g.integers(-300, 300))
                    assert np.array_equal(r.read(a, a + 700), ev[(t >= a) & (t < a + 700)])

            _hammer(work)
            assert r.notes == [] and r._unchecked is None


def test_threads_that_load_the_pack_kernel_together_all_use_it(recording, tmp_path):
    # the first read loads the numba kernel; a thread that came while another was importing
    # it found the module listed but without `pack` yet (AttributeError: partially
    # initialized module). A fresh interpreter, so the kernel is not loaded yet
    pytest.importorskip("numba")
    path, ev = recording
    np.save(tmp_path / "want.npy", ev[:50_000])
    script = textwrap.dedent(
        f"""
        import sys, threading
        import numpy as np
        import eventsim.io.hdf5_reader as h5mod
        from eventsim.io import EventReader
        h5mod._KERNEL_AFTER_EVENTS = 0
        assert "eventsim.io._pack_kernel" not in sys.modules
        want = np.load({str(tmp_path / "want.npy")!r})
        r = EventReader({str(path)!r})
        start = threading.Barrier(4)
        results = []
        def run():
            start.wait()
            try:
                results.append(np.array_equal(r.read_index(0, 50_000), want))
            except BaseException as exc:
                results.append(repr(exc))
        threads = [threading.Thread(target=run) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        print(results)
        sys.exit(0 if results == [True] * 4 else 1)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform"
)
def test_a_reader_opened_before_a_fork_reads_right_in_the_children(tmp_path):
    # HDF5 reads with pread (the descriptor's shared position does not matter) and h5py
    # takes its lock around a fork; each child has its own copy of the reader's caches. The
    # parent holds the reader's locks at the fork as another thread of it could: the
    # children get them free (a child that had to rebuild the index waited for ever)
    path = tmp_path / "foreign.h5"
    ev, _ = _foreign_file(path)
    t = ev["t"]
    ctx = multiprocessing.get_context("fork")
    with EventReader(path, sensor_size=(64, 48)) as r:

        def read_windows(queue) -> None:  # in the child: a fork copies, never pickles, it
            ok = True
            for a in range(int(t[0]) - 10, int(t[-1]), 37_777):
                want = (t >= a) & (t < a + 5_000)
                ok &= np.array_equal(r.read(a, a + 5_000), ev[want])
                ok &= np.array_equal(r.read_columns(a, a + 5_000).t, t[want])
            queue.put(bool(ok))

        r.read(0, 5_000)  # the parent has used it (and its buffers) before the fork
        queue = ctx.Queue()
        with r._index_lock, r._bufs_lock:
            children = [ctx.Process(target=read_windows, args=(queue,)) for _ in range(2)]
            for child in children:
                child.start()
        try:
            results = [queue.get(timeout=20) for _ in children]
        finally:
            for child in children:
                child.join(timeout=5)
                if child.is_alive():
                    child.kill()
        assert results == [True, True]
        # the parent's reader is untouched by the children's reads and exits
        assert r.notes == [] and np.array_equal(r.read(), ev)


def test_a_reader_refuses_pickling_and_names_what_to_do(recording):
    path, _ = recording
    with EventReader(path) as r, pytest.raises(TypeError) as caught:
        pickle.dumps(r)
    message = str(caught.value)
    assert str(path) in message and "open a reader in the other process" in message
