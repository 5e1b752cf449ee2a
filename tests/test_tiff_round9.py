"""TIFF inputs, round 9: the predictor libtiff ignores beside no compression, grey of 2 or 4
bits without Pillow (and in big-endian BigTIFF, which Pillow cannot open), and files of several
images (refused as one image; kept whole by the untiled rewrite)."""

from __future__ import annotations

import importlib.util
import io
import sys
import warnings
import zlib

import cv2
import numpy as np
import pytest
from test_sources_decode8 import _packed, _samples, _tiff
from test_sources_second_look6 import _tiff as _pages

from eventsim.cli.simulate import main as simulate_main
from eventsim.errors import InputError
from eventsim.simulator import sources
from eventsim.simulator.sources import (
    apply_exif_orientation,
    composite_on_white,
    decode_image,
    read_image,
)

from cli_checks import one_line
from user_media import tiff_with_tags

UNASSOCIATED = 2


def _packbits(raw: bytes) -> bytes:
    """``raw`` PackBits-compressed as literal runs (of up to 128 bytes) only."""
    return b"".join(bytes([len(raw[i : i + 128]) - 1]) + raw[i : i + 128] for i in range(0, len(raw), 128))  # fmt: skip


# -- the predictor beside no compression ---------------------------------------------------------


@pytest.mark.parametrize("compression", [1, 32773])
@pytest.mark.parametrize("depth", ["u1", "u2"])
@pytest.mark.parametrize("spp", [2, 5])
def test_a_predictor_libtiff_ignores_is_not_undone(compression, depth, spp):
    """libtiff (and Pillow) apply the predictor (tag 317) to LZW and deflate strips only; an
    uncompressed or PackBits grey with alpha (or RGB with two extra samples) marked predictor 2
    is read as stored. Its differencing was undone, so every row came out as running sums."""
    rng = np.random.default_rng(spp)
    px = rng.integers(0, np.iinfo(depth).max + 1, (4, 6, spp)).astype(depth)
    raw = px.astype(px.dtype.newbyteorder("<")).tobytes()
    block = _packbits(raw) if compression == 32773 else raw
    tags = [
        (256, "H", [6]),
        (257, "H", [4]),
        (258, "H", [px.itemsize * 8] * spp),
        (259, "H", [compression]),
        (262, "H", [1 if spp == 2 else 2]),
        (273, "I", [8]),
        (277, "H", [spp]),
        (278, "H", [4]),
        (279, "I", [len(block)]),
        (317, "H", [2]),
        (338, "H", [UNASSOCIATED] + [0] * (spp - (2 if spp == 2 else 4))),
    ]
    data = tiff_with_tags([block], tags)
    colour = px[..., 0] if spp == 2 else px[..., :3]
    on_white = composite_on_white(colour, px[..., 1 if spp == 2 else 3])  # since round 11
    want = on_white if depth == "u1" else on_white / 257.0
    np.testing.assert_array_equal(decode_image(data, "p.tif"), want)
    if spp == 2 and depth == "u1":
        # libtiff's own reading of the grey (OpenCV's, which drops the alpha)
        lib = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(lib, colour)


# -- grey of 2 or 4 bits, and big-endian BigTIFF -------------------------------------------------


def _low_bit_layouts() -> list:
    return [
        pytest.param(dict(), id="strip"),
        pytest.param(dict(order=">"), id="strip-MM"),
        pytest.param(dict(big=True), id="bigtiff-II"),
        pytest.param(dict(big=True, order=">"), id="bigtiff-MM"),
        pytest.param(dict(tile=(16, 16)), id="tiles"),
        pytest.param(dict(tile=(32, 16), order=">"), id="tiles-MM"),
    ]


def _reversed_bits(raw: bytes) -> bytes:
    return bytes(int(f"{b:08b}"[::-1], 2) for b in raw)


def _deflate_strips(px: np.ndarray, bits: int, rows: int, fill_order: int, orientation: int) -> bytes:  # fmt: skip
    """A classic TIFF of grey ``px`` packed ``bits`` to a sample, in deflate strips of
    ``rows`` rows (the last one short), the bits of each stored byte reversed for FillOrder 2
    (libtiff reverses the compressed bytes)."""
    h, w = px.shape
    strips = []
    for y in range(0, h, rows):
        packed = zlib.compress(_packed(px[y : y + rows], bits, "<"))
        strips.append(_reversed_bits(packed) if fill_order == 2 else packed)
    offsets = [8 + sum(len(s) for s in strips[:i]) for i in range(len(strips))]
    tags = [
        (256, "H", [w]),
        (257, "H", [h]),
        (258, "H", [bits]),
        (259, "H", [8]),
        (262, "H", [1]),
        (266, "H", [fill_order]),
        (273, "I", offsets),
        (274, "H", [orientation]),
        (277, "H", [1]),
        (278, "H", [rows]),
        (279, "I", [len(s) for s in strips]),
    ]
    return tiff_with_tags(strips, tags)


@pytest.mark.parametrize("layout", _low_bit_layouts())
@pytest.mark.parametrize("bits", [2, 4])
@pytest.mark.parametrize("photometric", [0, 1])
def test_low_bit_grey_is_read_without_pillow_in_every_layout(
    monkeypatch, layout, bits, photometric
):
    """OpenCV 5 refuses grey of 2 or 4 bits ("should be palette"): it went to Pillow, so it was
    refused where Pillow is not installed (an optional dependency) and in a big-endian BigTIFF,
    which Pillow cannot open. Read now as libtiff and Pillow scale it: 21 columns, so a row
    ends inside a byte."""
    stored = _samples((37, 21), bits=bits)
    data = _tiff(stored, bits=bits, extra={262: (3, [photometric])}, **layout)
    expected = stored * np.uint8(255 // ((1 << bits) - 1))
    expected = 255 - expected if photometric == 0 else expected
    if importlib.util.find_spec("PIL") and data[:4] != b"MM\x00+":
        # what Pillow reads (it cannot open a big-endian BigTIFF), and so what was read before
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            np.testing.assert_array_equal(np.asarray(im), expected)
    monkeypatch.setitem(sys.modules, "PIL", None)
    got = decode_image(data, "low.tif")
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("bits", [2, 4])
@pytest.mark.parametrize("fill_order", [1, 2])
@pytest.mark.parametrize("orientation", [1, 6])
def test_low_bit_grey_in_deflate_strips_either_fill_order(
    monkeypatch, bits, fill_order, orientation
):
    monkeypatch.setitem(sys.modules, "PIL", None)
    stored = _samples((11, 13), bits=bits, seed=bits)
    data = _deflate_strips(stored, bits, 4, fill_order, orientation)
    expected = apply_exif_orientation(stored * np.uint8(255 // ((1 << bits) - 1)), orientation)
    np.testing.assert_array_equal(decode_image(data, "low.tif"), expected)


def test_low_bit_grey_of_a_codec_opencv_lacks_still_says_install_pillow(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    data = _tiff(_samples((4, 6), bits=4), bits=4, extra={259: (3, [34925])})
    with pytest.raises(InputError) as err:
        decode_image(data, "lzma.tif")
    one_line(str(err.value), "'lzma.tif'", "LZMA", "install Pillow")


@pytest.mark.parametrize("pillow", [True, False])
def test_a_big_endian_bigtiff_only_pillow_could_read_is_refused_without_install_advice(
    monkeypatch, pillow
):
    """Pillow takes a big-endian BigTIFF for a classic one and cannot open it: without Pillow the
    refusal said "install Pillow to read it", which would not have helped, and with it the
    message held Pillow's "cannot identify image file <_io.BytesIO object at 0x...>"."""
    if pillow:
        pytest.importorskip("PIL")
    else:
        monkeypatch.setitem(sys.modules, "PIL", None)
    rgb = _samples((4, 6, 3))
    data = _tiff(rgb, big=True, order=">", extra={259: (3, [34925])})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's "Corrupt EXIF data" while it tries
        with pytest.raises(InputError) as err:
            decode_image(data, "big.tif")
    line = one_line(str(err.value), "'big.tif'", "big-endian BigTIFF", "LZMA", "save it little-endian or as classic TIFF")  # fmt: skip
    assert "install Pillow" not in line and "0x" not in line


# -- several pages -------------------------------------------------------------------------------


def _frames(n: int, shape: tuple[int, ...] = (16, 16)) -> list[np.ndarray]:
    rng = np.random.default_rng(n)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


def _tiled_first_page(pixels: np.ndarray) -> dict:
    """Tags that turn the one 16x16 strip `_pages` writes first (at byte 8) into one tile."""
    return {273: None, 278: None, 279: None, 322: (3, [16]), 323: (3, [16]), 324: (4, [8]), 325: (4, [256])}  # fmt: skip


def test_the_untiled_rewrite_keeps_the_later_pages():
    """`_untiled` moves a first page's small uncompressed tiles into strips of a directory of
    its own, which ended the file: the pages after it were gone from the bytes every reader
    (OpenCV, Pillow for epvlm's alpha) is given. They follow it now, and the first page reads
    as OpenCV reads the file by name."""
    frames = _frames(3)
    data = _pages([(frames[0], _tiled_first_page(frames[0])), (frames[1], {}), (frames[2], {})])
    buf = sources._untiled(data)
    assert buf is not data
    assert sources._tiff_layout(buf, "buf").frames == sources._tiff_layout(data, "data").frames == 3
    if importlib.util.find_spec("PIL"):
        from PIL import Image, ImageSequence

        with Image.open(io.BytesIO(bytes(buf))) as im:
            got = [np.asarray(page) for page in ImageSequence.Iterator(im)]
        np.testing.assert_array_equal(np.stack(got), np.stack(frames))
    np.testing.assert_array_equal(decode_image(data, "stack.tif"), frames[0])


@pytest.mark.parametrize(
    "layout",
    [dict(), dict(big=True, order=">")],
    ids=["classic", "bigtiff-MM"],
)
def test_a_tiff_stack_is_refused_as_an_image_saying_how_to_split_it(tmp_path, layout):
    """A TIFF of several frames (ImageJ's stack, a microscope's or a high-speed camera's) was
    simulated as a still image of its first page, without a word."""
    frames = _frames(3, (6, 8, 3))
    path = tmp_path / "stack.tif"
    path.write_bytes(_pages([(f, {}) for f in frames], **layout))
    with pytest.raises(InputError) as err:
        read_image(path)
    one_line(str(err.value), f"{str(path)!r}", "3 images", "first only", "tiffsplit", "folder")
    # the bytes (a parquet cell's, epvlm's image) are read as before: the first page
    np.testing.assert_array_equal(decode_image(path.read_bytes(), "cell"), frames[0])


def test_pages_that_are_no_frames_do_not_make_a_stack(tmp_path):
    """A reduced-resolution copy (NewSubfileType 1, a thumbnail or overview), a mask (4) or a
    page of another size is no frame: such a file is one image."""
    first, second = _frames(2, (6, 8))
    thumb = second[:3, :4]
    path = tmp_path / "one.tif"
    path.write_bytes(
        _pages([(first, {}), (second, {254: (4, [1])}), (second, {254: (4, [4])}), (thumb, {})])
    )
    np.testing.assert_array_equal(read_image(path), first)
    path.write_bytes(_pages([(first, {}), (second, {254: (4, [2])})]))  # a page of a document
    with pytest.raises(InputError, match="2 images"):
        read_image(path)


def test_an_imagej_stack_of_one_directory_is_refused(tmp_path):
    """ImageJ writes a stack past 4 GiB as one directory, its frames one after another, and
    says how many in its description."""
    first = _frames(1, (6, 8))[0]
    path = tmp_path / "imagej.tif"
    for text, images in ((b"ImageJ=1.54f\nimages=40\nslices=40\nloop=false\n\0", 40), (b"ImageJ=1.54f\nimages=1\n\0", 1)):  # fmt: skip
        tags = [
            (256, "H", [8]),
            (257, "H", [6]),
            (258, "H", [8]),
            (259, "H", [1]),
            (262, "H", [1]),
            (270, "s", list(text)),
            (273, "I", [8]),
            (277, "H", [1]),
            (278, "H", [6]),
            (279, "I", [48]),
        ]
        path.write_bytes(tiff_with_tags([first.tobytes()], tags))
        if images > 1:
            with pytest.raises(InputError, match="40 images"):
                read_image(path)
        else:
            np.testing.assert_array_equal(read_image(path), first)


def test_simulate_refuses_a_tiff_stack_in_a_frame_folder(tmp_path, capsys):
    """(A stack given as INPUT is simulated as frames: tests/test_tiff_stack_round9.py.)"""
    frames = _frames(2, (30, 40, 3))
    stack = _pages([(f, {}) for f in frames])
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), frames[0])
    (folder / "1.tif").write_bytes(stack)
    assert simulate_main([str(folder), "--fps", "100", "-o", str(tmp_path / "out.h5"), "-q"]) == 1
    one_line(capsys.readouterr().err, "2 images", "tiffsplit")
    assert not (tmp_path / "out.h5").exists()
