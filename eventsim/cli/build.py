"""``eventsim build RECIPE -o DIR``: build an event-VQA dataset from a recipe."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from eventsim._system import usable_cores
from eventsim._text import plural, shell_command
from eventsim.cli.common import (
    CREATES_FOLDERS,
    add_progress_option,
    cli_command,
    make_parser,
    parse_assignments,
    path_arg,
    show_progress,
)
from eventsim.errors import DatasetError, ParameterError, RecipeError
from eventsim.options import EXECUTORS
from eventsim.outputs import KeptInterrupt, expect_final_output

if TYPE_CHECKING:
    from eventsim.datasets.engine import BuildSummary
    from eventsim.datasets.recipe import Recipe


def _builtin_names() -> str:
    from eventsim.datasets.recipe import builtin_recipe_dir

    return ", ".join(sorted(p.stem for p in builtin_recipe_dir().glob("*.toml"))) or "none"


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(
        "build",
        "Build an event-VQA dataset (frames + DVS events + questions) from a TOML recipe. "
        "Re-running an interrupted build finishes it without redoing complete shards.",
    )
    p.add_argument(
        "recipe",
        type=path_arg("a recipe .toml file, a built-in recipe name or a dataset's dataset.json"),
        help=f"recipe .toml file, the name of a built-in recipe ({_builtin_names()}), or a "
        "built dataset's dataset.json, whose copy of the recipe (with its --set values) is "
        "built again: 'eventsim build DIR/dataset.json -o DIR' repairs DIR",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        type=path_arg("a dataset folder name"),
        metavar="DIR",
        help=f"output dataset folder; {CREATES_FOLDERS}",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="build only the first N samples of each split (the same command with a larger N, "
        "or without --limit, extends the dataset, reusing its full shards)",
    )
    p.add_argument(
        "--set",
        dest="assign",
        action="append",
        metavar="FIELD=VALUE",
        default=[],
        help="override a recipe field, e.g. dataset.seed=3, splits.test=100, "
        "simulator.params.pos_threshold=0.25 (validated like the file; every field is in "
        "docs/recipes.md, and one that only one table has may drop the table: seed=3)",
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
        help="local process pool (default), or Dask distributed (extra 'dask')",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDR",
        help="Dask scheduler address (tcp://host:8786); default: a local cluster",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first bad sample (in dataset order, whatever --workers)",
    )
    p.add_argument(
        "--force", action="store_true", help="replace an existing different build in DIR"
    )
    add_progress_option(p)
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
    recipe = _load(args.recipe, parse_assignments(args.assign))
    earlier = Path(args.output, "dataset.json")
    had_dataset = earlier.is_file()
    try:
        with _opencv_quiet(), _spread_in_one_line():
            summary = build_dataset(
                recipe,
                args.output,
                limit=args.limit,
                workers=args.workers,
                executor=args.executor,
                scheduler=args.scheduler,
                strict=args.strict,
                force=args.force,
                progress=show_progress(args.no_progress),
                exact_workers=args.exact_workers,
            )
    except KeyboardInterrupt as exc:
        if had_dataset and earlier.is_file():
            # a finished dataset being finished again (a damaged shard rebuilt), or one --force
            # had not deleted yet: nothing of it was removed. (A Ctrl-C after this build
            # published its own manifest is reported as complete instead.)
            raise KeptInterrupt(
                f"the dataset built earlier in {str(Path(args.output))!r} is kept; rerun the "
                "same command to finish this build"
            ) from None
        _report_kept_shards(Path(args.output), args.force, getattr(exc, "shards_kept", None))
        raise
    print(summary.text())
    _report_silent_splits(recipe, summary)
    if recipe.source_kind != "shapes" and len(summary.samples) > 1:
        from eventsim.datasets.inspection import split_repeats

        # one more read of samples.jsonl, as verify makes it: a leak is best heard of now
        for warning in split_repeats(args.output):
            print(f"eventsim build: warning: {warning}", file=sys.stderr)
    if not args.no_preview and summary.n_samples:
        from eventsim.datasets.inspection import preview_dataset

        print(f"preview of the first samples: {preview_dataset(args.output)}")
    # quoted, so a folder name with a space or a quote can be pasted back into the shell
    print(f"inspect it with: {shell_command('eventsim', 'info', args.output)}")
    return _report_empty_splits(recipe, summary)


def _load(given: str, overrides: dict[str, str]) -> Recipe:
    """The recipe ``given`` names: a recipe file or built-in name, or a built dataset's
    dataset.json, whose recipe copy (the file's fields with the --set values it was built with)
    is read from where its recipe file was, so that relative split file paths name the same
    files and the same build is recognised (while an unfinished build has removed the file,
    `_unfinished_copy`). A dataset folder is not taken for its manifest: a folder named like a
    built-in recipe would make its name mean two things."""
    from eventsim.datasets.recipe import builtin_recipe_dir, load_recipe

    path = Path(given).expanduser()
    # a bare built-in name stays the built-in recipe, as `load_recipe` reads it
    builtin = (
        len(path.parts) == 1
        and (builtin_recipe_dir() / f"{path.name.removesuffix('.toml')}.toml").is_file()
    )
    if not builtin and path.is_dir() and (path / "dataset.json").is_file():
        raise ParameterError(
            f"recipe {given!r} is a dataset folder; to build it again (to repair it), give its "
            f"manifest: {shell_command('eventsim', 'build', path / 'dataset.json', '-o', 'DIR')}"
        )
    if path.name == "dataset.json" and not path.is_file():
        unfinished = _unfinished_copy(path.parent, overrides)
        if unfinished is not None:
            return unfinished
    if path.suffix.lower() != ".json" or not path.is_file():
        return load_recipe(given, overrides)
    if path.name != "dataset.json":
        # the loader reads a manifest by that name alone, and would say to give its folder
        raise ParameterError(
            f"recipe {given!r} is a JSON file, not a dataset's dataset.json; a recipe is a .toml "
            f"file, the name of a built-in recipe ({_builtin_names()}) or a built dataset's "
            "dataset.json"
        )
    from eventsim.datasets.loader import read_manifest

    manifest = read_manifest(path)
    copy, recipe_file = manifest.get("recipe"), manifest.get("recipe_file")
    if not isinstance(copy, dict) or not copy:
        raise ParameterError(f"{given!r} records no recipe; build from the recipe file instead")
    # a recipe given as a dict (Python) has none: its relative paths were the folder's it ran in
    was = Path(recipe_file) if isinstance(recipe_file, str) else None
    base = None if was is None else was.parent
    # a recipe an older eventsim took and this one does not, or an edited manifest
    _check_copy(copy, base, given)
    # apart: a --set value's error is the command line's, not the copy's
    recipe = load_recipe(copy, overrides, base_dir=base)
    # the rebuilt manifest names the same recipe file as the one it replaces
    return recipe if was is None else dataclasses.replace(recipe, path=was)


def _unfinished_copy(folder: Path, overrides: dict[str, str]) -> Recipe | None:
    """The recipe copy of the unfinished build in ``folder``, whose dataset.json is written when
    it finishes (None: no build's state there). A build from its dataset.json that replaces
    (--force) or extends it (a larger --limit) removes that file first: stopped then, "rerun
    the same command" names a file that is gone. Its relative paths start at the recipe file
    the state records, as the manifest's did (which the manifest it writes names again);
    where they name other places now, or the state records none (an older eventsim's, a
    recipe given as a dict), it is given the places the state records (the fingerprint is the
    same)."""
    import json

    from eventsim.datasets.engine import STATE_FILE
    from eventsim.datasets.recipe import load_recipe

    state_file = folder / STATE_FILE
    if not state_file.is_file():
        return None
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"{str(folder / 'dataset.json')!r} is not written yet, and the state file of the "
            f"unfinished build in {str(folder)!r} cannot be read ({exc}); build from the recipe "
            "file"
        ) from None
    copy = state.get("recipe") if isinstance(state, dict) else None
    places = state.get("locations") if isinstance(state, dict) else None
    if not isinstance(copy, dict) or not isinstance(places, dict):
        return None
    recipe_file = state.get("recipe_file")
    if isinstance(recipe_file, str) and _places(copy, Path(recipe_file).parent) == places:
        _note_unfinished(folder)
        recipe = load_recipe(copy, overrides, base_dir=Path(recipe_file).parent)
        return dataclasses.replace(recipe, path=Path(recipe_file))
    for key, place in places.items():
        table, _, field = str(key).partition(".")
        if isinstance(copy.get(table), dict) and isinstance(place, str):
            copy[table][field] = place
    # its places are absolute: the folder only names the split files in the manifest
    _check_copy(copy, folder, state_file)
    _note_unfinished(folder)
    return load_recipe(copy, overrides, base_dir=folder)


def _check_copy(copy: dict[str, object], base: Path | None, holder: str | Path) -> None:
    """Refuse the recipe copy ``copy`` that ``holder`` (the path of a manifest, a state file)
    records when it is no recipe read from ``base``, in `load_recipe`'s words after the
    holder's quoted path (it names a dict "recipe"), before any --set value is applied to it."""
    from eventsim.datasets.recipe import load_recipe

    try:
        load_recipe(copy, base_dir=base)
    except RecipeError as exc:
        said = str(exc).removeprefix("recipe: ")
        raise RecipeError(f"{str(holder)!r}: its recipe copy: {said}") from None


def _places(copy: dict[str, object], base: Path) -> dict[str, str] | None:
    """`Recipe.locations` of the recipe copy ``copy`` read from ``base``; None where it is not
    a recipe (an edited state, which the caller reports)."""
    from eventsim.datasets.recipe import load_recipe

    try:
        return load_recipe(copy, base_dir=base).locations
    except RecipeError:
        return None


def _note_unfinished(folder: Path) -> None:
    print(
        f"eventsim build: note: {str(folder / 'dataset.json')!r} is written when the unfinished "
        f"build in {str(folder)!r} finishes: building the recipe copy its state file records",
        file=sys.stderr,
    )


def _report_silent_splits(recipe: Recipe, summary: BuildSummary) -> None:
    """Warn of each split whose samples all have no events: a dataset of empty event windows is
    built without an error, but is rarely what was meant."""
    from eventsim.datasets.loader import read_manifest

    try:
        splits = read_manifest(summary.out_dir)["splits"]
    except DatasetError:
        return
    silent = [s for s, info in splits.items() if info["samples"] and not info["events"]]
    if not silent:
        return
    n = sum(splits[s]["samples"] for s in silent)
    params = recipe.dvs_params()
    print(
        f"eventsim build: warning: no sample of {plural(len(silent), 'split')} "
        f"{', '.join(silent)} has an event ({n} {plural(n, 'sample')}, each an empty event "
        "window): the contrast thresholds may be too high for the scenes' brightness changes "
        f"(simulator.params.pos_threshold {params.pos_threshold:g}, neg_threshold "
        f"{params.neg_threshold:g}), or nothing moves in them (static scenes, a still camera)",
        file=sys.stderr,
    )


# OpenCV's own log, and the level its FFmpeg backend sets as it starts (-8: quiet)
_OPENCV_LOG_ENV = {"OPENCV_LOG_LEVEL": "SILENT", "OPENCV_FFMPEG_LOGLEVEL": "-8"}


@contextlib.contextmanager
def _opencv_quiet() -> Iterator[None]:
    """OpenCV's and FFmpeg's own lines off while the build runs, in this process and in the
    worker processes it starts (they read the environment as they start), unless
    OPENCV_LOG_LEVEL asks for them. A corrupt image or video is a skipped sample whose reason
    errors.jsonl gives; their lines ('PNG input buffer is incomplete', '[png @ 0x...] Invalid
    PNG signature') came too, from whichever process built it, as `eventsim simulate` has them
    not."""
    from eventsim._opencv import opencv_log_silenced

    if "OPENCV_LOG_LEVEL" in os.environ:
        yield
        return
    before = {name: os.environ.get(name) for name in _OPENCV_LOG_ENV}
    for name, quiet in _OPENCV_LOG_ENV.items():
        os.environ.setdefault(name, quiet)
    try:
        with opencv_log_silenced():
            yield
    finally:
        for name, was in before.items():
            if was is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = was


@contextlib.contextmanager
def _spread_in_one_line() -> Iterator[None]:
    """The build's `ThresholdSpreadWarning` (once, before the shards are built) in one warning
    line, as this command's others, not as Python's two lines naming the engine's code."""
    import warnings

    from eventsim.simulator.core import ThresholdSpreadWarning

    with warnings.catch_warnings():
        show = warnings.showwarning

        def one_line(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if issubclass(category, ThresholdSpreadWarning):
                print(f"eventsim build: warning: {message}", file=sys.stderr)
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = one_line
        yield


def _report_kept_shards(out: Path, force: bool, kept: int | None = None) -> None:
    """After Ctrl-C: when the build left its plan to resume from, raise a `KeptInterrupt`
    saying how many finished shards it kept and how to finish the build (the command line
    prints that in place of "partial outputs removed"). ``kept``: the finished shards the
    build counted as its own (None: stopped before it planned them; then the shard files)."""
    from eventsim.datasets.engine import STATE_FILE
    from eventsim.datasets.inspection import finished_shards

    if not (out / STATE_FILE).is_file() or (out / "dataset.json").is_file():
        return
    again = "the same command without --force" if force else "the same command"
    if kept is None:
        kept = finished_shards(out)
    if not kept:
        raise KeptInterrupt(f"no shard was finished yet; rerun {again} to build") from None
    raise KeptInterrupt(
        f"{kept} finished {plural(kept, 'shard')} kept in {str(out)!r}; rerun {again} to "
        "finish the build"
    ) from None


def _report_empty_splits(recipe: Recipe, summary: BuildSummary) -> int:
    """Warn of each split that was given records (or a file) and has no samples; 1 when the
    whole dataset has none for that reason. A split the recipe asks to be empty is no news."""
    errors_file = summary.out_dir / "errors.jsonl"

    # a shapes scene has no record: its samples are drawn, and one that cannot be is skipped
    def skipped(n: int) -> str:
        if recipe.source_kind == "shapes":
            return f"{n} {plural(n, 'sample')} could not be drawn"
        return f"{n} {plural(n, 'record')} {plural(n, 'was', 'were')} rejected"

    empty_files = []
    for split, n in summary.samples.items():
        if n:
            continue
        rejected = summary.errors.get(split, 0)
        if rejected:
            warning = (
                f"{'its' if rejected == 1 else 'all'} {skipped(rejected)}, so it has no samples; "
                f"reasons in {errors_file}"
            )
        elif recipe.source_kind != "shapes":
            empty_files.append(split)
            path = recipe.resolve_path(recipe.splits[split])
            warning = f"its file {path} holds no records, so it has no samples"
        else:
            continue
        print(f"eventsim build: warning: split {split}: {warning}", file=sys.stderr)
    if summary.n_samples or not (summary.n_errors or empty_files):
        return 0
    if summary.n_errors:
        why = (
            f"{skipped(summary.n_errors)}; the dataset is still written, so "
            f"{errors_file} can be read"
        )
    else:
        why = "the split files hold no records"
    print(f"eventsim build: error: no samples were built: {why}", file=sys.stderr)
    return 1
