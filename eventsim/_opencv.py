"""File names OpenCV can be given safely."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from eventsim.errors import InputError


def opencv_takes_name(name: str) -> bool:
    """Whether OpenCV may be given ``name``: it is UTF-8 (Python spells bytes that are not as
    surrogates, which OpenCV's functions kill the process on)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@contextlib.contextmanager
def opencv_file_name(path: str | os.PathLike, what: str) -> Iterator[str]:
    """A name by which OpenCV opens ``path``: its own, or, when that is not UTF-8 (Python
    spells such bytes as surrogates, 'bad\\udcff.mp4'), a link with a plain name to it for the
    block: OpenCV kills the process (segfault) on such a name. The link may dangle (a video
    OpenCV is about to write): opening it for writing creates ``path``. A file OpenCV opened
    stays open after the block."""
    path = Path(path)
    name = str(path)
    if opencv_takes_name(name):
        yield name
        return
    suffix = path.suffix if path.suffix.isascii() else ""
    with tempfile.TemporaryDirectory(prefix="eventsim-") as folder:
        link = os.path.join(folder, what + suffix)
        try:
            os.symlink(os.path.abspath(path), link)
        except (OSError, NotImplementedError):
            raise InputError(
                f"{what} {name!r}: its name is not UTF-8, which OpenCV cannot open; rename the file"
            ) from None
        yield link


@contextlib.contextmanager
def opencv_log_silenced() -> Iterator[None]:
    """OpenCV's own log off for the block, then back as it was: a failure is reported once,
    by us, not also by OpenCV's (or libtiff's, FFmpeg's) lines ahead of ours."""
    import cv2

    log = getattr(getattr(cv2, "utils", None), "logging", None)
    if log is None:
        yield
        return
    level = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        log.setLogLevel(level)
