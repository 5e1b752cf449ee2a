"""``eventsim convert IN OUT``: convert between event file formats."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from eventsim._text import plural
from eventsim.cli.common import (
    CREATES_FOLDERS,
    add_implausible_times_option,
    add_layout_option,
    add_progress_option,
    add_reading_options,
    check_output,
    cli_command,
    make_parser,
    parse_sensor_size,
    path_arg,
    reading_options,
    show_progress,
    tell_reading,
)
from eventsim.errors import EventFileError, InvalidEventsError, ParameterError
from eventsim.events import StreamProblemError
from eventsim.outputs import describe_os_error

PACKET_EVENTS = 1 << 20


def build_parser() -> argparse.ArgumentParser:
    from eventsim.io.formats import FORMATS, Format, format_extensions

    def named(f: Format) -> str:
        if f.extensions:
            return f"{f.name} ({', '.join(f.extensions)})"
        # its files carry another format's suffix, so only --to picks it
        return f"{f.name} ({', '.join(format_extensions(f.name))} with --to {f.name})"

    listing = "; ".join(named(f) for f in FORMATS.values())
    p = make_parser(
        "convert",
        "Convert an event file (any layout 'eventsim info' reads) to another format. "
        f"Output formats: {listing}. Writing AEDAT4, EVT 2.0, DAT, ES and CSV needs "
        "eventsim[formats] (CSV is read without it); EVT 3.0 is written and read without it. "
        "v2e and evqa are the HDF5 layouts v2e and EvQA read. DAT keeps 32-bit µs times: a gap "
        "between events of 35.8 min or more may not fit, and is refused.",
    )
    p.add_argument(
        "input", type=path_arg("an event file"), metavar="INPUT", help="input event file"
    )
    p.add_argument(
        "output",
        type=path_arg("an output file name"),
        metavar="OUTPUT",
        help=f"output file; its extension picks the format unless --to; {CREATES_FOLDERS}",
    )
    p.add_argument(
        "--to", dest="fmt", default=None, metavar="FMT", help=f"output format: {', '.join(FORMATS)}"
    )
    p.add_argument(
        "--sensor-size",
        type=parse_sensor_size,
        metavar="WxH",
        help="sensor size when the input does not record one (e.g. a .npy)",
    )
    add_layout_option(p, "the input")
    add_reading_options(p)
    p.add_argument(
        "--sort",
        action="store_true",
        help="write the events sorted by time (a stable sort: equal times keep the input's "
        "order) when an HDF5 input's events/t is not sorted; other inputs are sorted on "
        "reading. Past 33.5 M events it sorts a range of times at a time, re-reading the input",
    )
    add_progress_option(p)
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    add_implausible_times_option(
        p,
        "convert",
        ". --force does this too, deprecated: in a later release it will only overwrite OUTPUT",
    )
    return p


def _counted(chunks: Iterator[Any], bar: Any) -> Iterator[Any]:
    for chunk in chunks:
        yield chunk
        bar.update(len(chunk))  # once the writer has taken it


class _Given:
    """The packets given to the writer, the last of them kept with its place in the stream:
    the writer names an event by that place."""

    def __init__(self, packets: Iterator[np.ndarray]) -> None:
        self._packets = packets
        self.start = 0
        self.last: np.ndarray | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        for packet in self._packets:
            if self.last is not None:
                self.start += len(self.last)
            self.last = packet
            yield packet

    def time_of(self, i: int) -> int | None:
        """The time of the stream's event ``i``; None when it is not in the last packet."""
        if self.last is None or not self.start <= i < self.start + len(self.last):
            return None
        return int(self.last["t"][i - self.start])


def _index_in_file(reader: Any, t: int, i: int) -> int | None:
    """The index in ``reader``'s file of the event at place ``i`` of its events sorted stably
    by time, whose time is ``t``: a stable sort keeps the events of time ``t`` in the file's
    order, so it is the (``i`` - k)th of them in the file, k events being earlier than ``t``.
    One pass over the file, only once writing has failed; None if the file does not agree."""
    before = 0
    equal = []
    for a in range(0, len(reader), PACKET_EVENTS):
        times = reader.read_index_columns(a, a + PACKET_EVENTS).t
        before += int(np.count_nonzero(times < t))
        equal.append(int(np.count_nonzero(times == t)))
    rank = i - before
    if rank < 0:
        return None
    for j, count in enumerate(equal):
        if rank < count:
            a = j * PACKET_EVENTS
            times = reader.read_index_columns(a, a + PACKET_EVENTS).t
            return a + int(np.flatnonzero(times == t)[rank])
        rank -= count
    return None


def _in_input_order(reader: Any, given: _Given, exc: StreamProblemError) -> InvalidEventsError:
    """The writer's refusal ``exc`` of the events `iter_sorted` gave it, with the events it
    names by their place in time order named by their index in the input file."""
    problem = exc.problem
    found: dict[int, int] = {}
    for place in (problem.index, problem.other_index):
        if place is None:
            continue
        t = given.time_of(place)
        index = None if t is None else _index_in_file(reader, t, place)
        if index is None:
            return InvalidEventsError(f"{exc} (events counted in time order, as --sort wrote them)")
        found[place] = index
    other = None if problem.other_index is None else found[problem.other_index]
    return exc.said_of(replace(problem, index=found[problem.index], other_index=other))


def _as_of_input(exc: StreamProblemError, reader: Any, given: _Given | None) -> InvalidEventsError:
    """The writer's refusal ``exc`` of the events it was given, said of the input file: its
    events named by their index in the file, which differs where the reader sorted them or
    --sort did."""
    from eventsim.io import EventReader

    problem = exc.problem
    if problem.kind == "polarity_mix":
        # the readers take -1/+1 as well as 0/1 (an HDF5 reader too, told by its first
        # values), so a mix in a file expects either throughout, where the writer's check of
        # the events given to it expects 0/1
        problem = replace(problem, signed=True)
    if reader.file_index is not None:
        return exc.said_of(problem.renumbered(reader.file_index))
    if given is not None:
        return _in_input_order(reader, given, exc.said_of(problem))
    if problem.kind == "unsorted" and isinstance(reader, EventReader):
        return InvalidEventsError(
            f"{exc.said_of(problem)}; pass --sort to write them sorted by time (equal times "
            "keep the input's order)"
        )
    return exc.said_of(problem)


@cli_command(build_parser)
def main(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from eventsim.io import EventReader, open_events
    from eventsim.io.formats import (
        FORMATS,
        FRAME_FORMATS,
        format_from_path,
        frames_kind,
        write_stream,
    )
    from eventsim.io.layouts import check_event_path

    src, dst = Path(args.input), Path(args.output)
    kind = frames_kind(dst)
    if kind is not None and args.fmt is None:
        # the user wants a picture of the events, which is render's work
        raise ParameterError(
            f"OUTPUT {str(dst)!r} is {kind}, which holds frames, not events: convert writes "
            f"event files; to draw the events as {kind.split(' (')[0]}, run 'eventsim render "
            f"{src} -o {dst}'; to write an event file, give OUTPUT an event file's suffix or "
            f"pass --to {'/'.join(FORMATS)}"
        )
    fmt = format_from_path(dst, args.fmt)
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise ParameterError(f"input and output are the same file {str(src)!r}")
    # said before the output is checked: 'output exists' sent the user to add --force only
    # to be told this. The input's contents are read after it, as reading may take long
    check_event_path(src)
    try:
        # an input this user may not read is named before the output too (not blocking on
        # a FIFO with no writer: its reading would)
        os.close(os.open(src, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)))
    except OSError as exc:
        raise EventFileError(f"cannot read {describe_os_error(exc)}") from None
    check_output(dst, args.force, final=True)
    with open_events(
        src,
        sensor_size=args.sensor_size,
        layout=args.layout,
        **reading_options(args),
    ) as reader:
        tell_reading(
            reader,
            src,
            "convert",
            time_unit=args.time_unit,
            allow=args.allow_implausible_times,
            force=args.force,
        )
        frames = None
        if reader.num_frames:
            if fmt in FRAME_FORMATS:
                frames = ((reader.read_frame(i), int(t)) for i, t in enumerate(reader.frame_ts_us))
            else:
                print(
                    f"eventsim convert: note: {reader.num_frames} "
                    f"{plural(reader.num_frames, 'frame')} not copied; "
                    f"{fmt} stores events only",
                    file=sys.stderr,
                )
        source: dict[str, Any] = {"converted_from": str(src), "input_layout": reader.layout}
        if reader.source:
            source["input_source"] = reader.source
        # only an HDF5 input (EventReader) is read in the file's order; the other readers
        # sort what they read
        given = None
        if args.sort and isinstance(reader, EventReader) and reader.time_disorder() is not None:
            source["sorted_by_time"] = True
            given = _Given(reader.iter_sorted(PACKET_EVENTS))
            chunks: Iterator[np.ndarray] = iter(given)
        else:
            chunks = reader.iter_chunks(PACKET_EVENTS)
        try:
            with tqdm(
                total=len(reader),
                unit="event",
                unit_scale=True,
                desc="convert",
                disable=not show_progress(args.no_progress),
                dynamic_ncols=True,
            ) as bar:
                n = write_stream(
                    dst,
                    _counted(chunks, bar),
                    reader.sensor_size,
                    fmt=fmt,
                    force=args.force,
                    params=reader.params,
                    source=source,
                    frames=frames,
                )
        except StreamProblemError as exc:
            # the writer counts the events it was given, which the reader may have sorted
            raise _as_of_input(exc, reader, given) from None
        w, h = reader.sensor_size
    # HDF5 is recognised by its contents, faery's formats only by the right suffix (which
    # format_from_path insists on); these three are found by suffix or by --layout. Said once
    # the output is written: before an error about the output or the input it only misleads
    if fmt in ("npy", "npz", "txt") and dst.suffix.lower() != f".{fmt}":
        print(
            f"eventsim convert: note: {dst.name} does not end in .{fmt}; read it back with "
            f"--layout {fmt}",
            file=sys.stderr,
        )
    if source.get("sorted_by_time"):
        print(
            "eventsim convert: note: the input's events were not sorted by time; wrote them "
            "sorted (equal times in the input's order)",
            file=sys.stderr,
        )
    print(f"wrote {n:,} {plural(n, 'event')} ({w}x{h}) to {dst} as {fmt}")
    return 0
