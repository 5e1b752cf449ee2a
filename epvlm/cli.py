"""The ``epvlm`` command: ``run`` (one question), ``eval`` (a built dataset), ``flops`` (costs),
``demo`` (the end-to-end demonstration on the built-in data, `epvlm.demo`).

Each subcommand is a ``main(argv) -> int`` built with `eventsim.cli.common`, so errors print
one line (``epvlm CMD: error: ...``, exit 1), usage errors exit 2 and outputs are never
overwritten without ``--force``. ``epvlm flops`` imports neither torch nor transformers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from epvlm import __version__
from eventsim.cli import run_script
from eventsim.cli.common import (
    CREATES_FOLDERS,
    add_progress_option,
    add_renamed_option,
    check_output,
    check_reader,
    cli_command,
    make_parser,
    path_arg,
    show_progress,
    threads_problem,
)
from eventsim.errors import DatasetError, InputError, ParameterError

if TYPE_CHECKING:
    from epvlm.evaluate import EvalInterrupted, EvalResume
    from epvlm.prior import Selection


# epvlm.demo.DEFAULT_MODEL, named here without importing the demo (its report modules) into
# every command's parser
TINY_MODEL = Path(__file__).resolve().parent / "assets" / "shapes-demo-tiny"


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        required=True,
        type=path_arg("a checkpoint directory"),
        metavar="DIR",
        help="Qwen2-VL or Qwen2.5-VL checkpoint directory (config.json names which); the "
        f"package's tiny model, trained for the shapes demo, is {TINY_MODEL}",
    )


def _parser(command: str, description: str) -> argparse.ArgumentParser:
    return make_parser(command, description, prog="epvlm")


def _comma_entries(text: str, what: str, expected: str) -> list[str]:
    """The entries of a comma list, a trailing comma allowed ('0.5,' is one fraction, as flops'
    and run's --keep read it). An empty entry inside it is refused: 'event,,random' or
    '0.5,,0.25' is a value dropped while editing the list, and was run as the rest."""
    parts = [s.strip() for s in text.split(",")]
    if parts[-1] == "":
        parts.pop()
    entries = [s for s in parts if s]
    if entries and len(entries) < len(parts):
        raise argparse.ArgumentTypeError(
            f"{what} has an empty entry; expected comma-separated {expected}"
        )
    return entries


def _selectors_arg(text: str) -> list[str]:
    """eval's --selector: a comma list of `epvlm.prior.SELECTORS`, an unknown one named
    quoted with a guess at the one meant, as run's --selector (`_selector_arg`) names it."""
    from epvlm.prior import SELECTORS
    from eventsim._suggest import did_you_mean

    names = _comma_entries(text, f"selector list {text!r}", f"names of {', '.join(SELECTORS)}")
    bad = [s for s in names if s not in SELECTORS]
    if not names:
        raise argparse.ArgumentTypeError(
            f"no selector in {text!r}; expected a comma list of {', '.join(SELECTORS)}"
        )
    if bad:
        noun = "selector" if len(bad) == 1 else "selectors"
        raise argparse.ArgumentTypeError(
            f"{noun} {', '.join(map(repr, bad))} unknown; expected a comma list of "
            f"{', '.join(SELECTORS)}" + (did_you_mean(bad[0], SELECTORS) if len(bad) == 1 else "")
        )
    return names


def _selector_arg(text: str) -> str:
    """run's --selector: one of `epvlm.prior.SELECTORS`, refused as argparse's ``choices``
    refuses it but with a guess at a misspelt one (argparse before Python 3.14 gives none)."""
    from epvlm.prior import SELECTORS
    from eventsim._suggest import did_you_mean

    if text not in SELECTORS:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {', '.join(map(repr, SELECTORS))})"
            + did_you_mean(text, SELECTORS)
        )
    return text


def _window_arg(text: str) -> float:
    """--window-ms of run and eval: a usage error naming the value as typed (exit 2, as
    --keep 0's is), where `epvlm.evaluate.event_window`'s refusal named the float it became
    ('event window 0.0 ms') and not the option."""
    from epvlm.evaluate import event_window

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; expected a window in ms > 0, e.g. 50"
        ) from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be > 0 and finite (ms)")
    try:
        event_window(0, value)
    except ParameterError as exc:
        # shorter than the events' 1 µs time step: its words, with the value as typed
        raise argparse.ArgumentTypeError(
            str(exc).replace(f"event window {value:g} ms", f"{text} ms", 1)
        ) from None
    return value


def _keeps_arg(text: str) -> list[float]:
    entries = _comma_entries(text, f"keep list {text!r}", "fractions in (0, 1], e.g. 0.75,0.5,0.25")
    try:
        values = [float(s) for s in entries]
    except ValueError:
        for entry in entries:
            hint = _percent_hint(entry)
            if hint is not None:
                what = f"{text!r}" if len(entries) == 1 else f"{entry!r} in {text!r}"
                raise argparse.ArgumentTypeError(_not_a_fraction(what, hint)) from None
        raise argparse.ArgumentTypeError(
            f"keep list {text!r} is not comma-separated numbers"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError(
            f"keep list {text!r} holds no number; expected fractions in (0, 1], e.g. 0.5"
        )
    bad = [v for v in values if not 0 < v <= 1]
    if bad:
        what = f"{text!r}" if len(values) == 1 else f"{bad[0]:g} in {text!r}"
        raise argparse.ArgumentTypeError(f"keep fraction {what} must lie in (0, 1]")
    return values


def _count_arg(least: int, why: str = "") -> Callable[[str], int]:
    """The argparse ``type`` of a whole-number option of at least ``least``: a value out of
    range is a usage error naming the option (exit 2), as --keep's is, refused before
    anything loads (library checks named the Python parameter, 'batch_size 0', and exit 1).
    ``why`` says why fewer is refused, where the bound is not plain."""

    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number; expected one >= {least}"
            ) from None
        if value < least:
            raise argparse.ArgumentTypeError(
                f"{value} must be >= {least}" + (f" ({why})" if why else "")
            )
        return value

    return count


def _threads_arg(text: str) -> int:
    """--threads: 1..the cores this process may use (`eventsim.cli.common.check_threads`'s
    rule and words), a usage error otherwise."""
    from eventsim._system import usable_cores

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number; expected 1..{usable_cores()}"
        ) from None
    problem = threads_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


def _keep_arg(text: str) -> float:
    """One keep fraction (flops, run): a list or a percentage is refused saying so, not as a
    keep list that is "not comma-separated numbers"."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if len(parts) > 1:
        raise argparse.ArgumentTypeError(f"--keep takes one fraction, got {text!r}")
    # '0.5,' is one fraction, as eval's --keep list reads it
    one = parts[0] if parts else text
    try:
        value = float(one)
    except ValueError:
        hint = _percent_hint(one) or "e.g. 0.5"
        raise argparse.ArgumentTypeError(_not_a_fraction(repr(text), hint)) from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"keep fraction {text!r} must lie in (0, 1]")
    return value


def _percent_hint(entry: str) -> str | None:
    """'0.5 for 50%' for a percentage ``entry`` of --keep, None for anything else."""
    percent = entry.removesuffix("%")
    if percent == entry:
        return None
    try:
        return f"{float(percent) / 100:g} for {entry}"
    except ValueError:
        return None


def _not_a_fraction(what: str, hint: str) -> str:
    # one wording for --keep's fraction (flops, run) and each of eval's --keep list
    return f"keep fraction {what} is not a number; expected a fraction in (0, 1], {hint}"


def _choices_arg(text: str) -> list[str]:
    """``--choices``: comma-separated options, or a JSON list of strings for options that hold
    commas ("1,000", "Paris, France"; a dataset's choices as samples.jsonl writes them). At
    most `epvlm.answers.MAX_OPTIONS` (one per letter). A blank value is refused: an unset shell
    variable gives it, and it was run as a free-answer question (leaving the option out
    asks one)."""
    from epvlm.answers import MAX_OPTIONS

    options = _parse_choices(text)
    if len(options) == 1:
        # the answer could only name it or nothing: no question is asked of the model
        raise argparse.ArgumentTypeError(
            f"{text!r} is one option; expected two or more (comma-separated), or none for a "
            "free answer"
        )
    if len(options) > MAX_OPTIONS:
        raise argparse.ArgumentTypeError(
            f"{len(options)} options given; at most {MAX_OPTIONS} (A to Z) can be asked and scored"
        )
    # compared as the dataset build compares a sample's choices (surrounding spaces aside): an
    # answer naming a repeated option's text named neither of its letters
    shown = [c.strip() for c in options]
    repeated = next((c for k, c in enumerate(shown) if c in shown[:k]), None)
    if repeated is not None:
        raise argparse.ArgumentTypeError(
            f"{text!r} lists the option {repeated!r} more than once; the answer naming it "
            "would name no single option"
        )
    return options


def _parse_choices(text: str) -> list[str]:
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is empty (an unset shell variable?); expected two or more "
            "comma-separated options, or no --choices for a free answer"
        )
    stripped = text.strip()
    if stripped.startswith('["') or (stripped.startswith("[") and stripped.endswith("]")):
        # split on commas, '["1,000", "2,000"]' became four options named after JSON fragments;
        # options that only begin with a bracket ('[A] red,[B] blue') are split as before
        try:
            options = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(
                f"{text!r} is bracketed but not a JSON list ({exc.msg}); expected e.g. "
                '\'["1,000", "2,000"]\' or comma-separated options'
            ) from None
        if not (
            isinstance(options, list)
            and options
            and all(isinstance(c, str) and c.strip() for c in options)
        ):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a JSON list of non-empty strings; expected e.g. "
                '\'["1,000", "2,000"]\''
            )
        return options
    options = [c.strip() for c in text.split(",")]
    if not all(options):
        raise argparse.ArgumentTypeError(
            f"{text!r} has an empty option; expected comma-separated non-empty "
            "options, e.g. 'red,green,blue'"
        )
    return options


# --max-new-tokens of run and eval: `epvlm.evaluate.answer_selections`' default budget
MAX_NEW_TOKENS_HELP = (
    "generation budget (default: 32 with the chat prompt format; with the plain one, the "
    "tokens of the longest option and its end-of-turn token, at least 16 where a question has "
    "no options)"
)


def _add_max_new_tokens(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-new-tokens", type=_count_arg(1), metavar="N", help=MAX_NEW_TOKENS_HELP)


def _add_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seed",
        # a negative seed is a usage error naming the option (exit 2), as --keep 0 is; numpy's
        # generator raised a bare ValueError on it
        type=_count_arg(0),
        default=0,
        metavar="N",
        help="seed of the random selector (default 0)",
    )


def _add_device(p: argparse.ArgumentParser, *, dtype: str = "auto") -> None:
    """--device and --dtype of every command that loads a model (checked by `_check_device`)."""
    from epvlm._constants import DTYPES

    dtype_help = (
        "model dtype; auto (default) = bfloat16 on GPUs that support it, float32 on CPU"
        if dtype == "auto"
        else f"model dtype (default {dtype}; auto = bfloat16 on GPUs that support it)"
    )

    p.add_argument(
        "--device",
        default="auto",
        help="auto (default: cuda when available, else cpu), cpu, cuda or cuda:N",
    )
    p.add_argument(
        "--dtype",
        default=dtype,
        choices=("auto", *DTYPES),
        help=dtype_help,
    )


def _check_device(args: argparse.Namespace) -> None:
    """Refuse a --device this package does not run on or this machine lacks, before the model
    loads (`epvlm.evaluate.resolve_device` names the devices there are). auto and cpu, which
    every machine has, are taken without importing torch, so that the checks after this one
    still answer at once."""
    if args.device in ("auto", "cpu"):
        return
    from epvlm.evaluate import resolve_device

    resolve_device(args.device)


def _add_runtime(p: argparse.ArgumentParser) -> None:
    from epvlm._constants import PROMPT_FORMATS
    from epvlm.prior import EVENT_MAP_MODES, KEEP_RULES

    _add_device(p)
    p.add_argument(
        "--prompt-format",
        default="auto",
        choices=("auto", *PROMPT_FORMATS),
        help="auto (default): the checkpoint's chat template when it has one (system prompt, "
        "image before text, lettered options), else the plain format the tiny models learnt",
    )
    p.add_argument(
        "--rule",
        default="topk",
        choices=KEEP_RULES,
        help="keep rule of the event and edges selectors: exact top-k budget (default) or the "
        "paper's quantile threshold, which keeps every block tied at it; under quantile, eval "
        "(and run with --events) gives random/center/downsample as many tokens per question as "
        "event kept",
    )
    p.add_argument(
        "--event-mode",
        default="count",
        choices=EVENT_MAP_MODES,
        help="event map: events per pixel (default) or ON minus OFF; scored by the L1 norm",
    )


def _check_runtime(args: argparse.Namespace) -> None:
    """Refuse a device this package does not run on, before the model loads."""
    _check_device(args)


def _check_model(model: str, *, dataset_option: bool = False) -> None:
    """Refuse a --model that is no checkpoint folder (a hub id said as one, `check_model_dir`;
    a folder with neither config.json nor a processor config, `check_checkpoint_folder`),
    whose config.json names a model EP-VLM does not run, or whose weight files are missing or
    damaged (`check_weight_files`, torch-free: the load that follows does not read them again),
    before torch loads: the command line's path errors come in a moment, not after the
    seconds that torch and transformers take to import. A built dataset given as --model is
    said to be one (``dataset_option``: eval's and demo's hint to pass it as --dataset)."""
    from epvlm.errors import ModelDirError
    from epvlm.loading import (
        check_checkpoint_folder,
        check_model_dir,
        check_model_type,
        check_weight_files,
    )

    try:
        check_model_dir(model)
        check_checkpoint_folder(model)
    except ModelDirError as exc:
        where = ": pass it as --dataset, and a checkpoint as --model" if dataset_option else ""
        hint = _dataset_hint(model, where)
        if hint:
            raise ModelDirError(f"{exc}{hint}") from None
        raise
    check_model_type(model)
    check_weight_files(model, torch_free=True)


def _dataset_hint(folder: str, where: str = "") -> str:
    """'; it holds dataset.json, ...' (then ``where``) to end the refusal of a checkpoint
    folder (run's, eval's, demo's --model, flops' --config) that is a built dataset or its
    dataset.json (which eval and demo take as --dataset too), else ''."""
    path = Path(folder)
    if path.name == "dataset.json" and path.is_file():
        return f"; it is the dataset.json of a dataset built by 'eventsim build'{where}"
    if not (path / "dataset.json").is_file():
        return ""
    return f"; it holds dataset.json, a dataset built by 'eventsim build'{where}"


def _checkpoint_hint(folder: str) -> str:
    """'; it is a checkpoint ...' to end a 'not a built dataset' error of --dataset when the
    folder holds config.json and weights (--model and --dataset swapped), else ''."""
    from epvlm.loading import BIN_INDEX, BIN_SINGLE, SAFE_INDEX, SAFE_SINGLE

    path = Path(folder)
    weights = any((path / n).is_file() for n in (SAFE_SINGLE, SAFE_INDEX, BIN_SINGLE, BIN_INDEX))
    if not ((path / "config.json").is_file() and weights):
        return ""
    return "; it holds config.json and model weights, a checkpoint: pass it as --model"


# ---------------------------------------------------------------------------------------- run

# Event window of `epvlm run --frame-time-us` without --window-ms: the demo recipes' window.
RUN_WINDOW_MS = 50.0
# Recordings at least this long get a note saying which window `epvlm run` used.
LONG_RECORDING_US = 1_000_000
# --overlay formats: OpenCV writes these from an RGB image (.pgm/.pbm take grey images only;
# .pxm it reads but has no writer for)
OVERLAY_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pnm")
# --keep when not given; the dense selector keeps everything whatever --keep says
RUN_KEEP = 0.5


def build_run_parser() -> argparse.ArgumentParser:
    from epvlm.prior import SELECTORS

    p = _parser(
        "run",
        "Answer one question about an image with EP-VLM: the event prior (or a baseline "
        "selector) decides which image tokens enter Qwen2-VL. Prints the answer, kept/total "
        "tokens, FLOPs and latency.",
    )
    _add_model(p)
    p.add_argument(
        "--image",
        required=True,
        type=path_arg("an image file"),
        metavar="FILE",
        help="RGB image file (PNG, JPEG, ...)",
    )
    p.add_argument(
        "--events",
        type=path_arg("an event file"),
        metavar="FILE",
        help="event file of the image's view (any supported layout); a sensor of another size "
        "but the image's aspect ratio is rescaled onto it",
    )
    p.add_argument(
        "--frame-time-us",
        type=int,
        metavar="US",
        help="time of the image in the event recording (µs); events are taken from the "
        f"window ending there (--window-ms, default {RUN_WINDOW_MS:g} ms)",
    )
    p.add_argument(
        "--window-ms",
        type=_window_arg,
        metavar="MS",
        help="event window length, ending at --frame-time-us or, without it, at the "
        f"recording's last event (default: the whole recording, or {RUN_WINDOW_MS:g} ms with "
        "--frame-time-us)",
    )
    p.add_argument(
        "--question",
        required=True,
        metavar="TEXT",
        help="the question to answer about the image",
    )
    p.add_argument(
        "--choices",
        type=_choices_arg,
        default=[],
        metavar="LIST",
        help="comma-separated answer options (at most 26, lettered A to Z), or a JSON list for "
        'options with commas: \'["1,000", "2,000"]\'',
    )
    p.add_argument(
        "--keep",
        type=_keep_arg,
        metavar="FRACTION",
        help=f"keep fraction in (0, 1] (default {RUN_KEEP:g}; the dense selector keeps all)",
    )
    p.add_argument(
        "--selector",
        default="event",
        type=_selector_arg,
        choices=SELECTORS,
        help="event (default; needs --events): blocks with the most events; edges: blocks with "
        "the strongest gradients of the image's luma (no events); random, downsample, center: "
        "content-blind baselines; dense: every token",
    )
    _add_seed(p)
    _add_max_new_tokens(p)
    p.add_argument(
        "--overlay",
        type=path_arg("an image file name"),
        metavar="FILE",
        help=f"save the kept/dropped block overlay to this image ({', '.join(OVERLAY_SUFFIXES)}; "
        "with a legend below; with --selector event or edges, a heat map of the block scores); "
        f"{CREATES_FOLDERS}",
    )
    p.add_argument("--force", action="store_true", help="overwrite --overlay")
    p.add_argument(
        "--warm-up",
        action="store_true",
        help="run one untimed prefill first, so the latency is a warm model's (costs one more "
        "vision and prefill pass); without it the latency is that of a cold first call",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_runtime(p)
    return p


def _read_image(path: str):
    import numpy as np

    from eventsim.simulator.sources import decode_image

    # checked here, in the words of epvlm run's other input errors
    if not path or not Path(path).is_file():
        what = (
            "is empty" if not path else "is a folder" if Path(path).is_dir() else "does not exist"
        )
        raise InputError(
            f"cannot read image {path!r}: the path {what}; expected an image file (PNG, JPEG, ...)"
        )
    # read in Python and decoded by the reader of `eventsim simulate`, so both see the same
    # upright pixels: OpenCV's imread kills the process on a file name that is not UTF-8, and
    # OpenCV 5's fails on a non-square TIFF tagged with a quarter turn (EXIF 5..8)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read image {path!r} ({exc.strerror or exc})") from None
    try:
        image = decode_image(data, path)
    except InputError as exc:
        if str(exc) != f"image {path!r} cannot be read (not an image OpenCV can decode)":
            raise  # it says more: a TIFF compression, NaN pixels, ...
        from eventsim.io.formats import VIDEO_SUFFIXES, sniff_event_file

        suffix = Path(path).suffix.lower()
        # not a GIF: OpenCV's wheels from 4.12 on decode its first frame as a still image, so a
        # GIF that gets here is a broken one (or any GIF under an older OpenCV), not a video
        if suffix in VIDEO_SUFFIXES and suffix != ".gif":
            raise InputError(
                f"cannot read image {path!r}: it is a video; give one of its frames as --image "
                "(PNG, JPEG, ...)"
            ) from None
        # the likely mix-up of --image and --events
        guess = sniff_event_file(path)
        if guess is not None:
            named = sniff_event_file(path, read=False) is not None
            said = f"named as an event file ({suffix})" if named else guess.what
            raise InputError(
                f"cannot read image {path!r}: it is {said}; pass it as --events and the frame "
                "it goes with as --image (PNG, JPEG, ...)"
            ) from None
        raise InputError(
            f"cannot read image {path!r} (not an image OpenCV can decode); expected an image "
            "file (PNG, JPEG, ...)"
        ) from None
    if image.dtype != np.uint8:
        # 16-bit files come as value / 257, float ones as value * 255 (1.0 white): the 16-bit
        # value's high byte is what PIL, and so stock transformers, reads of a 16-bit image
        deep = np.clip(np.round(image * 257.0), 0, 65535).astype(np.uint16)
        image = (deep >> 8).astype(np.uint8)
    # transparency came blended onto white by the reader, as transformers' processors blend it
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def _check_overlay(path: str, force: bool) -> Path:
    """The --overlay path, refused before the model loads when OpenCV cannot write its format
    or it exists without --force (its folder is created, as for every output)."""
    suffix = Path(path).suffix.lower()
    if suffix not in OVERLAY_SUFFIXES:
        raise ParameterError(
            f"--overlay {path!r} has "
            + (f"the unsupported extension {suffix!r}" if suffix else "no extension")
            + f"; expected one of {', '.join(OVERLAY_SUFFIXES)}"
        )
    return check_output(path, force)


def _write_overlay(path: Path, overlay_rgb) -> None:
    """Write the overlay whole (under a temporary name, renamed when complete: a full disk
    leaves no truncated image); a failed write is a one-line error."""
    import cv2

    from eventsim.outputs import fsync_file, publish, remove_path, temp_path

    # encoded in memory and written by Python: OpenCV's imwrite kills the process on a file
    # name that is not UTF-8, and says only that it failed where the OS says why
    try:
        ok, encoded = cv2.imencode(path.suffix, cv2.cvtColor(overlay_rgb, cv2.COLOR_RGB2BGR))
        why = ""
    except cv2.error as exc:
        # "OpenCV(5.0.0) /path/loadsave.cpp:1072: error: (-2:...) reason in function ..."
        ok, why = False, ": " + " ".join(str(exc).split("error: ", 1)[-1].split())
    if not ok:
        raise InputError(f"cannot write overlay {str(path)!r}{why}")
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(encoded.tobytes())
        fsync_file(tmp)
        publish(tmp, path)
    finally:
        remove_path(tmp)


def _read_events(path: str, window_ms: float | None, frame_time_us: int | None):
    """Events of the window before the frame, the sensor size, the window used and a note
    saying which window was taken from a long recording when the user did not pick one, or
    that the window was cut at the first event (the file cannot say whether its recording began
    earlier, with no events). A file of no events has no window (None) and no note.

    The whole file is checked first (`StreamCheck`, the check of ``eventsim convert``,
    ``render`` and ``plot``): unsorted times would make the window drop events silently."""
    from epvlm.evaluate import event_window
    from eventsim.io import open_events

    reader = open_events(path)
    try:
        check_reader(reader, path)
        if not len(reader):
            # no window to pick or check: its [0, 1) µs read as a recording starting at 0
            return reader.read(), tuple(reader.sensor_size), None, None
        first, end = int(reader.t_start_us), int(reader.t_end_us)
        last = max(first, end - 1)
        note = None
        if frame_time_us is not None:
            window = event_window(frame_time_us, RUN_WINDOW_MS if window_ms is None else window_ms)
            if window[1] <= first or window[0] > last:
                # most likely ms or s given as µs: an empty window would silently fall back
                raise ParameterError(
                    f"the event window [{window[0]}, {window[1]}) µs ending at --frame-time-us "
                    f"{frame_time_us} lies outside the recording [{first}, {last}] µs of {path!r}"
                )
        elif window_ms is not None:
            window = event_window(last, window_ms)
        else:
            window = (first, last + 1)
        if window[0] < first:
            # an event file does not record when its recording began (a simulated one starts
            # at its first frame, before any event), so this is said, not refused
            held_ms = (window[1] - first) / 1000
            asked = RUN_WINDOW_MS if window_ms is None else window_ms
            note = (
                f"epvlm run: note: the {asked:g} ms event window starts before the first event "
                f"of {path!r} at {first} µs; it holds {held_ms:g} ms of events"
            )
            window = (first, window[1])
        elif frame_time_us is None and last - first >= LONG_RECORDING_US:
            note = (
                f"events: window [{window[0]}, {window[1]}) µs of a "
                f"{(last - first) / 1e6:.1f} s recording "
                + ("(its end)" if window_ms is not None else "(all of it)")
                + "; pass --frame-time-us T for the frame's time"
            )
        events = reader.read(*window)
        return events, tuple(reader.sensor_size), window, note
    finally:
        close = getattr(reader, "close", None)
        if close is not None:
            close()


def _quantile_reason(sel: Selection) -> str:
    """Why ``sel`` (an event or edges selection under --rule quantile) kept more tokens than
    its keep, as eval's note says it ('' where it kept no more): 64 of 64 tokens at keep 0.25
    read as a fault."""
    from epvlm.prior import keep_budget

    if (
        sel.fallback
        or sel.scores is None
        or sel.kept_tokens <= keep_budget(sel.total_tokens, sel.keep)
    ):
        return ""
    reason = "every block scoring at or above its threshold, ties included"
    if sel.kept_tokens == sel.total_tokens and not sel.scores.min():
        # counted: at keep 0.75 a quarter of the blocks at 0 puts the threshold at 0, not most
        zero = int((sel.scores == 0).sum())
        reason += f", so all of them, as {zero} of the {sel.scores.size} blocks " + (
            "saw no event" if sel.selector == "event" else "are flat (no luma gradient)"
        )
    return reason


@cli_command(build_run_parser)
def run_main(args: argparse.Namespace) -> int:
    import numpy as np

    from epvlm.evaluate import MATCHED_BASELINES, check_sensor_size

    # checked before torch and transformers load (but for a --device other than auto or cpu,
    # which torch checks): a usage or path error comes at once
    _check_runtime(args)
    if args.selector == "event" and not args.events:
        raise ParameterError(
            "the event selector (the default) needs --events FILE; without events, choose "
            "--selector edges, random, downsample, center or dense"
        )
    if not args.question.strip():
        raise ParameterError("--question is empty")
    if (args.frame_time_us is not None or args.window_ms is not None) and not args.events:
        raise ParameterError("--frame-time-us and --window-ms need --events FILE")
    keep = RUN_KEEP if args.keep is None else args.keep
    if args.selector == "dense":
        if keep < 1 and args.keep is not None:
            print(
                f"epvlm run: note: the dense selector keeps every token; --keep {keep:g} "
                "does not apply",
                file=sys.stderr,
            )
        # as in `epvlm eval`, where dense is the keep-1 reference
        keep = 1.0
    if args.overlay and Path(args.overlay).resolve() == Path(args.image).resolve():
        raise ParameterError(f"--overlay {args.overlay!r} is the input --image; name another file")
    overlay_path = _check_overlay(args.overlay, args.force) if args.overlay else None
    _check_model(args.model)
    image = _read_image(args.image)
    height, width = image.shape[:2]
    events, sensor, window = None, None, None
    if args.events:
        events, sensor, window, note = _read_events(args.events, args.window_ms, args.frame_time_us)
        sensor = check_sensor_size(sensor, height, width)
        if note is not None:
            print(note, file=sys.stderr)
        if sensor != (width, height):
            print(
                f"epvlm run: note: events from a {sensor[0]}x{sensor[1]} sensor rescaled onto "
                f"the {width}x{height} image (same aspect ratio within 1 %)",
                file=sys.stderr,
            )
    # how many tokens a content-blind baseline keeps: under --rule quantile `epvlm eval` gives
    # it the count the event prior keeps for the same question, which needs the events. A
    # setting of the run, as in eval's rows, whichever selector this run is
    baseline_tokens = "event" if args.rule == "quantile" and events is not None else "keep"
    if args.selector in MATCHED_BASELINES:
        if args.rule == "quantile" and events is None:
            print(
                f"epvlm run: note: without --events, {args.selector} keeps --keep of the "
                f"tokens ({keep:g} of them, rounded half up: the top-k count, as under --rule "
                "topk); under --rule quantile epvlm eval gives it as many as the event prior "
                "kept for the question (pass --events for that count)",
                file=sys.stderr,
            )
    _check_prompt_format(args.model, args.prompt_format)
    from epvlm.answers import clean_generation, option_label, parse_choice, question_options
    from epvlm.evaluate import answer_selections, load_model, selection_flops
    from epvlm.flops import vlm_flops
    from epvlm.prior import Selector, select_blocks
    from epvlm.processing import check_image_size, grid_for_size, min_image_tokens, prompt_format
    from epvlm.results import fmt_keep
    from eventsim._text import plural

    check_image_size(height, width)  # before the model loads
    model, proc = load_model(args.model, device=args.device, dtype=args.dtype)
    fmt = prompt_format(proc, args.prompt_format)
    grid = grid_for_size(proc, height, width)

    def select(selector: Selector, budget: int | None = None) -> Selection:
        return select_blocks(
            selector,
            image,
            keep=keep,
            grid=grid,
            events=events,
            sensor_size=sensor,
            rule=args.rule,
            mode=args.event_mode,
            seed=args.seed,
            min_tokens=min_image_tokens(proc),
            budget=budget,
        )

    matched = (
        select("event")
        if baseline_tokens == "event" and args.selector in MATCHED_BASELINES
        else None
    )
    budget = matched.kept_tokens if matched is not None else None
    sel = select(args.selector, budget)
    choices = args.choices
    _, counts, seconds = answer_selections(
        model,
        proc,
        [sel],
        [args.question],
        [choices],
        max_new_tokens=args.max_new_tokens,
        prompt=fmt,
        # one question: a warm-up pass only when asked for a warm latency figure
        warm_up=args.warm_up,
    )
    cnt = counts[0]
    # options numbered in the question are named by their number too ("2"), as `eval` scores them
    options, numbered = (choices, False) if choices else question_options(args.question)
    index = parse_choice(cnt["raw"], options, numbered=numbered) if options else None
    flops = selection_flops(model.config, sel, cnt["text_tokens"], cnt["new_tokens"])
    dense = vlm_flops(
        model.config,
        sel.total_tokens,
        cnt["text_tokens"],
        new_tokens=cnt["new_tokens"],
        token_grids=[grid],
    )
    if overlay_path is not None:
        from eventsim.render import patch_grid_overlay

        # the event and edges selectors' heat map is what they score; the others score nothing,
        # so they get no heat map (one of the kept mask drew dense's blocks black beside a
        # one-value colour bar) and a legend of the outlines only
        if sel.scores is None:
            legend = f"token blocks of the {sel.selector} selector"
        elif sel.selector == "edges":
            legend = "mean image gradient (Sobel, luma) per token block"
        else:
            legend = ("events" if args.event_mode == "count" else "|ON-OFF|") + " per token block"
        drawn = patch_grid_overlay(sel.image, sel.scores, sel.mask, legend=legend)
        _write_overlay(overlay_path, drawn)
    result = {
        # what was asked of what, resolved: a saved JSON line says which files it answers for
        "model": str(Path(args.model).resolve()),
        "image": str(Path(args.image).resolve()),
        "events": str(Path(args.events).resolve()) if args.events else None,
        "answer": options[index] if index is not None else clean_generation(cnt["raw"]),
        "parsed": option_label(index, numbered) if index is not None else None,
        "raw_output": cnt["raw"],
        "prompt_format": fmt,
        "event_window_us": list(window) if window is not None else None,
        "kept_tokens": sel.kept_tokens,
        "total_tokens": sel.total_tokens,
        "flops": flops.total,
        "dense_flops": dense.total,
        "latency_s": seconds,
        # False: latency_s is a cold first call's, one-off start-up costs included
        "warm_up": args.warm_up,
        "selector": sel.selector,
        "keep": sel.keep,
        "fallback": sel.fallback,
        "fallback_reason": sel.fallback_reason,
        # the settings eval's rows carry, with eval's names and meanings: baseline_tokens is
        # how many tokens random, center and downsample keep, "keep" (keep x tokens) or "event"
        # (under --rule quantile with --events, as many as the event prior kept); event_mode
        # is null without --events, where no event is scored
        "rule": args.rule,
        "baseline_tokens": baseline_tokens,
        "event_mode": args.event_mode if events is not None else None,
        "seed": args.seed,
        "device": str(model.device),
        "dtype": str(model.dtype).removeprefix("torch."),
        # row-major indices of the kept tokens in the selection's token grid
        "kept_indices": np.flatnonzero(sel.mask).tolist(),
        "overlay": str(overlay_path) if overlay_path is not None else None,
    }
    if args.json:
        print(json.dumps(result))
        return 0
    if result["answer"]:
        print(
            f"answer: {result['answer']}"
            + (f" (option {result['parsed']})" if result["parsed"] is not None else "")
        )
    else:
        # an end-of-turn token and nothing before it: a blank "answer: " read as a display fault
        print("answer: (none: the model generated no text)")
    if result["parsed"] is None and (options or not result["answer"]):
        print(f"raw output{' (names no option)' if options else ''}: {cnt['raw']!r}")
    if window is not None:
        print(f"events: window [{window[0]}, {window[1]}) µs; {fmt} prompt format")
    elif events is not None:
        print(f"events: none, {args.events!r} holds no events; {fmt} prompt format")
    # under --rule quantile: why more tokens than the keep were kept
    why = _quantile_reason(matched or sel) if args.rule == "quantile" else ""
    if matched is not None:
        why = f"; it keeps {why}" if why else ""
        tail = f"; as many as the event prior kept (--rule quantile{why})"
    else:
        tail = f"; --rule quantile keeps {why}" if why else ""
    print(
        f"tokens: {sel.kept_tokens} of {sel.total_tokens} image "
        f"{plural(sel.total_tokens, 'token')} kept "
        f"({sel.selector}, keep {fmt_keep(sel.keep)})"
        + (f"; {sel.fallback_reason}, fell back to {sel.fallback}" if sel.fallback else "")
        + tail
    )
    print(
        f"FLOPs: {flops.total / 1e9:.3f} G ({100 * flops.total / dense.total:.1f} % of dense "
        f"{dense.total / 1e9:.3f} G)"
    )
    print(
        f"latency: {1000 * seconds:.1f} ms"
        + (
            ""
            if args.warm_up
            else " (cold first call, start-up costs included; --warm-up for a warm one)"
        )
    )
    if overlay_path is not None:
        print(f"overlay: {overlay_path}")
    return 0


# --------------------------------------------------------------------------------------- eval


# --keep when not given
EVAL_KEEPS = (0.75, 0.5, 0.25)


def build_eval_parser() -> argparse.ArgumentParser:
    p = _parser(
        "eval",
        "Run every sample of a built event-VQA dataset for each selector and keep fraction; "
        "write results.json (one row per selector and keep), samples.jsonl, table.md and "
        "accuracy_vs_flops.png. Dense is always included as the reference. Finished answers "
        "are kept in the folder as they come (partial-answers.jsonl): after a Ctrl-C or a "
        "crash, rerun the same command to resume.",
    )
    _add_model(p)
    p.add_argument(
        "--dataset",
        required=True,
        type=path_arg("a dataset folder"),
        metavar="DIR",
        help="dataset folder built by 'eventsim build' (or its dataset.json)",
    )
    p.add_argument(
        "--split",
        default="test",
        metavar="NAME",
        help="the dataset split to evaluate (default: test)",
    )
    p.add_argument(
        "--keep",
        type=_keeps_arg,
        metavar="FRACTIONS",
        help=f"comma list of keep fractions in (0, 1] (default {','.join(map(str, EVAL_KEEPS))}; "
        "the dense selector keeps all)",
    )
    p.add_argument(
        "--selector",
        type=_selectors_arg,
        default=["event", "random", "downsample"],
        metavar="NAMES",
        help="comma list of event, edges, random, downsample, center, dense (default "
        "event,random,downsample); e.g. event,edges,random,downsample adds the image-only "
        "edges baseline at the event selector's token counts",
    )
    p.add_argument(
        "--window-ms",
        type=_window_arg,
        metavar="MS",
        help="event window before the frame, at most the one the dataset stores (default: the "
        "dataset's)",
    )
    p.add_argument(
        "--limit", type=_count_arg(1), metavar="N", help="evaluate only the first N samples"
    )
    p.add_argument(
        "--batch-size",
        type=_count_arg(1),
        default=16,
        metavar="N",
        help="samples per generate() call (default 16; left-padded, one attention mask per sample)",
    )
    p.add_argument(
        "--threads",
        type=_threads_arg,
        metavar="N",
        help="torch CPU threads for the model, 1..the usable cores, as epvlm demo's (default: "
        "torch's own); fewer than the cores steady the latency figures on a busy machine",
    )
    _add_max_new_tokens(p)
    _add_seed(p)
    p.add_argument(
        "-o",
        "--output",
        default="epvlm-eval",
        type=path_arg("a folder name"),
        metavar="DIR",
        help=f"output folder (default epvlm-eval); {CREATES_FOLDERS}",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite earlier results in the folder and discard an unfinished evaluation "
        "there instead of resuming it",
    )
    add_progress_option(p)
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    _add_runtime(p)
    return p


@cli_command(build_eval_parser)
def eval_main(args: argparse.Namespace) -> int:
    from epvlm.errors import FolderLockWarning
    from epvlm.evaluate import EvalInterrupted, UnreadableAnswersWarning, evaluate_dataset
    from epvlm.results import RESULT_FILES, json_ready, results_table
    from eventsim.errors import require
    from eventsim.outputs import expect_final_output

    # checked before torch and transformers load (but for a --device other than auto or cpu,
    # which torch checks): a usage or path error, or a refusal that dataset.json or the
    # output folder settles, comes at once rather than after their 4-10 s import
    _check_runtime(args)
    _check_model(args.model, dataset_option=True)
    _check_dataset(args)
    _check_results_folder(args)
    _check_prompt_format(args.model, args.prompt_format)
    keeps = list(EVAL_KEEPS) if args.keep is None else args.keep
    below = [k for k in keeps if k < 1]
    if args.keep is not None and below and all(s == "dense" for s in args.selector):
        # as epvlm run says it: with other selectors --keep is theirs, and dense is always
        # the keep-1 reference (the command's description says so)
        print(
            "epvlm eval: note: the dense selector keeps every token; --keep "
            f"{','.join(f'{k:g}' for k in below)} does not apply",
            file=sys.stderr,
        )
    if 1.0 in keeps and any(s != "dense" for s in args.selector):
        # keep 1 keeps every token, whatever the selector: such rows are dense answered again
        again = [s for s in dict.fromkeys(args.selector) if s != "dense"]
        print(
            f"epvlm eval: note: at --keep 1 every selector keeps all the tokens: the "
            f"{', '.join(again)} rows at keep 1 repeat dense's answers (each costs a dense run)",
            file=sys.stderr,
        )
    if args.threads is not None:
        require("torch", "vlm", "epvlm eval")
        import torch

        # as epvlm demo sets them: for the whole process, before the model loads
        torch.set_num_threads(args.threads)
    for name in RESULT_FILES:
        expect_final_output(Path(args.output) / name)
    try:
        with _warning_lines("eval", FolderLockWarning, UnreadableAnswersWarning):
            result = evaluate_dataset(
                args.model,
                args.dataset,
                split=args.split,
                selectors=args.selector,
                keeps=keeps,
                window_ms=args.window_ms,
                limit=args.limit,
                device=args.device,
                dtype=args.dtype,
                out_dir=args.output,
                progress=show_progress(args.no_progress),
                seed=args.seed,
                batch_size=args.batch_size,
                rule=args.rule,
                event_mode=args.event_mode,
                force=args.force,
                prompt=args.prompt_format,
                max_new_tokens=args.max_new_tokens,
                on_resume=_print_resume,
            )
    except EvalInterrupted as exc:
        _resumable_interrupt(exc, args)
    if args.json:
        print(json.dumps(json_ready(result["rows"]), indent=2, allow_nan=False))
    else:
        print(results_table(result["rows"]), end="")
        print(
            f"results: {Path(args.output) / 'results.json'} (table.md, samples.jsonl, accuracy_vs_flops.png)"
        )
    return 0


def _check_dataset(args: argparse.Namespace) -> None:
    """Refuse what dataset.json settles (a bad --dataset or --split, a split without samples,
    a --window-ms longer than the dataset's window) with `epvlm.evaluate.evaluate_dataset`'s
    words, before torch loads, and say so when --limit is more than the split holds: the whole
    split is evaluated, and a row's n below the limit read as samples lost. The split's count
    in dataset.json is the one samples.jsonl holds (the evaluation refuses one that differs);
    samples.jsonl, which the evaluation reads (all splits' lines, decoded and hashed: ~0.7 s
    per 100,000), is read here only for a window the dataset's cannot hold, to name the
    window its samples store."""
    from epvlm.evaluate import empty_split_error, stored_window_ms
    from eventsim.datasets import EventVQADataset, read_manifest

    try:
        manifest = read_manifest(args.dataset)
    except DatasetError as exc:
        hint = _checkpoint_hint(args.dataset)
        if not hint:
            raise
        raise DatasetError(f"{exc}{hint}") from None
    splits = manifest["splits"]
    if args.split not in splits:
        # refused there, naming the splits the dataset has
        EventVQADataset(args.dataset, split=args.split).close()
    held = int(splits[args.split]["samples"])
    if held == 0:
        raise empty_split_error(args.split, args.dataset, splits)
    if args.limit is not None and held < args.limit:
        from eventsim._text import plural

        print(
            f"epvlm eval: note: --limit {args.limit:,} is more than the split's {held:,} "
            f"{plural(held, 'sample')}: evaluating all {held:,}",
            file=sys.stderr,
        )
    if args.window_ms is None:
        return
    window_us = int(manifest["window_us"])
    if args.window_ms * 1000 > window_us:
        with EventVQADataset(args.dataset, split=args.split) as ds:
            n = len(ds) if args.limit is None else min(args.limit, len(ds))
            stored_window_ms(args.window_ms, ds.records[:n], window_us, args.dataset)


def _check_results_folder(args: argparse.Namespace) -> None:
    """Refuse an output folder holding a dataset, or results without --force, and one that
    cannot be created or written, with `epvlm.evaluate.evaluate_dataset`'s words, before
    torch loads. A folder holding an unfinished evaluation is left to it: whether this run
    resumes it depends on settings that need torch to tell."""
    import os

    from epvlm.results import PARTIAL_FILES, check_results_folder, lock_results_folder

    out = Path(args.output)
    unfinished = any((out / name).exists() for name in PARTIAL_FILES)
    check_results_folder(out, args.dataset, args.force or unfinished)
    there = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not there.is_dir() or not os.access(there, os.W_OK | os.X_OK):
        # the lock the evaluation takes first says why in its words; where it can be taken
        # after all (root, ACLs), it goes again with any folder it made
        lock_results_folder(out).release()


def _check_prompt_format(model: str, requested: str) -> None:
    """Refuse --prompt-format chat for a checkpoint without a chat template in
    `epvlm.processing.prompt_format`'s words, before transformers loads, where the folder's
    files settle it: transformers reads a template from chat_template.jinja, chat_template.json,
    the additional_chat_templates folder or a "chat_template" field of its JSON files, so a
    folder in which no file is named so or holds that word has none. Only a folder the
    processor loads from is judged (tokenizer_config.json, a processor config and a tokenizer,
    its JSON files whole): the load's refusal of a folder without them, or of a JSON file cut
    short (a template may have been cut off with it), names what to fix, where 'use plain'
    would be the wrong advice. Anything less certain is left to the check after the load."""
    if requested != "chat":
        return
    folder = Path(model)
    try:
        loads = (
            (folder / "tokenizer_config.json").is_file()
            and any(
                (folder / n).is_file()
                for n in ("preprocessor_config.json", "processor_config.json")
            )
            and (
                (folder / "tokenizer.json").is_file()
                or all((folder / n).is_file() for n in ("vocab.json", "merges.txt"))
            )
        )
        if not loads:
            return
        for entry in folder.iterdir():
            if "chat_template" in entry.name:
                return
            if entry.suffix != ".json" or not entry.is_file():
                continue
            text = entry.read_bytes()
            if b"chat_template" in text:
                return
            json.loads(text)
    except (OSError, ValueError):
        # left to the load, which names the unreadable or damaged file
        return
    raise ParameterError(
        "prompt format 'chat' needs a chat template, but the checkpoint's processor and "
        "tokenizer have none; use 'plain'"
    )


def _print_resume(resume: EvalResume) -> None:
    from eventsim._text import plural

    if resume.rebuilt_state is not None:
        print(
            f"epvlm eval: note: {resume.rebuilt_state}; rewritten from this run's settings, "
            "which every kept answer records",
            file=sys.stderr,
        )
    print(
        f"resuming: {resume.done:,} of {resume.total:,} {plural(resume.total, 'answer')} done "
        f"({str(resume.answers_path)!r})",
        file=sys.stderr,
    )


@contextlib.contextmanager
def _warning_lines(command: str, *categories: type[Warning]) -> Iterator[None]:
    """Warnings of ``categories`` (a results folder that cannot be locked, a dataset the demo
    is not made for, answers the scorer could not read) are said as they happen, in one
    warning line, rather than as Python's two-line warning naming library code."""
    import warnings

    with warnings.catch_warnings():
        show = warnings.showwarning

        def one_line(message: Any, category: Any, *rest: Any, **kw: Any) -> None:
            if issubclass(category, categories):
                print(f"epvlm {command}: warning: {message}", file=sys.stderr)
            else:
                show(message, category, *rest)

        for category in categories:
            warnings.simplefilter("always", category)
        warnings.showwarning = one_line
        yield


def _resumable_interrupt(exc: EvalInterrupted, args: argparse.Namespace) -> NoReturn:
    """Ctrl-C with the finished answers kept: `cli_command` prints how many and how to resume
    (a `KeptInterrupt`) in place of "partial outputs removed", and exits 130."""
    from epvlm.results import remove_partial
    from eventsim import outputs
    from eventsim._text import plural

    if outputs.finished_outputs():
        # the Ctrl-C landed as the results were published: they are complete, and
        # cli_command reports that; the kept answers have served their purpose
        with outputs.sigint_deferred(deliver=False):
            remove_partial(exc.out_dir)
        raise exc
    again = "the same command without --force" if args.force else "the same command"
    raise outputs.KeptInterrupt(
        f"{exc.done:,} of {exc.total:,} {plural(exc.total, 'answer')} kept in "
        f"{str(exc.out_dir)!r}; rerun {again} to "
        "resume"
    ) from None


# -------------------------------------------------------------------------------------- flops


def build_flops_parser() -> argparse.ArgumentParser:
    from epvlm.flops import PRESETS

    p = _parser(
        "flops",
        "Analytic FLOPs of Qwen2-VL or Qwen2.5-VL answering about one image, dense and with a "
        "keep fraction (no weights are loaded).",
    )
    p.add_argument(
        "--config",
        # --model as run and eval name a checkpoint; one option, the last given counts
        "--model",
        dest="config",
        default="qwen2-vl-2b",
        type=path_arg("a preset name or a checkpoint directory"),
        metavar="PRESET|DIR",
        help=f"preset ({', '.join(PRESETS)}) or a checkpoint directory (or its config.json) "
        "whose model_type is qwen2_vl or qwen2_5_vl (default qwen2-vl-2b); --model is the "
        "same option",
    )
    p.add_argument(
        "--image-hw",
        nargs=2,
        type=_count_arg(1),
        metavar=("H", "W"),
        default=[448, 448],
        help="image height and width in px (transformers' order; default 448 448)",
    )
    add_renamed_option(p, "--image-size", "--image-hw (H W)")
    p.add_argument(
        "--text-tokens",
        type=_count_arg(0),
        default=32,
        metavar="N",
        help="non-image prompt tokens (default 32)",
    )
    p.add_argument(
        "--new-tokens",
        type=_count_arg(1, "an answer has at least one token, which the prefill's LM head makes"),
        default=1,
        metavar="N",
        help="generated tokens, at least 1 (default 1; the first comes out of the prefill, "
        "so decode counts the rest)",
    )
    p.add_argument(
        "--keep",
        type=_keep_arg,
        default=0.5,
        metavar="FRACTION",
        help="keep fraction in (0, 1] (default 0.5)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


@cli_command(build_flops_parser)
def flops_main(args: argparse.Namespace) -> int:
    from epvlm.errors import ModelDirError
    from epvlm.flops import image_token_grid, load_dims, vlm_flops
    from epvlm.prior import keep_budget
    from epvlm.results import fmt_gflops, fmt_keep
    from eventsim._text import plural

    try:
        dims = load_dims(args.config)
    except ModelDirError as exc:
        hint = _dataset_hint(args.config)
        if not hint:
            raise
        raise ModelDirError(f"{exc}{hint}") from None
    h, w = args.image_hw
    try:
        rows, cols = image_token_grid(dims, h, w)
    except ParameterError as exc:
        # an aspect ratio over the processor's, or no token under the config's min_pixels
        raise ParameterError(f"--image-hw {h} {w}: {exc}") from None
    total = rows * cols
    kept = keep_budget(total, args.keep)
    # Qwen2.5-VL window attention: kept tokens spread over the grid's windows by size
    grids = [(rows, cols)]
    sparse = vlm_flops(dims, kept, args.text_tokens, new_tokens=args.new_tokens, token_grids=grids)
    dense = vlm_flops(dims, total, args.text_tokens, new_tokens=args.new_tokens, token_grids=grids)
    result = {
        "config": str(args.config),
        "image_hw": [h, w],
        "token_grid": [rows, cols],
        "keep": args.keep,
        "kept_tokens": kept,
        "total_tokens": total,
        "text_tokens": args.text_tokens,
        "new_tokens": args.new_tokens,
        "flops": sparse.total,
        "dense_flops": dense.total,
        "flops_vs_dense": sparse.total / dense.total,
        "vision": sparse.vision,
        "merger": sparse.merger,
        "language_model": sparse.language_model,
        "decode": sparse.decode,
        "dense": {
            "vision": dense.vision,
            "merger": dense.merger,
            "language_model": dense.language_model,
            "decode": dense.decode,
        },
    }
    if args.json:
        print(json.dumps(result))
        return 0
    factor = dims.patch_size * dims.merge_size
    size_h, size_w = rows * factor, cols * factor
    # the processor's resize, said: 10000 x 10000 px giving 127x127 tokens, or 10 x 10 px
    # giving 2x2, read as a miscount
    resized = (
        f" (resized to H {size_h} x W {size_w} px: multiples of {factor} px within the "
        "pixel budget)"
        if (size_h, size_w) != (h, w)
        else ""
    )
    print(
        f"config {args.config}: image H {h} x W {w} px{resized} -> {rows}x{cols} = {total} "
        f"image {plural(total, 'token')}"
    )
    parts = (
        ("vision GFLOPs", dense.vision, sparse.vision),
        ("merger GFLOPs", dense.merger, sparse.merger),
        ("LLM GFLOPs", dense.language_model, sparse.language_model),
        ("decode GFLOPs", dense.decode, sparse.decode),
        ("total GFLOPs", dense.total, sparse.total),
    )
    # one decimal count for the table, enough for its smallest part: at one decimal a tiny
    # model's merger and decode read 0.1 and 0.0
    cells = fmt_gflops([f for _, a, b in parts for f in (a, b)])
    table = [
        ("", "dense", f"keep {fmt_keep(args.keep)}"),
        ("image tokens", str(total), str(kept)),
        *((name, cells[2 * k], cells[2 * k + 1]) for k, (name, *_) in enumerate(parts)),
    ]
    # columns widen to their longest cell: a long prompt's LLM GFLOPs at 4 decimals
    # (5,319,512.1147) ran into the next column's
    wide = max(12, 2 + max(len(a) for _, a, _ in table))
    wide_keep = max(14, 2 + max(len(b) for *_, b in table))
    for name, a, b in table:
        print(f"{name:16}{a:>{wide}}{b:>{wide_keep}}")
    print(f"saves {100 * (1 - sparse.total / dense.total):.1f} % of FLOPs")
    return 0


# --------------------------------------------------------------------------------------- demo


def build_demo_parser() -> argparse.ArgumentParser:
    p = _parser(
        "demo",
        "Build the demo event-VQA test split (datasets/shapes-demo.toml), answer it with the "
        "shipped tiny Qwen2-VL for dense, event, random and downsample token selection at keep "
        "fractions 0.75, 0.5 and 0.25, and write a report (accuracy with 95 % intervals, "
        "FLOPs, latency, plots, preview images).",
    )
    p.add_argument(
        "-o",
        "--output",
        default="demo-out",
        type=path_arg("a folder name"),
        metavar="DIR",
        help=f"output folder (default demo-out); {CREATES_FOLDERS}",
    )
    p.add_argument(
        "--limit",
        type=_count_arg(1),
        default=None,
        metavar="N",
        help="use only the first N questions",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing report")
    p.add_argument(
        "--dataset",
        default=None,
        type=path_arg("a dataset folder"),
        metavar="DIR",
        help="an existing build of the demo recipe (or another target-mode shapes recipe) to "
        "use instead of building one",
    )
    p.add_argument(
        "--model",
        default=None,
        type=path_arg("a model directory"),
        metavar="DIR",
        help=f"model directory (default: the package's tiny model, {TINY_MODEL})",
    )
    p.add_argument(
        "--workers",
        type=_count_arg(1),
        default=1,
        metavar="N",
        help="processes for the dataset build (default 1)",
    )
    p.add_argument(
        "--threads",
        type=_threads_arg,
        default=1,
        metavar="N",
        help="torch CPU threads for the model, 1..the usable cores (default 1: the tiny model "
        "gains nothing from more)",
    )
    add_progress_option(p, bars=True)
    # float32 on any device: the report's documented figures are float32 ones, and bfloat16
    # moves some of the tiny model's rows by several points
    _add_device(p, dtype="float32")
    return p


@cli_command(build_demo_parser)
def demo_main(args: argparse.Namespace) -> int:
    from eventsim.errors import require

    if args.model is not None:
        # as eval's and run's: an empty folder or a damaged weight file was refused only once
        # torch had loaded
        _check_model(args.model, dataset_option=True)
    if args.dataset is not None:
        from eventsim.datasets import read_manifest

        # the loader's words for what the folder is instead (a file, a folder holding one)
        read_manifest(args.dataset)
    require("torch", "vlm", "epvlm demo")
    require("transformers", "vlm", "epvlm demo")
    _check_device(args)
    from epvlm.demo import run_demo
    from epvlm.demo.pipeline import DemoDatasetWarning
    from epvlm.errors import FolderLockWarning
    from epvlm.evaluate import UnreadableAnswersWarning
    from eventsim._text import plural
    from eventsim.outputs import expect_final_output

    # written last: once it is there, a Ctrl-C finds the demo done
    expect_final_output(Path(args.output) / "report.md")
    with _warning_lines("demo", DemoDatasetWarning, FolderLockWarning, UnreadableAnswersWarning):
        result = run_demo(
            args.output,
            limit=args.limit,
            force=args.force,
            model_dir=args.model,
            dataset_dir=args.dataset,
            workers=args.workers,
            threads=args.threads,
            progress=show_progress(args.no_progress),
            device=args.device,
            dtype=args.dtype,
            command=_demo_command(args),
        )
    s = result.summary
    parts = [f"{n} {v}" for v, n in s["scenarios"].items()]
    untargeted = s["n_questions"] - sum(s["scenarios"].values())
    if untargeted:
        parts.append(f"{untargeted} without a single target")
    scenarios = ", ".join(parts)
    print(
        f"answered {s['n_questions']} {plural(s['n_questions'], 'question')} "
        f"({s['scenario_field']}: {scenarios}) x {len(s['rows'])} "
        f"{plural(len(s['rows']), 'configuration')} in {result.elapsed_s:.0f} s in all "
        "(start-up, dataset, answers and report: the report's Time line splits it)"
    )
    print(f"report: {result.report}")
    print(f"results: {result.results_json}")
    return 0


def _demo_command(args: argparse.Namespace) -> str:
    parts = ["epvlm demo", "-o", args.output]
    if args.limit is not None:
        parts += ["--limit", str(args.limit)]
    if args.dataset:
        parts += ["--dataset", args.dataset]
    if args.model:
        parts += ["--model", args.model]
    for option in ("device", "dtype"):
        if getattr(args, option) != "auto":
            parts += [f"--{option}", getattr(args, option)]
    return " ".join(parts)


# ------------------------------------------------------------------------------------ dispatch

COMMANDS = {
    "run": (run_main, "answer one question with EP-VLM token selection"),
    "eval": (eval_main, "evaluate selectors and keep fractions on a built dataset"),
    "flops": (flops_main, "analytic FLOPs, dense vs a keep fraction (no weights needed)"),
    "demo": (demo_main, "end-to-end EP-VLM demo on the built-in data (build, evaluate, report)"),
}


def main(argv: list[str] | None = None) -> int:
    return run_script("epvlm", __version__, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
