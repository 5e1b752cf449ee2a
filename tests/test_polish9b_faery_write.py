"""faery's writer: a Rust panic (pyo3's PanicException, a BaseException) while writing AEDAT4,
EVT, DAT or ES is refused as an EventFileError, as faery's reader does, and leaves no partial
output; Ctrl-C, SystemExit and MemoryError still pass through."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import EventFileError
from eventsim.events import make_events
from eventsim.io.formats import write_events

faery = pytest.importorskip("faery")

# pyo3's PanicException derives from BaseException, past `except Exception`
Panic = type("PanicException", (BaseException,), {})


def _events():
    return make_events(np.arange(10), np.arange(10), np.arange(10) * 100, np.arange(10) % 2)


def _failing(exc: BaseException):
    def encode(packets, path, **kwargs):
        with open(path, "wb") as f:  # a partial output, as a panic mid-write leaves
            f.write(b"partial")
        raise exc

    return encode


# EVT 3.0 .raw files are written by eventsim itself; EVT 2.0 ones by faery
@pytest.mark.parametrize("ext", [".aedat4", ".raw", ".dat", ".es"])
def test_panic_while_writing_is_an_event_file_error(tmp_path, monkeypatch, ext):
    monkeypatch.setattr(faery.file_encoder, "events_to_file", _failing(Panic("not implemented")))
    path = tmp_path / f"out{ext}"
    with pytest.raises(EventFileError, match=r"faery could not write .*not implemented"):
        write_events(path, _events(), (16, 16), fmt="evt2" if ext == ".raw" else None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3), MemoryError()])
def test_interrupts_and_memory_pass_through(tmp_path, monkeypatch, exc):
    monkeypatch.setattr(faery.file_encoder, "events_to_file", _failing(exc))
    with pytest.raises(type(exc)):
        write_events(tmp_path / "out.aedat4", _events(), (16, 16))
    assert list(tmp_path.iterdir()) == []
