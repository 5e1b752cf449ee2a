"""Drawing on top of images: events over their matching frame, and EP-VLM's patch-grid view
(score heat map plus kept/dropped blocks). Pure numpy/cv2, RGB uint8 in and out."""

from __future__ import annotations

import math

import cv2
import numpy as np

from eventsim.errors import ParameterError
from eventsim.render.colors import (
    DROPPED_COLOR,
    KEPT_COLOR,
    OVERLAY_PALETTE,
    RGB,
    apply_colormap,
    palette,
    to_rgb,
)
from eventsim.render.frames import COLOR_BY, last_polarity, polarity_counts, polarity_masks
from eventsim.render.scales import DROPPED_DIM, patch_grid_legend, score_range


def overlay_events(
    image: np.ndarray,
    events: np.ndarray,
    *,
    on_color: RGB | None = None,
    off_color: RGB | None = None,
    alpha: float = 0.85,
    color_by: str = "last",
    grey_frame: bool = False,
) -> np.ndarray:
    """Paint events over an HxW grey or HxWx3 RGB frame of the same pixel grid.

    Pixels with events become ``alpha * colour + (1 - alpha) * pixel``; the colour is the ON or
    OFF colour by the last event there (``color_by="last"``) or by the sign of ON minus OFF.
    ``grey_frame`` first turns an RGB frame to grey (like a DAVIS APS frame), so the event
    colours stand out from coloured scenes; the toolkit's own views (``eventsim render --mode
    overlay``, the demo and build previews) all do, per `eventsim.render.colors.OVERLAY_FRAME`.
    """
    img = to_rgb(image)
    if not 0.0 <= alpha <= 1.0:
        raise ParameterError(f"alpha {alpha} must be in [0, 1]")
    if color_by not in COLOR_BY:
        raise ParameterError(f"color_by {color_by!r} is not valid; expected one of {COLOR_BY}")
    height, width = img.shape[:2]
    if color_by == "last":
        is_on, is_off = polarity_masks(last=last_polarity(events, (width, height)))
    else:
        is_on, is_off = polarity_masks(counts=polarity_counts(events, (width, height)))
    return blend_events(
        img,
        is_on,
        is_off,
        on_color=on_color,
        off_color=off_color,
        alpha=alpha,
        grey_frame=grey_frame,
    )


def blend_events(
    image: np.ndarray,
    is_on: np.ndarray,
    is_off: np.ndarray,
    *,
    on_color: RGB | None = None,
    off_color: RGB | None = None,
    alpha: float = 0.85,
    grey_frame: bool = False,
) -> np.ndarray:
    """`overlay_events` with the ON and OFF pixels given as masks of the image's shape."""
    img = to_rgb(image)
    if grey_frame:
        img = to_rgb(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
    if not 0.0 <= alpha <= 1.0:
        raise ParameterError(f"alpha {alpha} must be in [0, 1]")
    _, on, off = palette(OVERLAY_PALETTE, on_color, off_color)
    out = img.astype(np.float32)
    for mask, color in ((is_on, on), (is_off, off)):
        out[mask] = alpha * np.asarray(color, dtype=np.float32) + (1 - alpha) * out[mask]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _grid_geometry(height: int, width: int, rows: int, cols: int) -> tuple[int, int]:
    """Integer block size (bh, bw) that covers the image, enlarged so outlines stay readable."""
    bh, bw = math.ceil(height / rows), math.ceil(width / cols)
    if min(bh, bw) < 12:
        k = math.ceil(12 / min(bh, bw))
        bh, bw = bh * k, bw * k
    return bh, bw


def patch_grid_overlay(
    image: np.ndarray,
    scores: np.ndarray | None,
    keep: np.ndarray,
    *,
    alpha: float = 0.45,
    colormap: str = "inferno",
    legend: str | None = None,
) -> np.ndarray:
    """Show which image blocks a token selector kept.

    ``scores`` and ``keep`` are (rows, cols) arrays over a regular grid of the image. The image
    is blended with a heat map of the scores (min-max normalised; ``alpha`` is the heat map's
    weight), dropped blocks are dimmed and outlined in dark red, kept blocks outlined in green.
    Blocks are ``ceil(H / rows) x ceil(W / cols)`` pixels, enlarged to at least 12 px, and the
    image is resized to ``rows * block_h`` by ``cols * block_w`` (unchanged when it already fits).
    ``legend`` (what a score is, e.g. "events per block") appends `patch_grid_legend` below:
    the colour ramp from the lowest to the highest score, and the kept and dropped outlines.
    ``scores=None`` draws no heat map and no ramp, for a selection that scores nothing (random,
    fixed or every block): a map of its kept mask only repeats the outlines, and when every
    block is kept it tints the whole image the ramp's bottom colour beside a one-value ramp.
    Returns an RGB uint8 image.
    """
    img = to_rgb(image)
    keep = np.asarray(keep)
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 2:
            raise ParameterError(f"scores have shape {scores.shape}; expected (rows, cols)")
        if keep.shape != scores.shape:
            raise ParameterError(
                f"keep mask has shape {keep.shape}; expected the scores' shape {scores.shape}"
            )
    elif keep.ndim != 2:
        raise ParameterError(f"keep mask has shape {keep.shape}; expected (rows, cols)")
    if keep.dtype != np.bool_:
        if not np.isin(keep, (0, 1)).all():
            raise ParameterError("keep mask must be boolean (or 0/1)")
        keep = keep.astype(bool)
    if not 0.0 <= alpha <= 1.0:
        raise ParameterError(f"alpha {alpha} must be in [0, 1]")
    rows, cols = keep.shape
    if rows == 0 or cols == 0:
        what = "keep mask has" if scores is None else "scores have"
        raise ParameterError(f"{what} shape {keep.shape}; expected a non-empty grid")
    height, width = img.shape[:2]
    bh, bw = _grid_geometry(height, width, rows, cols)
    out_h, out_w = rows * bh, cols * bw
    if (out_h, out_w) != (height, width):
        img = cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_LINEAR)

    out = img.astype(np.float32)
    lo, hi = (0.0, 0.0) if scores is None else score_range(scores)
    if scores is not None:
        norm = np.where(np.isfinite(scores), (scores - lo) / (hi - lo) if hi > lo else 0.0, 0.0)
        heat = apply_colormap(norm, colormap)
        heat = cv2.resize(heat, (out_w, out_h), interpolation=cv2.INTER_NEAREST)
        out = (1 - alpha) * out + alpha * heat.astype(np.float32)

    keep_px = np.repeat(np.repeat(keep, bh, axis=0), bw, axis=1)
    out[~keep_px] *= DROPPED_DIM
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)

    thick = 2 if min(bh, bw) >= 24 else 1
    # Dropped outlines first so kept (green) edges win where the two share a border.
    for want, color in ((False, DROPPED_COLOR), (True, KEPT_COLOR)):
        for r, c in zip(*np.nonzero(keep == want)):
            y0, x0 = r * bh, c * bw
            cv2.rectangle(out, (x0, y0), (x0 + bw - 1, y0 + bh - 1), color, thick)
    if legend is not None:
        strip = patch_grid_legend(
            out_w, lo, hi, label=legend, colormap=colormap, ramp=scores is not None
        )
        out = np.concatenate([out, strip], axis=0)
    return out
