"""TIFF, a second look at round 11: the parsed OME-XML kept for a stack's open is dropped once
the file is opened (kept, up to 64 MiB of XML and some 3 times that of its series stayed for
the life of the process); an image in a SubIFD behind its thumbnail is decoded as any page is
(PackBits, tiles: it was refused unless uncompressed or deflate strips)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from test_tiff_round10 import _greys, _ome, _stack
from test_tiff_round11 import _grey_tags, _pixels, _sub_ifd_file
from test_tiff_stack_round9 import _grey_page, _multi

from eventsim.errors import InputError
from eventsim.simulator import sources
from eventsim.simulator.sources import TiffStackSource, read_image

from user_media import tiff_with_tags

# -- the parsed OME-XML is not kept past the open ------------------------------------------------


def _kept() -> int:
    return sources._parsed_ome_series.cache_info().currsize


def test_a_stack_s_parsed_ome_xml_is_kept_from_its_look_to_its_open_only(tmp_path):
    path = _stack(tmp_path, _greys(4), _ome(_pixels(4, TimeIncrement="0.01")))
    assert sources.tiff_frame_count(path) == 4
    assert _kept() == 1  # for the open that follows the look
    source = TiffStackSource(path)
    assert source.n_frames == 4 and _kept() == 0


def test_read_image_keeps_no_parsed_ome_xml(tmp_path):
    """An OME-TIFF whose first series is one image and the second a stack: read_image parses its
    XML to find the image."""
    first, *others = _greys(3)
    text = _ome(_pixels(1), _pixels(2))
    path = tmp_path / "two.ome.tif"
    path.write_bytes(_multi([_grey_page(first, text), *(_grey_page(f) for f in others)]))
    np.testing.assert_array_equal(read_image(path), first)
    assert _kept() == 0
    np.testing.assert_array_equal(sources.decode_image(path.read_bytes(), "cell"), first)
    assert _kept() == 0


# -- an image in a SubIFD is decoded as any page ---------------------------------------------------


def _packbits(image: np.ndarray) -> bytes:
    """PackBits of ``image`` (each row a literal run of its own, as TIFF packs rows apart)."""
    assert image.shape[1] <= 128
    return b"".join(bytes([image.shape[1] - 1]) + row.tobytes() for row in image)


def _tiled_sub_ifd_file(thumb: np.ndarray, image: np.ndarray, tile: int = 16) -> bytes:
    """A TIFF of one page, the grey ``thumb`` flagged NewSubfileType 1, whose SubIFD holds the
    grey ``image`` in uncompressed ``tile`` x ``tile`` tiles."""
    h, w = image.shape
    padded = np.zeros((-(-h // tile) * tile, -(-w // tile) * tile), np.uint8)
    padded[:h, :w] = image
    tiles = [
        padded[y : y + tile, x : x + tile].tobytes()
        for y in range(0, padded.shape[0], tile)
        for x in range(0, padded.shape[1], tile)
    ]
    blocks = [thumb.tobytes() + b"\0" * (thumb.size % 2), *tiles]
    offsets = [8 + sum(len(b) for b in blocks[:k]) for k in range(1, len(blocks))]
    sub_at = 8 + sum(len(b) for b in blocks)
    entries = [
        (254, 4, [0]), (256, 3, [w]), (257, 3, [h]), (258, 3, [8]), (259, 3, [1]), (262, 3, [1]),
        (277, 3, [1]), (322, 3, [tile]), (323, 3, [tile]), (324, 4, offsets),
        (325, 4, [len(t) for t in tiles]),
    ]  # fmt: skip
    tail_at = sub_at + 2 + 12 * len(entries) + 4
    ifd, tail = struct.pack("<H", len(entries)), b""
    for tag, kind, values in entries:
        packed = struct.pack("<" + ("I" if kind == 4 else "H") * len(values), *values)
        if len(packed) > 4:
            packed, tail = struct.pack("<I", tail_at + len(tail)), tail + packed
        ifd += struct.pack("<HHI", tag, kind, len(values)) + packed.ljust(4, b"\0")
    blocks.append(ifd + bytes(4) + tail)
    th, tw = thumb.shape
    tags = [
        (254, "I", [1]), (256, "H", [tw]), (257, "H", [th]), (258, "H", [8]), (259, "H", [1]),
        (262, "H", [1]), (273, "I", [8]), (277, "H", [1]), (278, "H", [th]),
        (279, "I", [thumb.size]), (330, "I", [sub_at]),
    ]  # fmt: skip
    return tiff_with_tags(blocks, tags)


def test_an_image_in_a_sub_ifd_is_decoded_whatever_its_compression_or_tiles(tmp_path):
    """Decoded from the file's chain, the page was read; from a SubIFD it was refused unless
    uncompressed or deflate strips."""
    image = _greys(1, 64, 48)[0]
    thumb = image[::4, ::4].copy()
    path = tmp_path / "packbits.tif"
    path.write_bytes(_sub_ifd_file(thumb, [(_packbits(image), _grey_tags(image, t259=32773))]))
    np.testing.assert_array_equal(read_image(path), image)
    path = tmp_path / "tiles.tif"
    path.write_bytes(_tiled_sub_ifd_file(thumb, image))
    np.testing.assert_array_equal(read_image(path), image)


def test_an_image_in_a_sub_ifd_no_decoder_reads_is_refused_not_its_thumbnail(tmp_path):
    image = _greys(1, 64, 48)[0]
    path = tmp_path / "bad.tif"
    # JPEG compression over bytes that are no JPEG
    path.write_bytes(_sub_ifd_file(image[::4, ::4].copy(), [(image.tobytes(), _grey_tags(image, t259=7))]))  # fmt: skip
    with pytest.raises(InputError, match=r"bad\.tif' cannot be read"):
        read_image(path)
