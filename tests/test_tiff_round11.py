"""TIFF, round 11: a stack's OME-XML is parsed once where it is looked at and opened, and not
at all for a frame of one page; an OME-TIFF of z slices is read with a warning saying so (of
z slices at several time points, the time points of its first slice, as its DimensionOrder
lays them out; they were refused); `read_image` of a multi-series OME-TIFF decodes its first
series' image; an image kept in a SubIFD behind its thumbnail (DNG's layout) is decoded or
refused, no longer given as its thumbnail."""

from __future__ import annotations

import struct
import uuid
import warnings
import zlib

import numpy as np
import pytest
from test_tiff_round10 import OME_NS, _greys, _ome, _stack
from test_tiff_stack_round9 import _grey_page, _multi

from eventsim.cli.simulate import main as simulate_main
from eventsim.errors import InputError
from eventsim.simulator import sources
from eventsim.simulator.pipeline import simulate
from eventsim.simulator.sources import FolderSource, TiffSeriesWarning, TiffStackSource, read_image

from cli_checks import one_line
from user_media import tiff_with_tags


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


# -- 2. z slices -------------------------------------------------------------------------------


def test_z_slices_at_one_time_point_are_read_with_a_warning(tmp_path, capsys):
    """SizeZ=4, SizeT=1 was read as 4 frames in time without a word: the events were of the
    focus changing."""
    frames = _greys(4)
    path = _stack(tmp_path, frames, _ome(_pixels(1, 4)))
    with pytest.warns(TiffSeriesWarning, match=r"OME-TIFF of 4 z slices at one time point \(SizeZ=4, SizeT=1\): focal planes, not frames in time"):  # fmt: skip
        source = TiffStackSource(path, fps=10)
    np.testing.assert_array_equal(np.stack([f for f, _ in source]), np.stack(frames))
    assert simulate_main([str(path), "-o", str(tmp_path / "o.h5"), "--fps", "10", "-q"]) == 0
    line = one_line(capsys.readouterr().err, "SizeZ=4, SizeT=1", "focus changing")
    assert line.startswith("eventsim simulate: warning: TIFF stack ")
    # a time series says nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error", TiffSeriesWarning)
        TiffStackSource(_stack(tmp_path, frames, _ome(_pixels(4))), fps=10)


@pytest.mark.parametrize(
    "order, first_slice",
    [
        ("XYZCT", [0, 2, 4]),  # z fastest: the slices alternate
        ("XYCZT", [0, 2, 4]),
        ("XYZTC", [0, 2, 4]),
        ("XYTZC", [0, 1, 2]),  # t fastest: the first slice's time points come first
        ("XYCTZ", [0, 1, 2]),
    ],
)
def test_z_slices_over_time_read_the_first_slice_s_time_points(tmp_path, order, first_slice):
    """SizeZ=2 at SizeT=3 was refused; its pages (6) interleave the slices as DimensionOrder
    says: the frames are those of slice 0."""
    frames = _greys(6)
    path = _stack(tmp_path, frames, _ome(_pixels(3, 2, order, TimeIncrement="0.01")))
    assert sources.tiff_frame_count(path) == 3
    with pytest.warns(TiffSeriesWarning, match=r"OME-TIFF of 2 z slices at 3 time points \(SizeZ=2, SizeT=3\): the time points of its first z slice are read, the other 1 left out.*bfconvert -z"):  # fmt: skip
        source = TiffStackSource(path)
    assert source.n_frames == 3
    np.testing.assert_array_equal(source.timestamps_us, [0, 10_000, 20_000])
    got = [f for f, _ in source]
    np.testing.assert_array_equal(np.stack(got), np.stack([frames[k] for k in first_slice]))
    assert source.decode_problem is None


def test_z_slices_over_time_by_tiff_data_and_delta_t(tmp_path):
    """Planes placed by TiffData one a directory, in any order; the DeltaT of slice 0's."""
    frames = _greys(6)
    # directory k holds (z, t) = placed[k]
    placed = [(1, 2), (0, 1), (1, 0), (0, 2), (0, 0), (1, 1)]
    inner = "".join(f'<TiffData FirstZ="{z}" FirstT="{t}" IFD="{k}" PlaneCount="1"/>' for k, (z, t) in enumerate(placed))  # fmt: skip
    inner += "".join(f'<Plane TheC="0" TheZ="{z}" TheT="{t}" DeltaT="{t * 0.5 + z * 0.1}"/>' for z in range(2) for t in range(3))  # fmt: skip
    path = _stack(tmp_path, frames, _ome(_pixels(3, 2, "XYZCT", inner)))
    with pytest.warns(TiffSeriesWarning, match="first z slice"):
        source = TiffStackSource(path)
    np.testing.assert_array_equal(source.timestamps_us, [0, 500_000, 1_000_000])
    np.testing.assert_array_equal(np.stack([f for f, _ in source]), np.stack([frames[4], frames[1], frames[3]]))  # fmt: skip


def test_z_slices_over_time_past_the_last_page_count_the_read_slice_s(tmp_path):
    """Of 6 planes (z fastest) the file holds 5: the missing one is slice 1's, so the frames
    read are whole; holding 4, slice 0's last time point is missing and said so."""
    frames = _greys(6)
    text = _ome(_pixels(3, 2, "XYZCT"))
    with pytest.warns(TiffSeriesWarning):
        source = TiffStackSource(_stack(tmp_path, frames[:5], text), fps=10)
    assert len(list(source)) == 3 and source.decode_problem is None
    with pytest.warns(TiffSeriesWarning):
        source = TiffStackSource(_stack(tmp_path, frames[:4], text), fps=10)
    with pytest.warns(sources.VideoDecodeWarning, match="places 1 plane of its first series past its last page"):  # fmt: skip
        assert len(list(source)) == 2


def test_z_slices_over_time_of_xml_not_parsed_are_still_refused(tmp_path):
    """Where the XML cannot be parsed (a DOCTYPE), its planes cannot be placed."""
    text = f'<!DOCTYPE OME><OME xmlns="{OME_NS}">{_pixels(2, 2)}</OME>'.encode()
    with pytest.raises(InputError, match="OME-TIFF of SizeZ=2, SizeT=2, whose pages are no sequence"):  # fmt: skip
        TiffStackSource(_stack(tmp_path, _greys(4), text), fps=10)


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


# -- 4. an image in a SubIFD ---------------------------------------------------------------------


def _sub_ifd_file(
    thumb: np.ndarray, subs: list[tuple[bytes, dict[int, int]]], orientation: int = 1
) -> bytes:
    """A TIFF of one page, the grey ``thumb`` flagged NewSubfileType 1 (of ``orientation``),
    whose SubIFDs (tag 330) are ``subs``: each its pixels (one strip) and its tags, one value
    each; the strip's offset and byte count are filled in."""
    blocks = [thumb.tobytes() + b"\0" * (thumb.size % 2)]
    at = 8 + len(blocks[0])
    strips = []
    for pixels, _ in subs:
        strips.append(at)
        blocks.append(pixels + b"\0" * (len(pixels) % 2))
        at += len(blocks[-1])
    dirs = []
    for (pixels, sub_tags), strip in zip(subs, strips):
        entries = {**sub_tags, 273: strip, 279: len(pixels)}
        ifd = struct.pack("<H", len(entries))
        for tag, value in sorted(entries.items()):
            kind = 4 if tag in (254, 273, 279) else 3
            ifd += struct.pack("<HHI", tag, kind, 1) + struct.pack("<I" if kind == 4 else "<H", value).ljust(4, b"\0")  # fmt: skip
        dirs.append(at)
        blocks.append(ifd + bytes(4))
        at += len(blocks[-1])
    h, w = thumb.shape
    tags = [
        (254, "I", [1]), (256, "H", [w]), (257, "H", [h]), (258, "H", [8]), (259, "H", [1]),
        (262, "H", [1]), (273, "I", [8]), (277, "H", [1]), (278, "H", [h]),
        (274, "H", [orientation]), (279, "I", [thumb.size]), (330, "I", dirs),
    ]  # fmt: skip
    return tiff_with_tags(blocks, tags)


def _grey_tags(pixels: np.ndarray, **more: int) -> dict[int, int]:
    h, w = pixels.shape
    tags = {254: 0, 256: w, 257: h, 258: 8, 259: 1, 262: 1, 277: 1, 278: h}
    return {**tags, **{int(k.lstrip("t")): v for k, v in more.items()}}


def test_an_image_in_a_sub_ifd_behind_its_thumbnail_is_read_not_the_thumbnail(tmp_path):
    image = _greys(1, 64, 48)[0]
    thumb = image[::4, ::4].copy()
    path = tmp_path / "sub.tif"
    path.write_bytes(_sub_ifd_file(thumb, [(image.tobytes(), _grey_tags(image))]))
    np.testing.assert_array_equal(read_image(path), image)
    # deflate; among a preview (NewSubfileType 1) and the image, the image
    preview = image[::2, ::2].copy()
    subs = [
        (preview.tobytes(), _grey_tags(preview, t254=1)),
        (zlib.compress(image.tobytes()), _grey_tags(image, t259=8)),
    ]
    data = _sub_ifd_file(thumb, subs)
    np.testing.assert_array_equal(sources.decode_image(data, "cell"), image)
    assert sources.tiff_frame_count(path) == 0  # no page of its chain is an image
    # the first page's orientation turns it, where its own gives none
    path.write_bytes(_sub_ifd_file(thumb, subs, orientation=3))
    np.testing.assert_array_equal(read_image(path), image[::-1, ::-1])


@pytest.mark.parametrize(
    "tags, said",
    [
        (
            {262: 32803},
            r"raw sensor data \(a colour filter array, CFA, photometric 32803\), which eventsim "
            "does not read: it develops no raw images",
        ),
        ({262: 34892}, r"raw sensor data \(linear raw, photometric 34892\)"),
    ],
    ids=["cfa", "linear-raw"],
)
def test_an_image_in_a_sub_ifd_that_is_not_read_is_refused_not_its_thumbnail(tmp_path, tags, said):  # fmt: skip
    image = _greys(1, 64, 48)[0]
    path = tmp_path / "raw.dng"
    path.write_bytes(_sub_ifd_file(image[::4, ::4].copy(), [(image.tobytes(), {**_grey_tags(image), **tags})]))  # fmt: skip
    with pytest.raises(InputError, match=r"raw\.dng': its first page is a reduced-resolution copy \(a thumbnail\) and its 64x48 image, in a SubIFD, is " + said):  # fmt: skip
        read_image(path)


def test_a_thumbnail_whose_sub_ifds_hold_no_full_image_is_read_as_before(tmp_path):
    image = _greys(1, 64, 48)[0]
    thumb = image[::4, ::4].copy()
    preview = image[::2, ::2].copy()
    data = _sub_ifd_file(thumb, [(preview.tobytes(), _grey_tags(preview, t254=1))])
    np.testing.assert_array_equal(sources.decode_image(data, "cell"), thumb)
