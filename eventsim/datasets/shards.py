"""HDF5 shards: many samples per file, written atomically and byte-reproducibly.

Layout of ``shards/<split>-<k>.h5``::

    root attrs   format, format_version, split, shard, start, stop, fingerprint,
                 sensor_width, sensor_height
    /index_json  uint8: UTF-8 JSON {"records": [...], "errors": [...]} (what samples.jsonl and
                 errors.jsonl hold for this shard, so a resumed build can reuse the shard)
    /samples/<k> one group per sample (k = position in the shard, 5 digits)
        events/x uint16, events/y uint16, events/t int64 (absolute µs), events/p uint8
                 (the DSEC column names and types, Blosc-zstd + bitshuffle)
        frame    HxWx3 uint8 RGB, the frame at the question time (Blosc-zstd)
        attrs    id, question, choices (JSON), answer, answer_index, question_type,
                 target_motion, window_us, frame_t_us, meta (JSON), source (JSON)

Files are written to a temporary name and renamed when complete. No object carries a
modification time and the file format version is pinned, so the same samples give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np

from eventsim._text import plural
from eventsim.datasets._formats import SHARD_FORMAT_VERSION, version_problem
from eventsim.datasets.sources import BuiltSample
from eventsim.errors import DatasetError, InvalidEventsError
from eventsim.events import EVENT_DTYPE, validate_events
from eventsim.io.hdf5_format import COLUMNS
from eventsim.outputs import fsync_file, publish, temp_path, with_disk_state

SHARD_FORMAT = "eventsim-vqa-shard"
_LIBVER = ("earliest", "v110")


def shard_filename(split: str, shard: int) -> str:
    return f"{split}-{shard:05d}.h5"


def group_name(position: int) -> str:
    return f"samples/{position:05d}"


def _events_filter() -> dict[str, Any]:
    return dict(hdf5plugin.Blosc(cname="zstd", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE))


def _frame_filter() -> dict[str, Any]:
    # textured frames barely compress; level 1 keeps 3/4 of level 5's gain at a sixth of the cost
    return dict(hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.NOSHUFFLE))


def _dataset(group: h5py.Group, name: str, data: np.ndarray, filt: dict[str, Any]) -> None:
    if data.size == 0:
        # chunked (filtered) datasets need at least one element per chunk
        group.create_dataset(name, data=data, track_times=False)
        return
    ds = group.create_dataset(name, data=data, chunks=data.shape, track_times=False, **filt)
    # The chunk sits in the raw-data cache until the dataset is closed, and when that happens
    # depends on Python garbage collection (e.g. under Dask it was sometimes deferred to file
    # close), which moved the chunk's file offset. Flushing now fixes where it lands, so the
    # shard bytes do not depend on the executor.
    ds.flush()


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def sample_record(sample: BuiltSample, split: str, index: int, shard_rel: str, pos: int) -> dict:
    """The samples.jsonl line of a sample (everything but the arrays)."""
    return {
        "id": sample.id,
        "split": split,
        "index": index,
        "question": sample.question,
        "choices": list(sample.choices),
        "answer": sample.answer,
        "answer_index": int(sample.answer_index),
        "question_type": sample.question_type,
        "target_motion": sample.target_motion,
        "shard": shard_rel,
        "group": group_name(pos),
        "window_us": [int(sample.window_us[0]), int(sample.window_us[1])],
        "frame_t_us": int(sample.frame_t_us),
        "n_events": len(sample.events),
        "meta": sample.meta,
        "source": sample.provenance,
    }


def write_shard(
    path: Path,
    samples: Iterable[tuple[int, BuiltSample]],
    errors: list[dict[str, Any]],
    info: dict[str, Any],
) -> dict[str, Any]:
    """Write one shard atomically; returns ``{"records", "errors", "sha256", "bytes"}``.

    ``samples`` are ``(index in split, sample)`` pairs in order, written as they come: an
    iterator that builds them keeps one sample in memory, not the shard's (64 by default, up
    to 100,000). ``errors`` is read once they are all written, so that iterator may add to it.
    ``info`` holds the root attributes (split, shard, start, stop, fingerprint, sensor_width,
    sensor_height). An error or Ctrl-C part-way (from the iterator too) leaves no file.
    """
    path = Path(path)
    shard_rel = f"shards/{path.name}"
    records: list[dict[str, Any]] = []
    size_wh = (int(info["sensor_width"]), int(info["sensor_height"]))
    tmp = temp_path(path)
    try:
        with h5py.File(tmp, "w", libver=_LIBVER) as f:
            f.attrs["format"] = SHARD_FORMAT
            f.attrs["format_version"] = SHARD_FORMAT_VERSION
            for key in ("split", "shard", "start", "stop", "fingerprint"):
                f.attrs[key] = info[key]
            f.attrs["sensor_width"] = int(info["sensor_width"])
            f.attrs["sensor_height"] = int(info["sensor_height"])
            root = f.create_group("samples")
            for pos, (index, s) in enumerate(samples):
                try:
                    validate_events(s.events, size_wh)
                except InvalidEventsError as exc:
                    raise DatasetError(f"sample {s.id} has invalid events: {exc}") from None
                records.append(sample_record(s, info["split"], index, shard_rel, pos))
                _write_sample(root.create_group(f"{pos:05d}"), s)
            index_bytes = _dumps({"records": records, "errors": errors}).encode()
            _dataset(f, "index_json", np.frombuffer(index_bytes, np.uint8), _frame_filter())
        fsync_file(tmp)
        digest, size = file_digest(tmp)
        publish(tmp, path)
    except (OSError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        err = with_disk_state(exc, path)
        if err is exc:
            raise
        raise err from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"records": records, "errors": list(errors), "sha256": digest, "bytes": size}


def _write_sample(g: h5py.Group, s: BuiltSample) -> None:
    ev = g.create_group("events")
    for name, dtype in COLUMNS:
        _dataset(ev, name, np.ascontiguousarray(s.events[name]).astype(dtype), _events_filter())
    _dataset(g, "frame", np.ascontiguousarray(s.image, dtype=np.uint8), _frame_filter())
    g.attrs["id"] = s.id
    g.attrs["question"] = s.question
    g.attrs["choices"] = _dumps(list(s.choices))
    g.attrs["answer"] = s.answer
    g.attrs["answer_index"] = int(s.answer_index)
    g.attrs["question_type"] = s.question_type
    g.attrs["target_motion"] = s.target_motion or ""
    g.attrs["window_us"] = np.asarray(s.window_us, np.int64)
    g.attrs["frame_t_us"] = int(s.frame_t_us)
    g.attrs["meta"] = _dumps(s.meta)
    g.attrs["source"] = _dumps(s.provenance)


def file_digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def _format_problem(f: h5py.File, path: Path) -> str | None:
    """Why this eventsim does not read the shard ``f`` (at ``path``) by its own
    ``format_version`` (`version_problem`, the rule of dataset.json's too), if so."""
    version = f.attrs.get("format_version")
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    elif isinstance(version, np.generic):
        version = version.item()
    return version_problem(
        version, SHARD_FORMAT_VERSION, f"shard {str(path)!r}", "shard format version"
    )


def shard_matches(f: h5py.File, expect: dict[str, Any]) -> bool:
    """Whether the open shard ``f`` is one of ours, in a format version this eventsim reads,
    with the attributes ``expect`` (its recipe fingerprint and sample range), read without
    touching its events."""
    if f.attrs.get("format") != SHARD_FORMAT or _format_problem(f, Path(f.filename)) is not None:
        return False
    for key, value in expect.items():
        got = f.attrs.get(key)
        if (got.item() if isinstance(got, np.generic) else got) != value:
            return False
    return True


def read_shard_index(path: Path, expect: dict[str, Any]) -> dict[str, Any] | None:
    """The index of a complete shard whose attributes match ``expect``; None if it does not
    match (another recipe, another sample range) or cannot be read, its index too (then it is
    rebuilt)."""
    try:
        with h5py.File(path, "r") as f:
            if not shard_matches(f, expect):
                return None
            index = _shard_index(f, path)
        digest, size = file_digest(path)
    except (OSError, KeyError, ValueError, DatasetError):
        return None
    return {"records": index["records"], "errors": index["errors"], "sha256": digest, "bytes": size}


def read_shard_records(path: Path) -> list[dict[str, Any]]:
    """The samples.jsonl lines the build wrote for a shard (kept in the shard's index)."""
    with open_shard(path) as f:
        return _shard_index(f, path)["records"]


def _shard_index(f: h5py.File, path: Path) -> dict[str, Any]:
    """The index of the open shard ``f`` (at ``path``): its "records" and "errors", each a
    list of JSON objects, one per sample of the range the shard covers; `DatasetError` naming
    the shard when it is missing or malformed, or lists another number of samples."""
    try:
        index = json.loads(bytes(f["index_json"][()]).decode())
    except (KeyError, TypeError, ValueError) as exc:
        why = str(exc)
    else:
        bad = [
            key
            for key in ("records", "errors")
            if not isinstance(index, dict)
            or not isinstance(index.get(key), list)
            or not all(isinstance(r, dict) for r in index[key])
        ]
        if not bad:
            _check_count(f, index, path)
            return index
        why = (
            f"its {bad[0]!r} is not a list of JSON objects"
            if isinstance(index, dict)
            else "it is not a JSON object"
        )
    raise DatasetError(f"shard {str(path)!r} has no readable index: {why}; rebuild the dataset")


def _check_count(f: h5py.File, index: dict[str, Any], path: Path) -> None:
    """`DatasetError` unless the index of ``f`` lists one record or error per sample of the
    range ``start``..``stop`` the shard covers: a build writes every planned sample of it,
    built (a record) or skipped (an error, plan-time ones included), so a shorter or longer
    list is an edited or damaged index, whose missing samples would silently vanish from a
    resumed build."""
    start, stop = (f.attrs.get(key) for key in ("start", "stop"))
    if not all(isinstance(v, (int, np.integer)) for v in (start, stop)):
        # no range to count against (nor is such a shard reused: `shard_matches`)
        return
    n_records, n_errors = len(index["records"]), len(index["errors"])
    covers = int(stop) - int(start)
    if n_records + n_errors != covers:
        raise DatasetError(
            f"shard {str(path)!r} has a damaged index: it lists {n_records} built and "
            f"{n_errors} skipped {plural(n_errors, 'sample')}, {n_records + n_errors} in all, "
            f"but the shard covers the {covers} {plural(covers, 'sample')} {int(start)} to "
            f"{int(stop) - 1} of its split; rebuild the dataset"
        )


def read_events(group: h5py.Group) -> np.ndarray:
    """The events of the sample ``group``; `DatasetError` when its columns are not of one
    length (numpy's "could not broadcast" named neither the sample nor the columns)."""
    ev = group["events"]
    columns = {name: ev[name] for name, _ in COLUMNS}
    shapes = [c.shape for c in columns.values()]
    if any(len(shape) != 1 or shape != shapes[0] for shape in shapes):
        shown = ", ".join(
            f"{name} {c.shape[0] if len(c.shape) == 1 else c.shape}" for name, c in columns.items()
        )
        raise DatasetError(
            f"the event columns of {group.name!r} are not of one length ({shown}): the shard "
            "was changed or damaged"
        )
    out = np.empty(shapes[0][0], dtype=EVENT_DTYPE)
    for name, column in columns.items():
        out[name] = column[()]
    return out


def open_shard(path: Path, locking: bool | str | None = None) -> h5py.File:
    """``path`` opened for reading; ``locking`` goes to ``h5py.File`` (None leaves HDF5's
    default, which the ``HDF5_USE_FILE_LOCKING`` variable sets). A shard whose own format
    version this eventsim does not read is refused (`DatasetError`)."""
    try:
        f = h5py.File(path, "r", **({} if locking is None else {"locking": locking}))
    except OSError as exc:
        hint = ""
        if "locking flag values don't match" in str(exc):
            # HDF5 opens a file once per process, with one locking setting
            hint = (
                " (this process already has it open with another locking setting, through "
                "another dataset of the same files: close that one, or open both with the same "
                "locking)"
            )
        elif re.search(r"\block", str(exc), re.IGNORECASE) and locking is not False:
            # "lock" as a word's start: HDF5's other open errors name the superblock
            # ("truncated file: eof = ..., sblock->base_addr = ..."), and sent a truncated shard
            # to the NFS advice
            hint = (
                " (file locking fails on some NFS mounts and read-only media: open the dataset "
                "with EventVQADataset(..., locking=False) or set HDF5_USE_FILE_LOCKING=FALSE)"
            )
        raise DatasetError(f"cannot open shard {str(path)!r}: {exc}{hint}") from None
    try:
        problem = _format_problem(f, Path(path))
    except (OSError, KeyError) as exc:
        # a damaged attribute: h5py's error names no file, and the file stayed open
        f.close()
        raise DatasetError(f"cannot read shard {str(path)!r}: {exc}") from None
    if problem is not None:
        f.close()
        raise DatasetError(problem)
    return f
