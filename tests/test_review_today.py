"""Second-look review of the day's eventsim changes: each test fails without its fix."""

import fcntl
import os
import threading
import time

import cv2
import h5py
import numpy as np
import pytest

from eventsim.datasets import _digests
from eventsim.io import evt3
from eventsim.io.hdf5_reader import EventReader
from eventsim.simulator.sources import apply_exif_orientation, read_image


def _word(kind: int, value: int) -> int:
    return (kind << 12) | value


def _decode(words: list[int]) -> list[tuple[int, int, int, int]]:
    t, x, y, p = evt3._decode_chunk(np.array(words, dtype=np.int64), evt3._State())
    return [(int(a), int(b), int(c), int(d)) for a, b, c, d in zip(t, x, y, p)]


def test_evt3_a_single_event_between_a_vector_base_and_its_vectors_moves_neither():
    # the spec: EVT_ADDR_X is one event; only VECT_BASE_X sets where vectors start, and their
    # polarity (the decoder took the single event's x and polarity for the next vector's)
    words = [
        _word(8, 0),  # time high 0
        _word(6, 5),  # time low 5
        _word(0, 3),  # y 3
        _word(3, (1 << 11) | 100),  # vector base x 100, polarity 1
        _word(4, 0b1),  # x 100; the next vector starts at 112
        _word(2, 7),  # one event: x 7, polarity 0
        _word(5, 0b1),  # x 112, polarity 1
    ]
    assert _decode(words) == [(5, 100, 3, 1), (5, 7, 3, 0), (5, 112, 3, 1)]


def test_evt3_header_ends_at_metavision_end_line(tmp_path):
    # data right after '% end' may start with a '%' byte (time high 0x025 is 25 80 on disk):
    # it was read as one more header line, to the next 0x0a byte, shifting every word after
    head = b"% evt 3.0\n% geometry 640x480\n% end\n"
    words = np.array([0x8025, 0x6003, 0x0005, 0x2000 | 10, 0x800A, 0x2000 | 11], dtype="<u2")
    path = tmp_path / "metavision.raw"
    path.write_bytes(head + words.tobytes())
    header = evt3.read_header(path)
    assert header.length == len(head)
    events = evt3.read_evt3(path, (640, 480), header)
    assert events["x"].tolist() == [10, 11]
    assert events["t"].tolist() == [(0x025 << 12) | 3] * 2


def _dsec_file(path, t: np.ndarray, ms: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        for name in "xyp":
            g[name] = np.zeros(t.size, np.uint8)
        g["t"] = t
        f["ms_to_idx"] = ms


def test_a_dsec_file_whose_events_are_all_before_zero_opens(tmp_path):
    # another tool's int64 times, all negative, and an ms_to_idx with no entry: the new
    # ms_to_idx check read its entry 0 (IndexError, an internal error)
    path = tmp_path / "neg.h5"
    _dsec_file(path, np.array([-5000, -3000], np.int64), np.zeros(0, np.uint64))
    with EventReader(path) as r:
        assert r.read(-4000, 0)["t"].tolist() == [-3000]
        assert not any("ms_to_idx" in note for note in r.notes)


@pytest.mark.parametrize("orientation", [2, 3, 4])
def test_a_tiff_is_turned_upright_once(tmp_path, orientation):
    # OpenCV's TIFF decoder (5.0) applies the orientation tag itself, with every imread flag;
    # the EXIF rule applied it a second time, giving the image back as stored
    from PIL import Image, ImageOps

    stored = np.random.default_rng(0).integers(0, 255, (6, 10, 3)).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "a.tif"
    Image.fromarray(stored).save(path, "TIFF", exif=exif.tobytes())
    upright = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert not np.array_equal(upright, stored)
    np.testing.assert_array_equal(read_image(path), upright)
    # parquet image bytes (the dataset builder) take the same rule
    data = path.read_bytes()
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flags)[..., ::-1]
    np.testing.assert_array_equal(apply_exif_orientation(decoded, data), upright)


@pytest.fixture
def digest_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTSIM_CACHE_DIR", str(tmp_path / "cache"))
    shard = tmp_path / "shard.bin"
    shard.write_bytes(b"shard bytes")
    return shard, os.stat(shard)


def test_a_digest_whose_hash_failed_leaves_no_lock_file(digest_cache):
    shard, st = digest_cache

    def fails() -> str:
        raise OSError("read error")

    with pytest.raises(OSError, match="read error"):
        _digests.sha256_of(shard, st, fails)
    assert list(_digests.cache_folder().glob("*.lock")) == []


def test_a_stopped_lock_holder_is_not_waited_for_for_ever(digest_cache, monkeypatch):
    # a process holding the entry's lock but stopped (Ctrl-Z) or hung kept every other
    # process asking for the same digest blocked in flock with no end
    shard, st = digest_cache
    monkeypatch.setattr(_digests, "_WAIT_S", 0.2)
    name = _digests.identity(shard, st)
    folder = _digests.cache_folder()
    folder.mkdir(parents=True)
    holder = os.open(folder / f".{name}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        start = time.monotonic()
        assert _digests.sha256_of(shard, st, lambda: "a" * 64) == "a" * 64
        assert time.monotonic() - start < 30
    finally:
        os.close(holder)
    assert _digests.remembered(name) == "a" * 64


def test_a_waiter_takes_the_digest_written_while_the_lock_is_still_held(digest_cache):
    # the holder wrote the entry but has not let go of the lock yet (closing its files): the
    # waiter uses the entry then, rather than wait for the lock
    shard, st = digest_cache
    name = _digests.identity(shard, st)
    folder = _digests.cache_folder()
    folder.mkdir(parents=True)
    holder = os.open(folder / f".{name}.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    released = threading.Event()
    writer = threading.Timer(0.2, _digests.remember, (name, "b" * 64, shard))
    # without the fix the waiter returns only then, so the test ends either way
    releaser = threading.Timer(20, lambda: released.is_set() or fcntl.flock(holder, fcntl.LOCK_UN))
    writer.start()
    releaser.start()
    try:
        start = time.monotonic()
        assert _digests.sha256_of(shard, st, lambda: pytest.fail("hashed again")) == "b" * 64
        assert time.monotonic() - start < 10
    finally:
        released.set()
        releaser.cancel()
        writer.join()
        releaser.join()
        os.close(holder)


def test_evt3_coordinates_outside_a_given_sensor_size_name_where_the_size_came_from(tmp_path):
    # a header without a size: the sensor size is the caller's, not "its header names"
    from eventsim.errors import EventFileError
    from eventsim.io import open_events

    # time high 4000, then 5: a wrap that skips steps, which this decoder reads (not faery)
    words = [_word(8, 4000), _word(6, 1), _word(0, 2), _word(2, 10), _word(8, 5), _word(2, 3)]
    path = tmp_path / "no-size.raw"
    path.write_bytes(b"% evt 3.0\n" + np.array(words, dtype="<u2").tobytes())
    assert evt3.faery_misreads(path, evt3.read_header(path))
    with pytest.raises(EventFileError, match=r"x = 10, outside the 8x8 sensor given as its"):
        open_events(path, sensor_size=(8, 8))


def test_a_reader_that_fails_unexpectedly_closes_its_file(tmp_path, monkeypatch):
    # only EventsimError and the usual h5py errors closed it: anything else (the IndexError
    # above, Ctrl-C) left the file open, so it could not be rewritten in this process
    path = tmp_path / "dsec.h5"
    _dsec_file(path, np.array([0, 1500], np.int64), np.array([0, 1], np.uint64))

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(EventReader, "_ms_index_fits", interrupted)
    with pytest.raises(KeyboardInterrupt) as caught:
        EventReader(path)
    assert caught.value is not None  # the traceback, and the reader in it, still live
    with h5py.File(path, "w"):
        pass
