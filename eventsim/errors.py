"""Typed exceptions. Every error the toolkit raises on bad input derives from `EventsimError`,
so callers (and the CLI) can catch one type and print a single readable line."""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import ModuleType


class EventsimError(Exception):
    """Base class of all errors raised by eventsim on bad input or state."""


class InvalidEventsError(EventsimError, ValueError):
    """An events array breaks the contract of `EVENT_DTYPE` (order, bounds, polarity)."""


class ParameterError(EventsimError, ValueError):
    """A parameter, option or recipe field has a value outside what is accepted."""


class ArgumentValueError(ParameterError):
    """A keyword argument's value refused; the message starts with it as Python passes it
    (``time_unit='ns' does not apply ...``). ``rest`` is the message after it, so that a
    command line can name its option in its place (``--time-unit ns does not apply ...``)."""

    def __init__(self, parameter: str, value: object, rest: str) -> None:
        super().__init__(f"{parameter}={shown_value(value)}{rest}")
        self.parameter = parameter
        self.value = value
        self.rest = rest

    def __reduce__(self) -> tuple[type, tuple[str, object, str], dict[str, object]]:
        # a worker process's error reaches the parent pickled: rebuild from the parts (and
        # keep what was added to it since, such as notes)
        return type(self), (self.parameter, self.value, self.rest), self.__dict__


#: Digits past which an integer is shown by its size (``1e+400 (a 401-digit integer)``).
_MAX_SHOWN_DIGITS = 50


def shown_value(value: object) -> str:
    """``value`` as a message shows it: its repr, a huge integer by its leading digits and
    length, and a value too large to print (a huge Fraction) by its type."""
    if isinstance(value, int) and not isinstance(value, bool) and value:
        size = abs(value)
        # log10 of an int is exact enough to be off by at most one, which the check mends
        digits = int(math.log10(size)) + 1
        digits += size >= 10**digits
        digits -= size < 10 ** (digits - 1)
        if digits > _MAX_SHOWN_DIGITS:
            lead = size // 10 ** (digits - 4) / 1000
            sign = "-" if value < 0 else ""
            return f"{sign}{lead:g}e+{digits - 1} (a {digits}-digit integer)"
    try:
        return repr(value)
    except ValueError:
        return f"a {type(value).__name__} too large to print"


class EventFileError(EventsimError, OSError):
    """An event file is missing, empty, corrupt, or cannot be written."""


class UnknownLayoutError(EventFileError):
    """A file opened but matches none of the event layouts we know how to read."""


class OutputExistsError(EventsimError, FileExistsError):
    """The output path exists and overwriting was not requested."""


class InputError(EventsimError, ValueError):
    """A simulator input (video, frame folder, image) is missing, unreadable or inconsistent."""


class UnopenedVideoError(InputError):
    """A video OpenCV cannot open. ``path`` is the file; ``shared_suffix`` is whether its suffix
    is one videos share with event formats (`eventsim.io.formats.VIDEO_SHARED_SUFFIXES`) while
    its first bytes did not show an event file, so it may be either (a caller that takes no
    event files can say it is likely one)."""

    def __init__(self, message: str, path: os.PathLike[str] | str, shared_suffix: bool) -> None:
        super().__init__(message)
        self.path = Path(path)
        self.shared_suffix = shared_suffix

    def __reduce__(self) -> tuple[type, tuple[str, Path, bool], dict[str, object]]:
        # pickled from a worker process, as `ArgumentValueError`
        return type(self), (str(self), self.path, self.shared_suffix), self.__dict__


class DatasetError(EventsimError):
    """A dataset directory or recipe is invalid, or a build step failed."""


class DamagedShardError(DatasetError):
    """A shard's bytes differ from what the build recorded in dataset.json (size or sha256)."""


class RecipeError(DatasetError, ValueError):
    """A recipe file names an unknown field or a value outside the allowed set."""


class MissingDependencyError(EventsimError, ImportError):
    """An optional dependency needed for the requested feature is not installed."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        install = f"pip install 'eventsim[{extra}]'"
        if extra in _TORCH_EXTRAS and not _installed("torch"):
            # the extra's torch is unpinned: pip would take the newest release with its CUDA
            # packages, gigabytes a CPU machine does not need (README, "Quick start")
            install = (
                "pip install torch==2.13.0 first (or the torch build for your CUDA from "
                f"pytorch.org), then {install}"
            )
        super().__init__(
            f"{feature} needs the optional package {package!r}; install it with: {install}"
        )
        self.package = package
        self.extra = extra
        self.feature = feature

    def __reduce__(self) -> tuple[type, tuple[str, str, str], dict[str, object]]:
        # Exception's own rebuilds from the message alone, which this __init__ cannot take: a
        # build worker's error failed to unpickle in the parent, which reported the worker dead
        return type(self), (self.package, self.extra, self.feature), self.__dict__


# the extras that pull torch in (pyproject.toml)
_TORCH_EXTRAS = frozenset({"sim", "vlm", "all", "dev"})


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import an optional dependency or raise `MissingDependencyError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module.split(".")[0], extra, feature) from exc
