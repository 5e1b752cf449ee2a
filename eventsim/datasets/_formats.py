"""The format versions a build writes, the one rule by which readers accept a version, and the
names of the files an unfinished build keeps beside its shards.

Kept apart from the engine and the shard code: the loader checks dataset.json's version, and
``eventsim info`` recognises a build's files, without importing what a build needs (recipes,
sources, cv2, h5py).
"""

from __future__ import annotations

import re

DATASET_FORMAT_VERSION = "1.0"
SHARD_FORMAT_VERSION = "1.0"
STATE_FILE = ".build-state.json"
#: one JSON line per finished shard: the image and video files it was built from, each as
#: the engine's `_file_record` saw it before it was read (null: missing)
INPUTS_FILE = ".build-inputs.jsonl"

# ASCII digits only: str.isdigit() also takes superscripts and other scripts' digits
_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def version_problem(version: object, writes: str, subject: str, what: str) -> str | None:
    """Why a file whose format version is ``version`` is not read by an eventsim that writes
    version ``writes``, naming ``subject`` (the file) and ``what`` (the kind of version); None
    when it is read. A version is read when it has the same major version: later minor versions
    (and their patch levels, "1.2.3") only add. Another major version is a later eventsim's,
    whose files may mean other things; anything but dot-separated numbers is no version."""
    major = writes.split(".")[0]
    if isinstance(version, str) and _VERSION.fullmatch(version):
        if version.split(".")[0] == major:
            return None
    if (
        isinstance(version, (int, float))
        and not isinstance(version, bool)
        and _VERSION.fullmatch(str(version))
        and str(version).split(".")[0] == major
    ):
        # a hand-edited 1.0 (a JSON number) would read "has format version 1.0; reads 1.x"
        return (
            f"{subject} has format version {version!r} as a JSON number; it must be a string, "
            f'"{version}" (this eventsim reads {what} {major}.x, it writes {writes})'
        )
    found = "no format version" if version is None else f"format version {version!r}"
    return (
        f"{subject} has {found}; this eventsim reads {what} {major}.x (it writes {writes}): "
        "read it with the eventsim that built it, or rebuild the dataset"
    )
