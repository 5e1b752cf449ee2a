"""Uncompressed TIFF tiles of 8 bits a sample or fewer: OpenCV 5 decodes them through libtiff's
RGBA interface, which (reading from memory, as `decode_image` has OpenCV do) fills a tile's
bytes into a buffer rounded up to 1 KiB and then refuses that tile ("Invalid tile byte count
for tile 0. Expected 512, got 1024"); cv2.imread of the same file maps it and reads it. Such
files (16x16 or 16x32 tiles of grey, RGB, grey with alpha, 1-bit, ...) were refused as not an
image. They are read as the same samples in strips are."""

from __future__ import annotations

import io
import struct
from typing import Literal

import cv2
import numpy as np
import pytest

from eventsim.errors import InputError
from eventsim.simulator.sources import apply_exif_orientation, decode_image, read_image

UNASSOCIATED, ASSOCIATED = 2, 1


def _packed(block: np.ndarray, bits: int, order: Literal["<", ">"]) -> bytes:
    """``block`` (rows of samples) as a TIFF stores them: ``bits`` to a sample, most
    significant bit first, each row starting on a byte."""
    if bits >= 8:
        return block.astype(np.dtype(f"u{bits // 8}").newbyteorder(order)).tobytes()
    shifts = np.arange(bits - 1, -1, -1)
    as_bits = (block[..., None].astype(np.uint16) >> shifts) & 1
    return np.packbits(as_bits.reshape(block.shape[0], -1).astype(np.uint8), axis=1).tobytes()


def _tiff(
    pixels: np.ndarray,
    *,
    bits: int = 8,
    tile: tuple[int, int] | None = None,
    planar: int = 1,
    order: Literal["<", ">"] = "<",
    big: bool = False,
    extra: dict[int, tuple[int, list[int]]] | None = None,
) -> bytes:
    """An uncompressed TIFF of ``pixels`` (HxW or HxWxN samples of ``bits``): in tiles of
    ``tile`` (width, length) padded with zeros past the image, or in one strip per plane;
    samples interleaved or in planes (``planar`` 2); classic or BigTIFF, either byte order;
    ``extra`` tags {tag: (type, values)} added or replaced."""
    h, w = pixels.shape[:2]
    spp = 1 if pixels.ndim == 2 else pixels.shape[2]
    per_pixel = 1 if planar == 2 else spp
    planes = (
        [pixels.reshape(h, w, spp)[..., s] for s in range(spp)]
        if planar == 2
        else [pixels.reshape(h, w * spp)]
    )
    blocks = []
    for plane in planes:
        if tile is None:
            blocks.append(_packed(plane, bits, order))
            continue
        tw, tl = tile
        for y in range(0, h, tl):
            for x in range(0, w, tw):
                block = np.zeros((tl, tw * per_pixel), pixels.dtype)
                part = plane[y : y + tl, x * per_pixel : (x + tw) * per_pixel]
                block[: part.shape[0], : part.shape[1]] = part
                blocks.append(_packed(block, bits, order))
    head = 16 if big else 8
    offsets = [head + sum(len(b) for b in blocks[:i]) for i in range(len(blocks))]
    offset_type = 16 if big else 4
    tags: dict[int, tuple[int, list[int]]] = {
        256: (3, [w]),
        257: (3, [h]),
        258: (3, [bits] * spp),
        259: (3, [1]),
        262: (3, [2 if spp >= 3 else 1]),
        277: (3, [spp]),
        284: (3, [planar]),
    }
    if tile is None:
        tags.update({273: (offset_type, offsets), 278: (3, [h]), 279: (4, [len(b) for b in blocks])})  # fmt: skip
    else:
        tags.update(
            {
                322: (3, [tile[0]]),
                323: (3, [tile[1]]),
                324: (offset_type, offsets),
                325: (4, [len(b) for b in blocks]),
            }
        )
    tags.update(extra or {})
    body = b"".join(blocks)
    body += b"\0" * (len(body) % 2)
    ifd_at = head + len(body)
    word, field = ("Q", 8) if big else ("I", 4)
    entries = sorted(tags.items())
    size = (8 if big else 2) + (20 if big else 12) * len(entries) + field
    codes = {3: "H", 4: "I", 16: "Q"}
    ifd, tail = struct.pack(order + ("Q" if big else "H"), len(entries)), b""
    for tag, (kind, values) in entries:
        packed = struct.pack(order + codes[kind] * len(values), *values)
        if len(packed) > field:
            value = struct.pack(order + word, ifd_at + size + len(tail))
            tail += packed + b"\0" * (len(packed) % 2)
        else:
            value = packed.ljust(field, b"\0")
        ifd += struct.pack(order + "HH" + word, tag, kind, len(values)) + value
    mark = b"II" if order == "<" else b"MM"
    if big:
        start = mark + struct.pack(order + "HHHQ", 43, 8, 0, ifd_at)
    else:
        start = mark + struct.pack(order + "HI", 42, ifd_at)
    return start + body + ifd + bytes(field) + tail


def _samples(shape: tuple[int, ...], bits: int = 8, seed: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 1 << bits, shape, dtype=np.uint16 if bits > 8 else np.uint8)


def _quiet(capfd: pytest.CaptureFixture[str]) -> None:
    err = capfd.readouterr().err
    assert "TIFF" not in err and "imdecode" not in err, err


@pytest.mark.parametrize("tile", [(16, 16), (16, 32), (32, 16), (48, 16)])
@pytest.mark.parametrize("photometric", [0, 1])
def test_8_bit_grey_in_small_tiles_is_read(tile, photometric, capfd):
    """16x16, 16x32 or 32x16 tiles of grey (256, 512 bytes) or 48x16 (768) were refused: 37
    rows by 21 columns, the last row and column of tiles short."""
    stored = _samples((37, 21))
    data = _tiff(stored, tile=tile, extra={262: (3, [photometric])})
    got = decode_image(data, "tiles.tif")
    expected = 255 - stored if photometric == 0 else stored  # inverted once, WhiteIsZero
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.uint8
    _quiet(capfd)


def test_the_reviewers_16_by_32_tile_matches_imread_and_pillow(tmp_path, capfd):
    """One 16x32 tile (512 bytes): what cv2.imread of the file (mapped, so libtiff reads the
    tile in place) and Pillow read, by `read_image` of the file and `decode_image` alike."""
    stored = _samples((32, 16))
    path = tmp_path / "one tile.tif"
    path.write_bytes(_tiff(stored, tile=(16, 32)))
    by_imread = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    from PIL import Image

    with Image.open(path) as im:
        by_pillow = np.asarray(im)
    np.testing.assert_array_equal(by_imread, stored)
    np.testing.assert_array_equal(by_pillow, stored)
    np.testing.assert_array_equal(read_image(path), stored)
    np.testing.assert_array_equal(decode_image(path.read_bytes(), "one.tif"), stored)
    _quiet(capfd)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("planar", [1, 2])
@pytest.mark.parametrize("channels", [3, 4])
def test_8_bit_colour_in_small_tiles_reads_as_in_strips(order, big, planar, channels, capfd):
    """RGB (16x16 tiles of 768 bytes) was refused; RGB with alpha reads as before; interleaved
    or in planes (each plane's tiles 256 bytes), either byte order, classic or BigTIFF."""
    stored = _samples((37, 21, channels))
    extra = {338: (3, [UNASSOCIATED])} if channels == 4 else {}
    kw = dict(planar=planar, order=order, big=big, extra=extra)
    got = decode_image(_tiff(stored, tile=(16, 16), **kw), "tiles.tif")
    np.testing.assert_array_equal(got, decode_image(_tiff(stored, **kw), "strips.tif"))
    if channels == 3:
        np.testing.assert_array_equal(got, stored)
    _quiet(capfd)


@pytest.mark.parametrize("alpha", [UNASSOCIATED, ASSOCIATED])
@pytest.mark.parametrize("planar", [1, 2])
@pytest.mark.parametrize("photometric", [0, 1])
def test_8_bit_grey_with_alpha_in_small_tiles_reads_as_in_strips(alpha, planar, photometric, capfd):
    """Grey with alpha (read through eventsim's own sample reader, whose copies OpenCV
    decodes) in 16x16 tiles: 512 bytes interleaved, 256 a plane; was refused."""
    stored = _samples((37, 21, 2))
    stored[..., 1] = np.maximum(stored[..., 1], 1)
    kw = dict(planar=planar, extra={262: (3, [photometric]), 338: (3, [alpha])})
    got = decode_image(_tiff(stored, tile=(16, 16), **kw), "tiles.tif")
    np.testing.assert_array_equal(got, decode_image(_tiff(stored, **kw), "strips.tif"))
    if alpha == UNASSOCIATED:
        from eventsim.simulator.sources import composite_on_white

        grey = stored[..., 0]
        grey = 255 - grey if photometric == 0 else grey
        np.testing.assert_array_equal(got, composite_on_white(grey, stored[..., 1]))
    _quiet(capfd)


@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("photometric", [0, 1])
def test_low_bit_grey_in_tiles_reads_as_in_strips(bits, photometric, capfd):
    """1-bit tiles (32 bytes for 16x16) were refused; 2- and 4-bit ones, which OpenCV refuses
    in any layout, go to Pillow as strips do. 21 columns: a strip's row ends inside a byte."""
    stored = _samples((37, 21), bits=bits)
    extra = {262: (3, [photometric])}
    got = decode_image(_tiff(stored, bits=bits, tile=(16, 16), extra=extra), "tiles.tif")
    np.testing.assert_array_equal(
        got, decode_image(_tiff(stored, bits=bits, extra=extra), "strips.tif")
    )
    expected = stored * np.uint8(255 // ((1 << bits) - 1))
    np.testing.assert_array_equal(got, 255 - expected if photometric == 0 else expected)
    _quiet(capfd)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_small_tiles_are_turned_upright_once(orientation, tmp_path):
    """The orientation entry applies to the tiles' pixels as to a strip's: 37x21 tagged with a
    turn (6, 8: quarter turns, which OpenCV 5 cannot decode unless square) comes out turned."""
    stored = _samples((37, 21, 3))
    extra = {274: (3, [orientation])}
    path = tmp_path / "turned.tif"
    path.write_bytes(_tiff(stored, tile=(16, 16), extra=extra))
    np.testing.assert_array_equal(read_image(path), apply_exif_orientation(stored, orientation))


@pytest.mark.parametrize(
    "kw",
    [
        dict(bits=8, tile=(32, 32)),  # 1024 bytes a tile: read before, as it was
        dict(bits=8, tile=(64, 16), channels=3),
        dict(bits=16, tile=(16, 16)),  # read without the RGBA interface
        dict(bits=16, tile=(16, 16), channels=3, planar=2),
    ],
)
def test_tiles_read_before_read_the_same(kw, capfd):
    channels = kw.pop("channels", 1)
    stored = _samples((37, 21) if channels == 1 else (37, 21, channels), bits=kw["bits"])
    got = decode_image(_tiff(stored, **kw), "tiles.tif")
    kw.pop("tile")
    np.testing.assert_array_equal(got, decode_image(_tiff(stored, **kw), "strips.tif"))
    _quiet(capfd)


def test_a_tile_past_the_end_of_the_file_is_still_refused():
    """A tile whose bytes run past the end of the file is not read as zeros."""
    stored = _samples((16, 16))
    size = len(_tiff(stored, tile=(16, 16)))
    data = _tiff(stored, tile=(16, 16), extra={324: (4, [size - 100])})
    with pytest.raises(InputError) as err:
        decode_image(data, "cut.tif")
    assert "'cut.tif'" in str(err.value)


def test_pillow_reads_the_test_files_as_written():
    """The file writer of these tests against Pillow, which reads tiles on its own."""
    from PIL import Image

    stored = _samples((37, 21, 3))
    for order in "<>":
        with Image.open(io.BytesIO(_tiff(stored, tile=(16, 16), order=order))) as im:
            np.testing.assert_array_equal(np.asarray(im), stored)


def test_epvlm_reads_grey_with_alpha_in_small_tiles_as_in_strips(tmp_path):
    """epvlm's reader decodes through eventsim's `decode_image`, which untiles the page first,
    so a grey with alpha in 16x16 tiles is composited on white as in strips, not refused."""
    from epvlm.cli import _read_image

    stored = _samples((37, 21, 2))
    extra = {338: (3, [UNASSOCIATED])}
    tiles, strips = tmp_path / "tiles.tif", tmp_path / "strips.tif"
    tiles.write_bytes(_tiff(stored, tile=(16, 16), extra=extra))
    strips.write_bytes(_tiff(stored, extra=extra))
    np.testing.assert_array_equal(_read_image(str(tiles)), _read_image(str(strips)))
