"""TIFF, round 11: a stack's OME-XML is parsed once where it is looked at and opened, and not
at all for a frame of one page; `read_image` of a multi-series OME-TIFF decodes its first
series' image."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from test_tiff_round10 import _greys, _ome, _stack
from test_tiff_stack_round9 import _grey_page, _multi

from eventsim.cli.simulate import main as simulate_main
from eventsim.simulator import sources
from eventsim.simulator.pipeline import simulate
from eventsim.simulator.sources import FolderSource, read_image


@pytest.fixture
def parses(monkeypatch) -> list[int]:
    """Counts the OME-XML parses (ElementTree's fromstring of sources)."""
    calls: list[int] = []
    parse = sources.ET.fromstring

    def counted(text, *args, **kw):
        calls.append(len(text))
        return parse(text, *args, **kw)

    monkeypatch.setattr(sources.ET, "fromstring", counted)
    return calls


def _pixels(size_t: int, size_z: int = 1, order: str = "XYCZT", inner: str = "", **attrs) -> str:
    """An Image of one 40x30 grey channel, named uniquely: a parse cached by an earlier test of
    the same XML would not be counted."""
    more = "".join(f' {k}="{v}"' for k, v in attrs.items())
    name = uuid.uuid4().hex
    return (
        f'<Image ID="Image:{name}" Name="{name}"><Pixels ID="Pixels:0" DimensionOrder="{order}" '
        f'Type="uint8" SizeX="40" SizeY="30" SizeC="1" SizeZ="{size_z}" SizeT="{size_t}"{more}>'
        f'<Channel ID="Channel:0:0" SamplesPerPixel="1"/>{inner}</Pixels></Image>'
    )


# -- 1. the OME-XML parsed once ----------------------------------------------------------------


def test_a_stack_s_ome_xml_is_parsed_once_a_simulate(tmp_path, parses, capsys):
    """tiff_frame_count parsed it to tell a stack, and TiffStackSource again to open it."""
    path = _stack(tmp_path, _greys(4), _ome(_pixels(4, TimeIncrement="0.01")))
    result = simulate(path)
    assert result.n_frames == 4 and len(parses) == 1
    parses.clear()
    path = _stack(tmp_path, _greys(4), _ome(_pixels(4, TimeIncrement="0.01")), "cli.tif")
    assert simulate_main([str(path), "-o", str(tmp_path / "o.h5"), "-q"]) == 0
    assert len(parses) == 1


def test_a_folder_of_one_page_ome_tiffs_parses_no_xml(tmp_path, parses):
    """Each file of a multi-file OME-TIFF (one plane a file) carries the whole series' XML,
    which was parsed for every frame, whose pixels alone are read."""
    frames = _greys(3)
    folder = tmp_path / "frames"
    folder.mkdir()
    for k, frame in enumerate(frames):
        inner = "".join(f'<TiffData FirstT="{t}" IFD="0" PlaneCount="1"><UUID FileName="f{t}.ome.tif">urn:uuid:{t}</UUID></TiffData>' for t in range(3))  # fmt: skip
        text = _ome(_pixels(3, inner=inner), uuid=f"urn:uuid:{k}")
        (folder / f"f{k}.ome.tif").write_bytes(_multi([_grey_page(frame, text)]))
    got = [f for f, _ in FolderSource(folder, fps=10)]
    np.testing.assert_array_equal(np.stack(got), np.stack(frames))
    assert parses == []


# -- 3. read_image of a multi-series OME-TIFF -------------------------------------------------


def test_read_image_of_a_multi_series_ome_tiff_decodes_its_first_series(tmp_path, parses):
    """Its first series (one plane) stored second: page 1, another series' image, was given."""
    first, other = _greys(2)
    a = _pixels(1, inner='<TiffData IFD="1"/>')
    b = _pixels(1, inner='<TiffData IFD="0"/>')
    text = _ome(a, b)
    path = tmp_path / "two.ome.tif"
    path.write_bytes(_multi([_grey_page(other, text), _grey_page(first)]))
    assert sources.tiff_frame_count(path) == 1
    parses.clear()
    np.testing.assert_array_equal(read_image(path), first)
    assert len(parses) <= 1
    np.testing.assert_array_equal(sources.decode_image(path.read_bytes(), "cell"), first)
