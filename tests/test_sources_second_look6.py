"""A second look at review 6's image and video source changes: TIFF bytes patched for OpenCV
(either byte order, BigTIFF, values stored out of line, several pages, separate planes, JPEG
and float samples), `read_image`'s imread fast path, the video frame clock at its limits
(long gaps, all-equal times, the held-frame limit, windows) and VideoSource's window checks."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import pytest
from test_video_review6 import write_mkv

from eventsim.simulator import sources
from eventsim.simulator.sources import (
    VideoSource,
    _FrameClock,
    apply_exif_orientation,
    composite_on_white,
    decode_image,
    read_image,
)

UNASSOCIATED, ASSOCIATED = 2, 1


def tiff_decoder_input(data):
    """What `_decode_tiff` hands OpenCV of a TIFF file's bytes (tiff_decoder_input was public
    for epvlm's alpha reader, removed in round 11)."""
    return sources._tiff_decoder_input(
        sources._untiled(sources._tiff_image_page(data, "TIFF file"))
    )


def _tiff(
    pages: list[tuple[np.ndarray, dict[int, tuple[int, list[int]] | None]]],
    *,
    big: bool = False,
    order: Literal["<", ">"] = "<",
    planar: int = 1,
    rows_per_strip: int | None = None,
) -> bytes:
    """A TIFF of ``pages`` (pixels: grey, grey+alpha, RGB or RGBA, unsigned or float; extra or
    replaced tags {tag: (type, values)}, None to leave one out), uncompressed, classic or
    BigTIFF, in either byte order, samples interleaved or in separate planes (``planar`` 2),
    ``rows_per_strip`` rows to a strip; written by hand as libtiff lays files out, values
    longer than an entry's value field out of line after the directory."""
    codes = {3: "H", 4: "I", 16: "Q"}
    field = 8 if big else 4
    offset_type = 16 if big else 4
    out = bytearray(16 if big else 8)
    next_at = 8 if big else 4  # where the offset of the next directory goes
    for pixels, extra in pages:
        h, w = pixels.shape[:2]
        spp = 1 if pixels.ndim == 2 else pixels.shape[2]
        px = pixels.astype(pixels.dtype.newbyteorder(order))
        rows = rows_per_strip or h
        planes = [px[..., s] for s in range(spp)] if planar == 2 and spp > 1 else [px]
        strips = [np.ascontiguousarray(p[y : y + rows]).tobytes() for p in planes for y in range(0, h, rows)]  # fmt: skip
        offsets = []
        for strip in strips:
            offsets.append(len(out))
            out += strip
        out += b"\0" * (len(out) % 2)
        tags: dict[int, tuple[int, list[int]] | None] = {
            256: (3, [w]),
            257: (3, [h]),
            258: (3, [pixels.dtype.itemsize * 8] * spp),
            259: (3, [1]),
            262: (3, [2 if spp >= 3 else 1]),
            273: (offset_type, offsets),
            277: (3, [spp]),
            278: (3, [rows]),
            279: (offset_type, [len(s) for s in strips]),
            284: (3, [planar]),
            **({339: (3, [3] * spp)} if pixels.dtype.kind == "f" else {}),
        }
        tags.update(extra)
        entries = sorted((tag, v) for tag, v in tags.items() if v is not None)
        ifd_at = len(out)
        struct.pack_into(order + ("Q" if big else "I"), out, next_at, ifd_at)
        size = (8 if big else 2) + (20 if big else 12) * len(entries) + field
        tail = bytearray()
        ifd = struct.pack(order + ("Q" if big else "H"), len(entries))
        for tag, (kind, values) in entries:
            packed = struct.pack(order + codes[kind] * len(values), *values)
            if len(packed) > field:
                value = struct.pack(order + ("Q" if big else "I"), ifd_at + size + len(tail))
                tail += packed + b"\0" * (len(packed) % 2)
            else:
                value = packed.ljust(field, b"\0")
            ifd += struct.pack(order + "HH" + ("Q" if big else "I"), tag, kind, len(values))
            ifd += value
        next_at = ifd_at + len(ifd)
        out += ifd + bytes(field) + tail
    out[:4] = (b"II" if order == "<" else b"MM") + struct.pack(order + "H", 43 if big else 42)
    if big:
        out[4:8] = struct.pack(order + "HH", 8, 0)  # offsets of 8 bytes
    return bytes(out)


@pytest.fixture
def rgba() -> np.ndarray:
    """6x10 RGBA: random colour; opaque, half, quarter, nearly and fully transparent rows."""
    rng = np.random.default_rng(87)
    pixels = rng.integers(0, 256, (6, 10, 4), dtype=np.uint8)
    pixels[..., 3] = np.array([255, 128, 64, 1, 0, 200], np.uint8)[:, None]
    return pixels


@pytest.fixture
def la() -> np.ndarray:
    pixels = np.zeros((4, 7, 2), np.uint8)
    pixels[..., 0] = np.arange(28, dtype=np.uint8).reshape(4, 7) * 9
    pixels[..., 1] = np.array([255, 128, 64, 0], np.uint8)[:, None]
    return pixels


LAYOUTS = [
    pytest.param(dict(big=big, order=order), id=f"{'big' if big else 'classic'}{order}")
    for big in (False, True)
    for order in "<>"
]


# -- TIFF bytes handed to OpenCV -----------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("orientation", [1, 6])
@pytest.mark.parametrize("planar", [1, 2])
def test_unassociated_rgba_keeps_its_colour_in_every_layout(rgba, layout, orientation, planar):
    data = _tiff([(rgba, {338: (3, [UNASSOCIATED]), 274: (3, [orientation])})], planar=planar, **layout)  # fmt: skip
    got = decode_image(data, "x.tif")
    on_white = composite_on_white(rgba[..., :3], rgba[..., 3])  # since round 11
    np.testing.assert_array_equal(got, apply_exif_orientation(on_white, orientation))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n_extra", [1, 2, 3, 5])
def test_only_the_first_extra_sample_value_is_patched_inline_or_out_of_line(layout, n_extra):
    """ExtraSamples with several values (the value field holds two SHORTs in a classic TIFF,
    four in a BigTIFF; more sit out of line): the first value is set to 0 where the file
    holds it, and no other byte of the file changes."""
    pixels = np.zeros((2, 3, 3 + n_extra), np.uint8)
    data = _tiff([(pixels, {338: (3, [UNASSOCIATED] + [0] * (n_extra - 1))})], **layout)
    buf, orientation, entries = tiff_decoder_input(data)
    assert orientation == 1
    changed = np.flatnonzero(np.frombuffer(bytes(buf), np.uint8) != np.frombuffer(data, np.uint8))
    _, at, size = entries[338]
    assert size == 2 and changed.tolist() == [at + (1 if layout["order"] == ">" else 0)]
    assert sources._tiff_directory(bytes(buf))[338][0] == 0


def test_a_second_pages_tags_are_not_patched_nor_read(rgba):
    """Only the first directory is read (OpenCV decodes the first page): a second page's
    unassociated alpha and orientation change nothing, and the first page reads as stored."""
    rgb = rgba[..., :3]
    data = _tiff([(rgb, {}), (rgba, {338: (3, [UNASSOCIATED]), 274: (3, [6])})])
    buf, orientation, _ = tiff_decoder_input(data)
    assert orientation == 1 and buf == data
    np.testing.assert_array_equal(decode_image(data, "two.tif"), rgb)
    first = _tiff([(rgba, {338: (3, [UNASSOCIATED])}), (rgb, {274: (3, [6])})])
    on_white = composite_on_white(rgb, rgba[..., 3])
    np.testing.assert_array_equal(decode_image(first, "two.tif"), on_white)


@pytest.mark.parametrize("depth", [np.uint8, np.uint16])
@pytest.mark.parametrize("layout", LAYOUTS[:2])
def test_a_grey_with_unassociated_alpha_in_separate_planes_keeps_its_grey(la, depth, layout):
    """libtiff's RGBA reading, which OpenCV uses for grey with alpha, multiplies a grey in
    separate planes by its unassociated alpha (a contiguous one it leaves alone): 63 at alpha
    128 came out 32. Its alpha is marked unspecified too."""
    pixels = la.astype(depth) * (257 if depth == np.uint16 else 1)
    for planar in (1, 2):
        data = _tiff([(pixels, {338: (3, [UNASSOCIATED])})], planar=planar, **layout)
        on_white = composite_on_white(la[..., 0], la[..., 1])
        np.testing.assert_array_equal(decode_image(data, "g.tif"), on_white)


def test_epvlm_reads_a_grey_alpha_in_separate_planes_on_white(tmp_path, la):
    """Its alpha was read by Pillow, which does not read grey and alpha in separate planes,
    and epvlm refused it; since round 11 eventsim's reader blends it onto white itself."""
    from epvlm.cli import _read_image

    path = tmp_path / "planes.tif"
    path.write_bytes(_tiff([(la, {338: (3, [UNASSOCIATED])})], planar=2))
    on_white = composite_on_white(la[..., 0], la[..., 1])
    np.testing.assert_array_equal(_read_image(str(path)), np.dstack([on_white] * 3))


@pytest.mark.parametrize("depth", ["u2", "f4"])
@pytest.mark.parametrize("channels", [3, 4])
def test_deep_samples_in_separate_planes_are_read_not_scrambled(tmp_path, rgba, depth, channels):
    """OpenCV here reads 16-bit and float samples in separate planes as if interleaved (the
    RGBA reading of 8-bit samples handles planes): the image came back scrambled. Refused
    then, they are read plane by plane since review 8 (tests/test_sources_review8_tiff.py)."""
    pixels = rgba[..., :channels].astype(depth) * (257 if depth == "u2" else 1 / 255)
    extra = {338: (3, [UNASSOCIATED])} if channels == 4 else {}
    data = _tiff([(pixels, extra)], planar=2, rows_per_strip=4)
    expected = rgba[..., :3].astype(np.float64)
    if channels == 4:  # blended onto white, at 8 bits where 16-bit pixels are not opaque
        on_white = composite_on_white(pixels[..., :3], pixels[..., 3])
        expected = on_white / 257.0 if depth == "u2" else on_white.astype(np.float64) * 255.0
    np.testing.assert_allclose(decode_image(data, "planes.tif"), expected, atol=1e-4)
    path = tmp_path / "planes.tif"
    path.write_bytes(data)
    np.testing.assert_allclose(read_image(path), expected, atol=1e-4)
    # interleaved, the same samples read as stored; a grey in planes is one plane
    interleaved = _tiff([(pixels, extra)], rows_per_strip=4)
    np.testing.assert_allclose(decode_image(interleaved, "x.tif"), expected, atol=1e-4)
    grey = _tiff([(pixels[..., 0], {})], planar=2, rows_per_strip=4)
    grey_read = rgba[..., 0].astype(np.float64)
    np.testing.assert_allclose(decode_image(grey, "g.tif"), grey_read, atol=1e-4)


def test_the_separate_planes_probe_reads_8_bit_planes_and_names_16_bit_ones():
    # the probe's layout is sound: OpenCV reads its 8-bit twin, which goes through libtiff's
    # RGBA reading, as stored
    stored = np.arange(1, 7, dtype=np.uint8).reshape(1, 2, 3) * 40
    img = cv2.imdecode(np.frombuffer(_tiff([(stored, {})], planar=2), np.uint8), -1)
    np.testing.assert_array_equal(img[..., ::-1], stored)
    deep = stored.astype(np.uint16) * 25
    img = cv2.imdecode(np.frombuffer(_tiff([(deep, {})], planar=2), np.uint8), -1)
    assert sources._opencv_reads_separate_planes() == np.array_equal(img[..., ::-1], deep)


@pytest.mark.parametrize("extra", [UNASSOCIATED, ASSOCIATED])
def test_a_float_rgba_tiff_is_read_as_pillow_would_divide_it(rgba, extra):
    linear = rgba.astype(np.float32) / 255
    if extra == ASSOCIATED:
        linear[..., :3] *= linear[..., 3:]
    got = decode_image(_tiff([(linear, {338: (3, [extra])})], order=">"), "f.tif")
    straight = rgba.astype(np.float32) / 255
    colour = composite_on_white(straight[..., :3], straight[..., 3]).astype(np.float64) * 255
    if extra == UNASSOCIATED:
        np.testing.assert_allclose(got, colour, rtol=1e-6)
    else:
        seen = rgba[..., 3] > 0
        np.testing.assert_allclose(got[seen], colour[seen], rtol=1e-5)
        assert (got[~seen] == 255).all()  # no colour is left: white


def test_a_jpeg_compressed_rgba_tiff_reads_as_pillow_reads_it(rgba):
    """A JPEG TIFF with alpha (libtiff writes it Photometric RGB, ExtraSamples 2) keeps its
    colour, as Pillow gives it, where OpenCV's RGBA reading multiplied it by the alpha."""
    image = pytest.importorskip("PIL.Image")
    out = io.BytesIO()
    image.fromarray(rgba, "RGBA").save(out, "TIFF", compression="jpeg")
    data = out.getvalue()
    assert sources._tiff_directory(data)[259][0] == 7
    with image.open(io.BytesIO(data)) as im:
        pil = np.asarray(im.convert("RGBA"))
    on_white = composite_on_white(pil[..., :3], pil[..., 3])
    np.testing.assert_array_equal(decode_image(data, "j.tif"), on_white)


# -- read_image's fast path ----------------------------------------------------------------------


def test_read_image_reads_a_utf8_named_png_with_imread_and_a_tiff_from_its_bytes(
    tmp_path, monkeypatch, rgba
):
    """The fast path (cv2.imread of the name) stays for every UTF-8 name that is no TIFF; a
    TIFF, classic or BigTIFF, whatever its suffix, goes to the bytes (its tags are patched)."""
    png = tmp_path / "caf\u00e9 \u56fe.png"
    assert cv2.imwrite(str(png), rgba[..., [2, 1, 0, 3]])
    big = tmp_path / "big-tiff-named.png"
    big.write_bytes(_tiff([(rgba, {338: (3, [UNASSOCIATED])})], big=True))
    names: list[str] = []
    real = cv2.imread

    def imread(name, flags=None):
        names.append(name)
        return real(name, flags)

    monkeypatch.setattr(cv2, "imread", imread)
    on_white = composite_on_white(rgba[..., :3], rgba[..., 3])
    np.testing.assert_array_equal(read_image(png), on_white)
    assert names == [str(png)]
    np.testing.assert_array_equal(read_image(big), on_white)
    assert names == [str(png)]


# -- the video frame clock -----------------------------------------------------------------------


def _times(
    path: Path, start_s: float | None = None, stop_s: float | None = None
) -> list[tuple[int, int]]:
    """(t_us, k) of the video's frames, k the frame's place in the file (its square's x)."""
    out = []
    for frame, t in VideoSource(path, start_s=start_s, stop_s=stop_s):
        white = np.flatnonzero((frame[27] > 240).all(axis=1))
        out.append((t, (int(white[0]) - 5) // 3))
    return out


def test_a_repeat_before_a_long_gap_stays_a_frame_after_its_neighbour(tmp_path):
    """A repeated time followed by a 10 s pause: the repeat was put halfway into the pause
    (5.04 s), its events spread over seconds; it is one nominal frame on from its neighbour,
    where decoding order puts it, as the frames at the end of a video are."""
    path = tmp_path / "gap.mkv"
    write_mkv(path, [0, 40, 80, 80, 80, 10_000, 10_040])
    assert _times(path) == [
        *((0, 0), (40_000, 1), (80_000, 2), (120_000, 3), (160_000, 4)),
        *((10_000_000, 5), (10_040_000, 6)),
    ]
    # where the next time is near, the repeats are still spread evenly up to it
    write_mkv(path, [0, 40, 80, 80, 80, 140])
    assert [t for t, _ in _times(path)] == [0, 40_000, 80_000, 100_000, 120_000, 140_000]


def test_the_clock_never_steps_by_zero():
    """A container claiming over 2 MHz rounded the nominal step to 0 µs: frames without a
    usable time were all given the last time."""
    clock = _FrameClock(1e6 / 3e6)
    times = [t for raw in [0, None, None, *[0] * 12] for t, _ in clock.push(raw, None)]
    times += [t for t, _ in clock.finish()]
    assert len(times) == 15 and np.all(np.diff(times) > 0)


@pytest.mark.parametrize("repeats", [8, 9])
def test_the_held_frame_limit_boundary(tmp_path, repeats):
    """Eight frames repeating a time wait for the next time and are spread up to it; from the
    ninth the times after the run are read ahead, and they are spread up to it all the same
    (they went on at the nominal rate, and the frames after it with them)."""
    path = tmp_path / "run.mkv"
    times = [0, 40, 80, *[80] * repeats, 120, 160]
    write_mkv(path, times, scale_ns=1_000_000)
    got = _times(path)
    assert [k for _, k in got] == list(range(len(times)))
    stamps = [t for t, _ in got]
    assert np.all(np.diff(stamps) > 0)
    assert stamps[-2:] == [120_000, 160_000]
    assert all(80_000 < t < 120_000 for t in stamps[3 : 3 + repeats])


@pytest.mark.parametrize("times", [[0] * 12, [0] + [40] * 11])
def test_a_video_whose_times_are_all_equal_goes_on_at_the_nominal_rate(tmp_path, times):
    path = tmp_path / "flat.mkv"
    write_mkv(path, times)
    got = _times(path)
    assert got == [(40_000 * k, k) for k in range(12)]
    # and a window gives the same frames' times within it
    assert _times(path, start_s=0.1, stop_s=0.3) == [(t, k) for t, k in got if 1e5 <= t <= 3e5]


@pytest.mark.parametrize(
    "times",
    [
        [0, 40, 80, 80, 80, 10_000, 10_040, 10_040, 10_120],
        [0, 40, 80, *[80] * 9, 120, 160, 160, 240],
        [0, 40, 120, 80, 160, 160, 160, 160, 400, 440],
        [0, 0, 0, 40, 80, 80, 120],
    ],
)
def test_windows_give_the_whole_videos_times_inside_them(tmp_path, times):
    path = tmp_path / "v.mkv"
    write_mkv(path, times)
    whole = _times(path)
    assert [k for _, k in whole] == list(range(len(times)))
    stamps = sorted({t for t, _ in whole})
    for lo, hi in [(stamps[1], stamps[-2]), (stamps[3], None), (None, stamps[4])]:
        start_s, stop_s = (None if v is None else v / 1e6 for v in (lo, hi))
        expect = [(t, k) for t, k in whole if (lo is None or t >= lo) and (hi is None or t <= hi)]
        assert _times(path, start_s, stop_s) == expect, (lo, hi)


def test_the_clock_keeps_order_and_strictly_increasing_times_on_random_streams():
    rng = np.random.default_rng(87)
    for _ in range(300):
        n = int(rng.integers(1, 40))
        raw: list[int | None] = []
        for _ in range(n):
            pick = rng.random()
            last = raw[-1] if raw and raw[-1] is not None else 0
            if pick < 0.15:
                raw.append(None)
            elif pick < 0.45:
                raw.append(last)  # a repeat
            elif pick < 0.55:
                raw.append(int(rng.integers(0, last + 1)))  # a step back
            elif pick < 0.6:
                raw.append(last + int(rng.integers(1, 10**10)))  # a jump
            else:
                raw.append(last + int(rng.integers(1, 80_000)))
        clock = _FrameClock(float(rng.choice([0.5, 1000.0, 40_000.0])))
        out = [item for k, r in enumerate(raw) for item in clock.push(r, k)]
        out += clock.finish()
        frames = [k for _, k in out]
        assert frames == sorted(frames) and len(frames) + clock.dropped == n
        assert np.all(np.diff([t for t, _ in out]) > 0)
        # a frame whose container time follows every time given before it keeps that time
        # (moved as wild first times moved the frames after them), unless it starts a burst of
        # wild ones: the two times after the burst fall back below them all
        for i, (t, k) in enumerate(out[1:], 1):
            own = raw[k] is not None and t - clock._shift == raw[k]
            if raw[k] is not None and raw[k] > max(u for u, _ in out[:i]) and not own:
                assert any(
                    None not in raw[k : k + n + 2]
                    and len(raw[k + n : k + n + 2]) == 2
                    and max(raw[k + n : k + n + 2]) < min(raw[k : k + n])
                    for n in range(1, sources._MAX_WILD_FRAMES + 1)
                ), (raw, k)


# -- VideoSource's window checks -----------------------------------------------------------------


def test_numpy_times_are_a_window_and_describe_stays_json(tmp_path):
    """start_s / stop_s given as numpy scalars (a time computed from an array) were refused
    ('start_s = np.float32(0.1); expected a time >= 0 s')."""
    path = tmp_path / "plain.mkv"
    write_mkv(path, list(range(0, 400, 40)))
    source = VideoSource(path, start_s=np.float32(0.1), stop_s=np.int64(1))
    assert [t for t, _ in _times(path, start_s=0.1, stop_s=1.0)] == [t for _, t in source]
    described = json.loads(json.dumps(source.describe()))
    assert described["start_s"] == pytest.approx(0.1) and described["stop_s"] == 1.0
    assert source.window() == " between 0.1 s and 1 s"


@pytest.mark.parametrize("value", [True, np.float64("nan"), np.float32("-inf"), -1e-9])
def test_a_bool_or_a_numpy_non_time_is_refused(tmp_path, value):
    from eventsim.errors import ParameterError

    path = tmp_path / "plain.mkv"
    write_mkv(path, list(range(0, 400, 40)))
    with pytest.raises(ParameterError, match=r"start_s = .*expected a time >= 0 s"):
        VideoSource(path, start_s=value)
