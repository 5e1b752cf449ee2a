"""Render an event file to a PNG, a folder of PNGs, an MP4/AVI or a GIF, streaming window by
window through the reader, and a long time window part by part (memory does not grow with the
file's length nor with a window's)."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from eventsim.errors import OutputExistsError, ParameterError
from eventsim.events import empty_events
from eventsim.render.accumulate import (
    PartReader,
    _window_bounds,
    check_window_args,
    count_bounds,
    n_time_windows,
    stream_by_time,
)
from eventsim.render.renderer import FrameRenderer, RenderParams
from eventsim.render.writers import (
    GIF_SUFFIXES,
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    VideoSink,
    gif_playback_fps,
    open_sink,
    output_kind,
    video_frame_wh,
)

if TYPE_CHECKING:
    from eventsim.io.reader import EventFileReader


# A window expected (at the file's mean rate) or asked to hold more events than this is read
# and drawn in parts of about this many, so memory stays flat however long the window: a PNG
# of a whole recording, minute-long windows, --events-per-frame in the millions. The kernels
# take some 40-100 bytes an event.
PART_EVENTS = 1 << 20

# a window and its events, whole or in consecutive parts
PartedWindow = tuple[int, int, Iterable[np.ndarray]]


def _time_windows(
    reader: EventFileReader, window_us: float, t_start_us: int, t_end_us: int
) -> Iterator[PartedWindow]:
    """`stream_by_time`'s windows, those expected to hold over `PART_EVENTS` read in parts."""
    mean_events = window_us * len(reader) / max(int(reader.duration_us), 1)
    if mean_events <= PART_EVENTS:
        for a, b, events in stream_by_time(reader, window_us, t_start_us, t_end_us):
            yield a, b, (events,)
        return
    check_window_args(window_us, None)
    parts = PartReader(reader, PART_EVENTS)
    for a, b in _window_bounds(t_start_us, t_end_us, window_us):
        yield a, b, parts.read(a, min(b, t_end_us))


def _index_parts(reader: EventFileReader, start: int, stop: int) -> Iterator[np.ndarray]:
    for a in range(start, stop, PART_EVENTS):
        yield reader.read_index(a, min(a + PART_EVENTS, stop))


def _count_windows(
    reader: EventFileReader, events_per_frame: int, t_start_us: int | None, t_end_us: int | None
) -> Iterator[PartedWindow]:
    """`stream_by_count`'s windows (`count_bounds`): one of over `PART_EVENTS` events is read
    in parts, its bounds from its first and last events."""
    for a, b in count_bounds(reader, events_per_frame, t_start_us, t_end_us):
        if b - a <= PART_EVENTS:
            events = reader.read_index(a, b)
            yield int(events["t"][0]), int(events["t"][-1]) + 1, (events,)
        else:
            first = int(reader.read_index(a, a + 1)["t"][0])
            last = int(reader.read_index(b - 1, b)["t"][0])
            yield first, last + 1, _index_parts(reader, a, b)


@dataclass(frozen=True)
class RenderResult:
    """What was written; ``t_start_us``/``t_end_us`` span the rendered windows (absolute µs).
    ``colorbar_left_out``: None, or the smallest frame (width, height) that would have held the
    heat map's colour bar, which frames this small went without; ``colorbar_left_out_frames``
    of the ``n_frames`` did (a bar is as wide as its labels need). ``fps``: the rate a video or
    GIF plays at (a GIF at most 50, its frames' 20 ms floor), None for PNGs. ``written_wh``:
    the size of the frames in the file, ``frame_wh`` but for a video's, padded as its encoder
    needs (`eventsim.render.writers.video_frame_wh`: even sides, MJPEG at least 8 px wide).
    ``n_events``: the events drawn in all the frames (0: the windows held none)."""

    path: Path
    kind: str
    n_frames: int
    frame_wh: tuple[int, int]
    written_wh: tuple[int, int]
    t_start_us: int
    t_end_us: int
    colorbar_left_out: tuple[int, int] | None = None
    colorbar_left_out_frames: int = 0
    fps: float | None = None
    n_events: int = 0


def given_ms(value: float) -> str:
    """A time as the user gave it: ``:g``'s six digits turned 982.0866 into 982.087, which a
    message then compared with a span to the µs (982.086) the wrong way round."""
    return f"{value:.15g}"


def check_range_args(start_ms: float | None, end_ms: float | None, fps: float) -> None:
    """A positive fps and, when given, ``0 <= start_ms < end_ms`` (ms from the first event)."""
    if not (math.isfinite(fps) and fps > 0):
        raise ParameterError(f"fps {fps:g} must be > 0 and finite (frames per second)")
    if start_ms is not None and not (math.isfinite(start_ms) and start_ms >= 0):
        raise ParameterError(
            f"start_ms {start_ms:g} must be >= 0 and finite (ms from the first event)"
        )
    if end_ms is not None and not (math.isfinite(end_ms) and end_ms > 0):
        raise ParameterError(f"end_ms {end_ms:g} must be > 0 and finite (ms from the first event)")
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise ParameterError(
            f"start_ms {given_ms(start_ms)} is not before end_ms {given_ms(end_ms)}"
        )
    # event times are whole µs and the range is taken as render_file rounds it: a range
    # within one µs was [t, t), whose frame drew nothing and said nothing of why
    if end_ms is not None:
        t0, t1 = round((start_ms or 0.0) * 1000), round(end_ms * 1000)
        if t1 <= t0:
            if start_ms is None:
                raise ParameterError(
                    f"end_ms {given_ms(end_ms)} rounds to {t1} µs after the first event, which "
                    "leaves no time to draw (event times are whole µs); give at least 0.001"
                )
            raise ParameterError(
                f"start_ms {given_ms(start_ms)} and end_ms {given_ms(end_ms)} both round to "
                f"{t0} µs after the first event, which leaves no time to draw (event times are "
                "whole µs); give a range at least 0.001 ms wide"
            )


def check_output_name(out: str | os.PathLike) -> None:
    """Refuse the output names that would make a folder of PNGs no one asked for: a suffix
    alone (``.png``, a hidden folder), a name ending in a dot (``out.``, a suffix left off)
    and ``-`` (standard output to most tools; render writes files). A name ending in a
    separator asks for a folder and is taken as one."""
    text = str(out)
    if text.endswith(("/", os.sep)):
        return
    path = Path(text)
    name = path.name
    suffixes = (*IMAGE_SUFFIXES, *VIDEO_SUFFIXES, *GIF_SUFFIXES)
    if text == "-":
        raise ParameterError(
            "output '-' would be a folder named '-': render writes files, not standard output; "
            "give a file name such as frame.png, or a folder name for a folder of PNGs"
        )
    if name.lower() in suffixes:
        raise ParameterError(
            f"output {text!r} is a suffix without a name and would be a hidden folder; give a "
            f"file name such as {str(path.with_name('frame' + name))!r}, or a folder name for "
            "a folder of PNGs"
        )
    if name.endswith(".") and name not in (".", ".."):
        base = str(path.with_name(name.rstrip(".") or "frames"))
        raise ParameterError(
            f"output {text!r} ends in a dot and would be a folder of that name; give "
            f"{base}.png, {base}.mp4 or {base}.gif for a file, or {base} for a folder of PNGs"
        )


class _FrameSource:
    """The saved frame shown under each window: the latest one at or before the window's end
    (the first frame for windows that precede every frame). Keeps one decoded frame."""

    def __init__(self, reader: EventFileReader) -> None:
        self.reader = reader
        self.ts = np.asarray(reader.frame_ts_us, dtype=np.int64)
        self._cached: tuple[int, np.ndarray] | None = None

    def at(self, t_us: int) -> np.ndarray:
        i = max(0, int(np.searchsorted(self.ts, t_us, side="right")) - 1)
        if self._cached is None or self._cached[0] != i:
            self._cached = (i, self.reader.read_frame(i))
        return self._cached[1]


def render_file(
    path: str | os.PathLike,
    out: str | os.PathLike,
    params: RenderParams | None = None,
    *,
    window_ms: float | None = None,
    events_per_frame: int | None = None,
    start_ms: float | None = None,
    end_ms: float | None = None,
    fps: float = 30.0,
    force: bool = False,
    progress: bool = True,
    sensor_size: tuple[int, int] | None = None,
    time_unit: str | None = None,
    columns: str = "txyp",
    layout: str | None = None,
) -> RenderResult:
    """Render ``path`` (any layout `eventsim.io.open_events` reads) to ``out``.

    The output kind follows the name: ``.png`` one frame, ``.mp4``/``.avi``/``.mov`` video,
    ``.gif`` animation, no suffix a folder of PNGs. Frames are windows of ``window_ms`` or of
    ``events_per_frame`` events (default: ``1000 / fps`` ms, i.e. real time). ``start_ms`` and
    ``end_ms`` are milliseconds from the first event. A single PNG shows the first window, or
    the whole ``[start, end)`` range when ``end_ms`` is given without a window. A window that
    reaches past the range (the last event, or ``end_ms``) is drawn as ending there: a time
    surface is taken at that end and a voxel grid's bins span the window up to it.
    ``sensor_size``, ``time_unit``, ``columns`` and ``layout`` are `eventsim.io.open_events`'s.
    Video keeps colour at half resolution (4:2:0): a lone event pixel comes out grey unless
    ``params.scale`` is even (``eventsim render`` draws video at 2x when --scale is not given).
    """
    from eventsim.io import open_events

    params = params or RenderParams()
    window_us = None if window_ms is None else float(window_ms) * 1000.0
    check_window_args(window_us, events_per_frame)
    check_range_args(start_ms, end_ms, fps)
    check_output_name(out)
    kind = output_kind(out)
    if Path(out).exists() and not force:
        # The sink checks again; failing here spares reading the input first.
        raise OutputExistsError(f"output {str(out)!r} exists; pass force=True to overwrite it")

    with open_events(
        path, sensor_size=sensor_size, time_unit=time_unit, columns=columns, layout=layout
    ) as reader:
        n_frames_saved = int(getattr(reader, "num_frames", 0) or 0)
        if params.mode == "overlay" and n_frames_saved == 0:
            raise ParameterError(
                f"{str(path)!r} has no saved frames, so --mode overlay has nothing to draw on; "
                "simulate it with saved frames ('eventsim simulate --save-frames', save_frames=True "
                "in Python), or use --mode polarity, timesurface, heatmap or voxel"
            )
        origin = int(reader.t_start_us)
        t0 = origin + round((start_ms or 0.0) * 1000)
        t1 = int(reader.t_end_us) if end_ms is None else origin + round(end_ms * 1000)
        if len(reader) and end_ms is None and t0 >= t1:
            raise ParameterError(
                f"start_ms {given_ms(start_ms or 0.0)} is past the last event "
                # t_end_us is one past the last event
                f"({f'{(reader.t_end_us - 1 - origin) / 1000:.3f}'.rstrip('0').rstrip('.')} ms "
                "after the first)"
            )
        windows: Iterator[PartedWindow]
        if events_per_frame is not None:
            ranged = start_ms is not None or end_ms is not None
            windows = _count_windows(
                reader, int(events_per_frame), t0 if ranged else None, t1 if ranged else None
            )
            total = math.ceil(len(reader) / int(events_per_frame)) if not ranged else None
        else:
            if window_us is None:
                whole_range = kind == "png" and end_ms is not None
                window_us = max(1.0, float(t1 - t0)) if whole_range else 1e6 / fps
            windows = _time_windows(reader, float(window_us), t0, t1)
            total = n_time_windows(t0, t1, float(window_us))
        if kind == "png":
            windows = itertools.islice(windows, 1)
            total = 1

        renderer = FrameRenderer(params, reader.sensor_size)
        frames = _FrameSource(reader) if params.mode == "overlay" else None
        with (
            open_sink(out, fps=fps, force=force) as sink,
            tqdm(total=total, unit="frame", desc="render", disable=not progress) as bar,
        ):
            first_us, last_us = t0, max(t1, t0 + 1)
            drawn = [0]
            for a, b, parts in windows:
                if sink.n_frames == 0:
                    first_us = a
                last_us = b
                image = frames.at(b - 1) if frames is not None else None
                # A window reaching past the range is drawn as ending with it, as its events
                # do: a time surface at the window's end showed the range faded out (a PNG of
                # a recording shorter than its window came out black), and a voxel grid put
                # every event in its first bins.
                end = max(a + 1, min(b, t1))
                sink.write(renderer.render(_counted(parts, drawn), a, end, image), (a, end))
                bar.update(1)
            if sink.n_frames == 0:
                # A count-based render of a range without events: one blank frame, not an error.
                image = frames.at(t0) if frames is not None else None
                sink.write(
                    renderer.render(empty_events(), first_us, last_us, image), (first_us, last_us)
                )
    return RenderResult(
        path=sink.path,
        kind=kind,
        n_frames=sink.n_frames,
        frame_wh=renderer.frame_wh,
        written_wh=(
            video_frame_wh(sink.fourcc, renderer.frame_wh)
            if isinstance(sink, VideoSink)
            else renderer.frame_wh
        ),
        t_start_us=first_us,
        t_end_us=last_us,
        colorbar_left_out=renderer.colorbar_left_out,
        colorbar_left_out_frames=renderer.colorbar_left_out_frames,
        fps={"video": float(fps), "gif": gif_playback_fps(fps)}.get(kind),
        n_events=drawn[0],
    )


def _counted(parts: Iterable[np.ndarray], drawn: list[int]) -> Iterator[np.ndarray]:
    """``parts`` as they are drawn, adding up their events in ``drawn[0]``."""
    for part in parts:
        drawn[0] += len(part)
        yield part
