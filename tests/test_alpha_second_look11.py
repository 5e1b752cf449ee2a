"""Second look at round 11's transparency (21c4bf3) and the saccade of 2 frames (c37ff5b).

- A grey PNG whose tRNS chunk makes one grey level transparent (what optipng/oxipng make of a
  black-and-white logo with transparency) was read as its stored grey: OpenCV makes a palette
  or RGB PNG's tRNS alpha but ignores a grey one's, while Pillow, and so transformers' image
  processors, blend those pixels onto white. eventsim and `epvlm run` now do too.
- An RGBA TIFF whose fourth sample no ExtraSamples describes (OpenCV's imwrite of BGRA writes
  none) had its alpha dropped, where Pillow (and transformers) read it as alpha, and epvlm run
  blended it before 21c4bf3.
- A saccade over a duration short enough for 2 frames was sampled at its start and end, one
  place: 0 events. It now takes at least 4 frames, its triangle's corners.
- An RGBA array given to ArraySource / PairSource / ImageMotionSource had its alpha dropped,
  where the same RGBA as a PNG file is blended onto white.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.simulator.sources import (
    ArraySource,
    ImageMotionSource,
    PairSource,
    decode_image,
    read_image,
)

Image = pytest.importorskip("PIL.Image")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _grey_png(path: Path, grey: np.ndarray, bits: int, transparent: int | None) -> Path:
    """A grey PNG (colour type 0) of ``bits`` a sample, with a tRNS chunk after a text chunk
    (so that the chunk walk passes one) where ``transparent`` is given."""
    rows = []
    for row in grey:
        if bits == 16:
            raw = row.astype(">u2").tobytes()
        elif bits == 8:
            raw = row.astype(np.uint8).tobytes()
        else:
            unpacked = np.unpackbits(row.astype(np.uint8)[:, None], axis=1)[:, 8 - bits :]
            raw = np.packbits(unpacked.ravel()).tobytes()
        rows.append(b"\0" + raw)
    h, w = grey.shape
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, 0, 0, 0, 0))
    data += _chunk(b"tEXt", b"Comment\0made for a test")
    if transparent is not None:
        data += _chunk(b"tRNS", struct.pack(">H", transparent))
    data += _chunk(b"IDAT", zlib.compress(b"".join(rows))) + _chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


def _pillow_on_white(path: Path) -> np.ndarray:
    """transformers' convert_to_rgb of a PIL image with transparency, written out."""
    with Image.open(path) as im:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))


def test_grey_png_with_a_transparent_level_is_blended_as_pillow_does(tmp_path):
    grey = (np.arange(12 * 20).reshape(12, 20) % 256).astype(np.uint8)
    path = _grey_png(tmp_path / "logo.png", grey, 8, 100)
    expect = np.where(grey == 100, 255, grey).astype(np.uint8)
    np.testing.assert_array_equal(read_image(path), expect)  # imread's path
    np.testing.assert_array_equal(decode_image(path.read_bytes(), "logo.png"), expect)
    np.testing.assert_array_equal(_pillow_on_white(path)[..., 0], expect)


def test_epvlm_reads_a_grey_png_with_a_transparent_level_as_transformers_does(tmp_path):
    from epvlm.cli import _read_image

    grey = (np.arange(12 * 20).reshape(12, 20) % 256).astype(np.uint8)
    path = _grey_png(tmp_path / "logo.png", grey, 8, 7)
    np.testing.assert_array_equal(_read_image(str(path)), _pillow_on_white(path))


@pytest.mark.parametrize("bits", [1, 2, 4, 16])
def test_grey_png_transparency_at_other_depths_is_white(tmp_path, bits):
    """The level is matched as the file stores it (Pillow itself matches a 2- or 4-bit level
    against the expanded values, and clips 16-bit grey, so the PNG rule is followed)."""
    top = 2**bits - 1
    stored = (np.arange(6 * 8).reshape(6, 8) * (1 if bits < 16 else 977)) % (top + 1)
    path = _grey_png(tmp_path / "g.png", stored, bits, 1 if bits < 16 else 977)
    got = read_image(path)
    plain = read_image(_grey_png(tmp_path / "plain.png", stored, bits, None))
    see_through = stored == (1 if bits < 16 else 977)
    assert see_through.any() and (~see_through).any()
    np.testing.assert_array_equal(got[see_through], 255)
    np.testing.assert_array_equal(got[~see_through], plain[~see_through])


def test_grey_png_without_trns_and_rgb_png_with_it_are_as_before(tmp_path):
    grey = (np.arange(12 * 20).reshape(12, 20) % 256).astype(np.uint8)
    path = _grey_png(tmp_path / "g.png", grey, 8, None)
    np.testing.assert_array_equal(read_image(path), grey)
    rgb = np.dstack([grey, 255 - grey, grey // 2])
    Image.fromarray(rgb).save(tmp_path / "rgb.png", transparency=(5, 250, 2))
    np.testing.assert_array_equal(
        read_image(tmp_path / "rgb.png"), _pillow_on_white(tmp_path / "rgb.png")
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rgba_tiff_without_extra_samples_is_blended_as_pillow_reads_it(tmp_path, dtype):
    from epvlm.cli import _read_image

    rng = np.random.default_rng(5)
    top = np.iinfo(dtype).max
    bgra = rng.integers(0, top + 1, (9, 13, 4), dtype=dtype)
    bgra[0, :, 3], bgra[1, :, 3] = top, 0
    path = tmp_path / "cv.tif"
    assert cv2.imwrite(str(path), bgra)
    with Image.open(path) as im:
        assert 338 not in im.tag_v2 and im.mode == "RGBA"  # Pillow: alpha
    got = read_image(path)
    high = np.clip(np.round(np.asarray(got, np.float64) * 257), 0, 65535).astype(np.uint16) >> 8
    np.testing.assert_array_equal(high if dtype == np.uint16 else got, _pillow_on_white(path))
    np.testing.assert_array_equal(_read_image(str(path)), _pillow_on_white(path))
    np.testing.assert_array_equal(got[1], 255)
    opaque = bgra[0, :, 2::-1] if dtype == np.uint8 else bgra[0, :, 2::-1] / 257.0
    np.testing.assert_array_equal(got[0], opaque)


def test_rgbx_tiff_still_drops_its_fourth_sample(tmp_path):
    rgb = np.random.default_rng(6).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("RGBX").save(tmp_path / "x.tif")
    with Image.open(tmp_path / "x.tif") as im:
        assert im.tag_v2[338] == (0,)
    np.testing.assert_array_equal(read_image(tmp_path / "x.tif"), rgb)


@pytest.mark.parametrize("duration_ms", [0.1, 0.3, 0.004])
def test_a_short_saccade_is_sampled_at_its_corners(duration_ms):
    src = ImageMotionSource(np.zeros((40, 40), np.uint8), "saccade", duration_ms=duration_ms)
    assert src.n_frames == 4
    poses = [src.pose(t / (duration_ms * 1e3))[:2] for t in src.timestamps_us]
    assert poses[0] == pytest.approx(poses[-1])
    assert len({(round(x, 6), round(y, 6)) for x, y in poses}) == 3


def test_a_short_saccade_gives_events():
    from eventsim.simulator import DVSParams, simulate

    yy, xx = np.mgrid[0:48, 0:64]
    card = (((xx // 6 + yy // 6) % 2) * 200 + 20).astype(np.uint8)
    src = ImageMotionSource(card, "saccade", duration_ms=0.1)
    assert len(simulate(src, DVSParams.from_preset("ideal"), seed=1).events) > 0


def test_saccade_frames_of_ordinary_durations_are_as_before():
    for duration_ms, fps in [(300.0, None), (60.0, None), (1.0, None), (300.0, 30.0)]:
        src = ImageMotionSource(np.zeros((40, 40), np.uint8), duration_ms=duration_ms, fps=fps)
        assert src.n_frames == max(2, round(duration_ms / 1e3 * src.fps) + 1) >= 4
    # under 3 us a fourth frame would be under 1 us from the next: as many as fit
    assert ImageMotionSource(np.zeros((8, 8), np.uint8), duration_ms=0.0025).n_frames == 3
    pan = ImageMotionSource(np.zeros((8, 8), np.uint8), "pan", duration_ms=0.1)
    assert pan.n_frames == 2  # its ends differ: 2 frames see its motion


def _rgba(dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(8)
    top = np.iinfo(dtype).max
    rgba = rng.integers(0, top + 1, (16, 24, 4), dtype=dtype)
    rgba[:4, :, 3] = top
    rgba[4:6, :, 3] = 0
    return rgba


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rgba_arrays_are_blended_as_the_same_png_is(tmp_path, dtype):
    rgba = _rgba(dtype)
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), rgba[..., [2, 1, 0, 3]])
    from_file = read_image(path)
    frames = list(ArraySource(rgba[None], fps=10))
    np.testing.assert_array_equal(frames[0][0], from_file)
    big_endian = ArraySource(rgba.astype(rgba.dtype.newbyteorder(">"))[None], fps=10)
    np.testing.assert_array_equal(next(iter(big_endian))[0], from_file)
    motion = ImageMotionSource(rgba, duration_ms=50.0)
    np.testing.assert_array_equal(motion.image, ImageMotionSource(path, duration_ms=50.0).image)
    pair = PairSource(rgba, rgba, interval_ms=1.0)
    np.testing.assert_array_equal(pair.images[0], from_file)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64, np.int32])
def test_opaque_rgba_arrays_are_their_rgb_bit_for_bit(dtype):
    rgb = np.random.default_rng(9).integers(0, 256, (2, 10, 12, 3)).astype(dtype)
    opaque = 65535 if dtype == np.uint16 else 255
    rgba = np.concatenate([rgb, np.full((2, 10, 12, 1), opaque, dtype)], axis=-1)
    for (a, ta), (b, tb) in zip(ArraySource(rgba, fps=10), ArraySource(rgb, fps=10)):
        assert a.dtype == b.dtype and ta == tb
        np.testing.assert_array_equal(a, b)


def test_float_rgba_arrays_take_alpha_in_dn():
    """Float frames are DN (255 = white), and so is their alpha: 255 opaque, 0 transparent."""
    rgba = np.zeros((1, 2, 3, 4), np.float32)
    rgba[0, 0, :, 3] = 255.0
    rgba[0, 1, :, 3] = 51.0
    frame = next(iter(ArraySource(rgba, fps=10)))[0]
    assert frame.dtype == np.float32
    np.testing.assert_allclose(frame[0], 0.0)
    np.testing.assert_allclose(frame[1], 0.8 * 255.0, rtol=1e-6)


def test_a_last_time_rounded_past_the_duration_shows_the_motions_end():
    """3.5 us: the last frame's time is rounded to 4 us; it showed the saccade 1/7 of a sweep
    past its start (pose(8/7)), it shows its start."""
    img = np.zeros((40, 40), np.uint8)
    img[:, 20:] = 255
    src = ImageMotionSource(img, "saccade", duration_ms=0.0035)
    assert src.timestamps_us[-1] == 4
    frames = [frame for frame, _ in src]
    np.testing.assert_array_equal(frames[-1], frames[0])


def test_a_source_of_ones_own_giving_rgba_is_blended_as_array_source_is():
    from eventsim.simulator import DVSParams, simulate

    rng = np.random.default_rng(10)
    rgba = rng.integers(0, 256, (5, 12, 16, 4), dtype=np.uint8)
    ts = np.arange(5) * 1000

    class Own:
        sensor_size = (16, 12)

        def __iter__(self):
            for frame, t in zip(rgba, ts):
                yield frame, int(t)

    params = DVSParams.from_preset("ideal")
    own = simulate(Own(), params, seed=2).events
    np.testing.assert_array_equal(own, simulate(ArraySource(rgba, ts), params, seed=2).events)
    assert not np.array_equal(own, simulate(ArraySource(rgba[..., :3], ts), params, seed=2).events)
