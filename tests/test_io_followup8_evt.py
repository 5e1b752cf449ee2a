"""Raw EVT files: a file that ends mid-word (cut short) is read up to the cut with a note
saying how many bytes were left over, and an EVT 2.0 file whose header names no format is
read as EVT 3.0 (as faery reads it) with a note, and a refusal then says what to do."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import EventFileError
from eventsim.events import make_events
from eventsim.io import evt3, open_events
from eventsim.io.formats import write_events

pytest.importorskip("faery")

N = 2000


def _events():
    rng = np.random.default_rng(82)
    return make_events(
        rng.integers(0, 64, N),
        rng.integers(0, 48, N),
        np.sort(rng.integers(0, 50_000, N)),
        rng.integers(0, 2, N),
    )


@pytest.fixture(scope="module")
def raws(tmp_path_factory):
    d = tmp_path_factory.mktemp("raw")
    out = {}
    for fmt in ("evt3", "evt2"):
        path = d / f"{fmt}.raw"
        write_events(path, _events(), (64, 48), fmt=fmt)
        out[fmt] = path.read_bytes()
    return out


def _truncation_notes(reader):
    return [n for n in reader.notes if "truncated" in n]


@pytest.mark.parametrize(
    "fmt, cut, left, misread",
    [("evt3", 1, 1, False), ("evt2", 1, 3, False), ("evt2", 3, 1, False), ("evt3", 1, 1, True)],
)
def test_file_ending_mid_word_is_noted(tmp_path, monkeypatch, raws, fmt, cut, left, misread):
    if misread:
        # the files faery misreads are decoded by eventsim's own EVT 3.0 decoder
        monkeypatch.setattr(evt3, "faery_misreads", lambda *a, **k: True)
    path = tmp_path / "cut.raw"
    path.write_bytes(raws[fmt][:-cut])
    with open_events(path) as r:
        assert 0 < len(r) <= N
        notes = _truncation_notes(r)
    assert len(notes) == 1, r.notes
    assert f"{left} byte" in notes[0] and "mid-word" in notes[0]


@pytest.mark.parametrize("fmt", ["evt3", "evt2"])
def test_whole_file_has_no_truncation_note(tmp_path, raws, fmt):
    path = tmp_path / "whole.raw"
    path.write_bytes(raws[fmt])
    with open_events(path) as r:
        assert len(r) == N
        assert not _truncation_notes(r), r.notes


def _without_format_lines(data: bytes, keep_geometry: bool) -> bytes:
    lines = data.split(b"\n")
    head = [i for i, line in enumerate(lines) if line.startswith(b"%")]
    drop = (b"% evt ", b"% format ") + (() if keep_geometry else (b"% geometry ",))
    kept = [line for i, line in enumerate(lines) if i not in head or not line.startswith(drop)]
    return b"\n".join(kept)


def test_evt2_without_format_line_refused_with_a_hint(tmp_path, raws):
    path = tmp_path / "noversion.raw"
    path.write_bytes(_without_format_lines(raws["evt2"], keep_geometry=True))
    with pytest.raises(EventFileError) as info:
        open_events(path)
    msg = str(info.value)
    assert "no '% evt' line" in msg and "'% evt 2.0'" in msg, msg


def test_evt2_without_format_line_given_size_refused_with_a_hint(tmp_path, raws):
    path = tmp_path / "nosize.raw"
    path.write_bytes(_without_format_lines(raws["evt2"], keep_geometry=False))
    with pytest.raises(EventFileError) as info:
        open_events(path, sensor_size=(64, 48))
    assert "no '% evt' line" in str(info.value)
    # without a size nothing tells: the guess is noted
    with open_events(path) as r:
        assert any("no '% evt' line" in n and "EVT 3.0" in n for n in r.notes), r.notes


def test_evt3_without_format_line_reads_with_a_note(tmp_path, raws):
    path = tmp_path / "evt3.raw"
    path.write_bytes(_without_format_lines(raws["evt3"], keep_geometry=True))
    with open_events(path) as r:
        assert len(r) == N
        assert any("no '% evt' line" in n for n in r.notes), r.notes
