"""The build engine: recipe -> planned shards -> samples built in parallel -> manifest.

Shards are fixed ranges of each split's sample list, so what lands in a shard never depends on the
number of workers, and every sample draws its own seeds from (recipe seed, split, index). A shard
is written to a temporary name and renamed when complete; a re-run of the same build reuses
complete shards (checked by recipe fingerprint and sample range) and builds the rest. A finished
dataset is only ever finished again by the same build, never replaced without ``force``. Only the
driver writes ``samples.jsonl``, ``errors.jsonl`` and ``dataset.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

from eventsim._locks import HAVE_FLOCK, LockFile, LocksUnsupported, try_lock
from eventsim._system import usable_cores
from eventsim._text import plural
from eventsim._version import __version__
from eventsim.datasets import _digests
from eventsim.datasets._cpu import FreeCores
from eventsim.datasets._formats import (
    DATASET_FORMAT_VERSION,
    INPUTS_FILE,
    SHARD_FORMAT_VERSION,
    STATE_FILE,
)
from eventsim.datasets.loader import build_holder
from eventsim.datasets.recipe import Recipe, load_recipe
from eventsim.datasets.shards import (
    file_digest,
    read_shard_index,
    shard_filename,
    shard_matches,
    write_shard,
)
from eventsim.datasets.sources import (
    SampleError,
    SampleMaker,
    SampleSpec,
    plan_split,
)
from eventsim.errors import DatasetError, EventsimError, OutputExistsError, ParameterError
from eventsim.outputs import (
    _pid_running,
    check_interrupted,
    fsync_file,
    publish,
    publish_text,
    remove_stale_temps,
    sigint_deferred,
    temp_path,
)

DATASET_FORMAT = "eventsim-vqa"
EXECUTORS = ("local", "dask")
_OUR_FILES = (
    "dataset.json", "samples.jsonl", "errors.jsonl", "preview.png", STATE_FILE, INPUTS_FILE,
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ShardTask:
    recipe: Recipe
    split: str
    shard: int
    specs: tuple[SampleSpec, ...]
    path: str
    strict: bool

    @property
    def start(self) -> int:
        """Index of the shard's first sample in its split."""
        return self.specs[0].index

    @property
    def stop(self) -> int:
        """One past the index of the shard's last sample."""
        return self.specs[-1].index + 1

    def expect(self) -> dict[str, Any]:
        """What the shard's index must record for a finished shard to be reused on resume."""
        return {
            "split": self.split,
            "shard": self.shard,
            "start": self.start,
            "stop": self.stop,
            "fingerprint": self.recipe.fingerprint,
        }


@dataclasses.dataclass
class BuildSummary:
    out_dir: Path
    samples: dict[str, int]
    errors: dict[str, int]
    shards_built: int
    shards_reused: int
    elapsed_s: float
    #: shards built by the calling process (all of them with one worker; with more, those
    #: built while the cores had no free time for a second worker)
    shards_in_process: int = 0
    #: size of the worker pool that built the other shards (0 when none was started)
    pool_workers: int = 0
    #: how the shards were shared out, when more than one worker was asked for
    workers_note: str = ""
    #: what a user should know of samples that were built (one line each)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def n_samples(self) -> int:
        """Samples built, all splits."""
        return sum(self.samples.values())

    @property
    def n_errors(self) -> int:
        """Samples that could not be built (listed in errors.jsonl), all splits."""
        return sum(self.errors.values())

    def text(self) -> str:
        """The summary ``eventsim build`` prints."""
        per_split = ", ".join(f"{k} {v}" for k, v in self.samples.items())
        lines = [
            f"built {self.n_samples} {plural(self.n_samples, 'sample')} ({per_split}) in "
            f"{self.elapsed_s:.1f} s "
            f"into {self.out_dir}",
            f"shards: {self.shards_built} built, {self.shards_reused} reused from an earlier run",
        ]
        if self.workers_note:
            lines.append(f"workers: {self.workers_note}")
        if self.n_errors:
            lines.append(
                f"skipped {self.n_errors} bad {plural(self.n_errors, 'sample')}; reasons in "
                f"{self.out_dir / 'errors.jsonl'}"
            )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


class BuildInterrupted(KeyboardInterrupt):
    """Ctrl-C during a build. ``shards_kept``: the finished shards a re-run of the same build
    reuses (not those another ``limit`` left in the folder, which it deletes)."""

    def __init__(self, shards_kept: int) -> None:
        super().__init__()
        self.shards_kept = shards_kept


def build_dataset(
    recipe: Recipe | str | Path | Mapping[str, Any],
    out_dir: str | Path,
    *,
    limit: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    workers: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
    strict: bool = False,
    force: bool = False,
    progress: bool = True,
    exact_workers: bool = False,
) -> BuildSummary:
    """Build (or finish building) the dataset of ``recipe`` into ``out_dir``.

    ``recipe``: a `Recipe`, a TOML path, a built-in name or a dict (as `load_recipe` takes).

    ``limit`` (1 or more) builds the first N samples of each split. ``workers`` processes build
    shards in parallel (``executor="local"``: a process pool; ``"dask"``: a Dask cluster at
    ``scheduler``, or a local one with ``workers`` processes). A local pool is sized to the
    cores free for the build, at most ``workers``, and while fewer than two are free the shards
    are built in this process (see `_execute_local`); ``exact_workers`` starts all ``workers``
    regardless.
    ``strict`` stops at the first bad sample (in dataset order, whatever the workers)
    instead of skipping it. An unfinished build of the
    same recipe in ``out_dir`` is resumed (with any ``limit``: its shards this build also plans
    are reused), and a finished dataset of the same recipe and samples is finished again (its
    unchanged shards reused); anything else, a finished dataset with another ``limit``
    included, is refused unless ``force`` (which deletes the earlier build's files).
    """
    t_start = time.perf_counter()
    if not isinstance(recipe, Recipe) or overrides:
        recipe = load_recipe(recipe, overrides)
    # once per build: every shard and worker checks against the split files as planned now
    recipe = recipe.with_split_files_hashed()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"workers = {workers!r}; expected an integer >= 1")
    # free cores are measured from here on: planning is the first window (see `_execute_local`)
    free = FreeCores() if workers > 1 and executor == "local" and not exact_workers else None
    if executor not in EXECUTORS:
        raise ParameterError(
            f"executor {executor!r} is unknown; expected one of {', '.join(EXECUTORS)}"
        )
    if scheduler and executor != "dask":
        raise ParameterError("a scheduler address needs executor 'dask'")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        # as `eventsim build --limit 0` is: an empty dataset is never what was meant
        raise ParameterError(
            f"limit = {limit!r}; expected an integer >= 1 (None, the default, builds all)"
        )

    out = Path(out_dir)
    # plan first: a recipe whose inputs cannot even be listed leaves no output behind
    tasks, cut = _plan(recipe, out, limit, strict)
    # the paths of the shards this build knows to be finished: reused, or built by it
    finished: set[str] = set()
    with _build_lock(out) as locked:
        try:
            summary = _build(
                recipe, out, tasks, limit, force, workers, executor, scheduler, free, progress,
                t_start, finished, limit if cut else None, locked,
            )  # fmt: skip
        except KeyboardInterrupt:
            raise BuildInterrupted(_count_kept(tasks, finished, _read_inputs(out))) from None
        finally:
            # an in-process build's sample maker (and the images it read) goes with the build
            _MAKERS.clear()
    if not locked:
        summary.notes.append(
            f"built without the folder lock: the file system of {str(out)!r} has no file "
            "locks, so a second build into it at the same time would not have been refused"
        )
    return summary


def _warn_threshold_spread(recipe: Recipe) -> None:
    """The simulator's `ThresholdSpreadWarning` of the recipe's pixel parameters, once a
    build, at `build_dataset`'s caller once nothing is refused: each sample makes its own
    simulator, whose warning every worker process printed (`run_shard` ignores those)."""
    from eventsim.simulator.core import ThresholdSpreadWarning, threshold_spread_problem

    problem = threshold_spread_problem(recipe.dvs_params())
    if problem is not None:
        # this function, `_build`, `build_dataset`, its caller
        warnings.warn(problem, ThresholdSpreadWarning, stacklevel=4)


def _count_kept(tasks: list[ShardTask], finished: set[str], logged: dict[str, Any] | None) -> int:
    """The shards of ``tasks`` that are finished on disk (their recorded sample range and
    recipe are this build's): those in ``finished`` (known to the build), and of the others
    those that exist and whose attributes say so (a worker may have finished one just before
    the build heard of it; an earlier build's may be of another limit), but not those a re-run
    builds again for want of their inputs in ``logged`` (`_inputs_unknown`)."""
    import h5py

    kept = 0
    for task in tasks:
        if task.path in finished:
            kept += 1
            continue
        if not os.path.exists(task.path):
            continue
        if _inputs_unknown(task, logged):
            continue
        try:
            with h5py.File(task.path, "r") as f:
                kept += shard_matches(f, task.expect())
        except (OSError, ValueError):
            continue
    return kept


def _build(
    recipe: Recipe,
    out: Path,
    tasks: list[ShardTask],
    limit: int | None,
    force: bool,
    workers: int,
    executor: str,
    scheduler: str | None,
    free: FreeCores | None,
    progress: bool,
    t_start: float,
    finished: set[str],
    recorded_limit: int | None,
    locked: bool,
) -> BuildSummary:
    """Build ``tasks`` into ``out``; ``finished`` gets the path of each shard as it is known
    to be finished (reused or built). ``recorded_limit``: the ``limit`` the manifest records,
    None where it left no sample out (the dataset is then the one a build without it makes,
    byte for byte, and says so). ``locked``: whether the build holds the folder's lock
    (`_write_state`)."""
    recorded, extends = _prepare_output(out, recipe, tasks, limit, force, locked)
    # None: a build begun before inputs were recorded, resumed as it was, unchecked
    logged = _read_inputs(out)
    results: dict[tuple[str, int], dict[str, Any]] = {}
    pending: list[ShardTask] = []
    # strict is not part of the fingerprint: a shard an earlier, lenient run wrote with a
    # skipped sample is reused, and would be the dataset a strict build forbids. Its sample is
    # named once the shards before it are built (one of them may hold an earlier bad sample)
    reused_bad: tuple[ShardTask, dict[str, Any]] | None = None
    # reused shards whose log line now records an input's new state (its digest the logged one)
    refreshed: list[str] = []
    # (reused shard, input file it was built from that is missing now): refused only when a
    # shard is left to build (`_missing_inputs`)
    missing: list[tuple[ShardTask, str]] = []
    # the finished shards found, up to where a strict build is sure to stop (as below): their
    # inputs are checked once those that need hashing are hashed, together (`_hash_inputs`)
    indexes: list[dict[str, Any] | None] = []
    checked: list[tuple[ShardTask, dict[str, Any]]] = []
    for task in tasks:
        done = read_shard_index(Path(task.path), task.expect())
        # a shard of the finished build that changed since is rebuilt, not taken as it now is
        name = Path(task.path).name
        if done is not None and name in recorded and recorded[name] != done["sha256"]:
            done = None
        if done is not None and logged is not None:
            if _inputs_unknown(task, logged):
                done = None
            elif isinstance(logged.get(name), dict):
                checked.append((task, logged[name]))
        indexes.append(done)
        if task.strict and (
            any(spec.error for spec in task.specs) if done is None else done["errors"]
        ):
            break
    # an input read by the samples of several shards is hashed once
    hashes = _hash_inputs(checked, workers, progress)
    # the shards up to where a strict build is sure to stop, and the record the plan found bad
    # that it stops at
    planned = tasks
    bad_record: SampleSpec | None = None
    for k, (task, done) in enumerate(zip(tasks, indexes)):
        name = Path(task.path).name
        if done is not None and logged is not None:
            if not isinstance(logged.get(name), dict):
                logged[name] = {}  # its samples read no image or video file
            moved, gone = _check_inputs(out, task, logged[name], hashes)
            if moved:
                refreshed.append(name)
            missing += [(task, path) for path in gone]
        if done is None:
            pending.append(task)
            if task.strict and any(spec.error for spec in task.specs):
                # a record the plan found bad (a malformed line) stops the build in this shard,
                # unless a sample before it fails to build first: later shards are not needed
                bad_record = next(spec for spec in task.specs if spec.error)
                planned = tasks[: k + 1]
                break
            continue
        if task.strict and done["errors"]:
            reused_bad = (task, done["errors"][0])
            planned = tasks[:k]
            break
        results[(task.split, task.shard)] = done
        finished.add(task.path)
    notes = _missing_inputs(out, missing, pending, len(tasks))
    # a strict build sure to stop is refused before the finished dataset it extends becomes an
    # unfinished build it cannot finish, naming the bad sample known now (one in a shard still
    # to build before it might fail first, but the build stops either way)
    if extends and reused_bad is not None:
        _raise_strict(*reused_bad)
    if extends and bad_record is not None:
        raise StrictStop(f"sample {bad_record.id} ({_where(bad_record)}): {bad_record.error}")
    if extends:
        # nothing is refused now: the finished dataset becomes an unfinished build of the
        # larger one, as a Ctrl-C from here on leaves it (its last shard may be replaced, and
        # its manifest would list the old one)
        _write_state(out, recipe, locked)
        (out / "dataset.json").unlink()
        # the shards checked so far are all the finished dataset's: none is built yet
        notes.append(_reuse_words(extends, len(results)))
    if logged is not None:
        # the lines of the shards they replace, once nothing is refused: a shard a worker
        # finishes as the build stops, unheard of, is rebuilt then, not checked against the
        # inputs of the one it replaced
        for name in [Path(t.path).name for t in pending]:
            if isinstance(logged.pop(name, None), dict):
                _log_inputs(out, name, None)
        for name in refreshed:
            _log_inputs(out, name, logged[name])
    _remove_stale_temp(out)
    _warn_threshold_spread(recipe)

    total = sum(len(t.specs) for t in planned)
    already = total - sum(len(t.specs) for t in pending)
    from tqdm.auto import tqdm

    with tqdm(
        total=total,
        initial=already,
        unit="sample",
        desc=f"build {recipe.name}",
        disable=not progress,
        leave=False,
    ) as bar:
        # closed here, not when garbage collected: a stopped build tears its workers down now
        share = _Share()
        runs = _execute(pending, workers, executor, scheduler, bar, free, share)
        with contextlib.closing(runs):
            for task, result in runs:
                results[(task.split, task.shard)] = result
                if logged is not None:
                    logged[Path(task.path).name] = result["inputs"]
                    _log_inputs(out, Path(task.path).name, result["inputs"])
                finished.add(task.path)
    if reused_bad is not None:
        _raise_strict(*reused_bad)

    summary = _finalise(out, recipe, tasks, results, recorded_limit, logged)
    return BuildSummary(
        out_dir=out,
        samples=summary["samples"],
        errors=summary["errors"],
        shards_built=len(pending),
        shards_reused=len(tasks) - len(pending),
        elapsed_s=time.perf_counter() - t_start,
        shards_in_process=share.in_process,
        pool_workers=share.pool_workers,
        workers_note=share.note(workers) if executor == "local" and workers > 1 else "",
        notes=notes + summary["notes"],
    )


# ----------------------------------------------------------------------------- output folder


@contextlib.contextmanager
def _build_lock(out: Path) -> Iterator[bool]:
    """Hold an exclusive lock on the folder ``out`` (made here if missing) while building into
    it: a second build into the same folder, from another terminal or a retried job, would take
    this one's temporaries for a killed run's, delete them and write the same shards. Yields
    whether the folder is locked. Pool workers are exec'd (fork server, spawn) and inherit no
    descriptor; a child forked by the caller meanwhile (another thread's DataLoader) closes
    its copy as it starts (`LockFile`), so no process keeps the folder locked after the build."""
    if not HAVE_FLOCK:  # not POSIX: builds are not locked
        yield False
        return
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output {str(out)!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    lock = LockFile(out, os.O_RDONLY)
    try:
        try:
            locked = try_lock(lock.fd)
        except LocksUnsupported:
            # a file system without locks (NFS without a lock daemon) builds unlocked, as a
            # non-POSIX system does, rather than not at all
            yield False
            return
        if not locked:
            raise DatasetError(
                f"another build is writing to {str(out)!r}{build_holder(out)}; wait for it to "
                "finish or stop it"
            )
        yield True
    finally:
        lock.close()


def _prepare_output(
    out: Path, recipe: Recipe, tasks: list[ShardTask], limit: int | None, force: bool, locked: bool
) -> tuple[dict[str, str], str]:
    """Make ``out`` ready for this build; returns the sha256 of each shard (by file name) of
    the finished dataset it finishes again or extends, {} for any other build, and when it
    extends one (a dataset built with a smaller ``limit``), a note saying so ("" if not)."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output {str(out)!r} exists and is not a folder")
    recorded: dict[str, str] = {}
    extends = ""
    if out.is_dir() and any(out.iterdir()):
        if force:
            _remove_build(out)
        else:
            recorded, extends = _check_resumable(out, recipe, tasks, limit)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    if (out / "dataset.json").is_file():
        # finishing a finished dataset again: its manifest says what to resume, and a state
        # file would be left in it by a build stopped before `_finalise` removes it. One it
        # extends keeps its manifest until nothing is refused (`_build`)
        return recorded, extends
    _write_state(out, recipe, locked)
    if not (out / INPUTS_FILE).exists() and not any((out / "shards").glob("*.h5")):
        # after the state file: a folder is never left holding only this log. Not only when
        # the folder was empty: a build stopped between the two files has no shard to check
        publish_text(out / INPUTS_FILE, "")
    return recorded, extends


def _write_state(out: Path, recipe: Recipe, locked: bool) -> None:
    """The state file of an unfinished build of ``recipe`` in ``out``; ``locked``: whether the
    build holds the folder's lock."""
    state: dict[str, Any] = {
        "fingerprint": recipe.fingerprint,
        "recipe": recipe.to_dict(),
        "split_files": recipe.split_file_hashes,
        # to say why a later build's fingerprint differs (`_place_difference`)
        "eventsim": __version__,
        "locations": recipe.locations,
        # a build resumed from this state's recipe copy (its dataset.json removed) writes the
        # manifest the finished build would have: its relative paths start there
        "recipe_file": recipe.recipe_file,
    }
    if not locked:
        # no lock to read (`eventsim.datasets.loader.unfinished_build`): eventsim info cannot
        # tell this build running from stopped, and must not send anyone to start a second one
        state["unlocked"] = True
    publish_text(out / STATE_FILE, json.dumps(state, sort_keys=True, indent=1) + "\n")


def _read_inputs(out: Path) -> dict[str, Any] | None:
    """The inputs log of the build in ``out``: shard file name -> {file: record (`_is_record`)}
    or None, the last line of a shard winning (a rebuilt one); None when there is no log (a
    build begun by an eventsim that kept none). Lines that cannot be read (a Ctrl-C while one
    was appended, an edit) are left out: their shards are rebuilt."""
    try:
        text = (out / INPUTS_FILE).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    logged: dict[str, Any] = {}
    for line in text.split("\n"):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("shard"), str):
            inputs = entry.get("inputs")
            # a record of another form (an edit) is not compared: its shard is rebuilt
            ok = isinstance(inputs, dict) and all(_is_record(v) for v in inputs.values())
            logged[entry["shard"]] = inputs if ok else None
    return logged


def _is_record(value: Any) -> bool:
    """Whether ``value`` is a file's record in the inputs log: None (missing) or
    `_file_record`."""
    if value is None:
        return True
    if not isinstance(value, list) or len(value) != 5:
        return False
    return all(isinstance(v, int) and not isinstance(v, bool) for v in value[:4]) and (
        value[4] is None or isinstance(value[4], str)
    )


def _inputs_unknown(task: ShardTask, logged: dict[str, Any] | None) -> bool:
    """Whether the finished shard of ``task`` is to be built again because the build records
    inputs (``logged``, `_read_inputs`) and has none for it while its samples may read image or
    video files: a worker finished it as the build stopped, before the build heard of it.
    Whether a parquet row names a file or holds its image is not read here: any sample of a
    split file may."""
    if logged is None or isinstance(logged.get(Path(task.path).name), dict):
        return False
    return task.recipe.source_kind != "shapes" and any(s.record is not None for s in task.specs)


def _inputs_line(shard: str, inputs: Any) -> str:
    return json.dumps({"shard": shard, "inputs": inputs}, sort_keys=True) + "\n"


def _log_inputs(out: Path, shard: str, inputs: dict[str, Any] | None) -> None:
    """Append the inputs of a shard just finished (None: of one to be rebuilt). Not synced: a
    line lost to a crash, or cut short, only has its shard rebuilt; a line cut short is ended
    first, or the line after it would be read as part of it and lost too."""
    with sigint_deferred(), open(out / INPUTS_FILE, "a+b") as fh:
        end = fh.seek(0, os.SEEK_END)
        torn = end > 0 and (fh.seek(end - 1), fh.read(1))[1] != b"\n"
        fh.write((("\n" if torn else "") + _inputs_line(shard, inputs)).encode("utf-8"))


def _stat(path: str) -> os.stat_result | None:
    """None when missing (or when no file can have its name: a parquet cell's path may hold a
    NUL)."""
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def _state(st: os.stat_result) -> list[int]:
    """[size, mtime_ns, ctime_ns, inode] of an input file. Another file put in its place with
    its size and modification time kept (``cp -p``, ``rsync -t``) has another change time or
    inode: the clock cannot set those."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _file_record(path: str, video: bool) -> list[Any] | None:
    """What the inputs log records of an input file: its `_state` and the sha256 of its bytes
    (`_content_sha256`), to tell a file whose times or inode moved (``touch``, a copy, another
    file put in its place with ``cp -p``) from another file; None when missing."""
    st = _stat(path)
    if st is None:
        return None
    return [*_state(st), _content_sha256(path, st, video)]


# the video digests this process took (`_digests.identity` -> sha256), the oldest dropped
# beyond `_VIDEO_DIGESTS_KEPT`: a video's questions are mostly in neighbouring shards, and a
# dataset of a million videos must not hold a million digests in every worker
_VIDEO_DIGESTS: dict[str, str] = {}
_VIDEO_DIGESTS_KEPT = 1024


def _content_sha256(path: str, st: os.stat_result, video: bool) -> str | None:
    """The sha256 of the whole file (None when it cannot be read): a digest of a part misses
    an edit outside it. An image's is its samples' meta.image_sha256. A video's is taken once
    for the bytes ``st`` describes, whichever process or shard asks (`_digests`, as for
    shards): the samples of several shards, in several workers, read one video, and hashing it
    (about 0.5 GB/s) reads all of it where decoding may read only around its question times."""
    if not video:
        return _file_sha256(Path(path))
    # also kept here: where the cache folder cannot be written (no home folder, a read-only
    # one) each shard of this process would hash the video again
    key = _digests.identity(Path(path), st)
    digest = _VIDEO_DIGESTS.get(key)
    if digest is None:
        try:
            digest = _digests.sha256_of(Path(path), st, lambda: file_digest(Path(path))[0])
        except OSError:
            return None
        _keep_video_digest(key, digest)
    return digest


def _keep_video_digest(key: str, digest: str) -> None:
    if len(_VIDEO_DIGESTS) >= _VIDEO_DIGESTS_KEPT:
        _VIDEO_DIGESTS.pop(next(iter(_VIDEO_DIGESTS)), None)
    _VIDEO_DIGESTS[key] = digest


class _Stopped(Exception):
    """A hashing thread of `_hash_in_threads` was told to stop."""


def _hash_file(path: str, st: os.stat_result, video: bool, stop: threading.Event) -> str | None:
    """`_content_sha256` in a thread of `_hash_in_threads`: without `_VIDEO_DIGESTS`, which
    only the main thread touches, and given up (`_Stopped`) between two blocks once ``stop`` is
    set, so that a build stopped or refused meanwhile leaves no thread reading a file (a
    video can take minutes) or holding its lock in the digest cache."""

    def compute() -> str:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                if stop.is_set():
                    raise _Stopped
                h.update(block)
        return h.hexdigest()

    try:
        return _digests.sha256_of(Path(path), st, compute) if video else compute()
    except OSError:
        return None


def _inputs_to_hash(
    checked: list[tuple[ShardTask, dict[str, Any]]],
) -> dict[tuple[Any, ...], tuple[str, os.stat_result, bool, str]]:
    """The files `_check_inputs` hashes checking ``checked`` (reused shards and their log
    entries, in build order), by its key of ``hashes``, in the order it first asks for each,
    with the file's stat, whether it is a video and the digest logged: the files whose state
    moved with their size kept, up to the first it refuses without hashing (later ones are not
    needed). The check stays the judge: a file this misses is hashed there, in turn."""
    jobs: dict[tuple[Any, ...], tuple[str, os.stat_result, bool, str]] = {}
    for task, inputs in checked:
        video = task.recipe.source_kind == "video"
        for path, was in inputs.items():
            st = _stat(path)
            if st is None:
                continue
            now = _state(st)
            decides = _digest_decides(was, now)
            if decides is None:
                continue
            if not decides:
                return jobs
            # the first shard to ask compares the digest with the one it logged
            jobs.setdefault((path, *now), (path, st, video, was[4]))
    return jobs


def _digest_decides(was: list[Any] | None, now: list[int]) -> bool | None:
    """How `_check_inputs` judges an input file logged as ``was`` whose `_state` is ``now``:
    None, unchanged (not read); True, moved with its size kept, so its sha256 against the
    logged one decides; False, refused without reading it (created since, another size, or
    no digest logged to compare). `_inputs_to_hash` asks the same, to hash ahead what the
    check will ask for."""
    if was is not None and now == was[:4]:
        return None
    return was is not None and now[0] == was[0] and was[4] is not None


def _hash_inputs(
    checked: list[tuple[ShardTask, dict[str, Any]]], workers: int, progress: bool
) -> dict[tuple[Any, ...], str | None]:
    """The digests `_check_inputs` asks for checking ``checked`` (`_inputs_to_hash`), as its
    ``hashes``, taken by up to ``workers`` threads (no more than the usable cores) at once:
    one after another, a terabyte of rsynced videos took about 2000 s. hashlib lets go of the
    GIL while it hashes a block. The check still runs in order on them, and hashes there any
    file whose state moved again meanwhile, so it refuses what it refused hashing one by one,
    first the same file: an error raised hashing a file is raised here, in this thread, only
    where the check would have come to that file (no file before it is refused)."""
    jobs = list(_inputs_to_hash(checked).items())
    found: dict[int, str | BaseException | None] = {}
    todo: list[int] = []
    for i, (_, (path, st, video, _)) in enumerate(jobs):
        known = _VIDEO_DIGESTS.get(_digests.identity(Path(path), st)) if video else None
        if known is None:
            todo.append(i)
        else:
            found[i] = known
    if todo:
        found.update(_hash_in_threads(jobs, todo, min(workers, usable_cores()), progress))
    hashes: dict[tuple[Any, ...], str | None] = {}
    hashed = set(todo)
    for i, (key, (path, st, video, logged)) in enumerate(jobs):
        digest = found[i]
        if isinstance(digest, BaseException):
            raise digest
        hashes[key] = digest
        if video and i in hashed and digest is not None:
            _keep_video_digest(_digests.identity(Path(path), st), digest)
        if digest != logged:
            break  # the check refuses this file and asks for none after it
    return hashes


def _hash_in_threads(
    jobs: list[tuple[tuple[Any, ...], tuple[str, os.stat_result, bool, str]]],
    todo: list[int],
    threads: int,
    progress: bool,
) -> dict[int, str | BaseException | None]:
    """The digests (or the errors raised taking them) of the files ``jobs[i]`` for ``i`` in
    ``todo`` (ascending), hashed by up to ``threads`` threads in that order, up to the first
    whose digest is not the logged one (the check refuses it: later ones are not needed). The
    main thread waits in slices of `_POLL_S` to take a Ctrl-C (or SIGTERM) as it comes; however
    it leaves, the threads are told to stop and waited for, each within a block's read."""
    import queue

    from tqdm.auto import tqdm

    guard = threading.Lock()
    stop = threading.Event()
    # the next of ``todo`` to take, and how many of them are to be taken at most
    span = [0, len(todo)]
    done: queue.SimpleQueue[tuple[int, str | BaseException | None]] = queue.SimpleQueue()

    def work() -> None:
        while True:
            with guard:
                at = span[0]
                if at >= span[1] or stop.is_set():
                    return
                span[0] += 1
            i = todo[at]
            path, st, video, logged = jobs[i][1]
            result: str | BaseException | None
            try:
                result = _hash_file(path, st, video, stop)
            except _Stopped:
                return
            except BaseException as exc:  # raised by the main thread, in turn (`_hash_inputs`)
                result = exc
            if result != logged:
                with guard:
                    span[1] = min(span[1], at + 1)
            done.put((i, result))

    found: dict[int, str | BaseException | None] = {}
    waiting = set(todo)
    started: list[threading.Thread] = []
    with tqdm(
        total=sum(jobs[i][1][1].st_size for i in todo),
        unit="B",
        unit_scale=True,
        desc="hash moved inputs",
        disable=not progress,
        leave=False,
    ) as bar:
        try:
            for _ in range(min(threads, len(todo))):
                # daemon: should a second Ctrl-C cut the wait below short, the interpreter
                # still exits without waiting for them
                started.append(threading.Thread(target=work, name="eventsim-hash", daemon=True))
                started[-1].start()
            while waiting:
                try:
                    i, result = done.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                found[i] = result
                waiting.discard(i)
                bar.update(jobs[i][1][1].st_size)
                if result != jobs[i][1][3]:
                    waiting = {j for j in waiting if j < i}
        finally:
            stop.set()
            for thread in started:
                thread.join()
    return found


def _check_inputs(
    out: Path,
    task: ShardTask,
    inputs: dict[str, Any],
    hashes: dict[tuple[Any, ...], str | None],
) -> tuple[bool, list[str]]:
    """Refuse to reuse the finished shard of ``task`` when an image or video it was built from
    (``inputs``, its log entry) has changed since (another size or other bytes, or created
    where it was missing): its samples would be mixed with those built from the new file. A
    file of the same size whose modification time, change time or inode moved (``touch``,
    ``cp -p``, a copy) is the same file when its sha256 is the one logged; its record is then
    renewed in ``inputs``. Files whose state is the one logged are not read. ``hashes`` keeps
    the digests taken, by file state, for the next shards. Returns whether ``inputs`` was so
    refreshed, and the files that have been removed since (`_missing_inputs` decides)."""
    refreshed = False
    gone: list[str] = []
    video = task.recipe.source_kind == "video"
    for path, was in inputs.items():
        st = _stat(path)
        if st is None:
            if was is not None:
                gone.append(path)
            continue
        now = _state(st)
        decides = _digest_decides(was, now)
        if decides is None:
            continue
        if decides:
            key = (path, *now)
            if key not in hashes:
                hashes[key] = _content_sha256(path, st, video)
            if hashes[key] == was[4]:
                inputs[path] = [*now, was[4]]
                refreshed = True
                continue
        if was is None:
            what = "did not exist when it was built and now does"
        elif now[0] != was[0]:
            what = "has changed since it was built (another size)"
        else:
            head = (
                "has changed since it was built (its modification time"
                if now[1] != was[1]
                else "has been replaced since it was built by a file of the same size and "
                "modification time (its change time or inode moved"
            )
            if decides:
                what = f"{head}, and its sha256 is not the one it was built from)"
            else:
                what = f"{head}, and it could not be read when it was built to compare its bytes)"
        _refuse_input(out, task, path, what)
    return refreshed, gone


def _refuse_input(out: Path, task: ShardTask, path: str, what: str) -> NoReturn:
    raise OutputExistsError(
        f"output folder {str(out)!r} holds shard {Path(task.path).name}, built from the "
        f"input file {path!r}, which {what}: resuming would mix samples of the old and new "
        f"files{_REPLACE} and build it all from the files as they are now"
    )


def _missing_inputs(
    out: Path, missing: list[tuple[ShardTask, str]], pending: list[ShardTask], n_shards: int
) -> list[str]:
    """Refuse the build when a reused shard's input file is ``missing`` (removed since it was
    built) and shards are ``pending``: they would be built without it, beside shards built
    with it. With none pending nothing can be mixed (a finished dataset copied to a machine
    without its images or videos, run again): the shards are kept, with a note."""
    if not missing:
        return []
    files = list(dict.fromkeys(path for _, path in missing))
    n = len(files)
    if pending:
        # a dataset copied without its images and a shard left unfinished: --force alone
        # would rebuild it with every sample skipped for want of its file
        task, path = missing[0]
        left = [Path(t.path).name for t in pending]
        more = f" (as {plural(n - 1, 'has 1 other', f'have {n - 1} other')})" if n > 1 else ""
        raise OutputExistsError(
            f"output folder {str(out)!r} holds shard {Path(task.path).name}, built from the "
            f"input file {path!r}, which has been removed since it was built{more}, and "
            f"{len(left)} {plural(len(left), 'shard is', 'shards are')} left to build "
            f"({'' if len(left) == 1 else 'first '}{left[0]}): built now, without "
            f"{plural(n, 'it', 'them')}, the dataset would mix shards built with and without "
            f"{plural(n, 'that file', 'those files')}. Put {plural(n, 'it', 'them')} back where "
            f"{plural(n, 'it was', 'they were')} and run the build again to finish it, or pass "
            "force=True to replace it (deletes its shards and manifest) and build it all from "
            "the files as they are now"
        )
    return [
        f"nothing to do, {n_shards} {plural(n_shards, 'shard')} complete; "
        f"{n} of the image or video files {plural(n_shards, 'it was', 'they were')} built from "
        f"{plural(n, 'is', 'are')} missing here (first {files[0]!r}), so "
        f"{plural(n, 'it', 'they')} could not be checked for changes"
    ]


_REPLACE = "; pass force=True to replace it (deletes its shards and manifest)"


def _check_resumable(
    out: Path, recipe: Recipe, tasks: list[ShardTask], limit: int | None
) -> tuple[dict[str, str], str]:
    """Refuse a non-empty ``out`` unless it holds an unfinished build of this recipe (whatever
    its limit: shards are fixed sample ranges, so those this build plans too are reused), a
    finished dataset of this recipe with the same samples or fewer (built with a smaller
    limit: this build extends it, reusing its full shards; a sample's bytes do not depend on
    the limit), or only this recipe's shards and the files a build writes beside them (a
    build whose dataset.json was deleted). A finished dataset is never cut down or replaced
    by another without ``force``. Returns what `_prepare_output` does."""
    manifest = _read_json(out / "dataset.json")
    previous = manifest if manifest is not None else _read_json(out / STATE_FILE)
    if previous is None:
        unreadable = next((n for n in ("dataset.json", STATE_FILE) if (out / n).exists()), None)
        if unreadable is not None:
            raise OutputExistsError(
                f"output folder {str(out)!r} holds a build whose {unreadable} is not a readable "
                f"JSON object (edited or damaged), so it cannot be resumed{_REPLACE}"
            )
        orphans = _orphan_shards(out, recipe)
        if orphans is None:
            raise OutputExistsError(
                f"output folder {str(out)!r} is not empty and holds no build of this "
                f"recipe{_REPLACE}"
            )
        if orphans:
            raise OutputExistsError(
                f"output folder {str(out)!r} holds the shards of a build whose dataset.json is "
                f"missing, {orphans}, so they cannot be reused{_REPLACE}"
            )
        # each shard records the recipe fingerprint and sample range it was built for, and is
        # reused only where both are this build's (as when an unfinished build is resumed)
        return {}, ""
    what = "a finished dataset" if manifest is not None else "an unfinished build"
    key = "recipe_fingerprint" if manifest is not None else "fingerprint"
    if previous.get(key) != recipe.fingerprint:
        why = _recipe_difference(
            previous.get("recipe"),
            recipe.to_dict(),
            previous.get("split_files"),
            recipe.split_file_hashes,
            same_places=_same_places(previous, recipe),
        ) or _place_difference(previous, recipe)
        raise OutputExistsError(
            f"output folder {str(out)!r} holds {what} of another recipe ({why}){_REPLACE}"
        )
    if manifest is None:
        return {}, ""
    shards = manifest.get("shards")
    planned = {t.split: t.stop for t in tasks}
    if not isinstance(shards, list) or any(
        not isinstance(e, dict) or not isinstance(e.get("file"), str) for e in shards
    ):
        raise OutputExistsError(
            f"output folder {str(out)!r} holds a finished dataset whose dataset.json lists no "
            f"readable shards{_REPLACE}"
        )
    built = {e.get("split"): e.get("stop") for e in shards}
    was, now = manifest.get("limit"), limit
    n_was = sum(v for v in built.values() if isinstance(v, int))
    n_now = sum(planned.values())
    said = f"built with {_limit_words(was)} ({n_was} {plural(n_was, 'sample')})"
    extends = ""
    if built != planned:
        grows = was != now and all(
            isinstance(built.get(split), int) and built[split] <= stop
            for split, stop in planned.items()
        )
        if not grows or set(built) != set(planned):
            why = (
                f"{said}, asked for {_limit_words(now)} ({n_now} {plural(n_now, 'sample')}); "
                "a build with a smaller --limit does not cut it down: build into another folder"
                if was != now
                else f"it holds {n_was} {plural(n_was, 'sample')}, this build of the same recipe "
                f"and {_limit_words(now)} plans {n_now} (its split files changed)"
            )
            raise OutputExistsError(
                f"output folder {str(out)!r} holds a finished dataset {why}{_REPLACE}"
            )
        # what it reuses is known once its shards are checked (`_build`)
        extends = (
            f"extended the dataset {said} to {_limit_words(now)} ({n_now} "
            f"{plural(n_now, 'sample')})"
        )
    recorded = {
        Path(e["file"]).name: e["sha256"] for e in shards if isinstance(e.get("sha256"), str)
    }
    return recorded, extends


def _reuse_words(extends: str, reused: int) -> str:
    """`_check_resumable`'s note of an extended dataset, saying how many of its shards are
    reused: a --limit below the shard size leaves each split's only shard short, and a shard
    holding other samples than this build's, or changed since, is built again."""
    if reused:
        return f"{extends}, reusing {reused} of its shards"
    # the rule, not a cause: with a --limit that is a multiple of the shard size, a shard
    # changed since (or the files it was built from) is why none was reused
    return (
        f"{extends}; none of its shards was reused, so all its samples were built again (a "
        "shard is reused only where it holds all the samples this build puts in it and neither "
        "it nor the files it was built from changed since: a --limit that is not a multiple "
        "of the shard size leaves each split's last shard short)"
    )


def _orphan_shards(out: Path, recipe: Recipe) -> str | None:
    """For a folder with neither dataset.json nor a build state: None when it is not what a
    build leaves (no shards, or files of someone else's); "" when the shards that can be read
    are all of ``recipe``; else why they cannot be reused."""
    import h5py

    folder = out / "shards"
    shards = sorted(folder.glob("*.h5")) if folder.is_dir() else []
    if not shards or any(p.name not in (*_OUR_FILES, "shards") for p in out.iterdir()):
        return None
    fingerprints = set()
    for path in shards:
        # unreadable ones (a killed write, damage) are rebuilt, as on resume
        with contextlib.suppress(OSError, ValueError), h5py.File(path, "r") as f:
            fingerprints.add(f.attrs.get("fingerprint"))
    if not fingerprints:
        return "none of whose shards can be read"
    if fingerprints == {recipe.fingerprint}:
        return ""
    return (
        "built from another recipe or other split files (their recipe fingerprint is not this "
        "recipe's)"
    )


def _limit_words(limit: Any) -> str:
    return "no --limit" if limit is None else f"--limit {limit}"


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _recipe_difference(
    before: Any,
    now: dict[str, Any],
    files_before: Any = None,
    files_now: Mapping[str, str] | None = None,
    most: int = 3,
    same_places: frozenset[str] = frozenset(),
) -> str:
    """The recipe fields and split files that differ, as ``'dataset.seed is 0 there, 3 here'``
    and ``"its split file 'data/test.jsonl' changed"`` (files: name -> sha256); "" when none
    do (`_place_difference` says why then). ``same_places``: path fields written otherwise
    that name the same place (`_same_places`), which are no difference."""
    if not isinstance(before, dict):
        return "its recipe is not recorded"
    was, new = _flatten(before), _flatten(now)
    missing = object()
    keys = sorted(
        k
        for k in was.keys() | new.keys()
        if was.get(k, missing) != new.get(k, missing) and k not in same_places
    )

    def show(value: Any) -> str:
        return "unset" if value is missing else json.dumps(value, ensure_ascii=False)

    parts = [
        f"{k} is {show(was.get(k, missing))} there, {show(new.get(k, missing))} here"
        for k in keys[:most]
    ]
    if len(keys) > most:
        parts.append(f"{len(keys) - most} more {plural(len(keys) - most, 'field')}")
    files_now = files_now or {}
    if isinstance(files_before, dict):
        for name in sorted(files_before.keys() | files_now.keys()):
            if name not in files_now:
                parts.append(f"its split file {name!r} is no longer read")
            elif name not in files_before:
                parts.append(f"split file {name!r} is new")
            elif files_before[name] != files_now[name]:
                parts.append(f"its split file {name!r} changed")
    if parts:
        return ", ".join(parts)
    if files_before is None and files_now:
        # recorded before split files counted: they may have changed too
        return (
            "same fields, but another eventsim version or recipe folder, or built before "
            "split file contents were recorded"
        )
    # the fingerprint also covers the eventsim version and where a file source reads from
    return ""


def _same_places(previous: dict[str, Any], recipe: Recipe) -> frozenset[str]:
    """The path fields of ``recipe`` (``splits.NAME``, ``source.root``) that name the place the
    build ``previous`` (its state or manifest) read from, however each was written (relative to
    the recipe, absolute, with ``~``). A state records its places; a manifest's are those of its
    recipe from its recipe file's folder."""
    where = previous.get("locations")
    if not isinstance(where, dict):
        recipe_file, was = previous.get("recipe_file"), previous.get("recipe")
        if not isinstance(recipe_file, str) or not isinstance(was, dict):
            return frozenset()
        try:
            where = load_recipe(was, base_dir=Path(recipe_file).parent).locations
        except (EventsimError, ValueError, TypeError):
            # a recipe this eventsim no longer takes, or an edited manifest: no place is the same
            return frozenset()
    now = recipe.locations
    return frozenset(key for key, place in now.items() if where.get(key) == place)


def _place_difference(previous: dict[str, Any], recipe: Recipe) -> str:
    """Why the build ``previous`` (its state or manifest) has another fingerprint than
    ``recipe`` when their fields and split files are the same: another eventsim version, or
    a file source reading from another place (`Recipe.locations`), which its samples record."""
    versions = previous.get("versions")
    was = previous.get("eventsim", versions.get("eventsim") if isinstance(versions, dict) else None)
    if isinstance(was, str) and was != __version__:
        return f"same fields, but built by eventsim {was}, this is {__version__}"
    where = previous.get("locations")
    if isinstance(where, dict):
        now = recipe.locations
        for key in sorted(where.keys() | now.keys()):
            if where.get(key) != now.get(key):
                return (
                    f"same fields and split files, but read from another place: {key} is "
                    f"{where.get(key)!r} there, {now.get(key)!r} here, and its samples record "
                    "the split file they come from: move the files back to resume it"
                )
    recipe_file = previous.get("recipe_file")
    # the same file: an eventsim of the same version number with another fingerprint rule
    # (one in development) built it
    if (
        isinstance(recipe_file, str)
        and recipe_file != recipe.recipe_file
        and recipe.source_kind != "shapes"
    ):
        return (
            "same fields and split files, but read from another place (its recipe file was "
            f"{recipe_file!r}), and its samples record the split file they come from"
        )
    return "same fields, but built by another eventsim or read from another place"


def _remove_build(out: Path) -> None:
    for name in _OUR_FILES:
        (out / name).unlink(missing_ok=True)
    shards = out / "shards"
    if not shards.is_dir():
        return
    # only what a build writes there: --force into a folder of the user's own that happens to
    # have a "shards" folder must not delete their files
    for path in [*shards.glob("*.h5"), *shards.glob(".*.tmp*")]:
        if path.is_file() or path.is_symlink():
            path.unlink()
    with contextlib.suppress(OSError):
        shards.rmdir()


def _remove_stale_temp(out: Path) -> None:
    # temporaries of a killed run (no worker runs yet); their shard is rebuilt
    for folder in (out, out / "shards"):
        for tmp in folder.glob(".*.tmp*"):
            tmp.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- planning


def _check_paths_are_text(recipe: Recipe) -> None:
    """Refuse a recipe, split file or source.root path that is not UTF-8: the dataset's files
    record them as UTF-8 text (the manifest, each sample's source), and a Linux file name may
    hold other bytes (Python keeps them as lone surrogates). Such a name stopped the build at
    its end, or crashed OpenCV reading an image below it."""
    paths = [("recipe file", recipe.path)] if recipe.path is not None else []
    if recipe.source_kind != "shapes":
        paths += [(f"splits.{k}", recipe.resolve_path(v)) for k, v in recipe.splits.items()]
        # the files a wildcard name matches, too
        paths += [("split file", p) for p in recipe.split_files().values()]
        if recipe.source.get("root"):
            paths.append(("source.root", recipe.resolve_path(recipe.source["root"])))
    for what, path in paths:
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            raise DatasetError(
                f"{what} path {str(path)!r} is not UTF-8 (its file system name holds other "
                "bytes, shown as \\udcXX); the dataset records it as UTF-8 text: rename it"
            ) from None


def _plan(
    recipe: Recipe, out: Path, limit: int | None, strict: bool
) -> tuple[list[ShardTask], bool]:
    """The shards to build, and whether ``limit`` left samples out of a split."""
    _check_paths_are_text(recipe)
    tasks: list[ShardTask] = []
    size = recipe.shard_size
    cut = False
    for split in recipe.splits:
        # one sample more than the limit: whether there was more to leave out
        specs = plan_split(recipe, split, None if limit is None else limit + 1)
        if limit is not None and len(specs) > limit:
            cut = True
            specs = specs[:limit]
        if strict and not tasks and specs and specs[0].error:
            # the dataset's first sample: no sample before it can fail first, so it is named
            # before anything is written. A record found bad here after other samples is named
            # only if none of those fails to build (see `_build`)
            raise DatasetError(f"sample {specs[0].id} ({_where(specs[0])}): {specs[0].error}")
        for k, lo in enumerate(range(0, len(specs), size)):
            chunk = tuple(specs[lo : lo + size])
            path = out / "shards" / shard_filename(split, k)
            tasks.append(ShardTask(recipe, split, k, chunk, str(path), strict))
    return tasks, cut


def _raise_strict(task: ShardTask, error: dict[str, Any]) -> None:
    spec = next((s for s in task.specs if s.id == error.get("id")), task.specs[0])
    raise DatasetError(
        f"sample {spec.id} ({_where(spec)}): {error.get('reason')} (skipped by an earlier "
        f"build without --strict into this folder)"
    )


def _where(spec: SampleSpec) -> str:
    prov = spec.provenance
    if "line" in prov:
        return f"{prov.get('file')} line {prov['line']}"
    if "row" in prov:
        return f"{prov.get('file')} row {prov['row']}"
    return f"split {spec.split} index {spec.index}"


# ----------------------------------------------------------------------------- running shards

_MAKERS: dict[str, SampleMaker] = {}


class StrictStop(DatasetError):
    """The bad sample a ``strict`` build stops at (the first of its shard)."""


def _file_sha256(path: Path) -> str | None:
    try:
        return file_digest(path)[0]
    except OSError:
        return None


def _maker(recipe: Recipe) -> SampleMaker:
    """The process's `SampleMaker` of ``recipe`` (the last recipe's only)."""
    maker = _MAKERS.get(recipe.fingerprint)
    if maker is None:
        _MAKERS.clear()
        maker = _MAKERS[recipe.fingerprint] = SampleMaker(recipe)
    return maker


def run_shard(task: ShardTask, on_sample: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Build and write one shard (runs in a worker process); returns its index and checksum,
    and the image and video files it was built from (``inputs``, see `INPUTS_FILE`)."""
    maker = _maker(task.recipe)
    errors: list[dict[str, Any]] = []
    inputs: dict[str, list[Any] | None] = {}

    def built() -> Iterator[tuple[int, Any]]:
        # one sample at a time, written before the next is built
        for spec in task.specs:
            # an image held in a parquet cell is part of its split file, hashed in the fingerprint
            media = maker.media_file(spec)
            if media is not None:
                # before it is read: a file replaced meanwhile is not recorded as the one read
                if str(media) not in inputs:
                    inputs[str(media)] = _file_record(
                        str(media), task.recipe.source_kind == "video"
                    )
            try:
                sample = maker.make(spec)
            except SampleError as exc:
                if task.strict:
                    raise StrictStop(f"sample {spec.id} ({_where(spec)}): {exc}") from None
                errors.append(
                    {
                        "id": spec.id,
                        "split": spec.split,
                        "index": spec.index,
                        "reason": str(exc),
                        "source": spec.provenance,
                    }
                )
            else:
                if task.recipe.source_kind == "image":
                    # what the image is, for the cross-split repeat check: two images asked
                    # the same question under the same id are no leak, one image twice is
                    # (a video's path is its meta.video). The sha256 of its encoded bytes,
                    # whether a file (logged before it was read, once a shard) or a parquet
                    # cell holds them
                    if media is not None:
                        record = inputs[str(media)]
                        sha = None if record is None else record[4]
                    else:
                        data = maker.image_bytes(spec)
                        sha = None if data is None else hashlib.sha256(data).hexdigest()
                    sample.meta = {**sample.meta, "image_sha256": sha}
                yield spec.index, sample
            if on_sample is not None:
                on_sample()

    width, height = task.recipe.sensor_size
    info = {**task.expect(), "sensor_width": width, "sensor_height": height}
    from eventsim.simulator.core import ThresholdSpreadWarning

    with warnings.catch_warnings():
        # said once by the build (`_warn_threshold_spread`), not by each sample's simulator
        warnings.simplefilter("ignore", ThresholdSpreadWarning)
        shard = write_shard(Path(task.path), built(), errors, info)
    return {**shard, "inputs": inputs}


# glibc hands freed blocks above 128 KiB straight back to the kernel; a sample allocates and frees
# frames of 150 KiB to a few MiB, and faulting those pages in again cost about a quarter of the
# build's CPU time. Keeping up to 256 MiB for reuse removes that.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
# Setting a threshold turns glibc's dynamic one off for the rest of the process, so an
# in-process build cannot give the caller back glibc's defaults; it leaves what the dynamic
# threshold grows to on 64-bit (32 MiB; trim twice that). Going back to the 128 KiB start
# value instead had every block above it mapped and faulted in afresh: torch's activations, so
# `epvlm demo`'s evaluation after its in-process build ran 30 % slower.
_AFTER_BUILD_MMAP_THRESHOLD = 32 << 20
_AFTER_BUILD_TRIM_THRESHOLD = 2 * _AFTER_BUILD_MMAP_THRESHOLD


def _mallopt(trim: int, mmap: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_MMAP_THRESHOLD, mmap)
    libc.mallopt(_M_TRIM_THRESHOLD, trim)


_POOL_LIMITS: Any = None  # the pool worker's threadpoolctl limits, held for its lifetime


def _worker_setup() -> None:
    """Settings of a build process: one compute thread (parallelism comes from processes, so
    ``--workers N`` uses N cores) and an allocator that keeps freed frames for reuse. torch
    is set only where it is loaded: the simulator imports it only for some pixel models, and
    then for a few small tables (see `eventsim.simulator.EventSimulator`)."""
    import cv2

    cv2.setNumThreads(1)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    _mallopt(256 << 20, 64 << 20)


def _pool_worker_init() -> None:
    """Initializer of a pool worker: ignore Ctrl-C (the parent tears the pool down), exit with
    the parent, and pin every BLAS/OpenMP pool already loaded to one thread; OMP_NUM_THREADS
    alone comes too late for libraries imported before it was set."""
    global _POOL_LIMITS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    # a library the worker imports later (torch, for some pixel models) starts with one thread
    os.environ["OMP_NUM_THREADS"] = "1"
    _worker_setup()
    from threadpoolctl import threadpool_limits

    _POOL_LIMITS = threadpool_limits(limits=1)
    # tqdm's write lock is by default a multiprocessing RLock, made at a process's first bar
    # (the simulator makes a hidden one for upsampled frames): in a worker that is a named
    # semaphore, which the worker unlinks only on a normal exit. Workers stopped on Ctrl-C
    # left it to the resource tracker, which warned of "leaked semaphore objects". Workers
    # draw no bars and share none with other processes: a thread lock serves.
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


def _exit_with_parent() -> None:
    """End this worker as soon as the build process is gone. A parent killed with SIGKILL
    cannot tear the pool down, and a worker waiting for its next shard would wait forever (its
    parent is the fork server, so PR_SET_PDEATHSIG cannot help); it would also keep the fork
    server alive, which exits when the last process holding its "alive" pipe is gone.
    `parent_process().sentinel` is a pipe whose other end only the parent holds: it reads as
    closed once the parent has exited, however it died."""
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="eventsim-parent-watch", daemon=True).start()


@contextlib.contextmanager
def worker_settings() -> Iterator[None]:
    """`_worker_setup` for the duration of an in-process build, then the caller's settings.
    The environment is left alone: a torch first imported during the build keeps the
    thread count it chose itself."""
    import cv2

    cv_threads = cv2.getNumThreads()
    torch = sys.modules.get("torch")
    torch_threads = None if torch is None else torch.get_num_threads()
    _worker_setup()
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(limits=1)
    try:
        yield
    finally:
        limits.restore_original_limits()
        cv2.setNumThreads(cv_threads)
        if torch is not None:
            torch.set_num_threads(torch_threads)
        _mallopt(_AFTER_BUILD_TRIM_THRESHOLD, _AFTER_BUILD_MMAP_THRESHOLD)


def _run_shard_in_worker(task: ShardTask) -> dict[str, Any]:
    # a Dask worker may be a thread of someone else's process: restore its settings afterwards
    with worker_settings():
        return run_shard(task)


@dataclasses.dataclass
class _Share:
    """How a local build's shards were shared out."""

    in_process: int = 0
    pool_workers: int = 0
    free_cores: float | None = None  # at the last look, when the cores were judged

    def note(self, asked: int) -> str:
        if not self.pool_workers and not self.in_process:
            return ""
        if not self.pool_workers:
            if self.free_cores is None:
                return "1, this process (a single shard to build)"
            free = f"{self.free_cores:.1f}"
            return (
                f"1, this process: {free} {plural(float(free), 'core')} free for this build, "
                f"too few to use more of the {asked} workers allowed"
            )
        if self.in_process:
            return (
                f"{self.in_process} {plural(self.in_process, 'shard')} built in this process "
                f"while no second core was free, the rest by a pool of {self.pool_workers}"
            )
        return f"a pool of {self.pool_workers}"


def _execute(
    pending: list[ShardTask],
    workers: int,
    executor: str,
    scheduler: str | None,
    bar,
    free: FreeCores | None,
    share: _Share,
):
    if not pending:
        return
    if executor == "dask":
        yield from _execute_dask(pending, workers, scheduler, bar)
    else:
        yield from _execute_local(pending, workers, bar, free, share)


# a pool is started when the cores free for this build round to 2 or more; judged over at least
# this long a window (planning, else a short wait; then each shard built in this process)
_FREE_WINDOW_S = 0.1


def _execute_local(
    pending: list[ShardTask], workers: int, bar, free: FreeCores | None, share: _Share
):
    """The shards on this machine. One worker: all in this process. More: a pool of up to
    ``workers`` processes, sized to the cores free for this build; while fewer than two are
    free, shards are built in this process instead (as with one worker): more processes could
    not get more CPU time (see `eventsim.datasets._cpu`) and would only add their own start-up
    and overhead. This process does no building once the pool runs. A single shard is always
    built here. Without ``free`` (``exact_workers``) the pool has ``workers`` processes from the
    start."""
    i = 0
    # entered at the first shard built here: a driver that only runs the pool keeps its settings
    with contextlib.ExitStack() as settings:
        while i < len(pending):
            if workers > 1 and len(pending) - i > 1:
                if free is None:
                    break
                cores = free.read(_FREE_WINDOW_S)
                if cores is None:
                    break
                share.free_cores = cores
                if int(cores + 0.5) >= 2:
                    workers = min(workers, int(cores + 0.5))
                    break
            if i == 0:
                settings.enter_context(worker_settings())
            task = pending[i]
            result = run_shard(task, on_sample=lambda: bar.update(1))
            share.in_process += 1
            yield task, result
            i += 1
    if i < len(pending):
        share.pool_workers = min(workers, len(pending) - i)
        yield from _execute_pool(pending[i:], share.pool_workers, bar)


_POLL_S = 0.2  # longest wait before a Ctrl-C during a parallel build is acted upon


def _execute_pool(pending: list[ShardTask], workers: int, bar):
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(pending)),
        mp_context=_pool_context(multiprocessing, torch=_simulates_with_torch(pending[0].recipe)),
        initializer=_pool_worker_init,
    )
    try:
        # Workers start with SIGINT blocked (the mask survives spawn's exec), so a terminal's
        # Ctrl-C reaches only this process, which tears them down; a Ctrl-C meanwhile stays
        # pending here and is raised as soon as the mask is restored.
        with _sigint_blocked():
            futures = {pool.submit(run_shard, task): task for task in pending}
        order = {fut: k for k, fut in enumerate(futures)}
        remaining = set(futures)
        # a strict build names the first bad sample in dataset order, whichever worker met one
        # first: the (position, error) of the earliest shard stopped so far
        stop: tuple[int, StrictStop] | None = None
        while remaining:
            # concurrent.futures waits in Python code that takes locks its manager thread also
            # needs; a KeyboardInterrupt raised just after one was taken would leave it held
            # and the teardown below would wait forever. So Ctrl-C is taken between short
            # waits only.
            with sigint_deferred():
                done, remaining = wait(remaining, timeout=_POLL_S, return_when=FIRST_COMPLETED)
                finished = []
                for fut in sorted(done, key=order.__getitem__):
                    exc = None if fut.cancelled() else fut.exception()
                    if isinstance(exc, StrictStop):
                        if stop is None or order[fut] < stop[0]:
                            stop = (order[fut], exc)
                    elif not fut.cancelled():
                        finished.append((futures[fut], _shard_result(fut)))
                if stop is not None:
                    # later shards cannot hold an earlier bad sample: only earlier ones are
                    # waited for (those not started yet are dropped)
                    for fut in remaining:
                        if order[fut] > stop[0]:
                            fut.cancel()
                    remaining = {f for f in remaining if order[f] < stop[0]}
            for task, result in finished:
                bar.update(len(task.specs))
                yield task, result
        if stop is not None:
            raise stop[1]
    except BaseException:
        # Ctrl-C, a failure, or the caller stopped early: stop the shards in progress now
        # rather than waiting for them, then delete what the stopped workers were writing. A
        # second Ctrl-C must not cut this short (it would leave workers and files behind).
        with sigint_deferred(deliver=False):
            _tear_down(pool)
            for task in pending:
                remove_stale_temps(task.path)
        raise
    with sigint_deferred():
        pool.shutdown(wait=True)


def _shard_result(fut: Any) -> dict[str, Any]:
    from concurrent.futures.process import BrokenProcessPool

    try:
        return fut.result()
    except BrokenProcessPool:
        raise DatasetError(
            "a build worker process died (out of memory, killed, or started from a script "
            "without an `if __name__ == '__main__':` guard); run the same build again to "
            "resume it"
        ) from None


def _tear_down(pool: Any) -> None:
    """Kill the pool's workers, wait until they are gone, and stop the fork server (a build's)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        proc.terminate()
    deadline = time.monotonic() + 5.0
    for proc in procs:
        proc.join(timeout=max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=1.0)
    # a worker whose fork server is gone (SIGTERM to the whole process group, as Slurm sends)
    # reads as ended at once, while it may still be exiting; its temporary is removed (by the
    # caller) only once it has
    for proc in procs:
        while proc.pid and _pid_running(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
    pool.shutdown(wait=True, cancel_futures=True)
    _stop_fork_server()


# the fork server a build's pool started in this process: (its pid, None until the pool's first
# worker starts it; the modules it preloads); None when the one running is not a build's
_BUILD_SERVER: tuple[int | None, list[str]] | None = None


def _fork_server_pid() -> int | None:
    from multiprocessing import forkserver

    return getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)


def _build_server_pid() -> int | None:
    """The pid of the fork server running in this process when a build's pool started it;
    None when none runs, or another pool started it (one of the caller's: the default start
    method from Python 3.14), which a build leaves running: that pool's workers report to it
    through the server, and stopping it broke the pool."""
    global _BUILD_SERVER
    pid = _fork_server_pid()
    if pid is None or _BUILD_SERVER is None:
        return None
    if _BUILD_SERVER[0] is None:
        # `_pool_context` saw none running: the pool it was for started this one
        _BUILD_SERVER = (pid, _BUILD_SERVER[1])
    return pid if _BUILD_SERVER[0] == pid else None


def _stop_fork_server() -> None:
    """Stop the fork server a build started: it holds torch and the build code (~250 MB)
    and would otherwise live as long as this process. The next pool starts a fresh one."""
    global _BUILD_SERVER
    from multiprocessing import forkserver

    pid = _build_server_pid()
    stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
    if pid is None or stop is None:
        return
    # it also waits for processes forked for someone else in this process: end it now
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    stop()
    _BUILD_SERVER = None


_HAS_SIGMASK = hasattr(signal, "pthread_sigmask")


def _simulates_with_torch(recipe: Recipe) -> bool:
    """Whether building ``recipe`` imports torch in every worker: upsampled frames are float
    DN, which the simulator runs on its torch path; on uint8 frames a low-pass filter
    (``cutoff_hz``) has torch probed for how it rounds and makes its gain tables, and a leak
    with jitter re-draws in torch's math the speed of each pixel that completes a leak period
    (see `eventsim.simulator.core`), which some pixel does in nearly every sample (at 0.1 Hz,
    a few of 64x48 in 20 ms). Images of 16 bits or floats also run the torch path; that the
    recipe cannot tell, and workers then import torch themselves. tests/test_build_second_look9
    checks this against what the simulator imports."""
    params = recipe.dvs_params()
    upsampled = recipe.data["simulator"]["upsample"] != "none"
    leak_jitter = params.leak_rate_hz > 0 and params.leak_jitter_fraction > 0
    return upsampled or params.cutoff_hz > 0 or leak_jitter


def _pool_context(multiprocessing: Any, *, torch: bool = False) -> Any:
    """Workers forked from a fork server that has imported the build code and the simulator's
    numba kernels (torch where numba is missing) once, so each worker starts in milliseconds
    instead of importing and loading them again (as spawn does). ``torch``: the recipe's
    samples need torch (`_simulates_with_torch`), which the server then imports too, with
    the upsampling code: each worker importing it on its first sample took 1.5-2.5 s of CPU
    there (a pool of two upsampling 32 video samples spent 6.7 s of CPU, 4.9 s so). The
    first module the server imports sets the BLAS/OpenMP libraries to one thread before they
    load, so it holds no threads (forking it is safe) and no worker inherits a spinning BLAS
    thread. Spawn where there is no fork server."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    # tqdm: every worker's initializer sets its lock (`_pool_worker_init`)
    preload = ["eventsim.datasets._pool_threads", "eventsim.datasets.engine"]
    preload += ["threadpoolctl", "tqdm"]
    numba = importlib.util.find_spec("numba") is not None
    if numba:
        preload.append("eventsim.datasets._pool_kernels")
    if (torch or not numba) and importlib.util.find_spec("torch") is not None:
        preload += ["torch", "eventsim.simulator.core"]
    if torch:
        preload += ["tqdm.auto", "eventsim.simulator.pipeline", "eventsim.simulator.upsample"]
    # a finished build leaves its fork server running for the next pool of this process; one
    # that preloaded other modules (another recipe's) is replaced. One that another pool
    # started is used as it is (`_build_server_pid`): its workers import what they need
    global _BUILD_SERVER
    if _build_server_pid() is not None and _BUILD_SERVER and _BUILD_SERVER[1] != preload:
        _stop_fork_server()
    ctx.set_forkserver_preload(preload)
    if _fork_server_pid() is None:
        _BUILD_SERVER = (None, preload)
    elif _build_server_pid() is None:
        _BUILD_SERVER = None
    return ctx


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Hold Ctrl-C back while worker processes start: they inherit SIGINT blocked, and this
    process raises it only once every worker is registered with the pool (a worker half
    started when the pool is torn down would print a traceback). SIGTERM is held back here
    too (`sigint_deferred`) but not blocked: the pool stops its workers with it."""
    # another thread may take the signal; its Python handler still runs here, and
    # `sigint_deferred` has replaced it
    with sigint_deferred():
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if _HAS_SIGMASK else None
        try:
            yield
        finally:
            if old is not None:
                # a Ctrl-C that came meanwhile runs its (deferring) handler here
                signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _execute_dask(pending: list[ShardTask], workers: int, scheduler: str | None, bar):
    from eventsim.errors import require

    distributed = require("distributed", "dask", "the dask executor")
    cluster = None
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except OSError as exc:
            raise DatasetError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    else:
        dask = require("dask", "dask", "the dask executor")
        # numpy-heavy tasks run faster without glibc's trimming of freed memory on every task
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
        client = distributed.Client(cluster)
    try:
        futures = client.map(_run_shard_in_worker, pending, pure=False)
        order = {f.key: k for k, f in enumerate(futures)}
        # as in `_execute_pool`: a strict build names the first bad sample in dataset order
        stop: tuple[int, StrictStop] | None = None
        unfinished = set(order.values())
        for fut in distributed.as_completed(futures):
            k = order[fut.key]
            unfinished.discard(k)
            if stop is not None and k > stop[0]:
                continue
            try:
                result = fut.result()
            except StrictStop as exc:
                if stop is None or k < stop[0]:
                    stop = (k, exc)
                    for later in futures[k + 1 :]:
                        later.cancel()
            else:
                bar.update(len(pending[k].specs))
                yield pending[k], result
            if stop is not None and not any(i < stop[0] for i in unfinished):
                raise stop[1]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ----------------------------------------------------------------------------- manifest


def _versions() -> dict[str, str]:
    out = {"eventsim": __version__, "python": sys.version.split()[0]}
    for dist in ("numpy", "h5py", "hdf5plugin", "opencv-python-headless", "torch"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


# what str.splitlines() ends a line at and json.dumps(ensure_ascii=False) leaves unescaped
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def _jsonl_line(value: Any) -> str:
    """One JSONL line, non-ASCII text kept readable, but the three line breaks JSON allows
    inside a string escaped: a question with a U+2028 would otherwise be two lines to a
    reader that splits with str.splitlines()."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False).translate(_LINE_BREAKS) + "\n"


def _finalise(out: Path, recipe: Recipe, tasks, results, limit, logged) -> dict[str, Any]:
    records: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    shards = []
    for task in tasks:
        res = results[(task.split, task.shard)]
        records += res["records"]
        errors += res["errors"]
        shards.append(
            {
                "file": f"shards/{Path(task.path).name}",
                "split": task.split,
                "shard": task.shard,
                "start": task.start,
                "stop": task.stop,
                "samples": len(res["records"]),
                "errors": len(res["errors"]),
                "sha256": res["sha256"],
                "bytes": res["bytes"],
            }
        )
    splits: dict[str, Any] = {}
    for split in recipe.splits:
        recs = [r for r in records if r["split"] == split]
        splits[split] = {
            "samples": len(recs),
            "errors": sum(e["split"] == split for e in errors),
            "question_types": dict(sorted(Counter(r["question_type"] for r in recs).items())),
            "target_motion": dict(
                sorted(Counter(r["target_motion"] or "n/a" for r in recs).items())
            ),
            "events": sum(r["n_events"] for r in recs),
        }
    manifest = {
        "format": DATASET_FORMAT,
        "format_version": DATASET_FORMAT_VERSION,
        "shard_format_version": SHARD_FORMAT_VERSION,
        "name": recipe.name,
        "recipe": recipe.to_dict(),
        # absolute: a path relative to where the build ran names no file from anywhere else
        "recipe_file": recipe.recipe_file,
        "recipe_fingerprint": recipe.fingerprint,
        "split_files": recipe.split_file_hashes,
        "limit": limit,
        "versions": _versions(),
        "sensor_size": list(recipe.sensor_size),
        "window_us": recipe.window_us,
        "counts": {"samples": len(records), "errors": len(errors)},
        "samples": {name: info["samples"] for name, info in splits.items()},
        "splits": splits,
        "shards": shards,
    }
    samples_text = "".join(_jsonl_line(r) for r in records)
    # the loader and `eventsim verify` refuse labels edited after the build
    manifest["samples_sha256"] = hashlib.sha256(samples_text.encode("utf-8")).hexdigest()
    # the inputs of the listed shards alone (each reused one is listed, else it was rebuilt)
    inputs = (
        []
        if logged is None
        else [
            (
                out / INPUTS_FILE,
                "".join(_inputs_line(n, logged[n]) for n in (Path(t.path).name for t in tasks)),
            )
        ]
    )
    # dataset.json last: a reader never finds a manifest without the files it lists
    _publish_together(
        [
            *inputs,
            (out / "samples.jsonl", samples_text),
            (out / "errors.jsonl", "".join(_jsonl_line(e) for e in errors)),
            (out / "dataset.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"),
        ]
    )
    # shards of an earlier build of this recipe that this one does not list (another --limit)
    listed = {Path(t.path).name for t in tasks}
    dropped = sorted(p for p in (out / "shards").glob("*.h5") if p.name not in listed)
    for path in dropped:
        path.unlink()
    (out / STATE_FILE).unlink(missing_ok=True)
    return {
        "samples": manifest["samples"],
        "errors": {k: v["errors"] for k, v in splits.items()},
        "notes": _dropped_note(dropped, limit) + _sample_notes(records),
    }


def _dropped_note(dropped: list[Path], limit: int | None) -> list[str]:
    """Say which shards past ``limit`` an earlier build left and this one deleted: work that
    was done, and that a build without the limit does again."""
    if not dropped:
        return []
    n = len(dropped)
    names = dropped[0].name if n == 1 else f"{dropped[0].name} to {dropped[-1].name}"
    if limit is None:
        return [f"deleted {n} {plural(n, 'shard')} this build does not list ({names})"]
    return [
        f"deleted {n} {plural(n, 'shard')} an earlier build had finished past --limit {limit} "
        f"({names}): the dataset holds only the samples asked for; the same command without "
        "--limit builds them again and extends it"
    ]


def _publish_together(files: list[tuple[Path, str]]) -> None:
    """Publish each (path, text) of ``files`` as `publish_text` does, but all written and
    flushed first and then renamed in order, back to back (a Ctrl-C waits for the last rename).

    A reader checks samples.jsonl against dataset.json's ``samples_sha256``. When a dataset
    finished again gets other samples.jsonl bytes, a reader whose two reads fall either side of
    a moment when one file is new and the other old sees a mismatch; those moments held the
    writing and flushing of errors.jsonl and dataset.json (seconds on a slow or network disk),
    and are now the renames alone; a reader that meets one finds dataset.json changed and
    reads both again (`eventsim.datasets.loader._check_finished_again`)."""
    temps: list[Path] = []
    try:
        for path, text in files:
            temps.append(temp_path(path))
            temps[-1].write_text(text, encoding="utf-8")
            fsync_file(temps[-1])
        check_interrupted()
        with sigint_deferred():
            for tmp, (path, _) in zip(temps, files):
                publish(tmp, path)
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise


def _sample_notes(records: list[dict[str, Any]]) -> list[str]:
    """Notes on samples that were built but that a user should hear of, from the records
    (dataset order, so the same whichever process built which shard)."""
    damaged = [r for r in records if (r.get("meta") or {}).get("decode_problem")]
    if not damaged:
        return []
    first = damaged[0]
    video = Path(str(first["meta"].get("video", ""))).name
    n = len(damaged)
    whose = plural(n, "its", "each one's")
    return [
        f"{n} {plural(n, 'sample comes', 'samples come')} from a video that stops decoding "
        f"after {plural(n, 'its', 'their')} question time (truncated or corrupt?), "
        f"{plural(n, '', 'first ')}{first['id']} ({video}); "
        f"{whose} meta.decode_problem says where"
    ]
