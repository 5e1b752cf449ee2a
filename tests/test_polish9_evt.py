"""evt3.read_header spells EVT 2.1 one way ('2.1'), for '% format EVT21' too."""

from __future__ import annotations

import pytest

from eventsim.io import evt3


@pytest.mark.parametrize(
    "header",
    [
        b"% format EVT21;height=720;width=1280\n% end\n",
        b"% evt 2.1\n% end\n",
        b"% evt 2.1\n% format EVT21;height=720;width=1280\n% end\n",
    ],
)
def test_read_header_spells_evt21_as_2_1(tmp_path, header):
    path = tmp_path / "h.raw"
    path.write_bytes(header + b"\x00" * 16)
    assert evt3.read_header(path).version == "2.1"


def test_read_header_keeps_other_versions(tmp_path):
    for line, version in ((b"% format EVT3;height=4;width=4\n", "3"), (b"% evt 2.0\n", "2")):
        path = tmp_path / "h.raw"
        path.write_bytes(line + b"% end\n")
        assert evt3.read_header(path).version == version
