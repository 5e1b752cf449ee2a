"""Image review 6: TIFF alpha (unassociated alpha read premultiplied by OpenCV, associated
alpha not divided out, premultiplied grey refused by epvlm) and BigTIFF orientation."""

from __future__ import annotations

import struct
import sys
from typing import Literal

import cv2
import numpy as np
import pytest

from eventsim.simulator import sources
from eventsim.simulator.sources import (
    apply_exif_orientation,
    composite_on_white,
    decode_image,
    read_image,
)

from user_media import tiff_bytes

UNASSOCIATED, ASSOCIATED = 2, 1


def _tiff(
    pixels: np.ndarray,
    *,
    extra: int | None = None,
    orientation: int = 1,
    big: bool = False,
    order: Literal["<", ">"] = "<",
) -> bytes:
    """An uncompressed one-strip TIFF of ``pixels`` (grey, grey+alpha, RGB or RGBA; unsigned
    or float), classic
    or BigTIFF (``big``), in either byte order, with ExtraSamples ``extra`` (tag 338) for the
    alpha sample; written by hand, as libtiff lays such files out."""
    h, w = pixels.shape[:2]
    spp = 1 if pixels.ndim == 2 else pixels.shape[2]
    raw = np.ascontiguousarray(pixels, pixels.dtype.newbyteorder(order)).tobytes()
    offset_type = 16 if big else 4  # LONG8 or LONG
    entries = [
        (256, 3, [w]),
        (257, 3, [h]),
        (258, 3, [pixels.dtype.itemsize * 8] * spp),
        (259, 3, [1]),
        (262, 3, [2 if spp >= 3 else 1]),
        (273, offset_type, [0]),  # the strip's offset, filled in below
        (274, 3, [orientation]),
        (277, 3, [spp]),
        (278, 3, [h]),
        (279, offset_type, [len(raw)]),
        *([(338, 3, [extra])] if extra is not None else []),
        *([(339, 3, [3] * spp)] if pixels.dtype.kind == "f" else []),  # IEEE float samples
    ]
    codes = {3: "H", 4: "I", 16: "Q"}
    field = 8 if big else 4  # an entry's value field
    head = 16 if big else 8
    out_of_line_at = head + (8 if big else 2) + (20 if big else 12) * len(entries) + field
    out_of_line = b""
    longer = [struct.calcsize(codes[k]) * len(v) for _, k, v in entries]
    strip_at = out_of_line_at + sum(n for n in longer if n > field)
    ifd = struct.pack(order + ("Q" if big else "H"), len(entries))
    for tag, kind, values in entries:
        if tag == 273:
            values = [strip_at]
        packed = struct.pack(order + codes[kind] * len(values), *values)
        if len(packed) > field:
            value = struct.pack(order + ("Q" if big else "I"), out_of_line_at + len(out_of_line))
            out_of_line += packed
        else:
            value = packed.ljust(field, b"\0")
        ifd += struct.pack(order + "HH" + ("Q" if big else "I"), tag, kind, len(values)) + value
    ifd += bytes(field)  # no next directory
    magic = b"II" if order == "<" else b"MM"
    if big:
        header = magic + struct.pack(order + "HHHQ", 43, 8, 0, head)
    else:
        header = magic + struct.pack(order + "HI", 42, head)
    return header + ifd + out_of_line + raw


def _png(tmp_path, rgba: np.ndarray, name: str = "same.png"):
    path = tmp_path / name
    bgra = rgba[..., [2, 1, 0, 3]] if rgba.shape[2] == 4 else rgba[..., [0, 0, 0, 1]]
    assert cv2.imwrite(str(path), bgra)
    return path


def _premultiplied(rgba: np.ndarray) -> np.ndarray:
    """``rgba`` (colour and alpha last) with the colour multiplied by the alpha, rounded, as
    an encoder of associated alpha stores it."""
    top = float(np.iinfo(rgba.dtype).max)
    colour = rgba[..., :-1].astype(np.float64) * rgba[..., -1:] / top
    return np.concatenate([np.round(colour).astype(rgba.dtype), rgba[..., -1:]], axis=2)


def _unpremultiplied(stored: np.ndarray) -> np.ndarray:
    """The colour of a stored premultiplied ``stored`` divided by its alpha as Pillow reads
    associated alpha (and so stock transformers sees it): value * max // alpha, at most max, 0
    where alpha is 0."""
    top = int(np.iinfo(stored.dtype).max)
    colour = stored[..., :-1].astype(np.int64)
    alpha = stored[..., -1:].astype(np.int64)
    out = np.where(alpha > 0, np.minimum(colour * top // np.maximum(alpha, 1), top), 0)
    return out.astype(stored.dtype)


@pytest.fixture
def rgba() -> np.ndarray:
    """6x10 RGBA: random colour; opaque, half, quarter, nearly and fully transparent rows."""
    rng = np.random.default_rng(6)
    pixels = rng.integers(0, 256, (6, 10, 4), dtype=np.uint8)
    pixels[..., 3] = np.array([255, 128, 64, 1, 0, 200], np.uint8)[:, None]
    pixels[1, :3, :3] = (200, 100, 50)
    return pixels


# -- 1: RGBA TIFF alpha --------------------------------------------------------------------------


def test_opencv_premultiplies_unassociated_alpha_here(rgba):
    # what the fix works around: libtiff's RGBA reading, which OpenCV uses for 8-bit samples
    raw = cv2.imdecode(np.frombuffer(_tiff(rgba, extra=UNASSOCIATED), np.uint8), -1)
    if np.array_equal(raw[..., [2, 1, 0]], rgba[..., :3]):
        pytest.skip("this OpenCV reads unassociated alpha as stored")
    assert raw[1, 0, 2] == 100  # 200 at alpha 128


@pytest.mark.parametrize("orientation", [1, 6])
def test_an_unassociated_alpha_tiff_reads_as_the_same_png(tmp_path, rgba, orientation):
    """OpenCV's libtiff multiplied the colour by the alpha: a half transparent 200 came out
    100, darker for `eventsim simulate` and for epvlm's blend on white than the same PNG."""
    tif = tmp_path / "unassociated.tif"
    tif.write_bytes(_tiff(rgba, extra=UNASSOCIATED, orientation=orientation))
    png = _png(tmp_path, apply_exif_orientation(rgba, orientation))
    np.testing.assert_array_equal(read_image(tif), read_image(png))
    np.testing.assert_array_equal(decode_image(tif.read_bytes(), "x.tif"), read_image(png))
    from epvlm.cli import _read_image

    blended = _read_image(str(tif))
    np.testing.assert_array_equal(blended, _read_image(str(png)))
    upright = apply_exif_orientation(rgba, orientation)
    # (200, 100, 50) at alpha 128 on white, as the PNG gives; was (177, 152, 139)
    marked = (upright[..., :3] == (200, 100, 50)).all(axis=2)
    assert marked.sum() == 3
    assert (blended[marked] == (227, 177, 152)).all()


def test_an_unassociated_alpha_tiff_in_a_codec_only_pillow_reads_keeps_its_colour(rgba):
    pytest.importorskip("PIL")
    data = tiff_bytes(rgba, compression=34925)  # ExtraSamples 2
    if cv2.imdecode(np.frombuffer(data, np.uint8), -1) is not None:
        pytest.skip("this OpenCV decodes LZMA TIFFs")
    on_white = composite_on_white(rgba[..., :3], rgba[..., 3])
    np.testing.assert_array_equal(decode_image(data, "lzma.tif"), on_white)


def test_a_16_bit_unassociated_alpha_tiff_keeps_its_colour(rgba):
    deep = rgba.astype(np.uint16) * 257
    got = decode_image(_tiff(deep, extra=UNASSOCIATED), "deep.tif")
    on_white = composite_on_white(rgba[..., :3], rgba[..., 3])
    np.testing.assert_array_equal(got, on_white.astype(np.float64))


@pytest.mark.parametrize("big", [False, True])
def test_an_associated_alpha_tiff_is_divided_by_its_alpha(tmp_path, rgba, big):
    """OpenCV gives associated alpha's colour as stored (multiplied by the alpha): the
    simulator saw it darker. It is divided out as Pillow (and so stock transformers) does."""
    stored = _premultiplied(rgba)
    tif = tmp_path / "associated.tif"
    tif.write_bytes(_tiff(stored, extra=ASSOCIATED, big=big))
    expected = _unpremultiplied(stored)
    on_white = composite_on_white(expected, stored[..., 3])
    np.testing.assert_array_equal(read_image(tif), on_white)
    pil = pytest.importorskip("PIL.Image")
    with pil.open(tif) as im:
        assert im.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(im)[..., :3], expected)
    # epvlm blends it on white as it blends the same image as PNG (rounding apart)
    from epvlm.cli import _read_image

    blended = _read_image(str(tif)).astype(int)
    as_png = _read_image(str(_png(tmp_path, rgba))).astype(int)
    assert np.abs(blended - as_png).max() <= 1


def test_a_16_bit_associated_alpha_tiff_is_divided_by_its_alpha(rgba):
    stored = _premultiplied(rgba.astype(np.uint16) * 257)
    got = decode_image(_tiff(stored, extra=ASSOCIATED), "deep.tif")
    on_white = composite_on_white(_unpremultiplied(stored), stored[..., 3])
    np.testing.assert_array_equal(got, on_white / 257.0)


def test_a_float_associated_alpha_tiff_is_divided_by_its_alpha(rgba):
    linear = rgba.astype(np.float32) / 255
    stored = np.concatenate([linear[..., :3] * linear[..., 3:], linear[..., 3:]], axis=2)
    got = decode_image(_tiff(stored, extra=ASSOCIATED), "float.tif")
    seen = linear[..., 3] > 0
    on_white = composite_on_white(linear[..., :3], linear[..., 3]) * 255.0
    np.testing.assert_allclose(got[seen], on_white[seen], rtol=1e-5)
    assert (got[~seen] == 255).all()  # no colour is left: white


def test_an_associated_alpha_tiff_that_only_pillow_decodes_reads_as_opencvs(rgba):
    """Pillow divides associated alpha out itself: the same pixels as OpenCV's reading."""
    pytest.importorskip("PIL")
    stored = _premultiplied(rgba)
    unassociated = struct.pack("<HHIHH", 338, 3, 1, UNASSOCIATED, 0)
    data = tiff_bytes(stored, compression=34925)
    assert data.count(unassociated) == 1
    data = data.replace(unassociated, struct.pack("<HHIHH", 338, 3, 1, ASSOCIATED, 0))
    if cv2.imdecode(np.frombuffer(data, np.uint8), -1) is not None:
        pytest.skip("this OpenCV decodes LZMA TIFFs")
    got = decode_image(data, "lzma.tif")
    np.testing.assert_array_equal(got, composite_on_white(_unpremultiplied(stored), stored[..., 3]))
    np.testing.assert_array_equal(got, decode_image(_tiff(stored, extra=ASSOCIATED), "x.tif"))


# -- 3 (and 1): grey TIFF with premultiplied alpha -----------------------------------------------


@pytest.fixture
def la() -> np.ndarray:
    pixels = np.zeros((4, 7, 2), np.uint8)
    pixels[..., 0] = np.arange(28, dtype=np.uint8).reshape(4, 7) * 9
    pixels[..., 1] = np.array([255, 128, 64, 0], np.uint8)[:, None]
    return pixels


@pytest.mark.parametrize("orientation", [1, 3, 6])
def test_a_premultiplied_grey_alpha_tiff_is_read_and_divided_by_its_alpha(
    tmp_path, la, orientation
):
    """epvlm refused a grey TIFF with associated alpha, and the simulator read its grey as
    stored (multiplied by the alpha). Both now read it divided by its alpha, and epvlm blends
    it on white as it blends the same image as PNG."""
    pytest.importorskip("PIL")
    from epvlm.cli import _read_image

    stored = _premultiplied(la)
    tif = tmp_path / "premultiplied.tif"
    tif.write_bytes(_tiff(stored, extra=ASSOCIATED, orientation=orientation))
    on_white = composite_on_white(_unpremultiplied(stored)[..., 0], stored[..., 1])
    expected = apply_exif_orientation(on_white, orientation)
    np.testing.assert_array_equal(read_image(tif), expected)
    blended = _read_image(str(tif)).astype(int)
    as_png = _read_image(str(_png(tmp_path, apply_exif_orientation(la, orientation))))
    assert np.abs(blended - as_png.astype(int)).max() <= 1
    assert blended[apply_exif_orientation(la, orientation)[..., 1] == 0].min() == 255


def test_an_unassociated_grey_alpha_tiff_keeps_its_grey(la):
    pytest.importorskip("PIL")
    on_white = composite_on_white(la[..., 0], la[..., 1])
    np.testing.assert_array_equal(decode_image(_tiff(la, extra=UNASSOCIATED), "g.tif"), on_white)


def test_a_premultiplied_grey_alpha_tiff_that_only_pillow_decodes_is_divided(la, monkeypatch):
    pytest.importorskip("PIL")
    monkeypatch.setattr(sources, "_imdecode", lambda buf, quiet: None)
    monkeypatch.setattr(sources, "_OPENCV_TIFF_CODECS", frozenset())
    stored = _premultiplied(la)
    got = decode_image(_tiff(stored, extra=ASSOCIATED), "g.tif")
    on_white = composite_on_white(_unpremultiplied(stored)[..., 0], stored[..., 1])
    np.testing.assert_array_equal(got, on_white)


def test_a_premultiplied_grey_alpha_tiff_without_pillow_is_divided(la, monkeypatch):
    # its alpha, which OpenCV drops, was read by Pillow (refused without it); eventsim reads
    # the samples itself now (tests/test_sources_review7.py)
    monkeypatch.setitem(sys.modules, "PIL", None)
    stored = _premultiplied(la)
    got = decode_image(_tiff(stored, extra=ASSOCIATED), "g.tif")
    on_white = composite_on_white(_unpremultiplied(stored)[..., 0], stored[..., 1])
    np.testing.assert_array_equal(got, on_white)


# -- 2: BigTIFF orientation ----------------------------------------------------------------------


def _orientation_entry(buf) -> int:
    """The orientation value of a file `_tiff` wrote (classic or BigTIFF, little-endian)."""
    data = bytes(buf)
    for entry, at in ((struct.pack("<HHQ", 274, 3, 1), 12), (struct.pack("<HHI", 274, 3, 1), 8)):
        pos = data.find(entry)
        if pos > 0:
            return struct.unpack_from("<H", data, pos + at)[0]
    return 1


def _opencv_cannot_turn(monkeypatch) -> None:
    """cv2.imdecode and imread as OpenCV 5.0's fail on a non-square TIFF tagged with a quarter
    turn ("original_ptr == real_mat.data"; the OpenCV here may decode it)."""
    real = cv2.imdecode

    def imdecode(buf, flags):
        img = real(buf, flags)
        if img is not None and img.shape[0] != img.shape[1] and _orientation_entry(buf) >= 5:
            return None
        return img

    monkeypatch.setattr(cv2, "imdecode", imdecode)
    monkeypatch.setattr(
        cv2, "imread", lambda name, flags=None: imdecode(np.fromfile(name, np.uint8), flags)
    )


@pytest.mark.parametrize("orientation", [2, 3, 5, 6, 7, 8])
@pytest.mark.parametrize("kind", ["rgb8", "grey16"])
def test_a_bigtiff_is_turned_upright_as_a_classic_tiff_is(tmp_path, monkeypatch, orientation, kind):
    """A BigTIFF ('II+') was not taken for a TIFF: its orientation was not found, so an OpenCV
    that cannot decode a non-square TIFF tagged 5..8 refused it."""
    rng = np.random.default_rng(orientation)
    pixels = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    if kind == "grey16":
        pixels = pixels[..., 0].astype(np.uint16) * 257
    expected = apply_exif_orientation(pixels, orientation)
    expected = expected / 257.0 if kind == "grey16" else expected
    data = _tiff(pixels, orientation=orientation, big=True)
    assert sources.exif_orientation(data) == orientation
    _opencv_cannot_turn(monkeypatch)
    np.testing.assert_array_equal(decode_image(data, "big.tif"), expected)
    path = tmp_path / "big.tif"
    path.write_bytes(data)
    np.testing.assert_array_equal(read_image(path), expected)
    assert sources.exif_orientation(path) == orientation


def test_a_big_endian_bigtiff_orientation_is_found():
    pixels = np.arange(60, dtype=np.uint8).reshape(6, 10)
    data = _tiff(pixels, orientation=8, big=True, order=">")
    assert data[:4] == b"MM\x00+"
    assert sources.exif_orientation(data) == 8
    np.testing.assert_array_equal(decode_image(data, "mm.tif"), apply_exif_orientation(pixels, 8))


@pytest.mark.parametrize("orientation", [1, 6, 7])
def test_the_alpha_of_a_turned_bigtiff_lands_on_its_colour(
    tmp_path, monkeypatch, rgba, orientation
):
    from epvlm.cli import _read_image

    _opencv_cannot_turn(monkeypatch)
    rgba[..., 3] = 0
    rgba[:2, :3, 3] = 255  # opaque in the stored top-left corner only
    path = tmp_path / "big.tif"
    path.write_bytes(_tiff(rgba, extra=UNASSOCIATED, orientation=orientation, big=True))
    upright = apply_exif_orientation(rgba, orientation)
    expected = np.where(upright[..., 3:] == 255, upright[..., :3], 255).astype(np.uint8)
    np.testing.assert_array_equal(_read_image(str(path)), expected)
