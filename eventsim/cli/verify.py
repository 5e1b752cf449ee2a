"""``eventsim verify DIR``: re-check a built dataset's checksums, events and frames."""

from __future__ import annotations

import argparse

from eventsim._text import shell_command
from eventsim.cli.common import (
    add_progress_option,
    cli_command,
    make_parser,
    path_arg,
    show_progress,
)
from eventsim.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(
        "verify",
        "Re-check a built event-VQA dataset: shard checksums, counts, event order, bounds and "
        "windows, frame shapes, the skipped samples errors.jsonl lists. Exits 1 when anything "
        "is wrong.",
    )
    p.add_argument(
        "dataset", type=path_arg("a dataset folder"), help="dataset folder, or its dataset.json"
    )
    add_progress_option(p)
    return p


@cli_command(build_parser)
def main(args: argparse.Namespace) -> int:
    from eventsim.datasets.inspection import shards_finished_told, verify_dataset
    from eventsim.datasets.loader import dataset_of_file, dataset_root, unfinished_builds_told

    root = dataset_root(args.dataset)
    if not root.exists():
        raise InputError(f"dataset folder {args.dataset!r} does not exist")
    if not root.is_dir():
        holder = dataset_of_file(root)
        # the command ends the line, unquoted: a quoted path inside quotes would not read as
        # one command
        if holder is not None:
            # a shard or samples.jsonl, which 'eventsim info --check' cannot read as events
            raise InputError(
                f"{args.dataset!r} is a file, not a dataset folder; verify the dataset it is "
                f"in: {shell_command('eventsim', 'verify', holder)}"
            )
        raise InputError(
            f"{args.dataset!r} is a file, not a dataset folder; check an event file with: "
            f"{shell_command('eventsim', 'info', '--check', args.dataset)}"
        )
    # the loader cannot tell a running build from a stopped one; who holds the build's lock
    # can, as info says it
    with shards_finished_told(root), unfinished_builds_told(root):
        report = verify_dataset(root, progress=show_progress(args.no_progress))
    print(report.text())
    return 0 if report.ok else 1
