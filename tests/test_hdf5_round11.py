"""Round 11 of the HDF5 reader and ``eventsim info``:

- ``info FILE.h5`` (without ``--check``) of a file whose events/p mixes -1/+1 and 0/1 exited 1
  with the reader's refusal and no summary, where other layouts warn and summarise; it now
  summarises (polarity other than 1 counted OFF), warns naming the mix by an event of each, and
  exits 0; ``--check`` still exits 1 with the same words. A -1/+1 column's stray 0 reads as 0
  like each -1, so the reader keeps the mix (``polarity_mix``) for info to name;
- `StreamCheck` gives its problem as a `StreamProblem` (kind, index, value, the other event),
  so callers need not parse its message, which is unchanged.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.cli import main
from eventsim.errors import InvalidEventsError
from eventsim.events import EVENT_DTYPE, StreamCheck, StreamProblem, validate_events
from eventsim.io import hdf5_reader, open_events
from eventsim.io.hdf5_reader import EventReader

MIX = "polarity mixes the -1/+1 and 0/1 conventions ({}); expected 0/1 or -1/+1 throughout"


def _run(capsys, *argv: str | Path) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _h5(path: Path, p: list[int], t: list[int] | None = None, x: list[int] | None = None) -> Path:
    """A DSEC-layout file without ms_to_idx, in chunks of 8 events (`_small_blocks`)."""
    n = len(p)
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g.create_dataset(
            "x", data=np.array(x if x is not None else [1] * n, "u2"), chunks=(min(n, 8),)
        )
        g.create_dataset("y", data=np.ones(n, "u2"), chunks=(min(n, 8),))
        t_ = np.array(t if t is not None else np.arange(n) * 1000, "i8")
        g.create_dataset("t", data=t_, chunks=(min(n, 8),))
        g.create_dataset("p", data=np.array(p, "i1"), chunks=(min(n, 8),))
    return path


@pytest.fixture
def small_blocks(monkeypatch):
    # blocks of 8 events, so that a test's first OFF value and a stray one lie in different
    # blocks of a small file (the reader tells a column's convention by its first OFF value)
    monkeypatch.setattr(hdf5_reader, "_BLOCK_EVENTS", 8)


# ------------------------------------------------------------ info of a mixed polarity column


def test_info_summarises_an_hdf5_file_mixing_polarity_and_warns(tmp_path, capsys):
    # a 0/1 column with stray -1s: the reader refused it, and info exited 1 with no summary
    path = _h5(tmp_path / "mix.h5", [0, 1, -1, 1, 0, -1])
    rc, out, err = _run(capsys, "info", path, "--sensor-size", "4x4")
    assert rc == 0
    assert "events:          6" in out
    assert "polarity:        33.3% ON (2 ON, 4 OFF)" in out
    assert "warning:" in err and MIX.format("p[2] = -1, p[0] = 0") in err
    assert "figures above are not trustworthy" in err
    rc, out, err = _run(capsys, "info", path, "--sensor-size", "4x4", "--check")
    assert rc == 1 and "events:          6" in out
    assert "error:" in err and MIX.format("p[2] = -1, p[0] = 0") in err


def test_info_names_a_stray_zero_of_a_signed_column(tmp_path, capsys, small_blocks):
    # -1/+1 in the first blocks (so the column reads as -1/+1), a 0 at 19 in the third: it
    # reads as 0 like each -1, so only the reader can tell info of it
    p = [1, -1] * 8 + [1, 1, 1, 0, -1, 1, 1, 1]
    path = _h5(tmp_path / "signed.h5", p)
    want = MIX.format("p[1] = -1, p[19] = 0")
    rc, out, err = _run(capsys, "info", path, "--sensor-size", "4x4")
    assert rc == 0, err
    assert "events:          24" in out
    assert "polarity:        58.3% ON (14 ON, 10 OFF)" in out
    assert want in err
    rc, out, err = _run(capsys, "info", path, "--sensor-size", "4x4", "--check", "--json")
    assert rc == 1 and json.loads(out)["problem"] == want and want in err
    # the reads of other commands still refuse the file (naming the -1 of the block they read)
    rc, _, err = _run(capsys, "convert", path, tmp_path / "o.npy", "--sensor-size", "4x4")
    assert rc != 0 and MIX.format("p[20] = -1, p[19] = 0") in err


def test_lenient_reader_keeps_the_earliest_mix_and_reads_on(tmp_path, small_blocks):
    # strays 0 at 19 and 25, in the third and fourth blocks
    p = [1, -1] * 8 + [1, 1, 1, 0, -1, 1, 1, 1] + [1, 0, 1, 1, 1, 1, 1, 1]
    path = _h5(tmp_path / "signed.h5", p)
    with EventReader(path, check_polarity=False) as r:
        assert r.polarity_mix is None  # nothing read yet
        # a later block first: its mix is kept until an earlier one is met; each is named by
        # the column's first -1, as the check of a stream names a mix
        late = r.read_index(24, 32)
        assert r.polarity_mix == StreamProblem("polarity_mix", "p", 1, -1, 25, 0, signed=True)
        ev = r.read_index(0, 32)
        assert r.polarity_mix == StreamProblem("polarity_mix", "p", 1, -1, 19, 0, signed=True)
        r.read_index(24, 32)
        assert r.polarity_mix.other_index == 19
        cols = r.read_index_columns(0, 32)
    # -1 reads as 0 (the column's OFF), and so do the stray 0s: only 0/1 comes out
    want = (np.array(p) == 1).astype(np.int8)
    assert np.array_equal(ev["p"], want) and np.array_equal(late["p"], want[24:])
    assert np.array_equal(cols.p, want)
    with EventReader(path) as r, pytest.raises(InvalidEventsError, match=r"p\[19\] = 0"):
        r.read_index(0, 32)
    with open_events(path, check_polarity=False) as r:
        assert isinstance(r, EventReader) and len(r.read_index(0, 32)) == 32
    with open_events(path) as r, pytest.raises(InvalidEventsError, match="mixes"):
        r.read_index(0, 32)


def test_info_names_the_first_of_a_mix_and_another_problem(tmp_path, capsys, small_blocks):
    signed = [1, -1] * 8 + [1, 1, 1, 0, -1, 1, 1, 1]
    # x outside the sensor at 20, after the stray 0 at 19: the mix is named
    x = [1] * 24
    x[20] = 9
    rc, _, err = _run(capsys, "info", _h5(tmp_path / "a.h5", signed, x=x), "--sensor-size", "4x4")
    assert rc == 0 and MIX.format("p[1] = -1, p[19] = 0") in err
    # times stepping down at 5, before it: that is named
    t = list(range(0, 24_000, 1000))
    t[5] = 0
    rc, _, err = _run(capsys, "info", _h5(tmp_path / "b.h5", signed, t=t), "--sensor-size", "4x4")
    assert rc == 0 and "timestamps are not sorted: t[5] = 0 us < t[4] = 4000 us" in err
    assert "mixes" not in err


# ------------------------------------------------------------ StreamCheck's structured result


def _packet(p: list[int], t0: int = 0, x: list[int] | None = None) -> np.ndarray:
    ev = np.zeros(len(p), EVENT_DTYPE)
    ev["t"] = np.arange(t0, t0 + len(p))
    ev["p"] = p
    if x is not None:
        ev["x"] = x
    return ev


def test_stream_check_result_is_structured_and_its_message_unchanged():
    check = StreamCheck((4, 4))
    check.check(_packet([0, 1]))
    late = _packet([1, 1], t0=0)
    assert check.check(late) == "timestamps are not sorted: t[2] = 0 us < t[1] = 1 us"
    assert check.result == StreamProblem("unsorted", "t", 2, 0, 1, 1)
    assert check.problem == str(check.result) == check.result.message

    check = StreamCheck((4, 4))
    check.check(_packet([0, 1, 2]))
    assert check.result == StreamProblem("polarity", "p", 2, 2)
    assert check.problem == "polarity p[2] = 2; expected 0 or 1"

    check = StreamCheck((4, 3))
    check.check(_packet([0, 1, 1], x=[0, 3, 4]))
    assert check.result == StreamProblem("outside", "x", 2, 4, sensor_size=(4, 3))
    assert (
        check.problem == "x[2] = 4 is outside the sensor; expected 0 <= x < 4 for sensor size 4x3"
    )

    check = StreamCheck()
    check.check(_packet([0, 1], x=[0, -2]))
    assert check.result == StreamProblem("negative", "x", 1, -2)
    assert check.problem == "x[1] = -2 is negative"


def test_stream_check_lone_minus_one_becomes_a_mix_by_its_fields():
    # a -1 with no 0 yet is a bad value; a 0 packets later makes it a mix, told by the
    # result's kind and value (it was told by comparing the message's text)
    check = StreamCheck((4, 4), signed_polarity=True)
    check.check(_packet([1, -1, 1]))
    assert check.result == StreamProblem("polarity", "p", 1, -1)
    check.check(_packet([1, 1, 0], t0=3))
    assert check.result == StreamProblem("polarity_mix", "p", 1, -1, 5, 0, signed=True)
    assert check.problem == MIX.format("p[1] = -1, p[5] = 0")
    assert check.result.at == 5


def test_stream_problem_renumbered_to_the_file_order():
    order = np.array([3, 0, 1, 2])
    mix = StreamProblem("polarity_mix", "p", 1, -1, 3, 0)
    assert mix.renumbered(order) == StreamProblem("polarity_mix", "p", 0, -1, 2, 0)
    assert mix.renumbered(None) is mix
    # an index past the order is kept
    assert StreamProblem("polarity", "p", 7, 2).renumbered(order).index == 7


def test_validate_events_message_unchanged():
    with pytest.raises(InvalidEventsError, match=r"^polarity p\[1\] = 3; expected 0 or 1$"):
        validate_events(_packet([0, 3]), (4, 4))


# ------------------------------------------------------------ memory of a lazy index's marks


def test_lazy_marks_at_their_limit_hold_8_bytes_a_mark():
    # marks spread over a 600 h index, one in each 4096 entries: sets of them by bucket held
    # 18 MB (a set each, 200+ bytes for one mark); a sorted int64 array holds 0.5 MB
    warm = hdf5_reader._LazyMarks([])
    for k in range(2048):  # numpy's first merge allocates caches of its own
        warm[k] = False
    ks = (np.arange(hdf5_reader._LAZY_MARKS_MAX - 1, dtype=np.int64) * 32_957).tolist()
    tracemalloc.start()
    try:
        marks = hdf5_reader._LazyMarks([(0, 10)])
        for k in ks:
            marks[k + 1] = False
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < 2 << 20, held
    assert not marks[32_958] and marks[32_957] and not marks[5]
    flags = marks.block(32_950, 32_960)
    assert flags.tolist() == [True] * 8 + [False, True]
