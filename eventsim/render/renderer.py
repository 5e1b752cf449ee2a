"""One frozen parameter set for rendering (shared by the library and ``eventsim render``) and
the frame renderer that applies it window after window."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from eventsim.errors import ParameterError
from eventsim.events import SensorSize, check_sensor_size
from eventsim.options import (
    HEATMAP_SCALES,
    OVERLAY_FRAMES,
    RENDER_MODES,
    Background,
    ColorBy,
    HeatmapScale,
    OverlayFrame,
    RenderMode,
)
from eventsim.render.colors import (
    BACKGROUNDS,
    OVERLAY_FRAME,
    RGB,
    check_colormap,
    parse_color,
    to_rgb,
)
from eventsim.render.frames import (
    COLOR_BY,
    TimeSurface,
    count_full_scale,
    count_map,
    last_polarity,
    paint_polarity,
    polarity_counts,
    polarity_masks,
    render_heatmap,
    render_time_surface,
    render_voxel_grid,
    signed_grey,
    voxel_sums,
)
from eventsim.render.overlay import blend_events
from eventsim.render.scales import (
    CORNERS,
    colorbar_box,
    colorbar_fits,
    colorbar_frame_size,
    colorbar_scale,
    colorbar_size,
    draw_heatmap_colorbar,
)

MODES = RENDER_MODES  # the name `eventsim.render` exports


@dataclass(frozen=True)
class RenderParams:
    """How each frame is drawn.

    mode: polarity (ON/OFF colours), overlay (events over the saved frame), timesurface
    (exponential decay, memory across frames), heatmap (event counts), voxel (time bins side
    by side). background: dark, white or grey (signed grey levels, which take no colours).
    Colours None take the background's palette (red ON, blue OFF). heatmap_scale: log or linear
    counts.
    colorbar: heatmap frames carry a colour bar (events per pixel, 0 to the full scale used for
    that frame) in their bottom-right corner, or in another corner when that one would hide
    events and the other holds none (in a video it stays where it is while it hides none); it
    is drawn over the frame, after ``scale``, so frame sizes do not change, larger on frames
    larger than 519x389 (`eventsim.render.scales.colorbar_scale`: 1.5 times from 519x390, up
    to 4 times from 1384x1040), and left out of frames too small to hold it legibly.
    overlay_frame: grey (the saved frame in grey, so event colours stand out) or rgb.
    scale: integer nearest-neighbour upscaling.
    """

    mode: RenderMode = "polarity"
    background: Background = "dark"
    on_color: RGB | None = None
    off_color: RGB | None = None
    color_by: ColorBy = "last"
    tau_ms: float = 30.0
    colormap: str = "inferno"
    max_count: float | None = None
    heatmap_scale: HeatmapScale = "log"
    colorbar: bool = True
    overlay_alpha: float = 0.85
    overlay_frame: OverlayFrame = OVERLAY_FRAME
    n_bins: int = 5
    scale: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ParameterError(
                f"mode {self.mode!r} is not known; valid modes: {', '.join(MODES)}"
            )
        if self.background not in BACKGROUNDS:
            raise ParameterError(
                f"background {self.background!r} is not known; "
                f"valid backgrounds: {', '.join(BACKGROUNDS)}"
            )
        if self.color_by not in COLOR_BY:
            raise ParameterError(
                f"color_by {self.color_by!r} is not known; valid: {', '.join(COLOR_BY)}"
            )
        for name in ("on_color", "off_color"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, parse_color(value))
        check_colormap(self.colormap)
        if not self.tau_ms > 0:
            raise ParameterError(f"tau_ms {self.tau_ms} must be > 0")
        if self.max_count is not None and not (
            math.isfinite(self.max_count) and self.max_count > 0
        ):
            raise ParameterError(f"max_count {self.max_count} must be a finite value > 0")
        if self.max_count is not None and not float(self.max_count).is_integer():
            # counts are whole: 0.5 drew every touched pixel at full scale, labelled '0.5+'
            raise ParameterError(
                f"max_count {self.max_count:g} must be a whole number of events (the heat map's "
                "full scale)"
            )
        if self.heatmap_scale not in HEATMAP_SCALES:
            raise ParameterError(
                f"heatmap_scale {self.heatmap_scale!r} is not known; "
                f"valid: {', '.join(HEATMAP_SCALES)}"
            )
        if self.overlay_frame not in OVERLAY_FRAMES:
            raise ParameterError(
                f"overlay_frame {self.overlay_frame!r} is not known; "
                f"valid: {', '.join(OVERLAY_FRAMES)}"
            )
        if not 0.0 <= self.overlay_alpha <= 1.0:
            raise ParameterError(f"overlay_alpha {self.overlay_alpha} must be in [0, 1]")
        if int(self.n_bins) < 1:
            raise ParameterError(f"n_bins {self.n_bins} must be >= 1")
        if int(self.scale) < 1:
            raise ParameterError(f"scale {self.scale} must be an integer >= 1")

    def replace(self, **changes: Any) -> RenderParams:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)


class FrameRenderer:
    """Turns successive windows of events into RGB frames of one fixed size.

    Stateful only in timesurface mode (the last event time of every pixel carries over), so
    feed windows in time order.
    """

    def __init__(self, params: RenderParams, sensor_size: SensorSize) -> None:
        self.params = params
        self.sensor_size = check_sensor_size(sensor_size)
        self._surface = (
            TimeSurface(self.sensor_size, params.tau_ms * 1000.0)
            if params.mode == "timesurface"
            else None
        )
        self._bar_corner = CORNERS[0]
        #: None while every heat-map frame had its colour bar; else the smallest frame
        #: (width, height) that would hold the largest bar left out (`colorbar_fits`)
        self.colorbar_left_out: tuple[int, int] | None = None
        #: how many frames went without their colour bar: a bar's width follows its labels,
        #: so frames of one size may hold some frames' bars and not others'
        self.colorbar_left_out_frames = 0

    def __repr__(self) -> str:
        # what a notebook shows of it: the parameters set away from their defaults, the sensor
        # and the frame size; never raises, whatever state a failed __init__ left
        try:
            changed = ", ".join(
                f"{f.name}={getattr(self.params, f.name)!r}"
                for f in dataclasses.fields(RenderParams)
                if getattr(self.params, f.name) != f.default
            )
            (width, height), (frame_w, frame_h) = self.sensor_size, self.frame_wh
            text = (
                f"<FrameRenderer RenderParams({changed}) sensor {width}x{height}, "
                f"frames {frame_w}x{frame_h}"
            )
            if self.colorbar_left_out_frames:
                text += f", {self.colorbar_left_out_frames} frame(s) without their colour bar"
            return text + ">"
        except Exception:
            return f"<FrameRenderer at {id(self):#x}>"

    @property
    def frame_wh(self) -> tuple[int, int]:
        """(width, height) of the frames this renderer returns."""
        width, height = self.sensor_size
        if self.params.mode == "voxel":
            width = self.params.n_bins * width + (self.params.n_bins - 1) * 2
        return width * self.params.scale, height * self.params.scale

    def render(
        self,
        events: np.ndarray | Iterable[np.ndarray],
        t_start_us: int,
        t_end_us: int,
        image: np.ndarray | None = None,
    ) -> np.ndarray:
        """Frame for the window ``[t_start_us, t_end_us)``; ``image`` is needed in overlay mode.

        ``events``: the window's events, or an iterable of consecutive parts of them in time
        order, taken one at a time: what the frame needs of them (counts, the last polarity of
        each pixel, the time surface, the voxel sums) is gathered part by part, so a window of
        any length is drawn in the memory of one part.
        """
        parts = (events,) if isinstance(events, np.ndarray) else events
        p = self.params
        if p.mode == "overlay" and image is None:
            raise ParameterError("overlay mode needs the frame to draw on")
        width, height = self.sensor_size
        if p.mode == "polarity" and p.background == "grey":
            pol = self._polarity_counts(parts)
            frame = signed_grey(pol[1] - pol[0])
        elif p.mode in ("polarity", "overlay"):
            if p.color_by == "net":
                is_on, is_off = polarity_masks(counts=self._polarity_counts(parts))
            else:
                last = np.full((height, width), -1, np.int8)
                for part in parts:
                    later = last_polarity(part, self.sensor_size)
                    np.copyto(last, later, where=later >= 0)
                is_on, is_off = polarity_masks(last=last)
            if p.mode == "polarity":
                frame = paint_polarity(
                    is_on,
                    is_off,
                    background=p.background,
                    on_color=p.on_color,
                    off_color=p.off_color,
                )
            else:
                assert image is not None
                picture = to_rgb(image)
                if picture.shape[:2] != (height, width):
                    picture = cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA)
                frame = blend_events(
                    picture,
                    is_on,
                    is_off,
                    alpha=p.overlay_alpha,
                    grey_frame=p.overlay_frame == "grey",
                    on_color=p.on_color,
                    off_color=p.off_color,
                )
        elif p.mode == "timesurface":
            assert self._surface is not None
            for part in parts:
                self._surface.update(part)
            frame = render_time_surface(
                self._surface.surface(t_end_us - 1),
                background=p.background,
                on_color=p.on_color,
                off_color=p.off_color,
            )
        elif p.mode == "heatmap":
            counts = np.zeros((height, width), np.int64)
            for part in parts:
                counts += count_map(part, self.sensor_size)
            full_scale = count_full_scale(counts) if p.max_count is None else p.max_count
            frame = render_heatmap(
                counts,
                colormap=p.colormap,
                max_count=full_scale,
                log_scale=p.heatmap_scale == "log",
            )
        else:
            sums = np.zeros((p.n_bins, height, width))
            for part in parts:
                # the window's last µs; an empty window [t, t) has none, and voxel_sums refuses
                # an end before its start
                last_us = max(t_start_us, t_end_us - 1)
                sums += voxel_sums(
                    part, self.sensor_size, p.n_bins, t_start_us=t_start_us, t_end_us=last_us
                )
            frame = render_voxel_grid(
                sums.astype(np.float32),
                background=p.background,
                on_color=p.on_color,
                off_color=p.off_color,
            )
        if p.scale > 1:
            frame = cv2.resize(
                frame,
                (frame.shape[1] * p.scale, frame.shape[0] * p.scale),
                interpolation=cv2.INTER_NEAREST,
            )
        if p.mode == "heatmap" and p.colorbar:
            log = p.heatmap_scale == "log"
            frame_wh = (frame.shape[1], frame.shape[0])
            bar_scale = colorbar_scale(frame_wh, full_scale, colormap=p.colormap, log_scale=log)
            bar_wh = colorbar_size(full_scale, colormap=p.colormap, log_scale=log, scale=bar_scale)
            if colorbar_fits(frame_wh, bar_wh):
                self._bar_corner = self._free_corner(counts, frame_wh, bar_wh)
                frame = draw_heatmap_colorbar(
                    frame,
                    full_scale,
                    colormap=p.colormap,
                    log_scale=log,
                    corner=self._bar_corner,
                    scale=bar_scale,
                )
            else:
                need = colorbar_frame_size(bar_wh)
                seen = self.colorbar_left_out or need
                self.colorbar_left_out = (max(seen[0], need[0]), max(seen[1], need[1]))
                self.colorbar_left_out_frames += 1
        return frame

    def _polarity_counts(self, parts: Iterable[np.ndarray]) -> np.ndarray:
        width, height = self.sensor_size
        counts = np.zeros((2, height, width), np.int64)
        for part in parts:
            counts += polarity_counts(part, self.sensor_size)
        return counts

    def _free_corner(
        self, counts: np.ndarray, frame_wh: tuple[int, int], bar_wh: tuple[int, int]
    ) -> str:
        """The colour bar's corner: the last frame's while it hides no events, else the first
        of `CORNERS` that hides none, else the last frame's (no corner is free)."""
        p = self.params

        def hides_events(corner: str) -> bool:
            x0, y0, x1, y1 = colorbar_box(frame_wh, bar_wh, corner)
            s = p.scale
            return bool(counts[y0 // s : -(-y1 // s), x0 // s : -(-x1 // s)].any())

        order = (self._bar_corner, *(c for c in CORNERS if c != self._bar_corner))
        return next((c for c in order if not hides_events(c)), self._bar_corner)
