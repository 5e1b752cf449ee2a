"""Second look at round 12 of reading and converting: the note on times that rounding to whole
µs merges counts distinct times without np.unique (which hashes integers: 24 s for 10 M
times with fractions, a legitimate float-µs file), in any order, and never fires for times
without fractions, however many events share a µs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventsim.cli import main
from eventsim.events import EVENT_DTYPE
from eventsim.io import open_events
from eventsim.io.text import MERGED_TIMES_NOTE, merged_times_note


def _table(t: np.ndarray) -> np.ndarray:
    n = len(t)
    rng = np.random.default_rng(294)
    return np.stack(
        [rng.integers(0, 64, n), rng.integers(0, 48, n), t, rng.integers(0, 2, n)], axis=1
    ).astype(np.float64)


def _merged(notes: list[str]) -> bool:
    return any(note.startswith(MERGED_TIMES_NOTE) for note in notes)


def test_the_merged_times_check_does_not_hash_the_times(monkeypatch):
    rng = np.random.default_rng(1)
    seconds = np.sort(rng.uniform(0, 2, 3000))
    us = np.sort(rng.choice(10**6, 3000, replace=False)) + 0.25

    def hashed(*args: object, **kwargs: object) -> None:
        raise AssertionError("np.unique: hashing 10 M integer times took 9 s")

    monkeypatch.setattr(np, "unique", hashed)
    note = merged_times_note(seconds, np.rint(seconds).astype(np.int64), "us")
    assert note is not None and "distinct values became 3" in note
    assert merged_times_note(us, np.rint(us).astype(np.int64), "us") is None


def test_seconds_out_of_order_given_as_us_are_still_noted(tmp_path):
    rng = np.random.default_rng(2)
    np.save(tmp_path / "s.npy", _table(rng.uniform(0, 2, 3000)))  # not sorted
    with open_events(tmp_path / "s.npy", columns="xytp", time_unit="us") as r:
        assert _merged(r.notes)
        assert "distinct values became 3" in next(n for n in r.notes if _merged([n]))


def _dense_ns() -> np.ndarray:
    # 20 events on each of 500 µs, at distinct whole ns: a 20 Mev/s burst, as a Prophesee or
    # DSEC recording in ns holds; rounding merges 19 in 20 of the distinct times
    us = np.repeat(np.arange(1_000_000, 1_000_500), 20)
    return us * 1000 + np.tile(np.arange(-400, 400, 40), 500)


@pytest.mark.parametrize("kind", ["int npy", "float npy", "csv", "txt"])
def test_whole_ns_times_many_to_a_us_are_not_refused(tmp_path, capsys, kind):
    t_ns = _dense_ns()
    ev = np.zeros(len(t_ns), dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["p"] = 3, 4, 1
    if kind.endswith("npy"):
        src = tmp_path / "ns.npy"
        dtype = np.int64 if kind == "int npy" else np.float64
        table = np.stack([ev["x"], ev["y"], t_ns, ev["p"]], axis=1).astype(dtype)
        np.save(src, table)
        extra = ["--columns", "xytp"]
    else:
        src = tmp_path / f"ns.{kind}"
        sep = "," if kind == "csv" else " "
        head = "t,x,y,p\n" if kind == "csv" else ""
        rows = "".join(f"{t}.0{sep}3{sep}4{sep}1\n" for t in t_ns.tolist())
        Path(src).write_text(head + rows, encoding="ascii")
        extra = []
    out = tmp_path / "o.h5"
    assert main(["convert", str(src), str(out), *extra, "--time-unit", "ns"]) == 0, (
        capsys.readouterr().err
    )
    assert MERGED_TIMES_NOTE not in capsys.readouterr().err
    with open_events(out) as r:
        assert len(np.unique(r.read()["t"])) == 500


def test_a_simulators_sub_us_times_at_a_few_mev_s_are_not_refused(tmp_path, capsys):
    # continuous times in µs at 4 Mev/s: rounding merges some 4 distinct times into each µs,
    # as the event format must; it is no sign of seconds, which the note told to pass
    rng = np.random.default_rng(4)
    src = tmp_path / "sim.npy"
    np.save(src, _table(np.sort(rng.uniform(1e6, 1.05e6, 200_000))))
    with open_events(src, columns="xytp", time_unit="us") as r:
        assert not _merged(r.notes)
    out = tmp_path / "o.h5"
    assert main(["convert", str(src), str(out), "--columns", "xytp", "--time-unit", "us"]) == 0
    assert MERGED_TIMES_NOTE not in capsys.readouterr().err
    # seconds of the same events given as µs are still refused
    np.save(src, _table(np.sort(rng.uniform(0, 0.05, 200_000))))
    argv = ["convert", str(src), str(tmp_path / "s.h5"), "--columns", "xytp", "--time-unit", "us"]
    assert main(argv) == 1
    assert "likely in seconds" in capsys.readouterr().err
