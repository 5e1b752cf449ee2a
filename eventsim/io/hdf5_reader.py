"""Read eventsim and DSEC-layout HDF5 files (`eventsim.io.hdf5_format`) lazily: `EventReader`,
whose `read_columns` returns `EventColumns`, and `open_hdf5`, which the foreign HDF5
layouts in `eventsim.io.layouts` share.
"""

from __future__ import annotations

import functools
import json
import math
import mmap
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, NoReturn, TypeVar

import h5py

# imported for its side effect: it registers the Blosc filter h5py needs to decode the columns
import hdf5plugin  # noqa: F401
import numpy as np

from eventsim.errors import (
    ArgumentValueError,
    EventFileError,
    EventsimError,
    InvalidEventsError,
    ParameterError,
    UnknownLayoutError,
)
from eventsim.events import (
    EVENT_DTYPE,
    StreamProblem,
    check_sensor_size,
    empty_events,
    reversed_bounds_error,
    windowless_bounds_error,
)
from eventsim.io.hdf5_format import FORMAT_NAME
from eventsim.io.reader import EventFileReader

# Events per block of a record read: whole chunks of the columns (a block is decoded into small
# reused buffers and packed into the records while they are still in cache).
_BLOCK_EVENTS = 1 << 17

# Each column gets its own HDF5 chunk cache of one block plus one chunk: enough for a window
# read to find the chunk the previous one decoded. A larger cache (16 MiB was used) made full
# reads 1.4x slower: every chunk then went through a fresh cache slot instead of a buffer
# still hot in the CPU cache.
_CACHE_SLOTS = 101

#: Pack records with the numba kernel (`eventsim.io._pack_kernel`) when it pays; tests switch
#: it on and off to check that both paths give the same events.
_USE_NUMBA = True
# The kernel packs in one pass what numpy does in four strided copies: ~1.2 against ~1.5 ns
# per event on the 2-core VM (~0.4 ns less in a full read), but its first call in a process
# costs ~0.3 s (plus ~0.15 s to import numba). It is used once numba's kernels are loaded
# anyway (the simulator's; it then loads in ~3 ms), or once this process has read enough
# events into records to repay the load.
_KERNEL_AFTER_EVENTS = 1 << 30
_NO_NUMBA = False  # set once loading the kernel failed
_records_read = 0

# New output arrays at least this large have their pages faulted in by a second thread while
# this one decodes (`_prefault`).
_PREFAULT_MIN_BYTES = 16 << 20
_MADV_POPULATE_WRITE = 23  # Linux >= 5.14

# the file-wide default chunk cache (datasets other than the event columns, foreign layouts):
# h5py's 1 MiB cannot hold one decompressed 2^17-event int64 chunk
_FILE_CACHE_BYTES = 16 << 20


@functools.cache
def _madvise() -> Callable[[int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def _prefault(arrays: list[np.ndarray]) -> threading.Thread | None:
    """Fault in the pages of new output arrays on a second thread while the caller decodes
    into them. The first touch of fresh memory (~30 ms per 260 MB here, huge pages included)
    is otherwise paid inside the decode or the record packing, on the reading thread: with it
    moved, a 20 M-event `read()` went from 0.85x to 1.00x of plain h5py on an idle machine.
    ``madvise(MADV_POPULATE_WRITE)`` maps the pages without writing to them, so it cannot race
    with the reader's own writes, and ctypes releases the GIL while it runs. Returns the
    thread to join, None where nothing was started (small arrays, not Linux)."""
    spans = [(a.ctypes.data, a.nbytes) for a in arrays if a.nbytes >= _PREFAULT_MIN_BYTES]
    madvise = _madvise() if spans else None
    if madvise is None:
        return None

    def run() -> None:
        for addr, size in spans:
            start = addr - addr % mmap.PAGESIZE
            if madvise(start, size + addr - start, _MADV_POPULATE_WRITE) != 0:
                return  # a kernel without it (EINVAL): the reader faults the pages in itself

    thread = threading.Thread(target=run, name="eventsim-prefault", daemon=True)
    thread.start()
    return thread


def _decode_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _json_dict(value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    try:
        out = json.loads(value)
    except (TypeError, ValueError):
        return {"value": value}
    return out if isinstance(out, dict) else {"value": out}


_R = TypeVar("_R")

#: Events `EventReader.iter_sorted` holds at once (~1.1 GB while they are sorted).
SORT_MAX_EVENTS = 1 << 25
# t is read in blocks of this many events to sort, each block's time span kept
_SORT_BLOCK = 1 << 20
# bins of the time counts that split a sort into ranges of at most SORT_MAX_EVENTS
_SORT_BINS = 1 << 16

# ms_to_idx entries loaded whole on open (32 MiB as int64): a read by time then looks its two
# bounds up in an array. A longer index (a recording spanning over ~70 minutes; the writer's
# limit, 2^31 entries, is 16 GiB) is read a block of entries at a time as reads need them
# (`_LazyIndex`), and one built from the event times for such a span is kept sparse
# (`_SparseIndex`): loaded or built whole, it did not fit in memory
_WHOLE_INDEX_MAX = 1 << 22
# entries of an index built or compared at a time by a pass over all of it
_INDEX_STEP = 1 << 18
# entries of a `_LazyIndex` compared with the event times at each end of the first and the last
# chunks of t on open (which catches another tool's convention); the others are checked as
# reads use them
_LAZY_CHECK = 1 << 16
# entries checked on use that a `_LazyMarks` remembers: past that it forgets them all, and an
# entry used again is checked again (two times read)
_LAZY_MARKS_MAX = 1 << 16
# entries a `_LazyMarks` gathers in a set before it merges them into its sorted array
_MARKS_NEW = 1 << 10
# entries of a compressed chunk of an ms_to_idx read on demand beyond which it is not used
# (`_file_ms_index`): as many as a whole load holds
_INDEX_CHUNK_MAX = _WHOLE_INDEX_MAX
# events per block of a `_SparseIndex`: the first time of each is kept
_SPARSE_EVENTS = 1 << 16


class _IndexUnreadable(OSError):
    """HDF5 failed to read a `_LazyIndex`'s entries: the reads by time that need them catch
    OSError for events/t, which was then blamed for ms_to_idx's damage (or missing filter)."""


class _LazyIndex:
    """A file's ms_to_idx too long to load whole (`_WHOLE_INDEX_MAX`), read as int64 as a
    whole load reads it, a block of entries at a time; the last few blocks read are kept, so
    windows read in order (`EventReader.iter_windows`) read each block once."""

    ndim = 1
    _KEEP = 4

    def __init__(self, ds: h5py.Dataset, axis: int = 0) -> None:
        """``axis``: that of the entries, the others of length 1 (`_file_ms_index`)."""
        self._ds = ds
        self._axis = axis
        self.shape: tuple[int] = (int(ds.shape[axis]),)
        # whole chunks of the dataset where they are of a usual size: a block then decodes one
        self._step = min(max(ds.chunks[axis] if ds.chunks else 0, 4096), 1 << 16)
        # (block number, its entries), newest first: replaced whole, so threads share it
        self._kept: tuple[tuple[int, np.ndarray], ...] = ()

    def at(self, j: int) -> int:
        """Entry ``j`` (0 <= j < its length)."""
        b, i = divmod(j, self._step)
        for kb, block in self._kept:
            if kb == b:
                return int(block[i])
        a = b * self._step
        block = self.entries(a, a + self._step)
        self._kept = ((b, block), *self._kept[: self._KEEP - 1])
        return int(block[i])

    def entries(self, j0: int, j1: int) -> np.ndarray:
        """Entries ``j0:j1`` (not kept)."""
        key = tuple(slice(j0, j1) if d == self._axis else 0 for d in range(self._ds.ndim))
        try:
            return np.asarray(self._ds[key], dtype=np.int64)
        except OSError as exc:
            raise _IndexUnreadable(*exc.args) from None


class _LazyMarks:
    """Which entries of a `_LazyIndex` are not yet checked against the event times (what an
    array of one flag per entry holds for an index loaded whole): all but the ranges opening
    checked and, up to `_LAZY_MARKS_MAX`, the entries checked since."""

    def __init__(self, checked: list[tuple[int, int]]) -> None:
        self._ranges = checked
        # the entries checked since: a sorted array, and the latest (up to `_MARKS_NEW`) in a
        # set until they are merged into it. 8 bytes a mark: sets of them by bucket took 4-18
        # MB at the limit, the buckets' sets holding one mark each over a long index; `block`
        # looks at the array's slice of its range (one set of them all was copied and searched
        # whole for each block of entries `EventReader.check_ms_index` compares). A merge
        # replaces the array, then the set: a look at the set, then the array, sees each mark
        # merged by another thread meanwhile. A mark added by another thread during a merge may
        # be lost: its entry is checked again, as past the limit
        self._held = np.zeros(0, np.int64)
        self._new: set[int] = set()

    def _marked(self, k: int) -> bool:
        if k in self._new:
            return True
        held = self._held
        j = int(held.searchsorted(k))
        return j < held.shape[0] and int(held[j]) == k

    def __getitem__(self, k: int) -> bool:
        return not self._marked(k) and not any(k0 <= k < k1 for k0, k1 in self._ranges)

    def __setitem__(self, k: int, unchecked: bool) -> None:
        if unchecked:
            self._new.discard(k)
            held = self._held
            j = int(held.searchsorted(k))
            if j < held.shape[0] and int(held[j]) == k:
                self._held = np.delete(held, j)
            return
        if self._marked(k):
            return
        if self._held.shape[0] + len(self._new) >= _LAZY_MARKS_MAX:
            self._held, self._new = np.zeros(0, np.int64), set()
        self._new.add(k)
        if len(self._new) >= _MARKS_NEW:
            # (a copy: another thread's read may be adding to it)
            self._held = np.union1d(self._held, np.fromiter(tuple(self._new), np.int64))
            self._new = set()

    def block(self, k0: int, k1: int) -> np.ndarray:
        """The flags of entries ``k0:k1`` as an array (True: not checked)."""
        out = np.ones(k1 - k0, np.bool_)
        for r0, r1 in self._ranges:
            out[max(r0, k0) - k0 : max(min(r1, k1), k0) - k0] = False
        # (the set before the array: `__init__`)
        ks = np.fromiter(tuple(self._new), np.int64)
        held = self._held
        out[held[held.searchsorted(k0) : held.searchsorted(k1)] - k0] = False
        out[ks[(ks >= k0) & (ks < k1)] - k0] = False
        return out


class _SparseIndex:
    """The index an events/t that is sorted gives, for a span too long to hold one entry per
    millisecond (`_WHOLE_INDEX_MAX`): the first time of every `_SPARSE_EVENTS` events; an
    entry is found by a search of those, then of the one block of t it falls in (the last
    block read is kept: a read by time looks up two entries, mostly in one block)."""

    ndim = 1

    def __init__(self, t: h5py.Dataset, firsts: np.ndarray, base: int, size: int) -> None:
        self._t = t
        self._firsts = firsts
        self._base = base
        self.shape: tuple[int] = (size,)
        self._kept: tuple[int, np.ndarray] | None = None  # (first event, its block of t)

    def at(self, j: int) -> int:
        """Entry ``j``: the first event at or after millisecond ``base + j``."""
        target = 1000 * (self._base + j)
        g = int(np.searchsorted(self._firsts, target, side="left"))
        if g == 0:
            return 0
        a = (g - 1) * _SPARSE_EVENTS
        kept = self._kept
        if kept is not None and kept[0] == a:
            t = kept[1]
        else:
            t = np.asarray(self._t[a : a + _SPARSE_EVENTS], dtype=np.int64)
            self._kept = (a, t)
        return a + int(np.searchsorted(t, target, side="left"))


_MsIndex = np.ndarray | _LazyIndex | _SparseIndex


def _file_ms_index(ds: h5py.Dataset) -> tuple[_MsIndex | None, str]:
    """A file's ms_to_idx as reads use it: loaded whole, or read on demand when longer than
    `_WHOLE_INDEX_MAX` (`_LazyIndex`); else None and why not (the reader then builds one
    from the event times). One stored with axes of length 1 beside its entries (a column or
    row vector) is the 1-D index it holds. Any other shape is not read: it was loaded whole
    only to be found of no use (16 GiB at 2^31 entries); nor is one of strings or records
    (no event indices). Nor is a long one stored in
    compressed chunks of more entries than a whole load holds: HDF5 decodes a compressed
    chunk whole for any value in it, so each look-up decoded that much (uncompressed, HDF5
    reads just the values wanted from a chunk too big for its cache)."""
    if ds.shape is None:
        # an empty dataspace (h5py.Empty): reading it, or asking its shape's length, raised
        # a bare TypeError on open
        return None, "the file's ms_to_idx is empty (no dataspace); expected a 1-D index"
    shape = tuple(int(d) for d in ds.shape)
    long = [d for d, size in enumerate(shape) if size != 1]
    if not shape or len(long) > 1:
        return None, (
            f"the file's ms_to_idx has shape {shape}; expected a 1-D index (one entry per "
            "millisecond)"
        )
    if ds.dtype.kind not in "biuf":
        # strings failed the int64 cast as damage ('truncated or corrupt'), a compound type
        # with a bare TypeError
        return None, f"the file's ms_to_idx holds {ds.dtype} values; expected event indices"
    size = math.prod(shape)
    if size <= _WHOLE_INDEX_MAX:
        return np.asarray(ds[()], dtype=np.int64).reshape(-1), ""
    chunk = math.prod(ds.chunks) if ds.chunks else 0
    if chunk > _INDEX_CHUNK_MAX and ds.id.get_create_plist().get_nfilters():
        return None, (
            f"the file's ms_to_idx ({size} entries) is stored compressed in chunks of {chunk} "
            "entries, which HDF5 decodes whole for each entry read"
        )
    return _LazyIndex(ds, long[0]), ""


_COLUMNS = ("events/x", "events/y", "events/t", "events/p")
# what opening a file reads (frames only when read)
_OPEN_DATASETS = (
    *_COLUMNS,
    "t_offset",
    "ms_to_idx",
    "events/width",
    "events/height",
    "frame_ts_us",
    "frame_event_idx",
)


def _recorded_int(value: Any, what: str, path: Path) -> int:
    """A whole number a file records (an attribute or a scalar dataset), as a Python int;
    anything else (a fraction, a string, several values, beyond int64) raises
    `EventFileError` naming the file, ``what`` and the value."""
    raw = _decode_attr(value)
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]  # a one-element array, as some tools store a scalar
    number: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        number = raw
    elif isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
        number = int(raw)
    if number is None or not -(2**63) <= number < 2**63:
        raise EventFileError(f"{str(path)!r}: {what} is {raw!r}; expected a whole number (int64)")
    return number


class _OrderCheck:
    """The times of a read by time, checked as they are decoded, one block at a time while it
    is in the CPU cache: each must be at or after the one before it. A pass over the returned
    array afterwards would read it back from memory (a strided field of records, for a long
    window far larger than the cache); a compare of the block just decoded costs little
    beside its decompression. Holds the first and last times seen, as the file holds them.
    ``lead``/``tail``: the record read also decodes the time just before its first event
    (into ``before``, seeding ``last``) and just after its last one (into ``after``), from
    chunks it decodes anyway: a separate one-value read of them cost HDF5 a read call each."""

    __slots__ = ("_scratch", "after", "before", "first", "last", "lead", "tail")

    def __init__(self) -> None:
        self.first: int | None = None
        self.last: int | None = None  # the time before the next block (set to seed the check)
        self.lead = False
        self.tail = False
        self.before: int | None = None
        self.after: int | None = None
        self._scratch = np.empty(0, dtype=np.bool_)  # sized by the first block

    def step_down(self, t: np.ndarray) -> tuple[int, int] | None:
        """(index in ``t``, time before it) of its first time below the one before it, None
        if none."""
        if self.last is not None and t[0] < self.last:
            return 0, self.last
        k = t.shape[0]
        if k > 1:
            if k - 1 > self._scratch.shape[0]:
                self._scratch = np.empty(k - 1, dtype=np.bool_)
            down = np.less(t[1:], t[:-1], out=self._scratch[: k - 1])
            if down.any():
                j = int(down.argmax()) + 1
                return j, int(t[j - 1])
        return None


def open_hdf5(path: Path) -> h5py.File:
    """Open an HDF5 file for reading with clear errors for missing, empty and corrupt files."""
    if not path.exists():
        raise EventFileError(f"event file {str(path)!r} does not exist")
    if path.is_dir():
        raise EventFileError(f"{str(path)!r} is a directory; expected an event file")
    if path.stat().st_size == 0:
        raise EventFileError(f"event file {str(path)!r} is empty (0 bytes)")
    try:
        return h5py.File(path, "r", rdcc_nbytes=_FILE_CACHE_BYTES, rdcc_nslots=10007)
    except OSError as exc:
        other = _other_event_format(path)
        if other is not None:
            what, layout = other
            call = f"{str(path)!r}" + (f", layout={layout!r}" if layout else "")
            raise UnknownLayoutError(
                f"{str(path)!r} is {what}, not HDF5: EventReader reads eventsim/DSEC HDF5 "
                f"files only; read it with eventsim.io.open_events({call}), which reads every "
                "supported format"
            ) from None
        raise EventFileError(
            f"cannot read {str(path)!r} as HDF5: the file is truncated or corrupt ({exc})"
        ) from None


def _other_event_format(path: Path) -> tuple[str, str | None] | None:
    """(what ``path`` is, the layout `open_events` needs told or None) when it is not HDF5 but
    a file `open_events` reads, told by its first bytes or its suffix, so a user of
    `EventReader` is sent there rather than told the file is corrupt; None for a file with
    HDF5's signature (damaged) or of no format we know."""
    from eventsim.io.formats import sniff_event_file

    guess = sniff_event_file(path)
    # a damaged HDF5, or an .npy/.npz whose magic is missing, is told it is corrupt
    if guess is None or guess.layout == "hdf5":
        return None
    if guess.layout in ("npy", "npz") and not guess.by_contents:
        return None
    # open_events reads an .h5 (or other) suffix as HDF5 unless told
    forced = "npy" if guess.layout == "npy" and path.suffix.lower() != ".npy" else None
    return guess.what, forced


def _column_layout(grp: h5py.Group, path: Path) -> tuple[list[tuple[str, int, int]], int]:
    """(name, chunk length (0: not chunked), item size) of the four event columns, checked,
    and their length."""
    cols = [grp[k] for k in "xytp"]
    for name, ds in zip("xytp", cols, strict=True):
        if ds.ndim != 1:
            raise EventFileError(
                f"{str(path)!r}: events/{name} has shape {ds.shape}; expected a 1-D column"
            )
        # a float or string column would be truncated or garbled by the integer casts
        if ds.dtype.kind not in "iub":
            raise EventFileError(
                f"{str(path)!r}: events/{name} holds {ds.dtype} values; expected "
                f"integers ({EVENT_DTYPE[name]})"
            )
    n = cols[2].shape[0]
    if any(d.shape != (n,) for d in cols):
        raise EventFileError(
            f"{str(path)!r}: events/x, y, t, p have different lengths {[d.shape for d in cols]}"
        )
    return [(d.name, d.chunks[0] if d.chunks else 0, d.dtype.itemsize) for d in cols], n


def _block_events(chunks: list[int]) -> int:
    """Events per block of a record read: a whole number of every column's chunks (of the
    largest one when a common multiple would be much longer than `_BLOCK_EVENTS`)."""
    sizes = [c for c in chunks if c]
    if not sizes:
        return _BLOCK_EVENTS
    unit = math.lcm(*sizes)
    if unit > 4 * _BLOCK_EVENTS:
        unit = max(sizes)
    return unit * max(1, _BLOCK_EVENTS // unit)


def _open_column(f: h5py.File, name: str, cache_bytes: int) -> h5py.Dataset:
    """The dataset ``name`` with its own chunk cache; fully read chunks are evicted first
    (w0 = 1), so a long read leaves behind the partly read chunk a window read may want."""
    dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    dapl.set_chunk_cache(_CACHE_SLOTS, cache_bytes, 1.0)
    return h5py.Dataset(h5py.h5d.open(f.id, name.encode(), dapl))


def _as_event_type(name: str, values: np.ndarray) -> np.ndarray:
    """``values`` viewed as the event field's type when only signedness differs."""
    want = EVENT_DTYPE[name]
    if values.dtype.itemsize == want.itemsize and values.dtype.kind in "iu":
        return values.view(want)
    return values


def _native(dtype: np.dtype) -> np.dtype:
    """A column's type in this machine's byte order, for the arrays it is decoded into: HDF5
    converts a big-endian column as it reads. Arrays of the file's own type kept its order,
    and their views as event fields (native) read the bytes swapped: a time 5 read as
    360287970189639680."""
    return dtype.newbyteorder("=")


def _minus_one_to_zero(p: np.ndarray) -> None:
    p[p == -1] = 0


_INT16 = np.iinfo(np.int16)
_INT8 = np.iinfo(np.int8)


def _holds_beyond_int16(dtype: np.dtype) -> bool:
    """Whether a coordinate column of this type can hold values that int16 wraps."""
    if dtype.kind not in "iu":
        return False
    info = np.iinfo(dtype)
    return info.max > _INT16.max or info.min < _INT16.min


def _beyond_int16(path: Path, name: str, value: int) -> EventFileError:
    # read as int16 such a value would wrap to another coordinate, which checks then report
    # instead of the file's
    bound = "beyond the 32767" if value > 0 else "below the -32768"
    return EventFileError(
        f"{str(path)!r}: events/{name} holds {value}, {bound} that event coordinates (int16) hold"
    )


def _add_offset(values: np.ndarray, off: int, dest: np.ndarray) -> None:
    """``dest[:] = values + off`` in int64. An int64 block gets the offset in place (it is
    in the CPU cache) and is then copied: one pass over the strided ``dest`` instead of two."""
    if values.dtype == np.int64:
        values += off
        dest[...] = values
    else:
        dest[...] = values
        dest += off


def _kernel_for(n_events: int) -> ModuleType | None:
    """The numba pack kernel's module once it pays (see `_KERNEL_AFTER_EVENTS`), counting
    ``n_events`` more events read into records. None without numba."""
    global _NO_NUMBA, _records_read
    _records_read += n_events
    if not _USE_NUMBA or _NO_NUMBA:
        return None
    loaded = sys.modules.get("eventsim.io._pack_kernel")
    # while another thread imports it the module is already listed, without `pack` yet
    if loaded is not None and hasattr(loaded, "pack"):
        return loaded
    if (
        loaded is None
        and "eventsim.simulator._kernels" not in sys.modules
        and _records_read < _KERNEL_AFTER_EVENTS
    ):
        return None
    try:
        # waits for an import under way in another thread
        from eventsim.io import _pack_kernel
    except (ImportError, RuntimeError, OSError):
        # no numba, or numba finds no writable cache folder (RuntimeError): numpy packs
        _NO_NUMBA = True
        return None
    return _pack_kernel


# open readers: a forked child gets their locks free, as the parent's thread that held one at
# the fork is not there to release it
_OPEN_READERS: weakref.WeakSet[EventReader] = weakref.WeakSet()


def _free_locks_in_child() -> None:
    for reader in _OPEN_READERS:
        reader._bufs_lock = threading.Lock()
        reader._index_lock = threading.Lock()
        reader._open_file.after_fork()


def closed_reader_error(path: Path | None) -> EventFileError:
    """The refusal of a read from a reader after its `close`, the same from every reader."""
    if path is None:
        return EventFileError(
            "the reader of events in memory is closed; make a new reader of them to read them"
        )
    return EventFileError(f"the reader of {str(path)!r} is closed; open the file again to read it")


class _OpenFile:
    """Whether a reader's file is open, shared by the reader and its copies (they share the
    file): counts the reads under way, so that `EventReader.close` waits for them instead of
    pulling the file from under a thread (h5py then raised 'Invalid dataset identifier' in
    it), and refuses a read begun after the close with a typed error. ``with`` holds it
    around one public read."""

    def __init__(self, path: Path, file: h5py.File) -> None:
        self.path = path
        self.closed = False
        self._file = file
        # reads under way by thread: a close in a thread that is itself reading (a signal
        # handler or a finaliser run in the middle of the read) cannot wait for that read. One
        # count per thread, changed by one store: a handler (or Ctrl-C) that came between a
        # total and a per-thread count found them disagree and waited forever
        self._reads: dict[int, int] = {}
        self._close_at_end = False
        self._cond = threading.Condition()

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._cond:
            # counted before the check: a close run between the two (by a signal handler)
            # either finds this read under way or is found by the check
            self._reads[me] = self._reads.get(me, 0) + 1
            closed = self.closed
        if closed:
            self.__exit__()
            raise closed_reader_error(self.path)

    def __exit__(self, *exc: object) -> None:
        me = threading.get_ident()
        with self._cond:
            n = self._reads[me] - 1
            if n:
                self._reads[me] = n
            else:
                del self._reads[me]
            last = not self._reads
            if last:
                self._cond.notify_all()
            close_now = last and self._close_at_end
        if close_now:
            self._file.close()

    def close(self) -> None:
        """Refuse new reads, then wait for those under way to finish and close the file. A
        close in a thread whose own read is under way leaves the file to the last read's end."""
        with self._cond:
            self.closed = True
            if self._reads.get(threading.get_ident()):
                self._close_at_end = True
                return
        try:
            with self._cond:
                self._cond.wait_for(lambda: not self._reads)
        finally:
            # also when Ctrl-C ends the wait: HDF5's lock on the file must not outlive it
            self._file.close()

    def after_fork(self) -> None:
        # the threads whose reads were under way at the fork are not in the child
        self._reads = {}
        self._cond = threading.Condition()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_free_locks_in_child)


class EventColumns(NamedTuple):
    """Events as four column arrays (what `EventReader.read_columns` returns): ``x``, ``y``
    int16, ``t`` int64 absolute µs, ``p`` int8 in {0, 1}; no 13-byte records are built."""

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray

    def __len__(self) -> int:
        return int(self.t.shape[0])


_COLUMN_DTYPES = {name: EVENT_DTYPE[name] for name in "xytp"}


class EventReader:
    """Read an eventsim or DSEC-layout HDF5 file lazily.

    Times are absolute microseconds (``/t_offset`` applied). ``t_end_us`` is one past the last
    event, so ``read(r.t_start_us, r.t_end_us)`` returns everything. Files without
    ``/ms_to_idx`` (e.g. RVT conversions) get an index built in memory on first use.
    ``sensor_size`` is taken from the file's attributes, then from the argument, and is
    otherwise inferred from the largest coordinates (``sensor_size_inferred`` is then True).

    Threads may share one reader: every read returns what it would alone (h5py runs one HDF5
    call at a time, so threads wait for each other's decoding; one reader per thread does not
    decode faster). `close` waits for the reads under way in other threads, and a read begun
    after it raises `EventFileError`. A reader opened before a fork
    reads right in the children; it cannot be pickled (spawn or forkserver workers): open one
    in each worker from the path instead.

    events/p may hold 0/1 or -1/+1 (told by its first OFF value); a read meeting both raises
    `InvalidEventsError`, or with ``check_polarity=False`` (a tool that reports bad events
    rather than refuses them, ``eventsim info``) reads on, the other convention's OFF value
    as the file holds it, and keeps the earliest mix met in ``polarity_mix``.
    """

    layout = "eventsim"
    time_unit_detected = "us"
    #: the events are read in the file's order, never sorted (`EventFileReader.file_index`)
    file_index: np.ndarray | None = None

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        sensor_size: tuple[int, int] | None = None,
        check_polarity: bool = True,
    ) -> None:
        self.path = Path(path)
        self._refuse_mix = check_polarity
        #: the earliest mix of -1/+1 and 0/1 polarity that a read met and, without
        #: ``check_polarity``, let through: a -1/+1 column's stray 0 reads as 0 like each -1,
        #: so no check of the events read can see it
        self.polarity_mix: StreamProblem | None = None
        self._f = open_hdf5(self.path)
        self._open_file = _OpenFile(self.path, self._f)
        self.notes: list[str] = []
        try:
            self._open(sensor_size)
        except EventsimError:
            self._f.close()
            raise
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            why = self._why_unreadable(exc, _OPEN_DATASETS)
            self._f.close()
            raise EventFileError(f"cannot read events from {str(self.path)!r}: {why}") from None
        except BaseException:
            # anything else (Ctrl-C, a bug) must not keep the file open, and HDF5's lock on it,
            # for as long as its traceback lives
            self._f.close()
            raise

    def _open(self, sensor_size: tuple[int, int] | None) -> None:
        f = self._f
        grp = f.get("events")
        if not isinstance(grp, h5py.Group) or not all(
            isinstance(grp.get(k), h5py.Dataset) for k in "xytp"
        ):
            from eventsim.io.layouts import HDF5_LAYOUTS, _sniff_hdf5

            found = _sniff_hdf5(f)
            hint = (
                f": it has the {found} layout ({HDF5_LAYOUTS[found]}); read it with "
                f"eventsim.io.open_events({str(self.path)!r}), which reads every supported layout"
                if found is not None
                else f"; it has {sorted(f.keys())}"
            )
            raise UnknownLayoutError(
                f"{str(self.path)!r} does not have the DSEC layout "
                f"(events/x, events/y, events/t, events/p){hint}"
            )
        # only names and shapes leave `_column_layout`: HDF5 shares one open dataset (and its
        # chunk cache) between all handles to it, so no other handle may be open when the
        # columns are reopened with their own caches
        layout, n = _column_layout(grp, self.path)
        self._n = n
        self._block = _block_events([c for _, c, _ in layout])
        # one block plus one chunk: what a window read straddling a block edge touches
        self._x, self._y, self._t, self._p = (
            _open_column(f, name, (self._block + c) * size if c else 0) for name, c, size in layout
        )
        # coordinate columns whose values each read checks as it decodes them (a max, and a
        # min for wide signed types, over the block just read): int16 and narrower columns
        # cannot wrap and cost nothing
        self._wide = frozenset(
            name for name, ds in (("x", self._x), ("y", self._y)) if _holds_beyond_int16(ds.dtype)
        )
        # the decode buffers of record reads, reused by one read at a time: a read that finds
        # them in use (by another thread) decodes into buffers of its own
        self._bufs: dict[str, np.ndarray] | None = None
        self._bufs_lock = threading.Lock()
        # held while a foreign ms_to_idx is replaced, so threads that find it wrong together
        # build one index and note it once
        self._index_lock = threading.Lock()
        _OPEN_READERS.add(self)
        self.attrs = {k: _decode_attr(v) for k, v in f.attrs.items()}
        if self.attrs.get("format") != FORMAT_NAME:
            self.layout = "dsec"
        toff = f.get("t_offset")
        if toff is None:
            self.t_offset_us = 0
        elif isinstance(toff, h5py.Dataset):
            self.t_offset_us = _recorded_int(toff[()], "t_offset", self.path)
        else:
            raise EventFileError(
                f"{str(self.path)!r}: t_offset is a group; expected a scalar dataset (µs)"
            )
        ms = f.get("ms_to_idx")
        # (ms_to_idx, the marks of its entries not yet checked against the event times (None:
        # all trusted), the millisecond of its first entry: 0 but in an index built in memory,
        # see `_build_ms_index`): `_entry` checks each marked entry before its first use. One
        # attribute, replaced whole, so a thread never pairs one index with another's marks
        index: _MsIndex | None = None
        unused = "file has no ms_to_idx"  # why no index of the file's is used
        if isinstance(ms, h5py.Dataset):
            index, unused = _file_ms_index(ms)
        self._index: tuple[_MsIndex | None, np.ndarray | _LazyMarks | None, int] = (index, None, 0)
        self._p_signed = self._signed_polarity()
        # whether events/t is known to be sorted: once the index is built from all of t
        # (`_build_ms_index`), which also finds the first time out of order (`_disorder`:
        # index, time before, time there). Until then each read by time checks the events it
        # read and the two around them (`_read_window`), our own files too: our writer sorts,
        # but a file edited since (h5py rewriting some t) would give wrong windows silently
        self._t_sorted = False
        self._disorder: tuple[int, int, int] | None = None
        self._spans: tuple[np.ndarray, np.ndarray] | None = None  # `_t_spans`
        if n:
            self._t_first = int(self._t[0])
            self._t_last = int(self._t[n - 1])
        else:
            self._t_first = self._t_last = 0
        if self.t_offset_us and n:
            ends = (self.t_offset_us + self._t_first, self.t_offset_us + self._t_last)
            if not all(-(2**63) <= e < 2**63 for e in ends):
                # the sum wrapped in int64: the events read back at times far before the first
                raise EventFileError(
                    f"{str(self.path)!r}: t_offset {self.t_offset_us} plus events/t "
                    f"({self._t_first}..{self._t_last}) leaves int64 µs; t_offset or the times "
                    "are corrupt"
                )
        if self._ms is None and n:
            ms, base = self._build_ms_index()
            self._index = (ms, None, base)
            self.notes.append(f"{unused}; built the index in memory")
        elif n and self.layout == "dsec" and not self._ms_index_fits():
            # another tool's index (another convention, or cut short) would give wrong windows
            self._reindex(self._ms)
        self.params = _json_dict(self.attrs.get("params"))
        self.source = _json_dict(self.attrs.get("source"))
        self.sensor_size_inferred = False
        file_size = self._file_sensor_size()
        if file_size is not None:
            if sensor_size is not None and tuple(sensor_size) != file_size:
                raise ArgumentValueError(
                    "sensor_size",
                    sensor_size,
                    f" was given but {str(self.path)!r} records {file_size[0]}x{file_size[1]}",
                )
            self.sensor_size = file_size
        elif sensor_size is not None:
            self.sensor_size = check_sensor_size(sensor_size)
        else:
            self.sensor_size = self._infer_sensor_size()
            self.sensor_size_inferred = True
            self.notes.append(
                f"sensor size not recorded; inferred {self.sensor_size[0]}x"
                f"{self.sensor_size[1]} from the largest coordinates"
                if len(self)
                else "sensor size not recorded and no events to infer it from"
            )
        fr = f.get("frames")
        self._frames = fr if isinstance(fr, h5py.Dataset) else None
        missing = [k for k in ("frame_ts_us", "frame_event_idx") if k not in f]
        if self._frames is not None and missing:
            # the events are whole without them; another tool's frames are left out
            self.notes.append(f"the file has frames but no {' or '.join(missing)}; frames left out")
        if self._frames is not None and not missing:
            self.frame_ts_us = np.asarray(f["frame_ts_us"][()], dtype=np.int64)
            self.frame_event_idx = np.asarray(f["frame_event_idx"][()], dtype=np.int64)
            # kept: the dataset's shape cannot be asked once the file is closed
            self._num_frames = int(self._frames.shape[0])
        else:
            self._frames = None
            self.frame_ts_us = np.zeros(0, np.int64)
            self.frame_event_idx = np.zeros(0, np.int64)

    def _signed_polarity(self) -> bool:
        """Whether events/p holds -1/+1, as other tools write it: each read then turns -1
        into 0 (OFF), as the readers of the other layouts do. The first block holding a 0 or
        a -1 tells: a -1 and no 0. Blocks of only +1 (a burst of ON events) tell nothing, so
        the look goes on (through the whole column only when it holds no 0 and no -1). The
        index of the OFF value that told is kept in ``_p_off_at``: a read meeting the other
        convention's OFF value (`_check_polarity`) names it beside that one."""
        self._p_off_at: int | None = None
        if self._p.dtype.kind != "i":
            return False
        for a in range(0, self._n, self._block):
            b = min(a + self._block, self._n)
            block = np.asarray(self._p[a:b])
            if np.any(block == 0):
                self._p_off_at = a + int(np.argmax(block == 0))
                return False
            if np.any(block == -1):
                self._p_off_at = a + int(np.argmax(block == -1))
                self.notes.append(
                    f"polarity -1/+1 in events/p (a -1 and no 0 among its first {b} values) "
                    "read as 0/1 (-1 -> 0, +1 -> 1)"
                )
                return True
        return False

    def _file_sensor_size(self) -> tuple[int, int] | None:
        names = ("attribute sensor_width", "attribute sensor_height")
        w, h = self.attrs.get("sensor_width"), self.attrs.get("sensor_height")
        if w is None or h is None:
            grp = self._f["events"]
            if isinstance(grp.get("width"), h5py.Dataset) and isinstance(
                grp.get("height"), h5py.Dataset
            ):
                names = ("events/width", "events/height")
                w, h = grp["width"][()], grp["height"][()]
        if w is None or h is None:
            return None
        size = tuple(_recorded_int(v, what, self.path) for v, what in zip((w, h), names))
        try:
            return check_sensor_size(size)
        except ParameterError:
            raise EventFileError(
                f"{str(self.path)!r}: {names[0]} = {size[0]} and {names[1]} = {size[1]}; "
                "expected a sensor size of 1..32767 in each dimension"
            ) from None

    def _infer_sensor_size(self) -> tuple[int, int]:
        w = h = 0
        for a in range(0, self._n, 1 << 20):
            b = min(a + (1 << 20), self._n)
            w = max(w, int(self._x[a:b].max()) + 1)
            h = max(h, int(self._y[a:b].max()) + 1)
        for name, side in (("x", w), ("y", h)):
            if side - 1 > _INT16.max:
                raise _beyond_int16(self.path, name, side - 1)
        return (max(w, 1), max(h, 1))

    def _ms_index_fits(self) -> bool:
        """Whether ``ms_to_idx`` follows the layout's rule, ``t[ms_to_idx[k]] >= 1000 k >
        t[ms_to_idx[k] - 1]``, as far as can be told cheaply: its length, bounds and order in
        full, and every entry whose millisecond falls in the first or the last chunk of ``t``
        (decoded already for the first and last times), which catches another tool's
        convention or an offset index. The other entries are left in ``_unchecked`` for
        `_entry`: checking a sample of them here decoded every chunk of ``t`` on each open
        (14-17 ms for 2 M gzip events). Of an index too long to load (`_LazyIndex`), only
        `_LAZY_CHECK` entries at each end of those chunks' ranges are checked here, and its
        order only there: `_entry` checks the bounds of each other entry it uses too."""
        ms = self._ms
        if ms is None or ms.ndim != 1:
            return False
        size = ms.shape[0]
        top = self._t_last // 1000  # the last event's millisecond; negative in foreign files
        if size < top + 1:
            return False
        if size == 0:
            return True  # every event is before t = 0: no entry is needed
        n = self._n
        if isinstance(ms, np.ndarray):
            if ms[0] < 0 or ms[-1] > n or np.any(np.diff(ms) < 0):
                return False
        elif not isinstance(ms, _LazyIndex) or ms.at(0) < 0 or ms.at(size - 1) > n:
            return False
        # at most 2^20 events of each chunk: a foreign file's chunk may be far longer
        span = min(self._t.chunks[0] if self._t.chunks else 1 << 16, 1 << 20)
        chunk = self._t.chunks[0] if self._t.chunks else span
        checked: list[tuple[int, int]] = []
        for a in sorted({0, max((n - 1) // chunk * chunk, n - span)}):
            b = min(a + span, n)
            seg = np.asarray(self._t[a:b], dtype=np.int64)
            # entries whose millisecond lies within this run of times: the run alone tells
            # where each belongs (t sorted: earlier times are below seg[0], later ones above)
            k0 = 0 if a == 0 else max(int(seg[0]) // 1000 + 1, 0)
            k1 = size if b == n else min(int(seg[-1]) // 1000 + 1, size)
            if k1 <= k0:
                continue
            ranges = [(k0, k1)]
            if isinstance(ms, _LazyIndex):
                # its ends: the last of them up to the end of the last event's millisecond
                # (those after it only ever give the end of the file)
                end = min(k1, top + 2)
                ranges = [(k0, min(k1, k0 + _LAZY_CHECK)), (max(k0, end - _LAZY_CHECK), end)]
            for r0, r1 in ranges:
                if r1 <= r0:
                    continue
                want = a + np.searchsorted(seg, np.arange(r0, r1, dtype=np.int64) * 1000, "left")
                held = ms[r0:r1] if isinstance(ms, np.ndarray) else ms.entries(r0, r1)
                if not np.array_equal(held, want):
                    return False
                checked.append((r0, r1))
        if isinstance(ms, np.ndarray):
            unchecked = np.ones(size, np.bool_)
            for r0, r1 in checked:
                unchecked[r0:r1] = False
            self._index = (ms, unchecked if unchecked.any() else None, 0)
        else:
            self._index = (ms, _LazyMarks(checked), 0)
        return True

    @property
    def _ms(self) -> _MsIndex | None:
        return self._index[0]

    @property
    def _unchecked(self) -> np.ndarray | _LazyMarks | None:
        return self._index[1]

    def _reindex(
        self,
        stale: _MsIndex | None,
        built: tuple[_MsIndex, int] | None = None,
        detail: str = "",
    ) -> None:
        """Replace the foreign ``ms_to_idx`` ``stale`` found not to match the event times by
        ``built`` (`_build_ms_index`), unless another thread has replaced it already."""
        with self._index_lock:
            if self._index[0] is not stale:
                return
            ms, base = self._build_ms_index() if built is None else built
            self._index = (ms, None, base)
            self.notes.append(
                f"the file's ms_to_idx does not match its event times{detail}; built the index "
                "in memory"
            )

    def check_ms_index(self) -> None:
        """Check every entry of a foreign ``ms_to_idx`` that opening left unchecked against
        the event times, reading all of ``t`` (``eventsim info`` does); an index that does
        not match is replaced and noted, as on open. Opening checks the first and last chunks
        only, and `_entry` each other entry before its first use, so reads are right either
        way: this finds a bad entry that no read has used yet. The index is compared a
        block of entries at a time, as the event times give them (`_built_entries`)."""
        ms, unchecked, _ = self._index
        if ms is None or unchecked is None or isinstance(ms, _SparseIndex):
            return
        # entries past the last event's millisecond and the one after it are the end of the
        # file, as open's checks of order and bounds ensured (`_LazyIndex`: no read uses them)
        k1 = min(ms.shape[0], max(self._t_last // 1000 + 2, 0))
        detail = None
        with self._open_file:
            try:
                # from 0 as the file's index is, to compare them entry by entry
                for k, built in self._built_entries(0, k1):
                    k2 = k + built.shape[0]
                    held = ms[k:k2] if isinstance(ms, np.ndarray) else ms.entries(k, k2)
                    if isinstance(unchecked, np.ndarray):
                        marks = unchecked[k:k2]
                    else:
                        marks = unchecked.block(k, k2)
                    bad = np.flatnonzero((held != built) & marks)
                    if bad.size:
                        i = int(bad[0])
                        detail = (
                            f" (first ms_to_idx[{k + i}] = {int(held[i])}, the event times give "
                            f"{int(built[i])})"
                        )
                        break
                if detail is not None:
                    self._reindex(ms, None, detail)
            except OSError as exc:
                raise self._damaged_index_read(exc) from None
        if detail is None:
            with self._index_lock:
                if self._index[0] is ms:
                    self._index = (ms, None, 0)

    def _entry(self, k: int) -> int:
        """``ms_to_idx[k]`` (the end of the file past the index), checked against the event
        times around it before its first use; a foreign index that fails is rebuilt."""
        ms, unchecked, base = self._index
        if ms is None or k - base >= ms.shape[0]:
            return self._n
        if k < base:
            return 0  # an index built from the first event's millisecond: all are later
        i = int(ms[k - base]) if isinstance(ms, np.ndarray) else ms.at(k - base)
        # (only a file's own index, which starts at 0, has entries to check)
        if unchecked is not None and unchecked[k]:
            # (bounds: opening checks those of a `_LazyIndex`'s ends only)
            if not 0 <= i <= self._n:
                self._reindex(ms)
                return self._entry(k)
            near = np.asarray(self._t[max(i - 1, 0) : i + 1], dtype=np.int64)
            if (i < self._n and near[-1] < 1000 * k) or (i > 0 and near[0] >= 1000 * k):
                self._reindex(ms)
                return self._entry(k)
            # marks the array of the index just read: no harm if another thread replaced it
            unchecked[k] = False
        return i

    def _build_ms_index(self) -> tuple[_MsIndex, int]:
        """The index from all of events/t, and the millisecond of its first entry: that of
        the first event (0 for times before 0). From 0, the index of times that start far
        from it (µs since 1970 and no t_offset) took terabytes; of more than
        `_WHOLE_INDEX_MAX` milliseconds, it is kept sparse (`_SparseIndex`). Building it also
        tells whether t is sorted (noted when it is not: reads by time then refuse the file,
        see `_refuse_unsorted`)."""
        last = int(self._t[self._n - 1])
        base = max(self._t_first // 1000, 0)
        size = max(last // 1000 + 2 - base, 0)
        if size > _WHOLE_INDEX_MAX:
            firsts = [t[::_SPARSE_EVENTS].copy() for _, t in self._t_pass()]
            return _SparseIndex(self._t, np.concatenate(firsts), base, size), base
        out = np.empty(size, np.int64)
        for k, values in self._built_entries(base, base + size):
            out[k - base : k - base + values.shape[0]] = values
        return out, base

    def _t_pass(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first event, times) of each block of 2^20 events of events/t, in int64, in order;
        once all are read, t is known sorted (`_t_sorted`) or its first step down is noted
        (`_found_disorder`)."""
        before: int | None = None  # the last time of the previous block
        disorder = self._disorder
        for a in range(0, self._n, 1 << 20):
            t = np.asarray(self._t[a : a + (1 << 20)], dtype=np.int64)
            if disorder is None:
                if before is not None and t[0] < before:
                    disorder = (a, before, int(t[0]))
                else:
                    down = np.flatnonzero(t[1:] < t[:-1])
                    if down.size:
                        j = int(down[0])
                        disorder = (a + j + 1, int(t[j]), int(t[j + 1]))
                before = int(t[-1])
            yield a, t
        if disorder is None:
            self._t_sorted = True
        else:
            self._found_disorder(disorder)

    def _built_entries(self, k0: int, k1: int) -> Iterator[tuple[int, np.ndarray]]:
        """Entries ``k0:k1`` of the index events/t gives (the first event at or after each
        millisecond), as (first entry, entries) in blocks of at most `_INDEX_STEP`, from one
        pass over t (`_t_pass`): no array of them all, which for a long span did not fit."""
        k = k0
        end = 0  # the end of the events read
        for a, t in self._t_pass():
            end = a + t.shape[0]
            # the entries whose millisecond starts at or before this block's last time (t
            # sorted: after the previous block's)
            stop = min(k1, int(t[-1]) // 1000 + 1)
            while k < stop:
                step = min(stop, k + _INDEX_STEP)
                ms = np.arange(k, step, dtype=np.int64) * 1000
                yield k, a + np.searchsorted(t, ms, side="left")
                k = step
        while k < k1:
            step = min(k1, k + _INDEX_STEP)
            yield k, np.full(step - k, end, np.int64)
            k = step

    def _found_disorder(self, disorder: tuple[int, int, int]) -> None:
        # (called under `_index_lock` by a rebuild, so not locked here: two threads finding
        # the disorder at once would at worst note it twice)
        if self._disorder is not None:
            return
        self._disorder = disorder
        self.notes.append(
            f"{self._disorder_words(disorder)}; reads by time window refuse the file (their "
            "windows would be wrong), reads by index and whole reads give the file's order"
        )

    @staticmethod
    def _disorder_words(disorder: tuple[int, int, int]) -> str:
        i, before, there = disorder
        return (
            f"events/t is not sorted by time (events/t[{i}] = {there} after "
            f"events/t[{i - 1}] = {before})"
        )

    def _refuse_unsorted(self) -> None:
        """Refuse a read by time of a file whose events/t is found not sorted."""
        disorder = self._disorder
        if disorder is None:
            return
        raise EventFileError(
            f"{str(self.path)!r}: {self._disorder_words(disorder)}, so reads by time window "
            "would miss or misplace events; read it whole or by index, or write a copy sorted "
            f"by time: eventsim convert {str(self.path)!r} SORTED.h5 --sort"
        )

    def _step_down(self, check: _OrderCheck, t: np.ndarray, lo: int) -> None:
        """Refuse the read by time under way when the times ``t`` of events ``lo:...``, as
        the file holds them, fall below the ones read before them (`_OrderCheck`)."""
        if not t.shape[0]:
            return
        step = check.step_down(t)
        if step is not None:
            j, before = step
            self._found_disorder((lo + j, before, int(t[j])))
            self._refuse_unsorted()
        check.last = int(t[-1])
        if check.first is None:
            check.first = int(t[0])

    def _time_at(self, i: int) -> int:
        """events/t[i] as the file holds it (`_times_at`)."""
        return self._times_at(i, 1)[0]

    def _times_at(self, i: int, count: int) -> list[int]:
        """events/t[i : i + count] as the file holds it (`_t_values`)."""
        return [int(v) for v in self._t_values(i, count)]

    def _t_values(self, i: int, count: int) -> np.ndarray:
        """events/t[i : i + count] as the file holds it, through the low-level API (h5py's
        indexing builds its selection in Python on each call); its chunk is usually in the
        chunk cache, decoded by the read beside it."""
        fspace = self._t.id.get_space()
        fspace.select_hyperslab((i,), (count,))
        buf = np.empty(count, dtype=_native(self._t.dtype))
        self._t.id.read(h5py.h5s.create_simple((count,)), fspace, buf)
        return buf

    def _read_window(
        self,
        t_start_us: int | None,
        t_end_us: int | None,
        read: Callable[..., _R],
        edges: bool = False,
    ) -> _R:
        """``read(a, b, check)`` of the events ``a:b`` a read by time wants, checked where the
        order of events/t is not known (`_t_sorted`): the events read must be sorted and inside
        the window (checked block by block as they are decoded, see `_OrderCheck`), and the
        event just before and just after them outside it (two values, from chunks the read
        decodes anyway unless an end of the range falls on a chunk's edge). A time out of
        order farther from the window's ends goes unseen, but does not change what the window
        returns. When an end is wrong the index is rebuilt from all of t: a file with a step
        down in t is then refused, naming it; a wrong ms_to_idx is replaced (noted) and the
        read done again. ``edges``: ``read`` decodes the two values itself where they lie in
        the chunks it decodes (`_OrderCheck`'s ``lead`` and ``tail``)."""
        a, b = self._index_range(t_start_us, t_end_us)
        if self._t_sorted:
            return read(a, b, None)
        stale = self._ms
        if 0 <= a <= b <= self._n:
            got, detail = self._checked_read(a, b, t_start_us, t_end_us, read, edges)
            if detail is None:
                return got
        else:
            # only a wrong ms_to_idx gives these (ours is trusted on opening): reading them
            # blamed damage ('selection not within extent') or named events past the end
            detail = f"it gave events {a}:{b} of {self._n} for a read by time"
        try:
            built = self._build_ms_index()
        except OSError as exc:
            raise self._damaged("events/t", exc, "events/t") from None
        self._refuse_unsorted()
        self._reindex(stale, built, f" ({detail})")
        a, b = self._index_range(t_start_us, t_end_us)
        return read(a, b, None)

    def _checked_read(
        self,
        a: int,
        b: int,
        t_start_us: int | None,
        t_end_us: int | None,
        read: Callable[..., _R],
        edges: bool,
    ) -> tuple[_R, str | None]:
        """``read(a, b, check)`` as `_read_window` checks it, and what is wrong with the
        range ``a:b`` the index gave for the window (None: nothing)."""
        off = self.t_offset_us
        r0 = None if t_start_us is None else _ceil_us(t_start_us) - off
        r1 = None if t_end_us is None else _ceil_us(t_end_us) - off
        check = _OrderCheck()
        if edges and b > a and self._t.chunks:
            # where t[a - 1] lies in the chunk of a that the first block's times come from
            # (all of them: a damaged other chunk would be blamed on it), and t[b] in the
            # chunk and block of t[b - 1]; either in the block's buffer beside the others
            chunk, step = self._t.chunks[0], self._block
            first_hi = min((a // step + 1) * step, b)
            check.lead = (
                a % chunk != 0 and a % step != 0 and first_hi <= (a // chunk + 1) * chunk
            ) and r0 is not None
            check.tail = b % chunk != 0 and b % step != 0 and b < self._n and r1 is not None
        after = None
        try:
            if a == b and 0 < a < self._n and r0 is not None and r1 is not None:
                # an empty window: the times either side of it, in one read
                check.before, after = self._times_at(a - 1, 2)
                check.last = check.before
                got = read(a, b, check)
            else:
                if a > 0 and r0 is not None and not check.lead:
                    # read first: its chunk is then in the cache for the read (when it is
                    # a's); a step down at ``a`` is found as one
                    check.before = check.last = self._time_at(a - 1)
                got = read(a, b, check)
                if b < self._n and r1 is not None:
                    after = check.after if check.tail else self._time_at(b)
            lead = check.before
        except EventsimError:
            raise
        except OSError as exc:
            raise self._damaged("events/t", exc, "events/t") from None
        bad = None
        if lead is not None and r0 is not None and lead >= r0:
            bad = (a - 1, lead, "start")
        elif check.first is not None and r0 is not None and check.first < r0:
            bad = (a, check.first, "start")
        elif b > a and r1 is not None and check.last is not None and check.last >= r1:
            bad = (b - 1, check.last, "end")
        elif after is not None and r1 is not None and after < r1:
            bad = (b, after, "end")
        if bad is None:
            return got, None
        i, value, edge = bad
        return got, (
            f"a read by time found events/t[{i}] = {value} on the wrong side of its window's {edge}"
        )

    def __reduce__(self) -> NoReturn:
        # h5py's own refusal, "h5py objects cannot be pickled", says neither what nor what to do
        raise TypeError(
            f"an EventReader cannot be pickled (it holds {str(self.path)!r} open): pass the "
            "path and open a reader in the other process (DataLoader workers started by spawn "
            "or forkserver: in worker_init_fn or on the worker's first item)"
        )

    def __copy__(self) -> EventReader:
        # copy.copy goes through __reduce__ unless this is defined; it made a shallow copy
        # before pickling was refused. The copy shares the open file, not the decode buffers
        # or the locks: a child forked later frees each reader's own
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._bufs = None
        new._bufs_lock = threading.Lock()
        new._index_lock = threading.Lock()
        _OPEN_READERS.add(new)
        return new

    # -- basic properties -----------------------------------------------------------------------
    def __enter__(self) -> EventReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        # what a notebook shows: all from what open read already, no read, never raising
        try:
            return _reader_repr(self, self._n, self._open_file.closed)
        except Exception:  # a reader whose __init__ raised
            return f"<{type(self).__name__} (incomplete)>"

    @property
    def closed(self) -> bool:
        """Whether `close` was called (on this reader or a copy): reads then raise."""
        return self._open_file.closed

    def close(self) -> None:
        """Close the file once the reads other threads have under way are done; a read begun
        after the close raises `EventFileError`. Copies (`copy.copy`) share the file: closing
        one closes it for all. A close that interrupts a read of its own thread (in a signal
        handler) returns at once, and the file closes when that read ends."""
        self._open_file.close()

    def __len__(self) -> int:
        return self._n

    @property
    def t_start_us(self) -> int:
        """Time of the first event (0 when there is none)."""
        return self.t_offset_us + self._t_first if self._n else 0

    @property
    def t_end_us(self) -> int:
        """One past the time of the last event (0 when there is none)."""
        return self.t_offset_us + self._t_last + 1 if self._n else 0

    @property
    def duration_us(self) -> int:
        """``t_end_us - t_start_us``."""
        return self.t_end_us - self.t_start_us

    # -- reading --------------------------------------------------------------------------------
    def read_index(
        self, start: int | None = None, stop: int | None = None, *, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Events ``start:stop`` by index (clipped to the file).

        ``out``: an `EVENT_DTYPE` array to fill and return a view of, so a consumer reading
        many ranges can reuse one buffer instead of allocating (and page-faulting) each time.
        """
        with self._open_file:
            return self._read_index(start, stop, out)

    def _read_index(
        self,
        start: int | None,
        stop: int | None,
        out: np.ndarray | None,
        check: _OrderCheck | None = None,
    ) -> np.ndarray:
        a, b, _ = slice(start, stop).indices(self._n)
        if b <= a:
            return empty_events()
        prefault = None
        if out is None:
            out = np.empty(b - a, dtype=EVENT_DTYPE)
            prefault = _prefault([out])
        elif out.dtype != EVENT_DTYPE or out.ndim != 1 or out.shape[0] < b - a:
            raise ParameterError(
                f"out has dtype {out.dtype} and shape {out.shape}; expected a 1-D EVENT_DTYPE "
                f"array of at least {b - a} events"
            )
        out = out[: b - a]
        try:
            self._read_records(out, a, b, check)
        except EventsimError:
            raise  # an EventFileError is an OSError: one that says why is no damage
        except OSError as exc:
            raise EventFileError(
                f"cannot read events {a}:{b} from {str(self.path)!r}: "
                f"{self._why_unreadable(exc, _COLUMNS)}"
            ) from None
        finally:
            if prefault is not None:
                prefault.join()
        return out

    def _columns(self) -> tuple[tuple[str, h5py.Dataset], ...]:
        return (("x", self._x), ("y", self._y), ("t", self._t), ("p", self._p))

    def _new_bufs(self, n: int) -> dict[str, np.ndarray]:
        return {name: np.empty(n, dtype=_native(ds.dtype)) for name, ds in self._columns()}

    def _read_records(
        self, out: np.ndarray, a: int, b: int, check: _OrderCheck | None = None
    ) -> None:
        """Events ``a:b`` into the records ``out``, one block of whole chunks at a time:
        decoded into small reused buffers, then packed while they are still in the CPU cache
        (fresh full-size column arrays would cost page faults and a second pass)."""
        if not self._bufs_lock.acquire(blocking=False):
            # another thread's read is using them
            # (room for the times either side, `_OrderCheck`)
            self._decode_records(out, a, b, self._new_bufs(min(self._block, b - a + 2)), check)
            return
        try:
            if self._bufs is None:
                self._bufs = self._new_bufs(self._block)
            self._decode_records(out, a, b, self._bufs, check)
        finally:
            self._bufs_lock.release()

    def _check_coordinates(self, name: str, values: np.ndarray) -> None:
        """Refuse ``values`` of column ``name``, as the file holds them, that int16 wraps."""
        if not values.size:
            return
        top = int(values.max())
        if top > _INT16.max:
            raise _beyond_int16(self.path, name, top)
        if values.dtype.kind == "i":
            bottom = int(values.min())
            if bottom < _INT16.min:
                raise _beyond_int16(self.path, name, bottom)

    def _check_polarity(self, p: np.ndarray, lo: int) -> None:
        """Refuse values of events/p ``lo : lo + len(p)``, as the file holds them, that the
        read would turn into another's meaning: the other convention's OFF value than the
        column's (`_signed_polarity`), a 0 in a -1/+1 column or a -1 in a 0/1 one (a mix,
        `InvalidEventsError`, or kept in ``polarity_mix`` without ``check_polarity``), and
        values int8 wraps (256 read as 0, `EventFileError`, as
        coordinates int16 wraps). Other values (a 2) are kept for the checks to report
        (`StreamCheck`), as the readers of the other layouts keep them for ``info``."""
        if not p.size or p.dtype.kind == "b":
            return
        if self._p_signed:
            if not (np.abs(p) != 1).any():
                return
        # as unsigned, a negative value is beyond 1 too: one reduction, no temporary array
        elif int(p.view(f"u{p.dtype.itemsize}").max()) <= 1:
            return
        if p.dtype.itemsize > 1 or p.dtype.kind == "u":
            wraps = np.flatnonzero((p < _INT8.min) | (p > _INT8.max))
            if wraps.size:
                i = int(wraps[0])
                raise EventFileError(
                    f"{str(self.path)!r}: events/p holds {int(p[i])} (p[{lo + i}]), beyond the "
                    "-128..127 that polarity (int8) holds; expected 0/1 or -1/+1"
                )
        off, other = (-1, 0) if self._p_signed else (0, -1)
        strays = np.flatnonzero(p == other)
        if not strays.size:
            return
        offs = np.flatnonzero(p == off)
        at = lo + int(offs[0]) if offs.size else self._p_off_at
        if not self._refuse_mix and self._p_off_at is not None:
            # the column's first OFF value, as a check of the stream names a mix: the mix is
            # then seen at the stray (`StreamProblem.at`), whatever block a read began with
            at = self._p_off_at
        if at is None:
            return  # a column changed since the look at open, which found no 0 and no -1
        stray = lo + int(strays[0])
        negative, zero = (at, stray) if self._p_signed else (stray, at)
        mix = StreamProblem("polarity_mix", "p", negative, -1, zero, 0, signed=True)
        if self._refuse_mix:
            raise InvalidEventsError(f"{str(self.path)!r}: events/p: {mix}")
        if self.polarity_mix is None or mix.at < self.polarity_mix.at:
            self.polarity_mix = mix

    def _decode_records(
        self,
        out: np.ndarray,
        a: int,
        b: int,
        bufs: dict[str, np.ndarray],
        check: _OrderCheck | None = None,
    ) -> None:
        # same-width integer columns are packed as views (uint16 -> int16 copies faster than
        # a cast; values are reinterpreted exactly as a cast would)
        views = [(name, _as_event_type(name, bufs[name])) for name in "xytp"]
        kernel = _kernel_for(b - a)
        if any(v.dtype != EVENT_DTYPE[name] for name, v in views):
            kernel = None  # compiled for the event types only
        # memory types made once: h5py would derive one from the array on every call (~4 µs)
        reads = [
            (ds.id, bufs[name], h5py.h5t.py_create(bufs[name].dtype))
            for name, ds in self._columns()
        ]
        fspace = self._t.id.get_space()
        step = self._block
        full = h5py.h5s.create_simple((step,))
        lo = a
        lead = check is not None and check.lead
        tail = check is not None and check.tail
        tid, tbuf, tmtype = reads[2]  # (x, y, t, p)
        while lo < b:
            hi = min((lo // step + 1) * step, b)
            k = hi - lo
            # the block's times are tbuf[s : s + k]: t[lo - 1] before them and t[hi] after
            # them where the check wants them
            s = 1 if lead and lo == a else 0
            e = 1 if tail and hi == b else 0
            mspace = full if k == step else h5py.h5s.create_simple((k,))
            if s:
                # first, as the one-value read it replaces was, and from the same chunk (see
                # `_checked_read`): a damaged one is reported as that read reported it
                fspace.select_hyperslab((lo - 1,), (k + 1 + e,))
                try:
                    tid.read(
                        h5py.h5s.create_simple((k + 1 + e,)), fspace, tbuf[: k + 1 + e], tmtype
                    )
                except OSError as exc:
                    raise self._damaged("events/t", exc, "events/t") from None
            fspace.select_hyperslab((lo,), (k,))
            for dsid, buf, mtype in reads:
                if buf is not tbuf or not (s or e):
                    dsid.read(mspace, fspace, buf[:k], mtype)
                elif not s:
                    fspace.select_hyperslab((lo,), (k + 1,))
                    dsid.read(h5py.h5s.create_simple((k + 1,)), fspace, buf[: k + 1], mtype)
                    fspace.select_hyperslab((lo,), (k,))
            for name in self._wide:
                self._check_coordinates(name, bufs[name][:k])
            if check is not None:
                if s:
                    check.before = check.last = int(tbuf[0])
                if e:
                    check.after = int(tbuf[s + k])
                # before the offset is added in place (`_add_offset`)
                self._step_down(check, tbuf[s : s + k], lo)
            self._check_polarity(bufs["p"][:k], lo)
            if self._p_signed:
                _minus_one_to_zero(bufs["p"][:k])
            o = slice(lo - a, hi - a)
            if kernel is not None:
                kernel.pack(
                    out[o],
                    *(v[s : s + k] if name == "t" else v[:k] for name, v in views),
                    self.t_offset_us,
                )
            else:
                for name, values in views:
                    part = values[s : s + k] if name == "t" else values[:k]
                    if name == "t" and self.t_offset_us:
                        _add_offset(part, self.t_offset_us, out["t"][o])
                    else:
                        out[name][o] = part
            lo = hi

    def read_columns(
        self, t_start_us: int | None = None, t_end_us: int | None = None
    ) -> EventColumns:
        """Events with ``t_start_us <= t < t_end_us`` as four arrays (no record packing).

        The fastest full read: each column is decoded straight into its own new array, at the
        speed of reading the datasets with plain h5py. Use it for numeric work on columns;
        use `read` when an `EVENT_DTYPE` array is wanted.
        """
        with self._open_file:
            if t_start_us is None and t_end_us is None:
                return self._read_index_columns(None, None)
            return self._read_window(t_start_us, t_end_us, self._read_index_columns, edges=True)

    def read_index_columns(self, start: int | None = None, stop: int | None = None) -> EventColumns:
        """Events ``start:stop`` by index (clipped to the file) as four arrays."""
        with self._open_file:
            return self._read_index_columns(start, stop)

    def _read_index_columns(
        self, start: int | None, stop: int | None, check: _OrderCheck | None = None
    ) -> EventColumns:
        a, b, _ = slice(start, stop).indices(self._n)
        k = max(b - a, 0)
        cols = {name: np.empty(k, dtype=want) for name, want in _COLUMN_DTYPES.items()}
        prefault = _prefault(list(cols.values()))
        try:
            if k:
                # before the other columns, as the one-value read of t[a - 1] it replaces was
                first = self._lead_times(a, b, check) if check is not None and check.lead else None
                for name, ds in self._columns():
                    self._read_column(
                        ds,
                        cols[name],
                        a,
                        b,
                        self.t_offset_us if name == "t" else 0,
                        name,
                        check if name == "t" else None,
                        first if name == "t" else None,
                    )
                if self._p_signed:
                    _minus_one_to_zero(cols["p"])
        except EventsimError:
            raise
        except OSError as exc:
            raise EventFileError(
                f"cannot read events {a}:{b} from {str(self.path)!r}: "
                f"{self._why_unreadable(exc, _COLUMNS)}"
            ) from None
        finally:
            if prefault is not None:
                prefault.join()
        return EventColumns(**cols)

    def _lead_times(self, a: int, b: int, check: _OrderCheck) -> np.ndarray:
        """events/t[a - 1 : hi] (and t[b] too where ``check.tail`` and the first block, ending
        at ``hi``, is the last) for `_read_column`: t[a - 1] and the first block's times in one
        read, from the one chunk of ``a`` (`_checked_read`); damage is reported as the
        one-value read of t[a - 1] reported it."""
        hi = min((a // self._block + 1) * self._block, b)
        count = hi - a + 1 + (1 if check.tail and hi == b else 0)
        try:
            return self._t_values(a - 1, count)
        except OSError as exc:
            raise self._damaged("events/t", exc, "events/t") from None

    def _read_column(
        self,
        ds: h5py.Dataset,
        dest: np.ndarray,
        a: int,
        b: int,
        off: int,
        name: str,
        check: _OrderCheck | None = None,
        first: np.ndarray | None = None,
    ) -> None:
        """Values ``a:b`` of column ``name`` into ``dest``, plus ``off``. A column whose type
        has the width of ``dest``'s is decoded straight into it: in one call without an
        offset, else block by block with the offset added while the block is in the CPU
        cache. Other types are decoded into a buffer and cast. Coordinates that int16 would
        wrap are refused. With ``check`` (times read by time), block by block, each block's
        order checked while it is in the cache; the times just outside the read are taken
        from the blocks beside them where ``check`` wants them (`_OrderCheck`'s ``lead`` and
        ``tail``): the first block is then ``first`` (`_lead_times`), read already, and the
        last one is read with t[b], both into a buffer."""
        mem = _native(ds.dtype)
        direct = dest.dtype.itemsize == mem.itemsize and mem.kind in "iu"
        wide = name in self._wide
        fspace = ds.id.get_space()
        if direct and not off and check is None:
            fspace.select_hyperslab((a,), (b - a,))
            ds.id.read(h5py.h5s.create_simple((b - a,)), fspace, dest.view(mem))
            if wide:
                self._check_coordinates(name, dest.view(mem))
            if name == "p":
                self._check_polarity(dest.view(mem), a)
            return
        step = self._block
        tail = check is not None and check.tail
        # room for t[b] after a block (`_OrderCheck.tail`)
        buf = None if direct and not tail else np.empty(min(step, b - a) + 1, dtype=mem)
        lo = a
        while lo < b:
            hi = min((lo // step + 1) * step, b)
            k = hi - lo
            part = dest[lo - a : hi - a]
            # the block's values are into[s : s + k]: t[lo - 1] before them, t[hi] after them
            s = 0
            e = 1 if tail and hi == b else 0
            if first is not None and lo == a:
                s, into = 1, first
            else:
                into = part.view(mem) if buf is None or (direct and not e) else buf[: k + e]
                fspace.select_hyperslab((lo,), (k + e,))
                ds.id.read(h5py.h5s.create_simple((k + e,)), fspace, into)
            values = into[s : s + k]
            if wide:
                self._check_coordinates(name, values)
            if name == "p":
                self._check_polarity(values, lo)
            if check is not None:
                if s:
                    check.before = check.last = int(into[0])
                if e:
                    check.after = int(into[s + k])
                self._step_down(check, values, lo)
            if s or e or not direct:
                # (a same-width type is reinterpreted, as a decode straight into it does)
                (part.view(mem) if direct else part)[...] = values
            if off:
                part += off
            lo = hi

    def _index_of(self, t_abs: int) -> int:
        """First index with t >= t_abs (searchsorted 'left'), through ms_to_idx."""
        ms = self._ms  # None only for a file without events
        if self._n == 0 or ms is None:
            return 0
        r = t_abs - self.t_offset_us
        if r <= self._t_first:
            return 0
        if r > self._t_last:
            return self._n
        k = r // 1000
        if k < 0:
            # a foreign file's times before 0 all come before ms_to_idx[0]
            return int(np.searchsorted(self._t[0 : self._entry(0)], r, side="left"))
        lo = self._entry(k)
        if r % 1000 == 0:
            return lo
        hi = self._entry(k + 1)
        if hi <= lo:
            return lo
        return lo + int(np.searchsorted(self._t[lo:hi], r, side="left"))

    def read(
        self,
        t_start_us: int | None = None,
        t_end_us: int | None = None,
        *,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Events with ``t_start_us <= t < t_end_us`` (absolute µs; None means open-ended).

        ``out`` as in `read_index`.
        """
        with self._open_file:
            if t_start_us is None and t_end_us is None:
                return self._read_index(None, None, out)
            return self._read_window(
                t_start_us,
                t_end_us,
                lambda a, b, check: self._read_index(a, b, out, check),
                edges=True,
            )

    def _index_range(self, t_start_us: int | None, t_end_us: int | None) -> tuple[int, int]:
        """The indices of the first event at or after each bound (None: the file's ends)."""
        t0, t1 = time_bounds(t_start_us, t_end_us)
        try:
            # the search decodes chunks of t, which may be as damaged as those read after it
            a = 0 if t0 is None else self._index_of(t0)
            b = self._n if t1 is None else self._index_of(t1)
        except OSError as exc:
            raise self._damaged_index_read(exc) from None
        if t0 is not None or t1 is not None:
            # also when the search itself rebuilt the index and so found t out of order
            self._refuse_unsorted()
        return a, b

    def _damaged_index_read(self, exc: OSError) -> EventFileError:
        # a look-up reads events/t, and ms_to_idx too where it is read on demand
        name = "ms_to_idx" if isinstance(exc, _IndexUnreadable) else "events/t"
        return self._damaged(name, exc, name)

    def _damaged(self, what: str, exc: OSError, dataset: str) -> EventFileError:
        return EventFileError(
            f"cannot read {what} from {str(self.path)!r}: {self._why_unreadable(exc, (dataset,))}"
        )

    def _why_unreadable(self, exc: Exception, datasets: tuple[str, ...]) -> str:
        """Why HDF5 failed to decode ``datasets`` (those the failed step read): a compression
        filter this installation lacks (HDF5 reports only that its plugin folder holds none),
        else damage. Only they are looked at: another dataset's missing filter would be blamed
        for damage it did not cause."""
        for name in datasets:
            try:
                ds = self._f.get(name)
                if not isinstance(ds, h5py.Dataset):
                    continue
                plist = ds.id.get_create_plist()
                filters = [plist.get_filter(i) for i in range(plist.get_nfilters())]
            except (OSError, ValueError, RuntimeError):
                continue
            for code, _flags, _values, label in filters:
                if not h5py.h5z.filter_avail(code):
                    about = label.decode("utf-8", "replace").split(";")[0].strip()
                    return (
                        f"{name} is compressed with HDF5 filter {code}"
                        f"{f' ({about})' if about else ''}, which this installation cannot "
                        "decode; install the HDF5 plugin that provides it (hdf5plugin brings "
                        "Blosc, Blosc2, LZ4, Zstd, Bitshuffle, BZip2 and others) or rewrite "
                        "the file without it"
                    )
        return f"the file is truncated or corrupt ({exc})"

    def iter_windows(
        self,
        window_us: int,
        t_start_us: int | None = None,
        t_end_us: int | None = None,
    ) -> Iterator[np.ndarray]:
        """Consecutive windows of ``window_us`` from ``t_start_us`` to ``t_end_us`` (empty ones too).

        Windows are served from blocks of many windows so small windows cost one slice each.
        """
        yield from _iter_windows(self, window_us, t_start_us, t_end_us)

    def iter_chunks(self, n_events: int) -> Iterator[np.ndarray]:
        """Consecutive packets of ``n_events`` events (the last may be shorter)."""
        if n_events <= 0:
            raise ParameterError(f"n_events={n_events}; expected a positive count")
        for a in range(0, self._n, n_events):
            yield self.read_index(a, a + n_events)

    def time_disorder(self) -> tuple[int, int, int] | None:
        """Where events/t first steps down, as (index, the time before it, the time there) in
        the file's own times (without ``t_offset``); None when it is sorted. Reads all of t
        once unless that is known already."""
        if self._disorder is None and not self._t_sorted:
            self._t_spans()
        return self._disorder

    def iter_sorted(
        self, n_events: int, *, max_events: int = SORT_MAX_EVENTS
    ) -> Iterator[np.ndarray]:
        """Packets of at most ``n_events`` events in time order, for a sorted copy of a file
        whose events/t is not sorted (``eventsim convert --sort``): a stable sort by t, so
        events of equal time keep the file's order. A sorted file is read as `iter_chunks`
        reads it, after a first pass over t.

        At most about ``max_events`` events (~33 bytes each while sorted) are held at once: a
        file of more is sorted one range of times at a time, each gathered from the blocks
        of the file whose times reach into it, so a file out of order only here and there
        costs about two passes over t and one over the file, a shuffled one one pass per
        range. Events of one time beyond ``max_events`` go out in the file's order, unheld.
        """
        for name, value in (("n_events", n_events), ("max_events", max_events)):
            if value <= 0:
                raise ParameterError(f"{name}={value}; expected a positive count")
        for packet in self._sorted_packets(n_events, max_events):
            # packets are cut from events held in memory: a close must stop them too
            _refuse_closed(self)
            yield packet

    def _sorted_packets(self, n_events: int, max_events: int) -> Iterator[np.ndarray]:
        if self.time_disorder() is None:
            yield from self.iter_chunks(n_events)
            return
        if self._n <= max_events:
            yield from _in_time_order(self.read_index(), n_events)
            return
        lows, highs = self._t_spans()
        for lo, hi in self._time_ranges(int(lows.min()), int(highs.max()) + 1, max_events):
            blocks = np.flatnonzero((lows < hi) & (highs >= lo)).tolist()
            parts = (self._times_within(j, lo, hi) for j in blocks)
            if hi - lo == 1:
                # one time: the file's order is the sorted order, and there may be too many
                # to hold
                for part in parts:
                    for a in range(0, part.shape[0], n_events):
                        yield part[a : a + n_events]
            else:
                yield from _in_time_order(np.concatenate(list(parts)), n_events)

    def _t_block(self, j: int) -> np.ndarray:
        """Block ``j`` of `_SORT_BLOCK` times as the file holds them, in int64."""
        a = j * _SORT_BLOCK
        with self._open_file:
            try:
                return np.asarray(self._t[a : a + _SORT_BLOCK], dtype=np.int64)
            except OSError as exc:
                raise self._damaged("events/t", exc, "events/t") from None

    def _t_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """The smallest and the largest time of each block of `_SORT_BLOCK` events, the
        file's own (read once, kept); the first step down found is kept (`_found_disorder`)."""
        if self._spans is not None:
            return self._spans
        blocks = -(-self._n // _SORT_BLOCK)
        lows = np.empty(blocks, np.int64)
        highs = np.empty(blocks, np.int64)
        check = _OrderCheck()
        disorder = None
        for j in range(blocks):
            t = self._t_block(j)
            lows[j], highs[j] = t.min(), t.max()
            if disorder is None:
                step = check.step_down(t)
                if step is not None:
                    disorder = (j * _SORT_BLOCK + step[0], step[1], int(t[step[0]]))
                check.last = int(t[-1])
        if disorder is not None:
            self._found_disorder(disorder)
        self._spans = (lows, highs)
        return self._spans

    def _times_within(self, j: int, lo: int, hi: int) -> np.ndarray:
        """The events of block ``j`` (of `_SORT_BLOCK`) whose own times are in [lo, hi)."""
        a = j * _SORT_BLOCK
        events = self.read_index(a, a + _SORT_BLOCK)
        # the offset comes off as it went on (int64 wraps both ways)
        t = events["t"] - np.int64(self.t_offset_us)
        return events[(t >= lo) & (t < hi)]

    def _time_ranges(self, lo: int, hi: int, max_events: int) -> list[tuple[int, int]]:
        """Consecutive ranges [a, b) of the file's own times within [lo, hi), together
        holding every event there, each holding at most ``max_events`` of them or a single
        time: found from counts of the times in `_SORT_BINS` bins (one pass over the blocks of
        t that reach into [lo, hi)), a bin holding too many being split the same way."""
        nbins = min(_SORT_BINS, hi - lo)
        width = -(-(hi - lo) // nbins)
        nbins = -(-(hi - lo) // width)
        counts = np.zeros(nbins, np.int64)
        lows, highs = self._t_spans()
        for j in np.flatnonzero((lows < hi) & (highs >= lo)).tolist():
            t = self._t_block(j)
            t = t[(t >= lo) & (t < hi)]
            # as unsigned: the distance from lo may not fit in int64
            bins = (t.view(np.uint64) - np.uint64(lo % 2**64)) // np.uint64(width)
            counts += np.bincount(bins.astype(np.intp), minlength=nbins)
        ranges: list[tuple[int, int]] = []
        start, total = lo, 0
        for i, count in enumerate(counts.tolist()):
            b0 = lo + i * width
            b1 = min(b0 + width, hi)
            if count > max_events:
                if total:
                    ranges.append((start, b0))
                # a single time goes alone, to be streamed: joined to the empty bins after
                # it, its range was held and sorted whole
                ranges.extend(self._time_ranges(b0, b1, max_events) if width > 1 else [(b0, b1)])
                start, total = b1, 0
                continue
            if total and total + count > max_events:
                ranges.append((start, b0))
                start, total = b0, 0
            total += count
        if total:
            ranges.append((start, hi))
        return ranges

    # -- frames ---------------------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        """Number of saved frames."""
        return 0 if self._frames is None else self._num_frames

    def read_frame(self, i: int) -> np.ndarray:
        """Saved frame ``i`` (negative indices count from the end)."""
        frames = self._frames
        n = self.num_frames
        if frames is None or not -n <= i < n:
            raise ParameterError(f"frame index {i} is out of range; the file has {n} frames")
        with self._open_file:
            try:
                return np.asarray(frames[i])
            except OSError as exc:
                raise self._damaged(f"frame {i}", exc, "frames") from None


def _reader_repr(reader: EventFileReader, n: int, closed: bool) -> str:
    """``Name('path', layout=..., n=..., sensor=WxH, t=first..last us, closed=...)``: the
    times are the first and the last event's (inclusive), left out without events."""
    width, height = reader.sensor_size
    shown = [] if reader.path is None else [repr(str(reader.path))]
    shown += [f"layout={reader.layout!r}", f"n={n}", f"sensor={width}x{height}"]
    if reader.sensor_size_inferred:
        shown[-1] += " (inferred)"
    if n:
        shown.append(f"t={reader.t_start_us}..{reader.t_end_us - 1} us")
    if reader.num_frames:
        shown.append(f"frames={reader.num_frames}")
    shown.append(f"closed={closed}")
    return f"{type(reader).__name__}({', '.join(shown)})"


def _in_time_order(events: np.ndarray, n_events: int) -> Iterator[np.ndarray]:
    """``events`` sorted stably by t, in packets of ``n_events``, gathered one packet at a
    time (no sorted copy of them all)."""
    order = np.argsort(events["t"], kind="stable")
    for a in range(0, order.shape[0], n_events):
        yield events[order[a : a + n_events]]


def _ceil_us(t: float) -> int:
    """A time bound as whole µs, rounded up (``t >= 10.5`` is ``t >= 11`` for integer times).
    Integers, numpy's too, are taken exactly: math.ceil turns a numpy integer into a float
    first, which moves a time past 2**53 µs."""
    if isinstance(t, (int, np.integer)):
        return int(t)
    try:
        return math.ceil(t)
    except (TypeError, ValueError, OverflowError):
        # NaN, inf or a string: math.ceil's 'cannot convert float NaN to integer' names no bound
        raise ParameterError(
            f"time bound {t!r}; expected a finite number of microseconds or None"
        ) from None


def time_bounds(t_start_us: float | None, t_end_us: float | None) -> tuple[int | None, int | None]:
    """A read's time bounds as whole µs (`_ceil_us`; None stays None), refusing an end before
    the start: every reader returned nothing for it, hiding the caller's swapped or mistyped
    bounds. Equal bounds are an empty window, read as one; fractional ones with no whole µs
    between them (seconds: ``read(0.5, 0.6)``) are refused (`windowless_bounds_error`)."""
    t0 = None if t_start_us is None else _ceil_us(t_start_us)
    t1 = None if t_end_us is None else _ceil_us(t_end_us)
    # the bounds as given: 10.5 and 10.2 both round to 11, yet the end is before the start;
    # and as whole µs: numpy compares its float with an integer as floats, which cannot tell
    # 2**60 from 2**60 + 1
    if (
        t_start_us is not None
        and t_end_us is not None
        and t0 is not None
        and t1 is not None
        and (t_end_us < t_start_us or t1 < t0)
    ):
        raise reversed_bounds_error(t_start_us, t_end_us)
    windowless = windowless_bounds_error(t_start_us, t_end_us)
    if windowless is not None:
        raise windowless
    return t0, t1


def _iter_windows(
    reader: EventFileReader, window_us: int, t_start_us: int | None, t_end_us: int | None
) -> Iterator[np.ndarray]:
    try:
        whole = float(window_us).is_integer() and window_us > 0
    except (TypeError, ValueError):
        whole = False
    if not whole:
        # int() made 0.5 a zero window and 333.3 windows of 333 µs without a word
        raise ParameterError(
            f"window_us={window_us}; expected a positive whole number of microseconds"
        )
    window_us = int(window_us)
    # rounded up as `read` rounds its bounds: t >= 10.5 is t >= 11
    t0, t1 = time_bounds(t_start_us, t_end_us)
    _refuse_closed(reader)
    t0 = reader.t_start_us if t0 is None else t0
    t1 = reader.t_end_us if t1 is None else t1
    if t1 <= t0:
        return
    # blocks of whole windows covering about 100 ms (at least one window)
    per_block = max(1, 100_000 // window_us)
    start = t0
    while start < t1:
        block_end = min(start + per_block * window_us, t1)
        block = reader.read(start, block_end)
        edges = np.minimum(np.arange(start, block_end + window_us, window_us), block_end)
        edges = edges[: int(np.searchsorted(edges, block_end, side="left")) + 1]
        # one contiguous copy and one vectorised search per block, not per window
        idx = np.searchsorted(np.ascontiguousarray(block["t"]), edges, side="left")
        for a, b in zip(idx[:-1].tolist(), idx[1:].tolist()):
            # each window, not only each block read: a reader closed mid-iteration served
            # the rest of its block, then raised at the next read
            _refuse_closed(reader)
            yield block[a:b]
        start = block_end


def _refuse_closed(reader: EventFileReader) -> None:
    if reader.closed:
        raise closed_reader_error(reader.path)
