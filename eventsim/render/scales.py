"""Colour scales drawn with OpenCV (no matplotlib), so a reader can tell what a colour means:
the heat map's colour bar, drawn inside the frame, and the legend strip of the patch-grid view
(score bar plus the kept and dropped keys), drawn below it. RGB uint8 in and out."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from eventsim.errors import ParameterError
from eventsim.render.colors import DROPPED_COLOR, KEPT_COLOR, RGB, apply_colormap, check_rgb

FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.4
TEXT_COLOR: RGB = (235, 235, 235)
# the bar's box: black like the heat map's zero, with a mid-grey edge that sets it apart
BOX_COLOR: RGB = (0, 0, 0)
EDGE_COLOR: RGB = (128, 128, 128)
LEGEND_BACKGROUND: RGB = (255, 255, 255)
LEGEND_TEXT: RGB = (0, 0, 0)
PAD = 4
BAR_HEIGHT = 7
MIN_BAR_LENGTH = 48
# the legend's block swatches: a mid grey, dimmed as `patch_grid_overlay` dims dropped blocks
SWATCH_GREY = 170
DROPPED_DIM = 0.35

# (width, gap after, draw(image, x, top)) of one legend item
Item = tuple[int, int, Callable[[np.ndarray, int, int], None]]


def format_value(value: float) -> str:
    """A scale label: three significant digits, whole numbers from 100 to 99,999, powers of
    ten above (``1.5e+06``), so that a label never widens the bar past the frame."""
    if 100 <= abs(value) < 1e5:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _stroke(scale: float) -> int:
    """The text's stroke at ``scale`` times `FONT_SCALE`: 1 px strokes of larger letters read
    faint from about 2.5 times on."""
    return 1 if scale < 2.5 else 2


def _text_size(text: str, scale: float = 1.0) -> tuple[int, int, int]:
    (w, h), base = cv2.getTextSize(text, FONT, FONT_SCALE * scale, _stroke(scale))
    return w, h, base


def _put(
    img: np.ndarray, text: str, x: int, y_baseline: int, color: RGB, scale: float = 1.0
) -> None:
    cv2.putText(
        img, text, (x, y_baseline), FONT, FONT_SCALE * scale, color, _stroke(scale), cv2.LINE_AA
    )


def _gradient(length: int, colormap: str, height: int = BAR_HEIGHT) -> np.ndarray:
    """A (height, length, 3) bar running through ``colormap`` from 0 to 1."""
    ramp = np.linspace(0.0, 1.0, max(length, 2))[None, :length]
    return np.repeat(apply_colormap(ramp, colormap), height, axis=0)


# the leading digits of a round count: one significant digit, or a half step (15, 250)
_ROUND_DIGITS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
# where on the bar its round count may sit: further out it would crowd an end label, and past
# the middle it widens the bar
_MIDDLE_SPAN = (0.3, 0.6)


def _bar_position(value: float, full_scale: float, log_scale: bool) -> float:
    """Where ``value`` sits along the bar, as `render_heatmap` colours it."""
    if log_scale:
        return float(np.log1p(value) / np.log1p(full_scale))
    return value / full_scale


def _round_middle(full_scale: float, log_scale: bool) -> float | None:
    """The largest round whole count (`_ROUND_DIGITS` times a power of ten) at or below the
    bar's middle, else the smallest above it, within `_MIDDLE_SPAN`; None where there is none
    (a full scale under 5/3, whose 1 sits past 0.6; under about 2.2 on the log scale). Below
    the middle, its label leaves the full-scale label as much room as a label at the middle
    would, and the 0 less: a small full scale's bar (under 4; under 8 on the log scale) may
    be up to 9 px longer than with the label at the middle."""
    below: float | None = None
    for exponent in range(int(np.floor(np.log10(full_scale))) + 1):
        for digits in _ROUND_DIGITS:
            value = digits * 10.0**exponent
            if value != int(value) or value >= full_scale:
                continue
            pos = _bar_position(value, full_scale, log_scale)
            if pos > 0.5:
                return value if below is None and pos <= _MIDDLE_SPAN[1] else below
            if pos >= _MIDDLE_SPAN[0]:
                below = value
    return below


def heatmap_ticks(full_scale: float, log_scale: bool) -> list[tuple[float, str]]:
    """(position along the bar in [0, 1], label) of the heat map's scale: 0, a round count
    near the bar's middle (1, 2, 5, 15, 300: events are counted whole, and ``2.46`` named no
    count one could meet), at its own place on the log or linear scale, and full scale. The
    last label ends in "+": every count above full scale takes the top colour. Where no round
    count lies within `_MIDDLE_SPAN` (a full scale under 5/3; under about 2.2 on the log scale,
    where 1 sits near the top), there is no middle tick."""
    if not (np.isfinite(full_scale) and full_scale > 0):
        raise ParameterError(f"full scale {full_scale} must be a finite value > 0")
    ticks = [(0.0, "0")]
    middle = _round_middle(full_scale, log_scale)
    if middle is not None:
        ticks.append((_bar_position(middle, full_scale, log_scale), format_value(middle)))
    return [*ticks, (1.0, format_value(full_scale) + "+")]


def heatmap_colorbar(
    full_scale: float,
    *,
    colormap: str = "inferno",
    log_scale: bool = True,
    unit: str = "events/px",
    scale: float = 1.0,
) -> np.ndarray:
    """The heat map's colour bar as a small RGB image: a title naming ``unit`` and the scale
    (log or linear), the colour ramp, and tick labels from `heatmap_ticks`. ``scale``: its
    size over the smallest (`colorbar_scale` picks it for a frame), from 1 to `MAX_BAR_SCALE`."""
    return _colorbar(full_scale, colormap, log_scale, unit, _check_bar_scale(scale)).copy()


# the frame the colour bar is drawn smallest on, the DAVIS346's: there it takes about a quarter
# of the width. Larger frames take it larger, so that it keeps that share of them (a 94x44 px
# bar on a 1920x1080 frame was a speck)
BAR_BASE_FRAME = (346, 260)
# a bar over 4 times its smallest (some 380x180 px) would take more of a screen than it says
MAX_BAR_SCALE = 4.0


def _check_bar_scale(scale: float) -> float:
    if not (math.isfinite(scale) and 1.0 <= scale <= MAX_BAR_SCALE):
        raise ParameterError(f"colour bar scale {scale} must be from 1 to {MAX_BAR_SCALE:g}")
    return float(scale)


def colorbar_scale(
    frame_wh: tuple[int, int],
    full_scale: float,
    *,
    colormap: str = "inferno",
    log_scale: bool = True,
    unit: str = "events/px",
) -> float:
    """How many times its smallest size the colour bar is drawn on a frame of ``frame_wh``:
    the frame's size over `BAR_BASE_FRAME`, in half steps, from 1 (frames up to 519x389: the
    smallest size its labels read at) to `MAX_BAR_SCALE` (frames from 1384x1040); where that
    bar would not fit (`colorbar_fits`), the largest half step down that does, or 1."""
    ratio = min(frame_wh[0] / BAR_BASE_FRAME[0], frame_wh[1] / BAR_BASE_FRAME[1])
    scale = min(MAX_BAR_SCALE, max(1.0, math.floor(ratio * 2) / 2))
    while scale > 1 and not colorbar_fits(
        frame_wh,
        colorbar_size(full_scale, colormap=colormap, log_scale=log_scale, unit=unit, scale=scale),
    ):
        scale -= 0.5
    return scale


# a video's frames mostly share their full scale (always, with a fixed max_count): one bar is
# drawn per scale, not per frame (its text costs ~0.25 ms, a tenth of a 346x260 heat map)
@functools.lru_cache(maxsize=64)
def _colorbar(
    full_scale: float, colormap: str, log_scale: bool, unit: str, scale: float = 1.0
) -> np.ndarray:
    def px(n: int) -> int:
        return max(1, round(n * scale))

    pad, bar_h, gap, tick_w = px(PAD), px(BAR_HEIGHT), px(2), px(1)
    title = f"{unit} ({'log' if log_scale else 'linear'})"
    ticks = heatmap_ticks(full_scale, log_scale)
    title_w, text_h, base = _text_size(title, scale)
    label_ws = [_text_size(label, scale)[0] for _, label in ticks]
    # each end label, a gap of 4 and its side of the middle label fit on either side of it
    length = max(title_w, px(MIN_BAR_LENGTH), label_ws[0] + label_ws[-1] + px(8))
    if len(ticks) == 3:
        pos, half = ticks[1][0], label_ws[1] / 2
        sides = (label_ws[0] + px(4) + half) / pos, (label_ws[2] + px(4) + half) / (1 - pos)
        length = max(length, int(np.ceil(max(sides))))
    row = text_h + base
    height = pad + row + gap + bar_h + gap + row + pad - base
    width = length + 2 * pad
    box = np.empty((height, width, 3), np.uint8)
    box[:] = BOX_COLOR
    _put(box, title, pad, pad + text_h, TEXT_COLOR, scale)
    bar_y = pad + row + gap
    box[bar_y : bar_y + bar_h, pad : pad + length] = _gradient(length, colormap, bar_h)
    label_y = bar_y + bar_h + gap + text_h
    for (pos, label), w in zip(ticks, label_ws):
        centre = pad + round(pos * (length - tick_w))
        x = min(max(centre + tick_w // 2 - w // 2, pad), pad + length - w)
        _put(box, label, x, label_y, TEXT_COLOR, scale)
        box[bar_y + bar_h : bar_y + bar_h + gap, centre : centre + tick_w] = TEXT_COLOR
    cv2.rectangle(box, (0, 0), (width - 1, height - 1), EDGE_COLOR, int(scale // 2) or 1)
    box.flags.writeable = False
    return box


def colorbar_fits(frame_wh: tuple[int, int], bar_wh: tuple[int, int]) -> bool:
    """Whether a bar of ``bar_wh`` fits a frame of ``frame_wh`` without covering more than half
    its width or a third of its height (smaller frames are left without one: enlarge them
    with ``scale``)."""
    return bar_wh[0] + 2 * PAD <= frame_wh[0] // 2 and bar_wh[1] + 2 * PAD <= frame_wh[1] // 3


def colorbar_frame_size(bar_wh: tuple[int, int]) -> tuple[int, int]:
    """The smallest (width, height) of a frame that holds a bar of ``bar_wh`` (`colorbar_fits`)."""
    return 2 * (bar_wh[0] + 2 * PAD), 3 * (bar_wh[1] + 2 * PAD)


# where a heat map's colour bar may sit, in the order they are tried
CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")


def colorbar_box(
    frame_wh: tuple[int, int], bar_wh: tuple[int, int], corner: str = "bottom-right"
) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), end-exclusive, of a bar of ``bar_wh`` in ``corner`` of a frame of
    ``frame_wh`` (4 px from the edges)."""
    if corner not in CORNERS:
        raise ParameterError(f"corner {corner!r} is not known; valid: {', '.join(CORNERS)}")
    (width, height), (bar_w, bar_h) = frame_wh, bar_wh
    x0 = width - PAD - bar_w if corner.endswith("right") else PAD
    y0 = height - PAD - bar_h if corner.startswith("bottom") else PAD
    return x0, y0, x0 + bar_w, y0 + bar_h


def colorbar_size(
    full_scale: float,
    *,
    colormap: str = "inferno",
    log_scale: bool = True,
    unit: str = "events/px",
    scale: float = 1.0,
) -> tuple[int, int]:
    """(width, height) of `heatmap_colorbar` for these settings."""
    bar = _colorbar(full_scale, colormap, log_scale, unit, _check_bar_scale(scale))
    return bar.shape[1], bar.shape[0]


def draw_heatmap_colorbar(
    frame: np.ndarray,
    full_scale: float,
    *,
    colormap: str = "inferno",
    log_scale: bool = True,
    unit: str = "events/px",
    corner: str = "bottom-right",
    scale: float | None = None,
) -> np.ndarray:
    """``frame`` with `heatmap_colorbar` pasted in ``corner`` (one of `CORNERS`; a copy, same
    size, so videos and pipelines keep their frame size), at ``scale`` (None: `colorbar_scale`
    of the frame). Frames too small for a legible bar (see `colorbar_fits`) come back
    unchanged. ``frame`` must be HxWx3 RGB uint8 (`eventsim.render.colors.to_rgb` makes one of
    a grey frame)."""
    # a grey or RGBA frame failed in numpy's broadcast, a float one took the bar's 0..255
    frame = check_rgb(frame, "frame")
    height, width = frame.shape[:2]
    if scale is None:
        scale = colorbar_scale(
            (width, height), full_scale, colormap=colormap, log_scale=log_scale, unit=unit
        )
    bar = _colorbar(full_scale, colormap, log_scale, unit, _check_bar_scale(scale))
    x0, y0, x1, y1 = colorbar_box((width, height), (bar.shape[1], bar.shape[0]), corner)
    out = frame.copy()
    if not colorbar_fits((width, height), (bar.shape[1], bar.shape[0])):
        return out
    out[y0:y1, x0:x1] = bar
    return out


def score_range(scores: np.ndarray) -> tuple[float, float]:
    """(lowest, highest) finite score: the ends of the patch-grid view's colour scale (0, 0
    when no score is finite)."""
    scores = np.asarray(scores, dtype=np.float64)
    finite = scores[np.isfinite(scores)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def patch_grid_legend(
    width: int,
    lo: float,
    hi: float,
    *,
    label: str,
    colormap: str = "inferno",
    keys: Sequence[tuple[str, RGB, float]] = (
        ("kept", KEPT_COLOR, 1.0),
        ("dropped", DROPPED_COLOR, DROPPED_DIM),
    ),
    ramp: bool = True,
) -> np.ndarray:
    """A white legend strip ``width`` px wide for `patch_grid_overlay`: ``label`` (what the
    score is), the colour ramp from ``lo`` to ``hi``, and per (name, outline colour, dimming)
    key a grey swatch dimmed and outlined like such a block. Words flow left to right and wrap
    onto further rows when the strip is narrow. When ``lo == hi`` the ramp is one flat colour,
    the one every block takes, with the one value; ``ramp=False`` leaves it out (no heat map:
    ``lo`` and ``hi`` are unused)."""
    if width < 1:
        raise ParameterError(f"legend width {width} must be >= 1")
    _, text_h, base = _text_size("Ag")
    row_h = max(text_h + base, BAR_HEIGHT) + 8
    side = row_h - 8
    space = _text_size("a b")[0] - _text_size("ab")[0]
    # equal scores all take the ramp's bottom colour: one value, one colour, no range
    flat = lo == hi
    lo_text, hi_text = format_value(lo), "" if flat else format_value(hi)
    lo_w, hi_w = _text_size(lo_text)[0], _text_size(hi_text)[0]

    def baseline(top: int) -> int:
        return top + (row_h + text_h) // 2 - 1

    def word(text: str) -> Item:
        return (
            _text_size(text)[0],
            space,
            lambda img, x, top: _put(img, text, x, baseline(top), LEGEND_TEXT),
        )

    def draw_ramp(img: np.ndarray, x: int, top: int) -> None:
        _put(img, lo_text, x, baseline(top), LEGEND_TEXT)
        bx, by = x + lo_w + 4, top + (row_h - BAR_HEIGHT) // 2
        bar = _gradient(MIN_BAR_LENGTH, colormap)
        if flat:
            bar[:] = bar[:, :1]
        img[by : by + BAR_HEIGHT, bx : bx + MIN_BAR_LENGTH] = bar[:, : max(img.shape[1] - bx, 0)]
        if hi_text:
            _put(img, hi_text, bx + MIN_BAR_LENGTH + 4, baseline(top), LEGEND_TEXT)

    def swatch(name: str, color: RGB, dim: float) -> Item:
        def draw(img: np.ndarray, x: int, top: int) -> None:
            y = top + (row_h - side) // 2
            img[y : y + side, x : x + side] = round(SWATCH_GREY * dim)
            cv2.rectangle(img, (x, y), (x + side - 1, y + side - 1), color, 2)
            _put(img, name, x + side + 4, baseline(top), LEGEND_TEXT)

        return side + 4 + _text_size(name)[0], 12, draw

    words = (label + ":").split()
    items: list[Item] = [word(w) for w in words]
    items[-1] = (items[-1][0], 12, items[-1][2])
    if ramp:
        items.append((lo_w + 4 + MIN_BAR_LENGTH + (4 + hi_w if hi_text else 0), 12, draw_ramp))
    items += [swatch(name, color, dim) for name, color, dim in keys]
    rows: list[list[tuple[int, Item]]] = [[]]
    x = PAD
    for item in items:
        if rows[-1] and x + item[0] + PAD > width:
            rows.append([])
            x = PAD
        rows[-1].append((x, item))
        x += item[0] + item[1]
    strip = np.empty((len(rows) * row_h + PAD, width, 3), np.uint8)
    strip[:] = LEGEND_BACKGROUND
    for r, row in enumerate(rows):
        for x, (_, _, draw) in row:
            draw(strip, x, PAD // 2 + r * row_h)
    return strip
