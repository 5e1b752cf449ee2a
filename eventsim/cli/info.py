"""``eventsim info FILE``: summarise an event file (or, for a folder, a built dataset)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eventsim._text import plural, rate_text, shell_command
from eventsim.cli.common import (
    add_layout_option,
    add_reading_options,
    cli_command,
    make_parser,
    option_words,
    parse_sensor_size,
    path_arg,
    reading_options,
)
from eventsim.datasets._formats import INPUTS_FILE, STATE_FILE
from eventsim.errors import DatasetError, EventFileError, ParameterError
from eventsim.events import StreamCheck

if TYPE_CHECKING:
    from eventsim.io.reader import EventFileReader


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(
        "info",
        "Print events, duration, rate, sensor size, polarity balance, parameters and source of "
        "an event file in any supported layout. For a folder, describe the built dataset.",
    )
    p.add_argument(
        "path",
        type=path_arg("an event file or a dataset folder"),
        help="event file, or a dataset folder built by 'eventsim build' (or its dataset.json)",
    )
    p.add_argument(
        "--sensor-size",
        type=parse_sensor_size,
        metavar="WxH",
        help="sensor size for files that do not record one",
    )
    add_layout_option(p, "the file")
    add_reading_options(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when the events break the format's rules (unsorted time, polarity not 0/1, "
        "coordinates outside the sensor); without it such a file gets a warning",
    )
    return p


def summarize(reader: EventFileReader) -> dict[str, Any]:
    """Statistics of an open reader, in one pass over packets that also validates the stream
    (`StreamCheck`); ``problem`` is the first broken rule, or None, naming an event by its
    index in the file (a reader that sorted the file's events counts them sorted). Polarity 1
    counts as ON, 0 and -1 as OFF: a file mixing -1/+1 with 0/1 (the problem then) has both
    among its OFF events. Any other value (2, the time column of a file read in the wrong
    order, the -128 read for a value int8 cannot hold) is no polarity: it counts neither ON nor
    OFF but as ``unreadable_polarity``. Polarity the reader kept rather than refused (its
    ``polarity_kept``) is said with the refusal's hint on the columns' order; where the reader
    read a value as -128 (one int8 cannot hold), or the check saw no polarity problem first, in
    the refusal's own words (`convert` and `render` refuse the file so)."""
    n = len(reader)
    n_on = n_off = 0
    t_min = t_max = None
    # every reader takes -1/+1 polarity as well as 0/1, an HDF5 one too (told by its first
    # values): a -1 it leaves comes from a file mixing the two, named in convert's words
    check = StreamCheck(reader.sensor_size, signed_polarity=True)
    for packet in reader.iter_chunks(1 << 20):
        if not len(packet):
            continue
        n_on += int(np.count_nonzero(packet["p"] == 1))
        n_off += int(np.count_nonzero((packet["p"] == 0) | (packet["p"] == -1)))
        check.check(packet)
        lo, hi = int(packet["t"].min()), int(packet["t"].max())
        t_min = lo if t_min is None else min(t_min, lo)
        t_max = hi if t_max is None else max(t_max, hi)
    problem = check.result
    # a mix an HDF5 reader let through unseen by the check: its -1/+1 column's stray 0 reads
    # as 0 like each -1 (`EventReader.polarity_mix`)
    mix = getattr(reader, "polarity_mix", None)
    if mix is not None and (problem is None or mix.at < problem.at):
        problem = mix
    message = (
        None if problem is None else problem.renumbered(getattr(reader, "file_index", None)).message
    )
    kept = getattr(reader, "polarity_kept", None)
    if kept is not None:
        if kept.unreadable or problem is None or not problem.kind.startswith("polarity"):
            # a value read as -128 (int8 cannot hold it), which the check may name, or another
            # problem first: the reader's refusal names the value as the file writes it
            message = kept.refusal
        else:
            message = f"{message}{kept.hint}"
    # no events, no times: the readers' 0 for them is a stand-in, which scripts took for t = 0
    t_start = t_min
    t_end = None if t_max is None else t_max + 1  # exclusive, like the readers
    duration_s = None if t_start is None or t_end is None else (t_end - t_start) / 1e6
    inferred = bool(getattr(reader, "sensor_size_inferred", False))
    return {
        "path": str(reader.path),
        "layout": reader.layout,
        "events": n,
        "t_start_us": t_start,
        "t_end_us": t_end,
        "t_last_us": t_max,
        "duration_s": duration_s,
        # events at one time have no rate: the 1 us of the exclusive end is a convention, and
        # 1 event / 1 us would read as 1 Mev/s
        "rate_ev_per_s": (
            n / duration_s
            if duration_s is not None and t_min is not None and t_max is not None and t_max > t_min
            else None
        ),
        # an empty file that does not record its size has none: the reader's 1x1 is a stand-in
        "sensor_size": None if inferred and n == 0 else list(reader.sensor_size),
        "sensor_size_inferred": inferred,
        "on_events": n_on,
        "off_events": n_off,
        "unreadable_polarity": n - n_on - n_off,
        "on_fraction": n_on / (n_on + n_off) if n_on + n_off else None,
        "time_unit_detected": reader.time_unit_detected,
        "frames": reader.num_frames,
        "params": reader.params,
        "source": reader.source,
        "notes": [option_words(n) for n in reader.notes],
        "problem": message,
    }


def _rate(r: float | None, events: int) -> str:
    if r is None:
        return "n/a (no events)" if not events else "n/a (all events at one time)"
    return rate_text(r)


def _seconds(seconds: float) -> str:
    """Seconds to the microsecond the times are in, without an exponent ('1e-06' for one µs)
    or trailing zeros."""
    return f"{seconds:.6f}".rstrip("0").rstrip(".")


def _duration(seconds: float | None) -> str:
    return "n/a (no events)" if seconds is None else f"{_seconds(seconds)} s"


def _time_range(s: dict[str, Any]) -> str:
    # the first and the last event's times: t_end_us is one past the last, the readers' end
    if s["t_last_us"] is None:
        return "n/a (no events)"
    return f"{s['t_start_us']} .. {s['t_last_us']} us (first and last event)"


def format_summary(s: dict[str, Any]) -> str:
    from eventsim.io.layouts import TIME_UNITS

    if s["sensor_size"] is None:
        size = "unknown (not recorded, and no events to infer it from)"
    else:
        w, h = s["sensor_size"]
        size = f"{w}x{h}" + (" (inferred from coordinates)" if s["sensor_size_inferred"] else "")
    unreadable = s["unreadable_polarity"]
    if s["on_fraction"] is None:
        polarity = f"n/a ({unreadable:,} unreadable)" if unreadable else "n/a (no events)"
    else:
        counts = f"{s['on_events']:,} ON, {s['off_events']:,} OFF"
        if unreadable:
            counts += f", {unreadable:,} unreadable"
        polarity = f"{s['on_fraction']:.1%} ON ({counts})"
    lines = [
        f"file:            {s['path']}",
        f"layout:          {s['layout']}",
        f"events:          {s['events']:,}",
        f"time range:      {_time_range(s)}",
        f"duration:        {_duration(s['duration_s'])}",
        f"rate:            {_rate(s['rate_ev_per_s'], s['events'])}",
        f"sensor size:     {size}",
        f"polarity:        {polarity}",
        f"time unit:       {TIME_UNITS.get(s['time_unit_detected'], s['time_unit_detected'])}"
        " in the file",
    ]
    if s["frames"]:
        lines.append(f"frames:          {s['frames']}")
    for title, d in (("parameters", s["params"]), ("source", s["source"])):
        if d:
            lines.append(f"{title}:")
            lines += [f"  {k} = {json.dumps(v)}" for k, v in sorted(d.items())]
        else:
            lines.append(f"{title + ':':<16} (none recorded)")
    lines += [f"note: {n}" for n in s["notes"]]
    return "\n".join(lines)


def _refuse_reading_options(args: argparse.Namespace, path: Path) -> None:
    """A dataset is described from its manifest: options on how to read an event file would
    be ignored (``--time-unit ns`` on a dataset printed the same figures without a word)."""
    for flag, value, default in (
        ("--sensor-size", args.sensor_size, None),
        ("--layout", args.layout, None),
        ("--time-unit", args.time_unit, None),
        ("--columns", args.columns, "txyp"),
    ):
        if value != default:
            raise ParameterError(
                f"{flag} applies to an event file, not to the folder {str(path)!r} (info "
                "describes a built dataset from its manifest; its shards record how they are "
                "stored)"
            )


# the files a build writes beside its shards, and what each holds
_DATASET_FILES = {
    "samples.jsonl": "the labels of the dataset's samples (a JSON line each)",
    "errors.jsonl": "the samples the build skipped and why (a JSON line each)",
    "preview.png": "a contact sheet of the dataset's first samples",
    INPUTS_FILE: "the build's record of the images and videos it read",
    STATE_FILE: "the state of an unfinished build",
}


def _refuse_dataset_files(path: Path) -> None:
    """A file a build wrote beside its shards is not an event file: name the dataset it is in
    and the commands that read it, as one of its shards is answered. The command ends the
    line, unquoted: a quoted path inside quotes would not read as one command."""
    what = _DATASET_FILES.get(path.name)
    folder = path.parent
    if what is None or not any((folder / n).is_file() for n in ("dataset.json", STATE_FILE)):
        return
    raise EventFileError(
        f"{str(path)!r} holds {what}, not events: it is a file of the eventsim dataset "
        f"{str(folder)!r}; read it with EventVQADataset({str(folder)!r}, split) in Python, "
        "check it with 'eventsim verify' (of the same folder), or describe it: "
        f"{shell_command('eventsim', 'info', folder)}"
    )


@cli_command(build_parser)
def main(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.name == "dataset.json" and (path.is_file() or (path.parent / STATE_FILE).is_file()):
        # a dataset's manifest stands for the dataset; an unfinished build's is not there yet
        path = path.parent
    if path.is_dir():
        _refuse_reading_options(args, path)
        try:
            from eventsim.datasets import read_manifest
            from eventsim.datasets.inspection import (
                describe_dataset,
                shards_finished_told,
                summarize_dataset,
            )
            from eventsim.datasets.loader import unfinished_builds_told
        except ImportError as exc:
            raise DatasetError(f"cannot describe dataset folders: {exc}") from None
        with shards_finished_told(path), unfinished_builds_told(path):
            manifest = read_manifest(path)
        # the summary comes from the manifest: say when the shards it lists are not all there
        bad = [
            s["file"]
            for s in manifest["shards"]
            if not (path / s["file"]).is_file() or (path / s["file"]).stat().st_size != s["bytes"]
        ]
        if args.json:
            summary = summarize_dataset(path, manifest=manifest)
            print(json.dumps({**summary, "damaged_shards": bad}, indent=2))
        else:
            print(describe_dataset(path, manifest=manifest))
        if bad:
            level = "error" if args.check else "warning"
            print(
                f"eventsim info: {level}: {len(bad)} {plural(len(bad), 'shard')} missing or of "
                f"the wrong size, first {bad[0]!r}; check the dataset: "
                f"{shell_command('eventsim', 'verify', path)}",
                file=sys.stderr,
            )
            return 1 if args.check else 0
        return 0
    if not path.exists():
        raise EventFileError(f"{str(path)!r} does not exist")
    _refuse_dataset_files(path)
    from eventsim.io import EventReader, open_events

    # bad polarity is reported below (a warning, or an error with --check) whatever the
    # layout, not refused while reading
    with open_events(
        path,
        sensor_size=args.sensor_size,
        layout=args.layout,
        check_polarity=False,
        **reading_options(args),
    ) as reader:
        if isinstance(reader, EventReader):
            # opening checks a foreign ms_to_idx only where cheap; info reads every event
            # anyway, so a bad entry no read would use yet is reported too
            reader.check_ms_index()
        s = summarize(reader)
    print(json.dumps(s, indent=2) if args.json else format_summary(s))
    if s["problem"] is not None:
        level = "error" if args.check else "warning"
        print(
            f"eventsim info: {level}: {path}: invalid events, the figures above are not "
            f"trustworthy: {s['problem']}",
            file=sys.stderr,
        )
        return 1 if args.check else 0
    return 0
