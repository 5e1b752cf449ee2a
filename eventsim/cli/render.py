"""``eventsim render FILE -o OUT``: event frames as a PNG, a folder of PNGs, an MP4/AVI or a GIF."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from eventsim._text import plural
from eventsim.cli.common import (
    CREATES_FOLDERS,
    add_implausible_times_option,
    add_layout_option,
    add_progress_option,
    add_reading_options,
    add_unit_option,
    check_events_file,
    cli_command,
    make_parent_folders,
    make_parser,
    parse_sensor_size,
    path_arg,
    reading_options,
    show_progress,
)
from eventsim.errors import OutputExistsError, ParameterError
from eventsim.options import BACKGROUNDS, COLOR_BY, HEATMAP_SCALES, OVERLAY_FRAMES, RENDER_MODES
from eventsim.outputs import expect_final_output
from eventsim.render.colors import COLORMAPS
from eventsim.render.frames import MAX_FRAME_PIXELS
from eventsim.render.renderer import RenderParams
from eventsim.render.writers import VIDEO_SUFFIXES

if TYPE_CHECKING:
    from eventsim.render.pipeline import RenderResult

DEFAULTS = RenderParams()
# every suffix render writes video to, in help texts
_VIDEO_NAMES = " / ".join(VIDEO_SUFFIXES)


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(
        "render",
        "Render events to images or video. The output kind follows its name: OUT.png (one "
        f"frame: 1000/fps ms from --start-ms, or to --end-ms), OUT{_VIDEO_NAMES} (video), "
        "OUT.gif (animation), or a name without a suffix (folder of PNGs, with windows.csv: "
        "each frame's window in the file's microseconds). Times are milliseconds from the "
        "first event.",
    )
    p.add_argument(
        "file", type=path_arg("an event file"), help="event file (any layout eventsim reads)"
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        type=path_arg("an image, video or GIF file name, or a folder name"),
        metavar="OUT",
        help=f"output path; {CREATES_FOLDERS}",
    )
    win = p.add_argument_group("frames")
    win.add_argument(
        "--window-ms",
        type=float,
        metavar="MS",
        help="time window per frame (default: 1000/fps, real-time playback)",
    )
    win.add_argument(
        "--events-per-frame", type=int, metavar="N", help="fixed event count per frame instead"
    )
    add_unit_option(
        win,
        "--start-ms",
        "--start",
        "render times are milliseconds",
        type=float,
        metavar="MS",
        help="start, ms after the first event (default: 0)",
    )
    add_unit_option(
        win,
        "--end-ms",
        "--end",
        "render times are milliseconds",
        type=float,
        metavar="MS",
        help="end, ms after the first event (for a PNG without a window: render [start, end))",
    )
    win.add_argument(
        "--fps",
        type=float,
        default=30.0,
        help="output frame rate (default: 30; a GIF plays at most 50, an .avi at most 1000)",
    )
    look = p.add_argument_group("look")
    look.add_argument(
        "--mode",
        choices=RENDER_MODES,
        default=DEFAULTS.mode,
        help="what each frame shows (default: %(default)s)",
    )
    look.add_argument(
        "--background",
        choices=BACKGROUNDS,
        default=DEFAULTS.background,
        help="dark or white with ON/OFF colours, or grey for signed grey levels "
        "(default: %(default)s)",
    )
    look.add_argument("--on-color", metavar="C", help="ON colour: name, #rrggbb or r,g,b")
    look.add_argument("--off-color", metavar="C", help="OFF colour: name, #rrggbb or r,g,b")
    look.add_argument(
        "--color-by",
        choices=COLOR_BY,
        # None: not given, so that one given to a look that ignores it is refused
        default=None,
        help="pixel colour from the last event there, or from the sign of ON minus OFF counts "
        f"(default: {DEFAULTS.color_by}; --background grey always draws the signed count)",
    )
    look.add_argument(
        "--tau-ms",
        type=float,
        default=DEFAULTS.tau_ms,
        metavar="MS",
        help="time-surface decay constant, ms (default: %(default)s)",
    )
    look.add_argument(
        "--colormap",
        choices=list(COLORMAPS),
        default=DEFAULTS.colormap,
        help="heat-map colours (default: %(default)s)",
    )
    look.add_argument(
        "--max-count",
        type=float,
        default=DEFAULTS.max_count,
        help="heat-map full scale, a whole number of events (default: the 99th percentile of "
        "each frame's non-zero pixels)",
    )
    look.add_argument(
        "--no-colorbar",
        action="store_true",
        help="heat map without its colour bar (bottom right, or a corner free of events)",
    )
    look.add_argument(
        "--heatmap-scale",
        choices=HEATMAP_SCALES,
        default=DEFAULTS.heatmap_scale,
        help="heat-map levels from log(1 + count) or count (default: %(default)s)",
    )
    look.add_argument(
        "--alpha",
        type=float,
        default=DEFAULTS.overlay_alpha,
        help="overlay opacity of events (default: %(default)s)",
    )
    look.add_argument(
        "--overlay-frame",
        choices=OVERLAY_FRAMES,
        default=DEFAULTS.overlay_frame,
        help="show the saved frame in grey (events stand out) or in colour (default: %(default)s)",
    )
    look.add_argument(
        "--bins",
        type=int,
        default=DEFAULTS.n_bins,
        help="voxel-grid time bins (default: %(default)s)",
    )
    look.add_argument(
        "--scale",
        type=int,
        # None: not given, so that a video can take its own default
        default=None,
        help=f"integer upscaling, nearest neighbour (default: 1; 2 for {_VIDEO_NAMES} video "
        "in colour, whose encoders keep colour at half resolution: at 1 a lone event pixel "
        "comes out grey)",
    )
    p.add_argument(
        "--sensor-size",
        type=parse_sensor_size,
        metavar="WxH",
        help="sensor size for files that do not record it",
    )
    add_layout_option(p, "the file")
    add_reading_options(p)
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    add_implausible_times_option(p, "render")
    add_progress_option(p)
    return p


# Beyond these, an output is refused up front: most frames would be empty, or it would not fit
# on a typical disk. A GIF's frames are held until the end: writers.check_gif_size bounds them.
MAX_FRAMES = 100_000
MAX_FRAMES_PER_EVENT = 10
MAX_GIF_FRAMES = 10_000
# event times are int64 µs: a longer span cannot be a window or an offset into a recording
MAX_SPAN_MS = (2**63 - 1) / 1000


def check_times(args: argparse.Namespace) -> None:
    """Refuse times beyond the int64 µs range of event times, and playback rates that no
    video or GIF can hold."""
    for flag, value in (
        ("--window-ms", args.window_ms),
        ("--start-ms", args.start_ms),
        ("--end-ms", args.end_ms),
    ):
        if value is not None and math.isfinite(value) and abs(value) > MAX_SPAN_MS:
            raise ParameterError(
                f"{flag} {value:g} ms is beyond the time range of events "
                f"(at most {MAX_SPAN_MS:.3g} ms)"
            )
    from eventsim.render.writers import MIN_PLAYBACK_FPS, output_kind

    if (
        output_kind(args.output) in ("video", "gif")
        and math.isfinite(args.fps)
        and 0 < args.fps < MIN_PLAYBACK_FPS
    ):
        raise ParameterError(
            f"--fps {args.fps:g} is below {MIN_PLAYBACK_FPS:g}, the slowest a video or GIF "
            "plays; set the frames' time span with --window-ms"
        )


def check_output_size(args: argparse.Namespace, stats: dict) -> None:
    """Refuse renders whose frame count or frame size is absurd for the input."""
    width, height = stats["sensor_size"]
    scale = max(1, args.scale)
    # "--scale 1 makes" named an option that was not given
    what = f"--scale {args.scale} makes" if scale > 1 else f"sensor size {width}x{height} makes"
    if args.mode == "voxel" and args.bins > 1:
        # the bins are drawn side by side, 2 px apart (FrameRenderer.frame_wh)
        width = args.bins * width + (args.bins - 1) * 2
        what = f"--bins {args.bins}{f' with --scale {scale}' if scale > 1 else ''} makes"
    if width * height * scale * scale > MAX_FRAME_PIXELS:
        raise ParameterError(
            f"{what} {width * scale}x{height * scale} frames; a frame may have at most "
            f"{MAX_FRAME_PIXELS:,} pixels (width x height), e.g. 8192x8192"
        )
    from eventsim.render.writers import check_gif_size, output_kind

    kind = output_kind(args.output)
    if kind == "png":
        return
    n = stats["events"]
    if args.events_per_frame is not None:
        if args.events_per_frame < 1:
            return  # the renderer reports it
        bounds = [v for v in (args.start_ms, args.end_ms) if v is not None]
        if kind == "gif" and bounds:
            if not all(math.isfinite(v) for v in bounds):
                return  # the renderer reports these
            # only a GIF can have too many count frames (at most one an event): those of the
            # range, not of the whole file (1 ms of a long recording was refused)
            n = _events_in_range(args, stats)
        frames = -(-n // args.events_per_frame)
    else:
        if args.window_ms is None and not args.fps > 0:
            return  # the renderer reports a bad --fps
        window_us = (args.window_ms if args.window_ms is not None else 1000.0 / args.fps) * 1000
        lo = stats["t_start_us"] + (args.start_ms or 0.0) * 1000.0
        hi = stats["t_end_us"]
        if args.end_ms is not None:
            hi = stats["t_start_us"] + args.end_ms * 1000.0
        if not (math.isfinite(window_us) and window_us > 0 and math.isfinite(hi - lo) and hi > lo):
            return  # the renderer reports these
        frames = math.ceil((hi - lo) / window_us)
    limit = MAX_GIF_FRAMES if kind == "gif" else max(MAX_FRAMES, MAX_FRAMES_PER_EVENT * n)
    if frames > limit:
        count = f"{frames:,}" if frames < 10**15 else f"{frames:.3g}"
        raise ParameterError(
            f"these settings give {count} frames for {n:,} {plural(n, 'event')} (limit "
            f"{limit:,} for {kind} output); use a longer --window-ms, more --events-per-frame, "
            "or --start-ms/--end-ms"
        )
    if kind == "gif":
        check_gif_size(frames, (width * scale, height * scale))


def _events_in_range(args: argparse.Namespace, stats: dict) -> int:
    """The events of ``[--start-ms, --end-ms)``, found as render_file finds them."""
    from eventsim.io import open_events
    from eventsim.render.accumulate import index_of

    origin = stats["t_start_us"]
    t0 = origin + round((args.start_ms or 0.0) * 1000)
    t1 = stats["t_end_us"] if args.end_ms is None else origin + round(args.end_ms * 1000)
    with open_events(
        args.file, sensor_size=args.sensor_size, layout=args.layout, **reading_options(args)
    ) as reader:
        return max(0, index_of(reader, t1) - index_of(reader, t0))


def _check_within_recording(args: argparse.Namespace, stats: dict) -> None:
    """Refuse a range that starts past the recording's last event, naming the recording's
    span: its frames would all be blank. A range that reaches past the end is fine, and so,
    for --mode overlay, is one within the saved frames (a still scene's frames outlast its
    events). A start far past the span (over 100 times it) that, read as microseconds, lies
    within it is likely that mistake."""
    from eventsim.render.pipeline import given_ms

    start, end = args.start_ms, args.end_ms
    if start is None or stats["events"] == 0 or not (math.isfinite(start) and start >= 0):
        return
    if end is not None and not end > start:
        return  # render_file reports it
    # as render_file finds the range; t_end_us is one past the last event
    t0 = stats["t_start_us"] + round(start * 1000)
    if t0 < stats["t_end_us"]:
        return
    last_ms = (stats["t_end_us"] - 1 - stats["t_start_us"]) / 1000
    frames = ""
    if args.mode == "overlay":
        last_frame_us = _last_frame_us(args)
        if last_frame_us is not None and t0 <= last_frame_us:
            return
        if last_frame_us is not None:
            frame_ms = _ms((last_frame_us - stats["t_start_us"]) / 1000)
            frames = f", its last saved frame at {frame_ms} ms"
    asked = f"--start-ms {given_ms(start)}" + ("" if end is None else f" --end-ms {given_ms(end)}")
    text = (
        f"{asked} is past the last event of {args.file!r}: its events span 0 .. "
        f"{_ms(last_ms)} ms after the first{frames}"
    )
    if 100 * last_ms < start <= 1000 * last_ms:
        scaled = f"--start-ms {_ms(start / 1000)}"
        if end is not None:
            scaled += f" --end-ms {_ms(end / 1000)}"
        text += f" (render times are milliseconds; if those were microseconds: {scaled})"
    raise ParameterError(text)


def _last_frame_us(args: argparse.Namespace) -> int | None:
    """The time of the file's last saved frame (None without frames)."""
    from eventsim.io import open_events

    with open_events(
        args.file, sensor_size=args.sensor_size, layout=args.layout, **reading_options(args)
    ) as reader:
        ts = getattr(reader, "frame_ts_us", None)
        return int(ts[-1]) if ts is not None and len(ts) else None


def _ms(value: float) -> str:
    """Milliseconds to the microsecond, without trailing zeros or an exponent."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _check_not_a_folder(output: str) -> None:
    """An existing folder named like a file (``out.png``) is not taken for a folder-of-PNGs
    output: with --force its contents would be deleted for frames the user did not ask for."""
    from eventsim.render.writers import GIF_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES

    path = Path(output)
    suffixes = (*IMAGE_SUFFIXES, *VIDEO_SUFFIXES, *GIF_SUFFIXES)
    if path.is_dir() and not output.endswith(("/", os.sep)) and path.suffix.lower() in suffixes:
        raise ParameterError(
            f"output {output!r} is a folder; expected a {path.suffix.lower()} file (for a "
            "folder of PNGs, name one without a suffix)"
        )


def _duration(us: float) -> str:
    """A span for the summary line: milliseconds below 10 s (to the microsecond, as the
    windows are: '0.001 ms', '33.333 ms'), seconds to 4 significant digits above, whole
    ones from 1000 s ('12.35 s', '3600 s', not '3.6e+06 ms')."""
    if us < 10_000_000:
        return f"{us / 1000:.3f}".rstrip("0").rstrip(".") + " ms"
    s = us / 1e6
    return f"{s:.4g} s" if s < 1000 else f"{s:.0f} s"


def _padding_reason(result: RenderResult) -> str:
    """Why a video's frames were padded (`eventsim.render.writers.video_frame_wh`)."""
    from eventsim.render.writers import MIN_MJPG_WIDTH, VIDEO_SUFFIXES

    width, height = result.frame_wh
    reasons = []
    if width % 2 or height % 2:
        reasons.append("video takes even sizes")
    if VIDEO_SUFFIXES[result.path.suffix.lower()] == "MJPG" and width < MIN_MJPG_WIDTH:
        reasons.append(f"Motion JPEG (.avi) frames are at least {MIN_MJPG_WIDTH} px wide")
    return ", ".join(reasons)


# RenderParams names its fields; a command-line user typed these flags
_FLAGS = {
    "tau_ms": "--tau-ms",
    "max_count": "--max-count",
    "overlay_alpha": "--alpha",
    "n_bins": "--bins",
    "scale": "--scale",
}


# the largest side of the frames a note suggests --scale for: a thin sensor (1x500) needs a
# scale that makes them 204x102000 to hold the heat map's colour bar
_SUGGESTED_SIDE = 4096


# render_file names its time range parameters; a command-line user typed these options
_RANGE_PARAMS = re.compile(r"\b(start_ms|end_ms)\b")


def _range_error_in_cli_words(exc: ParameterError) -> ParameterError:
    """render_file's error about ``start_ms``/``end_ms`` or ``fps`` naming the options."""
    text = str(exc)
    if text.startswith("fps "):
        return ParameterError(f"--{text}")
    if not _RANGE_PARAMS.match(text):
        return exc
    return ParameterError(_RANGE_PARAMS.sub(lambda m: "--" + m[1].replace("_", "-"), text))


def _window_error_in_cli_words(text: str) -> str:
    """`check_window_args`'s error naming --window-ms and --events-per-frame, which the user
    typed ('window 0 ms must be > 0')."""
    text = re.sub(r"^window (\S+) ms\b", r"--window-ms \1", text)
    text = re.sub(r"^events per frame (\S+?)(;?) ", r"--events-per-frame \1\2 ", text)
    return re.sub(
        r"\(got window (\S+) ms and (\S+) events per frame\)",
        r"(got --window-ms \1 and --events-per-frame \2)",
        text,
    )


# the modes that use each look option; elsewhere a changed value would be ignored
_MODE_OPTIONS = (
    ("--background", "background", DEFAULTS.background, ("polarity", "timesurface", "voxel")),
    ("--on-color", "on_color", None, ("polarity", "overlay", "timesurface", "voxel")),
    ("--off-color", "off_color", None, ("polarity", "overlay", "timesurface", "voxel")),
    ("--color-by", "color_by", None, ("polarity", "overlay")),
    ("--tau-ms", "tau_ms", DEFAULTS.tau_ms, ("timesurface",)),
    ("--colormap", "colormap", DEFAULTS.colormap, ("heatmap",)),
    ("--max-count", "max_count", DEFAULTS.max_count, ("heatmap",)),
    ("--no-colorbar", "no_colorbar", False, ("heatmap",)),
    ("--heatmap-scale", "heatmap_scale", DEFAULTS.heatmap_scale, ("heatmap",)),
    ("--alpha", "alpha", DEFAULTS.overlay_alpha, ("overlay",)),
    ("--overlay-frame", "overlay_frame", DEFAULTS.overlay_frame, ("overlay",)),
    ("--bins", "bins", DEFAULTS.n_bins, ("voxel",)),
)


def _check_mode_options(args: argparse.Namespace) -> None:
    """Refuse a look option that the chosen --mode (or --background grey) does not use."""
    for flag, name, default, modes in _MODE_OPTIONS:
        if getattr(args, name) != default and args.mode not in modes:
            raise ParameterError(
                f"{flag} does not apply to --mode {args.mode}; it is used by --mode "
                f"{' / '.join(modes)}"
            )
    if args.background == "grey" and (args.on_color or args.off_color):
        flag = "--on-color" if args.on_color else "--off-color"
        raise ParameterError(
            f"{flag} does not apply to --background grey, which draws signed grey levels (ON "
            "lighter, OFF darker); use --background dark or white for ON/OFF colours"
        )
    if args.background == "grey" and args.color_by is not None:
        # grey draws the signed ON - OFF count: an explicit 'last' drew the same bytes as 'net'
        raise ParameterError(
            f"--color-by {args.color_by} does not apply to --background grey, which draws the "
            "signed ON minus OFF count of each pixel in grey levels; use --background dark or "
            "white to colour pixels by their last event"
        )


def _render_params(args: argparse.Namespace) -> RenderParams:
    try:
        params = _params_from(args)
    except ParameterError as exc:
        field, _, rest = str(exc).partition(" ")
        if field in _FLAGS:
            raise ParameterError(f"{_FLAGS[field]} {rest}") from None
        raise
    _check_mode_options(args)
    return params


def _params_from(args: argparse.Namespace) -> RenderParams:
    return RenderParams(
        mode=args.mode,
        background=args.background,
        on_color=args.on_color,
        off_color=args.off_color,
        color_by=DEFAULTS.color_by if args.color_by is None else args.color_by,
        tau_ms=args.tau_ms,
        colormap=args.colormap,
        max_count=args.max_count,
        heatmap_scale=args.heatmap_scale,
        colorbar=not args.no_colorbar,
        overlay_alpha=args.alpha,
        overlay_frame=args.overlay_frame,
        n_bins=args.bins,
        scale=DEFAULTS.scale if args.scale is None else args.scale,
    )


# OpenCV's video encoders (MPEG-4, Motion JPEG) keep colour at half resolution (4:2:0): one
# colour for each 2x2 block, so a lone ON pixel (255,70,60) decoded as grey (144,113,119) and
# most events of a noisy recording lost their polarity colour. Drawn at 2x, every sensor pixel
# is one whole block (frames are padded at their right and bottom only, so blocks stay aligned).
# Encoders that keep full colour (FFV1, HuffYUV, PNG in .avi) are lossless but few players
# open them.
VIDEO_SCALE = 2


def _default_scale(args: argparse.Namespace, stats: dict) -> tuple[int, str | None]:
    """The scale of a render without --scale: `VIDEO_SCALE` for a video in colour when its
    frames fit, else 1; and, when a colour video stays at 1, why (for a note)."""
    from eventsim.render.writers import MAX_MJPEG_SIDE, MAX_MPEG4_SIDE, output_kind

    if output_kind(args.output) != "video" or args.background == "grey":
        return DEFAULTS.scale, None
    width, height = stats["sensor_size"]
    if args.mode == "voxel" and args.bins > 1:
        width = args.bins * width + (args.bins - 1) * 2
    width, height = width * VIDEO_SCALE, height * VIDEO_SCALE
    # the .avi suggested where only MPEG-4's limit stands in the way
    keeps = "a .gif or a folder of PNGs keeps their colour"
    if width * height > MAX_FRAME_PIXELS:
        limit = f"a frame's {MAX_FRAME_PIXELS:,} pixels"
    elif VIDEO_SUFFIXES[Path(args.output).suffix.lower()] == "mp4v" and (
        max(width, height) > MAX_MPEG4_SIDE
    ):
        limit = f"MPEG-4 video ({MAX_MPEG4_SIDE} px a side)"
        if max(width, height) <= MAX_MJPEG_SIDE:
            keeps = f"an .avi (Motion JPEG) takes them at {VIDEO_SCALE}x; {keeps}"
    elif max(width, height) > MAX_MJPEG_SIDE:
        limit = f"Motion JPEG video ({MAX_MJPEG_SIDE} px a side)"
    else:
        return VIDEO_SCALE, None
    return DEFAULTS.scale, (
        f"{Path(args.output).name} is drawn at the sensor's size: {VIDEO_SCALE}x frames "
        f"({width}x{height}) are too large for {limit}; video keeps colour at half "
        f"resolution, so lone event pixels come out grey ({keeps})"
    )


@cli_command(build_parser)
def main(args: argparse.Namespace) -> int:
    from eventsim.render.accumulate import check_window_args
    from eventsim.render.pipeline import check_output_name, check_range_args, given_ms, render_file

    params = _render_params(args)
    check_times(args)
    # before the frame count is judged from them: both given, or a window under 1 µs, is
    # the problem to name
    try:
        check_window_args(
            None if args.window_ms is None else args.window_ms * 1000.0, args.events_per_frame
        )
    except ParameterError as exc:
        raise ParameterError(_window_error_in_cli_words(str(exc))) from None
    try:
        # before the input is read through, and before an output that exists is refused
        check_range_args(args.start_ms, args.end_ms, args.fps)
    except ParameterError as exc:
        raise _range_error_in_cli_words(exc) from None
    check_output_name(args.output)

    def check_output() -> None:
        from eventsim.render.writers import check_creatable, check_force_replaces

        _check_not_a_folder(args.output)
        check_force_replaces(args.output)
        if Path(args.output).exists() and not args.force:
            raise OutputExistsError(f"output {args.output!r} exists; pass --force to overwrite it")
        check_creatable(args.output)
        make_parent_folders(args.output)

    stats = check_events_file(
        args.file,
        args.sensor_size,
        command="render",
        allow_implausible_times=args.allow_implausible_times,
        layout=args.layout,
        opened=check_output,
        **reading_options(args),
    )
    _check_within_recording(args, stats)
    scale_note = None
    defaulted_scale = args.scale is None
    if defaulted_scale:
        args.scale, scale_note = _default_scale(args, stats)
        params = params.replace(scale=args.scale)
    check_output_size(args, stats)
    expect_final_output(args.output)
    try:
        result = render_file(
            args.file,
            args.output,
            params,
            window_ms=args.window_ms,
            events_per_frame=args.events_per_frame,
            start_ms=args.start_ms,
            end_ms=args.end_ms,
            fps=args.fps,
            force=args.force,
            progress=show_progress(args.no_progress),
            sensor_size=args.sensor_size,
            layout=args.layout,
            **reading_options(args),
        )
    except ParameterError as exc:
        raise _range_error_in_cli_words(exc) from None
    width, height = result.frame_wh
    size = "{}x{}".format(*result.written_wh)
    size_notes = []
    if defaulted_scale and params.scale > 1:
        # a video drawn larger than the sensor without being asked is said to be
        size_notes.append(
            f"drawn at {params.scale}x, as video keeps colour at half resolution and a lone "
            "event pixel would come out grey; --scale 1 draws it at the sensor's size"
        )
    if result.written_wh != result.frame_wh:
        size_notes.append(
            f"{width}x{height} frames padded with their edge pixels: {_padding_reason(result)}"
        )
    if size_notes:
        size += f" ({'; '.join(size_notes)})"
    # the frames' windows may reach past the recording (a window longer than the file) and
    # past --end-ms, whose events render_file leaves out of the last frame
    lo = max(result.t_start_us, stats["t_start_us"])
    hi = min(result.t_end_us, stats["t_end_us"])
    if args.end_ms is not None:
        hi = min(hi, stats["t_start_us"] + round(args.end_ms * 1000))
    window = _duration(result.t_end_us - result.t_start_us)
    covered = f"{window} of events"
    if result.n_events == 0:
        # an empty file, a range past its last event ('0 ms of events' read as a span), or
        # windows between events ('1 ms of events' said the range overlapped the file's span)
        covered = f"no events in {window} of windows"
    elif hi - lo < result.t_end_us - result.t_start_us:
        events = _duration(max(0, hi - lo))
        # equal as shown ('3600 s in 3600 s'), the windows add nothing worth a figure
        covered = f"{events} of events" + ("" if events == window else f" in {window} of windows")
    print(
        f"wrote {result.path} ({result.kind}): {result.n_frames} "
        f"{plural(result.n_frames, 'frame')} of {size}, {params.mode}, {covered}",
        file=sys.stdout,
    )
    if (
        result.kind == "png"
        and args.window_ms is None
        and args.end_ms is None
        and args.events_per_frame is None
        and result.t_end_us < stats["t_end_us"]
    ):
        # an image is one frame of 1000/fps ms, as --help says: a user who wanted the whole
        # recording saw its first 33 ms without being told the rest was left out
        origin = stats["t_start_us"]
        total = stats["t_end_us"] - origin
        print(
            f"eventsim render: note: {result.path} draws one frame, "
            f"{_ms((result.t_start_us - origin) / 1000)}–{_ms((result.t_end_us - origin) / 1000)}"
            f" ms of the recording's {_ms(total / 1000)} ms (a frame lasts 1000/--fps ms); "
            f"pass --end-ms {_ms(total / 1000)} to draw up to its end, or --window-ms",
            file=sys.stderr,
        )
    if (
        result.kind == "png"
        and args.window_ms is not None
        and args.end_ms is not None
        and result.t_end_us < stats["t_start_us"] + round(args.end_ms * 1000)
    ):
        # a PNG is the first window: --end-ms was left unused without a word
        origin = stats["t_start_us"]
        start = _ms((result.t_start_us - origin) / 1000)
        print(
            f"eventsim render: note: {result.path} draws one frame, the first --window-ms "
            f"{given_ms(args.window_ms)} window ({start}–{_ms((result.t_end_us - origin) / 1000)}"
            f" ms); --end-ms {given_ms(args.end_ms)} is unused: leave out --window-ms to draw {start}–"
            f"{_ms(args.end_ms)} ms in one frame, or write a video, GIF or folder of PNGs for "
            "every window",
            file=sys.stderr,
        )
    if scale_note is not None:
        print(f"eventsim render: note: {scale_note}", file=sys.stderr)
    if result.kind == "gif" and result.fps is not None and result.fps < args.fps:
        from eventsim.render.writers import video_plays_at

        slower = args.fps / result.fps
        # neither video holds every rate (check_mpeg4_fps, check_avi_fps)
        video = video_plays_at(args.fps)
        print(
            f"eventsim render: note: {result.path} plays at {result.fps:g} fps, "
            f"{f'{slower:,.0f}' if slower >= 1000 else f'{slower:.3g}'}x slower than --fps "
            f"{args.fps:g}: a GIF frame lasts at least 20 ms (browsers show shorter ones for "
            "100 ms); "
            + (
                f"an {video} plays at {args.fps:g} fps"
                if video
                else f"neither an .mp4 nor an .avi can play at {args.fps:g} fps"
            ),
            file=sys.stderr,
        )
    if result.colorbar_left_out is not None:
        need_w, need_h = result.colorbar_left_out
        base_w, base_h = width // params.scale, height // params.scale
        scale = max(-(-need_w // base_w), -(-need_h // base_h))
        left_out = result.colorbar_left_out_frames
        which = (
            "the heat map has no colour bar"
            if left_out >= result.n_frames
            else f"{left_out} of {result.n_frames} heat-map frames have no colour bar"
        )
        small = (
            f"{which}: {width}x{height} frames are too small for a legible one (it needs "
            f"{need_w}x{need_h})"
        )
        if max(base_w, base_h) * scale <= _SUGGESTED_SIDE:
            advice = (
                f"--scale {scale} makes them {base_w * scale}x{base_h * scale} (--no-colorbar "
                "leaves it out quietly)"
            )
        else:
            capped = _SUGGESTED_SIDE // max(base_w, base_h)
            larger = (
                f" (--scale {capped} makes them {base_w * capped}x{base_h * capped}, still "
                "without one)"
                if capped > params.scale
                else ""
            )
            advice = (
                f"frames of this shape would need --scale {scale} ({base_w * scale}x"
                f"{base_h * scale}): pass --no-colorbar to leave it out quietly{larger}"
            )
        print(f"eventsim render: note: {small}; {advice}", file=sys.stderr)
    return 0
