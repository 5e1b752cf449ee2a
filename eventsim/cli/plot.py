"""``eventsim plot FILE -o OUT.png``: one summary figure of an event file (needs eventsim[viz])."""

from __future__ import annotations

import argparse
from pathlib import Path

from eventsim.cli.common import (
    CREATES_FOLDERS,
    add_implausible_times_option,
    add_layout_option,
    add_progress_option,
    add_reading_options,
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
from eventsim.outputs import check_replaceable, expect_final_output


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(
        "plot",
        "Summary figure of an event file: event rate over time by polarity, spatial heat map, "
        "per-pixel rate histogram and an x-y-t scatter of the busiest short window.",
    )
    p.add_argument(
        "file", type=path_arg("an event file"), help="event file (any layout eventsim reads)"
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        type=path_arg("a .png, .pdf or .svg file name"),
        metavar="OUT",
        help=f".png, .pdf or .svg; {CREATES_FOLDERS}",
    )
    p.add_argument(
        "--bins",
        type=int,
        default=200,
        help="time bins of the rate plot (default 200; fewer for a recording shorter than "
        "that many µs: a bin is at least 1 µs)",
    )
    p.add_argument("--dpi", type=int, default=110, help="resolution of a PNG (default 110)")
    p.add_argument(
        "--sensor-size",
        type=parse_sensor_size,
        metavar="WxH",
        help="sensor size for files that do not record it",
    )
    add_layout_option(p, "the file")
    add_reading_options(p)
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    add_implausible_times_option(p, "plot")
    add_progress_option(p)
    return p


@cli_command(build_parser)
def main(args: argparse.Namespace) -> int:
    from eventsim.render.summary import plot_summary

    if not 1 <= args.bins <= 100_000:
        raise ParameterError(f"--bins {args.bins} must be 1..100000")
    if not 10 <= args.dpi <= 2000:
        raise ParameterError(f"--dpi {args.dpi} must be 10..2000")

    def check_output() -> None:
        from eventsim.render.writers import check_creatable

        # a folder or device named OUT is refused as such, not as existing: --force would not
        # help
        check_replaceable(args.output)
        if Path(args.output).exists() and not args.force:
            raise OutputExistsError(f"output {args.output!r} exists; pass --force to overwrite it")
        check_creatable(args.output)
        make_parent_folders(args.output)

    check_events_file(
        args.file,
        args.sensor_size,
        command="plot",
        allow_implausible_times=args.allow_implausible_times,
        layout=args.layout,
        opened=check_output,
        **reading_options(args),
    )
    expect_final_output(args.output)
    out = plot_summary(
        args.file,
        args.output,
        force=args.force,
        n_bins=args.bins,
        dpi=args.dpi,
        progress=show_progress(args.no_progress),
        sensor_size=args.sensor_size,
        layout=args.layout,
        **reading_options(args),
    )
    print(f"wrote {out}")
    return 0
