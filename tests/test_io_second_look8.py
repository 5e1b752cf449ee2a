"""Second look at the HDF5 user-block scan and rpg text's messages (eventsim.io.layouts)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from eventsim.errors import EventFileError
from eventsim.io.layouts import _has_hdf5_signature, open_events


def _bytes_read() -> int:
    # rchar: bytes this process asked read() for, whatever the page cache held
    with open("/proc/self/io") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("rchar"))


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not Path("/proc/self/io").exists(),
    reason="counts bytes read by /proc/self/io",
)
def test_hdf5_user_block_scan_reads_only_the_signatures(tmp_path):
    # a buffered read of 8 bytes fills a whole buffer of st_blksize (16 MiB on GPFS, 4 MiB
    # on Lustre) at each of the ~25 offsets of a 10 GB CSV or EVT file: hundreds of MB read
    # before the file itself is
    path = tmp_path / "big.raw"
    with open(path, "wb") as fh:
        fh.truncate(10 * 2**30)
    before = _bytes_read()
    assert not _has_hdf5_signature(path, path.stat().st_size)
    # 25 offsets x 8 bytes, and /proc/self/io itself
    assert _bytes_read() - before < 2048


def test_hdf5_signature_found_past_a_user_block(tmp_path):
    path = tmp_path / "ub.csv"
    path.write_bytes(b"x" * 1024 + b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert _has_hdf5_signature(path, path.stat().st_size)
    path.write_bytes(b"x" * 1000 + b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert not _has_hdf5_signature(path, path.stat().st_size)


def test_rpg_last_line_with_too_many_values_is_not_called_truncated(tmp_path):
    # a cut line holds fewer values, never more
    path = tmp_path / "ev.txt"
    path.write_bytes(b"0.1 1 2 1\n0.2 1 2 1 5\n")
    with pytest.raises(EventFileError, match=r"line 2 holds 5 values; expected 4") as exc:
        open_events(path)
    assert "truncated" not in str(exc.value)
    path.write_bytes(b"0.1 1 2 1\n0.2 1 2\n\n")
    with pytest.raises(EventFileError, match=r"line 2 holds 3 values.*may be truncated"):
        open_events(path)


def test_rpg_first_time_zero_reads_the_times_text_only_when_needed(tmp_path, monkeypatch):
    # np.savetxt(fmt="%g") writes a first time of 0 as '0': the times were then parsed a
    # second time as text to tell integer times, twice the reading time of the whole file,
    # where any time with a fraction already says they are decimals
    from eventsim.io import layouts

    calls = []
    real = layouts._txt_times

    def counted(raw: bytes, has_size: bool):
        calls.append(1)
        return real(raw, has_size)

    monkeypatch.setattr(layouts, "_txt_times", counted)
    path = tmp_path / "g.txt"
    path.write_bytes(b"0 1 2 1\n7e-06 3 2 0\n0.000123 1 1 1\n")
    with open_events(path) as r:
        assert r.read()["t"].tolist() == [0, 7, 123]
        assert r.time_unit_detected == "s"
    assert not calls
    # whole times next to decimal x, y or p: only their text tells 100 from 100.0
    path.write_bytes(b"0 1 2 1.0\n100 3 2 0.0\n")
    with open_events(path) as r:
        assert r.read()["t"].tolist() == [0, 100]
        assert r.time_unit_detected == "us"
    path.write_bytes(b"0 1 2 1.0\n100.0 3 2 0.0\n")
    with open_events(path) as r:
        assert r.read()["t"].tolist() == [0, 100_000_000]
        assert r.time_unit_detected == "s"
