"""Frame sinks: one PNG, a folder of PNGs, an MP4/AVI video (OpenCV) or a GIF (Pillow).

This is the only I/O in ``eventsim.render``. Every sink writes under a temporary name next to
the target and renames on success, so a failed or interrupted render leaves no half-written
output; an existing target is only replaced with ``force``.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import operator
import os
import re
from abc import ABC, abstractmethod
from array import array
from pathlib import Path

import cv2
import numpy as np

from eventsim._opencv import opencv_file_name, opencv_log_silenced
from eventsim.errors import EventFileError, OutputExistsError, ParameterError, require
from eventsim.outputs import (
    check_interrupted,
    check_replaceable,
    describe_os_error,
    fsync_file,
    publish,
    remove_path,
    remove_stale_temps,
    sigint_deferred,
    temp_path,
)
from eventsim.render.colors import check_rgb

VIDEO_SUFFIXES = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}
# FFmpeg's MPEG-4 Part 2 encoder takes at most 13-bit sizes; frames are padded to even sizes
MAX_MPEG4_SIDE = 8190
# JPEG stores sizes in 16 bits. FFmpeg's encoder refuses sides over 65500 and OpenCV then falls
# back to its own Motion JPEG writer, which takes up to 65535 but writes wider frames at their
# size modulo 65536 (98302 px came out 32766 px wide, reported as written)
MAX_MJPEG_SIDE = 65535
IMAGE_SUFFIXES = (".png",)
GIF_SUFFIXES = (".gif",)
# the fewest digits of a frame number in a folder of PNGs (frame_000000.png)
FRAME_DIGITS = 6
_FRAME_NAME = re.compile(rf"frame_\d{{{FRAME_DIGITS},}}\.png")
# a folder of PNGs' index of the time window each frame shows (`FolderSink`), and its first
# line: --force takes a windows.csv for an earlier render's only when it begins so
WINDOWS_NAME = "windows.csv"
WINDOWS_HEADER = "file,t_start_us,t_end_us"
# below this the video encoder has no valid time base and a GIF frame outlasts its 655 s limit
MIN_PLAYBACK_FPS = 0.01
# Motion JPEG frames are padded to at least this width. OpenCV's FFmpeg writer converts each
# BGR frame to the encoder's YUV 4:2:0 with swscale, into a picture it mallocs packed tight
# (cap_ffmpeg_impl.hpp: av_image_get_buffer_size(..., align 1)), without the padding that
# FFmpeg's own frames carry for SIMD code, which stores 8 bytes at a time (swscale falls back
# to C only for the last two luma rows: "can't use MMX here without overwriting this array's
# tail"). For the full-range yuvj420p that MJPEG takes, narrow frames are overrun: valgrind
# (OpenCV 5.0, swscale 9.5) shows 8-byte writes past the 24-byte picture of 4x4 and 2x8
# frames, and glibc aborts the process on 2x8, 3x8, 4x4, 5x4, 6x8, 7x8 ones (OpenCV issue
# #22420, closed as FFmpeg's). From 8 px wide no write left the picture (8x2 to 8x8, 10x2 to
# 34x8, 346x260). MPEG-4 (mp4v) takes limited-range yuv420p by another path: clean from 2x2.
MIN_MJPG_WIDTH = 8
# FFmpeg's MPEG-4 encoder refuses a time base of a larger denominator (OpenCV then fails to open
# the writer, with FFmpeg's own message on stderr): 65536 fps, or 40000.5 (2/80001)
MAX_MPEG4_TIME_BASE_DEN = 65535
# FFmpeg's AVI muxer stores a video frame rate over 1000 fps as 600 fps (avienc.c: "au_byterate
# > 1000LL*au_scale"): frames then share a timestamp and it drops them ('non monotonically
# increasing dts'), which surfaced as a disk-full error at frame 6 of a 5000 fps .avi
MAX_AVI_FPS = 1000


def opencv_bit_rate(fps: float, frame_wh: tuple[int, int]) -> int:
    """The bit rate OpenCV gives FFmpeg's encoder, ``(int)(fps * width * height + 0.5)`` in its
    order of operations. At 0 the rate control of both our encoders (mp4v, MJPG) can fail an
    assertion that aborts the whole process (8x6 MPEG-4 frames below 0.5 / 48 fps, 8x2 Motion
    JPEG ones at 0.01 fps); at 1 they work."""
    width, height = frame_wh
    return int(float(fps) * width * height + 0.5)


def opencv_time_base(fps: float) -> tuple[int, int]:
    """The time base OpenCV gives FFmpeg's encoder for ``fps``, as (numerator, denominator) in
    lowest terms: ``fps`` within 0.001 as a whole number over a power of ten, inverted
    (cap_ffmpeg_impl.hpp). MPEG-4 takes denominators of at most `MAX_MPEG4_TIME_BASE_DEN`."""
    fps = float(fps)
    rate, base = int(fps + 0.5), 1
    while abs(rate / base - fps) > 0.001:
        base *= 10
        rate = int(fps * base + 0.5)
    common = math.gcd(rate, base)
    return base // common, rate // common


def check_playback_fps(fps: float) -> float:
    """``fps`` as a float when a video or GIF can play at that rate, else ParameterError."""
    if not (math.isfinite(fps) and fps >= MIN_PLAYBACK_FPS):
        raise ParameterError(
            f"fps {fps:g} is not a playback rate a video or GIF can hold; expected a finite "
            f"rate of at least {MIN_PLAYBACK_FPS:g} frames per second"
        )
    return float(fps)


def check_mpeg4_fps(fps: float) -> None:
    """Refuse a frame rate whose `opencv_time_base` MPEG-4 cannot store."""
    num, den = opencv_time_base(fps)
    if den > MAX_MPEG4_TIME_BASE_DEN:
        instead = (
            "write an .avi (Motion JPEG) or choose another fps"
            if den <= MAX_AVI_FPS * num
            else f"choose another fps (an .avi holds at most {MAX_AVI_FPS}), or write a .gif or "
            "a folder of PNGs"
        )
        raise ParameterError(
            f"fps {fps:g} cannot be stored in MPEG-4 video, whose frame rates are fractions "
            f"with a numerator of at most {MAX_MPEG4_TIME_BASE_DEN} ({fps:g} fps is "
            f"{den}/{num}); {instead}"
        )


def check_avi_fps(fps: float) -> None:
    """Refuse a frame rate over `MAX_AVI_FPS`, which an .avi cannot hold."""
    num, den = opencv_time_base(fps)
    if den > MAX_AVI_FPS * num:
        instead = (
            "write an .mp4 or choose a lower fps"
            if den <= MAX_MPEG4_TIME_BASE_DEN
            else "choose a lower fps, or write a .gif or a folder of PNGs"
        )
        raise ParameterError(
            f"fps {fps:g} is too fast for an .avi, which holds at most {MAX_AVI_FPS} fps "
            "(FFmpeg's AVI muxer stores faster rates as 600 fps, and drops the frames that "
            f"then share a time); {instead}"
        )


def video_plays_at(fps: float) -> str | None:
    """The video suffix that plays at ``fps`` (.mp4, else .avi), or None when neither can."""
    num, den = opencv_time_base(fps)
    if den <= MAX_MPEG4_TIME_BASE_DEN:
        return ".mp4"
    return ".avi" if den <= MAX_AVI_FPS * num else None


def output_kind(path: str | os.PathLike) -> str:
    """'png', 'folder', 'video' or 'gif' from the output name; a name without a suffix (or an
    existing directory) is a folder of PNGs."""
    p = Path(path)
    suffix = p.suffix.lower()
    if p.is_dir() or str(path).endswith(("/", os.sep)) or not suffix:
        return "folder"
    if suffix in IMAGE_SUFFIXES:
        return "png"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in GIF_SUFFIXES:
        return "gif"
    valid = [*IMAGE_SUFFIXES, *VIDEO_SUFFIXES, *GIF_SUFFIXES]
    raise ParameterError(
        f"output {str(path)!r} has an unknown suffix {suffix!r}; valid: {', '.join(valid)}, "
        "or a name without a suffix for a folder of PNGs"
    )


def check_creatable(path: str | os.PathLike) -> None:
    """Refuse an output that cannot be created in its folder (read-only, no permission, a file
    where the folder should be), naming it and its folder: the writers would fail later naming
    only their hidden temporary file, and OpenCV's video writer gives no reason at all. A
    folder still to be made is judged by the nearest one that exists."""
    path = Path(path)
    folder = path.parent
    while not (folder.exists() or folder.is_symlink()) and folder != folder.parent:
        folder = folder.parent
    if folder.exists() and not folder.is_dir():
        raise EventFileError(f"cannot create {str(path)!r}: {str(folder)!r} is not a folder")
    probe = temp_path(folder / path.name)
    # Ctrl-C (or SIGTERM) held back until the probe is gone: one landing just after it was
    # made left it behind, and in a folder above the output's, still to be made, no later run
    # would take it for its own temporary and remove it
    with sigint_deferred():
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            why = describe_os_error(OSError(exc.errno, exc.strerror))
            raise EventFileError(
                f"cannot create {str(path)!r} in folder {str(folder)!r}: {why}"
            ) from None
        try:
            os.close(fd)
        finally:
            remove_path(probe)


def _imwrite_png(path: Path, frame_rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise EventFileError(f"could not encode a PNG for {str(path)!r}")
    path.write_bytes(buf.tobytes())


class FrameSink(ABC):
    """Context manager; ``write(frame)`` takes HxWx3 RGB uint8 frames of one size."""

    def __init__(self, path: str | os.PathLike, *, force: bool = False) -> None:
        self.path = Path(path)
        self.force = force
        if self.path.exists() and not force:
            raise OutputExistsError(
                f"output {str(self.path)!r} exists; pass force=True to overwrite it"
            )
        check_replaceable(self.path, folder=isinstance(self, FolderSink))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        check_creatable(self.path)
        remove_stale_temps(self.path)
        self.tmp = temp_path(self.path)
        self.n_frames = 0
        self._size: tuple[int, int] | None = None
        self._done = False

    def _check(self, frame: np.ndarray) -> None:
        check_rgb(frame, "frame")
        size = (frame.shape[1], frame.shape[0])
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise ParameterError(f"frame size {size} differs from the first frame's {self._size}")

    def write(self, frame: np.ndarray, window: tuple[int, int] | None = None) -> None:
        """Append one RGB frame (H, W, 3) uint8; every frame must have the first one's size.
        ``window``: the times ``[t_start, t_end)`` (µs) the frame shows, which a folder of PNGs
        lists (`FolderSink`); a video's or GIF's frame times follow from its rate."""
        check_interrupted()
        self._check(frame)
        checked = None if window is None else _check_window(window)
        self._write(frame)
        self._keep_window(checked)
        self.n_frames += 1

    @abstractmethod
    def _write(self, frame: np.ndarray) -> None:
        """Write one checked frame to the temporary output."""

    def _keep_window(self, window: tuple[int, int] | None) -> None:
        """Keep the window of the frame just written, for an output that lists them."""
        return None

    def _finish(self) -> None:
        """Complete the temporary output (called once, before the rename)."""
        return None

    def close(self) -> Path:
        """Finish the output and move it into place (replacing an old one); returns its path."""
        if self._done:
            return self.path
        self._done = True
        old = None
        published = False
        try:
            self._finish()
            if self.n_frames == 0:
                raise ParameterError(f"no frames to write to {str(self.path)!r}")
            self._sync()
            # before the old output goes: a Ctrl-C here leaves it in place
            check_interrupted()
            if self.path.is_dir() and not self.path.is_symlink():
                # No rename replaces a folder, and deleting one of many frames takes long: a
                # Ctrl-C or error then lost the old frames and the new. It is moved aside
                # instead (a temporary of this run: a later run removes what is left of it).
                old = temp_path(self.path)
            elif self.path.exists() or self.path.is_symlink():
                remove_path(self.path)
            with sigint_deferred():
                if old is not None:
                    os.replace(self.path, old)
                try:
                    publish(self.tmp, self.path)
                except BaseException:
                    if old is not None:
                        os.replace(old, self.path)
                    raise
                published = True
        except BaseException:
            remove_path(self.tmp)
            raise
        finally:
            if published and old is not None:
                remove_path(old)
        return self.path

    def _sync(self) -> None:
        fsync_file(self.tmp)

    def abort(self) -> None:
        """Drop the output: the temporary file is removed and nothing reaches ``path``."""
        if not self._done:
            self._done = True
            with contextlib.suppress(Exception):
                self._abort()
            remove_path(self.tmp)

    def _abort(self) -> None:
        """Release resources before the temporary output is deleted."""
        return None

    def __enter__(self) -> FrameSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _check_window(window: tuple[int, int]) -> tuple[int, int]:
    """``window`` as two int64 µs times, the first before the second; else ParameterError."""
    try:
        start, end = (operator.index(t) for t in window)
    except (TypeError, ValueError):
        raise ParameterError(
            f"frame window {window!r} is not two whole times in µs, (t_start, t_end)"
        ) from None
    if not -(2**63) <= start < end < 2**63:
        raise ParameterError(
            f"frame window {window!r} is not a time range in µs: expected t_start < t_end, "
            "both within int64"
        )
    return start, end


class PngSink(FrameSink):
    """A single PNG; a second frame is an error."""

    def _write(self, frame: np.ndarray) -> None:
        if self.n_frames:
            raise ParameterError(f"{str(self.path)!r} is a single PNG; it takes one frame")
        _imwrite_png(self.tmp, frame)


def frame_name(index: int, n_frames: int = 0) -> str:
    """The file name of frame ``index`` of ``n_frames`` in a folder of PNGs: its number padded
    to `FRAME_DIGITS`, or to the last frame's digits when there are more, so that the names of
    a folder sort in frame order and share one ``frame_%0Nd.png`` pattern."""
    digits = max(FRAME_DIGITS, len(str(max(n_frames - 1, 0))))
    return f"frame_{index:0{digits}d}.png"


class FolderSink(FrameSink):
    """frame_000000.png, frame_000001.png, ... in a folder (`frame_name`), and `WINDOWS_NAME`
    where every frame was written with its window: a CSV of ``file,t_start_us,t_end_us``, a
    line a frame, the times of the event file (a frame of --events-per-frame shows a window
    of its own length, which no frame rate tells). ``force`` replaces a folder of such frames
    (an earlier render) and nothing else: the old folder is deleted whole."""

    def __init__(self, path: str | os.PathLike, *, force: bool = False) -> None:
        _check_folder_name(path)
        if force:
            _check_folder_replaceable(Path(path))
        super().__init__(path, force=force)
        self.tmp.mkdir(parents=True)
        # every frame's window, while every frame has one: 16 bytes a frame, where tuples of
        # Python ints took some 120 (a million frames of a long --events-per-frame render)
        self._starts: array[int] | None = array("q")
        self._ends = array("q")

    def _keep_window(self, window: tuple[int, int] | None) -> None:
        if window is None:
            self._starts, self._ends = None, array("q")
        elif self._starts is not None:
            self._starts.append(window[0])
            self._ends.append(window[1])

    def _write(self, frame: np.ndarray) -> None:
        _imwrite_png(self.tmp / frame_name(self.n_frames), frame)

    def _finish(self) -> None:
        # Frames are named as they come, before their count is known: past 10 ** FRAME_DIGITS
        # of them the shorter names are padded to the last one's width (frame_1000000.png
        # sorted before frame_999999.png).
        digits = len(str(max(self.n_frames - 1, 0)))
        if digits > FRAME_DIGITS:
            for k in range(10 ** (digits - 1)):
                os.replace(self.tmp / frame_name(k), self.tmp / frame_name(k, self.n_frames))
        if self._starts is not None and self.n_frames:
            with open(self.tmp / WINDOWS_NAME, "w", encoding="ascii", newline="\n") as f:
                f.write(WINDOWS_HEADER + "\n")
                for k, (t_start, t_end) in enumerate(zip(self._starts, self._ends)):
                    f.write(f"{frame_name(k, self.n_frames)},{t_start},{t_end}\n")

    def _sync(self) -> None:
        for png in self.tmp.iterdir():
            fsync_file(png)


def check_force_replaces(path: str | os.PathLike) -> None:
    """Refuse an existing output that --force would not replace either (a folder holding other
    files, a file where a folder of PNGs is asked for, a device or pipe): refused without
    --force as existing, the user was sent to --force only to be refused again."""
    if output_kind(path) == "folder":
        _check_folder_name(path)
        check_replaceable(path, folder=True)
        _check_folder_replaceable(Path(path))
    else:
        check_replaceable(path)


def _check_folder_name(path: str | os.PathLike) -> None:
    if not Path(path).name or Path(path).name == "..":
        raise ParameterError(
            f"output {os.fspath(path)!r} names no folder of its own; give one, e.g. frames/"
        )


def _check_folder_replaceable(path: Path) -> None:
    if path.is_dir():
        _check_only_frames(path)
    elif path.is_file():
        raise OutputExistsError(
            f"output {os.fspath(path)!r} is a file; a folder of PNGs does not replace it "
            "(name a .png, video or .gif output, or a new folder)"
        )


def _check_only_frames(folder: Path) -> None:
    """Refuse to replace a folder that holds anything but rendered frames: --force must not
    delete a user's files along with old frames."""
    other = next(
        (
            p
            for p in folder.iterdir()
            if not (_FRAME_NAME.fullmatch(p.name) or _is_windows_index(p))
        ),
        None,
    )
    if other is not None:
        what = (
            f"which is not a render's (it does not begin {WINDOWS_HEADER!r})"
            if other.name == WINDOWS_NAME
            else "which is not a rendered frame"
        )
        raise OutputExistsError(
            f"output folder {str(folder)!r} holds {other.name!r}, {what}; "
            f"--force replaces only a folder of frame_NNNNNN.png files (and its {WINDOWS_NAME}): "
            "choose a new folder"
        )


def _is_windows_index(path: Path) -> bool:
    """Whether ``path`` is a render's `WINDOWS_NAME`: a user's own windows.csv, which a
    folder of frames may hold as well, is not deleted with them."""
    if path.name != WINDOWS_NAME or path.is_symlink() or not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            return f.readline(len(WINDOWS_HEADER) + 2).rstrip(b"\r\n") == WINDOWS_HEADER.encode()
    except OSError:
        return False


def video_frame_wh(fourcc: str, frame_wh: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) frames of ``frame_wh`` are written at in a ``fourcc`` video: odd
    sides one more (OpenCV's FFmpeg writer crops them to even, as 4:2:0 chroma needs), Motion
    JPEG frames at least `MIN_MJPG_WIDTH` wide (narrower ones crash its encoder)."""
    width, height = frame_wh
    width, height = width + width % 2, height + height % 2
    if fourcc == "MJPG":
        width = max(width, MIN_MJPG_WIDTH)
    return width, height


class VideoSink(FrameSink):
    """MP4 (mp4v) or AVI (MJPG) through OpenCV. Frames are padded to `video_frame_wh` by
    repeating their last column and row: both encoders silently crop odd sizes (black padding
    was a dark line along the edge of a white or grey frame), and Motion JPEG crashes on narrow
    frames."""

    def __init__(self, path: str | os.PathLike, *, fps: float, force: bool = False) -> None:
        self.fps = check_playback_fps(fps)
        self.fourcc = VIDEO_SUFFIXES[Path(path).suffix.lower()]
        if self.fourcc == "mp4v":
            check_mpeg4_fps(self.fps)
        else:
            check_avi_fps(self.fps)
        super().__init__(path, force=force)
        self._writer: cv2.VideoWriter | None = None

    def _write(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        out_w, out_h = video_frame_wh(self.fourcc, (width, height))
        if (out_w, out_h) != (width, height):
            frame = cv2.copyMakeBorder(
                frame, 0, out_h - height, 0, out_w - width, cv2.BORDER_REPLICATE
            )
        if self._writer is None:
            if self.fourcc == "mp4v" and max(frame.shape[:2]) > MAX_MPEG4_SIDE:
                instead = "an .avi, a .gif" if max(out_w, out_h) <= MAX_MJPEG_SIDE else "a .gif"
                raise ParameterError(
                    f"{width}x{height} frames are too large for MPEG-4 video (at most "
                    f"{MAX_MPEG4_SIDE} px a side); write {instead} or a folder of PNGs"
                )
            if self.fourcc == "MJPG" and max(frame.shape[:2]) > MAX_MJPEG_SIDE:
                raise ParameterError(
                    f"{width}x{height} frames are too large for Motion JPEG (.avi) video (at "
                    f"most {MAX_MJPEG_SIDE} px a side); write a .gif or a folder of PNGs"
                )
            if opencv_bit_rate(self.fps, (frame.shape[1], frame.shape[0])) == 0:
                slowest = 0.5 / (frame.shape[0] * frame.shape[1])
                codec = "MPEG-4" if self.fourcc == "mp4v" else "Motion JPEG"
                size = f"{width}x{height}"
                if (out_w, out_h) != (width, height):
                    size += f" (padded to {out_w}x{out_h})"
                raise ParameterError(
                    f"fps {self.fps:g} is too slow for {codec} video of {size} frames "
                    f"(its encoder aborts below {slowest:.3g} fps for frames this small); raise "
                    "the fps or the scale (--fps, --scale), or write a .gif or a folder of PNGs"
                )
            fourcc = cv2.VideoWriter.fourcc(*self.fourcc)
            with opencv_log_silenced(), opencv_file_name(self.tmp, "video") as name:
                self._writer = cv2.VideoWriter(
                    name, fourcc, self.fps, (frame.shape[1], frame.shape[0])
                )
            if not self._writer.isOpened():
                raise EventFileError(
                    f"OpenCV could not open a {self.fourcc} video writer for {str(self.path)!r}"
                )
        with opencv_log_silenced():
            ok = self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        # OpenCV < 5 returns None and gives no per-frame status; the check at the end remains
        if ok is False:
            raise EventFileError(
                f"could not write frame {self.n_frames} of {str(self.path)!r}: "
                f"{_disk_state(self.tmp)}"
            )

    def _finish(self) -> None:
        if self._writer is not None:
            with opencv_log_silenced():
                self._writer.release()
            self._writer = None
        if self.n_frames:
            # a video whose trailer could not be written (disk full) does not open, or is short
            with opencv_file_name(self.tmp, "video") as name:
                capture = cv2.VideoCapture(name)
            try:
                count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
            finally:
                capture.release()
            if count != self.n_frames:
                raise EventFileError(
                    f"{str(self.path)!r} came out incomplete ({count} of {self.n_frames} frames "
                    f"readable): {_disk_state(self.tmp)}"
                )

    def _abort(self) -> None:
        if self._writer is not None:
            with opencv_log_silenced():
                self._writer.release()
            self._writer = None


def _disk_state(path: Path) -> str:
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return "the encoder failed"
    if st.f_bavail * st.f_frsize < (1 << 20):
        return "no space left on the device; free some space or write elsewhere"
    return "the encoder failed (is the disk full or the file system read-only?)"


# GIF delays are whole centiseconds and browsers slow delays under 2 cs down to 10 cs
GIF_MIN_DELAY_CS = 2
# Pillow writes a GIF from all its frames at once: ours (a byte a pixel) and its copies take
# about 2.2 bytes a pixel of every frame (measured), so this many pixels in all is some 2.2 GiB
MAX_GIF_PIXELS = 1 << 30
GIF_BYTES_PER_PIXEL = 2.2


def check_gif_size(n_frames: int, frame_wh: tuple[int, int]) -> None:
    """Refuse a GIF whose frames would not fit in memory while it is written."""
    width, height = frame_wh
    pixels = n_frames * width * height
    if pixels > MAX_GIF_PIXELS:
        need = pixels * GIF_BYTES_PER_PIXEL / 2**30
        raise ParameterError(
            f"{n_frames:,} GIF frames of {width}x{height} are too many to write: a GIF is "
            f"assembled in memory from all its frames (about {need:.1f} GiB for these; at "
            f"most {MAX_GIF_PIXELS:,} pixels in all); write an .mp4 or a folder of PNGs, or "
            "fewer frames (a longer window or a shorter range)"
        )


def gif_playback_fps(fps: float) -> float:
    """The rate a GIF made for ``fps`` plays at: at most 50, its frames' 20 ms floor."""
    return min(float(fps), 100.0 / GIF_MIN_DELAY_CS)


def gif_durations_ms(n_frames: int, fps: float) -> list[int]:
    """Per-frame GIF delays (ms, whole centiseconds) whose running sum stays within 5 ms of
    ``k / fps``: one rounded delay for every frame (Pillow truncates 33 ms to 30) would play a
    30 fps clip 11 % fast. Rates above 50 fps get the 20 ms floor that viewers honour."""
    ends = [round(k * 100.0 / fps) for k in range(n_frames + 1)]
    return [10 * max(GIF_MIN_DELAY_CS, b - a) for a, b in itertools.pairwise(ends)]


class GifSink(FrameSink):
    """Animated GIF via Pillow (OpenCV cannot write GIF). Pillow assembles the file at the end,
    so palette frames (one byte per pixel) are held in memory: use MP4 for long clips."""

    def __init__(self, path: str | os.PathLike, *, fps: float, force: bool = False) -> None:
        self._image = require("PIL.Image", "viz", "GIF output")
        self.fps = check_playback_fps(fps)
        super().__init__(path, force=force)
        self._frames: list = []
        # the last distinct frame: its colours as decoded, palette indices and palette, and
        # the two pixels whose indices are swapped in its repeats (None when no colour
        # covers two pixels)
        self._shown: np.ndarray | None = None
        self._indices = np.zeros((0, 0), np.uint8)
        self._colors: list[int] = []
        self._pair: tuple[int, int] | None = None
        self._swapped = False

    def _write(self, frame: np.ndarray) -> None:
        check_gif_size(self.n_frames + 1, (frame.shape[1], frame.shape[0]))
        # 255 colours leave the last palette slot for the twin
        img = self._image.fromarray(frame, mode="RGB").quantize(
            colors=255, method=self._image.Quantize.FASTOCTREE
        )
        colors = img.getpalette() or []
        indices = np.asarray(img, dtype=np.uint8).copy()
        shown = np.asarray(colors, np.uint8).reshape(-1, 3)[indices]
        if (
            self._shown is not None
            and self._pair is not None
            and np.array_equal(shown, self._shown)
        ):
            # Pillow folds a frame that looks like the one before (the same window content,
            # or a slow fade that quantises to the same colours) into it, adding up their
            # delays, so windows would vanish from the file. A repeat keeps its own GIF frame
            # by swapping two pixels of one colour, one drawn from a twin palette entry: the
            # picture is the same, the palette indices are not.
            a, b = self._pair
            repeat = self._indices.copy()
            self._swapped = not self._swapped
            if self._swapped:
                repeat.flat[a], repeat.flat[b] = repeat.flat[b], repeat.flat[a]
            self._frames.append(self._paletted(repeat))
            return
        counts = np.bincount(indices.ravel())
        common = int(counts.argmax())
        self._pair = None
        if counts[common] >= 2:
            a, b = (int(i) for i in np.flatnonzero(indices.ravel() == common)[:2])
            # every copy uses both the colour's index and its twin, so Pillow's palette
            # optimisation leaves the palettes of a frame and its repeats equal
            indices.flat[a] = len(colors) // 3
            colors = [*colors, *colors[3 * common : 3 * common + 3]]
            self._pair = (a, b)
        self._shown, self._indices, self._colors, self._swapped = shown, indices, colors, False
        self._frames.append(self._paletted(indices))

    def _paletted(self, indices: np.ndarray):
        img = self._image.fromarray(indices)
        img.putpalette(self._colors)
        return img

    def _finish(self) -> None:
        if not self._frames:
            return
        first, *rest = self._frames
        first.save(
            self.tmp,
            format="GIF",
            save_all=True,
            append_images=rest,
            duration=gif_durations_ms(len(self._frames), self.fps),
            loop=0,
        )
        self._frames = []
        self._shown = None

    def _abort(self) -> None:
        self._frames = []
        self._shown = None


def open_sink(path: str | os.PathLike, *, fps: float = 30.0, force: bool = False) -> FrameSink:
    """The sink for an output name (see `output_kind`)."""
    kind = output_kind(path)
    if kind == "png":
        return PngSink(path, force=force)
    if kind == "folder":
        return FolderSink(Path(str(path).rstrip("/" + os.sep)), force=force)
    if kind == "video":
        return VideoSink(path, fps=fps, force=force)
    return GifSink(path, fps=fps, force=force)
