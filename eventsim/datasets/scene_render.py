"""Pixels of the procedural scenes in `eventsim.datasets.scenes`: backgrounds, shape sprites,
their textures and fine patterns, and the frames of moving objects or a panning camera.

`eventsim.datasets.scenes` decides what is in a scene (objects, positions, motions, the question);
this module only draws it, so the answer never depends on the pixels. Numpy + OpenCV only. Each
drawing function takes the random generator of the stream it draws from: the order of the draws is
part of a scene's identity (the same ``(config, seed)`` gives the same pixels).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from eventsim.errors import ParameterError

if TYPE_CHECKING:
    from eventsim.datasets.scenes import SceneObject

# the shapes and fine patterns this module can draw (scenes.py asks about the same names)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "star", "cross", "hexagon")
PATTERNS: tuple[str, ...] = ("horizontal", "vertical", "checker", "dots", "plain")

_TEXTURE_STRENGTH = 0.28


def _smooth_noise(rng, width: int, height: int, cells: int) -> np.ndarray:
    small = rng.normal(0.0, 1.0, (max(2, cells * height // width), max(2, cells))).astype(
        np.float32
    )
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def textured_background(rng, width: int, height: int) -> tuple[np.ndarray, float]:
    """A low-saturation textured background (float32 HxWx3) and its mean grey level."""
    level = float(rng.uniform(85, 160))
    lum = np.full((height, width), level, np.float32)
    lum += 16 * _smooth_noise(rng, width, height, 4)
    lum += 9 * _smooth_noise(rng, width, height, max(4, width // 10))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    period = float(rng.uniform(9, 24))
    angle = float(rng.uniform(0, math.pi))
    kind = int(rng.integers(3))
    if kind == 0:
        pattern = np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period)
    elif kind == 1:
        pattern = np.sign(np.sin(2 * math.pi * xx / period) * np.sin(2 * math.pi * yy / period))
    else:
        pattern = _smooth_noise(rng, width, height, max(4, width // 5))
    lum += 10 * pattern.astype(np.float32)
    lum += rng.normal(0.0, 4.0, (height, width)).astype(np.float32)
    tint = rng.uniform(0.92, 1.08, 3).astype(np.float32)
    bg = np.clip(lum[..., None] * tint[None, None, :], 0, 255).astype(np.float32)
    return bg, level


def smooth_background(rng, width: int, height: int) -> tuple[np.ndarray, float]:
    """A plain, smoothly shaded background (float32 HxWx3): a gentle gradient and broad blobs,
    nothing a panning camera turns into events, and its mean grey level."""
    level = float(rng.uniform(85, 160))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = float(rng.uniform(0, 2 * math.pi))
    ramp = (xx * math.cos(angle) + yy * math.sin(angle)) / max(width, height)
    lum = level + float(rng.uniform(10, 30)) * ramp
    lum += 8 * _smooth_noise(rng, width, height, 2)
    tint = rng.uniform(0.92, 1.08, 3).astype(np.float32)
    bg = np.clip(lum[..., None] * tint[None, None, :], 0, 255).astype(np.float32)
    return bg, level


def _pattern(name: str, size: int) -> np.ndarray:
    """Brightness factor of a pattern on the sprite's pixel grid (float32 size x size).

    Every pattern averages 0.75 over any 2 x 2 px square: stripes and checks alternate 0.5 and 1,
    dots are black on every fourth pixel, plain is 0.75 throughout."""
    yy, xx = np.mgrid[0:size, 0:size]
    if name == "horizontal":
        return np.where(yy % 2 == 0, 0.5, 1.0).astype(np.float32)
    if name == "vertical":
        return np.where(xx % 2 == 0, 0.5, 1.0).astype(np.float32)
    if name == "checker":
        return np.where((xx + yy) % 2 == 0, 0.5, 1.0).astype(np.float32)
    if name == "dots":
        return np.where((xx % 2 == 0) & (yy % 2 == 0), 0.0, 1.0).astype(np.float32)
    if name == "plain":
        return np.full((size, size), 0.75, np.float32)
    raise ParameterError(f"pattern {name!r} is unknown; allowed values: {', '.join(PATTERNS)}")


def _shape_points(shape: str, radius: float, center: float) -> np.ndarray:
    def polygon(n: int, r: float, phase: float) -> list[tuple[float, float]]:
        return [
            (r * math.cos(phase + 2 * math.pi * k / n), r * math.sin(phase + 2 * math.pi * k / n))
            for k in range(n)
        ]

    if shape == "circle":
        pts = polygon(72, 0.95, 0.0)
    elif shape == "square":
        pts = [(-0.75, -0.75), (0.75, -0.75), (0.75, 0.75), (-0.75, 0.75)]
    elif shape == "triangle":
        pts = [(0.0, -0.95), (0.95, 0.75), (-0.95, 0.75)]
    elif shape == "diamond":
        pts = [(0.0, -1.0), (0.7, 0.0), (0.0, 1.0), (-0.7, 0.0)]
    elif shape == "star":
        outer = polygon(5, 1.0, -math.pi / 2)
        inner = polygon(5, 0.45, -math.pi / 2 + math.pi / 5)
        pts = [p for pair in zip(outer, inner) for p in pair]
    elif shape == "cross":
        a, b = 0.3, 0.92
        pts = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a),
               (-b, a), (-b, -a), (-a, -a)]  # fmt: skip
    elif shape == "hexagon":
        pts = polygon(6, 0.95, 0.0)
    else:
        raise ParameterError(f"shape {shape!r} is unknown; allowed values: {', '.join(SHAPES)}")
    return np.array([(center + radius * x, center + radius * y) for x, y in pts], np.float64)


def _texture(rng, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    kind = int(rng.integers(4))
    period = float(rng.uniform(4, 9))
    if kind == 0:
        angle = float(rng.uniform(0, math.pi))
        tex = np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period)
    elif kind == 1:
        tex = np.sign(np.sin(2 * math.pi * xx / period) * np.sin(2 * math.pi * yy / period))
    elif kind == 2:
        tex = np.cos(2 * math.pi * xx / period) * np.cos(2 * math.pi * yy / period)
    else:
        tex = _smooth_noise(rng, size, size, max(2, size // 4))
        tex /= max(1e-6, float(np.abs(tex).max()))
    return tex.astype(np.float32)


def make_sprite(
    rng, shape: str, rgb, size: float, textured: bool, pattern: str | None = None
) -> np.ndarray:
    """Premultiplied RGBA sprite (float32) with an anti-aliased mask; 2 px transparent border.

    ``pattern`` (a PATTERNS name) replaces the texture with that fine pattern."""
    side = math.ceil(size) + 4
    scale = 4
    canvas = np.zeros((side * scale, side * scale), np.uint8)
    pts = _shape_points(shape, size / 2 * scale, side * scale / 2)
    cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    alpha = cv2.resize(canvas, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    color = np.asarray(rgb, np.float32)[None, None, :]
    if pattern is not None:
        color = color * _pattern(pattern, side)[..., None]
    elif textured:
        tex = _texture(rng, side)
        color = np.clip(color * (1 + _TEXTURE_STRENGTH * tex[..., None]), 0, 255)
    else:
        color = np.broadcast_to(color, (side, side, 3))
    return np.concatenate([color * alpha[..., None], alpha[..., None]], axis=-1).astype(np.float32)


def _placed(sprite: np.ndarray, cx: float, cy: float, shape: tuple[int, ...]):
    """The sprite warped to sub-pixel centre (cx, cy), clipped to a frame of ``shape``:
    ``(x0, y0, x1, y1, patch)`` or None when it lies outside."""
    side = sprite.shape[0]
    left, top = cx - side / 2, cy - side / 2
    ix, iy = math.floor(left), math.floor(top)
    shift = np.array([[1, 0, left - ix], [0, 1, top - iy]], dtype=np.float32)
    moved = cv2.warpAffine(
        sprite, shift, (side + 1, side + 1), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    height, width = shape[:2]
    x0, y0 = max(ix, 0), max(iy, 0)
    x1, y1 = min(ix + side + 1, width), min(iy + side + 1, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1, moved[y0 - iy : y1 - iy, x0 - ix : x1 - ix]


def composite(frame: np.ndarray, sprite: np.ndarray, cx: float, cy: float) -> None:
    """Blend a premultiplied sprite into the float ``frame`` in place, centred at (cx, cy)."""
    placed = _placed(sprite, cx, cy, frame.shape)
    if placed is None:
        return
    x0, y0, x1, y1, patch = placed
    region = frame[y0:y1, x0:x1]
    region *= 1 - patch[..., 3:4]
    region += patch[..., :3]


def render_movers(
    frame: np.ndarray,
    base: np.ndarray,
    base_u8: np.ndarray,
    movers: list[SceneObject],
    phase: float,
) -> None:
    """Fill ``frame``: the still layer with the movers at ``phase`` of their paths.

    Only the pixels a mover covers are recomposited (movers never overlap, so each covered
    pixel gets exactly the float value a full-frame composite would give)."""
    frame[...] = base_u8
    for obj in movers:
        cx = obj.start[0] + phase * (obj.end[0] - obj.start[0])
        cy = obj.start[1] + phase * (obj.end[1] - obj.start[1])
        if phase >= 1:
            cx, cy = obj.end  # exactly: a snapped (patterned) target must not be resampled
        placed = _placed(obj.sprite, cx, cy, frame.shape)
        if placed is None:
            continue
        x0, y0, x1, y1, patch = placed
        alpha = patch[..., 3:4]
        mixed = base[y0:y1, x0:x1] * (1 - alpha) + patch[..., :3]
        covered = alpha[..., 0] > 0
        frame[y0:y1, x0:x1][covered] = to_u8(mixed[covered])


def render_pan(
    frame: np.ndarray,
    base: np.ndarray,
    base_u8: np.ndarray,
    pan: tuple[float, float],
    phase: float,
    background: np.ndarray,
) -> None:
    """Fill ``frame`` with the still scene seen by a camera that pans by ``pan`` over the
    window and arrives at the question-time view.

    ``base`` is the scene (``background`` with the objects drawn in). What comes into view from
    beyond the question-time frame is ``background`` reflected at the border (as in
    `eventsim.simulator.sources.ImageMotionSource`), without objects: they all lie inside that
    frame, and reflecting the whole scene drew a mirror copy of an object near the border, a
    phantom second target or clutter piece that the events showed sliding out of view."""
    if phase >= 1:
        frame[...] = base_u8
        return
    height, width = base.shape[:2]
    sx, sy = (1 - phase) * pan[0], (1 - phase) * pan[1]
    shift = np.array([[1, 0, sx], [0, 1, sy]], dtype=np.float32)
    moved = cv2.warpAffine(
        base, shift, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    # pixels whose source point (x - sx, y - sy) lies outside the frame; elsewhere both warps
    # read the same pixels, so a scene with nothing near that border keeps its exact frames
    xs, ys = np.arange(width), np.arange(height)
    cols = (xs < sx) | (xs > width - 1 + sx)
    rows = (ys < sy) | (ys > height - 1 + sy)
    beyond = rows[:, None] | cols[None, :]
    if beyond.any():
        bare = cv2.warpAffine(
            background,
            shift,
            (width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        moved[beyond] = bare[beyond]
    frame[...] = to_u8(moved)


def to_u8(values: np.ndarray) -> np.ndarray:
    """Float pixel values rounded and clipped to uint8."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)
