"""Second look at the thread-safe EventReader (170b74a) and the float64 fast path of CSV /
rpg text times (f505410): a shallow copy of a reader, and times float64 must not take."""

import copy
import pickle
import random
import sys
import threading
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import numpy as np
import pytest

from eventsim.errors import EventFileError
from eventsim.events import EVENT_DTYPE
from eventsim.io import EventReader, EventWriter, open_events
from eventsim.io import text as textmod

SIZE = (320, 240)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    rng = np.random.default_rng(1)
    n = 60_000
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"] = rng.integers(0, SIZE[0], n)
    ev["y"] = rng.integers(0, SIZE[1], n)
    ev["t"] = 1_000_000 + np.sort(rng.integers(0, 2 * n, n))
    ev["p"] = rng.integers(0, 2, n)
    path = tmp_path_factory.mktemp("copy") / "ev.h5"
    with EventWriter(path, SIZE, chunk_events=1024) as w:
        w.write(ev)
    return path, ev


def test_a_shallow_copy_of_a_reader_reads_as_the_reader(recording):
    # 0.2.1 made one (copy.copy shares the open file); refusing pickling had made it a
    # TypeError that spoke of pickling
    path, ev = recording
    with EventReader(path) as r:
        r.read(0, 10**9)  # the original's decode buffers exist and are its own
        c = copy.copy(r)
        assert type(c) is EventReader
        assert c._bufs_lock is not r._bufs_lock and c._index_lock is not r._index_lock
        assert np.array_equal(c.read(), ev)
        assert c._bufs is not r._bufs
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(c)


def test_a_reader_and_its_copy_read_right_side_by_side(recording):
    path, ev = recording
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    errors: list[BaseException] = []
    try:
        with EventReader(path) as r:
            readers = [r, copy.copy(r)]

            def work(seed: int) -> None:
                rng = np.random.default_rng(seed)
                reader = readers[seed % 2]
                try:
                    for _ in range(40):
                        a, b = sorted(rng.integers(0, len(ev), 2).tolist())
                        assert np.array_equal(reader.read_index(a, b), ev[a:b])
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
    finally:
        sys.setswitchinterval(before)
    if errors:
        raise errors[0]


def _digits_us(value: str, shift: int) -> int:
    # scaleb rounds to the context's precision (28 digits by default)
    with localcontext() as ctx:
        ctx.prec = 100
        return int(Decimal(value).scaleb(shift).to_integral_value(rounding=ROUND_HALF_EVEN))


def _adversarial_times(rng: random.Random) -> list[str]:
    out = [
        "0.0000005",
        "0.0000015",
        "-0.0000005",
        "1e-7",
        "5e-7",
        "1.5E-6",
        "0.000000499999999999999999999",
        "0.00000050000000000000000001",
        "4294967295.9999995",
        "4294967295.999999",
        "4294967296.000001",
        "1755187267.63696149",
    ]
    for _ in range(400):
        ip = rng.choice([rng.randrange(2**32), rng.randrange(2**31, 2**34), rng.randrange(100)])
        us = f"{rng.randrange(10**6):06d}"
        tail = rng.choice(["", "0" * rng.randrange(1, 14), "5", "49999999999", "500000000001"])
        sign = rng.choice(["", "", "-"])
        out.append(f"{sign}{ip}.{us}{tail}")
        out.append(repr(rng.uniform(0, 10) * 10.0 ** -rng.randrange(0, 9)))
    return out


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_float_times_are_taken_only_when_they_are_the_digits_microsecond(unit):
    shift = {"s": 6, "ms": 3, "us": 0}[unit]
    rng = random.Random(unit)
    for value in _adversarial_times(rng):
        got = textmod.float_times_to_us(np.array([float(value)]), unit)
        if got is not None:
            assert int(got[0]) == _digits_us(value, shift), value


def test_csv_and_txt_of_mixed_precision_read_the_digits(tmp_path):
    rng = random.Random(5)
    values = _adversarial_times(rng)[:200]
    want = sorted(_digits_us(v, 6) for v in values)
    csv = tmp_path / "a.csv"
    csv.write_text("".join(f"{v},1,2,{i % 2}\n" for i, v in enumerate(values)))
    txt = tmp_path / "a.txt"
    txt.write_text("".join(f"{v} 1 2 {i % 2}\n" for i, v in enumerate(values)))
    for path in (csv, txt):
        with open_events(path, sensor_size=SIZE, time_unit="s") as r:
            assert sorted(r.read()["t"].tolist()) == want, path.name


@pytest.mark.parametrize("suffix", ["csv", "txt"])
def test_exponent_times_round_from_every_digit(tmp_path, suffix):
    # decimal's default 28-digit context rounded the value to the tie 2.5 µs, then to 2
    sep = "," if suffix == "csv" else " "
    path = tmp_path / f"a.{suffix}"
    path.write_text(
        f"2.5000000000000000000000000000001e-6{sep}1{sep}2{sep}1\n"
        f"14975258624.033372500000000001e0{sep}1{sep}2{sep}0\n"
    )
    with open_events(path, sensor_size=SIZE, time_unit="s") as r:
        assert r.read()["t"].tolist() == [3, 14975258624033373]


@pytest.mark.parametrize(
    ("time", "want"),
    [
        ("1e999999", "too large"),  # decimal.Overflow escaped
        ("-9.9e999998", "too large"),
        ("1e99999999999999999999", "too large"),  # was 'is not a number'
        ("1e-99999999999999999999", 0),
        ("0e99999999999999999999", 0),
        ("1e-999999999", 0),
    ],
)
def test_exponents_beyond_decimal_context_are_read_or_named(tmp_path, time, want):
    path = tmp_path / "a.csv"
    path.write_text(f"t_s,x,y,p\n{time},1,2,1\n")
    if want == "too large":
        with pytest.raises(EventFileError, match=f"time '{time}' is too large for int64"):
            open_events(path, sensor_size=SIZE)
    else:
        with open_events(path, sensor_size=SIZE) as r:
            assert r.read()["t"].tolist() == [want]
