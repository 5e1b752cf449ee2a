"""Second look at the notes of raw EVT files cut short: a cut on a word boundary is no
truncation to tell, and a file cut mid-word is told once per open, however it is read."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.events import make_events
from eventsim.io import open_events
from eventsim.io.formats import write_events

pytest.importorskip("faery")

N = 1500


@pytest.fixture(scope="module")
def raws(tmp_path_factory):
    rng = np.random.default_rng(84)
    ev = make_events(
        rng.integers(0, 64, N),
        rng.integers(0, 48, N),
        np.sort(rng.integers(0, 40_000, N)),
        rng.integers(0, 2, N),
    )
    d = tmp_path_factory.mktemp("raw8b")
    out = {}
    for fmt in ("evt3", "evt2"):
        path = d / f"{fmt}.raw"
        write_events(path, ev, (64, 48), fmt=fmt)
        out[fmt] = path.read_bytes()
    return out


def _noted(reader):
    return [n for n in reader.notes if "mid-word" in n or "truncated" in n]


@pytest.mark.parametrize("fmt, cut", [("evt3", 2), ("evt3", 4), ("evt2", 4), ("evt2", 8)])
def test_cut_on_a_word_boundary_is_not_noted(tmp_path, raws, fmt, cut):
    path = tmp_path / "whole_words.raw"
    path.write_bytes(raws[fmt][:-cut])
    with open_events(path) as r:
        assert 0 < len(r) <= N
        assert not _noted(r), r.notes


@pytest.mark.parametrize("fmt, cut", [("evt3", 3), ("evt2", 2)])
def test_cut_mid_word_is_noted_once_per_open(tmp_path, raws, fmt, cut):
    path = tmp_path / "cut.raw"
    path.write_bytes(raws[fmt][:-cut])
    with open_events(path) as r:
        windows = list(r.iter_windows(1000))
        assert sum(len(w) for w in windows) == len(r) == len(r.read())
        r.read(0, 20_000)
        assert len(_noted(r)) == 1, r.notes
    with open_events(path) as r:
        assert len(_noted(r)) == 1, r.notes
