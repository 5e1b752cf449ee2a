"""Frame sources for the simulator: each is an iterable of ``(frame, t_us)``.

Frames are uint8 RGB ``HxWx3`` (or grey ``HxW``), or float intensities in DN for HDR input,
already fitted to ``sensor_size``: scaled to cover it and centre-cropped (``fit="crop"``) or
stretched (``fit="resize"``). Every source has ``sensor_size`` (known before iterating),
``n_frames`` (None when unknown; a count under 2 is exact, so `simulate` can refuse such an input
before it starts) and ``describe()`` (a dict stored in the output file).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import io
import itertools
import math
import numbers
import os
import re
import struct
import threading
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple

import cv2
import numpy as np

from eventsim._opencv import opencv_file_name, opencv_takes_name
from eventsim._suffixes import IMAGE_SUFFIXES
from eventsim._suggest import did_you_mean
from eventsim._system import usable_cores
from eventsim.errors import InputError, ParameterError, UnopenedVideoError
from eventsim.events import check_sensor_size
from eventsim.options import FITS, MOTIONS, Fit, Motion
from eventsim.simulator.core import _FRAME_DTYPES, FrameScaleWarning, stack_frames
from eventsim.simulator.params import ParameterValueError

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_FPS",
    "MAX_MOTION_FPS",
    "MOTION_STEP_PX",
    "TIFF_SIGNATURES",
    "ArraySource",
    "FolderSource",
    "ImageMotionSource",
    "ImageScaleWarning",
    "LongFrameGapWarning",
    "PairSource",
    "TiffSeriesWarning",
    "TiffStackSource",
    "TimestampsWarning",
    "VideoDecodeWarning",
    "VideoSource",
    "VideoTimesWarning",
    "apply_exif_orientation",
    "check_fit",
    "check_frame_rate",
    "composite_on_white",
    "decode_image",
    "exif_orientation",
    "fit_frame",
    "folder_images",
    "frame_folder_layout",
    "read_image",
    "read_timestamps_file",
    "tiff_frame_count",
]

# the still images a source reads, under the name the simulator's callers import
IMAGE_EXTENSIONS = IMAGE_SUFFIXES
#: The first four bytes of a TIFF file: classic ('*', 42) and BigTIFF ('+', 43), either byte
#: order.
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# threads that decode a frame folder's images side by side (OpenCV decodes without the GIL)
_MAX_DECODE_THREADS = 4
# a timestamps file whose median frame gap is this long was probably written in milliseconds
_SLOW_FRAME_GAP_US = 1_000_000
# ... and refused from this gap on unless asked for: frames 1000 s apart are far more often
# times in µs or ns (DSEC's image_timestamps.txt) than a time lapse, and simulated as seconds
# they took minutes and an index entry per ms of the span
_LONG_FRAME_GAP_US = 1_000_000_000
# the largest time a timestamps file may hold, in seconds: int64 µs with room to spare
_MAX_TIME_S = 9e12
# a video frame's time step where the container gives no frame rate
_FALLBACK_STEP_US = 33_333
# frames of a video held back waiting for a time that follows the last one (a repeated PTS);
# a longer run's times after it are read ahead by a second decoder
_MAX_HELD_FRAMES = 8
#: The highest frame rate a source may be given: frames are stamped in whole microseconds.
MAX_FPS = 1e6
#: The most an image motion's default rate lets it move the image between two frames (px) ...
MOTION_STEP_PX = 0.5
#: ... up to this rate (a given ``fps`` may be higher, up to `MAX_FPS`).
MAX_MOTION_FPS = 5000.0
# the most frames an image motion makes: an hour at MAX_MOTION_FPS is 18,000,001
_MAX_MOTION_FRAMES = 1 << 25
# frames whose poses are made at once when an image motion's steps are measured
_POSE_CHUNK = 1 << 20


class TimestampsWarning(UserWarning):
    """A timestamps file is read as seconds although its times look like another unit."""


class LongFrameGapWarning(TimestampsWarning):
    """A timestamps file's frames 1000 s or more apart (its median gap, or one gap among
    closer frames), read as seconds because ``allow_long_gaps`` let them through: without it
    they are refused."""


class VideoDecodeWarning(UserWarning):
    """A video stopped decoding before the frame count its container gives (truncated or
    corrupt), or a TIFF stack's pixels ran past the end of its file: the frames up to there
    were used."""


class ImageScaleWarning(FrameScaleWarning):
    """A float image file whose values run far above 1.0, which float images take as white:
    most likely DN (0..255) saved as float, simulated as a scene up to 255 times as bright."""


# float images take 1.0 as white and brighter as HDR; one peaking above this many times white
# is far more often DN 0..255 saved as float (an 8-bit frame converted by astype(np.float32))
_FLOAT_IMAGE_PEAK = 2.0


class VideoTimesWarning(UserWarning):
    """Frames of a video were left out: more of them shared a container time than there are
    microseconds before the next time."""


def check_frame_rate(fps: float, n_frames: int = 1, name: str = "fps") -> float:
    """``fps`` as a float, or ParameterError: frames closer than 1 µs would share a time
    ("timestamps must increase strictly: frame 1 at 0 us follows 0 us"), and ``n_frames``
    frames stamped at i / fps must end within the events' int64 µs."""
    if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise ParameterValueError(
            name,
            fps,
            f"; expected a value > 0 and at most {MAX_FPS:g} (frames are stamped in whole "
            "microseconds)",
        )
    last_s = (n_frames - 1) / fps
    if last_s > _MAX_TIME_S:
        raise ParameterValueError(
            name,
            fps,
            f" puts frame {n_frames} at {last_s:g} s; expected times within {_MAX_TIME_S:g} s",
        )
    return float(fps)


def check_fit(fit: object) -> Fit:
    """``fit`` if it is one of `FITS`, else ParameterError listing them: a source checks it when
    made, whether or not its frames need fitting (a misspelt fit passed until a frame did)."""
    if fit not in FITS:
        hint = did_you_mean(fit, FITS, quote=True) if isinstance(fit, str) else ""
        raise ParameterError(f"fit {fit!r} is unknown; expected one of {', '.join(FITS)}{hint}")
    return fit


def _repr_of(obj: object, parts: Callable[[], list[str]]) -> str:
    """``Name(part, ...)`` of a source, from attributes it holds (no decoding or file access);
    a half-made one (its __init__ raised) shows as ``<Name (incomplete)>`` rather than raise."""
    try:
        shown = parts()
    except Exception:
        return f"<{type(obj).__name__} (incomplete)>"
    return f"{type(obj).__name__}({', '.join(shown)})"


def _size(size: Sequence[int]) -> str:
    return f"{size[0]}x{size[1]}"


def _fitted_to(input_size: Sequence[int], sensor_size: Sequence[int], fit: str) -> list[str]:
    """The sensor and fit of a source's repr, where its frames are fitted to another size."""
    if tuple(input_size) == tuple(sensor_size):
        return []
    return [f"sensor={_size(sensor_size)}", f"fit={fit!r}"]


def _decode_threads() -> int:
    return min(_MAX_DECODE_THREADS, usable_cores())


def fit_frame(frame: np.ndarray, sensor_size: tuple[int, int], fit: Fit = "crop") -> np.ndarray:
    """Scale ``frame`` to ``sensor_size`` (W, H): cover and centre-crop, or stretch."""
    width, height = sensor_size
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    if fit == "resize":
        interp = cv2.INTER_AREA if w * h > width * height else cv2.INTER_LINEAR
        return cv2.resize(frame, (width, height), interpolation=interp)
    if fit != "crop":
        check_fit(fit)
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    if (new_w, new_h) != (w, h):
        frame = cv2.resize(frame, (new_w, new_h), interpolation=interp)
    x0, y0 = (new_w - width) // 2, (new_h - height) // 2
    return np.ascontiguousarray(frame[y0 : y0 + height, x0 : x0 + width])


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8 RGB/grey, or float DN for 16-bit and float files, turned
    upright by its EXIF orientation (`apply_exif_orientation`). A TIFF file of several images
    (`tiff_frame_count`) is refused (`TiffStackSource` reads them); `decode_image` reads its
    first. Of a TIFF whose first page is a thumbnail, or of an OME-TIFF whose first series is
    not stored first, the image is read (`_tiff_image_page`). A float image peaking above
    twice white (1.0) is read as it is, with an `ImageScaleWarning`: it is DN 0..255, most
    likely, and was simulated as a scene 255 times as bright without a word."""
    img = _read_image(path)
    problem = _image_scale_problem(img, str(Path(path)))
    if problem is not None:
        warnings.warn(problem, ImageScaleWarning, stacklevel=2)
    return img


def _image_scale_problem(img: np.ndarray, name: str) -> str | None:
    """What an `ImageScaleWarning` says of ``img``, `read_image`'s reading of the image file
    ``name``, or None where it is not a float image peaking above `_FLOAT_IMAGE_PEAK`."""
    if img.dtype == np.uint8:
        return None
    # float files come out of `_normalise_image` as DN (x 255) and 16-bit ones at most 255
    peak = float(img.max()) / 255.0
    if peak <= _FLOAT_IMAGE_PEAK:
        return None
    return (
        f"float image {name!r} peaks at {peak:.4g}, but float images are read with 1.0 as white "
        f"(HDR above): it is simulated {peak:.4g} times as bright as white. Its values look "
        "like DN 0..255: divide them by 255 (or save the image as 8-bit)"
    )


def _read_image(path: str | os.PathLike) -> np.ndarray:
    """`read_image` without its `ImageScaleWarning`."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise InputError(f"image {str(path)!r} {what}; expected an image file")
    name = str(path)
    if opencv_takes_name(name) and not _is_tiff(path):
        # the common case, by imread: 4 % faster a frame than imdecode of the file's bytes;
        # a file it cannot read goes on to the bytes, whose reading or decoding says why
        img = cv2.imread(name, cv2.IMREAD_UNCHANGED)
        if img is not None and img.size:
            img = _with_grey_png_alpha(img, path)
            return _normalise_image(apply_exif_orientation(img, path), name, bgr=True)
    # a TIFF's directories (and OME-XML) read once: for its frame count and its image's page
    layout = _tiff_file_layout(path) if _is_tiff(path) else None
    if layout is not None and (frames := layout.frames) > 1:
        # a stack (ImageJ's, a microscope's, a high-speed camera's) is a sequence of frames:
        # simulated as one still image (OpenCV and Pillow decode the first page), the motion
        # in it was lost without a word. Told before the file is read: stacks run to many GB
        raise InputError(
            f"image {name!r} is a TIFF of {frames} images (a stack or a multi-page file), not "
            "one image: eventsim would read the first only. To simulate them as frames, give "
            "the file itself as the input (eventsim simulate STACK.tif, with --fps where the "
            "file gives no frame rate; TiffStackSource), or save them as one file each in a "
            "folder (libtiff's tiffsplit does, or ImageJ's File > Save As > Image Sequence)"
        )
    # read here and decoded from memory: OpenCV's imread kills the process (segfault) on a
    # name that is not UTF-8 ('bad\udcff.png', as Python spells undecodable bytes), and a
    # TIFF's orientation entry is set to 1 in the bytes before OpenCV sees them
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"image {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    if layout is not None and _is_tiff(data):
        return _decode_tiff(data, name, layout)
    return decode_image(data, name)


def decode_image(data: bytes, name: str) -> np.ndarray:
    """The bytes of an image file (a parquet cell's) as `read_image` reads the file: depth
    kept, turned upright; ``name`` says where they come from in messages."""
    if _is_tiff(data):
        return _decode_tiff(data, name)
    img = _imdecode(data, quiet=False)
    if img is None:
        raise InputError(f"image {name!r} cannot be read (not an image OpenCV can decode)")
    img = _with_grey_png_alpha(img, data)
    return _normalise_image(apply_exif_orientation(img, data), name, bgr=True)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _with_grey_png_alpha(img: np.ndarray, source: bytes | Path) -> np.ndarray:
    """``img``, OpenCV's decoding of ``source`` (a file's bytes or path), with an alpha
    channel after it where it is a grey PNG whose tRNS chunk makes one grey level transparent:
    OpenCV makes a palette or RGB PNG's tRNS alpha but ignores a grey one's, which image
    optimisers (optipng, oxipng) make of a black-and-white logo with transparency; Pillow, and
    so transformers, blend it onto white."""
    if img.ndim != 2:
        return img
    try:
        with contextlib.ExitStack() as stack:
            fh = (
                io.BytesIO(source)
                if isinstance(source, (bytes, bytearray))
                else stack.enter_context(open(source, "rb"))
            )
            level = _png_transparent_grey(fh)
    except OSError:
        return img  # decoded already: a file gone since is read without its transparency
    if level is None:
        return img
    opaque = np.iinfo(img.dtype).max if np.issubdtype(img.dtype, np.integer) else 1.0
    return np.dstack([img, np.where(img == level, 0, opaque).astype(img.dtype)])


def _png_transparent_grey(fh: BinaryIO) -> int | None:
    """The grey level a grey PNG's tRNS chunk makes transparent, as OpenCV decodes it (1-, 2-
    and 4-bit grey scaled to 8 bits); None for any other file. The chunks are walked up to the
    image data, where tRNS must come before."""
    if fh.read(8) != _PNG_SIGNATURE:
        return None
    bits = None
    while len(head := fh.read(8)) == 8:
        size, kind = int.from_bytes(head[:4], "big"), head[4:]
        if kind == b"IHDR":
            ihdr = fh.read(size)
            if len(ihdr) < 10 or ihdr[9] != 0:  # colour type 0: grey without alpha
                return None
            bits = ihdr[8]
            fh.seek(4, io.SEEK_CUR)
        elif bits is None or kind in (b"IDAT", b"IEND"):
            return None  # IHDR comes first
        elif kind == b"tRNS":
            value = fh.read(2)
            if len(value) < 2 or not 1 <= bits <= 16:
                return None
            level = int.from_bytes(value, "big")
            return level * 255 // (2**bits - 1) if bits < 8 else level
        else:
            fh.seek(size + 4, io.SEEK_CUR)
    return None


# -- TIFF ----------------------------------------------------------------------------------------
# TIFF compressions (tag 259) that the libtiff inside every opencv-python build decodes: none,
# CCITT, LZW, JPEG, deflate, PackBits. Others (LZMA, ZSTD, WebP, ...) it may lack.
_OPENCV_TIFF_CODECS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 32773, 32946})
_TIFF_CODEC_NAMES = {
    1: "no",
    2: "CCITT RLE",
    3: "CCITT Group 3",
    4: "CCITT Group 4",
    5: "LZW",
    6: "old-style JPEG",
    7: "JPEG",
    8: "Adobe deflate",
    32773: "PackBits",
    32946: "deflate",
    34712: "JPEG 2000",
    34887: "LERC",
    34925: "LZMA",
    50000: "ZSTD",
    50001: "WebP",
    50002: "JPEG XL",
}
_TIFF_COMPRESSION, _TIFF_BITS = 259, 258
_TIFF_PHOTOMETRIC, _TIFF_SAMPLES, _TIFF_PLANAR, _TIFF_EXTRA_SAMPLES = 262, 277, 284, 338
# ExtraSamples values: the first extra sample is alpha premultiplied into the colour
# (associated) or alpha beside it (unassociated); RGB photometric interpretation; each sample
# in a plane of its own (PlanarConfiguration 2)
_ASSOCIATED_ALPHA, _UNASSOCIATED_ALPHA, _PHOTOMETRIC_RGB, _PLANAR_SEPARATE = 1, 2, 2, 2
# the grey photometric interpretation whose 0 is white (a scanner's or fax's)
_PHOTOMETRIC_WHITE_IS_ZERO = 0
_PHOTOMETRIC_YCBCR = 6
# OpenCV's log level is global: turned off and back by one decoding thread at a time
_OPENCV_LOG_LOCK = threading.Lock()


def _tiff_decoder_input(
    data: bytes | bytearray,
) -> tuple[bytes | bytearray, int, dict[int, tuple[int, int, int]]]:
    """What the decoders of a TIFF's bytes (classic or BigTIFF; its image page, untiled, as
    `_decode_tiff` makes them, and a stack's frames one by one) are given, and what then turns
    their pixels upright: the bytes with the orientation entry set to 1 (OpenCV 5.0 applies
    orientations 2..4 itself and fails on 5..8 unless the image is square,
    "original_ptr == real_mat.data") and the unassociated alpha of an RGB image, or of a grey
    one in separate planes, marked unspecified (OpenCV reads 8-bit samples, and grey with
    alpha, through libtiff's RGBA interface, which multiplies such colour by unassociated alpha
    and passes unspecified extra samples through as stored; a contiguous grey it reads as
    stored, and its alpha stays marked for Pillow, which reads it), the orientation (1..8)
    for `apply_exif_orientation`, and the first directory's SHORT, LONG and LONG8 entries as
    the file holds them ({tag: (first value, offset, size)}; empty when it cannot be read):
    whether the fourth sample OpenCV gives is alpha is read from these. A reader of another
    channel decodes these same bytes, so that it lands on the colour's pixels."""
    try:
        entries = _tiff_directory(data)
    except (_Truncated, IndexError, ValueError):
        entries = {}
    orientation = entries.get(_EXIF_ORIENTATION_TAG, (1, 0, 0))[0]
    if not 1 <= orientation <= 8:
        orientation = 1
    patches = {_EXIF_ORIENTATION_TAG: 1} if orientation != 1 else {}
    if entries.get(_TIFF_EXTRA_SAMPLES, (0,))[0] == _UNASSOCIATED_ALPHA and (
        entries.get(_TIFF_PHOTOMETRIC, (0,))[0] == _PHOTOMETRIC_RGB
        or entries.get(_TIFF_PLANAR, (1,))[0] == _PLANAR_SEPARATE
    ):
        patches[_TIFF_EXTRA_SAMPLES] = 0
    buf: bytes | bytearray = data
    if patches:
        buf = bytearray(data)
        for tag, value in patches.items():
            _, at, size = entries[tag]
            buf[at : at + size] = value.to_bytes(size, "little" if data[:2] == b"II" else "big")
    return buf, orientation, entries


def _tiff_image_page(
    data: bytes | bytearray, what: str, layout: _TiffLayout | None = None
) -> bytes | bytearray:
    """A TIFF file's bytes, or where its image is not its first page (`_tiff_layout`: a
    thumbnail or mask written ahead of it, `_tiff_full_pages`; or another OME series first)
    its first full-resolution page (of its first OME series) as a TIFF file of its own: OpenCV
    and Pillow decode a file's first page. Where no page of its chain is full-resolution, the
    full-resolution image of the first page's SubIFDs (as DNG keeps it, `_tiff_sub_image`),
    else ``data`` itself. The first page's orientation is the image's where its own page gives
    none (TIFF/EP keeps it in the first directory). ``what`` names the file in messages;
    ``layout``: the file's, where read already."""
    pages = _tiff_pages(data) if layout is None else layout.pages
    if layout is None and len(pages) > 1:  # a page of a stack (one page) is its image
        layout = _tiff_layout(data, f"{what}: page 1")
    chain = _tiff_full_pages(list(enumerate(pages)))
    if pages and not chain:
        return _tiff_sub_image(data, pages[0], what) or data
    full = chain if layout is None else layout.numbered
    if not full or full[0][0] == 0:
        return data
    index, page = full[0]
    name = f"{what}: page {index + 1}"
    fields = _tiff_page_entries(data, page.at, name)
    if fields is not None and all(f.tag != _EXIF_ORIENTATION_TAG for f in fields):
        head = _tiff_page_entries(data, pages[0].at, f"{what}: page 1") or []
        fields += [f for f in head if f.tag == _EXIF_ORIENTATION_TAG]
    image = None if fields is None else _tiff_page_file(data, fields, name)
    if image is None:
        raise InputError(
            f"{what}: its first page is a reduced-resolution copy or mask (NewSubfileType) and "
            f"its image, page {index + 1}, runs past the end of the file (truncated?)"
        )
    return image


# TIFF/EP's and DNG's photometric interpretations of raw sensor data: a colour filter array
# (a mosaic, one colour a pixel) and linear raw
_PHOTOMETRIC_CFA, _PHOTOMETRIC_LINEAR_RAW = 32803, 34892
_TIFF_SUB_IFDS = 330


def _tiff_sub_image(data: bytes | bytearray, first: _TiffPage, what: str) -> bytes | None:
    """The largest full-resolution image (NewSubfileType 0) among the SubIFDs of a TIFF's
    first page, a reduced-resolution copy (DNG's thumbnail, its image in a SubIFD), as a TIFF
    file of its own, which `_decode_tiff` decodes or refuses as it does any page. Raw sensor
    data (DNG's CFA or linear raw) is refused: no decoder here develops it, and the first
    page, decoded instead, gave a thumbnail for the image. None where the first page has no
    such SubIFD."""
    order = _tiff_byte_order(data) or "little"
    head = _tiff_page_entries(data, first.at, f"{what}: page 1", keep=_TIFF_SUB_IFDS) or []
    pointers = next((f for f in head if f.tag == _TIFF_SUB_IFDS), None)
    if pointers is None or pointers.kind not in (4, 13, 16, 18):  # LONG, IFD, LONG8, IFD8
        return None
    size = _TIFF_TYPE_SIZES[pointers.kind]
    subs = []
    for at in (int.from_bytes(pointers.value[i : i + size], order) for i in range(0, len(pointers.value), size)):  # fmt: skip
        fields = _tiff_page_entries(data, at, f"{what}: SubIFD at byte {at}") if at else None
        found = {f.tag: _tiff_field_values(f, order) for f in fields or []}
        kind = (found.get(_TIFF_NEW_SUBFILE_TYPE) or [0])[0]
        w, h = (found.get(_TIFF_WIDTH) or [0])[0], (found.get(_TIFF_HEIGHT) or [0])[0]
        if fields is not None and not kind & 0b101 and w and h:
            subs.append((w * h, at, fields, found))
    if not subs:
        return None
    _, at, fields, found = max(subs, key=lambda sub: sub[0])
    w, h = found[_TIFF_WIDTH][0], found[_TIFF_HEIGHT][0]
    photometric = (found.get(_TIFF_PHOTOMETRIC) or [-1])[0]
    said = f"{what}: its first page is a reduced-resolution copy (a thumbnail) and its {w}x{h} image, in a SubIFD,"  # fmt: skip
    if photometric in (_PHOTOMETRIC_CFA, _PHOTOMETRIC_LINEAR_RAW):
        raw = "a colour filter array, CFA" if photometric == _PHOTOMETRIC_CFA else "linear raw"
        raise InputError(
            f"{said} is raw sensor data ({raw}, photometric {photometric}), which eventsim does "
            "not read: it develops no raw images; develop it to a TIFF or PNG first (dcraw -T, "
            "darktable, RawTherapee)"
        )
    if all(f.tag != _EXIF_ORIENTATION_TAG for f in fields):
        fields += [f for f in head if f.tag == _EXIF_ORIENTATION_TAG]
    image = _tiff_page_file(data, fields, f"{what}: SubIFD at byte {at}")
    if image is None:
        raise InputError(f"{said} runs past the end of the file (truncated?)")
    return image


def _decode_tiff(
    data: bytes | bytearray, name: str, layout: _TiffLayout | None = None
) -> np.ndarray:
    """The bytes of a TIFF file as `read_image` returns images: its image page (a
    reduced-resolution first page passed over, `_tiff_image_page`), uncompressed tiles OpenCV
    cannot decode from memory in strips (`_untiled`), decoded as `_tiff_decoder_input` gives
    them, then turned upright by the EXIF rule. A compression OpenCV cannot decode goes
    to Pillow where it is installed. ``layout``: the file's `_tiff_layout`, where read already."""
    data = _untiled(_tiff_image_page(data, f"image {name!r}", layout))
    buf, orientation, entries = _tiff_decoder_input(data)
    photometric = entries.get(_TIFF_PHOTOMETRIC, (-1,))[0]
    if photometric == _PHOTOMETRIC_WHITE_IS_ZERO and entries.get(_TIFF_SAMPLE_FORMAT, (1,))[0] == 3:
        raise InputError(
            f"image {name!r} is a TIFF of float samples with 0 as white (tag 262 = 0, "
            "WhiteIsZero), whose white no float value marks; eventsim reads WhiteIsZero grey of "
            "unsigned 1- to 16-bit samples: save it with 0 as black (tag 262 = 1)"
        )
    if _reads_extra_samples(entries):
        colour = _tiff_samples(data)
        if colour is not None:
            return _normalise_image(apply_exif_orientation(colour, orientation), name, bgr=False)
    compression = entries.get(_TIFF_COMPRESSION, (1, 0, 0))[0]
    baseline = compression in _OPENCV_TIFF_CODECS
    # OpenCV 5 takes grey of 2 or 4 bits a sample for a palette image and refuses it, with an
    # error line of its own: Pillow reads it below
    bits = entries.get(_TIFF_BITS, (8,))[0]
    low_bit_grey = bits in (2, 4) and photometric in (_PHOTOMETRIC_WHITE_IS_ZERO, 1)
    if low_bit_grey:
        grey = _tiff_low_bit_grey(data)
        if grey is not None:
            return _normalise_image(apply_exif_orientation(grey, orientation), name, bgr=False)
    img = _imdecode(buf, quiet=not baseline or low_bit_grey)
    if img is not None:
        samples = entries.get(_TIFF_SAMPLES, (1,))[0]
        if (
            img.dtype != np.uint8
            and samples > 1
            and entries.get(_TIFF_PLANAR, (1,))[0] == _PLANAR_SEPARATE
            and not _opencv_reads_separate_planes()
        ):
            colour = _tiff_samples(data)
            if colour is not None:
                return _normalise_image(
                    apply_exif_orientation(colour, orientation), name, bgr=False
                )
            raise InputError(
                f"image {name!r} is a {bits}-bit TIFF with its {samples} samples in separate "
                "planes (PlanarConfiguration 2), which OpenCV here reads scrambled; save it "
                "with the samples interleaved (PlanarConfiguration 1)"
            )
        img = _opencv_with_alpha(img, buf, entries, name)
        if (
            photometric == _PHOTOMETRIC_WHITE_IS_ZERO
            and img.dtype == np.uint16
            and not _opencv_inverts_16_bit_white_is_zero()
        ):
            img = np.iinfo(np.uint16).max - img
        return _normalise_image(apply_exif_orientation(img, orientation), name, bgr=True)
    if baseline:
        n = entries.get(_TIFF_SAMPLES, (1,))[0]
        if n > 4:
            raise InputError(
                f"image {name!r} is a TIFF of {n} samples a pixel, which OpenCV here does not "
                f"read (it reads up to 4), {_unread_tiff_layout(entries)}(it reads grey or RGB "
                "and extra samples, unsigned 8- or 16-bit or 32- or 64-bit float, uncompressed "
                "or LZW, deflate or PackBits compressed, predictor 1, or 2 for integers, "
                "interleaved or in planes, in strips or tiles); save it as RGB or RGBA"
            )
        if low_bit_grey:
            what = f"{bits}-bit grey samples"
            grey = _pillow_tiff(buf, name, what, bits)
            if grey is None:
                raise InputError(
                    f"image {name!r} is a TIFF of {what}, which OpenCV here cannot decode; "
                    "install Pillow to read it, or save it with 8 bits a sample"
                )
            return _normalise_image(apply_exif_orientation(grey, orientation), name, bgr=False)
        raise InputError(f"image {name!r} cannot be read (not an image OpenCV can decode)")
    codec = _TIFF_CODEC_NAMES.get(compression, "an unknown")
    what = f"{codec} compression (tag 259 = {compression})"
    rgb = _pillow_tiff(_alpha_marked_again(buf, entries), name, what, bits)
    if rgb is None:
        raise InputError(
            f"image {name!r} is a TIFF with {what}, which OpenCV here cannot decode; install "
            "Pillow to read it, or save the image with LZW or deflate compression"
        )
    if photometric == _PHOTOMETRIC_WHITE_IS_ZERO and rgb.dtype == np.uint16:
        rgb = np.iinfo(np.uint16).max - rgb  # Pillow inverts 8-bit WhiteIsZero, not 16-bit
    return _normalise_image(apply_exif_orientation(rgb, orientation), name, bgr=False)


def _alpha_marked_again(
    buf: bytes | bytearray, entries: dict[int, tuple[int, int, int]]
) -> bytes | bytearray:
    """``buf`` from `_tiff_decoder_input` with the unassociated alpha it marked unspecified for
    OpenCV marked alpha again, for Pillow (which reads an unspecified fourth sample as RGBX,
    not as transparency)."""
    if entries.get(_TIFF_EXTRA_SAMPLES, (0,))[0] != _UNASSOCIATED_ALPHA:
        return buf
    _, at, size = entries[_TIFF_EXTRA_SAMPLES]
    out = bytearray(buf)
    out[at : at + size] = _UNASSOCIATED_ALPHA.to_bytes(
        size, "little" if buf[:2] == b"II" else "big"
    )
    return out


def _unread_tiff_layout(entries: dict[int, tuple[int, int, int]]) -> str:
    """``"whose <what> (tag N = V) eventsim does not read either "``: the first value of a
    TIFF's first directory that `_tiff_samples` does not read (or the photometric
    interpretation it lacks), or a sentence without it."""

    def get(tag: int, default: int) -> int:
        return entries.get(tag, (default,))[0]

    compression, bits = get(_TIFF_COMPRESSION, 1), get(_TIFF_BITS, 1)
    sample_format = get(_TIFF_SAMPLE_FORMAT, 1)
    predictor, photometric = get(_TIFF_PREDICTOR, 1), get(_TIFF_PHOTOMETRIC, -1)
    if compression not in _TIFF_BYTE_CODECS:
        what = f"compression (tag 259 = {compression})"
    elif (bits, sample_format) not in _TIFF_SAMPLE_DTYPES:
        what = f"samples of {bits} bits (tag 258) and format {sample_format} (tag 339)"
    elif predictor not in (1, 2) or (predictor == 2 and sample_format == 3):
        what = f"predictor (tag 317 = {predictor})"
    elif _TIFF_PHOTOMETRIC not in entries:
        # the one tag of these without a default: the -1 that stands for it is no file's value
        return (
            "without a photometric interpretation (tag 262), which eventsim does not read either "
        )
    elif photometric not in (_PHOTOMETRIC_WHITE_IS_ZERO, 1, _PHOTOMETRIC_RGB):
        what = f"photometric interpretation (tag 262 = {photometric})"
    else:
        return "in a layout eventsim does not read either "
    return f"whose {what} eventsim does not read either "


@functools.cache
def _opencv_inverts_16_bit_white_is_zero() -> bool:
    """Whether this OpenCV turns a 16-bit grey TIFF with 0 as white (WhiteIsZero) into 0 as
    black, as it does 8-bit ones (through libtiff's RGBA interface): 5.0 reads 16-bit samples
    as stored. Told by decoding a 2x1 one."""
    # 2x1, 16-bit, uncompressed, one strip of 4 bytes at 122 (after this 9-entry directory)
    tags: tuple[tuple[int, int], ...] = (
        (256, 2), (257, 1), (258, 16), (259, 1), (262, 0), (273, 122), (277, 1), (278, 1),
        (279, 4),
    )  # fmt: skip
    ifd = b"".join(
        struct.pack("<HHII", tag, 4, 1, v)
        if tag in (273, 279)
        else struct.pack("<HHIHH", tag, 3, 1, v, 0)
        for tag, v in tags
    )
    data = (
        b"II*\x00"
        + struct.pack("<IH", 8, len(tags))
        + ifd
        + bytes(4)
        + struct.pack("<2H", 0, 65535)
    )
    img = _imdecode(data, quiet=True)
    return img is not None and img.tolist() == [[65535, 0]]


@functools.cache
def _opencv_reads_separate_planes() -> bool:
    """Whether this OpenCV decodes a TIFF of 16-bit samples in separate planes as stored: 5.0
    reads samples deeper than 8 bits (which it does not read through libtiff's RGBA interface)
    as if they were interleaved. Told by decoding a 1x2 RGB TIFF laid out so."""
    stored = np.arange(1, 7, dtype="<u2").reshape(1, 2, 3) * 1000
    planes = stored.transpose(2, 0, 1).tobytes()  # R R G G B B
    # 11 entries and the next directory's offset, then the BitsPerSample, StripOffsets and
    # StripByteCounts triples (at 146, 152, 164), then the three planes of 4 bytes (at 176)
    head = 8 + 2 + 12 * 11 + 4
    tags: tuple[tuple[int, int, int, int], ...] = (
        (256, 3, 1, 2), (257, 3, 1, 1), (258, 3, 3, head), (259, 3, 1, 1), (262, 3, 1, 2),
        (273, 4, 3, head + 6), (277, 3, 1, 3), (278, 3, 1, 1), (279, 4, 3, head + 18),
        (284, 3, 1, 2), (339, 3, 1, 1),
    )  # fmt: skip
    ifd = b"".join(
        struct.pack("<HHII", tag, kind, n, v)
        if kind == 4 or n > 1
        else struct.pack("<HHIHH", tag, kind, n, v, 0)
        for tag, kind, n, v in tags
    )
    data = (
        b"II*\x00" + struct.pack("<IH", 8, len(tags)) + ifd + bytes(4)
        + struct.pack("<3H", 16, 16, 16)
        + struct.pack("<3I", *(head + 30 + 4 * i for i in range(3)))
        + struct.pack("<3I", 4, 4, 4)
        + planes
    )  # fmt: skip
    img = _imdecode(data, quiet=True)
    return img is not None and np.array_equal(img[..., ::-1], stored)


def _opencv_with_alpha(
    img: np.ndarray, buf: bytes | bytearray, entries: dict[int, tuple[int, int, int]], name: str
) -> np.ndarray:
    """OpenCV's pixels of a TIFF with its straight alpha last, where ExtraSamples marks its
    first extra sample alpha: associated alpha's colour (stored multiplied by the alpha)
    divided by it. OpenCV drops a grey image's alpha: that is read with Pillow
    (`_tiff_grey_alpha`) from ``buf``, the bytes the grey was decoded from. A fourth sample
    not marked alpha (ExtraSamples 0, as Pillow's RGBX) is dropped; an RGB image's fourth
    sample that no ExtraSamples describes is alpha, as Pillow (and so transformers) reads it:
    OpenCV's imwrite of BGRA writes none."""
    four = img.ndim == 3 and img.shape[2] == 4
    undescribed = (
        _UNASSOCIATED_ALPHA
        if four and entries.get(_TIFF_PHOTOMETRIC, (-1,))[0] == _PHOTOMETRIC_RGB
        else 0
    )
    kind = entries.get(_TIFF_EXTRA_SAMPLES, (undescribed,))[0]
    if kind not in (_ASSOCIATED_ALPHA, _UNASSOCIATED_ALPHA):
        return img[..., :3] if four else img
    if four:
        colour, alpha = img[..., :3], img[..., 3]
    elif img.ndim == 2 and entries.get(_TIFF_SAMPLES, (1,))[0] == 2:
        colour, alpha = img, _tiff_grey_alpha(buf, name)
    else:
        return img
    if kind == _ASSOCIATED_ALPHA:
        colour = _unpremultiply(colour, alpha)
    return np.dstack([colour, alpha])


def _unpremultiply(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``colour`` (HxW or HxWxC) stored multiplied by ``alpha`` (HxW, of the same dtype:
    integers opaque at their maximum, floats at 1) divided by it, as Pillow divides associated
    alpha out of 8-bit samples (and so as stock transformers sees such an image): value *
    maximum // alpha, at most the maximum; 0 where the alpha is 0 (no colour is left)."""
    a = alpha[..., None] if colour.ndim == 3 else alpha
    if np.issubdtype(colour.dtype, np.integer):
        top = int(np.iinfo(colour.dtype).max)
        wide, a = colour.astype(np.int64), a.astype(np.int64)
        out = np.minimum(wide * top // np.maximum(a, 1), top)
        return np.where(a > 0, out, 0).astype(colour.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, colour / a, 0).astype(colour.dtype)


# compressions of a strip's bytes whatever samples they hold (JPEG's are not): none, LZW,
# deflate, PackBits
_TIFF_BYTE_CODECS = frozenset({1, 5, 8, 32946, 32773})
# ... of those, the ones whose strips libtiff un-differences by the predictor (tag 317): LZW and
# deflate. Beside no compression or PackBits it ignores the tag, as Pillow does
_TIFF_PREDICTOR_CODECS = frozenset({5, 8, 32946})
_TIFF_WIDTH, _TIFF_HEIGHT, _TIFF_PREDICTOR = 256, 257, 317
_TIFF_TILE_WIDTH, _TIFF_TILE_LENGTH, _TIFF_SAMPLE_FORMAT = 322, 323, 339
_TIFF_ROWS_PER_STRIP = 278
# where the strips or the tiles are, and their lengths in bytes
_TIFF_STRIPS, _TIFF_TILES = (273, 279), (324, 325)
# the tags of a directory that `_tiff_samples` keeps: where the strips or tiles are and how
# they are compressed
_TIFF_KEPT_TAGS = frozenset({259, 273, 278, 279, 317, 322, 323, 324, 325})
# (bits, SampleFormat) of the samples `_tiff_samples` reads: unsigned integers and floats
_TIFF_SAMPLE_DTYPES: dict[tuple[int, int], np.dtype] = {
    (8, 1): np.dtype(np.uint8),
    (16, 1): np.dtype(np.uint16),
    (32, 3): np.dtype(np.float32),
    (64, 3): np.dtype(np.float64),
}


def _reads_extra_samples(entries: dict[int, tuple[int, int, int]]) -> bool:
    """Whether `_tiff_samples` is the reader of a TIFF: a grey (either photometric) with extra
    samples (OpenCV reads it through libtiff's RGBA interface: 8 bits a sample, the alpha
    dropped), or RGB with more than one (OpenCV refuses more than 4 samples)."""
    samples = entries.get(_TIFF_SAMPLES, (1,))[0]
    photometric = entries.get(_TIFF_PHOTOMETRIC, (-1,))[0]
    grey = photometric in (_PHOTOMETRIC_WHITE_IS_ZERO, 1)
    return (grey and samples > 1) or (photometric == _PHOTOMETRIC_RGB and samples > 4)


def _tiff_samples(data: bytes | bytearray) -> np.ndarray | None:
    """The colour (grey or RGB) of a TIFF that `_reads_extra_samples`, as stored (a WhiteIsZero
    grey inverted), and after it the first extra sample ExtraSamples marks alpha, by which
    the colour is divided where that is associated; None where its layout is not read here.
    OpenCV decodes it from copies whose first directory calls the samples grey images: each pixel's samples side
    by side in rows that many times as wide, or each plane on its own; the strips or tiles,
    their compression (none, LZW, deflate or PackBits) and predictor are the file's."""
    parsed = _tiff_first_directory(data)
    if parsed is None:
        return None
    found, order = parsed

    def values(tag: int) -> list[int]:
        return _tiff_values(data, found.get(tag), order)

    def first(tag: int, default: int) -> int:
        return (values(tag) or [default])[0]

    spp, w, h = first(_TIFF_SAMPLES, 1), first(_TIFF_WIDTH, 0), first(_TIFF_HEIGHT, 0)
    photometric = first(_TIFF_PHOTOMETRIC, -1)
    colour = 1 if photometric in (_PHOTOMETRIC_WHITE_IS_ZERO, 1) else 3
    bits = set(values(_TIFF_BITS)) or {1}
    dtype = _TIFF_SAMPLE_DTYPES.get((max(bits), first(_TIFF_SAMPLE_FORMAT, 1)))
    compression, predictor = first(_TIFF_COMPRESSION, 1), first(_TIFF_PREDICTOR, 1)
    planar = first(_TIFF_PLANAR, 1)
    tiled = _TIFF_TILE_WIDTH in found
    if (
        compression not in _TIFF_BYTE_CODECS
        or len(bits) > 1
        or dtype is None
        or predictor not in (1, 2)
        or photometric not in (_PHOTOMETRIC_WHITE_IS_ZERO, 1, _PHOTOMETRIC_RGB)
        or (dtype.kind == "f" and (predictor == 2 or photometric == _PHOTOMETRIC_WHITE_IS_ZERO))
        or not (w > 0 and h > 0)
    ):
        return None
    grey: dict[int, int | list[int]] = {
        _TIFF_WIDTH: w,
        _TIFF_HEIGHT: h,
        _TIFF_BITS: dtype.itemsize * 8,
        _TIFF_PHOTOMETRIC: 1,
        _TIFF_SAMPLES: 1,
        _TIFF_PLANAR: 1,
        _TIFF_SAMPLE_FORMAT: 3 if dtype.kind == "f" else 1,
    }
    if planar == 1:
        tile_w = first(_TIFF_TILE_WIDTH, 0) if tiled else w
        # horizontal differencing runs over each sample's own values: undone below
        side_by_side = {**grey, _TIFF_WIDTH: w * spp, _TIFF_PREDICTOR: 1}
        if tiled:
            side_by_side[_TIFF_TILE_WIDTH] = tile_w * spp
        img = _tiff_as_grey(data, found, side_by_side)
        if img is None or img.dtype != dtype or img.size != w * h * spp or tile_w < 1:
            return None
        samples = img.reshape(h, w, spp)
        if predictor == 2 and compression in _TIFF_PREDICTOR_CODECS:
            # the differencing starts again at each strip's row, and each tile's
            samples = np.concatenate(
                [
                    np.cumsum(samples[:, x : x + tile_w], axis=1, dtype=samples.dtype)
                    for x in range(0, w, tile_w)
                ],
                axis=1,
            )
    else:
        # each plane on its own: a plane's last strip (or row of tiles) may be short, so the
        # planes one above the other would not be one image's strips
        offsets_tag, counts_tag = _TIFF_TILES if tiled else _TIFF_STRIPS
        offsets, counts = values(offsets_tag), values(counts_tag)
        if not offsets or len(offsets) != len(counts) or len(offsets) % spp:
            return None
        k = len(offsets) // spp
        planes = []
        for s in range(spp):
            img = _tiff_as_grey(
                data,
                found,
                {
                    **grey,
                    offsets_tag: offsets[s * k : (s + 1) * k],
                    counts_tag: counts[s * k : (s + 1) * k],
                },
            )
            if img is None or img.dtype != dtype or img.shape != (h, w):
                return None
            planes.append(img)
        samples = np.stack(planes, axis=-1)
    out = samples[..., :colour]
    if photometric == _PHOTOMETRIC_WHITE_IS_ZERO:
        out = np.iinfo(dtype).max - out
    extras = values(_TIFF_EXTRA_SAMPLES)[: spp - colour]
    alpha = next((i for i, kind in enumerate(extras) if kind in (1, 2)), None)
    if alpha is None:
        return np.ascontiguousarray(out[..., 0] if colour == 1 else out)
    opacity = samples[..., colour + alpha]
    if extras[alpha] == _ASSOCIATED_ALPHA:
        out = _unpremultiply(out, opacity)
    return np.ascontiguousarray(np.dstack([out, opacity]))


# FillOrder (tag 266): the bits of each byte from the most significant (1) or the least (2)
_TIFF_FILL_ORDER = 266


def _tiff_low_bit_grey(data: bytes | bytearray) -> np.ndarray | None:
    """The 8-bit grey of a TIFF of one 2- or 4-bit grey sample a pixel (either photometric), as
    libtiff scales it (value * 255 / (2**bits - 1), a WhiteIsZero one inverted), without
    Pillow: OpenCV 5 takes such a grey for a palette image and refuses it. OpenCV decodes a
    copy whose first directory calls each row's bytes 8-bit grey pixels (the strips or tiles
    and their compression the file's), which are then unpacked. None where the layout is not
    read here: a compression other than none, LZW, deflate or PackBits, or a predictor libtiff
    would apply (it refuses one below 8 bits)."""
    parsed = _tiff_first_directory(data)
    if parsed is None:
        return None
    found, order = parsed

    def first(tag: int, default: int) -> int:
        return (_tiff_values(data, found.get(tag), order) or [default])[0]

    bits = set(_tiff_values(data, found.get(_TIFF_BITS), order)) or {1}
    compression, w, h = first(_TIFF_COMPRESSION, 1), first(_TIFF_WIDTH, 0), first(_TIFF_HEIGHT, 0)
    photometric, tiled = first(_TIFF_PHOTOMETRIC, -1), _TIFF_TILE_WIDTH in found
    tile_w = first(_TIFF_TILE_WIDTH, 0) if tiled else w
    if (
        len(bits) != 1
        or (n := bits.pop()) not in (2, 4)
        or first(_TIFF_SAMPLES, 1) != 1
        or photometric not in (_PHOTOMETRIC_WHITE_IS_ZERO, 1)
        or compression not in _TIFF_BYTE_CODECS
        or (compression in _TIFF_PREDICTOR_CODECS and first(_TIFF_PREDICTOR, 1) != 1)
        or (fill_order := first(_TIFF_FILL_ORDER, 1)) not in (1, 2)
        or not (w > 0 and h > 0 and tile_w > 0)
        or (tiled and tile_w * n % 8)
    ):
        return None
    row = -(-w * n // 8)  # each row starts on a byte
    replaced: dict[int, int | list[int]] = {
        _TIFF_WIDTH: row,
        _TIFF_HEIGHT: h,
        _TIFF_BITS: 8,
        _TIFF_PHOTOMETRIC: 1,
        _TIFF_SAMPLES: 1,
        _TIFF_PLANAR: 1,
        _TIFF_SAMPLE_FORMAT: 1,
        # libtiff reverses the bits of each byte it reads of a FillOrder 2 file, 8-bit too
        _TIFF_FILL_ORDER: fill_order,
    }
    if tiled:
        replaced[_TIFF_TILE_WIDTH] = tile_w * n // 8
    packed = _tiff_as_grey(data, found, replaced)
    if packed is None or packed.dtype != np.uint8 or packed.shape != (h, row):
        return None
    values = np.unpackbits(packed, axis=1).reshape(h, row * 8 // n, n)[:, :w]
    grey = (values @ (1 << np.arange(n - 1, -1, -1))).astype(np.uint8) * np.uint8(
        255 // ((1 << n) - 1)
    )
    return 255 - grey if photometric == _PHOTOMETRIC_WHITE_IS_ZERO else grey


def _tiff_as_grey(
    data: bytes | bytearray, found: dict[int, _TiffEntry], replaced: dict[int, int | list[int]]
) -> np.ndarray | None:
    """OpenCV's pixels of a TIFF's bytes with a first directory of its own appended: the
    `_TIFF_KEPT_TAGS` entries of ``found`` (the file's first directory) as the file holds
    them, and ``replaced``'s values; None where OpenCV cannot decode that, or the values do
    not fit their fields (sides of a damaged directory)."""
    buf = _tiff_with_directory(data, found, found.keys() & _TIFF_KEPT_TAGS, replaced)
    return None if buf is None else _imdecode(buf, quiet=True)


def _tiff_with_directory(
    data: bytes | bytearray,
    found: dict[int, _TiffEntry],
    kept: set[int],
    replaced: dict[int, int | list[int]],
) -> bytearray | None:
    """A TIFF's bytes with a first directory of their own appended: the ``kept`` entries of
    ``found`` (the file's first directory) as the file holds them, and ``replaced``'s values;
    None where those do not fit their fields (sides of a damaged directory)."""
    at = len(data) + len(data) % 2
    ifd = _tiff_appended_directory(data, found, kept, replaced, at)
    if ifd is None:
        return None
    buf = bytearray(data) + bytes(at - len(data)) + ifd
    _tiff_point_at(buf, at)
    return buf


def _tiff_appended_directory(
    data: bytes | bytearray,
    found: dict[int, _TiffEntry],
    kept: set[int],
    replaced: dict[int, int | list[int]],
    at: int,
    next_directory: int = 0,
) -> bytes | None:
    """The bytes of `_tiff_with_directory`'s directory (and the values that do not fit its
    fields) when placed at ``at``, followed by ``next_directory`` (0: the last); None where
    the values do not fit their fields."""
    big = data[2:4] in (b"+\x00", b"\x00+")
    o = "<" if data[:2] == b"II" else ">"
    word = "Q" if big else "I"
    field, count_size, entry_size = (8, 8, 20) if big else (4, 2, 12)
    tags = sorted(replaced.keys() | kept)
    tail_at = at + count_size + entry_size * len(tags) + field
    ifd, tail = struct.pack(o + ("Q" if big else "H"), len(tags)), b""
    try:
        for tag in tags:
            if tag not in replaced:
                pos = found[tag].pos
                ifd += data[pos : pos + entry_size]
                continue
            value = replaced[tag]
            # one value a LONG, as libtiff takes for every such tag; a list (strip or tile
            # offsets and byte counts) as wide as the file's offsets
            vals, code = ([value], "I") if isinstance(value, int) else (value, word)
            packed = struct.pack(o + code * len(vals), *vals)
            if len(packed) > field:
                packed, tail = struct.pack(o + word, tail_at + len(tail)), tail + packed
            kind = 4 if code == "I" else 16
            ifd += struct.pack(o + "HH" + word, tag, kind, len(vals)) + packed.ljust(field, b"\0")
        struct.pack(o + word, at)  # the header's pointer to it fits
    except struct.error:
        return None
    return ifd + struct.pack(o + word, next_directory) + tail


def _tiff_point_at(buf: bytearray, at: int) -> None:
    """Point the header of the TIFF ``buf`` (classic or BigTIFF) at its first directory ``at``."""
    big = buf[2:4] in (b"+\x00", b"\x00+")
    o = "<" if buf[:2] == b"II" else ">"
    buf[slice(8, 16) if big else slice(4, 8)] = struct.pack(o + ("Q" if big else "I"), at)


# libtiff (4.5 on) reads an uncompressed tile of a file it has not mapped (OpenCV decodes from
# memory) into a buffer of the tile's byte count rounded up to this, and refuses the tile unless
# that is the tile's size: read through the RGBA interface, as OpenCV reads samples of 8 bits or
# fewer, a 16x16 grey tile (256 bytes) fails ("Expected 256, got 1024"), though imread maps the
# file and reads it
_LIBTIFF_READ_BUFFER_STEP = 1024
_TIFF_TILE_TAGS = frozenset({_TIFF_TILE_WIDTH, _TIFF_TILE_LENGTH, *_TIFF_TILES})
# the largest image OpenCV decodes (its default CV_IO_MAX_IMAGE_WIDTH, _HEIGHT and _PIXELS)
# and the bytes of such an image of 8-bit RGBA: the most `_untiled` writes out, as tiles may
# share their bytes and a small file claim any number of them
_OPENCV_MAX_SIDE, _OPENCV_MAX_PIXELS = 1 << 20, 1 << 30
_OPENCV_MAX_BYTES = 4 * _OPENCV_MAX_PIXELS


def _untiled(data: bytes | bytearray) -> bytes | bytearray:
    """A TIFF's bytes with the uncompressed tiles (of samples of 8 bits or fewer) that OpenCV
    cannot decode from memory moved into strips of a first directory of their own, one strip a
    row of tiles (and plane), its other entries as the file holds them: OpenCV decodes those
    pixels as it does the tiles of a file it reads by name. ``data`` itself for every other
    TIFF, where a tile lies past the end of the file or is shorter than its pixels, and where
    the image is larger than OpenCV decodes."""
    parsed = _tiff_first_directory(data)
    if parsed is None or _TIFF_TILE_WIDTH not in parsed[0]:
        return data
    found, order = parsed

    def first(tag: int, default: int) -> int:
        return (_tiff_values(data, found.get(tag), order) or [default])[0]

    bits = set(_tiff_values(data, found.get(_TIFF_BITS), order)) or {1}
    if (
        first(_TIFF_COMPRESSION, 1) != 1
        or len(bits) > 1
        or max(bits) > 8
        # subsampled YCbCr is stored in blocks of rows, not row by row
        or first(_TIFF_PHOTOMETRIC, -1) == _PHOTOMETRIC_YCBCR
    ):
        return data
    w, h = first(_TIFF_WIDTH, 0), first(_TIFF_HEIGHT, 0)
    tw, tl = first(_TIFF_TILE_WIDTH, 0), first(_TIFF_TILE_LENGTH, 0)
    spp = first(_TIFF_SAMPLES, 1)
    planes, bpp = (
        (spp, max(bits)) if first(_TIFF_PLANAR, 1) == _PLANAR_SEPARATE else (1, max(bits) * spp)
    )
    offsets = _tiff_values(data, found.get(_TIFF_TILES[0]), order)
    counts = _tiff_values(data, found.get(_TIFF_TILES[1]), order)
    if min(w, h, tw, tl) < 1 or tw * bpp % 8:
        return data  # a tile width TIFF 6 forbids (not a multiple of 16): rows end in a byte
    across, down = -(-w // tw), -(-h // tl)
    row = tw * bpp // 8
    size = row * tl
    # each row of the image ends where its first ceil(w * bpp / 8) bytes do: the tile rows
    # side by side hold its samples in order, and what follows them is padding
    width = -(-w * bpp // 8)
    step = _LIBTIFF_READ_BUFFER_STEP
    if (
        len(offsets) != across * down * planes
        or len(counts) != len(offsets)
        or all(-(-n // step) * step == size for n in counts)
        or min(counts) < size
        or max(offsets) + size > len(data)
        or max(w, h) > _OPENCV_MAX_SIDE
        or w * h > _OPENCV_MAX_PIXELS
        or planes * h * width > _OPENCV_MAX_BYTES
    ):
        return data
    start = len(data) + len(data) % 2
    end = start + planes * h * width
    at = end + end % 2
    strips = range(0, h, tl)
    ifd = _tiff_appended_directory(
        data,
        found,
        found.keys() - _TIFF_TILE_TAGS,
        {
            _TIFF_STRIPS[0]: [start + (p * h + y) * width for p in range(planes) for y in strips],
            _TIFF_ROWS_PER_STRIP: tl,
            _TIFF_STRIPS[1]: [min(tl, h - y) * width for _ in range(planes) for y in strips],
        },
        at,
        # the file's later pages follow, as they follow the directory it replaces
        next(iter(_tiff_pages(data)), _TiffPage(0, 0, {})).next,
    )
    if ifd is None:
        return data
    # the strips are written where they go, a row of tiles at a time: the file's bytes and the
    # image's once each, whatever the tiles' order in the file
    buf = bytearray(at + len(ifd))
    # through a memoryview: a bytearray's slice assigned bytes copies them first
    with memoryview(buf) as view:
        view[: len(data)] = data
        view[at:] = ifd
    _tiff_point_at(buf, at)
    raw = np.frombuffer(data, np.uint8)
    image = np.frombuffer(buf, np.uint8, planes * h * width, start).reshape(planes, h, width)
    for i in range(planes * down):
        p, y = divmod(i, down)
        tiles = np.stack([raw[o : o + size] for o in offsets[i * across : (i + 1) * across]])
        rows = tiles.reshape(across, tl, row).transpose(1, 0, 2).reshape(tl, across * row)
        image[p, y * tl : (y + 1) * tl] = rows[: h - y * tl, :width]
    return buf


def _tiff_grey_alpha(buf: bytes | bytearray, name: str) -> np.ndarray:
    """The alpha of a grey TIFF with an alpha sample (which OpenCV decodes as its grey
    alone), read by Pillow from ``buf``, pixels as stored; a one-line InputError without
    Pillow, or where Pillow does not read it as grey and alpha (16-bit samples). Only layouts
    `_tiff_samples` does not read come here (JPEG compression, for one)."""
    what = f"image {name!r} is a grey TIFF with alpha, which OpenCV reads without it"
    try:
        from PIL import Image
    except ImportError:
        raise InputError(
            f"{what} (its transparency would not come out white); install Pillow to read it, "
            "or save it as PNG"
        ) from None
    try:
        with Image.open(io.BytesIO(buf)) as im:
            if im.mode in ("LA", "La"):
                return np.asarray(im.getchannel(1))
            mode = im.mode
    except Exception as exc:  # Pillow raises many types for a file it cannot read
        raise InputError(
            f"{what}, and Pillow here cannot read it ({type(exc).__name__}: {exc}); save it as PNG"
        ) from None
    raise InputError(f"{what}, and Pillow reads it as mode {mode!r}, not grey and alpha")


def _imdecode(buf: bytes | bytearray, *, quiet: bool) -> np.ndarray | None:
    """cv2.imdecode keeping depth and channels; ``quiet`` keeps OpenCV's log lines (several
    per file from a decoder that lacks the codec) off the terminal."""
    raw = np.frombuffer(buf, np.uint8)
    try:
        if not quiet:
            img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
        else:
            log = cv2.utils.logging
            with _OPENCV_LOG_LOCK:
                level = log.getLogLevel()
                log.setLogLevel(log.LOG_LEVEL_SILENT)
                try:
                    img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
                finally:
                    log.setLogLevel(level)
    except cv2.error:
        return None
    return None if img is None or img.size == 0 else img


# Pillow modes whose arrays `_normalise_image` takes as they are (LA and RGBA: straight alpha
# last); others are made RGB or grey
_PILLOW_MODES = frozenset({"L", "LA", "RGB", "RGBA", "I;16", "I;16L", "I;16B", "I;16N", "I", "F"})


# Pillow (13 and before) takes a big-endian BigTIFF for a classic TIFF (it tells BigTIFF by the
# version's first byte, 0 in big-endian order) and cannot open it
_BIG_ENDIAN_BIGTIFF = b"MM\x00+"


def _big_endian_bigtiff_refusal(name: str, what: str) -> InputError:
    return InputError(
        f"image {name!r} is a big-endian BigTIFF ('MM', version 43) with {what}, which OpenCV "
        "here cannot decode and Pillow cannot open (it reads BigTIFF little-endian only); save "
        "it little-endian or as classic TIFF (libtiff's tiffcp -L writes it little-endian)"
    )


def _pillow_tiff(data: bytes | bytearray, name: str, what: str, bits: int) -> np.ndarray | None:
    """The pixels of a TIFF (with orientation 1) by Pillow, as stored and in RGB order; None
    without Pillow (a big-endian BigTIFF, which installing it would not read, is refused)."""
    try:
        from PIL import Image
    except ImportError:
        if data[:4] == _BIG_ENDIAN_BIGTIFF:
            raise _big_endian_bigtiff_refusal(name, what) from None
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except Exception as exc:  # Pillow raises many types for files it cannot decode
        if data[:4] == _BIG_ENDIAN_BIGTIFF:
            raise _big_endian_bigtiff_refusal(name, what) from None
        raise InputError(
            f"image {name!r} is a TIFF with {what}, which neither OpenCV nor Pillow here "
            f"decodes ({type(exc).__name__}: {exc})"
        ) from None
    if im.mode == "1":
        return np.asarray(im, dtype=np.uint8) * np.uint8(255)  # as OpenCV reads bilevel
    if bits > 8 and im.mode in ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB"):
        # Pillow keeps 8 bits of each colour sample; the other images keep their depth
        raise InputError(
            f"image {name!r} is a {bits}-bit colour TIFF with {what}: OpenCV here cannot "
            f"decode that compression and Pillow reads {bits}-bit colour as 8 bits; save it "
            "with LZW or deflate compression"
        )
    try:
        if im.mode == "La":
            # premultiplied, which Pillow cannot convert: divided out as OpenCV's reading is
            la = np.asarray(im)
            return np.dstack([_unpremultiply(la[..., 0], la[..., 1]), la[..., 1]])
        if im.mode not in _PILLOW_MODES:
            # with any transparency (RGBa divided by its alpha), as transformers' processors
            # convert an image to RGB
            see_through = "transparency" in im.info or bool({"A", "a"} & set(im.getbands()))
            im = im.convert("RGBA" if see_through else "RGB")
    except ValueError as exc:
        raise InputError(
            f"image {name!r} is a TIFF with {what} whose {im.mode} pixels Pillow here cannot "
            f"turn into grey or RGB ({exc})"
        ) from None
    arr = np.asarray(im)
    return arr.astype(arr.dtype.newbyteorder("=")) if arr.dtype.byteorder == ">" else arr


# -- EXIF orientation ----------------------------------------------------------------------------
# Every image reader of the toolkit (simulate's --image, --pair and frame folders, the dataset
# builder's files and parquet bytes, epvlm run) decodes the stored pixels and then applies this
# one rule, as phones' viewers and Pillow's ImageOps.exif_transpose do. OpenCV alone would not
# agree with itself: its colour read applies the tag and its IMREAD_UNCHANGED read (which keeps
# depth and alpha) does not, so events and the frame beside them came out rotated differently.
_EXIF_ORIENTATION_TAG = 0x0112
# the bytes of a file read to find its EXIF block: JPEG and PNG put it before the pixels, within
# the first few KiB unless large segments (ICC profiles, thumbnails) come first; reading a whole
# frame for it would cost a frame folder 4-8 % of its decode time
_EXIF_FIRST_BYTES = 1 << 16
_EXIF_SEARCH_BYTES = 1 << 20


class _Truncated(Exception):
    """The header walk ran past the bytes read before it found the EXIF block or the pixels."""


def exif_orientation(source: str | os.PathLike | bytes) -> int:
    """The EXIF orientation (1..8) of a JPEG, PNG, WebP or TIFF file or its bytes; 1 (upright)
    when the image has none, another format, or an unreadable EXIF block."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _orientation_of(bytes(source[:_EXIF_SEARCH_BYTES]))
    try:
        with open(source, "rb") as fh:
            head = fh.read(_EXIF_FIRST_BYTES)
            if len(head) == _EXIF_FIRST_BYTES:
                try:
                    return _orientation_of(head, complete=False)
                except _Truncated:
                    head += fh.read(_EXIF_SEARCH_BYTES - _EXIF_FIRST_BYTES)
    except OSError:
        return 1
    return _orientation_of(head)


def _orientation_of(head: bytes, *, complete: bool = True) -> int:
    """The orientation in a file's first bytes; with ``complete=False``, _Truncated when they
    end before the walk could tell."""
    try:
        tiff = _exif_block(head)
        value = _tiff_orientation(tiff) if tiff else 1
    except _Truncated:
        if complete:
            return 1
        raise
    except (IndexError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def _exif_block(head: bytes) -> bytes | None:
    """The TIFF-structured EXIF data of an image file's first bytes, or None."""
    if head[:4] in TIFF_SIGNATURES:
        return head
    if head[:2] == b"\xff\xd8":  # JPEG: segments up to the first scan
        pos = 2
        while pos + 4 <= len(head) and head[pos] == 0xFF:
            marker = head[pos + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                pos += 2
                continue
            if marker in (0xDA, 0xD9):
                return None
            length = int.from_bytes(head[pos + 2 : pos + 4], "big")
            body = head[pos + 4 : pos + 2 + length]
            if marker == 0xE1 and body.startswith(b"Exif\x00\x00"):
                if len(body) < length - 2:
                    raise _Truncated
                return body[6:]
            pos += 2 + length
        if pos + 4 > len(head):
            raise _Truncated
        return None
    if head[:8] == b"\x89PNG\r\n\x1a\n":  # PNG: chunks up to the pixels, as OpenCV reads
        pos = 8
        while pos + 8 <= len(head):
            length = int.from_bytes(head[pos : pos + 4], "big")
            kind = head[pos + 4 : pos + 8]
            if kind in (b"IDAT", b"IEND"):
                return None
            if kind == b"eXIf":
                if pos + 8 + length > len(head):
                    raise _Truncated
                return head[pos + 8 : pos + 8 + length]
            pos += 12 + length
        raise _Truncated
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        pos = 12
        while pos + 8 <= len(head):
            kind = head[pos : pos + 4]
            length = int.from_bytes(head[pos + 4 : pos + 8], "little")
            if kind == b"EXIF":
                if pos + 8 + length > len(head):
                    raise _Truncated
                body = head[pos + 8 : pos + 8 + length]
                return body[6:] if body.startswith(b"Exif\x00\x00") else body
            pos += 8 + length + (length & 1)
        raise _Truncated
    return None


def _is_tiff(source: str | os.PathLike | bytes) -> bool:
    if isinstance(source, (bytes, bytearray, memoryview)):
        head = bytes(source[:4])
    else:
        try:
            with open(source, "rb") as fh:
                head = fh.read(4)
        except OSError:
            return False
    return head in TIFF_SIGNATURES


@functools.cache
def _opencv_orients_tiff(value: int) -> bool:
    """Whether this OpenCV's TIFF decoder turns the pixels by orientation ``value`` itself, as
    5.0 does for 2..4 with every imread flag (5..8 it cannot decode): applied again, they would
    come back as stored. Told by decoding a 2x2 TIFF tagged so."""
    # 2x2, 8-bit grey, uncompressed, one strip of 4 bytes at 134 (after this 10-entry
    # directory)
    tags: tuple[tuple[int, int], ...] = (
        (256, 2), (257, 2), (258, 8), (259, 1), (262, 1), (273, 134), (274, value),
        (277, 1), (278, 2), (279, 4),
    )  # fmt: skip
    ifd = b"".join(
        struct.pack("<HHII", tag, 4, 1, v)
        if tag in (273, 279)
        else struct.pack("<HHIHH", tag, 3, 1, v, 0)
        for tag, v in tags
    )
    stored = np.array([[0, 1], [2, 3]], np.uint8)
    data = b"II*\x00" + struct.pack("<IH", 8, len(tags)) + ifd + bytes(4) + stored.tobytes()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return (
        value != 1
        and img is not None
        and np.array_equal(img, apply_exif_orientation(stored, value))
    )


def _tiff_orientation(tiff: bytes) -> int:
    """The orientation entry of a TIFF structure's first directory (1 when absent)."""
    return _tiff_directory(tiff).get(_EXIF_ORIENTATION_TAG, (1, 0, 0))[0]


# bytes of a value of each TIFF field type: BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE,
# UNDEFINED, SSHORT, SLONG, SRATIONAL, FLOAT, DOUBLE, IFD, and BigTIFF's LONG8, SLONG8, IFD8
_TIFF_TYPE_SIZES = {
    1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
    16: 8, 17: 8, 18: 8,
}  # fmt: skip
# the types whose values are read: SHORT, LONG and LONG8
_TIFF_UINT_TYPES = frozenset({3, 4, 16})


class _TiffEntry(NamedTuple):
    tag: int
    kind: int
    n: int
    #: where its values are: in the entry's value field where they fit, else where that points
    at: int
    #: where the entry is
    pos: int


def _tiff_entries(tiff: bytes | bytearray) -> list[_TiffEntry]:
    """The entries of a TIFF structure's first directory (classic or BigTIFF) of known types
    and at least one value; empty when ``tiff`` is no TIFF."""
    order = _tiff_byte_order(tiff)
    if order is None:
        return []
    # BigTIFF (version 43): 8-byte offsets and counts, 20-byte entries with 8-byte values
    big = int.from_bytes(tiff[2:4], order) == 43
    word = 8 if big else 4
    count_size, entry_size = (8, 20) if big else (2, 12)
    ifd = int.from_bytes(tiff[8:16] if big else tiff[4:8], order)
    if ifd + count_size > len(tiff):
        raise _Truncated  # a TIFF file may keep its directory after the pixels
    count = int.from_bytes(tiff[ifd : ifd + count_size], order)
    entries = []
    for i in range(count):
        pos = ifd + count_size + entry_size * i
        entry = tiff[pos : pos + entry_size]
        if len(entry) < entry_size:
            break
        kind = int.from_bytes(entry[2:4], order)
        size = _TIFF_TYPE_SIZES.get(kind)
        n = int.from_bytes(entry[4 : 4 + word], order)
        if size is None or n < 1:
            continue
        field = pos + 4 + word
        at = field if size * n <= word else int.from_bytes(tiff[field : field + word], order)
        entries.append(_TiffEntry(int.from_bytes(entry[:2], order), kind, n, at, pos))
    return entries


class _TiffPage(NamedTuple):
    #: where its directory is, and the offset of the next one that it holds (0: the last)
    at: int
    next: int
    #: the first value of its SHORT, LONG and LONG8 entries of `_TIFF_PAGE_TAGS`
    values: dict[int, int]


# NewSubfileType (a bit field: 1 a reduced-resolution copy of another page, 4 a transparency
# mask), the older SubfileType (2: a reduced-resolution copy), ImageDescription and the size
_TIFF_NEW_SUBFILE_TYPE, _TIFF_SUBFILE_TYPE, _TIFF_DESCRIPTION = 254, 255, 270
_TIFF_PAGE_TAGS = frozenset({_TIFF_NEW_SUBFILE_TYPE, _TIFF_SUBFILE_TYPE, 256, 257})
# libtiff takes a directory of more entries for a bad offset ("Sanity check on directory
# count failed"): a BigTIFF's 8-byte count could otherwise have a damaged stack of many GB
# read GBs as one directory
_TIFF_MAX_ENTRIES = 4096


def _tiff_pages(tiff: bytes | bytearray | _FileBytes) -> list[_TiffPage]:
    """The directories of a TIFF structure (classic or BigTIFF) from the header's on, each
    pointing at the next: up to one that lies past the end of ``tiff`` or was met before."""
    order = _tiff_byte_order(tiff)
    if order is None or len(tiff) < 16:
        return []
    big = int.from_bytes(tiff[2:4], order) == 43
    word = 8 if big else 4
    count_size, entry_size = (8, 20) if big else (2, 12)
    at = int.from_bytes(tiff[8:16] if big else tiff[4:8], order)
    pages: list[_TiffPage] = []
    seen: set[int] = set()
    while at and at not in seen and at + count_size <= len(tiff):
        seen.add(at)
        count = int.from_bytes(tiff[at : at + count_size], order)
        end = count_size + entry_size * count
        if count > _TIFF_MAX_ENTRIES or at + end + word > len(tiff):
            break
        # one read a directory: a stack of a file (`_FileBytes`) has thousands
        ifd = tiff[at : at + end + word]
        values: dict[int, int] = {}
        for pos in range(count_size, end, entry_size):
            tag = int.from_bytes(ifd[pos : pos + 2], order)
            kind = int.from_bytes(ifd[pos + 2 : pos + 4], order)
            if tag in _TIFF_PAGE_TAGS and kind in _TIFF_UINT_TYPES:
                field = pos + 4 + word  # one value of these fits the entry's value field
                size = _TIFF_TYPE_SIZES[kind]
                values.setdefault(tag, int.from_bytes(ifd[field : field + size], order))
        pages.append(_TiffPage(at, int.from_bytes(ifd[end : end + word], order), values))
        at = pages[-1].next
    return pages


def _tiff_page_size(page: _TiffPage) -> tuple[int | None, int | None]:
    """A page's (width, height) as its directory says (None where it does not)."""
    return page.values.get(256), page.values.get(257)


def _reduced_copy(size: tuple[int | None, int | None], of: tuple[int | None, int | None]) -> bool:
    """Whether a page of ``size`` is a reduced copy of one of size ``of``: smaller by one
    factor of 2 or more both ways, to a pixel (a camera's thumbnail that no NewSubfileType
    flags; a page of another shape is an image of its own)."""
    (w, h), (full_w, full_h) = size, of
    if not (w and h and full_w and full_h) or 2 * w > full_w or 2 * h > full_h:
        return False
    return abs(full_h * w / full_w - h) <= 1 and abs(full_w * h / full_h - w) <= 1


def _tiff_full_pages(pages: list[tuple[int, _TiffPage]]) -> list[tuple[int, _TiffPage]]:
    """The pages of a TIFF (``(index in the file, page)``) that are full-resolution images: no
    reduced-resolution copy (NewSubfileType bit 0, SubfileType 2) or mask (NewSubfileType bit
    2). Where the first full-resolution page is the only one of its size, an untagged
    `_reduced_copy` of it is taken for its thumbnail too (a camera's that no NewSubfileType
    flags); among several pages of that size, a smaller one is a frame of another size (a
    binning changed mid-stack), not left out. A pyramid's levels in SubIFDs are in no page's
    chain of directories."""
    full = [
        (k, p)
        for k, p in pages
        if not p.values.get(_TIFF_NEW_SUBFILE_TYPE, 0) & 0b101
        and p.values.get(_TIFF_SUBFILE_TYPE, 1) != 2
    ]
    if not full:
        return []
    size = _tiff_page_size(full[0][1])
    if sum(_tiff_page_size(p) == size for _, p in full) > 1:
        return full
    return [(k, p) for k, p in full if not _reduced_copy(_tiff_page_size(p), size)]


def _tiff_stack_pages(
    pages: list[_TiffPage], ome: _OmeSeries | None
) -> list[tuple[int, _TiffPage]]:
    """The full-resolution pages (`_tiff_full_pages`) of a TIFF's first OME series (``ome``),
    or of the file where it is no OME-TIFF, with their index in the file. Of a series of z
    slices at several time points, those of its first z slice (`_ome_z_slice`)."""
    if ome is None or (ome.planes is None and _ome_z_slice(ome) is None):
        return _tiff_full_pages(list(enumerate(pages)))
    # without TiffData, directory k holds plane k
    planes = ome.planes if ome.planes is not None else {k: k for k in range(len(pages))}
    if _ome_z_slice(ome) is not None:
        planes = {k: p for k, p in planes.items() if p < math.prod(ome.sizes.values()) and ome.axis(p, "Z") == 0}  # fmt: skip
    return _tiff_full_pages([(k, pages[k]) for k in planes if k < len(pages)])


def _ome_z_slice(ome: _OmeSeries) -> int | None:
    """The z slice whose time series is read of an OME series of several z slices at several
    time points (its first), else None: its pages in plane order interleave the slices, and
    the events were of the focus changing as much as of anything moving."""
    return 0 if ome.sizes["Z"] > 1 and ome.sizes["T"] > 1 else None


class _TiffLayout(NamedTuple):
    """A TIFF's directories, read once where the file is opened."""

    pages: list[_TiffPage]
    #: the first page's entries (None where they run past the end of the file)
    head: list[_TiffField] | None
    ome: _OmeSeries | None
    #: the frames: `_tiff_stack_pages`
    numbered: list[tuple[int, _TiffPage]]

    @property
    def frames(self) -> int:
        """How many full-resolution images the TIFF holds (`numbered`: a stack's frames, a
        document's pages; of an OME-TIFF, those of its first series), or the ``images=`` of an
        ImageJ description (ImageJ writes a stack past 4 GiB with one directory and the frames
        after each other), whichever is more."""
        if not self.pages:
            return 1
        images = _imagej_images(_tiff_page_description(self.head or []))
        return max(len(self.numbered), images)


def _tiff_layout(
    tiff: bytes | bytearray | _FileBytes,
    what: str,
    *,
    one_page_ome: bool = False,
    look: bool = False,
) -> _TiffLayout:
    """The `_TiffLayout` of a TIFF, ``what`` naming its first page in messages. The OME-XML
    of a file of one page is parsed only where ``one_page_ome``: its page is its image
    whatever the XML says (a frame of a multi-file OME-TIFF carries the whole series'), and
    only a stack's timing and planes past its end need it. ``look``: the file is only looked
    at (`tiff_frame_count`), to be opened next, which reuses its parsed OME-XML; any other
    read drops that parse (`_parsed_ome_series`)."""
    pages = _tiff_pages(tiff)
    head = _tiff_page_entries(tiff, pages[0].at, what) if pages else None
    ome = None
    if len(pages) > 1 or (pages and one_page_ome):
        description = _tiff_page_description(head or [])
        ome = _ome_series(description, len(pages), _tiff_samples_per_pixel(tiff, head or []))
    if not look:
        # kept, the XML (up to 64 MiB) and its series (about 3 times that) outlived the file
        _parsed_ome_series.cache_clear()
    return _TiffLayout(pages, head, ome, _tiff_stack_pages(pages, ome))


def _tiff_file_layout(path: str | os.PathLike, *, look: bool = False) -> _TiffLayout | None:
    """The `_TiffLayout` of a TIFF file (``look`` as there), read without reading the file
    whole; None for a file of another kind or one that cannot be read."""
    try:
        with open(path, "rb") as fh:
            tiff = _FileBytes(fh)
            if tiff[:4] not in TIFF_SIGNATURES:
                return None
            return _tiff_layout(tiff, f"TIFF file {str(path)!r}", look=look)
    except OSError:
        return None


def tiff_frame_count(path: str | os.PathLike) -> int:
    """How many frames a TIFF file holds (see `TiffStackSource`): more than 1 for a stack (or
    a file of several images of different sizes, which `TiffStackSource` refuses); 1 for a
    single image, a file of another kind or one that cannot be read."""
    layout = _tiff_file_layout(path, look=True)
    return 1 if layout is None else layout.frames


class _FileBytes:
    """The bytes of an open file, read where sliced: a TIFF stack's directories and one page's
    pixels at a time, never the whole file (stacks run to many GB)."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._size = os.fstat(fh.fileno()).st_size

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, key: slice) -> bytes:
        start, stop, _ = key.indices(self._size)
        if stop <= start:
            return b""
        self._fh.seek(start)
        return self._fh.read(stop - start)


class _TiffField(NamedTuple):
    tag: int
    kind: int
    n: int
    #: its values as the file holds them
    value: bytes


# entries that point at structures of their own (SubIFDs; the Exif, GPS and interoperability
# directories), at the file's free space or at an old-style JPEG stream: left out of a page
# copied out of its file (`_tiff_page_file`), which holds none of them
_TIFF_POINTER_TAGS = frozenset({288, 289, 330, 513, 514, 34665, 34853, 40965})


# the most bytes of one entry's values read: a page's tags are a few KB, OME-XML runs to some MB
# and a big page's strip offsets to a few; a damaged count (a 4 GB description in a stack of
# many GB) would have that read into memory (and a description parsed as OME-XML)
_TIFF_MAX_VALUE_BYTES = 64 << 20
_TIFF_TAG_NAMES = {
    258: "BitsPerSample", 270: "ImageDescription", 273: "StripOffsets", 279: "StripByteCounts",
    305: "Software", 306: "DateTime", 320: "ColorMap", 324: "TileOffsets",
    325: "TileByteCounts", 700: "XMP", 33723: "IPTC", 34675: "ICCProfile",
}  # fmt: skip


def _tiff_page_entries(
    tiff: bytes | bytearray | _FileBytes, at: int, what: str = "TIFF file", keep: int = 0
) -> list[_TiffField] | None:
    """The entries of the directory at ``at`` of known types with their values, but
    `_TIFF_POINTER_TAGS` other than ``keep``; None where the directory or a value runs past
    the end of ``tiff``. An entry of more than `_TIFF_MAX_VALUE_BYTES` is refused, ``what``
    naming the page."""
    order = _tiff_byte_order(tiff)
    if order is None:
        return None
    big = int.from_bytes(tiff[2:4], order) == 43
    word = 8 if big else 4
    count_size, entry_size = (8, 20) if big else (2, 12)
    count = int.from_bytes(tiff[at : at + count_size], order)
    if count > _TIFF_MAX_ENTRIES or at + count_size + entry_size * count > len(tiff):
        return None
    ifd = tiff[at + count_size : at + count_size + entry_size * count]
    fields = []
    for pos in range(0, len(ifd), entry_size):
        tag, kind = (int.from_bytes(ifd[i : i + 2], order) for i in (pos, pos + 2))
        n = int.from_bytes(ifd[pos + 4 : pos + 4 + word], order)
        size = _TIFF_TYPE_SIZES.get(kind)
        if size is None or n < 1 or (tag in _TIFF_POINTER_TAGS and tag != keep):
            continue
        value = ifd[pos + 4 + word : pos + 4 + 2 * word]
        if size * n > word:
            start = int.from_bytes(value, order)
            if size * n > _TIFF_MAX_VALUE_BYTES:
                tag_name = f" ({_TIFF_TAG_NAMES[tag]})" if tag in _TIFF_TAG_NAMES else ""
                raise InputError(
                    f"{what}: its tag {tag}{tag_name} holds {size * n:,} bytes, more than the "
                    f"{_TIFF_MAX_VALUE_BYTES:,} eventsim reads of one tag (damaged?); re-save "
                    "the file"
                )
            if start + size * n > len(tiff):
                return None
            value = tiff[start : start + size * n]
        fields.append(_TiffField(tag, kind, n, bytes(value[: size * n])))
    return fields


def _tiff_field_values(field: _TiffField | None, order: Literal["little", "big"]) -> list[int]:
    """The values of a SHORT, LONG or LONG8 field; empty for another type, or no field."""
    if field is None or field.kind not in _TIFF_UINT_TYPES:
        return []
    size = _TIFF_TYPE_SIZES[field.kind]
    return [int.from_bytes(field.value[i : i + size], order) for i in range(0, len(field.value), size)]  # fmt: skip


def _tiff_samples_per_pixel(tiff: bytes | bytearray | _FileBytes, fields: list[_TiffField]) -> int:
    """A page's SamplesPerPixel (its entries'; 1 without one)."""
    found = next((f for f in fields if f.tag == _TIFF_SAMPLES), None)
    return max(1, (_tiff_field_values(found, _tiff_byte_order(tiff) or "little") or [1])[0])


def _tiff_page_description(fields: list[_TiffField]) -> bytes:
    """The ImageDescription (ASCII) of a page's entries; empty without one."""
    return next((f.value for f in fields if f.tag == _TIFF_DESCRIPTION and f.kind == 2), b"")


def _tiff_page_file(
    tiff: bytes | bytearray | _FileBytes, fields: list[_TiffField], name: str, shift: int = 0
) -> bytes | None:
    """A page of ``tiff`` (its `_tiff_page_entries`) as a TIFF file of its own, of the same byte
    order and kind (classic or BigTIFF), for the decoders of one-image files: its entries, their
    values and its strips or tiles, read ``shift`` bytes past where the page says (an ImageJ
    stack's later frames). None where the strips or tiles run past the end of ``tiff``; a page
    whose strips or tiles claim more bytes than its pixels can fill (`_tiff_page_most_bytes`)
    is refused as damaged (``name`` the page in words) before they are read."""
    order = _tiff_byte_order(tiff)
    if order is None:
        return None
    o = "<" if order == "little" else ">"
    big = int.from_bytes(tiff[2:4], order) == 43
    word, offset_kind = (8, 16) if big else (4, 4)
    count_size, entry_size = (8, 20) if big else (2, 12)
    found = {f.tag: f for f in fields}
    chunks: list[bytes] = []
    relocated = None  # the offsets' tag; none on a page without pixels (its decoder says so)
    for offsets_tag, counts_tag in (_TIFF_STRIPS, _TIFF_TILES):
        if offsets_tag in found and counts_tag in found:
            starts = _tiff_field_values(found[offsets_tag], order)
            lengths = _tiff_field_values(found[counts_tag], order)
            if any(start + shift + n > len(tiff) for start, n in zip(starts, lengths)):
                return None
            claimed, most = sum(lengths[: len(starts)]), _tiff_page_most_bytes(found, order)
            if claimed > most:
                raise InputError(
                    f"{name} is damaged: its {'strips' if offsets_tag == 273 else 'tiles'} "
                    f"claim {claimed:,} bytes, more than its pixels can fill (at most "
                    f"{most:,}); re-save the file"
                )
            for start, length in zip(starts, lengths):
                chunks.append(bytes(tiff[start + shift : start + shift + length]))
            # the new offsets, of the file's widest type: SHORT offsets could not reach them
            found[offsets_tag] = _TiffField(offsets_tag, offset_kind, len(chunks), bytes(word * len(chunks)))  # fmt: skip
            relocated = offsets_tag
            break
    fields = sorted(found.values())
    head = 16 if big else 8
    values_at = head + count_size + entry_size * len(fields) + word
    tail_at = values_at
    placed: dict[int, int] = {}
    for f in fields:
        if len(f.value) > word:
            placed[f.tag] = tail_at
            tail_at += len(f.value) + len(f.value) % 2
    if relocated is not None:
        chunk_at = list(itertools.accumulate((len(c) for c in chunks), initial=tail_at))[:-1]
        if not big and chunk_at and chunk_at[-1] + len(chunks[-1]) >= 1 << 32:
            raise InputError(f"{name} is 4 GiB or more, no frame eventsim reads")
        found_offsets = struct.pack(o + ("Q" if big else "I") * len(chunks), *chunk_at)
        fields = [f._replace(value=found_offsets) if f.tag == relocated else f for f in fields]
    mark = b"II" if order == "little" else b"MM"
    out = [mark + (struct.pack(o + "HHHQ", 43, 8, 0, head) if big else struct.pack(o + "HI", 42, head))]  # fmt: skip
    out.append(struct.pack(o + ("Q" if big else "H"), len(fields)))
    tail = []
    for f in fields:
        out.append(struct.pack(o + "HH" + ("Q" if big else "I"), f.tag, f.kind, f.n))
        if f.tag in placed:
            out.append(struct.pack(o + ("Q" if big else "I"), placed[f.tag]))
            tail.append(f.value + b"\0" * (len(f.value) % 2))
        else:
            out.append(f.value.ljust(word, b"\0"))
    out.append(bytes(word))  # the last directory
    return b"".join(out + tail + chunks)


def _tiff_page_most_bytes(found: dict[int, _TiffField], order: Literal["little", "big"]) -> int:
    """The most bytes a page's strips or tiles can take: 4 times its pixels uncompressed (its
    tiles or last strip padded to full size), each at least a byte, as no codec grows them
    that much (LZW 1.5 times at most; CCITT fax codes up to 9 bits for a 1-bit pixel of
    noise), and 1 MiB for JPEG's headers and tiny pages. A stack's file runs to many GB: a
    damaged byte count would have GBs read for a page of a few KB."""

    def first(tag: int, default: int) -> int:
        values = _tiff_field_values(found.get(tag), order)
        return values[0] if values and values[0] else default

    width, length, samples = first(256, 0), first(257, 0), first(277, 1)
    bits = _tiff_field_values(found.get(_TIFF_BITS), order) or [1]
    pixel_bits = max(8, sum(bits) if len(bits) == samples else max(bits) * samples)
    if _TIFF_TILES[0] in found:
        across, down = first(322, 1), first(323, 1)
        width, length = -(-width // across) * across, -(-length // down) * down
    else:
        rows = min(first(278, length), length) or 1
        length = -(-length // rows) * rows
    # each row of each plane starts on a byte (separate planes: a byte more a plane at most)
    return 4 * (-(-width * pixel_bits // 8) + samples) * length + (1 << 20)


def _imagej_value(description: bytes, key: str) -> str | None:
    """The value of ``key=`` in an ImageJ description (one ``key=value`` a line), or None
    where the description is no ImageJ one or lacks the key."""
    if not description.startswith(b"ImageJ="):
        return None
    found = re.search(rb"^" + key.encode() + rb"=([^\r\n\0]*)", description, re.MULTILINE)
    if found is None:
        return None
    try:
        return found.group(1).decode().strip()
    except UnicodeDecodeError:  # a unit in Latin-1 ('\xb5s')
        return found.group(1).decode("latin-1").strip()


def _imagej_images(description: bytes) -> int:
    """The ``images=`` of an ImageJ description (0 without it)."""
    images = _imagej_value(description, "images")
    return int(images) if images is not None and images.isdecimal() else 0


class _OmeSeries(NamedTuple):
    """What an OME-TIFF's OME-XML says of its first series (its first Image)."""

    #: the names of all its series (Image elements; "" where unnamed)
    names: list[str]
    #: the file's directories (by index) that hold the first series' planes, in plane order,
    #: each with its plane; None where the XML does not place them (all the file's directories)
    planes: dict[int, int] | None
    #: each plane's DeltaT in seconds, by plane (planes with none, or of a unit not known, absent)
    delta_t: dict[int, float]
    #: the DeltaTUnit of its first timed plane, as written
    delta_t_unit: str
    #: the first DeltaTUnit of a plane that is no unit of `_TIME_UNITS` ("" where none is)
    delta_t_unknown: str
    #: the files (FileName, or UUID) that hold the first series' planes that this one lacks
    elsewhere: list[str]
    #: the first series' planes it places (or, without TiffData, has) past the file's last
    #: directory, as ranges of planes (a plane placed twice, twice): a truncated file (or
    #: damaged XML)
    past_end: list[range]
    #: the first series' planes (SizeC in planes, SizeZ, SizeT) by axis
    sizes: dict[str, int]
    #: its DimensionOrder's last three axes, the fastest first ("CZT" of XYCZT)
    order: str

    def axis(self, plane: int, axis: str) -> int:
        """The index along ``axis`` ("C", "Z" or "T") of ``plane``."""
        stride = math.prod(self.sizes[a] for a in self.order[: self.order.index(axis)])
        return plane // stride % self.sizes[axis]

    def planes_past_end(self, z: int | None = None) -> int:
        """How many of `past_end` there are (of z slice ``z`` alone where given)."""
        if z is None:
            return sum(len(r) for r in self.past_end)
        stride = math.prod(self.sizes[a] for a in self.order[: self.order.index("Z")])
        period = stride * self.sizes["Z"]

        def below(n: int) -> int:  # planes < n of slice z
            return n // period * stride + min(max(0, n % period - z * stride), stride)

        return sum(below(r.stop) - below(r.start) for r in self.past_end)


def _xml_local(tag: str) -> str:
    """An ElementTree tag without its namespace ('{http://...}Pixels' -> 'Pixels')."""
    return tag.rpartition("}")[2]


def _xml_int(element: ET.Element, name: str, default: int) -> int:
    """An attribute as an integer >= 0, or ``default`` where absent or not one."""
    try:
        value = int(element.get(name, default))
    except ValueError:
        return default
    return value if value >= 0 else default


def _ome_series(description: bytes, n_pages: int, samples: int = 1) -> _OmeSeries | None:
    """The first series of an OME-XML ImageDescription (the first page's of a file of
    ``n_pages`` directories, of ``samples`` samples a pixel), or None where the description is
    none (or a fragment or damaged XML: the Pixels attributes are then read by pattern,
    `_stack_frame_interval`). Its size is capped by `_TIFF_MAX_VALUE_BYTES`."""
    if re.search(rb"<(?:\w+:)?OME\b", description) is None:
        return None
    # a DOCTYPE's entities expand a few KB of XML to GBs; OME-XML has none
    if b"<!DOCTYPE" in description or b"<!ENTITY" in description:
        return None
    return _parsed_ome_series(description, n_pages, samples)


# the last series parsed: a stack is looked at (`tiff_frame_count`) before it is opened
# (`TiffStackSource`, `read_image`), each reading its XML, which runs to some MB; the open
# drops it (`_tiff_layout`)
@functools.lru_cache(maxsize=1)
def _parsed_ome_series(description: bytes, n_pages: int, samples: int) -> _OmeSeries | None:
    """`_ome_series` of a description that may be OME-XML, parsed."""
    try:
        root = ET.fromstring(description.rstrip(b"\0"))
    except (ET.ParseError, LookupError):  # LookupError: an encoding Python does not know
        return None
    images = [e for e in root if _xml_local(e.tag) == "Image"]
    if _xml_local(root.tag) != "OME" or not images:
        return None
    pixels = next((e for e in images[0] if _xml_local(e.tag) == "Pixels"), None)
    if pixels is None:
        return None
    # a plane a Channel element; without them, SizeC counts an RGB page's samples each
    channels = sum(_xml_local(e.tag) == "Channel" for e in pixels)
    size_c = _xml_int(pixels, "SizeC", 1) or 1
    sizes = {
        "C": channels or (size_c // samples if size_c % samples == 0 else size_c),
        "Z": _xml_int(pixels, "SizeZ", 1) or 1,
        "T": _xml_int(pixels, "SizeT", 1) or 1,
    }
    order = pixels.get("DimensionOrder", "XYCZT")[2:]
    if sorted(order) != ["C", "T", "Z"]:
        order = "CZT"

    def plane(element: ET.Element, prefix: str) -> int:
        """The plane (its index in ``order``) that an element's FirstC/TheC... attributes name."""
        index, stride = 0, 1
        for axis in order:
            index += _xml_int(element, prefix + axis, 0) * stride
            stride *= sizes[axis]
        return index

    n_planes = sizes["C"] * sizes["Z"] * sizes["T"]
    delta_t: dict[int, float] = {}
    delta_t_unit = delta_t_unknown = ""
    for element in pixels:
        if _xml_local(element.tag) != "Plane" or element.get("DeltaT") is None:
            continue
        unit = element.get("DeltaTUnit", "s")  # OME's default unit
        scale = _time_unit(unit)
        if scale is None:
            delta_t_unknown = delta_t_unknown or unit
            continue
        try:
            seconds = float(element.get("DeltaT", "")) * scale
        except ValueError:
            continue
        if math.isfinite(seconds):
            delta_t.setdefault(plane(element, "The"), seconds)
            delta_t_unit = delta_t_unit or unit
    tiff_data = [e for e in pixels if _xml_local(e.tag) == "TiffData"]
    planes: dict[int, int] | None = None
    elsewhere: list[str] = []
    past_end = [] if tiff_data or len(images) > 1 else [range(n_pages, max(n_pages, n_planes))]
    if tiff_data or len(images) > 1:
        planes = {}
        if not tiff_data:  # the series' planes one after another, the first series' first
            tiff_data = [ET.Element("TiffData", {"PlaneCount": str(n_planes)})]
        # a directory holds a plane: damaged PlaneCounts place no more than the file has
        own, budget = root.get("UUID"), n_pages
        # the first TiffData to place a directory places it: the later ones' go first
        for element in reversed(tiff_data):
            uuid = next((e for e in element if _xml_local(e.tag) == "UUID"), None)
            if uuid is not None and own and (uuid.text or "").strip() not in ("", own):
                where = uuid.get("FileName") or (uuid.text or "").strip()
                if where not in elsewhere:
                    elsewhere.append(where)
                continue
            ifd, start = _xml_int(element, "IFD", 0), plane(element, "First")
            count = _xml_int(element, "PlaneCount", 1 if "IFD" in element.attrib else n_planes)
            count = max(0, min(count, n_planes - start))
            past_end.append(range(start + max(0, n_pages - ifd), start + max(count, n_pages - ifd)))
            count = max(0, min(count, n_pages - ifd, budget))
            budget -= count
            planes.update(zip(range(ifd, ifd + count), range(start, start + count)))
        elsewhere.reverse()
        planes = dict(sorted(planes.items(), key=lambda item: item[1]))
    names = [image.get("Name", "") for image in images]
    return _OmeSeries(
        names, planes, delta_t, delta_t_unit, delta_t_unknown, elsewhere, past_end, sizes, order
    )


def _tiff_first_directory(
    data: bytes | bytearray,
) -> tuple[dict[int, _TiffEntry], Literal["little", "big"]] | None:
    """The first directory's entries by tag, and the byte order; None where the structure
    cannot be read (the readers that ask then leave the file to OpenCV or Pillow)."""
    try:
        found = {e.tag: e for e in _tiff_entries(data)}
    except (_Truncated, IndexError, ValueError):
        return None
    order = _tiff_byte_order(data)
    return None if order is None else (found, order)


def _tiff_byte_order(tiff: bytes | bytearray | _FileBytes) -> Literal["little", "big"] | None:
    if tiff[:2] == b"II":
        return "little"
    return "big" if tiff[:2] == b"MM" else None


def _tiff_values(
    tiff: bytes | bytearray, entry: _TiffEntry | None, order: Literal["little", "big"]
) -> list[int]:
    """The values of a SHORT, LONG or LONG8 entry of a TIFF structure (those in the file);
    empty for another type, or no entry."""
    if entry is None or entry.kind not in _TIFF_UINT_TYPES:
        return []
    size = _TIFF_TYPE_SIZES[entry.kind]
    raw = tiff[entry.at : entry.at + size * entry.n]
    return [int.from_bytes(raw[i : i + size], order) for i in range(0, len(raw), size)]


def _tiff_directory(tiff: bytes | bytearray) -> dict[int, tuple[int, int, int]]:
    """The SHORT, LONG and LONG8 entries of a TIFF structure's first directory (classic or
    BigTIFF): {tag: (first value, offset of that value, its size in bytes)}; empty when
    ``tiff`` is no TIFF."""
    order = _tiff_byte_order(tiff)
    entries: dict[int, tuple[int, int, int]] = {}
    for entry in _tiff_entries(tiff):
        size = _TIFF_TYPE_SIZES[entry.kind]
        if order is not None and entry.kind in _TIFF_UINT_TYPES and entry.at + size <= len(tiff):
            value = int.from_bytes(tiff[entry.at : entry.at + size], order)
            entries.setdefault(entry.tag, (value, entry.at, size))
    return entries


def apply_exif_orientation(
    image: np.ndarray, source: str | os.PathLike | bytes | int
) -> np.ndarray:
    """``image`` (rows, columns[, channels], as OpenCV decoded it) turned upright by the EXIF
    orientation of ``source`` (its file, its bytes, or the value 1..8); an image without the
    tag comes back as it is, and so does a TIFF file's (or bytes') where OpenCV's TIFF decoder
    applied the tag already (`_opencv_orients_tiff`): pass the file, not its value."""
    if isinstance(source, int):
        value = source
    else:
        value = exif_orientation(source)
        if value != 1 and _is_tiff(source) and _opencv_orients_tiff(value):
            return image
    if value == 2:
        image = image[:, ::-1]
    elif value == 3:
        image = image[::-1, ::-1]
    elif value == 4:
        image = image[::-1]
    elif value == 5:
        image = image.swapaxes(0, 1)
    elif value == 6:
        image = np.rot90(image, -1)
    elif value == 7:
        image = image.swapaxes(0, 1)[::-1, ::-1]
    elif value == 8:
        image = np.rot90(image, 1)
    else:
        return image
    return np.ascontiguousarray(image)


def composite_on_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``colour`` (HxW grey or HxWxC: unsigned integers white at their dtype's maximum, or
    floats white at 1) blended onto white by ``alpha`` (HxW: unsigned integers opaque at their
    dtype's maximum, or floats opaque at 1), of ``colour``'s dtype. Integers are blended as
    Pillow, and so transformers' image processors, make an image with transparency RGB: at 8
    bits a sample (a deeper sample by its high byte, as Pillow reads it), rounded to whole
    levels. Pixels opaque at 8 bits keep ``colour``'s value, so a 16-bit image keeps its depth
    there, its high byte at every pixel is Pillow's, and an alpha opaque everywhere leaves
    ``colour`` as it is. Floats are blended without rounding. Straight alpha: divide
    premultiplied colour by its alpha first (`_unpremultiply`)."""
    if np.issubdtype(alpha.dtype, np.integer):
        high = alpha >> max(np.iinfo(alpha.dtype).bits - 8, 0)
        if high.min() == 255:
            return colour  # opaque: spares the arithmetic of frame folders of opaque RGBA
        opacity = high.astype(np.float64) / 255.0
    else:
        opacity = np.clip(alpha.astype(np.float64), 0.0, 1.0)
    # colour with a channel axis, of one image or of a stack of frames
    a = opacity[..., None] if colour.ndim > alpha.ndim else opacity
    if not np.issubdtype(colour.dtype, np.integer):
        return (a * colour + (1.0 - a)).astype(colour.dtype)
    levels = np.iinfo(colour.dtype)
    high_colour = colour >> max(levels.bits - 8, 0)
    blended = np.round(a * high_colour + (1.0 - a) * 255.0).astype(np.int64)
    # 257 for 16-bit samples: level v of 8 bits is v * 257, whose high byte is v
    return np.where(a == 1.0, colour, blended * (levels.max // 255)).astype(colour.dtype)


def _normalise_image(img: np.ndarray, name: str, *, bgr: bool) -> np.ndarray:
    """A decoded image (grey, or colour in BGR or RGB order; a last channel beside them is
    its straight alpha, blended onto white by `composite_on_white`) as `read_image` returns
    images: uint8, or float DN for deeper ones."""
    if img.ndim == 3 and img.shape[2] in (2, 4):
        img = composite_on_white(img[..., :-1], img[..., -1])
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise InputError(f"image {name} has shape {img.shape}; expected HxW or HxWx3")
    if img.ndim == 3 and bgr:
        img = img[..., ::-1]
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img)
    if img.dtype == np.uint16:
        return img.astype(np.float64) / 257.0
    if np.issubdtype(img.dtype, np.floating):
        out = img.astype(np.float64)
        if not np.all(np.isfinite(out)):
            raise InputError(f"image {name} holds NaN or infinite values")
        # float images are linear intensity with 1.0 = white (HDR above)
        return out * 255.0
    raise InputError(f"image {name} has dtype {img.dtype}; expected uint8, uint16 or float")


def _as_image(image: np.ndarray | str | os.PathLike, name: str) -> np.ndarray:
    """An image file as `read_image` reads it, or an array as `ArraySource` takes frames:
    uint8 and float in DN, as `read_image` returns them (float arrays were taken as 0..1
    images, so a 16-bit file passed as ``read_image``'s array came out 255 times too bright),
    uint16 as 16-bit (value / 257)."""
    if isinstance(image, np.ndarray):
        if (image.ndim == 3 and image.shape[2] in (1, 3, 4)) or image.ndim == 2:
            if image.size == 0:
                raise InputError(f"{name} is empty")
            _check_frame_dtype(image.dtype, f"{name} has")
            out = _array_frame(image)
            if out.dtype != np.uint8 and not np.all(np.isfinite(out)):
                raise InputError(f"{name} holds NaN or infinite values")
            return np.ascontiguousarray(out)
        raise InputError(f"{name} has shape {image.shape}; expected HxW or HxWx3")
    return read_image(image)


def _check_frame_dtype(dtype: np.dtype, what: str) -> None:
    """InputError ``{what} dtype ...`` unless ``dtype`` holds intensities."""
    if dtype == np.bool_ or not (
        np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)
    ):
        raise InputError(
            f"{what} dtype {dtype}; expected uint8, uint16 (a 16-bit image), another integer "
            "type or float (DN)"
        )


def _target_size(sensor_size: Sequence[int] | None, frame: np.ndarray) -> tuple[int, int]:
    if sensor_size is None:
        return int(frame.shape[1]), int(frame.shape[0])
    return check_sensor_size(sensor_size)


class ArraySource:
    """In-memory frames ``[T,H,W]`` / ``[T,H,W,3]`` (RGB) / ``[T,H,W,4]`` (an array, or a list
    of frames of one size) with timestamps (µs; floats are rounded to whole µs) or a frame rate
    ``fps``, not both. uint8 and float frames are intensities in DN (0..255 nominal); uint16
    frames are 16-bit images (65535 = white), read as 16-bit image files are (value / 257);
    other integer types are DN values. Grey frames of equal DN give the same events in any of
    these types; RGB frames do not quite: uint8 RGB becomes 8-bit luma, rounded, the others
    float luma (see `EventSimulator`). A 4th channel is straight alpha in the same units
    (opaque at 255, 65535 for uint16), blended onto white as an image file's alpha is
    (`composite_on_white`; uint8 and uint16 frames give what the same RGBA PNG gives): it was
    dropped, so the colour under transparent pixels (black, often) was simulated."""

    def __init__(
        self,
        frames: np.ndarray | Sequence[np.ndarray],
        timestamps_us: np.ndarray | Sequence[float] | None = None,
        *,
        fps: float | None = None,
        sensor_size: Sequence[int] | None = None,
        fit: Fit = "crop",
        info: dict[str, Any] | None = None,
    ) -> None:
        fit = check_fit(fit)
        if timestamps_us is not None and fps is not None:
            # it was ignored, the frames timed by timestamps_us (FolderSource refuses it too)
            raise ParameterValueError(
                "fps", fps, " does not apply: the frames are timed by timestamps_us; pass one"
            )
        frames = stack_frames(frames)
        if (
            frames.ndim not in (3, 4)
            or frames.shape[0] == 0
            or (frames.ndim == 4 and frames.shape[3] not in (1, 3, 4))
        ):
            raise InputError(
                f"frames have shape {frames.shape}; expected a non-empty [T,H,W] or [T,H,W,3]"
            )
        _check_frame_dtype(frames.dtype, "frames have")
        if timestamps_us is None:
            if fps is None:
                raise ParameterError("in-memory frames need timestamps_us or fps > 0")
            check_frame_rate(fps, frames.shape[0])
            timestamps_us = np.round(np.arange(frames.shape[0]) * 1e6 / fps)
        ts = np.asarray(timestamps_us)
        if ts.shape != (frames.shape[0],):
            raise InputError(
                f"timestamps_us has shape {ts.shape}; expected ({frames.shape[0]},), one per frame"
            )
        if np.issubdtype(ts.dtype, np.floating):
            if not np.all(np.isfinite(ts)):
                raise InputError("timestamps_us holds NaN or infinite values")
            # rounded like the CLI's times, not truncated towards zero
            rounded = np.rint(ts).astype(np.int64)
            if np.all(np.diff(ts) > 0) and np.any(np.diff(rounded) <= 0):
                raise InputError(
                    f"timestamps_us increase by less than 1 us somewhere (the last is "
                    f"{ts[-1]:g}): they are microseconds, so times in seconds or milliseconds "
                    "need multiplying by 1e6 or 1e3"
                )
            ts = rounded
        _check_increasing(ts.astype(np.int64), "timestamps_us")
        self.frames = frames
        # float arrays are the user's DN, which the simulator's 0..1 check is about (`simulate`)
        self._user_floats = frames.dtype.kind == "f"
        self.timestamps_us = ts.astype(np.int64)
        self.sensor_size = _target_size(sensor_size, frames[0])
        self.fit = fit
        self.n_frames = frames.shape[0]
        self.info = dict(info or {})

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        for frame, t in zip(self.frames, self.timestamps_us):
            yield fit_frame(_array_frame(frame), self.sensor_size, self.fit), int(t)

    def __repr__(self) -> str:
        def parts() -> list[str]:
            f, ts = self.frames, self.timestamps_us
            kind = "grey" if f.ndim == 3 else {1: "grey", 3: "RGB", 4: "RGBA"}[f.shape[3]]
            return [
                f"{self.n_frames} frames {f.shape[2]}x{f.shape[1]} {kind} {f.dtype}",
                f"{int(ts[0])}..{int(ts[-1])} us",
                *_fitted_to((f.shape[2], f.shape[1]), self.sensor_size, self.fit),
            ]

        return _repr_of(self, parts)

    def describe(self) -> dict[str, Any]:
        """The source as stored in an output file's ``source`` attribute (JSON-ready)."""
        h, w = self.frames.shape[1:3]
        return {
            "kind": "array",
            "n_frames": self.n_frames,
            "input_size": [w, h],
            "fit": self.fit,
            **self.info,
        }


def _array_frame(frame: np.ndarray) -> np.ndarray:
    """One frame of an `ArraySource` as the simulator takes it (`_array_frames`)."""
    return _array_frames(frame[None])[0]


def _array_frames(frames: np.ndarray) -> np.ndarray:
    """Frames ``[T,H,W]`` / ``[T,H,W,C]`` (C of 1, 3 or 4) of `ArraySource`'s units as the
    simulator takes them: grey or RGB, uint8 or float DN (16-bit frames as 16-bit image files
    are read), alpha blended onto white. Native uint8, float32 and float64 grey or RGB come
    back as they are, not copied. `ArraySource` and `EventSimulator.step` both use it, so a
    clip fed to the simulator in chunks gives the events of `simulate_frames`."""
    if frames.ndim == 4 and frames.shape[3] == 4:
        frames = _array_on_white(frames)
    if frames.ndim == 4:
        frames = frames[..., 0] if frames.shape[3] == 1 else frames[..., :3]
    if frames.dtype.kind == "u" and frames.dtype.itemsize == 2:
        # either byte order: a big-endian '>u2' array is not equal to np.uint16
        return frames / 257.0
    if frames.dtype not in _FRAME_DTYPES:
        # other integers are DN; OpenCV's resize takes neither float16 nor long double
        return frames.astype(np.float64)
    return frames


def _array_on_white(frame: np.ndarray) -> np.ndarray:
    """An RGBA frame of `ArraySource`'s units blended onto white: uint8 and uint16 (of either
    byte order) as image files are; other types, DN, by alpha opaque at 255 DN, kept float32
    where they are (an opaque frame comes out as its colour, bit for bit)."""
    colour, alpha = frame[..., :3], frame[..., 3]
    if frame.dtype.kind == "u" and frame.dtype.itemsize in (1, 2):
        return composite_on_white(colour, alpha)
    opacity = np.clip(alpha.astype(np.float64) / 255.0, 0.0, 1.0)[..., None]
    out = opacity * colour + (1.0 - opacity) * 255.0
    return out.astype(np.float32) if frame.dtype == np.float32 else out


def _check_increasing(ts: np.ndarray, what: str) -> None:
    bad = np.flatnonzero(np.diff(ts) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise InputError(f"{what} must increase strictly: entry {i} ({ts[i]}) follows {ts[i - 1]}")


def _container_time(cap: cv2.VideoCapture) -> int | None:
    """The grabbed frame's container time in µs, or None where the backend gives none."""
    msec = cap.get(cv2.CAP_PROP_POS_MSEC)
    return round(msec * 1000) if msec is not None and math.isfinite(msec) else None


# what `_FrameClock._raw` gives for a frame past the video's last, and for one not read yet
_END: Literal["end"] = "end"
_WAIT: Literal["wait"] = "wait"
# a container time more than this many nominal steps past the last time given may be a wild
# one, which the frames after it tell
_JUMP_STEPS = 2
# the most frames in a row with wild times: a longer stretch of times far ahead that the times
# then fall back from is taken as frames of their own (a short clip joined in between)
_MAX_WILD_FRAMES = 3
# the most frames at the end of a video that OpenCV gives the time 0 as flushed from the
# decoder (an H.264 AVI with B-frames): H.264 reorders at most 16 frames
_MAX_FLUSHED_FRAMES = 16


class _TimesAhead:
    """The container times of a video's frames by decoding index, read by a capture of their
    own (opened on first use: when the frame clock must look past the frames it holds);
    IndexError past the last frame that decodes."""

    def __init__(self, open_capture: Callable[[], cv2.VideoCapture]) -> None:
        self._open = open_capture
        self._cap: cv2.VideoCapture | None = None
        self._grabbed = 0
        # the clock asks again for at most a few frames below the furthest it asked for
        self._recent: dict[int, int | None] = {}

    def __call__(self, index: int) -> int | None:
        if index not in self._recent:
            if self._cap is None:
                self._cap = self._open()
            while self._grabbed <= index:
                if not self._cap.grab():
                    raise IndexError(index)
                self._recent[self._grabbed] = _container_time(self._cap)
                self._recent.pop(self._grabbed - 64, None)
                self._grabbed += 1
        return self._recent[index]


class _Run:
    """Frames stamped between the time before them and the time of the frame after them."""

    def __init__(self, t_from: int, t_next: int | None, n: int, step: int, then_nominal: bool):
        self.t_from, self.t_next, self.n, self.step = t_from, t_next, n, step
        #: frames of the run stamped (or left out) so far; frame n + 1 is the one after it
        self.done = 0
        #: whether the frames after a run without a time after it go on at the nominal rate
        self.then_nominal = then_nominal

    def time(self) -> int:
        """The time of the next frame: spread evenly up to the time after the run, no further
        apart than the nominal rate; nominal steps where no time follows."""
        j = self.done + 1
        if j > self.n:
            assert self.t_next is not None  # a run without a time after it ends at frame n
            return self.t_next
        nominal = self.t_from + self.step * j
        if self.t_next is None:
            return nominal
        return min(self.t_from + (self.t_next - self.t_from) * j // (self.n + 1), nominal)


class _FrameClock:
    """Stamps a video's frames, in decoding order, with times that increase strictly.

    A frame keeps its container time where that follows the last time given. Frames that do
    not (a PTS repeated, as variable-frame-rate or badly muxed files have, or one that steps
    back) wait for the next frame whose time does, and the frames that waited are spread evenly
    between the two: stamping each one nominal frame on from the last time instead pushed every
    later frame back a frame too where the next time fell on that guess. They are spread no
    further apart than the nominal rate, though: where the next time is further off (a pause in
    a variable-frame-rate file, a jump in the times) they stay by the frame before them, where
    decoding order puts them.

    A run of one repeated time (or of frames without a time) longer than `_MAX_HELD_FRAMES`
    is not held in memory: ``ahead`` (decoding index -> container time, IndexError past the
    end) reads the times after it, so that a run of any length is spread up to the time after
    it and the frames after keep their own times (holding at most 8 frames pushed the frames
    after a longer run up to 9 frames late). Frames of a run that lasts to the end of the
    video, and, without ``ahead`` or where their times vary (times that restart: two videos
    joined), of a run longer than `_MAX_HELD_FRAMES`, go on at the nominal rate until a time
    follows the last one given.

    A time more than `_JUMP_STEPS` nominal steps past the last one given that the next two
    frames' times fall back below (a wild PTS, then times going on as before, or repeating the
    last one) is that frame's error: it waits as a repeated frame does, and the frames after
    keep their own times (given that time, the frame pushed every later one past it). One
    frame below it, then times past it, leave it its time: one of the two frames is out of
    place either way. Up to `_MAX_WILD_FRAMES` such times in a row are those frames' error too
    where the next two times fall back below all of them, the first of the two after the last
    time given (times that restart at or below it, two videos joined, keep the jump before
    them); more are frames of their own (a short clip joined in). Times of 0 that last to the
    end (OpenCV's for the frames an H.264 AVI with B-frames flushes from the decoder) are
    missing times here, not times falling back: a pause before them was taken as wild.

    The first frames are stamped once the next few are read: up to `_MAX_WILD_FRAMES` first
    frames whose times are all above the next two frames', the second of those after the first
    (FFmpeg gives a wild first time as 0 and every later one as negative), are those frames'
    error. They are placed a nominal step apart, the last one step before the frame after them,
    and every later time is moved by as much as that frame's is (where it would put the first
    frame before 0). They were given 0 and every later frame went on at the nominal rate. A
    video whose times start late (FFmpeg gives them from 0) keeps its times.
    """

    def __init__(
        self, step_us: float | None, ahead: Callable[[int], int | None] | None = None
    ) -> None:
        # at least 1 µs: a container claiming over 2 MHz rounded to 0, and nominal steps gave
        # frames one time
        self.step = max(round(step_us), 1) if step_us else _FALLBACK_STEP_US
        #: the last time given, in µs
        self.last: int | None = None
        #: frames left out: more waited between two times than there are µs between them
        self.dropped = 0
        self._ahead = ahead
        self._pushed = 0
        # added to every container time after wild first ones: the frames after are moved to
        # follow them
        self._shift = 0
        # frames pushed and not stamped yet, with their container times (shifted)
        self._queue: collections.deque[tuple[int | None, Any]] = collections.deque()
        self._run: _Run | None = None
        # frames without a time after the last one given go on at the nominal rate
        self._nominal = False

    def time_now(self, raw: int | None) -> int | None:
        """The time `push` gives a frame of container time ``raw`` (µs) if pushed now, or None
        while that depends on later frames (or the frame is left out)."""
        if self.last is None:
            return None
        if raw is not None:
            raw += self._shift
        if self._run is not None:
            t = self._run.time()
            return t if t > self.last else None
        if self._queue:
            return None
        if self._nominal and (raw is None or raw <= self.last):
            return self.last + self.step
        if raw is not None and self.last < raw <= self.last + _JUMP_STEPS * self.step:
            return raw
        return None

    def push(self, raw: int | None, frame: Any) -> list[tuple[int, Any]]:
        """The frames whose times are now known, ``(t_us, frame)`` in order, after the next
        frame of container time ``raw`` (µs)."""
        self._pushed += 1
        if raw is not None:
            raw += self._shift
        if self._run is not None:
            return self._stamp_run([frame])
        last = self.last
        if self._nominal and last is not None and not self._queue and (raw is None or raw <= last):
            self.last = last + self.step
            return [(self.last, frame)]
        self._queue.append((raw, frame))
        return self._drain(final=False)

    def finish(self) -> list[tuple[int, Any]]:
        """The frames still waiting, at the end of the video."""
        out = self._drain(final=True)
        self._run = None  # a run read ahead by a decoder that got further than this one
        return out

    def _drain(self, *, final: bool) -> list[tuple[int, Any]]:
        out: list[tuple[int, Any]] = []
        if self.last is None:
            if not self._queue:
                return out
            wild = self._is_wild(0, None, final)
            if wild is None:
                return out
            out += self._start(wild)
        while self._queue and self.last is not None:
            decision = self._decide(self.last, final)
            if decision is None:
                break
            if decision is True:
                raw, frame = self._queue.popleft()
                assert raw is not None  # kept for a time after the last one given
                self.last = raw
                self._nominal = False
                out.append((raw, frame))
            else:
                self._run = decision
                take = min(decision.n + (decision.t_next is not None), len(self._queue))
                out += self._stamp_run([self._queue.popleft()[1] for _ in range(take)])
        return out

    def _start(self, wild: int) -> list[tuple[int, Any]]:
        """The first frames stamped, ``wild`` of them with wild times."""
        if not wild:
            raw, frame = self._queue.popleft()
            self.last = max(raw or 0, 0)
            return [(self.last, frame)]
        after = self._queue[wild][0]
        assert after is not None  # the frame after wild times has one
        self._shift = max(wild * self.step - after, 0)
        self._queue = collections.deque(
            (None if raw is None else raw + self._shift, frame) for raw, frame in self._queue
        )
        t_first = after + self._shift - wild * self.step
        out = [(t_first + self.step * j, self._queue.popleft()[1]) for j in range(wild)]
        self.last = out[-1][0]
        return out

    def _stamp_run(self, frames: list[Any]) -> list[tuple[int, Any]]:
        """``frames``, the next ones of the run, stamped; the run ends with its last."""
        run = self._run
        assert run is not None and self.last is not None
        out: list[tuple[int, Any]] = []
        for frame in frames:
            t = run.time()
            if t > self.last:
                self.last = t
                out.append((t, frame))
            else:
                self.dropped += 1
            run.done += 1
            if run.done == run.n + (run.t_next is not None):
                self._run = None
                self._nominal = run.then_nominal
        return out

    def _raw(self, i: int, final: bool) -> int | Literal["end", "wait"] | None:
        """The container time of the ``i``-th frame waiting (``i`` past them: of a frame not
        pushed yet, read ahead once more than `_MAX_HELD_FRAMES` wait)."""
        if i < len(self._queue):
            return self._queue[i][0]
        if final:
            return _END
        if self._ahead is None or len(self._queue) <= _MAX_HELD_FRAMES:
            return _WAIT
        try:
            t = self._ahead(self._pushed + i - len(self._queue))
        except IndexError:
            return _END
        return None if t is None else t + self._shift

    def _is_wild(self, i: int, last: int | None, final: bool) -> int | None:
        """How many frames from the ``i``-th on have wild times, following ``last`` (None: the
        first frames): the longest such burst, 0 where the ``i``-th has a time of its own; None
        while that depends on frames not read."""
        low: int | None = None
        wild = 0
        for n in range(1, _MAX_WILD_FRAMES + 1):
            t = self._raw(i + n - 1, final)
            if t == _WAIT:
                return None
            if not isinstance(t, int) or (last is not None and t <= last + _JUMP_STEPS * self.step):
                return wild
            low = t if low is None else min(low, t)
            after = self._raw(i + n, final)
            if after == _WAIT:
                return None
            # times given as 0 to the end are frames flushed from the decoder without a time,
            # not times falling back: a pause before them took the frame after it as wild
            flushed = self._flushed(i + n, final) if after == self._shift else False
            if flushed is None:
                return None
            if flushed:
                return wild
            # after more than one wild time, a time at or below the last one given is the
            # timeline restarting
            if isinstance(after, int) and after < low and (n == 1 or last is None or after > last):
                then = self._raw(i + n + 1, final)
                if then == _WAIT:
                    return None
                # a zero tail that starts at ``after`` was judged above: looked for again from
                # its second zero, a tail of _MAX_FLUSHED_FRAMES + 1 was taken as flushed
                zero_tail = then == self._shift and after != self._shift
                flushed = self._flushed(i + n + 1, final) if zero_tail else False
                if flushed is None:
                    return None
                if flushed:
                    return wild
                # after the first frames, the times must go on: OpenCV gives frames without a
                # time as 0, as it does the last frames of an H.264 AVI with B-frames (flushed
                # from the decoder), and a short one's times (66.7, 100.1, 0, 0 ms) fell back
                # below its first ones without those being wild
                if isinstance(then, int) and then < low and (last is not None or then > after):
                    wild = n
        return wild

    def _flushed(self, i: int, final: bool) -> bool | None:
        """Whether the ``i``-th frame waiting and every one after it to the end, at most
        `_MAX_FLUSHED_FRAMES`, have the time 0 (OpenCV's for frames flushed from the decoder);
        None while that depends on frames not read."""
        for j in range(i, i + _MAX_FLUSHED_FRAMES + 1):
            t = self._raw(j, final)
            if t == _WAIT:
                return None
            if t == _END:
                return j > i
            if t != self._shift:
                return False
        return False

    def _decide(self, last: int, final: bool) -> _Run | Literal[True] | None:
        """True where the first frame waiting keeps its time; else the run it starts, or None
        while that depends on frames not read yet."""
        head = self._raw(0, final)
        if not isinstance(head, int) or head <= last:
            if self._nominal:
                return _Run(last, None, 1, self.step, then_nominal=True)
        else:
            wild = self._is_wild(0, last, final)
            if wild is None or not wild:
                return None if wild is None else True
        # the times in the run that do not follow the last one: one, repeated, is read ahead
        repeated = {head} if isinstance(head, int) and head <= last else set()
        i = 1
        while True:
            if (
                i == len(self._queue) > _MAX_HELD_FRAMES
                and not final
                and (self._ahead is None or len(repeated) > 1)
            ):
                return _Run(last, None, i, self.step, then_nominal=True)
            t = self._raw(i, final)
            if t == _WAIT:
                return None
            if t == _END:
                return _Run(last, None, i, self.step, then_nominal=False)
            if isinstance(t, int) and t > last:
                wild = self._is_wild(i, last, final)
                if wild is None:
                    return None
                if not wild:
                    return _Run(last, t, i, self.step, then_nominal=False)
            elif isinstance(t, int):
                if i >= len(self._queue) and t not in repeated and repeated:
                    # read ahead, a second time in the run (times that restart): the repeats
                    # go on at the nominal rate, and the frames after are a run of their own
                    return _Run(last, None, i, self.step, then_nominal=False)
                repeated.add(t)
            i += 1


def _unopened_video(path: Path) -> UnopenedVideoError:
    """The error for a video OpenCV cannot open, naming an event file as one (by its suffix and
    a few of its bytes; only on this failure, so a video costs nothing more): an HDF5 event
    file was called a corrupt video."""
    from eventsim.io.formats import VIDEO_SHARED_FORMATS, VIDEO_SHARED_SUFFIXES, sniff_event_file

    said = f"video {str(path)!r} cannot be opened (corrupt or an unsupported format)"
    guess = sniff_event_file(path)
    if guess is None:
        return UnopenedVideoError(said, path, shared_suffix=False)
    suffix = path.suffix.lower()
    if not guess.by_contents and suffix in VIDEO_SHARED_SUFFIXES:
        return UnopenedVideoError(
            f"{said}; a {suffix} file can also be an event file ({VIDEO_SHARED_FORMATS}), "
            "which eventsim.io.open_events reads",
            path,
            shared_suffix=True,
        )
    return UnopenedVideoError(
        f"{str(path)!r} is {guess.what}, an event file, not a video: it holds events, not "
        "frames; read it with eventsim.io.open_events",
        path,
        shared_suffix=False,
    )


class VideoSource:
    """A video file decoded with OpenCV, stamped with the container's per-frame times.

    ``n_frames`` is the container's frame count (an estimate within ``start_s``/``stop_s``), or
    None when unknown; a count under 2 is only given once decoding confirmed it.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        start_s: float | None = None,
        stop_s: float | None = None,
        sensor_size: Sequence[int] | None = None,
        fit: Fit = "crop",
    ) -> None:
        fit = check_fit(fit)
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"video {str(self.path)!r} does not exist")
        for name, value in (("start_s", start_s), ("stop_s", stop_s)):
            # NaN and infinity failed later as bare ValueError / OverflowError, and a negative
            # start gave a frame count past the video's; numpy's scalars are times too
            if value is not None and not (
                isinstance(value, numbers.Real)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and value >= 0
            ):
                raise ParameterError(f"{name} = {value!r}; expected a time >= 0 s")
        # plain floats: describe() is stored as JSON
        start_s = None if start_s is None else float(start_s)
        stop_s = None if stop_s is None else float(stop_s)
        if start_s is not None and stop_s is not None and stop_s <= start_s:
            raise ParameterError(f"stop ({stop_s} s) must be after start ({start_s} s)")
        with self._open() as cap:
            self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
            h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
            if w <= 0 or h <= 0:
                ok, frame = cap.read()
                if not ok or frame is None:
                    raise InputError(f"video {str(self.path)!r} has no decodable frames")
                h, w = frame.shape[:2]
        self.input_size = (w, h)
        self.sensor_size = check_sensor_size(sensor_size) if sensor_size else (w, h)
        self.fit = fit
        self.start_s, self.stop_s = start_s, stop_s
        self.container_frames = count
        #: set by a run that stopped decoding early: what happened, in words
        self.decode_problem: str | None = None
        self.n_frames: int | None = None
        windowed = start_s is not None or stop_s is not None
        if not windowed and count > 2:
            self.n_frames = count
        elif not windowed:
            # a container's count can be missing or estimated: a tiny one is checked by decoding
            decoded = self._count_up_to(3)
            self.n_frames = decoded if decoded < 3 else None
        elif count > 0 and self.fps > 0:
            # a start past count / fps is not refused here: a variable-rate video's frames can
            # run well past it (reading finds out, and names the length it found)
            lo = (start_s or 0.0) * self.fps
            hi = count if stop_s is None else min(count, stop_s * self.fps)
            estimate = math.ceil(hi - lo)
            # a window's ends are estimated to within a frame: a guess under 2 could be wrong
            self.n_frames = estimate if estimate >= 2 else None

    def _count_up_to(self, limit: int) -> int:
        with self._open() as cap:
            n = 0
            while n < limit and cap.grab():
                n += 1
        if n == 0:
            raise InputError(f"video {str(self.path)!r} has no decodable frames")
        return n

    @contextlib.contextmanager
    def _open(self) -> Iterator[cv2.VideoCapture]:
        """The video opened by OpenCV, released when the block ends."""
        with opencv_file_name(self.path, "video") as name:
            cap = cv2.VideoCapture(name)
            try:
                if not cap.isOpened():
                    raise _unopened_video(self.path)
                yield cap
            finally:
                cap.release()

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        with self._open() as cap, contextlib.ExitStack() as ahead:
            times = _TimesAhead(lambda: ahead.enter_context(self._open()))
            yield from self._frames(
                cap, _FrameClock(1e6 / self.fps if self.fps > 0 else None, times)
            )

    def _frames(
        self, cap: cv2.VideoCapture, clock: _FrameClock
    ) -> Iterator[tuple[np.ndarray, int]]:
        start_us = None if self.start_s is None else round(self.start_s * 1e6)
        stop_us = None if self.stop_s is None else round(self.stop_s * 1e6)

        def outside(t: int) -> bool:
            return (start_us is not None and t < start_us) or (stop_us is not None and t > stop_us)

        index = 0
        yielded = 0
        stopped = False  # by --stop, not by the end of what decodes
        while not stopped and cap.grab():
            raw = _container_time(cap)
            t_now = clock.time_now(raw)
            frame = None
            # a frame whose time is known to be outside the window is not converted
            if t_now is None or not outside(t_now):
                ok, frame = cap.retrieve()
                if not ok or frame is None:
                    break
                if frame.ndim == 3:
                    frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                frame = fit_frame(frame, self.sensor_size, self.fit)
            index += 1
            for t, stamped in clock.push(raw, frame):
                if stop_us is not None and t > stop_us:
                    stopped = True
                    break
                if stamped is not None and not outside(t):
                    yielded += 1
                    yield stamped, t
        if not stopped:
            for t, stamped in clock.finish():
                if stop_us is not None and t > stop_us:
                    stopped = True
                    break
                if not outside(t):
                    yielded += 1
                    yield stamped, t
        if clock.dropped:
            warnings.warn(
                f"video {str(self.path)!r}: {clock.dropped} frame(s) shared a container time "
                "with too many others to be given times a microsecond apart; they were left out",
                VideoTimesWarning,
                stacklevel=3,
            )
        if yielded == 0:
            window = self.window()
            # the length answers a start past the last frame, with or without a stop
            if (
                self.start_s is not None
                and clock.last is not None
                and (self.stop_s is None or self.start_s * 1e6 > clock.last)
            ):
                length_s = (clock.last + (1e6 / self.fps if self.fps > 0 else 0.0)) / 1e6
                window += f" (the video is {length_s:.3g} s long)"
            raise InputError(f"video {str(self.path)!r} has no decodable frames{window}")
        # a container's count may be an estimate (from duration x rate): a little slack
        short = self.container_frames - max(2, self.container_frames // 100)
        if not stopped and index < short:
            self.decode_problem = (
                f"video {str(self.path)!r} stopped decoding after frame {index} of the "
                f"{self.container_frames} its container lists (truncated or corrupt?); the "
                "events end there"
            )
            warnings.warn(self.decode_problem, VideoDecodeWarning, stacklevel=3)

    def __repr__(self) -> str:
        def parts() -> list[str]:
            n = self.n_frames
            return [
                repr(str(self.path)),
                _size(self.input_size),
                f"{self.fps:g} fps" if self.fps > 0 else "fps unknown",
                f"{n} frames" if n is not None else "frame count unknown",
                *([self.window().strip()] if self.window() else []),
                *_fitted_to(self.input_size, self.sensor_size, self.fit),
            ]

        return _repr_of(self, parts)

    def window(self) -> str:
        """The part of the video that is read, in words (`` between 1 s and 2 s``), or ``""``."""
        if self.start_s is not None and self.stop_s is not None:
            return f" between {self.start_s:g} s and {self.stop_s:g} s"
        if self.start_s is not None:
            return f" after {self.start_s:g} s"
        if self.stop_s is not None:
            return f" before {self.stop_s:g} s"
        return ""

    def describe(self) -> dict[str, Any]:
        """The source as stored in an output file's ``source`` attribute (JSON-ready)."""
        return {
            "kind": "video",
            "path": str(self.path),
            "fps": self.fps,
            "input_size": list(self.input_size),
            "start_s": self.start_s,
            "stop_s": self.stop_s,
            "fit": self.fit,
        }


def _natural_key(name: str) -> list:
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def read_timestamps_file(
    path: str | os.PathLike, images: Sequence[str | os.PathLike] | None = None
) -> np.ndarray:
    """The times in a frame folder's timestamps file -> int64 µs: one time in seconds per line
    (rpg_vid2e's ``timestamps.txt``), or on each line a time and the file name of the image it
    times (the Event Camera Dataset's ``images.txt``: ``1468939993.067416 images/frame_0.png``).
    ``images`` are the folder's images in the order they are read (`FolderSource` gives them):
    the names must be theirs, in that order (matched by file name, the last part of a path);
    a file naming them otherwise is refused, as is one of as many names as images but other
    ones. Without ``images`` names are not checked. A line of two numbers (``0 0.033333``: a
    frame's index and its time, or the other way round) is refused: the time is not told."""
    return _read_timestamps(path, images)[0]


def _read_timestamps(
    path: str | os.PathLike, images: Sequence[str | os.PathLike] | None = None
) -> tuple[np.ndarray, list[int]]:
    """`read_timestamps_file`'s times and the line of the file each is on (from 1)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"timestamps file {str(path)!r} is a folder; expected a text file")
    try:
        text = path.read_text(encoding="utf-8-sig")  # Windows editors lead with a BOM
    except UnicodeDecodeError:
        raise InputError(
            f"timestamps file {str(path)!r} is not UTF-8 text; expected one time in seconds "
            "per line"
        ) from None
    values: list[float] = []
    linenos: list[int] = []
    names: list[str | None] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        field = line.split("#", 1)[0].strip()
        if not field:
            continue
        first, *rest = field.split(None, 1)
        name = rest[0] if rest else None
        if name is not None and all(_is_number(word) for word in name.split()):
            # 'INDEX TIME' lines were read as their index in seconds (a clip 30x too slow)
            raise InputError(
                f"{str(path)!r} line {lineno}: {field!r} holds {len(name.split()) + 1} numbers; "
                "expected one time in seconds per line, or a time and its image's file name "
                "(TIME NAME, as the Event Camera Dataset's images.txt); of a file of INDEX TIME "
                f"lines keep the times, e.g. awk '{{print $2}}' {path.name} > times.txt"
            )
        if names and (name is None) != (names[0] is None):
            said = "names no image" if name is None else f"names image {name!r}"
            other = "does" if names[0] is not None else "does not"
            raise InputError(
                f"{str(path)!r} line {lineno}: {field!r} {said}, while line {linenos[0]} "
                f"{other}; expected TIME or TIME NAME on every line"
            )
        try:
            value = float(first)
        except ValueError:
            raise InputError(
                f"{str(path)!r} line {lineno}: {field!r} is not a time in seconds"
            ) from None
        if not math.isfinite(value):
            raise InputError(f"{str(path)!r} line {lineno}: time {field!r} is not finite")
        if abs(value) > _MAX_TIME_S:
            # past this the time in µs does not fit the events' int64
            raise InputError(
                f"{str(path)!r} line {lineno}: time {field!r} s is beyond +-{_MAX_TIME_S:g} s"
            )
        values.append(value)
        linenos.append(lineno)
        names.append(name)
    ts = np.rint(np.asarray(values, dtype=np.float64) * 1e6).astype(np.int64)
    bad = np.flatnonzero(np.diff(ts) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        closer = " (less than 1 us later)" if values[i] > values[i - 1] else ""
        raise InputError(
            f"{str(path)!r}: timestamps must increase strictly; line {linenos[i]} "
            f"({values[i]} s) follows {values[i - 1]} s{closer}"
        )
    if images is not None and names and names[0] is not None and len(names) == len(images):
        _check_timed_names(path, [n for n in names if n is not None], linenos, images)
    return ts, linenos


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_timed_names(
    path: Path, names: list[str], linenos: list[int], images: Sequence[str | os.PathLike]
) -> None:
    """Refuse a TIME NAME file whose names are not ``images``' file names in their order: its
    times would go to other images than it says (reversed names gave the same events)."""
    files = [Path(image).name for image in images]
    for i, (name, file) in enumerate(zip(names, files)):
        # the last part of a path, written with either separator
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        if base == file:
            continue
        folder = str(Path(images[0]).parent)
        where = (
            f"{base!r} is image {files.index(base) + 1} there"
            if base in files
            else f"no image of {folder!r} is named {base!r}"
        )
        raise InputError(
            f"{str(path)!r} line {linenos[i]} times {name!r}, but image {i + 1} of "
            f"{folder!r} (in name order, as they are read) is {file!r} ({where}); expected the "
            "lines to name the folder's images in that order"
        )


def _warn_slow_frames(
    ts: np.ndarray, path: Path, linenos: Sequence[int], allow_long_gaps: bool = False
) -> None:
    """Warn when a timestamps file's frames are seconds apart: its times are likely in ms
    (or, for gaps of 1000 s and more, in µs as DSEC's image_timestamps.txt, or ns); refuse
    gaps of 1000 s and more unless ``allow_long_gaps``, also one such gap between frames
    otherwise closer (a `LongFrameGapWarning` when allowed): it was simulated without a word.
    ``linenos`` are the file's lines of the times, which the messages name."""
    if ts.size < 2:
        return
    gaps = np.diff(ts)
    gap_us = float(np.median(gaps))
    longest = int(np.argmax(gaps))
    if _LONG_FRAME_GAP_US <= gaps[longest] and gap_us < _LONG_FRAME_GAP_US:
        # a single pause (a time mistyped, or files of two recordings) among close frames
        where = (
            f"timestamps file {str(path)!r} is read as seconds and its lines "
            f"{linenos[longest]} and {linenos[longest + 1]} (frames {longest + 1} and "
            f"{longest + 2}) are {gaps[longest] / 1e6:g} s apart (at {ts[longest] / 1e6:g} s "
            f"and {ts[longest + 1] / 1e6:g} s; the median gap is {gap_us / 1e6:g} s)"
        )
        if not allow_long_gaps:
            raise InputError(
                f"{where}, implausible between frames: check those times; if they are right, "
                "pass allow_long_gaps=True (--allow-long-gaps)"
            )
        warnings.warn(where, LongFrameGapWarning, stacklevel=3)
    if gap_us >= _LONG_FRAME_GAP_US and not allow_long_gaps:
        factor = "1e6 (microseconds)" if gap_us < 1e6 * 1e6 else "1e9 (nanoseconds)"
        raise InputError(
            f"timestamps file {str(path)!r} is read as seconds and its median frame gap is "
            f"{gap_us / 1e6:g} s ({ts.size} frames over {(ts[-1] - ts[0]) / 1e6:g} s), "
            f"implausible for frames: it must hold seconds; divide its times by {factor}, or "
            "if they are seconds, pass allow_long_gaps=True (--allow-long-gaps)"
        )
    if gap_us >= _SLOW_FRAME_GAP_US:
        # the unit that puts the gap between 1 ms and 1 s (1..1000 fps)
        gap_s = gap_us / 1e6
        if gap_s < 1e3:
            unit, factor = "milliseconds", "1000"
        elif gap_s < 1e6:
            unit, factor = "microseconds", "1e6"
        else:
            unit, factor = "nanoseconds", "1e9"
        warnings.warn(
            f"{str(path)!r} is read as seconds and its median frame gap is {gap_us / 1e6:g} s "
            f"({ts.size} frames over {(ts[-1] - ts[0]) / 1e6:g} s); if its times are in "
            f"{unit}, divide them by {factor}",
            # only a median gap this long is refused without allow_long_gaps
            LongFrameGapWarning if gap_us >= _LONG_FRAME_GAP_US else TimestampsWarning,
            stacklevel=3,
        )


def folder_images(folder: Path) -> list[Path]:
    """The images of a frame folder, in the order `FolderSource` reads them (names with numbers
    in numeric order)."""
    return sorted(
        # hidden names are no frames: macOS leaves '._0001.png' beside copied images
        (
            p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
        ),
        key=lambda p: _natural_key(p.name),
    )


def frame_folder_layout(
    path: str | os.PathLike, timestamps: str | os.PathLike | None = None
) -> tuple[Path, str | None]:
    """(image folder, timestamps file or None) for a folder of frames, accepting ESIM's and
    rpg_vid2e's layout: ``images/`` (or ``imgs/``, ``frames/``) with ``timestamps.txt`` beside
    it. A ``timestamps`` file given wins over the one beside."""
    path = Path(path)
    has_images = any(
        p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") for p in path.iterdir()
    )
    given = None if timestamps is None else os.fspath(timestamps)
    if not has_images:
        for sub in ("images", "imgs", "frames"):
            if (path / sub).is_dir():
                beside = path / "timestamps.txt"
                if given is None and beside.is_file():
                    given = str(beside)
                return path / sub, given
    return path, given


class FolderSource:
    """A folder of images in name order, timed by ``timestamps.txt`` (seconds) or ``fps``.

    ``fps`` is for a folder without times: with ``timestamps_file`` or a ``timestamps.txt`` in
    the folder it is refused. Times whose median gap is 1 s or more are read all the same (time
    lapses exist) with a `TimestampsWarning`, as milliseconds written where seconds belong
    look like that; from 1000 s on (microseconds written there) they are refused with an
    InputError unless ``allow_long_gaps``, as is any one gap of 1000 s or more (with
    ``allow_long_gaps``, either is a `LongFrameGapWarning`, a `TimestampsWarning`).
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        fps: float | None = None,
        timestamps_file: str | os.PathLike | None = None,
        sensor_size: Sequence[int] | None = None,
        fit: Fit = "crop",
        allow_long_gaps: bool = False,
    ) -> None:
        fit = check_fit(fit)
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(f"frame folder {str(self.folder)!r} does not exist")
        self.files = folder_images(self.folder)
        if not self.files:
            raise InputError(
                f"frame folder {str(self.folder)!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})"
            )
        ts_path = Path(timestamps_file) if timestamps_file else self.folder / "timestamps.txt"
        if timestamps_file is not None and not ts_path.exists():
            raise InputError(f"timestamps file {str(ts_path)!r} does not exist")
        timed = timestamps_file is not None or ts_path.is_file()
        if timed and fps is not None:
            raise ParameterValueError(
                "fps", fps, f" does not apply: the images are timed by {str(ts_path)!r}"
            )
        if timed:
            ts, linenos = _read_timestamps(ts_path, self.files)
            if ts.size != len(self.files):
                raise InputError(
                    f"{str(ts_path)!r} has {ts.size} times for {len(self.files)} images; "
                    "expected one time per image"
                )
            _warn_slow_frames(ts, ts_path, linenos, allow_long_gaps)
            self.timing = str(ts_path)
        elif fps is not None:
            check_frame_rate(fps, len(self.files))
            ts = np.rint(np.arange(len(self.files)) * 1e6 / fps).astype(np.int64)
            self.timing = f"{fps} fps"
        else:
            raise InputError(
                f"frame folder {str(self.folder)!r} has no timestamps.txt; pass fps or "
                "timestamps_file (a file of one time in seconds per image)"
            )
        self.timestamps_us = ts
        #: `read_image`'s `ImageScaleWarning` of the first image read that drew one; said once,
        #: not for every such image of the folder
        self.scale_problem: str | None = None
        first = _read_image(self.files[0])
        self._check_scale(first, self.files[0], stacklevel=3)
        self.input_size = (first.shape[1], first.shape[0])
        self.sensor_size = _target_size(sensor_size, first)
        self.fit = fit
        self.n_frames = len(self.files)

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        threads = _decode_threads()
        frames = zip(self.files, self.timestamps_us)
        if threads == 1:
            for path, t in frames:
                yield self._fitted(_read_image(path), path), int(t)
            return
        # decoding a large PNG takes longer than simulating it: several images are decoded at
        # once, a few ahead of the one yielded, in order
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(threads, thread_name_prefix="eventsim-decode")
        try:
            ahead: collections.deque = collections.deque()
            for path, t in itertools.islice(frames, 2 * threads):
                ahead.append((pool.submit(_read_image, path), path, t))
            while ahead:
                done, path, t = ahead.popleft()
                for next_path, next_t in itertools.islice(frames, 1):
                    ahead.append((pool.submit(_read_image, next_path), next_path, next_t))
                yield self._fitted(done.result(), path), int(t)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def __repr__(self) -> str:
        def parts() -> list[str]:
            return [
                repr(str(self.folder)),
                f"{self.n_frames} images {_size(self.input_size)}",
                self.timing if self.timing.endswith(" fps") else f"timed by {self.timing!r}",
                *_fitted_to(self.input_size, self.sensor_size, self.fit),
            ]

        return _repr_of(self, parts)

    def _fitted(self, img: np.ndarray, path: Path) -> np.ndarray:
        if (img.shape[1], img.shape[0]) != self.input_size:
            raise InputError(
                f"image {str(path)!r} is {img.shape[1]}x{img.shape[0]}; the folder's first "
                f"image is {self.input_size[0]}x{self.input_size[1]}"
            )
        # here, in the thread that yields the frames: the decoding threads' warnings would
        # come in any order
        self._check_scale(img, path, stacklevel=4)
        return fit_frame(img, self.sensor_size, self.fit)

    def _check_scale(self, img: np.ndarray, path: Path, stacklevel: int) -> None:
        """The `ImageScaleWarning` of ``img`` (of ``path``), unless one was given already;
        ``stacklevel`` as `warnings.warn`'s, 1 being this method's caller."""
        if self.scale_problem is not None:
            return
        problem = _image_scale_problem(img, str(path))
        if problem is not None:
            self.scale_problem = f"{problem} (the first image of the folder to do so)"
            warnings.warn(self.scale_problem, ImageScaleWarning, stacklevel=stacklevel + 1)

    def describe(self) -> dict[str, Any]:
        """The source as stored in an output file's ``source`` attribute (JSON-ready)."""
        return {
            "kind": "folder",
            "path": str(self.folder),
            "n_frames": self.n_frames,
            "timing": self.timing,
            "input_size": list(self.input_size),
            "fit": self.fit,
        }


# time units of ImageJ's tunit= and OME's TimeIncrementUnit, in seconds
_TIME_UNITS = {
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "msec": 1e-3,
    "millisecond": 1e-3, "milliseconds": 1e-3, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6,
    "usec": 1e-6, "\u00b5sec": 1e-6, "microsecond": 1e-6, "microseconds": 1e-6, "ns": 1e-9,
    "nanosecond": 1e-9, "nanoseconds": 1e-9, "min": 60.0, "h": 3600.0, "hr": 3600.0,
    "hour": 3600.0,
}  # fmt: skip


def _time_unit(unit: str) -> float | None:
    """Seconds in a time unit of `_TIME_UNITS`, written as it is or with Java's escapes
    ('\\u00B5s': ImageJ writes its units' 'µ' so, 'unit=\\u00B5m'); None for another."""
    unit = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), unit.strip())
    return _TIME_UNITS.get(unit.lower())


def _stack_frame_interval(description: bytes) -> tuple[float, str] | None:
    """The seconds between frames that a TIFF stack's first description gives, and where it
    gives them: ImageJ's ``finterval=`` (in its ``tunit=``, seconds by default) or OME-XML's
    TimeIncrement; None without one (or with a time unit not known). ImageJ's ``fps=`` is no
    interval: it is the speed ImageJ plays the stack at (Animation Options, 7 unless set), saved
    with every stack whose speed was set, whether or not that is the rate of its frames."""

    def positive(value: str | None, scale: float | None = 1.0) -> float | None:
        """``value`` times ``scale``, where that is a finite number > 0."""
        if value is None or scale is None:
            return None
        try:
            number = float(value) * scale
        except ValueError:
            return None
        return number if math.isfinite(number) and number > 0 else None

    if description.startswith(b"ImageJ="):
        interval = _imagej_value(description, "finterval")
        unit = _imagej_value(description, "tunit") or "sec"
        if (step := positive(interval, _time_unit(unit))) is not None:
            return step, f"ImageJ finterval={interval} {unit}"
        return None
    text = description.decode("utf-8", "replace")
    pixels = re.search(r"<(?:\w+:)?Pixels\b[^>]*>", text)
    if pixels is None:
        return None
    # XML quotes attributes with " or '; the unit is seconds where not given (OME's default)
    increment = re.search(r'\bTimeIncrement=(["\'])(.*?)\1', pixels.group(0))
    unit_found = re.search(r'\bTimeIncrementUnit=(["\'])(.*?)\1', pixels.group(0))
    unit = unit_found.group(2) if unit_found else "s"
    value = increment.group(2) if increment else None
    if (step := positive(value, _time_unit(unit))) is None:
        return None
    return step, f'OME TimeIncrement="{value}" {unit}'


class TiffSeriesWarning(UserWarning):
    """An OME-TIFF of several series (positions, or an image with its label and overview) was
    read as its first series alone, or one of z slices (an OME-TIFF's, or an ImageJ
    hyperstack's) was read as frames (those of its first slice where it holds several time
    points)."""


class TiffStackSource:
    """A TIFF file of several images (ImageJ's or Fiji's stack, a microscope's or high-speed
    camera's, tifffile's, an OME-TIFF) as frames in page order, decoded a page at a time: the
    file is never held whole. Its full-resolution pages are the frames (`tiff_frame_count`): a
    reduced-resolution copy (NewSubfileType 1, or a thumbnail of the first page's shape) or a
    mask is left out, and full-resolution pages of different sizes are refused, naming them.
    ImageJ's stack of one directory (past 4 GiB), its frames uncompressed one after another,
    is read too. Of an OME-TIFF of several series, the first series is read (its pages, as its
    TiffData place them), with a `TiffSeriesWarning` naming the others.

    Frames are ``fps`` apart where given, else as the file says: an OME-TIFF's Plane DeltaT
    (in its DeltaTUnit, seconds by default) where every frame has one and they increase, else
    its TimeIncrement, or ImageJ's ``finterval=`` (in its ``tunit=``); a file that says none
    needs ``fps``. ImageJ's ``fps=`` alone is refused so too: it is the speed ImageJ plays the
    stack at, not necessarily the rate its frames were taken at. An ImageJ hyperstack of
    several channels, or of z slices and time points both, and an OME-TIFF of several
    channels, are refused: their pages are no sequence of frames. Of an OME-TIFF of z slices
    at several time points, the time points of its first slice are the frames (as its
    DimensionOrder or TiffData place them); of z slices at one time point, the slices; each
    with a `TiffSeriesWarning` saying so, as is an ImageJ hyperstack of z slices alone
    (``slices=`` without ``frames=``; tifffile's axes 'ZYX'). ImageJ's plain stack says
    ``slices=`` too, of a video's frames as well (its stack is one dimension, z by name): read
    as frames without a word. Pixels that run past the end of the file (a
    truncated stack) end the frames with a `VideoDecodeWarning` (``decode_problem`` says so),
    as do OME planes placed past its last page, after the frames it holds. A float stack
    whose pages peak above twice white draws `read_image`'s `ImageScaleWarning` once, of the
    first such page (``scale_problem`` says it), as the pages are read.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        fps: float | None = None,
        sensor_size: Sequence[int] | None = None,
        fit: Fit = "crop",
    ) -> None:
        fit = check_fit(fit)
        self.path = Path(path)
        name = str(self.path)
        if not self.path.is_file():
            what = "is a folder" if self.path.is_dir() else "does not exist"
            raise InputError(f"TIFF stack {name!r} {what}; expected a TIFF file")
        #: set by a run that stopped early: what happened, in words
        self.decode_problem: str | None = None
        try:
            with open(self.path, "rb") as fh:
                tiff = _FileBytes(fh)
                if tiff[:4] not in TIFF_SIGNATURES:
                    raise InputError(f"TIFF stack {name!r} is no TIFF file")
                layout = _tiff_layout(tiff, f"TIFF stack {name!r}: page 1", one_page_ome=True)
                chain, head, ome, numbered = layout
                description = _tiff_page_description(head or [])
                if ome is not None and ome.elsewhere:
                    raise InputError(
                        f"TIFF stack {name!r} is one file of a multi-file OME-TIFF: its first "
                        f"series has planes in {', '.join(map(repr, ome.elsewhere[:3]))}"
                        f"{' and more' if len(ome.elsewhere) > 3 else ''}, which eventsim does "
                        "not join; save the series as one file (bfconvert, or Fiji's Bio-Formats "
                        "importer and File > Save As > OME-TIFF)"
                    )
                self._check_one_size(numbered)
                # the pages its OME-XML places past the file's last: said after the frames
                past_end = 0 if ome is None else ome.planes_past_end(_ome_z_slice(ome))
                self._past_end = (past_end, len(chain))
                pages = [p for _, p in numbered]
                first = (head if numbered[0][0] == 0 else _tiff_page_entries(tiff, pages[0].at, f"TIFF stack {name!r}: page {numbered[0][0] + 1}")) if pages else None  # fmt: skip
                if first is None:
                    raise InputError(f"TIFF stack {name!r} has no readable first page")
                if ome is None:  # ImageJ's and other descriptions are on the first frame's page
                    description = _tiff_page_description(first)
                samples = _tiff_samples_per_pixel(tiff, first)
                sample_format = next((f for f in first if f.tag == _TIFF_SAMPLE_FORMAT), None)
                order = _tiff_byte_order(tiff) or "little"
                # only float pages are checked for DN saved as float: 16-bit ones peak at 255
                self._float_pages = _tiff_field_values(sample_format, order)[:1] == [3]
                self._at = np.array([p.at for p in pages], np.int64)
                self.n_frames = len(pages)
                # ImageJ's stack of one directory: frame k is its first page's pixels k frames on
                self._frame_bytes = 0
                self._images = images = _imagej_images(description)
                if len(pages) == 1 and images > 1:
                    self._frame_bytes, starts_at = self._imagej_frames(tiff, first, images)
                    self.n_frames = min(images, (len(tiff) - starts_at) // self._frame_bytes)
                frame = self._decode(tiff, 0)
        except OSError as exc:
            raise InputError(
                f"TIFF stack {name!r} cannot be read ({exc.strerror or exc})"
            ) from None
        if frame is None:
            raise InputError(f"TIFF stack {name!r}: its first page runs past the end of the file")
        imagej_z = self._refuse_hyperstack(description)
        z_slices = self._check_ome_planes(description, samples, ome)
        #: of an OME-TIFF of several series, which is read ("1 of 3"); None for one series
        self.series = None if ome is None or len(ome.names) < 2 else f"1 of {len(ome.names)}"
        times, unused = (None, "") if fps is not None or ome is None else self._delta_t_times(ome, numbered)  # fmt: skip
        if fps is not None:
            check_frame_rate(fps, self.n_frames)
            self.timing = f"{fps:g} fps"
        elif times is not None and ome is not None:
            span_s = (int(times[-1]) - int(times[0])) / 1e6
            fps = (self.n_frames - 1) / span_s if span_s > 0 else 1.0
            self.timing = f"{fps:g} fps on average (OME Plane DeltaT, {ome.delta_t_unit})"
        else:
            found = _stack_frame_interval(description)
            if found is None:
                raise InputError(self._no_frame_rate(description, unused))
            step, where = found
            fps = 1 / step
            try:
                check_frame_rate(fps, self.n_frames)
            except ParameterError:
                raise InputError(
                    f"TIFF stack {name!r}: its {where} is {fps:g} frames a second, which eventsim "
                    f"cannot time (at most {MAX_FPS:g}, and {self.n_frames} frames within "
                    f"{_MAX_TIME_S:g} s); pass fps"
                ) from None
            self.timing = f"{fps:g} fps ({where}{unused})"
        #: the frame rate (of Plane DeltaT times, their average)
        self.fps = float(fps)
        if times is None:
            times = np.rint(np.arange(self.n_frames) * 1e6 / fps).astype(np.int64)
        self.timestamps_us = times
        if ome is not None and len(ome.names) > 1:
            listed = ", ".join(f"{k + 1}: {n!r}" if n else f"{k + 1}" for k, n in enumerate(ome.names[:6]))  # fmt: skip
            warnings.warn(
                f"TIFF stack {name!r} is an OME-TIFF of {len(ome.names)} series ({listed}"
                f"{', ...' if len(ome.names) > 6 else ''}); its first is read, the others "
                "left out: to simulate another, save it as a file of its own (bfconvert "
                "-series N, counting from 0, or Fiji's Bio-Formats importer)",
                TiffSeriesWarning,
                stacklevel=2,
            )
        if z_slices:
            warnings.warn(f"TIFF stack {name!r} is an OME-TIFF of {z_slices}", TiffSeriesWarning, stacklevel=2)  # fmt: skip
        if imagej_z:
            warnings.warn(f"TIFF stack {name!r} is an ImageJ hyperstack of {imagej_z}", TiffSeriesWarning, stacklevel=2)  # fmt: skip
        #: `read_image`'s `ImageScaleWarning` of the first page that drew one (a float page
        #: peaking above twice white); said once, not for every such page of the stack
        self.scale_problem: str | None = None
        self._check_scale(frame, 0, stacklevel=2)
        self.input_size = (frame.shape[1], frame.shape[0])
        self.sensor_size = _target_size(sensor_size, frame)
        self.fit = fit

    def __repr__(self) -> str:
        def parts() -> list[str]:
            return [
                repr(str(self.path)),
                f"{self.n_frames} frames {_size(self.input_size)}",
                self.timing,
                *([f"series {self.series}"] if self.series else []),
                *_fitted_to(self.input_size, self.sensor_size, self.fit),
            ]

        return _repr_of(self, parts)

    def _check_scale(self, frame: np.ndarray, index: int, stacklevel: int) -> None:
        """The `ImageScaleWarning` of page ``index``'s ``frame`` of a float stack, unless one
        was given already; ``stacklevel`` as `warnings.warn`'s, 1 being this method's caller."""
        if not self._float_pages or self.scale_problem is not None:
            return
        problem = _image_scale_problem(frame, str(self.path))
        if problem is not None:
            self.scale_problem = f"{problem} (page {index + 1}, the first of the stack to do so)"
            warnings.warn(self.scale_problem, ImageScaleWarning, stacklevel=stacklevel + 1)

    def _check_one_size(self, numbered: list[tuple[int, _TiffPage]]) -> None:
        """Refuse full-resolution pages (``(index in the file, page)``) of different sizes:
        frames of another size would be cropped or stretched each its own way, and the events
        would be of that, not of the scene."""
        if not numbered:
            return
        k0, size = numbered[0][0], _tiff_page_size(numbered[0][1])
        other = next(((k, s) for k, p in numbered if (s := _tiff_page_size(p)) != size), None)
        if other is None:
            return

        def shown(wh: tuple[int | None, int | None]) -> str:
            return "x".join("?" if n is None else str(n) for n in wh)

        raise InputError(
            f"TIFF stack {str(self.path)!r}: its page {other[0] + 1} is {shown(other[1])} and its "
            f"page {k0 + 1}, the first frame, {shown(size)}; the frames of a stack are of one "
            "size (a reduced-resolution copy is left out where NewSubfileType 1 flags it); save "
            "the pages of one size as a stack of their own, or each page as a file"
        )

    def _delta_t_times(
        self, ome: _OmeSeries, numbered: list[tuple[int, _TiffPage]]
    ) -> tuple[np.ndarray | None, str]:
        """The frames' times (µs from the first) by their planes' OME DeltaT, or None and
        why they are not used (in words, to follow a timing; empty where there are none)."""
        if not (ome.delta_t or ome.delta_t_unknown) or self._frame_bytes:
            return None, ""
        planes = [k if ome.planes is None else ome.planes[k] for k, _ in numbered]
        missing = next((k for k, plane in enumerate(planes) if plane not in ome.delta_t), None)
        if missing is not None and ome.delta_t_unknown:
            return None, (
                f"; its OME Plane DeltaTUnit={ome.delta_t_unknown!r} is no time unit eventsim "
                "knows (s, ms, µs, ns, min, h), so no DeltaT are used"
            )
        if missing is not None:
            return None, f"; frame {missing + 1} has no OME Plane DeltaT, so none are used"
        seconds = np.array([ome.delta_t[plane] for plane in planes])
        if seconds[-1] - seconds[0] > _MAX_TIME_S:
            return None, f"; its OME Plane DeltaT span more than {_MAX_TIME_S:g} s, not used"
        times = np.rint((seconds - seconds[0]) * 1e6).astype(np.int64)
        bad = np.flatnonzero(np.diff(times) <= 0)
        if bad.size:
            k = int(bad[0]) + 1
            return None, (
                f"; its OME Plane DeltaT do not increase by a microsecond or more (frame "
                f"{k + 1} at {seconds[k]:g} s follows {seconds[k - 1]:g} s), so are not used"
            )
        return times, ""

    def _no_frame_rate(self, description: bytes, unused: str) -> str:
        """The refusal of a stack that gives no frame interval (``unused``: why its OME
        DeltaT were not used), ending in '; pass fps'."""
        name = str(self.path)
        playback = _imagej_value(description, "fps")
        if playback is not None:
            return (
                f"TIFF stack {name!r} of {self.n_frames} frames gives no frame interval (no "
                f"ImageJ finterval=): its fps={playback} is only the speed ImageJ plays it at "
                "(Image > Stacks > Animation Options), which need not be the rate its frames "
                f"were taken at; give that rate ({playback} if it is that); pass fps"
            )
        said = f" or OME TimeIncrement{unused}" if unused else ", no OME TimeIncrement or Plane DeltaT"  # fmt: skip
        return (
            f"TIFF stack {name!r} of {self.n_frames} frames gives no frame rate (no ImageJ "
            f"finterval={said}); pass fps"
        )

    def _imagej_frames(
        self, tiff: _FileBytes, first: list[_TiffField], images: int
    ) -> tuple[int, int]:
        """The bytes of a frame of ImageJ's stack of one directory (``images`` frames, stored
        after each other from its first page's), and where the first starts: its uncompressed
        strips, which must follow each other."""
        order = _tiff_byte_order(tiff) or "little"
        found = {f.tag: f for f in first}
        compression = _tiff_field_values(found.get(_TIFF_COMPRESSION), order) or [1]
        starts = _tiff_field_values(found.get(_TIFF_STRIPS[0]), order)
        lengths = _tiff_field_values(found.get(_TIFF_STRIPS[1]), order)
        follow = all(a + n == b for a, n, b in zip(starts, lengths, starts[1:]))
        if compression[0] != 1 or len(starts) != len(lengths) or not follow or not sum(lengths):
            raise InputError(
                f"TIFF stack {str(self.path)!r} says it holds {images} images (ImageJ's "
                "images=) in one directory, whose pixels are compressed or scattered, so that "
                "the frames after the first cannot be found; save it as one directory a frame "
                "(ImageJ does under 4 GiB) or as a frame folder"
            )
        return sum(lengths), starts[0]

    def _refuse_hyperstack(self, description: bytes) -> str:
        """Refuse an ImageJ hyperstack of several channels, or of z slices and time points
        both. Returns what the frames of one of z slices alone are, in words, for a
        `TiffSeriesWarning` ("" otherwise), as `_check_ome_planes` does."""
        counts = {
            key: int(value) if value and value.isdecimal() else 1
            for key in ("channels", "slices", "frames")
            for value in [_imagej_value(description, key)]
        }
        if counts["channels"] > 1 or (counts["slices"] > 1 and counts["frames"] > 1):
            layout = " x ".join(f"{n} {key}" for key, n in counts.items() if n > 1)
            hint = ""
            if counts["slices"] == counts["frames"] == 1:
                # tifffile's imwrite(..., imagej=True) writes a [T,H,W] array given no axes as
                # channels=T, the same bytes as real channels (axes 'CYX'): told, not guessed
                n = counts["channels"]
                hint = (
                    "; where its pages are frames in time (tifffile's imwrite(..., imagej=True) "
                    "calls the pages of an array without axes channels), write it with "
                    "metadata={'axes': 'TYX'}, or set it in Fiji's Image > Properties "
                    f"(Channels 1, Frames {n})"
                )
            raise InputError(
                f"TIFF stack {str(self.path)!r} is an ImageJ hyperstack of {layout}, whose "
                "pages are no sequence of frames; keep one channel and one slice a time point "
                f"(ImageJ's Image > Hyperstacks > Reduce Dimensionality) and save that{hint}"
            )
        z = counts["slices"]
        # ImageJ names a plain stack's images slices whatever they are (a video's frames too):
        # only a hyperstack's slices= says z, as tifffile's axes 'ZYX' write it ('TYX' frames=)
        if z > 1 and _imagej_value(description, "hyperstack") == "true":
            return (
                f"{z} z slices at one time point (slices={z}, no frames=): focal planes, not "
                "frames in time, read as frames, so the events are of the focus changing, not "
                "of anything moving; simulate a time series (frames=) for that, or, where "
                f"these are time points, say so (Fiji's Image > Properties: Slices 1, Frames {z})"
            )
        return ""

    def _check_ome_planes(self, description: bytes, samples: int, ome: _OmeSeries | None) -> str:
        """An OME-TIFF keeps a plane a page, channels and z slices too: of several channels
        each a page of its own, its pages are no sequence of frames (a frame a channel would
        flicker between them), and neither are those of z slices at several time points where
        the XML could not be parsed (``ome`` None; where it was, `_ome_z_slice`'s are read).
        ``samples``: the first frame's samples a pixel. Returns what the frames of a series of
        z slices are, in words, for a `TiffSeriesWarning` ("" for a time series): read as
        time, focal planes make events of the focus changing."""
        pixels = re.search(rb"<(?:\w+:)?Pixels\b[^>]*>", description)
        if pixels is None:
            return ""
        sizes = {}
        for axis in "CZT":
            size = re.search(rb"\bSize" + axis.encode() + rb"=[\"'](\d+)[\"']", pixels.group(0))
            sizes[axis] = int(size.group(1)) if size else 1
        # an RGB plane is three of SizeC in one page
        channels = sizes["C"] // samples if sizes["C"] % samples == 0 else sizes["C"]
        if channels > 1 or (sizes["Z"] > 1 and sizes["T"] > 1 and ome is None):
            layout = ", ".join(f"Size{axis}={n}" for axis, n in sizes.items() if n > 1)
            raise InputError(
                f"TIFF stack {str(self.path)!r} is an OME-TIFF of {layout}, whose pages are "
                "no sequence of frames; save one channel of one z slice over time (Fiji's "
                "Image > Hyperstacks > Reduce Dimensionality, or bfconvert -channel/-z)"
            )
        z, t = (sizes["Z"], sizes["T"]) if ome is None else (ome.sizes["Z"], ome.sizes["T"])
        if z > 1 and t > 1:
            return (
                f"{z} z slices at {t} time points (SizeZ={z}, SizeT={t}): the time points of "
                f"its first z slice are read, the other {z - 1} left out; to simulate another "
                "slice, save it as a file of its own (bfconvert -z N, counting from 0, or "
                "Fiji's Image > Hyperstacks > Reduce Dimensionality)"
            )
        if z > 1:
            return (
                f"{z} z slices at one time point (SizeZ={z}, SizeT={t}): focal planes, not "
                "frames in time, read as frames, so the events are of the focus changing, "
                "not of anything moving; simulate a time series (SizeT > 1, SizeZ=1) for that"
            )
        return ""

    def _decode(self, tiff: _FileBytes, index: int) -> np.ndarray | None:
        """Frame ``index`` decoded as `read_image` decodes a TIFF file of it alone; None where
        its pixels run past the end of the file."""
        name = f"TIFF stack {str(self.path)!r}: page {index + 1}"
        fields = _tiff_page_entries(tiff, int(self._at[0 if self._frame_bytes else index]), name)
        page = None if fields is None else _tiff_page_file(tiff, fields, name, index * self._frame_bytes)  # fmt: skip
        if page is None:
            return None
        return _decode_tiff(page, f"{self.path} (page {index + 1})")

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        with open(self.path, "rb") as fh:
            tiff = _FileBytes(fh)
            for index, t in enumerate(self.timestamps_us):
                frame = self._decode(tiff, index)
                if frame is None:
                    self.decode_problem = (
                        f"TIFF stack {str(self.path)!r}: page {index + 1} of {self.n_frames} "
                        "runs past the end of the file (truncated?); the events end at the "
                        "page before"
                    )
                    break
                if (frame.shape[1], frame.shape[0]) != self.input_size:
                    raise InputError(
                        f"TIFF stack {str(self.path)!r}: page {index + 1} is "
                        f"{frame.shape[1]}x{frame.shape[0]}; the first is "
                        f"{self.input_size[0]}x{self.input_size[1]}"
                    )
                if index:  # the first page was checked as the stack was opened
                    self._check_scale(frame, index, stacklevel=2)
                yield fit_frame(frame, self.sensor_size, self.fit), int(t)
        if self._frame_bytes and self.n_frames < self._images and self.decode_problem is None:
            self.decode_problem = (
                f"TIFF stack {str(self.path)!r} says it holds {self._images} images (ImageJ's "
                f"images=), of which its file holds {self.n_frames} (truncated?); the events "
                "end there"
            )
        past_end, n_pages = self._past_end
        if past_end and self.decode_problem is None:
            self.decode_problem = (
                f"TIFF stack {str(self.path)!r}: its OME-XML places {past_end} "
                f"{'plane' if past_end == 1 else 'planes'} of its first series past its last "
                f"page (page {n_pages}) (truncated?); the events are of the {self.n_frames} "
                f"{'frame' if self.n_frames == 1 else 'frames'} it holds"
            )
        if self.decode_problem is not None:
            warnings.warn(self.decode_problem, VideoDecodeWarning, stacklevel=2)

    def describe(self) -> dict[str, Any]:
        """The source as stored in an output file's ``source`` attribute (JSON-ready)."""
        return {
            "kind": "tiff_stack",
            "path": str(self.path),
            "n_frames": self.n_frames,
            "timing": self.timing,
            "input_size": list(self.input_size),
            "fit": self.fit,
            **({"ome_series": self.series} if self.series is not None else {}),
        }


class PairSource:
    """Two images (paths or arrays) ``interval_ms`` apart. Arrays are taken in the units
    `read_image` returns and `ArraySource` takes: uint8 and float in DN (0..255 nominal),
    uint16 as 16-bit images (65535 = white), a fourth channel alpha blended onto white."""

    def __init__(
        self,
        first: np.ndarray | str | os.PathLike,
        second: np.ndarray | str | os.PathLike,
        *,
        interval_ms: float = 10.0,
        sensor_size: Sequence[int] | None = None,
        fit: Fit = "crop",
    ) -> None:
        fit = check_fit(fit)
        if not (math.isfinite(interval_ms) and interval_ms > 0):
            raise ParameterValueError("interval_ms", interval_ms, "; expected a value > 0")
        if not 1 <= round(interval_ms * 1e3) <= _MAX_TIME_S * 1e6:
            # under half a µs both images got time 0; far above, the time overflowed int64
            raise ParameterValueError(
                "interval_ms",
                interval_ms,
                f"; expected 0.001 (1 us, the time resolution of events) to {_MAX_TIME_S * 1e3:g}",
            )
        a = _as_image(first, "first image")
        b = _as_image(second, "second image")
        if a.shape[:2] != b.shape[:2]:
            # fitting each to the sensor would not line them up: a crop or stretch of another
            # scale moves every edge, and the events would be of that, not of the change
            names = [
                f"the {which} array" if isinstance(x, np.ndarray) else repr(str(x))
                for which, x in (("first", first), ("second", second))
            ]
            raise InputError(
                f"image pair has different sizes: {a.shape[1]}x{a.shape[0]} ({names[0]}) and "
                f"{b.shape[1]}x{b.shape[0]} ({names[1]}); the two must be one size: resize "
                f"{names[1]} to {a.shape[1]}x{a.shape[0]} (or {names[0]} to "
                f"{b.shape[1]}x{b.shape[0]}) first"
            )
        if (a.ndim == 3) != (b.ndim == 3):
            a, b = _to_rgb(a), _to_rgb(b)
        if a.dtype != b.dtype:
            a, b = a.astype(np.float64), b.astype(np.float64)
        self.images = (a, b)
        self._user_floats = any(
            isinstance(x, np.ndarray) and x.dtype.kind == "f" for x in (first, second)
        )
        self.names = [str(x) if not isinstance(x, np.ndarray) else "array" for x in (first, second)]
        self.interval_ms = float(interval_ms)
        self.input_size = (a.shape[1], a.shape[0])
        self.sensor_size = _target_size(sensor_size, a)
        self.fit = fit
        self.n_frames = 2

    def __repr__(self) -> str:
        def parts() -> list[str]:
            return [
                *(repr(n) if n != "array" else "array" for n in self.names),
                f"{self.interval_ms:g} ms apart",
                _size(self.input_size),
                *_fitted_to(self.input_size, self.sensor_size, self.fit),
            ]

        return _repr_of(self, parts)

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        yield fit_frame(self.images[0], self.sensor_size, self.fit), 0
        yield fit_frame(self.images[1], self.sensor_size, self.fit), round(self.interval_ms * 1e3)

    def describe(self) -> dict[str, Any]:
        """The source as stored in an output file's ``source`` attribute (JSON-ready)."""
        return {
            "kind": "pair",
            "paths": self.names,
            "interval_ms": self.interval_ms,
            "input_size": list(self.input_size),
            "fit": self.fit,
        }


def _to_rgb(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)


class ImageMotionSource:
    """One still image seen by a moving camera, rendered with sub-pixel warps.

    ``motion``: ``saccade`` (N-MNIST-style: three straight sweeps around a triangle, back to the
    start), ``pan`` (a straight sweep, direction ``angle_deg``), ``zoom`` (about the centre; the
    border moves by ``amplitude_px``) or ``random-walk`` (a smooth random path within
    ``amplitude_px``). ``fps`` defaults to a rate that keeps motion at <= 0.5 px per frame
    everywhere on the sensor (a zoom's corners included), within 100..5000 fps: a motion faster
    than 2,500 px/s (a short ``duration_ms``, a large ``amplitude_px``) moves more than 0.5 px a
    frame at 5000 fps unless ``fps`` is given. The frames span ``duration_ms`` at about ``fps``.
    They are at most 2**25 (their times are made at once): ParameterError beyond; a saccade
    takes at least 4 (its start and the triangle's other two corners, then back) where the
    duration holds them 1 us apart.
    Where the motion brings in content from beyond the image's edge, that content is the image
    mirrored at the edge (OpenCV's BORDER_REFLECT_101): no dark band comes in and the edge makes
    no burst of events (a little fewer than a wider scene would give there). ``seed`` draws the
    random walk (an integer 0..2**64-1).
    `max_step_px` is how far the motion moves content between two of its frames (along its
    path), `fps_within` the lowest rate that keeps that within a distance.
    An array ``image`` is taken in `PairSource`'s units (uint8 and float DN, uint16 16-bit; a
    fourth channel is alpha, as `ArraySource` takes it).
    """

    def __init__(
        self,
        image: np.ndarray | str | os.PathLike,
        motion: Motion = "saccade",
        *,
        duration_ms: float = 300.0,
        amplitude_px: float | None = None,
        fps: float | None = None,
        sensor_size: Sequence[int] | None = None,
        seed: int = 0,
        angle_deg: float = 0.0,
        fit: Fit = "crop",
    ) -> None:
        if motion not in MOTIONS:
            raise ParameterError(
                f"motion {motion!r} is unknown; expected one of {', '.join(MOTIONS)}"
            )
        fit = check_fit(fit)
        if (
            isinstance(seed, bool)
            or not isinstance(seed, (int, np.integer))
            or not 0 <= int(seed) <= 2**64 - 1
        ):
            # the simulator's rule: a negative seed failed in numpy as a bare ValueError (with
            # a random walk), a fractional one was cut to an integer without a word
            raise ParameterError(f"seed {seed!r}; expected an integer 0..2**64-1")
        if not (math.isfinite(duration_ms) and duration_ms > 0):
            raise ParameterValueError("duration_ms", duration_ms, "; expected a value > 0")
        img = _as_image(image, "image")
        self._user_floats = isinstance(image, np.ndarray) and image.dtype.kind == "f"
        self.name = str(image) if not isinstance(image, np.ndarray) else "array"
        self.input_size = (img.shape[1], img.shape[0])
        self.sensor_size = _target_size(sensor_size, img)
        self.fit = fit
        self.image = fit_frame(img, self.sensor_size, fit)
        if self.image.dtype != np.uint8:
            self.image = self.image.astype(np.float32)
        width, height = self.sensor_size
        if amplitude_px is None:
            amplitude_px = max(2.0, round(0.025 * max(width, height), 1))
        if not (math.isfinite(amplitude_px) and amplitude_px > 0):
            raise ParameterValueError("amplitude_px", amplitude_px, "; expected a value > 0")
        if not math.isfinite(angle_deg):
            # OpenCV's warp never returned from a NaN shift
            raise ParameterError(f"angle_deg = {angle_deg!r}; expected a finite angle")
        self.motion, self.duration_ms, self.amplitude_px = motion, float(duration_ms), amplitude_px
        self.seed, self.angle_deg = int(seed), float(angle_deg)
        duration_s = self.duration_ms / 1e3
        self._walk = self._random_walk() if motion == "random-walk" else None
        speed = None
        if fps is None:
            speed = self._max_speed_px_per_s()
            fps = min(MAX_MOTION_FPS, max(100.0, math.ceil(speed / 0.45)))
            # the count is rounded from the rate, down as well as up: a motion of under about
            # 2.25 px could take fewer steps than 0.5 px each needs (a 0.6 px pan over 5 ms
            # took one step at 267 fps); the tolerance keeps a motion of exactly 0.5 px a step
            needed = math.ceil(speed * duration_s / MOTION_STEP_PX - 1e-9)
            if round(duration_s * fps) < needed:
                fps = min(MAX_MOTION_FPS, needed / duration_s)
        self._set_frames(fps, duration_ms)
        # times in whole microseconds make some steps 1 us longer than the rest: over a few
        # steps that can be more than 0.5 px (two steps of 2500 and 2501 us over a 1 px pan)
        while (
            speed is not None
            and self.fps < MAX_MOTION_FPS
            and speed * np.diff(self.timestamps_us).max() / 1e6 > MOTION_STEP_PX + 1e-9
        ):
            self._set_frames(min(MAX_MOTION_FPS, self.n_frames / duration_s), duration_ms)

    def __repr__(self) -> str:
        def parts() -> list[str]:
            return [
                repr(self.name) if self.name != "array" else "array",
                repr(self.motion),
                f"{self.duration_ms:g} ms at {self.fps:g} fps ({self.n_frames} frames)",
                f"amplitude {self.amplitude_px:g} px",
                *_fitted_to(self.input_size, self.sensor_size, self.fit),
            ]

        return _repr_of(self, parts)

    def _set_frames(self, fps: float, duration_ms: float) -> None:
        """Frames at about ``fps`` that span the duration whatever the rate, and their times;
        ParameterError where they are too many to time at once or closer than 1 us."""
        self.fps = check_frame_rate(fps)
        self.n_frames = self._frame_count(self.fps)
        if self.n_frames > _MAX_MOTION_FRAMES:
            # the times are made at once, 8 bytes a frame and as much again while they are
            # rounded: 1e6 fps over an hour asked for 54 GiB before a frame was rendered
            raise ParameterValueError(
                "duration_ms",
                duration_ms,
                f" at {self.fps:g} fps is {self.n_frames:,} frames "
                f"({self.n_frames * 16 / 2**30:.3g} GiB of frame times while they are made); at "
                f"most {_MAX_MOTION_FRAMES:,} fit the {_MAX_MOTION_FRAMES * 16 >> 20} MiB an "
                "image motion's times may take; expected a shorter duration or a lower fps",
            )
        self.timestamps_us = self._frame_times(self.n_frames)
        if np.any(np.diff(self.timestamps_us) <= 0):
            if self.n_frames == 2:
                # two frames are the fewest at any rate, so the rate is not named: a lower one
                # would not help
                raise ParameterValueError(
                    "duration_ms",
                    duration_ms,
                    " puts the first and last frames less than 1 us apart; expected a duration "
                    "of at least 0.001 ms (1 us, the time resolution of events)",
                )
            raise ParameterValueError(
                "duration_ms",
                duration_ms,
                f" at {self.fps:g} fps puts frames less than 1 us apart; expected a longer "
                "duration or a lower fps",
            )

    def _frame_count(self, fps: float) -> int:
        """How many frames span the duration at ``fps``."""
        # a saccade ends where it starts: 2 frames, at its ends, saw no motion (0 events at a
        # duration_ms of 0.1), 3 a line; 4 are its triangle's corners, where 1 us apart fits
        fewest = min(4, math.floor(self.duration_ms * 1e3) + 1) if self.motion == "saccade" else 2
        return max(2, fewest, round(self.duration_ms / 1e3 * fps) + 1)

    def _frame_times(self, n_frames: int) -> np.ndarray:
        return np.rint(np.linspace(0, self.duration_ms * 1e3, n_frames)).astype(np.int64)

    @property
    def max_step_px(self) -> float:
        """The furthest the motion moves content on the sensor between two consecutive frames,
        in pixels, along its path (under a zoom, the content at the sensor's corners): a path
        that turns between two frames (a saccade's corner, a random walk) moves it further than
        from one frame's place to the next one's, and a real sensor sees all of that move (a
        saccade of 2 frames, its start and end, goes round its whole triangle between them)."""
        return self._max_step(self.timestamps_us)

    @property
    def max_cut_px(self) -> float:
        """The most the straight line between two consecutive frames' places falls short of
        the path between them, in pixels: the turns of a random walk or saccade within a frame
        interval, which frames interpolated along that line (``upsample="flow"``) miss."""
        return self._max_step(self.timestamps_us, cut=True)

    def _max_step(self, times_us: np.ndarray, cut: bool = False) -> float:
        if cut and self.motion in ("pan", "zoom"):
            return 0.0  # a straight path (pan) or a scale that only grows (zoom)
        width, height = self.sensor_size
        corner = 0.5 * math.hypot(width - 1, height - 1)
        total = self.duration_ms * 1e3
        step = 0.0
        # in chunks that overlap by a frame: an hour at MAX_MOTION_FPS would make 18 M poses
        for start in range(0, len(times_us) - 1, _POSE_CHUNK):
            u = np.minimum(1.0, times_us[start : start + _POSE_CHUNK + 1] / total)
            if self.motion == "zoom":
                # the scale only grows: the corners' path is the distance between their places
                moved = corner * np.abs(np.diff(self._poses(u)[2]))
            else:
                # the distance between the frames' places missed a walk's turns: one of 1 px
                # at 10 fps went 3.0 px between frames 0.9 px apart, and drew no warning
                moved = np.diff(self._travelled(u))
                if cut:
                    dx, dy, _ = self._poses(u)
                    moved -= np.hypot(np.diff(dx), np.diff(dy))
            step = max(step, float(moved.max()))
        return step

    def _travelled(self, u: np.ndarray) -> np.ndarray:
        """How far the image has moved along its path (px) at fractions ``u`` of the duration,
        for the motions that shift it."""
        if self.motion == "pan":
            return self.amplitude_px * u
        points = self._walk if self._walk is not None else self._saccade_corners()
        seg = np.hypot(*np.diff(points, axis=0).T)
        along = np.concatenate([[0.0], np.cumsum(seg)])
        # the poses' interpolation: each segment takes the same share of the duration
        pos = u * (len(points) - 1)
        i = np.minimum(len(points) - 2, pos.astype(np.int64))
        return along[i] + (pos - i) * seg[i]

    def fps_within(self, step_px: float = MOTION_STEP_PX) -> float | None:
        """The lowest frame rate at which this motion moves content at most ``step_px`` between
        two frames (`max_step_px` of the same source given that ``fps``), 3 significant digits
        (whole frames per second from 100) rounded up, found by bisection over frame counts;
        None where no rate the source takes does (frames 1 us apart, or `MAX_FPS`, still move
        it further). Where the fewest frames the motion takes keep it, the rate that gives
        them."""
        if not (math.isfinite(step_px) and step_px > 0):
            raise ParameterValueError("step_px", step_px, "; expected a value > 0")
        duration_s, total_us = self.duration_ms / 1e3, self.duration_ms * 1e3
        # the fewest frames, and the most the source takes: 1 us apart, at MAX_FPS
        fewest = self._frame_count(0.0)
        most = max(
            fewest,
            min(_MAX_MOTION_FRAMES, math.floor(total_us) + 1, self._frame_count(MAX_FPS)),
        )

        def fits(n: int) -> bool:
            return self._max_step(self._frame_times(n)) <= step_px + 1e-9

        # the fastest speed bounds every step, 1 us of rounding included: a count that keeps
        # the bisection's frames few where the motion is slow against the duration
        speed = self._max_speed_px_per_s()
        bound = most
        if speed * 1e-6 < step_px:
            bound = min(most, math.ceil(speed * duration_s / (step_px - speed * 1e-6)) + 1)
        low, high = fewest, max(fewest, bound)
        if fits(low):
            high = low
        elif not fits(high):
            if high == most or not fits(most):
                return None
            low, high = high, most
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (low, mid) if fits(mid) else (mid, high)
        fps = (high - 1) / duration_s
        decimals = max(0, 2 - math.floor(math.log10(fps))) if fps > 0 else 0
        rounded = math.ceil(fps * 10**decimals - 1e-9) / 10**decimals
        count = self._frame_count(rounded)
        if rounded <= MAX_FPS and count <= most and fits(count):
            return rounded
        return fps

    def _max_speed_px_per_s(self) -> float:
        a, duration_s = self.amplitude_px, self.duration_ms / 1e3
        if self.motion == "saccade":
            return 3 * a / duration_s
        if self._walk is not None:
            seg = np.hypot(*np.diff(self._walk, axis=0).T).max()
            return seg * (len(self._walk) - 1) / duration_s
        if self.motion == "zoom":
            # content r px from the centre moves r / half times as fast as the border that
            # amplitude_px is given for, so the corners move fastest (1.66 times as fast on a
            # 4:3 sensor, 2 on a 16:9 one): taking the border's speed, they moved 0.76 px a frame
            width, height = self.sensor_size
            corner = 0.5 * math.hypot(width - 1, height - 1)
            return a * max(corner, self._zoom_half()) / self._zoom_half() / duration_s
        return a / duration_s

    def _zoom_half(self) -> float:
        """Half the sensor's shorter side: a zoom moves content this far from the centre by
        ``amplitude_px``."""
        return 0.5 * min(self.sensor_size)

    def _random_walk(self) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        n = 64
        steps = rng.standard_normal((n, 2))
        path = np.cumsum(steps, axis=0)
        kernel = np.hanning(9)
        kernel /= kernel.sum()
        path = np.stack([np.convolve(path[:, i], kernel, mode="same") for i in range(2)], axis=1)
        path -= path.mean(axis=0)
        peak = np.abs(path).max()
        return path * (self.amplitude_px / peak if peak > 0 else 0.0)

    def _saccade_corners(self) -> np.ndarray:
        """The saccade's path: its triangle's corners, from the start back to it."""
        a = self.amplitude_px
        verts = np.array([[0.0, 0.0], [a, 0.0], [a / 2, a * math.sqrt(3) / 2], [0.0, 0.0]])
        verts -= verts[:3].mean(axis=0)
        return verts

    def pose(self, u: float) -> tuple[float, float, float]:
        """(dx, dy, scale) at fraction ``u`` of the duration."""
        dx, dy, s = self._poses(np.array([u], dtype=np.float64))
        return float(dx[0]), float(dy[0]), float(s[0])

    def _poses(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dx, dy, scale), each an array, at fractions ``u`` of the duration."""
        a = self.amplitude_px
        still = np.zeros_like(u)
        if self.motion == "saccade":
            verts = self._saccade_corners()
            seg = np.minimum(2, (u * 3).astype(np.int64))
            f = u * 3 - seg
            xy = verts[seg] + f[:, None] * (verts[seg + 1] - verts[seg])
            return xy[:, 0], xy[:, 1], still + 1.0
        if self.motion == "pan":
            d = a * (u - 0.5)
            rad = math.radians(self.angle_deg)
            return d * math.cos(rad), d * math.sin(rad), still + 1.0
        if self.motion == "zoom":
            return still, still, 1.0 + a * u / self._zoom_half()
        walk = self._walk
        assert walk is not None  # the only motion left is random-walk, whose path __init__ drew
        pos = u * (len(walk) - 1)
        i = np.minimum(len(walk) - 2, pos.astype(np.int64))
        f = pos - i
        xy = walk[i] + f[:, None] * (walk[i + 1] - walk[i])
        return xy[:, 0], xy[:, 1], still + 1.0

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        width, height = self.sensor_size
        cx, cy = (width - 1) / 2, (height - 1) / 2
        total = self.duration_ms * 1e3
        for t in self.timestamps_us:
            # the last time, rounded to whole microseconds, may be past a duration of 3.5 us:
            # the motion ends there, not beyond its end (a saccade's past its start)
            dx, dy, s = self.pose(min(1.0, float(t) / total))
            m = np.array(
                [[s, 0.0, (1 - s) * cx + dx], [0.0, s, (1 - s) * cy + dy]], dtype=np.float64
            )
            frame = cv2.warpAffine(
                self.image,
                m,
                (width, height),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT_101,
            )
            yield frame, int(t)

    def describe(self) -> dict[str, Any]:
        """The source as stored in an output file's ``source`` attribute (JSON-ready)."""
        return {
            "kind": "image-motion",
            "path": self.name,
            "motion": self.motion,
            "duration_ms": self.duration_ms,
            "amplitude_px": self.amplitude_px,
            "fps": self.fps,
            "seed": self.seed,
            "angle_deg": self.angle_deg,
            "input_size": list(self.input_size),
            "fit": self.fit,
        }
