"""EVT 2.0/3.0 headers whose ``% format`` and ``% geometry`` lines give different sizes are
refused, naming both, as EVT 2.1's were (e0ff17a) and as openeb refuses them: `evt3.read_header`
took whichever line came last, so the events were read within a size the camera may not have
had. One check, in `evt3.read_header`, for every EVT version (evt21 had its own)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventsim.cli import main
from eventsim.errors import EventFileError
from eventsim.io import evt3, open_events

# one EVT 3.0 event at (1, 2), time 0
_EVT3 = np.array([8 << 12, 0, 2, (2 << 12) | 1], "<u2").tobytes()
TWO = "two sensor sizes, 64x48 in its '% format' line and 32x48 in its '% geometry' line"


def _raw(tmp_path: Path, header: bytes, name: str = "h.raw") -> Path:
    path = tmp_path / name
    path.write_bytes(header + _EVT3)
    return path


@pytest.mark.parametrize(
    "header",
    [
        b"% evt 3.0\n% format EVT3;height=48;width=64\n% geometry 32x48\n% end\n",
        b"% geometry 32x48\n% format EVT3;height=48;width=64\n% end\n",
        b"% format EVT2;height=48;width=64\n% geometry 32x48\n% end\n",
    ],
)
def test_format_and_geometry_sizes_that_disagree_are_refused(tmp_path, header):
    path = _raw(tmp_path, header)
    with pytest.raises(EventFileError, match=TWO):
        evt3.read_header(path)
    with pytest.raises(EventFileError, match=TWO) as exc:
        open_events(path)
    # said as it is, not as a failure to read the file
    assert "cannot read" not in str(exc.value)


def test_info_names_both_sizes(tmp_path, capsys):
    path = _raw(tmp_path, b"% evt 3.0\n% format EVT3;height=48;width=64\n% geometry 32x48\n")
    assert main(["info", str(path)]) != 0
    err = capsys.readouterr().err
    assert TWO in err and "Metavision refuses such a file too" in err


@pytest.mark.parametrize(
    "header",
    [
        b"% evt 3.0\n% format EVT3;height=48;width=64\n% geometry 64x48\n% end\n",
        # a line without a size, or the last of several lines of a key, is compared
        b"% evt 3.0\n% format EVT3\n% geometry 64x48\n% end\n",
        b"% format EVT3;height=48;width=32\n% format EVT3;height=48;width=64\n% geometry 64x48\n",
        b"% evt 3.0\n% geometry 32x48\n% geometry 64x48\n% format EVT3;width=64;height=48\n",
    ],
)
def test_sizes_that_agree_are_read(tmp_path, header):
    path = _raw(tmp_path, header)
    assert evt3.read_header(path).size == (64, 48)
    with open_events(path) as r:
        assert r.sensor_size == (64, 48)
        ev = r.read()
    assert (int(ev["x"][0]), int(ev["y"][0])) == (1, 2)


def test_a_size_of_non_ascii_digits_is_no_size(tmp_path):
    # '²' (0xB2 in latin-1) is a digit to str.isdigit, and int() refused it: a ValueError
    path = _raw(tmp_path, b"% evt 3.0\n% geometry 64x4\xb2\n% Width \xb2\n% end\n")
    assert evt3.read_header(path).size is None
