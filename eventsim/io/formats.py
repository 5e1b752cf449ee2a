"""Writers for every output format, and the faery bridge for the raw camera formats.

`write_stream` writes an iterable of event packets in any of `FORMATS`, always to a temporary
name first and renamed on success. AEDAT4, EVT 2.0, DAT, ES and CSV are written through faery
(LGPL, extra ``formats``), imported only when one of them is used, and so are all but CSV read;
CSV is read by `eventsim.io.text`, whose parser keeps decimal times exact. EVT 3.0 is written by
`eventsim.io.evt3.Evt3Encoder` (faery's encoder writes vector words that Metavision misreads),
and read by faery where installed, else by `eventsim.io.evt3`, which needs no extra.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import h5py
import numpy as np

# suffixes of files that hold frames, not events: named as the likely mix-up when one is given
# where an event file belongs (simulate reads them, render writes some)
from eventsim._suffixes import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from eventsim.errors import (
    EventFileError,
    EventsimError,
    InvalidEventsError,
    OutputExistsError,
    ParameterError,
    UnknownLayoutError,
    require,
)
from eventsim.events import (
    EVENT_DTYPE,
    StreamCheck,
    StreamProblemError,
    check_sensor_size,
    concat_events,
    infer_sensor_size,
)
from eventsim.io.hdf5 import EventWriter, strict_events
from eventsim.outputs import (
    check_interrupted,
    check_replaceable,
    describe_os_error,
    fsync_file,
    publish,
    remove_stale_temps,
    sigint_deferred,
    temp_path,
    with_disk_state,
)

if TYPE_CHECKING:
    from eventsim.io.evt3 import Evt3Header

FRAME_FORMATS = ("h5",)
# the suffixes of the formats whose files carry another format's (see `format_extensions`)
_SHARED_EXTENSIONS = {
    "v2e": (".h5", ".hdf5"),
    "evqa": (".h5", ".hdf5"),
    "evt2": (".raw", ".evt"),
}
# the largest sensor side each fixed-width format can address
_MAX_SENSOR_SIDE = {"evt3": 2048, "evt2": 2048, "dat": 16384}
FAERY_EXTENSIONS = (".aedat4", ".aedat", ".raw", ".evt", ".dat", ".es")


@dataclass(frozen=True)
class Format:
    name: str
    extensions: tuple[str, ...]
    description: str
    needs_faery: bool = False


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("h5", (".h5", ".hdf5"), "eventsim HDF5 (DSEC layout, indexed, compressed)"),
        Format("v2e", (), "v2e HDF5: /events N x 4 int64 [t_us, x, y, p]"),
        Format("evqa", (), "EvQA HDF5: events/xs, ys, ts (µs from base_time), ps"),
        Format("npy", (".npy",), "numpy structured array of EVENT_DTYPE"),
        Format("npz", (".npz",), "numpy archive with x, y, t, p and sensor_size"),
        Format("txt", (".txt",), "rpg text: 'width height' line, then 't x y p' (t in s)"),
        Format("aedat4", (".aedat4", ".aedat"), "iniVation AEDAT4", True),
        # written by eventsim; read by faery, or by eventsim's decoder without it
        Format("evt3", (".raw", ".evt"), "Prophesee EVT 3.0 raw (single-event words)"),
        Format("evt2", (), "Prophesee EVT 2.0 raw (.raw)", True),
        Format("dat", (".dat",), "Prophesee DAT", True),
        Format("es", (".es",), "Event Stream", True),
        Format("csv", (".csv",), "CSV 't,x,y,on' (t in µs)", True),
    )
}


def format_extensions(fmt: str) -> tuple[str, ...]:
    """The suffixes a file of output format ``fmt`` (a key of `FORMATS`) may end in: its own,
    or, for the formats only ``fmt=`` picks (v2e and evqa are HDF5, EVT 2.0 shares .raw with
    EVT 3.0), those of the format it shares them with. Any case, as ``fmt=`` takes it."""
    key = fmt.lower() if isinstance(fmt, str) else fmt
    if key not in FORMATS:
        # public: a bare KeyError named neither the argument nor the formats
        raise ParameterError(f"format {fmt!r} is unknown; valid: {', '.join(FORMATS)}")
    return _SHARED_EXTENSIONS.get(key, FORMATS[key].extensions)


def format_from_path(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The output format named by ``fmt`` or, when None, by the path's extension."""
    ext = Path(path).suffix.lower()
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise ParameterError(f"format {fmt!r} is unknown; valid: {', '.join(FORMATS)}")
        fitting = format_extensions(fmt)
        # another format's suffix misleads every reader; faery's formats (EVT 3.0 too, which
        # eventsim decodes without faery) are told by the suffix alone, so for those an
        # unclaimed suffix is as bad
        claimed = any(ext in f.extensions for f in FORMATS.values())
        by_suffix = FORMATS[fmt].needs_faery or fitting[0] in FAERY_EXTENSIONS
        if ext not in fitting and (claimed or by_suffix):
            raise ParameterError(
                f"output {os.fspath(path)!r} ends in {ext or 'no suffix'} but format {fmt!r} "
                f"writes {' or '.join(fitting)} files; rename the output or pick its format"
            )
        return fmt
    for f in FORMATS.values():
        if ext in f.extensions:
            return f.name
    known = ", ".join(e for f in FORMATS.values() for e in f.extensions)
    names = [repr(name) for name in FORMATS]
    choices = f"use one of {known}, or pass fmt={', '.join(names[:-1])} or {names[-1]}"
    kind = frames_kind(path)
    if kind is not None:
        # a user after a video of the events: 'or pass a format' sent them to the event formats
        raise ParameterError(
            f"output {os.fspath(path)!r} is {kind}, which holds frames, not events: draw "
            "events as frames with 'eventsim render' (eventsim.render.render_file); to "
            f"write an event file, {choices}"
        )
    raise ParameterError(f"cannot tell the output format from extension {ext!r}; {choices}")


def frames_kind(path: str | os.PathLike) -> str | None:
    """``'a video (.mp4)'`` or ``'an image (.png)'`` when ``path``'s suffix is one of a file of
    frames (`VIDEO_SUFFIXES`, `IMAGE_SUFFIXES`), else None: for messages where an event file
    was expected."""
    ext = Path(path).suffix.lower()
    if ext in VIDEO_SUFFIXES:
        return f"a video ({ext})"
    if ext in IMAGE_SUFFIXES:
        return f"an image ({ext})"
    return None


#: event-file suffixes that videos have too (a VCD's MPEG .dat, raw frames .raw, an MPEG
#: elementary stream .es, ...): a file of one is an event file only where no video decoder
#: opens it
VIDEO_SHARED_SUFFIXES = (".dat", ".raw", ".es", ".evt")
#: the event formats of `VIDEO_SHARED_SUFFIXES`, as messages name them
VIDEO_SHARED_FORMATS = "Prophesee DAT, EVT raw, Event Stream"
_TEXT_SUFFIXES = {".txt": "txt", ".csv": "csv", ".tsv": "csv"}


class EventFileGuess(NamedTuple):
    """What `sniff_event_file` took a path for."""

    #: in words: 'an HDF5 file', 'a numpy .npy array', 'a text file (.txt)', 'a .dat file'
    what: str
    #: 'hdf5', 'npy', 'npz', 'txt', 'csv' or 'faery'
    layout: str
    #: told by the file's first bytes (else by its suffix alone, also for a missing file)
    by_contents: bool


def sniff_event_file(path: str | os.PathLike, *, read: bool = True) -> EventFileGuess | None:
    """What ``path`` looks like as a file `eventsim.io.open_events` reads, told by its first
    bytes (HDF5's signature, also past a user block; numpy's .npy magic; a zip named .npz) or
    else its suffix (`VIDEO_SHARED_SUFFIXES` included, which the caller weighs); None for a
    file or name like none of them. Reads a few bytes at most, none of a missing file nor with
    ``read=False`` (the name alone): for the messages of commands and readers handed an event
    file where something else belongs."""
    from eventsim.io.layouts import ARRAY_EXTENSIONS, HDF5_EXTENSIONS, _has_hdf5_signature

    path = Path(path)
    ext = path.suffix.lower()
    head = b""
    try:
        if read and path.is_file():
            if _has_hdf5_signature(path, path.stat().st_size):
                return EventFileGuess("an HDF5 file", "hdf5", True)
            with open(path, "rb", buffering=0) as fh:
                head = fh.read(6)
    except OSError:
        pass
    if head == b"\x93NUMPY":
        return EventFileGuess("a numpy .npy array", "npy", True)
    if ext == ".npz" and head.startswith(b"PK\x03\x04"):
        return EventFileGuess("a numpy .npz archive", "npz", True)
    if ext in HDF5_EXTENSIONS:
        return EventFileGuess(f"an HDF5 file ({ext})", "hdf5", False)
    if ext in _TEXT_SUFFIXES:
        return EventFileGuess(f"a text file ({ext})", _TEXT_SUFFIXES[ext], False)
    if ext in ARRAY_EXTENSIONS:
        return EventFileGuess(f"a {ext} file", ARRAY_EXTENSIONS[ext], False)
    if ext in FAERY_EXTENSIONS:
        return EventFileGuess(f"a {ext} file", "faery", False)
    return None


def _faery(feature: str) -> Any:
    return require("faery", "formats", feature)


# -- reading through faery -----------------------------------------------------------------------
# bytes per word of each EVT version a header may name (None: none named, read as EVT 3.0)
_EVT_WORD_BYTES = {None: 2, "3": 2, "2": 4, "2.1": 8}
#: the EVT version each layout of `open_events` forces (``layout='evt2'``) for a raw file whose
#: header names none, as `evt3.read_header` spells versions
EVT_VERSION_LAYOUTS = {"evt2": "2", "evt3": "3", "evt21": "2.1"}
_NO_FORMAT_LINE = (
    "the header has no '% evt' line naming the format, so it was read as EVT 3.0 (as faery "
    "reads such files)"
)


def _faery_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is faery failing on its input: faery raises bare Exception/RuntimeError/
    AssertionError, and pyo3's PanicException, a BaseException, where its Rust code panics (as
    on input it does not implement); Ctrl-C, SystemExit and running out of memory are not."""
    panic = type(exc).__name__ == "PanicException"
    return not isinstance(exc, MemoryError) and (isinstance(exc, Exception) or panic)


def _evt_name(version: str) -> str:
    return version if "." in version else f"{version}.0"


def _mid_word(path: Path, header_length: int, version: str | None) -> tuple[int, str]:
    """The bytes an EVT file holds past its last whole word (0: none), and its word, as
    `_mid_word_note` names it."""
    word = _EVT_WORD_BYTES.get(version)
    if word is None:
        return 0, ""
    left = (path.stat().st_size - header_length) % word
    return left, f"{8 * word}-bit word of EVT {_evt_name(version or '3')}"


def read_faery(
    path: Path, sensor_size: tuple[int, int] | None = None, evt_version: str | None = None
) -> tuple[np.ndarray, tuple[int, int] | None, list[str], dict]:
    """Decode an AEDAT4/EVT/DAT/ES file. Returns (events, recorded size or None, notes, meta).

    An EVT file that ends mid-word (cut short) is read up to the cut, with a note. One whose
    header names no format is read as ``evt_version`` (a value of `EVT_VERSION_LAYOUTS`) when
    given, else as EVT 3.0, as faery reads it, with a note; when that reading fails, or gives
    events outside the sensor size known, the refusal says the header lacks the line and how
    to say EVT 2.0. A header naming another version than ``evt_version`` is refused. EVT 2.1,
    which faery cannot decode, is read by `eventsim.io.evt21`, without faery.
    """
    if path.suffix.lower() not in (".raw", ".evt"):
        return _read_faery(path, sensor_size)
    from eventsim.io import evt3

    try:
        header = evt3.read_header(path)
    except EventFileError:
        raise  # a header it refuses (an OSError too), said as it is
    except OSError as exc:
        raise EventFileError(f"cannot read {str(path)!r}: {describe_os_error(exc)}") from None
    named = header.version
    forced = next((k for k, v in EVT_VERSION_LAYOUTS.items() if v == evt_version), None)
    if forced is not None and named is not None and named != evt_version:
        raise UnknownLayoutError(
            f"{str(path)!r} cannot be read with the {forced!r} layout: its header names EVT "
            f"{_evt_name(named)} (a forced version is for a header that names none)"
        )
    version = named or evt_version
    left, word = _mid_word(path, header.length, version)
    if version == "2.1":
        events, file_size, notes, meta = _read_evt21(
            path, header, sensor_size, forced if named is None else None
        )
        if left:
            notes.append(_mid_word_note(left, word))
        return events, file_size, notes, meta
    # (a file without any '%' header is refused as no EVT file: no format line to blame)
    guessed = version is None and header.length > 0
    hint = (
        f"{_NO_FORMAT_LINE}; if it is EVT 2.0, add the line '% evt 2.0' to its header, or "
        "pass layout='evt2'"
    )
    try:
        events, file_size, notes, meta = _read_faery(path, sensor_size, evt_version)
    except EventFileError as exc:
        if guessed:
            raise EventFileError(f"{exc}; {hint}") from None
        raise
    size = header.size or sensor_size
    if guessed and size is not None and len(events):
        for name, side in zip("xy", size):
            top = int(events[name].max())
            if top >= side:
                raise EventFileError(
                    f"{str(path)!r}: an event has {name} = {top}, outside the "
                    f"{size[0]}x{size[1]} sensor; {hint}"
                )
    if guessed:
        notes.append(
            f"{_NO_FORMAT_LINE}; if it is EVT 2.0, add '% evt 2.0' to its header, or pass "
            "layout='evt2'"
        )
    elif named is None and evt_version is not None and header.length > 0:
        notes.append(_forced_version_note(evt_version, forced))
    if left:
        notes.append(_mid_word_note(left, word))
    return events, file_size, notes, meta


def _mid_word_note(left: int, word: str) -> str:
    """The note of a file whose last ``left`` bytes make no whole ``word`` (EVT's, DAT's)."""
    return (
        f"the file ends mid-word: its last {left} {'bytes, after' if left > 1 else 'byte, after'}"
        f" the last whole {word}, {'were' if left > 1 else 'was'} ignored (the file is truncated)"
    )


def _forced_version_note(evt_version: str, forced: str | None) -> str:
    return (
        f"the header has no '% evt' line naming the format: read as EVT "
        f"{_evt_name(evt_version)}, as the layout {forced!r} says"
    )


def _not_evt(path: Path) -> EventFileError:
    return EventFileError(f"{str(path)!r} is not an EVT file: it does not start with a '%' header")


def _read_evt21(
    path: Path, header: Evt3Header, sensor_size: tuple[int, int] | None, forced: str | None
) -> tuple[np.ndarray, tuple[int, int] | None, list[str], dict]:
    """`read_faery` for an EVT 2.1 file (``forced``: the layout that said so, for a header that
    names no version), read by eventsim's own decoder."""
    from eventsim.io import evt21

    if header.length == 0:
        raise _not_evt(path)
    notes = ["time unit: microseconds"]
    try:
        events = evt21.read_evt21(path, header.size or sensor_size, header, notes)
    except EventFileError:
        raise
    except OSError as exc:
        raise EventFileError(f"cannot read {str(path)!r}: {describe_os_error(exc)}") from None
    if forced is not None:
        notes.append(_forced_version_note("2.1", forced))
    return events, header.size, notes, {"layout": "evt"}


def _read_faery(
    path: Path, sensor_size: tuple[int, int] | None = None, evt_version: str | None = None
) -> tuple[np.ndarray, tuple[int, int] | None, list[str], dict]:
    """`read_faery` but for the notes of an EVT file's ending and missing format line.

    An EVT 3.0 file that faery would read otherwise than Prophesee's specification (a 24-bit
    wrap in a gap between events, as faery's own encoder writes them; see
    `eventsim.io.evt3.faery_misreads`), any EVT 3.0 file where faery is not installed, and one
    whose header is not UTF-8 (faery would read that header as events) are decoded by
    `eventsim.io.evt3` instead; an EVT 2.0 or DAT file whose header is not UTF-8 is an
    `EventFileError` naming the line. An EVT or DAT file without a size in its header is
    read within the format's addresses (faery's fallback, 1280x720, refused events past it), its
    size inferred from the events. ``evt_version`` (a value of `EVT_VERSION_LAYOUTS`) is the
    version of an EVT file whose header names none.
    """
    ext = path.suffix.lower()
    header = None
    not_utf8: str | None = None  # where an EVT or DAT header is not UTF-8
    # the addresses of a Prophesee format's coordinate fields: EVT's 11 bits, DAT's 14
    addresses = 0
    if ext in (".raw", ".evt"):
        with open(path, "rb") as fh:
            if fh.read(1) != b"%":
                raise _not_evt(path)
        from eventsim.io import evt3

        header = evt3.read_header(path)
        addresses = 1 << 11
        size = header.size or (
            (int(sensor_size[0]), int(sensor_size[1])) if sensor_size is not None else None
        )
        bounds = (None, None) if size is None else size
        # faery reads a raw file without a version as EVT 3.0 too
        version = header.version or evt_version
        not_utf8 = _header_not_utf8(path, header)
        if version in (None, "3") and (
            importlib.util.find_spec("faery") is None
            or not_utf8 is not None
            or evt3.faery_misreads(path, header, *bounds)
        ):
            events = evt3.read_evt3(path, size, header)
            return events, header.size, ["time unit: microseconds"], {"layout": "evt"}
    elif ext == ".dat":
        from eventsim.io import evt3

        # DAT's '%' header is Prophesee's too, and may be missing (or lack the size)
        header = evt3.read_header(path)
        addresses = 1 << 14
        not_utf8 = _header_not_utf8(path, header)
    if header is not None and not_utf8 is not None:
        # faery then reads the whole file, header included, as events (at time 0, on a
        # 2048x2048 sensor for EVT): garbage that passed as the file's events
        raise EventFileError(
            f"{str(path)!r}: its header's {not_utf8}, which faery cannot read (it would take "
            "the header's bytes for events); correct or remove that line"
        )
    faery = _faery(f"reading {path.suffix} files")
    notes: list[str] = []
    file_size: tuple[int, int] | None = None
    kwargs: dict[str, Any] = {}
    if sensor_size is not None:
        kwargs["dimensions_fallback"] = tuple(sensor_size)
    elif header is not None:
        # the format's addresses, as `evt3.read_evt3` takes EVT's; faery's own fallback,
        # 1280x720, refused a file without a size whose events reach past it
        kwargs["dimensions_fallback"] = (addresses, addresses)
    if evt_version is not None and ext in (".raw", ".evt"):
        kwargs["version_fallback"] = f"evt{evt_version}"
    try:
        decoder = faery.events_stream_from_file(path, **kwargs)
        packets = [p for p in decoder if len(p)]
        # without a size in an EVT or DAT header faery reports its fallback as the file's
        if header is None or header.size is not None:
            width, height = decoder.dimensions()
            file_size = (int(width), int(height))
    except BaseException as exc:
        if not _faery_failure(exc):
            raise
        raise EventFileError(f"cannot decode {str(path)!r} with faery: {exc}") from None
    if packets:
        raw = np.concatenate(packets)
        ev = np.empty(raw.shape[0], dtype=EVENT_DTYPE)
        for name in ("x", "y"):
            if raw[name].max() > np.iinfo(np.int16).max:
                raise InvalidEventsError(f"{str(path)!r}: {name} exceeds 32767")
            ev[name] = raw[name]
        t_max = int(raw["t"].max())
        if t_max > np.iinfo(np.int64).max:
            # faery's uint64 times: the int64 cast wrapped them to times far before the first,
            # read as they were. Those of EVT 2.0 and DAT include the header's t0, which alone
            # is under 2**63 (`evt3.read_header`); AEDAT4 and ES have no t0 to blame
            if header is not None:
                from eventsim.io.evt3 import t0_overflow

                raise t0_overflow(path, header.t0_us, t_max - header.t0_us)
            raise EventFileError(
                f"{str(path)!r}: times reach {t_max} us, past int64 µs; the file is corrupt"
            )
        ev["t"] = raw["t"].astype(np.int64)
        ev["p"] = raw["on"]
    else:
        ev = np.zeros(0, dtype=EVENT_DTYPE)
    notes.append("time unit: microseconds")
    meta: dict[str, Any] = {}
    if ext == ".dat" and header is not None and len(ev) > 1:
        order = _dat_falls_sorted(path, header.length, ev, notes)
        if order is not None:
            meta["file_index"] = order
    if ext == ".dat" and header is not None:
        # faery drops a last event cut short silently, as a file cut while recording ends
        data = path.stat().st_size - header.length - 2
        left = data % _DAT_WORD_BYTES if data > 0 else 0
        if left:
            notes.append(_mid_word_note(left, f"{8 * _DAT_WORD_BYTES}-bit word of DAT"))
    layout = {
        ".aedat4": "aedat4",
        ".aedat": "aedat4",
        ".raw": "evt",
        ".evt": "evt",
        ".dat": "dat",
        ".es": "es",
    }[ext]
    return ev, file_size, notes, {"layout": layout, **meta}


# a DAT event's bytes, after the header and its event type and size bytes
_DAT_WORD_BYTES = 8


def _header_not_utf8(path: Path, header: Evt3Header) -> str | None:
    """Where the '%' header of an EVT or DAT file is not UTF-8 (``line N holds ...``), else
    None."""
    with open(path, "rb") as fh:
        head = fh.read(header.length)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = head[: exc.start].count(b"\n") + 1
        return f"line {line} holds bytes that are not UTF-8 ({head[exc.start : exc.end]!r})"
    return None


# DAT times compared at once to find falls in them (int64 temporaries of 8 MiB each)
_DAT_CHUNK_WORDS = 1 << 20


def _dat_falls_sorted(
    path: Path, header_length: int, ev: np.ndarray, notes: list[str]
) -> np.ndarray | None:
    """Find where a DAT file's times fall: faery reads such an event at the time before it
    (a fall of 2^31 us or less; a larger one is a wrap of the 32-bit time), so a file written
    out of order read as sorted. Where one does, ``ev`` gets the times the file holds, sorted
    by time (stable) with a note naming the first fall, as the other readers of formats without
    a time order sort theirs; returns each event's index in the file then, else None."""
    from eventsim.io.layouts import SORTED_NOTE

    n = len(ev)
    # after the header, a byte of event type and one of event size, then 8-byte little-endian
    # words whose low 32 bits, their first 4 bytes, are the time (faery decoded ``n`` of them)
    words = np.memmap(path, dtype="<u4", mode="r", offset=header_length + 2, shape=(n, 2))
    half = _DAT_WRAP_US // 2
    # faery holds its time at a fall (100, 50 read as 100, 100), the first one included (later
    # ones it may take for a wrap from the time held): the words are read where its times
    # repeat, not the whole file a second time, until one falls
    t_read = ev["t"]
    for a in range(1, n, _DAT_CHUNK_WORDS):
        b = min(n, a + _DAT_CHUNK_WORDS)
        held = a + np.flatnonzero(t_read[a:b] == t_read[a - 1 : b - 1])
        drop = words[held - 1, 0].astype(np.int64) - words[held, 0]
        if np.any((drop > 0) & (drop <= half)):
            break
    else:
        return None
    step = np.diff(words[:, 0].astype(np.int64))
    fell = np.flatnonzero((step < 0) & (step >= -half))
    falls, first = fell.size, int(fell[0]) + 1
    step[step < -half] += _DAT_WRAP_US
    t = np.empty(n, dtype=np.int64)
    t[0] = ev["t"][0]  # faery's first time is the file's (T0 included)
    np.cumsum(step, out=t[1:])
    t[1:] += t[0]
    notes.append(
        f"{SORTED_NOTE} ({falls} decreasing steps, the first at event {first}: t = "
        f"{int(t[first])} us after {int(t[first - 1])} us, which faery reads as "
        f"{int(ev['t'][first])} us); sorted them"
    )
    order = np.argsort(t, kind="stable")
    ev["t"] = t
    ev[:] = ev[order]
    # kept as long as the reader: int32 halves what it adds to the events' 13 bytes
    return order.astype(np.int32 if n <= np.iinfo(np.int32).max else np.int64)


# -- writing -------------------------------------------------------------------------------------
def write_stream(
    path: str | os.PathLike,
    packets: Iterable[np.ndarray],
    sensor_size: tuple[int, int],
    *,
    fmt: str | None = None,
    force: bool = False,
    params: dict | None = None,
    source: dict | None = None,
    frames: Iterable[tuple[np.ndarray, int]] | None = None,
) -> int:
    """Write time-sorted packets to ``path`` in ``fmt`` (default: from the extension).

    ``frames`` (``(image, t_us)`` pairs) are stored by the ``h5`` format only. Returns the
    number of events written. Nothing is left under ``path`` on failure.
    """
    path = Path(path)
    fmt = format_from_path(path, fmt)
    sensor_size = check_sensor_size(sensor_size)
    if isinstance(packets, np.ndarray):
        # one events array: iterated, it gave its records as packets (a bare TypeError)
        packets = [packets]
    check_replaceable(path)
    if path.exists() and not force:
        raise OutputExistsError(f"output {str(path)!r} exists; pass force=True to replace it")
    limit = _MAX_SENSOR_SIDE.get(fmt)
    if limit is not None and max(sensor_size) > limit:
        # EVT's 11-bit fields would keep x mod 2048 (faery writes EVT 2.0 up to 4096 wide)
        raise ParameterError(
            f"{fmt} stores coordinates in {limit.bit_length() - 1} bits, so sensors up to "
            f"{limit}x{limit}; {sensor_size[0]}x{sensor_size[1]} does not fit: write .h5, "
            ".aedat4 or .npy instead"
        )
    if fmt == "h5":
        with EventWriter(path, sensor_size, params=params, source=source, force=force) as w:
            for packet in packets:
                w.write(packet)
            for image, t_us in frames or ():
                w.add_frame(image, t_us)
        return w.n_events
    writer: Callable[[Path, _Checked, tuple[int, int], str], int] = {
        "v2e": _write_v2e,
        "evqa": _write_evqa,
        "npy": _write_npy,
        "npz": _write_npz,
        "txt": _write_txt,
        "evt3": _write_evt3,
    }.get(fmt, _write_faery)
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(exc, path, tmp) from None
    remove_stale_temps(path)
    checked = _Checked(packets, sensor_size, fmt)
    try:
        n = writer(tmp, checked, sensor_size, fmt)
        fsync_file(tmp)
        publish(tmp, path)
    except OSError as exc:
        # where the temporary could not be made (a file for a folder), nor can it be removed
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if exc is checked.error or isinstance(exc, EventsimError):
            # the input's reader failed, or a writer's refusal that says why
            raise
        raise _write_error(cast(OSError, with_disk_state(exc, path)), path, tmp) from exc
    except BaseException:
        with sigint_deferred(deliver=False):  # a second Ctrl-C must not leave the temporary
            tmp.unlink(missing_ok=True)
        raise
    return n


# ES encodes time as steps from 0 µs: one padding byte per ~127 µs without events.
_ES_US_PER_PAD_BYTE = 127
_ES_PAD_BUDGET_BYTES = 64 << 20


def _write_error(exc: OSError, path: Path, tmp: Path) -> EventFileError:
    """``exc``, raised while writing ``path`` under the temporary name ``tmp``, as an error
    that names ``path``: the hidden temporary means nothing to the user."""
    if exc.filename is not None and os.fspath(exc.filename) == os.fspath(tmp):
        exc = OSError(exc.errno, exc.strerror)
    return EventFileError(f"cannot write {str(path)!r}: {describe_os_error(exc)}")


class _Checked:
    """The packets, validated (`StreamCheck`), refusing outputs whose size would be absurd.
    ``error`` keeps what the packets' source or these checks raised, so that a writer that
    fails on it reports it as it is, not as a failure to write."""

    def __init__(
        self, packets: Iterable[np.ndarray], sensor_size: tuple[int, int], fmt: str
    ) -> None:
        self._packets = packets
        self._check = StreamCheck(sensor_size)
        self._fmt = fmt
        self.error: Exception | None = None
        # DAT: the first event's time (the header's T0) and the last time checked
        self._dat_t0: int | None = None
        self._dat_last: int | None = None

    def _check_dat_gaps(self, t: np.ndarray, start: int) -> None:
        """Refuse the first gap between events that DAT's 32-bit times cannot carry
        (`_dat_gap_lost`), across packets; ``start``: the index of ``t``'s first event."""
        if self._dat_t0 is None:
            if t[0] < 0:
                return  # refused by the writer, naming the time
            self._dat_t0 = int(t[0])
        if self._dat_last is not None:
            t = np.concatenate((np.asarray([self._dat_last], np.int64), t))
            start -= 1
        self._dat_last = int(t[-1])
        lost = _dat_gap_lost(t - self._dat_t0)
        if lost.size:
            i = int(lost[0])
            a, b = int(t[i]), int(t[i + 1])
            raise InvalidEventsError(
                f"dat cannot store the gap of {b - a} us ({(b - a) / 6e7:.1f} min) between the "
                f"events at t = {a} us and t = {b} us (events {start + i} and {start + i + 1} "
                "in time order): DAT keeps each time in 32 bits of us from the first event's, "
                "which wrap every 2^32 us (71.6 min), and a reader tells a wrap only from a gap "
                "under 2^31 us (35.8 min), so it would read that event and those after it at "
                "wrong times; write h5, aedat4 or evt3 instead"
            )

    def __iter__(self) -> Iterator[np.ndarray]:
        check = self._check
        try:
            for packet in self._packets:
                check_interrupted()
                ev = strict_events(packet, check.n_events)
                if not len(ev):
                    continue
                check.check(ev)
                if check.result is not None:
                    raise StreamProblemError(check.result)
                if self._fmt == "es":
                    _check_es_size(int(ev["t"][-1]), check.n_events)
                elif self._fmt == "dat":
                    self._check_dat_gaps(ev["t"], check.n_events - len(ev))
                yield ev
        except Exception as exc:
            self.error = exc
            raise


# DAT stores t - T0 modulo 2^32 us; faery's reader takes a time that falls by more than half
# of that for a wrap, and holds the time at a smaller fall
_DAT_WRAP_US = 1 << 32


def _dat_gap_lost(r: np.ndarray) -> np.ndarray:
    """Indices ``i`` of sorted times ``r`` (µs from the first) whose gap to ``r[i + 1]``
    DAT's readers cannot recover: one of 2^32 us or more, which the 32 bits drop, or of 2^31
    us or more across a wrap, read as a fall in time (faery holds the time there). A gap under
    2^31 us is always read back."""
    gap = np.diff(r)
    wrapped = (r[1:] // _DAT_WRAP_US) != (r[:-1] // _DAT_WRAP_US)
    return np.flatnonzero((gap >= _DAT_WRAP_US) | ((gap >= _DAT_WRAP_US // 2) & wrapped))


def _check_es_size(t_last_us: int, n_events: int) -> None:
    pad = t_last_us // _ES_US_PER_PAD_BYTE
    if pad > _ES_PAD_BUDGET_BYTES + 64 * n_events:
        raise ParameterError(
            f"ES stores time as steps from 0 us, so events up to t = {t_last_us} us would need "
            f"about {pad / 1e9:.3g} GB of padding for {n_events:,} events; the timestamps look "
            "like absolute (epoch) times: write h5, aedat4 or evt3 instead, which store them "
            "compactly"
        )


def write_events(
    path: str | os.PathLike,
    events: np.ndarray,
    sensor_size: tuple[int, int] | None = None,
    *,
    force: bool = False,
    params: dict | None = None,
    source: dict | None = None,
    fmt: str | None = None,
) -> Path:
    """Write a whole events array; eventsim HDF5 for ``.h5``, otherwise by extension or ``fmt``.

    ``sensor_size`` None is inferred from the largest coordinates.
    """
    events = strict_events(events)
    if sensor_size is not None:
        write_stream(
            path, [events], sensor_size, fmt=fmt, force=force, params=params, source=source
        )
        return Path(path)
    # at least 1x1: a column of only negative values made a 0-wide size, refused as 'sensor
    # size 0x3 is out of range' though none was given, rather than naming the value
    width, height = infer_sensor_size(events)
    size = (max(width, 1), max(height, 1))
    try:
        write_stream(path, [events], size, fmt=fmt, force=force, params=params, source=source)
    except StreamProblemError as exc:
        if exc.problem.kind != "outside":
            raise
        raise _outside_inferred_size(exc) from None
    return Path(path)


def _outside_inferred_size(exc: StreamProblemError) -> StreamProblemError:
    """``exc`` (a coordinate outside a sensor size `write_events` inferred) saying that the
    size was inferred: the refusal named a size the caller never gave. Within the largest
    coordinates only a negative one can be outside."""
    p = exc.problem
    width, height = p.sensor_size or (0, 0)
    words = exc.words
    if words is None:
        # StreamProblem.message's words, as a template (`StreamProblemError.said_of` renumbers)
        prefix = exc.prefix.replace("{", "{{").replace("}", "}}")
        limit = width if p.field == "x" else height
        words = (
            f"{prefix}{{field}}[{{index}}] = {{value}} is outside the sensor; expected "
            f"0 <= {{field}} < {limit} for sensor size {width}x{height}"
        )
    note = (
        " (inferred from the events; pass sensor_size=(width, height) to set it, though no "
        "sensor takes a negative {field})"
    )
    return StreamProblemError(p, exc.prefix, words + note)


def npy_dtype(sensor_size: tuple[int, int]) -> np.dtype:
    """`EVENT_DTYPE` whose x and y fields carry ``sensor_size`` (W, H) as titles
    (``sensor_width=W``), so a .npy keeps it; numpy ignores titles when comparing dtypes or
    indexing by name."""
    width, height = sensor_size
    titles = {"x": f"sensor_width={width}", "y": f"sensor_height={height}"}
    return np.dtype(
        [
            ((titles[name], name), EVENT_DTYPE[name])
            if name in titles
            else (name, EVENT_DTYPE[name])
            for name in EVENT_DTYPE.names or ()
        ]
    )


def npy_sensor_size(dtype: np.dtype) -> tuple[int, int] | None:
    """The sensor size recorded by `npy_dtype`, or None."""
    # (field dtype, offset[, title]) per field name
    fields: Mapping[str, tuple[Any, ...]] = dtype.fields or {}
    try:
        tx, ty = fields["x"][2], fields["y"][2]
        return int(tx.split("=")[1]), int(ty.split("=")[1])
    except (KeyError, IndexError, AttributeError, ValueError):
        return None


def _write_npy(tmp: Path, packets: _Checked, size: tuple[int, int], fmt: str) -> int:
    ev = concat_events(packets)
    with open(tmp, "wb") as fh:
        np.save(fh, ev.view(npy_dtype(size)))
    return len(ev)


def _write_npz(tmp: Path, packets: _Checked, size: tuple[int, int], fmt: str) -> int:
    ev = concat_events(packets)
    with open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            x=ev["x"],
            y=ev["y"],
            t=ev["t"],
            p=ev["p"],
            sensor_size=np.asarray(size, dtype=np.int64),
        )
    return len(ev)


def _write_txt(tmp: Path, packets: _Checked, size: tuple[int, int], fmt: str) -> int:
    n = 0
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(f"{size[0]} {size[1]}\n")
        for ev in packets:
            if ev["t"][0] < 0:
                raise InvalidEventsError(
                    f"txt cannot store negative timestamps (first is {ev['t'][0]} us)"
                )
            sec = ev["t"] // 1_000_000
            frac = ev["t"] % 1_000_000
            # integer formatting keeps the microseconds exact at any magnitude
            table = np.column_stack([sec, frac, ev["x"], ev["y"], ev["p"]])
            np.savetxt(fh, table, fmt="%d.%06d %d %d %d")
            n += len(ev)
    return n


def _append(ds: h5py.Dataset, values: np.ndarray) -> None:
    a = ds.shape[0]
    ds.resize((a + values.shape[0], *ds.shape[1:]))
    ds[a:] = values


def _write_v2e(tmp: Path, packets: _Checked, size: tuple[int, int], fmt: str) -> int:
    # gzip rather than Blosc: the tools that read these layouts may not load hdf5plugin
    with h5py.File(tmp, "w") as f:
        ds = f.create_dataset(
            "events",
            shape=(0, 4),
            maxshape=(None, 4),
            dtype=np.int64,
            chunks=(65536, 4),
            compression="gzip",
            compression_opts=1,
            shuffle=True,
        )
        for ev in packets:
            _append(ds, np.column_stack([ev["t"], ev["x"], ev["y"], ev["p"]]).astype(np.int64))
        # v2e itself records no sensor size; our reader takes it from these attributes
        f.attrs["sensor_width"] = size[0]
        f.attrs["sensor_height"] = size[1]
        return int(ds.shape[0])


# |base_time| up to 9e12 s is what eventsim's EvQA reader takes (layouts._evqa_base_time)
_EVQA_MAX_BASE_US = 9 * 10**18


def _write_evqa(tmp: Path, packets: _Checked, size: tuple[int, int], fmt: str) -> int:
    # EvQA's layout (HYLZ-2019/EvQA README, tests/data/evqa.h5): uint64 ts counting from the
    # first event, whose epoch time is the float64 base_time in seconds
    with h5py.File(tmp, "w") as f:
        g = f.create_group("events")
        spec = (
            ("xs", np.uint16, "x"),
            ("ys", np.uint16, "y"),
            ("ts", np.uint64, "t"),
            ("ps", np.uint8, "p"),
        )
        ds = {
            name: g.create_dataset(
                name,
                shape=(0,),
                maxshape=(None,),
                dtype=dtype,
                chunks=(65536,),
                compression="gzip",
                compression_opts=1,
                shuffle=True,
            )
            for name, dtype, _ in spec
        }
        n = 0
        t_first = t_last = base = 0
        for ev in packets:
            if n == 0:
                t_first = int(ev["t"][0])
                base = _evqa_base_us(t_first)
            cols = {"x": ev["x"], "y": ev["y"], "t": ev["t"] - base, "p": ev["p"]}
            for name, dtype, field in spec:
                _append(ds[name], cols[field].astype(dtype))
            n += len(ev)
            t_last = int(ev["t"][-1])
        f.attrs["sensor_resolution"] = np.asarray([size[1], size[0]], dtype=np.int64)
        f.attrs["num_events"] = n
        f.attrs["num_imgs"] = 0
        f.attrs["duration"] = (t_last - t_first) / 1e6
        f.attrs["data_source"] = "eventsim"
        f.attrs["base_time"] = np.float64(base / 1e6)
        return n


def _evqa_base_us(t_first: int) -> int:
    """The time EvQA's ``ts`` count from: the first event's, unless the double ``base_time``
    cannot hold it to the microsecond (beyond about 4.5e9 s), then its whole second, and at
    most the largest ``base_time`` readers take (`_EVQA_MAX_BASE_US`): the unsigned ``ts``
    hold the rest."""
    if t_first < -_EVQA_MAX_BASE_US:
        raise InvalidEventsError(
            f"evqa cannot store t = {t_first} us: its base_time (seconds) takes times from "
            f"{-_EVQA_MAX_BASE_US // 1_000_000} s on, and its ts count up from there"
        )
    if round(Decimal(t_first / 1e6) * 1_000_000) == t_first:
        return min(t_first, _EVQA_MAX_BASE_US)
    return min(t_first // 1_000_000 * 1_000_000, _EVQA_MAX_BASE_US)


_EVT3_SLICE = 1 << 20


def _write_evt3(tmp: Path, packets: _Checked, size: tuple[int, int], fmt: str) -> int:
    from eventsim.io.evt3 import Evt3Encoder, evt3_header

    n = 0
    encoder: Evt3Encoder | None = None
    with open(tmp, "wb") as fh:
        for ev in packets:
            if encoder is None:
                t0 = int(ev["t"][0])
                if t0 < 0:
                    raise InvalidEventsError(
                        f"{fmt} cannot store negative timestamps (first is {t0} us)"
                    )
                # times count from the first event's, as faery's files do: the header keeps it
                encoder = Evt3Encoder(t0)
                fh.write(evt3_header(size, t0))
            # slices bound the encoder's arrays (~60 bytes an event) for one huge packet
            for a in range(0, len(ev), _EVT3_SLICE):
                fh.write(encoder.encode(ev[a : a + _EVT3_SLICE]).data)
            n += len(ev)
        if encoder is None:
            fh.write(evt3_header(size, 0))
    return n


def _write_faery(tmp: Path, packets: _Checked, size: tuple[int, int], fmt: str) -> int:
    faery = _faery(f"writing {fmt} files")
    from faery.events_stream import EVENTS_DTYPE as FAERY_DTYPE

    count = [0]

    def convert():
        for ev in packets:
            if ev["t"][0] < 0:
                raise InvalidEventsError(
                    f"{fmt} cannot store negative timestamps (first is {ev['t'][0]} us)"
                )
            out = np.empty(len(ev), dtype=FAERY_DTYPE)
            out["t"] = ev["t"]
            out["x"] = ev["x"]
            out["y"] = ev["y"]
            out["on"] = ev["p"] == 1
            count[0] += len(ev)
            yield out

    file_type = {
        "aedat4": "aedat",
        "evt2": "evt",
        "dat": "dat",
        "es": "es",
        "csv": "csv",
    }[fmt]
    version = {"evt2": "evt2", "dat": "dat2"}.get(fmt)
    try:
        faery.file_encoder.events_to_file(
            convert(),
            tmp,
            dimensions=tuple(size),
            version=version,
            file_type=file_type,
            # ES would otherwise drop the first timestamp; EVT and DAT keep it in the header
            zero_t0=fmt != "es",
            use_write_suffix=False,
        )
    except BaseException as exc:
        # the packets' own checks or reading (the reader's damaged-file errors, the ES size
        # limit, an OSError of a damaged input) say what is wrong, and it is not faery; a panic
        # mid-write leaves a partial temporary, which write_stream removes
        if isinstance(exc, EventsimError) or exc is packets.error or not _faery_failure(exc):
            raise
        raise EventFileError(f"faery could not write {fmt}: {exc}") from None
    if fmt == "dat" and count[0] == 0:
        # faery writes a DAT's event type and size bytes with the first event, and cannot read
        # a file without them back
        raise EventFileError(
            "a DAT file cannot hold zero events (faery cannot read it back); write .h5, "
            ".aedat4, .raw or .npy instead"
        )
    return count[0]
