"""Describing and verifying built datasets (``eventsim info DIR``, ``eventsim verify DIR``)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from eventsim._text import plural, shell_command
from eventsim._version import __version__
from eventsim.datasets._formats import STATE_FILE
from eventsim.datasets.loader import (
    _check_finished_again,
    _FinishedAgain,
    _json_lines,
    _missing,
    _why,
    dataset_root,
    read_jsonl,
    read_manifest,
)
from eventsim.datasets.shards import file_digest, open_shard, read_events, read_shard_records
from eventsim.errors import DatasetError, ParameterError
from eventsim.outputs import fsync_file, publish, remove_stale_temps, temp_path

_MAX_REPORTED = 50


def summarize_dataset(
    root: str | Path, *, manifest: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What `describe_dataset` shows, as JSON-ready data: name, format, source, sensor size,
    event window, seed, shards and bytes, and per split its samples, skipped samples, events and
    counts per question type and target motion (from the manifest, without opening shards).
    ``manifest`` is ``root``'s `read_manifest`, when the caller has read it already."""
    root = dataset_root(root)
    return _summary(read_manifest(root) if manifest is None else manifest, root)


def _summary(m: dict[str, Any], root: Path) -> dict[str, Any]:
    recipe = m.get("recipe", {})
    src = recipe.get("source", {})
    about = recipe.get("dataset", {})
    return {
        "path": str(root),
        "name": m["name"],
        # the recipe's words on what the data is and on what terms it may be used
        **{key: about.get(key, "") for key in _ABOUT},
        "format": m["format"],
        "format_version": m["format_version"],
        "source": {"kind": src.get("kind"), "mode": src.get("mode")},
        "sensor_size": list(m["sensor_size"]),
        "window_ms": m["window_us"] / 1000,
        "seed": recipe.get("dataset", {}).get("seed"),
        "limit": m.get("limit"),
        "shards": len(m["shards"]),
        "bytes": sum(s["bytes"] for s in m["shards"]),
        "samples": m["counts"]["samples"],
        "skipped": m["counts"]["errors"],
        "splits": {
            name: {
                "samples": sp["samples"],
                "skipped": sp["errors"],
                "events": sp["events"],
                "question_types": dict(sp["question_types"]),
                "target_motion": dict(sp["target_motion"]),
            }
            for name, sp in m["splits"].items()
        },
    }


# the recipe's fields info shows, by the label it gives them (the description none)
_ABOUT_LABELS = {
    "description": "",
    "license": "licence: ",
    "provenance": "provenance: ",
    "homepage": "homepage: ",
}
_ABOUT = tuple(_ABOUT_LABELS)


def _about_line(label: str, text: str) -> str:
    """A recipe's field (``description``: no label) as `describe_dataset` shows it: the lines
    of a multi-line text (a TOML multi-line string) after the first indented under it, so that
    they do not read as lines of the summary."""
    first, *rest = text.strip().splitlines()
    return "\n".join([f"  {label}{first}", *(f"    {line}".rstrip() for line in rest)])


def describe_dataset(root: str | Path, *, manifest: dict[str, Any] | None = None) -> str:
    """Readable summary: counts per split, question type and target motion, sensor, shards.
    ``manifest`` is ``root``'s `read_manifest`, when the caller has read it already."""
    root = dataset_root(root)
    m = read_manifest(root) if manifest is None else manifest
    d = _summary(m, root)
    width, height = d["sensor_size"]
    kind, mode = d["source"]["kind"] or "?", d["source"]["mode"]
    seed = "?" if d["seed"] is None else d["seed"]
    # a provenance may hold its own semicolons: a line each
    about = [
        _about_line(_ABOUT_LABELS[key], d[key])
        for key in _ABOUT
        if isinstance(d[key], str) and d[key].strip()
    ]
    lines = [
        f"dataset {d['name']} ({d['format']} {d['format_version']}) at {root}",
        *about,
        f"  source {kind}{f' (mode {mode})' if mode is not None else ''}; sensor "
        f"{width}x{height}; event window {d['window_ms']:g} ms; seed {seed}"
        + (f"; built with --limit {d['limit']}" if d["limit"] is not None else ""),
        f"  {d['shards']} {plural(d['shards'], 'shard')}, {d['bytes'] / 1e6:.1f} MB; "
        f"{d['samples']} {plural(d['samples'], 'sample')}, "
        f"{d['skipped']} skipped",
        "",
    ]
    splits = d["splits"]
    types = sorted({t for s in splits.values() for t in s["question_types"]})
    motions = sorted({t for s in splits.values() for t in s["target_motion"]})
    if motions == ["n/a"]:
        # no sample has a target motion (image and video QA, shapes' vqa mode): a column
        # "target n/a" counting every sample said nothing
        motions = []
    header = [
        "split",
        "samples",
        "skipped",
        "events/sample",
        *types,
        *(f"target {t}" for t in motions),
    ]
    rows = []
    for name, s in splits.items():
        per = s["events"] / s["samples"] if s["samples"] else 0.0
        rows.append(
            [name, str(s["samples"]), str(s["skipped"]), f"{per:.0f}"]
            + [str(s["question_types"].get(t, 0)) for t in types]
            + [str(s["target_motion"].get(t, 0)) for t in motions]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append(
            "  "
            + "  ".join(
                c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
            )
        )
    notes = _skipped_splits(m, root)
    lines += ["", *(f"  note: {n}" for n in notes)] if notes else []
    return "\n".join(lines)


def _skipped_splits(m: dict[str, Any], root: Path) -> list[str]:
    """A note for each split whose records were all skipped (a build that made nothing)."""
    return [
        f"split {name} has no samples: {'its' if s['errors'] == 1 else 'all'} {s['errors']} "
        f"{plural(s['errors'], 'record was', 'records were')} skipped; reasons in "
        f"{root / 'errors.jsonl'}"
        for name, s in m["splits"].items()
        if not s["samples"] and s["errors"]
    ]


@dataclasses.dataclass
class VerifyReport:
    root: Path
    n_samples: int
    n_shards: int
    problems: list[str]
    #: splits whose records were all skipped at build time: sound files, but nothing to use
    notes: list[str] = dataclasses.field(default_factory=list)
    #: what may be wrong with the data but not the files (a sample in two splits); shown with
    #: the verdict, not counted as problems
    warnings: list[str] = dataclasses.field(default_factory=list)
    #: how to mend the problems, where one way mends them: shown after them
    repair: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        if self.ok:
            head = (
                f"ok: {self.n_samples} {plural(self.n_samples, 'sample')} in {self.n_shards} "
                f"{plural(self.n_shards, 'shard')} verified ({self.root})"
            )
            return "\n".join(
                [
                    head,
                    *(f"  note: {n}" for n in self.notes),
                    *(f"  warning: {w}" for w in self.warnings),
                ]
            )
        shown = self.problems[:_MAX_REPORTED]
        more = len(self.problems) - len(shown)
        lines = [
            f"FAILED: {len(self.problems)} {plural(len(self.problems), 'problem')} in {self.root}",
            *(f"  {p}" for p in shown),
        ]
        if more:
            lines.append(f"  ... and {more} more")
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.repair:
            lines.append(f"  to repair: {self.repair}")
        return "\n".join(lines)


def finished_shards(root: Path) -> int:
    """How many shards a build has finished in the dataset folder ``root``, as they lie in
    shards/: a build writes each under a dot-name and renames it into place when complete."""
    return sum(1 for p in (root / "shards").glob("*.h5") if not p.name.startswith("."))


@contextlib.contextmanager
def shards_finished_told(root: Path) -> Iterator[None]:
    """Around reading the dataset ``root`` (``eventsim info``, ``eventsim verify``): a
    `DatasetError` of a folder holding an unfinished build says how many shards it has finished
    so far, as they lie in shards/ (a build renames each into place when it is complete)."""
    try:
        yield
    except DatasetError as exc:
        if not (root / STATE_FILE).is_file():
            raise
        done = finished_shards(root)
        raise DatasetError(
            f"{exc}; it has {done} finished {plural(done, 'shard')} (in shards/) so far"
        ) from None


def verify_dataset(root: str | Path, *, progress: bool = False) -> VerifyReport:
    """Re-check shard checksums, the manifest's counts, and every sample's events (sorted in
    time, inside the sensor and the event window, polarity 0/1) and frame (HxWx3 uint8)."""
    root = dataset_root(root)
    try:
        m, listed = _read_labels(root)
    except _FinishedAgain:
        # what is there now is one build's, unless it was finished again once more
        m, listed = _read_labels(root)
    problems: list[str] = []
    unchecked: list[str] = []
    problems += listed.problems
    readable = listed.readable
    expected = m.get("samples_sha256")
    # without a recorded hash (older builds) the labels are still compared with the shards
    if expected is not None and readable and listed.sha256 != expected:
        problems.append("samples.jsonl was changed after the build (sha256 differs)")
    # without the file every count below would be reported short, and every shard's samples
    # as missing from it: one problem said many times over
    if readable and listed.lines != m["counts"]["samples"]:
        problems.append(
            f"samples.jsonl has {listed.lines} {plural(listed.lines, 'line')}; dataset.json "
            f"counts {m['counts']['samples']}"
        )
    per_split = listed.per_split
    for split, info in m["splits"].items():
        listed_here = per_split.get(split, 0)
        if readable and listed_here != info["samples"]:
            problems.append(
                f"split {split}: {listed_here} {plural(listed_here, 'sample')} listed, manifest "
                f"says {info['samples']}"
            )
    problems += _skipped_problems(root / "errors.jsonl", m)
    by_shard = listed.by_shard
    known = {s["file"] for s in m["shards"]}
    strays = sorted(set(by_shard) - known)
    for shard in strays:
        problems.append(f"samples.jsonl refers to {shard}, which the manifest does not list")
    problems += _unlisted_shards(root, known | set(by_shard))

    from tqdm.auto import tqdm

    seen: set[str] = set()
    # per split, the events its shards hold by their own index (each sample's events are
    # checked against its line, and the line against that index); splits of a shard that
    # could not be checked are left uncounted, or all splits (None) when its split is unknown
    held: Counter[str] = Counter()
    uncounted: set[str | None] = set()
    rebuilt = 0  # shards missing or changed, which the same build rebuilds
    for entry in tqdm(m["shards"], desc="verify", unit="shard", disable=not progress, leave=False):
        if entry["file"] in seen:
            # a build lists each shard once; checked again, its samples passed again
            problems.append(f"{entry['file']}: listed more than once in dataset.json's shards")
            continue
        seen.add(entry["file"])
        path = root / entry["file"]
        shard_split = entry.get("split") if isinstance(entry.get("split"), str) else None
        if not path.is_file():
            problems.append(f"{entry['file']}: missing")
            uncounted.add(shard_split)
            rebuilt += 1
            continue
        if "sha256" not in entry:
            unchecked.append(entry["file"])
        try:
            damage = _damage(path, entry)
            if damage is not None:
                problems.append(f"{entry['file']}: {damage}")
                uncounted.add(shard_split)
                rebuilt += 1
                continue
            recs = listed.records(entry["file"]) if readable else None
            found, events = _verify_shard(path, entry, recs, m)
        except (OSError, DatasetError) as exc:
            # one unreadable shard (a bad disk sector, no permission, a damaged file that an
            # older build recorded no sha256 for) is one problem: the others are still checked
            problems.append(f"{entry['file']}: cannot be read: {_why(exc)}")
            uncounted.add(shard_split)
            continue
        problems += found
        if events is None:
            uncounted.add(shard_split)
        else:
            held += events
    # a shard left out of dataset.json's list (reported above) holds some of its splits' events
    if None not in uncounted and not strays:
        problems += [
            f"split {name}: its shards hold {held[name]} {plural(held[name], 'event')}, "
            f"dataset.json says {info['events']}"
            for name, info in m["splits"].items()
            if name not in uncounted and held[name] != info["events"]
        ]
    return VerifyReport(
        root=root,
        n_samples=listed.lines,
        n_shards=len(m["shards"]),
        problems=problems,
        notes=_skipped_splits(m, root)
        + (
            [
                f"dataset.json records no sha256 for {len(unchecked)} "
                f"{plural(len(unchecked), 'shard')} (an older build), first {unchecked[0]}: "
                f"{plural(len(unchecked), 'its size was', 'their sizes were')} checked, not "
                f"{plural(len(unchecked), 'its', 'their')} bytes"
            ]
            if unchecked
            else []
        ),
        warnings=listed.repeats.warnings(),
        repair=_repair(m, rebuilt, root),
    )


def _repair(m: dict[str, Any], rebuilt: int, root: Path) -> str:
    """How to mend ``rebuilt`` missing or damaged shards of the dataset at ``root`` (manifest
    ``m``): its build, from the recipe copy in its dataset.json and with the limit it was built
    with, rebuilds them and reuses the others, but only under the eventsim version that made it
    (another version's build has another fingerprint and is refused without --force, which
    rebuilds every shard). The command ends the text, unquoted: quoted paths inside quotes
    would not read as one command."""
    if not rebuilt:
        return ""
    shards = f"{rebuilt} missing or damaged {plural(rebuilt, 'shard')}"
    restore = f"restore {plural(rebuilt, 'it', 'them')} from a copy"
    command = rebuild_command(root, m)
    was = other_builder(m)
    if was is not None:
        how = build_under(was, m)
        return (
            f"this dataset was built by eventsim {was}, this is {__version__}, whose build "
            f"refuses it: install eventsim {was} and rerun the build that made it ({how}), "
            f"which rebuilds the {shards} and reuses the sound ones, or rebuild every shard "
            f"with this version (or {restore}), from the recipe copy in its dataset.json: "
            f"{command} --force"
        )
    return (
        f"rerun the build that made it, which rebuilds the {shards} and reuses the sound ones "
        f"(or {restore}), from the recipe copy in its dataset.json: {command}"
    )


# the last eventsim whose build takes no dataset.json as the recipe
_NO_MANIFEST_BUILDS = (0, 2, 8)


def _builds_from_manifests(version: str) -> bool:
    """Whether eventsim ``version`` (a dataset.json's) builds a dataset.json's recipe copy; a
    version that does not read as numbers is taken not to."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    return match is not None and tuple(map(int, match.groups())) > _NO_MANIFEST_BUILDS


def other_builder(m: dict[str, Any]) -> str | None:
    """The eventsim version that built the dataset of manifest ``m``, when it is not this one
    (whose build refuses the dataset without --force: another fingerprint); None when it is
    this one or the manifest does not say."""
    versions = m.get("versions")
    was = versions.get("eventsim") if isinstance(versions, dict) else None
    return was if isinstance(was, str) and was != __version__ else None


def build_under(was: str, m: dict[str, Any]) -> str:
    """Which command eventsim ``was`` (`other_builder`) builds the dataset of manifest ``m``
    again with, to go in parentheses before `rebuild_command` ends the text with --force."""
    if _builds_from_manifests(was):
        return "the command that ends this line, without --force"
    limit = m.get("limit")
    return (
        "'eventsim build RECIPE -o DIR' with the --set values"
        + (f" and the --limit {limit}" if _is_count(limit) else "")
        + f" it was built with: eventsim {was} takes no dataset.json as the recipe, "
        'whose "recipe" holds the fields'
    )


def rebuild_command(root: Path, m: dict[str, Any]) -> str:
    """The command that builds the dataset at ``root`` (manifest ``m``) again: its dataset.json
    as the recipe (the recipe copy with its --set values, read from its recipe file's folder)
    and the --limit it was built with."""
    limit = m.get("limit")
    return shell_command(
        "eventsim",
        "build",
        root / "dataset.json",
        "-o",
        root,
        *(("--limit", str(limit)) if _is_count(limit) else ()),
    )


def _damage(path: Path, entry: dict[str, Any]) -> str | None:
    """How a shard's bytes differ from those the build wrote, as `check_shard` says it: its
    size (read without hashing it) or its sha256; None when they do not."""
    size = path.stat().st_size
    if _is_count(entry.get("bytes")) and size != entry["bytes"]:
        return (
            f"has {size} {plural(size, 'byte')}, the build wrote {entry['bytes']} (the file was "
            "changed or damaged)"
        )
    if "sha256" in entry and file_digest(path)[0] != entry["sha256"]:
        return _MISMATCH
    return None


def _skipped_problems(path: Path, m: dict[str, Any]) -> list[str]:
    """errors.jsonl (a line per sample the build skipped, with its reason) against dataset.json's
    counts of skipped samples per split: every build since the first writes it, empty when it
    skipped nothing. Every line that is not a skipped sample's record is a problem of its own,
    named by its line number."""
    counted = m["counts"]["errors"]
    if _missing(path):
        fix = (
            "restore it or rebuild the dataset" if counted else "an empty errors.jsonl restores it"
        )
        return [
            "errors.jsonl is missing (every build writes it, empty when it skips no sample); "
            f"dataset.json counts {counted} skipped {plural(counted, 'sample')}: {fix}"
        ]
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [f"cannot read errors.jsonl: {_why(exc)}"]
    problems: list[str] = []
    per_split: Counter[str] = Counter()
    # line feeds only end a line, as in samples.jsonl (see `read_jsonl`)
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip(b" \t\r"):
            continue
        try:
            rec = json.loads(line.decode("utf-8"))
        except ValueError as exc:
            problems.append(f"errors.jsonl line {number}: not a JSON line: {exc}")
            continue
        why = _not_a_skip(rec)
        if why is None and rec["split"] not in m["splits"]:
            why = (
                f"split {rec['split']!r} is not one of dataset.json's "
                f"({', '.join(m['splits']) or 'none'})"
            )
        if why is None:
            per_split[rec["split"]] += 1
        else:
            problems.append(f"errors.jsonl line {number}: {why}")
    differ = [
        f"split {name}: errors.jsonl lists {per_split[name]} skipped "
        f"{plural(per_split[name], 'sample')}, dataset.json says {info['errors']}"
        for name, info in m["splits"].items()
        if per_split[name] != info["errors"]
    ]
    listed = sum(per_split.values())
    if not differ and listed != counted:
        # the splits agree, so dataset.json's total disagrees with its own splits
        differ.append(
            f"errors.jsonl lists {listed} skipped {plural(listed, 'sample')}; dataset.json "
            f"counts {counted}"
        )
    return problems + differ


# what a skipped sample's line holds (the engine's `run_shard` adds `index` and `source`)
_SKIP_FIELDS = (("id", "a string"), ("split", "a string"), ("reason", "a string"))


def _not_a_skip(line: Any) -> str | None:
    """Why an errors.jsonl line is not a skipped sample's record; None when it is."""
    if not isinstance(line, dict):
        return f"{json.dumps(line)[:60]} is not a skipped sample's record (a JSON object)"
    for key, expected in _SKIP_FIELDS:
        if not _is_text(line.get(key)):
            got = json.dumps(line[key])[:60] if key in line else "missing"
            return f"{key!r} is {got}; expected {expected}"
    return None


def _unlisted_shards(root: Path, listed: set[str]) -> list[str]:
    """A problem for each shard file in ROOT/shards that neither dataset.json nor samples.jsonl
    names (those samples.jsonl names are reported already): a build deletes the shards it does
    not list, so one is a copy or another build's. Hidden names are a build's temporaries."""
    try:
        names = sorted(p.name for p in (root / "shards").iterdir() if p.suffix == ".h5")
    except OSError:
        # no shards folder: every listed shard is reported missing
        return []
    return [
        f"shards/{name}: a shard file dataset.json does not list (copied in, or left by "
        "another build)"
        for name in names
        if not name.startswith(".") and f"shards/{name}" not in listed
    ]


def _read_labels(root: Path) -> tuple[dict[str, Any], _ListedSamples]:
    """dataset.json and samples.jsonl; `_FinishedAgain` when the dataset was finished again
    between the two reads (the samples' sha256 differs because dataset.json changed)."""
    m = read_manifest(root)
    # the lines are kept as their bytes and decoded again one shard at a time: a dict per
    # sample held for the whole run took about six times the file's size (6 GB for a million)
    listed = _listed_samples(root / "samples.jsonl")
    if listed.readable and m.get("samples_sha256") not in (None, listed.sha256):
        _check_finished_again(root, m, "verify it again")
    return m, listed


class _SplitRepeats:
    """Samples of one split whose source record is also another split's: the same split-file
    id with the same question, options, answer and media, a train/test leak. Ids are unique
    within a split only (the builder refuses a repeat there): numbering each split's records
    from 0 is common, so an id repeated with other content is no leak. Media are told apart by
    a video's path and an image's sha256 (meta.image_sha256); an image of a dataset built
    before that was recorded (an image held in a parquet cell: by eventsim 0.2.4 and earlier)
    is not, so two images asked the same question under the same id look alike."""

    def __init__(self) -> None:
        # a 16-byte digest of (source id, content) -> the split and sample id it was first seen
        # under: a million samples are compared without keeping their text
        self._first: dict[bytes, tuple[str, str]] = {}
        self._found: set[bytes] = set()
        self._example: str = ""

    def add(self, rec: dict[str, Any]) -> None:
        source = rec.get("source")
        source_id = source.get("source_id") if isinstance(source, dict) else None
        if not isinstance(source_id, str):
            # shapes scenes are drawn from each split's own seeds
            return
        meta = rec.get("meta")
        if not isinstance(meta, dict):
            meta = {}
        content = [
            source_id,
            rec.get("question"),
            rec.get("choices"),
            rec.get("answer"),
            meta.get("video"),
            meta.get("time_s"),
            meta.get("image_sha256"),
        ]
        # ASCII escapes: an edited line's lone surrogate ("\ud800", valid JSON) has no UTF-8
        # form, and verify stopped on it with an internal error
        key = hashlib.blake2b(json.dumps(content, sort_keys=True).encode(), digest_size=16).digest()
        first = self._first.setdefault(key, (rec["split"], rec["id"]))
        if first[0] == rec["split"] or key in self._found:
            return
        self._found.add(key)
        if not self._example:
            self._example = (
                f"{source_id!r}, in {first[0]} as {first[1]} and in {rec['split']} as {rec['id']}"
            )

    def warnings(self) -> list[str]:
        n = len(self._found)
        if not n:
            return []
        return [
            f"{n} {plural(n, 'sample repeats', 'samples repeat')} another split's source record "
            "(the same split-file id, question, options, answer and media: a train/test "
            f"leak?); first id {self._example}"
        ]


def split_repeats(root: str | Path) -> list[str]:
    """`verify_dataset`'s warning of samples whose source record is in more than one split
    (see `_SplitRepeats`), read from ``root``'s samples.jsonl alone; [] when it cannot be
    read (verify says why)."""
    listed = _listed_samples(dataset_root(root) / "samples.jsonl")
    return listed.repeats.warnings()


@dataclasses.dataclass
class _ListedSamples:
    """What verify needs of samples.jsonl: its non-blank lines (``lines``), the span in
    ``data`` of each sample record by shard, the records per split, and the problems found
    reading it; not ``readable`` when the file is missing or not JSON lines."""

    readable: bool = False
    data: bytes = b""
    sha256: str = ""
    lines: int = 0
    by_shard: dict[str, list[tuple[int, int]]] = dataclasses.field(default_factory=dict)
    per_split: Counter[str] = dataclasses.field(default_factory=Counter)
    problems: list[str] = dataclasses.field(default_factory=list)
    repeats: _SplitRepeats = dataclasses.field(default_factory=_SplitRepeats)

    def records(self, shard: str) -> list[dict[str, Any]]:
        return [json.loads(self.data[a:b]) for a, b in self.by_shard.get(shard, [])]


def _listed_samples(path: Path) -> _ListedSamples:
    # only a missing file is "missing": a folder in its place was called missing too
    if _missing(path):
        try:
            read_jsonl(path, required=True)
        except DatasetError as exc:
            return _ListedSamples(problems=[str(exc)])
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _ListedSamples(problems=[f"cannot read {str(path)!r}: {_why(exc)}"])
    out = _ListedSamples(readable=True, data=data, sha256=hashlib.sha256(data).hexdigest())
    try:
        for _, start, end, rec in _json_lines(data, path):
            out.lines += 1
            why = _not_a_record(rec)
            if why is None:
                out.by_shard.setdefault(rec["shard"], []).append((start, end))
                out.per_split[rec["split"]] += 1
                out.repeats.add(rec)
            else:
                out.problems.append(f"samples.jsonl record {out.lines}: {why}")
    except DatasetError as exc:
        # as `read_jsonl`: a file that is not JSON lines is one problem
        return _ListedSamples(problems=[str(exc)])
    return out


_MISMATCH = "checksum mismatch (file changed or damaged)"


def _verify_shard(
    path: Path, entry: dict[str, Any], recs: list[dict[str, Any]] | None, m: dict[str, Any]
) -> tuple[list[str], Counter[str] | None]:
    """The problems of one shard and of its samples.jsonl lines ``recs`` (None when
    samples.jsonl cannot be read: the samples are found by the shard's own copy of them), and
    the events its index records per split (None when they are not known)."""
    width, height = m["sensor_size"]
    problems: list[str] = []
    built = read_shard_records(path)
    events: Counter[str] | None = None
    # not counted from a damaged index (of a shard without a sha256): its samples say how
    if all(_is_text(r.get("split")) and _is_count(r.get("n_events")) for r in built):
        events = Counter()
        for r in built:
            events[r["split"]] += r["n_events"]
    if recs is None:
        recs = built
    else:
        if len(recs) != entry["samples"]:
            problems.append(
                f"{entry['file']}: {len(recs)} {plural(len(recs), 'sample')} listed, manifest "
                f"says {entry['samples']}"
            )
        problems += _compare_labels(entry["file"], built, recs)
    with open_shard(path) as f:
        built_by = f.attrs.get("fingerprint")
        if m.get("recipe_fingerprint") and built_by != m["recipe_fingerprint"]:
            # a shard kept from another build of the folder (before split files were part
            # of the fingerprint, a resumed build could mix them)
            problems.append(
                f"{entry['file']}: built from another recipe or split files than "
                "dataset.json records; rebuild with --force"
            )
        built_for = [f.attrs.get("sensor_width"), f.attrs.get("sensor_height")]
        if None not in built_for and [int(v) for v in built_for] != [width, height]:
            problems.append(
                f"{entry['file']}: built for a {built_for[0]}x{built_for[1]} sensor; "
                f"dataset.json says {width}x{height} (the manifest was edited)"
            )
            # every frame and most events would be reported against the wrong size
        else:
            for r in recs:
                problems += _check_sample(f, r, width, height)
    return problems, events


def _is_text(v: Any) -> bool:
    return isinstance(v, str)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_window(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_is_count(t) for t in v)


# what the per-sample checks read of a samples.jsonl line
_RECORD_FIELDS = (
    ("id", _is_text, "a string"),
    ("split", _is_text, "a string"),
    ("shard", _is_text, "a string"),
    ("group", _is_text, "a string"),
    ("n_events", _is_count, "an integer >= 0"),
    ("window_us", _is_window, "[start, end] in microseconds"),
)


def _not_a_record(line: Any) -> str | None:
    """Why a samples.jsonl line cannot be checked as a sample (an edit left it without a field
    the checks read); None when it can."""
    if not isinstance(line, dict):
        return f"{json.dumps(line)[:60]} is not a sample record (a JSON object)"
    for key, ok, expected in _RECORD_FIELDS:
        if not ok(line.get(key)):
            got = json.dumps(line[key])[:60] if key in line else "missing"
            return f"{key!r} is {got}; expected {expected}"
    return None


def _compare_labels(
    shard: str, built: list[dict[str, Any]], listed: list[dict[str, Any]]
) -> list[str]:
    """Every sample whose samples.jsonl line differs from the copy kept in its shard. Lines
    are matched to the shard's copies by sample id, not by position: a damaged or deleted line
    would shift every later one onto the wrong sample."""
    out = []
    built_by_id = {r.get("id"): r for r in built}
    seen: set[Any] = set()
    for got in listed:
        sid = got.get("id")
        want = built_by_id.get(sid)
        if want is None:
            out.append(f"{sid} ({shard}): samples.jsonl lists a sample this shard does not hold")
            continue
        if sid in seen:
            out.append(f"{sid} ({shard}): samples.jsonl lists this sample more than once")
            continue
        seen.add(sid)
        if want != got:
            keys = sorted(set(want) | set(got), key=str)
            fields = [k for k in keys if want.get(k) != got.get(k)]
            shown = ", ".join(f"{k} {got.get(k)!r} (built {want.get(k)!r})" for k in fields[:3])
            out.append(f"{sid} ({shard}): samples.jsonl label differs: {shown}")
    lacking = [r.get("id") for r in built if r.get("id") not in seen]
    if lacking:
        more = f" and {len(lacking) - 1} more" if len(lacking) > 1 else ""
        out.append(f"{shard}: samples.jsonl lacks sample {lacking[0]}{more}")
    return out


def _check_sample(f, rec: dict[str, Any], width: int, height: int) -> list[str]:
    where = f"{rec['id']} ({rec['shard']}:{rec['group']})"
    try:
        return _sample_problems(f, rec, width, height, where)
    except (OSError, KeyError, RuntimeError, DatasetError) as exc:
        # a damaged sample (of a shard without a sha256 to tell so first) is one problem:
        # h5py's KeyError or RuntimeError, or numpy's ValueError for columns of two lengths,
        # stopped verify with an internal error
        why = exc.args[0] if isinstance(exc, KeyError) and exc.args else _why(exc)
        return [f"{where}: cannot be read: {why}"]


def _sample_problems(f, rec: dict[str, Any], width: int, height: int, where: str) -> list[str]:
    if rec["group"] not in f:
        return [f"{where}: group missing"]
    g = f[rec["group"]]
    out = []
    if g.attrs.get("id") != rec["id"]:
        out.append(f"{where}: stored id {g.attrs.get('id')!r} differs")
    frame = g["frame"]
    if frame.dtype != np.uint8 or frame.shape != (height, width, 3):
        out.append(
            f"{where}: frame is {frame.dtype} {frame.shape}; expected uint8 ({height}, {width}, 3)"
        )
    ev = read_events(g)
    if len(ev) != rec["n_events"]:
        out.append(
            f"{where}: {len(ev)} {plural(len(ev), 'event')}, samples.jsonl says {rec['n_events']}"
        )
    if len(ev):
        t = ev["t"]
        dec = np.flatnonzero(t[1:] < t[:-1])
        if dec.size:
            out.append(f"{where}: events not sorted in time at index {int(dec[0]) + 1}")
        t0, t1 = rec["window_us"]
        if t[0] < t0 or t[-1] > t1:
            out.append(
                f"{where}: event times {t.min()}..{t.max()} us outside the window {t0}..{t1}"
            )
        if (
            ev["x"].max() >= width
            or ev["y"].max() >= height
            or ev["x"].min() < 0
            or ev["y"].min() < 0
        ):
            out.append(f"{where}: event coordinates outside the {width}x{height} sensor")
        if not np.isin(ev["p"], (0, 1)).all():
            out.append(f"{where}: polarity outside {{0, 1}}")
    return out


def preview_dataset(
    root: str | Path, out: str | Path | None = None, *, split: str | None = None, n: int = 8
) -> Path:
    """A PNG contact sheet of the first ``n`` samples: the frame, the frame with the window's
    events painted over it in grey (ON red, OFF blue, as every overlay), and the question with
    its answer (wrapped to the tile, see `_caption`).

    Written to ``out`` (default ``ROOT/preview.png``); ``split`` defaults to the first split
    that has samples.
    """
    import cv2

    from eventsim.datasets.loader import EventVQADataset
    from eventsim.render import overlay_events
    from eventsim.render.colors import OVERLAY_FRAME

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        # 0 read as "this split has no samples to preview", naming a split that has them
        raise ParameterError(f"n = {n!r}; expected the number of samples to show, 1 or more")
    root = dataset_root(root)
    m = read_manifest(root)
    names = [s for s, info in m["splits"].items() if info["samples"]] if split is None else [split]
    if not names:
        raise DatasetError(f"{str(root)!r} holds no samples to preview")
    tiles = []
    # closed however the drawing ends: a failure left the shards open for as long as its
    # traceback lived
    with EventVQADataset(root, names[0]) as ds:
        for i in range(min(n, len(ds))):
            s = ds[i]
            painted = overlay_events(s["image"], s["events"], grey_frame=OVERLAY_FRAME == "grey")
            pair = np.concatenate([s["image"], painted], axis=1)
            scale = -(-448 // pair.shape[1])  # small sensors are enlarged so the text fits
            pair = cv2.resize(pair, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            lines = _caption(
                s["question"],
                s["answer"],
                f"  ({s['question_type']}, {len(s['events'])} events)",
                pair.shape[1] - 2 * _TEXT_X,
            )
            band = np.full((4 + _LINE_STEP * len(lines), pair.shape[1], 3), 255, np.uint8)
            for k, text in enumerate(lines):
                cv2.putText(
                    band,
                    text,
                    (_TEXT_X, 17 + _LINE_STEP * k),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    _TEXT_SCALE,
                    (0, 0, 0),
                    1,
                    cv2.LINE_AA,
                )
            tiles.append(np.concatenate([pair, band], axis=0))
    if not tiles:
        raise DatasetError(f"split {names[0]!r} of {str(root)!r} has no samples to preview")
    # captions of more lines make taller tiles; the others are padded white below theirs
    height = max(t.shape[0] for t in tiles)
    width = max(t.shape[1] for t in tiles)
    tiles = [
        np.pad(t, ((0, height - t.shape[0]), (0, width - t.shape[1]), (0, 0)), constant_values=255)
        for t in tiles
    ]
    cols = 2 if len(tiles) > 1 else 1
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.concatenate(tiles[r : r + cols], axis=1) for r in range(0, len(tiles), cols)]
    sheet = np.concatenate(rows, axis=0)
    path = Path(out) if out is not None else root / "preview.png"
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DatasetError(f"cannot encode preview image {str(path)!r}")
    remove_stale_temps(path)
    tmp = temp_path(path)
    try:
        tmp.write_bytes(png.tobytes())
        fsync_file(tmp)
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


_TEXT_X = 6
_TEXT_SCALE = 0.45
_LINE_STEP = 20
# RealWorldQA's question, its four options and its instruction line fit
_MAX_QUESTION_LINES = 6


def _caption(question: str, answer: str, tail: str, width: int) -> list[str]:
    """The lines of text under a preview tile, each at most ``width`` pixels wide: the
    question wrapped to at most ``_MAX_QUESTION_LINES`` lines (its own line breaks kept, as
    RealWorldQA writes an option per line), then ``-> answer`` and ``tail`` on one line. Text
    that does not fit ends in '...': drawn as it was, line breaks printed the options over the
    answer line and long lines ran off the tile."""
    lines = _wrap(question, width, _MAX_QUESTION_LINES) or [""]
    return [*lines, _cut(" ".join(answer.split()), width, "-> ", tail)]


def _wrap(text: str, width: int, max_lines: int) -> list[str]:
    """``text``'s lines broken at spaces (inside a word where one is wider than ``width``, as
    in text without spaces), blank lines left out; the last of ``max_lines`` ends in '...'
    where more would follow."""
    # gathered up to one line past the limit: enough to know that text was left out
    lines: list[str] = []
    for paragraph in text.splitlines():
        line = ""
        for word in paragraph.split():
            if len(lines) > max_lines:
                break
            joined = f"{line} {word}" if line else word
            if _text_width(joined) <= width:
                line = joined
                continue
            if line:
                lines.append(line)
            while len(lines) <= max_lines:
                k = _longest_prefix(word, width, "", "")
                if k == len(word):
                    break
                lines.append(word[:k])
                word = word[k:]
            line = word
        if line:
            lines.append(line)
        if len(lines) > max_lines:
            return [*lines[: max_lines - 1], _cut(lines[max_lines - 1], width, "", "", more=True)]
    return lines


def _cut(text: str, width: int, head: str, tail: str, *, more: bool = False) -> str:
    """``head``, as much of ``text`` as fits and '...', then ``tail``, within ``width``
    pixels (``text`` whole where it fits and not ``more``)."""
    if not more and _text_width(head + text + tail) <= width:
        return head + text + tail
    k = _longest_prefix(text, width, head, "..." + tail)
    return head + text[:k].rstrip() + "..." + tail


def _longest_prefix(text: str, width: int, head: str, tail: str) -> int:
    """The most characters of ``text`` that fit ``width`` pixels between ``head`` and
    ``tail``: at least one where ``tail`` is empty, so that breaking a word always advances."""

    def fits(k: int) -> bool:
        return _text_width(head + text[:k].rstrip() + tail) <= width

    # doubling first: a question of a million characters without a space is measured in
    # pieces of about a line, not whole
    lo = 0 if tail else 1
    hi = lo + 1
    while hi <= len(text) and fits(hi):
        lo, hi = hi, 2 * hi
    hi = min(hi, len(text) + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _text_width(text: str) -> int:
    import cv2

    return int(cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, _TEXT_SCALE, 1)[0][0])
