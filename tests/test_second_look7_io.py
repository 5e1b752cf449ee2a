"""Second look at EventReader.close waiting for reads under way (review 7).

close() waited for every read under way, also one of its own thread: a signal handler (or a
finaliser) that closes the reader runs in the middle of that thread's read, which cannot end
before the handler returns, so close() waited forever.
"""

import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from eventsim.events import EVENT_DTYPE
from eventsim.io import EventWriter

SIZE = (64, 48)

_SCRIPT = """
import signal, sys
import numpy as np
from eventsim.errors import EventFileError
from eventsim.io import EventReader

path = sys.argv[1]
with EventReader(path) as plain:
    want = plain.read_index(5, 5_000)
r = EventReader(path)
signal.signal(signal.SIGUSR1, lambda signum, frame: r.close())
decode = EventReader._decode_records


def interrupted(reader, *args, **kwargs):
    # the handler runs here, in this thread, in the middle of the read
    signal.raise_signal(signal.SIGUSR1)
    return decode(reader, *args, **kwargs)


EventReader._decode_records = interrupted
got = r.read_index(5, 5_000)
print("same", np.array_equal(got, want))
print("closed", not r._f.id.valid)
try:
    r.read_index(0, 10)
except EventFileError as exc:
    print("after", "is closed" in str(exc))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 on this platform")
def test_a_signal_handler_closing_the_reader_during_its_threads_read_does_not_hang(tmp_path):
    rng = np.random.default_rng(3)
    n = 20_000
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"] = rng.integers(0, SIZE[0], n)
    ev["y"] = rng.integers(0, SIZE[1], n)
    ev["t"] = np.sort(rng.integers(0, 400_000, n))
    ev["p"] = rng.integers(0, 2, n)
    path = tmp_path / "ev.h5"
    with EventWriter(path, SIZE, chunk_events=1024) as w:
        w.write(ev)
    script = tmp_path / "close_in_handler.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    try:
        # the timeout only ends a hung child (the bug): the outcome does not depend on it
        done = subprocess.run(
            [sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        pytest.fail("close() in a signal handler waited forever for its own thread's read")
    assert done.returncode == 0, done.stderr
    # the interrupted read ends as it would have, and the file closes once it has
    assert done.stdout.split() == ["same", "True", "closed", "True", "after", "True"]
