"""One-figure summary of an event file: event rate over time by polarity, spatial heat map,
per-pixel rate histogram and an x-y-t scatter of a short window.

`collect_summary` streams the file in fixed-size chunks (numpy only); `summary_figure` draws it
with matplotlib (the ``viz`` extra), imported only when called and used through its
object-oriented API with the Agg canvas, so no global backend or pyplot state is touched.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from eventsim._text import plural, rate_text, significant
from eventsim.errors import OutputExistsError, ParameterError, require
from eventsim.events import concat_events
from eventsim.outputs import (
    check_replaceable,
    fsync_file,
    publish,
    remove_path,
    remove_stale_temps,
    temp_path,
)
from eventsim.render.accumulate import PartReader
from eventsim.render.colors import palette
from eventsim.render.frames import MAX_FRAME_PIXELS, add_polarity_counts, count_full_scale

if TYPE_CHECKING:
    from eventsim.io.reader import EventFileReader


# The figure keeps every pixel's event count of each polarity (int32: 8 bytes a pixel), for
# the per-pixel rate histogram, and draws the heat map from their sums over blocks of pixels,
# at most `PANEL_MAX_SIDE` blocks a side: a figure is a few thousand pixels wide, and
# matplotlib copies an image several times as it draws it (some 120 bytes a pixel, 8 GB for a
# full 8192x8192, measured; 0.4 GB at 2048x2048). An 8192x8192 sensor takes some 1.6 GB in
# all (measured, 3 million events), about PLOT_BYTES_PER_PIXEL a pixel; sensors are taken up
# to `eventsim render`'s frame limit. 32767x32767, which every command accepts, would need
# 24 GiB and was left to the out-of-memory killer.
MAX_PLOT_PIXELS = MAX_FRAME_PIXELS
PANEL_MAX_SIDE = 2048
PLOT_BYTES_PER_PIXEL = 24


def check_plot_size(sensor_size: tuple[int, int]) -> None:
    """Refuse a sensor with too many pixels for the summary figure to count in memory."""
    width, height = sensor_size
    if width * height > MAX_PLOT_PIXELS:
        need = width * height * PLOT_BYTES_PER_PIXEL / 2**30
        raise ParameterError(
            f"sensor size {width}x{height} has too many pixels for the summary figure, which "
            f"counts every pixel's events in memory (about {need:.0f} GiB for this one); "
            f"`eventsim plot`, like `eventsim render`, takes at most {MAX_PLOT_PIXELS:,} "
            "pixels, e.g. 8192x8192"
        )


@dataclass(frozen=True)
class EventSummary:
    name: str
    sensor_size: tuple[int, int]
    n_events: int
    t_start_us: int
    t_end_us: int
    bin_edges_us: np.ndarray  # (n_bins + 1,) absolute µs
    bin_counts: np.ndarray  # (2, n_bins) OFF, ON events per bin
    # (2, H, W) OFF, ON events per pixel: int32 for files of under 2**31 events (half the
    # memory of int64 on large sensors), else int64
    pixel_counts: np.ndarray
    scatter: np.ndarray  # events of the short window (subsampled)
    scatter_window_us: tuple[int, int]

    @property
    def duration_s(self) -> float:
        """The span of the events in seconds (at least 1 µs)."""
        return max(self.t_end_us - self.t_start_us, 1) / 1e6

    @property
    def rates_known(self) -> bool:
        """Whether the events span more than one timestamp: a rate over the 1 µs that one
        event (or several at one time) occupies would read as a made-up Mev/s."""
        return self.t_end_us - self.t_start_us > 1

    @property
    def no_rate_reason(self) -> str:
        return "no events" if self.n_events == 0 else "all events at one time"


def collect_summary(
    reader: EventFileReader,
    *,
    n_bins: int = 200,
    scatter_events: int = 20_000,
    chunk_events: int = 1_000_000,
    name: str = "",
    progress: bool = False,
) -> EventSummary:
    """Statistics of everything ``reader`` holds, reading ``chunk_events`` at a time.

    The scatter window is centred on the busiest rate bin and sized to hold about five times
    ``scatter_events`` events at the mean rate (at least one bin wide); it is thinned evenly to
    ``scatter_events``, reading it in parts of about ``chunk_events``.
    """
    if n_bins < 1 or scatter_events < 1 or chunk_events < 1:
        raise ParameterError(
            f"n_bins={n_bins}, scatter_events={scatter_events}, chunk_events={chunk_events}; "
            "expected all >= 1"
        )
    width, height = reader.sensor_size
    check_plot_size((width, height))
    n = len(reader)
    t0, t1 = int(reader.t_start_us), max(int(reader.t_end_us), int(reader.t_start_us) + 1)
    # bins of at least the 1 µs of a timestamp: 200 bins over 21 µs alternated between none
    # and one event, drawn as spikes of a made-up 9.5 Mev/s
    n_bins = min(n_bins, t1 - t0)
    edges = np.linspace(t0, t1, n_bins + 1)
    bin_counts = np.zeros((2, n_bins), np.int64)
    pixel_counts = np.zeros((2, height, width), np.int32 if n < 2**31 else np.int64)
    # no events, nothing to count: a bar would only show "0.00ev"
    with tqdm(
        total=n, unit="ev", unit_scale=True, desc="plot", disable=not progress or n == 0
    ) as bar:
        for chunk in reader.iter_chunks(chunk_events) if n else ():
            add_polarity_counts(pixel_counts, chunk)
            for p in (0, 1):
                sel = chunk["t"][chunk["p"] == p]
                bin_counts[p] += np.histogram(sel, bins=edges)[0]
            bar.update(len(chunk))

    busiest = int(np.argmax(bin_counts.sum(axis=0))) if n else 0
    rate = n / max(t1 - t0, 1)
    # Five times the events shown, thinned to one in five: long enough that motion tilts the
    # space-time tubes visibly, light enough to draw.
    span = max(math.ceil(5 * scatter_events / max(rate, 1e-12)), math.ceil(edges[1] - edges[0]))
    span = min(span, t1 - t0)
    centre = (edges[busiest] + edges[busiest + 1]) / 2
    a = int(max(t0, min(centre - span / 2, t1 - span)))
    b = a + span
    window = _thinned(reader, a, b, scatter_events, chunk_events) if n else reader.read_index(0, 0)
    return EventSummary(
        name=name,
        sensor_size=(width, height),
        n_events=n,
        t_start_us=t0,
        t_end_us=t1 if n else t0,
        bin_edges_us=edges,
        bin_counts=bin_counts,
        pixel_counts=pixel_counts,
        scatter=window,
        scatter_window_us=(a, b),
    )


def _thinned(
    reader: EventFileReader, t_start_us: int, t_end_us: int, keep: int, part_events: int
) -> np.ndarray:
    """The events of ``[t_start_us, t_end_us)`` thinned evenly to at most ``keep`` (at indices
    ``linspace(0, n - 1, keep)``), read in parts: once to count them, once to pick. The window
    is at least a rate bin wide, so with few bins it holds much of the file."""
    n = sum(len(part) for part in PartReader(reader, part_events).read(t_start_us, t_end_us))
    if n <= keep:
        return reader.read(t_start_us, t_end_us)
    picks = np.linspace(0, n - 1, keep).astype(np.int64)
    kept = []
    seen = 0
    for part in PartReader(reader, part_events).read(t_start_us, t_end_us):
        lo, hi = np.searchsorted(picks, [seen, seen + len(part)])
        kept.append(part[picks[lo:hi] - seen])
        seen += len(part)
    return concat_events(kept)


def _drawable(text: str) -> str:
    """``text`` with each character the figure's font has no glyph for written as its Python
    escape ('ev \\u65e5\\u672c.h5'): matplotlib drew boxes for them, with a UserWarning per
    glyph on stderr ("Glyph 26085 ... missing from font(s) DejaVu Sans")."""
    from matplotlib.font_manager import FontProperties, findfont, get_font

    font = get_font(findfont(FontProperties()))
    return "".join(
        c
        if c.isprintable() and font.get_char_index(ord(c))
        else c.encode("ascii", "backslashreplace").decode("ascii")
        for c in text
    )


def summary_figure(summary: EventSummary) -> Any:
    """A 2x2 matplotlib Figure of ``summary`` (not attached to pyplot)."""
    require("matplotlib", "viz", "eventsim plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import FuncNorm
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    _, on, off = palette("white")
    on_c = tuple(v / 255 for v in on)
    off_c = tuple(v / 255 for v in off)
    s = summary
    width, height = s.sensor_size
    fig = Figure(figsize=(13, 9.5), layout="constrained")
    FigureCanvasAgg(fig)
    t_origin = s.t_start_us
    if s.rates_known:
        title_rate = (
            f"{_duration_text(s.duration_s)}  ·  mean {rate_text(s.n_events / s.duration_s)}"
        )
    else:
        title_rate = f"rate n/a ({s.no_rate_reason})"
    fig.suptitle(
        f"{_drawable(s.name)}  ·  {width}x{height}  ·  {s.n_events:,} "
        f"{plural(s.n_events, 'event')}  ·  {title_rate}",
        fontsize=13,
        # a file's name is text: 'a$\frac{$b.h5' was read as mathtext and raised
        parse_math=False,
    )

    ax = fig.add_subplot(2, 2, 1)
    # milliseconds under a second: ticks of 0.000025 s run into each other
    t_unit, t_scale = ("s", 1e6) if s.duration_s >= 1 else ("ms", 1e3)
    edges_t = (s.bin_edges_us - t_origin) / t_scale
    bin_s = (s.bin_edges_us[1] - s.bin_edges_us[0]) / 1e6
    if s.rates_known:
        # each bin's rate over the whole µs it holds (np.histogram's t >= edge is t >= its
        # ceiling): bins of 1.25 µs hold one or two timestamps, and a steady 1 Mev/s was drawn
        # as a comb of 0.8 and 1.6 Mev/s
        held_s = np.diff(np.ceil(s.bin_edges_us)) / 1e6
        peak = float((s.bin_counts / held_s).max())
        unit, scale = next(
            ((u, f) for u, f in (("Mev/s", 1e6), ("kev/s", 1e3)) if peak >= f), ("ev/s", 1)
        )
        per_bin: np.ndarray | float = held_s * scale
        ax.set_ylabel(f"event rate [{unit}]")
        ax.set_title(f"Event rate by polarity (bins of {_seconds_text(bin_s)})")
    else:
        per_bin = 1.0
        ax.set_ylabel("events")
        ax.set_title(f"Events by polarity (no rate: {s.no_rate_reason})")
    # each bin a step over its span: a line through the bins' centres drew nothing of one bin
    # (--bins 1) and a slanted segment of two
    # ON dashed over OFF: where their rates are equal (a file of as many ON as OFF events in
    # each bin) a solid ON line was drawn exactly under OFF's and never seen
    ax.stairs(s.bin_counts[1] / per_bin, edges_t, color=on_c, lw=1.3, ls="--", zorder=3, label="ON")
    ax.stairs(s.bin_counts[0] / per_bin, edges_t, color=off_c, lw=1.3, label="OFF")
    ax.set_xlabel(f"time since first event [{t_unit}]")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")

    ax = fig.add_subplot(2, 2, 2)
    shown, block, active = _pixel_totals(s.pixel_counts, PANEL_MAX_SIDE)
    # the scale `eventsim render --mode heatmap` uses: log(1 + count), 0 at the colour map's
    # black bottom, so one event is a colour (LogNorm from 1 drew it black, like no event)
    vmax = count_full_scale(shown)
    clipped = int(shown.max()) > vmax
    rows, cols = shown.shape
    im = ax.imshow(
        np.ma.masked_equal(shown, 0),
        cmap="inferno",
        norm=FuncNorm((np.log1p, np.expm1), vmin=0, vmax=vmax),
        interpolation="nearest",
        # in sensor pixels; a block past the sensor's edge is cut off by the limits below
        extent=(-0.5, cols * block - 0.5, rows * block - 0.5, -0.5),
    )
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_facecolor("black")
    what = "pixel" if block == 1 else f"{block}x{block}-pixel block"
    ax.set_title(
        f"Events per {what} (log scale"
        + ("; top 1 % clipped" if clipped else "")
        + "; black = none)"
    )
    ax.set_xlabel("x [px]")
    ax.set_ylabel("y [px]")
    bar = fig.colorbar(
        im, ax=ax, label="events", shrink=0.85, extend="max" if clipped else "neither"
    )
    bar.set_ticks(_log_count_ticks(vmax))

    ax = fig.add_subplot(2, 2, 3)
    silent = width * height - active.size
    if active.size:
        # Bin edges at half-integer counts: log-spaced bins that fall between small integer
        # counts would otherwise leave a comb of empty bins at the low end.
        most = int(active.max())
        top = np.log10(most + 1)
        edges = np.unique(np.round(np.logspace(0, top, 50))) - 0.5
        edges = np.append(edges, most + 0.5) if edges[-1] < most else edges
        per = s.duration_s if s.rates_known else 1.0
        unit = "ev/s" if s.rates_known else "events"
        # counted in whole events and drawn as weights at the bins' left edges: the same bars
        # as histogramming active / per, without a float copy of every active pixel's count
        in_bin = np.histogram(active, bins=edges)[0]
        rate_edges = edges / per
        ax.hist(rate_edges[:-1], bins=rate_edges.tolist(), weights=in_bin, color="0.35")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(_minor_log_formatter())
        median = float(np.median(active, overwrite_input=True)) / per
        # neutral: in this figure red means ON events, and the median counts both polarities
        shown_median = significant(median)
        if not s.rates_known:
            unit = plural(float(shown_median), "event")
        ax.axvline(median, color="black", ls="--", lw=1.2, label=f"median {shown_median} {unit}")
        ax.legend(loc="upper right")
    ax.set_yscale("log")
    ax.set_xlabel(
        "per-pixel event rate [events/s]" if s.rates_known else "events per pixel (no rate)"
    )
    ax.set_ylabel("pixels")
    ax.set_title(f"Per-pixel rate ({active.size:,} active, {silent:,} silent pixels)")
    ax.grid(alpha=0.3)

    ax = fig.add_subplot(2, 2, 4, projection="3d")
    ev = s.scatter
    a, b = s.scatter_window_us
    # seconds for a window ending 100 s or more in: '0.0–10000000.0 ms' for a 3-hour file
    w_unit, w_scale = ("s", 1e6) if b - t_origin >= 100e6 else ("ms", 1e3)
    if len(ev):
        t_rel = (ev["t"] - t_origin) / w_scale
        # One collection with per-point colours: separate ON and OFF collections are
        # depth-sorted as wholes by mplot3d, so one polarity would hide the other.
        colors = np.where(ev["p"][:, None] > 0, np.array([on_c]), np.array([off_c]))
        # 1 pt² dots make thousands of events a cloud, but leave a few of them unseen
        size = min(max(2000 / len(ev), 1.0), 16.0)
        ax.scatter(
            ev["x"], t_rel, ev["y"], s=size, c=colors, alpha=0.7, depthshade=False, linewidths=0
        )
        for color, label in ((on_c, "ON"), (off_c, "OFF")):
            ax.scatter([], [], [], s=6, color=color, label=label)
        ax.legend(loc="upper left")
    ax.set_xlim(0, width)
    ax.set_zlim(height, 0)
    ax.set_xlabel("x [px]")
    ax.set_ylabel(f"t [{w_unit}]")
    ax.set_zlabel("y [px]")
    ax.set_title(
        f"x-y-t of {len(ev):,} {plural(len(ev), 'event')}, "
        f"{_window_text((a - t_origin) / w_scale, (b - t_origin) / w_scale)} {w_unit}"
    )
    ax.yaxis.set_major_locator(MaxNLocator(4))
    if width > 1500:
        # matplotlib's default nine 4-digit x ticks (0, 1000, ... 8000) run into each other
        ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.view_init(elev=18, azim=-60)
    return fig


def _pixel_totals(pixel_counts: np.ndarray, max_side: int) -> tuple[np.ndarray, int, np.ndarray]:
    """The events of each pixel (both polarities) as ``(shown, block, active)``: their sums
    over square blocks of ``block`` pixels a side, the fewest that leave at most ``max_side``
    blocks a side (those at the right and bottom edges may be cut short), and the counts of
    the pixels with events. Taken a band of ``block`` rows at a time, so that no sensor-sized
    array is made beside ``pixel_counts``."""
    _, height, width = pixel_counts.shape
    block = -(-max(height, width) // max_side)
    shown = np.zeros((-(-height // block), -(-width // block)), pixel_counts.dtype)
    starts = np.arange(0, width, block)
    active = []
    for row, top in enumerate(range(0, height, block)):
        band = pixel_counts[0, top : top + block] + pixel_counts[1, top : top + block]
        active.append(band[band > 0])
        shown[row] = np.add.reduceat(band.sum(axis=0), starts)
    return shown, block, np.concatenate(active)


def _minor_log_formatter() -> Any:
    """Labels for some ticks between powers of ten on a log axis, as plain numbers ('3',
    '0.03'; matplotlib's '3×10⁰' beside '4×10⁰' ran into each other), where at most one power
    of ten is in view: all of 2..9 within 0.4 decades, 2, 3, 4 and 6 within one, 2 and 5 in
    more (3 and 4 are an eighth of a decade apart, too close for '0.0003' beside '0.0004')."""
    from matplotlib.ticker import Formatter

    class MinorLogFormatter(Formatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            if self.axis is None or x <= 0:
                return ""
            low, high = sorted(self.axis.get_view_interval())
            lo, hi = math.log10(low), math.log10(high)
            # matplotlib's count of labelled powers of ten (a limit at one counts it once)
            if math.floor(hi) - math.floor(math.nextafter(lo, -math.inf)) > 1:
                return ""
            span = hi - lo
            keep = range(2, 10) if span <= 0.4 else (2, 3, 4, 6) if span <= 1 else (2, 5)
            coefficient = round(x / 10 ** math.floor(math.log10(x) + 1e-9))
            return f"{x:g}" if coefficient in keep else ""

    return MinorLogFormatter()


def _seconds_text(seconds: float) -> str:
    """A span in ms under a second, else in s, to three digits or whole past 1000 s (not
    '5e+04 ms' for bins of 50 s, nor '1e+03 ms' for 999.9 ms: '1 s')."""
    ms = significant(seconds * 1e3)
    if float(ms) < 1000:
        return f"{ms} ms"
    text = significant(seconds)
    return f"{seconds:,.0f} s" if float(text) >= 1000 else f"{text} s"


def _window_text(a: float, b: float) -> str:
    """'a–b' with decimals enough to tell them apart: one, or more for a window under a unit
    long ('0.0–0.0 ms' for 21 µs)."""
    decimals = max(1, 1 - math.floor(math.log10(b - a))) if b > a else 1
    return f"{a:.{decimals}f}–{b:.{decimals}f}"


def _duration_text(seconds: float) -> str:
    """Seconds from 1 s up, milliseconds below: "0.000 s" for a 0.2 ms recording says nothing.
    999.9996 ms, which rounds to 1000 ms, is "1.000 s"."""
    ms = significant(seconds * 1e3)
    return f"{seconds:.3f} s" if float(ms) >= 1000 else f"{ms} ms"


def _log_count_ticks(vmax: float) -> list[int]:
    """Whole counts for a log(1 + count) colour bar: 0 and 1-2-5 steps up to ``vmax``, only the
    powers of ten when those would crowd it (evenly spaced counts bunch up at its top)."""
    decades = []
    decade = 1
    while decade <= vmax:
        decades.append(decade)
        decade *= 10
    steps = [m * d for d in decades for m in (1, 2, 5) if m * d <= vmax]
    return [0, *(decades if len(steps) > 9 else steps)]


def plot_summary(
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    force: bool = False,
    n_bins: int = 200,
    dpi: int = 110,
    progress: bool = False,
    sensor_size: tuple[int, int] | None = None,
    time_unit: str | None = None,
    columns: str = "txyp",
    layout: str | None = None,
) -> Path:
    """Write the summary figure of the event file ``path`` to ``out`` (PNG, PDF or SVG).
    ``sensor_size``, ``time_unit``, ``columns`` and ``layout`` are `eventsim.io.open_events`'s."""
    from eventsim.io import open_events

    out = Path(out)
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ParameterError(f"plot output {str(out)!r} must end in .png, .pdf or .svg")
    check_replaceable(out)
    if out.exists() and not force:
        raise OutputExistsError(f"output {str(out)!r} exists; pass force=True to overwrite it")
    require("matplotlib", "viz", "eventsim plot")
    with open_events(
        path, sensor_size=sensor_size, time_unit=time_unit, columns=columns, layout=layout
    ) as reader:
        summary = collect_summary(reader, n_bins=n_bins, name=Path(path).name, progress=progress)
    fig = summary_figure(summary)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    tmp = temp_path(out)
    try:
        fig.savefig(tmp, dpi=dpi)
        fsync_file(tmp)
        publish(tmp, out)
    finally:
        remove_path(tmp)
    return out
