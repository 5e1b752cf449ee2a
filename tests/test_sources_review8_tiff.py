"""Review 8 of TIFF reading: layouts eventsim's own TIFF path did not read.

- Grey with 0 as white (PhotometricInterpretation 0, WhiteIsZero): OpenCV and Pillow invert
  8-bit samples but read 16-bit ones as stored, so a 16-bit scan came out as its negative; a
  16-bit one with alpha was read at 8 bits. Float samples have no white to invert from: refused
  naming the tag.
- Horizontal differencing (Predictor 2) in tiles of interleaved samples: it starts again at
  each tile's row, and the samples were only undone per image row (such files were left to
  OpenCV: 8 bits, or refused beyond 4 samples).
- Samples in planes whose last strip (or row of tiles) is short: the planes do not stack into
  one image, and were left to OpenCV the same way. They are read plane by plane, and so are
  16-bit and float RGB in planes, which OpenCV here reads scrambled (refused before).
- What is still not read is refused naming the tag and value, and no damaged directory
  escapes as anything but an InputError.
"""

from __future__ import annotations

import random
import struct
import sys
import zlib
from typing import Literal

import numpy as np
import pytest
from test_sources_review7_tiff import _divided, _premultiplied, _samples
from test_sources_second_look6 import _tiff

from eventsim.errors import InputError
from eventsim.simulator.sources import composite_on_white, decode_image, read_image

from cli_checks import one_line
from user_media import tiff_bytes, tiff_with_tags

UNASSOCIATED, ASSOCIATED, UNSPECIFIED = 2, 1, 0
WHITE_IS_ZERO: dict[int, tuple[int, list[int]] | None] = {262: (3, [0])}
LAYOUTS = [
    pytest.param(dict(big=big, order=order), id=f"{'big' if big else 'classic'}{order}")
    for big in (False, True)
    for order in "<>"
]


def _as_read(pixels: np.ndarray) -> np.ndarray:
    return pixels if pixels.dtype == np.uint8 else pixels / 257.0


def _inverted(pixels: np.ndarray) -> np.ndarray:
    return np.iinfo(pixels.dtype).max - pixels


def _tiled_tiff(
    pixels: np.ndarray,
    extra: list[int],
    *,
    tile: tuple[int, int] = (16, 16),
    predictor: int = 1,
    planar: int = 1,
    order: Literal["<", ">"] = "<",
) -> bytes:
    """A classic TIFF of ``pixels`` (HxWxN, unsigned; grey and N - 1 extra samples for N < 3,
    else RGB and N - 3) in deflate-compressed tiles of ``tile`` (width, length) pixels, padded
    with zeros past the image, differenced along each tile's rows (``predictor`` 2) before
    compressing."""
    h, w, n = pixels.shape
    tw, tl = tile
    down, across = -(-h // tl), -(-w // tw)
    padded = np.zeros((down * tl, across * tw, n), pixels.dtype)
    padded[:h, :w] = pixels
    planes = [padded] if planar == 1 else [padded[..., s : s + 1] for s in range(n)]
    tiles = []
    for plane in planes:
        for ty in range(down):
            for tx in range(across):
                block = plane[ty * tl : (ty + 1) * tl, tx * tw : (tx + 1) * tw]
                if predictor == 2:
                    block = np.concatenate([block[:, :1], np.diff(block, axis=1)], axis=1)
                block = np.ascontiguousarray(block.astype(pixels.dtype.newbyteorder(order)))
                tiles.append(zlib.compress(block.tobytes()))
    offsets = [8 + sum(len(t) for t in tiles[:i]) for i in range(len(tiles))]
    tags = [
        (256, "H", [w]),
        (257, "H", [h]),
        (258, "H", [pixels.dtype.itemsize * 8] * n),
        (259, "H", [8]),
        (262, "H", [1 if n < 3 else 2]),
        (277, "H", [n]),
        (284, "H", [planar]),
        (317, "H", [predictor]),
        (322, "H", [tw]),
        (323, "H", [tl]),
        (324, "I", offsets),
        (325, "I", [len(t) for t in tiles]),
        (338, "H", extra),
    ]
    return tiff_with_tags(tiles, tags, order)


def _big_samples(channels: int, dtype: str, h: int = 37, w: int = 21) -> np.ndarray:
    rng = np.random.default_rng(channels)
    return rng.integers(0, np.iinfo(dtype).max + 1, (h, w, channels)).astype(dtype)


# -- WhiteIsZero ---------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("depth", ["u1", "u2"])
def test_a_white_is_zero_grey_is_inverted_at_its_depth(layout, depth):
    grey = _samples(1, depth)[..., 0]
    data = _tiff([(grey, WHITE_IS_ZERO)], **layout)
    np.testing.assert_array_equal(decode_image(data, "scan.tif"), _as_read(_inverted(grey)))


def test_a_white_is_zero_file_is_read_inverted_and_upright(tmp_path):
    grey = _samples(1, "u2")[..., 0]
    path = tmp_path / "scan.tif"
    path.write_bytes(_tiff([(grey, {**WHITE_IS_ZERO, 274: (3, [6])})]))
    np.testing.assert_array_equal(read_image(path), np.rot90(_inverted(grey), -1) / 257.0)


@pytest.mark.parametrize("depth", ["u1", "u2"])
def test_a_white_is_zero_grey_pillow_decodes_is_inverted_too(depth):
    """LZMA, which OpenCV's libtiff lacks: Pillow reads it, inverting 8 bits and not 16."""
    pytest.importorskip("PIL")
    grey = _samples(1, depth)[..., 0]
    data = bytearray(tiff_bytes(grey, compression=34925))
    n = struct.unpack_from("<H", data, 8)[0]
    for i in range(n):
        if struct.unpack_from("<H", data, 10 + 12 * i)[0] == 262:
            struct.pack_into("<H", data, 10 + 12 * i + 8, 0)
    np.testing.assert_array_equal(decode_image(bytes(data), "scan.tif"), _as_read(_inverted(grey)))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("planar", [1, 2])
@pytest.mark.parametrize("depth", ["u1", "u2"])
def test_a_white_is_zero_grey_with_alpha_is_read_at_its_depth(layout, planar, depth):
    la = _samples(2, depth)
    data = _tiff([(la, {**WHITE_IS_ZERO, 338: (3, [UNASSOCIATED])})], planar=planar, **layout)
    on_white = composite_on_white(_inverted(la[..., 0]), la[..., 1])  # round 11
    np.testing.assert_array_equal(decode_image(data, "scan.tif"), _as_read(on_white))


def test_a_white_is_zero_grey_with_associated_alpha_is_inverted_then_divided(monkeypatch):
    """Premultiplied as a grey of 0 as black is, then stored inverted."""
    monkeypatch.setitem(sys.modules, "PIL", None)
    la = _samples(2, "u2")
    la[0, :, 1] = 0
    black_is_zero = _premultiplied(la[..., 0], la[..., 1])
    stored = np.dstack([_inverted(black_is_zero), la[..., 1]])
    data = _tiff([(stored, {**WHITE_IS_ZERO, 338: (3, [ASSOCIATED])})])
    np.testing.assert_array_equal(
        decode_image(data, "scan.tif"),
        composite_on_white(_divided(black_is_zero, la[..., 1]), la[..., 1]) / 257.0,
    )


@pytest.mark.parametrize("channels", [1, 2])
def test_a_white_is_zero_float_grey_is_refused_naming_the_tag(channels):
    pixels = _samples(channels, "u1").astype("f4") / 255
    extra = {338: (3, [UNASSOCIATED])} if channels == 2 else {}
    data = _tiff([(pixels[..., 0] if channels == 1 else pixels, {**WHITE_IS_ZERO, **extra})])
    with pytest.raises(InputError) as err:
        decode_image(data, "f.tif")
    one_line(str(err.value), "'f.tif'", "tag 262 = 0", "unsigned 1- to 16-bit", "tag 262 = 1")


# -- tiles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("planar", [1, 2])
@pytest.mark.parametrize("predictor", [1, 2])
@pytest.mark.parametrize("tile", [(16, 16), (32, 16)])
def test_tiled_samples_are_read_whatever_the_predictor_and_planes(order, planar, predictor, tile):
    """37 rows in tiles of 16: each plane's last row of tiles is short; 21 columns, the last
    tile column too (or one tile, 32 wide, across)."""
    for channels, extra in ((2, [UNASSOCIATED]), (5, [UNASSOCIATED, UNSPECIFIED])):
        for depth in ("u1", "u2"):
            px = _big_samples(channels, depth)
            data = _tiled_tiff(
                px, extra, tile=tile, predictor=predictor, planar=planar, order=order
            )
            colour = px[..., 0] if channels == 2 else px[..., :3]
            on_white = composite_on_white(colour, px[..., 1 if channels == 2 else 3])
            np.testing.assert_array_equal(decode_image(data, "t.tif"), _as_read(on_white))


# -- planes of short strips ----------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("rows", [2, 3, 4])
@pytest.mark.parametrize("depth", ["u1", "u2"])
def test_planes_whose_last_strip_is_short_are_read(layout, rows, depth):
    for channels, extra in ((2, [UNASSOCIATED]), (5, [UNASSOCIATED, UNSPECIFIED])):
        px = _samples(channels, depth)  # 5 rows
        data = _tiff([(px, {338: (3, extra)})], planar=2, rows_per_strip=rows, **layout)
        colour = px[..., 0] if channels == 2 else px[..., :3]
        on_white = composite_on_white(colour, px[..., 1 if channels == 2 else 3])
        np.testing.assert_array_equal(decode_image(data, "p.tif"), _as_read(on_white))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_rgb_in_planes_is_read(tmp_path, layout, channels):
    px = _samples(channels, "u2")
    extra = {338: (3, [UNASSOCIATED])} if channels == 4 else {}
    data = _tiff([(px, extra)], planar=2, rows_per_strip=2, **layout)
    path = tmp_path / "rgb.tif"
    path.write_bytes(data)
    on_white = composite_on_white(px[..., :3], px[..., 3]) if channels == 4 else px
    np.testing.assert_array_equal(read_image(path), on_white / 257.0)


# -- what is not read ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "named"),
    [
        ({317: (3, [3])}, "predictor (tag 317 = 3)"),
        ({339: (3, [2] * 5)}, "format 2 (tag 339)"),
    ],
)
def test_five_samples_not_read_name_the_tag(tags, named):
    data = _tiff([(_samples(5, "u1"), {338: (3, [UNASSOCIATED, UNSPECIFIED]), **tags})])
    with pytest.raises(InputError) as err:
        decode_image(data, "five.tif")
    one_line(str(err.value), "'five.tif'", "5 samples", named, "save it as RGB or RGBA")


def _specimens() -> list[bytes]:
    five, la = _samples(5, "u2"), _samples(2, "u2")
    return [
        _tiff([(five, {338: (3, [UNASSOCIATED, UNSPECIFIED])})], planar=2, rows_per_strip=2),
        _tiff([(la, {**WHITE_IS_ZERO, 338: (3, [ASSOCIATED])})], big=True),
        _tiled_tiff(_big_samples(5, "u2"), [UNASSOCIATED, UNSPECIFIED], predictor=2, planar=2),
        _tiled_tiff(_big_samples(2, "u1"), [ASSOCIATED], predictor=2),
        _tiff([(_samples(1, "u2")[..., 0], WHITE_IS_ZERO)], order=">"),
    ]


# Pillow warns of the tags it skips while it tries the damaged files OpenCV gave up on
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_damaged_directories_are_input_errors_or_read():
    """Bytes of the header and directory set at random: an image or an InputError, never an
    IndexError or struct.error."""
    rng = random.Random(8)
    tried = 0
    for data in _specimens():
        # the directory is at the end of a hand-written file: its last 200 bytes
        for _ in range(60):
            bad = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                at = rng.choice([rng.randrange(8), len(bad) - rng.randint(1, min(200, len(bad)))])
                bad[at] = rng.randrange(256)
            try:
                decode_image(bytes(bad), "bad.tif")
            except InputError:
                pass
            tried += 1
    assert tried == 300
