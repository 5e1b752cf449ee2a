"""Second look at round 11 of the HDF5 reader and ``eventsim info``, and two follow-ups of rpg
text (``t x y p``):

- `_LazyMarks.block` looked at its sorted array before its set of new marks: a merge by another
  thread between the two looks hid the marks it moved (the comment claimed none was missed);
- rpg text whose every comma may be a decimal mark or group thousands (``1,234``) was refused
  whatever ``time_unit`` said, and the refusal did not name it: times in seconds now settle
  it, as they do a CSV's;
- rpg text's polarity that is no finite number is named as written by its line, as a CSV's is,
  not by its index among the rows;
- guards: files mixing polarity conventions in various blocks, read by ``info`` and by the
  lenient and refusing readers, against numpy; `_LazyMarks` against a set.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.cli import main
from eventsim.errors import EventFileError, InvalidEventsError
from eventsim.io import hdf5_reader, open_events
from eventsim.io.hdf5_reader import EventReader

MIX = "polarity mixes the -1/+1 and 0/1 conventions ({}); expected 0/1 or -1/+1 throughout"


def _run(capsys, *argv: str | Path) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# ------------------------------------------------------------------------ _LazyMarks


def _flags(model: set[int], ranges: list[tuple[int, int]], k0: int, k1: int) -> list[bool]:
    return [k not in model and not any(a <= k < b for a, b in ranges) for k in range(k0, k1)]


@pytest.mark.parametrize(("limit", "span"), [(1 << 16, 6000), (2500, 60_000), (1500, 2000)])
def test_lazy_marks_agree_with_a_set_across_merges_and_the_limit(monkeypatch, limit, span):
    # marks set in any order, again, and unset, across merges of 1024 new marks and (small
    # limits) the forgetting of all past the limit, against a set doing the same
    monkeypatch.setattr(hdf5_reader, "_LAZY_MARKS_MAX", limit)
    rng = np.random.default_rng(limit)
    ranges = [(0, 30), (1700, 1750)]
    marks, model = hdf5_reader._LazyMarks(list(ranges)), set()
    for step in range(8000):
        k, r = int(rng.integers(0, span)), rng.random()
        if r < 0.75:
            marks[k] = False
            if k not in model:
                if len(model) >= limit:
                    model.clear()
                model.add(k)
        elif r < 0.82:
            marks[k] = True
            model.discard(k)
        elif r < 0.97:
            assert marks[k] == _flags(model, ranges, k, k + 1)[0], step
        else:
            k1 = min(span, k + int(rng.integers(0, 3000)))
            assert marks.block(k, k1).tolist() == _flags(model, ranges, k, k1), step
    assert marks.block(0, span).tolist() == _flags(model, ranges, 0, span)
    assert [marks[k] for k in range(span)] == _flags(model, ranges, 0, span)


def test_lazy_marks_descending_inserts_over_a_merge():
    marks = hdf5_reader._LazyMarks([])
    ks = set(range(3000, 0, -2))  # 1500 marks, the last merge at 1024 of them
    for k in sorted(ks, reverse=True):
        marks[k] = False
    assert marks.block(0, 3002).tolist() == [k not in ks for k in range(3002)]


class _MergingHeld(np.ndarray):
    """A `_LazyMarks`' array that, at its first search, has another thread's mark merge the
    set of new marks into a new array (as a thread switch there would)."""

    marks: hdf5_reader._LazyMarks
    done = False

    def searchsorted(self, *args, **kwargs):
        if not _MergingHeld.done:
            _MergingHeld.done = True
            self.marks[10_000] = False
        return np.asarray(self).searchsorted(*args, **kwargs)


def test_lazy_marks_block_sees_marks_a_merge_moves_meanwhile():
    marks = hdf5_reader._LazyMarks([])
    for k in range(hdf5_reader._MARKS_NEW - 1):
        marks[k] = False
    held = np.zeros(0, np.int64).view(_MergingHeld)
    _MergingHeld.marks, _MergingHeld.done = marks, False
    marks._held = held
    # the block looked at the array being replaced, then at the emptied set: each of the
    # 1023 marks set before it began read as unchecked
    flags = marks.block(0, 2048)
    assert _MergingHeld.done and not flags[: hdf5_reader._MARKS_NEW - 1].any()
    assert flags[hdf5_reader._MARKS_NEW - 1 :].all()
    assert not marks[10_000] and not marks.block(10_000, 10_001)[0]


# -------------------------------------------------- files mixing polarity conventions


def _h5(path: Path, p: np.ndarray, dtype: str = "i1") -> Path:
    n = len(p)
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g.create_dataset("x", data=(np.arange(n) % 4).astype("u2"), chunks=(8,))
        g.create_dataset("y", data=np.ones(n, "u2"), chunks=(8,))
        g.create_dataset("t", data=np.arange(n, dtype="i8") * 1000, chunks=(8,))
        g.create_dataset("p", data=np.asarray(p).astype(dtype), chunks=(8,))
    return path


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(hdf5_reader, "_BLOCK_EVENTS", 8)


def _pm(n: int, seed: int) -> np.ndarray:
    return np.where(np.random.default_rng(seed).integers(0, 2, n) == 1, 1, -1).astype(np.int8)


def _01(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n).astype(np.int8)


def _cases() -> dict[str, tuple[np.ndarray, str | None]]:
    """p of 40 events (5 blocks of 8) and the mix info names, or None."""
    cases: dict[str, tuple[np.ndarray, str | None]] = {}
    p = _01(40, 1)
    p[:3] = [1, 1, 0]
    p[37] = -1  # a 0/1 column's only -1, in the last block
    cases["01, a -1 in the last block"] = (p, "p[37] = -1, p[2] = 0")
    p = _pm(40, 2)
    p[:2] = [1, -1]
    p[39] = 0  # a -1/+1 column's only 0, the last event
    cases["-1/+1, a 0 last"] = (p, "p[1] = -1, p[39] = 0")
    p = _01(40, 3)
    p[:4] = [1, -1, 1, 0]  # in the first block, before its first 0
    cases["01, a -1 first"] = (p, "p[1] = -1, p[3] = 0")
    p = np.ones(40, np.int8)
    p[12], p[30] = -1, 0  # a burst of ON events first: the second block tells
    cases["ON burst, -1, then 0"] = (p, "p[12] = -1, p[30] = 0")
    p = _pm(40, 4)
    p[0], p[9], p[17] = -1, 0, 0
    cases["-1/+1, 0 in the second and third blocks"] = (p, "p[0] = -1, p[9] = 0")
    cases["-1/+1 only"] = (_pm(40, 5), None)
    cases["0/1 only"] = (_01(40, 6), None)
    return cases


@pytest.mark.parametrize("name", list(_cases()))
def test_mixed_polarity_files_read_as_numpy_says(tmp_path, capsys, small_blocks, name):
    p, mix = _cases()[name]
    path = _h5(tmp_path / "f.h5", p)
    signed = not np.any(p[: 8 * (int(np.argmax((p == 0) | (p == -1))) // 8 + 1)] == 0)
    # a -1/+1 column reads each -1 (and a stray 0) as 0; a 0/1 one keeps a stray -1
    want = np.where(p == -1, 0, p) if signed else p
    rc, out, err = _run(capsys, "info", path, "--sensor-size", "4x4")
    assert rc == 0, err
    n_on = int(np.count_nonzero(p == 1))
    assert f"({n_on} ON, {40 - n_on} OFF)" in out
    rc_check, _, err_check = _run(capsys, "info", path, "--sensor-size", "4x4", "--check")
    if mix is None:
        assert "warning" not in err and rc_check == 0
    else:
        assert MIX.format(mix) in err and MIX.format(mix) in err_check and rc_check == 1
    with open_events(path, check_polarity=False) as r:
        assert np.array_equal(r.read()["p"], want)
        assert np.array_equal(r.read_columns().p, want)
        assert np.array_equal(r.read(9_000, 31_000)["p"], want[9:31])
        assert np.array_equal(r.read_columns(36_000, 90_000).p, want[36:])
        assert np.array_equal(r.read_index_columns(7, 17).p, want[7:17])
        chunks = np.concatenate(list(r.iter_chunks(5)))
        assert np.array_equal(chunks["p"], want)
        assert (r.polarity_mix is None) == (mix is None)
        if mix is not None:
            assert r.polarity_mix.message == MIX.format(mix)
    with open_events(path) as r:
        if mix is None:
            assert np.array_equal(r.read()["p"], want)
        else:
            with pytest.raises(InvalidEventsError, match="mixes"):
                r.read()


def test_bool_polarity_reads_as_is(tmp_path, capsys, small_blocks):
    p = _01(40, 7).astype(bool)
    path = _h5(tmp_path / "b.h5", p, "?")
    rc, _, err = _run(capsys, "info", path, "--sensor-size", "4x4", "--check")
    assert rc == 0 and "warning" not in err
    with EventReader(path, check_polarity=False) as r:
        assert np.array_equal(r.read()["p"], p.astype(np.int8)) and r.polarity_mix is None


# ----------------------------------------------------------------------------- rpg text


def test_rpg_text_decimal_comma_times_settled_by_seconds(tmp_path, capsys):
    # each comma may group thousands (1,234 us) or mark decimals (1.234 s): refused without a
    # unit, and with seconds given too, the refusal not naming the option
    path = tmp_path / "ev.txt"
    path.write_text("1,234 1 2 1\n1,567 3 2 0\n2,001 0 1 1\n")
    with pytest.raises(EventFileError, match=r"write them as points, or, for times in seconds"):
        open_events(path, sensor_size=(4, 4))
    with pytest.raises(EventFileError, match=r"pass time_unit='s'$"):
        open_events(path, sensor_size=(4, 4), time_unit="ms")
    with open_events(path, sensor_size=(4, 4), time_unit="s") as r:
        ev = r.read()
        assert ev["t"].tolist() == [1_234_000, 1_567_000, 2_001_000]
        assert ev["x"].tolist() == [1, 3, 0] and ev["p"].tolist() == [1, 0, 1]
        assert any("its times are in seconds" in n for n in r.notes)
    rc, _, err = _run(capsys, "info", path, "--sensor-size", "4x4")
    assert rc == 1 and "or, for times in seconds, pass --time-unit s" in err
    rc, out, _ = _run(capsys, "info", path, "--sensor-size", "4x4", "--time-unit", "s")
    assert rc == 0 and "events:          3" in out


def test_rpg_text_comma_off_the_times_stays_refused_without_the_hint(tmp_path):
    # x = 1,000 may be a thousand whatever unit the times are in
    path = tmp_path / "ev.txt"
    path.write_text("1,234 1,000 2 1\n1,567 3 2 0\n")
    with pytest.raises(EventFileError, match="may be a number") as info:
        open_events(path, sensor_size=(4, 4), time_unit="s")
    assert "time_unit" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        ("0.1 1 2 1\n0.2 1 2 nan\n0.3 1 2 0\n", "'nan' at line 2"),
        ("# t x y p\n\n0.1 1 2 1\n0.2 1 2 1\n0.3 1 2 inf\n", "'inf' at line 5"),
        ("4 4\n0.1 1 2 1\n0.2 1 2 -inf\n", "'-inf' at line 3"),
    ],
)
def test_rpg_text_nonfinite_polarity_named_by_its_line(tmp_path, content, shown):
    path = tmp_path / "ev.txt"
    path.write_text(content)
    with pytest.raises(InvalidEventsError) as info:
        open_events(path, sensor_size=(4, 4))
    assert str(info.value) == (
        f"column p: polarity is {shown} of {str(path)!r}; expected 0/1 or -1/+1"
    )
    # info reads such a polarity on, reporting it
    with open_events(path, sensor_size=(4, 4), check_polarity=False) as r:
        assert len(r.read()) == content.count(" 1 2 ")
