"""eventsim: DVS event simulation, event I/O, rendering and event-VQA dataset building.

Importing this package is cheap: not even numpy. The event helpers (`EVENT_DTYPE`,
`make_events`, ...) load numpy on first use, and heavier parts (h5py I/O, the torch simulator,
matplotlib plots) are imported when used. Keeping the import this small also keeps short the
time during which a Ctrl-C at start-up, before the command line installs its handler, would
print Python's traceback.
"""

from __future__ import annotations

import importlib

from eventsim._version import __version__
from eventsim.errors import (
    DatasetError,
    EventFileError,
    EventsimError,
    InputError,
    InvalidEventsError,
    MissingDependencyError,
    OutputExistsError,
    ParameterError,
    RecipeError,
    UnknownLayoutError,
)

# typing.TYPE_CHECKING without importing typing (mypy reads the name the same way): every
# module imported here lengthens the start-up during which a Ctrl-C prints a traceback
TYPE_CHECKING = False

if TYPE_CHECKING:
    # what __getattr__ loads on first use, visible to type checkers and IDEs
    from eventsim.events import (
        EVENT_DTYPE,
        as_events,
        concat_events,
        empty_events,
        make_events,
        slice_time,
        validate_events,
    )

_EXPORTS = {
    "EVENT_DTYPE": "eventsim.events",
    "as_events": "eventsim.events",
    "concat_events": "eventsim.events",
    "empty_events": "eventsim.events",
    "make_events": "eventsim.events",
    "slice_time": "eventsim.events",
    "validate_events": "eventsim.events",
}

__all__ = [
    "EVENT_DTYPE",
    "DatasetError",
    "EventFileError",
    "EventsimError",
    "InputError",
    "InvalidEventsError",
    "MissingDependencyError",
    "OutputExistsError",
    "ParameterError",
    "RecipeError",
    "UnknownLayoutError",
    "__version__",
    "as_events",
    "concat_events",
    "empty_events",
    "make_events",
    "slice_time",
    "validate_events",
]


if not TYPE_CHECKING:
    # hidden from type checkers, which read the names above: a module __getattr__ would make
    # any misspelt attribute (eventsim.make_event) an object to them, not an error
    def __getattr__(name: str) -> object:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'eventsim' has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
