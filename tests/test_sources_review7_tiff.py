"""Review 7 of TIFF reading: a grey with extra samples (alpha) is read at its depth (OpenCV
read 16-bit ones as 8 bits) and divided by associated alpha without Pillow (refused without
it, and at 16 bits with it), and RGB with more than one extra sample is read (OpenCV refuses
more than 4 samples): eventsim hands OpenCV the samples as one grey image. Layouts read
neither way are refused in one line naming the file and what is read."""

from __future__ import annotations

import sys
import zlib
from typing import Literal

import numpy as np
import pytest
from test_sources_second_look6 import _tiff

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

UNASSOCIATED, ASSOCIATED, UNSPECIFIED = 2, 1, 0
LAYOUTS = [
    pytest.param(dict(big=big, order=order), id=f"{'big' if big else 'classic'}{order}")
    for big in (False, True)
    for order in "<>"
]


def _samples(channels: int, dtype: str, seed: int = 7) -> np.ndarray:
    """5x6 pixels of ``channels`` random samples of ``dtype`` (u1 or u2)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max + 1, (5, 6, channels)).astype(dtype)


def _premultiplied(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    top = float(np.iinfo(colour.dtype).max)
    a = alpha[..., None] if colour.ndim == 3 else alpha
    return np.round(colour.astype(np.float64) * a / top).astype(colour.dtype)


def _divided(stored: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    top = int(np.iinfo(stored.dtype).max)
    a = (alpha[..., None] if stored.ndim == 3 else alpha).astype(np.int64)
    out = np.where(a > 0, np.minimum(stored.astype(np.int64) * top // np.maximum(a, 1), top), 0)
    return out.astype(stored.dtype)


def _as_read(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` as `read_image` returns such samples: uint8 as they are, 16-bit in DN."""
    return pixels if pixels.dtype == np.uint8 else pixels / 257.0


def _compressed_tiff(
    pixels: np.ndarray,
    extra: list[int],
    *,
    predictor: int = 1,
    planar: int = 1,
    order: Literal["<", ">"] = "<",
) -> bytes:
    """A classic TIFF of ``pixels`` (HxWxN, unsigned; grey and N - 1 extra samples for N < 3,
    else RGB and N - 3) compressed with deflate (8), one strip a plane, with horizontal
    differencing (``predictor`` 2) applied before compressing."""
    h, w, n = pixels.shape
    stored = pixels
    if predictor == 2:
        stored = np.concatenate([pixels[:, :1], np.diff(pixels, axis=1)], axis=1)
    stored = stored.astype(pixels.dtype.newbyteorder(order))
    planes = [stored] if planar == 1 else [stored[..., s] for s in range(n)]
    strips = [zlib.compress(np.ascontiguousarray(p).tobytes()) for p in planes]
    offsets = [8 + sum(len(s) for s in strips[:i]) for i in range(len(strips))]
    tags = [
        (256, "H", [w]),
        (257, "H", [h]),
        (258, "H", [pixels.dtype.itemsize * 8] * n),
        (259, "H", [8]),
        (262, "H", [1 if n < 3 else 2]),
        (273, "I", offsets),
        (277, "H", [n]),
        (278, "H", [h]),
        (279, "I", [len(s) for s in strips]),
        (284, "H", [planar]),
        (317, "H", [predictor]),
        (338, "H", extra),
    ]
    return tiff_with_tags(strips, tags, order)


# -- grey with extra samples -------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("planar", [1, 2])
def test_a_16_bit_grey_with_alpha_is_read_at_16_bits(layout, planar):
    """OpenCV reads grey and alpha through libtiff's RGBA interface: 8 bits a sample."""
    la = _samples(2, "u2")
    data = _tiff([(la, {338: (3, [UNASSOCIATED])})], planar=planar, **layout)
    got = decode_image(data, "g.tif")
    assert got.dtype == np.float64
    # blended onto white by its alpha since round 11
    np.testing.assert_array_equal(got, composite_on_white(la[..., 0], la[..., 1]) / 257.0)


@pytest.mark.parametrize("depth", ["u1", "u2"])
@pytest.mark.parametrize("planar", [1, 2])
def test_a_grey_with_associated_alpha_is_divided_without_pillow(monkeypatch, depth, planar):
    """Its alpha, which OpenCV drops, was read by Pillow: refused without it, and refused at
    16 bits with it (Pillow has no 16-bit grey and alpha)."""
    monkeypatch.setitem(sys.modules, "PIL", None)
    la = _samples(2, depth)
    la[0, :, 1], la[1, :, 1] = 0, np.iinfo(la.dtype).max // 2
    stored = _premultiplied(la[..., 0], la[..., 1])
    pixels = np.dstack([stored, la[..., 1]])
    data = _tiff([(pixels, {338: (3, [ASSOCIATED]), 274: (3, [6])})], planar=planar)
    expect = apply_exif_orientation(composite_on_white(_divided(stored, la[..., 1]), la[..., 1]), 6)
    np.testing.assert_array_equal(decode_image(data, "g.tif"), _as_read(expect))


def test_a_grey_with_three_extra_samples_keeps_its_grey_and_its_alpha_divides_it():
    px = _samples(4, "u2")
    px[..., 0] = _premultiplied(px[..., 0], px[..., 2])
    data = _tiff([(px, {338: (3, [UNSPECIFIED, ASSOCIATED, UNSPECIFIED]), 262: (3, [1])})])
    np.testing.assert_array_equal(
        decode_image(data, "g.tif"),
        _as_read(composite_on_white(_divided(px[..., 0], px[..., 2]), px[..., 2])),
    )


# -- RGB with more than one extra sample -------------------------------------------------------


@pytest.mark.parametrize("depth", ["u1", "u2", "f4"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("planar", [1, 2])
def test_rgb_with_two_extra_samples_is_read(tmp_path, depth, layout, planar):
    """OpenCV refuses more than 4 samples ('Unsupported number of channels')."""
    px = _samples(5, "u2" if depth == "f4" else depth)
    pixels = px.astype(np.float32) / 65535 if depth == "f4" else px
    data = _tiff([(pixels, {338: (3, [UNSPECIFIED, UNASSOCIATED])})], planar=planar, **layout)
    path = tmp_path / "five.tif"
    path.write_bytes(data)
    got = read_image(path)
    if depth == "f4":
        on_white = composite_on_white(pixels[..., :3], pixels[..., 4])
        np.testing.assert_allclose(got, on_white * 255.0, rtol=1e-6)
    else:
        np.testing.assert_array_equal(got, _as_read(composite_on_white(px[..., :3], px[..., 4])))


@pytest.mark.parametrize("extra", [[ASSOCIATED, UNSPECIFIED], [UNSPECIFIED, ASSOCIATED]])
@pytest.mark.parametrize("orientation", [1, 3, 8])
def test_rgb_with_extra_samples_is_divided_by_the_one_marked_associated(extra, orientation):
    px = _samples(5, "u1")
    alpha = px[..., 3 + extra.index(ASSOCIATED)]
    px[..., :3] = _premultiplied(px[..., :3], alpha)
    data = _tiff([(px, {338: (3, extra), 274: (3, [orientation])})])
    on_white = composite_on_white(_divided(px[..., :3], alpha), alpha)
    expect = apply_exif_orientation(on_white, orientation)
    np.testing.assert_array_equal(decode_image(data, "five.tif"), expect)


@pytest.mark.parametrize("predictor", [1, 2])
@pytest.mark.parametrize("planar", [1, 2])
@pytest.mark.parametrize("order", ["<", ">"])
def test_compressed_and_differenced_samples_are_read(predictor, planar, order):
    """Deflate with horizontal differencing, which runs over each sample's own values: the
    copy OpenCV decodes has no predictor where its rows hold every sample, and it is undone
    here."""
    for channels, photometric in ((2, 1), (6, 2)):
        px = _samples(channels, "u2", seed=channels)
        extra = [UNASSOCIATED] + [UNSPECIFIED] * (channels - (1 if photometric == 1 else 3) - 1)
        data = _compressed_tiff(px, extra, predictor=predictor, planar=planar, order=order)
        colour = px[..., 0] if photometric == 1 else px[..., :3]
        on_white = composite_on_white(colour, px[..., 1 if photometric == 1 else 3])
        np.testing.assert_array_equal(decode_image(data, "z.tif"), on_white / 257.0)


def test_a_tiff_with_alpha_of_four_samples_still_goes_to_opencv(monkeypatch):
    """RGBA (4 samples) is OpenCV's to read, as before."""
    calls = []
    real = sources._tiff_samples
    monkeypatch.setattr(sources, "_tiff_samples", lambda data: calls.append(1) or real(data))
    rgba = _samples(4, "u1")
    got = decode_image(_tiff([(rgba, {338: (3, [UNASSOCIATED])})]), "x.tif")
    np.testing.assert_array_equal(got, composite_on_white(rgba[..., :3], rgba[..., 3]))
    assert calls == []


# -- what is not read ----------------------------------------------------------------------------


def test_five_samples_in_planes_of_short_strips_are_refused_in_one_line():
    # 5 rows in strips of 2, a plane's last strip short (read plane by plane since review 8),
    # with a floating-point predictor, which is not read
    five = _samples(5, "u1")
    data = _tiff([(five, {338: (3, [UNASSOCIATED, UNSPECIFIED]), 317: (3, [3])})], planar=2, rows_per_strip=2)  # fmt: skip
    with pytest.raises(InputError) as err:
        decode_image(data, "five.tif")
    one_line(str(err.value), "'five.tif'", "5 samples", "up to 4", "save it as RGB or RGBA")


def test_a_grey_with_associated_alpha_in_short_planes_no_longer_needs_pillow(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    la = _samples(2, "u1")
    data = _tiff([(la, {338: (3, [ASSOCIATED])})], planar=2, rows_per_strip=2)
    on_white = composite_on_white(_divided(la[..., 0], la[..., 1]), la[..., 1])
    np.testing.assert_array_equal(decode_image(data, "g.tif"), on_white)


# Pillow warns about the EXIF it cannot find while it tries the file, before it gives up
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
def test_a_big_endian_bigtiff_only_pillow_could_decode_names_what_it_reads():
    """Pillow does not open big-endian BigTIFF: the refusal says how to save it."""
    pytest.importorskip("PIL")
    rgb = _samples(3, "u1")
    data = bytearray(_tiff([(rgb, {259: (3, [34925])})], big=True, order=">"))
    with pytest.raises(InputError) as err:
        decode_image(bytes(data), "big.tif")
    one_line(str(err.value), "'big.tif'", "LZMA", "save it little-endian or as classic TIFF")
