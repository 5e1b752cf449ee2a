"""``eventsim build RECIPE -o DIR``: build an event-VQA dataset from a recipe."""

from __future__ import annotations

import argparse
from pathlib import Path

from eventsim._system import usable_cores
from eventsim.cli.common import cli_command, make_parser, parse_assignments
from eventsim.errors import ParameterError
from eventsim.options import EXECUTORS
from eventsim.outputs import expect_final_output


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(
        "build",
        "Build an event-VQA dataset (frames + DVS events + questions) from a TOML recipe. "
        "Re-running an interrupted build finishes it without redoing complete shards.",
    )
    p.add_argument(
        "recipe", help="recipe .toml file, or the name of a built-in recipe (shapes-vqa)"
    )
    p.add_argument("-o", "--output", required=True, help="output dataset folder")
    p.add_argument(
        "--limit", type=int, default=None, help="build only the first N samples of each split"
    )
    p.add_argument(
        "--set",
        dest="assign",
        action="append",
        metavar="FIELD=VALUE",
        default=[],
        help="override a recipe field, e.g. dataset.seed=3, splits.test=100, "
        "simulator.params.pos_threshold=0.25 (validated like the file)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=usable_cores(),
        help="parallel worker processes at most (default: the usable cores, here "
        "%(default)s); the pool is sized to the cores free for the build, and while fewer "
        "than two are free it builds in its own process",
    )
    p.add_argument(
        "--exact-workers",
        action="store_true",
        help="start all --workers processes even when the cores are busy",
    )
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local process pool, or Dask distributed (extra 'dask')",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDR",
        help="Dask scheduler address (tcp://host:8786); default: a local cluster",
    )
    p.add_argument("--strict", action="store_true", help="stop at the first bad sample")
    p.add_argument(
        "--force", action="store_true", help="replace an existing different build in DIR"
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--no-preview", action="store_true", help="do not write DIR/preview.png (a contact sheet)"
    )
    return p


@cli_command(build_parser)
def main(args: argparse.Namespace) -> int:
    from eventsim.datasets.engine import build_dataset

    if args.limit is not None and args.limit < 1:
        # like 'epvlm eval --limit': an empty dataset is never what was meant
        raise ParameterError(f"--limit {args.limit} must be 1 or more (omit it to build all)")
    if args.workers < 1:
        raise ParameterError(f"--workers {args.workers} must be 1 or more")

    # the manifest is written last: once it is there the dataset is complete, and a Ctrl-C
    # during the summary or the preview finds the build done
    expect_final_output(Path(args.output) / "dataset.json")
    summary = build_dataset(
        args.recipe,
        args.output,
        limit=args.limit,
        overrides=parse_assignments(args.assign),
        workers=args.workers,
        executor=args.executor,
        scheduler=args.scheduler,
        strict=args.strict,
        force=args.force,
        progress=not args.no_progress,
        exact_workers=args.exact_workers,
    )
    print(summary.text())
    if not args.no_preview and summary.n_samples:
        from eventsim.datasets.inspection import preview_dataset

        print(f"preview of the first samples: {preview_dataset(args.output)}")
    print(f"inspect it with: eventsim info {args.output}")
    return 0
