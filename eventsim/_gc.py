"""Script start-up without the cyclic garbage collector's repeated full passes.

Importing torch and transformers' Qwen2-VL modules creates some 600,000 objects that live as
long as the process. With CPython's default thresholds the collector walks all of them again
each time enough new ones have been made: six full passes during ``epvlm run``'s imports, about
0.6 s of its 3.7 s on a 2-core machine, and none of them finds garbage worth the walk.

So a script (not a library caller, whose process is not ours to tune) raises the youngest
generation's threshold for its start-up: the collector still runs, so the cycles made meanwhile
stay bounded, but rarely. Once the model is loaded, `end_startup` freezes everything alive
into the permanent generation, which later passes skip, and puts the thresholds back, so an
evaluation's own collections no longer walk torch's and transformers' modules either. The
``eventsim`` commands keep the raised threshold for their whole run: after start-up they make
few objects, and frames and events are arrays, which the collector does not track.
"""

from __future__ import annotations

import gc

STARTUP_THRESHOLD = 100_000

_saved: tuple[int, ...] | None = None


def defer_collection() -> None:
    """Raise the collector's youngest threshold to `STARTUP_THRESHOLD` until `end_startup`."""
    global _saved
    if _saved is not None:
        return
    _saved = gc.get_threshold()
    gc.set_threshold(max(STARTUP_THRESHOLD, _saved[0]), *_saved[1:])


def end_startup() -> None:
    """Freeze what start-up made and restore the thresholds; nothing when start-up was not
    deferred (a library caller, or a test running a command in-process)."""
    global _saved
    if _saved is None:
        return
    gc.freeze()
    gc.set_threshold(*_saved)
    _saved = None
