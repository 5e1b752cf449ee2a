"""Errors raised by epvlm. They derive from `eventsim.errors` so both CLIs print one style."""

from __future__ import annotations

from eventsim.errors import EventsimError, InvalidEventsError, ParameterError


class KeepMaskError(ParameterError):
    """A keep mask does not fit the image it is applied to (length, dtype, or nothing kept)."""


class ModelDirError(EventsimError, FileNotFoundError):
    """A model or processor directory is missing or lacks the files a checkpoint needs."""


class CheckpointError(EventsimError, ValueError):
    """A checkpoint's weights do not match the model its config describes (missing, unexpected
    or wrongly shaped tensors), or its config names a model type epvlm does not support."""


class EventsOutsideImageError(InvalidEventsError):
    """Events lie outside the image the prior is computed for."""


class ResultsFolderInUseError(EventsimError, BlockingIOError):
    """Another process evaluates into the same results folder (it holds the folder's lock,
    `epvlm.results.EVAL_LOCK`)."""


class ResultsFileError(EventsimError, OSError):
    """An evaluation's results.json is missing, unreadable, or holds no result rows
    (`epvlm.results.load_results`)."""


class ResultsFolderLockError(EventsimError, OSError):
    """The results folder, or its lock file, cannot be created (a read-only or foreign
    folder): the evaluation cannot write there."""


class FolderLockWarning(UserWarning):
    """The results folder cannot be locked (its filesystem has no file locks): the evaluation
    runs without the guard against a second one writing into the same folder."""


__all__ = [
    "CheckpointError",
    "EventsOutsideImageError",
    "FolderLockWarning",
    "KeepMaskError",
    "ModelDirError",
    "ResultsFileError",
    "ResultsFolderInUseError",
    "ResultsFolderLockError",
]
