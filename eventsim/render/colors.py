"""Colours, palettes and colour maps shared by every renderer. All images are RGB uint8."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from eventsim.errors import ParameterError
from eventsim.options import BACKGROUNDS, Background, OverlayFrame

RGB = tuple[int, int, int]


# Red ON / blue OFF, the convention of most event-camera figures. The dark-background pair is
# lighter so both polarities stay visible on black; the white-background pair is deeper.
PALETTES: dict[str, dict[str, RGB]] = {
    "dark": {"background": (0, 0, 0), "on": (255, 70, 60), "off": (60, 140, 255)},
    "white": {"background": (255, 255, 255), "on": (215, 25, 28), "off": (30, 80, 220)},
    "grey": {"background": (128, 128, 128), "on": (255, 255, 255), "off": (0, 0, 0)},
}

# Events drawn over a picture (`eventsim render --mode overlay`, the demo's preview GIF,
# `eventsim build`'s preview.png) follow one convention: the picture in grey, so no colour of
# the scene reads as an event, and the events in this palette's ON and OFF colours.
OVERLAY_PALETTE: Background = "dark"
OVERLAY_FRAME: OverlayFrame = "grey"

# EP-VLM's patch-grid view: outlines of the blocks a token selector kept and dropped.
KEPT_COLOR: RGB = (60, 255, 60)
DROPPED_COLOR: RGB = (150, 40, 40)

NAMED_COLORS: dict[str, RGB] = {
    "red": (255, 0, 0),
    "green": (0, 200, 0),
    "blue": (0, 0, 255),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
    "yellow": (255, 220, 0),
    "cyan": (0, 220, 255),
    "magenta": (255, 0, 255),
    "orange": (255, 140, 0),
}

COLORMAPS: dict[str, int] = {
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "turbo": cv2.COLORMAP_TURBO,
    "jet": cv2.COLORMAP_JET,
    "hot": cv2.COLORMAP_HOT,
}


def parse_color(value: str | Sequence[int]) -> RGB:
    """``'red'``, ``'#ff0000'``, ``'255,0,0'`` or an (r, g, b) sequence -> an RGB tuple."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in NAMED_COLORS:
            return NAMED_COLORS[text]
        try:
            if text.startswith("#") and len(text) == 7:
                parts = [int(text[i : i + 2], 16) for i in (1, 3, 5)]
            else:
                parts = [int(v) for v in text.split(",")]
        except ValueError:
            parts = []
        if len(parts) != 3:
            raise ParameterError(
                f"colour {value!r} is not a name, #rrggbb or r,g,b; "
                f"valid names: {', '.join(NAMED_COLORS)}"
            )
        value = parts
    try:
        rgb = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ParameterError(f"colour {value!r} is not an (r, g, b) triple") from None
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise ParameterError(f"colour {value!r} must be three integers in 0..255")
    return rgb


def palette(
    background: str = "dark", on_color: RGB | None = None, off_color: RGB | None = None
) -> tuple[RGB, RGB, RGB]:
    """(background, on, off) colours for a background name, with optional overrides."""
    if background not in PALETTES:
        raise ParameterError(
            f"background {background!r} is not known; valid backgrounds: {', '.join(BACKGROUNDS)}"
        )
    pal = PALETTES[background]
    on = pal["on"] if on_color is None else parse_color(on_color)
    off = pal["off"] if off_color is None else parse_color(off_color)
    return pal["background"], on, off


def check_colormap(name: str) -> int:
    """The OpenCV colour map constant for ``name`` (a key of `COLORMAPS`)."""
    if name not in COLORMAPS:
        raise ParameterError(
            f"colour map {name!r} is not known; valid colour maps: {', '.join(COLORMAPS)}"
        )
    return COLORMAPS[name]


def apply_colormap(
    values: np.ndarray, colormap: str = "inferno", *, nan_color: RGB | str | None = None
) -> np.ndarray:
    """Map a float HxW array in [0, 1] (clipped) to an HxWx3 RGB uint8 image.

    NaN marks a missing value, which no colour of the map stands for: with ``nan_color`` (a
    `parse_color` colour) those pixels take it, so that they stand apart from the map's
    colours; without it a NaN raises `ParameterError` naming the first, where it was drawn as
    0 without a word."""
    cmap = check_colormap(colormap)
    level = np.asarray(values, dtype=np.float32)
    missing = np.isnan(level)
    rgb_nan = None if nan_color is None else parse_color(nan_color)
    if rgb_nan is None and missing.any():
        first = tuple(int(i) for i in np.argwhere(missing)[0])
        raise ParameterError(
            f"values hold {int(np.count_nonzero(missing)):,} NaN(s), the first at index "
            f"{first}; expected numbers in [0, 1], or pass nan_color= to draw missing values "
            "in a colour of their own"
        )
    grey = np.clip(np.nan_to_num(level), 0.0, 1.0)
    bgr = cv2.applyColorMap(np.rint(grey * 255).astype(np.uint8), cmap)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if rgb_nan is not None:
        rgb[missing.reshape(rgb.shape[:2])] = rgb_nan
    return rgb


def check_rgb(image: np.ndarray, name: str = "image") -> np.ndarray:
    """``image`` as an array, refused unless HxWx3 uint8 (what a function drawing on an RGB
    picture in place of its pixels needs; `to_rgb` turns grey into one)."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ParameterError(
            f"{name} has shape {img.shape} and dtype {img.dtype}; expected HxWx3 uint8"
        )
    return img


def to_rgb(image: np.ndarray) -> np.ndarray:
    """HxW grey, HxWx1 or HxWx3 uint8 -> HxWx3 uint8 (a copy)."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ParameterError(f"image has dtype {img.dtype}; expected uint8")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim == 3 and img.shape[2] == 3:
        return img.copy()
    raise ParameterError(f"image has shape {img.shape}; expected HxW or HxWx3")
