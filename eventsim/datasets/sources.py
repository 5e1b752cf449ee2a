"""Where samples come from: procedural scenes, static-image VQA files, or video QA files.

Each source has two halves. `plan_split` runs in the driver: it lists a split's samples as small,
picklable `SampleSpec` records (malformed input lines become specs that carry their error).
`SampleMaker.make` runs in a worker: it turns one spec into a `BuiltSample` (frame + events + question)
or raises `SampleError` with the reason the sample is skipped.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import json
import math
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from eventsim._text import plural
from eventsim.datasets.questions import OPTION_LETTERS
from eventsim.datasets.recipe import Recipe, too_many_frames
from eventsim.errors import EventsimError, InputError
from eventsim.events import slice_time


class SampleError(Exception):
    """A sample that cannot be built; the message is the reason written to errors.jsonl."""


# (where in the split file, the record or None, why the record is unusable or None)
SourceRow = tuple[dict[str, Any], dict[str, Any] | None, str | None]


@dataclasses.dataclass(frozen=True)
class SampleSpec:
    split: str
    index: int
    id: str
    seed: int
    record: dict[str, Any] | None = None
    error: str | None = None
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class BuiltSample:
    id: str
    image: np.ndarray  # HxWx3 uint8 RGB, the frame at the question time
    events: np.ndarray  # EVENT_DTYPE, same pixel grid as image, inside window_us (inclusive end)
    question: str
    choices: list[str]
    answer: str
    answer_index: int
    question_type: str
    target_motion: str | None
    window_us: tuple[int, int]
    meta: dict[str, Any]
    provenance: dict[str, Any]

    @property
    def frame_t_us(self) -> int:
        """Time of the image: the end of the event window."""
        return int(self.window_us[1])


def sample_seeds(seed: int, split: str, index: int) -> tuple[int, int]:
    """(scene seed, simulator seed) of one sample; independent of build order and workers."""
    state = np.random.SeedSequence([int(seed), zlib.crc32(split.encode()), int(index)])
    a, b = state.generate_state(2, np.uint64)
    return int(a >> 1), int(b >> 1)


def sample_id(split: str, index: int) -> str:
    """The stable id of sample ``index`` of ``split`` (``test-000042``)."""
    return f"{split}-{index:06d}"


def plan_split(recipe: Recipe, split: str, limit: int | None = None) -> list[SampleSpec]:
    """One `SampleSpec` per sample of ``split`` (at most ``limit``): scene seeds for a shapes
    source, else one per row of the split file, rows that cannot be used carrying their error."""
    kind = recipe.source_kind
    if kind == "shapes":
        n = int(recipe.splits[split])
        n = n if limit is None else min(n, limit)
        return [
            SampleSpec(
                split,
                i,
                sample_id(split, i),
                sample_seeds(recipe.seed, split, i)[0],
                provenance={"kind": "shapes", "mode": recipe.source["mode"]},
            )
            for i in range(n)
        ]
    root = recipe.source.get("root") or ""
    if root and not recipe.resolve_path(root).is_dir():
        # every record with a relative path would be skipped as missing its file
        from eventsim.errors import DatasetError

        what = "is not a folder" if recipe.resolve_path(root).exists() else "does not exist"
        raise DatasetError(
            f"source.root = {root!r} ({str(recipe.resolve_path(root))!r}) {what}; it is the "
            "folder relative image and video paths start from (relative to the recipe file)"
            + _in_working_folder(root, Path.is_dir)
        )
    path = recipe.resolve_path(recipe.splits[split])
    if not _split_exists(path):
        hint = _in_working_folder(recipe.splits[split], _split_exists)
        if hint:
            from eventsim.errors import DatasetError

            what = "matches no file" if any(ch in path.name for ch in "*?[") else "does not exist"
            raise DatasetError(
                f"split file {str(path)!r} (splits.{split}) {what}; relative split paths start "
                f"at the recipe file's folder{hint}"
            )
    # a video source has no format field: its split files are JSONL
    fmt = recipe.source.get("format", "jsonl")
    suffix = path.suffix.lower()
    if fmt == "auto":
        fmt = "parquet" if suffix in _PARQUET_SUFFIXES else "jsonl"
    if "format" not in recipe.source or recipe.source["format"] == "auto":
        # read as JSONL, every line would be skipped as malformed JSON, or the file refused as
        # not UTF-8 text
        read = "JSONL (one JSON object per line)"
        if kind == "image":
            read += " and parquet (.parquet, .pq)"
        if suffix in _TABLE_SUFFIXES or (kind == "video" and suffix in _PARQUET_SUFFIXES):
            from eventsim.errors import DatasetError

            raise DatasetError(
                f"split file {str(path)!r} is a {path.suffix} table; source kind {kind!r} reads "
                f"{read} split files: convert it"
            )
    from eventsim.errors import DatasetError

    try:
        rows = _split_rows(path, fmt, limit)
    except DatasetError as exc:
        if _split_exists(path):
            raise
        # the example recipes ship no split file, and their default path names none
        raise DatasetError(
            f"{exc}; give your split file with --set splits.{split}=PATH (a relative PATH "
            f"starts at the recipe's folder, {str(recipe.base_dir)!r})"
        ) from None
    media_key = "video" if kind == "video" else "image"
    specs = []
    # each id names one record; a later record with the same id would be kept under a label
    # that no longer says which line it came from
    first_use: dict[str, str] = {}
    for i, (where, record, error) in enumerate(rows):
        if record is not None and error is None:
            error = _check_record(record, media_key, kind)
        prov = {"kind": kind, "file": str(path), **where}
        source_id = None if record is None or record.get("id") is None else str(record["id"])
        # an id that cannot be written as text is named by the record's error alone
        if source_id is not None and _unstorable(source_id) is None:
            prov["source_id"] = source_id
            earlier = first_use.setdefault(prov["source_id"], _place(where))
            if earlier != _place(where) and error is None:
                error = f"id {prov['source_id']!r} already used by {earlier}"
        specs.append(
            SampleSpec(
                split,
                i,
                sample_id(split, i),
                sample_seeds(recipe.seed, split, i)[0],
                record=None if error else record,
                error=error,
                provenance=prov,
            )
        )
    return specs


def _split_rows(path: Path, fmt: str, limit: int | None) -> list[SourceRow]:
    if fmt != "parquet":
        return _jsonl_rows(path, limit)
    rows: list[SourceRow] = []
    for part in _parquet_shards(path):
        left = None if limit is None else limit - len(rows)
        if left is not None and left <= 0:
            break
        rows += [({"file": str(part), **w}, r, e) for w, r, e in _parquet_rows(part, left)]
    return rows


def _split_exists(path: Path) -> bool:
    """Whether split file ``path`` exists, or is a wildcard name that matches a file."""
    if path.exists() or not any(ch in path.name for ch in "*?["):
        return path.exists()
    return any(p.is_file() for p in path.parent.glob(path.name))


def _in_working_folder(text: str, found: Callable[[Path], bool]) -> str:
    """``; 'data/test.jsonl' is in the current folder: give it as '/home/me/data/test.jsonl'``
    when relative path ``text``, which the recipe reads from its own folder, is there
    (``found(path)``): a path given with --set from a shell reads as one from there."""
    given = Path(text).expanduser()
    try:
        here = Path.cwd() / given
    except OSError:  # the working folder was deleted
        return ""
    if given.is_absolute() or not found(here):
        return ""
    return f"; {text!r} is in the current folder: give it as {str(here)!r}"


_PARQUET_SUFFIXES = (".parquet", ".pq")
# table formats a split file may be given in that are neither JSONL nor parquet
_TABLE_SUFFIXES = (".csv", ".tsv", ".xlsx", ".xls")
#: options a record's ``choices`` may list: one per letter (`epvlm` asks and scores by letter)
MAX_CHOICES = len(OPTION_LETTERS)
# the fields of a record the sources use (a parquet file's other columns are not read)
_RECORD_FIELDS = (
    "id",
    "question",
    "choices",
    "answer",
    "answer_index",
    "question_type",
    "target_motion",
)


def _place(where: dict[str, Any]) -> str:
    """``line 3`` of a JSONL file, ``row 3`` (``of test-00001.parquet``) of a parquet one."""
    if "line" in where:
        return f"line {where['line']}"
    shard = f" of {Path(where['file']).name}" if "file" in where else ""
    return f"row {where['row']}{shard}"


def _jsonl_rows(path: Path, limit: int | None) -> list[SourceRow]:
    from eventsim.errors import DatasetError

    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is not part of line 1.
        # Lines end at "\n" only: str.splitlines would also cut a record at a U+2028 or U+0085
        # that JSON allows unescaped inside a string
        text = path.read_text(encoding="utf-8-sig")
        lines = [line.removesuffix("\r") for line in text.split("\n")]
    except OSError as exc:
        hint = ""
        if isinstance(exc, FileNotFoundError) and any(ch in path.name for ch in "*?["):
            hint = " (a wildcard name reads parquet files only; name one JSONL file a split)"
        raise DatasetError(
            f"cannot read split file {str(path)!r}: {exc.strerror or exc}{hint}"
        ) from None
    except UnicodeDecodeError as exc:
        # the byte offset alone left the bad record to be found by hand
        at = exc.object[: exc.start].count(b"\n") + 1
        raise DatasetError(
            f"split file {str(path)!r} is not UTF-8 text: line {at}: {exc}; save it as UTF-8"
        ) from None
    if text.lstrip().startswith("["):
        # a JSON file of one array of records: every line of it would be skipped as malformed
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, list):
            raise DatasetError(
                f"split file {str(path)!r} holds one JSON array of {len(whole)} "
                f"{plural(len(whole), 'item')}; "
                "expected JSONL, one JSON object per line (jq -c '.[]' turns one into the other)"
            )
    rows: list[SourceRow] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if limit is not None and len(rows) >= limit:
            break
        where = {"line": number}
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append((where, None, f"malformed JSONL line {number}: {exc.msg}"))
            continue
        if not isinstance(record, dict):
            rows.append((where, None, f"malformed JSONL line {number}: expected a JSON object"))
            continue
        rows.append((where, record, None))
    return rows


def _parquet_shards(path: Path) -> list[Path]:
    """The file itself, or the sorted files a wildcard name matches (``test-*.parquet``: the
    Hub's sharded splits, e.g. RealWorldQA's two test shards)."""
    from eventsim.errors import DatasetError

    if path.is_file() or not any(ch in path.name for ch in "*?["):
        # an existing file is read as named, brackets and all ("test[v2].parquet")
        return [path]
    files = sorted(p for p in path.parent.glob(path.name) if p.is_file())
    if not files:
        raise DatasetError(f"no parquet file matches {str(path)!r}")
    return files


def _parquet_rows(path: Path, limit: int | None) -> list[SourceRow]:
    from eventsim.errors import DatasetError, require

    pq = require("pyarrow.parquet", "parquet", "reading parquet VQA files")
    try:
        schema = pq.read_schema(path)
        wanted = [c for c in _RECORD_FIELDS if c in schema.names]
        table = pq.read_table(path, columns=wanted)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read parquet file {str(path)!r}: {exc}") from None
    if "image" not in schema.names:
        raise DatasetError(
            f"parquet file {str(path)!r} has columns {schema.names}; expected image, question, answer"
        )
    rows: list[SourceRow] = []
    for i, row in enumerate(table.to_pylist()):
        if limit is not None and i >= limit:
            break
        rows.append(({"row": i}, {**row, "image": {"parquet_row": i}}, None))
    return rows


def _unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored as the shards' and samples.jsonl's UTF-8 text, if so:
    JSON allows a NUL and unpaired surrogates (``\\u0000``, ``\\ud800``) that HDF5 strings
    and UTF-8 do not (the whole build stopped at the shard holding one)."""
    if "\0" in text:
        return "holds a NUL character (\\u0000), which HDF5 text cannot store"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"holds {exc.object[exc.start]!r}, half of a UTF-16 surrogate pair: not text"
    return None


def _near(answer: str, choices: list[str]) -> str:
    """Why an answer that is none of the choices may have been meant as one: a case
    difference, or a letter (answer 'B' was said to differ in case from option 'b' alone)."""
    near = [c for c in choices if c.casefold() == answer.casefold()]
    if near:
        return f" (choices are case-sensitive: {near[0]!r} differs in case)"
    letter = answer.strip().strip("().").upper()
    if len(letter) == 1 and letter in OPTION_LETTERS[: len(choices)]:
        text = choices[OPTION_LETTERS.index(letter)]
        return f" (give the option's text, {text!r}, not its letter)"
    return ""


def _check_record(record: dict[str, Any], media_key: str, kind: str) -> str | None:
    required = [media_key, "question", "answer"] + (["time"] if kind == "video" else [])
    missing = [k for k in required if record.get(k) is None]
    if missing:
        return (
            f"record lacks {plural(len(missing), 'field')} {', '.join(missing)}; expected "
            f"{', '.join(required)}"
        )
    media = record[media_key]
    if isinstance(media, str) and not media.strip():
        return f"{media_key} is an empty path"
    if not isinstance(media, str) and not (kind == "image" and isinstance(media, dict)):
        return f"{media_key} must be a path string, got {media!r}"
    for key in ("question", "answer"):
        if not isinstance(record[key], str):
            return f"{key} must be a string, got {record[key]!r}"
        if not record[key].strip():
            return f"{key} is empty"
    source_id = record.get("id")
    if source_id is not None and (
        isinstance(source_id, bool) or not isinstance(source_id, (str, int))
    ):
        return f"id must be a string or an integer, got {source_id!r}"
    for key in ("question_type", "target_motion"):
        # both become labels of the sample (and keys of the manifest's per-split counts)
        if record.get(key) is not None and not isinstance(record[key], str):
            return f"{key} must be a string, got {record[key]!r}"
    choices = record.get("choices")
    if choices is not None:
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            return f"choices must be a list of strings, got {choices!r}"
        if not choices:
            return (
                "choices is an empty list; list the options, or leave it out for an open question"
            )
        if len(choices) > MAX_CHOICES:
            # a model is shown the options lettered and answers with a letter: an evaluation
            # refused the dataset
            return (
                f"choices lists {len(choices)} options; at most {MAX_CHOICES} (A to Z) can be "
                "asked and scored"
            )
        # options alike but for surrounding spaces ("Left", "Left ") are shown to a model as
        # one, and the scorer reads a reference by its text without them: it named both, and
        # the sample, labelled multiple-choice, was scored free-form
        shown = [c.strip() for c in choices]
        repeated = next((c for k, c in enumerate(shown) if c in shown[:k]), None)
        if repeated is not None:
            same = [c for c in choices if c.strip() == repeated]
            spaces = "" if len(set(same)) < len(same) else " (surrounding spaces aside)"
            return (
                f"choices {choices} list {repeated!r} more than once{spaces}; the answer's "
                "index would be ambiguous"
            )
        answer = record["answer"]
        if answer not in choices:
            return f"answer {answer!r} is not one of the choices {choices}{_near(answer, choices)}"
        given = record.get("answer_index")
        if isinstance(given, float) and (math.isnan(given) or given.is_integer()):
            # a pandas column of indices with a gap is float, the gap NaN
            given = None if math.isnan(given) else int(given)
        if given is not None and (isinstance(given, bool) or not isinstance(given, int)):
            return f"answer_index must be an integer (0-based), got {given!r}"
        if given is not None and given != choices.index(answer):
            # the stored answer_index is the answer's: a record's own that disagrees says one
            # of the two is wrong, and which was silently decided by the answer text
            return (
                f"answer_index {given!r} does not match answer {answer!r}, which is choice "
                f"{choices.index(answer)} (0-based) of {choices}"
            )
    texts = [(key, record.get(key)) for key in (media_key, "question", "answer", "id")]
    texts += [("question_type", record.get("question_type"))]
    texts += [("target_motion", record.get("target_motion"))]
    texts += [("choices", c) for c in choices or []]
    for key, text in texts:
        why = _unstorable(text) if isinstance(text, str) else None
        if why is not None:
            return f"{key} {why}"
    if kind == "video":
        t = record["time"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            return f"time must be a number of seconds >= 0, got {t!r}"
    return None


# ----------------------------------------------------------------------------- worker side


class SampleMaker:
    """Builds samples of one recipe; keeps per-process state (DVS parameters, scene config, parquet image columns)."""

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.params = recipe.dvs_params()
        # the image column of one parquet row group: (file, first row, one past the last, column)
        self._parquet_group: tuple[str, int, int, Any] | None = None
        # where each video read to its end ends (by path, for the file then there): the
        # questions past it are skipped without reading it again (a split given in the wrong
        # time unit read each video whole for every record)
        self._video_ends: dict[str, _VideoEnd] = {}
        self._scene = recipe.scene_config() if recipe.source_kind == "shapes" else None
        # the frames the simulator's upsampling holds at once count towards a sample's limit
        self._upsampled = recipe.data["simulator"]["upsample"] != "none"

    def make(self, spec: SampleSpec) -> BuiltSample:
        """Build one sample; `SampleError` (the reason for errors.jsonl) when it cannot be."""
        if spec.error:
            raise SampleError(spec.error)
        kind = self.recipe.source_kind
        try:
            if kind == "shapes":
                return self._shapes(spec)
            if kind == "image":
                return self._image(spec)
            return self._video(spec)
        except EventsimError as exc:
            raise SampleError(str(exc)) from exc

    def _simulate(self, frames: np.ndarray, ts: np.ndarray, spec: SampleSpec) -> np.ndarray:
        sim_seed = sample_seeds(self.recipe.seed, spec.split, spec.index)[1]
        upsample = self.recipe.data["simulator"]["upsample"]
        if upsample == "none":
            from eventsim.simulator import EventSimulator

            if frames.ndim == 4 and frames.dtype == np.uint8:
                # the simulator's own luma (BT.601 with OpenCV's rounding), done with SIMD
                frames = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
            size = (int(frames.shape[2]), int(frames.shape[1]))
            return EventSimulator(self.params, size, seed=sim_seed).step(frames, ts)
        from eventsim.simulator import simulate_frames

        return simulate_frames(frames, ts, self.params, seed=sim_seed, upsample=upsample)

    def _shapes(self, spec: SampleSpec) -> BuiltSample:
        from eventsim.datasets.scenes import draw_sample

        assert self._scene is not None  # __init__ reads it for every shapes recipe
        s = draw_sample(self._scene, spec.seed)
        t0, t1 = s.window_us
        events = slice_time(self._simulate(s.frames, s.timestamps_us, spec), t0, t1 + 1)
        meta = {k: v for k, v in s.meta.items() if k not in ("window_us", "frame_t_us")}
        return BuiltSample(
            id=spec.id,
            image=s.image,
            events=events,
            question=s.question,
            choices=s.choices,
            answer=s.answer,
            answer_index=s.answer_index,
            question_type=s.question_type,
            target_motion=s.target_motion,
            window_us=(t0, t1),
            meta=meta,
            provenance=spec.provenance,
        )

    def media_file(self, spec: SampleSpec) -> Path | None:
        """The image or video file `make` reads for ``spec``, found or not; None where it reads
        none (a shapes sample, a bad record, an image held in a parquet cell as bytes)."""
        kind = self.recipe.source_kind
        if spec.record is None or kind == "shapes":
            return None
        try:
            value = spec.record["video"] if kind == "video" else self._image_value(spec)[0]
        except (SampleError, EventsimError):
            # `make` says why the sample cannot be built
            return None
        if not isinstance(value, str) or not value.strip():
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else self._media_base(spec) / path

    def image_bytes(self, spec: SampleSpec) -> bytes | None:
        """The encoded image a parquet cell holds for ``spec``, as `make` decodes it; None
        where its image is a file (`media_file`) or it has none."""
        if spec.record is None or self.recipe.source_kind != "image":
            return None
        try:
            value = self._image_value(spec)[0]
        except (SampleError, EventsimError):
            return None
        return value if isinstance(value, bytes) and value else None

    def _media_base(self, spec: SampleSpec) -> Path:
        root = self.recipe.source.get("root") or ""
        return self.recipe.resolve_path(root) if root else Path(spec.provenance["file"]).parent

    def _media_path(self, spec: SampleSpec, value: str) -> Path:
        path = Path(value).expanduser()
        if path.is_absolute():
            return path
        root = self.recipe.source.get("root") or ""
        base = self._media_base(spec)
        found = base / path
        if not found.exists() and not found.is_symlink():
            # the resolved path alone did not say where relative paths start, nor that the
            # file is where the record's writer may have meant it (the recipe's folder, the
            # folder the build was run from)
            what = self.recipe.source_kind
            start = "source.root" if root else "the split file's folder"
            hint = _in_working_folder(value, Path.exists)
            if not hint and self.recipe.resolve_path(value).exists():
                hint = f'; {value!r} is in the recipe file\'s folder: set source.root = "."'
            raise SampleError(
                f"{what} {str(found)!r} does not exist; relative {what} paths start at {start} "
                f"({str(base)!r}){hint}"
            )
        return found

    def _image_value(self, spec: SampleSpec) -> tuple[Any, int | None]:
        """The image of ``spec``'s record as `_load_image` reads it: the bytes a parquet cell
        holds, else the path (or the bad value) its record or cell gives; and its parquet row
        (None for a JSONL record)."""
        value = (spec.record or {})["image"]
        row = None
        if isinstance(value, dict) and "parquet_row" in value:
            row = int(value["parquet_row"])
            value = self._parquet_image(spec.provenance["file"], row)
            # the Hub's image struct {bytes, path}, a column of image bytes, or one of paths
            if isinstance(value, dict) and value.get("bytes"):
                value = value["bytes"]
            if isinstance(value, (bytes, bytearray)) and value:
                return bytes(value), row
        if isinstance(value, dict) and value.get("path"):
            value = value["path"]
        return value, row

    def _load_image(self, spec: SampleSpec) -> np.ndarray:
        value, row = self._image_value(spec)
        if isinstance(value, bytes) and value:
            from eventsim.simulator.sources import decode_image

            # as an image file is read: 16-bit depth kept, turned upright by its EXIF tag
            return decode_image(value, f"row {row} of {Path(spec.provenance['file']).name}")
        if not isinstance(value, str) or not value.strip():
            if row is not None:
                got = "null" if value is None else repr(value)
                raise SampleError(f"parquet row {row}: image has no bytes or path (got {got})")
            raise SampleError(f"image must be a path string, got {value!r}")
        from eventsim.simulator.sources import read_image

        return read_image(self._media_path(spec, value))

    def _parquet_image(self, file: str, row: int) -> Any:
        """Row ``row``'s image cell. Read by row group, one held at a time: the images of a
        whole file (hundreds of MB for RealWorldQA) stayed in every worker, and in the calling
        process after an in-process build."""
        group = self._parquet_group
        if group is None or group[0] != file or not group[1] <= row < group[2]:
            from eventsim.errors import require

            pq = require("pyarrow.parquet", "parquet", "reading parquet VQA files")
            try:
                with pq.ParquetFile(file) as pf:
                    start = 0
                    for k in range(pf.metadata.num_row_groups):
                        n = pf.metadata.row_group(k).num_rows
                        if row < start + n:
                            column = pf.read_row_group(k, columns=["image"]).column("image")
                            break
                        start += n
                    else:
                        raise SampleError(f"parquet row {row}: the file now has {start} rows")
            except (OSError, ValueError) as exc:
                raise SampleError(f"cannot read parquet file {file!r}: {exc}") from None
            group = self._parquet_group = (file, start, start + n, column)
        return group[3][row - group[1]].as_py()

    def _image(self, spec: SampleSpec) -> BuiltSample:
        from eventsim.simulator.sources import ImageMotionSource

        src = self.recipe.source
        source = ImageMotionSource(
            self._load_image(spec),
            src["motion"],
            duration_ms=float(self.recipe.data["events"]["window_ms"]),
            amplitude_px=float(src["amplitude_px"]),
            fps=float(src["fps"]) if src["fps"] > 0 else None,
            sensor_size=self.recipe.sensor_size,
            seed=spec.seed,
            fit=src["resize"],
        )
        # the recipe's check drew a random walk of its own; this sample's may need more frames.
        # The frames have the fitted image's dtype: float32 for a 16-bit or float image
        too_many = too_many_frames(
            source.n_frames,
            self.recipe.sensor_size,
            self._upsampled,
            bytes_per_pixel=source.image.itemsize * (3 if source.image.ndim == 3 else 1),
        )
        if too_many is not None:
            raise SampleError(f"its {src['motion']} motion at {source.fps:g} fps needs {too_many}")
        frames, ts = zip(*source)
        stack = np.stack(frames)
        t_arr = np.asarray(ts, np.int64)
        t1 = int(t_arr[-1])
        t0 = max(int(t_arr[0]), t1 - self.recipe.window_us)
        events = slice_time(self._simulate(stack, t_arr, spec), t0, t1 + 1)
        meta = {"motion": src["motion"], "amplitude_px": src["amplitude_px"], "n_frames": len(ts)}
        return self._qa_sample(spec, _as_rgb(stack[-1]), events, (t0, t1), meta)

    def _qa_sample(self, spec, image, events, window, meta) -> BuiltSample:
        rec = spec.record or {}
        choices = list(rec.get("choices") or [])
        return BuiltSample(
            id=spec.id,
            image=image,
            events=events,
            question=rec["question"],
            choices=choices,
            answer=rec["answer"],
            answer_index=choices.index(rec["answer"]) if choices else -1,
            question_type=str(rec.get("question_type") or _question_type(rec, choices)),
            target_motion=rec.get("target_motion"),
            window_us=window,
            meta=meta,
            provenance=spec.provenance,
        )

    def _video(self, spec: SampleSpec) -> BuiltSample:
        from eventsim.simulator.sources import VideoDecodeWarning, VideoTimesWarning

        # a video that stops decoding early is reported per sample (a skip reason, or the
        # sample's meta.decode_problem), not as a Python warning from whichever process built it.
        # Frames left out for sharing a container time lie within a few microseconds of frames
        # kept (more shared a time than there are microseconds to the next one), so a sample's
        # events are those of its window all the same; and the warning comes only from a read
        # that reaches the video's end, so it would flag some of the samples of such a video
        # and not others, from whichever process built them
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VideoDecodeWarning)
            warnings.simplefilter("ignore", VideoTimesWarning)
            return self._video_sample(spec)

    def _video_sample(self, spec: SampleSpec) -> BuiltSample:
        from eventsim.simulator.sources import VideoSource

        rec = spec.record or {}
        path = self._media_path(spec, str(rec["video"]))
        if path.is_dir():
            raise SampleError(f"video {str(path)!r} is a folder, not a video file")
        t_q = round(float(rec["time"]) * 1e6)
        size, fit = self.recipe.sensor_size, self.recipe.source["resize"]
        # taken before reading: a file replaced while it is read is not remembered as read
        identity = _file_identity(path)
        whole = VideoSource(path, sensor_size=size, fit=fit)
        period = 1e6 / whole.fps if whole.fps > 0 else 33_333.0
        interval = round(period)
        ended = self._video_ends.get(str(path))
        known = ended is not None and identity is not None and ended.file == identity
        if ended is not None and known and _past(t_q, ended.end_us):
            raise SampleError(ended.reason(path, rec["time"]))
        window = self.recipe.window_us
        # the frames of one window are held at once: a fast video over a long window at a large
        # camera size would exhaust memory (the limit of an image source's frames)
        too_many = too_many_frames(window // max(interval, 1) + 2, size, self._upsampled)
        if too_many is not None:
            raise SampleError(
                f"video {path.name} at {whole.fps:g} fps over the {window / 1000:g} ms event "
                f"window needs {too_many}"
            )
        # the window ends at the frame shown at the question time, up to a frame before it, and
        # its reference frame (which only sets the simulator's state) is at or before its start,
        # up to a frame earlier again. The container's frame count at its nominal rate only
        # estimates where the video ends (a variable-frame-rate file's frames may lie further
        # apart), so a question past that, or a window whose frames lie further apart than a
        # frame, is read from the start: both were skipped as past the video's end or short of
        # a reference frame
        start_us = t_q - window - 2 * interval
        listed_us = whole.n_frames * period if whole.n_frames and whole.fps > 0 else math.inf
        read = None
        if start_us > 0 and not _past(t_q, listed_us):
            try:
                part = VideoSource(path, start_s=start_us / 1e6, sensor_size=size, fit=fit)
                read = _read_up_to(part, t_q, window)
            except InputError:
                read = None  # nothing decodes after the window's start: the whole read says why
            if read is not None and (read.passed or not _past(t_q, read.last_t + period)):
                if not read.ts or read.ts[0] > read.ts[-1] - window:
                    read = None
        if read is None:
            read = _read_up_to(whole, t_q, window)
        video, frames, ts = read.video, read.frames, read.ts
        if not read.passed:
            # read to its end: a later question past it is answered without reading it again
            ended = _VideoEnd(
                read.last_t + period,
                None
                if video.decode_problem is None
                else _decode_problem(video, f"at {(read.last_t + interval) / 1e6:.3f} s"),
                identity,
            )
            self._video_ends[str(path)] = ended
            if _past(t_q, ended.end_us):
                raise SampleError(ended.reason(path, rec["time"]))
        if not frames:
            raise SampleError(
                f"video {path.name} has no frame at or before {_seconds(rec['time'])} s"
            )
        t1 = int(ts[-1])
        t0 = t1 - window
        if ts[0] > t0:
            # a question near the start: events would cover part of the window, or none of it
            later = itertools.chain([read.last_t] if read.passed else [], (u for _, u in read.rest))
            needed = next((u for u in later if u - window >= ts[0]), None)
            reason = _too_early(path, t_q, t1, window, ts[0], needed)
            if needed is None and video.decode_problem is not None:
                reason += f" (it {_decode_problem(video)})"
            raise SampleError(reason)
        events = slice_time(
            self._simulate(np.stack(frames), np.asarray(ts, np.int64), spec), t0, t1 + 1
        )
        meta = {"video": str(path), "time_s": float(rec["time"]), "n_frames": len(ts)}
        if video.decode_problem is not None:
            # the frames up to the question time decoded: the sample is sound, but the video
            # is damaged after it
            meta["decode_problem"] = _decode_problem(
                video, f"at {(read.last_t + interval) / 1e6:.3f} s"
            )
        return self._qa_sample(spec, _as_rgb(frames[-1]), events, (t0, t1), meta)


@dataclasses.dataclass
class _Read:
    """The frames of a video up to a question time, as `_read_up_to` found them."""

    video: Any  # the VideoSource read
    frames: list[np.ndarray]  # from the window's reference frame to the frame shown
    ts: list[int]
    last_t: int  # time of the last frame decoded (-1: none)
    passed: bool  # a frame after the question time was decoded (the video goes on)
    rest: Iterator[tuple[np.ndarray, int]]  # the frames after that one


def _read_up_to(video: Any, t_q: int, window: int) -> _Read:
    """The frames of ``video`` up to time ``t_q`` that a window of ``window`` µs ending at the
    last of them needs (earlier ones are let go as the read goes on)."""
    frames: list[np.ndarray] = []
    ts: list[int] = []
    last_t, passed = -1, False
    frame_iter = iter(video)
    for frame, t in frame_iter:
        last_t = t
        if t > t_q:
            passed = True
            break
        frames.append(frame)
        ts.append(t)
        # the window ends at this frame or a later one: earlier references are not needed
        drop = bisect.bisect_right(ts, t - window) - 1
        if drop > 0:
            del frames[:drop], ts[:drop]
    return _Read(video, frames, ts, last_t, passed, frame_iter)


def _past(t_q: int, end_us: float) -> bool:
    """Whether question time ``t_q`` is after a video that ends at ``end_us`` (its last frame's
    time and a nominal frame). Up to `_END_SLACK_US` after, the last frame is shown: containers
    round frame times (Matroska to the millisecond by default), so a question written as
    n_frames / fps, at the video's very end, may fall that far past its last frame's end."""
    return t_q > end_us + _END_SLACK_US


_END_SLACK_US = 1000


@dataclasses.dataclass(frozen=True)
class _VideoEnd:
    """Where a video read to its end ends: ``end_us`` (its last frame's time and a nominal
    frame), and ``stops_early`` (`_decode_problem`) when it stopped decoding short of the frames
    its container lists. ``file`` (`_file_identity`) tells the file read from one put in its
    place since: a sample maker lives as long as its worker, and a Dask worker serves one build
    after another."""

    end_us: float
    stops_early: str | None
    file: tuple[int, ...] | None

    def reason(self, path: Path, time_s: float) -> str:
        if self.stops_early is not None:
            return (
                f"video {path.name} {self.stops_early}, before the question time "
                f"{_seconds(time_s)} s"
            )
        return _too_short(path, self.end_us, time_s)


def _file_identity(path: Path) -> tuple[int, ...] | None:
    """What changes when a file is replaced or rewritten: device, inode, size, modification and
    status-change times (the status change also where a copy kept the old modification time).
    None where it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _too_short(path: Path, duration_us: float, time_s: float) -> str:
    return (
        f"video {path.name} is {duration_us / 1e6:.3f} s long, shorter than the question time "
        f"{_seconds(time_s)} s"
    )


def _seconds(value: float) -> str:
    """A record's time in seconds as the durations beside it (``2.500``), but one too large
    for that as it was given (``1e+300``), not expanded to hundreds of digits."""
    return f"{value:.3f}" if abs(value) < _LONG_S else repr(value)


# a question time past this (about 31 years) is shown as given
_LONG_S = 1e9


def _decode_problem(video: Any, where: str = "") -> str:
    """``stops decoding at 1.200 s, short of the 60 frames its container lists (truncated or
    corrupt?)``: a `VideoSource` that stopped decoding early, ``where`` (``at 1.200 s``)."""
    at = f" {where}" if where else ""
    return (
        f"stops decoding{at}, short of the {video.container_frames} frames its container "
        "lists (truncated or corrupt?)"
    )


def _too_early(
    path: Path, t_q: int, t_frame: int, window: int, t_first: int, needed: int | None
) -> str:
    # a question time inside the video but off its frame grid: the shown frame is what is late
    late = t_q - window >= t_first
    shown = f" (the frame shown then is at {t_frame / 1e6:g} s)" if late else ""
    text = (
        f"question time {t_q / 1e6:g} s{shown} is earlier than the {window / 1000:g} ms event "
        "window"
    )
    if t_first:
        text += f" after the video's first frame at {t_first / 1e6:g} s"
    if needed is None:
        return f"{text}; video {path.name} has no frame late enough"
    return f"{text}; needs time >= {needed / 1e6:g} s"


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=-1)
    return frame


def _question_type(rec: dict[str, Any], choices: list[str]) -> str:
    """The answer format, all that is known of a record without its own type: options as a
    list, or written into the question with an answer naming one by letter or text
    (RealWorldQA), make it multiple-choice."""
    from eventsim.datasets.questions import answers_an_option

    if choices or answers_an_option(str(rec["question"]), str(rec["answer"])):
        return "multiple-choice"
    return "open"
