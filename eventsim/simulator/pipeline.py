"""Source -> (upsampling) -> simulator -> events array or HDF5 file, streaming.

Frames are decoded in a background thread while the simulator works, and events go to the
HDF5 writer batch by batch, so memory stays flat in the length of the video.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from eventsim.errors import ArgumentValueError, InputError, ParameterError
from eventsim.events import check_sensor_size, concat_events
from eventsim.options import FlowMethod, UpsampleMode
from eventsim.outputs import sigint_deferred
from eventsim.simulator.core import _FRAME_DTYPES, EventSimulator, warn_float_scale
from eventsim.simulator.params import DVSParams, check_params
from eventsim.simulator.sources import (
    IMAGE_EXTENSIONS,
    ArraySource,
    FolderSource,
    ImageMotionSource,
    TiffStackSource,
    VideoSource,
    _array_frame,
    _check_frame_dtype,
    fit_frame,
    frame_folder_layout,
    tiff_frame_count,
)
from eventsim.simulator.upsample import Upsampler, check_mode

# frames per simulator call: ~this many pixels, 4..16 frames (few calls, bounded memory)
_BATCH_PIXELS = 4_000_000
_BATCH_FRAMES = (4, 16)
_PREFETCH_BATCHES = 2
# batches of events the simulation may run ahead of the HDF5 writer
_WRITE_BEHIND_BATCHES = 2


@dataclasses.dataclass(frozen=True)
class SimulationResult:
    """What one `simulate` run produced.

    ``events`` (`EVENT_DTYPE`) is set when the run kept the events in memory (``out=None``);
    ``path`` is the HDF5 file they were streamed to otherwise, and ``events`` is then None.
    ``n_frames`` counts source frames, ``n_inserted_frames`` the frames upsampling added
    between them; ``t_first_frame_us`` / ``t_last_frame_us`` are the first and last source
    frame times (None when the source had no frames); ``seconds`` is the run's wall time.
    """

    sensor_size: tuple[int, int]
    n_events: int
    n_frames: int
    n_inserted_frames: int
    t_first_frame_us: int | None
    t_last_frame_us: int | None
    seconds: float
    path: Path | None = None
    events: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def frames_per_s(self) -> float:
        """Source frames simulated per second of wall time."""
        return self.n_frames / self.seconds if self.seconds > 0 else float("inf")

    @property
    def events_per_s(self) -> float:
        """Events produced per second of wall time."""
        return self.n_events / self.seconds if self.seconds > 0 else float("inf")


def open_source(source: Any, *, sensor_size: Sequence[int] | None = None, fps: float | None = None):
    """Turn a path into a source: folder -> FolderSource (ESIM's ``images/`` +
    ``timestamps.txt`` layout too), TIFF of several images -> TiffStackSource, image ->
    ImageMotionSource (saccade), anything else -> VideoSource. Source objects are returned
    unchanged."""
    if not isinstance(source, (str, os.PathLike)):
        if not hasattr(source, "__iter__") or not hasattr(source, "sensor_size"):
            raise ParameterError(
                f"source {type(source).__name__} is not a frame source; pass a path or one of "
                "VideoSource, FolderSource, TiffStackSource, PairSource, ImageMotionSource, "
                "ArraySource"
            )
        return source
    path = Path(source)
    if path.is_dir():
        folder, timestamps = frame_folder_layout(path)
        if fps is None and timestamps is None and not (folder / "timestamps.txt").is_file():
            # simulate() takes no frame rate: the folder source does
            raise InputError(
                f"frame folder {str(path)!r} has no timestamps.txt; give its frame rate with "
                f"simulate(FolderSource({str(path)!r}, fps=...), ...)"
            )
        return FolderSource(folder, fps=fps, timestamps_file=timestamps, sensor_size=sensor_size)
    if not path.exists():
        raise InputError(f"input {str(path)!r} does not exist")
    if tiff_frame_count(path) > 1:
        try:
            return TiffStackSource(path, fps=fps, sensor_size=sensor_size)
        except InputError as exc:
            if not str(exc).endswith("; pass fps"):
                raise
            # simulate() takes no frame rate: the stack source does
            raise InputError(
                str(exc).removesuffix("; pass fps") + "; give its frame rate with "
                f"simulate(TiffStackSource({str(path)!r}, fps=...), ...)"
            ) from None
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageMotionSource(path, sensor_size=sensor_size)
    return VideoSource(path, sensor_size=sensor_size)


class _Prefetch:
    """Iterate ``items`` in a worker thread, at most ``depth`` items ahead (errors re-raised here).

    Ctrl-C raises KeyboardInterrupt in the consuming main thread at whatever bytecode it is
    running. `queue.Queue` takes its lock in Python code, where the interrupt can land just
    after the lock was taken and leave it held, and `close` then waited for it forever. So the
    consumer only makes single calls into C (`queue.SimpleQueue`), which an interrupt cannot
    split, and `close` touches no queue or lock: it raises a flag that the producer reads
    between items and while it waits for room.
    """

    _POLL_S = 0.05
    _JOIN_S = 5.0

    def __init__(self, items: Iterable, depth: int) -> None:
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        # one token per item the producer may have queued ahead of the consumer
        self._room: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(depth):
            self._room.put(None)
        self._stopped = False
        self._thread = threading.Thread(
            target=self._run, args=(items,), name="eventsim-prefetch", daemon=True
        )
        self._thread.start()

    def _run(self, items: Iterable) -> None:
        try:
            for item in items:
                if not self._wait_for_room():
                    return
                self._items.put(("item", item))
            self._items.put(("end", None))
        except BaseException as exc:  # handed to the consumer thread
            self._items.put(("error", exc))

    def _wait_for_room(self) -> bool:
        while not self._stopped:
            try:
                self._room.get(timeout=self._POLL_S)
            except queue.Empty:
                continue
            return not self._stopped
        return False

    def __iter__(self) -> Iterator:
        while True:
            kind, value = self._items.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            self._room.put(None)
            yield value

    def close(self) -> None:
        """Stop the producer: at once when it waits for room, after the item it is making
        otherwise, which is waited for up to ``_JOIN_S`` (the thread is a daemon: it cannot
        keep the process alive)."""
        self._stopped = True
        self._room.put(None)  # wakes a producer waiting for room
        self._thread.join(timeout=self._JOIN_S)


class _WriteBehind:
    """Write batches of events (and saved frames) to ``writer`` in a worker thread, in the
    order they come, while the caller simulates the next batch: the numba kernels run without
    the GIL, so writing (validation, buffering, Blosc compression) overlaps them on another
    core. At most ``depth`` batches wait. A write error is raised in the caller at its next
    `put` or at `finish`.

    The caller's side keeps to single calls into C (`queue.SimpleQueue`), which Ctrl-C cannot
    split (see `_Prefetch`). The writer is the thread's alone until `finish` or `close` has
    joined it: only then may the caller close or abort the file.
    """

    _POLL_S = 0.05

    def __init__(self, writer: Any, depth: int) -> None:
        self._writer = writer
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        # one token per batch that may wait for the writer
        self._room: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(depth):
            self._room.put(None)
        self._stopped = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="eventsim-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopped:
                item = self._items.get()
                if item is None or self._stopped:
                    return
                events, frames = item
                self._writer.write(events)
                for frame, t in frames:
                    self._writer.add_frame(frame, t)
                self._room.put(None)
        except BaseException as exc:  # handed to the caller's thread
            self._error = exc

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, events: np.ndarray, frames: list) -> None:
        """Queue a batch, once fewer than ``depth`` wait; raises the writer's error."""
        while True:
            # a thread that failed puts no token back: look for its error between waits
            self._check()
            try:
                self._room.get(timeout=self._POLL_S)
                break
            except queue.Empty:
                continue
        self._items.put((events, frames))

    def finish(self) -> None:
        """Wait until every batch is written; raises the writer's error."""
        self._items.put(None)
        while self._thread.is_alive():
            self._thread.join(self._POLL_S)
        self._check()

    def close(self) -> None:
        """Stop after the batch being written (the rest are dropped) and wait for the thread."""
        self._stopped = True
        self._items.put(None)
        self._thread.join()


def _user_floats(src: Any) -> bool | None:
    """Whether ``src`` gives float frames that are the user's own values, as `EventSimulator`
    takes float frames (DN), or None for a source of one's own (its float frames are). Files
    are not: their 16-bit and float samples come out in DN, scaled on reading."""
    if isinstance(src, (VideoSource, FolderSource, TiffStackSource)):
        return False
    return getattr(src, "_user_floats", None)


def _luma(frame: np.ndarray) -> np.ndarray:
    """Luma the simulator would compute itself (OpenCV's BT.601 for uint8), done with SIMD."""
    if frame.ndim == 3:
        if frame.dtype == np.uint8:
            return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        f = frame.astype(np.float64)
        return f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114
    return frame


def _too_few_frames(src: Any, n: int) -> InputError:
    """The error for an input of fewer than 2 frames, naming it (and a video's window)."""
    if isinstance(src, VideoSource):
        name, where = f"video {str(src.path)!r}", src.window()
    elif isinstance(src, FolderSource):
        name, where = f"frame folder {str(src.folder)!r}", ""
    elif isinstance(src, TiffStackSource):
        name, where = f"TIFF stack {str(src.path)!r}", ""
    else:
        name, where = "the input", ""
    if n == 0:
        return InputError(f"{name} has zero frames{where}")
    return InputError(
        f"{name} has {n} frame{where}; at least 2 are needed (events come from the changes "
        "between frames)"
    )


def _batches(
    frames: Iterable[tuple[np.ndarray, int]],
    sensor_size: tuple[int, int],
    upsampler: Upsampler | None,
    keep_originals: bool,
    batch_frames: int,
) -> Iterator[tuple[np.ndarray, np.ndarray, list, int, float | None]]:
    """Group (luma, t) into simulator batches.

    Yields (luma [B,H,W], ts [B], originals, number of source frames in the batch, peak);
    with upsampling B also counts the inserted frames. ``peak`` is the highest luma of the
    user's own float frames (`_user_floats` of the source ``frames``) in the first batch that
    holds any, None in every other batch, for `simulate`'s 0..1 check. The lumas cannot tell:
    those of 16-bit frames and of upsampling are floats too, and a batch whose source of
    one's own switches from uint8 to 0..1 floats stacks both as floats peaking at 255."""
    width, height = sensor_size
    lumas: list[np.ndarray] = []
    times: list[int] = []
    originals: list[tuple[np.ndarray, int]] = []
    prev: tuple[np.ndarray, int] | None = None
    saved_ndim: int | None = None
    n_in = 0
    n_batch = 0
    peak: float | None = None
    # at the user's float frames, in an earlier batch; a file's are DN, never looked at
    looked = _user_floats(frames) is False
    for frame, t in frames:
        frame = np.asarray(frame)
        user_float = frame.dtype.kind == "f"
        if frame.dtype not in _FRAME_DTYPES or (frame.ndim == 3 and frame.shape[2] in (1, 4)):
            # a source of one's own gives frames in ArraySource's units: grey as HxWx1, colour
            # with alpha blended onto white, uint16 as 16-bit (value / 257; its colour went
            # into the luma as 0..65535 DN, and so did its grey with upsampling)
            _check_frame_dtype(frame.dtype, f"frame {n_in} has")
            frame = _array_frame(frame)
        if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
            raise InputError(
                f"frame {n_in} has shape {frame.shape}; expected HxW (grey) or HxWx3 (RGB)"
            )
        if frame.shape[:2] != (height, width):
            frame = fit_frame(frame, sensor_size)
        t = int(t)
        if prev is not None and t <= prev[1]:
            raise InputError(
                f"frame timestamps must increase strictly: frame {n_in} at {t} us follows "
                f"{prev[1]} us"
            )
        luma = _luma(frame)
        if upsampler is not None:
            if prev is not None:
                for mid, tm in upsampler.between(prev[0], luma, prev[1], t):
                    lumas.append(mid)
                    times.append(tm)
                    if len(lumas) >= batch_frames:
                        # one interval may take up to max_upsample_factor frames: held all at
                        # once, a high factor ran out of memory
                        yield np.stack(lumas), np.asarray(times, np.int64), originals, n_batch, peak
                        lumas, times, originals, n_batch = [], [], [], 0
                        looked, peak = looked or peak is not None, None
            lumas.append(luma.astype(np.float64))
        else:
            lumas.append(luma)
        if user_float and not looked:
            frame_peak = float(luma.max())
            peak = frame_peak if peak is None else max(peak, frame_peak)
        times.append(t)
        if keep_originals:
            saved = _as_u8_frame(frame)
            if saved_ndim is None:
                saved_ndim = saved.ndim
            elif saved.ndim != saved_ndim:
                # a folder may mix grey and colour images: every frame is stored as the first
                # one is (grey repeated into RGB, or colour as the luma the simulator saw)
                saved = (
                    np.repeat(saved[..., None], 3, axis=2)
                    if saved_ndim == 3
                    else _as_u8_frame(luma)
                )
            originals.append((saved, t))
        prev = (luma, t)
        n_in += 1
        n_batch += 1
        if len(lumas) >= batch_frames:
            yield np.stack(lumas), np.asarray(times, np.int64), originals, n_batch, peak
            lumas, times, originals, n_batch = [], [], [], 0
            looked, peak = looked or peak is not None, None
    # raised before the last batch is handed on: a run of fewer than 2 frames writes nothing
    if n_in < 2:
        raise _too_few_frames(frames, n_in)
    if lumas:
        yield np.stack(lumas), np.asarray(times, np.int64), originals, n_batch, peak


def _as_u8_frame(frame: np.ndarray) -> np.ndarray:
    if frame.dtype == np.uint8:
        return frame
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)


#: the suffixes of `simulate`'s output, eventsim HDF5 (the only format its writer streams)
OUTPUT_SUFFIXES = (".h5", ".hdf5")


def check_output_suffix(
    out: str | os.PathLike,
    *,
    other_formats: str = "eventsim.io.write_events writes other formats of the events read back",
) -> None:
    """`ArgumentValueError` unless ``out`` ends in one of `OUTPUT_SUFFIXES`: HDF5 written into
    ``o.npy`` is read as a corrupt NumPy file by every reader that goes by the suffix. The
    message ends in ``other_formats`` (in parentheses), how to get the events in another
    format; the command line names its own."""
    suffix = Path(out).suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ArgumentValueError(
            "out",
            os.fspath(out),
            f" {f'ends in {suffix}' if suffix else 'has no suffix'}; simulate writes eventsim "
            f"HDF5, so expected {' or '.join(OUTPUT_SUFFIXES)} ({other_formats})",
        )


def simulate(
    source: Any,
    params: DVSParams | None = None,
    *,
    sensor_size: Sequence[int] | None = None,
    seed: int = 0,
    upsample: UpsampleMode = "none",
    device: str = "cpu",
    out: str | os.PathLike | None = None,
    save_frames: bool = False,
    force: bool = False,
    progress: bool = False,
    threads: int | None = 1,
    flow_method: FlowMethod = "dis",
    attrs: dict[str, Any] | None = None,
) -> SimulationResult:
    """Simulate events for a source (path or source object).

    Keeps the events in memory (``result.events``) when ``out`` is None, else streams them
    into the HDF5 file ``out`` (named .h5 or .hdf5; ``result.path``; all parameters and the
    source description in its attributes; ``save_frames`` stores the original frames with
    ``frame_ts_us`` / ``frame_event_idx``). ``attrs`` are extra root attributes of the file.
    ``threads`` sets torch's CPU threads for the run once torch is in use (restored
    afterwards); one thread plus the decoding thread uses two cores without the two competing.

    ``params`` is a `DVSParams` (None: ``DVSParams()``, the ``ideal`` preset); a preset's name
    is not taken in its place, but refused with the call that makes it
    (``DVSParams.from_preset('clean')``).
    """
    params = DVSParams() if params is None else check_params(params)
    upsample = check_mode(upsample)
    if sensor_size is not None:
        sensor_size = check_sensor_size(sensor_size)
    src = open_source(source, sensor_size=sensor_size)
    size = sensor_size or check_sensor_size(src.sensor_size)
    n_known = getattr(src, "n_frames", None)
    if n_known is not None and n_known < 2:
        raise _too_few_frames(src, n_known)
    if save_frames and out is None:
        raise ParameterError("save_frames needs an output file (out=...)")
    if out is not None:
        check_output_suffix(out)
    # the simulator would look at the lumas, which are floats for more than the user's own
    # float frames: `_batches` looks at those
    sim = EventSimulator(params, size, seed=seed, device=device, check_scale=False)
    upsampler = None if upsample == "none" else Upsampler(upsample, params, flow_method=flow_method)
    batch = min(_BATCH_FRAMES[1], max(_BATCH_FRAMES[0], _BATCH_PIXELS // (size[0] * size[1])))
    describe = src.describe() if hasattr(src, "describe") else {"kind": type(src).__name__}
    source_info = {**describe, "upsample": upsample, "seed": seed}

    torch_threads = _TorchThreads(threads if sim.device_name.startswith("cpu") else None)
    torch_threads.apply()
    bar = None
    prefetch = None
    started = time.perf_counter()
    try:
        if progress:
            # a disabled bar is no bar: tqdm would still make its multiprocessing lock (a named
            # semaphore, in each worker of a dataset build)
            from tqdm.auto import tqdm

            bar = tqdm(
                total=getattr(src, "n_frames", None),
                unit="frame",
                desc="simulate",
                dynamic_ncols=True,
            )
        # Thread.start waits on a Python-level lock: no Ctrl-C in the middle of it
        with sigint_deferred():
            prefetch = _Prefetch(
                _batches(src, size, upsampler, save_frames, batch),
                depth=_PREFETCH_BATCHES,
            )
        writer = None
        if out is not None:
            from eventsim.io import EventWriter

            writer = EventWriter(
                out,
                size,
                params=params.to_dict(),
                source=source_info,
                force=force,
            )
        parts: list[np.ndarray] = []
        n_frames = n_events = 0
        t_first = t_last = None
        with writer if writer is not None else contextlib.nullcontext():
            behind = None
            try:
                if writer is not None:
                    with sigint_deferred():
                        behind = _WriteBehind(writer, _WRITE_BEHIND_BATCHES)
                for lumas, ts, originals, n_src, peak in prefetch:
                    ev = sim.step(lumas, ts)
                    if peak is not None:
                        # after the step, which refuses negative or NaN frames first
                        warn_float_scale(peak, stacklevel=2)
                    torch_threads.apply()
                    if behind is None:
                        parts.append(ev)
                    else:
                        behind.put(ev, originals)
                    if t_first is None:
                        t_first = int(ts[0])
                    t_last = int(ts[-1])
                    n_frames, n_events = n_frames + n_src, n_events + ev.size
                    if bar is not None:
                        _tick(bar, upsampler, n_src, n_events)
                if behind is not None:
                    behind.finish()
            finally:
                # the writer thread lets go of the file before the file is closed or deleted
                if behind is not None:
                    with sigint_deferred():
                        behind.close()
            if writer is not None:
                writer.set_attrs(
                    simulator="eventsim.simulator.EventSimulator",
                    device=sim.device_name,
                    seed=int(seed),
                    first_frame_us=t_first,
                    last_frame_us=t_last,
                    n_frames=n_frames,
                    **(attrs or {}),
                )
        events: np.ndarray | None = None
        if writer is None:
            events = concat_events(parts)
            n_out, path = int(events.size), None
        else:
            n_out, path = int(writer.n_events), Path(writer.path)
        return SimulationResult(
            sensor_size=size,
            n_events=n_out,
            n_frames=n_frames,
            n_inserted_frames=upsampler.inserted if upsampler else 0,
            t_first_frame_us=t_first,
            t_last_frame_us=t_last,
            seconds=time.perf_counter() - started,
            events=events,
            path=path,
        )
    finally:
        # a second Ctrl-C does not cut the cleanup short; it is raised once that is done
        with sigint_deferred():
            if prefetch is not None:
                prefetch.close()
            if bar is not None:
                bar.close()
            torch_threads.restore()


class _TorchThreads:
    """Sets torch's CPU threads for a run once torch is in use, and restores them. A simulator
    on CPU may never import torch (see `EventSimulator`), and importing it only to set its
    threads would cost a second of start-up."""

    def __init__(self, threads: int | None) -> None:
        self._threads = None if threads is None else max(1, int(threads))
        self._old: int | None = None

    def apply(self) -> None:
        if self._threads is None or self._old is not None:
            return
        torch = sys.modules.get("torch")
        if torch is not None:
            self._old = torch.get_num_threads()
            torch.set_num_threads(self._threads)

    def restore(self) -> None:
        if self._old is not None:
            sys.modules["torch"].set_num_threads(self._old)
            self._old = None


def _tick(bar, upsampler, n_src: int, n_events: int) -> None:
    postfix = {"events": f"{n_events:,}"}
    if upsampler is not None:
        postfix["inserted"] = upsampler.inserted
    bar.set_postfix(postfix, refresh=False)
    bar.update(n_src)


def simulate_frames(
    frames: np.ndarray | Sequence[np.ndarray],
    timestamps_us: np.ndarray | Sequence[float],
    params: DVSParams | None = None,
    *,
    seed: int = 0,
    upsample: UpsampleMode = "none",
    sensor_size: Sequence[int] | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """Events (``EVENT_DTYPE``, time-sorted) of an in-memory clip with one timestamp a frame
    in µs (integers, or floats rounded to whole µs; strictly increasing).

    ``frames`` (an array, or a list of frames) are ``[T,H,W]`` grey, ``[T,H,W,3]`` RGB or
    ``[T,H,W,4]`` RGBA, whose straight alpha (opaque at 255, 65535 for uint16) blends them onto
    white. Their values are intensities in DN, 0..255 nominal: uint8, float (above 255 is HDR;
    multiply 0..1 floats by 255), other integer types as they are, and uint16 as 16-bit images
    (65535 = white, read as value / 257). Grey frames of equal DN give the same events in any
    type; uint8 RGB frames become 8-bit luma, rounded, other RGB float luma, so the same colour
    picture as uint8 and as float differs slightly (see `EventSimulator`). ``params=None`` runs
    ``DVSParams()``, the noise-free ``ideal`` preset. ``sensor_size`` (W, H) fits the frames to
    that sensor (scaled to cover it and centre-cropped); None keeps their own size. Without
    upsampling the events are exactly those of an ``EventSimulator(params, sensor_size,
    seed=seed)`` fed the frames in chunks of any size (`EventSimulator.step` takes the same
    frames, at the sensor's size)."""
    src = ArraySource(frames, timestamps_us, sensor_size=sensor_size)
    result = simulate(src, params, seed=seed, upsample=upsample, device=device)
    assert result.events is not None  # no ``out``: the events stay in memory
    return result.events
