"""eventsim: DVS event simulation, event I/O, rendering and event-VQA dataset building.

Importing this package is cheap: numpy only. Heavier parts (h5py I/O, the torch simulator,
matplotlib plots) are imported when used.
"""

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
from eventsim.events import (
    EVENT_DTYPE,
    as_events,
    concat_events,
    empty_events,
    make_events,
    slice_time,
    validate_events,
)

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
