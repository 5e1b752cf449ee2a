"""Second look at review 8 of TIFF reading: the refusal of a TIFF of 5+ samples a pixel names
the first value of its layout that eventsim does not read; a file without the photometric
interpretation (tag 262, no default) was said to hold ``tag 262 = -1``, a value it does not.
Grey of 2 or 4 bits a sample, which OpenCV 5 refuses, is read by Pillow."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest
from test_sources_second_look6 import _tiff

from eventsim.errors import InputError
from eventsim.simulator.sources import decode_image

from cli_checks import one_line


def test_five_samples_without_a_photometric_interpretation_say_so():
    data = _tiff([(np.zeros((4, 6, 5), np.uint8), {262: None})])
    with pytest.raises(InputError) as err:
        decode_image(data, "five.tif")
    line = one_line(str(err.value), "'five.tif'", "5 samples", "without a photometric", "tag 262")
    assert "-1" not in line


def test_five_samples_of_an_unread_photometric_name_its_value():
    data = _tiff([(np.zeros((4, 6, 5), np.uint8), {262: (3, [5])})])
    with pytest.raises(InputError) as err:
        decode_image(data, "cmyk.tif")
    one_line(str(err.value), "'cmyk.tif'", "photometric interpretation (tag 262 = 5)")


def _low_bit_grey(values: list[list[int]], bits: int, photometric: int) -> bytes:
    """A classic little-endian TIFF of one strip of grey ``values`` packed ``bits`` to a
    sample, each row starting on a byte."""
    rows = []
    for row in values:
        word = "".join(format(v, f"0{bits}b") for v in row)
        word += "0" * (-len(word) % 8)
        rows.append(int(word, 2).to_bytes(len(word) // 8, "big"))
    raw = b"".join(rows)
    h, w = len(values), len(values[0])
    entries = [(256, w), (257, h), (258, bits), (259, 1), (262, photometric), (273, 0), (277, 1), (278, h), (279, len(raw))]  # fmt: skip
    at = 8 + 2 + 12 * len(entries) + 4
    ifd = b"".join(
        struct.pack("<HHII", tag, 4, 1, at if tag == 273 else v)
        if tag in (273, 279)
        else struct.pack("<HHIHH", tag, 3, 1, v, 0)
        for tag, v in entries
    )
    return b"II*\x00" + struct.pack("<IH", 8, len(entries)) + ifd + bytes(4) + raw


@pytest.mark.parametrize("bits", [2, 4])
@pytest.mark.parametrize("photometric", [0, 1])
def test_grey_of_2_or_4_bits_is_read(bits, photometric, capfd):
    """OpenCV 5 takes grey of 2 or 4 bits for a palette image and refuses it ("bitsperpixel
    value is 4 should be palette"): such a TIFF was refused as not an image, WhiteIsZero or not,
    though the float WhiteIsZero refusal says 1- to 16-bit grey is read. Pillow reads it, each
    value scaled to 0..255 as OpenCV scales 1-bit ones, 0 white where tag 262 is 0."""
    top = (1 << bits) - 1
    stored = [[0, 1, top - 1, top, 2], [top, 0, 1, 2, 3]]
    got = decode_image(_low_bit_grey(stored, bits, photometric), "low.tif")
    expected = np.array(stored) * (255 // top)
    if photometric == 0:
        expected = 255 - expected
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    assert "should be palette" not in capfd.readouterr().err  # no OpenCV error for a read


def test_grey_of_4_bits_is_read_without_pillow(monkeypatch):
    """Since round 9 OpenCV decodes it as bytes of 8-bit grey, unpacked after (was: refused,
    "install Pillow"); tests/test_tiff_round9.py has the layouts that still need Pillow."""
    monkeypatch.setitem(sys.modules, "PIL", None)
    np.testing.assert_array_equal(decode_image(_low_bit_grey([[0, 15]], 4, 1), "low.tif"), [[0, 255]])  # fmt: skip
