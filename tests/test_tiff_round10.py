"""TIFF stacks as INPUT, round 10: a reduced-resolution page is left out wherever it lies and
full-resolution pages of different sizes are refused, naming them (they were left out, or the
file read as one image); ImageJ's fps= alone (its playback speed) no longer times frames; an
OME-TIFF is read as its first series, timed by its planes' DeltaT; a tag's values are capped."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from test_sources_second_look6 import _tiff as _pages
from test_tiff_stack_round9 import _grey_page, _moving, _multi

from eventsim.cli.simulate import main as simulate_main
from eventsim.errors import InputError
from eventsim.simulator import sources
from eventsim.simulator.sources import TiffSeriesWarning, TiffStackSource, read_image

from cli_checks import one_line

OME_NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


def _greys(n: int, w: int = 40, h: int = 30) -> list[np.ndarray]:
    return [f[..., 1] for f in _moving(n, w, h)]


def _stack(tmp_path, frames: list[np.ndarray], description: bytes, name: str = "s.tif"):
    """A stack of grey ``frames``, ``description`` on its first page."""
    path = tmp_path / name
    pages = [_grey_page(f, description if k == 0 else b"") for k, f in enumerate(frames)]
    path.write_bytes(_multi(pages))
    return path


# -- pages of other sizes ------------------------------------------------------------------


def test_a_reduced_resolution_first_page_is_left_out(tmp_path):
    """A thumbnail flagged NewSubfileType 1 before the frames: the frames are the rest (the
    first page's size was taken for the frames', and no frame was found)."""
    frames = _greys(3)
    path = tmp_path / "s.tif"
    path.write_bytes(_pages([(frames[0][::2, ::2], {254: (4, [1])}), *((f, {}) for f in frames)]))
    assert sources.tiff_frame_count(path) == 3
    source = TiffStackSource(path, fps=10)
    assert source.n_frames == 3 and source.input_size == (40, 30)
    np.testing.assert_array_equal(np.stack([f for f, _ in source]), np.stack(frames))


def test_full_resolution_pages_of_another_size_are_refused_naming_them(tmp_path, capsys):
    frames = _greys(3)
    other = _greys(1, 36, 30)[0]
    path = tmp_path / "s.tif"
    # a reduced copy flagged so is still left out; the page of another size is not
    pages = [(frames[0], {}), (frames[0][::2, ::2], {254: (4, [1])}), (frames[1], {}), (other, {}), (frames[2], {})]  # fmt: skip
    path.write_bytes(_pages(pages))
    assert sources.tiff_frame_count(path) == 4
    with pytest.raises(InputError, match=r"page 4 is 36x30 and its page 1, the first frame, 40x30"):
        TiffStackSource(path, fps=10)
    assert simulate_main([str(path), "-o", str(tmp_path / "o.h5"), "--fps", "10", "-q"]) == 1
    one_line(capsys.readouterr().err, "page 4 is 36x30", "40x30", "one size")


def test_a_two_page_file_of_two_shapes_is_two_images_not_its_first(tmp_path):
    """Two pages of different shapes are no image and its thumbnail: read as one image, the
    second vanished; now the file is refused as an image and as a stack, saying why."""
    rgb = _moving(1, 64, 48)[0]
    path = tmp_path / "two.tif"
    path.write_bytes(_pages([(rgb, {}), (rgb[:20, :30], {})]))
    assert sources.tiff_frame_count(path) == 2
    with pytest.raises(InputError, match="TIFF of 2 images"):
        read_image(path)
    with pytest.raises(InputError, match="page 2 is 30x20 and its page 1, the first frame, 64x48"):
        TiffStackSource(path, fps=10)
    # a copy of the first page's shape, untagged (a camera's thumbnail), stays a thumbnail
    path.write_bytes(_pages([(rgb, {}), (rgb[::8, ::8], {})]))
    assert sources.tiff_frame_count(path) == 1
    np.testing.assert_array_equal(read_image(path), rgb)


# -- ImageJ's fps= ---------------------------------------------------------------------------


def test_imagej_fps_alone_is_a_playback_speed_and_asks_for_the_rate(tmp_path, capsys):
    """ImageJ saves fps= (Animation Options' speed) with every stack whose speed was set, and
    finterval= only where a frame interval was: fps= alone timed the frames at the speed it
    was played at."""
    frames = _greys(4)
    path = _stack(tmp_path, frames, b"ImageJ=1.54f\nimages=4\nslices=4\nfps=7\nloop=false\n")
    with pytest.raises(InputError, match=r"fps=7 is only the speed ImageJ plays.*\(7 if it is that\); pass fps$"):  # fmt: skip
        TiffStackSource(path)
    out = tmp_path / "o.h5"
    assert simulate_main([str(path), "-o", str(out), "-q"]) == 1
    one_line(capsys.readouterr().err, "fps=7", "Animation Options", "; pass --fps")
    assert not out.exists()
    # given, the rate times the frames; finterval= beside fps= times them too
    np.testing.assert_array_equal(TiffStackSource(path, fps=7).timestamps_us, np.rint(np.arange(4) * 1e6 / 7))  # fmt: skip
    path = _stack(tmp_path, frames, b"ImageJ=1.54f\nimages=4\nslices=4\nfps=7\nfinterval=0.002\n")  # fmt: skip
    source = TiffStackSource(path)
    np.testing.assert_array_equal(source.timestamps_us, np.arange(4) * 2000)
    assert "finterval=0.002" in source.timing


# -- OME-TIFF: series and DeltaT -------------------------------------------------------------


def _ome(*images: str, uuid: str = "") -> bytes:
    own = f' UUID="{uuid}"' if uuid else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{OME_NS}"{own}>{"".join(images)}</OME>'
    ).encode()


def _image(name: str, size_t: int, inner: str = "", **attrs: str) -> str:
    more = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return (
        f'<Image ID="Image:{name}" Name="{name}"><Pixels ID="Pixels:{name}" '
        f'DimensionOrder="XYCZT" Type="uint8" SizeX="40" SizeY="30" SizeC="1" SizeZ="1" '
        f'SizeT="{size_t}"{more}><Channel ID="Channel:{name}:0" SamplesPerPixel="1"/>'
        f"{inner}</Pixels></Image>"
    )


def test_an_ome_tiff_of_several_series_is_read_as_its_first(tmp_path):
    """Two positions of 3 time points each (6 pages of one size) were one stack of 6."""
    frames = _greys(6)
    text = _ome(_image("pos1", 3), _image("pos2", 3))
    path = _stack(tmp_path, frames, text)
    assert sources.tiff_frame_count(path) == 3
    with pytest.warns(TiffSeriesWarning, match=r"OME-TIFF of 2 series \(1: 'pos1', 2: 'pos2'\); its first is read.*bfconvert -series"):  # fmt: skip
        source = TiffStackSource(path, fps=10)
    assert source.n_frames == 3 and source.describe()["ome_series"] == "1 of 2"
    np.testing.assert_array_equal(np.stack([f for f, _ in source]), np.stack(frames[:3]))


def test_the_first_series_is_where_its_tiff_data_place_it(tmp_path):
    """Series stored second (IFD 3 on) and a label image of another size: the frames are
    the first series' pages, and the label is no page of a stack of other sizes."""
    frames = _greys(6)
    label = _greys(1, 20, 10)[0]
    first = _image("cells", 3, '<TiffData IFD="3" PlaneCount="3"/>')
    second = _image("other", 3, '<TiffData IFD="0" PlaneCount="3"/>')
    third = _image("label", 1, '<TiffData IFD="6"/>').replace('SizeX="40" SizeY="30"', 'SizeX="20" SizeY="10"')  # fmt: skip
    path = tmp_path / "s.ome.tif"
    pages = [_grey_page(f, _ome(first, second, third) if k == 0 else b"") for k, f in enumerate(frames)]  # fmt: skip
    path.write_bytes(_multi([*pages, _grey_page(label)]))
    with pytest.warns(TiffSeriesWarning, match="3 series"):
        source = TiffStackSource(path, fps=10)
    np.testing.assert_array_equal(np.stack([f for f, _ in source]), np.stack(frames[3:]))


def test_tiff_data_of_one_plane_each_in_any_order_give_plane_order(tmp_path):
    frames = _greys(3)
    inner = "".join(f'<TiffData FirstT="{t}" IFD="{ifd}" PlaneCount="1"/>' for t, ifd in ((2, 0), (0, 1), (1, 2)))  # fmt: skip
    path = _stack(tmp_path, frames, _ome(_image("one", 3, inner)))
    got = [f for f, _ in TiffStackSource(path, fps=10)]
    np.testing.assert_array_equal(np.stack(got), np.stack([frames[1], frames[2], frames[0]]))


def _planes(times: list[str], unit: str = "") -> str:
    said = f' DeltaTUnit="{unit}"' if unit else ""
    return "".join(f'<Plane TheC="0" TheZ="0" TheT="{t}" DeltaT="{v}"{said}/>' for t, v in enumerate(times))  # fmt: skip


@pytest.mark.parametrize(
    "times, unit, expected_us",
    [
        (["0", "0.01", "0.03", "0.04"], "", [0, 10_000, 30_000, 40_000]),
        (["12.5", "13", "14", "16"], "ms", [0, 500, 1500, 3500]),
        (["1", "1.5", "2", "3"], "s", [0, 500_000, 1_000_000, 2_000_000]),
    ],
    ids=["seconds-by-default", "ms", "s"],
)
def test_plane_delta_t_times_the_frames(tmp_path, times, unit, expected_us):
    text = _ome(_image("one", 4, _planes(times, unit), TimeIncrement="1"))
    source = TiffStackSource(_stack(tmp_path, _greys(4), text))
    np.testing.assert_array_equal(source.timestamps_us, expected_us)
    assert "OME Plane DeltaT" in source.timing
    # fps given wins over the file's times
    np.testing.assert_array_equal(TiffStackSource(source.path, fps=100).timestamps_us, np.arange(4) * 10_000)  # fmt: skip


def test_plane_delta_t_that_do_not_increase_or_miss_a_frame_are_not_used(tmp_path):
    frames = _greys(4)
    for planes, said in (
        (_planes(["0", "0.2", "0.1", "0.3"]), "do not increase"),
        (_planes(["0", "0.1", "0.2"]), "frame 4 has no OME Plane DeltaT"),
    ):
        source = TiffStackSource(_stack(tmp_path, frames, _ome(_image("one", 4, planes, TimeIncrement="0.05"))))  # fmt: skip
        np.testing.assert_array_equal(source.timestamps_us, np.arange(4) * 50_000)
        assert "TimeIncrement" in source.timing and said in source.timing
        with pytest.raises(InputError, match=f"no frame rate .*{said}.*; pass fps$"):
            TiffStackSource(_stack(tmp_path, frames, _ome(_image("one", 4, planes))))


def test_a_multi_file_ome_tiff_is_refused_naming_the_other_files(tmp_path):
    own, other = "urn:uuid:1111", "urn:uuid:2222"
    inner = (
        f'<TiffData IFD="0" PlaneCount="2"><UUID FileName="a.ome.tif">{own}</UUID></TiffData>'
        f'<TiffData FirstT="2" IFD="0" PlaneCount="2">'
        f'<UUID FileName="b.ome.tif">{other}</UUID></TiffData>'
    )
    path = _stack(tmp_path, _greys(2), _ome(_image("one", 4, inner), uuid=own), "renamed.tif")
    with pytest.raises(InputError, match=r"multi-file OME-TIFF: .*'b\.ome\.tif'"):
        TiffStackSource(path, fps=10)


def test_xml_with_a_doctype_is_not_parsed(tmp_path):
    """Entities of a DOCTYPE expand a few hundred bytes to GBs (billion laughs); OME-XML has
    no DOCTYPE, so such a description is read as the pattern reads any (the first Pixels)."""
    laughs = '<!DOCTYPE OME [<!ENTITY a "ha">' + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi")) + "]>"  # fmt: skip
    text = (laughs + f'<OME xmlns="{OME_NS}"><Image Name="&i;">' + _image("x", 3)[len('<Image ID="Image:x" Name="x">') :] + "</OME>").encode()  # fmt: skip
    assert sources._ome_series(text, 3) is None
    source = TiffStackSource(_stack(tmp_path, _greys(3), text), fps=10)
    assert source.n_frames == 3 and source.series is None


# -- tag value sizes -------------------------------------------------------------------------


def test_a_tag_of_more_bytes_than_the_cap_is_refused_naming_it(tmp_path, monkeypatch):
    """A damaged count (a 4 GB ImageDescription) was read whole where the file was that big."""
    frames = _greys(3)
    path = _stack(tmp_path, frames, b"made by a camera " * 200)
    monkeypatch.setattr(sources, "_TIFF_MAX_VALUE_BYTES", 1000)
    with pytest.raises(InputError, match=r"page 1: its tag 270 \(ImageDescription\) holds 3,401 bytes, more than the 1,000"):  # fmt: skip
        TiffStackSource(path, fps=10)
    with pytest.raises(InputError, match="tag 270"):
        sources.tiff_frame_count(path)
    monkeypatch.undo()
    # a count of 4 Gi on a page of a small file: refused so, before its length is looked at
    data = bytearray(path.read_bytes())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for k in range(struct.unpack_from("<H", data, ifd)[0]):
        at = ifd + 2 + 12 * k
        if struct.unpack_from("<H", data, at)[0] == 270:
            struct.pack_into("<I", data, at + 4, 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"tag 270 \(ImageDescription\) holds 4,294,967,295 bytes"):  # fmt: skip
        TiffStackSource(path, fps=10)


# -- second look ------------------------------------------------------------------------------


def test_the_cli_says_the_series_warning_in_one_line(tmp_path, capsys):
    """It came as Python's warning (file:line and the source line under it)."""
    path = _stack(tmp_path, _greys(6), _ome(_image("pos1", 3), _image("pos2", 3)))
    out = tmp_path / "o.h5"
    assert simulate_main([str(path), "-o", str(out), "--fps", "10", "-q"]) == 0
    line = one_line(capsys.readouterr().err, "OME-TIFF of 2 series", "bfconvert -series")
    assert line.startswith("eventsim simulate: warning: TIFF stack ")
    # said again by a second run in the same process
    assert simulate_main([str(path), "-o", str(out), "--fps", "10", "-q", "--force"]) == 0
    one_line(capsys.readouterr().err, "OME-TIFF of 2 series")


def test_an_image_whose_first_page_is_its_thumbnail_reads_its_image(tmp_path):
    """A flagged thumbnail ahead of the image (as TIFF/EP and DNG lay them out): the decoders
    read a file's first page, and the thumbnail was returned as the image."""
    rgb = _moving(1, 64, 48)[0]
    path = tmp_path / "thumb-first.tif"
    path.write_bytes(_pages([(rgb[::4, ::4], {254: (4, [1])}), (rgb, {})]))
    assert sources.tiff_frame_count(path) == 1
    np.testing.assert_array_equal(read_image(path), rgb)
    np.testing.assert_array_equal(sources.decode_image(path.read_bytes(), "cell"), rgb)
    # the first directory's orientation turns the image where its page gives none
    path.write_bytes(_pages([(rgb[::4, ::4], {254: (4, [1]), 274: (3, [3])}), (rgb, {})]))
    np.testing.assert_array_equal(read_image(path), rgb[::-1, ::-1])
    path.write_bytes(_pages([(rgb[::4, ::4], {254: (4, [1]), 274: (3, [3])}), (rgb, {274: (3, [1])})]))  # fmt: skip
    np.testing.assert_array_equal(read_image(path), rgb)
    # a mask ahead of a grey image too
    grey = rgb[..., 1]
    path.write_bytes(_pages([(np.full_like(grey, 255), {254: (4, [4])}), (grey, {})]))
    np.testing.assert_array_equal(read_image(path), grey)
    # the image's pixels past the end of the file: refused, naming the page
    data = bytearray(_pages([(rgb[::4, ::4], {254: (4, [1])}), (rgb, {})]))
    first = struct.unpack_from("<I", data, 4)[0]
    second = struct.unpack_from("<I", data, first + 2 + 12 * struct.unpack_from("<H", data, first)[0])[0]  # fmt: skip
    for k in range(struct.unpack_from("<H", data, second)[0]):
        if struct.unpack_from("<H", data, second + 2 + 12 * k)[0] == 273:
            struct.pack_into("<I", data, second + 2 + 12 * k + 8, len(data))
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"thumb-first.tif': its first page is a reduced-resolution copy or mask \(NewSubfileType\) and its image, page 2, runs past the end"):  # fmt: skip
        read_image(path)


def test_ome_planes_placed_past_the_last_page_are_said_missing(tmp_path, capsys):
    """TiffData placing planes at directories the file lacks (a truncated OME-TIFF) gave fewer
    frames without a word."""
    frames = _greys(4)
    path = _stack(tmp_path, frames, _ome(_image("one", 6, '<TiffData IFD="0" PlaneCount="6"/>')))
    source = TiffStackSource(path, fps=10)
    assert source.n_frames == 4
    with pytest.warns(sources.VideoDecodeWarning, match=r"places 2 planes of its first series past its last page \(page 4\) \(truncated\?\); the events are of the 4 frames"):  # fmt: skip
        got = [f for f, _ in source]
    np.testing.assert_array_equal(np.stack(got), np.stack(frames))
    assert "truncated" in (source.decode_problem or "")
    # so too a series of more planes than pages where no TiffData place them
    path = _stack(tmp_path, frames, _ome(_image("one", 5)))
    with pytest.warns(sources.VideoDecodeWarning, match="places 1 plane of"):
        assert len(list(TiffStackSource(path, fps=10))) == 4
    out = tmp_path / "o.h5"
    assert simulate_main([str(path), "-o", str(out), "--fps", "10", "-q"]) == 0
    one_line(capsys.readouterr().err, "eventsim simulate: warning: ", "past its last page")
    # a whole file says nothing
    path = _stack(tmp_path, frames, _ome(_image("one", 4, '<TiffData IFD="0" PlaneCount="4"/>')))
    source = TiffStackSource(path, fps=10)
    list(source)
    assert source.decode_problem is None


def test_an_untagged_smaller_page_among_frames_is_refused_not_left_out(tmp_path):
    """Among several frames, a page of half their size is a frame of another size (binning
    changed mid-stack), not a thumbnail: left out, the frames after it were timed a frame
    early. A single image's untagged half-size copy stays its thumbnail."""
    frames = _greys(4, 40, 30)
    path = tmp_path / "s.tif"
    path.write_bytes(_pages([(frames[0], {}), (frames[1], {}), (frames[2][::2, ::2], {}), (frames[3], {})]))  # fmt: skip
    with pytest.raises(InputError, match=r"page 3 is 20x15 and its page 1, the first frame, 40x30"):
        TiffStackSource(path, fps=10)
    path.write_bytes(_pages([(frames[0], {}), (frames[2][::2, ::2], {})]))
    assert sources.tiff_frame_count(path) == 1
    np.testing.assert_array_equal(read_image(path), frames[0])


def _rgb_page(rgb: np.ndarray, description: bytes = b""):
    """An uncompressed RGB page of ``rgb`` in one strip, as `_multi` takes it."""
    h, w = rgb.shape[:2]
    tags = [
        (256, "H", [w]), (257, "H", [h]), (258, "H", [8, 8, 8]), (259, "H", [1]),
        (262, "H", [2]), (273, "I", [0]), (277, "H", [3]), (278, "H", [h]),
        (279, "I", [rgb.size]), *([(270, "s", [*description, 0])] if description else []),
    ]  # fmt: skip
    return [rgb.tobytes()], tags


def test_an_rgb_ome_tiff_whose_size_c_counts_samples_is_a_plane_a_page(tmp_path, capsys):
    """SizeC="3" and no Channel element: each RGB page is one plane of the three samples. It
    was taken for three planes a page, so the DeltaT of time point 1 was looked for on plane
    3, none were used, and every such file was said to be truncated."""
    frames = _moving(4)
    planes = _planes(["0", "0.01", "0.03", "0.04"]).replace('TheC="0" ', "")
    pixels = f'<Pixels DimensionOrder="XYCZT" Type="uint8" SizeX="40" SizeY="30" SizeC="3" SizeZ="1" SizeT="4"><TiffData/>{planes}</Pixels>'  # fmt: skip
    text = _ome(f'<Image ID="Image:0" Name="rgb">{pixels}</Image>')
    path = tmp_path / "rgb.ome.tif"
    path.write_bytes(_multi([_rgb_page(f, text if k == 0 else b"") for k, f in enumerate(frames)]))
    source = TiffStackSource(path)
    np.testing.assert_array_equal(source.timestamps_us, [0, 10_000, 30_000, 40_000])
    list(source)
    assert source.decode_problem is None
    out = tmp_path / "o.h5"
    assert simulate_main([str(path), "-o", str(out), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_plane_delta_t_of_a_unit_not_known_are_said_so(tmp_path):
    """DeltaT in days (OME's "d"): the refusal said the file had no Plane DeltaT at all, and
    the fallback to TimeIncrement that a frame had none."""
    frames = _greys(4)
    planes = _planes(["0", "1", "2", "3"], "d")
    text = _ome(_image("one", 4, planes))
    with pytest.raises(InputError, match=r"OME TimeIncrement; its OME Plane DeltaTUnit='d' is no time unit eventsim knows .*; pass fps$"):  # fmt: skip
        TiffStackSource(_stack(tmp_path, frames, text))
    source = TiffStackSource(_stack(tmp_path, frames, _ome(_image("one", 4, planes, TimeIncrement="0.5"))))  # fmt: skip
    np.testing.assert_array_equal(source.timestamps_us, np.arange(4) * 500_000)
    assert "DeltaTUnit='d'" in source.timing
