"""``eventsim simulate``: video, frame folder, image pair or single image -> event file."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from eventsim._opencv import opencv_log_silenced
from eventsim._text import plural, shell_command
from eventsim.cli.common import (
    CREATES_FOLDERS,
    add_progress_option,
    add_refused_option,
    add_renamed_option,
    add_unit_option,
    check_output,
    check_threads,
    cli_command,
    make_parser,
    parse_assignments,
    parse_sensor_size,
    path_arg,
    show_progress,
)
from eventsim.errors import InputError, ParameterError, UnopenedVideoError

# what INPUT may be, in every message that says so
_INPUT_KINDS = "a video file, a frame folder, a TIFF stack or an image"

EXAMPLES = """examples:
  eventsim simulate clip.mp4 -o clip.h5 --camera davis346 --preset clean
  eventsim simulate frames/ -o frames.h5 --fps 30            (or frames/timestamps.txt)
  eventsim simulate seq/ -o seq.h5           (rpg_vid2e layout: seq/imgs/ + seq/timestamps.txt)
  eventsim simulate frames/ --timestamps times.txt -o frames.h5
  eventsim simulate stack.tif -o stack.h5 --fps 1000        (TIFF stack: a frame a page)
  eventsim simulate --pair a.png b.png --interval-ms 10 -o pair.h5
  eventsim simulate --image photo.jpg --motion saccade --duration-ms 300 -o photo.h5
  eventsim simulate --synthetic moving-shapes -o shapes.h5 --save-frames
"""


def build_parser() -> argparse.ArgumentParser:
    from eventsim.options import (
        CAMERA_NAMES,
        FITS,
        FLOW_METHODS,
        MOTIONS,
        PRESET_NAMES,
        SYNTHETIC_CLIPS,
        UPSAMPLE_MODES,
    )

    p = make_parser(
        "simulate",
        "Simulate DVS events from a video, frames or images.",
        unrecognized_hint=_unrecognized_hint,
    )
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EXAMPLES
    p.add_argument(
        "input",
        nargs="?",
        type=path_arg(_INPUT_KINDS),
        metavar="INPUT",
        help="video file, frame folder, TIFF stack (its pages the frames), or image (moved by "
        "--motion, default saccade)",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        type=path_arg("an .h5 file name"),
        help="output event file (.h5; convert it to other formats with 'eventsim convert'); "
        + CREATES_FOLDERS,
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite the output",
    )
    p.add_argument(
        "--allow-long-gaps",
        action="store_true",
        help="simulate, with a warning, a frame folder whose timestamps put frames 1000 s or "
        "more apart, all of them or any two in a row (refused without it: such times are "
        "usually microseconds, or mistyped). --force does this too, deprecated: in a later "
        "release it will only overwrite the output",
    )
    src = p.add_argument_group("other inputs (instead of INPUT)")
    src.add_argument(
        "--image",
        type=path_arg("an image file"),
        metavar="IMG",
        help="one image seen by a moving camera",
    )
    src.add_argument(
        "--pair",
        nargs=2,
        type=path_arg("an image file"),
        metavar=("A", "B"),
        help="two images --interval-ms apart",
    )
    src.add_argument(
        "--synthetic",
        type=_choice(SYNTHETIC_CLIPS),
        choices=SYNTHETIC_CLIPS,
        help="built-in synthetic clip",
    )
    opt = p.add_argument_group("input options")
    opt.add_argument(
        "--fps",
        type=float,
        help="frame rate of a folder without timestamps.txt, of a TIFF stack (default: the "
        "one in the file, ImageJ's or OME's), of an image motion (default: "
        "at most 0.5 px of motion a frame, within 100..5000 fps) or of a synthetic clip "
        "(default 60; a video keeps its own times, --pair uses --interval-ms)",
    )
    opt.add_argument(
        "--timestamps",
        type=path_arg("a timestamps file"),
        metavar="FILE",
        help="times of a frame folder's images, one per line in seconds, each time alone "
        "or followed by its image's file name (TIME NAME, as the Event Camera Dataset's "
        "images.txt: the names must be the folder's images in name order); a line of two "
        "numbers (INDEX TIME) is refused (default: timestamps.txt in the folder or beside its "
        "images/, imgs/ or frames/ subfolder)",
    )
    add_unit_option(
        opt,
        "--start-s",
        "--start",
        "video times are seconds",
        type=float,
        metavar="S",
        help="video start time, seconds",
    )
    add_unit_option(
        opt,
        "--stop-s",
        "--stop",
        "video times are seconds",
        type=float,
        metavar="S",
        help="video stop time, seconds",
    )
    opt.add_argument(
        "--motion",
        type=_choice(MOTIONS),
        choices=MOTIONS,
        default=None,
        help="camera motion for an image (default saccade)",
    )
    opt.add_argument(
        "--duration-ms",
        type=float,
        default=None,
        metavar="MS",
        help="image motion / synthetic clip duration (default 300 / 1000 ms)",
    )
    opt.add_argument(
        "--amplitude-px",
        type=float,
        metavar="PX",
        help="image motion amplitude in pixels (default 2.5 %% of the sensor's longer side, "
        "at least 2)",
    )
    opt.add_argument(
        "--interval-ms",
        type=float,
        default=None,
        metavar="MS",
        help="time between --pair images (default 10)",
    )
    sensor = p.add_argument_group("sensor and pixel model")
    sensor.add_argument(
        "--camera",
        type=_choice(tuple(sorted(CAMERA_NAMES))),
        choices=sorted(CAMERA_NAMES),
        help="sensor size of a camera",
    )
    sensor.add_argument(
        "--sensor-size", metavar="WxH", help="sensor size, e.g. 640x480 (default: the input's)"
    )
    add_renamed_option(p, "--size", "--sensor-size (WxH)")
    sensor.add_argument(
        "--fit",
        type=_choice(FITS),
        choices=FITS,
        default="crop",
        help="fit frames of another size to the sensor: crop scales them to cover it and "
        "keeps the centre, resize scales them to its width and height, changing their aspect "
        "ratio (default crop)",
    )
    sensor.add_argument(
        "--preset",
        type=_choice(PRESET_NAMES, fold=True),
        choices=PRESET_NAMES,
        default="ideal",
        help="pixel model preset (default ideal: noise-free; dataset recipes default to clean)",
    )
    sensor.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="override a DVSParams field, e.g. refractory_period_us=1000 (repeatable; "
        "'eventsim info FILE' lists the fields under parameters)",
    )
    sensor.add_argument(
        "--seed", type=int, default=0, help="random seed (mismatch and noise; default 0)"
    )
    run = p.add_argument_group("run")
    run.add_argument(
        "--upsample",
        type=_choice(UPSAMPLE_MODES),
        choices=UPSAMPLE_MODES,
        default="none",
        help="insert frames so that no step changes log intensity by more than max_log_change: "
        "linear blends frames, flow warps them along optical flow and also keeps each step "
        "within max_motion_px (--set changes either; default none)",
    )
    run.add_argument(
        "--flow-method",
        type=_choice(FLOW_METHODS),
        choices=FLOW_METHODS,
        default=None,
        help="optical flow of --upsample flow (default dis)",
    )
    run.add_argument(
        "--save-frames",
        action="store_true",
        help="store the source frames with frame_ts_us and frame_event_idx (what 'eventsim "
        "render --mode overlay' draws on)",
    )
    run.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda or cuda:N")
    run.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads, 1..the usable cores (default 1)",
    )
    add_progress_option(p)
    _add_foreign_options(p)
    return p


def _unrecognized_hint(args: argparse.Namespace, extras: list[str]) -> str | None:
    """What a second INPUT (or --image) is told: two images are --pair's; anything else is
    simulated one input at a time. Words that --set (one FIELD=VALUE a time) left are told so."""
    from eventsim.simulator import DVSParams

    fields = DVSParams.field_names()
    loose = [w for w in (args.input, *extras) if w and w.split("=", 1)[0] in fields and "=" in w]
    if loose:
        said = " ".join(_assignment(*w.split("=", 1)) for w in loose)
        return f"--set takes one FIELD=VALUE: {said}"
    bare = [s for s in args.set or () if "=" not in s]
    if bare:
        return f"--set takes FIELD=VALUE as one word: {_assignment(bare[0], 'VALUE')}"
    first, option = (args.input, "INPUT") if args.input else (args.image, "--image")
    if first is None or any(w.startswith("-") for w in extras):
        return None
    given = [first, *extras]
    if len(given) == 2 and (pair := _pair_hint(given[0], given[1], option)):
        return pair
    return f"{option} is one input (got {len(given)}); simulate each in a run of its own"


def _pair_hint(
    first: str, second: str, option: str = "--image", *, ordered: bool = True
) -> str | None:
    """What two images given where one belongs are told, or None when they are no images.
    Unless ``ordered`` (the order they were typed in is known), the hint names no order."""
    from eventsim.simulator.sources import IMAGE_EXTENSIONS

    if not all(Path(w).suffix.lower() in IMAGE_EXTENSIONS for w in (first, second)):
        return None
    pair = shell_command(first, second)
    pair = pair if ordered else f"FIRST SECOND, e.g. --pair {pair}"
    return f"{option} is one image; two images --interval-ms apart are --pair {pair}"


# v2e's options (v2ecore/v2e_args.py) that set a DVSParams field, and the field
_V2E_FIELDS = {
    "pos_thres": "pos_threshold",
    "neg_thres": "neg_threshold",
    "sigma_thres": "threshold_sigma",
    "cutoff_hz": "cutoff_hz",
    "leak_rate_hz": "leak_rate_hz",
    "leak_jitter_fraction": "leak_jitter_fraction",
    "noise_rate_cov_decades": "leak_rate_spread_decades",
    "shot_noise_rate_hz": "shot_noise_rate_hz",
}
_TO_H5 = "write -o OUT.h5 here and convert it with 'eventsim convert OUT.h5 OTHER'"
_DRAWN = "draw the events with 'eventsim render OUT.h5 -o OUT.mp4'"
_UPSAMPLED = (
    "use --upsample linear or flow, which insert frames as the change needs (--set "
    "max_log_change=..., max_motion_px=...)"
)
_GIVEN_INPUT = "give INPUT without an option: eventsim simulate {} -o OUT.h5"
# v2e's other options that something here does, and what: {} is the value given with the
# option (VALUE where none was)
_V2E_OPTIONS = {
    "dvs128": "use --camera dvs128",
    "dvs240": "use --camera dvs240",
    "dvs346": "use --camera davis346",
    "dvs640": "use --camera dvxplorer (640x480)",
    "dvs1024": "use --sensor-size 1024x768",
    "output_width": "use --sensor-size WxH",
    "output_height": "use --sensor-size WxH",
    "dvs_emulator_seed": "use --seed {}",
    "input_frame_rate": "use --fps {} (the rate of a frame folder or TIFF stack; a video keeps "
    "its own times)",
    "start_time": "use --start-s {}",
    "stop_time": "use --stop-s {}",
    "overwrite": "use --force",
    "output_folder": "-o names the event file to write here, e.g. -o OUT.h5",
    "input": _GIVEN_INPUT,
    "i": _GIVEN_INPUT,
    "synthetic_input": "use --synthetic moving-shapes",
    "timestamp_resolution": _UPSAMPLED,
    "auto_timestamp_resolution": _UPSAMPLED,
    "disable_slomo": "no frames are inserted here unless --upsample asks (default none)",
    "dvs_h5": _TO_H5,
    "dvs_aedat2": _TO_H5,
    "dvs_aedat4": _TO_H5,
    "dvs_text": _TO_H5,
    "dvs_vid": _DRAWN,
    "dvs_exposure": _DRAWN,
}
_PORTING = "README, 'Porting settings from v2e'"


def _v2e_advice(name: str, value: str | None) -> str:
    """What does the work of v2e's option ``--name`` (given ``value``) here."""
    shown = value if value is not None else "VALUE"
    if name in _V2E_FIELDS:
        advice = f"use {_assignment(_V2E_FIELDS[name], shown)}"
        if name == "shot_noise_rate_hz":
            advice += f" (a rate defined otherwise: {_PORTING})"
        return advice
    if name == "refractory_period":
        # seconds in v2e, microseconds here
        try:
            us = f"{float(shown) * 1e6:.10g}"
        except ValueError:
            us = "MICROSECONDS"
        return f"use {_assignment('refractory_period_us', us)} (v2e's seconds x 1e6)"
    if name == "dvs_params":
        from eventsim.options import PRESET_NAMES

        if shown.lower() in PRESET_NAMES:
            return f"use --preset {shown.lower()} (differences: {_PORTING})"
        # v2e's None: its own defaults
        return "use --preset v2e-default (v2e's own defaults), clean or noisy"
    return _V2E_OPTIONS[name].format(shown)


def _add_foreign_options(p: argparse.ArgumentParser) -> None:
    """v2e's options, in its spelling and with dashes, and DVSParams fields as options
    (``--pos-threshold``), each refused (exit 2) naming this command's way to the same, with
    the value given; the values that follow are taken too, not read as INPUT or left over."""
    from eventsim.simulator import DVSParams

    def v2e(name: str) -> Callable[[str | None], str]:
        return lambda value: f" is v2e's option; {_v2e_advice(name, value)}"

    def field(name: str) -> Callable[[str | None], str]:
        def advice(value: str | None) -> str:
            shown = _assignment(name, value if value is not None else "VALUE")
            return f" is no option; DVSParams fields are set with --set: {shown}"

        return advice

    hints = {
        name: v2e(name) for name in (*_V2E_FIELDS, *_V2E_OPTIONS, "refractory_period", "dvs_params")
    }
    hints.update({f: field(f) for f in DVSParams.field_names() if f not in hints})
    for name, hint in hints.items():
        spellings = {name, name.replace("_", "-")}
        dashed = [("-" if len(s) == 1 else "--") + s for s in sorted(spellings)]
        free = [o for o in dashed if o not in p._option_string_actions]
        if free:
            add_refused_option(p, *free, why=hint)


SYNTHETIC_MAX_BYTES = 2 << 30
# the simulator state a given sensor size may take before the command says so: a 4K video
# (8.3 M pixels) holds at least 0.6 GiB, 10000x10000 at least 7.5 GiB
LARGE_STATE_BYTES = 4 << 30
# the largest event camera sensor (Samsung's DVS-Gen4; the largest --camera preset, gen4, is
# 1280x720): an input with more pixels, simulated at its own size, is no camera's output
LARGEST_EVENT_CAMERA = (1280, 960)
# motion an image may make between two frames before the command says so: its events bunch at
# the frame times and miss the path's turns (the default rate keeps it within 0.5 px)
FAST_MOTION_PX = 1.0
MAX_AMPLITUDE_PX = 10_000.0
MAX_DURATION_MS = 3_600_000.0
MAX_SEED = 2**64 - 1


def _choice(names: tuple[str, ...], *, fold: bool = False) -> Callable[[str], str]:
    """An argparse ``type`` that refuses a value not in ``names`` as ``choices`` does, with a
    guess at a misspelt one (argparse before Python 3.14 gives none). With ``fold``, a name in
    any case and with spaces around it is taken as the lower-case name, which the output records."""
    from eventsim._suggest import did_you_mean

    def parse(value: str) -> str:
        if fold and value.strip().lower() in names:
            return value.strip().lower()
        if value not in names:
            raise argparse.ArgumentTypeError(
                f"invalid choice: {value!r} (choose from {', '.join(map(repr, names))})"
                + did_you_mean(value, names)
            )
        return value

    return parse


def _check_numbers(args) -> None:
    """Reject values that would otherwise be ignored or replaced by a default silently."""
    import math

    positive = (
        ("--fps", args.fps),
        ("--duration-ms", args.duration_ms),
        ("--amplitude-px", args.amplitude_px),
        ("--interval-ms", args.interval_ms),
    )
    for name, value in positive:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ParameterError(f"{name} {value:g} must be a finite number > 0")
    check_threads(args.threads)
    if args.flow_method is not None and args.upsample != "flow":
        raise ParameterError(
            f"--flow-method {args.flow_method} applies to --upsample flow only (got --upsample "
            f"{args.upsample})"
        )
    # an image seen by a moving camera: beyond these the run only produces noise, for hours
    if args.amplitude_px is not None and args.amplitude_px > MAX_AMPLITUDE_PX:
        raise ParameterError(
            f"--amplitude-px {args.amplitude_px:g} is more than {MAX_AMPLITUDE_PX:g} pixels"
        )
    if args.duration_ms is not None and args.duration_ms > MAX_DURATION_MS:
        raise ParameterError(
            f"--duration-ms {args.duration_ms:g} is more than an hour ({MAX_DURATION_MS:g} ms); "
            "simulate a video for long recordings"
        )
    if args.interval_ms is not None:
        from eventsim.io.hdf5_writer import MAX_MS_INDEX

        # `PairSource`'s own rule, in this command's words (its upper bound is the events'
        # int64 times, far beyond what an event file can span: the next check)
        if round(args.interval_ms * 1e3) < 1:
            raise ParameterError(
                f"--interval-ms {args.interval_ms:g} is shorter than 1 us (0.001 ms), the time "
                "resolution of events"
            )
        # the writer refuses such a span only after the simulation, blaming the events' times
        if args.interval_ms >= MAX_MS_INDEX:
            raise ParameterError(
                f"--interval-ms {args.interval_ms:g} is longer than an event file can span "
                f"({MAX_MS_INDEX:,} ms, {MAX_MS_INDEX / 86.4e6:.1f} days)"
            )
    if not 0 <= args.seed <= MAX_SEED:
        # the seed is stored in the output as a 64-bit attribute
        raise ParameterError(f"--seed {args.seed} must be 0..{MAX_SEED}")
    start, stop = "--start-s", "--stop-s"
    for name, value in ((start, args.start_s), (stop, args.stop_s)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ParameterError(f"{name} {value:g} must be a time >= 0 s")
    if args.start_s is not None and args.stop_s is not None and args.stop_s <= args.start_s:
        raise ParameterError(f"{stop} {args.stop_s:g} s is not after {start} {args.start_s:g} s")


def _assignment(field: str, value: str) -> str:
    """``--set FIELD=VALUE`` as typed (quoted where a shell needs it)."""
    return f"--set {shell_command(f'{field}={value}')}"


def _pixel_params(args):
    """The preset with the ``--set`` overrides; a refused one is named as typed (``--set
    pos_threshold=0; expected ...``), not as the library names it (``pos_threshold = 0.0``)."""
    from eventsim._suggest import did_you_mean
    from eventsim.simulator import DVSParams
    from eventsim.simulator.params import ParameterValueError

    overrides = parse_assignments(args.set)
    fields = DVSParams.field_names()
    for field, value in overrides.items():
        if field not in fields:
            raise ParameterError(
                f"{_assignment(field, value)}: DVSParams has no field {field}; valid fields: "
                f"{', '.join(fields)}{did_you_mean(field, fields)}"
            )
    try:
        return DVSParams.from_preset(args.preset).with_overrides(overrides)
    except ParameterValueError as exc:
        if exc.parameter not in overrides:
            raise
        field = exc.parameter
        raise ParameterError(f"{_assignment(field, overrides[field])}{exc.rest}") from None


def _input_stem(args) -> str:
    """The name an output of this run's input would have (``clip`` of ``clip.mp4``)."""
    given = args.input or args.image or (args.pair[0] if args.pair else None)
    return Path(given).stem if given and Path(given).stem else args.synthetic or "events"


def _check_output_name(args) -> None:
    output = args.output
    if output.endswith(("/", os.sep)) or Path(output).is_dir():
        # v2e's -o is a folder for its outputs; here it is the one event file written
        where = output if output.endswith(("/", os.sep)) else output + "/"
        raise ParameterError(
            f"-o {output!r} names a folder; -o is the event file to write, e.g. "
            f"-o {where}{_input_stem(args)}.h5"
        )
    from eventsim.errors import ArgumentValueError
    from eventsim.simulator.pipeline import check_output_suffix

    try:
        check_output_suffix(
            output, other_formats="convert it afterwards, e.g. 'eventsim convert out.h5 out.npy'"
        )
    except ArgumentValueError as exc:
        raise ParameterError(f"output {output!r}{exc.rest}") from None


def _sensor_size(args) -> tuple[int, int] | None:
    from eventsim.simulator.params import CAMERAS

    if args.camera and args.sensor_size is not None:
        raise ParameterError("give --camera or --sensor-size, not both")
    if args.camera:
        return CAMERAS[args.camera]
    if args.sensor_size is not None:
        return parse_sensor_size(args.sensor_size)
    return None


def _warn_large_sensor(args, size: tuple[int, int], params) -> None:
    """Say when a given sensor size makes the simulator hold more than `LARGE_STATE_BYTES`
    (one that fits is not refused: a typo such as 12800x7200 for 1280x720 would otherwise
    take that memory, and minutes, without a word)."""
    from eventsim.simulator.core import state_bytes_per_pixel

    width, height = size
    n = width * height
    for bytes_per_pixel, where in state_bytes_per_pixel(params, args.device):
        need = n * bytes_per_pixel
        if need > LARGE_STATE_BYTES:
            _warn(
                f"--sensor-size {width}x{height} ({n:,} pixels) makes the simulator hold at "
                f"least {need / 2**30:.1f} GiB {where} ({bytes_per_pixel} bytes a pixel), more "
                f"than {LARGE_STATE_BYTES / 2**30:g} GiB; expected a size such as 1280x720 "
                f"(event cameras are at most about {_size(LARGEST_EVENT_CAMERA)}): check it for "
                "a typo"
            )
            return


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _warn(text: str) -> None:
    """One warning line, as this command's others are."""
    print(f"eventsim simulate: warning: {text}", file=sys.stderr)


def _warn_large_input(source) -> None:
    """Say when the input, simulated at its own size (no --camera or --sensor-size), has more
    pixels than any event camera: a phone photo of 12 MP took minutes without a word."""
    from eventsim.simulator.params import CAMERAS

    width, height = source.sensor_size
    largest = LARGEST_EVENT_CAMERA[0] * LARGEST_EVENT_CAMERA[1]
    if width * height <= largest:
        return
    name, preset = max(CAMERAS.items(), key=lambda item: item[1][0] * item[1][1])
    _warn(
        f"the input is {width}x{height} ({width * height:,} pixels), larger than any event "
        f"camera (at most about {_size(LARGEST_EVENT_CAMERA)}), and is simulated at that size; "
        f"pass --camera NAME (e.g. {name}, {_size(preset)}) or --sensor-size WxH to simulate a "
        f"camera's, or --sensor-size {width}x{height} to keep this one"
    )


def _warn_fast_motion(args, source) -> None:
    """Say when an image's motion moves it more than `FAST_MOTION_PX` between two frames (its
    events then bunch at the frame times, and miss the turns of its path between them): a
    given --fps too low for it (30 fps moved the default saccade 2.9 px a frame), or a
    --duration-ms so short that even the highest default rate cannot follow it (0.3 ms,
    seconds typed as milliseconds). --upsample flow fills in the straight line between two
    frames, so there only a path that turns off that line by more is said."""
    from eventsim.simulator import sources

    if not isinstance(source, sources.ImageMotionSource):
        return
    if source.motion == "saccade" and source.n_frames == 2:
        # its 2 frames are the same image (its start and end): no events come of the motion to
        # bunch, and `_warn_no_events` says why
        return
    flow = args.upsample == "flow"
    step = source.max_cut_px if flow else source.max_step_px
    if step <= FAST_MOTION_PX + 1e-9:
        return
    need = source.fps_within(sources.MOTION_STEP_PX)
    slower = "a longer --duration-ms (it is in milliseconds) or a smaller --amplitude-px"
    within = f"within {sources.MOTION_STEP_PX:g} px"
    faster = f"--fps {need:.10g} or more" if need is not None else None
    if args.fps is not None:
        moves = f"--fps {args.fps:g} moves the image"
        if need is not None and need <= sources.MAX_MOTION_FPS:
            advice = f"leave --fps out (the default keeps it {within}) or pass {faster}"
        else:
            advice = f"{faster} keeps it {within}" if faster else f"give {slower}"
    else:
        moves = (
            f"the {source.motion} of {source.amplitude_px:g} px over --duration-ms "
            f"{source.duration_ms:g} moves the image"
        )
        advice = f"give {slower}" + (f", or {faster}" if faster else "")
    # a path that turns within a frame interval (a walk, a saccade's corner between frames)
    turns = not flow and source.max_cut_px > sources.MOTION_STEP_PX
    if flow:
        said = (
            f"{moves} along a path up to {step:.1f} px longer than the straight line --upsample "
            f"flow draws between two frames ({source.n_frames} frames; more than "
            f"{FAST_MOTION_PX:g} px), so its events miss where the path turns"
        )
    else:
        said = (
            f"{moves} up to {step:.1f} px a frame ({source.n_frames} frames; more than "
            f"{FAST_MOTION_PX:g} px, so its events bunch at the frame times"
            + (" and miss where its path turns between them" if turns else "")
            + ")"
        )
    _warn(f"{said}; {advice}")


def _warn_no_events(args, source, params, result) -> None:
    """Say why a run wrote no events, as far as the input and pixel model tell: a still input
    (0 events is then right) looks the same as a saccade sampled at its two ends or a
    photoreceptor too slow for the input's span, so the line names the likely one."""
    import math

    from eventsim.simulator import sources

    if result.n_events:
        return
    said = "no events: "
    if (
        isinstance(source, sources.ImageMotionSource)
        and source.n_frames == 2
        and source.motion == "saccade"
    ):
        # the two frames are the same image: no threshold or time constant is to blame (a
        # saccade of under 2 us: a longer one takes its 4 corners)
        rate = f"--fps {args.fps:g}" if args.fps is not None else f"{source.fps:g} fps (default)"
        _warn(
            f"{said}{rate} over --duration-ms {source.duration_ms:g} (milliseconds) gave 2 "
            "frames, at the saccade's start and end, which are the same place: the image did not "
            "move between them"
        )
        return
    said += (
        f"no pixel's log intensity changed by its contrast threshold ({params.pos_threshold:g} "
        f"ON, {params.neg_threshold:g} OFF; --set pos_threshold=/neg_threshold= lower them) "
        "between frames; "
    )
    # a run of fewer than 2 frames is refused by `simulate`, so both times are there
    span_s = (result.t_last_frame_us - result.t_first_frame_us) / 1e6
    if params.cutoff_hz > 0 and 2 * math.pi * params.cutoff_hz * span_s < 1:
        # the low-pass's time constant at full brightness (longer for darker pixels)
        tau_ms = 1e3 / (2 * math.pi * params.cutoff_hz)
        cause = (
            f"the input spans {span_s * 1e3:g} ms, less than the photoreceptor's time constant "
            f"(cutoff_hz {params.cutoff_hz:g}: {tau_ms:.3g} ms at full brightness), so its "
            "response barely moves"
        )
    elif isinstance(source, sources.ImageMotionSource):
        cause = "the image may have too little contrast for its motion"
    elif isinstance(source, sources.PairSource):
        cause = "the two images may be the same, or too alike"
    else:
        cause = "the input may be still"
    _warn(said + cause)


def _check_applies(args, is_image: bool) -> None:
    """Refuse an option the chosen input would ignore."""
    kinds = {
        "--motion": (args.motion, is_image, "an image (--image, or an image INPUT)"),
        "--amplitude-px": (args.amplitude_px, is_image, "an image (--image, or an image INPUT)"),
        "--duration-ms": (
            args.duration_ms,
            is_image or bool(args.synthetic),
            "an image or --synthetic",
        ),
        "--interval-ms": (args.interval_ms, bool(args.pair), "--pair"),
    }
    for name, (value, applies, what) in kinds.items():
        if value is not None and not applies:
            raise ParameterError(f"{name} applies to {what} only; this input ignores it")


def _not_frames(input_: str, what: str) -> InputError:
    """The error for an event file given as INPUT (``what`` says what it is, "which holds
    events"): simulate makes events, it reads none."""
    stem = Path(input_).stem or "events"
    return InputError(
        f"{input_!r} {what}, not frames: simulate takes {_INPUT_KINDS}; an event file is "
        f"read by 'eventsim info {input_}', 'eventsim render {input_} -o {stem}.png' and "
        "'eventsim convert'"
    )


def _check_input(input_: str) -> None:
    """Refuse an INPUT that does not exist, naming what its name looks like, or that is an
    event file (which OpenCV called a corrupt video, or decoded: FFmpeg reads text as ANSI
    art, so an event .txt became thousands of frames)."""
    from eventsim.io.formats import VIDEO_SHARED_SUFFIXES, sniff_event_file
    from eventsim.simulator import sources

    path = Path(input_)
    suffix = path.suffix.lower()
    guess = sniff_event_file(path)
    if not path.exists():
        if input_.endswith(("/", os.sep)):
            raise InputError(f"frame folder {input_!r} does not exist")
        if suffix in sources.IMAGE_EXTENSIONS:
            raise InputError(f"image {input_!r} does not exist; expected an image file")
        if not suffix:
            raise InputError(f"{input_!r} does not exist; expected {_INPUT_KINDS}")
        if guess is not None and suffix not in VIDEO_SHARED_SUFFIXES:
            # 'video ... does not exist' of a mistyped event file name read as if it were one
            raise InputError(
                f"{input_!r} does not exist (and a {suffix} file holds events: simulate takes "
                f"{_INPUT_KINDS})"
            )
        raise InputError(f"video {input_!r} does not exist")
    if not path.is_file() or guess is None:
        return
    if guess.by_contents and (guess.layout == "hdf5" or not sniff_event_file(path, read=False)):
        raise _not_frames(input_, f"is {guess.what}, which holds events")
    if guess.by_contents or suffix not in VIDEO_SHARED_SUFFIXES:
        raise _not_frames(input_, f"is an event file ({suffix}), which holds events")


def _make_source(args, size):
    from eventsim.simulator import sources

    given = [
        n
        for n, v in (
            ("INPUT", args.input),
            ("--image", args.image),
            ("--pair", args.pair),
            ("--synthetic", args.synthetic),
        )
        if v
    ]
    if given == ["INPUT", "--image"] and (
        pair := _pair_hint(args.image, args.input, ordered=False)
    ):
        # '--image a.png b.png' took b.png for INPUT, as 'b.png --image a.png' gives it
        raise ParameterError(pair)
    if len(given) != 1:
        raise ParameterError(
            "give exactly one input: INPUT, --image, --pair or --synthetic"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if args.input:
        # before the options that apply to one kind of input: a mistyped name is the first
        # thing to fix, not --fps said not to apply to the video it was taken for
        _check_input(args.input)
    for name, image in (("--image", args.image), *(("--pair", p) for p in args.pair or ())):
        if image is not None and Path(image).is_dir():
            raise ParameterError(f"{name} {image!r} is a folder; expected an image file")
    fit = args.fit
    # a TIFF of several images is a sequence of frames, whatever its name ends with (not only
    # .tif: a TIFF of another name went to the video decoder): timed by --fps or by the file
    is_stack = (
        bool(args.input)
        and not Path(args.input).is_dir()
        and sources.tiff_frame_count(args.input) > 1
    )
    is_video = bool(args.input) and not args.image and not is_stack
    if is_video:
        path = Path(args.input)
        is_video = not path.is_dir() and path.suffix.lower() not in sources.IMAGE_EXTENSIONS
    is_image = bool(args.image) or (
        bool(args.input)
        and not is_stack
        and not Path(args.input).is_dir()
        and Path(args.input).suffix.lower() in sources.IMAGE_EXTENSIONS
    )
    _check_applies(args, is_image)
    for name, value in (("--start-s", args.start_s), ("--stop-s", args.stop_s)):
        if value is not None and not is_video:
            raise ParameterError(f"{name} applies to a video INPUT only")
    if args.timestamps is not None and not (args.input and Path(args.input).is_dir()):
        raise ParameterError("--timestamps applies to a frame folder INPUT only")
    if args.fps is not None and is_video:
        raise ParameterError(
            f"--fps does not apply to a video: its frames keep the times stored in "
            f"{args.input!r} (cut it with --start-s/--stop-s)"
        )
    if args.fps is not None and args.pair:
        raise ParameterError(
            "--fps does not apply to --pair: its two images are --interval-ms apart"
        )
    if args.pair:
        return sources.PairSource(
            args.pair[0],
            args.pair[1],
            interval_ms=args.interval_ms or 10.0,
            sensor_size=size,
            fit=fit,
        )
    if args.synthetic:
        from eventsim.simulator.synthetic import moving_shapes_clip, shorter_than_one_frame

        width, height = size or (346, 260)
        if width < 16 or height < 16:
            # `moving_shapes_frames` refuses it too, as "clip size 1x1 (width x height)"
            raise ParameterError(
                f"--sensor-size {width}x{height} is too small for --synthetic; expected at "
                "least 16x16"
            )
        duration_s = (args.duration_ms or 1000.0) / 1e3
        fps = args.fps or 60.0
        n_frames = duration_s * fps
        sources.check_frame_rate(fps, 2)
        if shorter_than_one_frame(duration_s, fps):
            # the clip is at least two frames 1/fps apart: it would outlast the duration
            rate = f"--fps {fps:g}" if args.fps else f"{fps:g} fps (the default)"
            duration = (
                f"--duration-ms {args.duration_ms:g}"
                if args.duration_ms
                else f"{duration_s * 1e3:g} ms (the default --duration-ms)"
            )
            longer = f" or --duration-ms to at least {1e3 / fps:g}"
            raise ParameterError(
                f"{duration} at {rate} is shorter than one frame interval ({1e3 / fps:g} ms); "
                f"raise --fps to at least {1 / duration_s:g}"
                + (longer if 1e3 / fps <= MAX_DURATION_MS else "")
            )
        # the clip is made in memory before the simulation starts
        if n_frames * width * height * 3 > SYNTHETIC_MAX_BYTES:
            raise ParameterError(
                f"--synthetic with {duration_s:g} s at {fps:g} fps is "
                f"{n_frames:,.0f} frames of {width}x{height}, more than "
                f"{SYNTHETIC_MAX_BYTES / 2**30:g} GiB in memory; shorten --duration-ms or "
                "lower --fps"
            )
        # there is no input to name first, and the clip (up to SYNTHETIC_MAX_BYTES) is made
        # here: an output that exists is refused before that work
        check_output(args.output, args.force, final=True)
        frames, ts = moving_shapes_clip(width, height, duration_s, fps=fps, seed=args.seed)
        info = {
            "kind": "synthetic",
            "name": "moving-shapes",
            "duration_s": duration_s,
            "fps": fps,
            "seed": args.seed,
        }
        return sources.ArraySource(frames, ts, sensor_size=size, fit=fit, info=info)
    image = args.image
    if image is None:
        path = Path(args.input)
        if path.is_dir():
            folder, timestamps = sources.frame_folder_layout(path, args.timestamps)
            times = Path(timestamps) if timestamps else folder / "timestamps.txt"
            if args.fps is not None and (args.timestamps is not None or times.is_file()):
                other = "" if args.timestamps else ", or give other times with --timestamps FILE"
                raise ParameterError(
                    f"--fps does not apply: the images are timed by {str(times)!r} (seconds, "
                    f"one line per image); drop --fps{other}"
                )
            untimed = args.timestamps is None and not times.is_file()
            if untimed and args.fps is None and sources.folder_images(folder):
                # said by `FolderSource` in its keywords (fps, timestamps_file)
                raise InputError(
                    f"frame folder {str(folder)!r} has no timestamps.txt; pass --fps or "
                    "--timestamps FILE (one time in seconds per image)"
                )
            try:
                return sources.FolderSource(
                    folder,
                    fps=args.fps,
                    timestamps_file=timestamps,
                    sensor_size=size,
                    fit=fit,
                    allow_long_gaps=args.allow_long_gaps or args.force,
                )
            except InputError as exc:
                # times refused as not seconds: the advice names the keyword beside the option
                keyword = "pass allow_long_gaps=True (--allow-long-gaps)"
                if keyword not in str(exc):
                    raise
                raise InputError(str(exc).replace(keyword, "pass --allow-long-gaps")) from None
        if is_stack:
            try:
                return sources.TiffStackSource(path, fps=args.fps, sensor_size=size, fit=fit)
            except InputError as exc:
                # said by `TiffStackSource` in its keyword
                if not str(exc).endswith("; pass fps"):
                    raise
                raise InputError(str(exc).removesuffix("; pass fps") + "; pass --fps") from None
        if path.suffix.lower() not in sources.IMAGE_EXTENSIONS:
            try:
                return sources.VideoSource(
                    path, start_s=args.start_s, stop_s=args.stop_s, sensor_size=size, fit=fit
                )
            except UnopenedVideoError as exc:
                from eventsim.io.formats import VIDEO_SHARED_FORMATS

                if not exc.shared_suffix:
                    raise
                raise _not_frames(
                    args.input,
                    f"cannot be opened as a video: a {exc.path.suffix.lower()} file is likely "
                    f"an event file ({VIDEO_SHARED_FORMATS}), which holds events",
                ) from None
        image = path
    return sources.ImageMotionSource(
        image,
        args.motion or "saccade",
        duration_ms=args.duration_ms or 300.0,
        amplitude_px=args.amplitude_px,
        fps=args.fps,
        sensor_size=size,
        seed=args.seed,
        fit=fit,
    )


def _check_span(args, source) -> None:
    """Refuse a frame folder or TIFF stack whose first and last frames are farther apart than
    an event file can span, before the simulation: the writer refuses its events only after
    it, naming their times and none of this command's options."""
    from eventsim.io.hdf5_writer import MAX_MS_INDEX
    from eventsim.simulator import sources

    if not isinstance(source, (sources.FolderSource, sources.TiffStackSource)):
        return
    ts = source.timestamps_us
    span_us = int(ts[-1]) - int(ts[0])
    if span_us // 1000 < MAX_MS_INDEX:
        return
    span = (
        f"the first and last of {ts.size} frames {span_us / 1e6:g} s apart, more than an event "
        f"file can span ({MAX_MS_INDEX:,} ms, {MAX_MS_INDEX / 86.4e6:.1f} days)"
    )
    if args.fps is not None:
        raise ParameterError(f"--fps {args.fps:g} puts {span}")
    if isinstance(source, sources.TiffStackSource):
        raise InputError(f"TIFF stack {str(source.path)!r} at {source.timing} puts {span}")
    raise InputError(f"the times in {source.timing!r} put {span}; split the folder")


def _make_source_recorded(args, size):
    """`_make_source` and the warnings it gave, to be said by `_say_source_warnings` once
    nothing refuses the run (an existing output, a span too long, too little memory)."""
    from eventsim.simulator.sources import ImageScaleWarning, TiffSeriesWarning, TimestampsWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TimestampsWarning)
        warnings.simplefilter("always", TiffSeriesWarning)
        warnings.simplefilter("always", ImageScaleWarning)
        source = _make_source(args, size)
    return source, caught


def _say_source_warnings(args, caught) -> None:
    """The source's timing, TIFF series and image scale warnings, one line each like other CLI
    warnings; others as Python shows them."""
    from eventsim.simulator.sources import (
        ImageScaleWarning,
        LongFrameGapWarning,
        TiffSeriesWarning,
        TimestampsWarning,
    )

    for w in caught:
        if issubclass(w.category, LongFrameGapWarning):
            # only these gaps are refused without the flag: a median gap of seconds beside
            # them is said plainly
            flag = "--allow-long-gaps" if args.allow_long_gaps else "--force"
            _warn(
                f"{w.message}; simulated as seconds because of {flag} (without it these gaps "
                "are refused)"
            )
            if not args.allow_long_gaps:
                # --force passed these times before they had a flag of their own: scripts that
                # relied on it keep working, told the flag to move to
                _warn(
                    "--force accepting frame gaps of 1000 s or more is deprecated and will only "
                    "overwrite the output in a later release; pass --allow-long-gaps"
                )
        elif issubclass(w.category, (TimestampsWarning, TiffSeriesWarning, ImageScaleWarning)):
            _warn(str(w.message))
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _say_warnings(args, source, caught, size, params) -> None:
    """Everything this command says of a run it is about to make."""
    from eventsim.simulator.core import threshold_spread_problem

    _say_source_warnings(args, caught)
    if size is not None:
        _warn_large_sensor(args, size, params)
    else:
        _warn_large_input(source)
    _warn_fast_motion(args, source)
    spread = threshold_spread_problem(params)
    if spread is not None:
        _warn(spread)


@cli_command(build_parser)
def main(args: argparse.Namespace) -> int:
    from eventsim.simulator.core import ThresholdSpreadWarning, check_memory
    from eventsim.simulator.pipeline import simulate
    from eventsim.simulator.sources import ImageScaleWarning, VideoDecodeWarning

    _check_numbers(args)
    _check_output_name(args)
    # FFmpeg inside OpenCV logs its own lines ("moov atom not found") on a broken video, ahead
    # of the one-line error this command prints; the user can still ask for them
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    params = _pixel_params(args)
    size = _sensor_size(args)
    if size is not None:
        # before the source: an image is fitted to the sensor as it is opened
        check_memory(size, params, args.device)
    # so do OpenCV's image decoders on a corrupt image ("TIFFFillStrip: Read error ..."),
    # unless OPENCV_LOG_LEVEL asks for them
    quiet = contextlib.nullcontext() if "OPENCV_LOG_LEVEL" in os.environ else opencv_log_silenced()
    with quiet:
        source, caught = _make_source_recorded(args, size)
        _check_span(args, source)
        if size is None:
            # the simulator would refuse the input's size (or --device) only after the warnings
            check_memory(source.sensor_size, params, args.device)
        # after the input: a missing or unreadable one is the first thing to fix
        out = check_output(args.output, args.force, final=True)
        # after the checks that refuse the run: a warning ahead of an error is noise
        _say_warnings(args, source, caught, size, params)
        # a frame folder's first image was read above; a later one may draw its warning
        scale_told = getattr(source, "scale_problem", None)
        with warnings.catch_warnings():
            # said below in one line, like the other warnings of this command
            warnings.simplefilter("ignore", VideoDecodeWarning)
            warnings.simplefilter("ignore", ThresholdSpreadWarning)
            warnings.simplefilter("ignore", ImageScaleWarning)
            result = simulate(
                source,
                params,
                sensor_size=size,
                seed=args.seed,
                upsample=args.upsample,
                device=args.device,
                out=out,
                save_frames=args.save_frames,
                force=args.force,
                progress=show_progress(args.no_progress),
                threads=args.threads,
                flow_method=args.flow_method or "dis",
                attrs={"preset": args.preset, "overrides": parse_assignments(args.set)},
            )
    problem = getattr(source, "decode_problem", None)
    if problem:
        _warn(problem)
    scale_problem = getattr(source, "scale_problem", None)
    if scale_problem is not None and scale_problem != scale_told:
        _warn(scale_problem)
    _warn_no_events(args, source, params, result)
    width, height = result.sensor_size
    inserted = result.n_inserted_frames
    extra = f", {inserted} {plural(inserted, 'frame')} inserted" if inserted else ""
    events, frames = result.n_events, result.n_frames
    rate = result.frames_per_s
    # a slow run (a few large frames) read "(0 frames/s)" at whole numbers
    rate_text = f"{rate:.0f}" if rate >= 10 else f"{rate:.2g}"
    print(
        f"wrote {result.path}: {events:,} {plural(events, 'event')} from {frames} "
        f"{plural(frames, 'frame')} ({width}x{height}{extra}) in {result.seconds:.1f} s "
        f"({rate_text} frames/s)",
        file=sys.stdout,
    )
    return 0
