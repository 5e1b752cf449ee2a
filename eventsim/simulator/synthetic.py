"""A built-in synthetic clip: textured shapes gliding over a textured background.

Used by the render gallery, the simulator benchmark, tests and the README's first demo, so it is
deterministic per seed, needs no files, and renders each frame in about a millisecond (shapes are
sub-pixel warped only inside their bounding boxes).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from eventsim._opencv import opencv_file_name
from eventsim.errors import ParameterError
from eventsim.simulator.sources import check_frame_rate


def _texture(rng: np.random.Generator, h: int, w: int, base: np.ndarray, kind: int) -> np.ndarray:
    """A float32 HxWx3 texture in 0..255 with edges at several scales."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:
        period = rng.uniform(6, 14)
        pattern = ((xx // period + yy // period) % 2) * 2 - 1
    elif kind == 1:
        period = rng.uniform(5, 12)
        angle = rng.uniform(0, np.pi)
        pattern = np.sign(np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period))
    else:
        coarse = rng.standard_normal((max(2, h // 8), max(2, w // 8))).astype(np.float32)
        pattern = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
        pattern = np.clip(pattern, -1.5, 1.5) / 1.5
    fine = rng.standard_normal((h, w)).astype(np.float32) * 0.05
    contrast = rng.uniform(35, 70)
    tex = base[None, None, :] + contrast * (pattern + fine)[..., None]
    return np.clip(tex, 5, 250).astype(np.float32)


class _Shape:
    def __init__(self, rng: np.random.Generator, width: int, height: int, scale: float) -> None:
        size = int(rng.uniform(0.12, 0.28) * min(width, height)) + 8
        self.h = self.w = size
        base = rng.uniform(40, 215, 3)
        self.sprite = _texture(rng, size, size, base, int(rng.integers(0, 3)))
        mask = np.zeros((size, size), np.float32)
        c = (size - 1) / 2
        if rng.random() < 0.5:
            cv2.circle(mask, (round(c), round(c)), int(size * 0.45), 1.0, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(mask, (2, 2), (size - 3, size - 3), 1.0, -1, cv2.LINE_AA)
        self.alpha = mask[..., None]
        self.pos = np.array([rng.uniform(0, width - size), rng.uniform(0, height - size)])
        speed = rng.uniform(40, 110) * scale  # px/s
        angle = rng.uniform(0, 2 * np.pi)
        self.vel = speed * np.array([np.cos(angle), np.sin(angle)])
        self.limits = np.array([width - size, height - size], dtype=np.float64)

    def position(self, t_s: float) -> np.ndarray:
        # bounce off the borders: reflect the free path into [0, limit]
        raw = self.pos + self.vel * t_s
        period = 2 * np.maximum(self.limits, 1e-9)
        folded = np.mod(raw, period)
        return np.where(folded > self.limits, period - folded, folded)


def shorter_than_one_frame(duration_s: float, fps: float) -> bool:
    """Whether ``duration_s`` is shorter than one frame interval at ``fps``, the shortest clip
    (two frames). Compared in whole microseconds, the resolution the frames are stamped in: a
    duration of 1/fps written to the microsecond, cut short or rounded (33.333 ms or 33.3333 ms
    at 30 fps, 16.666 ms at 60 fps), is one interval."""
    return round(duration_s * 1e6) < math.floor(1e6 / fps + 1e-6)


def moving_shapes_frames(
    width: int = 346,
    height: int = 260,
    duration_s: float = 1.0,
    fps: float = 60.0,
    seed: int = 0,
    n_shapes: int = 4,
) -> Iterator[tuple[np.ndarray, int]]:
    """Yield ``(frame HxWx3 uint8 RGB, t_us)`` of the moving-shapes clip, one at a time."""
    if width < 16 or height < 16:
        # the only way to ask for one from the CLI is simulate --synthetic's --sensor-size
        raise ParameterError(
            f"clip size {width}x{height} (width x height) is too small; expected at least 16x16 "
            "(eventsim simulate --synthetic: --sensor-size)"
        )
    if not (math.isfinite(duration_s) and duration_s > 0 and fps > 0):
        raise ParameterError(f"duration_s={duration_s!r}, fps={fps!r}; expected both > 0")
    n_frames = max(2, round(duration_s * fps))
    check_frame_rate(fps, n_frames)
    if shorter_than_one_frame(duration_s, fps):
        # two frames 1/fps apart are the shortest clip: it would be longer than asked for
        raise ParameterError(
            f"duration_s = {duration_s:g} at fps = {fps:g} is shorter than one frame interval "
            f"({1 / fps:g} s); expected duration_s >= 1/fps"
        )
    rng = np.random.default_rng(seed)
    scale = min(width, height) / 260.0
    background = _texture(rng, height, width, rng.uniform(70, 180, 3), 2)
    # a fixed high-contrast grid so a camera-motion-free background still has structure
    background[:: max(8, height // 12), :, :] *= 0.6
    background = np.clip(background + 0.5, 0, 255).astype(np.uint8)
    shapes = [_Shape(rng, width, height, scale) for _ in range(n_shapes)]
    for i in range(n_frames):
        t_s = i / fps
        frame = background.copy()  # uint8; shapes are blended in float inside their boxes
        for s in shapes:
            x, y = s.position(t_s)
            x0, y0 = int(np.floor(x)), int(np.floor(y))
            fx, fy = x - x0, y - y0
            bw, bh = min(s.w + 1, width - x0), min(s.h + 1, height - y0)
            m = np.array([[1, 0, fx], [0, 1, fy]], dtype=np.float32)
            sprite = cv2.warpAffine(
                s.sprite, m, (bw, bh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            alpha = cv2.warpAffine(s.alpha, m, (bw, bh), flags=cv2.INTER_LINEAR)
            if alpha.ndim == 2:
                alpha = alpha[..., None]
            region = frame[y0 : y0 + bh, x0 : x0 + bw]
            under = region.astype(np.float32)
            region[...] = np.clip(under + alpha * (sprite - under) + 0.5, 0, 255).astype(np.uint8)
        yield frame, round(t_s * 1e6)


def moving_shapes_clip(
    width: int = 346,
    height: int = 260,
    duration_s: float = 1.0,
    fps: float = 60.0,
    seed: int = 0,
    n_shapes: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """The whole clip in memory: ``(frames uint8 [T,H,W,3] RGB, timestamps_us int64 [T])``."""
    frames, times = [], []
    for frame, t in moving_shapes_frames(width, height, duration_s, fps, seed, n_shapes):
        frames.append(frame)
        times.append(t)
    return np.stack(frames), np.asarray(times, dtype=np.int64)


def write_video(
    path: str | os.PathLike, frames: np.ndarray, fps: float, *, codec: str = "mp4v"
) -> Path:
    """Write RGB frames ``[T,H,W,3]`` (or grey ``[T,H,W]``) to a video file with OpenCV."""
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4) or frames.shape[0] == 0 or frames.dtype != np.uint8:
        raise ParameterError(
            f"frames have shape {frames.shape} and dtype {frames.dtype}; expected uint8 [T,H,W(,3)]"
        )
    height, width = frames.shape[1:3]
    fourcc = cv2.VideoWriter.fourcc(*codec)
    with opencv_file_name(path, "video") as name:
        writer = cv2.VideoWriter(name, fourcc, float(fps), (width, height))
        if not writer.isOpened():
            raise ParameterError(f"cannot write video {str(path)!r} with codec {codec!r}")
        try:
            for frame in frames:
                if frame.ndim == 2:
                    frame = np.repeat(frame[..., None], 3, axis=2)
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
    return path


def write_moving_shapes_video(
    path: str | os.PathLike,
    width: int = 346,
    height: int = 260,
    duration_s: float = 1.0,
    fps: float = 60.0,
    seed: int = 0,
) -> Path:
    """Render the moving-shapes clip to a video file (for tests and benchmarks)."""
    frames, _ = moving_shapes_clip(width, height, duration_s, fps, seed)
    return write_video(path, frames, fps)
